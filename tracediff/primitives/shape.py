"""Shape and assembly primitives, each beside its VJP rule: reshape, transpose, broadcast, stack,
concatenate, tile, repeat, roll, pad, triu/tril, diag/diagonal.

NumPy functions that are exactly a composition of these (or of indexing) are built from them, so
the generated code reads as NumPy and the rules come for free: flip is ``x[::-1]``, hstack is
``np.concatenate``, rot90 is a flip and a transpose, trace is ``np.sum(np.diagonal(x), axis=-1)``,
split is slicing, select is nested ``np.where``. (sort and take are in indexing.py.) So are diff,
gradient (NumPy's finite-difference formulas), linspace/logspace/geomspace, meshgrid, block, append,
rollaxis, vander (a running product), apply_along_axis (one call per lane) and unwrap.
"""
from __future__ import annotations

import ast
import operator

import numpy as np

from .. import array_libraries
from ..tracing import Tracer
from .core import (FUNCTIONS, Primitive, batch_axis, call, defbatch, defvjp, lift, method_or_function, np_attr,
                   py_literal)
from .indexing import IndexOperand, _meta, arange, getitem, scatter_add_p


def _resolve_shape(shape, size: int, function: str) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(operator.index(s) for s in shape)
    if shape.count(-1) == 1:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"{function}: cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != size or any(s < 0 for s in shape):
        raise ValueError(f"{function}: cannot reshape array of size {size} into shape {shape}")
    return shape


def _normalize_axis(axis, ndim: int, function: str) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim, function)
    return axis % ndim


def _normalize_axes(axes, ndim: int, function: str) -> tuple:
    axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
    out = tuple(_normalize_axis(a, ndim, function) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"{function}: repeated axis in {axes}")
    return out


def _size(a) -> int:
    return int(np.prod(np.shape(a), dtype=np.int64))


def _emit_transpose(args, axes):
    if axes == tuple(reversed(range(len(axes)))):
        return ast.Attribute(value=args[0], attr="T")
    return call(np_attr("transpose"), args, {"axes": axes})


# Function forms (np.copy, np.reshape of a 0-d value) rather than methods: a 0-d value may be a
# Python float.
reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape),
                      lambda args, shape: method_or_function("reshape", args, [py_literal(shape)], {}))
defvjp(reshape_p, lambda g, ans, x, shape: np.reshape(g, np.shape(x)))
reshape_p.is_view = True

transpose_p = Primitive("transpose", lambda x, axes: np.transpose(x, axes), _emit_transpose)
defvjp(transpose_p, lambda g, ans, x, axes: np.transpose(g, tuple(np.argsort(axes).tolist())))
transpose_p.is_view = True

broadcast_to_p = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape))
defvjp(broadcast_to_p, lambda g, ans, x, shape: g)  # reverse mode sums g back to x's shape
broadcast_to_p.is_view = True
broadcast_to_p.read_only = True

copy_p = Primitive("copy", array_libraries.copy, lambda args: call(np_attr("copy"), args))
defvjp(copy_p, lambda g, ans, x: g)

# Batching rules: the batch axis leads, so an entry's axis k is the batched value's axis k + 1.
defbatch(reshape_p, lambda args, batched, out_shape, shape: np.reshape(args[0], np.shape(args[0])[:1] + out_shape))
defbatch(transpose_p, lambda args, batched, out_shape, axes:
         np.transpose(args[0], (0,) + batch_axis(axes, len(axes))))
defbatch(broadcast_to_p, lambda args, batched, out_shape, shape:
         np.broadcast_to(lift(args[0], True, len(shape)), np.shape(args[0])[:1] + shape))
defbatch(copy_p, lambda args, batched, out_shape: np.copy(args[0]))


def _join_impl(name):
    fn = getattr(np, name)
    return lambda *xs, axis: fn(xs, axis=axis)


def _emit_join(name):
    return lambda args, axis: call(np_attr(name), [ast.List(elts=list(args), ctx=ast.Load())],
                                   {"axis": axis})


def _stack_rule(i):
    return lambda g, ans, *xs, axis: _index_along(g, axis, i)


def _concatenate_rule(i):
    def rule(g, ans, *xs, axis):
        start = sum(np.shape(x)[axis] for x in xs[:i])
        return _index_along(g, axis, slice(start, start + np.shape(xs[i])[axis]))
    return rule


def _index_along(g, axis, index):
    return g[(slice(None),) * axis + (index,)]


def _variadic(name, rule_for):
    prim = Primitive(name, _join_impl(name), _emit_join(name))
    prim.rule_for = rule_for  # the operand count varies, so rules are made per operand
    return prim


stack_p = _variadic("stack", _stack_rule)
concatenate_p = _variadic("concatenate", _concatenate_rule)


def _batch_join(prim):
    def rule(args, batched, out_shape, axis):
        size = next(np.shape(a)[0] for a, b in zip(args, batched) if b)
        xs = [a if b else np.broadcast_to(a, (size,) + np.shape(a)) for a, b in zip(args, batched)]
        return prim.bind(*xs, axis=batch_axis(axis, len(out_shape)))
    return rule


defbatch(stack_p, _batch_join(stack_p))
defbatch(concatenate_p, _batch_join(concatenate_p))


# --- tile, repeat, roll --------------------------------------------------------------------
def _emit_tile(args, reps):
    return call(np_attr("tile"), [args[0], py_literal(reps[0] if len(reps) == 1 else reps)])


def _tile_vjp(g, ans, x, reps):
    # g, seen as (r0, d0, r1, d1, ...), summed over the repetitions
    shape = np.shape(x)
    padded = (1,) * (len(reps) - len(shape)) + shape
    split = tuple(n for r, d in zip(reps, padded) for n in (r, d))
    return np.reshape(np.sum(np.reshape(g, split), axis=tuple(range(0, len(split), 2))), shape)


tile_p = Primitive("tile", lambda x, reps: np.tile(x, reps), _emit_tile)
defvjp(tile_p, _tile_vjp)


def _emit_repeat(args, repeats, axis):
    return call(np_attr("repeat"), [args[0], py_literal(repeats)], {} if axis is None else {"axis": axis})


def _repeat_vjp(g, ans, x, repeats, axis):
    shape = np.shape(x)
    flat, axis = ((_size(x),), 0) if axis is None else (shape, axis)
    if isinstance(repeats, int):  # each entry's copies are adjacent: sum them
        grouped = np.reshape(g, flat[:axis + 1] + (repeats,) + flat[axis + 1:])
        return np.reshape(np.sum(grouped, axis=axis + 1), shape)
    source = np.repeat(np.arange(flat[axis]), repeats)  # which entry each output entry copies
    summed = scatter_add_p.bind(g, source, index=(slice(None),) * axis + (IndexOperand(1),), shape=flat,
                                dtype=x.dtype)
    return np.reshape(summed, shape)


repeat_p = Primitive("repeat", lambda x, repeats, axis: np.repeat(x, repeats, axis=axis), _emit_repeat)
defvjp(repeat_p, _repeat_vjp)


def _emit_roll(args, shift, axis):
    return call(np_attr("roll"), [args[0], py_literal(shift)], {} if axis is None else {"axis": axis})


def _negated(shift):
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


roll_p = Primitive("roll", lambda x, shift, axis: np.roll(x, shift, axis=axis), _emit_roll)
defvjp(roll_p, lambda g, ans, x, shift, axis: roll_p.bind(g, shift=_negated(shift), axis=axis))


def _batch_roll(args, batched, out_shape, shift, axis):
    x = args[0]
    if axis is None:  # a roll of the flattened entry
        flat = roll_p.bind(np.reshape(x, (np.shape(x)[0], -1)), shift=shift, axis=1)
        return np.reshape(flat, np.shape(x)[:1] + out_shape)
    return roll_p.bind(x, shift=shift, axis=batch_axis(axis, len(out_shape)))


defbatch(roll_p, _batch_roll)


# --- pad ---------------------------------------------------------------------------------------
_INDEX_PAD_MODES = ("edge", "reflect", "symmetric", "wrap")  # each output entry copies an input entry


def _pad_impl(x, pad_width, mode, **options):
    return np.pad(x, pad_width, mode=mode, **options)


def _emit_pad(args, pad_width, mode, **options):
    pairs = set(pad_width)
    width = pad_width
    if len(pairs) == 1:  # the same on every axis: ((1, 2),) or just 1
        (pair,) = pairs
        width = pair[0] if pair[0] == pair[1] else (pair,)
    keywords = ({} if mode == "constant" else {"mode": mode}) | options
    return call(np_attr("pad"), [args[0], py_literal(width)], keywords)


def _pad_vjp(g, ans, x, pad_width, mode, **options):
    shape = np.shape(x)
    if mode == "constant":
        return g[tuple(slice(before, before + n) for (before, _), n in zip(pad_width, shape))]
    # Padding is separable: along each axis, output entry j copies input entry source[j].
    out = g
    for axis, ((before, after), n) in enumerate(zip(pad_width, shape)):
        if before or after:
            source = np.pad(np.arange(n), (before, after), mode=mode)
            target = np.shape(out)[:axis] + (n,) + np.shape(out)[axis + 1:]
            out = scatter_add_p.bind(out, source, index=(slice(None),) * axis + (IndexOperand(1),),
                                     shape=target, dtype=x.dtype)
    return out


pad_p = Primitive("pad", _pad_impl, _emit_pad)
defvjp(pad_p, _pad_vjp)


# --- triangles and diagonals -------------------------------------------------------------------
def _triangle(name):
    fn = getattr(np, name)
    prim = Primitive(name, lambda x, k: fn(x, k),
                     lambda args, k: call(np_attr(name), [args[0]] + ([py_literal(k)] if k else [])))
    defvjp(prim, lambda g, ans, x, k: prim.bind(g, k=k))  # a mask: its own adjoint
    FUNCTIONS[fn] = lambda m, k=0: prim.bind(m, k=operator.index(k))
    # on a stack of matrices NumPy masks each (a 1-D input makes a matrix: entry by entry)
    defbatch(prim, lambda args, batched, out_shape, k: prim.bind(args[0], k=k) if len(out_shape) > 1 else None)
    return prim


triu_p = _triangle("triu")
tril_p = _triangle("tril")

diag_p = Primitive("diag", lambda v, k: np.diag(v, k),
                   lambda args, k: call(np_attr("diag"), args, {"k": k} if k else {}))
defvjp(diag_p, lambda g, ans, v, k: diagonal_p.bind(g, offset=k, axis1=0, axis2=1))


def _emit_diagonal(args, offset, axis1, axis2):
    keywords = {"offset": offset} if offset else {}
    if (axis1, axis2) != (0, 1):
        keywords.update(axis1=axis1, axis2=axis2)
    return call(np_attr("diagonal"), args, keywords)


def _diagonal_vjp(g, ans, x, offset, axis1, axis2):
    shape = np.shape(x)
    length = np.shape(g)[-1]
    if len(shape) == 2 and shape[0] == shape[1] and length:  # np.diag builds exactly this matrix
        out = diag_p.bind(g, k=offset)
        return out if axis1 < axis2 else np.transpose(out)
    # Otherwise write g into zeros: with axis1, axis2 moved last, at [..., rows, cols].
    perm = [i for i in range(len(shape)) if i not in (axis1, axis2)] + [axis1, axis2]
    rows = arange(max(-offset, 0), max(-offset, 0) + length, like=(g,))
    cols = arange(max(offset, 0), max(offset, 0) + length, like=(g,))
    moved = scatter_add_p.bind(g, rows, cols, index=(Ellipsis, IndexOperand(1), IndexOperand(2)),
                               shape=tuple(shape[i] for i in perm), dtype=x.dtype)
    return np.transpose(moved, tuple(np.argsort(perm).tolist()))


# NumPy returns a read-only view; to the tracer the diagonal is a new value (a later write to x
# is not seen through it; writing to it is an error in NumPy anyway).
diagonal_p = Primitive("diagonal", lambda x, offset, axis1, axis2: np.diagonal(x, offset, axis1, axis2),
                       _emit_diagonal)
defvjp(diagonal_p, _diagonal_vjp)
diagonal_p.read_only = True  # but in the generated code it is a view: see shares_first_operand
defbatch(diagonal_p, lambda args, batched, out_shape, offset, axis1, axis2: diagonal_p.bind(
    args[0], offset=offset, axis1=batch_axis(axis1, np.ndim(args[0]) - 1),
    axis2=batch_axis(axis2, np.ndim(args[0]) - 1)))


def _batch_diag(args, batched, out_shape, k):
    v = args[0]
    if np.ndim(v) == 3:  # np.diag of a matrix: its diagonal
        return diagonal_p.bind(v, offset=k, axis1=1, axis2=2)
    # of a vector: written into zeros at [batch, row, column] along the k-th diagonal
    size, length = np.shape(v)
    rows = arange(max(-k, 0), max(-k, 0) + length, like=(v,))
    cols = arange(max(k, 0), max(k, 0) + length, like=(v,))
    return scatter_add_p.bind(v, rows, cols, index=(slice(None), IndexOperand(1), IndexOperand(2)),
                              shape=(size,) + out_shape, dtype=v.dtype, accumulate=False)


defbatch(diag_p, _batch_diag)


# --- NumPy functions --------------------------------------------------------------------------

def _memory_order(order, a, function: str, allowed: str = "CFA") -> str:
    if order is None:
        order = "C"
    if order not in allowed:
        raise ValueError(f"{function}: order must be one of {', '.join(repr(o) for o in allowed)}, got {order!r}")
    if order in "AK":
        if np.ndim(a) <= 1:
            return "C"
        raise NotImplementedError(
            f"{function}: order={order!r} depends on the memory layout of the array, which tracing "
            "does not see; say order='C' or order='F'")
    return order


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("np.reshape() missing required argument 'shape'")
    order = _memory_order(order, a, "np.reshape")
    shape = _resolve_shape(shape, _size(a), "np.reshape")
    if order == "F" and (np.ndim(a) > 1 or len(shape) > 1):
        # Fortran order is C order on the reversed axes
        out = _transpose(_reshape(_transpose(a), shape[::-1]))
    else:
        out = a if shape == np.shape(a) else reshape_p.bind(a, shape=shape)
    return copy_p.bind(out) if copy else out


def _transpose(a, axes=None):
    ndim = np.ndim(a)
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    else:
        axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
        if len(axes) != ndim:
            raise ValueError(f"np.transpose: axes {axes} don't match an array of dimension {ndim}")
        axes = _normalize_axes(axes, ndim, "np.transpose")
    return a if axes == tuple(range(ndim)) else transpose_p.bind(a, axes=axes)


def _swapaxes(a, axis1, axis2):
    ndim = np.ndim(a)
    perm = list(range(ndim))
    axis1, axis2 = _normalize_axis(axis1, ndim, "np.swapaxes"), _normalize_axis(axis2, ndim, "np.swapaxes")
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return _transpose(a, perm)


def _moveaxis(a, source, destination):
    ndim = np.ndim(a)
    source = _normalize_axes(source, ndim, "np.moveaxis")
    destination = _normalize_axes(destination, ndim, "np.moveaxis")
    if len(source) != len(destination):
        raise ValueError("np.moveaxis: `source` and `destination` arguments must have the same number of elements")
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _transpose(a, order)


def _broadcast_to(array, shape, subok=False):
    shape = (operator.index(shape),) if isinstance(shape, (int, np.integer)) else tuple(operator.index(s) for s in shape)
    return array if np.shape(array) == shape else broadcast_to_p.bind(array, shape=shape)


def _broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    return tuple(_broadcast_to(a, shape) for a in args)


def _ravel(a, order="C"):
    return _reshape(a, (-1,), _memory_order(order, a, "np.ravel", "CFAK"))


def _squeeze(a, axis=None):
    shape = np.shape(a)
    if axis is None:
        axes = [i for i, n in enumerate(shape) if n == 1]
    else:
        axes = _normalize_axes(axis, len(shape), "np.squeeze")
        if any(shape[i] != 1 for i in axes):
            raise ValueError("np.squeeze: cannot select an axis to squeeze out which has size not equal to one")
    return _reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


def _expand_dims(a, axis):
    shape = np.shape(a)
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    axes = _normalize_axes(axis, len(shape) + count, "np.expand_dims")
    rest = iter(shape)
    return _reshape(a, tuple(1 if i in axes else next(rest) for i in range(len(shape) + count)))


_ATLEAST = {  # ndmin -> {ndim: new shape}
    1: {0: lambda s: (1,)},
    2: {0: lambda s: (1, 1), 1: lambda s: (1,) + s},
    3: {0: lambda s: (1, 1, 1), 1: lambda s: (1,) + s + (1,), 2: lambda s: s + (1,)},
}


def _atleast(ndmin):
    def one(a):
        shape = np.shape(a)
        if len(shape) >= ndmin:
            return a if isinstance(a, Tracer) else np.asarray(a)
        return _reshape(a if isinstance(a, Tracer) else np.asarray(a), _ATLEAST[ndmin][len(shape)](shape))

    def handler(*arys):
        out = tuple(one(a) for a in arys)
        return out[0] if len(out) == 1 else out

    return handler


_atleast_1d, _atleast_2d, _atleast_3d = _atleast(1), _atleast(2), _atleast(3)


def _cast(a, dtype, casting, function):
    if dtype is None:
        return a
    dtype = np.dtype(dtype)
    if not np.can_cast(a.dtype if hasattr(a, "dtype") else np.result_type(a), dtype, casting):
        raise TypeError(f"{function}: cannot cast array data to {dtype} according to the rule {casting!r}")
    return a.astype(dtype) if isinstance(a, Tracer) else np.asarray(a, dtype=dtype)


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise TypeError("np.concatenate: out= is not supported on traced values")
    arrays = [_cast(a, dtype, casting, "np.concatenate") for a in arrays]
    if axis is None:
        arrays, axis = [np.ravel(a) for a in arrays], 0
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    ndim = np.ndim(arrays[0])
    if ndim == 0:
        raise ValueError("np.concatenate: zero-dimensional arrays cannot be concatenated")
    return concatenate_p.bind(*arrays, axis=_normalize_axis(axis, ndim, "np.concatenate"))


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise TypeError("np.stack: out= is not supported on traced values")
    arrays = [_cast(a, dtype, casting, "np.stack") for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    if len({np.shape(a) for a in arrays}) != 1:
        raise ValueError("np.stack: all input arrays must have the same shape")
    return stack_p.bind(*arrays, axis=_normalize_axis(axis, np.ndim(arrays[0]) + 1, "np.stack"))


def _hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [_atleast_1d(a) for a in tup]
    axis = 0 if arrays and np.ndim(arrays[0]) == 1 else 1
    return _concatenate(arrays, axis, dtype=dtype, casting=casting)


def _vstack(tup, *, dtype=None, casting="same_kind"):
    return _concatenate([_atleast_2d(a) for a in tup], 0, dtype=dtype, casting=casting)


def _dstack(tup):
    return _concatenate([_atleast_3d(a) for a in tup], 2)


def _column_stack(tup):
    arrays = [a if np.ndim(a) >= 2 else _reshape(a if isinstance(a, Tracer) else np.asarray(a), (_size(a), 1))
              for a in tup]
    return _concatenate(arrays, 1)


def _array_split(ary, indices_or_sections, axis=0, *, equal=False, function="np.array_split"):
    axis = _normalize_axis(axis, np.ndim(ary), function)
    total = np.shape(ary)[axis]
    try:
        points = [0] + [operator.index(i) for i in indices_or_sections] + [total]
    except TypeError:  # a number of sections
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.") from None
        if equal and total % sections:
            raise ValueError("array split does not result in an equal division") from None
        each, extra = divmod(total, sections)
        sizes = [0] + extra * [each + 1] + (sections - extra) * [each]
        points = np.cumsum(sizes).tolist()
    return [_index_along(ary, axis, slice(start, stop)) for start, stop in zip(points[:-1], points[1:])]


def _split(ary, indices_or_sections, axis=0):
    return _array_split(ary, indices_or_sections, axis, equal=True, function="np.split")


def _split_along(name, min_ndim, axis_of):
    def handler(ary, indices_or_sections):
        if np.ndim(ary) < min_ndim:
            raise ValueError(f"{name} only works on arrays of {min_ndim} or more dimensions")
        return _array_split(ary, indices_or_sections, axis_of(np.ndim(ary)), equal=True, function=f"np.{name}")
    return handler


def _tile(A, reps):
    reps = tuple(operator.index(r) for r in (reps if np.ndim(reps) else (reps,)))
    reps = (1,) * (np.ndim(A) - len(reps)) + reps
    return tile_p.bind(A, reps=reps)


def _static_ints(value):
    """An int or a tuple of ints from an int-like or array-like (a traced one is guarded)."""
    if isinstance(value, Tracer):
        value = value.tolist()
    array = np.asarray(value)
    if array.dtype.kind not in "iub":
        raise TypeError(f"expected integers, got {array.dtype}")
    return int(array.reshape(-1)[0]) if array.size == 1 else tuple(int(v) for v in array.reshape(-1))


def _repeat(a, repeats, axis=None):
    repeats = _static_ints(repeats)
    if min(repeats if isinstance(repeats, tuple) else (repeats,), default=0) < 0:
        raise ValueError("np.repeat: repeats may not contain negative values")
    ndim = np.ndim(a)
    if axis is not None:
        axis = _normalize_axis(axis, max(ndim, 1), "np.repeat")
    # NumPy sees a 0-d array as 1-D: along axis 0 (or -1) is along the flattened array
    return repeat_p.bind(a, repeats=repeats, axis=axis if ndim else None)


def _flip(m, axis=None):
    ndim = np.ndim(m)
    axes = range(ndim) if axis is None else _normalize_axes(axis, ndim, "np.flip")
    return getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim)) or ...)


def _fliplr(m):
    if np.ndim(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return _flip(m, 1)


def _flipud(m):
    if np.ndim(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return _flip(m, 0)


def _roll(a, shift, axis=None):
    shift = _static_ints(shift)
    if axis is None:  # NumPy rolls the flattened array by the total shift
        return roll_p.bind(a, shift=sum(shift) if isinstance(shift, tuple) else shift, axis=None)
    ndim = np.ndim(a)
    shifts: dict = {}
    for s, ax in np.broadcast(shift, axis):  # NumPy adds up the shifts given for one axis
        ax = _normalize_axis(int(ax), ndim, "np.roll")
        shifts[ax] = shifts.get(ax, 0) + int(s)
    if len(shifts) == 1:
        ((ax, s),) = shifts.items()
        return roll_p.bind(a, shift=s, axis=ax)
    return roll_p.bind(a, shift=tuple(shifts.values()), axis=tuple(shifts))


def _rot90(m, k=1, axes=(0, 1)):
    axes = tuple(axes)
    ndim = np.ndim(m)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    if ndim < 2:
        raise ValueError("np.rot90: the array must have at least 2 dimensions")
    a0, a1 = _normalize_axis(axes[0], ndim, "np.rot90"), _normalize_axis(axes[1], ndim, "np.rot90")
    if a0 == a1:
        raise ValueError("Axes must be different.")
    k = operator.index(k) % 4
    if k == 0:
        return getitem(m, ...)
    if k == 2:
        return _flip(m, (a0, a1))
    perm = list(range(ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return _transpose(_flip(m, a1), perm)
    return _flip(_transpose(m, perm), a1)


def _pad(array, pad_width, mode="constant", **kwargs):
    if not isinstance(mode, str):
        raise NotImplementedError("np.pad with a function as mode is not supported on traced values")
    ndim = np.ndim(array)
    width = np.asarray(pad_width.tolist() if isinstance(pad_width, Tracer) else pad_width)
    if width.dtype.kind not in "iu":
        raise TypeError("`pad_width` must be of integral type.")
    width = tuple((int(b), int(a)) for b, a in np.broadcast_to(width, (ndim, 2)))
    if any(v < 0 for pair in width for v in pair):
        raise ValueError("index can't contain negative values")
    if ndim == 0:  # nothing to pad: NumPy returns a copy (a 0-d array, also of a Python float)
        return copy_p.bind(array)
    options = {}
    if mode == "constant":
        values = kwargs.pop("constant_values", 0)
        if isinstance(values, Tracer):
            raise NotImplementedError(
                "np.pad: a traced constant_values is not supported; pad with 0 and add "
                "value * np.pad(np.zeros_like(x), ..., constant_values=1)")
        if np.ndim(values):
            values = tuple(tuple(pair) for pair in np.broadcast_to(values, (ndim, 2)).tolist())
        if np.any(np.asarray(values) != 0):
            options["constant_values"] = values.item() if isinstance(values, np.generic) else values
    elif mode in _INDEX_PAD_MODES:
        if mode in ("reflect", "symmetric") and kwargs.pop("reflect_type", "even") != "even":
            raise NotImplementedError("np.pad: reflect_type='odd' is not supported on traced values")
    else:
        raise NotImplementedError(
            f"np.pad(mode={mode!r}) is not supported on traced values; the supported modes are "
            f"'constant', {', '.join(repr(m) for m in _INDEX_PAD_MODES)}")
    if kwargs:
        raise TypeError(f"np.pad: unsupported keyword arguments {sorted(kwargs)} for mode={mode!r}")
    return pad_p.bind(array, pad_width=width, mode=mode, **options)


def _diagonal(a, offset=0, axis1=0, axis2=1):
    ndim = np.ndim(a)
    if ndim < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    axis1, axis2 = _normalize_axis(axis1, ndim, "np.diagonal"), _normalize_axis(axis2, ndim, "np.diagonal")
    if axis1 == axis2:
        raise ValueError("axis1 and axis2 cannot be the same")
    return diagonal_p.bind(a, offset=operator.index(offset), axis1=axis1, axis2=axis2)


def _diag(v, k=0):
    ndim = np.ndim(v)
    if ndim == 1:
        return diag_p.bind(v, k=operator.index(k))
    if ndim == 2:
        return _diagonal(v, k)
    raise ValueError("Input must be 1- or 2-d.")


def _diagflat(v, k=0):
    return diag_p.bind(_ravel(v), k=operator.index(k))


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise TypeError("np.trace: out= is not supported on traced values")
    total = np.sum(_diagonal(a, offset, axis1, axis2), axis=-1)
    return total if dtype is None else total.astype(dtype)


def _select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    for i, c in enumerate(condlist):
        if (c.dtype if hasattr(c, "dtype") else np.asarray(c).dtype).kind != "b":
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    result = default  # the first condition that holds wins: apply them from the last
    for condition, choice in zip(reversed(condlist), reversed(choicelist)):
        result = np.where(condition, choice, result)
    return result


def _copy(a, order="K", subok=False):
    return copy_p.bind(a)


def _astype(x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype) if isinstance(x, Tracer) else np.asarray(x, dtype=dtype)


# --- arrays shaped like a traced one (their values carry no gradient) --------------------------
def _like_params(a, dtype, shape):
    params = {}
    if dtype is not None:
        params["dtype"] = np.dtype(dtype)
    if shape is not None:
        params["shape"] = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(operator.index(s) for s in shape)
    return params


full_like_p = Primitive("full_like", lambda a, fill_value, **p: np.full_like(a, fill_value, **p), differentiable=False)
empty_like_p = Primitive("empty_like", lambda a, **p: np.empty_like(a, **p), differentiable=False)


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    params = _like_params(a, dtype, shape)
    if isinstance(fill_value, Tracer):  # the fill value's gradient flows: a broadcast copy of it
        dtype = params.get("dtype", a.dtype if hasattr(a, "dtype") else np.result_type(a))
        filled = fill_value if fill_value.dtype == dtype else fill_value.astype(dtype)
        return copy_p.bind(_broadcast_to(filled, params.get("shape", np.shape(a))))
    if isinstance(fill_value, np.ndarray):
        fill_value = fill_value.tolist()
    return full_like_p.bind(a, fill_value=fill_value, **params)


def _empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return empty_like_p.bind(prototype, **_like_params(prototype, dtype, shape))


_NOT_A_VIEW = ("a new array rather than NumPy's read-only view: a later write to the input is not "
               "seen through it")
_LAYOUT = "order='A' and 'K' depend on memory layout and are refused for arrays of 2 or more dimensions"
diagonal_p.caveat = _NOT_A_VIEW
pad_p.caveat = "modes 'constant', 'edge', 'reflect', 'symmetric', 'wrap'; constant_values must be constant"


def _shape(a):
    return a.shape


def _ndim(a):
    return a.ndim


def _dtype_query(test):
    """np.iscomplexobj and np.isrealobj: questions about the dtype, answered while tracing."""
    return lambda x: test(x.dtype.kind if hasattr(x, "dtype") else np.result_type(x).kind)


def _size_of(a, axis=None):
    return a.size if axis is None else a.shape[axis]


def _array(a):
    """``a`` as an array when it is a list or tuple; traced values and numbers as they are (a Python
    number stays weak in NumPy's promotion)."""
    return a if isinstance(a, (Tracer, int, float, complex)) else np.asanyarray(a)


def _dtype_of(a) -> np.dtype:
    return a.dtype if hasattr(a, "dtype") else np.result_type(a)


# --- differences, grids and ramps: slices, subtraction and broadcasting ------------------------
def _diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"np.diff: order must be non-negative but got {n}")
    a = _array(a)
    ndim = np.ndim(a)
    if ndim == 0:
        raise ValueError("np.diff: diff requires input that is at least one dimensional")
    axis = _normalize_axis(axis, ndim, "np.diff")
    if n == 0:
        return a
    parts = []
    for part in (prepend, a, append):
        if part is np._NoValue:
            continue
        part = _array(part)
        if np.ndim(part) == 0:  # a number: one slice along the axis
            part = _broadcast_to(part, np.shape(a)[:axis] + (1,) + np.shape(a)[axis + 1:])
        parts.append(part)
    a = _concatenate(parts, axis) if len(parts) > 1 else a
    difference = np.not_equal if _dtype_of(a) == np.bool_ else np.subtract  # as NumPy, for booleans
    for _ in range(n):
        a = difference(_index_along(a, axis, slice(1, None)), _index_along(a, axis, slice(None, -1)))
    return a


def _unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    p = _array(p)
    axis = _normalize_axis(axis, np.ndim(p), "np.unwrap")
    dd = _diff(p, axis=axis)
    discont = period / 2 if discont is None else discont
    dtype = np.result_type(_dtype_of(dd), period)
    if np.issubdtype(dtype, np.integer):
        high, rest = divmod(period, 2)
        ambiguous = rest == 0
    else:
        high, ambiguous = period / 2, True
    wrapped = np.mod(dd + high, period) - high  # each jump brought into [-period/2, period/2)
    if ambiguous:  # a jump of exactly half a period keeps its sign, as NumPy
        wrapped = np.where((wrapped == -high) & (dd > 0), high, wrapped)
    correction = np.where(np.abs(dd) < discont, 0, wrapped - dd)
    p = p if _dtype_of(p) == dtype else p.astype(dtype)
    tail = _index_along(p, axis, slice(1, None)) + np.cumsum(correction, axis=axis)
    tail = tail if _dtype_of(tail) == dtype else tail.astype(dtype)
    return _concatenate([_index_along(p, axis, slice(0, 1)), tail], axis)


def _ediff1d(ary, to_end=None, to_begin=None):
    flat = _ravel(_array(ary))
    dtype = _dtype_of(flat)

    def extra(v):
        v = _ravel(_array(v))
        if not np.can_cast(_dtype_of(v), dtype, casting="same_kind"):
            raise TypeError(f"np.ediff1d: dtype of `to_begin` or `to_end` must be compatible with the "
                            f"input's {dtype}")
        return v if _dtype_of(v) == dtype else v.astype(dtype)

    parts = [extra(to_begin)] if to_begin is not None else []
    parts.append(flat[1:] - flat[:-1])
    parts += [extra(to_end)] if to_end is not None else []
    return _concatenate(parts, 0) if len(parts) > 1 else parts[0]


def _append(arr, values, axis=None):
    arr, values = _array(arr), _array(values)
    if axis is None:
        return _concatenate([_ravel(arr), _ravel(values)], 0)
    return _concatenate([arr, values], axis)


def _rollaxis(a, axis, start=0):
    ndim = np.ndim(a)
    axis = _normalize_axis(axis, ndim, "np.rollaxis")
    start = operator.index(start)
    if start < 0:
        start += ndim
    if not 0 <= start <= ndim:
        raise np.exceptions.AxisError(f"np.rollaxis: 'start' arg requires {-ndim} <= start < {ndim + 1}")
    if axis < start:  # the axis is removed before it is inserted
        start -= 1
    if axis == start:
        return getitem(a, ...)
    order = [i for i in range(ndim) if i != axis]
    order.insert(start, axis)
    return _transpose(a, order)


def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("np.meshgrid: valid values for `indexing` are 'xy' and 'ij'")
    ndim = len(xi)
    axes = list(range(ndim))
    if indexing == "xy" and ndim > 1:  # the first two axes swapped: x varies along columns
        axes[0], axes[1] = 1, 0
    grids = [_reshape(_array(x), tuple(-1 if i == axis else 1 for i in range(ndim))) for x, axis in zip(xi, axes)]
    if not sparse:
        grids = _broadcast_arrays(*grids)
    return tuple(copy_p.bind(g) for g in grids) if copy else tuple(grids)


def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"np.linspace: number of samples, {num}, must be non-negative")
    div = num - 1 if endpoint else num
    start, stop = _array(start), _array(stop)
    inexact = np.result_type(*map(_static_dtype, (start, stop)), float(num))  # (float32 stays float32)
    delta = stop - start
    if _dtype_of(delta) != inexact:
        delta = delta.astype(inexact)
    # np.arange(num), as a column over delta's axes, in the result's dtype
    ramp = arange(0, num, 0, 1 + np.ndim(delta), like=(start, stop)).astype(inexact)
    # NumPy scales by delta / div, except where that step is 0 (then by delta after dividing by
    # div, for denormal deltas): the same values but for denormals, without a guard on the values.
    step = delta / div if div > 0 else np.nan
    y = (ramp * step if div > 0 else ramp * delta) + start
    if endpoint and num > 1:
        y[-1] = stop  # exactly stop, as NumPy
    y = _moveaxis(y, 0, axis) if axis != 0 else y
    if dtype is not None and np.issubdtype(dtype, np.integer):
        y = np.floor(y)
    if dtype is not None and np.dtype(dtype) != _dtype_of(y):
        y = y.astype(dtype)
    return (y, step) if retstep else y


def _logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    if np.ndim(base):  # an array of bases broadcasts with the ends, before the new axis goes in
        ndim = max(np.ndim(start), np.ndim(stop), np.ndim(base))
        start, stop, base = (_reshape(_array(v), (1,) * (ndim - np.ndim(v)) + np.shape(v)) for v in (start, stop, base))
        base = _expand_dims(base, axis)
    out = np.power(base, _linspace(start, stop, num=num, endpoint=endpoint, axis=axis))
    return out if dtype is None else out.astype(dtype)


def _gradient(f, *varargs, axis=None, edge_order=1):
    f = _array(f)
    ndim = np.ndim(f)
    axes = tuple(range(ndim)) if axis is None else _normalize_axes(axis, ndim, "np.gradient")
    if edge_order not in (1, 2):
        raise ValueError(f"np.gradient: edge_order must be 1 or 2, got {edge_order!r}")
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = [_spacing(d, np.shape(f)[ax]) for d, ax in zip(varargs, axes)]
    else:
        raise TypeError(f"np.gradient: give one spacing, or one per axis ({len(axes)}), not {len(varargs)}")
    dtype = _dtype_of(f) if _dtype_of(f).kind in "fc" else np.dtype(np.float64)
    f = f if _dtype_of(f) == dtype else f.astype(dtype)
    out = []
    for ax, dx in zip(axes, spacings):
        derivative = _gradient_along(f, ax, dx, edge_order)
        out.append(derivative if _dtype_of(derivative) == dtype else derivative.astype(dtype))
    return out[0] if len(axes) == 1 else tuple(out)


def _spacing(distances, n: int):
    """A scalar spacing, or the differences of coordinates along an axis of length ``n``."""
    if np.ndim(distances) == 0:
        return distances
    x = _array(distances)
    if np.ndim(x) != 1:
        raise ValueError("np.gradient: distances must be either scalars or 1d")
    if np.shape(x)[0] != n:
        raise ValueError("np.gradient: when 1d, distances must match the length of the corresponding dimension")
    if _dtype_of(x).kind in "iub":
        x = x.astype(np.float64)
    dx = _diff(x)
    # Evenly spaced coordinates take NumPy's scalar formulas (a decision on values: guarded when
    # traced). Not when they carry a gradient: its derivative is the uneven formulas' everywhere.
    if not getattr(dx, "requires_grad", False) and np.all(dx == dx[0]):
        return dx[0]
    return dx


def _gradient_along(f, axis, dx, edge_order):
    ndim = np.ndim(f)
    if np.shape(f)[axis] < edge_order + 1:
        raise ValueError("np.gradient: shape of array too small to calculate a numerical gradient, at least "
                         "(edge_order + 1) elements are required")

    def at(start, stop=None):
        return _index_along(f, axis, slice(start, stop))

    def along(v):  # spacing terms lie along the axis
        return _reshape(v, tuple(-1 if i == axis else 1 for i in range(ndim))) if np.ndim(v) else v

    if np.ndim(dx) == 0:
        interior = (at(2) - at(None, -2)) / (2.0 * dx)
    else:
        dx1, dx2 = dx[:-1], dx[1:]
        a, b, c = -dx2 / (dx1 * (dx1 + dx2)), (dx2 - dx1) / (dx1 * dx2), dx1 / (dx2 * (dx1 + dx2))
        interior = along(a) * at(None, -2) + along(b) * at(1, -1) + along(c) * at(2)
    if edge_order == 1:
        first = (at(1, 2) - at(0, 1)) / (dx if np.ndim(dx) == 0 else dx[0])
        last = (at(-1) - at(-2, -1)) / (dx if np.ndim(dx) == 0 else dx[-1])
    else:  # one-sided second-order differences
        if np.ndim(dx) == 0:
            a, b, c = -1.5 / dx, 2.0 / dx, -0.5 / dx
        else:
            dx1, dx2 = dx[0], dx[1]
            a = -(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2))
            b, c = (dx1 + dx2) / (dx1 * dx2), -dx1 / (dx2 * (dx1 + dx2))
        first = a * at(0, 1) + b * at(1, 2) + c * at(2, 3)
        if np.ndim(dx) == 0:
            a, b, c = 0.5 / dx, -2.0 / dx, 1.5 / dx
        else:
            dx1, dx2 = dx[-2], dx[-1]
            a, b = dx2 / (dx1 * (dx1 + dx2)), -(dx2 + dx1) / (dx1 * dx2)
            c = (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2))
        last = a * at(-3, -2) + b * at(-2, -1) + c * at(-1)
    return _concatenate([first, interior, last], axis)


def _vander(x, N=None, increasing=False):
    x = _array(x)
    if np.ndim(x) != 1:
        raise ValueError("np.vander: x must be a one-dimensional array or sequence")
    n = np.shape(x)[0]
    N = n if N is None else operator.index(N)
    dtype = np.promote_types(_dtype_of(x), int)  # as NumPy (float32 becomes float64)
    x = x if _dtype_of(x) == dtype else x.astype(dtype)
    # x ** k as NumPy computes it: a running product of x, after a column of ones
    columns = [np.ones((n, min(N, 1)), dtype)]
    if N > 1:
        columns.append(np.cumprod(_broadcast_to(_reshape(x, (n, 1)), (n, N - 1)), axis=1))
    powers = _concatenate(columns, 1)
    return powers if increasing else _flip(powers, 1)


def _apply_along_axis(func1d, axis, arr, *args, **kwargs):
    arr = _array(arr)
    ndim = np.ndim(arr)
    axis = _normalize_axis(axis, ndim, "np.apply_along_axis")
    outer = np.shape(arr)[:axis] + np.shape(arr)[axis + 1:]
    if 0 in outer:
        raise ValueError("np.apply_along_axis: cannot apply_along_axis when any iteration dimensions are 0")
    lanes = _moveaxis(arr, axis, -1)
    results = [func1d(lanes[index], *args, **kwargs) for index in np.ndindex(*outer)]  # one call per lane
    stacked = _reshape(_stack([_array(r) for r in results]), outer + np.shape(results[0]))
    # the result's own axes take the place of the axis
    extra = np.ndim(results[0])
    order = list(range(axis)) + list(range(len(outer), len(outer) + extra)) + list(range(axis, len(outer)))
    return _transpose(stacked, order)


def _geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    start, stop = _array(start) * 1.0, _array(stop) * 1.0
    dt = np.result_type(*(_static_dtype(v) for v in (start, stop)), float(num), np.zeros((), dtype))
    if np.any(start == 0) or np.any(stop == 0):  # (traced ends: a guarded decision)
        raise ValueError("np.geomspace: geometric sequence cannot include zero")
    start, stop = (v if _dtype_of(v) == dt else v.astype(dt) for v in (start, stop))
    # as NumPy: the start is rotated to the positive reals (np.sign(z) is z / |z| for complex z),
    # the powers taken, and the rotation undone
    sign = np.sign(start)
    start, stop = start / sign, stop / sign
    result = _logspace(np.log10(start), np.log10(stop), num=num, endpoint=endpoint, base=10.0, dtype=dt)
    if num > 0:  # the ends exactly (10 ** log10(x) need not be x)
        result[0] = start
    if num > 1 and endpoint:
        result[-1] = stop
    result = result * sign
    result = _moveaxis(result, 0, axis) if axis != 0 else result
    return result if dtype is None or np.dtype(dtype) == _dtype_of(result) else result.astype(dtype)


def _block(arrays):
    def depth(item, where="arrays"):
        if isinstance(item, tuple):
            raise TypeError(f"np.block: {where} is a tuple; only lists can be used to arrange blocks")
        if not isinstance(item, list):
            return 0
        if not item:
            raise ValueError(f"np.block: {where} is empty; lists cannot be empty")
        depths = {depth(part, f"{where}[{i}]") for i, part in enumerate(item)}
        if len(depths) != 1:
            raise ValueError(f"np.block: list depths are mismatched in {where}")
        return depths.pop() + 1

    def leaves(item):
        return [leaf for part in item for leaf in leaves(part)] if isinstance(item, list) else [item]

    levels = depth(arrays)
    ndim = max([levels] + [np.ndim(leaf) for leaf in leaves(arrays)])

    def assemble(item, level):  # the innermost lists join along the last axis, the next along the one before
        if isinstance(item, list):
            return _concatenate([assemble(part, level + 1) for part in item], axis=level - levels)
        leaf = _array(item)
        return _reshape(leaf, (1,) * (ndim - np.ndim(leaf)) + np.shape(leaf)) if np.ndim(leaf) < ndim else leaf

    return assemble(arrays, 0) if levels else copy_p.bind(_array(arrays))


def _unstack(x, /, *, axis=0):
    axis = _normalize_axis(axis, np.ndim(x), "np.unstack")
    return tuple(_index_along(x, axis, i) for i in range(np.shape(x)[axis]))


def _resize(a, new_shape):
    new_shape = (new_shape,) if isinstance(new_shape, (int, np.integer)) else tuple(new_shape)
    if any(n < 0 for n in new_shape):
        raise ValueError("np.resize: all elements of `new_shape` must be non-negative")
    flat = _ravel(_array(a))
    size, new_size = _size(flat), int(np.prod(new_shape, dtype=np.int64))
    if new_size == 0 or size == 0:
        return np.zeros(new_shape, _dtype_of(flat))
    repeats = -(-new_size // size)  # the entries again and again, cut to the new size
    return _reshape(getitem(_concatenate([flat] * repeats, 0), slice(None, new_size)), new_shape)


def _apply_over_axes(func, a, axes):
    a = _array(a)
    for axis in (axes,) if np.ndim(axes) == 0 else axes:
        axis = _normalize_axis(axis, np.ndim(a), "np.apply_over_axes")
        result = func(a, axis)
        if np.ndim(result) != np.ndim(a):
            result = _expand_dims(result, axis)
            if np.ndim(result) != np.ndim(a):
                raise ValueError("np.apply_over_axes: function is not returning an array of the correct shape")
        a = result
    return a


# --- questions about dtypes: answered while tracing (dtypes are part of what a trace is for) ---
def _static_dtype(a):
    """What NumPy's dtype rules see of ``a``: a traced Python number stays weak, arrays give their dtype."""
    if isinstance(a, Tracer):
        return a._value if isinstance(a._value, (bool, int, float, complex)) else a.dtype
    return a


def _result_type(*arrays_and_dtypes):
    return np.result_type(*map(_static_dtype, arrays_and_dtypes))


def _can_cast(from_, to, casting="safe"):
    return np.can_cast(from_.dtype if isinstance(from_, Tracer) else from_, to, casting)


def _common_type(*arrays):
    return np.common_type(*(np.empty(0, a.dtype) if isinstance(a, Tracer) else a for a in arrays))


FUNCTIONS.update({
    np.reshape: _meta(_reshape, caveat=_LAYOUT), np.transpose: _transpose, np.swapaxes: _swapaxes,
    np.moveaxis: _moveaxis, np.broadcast_to: _broadcast_to, np.broadcast_arrays: _broadcast_arrays,
    np.ravel: _meta(_ravel, caveat=_LAYOUT), np.squeeze: _squeeze, np.expand_dims: _expand_dims,
    np.copy: _copy, np.astype: _meta(_astype, caveat="casts to float types are differentiable, to int and bool not"),
    np.atleast_1d: _atleast_1d, np.atleast_2d: _atleast_2d, np.atleast_3d: _atleast_3d,
    np.concatenate: _concatenate, np.stack: _stack, np.hstack: _hstack, np.vstack: _vstack,
    np.dstack: _dstack, np.column_stack: _column_stack,
    np.split: _split, np.array_split: _array_split,
    np.hsplit: _split_along("hsplit", 1, lambda ndim: 1 if ndim > 1 else 0),
    np.vsplit: _split_along("vsplit", 2, lambda ndim: 0),
    np.dsplit: _split_along("dsplit", 3, lambda ndim: 2),
    np.tile: _tile, np.repeat: _meta(_repeat, caveat="repeats must be constant (computed ones are guarded)"),
    np.roll: _roll, np.flip: _flip, np.fliplr: _fliplr, np.flipud: _flipud, np.rot90: _rot90,
    np.pad: _meta(_pad, caveat=pad_p.caveat),
    np.diag: _meta(_diag, caveat="of a 2-D array: " + _NOT_A_VIEW), np.diagonal: _meta(_diagonal, caveat=_NOT_A_VIEW),
    np.diagflat: _diagflat, np.trace: _trace,
    np.select: _select, np.full_like: _meta(_full_like, caveat="differentiable in a traced fill_value"),
    np.empty_like: _meta(_empty_like, differentiable=False),
    np.shape: _meta(_shape, differentiable=False), np.ndim: _meta(_ndim, differentiable=False),
    np.size: _meta(_size_of, differentiable=False),
    np.iscomplexobj: _meta(_dtype_query(lambda kind: kind == "c"), differentiable=False),
    np.isrealobj: _meta(_dtype_query(lambda kind: kind != "c"), differentiable=False),
    np.result_type: _meta(_result_type, differentiable=False), np.can_cast: _meta(_can_cast, differentiable=False),
    np.common_type: _meta(_common_type, differentiable=False),
    np.diff: _diff, np.ediff1d: _ediff1d, np.append: _append, np.rollaxis: _rollaxis, np.meshgrid: _meshgrid,
    np.unwrap: _meta(_unwrap, caveat="the gradient passes through (the corrections are constants)"),
    np.vander: _vander, np.apply_over_axes: _apply_over_axes, np.block: _block, np.unstack: _meta(_unstack),
    np.resize: _resize, np.geomspace: _meta(_geomspace, caveat="differentiable in start and stop"),
    np.apply_along_axis: _meta(_apply_along_axis, caveat="func1d runs once per lane while tracing: the "
                                                         "generated code has one block per lane"),
    np.linspace: _meta(_linspace, caveat="differentiable in start and stop; a step of 0 is not special-cased "
                                          "(NumPy's values differ for denormal steps only)"),
    np.logspace: _meta(_logspace, caveat="differentiable in start, stop and base"),
    np.gradient: _meta(_gradient, caveat="differentiable in f and in traced spacings; traced coordinates "
                                         "always take the uneven-spacing formulas"),
})
