"""SciPy's special functions (``scipy.special``), registered when SciPy is imported.

SciPy is optional and tracediff never imports it: :mod:`.scipy_hook` registers these rules the
moment ``scipy.special`` is imported, by whoever imports it (see there for how).

SciPy's ufuncs (``expit``, ``erf``, ``jv``, ...) reach tracediff through NumPy's
``__array_ufunc__`` protocol however they were imported. The functions that are *not* ufuncs
(``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma``, ``multigammaln``) never see a traced
value through NumPy's dispatch, so tracediff replaces them in ``scipy.special`` with a wrapper that
calls its handler when an argument is traced and SciPy's function otherwise (``scipy_hook.install``).

Some arguments take no gradient: the order of a Bessel function, the parameters of the
incomplete gamma and beta functions (their derivatives there are series). Differentiating with
respect to one raises :class:`~tracediff.NonDifferentiableError` when the function is called,
never a silent zero.

Generated code calls ``scipy.special.<name>``: each primitive here carries ``namespace =
{"scipy": scipy}``, which codegen adds to the generated module.
"""
from __future__ import annotations

import ast
import math

import numpy as np

from ..errors import NonDifferentiableError, user_location
from ..tracing import Tracer
from .core import REGISTRY, UFUNCS, Primitive, call, defvjp, is_complex, py_literal, takes_complex
from .reductions import normalize_axis
from .scipy_hook import install, when_imported

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)

registered = False  # True once scipy.special's rules are in the registries


def _attr(path: str) -> ast.expr:
    """``scipy.special.expit`` as an expression."""
    parts = path.split(".")
    node: ast.expr = ast.Name(id=parts[0])
    for part in parts[1:]:
        node = ast.Attribute(value=node, attr=part)
    return node


def _emit(name: str, *, positional_params=()):
    def emit(args, **params):
        first = [py_literal(params.pop(p)) for p in positional_params]
        return call(_attr(f"scipy.special.{name}"), first + list(args), params)
    return emit


def _axis_param(axis):
    return None if axis is None else (axis[0] if len(axis) == 1 else axis)


def _keep(v, shape, axis, keepdims):
    """``v`` with the reduced axes of an array of ``shape`` kept as size 1."""
    if keepdims or not np.ndim(v):
        return v
    axes = range(len(shape)) if axis is None else axis
    return np.reshape(v, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _safe_ratio(x, y):
    """x / y, and 0 where x is 0 (whatever y is): the y-derivative of x * log(y) at x == 0."""
    return np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, y))


_ORDER = "no gradient flows to the order v: a gradient asked for it raises NonDifferentiableError"
_NO_PARAMETER = ("the gradient is exact in x; none flows to the parameters (a gradient asked for them raises "
                 "NonDifferentiableError)")

# name -> (positions of the arguments that take no gradient, their names)
_CONSTANT_ARGUMENTS = {
    "iv": ((0,), "the order v"), "jv": ((0,), "the order v"), "yv": ((0,), "the order v"),
    "yn": ((0,), "the order n"), "kv": ((0,), "the order v"), "ive": ((0,), "the order v"),
    "kve": ((0,), "the order v"), "gammainc": ((0,), "the parameter a"), "gammaincc": ((0,), "the parameter a"),
    "betainc": ((0, 1), "the parameters a and b"), "betaincc": ((0, 1), "the parameters a and b"),
    "stdtr": ((0,), "the degrees of freedom df"),
}


# name -> (rules(sp), test domain, caveat). ``sp`` is the scipy.special module; each rule is
# ``rule(g, ans, *args)`` like every rule in tracediff, built when SciPy is there.
UFUNC_RULES = {
    "expit": (lambda sp: (lambda g, ans, x: g * ans * (1 - ans),), (-3.0, 3.0), None),
    "logit": (lambda sp: (lambda g, ans, x: g / (x * (1 - x)),), (0.05, 0.95), None),
    "erf": (lambda sp: (lambda g, ans, x: g * (2 / _SQRT_PI) * np.exp(-x ** 2),), (-2.0, 2.0), None),
    "erfc": (lambda sp: (lambda g, ans, x: g * (-2 / _SQRT_PI) * np.exp(-x ** 2),), (-2.0, 2.0), None),
    "erfinv": (lambda sp: (lambda g, ans, x: g * (_SQRT_PI / 2) * np.exp(ans ** 2),), (-0.9, 0.9), None),
    "erfcx": (lambda sp: (lambda g, ans, x: g * (2 * x * ans - 2 / _SQRT_PI),), (-1.0, 2.0), None),
    "ndtr": (lambda sp: (lambda g, ans, x: g * np.exp(-0.5 * x ** 2) / _SQRT_2PI,), (-2.0, 2.0), None),
    # phi(x) / Phi(x) as exp(-x^2/2 - log Phi(x)): no overflow far in the left tail
    "log_ndtr": (lambda sp: (lambda g, ans, x: g * np.exp(-0.5 * x ** 2 - ans) / _SQRT_2PI,), (-3.0, 3.0), None),
    "ndtri": (lambda sp: (lambda g, ans, x: g * _SQRT_2PI * np.exp(0.5 * ans ** 2),), (0.05, 0.95), None),
    "gamma": (lambda sp: (lambda g, ans, x: g * ans * sp.digamma(x),), (0.5, 3.0), None),
    "gammaln": (lambda sp: (lambda g, ans, x: g * sp.digamma(x),), (0.2, 4.0), None),
    "psi": (lambda sp: (lambda g, ans, x: g * _polygamma_p.bind(x, n=1),), (0.2, 4.0), None),
    "xlogy": (lambda sp: (lambda g, ans, x, y: sp.xlogy(g, y), lambda g, ans, x, y: g * _safe_ratio(x, y)),
              (0.2, 2.0), "0 * log(0) is 0; the y-gradient is taken as 0 where x == 0"),
    "xlog1py": (lambda sp: (lambda g, ans, x, y: sp.xlog1py(g, y), lambda g, ans, x, y: g * _safe_ratio(x, 1 + y)),
                (-0.5, 2.0), "the y-gradient is taken as 0 where x == 0"),
    "i0": (lambda sp: (lambda g, ans, x: g * sp.i1(x),), (-2.0, 2.0), None),
    # scipy's iv(2, x) is NaN for subnormal x, where i2(x) ~ x**2 / 8 underflows to 0
    "i1": (lambda sp: (lambda g, ans, x: g * 0.5 * (sp.i0(x) + np.nan_to_num(sp.iv(2, x))),), (-2.0, 2.0), None),
    # Bessel functions: the derivative in z by the recurrences (DLMF 10.6.1, 10.29.1); the order v
    # takes no gradient (a gradient asked for there is an error, see _CONSTANT_ARGUMENTS)
    "iv": (lambda sp: (None, lambda g, ans, v, z: g * 0.5 * (sp.iv(v - 1, z) + sp.iv(v + 1, z))), (0.5, 2.0),
           _ORDER),
    "jv": (lambda sp: (None, lambda g, ans, v, z: g * 0.5 * (sp.jv(v - 1, z) - sp.jv(v + 1, z))), (0.5, 3.0),
           _ORDER),
    "yv": (lambda sp: (None, lambda g, ans, v, z: g * 0.5 * (sp.yv(v - 1, z) - sp.yv(v + 1, z))), (0.5, 3.0),
           _ORDER),
    # (SciPy truncates a float order towards 0: the neighbours of 0.7 are -1 and 1)
    "yn": (lambda sp: (None, lambda g, ans, n, z: g * 0.5 * (sp.yn(np.trunc(n) - 1, z) - sp.yn(np.trunc(n) + 1, z))),
           (0.5, 3.0),
           "no gradient flows to the integer order n: a gradient asked for it raises NonDifferentiableError"),
    "kv": (lambda sp: (None, lambda g, ans, v, z: g * -0.5 * (sp.kv(v - 1, z) + sp.kv(v + 1, z))), (0.5, 3.0),
           _ORDER),
    # the scaled ones: ive = iv * exp(-|z|), kve = kv * exp(z)
    "ive": (lambda sp: (None, lambda g, ans, v, z: g * (0.5 * (sp.ive(v - 1, z) + sp.ive(v + 1, z))
                                                        - np.sign(z) * ans)), (0.5, 3.0), _ORDER),
    "kve": (lambda sp: (None, lambda g, ans, v, z: g * (ans - 0.5 * (sp.kve(v - 1, z) + sp.kve(v + 1, z)))),
            (0.5, 3.0), _ORDER),
    "j0": (lambda sp: (lambda g, ans, x: -g * sp.j1(x),), (-3.0, 3.0), None),
    "j1": (lambda sp: (lambda g, ans, x: g * 0.5 * (sp.j0(x) - sp.jv(2, x)),), (-3.0, 3.0), None),
    "y0": (lambda sp: (lambda g, ans, x: -g * sp.y1(x),), (0.5, 3.0), None),
    "y1": (lambda sp: (lambda g, ans, x: g * 0.5 * (sp.y0(x) - sp.yv(2, x)),), (0.5, 3.0), None),
    "k0": (lambda sp: (lambda g, ans, x: -g * sp.k1(x),), (0.5, 3.0), None),
    "k1": (lambda sp: (lambda g, ans, x: g * -0.5 * (sp.k0(x) + sp.kv(2, x)),), (0.5, 3.0), None),
    "i0e": (lambda sp: (lambda g, ans, x: g * (sp.i1e(x) - np.sign(x) * ans),), (0.2, 2.0),
            "not differentiable at 0 (a kink of exp(-|x|)): the rule takes np.sign(0) = 0 there, the average "
            "of the two sides"),
    "i1e": (lambda sp: (lambda g, ans, x: g * (0.5 * (sp.i0e(x) + np.nan_to_num(sp.ive(2, x))) - np.sign(x) * ans),),
            (0.2, 2.0), "its second derivative jumps at 0 (a kink of exp(-|x|) times i1(0) = 0)"),
    "k0e": (lambda sp: (lambda g, ans, x: g * (ans - sp.k1e(x)),), (0.5, 3.0), None),
    "k1e": (lambda sp: (lambda g, ans, x: g * (ans - 0.5 * (sp.k0e(x) + sp.kve(2, x))),), (0.5, 3.0), None),
    # gamma and beta functions
    "loggamma": (lambda sp: (lambda g, ans, x: g * sp.digamma(x),), (0.2, 4.0), "real arguments only"),
    "rgamma": (lambda sp: (lambda g, ans, x: -g * ans * sp.digamma(x),), (0.5, 3.0), None),
    "beta": (lambda sp: (lambda g, ans, a, b: g * ans * (sp.digamma(a) - sp.digamma(a + b)),
                         lambda g, ans, a, b: g * ans * (sp.digamma(b) - sp.digamma(a + b))), (0.5, 3.0), None),
    "betaln": (lambda sp: (lambda g, ans, a, b: g * (sp.digamma(a) - sp.digamma(a + b)),
                           lambda g, ans, a, b: g * (sp.digamma(b) - sp.digamma(a + b))), (0.5, 3.0), None),
    # the regularized incomplete gamma and beta functions: exact in x (the integrand); the
    # parameters take no gradient (the derivatives in them are series tracediff does not compute)
    "gammainc": (lambda sp: (None, lambda g, ans, a, x: g * _gamma_density(sp, a, x)), (0.5, 3.0), _NO_PARAMETER),
    "gammaincc": (lambda sp: (None, lambda g, ans, a, x: -g * _gamma_density(sp, a, x)), (0.5, 3.0), _NO_PARAMETER),
    "betainc": (lambda sp: (None, None, lambda g, ans, a, b, x: g * np.exp(
        sp.xlogy(a - 1, x) + sp.xlog1py(b - 1, -x) - sp.betaln(a, b))), (0.1, 0.9), _NO_PARAMETER),
    "betaincc": (lambda sp: (None, None, lambda g, ans, a, b, x: -g * np.exp(
        sp.xlogy(a - 1, x) + sp.xlog1py(b - 1, -x) - sp.betaln(a, b))), (0.1, 0.9), _NO_PARAMETER),
    # Student's t cumulative distribution stdtr(df, t): its density in t
    "stdtr": (lambda sp: (None, lambda g, ans, df, t: g * np.exp(
        sp.gammaln((df + 1) / 2) - sp.gammaln(df / 2) - 0.5 * np.log(df * np.pi)
        - (df + 1) / 2 * np.log1p(t * t / df))), (0.5, 3.0), "no gradient flows to the degrees of freedom df"),
    "erfcinv": (lambda sp: (lambda g, ans, x: g * (-_SQRT_PI / 2) * np.exp(ans ** 2),), (0.1, 1.9), None),
    "log_expit": (lambda sp: (lambda g, ans, x: g * sp.expit(-x),), (-3.0, 3.0), None),
    # more gamma-function ratios: binom(n, k) = gamma(n + 1) / (gamma(k + 1) gamma(n - k + 1)),
    # poch(z, m) = gamma(z + m) / gamma(z)
    "binom": (lambda sp: (lambda g, ans, n, k: g * ans * (sp.digamma(n + 1) - sp.digamma(n - k + 1)),
                          lambda g, ans, n, k: g * ans * (sp.digamma(n - k + 1) - sp.digamma(k + 1))),
              (2.0, 2.9), "real n and k, away from the poles of gamma(n - k + 1)"),
    "poch": (lambda sp: (lambda g, ans, z, m: g * ans * (sp.digamma(z + m) - sp.digamma(z)),
                         lambda g, ans, z, m: g * ans * sp.digamma(z + m)), (0.5, 3.0), None),
    # exponential and related integrals: E1' = -exp(-x) / x, Ei' = exp(x) / x, dawsn' = 1 - 2 x dawsn,
    # spence(z) = integral from 1 to z of log(t) / (1 - t)
    "exp1": (lambda sp: (lambda g, ans, x: -g * np.exp(-x) / x,), (0.5, 3.0), "x > 0 only"),
    "expi": (lambda sp: (lambda g, ans, x: g * np.exp(x) / x,), (0.5, 3.0), None),
    "dawsn": (lambda sp: (lambda g, ans, x: g * (1 - 2 * x * ans),), (-2.0, 2.0), None),
    "erfi": (lambda sp: (lambda g, ans, x: g * (2 / _SQRT_PI) * np.exp(x ** 2),), (-1.5, 1.5), None),
    "spence": (lambda sp: (lambda g, ans, z: g * _spence_slope(z),), (1.2, 3.0), "real z > 0 only"),
    # (x^y - 1, cos(x) - 1, (exp(x) - 1) / x: accurate near 0, like the functions themselves)
    "powm1": (lambda sp: (lambda g, ans, x, y: g * y * (ans + 1) / x, lambda g, ans, x, y: g * (ans + 1) * np.log(x)),
              (0.5, 2.0), "x > 0 only"),
    "cosm1": (lambda sp: (lambda g, ans, x: -g * np.sin(x),), (-2.0, 2.0), None),
    "exp10": (lambda sp: (lambda g, ans, x: g * ans * math.log(10.0),), (-1.0, 1.0), None),
    "exprel": (lambda sp: (lambda g, ans, x: g * _exprel_slope(x, ans),), (0.5, 2.0), None),
    "pseudo_huber": (lambda sp: (
        lambda g, ans, delta, r: g * (2 * ans / delta - r * r / (delta * np.sqrt(1 + (r / delta) ** 2))),
        lambda g, ans, delta, r: g * r / np.sqrt(1 + (r / delta) ** 2)), (0.5, 2.0), "delta > 0 only"),
    # complete elliptic integrals of the parameter m (DLMF 19.4.1)
    "ellipk": (lambda sp: (lambda g, ans, m: g * (sp.ellipe(m) - (1 - m) * ans) / (2 * m * (1 - m)),), (0.1, 0.9),
               "0 < m < 1 (the slope is infinite at 1; at 0 the rule divides 0 by 0)"),
    "ellipe": (lambda sp: (lambda g, ans, m: g * (ans - sp.ellipk(m)) / (2 * m),), (0.1, 0.9),
               "0 < m < 1 (at 0 the rule divides 0 by 0)"),
    # entropy terms: entr(x) = -x log x, rel_entr(x, y) = x log(x / y), kl_div = rel_entr - x + y
    "entr": (lambda sp: (lambda g, ans, x: -g * (np.log(x) + 1),), (0.2, 2.0), "x > 0 only (infinite slope at 0)"),
    "rel_entr": (lambda sp: (lambda g, ans, x, y: g * (np.log(x / y) + 1), lambda g, ans, x, y: -g * x / y),
                 (0.2, 2.0), "x > 0 and y > 0 only"),
    "kl_div": (lambda sp: (lambda g, ans, x, y: g * np.log(x / y), lambda g, ans, x, y: g * (1 - x / y)),
               (0.2, 2.0), "x > 0 and y > 0 only"),
}


def _spence_slope(z):
    """log(z) / (1 - z), and its limit -1 at z == 1."""
    one = z == 1
    safe = np.where(one, 2.0, z)
    return np.where(one, -1.0, np.log(safe) / (1 - safe))


def _exprel_slope(x, ans):
    """(exp(x) - exprel(x)) / x, by its series near 0, where that difference cancels."""
    small = np.abs(x) < 1e-3
    safe = np.where(small, 1.0, x)
    return np.where(small, 0.5 + x / 3 + x * x / 8, (np.exp(safe) - ans) / safe)


def _gamma_density(sp, a, x):
    """x ** (a - 1) exp(-x) / gamma(a): the x-derivative of gammainc(a, x), in logs (no overflow)."""
    return np.exp(sp.xlogy(a - 1, x) - x - sp.gammaln(a))


class _WithConstantArguments(Primitive):
    """A SciPy ufunc some of whose arguments take no gradient (a Bessel function's order, the
    parameter of an incomplete gamma function). A gradient that would flow to one is an error
    when the function is called, never a silent zero."""

    def __init__(self, *args, constant, **kwargs):
        super().__init__(*args, **kwargs)
        self.constant = constant

    def bind(self, *args, **params):
        positions, what = self.constant
        if any(isinstance(args[i], Tracer) and args[i].requires_grad for i in positions):
            where = user_location()
            raise NonDifferentiableError(
                f"scipy.special.{self.name} has no gradient with respect to {what}, which is being "
                f"differentiated{' at ' + where if where else ''}. Pass it as a constant (or leave it out of "
                "argnums), wrap it in td.stop_gradient(...) if no gradient should flow, or give the function a "
                "rule with td.custom_vjp"
            )
        return super().bind(*args, **params)


# --- polygamma: a function in SciPy (not a ufunc); the derivatives of digamma -----------------

_polygamma_p = Primitive("polygamma", lambda x, n: _ORIGINALS["polygamma"](n, x),
                         _emit("polygamma", positional_params=("n",)), domain=(0.5, 3.0), register=False)
defvjp(_polygamma_p, lambda g, ans, x, n: g * _polygamma_p.bind(x, n=n + 1))
_polygamma_p.caveat = "the order n must be a static integer (no gradient flows to it)"
_polygamma_p.complex_values = "real only"


def _polygamma(n, x):
    if isinstance(n, Tracer) or np.ndim(n) or int(n) != n:
        raise NotImplementedError("scipy.special.polygamma on traced values: the order n must be one integer")
    return _polygamma_p.bind(x, n=int(n))


# --- logsumexp, softmax, log_softmax -----------------------------------------------------------

def _logsumexp_impl(a, *b, axis, keepdims):
    return _ORIGINALS["logsumexp"](a, axis=_axis_param(axis), b=b[0] if b else None, keepdims=keepdims)


def _emit_logsumexp(args, axis, keepdims):
    params = {}
    if axis is not None:
        params["axis"] = _axis_param(axis)
    keywords = [ast.keyword(arg="b", value=args[1])] if len(args) > 1 else []
    if keepdims:
        params["keepdims"] = True
    node = call(_attr("scipy.special.logsumexp"), [args[0]], params)
    node.keywords = keywords + node.keywords
    return node


def _logsumexp_weights(a, ans, axis, keepdims):
    """exp(a - logsumexp): each entry's share of the sum (times b, the gradient for a)."""
    return np.exp(a - _keep(ans, np.shape(a), axis, keepdims))


def _logsumexp_vjp_a(g, ans, a, *b, axis, keepdims):
    w = _logsumexp_weights(a, ans, axis, keepdims)
    return _keep(g, np.shape(a), axis, keepdims) * (w * b[0] if b else w)


def _logsumexp_vjp_b(g, ans, a, b, *, axis, keepdims):
    return _keep(g, np.shape(a), axis, keepdims) * _logsumexp_weights(a, ans, axis, keepdims)


def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    if return_sign:
        raise NotImplementedError("scipy.special.logsumexp: return_sign=True is not supported on traced values")
    if b is not None and np.shape(b) != np.shape(a):
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    if np.ndim(a) == 0 and isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]  # SciPy takes axis=(0,) on a 0-d value too
    axis = normalize_axis(axis, np.ndim(a), "scipy.special.logsumexp", scalar_axis=True)
    operands = (a,) if b is None else (a, b)
    return _logsumexp_p.bind(*operands, axis=axis, keepdims=bool(keepdims))


_logsumexp_p = Primitive("logsumexp", _logsumexp_impl, _emit_logsumexp, register=False)
defvjp(_logsumexp_p, _logsumexp_vjp_a, _logsumexp_vjp_b)
_logsumexp_p.caveat = "return_sign=True is not supported; b (weights) is differentiable too"


def _softmax_like(name, rule):
    def impl(x, axis):
        return _ORIGINALS[name](x, axis=_axis_param(axis))

    def emit(args, axis):
        return call(_attr(f"scipy.special.{name}"), args, {} if axis is None else {"axis": _axis_param(axis)})

    prim = Primitive(name, impl, emit, register=False)
    defvjp(prim, rule)

    def handler(x, axis=None):
        return prim.bind(x, axis=normalize_axis(axis, np.ndim(x), f"scipy.special.{name}", scalar_axis=True))

    return prim, handler


_softmax_p, _softmax = _softmax_like(
    "softmax", lambda g, ans, x, axis: ans * (g - np.sum(g * ans, axis=axis, keepdims=True)))
_log_softmax_p, _log_softmax = _softmax_like(
    "log_softmax", lambda g, ans, x, axis: g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True))

def _multigammaln(a, d):
    """log of the multivariate gamma function: d (d - 1) / 4 log(pi) + sum_j gammaln(a - j / 2)."""
    import scipy.special as sp  # (SciPy is imported: this runs for a call to scipy.special.multigammaln)

    if isinstance(d, Tracer) or np.ndim(d) or int(d) != d or d < 1:
        raise ValueError("scipy.special.multigammaln on traced values: the dimension d must be one integer >= 1")
    d = int(d)
    # a float64 constant, as SciPy's: a float32 a gives a float64 result there too
    return np.float64(d * (d - 1) / 4 * math.log(math.pi)) + sum(sp.gammaln(a - j / 2) for j in range(d))


_multigammaln.differentiable = True  # (through scipy.special.gammaln, which the coverage page cannot see)
_multigammaln.caveat = "the dimension d must be one integer (no gradient flows to it)"

def _softplus(x, **kwargs):
    """log(1 + exp(x)), as SciPy computes it."""
    if kwargs:
        raise NotImplementedError(f"scipy.special.softplus on traced values: {sorted(kwargs)} are not supported")
    return np.logaddexp(0, x)


_HANDLERS = {"logsumexp": _logsumexp, "softmax": _softmax, "log_softmax": _log_softmax, "polygamma": _polygamma,
             "multigammaln": _multigammaln, "softplus": _softplus}
_FUNCTION_PRIMITIVES = [_logsumexp_p, _softmax_p, _log_softmax_p, _polygamma_p]
_ORIGINALS: dict = {}  # name -> SciPy's own function


# --- registration ----------------------------------------------------------------------------

# The functions whose rules are checked for complex arguments (tests/test_complex.py): holomorphic,
# so the rule as written holds. The others raise for a complex argument rather than guess.
COMPLEX_RULES = {"dawsn", "erf", "erfc", "erfcx", "erfi", "exp1", "expi", "iv", "jv", "kv", "kve", "log_ndtr",
                 "ndtr", "spence", "xlog1py", "xlogy", "yv", "sinc"}


def _for_real_arguments(name: str, rule):
    """``rule``, raising for complex arguments (its formula is for real ones)."""
    def rule_for_real(g, ans, *args, **params):
        if any(is_complex(a) for a in args):
            raise NotImplementedError(f"scipy.special.{name} of complex values has no gradient rule in "
                                      "tracediff yet (its rule is written for real arguments)")
        return rule(g, ans, *args, **params)
    return None if rule is None else rule_for_real


def register(sp) -> None:
    """Register the rules for the ``scipy.special`` module ``sp`` (once)."""
    global registered
    if registered:
        return
    registered = True
    import scipy

    namespace = {"scipy": scipy}
    for name, (rules, domain, caveat) in UFUNC_RULES.items():
        ufunc = getattr(sp, name, None)
        if not isinstance(ufunc, np.ufunc):
            continue
        constant = _CONSTANT_ARGUMENTS.get(name, ())
        prim = (_WithConstantArguments(ufunc.__name__, ufunc, _emit(ufunc.__name__), domain=domain, constant=constant)
                if constant else Primitive(ufunc.__name__, ufunc, _emit(ufunc.__name__), domain=domain))
        prim.elementwise = True
        prim.namespace = namespace
        if caveat:
            prim.caveat = caveat
        defvjp(prim, *(rules(sp) if name in COMPLEX_RULES else [_for_real_arguments(name, r) for r in rules(sp)]))
        if name not in COMPLEX_RULES and takes_complex(ufunc):
            prim.complex_values = "no: its rule is written for real arguments"
        UFUNCS[ufunc] = prim
    for prim in _FUNCTION_PRIMITIVES:
        prim.namespace = namespace
        REGISTRY[prim.name] = prim
    for name, handler in _HANDLERS.items():
        own = install(sp, name, handler, f"scipy.special.{name}")
        if own is not None:
            _ORIGINALS[name] = own


when_imported("scipy.special", register)
