"""SciPy's special functions (``scipy.special``), registered when SciPy is imported.

SciPy is optional and tracediff never imports it. The rules are registered the moment
``scipy.special`` is imported, by whoever imports it:

- if ``scipy.special`` is already in ``sys.modules`` when tracediff is imported, right away;
- otherwise a post-import hook (a finder at the front of ``sys.meta_path`` that only answers for
  ``scipy.special``) lets SciPy's own loader run the module and then registers; the hook then
  removes itself, and the module keeps SciPy's own loader.

Registering at import time rather than when a trace first meets a SciPy ufunc matters for the
functions that are *not* ufuncs (``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma``):
NumPy's dispatch never hands them a traced value, so tracediff replaces them in ``scipy.special``
(and in the module that defines them, so pickling finds the same object) with a wrapper that
calls tracediff's handler when an argument is traced and SciPy's function otherwise. A module
that did ``from scipy.special import logsumexp`` before tracediff was imported keeps SciPy's own
function, which cannot see traced values; import tracediff first, or call it as
``scipy.special.logsumexp``. SciPy's ufuncs (``expit``, ``erf``, ...) reach tracediff through
NumPy's ``__array_ufunc__`` protocol however they were imported.

Generated code calls ``scipy.special.<name>``: each primitive here carries ``namespace =
{"scipy": scipy}``, which codegen adds to the generated module.
"""
from __future__ import annotations

import ast
import functools
import importlib.abc
import math
import sys
import warnings

import numpy as np

from ..tracing import Tracer
from .core import FUNCTIONS, REGISTRY, UFUNCS, Primitive, call, defvjp, py_literal
from .reductions import normalize_axis

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
    # d/dz I_v(z) = (I_{v-1}(z) + I_{v+1}(z)) / 2; no gradient flows to the order v
    "iv": (lambda sp: (None, lambda g, ans, v, z: g * 0.5 * (sp.iv(v - 1, z) + sp.iv(v + 1, z))), (0.5, 2.0),
           "no gradient flows to the order v"),
}


# --- polygamma: a function in SciPy (not a ufunc); the derivatives of digamma -----------------

_polygamma_p = Primitive("polygamma", lambda x, n: _ORIGINALS["polygamma"](n, x),
                         _emit("polygamma", positional_params=("n",)), domain=(0.5, 3.0), register=False)
defvjp(_polygamma_p, lambda g, ans, x, n: g * _polygamma_p.bind(x, n=n + 1))
_polygamma_p.caveat = "the order n must be a static integer (no gradient flows to it)"


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

_HANDLERS = {"logsumexp": _logsumexp, "softmax": _softmax, "log_softmax": _log_softmax, "polygamma": _polygamma}
_FUNCTION_PRIMITIVES = [_logsumexp_p, _softmax_p, _log_softmax_p, _polygamma_p]
_ORIGINALS: dict = {}  # name -> SciPy's own function


def _dispatching(original, handler):
    """SciPy's ``original``, but ``handler`` when any argument is a traced value."""
    @functools.wraps(original)
    def function(*args, **kwargs):
        if any(isinstance(a, Tracer) for a in args) or any(isinstance(v, Tracer) for v in kwargs.values()):
            return handler(*args, **kwargs)
        return original(*args, **kwargs)

    function._tracediff_original = original
    return function


# --- registration ----------------------------------------------------------------------------

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
        prim = Primitive(ufunc.__name__, ufunc, _emit(ufunc.__name__), domain=domain)
        prim.elementwise = True
        prim.namespace = namespace
        if caveat:
            prim.caveat = caveat
        defvjp(prim, *rules(sp))
        UFUNCS[ufunc] = prim
    for prim in _FUNCTION_PRIMITIVES:
        prim.namespace = namespace
        REGISTRY[prim.name] = prim
    for name, handler in _HANDLERS.items():
        current = getattr(sp, name, None)
        if current is None:
            continue
        original = getattr(current, "_tracediff_original", current)
        _ORIGINALS[name] = original
        wrapper = _dispatching(original, handler)
        FUNCTIONS[wrapper] = handler  # for the coverage page: the public function and its handler
        setattr(sp, name, wrapper)
        defining = sys.modules.get(getattr(original, "__module__", ""), None)
        if defining is not None and getattr(defining, name, None) is original:
            setattr(defining, name, wrapper)  # pickle looks the function up there


def _register_safely(sp) -> None:
    try:
        register(sp)
    except Exception as error:  # never break the user's `import scipy.special`
        warnings.warn(f"tracediff could not register scipy.special's gradient rules: {error!r}",
                      RuntimeWarning, stacklevel=2)


class _Loader(importlib.abc.Loader):
    """SciPy's loader for ``scipy.special``, then the registration."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the module keeps SciPy's loader
        self.loader.exec_module(module)
        _remove_hook()
        _register_safely(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Answers only for ``scipy.special``: finds it as the other finders would, and registers the
    rules once its module has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "scipy.special" or registered:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader)
        return spec


_hook = _ImportHook()


def _remove_hook() -> None:
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)


if "scipy.special" in sys.modules:
    _register_safely(sys.modules["scipy.special"])
else:
    sys.meta_path.insert(0, _hook)
