"""More elementwise functions: the ufuncs of issue 4 (checked through hypothesis in test_rules.py
as well), np.sinc and np.clip (functions, so only here), real-input complex functions, and
second-order checks of each new rule."""
from __future__ import annotations

import numpy as np

import tracediff as td
from rule_cases import Case
from tracediff.tracing import Tracer


def second_order(fun, argnums=(0,)):
    """A function of the same arguments returning the gradient of sum(sin(fun(*args))) with
    respect to ``argnums``, flattened and joined: checking *its* gradient checks the derivative of
    ``fun``'s rule. (sin keeps fun's value in the gradient's trace, so fun's primitive is there.)

    The arguments are first cast to their common dtype: finite differences upcast only the
    argument they perturb, and a gradient rounded to another argument's float32 would be noise.
    """
    def target(*xs):
        return np.sum(np.sin(fun(*xs)))

    inner = td.grad(target, argnums=argnums)  # one object, so its specializations are cached

    def gradient(*args):
        dtype = np.result_type(*[a.dtype for a in args])
        args = [a if a.dtype == dtype else a.astype(dtype) for a in args]
        # On traced values a fresh td.grad each time: a cached specialization found again for
        # traced arguments runs its generated code on them instead of replaying its graph (a bug
        # of the cache's fast path, reported; it fails where the generated code calls np.asarray).
        grad = td.grad(target, argnums=argnums) if any(isinstance(a, Tracer) for a in args) else inner
        return np.concatenate([np.ravel(g) for g in grad(*args)])

    gradient.__qualname__ = f"second_order({getattr(fun, '__name__', fun)})"
    return gradient


def _with_zero(r, *shape):
    x = r(*shape)
    x.flat[1] = 0
    return x


def _unary(prim, ufunc, shape=(4,)):  # small: second-order checks cost a trace and many calls
    return Case(prim, "second order", second_order(ufunc), lambda r: (r(*shape),))


def _binary(prim, ufunc):
    return Case(prim, "second order", second_order(ufunc, (0, 1)), lambda r: (r(2, 1), r(3)), (0, 1))


CASES = [
    # np.sinc is a function, not a ufunc
    Case("sinc", "2-D", lambda x: np.sinc(x), lambda r: (r(3, 4),)),
    Case("sinc", "through 0", lambda x: np.sinc(x), lambda r: (_with_zero(r, 5),)),
    Case("sinc", "second order", second_order(np.sinc), lambda r: (r(4),)),
    # np.clip: scalar, absent, array and keyword bounds; gradient to the bounds where they clip
    Case("clip", "scalar bounds", lambda x: np.clip(x, -1.0, 1.0), lambda r: (r(3, 4),)),
    Case("clip", "a_min None", lambda x: np.clip(x, None, 0.5), lambda r: (r(3, 4),)),
    Case("clip", "a_max None", lambda x: np.clip(x, -0.5, None), lambda r: (r(3, 4),)),
    Case("clip", "x.clip(min=)", lambda x: x.clip(min=-0.5), lambda r: (r(3, 4),)),
    Case("clip", "np.clip(max=)", lambda x: np.clip(x, max=0.3), lambda r: (r(3, 4),)),
    Case("clip", "array bounds, broadcast", lambda x, lo, hi: np.clip(x, lo, hi),
         lambda r: (r(3, 4), r(4) - 1.0, r(3, 1) + 1.0), (0, 1, 2)),
    Case("clip", "array lower bound only", lambda x, lo: np.clip(x, lo, None), lambda r: (r(3, 4), r(3, 4)), (0, 1)),
    Case("clip", "array upper bound only", lambda x, hi: np.clip(x, None, hi), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("clip", "crossed bounds (lo > hi)", lambda x, lo, hi: np.clip(x, lo, hi),
         lambda r: (r(3, 4), r(4) + 2.5, r(4) - 2.5), (0, 1, 2)),
    Case("clip", "second order", second_order(lambda x, lo, hi: np.clip(x, lo, hi) ** 2, (0, 1, 2)),
         lambda r: (r(2, 3), r(3) - 1.0, r(2, 1) + 1.0), (0, 1, 2)),
    # operators and Python scalars
    Case("remainder", "x % y", lambda x, y: x % y, lambda r: (r(3, 4), r(4) + 2.5), (0, 1)),
    Case("remainder", "x % 0.7, negative x", lambda x: (x - 1.0) % 0.7, lambda r: (r(3, 4),)),
    Case("fmod", "np.fmod(x, 0.7)", lambda x: np.fmod(x - 1.0, 0.7), lambda r: (r(3, 4),)),
    Case("float_power", "Python int exponent", lambda x: np.float_power(x, 3), lambda r: (r(3, 4),)),
    Case("float_power", "array exponent", lambda x, y: np.float_power(x, y), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("cbrt", "negative inputs", lambda x: np.cbrt(-x), lambda r: (r(3, 4),)),
    Case("arctan2", "every quadrant", lambda y, x: np.arctan2(y, x),
         lambda r: (np.array([0.5, -0.5, 1.5, -1.5], r(1).dtype), np.array([1.0, 1.0, -0.3, -0.3], r(1).dtype)),
         (0, 1)),
    # real inputs through complex-number functions: real and conj are the identity, imag and
    # angle constant
    Case("conjugate", "real imag conj angle", lambda x: np.real(x) * np.conj(x) + np.imag(x) + np.angle(x) * x,
         lambda r: (r(3, 4),)),
    Case("conjugate", "np.conjugate", lambda x: np.conjugate(x) ** 2, lambda r: (r(3, 4),)),
    # functions without gradient used in a gradient path contribute nothing (and still run)
    Case("multiply", "rounding in the gradient path",
         lambda x: x * np.round(x, 1) + x * np.around(x) + x * np.fix(x) + x * np.rint(x) + np.heaviside(x, 0.5) * x,
         lambda r: (r(3, 4),)),
    Case("where", "nan_to_num", lambda x: np.nan_to_num(np.where(x > 1.0, np.inf, np.where(x < -1.0, np.nan, x)),
                                                       posinf=5.0, neginf=-5.0) * x, lambda r: (r(3, 4),)),
    # second order: the rules are differentiated themselves (not those that only scale or select g)
    _unary("cbrt", np.cbrt),
    _unary("exp2", np.exp2),
    _unary("log2", np.log2),
    _unary("log10", np.log10),
    _unary("arcsin", np.arcsin),
    _unary("arccos", np.arccos),
    _unary("arctan", np.arctan),
    _unary("arcsinh", np.arcsinh),
    _unary("arccosh", np.arccosh),
    _unary("arctanh", np.arctanh),
    _unary("tan", np.tan),
    _unary("sinh", np.sinh),
    _unary("cosh", np.cosh),
    _unary("reciprocal", np.reciprocal),
    _unary("deg2rad", np.deg2rad),  # (not their aliases radians, degrees: the same rule)
    _unary("rad2deg", lambda x: np.rad2deg(x) / 100),
    _binary("float_power", np.float_power),
    _binary("logaddexp", np.logaddexp),
    _binary("logaddexp2", np.logaddexp2),
    _binary("arctan2", np.arctan2),
    _binary("hypot", np.hypot),
    _binary("fmax", np.fmax),
    _binary("fmin", np.fmin),
    _binary("copysign", np.copysign),
    _binary("remainder", np.remainder),
    _binary("fmod", np.fmod),
    # powers at x == 0 (issue 13): right for every exponent, at every order
    Case("power", "x ** [0, 1, 2, 3] at 0 (polynomial features)", lambda x: x[:, None] ** np.arange(4.0),
         lambda r: (_with_zero(r, 3),)),
    Case("power", "x ** 0, 1, 2, 3, 1.0 at 0", lambda x: np.stack([x ** 0, x ** 1, x ** 2, x ** 3, x ** 1.0]),
         lambda r: (_with_zero(r, 3),)),
    Case("power", "second order at 0", second_order(lambda x: x[:, None] ** np.arange(4.0)),
         lambda r: (_with_zero(r, 3),)),
    Case("power", "x ** y, y 0, 1 and 2.5", lambda x, y: x ** y,
         lambda r: (r(2, 3), np.array([0.0, 1.0, 2.5], r(1).dtype)), (0, 1)),
    Case("float_power", "at 0", lambda x: np.float_power(x[:, None], np.arange(4.0)), lambda r: (_with_zero(r, 3),)),
    Case("float_power", "x ** 2 and 1 at 0", lambda x: np.float_power(x, 2) + np.float_power(x, 1),
         lambda r: (_with_zero(r, 3),)),
]
