"""Reductions over axes, each beside its VJP rule."""
from __future__ import annotations

import numpy as np

from .core import FUNCTIONS, Primitive, defvjp


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
    if not keepdims:
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
    from .core import call, np_attr

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
