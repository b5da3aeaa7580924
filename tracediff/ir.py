"""The intermediate representation: a graph of primitive applications over typed variables.

A ``Graph`` prints almost like Python, one line per node::

    v2 = multiply(v0, v1)  # f64[3,4]   model.py:12  z = x * w
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Var:
    """A value of the graph: its shape and dtype are fixed for one specialization."""

    __slots__ = ("id", "shape", "dtype", "requires_grad", "name")

    def __init__(self, id: int, shape: tuple, dtype: np.dtype, requires_grad: bool = False):
        self.id = id
        self.shape = shape
        self.dtype = dtype
        self.requires_grad = requires_grad  # depends on a differentiated input through rules
        self.name: str | None = None  # a name hint recovered from the user's code, if any

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


class Literal:
    """A constant operand: a Python scalar, a NumPy scalar or an array captured by reference.

    ``captured`` marks values that came from the user's code (arrays the user may change in
    place): passes must reference them, never fold or rewrite them.
    """

    __slots__ = ("value", "captured")

    def __init__(self, value: Any, captured: bool = False):
        self.value = value
        self.captured = captured

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


def params_key(params: dict):
    """A hashable form of a node's parameters, or None when they cannot be compared."""
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

    def __str__(self) -> str:
        import os

        return f"{os.path.basename(self.filename)}:{self.lineno}"


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
        notes = [self.out.type_str] if self.out is not None else []
        if self.loc is not None:
            notes.append(f"{self.loc}  {self.loc.text}".rstrip())
        return f"{line}  # {'   '.join(notes)}" if notes else line


def _param_repr(v) -> str:
    if isinstance(v, np.dtype):
        return f"np.{v.name}"
    return repr(v)


@dataclass
class Graph:
    """A traced function: input variables, nodes in execution order and outputs.

    ``str(graph)`` prints one line per node.
    """

    inputs: list
    nodes: list
    outputs: list  # Var or Literal
    input_names: list = field(default_factory=list)

    def __str__(self) -> str:
        ins = ", ".join(f"{v!r}: {v.type_str}" for v in self.inputs)
        lines = [f"graph({ins}):"]
        lines += [f"  {node}" for node in self.nodes]
        lines.append(f"  return {', '.join(repr(o) for o in self.outputs)}")
        return "\n".join(lines)

    __repr__ = __str__
