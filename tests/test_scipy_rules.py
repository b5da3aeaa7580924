"""SciPy's Python functions on traced values: scipy.stats distributions, scipy.linalg,
scipy.signal.convolve, scipy.integrate.odeint, the import hook, and naming an unsupported SciPy
function in errors. Values are compared with SciPy's own results, gradients with finite
differences (the primitives' rules are also walked by tests/test_rules.py, cases in
tests/rule_cases/special.py and scipy_*.py)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tracediff as td
from tracediff.library_calls import describe_library_call
from tracediff.testing import check_grads

sp = pytest.importorskip("scipy.special")
import scipy.integrate as si  # noqa: E402
import scipy.linalg as sl  # noqa: E402
import scipy.signal as ss  # noqa: E402
import scipy.stats as st  # noqa: E402

DTYPES = [np.float32, np.float64]


def _value(fun, *args):
    """``fun(*args)`` computed by tracediff (traced, then its generated code)."""
    return td.vjp(fun, *args)[0]


# --- scipy.stats: continuous distributions ----------------------------------------------------

# name -> (shape parameters, loc, scale, range of x inside the support, shapes whose cdf takes no gradient)
CONTINUOUS = {
    "norm": ((), 0.3, 1.4, (-2.0, 2.5), 0),
    "t": ((3.5,), 0.3, 1.4, (-2.0, 2.5), 1),
    "gamma": ((2.5,), 0.1, 1.3, (0.3, 4.0), 1),
    "beta": ((2.0, 3.0), -0.2, 2.5, (0.0, 2.0), 2),
    "expon": ((), 0.1, 1.3, (0.3, 3.0), 0),
    "laplace": ((), 0.3, 1.4, (0.5, 2.5), 0),
    "cauchy": ((), 0.3, 1.4, (-2.0, 2.5), 0),
    "logistic": ((), 0.3, 1.4, (-2.0, 2.5), 0),
    "uniform": ((), -1.0, 4.0, (-0.5, 2.5), 0),
    "lognorm": ((0.7,), 0.1, 1.3, (0.4, 3.0), 0),
}
DENSITY = ("logpdf", "pdf")
CUMULATIVE = ("cdf", "logcdf", "sf", "logsf")
QUANTILE = {"norm", "expon", "cauchy", "logistic", "uniform"}  # with ppf and isf


def _points(name, dtype, n=5):
    low, high = CONTINUOUS[name][3]
    return np.linspace(low, high, n + 2)[1:-1].astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_values_match_scipy(name, dtype):
    dist = getattr(st, name)
    shapes, loc, scale, _, _ = CONTINUOUS[name]
    x = _points(name, dtype)
    methods = DENSITY + CUMULATIVE + (("ppf", "isf") if name in QUANTILE else ())
    for method in methods:
        arg = np.linspace(0.1, 0.9, 5).astype(dtype) if method in ("ppf", "isf") else x
        expected = getattr(dist, method)(arg, *shapes, loc, scale)
        got = _value(lambda x: getattr(dist, method)(x, *shapes, loc, scale), arg)
        assert got.dtype == expected.dtype == np.float64, method  # SciPy computes in float64
        # (SciPy's ppf of float32 quantiles computes in float32; tracediff in float64)
        rtol = 1e-6 if method in ("ppf", "isf") and dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-300, err_msg=f"{name}.{method}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_gradients(name, dtype):
    dist = getattr(st, name)
    shapes, loc, scale, _, constant_shapes = CONTINUOUS[name]
    x = _points(name, dtype)
    params = [dtype(v) for v in (*shapes, loc, scale)]
    everything = tuple(range(len(params) + 1))
    for method in DENSITY + CUMULATIVE:
        argnums = everything if method in DENSITY else (0,) + everything[1 + constant_shapes:]
        check_grads(lambda x, *p: getattr(dist, method)(x, *p), x, *params, argnums=argnums)
    if name in QUANTILE:
        q = np.linspace(0.1, 0.9, 5).astype(dtype)
        for method in ("ppf", "isf"):
            check_grads(lambda q, *p: getattr(dist, method)(q, *p), q, *params, argnums=everything)


@pytest.mark.parametrize("name", ["norm", "gamma", "t"])
def test_continuous_keywords_and_frozen(name):
    dist = getattr(st, name)
    shapes, loc, scale, _, constant_shapes = CONTINUOUS[name]
    x = _points(name, np.float64)
    shape_names = [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]
    ways = {
        "keywords": lambda x, loc, scale: dist.logcdf(x, *shapes, loc=loc, scale=scale),
        "shape by name": lambda x, loc, scale: dist.logpdf(x, **dict(zip(shape_names, shapes)), loc=loc, scale=scale),
        "frozen, positional": lambda x, loc, scale: dist(*shapes, loc, scale).logpdf(x),
        "frozen, keywords": lambda x, loc, scale: dist(*shapes, scale=scale, loc=loc).sf(x),
    }
    for label, fun in ways.items():
        expected = fun(x, loc, scale)
        np.testing.assert_allclose(_value(fun, x, loc, scale), expected, rtol=1e-12, err_msg=label)
        check_grads(fun, x, loc, scale, argnums=(0, 1, 2))


def test_frozen_shape_parameter_traced():
    # the shape parameter itself traced inside a frozen distribution
    check_grads(lambda a, x: st.gamma(a, scale=2.0).logpdf(x), 2.5, np.array([0.5, 1.0, 3.0]), argnums=(0, 1))
    check_grads(lambda df: st.t(df).logpdf(np.array([-1.0, 0.5])), 3.0)


def test_second_order_through_distributions():
    x = np.array([-1.5, 0.2, 2.0])
    check_grads(lambda x, loc, scale: st.norm.logcdf(x, loc, scale), x, 0.3, 1.4, argnums=(0, 1, 2), order=2)
    check_grads(lambda x, df: st.t(df).logpdf(x), x, 3.5, argnums=(0, 1), order=2)
    check_grads(lambda x, a: st.gamma.logpdf(x, a, scale=1.3), x + 2.0, 2.5, argnums=(0, 1), order=2)
    check_grads(lambda x, p: st.binom.logpmf(np.array([0.0, 2.0, 5.0]), 6, p) * x, 1.0, 0.3, argnums=(1,), order=2)
    mean, cov = np.array([0.1, -0.2]), np.array([[2.0, 0.3], [0.3, 1.0]])
    check_grads(lambda m, c: st.multivariate_normal.logpdf(np.array([[0.5, 0.1], [1.0, -1.0]]), m, c),
                mean, cov, argnums=(0, 1), order=2)


@pytest.mark.parametrize("name", ["gamma", "beta", "expon", "uniform", "lognorm"])
def test_outside_the_support(name):
    dist = getattr(st, name)
    shapes, loc, scale, (low, high), _ = CONTINUOUS[name]
    x = np.array([low - 1.0, (low + high) / 2, high + 1.0 if high < 2.2 else loc - 0.5])
    for method in DENSITY + CUMULATIVE:
        with np.errstate(divide="ignore"):
            expected = getattr(dist, method)(x, *shapes, loc, scale)
            got = _value(lambda x: getattr(dist, method)(x, *shapes, loc, scale), x)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"{name}.{method}")
    # the density is constant (0) outside: no NaN leaks into the gradient from the unused branch
    g = td.grad(lambda x: np.sum(dist.pdf(x, *shapes, loc, scale)))(x)
    assert np.all(np.isfinite(g)) and g[0] == 0


def test_norm_logcdf_is_stable_far_in_the_tail():
    x = np.array([-40.0, -10.0, 0.0])
    np.testing.assert_allclose(_value(st.norm.logcdf, x), st.norm.logcdf(x), rtol=1e-12)
    g = td.grad(lambda x: np.sum(st.norm.logcdf(x)))(x)
    assert np.all(np.isfinite(g)) and abs(g[0] - 40.0) < 0.1  # d/dx log Phi(x) ~ -x far left


# --- scipy.stats: discrete ---------------------------------------------------------------------

DISCRETE = {"poisson": ((2.3,), 1), "binom": ((6, 0.3), 2), "bernoulli": ((0.3,), 1)}  # shapes, which is p/mu


@pytest.mark.parametrize("name", sorted(DISCRETE))
def test_discrete_values_and_gradients(name):
    dist = getattr(st, name)
    shapes, position = DISCRETE[name]
    k = np.array([-1.0, 0.0, 1.0, 2.0, 2.5, 5.0, 7.0])
    for method in ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"):
        def fun(p, method=method):
            return getattr(dist, method)(k, *shapes[:position - 1], p)
        with np.errstate(divide="ignore"):
            expected = getattr(dist, method)(k, *shapes)
            np.testing.assert_allclose(_value(fun, shapes[-1]), expected, rtol=1e-10, err_msg=method)
        finite = np.isfinite(expected) & (expected != 0)  # finite differences of -inf are NaN
        inner = k[finite]
        check_grads(lambda p, method=method: getattr(dist, method)(inner, *shapes[:position - 1], p), shapes[-1])
    check_grads(lambda p: dist(*shapes[:position - 1], p).logpmf(np.array([0.0, 1.0])), shapes[-1])


# --- scipy.stats: multivariate -----------------------------------------------------------------

def _spd(m):
    return m @ m.T + np.eye(len(m))


def test_multivariate_normal():
    rng = np.random.default_rng(0)
    x, mean, m = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((3, 3))
    cov = _spd(m)
    for fun in (lambda x, mean, cov: st.multivariate_normal.logpdf(x, mean, cov),
                lambda x, mean, cov: st.multivariate_normal(mean=mean, cov=cov).pdf(x),
                lambda x, mean, cov: st.multivariate_normal.logpdf(x[0], mean=mean, cov=cov)):
        np.testing.assert_allclose(_value(fun, x, mean, cov), fun(x, mean, cov), rtol=1e-10)
        check_grads(fun, x, mean, cov, argnums=(0, 1, 2))
    frozen = st.multivariate_normal(mean, cov)  # frozen with constants, called on a traced x
    check_grads(lambda x: frozen.logpdf(x), x)
    # SciPy's other readings: scalar and diagonal covariances, points of dimension 1
    for fun, args in [(lambda x, c: st.multivariate_normal.logpdf(x, np.zeros(3), c), (x, 1.7)),
                      (lambda x, c: st.multivariate_normal.logpdf(x, np.ones(3), c), (x, np.array([1.0, 2.0, 0.5]))),
                      (lambda x, c: st.multivariate_normal.logpdf(x, None, c), (x, cov)),
                      (lambda x, c: st.multivariate_normal.logpdf(x, 0.2, c), (x[:, 0], 1.3))]:
        np.testing.assert_allclose(_value(fun, *args), fun(*args), rtol=1e-10)
        check_grads(fun, *args, argnums=(0, 1))


def test_dirichlet():
    alpha = np.array([1.5, 2.0, 3.0])
    u = np.array([[0.2, 0.5], [0.3, 0.1], [0.5, 0.4]])  # one point per column, as SciPy reads it

    def on_simplex(u):  # SciPy checks that x sums to 1: finite differences must stay there
        return u / np.sum(u, axis=0)

    for fun in (lambda u, a: st.dirichlet.logpdf(on_simplex(u), a), lambda u, a: st.dirichlet(a).pdf(on_simplex(u)),
                lambda u, a: st.dirichlet.logpdf(on_simplex(u)[:2], a)):  # the last coordinate completed
        np.testing.assert_allclose(_value(fun, u, alpha), fun(u, alpha), rtol=1e-10)
        check_grads(fun, u, alpha, argnums=(0, 1))


# --- scipy.stats: what is not supported --------------------------------------------------------

def test_unsupported_distribution_method_names_it():
    with pytest.raises(td.MissingRuleError, match=r"scipy\.stats\.norm\.entropy has no gradient rule"):
        td.grad(lambda s: st.norm.entropy(scale=s))(1.0)
    with pytest.raises(td.MissingRuleError, match=r"scipy\.stats\.weibull_min\.logpdf.*td\.custom_vjp"):
        td.grad(lambda x: st.weibull_min.logpdf(x, 2.0))(1.0)
    with pytest.raises(td.MissingRuleError, match=r"scipy\.stats\.multivariate_normal\.cdf"):
        td.grad(lambda m: st.multivariate_normal.cdf(np.zeros(2), m))(np.zeros(2))
    with pytest.raises(td.MissingRuleError, match=r"scipy\.stats\.poisson\.pmf.*traced k"):
        td.grad(lambda k: st.poisson.pmf(k, 2.0))(1.0)


def test_cdf_gradient_in_a_shape_parameter_raises():
    with pytest.raises(td.NonDifferentiableError, match="stdtr.*degrees of freedom"):
        td.grad(lambda df: st.t.cdf(0.5, df))(3.0)
    with pytest.raises(td.NonDifferentiableError, match="gammainc.*parameter a"):
        td.grad(lambda a: st.gamma.cdf(0.5, a))(3.0)
    # with respect to x alone it works, and the shape may even be traced as a constant
    check_grads(lambda x, a: st.gamma.cdf(x, a), 0.5, 3.0, argnums=(0,))


def test_untraced_calls_are_scipys():
    x = np.array([0.1, 0.7])
    own = type(st.norm).logpdf._tracediff_original
    assert own is not type(st.norm).logpdf
    np.testing.assert_array_equal(st.norm(0.2, 2.0).logpdf(x), own(st.norm, x, 0.2, 2.0))
    np.testing.assert_array_equal(sl.expm(np.eye(2)), sl.expm._tracediff_original(np.eye(2)))


# --- scipy.special additions -------------------------------------------------------------------

def test_special_order_and_parameter_gradients_raise():
    z = np.array([0.5, 1.5])
    for fun in (lambda v: sp.jv(v, z), lambda v: sp.kv(v, z), lambda a: sp.gammaincc(a, z),
                lambda a: sp.betainc(a, 2.0, z / 2)):
        with pytest.raises(td.NonDifferentiableError, match="td.stop_gradient"):
            td.grad(lambda p: np.sum(fun(p)))(1.5)
    # an order that is traced but not differentiated is fine
    g = td.grad(lambda v, z: np.sum(sp.jv(v, z)), argnums=1)(np.array([0.0, 1.0]), z)
    np.testing.assert_allclose(g, [-sp.j1(0.5), 0.5 * (sp.j0(1.5) - sp.jv(2, 1.5))], rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus(dtype):
    x = np.array([-30.0, -1.0, 0.0, 2.0, 40.0], dtype)
    got = _value(sp.softplus, x)
    assert got.dtype == sp.softplus(x).dtype
    np.testing.assert_allclose(got, sp.softplus(x), rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_allclose(td.grad(lambda x: np.sum(sp.softplus(x)))(x), sp.expit(x), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values_keep_scipys_dtype(dtype):
    x = np.linspace(0.5, 2.5, 4).astype(dtype)
    for fun in (lambda x: sp.jv(1.5, x), lambda x: sp.beta(x, 2.0 * x), lambda x: sp.gammainc(1.5, x),
                lambda x: sp.kve(0.5, x), lambda x: sp.multigammaln(x + 2, 3)):
        expected = fun(x)
        got = _value(fun, x)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)


# --- scipy.linalg and scipy.signal: values and generated code -----------------------------------

def _lower_band(a):
    """The diagonal and the first subdiagonal of a 3 x 3 matrix, in SciPy's band storage."""
    return np.stack([np.diagonal(a), np.diagonal(a, -1) @ np.eye(2, 3)])


def test_linalg_values_and_generated_code():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((3, 3))
    a, b = np.tril(m) + 3 * np.eye(3), rng.standard_normal((3, 2))
    calls = {
        "solve_triangular(": lambda a, b: sl.solve_triangular(a, b, lower=True, trans="T"),
        "expm(": lambda a, b: sl.expm(a / 4) @ b,
        "sqrtm(": lambda a, b: sl.sqrtm(a @ a.T) @ b,
        "solve_sylvester(": lambda a, b: sl.solve_sylvester(a, a.T, b @ b.T),
        "solve_banded(": lambda a, b: sl.solve_banded((1, 0), _lower_band(a), b),
    }
    for name, fun in calls.items():
        np.testing.assert_allclose(_value(fun, a, b), fun(a, b), rtol=1e-10, err_msg=name)
        g = td.grad(lambda a, b: np.sum(fun(a, b) ** 2), argnums=(0, 1))
        assert f"scipy.linalg.{name}" in g.source(a, b), name
    np.testing.assert_allclose(_value(lambda m, b: sl.cho_solve(sl.cho_factor(_spd(m)), b), m, b),
                               sl.cho_solve(sl.cho_factor(_spd(m)), b), rtol=1e-10)
    np.testing.assert_allclose(_value(lambda m: sl.cholesky(_spd(m)), m), sl.cholesky(_spd(m)), rtol=1e-12)


def test_linalg_batches_are_refused_clearly():
    with pytest.raises(td.MissingRuleError, match=r"scipy\.linalg\.expm.*2-D"):
        td.grad(lambda a: np.sum(sl.expm(a)))(np.zeros((2, 3, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_values(mode, dtype):
    rng = np.random.default_rng(2)
    for sa, sb in [((6,), (3,)), ((3,), (5,)), ((4, 5), (2, 3))]:
        a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
        for method in ("auto", "direct"):
            expected = ss.convolve(a, b, mode=mode, method=method)
            got = _value(lambda a, b: ss.convolve(a, b, mode=mode, method=method), a, b)
            assert got.dtype == expected.dtype == dtype  # SciPy keeps float32
            np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    g = td.grad(lambda a, b: np.sum(ss.convolve(a, b, mode=mode) ** 2), argnums=(0, 1))
    assert "scipy.signal.convolve(" in g.source(a, b)


# --- scipy.integrate.odeint -------------------------------------------------------------------

def _oscillator(y, t, k, c):
    return np.stack([y[1], -k * y[0] - c * y[1] * y[0] + 0.1 * np.sin(t)])


TIGHT = {"rtol": 1e-11, "atol": 1e-11}  # the gradient is as accurate as the integration


def test_odeint_gradients_against_finite_differences():
    t = np.linspace(0.0, 2.0, 5)
    y0, k, c = np.array([1.0, 0.2]), 1.3, np.array([0.4])

    def solve(y0, k, c):
        return si.odeint(_oscillator, y0, t, args=(k, c[0]), **TIGHT)

    np.testing.assert_array_equal(_value(solve, y0, k, c), solve(y0, k, c))
    # tolerance stated in docs/scipy.md and scipy_integrate.py: 1e-5
    check_grads(solve, y0, k, c, argnums=(0, 1, 2), rtol=1e-5, atol=1e-5)
    g = td.grad(lambda y0, k: np.sum(solve(y0, k, c)[-1] ** 2), argnums=(0, 1))
    assert "scipy.integrate.odeint(" in g.source(y0, k)


def test_odeint_tfirst_and_scalar_state():
    t = np.array([0.0, 0.5, 1.5])

    def decay(t, y, rate):
        return -rate * y

    def solve(y0, rate):
        return si.odeint(decay, y0, t, args=(rate,), tfirst=True, **TIGHT)

    y0, rate = 2.0, np.array(0.7)
    np.testing.assert_allclose(_value(solve, y0, rate)[:, 0], 2.0 * np.exp(-0.7 * t), rtol=1e-8)
    # exact: d y(t) / d rate = -t y(t), d y(t) / d y0 = exp(-rate t)
    g_y0, g_rate = td.grad(lambda y0, rate: np.sum(solve(y0, rate)), argnums=(0, 1))(y0, rate)
    np.testing.assert_allclose(g_y0, np.sum(np.exp(-0.7 * t)), rtol=1e-7)
    np.testing.assert_allclose(g_rate, np.sum(-t * 2.0 * np.exp(-0.7 * t)), rtol=1e-7)


def test_odeint_integer_argument_takes_no_gradient():
    t = np.array([0.0, 1.0])

    def power_decay(y, t, k, n):
        return -k * y ** n

    def final(y0, k):
        return si.odeint(power_decay, y0, t, args=(k, 2), **TIGHT)[-1, 0]

    # exact: y(t) = y0 / (1 + k y0 t)
    g_y0, g_k = td.grad(final, argnums=(0, 1))(np.array([1.0]), 0.5)
    np.testing.assert_allclose(g_y0, [1 / 1.5 ** 2], rtol=1e-8)
    np.testing.assert_allclose(g_k, -1 / 1.5 ** 2, rtol=1e-8)


def test_odeint_limits_raise_clearly():
    t = np.linspace(0.0, 1.0, 3)
    with pytest.raises(td.NonDifferentiableError, match="times t"):
        td.grad(lambda t: np.sum(si.odeint(lambda y, t: -y, 1.0, t)))(t)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        td.hessian(lambda y0: np.sum(si.odeint(lambda y, t: -y * y, y0, t)))(np.array([1.0]))
    with pytest.raises(td.TracerConversionError, match="through args="):  # k captured, not in args
        td.grad(lambda y0, k: np.sum(si.odeint(lambda y, t: -k * y, y0, t)), argnums=(0, 1))(np.ones(1), 1.3)
    with pytest.raises(td.TracerConversionError, match=r"scipy\.integrate\.odeint"):  # y0 not traced
        td.grad(lambda k: np.sum(si.odeint(lambda y, t: -k * y, np.array([1.0]), t)))(1.3)
    with pytest.raises(td.MissingRuleError, match="full_output"):
        td.grad(lambda y0: np.sum(si.odeint(lambda y, t: -y, y0, t, full_output=True)[0]))(np.array([1.0]))


# --- naming the SciPy function a traced value reached --------------------------------------------

class _Spy:
    """Turned into an array by SciPy: records which SciPy function the user called."""

    def __init__(self, seen):
        self.seen = seen

    def __array__(self, dtype=None, copy=None):
        self.seen.append(describe_library_call(sys._getframe(1)))  # from the code converting it
        return np.array(0.5)


def test_describe_library_call():
    seen = []
    st.norm.ppf(_Spy(seen))
    st.norm(0.0, 2.0).ppf(_Spy(seen))  # frozen: named after the distribution too
    st.multivariate_normal(mean=_Spy(seen))
    sl.expm(_Spy(seen))
    assert seen == ["scipy.stats.norm.ppf", "scipy.stats.norm.ppf", "scipy.stats.multivariate_normal",
                    "scipy.linalg.expm"]
    assert describe_library_call() is None  # no SciPy function on the stack
    # a function of the user's that SciPy calls back is the user's code, not SciPy's
    called_back = []
    si.quad(lambda x: called_back.append(describe_library_call()) or x, 0.0, 1.0)
    assert called_back and set(called_back) == {None}


def test_describe_library_call_from_a_traced_value():
    # Tracer.__array__ (when SciPy converts a traced value) can name the function the user called
    import tracediff.tracing as tracing

    seen = []
    own = tracing.Tracer.__array__

    def spying(self, *args, **kwargs):
        seen.append(describe_library_call(sys._getframe(1)))
        return own(self, *args, **kwargs)

    tracing.Tracer.__array__ = spying
    try:
        with pytest.raises(td.TracerConversionError):
            td.grad(lambda a: np.sum(sl.logm(a)))(np.eye(2) * 2.0)
    finally:
        tracing.Tracer.__array__ = own
    assert seen and seen[0] == "scipy.linalg.logm"


# --- the import hook ---------------------------------------------------------------------------

def test_rules_register_when_scipy_is_imported_after_tracediff():
    code = """
import sys
import numpy as np
import tracediff as td
assert not any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules), 'tracediff imported SciPy'
import scipy.stats
import scipy.signal, scipy.integrate
from tracediff.primitives import scipy_hook
assert scipy_hook._hook not in sys.meta_path, 'the hook stays once every module is registered'
assert scipy.linalg.expm.__module__ == 'scipy.linalg._matfuncs' and hasattr(scipy.linalg.expm, '_tracediff_original')
g = td.grad(lambda x: np.sum(scipy.stats.norm.logpdf(x, 1.0, 2.0)))(np.array([0.0, 3.0]))
assert np.allclose(g, [0.25, -0.5]), g
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
