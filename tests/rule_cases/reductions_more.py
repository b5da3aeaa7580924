"""Reductions and statistics of issue 4: prod (with zeros), var/std (ddof), ptp, cumsum/cumprod,
average, the nan-functions, amax/amin, norms; with axis as int, tuple, negative and None, and
keepdims. Random values have no ties (ties are checked exactly in tests/test_corpus_stats.py)."""
from __future__ import annotations

import numpy as np

from rule_cases import Case
from rule_cases.elementwise_more import second_order


def _zeros_at(*flat):
    """Arguments: an array with zeros at the given flat positions."""
    def args(r, shape=(3, 4)):
        x = r(*shape)
        x.flat[list(flat)] = 0
        return (x,)
    return args


def _nans(x, fraction_index=(1, 6, 7)):
    """x with NaN at a few flat positions (a constant mask: they get no gradient)."""
    mask = np.zeros(x.shape, bool)
    mask.flat[list(fraction_index)] = True
    return np.where(mask, np.nan, x)


# one zero in row 0, two in row 1, none in row 2
ZEROS = _zeros_at(1, 4, 6)
# cumulative products: a zero first in row 0, last in row 1, and two zeros in row 2
CUMZEROS = _zeros_at(0, 7, 9, 10)
W4 = np.array([0.5, 1.0, 2.0, 1.5])

CASES = [
    # prod: the product of the other entries, exact with zeros
    Case("prod", "all", lambda x: np.prod(x), lambda r: (r(3, 4),)),
    Case("prod", "axis=0", lambda x: np.prod(x, axis=0), lambda r: (r(3, 4),)),
    Case("prod", "axis=-1 keepdims", lambda x: x.prod(axis=-1, keepdims=True), lambda r: (r(2, 3, 4),)),
    Case("prod", "axis=(0, 2)", lambda x: np.prod(x, axis=(0, 2)), lambda r: (r(2, 3, 4),)),
    Case("prod", "of 0-d", lambda x: np.prod(x), lambda r: (r(),)),
    Case("prod", "zeros: one, two, none per row", lambda x: np.prod(x, axis=1), ZEROS),
    Case("prod", "zeros, all", lambda x: np.prod(x[:, ::2]), _zeros_at(4)),
    Case("prod", "zeros, axis=0 keepdims", lambda x: np.prod(x, axis=0, keepdims=True), ZEROS),
    Case("prod", "second order", second_order(lambda x: np.prod(x, axis=1)), lambda r: (r(2, 3),)),
    # var and std with ddof
    Case("var", "all", lambda x: np.var(x), lambda r: (r(3, 4),)),
    Case("var", "axis=0 ddof=1", lambda x: np.var(x, axis=0, ddof=1), lambda r: (r(3, 4),)),
    Case("var", "axis=(0, 2) keepdims", lambda x: np.var(x, axis=(0, 2), keepdims=True), lambda r: (r(2, 3, 4),)),
    Case("var", "x.var(axis=-1), correction=1", lambda x: x.var(axis=-1) + np.var(x, axis=-1, correction=1),
         lambda r: (r(3, 4),)),
    Case("var", "second order", second_order(lambda x: np.var(x, axis=1, ddof=1)), lambda r: (r(2, 3),)),
    Case("std", "all", lambda x: np.std(x), lambda r: (r(3, 4),)),
    Case("std", "axis=-1 ddof=1 keepdims", lambda x: np.std(x, axis=-1, ddof=1, keepdims=True), lambda r: (r(3, 4),)),
    Case("std", "x.std(axis=(0, 1))", lambda x: x.std(axis=(0, 1)), lambda r: (r(2, 3, 4),)),
    Case("std", "second order", second_order(lambda x: np.std(x, axis=0)), lambda r: (r(2, 3),)),
    # max and min by their other names, and peak to peak
    Case("max", "np.amax axis=1", lambda x: np.amax(x, axis=1), lambda r: (r(3, 4),)),
    Case("min", "np.amin axis=(0, 2) keepdims", lambda x: np.amin(x, axis=(0, 2), keepdims=True),
         lambda r: (r(2, 3, 4),)),
    Case("max", "logsumexp from max/exp/log/sum", lambda x: (
        np.max(x, axis=1) + np.log(np.sum(np.exp(x - np.max(x, axis=1, keepdims=True)), axis=1))),
         lambda r: (r(3, 4),)),
    Case("ptp", "all", lambda x: np.ptp(x), lambda r: (r(3, 4),)),
    Case("ptp", "axis=0", lambda x: np.ptp(x, axis=0), lambda r: (r(3, 4),)),
    Case("ptp", "axis=(0, -1) keepdims", lambda x: np.ptp(x, axis=(0, -1), keepdims=True), lambda r: (r(2, 3, 4),)),
    # cumulative sums and products
    Case("cumsum", "axis=0", lambda x: np.cumsum(x, axis=0), lambda r: (r(3, 4),)),
    Case("cumsum", "x.cumsum(-1)", lambda x: x.cumsum(-1), lambda r: (r(2, 3, 4),)),
    Case("cumsum", "axis=None flattens", lambda x: np.cumsum(x), lambda r: (r(3, 4),)),
    Case("cumsum", "1-D", lambda x: np.cumsum(x), lambda r: (r(5),)),
    Case("cumsum", "cumulative_sum include_initial", lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
         lambda r: (r(3, 4),)),
    Case("cumsum", "nancumsum", lambda x: np.nancumsum(_nans(x), axis=1), lambda r: (r(3, 4),)),
    Case("cumsum", "second order", second_order(lambda x: np.cumsum(x, axis=1) ** 2), lambda r: (r(2, 3),)),
    Case("cumprod", "axis=1", lambda x: np.cumprod(x, axis=1), lambda r: (r(3, 4),)),
    Case("cumprod", "axis=1 of 3-D", lambda x: np.cumprod(x, axis=1), lambda r: (r(2, 3, 4),)),
    Case("cumprod", "axis=None flattens", lambda x: np.cumprod(x), lambda r: (r(3, 4),)),
    Case("cumprod", "zeros first, last, twice", lambda x: np.cumprod(x, axis=1), CUMZEROS),
    Case("cumprod", "zeros, axis=0", lambda x: np.cumprod(x, axis=0), CUMZEROS),
    Case("cumprod", "zeros, axis=None", lambda x: np.cumprod(x), _zeros_at(2, 9)),
    Case("cumprod", "cumulative_prod", lambda x: np.cumulative_prod(x, axis=0), lambda r: (r(3, 4),)),
    Case("cumprod", "nancumprod", lambda x: np.nancumprod(_nans(x), axis=1), lambda r: (r(3, 4),)),
    Case("cumprod", "second order", second_order(lambda x: np.cumprod(x, axis=1)), lambda r: (r(2, 3),)),
    # weighted averages (written with sum and divide)
    Case("sum", "np.average weights along axis", lambda x: np.average(x, axis=1, weights=W4), lambda r: (r(3, 4),)),
    Case("sum", "np.average differentiable weights", lambda x, w: np.average(x, axis=0, weights=w),
         lambda r: (r(3, 4), r(3) + 3.0), (0, 1)),
    Case("sum", "np.average weights over 2 axes", lambda x, w: np.average(x, axis=(2, 0), weights=w),
         lambda r: (r(2, 3, 4), r(4, 2) + 3.0), (0, 1)),
    Case("sum", "np.average full weights, returned", lambda x, w: np.stack(np.average(x, weights=w, returned=True)),
         lambda r: (r(3, 4), r(3, 4) + 3.0), (0, 1)),
    Case("mean", "np.average no weights keepdims", lambda x: np.average(x, axis=-1, keepdims=True),
         lambda r: (r(3, 4),)),
    # NaN-ignoring reductions: NaN entries get no gradient
    Case("where", "nansum axis=0", lambda x: np.nansum(_nans(x), axis=0), lambda r: (r(3, 4),)),
    Case("where", "nanprod", lambda x: np.nanprod(_nans(x), axis=1), lambda r: (r(3, 4),)),
    Case("where", "nanmean keepdims", lambda x: np.nanmean(_nans(x), axis=1, keepdims=True), lambda r: (r(3, 4),)),
    Case("where", "nanmean all", lambda x: np.nanmean(_nans(x)), lambda r: (r(3, 4),)),
    Case("where", "nanvar ddof=1", lambda x: np.nanvar(_nans(x), axis=1, ddof=1), lambda r: (r(3, 4),)),
    Case("where", "nanstd", lambda x: np.nanstd(_nans(x), axis=0), lambda r: (r(3, 4),)),
    Case("where", "nanmax axis=1", lambda x: np.nanmax(_nans(x), axis=1), lambda r: (r(3, 4),)),
    Case("where", "nanmin all", lambda x: np.nanmin(_nans(x)), lambda r: (r(3, 4),)),
    # median, quantiles, percentiles (linear interpolation)
    Case("quantile", "median, odd count", lambda x: np.median(x), lambda r: (r(3, 3),)),
    Case("quantile", "median axis=0 keepdims, even count", lambda x: np.median(x, axis=0, keepdims=True),
         lambda r: (r(4, 3),)),
    Case("quantile", "median axis=(0, 2)", lambda x: np.median(x, axis=(0, 2)), lambda r: (r(2, 3, 4),)),
    Case("quantile", "quantile 0.3 axis=-1", lambda x: np.quantile(x, 0.3, axis=-1), lambda r: (r(3, 5),)),
    Case("quantile", "quantile [0.1, 0.5, 0.9] axis=0", lambda x: np.quantile(x, [0.1, 0.5, 0.9], axis=0),
         lambda r: (r(5, 3),)),
    Case("quantile", "percentile 75", lambda x: np.percentile(x, 75), lambda r: (r(3, 4),)),
    Case("quantile", "second order", second_order(lambda x: np.median(x, axis=1) ** 2), lambda r: (r(2, 3),)),
    # norms
    Case("norm", "vector", lambda x: np.linalg.norm(x), lambda r: (r(5),)),
    Case("norm", "n-d, axis=None", lambda x: np.linalg.norm(x), lambda r: (r(2, 3, 4),)),
    Case("norm", "axis=0", lambda x: np.linalg.norm(x, axis=0), lambda r: (r(3, 4),)),
    Case("norm", "axis=-1 keepdims", lambda x: np.linalg.norm(x, axis=-1, keepdims=True), lambda r: (r(2, 3, 4),)),
    Case("norm", "'fro' axis=(2, 0)", lambda x: np.linalg.norm(x, "fro", axis=(2, 0)), lambda r: (r(2, 3, 4),)),
    Case("norm", "matrix, None keepdims", lambda x: np.linalg.norm(x, keepdims=True), lambda r: (r(3, 4),)),
    Case("norm", "vector_norm axis=(0, 1)", lambda x: np.linalg.vector_norm(x, axis=(0, 1)), lambda r: (r(3, 4, 2),)),
    Case("norm", "second order", second_order(lambda x: np.linalg.norm(x, axis=1)), lambda r: (r(2, 3),)),
    Case("abs", "norm ord=1", lambda x: np.linalg.norm(x, 1), lambda r: (r(5),)),
    Case("abs", "norm ord=inf axis=1", lambda x: np.linalg.norm(x, np.inf, axis=1), lambda r: (r(3, 4),)),
    Case("abs", "norm ord=-inf", lambda x: np.linalg.norm(x, -np.inf), lambda r: (r(5),)),
    Case("abs", "norm ord=3 axis=0", lambda x: np.linalg.norm(x, 3, axis=0), lambda r: (r(3, 4),)),
    Case("abs", "norm ord=0.5", lambda x: np.linalg.norm(x, 0.5), lambda r: (r(4),)),
    Case("abs", "matrix norm ord=1", lambda x: np.linalg.norm(x, 1), lambda r: (r(3, 4),)),
    Case("abs", "matrix norm ord=-1 axis=(1, 2)", lambda x: np.linalg.norm(x, -1, axis=(1, 2)),
         lambda r: (r(2, 3, 4),)),
    Case("abs", "matrix norm ord=inf keepdims", lambda x: np.linalg.norm(x, np.inf, keepdims=True),
         lambda r: (r(3, 4),)),
    Case("abs", "matrix norm ord=-inf axis=(2, 0)", lambda x: np.linalg.norm(x, -np.inf, axis=(2, 0)),
         lambda r: (r(2, 3, 4),)),
    Case("abs", "vector_norm ord=1 axis=None", lambda x: np.linalg.vector_norm(x, ord=1), lambda r: (r(3, 4),)),
    Case("abs", "matrix_norm ord=inf", lambda x: np.linalg.matrix_norm(x, ord=np.inf), lambda r: (r(2, 3, 4),)),
    # axis=0 and axis=-1 of a 0-d value, which NumPy's ufunc reductions and cumsum take (issue 13)
    Case("max", "axis=0 of a 0-d value", lambda x: np.max(np.sum(x ** 2), axis=0), lambda r: (r(3),)),
    Case("min", "axis=-1 keepdims of a 0-d value", lambda x: np.min(x * 3, axis=-1, keepdims=True), lambda r: (r(),)),
    Case("sum", "axis=-1 of a 0-d value", lambda x: np.sum(np.prod(x), axis=-1), lambda r: (r(3),)),
    Case("prod", "axis=0 of a 0-d value", lambda x: np.prod(x ** 2, axis=0), lambda r: (r(),)),
    Case("ptp", "axis=0 of a 0-d value", lambda x: np.ptp(x, axis=0) + x, lambda r: (r(),)),
    Case("cumsum", "axis=0 of a 0-d value", lambda x: np.cumsum(np.sum(x ** 2), axis=0), lambda r: (r(3),)),
    Case("cumprod", "axis=-1 of a 0-d value", lambda x: np.cumprod(x * 2, axis=-1), lambda r: (r(),)),
    Case("where", "nanmax, nanmean axis=0 of a 0-d value", lambda x: np.nanmax(x, axis=0) * np.nanmean(x, axis=-1),
         lambda r: (r(),)),
]
