"""Graphs as pictures: an IR graph in Graphviz's DOT language, and rendered to an image.

One box per value, as in the seed tutorials' pictures of a graph: the inputs are the leaves
(blue), the values computed from them are intermediates (grey, labelled with the operation that
made them), the returned values are the outputs (green). A value that carries no gradient (a
constant, a detached copy) has a dashed border; constants that are not values of the graph
(``2`` in ``x ** 2``) are small plain labels; guards are diamonds. For a gradient's graph
(``g.ir(*args).to_dot()``) the backward pass is drawn in a box of its own.
"""
from __future__ import annotations

import os

import numpy as np

from .ir import Graph, Literal, Var, printable

COLORS = {"input": "#cfe2ff", "intermediate": "#eeeeee", "output": "#c7efc2", "guard": "#ffe3b3",
          "backward": "#fde2e4"}


def _quote(text: str) -> str:
    """A DOT string: the user's text can neither end it nor use DOT's escapes (``\\l``)."""
    text = printable(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _label(*lines: str) -> str:
    """A label of several lines (DOT's ``\\n``), each quoted."""
    return '"' + "\\n".join(_quote(line)[1:-1] for line in lines if line) + '"'


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return repr(Literal(value))
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def to_dot(graph: Graph, title: str | None = None) -> str:
    """The graph in the DOT language (see the module docstring for what the shapes mean)."""
    names = dict(zip((v.id for v in graph.inputs), graph.input_names))
    outputs = {v.id for v in graph.outputs if isinstance(v, Var)}
    lines = ["digraph tracediff {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [color="#555555"];']
    if title:
        lines += [f"  label={_quote(title)};", "  labelloc=t;"]

    def node_line(var: Var, kind: str, op: str | None, backward: bool = False) -> str:
        name = names.get(var.id) or var.name
        first = f"{name} = {op}" if op and name else (op or name or repr(var))
        role = {"input": "input (leaf)", "output": "output"}.get(kind, "")
        label = _label(first, f"{var!r}: {var.type_str}", role)
        shape = "box" if kind in ("input", "output") else "ellipse"
        style = ["filled"] + (["rounded"] if kind == "input" else []) + ([] if var.requires_grad or kind == "output" else ["dashed"])
        if kind == "output":
            style.append("bold")
        color = COLORS["backward"] if backward and kind == "intermediate" else COLORS[kind]
        return f'  v{var.id} [label={label}, shape={shape}, style="{",".join(style)}", fillcolor="{color}"];'

    for v in graph.inputs:
        kind = "output" if v.id in outputs else "input"
        lines.append(node_line(v, kind, None))
    forward, backward = [], []
    constants = 0
    for i, node in enumerate(graph.nodes):
        body = backward if node.backward_of is not None else forward
        if node.out is None:
            target = f"guard{i}"
            label = _label(f"{node.primitive.name} {node.params.get('kind', '')}",
                           f"expects {_short(node.params.get('expected'))}" if "expected" in node.params else "")
            body.append(f'  {target} [label={label}, shape=diamond, style=filled, fillcolor="{COLORS["guard"]}"];')
        else:
            target = f"v{node.out.id}"
            kind = "output" if node.out.id in outputs else "intermediate"
            body.append(node_line(node.out, kind, node.primitive.name, node.backward_of is not None))
        for position, operand in enumerate(node.inputs):
            if isinstance(operand, Var):
                body.append(f"  v{operand.id} -> {target};")
            else:
                constants += 1
                body.append(f'  c{constants} [label={_label(_short(operand.value))}, shape=plain, fontsize=9];')
                body.append(f"  c{constants} -> {target} [style=dotted];")
    lines += forward
    if backward:
        lines += ["  subgraph cluster_backward {", '    label="backward pass";', "    style=dashed;",
                  '    color="#999999";']
        lines += [f"  {line}" for line in backward if "->" not in line]
        lines.append("  }")
        lines += [line for line in backward if "->" in line]
    for v in graph.outputs:
        if isinstance(v, Literal):
            constants += 1
            lines.append(f'  c{constants} [label={_label(_short(v.value) + " (output)")}, shape=box, '
                         f'style="filled,bold", fillcolor="{COLORS["output"]}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Graph, path, title: str | None = None) -> str:
    """Write a picture of ``graph`` to ``path`` (format from the suffix: .png, .svg, .pdf, ...)."""
    try:
        import graphviz
    except ImportError:
        raise RuntimeError(
            "Graph.render needs the optional 'graphviz' Python package and Graphviz's 'dot' program: "
            "pip install graphviz, and install Graphviz (e.g. apt-get install graphviz, brew install "
            "graphviz). graph.to_dot() gives the DOT text without them."
        ) from None
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    source = graphviz.Source(to_dot(graph, title))
    try:
        written = source.render(outfile=path, format=fmt, cleanup=True)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(
            "Graph.render found the 'graphviz' package but not Graphviz's 'dot' program: install "
            "Graphviz (e.g. apt-get install graphviz, brew install graphviz) and put dot on PATH. "
            "graph.to_dot() gives the DOT text without it."
        ) from None
    return os.fspath(written)
