"""The intermediate representation: a graph of primitive applications over typed variables.

A ``Graph`` prints almost like Python, one line per node; the comment gives the value's name in
the user's code (when one is known), its type and the line that made it::

    v2 = multiply(v0, v1)  # z: f64[3,4]   model.py:12  z = x * w

``graph.to_dot()`` draws it (see dot.py).
"""
from __future__ import annotations

import functools
import linecache
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Var:
    """A value of the graph: its shape and dtype are fixed for one specialization."""

    __slots__ = ("id", "shape", "dtype", "requires_grad", "stopped", "name", "grad_of", "recomputed_as")

    def __init__(self, id: int, shape: tuple, dtype: np.dtype, requires_grad: bool = False):
        self.id = id
        self.shape = shape
        self.dtype = dtype
        self.requires_grad = requires_grad  # depends on a differentiated input through rules
        # Made without a gradient although one flowed into its inputs (stop_gradient, no_grad):
        # replaying the graph into another trace must keep it a constant there too.
        self.stopped = False
        self.name: str | None = None  # a name hint recovered from the user's code, if any
        self.grad_of: Var | None = None  # for a cotangent: the value it is the gradient of
        self.recomputed_as: Var | None = None  # in a td.checkpoint block: the backward pass's copy

    def __repr__(self) -> str:
        return f"v{self.id}"

    @property
    def type_str(self) -> str:
        return type_str(self.shape, self.dtype)


def type_str(shape: tuple, dtype: np.dtype) -> str:
    """Short type notation: ``f64[3,4]``, ``bool[]``, ``i64[5]``."""
    kind = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dtype.kind, dtype.kind)
    bits = "" if kind == "bool" else str(dtype.itemsize * 8)
    return f"{kind}{bits}[{','.join(map(str, shape))}]"


def printable(text: str) -> str:
    """``text`` on one line with nothing a terminal or a parser would act on: control characters,
    line and paragraph separators are written as escapes (for comments, labels and messages)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Literal:
    """A constant operand: a Python scalar, a NumPy scalar or an array captured by reference.

    ``captured`` marks values that came from the user's code (arrays the user may change in
    place): passes must reference them, never fold or rewrite them. ``name`` is the user's name
    for an array read from outside the arguments (``X_train``, ``self.X``), for generated code.
    """

    __slots__ = ("value", "captured", "name", "row")

    def __init__(self, value: Any, captured: bool = False, name: str | None = None):
        self.value = value
        self.captured = captured
        self.name = name
        # (array, k, name) when the value is row k of an array read from outside, ``data[t]``
        # (tracing.CapturedArray): the array itself may be a view (rolling.row_of)
        self.row: tuple | None = None

    @property
    def shape(self) -> tuple:
        """The constant's shape (``()`` for a scalar), so any operand has ``.shape``."""
        return np.shape(self.value)

    def __repr__(self) -> str:
        v = self.value
        if isinstance(v, np.ndarray):
            return f"const<{type_str(v.shape, v.dtype)}>" if v.size > 6 else repr(v.tolist())
        return repr(v)


def operand_key(v) -> tuple:
    """A hashable identity for an operand: Vars by id, arrays by identity, scalars by type and
    repr (so 0.0 and -0.0, or 1 and 1.0, never count as the same constant)."""
    if isinstance(v, Var):
        return ("var", v.id)
    value = v.value if isinstance(v, Literal) else v
    if isinstance(value, np.ndarray):
        return ("array", id(value))
    return ("scalar", type(value), repr(value))


SCAN_LIMIT = 1 << 12  # constants of more elements are never read through by a pass


def uniform_item(array: np.ndarray):
    """The one value ``array`` holds everywhere (a NumPy scalar), or None. A broadcast (every
    axis of length > 1 with stride 0) is seen without reading it; other arrays are read only up
    to SCAN_LIMIT elements (the build's cost must not grow with the user's data), so a larger
    one counts as not uniform."""
    if array.size == 0:
        return None
    first = array[(0,) * array.ndim]
    if all(stride == 0 for stride, n in zip(array.strides, array.shape) if n > 1):
        return first
    if array.size > SCAN_LIMIT:
        return None
    return first if bool(np.all(array == first)) else None


def uses_of(nodes: list) -> dict:
    """{var id: [(node index, operand index), ...]}: where each value is read, in order."""
    uses: dict = {}
    for i, node in enumerate(nodes):
        for k, v in enumerate(node.inputs):
            if isinstance(v, Var):
                uses.setdefault(v.id, []).append((i, k))
    return uses


def typed_key(x, unhashable=None):
    """A hashable key of static parameters with every leaf's type: 1, 1.0, True and
    np.float32(1) are written differently, so they must not share generated code. A leaf that
    cannot be hashed raises TypeError, or is ``unhashable(leaf)`` when that is given."""
    if isinstance(x, dict):
        return ("dict", *sorted((k, typed_key(v, unhashable)) for k, v in x.items()))
    if isinstance(x, (tuple, list)):
        return (type(x).__name__, *(typed_key(v, unhashable) for v in x))
    if isinstance(x, slice):
        return ("slice", typed_key(x.start, unhashable), typed_key(x.stop, unhashable), typed_key(x.step, unhashable))
    if isinstance(x, (float, complex, np.generic)):
        return (type(x).__name__, repr(x))
    try:
        hash(x)
    except TypeError:
        if unhashable is None:
            raise
        return unhashable(x)
    return (type(x), x)


_NO_PARAMS = ("dict",)


def params_key(params: dict):
    """A hashable form of a node's parameters, or None when they cannot be compared."""
    if not params:  # (most primitives: their operands are all there is)
        return _NO_PARAMS

    def hashable(x):
        if isinstance(x, slice):
            return ("slice", x.start, x.stop, x.step)
        if isinstance(x, (tuple, list)):
            return (type(x).__name__, *map(hashable, x))
        if isinstance(x, dict):
            return ("dict", *sorted((k, hashable(v)) for k, v in x.items()))
        if isinstance(x, float):
            return ("float", repr(x))
        hash(x)
        return x

    try:
        return hashable(params)
    except TypeError:
        return None


@dataclass(frozen=True)
class SourceLocation:
    """Where in the user's code a node was made."""

    filename: str
    lineno: int
    text: str

    @classmethod
    def at(cls, filename: str, lineno: int) -> "SourceLocation":
        """The location, with its line's text read from the file (one object per line: a loop
        records the same few lines thousands of times)."""
        return _location_at(cls, filename, lineno)

    def __str__(self) -> str:
        import os

        return f"{os.path.basename(self.filename)}:{self.lineno}"


@functools.lru_cache(maxsize=4096)
def _location_at(cls, filename: str, lineno: int) -> SourceLocation:
    return cls(filename, lineno, linecache.getline(filename, lineno).strip())


@dataclass
class Node:
    """One application of a primitive: ``out = primitive(*inputs, **params)``."""

    primitive: Any
    inputs: list  # Var or Literal
    params: dict
    out: Var | None  # None for nodes run for their effect only (guards)
    loc: SourceLocation | None = None
    backward_of: "Node | None" = None  # for backward nodes: the forward node they differentiate

    def __str__(self) -> str:
        args = [repr(a) for a in self.inputs]
        args += [f"{k}={_param_repr(v)}" for k, v in self.params.items()]
        call = f"{self.primitive.name}({', '.join(args)})"
        line = f"{self.out!r} = {call}" if self.out is not None else call
        notes = [_typed(self.out)] if self.out is not None else []
        if self.loc is not None:
            notes.append(f"{self.loc}  {self.loc.text}".rstrip())
        return printable(f"{line}  # {'   '.join(notes)}" if notes else line)


def _typed(var: Var, name: str | None = None) -> str:
    """``z: f64[3]`` for a var the user's code names, ``f64[3]`` otherwise."""
    name = name or var.name
    return f"{name}: {var.type_str}" if name else var.type_str


def _param_repr(v) -> str:
    if isinstance(v, np.dtype):
        return f"np.{v.name}"
    return repr(v)


@dataclass
class Graph:
    """A traced function: input variables, nodes in execution order and outputs.

    ``str(graph)`` prints one line per node; ``graph.to_dot()`` is a Graphviz picture of it and
    ``graph.render("graph.png")`` draws that picture (with the optional ``graphviz`` package).
    """

    inputs: list
    nodes: list
    outputs: list  # Var or Literal
    input_names: list = field(default_factory=list)

    def __str__(self) -> str:
        names = list(self.input_names) + [None] * (len(self.inputs) - len(self.input_names))
        ins = ", ".join(f"{v!r} {_typed(v, name)}" if (name or v.name) else f"{v!r}: {v.type_str}"
                        for v, name in zip(self.inputs, names))
        lines = [printable(f"graph({ins}):")]
        lines += [f"  {node}" for node in self.nodes]
        lines.append(f"  return {', '.join(repr(o) for o in self.outputs)}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_dot(self, title: str | None = None) -> str:
        """The graph in Graphviz's DOT language: inputs (leaves), intermediates and outputs are
        drawn differently, the backward pass (if any) in a box of its own."""
        from .dot import to_dot

        return to_dot(self, title)

    def render(self, path, title: str | None = None) -> str:
        """Draw the graph into ``path`` (its suffix picks the format: .png, .svg, .pdf); needs the
        ``graphviz`` Python package and Graphviz's ``dot`` program. Returns the path written."""
        from .dot import render

        return render(self, path, title)
