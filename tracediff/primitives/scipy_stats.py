"""SciPy's distributions (``scipy.stats``) on traced values, registered when ``scipy.stats`` is
imported (see :mod:`.scipy_hook`).

``scipy.stats.norm.logpdf(x, loc, scale)``, ``scipy.stats.gamma(a, scale=s).cdf(x)`` and the
like are SciPy code written in Python, which would turn a traced value into a plain array. On
traced arguments (``x``, ``loc``, ``scale`` or a shape parameter, given by position or by name,
also through a frozen distribution) tracediff computes them instead as compositions of NumPy and
``scipy.special`` functions it differentiates: exact formulas, written the numerically stable way
(``norm.logcdf`` is ``log_ndtr``, ``logistic.logpdf`` two ``log_expit``). No new primitive: the
generated code shows the formula. Untraced calls go to SciPy unchanged.

The methods are replaced on SciPy's base classes (``rv_continuous``, ``rv_discrete``,
``rv_generic``, and the multivariate generators and frozen classes), so every distribution
object, frozen or not, goes through them. A method tracediff has no formula for (``norm.ppf``
has one, ``weibull_min.logpdf`` has not) raises :class:`~tracediff.MissingRuleError` naming it.

As in SciPy, results are float64 (float32 inputs are promoted), values outside the support are
``-inf`` (log-densities) or 0 (densities) and cumulative functions are 0 or 1 there. Unlike
SciPy, invalid parameters (``scale <= 0``, a ``dirichlet`` point off the simplex) are not
checked. The cumulative functions of ``t``, ``gamma``, ``beta`` and ``binom`` take no gradient in
their shapes ``df``, ``a``, ``b``, ``n`` (they are incomplete gamma and beta functions): a gradient
asked for those raises ``NonDifferentiableError``. The points ``k`` of a discrete distribution
(and its ``loc``) are integers and must not be traced; its ``mu`` or ``p`` may be.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from ..errors import MissingRuleError, user_location
from ..tracing import Tracer
from .scipy_hook import LIBRARY_FUNCTIONS, original, traced, when_imported

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_LOG_2 = math.log(2.0)


def _sp():
    return sys.modules["scipy.special"]  # imported by scipy.stats itself


def _float(x):
    """``x`` promoted to at least float64, as SciPy's distributions compute."""
    dtype = np.promote_types(np.result_type(x), np.float64)
    if isinstance(x, Tracer):
        return x if x.dtype == dtype else x.astype(dtype)
    return np.asarray(x, dtype=dtype) if np.ndim(x) else dtype.type(x)


# --- continuous distributions: functions of the standardized z = (x - loc) / scale ------------
# name -> (support (lower, upper, an inside point), {method: f(z, *shapes)}); pdf is exp(logpdf)

def _norm_logpdf(z):
    return -0.5 * z * z - _LOG_SQRT_2PI


def _t_logpdf(z, df):
    sp = _sp()
    return (sp.gammaln((df + 1) / 2) - sp.gammaln(df / 2) - 0.5 * np.log(df * math.pi)
            - (df + 1) / 2 * np.log1p(z * z / df))


def _laplace_logcdf(z):  # log(1 - exp(-z) / 2) for z > 0, with z replaced where it is not used
    return np.where(z < 0, z - _LOG_2, np.log1p(-0.5 * np.exp(-np.abs(z))))


def _lognorm_z(z, s):
    return np.log(z) / s


CONTINUOUS = {
    "norm": (None, {
        "logpdf": _norm_logpdf,
        "cdf": lambda z: _sp().ndtr(z), "sf": lambda z: _sp().ndtr(-z),
        "logcdf": lambda z: _sp().log_ndtr(z), "logsf": lambda z: _sp().log_ndtr(-z),
        "ppf": lambda q: _sp().ndtri(q), "isf": lambda q: -_sp().ndtri(q),
    }),
    "t": (None, {
        "logpdf": _t_logpdf,
        "cdf": lambda z, df: _sp().stdtr(df, z), "sf": lambda z, df: _sp().stdtr(df, -z),
        "logcdf": lambda z, df: np.log(_sp().stdtr(df, z)), "logsf": lambda z, df: np.log(_sp().stdtr(df, -z)),
    }),
    "gamma": ((0.0, np.inf, 1.0), {
        "logpdf": lambda z, a: _sp().xlogy(a - 1, z) - z - _sp().gammaln(a),
        "cdf": lambda z, a: _sp().gammainc(a, z), "sf": lambda z, a: _sp().gammaincc(a, z),
        "logcdf": lambda z, a: np.log(_sp().gammainc(a, z)), "logsf": lambda z, a: np.log(_sp().gammaincc(a, z)),
    }),
    "beta": ((0.0, 1.0, 0.5), {
        "logpdf": lambda z, a, b: _sp().xlogy(a - 1, z) + _sp().xlog1py(b - 1, -z) - _sp().betaln(a, b),
        "cdf": lambda z, a, b: _sp().betainc(a, b, z), "sf": lambda z, a, b: _sp().betaincc(a, b, z),
        "logcdf": lambda z, a, b: np.log(_sp().betainc(a, b, z)),
        "logsf": lambda z, a, b: np.log(_sp().betaincc(a, b, z)),
    }),
    "expon": ((0.0, np.inf, 1.0), {
        "logpdf": lambda z: -z, "cdf": lambda z: -np.expm1(-z), "sf": lambda z: np.exp(-z),
        "logcdf": lambda z: np.log(-np.expm1(-z)), "logsf": lambda z: -z,
        "ppf": lambda q: -np.log1p(-q), "isf": lambda q: -np.log(q),
    }),
    "laplace": (None, {
        "logpdf": lambda z: -np.abs(z) - _LOG_2,
        "cdf": lambda z: np.exp(_laplace_logcdf(z)), "sf": lambda z: np.exp(_laplace_logcdf(-z)),
        "logcdf": _laplace_logcdf, "logsf": lambda z: _laplace_logcdf(-z),
    }),
    "cauchy": (None, {
        "logpdf": lambda z: -math.log(math.pi) - np.log1p(z * z),
        "cdf": lambda z: 0.5 + np.arctan(z) / math.pi, "sf": lambda z: 0.5 - np.arctan(z) / math.pi,
        "logcdf": lambda z: np.log(0.5 + np.arctan(z) / math.pi),
        "logsf": lambda z: np.log(0.5 - np.arctan(z) / math.pi),
        "ppf": lambda q: np.tan(math.pi * (q - 0.5)), "isf": lambda q: -np.tan(math.pi * (q - 0.5)),
    }),
    "logistic": (None, {
        "logpdf": lambda z: _sp().log_expit(z) + _sp().log_expit(-z),
        "cdf": lambda z: _sp().expit(z), "sf": lambda z: _sp().expit(-z),
        "logcdf": lambda z: _sp().log_expit(z), "logsf": lambda z: _sp().log_expit(-z),
        "ppf": lambda q: _sp().logit(q), "isf": lambda q: -_sp().logit(q),
    }),
    "uniform": ((0.0, 1.0, 0.5), {
        "logpdf": lambda z: z * 0.0, "cdf": lambda z: z, "sf": lambda z: 1 - z,
        "logcdf": lambda z: np.log(z), "logsf": lambda z: np.log1p(-z),
        "ppf": lambda q: q, "isf": lambda q: 1 - q,
    }),
    "lognorm": ((0.0, np.inf, 1.0), {
        "logpdf": lambda z, s: -np.log(z) - np.log(s) - _LOG_SQRT_2PI - 0.5 * _lognorm_z(z, s) ** 2,
        "cdf": lambda z, s: _sp().ndtr(_lognorm_z(z, s)), "sf": lambda z, s: _sp().ndtr(-_lognorm_z(z, s)),
        "logcdf": lambda z, s: _sp().log_ndtr(_lognorm_z(z, s)),
        "logsf": lambda z, s: _sp().log_ndtr(-_lognorm_z(z, s)),
    }),
}

# --- discrete distributions: functions of k - loc -------------------------------------------
# name -> (support(k, *shapes) -> bool, {method: f(k, *shapes)}); pmf is exp(logpmf). k is data.


def _binom_logpmf(k, n, p):
    sp = _sp()
    return (sp.gammaln(n + 1) - sp.gammaln(k + 1) - sp.gammaln(n - k + 1)
            + sp.xlogy(k, p) + sp.xlog1py(n - k, -p))


def _binom_cdf(k, n, p):  # P(K <= k) for 0 <= k < n: the regularized incomplete beta function
    return _sp().betainc(n - k, k + 1, 1 - p)


def _binom_sf(k, n, p):
    return _sp().betainc(k + 1, n - k, p)


DISCRETE = {
    "poisson": (lambda k, mu: k >= 0, lambda mu: np.inf, {
        "logpmf": lambda k, mu: _sp().xlogy(k, mu) - _sp().gammaln(k + 1) - mu,
        "cdf": lambda k, mu: _sp().gammaincc(k + 1, mu), "sf": lambda k, mu: _sp().gammainc(k + 1, mu),
    }),
    "binom": (lambda k, n, p: (k >= 0) & (k <= n), lambda n, p: n, {
        "logpmf": _binom_logpmf, "cdf": _binom_cdf, "sf": _binom_sf,
    }),
    "bernoulli": (lambda k, p: (k >= 0) & (k <= 1), lambda p: 1, {
        "logpmf": lambda k, p: _binom_logpmf(k, 1, p), "cdf": lambda k, p: _binom_cdf(k, 1, p),
        "sf": lambda k, p: _binom_sf(k, 1, p),
    }),
}


def _missing(name: str, method: str, why: str = "") -> MissingRuleError:
    where = user_location()
    return MissingRuleError(
        f"scipy.stats.{name}.{method} has no gradient rule in tracediff{why}, and received a traced value"
        f"{' at ' + where if where else ''}. Write it with NumPy and scipy.special functions, give it a "
        "rule with td.custom_vjp (or td.primitive + td.defvjp), or pass td.stop_gradient(x) if no "
        "gradient should flow through it"
    )


def _parsed(dist, x, args, kwds):
    """x, the shape parameters, loc and scale, as SciPy reads them, in float64 or wider."""
    shapes, loc, scale = dist._parse_args(*args, **kwds)
    return _float(x), [_float(s) for s in shapes], _float(loc), _float(scale)


def _shift(x, loc):
    return x if _trivial(loc, 0) else x - loc


def _trivial(value, neutral) -> bool:
    return not isinstance(value, Tracer) and bool(np.all(value == neutral))


def _rescale(x, scale):
    return x if _trivial(scale, 1) else x / scale


def _unstandardize(z, loc, scale):
    """loc + scale * z, leaving out what does nothing."""
    z = z if _trivial(scale, 1) else z * scale
    return z if _trivial(loc, 0) else z + loc


def _continuous(dist, method, x, args, kwds):
    support, formulas = CONTINUOUS[dist.name]
    x, shapes, loc, scale = _parsed(dist, x, args, kwds)
    if method in ("ppf", "isf"):  # x is a probability
        inside = (x >= 0) & (x <= 1)
        value = formulas[method](np.where(inside, x, 0.5), *shapes)
        return np.where(inside, _unstandardize(value, loc, scale), np.nan)
    z = _rescale(_shift(x, loc), scale)
    base = "logpdf" if method == "pdf" else method
    if support is None:
        value = formulas[base](z, *shapes)
    else:
        lower, upper, inside_point = support
        below, above = z < lower, z > upper
        safe = np.where(below | above, inside_point, z)  # no NaN where the branch is not taken
        outside = {"logpdf": (-np.inf, -np.inf), "cdf": (0.0, 1.0), "sf": (1.0, 0.0),
                   "logcdf": (-np.inf, 0.0), "logsf": (0.0, -np.inf)}[base]
        value = np.where(below, outside[0], np.where(above, outside[1], formulas[base](safe, *shapes)))
    if base == "logpdf" and not _trivial(scale, 1):
        value = value - np.log(scale)
    return np.exp(value) if method == "pdf" else value


def _discrete(dist, method, k, args, kwds):
    support, upper, formulas = DISCRETE[dist.name]
    k, shapes, loc, _ = _parsed(dist, k, args, kwds)
    if isinstance(k, Tracer) or isinstance(loc, Tracer):
        raise _missing(dist.name, method, " for a traced k or loc (they are integers)")
    k = k - loc
    if method in ("pmf", "logpmf"):
        inside = support(k, *shapes) & (k == np.floor(k))
        value = np.where(inside, formulas["logpmf"](np.where(inside, k, 0.0), *shapes), -np.inf)
        return np.exp(value) if method == "pmf" else value
    k = np.floor(k)
    base = method[3:] if method.startswith("log") else method
    top = upper(*shapes)
    below, above = k < 0, k >= top  # past the last point: cdf 1, sf 0
    if isinstance(above, Tracer):
        raise _missing(dist.name, method, " for a traced n")
    safe = np.where(below | above, 0.0, k)
    outside = {"cdf": (0.0, 1.0), "sf": (1.0, 0.0)}[base]
    value = np.where(below, outside[0], np.where(above, outside[1], formulas[base](safe, *shapes)))
    return np.log(value) if method.startswith("log") else value


# --- multivariate: multivariate_normal, dirichlet ---------------------------------------------

def _mvn_logpdf(x, mean=None, cov=1, allow_singular=False):
    if allow_singular:
        raise _missing("multivariate_normal", "logpdf", " with allow_singular=True")
    # SciPy's reading of the arguments: the dimension from mean, else from cov; scalar and
    # diagonal (1-D) covariances; a 1-D x is one point, or points of dimension 1
    dim = np.size(mean) if mean is not None else (np.shape(cov)[0] if np.ndim(cov) == 2 else 1)
    mean = np.zeros(dim) if mean is None else np.reshape(_float(mean), (dim,))
    cov = _float(cov)
    if np.ndim(cov) < 2:
        cov = cov * np.eye(dim)
    x = _float(x)
    if np.ndim(x) == 0:
        x = np.reshape(x, (1, 1) if dim == 1 else (1,))
    elif np.ndim(x) == 1:
        x = np.reshape(x, (-1, 1) if dim == 1 else (1, -1))
    lower = np.linalg.cholesky(cov)  # reads the lower triangle of cov, as SciPy's eigh does
    d = np.reshape(x - mean, (-1, dim))
    w = np.linalg.solve(lower, d.T)  # L^-1 (x - mean), one column per point
    maha = np.reshape(np.sum(w * w, axis=0), np.shape(x)[:-1])
    log_det = 2 * np.sum(np.log(np.diagonal(lower)))
    return np.squeeze(-0.5 * (maha + dim * math.log(2 * math.pi) + log_det))


def _dirichlet_logpdf(x, alpha):
    sp = _sp()
    x, alpha = _float(x), _float(alpha)
    if np.ndim(alpha) != 1:
        raise ValueError("scipy.stats.dirichlet: alpha must be one-dimensional")
    if np.shape(x)[0] == np.shape(alpha)[0] - 1:  # SciPy completes the last coordinate
        x = np.concatenate([x, 1 - np.sum(x, axis=0, keepdims=True)], axis=0)
    a = np.reshape(alpha, np.shape(alpha) + (1,) * (np.ndim(x) - 1))
    return np.sum(sp.xlogy(a - 1, x), axis=0) - (np.sum(sp.gammaln(alpha)) - sp.gammaln(np.sum(alpha)))


MULTIVARIATE = {
    "multivariate_normal": (_mvn_logpdf, ("mean", "cov", "allow_singular")),
    "dirichlet": (_dirichlet_logpdf, ("alpha",)),
}


class FrozenMultivariate:
    """A multivariate distribution frozen with traced parameters (SciPy's frozen classes
    factorize the parameters when they are made, which a traced value cannot go through)."""

    def __init__(self, name: str, params: dict):
        self.name, self.params = name, params

    def logpdf(self, x):
        return MULTIVARIATE[self.name][0](x, **self.params)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def __getattr__(self, method):
        raise _missing(self.name, method, " for traced parameters")


def _multivariate(name, method, args, kwds):
    logpdf, names = MULTIVARIATE[name]
    if method == "__call__":
        params = dict(zip(names, args), **{k: v for k, v in kwds.items() if k != "seed"})
        return FrozenMultivariate(name, params)
    if method not in ("logpdf", "pdf"):
        raise _missing(name, method)
    value = logpdf(*args, **kwds)
    return np.exp(value) if method == "pdf" else value


def _frozen_params(name, frozen) -> dict:
    if name == "multivariate_normal":
        return {"mean": frozen.mean, "cov": frozen.cov_object.covariance}
    return {"alpha": frozen.alpha}


# --- installing the wrappers ------------------------------------------------------------------

_METHODS = ("pdf", "logpdf", "pmf", "logpmf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf")
_UNSUPPORTED = ("rvs", "stats", "entropy", "moment", "median", "mean", "var", "std", "interval",
                "expect", "fit", "nnlf")


def _traced_call(dist, method, args, kwds):
    name = dist.name
    if method in _METHODS and name in CONTINUOUS and (method in CONTINUOUS[name][1] or method == "pdf"):
        return _continuous(dist, method, args[0], args[1:], kwds)
    if method in _METHODS and name in DISCRETE and (method in ("pmf", "logpmf") or method.replace("log", "")
                                                     in DISCRETE[name][2]):
        return _discrete(dist, method, args[0], args[1:], kwds)
    raise _missing(name, method)


def _method(cls, method, handler):
    own = original(cls.__dict__[method])

    def function(self, *args, **kwds):
        if traced(args, kwds):
            return handler(self, method, args, kwds)
        return own(self, *args, **kwds)

    function.__name__, function.__qualname__, function.__doc__ = own.__name__, own.__qualname__, own.__doc__
    function._tracediff_original = own
    setattr(cls, method, function)


_CAVEATS = {  # (name, method) -> caveat on the coverage page
    **{("t", m): "no gradient flows to df" for m in ("cdf", "logcdf", "sf", "logsf")},
    **{("gamma", m): "no gradient flows to a" for m in ("cdf", "logcdf", "sf", "logsf")},
    **{("beta", m): "no gradient flows to a and b" for m in ("cdf", "logcdf", "sf", "logsf")},
    **{(n, m): "k and loc must not be traced (they are integers)" for n in DISCRETE
       for m in ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf")},
    **{("binom", m): "no gradient flows to n; k and loc must not be traced" for m in ("cdf", "logcdf", "sf", "logsf")},
    ("laplace", "logpdf"): "at x == loc (a kink) the derivative taken is 0",
    ("laplace", "pdf"): "at x == loc (a kink) the derivative taken is 0",
    **{("multivariate_normal", m): "cov symmetric positive definite (allow_singular=False); the gradient for "
                                   "cov is on its lower triangle, the one SciPy reads" for m in ("logpdf", "pdf")},
    **{("dirichlet", m): "x is not checked to lie in the simplex" for m in ("logpdf", "pdf")},
}


def _listed(name: str, method: str) -> None:
    """List ``scipy.stats.<name>.<method>`` on the coverage page."""
    def entry(*args, **kwds):
        return getattr(sys.modules["scipy.stats"], name).__getattribute__(method)(*args, **kwds)

    entry.differentiable = True
    entry.complex_values = "real only"
    entry.caveat = _CAVEATS.get((name, method))
    LIBRARY_FUNCTIONS[f"scipy.stats.{name}.{method}"] = entry


def register(stats) -> None:
    """Install the wrappers on ``scipy.stats``'s distribution classes."""
    infrastructure = sys.modules["scipy.stats._distn_infrastructure"]
    multivariate = sys.modules["scipy.stats._multivariate"]
    for cls in (infrastructure.rv_continuous, infrastructure.rv_discrete, infrastructure.rv_generic):
        for method in _METHODS + _UNSUPPORTED:
            if method in cls.__dict__:
                _method(cls, method, _traced_call)
    for name, (_, names) in MULTIVARIATE.items():
        gen = type(getattr(stats, name))
        for method in ("__call__", "logpdf", "pdf", "cdf", "logcdf", "rvs", "entropy"):
            if method in gen.__dict__:
                _method(gen, method, lambda self, method, args, kwds, name=name: _multivariate(
                    name, method, args, kwds))
        frozen = getattr(multivariate, f"{name}_frozen")
        for method in ("logpdf", "pdf"):
            _method(frozen, method, lambda self, method, args, kwds, name=name: _multivariate(
                name, method, args, {**_frozen_params(name, self), **kwds}))
    for name, (_, formulas) in CONTINUOUS.items():
        for method in sorted({"pdf", *formulas}):
            _listed(name, method)
    for name, (_, _, formulas) in DISCRETE.items():
        for method in sorted({"pmf", "logpmf", *formulas, *(f"log{m}" for m in formulas if m != "logpmf")}):
            _listed(name, method)
    for name in MULTIVARIATE:
        for method in ("logpdf", "pdf"):
            _listed(name, method)


when_imported("scipy.stats", register)
