"""Reductions over axes, each beside its VJP rule."""
from __future__ import annotations

import numpy as np

from .core import FUNCTIONS, Primitive, call, defvjp, np_attr


def normalize_axis(axis, ndim: int, function: str):
    """``axis`` as a sorted tuple of non-negative ints, or None for all axes."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"{function}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{function}: duplicate value in axis {axis!r}")
    return tuple(sorted(out))


def _reduced_axes(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def _expand_back(g, x, axis, keepdims):
    """Broadcast a reduction's cotangent back over the reduced axes of ``x``."""
    if not keepdims and np.ndim(g):  # a 0-d cotangent broadcasts as it is
        axes = _reduced_axes(x, axis)
        g = np.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return np.broadcast_to(g, x.shape)


def _count(x, axis) -> int:
    return int(np.prod([x.shape[i] for i in _reduced_axes(x, axis)], dtype=np.int64))


def _emit_axis_params(params):
    axis = params["axis"]
    out = {}
    if axis is not None:
        out["axis"] = axis[0] if len(axis) == 1 else axis
    if params["keepdims"]:
        out["keepdims"] = True
    return out


def _reduction(name, impl, rule):
    prim = Primitive(name, impl, lambda args, **p: call(np_attr(name), args, _emit_axis_params(p)))
    defvjp(prim, rule)
    return prim


sum_p = _reduction(
    "sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    lambda g, ans, x, axis, keepdims: _expand_back(g, x, axis, keepdims),
)
mean_p = _reduction(
    "mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    lambda g, ans, x, axis, keepdims: _expand_back(g / _count(x, axis), x, axis, keepdims),
)


def _reducer(prim, numpy_function):
    def handler(a, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
        if out is not None or dtype is not None or unsupported:
            given = [k for k, v in {"out": out, "dtype": dtype, **unsupported}.items() if v is not None]
            raise TypeError(f"np.{numpy_function.__name__}: {given} not supported on traced values")
        ndim = np.ndim(a) if not hasattr(a, "ndim") else a.ndim
        return prim.bind(a, axis=normalize_axis(axis, ndim, f"np.{numpy_function.__name__}"),
                         keepdims=bool(keepdims))

    FUNCTIONS[numpy_function] = handler


_reducer(sum_p, np.sum)
_reducer(mean_p, np.mean)


def _extremum_vjp(g, ans, x, axis, keepdims):
    # The cotangent goes to the elements equal to the extremum, split evenly among ties
    # (the rule np.maximum follows too), so max(x) of [1, 3, 3] sends g/2 to each 3.
    if not keepdims:
        axes = _reduced_axes(x, axis)
        keep_shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        ans, g = np.reshape(ans, keep_shape), np.reshape(g, keep_shape)
    winners = x == ans
    return np.where(winners, g / np.sum(winners, axis=axis, keepdims=True), 0.0)


max_p = _reduction("max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), _extremum_vjp)
min_p = _reduction("min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims), _extremum_vjp)
_reducer(max_p, np.max)
_reducer(min_p, np.min)


def _index_reduction(name):
    prim = Primitive(name, getattr(np, name), differentiable=False)

    def handler(a, axis=None, out=None, *, keepdims=False):
        if out is not None:
            raise TypeError(f"np.{name}: out= is not supported on traced values")
        params = {"axis": None if axis is None else int(axis) % max(np.ndim(a), 1)}
        if keepdims:
            params["keepdims"] = True
        return prim.bind(a, **params)

    FUNCTIONS[getattr(np, name)] = handler


for _name in ("argmax", "argmin"):
    _index_reduction(_name)


def _boolean_reduction(name):
    prim = Primitive(name, getattr(np, name),
                     lambda args, **p: call(np_attr(name), args, _emit_axis_params(p)), differentiable=False)

    def handler(a, axis=None, out=None, keepdims=False, **unsupported):
        if out is not None or unsupported:
            raise TypeError(f"np.{name}: out= and other keywords are not supported on traced values")
        return prim.bind(a, axis=normalize_axis(axis, np.ndim(a) if not hasattr(a, "ndim") else a.ndim,
                                                 f"np.{name}"), keepdims=bool(keepdims))

    FUNCTIONS[getattr(np, name)] = handler


for _name in ("any", "all"):
    _boolean_reduction(_name)
