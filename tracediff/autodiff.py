"""Reverse mode: extend a forward trace with the nodes of its backward pass.

Walking the forward nodes from last to first, each node's VJP rules are *run on tracers*, so the
backward pass is recorded into the same trace, made of the same primitives, and compiled by the
same code generator. Cotangents known to be zero are never materialized (they are simply absent);
broadcasting is undone with sums over axes decided from the static shapes.
"""
from __future__ import annotations

import math

import numpy as np

from . import abstract, idioms
from .checkpoint import Recomputation
from .ir import SCAN_LIMIT, Var, uniform_item
from .switches import enabled, large_at
from .primitives.core import Primitive, call, np_attr, py_literal
from .primitives.shape import copy_p
from .tracing import Trace, Tracer


def _full(value, shape, dtype):
    return np.full(shape, value, dtype)


def _emit_full(args, value, shape, dtype):
    name = {0: "zeros", 1: "ones"}.get(value) if not isinstance(value, bool) else None
    if name:
        return call(np_attr(name), [py_literal(shape)], {"dtype": dtype})
    return call(np_attr("full"), [py_literal(shape), py_literal(value)], {"dtype": dtype})


constant_p = Primitive("constant", lambda x: x, differentiable=False)
constant_p.alias = True  # written as the constant itself

# A fresh array each call, so callers may write into the gradients they get back.
full_p = Primitive("full", _full, _emit_full, differentiable=False)


def backward(trace: Trace, outputs: list, cotangents: list, wrt: list[Var]) -> list:
    """Record the backward pass; return the cotangent of each var in ``wrt`` (Tracers).

    ``cotangents`` are the cotangents of ``outputs`` (Tracers or constants).
    """
    forward_nodes = list(trace.nodes)
    first_backward_id = len(trace.tracers)  # vars from here on are made by the backward pass
    wanted = {v.id for v in wrt}
    ct: dict[int, object] = {}
    constants: dict[int, Tracer] = {}
    forward = Recomputation(trace)  # the forward values rules read (recomputed in checkpoints)
    # Stable idioms (logsumexp's shift, softplus) differentiated as a whole, not rule by rule.
    shortcuts = (idioms.plan(forward_nodes, [o._var for o in outputs if isinstance(o, Tracer)], wanted)
                 if enabled("idioms") else idioms.GradientPlan())
    for out, g in zip(outputs, cotangents):
        if isinstance(out, Tracer) and out.requires_grad:
            _accumulate(ct, out._var, g)
    saved = trace.pending_at
    if enabled("shape_only_backward"):
        trace.pending_at = 0 if abstract.CHECK_SHAPES else large_at()
    try:
        _run_rules(trace, forward_nodes, first_backward_id, wanted, ct, constants, forward, shortcuts)
    finally:
        trace.pending_at = saved
    grads = [_materialize(trace, ct.get(v.id), v) for v in wrt]
    for g, v in zip(grads, wrt):
        if g._var.id >= first_backward_id:  # returned for an argument: named after it
            g._var.grad_of = v
            if v.name:
                g._var.name = f"g_{v.name}"
    return grads


def _run_rules(trace, forward_nodes, first_backward_id, wanted, ct, constants, forward, shortcuts):
    """Each forward node's rules, last node first, accumulating cotangents in ``ct``."""
    for index in reversed(range(len(forward_nodes))):
        node = forward_nodes[index]
        if node.out is None or node.out.id not in ct:
            continue
        # A requested cotangent is read at the end; the rest are dropped once passed on.
        g = ct[node.out.id] if node.out.id in wanted else ct.pop(node.out.id)
        with trace.backward_of_node(node):
            forward.reach(index)
            ans = forward.value(node.out)
            if isinstance(g, Tracer) and g._var.id >= first_backward_id and g._var.grad_of is None:
                g._var.grad_of = node.out  # the cotangent of this value is complete here
                if node.out.name and g._var.name is None:
                    g._var.name = f"g_{node.out.name}"
            if index in shortcuts.fused:
                var, rule, reads = shortcuts.fused[index]
                _accumulate(ct, var, rule(g, *[forward.value(v) for v in reads]))
                continue
            args = [forward.value(v) if isinstance(v, Var) else _operand(trace, v.value, constants)
                    for v in node.inputs]
            for i, v in enumerate(node.inputs):
                if not (isinstance(v, Var) and v.requires_grad) or (index, i) in shortcuts.cancelled:
                    continue
                rule = node.primitive.rule(i)
                if rule is None:
                    continue
                g_i = rule(g, ans, *args, **node.params)
                if g_i is not None:
                    _accumulate(ct, v, g_i)


def _operand(trace: Trace, value, constants: dict):
    """A rule's view of a constant operand. Arrays (the user's, captured by reference) become
    constant tracers, so what rules compute from them is recorded, not computed once and baked:
    the generated code then sees in-place changes to them."""
    if not isinstance(value, np.ndarray):
        return value
    if id(value) not in constants:
        constants[id(value)] = trace.record(constant_p, [value], {}, value)
    return constants[id(value)]


def _accumulate(ct: dict, var: Var, g) -> None:
    g = _uniform_as_broadcast(_fit(g, var))
    ct[var.id] = g if var.id not in ct else ct[var.id] + g


def _uniform_as_broadcast(g):
    """A constant cotangent holding one value everywhere (``-1/n`` of a mean, once negated: a
    rule computed it in full) as a broadcast of that value, which the passes write as a scalar,
    rather than an array of the data's length in the generated code (by reference, and in a
    Dask graph, sent with every call). Scanning it costs what making it did."""
    if type(g) is not np.ndarray or g.size <= SCAN_LIMIT or g.dtype.kind not in "fc":
        return g
    first = g.flat[0]
    if uniform_item(g) is None and bool(np.all(g == first)):
        return np.broadcast_to(first, g.shape)
    return g


def _fit(g, var: Var):
    """Sum ``g`` over the axes broadcasting added to ``var``, and cast it to ``var``'s dtype.

    A cotangent whose shape is not a broadcast of the variable's is a broken rule: raise, so
    that no rule's mistake is summed or reshaped away silently.
    """
    shape = np.shape(g)
    if shape != var.shape:
        lead = len(shape) - len(var.shape)
        if np.ndim(g) == 0 and isinstance(g, (int, float)):
            g = np.broadcast_to(g, var.shape)  # a Python scalar stands for a uniform cotangent
        elif lead < 0 or any(n != 1 and n != m for n, m in zip(var.shape, shape[lead:])):
            raise AssertionError(
                f"internal error: a gradient rule returned a cotangent of shape {shape} for a "
                f"value of shape {var.shape}; please report this with the function"
            )
        else:
            axes = tuple(range(lead)) + tuple(
                lead + i for i, n in enumerate(var.shape) if n == 1 and shape[lead + i] != 1)
            g = np.sum(g, axis=axes, keepdims=False) if axes else g
            if np.shape(g) != var.shape:  # the size-1 axes summed away come back
                g = np.reshape(g, var.shape)
    dtype = getattr(g, "dtype", None)
    if dtype is not None and dtype.kind == "c" and var.dtype.kind != "c":
        g = np.real(g)  # a real value's cotangent is the real part (complex intermediates)
        dtype = getattr(g, "dtype", None)
    # Python scalars adapt to any dtype; NumPy's float64 scalar, a float subclass, does not
    if dtype != var.dtype and type(g) not in (int, float):
        g = g.astype(var.dtype) if isinstance(g, Tracer) else np.asarray(g, dtype=var.dtype)
    return g


def record_full(trace: Trace, value, shape: tuple, dtype) -> Tracer:
    """A fresh array of ``value`` recorded in ``trace`` (written ``np.zeros(...)`` and the like)."""
    params = {"value": value, "shape": shape, "dtype": dtype}
    if trace.pending_at is not None and math.prod(shape) >= trace.pending_at:  # (the generated code makes it)
        dtype = np.dtype(dtype)
        return trace.record(full_p, [], params, abstract.Pending(shape, dtype, np.ones((), dtype), full_p, [], params))
    return trace.record(full_p, [], params, _full(value, shape, dtype))


def _materialize(trace: Trace, g, var: Var) -> Tracer:
    """A traced cotangent for ``var``: zeros when none flowed, a fresh array for a constant one."""
    if isinstance(g, Tracer):
        return g
    value = 0 if g is None else g
    if np.ndim(value) and np.all(np.ravel(value) == np.ravel(value)[:1]):
        value = np.ravel(value)[0] if np.size(value) else 0  # a uniform constant, written as its one value
    if np.ndim(value):
        return trace.record(copy_p, [value], {}, np.array(value))
    return record_full(trace, np.asarray(value).item(), var.shape, var.dtype)
