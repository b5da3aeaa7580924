"""User-style statistics code differentiated unchanged (likelihoods, normalizations, softmax
losses, robust losses), checked against finite differences; the documented conventions at ties,
zeros and NaNs checked exactly; and how SciPy's rules get registered."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

try:
    import scipy.special as sp
except ImportError:  # SciPy is optional: the tests that use it are skipped
    sp = None
else:
    log_softmax, logsumexp, gammaln, expit, xlogy = sp.log_softmax, sp.logsumexp, sp.gammaln, sp.expit, sp.xlogy
needs_scipy = pytest.mark.skipif(sp is None, reason="SciPy is not installed")
SCIPY_CORPUS = {"softmax_cross_entropy", "logistic_loss", "student_t_nll", "mixture_nll"}

RNG = np.random.default_rng(42)
X = RNG.standard_normal((6, 3))
Y = np.array([0, 2, 1, 1, 0, 2])
T = RNG.standard_normal(6)


# --- the corpus -------------------------------------------------------------------------------

def gaussian_nll(mu, log_sigma, x):
    """Negative log-likelihood of iid Gaussian data."""
    sigma = np.exp(log_sigma)
    return np.sum(0.5 * ((x - mu) / sigma) ** 2 + log_sigma + 0.5 * np.log(2 * np.pi))


def profile_gaussian_loglik(w, x, t):
    """Regression log-likelihood with the noise variance profiled out: var of the residuals."""
    r = t - x @ w
    n = r.shape[0]
    return -0.5 * n * (np.log(2 * np.pi * np.var(r)) + 1)


def standardized_skewness(x):
    """Columns standardized with std(ddof=1), then the third moment."""
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    return np.mean(z ** 3, axis=0)


def batch_norm(x, gamma, beta, eps=1e-5):
    mean = np.mean(x, axis=0, keepdims=True)
    var = np.var(x, axis=0, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def softmax_cross_entropy(w, x, y):
    """Multinomial logistic regression through scipy.special.log_softmax."""
    logp = log_softmax(x @ w, axis=1)
    return -np.mean(logp[np.arange(len(y)), y])


def logistic_loss(w, x, t):
    """Binary cross-entropy written with expit and xlogy, as statistics code does."""
    p = expit(x @ w)
    y = (t > 0).astype(float)
    return -np.mean(xlogy(y, p) + xlogy(1 - y, 1 - p))


def student_t_nll(mu, log_scale, log_nu, x):
    """Student-t negative log-likelihood: gammaln (digamma in its gradient) in the degrees of freedom."""
    nu, scale = np.exp(log_nu), np.exp(log_scale)
    z = (x - mu) / scale
    return -np.sum(gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - log_scale
                   - (nu + 1) / 2 * np.log1p(z ** 2 / nu))


def mixture_nll(logits, means, log_sd, x):
    """Gaussian mixture: log-weights by log_softmax, the sum over components by logsumexp."""
    log_w = log_softmax(logits)
    sd = np.exp(log_sd)
    comp = -0.5 * ((x[:, None] - means) / sd) ** 2 - log_sd - 0.5 * np.log(2 * np.pi)
    return -np.sum(logsumexp(log_w + comp, axis=1))


def stable_logsumexp_by_hand(x):
    m = np.max(x, axis=-1, keepdims=True)
    return np.sum(np.squeeze(m, -1) + np.log(np.sum(np.exp(x - m), axis=-1)))


def winsorized_huber(r, delta=0.7):
    """Huber loss of residuals clipped to [-2, 2]."""
    r = np.clip(r, -2.0, 2.0)
    a = np.abs(r)
    return np.sum(np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta)))


def geometric_mean(x):
    return np.prod(x, axis=0) ** (1.0 / x.shape[0])


def log_wealth(returns):
    """Compounded wealth path; the log of its final value and the running log-sum agree."""
    wealth = np.cumprod(1 + returns)
    return np.log(wealth[-1]) + np.sum(np.cumsum(np.log1p(returns)))


def nan_aware_zscores(x):
    """Missing values as NaN: statistics that ignore them. The entries are masked before any
    arithmetic: 0 * NaN is NaN, so a NaN that reaches an operation poisons the gradients of
    everything it is combined with (in every reverse-mode system), even under np.nansum."""
    m = np.nanmean(x, axis=0)
    s = np.nanstd(x, axis=0)
    missing = np.isnan(x)
    z = np.where(missing, 0.0, (np.where(missing, 0.0, x) - m) / s)
    return np.sum(z ** 2) + np.nanmax(x) - np.nanmin(x)


def coefficient_of_variation(x, w):
    """Weighted mean by np.average, spread by np.ptp and np.linalg.norm."""
    mean = np.average(x, axis=0, weights=w)
    return np.sum(np.linalg.norm(x - mean, axis=0) / np.abs(mean) + np.ptp(x, axis=0))


def rbf_energy(points):
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    return np.sum(np.exp(-d ** 2)) + np.sum(np.arctan2(points[:, 1], points[:, 0]) ** 2)


CORPUS = {
    # 0-d arrays rather than Python floats: finite differences then perturb them in float64 (a Python
    # float met by float32 data computes in float32, where a 1e-6 step is rounding noise)
    "gaussian_nll": (gaussian_nll, (np.array(0.3), np.array(-0.2), T), (0, 1)),
    "profile_gaussian_loglik": (profile_gaussian_loglik, (RNG.standard_normal(3), X, T), (0,)),
    "standardized_skewness": (lambda x: np.sum(standardized_skewness(x)), (X,), (0,)),
    "batch_norm": (lambda x, g, b: np.sum(np.sin(batch_norm(x, g, b))), (X, RNG.standard_normal(3) + 1.0,
                                                                          RNG.standard_normal(3)), (0, 1, 2)),
    "softmax_cross_entropy": (softmax_cross_entropy, (RNG.standard_normal((3, 3)), X, Y), (0,)),
    "logistic_loss": (logistic_loss, (RNG.standard_normal(3), X, T), (0,)),
    "student_t_nll": (student_t_nll, (np.array(0.1), np.array(-0.3), np.array(1.2), T), (0, 1, 2)),
    "mixture_nll": (mixture_nll, (RNG.standard_normal(2), np.array([-1.0, 1.0]), np.array([0.1, -0.2]), T),
                    (0, 1, 2)),
    "stable_logsumexp_by_hand": (stable_logsumexp_by_hand, (X,), (0,)),
    "winsorized_huber": (winsorized_huber, (np.array([-2.5, -1.1, -0.3, 0.2, 0.9, 3.0]),), (0,)),
    "geometric_mean": (lambda x: np.sum(geometric_mean(x)), (np.abs(X) + 0.5,), (0,)),
    "log_wealth": (log_wealth, (0.05 * T,), (0,)),
    "nan_aware_zscores": (nan_aware_zscores, (np.where(np.abs(X) > 1.2, np.nan, X),), (0,)),
    "coefficient_of_variation": (coefficient_of_variation, (X + 3.0, np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])), (0, 1)),
    "rbf_energy": (rbf_energy, (X[:4, :2],), (0,)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", [pytest.param(n, marks=needs_scipy) if n in SCIPY_CORPUS else n for n in CORPUS])
def test_corpus(name, dtype):
    fun, args, argnums = CORPUS[name]
    args = tuple(a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args)
    check_grads(fun, *args, argnums=argnums)
    grads = td.grad(fun, argnums=argnums)(*args)
    for n, g in zip(argnums, grads):
        assert np.result_type(g) == np.result_type(args[n]), name


@needs_scipy
def test_hessian_vector_product_of_a_log_likelihood():
    # Second order through var, log_softmax and logsumexp: the gradient of a gradient.
    def loss(w):
        return softmax_cross_entropy(w, X, Y) + 0.1 * np.var(w) + logsumexp(w)

    v = RNG.standard_normal((3, 3))
    grad = td.grad(loss)
    check_grads(lambda w: np.sum(grad(w) * v), RNG.standard_normal((3, 3)))


@needs_scipy
def test_generated_code_calls_scipy():
    f = td.grad(softmax_cross_entropy)
    w = RNG.standard_normal((3, 3))
    f(w, X, Y)
    source = f.source(w, X, Y)
    assert "scipy.special.log_softmax(" in source and "import scipy" in source


# --- conventions, exactly ----------------------------------------------------------------------

def test_ties_split_evenly_in_ptp_and_clip():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(td.grad(lambda x: np.sum(np.ptp(x, axis=1)))(x),
                                  [[0.0, 0.5, 0.5, -1.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(td.grad(lambda x: np.amax(x))(x), [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])
    # clip at its bounds: half to x, half to the bound, as np.minimum(np.maximum(x, lo), hi)
    x, lo, hi = np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), np.array(0.0), np.array(1.0)
    gx, glo, ghi = td.grad(lambda x, lo, hi: np.sum(np.clip(x, lo, hi)), argnums=(0, 1, 2))(x, lo, hi)
    np.testing.assert_array_equal(gx, [0.0, 0.5, 1.0, 0.5, 0.0])
    assert (glo, ghi) == (1.5, 1.5)


def test_median_splits_between_the_middle_entries_and_ties():
    np.testing.assert_array_equal(td.grad(lambda x: np.median(x))(np.array([4.0, 1.0, 3.0, 2.0])),
                                  [0.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(td.grad(lambda x: np.median(x))(np.array([1.0, 3.0, 3.0, 5.0, 0.0])),
                                  [0.0, 0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(td.grad(lambda x: np.percentile(x, 25))(np.array([4.0, 1.0, 3.0, 2.0, 0.0])),
                               [0.0, 1.0, 0.0, 0.0, 0.0])


def test_prod_and_cumprod_with_zeros_are_exact():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    np.testing.assert_array_equal(td.grad(lambda x: np.sum(np.prod(x, axis=1)))(x),
                                  [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])
    c = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    # d/dc_j sum_i cumprod(c)_i: only the prefix products up to the second zero survive
    np.testing.assert_array_equal(td.grad(lambda c: np.sum(np.cumprod(c)))(c), [1.0, 8.0, 0.0, 0.0, 0.0])


def test_nan_entries_get_no_gradient():
    x = np.array([1.0, np.nan, 3.0, np.nan])
    for f in (np.nansum, np.nanmean, np.nanmax, np.nanvar, np.nanprod):
        g = td.grad(lambda x: f(x))(x)
        assert np.all(g[[1, 3]] == 0) and np.all(np.isfinite(g)), f.__name__
    with pytest.warns(RuntimeWarning, match="All-NaN"):  # NumPy's own warning, as without tracediff
        assert np.isnan(np.nanmax(np.full(3, np.nan))) and np.isnan(
            td.value_and_grad(lambda x: np.nanmax(x))(np.full(3, np.nan))[0])


@needs_scipy
def test_points_that_are_not_differentiable():
    # The 2-norm at 0 and xlogy at x == 0 give the documented finite values.
    np.testing.assert_array_equal(td.grad(lambda x: np.linalg.norm(x))(np.zeros(3)), np.zeros(3))
    gx, gy = td.grad(lambda x, y: np.sum(xlogy(x, y)), argnums=(0, 1))(np.array([0.0, 2.0]), np.array([0.0, 4.0]))
    np.testing.assert_array_equal(gy, [0.0, 0.5])
    assert gx[1] == np.log(4.0)


def test_non_differentiable_functions_run_in_traced_code():
    def f(x):
        k = np.floor(x) + np.ceil(x) + np.trunc(x) + np.rint(x) + np.round(x, 1) + np.sign(x)
        ok = np.isfinite(x) & ~np.isnan(x) & np.logical_not(np.isinf(x)) & (x > -5) & np.signbit(-x)
        return np.sum(np.where(ok, x * k, 0.0)) + np.sum(np.heaviside(x, 0.5)) + np.sum(np.angle(x))

    x = np.array([0.3, 1.7, 2.2])
    k = np.floor(x) + np.ceil(x) + np.trunc(x) + np.rint(x) + np.round(x, 1) + np.sign(x)
    np.testing.assert_allclose(td.grad(f)(x), k)


# --- SciPy registration: tracediff never imports SciPy ----------------------------------------

def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@needs_scipy
def test_scipy_is_registered_when_imported_in_either_order():
    check = """
        import numpy as np
        g = td.grad(lambda x: np.sum(sp.expit(x)) + sp.logsumexp(x))(np.zeros(2))
        print(np.allclose(g, 0.25 + 0.5))
    """
    assert _run("import sys, tracediff as td\nassert 'scipy' not in sys.modules\n"
                "import importlib.util; importlib.util.find_spec('scipy.special')\n"  # a look is no import
                "import scipy.special as sp" + textwrap.dedent(check)) == "True"
    assert _run("import scipy.special as sp\nimport tracediff as td" + textwrap.dedent(check)) == "True"


@needs_scipy
def test_scipy_functions_are_unchanged_on_plain_values():
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert sp.logsumexp.__wrapped__(x, axis=0) == pytest.approx(sp.logsumexp(x, axis=0))
    sign = sp.logsumexp(x, b=np.array([1.0, -1.0]), axis=-1, return_sign=True)[1]
    np.testing.assert_array_equal(sign, [-1.0, -1.0])
    import pickle
    assert pickle.loads(pickle.dumps(sp.softmax)) is sp.softmax
