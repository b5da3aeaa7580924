"""Specialization keys and the per-function cache of generated code.

A key holds what the generated code is specialized on: the argument tree's structure, each
array's shape and dtype, and the values of static (non-array, non-float) arguments. Python floats
are values, not keys: a new learning rate runs the same code.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from .tracing import Tracer

FLOAT = "float"  # the signature of a Python float leaf


def leaf_signature(leaf) -> Any:
    """What of ``leaf`` the generated code is specialized on; raises for unusable arguments."""
    if isinstance(leaf, (np.ndarray, Tracer, np.generic)):
        return (leaf.shape, leaf.dtype)
    if isinstance(leaf, float):
        return FLOAT
    try:
        hash(leaf)
    except TypeError:
        raise TypeError(
            f"argument of type {type(leaf).__name__} cannot be used: it is neither an array nor a "
            "hashable static value (int, str, tuple, ...). Pass arrays as NumPy arrays, containers "
            "as dict/list/tuple, and register other containers with td.register_pytree_node"
        ) from None
    return ("static", type(leaf), leaf)


def is_dynamic(leaf) -> bool:
    """Dynamic leaves are parameters of the generated code; the rest are baked in."""
    return isinstance(leaf, (np.ndarray, Tracer, np.generic, float))


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    traces: int
    specializations: int


@dataclass
class Specialization:
    """Generated code for one key and one path through the user's control flow."""

    module: Any  # codegen.GeneratedModule
    graph: Any  # the optimized ir.Graph, replayed when called on tracers (higher order)
    run: Callable  # the generated entry point
    finish: Callable  # flat outputs -> the result the user sees
    hits: int = 0
    extra: dict = field(default_factory=dict)


class SpecializationCache:
    """Specializations by key, with the statistics ``cache_info`` reports."""

    def __init__(self):
        self.entries: OrderedDict = OrderedDict()
        self.hits = self.misses = self.traces = 0

    def lookup(self, key) -> list:
        return self.entries.get(key, ())

    def add(self, key, spec: Specialization) -> None:
        self.entries.setdefault(key, []).append(spec)

    def info(self) -> CacheInfo:
        count = sum(len(v) for v in self.entries.values())
        return CacheInfo(self.hits, self.misses, self.traces, count)

    def clear(self) -> None:
        self.entries.clear()
        self.hits = self.misses = self.traces = 0
