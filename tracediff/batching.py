"""Batching a recorded backward pass: one pass for many cotangents at once.

A Jacobian is the VJP of every unit cotangent. Rather than writing the backward pass out once per
output element, ``td.jacobian`` records it once, from a placeholder cotangent, and then records it
again for a *batch* of cotangents stacked along a new leading axis (the rows of an identity). Each
node that depends on the cotangent is re-recorded by its primitive's batching rule (see
``defbatch``); nodes that do not (forward values the rules read) are shared by every row. The
unbatched nodes are then dead and the passes drop them.

Elementwise primitives need no rule of their own: their batched operands get size-1 axes after the
batch axis so that they broadcast against the others as each entry would. A primitive without a
rule is applied to each entry in turn and the results stacked, written out in the generated code,
at most ``max_rows`` times.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import TracediffError
from .ir import Var
from .primitives.core import Primitive, call, lift, np_attr, py_literal
from .primitives.shape import stack_p
from .tracing import Trace, Tracer


def _units(rows, shape, dtype):
    return np.eye(rows, dtype=dtype).reshape((rows,) + shape)


def _emit_units(args, rows, shape, dtype):
    eye = call(np_attr("eye"), [py_literal(rows)], {"dtype": dtype})
    return eye if shape == (rows,) else call(np_attr("reshape"), [eye, py_literal((rows,) + shape)])


# Every unit cotangent of a value of ``shape``, stacked: the rows of an identity matrix.
units_p = Primitive("units", _units, _emit_units, differentiable=False)


class BatchingError(TracediffError):
    """The backward pass cannot be batched (or could only be written out too many times)."""


def batch_backward(trace: Trace, first: int, seed: Var, results: list, what: str, max_rows: int) -> tuple:
    """Record again the nodes of ``trace`` from ``first`` on that depend on the cotangent ``seed``,
    for all unit cotangents at once. Returns each of ``results`` with the batch axis leading (None
    for one that does not depend on ``seed``: it is zero), and the names of the primitives that
    had to be written out row by row."""
    size = math.prod(seed.shape)
    params = {"rows": size, "shape": seed.shape, "dtype": seed.dtype}
    batched: dict[int, Tracer | None] = {seed.id: None}  # the seeds are made where first used
    per_row: set[str] = set()
    for node in trace.nodes[first:]:
        flags = [isinstance(v, Var) and v.id in batched for v in node.inputs]
        if not any(flags):
            continue
        if batched[seed.id] is None:
            batched[seed.id] = _record_units(trace, params, node.backward_of)
        if node.out is None:
            raise BatchingError(
                f"{what}: a guard in the backward pass depends on the cotangent, so the rows cannot "
                "share one backward pass; use td.vjp for each row"
            )
        args = [batched[v.id] if flag else trace.tracers[v.id] if isinstance(v, Var) else v.value
                for v, flag in zip(node.inputs, flags)]
        with trace.backward_of_node(node.backward_of):
            out = _batch_node(node, args, flags, size, what, max_rows, per_row)
        expected = (size,) + node.out.shape
        if np.shape(out) != expected or out.dtype != node.out.dtype:
            raise AssertionError(
                f"internal error: the batching rule of {node.primitive.name} made "
                f"{out.dtype}{list(np.shape(out))} where {node.out.dtype}{list(expected)} was due; "
                "please report this with the function"
            )
        if out._var.name is None and node.out.name is not None:
            out._var.name = node.out.name
        batched[node.out.id] = out
    if batched[seed.id] is None and any(isinstance(r, Tracer) and r._var.id == seed.id for r in results):
        batched[seed.id] = _record_units(trace, params, None)  # a result is the cotangent itself
    return [batched.get(r._var.id) if isinstance(r, Tracer) else None for r in results], per_row


def _record_units(trace: Trace, params: dict, backward_of) -> Tracer:
    with trace.backward_of_node(backward_of):
        return trace.record(units_p, [], params, _units(**params))


def _batch_node(node, args, flags, size, what, max_rows, per_row):
    prim = node.primitive
    out = None
    if prim.batch is not None:
        out = prim.batch(args, flags, node.out.shape, **node.params)
    elif prim.elementwise:
        ndim = len(node.out.shape)
        out = prim.bind(*(lift(a, f, ndim) for a, f in zip(args, flags)), **node.params)
    if out is not None:
        return out
    if size > max_rows:
        raise BatchingError(
            f"{what}: the backward pass uses {prim.name}, which has no batching rule, so it would "
            f"be written out once per row: {size} rows, more than max_rows={max_rows}. Raise "
            f"max_rows, give {prim.name} a rule with td.defbatch, or use td.vjp for the rows you need"
        )
    per_row.add(prim.name)
    rows = [prim.bind(*(a[i] if f else a for a, f in zip(args, flags)), **node.params) for i in range(size)]
    return stack_p.bind(*rows, axis=0)
