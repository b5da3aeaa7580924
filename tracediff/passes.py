"""Optimizing passes over a Graph. Each takes a Graph and returns a new one."""
from __future__ import annotations

import numpy as np

from .ir import Graph, Literal, Node, Var


def optimize(graph: Graph) -> Graph:
    graph = simplify(scalarize_uniform_constants(graph))
    return fresh_outputs(eliminate_dead_code(eliminate_common_subexpressions(graph)))


def fresh_outputs(graph: Graph) -> Graph:
    """Copy every output that could share memory with an input, a constant or another output,
    so that callers may write into what they get back without touching their own data."""
    from .primitives.shape import copy_p

    producer = {n.out.id: n for n in graph.nodes if n.out is not None}
    input_ids = {v.id for v in graph.inputs}

    def may_alias(v) -> bool:
        if isinstance(v, Literal):
            return isinstance(v.value, np.ndarray)
        if v.id in input_ids:
            return True
        node = producer.get(v.id)
        return node is not None and node.primitive.is_view and may_alias(node.inputs[0])

    next_id = max([v.id for v in graph.inputs] + [n.out.id for n in graph.nodes if n.out is not None],
                  default=-1) + 1
    outputs, seen, nodes = [], set(), list(graph.nodes)
    for v in graph.outputs:
        key = v.id if isinstance(v, Var) else id(v)
        if may_alias(v) or key in seen:
            shape, dtype = (v.shape, v.dtype) if isinstance(v, Var) else (v.value.shape, v.value.dtype)
            copy = Var(next_id, shape, dtype)
            copy.name = v.name if isinstance(v, Var) else None
            next_id += 1
            nodes.append(Node(copy_p, [v], {}, copy))
            v = copy
        seen.add(key)
        outputs.append(v)
    return Graph(graph.inputs, nodes, outputs, graph.input_names)


def scalarize_uniform_constants(graph: Graph) -> Graph:
    """Write a constant array holding one value everywhere as a scalar of its dtype, where the
    other operands already give the result its shape (so broadcasting makes no difference).
    Only tracediff's own constants: the user's arrays stay references."""
    for node in graph.nodes:
        if not node.primitive.elementwise or node.out is None:
            continue
        for i, v in enumerate(node.inputs):
            if not (isinstance(v, Literal) and isinstance(v.value, np.ndarray) and v.value.size) or v.captured:
                continue
            others = [np.shape(o.value) if isinstance(o, Literal) else o.shape
                      for j, o in enumerate(node.inputs) if j != i]
            flat = v.value.ravel()
            if np.broadcast_shapes((), *others) == node.out.shape and np.all(flat == flat[0]):
                # A NumPy scalar keeps the array's dtype; a Python scalar reads better and gives
                # the same result when every operand already has the result's dtype.
                same = all(getattr(o, "dtype", None) == node.out.dtype
                           for j, o in enumerate(node.inputs) if j != i)
                scalar = flat[0].item() if same and v.value.dtype == node.out.dtype else flat[0]
                node.inputs[i] = Literal(scalar)
    return graph


def _substitute(graph: Graph, replace: dict) -> Graph:
    """Rewrite every use of a var id in ``replace`` to its replacement (Var or Literal)."""
    def sub(v):
        while isinstance(v, Var) and v.id in replace:
            v = replace[v.id]
        return v

    nodes = []
    for node in graph.nodes:
        if node.out is not None and node.out.id in replace:
            continue
        node.inputs = [sub(v) for v in node.inputs]
        nodes.append(node)
    return Graph(graph.inputs, nodes, [sub(v) for v in graph.outputs], graph.input_names)


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop nodes whose results no output needs. Guards are kept: they are the path checks."""
    live = {v.id for v in graph.outputs if isinstance(v, Var)}
    kept = []
    for node in reversed(graph.nodes):
        if node.primitive.effectful or node.out.id in live:
            kept.append(node)
            live.update(v.id for v in node.inputs if isinstance(v, Var))
    return Graph(graph.inputs, kept[::-1], graph.outputs, graph.input_names)


def _is_uniform(value, x) -> bool:
    """True when the constant ``value`` is everywhere ``x`` (a scalar or an array of it)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.generic, np.ndarray)):
        return False
    arr = np.asarray(value)
    return arr.dtype.kind in "iuf" and arr.size > 0 and bool(np.all(arr == x))


def _operand_matches(node, v) -> bool:
    """Replacing ``node`` by its operand ``v`` keeps shape and dtype."""
    return isinstance(v, Var) and v.shape == node.out.shape and v.dtype == node.out.dtype


def simplify(graph: Graph) -> Graph:
    """Local algebra that traced rules leave behind: ``x*1``, ``x+0``, ``x**1``, ``--x``, aliases."""
    replace: dict = {}
    producer: dict = {}
    for node in graph.nodes:
        if node.out is None:
            continue
        producer[node.out.id] = node
        name, ins = node.primitive.name, node.inputs
        if getattr(node.primitive, "alias", False):
            replace[node.out.id] = ins[0]
            continue
        candidates = []
        if name == "multiply":
            candidates = [(ins[1], ins[0]), (ins[0], ins[1])]
            one = 1
        elif name == "add":
            candidates = [(ins[1], ins[0]), (ins[0], ins[1])]
            one = 0
        elif name in ("subtract", "divide", "power"):
            candidates = [(ins[0], ins[1])]
            one = 0 if name == "subtract" else 1
        elif name == "astype" and _operand_matches(node, ins[0]):
            replace[node.out.id] = ins[0]
        elif name == "negative" and isinstance(ins[0], Var):
            inner = producer.get(ins[0].id)
            if inner is not None and inner.primitive.name == "negative" and _operand_matches(node, inner.inputs[0]):
                replace[node.out.id] = inner.inputs[0]
        for keep, const in candidates:
            if isinstance(const, Literal) and _is_uniform(const.value, one) and _operand_matches(node, keep):
                replace[node.out.id] = keep
                break
    return _substitute(graph, replace)


def _literal_key(lit: Literal):
    v = lit.value
    if isinstance(v, np.ndarray):
        return ("array", id(v))
    return ("scalar", type(v), v if not (isinstance(v, float) and v != v) else "nan")


def _params_key(params: dict):
    try:
        key = tuple(sorted(params.items()))
        hash(key)
        return key
    except TypeError:
        return None


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Compute each (primitive, operands, parameters) once."""
    seen: dict = {}
    replace: dict = {}
    for node in graph.nodes:
        if node.primitive.effectful or node.primitive.emit_statements is not None:
            continue
        params = _params_key(node.params)
        if params is None:
            continue
        operands = tuple(
            ("var", replace.get(v.id, v).id if isinstance(replace.get(v.id, v), Var) else None)
            if isinstance(v, Var) else _literal_key(v)
            for v in node.inputs
        )
        key = (node.primitive, operands, params)
        if key in seen:
            replace[node.out.id] = seen[key]
        else:
            seen[key] = node.out
    return _substitute(graph, replace)
