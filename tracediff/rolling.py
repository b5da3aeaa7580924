"""Loop rolling: runs of iterations that did the same thing, found in one function's node list.

Tracing unrolls the user's Python loops, so a 1,000-step simulation is 1,000 copies of its body
in the IR. The IR keeps them (reverse mode, the passes and higher order work on it), but codegen
writes such a run as one Python ``for`` loop, so that the generated source does not grow with the
trip count. This module only finds the runs; codegen.py writes them.

A run is ``count`` >= MIN_BLOCKS consecutive blocks of ``period`` nodes, where every block does
the same as the one before (under the same user's names) on operands that stand in the same
relation to it. Each operand of the
node at offset ``o`` of block ``j`` is in one class, the same for every block of the run:

* ``("inv", key)``: the same Var defined before the run (or a parameter), or the same Literal;
* ``("int", q)``: the output of offset ``q < o`` of the same block;
* ``("carry", q)``: the output of offset ``q`` of the previous block; in block 0 that operand is
  some value defined before the run (the initial value, the same for every use of ``q``);
* ``("iter", loop, q, a, b)``: the output of offset ``q`` of iteration ``a*j + b`` of an earlier
  run (the backward pass reads the forward pass's values in reverse order);
* ``("row", key, a, b)``: row ``a*j + b`` of one array (``key``: its id), a constant computed
  while tracing as ``data[t]`` of an array read from outside (see ``row_of``).

Parameters must be equal, but for the plain ints of a static index and the int bounds of its
slices (``xs[t]``, ``xs[t:t + 2]``), which may move by a fixed step: after a node's operands, its row
then holds ``("ints", steps, starts)``. (The result's shape is in the signature, so a slice that
moves keeps its length in every rolled iteration.)

Anything else (a value two blocks back, different parameters, a shape that changes) ends the run.
When unsure the detector does not roll: a wrong gradient is worse than long code.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .ir import Literal, Var, operand_key, typed_key
from .switches import large_at, roll_at

# Primitives whose static index may hold ints that move with the iteration (``xs[t]``): codegen
# writes each such int through py_literal, which takes the counter's expression in its place.
_INDEXED = frozenset({"getitem", "scatter_add", "setitem", "winners"})
_MOVING = object()  # such an int, in a signature
MIN_BLOCKS = 4  # fewer iterations than this stay unrolled (the default of switches.roll_at)
_CANDIDATES = 8  # periods tried at one position: distances to the next few nodes like it


@dataclass(eq=False)
class Loop:
    """``count`` iterations of ``nodes`` (the template block: the run's second block)."""

    count: int
    nodes: list  # Node: the template block, whose outputs name the body's values
    classes: list  # per node, per operand: its class (see the module docstring)
    inits: dict  # carried offset q -> the operand its first iteration reads (Var or Literal)
    start: int  # index of the run's first node in the node list it came from
    period: int


def roll(nodes: list, min_blocks: int | None = None, packed: dict | None = None) -> tuple[list, dict]:
    """``nodes`` with each maximal run of at least ``min_blocks`` (default: switches.roll_at())
    isomorphic blocks replaced by a :class:`Loop`, and {var id: (loop, iteration, offset)} for
    every value the runs define. ``packed``: {var id: (key, k)} for parameters that are item k of
    one sequence (td.vjp's residuals), which iterations may read moving with the counter."""
    min_blocks = max(2, min_blocks or roll_at())
    if len(nodes) < min_blocks:
        return list(nodes), {}
    sigs = _signatures(nodes)
    position = {n.out.id: k for k, n in enumerate(nodes) if n.out is not None}
    later: dict = {}  # signature -> the next indices holding it, nearest first
    following = [None] * len(nodes)
    for k in range(len(nodes) - 1, -1, -1):
        chain = later.get(sigs[k], ())
        following[k] = chain
        later[sigs[k]] = (k,) + chain[:_CANDIDATES - 1]
    in_loop: dict = {}  # var id -> (loop, iteration, offset) for the runs found so far
    result, i = [], 0
    while i < len(nodes):
        found = None
        for j in following[i]:
            period = j - i
            if i + min_blocks * period > len(nodes):
                break
            # (only as many blocks as a run needs: verifying one extends it block by block, so
            # a position that fails costs little however long the repetition goes on)
            blocks = _repeats(sigs, i, period, min_blocks)
            if blocks >= min_blocks:
                found = _verify(nodes, sigs, position, in_loop, i, period, min_blocks, packed or {})
                if found is not None:
                    break
        if found is None:
            result.append(nodes[i])
            i += 1
            continue
        result.extend(nodes[i:found.start])
        result.append(found)
        for t in range(found.count):
            base = found.start + t * found.period
            for q in range(found.period):
                out = nodes[base + q].out
                if out is not None:
                    in_loop[out.id] = (found, t, q)
        i = found.start + found.count * found.period
    return result, in_loop


def _signatures(nodes: list) -> list:
    """A small int per node; equal ints: same primitive, parameters, result type, line and role."""
    ids: dict = {}
    sigs = []
    large = large_at()
    sizes: dict = {}  # shape -> element count
    for k, n in enumerate(nodes):
        try:
            params = n.params
            if n.primitive.name in _INDEXED and _moving(params) is not None:
                params = {**params, "index": with_moving(params["index"], itertools.repeat(_MOVING))}
            key = typed_key(params) if params else ()
            if any((sizes.get(v.shape) or sizes.setdefault(v.shape, math.prod(v.shape))) >= large
                   for v in (n.out, *n.inputs) if isinstance(v, Var)):
                # Nor do large values repeat: a rolled body has none of codegen's memory
                # management (folding, out=, del), and its lists keep every iteration's values.
                raise TypeError
            out = None if n.out is None else (n.out.shape, n.out.dtype)
            back = None if n.backward_of is None else n.backward_of.loc
            # (and the user's name for the value: a loop's iterations assign the same names, where
            # ``a, b, c, d = theta`` makes four like values that no loop made)
            name = None if n.out is None else n.out.name
            sig = (n.primitive, key, out, n.loc, back, len(n.inputs), name)
            sigs.append(ids.setdefault(sig, len(ids)))
        except TypeError:  # parameters that cannot be compared never repeat
            sigs.append(("unique", k))
    return sigs


def _moving(params: dict) -> tuple | None:
    """The plain ints of a node's static index, the bounds of its slices too (``xs[3]``: (3,);
    ``xs[t:t + 2]``: (t, t + 2)), or None when it has none."""
    index = params.get("index")
    if not isinstance(index, tuple):
        return None
    ints = tuple(v for t in index for v in ((t,) if type(t) is int else (t.start, t.stop) if isinstance(t, slice)
                                            else ()) if type(v) is int)
    return ints or None


def with_moving(index: tuple, values) -> tuple:
    """``index`` with its moving ints (those ``_moving`` lists) replaced, in order, by ``values``."""
    def one(t):
        if type(t) is int:
            return next(values)
        if isinstance(t, slice):
            start, stop = (next(values) if type(v) is int else v for v in (t.start, t.stop))
            return slice(start, stop, t.step)
        return t
    return tuple(one(t) for t in index)


def _repeats(sigs: list, start: int, period: int, most: int) -> int:
    """How many (up to ``most``) consecutive blocks of ``period`` signatures from ``start`` equal
    the first."""
    first = sigs[start:start + period]
    blocks = 1
    while blocks < most and _same_block(sigs, first, start + blocks * period):
        blocks += 1
    return blocks


def _same_block(sigs: list, first: list, base: int) -> bool:
    period = len(first)
    return base + period <= len(sigs) and sigs[base] == first[0] and sigs[base:base + period] == first


def _describe(nodes, position, in_loop, start, period, j, packed: dict) -> list | None:
    """Each operand's raw class in block ``j`` of a run from ``start`` (iterations of earlier runs
    by number), or None when an operand reads a block further back than the previous one."""
    base = start + j * period
    rows = []
    for o in range(period):
        row = []
        node = nodes[base + o]
        for v in node.inputs:
            if not isinstance(v, Var):
                of = row_of(v)
                row.append(("inv", _constant_key(v)) if of is None else ("row", id(of[0]), of[1]))
                continue
            p = position.get(v.id)
            if p is None and v.id in packed:  # item k of a packed parameter
                row.append(("row", *packed[v.id]))
            elif p is None or p < start:
                where = in_loop.get(v.id)
                row.append(("inv", ("var", v.id)) if where is None else ("iter", where[0], where[2], where[1]))
            elif p >= base:
                row.append(("int", p - base))
            elif p >= base - period:
                row.append(("carry", p - (base - period)))
            else:
                return None
        if node.primitive.name in _INDEXED:  # after the operands: the ints of a static index
            ints = _moving(node.params)
            if ints is not None:
                row.append(("ints", ints))
        rows.append(row)
    return rows


def _verify(nodes, sigs, position, in_loop, start, period, min_blocks, packed: dict, shifted=False) -> Loop | None:
    """The longest run of isomorphic blocks from ``start`` (or, when the first block differs from
    the others in more than its carried operands, from the next block), or None. The caller has
    checked that the signatures of ``min_blocks`` blocks repeat."""
    first_sigs = sigs[start:start + period]
    if not _same_block(sigs, first_sigs, start + period):
        return None
    one = _describe(nodes, position, in_loop, start, period, 1, packed)
    # (with two blocks, an earlier run's iteration read in them counts as not moving)
    two = _describe(nodes, position, in_loop, start, period, 2, packed) if _same_block(sigs, first_sigs, start + 2 * period) else one
    if one is None or two is None:
        return None
    template = _template(one, two)
    if template is None:
        return None
    count = 2 if two is one else 3
    while _same_block(sigs, first_sigs, start + count * period):
        row = _describe(nodes, position, in_loop, start, period, count, packed)
        if row is None or not _matches(row, template, count):
            break
        count += 1
    if count < min_blocks:
        return None
    first = _describe(nodes, position, in_loop, start, period, 0, packed)
    inits = _inits(nodes, start, period, first, template) if first is not None else None
    if inits is None:
        if count - 1 < min_blocks or shifted:
            return None
        return _verify(nodes, sigs, position, in_loop, start + period, period, min_blocks, packed, shifted=True)
    block = nodes[start + period:start + 2 * period]
    return Loop(count, block, template, inits, start, period)


def _template(one: list, two: list) -> list | None:
    """Classes from blocks 1 and 2: equal, except that an earlier run's iteration may move by a
    fixed step (``("iter", loop, q, a, b)``: iteration ``a*j + b`` in block ``j``)."""
    template = []
    for row1, row2 in zip(one, two):
        if len(row1) != len(row2):
            return None
        out = []
        for c1, c2 in zip(row1, row2):
            if c1[0] == "iter" and c2[0] == "iter" and c1[1] is c2[1] and c1[2] == c2[2]:
                a = c2[3] - c1[3]
                out.append(("iter", c1[1], c1[2], a, c1[3] - a))
            elif c1[0] == "row" and c2[0] == "row" and c1[1] == c2[1]:
                a = c2[2] - c1[2]  # row a*j + b of the same array in block j
                out.append(("row", c1[1], a, c1[2] - a))
            elif c1[0] == "ints" and c2[0] == "ints" and len(c1[1]) == len(c2[1]):
                steps = tuple(y - x for x, y in zip(c1[1], c2[1]))  # index a*j + b in block j
                out.append(("ints", steps, tuple(x - a for x, a in zip(c1[1], steps))))
            elif c1 == c2 and c1[0] != "iter":
                out.append(c1)
            else:
                return None
        template.append(out)
    return template


def _matches(row: list, template: list, j: int) -> bool:
    for got_row, want_row in zip(row, template):
        if len(got_row) != len(want_row):
            return False
        for got, want in zip(got_row, want_row):
            if want[0] == "ints":
                if got[0] != "ints" or got[1] != tuple(a * j + b for a, b in zip(want[1], want[2])):
                    return False
            elif want[0] == "row":
                if got[0] != "row" or got[1] != want[1] or got[2] != want[2] * j + want[3]:
                    return False
            elif want[0] == "iter":
                if got[0] != "iter" or got[1] is not want[1] or got[2] != want[2] or got[3] != want[3] * j + want[4]:
                    return False
            elif got != want:
                return False
    return True


def _inits(nodes, start, period, first, template) -> dict | None:
    """Carried offset -> the value the first block reads for it, when the first block matches the
    template in everything else (and each initial value has the carried value's type)."""
    inits: dict = {}
    for o, (got_row, want_row) in enumerate(zip(first, template)):
        if len(got_row) != len(want_row):
            return None
        for m, (got, want) in enumerate(zip(got_row, want_row)):
            if want[0] != "carry":
                if not _matches([[got]], [[want]], 0):
                    return None
                continue
            if got[0] == "int":
                return None
            operand = nodes[start + o].inputs[m]
            carried = nodes[start + period + want[1]].out
            if want[1] in inits:
                if operand_key(inits[want[1]]) != operand_key(operand):
                    return None
                continue
            if not _same_type(operand, carried):
                return None
            inits[want[1]] = operand
    return inits


def row_of(literal) -> tuple | None:
    """(array, k) when a constant is row k of a larger array: ``data[t]`` of an array read from
    outside the arguments, computed while tracing (a view). Iterations that read rows moving with
    the counter are written ``data[i]``; any other constant stays as it is.

    The tracer saw where a row of an array read from outside came from (``Literal.row``), even
    when that array is itself a view; otherwise a view one level below its base is recognized."""
    if literal.row is not None:
        return literal.row[:2]
    v = literal.value
    base = getattr(v, "base", None)
    if (not isinstance(v, np.ndarray) or not isinstance(base, np.ndarray) or base.ndim != v.ndim + 1
            or base.dtype != v.dtype or base.shape[1:] != v.shape or base.strides[1:] != v.strides
            or not base.strides[0]):
        return None
    k, rest = divmod(v.__array_interface__["data"][0] - base.__array_interface__["data"][0], base.strides[0])
    return (base, k) if not rest and 0 <= k < base.shape[0] else None


SMALL_CONSTANT = 16  # elements: constants this small made afresh in each iteration are one constant


def _constant_key(literal: Literal) -> tuple:
    """Arrays by identity, as everywhere (the user's arrays are held by reference), except small
    unnamed ones equal bit for bit: ``np.ones(3) * 0.1`` computed again in each iteration of a
    loop while tracing is one constant of the rolled body. Arrays read directly from outside
    (named) stay by identity; an unnamed one the user holds is in a container, whose contents are
    never watched (docs/control-flow.md)."""
    value = literal.value
    if isinstance(value, np.ndarray) and value.size <= SMALL_CONSTANT and literal.name is None:
        return ("small array", value.dtype.str, value.shape, value.tobytes())
    return operand_key(literal)


def _same_type(operand, var: Var) -> bool:
    if isinstance(operand, Var):
        return tuple(operand.shape) == tuple(var.shape) and operand.dtype == var.dtype
    value = operand.value if isinstance(operand, Literal) else operand
    return np.shape(value) == tuple(var.shape) and np.asarray(value).dtype == var.dtype
