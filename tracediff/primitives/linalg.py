"""Products: matmul (``@``, ``np.matmul``) and ``np.dot`` for 1-D and 2-D operands."""
from __future__ import annotations

import ast

import numpy as np

from .core import FUNCTIONS, UFUNCS, Primitive, defvjp


def _swap_last(x):
    return x if x.ndim < 2 else np.swapaxes(x, -1, -2)


def _matmul_vjp_a(g, ans, a, b):
    if b.ndim == 1:
        return g * b if a.ndim == 1 else g[..., None] * b  # outer product over the last axis
    if a.ndim == 1:
        return (b @ g[..., None])[..., 0] if b.ndim > 2 else b @ g
    return g @ _swap_last(b)


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 1:
        return g * a if b.ndim == 1 else a[:, None] * g[..., None, :]
    if b.ndim == 1:
        return (_swap_last(a) @ g[..., None])[..., 0] if a.ndim > 2 else a.T @ g
    return _swap_last(a) @ g


matmul_p = Primitive("matmul", np.matmul, lambda args: ast.BinOp(left=args[0], op=ast.MatMult(), right=args[1]))
defvjp(matmul_p, _matmul_vjp_a, _matmul_vjp_b)
UFUNCS[np.matmul] = matmul_p


def _dot(a, b, out=None):
    if out is not None:
        raise TypeError("np.dot: out= is not supported on traced values")
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.multiply(a, b)
    if np.ndim(a) <= 2 and np.ndim(b) <= 2:
        return matmul_p.bind(a, b)
    raise NotImplementedError(
        "np.dot of arrays with more than 2 dimensions is not supported yet; use np.matmul or "
        "np.tensordot semantics via reshape + @"
    )


FUNCTIONS[np.dot] = _dot
