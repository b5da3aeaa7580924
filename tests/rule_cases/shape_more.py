"""Rule cases for shape and assembly: every function of tracediff/primitives/shape.py (and the
functions composed from its primitives), with axis variants. The primitive named first is the
one the case exercises; the label starts with the NumPy function the user calls."""
from __future__ import annotations

import numpy as np

from . import Case

CONDITION = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])


def _select(x, y):
    return np.select([CONDITION, x > 0.5], [x, y * y], default=-1.0)


def _inplace_sort_rows(x):
    y = x * 1.0
    y.sort(axis=1)  # ndarray.sort: in place, returns None
    return y


CASES = [
    # reshape / ravel / flatten
    Case("reshape", "np.reshape (4, 3)", lambda x: np.reshape(x, (4, 3)), lambda r: (r(3, 4),)),
    Case("reshape", "x.reshape(2, -1)", lambda x: x.reshape(2, -1), lambda r: (r(3, 4),)),
    Case("reshape", "np.reshape -1 of 3-D", lambda x: np.reshape(x, -1) * np.arange(24), lambda r: (r(2, 3, 4),)),
    Case("reshape", "np.reshape order='F'", lambda x: np.reshape(x, (2, 6), order="F") * np.arange(12).reshape(2, 6),
         lambda r: (r(3, 4),)),
    Case("reshape", "x.reshape((2, 2, 3), order='F')", lambda x: x.reshape((2, 2, 3), order="F") ** 2, lambda r: (r(3, 4),)),
    Case("reshape", "np.reshape copy=True", lambda x: np.reshape(x, (6, 2), copy=True), lambda r: (r(3, 4),)),
    Case("reshape", "np.ravel", lambda x: np.ravel(x) * np.arange(12), lambda r: (r(3, 4),)),
    Case("reshape", "np.ravel order='F'", lambda x: np.ravel(x, order="F") * np.arange(12), lambda r: (r(3, 4),)),
    Case("reshape", "x.ravel()", lambda x: x.ravel() ** 2, lambda r: (r(2, 3),)),
    Case("reshape", "x.flatten()", lambda x: x.flatten() * np.arange(12), lambda r: (r(3, 4),)),
    Case("transpose", "x.flatten('F')", lambda x: x.flatten("F") * np.arange(12), lambda r: (r(3, 4),)),
    # squeeze / expand_dims
    Case("reshape", "np.squeeze", lambda x: np.squeeze(x) * np.arange(12).reshape(3, 4), lambda r: (r(1, 3, 1, 4),)),
    Case("reshape", "np.squeeze axis=-2", lambda x: np.squeeze(x, axis=-2) ** 2, lambda r: (r(1, 3, 1, 4),)),
    Case("reshape", "np.squeeze axis=(0, 2)", lambda x: np.squeeze(x, axis=(0, 2)) ** 2, lambda r: (r(1, 3, 1, 4),)),
    Case("reshape", "x.squeeze(0)", lambda x: x.squeeze(0) ** 2, lambda r: (r(1, 3),)),
    Case("reshape", "np.expand_dims axis=0", lambda x: np.expand_dims(x, 0) * np.ones((2, 1, 1)), lambda r: (r(3, 4),)),
    Case("reshape", "np.expand_dims axis=-1", lambda x: np.expand_dims(x, -1) ** 2, lambda r: (r(3, 4),)),
    Case("reshape", "np.expand_dims axis=(0, 2)", lambda x: np.expand_dims(x, (0, 2)) ** 2, lambda r: (r(3, 4),)),
    # transpose / swapaxes / moveaxis
    Case("transpose", "np.transpose 3-D", lambda x: np.transpose(x) * np.arange(4)[:, None, None], lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.transpose axes=(1, 0, 2)", lambda x: np.transpose(x, (1, 0, 2)) ** 2, lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.transpose negative axes", lambda x: np.transpose(x, [-1, 0, 1]) * np.arange(3), lambda r: (r(2, 3, 4),)),
    Case("transpose", "x.transpose(2, 0, 1)", lambda x: x.transpose(2, 0, 1) * np.arange(3), lambda r: (r(2, 3, 4),)),
    Case("transpose", "x.T @ x", lambda x: x.T @ np.sin(x), lambda r: (r(3, 2),)),
    Case("transpose", "np.swapaxes(x, 0, -1)", lambda x: np.swapaxes(x, 0, -1) * np.arange(2), lambda r: (r(2, 3, 4),)),
    Case("transpose", "x.swapaxes(1, 2)", lambda x: x.swapaxes(1, 2) ** 2, lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.moveaxis(x, 0, -1)", lambda x: np.moveaxis(x, 0, -1) * np.arange(2), lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.moveaxis sequences", lambda x: np.moveaxis(x, [0, 1], [-1, -2]) * np.arange(2), lambda r: (r(2, 3, 4),)),
    # broadcasting
    Case("broadcast_to", "np.broadcast_to row", lambda x: np.broadcast_to(x, (3, 4)) * np.arange(12).reshape(3, 4),
         lambda r: (r(4),)),
    Case("broadcast_to", "np.broadcast_to (3, 1) -> (2, 3, 4)", lambda x: np.broadcast_to(x, (2, 3, 4)) ** 2,
         lambda r: (r(3, 1),)),
    Case("broadcast_to", "np.broadcast_arrays", lambda x, y: np.prod(np.stack(np.broadcast_arrays(x, y)), axis=0),
         lambda r: (r(3, 1), r(4)), (0, 1)),
    # atleast_nd
    Case("reshape", "np.atleast_1d of 0-d", lambda x: np.atleast_1d(np.sum(x)) * np.ones(3), lambda r: (r(3),)),
    Case("reshape", "np.atleast_2d of 1-D", lambda x: np.atleast_2d(x).T * np.arange(4), lambda r: (r(3),)),
    Case("reshape", "np.atleast_3d of 2-D", lambda x: np.atleast_3d(x) * np.ones(2), lambda r: (r(3, 4),)),
    Case("reshape", "np.atleast_3d of 1-D, several", lambda x, y: np.concatenate(np.atleast_3d(x, y), axis=0),
         lambda r: (r(3), r(2, 3)), (0, 1)),
    Case("reshape", "np.atleast_2d of 0-d", lambda x: np.atleast_2d(np.sum(x ** 2)), lambda r: (r(2),)),
    # joining
    Case("concatenate", "np.concatenate axis=None", lambda x, y: np.concatenate([x, y], axis=None) ** 2,
         lambda r: (r(2, 3), r(4)), (0, 1)),
    Case("concatenate", "np.concatenate three, axis=-1", lambda x, y: np.concatenate([x, y, x * y], axis=-1),
         lambda r: (r(2, 3), r(2, 3)), (0, 1)),
    Case("concatenate", "np.concatenate with a constant", lambda x: np.concatenate([np.ones((1, 3)), x]) ** 2,
         lambda r: (r(2, 3),)),
    Case("stack", "np.stack axis=-1", lambda x, y: np.stack([x, y], axis=-1) ** 2, lambda r: (r(2, 3), r(2, 3)), (0, 1)),
    Case("stack", "np.stack axis=1", lambda x: np.stack([x, 2 * x, x ** 2], axis=1), lambda r: (r(2, 3),)),
    Case("concatenate", "np.hstack 1-D", lambda x, y: np.hstack([x, y]) ** 2, lambda r: (r(3), r(2)), (0, 1)),
    Case("concatenate", "np.hstack 2-D", lambda x, y: np.hstack((x, y)) ** 2, lambda r: (r(2, 3), r(2, 1)), (0, 1)),
    Case("concatenate", "np.vstack 1-D rows", lambda x, y: np.vstack([x, y]) ** 2, lambda r: (r(3), r(3)), (0, 1)),
    Case("concatenate", "np.vstack 2-D", lambda x, y: np.vstack([x, y]) ** 2, lambda r: (r(2, 3), r(1, 3)), (0, 1)),
    Case("concatenate", "np.dstack", lambda x, y: np.dstack([x, y]) ** 2, lambda r: (r(2, 3), r(2, 3)), (0, 1)),
    Case("concatenate", "np.column_stack 1-D and 2-D", lambda x, y: np.column_stack([x, y]) ** 2,
         lambda r: (r(3), r(3, 2)), (0, 1)),
    # splitting
    Case("getitem", "np.split 3 sections", lambda x: np.stack(np.split(x, 3))[::-1] ** 2 * np.arange(2), lambda r: (r(6, 2),)),
    Case("getitem", "np.split indices axis=-1",
         lambda x: sum(float(i + 1) * np.sum(p ** 2) for i, p in enumerate(np.split(x, [1, 3], axis=-1))),
         lambda r: (r(2, 5),)),
    Case("getitem", "np.array_split uneven",
         lambda x: np.concatenate([p * float(i + 1) for i, p in enumerate(np.array_split(x, 3))]) ** 2, lambda r: (r(7),)),
    Case("getitem", "np.hsplit", lambda x: np.hsplit(x, 2)[1] * np.hsplit(x, 2)[0], lambda r: (r(3, 4),)),
    Case("getitem", "np.vsplit", lambda x: np.vsplit(x, [1])[1] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "np.dsplit", lambda x: np.dsplit(x, 2)[0] * np.dsplit(x, 2)[1], lambda r: (r(2, 3, 4),)),
    # tile / repeat
    Case("tile", "np.tile int", lambda x: np.tile(x, 3) * np.arange(6), lambda r: (r(2, 2),)),
    Case("tile", "np.tile reps longer than ndim", lambda x: np.tile(x, (2, 1, 3)) * np.arange(9), lambda r: (r(2, 3),)),
    Case("tile", "np.tile reps shorter than ndim", lambda x: np.tile(x, 2) ** 2, lambda r: (r(2, 3),)),
    Case("tile", "np.tile of 0-d", lambda x: np.tile(np.sum(x), (2, 2)) * np.arange(4).reshape(2, 2), lambda r: (r(3),)),
    Case("repeat", "np.repeat int, axis=None", lambda x: np.repeat(x, 2) * np.arange(12), lambda r: (r(2, 3),)),
    Case("repeat", "np.repeat int, axis=1", lambda x: np.repeat(x, 3, axis=1) * np.arange(9), lambda r: (r(2, 3),)),
    Case("repeat", "np.repeat counts, axis=0", lambda x: np.repeat(x, [2, 0, 3], axis=0) * np.arange(5)[:, None],
         lambda r: (r(3, 2),)),
    Case("repeat", "x.repeat(2, axis=-1)", lambda x: x.repeat(2, axis=-1) ** 2, lambda r: (r(2, 3),)),
    Case("repeat", "np.repeat counts, axis=None", lambda x: np.repeat(x, [1, 2, 3, 1]) * np.arange(7), lambda r: (r(2, 2),)),
    # flips / rolls / rotations
    Case("getitem", "np.flip all axes", lambda x: np.flip(x) * np.arange(12).reshape(3, 4), lambda r: (r(3, 4),)),
    Case("getitem", "np.flip axis=1", lambda x: np.flip(x, 1) * np.arange(4), lambda r: (r(3, 4),)),
    Case("getitem", "np.flip axis=(0, -1)", lambda x: np.flip(x, (0, -1)) * np.arange(4), lambda r: (r(2, 3, 4),)),
    Case("getitem", "np.fliplr", lambda x: np.fliplr(x) * np.arange(4), lambda r: (r(3, 4),)),
    Case("getitem", "np.flipud", lambda x: np.flipud(x) * np.arange(3)[:, None], lambda r: (r(3, 4),)),
    Case("roll", "np.roll axis=None", lambda x: np.roll(x, 1) * np.arange(12).reshape(3, 4), lambda r: (r(3, 4),)),
    Case("roll", "np.roll -2 axis=1", lambda x: np.roll(x, -2, axis=1) * np.arange(4), lambda r: (r(3, 4),)),
    Case("roll", "np.roll (1, 2) axis=(0, 1)", lambda x: np.roll(x, (1, 2), axis=(0, 1)) * np.arange(4), lambda r: (r(3, 4),)),
    Case("roll", "np.roll (1, 1) axis=(-1, -1)", lambda x: np.roll(x, (1, 1), axis=(-1, -1)) * np.arange(4), lambda r: (r(3, 4),)),
    Case("roll", "np.roll larger than the axis", lambda x: np.roll(x, 7, axis=0) * np.arange(3)[:, None], lambda r: (r(3, 4),)),
    Case("transpose", "np.rot90", lambda x: np.rot90(x) * np.arange(3), lambda r: (r(3, 4),)),
    Case("getitem", "np.rot90 k=2", lambda x: np.rot90(x, 2) * np.arange(4), lambda r: (r(3, 4),)),
    Case("transpose", "np.rot90 k=-1", lambda x: np.rot90(x, -1) * np.arange(3), lambda r: (r(3, 4),)),
    Case("transpose", "np.rot90 axes=(1, 2)", lambda x: np.rot90(x, 3, axes=(1, 2)) * np.arange(3), lambda r: (r(2, 3, 4),)),
    # pad
    Case("pad", "np.pad constant 1", lambda x: np.pad(x, 1) * np.arange(30).reshape(5, 6), lambda r: (r(3, 4),)),
    Case("pad", "np.pad constant ((1, 2), (0, 3)), value 0.5", lambda x: np.pad(x, ((1, 2), (0, 3)), constant_values=0.5) ** 2,
         lambda r: (r(3, 4),)),
    Case("pad", "np.pad edge", lambda x: np.pad(x, (2, 1), mode="edge") * np.arange(7), lambda r: (r(4),)),
    Case("pad", "np.pad reflect, wider than the axis", lambda x: np.pad(x, ((4, 1), (1, 2)), mode="reflect") ** 2,
         lambda r: (r(3, 3),)),
    Case("pad", "np.pad symmetric", lambda x: np.pad(x, 2, mode="symmetric") * np.arange(7), lambda r: (r(3),)),
    Case("pad", "np.pad wrap", lambda x: np.pad(x, ((1, 4), (0, 0)), mode="wrap") ** 2, lambda r: (r(3, 2),)),
    # triangles and diagonals
    Case("triu", "np.triu", lambda x: np.triu(x) ** 2, lambda r: (r(4, 4),)),
    Case("triu", "np.triu k=1, batched", lambda x: np.triu(x, 1) ** 2, lambda r: (r(2, 3, 4),)),
    Case("triu", "np.triu of 1-D", lambda x: np.triu(x, -1) * np.arange(9).reshape(3, 3), lambda r: (r(3),)),
    Case("tril", "np.tril", lambda x: np.tril(x) ** 2, lambda r: (r(3, 4),)),
    Case("tril", "np.tril k=-1", lambda x: np.tril(x, k=-1) * np.arange(4), lambda r: (r(4, 4),)),
    Case("diag", "np.diag of 1-D", lambda x: np.diag(x) @ np.arange(9.0).reshape(3, 3), lambda r: (r(3),)),
    Case("diag", "np.diag k=2", lambda x: np.diag(x, 2) * np.arange(25).reshape(5, 5), lambda r: (r(3),)),
    Case("diag", "np.diag k=-1", lambda x: np.diag(x ** 2, k=-1), lambda r: (r(2),)),
    Case("diagonal", "np.diag of 2-D", lambda x: np.diag(x) ** 2, lambda r: (r(3, 3),)),
    Case("diagonal", "np.diag of 2-D, k=1, wide", lambda x: np.diag(x, 1) ** 2, lambda r: (r(3, 5),)),
    Case("diagonal", "np.diag of 2-D, k=-1, tall", lambda x: np.diag(x, -1) ** 2, lambda r: (r(4, 2),)),
    Case("diagonal", "np.diagonal", lambda x: np.diagonal(x) * np.arange(3), lambda r: (r(3, 3),)),
    Case("diagonal", "np.diagonal axes (1, 0), offset 1", lambda x: np.diagonal(x, 1, 1, 0) ** 2, lambda r: (r(3, 3),)),
    Case("diagonal", "np.diagonal 3-D axis1=2, axis2=0", lambda x: np.diagonal(x, offset=-1, axis1=2, axis2=0) ** 2,
         lambda r: (r(4, 2, 3),)),
    Case("diagonal", "x.diagonal()", lambda x: x.diagonal() ** 2, lambda r: (r(2, 3, 3),)),
    Case("diagonal", "np.trace", lambda x: np.trace(x) * np.trace(x ** 2), lambda r: (r(3, 3),)),
    Case("diagonal", "np.trace offset=1", lambda x: np.trace(x, 1) ** 2, lambda r: (r(3, 4),)),
    Case("diagonal", "np.trace axes (1, 2)", lambda x: np.trace(x, axis1=1, axis2=2) ** 2, lambda r: (r(2, 3, 3),)),
    Case("diagonal", "x.trace()", lambda x: x.trace() ** 2, lambda r: (r(4, 3),)),
    Case("diag", "np.diagflat", lambda x: np.diagflat(x) * np.arange(16).reshape(4, 4), lambda r: (r(2, 2),)),
    Case("diag", "np.diagflat k=1", lambda x: np.diagflat(x, 1) ** 2, lambda r: (r(3),)),
    # select, copy, astype, arrays shaped like x
    Case("where", "np.select", _select, lambda r: (r(3, 4), r(3, 4)), (0, 1)),
    Case("where", "np.select default array", lambda x: np.select([x < 0], [x ** 2], default=np.sin(x)), lambda r: (r(3, 4),)),
    Case("copy", "np.copy", lambda x: np.copy(x) * x, lambda r: (r(3, 4),)),
    Case("copy", "x.copy() then write", lambda x: (lambda y: (y.__setitem__(0, 1.0), y * x)[1])(x.copy()), lambda r: (r(3, 4),)),
    Case("astype", "np.astype float64", lambda x: np.astype(x, np.float64) ** 2, lambda r: (r(3, 4),)),
    Case("astype", "int cast carries no gradient", lambda x: x * x.astype(np.int64),
         lambda r: (np.round(r(3, 4)) + 0.25,)),  # away from the jumps of the cast
    Case("full_like", "np.full_like", lambda x: x * np.full_like(x, 2.5), lambda r: (r(3, 4),)),
    Case("full_like", "np.full_like dtype and shape", lambda x: x * np.full_like(x, 2, dtype=np.float32, shape=(2, 3, 4)),
         lambda r: (r(3, 4),)),
    Case("copy", "np.full_like traced fill value", lambda x: np.full_like(x, np.sum(x)) * x, lambda r: (r(3, 4),)),
    Case("empty_like", "np.empty_like filled by writes",
         lambda x: (lambda e: (e.__setitem__(Ellipsis, x * 2.0), e ** 2)[1])(np.empty_like(x)), lambda r: (r(3, 4),)),
    Case("take_along_axis", "x.sort() in place", _inplace_sort_rows, lambda r: (r(3, 4),)),
    # 0-d values (issue 13)
    Case("repeat", "np.repeat axis=0 of a 0-d value", lambda x: np.repeat(x * 2, 3, axis=0) * np.arange(3),
         lambda r: (r(),)),
    Case("copy", "np.pad of a 0-d value", lambda x: np.pad(x ** 2, 2), lambda r: (r(),)),
    Case("reshape", "np.transpose(x)[None, ..., None] of a 0-d value", lambda x: np.transpose(x)[None, ..., None] * x,
         lambda r: (r(),)),
]
