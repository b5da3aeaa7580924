"""Elementwise primitives (NumPy ufuncs), each beside its VJP rule.

Rules return cotangents of the broadcast output shape; reverse mode sums them back to each
argument's shape, so rules never think about broadcasting.
"""
from __future__ import annotations

import ast
import operator

import numpy as np

from .core import FUNCTIONS, UFUNCS, Primitive, defvjp, np_function


def _ufunc(ufunc, *rules, name=None, op=None, emit=None, impl=None, domain=(-2.0, 2.0)):
    """Register ``ufunc`` as a primitive, written as ``a <op> b`` when ``op`` is given.

    A primitive written as a Python operator is also *computed* with that operator while tracing:
    on Python floats (weak under NumPy's promotion) ``a * b`` stays a float where ``np.multiply``
    would make a float64 scalar, and the trace must see the types the generated code will.
    """
    if op is not None:
        emit = _binop(op) if len(rules) == 2 else _unaryop(op)
        impl = _OPERATORS[type(op)]
    prim = Primitive(name or ufunc.__name__, impl or ufunc, emit or np_function(name or ufunc.__name__),
                     differentiable=bool(rules), domain=domain)
    prim.elementwise = True
    if rules:
        defvjp(prim, *rules)
    UFUNCS[ufunc] = prim
    return prim


_OPERATORS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.FloorDiv: operator.floordiv,
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


def _ties_split(g, x, y):
    """Cotangent of max(x, y) for x: all of g where x wins, half of it at ties (as autograd)."""
    return np.where(x == y, g * 0.5, np.where(x > y, g, 0.0))


# --- arithmetic ---------------------------------------------------------------------------
add = _ufunc(np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g, op=ast.Add())
subtract = _ufunc(np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g, op=ast.Sub())
multiply = _ufunc(np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x, op=ast.Mult())
divide = _ufunc(np.true_divide, lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y,
                name="divide", op=ast.Div(), domain=(0.5, 2.0))
power = _ufunc(
    np.power,
    lambda g, ans, x, y: g * y * x ** (y - 1),
    # log(x) is only real for x > 0; where x == 0 the y-cotangent is 0 (0**y is flat in y for y > 0)
    lambda g, ans, x, y: g * ans * np.log(np.where(x > 0, x, 1.0)),
    op=ast.Pow(), domain=(0.5, 2.0),
)
negative = _ufunc(np.negative, lambda g, ans, x: -g, op=ast.USub())
square = _ufunc(np.square, lambda g, ans, x: g * 2 * x)
sqrt = _ufunc(np.sqrt, lambda g, ans, x: g * 0.5 / ans, domain=(0.5, 2.0))
absolute = _ufunc(np.absolute, lambda g, ans, x: g * np.sign(x), name="abs", emit=np_function("abs"))
reciprocal = _ufunc(np.reciprocal, lambda g, ans, x: -g * ans ** 2, domain=(0.5, 2.0))

# --- exponentials and logarithms ---------------------------------------------------------
exp = _ufunc(np.exp, lambda g, ans, x: g * ans)
expm1 = _ufunc(np.expm1, lambda g, ans, x: g * (ans + 1))
log = _ufunc(np.log, lambda g, ans, x: g / x, domain=(0.5, 2.0))
log1p = _ufunc(np.log1p, lambda g, ans, x: g / (x + 1), domain=(-0.5, 2.0))

# --- trigonometric and hyperbolic ---------------------------------------------------------
sin = _ufunc(np.sin, lambda g, ans, x: g * np.cos(x))
cos = _ufunc(np.cos, lambda g, ans, x: -g * np.sin(x))
tan = _ufunc(np.tan, lambda g, ans, x: g * (1 + ans ** 2), domain=(-1.2, 1.2))
tanh = _ufunc(np.tanh, lambda g, ans, x: g * (1 - ans ** 2))
sinh = _ufunc(np.sinh, lambda g, ans, x: g * np.cosh(x))
cosh = _ufunc(np.cosh, lambda g, ans, x: g * np.sinh(x))

# --- selection ---------------------------------------------------------------------------
maximum = _ufunc(np.maximum, lambda g, ans, x, y: _ties_split(g, x, y),
                 lambda g, ans, x, y: _ties_split(g, y, x))
minimum = _ufunc(np.minimum, lambda g, ans, x, y: _ties_split(g, y, x),
                 lambda g, ans, x, y: _ties_split(g, x, y))

# --- no gradient: comparisons, logic, rounding, integer arithmetic -----------------------
for _uf, _op in {np.less: ast.Lt(), np.less_equal: ast.LtE(), np.greater: ast.Gt(),
                 np.greater_equal: ast.GtE(), np.equal: ast.Eq(), np.not_equal: ast.NotEq()}.items():
    _ufunc(_uf, emit=_compare(_op), impl=_OPERATORS[type(_op)])
for _uf, _op in {np.floor_divide: ast.FloorDiv(), np.bitwise_and: ast.BitAnd(),
                 np.bitwise_or: ast.BitOr(), np.bitwise_xor: ast.BitXor()}.items():
    _ufunc(_uf, emit=_binop(_op), impl=_OPERATORS[type(_op)])
_ufunc(np.invert, emit=_unaryop(ast.Invert()), impl=operator.invert)
for _uf in (np.sign, np.floor, np.ceil, np.rint, np.trunc, np.isnan, np.isinf, np.isfinite,
            np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.signbit):
    _ufunc(_uf)


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


FUNCTIONS.update({np.where: _where, np.zeros_like: _like("zeros_like"), np.ones_like: _like("ones_like")})
