"""The primitive registry and the pieces every family shares.

A primitive has a NumPy implementation, a way to be written as Python source, and one VJP rule per
argument. Rules are ordinary NumPy expressions over traced values, ``rule(g, ans, *args, **params)``,
returning the cotangent of that argument (``g`` is the output's cotangent, ``ans`` the output).
Because rules are traced like user code, the backward pass is made of the same primitives.
"""
from __future__ import annotations

import ast
import math
import sys
from typing import Callable

import numpy as np

from .. import array_libraries
from ..tracing import bind

UFUNCS: dict = {}  # np.ufunc -> Primitive
FUNCTIONS: dict = {}  # NumPy function -> handler(*args, **kwargs) that binds primitives
REGISTRY: dict = {}  # name -> Primitive


class Primitive:
    """An operation tracediff knows how to trace, write as source and differentiate.

    ``domain`` is the interval each argument's test values are drawn from (see tests/test_rules.py).
    """

    def __init__(self, name: str, impl: Callable, emit: Callable | None = None, *,
                 differentiable: bool = True, emit_statements: Callable | None = None,
                 domain=(-2.0, 2.0), register: bool = True):
        self.name = name
        self.impl = impl
        self.emit = emit or np_function(name)
        self.emit_statements = emit_statements  # for primitives written as several statements
        self.differentiable = differentiable
        self.vjp: tuple | None = None
        self.domain = domain
        self.alias = False  # True: the output is the input (codegen writes no statement)
        self.is_view = False  # True: NumPy would return a view (matters for __setitem__)
        self.returns_input = False  # True: the output is the input object itself
        # True: NumPy returns a read-only view (np.broadcast_to, np.diagonal), which a returned
        # gradient must not be (callers write into gradients).
        self.read_only = False
        self.rule_for = None  # for variadic primitives: i -> the rule of operand i
        self.elementwise = False  # True: operands broadcast against each other (ufuncs, where)
        self.effectful = False  # True: run for an effect (a guard, a random draw): never merged or dropped
        self.checks = False  # True: a check (a guard): the same check again of the same value is dropped
        self.batch: Callable | None = None  # the batching rule (see defbatch)
        # (shape, dtype) of the result from the operands' shapes and dtypes (and params), for
        # primitives too costly to run on stand-ins (abstract.py); may return None: computed
        self.shape_rule: Callable | None = None
        # Run on the traced operands before the primitive is recorded: a decision on their values
        # that the result's type depends on (a guard), as Python's (-x) ** 1.5 is complex
        self.decides: Callable | None = None
        # For the coverage page: None (complex values differentiate, or the ufunc takes none),
        # "real only" (NumPy/SciPy take no complex values) or "no: <why>" (tracediff refuses them)
        self.complex_values: str | None = None
        if register:
            REGISTRY[name] = self

    def bind(self, *args, **params):
        return bind(self, args, params)

    @property
    def shares_first_operand(self) -> bool:
        """In the generated code, the result may share memory with the first operand."""
        return self.is_view or self.returns_input or self.read_only

    def rule(self, i: int) -> Callable | None:
        """The VJP rule of argument ``i`` (None: no gradient flows to it)."""
        if self.rule_for is not None:
            return self.rule_for(i)
        if self.vjp is None:
            if self.differentiable:  # e.g. td.primitive(f) never given a rule: not silently zero
                from ..errors import MissingRuleError

                raise MissingRuleError(
                    f"the primitive '{self.name}' has no gradient rule, and a gradient flows through "
                    f"its argument {i}; give it one with td.defvjp({self.name}, rule, ...), or wrap "
                    "the argument in td.stop_gradient if no gradient should flow"
                )
            return None
        return self.vjp[i] if i < len(self.vjp) else None

    def __call__(self, *args, **params):
        return bind(self, args, params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def defvjp(primitive: Primitive, *rules: Callable | None) -> None:
    """Give ``primitive`` one VJP rule per positional argument (None: no gradient flows there).

    Each rule is ``rule(g, ans, *args, **params)`` and returns the cotangent of its argument,
    written with NumPy functions so that it is traced too.

    >>> import numpy as np, tracediff as td
    >>> cube = td.primitive(lambda x: x ** 3, name="cube")
    >>> td.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
    >>> float(td.grad(lambda x: cube(x))(2.0))
    12.0
    """
    replaced = getattr(primitive, "vjp", None) is not None
    primitive.vjp = tuple(rules)
    cache = sys.modules.get("tracediff.cache")  # (not yet loaded while tracediff is imported)
    if replaced and cache is not None:  # code made with the old rule must not be reused
        cache.clear_caches()


def defbatch(primitive: Primitive, rule: Callable) -> None:
    """Give ``primitive`` a batching rule, with which ``td.jacobian`` runs one backward pass for
    all output rows at once.

    ``rule(args, batched, out_shape, **params)`` receives the operands, those flagged in
    ``batched`` with an extra leading axis (the batch), and the shape of one entry's output; it
    returns the output of every entry, batch axis first, written with NumPy functions (it is
    traced). It may return None to have the primitive applied to each entry in turn.

    >>> import numpy as np, tracediff as td
    >>> scale = td.primitive(lambda v: 2 * v, name="scale")  # opaque, and linear
    >>> td.defvjp(scale, lambda g, ans, v: scale(g))  # its transpose is itself: in the backward pass
    >>> td.defbatch(scale, lambda args, batched, out_shape: scale(args[0]))  # acts entry by entry
    >>> td.jacobian(lambda x: scale(x ** 2))(np.array([1.0, 2.0])).tolist()
    [[4.0, 0.0], [0.0, 8.0]]
    """
    primitive.batch = rule


def is_complex(x) -> bool:
    """Whether ``x`` (a traced value, an array or a Python number) holds complex numbers."""
    return isinstance(x, complex) or getattr(x, "dtype", np.dtype(float)).kind == "c"


def takes_complex(ufunc) -> bool:
    """Whether NumPy's (or SciPy's) ``ufunc`` has a loop for complex inputs."""
    return any(set(t.split("->")[0]) & set("FDG") for t in ufunc.types)


def conj(x):
    """``x``'s complex conjugate; ``x`` itself when real (no node recorded for real values)."""
    return np.conj(x) if is_complex(x) else x


def lift(x, batched: bool, ndim: int):
    """A batched ``x`` with size-1 axes after the batch axis, up to ``ndim`` axes besides it: it
    then broadcasts against unbatched values of ``ndim`` axes as each entry would."""
    if not batched:
        return x
    shape = np.shape(x)
    missing = ndim - (len(shape) - 1)
    return np.reshape(x, shape[:1] + (1,) * missing + shape[1:]) if missing > 0 else x


def batch_axis(axis, ndim: int):
    """An entry's ``axis`` (an int, a tuple, or None for all ``ndim`` axes) in the batched value."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, tuple):
        return tuple(a % ndim + 1 for a in axis)
    return axis % ndim + 1


def primitive(fun: Callable, name: str | None = None) -> Primitive:
    """Wrap ``fun`` as an opaque primitive: tracing records one call to it and never looks inside.

    Give it a gradient with :func:`defvjp`. The generated code calls ``fun`` itself.
    """
    name = name or getattr(fun, "__name__", "custom")
    # codegen gives the function a unique name in the generated module and calls it by that name
    prim = Primitive(name, fun, lambda args, _function_name, **params: call(ast.Name(id=_function_name), args, params),
                     register=False)
    prim.function = fun
    return prim


# --- building Python source ------------------------------------------------------------------

def np_attr(path: str) -> ast.expr:
    """``np.linalg.inv`` as an expression."""
    node: ast.expr = ast.Name(id="np")
    for part in path.split("."):
        node = ast.Attribute(value=node, attr=part)
    return node


def call(func: ast.expr, args: list, kwargs: dict | None = None) -> ast.Call:
    keywords = [ast.keyword(arg=k, value=py_literal(v)) for k, v in (kwargs or {}).items()]
    return ast.Call(func=func, args=list(args), keywords=keywords)


def method_or_function(name: str, args: list, rest: list, kwargs: dict) -> ast.Call:
    """``x.name(*rest, **kwargs)`` when ``x`` (args[0]) is an array, ``np.name(x, ...)`` when it may
    be a Python float (a 0-d value). The method skips NumPy's function dispatch: about a
    microsecond a call, which is most of the cost on small arrays."""
    x = args[0]
    if getattr(x, "td_ndim", 0) >= 1:
        return call(ast.Attribute(value=x, attr=name), rest, kwargs)
    return call(np_attr(name), [x, *rest], kwargs)


def np_function(name: str, **fixed) -> Callable:
    """Emit ``np.<name>(*args, **params)``."""
    return lambda args, **params: call(np_attr(name), args, {**fixed, **params})


def py_literal(value) -> ast.expr:
    """Source for a static parameter or a scalar constant."""
    if isinstance(value, ast.AST):
        return value
    if isinstance(value, np.dtype):
        return np_attr(value.name if value.kind != "b" else "bool_")
    if isinstance(value, np.generic):
        # str() is the shortest text that reads back as the same value in its own precision
        item = float(str(value)) if isinstance(value, np.floating) else value.item()
        return call(np_attr(value.dtype.name), [py_literal(item)])
    if isinstance(value, float):
        if math.isnan(value):
            return np_attr("nan")
        if math.isinf(value):
            return np_attr("inf") if value > 0 else ast.UnaryOp(op=ast.USub(), operand=np_attr("inf"))
    if isinstance(value, complex):  # (1+2j); complex(nan, 1.0) when a part is not finite
        if math.isfinite(value.real) and math.isfinite(value.imag):
            return ast.Constant(value=value)
        return call(ast.Name(id="complex"), [py_literal(value.real), py_literal(value.imag)])
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
    if isinstance(value, (tuple, list)):
        node = ast.Tuple if isinstance(value, tuple) else ast.List
        return node(elts=[py_literal(v) for v in value], ctx=ast.Load())
    if isinstance(value, slice):
        return ast.Slice(*(None if v is None else py_literal(v) for v in (value.start, value.stop, value.step)))
    if value is Ellipsis:
        return ast.Constant(value=Ellipsis)
    return ast.Constant(value=value)


# --- primitives every family needs ---------------------------------------------------------

def _check_guard(x, kind, expected):
    return None  # at trace time the guard holds by construction; generated code checks it


guard_p = Primitive("guard", _check_guard, differentiable=False)
guard_p.effectful = guard_p.checks = True

# Written as a plain assignment, and kept in the graph: a graph replayed into an enclosing trace
# (higher-order derivatives) must still stop the gradient there.
stop_gradient_p = Primitive("stop_gradient", lambda x: x, lambda args: args[0], differentiable=False)
stop_gradient_p.returns_input = True


def rebind(node, args: list):
    """Apply a recorded node's primitive again, to ``args``: a value that was a constant of its
    backward pass although a gradient flowed into it (``stop_gradient``, ``no_grad``; its Var is
    ``stopped``) is stopped again, so it stays a constant at every order."""
    out = bind(node.primitive, args, node.params)
    if node.out is not None and node.out.stopped and getattr(out, "requires_grad", False):
        out = stop_gradient_p.bind(out)
    return out

# np.asarray(x, dtype=...) rather than x.astype(...): a 0-d value may be a Python float.
astype_p = Primitive("astype", lambda x, dtype: array_libraries.astype(x, dtype),
                     lambda args, dtype: call(np_attr("asarray"), args, {"dtype": dtype}))
defvjp(astype_p, lambda g, ans, x, dtype: g)  # reverse mode casts cotangents to the input's dtype
defbatch(astype_p, lambda args, batched, out_shape, dtype: astype_p.bind(args[0], dtype=dtype))
