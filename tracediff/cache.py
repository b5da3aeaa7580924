"""Specialization keys and the per-function cache of generated code.

A key holds what the generated code is specialized on: the argument tree's structure, each
array's shape and dtype, and the values of static arguments (strings, None, tuples, objects, and
whatever ``static_argnums`` names). Python floats, ints and bools are values, not keys: a new
learning rate or iteration number runs the same code; where such a value decides a shape, a trip
count or a branch, that decision is a guard of the generated code.
"""
from __future__ import annotations

import inspect
import itertools
import logging
import os
import threading
import warnings
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from .array_libraries import library_of, signature as library_signature
from .codegen import release_source
from .ir import type_str
from .pytree import flatten
from .tracing import Tracer

logger = logging.getLogger("tracediff")

# Python scalars are runtime inputs whose signature is their type: they stay Python scalars in
# generated code, weak under NumPy's promotion (x32 * 2 and x32 * 0.5 stay float32).
SCALARS = {float: "float", int: "int", bool: "bool", complex: "complex"}
FLOAT, COMPLEX = SCALARS[float], SCALARS[complex]
INT64 = np.iinfo(np.int64)
GENERATOR = "generator"  # the signature of a random generator leaf: passed in, drawn from afresh
GENERATORS = (np.random.Generator, np.random.RandomState)
DEFAULT_MAX_SPECIALIZATIONS = 8  # as torch.compile's cache size limit
HISTORY_LIMIT = 32  # retrace reasons explain() lists; older ones are counted


class RetraceWarning(UserWarning):
    """A compiled function keeps being traced again (its specialization limit was reached)."""


def leaf_signature(leaf) -> Any:
    """What of ``leaf`` the generated code is specialized on; raises for unusable arguments."""
    if isinstance(leaf, (np.ndarray, Tracer, np.generic)):
        return (leaf.shape, leaf.dtype)
    if isinstance(leaf, float):
        return FLOAT
    if isinstance(leaf, complex):
        return COMPLEX
    if isinstance(leaf, GENERATORS):
        return GENERATOR
    if is_runtime_int(leaf):
        return SCALARS[type(leaf)]
    if library_of(leaf) is not None:  # a Dask or CuPy array: its library is part of the key
        return library_signature(leaf)
    if isinstance(leaf, Static):
        return ("static", type(leaf.value), leaf)
    problem = unusable(leaf, "...")
    if problem is not None:
        raise TypeError("an argument {}; {}".format(*problem))
    return ("static", type(leaf), leaf)


def unusable(leaf, name: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when ``leaf``, spelled ``name``, cannot be a leaf of an
    argument; None when it can (as an array, or as a static value the code is specialized on)."""
    if is_dynamic(leaf):
        return None
    if getattr(type(leaf), "_is_td_tensor", False):  # (tensors.py imports this module's users)
        return ("is a td.Tensor, which records its own graph: td.grad traces functions of NumPy "
                "arrays", f"pass its value, {name}.detach().numpy(), or differentiate tensors with "
                f"loss.backward() / td.autograd.grad")
    if isinstance(leaf, set):
        return ("is a set: neither an array nor a hashable static value, and unordered, so its "
                "items cannot be matched to leaves and gradients",
                f"pass a list or tuple instead, such as sorted({name})")
    if isinstance(leaf, memoryview):
        return "is a memoryview", f"pass it as an array: np.asarray({name})"
    try:
        hash(leaf)
    except (TypeError, ValueError):  # (ValueError: a writable buffer)
        return (f"of type {type(leaf).__name__} is neither an array nor a hashable static value "
                "(int, str, tuple, ...)", "pass arrays as NumPy arrays, containers as "
                "dict/list/tuple, and register other containers with td.register_pytree_node")
    return None


def specialization_key(args: tuple, kwargs: dict):
    """(key, dynamic leaves) for a call. Positional arrays and floats, the common case, take a
    short path with no pytree flattening; its keys cannot equal the general path's, which start
    with a TreeDef."""
    if not kwargs:
        key = []
        append = key.append
        for a in args:
            if type(a) is np.ndarray:
                append(a.shape)
                append(a.dtype)
            elif type(a) is float:
                append(FLOAT)
            elif type(a) is int and INT64.min <= a <= INT64.max:
                append("int")
            else:
                break
        else:
            return tuple(key), args
    leaves, treedef = flatten((args, kwargs))
    return (treedef, *map(leaf_signature, leaves)), [leaf for leaf in leaves if is_dynamic(leaf)]


def is_dynamic(leaf) -> bool:
    """Dynamic leaves are parameters of the generated code; the rest are baked in."""
    return (isinstance(leaf, (np.ndarray, Tracer, np.generic, float, complex, *GENERATORS)) or is_runtime_int(leaf)
            or library_of(leaf) is not None)


def is_runtime_int(leaf) -> bool:
    """A Python int or bool passed as a value. Subclasses (IntEnum members, flags) stay static:
    code compares them by identity. Ints beyond int64 stay static too."""
    return type(leaf) is bool or (type(leaf) is int and INT64.min <= leaf <= INT64.max)


class Static:
    """An argument named by ``static_argnums``/``static_argnames``: one leaf, keyed by value."""

    __slots__ = ("value",)

    def __init__(self, value):
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"static arguments must be hashable, got {type(value).__name__}") from None
        self.value = value

    def __eq__(self, other):
        return (type(other) is Static and type(self.value) is type(other.value)
                and bool(self.value == other.value))

    def __hash__(self):
        return hash((type(self.value), self.value))

    def __repr__(self):
        return repr(self.value)


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    traces: int
    specializations: int


@dataclass(eq=False)  # compared by identity: the cache removes and reorders them
class Specialization:
    """Generated code for one key and one path through the user's control flow."""

    module: Any  # codegen.GeneratedModule
    graph: Any  # the optimized ir.Graph, replayed when called on tracers (higher order)
    run: Callable  # the generated entry point
    finish: Callable  # flat outputs -> the result the user sees
    hits: int = 0  # how many calls it ran
    extra: dict = field(default_factory=dict)
    bindings: Any = None  # captures.Bindings to check before running, None when there are none
    reason: str = ""  # why it was traced
    advice: str = ""  # what to do if that keeps happening
    signature: str = ""  # its parameters' types, for explain()
    arguments: list = field(default_factory=list)  # (name, leaf signature) of each argument leaf
    last_used: int = 0


# Orders uses for least-recently-used eviction.
next_use = itertools.count(1).__next__


class _Store:
    """The specializations of one function under one set of options, shared by every
    ``td.grad`` object made for it (a new ``td.grad(f)`` in a loop finds its code again)."""

    def __init__(self):
        self.entries: OrderedDict = OrderedDict()
        # Changes to the lists are made under the lock; the lean call path only reads specs[0].
        self.lock = threading.RLock()


_stores: dict = {}  # id(function or instance) -> (weak reference to it, {options: _Store})
_stores_lock = threading.Lock()


def shared_store(fun, options: tuple) -> _Store:
    """The store for ``fun`` and ``options`` (hashable), kept while ``fun`` lives. A bound method
    is new at each attribute access, so its store hangs on the instance, keyed by the function.
    Owners are told apart by identity, never by ``==`` (two equal models hold different arrays).
    Objects that cannot be weakly referenced (NumPy ufuncs) get a store of their own."""
    if inspect.ismethod(fun):
        fun, options = fun.__self__, (fun.__func__, *options)
    key = id(fun)
    with _stores_lock:
        known = _stores.get(key)
        if known is None or known[0]() is not fun:
            try:
                ref = weakref.ref(fun, lambda _, key=key: _stores.pop(key, None))
            except TypeError:
                return _Store()
            known = _stores[key] = (ref, {})
        return known[1].setdefault(options, _Store())


def clear_caches() -> None:
    """Forget the generated code of every function (each ``td.grad`` object's cache included):
    the next call of each traces again. The counts in ``cache_info()`` are kept.

    >>> import numpy as np, tracediff as td
    >>> f = lambda x: np.sum(x ** 2)
    >>> g = td.grad(f)
    >>> _ = g(np.ones(2)); td.clear_caches(); _ = td.grad(f)(np.ones(2))
    >>> g.cache_info().specializations  # traced again by the new td.grad(f), whose cache g shares
    1
    """
    with _stores_lock:  # (copied in one step: a function collected meanwhile drops its entry)
        known = list(_stores.values())
        stores = [store for _, per_options in known for store in per_options.values()]
    for store in stores:
        with store.lock:
            for spec in [s for specs in store.entries.values() for s in specs]:
                release_source(spec.module)
            store.entries.clear()


class SpecializationCache:
    """Specializations by key (most recently used first within a key), bounded in number.

    The entries may be shared with other caches of the same function (see :func:`shared_store`);
    the counts and the retrace history are this cache's own."""

    def __init__(self, limit: int = DEFAULT_MAX_SPECIALIZATIONS, store: _Store | None = None):
        if limit < 1:
            raise ValueError(f"max_specializations must be at least 1, got {limit}")
        self.limit = limit
        store = store or _Store()
        self.entries = store.entries
        self._lock = store.lock
        self.hits = self.misses = self.traces = 0
        self.history: deque = deque(maxlen=HISTORY_LIMIT)  # why the latest retraces happened
        self.earlier_retraces = 0  # how many older reasons history let go
        self._warned = False

    def lookup(self, key) -> list:
        return list(self.entries.get(key, ()))

    def hit(self, key, spec: Specialization) -> None:
        self.hits += 1
        self.ran(spec)
        specs = self.entries.get(key)
        if specs and specs[0] is not spec:  # the path taken most recently is tried first
            with self._lock:
                if spec in specs:
                    specs.remove(spec)
                    specs.insert(0, spec)

    @staticmethod
    def ran(spec: Specialization) -> None:
        spec.hits += 1
        spec.last_used = next_use()

    def add(self, key, spec: Specialization, owner) -> Specialization:
        """Keep ``spec``; return the specialization to use (an equal one another thread traced
        at the same time, if there is one)."""
        with self._lock:
            if self.entries:  # not the first trace: say why it happened
                self.earlier_retraces += len(self.history) == self.history.maxlen
                self.history.append(spec.reason)
            specs = self.entries.setdefault(key, [])
            for known in specs:
                if known.module.source == spec.module.source:
                    release_source(spec.module)
                    return known
            spec.last_used = next_use()
            specs.insert(0, spec)
            while sum(len(v) for v in self.entries.values()) > self.limit:
                self._evict_oldest(owner, spec)
            return spec

    def discard(self, key, spec: Specialization) -> None:
        with self._lock:  # another thread may have discarded it already
            specs = self.entries.get(key, [])
            if spec in specs:
                specs.remove(spec)
                release_source(spec.module)
            if not specs:
                self.entries.pop(key, None)

    def _evict_oldest(self, owner, latest: Specialization) -> None:
        key, spec = min(((k, s) for k, specs in self.entries.items() for s in specs),
                        key=lambda pair: pair[1].last_used)
        self.discard(key, spec)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{owner} was traced {self.traces} times and keeps at most {self.limit} "
                f"specializations; the least recently used are evicted from now on, so results "
                f"stay correct but calls trace again. Latest reason: {latest.reason}. "
                f"{latest.advice or 'If this keeps happening, raise max_specializations.'}",
                RetraceWarning, stacklevel=6,  # the user's call
            )

    def latest(self) -> Specialization | None:
        """The specialization used most recently, if any."""
        return max((s for specs in self.entries.values() for s in specs), key=lambda s: s.last_used, default=None)

    def info(self) -> CacheInfo:
        count = sum(len(v) for v in self.entries.values())
        return CacheInfo(self.hits, self.misses, self.traces, count)

    def clear(self) -> None:
        with self._lock:
            for spec in [s for specs in self.entries.values() for s in specs]:
                release_source(spec.module)
            self.entries.clear()
        self.history.clear()
        self.earlier_retraces = 0
        self.hits = self.misses = self.traces = 0
        self._warned = False

    def explain(self, title: str) -> str:
        specs = [s for specs in self.entries.values() for s in specs]
        lines = [f"{title}: {len(specs)} specialization(s) (limit {self.limit}), "
                 f"{self.traces} trace(s), {self.hits} cache hit(s), {self.misses} miss(es)"]
        for i, spec in enumerate(sorted(specs, key=lambda s: -s.last_used)):
            lines.append(f"  [{i}] {spec.signature}")
            lines.append(f"      traced because: {spec.reason}; ran {spec.hits} time(s)")
            if "long loops" in spec.extra:
                lines.append(f"      {spec.extra['long loops']}")
            if not spec.module.guards:
                lines.append("      no guards: no Python decision depended on traced values")
            for guard in spec.module.guards:
                lines.append(f"      guard {describe_guard(guard)}")
        if self.history:
            lines.append("  retraces, oldest first:")
            if self.earlier_retraces:
                lines.append(f"    ... and {self.earlier_retraces} earlier retraces")
            lines += [f"    - {reason}" for reason in self.history]
        return "\n".join(lines)


SHAPE_ADVICE = ("If an array's shape changes on every call, pad or bucket inputs to a few shapes; "
                "or raise max_specializations.")
STATIC_ADVICE = ("A static argument is a key of the generated code: if it is a number, pass it "
                 "as a Python int/float (a runtime value) rather than through static_argnums or "
                 "a string; or raise max_specializations.")
GUARD_ADVICE = ("A Python decision (if, while, range(), an index, int()) on this value is part of "
                "the traced path. If the value changes on every call, compute with NumPy instead "
                "(np.where for a branch, a mask); if it indexes or slices data that a list, tuple or "
                "dict holds (data[0][rows]; arrays held directly by a global, a closure variable or "
                "an attribute are indexed by the generated code), take the batch outside and "
                "pass it as an argument; pass it through static_argnums if it takes few values; "
                "or raise max_specializations.")


def argument_signatures(names: list, leaves: list) -> list:
    """(name, what the code is specialized on) of each argument leaf, for messages."""
    return [(name, leaf_signature(leaf)) for name, leaf in zip(names, leaves)]


def _is_static(signature) -> bool:
    return isinstance(signature, tuple) and signature[:1] == ("static",)


def _describe_signature(signature) -> str:
    if isinstance(signature, tuple) and len(signature) == 2 and isinstance(signature[1], np.dtype):
        return type_str(*signature)
    if isinstance(signature, tuple) and len(signature) == 3 and isinstance(signature[1], np.dtype):
        return f"{signature[2]} {type_str(*signature[:2])}"  # a Dask or CuPy array
    if _is_static(signature):
        return repr(signature[2])
    return str(signature)  # float, int, bool, generator


def describe_change(old: list, new: list) -> tuple[str, str]:
    """(why, advice) for a call whose arguments differ from the latest specialization's."""
    if [n for n, _ in old] != [n for n, _ in new]:
        return (f"the arguments' structure changed: ({', '.join(n for n, _ in old)}) -> "
                f"({', '.join(n for n, _ in new)})", "Keep containers of arguments the same layout "
                "from call to call (the same keys, lengths and kinds); or raise max_specializations.")
    changes = [(n, a, b) for (n, a), (_, b) in zip(old, new) if a != b]
    if not changes:
        return ("the same arguments were passed another way (by keyword rather than by position, "
                "or in another kind of container)", "Pass each argument the same way on every call; "
                "or raise max_specializations.")
    text = "; ".join(f"{n}: {_describe_signature(a)} -> {_describe_signature(b)}" for n, a, b in changes)
    if any(_is_static(b) for _, _, b in changes):
        return f"argument changed: {text}", STATIC_ADVICE
    if any(a in SCALARS.values() or b in SCALARS.values() for _, a, b in changes):
        return f"argument changed: {text}", ("Pass each scalar argument as the same Python type on "
                                             "every call (1.0 rather than 1 for a float); or raise "
                                             "max_specializations.")
    return f"argument changed: {text}", SHAPE_ADVICE


def guard_inputs(graph, guard) -> list:
    """The names of the inputs whose values ``guard`` checks (walked back through the graph)."""
    producers = {node.out.id: node for node in graph.nodes if node.out is not None}
    inputs = {v.id: v for v in graph.inputs}
    seen, stack, found = set(), [v for v in guard.inputs if hasattr(v, "id")], []
    while stack:
        v = stack.pop()
        if v.id in seen:
            continue
        seen.add(v.id)
        if v.id in inputs:
            found.append(inputs[v.id].name or f"input {v.id}")
        elif v.id in producers:
            stack += [u for u in producers[v.id].inputs if hasattr(u, "id")]
    return sorted(set(found))


def describe_guard(node) -> str:
    """``model.py:12  if x.sum() > 0:  -> True`` for a guard node."""
    where = f"{os.path.basename(node.loc.filename)}:{node.loc.lineno}  {node.loc.text}" if node.loc else "(unknown line)"
    return f"{where}  -> {node.params['kind']} {node.params['expected']!r}"


def describe_guard_failure(node, actual, graph=None) -> str:
    """``guard at model.py:12 `for _ in range(n):` expected 3, got 4 (from argument n)``; the
    arguments are named when ``graph``, the guarded code's graph, is given."""
    convert = {"bool": bool, "int": int, "float": float, "complex": complex}.get(node.params["kind"], lambda v: v)
    try:
        actual = convert(actual)
    except (TypeError, ValueError):
        pass
    where = f"{os.path.basename(node.loc.filename)}:{node.loc.lineno} `{node.loc.text}`" if node.loc else "(unknown line)"
    sources = guard_inputs(graph, node) if graph is not None else []
    source = f" (from {'argument' if len(sources) == 1 else 'arguments'} {', '.join(sources)})" if sources else ""
    return f"guard at {where} expected {_short(node.params['expected'])}, got {_short(actual)}{source}"


def _short(value) -> str:
    """A value for a message: long index arrays by their first entries and their length."""
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if isinstance(items, list) and len(items) > 6:
        return f"[{', '.join(map(repr, items[:4]))}, ...] ({len(items)} entries)"
    return repr(items)


def describe_key(spec: Specialization) -> str:
    """``grad_f(x: f64[3], n: int, mode='sum')``: the generated function and what it is
    specialized on: types of arrays and scalars, values of static arguments."""
    if spec.arguments:
        params = ", ".join(f"{n}={_describe_signature(sig)}" if _is_static(sig)
                           else f"{n}: {_describe_signature(sig)}" for n, sig in spec.arguments)
    else:
        names = list(inspect.signature(spec.run).parameters)
        params = ", ".join(f"{n}: {type_str(v.shape, v.dtype)}" for n, v in zip(names, spec.graph.inputs))
    return f"{spec.run.__name__}({params})"
