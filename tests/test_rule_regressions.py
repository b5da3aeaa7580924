"""Regressions of issue 13: wrong gradients and crashes of single rules, each checked against exact
hand-derived values or finite differences (never against what tracediff computes itself).

1. powers at x == 0, at first and second order, constant and array exponents;
2. NaN through np.max / np.min (NumPy propagates it: so does the gradient);
3. axis=0 and axis=-1 on 0-d values where NumPy accepts them (and NumPy's errors where it does not),
   np.pad and np.transpose of 0-d values, np.mean of an empty array;
4. ``x[i] = v`` where NumPy broadcasts v into the slot (leading 1s dropped, size-1 axes stretched).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

try:
    import scipy.special as sp
except ImportError:  # SciPy is optional
    sp = None
needs_scipy = pytest.mark.skipif(sp is None, reason="SciPy is not installed")

# --- 1. powers at zero ---------------------------------------------------------------------------

EXPONENTS = [0, 1, 2, 3, 0.5, -1]
INF = math.inf


def _d1(y, x):
    """d/dx x ** y, by hand: x ** 0 is 1 everywhere (derivative 0, also at 0)."""
    if y == 0:
        return 0.0
    if x == 0:
        return {1: 1.0, 2: 0.0, 3: 0.0, 0.5: INF, -1: -INF}[y]
    return y * x ** (y - 1)


def _d2(y, x):
    """d^2/dx^2 x ** y, by hand."""
    if y in (0, 1):
        return 0.0
    if x == 0:
        return {2: 2.0, 3: 0.0, 0.5: -INF, -1: INF}[y]
    return y * (y - 1) * x ** (y - 2)


def _quiet(fun, *args):
    with warnings.catch_warnings():  # 0.0 ** -0.5 and the like warn in NumPy
        warnings.simplefilter("ignore", RuntimeWarning)
        return fun(*args)


def test_zeroth_power_has_zero_gradient_at_zero():
    assert float(td.grad(lambda x: x ** 0)(0.0)) == 0.0
    np.testing.assert_array_equal(td.grad(lambda x: np.sum(x ** 0))(np.zeros(3)), np.zeros(3))


def test_polynomial_features_at_zero():
    # sum_k x ** k for k = 0, 1, 2: the derivative is 0 + 1 + 2 x
    for dtype in (np.float32, np.float64):
        x = np.array([0.0, 0.5, -1.0, 0.0], dtype)
        g = td.grad(lambda x: np.sum(x[:, None] ** np.arange(3.0)))(x)
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, [1.0, 2.0, -1.0, 1.0])
        check_grads(lambda x: x[:, None] ** np.arange(4.0), x, order=2)


def test_hessian_of_first_power_at_zero_is_zero():
    np.testing.assert_array_equal(td.hessian(lambda x: np.sum(x ** 1.0))(np.zeros(3)), np.zeros((3, 3)))


def test_second_derivative_of_first_power_at_zero():
    assert float(td.grad(td.grad(lambda x: x ** 1))(0.0)) == 0.0


@pytest.mark.parametrize("y", EXPONENTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_power_rule_on_arrays_at_and_away_from_zero(y, dtype):
    x = np.array([0.0, 1.5, 0.0, 0.25], dtype)
    first = _quiet(td.grad(lambda x: np.sum(x ** y)), x)
    assert first.dtype == dtype
    np.testing.assert_allclose(first, [_d1(y, float(v)) for v in x], rtol=1e-6)
    # each entry of the gradient depends on its own x only: the gradient of its sum is the diagonal
    second = _quiet(td.grad(lambda x: np.sum(td.grad(lambda x: np.sum(x ** y))(x))), x)
    np.testing.assert_allclose(second, [_d2(y, float(v)) for v in x], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_power_rule_with_an_array_of_exponents(dtype):
    # the exponent is an array (not a number known when tracing): the rule's general form
    y = np.array(EXPONENTS, np.float64)
    for point in (0.0, 1.5):
        x = np.full(len(EXPONENTS), point, dtype)
        first = _quiet(td.grad(lambda x: np.sum(x ** y)), x)
        np.testing.assert_allclose(first, [_d1(e, point) for e in EXPONENTS], rtol=1e-6)
        second = _quiet(td.grad(lambda x: np.sum(td.grad(lambda x: np.sum(x ** y))(x))), x)
        np.testing.assert_allclose(second, [_d2(e, point) for e in EXPONENTS], rtol=1e-6)


@pytest.mark.parametrize("y", [0, 1, 2, 3, 0.5, -1, 2.0, 1.0])
def test_power_rule_on_python_floats(y):
    for x in (1.5, 0.25):
        assert float(td.grad(lambda x: x ** y)(x)) == pytest.approx(_d1(y, x), rel=1e-12)
        assert float(td.grad(td.grad(lambda x: x ** y))(x)) == pytest.approx(_d2(y, x), rel=1e-12)
    if y in (0.5, -1):
        # A Python float computes as Python does: 0.0 ** -0.5 raises (the derivative is infinite;
        # for y = -1 the function itself raises at 0).
        with pytest.raises(ZeroDivisionError):
            td.grad(lambda x: x ** y)(0.0)
        return
    assert float(td.grad(lambda x: x ** y)(0.0)) == _d1(y, 0.0)
    assert float(td.grad(td.grad(lambda x: x ** y))(0.0)) == _d2(y, 0.0)


def test_float_power_at_zero():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    g = td.grad(lambda x: np.sum(np.float_power(x, y)))(np.zeros(4))
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0, 0.0])
    g = td.grad(lambda x: np.sum(np.float_power(x, 0) + np.float_power(x, 1) + np.float_power(x, 2)))(np.zeros(2))
    np.testing.assert_array_equal(g, [1.0, 1.0])
    h = td.hessian(lambda x: np.sum(np.float_power(x, y)))(np.zeros(4))
    np.testing.assert_array_equal(h, np.diag([0.0, 0.0, 2.0, 0.0]))


def test_exponent_gradient_at_zero_base():
    # d/dy x ** y = x ** y log x, which tends to 0 as x -> 0 for y > 0; d/dx as above
    # (at x == 0, y == 0 the y-derivative does not exist: 0 ** y jumps from 1 to 0; taken as 0)
    x, y = np.zeros(5), np.array([0.0, 1.0, 2.0, 3.0, 0.5])
    gx, gy = _quiet(td.grad(lambda x, y: np.sum(x ** y), argnums=(0, 1)), x, y)
    np.testing.assert_array_equal(gx, [0.0, 1.0, 0.0, 0.0, INF])
    np.testing.assert_array_equal(gy, np.zeros(5))
    # mixed second derivatives at x == 0: d/dy (y x ** (y - 1)) = x ** (y - 1) (1 + y log x) -> 0 for
    # y > 1 (and d/dx (x ** y log x) is the same); d2/dx2 = y (y - 1) x ** (y - 2)
    x, y = np.zeros(2), np.array([2.0, 3.0])
    w = np.array([0.5, -2.0])

    def weighted_gradient(x, y):
        gx, gy = td.grad(lambda x, y: np.sum(x ** y), argnums=(0, 1))(x, y)
        return np.sum(w * gx) + np.sum(w * gy)

    hx, hy = td.grad(weighted_gradient, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(hx, w * [2.0, 0.0])
    np.testing.assert_array_equal(hy, [0.0, 0.0])


def test_traced_exponent_away_from_zero_at_second_order():
    x, y = np.array([0.5, 1.5, 2.0]), np.array([0.0, 1.0, 2.5])  # y == 0 and 1 included
    check_grads(lambda x, y: x ** y, x, y, argnums=(0, 1), order=2)


def test_constant_integer_exponent_keeps_simple_code():
    x = np.linspace(0.0, 1.0, 3)
    source = td.grad(lambda x: np.sum(x ** 2)).source(x)
    assert "g_x = 2.0 * x\n" in source, source
    source = td.grad(lambda x: np.sum(x ** 3)).source(x)
    assert "g_x = 3.0 * x ** 2\n" in source, source
    source = td.grad(lambda x: np.sum(x ** 0.5 + x ** 1 + x ** 0)).source(x + 1)
    assert "g_x = 1.0 + 0.5 * x ** -0.5\n" in source, source  # was 0.0 * x ** -1 + x ** 0 + ...


# --- 2. NaN through max and min ------------------------------------------------------------------
# NumPy's max propagates NaN; the derivative does not exist there, and the whole slice whose max is
# NaN gets a NaN cotangent (as np.maximum sends NaN to both operands): never a silent 0.

NAN_ROWS = np.array([[1.0, np.nan, 3.0], [4.0, 6.0, 5.0]])
# (the share g / 0 and 0 * inf warn, as NumPy does wherever it makes an infinity or a NaN)
_NAN_WARNINGS = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning",
                                           "ignore:invalid value:RuntimeWarning")


@_NAN_WARNINGS
@pytest.mark.parametrize("reduce", [np.max, np.min, np.amax, np.amin, np.ptp, lambda x: x.max(), lambda x: x.min()])
def test_extremum_of_nan_has_a_nan_gradient(reduce):
    value, g = td.value_and_grad(lambda x: reduce(x))(np.array([1.0, np.nan, 3.0]))
    assert np.isnan(value)
    assert np.all(np.isnan(g))


@_NAN_WARNINGS
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremum_along_an_axis_with_nan_in_one_slice(dtype):
    x = NAN_ROWS.astype(dtype)
    g = td.grad(lambda x: np.sum(np.max(x, axis=1) * np.array([1.0, 2.0], dtype)))(x)
    assert g.dtype == dtype
    assert np.all(np.isnan(g[0]))
    np.testing.assert_array_equal(g[1], [0.0, 2.0, 0.0])
    g = td.grad(lambda x: np.sum(np.min(x, axis=0)))(x)
    assert np.all(np.isnan(g[:, 1]))
    np.testing.assert_array_equal(g[:, [0, 2]], [[1.0, 1.0], [0.0, 0.0]])


def test_nanmax_ignores_nan():
    # the gradient goes to the largest entry that is not NaN; NaN entries get none
    g = td.grad(lambda x: np.sum(np.nanmax(x, axis=1)))(NAN_ROWS)
    np.testing.assert_array_equal(g, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    g = td.grad(lambda x: np.nanmin(x))(NAN_ROWS)
    np.testing.assert_array_equal(g, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


# --- 3. axes on 0-d values -----------------------------------------------------------------------
# NumPy's ufunc reductions (and cumsum, repeat, SciPy's logsumexp and softmax) take axis=0 and
# axis=-1 on a 0-d array; np.mean, var, std, median and norm do not. tracediff mirrors both.

def _square_sum(x):
    return np.sum(x ** 2)  # a 0-d value whose derivative is 2 x


# name -> (function of a 0-d value s and an axis, d/ds of its sum)
ZERO_D = {
    "sum": (lambda s, axis: np.sum(s, axis=axis), 1.0),
    "max": (lambda s, axis: np.max(s, axis=axis), 1.0),
    "min": (lambda s, axis: np.min(s, axis=axis, keepdims=True), 1.0),
    "prod": (lambda s, axis: np.prod(s, axis=axis), 1.0),
    "amax": (lambda s, axis: np.amax(s, axis=axis), 1.0),
    "ptp": (lambda s, axis: np.ptp(s, axis=axis) + s, 1.0),
    "cumsum": (lambda s, axis: np.cumsum(s, axis=axis), 1.0),
    "cumprod": (lambda s, axis: np.cumprod(s, axis=axis), 1.0),
    "repeat": (lambda s, axis: np.repeat(s, 3, axis=axis), 3.0),
    "nansum": (lambda s, axis: np.nansum(s, axis=axis), 1.0),
    "nanmax": (lambda s, axis: np.nanmax(s, axis=axis), 1.0),
    "nanmean": (lambda s, axis: np.nanmean(s, axis=axis), 1.0),
    "nanvar": (lambda s, axis: np.nanvar(s, axis=axis) + s, 1.0),
}


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("name", sorted(ZERO_D))
def test_axis_on_a_0d_value(name, axis):
    fun, slope = ZERO_D[name]
    x = np.array([1.0, -2.0])
    s = np.float64(_square_sum(x))
    expected = fun(s, axis)  # NumPy's own result
    value, g = td.value_and_grad(lambda x: np.sum(fun(_square_sum(x), axis)))(x)
    assert value == np.sum(expected)
    np.testing.assert_allclose(g, slope * 2 * x, rtol=1e-12)
    traced = td.trace(lambda x: fun(_square_sum(x), axis), x)
    assert traced.outputs[0].shape == np.shape(expected)
    # a Python float argument
    assert float(td.grad(lambda t: np.sum(fun(t * 3.0, axis)))(0.5)) == pytest.approx(3.0 * slope)


@needs_scipy
@pytest.mark.parametrize("axis", [0, -1, (0,)])
def test_scipy_logsumexp_and_softmax_on_a_0d_value(axis):
    x = np.array([1.0, -2.0])
    g = td.grad(lambda x: sp.logsumexp(_square_sum(x), axis=axis))(x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-12)  # logsumexp of one value is that value
    if axis == (0,):  # SciPy's softmax takes an int axis only on 0-d values
        with pytest.raises(np.exceptions.AxisError):
            td.grad(lambda x: sp.softmax(_square_sum(x), axis=axis))(x)
        return
    for softmax in (sp.softmax, sp.log_softmax):  # 1 and 0: constants
        value, g = td.value_and_grad(lambda x: softmax(_square_sum(x), axis=axis))(x)
        assert value == softmax(np.float64(5.0), axis=axis)
        np.testing.assert_array_equal(g, [0.0, 0.0])


@pytest.mark.parametrize("call", [
    lambda s: np.mean(s, axis=0), lambda s: np.var(s, axis=-1), lambda s: np.std(s, axis=0),
    lambda s: np.median(s, axis=0), lambda s: np.linalg.norm(s, axis=0),
    lambda s: np.max(s, axis=1), lambda s: np.sum(s, axis=(0,)), lambda s: np.max(s, axis=-2),
    lambda s: np.cumsum(s, axis=1), lambda s: np.repeat(s, 2, axis=1),
    lambda s: np.argmax(s, axis=1), lambda s: np.argmax(np.reshape(s, (1, 1)), axis=5),
], ids=["mean 0", "var -1", "std 0", "median 0", "norm 0", "max 1", "sum (0,)", "max -2", "cumsum 1",
        "repeat 1", "argmax 1", "argmax of 2-D, 5"])
def test_axis_errors_on_0d_values_are_numpys(call):
    x = np.array([1.0, -2.0])
    with pytest.raises(np.exceptions.AxisError):
        call(np.float64(5.0))  # NumPy refuses it
    with pytest.raises(np.exceptions.AxisError):
        td.grad(lambda x: np.sum(call(_square_sum(x))))(x)


def test_pad_of_a_0d_value():
    x = np.array([1.0, -2.0])
    assert np.pad(np.float64(5.0), 2).shape == ()  # NumPy: nothing to pad
    for mode in ("constant", "edge", "reflect"):
        value, g = td.value_and_grad(lambda x: np.pad(_square_sum(x), 2, mode=mode))(x)
        assert value == 5.0
        np.testing.assert_array_equal(g, 2 * x)
    assert float(td.grad(lambda t: np.pad(t * 3.0, ((1, 2),)))(0.5)) == 3.0  # a Python float


def test_transpose_of_a_python_float_then_index():
    # np.transpose of a float is a 0-d array, which x[None] makes 1-D
    assert np.transpose(2.0)[None].shape == (1,)
    assert float(td.grad(lambda x: np.sum(np.transpose(x)[None] * 3.0))(1.5)) == 3.0
    value, g = td.value_and_grad(lambda x: np.sum(np.transpose(x * x)[None, ..., None] * 3.0))(2.0)
    assert (value, float(g)) == (12.0, 12.0)


def test_mean_of_an_empty_array_is_nan_like_numpy():
    with pytest.warns(RuntimeWarning):
        expected = np.mean(np.zeros(0))
    assert np.isnan(expected)
    with pytest.warns(RuntimeWarning):
        value, g = td.value_and_grad(lambda x: np.mean(x))(np.zeros(0))
    assert np.isnan(value)
    assert g.shape == (0,) and g.dtype == np.float64
    with pytest.warns(RuntimeWarning):
        g = td.grad(lambda x: np.sum(np.mean(x, axis=0)))(np.zeros((0, 3)))
    assert g.shape == (0, 3)


# --- 4. writes that broadcast the value ----------------------------------------------------------

def _write(index, add=False):
    def fun(x, v):
        out = x.copy()
        if add:
            out[index] += v
        else:
            out[index] = v
        return out * out  # non-linear: every entry matters
    return fun


# (index, x's shape, v's shape): NumPy broadcasts v into the slot x[index]
WRITES = {
    "scalar into slice": ((slice(1, 3),), (4, 3), ()),
    "(1,3) into (3,)": (0, (2, 3), (1, 3)),  # NumPy drops the leading 1
    "(1,1,3) into (3,)": (0, (2, 3), (1, 1, 3)),
    "(1,1) into (3,)": (0, (2, 3), (1, 1)),  # dropped, then stretched
    "(3,) into (2,3)": (slice(0, 2), (3, 3), (3,)),
    "(2,1) into (2,3)": (slice(None), (2, 3), (2, 1)),
    "(1,2) into (2,)": ((slice(None), 1), (2, 3), (1, 2)),
    "(1,2,1) into x[[0, 2]]": ([0, 2], (3, 4), (1, 2, 1)),  # an index array
    "(2,) into x[mask]": (np.array([[True, False], [False, True]]), (2, 2), (2,)),
}
# x[index] += v is x[index] = x[index] + v, which NumPy refuses where v has more axes than the slot
ADDS = {name: case for name, case in WRITES.items() if len(case[2]) <= np.zeros(case[1])[case[0]].ndim}


def _check_write(index, x_shape, v_shape, add):
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal(x_shape), rng.standard_normal(v_shape)
    fun = _write(index, add)
    fun(x.copy(), v)  # NumPy accepts the write
    check_grads(fun, x, v, argnums=(0, 1), order=2)
    gv = td.grad(lambda x, v: np.sum(fun(x, v)), argnums=1)(x, v)
    assert gv.shape == v.shape


@pytest.mark.parametrize("name", sorted(WRITES))
def test_setitem_broadcasts_the_value(name):
    _check_write(*WRITES[name], add=False)


@pytest.mark.parametrize("name", sorted(ADDS))
def test_setitem_add_broadcasts_the_value(name):
    _check_write(*ADDS[name], add=True)


def test_setitem_of_a_row_taken_with_a_new_axis():
    # the reported case: v[0] = x[None, 1]: a (1, 3) value in a (3,) row
    def f(x):
        v = np.zeros_like(x[:2])
        v[0] = x[None, 1]
        return np.sum(v * x[:2])

    x = np.arange(12.0).reshape(4, 3) / 10
    g = td.grad(f)(x)
    expected = np.zeros_like(x)
    expected[0] = x[1]  # d/dx[0] of x[1] . x[0]
    expected[1] = x[0]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_hermitian_svd_and_pinv_read_the_lower_triangle_as_numpy():
    # Found by the complex SVD work: NumPy's hermitian=True goes through eigh, which reads a's lower
    # triangle only; the rules gave the gradient for any a (wrong against finite differences).
    rng = np.random.default_rng(3)
    b = rng.standard_normal((4, 4))
    c = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    weights = np.arange(1.0, 5.0)
    for a in (b + b.T, c + c.conj().T):
        check_grads(lambda a: np.linalg.svd(a, compute_uv=False, hermitian=True) @ weights, a, order=2)
        check_grads(lambda a: np.sum(np.abs(np.linalg.svd(a, hermitian=True).U[:, :2]) ** 3), a, order=2)
        check_grads(lambda a: np.sum(np.abs(np.linalg.pinv(a, hermitian=True)) ** 2), a, order=2)


def test_a_float32_scalar_gets_a_float32_gradient_through_a_float64_broadcast():
    # Found by the fuzzer (seed 31001): the cotangent summed back to a 0-d float32 input from a
    # float64 (1,) value is NumPy's float64 scalar, a subclass of float, which the cast took for a
    # Python float (which adapts to any dtype): the gradient came back float64.
    weights = np.array([0.25, -1.5, 2.0])

    def f(x, k):
        return (x + weights[k:k + 1])[..., -1] * 0.5 + x * weights[k % 3]

    x = np.array(-0.5, dtype=np.float32)
    for k in (0, 1):
        g = td.grad(f)(x, k)
        assert g.dtype == np.float32 and g.shape == ()
        assert g == np.float32(0.5 + weights[k])
        with td.optimizations(disable="all"):
            assert td.grad(f)(x, k).dtype == np.float32
