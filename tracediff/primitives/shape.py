"""Shape primitives: reshape, transpose, broadcast, stack, concatenate, each beside its VJP rule."""
from __future__ import annotations

import ast

import numpy as np

from .core import FUNCTIONS, Primitive, call, defvjp, np_attr, py_literal


def _resolve_shape(shape, size: int, function: str) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if shape.count(-1) == 1:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"{function}: cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise ValueError(f"{function}: cannot reshape array of size {size} into shape {shape}")
    return shape


def _emit_transpose(args, axes):
    if axes == tuple(reversed(range(len(axes)))):
        return ast.Attribute(value=args[0], attr="T")
    return call(np_attr("transpose"), args, {"axes": axes})


# Function forms (np.reshape, np.copy) rather than methods: a 0-d value may be a Python float.
reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape),
                      lambda args, shape: call(np_attr("reshape"), [args[0], py_literal(shape)]))
defvjp(reshape_p, lambda g, ans, x, shape: np.reshape(g, x.shape))
reshape_p.is_view = True

transpose_p = Primitive("transpose", lambda x, axes: np.transpose(x, axes), _emit_transpose)
defvjp(transpose_p, lambda g, ans, x, axes: np.transpose(g, tuple(np.argsort(axes).tolist())))
transpose_p.is_view = True

broadcast_to_p = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape))
defvjp(broadcast_to_p, lambda g, ans, x, shape: g)  # reverse mode sums g back to x's shape
broadcast_to_p.is_view = True

copy_p = Primitive("copy", np.copy, lambda args: call(np_attr("copy"), args))
defvjp(copy_p, lambda g, ans, x: g)


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
        start = sum(x.shape[axis] for x in xs[:i])
        return _index_along(g, axis, slice(start, start + xs[i].shape[axis]))
    return rule


def _index_along(g, axis, index):
    return g[(slice(None),) * axis + (index,)]


def _variadic(name, rule_for):
    prim = Primitive(name, _join_impl(name), _emit_join(name))
    prim.rule_for = rule_for  # the operand count varies, so rules are made per operand
    return prim


stack_p = _variadic("stack", _stack_rule)
concatenate_p = _variadic("concatenate", _concatenate_rule)


# --- NumPy functions --------------------------------------------------------------------------

def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise NotImplementedError("np.reshape: only order='C' is supported on traced values")
    shape = newshape if shape is None else shape
    shape = _resolve_shape(shape, int(np.prod(np.shape(a), dtype=np.int64)), "np.reshape")
    return a if shape == np.shape(a) else reshape_p.bind(a, shape=shape)


def _transpose(a, axes=None):
    ndim = np.ndim(a) if not hasattr(a, "ndim") else a.ndim
    axes = tuple(reversed(range(ndim))) if axes is None else tuple(int(x) % ndim for x in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"np.transpose: axes {axes} don't match an array of dimension {ndim}")
    return a if axes == tuple(range(ndim)) else transpose_p.bind(a, axes=axes)


def _swapaxes(a, axis1, axis2):
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return _transpose(a, perm)


def _broadcast_to(array, shape, subok=False):
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    return array if np.shape(array) == shape else broadcast_to_p.bind(array, shape=shape)


def _ravel(a, order="C"):
    return _reshape(a, (-1,), order)


def _squeeze(a, axis=None):
    shape = np.shape(a)
    axes = [i for i, n in enumerate(shape) if n == 1] if axis is None else \
        [ax % len(shape) for ax in (axis if isinstance(axis, tuple) else (axis,))]
    return _reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


def _expand_dims(a, axis):
    shape = list(np.shape(a))
    axes = sorted(ax % (len(shape) + len(axis if isinstance(axis, tuple) else (axis,)))
                  for ax in (axis if isinstance(axis, tuple) else (axis,)))
    for ax in axes:
        shape.insert(ax, 1)
    return _reshape(a, tuple(shape))


def _join(prim, function):
    def handler(arrays, axis=0, out=None, **unsupported):
        if out is not None or unsupported:
            raise TypeError(f"np.{function.__name__}: out= and other keywords are not supported on traced values")
        arrays = list(arrays)
        ndim = np.ndim(arrays[0]) + (1 if prim is stack_p else 0)
        return prim.bind(*arrays, axis=int(axis) % ndim)
    FUNCTIONS[function] = handler


def _copy(a, order="K", subok=False):
    return copy_p.bind(a)


FUNCTIONS.update({
    np.reshape: _reshape, np.transpose: _transpose, np.swapaxes: _swapaxes,
    np.broadcast_to: _broadcast_to, np.ravel: _ravel, np.squeeze: _squeeze,
    np.expand_dims: _expand_dims, np.copy: _copy,
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim, np.size: lambda a, axis=None: (
        a.size if axis is None else a.shape[axis]),
})
_join(stack_p, np.stack)
_join(concatenate_p, np.concatenate)
