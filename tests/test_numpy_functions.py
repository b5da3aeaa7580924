"""NumPy functions composed of traced primitives (issue 14), beyond the rule table
(tests/rule_cases/numpy_more.py checks their gradients): traced results equal NumPy's (values,
shapes, dtypes, float32 included); predicates and dtype queries run on traced values and return
what NumPy returns, with no gradient; a Python answer computed from traced values is guarded, so a
changed answer retraces; bad input gets an error naming the function."""
from __future__ import annotations

import numpy as np
import pytest

import tracediff as td

RNG = np.random.default_rng(7)
X = RNG.uniform(0.5, 2.0, (4, 5))
XP = np.array([-2.5, -1.2, -0.3, 0.4, 1.1, 2.5])
EVEN = np.arange(5) * 0.5
UNEVEN = np.array([0.0, 0.5, 1.5, 1.75, 3.0])


def _traced(fun, *args):
    """``fun``'s result as computed while tracing it (through td.vjp)."""
    out, _ = td.vjp(fun, *args)
    return out


def _assert_same(out, ref, exact=True):
    out, ref = (v if isinstance(v, tuple) else (v,) for v in (out, ref))
    assert len(out) == len(ref)
    for o, r in zip(out, ref):
        o, r = np.asarray(o), np.asarray(r)
        assert (o.shape, o.dtype) == (r.shape, r.dtype)
        if exact:
            np.testing.assert_array_equal(o, r)
        else:  # the same sums in another order
            np.testing.assert_allclose(o, r, rtol=4 * np.finfo(r.dtype).eps, atol=4 * np.finfo(r.dtype).eps)


# (name, function of one array in (4, 5), bitwise equal to NumPy?)
SAME_AS_NUMPY = [
    ("diff", lambda x: np.diff(x), True),
    ("diff n=2 axis=0 prepend append", lambda x: np.diff(x, n=2, axis=0, prepend=0.5, append=x[:1]), True),
    ("diff n=0", lambda x: np.diff(x, 0), True),
    ("diff of booleans", lambda x: np.diff(x > 1), True),
    ("ediff1d", lambda x: np.ediff1d(x, to_begin=[1.0], to_end=x[0]), True),
    ("append", lambda x: np.append(x, x[0] ** 2), True),
    ("append axis=0", lambda x: np.append(x, x[:2], axis=0), True),
    ("rollaxis", lambda x: np.rollaxis(x[None], 2, 1), True),
    ("rollaxis to itself", lambda x: np.rollaxis(x, 1, 2), True),
    ("meshgrid xy", lambda x: np.meshgrid(x[0], x[1, :3] ** 2), True),
    ("meshgrid ij sparse", lambda x: np.meshgrid(x[0], x[1, :3], x[2, :2], indexing="ij", sparse=True), True),
    ("meshgrid copy=False", lambda x: np.meshgrid(x[0], x[1, :2], copy=False), True),
    ("linspace", lambda x: np.linspace(x[0], x[1], 7, axis=1), True),
    ("linspace weak stop", lambda x: np.linspace(x[0, 0], 2.0, 4, endpoint=False), True),
    ("linspace retstep", lambda x: np.linspace(x[0, 0], 2.0, 4, retstep=True), True),
    ("linspace num=1", lambda x: np.linspace(x[0, 0], x[0], 1), True),
    ("linspace num=0", lambda x: np.linspace(x[0, 0], x[0], 0), True),
    ("linspace int dtype", lambda x: np.linspace(1, x[0] * 10, 5, dtype=np.int32, axis=-1), True),
    ("logspace", lambda x: np.logspace(x[0, 0], x[0, 1], 4, base=x[1, 1] ** 2), True),
    ("logspace array base", lambda x: np.logspace(x[0, :2], x[1, :2], 3, base=x[2, :2] + 1, axis=-1), True),
    ("gradient", lambda x: np.gradient(x), True),
    ("gradient spacing edge_order=2", lambda x: np.gradient(x, 0.5, axis=1, edge_order=2), True),
    ("gradient two spacings", lambda x: np.gradient(x, 0.5, 2.0), True),
    ("gradient even coordinates", lambda x: np.gradient(x[0], EVEN, edge_order=2), True),
    ("gradient uneven coordinates", lambda x: np.gradient(x[0], UNEVEN, edge_order=2), True),
    ("gradient int coordinates", lambda x: np.gradient(x[0], np.arange(5)), True),
    ("gradient traced coordinates", lambda x: np.gradient(x[0] ** 2, np.cumsum(x[1])), True),
    ("trapezoid", lambda x: np.trapezoid(x), True),
    ("trapezoid x", lambda x: np.trapezoid(x, np.cumsum(x[0])), True),
    ("trapezoid x 2-D axis=0", lambda x: np.trapezoid(x ** 2, x=np.cumsum(x, axis=0), axis=0), True),
    ("polyval", lambda x: np.polyval(x[0], x[1]), True),
    ("polyval list", lambda x: np.polyval([x[0, 0], 2.0, x[1, 1]], x[2]), True),
    ("cov", lambda x: np.cov(x), False),
    ("cov weights", lambda x: np.cov(x, fweights=np.array([1, 2, 1, 3, 1]), aweights=x[0]), False),
    ("cov float32 dtype", lambda x: np.cov(x, dtype=np.float32), False),
    ("corrcoef", lambda x: np.corrcoef(x[0], x[1] ** 2), False),
    ("partition", lambda x: np.partition(x, 2), True),
    ("partition axis=None", lambda x: np.partition(x, (3, 7), axis=None), True),
    ("argpartition", lambda x: np.argpartition(x, 1, axis=0), True),
    ("interp", lambda x: np.interp(x * 2 - 2, XP, np.sin(XP)), True),
    ("interp at and beyond the ends", lambda x: np.interp(np.concatenate([XP, [-3.0, 3.0]]), XP,
                                                          np.concatenate([x[0], x[1, :1]])), True),
    ("interp left right", lambda x: np.interp(x * 3 - 3, XP, np.cos(XP), left=x[0, 0], right=-1.0), True),
    ("interp period", lambda x: np.interp(x * 4, XP, np.cos(XP), period=2.5), True),
    ("correlate", lambda x: np.correlate(x[0], x[1, :3], "same"), False),
    ("convolve", lambda x: np.convolve(x[0, :2], x[1], "same"), False),
    ("polymul", lambda x: np.polymul(x[0], x[1, :2]), False),
    ("cond", lambda x: np.linalg.cond(x[:3, :3]), False),
    ("cond fro", lambda x: np.linalg.cond(x[:3, :3], "fro"), False),
    ("matrix_rank", lambda x: np.linalg.matrix_rank(x), True),
    ("multi_dot", lambda x: np.linalg.multi_dot([x[0], x.T, x, x[1]]), False),
    ("real_if_close", lambda x: np.real_if_close(x), True),
    ("vander", lambda x: np.vander(x[0], 3), True),
    ("apply_along_axis", lambda x: np.apply_along_axis(lambda v: v[:2] * v[-1], 1, x), True),
    ("unwrap", lambda x: np.unwrap(np.cumsum(x * 3, axis=1)), True),
    ("polyder", lambda x: np.polyder(x[0], 2), True),
    ("polyint", lambda x: np.polyint(x[0], 2, k=[x[1, 0], 0.5]), True),
    ("polyadd", lambda x: np.polyadd(x[0, :2], x[1]), True),
    ("polysub", lambda x: np.polysub(x[0], x[1, :3] ** 2), True),
    ("polyfit", lambda x: np.polyfit(x[0], x[1], 2), False),
    ("polyfit weights", lambda x: np.polyfit(x[0], x[1:3].T, 1, w=x[3]), False),
    ("block", lambda x: np.block([[x[:2, :2], x[:2, 2:]], [x[2:, :3], x[2:, 3:] ** 2]]), True),
    ("unstack", lambda x: np.unstack(x, axis=1), True),
    ("resize", lambda x: np.resize(x, (3, 9)), True),
    ("geomspace", lambda x: np.geomspace(-x[0], -x[1] * 3, 4, axis=1), True),
    ("nanmedian", lambda x: np.nanmedian(np.where(x > 1.5, np.nan, x), axis=1), True),
    ("nanpercentile", lambda x: np.nanpercentile(np.where(x > 1.5, np.nan, x), [20, 70], axis=0), True),
    ("tensorinv", lambda x: np.linalg.tensorinv((x[:, :4] + 3 * np.eye(4)).reshape(4, 2, 2), ind=1), False),
    ("bincount", lambda x: np.bincount(np.array([0, 2, 2, 5, 1]), x[0]), True),
    ("bincount no weights", lambda x: np.bincount((x[0] * 3).astype(int), minlength=3), True),
    ("digitize", lambda x: np.digitize(x, [0.6, 1.0, 1.5]), True),
    ("digitize decreasing", lambda x: np.digitize(x, [1.5, 1.0, 0.6], right=True), True),
    ("histogram", lambda x: np.histogram(x, bins=4), True),
    ("histogram auto bins", lambda x: np.histogram(x, bins="auto", range=(0.5, 2.0)), True),
    ("histogram weights", lambda x: np.histogram(x[1], bins=3, weights=x[0])[0], False),
    ("histogram_bin_edges", lambda x: np.histogram_bin_edges(x, bins=5), True),
    ("isin", lambda x: np.isin(x, x[0]), True),
    ("delete", lambda x: np.delete(x, [0, 2], axis=1), True),
    ("insert", lambda x: np.insert(x, [1, 1, 3], x[:, :1], axis=1), True),
    ("insert one position", lambda x: np.insert(x, 3, x[:, :2].T, axis=1), True),
    ("compress", lambda x: np.compress(x[0] > 1.0, x, axis=1), True),
    ("extract", lambda x: np.extract(x > 1.0, x), True),
    ("choose", lambda x: np.choose(np.array([[0, 1, 2, 1, 0]] * 4), [x, x ** 2, 1.5]), True),
    ("piecewise", lambda x: np.piecewise(x, [x < 1, x > 1.5], [lambda v: v * 3, 0.5, np.sqrt]), True),
    ("unique_counts", lambda x: tuple(np.unique_counts(np.round(x))), True),
    ("unique_all", lambda x: tuple(np.unique_all(np.round(x * 2))), True),
    ("union1d", lambda x: np.union1d(np.round(x[0]), x[1]), True),
    ("unravel_index", lambda x: np.unravel_index((x[0] * 3).astype(int), (2, 3)), True),
    ("ravel_multi_index", lambda x: np.ravel_multi_index(((x[0] > 1).astype(int), (x[1] * 2).astype(int)), (2, 4)),
     True),
    ("lexsort", lambda x: np.lexsort((x[0], np.round(x[1]))), True),
    ("tril_indices_from", lambda x: np.tril_indices_from(x[:3, :3], k=-1), True),
    ("intersect1d", lambda x: np.intersect1d(np.round(td.stop_gradient(x[0]) * 2), [2.0, 3.0, 4.0]), True),
    ("setdiff1d", lambda x: np.setdiff1d((td.stop_gradient(x) * 3).astype(int), [2, 3]), True),
    ("setxor1d", lambda x: np.setxor1d((x[0] * 3).astype(int), (x[1] * 3).astype(int)), True),
    ("ix_", lambda x: np.ix_(x[:, 0] > 1, [1, 3]), True),
    ("histogram2d", lambda x: np.histogram2d(x[0], x[1], bins=[2, 3], range=[[0.5, 2], [0.5, 2]], density=True), True),
    ("histogramdd", lambda x: (lambda h: (h[0], *h[1]))(np.histogramdd([x[0], x[1], x[2]], bins=(2, 3, 2))), True),
    ("trim_zeros", lambda x: np.trim_zeros(np.where(x > 1.8, 0.0, x), "b"), True),
    ("trim_zeros 2-D", lambda x: np.trim_zeros(np.where(x > 1.0, 0.0, x), axis=0), True),
    ("apply_over_axes", lambda x: np.apply_over_axes(np.sum, x, [0, 1]), True),
    ("poly", lambda x: np.poly(x[0]), False),
    ("vecdot", lambda x: np.vecdot(x, x[0]), True),
    ("matvec", lambda x: np.matvec(x, x[0]), True),
    ("vecmat", lambda x: np.vecmat(x[:, 0], x), True),
]


def _in_place(write):
    def f(x):
        y = x * 1.0
        before = y[1:]  # a view taken before the write sees it, as in NumPy
        write(y, x)
        return y * 1.0, before * 1.0
    return f


IN_PLACE = {
    "copyto": lambda y, x: np.copyto(y, x[0] ** 2),
    "copyto where": lambda y, x: np.copyto(y, 0.5, where=x > 1),
    "putmask": lambda y, x: np.putmask(y, x > 1.2, x[0, :3] ** 2),
    "place": lambda y, x: np.place(y, x > 1.2, x[0, :3] ** 2),
    "put": lambda y, x: np.put(y, [0, 7, 22], x[1, :2] ** 2, mode="clip"),
    "fill_diagonal": lambda y, x: np.fill_diagonal(y, x[0, :4] ** 2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_writes_as_numpy(name, dtype):
    f = _in_place(IN_PLACE[name])
    x = X.astype(dtype)
    _assert_same(_traced(f, x), f(x))
    td.testing.check_grads(lambda x: f(x)[0], x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, fun, exact", SAME_AS_NUMPY, ids=[c[0] for c in SAME_AS_NUMPY])
def test_traced_result_is_numpys(name, fun, exact, dtype):
    x = X.astype(dtype)
    seen = {}

    def traced(x):  # (results without a gradient are read from the trace: vjp wants float outputs)
        seen["out"] = fun(x)
        return np.sum(x)

    td.vjp(traced, x)
    out = seen["out"]
    out = tuple(_value(o) for o in out) if isinstance(out, tuple) else _value(out)
    _assert_same(out, fun(x), exact)


def _value(v):
    return v._value if isinstance(v, td.tracing.Tracer) else v


# Plain lists next to a traced argument, as NumPy takes them: (function of a traced 1-D x of 3)
WITH_LISTS = {
    "interp fp": lambda x: np.interp([0.5, 1.5], [0, 1, 2], x),
    "interp x": lambda x: np.interp(x, [0, 1, 2], [1.0, 2.0, 4.0]),
    "cov": lambda x: np.cov([[1.0, 2.0, 0.5], [2.0, 1.0, 0.1]], x),
    "polyfit": lambda x: np.polyfit([0.0, 1.0, 2.0], x, 1),
    "convolve": lambda x: np.convolve([1.0, 2.0], x),
    "choose": lambda x: np.choose([0, 1, 0], [x, [5.0, 6.0, 7.0]]),
    "digitize": lambda x: np.digitize([0.5, 1.2], np.sort(x)) * 1.0,
    "insert": lambda x: np.insert([[1.0, 2.0], [3.0, 4.0]], 1, x[:2], axis=1),
    "histogram weights": lambda x: np.histogram([0.1, 0.5, 0.9], bins=2, weights=x)[0],
    "bincount weights": lambda x: np.bincount([0, 2, 2], x),
    "compress": lambda x: np.compress([True, False, True], x),
    "trapezoid": lambda x: np.trapezoid(x, [0.0, 0.5, 2.0]),
    "polyval": lambda x: np.polyval([1.0, 2.0], x),
    "append": lambda x: np.append([1.0, 2.0], x),
    "array_equal": lambda x: np.sum(x) * np.array_equal([1.0, 2.0, 3.0], x),
}


@pytest.mark.parametrize("name", WITH_LISTS)
def test_plain_lists_beside_traced_values(name):
    fun = WITH_LISTS[name]
    x = np.array([0.3, 1.1, 2.5])
    _assert_same(_traced(fun, x), fun(x), exact=False)
    td.testing.check_grads(fun, x)


# --- predicates and queries: plain answers, no gradient ---------------------------------------

A = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, 3.0])
B = np.array([1.0 + 1e-9, 2.1, np.nan, np.inf, np.inf, 3.0])

PREDICATES = {
    "isclose": lambda a, b: np.isclose(a, b),
    "isclose equal_nan": lambda a, b: np.isclose(a, b, rtol=0.1, equal_nan=True),
    "isclose int b": lambda a, b: np.isclose(a, np.arange(6)),
    "allclose": lambda a, b: np.allclose(a[:2], b[:2], rtol=0.1),
    "allclose false": lambda a, b: np.allclose(a, b),
    "allclose equal_nan": lambda a, b: np.allclose(a[[0, 2, 3]], b[[0, 2, 3]], equal_nan=True),
    "array_equal": lambda a, b: np.array_equal(a, b),
    "array_equal itself": lambda a, b: np.array_equal(a[:2], a[:2]),
    "array_equal equal_nan": lambda a, b: np.array_equal(a[2:4], b[2:4], equal_nan=True),
    "array_equal shapes": lambda a, b: np.array_equal(a, b[:3]),
    "array_equiv": lambda a, b: np.array_equiv(a[:1], np.ones((2, 1))),
    "array_equiv shapes": lambda a, b: np.array_equiv(a, b[:4]),
    "iscomplex": lambda a, b: np.iscomplex(a),
    "isreal": lambda a, b: np.isreal(a),
    "iscomplexobj": lambda a, b: np.iscomplexobj(a),
    "isrealobj": lambda a, b: np.isrealobj(a),
    "shape": lambda a, b: np.shape(a),
    "ndim": lambda a, b: np.ndim(a),
    "size": lambda a, b: np.size(a),
    "result_type": lambda a, b: np.result_type(a, 1.0),
    "result_type of two": lambda a, b: np.result_type(a, b[0], np.int64),
    "can_cast": lambda a, b: np.can_cast(a, np.float32),
    "common_type": lambda a, b: np.common_type(a, b),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_answer_as_numpy(name, dtype):
    a, b = A.astype(dtype), B.astype(dtype)
    fun, seen = PREDICATES[name], {}

    def f(a, b):
        seen["answer"] = fun(a, b)
        return np.sum(np.where(np.isfinite(a), a, 0.0) * 2)

    g = td.grad(f)(a, b)
    np.testing.assert_array_equal(g, np.where(np.isfinite(a), 2.0, 0.0))
    expected, answer = fun(a, b), seen["answer"]
    if isinstance(expected, np.ndarray):  # an array of answers: a traced value without gradient
        assert isinstance(answer, td.tracing.Tracer) and not answer.requires_grad
        np.testing.assert_array_equal(answer._value, expected, strict=True)
    else:  # a Python (or NumPy) value, as NumPy returns it
        assert type(answer) is type(expected) and answer == expected


def test_a_predicate_on_a_gradient_path_contributes_nothing():
    def f(x):
        return np.sum(x * np.isclose(x, 1.0) + np.isreal(x) * x ** 2)

    x = np.array([1.0, 2.0, 1.0 + 1e-12])
    np.testing.assert_allclose(td.grad(f)(x), [3.0, 4.0, 3.0])


def _branchy(test):
    def f(x, y):
        return np.sum(x * y) * (2.0 if test(x, y) else 1.0)
    return f


@pytest.mark.parametrize("name, test", [
    ("allclose", lambda x, y: np.allclose(x, y)),
    ("array_equal", lambda x, y: np.array_equal(x, y)),
    ("array_equiv", lambda x, y: np.array_equiv(x, y[0])),
    ("matrix_rank of a vector", lambda x, y: np.linalg.matrix_rank(y - 1.0) == 1),
])
def test_a_python_answer_is_guarded(name, test):
    g = td.grad(_branchy(test))
    ones, twos = np.ones(3), np.full(3, 2.0)
    for y in (ones, twos, ones, twos):
        expected = y * (2.0 if test(ones, y) else 1.0)
        np.testing.assert_array_equal(g(ones, y), expected)
    assert g.cache_info().traces == 2  # one per answer, then reused


def test_even_coordinates_are_a_guarded_decision():
    # np.gradient takes the scalar formulas for evenly spaced coordinates, as NumPy: the generated
    # code checks the coordinates are still even (they are traced, though not differentiated).
    w = RNG.standard_normal(5)

    def f(y, x):
        return np.sum(np.gradient(y, x, edge_order=2) * w)

    def expected(x):  # np.gradient is linear in y: the gradient is its transpose applied to w
        return np.array([np.sum(np.gradient(np.eye(5)[i], x, edge_order=2) * w) for i in range(5)])

    g = td.grad(f)
    y = RNG.standard_normal(5)
    for x in (EVEN, UNEVEN, EVEN * 2, UNEVEN):
        np.testing.assert_allclose(g(y, x), expected(x), rtol=1e-12)
    assert g.cache_info().traces == 2


def test_traced_coordinates_with_a_gradient_take_the_uneven_formulas():
    # Evenly spaced, but a gradient flows to them: the derivative is the uneven formulas' one,
    # in every coordinate (the even formulas use only the first difference).
    def f(x, y):
        return np.sum(np.gradient(y, x) ** 2)

    td.testing.check_grads(f, EVEN.copy(), RNG.standard_normal(5), argnums=(0, 1))


def test_polyfit_weights_gradient():
    # (in float64 only: NumPy weighs y in its own dtype, whose rounding finite differences would see)
    x, y = np.linspace(-1, 1, 6), RNG.standard_normal(6)
    td.testing.check_grads(lambda w: np.polyfit(x, y, 2, w=w ** 2 + 0.5), RNG.standard_normal(6), order=2)


def test_fill_diagonal_writes_in_place():
    def f(x, v):
        y = x * 1.0
        view = y[:2]
        np.fill_diagonal(y, v)
        return y + view.sum()  # the write reaches a view taken before it, as in NumPy

    x, v = RNG.standard_normal((3, 3)), RNG.standard_normal(3)
    _assert_same(_traced(f, x, v), f(x, v))
    td.testing.check_grads(f, x, v, argnums=(0, 1))


def test_histogram_counts_have_no_gradient_in_the_samples():
    def f(x, w):
        counts, edges = np.histogram(x, bins=3, range=(-2, 2), weights=w)
        return np.sum(counts * np.arange(3)) + np.sum(edges)

    x, w = RNG.uniform(-1.9, 1.9, 8), RNG.standard_normal(8)
    gx, gw = td.grad(f, argnums=(0, 1))(x, w)
    np.testing.assert_array_equal(gx, np.zeros(8))
    np.testing.assert_array_equal(gw, np.clip(np.floor((x + 2) / (4 / 3)), 0, 2))


def test_trim_zeros_ends_are_guarded():
    g = td.grad(lambda z: np.sum(np.trim_zeros(z) ** 2))
    z = np.array([0.0, 0.0, 1.5, 0.0, 2.0, 0.0])
    np.testing.assert_array_equal(g(z), [0.0, 0.0, 3.0, 0.0, 4.0, 0.0])
    np.testing.assert_array_equal(g(np.array([1.0, 0, 0, 0, 0, 3.0])), [2.0, 0, 0, 0, 0, 6.0])
    np.testing.assert_array_equal(g(z), [0.0, 0.0, 3.0, 0.0, 4.0, 0.0])
    assert g.cache_info().traces == 2


def test_bincount_length_is_guarded():
    g = td.grad(lambda w, labels: np.sum(np.bincount(labels, w) ** 2))
    w = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g(w, np.array([0, 1, 1])), [2.0, 10.0, 10.0])
    np.testing.assert_array_equal(g(w, np.array([0, 3, 1])), [2.0, 4.0, 6.0])  # longer: traced again
    assert g.cache_info().traces == 2


def test_partition_partitions():
    x = RNG.standard_normal((3, 8))
    for kth in (0, 3, (2, 5), -1):
        out = _traced(lambda x: np.partition(x, kth), x)
        ref = np.sort(x, axis=-1)
        for k in np.atleast_1d(kth) % 8:
            np.testing.assert_array_equal(out[:, k], ref[:, k])
            assert np.all(out[:, :k] <= out[:, k:k + 1]) and np.all(out[:, k + 1:] >= out[:, k:k + 1])


def test_interp_computes_in_float64_as_numpy():
    x32 = np.linspace(-3, 3, 7, dtype=np.float32)
    fp32 = np.cos(XP).astype(np.float32)
    out = _traced(lambda x, fp: np.interp(x, XP, fp), x32, fp32)
    assert out.dtype == np.float64
    gx, gfp = td.grad(lambda x, fp: np.sum(np.interp(x, XP, fp)), argnums=(0, 1))(x32, fp32)
    assert gx.dtype == gfp.dtype == np.float32


def test_interp_with_xp_from_stop_gradient():
    f = lambda x, xp: np.sum(np.interp(x, td.stop_gradient(xp), np.sin(XP)))  # noqa: E731
    gx, gxp = td.grad(f, argnums=(0, 1))(np.array([0.1, 0.7]), XP)
    np.testing.assert_array_equal(gxp, np.zeros_like(XP))
    slopes = np.diff(np.sin(XP)) / np.diff(XP)
    np.testing.assert_allclose(gx, slopes[[2, 3]])


# --- errors -----------------------------------------------------------------------------------

ERRORS = [
    ("interp traced xp", lambda x: np.interp(0.5, x, np.sin(x)), NotImplementedError, r"np\.interp.*stop_gradient"),
    ("cond p", lambda x: np.linalg.cond(x[:3, :3], 3), ValueError, r"np\.linalg\.cond.*invalid norm order 3"),
    ("cond 1-D", lambda x: np.linalg.cond(x[0]), np.linalg.LinAlgError, r"np\.linalg\.cond"),
    ("cond not square", lambda x: np.linalg.cond(x, 1), np.linalg.LinAlgError, r"np\.linalg\.cond.*square"),
    ("correlate 2-D", lambda x: np.correlate(x, x[0]), ValueError, r"np\.correlate: a must be 1-D"),
    ("convolve empty", lambda x: np.convolve(x[0], x[0, :0]), ValueError, r"np\.convolve: v cannot be empty"),
    ("convolve mode", lambda x: np.convolve(x[0], x[1], "middle"), ValueError, r"np\.convolve: mode must be"),
    ("gradient edge_order", lambda x: np.gradient(x, edge_order=3), ValueError, r"np\.gradient: edge_order"),
    ("gradient too short", lambda x: np.gradient(x[:2], axis=0, edge_order=2), ValueError, r"np\.gradient: shape"),
    ("gradient spacings", lambda x: np.gradient(x, 1.0, 2.0, 3.0), TypeError, r"np\.gradient: give one spacing"),
    ("gradient coordinates", lambda x: np.gradient(x[0], np.arange(4.0)), ValueError, r"np\.gradient: when 1d"),
    ("diff order", lambda x: np.diff(x, -1), ValueError, r"np\.diff: order must be non-negative"),
    ("diff 0-d", lambda x: np.diff(x[0, 0]), ValueError, r"np\.diff"),
    ("linspace num", lambda x: np.linspace(x[0], x[1], -2), ValueError, r"np\.linspace: number of samples"),
    ("meshgrid indexing", lambda x: np.meshgrid(x[0], indexing="xyz"), ValueError, r"np\.meshgrid"),
    ("rollaxis start", lambda x: np.rollaxis(x, 0, 5), np.exceptions.AxisError, r"np\.rollaxis"),
    ("partition order", lambda x: np.partition(x, 1, order="a"), NotImplementedError, r"np\.argpartition"),
    ("partition float kth", lambda x: np.argpartition(x, 1.5), TypeError, r"np\.argpartition: kth"),
    ("cov 3-D", lambda x: np.cov(x[None]), ValueError, r"np\.cov"),
    ("multi_dot 3-D", lambda x: np.linalg.multi_dot([x, x[None], x]), ValueError, r"np\.linalg\.multi_dot"),
    ("matrix_transpose 1-D", lambda x: np.matrix_transpose(x[0]), ValueError, r"matrix_transpose"),
    ("linalg.cross", lambda x: np.linalg.cross(x[:2, :2], x[:2, :2]), ValueError, r"np\.linalg\.cross"),
    ("histogram traced bins", lambda x: np.histogram(x, bins=x[0]), NotImplementedError, r"np\.histogram: bins"),
    ("bincount floats", lambda x: np.bincount(x[0], x[1]), TypeError, r"np\.bincount: x must hold"),
    ("digitize bins", lambda x: np.digitize(x, [1.0, 0.5, 2.0]), ValueError, r"np\.digitize: bins must be mono"),
    ("choose floats", lambda x: np.choose(x[0], [x[1], x[2]]), TypeError, r"np\.choose: a must hold integers"),
    ("piecewise counts", lambda x: np.piecewise(x, [x > 1, x < 1], [np.sin]), ValueError, r"np\.piecewise"),
    ("block tuple", lambda x: np.block([(x, x)]), TypeError, r"arrays\[0\] is a tuple"),
    ("block depths", lambda x: np.block([[x], x]), ValueError, r"np\.block: list depths are mismatched"),
    ("geomspace zero", lambda x: np.geomspace(x[0, 0] * 0, 1.0, 3), ValueError, r"np\.geomspace"),
    ("polyfit cov", lambda x: np.polyfit(x[0], x[1], 1, cov=True), NotImplementedError, r"np\.polyfit\(cov"),
    ("polyder order", lambda x: np.polyder(x[0], -1), ValueError, r"np\.polyder"),
    ("unravel_index bounds", lambda x: np.unravel_index((x[0] * 10).astype(int), (2, 3)), ValueError,
     r"np\.unravel_index: index out of bounds"),
    ("putmask unsafe cast", lambda x: _in_place(lambda y, x: np.putmask(y, x > 1, x[0].astype(np.float64)))(
        x.astype(np.float32))[0], TypeError, r"np\.putmask: cannot cast"),
    ("copyto plain array", lambda x: np.copyto(np.zeros(5), x[0]), td.errors.TracerConversionError, r"np\.copyto"),
    ("poly of a rectangular matrix", lambda x: np.poly(x[:2, :3]), ValueError, r"np\.poly: input must be"),
    ("histogramdd weights", lambda x: np.histogramdd(x, weights=x[:, 0])[0], NotImplementedError,
     r"np\.histogramdd: no gradient flows to the weights"),
    ("intersect1d gradient", lambda x: np.intersect1d(x[0], x[1]), NotImplementedError,
     r"np\.intersect1d: no gradient flows through it yet"),
    ("trim_zeros trim", lambda x: np.trim_zeros(x[0], "x"), ValueError, r"np\.trim_zeros"),
    ("apply_along_axis empty", lambda x: np.apply_along_axis(np.sum, 0, x[:, :0]), ValueError, r"np\.apply_along_axis"),
]


@pytest.mark.parametrize("name, fun, error, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_is_a_clear_error(name, fun, error, message):
    with pytest.raises(error, match=message):
        td.grad(lambda x: np.sum(fun(x)))(X)


def test_real_if_close_of_complex_values_decides_as_numpy():
    z = np.array([1.0 + 1e-20j, 2.0])
    out, pullback = td.vjp(lambda x: np.real_if_close(x * z), np.ones(2))
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]  # the imaginary parts were negligible
    np.testing.assert_array_equal(pullback(np.array([1.0, 1.0]))[0], [1.0, 2.0])


def test_none_of_them_is_missing():
    # each runs on a traced value (a MissingRuleError would fail here), whatever it returns
    for fun in [lambda x: np.allclose(x, x), lambda x: np.isclose(x, 1), lambda x: np.iscomplex(x),
                lambda x: np.isreal(x), lambda x: np.iscomplexobj(x), lambda x: np.isrealobj(x),
                lambda x: np.array_equal(x, x), lambda x: np.array_equiv(x, x), lambda x: np.shape(x),
                lambda x: np.ndim(x), lambda x: np.size(x), lambda x: np.result_type(x),
                lambda x: np.argpartition(x, 1), lambda x: np.einsum_path("ij,jk", x, x.T)]:
        np.testing.assert_array_equal(td.grad(lambda x: (fun(x), np.sum(x))[1])(X), np.ones_like(X))
