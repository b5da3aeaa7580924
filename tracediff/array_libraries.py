"""Arrays of libraries other than NumPy as arguments: Dask arrays (chunked, computed by
dask.distributed) and CuPy arrays (on a GPU).

The generated code is ``np.*`` calls. NumPy hands a call on another library's arrays to that
library (``__array_ufunc__``, ``__array_function__``, ``like=`` for creation functions, NEPs 13,
18 and 35), so the same code computes with the library of its inputs. What has no such hand-off
is written another way in code made for those arrays (see :data:`NEUTRAL_EMIT`): arrays are made
with ``like=``, copies and casts are methods, NumPy's ``out=`` buffer reuse is left out, and
``np.add.at`` is refused. NumPy's own code is unchanged.

Neither library is imported here: an argument is recognized by its class's module, which is
imported already when such an argument exists.

>>> import numpy as np
>>> library_of(np.ones(2)) is None
True
"""
from __future__ import annotations

import ast
import contextlib
import sys
import warnings

import numpy as np

# library -> (module that defines the array class, the class's name there)
_ARRAY_CLASSES = {"dask": ("dask.array", "Array"), "cupy": ("cupy", "ndarray")}
# Dask computes a NumPy function it does not implement on the gathered data, with this warning:
# in tracediff's code that would gather the user's data on one machine, so it is an error there.
_DASK_GATHERS = r"The `.*` function is not implemented by Dask array"


class ArrayLibraryError(TypeError):
    """A call on Dask or CuPy arrays that tracediff cannot make for that library."""


def library_of(x) -> str | None:
    """``"dask"`` or ``"cupy"`` for an array of that library, None for anything else (NumPy's
    arrays included)."""
    root = type(x).__module__.partition(".")[0]
    if root not in _ARRAY_CLASSES:
        return None
    module_name, class_name = _ARRAY_CLASSES[root]
    module = sys.modules.get(module_name)
    return root if module is not None and isinstance(x, getattr(module, class_name)) else None


def library_of_leaves(fun_name: str, names: list, leaves: list) -> str:
    """The one array library of a call's array arguments: ``"numpy"`` unless one is a Dask or a
    CuPy array; arrays of both in one call are an error (neither library takes the other's)."""
    found = {}
    for name, leaf in zip(names, leaves):
        library = library_of(leaf)
        if library is not None:
            found.setdefault(library, name)
    if len(found) > 1:
        (a, name_a), (b, name_b) = sorted(found.items())
        raise ArrayLibraryError(
            f"{fun_name}: argument '{name_a}' is a {a} array and '{name_b}' a {b} array; pass the "
            f"arrays of one call in one library (NumPy arrays may join either)")
    if "dask" in found:
        _check_known_shape(fun_name, found["dask"], leaves[names.index(found["dask"])])
    return next(iter(found), "numpy")


def _check_known_shape(fun_name: str, name: str, x) -> None:
    if any(s != s for s in x.shape):  # (NaN: a chunk's length depends on values, e.g. x[x > 0])
        raise ArrayLibraryError(
            f"{fun_name}: the Dask array '{name}' has unknown chunk sizes (shape {x.shape}); the "
            f"generated code is specialized on shapes: call {name}.compute_chunk_sizes() first")


def signature(x):
    """What of a Dask or CuPy array the generated code is specialized on: shape, dtype and
    library (NumPy's arrays key on shape and dtype only, so the two never share code). Dask's
    chunks are not in it: the code is the same for every chunking, and Dask follows the chunks."""
    return (tuple(x.shape), np.dtype(x.dtype), library_of(x))


def shares_memory(a, b) -> bool:
    """NumPy's ``may_share_memory``, for traced values of any library. A Dask array is a recipe,
    not memory: no write into one reaches another (``x.T[0] = 1`` leaves ``x`` as it was)."""
    if library_of(a) == "dask" or library_of(b) == "dask":
        return False
    return bool(np.may_share_memory(a, b))


def copy(x):
    """A copy of ``x`` in its own library (``np.copy`` of a Dask array would gather it)."""
    return x.copy() if library_of(x) is not None else np.copy(x)


def astype(x, dtype):
    """``x`` cast to ``dtype`` in its own library (``np.asarray`` of a Dask array gathers it)."""
    return x.astype(dtype) if library_of(x) is not None else np.asarray(x, dtype=dtype)


@contextlib.contextmanager
def no_gathering(library: str, what: str):
    """Make Dask's fallback (computing the whole array to run a NumPy function it lacks) an
    error naming ``what`` (the function being traced or the generated code)."""
    if library != "dask":
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_DASK_GATHERS, category=FutureWarning)
        try:
            yield
        except FutureWarning as warning:
            raise ArrayLibraryError(
                f"{what}: {str(warning).split(' is not implemented')[0]} has no Dask version, and "
                "computing it would gather the whole array on one machine; write it with functions "
                "Dask implements, or pass NumPy arrays (docs/larger-than-memory.md)") from None


def prototype(x):
    """A 0-d array of ``x``'s library, the ``like=`` of the generated code's creation calls."""
    return np.zeros((), like=x)


# --- writing the generated code for arrays of other libraries -----------------------------

def _name(text):
    return ast.Name(id=text, ctx=ast.Load())


def _np(attr):
    return ast.Attribute(value=_name("np"), attr=attr, ctx=ast.Load())


def _literal(value):
    from .primitives.core import py_literal

    return py_literal(value)


def _method_on_arrays(method: str, function: str):
    """``x.method(...)`` for an array ``x``; ``np.function(x, ...)`` for a value that may be a
    Python number (0-d: computed on the spot, a scalar)."""
    def emit(args, **params):
        keywords = [ast.keyword(arg=k, value=_literal(v)) for k, v in params.items()]
        if getattr(args[0], "td_ndim", 0) >= 1:
            return ast.Call(func=ast.Attribute(value=args[0], attr=method, ctx=ast.Load()),
                            args=[_literal(v) for v in params.values()], keywords=[])
        return ast.Call(func=_np(function), args=list(args), keywords=keywords)
    return emit


LIKE = "_like"  # the module global holding :func:`prototype` of the inputs
# Primitive name -> how it is written in code for Dask or CuPy arrays, where NumPy's form would
# gather the data (np.copy, np.asarray of a Dask array).
NEUTRAL_EMIT = {
    "copy": _method_on_arrays("copy", "copy"),
    "astype": _method_on_arrays("astype", "asarray"),
}
# NumPy's functions that make an array from nothing: given like=, they make one of the inputs'
# library (a zero gradient, the zeros a slice's gradient is written into).
_CREATION = frozenset({"zeros", "ones", "full", "empty", "eye", "identity", "arange"})


def made_like_inputs(statements: list) -> list:
    """``statements`` with every ``np.zeros(...)`` (and the other creation calls) given
    ``like=_like``, so that it makes an array of the inputs' library."""
    for stmt in statements:
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _CREATION and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "np" and not any(k.arg == "like" for k in node.keywords)):
                node.keywords.append(ast.keyword(arg="like", value=_name(LIKE)))
    return statements


def check_neutral_node(primitive, params: dict) -> None:
    """Raise when ``primitive`` with ``params`` has no form for Dask or CuPy arrays (it is being
    computed on them while the gradient is built)."""
    why = _no_neutral_form(primitive.name, params)
    if why is not None:
        raise ArrayLibraryError(f"the gradient cannot yet be generated for Dask or CuPy arrays: {why}; "
                                "compute it on NumPy arrays (docs/larger-than-memory.md lists what works)")


def _no_neutral_form(name: str, params: dict) -> str | None:
    """Why primitive ``name`` with ``params`` cannot be written for Dask or CuPy arrays, or None
    when it can."""
    from .primitives.indexing import _has_advanced

    if name == "scatter_add" and params.get("accumulate", True) and _has_advanced(params["index"]):
        return ("the gradient of indexing with an index array (x[rows]) adds into an array in place "
                "(np.add.at), which tracediff does not yet write for these arrays")
    if name == "winners":
        return "an assignment x[index] = v with an index array that may repeat writes into an array in place"
    if name == "units":
        return "td.jacobian builds its unit cotangents in place"
    return None


def check_neutral(nodes, fun_name: str, library: str) -> None:
    """Raise, naming the function and the operation, when code for ``library`` would need a
    primitive that has no form for it (an in-place
    write that Dask arrays do not support)."""
    for node in nodes:
        why = _no_neutral_form(node.primitive.name, node.params)
        if why is not None:
            where = f" (from {node.loc.filename.rsplit('/', 1)[-1]}:{node.loc.lineno} `{node.loc.text}`)" \
                if getattr(node, "loc", None) is not None else ""
            raise ArrayLibraryError(
                f"{fun_name}: its gradient cannot yet be generated for {library} arrays: {why}"
                f"{where}. Compute it on NumPy arrays, or write the function without it "
                "(docs/larger-than-memory.md lists what works)")
