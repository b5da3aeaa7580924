"""Tracing: run a plain NumPy function on Tracers that carry concrete values and record each
primitive application into a graph.

Tracers carry real values, so value-dependent Python (``if x.sum() > 0``, ``while``, ``range(n)``)
runs as usual. Every time a traced value becomes a Python value the trace records a guard, so
generated code can check that a later call takes the same path.
"""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
import types
import weakref
from typing import NamedTuple

import numpy as np

from . import abstract
from .array_libraries import ArrayLibraryError, library_of, shares_memory
from .errors import (
    EscapedTracerError,
    MissingRuleError,
    MixedTraceError,
    TracerConversionError,
    _is_internal,
    user_frame,
    user_location,
)
from .ir import Graph, Literal, Node, SourceLocation, Var, operand_key, params_key, type_str
from .switches import enabled, large_at


class _ThreadState(threading.local):
    def __init__(self):
        self.no_grad_depth = 0
        self.traces: list = []  # the traces this thread is recording, innermost last


_state = _ThreadState()


def current_trace() -> "Trace | None":
    """The innermost trace this thread is recording, if any."""
    return _state.traces[-1] if _state.traces else None


@contextlib.contextmanager
def recording(trace: "Trace", captures):
    """Run the user's function as ``trace``: watch the user's frames (only while tracing).

    A user frame's locals that hold tracers give their names to the values when the frame
    returns, and also each time it calls something (an operator, a NumPy function, a helper):
    by then the statements before have bound their results, so a value bound mid-function or
    rebound later (``x = x + 1`` in a loop) still gets the name it had. When a user frame starts,
    ``captures`` sees which globals it can read.

    Frames are watched by a profile hook when the profile slot is free (or holds the hook of an
    enclosing trace, which it calls on). A profiler already there (cProfile, whose hook is C code
    that Python can neither call nor put back; a sampling profiler; any ``sys.setprofile``
    function) keeps the slot and sees every call, and the frames are then found by walking the
    stack each time a value is recorded (:class:`_StackWatch`). Debuggers and coverage keep
    ``sys.settrace``, which is never touched.
    """
    from . import array_construction

    previous = sys.getprofile()

    def name_values(frame):
        for name, value in frame.f_locals.items():
            if isinstance(value, Tracer) and value._trace is trace and value._var.name is None:
                value._var.name = name

    # Code the garbage collector runs meanwhile (gc.callbacks, finalizers) is not the user's
    # function: its frames are neither named from nor watched.
    thread, collecting = threading.get_ident(), [False]

    def collection_starts(phase, info):
        if phase == "start" and threading.get_ident() == thread:
            collecting[0] = True

    def collection_ends(phase, info):
        if phase == "stop" and threading.get_ident() == thread:
            collecting[0] = False

    def profile(frame, event, arg):
        if event in ("call", "return") and not collecting[0]:
            # (trace.caller: the innermost user frame while it is known, for the nodes' lines)
            user = not _is_internal(frame.f_code.co_filename)
            if user:
                if event == "call":
                    captures.on_call(frame)
                else:
                    name_values(frame)
            if event == "call":
                caller = frame.f_back
                if caller is not None and not _is_internal(caller.f_code.co_filename):
                    name_values(caller)
                    trace.caller = caller
                if user:
                    trace.caller = frame
            elif user:
                trace.caller = None  # (a user frame returned: the walk finds which one runs now)
        if previous is not None:
            previous(frame, event, arg)

    hooked = previous is None or getattr(previous, "__code__", None) is profile.__code__
    # (frame 2: the one that runs the user's function, below this generator and __enter__)
    watch = None if hooked else _StackWatch(sys._getframe(2), name_values, captures, collecting)
    array_construction.intercept()  # np.array([a, b]) and friends build traced arrays meanwhile
    saved_no_grad, _state.no_grad_depth = _state.no_grad_depth, 0
    _state.traces.append(trace)
    gc.callbacks.insert(0, collection_starts)  # first to see "start", last to see "stop"
    gc.callbacks.append(collection_ends)
    if hooked:
        sys.setprofile(profile)
        trace.profile_hook = profile
    else:
        trace.on_record = watch.look
    try:
        yield
    finally:
        if hooked and sys.getprofile() is profile:  # (the user's code may have installed a profiler)
            sys.setprofile(previous)
        trace.profile_hook = trace.caller = None
        if watch is not None:
            trace.on_record = None
            watch.finish()
        gc.callbacks.remove(collection_starts)
        gc.callbacks.remove(collection_ends)
        array_construction.release()
        _state.traces.pop()
        _state.no_grad_depth = saved_no_grad


class _StackWatch:
    """The user's frames, found by walking the stack whenever a value is recorded: what
    ``recording`` does when another profiler holds the profile hook.

    A user frame on the stack is named from as its call would be. Frames are kept once seen, so
    the locals of one that has returned still name values (next time, and at the end), as its
    return would. A frame that records nothing is never on the stack when the walk runs, so for
    ``captures`` each frame's code also stands for the code it can run without recording: the
    functions nested in it (comprehensions, lambdas) and the functions of its own module it names
    (``scale()`` returning a global). That may watch a few globals more than the hook would:
    a needless retrace at worst, where one fewer would be a stale gradient.
    """

    def __init__(self, boundary, name_values, captures, collecting):
        self.boundary = boundary  # the frame that runs the user's function: the walk stops there
        self.name_values = name_values
        self.captures = captures
        self.collecting = collecting
        self.frames: dict = {}  # id -> (depth, frame) of user frames seen, not yet returned
        self.codes: set = set()
        if isinstance(captures.function, types.FunctionType):  # watched before it runs: what it
            self._watch(captures.function.__code__, captures.function.__globals__)  # draws, say

    def look(self) -> None:
        if self.collecting[0]:
            return
        frames, frame = [], sys._getframe(1)
        while frame is not None and frame is not self.boundary:
            if not _is_internal(frame.f_code.co_filename):
                frames.append(frame)
            frame = frame.f_back
        if frame is None:  # not below the user's function (another thread, a finalizer)
            return
        self._returned(set(map(id, frames)))
        for depth, frame in zip(range(len(frames), 0, -1), frames):
            if id(frame) not in self.frames:
                self.frames[id(frame)] = (depth, frame)
                self._watch(frame.f_code, frame.f_globals)
            self.name_values(frame)

    def finish(self) -> None:
        self._returned(set())
        self.frames.clear()

    def _returned(self, on_stack: set) -> None:
        gone = sorted((item for key, item in self.frames.items() if key not in on_stack),
                      key=lambda item: -item[0])  # the innermost returned first
        for _, frame in gone:
            del self.frames[id(frame)]
            self.name_values(frame)

    def _watch(self, code, globs) -> None:
        todo = [code]
        while todo:
            code = todo.pop()
            if code in self.codes or _is_internal(code.co_filename):
                continue
            self.codes.add(code)
            self.captures.on_call(_Running(code, globs))
            todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
            todo += [f.__code__ for f in map(globs.get, code.co_names)
                     if isinstance(f, types.FunctionType) and f.__globals__ is globs]


class _Running(NamedTuple):
    """What ``Captures.on_call`` reads of a frame, for code that may run without being seen."""

    f_code: types.CodeType
    f_globals: dict


CONCRETE_INDEX_LIMIT = 4096  # elements of an integer array guarded by value (written in the code)
_PYTHON_SCALARS = {float: np.dtype(np.float64), int: np.dtype(np.int64), bool: np.dtype(np.bool_),
                   complex: np.dtype(np.complex128)}


_FLOAT = np.dtype(float)


class Trace:
    """The recording of one run of a function: its inputs and the nodes it applied."""

    def __init__(self):
        self.inputs: list[Var] = []
        self.input_ids: set = set()
        self.nodes: list[Node] = []
        self.closed = False
        self.backward_of: Node | None = None  # set while reverse mode runs a node's rule
        self.tracers: list[Tracer] = []  # reverse mode's tracer of each var, by var id
        self.in_user_code = True  # nodes get the user's line only while the user's function runs
        # Set while reverse mode records: results of this many elements are Pending (abstract.py).
        self.pending_at: int | None = None
        self._computed: dict = {}  # (primitive, operands, params, requires_grad) -> its Var
        self._checked: set = set()  # (primitive, operands, params) of the checks recorded
        self._merges = enabled("record_cse")
        # Forward arrays of this many elements are held weakly (abstract.Pending.held_weakly).
        self.weak_at = large_at() if enabled("shape_only_backward") else None
        self.checkpoints: list[tuple[int, int]] = []  # node ranges of td.checkpoint blocks
        self.on_record = None  # set by recording() when it finds the user's frames by walking the stack
        self.rows: dict = {}  # id(row) -> (row, array, k, name) of data[t] read from outside (CapturedArray)
        self.profile_hook = None  # set by recording() when its profile hook watches the user's frames
        self.caller = None  # the user's frame that made the latest call the profile hook saw
        # A function differentiated inside another traced function may use the outer trace's
        # values (a closure): they enter this trace as inputs, constants of its derivative, and
        # the caller replays this trace's graph on the outer values (see lift).
        self.parent = current_trace()
        self.lifted: dict = {}  # id(outer Var) -> (outer tracer, its input tracer here)

    def _new_tracer(self, value, requires_grad: bool, kept=None) -> "Tracer":
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            shape, dtype = (), np.dtype(object)  # a generator argument: its methods are recorded
        elif type(value) in _PYTHON_SCALARS:
            # A Python scalar stays one, so NumPy's promotion treats it as it will in generated
            # code (x32 * 0.5 and x32 * 2 stay float32).
            shape, dtype = (), _PYTHON_SCALARS[type(value)]
        else:
            if not isinstance(value, (np.ndarray, np.generic, abstract.Pending)) and library_of(value) is None:
                value = np.asarray(value)  # (a Dask or CuPy array stays one: never gathered)
            shape, dtype = value.shape, value.dtype
        var = Var(len(self.tracers), shape, dtype, requires_grad)
        # Reverse mode reads forward values through its own tracer of each var: the one handed
        # to user code may be rebound by in-place operations or marked stale.
        self.tracers.append(Tracer(self, var, value if kept is None else kept))
        tracer = Tracer(self, var, value)
        if type(value) is abstract.Pending and self.in_user_code and value.holder is None:
            value.holder = weakref.ref(tracer)  # (a forward value: see Pending.force)
        return tracer

    @contextlib.contextmanager
    def backward_of_node(self, node):
        """Nodes recorded inside the block belong to the backward pass of ``node`` (their comment
        and place in generated code)."""
        self.backward_of = node
        try:
            yield
        finally:
            self.backward_of = None

    def new_input(self, value, requires_grad: bool) -> "Tracer":
        tracer = self._new_tracer(value, requires_grad)
        self.inputs.append(tracer._var)
        self.input_ids.add(tracer._var.id)
        return tracer

    def computes_at_once(self, args) -> bool:
        """Whether a forward operation on ``args`` is computed now rather than worked out from
        shapes: when an operand is a value computed earlier and at hand (a guard needed it). It
        is alive now, but may not be when something needs the result, and computing it again
        would go back a whole chain (a guard at each step of a loop)."""
        for a in args:
            if isinstance(a, Tracer) and a._var.id not in self.input_ids and not abstract.is_pending(a._val):
                if getattr(a._val, "size", 0) >= self.pending_at:
                    return True
        return False

    def lift(self, tracer: "Tracer") -> "Tracer":
        """``tracer`` of an enclosing trace as an input of this one (the same input each time)."""
        if tracer._trace is self:
            return tracer
        outer = self.parent.lift(tracer)
        known = self.lifted.get(id(outer._var))
        if known is None:
            inner = self.new_input(outer._value, requires_grad=False)
            inner._var.name = outer._var.name
            known = self.lifted[id(outer._var)] = (outer, inner)
        return known[1]

    def encloses(self, other: "Trace") -> bool:
        """Whether ``other`` was started while this trace was recording (at any depth)."""
        while other is not None:
            other = other.parent
            if other is self:
                return True
        return False

    def record(self, primitive, args, params, value, caller=None) -> "Tracer | None":
        """Record ``primitive`` applied to ``args`` with its result ``value``; ``caller``: the
        user's frame that called in, when bind knows it."""
        if self.on_record is not None and self.in_user_code:
            self.on_record()
        captured = self.in_user_code or primitive.alias  # user code's arrays, or a rule's constant operand
        inputs = [a._var if isinstance(a, Tracer) else self._literal(a, captured) for a in args]
        if primitive.checks:  # values never change once computed: checked once is checked
            key = (primitive, tuple(map(operand_key, inputs)), params_key(params))
            if key in self._checked:
                return None
            if key[2] is not None:
                self._checked.add(key)
        flowing = False  # whether an operand depends on a differentiated input
        for a in args:
            if isinstance(a, Tracer) and a.requires_grad:
                flowing = True
                break
        requires_grad = (flowing and primitive.differentiable and _state.no_grad_depth == 0
                         and getattr(value, "dtype", _FLOAT).kind in "fc")
        # The same pure operation on the same operands is one value (x[:-1] written twice, a
        # rule recomputing cos(x)): reverse mode then sums its cotangents before going further.
        key = None
        if value is not None and not primitive.effectful and self._merges:
            p_key = params_key(params)
            if p_key is not None:
                key = (primitive, tuple(map(operand_key, inputs)), p_key, requires_grad)
                known = self._computed.get(key)
                if known is not None:
                    return Tracer(self, known, self.tracers[known.id]._val)
        kept = None
        if (self.weak_at is not None and type(value) is np.ndarray and value.size >= self.weak_at
                and abstract.recomputable(primitive)):
            kept = abstract.Pending.held_weakly(
                value, primitive, [self.tracers[v.id]._val if isinstance(v, Var) else v.value for v in inputs], params)
        tracer = None if value is None else self._new_tracer(value, requires_grad, kept)
        if tracer is not None and not requires_grad and tracer._var.dtype.kind in "fc":
            tracer._var.stopped = flowing
        if key is not None:
            self._computed[key] = tracer._var
        out = None if tracer is None else tracer._var
        if self.backward_of is not None:
            loc = self.backward_of.loc
        elif self.in_user_code:
            # The profile hook saw the user's frame call in (each traced operation starts with a
            # call of a Python method of Tracer's): the innermost user frame, without a walk. While
            # the hook is off (a primitive running the user's code, as odeint does), it sees nothing.
            if caller is None and sys.getprofile() is self.profile_hook:
                caller = self.caller
            frame = caller or user_frame(2)
            loc = None if frame is None else SourceLocation.at(frame.f_code.co_filename, frame.f_lineno)
        else:
            loc = None
        self.nodes.append(Node(primitive, inputs, params, out, loc, self.backward_of))
        return tracer

    def _literal(self, a, captured: bool) -> Literal:
        literal = Literal(plain(a), captured, _name_of(a))
        if self.rows and isinstance(a, (np.ndarray, np.generic)):
            row = self.rows.get(id(a))
            if row is not None and row[0] is a:
                literal.row = row[1:]
        return literal

    def graph(self, outputs) -> Graph:
        return Graph(list(self.inputs), list(self.nodes), outputs)


def bind(primitive, args, params):
    """Apply ``primitive``: plain NumPy when no argument is traced, otherwise record it."""
    trace = None
    for a in args:
        if isinstance(a, Tracer):
            if a._trace.closed:
                raise EscapedTracerError(
                    f"{primitive.name}: a traced value was used after its trace ended{_where()}. "
                    "A value computed inside a differentiated function was kept (in a global, a "
                    "list, an attribute) and used later; return it from the function "
                    "(has_aux=True) instead."
                )
            if trace is None:
                trace = a._trace
            elif a._trace is not trace:
                if a._trace.encloses(trace):
                    continue  # a value of an enclosing trace: lifted below
                if not trace.encloses(a._trace):
                    raise MixedTraceError(
                        f"{primitive.name}: values from two unrelated traces met{_where()}. A traced "
                        "value was kept (in a global, a list, an attribute) and used while another "
                        "function was traced; pass that value as an argument instead."
                    )
                trace = a._trace
    if trace is None:
        trace = current_trace() if primitive.effectful else None
        if trace is None:  # (a draw replayed into a trace is recorded there, never frozen)
            return primitive.impl(*args, **params)
    # The profile hook watches the user's frames. Binding runs none that could matter (a
    # primitive's own function runs again in the generated code, reading what it reads then),
    # but its many small calls would each call the hook (about 100 a value): it is off meanwhile.
    hook = trace.profile_hook
    if hook is None or sys.getprofile() is not hook:
        return _bind_traced(trace, primitive, args, params)
    sys.setprofile(None)
    try:  # (the user's frame that called in, seen by the hook: the node's line)
        return _bind_traced(trace, primitive, args, params, trace.caller)
    finally:
        sys.setprofile(hook)


def _bind_traced(trace, primitive, args, params, caller=None):
    args = [a if isinstance(a, (Tracer, np.ndarray, np.generic, int, float, complex, bool)) else _operand(a)
            for a in args]  # (for a Dask or CuPy array, _operand raises: not gathered)
    args = [trace.lift(a) if isinstance(a, Tracer) and a._trace is not trace else a for a in args]
    if primitive.decides is not None:
        primitive.decides(*args)
    values = [a._val if isinstance(a, Tracer) else plain(a) for a in args]
    value = None
    if trace.pending_at is not None and not (trace.in_user_code and trace.computes_at_once(args)):
        value = abstract.evaluate(primitive, values, params, trace.pending_at)
    if value is None:
        value = primitive.impl(*abstract.concrete(values), **params)
    out = trace.record(primitive, args, params, value, caller)
    if primitive.is_view and isinstance(args[0], Tracer) and out is not None:
        unsure = abstract.is_pending(out._val)  # whether NumPy would make a view: seen if written to
        if unsure or shares_memory(out._value, args[0]._value):  # NumPy returned a view of args[0]
            out._view_of, out._view_unsure = args[0], unsure
            out._view_kind = (primitive.name, params.get("axes"))
            args[0]._views.append(out)
    return out


def _operand(a):
    """An operand that is not an array: a list holding traced values (x + [a, b]) is built as
    a traced array, anything else as NumPy's."""
    from .array_construction import as_traced, holds_tracer

    if library_of(a) is not None:
        raise ArrayLibraryError(
            f"a {library_of(a)} array that is not an argument of the function (a global, a closure "
            f"variable, an attribute) met a traced value{_where()}: it would be a constant of the "
            "generated code; pass it as an argument")
    return as_traced(a) if holds_tracer(a) else np.asarray(a)


def _where() -> str:
    loc = user_location()
    return f" at {loc}" if loc else ""


@contextlib.contextmanager
def no_grad():
    """Values computed inside the block are constants: no gradient flows through them.

    >>> import numpy as np, tracediff as td
    >>> def f(x):
    ...     y1 = x ** 2
    ...     with td.no_grad():
    ...         y2 = x ** 3
    ...     return y1 + y2
    >>> float(td.grad(f)(1.0))
    2.0
    """
    _state.no_grad_depth += 1
    try:
        yield
    finally:
        _state.no_grad_depth -= 1


def stop_gradient(x):
    """``x``'s value as a constant of the backward pass (alias :func:`detach`).

    >>> import tracediff as td
    >>> float(td.grad(lambda x: x * td.stop_gradient(x))(3.0))
    3.0
    """
    from .primitives.core import stop_gradient_p

    return stop_gradient_p.bind(x) if isinstance(x, Tracer) else x


detach = stop_gradient


class Tracer:
    """A traced value. It behaves like a NumPy array and records what is done with it."""

    __slots__ = ("_trace", "_var", "_val", "_views", "_view_of", "_view_kind", "_view_unsure", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, trace: Trace, var: Var, value):
        self._trace = trace
        self._var = var
        self._val = value  # the value, or (in a backward pass) an abstract.Pending one
        # NumPy views share memory; tracediff's writes make new values. So a write through any
        # member of a view family is carried to the others: up to the base, then down again.
        self._views: list = []  # tracers that are views of this one
        self._view_of = None  # the tracer this one is a view of
        self._view_kind = None  # how: ("index", (template, operands)), ("reshape", None), ("transpose", axes)
        # A view of a pending value: whether NumPy makes a view or a copy (a reshape) depends on
        # memory layout, which is known once computed; settled when the family is written to.
        self._view_unsure = False

    @property
    def _value(self):
        value = self._val
        return value.force() if type(value) is abstract.Pending else value

    @_value.setter
    def _value(self, value):
        self._val = value

    # --- NumPy protocols -------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "at" and ufunc is np.add:
            return _add_at(*inputs)
        if method != "__call__":
            raise MissingRuleError(
                f"np.{ufunc.__name__}.{method} is not supported on traced values{_where()}; "
                f"use the plain function (e.g. np.sum instead of np.add.reduce)"
            )
        if kwargs:
            raise TypeError(
                f"np.{ufunc.__name__}: keyword arguments {sorted(kwargs)} are not supported on "
                f"traced values{_where()}; write the result as a new value (no out=, where=, dtype=)"
            )
        primitive = _primitives.core.UFUNCS.get(ufunc)
        if primitive is None:
            raise _missing(f"np.{ufunc.__name__}")
        return primitive.bind(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        handler = _primitives.core.FUNCTIONS.get(func)
        if handler is None:
            module = getattr(func, "__module__", "numpy") or "numpy"
            raise _missing(f"{module.replace('numpy', 'np', 1)}.{getattr(func, '__name__', func)}")
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        from .array_construction import conversion_error

        # Integers and booleans that are not differentiated (an index array computed from the
        # step number, a mask) may become plain arrays: a plain array indexed by them (X[rows])
        # or a library function given them computes something that holds for every call where
        # they have the same value, which a guard checks (a new value traces again).
        if self.dtype.kind in "iub" and not self.requires_grad and self.size <= CONCRETE_INDEX_LIMIT:
            return np.asarray(self.tolist(), dtype=dtype or self.dtype)
        raise conversion_error()

    # --- metadata ---------------------------------------------------------------------------
    shape = property(lambda self: self._var.shape)
    dtype = property(lambda self: self._var.dtype)
    ndim = property(lambda self: len(self._var.shape))
    size = property(lambda self: int(np.prod(self._var.shape, dtype=np.int64)))
    T = property(lambda self: np.transpose(self))
    real = property(lambda self: np.real(self))
    imag = property(lambda self: np.imag(self))
    requires_grad = property(lambda self: self._var.requires_grad)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        grad = ", requires_grad" if self.requires_grad else ""
        return f"Tracer({type_str(self.shape, self.dtype)}{grad}, value={self._value!r})"

    def __format__(self, spec: str) -> str:
        # f"{loss:.3f}" in a print while tracing shows the value the trace saw (printing runs
        # once, at trace time; it decides nothing, so it is not a guard).
        return format(self._value, spec) if spec else repr(self)

    # --- conversions to Python values: each one is a guard ------------------------------
    def __bool__(self):
        return bool(self._guarded("bool", bool(self._value)))

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer arrays can be used as an index, got {self.dtype}")
        return self._guarded("int", int(self._value))

    def __int__(self):
        return self._guarded("int", int(self._value))

    def __float__(self):
        self._refuse_if_differentiable("float()")
        return self._guarded("float", float(self._value))

    def __complex__(self):
        self._refuse_if_differentiable("complex()")
        return self._guarded("complex", complex(self._value))

    def item(self):
        self._refuse_if_differentiable(".item()")
        kind = {"b": "bool", "f": "float", "c": "complex"}.get(self.dtype.kind, "int")
        return self._guarded(kind, np.asarray(self._value).item())  # (the value may be a Python scalar)

    def tolist(self):
        self._refuse_if_differentiable(".tolist()")
        if not self.shape:  # a 0-d value: its Python number, guarded as .item() guards it
            return self.item()
        return self._guarded("value", self._value.tolist())

    def _refuse_if_differentiable(self, what: str):
        if self.requires_grad:
            raise TracerConversionError(
                f"{what} of a differentiable value{_where()} would drop its gradient. Keep it an "
                "array; compare it directly (if x > 0:); or, if dropping the gradient is what you "
                "mean, convert td.stop_gradient(x) instead."
            )

    def _guarded(self, kind: str, value):
        bind(_primitives.core.guard_p, [self], {"kind": kind, "expected": value})
        return value

    def __getitem__(self, index):
        return _primitives.indexing.getitem(self, index)

    # --- in-place updates are recorded functionally ------------------------------------
    def __setitem__(self, index, value):
        from .primitives.indexing import setitem, split_index

        if isinstance(value, Tracer) and value._view_of is self and value._view_kind[0] == "index":
            template, operands = split_index(index, 1)
            seen_template, seen_operands = value._view_kind[1]
            if template == seen_template and all(a is b for a, b in zip(operands, seen_operands)):
                return  # x[i] += v: the view x[i] was updated in place, and x with it already
        self._become(setitem(self, index, value))

    def _become(self, new: "Tracer") -> None:
        """Take ``new``'s value in place, as NumPy's in-place operations do: every name bound to
        this tracer sees it, the arrays it is a view of are written through, and the other views
        of the family are derived again from them."""
        _settle_views(self)
        self._var, self._val = new._var, new._val
        path, child = {id(self)}, self
        while child._view_of is not None:
            base = child._view_of
            updated = _written_through(base, child)
            base._var, base._val = updated._var, updated._val
            path.add(id(base))
            child = base
        _rederive_views(child, path)


def _add_at(x, index, values=0.0):
    """``np.add.at(x, index, values)`` on a traced ``x``: values at repeated indices add up."""
    from .primitives.indexing import scatter_add_p, split_index

    if not isinstance(x, Tracer):
        raise TracerConversionError(
            f"np.add.at into a plain NumPy array with traced values{_where()} would write them "
            "into your array and lose their gradient; add into a traced array (x = x.copy() of "
            "an argument) or build the result with x + ... instead"
        )
    template, operands = split_index(index, 1)
    values = np.broadcast_to(values, np.shape(x._value[_concrete_index(index)]))
    x._become(x + scatter_add_p.bind(values, *operands, index=template, shape=x.shape, dtype=x.dtype))


def _concrete_index(index):
    items = index if isinstance(index, tuple) else (index,)
    items = tuple(i._value if isinstance(i, Tracer) else i for i in items)
    return items if isinstance(index, tuple) else items[0]


def _written_through(base: Tracer, view: Tracer) -> Tracer:
    """``base``'s value after its view ``view`` was written to."""
    from .primitives.indexing import _renumber, setitem_p

    kind, detail = view._view_kind
    if kind == "index":  # (its template, numbered from 1 after the array, and its operands)
        template, operands = detail
        return setitem_p.bind(base, view, *operands, index=_renumber(template, 2))
    if kind == "reshape":
        return np.reshape(view, base.shape)
    if kind == "transpose":
        return np.transpose(view, tuple(np.argsort(detail).tolist()))
    if kind == "real":  # z.real written: the new real part, the old imaginary one
        return view + 1j * np.imag(base)
    if kind == "imag":
        return np.real(base) + 1j * view
    raise ValueError(f"assignment destination is read-only (a {kind} view){_where()}")


def unlink_view(base: Tracer, view: Tracer) -> None:
    """Forget that ``view`` is a view of ``base`` (by identity: == on tracers is elementwise)."""
    base._views = [v for v in base._views if v is not view]
    view._view_of = view._view_kind = None


def _rederive_views(base: Tracer, up_to_date: set) -> None:
    """Give every view below ``base`` (but those in ``up_to_date``) its value from its base."""
    from .primitives.indexing import getitem_p

    for view in list(base._views):
        if id(view) not in up_to_date:
            kind, detail = view._view_kind
            if kind == "index":
                derived = getitem_p.bind(base, *detail[1], index=detail[0])
            elif kind == "transpose":
                derived = np.transpose(base, detail)
            elif kind in ("real", "imag"):
                derived = getattr(np, kind)(base)
            else:  # reshape, broadcast_to
                derived = getattr(np, kind)(base, view.shape)
            unlink_view(base, derived)  # only its value is wanted: the view object stays
            view._var, view._val = derived._var, derived._val
        _rederive_views(view, up_to_date)


def _settle_views(tracer: Tracer) -> None:
    """Before a write into ``tracer``'s view family: a view of a pending value (abstract.py)
    stays one only if NumPy made a view (a reshape may copy), which computing it shows."""
    root = tracer
    while root._view_of is not None:
        root = root._view_of
    todo = [root]
    while todo:
        base = todo.pop()
        for view in list(base._views):
            if view._view_unsure:
                view._view_unsure = False
                if not shares_memory(view._value, base._value):
                    unlink_view(base, view)
                    continue
            todo.append(view)


class CapturedArray(np.ndarray):
    """Stands in, while a function is traced, for an array the function reads from outside its
    arguments (a closure variable, a global, a default, an attribute; captures.py puts it in
    place and takes it away). It is a view of the array and behaves as the array does, except
    that an index computed from traced values (``X[rows]``, ``X[i * B:(i + 1) * B]`` with the
    step number ``i``) is recorded: the generated code indexes the array afresh on each call,
    where a plain array would turn the index into a value to guard (a trace per batch).

    Results are plain arrays, so the stand-in never spreads into the values it computes, and
    the generated code holds the array itself (see :func:`plain`).
    """

    def __getitem__(self, index):
        from .primitives.indexing import getitem, holds_tracer

        trace = current_trace()
        if trace is not None and holds_tracer(index):
            return getitem(self, index)  # (bind records the array itself, under the user's name)
        value = plain(self)[index]
        original = getattr(self, "_original", None)
        if (trace is not None and original is not None and isinstance(value, (np.ndarray, np.generic))
                and isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_))):
            # data[t] with the loop's counter (a row, or an element of a 1-d array): a rolled
            # loop reads data[i] (rolling.row_of)
            trace.rows[id(value)] = (value, original, int(index) % len(original), self._name)
        return value

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(x, Tracer) for x in inputs):
            return NotImplemented  # the Tracer's turn: it records this array, under its name
        if "out" in kwargs:
            kwargs["out"] = tuple(map(plain, kwargs["out"]))
        return getattr(ufunc, method)(*map(plain, inputs), **kwargs)


def stand_in_array(array: np.ndarray, name: str) -> CapturedArray:
    """A stand-in for ``array``, which the user's code calls ``name`` (``X_train``, ``self.X``)."""
    stand_in = array.view(CapturedArray)
    stand_in._original, stand_in._name = array, name
    return stand_in


def plain(value):
    """``value``, or the array a :class:`CapturedArray` stands for (or views)."""
    if type(value) is not CapturedArray:
        return value
    original = getattr(value, "_original", None)  # (views of a stand-in, X.T, have none)
    return value.view(np.ndarray) if original is None else original


def _name_of(value) -> str | None:
    return getattr(value, "_name", None) if type(value) is CapturedArray else None


def _missing(name: str) -> MissingRuleError:
    return MissingRuleError(
        f"{name} has no gradient rule in tracediff{_where()}. Write the computation with "
        "supported functions, or register it: f_p = td.primitive(f) and td.defvjp(f_p, rule), "
        "see docs/custom-rules.md"
    )


# Python's operators as NumPy's ufuncs: Tracer's, and td.Tensor's (tensors.py)
ARITHMETIC = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
}
COMPARISONS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal,
               "ne": np.not_equal}


def operator_method(ufunc, reflected=False):
    """``__add__`` (``__radd__``) of a class whose values NumPy's ufuncs take."""
    if ufunc is np.multiply:
        return lambda self, other: _multiply(self, other, reflected)
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


def _multiply(tracer, other, reflected):
    """``tracer * other``: a list or tuple times a value that stands for a Python or NumPy scalar
    (a runtime int argument, ``n // 2``) is what Python makes of it, a repetition (the count a
    guard) or a TypeError, rather than NumPy's product of the array the list would make."""
    if isinstance(other, (list, tuple)) and not isinstance(tracer._val, np.ndarray) and tracer._var.shape == ():
        if tracer._var.dtype.kind not in "iub":
            raise TypeError(f"can't multiply sequence by non-int of type '{type(tracer._val).__name__}'")
        return other * tracer.__index__()
    return np.multiply(other, tracer) if reflected else np.multiply(tracer, other)


def _in_place(ufunc):
    # ``a += b`` writes into ``a``: as in NumPy, the result keeps a's shape and dtype (cast
    # "same_kind"), and a result that would need another shape or kind is refused.
    def operator(self, other):
        result = ufunc(self, other)
        shape, dtype = self._var.shape, self._var.dtype
        if result._var.shape != shape:
            raise ValueError(f"{ufunc.__name__} in place{_where()}: the result has shape "
                             f"{result._var.shape}, which does not fit the array's shape {shape} "
                             "(NumPy refuses this too); write a new value: a = a + b")
        if result._var.dtype != dtype:
            if not np.can_cast(result._var.dtype, dtype, "same_kind"):
                raise TypeError(f"{ufunc.__name__} in place{_where()}: a {dtype} array cannot hold "
                                f"a {result._var.dtype} result (NumPy refuses this too); write a new "
                                "value: a = a + b")
            result = _astype(result, dtype)
        self._become(result)
        return self
    return operator


def install_operators(cls, in_place, operator=None) -> None:
    """Python's operators on ``cls`` (Tracer, td.Tensor) as NumPy's ufuncs; ``in_place(ufunc)``
    makes ``__iadd__`` and the others, ``operator(ufunc, reflected)`` (default
    :func:`operator_method`) ``__add__`` and ``__radd__``."""
    operator = operator or operator_method
    for name, ufunc in ARITHMETIC.items():
        setattr(cls, f"__{name}__", operator(ufunc))
        setattr(cls, f"__r{name}__", operator(ufunc, reflected=True))
        setattr(cls, f"__i{name}__", in_place(ufunc))
    for name, ufunc in COMPARISONS.items():
        setattr(cls, f"__{name}__", operator(ufunc))
    cls.__neg__ = lambda self: np.negative(self)
    cls.__pos__ = lambda self: self
    cls.__abs__ = lambda self: np.absolute(self)
    cls.__invert__ = lambda self: np.invert(self)


install_operators(Tracer, _in_place)


def _hash(self):
    # A runtime int used as a dict key or set member: which entry it finds is a decision on its
    # value, so it is guarded like an index.
    if self.shape == () and self.dtype.kind in "iub":
        return hash(self.__index__())
    raise TypeError(f"unhashable type: a traced array ({type_str(self.shape, self.dtype)}); "
                    "only traced ints and bools can be dict keys or set members")


Tracer.__hash__ = _hash


def _method(numpy_function):
    def method(self, *args, **kwargs):
        return numpy_function(self, *args, **kwargs)

    method.__name__ = numpy_function.__name__
    return method


for _f in (np.sum, np.mean, np.max, np.min, np.prod, np.var, np.std, np.dot, np.ravel,
           np.squeeze, np.clip, np.cumsum, np.argmax, np.argmin, np.any, np.all, np.round,
           np.swapaxes, np.trace, np.diagonal, np.repeat, np.nonzero, np.argsort, np.sort,
           np.conj, np.conjugate, np.cumprod):
    setattr(Tracer, _f.__name__, _method(_f))
Tracer.reshape = lambda self, *shape, **kw: np.reshape(self, shape[0] if len(shape) == 1 else shape, **kw)
Tracer.transpose = lambda self, *axes: np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
Tracer.flatten = lambda self, order="C": np.copy(np.ravel(self, order))  # a copy, never a view
Tracer.sort = lambda self, axis=-1, kind=None, order=None: self._become(np.sort(self, axis, kind, order))  # in place
Tracer.take, Tracer.searchsorted = _method(np.take), _method(np.searchsorted)
Tracer.copy = lambda self: np.copy(self)
Tracer.conj = Tracer.conjugate  # (np.conj is np.conjugate: the loop above named the method once)
Tracer.astype = lambda self, dtype, **kw: _astype(self, dtype)


def _astype(x, dtype):
    from .primitives.core import astype_p

    return astype_p.bind(x, dtype=np.dtype(dtype))


# The primitives import this module (bind, Tracer): their package is imported last, and its
# modules read when called (cheaper than an import statement in every call).
from . import primitives as _primitives  # noqa: E402
