"""Rule cases for indexing: every form of ``x[index]``, ``x[index] = v`` and ``x[index] += v``
(computed and repeated index arrays, masks, None, Ellipsis, negative steps, 0-d results), take,
take_along_axis, put_along_axis, sort, and the index-valued helpers used inside gradient paths
(argsort, nonzero, argwhere, flatnonzero, np.where(cond), searchsorted, unique, count_nonzero),
whose outputs carry no gradient."""
from __future__ import annotations

import numpy as np

from . import Case, _add, _set

ROWS = np.array([True, False, True])
PAIRS = np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]])  # take_along_axis with repeats, axis=1 of (3, 4)


def _away_from_integers(r, *shape):
    """Values k + 0.25: finite differences never cross the jumps of casts and searchsorted."""
    return np.round(r(*shape)) + 0.25


def _written(write):
    """Write into a copy of x (so every entry still matters), then read it non-linearly."""
    def fun(x, v, *rest):
        # Finite differences perturb v in float64; written into a float32 x the step would round away.
        x = x.astype(np.result_type(x.dtype, getattr(v, "dtype", x.dtype))).copy()
        write(x, v, *rest)
        return x * x
    return fun


def _pairs(x):
    return np.argsort(x[0]) // 2  # a computed index with repeats: 0, 0, 1, 1 in some order


def _set_computed(x, v):
    x[np.argsort(x[:, 0])[:2]] = v


def _set_computed_repeated(x, v):
    x[_pairs(x)] = v


def _add_computed_repeated(x, v):
    x[_pairs(x)] += v


def _set_argmax(x, v):
    x[np.argmax(x[:, 0])] = v


def _set_traced_list(x, v):
    x[[np.argmax(x[:, 0]), 0]] = v  # may name row 0 twice: still exact


def _set_mask_scaled(x, v):
    mask = x > 0.5
    x[mask] = x[mask] * v


def _add_argument_index(x, v, idx):
    x[idx] += v


def _put(indices, axis):
    def write(x, v):
        np.put_along_axis(x, indices(x) if callable(indices) else indices, v, axis)
    return write


def _group_means(x):
    labels = (x > 0).astype(np.int64)
    groups, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return np.stack([np.sum(np.where(inverse == k, x, 0.0)) / counts[k] for k in range(len(groups))])


def _searchsorted(x):
    return x * np.searchsorted(np.array([-1.0, 0.0, 1.0]), x)


def _argwhere_gather(x):
    where = np.argwhere(x > 0.5)
    return x[where[:, 0], where[:, 1]] ** 2


CASES = [
    # reads: computed integer index arrays, repeated entries add up in the gradient
    Case("getitem", "x[argsort] (computed index array)", lambda x: x[np.argsort(x[:, 0])] * np.arange(4), lambda r: (r(3, 4),)),
    Case("getitem", "x[computed repeated index]", lambda x: x[_pairs(x)] * np.arange(16).reshape(4, 4), lambda r: (r(3, 4),)),
    Case("getitem", "x[[computed, 0, computed]]", lambda x: x[[np.argmax(x[:, 0]), 0, np.argmin(x[:, 1])]] ** 2,
         lambda r: (r(3, 4),)),
    Case("getitem", "x[argmax] (computed 0-d index)", lambda x: x[np.argmax(x[:, 0])] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x[idx], idx an argument", lambda x, idx: x[idx] * np.arange(4), lambda r: (r(3, 4), np.array([2, 0, 2, 2]))),
    # reads: the other index forms
    Case("getitem", "x[True]", lambda x: x[True] * np.arange(4), lambda r: (r(3, 4),)),
    Case("getitem", "x[..., None, ::-2]", lambda x: x[..., None, ::-2] ** 2, lambda r: (r(2, 3, 4),)),
    Case("getitem", "x[None, 1:, [0, 2, 0]]", lambda x: x[None, 1:, [0, 2, 0]] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "arrays split by a slice", lambda x: x[[0, 1], :, [1, 1]] * np.arange(3), lambda r: (r(2, 3, 4),)),
    Case("getitem", "x[1, 2] (0-d result)", lambda x: x[1, 2] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x[np.array(1)] (0-d index array)", lambda x: x[np.array(1)] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x[(0, 2), ...] (tuple inside the index)", lambda x: x[(0, 2), ...] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x[::-1, -1:0:-2] (negative steps)", lambda x: x[::-1, -1:0:-2] * np.arange(2), lambda r: (r(3, 4),)),
    Case("getitem", "x[computed row mask, 1:]", lambda x: x[x[:, 0] > 0, 1:] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x[mask, [0, 3]]", lambda x: x[ROWS, [0, 3]] ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x[[]] (empty)", lambda x: x[[]] ** 2, lambda r: (r(3, 4),)),
    # writes: computed and repeated indices (the overwritten writes get no gradient)
    Case("setitem", "x[computed] = v", _written(_set_computed), lambda r: (r(3, 4), r(2, 4)), (0, 1)),
    Case("setitem", "x[computed repeated] = v", _written(_set_computed_repeated), lambda r: (r(3, 4), r(4, 4)), (0, 1)),
    Case("setitem", "x[computed repeated] += v", _written(_add_computed_repeated), lambda r: (r(3, 4), r(4, 4)), (0, 1)),
    Case("setitem", "x[argmax] = v", _written(_set_argmax), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[[computed, 0]] = v", _written(_set_traced_list), lambda r: (r(3, 4), r(2, 4)), (0, 1)),
    Case("setitem", "x[[0, 2, 0]] = v (last write wins)", _written(_set([0, 2, 0])), lambda r: (r(3, 4), r(3, 4)), (0, 1)),
    Case("setitem", "x[[0, -3]] = v (one row, twice)", _written(_set([0, -3])), lambda r: (r(3, 4), r(2, 4)), (0, 1)),
    Case("setitem", "x[[1, 1]] += v, v broadcast", _written(_add([1, 1])), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[..., [1, 1]] += v", _written(_add((Ellipsis, [1, 1]))), lambda r: (r(3, 4), r(3, 2)), (0, 1)),
    Case("setitem", "x[idx] += v, idx an argument", _written(_add_argument_index),
         lambda r: (r(3, 4), r(5, 4), np.array([0, 2, 0, 1, 2])), (0, 1)),
    # writes: the other index forms
    Case("setitem", "x[True] = v", _written(_set(True)), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[1, 2] = v (0-d)", _written(_set((1, 2))), lambda r: (r(3, 4), r()), (0, 1)),
    Case("setitem", "x[None, 1:, [0, 2]] = v", _written(_set((None, slice(1, None), [0, 2]))),
         lambda r: (r(3, 4), r(1, 2, 2)), (0, 1)),
    Case("setitem", "x[::-2, ::-1] += v", _written(_add((slice(None, None, -2), slice(None, None, -1)))),
         lambda r: (r(3, 4), r(2, 4)), (0, 1)),
    Case("setitem", "x[mask] = x[mask] * v (computed mask)", _written(_set_mask_scaled), lambda r: (r(3, 4), r()), (0, 1)),
    # writes that broadcast v: NumPy drops v's leading 1s the slot does not have (issue 13)
    Case("setitem", "x[1] = v, v (1, 4)", _written(_set(1)), lambda r: (r(3, 4), r(1, 4)), (0, 1)),
    Case("setitem", "x[:2] = v, v (1, 1, 4)", _written(_set(slice(None, 2))), lambda r: (r(3, 4), r(1, 1, 4)), (0, 1)),
    Case("setitem", "x[:, 1] = v, v (1, 1)", _written(_set((slice(None), 1))), lambda r: (r(3, 4), r(1, 1)), (0, 1)),
    Case("setitem", "x[[0, 2]] = v, v (1, 2, 1)", _written(_set([0, 2])), lambda r: (r(3, 4), r(1, 2, 1)), (0, 1)),
    Case("setitem", "x[[0, 2, 0]] = v, v (1, 3, 4)", _written(_set([0, 2, 0])), lambda r: (r(3, 4), r(1, 3, 4)),
         (0, 1)),
    Case("setitem", "x[:, :2] += v, v (2,)", _written(_add((slice(None), slice(None, 2)))), lambda r: (r(3, 4), r(2)),
         (0, 1)),
    # take
    Case("getitem", "np.take axis=None", lambda x: np.take(x, [5, 0, 5, 11]) ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "np.take one index, axis=1", lambda x: np.take(x, 2, axis=1) ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "np.take repeated, axis=-2", lambda x: np.take(x, [0, 2, 0], axis=-2) * np.arange(4), lambda r: (r(3, 4),)),
    Case("getitem", "np.take mode='wrap'", lambda x: np.take(x, [-4, 5, 7], axis=1, mode="wrap") ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "np.take mode='clip'", lambda x: np.take(x, [-4, 1, 9], axis=0, mode="clip") ** 2, lambda r: (r(3, 4),)),
    Case("getitem", "x.take computed indices", lambda x: x.take(np.argsort(x[:, 0]), axis=0) * np.arange(4), lambda r: (r(3, 4),)),
    # take_along_axis / put_along_axis / sort
    Case("take_along_axis", "np.take_along_axis argsort", lambda x: np.take_along_axis(x, np.argsort(x, axis=1), axis=1)
         * np.arange(4), lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.take_along_axis axis=0, broadcast indices",
         lambda x: np.take_along_axis(x, np.array([[2, 0, 0, 1]]), axis=0) ** 2, lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.take_along_axis repeated", lambda x: np.take_along_axis(x, PAIRS, axis=-1) ** 2,
         lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.take_along_axis axis=None", lambda x: np.take_along_axis(x, np.array([11, 0, 0]), axis=None) ** 2,
         lambda r: (r(3, 4),)),
    Case("setitem", "np.put_along_axis", _written(_put(np.array([[0, 2], [1, 3], [3, 0]]), 1)),
         lambda r: (r(3, 4), r(3, 2)), (0, 1)),
    Case("setitem", "np.put_along_axis repeated", _written(_put(PAIRS, 1)), lambda r: (r(3, 4), r(3, 3)), (0, 1)),
    Case("setitem", "np.put_along_axis computed, axis=0", _written(_put(lambda x: np.argsort(x, axis=0)[:1], 0)),
         lambda r: (r(3, 4), r(1, 4)), (0, 1)),
    Case("setitem", "np.put_along_axis axis=None", _written(_put(np.array([1, 7]), None)), lambda r: (r(3, 4), r()), (0, 1)),
    Case("take_along_axis", "np.sort", lambda x: np.sort(x) * np.arange(4), lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.sort axis=0", lambda x: np.sort(x, axis=0) * np.arange(3)[:, None], lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.sort axis=None", lambda x: np.sort(x, axis=None) * np.arange(12), lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.sort stable, descending", lambda x: -np.sort(-x, kind="stable") * np.arange(5), lambda r: (r(5),)),
    Case("take_along_axis", "top-2 of each row", lambda x: np.sum(np.sort(x, axis=-1)[..., -2:], axis=-1) ** 2,
         lambda r: (r(3, 4),)),
    Case("argsort", "np.argsort reorders rows", lambda x: x[np.argsort(x[:, 0], kind="stable")] * np.arange(4),
         lambda r: (r(3, 4),)),
    Case("argsort", "x.argsort(axis=0)", lambda x: np.take_along_axis(x, x.argsort(axis=0), 0) * np.arange(3)[:, None],
         lambda r: (r(3, 4),)),
    # index-valued helpers inside gradient paths (no gradient through them; sizes guarded)
    Case("argwhere", "x[np.nonzero(x > 0.5)]", lambda x: x[np.nonzero(x > 0.5)] ** 2, lambda r: (r(3, 4),)),
    Case("argwhere", "x[x.nonzero()]", lambda x: x[x.nonzero()] ** 2, lambda r: (r(3, 4),)),
    Case("argwhere", "x[np.where(x > 0)] (one-argument where)", lambda x: x[np.where(x > 0)] ** 2, lambda r: (r(3, 4),)),
    Case("argwhere", "np.argwhere gather", _argwhere_gather, lambda r: (r(3, 4),)),
    Case("flatnonzero", "np.flatnonzero", lambda x: np.ravel(x)[np.flatnonzero(x < 0)] ** 2, lambda r: (r(3, 4),)),
    Case("count_nonzero", "np.count_nonzero axis=1 keepdims",
         lambda x: x * np.count_nonzero(x > 0, axis=1, keepdims=True), lambda r: (r(3, 4),)),
    Case("count_nonzero", "np.count_nonzero all", lambda x: x * np.count_nonzero(x > 0), lambda r: (r(3, 4),)),
    Case("searchsorted", "np.searchsorted", _searchsorted, lambda r: (_away_from_integers(r, 3, 4),)),
    Case("searchsorted", "x.searchsorted side='right'", lambda x: np.sort(x)[np.sort(x).searchsorted(0.3, side="right"):] ** 2,
         lambda r: (r(6),)),
    Case("unique", "np.unique (each value from its first occurrence)",
         lambda x: np.unique(np.concatenate([x, x[:2]])) * np.arange(4), lambda r: (r(4),)),
    Case("unique", "np.unique labels, inverse and counts", _group_means, lambda r: (_away_from_integers(r, 3, 4),)),
]
