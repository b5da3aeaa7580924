"""Specialization keys and the per-function cache of generated code.

A key holds what the generated code is specialized on: the argument tree's structure, each
array's shape and dtype, and the values of static (non-array, non-float) arguments. Python floats
are values, not keys: a new learning rate runs the same code.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import warnings
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from .codegen import release_source
from .ir import type_str
from .pytree import flatten
from .tracing import Tracer

logger = logging.getLogger("tracediff")

FLOAT = "float"  # the signature of a Python float leaf
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
    if isinstance(leaf, GENERATORS):
        return GENERATOR
    problem = unusable(leaf, "...")
    if problem is not None:
        raise TypeError("an argument {}; {}".format(*problem))
    return ("static", type(leaf), leaf)


def unusable(leaf, name: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when ``leaf``, spelled ``name``, cannot be a leaf of an
    argument; None when it can (as an array, or as a static value the code is specialized on)."""
    if is_dynamic(leaf):
        return None
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
            else:
                break
        else:
            return tuple(key), args
    leaves, treedef = flatten((args, kwargs))
    return (treedef, *map(leaf_signature, leaves)), [leaf for leaf in leaves if is_dynamic(leaf)]


def is_dynamic(leaf) -> bool:
    """Dynamic leaves are parameters of the generated code; the rest are baked in."""
    return isinstance(leaf, (np.ndarray, Tracer, np.generic, float, *GENERATORS))


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
    signature: str = ""  # its parameters' types, for explain()
    last_used: int = 0


# Orders uses for least-recently-used eviction.
next_use = itertools.count(1).__next__


class SpecializationCache:
    """Specializations by key (most recently used first within a key), bounded in number."""

    def __init__(self, limit: int = DEFAULT_MAX_SPECIALIZATIONS):
        if limit < 1:
            raise ValueError(f"max_specializations must be at least 1, got {limit}")
        self.limit = limit
        self.entries: OrderedDict = OrderedDict()
        self.hits = self.misses = self.traces = 0
        self.history: deque = deque(maxlen=HISTORY_LIMIT)  # why the latest retraces happened
        self.earlier_retraces = 0  # how many older reasons history let go
        self._warned = False
        # Changes to the lists are made under the lock; the lean call path only reads specs[0].
        self._lock = threading.RLock()

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
                self._evict_oldest(owner, spec.reason)
            return spec

    def discard(self, key, spec: Specialization) -> None:
        with self._lock:  # another thread may have discarded it already
            specs = self.entries.get(key, [])
            if spec in specs:
                specs.remove(spec)
                release_source(spec.module)
            if not specs:
                self.entries.pop(key, None)

    def _evict_oldest(self, owner, reason: str) -> None:
        key, spec = min(((k, s) for k, specs in self.entries.items() for s in specs),
                        key=lambda pair: pair[1].last_used)
        self.discard(key, spec)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{owner} was traced {self.traces} times and keeps at most {self.limit} "
                f"specializations; the least recently used are evicted from now on, so results "
                f"stay correct but calls trace again. Latest reason: {reason}. If a value that "
                "decides the path changes on every call, compute it with NumPy (np.where) "
                "instead of Python control flow; or raise max_specializations.",
                RetraceWarning, stacklevel=5,
            )

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


def describe_guard(node) -> str:
    """``model.py:12  if x.sum() > 0:  -> True`` for a guard node."""
    where = f"{os.path.basename(node.loc.filename)}:{node.loc.lineno}  {node.loc.text}" if node.loc else "(unknown line)"
    return f"{where}  -> {node.params['kind']} {node.params['expected']!r}"


def describe_guard_failure(node, actual) -> str:
    convert = {"bool": bool, "int": int, "float": float}.get(node.params["kind"], lambda v: v)
    try:
        actual = convert(actual)
    except (TypeError, ValueError):
        pass
    where = f"{os.path.basename(node.loc.filename)}:{node.loc.lineno} `{node.loc.text}`" if node.loc else "(unknown line)"
    return f"guard at {where} expected {node.params['expected']!r}, got {actual!r}"


def describe_key(spec: Specialization) -> str:
    """``grad_f(x: f64[3], n=3)``: the generated function and its parameters' types."""
    import inspect

    names = list(inspect.signature(spec.run).parameters)
    params = ", ".join(f"{n}: {type_str(v.shape, v.dtype)}" for n, v in zip(names, spec.graph.inputs))
    return f"{spec.run.__name__}({params})"
