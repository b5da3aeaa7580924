"""Indexing: ``x[index]``, its scatter-add cotangent, functional ``x[index] = v``, and the NumPy
functions made of indices: take, take_along_axis, put_along_axis, sort (through argsort), and the
index-valued helpers (argsort, nonzero, argwhere, flatnonzero, searchsorted, unique, count_nonzero).
Composed of these: partition (through argpartition), interp (searchsorted and gathers), bincount and
histogram (a scatter-add of the weights), digitize, delete, insert, compress, extract, choose,
piecewise, and the in-place fill_diagonal, copyto, putmask, place and put.

An index is kept as a static template (ints, slices, None, ...) in which every index array is a
placeholder for an operand, so traced index arrays flow through the graph like any value. So are
computed slice bounds (``X[i * B:(i + 1) * B]`` with the step number ``i``): the slice stays a
slice in the generated code, and a guard checks that it selects as many elements as when traced.

Writes with repeated indices follow NumPy: ``x[[0, 0]] = v`` keeps one of the two writes (the last,
in practice), and ``x[[0, 0]] += v`` adds once. When an index may repeat (a computed index array,
or a constant one that does repeat), the cotangent of ``v`` goes only to the writes that survived:
the generated code finds them by writing each write's number through the same index
(``winners``), so it is exact for whatever the index holds on each call; no guard is needed.
"""
from __future__ import annotations

import ast
import builtins
import operator
from dataclasses import dataclass

import numpy as np

from ..errors import TracerConversionError
from .. import array_libraries
from ..tracing import Tracer, unlink_view
from .core import FUNCTIONS, Primitive, call, defbatch, defvjp, guard_p, lift, np_attr, py_literal


@dataclass(frozen=True)
class IndexOperand:
    """Placeholder in an index template for the operand at position ``position``."""

    position: int

    def __repr__(self) -> str:
        return f"<operand {self.position}>"


@dataclass(frozen=True)
class DynamicSlice:
    """A slice whose bounds are computed: ``start`` and ``stop`` are each an int, None, or an
    :class:`IndexOperand`; ``step`` is static."""

    start: object
    stop: object
    step: int | None

    def positions(self):
        return [b.position for b in (self.start, self.stop) if isinstance(b, IndexOperand)]

    def shifted(self, shift: int) -> "DynamicSlice":
        move = lambda b: IndexOperand(b.position + shift) if isinstance(b, IndexOperand) else b  # noqa: E731
        return DynamicSlice(move(self.start), move(self.stop), self.step)

    def value(self, operand_at) -> slice:
        bound = lambda b: operand_at(b.position) if isinstance(b, IndexOperand) else b  # noqa: E731
        return slice(bound(self.start), bound(self.stop), self.step)


def _sequence_index(items):
    """A list (or a tuple inside an index tuple) used as an index array. Traced entries are
    stacked, so ``x[[i, j]]`` with computed ``i``, ``j`` stays traced."""
    if any(isinstance(v, (Tracer, list, tuple)) for v in items) and _holds_tracer(items):
        return np.stack([_sequence_index(v) if isinstance(v, (list, tuple)) else v for v in items])
    array = np.asarray(items)
    return array.astype(np.intp) if array.size == 0 else array  # x[[]] selects nothing


def _holds_tracer(items) -> bool:
    return any(isinstance(v, Tracer) or (isinstance(v, (list, tuple)) and _holds_tracer(v)) for v in items)


def split_index(index, first_position: int):
    """(template, operands): index arrays become operands; everything else stays static."""
    items = index if isinstance(index, tuple) else (index,)
    template, operands = [], []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            item = np.asarray(item)  # x[True] adds an axis (a 0-d mask), it is not x[1]
        elif isinstance(item, (list, tuple)):
            item = _sequence_index(item)
        elif isinstance(item, range):  # x[range(n), range(n)]: NumPy reads a range as an index array
            item = np.arange(item.start, item.stop, item.step)
        if isinstance(item, (np.ndarray, Tracer)):
            if item.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, got {item.dtype}")
            template.append(IndexOperand(first_position + len(operands)))
            operands.append(item)
        elif isinstance(item, slice) and _computed_bound(item.start) | _computed_bound(item.stop):
            bounds = []
            for bound in (item.start, item.stop):
                if _computed_bound(bound):
                    bounds.append(IndexOperand(first_position + len(operands)))
                    operands.append(bound)
                else:
                    bounds.append(None if bound is None else operator.index(bound))
            step = None if item.step is None else operator.index(item.step)  # a computed step: a guard
            template.append(DynamicSlice(*bounds, step))
        elif isinstance(item, slice):
            template.append(slice(*(None if v is None else operator.index(v)
                                    for v in (item.start, item.stop, item.step))))
        elif item is None or item is Ellipsis:
            template.append(item)
        else:
            template.append(operator.index(item))
    return tuple(template), operands


def holds_tracer(index) -> bool:
    """Whether ``index`` holds a traced value: an index array, an int, a slice bound, in a list."""
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(item, Tracer) or (isinstance(item, list) and _holds_tracer(item))
               or (isinstance(item, slice) and (_computed_bound(item.start) or _computed_bound(item.stop)))
               for item in items)


def _computed_bound(bound) -> bool:
    return isinstance(bound, Tracer) and bound.ndim == 0


def build_index(template, operands):
    """The NumPy index a template stands for, given its operands' values."""
    first = _first(template)
    operand_at = lambda position: operands[position - first]  # noqa: E731
    items = tuple(operand_at(t.position) if isinstance(t, IndexOperand)
                  else t.value(operand_at) if isinstance(t, DynamicSlice) else t for t in template)
    return items[0] if len(items) == 1 else items


def _positions(template) -> list:
    """The operand positions a template refers to, index arrays and computed slice bounds."""
    return [p for t in template for p in (
        [t.position] if isinstance(t, IndexOperand) else t.positions() if isinstance(t, DynamicSlice) else [])]


def _first(template) -> int:
    return min(_positions(template), default=0)


def _bound_ast(bound, args):
    return args[bound.position] if isinstance(bound, IndexOperand) else None if bound is None else py_literal(bound)


def _index_ast(template, args):
    items = [args[t.position] if isinstance(t, IndexOperand)
             else ast.Slice(_bound_ast(t.start, args), _bound_ast(t.stop, args), _bound_ast(t.step, args))
             if isinstance(t, DynamicSlice) else py_literal(t) for t in template]
    return items[0] if len(items) == 1 else ast.Tuple(elts=items, ctx=ast.Load())


def _index_value_ast(template, args):
    """The index as an ordinary value (an argument of np.add.at), where ``1:`` is not valid syntax."""
    items = [call(ast.Name(id="slice"), [_bound_ast(v, args) or py_literal(None) for v in (t.start, t.stop, t.step)])
             if isinstance(t, (slice, DynamicSlice)) else t for t in template]
    return _index_ast(items, args)


def _subscript(value, template, args, ctx=None):
    return ast.Subscript(value=value, slice=_index_ast(template, args), ctx=ctx or ast.Load())


def _has_advanced(template) -> bool:
    return any(isinstance(t, IndexOperand) for t in template)


def _renumber(template, first_position: int):
    """``template`` with its operands numbered from ``first_position``."""
    shift = first_position - _first(template)
    return tuple(IndexOperand(t.position + shift) if isinstance(t, IndexOperand)
                 else t.shifted(shift) if isinstance(t, DynamicSlice) else t for t in template)


# --- np.arange as a traced constant (index grids, diagonals) --------------------------------
def _arange_impl(start, stop, axis, ndim):
    return np.arange(start, stop).reshape((1,) * axis + (stop - start,) + (1,) * (ndim - axis - 1))


def _emit_arange(args, start, stop, axis, ndim):
    value = call(np_attr("arange"), [py_literal(v) for v in ((start, stop) if start else (stop,))])
    if ndim == 1:
        return value
    items = [slice(None) if i == axis else None for i in range(ndim)]  # np.arange(3)[:, None]
    return _subscript(value, items, [])


arange_p = Primitive("arange", _arange_impl, _emit_arange, differentiable=False)


def arange(start: int, stop: int, axis: int = 0, ndim: int = 1, like=()):
    """``np.arange(start, stop)`` shaped to lie along ``axis`` of ``ndim`` axes. Recorded in the
    trace of the first Tracer in ``like`` (so generated code reads ``np.arange(3)[:, None]``, not a
    captured constant); a plain array when there is none."""
    params = {"start": int(start), "stop": int(stop), "axis": axis, "ndim": ndim}
    value = _arange_impl(**params)
    trace = next((t._trace for t in like if isinstance(t, Tracer)), None)
    if trace is None:
        return value
    return trace.record(arange_p, [], params, value)


# --- x[index] -----------------------------------------------------------------------------
getitem_p = Primitive(
    "getitem",
    lambda x, *operands, index: x[build_index(index, operands)],
    lambda args, index: _subscript(args[0], index, args),
)
getitem_p.is_view = True  # may be: basic indexing is, advanced indexing is not


def _getitem_vjp(g, ans, x, *operands, index):
    if all(t is None or t is Ellipsis or t == slice(None) for t in index):
        return np.reshape(g, np.shape(x))  # x[:, None] only adds axes: every entry is picked once
    # Masks never pick an entry twice: a plain assignment does (and reads better than np.add.at).
    params = {"accumulate": False} if operands and all(_dtype(o).kind == "b" for o in operands) else {}
    return scatter_add_p.bind(g, *operands, index=index, shape=np.shape(x), dtype=_dtype(x), **params)


defvjp(getitem_p, _getitem_vjp)


def _dtype(x) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


# --- zeros with g added at index (the cotangent of x[index]) ----------------------------
def _scatter_add(g, *operands, index, shape, dtype, accumulate=True):
    if array_libraries.library_of(g) is not None:  # zeros of g's library (Dask, CuPy)
        array_libraries.check_neutral_node(scatter_add_p, dict(index=index, accumulate=accumulate))
        out = np.zeros(shape, dtype, like=g)
        out[build_index(index, operands)] = g
        return out
    out = np.zeros(shape, dtype)
    if accumulate:
        np.add.at(out, build_index(index, operands), g)
    else:
        out[build_index(index, operands)] = g
    return out


def _emit_scatter_add(target, args, index, shape, dtype, accumulate=True):
    zeros = call(np_attr("zeros"), [py_literal(shape)], {"dtype": dtype})
    stmts = [ast.Assign(targets=[target], value=zeros)]
    if _has_advanced(index) and accumulate:
        # Repeated integer indices must add up, which only np.add.at does.
        stmts.append(ast.Expr(call(np_attr("add.at"), [target, _index_value_ast(index, args), args[0]])))
    else:
        store = ast.Subscript(value=target, slice=_index_ast(index, args), ctx=ast.Store())
        stmts.append(ast.Assign(targets=[store], value=args[0]))
    return stmts


scatter_add_p = Primitive("scatter_add", _scatter_add, emit_statements=_emit_scatter_add)
defvjp(scatter_add_p, lambda g, ans, gx, *operands, index, shape, dtype, accumulate=True:
       getitem_p.bind(g, *operands, index=index))


# --- functional x[index] = v ---------------------------------------------------------------
def _setitem_impl(x, v, *operands, index, distinct=True):
    out = x.copy()
    out[build_index(index, operands)] = v
    return out


def _emit_setitem(target, args, index, distinct=True):
    copy = call(ast.Attribute(value=args[0], attr="copy"), [])
    store = ast.Subscript(value=target, slice=_index_ast(index, args), ctx=ast.Store())
    return [ast.Assign(targets=[target], value=copy), ast.Assign(targets=[store], value=args[1])]


def _setitem_v_vjp(g, ans, x, v, *operands, index, distinct=True):
    # setitem numbers its index operands from 2 (after x and v), getitem from 1 (after x)
    written = getitem_p.bind(g, *operands, index=_renumber(index, 1))
    if not distinct:
        won = winners_p.bind(*operands, index=_renumber(index, 0), shape=np.shape(x),
                             result_shape=np.shape(written))
        written = np.where(won, written, 0.0)  # a write overwritten by a later one had no effect
    # NumPy drops leading 1s of v that the slot does not have (a (1, 3) value in a (3,) row): put
    # them back; reverse mode then sums over the axes along which v was broadcast.
    extra = np.ndim(v) - np.ndim(written)
    return np.reshape(written, (1,) * extra + np.shape(written)) if extra > 0 else written


setitem_p = Primitive("setitem", _setitem_impl, emit_statements=_emit_setitem)
defvjp(
    setitem_p,
    lambda g, ans, x, v, *operands, index, distinct=True: setitem_p.bind(g, 0.0, *operands, index=index),
    _setitem_v_vjp,
)


# --- which writes of x[index] = v survive, when the index may repeat -----------------------
def _winners_impl(*operands, index, shape, result_shape):
    numbers = np.arange(int(np.prod(result_shape, dtype=np.int64))).reshape(result_shape)
    last = np.zeros(shape, np.intp)
    where = build_index(index, operands)
    last[where] = numbers
    return last[where] == numbers


def _emit_winners(target, args, index, shape, result_shape):
    # won = np.zeros(shape, dtype=np.intp); won[i] = np.arange(n).reshape(s); won = won[i] == ...
    size = int(np.prod(result_shape, dtype=np.int64))
    numbers = call(ast.Attribute(value=call(np_attr("arange"), [py_literal(size)]), attr="reshape"),
                   [py_literal(result_shape)])
    zeros = call(np_attr("zeros"), [py_literal(shape)], {"dtype": np.dtype(np.intp)})
    store = ast.Subscript(value=target, slice=_index_ast(index, args), ctx=ast.Store())
    compare = ast.Compare(left=_subscript(target, index, args), ops=[ast.Eq()], comparators=[numbers])
    return [ast.Assign(targets=[target], value=zeros), ast.Assign(targets=[store], value=numbers),
            ast.Assign(targets=[target], value=compare)]


winners_p = Primitive("winners", _winners_impl, emit_statements=_emit_winners, differentiable=False)


# --- batching rules for x[index], its scatter-add and x[index] = v ------------------------------
# Basic indexing keeps a leading batch axis in front ((slice(None),) + index). Advanced indexing
# may move the axes it makes to the front, so there the batch axis goes last, where the index never
# reaches (after its own trailing slice if the index has an Ellipsis), and comes back after.

def _to_last(x):
    nd = np.ndim(x)
    return np.transpose(x, tuple(range(1, nd)) + (0,))


def _to_first(x):
    nd = np.ndim(x)
    return np.transpose(x, (nd - 1,) + tuple(range(nd - 1)))


def _batch_last(index):
    return index + (slice(None),) if any(t is Ellipsis for t in index) else index


def _batch_getitem(args, batched, out_shape, index):
    if any(batched[1:]):
        return None
    if not _has_advanced(index):
        return getitem_p.bind(args[0], *args[1:], index=(slice(None),) + index)
    return _to_first(getitem_p.bind(_to_last(args[0]), *args[1:], index=_batch_last(index)))


def _batch_scatter_add(args, batched, out_shape, index, shape, dtype, accumulate=True):
    if any(batched[1:]):
        return None
    g, operands, size = args[0], args[1:], np.shape(args[0])[0]
    if not _has_advanced(index):
        return scatter_add_p.bind(g, *operands, index=(slice(None),) + index, shape=(size,) + shape,
                                  dtype=dtype, accumulate=accumulate)
    return _to_first(scatter_add_p.bind(_to_last(g), *operands, index=_batch_last(index),
                                        shape=shape + (size,), dtype=dtype, accumulate=accumulate))


def _batch_setitem(args, batched, out_shape, index, distinct=True):
    if any(batched[2:]):
        return None
    (x, v, *operands), size = args, next(np.shape(a)[0] for a, b in zip(args, batched) if b)
    x = _to_last(x) if batched[0] else np.broadcast_to(np.reshape(x, out_shape + (1,)), out_shape + (size,))
    if batched[1]:
        values = [o._value if isinstance(o, Tracer) else o for o in operands]
        selected = np.zeros(out_shape, bool)[build_index(_renumber(index, 0), values)]
        v = _to_last(lift(v, True, np.ndim(selected)))
    else:
        v = np.reshape(v, np.shape(v) + (1,))  # broadcasts along the batch axis
    return _to_first(setitem_p.bind(x, v, *operands, index=_batch_last(index), distinct=distinct))


defbatch(getitem_p, _batch_getitem)
defbatch(scatter_add_p, _batch_scatter_add)
defbatch(setitem_p, _batch_setitem)


def getitem(x, index):
    """``x[index]`` for a traced ``x`` (or traced index arrays)."""
    template, operands = split_index(index, 1)
    if np.ndim(x) == 0 and None in template and all(t is None or t is Ellipsis for t in template):
        # only new axes on a 0-d value: a reshape, which also takes one held as a Python float
        # (np.transpose(2.0) is a 0-d array in NumPy, and np.transpose(2.0)[None] is valid)
        return np.reshape(x, (1,) * template.count(None))
    _guard_mask_sizes(operands)
    _guard_slice_lengths(template, operands, np.shape(x))
    out = getitem_p.bind(x, *operands, index=template)
    if isinstance(x, Tracer) and out._view_of is x:
        if _is_view(template, x.ndim):
            out._view_kind = ("index", (template, tuple(operands)))
        else:  # bind linked it as a view: NumPy makes a copy here
            unlink_view(x, out)
    return out


def _is_view(template, ndim: int) -> bool:
    """Whether NumPy returns a view: basic indexing does, unless it picks one element."""
    if _has_advanced(template):
        return False
    return not (len(template) == ndim and all(isinstance(t, int) for t in template))


def setitem(x, index, value, *, constant_operands=()):
    """The value of ``x`` after ``x[index] = value``, as a new traced array.

    ``constant_operands``: index operands known not to change between calls (index grids).
    """
    template, operands = split_index(index, 2)
    _guard_mask_sizes(operands)
    _guard_slice_lengths(template, operands, x.shape)
    # not getattr(value, "dtype", np.result_type(value)): the default runs first, and fails on a Tracer
    value_dtype = value.dtype if hasattr(value, "dtype") else np.result_type(value)
    if np.dtype(value_dtype).kind in "fc" and x.dtype.kind not in "fc":
        raise TypeError(f"cannot write float values into an array of {x.dtype}; create it with a float dtype")
    distinct = _writes_distinct(x, template, operands, {id(o) for o in constant_operands})
    return setitem_p.bind(x, value, *operands, index=template, **({} if distinct else {"distinct": False}))


def _writes_distinct(x, template, operands, constant_ids) -> bool:
    """Whether ``x[index] = v`` writes each element at most once on every call."""
    if not any(np.asarray(_value(o)).dtype.kind != "b" for o in operands):
        return True  # slices and masks never pick an element twice
    for o in operands:
        if isinstance(o, Tracer) and id(o) not in constant_ids and o.dtype.kind != "b" and o.size > 1:
            return False  # a computed index array may repeat on some later call
    positions = np.arange(x.size).reshape(x.shape)[build_index(template, [_value(o) for o in operands])]
    return np.unique(positions).size == np.size(positions)


def _value(x):
    return x._value if isinstance(x, Tracer) else x


def _guard_count(a) -> None:
    """The generated code checks that ``a`` has as many nonzero entries as when it was traced
    (the size of what a mask selects, of np.nonzero(a), ... depends on it)."""
    if isinstance(a, Tracer):
        count = count_nonzero_p.bind(a)
        guard_p.bind(count, kind="int", expected=int(np.count_nonzero(a._value)))


def _guard_mask_sizes(operands):
    # A boolean mask's result size depends on its values: the generated code checks it is unchanged.
    for mask in operands:
        if isinstance(mask, Tracer) and mask.dtype.kind == "b":
            _guard_count(mask)


# --- how many elements a slice with computed bounds selects -------------------------------
def _slice_length(*bounds, spec, n):
    return len(range(n)[spec.value(lambda position: bounds[position])])


def _emit_slice_length(args, spec, n):  # len(range(50)[i0:i1])
    return call(ast.Name(id="len"), [ast.Subscript(value=call(ast.Name(id="range"), [py_literal(n)]),
                                                    slice=_index_ast((spec,), args), ctx=ast.Load())])


slice_length_p = Primitive("slice_length", _slice_length, _emit_slice_length, differentiable=False)


def _guard_slice_lengths(template, operands, shape) -> None:
    """A slice with computed bounds selects as many elements on every call as when it was traced
    (the result's shape depends on it): the generated code checks it."""
    first, axis = _first(template), 0
    for k, item in enumerate(template):
        if item is Ellipsis:  # the items after it index the last axes
            axis = len(shape) - sum(_width(t, operands, first) for t in template[k + 1:])
        elif isinstance(item, DynamicSlice):
            bounds = [operands[p - first] for p in item.positions()]
            spec = item.shifted(-min(item.positions()))
            length = slice_length_p.bind(*bounds, spec=spec, n=shape[axis])
            guard_p.bind(length, kind="int", expected=_slice_length(*map(_value, bounds), spec=spec, n=shape[axis]))
        axis += _width(item, operands, first)


def _width(item, operands, first) -> int:
    """How many axes of the indexed array an index item consumes."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, IndexOperand) and _dtype(operands[item.position - first]).kind == "b":
        return np.ndim(operands[item.position - first])  # a mask spans as many axes as it has
    return 1


def _emit_count_nonzero(args, axis=None, keepdims=False):
    return call(np_attr("count_nonzero"), args, {**({"axis": axis} if axis is not None else {}),
                                                 **({"keepdims": True} if keepdims else {})})


count_nonzero_p = Primitive("count_nonzero", lambda a, axis=None, keepdims=False: np.count_nonzero(
    a, axis=axis, keepdims=keepdims), _emit_count_nonzero, differentiable=False)
_count_nonzero_p = count_nonzero_p  # the name it had


def _normalize_axis(axis, ndim: int, function: str) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim, function)
    return axis % ndim


# --- take, take_along_axis, put_along_axis -------------------------------------------------
def _take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        raise TypeError("np.take: out= is not supported on traced values")
    if axis is None:
        a, axis = np.ravel(a), 0
    else:
        axis = _normalize_axis(axis, np.ndim(a), "np.take")
    if not isinstance(indices, Tracer):
        # an array even for one index: np.take returns a copy, and x[:, 1] would be a view
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"np.take: indices must be integers, got {indices.dtype}")
    indices = _index_mode(indices, np.shape(a)[axis], mode, "np.take")
    return getitem(a, (slice(None),) * axis + (indices,))


def _index_mode(indices, n: int, mode: str, function: str):
    """``indices`` into ``n`` entries under NumPy's ``mode``: wrapped, clipped or as they are."""
    if mode == "wrap":
        return indices % n
    if mode == "clip":
        return np.clip(indices, 0, n - 1)
    if mode != "raise":
        raise ValueError(f"{function}: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return indices


def _along_axis_index(shape, indices, axis, like):
    """The fancy index that picks ``indices`` along ``axis`` (np.take_along_axis's)."""
    ndim = len(shape)
    return tuple(indices if d == axis else arange(0, shape[d], d, ndim, like) for d in range(ndim))


def _take_along_axis_vjp(g, ans, x, indices, axis):
    index = _along_axis_index(np.shape(x), indices, axis, like=(g, indices))
    template, operands = split_index(index, 1)
    return scatter_add_p.bind(g, *operands, index=template, shape=np.shape(x), dtype=_dtype(x))


take_along_axis_p = Primitive("take_along_axis", lambda x, indices, axis: np.take_along_axis(x, indices, axis=axis))
defvjp(take_along_axis_p, _take_along_axis_vjp, None)


def _check_along_axis(arr, indices, function):
    kind = indices.dtype.kind if hasattr(indices, "dtype") else np.asarray(indices).dtype.kind
    if kind not in "iu":
        raise IndexError(f"{function}: `indices` must be an integer array")
    if np.ndim(indices) != np.ndim(arr):
        raise ValueError(f"{function}: `indices` and `arr` must have the same number of dimensions")


def _take_along_axis(arr, indices, axis=-1):
    if axis is None:
        arr, axis = np.ravel(arr), 0
    _check_along_axis(arr, indices, "np.take_along_axis")
    return take_along_axis_p.bind(arr, indices, axis=_normalize_axis(axis, np.ndim(arr), "np.take_along_axis"))


def _put_along_axis(arr, indices, values, axis):
    # In place, as NumPy: recorded as a functional write that arr (and its view family) takes.
    if not isinstance(arr, Tracer):
        raise TracerConversionError(
            "np.put_along_axis: traced values were written into a plain NumPy array, which would "
            "lose their gradient; write into a traced array instead (e.g. out = np.zeros_like(x))")
    target = arr
    if axis is None:
        target, axis = np.ravel(arr), 0  # a view: the write reaches arr
    _check_along_axis(target, indices, "np.put_along_axis")
    axis = _normalize_axis(axis, target.ndim, "np.put_along_axis")
    index = _along_axis_index(target.shape, indices, axis, like=(target,))
    grids = [item for d, item in enumerate(index) if d != axis]
    target._become(setitem(target, index, values, constant_operands=grids))


# --- sort, argsort ---------------------------------------------------------------------------
def _sort_params(a, axis, kind, stable, function):
    params = {"axis": None if axis is None else _normalize_axis(axis, max(np.ndim(a), 1), function)}
    if kind is not None:
        params["kind"] = kind
    if stable is not None:
        params["stable"] = stable
    return params


argsort_p = Primitive("argsort", lambda a, **params: np.argsort(a, **params), differentiable=False)


def _argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise NotImplementedError("np.argsort: order= (structured arrays) is not supported on traced values")
    return argsort_p.bind(a, **_sort_params(a, axis, kind, stable, "np.argsort"))


def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """np.sort as argsort + take_along_axis: the gradient goes back through the permutation."""
    if order is not None:
        raise NotImplementedError("np.sort: order= (structured arrays) is not supported on traced values")
    if axis is None:
        a, axis = np.ravel(a), 0
    permutation = _argsort(a, axis, kind, stable=stable)
    return take_along_axis_p.bind(a, permutation, axis=_normalize_axis(axis, np.ndim(a), "np.sort"))


def _sort_complex(a):
    """np.sort_complex: sorted along the last axis (by real, then imaginary part), made complex as
    NumPy makes it (complex64 for 8- and 16-bit integers, complex128 otherwise)."""
    a = _as_array(a)
    ordered = _sort(a)
    if _dtype(a).kind == "c":
        return ordered
    return ordered.astype({"b": "F", "h": "F", "B": "F", "H": "F", "g": "G"}.get(_dtype(a).char, "D"))


# --- indices of nonzero entries (value-dependent sizes, guarded) ---------------------------
argwhere_p = Primitive("argwhere", np.argwhere, differentiable=False)
flatnonzero_p = Primitive("flatnonzero", np.flatnonzero, differentiable=False)


def _argwhere(a):
    _guard_count(a)
    return argwhere_p.bind(a)


def _flatnonzero(a):
    _guard_count(a)
    return flatnonzero_p.bind(a)


def _nonzero(a):
    if np.ndim(a) == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use np.atleast_1d(scalar).nonzero() instead.")
    # NumPy's nonzero arrays are the columns of one (count, ndim) array, as here
    positions = _argwhere(a)
    return tuple(getitem(positions, (slice(None), k)) for k in range(np.ndim(a)))


def _emit_searchsorted(args, side="left"):
    kwargs = {"side": side} if side != "left" else {}
    if len(args) == 3:
        kwargs["sorter"] = args[2]
    return call(np_attr("searchsorted"), args[:2], kwargs)


searchsorted_p = Primitive("searchsorted", lambda a, v, *sorter, side="left": np.searchsorted(
    a, v, side=side, sorter=sorter[0] if sorter else None), _emit_searchsorted, differentiable=False)


def _searchsorted(a, v, side="left", sorter=None):
    if side not in ("left", "right"):
        raise ValueError(f"np.searchsorted: side must be 'left' or 'right', got {side!r}")
    params = {"side": side} if side != "left" else {}
    return searchsorted_p.bind(a, v, *(() if sorter is None else (sorter,)), **params)


# --- unique (its size depends on the values: guarded) -------------------------------------
_UNIQUE_PARTS = ("values", "index", "inverse", "counts")


def _unique_part(x, part, **options):
    if part == "values":
        return np.unique(x, **options)
    return np.unique(x, **{f"return_{part}": True}, **options)[1]


def _emit_unique(args, part, **options):
    value = call(np_attr("unique"), args, {**({} if part == "values" else {f"return_{part}": True}), **options})
    if part == "values":
        return value
    return ast.Subscript(value=value, slice=ast.Constant(1), ctx=ast.Load())


unique_p = Primitive("unique", _unique_part, _emit_unique, differentiable=False)
size_p = Primitive("size", np.size, differentiable=False)  # np.size(x) in generated code: a runtime size


def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
            equal_nan=True, sorted=True):
    if axis is not None:
        raise NotImplementedError("np.unique(axis=...) is not supported on traced values yet")
    options = {**({} if equal_nan else {"equal_nan": False}), **({} if sorted else {"sorted": False})}
    parts: dict = {}

    def part(name):
        if name not in parts:
            parts[name] = unique_p.bind(ar, part=name, **options)
            if len(parts) == 1:
                _guard_size(parts[name])  # the first computed part fixes the length: checked
        return parts[name]

    if isinstance(ar, Tracer) and ar.requires_grad:
        values = getitem(np.ravel(ar), part("index"))  # differentiable: each value is its first occurrence
    else:
        values = part("values")
    wanted = {"index": return_index, "inverse": return_inverse, "counts": return_counts}
    extra = [part(name) for name, on in wanted.items() if on]
    return (values, *extra) if extra else values


def _unique_result(result_type, **returns):
    """np.unique_values and the like: np.unique with NumPy's options for them."""
    def handler(x):
        if result_type is None:
            return _unique(x, equal_nan=False, sorted=False)
        return result_type(*_unique(x, **returns, equal_nan=False))
    return handler


_UniqueCounts, _UniqueInverse, _UniqueAll = (type(f(np.zeros(1))) for f in (
    np.unique_counts, np.unique_inverse, np.unique_all))


def _union1d(ar1, ar2):
    return _unique(np.concatenate([np.ravel(ar1), np.ravel(ar2)]))


def _set_operation(function):
    """np.intersect1d, np.setdiff1d, np.setxor1d on values without a gradient (labels, indices)."""
    name = function.__name__
    prim = Primitive(name, lambda ar1, ar2, **options: function(ar1, ar2, **options), differentiable=False)

    def handler(ar1, ar2, assume_unique=False, **options):
        if options.get("return_indices"):
            raise NotImplementedError(f"np.{name}(return_indices=True) is not supported on traced values")
        if _is_traced_with_grad(ar1) or _is_traced_with_grad(ar2):
            raise NotImplementedError(
                f"np.{name}: no gradient flows through it yet; apply it to values without one "
                "(td.stop_gradient(x)), or select the entries with a mask (x[np.isin(x, y)])")
        out = prim.bind(ar1, ar2, **({"assume_unique": True} if assume_unique else {}))
        _guard_size(out)  # how many values it finds depends on the values
        return out

    return _meta(handler, differentiable=False, caveat="no gradient (an error if one would flow); " + _SIZE_GUARD)


def _unravel_index(indices, shape, order="C"):
    indices = _as_array(indices)
    if _dtype(indices).kind not in "iu":
        raise TypeError("np.unravel_index: only int indices permitted")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if order not in ("C", "F"):
        raise ValueError("np.unravel_index: only 'C' or 'F' order is permitted")
    _check_flat(indices, int(np.prod(shape)), "np.unravel_index")
    strides = np.cumprod((1,) + shape[::-1][:-1])[::-1] if order == "C" else np.cumprod((1,) + shape[:-1])
    return tuple(indices // int(stride) % n for stride, n in zip(strides, shape))


def _check_flat(indices, size: int, function: str):
    if np.any((indices < 0) | (indices >= size)):  # (traced indices: a guarded decision)
        raise ValueError(f"{function}: index out of bounds for an array of size {size}")


def _ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    dims = tuple(dims)
    if len(multi_index) != len(dims):
        raise ValueError(f"np.ravel_multi_index: {len(multi_index)} indices for {len(dims)} dimensions")
    if order not in ("C", "F"):
        raise ValueError("np.ravel_multi_index: only 'C' or 'F' order is permitted")
    modes = (mode,) * len(dims) if isinstance(mode, str) else tuple(mode)
    flat, stride = 0, 1
    for i in (range(len(dims) - 1, -1, -1) if order == "C" else range(len(dims))):
        index, n = multi_index[i], dims[i]
        if modes[i] == "wrap":
            index = index % n
        elif modes[i] == "clip":
            index = np.clip(index, 0, n - 1)
        elif modes[i] == "raise":
            _check_flat(index, n, "np.ravel_multi_index")
        else:
            raise ValueError(f"np.ravel_multi_index: clipmode must be 'raise', 'wrap' or 'clip', got {modes[i]!r}")
        flat, stride = flat + index * stride, stride * n
    return flat


lexsort_p = Primitive("lexsort", lambda *keys, axis: np.lexsort(keys, axis=axis),
                      lambda args, axis: call(np_attr("lexsort"), [ast.Tuple(elts=list(args), ctx=ast.Load())],
                                              {} if axis == -1 else {"axis": axis}),
                      differentiable=False)


def _lexsort(keys, axis=-1):
    return lexsort_p.bind(*(keys[i] for i in range(len(keys))), axis=operator.index(axis))


def _guard_size(x) -> None:
    if isinstance(x, Tracer):
        guard_p.bind(size_p.bind(x), kind="int", expected=int(np.size(x._value)))


def _count_nonzero(a, axis=None, *, keepdims=False):
    ndim = np.ndim(a)
    if ndim == 0 and axis is not None and not isinstance(axis, (tuple, list)) and operator.index(axis) in (0, -1):
        axis = None  # as NumPy's reductions: axis 0 or -1 of a 0-d array is all of it
    if axis is not None:
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = tuple(_normalize_axis(ax, ndim, "np.count_nonzero") for ax in axes)
        axis = axes[0] if len(axes) == 1 else axes
    params = {**({"axis": axis} if axis is not None else {}), **({"keepdims": True} if keepdims else {})}
    return count_nonzero_p.bind(a, **params)


# --- partition: argpartition's permutation, as sort is argsort's ---------------------------------
def _emit_argpartition(args, kth, axis):
    return call(np_attr("argpartition"), [args[0], py_literal(kth)], {} if axis == -1 else {"axis": axis})


argpartition_p = Primitive("argpartition", lambda a, kth, axis: np.argpartition(a, kth, axis=axis),
                           _emit_argpartition, differentiable=False)


def _argpartition(a, kth, axis=-1, kind="introselect", order=None):
    if order is not None:
        raise NotImplementedError("np.argpartition: order= (structured arrays) is not supported on traced values")
    if kind != "introselect":
        raise ValueError(f"np.argpartition: kind must be 'introselect', got {kind!r}")
    if axis is None:
        a, axis = np.ravel(a), -1
    axis = _normalize_axis(axis, np.ndim(a), "np.argpartition")
    kth = kth.tolist() if isinstance(kth, Tracer) else kth  # (guarded, as any value turned into a number)
    kth = np.asarray(kth)
    if kth.dtype.kind not in "iu":
        raise TypeError("np.argpartition: kth must be an integer or a sequence of integers")
    kth = int(kth) if kth.ndim == 0 else tuple(int(k) for k in kth.ravel())
    return argpartition_p.bind(a, kth=kth, axis=-1 if axis == np.ndim(a) - 1 else axis)


def _partition(a, kth, axis=-1, kind="introselect", order=None):
    if axis is None:
        a, axis = np.ravel(a), -1
    permutation = _argpartition(a, kth, axis, kind, order)
    return take_along_axis_p.bind(a, permutation, axis=_normalize_axis(axis, np.ndim(a), "np.partition"))


# --- interp: piecewise linear, through searchsorted -------------------------------------------
def _interp(x, xp, fp, left=None, right=None, period=None):
    if isinstance(xp, Tracer) and xp.requires_grad:
        raise NotImplementedError(
            "np.interp: no gradient flows to the sample points xp (the pieces would move); pass "
            "td.stop_gradient(xp) if they are constants of the differentiated function")
    x, xp, fp = map(_as_array, (x, xp, fp))
    if _dtype(x).kind == "c":
        if period is None:
            raise TypeError("np.interp: x must be real (NumPy cannot cast complex x to float64)")
        raise NotImplementedError("np.interp(x, ..., period=) of a complex x: NumPy drops its imaginary part "
                                  "(with a ComplexWarning); pass np.real(x) to say so")
    if any(_dtype(v).kind == "c" for v in (fp, left, right) if v is not None):  # as NumPy: part by part
        parts = [[None if v is None else part(v) for v in (fp, left, right)] for part in (np.real, np.imag)]
        real, imag = (_interp(x, xp, *values, period=period) for values in parts)
        return real + 1j * imag
    # NumPy interpolates in float64 whatever the inputs' dtypes
    x, xp, fp = (v.astype(np.float64) if isinstance(v, Tracer) else np.asarray(v, dtype=np.float64)
                 for v in (x, xp, fp))
    if np.ndim(xp) != 1 or np.ndim(fp) != 1:
        raise ValueError("np.interp: xp and fp must be 1-D sequences")
    if np.shape(xp) != np.shape(fp):
        raise ValueError("np.interp: fp and xp are not of the same length")
    if not np.shape(xp)[0]:
        raise ValueError("np.interp: array of sample points is empty")
    if period is not None:
        if period == 0:
            raise ValueError("np.interp: period must be a non-zero value")
        period = abs(period)
        left = right = None
        x, xp = x % period, xp % period
        order = np.argsort(xp)
        xp, fp = xp[order], fp[order]
        # one sample more at each end, a period away: the pieces wrap around
        xp = np.concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = np.concatenate([fp[-1:], fp, fp[:1]])
    n = np.shape(xp)[0]
    left, right = fp[0] if left is None else left, fp[-1] if right is None else right
    if n == 1:
        inside = fp[0]
    else:  # on the piece xp[j] <= x < xp[j + 1]
        j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, n - 2)
        xp0, xp1, fp0, fp1 = (getitem(v, k) for v in (xp, fp) for k in (j, j + 1))  # (traced j: getitem)
        inside = np.where(x == xp[-1], fp[-1], (fp1 - fp0) / (xp1 - xp0) * (x - xp0) + fp0)
    return np.where(x < xp[0], left, np.where(x > xp[-1], right, inside))


# --- counting into bins: bincount, digitize, histogram, isin --------------------------------------
def _is_traced_with_grad(v) -> bool:
    return isinstance(v, Tracer) and v.requires_grad


def _emit_bincount(args, minlength=0):
    return call(np_attr("bincount"), args, {"minlength": minlength} if minlength else {})


bincount_p = Primitive("bincount", lambda x, *weights, minlength=0: np.bincount(
    x, weights[0] if weights else None, minlength=minlength), _emit_bincount, differentiable=False)


def _bincount(x, weights=None, minlength=0):
    minlength = operator.index(minlength)
    x, weights = _as_array(x), None if weights is None else _as_array(weights)
    if _dtype(x).kind not in "iub":
        raise TypeError(f"np.bincount: x must hold non-negative integers, got {_dtype(x)}")
    if np.ndim(x) != 1:
        raise ValueError("np.bincount: x must be 1-D")
    if weights is not None and np.shape(weights) != np.shape(x):
        raise ValueError("np.bincount: the weights and x must have the same length")
    if weights is not None and _dtype(weights).kind == "c":
        raise TypeError("np.bincount: the weights must be real (NumPy cannot cast complex weights to float64); "
                        "count np.real(w) and np.imag(w) separately")
    if not _is_traced_with_grad(weights):
        out = bincount_p.bind(x, *(() if weights is None else (weights,)), minlength=minlength)
        _guard_size(out)  # its length is max(x) + 1: a value
        return out
    # the weights' gradient flows: their sums, added at x (its largest entry is guarded)
    length = max(int(np.max(x)) + 1 if np.shape(x)[0] else 0, minlength)
    return scatter_add_p.bind(_cast(weights, np.float64), x, index=(IndexOperand(1),), shape=(length,),
                              dtype=np.dtype(np.float64))


_bincount.complex_values = "real only"


def _digitize(x, bins, right=False):
    x, bins = _as_array(x), _as_array(bins)
    if np.ndim(bins) != 1:
        raise ValueError("np.digitize: bins must be 1-dimensional")
    if _dtype(x).kind == "c":
        raise TypeError("np.digitize: x may not be complex")
    side = "left" if right else "right"
    steps = np.diff(bins)
    if np.all(steps >= 0):  # (traced bins: a guarded decision, as any if on values)
        return np.searchsorted(bins, x, side=side)
    if np.all(steps <= 0):
        return np.shape(bins)[0] - np.searchsorted(bins[::-1], x, side=side)
    raise ValueError("np.digitize: bins must be monotonically increasing or decreasing")


def _histogram_part(a, *weights, part, **options):
    counts, edges = np.histogram(a, weights=weights[0] if weights else None, **options)
    return counts if part == "counts" else edges


def _emit_histogram(args, part, **options):
    value = call(np_attr("histogram"), args[:1], {**options, **({"weights": args[1]} if len(args) > 1 else {})})
    return ast.Subscript(value=value, slice=ast.Constant(0 if part == "counts" else 1), ctx=ast.Load())


histogram_p = Primitive("histogram", _histogram_part, _emit_histogram, differentiable=False)
histogram_bin_edges_p = Primitive(
    "histogram_bin_edges",
    lambda a, *weights, **options: np.histogram_bin_edges(a, weights=weights[0] if weights else None, **options),
    lambda args, **options: call(np_attr("histogram_bin_edges"), args[:1],
                                 {**options, **({"weights": args[1]} if len(args) > 1 else {})}),
    differentiable=False)


def _histogram_options(bins, range, density=None):
    if any(isinstance(v, Tracer) for v in (bins, range, *(range if range is not None else ()))):
        raise NotImplementedError("np.histogram: bins and range must be constants on traced values; the counts "
                                  "have no gradient in them")
    if not isinstance(bins, (str, int, np.integer)):
        bins = tuple(np.asarray(bins).tolist())
    options = {"bins": bins if not isinstance(bins, np.integer) else int(bins)}
    if range is not None:
        options["range"] = tuple(float(v) for v in range)
    if density:
        options["density"] = True
    return options


def _histogram(a, bins=10, range=None, density=None, weights=None):
    a, weights = _as_array(a), None if weights is None else _as_array(weights)
    options = _histogram_options(bins, range, density)
    weight = () if weights is None else (weights,)
    if not _is_traced_with_grad(weights):
        counts = histogram_p.bind(a, *weight, part="counts", **options)
        edges = histogram_p.bind(a, *weight, part="edges", **options)
        if isinstance(options["bins"], str):
            _guard_size(edges)  # how many bins the rule picks depends on the values
        return counts, edges
    # the weights' gradient flows: each one's bin, found as NumPy does (the last bin is closed)
    options.pop("density", None)
    edges = histogram_bin_edges_p.bind(a, **options)
    if isinstance(options["bins"], str):
        _guard_size(edges)
    n = np.shape(edges)[0] - 1
    a, weights = np.ravel(a), np.ravel(weights)
    inside = (a >= edges[0]) & (a <= edges[-1])
    index = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, n - 1)
    counts = scatter_add_p.bind(np.where(inside, weights, 0), index, index=(IndexOperand(1),), shape=(n,),
                                dtype=_dtype(weights))  # (as NumPy: the weights' dtype)
    if density:
        counts = counts / np.diff(edges) / np.sum(counts)
    return counts, edges


def _histogram_bin_edges(a, bins=10, range=None, weights=None):
    options = _histogram_options(bins, range)
    edges = histogram_bin_edges_p.bind(a, *(() if weights is None else (weights,)), **options)
    if isinstance(options["bins"], str):
        _guard_size(edges)
    return edges


def _histogramdd_part(sample, *weights, part, **options):
    counts, edges = np.histogramdd(sample, weights=weights[0] if weights else None, **options)
    return counts if part is None else edges[part]


def _emit_histogramdd(args, part, **options):
    value = call(np_attr("histogramdd"), args[:1], {**options, **({"weights": args[1]} if len(args) > 1 else {})})
    value = ast.Subscript(value=value, slice=ast.Constant(0 if part is None else 1), ctx=ast.Load())
    return value if part is None else ast.Subscript(value=value, slice=ast.Constant(part), ctx=ast.Load())


histogramdd_p = Primitive("histogramdd", _histogramdd_part, _emit_histogramdd, differentiable=False)


def _constant_tuples(value):
    """bins or range of a histogram as nested tuples of numbers (constants of the trace)."""
    if isinstance(value, Tracer):
        raise NotImplementedError("np.histogramdd: bins and range must be constants on traced values")
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_constant_tuples(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def _histogramdd(sample, bins=10, range=None, density=None, weights=None):
    if _is_traced_with_grad(weights):
        raise NotImplementedError("np.histogramdd: no gradient flows to the weights of a histogram of several "
                                  "dimensions yet; use np.histogram, or td.stop_gradient(weights)")
    if isinstance(sample, (list, tuple)):  # D arrays of coordinates: the columns of the sample
        sample = np.stack([_as_array(v) for v in sample], axis=-1)
    elif np.ndim(sample) < 2:
        sample = np.reshape(sample, (-1, 1))
    options = {"bins": _constant_tuples(bins)}
    if range is not None:
        options["range"] = _constant_tuples(range)
    if density:
        options["density"] = True
    weight = () if weights is None else (weights,)
    counts = histogramdd_p.bind(sample, *weight, part=None, **options)
    dimensions = builtins.range(np.shape(sample)[1])  # (range is the argument's name here)
    return counts, [histogramdd_p.bind(sample, *weight, part=i, **options) for i in dimensions]


def _histogram2d(x, y, bins=10, range=None, density=None, weights=None):
    if np.ndim(bins) == 1 and len(bins) not in (1, 2):  # one array of edges for both axes
        bins = [bins, bins]
    counts, (x_edges, y_edges) = _histogramdd([x, y], bins, range, density, weights)
    return counts, x_edges, y_edges


def _trim_zeros(filt, trim="fb", axis=None):
    trim = trim.lower()
    if trim not in ("fb", "bf", "f", "b"):
        raise ValueError(f"np.trim_zeros: unexpected character(s) in `trim`: {trim!r}")
    ndim = np.ndim(filt)
    axes = range(ndim) if axis is None else [_normalize_axis(a, ndim, "np.trim_zeros") for a in np.atleast_1d(axis)]
    nonzero = _argwhere(filt)  # (how many is guarded, and so are the ends found)
    if not np.shape(nonzero)[0]:  # all zeros: nothing is left
        start = stop = [0] * ndim
    else:
        start = np.min(nonzero, axis=0).tolist() if "f" in trim else [None] * ndim
        stop = (np.max(nonzero, axis=0) + 1).tolist() if "b" in trim else [None] * ndim
    return getitem(filt, tuple(slice(start[a], stop[a]) if a in axes else slice(None) for a in range(ndim)))


isin_p = Primitive("isin", lambda element, test_elements, **options: np.isin(element, test_elements, **options),
                   differentiable=False)


def _isin(element, test_elements, assume_unique=False, invert=False, *, kind=None):
    options = {k: v for k, v in {"assume_unique": assume_unique, "invert": invert, "kind": kind}.items() if v}
    return isin_p.bind(element, test_elements, **options)


# --- removing, inserting and choosing entries: gathers with constant (or guarded) indices -------
def _as_array(v):
    """``v`` as an array: a (nested) list holding traced values is stacked, as np.array would build it."""
    if isinstance(v, Tracer):
        return v
    if isinstance(v, (list, tuple)) and _holds_tracer(v):
        return np.stack([_as_array(item) for item in v])
    return np.asarray(v)


def _cast(v, dtype):
    if _dtype(v) == dtype:
        return v
    return v.astype(dtype) if isinstance(v, Tracer) else np.asarray(v, dtype)


def _static_index(obj):
    """A traced index (positions, a mask) as a constant; it is guarded as any value turned into a number."""
    return np.asarray(obj.tolist()) if isinstance(obj, Tracer) else obj


def _along(x, axis, index):
    return getitem(x, (slice(None),) * axis + (index,))


def _flat_axis(arr, axis, function):
    arr = _as_array(arr)
    if axis is None:
        return np.ravel(arr), 0
    return arr, _normalize_axis(axis, np.ndim(arr), function)


def _delete(arr, obj, axis=None):
    arr, axis = _flat_axis(arr, axis, "np.delete")
    kept = np.delete(np.arange(np.shape(arr)[axis]), _static_index(obj))
    return _along(arr, axis, kept)


def _insert(arr, obj, values, axis=None):
    arr, axis = _flat_axis(arr, axis, "np.insert")
    shape, n = np.shape(arr), np.shape(arr)[axis]
    obj = _static_index(obj)
    values = _cast(_as_array(values), _dtype(arr))
    if isinstance(obj, slice) or np.ndim(obj):  # each value goes before its own position
        count = len(range(*obj.indices(n))) if isinstance(obj, slice) else np.size(obj)
    else:  # one position: the values' first axis is the run of new entries
        values = np.reshape(values, (1,) * (len(shape) - np.ndim(values)) + np.shape(values))
        values = np.moveaxis(values, 0, axis)
        count = np.shape(values)[axis]
    block = np.broadcast_to(values, shape[:axis] + (count,) + shape[axis + 1:])
    # NumPy's own insert on positions says where each entry goes: n + j is the j-th new one
    order = np.insert(np.arange(n), obj, np.arange(n, n + count))
    return _along(np.concatenate([arr, block], axis=axis), axis, order)


def _compress(condition, a, axis=None, out=None):
    if out is not None:
        raise TypeError("np.compress: out= is not supported on traced values")
    condition, a = _as_array(condition), _as_array(a)
    if np.ndim(condition) != 1:
        raise ValueError("np.compress: condition must be a 1-d array")
    return _take(a, np.nonzero(condition)[0], axis=axis)


def _extract(condition, arr):
    return _take(np.ravel(_as_array(arr)), np.nonzero(np.ravel(_as_array(condition)))[0])


def _choose(a, choices, out=None, mode="raise"):
    if out is not None:
        raise TypeError("np.choose: out= is not supported on traced values")
    a = _as_array(a)
    if _dtype(a).kind not in "iub":
        raise TypeError(f"np.choose: a must hold integers, got {_dtype(a)}")
    choices = [c if isinstance(c, (int, float, complex)) else _as_array(c) for c in choices]
    a = _index_mode(a, len(choices), mode, "np.choose")
    shape = np.broadcast_shapes(np.shape(a), *map(np.shape, choices))
    # NumPy's common type of the choices, a Python number weak in it
    dtype = np.result_type(*(c if isinstance(c, (int, float, complex)) else _dtype(c) for c in choices))
    stacked = np.stack([np.broadcast_to(_cast(c, dtype), shape) for c in choices])
    picks = np.reshape(np.broadcast_to(a, shape), (1,) + shape)
    return take_along_axis_p.bind(stacked, picks, axis=0)[0]


def _fill_diagonal(a, val, wrap=False):
    shape = _target(a, "np.fill_diagonal").shape
    if len(shape) < 2:
        raise ValueError("np.fill_diagonal: array must be at least 2-d")
    if len(shape) > 2 and len(set(shape)) != 1:
        raise ValueError("np.fill_diagonal: all dimensions of input must be of equal length")
    # the flat positions NumPy writes (a tall matrix wraps around only with wrap=True)
    step = shape[1] + 1 if len(shape) == 2 else 1 + int(np.cumprod(shape[:-1]).sum())
    end = None if wrap or len(shape) > 2 else shape[1] * shape[1]
    flat = np.arange(a.size)[:end:step]
    values = np.resize(_cast(_as_array(val), a.dtype), flat.size)  # a flat write repeats the values, as NumPy
    a._become(setitem(a, np.unravel_index(flat, shape), values))


def _piecewise(x, condlist, funclist, *args, **kw):
    x = x if isinstance(x, Tracer) else np.asanyarray(x)
    # one condition (an array like x, a bool) or a list of them, as NumPy reads condlist
    if isinstance(condlist, (Tracer, np.ndarray)):
        single = np.ndim(condlist) in (0, np.ndim(x))
    elif isinstance(condlist, (list, tuple)):
        single = not isinstance(condlist[0], (list, tuple, np.ndarray, Tracer)) and np.ndim(x) != 0
    else:  # a bool
        single = True
    conditions = [condlist] if single else list(condlist)
    conditions = [c if isinstance(c, Tracer) else np.asarray(c, dtype=bool) for c in conditions]
    if len(conditions) == len(funclist) - 1:  # the last function is for "otherwise"
        conditions.append(~np.any(np.stack(conditions), axis=0))
    elif len(conditions) != len(funclist):
        raise ValueError(f"np.piecewise: with {len(conditions)} condition(s), either {len(conditions)} or "
                         f"{len(conditions) + 1} functions are expected")
    y = np.zeros_like(x)
    for condition, function in zip(conditions, funclist):
        if not callable(function):
            y[condition] = function
        else:  # the function sees only the entries its condition picks (their number is guarded)
            values = x[condition]
            if np.size(values) > 0:
                y[condition] = function(values, *args, **kw)
    return y


# --- in-place writes (recorded as new values that the array, and its view family, take) ---------
def _target(a, function):
    if not isinstance(a, Tracer):
        raise TracerConversionError(
            f"{function}: traced values were written into a plain NumPy array, which would lose their "
            "gradient; write into a traced array instead (e.g. y = x.copy())")
    return a


def _copyto(dst, src, casting="same_kind", where=True):
    _target(dst, "np.copyto")
    src = src if isinstance(src, (int, float, complex)) else _as_array(src)
    if not np.can_cast(np.result_type(dst.dtype, src) if isinstance(src, (int, float, complex)) else _dtype(src),
                       dst.dtype, casting):
        raise TypeError(f"np.copyto: cannot cast array data from {_dtype(src)} to {dst.dtype} according to the "
                        f"rule {casting!r}")
    value = _cast(np.asarray(src) if isinstance(src, (int, float, complex)) else src, dst.dtype)
    if where is True:
        dst._become(np.copy(np.broadcast_to(value, dst.shape)))
    else:
        dst._become(np.where(where, value, dst))


def _safe_values(a, values, function):
    """``values`` in ``a``'s dtype, refused as NumPy refuses a cast that is not safe."""
    values = _as_array(values)
    if not isinstance(values, (int, float, complex)) and not np.can_cast(_dtype(values), a.dtype, "safe"):
        raise TypeError(f"{function}: cannot cast array data from {_dtype(values)} to {a.dtype} according to "
                        "the rule 'safe'")
    return _cast(values, a.dtype)


def _putmask(a, mask, values):
    # the value at each flat position n is values.flat[n], repeated as needed
    _target(a, "np.putmask")
    a._become(np.where(mask, np.resize(_safe_values(a, values, "np.putmask"), a.shape), a))


def _place(arr, mask, vals):
    # the n-th chosen entry takes vals.flat[n], repeated as needed; how many are chosen is guarded
    _target(arr, "np.place")
    count = int(np.count_nonzero(mask))
    if count:
        arr._become(setitem(arr, np.asarray(mask, dtype=bool) if not isinstance(mask, Tracer) else mask,
                            np.resize(_safe_values(arr, vals, "np.place"), count)))


def _put(a, ind, v, mode="raise"):
    _target(a, "np.put")
    flat = np.reshape(a, -1)
    n = np.shape(flat)[0]
    ind = np.asarray(_static_index(ind)).reshape(-1)
    if mode == "wrap":
        ind = ind % n
    elif mode == "clip":
        ind = np.clip(ind, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"np.put: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    a._become(np.reshape(setitem(flat, ind, np.resize(_cast(_as_array(v), a.dtype), ind.size)), a.shape))


def _ix_(*args):
    out = []
    for k, index in enumerate(args):
        index = _as_array(index)
        if np.ndim(index) != 1:
            raise ValueError("np.ix_: cross index must be 1 dimensional")
        if _dtype(index) == np.bool_:
            (index,) = np.nonzero(index)
        out.append(np.reshape(index, (1,) * k + (-1,) + (1,) * (len(args) - k - 1)))
    return tuple(out)


def _indices_from(function, check):
    def handler(arr, *args, **kwargs):
        check(np.shape(arr))
        return function(np.empty(np.shape(arr), dtype=bool), *args, **kwargs)  # depends on the shape only
    return handler


def _square_2d(shape):
    if len(shape) != 2:
        raise ValueError("input array must be 2-d")


def _all_equal(shape):
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length")


def _meta(handler, differentiable=True, caveat=None):
    """Describe a NumPy function's handler for the coverage page (as reductions.py does)."""
    handler.differentiable = differentiable
    if caveat:
        handler.caveat = caveat
    return handler


_SIZE_GUARD = "the size of the result depends on the values: the generated code checks it (a guard)"
_IN_PLACE = "in place, as in NumPy (recorded as a new value)"
_UNIQUE = "each unique value's gradient goes to its first occurrence; " + _SIZE_GUARD
_REPEATS = ("with repeated indices NumPy keeps one of the writes (the last); only the kept write's "
            "value gets a gradient, decided in the generated code on every call")
setitem_p.caveat = _REPEATS
take_along_axis_p.caveat = "repeated indices add up in the gradient"

FUNCTIONS.update({
    np.take: _meta(_take, caveat="np.take(plain_array, traced_indices) never reaches tracediff (NumPy "
                                 "dispatches np.take on its array only): use np.take_along_axis there"),
    np.take_along_axis: _meta(_take_along_axis, caveat="repeated indices add up in the gradient"),
    np.put_along_axis: _meta(_put_along_axis, caveat="in place, as in NumPy (recorded as a new value); " + _REPEATS),
    np.sort_complex: _meta(_sort_complex, caveat="differentiated through argsort's permutation"),
    np.sort: _meta(_sort, caveat="differentiated through argsort's permutation; at ties each tied entry "
                                 "gets the cotangent of the position argsort gave it"),
    np.argsort: _meta(_argsort, differentiable=False),
    np.nonzero: _meta(_nonzero, differentiable=False, caveat=_SIZE_GUARD),
    np.argwhere: _meta(_argwhere, differentiable=False, caveat=_SIZE_GUARD),
    np.flatnonzero: _meta(_flatnonzero, differentiable=False, caveat=_SIZE_GUARD),
    np.searchsorted: _meta(_searchsorted, differentiable=False),
    np.unique: _meta(_unique, caveat=_UNIQUE + "; axis= is not supported"),
    np.count_nonzero: _meta(_count_nonzero, differentiable=False),
    np.unique_values: _meta(_unique_result(None), caveat=_UNIQUE),
    np.unique_counts: _meta(_unique_result(_UniqueCounts, return_counts=True), caveat=_UNIQUE),
    np.unique_inverse: _meta(_unique_result(_UniqueInverse, return_inverse=True), caveat=_UNIQUE),
    np.unique_all: _meta(_unique_result(_UniqueAll, return_index=True, return_inverse=True, return_counts=True),
                         caveat=_UNIQUE),
    np.union1d: _meta(_union1d, caveat=_UNIQUE),
    np.intersect1d: _set_operation(np.intersect1d), np.setdiff1d: _set_operation(np.setdiff1d),
    np.setxor1d: _set_operation(np.setxor1d),
    np.unravel_index: _meta(_unravel_index, differentiable=False),
    np.ravel_multi_index: _meta(_ravel_multi_index, differentiable=False),
    np.lexsort: _meta(_lexsort, differentiable=False),
    np.argpartition: _meta(_argpartition, differentiable=False),
    np.partition: _meta(_partition, caveat="differentiated through argpartition's permutation (the order "
                                           "within each side, which NumPy leaves unspecified, is argpartition's)"),
    np.bincount: _meta(_bincount, caveat="differentiable in the weights; " + _SIZE_GUARD),
    np.digitize: _meta(_digitize, differentiable=False),
    np.histogram: _meta(_histogram, caveat="differentiable in the weights only; bins and range must be constants; "
                                           "a rule such as bins='auto' picks the number of bins from the values "
                                           "(guarded)"),
    np.histogram_bin_edges: _meta(_histogram_bin_edges, differentiable=False),
    np.histogramdd: _meta(_histogramdd, differentiable=False), np.histogram2d: _meta(_histogram2d, differentiable=False),
    np.trim_zeros: _meta(_trim_zeros, caveat="where the zeros end is a decision on the values: guarded"),
    np.isin: _meta(_isin, differentiable=False),
    np.delete: _meta(_delete, caveat="traced positions are constants of the trace (guarded)"),
    np.insert: _meta(_insert, caveat="traced positions are constants of the trace (guarded)"),
    np.compress: _meta(_compress, caveat=_SIZE_GUARD), np.extract: _meta(_extract, caveat=_SIZE_GUARD),
    np.choose: _meta(_choose, caveat="differentiable in the choices"),
    np.piecewise: _meta(_piecewise, caveat="each function runs on the entries its condition picks, as NumPy; "
                                           "how many it picks is guarded"),
    np.fill_diagonal: _meta(_fill_diagonal, caveat=_IN_PLACE),
    np.copyto: _meta(_copyto, caveat=_IN_PLACE), np.putmask: _meta(_putmask, caveat=_IN_PLACE),
    np.place: _meta(_place, caveat=_IN_PLACE + "; " + _SIZE_GUARD),
    np.put: _meta(_put, caveat=_IN_PLACE + "; " + _REPEATS), np.ix_: _meta(_ix_, differentiable=False),
    np.tril_indices_from: _meta(_indices_from(np.tril_indices_from, _square_2d), differentiable=False),
    np.triu_indices_from: _meta(_indices_from(np.triu_indices_from, _square_2d), differentiable=False),
    np.diag_indices_from: _meta(_indices_from(np.diag_indices_from, _all_equal), differentiable=False),
    np.interp: _meta(_interp, caveat="differentiable in x, fp, left and right, not in xp (an error if xp carries a "
                                     "gradient); at a sample point the slope of the piece to its right"),
})
