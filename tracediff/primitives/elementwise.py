"""Elementwise primitives (NumPy ufuncs), each beside its VJP rule.

Rules return cotangents of the broadcast output shape; reverse mode sums them back to each
argument's shape, so rules never think about broadcasting.

Where a function is not differentiable at a point (a kink of ``abs``, a tie of ``maximum``, a jump
of ``remainder``) the rules pick a one-sided or averaged value and say which in ``caveat``; the
coverage page (docs/coverage.md, built by ``python -m tracediff.coverage``) lists them.

Also here: polynomials evaluated and transformed entry by entry (polyval, polyder, polyint,
polyadd, polysub), and the predicates (isclose, allclose, array_equal, array_equiv, iscomplex,
isreal): they run on traced values without a gradient, and a Python bool they return is a
decision on values, guarded as ``if x > 0:`` is.
"""
from __future__ import annotations

import ast
import math
import operator

import numpy as np

from ..tracing import Tracer
from .core import FUNCTIONS, UFUNCS, Primitive, call, defvjp, is_complex, np_attr, np_function

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _ufunc(ufunc, *rules, name=None, op=None, emit=None, impl=None, domain=(-2.0, 2.0), caveat=None):
    """Register ``ufunc`` as a primitive, written as ``a <op> b`` when ``op`` is given.

    A primitive written as a Python operator is also *computed* with that operator while tracing:
    on Python floats (weak under NumPy's promotion) ``a * b`` stays a float where ``np.multiply``
    would make a float64 scalar, and the trace must see the types the generated code will.
    """
    if op is not None:
        emit = _binop(op) if len(rules) == 2 or ufunc.nin == 2 else _unaryop(op)
        impl = _OPERATORS[type(op)]
    prim = Primitive(name or ufunc.__name__, impl or ufunc, emit or np_function(name or ufunc.__name__),
                     differentiable=bool(rules), domain=domain)
    prim.elementwise = True
    if caveat:
        prim.caveat = caveat
    if rules:
        defvjp(prim, *rules)
    UFUNCS[ufunc] = prim
    return prim


_OPERATORS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.Invert: operator.invert,
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def _binop(op):
    return lambda args: ast.BinOp(left=args[0], op=op, right=args[1])


def _unaryop(op):
    return lambda args: ast.UnaryOp(op=op, operand=args[0])


def _compare(op):
    return lambda args: ast.Compare(left=args[0], ops=[op], comparators=[args[1]])


def _extremum_share(g, x, y, larger: bool):
    """The cotangent of max(x, y) (``larger``) or min(x, y) that goes to x: all of g where x wins,
    half of it at a tie (as autograd), none where it loses. With s = sign(x - y) that is
    g * (1 + s) / 2 for max and g * (1 - s) / 2 for min: y's share uses the same s (one value
    for both rules, and for abs's rule of x - y), and a NaN operand gives a NaN cotangent."""
    if is_complex(x) or is_complex(y):  # NumPy orders complex numbers by real, then imaginary part
        wins = (x > y) if larger else (x < y)
        return np.where(x == y, g * 0.5, np.where(wins, g, 0.0))
    s = np.sign(x - y)
    return ((1 + s) if larger else (1 - s)) * (g * 0.5)


def _ties_split_nan(g, x, y):
    """The cotangent of fmax(x, y) for x: all of g where x wins, half at ties; a NaN loses, so x
    also wins where y is NaN."""
    return np.where(x == y, g * 0.5, np.where((x > y) | np.isnan(y), g, 0.0))


_TIES = "ties (x == y) send half of the cotangent to each argument"
_KINK = "at 0 the derivative taken is 0 (np.sign(0))"

# --- arithmetic ---------------------------------------------------------------------------
add = _ufunc(np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g, op=ast.Add())
subtract = _ufunc(np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g, op=ast.Sub())
multiply = _ufunc(np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x, op=ast.Mult())
divide = _ufunc(np.true_divide, lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y,
                name="divide", op=ast.Div(), domain=(0.5, 2.0))


def _base_rule(power_function):
    """The base's rule of ``x ** y``: y * x ** (y - 1), written so that it is right at x == 0 for
    every y, and so is its own derivative (the second-order rule runs through this expression).

    Only y == 0 needs care there: x ** 0 is 1 everywhere, but 0 * 0 ** -1 is 0 * inf. A number
    exponent (known when tracing, as in ``x ** 2``) picks its rule then: none for 0, ``g`` for 1,
    y * x ** (y - 1) otherwise (finite at 0 for y >= 1; inf for 0 < y < 1, as NumPy computes it;
    a Python float computes as Python does, where 0.0 ** -0.5 raises). An array exponent replaces x
    by 1 where x == 0 and y == 0, so that the term is 0 * 1 and nothing infinite is computed
    there, not even in the branch np.where would mask (its cotangent 0 times inf would be NaN).
    Away from x == 0 the rule is y * x ** (y - 1), also where y == 0, so the derivative of the
    rule with respect to y (a mixed second derivative) stays right.
    """
    def rule(g, ans, x, y):
        if not isinstance(y, Tracer):
            if y == 0:
                return None
            return g if y == 1 else g * y * power_function(x, y - 1)
        return g * y * power_function(np.where((x == 0) & (y == 0), 1.0, x), y - 1)
    return rule


# log(x) is only real for x > 0; where x == 0 the y-cotangent is 0 (0**y is flat in y for y > 0).
# A complex power is exp(y log x) with the principal log, for any base but 0 (a negative real base
# too, when the exponent is complex).
def _exponent_rule(g, ans, x, y):
    if is_complex(ans):
        base = np.where(x == 0, 1.0, x)
        return g * ans * np.log(base if is_complex(base) else base + 0j)
    return g * ans * np.log(np.where(x > 0, x, 1.0))


power = _ufunc(np.power, _base_rule(np.power), _exponent_rule, op=ast.Pow(), domain=(0.5, 2.0),
               caveat="the exponent's gradient is taken as 0 where the base is <= 0")


def _python_power_is_real(base, exponent) -> None:
    """``a ** b`` of Python numbers is complex when ``a`` is negative and ``b`` is not a whole
    number (NumPy's would be NaN), so the type of the result, and of all that follows, is a
    decision on the values: a guard, and another path traces again."""
    def python(v):  # (_val: a pending array stays pending; Python numbers are never pending)
        return type(v._val if isinstance(v, Tracer) else v) in (int, float)

    if not (python(base) and python(exponent)):
        return
    whole = exponent == np.round(exponent) if isinstance(exponent, Tracer) else float(exponent).is_integer()
    if whole is True or (not isinstance(base, Tracer) and base >= 0):
        return  # real for every value the traced operand may take
    if not isinstance(base, Tracer):
        real = whole  # a negative constant to a traced power
    elif whole is False:
        real = base >= 0  # a traced base to a fractional constant power
    else:
        real = np.logical_or(base >= 0, whole)
    bool(real)  # the guard


power.decides = _python_power_is_real
float_power = _ufunc(np.float_power, _base_rule(np.float_power), _exponent_rule, domain=(0.5, 2.0),
                     caveat="the exponent's gradient is taken as 0 where the base is <= 0")
negative = _ufunc(np.negative, lambda g, ans, x: -g, op=ast.USub())
positive = _ufunc(np.positive, lambda g, ans, x: g)
square = _ufunc(np.square, lambda g, ans, x: g * 2 * x)
sqrt = _ufunc(np.sqrt, lambda g, ans, x: g * 0.5 / ans, domain=(0.5, 2.0))
cbrt = _ufunc(np.cbrt, lambda g, ans, x: g / (3 * ans ** 2), domain=(0.2, 2.0),
              caveat="the derivative at 0 is infinite")
absolute = _ufunc(np.absolute, lambda g, ans, x: g * np.sign(x), name="abs", emit=np_function("abs"), caveat=_KINK)
fabs = _ufunc(np.fabs, lambda g, ans, x: g * np.sign(x), caveat=_KINK)


# NumPy 2's sign of a complex z is z / |z| (NumPy 1's, of the real part), which moves with z:
# ds = (dz - s Re(conj(s) dz)) / |z|. Of real values it is piecewise constant: no gradient.
_SIGN_IS_UNIT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _sign_vjp(g, ans, x):
    if not (_SIGN_IS_UNIT and is_complex(x)):
        return None
    r = np.abs(x)
    zero = r == 0  # not differentiable there: 0 taken, as for np.abs
    return np.where(zero, 0, (g - np.real(g * ans) * np.conj(ans)) / np.where(zero, 1, r))


sign = _ufunc(np.sign, _sign_vjp, domain=(0.25, 2.0), caveat="real inputs: piecewise constant, no gradient; complex values (NumPy 2): "
                                         "z / |z|, differentiable but at 0 (0 taken)")
reciprocal = _ufunc(np.reciprocal, lambda g, ans, x: -g * ans ** 2, domain=(0.5, 2.0))
# x % y == x - floor(x / y) * y; fmod truncates instead. Both jump where x / y is an integer.
remainder = _ufunc(np.remainder, lambda g, ans, x, y: g, lambda g, ans, x, y: -g * np.floor(x / y),
                   op=ast.Mod(), caveat="jumps where x / y is an integer; the rule is the one-sided derivative")
fmod = _ufunc(np.fmod, lambda g, ans, x, y: g, lambda g, ans, x, y: -g * np.trunc(x / y),
              caveat="jumps where x / y is a non-zero integer; the rule is the one-sided derivative")
# copysign(x, y) == |x| * sign(y) (the sign bit of y); nothing flows to y (piecewise constant)
copysign = _ufunc(np.copysign, lambda g, ans, x, y: g * np.copysign(1.0, x) * np.copysign(1.0, y), None,
                  caveat="no gradient flows to the sign argument; at x == 0 the sign of x is taken from its sign bit")

# --- exponentials and logarithms ---------------------------------------------------------
exp = _ufunc(np.exp, lambda g, ans, x: g * ans)
exp2 = _ufunc(np.exp2, lambda g, ans, x: g * ans * _LN2)
expm1 = _ufunc(np.expm1, lambda g, ans, x: g * (ans + 1))
log = _ufunc(np.log, lambda g, ans, x: g / x, domain=(0.5, 2.0))
log2 = _ufunc(np.log2, lambda g, ans, x: g / (x * _LN2), domain=(0.5, 2.0))
log10 = _ufunc(np.log10, lambda g, ans, x: g / (x * _LN10), domain=(0.5, 2.0))
log1p = _ufunc(np.log1p, lambda g, ans, x: g / (x + 1), domain=(-0.5, 2.0))
# log(exp(x) + exp(y)): the weights exp(x - ans) are in [0, 1] and never overflow
logaddexp = _ufunc(np.logaddexp, lambda g, ans, x, y: g * np.exp(x - ans), lambda g, ans, x, y: g * np.exp(y - ans))
logaddexp2 = _ufunc(np.logaddexp2, lambda g, ans, x, y: g * np.exp2(x - ans),
                    lambda g, ans, x, y: g * np.exp2(y - ans))

# --- trigonometric and hyperbolic ---------------------------------------------------------
sin = _ufunc(np.sin, lambda g, ans, x: g * np.cos(x))
cos = _ufunc(np.cos, lambda g, ans, x: -g * np.sin(x))
tan = _ufunc(np.tan, lambda g, ans, x: g * (1 + ans ** 2), domain=(-1.2, 1.2))
arcsin = _ufunc(np.arcsin, lambda g, ans, x: g / np.sqrt(1 - x ** 2), domain=(-0.9, 0.9))
arccos = _ufunc(np.arccos, lambda g, ans, x: -g / np.sqrt(1 - x ** 2), domain=(-0.9, 0.9))
arctan = _ufunc(np.arctan, lambda g, ans, x: g / (1 + x ** 2))
# arctan2(y, x) is the angle of the point (x, y): smooth away from the origin and the cut x < 0, y == 0
arctan2 = _ufunc(np.arctan2, lambda g, ans, y, x: g * x / (x ** 2 + y ** 2),
                 lambda g, ans, y, x: -g * y / (x ** 2 + y ** 2),
                 caveat="jumps by 2 pi across y == 0 for x < 0; not differentiable at the origin")
hypot = _ufunc(np.hypot, lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans,
               caveat="not differentiable at the origin (the rule gives NaN there)")
tanh = _ufunc(np.tanh, lambda g, ans, x: g * (1 - ans ** 2))
sinh = _ufunc(np.sinh, lambda g, ans, x: g * np.cosh(x))
cosh = _ufunc(np.cosh, lambda g, ans, x: g * np.sinh(x))
arcsinh = _ufunc(np.arcsinh, lambda g, ans, x: g / np.sqrt(x ** 2 + 1))
# For complex x, sqrt(x**2 - 1) takes the other sign on part of the plane: the principal branch's
# derivative is 1 / (sqrt(x - 1) sqrt(x + 1)).
arccosh = _ufunc(np.arccosh, lambda g, ans, x: g / (np.sqrt(x - 1) * np.sqrt(x + 1)) if is_complex(x)
                 else g / np.sqrt(x ** 2 - 1), domain=(1.2, 3.0))
arctanh = _ufunc(np.arctanh, lambda g, ans, x: g / (1 - x ** 2), domain=(-0.9, 0.9))
# np.radians and np.degrees are ufuncs of their own, not aliases of deg2rad and rad2deg
for _uf, _scale in ((np.deg2rad, math.pi / 180), (np.radians, math.pi / 180),
                    (np.rad2deg, 180 / math.pi), (np.degrees, 180 / math.pi)):
    _ufunc(_uf, (lambda s: lambda g, ans, x: g * s)(_scale))


# np.sinc is a function: sin(pi x) / (pi x), 1 at 0
def _sinc_vjp(g, ans, x):
    nonzero = x != 0
    return np.where(nonzero, g * (np.cos(np.pi * x) - ans) / np.where(nonzero, x, 1.0), 0.0)


sinc_p = Primitive("sinc", np.sinc)
sinc_p.elementwise = True
sinc_p.caveat = "the derivative at exactly 0 is 0 (right), but its own derivative there is taken as 0 too"
defvjp(sinc_p, _sinc_vjp)

# --- selection ---------------------------------------------------------------------------
maximum = _ufunc(np.maximum, lambda g, ans, x, y: _extremum_share(g, x, y, True),
                 lambda g, ans, x, y: _extremum_share(g, x, y, False), caveat=_TIES)
minimum = _ufunc(np.minimum, lambda g, ans, x, y: _extremum_share(g, x, y, False),
                 lambda g, ans, x, y: _extremum_share(g, x, y, True), caveat=_TIES)
fmax = _ufunc(np.fmax, lambda g, ans, x, y: _ties_split_nan(g, x, y),
              lambda g, ans, x, y: _ties_split_nan(g, y, x), caveat=_TIES + "; a NaN argument gets none")
fmin = _ufunc(np.fmin, lambda g, ans, x, y: _ties_split_nan(g, y, x),
              lambda g, ans, x, y: _ties_split_nan(g, x, y), caveat=_TIES + "; a NaN argument gets none")


# np.clip(x, lo, hi) is minimum(maximum(x, lo), hi); either bound may be None (absent). The
# operands are x and the bounds that are given; the rules are the chain rule through that
# composition, so ties split the cotangent as maximum and minimum do.
def _clip_impl(x, *bounds, has_min, has_max):
    bounds = list(bounds)
    lo = bounds.pop(0) if has_min else None
    hi = bounds.pop(0) if has_max else None
    return np.clip(x, lo, hi)


def _emit_clip(args, has_min, has_max):
    rest = list(args[1:])
    lo = rest.pop(0) if has_min else ast.Constant(None)
    hi = rest.pop(0) if has_max else ast.Constant(None)
    return call(np_attr("clip"), [args[0], lo, hi])


def _clip_parts(x, bounds, has_min, has_max):
    """(x, lo, hi, m): lo/hi None when absent; m = maximum(x, lo)."""
    bounds = list(bounds)
    lo = bounds.pop(0) if has_min else None
    hi = bounds.pop(0) if has_max else None
    return lo, hi, (x if lo is None else np.maximum(x, lo))


def _share(a, b):
    """d maximum(a, b) / d a as a 0 / 0.5 / 1 weight."""
    return _extremum_share(1.0, a, b, True)


def _clip_rule(i):
    def rule(g, ans, x, *bounds, has_min, has_max):
        lo, hi, m = _clip_parts(x, bounds, has_min, has_max)
        through_hi = g if hi is None else g * _share(hi, m)  # the cotangent of m
        if i == 0:
            return through_hi if lo is None else through_hi * _share(x, lo)
        if i == 1 and has_min:
            return through_hi * _share(lo, x)
        return g * _share(m, hi)  # the upper bound
    return rule


clip_p = Primitive("clip", _clip_impl, _emit_clip)
clip_p.elementwise = True
clip_p.rule_for = _clip_rule
clip_p.caveat = ("the gradient goes to x inside [min, max] and to a bound where it clips; "
                 "ties (x == bound) split it evenly, as np.minimum(np.maximum(x, min), max)")

_NO_VALUE = np._NoValue


def _clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE, **kwargs):
    if out is not None or kwargs:
        raise TypeError("np.clip: out= and other keywords are not supported on traced values")
    lo = min if a_min is _NO_VALUE else a_min
    hi = max if a_max is _NO_VALUE else a_max
    lo, hi = (None if v is _NO_VALUE else v for v in (lo, hi))
    if lo is None and hi is None:
        raise ValueError("np.clip: at least one of a_min and a_max must be given")
    bounds = [b for b in (lo, hi) if b is not None]
    return clip_p.bind(a, *bounds, has_min=lo is not None, has_max=hi is not None)


# --- real inputs through complex-number functions ----------------------------------------
conjugate = _ufunc(np.conjugate, lambda g, ans, x: g, caveat="complex values: the conjugate (docs/complex.md); real inputs: the identity")


def _describe(handler, differentiable, caveat=None):
    """Say what a handler that binds no primitive of its own does, for the coverage page."""
    handler.differentiable = differentiable
    if caveat:
        handler.caveat = caveat
    return handler


def _real_input(function, x):
    if np.result_type(x).kind == "c" if not hasattr(x, "dtype") else x.dtype.kind == "c":
        raise NotImplementedError(f"np.{function} of a complex traced value is not supported yet")


def _real(val):
    _real_input("real", val)
    return val  # as NumPy: np.real(x) of a real array is x itself


def _imag(val):
    _real_input("imag", val)
    return _zeros_like(val)  # constant: no gradient


angle_p = Primitive("angle", np.angle, differentiable=False)
angle_p.caveat = "real inputs: 0 or pi (pi for negative numbers and -0.0), no gradient"


def _angle(z, deg=False):
    _real_input("angle", z)
    return angle_p.bind(z, deg=True) if deg else angle_p.bind(z)


# --- no gradient: comparisons, logic, rounding, integer arithmetic -----------------------
for _uf, _op in {np.less: ast.Lt(), np.less_equal: ast.LtE(), np.greater: ast.Gt(),
                 np.greater_equal: ast.GtE(), np.equal: ast.Eq(), np.not_equal: ast.NotEq()}.items():
    _ufunc(_uf, emit=_compare(_op), impl=_OPERATORS[type(_op)])
for _uf, _op in {np.floor_divide: ast.FloorDiv(), np.bitwise_and: ast.BitAnd(),
                 np.bitwise_or: ast.BitOr(), np.bitwise_xor: ast.BitXor()}.items():
    _ufunc(_uf, emit=_binop(_op), impl=_OPERATORS[type(_op)])
_ufunc(np.invert, emit=_unaryop(ast.Invert()), impl=operator.invert)
for _uf in (np.floor, np.ceil, np.rint, np.trunc, np.isnan, np.isinf, np.isfinite,
            np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.signbit,
            np.heaviside, np.left_shift, np.right_shift, np.gcd, np.lcm, np.nextafter, np.spacing):
    _ufunc(_uf)
if hasattr(np, "bitwise_count"):  # NumPy >= 2.0
    _ufunc(np.bitwise_count)

# np.round / np.around are functions (not ufuncs); np.fix is trunc
round_p = Primitive("round", lambda x, decimals=0: np.round(x, decimals),
                    lambda args, decimals=0: call(np_attr("round"), args, {"decimals": decimals} if decimals else {}),
                    differentiable=False)


def _round(a, decimals=0, out=None):
    if out is not None:
        raise TypeError("np.round: out= is not supported on traced values")
    decimals = int(decimals)
    return round_p.bind(a, decimals=decimals) if decimals else round_p.bind(a)


def _fix(x, out=None):
    if out is not None:
        raise TypeError("np.fix: out= is not supported on traced values")
    return np.trunc(x)


def _isposinf(x, out=None):
    if out is not None:
        raise TypeError("np.isposinf: out= is not supported on traced values")
    return np.isinf(x) & ~np.signbit(x)


def _isneginf(x, out=None):
    if out is not None:
        raise TypeError("np.isneginf: out= is not supported on traced values")
    return np.isinf(x) & np.signbit(x)


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Finite values pass through (with their gradient); NaN and infinities become constants."""
    if not np.issubdtype(x.dtype, np.inexact):
        return x
    if x.dtype.kind == "c":  # as NumPy: the real and imaginary parts separately
        real, imag = (_nan_to_num(part, nan=nan, posinf=posinf, neginf=neginf) for part in (np.real(x), np.imag(x)))
        return real + 1j * imag
    big = float(np.finfo(x.dtype).max)
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    out = np.where(np.isnan(x), nan, x)  # one Python scalar per np.where keeps x's dtype
    out = np.where(_isposinf(x), posinf, out)
    return np.where(_isneginf(x), neginf, out)


def _sinc(x):
    return sinc_p.bind(x)


# --- np.where and array creation from a traced template -----------------------------------
where_p = Primitive("where", np.where)
where_p.elementwise = True
defvjp(where_p, None, lambda g, ans, c, x, y: np.where(c, g, 0.0), lambda g, ans, c, x, y: np.where(c, 0.0, g))


def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.nonzero(condition)
    return where_p.bind(condition, x, y)


def _like(name):
    prim = Primitive(name, getattr(np, name), differentiable=False)
    return lambda a, dtype=None, **kw: prim.bind(a) if dtype is None else prim.bind(a).astype(dtype)


_zeros_like, _ones_like = _like("zeros_like"), _like("ones_like")

_PYTHON_BOOL = "a Python bool, as NumPy: a decision on the values, checked by the generated code (a guard)"


def _real_if_close(a, tol=100):
    if not is_complex(a):
        return a  # as NumPy: a real array is returned as it is
    if tol > 1:  # (NumPy: a tolerance above 1 counts machine epsilons of a's precision)
        tol = np.finfo(a.dtype).eps * tol
    # Whether the imaginary parts are negligible is a decision on the values: a guard, as NumPy's
    # own `if` on them
    return np.real(a) if np.all(np.abs(np.imag(a)) < tol) else a


def _stacked(p):
    """Coefficients given as a list that holds traced numbers, stacked into one array as NumPy's
    asarray would stack them (so their dtype is the same)."""
    return np.stack(p) if isinstance(p, (list, tuple)) and any(map(_is_traced, p)) else p


def _polyval(p, x):
    # Horner's scheme, as NumPy
    p = _stacked(p)
    coefficients = p if isinstance(p, Tracer) else np.asarray(p)
    x = x if isinstance(x, Tracer) else np.asanyarray(x)
    y = np.zeros_like(x)
    for coefficient in coefficients:
        y = y * x + coefficient
    return y


def _coefficients(p):
    return np.atleast_1d(_stacked(p))


def _polyder(p, m=1):
    m = operator.index(m)
    if m < 0:
        raise ValueError("np.polyder: order of derivative must be positive (see polyint)")
    p = _coefficients(p)
    for _ in range(m):
        p = p[:-1] * np.arange(len(p) - 1, 0, -1)
    return p


def _polyint(p, m=1, k=None):
    m = operator.index(m)
    if m < 0:
        raise ValueError("np.polyint: order of integral must be positive (see polyder)")
    k = np.zeros(m) if k is None else k
    k = list(k) if isinstance(k, (list, tuple)) or np.ndim(k) else [k]
    k = k * m if len(k) == 1 else k  # one constant of integration per integral
    if len(k) < m:
        raise ValueError("np.polyint: k must be a scalar or a rank-1 array of length 1 or >m")
    p = _coefficients(p)
    for i in range(m):
        p = np.concatenate([p / np.arange(len(p), 0, -1), np.reshape(k[i], (1,))])
    return p


def _polyadd(a1, a2, sign=1.0):
    a1, a2 = _coefficients(a1), _coefficients(a2)
    n = max(len(a1), len(a2))
    # the shorter is padded with leading zeros (higher powers)
    a1, a2 = (np.pad(a, (n - len(a), 0)) if len(a) < n else a for a in (a1, a2))
    return a1 + a2 if sign > 0 else a1 - a2


def _polysub(a1, a2):
    return _polyadd(a1, a2, sign=-1.0)


def _is_traced(v) -> bool:
    return isinstance(v, Tracer)


# --- predicates: no gradient; a Python bool answer is a decision on values, so it is guarded ----
def _isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    x, y = (v if isinstance(v, (Tracer, int, float, complex)) else np.asanyarray(v) for v in (a, b))
    y_dtype = getattr(y, "dtype", None)
    if y_dtype is not None and y_dtype.kind not in "fc":  # as NumPy: abs(MIN_INT) would overflow
        y = y.astype(np.result_type(y_dtype, 1.0))
    # As NumPy; an infinite y only compares equal (it is replaced by 0 in the arithmetic, which
    # NumPy runs with warnings off, rather than computing inf - inf)
    finite = np.isfinite(y)
    if isinstance(y, (int, float, complex)):  # (a Python number stays weak: x's dtype computes)
        y_finite = y if finite else 0.0
    else:
        y_finite = np.where(finite, y, 0)
    close = finite & (np.abs(x - y_finite) <= atol + rtol * np.abs(y_finite)) | (x == y)
    return close | (np.isnan(x) & np.isnan(y)) if equal_nan else close


def _allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.all(_isclose(a, b, rtol, atol, equal_nan)))


def _array_equal(a1, a2, equal_nan=False):
    a1, a2 = (a if isinstance(a, Tracer) else np.asarray(a) for a in (a1, a2))
    if np.shape(a1) != np.shape(a2):
        return False
    equal = a1 == a2
    if equal_nan and any(_dtype_of(v).kind in "fc" for v in (a1, a2)):
        equal = equal | (np.isnan(a1) & np.isnan(a2))
    return bool(np.all(equal))


def _array_equiv(a1, a2):
    try:
        np.broadcast_shapes(np.shape(a1), np.shape(a2))
    except ValueError:
        return False
    return bool(np.all(a1 == a2))


def _dtype_of(a) -> np.dtype:
    return a.dtype if hasattr(a, "dtype") else np.result_type(a)


def _iscomplex(x):
    _real_input("iscomplex", x)
    return _zeros_like(x, dtype=bool)  # a real array: False everywhere, as NumPy


def _isreal(x):
    _real_input("isreal", x)
    return _ones_like(x, dtype=bool)


FUNCTIONS.update({
    np.where: _where, np.zeros_like: _zeros_like, np.ones_like: _ones_like,
    np.sinc: _sinc, np.clip: _clip,
    np.nan_to_num: _describe(_nan_to_num, True, "NaN and infinities become constants (no gradient)"),
    np.real: _describe(_real, True, "real inputs: the identity (np.real(x) is x)"),
    np.imag: _describe(_imag, False, "real inputs: zeros"),
    np.angle: _describe(_angle, False, angle_p.caveat),
    np.round: _round, np.around: _round, np.fix: _fix, np.isposinf: _isposinf, np.isneginf: _isneginf,
    np.real_if_close: _describe(_real_if_close, True, "whether the imaginary parts are negligible is "
                                                      "checked by the generated code (a guard)"),
    np.polyval: _describe(_polyval, True, "differentiable in p and x (Horner's scheme, as NumPy)"),
    np.polyder: _polyder, np.polyint: _polyint, np.polyadd: _polyadd, np.polysub: _polysub,
    np.isclose: _describe(_isclose, False), np.iscomplex: _describe(_iscomplex, False, "real inputs: False"),
    np.isreal: _describe(_isreal, False, "real inputs: True"),
    np.allclose: _describe(_allclose, False, _PYTHON_BOOL),
    np.array_equal: _describe(_array_equal, False, _PYTHON_BOOL),
    np.array_equiv: _describe(_array_equiv, False, _PYTHON_BOOL),
})
