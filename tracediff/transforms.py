"""Derivatives beyond the gradient: Jacobians, Hessians, Hessian-vector and Jacobian-vector
products, elementwise gradients, and custom VJP rules.

All of them are built from the same pieces as ``grad``: a traced forward pass, reverse mode run
on tracers, passes and code generation, and (for nested derivatives) replaying compiled
gradients into an enclosing trace.
"""
from __future__ import annotations

import math
import weakref
from typing import Callable, Sequence

import numpy as np

from . import codegen, passes
from .api import (
    GradFunction,
    _as_operand,
    _Compiled,
    _fun_name,
    _identifier,
    _TracedCall,
    compiled_per_function,
    grad,
)
from .autodiff import backward, record_full
from .batching import batch_backward
from .cache import Specialization
from .errors import TracediffError
from .ir import Graph, Var
from .primitives.core import Primitive
from .primitives.shape import copy_p
from .tracing import Tracer, _where

DEFAULT_MAX_ROWS = 256


class JacobianFunction(_Compiled):
    """The result of :func:`jacobian`: ``J[*out_index, *in_index]`` for each argument in argnums.

    The generated function computes the forward pass once and the backward pass once, for all
    output elements together: the cotangent is the batch of unit cotangents (an identity), carried
    along a leading axis by each primitive's batching rule (see :mod:`tracediff.batching`). A
    primitive without a batching rule is applied row by row, written out at most ``max_rows``
    times.
    """

    kind = "jacobian"

    def __init__(self, fun, argnums=0, max_rows: int = DEFAULT_MAX_ROWS):
        self.max_rows = max_rows
        super().__init__(fun, argnums)

    def _options(self) -> tuple:
        return (self.max_rows,)

    def __call__(self, *args, **kwargs):
        spec, flat = self._call(args, kwargs)
        return spec.finish(flat)

    def _compile(self, call: _TracedCall, whole: bool = False) -> Specialization:
        out, trace, name = call.out, call.trace, _fun_name(self.fun)
        value = out._value if isinstance(out, Tracer) else np.asarray(out)
        shape, dtype = np.shape(value), np.result_type(value)
        if dtype.kind != "f":
            raise TracediffError(
                f"jacobian of {name}: the output is {dtype}, and a Jacobian needs a real floating-point "
                "output; for a complex one, stack its parts (np.stack([z.real, z.imag]))"
            )
        rows = math.prod(shape)
        # The backward pass from a placeholder cotangent, then again from all unit ones at once.
        seed = _placeholder_cotangent(trace, shape, dtype)
        first = len(trace.nodes)
        pulled = backward(trace, [out], [seed], call.diff_vars)
        batched, per_row = batch_backward(trace, first, seed._var, pulled, f"jacobian of {name}", self.max_rows)
        jacobians = []
        for rows_of, var in zip(batched, call.diff_vars):
            if rows_of is None:  # no path from the output to this argument
                rows_of = record_full(trace, 0, (rows,) + var.shape, var.dtype)
            jacobians.append(np.reshape(rows_of, shape + var.shape))
        graph = passes.optimize(Graph(trace.inputs, trace.nodes, [_as_operand(j) for j in jacobians]))
        fn = codegen.FunctionSpec(f"jacobian_{_identifier(name)}", graph.inputs, graph.nodes, graph.outputs,
                                  call.dynamic_names)
        module = codegen.generate([fn], f"jacobian of {name}")
        finish = _leaf_results(call, self._argnums, isinstance(self.argnums, int), "jacobian")
        spec = Specialization(module, graph, module.function(fn.name), finish)
        spec.extra["finish_traced"] = finish
        spec.extra["written_per_row"] = sorted(per_row)
        return spec


def _placeholder_cotangent(trace, shape: tuple, dtype) -> Tracer:
    """A traced value of ``shape`` to run reverse mode from when the cotangent is not known yet
    (its value is never used): a copy of a fresh array, so no other recorded value is taken for
    it."""
    zeros = np.zeros(shape, dtype)
    return trace.record(copy_p, [zeros], {}, zeros)


def _leaf_results(call: _TracedCall, argnums: tuple, single: bool, what: str) -> Callable:
    for n in argnums:
        start, stop = call.arg_leaf_ranges[n]
        if stop - start != 1:
            raise NotImplementedError(
                f"{what} with respect to argument {n}, a container of arrays, is not supported "
                "yet; pass its arrays as separate arguments"
            )
    return (lambda flat: flat[0]) if single else tuple


def jacobian(fun: Callable, argnums: int | Sequence[int] = 0, max_rows: int = DEFAULT_MAX_ROWS) -> JacobianFunction:
    """The Jacobian of ``fun`` with respect to argument(s) ``argnums``, shaped
    ``out.shape + arg.shape``.

    >>> import numpy as np, tracediff as td
    >>> J = td.jacobian(lambda x: (x + 1) ** 2)(np.array([1.0, 2.0]))
    >>> J.tolist()
    [[4.0, 0.0], [0.0, 6.0]]
    """
    return JacobianFunction(fun, argnums, max_rows)


def hessian(fun: Callable, argnums: int = 0, max_rows: int = DEFAULT_MAX_ROWS) -> JacobianFunction:
    """The Hessian of a scalar-valued ``fun``: the Jacobian of its gradient.

    >>> import numpy as np, tracediff as td
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> td.hessian(lambda x: x @ A @ x)(np.ones(2)).tolist()  # A + A.T
    [[2.0, 2.0], [2.0, 6.0]]
    """
    if not isinstance(argnums, int):
        raise NotImplementedError("hessian with several argnums is not supported yet; use one argument")
    return JacobianFunction(grad(fun, argnums), argnums, max_rows)


def hvp(fun: Callable, argnums: int = 0) -> Callable:
    """``hvp(fun)(*args, v)``: the Hessian of scalar ``fun`` (for argument ``argnums``) times
    ``v``, computed as the gradient of ``<grad(fun), v>`` without forming the Hessian.

    >>> import numpy as np, tracediff as td
    >>> td.hvp(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]), np.array([1.0, 1.0])).tolist()
    [6.0, 12.0]
    """
    inner = grad(fun, argnums)

    def directional(*args_and_v):
        *args, v = args_and_v
        return np.sum(inner(*args) * v)

    outer = GradFunction(directional, argnums)

    def hessian_vector_product(*args_and_v):
        return outer(*args_and_v)

    hessian_vector_product.cache_info = outer.cache_info
    hessian_vector_product.source = outer.source
    hessian_vector_product.ir = outer.ir
    return hessian_vector_product


def elementwise_grad(fun: Callable, argnums: int = 0) -> GradFunction:
    """The gradient of ``sum(fun(x))``: for a function acting elementwise, each element's own
    derivative.

    >>> import numpy as np, tracediff as td
    >>> td.elementwise_grad(np.tanh)(np.zeros(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    def summed(*args, **kwargs):
        return np.sum(fun(*args, **kwargs))

    summed.__name__ = f"sum_of_{getattr(fun, '__name__', 'fun')}"
    return GradFunction(summed, argnums)


class _JVPFunction(_Compiled):
    """Jacobian-vector products by transposing the vector-Jacobian product: the VJP is linear in
    its cotangent u, so J t is the gradient with respect to u of <VJP(u), t>."""

    kind = "jvp"

    def run(self, primals: tuple, tangents: list) -> tuple:
        # The generated function takes the tangents after the primals: keyed and guarded on the
        # primals alone, replayed like any compiled function when called on traced values.
        spec, flat = self._call(primals, {}, extra=tuple(tangents))
        return spec.finish(flat)

    def _compile(self, call: _TracedCall, whole: bool = False) -> Specialization:
        out = call.out
        value = out._value if isinstance(out, Tracer) else np.asarray(out)
        n = len(call.diff_vars)
        # u: an internal value the VJP is taken with; only its cotangent is used, not its value
        u = _placeholder_cotangent(call.trace, np.shape(value), np.result_type(value))
        u._var.requires_grad = True
        pulled = backward(call.trace, [out], [u], call.diff_vars)
        tangents = [call.trace.new_input(np.zeros(v.shape, v.dtype), requires_grad=False) for v in call.diff_vars]
        inner = sum(np.sum(p * t) for p, t in zip(pulled, tangents))
        (out_tangent,) = backward(call.trace, [inner], [1.0], [u._var])
        graph = passes.optimize(Graph(call.trace.inputs, call.trace.nodes, [_as_operand(out), out_tangent._var]))
        names = call.dynamic_names + [f"t_{name}" for name in call.dynamic_names[:n]]
        name = _fun_name(self.fun)
        fn = codegen.FunctionSpec(f"jvp_{_identifier(name)}", graph.inputs, graph.nodes, graph.outputs, names)
        module = codegen.generate([fn], f"jvp of {name}")
        spec = Specialization(module, graph, module.function(fn.name), tuple)
        spec.extra["finish_traced"] = tuple
        return spec


_jvp_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def jvp(fun: Callable, primals: Sequence, tangents: Sequence) -> tuple:
    """``(fun(*primals), J @ tangents)``: forward-mode derivative along ``tangents``.

    >>> import numpy as np, tracediff as td
    >>> out, t = td.jvp(lambda x: np.sin(x) * 2, (np.array([0.0, 1.0]),), (np.array([1.0, 1.0]),))
    >>> np.allclose(t, 2 * np.cos([0.0, 1.0]))
    True
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp of {_fun_name(fun)}: {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if np.shape(p) != np.shape(t):
            raise ValueError(f"jvp of {_fun_name(fun)}: tangent {i} has shape {np.shape(t)}, its primal {np.shape(p)}")
    compiled = compiled_per_function(_jvp_cache, fun, _JVPFunction, len(primals))
    tangents = [t if isinstance(t, Tracer) else np.asarray(t, dtype=getattr(p, "dtype", np.float64))
                for p, t in zip(primals, tangents)]
    return compiled.run(primals, tangents)


# --- custom VJP rules ------------------------------------------------------------------------

def _custom_output_impl(value, *inputs, rule, name, n_args):
    return value


class CustomVJPError(TracediffError, ValueError):
    """A custom VJP rule returned the wrong number or shapes of cotangents."""


def _custom_rule_for(i):
    if i == 0:
        return None  # the forward value itself: its gradient is the rule's business

    def rule(g, ans, value, *inputs, rule, name, n_args):
        if i > n_args:
            return None  # a residual (defvjp(fwd, bwd)): the rule's cotangents are the whole gradient
        args = inputs[:n_args]
        cotangents = rule(g, ans, *inputs)
        cotangents = cotangents if isinstance(cotangents, tuple) else (cotangents,)
        if len(cotangents) != len(args):
            raise CustomVJPError(
                f"the custom VJP rule of {name} returned {len(cotangents)} cotangent(s) for "
                f"{len(args)} argument(s); return one per argument (None for no gradient)"
            )
        ct = cotangents[i - 1]
        if ct is not None and np.shape(ct) != np.shape(args[i - 1]):
            expected = [np.shape(x) for x in args]
            raise CustomVJPError(
                f"the custom VJP rule of {name} returned a cotangent of shape {np.shape(ct)} for "
                f"argument {i - 1}; expected the arguments' shapes {expected}"
            )
        return ct
    return rule


# Written as an assignment of its forward value (only its gradient is custom), and kept in the
# graph so that a replayed graph still differentiates it with the custom rule. Its operands are
# the value, the n_args arguments, then the traced residuals of a defvjp(fwd, bwd) rule: as
# operands, they are replayed with the graph at higher orders (a closure would keep stale tracers).
custom_output_p = Primitive("custom_vjp", _custom_output_impl, lambda args, **params: args[0], register=False)
custom_output_p.returns_input = True
custom_output_p.rule_for = _custom_rule_for


def custom_vjp(fun: Callable) -> Callable:
    """Give ``fun`` a hand-written backward rule: ``@td.custom_vjp`` then ``@fun.defvjp``.

    The forward pass is traced as usual (it appears inline in generated code); the rule
    ``rule(g, ans, *args)`` returns one cotangent per argument and is traced into the backward
    pass, where it appears inline too.

    >>> import numpy as np, tracediff as td
    >>> @td.custom_vjp
    ... def log1pexp(x):
    ...     return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    >>> @log1pexp.defvjp
    ... def _(g, ans, x):
    ...     return (g / (1 + np.exp(-x)),)   # the sigmoid, without the forward's kinks
    >>> float(td.grad(lambda x: log1pexp(x))(1000.0))
    1.0

    JAX's spelling works too: ``f.defvjp(fwd, bwd)``, where ``fwd(*args)`` returns
    ``(output, residuals)`` (any pytree) and ``bwd(residuals, g)`` returns one cotangent per
    argument. When differentiating, ``fwd`` computes the output; otherwise ``fun`` does. The
    residuals keep their dependence on the arguments, so higher derivatives differentiate
    ``bwd`` through them.

    >>> @td.custom_vjp
    ... def softplus(x):
    ...     return np.logaddexp(x, 0.0)
    >>> def softplus_fwd(x):
    ...     return np.logaddexp(x, 0.0), 1 / (1 + np.exp(-x))   # the sigmoid is the residual
    >>> softplus.defvjp(softplus_fwd, lambda s, g: (g * s,))
    >>> float(td.grad(td.grad(softplus))(0.0))   # s * (1 - s) at 0
    0.25
    """
    rules: list = []  # [rule] or [fwd, bwd]
    name = _fun_name(fun)

    def wrapped(*args):
        if not rules:
            raise CustomVJPError(f"{name} is a custom_vjp without a rule; add one with @{name}.defvjp")
        if not any(isinstance(a, Tracer) for a in args):
            return fun(*args)
        trace = next(a._trace for a in args if isinstance(a, Tracer))
        start = len(trace.nodes)
        if len(rules) == 2:
            out = _bind_with_residuals(name, *rules, args)
        else:
            from .tracing import no_grad

            with no_grad():  # the forward is recorded, but gradients come from the rule
                value = fun(*args)
            out = custom_output_p.bind(value, *args, rule=rules[0], name=name, n_args=len(args))
        _refuse_captured_gradients(name, trace, start, args)
        return out

    def defvjp(rule: Callable, bwd: Callable | None = None) -> Callable | None:
        """``@f.defvjp`` with ``rule(g, ans, *args)``, or JAX's ``f.defvjp(fwd, bwd)``."""
        for what, given in (("rule" if bwd is None else "fwd", rule), ("bwd", bwd)):
            if given is not None and not callable(given):
                raise TypeError(f"{name}.defvjp: {what} must be a function, got {type(given).__name__}")
        rules[:] = [rule] if bwd is None else [rule, bwd]
        return rule if bwd is None else None

    wrapped.defvjp = defvjp
    wrapped.__name__ = getattr(fun, "__name__", "custom")
    wrapped.__wrapped__ = fun
    return wrapped


def _refuse_captured_gradients(name: str, trace, start: int, args: tuple) -> None:
    """Raise if the forward recorded from ``start`` read a value being differentiated that is
    not one of ``args`` nor computed from them alone (a closure, a global): the rule gives
    cotangents to the arguments only, so that value's gradient through ``name`` would be lost."""
    allowed = {a._var.id for a in args if isinstance(a, Tracer) and a._trace is trace}
    inside = {n.out.id for n in trace.nodes[start:] if n.out is not None}
    producers: dict = {}  # filled on first need: a loop of calls must not rescan the whole trace
    known: dict = {}

    def from_arguments(v) -> bool:  # (values computed earlier from the arguments, merged by CSE)
        if v.id in allowed or not v.requires_grad:
            return True
        if v.id not in known:
            if not producers:
                producers.update((n.out.id, n) for n in trace.nodes[:start] if n.out is not None)
            node = producers.get(v.id)
            known[v.id] = node is not None and all(from_arguments(u) for u in node.inputs if isinstance(u, Var))
        return known[v.id]

    for node in trace.nodes[start:]:
        for v in node.inputs:
            if isinstance(v, Var) and v.id not in inside and not from_arguments(v):
                what = f"'{v.name}'" if v.name else "a value"
                raise CustomVJPError(
                    f"{name} reads {what}, which is being differentiated, from outside its arguments "
                    f"(a closure or a global){_where()}. Its custom rule gives cotangents to the "
                    f"arguments only, so that value's gradient through {name} would be lost: pass it "
                    f"as an argument of {name} (and return its cotangent from the rule)."
                )


def _bind_with_residuals(name: str, fwd: Callable, bwd: Callable, args: tuple):
    """The output of ``fwd(*args)``, whose gradient is ``bwd(residuals, g)``."""
    from .pytree import flatten, unflatten

    result = fwd(*args)
    if not (isinstance(result, tuple) and len(result) == 2):
        what = f"a tuple of {len(result)} items" if isinstance(result, tuple) else "one value"
        raise CustomVJPError(
            f"the fwd function of {name} returned {what}; it must return a pair (output, residuals), "
            "the residuals being what bwd(residuals, g) needs"
        )
    value, residuals = result
    leaves, tree = flatten(residuals)
    traced = [isinstance(leaf, Tracer) for leaf in leaves]
    constants = [None if t else leaf for leaf, t in zip(leaves, traced)]  # no tracer kept in the closure

    def rule(g, ans, *inputs):
        given = iter(inputs[len(args):])
        return bwd(unflatten(tree, [next(given) if t else c for t, c in zip(traced, constants)]), g)

    dynamic = [leaf for leaf, t in zip(leaves, traced) if t]
    return custom_output_p.bind(value, *args, *dynamic, rule=rule, name=name, n_args=len(args))
