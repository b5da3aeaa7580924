"""Indexing: ``x[index]``, its scatter-add cotangent, functional ``x[index] = v``, and the NumPy
functions made of indices: take, take_along_axis, put_along_axis, sort (through argsort), and the
index-valued helpers (argsort, nonzero, argwhere, flatnonzero, searchsorted, unique, count_nonzero).

An index is kept as a static template (ints, slices, None, ...) in which every index array is a
placeholder for an operand, so traced index arrays flow through the graph like any value.

Writes with repeated indices follow NumPy: ``x[[0, 0]] = v`` keeps one of the two writes (the last,
in practice), and ``x[[0, 0]] += v`` adds once. When an index may repeat (a computed index array,
or a constant one that does repeat), the cotangent of ``v`` goes only to the writes that survived:
the generated code finds them by writing each write's number through the same index
(``winners``), so it is exact for whatever the index holds on each call; no guard is needed.
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

import numpy as np

from ..errors import TracerConversionError
from ..tracing import Tracer, unlink_view
from .core import FUNCTIONS, Primitive, call, defbatch, defvjp, guard_p, lift, np_attr, py_literal


@dataclass(frozen=True)
class IndexOperand:
    """Placeholder in an index template for the operand at position ``position``."""

    position: int

    def __repr__(self) -> str:
        return f"<operand {self.position}>"


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
        if isinstance(item, (np.ndarray, Tracer)):
            if item.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, got {item.dtype}")
            template.append(IndexOperand(first_position + len(operands)))
            operands.append(item)
        elif isinstance(item, slice):
            template.append(slice(*(None if v is None else operator.index(v)
                                    for v in (item.start, item.stop, item.step))))
        elif item is None or item is Ellipsis:
            template.append(item)
        else:
            template.append(operator.index(item))
    return tuple(template), operands


def build_index(template, operands):
    """The NumPy index a template stands for, given its operands' values."""
    items = tuple(operands[t.position - _first(template)] if isinstance(t, IndexOperand) else t
                  for t in template)
    return items[0] if len(items) == 1 else items


def _first(template) -> int:
    return min((t.position for t in template if isinstance(t, IndexOperand)), default=0)


def _index_ast(template, args):
    items = [args[t.position] if isinstance(t, IndexOperand) else py_literal(t) for t in template]
    return items[0] if len(items) == 1 else ast.Tuple(elts=items, ctx=ast.Load())


def _index_value_ast(template, args):
    """The index as an ordinary value (an argument of np.add.at), where ``1:`` is not valid syntax."""
    items = [call(ast.Name(id="slice"), [py_literal(v) for v in (t.start, t.stop, t.step)])
             if isinstance(t, slice) else t for t in template]
    return _index_ast(items, args)


def _subscript(value, template, args, ctx=None):
    return ast.Subscript(value=value, slice=_index_ast(template, args), ctx=ctx or ast.Load())


def _has_advanced(template) -> bool:
    return any(isinstance(t, IndexOperand) for t in template)


def _renumber(template, first_position: int):
    """``template`` with its operands numbered from ``first_position``."""
    shift = first_position - _first(template)
    return tuple(IndexOperand(t.position + shift) if isinstance(t, IndexOperand) else t for t in template)


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
    out = getitem_p.bind(x, *operands, index=template)
    if isinstance(x, Tracer) and out._view_of is x:
        if _is_view(template, x.ndim):
            out._view_kind = ("index", template)
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
    n = np.shape(a)[axis]
    if mode == "wrap":
        indices = indices % n
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"np.take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return getitem(a, (slice(None),) * axis + (indices,))


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


def _meta(handler, differentiable=True, caveat=None):
    """Describe a NumPy function's handler for the coverage page (as reductions.py does)."""
    handler.differentiable = differentiable
    if caveat:
        handler.caveat = caveat
    return handler


_SIZE_GUARD = "the size of the result depends on the values: the generated code checks it (a guard)"
_REPEATS = ("with repeated indices NumPy keeps one of the writes (the last); only the kept write's "
            "value gets a gradient, decided in the generated code on every call")
setitem_p.caveat = _REPEATS
take_along_axis_p.caveat = "repeated indices add up in the gradient"

FUNCTIONS.update({
    np.take: _meta(_take, caveat="np.take(plain_array, traced_indices) never reaches tracediff (NumPy "
                                 "dispatches np.take on its array only): use np.take_along_axis there"),
    np.take_along_axis: _meta(_take_along_axis, caveat="repeated indices add up in the gradient"),
    np.put_along_axis: _meta(_put_along_axis, caveat="in place, as in NumPy (recorded as a new value); " + _REPEATS),
    np.sort: _meta(_sort, caveat="differentiated through argsort's permutation; at ties each tied entry "
                                 "gets the cotangent of the position argsort gave it"),
    np.argsort: _meta(_argsort, differentiable=False),
    np.nonzero: _meta(_nonzero, differentiable=False, caveat=_SIZE_GUARD),
    np.argwhere: _meta(_argwhere, differentiable=False, caveat=_SIZE_GUARD),
    np.flatnonzero: _meta(_flatnonzero, differentiable=False, caveat=_SIZE_GUARD),
    np.searchsorted: _meta(_searchsorted, differentiable=False),
    np.unique: _meta(_unique, caveat="each unique value's gradient goes to its first occurrence; " + _SIZE_GUARD
                                     + "; axis= is not supported"),
    np.count_nonzero: _meta(_count_nonzero, differentiable=False),
})
