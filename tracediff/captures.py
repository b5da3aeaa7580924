"""What a trace read from outside its arguments: globals and closure variables.

Their values are baked into the generated code (arrays by reference, so in-place changes are
seen). Rebinding one of them must make the cache trace again, so each specialization keeps the
bindings it saw and checks them, by identity, before it runs.

Watched: every global name the user's own functions read while tracing (module objects aside),
the closure variables of the function being differentiated, and the attributes (``__dict__``)
of objects passed as arguments, such as ``self`` of a method. Captured arrays of at most
``SNAPSHOT_LIMIT`` elements are also compared with a copy before each call, because what user
code computes from them before they meet a traced value (``s = SCALE * 2``) is computed once,
at trace time. Not watched: attributes of objects (``self.w``, ``config.lr``), closure
variables of helper functions, the contents of containers, and the contents of larger arrays
(a warning says so when the generated code does not reference such an array directly).
"""
from __future__ import annotations

import types
import warnings

import numpy as np

from .errors import TracediffError

_MISSING = object()
SNAPSHOT_LIMIT = 100_000  # elements: larger captured arrays are not compared call by call
_GENERATORS = (np.random.Generator, np.random.RandomState)


class CapturedGeneratorError(TracediffError, TypeError):
    """A random generator reached through globals or a closure was drawn from while tracing."""


def _state_of(gen):
    return gen.bit_generator.state if isinstance(gen, np.random.Generator) else gen.get_state(legacy=False)


def _same_state(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


class Captures:
    """Records, during one trace, the outside bindings the user's code could read."""

    def __init__(self, fun):
        self._globals_seen: dict = {}  # code object -> its globals dict
        self._objects: list = []  # objects passed in as static arguments: their attributes are watched
        self._generators: dict = {}  # id -> (generator, state before, name)
        fun = getattr(fun, "__func__", fun)
        code = getattr(fun, "__code__", None)
        cells = getattr(fun, "__closure__", None) or ()
        self.cells = list(zip(code.co_freevars, cells)) if code is not None else []
        for name, cell in self.cells:
            self._watch_generator(name, _cell_value(cell))

    def watch_object(self, obj) -> None:
        """Watch the attributes of an object argument (``self`` of a method) like globals."""
        if isinstance(getattr(obj, "__dict__", None), dict) and not isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            self._objects.append(obj)
            for name, value in vars(obj).items():
                self._watch_generator(name, value)

    def on_call(self, frame) -> None:
        """Called for each user frame entered while tracing."""
        code = frame.f_code
        if code in self._globals_seen:
            return
        self._globals_seen[code] = frame.f_globals
        for name in code.co_names:
            self._watch_generator(name, frame.f_globals.get(name))

    def _watch_generator(self, name, value) -> None:
        if isinstance(value, _GENERATORS) and id(value) not in self._generators:
            self._generators[id(value)] = (value, _state_of(value), name)

    def check_generators(self, function_name: str) -> None:
        for gen, before, name in self._generators.values():
            if not _same_state(_state_of(gen), before):
                raise CapturedGeneratorError(
                    f"{function_name} draws from the random generator '{name}', which it reaches "
                    "through a global or closure variable. Its draws would be frozen into the "
                    f"generated code; pass '{name}' as an argument instead, so every call draws "
                    "fresh values."
                )

    def bindings(self, referenced: set) -> "Bindings":
        """The bindings to check; ``referenced`` holds ids of arrays the generated code uses."""
        global_bindings, named = [], []
        for code, globs in self._globals_seen.items():
            for name in code.co_names:
                value = globs.get(name, _MISSING)
                if value is not _MISSING and not isinstance(value, types.ModuleType):
                    global_bindings.append((globs, name, value))
                    named.append((name, value))
        for obj in self._objects:
            attributes = vars(obj)
            for name, value in attributes.items():
                global_bindings.append((attributes, name, value))
                named.append((name, value))
        cell_bindings = [(cell, _cell_value(cell)) for _, cell in self.cells
                         if not isinstance(_cell_value(cell), types.ModuleType)]  # as for globals
        named += [(name, value) for (name, _), (_, value) in zip(self.cells, cell_bindings)]
        snapshots, seen = [], set()
        for name, value in named:
            if not isinstance(value, np.ndarray) or id(value) in seen:
                continue
            seen.add(id(value))
            if value.size <= SNAPSHOT_LIMIT:
                snapshots.append((name, value, value.copy()))
            elif id(value) not in referenced:
                warnings.warn(
                    f"the captured array '{name}' ({value.size} elements) was used only through "
                    "values computed from it at trace time; in-place changes to it will not be "
                    "seen by the cached gradient. Pass it as an argument instead.",
                    stacklevel=6,
                )
        return Bindings(global_bindings, cell_bindings, snapshots)


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell: the variable is not bound yet
        return _MISSING


class Bindings:
    """The outside bindings a specialization was traced with."""

    __slots__ = ("globals", "cells", "snapshots")

    def __init__(self, global_bindings: list, cell_bindings: list, snapshots: list):
        self.globals = global_bindings
        self.cells = cell_bindings
        self.snapshots = snapshots  # (name, array, copy at trace time)

    def changed(self) -> str | None:
        """What no longer holds the value it was traced with (for messages), or None."""
        for globs, name, value in self.globals:
            if globs.get(name, _MISSING) is not value:
                return f"'{name}' was rebound"
        for cell, value in self.cells:
            if _cell_value(cell) is not value:
                return "a closure variable was rebound"
        for name, array, copy in self.snapshots:
            if not np.array_equal(array, copy, equal_nan=array.dtype.kind in "fc"):
                return f"'{name}' was changed in place"
        return None
