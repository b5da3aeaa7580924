"""Optimizing passes over a Graph. Each takes a Graph and returns a new one."""
from __future__ import annotations

import itertools
import math

import numpy as np

from .ir import Graph, Literal, Node, Var, operand_key, params_key, uniform_item, uses_of
from .primitives.core import REGISTRY
from .switches import enabled


def optimize(graph: Graph) -> Graph:
    """The passes in order, each unless switched off (switches.py). Aliases, checkpoint marks and
    outputs that share the caller's memory are not optimizations: they are always dealt with."""
    graph = drop_aliases(graph)
    for name, one_pass in _PASSES:
        if enabled(name):
            graph = one_pass(graph)
        if enabled("dce") and name in ("cse", "factor", "broadcasts"):
            graph = eliminate_dead_code(graph)
    return fresh_outputs(drop_recompute_marks(graph))


def drop_aliases(graph: Graph) -> Graph:
    """An alias node's output is its input (a rule's constant operand): codegen writes none."""
    replace = {n.out.id: n.inputs[0] for n in graph.nodes if n.primitive.alias}
    return _substitute(graph, replace) if replace else graph


def drop_recompute_marks(graph: Graph) -> Graph:
    """``recompute(x)`` (where a td.checkpoint block starts again) is ``x``: it only kept common
    subexpression elimination from merging the recomputation into the forward pass. No pass
    after this one merges values."""
    replace = {n.out.id: n.inputs[0] for n in graph.nodes if n.primitive.name == "recompute"}
    return _substitute(graph, replace) if replace else graph


def implicit_broadcasts(graph: Graph) -> Graph:
    """Drop ``np.broadcast_to`` when every use is an elementwise operation that broadcasts its
    operands anyway and whose result keeps its shape (reduction rules leave such broadcasts).

    Decisions are taken one after the other, each seeing the operands earlier ones dropped:
    ``broadcast_to(a, s) + broadcast_to(b, s)`` may lose one broadcast, never both."""
    uses = uses_of(graph.nodes)
    output_ids = {v.id for v in graph.outputs if isinstance(v, Var)}
    replace = {}

    def shape_after(v):
        return replace[v.id].shape if isinstance(v, Var) and v.id in replace else v.shape

    for node in graph.nodes:
        if node.primitive.name != "broadcast_to" or node.out.id in output_ids:
            continue
        source = node.inputs[0]
        consumers = [graph.nodes[i] for i, _ in uses.get(node.out.id, [])]
        if consumers and all(_broadcasts_anyway(c, node.out, shape_after(source), shape_after)
                             for c in consumers):
            replace[node.out.id] = source
    return _substitute(graph, replace) if replace else graph


def _broadcasts_anyway(consumer, broadcast_var, source_shape, shape_after) -> bool:
    if not consumer.primitive.elementwise or consumer.out is None:
        return False
    shapes = [source_shape if isinstance(v, Var) and v.id == broadcast_var.id
              else shape_after(v) for v in consumer.inputs]
    try:
        return np.broadcast_shapes(*shapes) == consumer.out.shape
    except ValueError:
        return False


def fresh_outputs(graph: Graph) -> Graph:
    """Copy every output that could share memory with an input, a constant or another output, or
    that NumPy makes read-only, so that callers may write into what they get back without
    touching their own data."""
    from .primitives.shape import copy_p

    producer = {n.out.id: n for n in graph.nodes if n.out is not None}
    input_ids = {v.id for v in graph.inputs}

    def needs_copy(v) -> bool:
        if isinstance(v, Literal):
            return isinstance(v.value, np.ndarray)
        if v.id in input_ids:
            return True
        node = producer.get(v.id)
        if node is None:
            return False
        return node.primitive.read_only or (node.primitive.shares_first_operand and needs_copy(node.inputs[0]))

    next_id = max([v.id for v in graph.inputs] + [n.out.id for n in graph.nodes if n.out is not None],
                  default=-1) + 1
    outputs, seen, nodes = [], set(), list(graph.nodes)
    for v in graph.outputs:
        key = v.id if isinstance(v, Var) else id(v)
        if needs_copy(v) or key in seen:
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
            others = [o.shape for j, o in enumerate(node.inputs) if j != i]
            if np.broadcast_shapes((), *others) != node.out.shape:
                continue
            scalar = uniform_item(v.value)
            if scalar is not None and scalar == scalar:  # (NaN compares unequal to itself: kept)
                # A NumPy scalar keeps the array's dtype; a Python scalar reads better and gives
                # the same result when every operand already has the result's dtype.
                same = all(getattr(o, "dtype", None) == node.out.dtype
                           for j, o in enumerate(node.inputs) if j != i)
                if same and v.value.dtype == node.out.dtype and _keeps_dtype(node, i, scalar.item()):
                    scalar = scalar.item()
                node.inputs[i] = Literal(scalar)
    return graph


def _keeps_dtype(node, i, scalar) -> bool:
    """The primitive still gives the result's dtype with the Python scalar as operand ``i``:
    NumPy's ufuncs treat it as weak, SciPy's promote it to float64. Asked of the primitive
    itself, on one-element operands of the other dtypes."""
    probes = [scalar if j == i else (np.ones(1, o.dtype) if isinstance(o, Var) else o.value)
              for j, o in enumerate(node.inputs)]
    try:
        with np.errstate(all="ignore"):
            return np.result_type(node.primitive.impl(*probes, **node.params)) == node.out.dtype
    except Exception:
        return False


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
    if type(value) in (int, float):  # (most constants of rules: answered without NumPy)
        return value == x
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        return False
    item = uniform_item(arr)
    return item is not None and bool(item == x)


def _operand_matches(node, v) -> bool:
    """Replacing ``node`` by its operand ``v`` (a value or a constant array) keeps shape and dtype."""
    if isinstance(v, Literal):
        v = v.value
        if not isinstance(v, np.ndarray):
            return False
    return isinstance(v, (Var, np.ndarray)) and v.shape == node.out.shape and v.dtype == node.out.dtype


def simplify(graph: Graph) -> Graph:
    """Local algebra that traced rules leave behind: ``x*1``, ``x+0``, ``x**1``, ``--x``, aliases,
    chains of scalar constants (``-(c*a)`` is ``(-c)*a``, ``c1*(c2*a)`` is ``(c1*c2)*a``,
    ``a + (-b)`` is ``a - b``) and sums of broadcasts (``sum(broadcast_to(x, (4, 3)), axis=0)``
    is ``x * 4``). A rewrite is made only when it keeps the result's dtype and shape."""
    replace: dict = {}
    producer: dict = {}

    def resolved(v):
        while isinstance(v, Var) and v.id in replace:
            v = replace[v.id]
        return v

    for node in graph.nodes:
        if replace:
            node.inputs = [resolved(v) for v in node.inputs]
        if node.out is None:
            continue
        if node.primitive.name in _FOLDED:
            _fold_scalar_chains(node, producer)
        same = _same_as_operand(node, producer) if node.primitive.name in _SIMPLIFIED else None
        if same is not None:
            replace[node.out.id] = same
        else:
            producer[node.out.id] = node
    return _substitute(graph, replace) if replace else graph


# What _same_as_operand and _fold_scalar_chains look at: other nodes are passed by at once.
_NEUTRAL = {"multiply": (1, (0, 1)), "add": (0, (0, 1)), "subtract": (0, (0,)), "divide": (1, (0,)),
            "power": (1, (0,))}  # name: (the neutral constant, the positions it may hold)
_SIMPLIFIED = frozenset(("astype", "reshape", "transpose", "negative", *_NEUTRAL))
_FOLDED = frozenset(("reshape", "transpose", "negative", "multiply", "add", "subtract", "sum", "mean"))


def _same_as_operand(node, producer):
    """The operand ``node`` computes unchanged (x*1, x+0, --x, a cast to its own dtype), or None."""
    name, ins = node.primitive.name, node.inputs
    if name in ("astype", "reshape") and _operand_matches(node, ins[0]):
        return ins[0]
    if name == "transpose" and node.params["axes"] == tuple(range(len(node.params["axes"]))):
        return ins[0]
    if name == "negative" and isinstance(ins[0], Var):
        inner = producer.get(ins[0].id)
        if inner is not None and inner.primitive.name == "negative" and _operand_matches(node, inner.inputs[0]):
            return inner.inputs[0]
    neutral = _NEUTRAL.get(name)
    if neutral is not None:
        value, kept_positions = neutral
        for keep in kept_positions:
            const = ins[1 - keep]
            if isinstance(const, Literal) and _is_uniform(const.value, value) and _operand_matches(node, ins[keep]):
                return ins[keep]
    return None


def _scalar(v) -> bool:
    """A scalar constant that may be folded with others; not an element the user's code read
    from an array (``scale[t]``): kept, a rolled loop reads it afresh (``scale[i]``)."""
    return (isinstance(v, Literal) and isinstance(v.value, (int, float, np.number))
            and not isinstance(v.value, (bool, np.bool_)) and v.row is None)


def _made_by(producer, v, prim_name):
    """The node of ``prim_name`` that made ``v``, or None."""
    inner = producer.get(v.id) if type(v) is Var else None
    return inner if inner is not None and inner.primitive.name == prim_name else None


def _scalar_times(inner):
    """(c, a) when ``inner`` is the node ``c * a`` of a scalar constant and a value, else None."""
    if inner is not None:
        for i in (0, 1):
            if _scalar(inner.inputs[i]) and isinstance(inner.inputs[1 - i], Var):
                return inner.inputs[i].value, inner.inputs[1 - i]
    return None


def _become(node, prim_name, inputs) -> None:
    """Rewrite ``node`` as ``prim_name(*inputs)`` when that keeps its dtype and shape."""
    dtypes = [v.dtype if isinstance(v, Var) else v.value for v in inputs]
    shapes = [v.shape for v in inputs if isinstance(v, Var)]
    if np.result_type(*dtypes) == node.out.dtype and np.broadcast_shapes(*shapes) == node.out.shape:
        node.primitive, node.inputs, node.params = REGISTRY[prim_name], inputs, {}


def _fold_scalar_chains(node, producer) -> None:
    """Rewrite ``node`` in place when it and the node making its operand fold into one."""
    name, ins = node.primitive.name, node.inputs

    if name == "reshape" and _made_by(producer, ins[0], "reshape") is not None:
        node.inputs = [_made_by(producer, ins[0], "reshape").inputs[0]]  # reshape(reshape(x)) is one reshape
    elif name == "transpose" and _made_by(producer, ins[0], "transpose") is not None:
        inner = _made_by(producer, ins[0], "transpose")
        node.inputs = [inner.inputs[0]]  # transpose(transpose(x)) is one transpose
        node.params = {"axes": tuple(inner.params["axes"][a] for a in node.params["axes"])}
    elif name == "negative":
        pair = _scalar_times(_made_by(producer, ins[0], "multiply"))
        if pair is not None:
            _become(node, "multiply", [Literal(-pair[0]), pair[1]])
    elif name == "multiply":
        for i in (0, 1):
            if _scalar(ins[i]):
                c, other = ins[i].value, ins[1 - i]
                pair = _scalar_times(_made_by(producer, other, "multiply"))
                if pair is not None:
                    _become(node, "multiply", [Literal(c * pair[0]), pair[1]])
                elif _made_by(producer, other, "negative") is not None:
                    _become(node, "multiply", [Literal(-c), _made_by(producer, other, "negative").inputs[0]])
                break
    elif name == "add":
        for i in (0, 1):
            negated = _made_by(producer, ins[i], "negative")
            if negated is not None:
                _become(node, "subtract", [ins[1 - i], negated.inputs[0]])
                break
    elif name == "subtract":
        negated = _made_by(producer, ins[1], "negative")
        if negated is not None:
            _become(node, "add", [ins[0], negated.inputs[0]])
    elif name in ("sum", "mean") and _made_by(producer, ins[0], "broadcast_to") is not None:
        # Summing copies made by a broadcast is multiplying by their count (a mean of them is x).
        spread = _made_by(producer, ins[0], "broadcast_to")
        x, shape = spread.inputs[0], spread.out.shape
        axes = range(len(shape)) if node.params["axis"] is None else node.params["axis"]
        aligned = (1,) * (len(shape) - len(x.shape)) + tuple(x.shape)
        reshaped = _made_by(producer, x, "reshape")
        if reshaped is not None and x.shape != node.out.shape:
            x = reshaped.inputs[0]  # the value before its unit axes were added for the broadcast
        if (all(aligned[a] == 1 for a in axes) and isinstance(x, Var) and x.shape == node.out.shape
                and node.out.dtype.kind == "f"):
            _become(node, "multiply", [x, Literal(math.prod(shape[a] for a in axes) if name == "sum" else 1)])


_MAX_FACTORS = 8


def factor_common_factors(graph: Graph) -> Graph:
    """``g*a + g*(b*c)`` is ``g*(a + b*c)`` (and ``-`` likewise) when ``g`` has the result's shape
    and the products are used only there: one array operation and one temporary fewer. Reverse
    mode makes these sums wherever a value is used twice (its two cotangent contributions share
    the incoming cotangent). The result can differ from the unfactored one in the last place."""
    uses = uses_of(graph.nodes)
    outputs = {v.id for v in graph.outputs if isinstance(v, Var)}  # never folded away
    producer = {n.out.id: n for n in graph.nodes if n.out is not None}
    ids = itertools.count(max([v.id for v in graph.inputs] + list(producer), default=-1) + 1)

    def product_node(v):
        used_once = isinstance(v, Var) and len(uses.get(v.id, ())) == 1 and v.id not in outputs
        node = producer.get(v.id) if used_once else None
        return node if node is not None and node.primitive.name == "multiply" else None

    def factors(v) -> list | None:
        """The operands of the product ``v``, through the products used only in it (at most
        ``_MAX_FACTORS`` of them: a product of thousands has no common factor worth finding)."""
        if product_node(v) is None:
            return None
        out, pending = [], [v]
        while pending:
            node = product_node(pending[-1]) if len(out) + len(pending) < _MAX_FACTORS else None
            if node is None:
                out.append(pending.pop())
            else:
                pending[-1:] = node.inputs[::-1]
        return out

    def weak_or(dtype, v) -> bool:  # keeps the result's dtype whatever it is multiplied with
        value = v if isinstance(v, Var) else v.value
        return getattr(value, "dtype", None) == dtype if isinstance(value, (Var, np.ndarray)) else type(value) in (int, float)

    def same(a, b) -> bool:  # one value: one var, or one array of the user's
        if isinstance(a, Var) or isinstance(b, Var):
            return isinstance(a, Var) and isinstance(b, Var) and a.id == b.id
        return isinstance(a.value, np.ndarray) and a.value is b.value

    def product(operands, like, loc, backward_of, nodes) -> object:
        value = operands[0]
        for operand in operands[1:]:
            shape = np.broadcast_shapes(value.shape, operand.shape)
            out = Var(next(ids), shape, like.dtype)
            nodes.append(Node(REGISTRY["multiply"], [value, operand], {}, out, loc, backward_of))
            value = out
        return value

    nodes = []
    for node in graph.nodes:
        name = node.primitive.name
        terms = [factors(v) for v in node.inputs] if name in ("add", "subtract") and not node.params else None
        if not terms or None in terms or not all(weak_or(node.out.dtype, f) for t in terms for f in t):
            nodes.append(node)
            continue
        first, second = terms
        common = next((f for f in first if f.shape == node.out.shape and any(same(f, o) for o in second)), None)
        if common is None:
            nodes.append(node)
            continue
        first.pop(next(i for i, o in enumerate(first) if same(o, common)))
        second.pop(next(i for i, o in enumerate(second) if same(o, common)))
        rests = [product(t, node.out, node.loc, node.backward_of, nodes) for t in (first, second)]
        if all(isinstance(r, Literal) and type(r.value) in (int, float) for r in rests):
            a, b = (r.value for r in rests)
            rest = Literal(a + b if name == "add" else a - b)
        else:  # (the user's arrays stay references: nothing is computed from them here)
            shape = np.broadcast_shapes(*[r.shape for r in rests])
            rest = Var(next(ids), shape, node.out.dtype)
            nodes.append(Node(node.primitive, rests, {}, rest, node.loc, node.backward_of))
        nodes.append(Node(REGISTRY["multiply"], [common, rest], {}, node.out, node.loc, node.backward_of))
    return Graph(graph.inputs, nodes, graph.outputs, graph.input_names)


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Compute each (primitive, operands, parameters) once."""
    seen: dict = {}
    replace: dict = {}

    def resolved(v):
        return replace.get(v.id, v)

    for node in graph.nodes:
        if node.primitive.effectful:
            continue
        params = params_key(node.params) if node.params else ()
        if params is None:
            continue
        # (a var by its id, a constant by operand_key's tuple: the two never compare equal)
        operands = tuple([resolved(v).id if type(v) is Var else operand_key(v) for v in node.inputs])
        key = (node.primitive, operands, params)
        if key in seen:
            replace[node.out.id] = seen[key]
        else:
            seen[key] = node.out
    return _substitute(graph, replace) if replace else graph


_PASSES = [
    ("scalarize", scalarize_uniform_constants),
    ("simplify", simplify),
    ("cse", eliminate_common_subexpressions),
    ("factor", factor_common_factors),
    ("broadcasts", implicit_broadcasts),
]
