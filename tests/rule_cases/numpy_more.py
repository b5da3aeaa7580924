"""Rule cases for NumPy functions composed of traced primitives (issue 14): differences and
ramps (diff, gradient, linspace, logspace), assembly (append, rollaxis, meshgrid), integrals and
statistics (trapezoid, cov, corrcoef), polynomials (polyval, polymul, polyder, polyint, polyadd,
polysub, polyfit), vander, apply_along_axis, unwrap, block, unstack, resize, geomspace,
nanmedian/nanquantile/nanpercentile, tensorinv, tensorsolve, vecdot/matvec/vecmat, partition, interp, bincount and histogram (weights),
delete, insert, compress, extract, choose, the in-place fill_diagonal, copyto, putmask, place and
put, ix_, apply_over_axes, poly, piecewise, trim_zeros, correlate/convolve, cond and
the np.linalg aliases. The primitive named is one the composition
records; the label starts with the NumPy function the user calls. Random values keep away from
the kinks (ties of partition, sample points of interp)."""
from __future__ import annotations

import numpy as np

from rule_cases import Case

XP = np.array([-2.5, -1.2, -0.3, 0.4, 1.1, 2.5])  # interp's sample points (constant)


LABELS = np.array([0, 2, 2, 5, 1])  # np.bincount's bins (constant)
MASK = np.array([[True, False, True, False], [False, False, True, True], [True, False, False, False]])
WEIGHTS = np.array([0.5, 2.0, 1.0, 1.5, 0.8])  # np.polyfit's (their gradient: tests/test_numpy_functions.py)


def _well_conditioned(x):
    return x + 3 * np.eye(x.shape[-1])


def _copied(x, v):
    y = x * 1.0
    np.copyto(y, v ** 2)  # in place, v broadcast
    return y


def _copied_where(x, v):
    y = x * 1.0
    np.copyto(y, v, where=MASK)
    return y


def _putmasked(x):
    y = x * 1.0
    np.putmask(y, MASK, x[0, :3] ** 2)  # (values of x's dtype: NumPy casts only safely here)
    return y


def _placed(x):
    y = x * 1.0
    np.place(y, MASK, x[1, :2] ** 2)
    return y


def _put_wrapped(x, v):
    y = x * 1.0
    np.put(y, [0, 13, 5], v, mode="wrap")
    return y


def _with_nans(x):
    mask = np.zeros(x.shape, bool)
    mask.flat[[1, 6, 7, 13]] = True  # row 1 has two, the last row none
    return np.where(mask, np.nan, x)


def _filled(x, v):
    y = x * 1.0
    np.fill_diagonal(y, v)  # in place
    return y


def _filled_wrapped(x, v):
    y = x * 1.0
    np.fill_diagonal(y, v, wrap=True)
    return y


CASES = [
    # np.diff / np.ediff1d
    Case("getitem", "np.diff", lambda x: np.diff(x), lambda r: (r(3, 4),)),
    Case("getitem", "np.diff n=2 axis=0", lambda x: np.diff(x, n=2, axis=0), lambda r: (r(4, 3),)),
    Case("getitem", "np.diff n=3 of 1-D", lambda x: np.diff(x, 3), lambda r: (r(6),)),
    Case("concatenate", "np.diff prepend number, append traced", lambda x, y: np.diff(x, axis=-1, prepend=0.5, append=y),
         lambda r: (r(3, 4), r(3, 1)), (0, 1)),
    Case("concatenate", "np.ediff1d to_begin, to_end", lambda x, y: np.ediff1d(x, to_begin=y, to_end=[1.0, 2.0]),
         lambda r: (r(2, 3), r(2)), (0, 1)),
    # np.append / np.rollaxis / np.meshgrid
    Case("concatenate", "np.append axis=None", lambda x, y: np.append(x, y), lambda r: (r(2, 3), r(4)), (0, 1)),
    Case("concatenate", "np.append axis=1", lambda x, y: np.append(x, y, axis=1), lambda r: (r(2, 3), r(2, 2)), (0, 1)),
    Case("concatenate", "np.append of a list", lambda x: np.append([1.0, 2.0], x), lambda r: (r(3),)),
    Case("transpose", "np.rollaxis(x, 2)", lambda x: np.rollaxis(x, 2) * np.arange(4)[:, None, None],
         lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.rollaxis(x, 0, 3)", lambda x: np.rollaxis(x, 0, 3) * np.arange(2), lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.rollaxis(x, -1, 1)", lambda x: np.rollaxis(x, -1, 1) ** 2, lambda r: (r(2, 3, 4),)),
    Case("broadcast_to", "np.meshgrid xy", lambda x, y: np.stack(np.meshgrid(x, y ** 2)) * np.arange(6).reshape(3, 2),
         lambda r: (r(2), r(3)), (0, 1)),
    Case("broadcast_to", "np.meshgrid ij, three", lambda x, y, z: np.meshgrid(x, y, z, indexing="ij")[1] * x[:, None, None],
         lambda r: (r(2), r(3), r(2)), (0, 1, 2)),
    Case("reshape", "np.meshgrid sparse", lambda x, y: np.meshgrid(x, y, sparse=True)[0] * np.meshgrid(x, y, sparse=True)[1],
         lambda r: (r(3), r(2)), (0, 1)),
    # np.linspace / np.logspace with traced ends
    Case("setitem", "np.linspace traced ends", lambda a, b: np.linspace(a, b, 5), lambda r: (r(), r()), (0, 1)),
    Case("setitem", "np.linspace array ends, axis=1", lambda a, b: np.linspace(a, b, 4, axis=1),
         lambda r: (r(3), r(3)), (0, 1)),
    Case("multiply", "np.linspace endpoint=False, constant stop", lambda a: np.linspace(a, 2.0, 4, endpoint=False),
         lambda r: (r(2),)),
    Case("multiply", "np.linspace retstep", lambda a, b: np.linspace(a, b, 6, retstep=True)[1] * np.linspace(a, b, 3),
         lambda r: (r(), r(2)), (0, 1)),
    Case("power", "np.logspace traced base", lambda a, b, base: np.logspace(a, b, 4, base=base ** 2 + 1),
         lambda r: (r(), r(), r()), (0, 1, 2)),
    Case("power", "np.logspace array base, axis=-1", lambda a, base: np.logspace(a, 1.0, 3, base=base ** 2 + 1, axis=-1),
         lambda r: (r(2), r(2)), (0, 1)),
    # np.gradient
    Case("concatenate", "np.gradient 1-D", lambda f: np.gradient(f), lambda r: (r(5),)),
    Case("concatenate", "np.gradient 2-D, both axes", lambda f: np.stack(np.gradient(f)), lambda r: (r(3, 4),)),
    Case("concatenate", "np.gradient spacing, axis=1, edge_order=2", lambda f: np.gradient(f, 0.5, axis=1, edge_order=2),
         lambda r: (r(3, 4),)),
    Case("concatenate", "np.gradient traced spacing per axis", lambda f, h: np.stack(np.gradient(f, h ** 2 + 1, 2.0)),
         lambda r: (r(3, 4), r()), (0, 1)),
    Case("concatenate", "np.gradient uneven coordinates", lambda f: np.gradient(f, np.array([0.0, 0.5, 1.5, 1.75, 3.0])),
         lambda r: (r(5),)),
    Case("concatenate", "np.gradient even coordinates, edge_order=2",
         lambda f: np.gradient(f, np.arange(4) * 0.5, axis=-1, edge_order=2), lambda r: (r(2, 4),)),
    Case("concatenate", "np.gradient traced coordinates, edge_order=2",
         lambda f, x: np.gradient(f, np.cumsum(x ** 2 + 0.5), edge_order=2), lambda r: (r(5), r(5)), (0, 1)),
    Case("concatenate", "np.gradient traced coordinates along axis 0",
         lambda f, x: np.gradient(f, np.cumsum(x ** 2 + 0.5), axis=0), lambda r: (r(4, 2), r(4)), (0, 1)),
    # np.trapezoid
    Case("sum", "np.trapezoid", lambda y: np.trapezoid(y), lambda r: (r(3, 4),)),
    Case("sum", "np.trapezoid dx, axis=0", lambda y: np.trapezoid(y, dx=0.3, axis=0), lambda r: (r(3, 4),)),
    Case("sum", "np.trapezoid traced 1-D x", lambda y, x: np.trapezoid(y, np.cumsum(x ** 2)), lambda r: (r(2, 4), r(4)),
         (0, 1)),
    Case("sum", "np.trapezoid traced x like y, axis=0", lambda y, x: np.trapezoid(y, np.cumsum(x ** 2, axis=0), axis=0),
         lambda r: (r(4, 3), r(4, 3)), (0, 1)),
    # np.polyval / np.polymul
    Case("multiply", "np.polyval p and x", lambda p, x: np.polyval(p, x), lambda r: (r(4), r(2, 3)), (0, 1)),
    Case("multiply", "np.polyval list with traced entries", lambda a, x: np.polyval([a, 2.0, a ** 2], x),
         lambda r: (r(), r(3)), (0, 1)),
    Case("multiply", "np.polyval constant p", lambda x: np.polyval([1.5, -2.0, 0.5, 1.0], x), lambda r: (r(4),)),
    Case("matmul", "np.polymul", lambda a, b: np.polymul(a, b), lambda r: (r(3), r(2)), (0, 1)),
    # np.cov / np.corrcoef
    Case("matmul", "np.cov", lambda m: np.cov(m), lambda r: (r(3, 5),)),
    Case("matmul", "np.cov rowvar=False, with y", lambda m, y: np.cov(m, y, rowvar=False), lambda r: (r(5, 2), r(5)),
         (0, 1)),
    Case("matmul", "np.cov bias, two 1-D", lambda m, y: np.cov(m, y, bias=True), lambda r: (r(4), r(4)), (0, 1)),
    Case("matmul", "np.cov fweights, traced aweights", lambda m, w: np.cov(m, fweights=[1, 2, 1, 3], aweights=w ** 2 + 1),
         lambda r: (r(2, 4), r(4)), (0, 1)),
    Case("clip", "np.corrcoef", lambda m: np.corrcoef(m), lambda r: (r(3, 5),)),
    Case("clip", "np.corrcoef x, y", lambda x, y: np.corrcoef(x, y), lambda r: (r(5), r(5)), (0, 1)),
    # np.partition
    Case("take_along_axis", "np.partition kth=1", lambda x: np.partition(x, 1), lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.partition kth pair, axis=0", lambda x: np.partition(x, (0, 2), axis=0),
         lambda r: (r(4, 3),)),
    Case("take_along_axis", "np.partition axis=None", lambda x: np.partition(x, -2, axis=None), lambda r: (r(3, 3),)),
    # np.interp
    Case("getitem", "np.interp traced x", lambda x: np.interp(x, XP, np.sin(XP)), lambda r: (r(3, 4),)),
    Case("getitem", "np.interp traced fp", lambda fp: np.interp(np.linspace(-3, 3, 9), XP, fp), lambda r: (r(6),)),
    Case("getitem", "np.interp x, fp, left, right", lambda x, fp, lo: np.interp(1.6 * x, XP, fp, left=lo, right=lo ** 2),
         lambda r: (r(7), r(6), r()), (0, 1, 2)),
    Case("getitem", "np.interp period", lambda x, fp: np.interp(x * 3, XP[:-1], fp, period=4.5), lambda r: (r(6), r(5)),
         (0, 1)),
    # np.correlate / np.convolve (both operands traced)
    Case("matmul", "np.correlate valid", lambda a, v: np.correlate(a, v), lambda r: (r(5), r(3)), (0, 1)),
    Case("matmul", "np.correlate full", lambda a, v: np.correlate(a, v, "full"), lambda r: (r(4), r(3)), (0, 1)),
    Case("matmul", "np.correlate same", lambda a, v: np.correlate(a, v, "same"), lambda r: (r(5), r(2)), (0, 1)),
    Case("matmul", "np.correlate same, v longer", lambda a, v: np.correlate(a, v, "same"), lambda r: (r(2), r(5)),
         (0, 1)),
    Case("matmul", "np.correlate valid, v longer", lambda a, v: np.correlate(a, v, "valid"), lambda r: (r(3), r(5)),
         (0, 1)),
    Case("matmul", "np.convolve full", lambda a, v: np.convolve(a, v), lambda r: (r(4), r(3)), (0, 1)),
    Case("matmul", "np.convolve same, v longer", lambda a, v: np.convolve(a, v, "same"), lambda r: (r(2), r(5)), (0, 1)),
    Case("matmul", "np.convolve valid", lambda a, v: np.convolve(a, v, mode="valid"), lambda r: (r(6), r(4)), (0, 1)),
    # counting, removing, inserting and choosing
    Case("scatter_add", "np.bincount traced weights", lambda w: np.bincount(LABELS, w), lambda r: (r(5),)),
    Case("scatter_add", "np.bincount weights, minlength", lambda w: np.bincount(LABELS, w ** 2, minlength=9),
         lambda r: (r(5),)),
    Case("scatter_add", "np.histogram traced weights", lambda x, w: np.histogram(x, bins=3, range=(-2, 2), weights=w)[0],
         lambda r: (r(6), r(6)), (1,)),
    Case("scatter_add", "np.histogram weights, density", lambda x, w: np.histogram(
        x, bins=[-2.0, -0.5, 0.5, 2.0], weights=w ** 2 + 1, density=True)[0], lambda r: (r(6), r(6)), (1,)),
    Case("getitem", "np.delete positions, axis=1", lambda x: np.delete(x, [0, 2], axis=1), lambda r: (r(3, 4),)),
    Case("getitem", "np.delete slice, flattened", lambda x: np.delete(x, slice(1, 9, 3)), lambda r: (r(3, 4),)),
    Case("concatenate", "np.insert one position, axis=1", lambda x, v: np.insert(x, 2, v, axis=1),
         lambda r: (r(3, 4), r(3)), (0, 1)),
    Case("concatenate", "np.insert positions, broadcast value", lambda x, v: np.insert(x, [1, 1, 3], v, axis=0),
         lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("concatenate", "np.insert flattened", lambda x, v: np.insert(x, [0, 5], v), lambda r: (r(2, 3), r(2)), (0, 1)),
    Case("getitem", "np.trim_zeros", lambda x: np.trim_zeros(np.concatenate([[0.0, 0.0], x ** 2 + 1, [0.0]])),
         lambda r: (r(3),)),
    Case("getitem", "np.compress", lambda x: np.compress([True, False, True], x, axis=0), lambda r: (r(3, 4),)),
    Case("getitem", "np.extract traced condition", lambda x: np.extract(x > 0, x), lambda r: (r(3, 4),)),
    Case("take_along_axis", "np.choose", lambda x, y: np.choose(np.array([[0, 1, 2, 1]] * 3), [x, y, 1.5]),
         lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("take_along_axis", "np.choose mode='clip'", lambda x, y: np.choose(np.array([-1, 3, 0, 1]), (x, y), mode="clip"),
         lambda r: (r(4), r(4)), (0, 1)),
    Case("setitem", "np.fill_diagonal traced values", _filled, lambda r: (r(3, 3), r(3)), (0, 1)),
    Case("setitem", "np.fill_diagonal tall, wrap", _filled_wrapped, lambda r: (r(7, 3), r()), (0, 1)),
    Case("setitem", "np.piecewise", lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: -v ** 2, np.sin]),
         lambda r: (r(3, 4),)),
    Case("setitem", "np.piecewise with otherwise", lambda x: np.piecewise(x, [x < -0.5], [np.cos, lambda v: v ** 3]),
         lambda r: (r(6),)),
    # polynomials, Vandermonde matrices, lanes, phases
    Case("multiply", "np.polyder m=2", lambda p: np.polyder(p, 2), lambda r: (r(5),)),
    Case("concatenate", "np.polyint m=2, traced k", lambda p, k: np.polyint(p, 2, k=k), lambda r: (r(4), r(2)), (0, 1)),
    Case("add", "np.polyadd", lambda a, b: np.polyadd(a, b), lambda r: (r(2), r(4)), (0, 1)),
    Case("subtract", "np.polysub", lambda a, b: np.polysub(a, b), lambda r: (r(4), r(3)), (0, 1)),
    Case("cumprod", "np.vander", lambda x: np.vander(x), lambda r: (r(4),)),
    Case("cumprod", "np.vander N=3, increasing", lambda x: np.vander(x, 3, increasing=True), lambda r: (r(5),)),
    Case("stack", "np.apply_along_axis to a number", lambda x: np.apply_along_axis(lambda v: np.sum(v ** 2), 0, x),
         lambda r: (r(3, 4),)),
    Case("stack", "np.apply_along_axis to a matrix", lambda x: np.apply_along_axis(lambda v: np.outer(v, v[:2]), 1, x),
         lambda r: (r(2, 3, 2),)),
    Case("cumsum", "np.unwrap", lambda p: np.unwrap(np.cumsum(p * 3, axis=-1)), lambda r: (r(2, 6),)),
    Case("cumsum", "np.unwrap axis=0, period", lambda p: np.unwrap(np.cumsum(p * 3, axis=0), axis=0, period=5.0),
         lambda r: (r(6, 2),)),
    # NaN-ignoring medians and quantiles (NaN entries get no gradient)
    Case("quantile", "np.nanmedian", lambda x: np.nanmedian(_with_nans(x)), lambda r: (r(4, 5),)),
    Case("quantile", "np.nanmedian axis=1, keepdims", lambda x: np.nanmedian(_with_nans(x), axis=1, keepdims=True),
         lambda r: (r(4, 5),)),
    Case("quantile", "np.nanquantile axis=0", lambda x: np.nanquantile(_with_nans(x), 0.3, axis=0), lambda r: (r(4, 5),)),
    Case("quantile", "np.nanpercentile several q", lambda x: np.nanpercentile(_with_nans(x), [10, 80], axis=-1),
         lambda r: (r(4, 5),)),
    # assembly: block, unstack, resize, geomspace
    Case("concatenate", "np.block 2 x 2", lambda a, b: np.block([[a, b], [b.T @ b, b.T]]), lambda r: (r(2, 2), r(2, 3)),
         (0, 1)),
    Case("concatenate", "np.block mixed dimensions", lambda a, b: np.block([[a, 1.0], [b, b[0]]]),
         lambda r: (r(2), r(2)), (0, 1)),
    Case("getitem", "np.unstack axis=1", lambda x: np.stack(np.unstack(x, axis=1)[::-1]) ** 2, lambda r: (r(3, 4),)),
    Case("concatenate", "np.resize larger", lambda x: np.resize(x, (3, 5)), lambda r: (r(2, 3),)),
    Case("setitem", "np.geomspace", lambda a, b: np.geomspace(a ** 2 + 0.5, b ** 2 + 2.0, 5), lambda r: (r(), r()),
         (0, 1)),
    Case("setitem", "np.geomspace negative arrays, axis=1", lambda a: np.geomspace(-(a ** 2) - 0.5, -3.0, 4, axis=1),
         lambda r: (r(2),)),
    # least squares and tensors
    Case("lstsq", "np.polyfit", lambda x, y: np.polyfit(x, y, 2), lambda r: (r(6), r(6)), (0, 1)),
    Case("lstsq", "np.polyfit 2-D y, weights", lambda y: np.polyfit(np.linspace(-1, 1, 5), y, 1, w=WEIGHTS),
         lambda r: (r(5, 2),)),
    Case("inv", "np.linalg.tensorinv", lambda a: np.linalg.tensorinv(_well_conditioned(a).reshape(6, 2, 3), ind=1),
         lambda r: (r(6, 6),)),
    Case("solve", "np.linalg.tensorsolve", lambda a, b: np.linalg.tensorsolve(_well_conditioned(a).reshape(2, 3, 6), b),
         lambda r: (r(6, 6), r(2, 3)), (0, 1)),
    # in-place writes
    Case("broadcast_to", "np.copyto", _copied, lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("where", "np.copyto where=", _copied_where, lambda r: (r(3, 4), r(3, 1)), (0, 1)),
    Case("where", "np.putmask repeats the values", _putmasked, lambda r: (r(3, 4),)),
    Case("setitem", "np.place", _placed, lambda r: (r(3, 4),)),
    Case("setitem", "np.put mode='wrap'", _put_wrapped, lambda r: (r(3, 4), r(3)), (0, 1)),
    Case("getitem", "np.ix_", lambda x: x[np.ix_([0, 2], [True, False, True, True])], lambda r: (r(3, 4),)),
    Case("sum", "np.apply_over_axes", lambda x: np.apply_over_axes(np.sum, x ** 2, [0, 2]), lambda r: (r(2, 3, 4),)),
    Case("matmul", "np.poly of roots", lambda z: np.poly(z), lambda r: (r(4),)),
    Case("matmul", "np.convolve with a constant", lambda v: np.convolve([1.0, -2.0, 0.5], v, "same"), lambda r: (r(5),)),
    # NumPy 2's vector-matrix ufuncs
    Case("vecdot", "np.vecdot broadcast", lambda a, b: np.vecdot(a, b), lambda r: (r(2, 3), r(3)), (0, 1)),
    Case("matvec", "np.matvec stack", lambda m, v: np.matvec(m, v), lambda r: (r(2, 4, 3), r(3)), (0, 1)),
    Case("matvec", "np.matvec vectors stacked", lambda m, v: np.matvec(m, v), lambda r: (r(4, 3), r(2, 3)), (0, 1)),
    Case("vecmat", "np.vecmat", lambda v, m: np.vecmat(v, m), lambda r: (r(2, 4), r(4, 3)), (0, 1)),
    Case("vecmat", "np.vecmat matrices stacked", lambda v, m: np.vecmat(v, m), lambda r: (r(4), r(2, 4, 3)), (0, 1)),
    # np.linalg.cond and the np.linalg aliases
    Case("svdvals", "np.linalg.cond", lambda x: np.linalg.cond(_well_conditioned(x)), lambda r: (r(3, 3),)),
    Case("svdvals", "np.linalg.cond p=-2, stack of wide", lambda x: np.linalg.cond(x, -2), lambda r: (r(2, 2, 3),)),
    Case("inv", "np.linalg.cond p=1", lambda x: np.linalg.cond(_well_conditioned(x), 1), lambda r: (r(3, 3),)),
    Case("inv", "np.linalg.cond p=-inf", lambda x: np.linalg.cond(_well_conditioned(x), -np.inf), lambda r: (r(3, 3),)),
    Case("inv", "np.linalg.cond p='fro', stack", lambda x: np.linalg.cond(_well_conditioned(x), "fro"),
         lambda r: (r(2, 3, 3),)),
    Case("inv", "np.linalg.cond p='nuc'", lambda x: np.linalg.cond(_well_conditioned(x), "nuc"), lambda r: (r(3, 3),)),
    Case("matmul", "np.linalg.multi_dot, 1-D ends", lambda a, b, c: np.linalg.multi_dot([a, b, b.T, c]),
         lambda r: (r(3), r(3, 4), r(3)), (0, 1, 2)),
    Case("matmul", "np.linalg.matmul", lambda a, b: np.linalg.matmul(a, b), lambda r: (r(2, 3), r(3, 2)), (0, 1)),
    Case("tensordot", "np.linalg.tensordot", lambda a, b: np.linalg.tensordot(a, b, axes=1), lambda r: (r(2, 3), r(3, 2)),
         (0, 1)),
    Case("multiply", "np.linalg.outer", lambda a, b: np.linalg.outer(a, b), lambda r: (r(3), r(2)), (0, 1)),
    Case("cross", "np.linalg.cross axis=0", lambda a, b: np.linalg.cross(a, b, axis=0), lambda r: (r(3, 2), r(3, 2)),
         (0, 1)),
    Case("sum", "np.linalg.vecdot", lambda a, b: np.linalg.vecdot(a, b), lambda r: (r(2, 3), r(3)), (0, 1)),
    Case("diagonal", "np.linalg.trace of a stack", lambda x: np.linalg.trace(x, offset=1), lambda r: (r(2, 3, 3),)),
    Case("diagonal", "np.linalg.diagonal", lambda x: np.linalg.diagonal(x), lambda r: (r(2, 3, 4),)),
    Case("transpose", "np.matrix_transpose", lambda x: np.matrix_transpose(x) * np.arange(3), lambda r: (r(2, 3, 2),)),
    Case("transpose", "np.linalg.matrix_transpose", lambda x: np.linalg.matrix_transpose(x) ** 2, lambda r: (r(3, 2),)),
]
