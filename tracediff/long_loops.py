"""Long loops: a gradient built from a few of a loop's iterations, its counts then moved on.

Tracing unrolls a 10,000-step simulation into 10,000 copies of its loop's body, and reverse
mode, the passes and codegen each walk every copy. Yet the source they end with does not grow
with the trip count: codegen rolls the copies into ``for`` loops (rolling.py), and only integers
in the code depend on the count (``range(9998)``, ``x_steps[9996 - i]``, ``[None] * 9998``).

So when the forward trace (of at least MIN_NODES nodes) holds a run of like iterations (found by
rolling.py, as codegen finds them) of at least ``switches.long_loop_at()`` iterations, the
gradient is built from copies of the trace that keep only ``k``, ``k + 1`` and ``k + 2`` of the
run's iterations (``k`` is twice ``roll_at``). The nodes after the run read the last kept iteration's values in place of the real
last iteration's, and so does the function's result: each such copy is the function with its
loop run ``s`` times, for ``s`` kept iterations, and with ``s`` equal to the real count it is the
trace itself. When the three sources are the same token for token but for integers that move by
a fixed step from each to the next (and digits in comments), the source for the real count has
those integers moved on to it; several runs each move their own integers (one build more per run,
with that run's count alone raised). Otherwise, or when the copies would not save much, the
gradient is built from the whole trace, as without this.

This is an inference checked at three points, not a proof: it holds because what each stage does
to one iteration of a rolled run does not depend on how many iterations follow. The differential
fuzzer builds every program's gradient both ways (``long_loop_at`` lowered so that its short
loops are long) and requires the same numbers to the last bit; the tests do the same for longer
simulations.

Not built this way: traces with ``td.checkpoint`` blocks or values of an enclosing trace (a
gradient inside another), a run whose middle iterations are read after it (beyond its first and
last ``k // 2``), gradients whose backward pass records a guard (its value would come from the
shortened trace), specializations whose graph is interpreted (a gradient called on tracers, as in
higher order) or shown (``.ir()``): those get the whole graph. So do ``td.vjp``, ``td.jacobian``
and Dask or CuPy arguments, which do not call this (api.GradFunction does).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import tokenize
from dataclasses import dataclass

from .ir import Node, Var
from .rolling import Loop, roll
from .switches import LONG_LOOP_AT, enabled, long_loop_at, roll_at

MAX_RUNS = 3  # runs built from a few iterations at once (each costs two more small builds)
# Forward traces shorter than this are built whole: that takes a few milliseconds, less than three
# small builds and finding the runs (measured: 10 ms against 12 at 300 nodes, 17 against 15 at 600).
MIN_NODES = 400
_DIGITS = re.compile(r"\d+")


@dataclass
class Plan:
    """The runs of ``nodes`` to shorten, in order, and ``keep``: the iterations kept of each."""

    nodes: list  # the forward trace's nodes
    runs: list  # Loop
    keep: int

    def shortened(self, sizes: list) -> tuple[list, dict]:
        """The nodes with ``sizes[r]`` iterations of run ``r`` kept (copies: the passes change
        nodes in place), and {var id: Var} for the values of each run's last ``keep // 2``
        iterations: the same values of the last iterations kept."""
        nodes, tail, same = self.nodes, self.keep // 2, {}
        for run, s in zip(self.runs, sizes):
            for t in range(run.count - tail, run.count):
                for q in range(run.period):
                    out = nodes[run.start + t * run.period + q].out
                    if out is not None:
                        same[out.id] = nodes[run.start + (s - run.count + t) * run.period + q].out
        kept, position = [], 0
        for run, s in zip(self.runs, sizes):
            kept += nodes[position:run.start + s * run.period]
            position = run.start + run.count * run.period
        kept += nodes[position:]
        copies = [Node(n.primitive, [same.get(v.id, v) if isinstance(v, Var) else v for v in n.inputs],
                       dict(n.params), n.out, n.loc, n.backward_of) for n in kept]
        return copies, same


def plan(trace, returned: list) -> Plan | None:
    """Which runs of ``trace`` to build from a few iterations (``returned``: the Vars the
    function's result holds), or None."""
    if not enabled("long_loops") or trace.checkpoints or trace.lifted or trace.parent is not None:
        return None
    keep = 2 * roll_at()
    least = max(long_loop_at(), keep + 3)
    testing = long_loop_at() < LONG_LOOP_AT  # (the fuzzer's short loops: build them so whatever the cost)
    nodes = trace.nodes
    if len(nodes) < (least if testing else max(least, MIN_NODES)):
        return None
    entries, in_loop = roll(nodes)
    runs = [e for e in entries if isinstance(e, Loop) and e.count >= least]
    if not runs:
        return None
    runs = _read_at_the_ends(runs, nodes, in_loop, returned, keep // 2)
    # Each run costs two builds more: take the longest ones while the builds stay small.
    runs.sort(key=lambda run: run.count * run.period, reverse=True)
    best, least_cost = [], 0.8 * len(nodes)  # (finding the runs cost something too)
    for n in range(1, min(MAX_RUNS, len(runs)) + 1):
        chosen = runs[:n]
        kept = len(nodes) - sum((run.count - keep - 2) * run.period for run in chosen)
        cost = (1 + 2 * n) * kept
        if cost < least_cost or testing:
            best, least_cost = chosen, cost
    if not best:
        return None
    return Plan(nodes, sorted(best, key=lambda run: run.start), keep)


def _read_at_the_ends(runs: list, nodes: list, in_loop: dict, returned: list, ends: int) -> list:
    """The runs whose iterations are read from outside them only in their first and last
    ``ends`` iterations (by later nodes, or in the function's result)."""
    candidates = {id(run): run for run in runs}
    spans = sorted((run.start, run.start + run.count * run.period, run) for run in runs)
    refused: set = set()

    def check(v, inside):
        where = in_loop.get(v.id) if isinstance(v, Var) else None
        if where is None or id(where[0]) not in candidates or where[0] is inside:
            return
        run, t = where[0], where[1]
        if ends <= t < run.count - ends:
            refused.add(id(run))

    k = 0
    for start, stop, run in spans + [(len(nodes), len(nodes), None)]:
        for node in nodes[k:start]:  # between runs
            for v in node.inputs:
                check(v, None)
        if run is not None:
            for node in nodes[start:stop]:
                for v in node.inputs:
                    check(v, run)
        k = stop
    for v in returned:
        check(v, None)
    return [run for run in runs if id(run) not in refused]


@contextlib.contextmanager
def _shortened(trace, nodes: list):
    """``trace`` holding ``nodes`` while reverse mode records into it; afterwards as it was."""
    saved = trace.nodes, trace._computed, trace._checked
    n_tracers = len(trace.tracers)
    defined = trace.input_ids | {n.out.id for n in nodes if n.out is not None}
    # (an operation merged while recording must be one of these nodes, not a dropped iteration's)
    trace._computed = {key: var for key, var in saved[1].items() if var.id in defined}
    trace._checked = set(saved[2])
    trace.nodes = nodes
    try:
        yield
    finally:
        trace.nodes, trace._computed, trace._checked = saved
        del trace.tracers[n_tracers:]


def build(trace, returned: list, make):
    """``make(value_of)``'s (graph, codegen.Rendered) for the whole trace, built from copies of it
    with a few iterations of each long run (see the module docstring), and a line saying so for
    ``explain()``; or None when it is not built that way."""
    found = plan(trace, returned)
    if found is None:
        return None
    runs, keep = found.runs, found.keep
    sizes = [[keep] * len(runs)]
    for r in range(len(runs)):
        sizes += [[keep + (d if j == r else 0) for j in range(len(runs))] for d in (1, 2)]
    built = []
    for size in sizes:
        nodes, same = found.shortened(size)

        def value_of(x, same=same):
            var = getattr(x, "_var", None)
            return x if var is None or var.id not in same else trace.tracers[same[var.id].id]

        with _shortened(trace, nodes):
            try:
                built.append(make(value_of))
            except Exception:  # the whole trace's build says what is wrong, if anything is
                return None
    graph, rendered = built[0]
    if any(n.primitive.checks and n.backward_of is not None for n in graph.nodes):
        return None  # a guard of the backward pass, on values of the shortened trace
    others = [r for _, r in built[1:]]
    if any(not _same_namespace(rendered, other) for other in others):
        return None
    shifts = [run.count - keep for run in runs]
    source = moved_on([rendered.source] + [r.source for r in others], shifts)
    header = rendered.source[:len(rendered.source) - len(rendered.functions)]
    if source is None or not source.startswith(header):
        return None
    return (graph, dataclasses.replace(rendered, source=source, functions=source[len(header):]),
            _described(runs, keep))


def _described(runs: list, keep: int) -> str:
    """``built from 8 to 10 iterations of each long loop: 10,000 iterations of sim.py:12-14``."""
    loops = []
    for run in runs:
        lines = sorted({n.loc.lineno for n in run.nodes if n.loc is not None})
        name = next((os.path.basename(n.loc.filename) for n in run.nodes if n.loc is not None), "?")
        where = f"{name}:{lines[0]}" + (f"-{lines[-1]}" if len(lines) > 1 else "") if lines else "?"
        loops.append(f"{run.count:,} iterations of {where}")
    return (f"built from {keep} to {keep + 2} iterations of each long loop, the counts then set "
            f"(long_loops): {'; '.join(loops)}")


def _same_namespace(one, other) -> bool:
    """The same constants (by identity), functions and modules, and as many guards."""
    return (len(one.guards) == len(other.guards)
            and [(k, id(v)) for k, v in one.constants.items()] == [(k, id(v)) for k, v in other.constants.items()]
            and [(k, id(v)) for k, v in one.callables.items()] == [(k, id(v)) for k, v in other.callables.items()]
            and list(one.modules) == list(other.modules))


def moved_on(sources: list, shifts: list) -> str | None:
    """``sources[0]`` with its integers moved on by ``shifts``: ``sources[1 + 2r]`` and
    ``sources[2 + 2r]`` are the same source with run ``r`` one and two iterations longer; an
    integer that moves by ``d`` in them moves by ``d * shifts[r]``. None unless the sources are
    the same tokens but for such integers (digits in comments move the same way).

    >>> moved_on(["for i in range(6):  # 6 steps", "for i in range(7):  # 7 steps",
    ...           "for i in range(8):  # 8 steps"], [9992])
    'for i in range(9998):  # 9998 steps'
    """
    try:
        streams = [list(tokenize.generate_tokens(io.StringIO(s).readline)) for s in sources]
    except (tokenize.TokenError, SyntaxError):
        return None
    if len({len(tokens) for tokens in streams}) != 1:
        return None
    edits = []  # (row, start column, end column, text)
    for tokens in zip(*streams):
        first = tokens[0]
        texts = [t.string for t in tokens]
        if all(text == first.string for text in texts):
            continue
        if any(t.type != first.type for t in tokens):
            return None
        if first.type == tokenize.NUMBER:
            moved = _moved([_integer(text) for text in texts], shifts)
        elif first.type == tokenize.COMMENT:
            moved = _moved_digits(texts, shifts)
        else:
            return None
        if moved is None or first.start[0] != first.end[0]:
            return None
        edits.append((first.start[0], first.start[1], first.end[1], moved))
    lines = sources[0].splitlines(keepends=True)
    for row, start, end, text in reversed(edits):  # (right to left: columns stay valid)
        line = lines[row - 1]
        lines[row - 1] = line[:start] + text + line[end:]
    return "".join(lines)


def _integer(text: str) -> int | None:
    return int(text) if text.isdigit() and (text == "0" or not text.startswith("0")) else None


def _moved(values: list, shifts: list) -> str | None:
    """The integer ``values[0]`` moved on (see moved_on), or None when one of them is not an
    integer, does not move by a fixed step, or would be negative."""
    if any(v is None for v in values):
        return None
    base, total = values[0], values[0]
    for r, shift in enumerate(shifts):
        one, two = values[1 + 2 * r] - base, values[2 + 2 * r] - base
        if two != 2 * one:
            return None
        total += one * shift
    return str(total) if total >= 0 else None


def _moved_digits(texts: list, shifts: list) -> str | None:
    """A comment's digit runs moved on, when the rest of the comment is the same in all."""
    skeletons = [_DIGITS.sub("#", text) for text in texts]
    if any(s != skeletons[0] for s in skeletons):
        return None
    numbers = [_DIGITS.findall(text) for text in texts]
    moved = []
    for column in zip(*numbers):
        if all(n == column[0] for n in column):
            moved.append(column[0])
            continue
        m = _moved([_integer(n) for n in column], shifts)
        if m is None:
            return None
        moved.append(m)
    pieces = _DIGITS.split(texts[0])
    return "".join(p + (moved[i] if i < len(moved) else "") for i, p in enumerate(pieces))
