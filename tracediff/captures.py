"""What a trace read from outside its arguments, watched so that cached code is never stale.

The values a function reads from outside its arguments are baked into the generated code (arrays
by reference, so in-place changes are seen). Rebinding one of them must make the cache trace
again, so each specialization keeps the bindings it saw and checks them, by identity, before it
runs (:class:`Bindings`).

Watched, starting from the *roots* (the global names the user's code read while tracing, module
objects aside; the closure variables and defaults of the function being differentiated; the
objects passed as arguments; ``self`` of a bound method):

- the attributes (``__dict__``) of every object reached from a root through attributes, closure
  variables or defaults, up to ``ATTRIBUTE_DEPTH`` steps (``self.encoder.layer.scale``) and
  ``OBJECT_LIMIT`` objects, with the plain data attributes of their classes; an attribute added
  later (one that shadows a class attribute) is seen too;
- the ``__code__``, ``__defaults__``, ``__kwdefaults__`` and closure variables of every function
  reached that way (helpers the function calls);
- the contents of the arrays reached that way, up to ``SNAPSHOT_LIMIT`` elements each, compared
  with a copy before each call: what user code computes from them before they meet a traced value
  (``s = SCALE * 2``) is computed once, at trace time.

Not watched: the contents of containers (lists, dicts, tuples, sets) and what is reached only
through them, attributes of modules (but their generators), ``__slots__`` attributes, objects past
the limits (a warning names them), the differentiated function's own code and defaults tuple, and
the contents of larger arrays (a warning says so when the generated code does not reference such
an array).

Arrays reached from the roots where they can be replaced (a global, a closure variable, a
default, an attribute) are replaced while tracing by stand-ins (``tracing.CapturedArray``, a view)
that record an index computed from traced values (``X[rows]``, ``X[i * B:(i + 1) * B]``), so a
minibatch picked by the step number is indexed by the generated code rather than guarded.

Random generators reached from the roots, or named as a module's attribute (``settings.rng``),
are replaced while tracing by stand-ins whose draws are recorded
(``primitives.random.CapturedGenerator``), and so are their bound draws (``draw = rng.normal``,
``from numpy.random import normal``); drawing from one that could not be replaced (in a
container, a ``functools.partial``) is a :class:`CapturedGeneratorError`, and so is a change of
np.random's global state that no recorded draw made (traces draw from copies).
"""
from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import os
import sys
import types
import warnings

import numpy as np

from .errors import _INSTALLED, _STDLIB, TracediffError
from .primitives.random import GLOBAL_STATE, CapturedGenerator, generator_state, recording_method, same_state
from .tracing import stand_in_array

_MISSING = object()
SNAPSHOT_LIMIT = 100_000  # elements: larger captured arrays are not compared call by call
ATTRIBUTE_DEPTH = 3  # objects this many steps from a root (self is 1) have their attributes watched
OBJECT_LIMIT = 64  # objects and functions watched per specialization
_GENERATORS = (np.random.Generator, np.random.RandomState)
_CONTAINERS = (list, tuple, dict, set, frozenset)
# Never looked into: their attributes are not the user's state.
_OPAQUE = (types.ModuleType, type, types.BuiltinFunctionType, np.ufunc, np.dtype, np.generic,
           str, bytes, int, float, complex, type(None), *_GENERATORS)
# Where a generator or an array can be replaced by a stand-in while tracing (see Captures._replace).
_REPLACEABLE = ("slot", "class", "cell", "default")


class CapturedGeneratorError(TracediffError, TypeError):
    """A random generator the trace cannot record was drawn from while tracing."""


class _Reach:
    """A breadth-first walk over what a traced function can read from its roots.

    It yields one event per place a value sits, ``(kind, holder, key, value, path)``:

    - ``slot``: ``holder[key]``, a dict (a module's globals, an object's ``__dict__``, a
      function's ``__kwdefaults__``); ``class``: the attribute ``key`` of the class ``holder``;
      ``cell``: the closure cell ``holder``; ``default``: ``holder.__defaults__[key]``;
    - ``size``: an object's ``__dict__`` and its length; ``function``: a function reached;
      ``array``: an array reached;
    - ``inside``: a value in a container, a bound method, a ``functools.partial`` or an
      attribute of an object of a library's class: not watched, only looked at for generators.

    ``path`` is the user's spelling (``self.cfg.lr``). Objects past the limits are left out and
    kept in ``beyond`` (id -> path).
    """

    def __init__(self):
        self._queue: collections.deque = collections.deque()
        self._seen: set = set()  # ids of the objects and functions reported
        self._looked_at: set = set()  # ids of library objects looked into (for generators only)
        self.beyond: dict = {}

    def add(self, value, path: str, depth: int) -> None:
        self._queue.append((value, path, depth))

    def events(self):
        while self._queue:
            yield from self._contents(*self._queue.popleft())

    def function(self, function, path: str, depth: int):
        """Events for what a function holds: its closure variables and defaults, which are at
        the function's own depth (like globals; decorators nest functions in closures)."""
        code = function.__code__
        for name, cell in zip(code.co_freevars, function.__closure__ or ()):
            value = _cell_value(cell)
            if value is not _MISSING:
                yield "cell", cell, name, value, _join(path, name)
                self.add(value, _join(path, name), depth)
        defaults = function.__defaults__ or ()
        names = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
        for i, (name, value) in enumerate(zip(names, defaults)):
            yield "default", function, i, value, _join(path, name)
            self.add(value, _join(path, name), depth)
        keyword_defaults = function.__kwdefaults__ or {}
        for name, value in keyword_defaults.items():
            yield "slot", keyword_defaults, name, value, _join(path, name)
            self.add(value, _join(path, name), depth)

    def _contents(self, value, path: str, depth: int):
        if isinstance(value, np.ndarray):
            yield "array", None, None, value, path
        elif isinstance(value, _OPAQUE) or id(value) in self._seen:
            return
        elif isinstance(value, _CONTAINERS):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in itertools.islice(items, OBJECT_LIMIT):
                yield "inside", value, key, item, f"{path}[{key!r}]"
        elif isinstance(value, types.MethodType):  # (rng.normal is one too)
            yield "inside", value, "__self__", value.__self__, path
            self.add(value.__self__, path, depth)
            self.add(value.__func__, path, depth)
        elif isinstance(value, functools.partial):
            for key, item in itertools.chain(enumerate(value.args), value.keywords.items()):
                yield "inside", value, key, item, f"{path}(... {key!r})"
            self.add(value.func, path, depth)
        elif isinstance(value, types.FunctionType):
            if not _in_library(value) and self._admit(value, path, depth):
                yield "function", value, None, None, path
                yield from self.function(value, path, depth)
        elif _library_class(type(value)):  # only looked at for generators (a SciPy random_state)
            attributes = _attributes(value)
            if attributes is None or depth > ATTRIBUTE_DEPTH or id(value) in self._looked_at:
                return
            self._looked_at.add(id(value))
            for name, item in list(attributes.items()):
                yield "inside", attributes, name, item, f"{path}.{name}"
                if _library_class(type(item)) and not isinstance(item, _OPAQUE):
                    self.add(item, f"{path}.{name}", depth + 1)  # (a distribution's dist)
        else:
            attributes = _attributes(value)
            if attributes is None or not self._admit(value, path, depth):
                return
            yield "size", attributes, None, len(attributes), path
            for name, item in list(attributes.items()):
                yield "slot", attributes, name, item, f"{path}.{name}"
                self.add(item, f"{path}.{name}", depth + 1)
            for cls, name, item in _class_data(type(value), attributes):
                yield "class", cls, name, item, f"{cls.__qualname__}.{name}"
                self.add(item, f"{path}.{name}", depth + 1)

    def _admit(self, value, path: str, depth: int) -> bool:
        if depth > ATTRIBUTE_DEPTH or len(self._seen) >= OBJECT_LIMIT:
            self.beyond.setdefault(id(value), path)
            return False
        self._seen.add(id(value))
        self.beyond.pop(id(value), None)
        return True


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _in_library(function) -> bool:
    """A function of an installed package or the standard library: its closure and defaults are
    the library's business, not the user's state (and walking them only hits the limits)."""
    path = os.path.realpath(function.__code__.co_filename)
    return path.startswith(_INSTALLED + _STDLIB)


@functools.lru_cache(maxsize=None)
def _library_class(cls: type) -> bool:
    """A class of an installed package or the standard library (a SciPy distribution, a
    logger): its instances' attributes are the library's business, as its functions' closures
    are, so they are not watched (rebinding the attribute that holds one is)."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return path is not None and os.path.realpath(path).startswith(_INSTALLED + _STDLIB)


def _attributes(value) -> dict | None:
    """The ``__dict__`` of an object whose attributes are the user's state, or None."""
    try:
        attributes = value.__dict__
    except Exception:  # no __dict__ (slots, C types), or a proxy that refuses
        return None
    if not isinstance(attributes, dict) or type(value).__module__.partition(".")[0] == "tracediff":
        return None  # tracediff's own objects (a compiled gradient's cache changes on every call)
    return attributes


def _class_data(cls: type, attributes: dict):
    """(defining class, name, value) of the plain data attributes an instance of ``cls`` reads
    from its class: not dunders, not descriptors (methods, properties), not in ``attributes``."""
    found: dict = {}
    for klass in cls.__mro__[:-1]:  # object last
        for name, value in vars(klass).items():
            if name not in found and not (name.startswith("__") and name.endswith("__")):
                found[name] = klass, value
    for name, (klass, value) in found.items():
        if name not in attributes and not hasattr(type(value), "__get__"):
            yield klass, name, value


def _value_at(kind: str, holder, key):
    if kind == "slot":
        return holder.get(key)
    if kind == "class":
        return vars(holder).get(key)
    if kind == "cell":
        return _cell_value(holder)
    return holder.__defaults__[key]


def _put(kind: str, holder, key, value) -> None:
    if kind == "slot":
        holder[key] = value
    elif kind == "class":
        setattr(holder, key, value)
    elif kind == "cell":
        holder.cell_contents = value
    else:
        defaults = holder.__defaults__
        holder.__defaults__ = defaults[:key] + (value,) + defaults[key + 1:]


def _global_events(reach: _Reach, code, globs: dict):
    for name in code.co_names:
        value = globs.get(name, _MISSING)
        if isinstance(value, types.ModuleType):  # only its generators the code names (settings.rng)
            attributes = vars(value)
            for attribute in code.co_names:
                if isinstance(attributes.get(attribute), _GENERATORS):
                    yield "slot", attributes, attribute, attributes[attribute], f"{name}.{attribute}"
        elif value is not _MISSING:
            yield "slot", globs, name, value, name
            reach.add(value, name, 1)


class Captures:
    """Records, during one trace, the outside bindings the user's code could read."""

    def __init__(self, fun):
        self.function = getattr(fun, "__func__", fun)  # (a method's function)
        self._roots: list = []  # (object, path): objects whose attributes are watched
        if isinstance(fun, types.MethodType):
            self._roots.append((fun.__self__, "self"))
        elif not isinstance(fun, types.FunctionType):  # a callable object
            self._roots.append((fun, "self"))
        self._globals_seen: dict = {}  # code object -> its globals dict
        self._reach: _Reach | None = None  # while tracing
        self._stand_ins: dict = {}  # id(generator) -> its CapturedGenerator
        self._arrays: dict = {}  # id(array) -> its CapturedArray
        self._undo: list = []  # how to put each replaced generator back
        self._unreplaced: dict = {}  # id(generator) -> (generator, state, path): in containers

    def watch_object(self, obj, path: str = "argument") -> None:
        """Watch the attributes of an object argument like ``self``'s."""
        self._roots.append((obj, path))

    def on_call(self, frame) -> None:
        """Called for each user frame entered while tracing (``frame.f_code``, ``f_globals``)."""
        code = frame.f_code
        if code in self._globals_seen:
            return
        self._globals_seen[code] = frame.f_globals
        if self._reach is not None:
            self._stand_in_for_values(itertools.chain(
                _global_events(self._reach, code, frame.f_globals), self._reach.events()))

    def _root_events(self, reach: _Reach):
        if isinstance(self.function, types.FunctionType):
            yield from reach.function(self.function, "", 1)
        for obj, path in self._roots:
            reach.add(obj, path, 1)

    # --- stand-ins: generators and arrays ---------------------------------------------------
    @contextlib.contextmanager
    def standing_in(self):
        """While the function is traced, each generator it can reach from outside its arguments
        is replaced by a stand-in that records its draws, and each array by one that records
        computed indices (and both are put back afterwards)."""
        self._reach = _Reach()
        self._global_state = generator_state(GLOBAL_STATE)  # traces draw from a copy of it
        try:
            self._stand_in_for_values(itertools.chain(self._root_events(self._reach), self._reach.events()))
            yield
        finally:
            self._reach = None
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()
            self._arrays.clear()

    def _stand_in_for_values(self, events) -> None:
        for kind, holder, key, value, path in events:
            if type(value) is np.ndarray and value.dtype.kind in "biufc" and kind in _REPLACEABLE:
                stand_in = self._arrays.get(id(value))
                if stand_in is None:
                    stand_in = self._arrays[id(value)] = stand_in_array(value, path)
                self._replace(kind, holder, key, value, stand_in)
            elif isinstance(value, _GENERATORS) and type(value) is not CapturedGenerator:
                if kind in _REPLACEABLE:
                    self._stand_in(kind, holder, key, value, path)
                else:
                    self._unreplaced.setdefault(id(value), (value, generator_state(value), path))
            elif isinstance(value, types.MethodType) and isinstance(value.__self__, _GENERATORS):
                generator = value.__self__  # (from numpy.random import normal; draw = rng.normal)
                replacement = kind in _REPLACEABLE and recording_method(
                    value, lambda: self._stand_in_for(generator, path))
                if replacement:
                    self._replace(kind, holder, key, value, replacement)
                else:
                    self._unreplaced.setdefault(id(generator), (generator, generator_state(generator), path))

    def _stand_in_for(self, generator, path: str) -> CapturedGenerator:
        stand_in = self._stand_ins.get(id(generator))
        if stand_in is None:
            stand_in = self._stand_ins[id(generator)] = CapturedGenerator(generator, path)
        return stand_in

    def _stand_in(self, kind, holder, key, generator, path) -> None:
        self._replace(kind, holder, key, generator, self._stand_in_for(generator, path))

    def _replace(self, kind, holder, key, original, stand_in) -> None:
        _put(kind, holder, key, stand_in)

        def undo():  # unless the user's code rebound it meanwhile
            if _value_at(kind, holder, key) is stand_in:
                _put(kind, holder, key, original)

        self._undo.append(undo)

    def check_generators(self, function_name: str) -> None:
        """Raise if the trace drew from a generator itself rather than through a stand-in: those
        draws are constants of the trace, and would be frozen into the generated code."""
        drawn = [(s.name, "through a second reference that tracediff does not watch") for s in
                 self._stand_ins.values() if s.drawn_outside()]
        drawn += [(path, "through a container (a list, dict, tuple or set), a functools.partial or "
                         "an object of a library (a SciPy distribution's random_state)")
                  for generator, state, path in self._unreplaced.values()
                  if not same_state(generator_state(generator), state)]
        if not same_state(generator_state(GLOBAL_STATE), self._global_state):
            GLOBAL_STATE.set_state(self._global_state)
            raise CapturedGeneratorError(
                f"{function_name} draws from np.random's global state by a route tracediff does not "
                "record (np.random.mtrand._rand, a function of np.random kept in a container, a "
                "library that draws from the global state), or another thread drew from it while "
                "tracing: those draws would be frozen into the generated code. Call np.random's "
                "functions directly, or pass a np.random.Generator as an argument and draw from it."
            )
        if drawn:
            name, how = drawn[0]
            raise CapturedGeneratorError(
                f"{function_name} draws from the random generator '{name}', which it reaches {how}. "
                "tracediff cannot record those draws: they would be frozen into the generated code. "
                "Pass the generator as an argument, or hold it in a global, a closure variable, a "
                "default argument or an attribute, so every call draws fresh values."
            )

    # --- what each call checks ---------------------------------------------------------------
    def bindings(self, referenced: set) -> "Bindings":
        """The bindings to check; ``referenced`` holds ids of arrays the generated code uses."""
        reach = _Reach()
        events = itertools.chain(
            self._root_events(reach),
            *(_global_events(reach, code, globs) for code, globs in self._globals_seen.items()),
            reach.events())
        slots, sizes, cells, functions, named, seen = [], [], [], [], [], set()
        for kind, holder, key, value, path in events:
            if kind in ("slot", "class") and (id(holder), key) not in seen:
                seen.add((id(holder), key))
                slots.append((vars(holder) if kind == "class" else holder, key, value, f"'{path}'"))
            elif kind == "size":
                sizes.append((holder, value, f"'{path}'"))
            elif kind == "cell":
                cells.append((holder, value, f"the closure variable '{path}'"))
            elif kind == "function":
                functions.append((holder, holder.__code__, holder.__defaults__, holder.__kwdefaults__, f"'{path}'"))
            elif kind == "array":
                named.append((path, value))
        if reach.beyond:
            paths = list(reach.beyond.values())
            warnings.warn(
                f"tracediff watches the attributes of objects at most {ATTRIBUTE_DEPTH} steps from the "
                f"function's arguments, self, globals and closure variables ({OBJECT_LIMIT} objects at "
                f"most); {', '.join(map(repr, paths[:3]))}{' and others' if len(paths) > 3 else ''} "
                "lie further, so changes there will not be seen by the cached gradient. Pass such "
                "values as arguments, or call clear_cache() after changing them.",
                stacklevel=6,  # the user's call
            )
        snapshots, arrays = [], set()
        for path, value in named:
            if id(value) in arrays:
                continue
            arrays.add(id(value))
            if value.size <= SNAPSHOT_LIMIT:
                snapshots.append((f"'{path}'", value, value.tobytes()))
            elif id(value) not in referenced:
                warnings.warn(
                    f"the captured array '{path}' ({value.size} elements) was used only through "
                    "values computed from it at trace time; in-place changes to it will not be "
                    "seen by the cached gradient. Pass it as an argument instead.",
                    stacklevel=6,  # the user's call
                )
        return Bindings(slots, sizes, cells, functions, snapshots)


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell: the variable is not bound yet
        return _MISSING


class Bindings:
    """The outside bindings a specialization was traced with, each checked by identity.

    ``globals``: (mapping, name, value, what) for module globals, object and class attributes and
    keyword defaults; ``sizes``: (an object's ``__dict__``, its length, what); ``cells``: (cell,
    value, what); ``functions``: (function, code, defaults, keyword defaults, what);
    ``snapshots``: (what, array, its bytes at trace time).
    """

    __slots__ = ("globals", "sizes", "cells", "functions", "snapshots")

    def __init__(self, slots: list, sizes: list, cells: list, functions: list, snapshots: list):
        self.globals = slots
        self.sizes = sizes
        self.cells = cells
        self.functions = functions
        self.snapshots = snapshots

    def __bool__(self) -> bool:  # anything to check at all (the cached call skips empty ones)
        return bool(self.globals or self.sizes or self.cells or self.functions or self.snapshots)

    def changed(self) -> str | None:
        """What no longer holds the value it was traced with (for messages), or None."""
        for mapping, name, value, what in self.globals:
            if mapping.get(name, _MISSING) is not value:
                return f"{what} was rebound"
        for mapping, size, what in self.sizes:
            if len(mapping) != size:
                return f"an attribute was added to {what}"
        for cell, value, what in self.cells:
            try:
                current = cell.cell_contents
            except ValueError:  # emptied (del)
                current = _MISSING
            if current is not value:
                return f"{what} was rebound"
        for function, code, defaults, keyword_defaults, what in self.functions:
            if (function.__code__ is not code or function.__defaults__ is not defaults
                    or function.__kwdefaults__ is not keyword_defaults):
                return f"the code or defaults of {what} changed"
        for what, array, data in self.snapshots:
            if array.tobytes() != data:  # bit for bit: NaNs equal themselves
                return f"{what} was changed in place"
        return None
