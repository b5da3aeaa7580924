"""Code generation: IR -> Python AST -> source (astor) -> compiled function.

Each statement is built as an AST and rendered with astor; the generator lays the statements
out with comments that say which line of the user's code each block comes from.
"""
from __future__ import annotations

import ast
import itertools
import keyword
import linecache
import os
import re
from dataclasses import dataclass, field

import astor
import numpy as np

from .errors import GuardFailed
from .ir import Literal, Node, Var, type_str
from .primitives.core import py_literal

_module_counter = itertools.count(1)


@dataclass
class FunctionSpec:
    """One generated function: parameters, the nodes it runs, and what it returns."""

    name: str
    params: list  # Var
    nodes: list  # Node
    outputs: list  # Var or Literal
    param_names: list = field(default_factory=list)  # readable names for params, same order


@dataclass
class GeneratedModule:
    source: str
    filename: str
    namespace: dict
    guards: list  # Node, in the order of their guard index

    def function(self, name: str):
        return self.namespace[name]


def safe_identifier(text: str, taken: set) -> str:
    """A valid Python name derived from ``text`` that is not in ``taken`` (which it joins)."""
    name = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or "v"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name) or name in ("np", "GuardFailed") or name.startswith("_c"):
        name += "_"
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


class _Renderer:
    def __init__(self, namespace: dict, guards: list):
        self.namespace = namespace
        self.guards = guards
        self.names: dict[int, str] = {}
        self.constants: dict[int, str] = {}
        self.functions: dict[int, str] = {}
        self.taken: set = set()

    def name_of(self, v) -> ast.expr:
        if isinstance(v, Literal):
            return self.literal(v.value)
        return ast.Name(id=self.names[v.id])

    def literal(self, value) -> ast.expr:
        if isinstance(value, np.ndarray):
            if id(value) not in self.constants:
                name = f"_c{len(self.constants)}"
                self.constants[id(value)] = name
                self.namespace[name] = value  # by reference: in-place changes by the user are seen
            return ast.Name(id=self.constants[id(value)])
        return py_literal(value)

    def bind_name(self, var: Var, hint: str | None = None) -> ast.Name:
        name = safe_identifier(hint or var.name or f"v{len(self.names)}", self.taken)
        self.names[var.id] = name
        return ast.Name(id=name)

    def statements(self, node: Node) -> list:
        args = [self.name_of(v) for v in node.inputs]
        prim = node.primitive
        if prim.name == "guard":
            return [self._guard(node, args[0])]
        params = node.params
        if hasattr(prim, "function"):  # a user primitive: its function lives in the namespace
            params = {**params, "_function_name": self.function_name(prim.function, prim.name)}
        if node.out is None:  # run for its effect only
            return [ast.Expr(prim.emit(args, **params))]
        target = self.bind_name(node.out)
        if prim.emit_statements is not None:
            return prim.emit_statements(target, args, **params)
        return [ast.Assign(targets=[target], value=prim.emit(args, **params))]

    def function_name(self, function, hint: str) -> str:
        if id(function) not in self.functions:
            name = safe_identifier(f"_fn_{hint}", self.taken)
            self.functions[id(function)] = name
            self.namespace[name] = function
        return self.functions[id(function)]

    def _guard(self, node: Node, value: ast.expr) -> ast.stmt:
        index = len(self.guards)
        self.guards.append(node)
        kind, expected = node.params["kind"], node.params["expected"]
        if kind == "bool":
            test = value if not expected else ast.UnaryOp(op=ast.Not(), operand=value)
        else:
            # the same conversion the trace made: int(2.5) == 2 must hold for 2.7 too
            convert = ast.Attribute(value=value, attr="tolist") if kind == "value" else ast.Name(id=kind)
            converted = ast.Call(func=convert, args=[] if kind == "value" else [value], keywords=[])
            test = ast.Compare(left=converted, ops=[ast.NotEq()], comparators=[py_literal(expected)])
        fail = ast.Raise(exc=ast.Call(func=ast.Name(id="GuardFailed"), args=[ast.Constant(index), value], keywords=[]))
        return ast.If(test=test, body=[fail], orelse=[])


def _render(stmt: ast.stmt) -> list[str]:
    return astor.to_source(stmt).rstrip("\n").split("\n")


def _location_comment(node: Node) -> str | None:
    loc = node.loc
    if loc is None:
        return None
    return f"# {os.path.basename(loc.filename)}:{loc.lineno}  {loc.text}".rstrip()


def _function_lines(spec: FunctionSpec, renderer: _Renderer) -> list[str]:
    params = [renderer.bind_name(v, hint).id for v, hint in
              itertools.zip_longest(spec.params, spec.param_names)]
    lines = [f"def {spec.name}({', '.join(params)}):"]
    last_comment = None
    in_backward = False
    for node in spec.nodes:
        if node.backward_of is not None:
            comment = _location_comment(node.backward_of)
            comment = comment and comment.replace("# ", "# grad of: ", 1)
            if not in_backward:
                lines.append("    # --- backward pass ---")
                in_backward = True
        else:
            comment = _location_comment(node)
        if comment and comment != last_comment:
            lines.append(f"    {comment}")
            last_comment = comment
        for stmt in renderer.statements(node):
            lines.extend(f"    {line}" for line in _render(stmt))
    outs = [astor.to_source(ast.Expr(renderer.name_of(v))).strip() for v in spec.outputs]
    lines.append(f"    return {', '.join(outs)}{',' if len(outs) == 1 else ''}")
    return lines


def generate(functions: list[FunctionSpec], title: str) -> GeneratedModule:
    """Render ``functions`` into one module, compile it and register its source for tracebacks."""
    namespace: dict = {"np": np, "GuardFailed": GuardFailed}
    guards: list = []
    renderer = _Renderer(namespace, guards)
    lines = [f"# Generated by tracediff: {title}", "import numpy as np", ""]
    for spec in functions:
        lines += ["", *_function_lines(spec, renderer), ""]
    source = "\n".join(lines).rstrip("\n") + "\n"
    filename = f"<tracediff-{next(_module_counter)}: {title}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return GeneratedModule(source, filename, namespace, guards)


def signature_comment(params: list, names: list) -> str:
    return ", ".join(f"{n}: {type_str(v.shape, v.dtype)}" for v, n in zip(params, names))
