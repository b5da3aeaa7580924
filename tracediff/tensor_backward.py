"""Backward for td.Tensor: the recorded graph becomes one generated NumPy function, cached.

``backward()`` walks the graph recorded by tensors.py from its outputs and reads from it:

* the leaves that require grad, the constants (arrays, tensors that do not require grad,
  Python floats: passed to the generated code as ARGUMENTS, never baked in), the recorded calls
  in topological order, and the intermediates whose gradient is asked for (``retain_grad()``,
  or ``td.autograd.grad``'s inputs);
* a STRUCTURAL KEY: per call its callable, static arguments (ints, axes, shapes, index tuples)
  and where each operand comes from; the shapes and dtypes of leaves and constants; the
  gradients asked for.

The key finds a cached entry, or one is built: a Python function ``replay(leaves, deltas,
constants, grad_outputs)`` that applies the recorded calls again in order (adding a zero
``delta`` to each intermediate whose gradient is asked for: its gradient is the gradient with
respect to that delta) and returns the output (or ``sum(output * grad_output)`` for a
vector-Jacobian product), and ``td.grad`` of it. tracediff traces the replay once and generates
its gradient as NumPy source; a guard in that code (a value-dependent path inside a recorded
call) retraces as ``td.grad`` always does. The generated code computes the forward again from
the leaves' current values, then the backward: no intermediate value is kept between the
tensors' forward and the backward, which is what makes the backward one generated function
(and what ``t.backward_source()`` shows).
"""
from __future__ import annotations

import inspect
import sys
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from . import codegen
from .errors import _is_internal
from .ir import SourceLocation, typed_key
from .tracing import current_trace
from .tensors import CONST_TENSOR, LEAF, NODE, SCALAR, Tensor, TensorError, _P, _state, _wrap, call

_CONST = 1 << 40


def _seq(node):
    return node.seq


MAX_ENTRIES = 256  # graph structures whose generated backward is kept (least recently used go)


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    entries: int


class _Cache:
    def __init__(self):
        self.entries: OrderedDict = OrderedDict()
        self.hits = self.misses = 0
        self.lock = threading.Lock()


_cache = _Cache()


def cache_info() -> CacheInfo:
    """``CacheInfo(hits, misses, entries)`` of the generated backward code: a miss is a graph
    structure seen for the first time (its backward is generated), a hit reuses one.

    >>> import tracediff as td
    >>> td.autograd.clear_cache()
    >>> w = td.tensor([1.0, 2.0], requires_grad=True)
    >>> for step in range(3):
    ...     loss = ((w - 3.0) ** 2).sum()
    ...     loss.backward()
    >>> td.autograd.cache_info()
    CacheInfo(hits=2, misses=1, entries=1)
    """
    return CacheInfo(_cache.hits, _cache.misses, len(_cache.entries))


def clear_cache() -> None:
    """Forget every generated backward and zero the counts of :func:`cache_info`."""
    with _cache.lock:
        _cache.entries.clear()
        _cache.hits = _cache.misses = 0


# ---------------------------------------------------------------------------------------------
# Walking the graph


class _Graph:
    """What a backward needs of the recorded graph, and its structural key."""

    def __init__(self, outputs, grad_outputs, inputs):
        self.leaves: list = []  # leaf tensors (require grad)
        self.consts: list = []  # (kind, object) of each constant argument
        self.steps: list = []  # (node, refs) in topological order
        self.env_of: dict = {}  # id(node) -> env index of its first output
        self.leaf_index: dict = {}
        self.const_index: dict = {}
        self._walk(outputs)
        self.out_refs = [self._ref_of_tensor(t) for t in outputs]
        self.targets = self._targets(inputs)

    # env: leaves, then constants, then the outputs of the steps in order.
    def _walk(self, outputs):
        stack = []
        for t in outputs:
            if t._node is not None:
                t._as_parent()
                stack.append(t._node[0] if type(t._node) is tuple else t._node)
            else:
                self._leaf(t, t._vc[0])
        seen, nodes = set(), []
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.freed:
                raise TensorError(
                    "backward through a graph a second time: its recorded calls were released "
                    f"by the first backward ({node.name()} is part of it). Pass "
                    "retain_graph=True to the first backward (or to td.autograd.grad) to "
                    "differentiate the same graph again, or compute the forward again.")
            nodes.append(node)
            for kind, obj, _ in node.parents:
                if kind == NODE:
                    stack.append(obj[0] if type(obj) is tuple else obj)
        nodes.sort(key=_seq)  # (the order they were recorded in: parents first)
        offsets, offset = {}, 0
        for node in nodes:
            offsets[id(node)] = offset
            offset += node.n_out
        # Refs while leaves and constants are still being counted: a leaf's index, a constant's
        # plus _CONST, a step result's as -1 - its offset; numbered in the env below.
        coded = []
        for node in nodes:
            refs = []
            for kind, obj, version in node.parents:
                if kind == NODE:
                    refs.append(-1 - (offsets[id(obj[0])] + obj[1] if type(obj) is tuple else offsets[id(obj)]))
                elif kind == LEAF:
                    refs.append(self._leaf(obj, version))
                else:
                    refs.append(_CONST + self._const(kind, obj, version))
            coded.append(refs)
        n_leaves, results = len(self.leaves), len(self.leaves) + len(self.consts)
        self.steps = [(node, tuple(results - 1 - r if r < 0 else r - _CONST + n_leaves if r >= _CONST else r
                                   for r in refs)) for node, refs in zip(nodes, coded)]
        self.env_of = {key: results + value for key, value in offsets.items()}
        self.nodes = nodes

    def _leaf(self, t, version):
        _check_version(t, version)
        index = self.leaf_index.get(id(t))
        if index is None:
            index = self.leaf_index[id(t)] = len(self.leaves)
            self.leaves.append(t)
        return index

    def _const(self, kind, obj, version):
        if kind == CONST_TENSOR:
            _check_version(obj, version)
        if kind == SCALAR:
            self.consts.append((kind, obj))
            return len(self.consts) - 1
        index = self.const_index.get(id(obj))
        if index is None:
            index = self.const_index[id(obj)] = len(self.consts)
            self.consts.append((kind, obj))
        return index

    def _ref_of_tensor(self, t):
        if t._node is None:
            return self.leaf_index[id(t)]
        node, out = t._node if type(t._node) is tuple else (t._node, 0)
        return self.env_of[id(node)] + out

    def _targets(self, inputs):
        """(leaf indices, [(env index, tensor)] of intermediates) whose gradient is wanted; None
        for an input that is not part of the graph."""
        if inputs is None:  # backward(): every leaf, and the intermediates that retain grad
            retained = []
            for node in self.nodes:
                for out, ref in (node.retained or {}).items():
                    t = ref()
                    if t is not None and t._node is not None:
                        retained.append((self.env_of[id(node)] + out, t))
            return list(range(len(self.leaves))), retained, None
        leaves, deltas, where = [], [], []
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"inputs must be tensors, got {type(t).__name__}")
            if t._node is None:
                index = self.leaf_index.get(id(t))
                where.append(None if index is None else ("leaf", len(leaves)))
                if index is not None:
                    leaves.append(index)
            else:
                node, out = t._node if type(t._node) is tuple else (t._node, 0)
                position = self.env_of.get(id(node))
                where.append(None if position is None else ("delta", len(deltas)))
                if position is not None:
                    deltas.append((position + out, t))
        return leaves, deltas, where


def _check_version(t: Tensor, version) -> None:
    if t._vc[0] != version:
        what = "a leaf that requires grad" if t._rg and t._node is None else "a tensor"
        raise TensorError(
            f"one of the values the backward needs was changed in place after it was recorded: "
            f"{what} of shape {t.shape} is at version {t._vc[0]}, it was at version {version} "
            "when the graph used it. Change it only after backward (an optimizer step after "
            "loss.backward()), or change a copy (t.clone()), or compute the forward again "
            "after the change.")


# ---------------------------------------------------------------------------------------------
# The structural key and the replay


class _Identity:
    """An unhashable static argument in a key, by identity: the key holds it, so its id is not
    reused by another object while the cache entry lives (a false hit would replay its values)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return id(self.value)

    def __eq__(self, other):
        return type(other) is _Identity and other.value is self.value


def _signature(value):
    if type(value) in (float, complex):
        return type(value)
    return (value.shape, value.dtype)


def _key(graph: _Graph, seeded: bool, gs: list, argnums: tuple):
    # A ufunc's arguments are placeholders and numbers (never slices or lists): a key as they are.
    steps = tuple((node.fn, node.args, refs) if node.kwargs is None and type(node.fn) is np.ufunc
                  else (node.fn, typed_key(node.args, _Identity), typed_key(node.kwargs, _Identity), refs, node.n_out,
                     node.unpack)
                  for node, refs in graph.steps)
    leaves = tuple((t._a.shape, t._a.dtype) for t in graph.leaves)
    consts = tuple(_signature(_const_value(kind, obj)) for kind, obj in graph.consts)
    g_sigs = None if seeded else tuple(_signature(g) for g in gs)
    return steps, leaves, consts, tuple(graph.out_refs), g_sigs, argnums


def _const_value(kind, obj):
    return obj._a if kind == CONST_TENSOR else obj


def _fill(template, it):
    if template is _P:
        return next(it)
    t = type(template)
    if t is tuple or t is list:
        return t(_fill(x, it) for x in template)
    if t is dict:
        return {k: _fill(v, it) for k, v in template.items()}
    return template


def _make_replay(steps, n_leaves, delta_at, n_consts, out_refs, seeded, names, fun_name):
    """The function tracediff differentiates: the recorded calls applied again."""
    program = [(node.fn, node.args, node.kwargs, refs, node.n_out if node.unpack else 0) for node, refs in steps]
    places = [_location(node.where) for node, _ in steps]
    n_deltas = len(delta_at)
    flat_args = [all(a is not _P and type(a) not in (tuple, list, dict) or a is _P for a in args)
                 for _, args, _, _, _ in program]

    def replay(*args):
        leaves, deltas = args[:n_leaves], args[n_leaves:n_leaves + n_deltas]
        consts = args[n_leaves + n_deltas:n_leaves + n_deltas + n_consts]
        gs = args[n_leaves + n_deltas + n_consts:]
        env = [*leaves, *consts]
        trace = current_trace()
        if trace is not None:
            trace.in_user_code = False  # the lines are the recorded calls' own (below)
        for (fn, template, kw_template, refs, n_out), flat, place in zip(program, flat_args, places):
            start = len(trace.nodes) if trace is not None else 0
            it = iter([env[r] for r in refs])
            if flat:
                call_args = [next(it) if a is _P else a for a in template]
            else:
                call_args = _fill(template, it)
            out = fn(*call_args, **_fill(kw_template, it)) if kw_template else fn(*call_args)
            if trace is not None and place is not None:
                for node in trace.nodes[start:]:
                    if node.loc is None:
                        node.loc = place
            if n_out == 0:
                env.append(out)
            else:
                env.extend(out[i] for i in range(n_out))
            for position in range(len(env) - max(n_out, 1), len(env)):
                for d in delta_at.get(position, ()):
                    env[position] = env[position] + deltas[d]
        if seeded:
            out = env[out_refs[0]]
            return np.reshape(out, ()) if np.ndim(out) else out
        total = 0.0
        for ref, g in zip(out_refs, gs):
            total = total + np.sum(env[ref] * g)
        return total

    replay.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
    replay.__name__ = replay.__qualname__ = fun_name
    return replay


def _location(where):
    if where is None or _is_internal(where[0].co_filename):
        return None
    return SourceLocation.at(where[0].co_filename, where[1])


class _Entry:
    __slots__ = ("grad_fn", "replay")

    def __init__(self, replay, argnums):
        from .api import grad

        self.replay = replay
        self.grad_fn = grad(replay, argnums=argnums)


# ---------------------------------------------------------------------------------------------
# Names for the generated code (looked up once, when an entry is built)


def _user_names(objects: dict, output) -> tuple[dict, str]:
    """{id(object): the name a user frame's locals bind it to}, and the output's name."""
    found, out_name = {}, None
    frame = sys._getframe(1)
    depth = 0
    while frame is not None and depth < 12:
        if not _is_internal(frame.f_code.co_filename):
            depth += 1
            for name, value in frame.f_locals.items():
                if name.startswith("_"):
                    continue
                if id(value) in objects and id(value) not in found:
                    found[id(value)] = name
                if value is output and out_name is None:
                    out_name = name
        frame = frame.f_back
    return found, out_name


def _names(graph: _Graph, delta_tensors, n_gs, output):
    objects = {id(t): t for t in graph.leaves}
    objects.update({id(obj): obj for kind, obj in graph.consts if kind != SCALAR})
    objects.update({id(t): t for t in delta_tensors})
    found, out_name = _user_names(objects, output)
    taken = set()
    names = [codegen.safe_identifier(found.get(id(t), f"leaf{i}"), taken) for i, t in enumerate(graph.leaves)]
    names += [codegen.safe_identifier("d_" + found.get(id(t), f"v{i}"), taken) for i, t in enumerate(delta_tensors)]
    names += [codegen.safe_identifier(found.get(id(obj), f"const{i}") if kind != SCALAR else f"c{i}", taken)
              for i, (kind, obj) in enumerate(graph.consts)]
    names += [codegen.safe_identifier(f"grad_output{i}" if n_gs > 1 else "grad_output", taken) for i in range(n_gs)]
    return names, codegen.safe_identifier(out_name or "output", set())


# ---------------------------------------------------------------------------------------------
# Backward


class _Prepared(NamedTuple):
    entry: _Entry
    args: list  # values for the generated function
    arg_tensors: list  # what create_graph records the call on (tensors where there are some)
    leaf_targets: list
    deltas: list
    where: list | None
    nodes: list
    graph: _Graph


def _prepare(outputs, grad_outputs, inputs, count=True) -> _Prepared:
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for t in outputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"backward of a {type(t).__name__}: outputs must be td tensors")
        if not t._rg:
            raise TensorError(
                "backward of a tensor that does not require grad and has no grad_fn: none of the "
                "tensors it was computed from requires grad (or it was computed inside "
                "td.no_grad()). Create the inputs with td.tensor(..., requires_grad=True).")
        if t._a.dtype.kind == "c":
            raise TensorError("backward of a complex output: take a real loss (abs(z) ** 2, z.real)")
    seeded = len(outputs) == 1 and grad_outputs[0] is None
    gs = []
    if not seeded:
        for t, g in zip(outputs, grad_outputs):
            if g is None:
                if t._a.size != 1:
                    raise _implicit_error(t)
                g = np.ones(t.shape, t.dtype)
            g_value = g._a if isinstance(g, Tensor) else np.asarray(g, dtype=t.dtype)
            if g_value.shape != t.shape:
                raise TensorError(f"grad_output has shape {g_value.shape}, but the output it belongs "
                                  f"to has shape {t.shape}; pass one of the output's shape")
            gs.append(g if isinstance(g, Tensor) else g_value)
    elif outputs[0]._a.size != 1:
        raise _implicit_error(outputs[0])
    graph = _Graph(outputs, grad_outputs, inputs)
    leaf_targets, deltas, where = graph.targets
    delta_at: dict = {}
    for d, (position, _) in enumerate(deltas):
        delta_at.setdefault(position, []).append(d)
    n_leaves = len(graph.leaves)
    argnums = tuple(leaf_targets) + tuple(range(n_leaves, n_leaves + len(deltas)))
    key = _key(graph, seeded, [g._a if isinstance(g, Tensor) else g for g in gs], argnums), \
        tuple(position for position, _ in deltas)
    with _cache.lock:
        entry = _cache.entries.get(key)
        if entry is not None:
            _cache.entries.move_to_end(key)
            if count:
                _cache.hits += 1
    if entry is None:
        names, fun_name = _names(graph, [t for _, t in deltas], len(gs), outputs[0])
        replay = _make_replay(graph.steps, n_leaves, delta_at, len(graph.consts), graph.out_refs,
                              seeded, names, fun_name)
        entry = _Entry(replay, argnums) if argnums else None
        with _cache.lock:
            _cache.misses += 1
            if entry is not None:
                _cache.entries[key] = entry
                while len(_cache.entries) > MAX_ENTRIES:
                    _cache.entries.popitem(last=False)
    const_values = [_const_value(kind, obj) for kind, obj in graph.consts]
    zeros = [np.zeros(t.shape, t.dtype) for _, t in deltas]
    args = [t._a for t in graph.leaves] + zeros + const_values + [g._a if isinstance(g, Tensor) else g for g in gs]
    arg_tensors = list(graph.leaves) + zeros + [obj for _, obj in graph.consts] + gs
    return _Prepared(entry, args, arg_tensors, leaf_targets, deltas, where, graph.nodes, graph)


def _implicit_error(t):
    return TensorError(
        f"backward of a tensor of shape {t.shape}: a gradient can be created implicitly only for "
        "a scalar output. Reduce it first (.sum(), .mean()), or pass backward(gradient) with the "
        "output's shape for a vector-Jacobian product.")


def _run(prepared: _Prepared, create_graph: bool):
    """The gradients (arrays, or tensors recorded as one call when create_graph)."""
    if prepared.entry is None:
        return []
    if create_graph:
        saved, _state.no_grad_depth = _state.no_grad_depth, 0
        try:
            grads = call(prepared.entry.grad_fn, prepared.arg_tensors, name="CompiledGradBackward0")
        finally:
            _state.no_grad_depth = saved
        return list(grads)
    grads = prepared.entry.grad_fn(*prepared.args)
    seen = {id(a) for a in prepared.args}
    out = []
    for g in grads:  # generated code may hand back an argument, or one array twice
        g = np.asarray(g)
        if id(g) in seen:
            g = g.copy()
        seen.add(id(g))
        out.append(g)
    return out


def _as_tensor_grad(g, like: Tensor):
    if isinstance(g, Tensor):
        return g
    if like._a.dtype.kind == "c":
        g = np.conj(g)  # PyTorch's convention for complex values: the conjugate of tracediff's
    return _wrap(g)


def _accumulate(t: Tensor, g) -> None:
    g = _as_tensor_grad(g, t)
    if t._grad is None:
        t._grad = g
    elif g._rg or t._grad._rg:
        t._grad = t._grad + g  # (recorded: the accumulated gradient keeps its graph)
    else:
        t._grad._a += g._a
        t._grad._vc[0] += 1


def _free(prepared: _Prepared) -> None:
    for node in prepared.nodes:
        node.freed = True


def backward(outputs, grad_outputs, retain_graph=None, create_graph=False, inputs=None) -> None:
    """``Tensor.backward``: accumulate gradients into the leaves' (and retained tensors') .grad."""
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    prepared = _prepare(outputs, grad_outputs, inputs)
    grads = _run(prepared, create_graph)
    graph = prepared.graph
    for g, index in zip(grads, prepared.leaf_targets):
        _accumulate(graph.leaves[index], g)
    for g, (_, t) in zip(grads[len(prepared.leaf_targets):], prepared.deltas):
        _accumulate(t, g)
    if not (create_graph if retain_graph is None else retain_graph):
        _free(prepared)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple of tensors, one per
    input), without touching any ``.grad`` (as ``torch.autograd.grad``).

    ``inputs`` may be leaves or intermediates. ``grad_outputs`` gives the vector of a
    vector-Jacobian product for non-scalar outputs. ``create_graph=True`` returns gradients
    with a graph of their own, to differentiate again.

    >>> import tracediff as td
    >>> x = td.tensor(3.0, requires_grad=True)
    >>> y = x ** 3
    >>> (g,) = td.autograd.grad(y, x, create_graph=True)
    >>> g
    tensor(27., grad_fn=<CompiledGradBackward0>)
    >>> g.backward()
    >>> x.grad
    tensor(18.)
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)) and len(outputs) == 1:
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    prepared = _prepare(outputs, grad_outputs, inputs)
    for t, where in zip(inputs, prepared.where):
        if where is None and not allow_unused:
            raise TensorError(
                "one of the differentiated tensors was not used to compute the outputs (it is not "
                "part of their graph); pass allow_unused=True to get None for it.")
    grads = _run(prepared, create_graph)
    n_leaves = len(prepared.leaf_targets)
    result = []
    for t, where in zip(inputs, prepared.where):
        if where is None:
            result.append(None)
        else:
            g = grads[where[1] if where[0] == "leaf" else n_leaves + where[1]]
            result.append(_as_tensor_grad(g, t))
    if not (create_graph if retain_graph is None else retain_graph):
        _free(prepared)
    return tuple(result)


def backward_source(outputs, grad_outputs, inputs=None) -> str:
    """The generated source the backward of ``outputs`` runs (built if not cached yet)."""
    prepared = _prepare(outputs, grad_outputs, inputs, count=False)
    if prepared.entry is None:
        return ""
    return prepared.entry.grad_fn.source(*prepared.args)
