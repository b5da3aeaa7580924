"""Checkpointing: a block whose intermediates the backward pass recomputes instead of keeping.

Reverse mode reads forward values in the backward pass (``cos(x)`` for ``sin``'s rule), so every
value a rule needs stays alive from the forward pass until its rule runs: on a deep chain of
large arrays that is the peak memory. ``td.checkpoint(block)`` trades compute for it. The block is
traced as usual, and the trace remembers which nodes it made. When reverse mode reaches the
block, it first records the block's forward nodes again, from the block's inputs, and the block's
rules read those recomputed values. In the generated code the block's intermediates are dead
after the forward pass (and freed, see codegen's ``del``); only the block's inputs and outputs
stay, and the block runs twice.

The recomputation starts from ``recompute(x)`` of each input, an identity no pass looks
through, so that common-subexpression elimination does not merge it back into the forward
pass. Random draws inside the block are not drawn again: the recomputation reuses them (they
are kept, like inputs). Guards are not checked twice.
"""
from __future__ import annotations

import functools
from typing import Callable

from .ir import Var
from .primitives.core import Primitive, defvjp, rebind
from .tracing import Tracer, current_trace

# Written as a plain assignment: only the graph needs to see it as a new value.
recompute_p = Primitive("recompute", lambda x: x, lambda args: args[0])
recompute_p.returns_input = True
defvjp(recompute_p, lambda g, ans, x: g)


def checkpoint(fun: Callable) -> Callable:
    """``fun`` as a block whose intermediates the backward pass recomputes instead of keeping:
    less peak memory for one more run of ``fun``. Outside a differentiated function it is ``fun``.

    >>> import numpy as np, tracediff as td
    >>> @td.checkpoint
    ... def block(x):
    ...     return np.sin(np.sin(x))
    >>> float(td.grad(lambda x: np.sum(block(x)))(0.0))
    1.0
    """
    @functools.wraps(fun)
    def checkpointed(*args, **kwargs):
        trace = current_trace()
        if trace is None:
            return fun(*args, **kwargs)
        first = len(trace.nodes)
        out = fun(*args, **kwargs)
        if len(trace.nodes) > first:
            trace.checkpoints.append((first, len(trace.nodes)))
        return out

    return checkpointed


class Recomputation:
    """The forward values reverse mode reads: recomputed ones inside checkpointed blocks (once
    the backward pass reaches the block), the forward pass's own elsewhere."""

    def __init__(self, trace):
        self.trace = trace
        self.pending = list(trace.checkpoints)  # blocks not recomputed yet
        self.values: dict[int, Tracer] = {}

    def value(self, var) -> Tracer:
        known = self.values.get(var.id)
        return self.trace.tracers[var.id] if known is None else known

    def reach(self, index: int) -> None:
        """Reverse mode is about to run the rules of node ``index``: recompute each block that
        holds it and was not recomputed yet (outer blocks first, so inner ones start from them)."""
        for block in sorted(b for b in self.pending if b[0] <= index < b[1]):
            self.pending.remove(block)
            self._recompute(*block)

    def _recompute(self, first: int, end: int) -> None:
        nodes = self.trace.nodes[first:end]
        made = {node.out.id for node in nodes if node.out is not None}
        starts: dict[int, Tracer] = {}
        for node in nodes:
            if node.out is None:  # a guard: it held in the forward pass
                continue
            if node.primitive.effectful:  # a random draw: the same draw, kept
                self.values[node.out.id] = self.trace.tracers[node.out.id]
                continue
            args = []
            for v in node.inputs:
                if not isinstance(v, Var):  # a constant operand
                    args.append(v.value)
                elif v.id in made:
                    args.append(self.value(v))
                else:  # an input of the block
                    if v.id not in starts:
                        starts[v.id] = recompute_p.bind(self.value(v))
                    args.append(starts[v.id])
            self.trace.in_user_code = True  # constant operands are the user's, as when traced
            try:
                out = rebind(node, args)
            finally:
                self.trace.in_user_code = False
            if isinstance(out, Tracer):
                node.out.recomputed_as = out._var
                if out._var.name is None:
                    out._var.name = node.out.name  # the same value, under the same name
            self.values[node.out.id] = out
