"""Gradients of numerically stable idioms, taken as a whole.

Stable formulas are written the long way round, and their operation-by-operation derivative
carries terms that cancel in exact arithmetic yet still cost NumPy calls:

- **the logsumexp shift**: ``m + log(sum(exp(x - m)))``, and the log-softmax
  ``s - log(sum(exp(s)))`` with ``s = x - m``, do not depend on ``m`` at all (when ``m`` is
  constant along the summed axes). Differentiated rule by rule, ``m`` gets a gradient that is
  zero up to rounding, and when ``m`` is ``np.max(x)`` it is then spread over the maxima with a
  tie mask. Here both edges into ``m`` are dropped.
- **softplus**: ``maximum(z, 0) + log1p(exp(-abs(z)))`` (or ``log(1 + exp(-abs(z)))``) is
  ``logaddexp(0, z)``, whose derivative is ``sigmoid(z)``; rule by rule it is
  ``(1 + sign(z))/2 - sign(z) * e / (1 + e)``. Here the two terms' gradients are replaced by
  one, ``g * sigmoid(z)``, written on the ``log1p`` (or ``log``).

Only the gradient changes, never the forward value, and only where the structure proves the
replacement exact: every intermediate of the idiom is used by the idiom alone, the shapes line
up, and (for softplus) both terms reach the same sum with the same sign, so that they receive the
same cotangent. Anything else gets the ordinary rules. The result differs from the rule-by-rule
gradient by rounding only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir import Literal, Var, uses_of


@dataclass
class GradientPlan:
    """What reverse mode does differently on one forward trace.

    ``cancelled`` holds ``(node index, input index)`` edges that pass no gradient. ``fused`` maps a
    node index to ``(var, rule, reads)``: that node's gradient goes to ``var`` as
    ``rule(g, *forward values of reads)`` instead of through its own rules.
    """
    cancelled: set = field(default_factory=set)
    fused: dict = field(default_factory=dict)


def plan(nodes: list, outputs: list, wanted: set) -> GradientPlan:
    """Find the idioms of a forward trace (``nodes``) whose ``outputs`` get cotangents; vars in
    ``wanted`` have their own cotangents read, so their values must stay exact."""
    graph = _Uses(nodes, outputs, wanted)
    result = GradientPlan()
    for index, node in enumerate(nodes):
        name = node.primitive.name
        if name in ("add", "subtract"):
            _logsumexp_shift(graph, index, result)
        elif name in ("log1p", "log"):
            _softplus(graph, index, result)
    return result


class _Uses:
    def __init__(self, nodes, outputs, wanted):
        self.nodes = nodes
        self.index = {n.out.id: i for i, n in enumerate(nodes) if n.out is not None}
        self.uses = uses_of(nodes)
        self.pinned = set(wanted) | {v.id for v in outputs}

    def producer(self, v, name: str):
        """The node that made ``v`` and its index, if it is a ``name`` node."""
        if not isinstance(v, Var) or v.id not in self.index:
            return None, None
        i = self.index[v.id]
        node = self.nodes[i]
        return (node, i) if node.primitive.name == name else (None, None)

    def only_use(self, v):
        """``(node index, input index)`` of the one use of ``v``, or None if it has several
        uses or its own cotangent is asked for."""
        uses = self.uses.get(v.id, [])
        return uses[0] if len(uses) == 1 and v.id not in self.pinned else None


def _strip(shape: tuple) -> tuple:
    """A shape without its leading 1s: two shapes equal so broadcast the same way."""
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


# --- the logsumexp shift ----------------------------------------------------------------------

_MEANS = ("sum", "mean")  # log(mean(exp(x - m))) + m is as free of m as the sum


def _log_of_sum_of_exp(graph, v, use: tuple):
    """For ``v = log(sum(exp(d)))`` whose one use is ``use`` and whose every intermediate is used
    only by the next: ``(d, reduction node, index of the exp node)``."""
    log_node, li = graph.producer(v, "log")
    if log_node is None or graph.only_use(v) != use:
        return None, None, None
    total = log_node.inputs[0]
    reduce_node, ri = next(((n, i) for n, i in (graph.producer(total, r) for r in _MEANS) if n), (None, None))
    if reduce_node is None or graph.only_use(total) != (li, 0):
        return None, None, None
    exp_node, ei = graph.producer(reduce_node.inputs[0], "exp")
    if exp_node is None or graph.only_use(reduce_node.inputs[0]) != (ri, 0):
        return None, None, None
    return exp_node.inputs[0], reduce_node, ei


def _summed_axes(reduce_node, ndim: int) -> set:
    axis = reduce_node.params.get("axis")
    return set(range(ndim)) if axis is None else {a % ndim for a in axis}


def _constant_along(m, x, axes: set) -> bool:
    """``x - m`` keeps ``x``'s shape and ``m`` takes one value along every axis in ``axes``."""
    shape, xshape = m.shape, x.shape
    if len(shape) > len(xshape) or np.broadcast_shapes(shape, xshape) != xshape:
        return False
    aligned = (1,) * (len(xshape) - len(shape)) + tuple(shape)
    return all(aligned[a] == 1 for a in axes)


def _expands(graph, m1, m2) -> bool:
    """``m1`` is ``m2`` or ``m2`` with unit axes inserted (``m[:, None]``, a reshape)."""
    if isinstance(m1, Var) and isinstance(m2, Var) and m1.id == m2.id:
        return True
    for name in ("getitem", "reshape"):
        node, _ = graph.producer(m1, name)
        if node is None or not (isinstance(node.inputs[0], Var) and node.inputs[0].id == m2.id):
            continue
        if name == "getitem":
            index = node.params.get("index")
            index = index if isinstance(index, tuple) else (index,)
            if not all(i is None or i == slice(None) for i in index):
                return False
        return [n for n in m1.shape if n != 1] == [n for n in m2.shape if n != 1]
    return False


def _logsumexp_shift(graph, index: int, result: GradientPlan) -> None:
    node = graph.nodes[index]
    subtract = node.primitive.name == "subtract"
    for k in (1,) if subtract else (0, 1):  # m - log(...) is not the idiom
        d, reduce_node, ei = _log_of_sum_of_exp(graph, node.inputs[k], (index, k))
        if d is not None:
            break
    else:
        return
    shift = node.inputs[1 - k]
    diff, di = graph.producer(d, "subtract")
    if diff is None or d.id in graph.pinned:
        return
    x, m = diff.inputs
    axes = _summed_axes(reduce_node, len(x.shape))
    if not (isinstance(m, Var) and m.requires_grad and _constant_along(m, x, axes)):
        return
    keepdims = reduce_node.params.get("keepdims")
    if not subtract:
        # m + log(sum(exp(x - m))): the same m, lined up with the reduced shape as in x - m.
        aligned = (1,) * (len(x.shape) - len(m.shape)) + m.shape
        kept = [n for a, n in enumerate(aligned) if keepdims or a not in axes]
        if (graph.only_use(d) == (ei, 0) and isinstance(shift, Var) and _expands(graph, m, shift)
                and _strip(shift.shape) == _strip(kept)):
            result.cancelled |= {(di, 1), (index, 1 - k)}
    elif isinstance(shift, Var) and shift.id == d.id and keepdims:
        # s - log(sum(exp(s), keepdims=True)) with s = x - m, s used by this idiom alone.
        if sorted(graph.uses.get(d.id, [])) == sorted([(index, 0), (ei, 0)]):
            result.cancelled.add((di, 1))


# --- softplus ---------------------------------------------------------------------------------

def _sum_path(graph, v) -> dict:
    """The sums ``v`` reaches as a term: {var id of each add/subtract/negative above it, with the
    same shape, through single uses: the sign ``v`` has in it}."""
    path, sign = {}, 1
    while True:
        use = graph.only_use(v)
        if use is None:
            return path
        node = graph.nodes[use[0]]
        name = node.primitive.name
        if name not in ("add", "subtract", "negative") or node.out.shape != v.shape:
            return path
        sign = -sign if name == "negative" or (name == "subtract" and use[1] == 1) else sign
        path[node.out.id] = sign
        v = node.out
        if v.id in graph.pinned:
            return path


def _is_scalar(v, x) -> bool:
    """``v`` is the constant number ``x`` (not an array of it, not a bool)."""
    return (isinstance(v, Literal) and np.ndim(v.value) == 0 and not isinstance(v.value, (bool, np.bool_))
            and v.value == x)


def _one_plus(graph, v, owner: int):
    """``u`` for ``v = 1 + u`` (or ``u + 1``) used only at node ``owner``, else None."""
    node, _ = graph.producer(v, "add")
    if node is None or graph.only_use(v) != (owner, 0):
        return None
    return next((node.inputs[1 - k] for k in (0, 1) if _is_scalar(node.inputs[k], 1)), None)


def _softplus(graph, index: int, result: GradientPlan) -> None:
    log1p_node = graph.nodes[index]  # log1p(e), or log(1 + e)
    e = log1p_node.inputs[0] if log1p_node.primitive.name == "log1p" else _one_plus(graph, log1p_node.inputs[0], index)
    exp_node, _ = graph.producer(e, "exp")
    neg_node, _ = graph.producer(exp_node.inputs[0] if exp_node else None, "negative")
    abs_node, _ = graph.producer(neg_node.inputs[0] if neg_node else None, "abs")
    if abs_node is None or not isinstance(abs_node.inputs[0], Var):
        return
    z = abs_node.inputs[0]
    if not z.requires_grad or {exp_node.out.id, neg_node.out.id, abs_node.out.id} & graph.pinned:
        return
    for mi, k in graph.uses.get(z.id, []):
        relu = graph.nodes[mi]
        if relu.primitive.name != "maximum" or not _is_scalar(relu.inputs[1 - k], 0):
            continue
        if (mi, k) in result.cancelled:
            continue  # this maximum is already the other half of an earlier softplus term
        if not relu.out.dtype == log1p_node.out.dtype == z.dtype:
            continue  # maximum(z32, np.float64(0)) is float64: the two cotangents differ in rounding
        relu_path, log_path = _sum_path(graph, relu.out), _sum_path(graph, log1p_node.out)
        if any(relu_path[s] == log_path[s] for s in relu_path.keys() & log_path.keys()):
            # Both terms reach one sum with one sign: they get the same cotangent, and the sum
            # of their gradients is the derivative of logaddexp(0, z).
            result.cancelled.add((mi, k))
            result.fused[index] = (z, _sigmoid_times, (z, exp_node.out))
            return


def _sigmoid_times(g, z, e):
    # sigmoid(z) from e = exp(-|z|), which the forward pass has: 1 / (1 + e) for z >= 0 and
    # e / (1 + e) below. No exp overflows (1 / (1 + exp(-z)) would at z < -709), every value
    # keeps its relative accuracy, and +-inf give 1 and 0. np.logaddexp would be as exact but is
    # some 20 times slower than these vectorized calls.
    return g * np.exp(np.minimum(z, 0)) / (1 + e)
