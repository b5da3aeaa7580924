"""Arrays built from traced values as people write them (tracediff/array_construction.py): each
function gives NumPy's value, dtype and shape when traced, and gradients that match finite
differences at first and second order; the interception is seen by the tracing thread's code only
and leaves numpy exactly as it was."""
import threading
from numpy import array as array_bound_before_tracing

import numpy as np
import pytest

import tracediff as td
from tracediff import array_construction
from tracediff.errors import TracerConversionError

NUMPY_NAMES = dict(vars(np))  # numpy's namespace as imported, before any trace
X = np.array([0.7, -1.3, 2.1])
W = np.array([0.5, -2.0])


def agrees(fun, *args, order=2):
    """Traced, ``fun`` gives NumPy's value, dtype and shape; its gradient matches finite
    differences at first and second order."""
    expected = fun(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
    out, _ = td.vjp(fun, *args)
    assert np.shape(out) == np.shape(expected)
    assert np.result_type(out) == np.result_type(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    td.testing.check_grads(fun, *args, argnums=tuple(range(len(args))), order=order)


CASES = {
    "list of scalars and a constant": (lambda a, b: np.array([a, b * a, 3.0]) ** 2, 0.7, -1.2),
    "nested lists": (lambda a, b: np.array([[a, b], [a * b, 1.0]]) @ np.array([[a], [2.0]]), 0.7, -1.2),
    "tuples": (lambda a, b: np.array(((a, 1.0), (2.0, b))) ** 3, 0.7, -1.2),
    "asarray of a list": (lambda x: np.asarray([x[0] * x[1], x[2]]) ** 2, X),
    "asanyarray": (lambda x: np.asanyarray([x[0], np.sin(x[1])]) * 2, X),
    "ascontiguousarray of a 0-d value is 1-d": (lambda x: np.ascontiguousarray(x[0] * x[1]) ** 2, X),
    "asfortranarray": (lambda x: np.asfortranarray([[x[0], x[1]], [x[2], 1.0]]) ** 2, X),
    "array of a traced array": (lambda x: np.array(x) ** 2, X),
    "copy=np._CopyMode.IF_NEEDED": (lambda x: np.array(x, copy=np._CopyMode.IF_NEEDED) ** 2, X),
    "asarray with dtype casts": (lambda x: np.asarray(x, dtype=np.float64) ** 2, X.astype(np.float32)),
    "ndmin": (lambda a: np.array([a, 2.0], ndmin=3) ** 2, 0.7),
    "dtype=": (lambda a, b: np.array([a, b], dtype=np.float32) * 3, 0.7, -1.2),
    "arrays and lists mixed": (lambda x: np.array([x[:2], [x[2], 5.0]]) ** 2, X),
    "a list of arrays": (lambda x: np.array([x, 2 * x, np.sin(x)]).T ** 2, X),
    "r_ of arrays, a slice and a scalar": (lambda x: np.r_[x, 0:3, 7.0] * np.r_[x, x] [0], X),
    "r_ of scalars": (lambda a, b: np.r_[a, b, 1.0] ** 2, 0.7, -1.2),
    "r_ with an axis directive": (lambda x: np.r_["0,2", x, 2 * x] ** 2, X),
    "r_ with a trans1d directive": (lambda x: np.r_["1,2,0", x, 2 * x] ** 2, X),
    "c_ of arrays": (lambda x: np.c_[x, x ** 2] ** 2, X),
    "c_ of an array and a slice": (lambda x: np.c_[x, 0:3] * np.c_[1:4, x], X),
    "c_ of a matrix and a vector": (lambda x: np.c_[np.outer(x, x), x], X),
    "mean of a list": (lambda x: np.mean([x, x + 2]), X),
    "sum of scalars": (lambda a, b: np.sum([a, b * b]), 0.7, -1.2),
    "dot of a list": (lambda a, b: np.dot([a, b], W), 0.7, -1.2),
    "max of a list, axis=0": (lambda x: np.max([x, 2 * x - 1], axis=0), X),
    "ufunc of a list": (lambda a, b: np.exp([a, b]), 0.7, -1.2),
    "ufunc of two lists": (lambda a, b: np.multiply([a, b], [b, 2.0]), 0.7, -1.2),
    "linalg of a list": (lambda a, b: np.linalg.norm([a, b, 1.0]), 0.7, -1.2),
    "concatenate of an array and a list": (lambda x: np.concatenate([x, [x[0] * x[1], 2.0]]) ** 2, X),
    "where with a list": (lambda x: np.where(x > 0, [x[1], x[2], x[0]], 0.5) * x, X),
    "full": (lambda a: np.full((2, 3), a) * np.arange(6.0).reshape(2, 3), 0.7),
    "full of a list": (lambda a, b: np.full((2, 2), [a, b]) ** 2, 0.7, -1.2),
    "full with a dtype": (lambda a: np.full(3, a, dtype=np.float64) ** 2, np.float32(0.7)),
    "full_like of a plain array": (lambda a: np.full_like(X, a) * X, 0.7),
    "full_like of a traced array": (lambda x: np.full_like(x, x[0] * x[1]) ** 2, X),
    "float64 of a traced value": (lambda a: np.float64(a * a) * 3, 0.7),
    "float64 of a float32 value": (lambda x: np.float64(x) ** 2, X.astype(np.float32)),
    "int64 as an index": (lambda x: x[np.int64(np.argmax(x))] * x, X),
    "int64 of a list as an index": (lambda x: x[np.int64([np.argmax(x), np.argmin(x)])] * 2, X),
    "copy from np.array is not a view": (lambda x: _write_to_copy(x), X),
    "asarray is the same array": (lambda x: _write_to_alias(x), X),
}


def _write_to_copy(x):
    x = x * 1.0
    y = np.array(x)
    y[0] = 5.0
    return x * y


def _write_to_alias(x):
    x = x * 1.0
    y = np.asarray(x)
    y[0] = x[1] * 2  # writes into x too, as in NumPy
    return x * y


@pytest.mark.parametrize("name", CASES)
def test_builds_what_numpy_builds(name):
    fun, *args = CASES[name]
    agrees(fun, *args)


@pytest.mark.parametrize("name", ["list of scalars and a constant", "nested lists", "r_ of scalars",
                                  "sum of scalars", "ufunc of a list", "full of a list",
                                  "arrays and lists mixed", "c_ of arrays", "mean of a list"])
def test_float32(name):
    fun, *args = CASES[name]
    args = [np.float32(a) if isinstance(a, float) else a.astype(np.float32) for a in args]
    if isinstance(args[0], np.float32):  # float32 tracers (0-d arrays), not Python floats
        agrees(lambda v: fun(*v), np.array(args, dtype=np.float32))
    else:
        agrees(fun, *args)


def test_float32_of_a_traced_value():
    agrees(lambda x: np.float32(x * 2.0) ** 2, X.astype(np.float32), order=1)
    # (second order: check_grads differences the float64-cast gradient with a float64 step, too
    # fine for the float32 arithmetic inside; the value is checked by hand instead)
    v = np.array([1.0, 2.0, -1.5], dtype=np.float32)
    hvp = td.grad(lambda x: np.sum(td.grad(lambda y: np.sum(np.float32(y * 2.0) ** 2))(x) * v))
    np.testing.assert_allclose(hvp(X.astype(np.float32)), 8 * v, rtol=1e-6)


def test_float32_entries_keep_float32_as_numpy_does():
    x32 = np.array([0.5, 2.0], dtype=np.float32)
    for build in (lambda x: np.array([x[0], x[1]]), lambda x: np.array([x[0], 2.0]),
                  lambda x: np.r_[x, 1.0], lambda x: np.array([x, [1.0, 2.0]])):
        out, _ = td.vjp(build, x32)
        assert out.dtype == build(x32).dtype, build  # NumPy's own answer, whatever it is
    assert td.vjp(lambda x: np.array([x[0], x[1]]), x32)[0].dtype == np.float32


def test_jacobian_and_hessian_of_built_arrays():
    J = td.jacobian(lambda x: np.array([x[0] * x[1], np.sin(x[2]), 1.0]))(X)
    np.testing.assert_allclose(J, [[X[1], X[0], 0.0], [0.0, 0.0, np.cos(X[2])], [0.0, 0.0, 0.0]])
    H = td.hessian(lambda x: np.sum(np.r_[x, x[0] * x[1]] ** 2))(X)
    np.testing.assert_allclose(H, [[2 + 2 * X[1] ** 2, 4 * X[0] * X[1], 0.0],
                                   [4 * X[0] * X[1], 2 + 2 * X[0] ** 2, 0.0], [0.0, 0.0, 2.0]])


def test_a_ragged_list_gets_numpys_error():
    with pytest.raises(ValueError) as numpys:
        np.array([1.0, [1.0, 2.0]])
    for build in (lambda a: np.sum(np.array([a, [a, 2.0]])), lambda a: np.sum([a, [a, 2.0]])):
        with pytest.raises(ValueError) as ours:
            td.grad(build)(0.5)
        assert str(ours.value) == str(numpys.value)


def test_an_object_array_is_refused():
    with pytest.raises(TypeError, match="np.array: .* dtype object"):
        td.grad(lambda a: np.sum(np.array([a, None])))(0.5)


def test_a_name_bound_before_tracing_says_what_to_write():
    with pytest.raises(TracerConversionError,
                       match=r"test_array_construction.py:\d+.*write np.array\(\.\.\.\)"):
        td.grad(lambda a: np.sum(array_bound_before_tracing([a, a])))(0.5)


def test_a_plain_arrays_operator_with_a_list_says_what_to_write():
    with pytest.raises(TracerConversionError, match=r"W @ \[a, b\]: write np.array\(\[a, b\]\)"):
        td.grad(lambda x: np.sum(np.eye(3) @ [x[0], x[1], 1.0]))(X)


def test_a_library_function_without_a_rule_is_named():
    ndimage = pytest.importorskip("scipy.ndimage")
    with pytest.raises(TracerConversionError,
                       match=r"scipy.ndimage.gaussian_filter \(called at test_array_construction.py:\d+\)"):
        td.grad(lambda x: np.sum(ndimage.gaussian_filter(x, 1.0)))(X)


def test_scalar_types_are_numpys_for_everything_but_traced_values():
    def f(x):
        assert isinstance(np.float64(1.5), np.float64) and type(np.float64(1.5)) is NUMPY_NAMES["float64"]
        assert np.dtype(np.float32) == np.float32 and x.dtype == np.float64
        assert {NUMPY_NAMES["float64"]: 1}[np.float64] == 1 and np.issubdtype(x.dtype, np.float64)
        assert np.int64(3) == 3 and np.zeros(2, dtype=np.int32).dtype == np.int32
        assert np.float64 is np.double and np.float64 != np.float32 and np.abs is np.absolute
        assert isinstance(np.exp, np.ufunc) and np.add.nin == 2
        assert np.finfo(np.float32).eps == NUMPY_NAMES["finfo"](NUMPY_NAMES["float32"]).eps
        return np.sum(x)
    td.grad(f)(X)


def test_numpy_is_untouched_outside_traces():
    td.grad(lambda a: np.sum(np.array([a, a])))(0.5)
    assert all(vars(np)[name] is value for name, value in NUMPY_NAMES.items())
    assert not any(type(value).__module__ == array_construction.__name__ for value in vars(np).values())
    assert vars(np)["__getattr__"] is NUMPY_NAMES["__getattr__"] and "__getattr__" not in vars(np.fft)
    assert vars(np)["__dir__"] is NUMPY_NAMES["__dir__"] and "__dir__" not in vars(np.linalg)
    assert np.array([1.0, 2.0]).__class__ is np.ndarray


def test_an_exception_in_the_traced_function_puts_numpy_back():
    def fails(a):
        np.array([a, a])
        raise KeyError("from the user's function")
    with pytest.raises(KeyError):
        td.grad(fails)(0.5)
    assert all(vars(np)[name] is value for name, value in NUMPY_NAMES.items())
    assert np.array is NUMPY_NAMES["array"] and "__getattr__" not in vars(np.linalg)


def test_interception_is_counted():
    array_construction.intercept()
    array_construction.intercept()
    array_construction.release()
    assert "array" not in vars(np)  # still intercepting: one intercept is outstanding
    assert np.array is not NUMPY_NAMES["array"]  # (this thread asked for it)
    seen = []
    other = threading.Thread(target=lambda: seen.append(np.array))
    other.start()
    other.join()
    assert seen == [NUMPY_NAMES["array"]]  # (another thread did not)
    assert "array" in dir(np) and "norm" in dir(np.linalg)  # listed all the same
    array_construction.release()
    assert vars(np)["array"] is NUMPY_NAMES["array"]


def test_nested_traces():
    def inner(x):
        return np.sum(np.array([x[0] * x[1], x[2]]) ** 2)

    def outer(x):
        g = td.grad(inner)(x)
        return np.sum(np.r_[g, x[0]] ** 2)

    td.testing.check_grads(outer, X)
    assert all(vars(np)[name] is value for name, value in NUMPY_NAMES.items())


def test_another_thread_gets_numpys_own_objects_during_a_trace():
    started, done, seen = threading.Event(), threading.Event(), {}

    def other_thread():
        started.wait()
        seen["array"] = np.array
        seen["add"] = np.add
        seen["float64"] = np.float64
        seen["built"] = np.array([1.0, 2.0])
        seen["summed"] = np.sum([1.0, 2.0])
        done.set()

    def f(x):
        started.set()
        assert done.wait(10)
        return np.sum(np.array([x[0], x[1]]) ** 2)

    thread = threading.Thread(target=other_thread)
    thread.start()
    np.testing.assert_allclose(td.grad(f)(X), [2 * X[0], 2 * X[1], 0.0])
    thread.join()
    assert seen["array"] is NUMPY_NAMES["array"] and seen["add"] is NUMPY_NAMES["add"]
    assert seen["float64"] is NUMPY_NAMES["float64"]
    assert type(seen["built"]) is np.ndarray and seen["summed"] == 3.0
    assert np.array is NUMPY_NAMES["array"]


def test_concurrent_traces():
    barrier, results = threading.Barrier(2), {}

    def trace(k):
        def f(x):
            barrier.wait(10)  # both traces are recording now
            out = np.sum(np.array([x[0] * k, x[1]]) ** 2)
            barrier.wait(10)
            return out
        results[k] = td.grad(f)(X)

    threads = [threading.Thread(target=trace, args=(k,)) for k in (2.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in (2.0, 3.0):
        np.testing.assert_allclose(results[k], [2 * k * k * X[0], 2 * X[1], 0.0])
    assert all(vars(np)[name] is value for name, value in NUMPY_NAMES.items())


@pytest.mark.parametrize("directive", [None, "-1", "0,2", "1,2,0", "0,2,-1", "0,3,1", "1,3,-1"])
@pytest.mark.parametrize("concatenator", ["r_", "c_"])
def test_r_and_c_follow_numpy_for_every_directive(directive, concatenator):
    for items in (lambda v: [v, slice(0, 3)], lambda v: [v[0], 7.0], lambda v: [np.outer(v[:1], v), v]):
        def build(v):
            key = ([directive] if directive else []) + items(v)
            return getattr(np, concatenator)[tuple(key)]
        try:
            expected = build(X)
        except ValueError:  # NumPy cannot join these: neither can tracediff
            with pytest.raises(ValueError):
                td.vjp(build, X)
            continue
        out, _ = td.vjp(build, X)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        np.testing.assert_allclose(out, expected)


def test_r_directives_that_build_matrices_are_refused():
    with pytest.raises(TypeError, match="np.matrix"):
        td.grad(lambda x: np.sum(np.r_["r", x, x]))(X)
