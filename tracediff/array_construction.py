"""Arrays built from traced values, written as people write them: ``np.array([a, b, 3.0])``,
``np.asarray(xs)``, ``np.r_[x, 0.0]``, ``np.full(3, a)``, ``np.float64(a)``, and lists of traced
values handed to NumPy functions (``np.sum([a, b])``, ``np.exp([a, b])``).

NumPy builds arrays from lists in C, and neither ``np.array`` nor a list argument goes through
the ``__array_function__`` protocol, so no method of a tracer is asked. While a thread traces,
the names that build arrays are therefore answered differently *to that thread's user code*:
they are taken out of the numpy module's namespace (and numpy.linalg's, numpy.fft's) and a
module ``__getattr__`` hands out either NumPy's own object or a traced replacement. Other
threads, and NumPy's, the standard library's and tracediff's own code, get NumPy's objects
themselves (``np.add is np.add`` holds everywhere but in the traced function). Nothing is
installed when nothing is traced; the install is reference-counted across nested and
concurrent traces and put back exactly (see docs/design.md).

A traced array is built by stacking: ``np.array([[a, b], [c, 1.0]])`` is
``np.stack([np.stack([a, b]), np.stack([c, 1.0])])`` after casting every entry to the dtype
NumPy gives the same list of plain values (a ragged list gets NumPy's own error), so gradients
come from the stack rule.

>>> import numpy as np, tracediff as td
>>> td.grad(lambda a: np.sum(np.array([a, 2 * a, 3.0]) ** 2))(1.0)
10.0
"""
from __future__ import annotations

import functools
import os
import sys
import threading

import numpy as np

from .errors import _INSTALLED, TracerConversionError, _is_internal
from .library_calls import describe_library_call
from .primitives.core import FUNCTIONS
from .tracing import Tracer

_array, _asarray = np.array, np.asarray  # NumPy's own, taken before any trace
_SEQUENCES = (list, tuple)


class _Thread(threading.local):
    depth = 0  # this thread's intercept() calls not yet released


_thread = _Thread()


def _tracing() -> bool:
    return _thread.depth > 0


def holds_tracer(obj) -> bool:
    """``obj`` is a traced value or a (nested) list or tuple with one in it.

    >>> holds_tracer([1.0, (2.0, np.ones(2))])
    False
    """
    if isinstance(obj, Tracer):
        return True
    return isinstance(obj, _SEQUENCES) and any(holds_tracer(item) for item in obj)


def _values(obj):
    """``obj`` with each traced value replaced by the value it holds."""
    if isinstance(obj, Tracer):
        return obj._value
    if isinstance(obj, _SEQUENCES):
        return [_values(item) for item in obj]
    return obj


def from_nested(obj, dtype=None, function: str = "np.array"):
    """The traced array NumPy would build from the nested lists ``obj``: its shape and dtype are
    those of ``np.array`` on the same structure of plain values (whose errors, a ragged list
    for one, are NumPy's own), and it is stacked from the entries, each cast to that dtype.

    >>> import numpy as np, tracediff as td
    >>> td.grad(lambda a: np.sum(from_nested([[a, 1.0], [2.0, a * a]])))(3.0)
    7.0
    """
    reference = _array(_values(obj), dtype=dtype)
    if reference.dtype.kind not in "biufc":
        raise TypeError(f"{function}: traced values in a list that makes an array of dtype "
                        f"{reference.dtype}; only bool, integer, float and complex arrays can be built "
                        "from traced values")
    return _stacked(obj, reference.dtype)


def _stacked(obj, dtype):
    if isinstance(obj, Tracer):
        return obj if obj.dtype == dtype else obj.astype(dtype)
    if not holds_tracer(obj):
        return _array(obj, dtype=dtype)
    return np.stack([_stacked(item, dtype) for item in obj])


def as_traced(obj, dtype=None, function: str = "np.asarray"):
    """``obj`` (a traced value, or lists holding some) as a traced array of ``dtype``.

    >>> import tracediff as td
    >>> td.grad(lambda a: np.sum(as_traced([a, 2.0], np.float32) * 3))(1.0)
    3.0
    """
    if isinstance(obj, Tracer):
        return obj if dtype is None or obj.dtype == np.dtype(dtype) else obj.astype(dtype)
    return from_nested(obj, dtype, function)


# --- the replacements ---------------------------------------------------------------------------

def _at_least(x, ndmin: int):
    missing = ndmin - x.ndim
    return np.reshape(x, (1,) * missing + x.shape) if missing > 0 else x


def _constructor(original, name: str, copies: bool, ndmin: int = 0):
    """``np.array`` (``copies``: a traced array is copied, as NumPy copies an array) and the
    ``np.as*array`` functions (a traced array is returned as it is, cast when ``dtype`` asks)."""

    @functools.wraps(original)
    def construct(*args, **kwargs):
        obj = args[0] if args else kwargs.get("object", kwargs.get("a"))
        if not (_tracing() and holds_tracer(obj)):
            return original(*args, **kwargs)
        dtype = args[1] if len(args) > 1 else kwargs.get("dtype")
        copy = kwargs.get("copy", True if copies else None)
        if isinstance(copy, np._CopyMode):  # (NumPy's own spellings of True, False and None)
            copy = {np._CopyMode.ALWAYS: True, np._CopyMode.NEVER: False}.get(copy)
        if isinstance(obj, Tracer):
            if copy is False and dtype is not None and np.dtype(dtype) != obj.dtype:
                raise ValueError(f"np.{name}: unable to avoid a copy while casting a traced "
                                 f"{obj.dtype} value to {np.dtype(dtype)} (copy=False)")
            out = as_traced(obj, dtype)
            if copy and out is obj:
                out = np.copy(obj)  # a new array, as NumPy's: a write to it leaves obj alone
        else:
            if copy is False:
                raise ValueError(f"np.{name}: unable to avoid a copy while building an array "
                                 "from a list (copy=False)")
            out = from_nested(obj, dtype, f"np.{name}")
        return _at_least(out, max(ndmin, kwargs.get("ndmin", 0)))

    return construct


def _full(original):
    @functools.wraps(original)
    def full(shape, fill_value, dtype=None, *args, **kwargs):
        if not (_tracing() and holds_tracer(fill_value)):
            return original(shape, fill_value, dtype, *args, **kwargs)
        fill = as_traced(fill_value, dtype, "np.full")
        return np.copy(np.broadcast_to(fill, shape))

    return full


def _full_like(original):
    @functools.wraps(original)
    def full_like(a, fill_value, *args, **kwargs):
        if not (_tracing() and holds_tracer(fill_value)):
            return original(a, fill_value, *args, **kwargs)
        # NumPy would dispatch on ``a`` only, and write the fill value into a plain array.
        return FUNCTIONS[original](a, as_traced(fill_value, function="np.full_like"), *args, **kwargs)

    return full_like


def _call_converting(original, args, kwargs):
    """Call ``original``; if NumPy turned a traced value inside a list argument into a plain
    array, call it again with such lists built as traced arrays. NumPy's dispatch decides which
    arguments are arrays: ``np.concatenate([a, b])`` hands the tracers to tracediff and never
    fails, ``np.sum([a, b])`` does. The entries of a list are built first (``[x, [a, b]]`` to
    np.concatenate), then the whole list."""
    try:
        return original(*args, **kwargs)
    except TracerConversionError as error:
        if not _tracing():
            raise
        failure = error
    for depth in (1, 0):
        new_args = [_converted(a, depth) for a in args]
        new_kwargs = {k: _converted(v, depth) for k, v in kwargs.items()}
        if all(new is old for new, old in zip([*new_args, *new_kwargs.values()], [*args, *kwargs.values()])):
            continue  # nothing to build at this depth
        try:
            return original(*new_args, **new_kwargs)
        except TracerConversionError:
            pass
    raise failure


def _converted(arg, depth: int):
    """``arg`` with its lists of traced values built as arrays: itself (depth 0), or its entries
    (depth 1)."""
    if not (isinstance(arg, _SEQUENCES) and holds_tracer(arg)):
        return arg
    if depth == 0:
        return from_nested(arg)
    items = [_converted(item, 0) for item in arg]
    return arg if all(new is old for new, old in zip(items, arg)) else items


def _converting_function(original):
    @functools.wraps(original)
    def function(*args, **kwargs):
        return _call_converting(original, args, kwargs)

    return function


class _ConvertingUfunc:
    """A ufunc whose call accepts lists of traced values (``np.exp([a, b])``); its methods and
    attributes (``np.add.at``, ``.nin``) are the ufunc's own."""

    __slots__ = ("_ufunc",)

    def __init__(self, ufunc):
        self._ufunc = ufunc

    __class__ = property(lambda self: np.ufunc)  # isinstance(np.exp, np.ufunc) holds

    def __call__(self, *args, **kwargs):
        return _call_converting(self._ufunc, args, kwargs)

    def __getattr__(self, name):
        return getattr(self._ufunc, name)

    def __repr__(self):
        return repr(self._ufunc)


class _TracingScalarType(type):
    """``np.float64`` and the other scalar types for traced code: called on a traced value they
    cast it (``np.float64(a)`` keeps its gradient, ``x[np.int64(i)]`` indexes by a traced
    integer); otherwise they are NumPy's type (the same instances, dtypes, ``isinstance``,
    ``==`` and hash; only ``is`` tells them apart)."""

    def __call__(cls, *args, **kwargs):
        if _tracing() and len(args) == 1 and not kwargs and holds_tracer(args[0]):
            return as_traced(args[0], function=f"np.{cls.__name__}").astype(cls.numpy_type)
        return cls.numpy_type(*args, **kwargs)

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.numpy_type)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls.numpy_type)

    def __eq__(cls, other):
        return getattr(other, "numpy_type", other) is cls.numpy_type

    def __hash__(cls):
        return hash(cls.numpy_type)

    def __repr__(cls):
        return repr(cls.numpy_type)


def _scalar_type(original):
    return _TracingScalarType(original.__name__, (original,), {
        "numpy_type": original, "__module__": original.__module__,
        "__qualname__": original.__qualname__, "__doc__": original.__doc__})


_SCALAR_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64, np.float16, np.float32, np.float64, np.longdouble, np.complex64,
                 np.complex128, np.clongdouble)


class _TracedConcatenator:
    """``np.r_`` / ``np.c_`` for traced code: items holding traced values are concatenated as
    NumPy does (slices become ranges, scalars entries, arrays gain axes up to ``ndmin``; a first
    item ``"axis"`` or ``"axis,ndmin[,trans1d]"`` directs); anything else is NumPy's own."""

    def __init__(self, original):
        self._original = original

    def __getitem__(self, key):
        if not (_tracing() and holds_tracer(key)):
            return self._original[key]
        items = key if isinstance(key, tuple) else (key,)
        return _concatenate_items(items, self._original.axis, self._original.ndmin,
                                  self._original.trans1d)

    def __len__(self):
        return 0

    def __getattr__(self, name):
        return getattr(self._original, name)


def _concatenate_items(items, axis: int, ndmin: int, trans1d: int):
    pieces, promoted = [], []  # promoted: what np.result_type weighs (a Python scalar is weak)
    for k, item in enumerate(items):
        if isinstance(item, str):
            axis, ndmin, trans1d = _directive(item, k, axis, ndmin, trans1d)
            continue
        if isinstance(item, slice):
            piece = np.r_[item]  # (NumPy's: no traced values in a slice)
            promoted.append(piece.dtype)
            pieces.append((piece, 1, True))
        elif type(item) in np.ScalarType:
            promoted.append(item)
            pieces.append((_asarray(item), 0, False))
        else:
            piece = as_traced(item, function="np.r_") if holds_tracer(item) else _asarray(item)
            weak = isinstance(item, Tracer) and type(item._value) in (float, int, bool, complex)
            promoted.append(item._value if weak else piece.dtype)
            pieces.append((piece, piece.ndim, False))
    dtype = np.result_type(*promoted)
    arrays = []
    for piece, item_ndim, is_range in pieces:
        piece = piece.astype(dtype) if piece.dtype != dtype else piece
        piece = _at_least(piece, ndmin)
        if trans1d != -1 and item_ndim < ndmin:
            if is_range:
                piece = np.swapaxes(piece, -1, trans1d)
            else:  # the item's own axes move to position trans1d among the new ones
                new = ndmin - item_ndim
                first = trans1d + new + 1 if trans1d < 0 else trans1d
                axes = list(range(ndmin))
                piece = np.transpose(piece, axes[:first] + axes[new:] + axes[first:new])
        arrays.append(piece)
    return np.concatenate(arrays, axis=axis)


def _directive(item: str, position: int, axis: int, ndmin: int, trans1d: int):
    if position != 0:
        raise ValueError("np.r_: special directives must be the first entry")
    if item in ("r", "c"):
        raise TypeError(f"np.r_[{item!r}, ...] builds a np.matrix, which traced values do not "
                        "support; leave out the directive and reshape the result")
    try:
        numbers = [int(part) for part in item.split(",")]
    except ValueError:
        raise ValueError(f"np.r_: unknown special directive {item!r}") from None
    numbers = numbers[:2] if len(numbers) > 3 else numbers  # (as NumPy reads "a,b,c,d")
    return tuple(numbers) + (axis, ndmin, trans1d)[len(numbers):]


# --- installing them ----------------------------------------------------------------------------

_SPECIAL = {
    "array": lambda f: _constructor(f, "array", copies=True),
    "asarray": lambda f: _constructor(f, "asarray", copies=False),
    "asanyarray": lambda f: _constructor(f, "asanyarray", copies=False),
    "ascontiguousarray": lambda f: _constructor(f, "ascontiguousarray", copies=False, ndmin=1),
    "asfortranarray": lambda f: _constructor(f, "asfortranarray", copies=False, ndmin=1),
    "full": _full,
    "full_like": _full_like,
    "r_": _TracedConcatenator,
    "c_": _TracedConcatenator,
}


def _replacement(name: str, value):
    """What traced code gets for ``module.name`` (None: NumPy's own object). Names of one object
    (np.abs and np.absolute, np.float64 and np.double) get one replacement."""
    if name in _SPECIAL:
        return _SPECIAL[name](value)
    if isinstance(value, type) and value in _SCALAR_TYPES:
        make = _scalar_type
    elif isinstance(value, np.ufunc):
        make = _ConvertingUfunc
    elif type(value).__name__ == "_ArrayFunctionDispatcher":  # np.sum, np.dot, np.linalg.norm...
        make = _converting_function
    else:
        return None
    if value not in _REPLACED:
        _REPLACED[value] = make(value)
    return _REPLACED[value]


_REPLACED: dict = {}  # NumPy's object -> its replacement


class _Interception:
    """The replacements of one module's names, and what to put back."""

    def __init__(self, module):
        self.module = module
        self.made: dict = {}  # name -> (NumPy's object, its replacement or None), kept across traces
        self.originals: dict = {}  # name -> NumPy's object, for the names replaced
        self.traced: dict = {}  # name -> its replacement
        self.size = -1  # how many names the module had when they were chosen

    def _choose(self, names: dict) -> None:
        for name, value in list(names.items()):
            made = self.made.get(name)
            if made is None or made[0] is not value:
                self.made[name] = (value, _replacement(name, value))
        chosen = {name: made for name, made in self.made.items()
                  if made[1] is not None and names.get(name) is made[0]}
        self.originals = {name: value for name, (value, _) in chosen.items()}
        self.traced = {name: replacement for name, (_, replacement) in chosen.items()}
        self.size = len(names)

    def install(self) -> None:
        names = vars(self.module)
        # (checked in C: the same names as last time, bound to the same objects)
        if len(names) != self.size or not self.originals.items() <= names.items():
            self._choose(names)
        originals, traced, module_name = self.originals, self.traced, self.module.__name__
        self.previous_getattr = previous = names.get("__getattr__")

        def __getattr__(name):
            original = originals.get(name, _MISSING)
            if original is _MISSING:
                if previous is not None:
                    return previous(name)
                raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
            if _thread.depth and _users_code(sys._getframe(1).f_code.co_filename):
                return traced[name]
            return original

        previous_dir = names.get("__dir__")

        def __dir__():  # dir(np) in any thread still lists the names taken out
            listed = previous_dir() if previous_dir is not None else names.keys()
            return sorted(set(listed) | originals.keys())

        self.getattr, self.dir, self.previous_dir = __getattr__, __dir__, previous_dir
        names["__getattr__"] = __getattr__  # first, so that a name is never missing
        names["__dir__"] = __dir__
        for name in originals:
            del names[name]

    def remove(self) -> None:
        names = vars(self.module)
        if names.keys() & self.originals.keys():  # the user's code assigned one meanwhile: it stays
            for name, value in self.originals.items():
                names.setdefault(name, value)
        else:
            names.update(self.originals)
        for name, ours, previous in (("__getattr__", self.getattr, self.previous_getattr),
                                     ("__dir__", self.dir, self.previous_dir)):
            if names.get(name) is ours:
                if previous is None:
                    del names[name]
                else:
                    names[name] = previous


_MISSING = object()


@functools.lru_cache(maxsize=4096)
def _users_code(filename: str) -> bool:
    """Code that gets the replacements: not tracediff's, NumPy's, the standard library's, nor an
    installed package's (SciPy's np.asarray(x) stays NumPy's, and a function without a rule is
    named in the error rather than failing later in a stranger way)."""
    if _is_internal(filename):
        return False
    return not (os.path.isabs(filename) and os.path.realpath(filename).startswith(_INSTALLED))


_lock = threading.Lock()
_depth = 0
_interceptions: list = []


def intercept() -> None:
    """Start answering this thread's code's numpy names with the replacements: while tracing,
    and while reverse mode runs user-written rules (counted: the first of nested or concurrent
    calls installs them). Other threads still get NumPy's own objects.

    >>> intercept(); replaced = np.array; release()
    >>> replaced is _array, np.array is _array, vars(np)["array"] is _array
    (False, True, True)
    """
    global _depth
    with _lock:
        if _depth == 0:
            if not _interceptions:
                import numpy.fft
                import numpy.linalg

                _interceptions.extend(_Interception(m) for m in (np, numpy.linalg, numpy.fft))
            for interception in _interceptions:
                interception.install()
        _depth += 1
    _thread.depth += 1


def release() -> None:
    """Undo one :func:`intercept`: the last one puts NumPy's names back."""
    global _depth
    _thread.depth -= 1
    with _lock:
        _depth -= 1
        if _depth == 0:
            for interception in _interceptions:
                interception.remove()


def conversion_error() -> TracerConversionError:
    """The error of a traced value turned into a plain NumPy array (``Tracer.__array__``),
    naming the library function that did it, if any, and the user's line.

    >>> "write np.array(...)" in str(conversion_error())
    True
    """
    frame = sys._getframe(1)
    while frame is not None and not _users_code(frame.f_code.co_filename):
        frame = frame.f_back
    at = f" at {os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}" if frame else ""
    library = describe_library_call()
    if library is not None:
        return TracerConversionError(
            f"{library} (called{at}) turned a traced value into a plain NumPy array, which would "
            f"lose its gradient: tracediff has no rule for {library}. Compute it with NumPy "
            "functions, or register it: f_p = td.primitive(f) and td.defvjp(f_p, rule), see "
            "docs/custom-rules.md")
    return TracerConversionError(
        f"a traced value was turned into a plain NumPy array{at}, which would lose its gradient. "
        "Either it was written into a plain array (write into a traced one instead: y = x.copy(); "
        "y[i] = v); or a list holding it met an operator (x + [a, b], W @ [a, b]: write "
        "np.array([a, b])); or it was given to a NumPy function through a name bound before "
        "tracing (from numpy import array, an alias, a default argument), which is NumPy's own "
        "function and out of tracediff's reach: write np.array(...) (np.asarray, np.full, np.r_, "
        "...) through the module there.")
