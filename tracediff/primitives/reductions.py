"""Reductions over axes, each beside its VJP rule; and statistics composed of them (average, the
nan-functions, norms, quantiles, trapezoid, cov, corrcoef)."""
from __future__ import annotations

import math

import numpy as np

from ..tracing import Tracer
from .core import (FUNCTIONS, Primitive, batch_axis, call, conj, defbatch, defvjp, is_complex, method_or_function,
                   np_attr, py_literal)


def normalize_axis(axis, ndim: int, function: str, *, scalar_axis: bool = False):
    """``axis`` as a sorted tuple of non-negative ints, or None for all axes.

    ``scalar_axis``: the function takes axis=0 or axis=-1 (an int, not a tuple) on a 0-d value, as
    NumPy's ufunc reductions (np.sum, np.max, ...) do, where it means all (none) of its axes.
    """
    if axis is None or (scalar_axis and ndim == 0 and not isinstance(axis, tuple) and int(axis) in (0, -1)):
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
    if name in ("sum", "mean", "max", "min", "prod"):  # ndarray has these methods
        emit = lambda args, **p: method_or_function(name, args, [], _emit_axis_params(p))  # noqa: E731
    else:
        emit = lambda args, **p: call(np_attr(name), args, _emit_axis_params(p))  # noqa: E731
    prim = Primitive(name, impl, emit)
    defvjp(prim, rule)
    return prim


sum_p = _reduction(
    "sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    lambda g, ans, x, axis, keepdims: _expand_back(g, x, axis, keepdims),
)
# The mean of nothing is NaN (NumPy warns); its cotangent is then empty, whatever g / 1 is.
mean_p = _reduction(
    "mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    lambda g, ans, x, axis, keepdims: _expand_back(g / max(_count(x, axis), 1), x, axis, keepdims),
)


def _reducer(prim, numpy_function):
    def handler(a, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
        if out is not None or dtype is not None or unsupported:
            given = [k for k, v in {"out": out, "dtype": dtype, **unsupported}.items() if v is not None]
            raise TypeError(f"np.{numpy_function.__name__}: {given} not supported on traced values")
        ndim = np.ndim(a) if not hasattr(a, "ndim") else a.ndim
        # np.mean(x0d, axis=0) is an error in NumPy; the ufunc reductions (np.sum, ...) take it
        return prim.bind(a, axis=normalize_axis(axis, ndim, f"np.{numpy_function.__name__}",
                                                scalar_axis=prim is not mean_p),
                         keepdims=bool(keepdims))

    FUNCTIONS[numpy_function] = handler


_reducer(sum_p, np.sum)
_reducer(mean_p, np.mean)


def _extremum_vjp(g, ans, x, axis, keepdims):
    # The cotangent goes to the elements equal to the extremum, split evenly among ties
    # (the rule np.maximum follows too), so max(x) of [1, 3, 3] sends g/2 to each 3.
    # NumPy's max propagates NaN, where the derivative does not exist: no entry of a slice whose
    # extremum is NaN equals it, the share is g / 0, and every entry of that slice gets 0 * inf,
    # a NaN cotangent (as np.maximum's rule gives both operands), never a silent 0.
    if not keepdims:
        axes = _reduced_axes(x, axis)
        keep_shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        ans, g = np.reshape(ans, keep_shape), np.reshape(g, keep_shape)
    winners = x == ans
    return winners * (g / np.sum(winners, axis=axis, keepdims=True))


max_p = _reduction("max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), _extremum_vjp)
min_p = _reduction("min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims), _extremum_vjp)
_reducer(max_p, np.max)
_reducer(min_p, np.min)


def _index_reduction(name):
    prim = Primitive(name, getattr(np, name), differentiable=False)

    def handler(a, axis=None, out=None, *, keepdims=False):
        if out is not None:
            raise TypeError(f"np.{name}: out= is not supported on traced values")
        # NumPy sees a 0-d array as 1-D here: axis 0 and -1 are valid
        params = {"axis": None if axis is None else normalize_axis(int(axis), max(np.ndim(a), 1), f"np.{name}")[0]}
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
                                                 f"np.{name}", scalar_axis=True), keepdims=bool(keepdims))

    FUNCTIONS[getattr(np, name)] = handler


for _name in ("any", "all"):
    _boolean_reduction(_name)


# --- shared helpers for the rules below ----------------------------------------------------

def _keep(v, x, axis, keepdims):
    """``v`` (a reduction's output or cotangent) with the reduced axes of ``x`` kept as size 1,
    so that it broadcasts against ``x``."""
    if keepdims or not np.ndim(v):
        return v
    axes = _reduced_axes(x, axis)
    return np.reshape(v, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _flag(keepdims) -> bool:
    """A keepdims argument as a bool (NumPy's signatures default it to np._NoValue)."""
    return bool(keepdims) and keepdims is not np._NoValue


def _dtype(a) -> np.dtype:
    return a.dtype if hasattr(a, "dtype") else np.result_type(a)  # np.result_type(tracer) is not traced


def _ndim(a) -> int:
    return a.ndim if hasattr(a, "ndim") else np.ndim(a)


def _no_extras(function, **given):
    extras = sorted(k for k, v in given.items() if v is not None and v is not np._NoValue)
    if extras:
        raise TypeError(f"np.{function}: {extras} not supported on traced values")


def _flip(v, axis):
    return v[(slice(None),) * axis + (slice(None, None, -1),)]


def _reverse_cumsum(v, axis):
    """out[i] = sum(v[i:]) along ``axis``."""
    return _flip(np.cumsum(_flip(v, axis), axis=axis), axis)


def _meta(handler, differentiable=True, caveat=""):
    """Describe a handler that composes other functions, for the coverage page."""
    handler.differentiable = differentiable
    handler.caveat = caveat
    return handler


# --- products --------------------------------------------------------------------------------

def _prod_vjp(g, ans, x, axis, keepdims):
    # d prod / d x_i is the product of the other entries, computed without dividing by x_i:
    # with no zero in a slice it is prod / x_i; with one zero, the product of the non-zero entries
    # at the zero and 0 elsewhere; with two or more, 0 everywhere.
    zero = x == 0
    safe = np.where(zero, 1.0, x)
    nonzero_prod = np.prod(safe, axis=axis, keepdims=True)
    zeros = np.sum(zero, axis=axis, keepdims=True)
    others = np.where(zeros == 0, nonzero_prod / safe, np.where(zero & (zeros == 1), nonzero_prod, 0.0))
    return _keep(g, x, axis, keepdims) * others


prod_p = _reduction("prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), _prod_vjp)
prod_p.caveat = ("zeros handled exactly (product of the other entries); the second derivative is "
                 "exact where no entry is 0")
_reducer(prod_p, np.prod)


# --- variance and standard deviation ---------------------------------------------------------

def _emit_moment(name):
    def emit(args, axis, keepdims, ddof):
        params = _emit_axis_params({"axis": axis, "keepdims": keepdims})
        if ddof:
            params["ddof"] = ddof
        return call(np_attr(name), args, params)
    return emit


def _dof(x, axis, ddof):
    n = _count(x, axis) - ddof
    return n if n > 0 else math.nan  # NumPy warns and returns NaN (var) for n <= ddof


def _centered(x, axis):
    """x minus its mean, conjugated for complex x: the variance is a mean of |x - mean|**2, whose
    cotangent (dL/du - i dL/dv) is 2 conj(x - mean) / n."""
    centered = x - np.mean(x, axis=axis, keepdims=True)
    return np.conj(centered) if is_complex(x) else centered


def _var_vjp(g, ans, x, axis, keepdims, ddof):
    return _keep(g, x, axis, keepdims) * (2.0 / _dof(x, axis, ddof)) * _centered(x, axis)


def _std_vjp(g, ans, x, axis, keepdims, ddof):
    # Where std is 0 the entries equal their mean, so `centered` is 0 there: with a denominator
    # of 1 the cotangent is 0, exact for a length-1 axis and a subgradient otherwise (as abs at 0).
    centered = _centered(x, axis)
    std = _keep(ans, x, axis, keepdims)
    return _keep(g, x, axis, keepdims) / (_dof(x, axis, ddof) * np.where(std > 0, std, 1.0)) * centered


var_p = Primitive("var", lambda x, axis, keepdims, ddof: np.var(x, axis=axis, keepdims=keepdims, ddof=ddof),
                  _emit_moment("var"))
defvjp(var_p, _var_vjp)
std_p = Primitive("std", lambda x, axis, keepdims, ddof: np.std(x, axis=axis, keepdims=keepdims, ddof=ddof),
                  _emit_moment("std"))
defvjp(std_p, _std_vjp)
std_p.caveat = "where the standard deviation is 0 (all entries equal) the gradient is 0, a subgradient"


def _moment(prim, numpy_function):
    name = numpy_function.__name__

    def handler(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
                correction=None):
        _no_extras(name, dtype=dtype, out=out, where=where, mean=mean)
        if correction is not None and correction is not np._NoValue:
            if ddof:
                raise ValueError(f"np.{name}: ddof and correction can't be provided simultaneously")
            ddof = correction
        return prim.bind(a, axis=normalize_axis(axis, _ndim(a), f"np.{name}"), keepdims=_flag(keepdims),
                         ddof=int(ddof) if float(ddof).is_integer() else float(ddof))

    FUNCTIONS[numpy_function] = handler


_moment(var_p, np.var)
_moment(std_p, np.std)


# --- max and min: aliases, peak to peak ----------------------------------------------------

FUNCTIONS[np.amax] = FUNCTIONS[np.max]  # distinct function objects in NumPy 2, the same function
FUNCTIONS[np.amin] = FUNCTIONS[np.min]


def _ptp_vjp(g, ans, x, axis, keepdims):
    top = np.max(x, axis=axis, keepdims=keepdims)
    bottom = np.min(x, axis=axis, keepdims=keepdims)
    return _extremum_vjp(g, top, x, axis, keepdims) - _extremum_vjp(g, bottom, x, axis, keepdims)


ptp_p = _reduction("ptp", lambda x, axis, keepdims: np.ptp(x, axis=axis, keepdims=keepdims), _ptp_vjp)
max_p.caveat = min_p.caveat = ptp_p.caveat = "ties share the cotangent evenly"


def _ptp(a, axis=None, out=None, keepdims=False):
    _no_extras("ptp", out=out)
    return ptp_p.bind(a, axis=normalize_axis(axis, _ndim(a), "np.ptp", scalar_axis=True), keepdims=_flag(keepdims))


FUNCTIONS[np.ptp] = _ptp


# --- cumulative sums and products ----------------------------------------------------------

def _emit_cumulative(name):
    return lambda args, axis: call(np_attr(name), args, {} if axis is None else {"axis": axis})


def _cumsum_vjp(g, ans, x, axis):
    if axis is None:  # the output is the flattened input's
        return np.reshape(_reverse_cumsum(g, 0), x.shape)
    return _reverse_cumsum(g, axis)


def _cumprod_along(g, y, x, axis):
    """The cotangent of x for y = cumprod(x) along ``axis``, exact with zeros.

    ct[j] = sum_{i >= j} g[i] * prod_{k <= i, k != j} x[k]. Before the first zero of a lane that is
    sum_{i >= j} g[i] y[i] / x[j]; after it, 0; at the first zero itself it is
    sum_{i >= j} g[i] y1[i], with y1 the cumulative product of x with that zero replaced by 1.
    """
    zero = x == 0
    first = zero & (np.cumsum(zero, axis=axis) == 1)
    safe = np.where(zero, 1.0, x)
    before = _reverse_cumsum(g * y, axis) / safe
    at_first = _reverse_cumsum(g * np.cumprod(np.where(first, 1.0, x), axis=axis), axis)
    return np.where(first, at_first, np.where(zero, 0.0, before))


def _cumprod_vjp(g, ans, x, axis):
    if axis is None:
        return np.reshape(_cumprod_along(g, ans, np.ravel(x), 0), x.shape)
    return _cumprod_along(g, ans, x, axis)


cumsum_p = Primitive("cumsum", lambda x, axis: np.cumsum(x, axis=axis), _emit_cumulative("cumsum"))
defvjp(cumsum_p, _cumsum_vjp)
cumprod_p = Primitive("cumprod", lambda x, axis: np.cumprod(x, axis=axis), _emit_cumulative("cumprod"))
defvjp(cumprod_p, _cumprod_vjp)
cumprod_p.caveat = "zeros handled exactly; the second derivative is exact where no entry is 0"


def _cumulative(prim, numpy_function):
    name = numpy_function.__name__

    def handler(a, axis=None, dtype=None, out=None):
        _no_extras(name, dtype=dtype, out=out)
        ndim = _ndim(a)
        if axis is not None:
            axis = normalize_axis(int(axis), max(ndim, 1), f"np.{name}")[0]
        # NumPy sees a 0-d array as 1-D: along axis 0 (or -1) is along the flattened array
        return prim.bind(a, axis=axis if ndim else None)

    FUNCTIONS[numpy_function] = handler
    return handler


_cumsum = _cumulative(cumsum_p, np.cumsum)
_cumprod = _cumulative(cumprod_p, np.cumprod)


# --- batching rules: an entry's axis k is the batched value's axis k + 1 -------------------------

def _batch_reduction(prim):
    return lambda args, batched, out_shape, axis, **params: prim.bind(
        args[0], axis=batch_axis(axis, np.ndim(args[0]) - 1), **params)


def _batch_cumulative(prim):
    def rule(args, batched, out_shape, axis):
        x = args[0]
        if axis is None:  # along the flattened entry
            return prim.bind(np.reshape(x, (np.shape(x)[0], -1)), axis=1)
        return prim.bind(x, axis=batch_axis(axis, np.ndim(x) - 1))
    return rule


for _prim in (sum_p, mean_p, max_p, min_p, prod_p, var_p, std_p, ptp_p):
    defbatch(_prim, _batch_reduction(_prim))
for _prim in (cumsum_p, cumprod_p):
    defbatch(_prim, _batch_cumulative(_prim))


def _array_api_cumulative(handler, numpy_function, initial, caveat=""):
    name = numpy_function.__name__

    def cumulative(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        _no_extras(name, dtype=dtype, out=out)
        ndim = _ndim(x)
        if axis is None:
            if ndim > 1:
                raise ValueError(f"np.{name}: axis must be specified for arrays of more than one dimension")
            axis = 0
        axis = normalize_axis(int(axis), max(ndim, 1), f"np.{name}")[0]
        out = handler(x, axis=axis)
        if include_initial:
            shape = tuple(1 if i == axis else n for i, n in enumerate(out.shape))
            out = np.concatenate([np.full(shape, initial, dtype=out.dtype), out], axis=axis)
        return out

    FUNCTIONS[numpy_function] = _meta(cumulative, caveat=caveat)


if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    _array_api_cumulative(_cumsum, np.cumulative_sum, 0)
    _array_api_cumulative(_cumprod, np.cumulative_prod, 1, cumprod_p.caveat)


# --- weighted average ------------------------------------------------------------------------

def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    keepdims = _flag(keepdims)
    ndim = _ndim(a)
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = np.full(np.shape(avg), np.size(a) / max(np.size(avg), 1), dtype=_dtype(avg))
        return (avg, scale) if returned else avg
    w = weights
    if np.shape(w) != np.shape(a):
        if axis is None:
            raise TypeError("np.average: axis must be specified when shapes of a and weights differ")
        axes = axis if isinstance(axis, tuple) else (axis,)
        positions = [int(ax) % ndim for ax in axes]
        if np.shape(w) != tuple(np.shape(a)[p] for p in positions):
            raise ValueError("np.average: shape of weights must be consistent with shape of a along the axis")
        order = sorted(range(len(positions)), key=positions.__getitem__)
        w = np.transpose(w, order) if order != list(range(len(order))) else w
        w = np.reshape(w, tuple(n if i in positions else 1 for i, n in enumerate(np.shape(a))))
    scale = np.sum(np.broadcast_to(w, np.shape(a)), axis=axis, keepdims=keepdims)
    avg = np.sum(a * w, axis=axis, keepdims=keepdims) / scale
    return (avg, scale) if returned else avg


FUNCTIONS[np.average] = _meta(_average, caveat="weights are differentiable too")


# --- NaN-ignoring reductions -------------------------------------------------------------------
# Written with np.where(np.isnan(a), neutral, a): NaN entries get no gradient. Integer arrays hold
# no NaN: the plain reduction, as NumPy.

def _inexact(a) -> bool:
    return _dtype(a).kind in "fc"


def _float_dtype(a):
    return _dtype(a) if _inexact(a) else np.dtype(np.float64)


def _nan_reducer(function, neutral, reduce):
    name = function.__name__

    def handler(a, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
        _no_extras(name, dtype=dtype, out=out, **unsupported)
        a = np.where(np.isnan(a), neutral, a) if _inexact(a) else a
        return reduce(a, axis=axis, keepdims=_flag(keepdims))

    FUNCTIONS[function] = _meta(handler, caveat=_NAN + ("; zeros as np.prod" if reduce is np.prod else ""))


_NAN = "NaN entries get no gradient"
_nan_reducer(np.nansum, 0.0, np.sum)
_nan_reducer(np.nanprod, 1.0, np.prod)


def _nan_count(a, axis, keepdims):
    """How many entries are not NaN, in the result's float dtype (an int64 count would promote
    float32 to float64)."""
    return np.sum(~np.isnan(a), axis=axis, keepdims=keepdims).astype(_float_dtype(a))


def _nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    _no_extras("nanmean", dtype=dtype, out=out, where=where)
    if not _inexact(a):
        return np.mean(a, axis=axis, keepdims=_flag(keepdims))
    return np.nansum(a, axis=axis, keepdims=_flag(keepdims)) / _nan_count(a, axis, _flag(keepdims))


def _nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
            correction=None, _sqrt=False):
    _no_extras("nanvar", dtype=dtype, out=out, where=where, mean=mean)
    if correction is not None and correction is not np._NoValue:
        ddof = correction
    keepdims = _flag(keepdims)
    if not _inexact(a):
        return (np.std if _sqrt else np.var)(a, axis=axis, ddof=ddof, keepdims=keepdims)
    missing = np.isnan(a)
    centered = np.where(missing, 0.0, a - _nanmean(a, axis=axis, keepdims=True))
    dof = _nan_count(a, axis, keepdims) - ddof
    squares = np.real(centered * np.conj(centered)) if is_complex(centered) else centered * centered  # |.|**2
    var = np.sum(squares, axis=axis, keepdims=keepdims) / np.where(dof > 0, dof, 1)
    var = np.where(dof > 0, var, np.nan)  # NumPy: NaN (and a warning) when no degrees of freedom remain
    return np.sqrt(var) if _sqrt else var


def _nanstd(*args, **kwargs):
    return _nanvar(*args, **kwargs, _sqrt=True)


def _nan_extremum(function, reduce, fill):
    name = function.__name__

    def handler(a, axis=None, out=None, keepdims=False, **unsupported):
        _no_extras(name, out=out, **unsupported)
        keepdims = _flag(keepdims)
        if not _inexact(a):
            return reduce(a, axis=axis, keepdims=keepdims)
        best = reduce(np.where(np.isnan(a), fill, a), axis=axis, keepdims=keepdims)
        # a slice of NaNs only gives NaN, as NumPy (which also warns)
        return np.where(_nan_count(a, axis, keepdims) == 0, np.nan, best)

    FUNCTIONS[function] = _meta(handler, caveat=_NAN + "; ties share the cotangent evenly")


_nan_extremum(np.nanmax, np.max, -np.inf)
_nan_extremum(np.nanmin, np.min, np.inf)


def _nan_arg(function, reduce, fill):
    def handler(a, axis=None, out=None, *, keepdims=False):
        _no_extras(function.__name__, out=out)
        a = np.where(np.isnan(a), fill, a) if _inexact(a) else a
        return reduce(a, axis=axis, keepdims=_flag(keepdims))

    FUNCTIONS[function] = _meta(handler, differentiable=False)


_nan_arg(np.nanargmax, np.argmax, -np.inf)
_nan_arg(np.nanargmin, np.argmin, np.inf)


def _nan_cumulative(function, neutral, cumulate):
    def handler(a, axis=None, dtype=None, out=None):
        _no_extras(function.__name__, dtype=dtype, out=out)
        return cumulate(np.where(np.isnan(a), neutral, a) if _inexact(a) else a, axis=axis)

    FUNCTIONS[function] = _meta(handler, caveat=_NAN + ("; zeros as np.cumprod" if cumulate is np.cumprod else ""))


_nan_cumulative(np.nancumsum, 0.0, np.cumsum)
_nan_cumulative(np.nancumprod, 1.0, np.cumprod)
FUNCTIONS.update({np.nanmean: _meta(_nanmean, caveat=_NAN), np.nanvar: _meta(_nanvar, caveat=_NAN), np.nanstd: _meta(
    _nanstd, caveat=_NAN + "; not differentiable where the standard deviation is 0 (NaN there)")})


# --- norms -----------------------------------------------------------------------------------

def _norm2_vjp(g, ans, x, axis, keepdims):
    # x / |x| (conj(x) / |x| for complex x, as abs), and 0 (a subgradient) where the norm is 0
    norm = _keep(ans, x, axis, keepdims)
    zero = norm == 0
    return np.where(zero, 0.0, _keep(g, x, axis, keepdims) / np.where(zero, 1.0, norm)) * (
        np.conj(x) if is_complex(x) else x)


def _emit_norm2(args, axis, keepdims):
    return call(np_attr("linalg.norm"), args, _emit_axis_params({"axis": axis, "keepdims": keepdims}))


# The Euclidean (vector) and Frobenius (matrix) norm: sqrt(sum(x ** 2)) over ``axis``.
norm2_p = Primitive("norm", lambda x, axis, keepdims: np.linalg.norm(
    x, axis=None if axis is None else (axis[0] if len(axis) == 1 else axis), keepdims=keepdims), _emit_norm2)
defvjp(norm2_p, _norm2_vjp)
norm2_p.caveat = "at 0 the gradient is 0 (a subgradient)"


def _to_float(x):
    return x if _inexact(x) else np.asarray(x, dtype=np.float64) if not hasattr(x, "astype") else x.astype(np.float64)


def _vector_norm(x, ord, axis, keepdims):
    """The ``ord``-norm of ``x`` over ``axis`` (a tuple of one axis, or None: every axis)."""
    if ord is None or ord == 2:
        return norm2_p.bind(x, axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(x != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for vectors")
    p = float(ord)
    return np.sum(np.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _matrix_norm(x, ord, rows, cols, keepdims):
    if ord is None or ord == "fro":
        return norm2_p.bind(x, axis=tuple(sorted((rows, cols))), keepdims=keepdims)
    if ord in ("nuc", 2, -2):  # through the singular values, where np.linalg.svd is supported
        moved = np.transpose(x, [i for i in range(x.ndim) if i not in (rows, cols)] + [rows, cols])
        s = np.linalg.svd(moved, compute_uv=False)
        out = {"nuc": np.sum, 2: np.max, -2: np.min}[ord](s, axis=-1)
    elif ord in (1, -1, np.inf, -np.inf):
        summed, over = (rows, cols) if ord in (1, -1) else (cols, rows)
        reduce = np.max if ord in (1, np.inf) else np.min
        out = reduce(np.sum(np.abs(x), axis=summed, keepdims=True), axis=over, keepdims=True)
    else:
        raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for matrices")
    shape = tuple(1 if i in (rows, cols) else n for i, n in enumerate(x.shape))
    if not keepdims:
        shape = tuple(n for i, n in enumerate(x.shape) if i not in (rows, cols))
    return np.reshape(out, shape)


def _norm(x, ord=None, axis=None, keepdims=False):
    x = _to_float(x)
    ndim = _ndim(x)
    if axis is None:
        if ord is None:
            return norm2_p.bind(x, axis=None, keepdims=_flag(keepdims))
        if ndim not in (1, 2):
            raise ValueError("np.linalg.norm: improper number of dimensions to norm")
        axis = tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    normalize_axis(axes, ndim, "np.linalg.norm")  # checks bounds and duplicates
    positions = tuple(int(a) % ndim for a in axes)  # in the given order: (rows, columns)
    if len(positions) == 1:
        return _vector_norm(x, ord, positions, _flag(keepdims))
    if len(positions) == 2:
        return _matrix_norm(x, ord, positions[0], positions[1], _flag(keepdims))
    raise ValueError("np.linalg.norm: improper number of dimensions to norm")


_NORM_CAVEAT = ("the 2-norm's gradient at 0 is 0; ord=0 counts (no gradient); matrix 'nuc' and ord=+-2 "
                "go through np.linalg.svd; max/min-based orders share ties evenly")
FUNCTIONS[np.linalg.norm] = _meta(_norm, caveat=_NORM_CAVEAT)
_norm.complex_values = "yes"  # (a complex matrix's singular values never bind svd_u / svd_vh: see linalg.py)


def _vector_norm_fn(x, /, *, axis=None, keepdims=False, ord=2):
    x = _to_float(x)
    if axis is None:  # every axis, whatever ord (unlike np.linalg.norm)
        out = _vector_norm(np.ravel(x), ord, (0,), False)
        return np.reshape(out, (1,) * _ndim(x)) if keepdims else out
    axes = normalize_axis(axis, _ndim(x), "np.linalg.vector_norm")
    if len(axes) > 1 and not (ord is None or ord == 2):
        raise NotImplementedError("np.linalg.vector_norm: ord other than 2 over several axes is not supported "
                                  "on traced values")
    return _vector_norm(x, ord, axes, _flag(keepdims))


def _matrix_norm_fn(x, /, *, keepdims=False, ord="fro"):
    x = _to_float(x)
    return _matrix_norm(x, ord, _ndim(x) - 2, _ndim(x) - 1, _flag(keepdims))


if hasattr(np.linalg, "vector_norm"):  # NumPy >= 2.0
    FUNCTIONS[np.linalg.vector_norm] = _meta(_vector_norm_fn, caveat=_NORM_CAVEAT)
    FUNCTIONS[np.linalg.matrix_norm] = _meta(_matrix_norm_fn, caveat=_NORM_CAVEAT)
    _matrix_norm_fn.complex_values = "yes"


# --- median, quantiles and percentiles (linear interpolation) --------------------------------
# The q-quantile of n values interpolates between the order statistics at floor and ceil of
# q * (n - 1), with weights 1 - t and t; the gradient goes to those entries (shared evenly among
# entries tied with them), found with np.quantile(..., method="lower" / "higher"). The NaN-ignoring
# versions (np.nanmedian, ...) do the same in each lane over its n entries that are not NaN.

def _order_statistic(name, function):
    def emit(args, q, axis, method):
        params = _emit_axis_params({"axis": axis, "keepdims": True})
        return call(np_attr(function), [args[0], py_literal(q)], {**params, "method": method})

    return Primitive(name, lambda x, q, axis, method: getattr(np, function)(x, q, axis=axis, method=method,
                                                                          keepdims=True), emit, differentiable=False)


order_statistic_p = _order_statistic("order_statistic", "quantile")
nan_order_statistic_p = _order_statistic("nan_order_statistic", "nanquantile")


def _fraction(q, function):
    if function.endswith("median"):
        return 0.5
    return float(q) / 100 if function.endswith("percentile") else float(q)


def _quantile_impl(x, q, axis, keepdims, function):
    if function.endswith("median"):
        return getattr(np, function)(x, axis=axis, keepdims=keepdims)
    return getattr(np, function)(x, q, axis=axis, keepdims=keepdims)


def _emit_quantile(args, q, axis, keepdims, function):
    first = [args[0]] if function.endswith("median") else [args[0], py_literal(q)]
    return call(np_attr(function), first, _emit_axis_params({"axis": axis, "keepdims": keepdims}))


def _quantile_weights(x, fraction, axis):
    """d quantile / d x for one quantile, with the reduced axes kept."""
    position = fraction * (_count(x, axis) - 1)
    t = position - math.floor(position)
    weights = 0.0
    for method, share in (("lower", 1.0 - t), ("higher", t)):
        if share:
            chosen = x == order_statistic_p.bind(x, q=fraction, axis=axis, method=method)
            weights = weights + np.where(chosen, share / np.sum(chosen, axis=axis, keepdims=True), 0.0)
    return weights


def _nanquantile_weights(x, fraction, axis):
    """The same, in each lane over its entries that are not NaN (NaN never equals an order statistic)."""
    position = fraction * (np.sum(~np.isnan(x), axis=axis, keepdims=True) - 1)
    t = position - np.floor(position)
    weights = 0.0
    for method, share in (("lower", 1.0 - t), ("higher", t)):
        chosen = x == nan_order_statistic_p.bind(x, q=fraction, axis=axis, method=method)
        # (a lane of NaNs chooses nothing: it divides by 1)
        weights = weights + np.where(chosen, share / np.maximum(np.sum(chosen, axis=axis, keepdims=True), 1), 0.0)
    return weights


def _quantile_vjp(g, ans, x, q, axis, keepdims, function):
    weights = _nanquantile_weights if function.startswith("nan") else _quantile_weights
    if not np.ndim(q):
        return _keep(g, x, axis, keepdims) * weights(x, _fraction(q, function), axis)
    qs = np.ravel(q).tolist()  # several quantiles: the leading axes of the output are q's
    g = np.reshape(g, (len(qs),) + tuple(np.shape(ans)[np.ndim(q):]))
    return sum(_keep(g[i], x, axis, keepdims) * weights(x, _fraction(qi, function), axis)
               for i, qi in enumerate(qs))


quantile_p = Primitive("quantile", _quantile_impl, _emit_quantile)
defvjp(quantile_p, _quantile_vjp)
quantile_p.complex_values = "real only"  # (np.median of complex values is a sort: _complex_median)
quantile_p.caveat = ("linear interpolation only; the gradient goes to the one or two order statistics, "
                     "shared evenly among entries tied with them")


def _static_q(q, function):
    if isinstance(q, Tracer):
        raise NotImplementedError(f"np.{function}: q must be a constant, not a traced value")
    if isinstance(q, (list, tuple, np.ndarray)):
        return _as_tuples(np.asarray(q, dtype=np.float64).tolist())
    return q  # a Python number or a NumPy scalar: NumPy's promotion sees it as the user wrote it


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def _quantile_like(function):
    def handler(a, q=None, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                weights=None, interpolation=None):
        _no_extras(function, out=out, weights=weights, interpolation=interpolation)
        if method != "linear":
            raise NotImplementedError(f"np.{function}: only method='linear' is supported on traced values")
        return quantile_p.bind(a, q=_static_q(q, function), axis=normalize_axis(axis, _ndim(a), f"np.{function}"),
                               keepdims=_flag(keepdims), function=function)

    return handler


def _complex_median(a, axis, keepdims):
    """As NumPy: the mean of the middle one or two of each lane's values in NumPy's order of
    complex numbers (by real, then imaginary part), written as a sort (whose rule is a
    permutation); a lane holding NaN gets that NaN, which sorts last."""
    reduced = _reduced_axes(a, axis)
    kept = [i for i in range(a.ndim) if i not in reduced]
    lanes = np.reshape(np.transpose(a, kept + list(reduced)), [a.shape[i] for i in kept] + [-1])
    ordered = np.sort(lanes, axis=-1)
    n = ordered.shape[-1]
    if not n:
        raise ValueError("np.median of an empty selection of a traced value: NumPy returns NaN and warns")
    last = ordered[..., -1]
    median = np.where(np.isnan(last), last, np.mean(ordered[..., (n - 1) // 2:n // 2 + 1], axis=-1))
    return np.reshape(median, [1 if i in reduced else a.shape[i] for i in range(a.ndim)]) if keepdims else median


def _median_like(function):
    def handler(a, axis=None, out=None, overwrite_input=False, keepdims=False):
        _no_extras(function, out=out)
        axis = normalize_axis(axis, _ndim(a), f"np.{function}")
        if _dtype(a).kind == "c":
            if function != "median":
                raise NotImplementedError(f"np.{function} of complex traced values is not supported; np.median "
                                          "is, where no entry is NaN")
            return _complex_median(a, axis, _flag(keepdims))
        return quantile_p.bind(a, q=None, axis=axis, keepdims=_flag(keepdims), function=function)

    handler.complex_values = "yes" if function == "median" else "no: np.median takes complex values"

    return handler


FUNCTIONS.update({np.median: _median_like("median"), np.quantile: _quantile_like("quantile"),
                  np.percentile: _quantile_like("percentile")})
FUNCTIONS.update({f: _meta(h, caveat=quantile_p.caveat + "; " + _NAN) for f, h in {
    np.nanmedian: _median_like("nanmedian"), np.nanquantile: _quantile_like("nanquantile"),
    np.nanpercentile: _quantile_like("nanpercentile")}.items()})


# --- integrals and covariances: compositions of the above ------------------------------------

def _trapezoid(y, x=None, dx=1.0, axis=-1):
    y = y if isinstance(y, Tracer) else np.asanyarray(y)
    ndim = _ndim(y)
    axis = normalize_axis(axis, ndim, "np.trapezoid")[0]
    if x is None:
        d = dx
    elif _ndim(x) == 1:  # coordinates along the axis
        d = np.diff(x)
        d = np.reshape(d, tuple(-1 if i == axis else 1 for i in range(ndim)))
    else:
        d = np.diff(x, axis=axis)
    upper = y[(slice(None),) * axis + (slice(1, None),)]
    lower = y[(slice(None),) * axis + (slice(None, -1),)]
    return np.sum(d * (upper + lower) / 2.0, axis=axis)


def _as_rows(a, dtype, rowvar):
    """``a`` as a 2-D array of variables (rows) by observations (columns), in ``dtype``."""
    a = a if _dtype(a) == dtype else (a.astype(dtype) if isinstance(a, Tracer) else np.asarray(a, dtype=dtype))
    a = np.reshape(a, (1, -1)) if _ndim(a) < 2 else a
    return a.T if not rowvar and np.shape(a)[0] != 1 else a


def _cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    m, y = (v if v is None or isinstance(v, Tracer) else np.asarray(v) for v in (m, y))
    if _ndim(m) > 2 or (y is not None and _ndim(y) > 2):
        raise ValueError("np.cov: m and y may have at most 2 dimensions")
    if ddof is not None and ddof != int(ddof):
        raise ValueError("np.cov: ddof must be integer")
    if dtype is None:
        dtype = np.result_type(*(_dtype(a) for a in (m, y) if a is not None), np.float64)
    X = _as_rows(m, dtype, rowvar)
    if np.shape(X)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        X = np.concatenate([X, _as_rows(y, dtype, rowvar)], axis=0)
    ddof = (0 if bias else 1) if ddof is None else int(ddof)
    n = np.shape(X)[1]
    w = None
    for name, weights in (("fweights", fweights), ("aweights", aweights)):
        if weights is not None:
            if _ndim(weights) != 1 or np.shape(weights)[0] != n:
                raise ValueError(f"np.cov: {name} must be 1-D with one weight per observation ({n})")
            if is_complex(weights):
                raise TypeError(f"np.cov: {name} must be real")
            w = weights if w is None else w * weights
    avg, w_sum = np.average(X, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact = n - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * np.sum(w * aweights) / w_sum
    if fact <= 0:  # NumPy warns and divides by 0 (traced weights: a guard on their sum)
        fact = 0.0
    X = X - avg[:, None]
    c = (X @ conj(X if w is None else X * w).T) * np.true_divide(1, fact)  # (NumPy conjugates: X X^H)
    return np.squeeze(c if _dtype(c) == dtype else c.astype(dtype))  # NumPy scales in place, in dtype


def _corrcoef(x, y=None, rowvar=True, bias=np._NoValue, ddof=np._NoValue, *, dtype=None):
    c = _cov(x, y, rowvar, dtype=dtype)
    if _ndim(c) == 0:  # one variable: NumPy returns c / c
        return c / c
    stddev = np.sqrt(np.real(np.diagonal(c)))
    c = c / stddev[:, None] / stddev[None, :]
    if is_complex(c):  # NumPy clips the real and imaginary parts
        return np.clip(np.real(c), -1, 1) + 1j * np.clip(np.imag(c), -1, 1)
    return np.clip(c, -1, 1)  # rounding may step outside [-1, 1]: NumPy clips too


FUNCTIONS.update({
    np.trapezoid: _meta(_trapezoid, caveat="differentiable in y, x and dx"),
    np.cov: _meta(_cov, caveat="differentiable in m, y and the weights"),
    np.corrcoef: _meta(_corrcoef, caveat="clipped to [-1, 1] as NumPy: exactly correlated variables (|r| = 1) "
                                         "get half of their gradient, as np.clip at a bound"),
})
