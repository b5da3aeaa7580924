"""Every differentiable primitive's VJP rule, checked against finite differences.

Elementwise ufuncs are found in the primitive registry and checked through the NumPy ufunc over
broadcast operand shapes drawn by hypothesis. The other primitives have explicit cases in CASES.
test_every_differentiable_primitive_has_a_test keeps both in step with REGISTRY.
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tracediff as td
from tracediff import abstract
from rule_cases import Case, _add, _set, family_cases
from tracediff.primitives import REGISTRY
from tracediff.primitives.core import UFUNCS
from tracediff.primitives.indexing import scatter_add_p, split_index
from tracediff.testing import check_grads, numerical_vjp

DTYPES = [np.float32, np.float64]
# Derandomized: CI runs the same examples every time, so a failure can always be reproduced.
HYPOTHESIS = settings(max_examples=20, deadline=None, derandomize=True)

# name -> ufunc, for every differentiable elementwise primitive users reach through a ufunc
ELEMENTWISE = {p.name: uf for uf, p in UFUNCS.items() if p.elementwise and p.differentiable}


def _diff_argnums(prim, n_args: int) -> tuple:
    return tuple(i for i in range(n_args) if prim.rule(i) is not None)


def check_through_grad(fun, args, argnums):
    """Check ``fun``'s gradient through td.grad against finite differences, as check_grads does
    through td.vjp. td.grad's backward pass starts from a constant, so rules run on plain NumPy
    values until they meet a traced one; check_grads passes a traced cotangent and never does."""
    w = np.random.default_rng(1).standard_normal(np.shape(fun(*args)))
    grads = td.grad(lambda *xs: np.sum(fun(*xs) * w), argnums=argnums)(*args)
    for n, g in zip(argnums, grads):
        (numeric,) = numerical_vjp(fun, args, n, w)
        dtype = np.result_type(args[n])
        tol = 2e-3 if dtype == np.float32 else 1e-6  # as check_grads
        assert np.result_type(g) == dtype
        np.testing.assert_allclose(np.asarray(g, np.float64), numeric, rtol=tol,
                                   atol=tol * max(1.0, np.abs(numeric).max()),
                                   strict=True, err_msg=f"argument {n}")  # strict: shapes must match


# --- elementwise: broadcasting shapes x dtypes -----------------------------------------------

SHAPE_KINDS = {
    "scalar": lambda m, n: (),
    "row": lambda m, n: (1, n),
    "column": lambda m, n: (m, 1),
    "full": lambda m, n: (m, n),
    "1-D": lambda m, n: (n,),
}


def _elements(name: str, position: int, low: float, high: float):
    """Values for operand ``position`` of ``name``, away from points where the function has a kink
    (finite differences straddling a kink measure neither side)."""
    if name in ("maximum", "minimum", "fmax", "fmin", "remainder", "fmod"):
        # x on odd multiples of 0.05, y on multiples of 0.1: |x - y| >= 0.05, never a tie; and
        # |x - n y| >= 0.05 for every integer n, so x stays away from the jumps of x % y (y != 0)
        if position == 0:
            return st.integers(-19, 19).map(lambda k: k / 10 + 0.05)
        return st.integers(-19, 19).filter(lambda k: k or name not in ("remainder", "fmod")).map(lambda k: k / 10)
    if name in ("abs", "fabs", "copysign", "hypot", "arctan2"):  # kinks, cuts or poles at 0
        return st.floats(0.05, high) | st.floats(low, -0.05)
    if name in INTEGER_ORDER and position == 0:  # SciPy truncates a fractional order, with a warning
        return st.integers(int(np.ceil(low)), int(high)).map(float)
    return st.floats(low, high)


INTEGER_ORDER = ("yn",)  # functions whose first operand is an integer order


def _draw_args(data, name, kinds, dtype):
    m, n = data.draw(st.integers(1, 4), "m"), data.draw(st.integers(1, 4), "n")
    low, high = REGISTRY[name].domain
    return tuple(
        data.draw(arrays(np.float64, SHAPE_KINDS[kind](m, n), elements=_elements(name, i, low, high)),
                  f"arg{i}").astype(dtype)
        for i, kind in enumerate(kinds)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@HYPOTHESIS
@given(data=st.data())
def test_elementwise(name, dtype, data):
    ufunc = ELEMENTWISE[name]
    kinds = data.draw(st.tuples(*[st.sampled_from(sorted(SHAPE_KINDS))] * ufunc.nin), "kinds")
    args = _draw_args(data, name, kinds, dtype)
    check_grads(lambda *xs: ufunc(*xs), *args, argnums=_diff_argnums(REGISTRY[name], ufunc.nin))


@pytest.mark.parametrize("kinds", list(itertools.product(SHAPE_KINDS, repeat=2)), ids="x".join)
def test_binary_broadcasting(kinds):
    """Every pair of shape kinds for every binary ufunc, so row x column etc. are always checked
    (test_elementwise draws pairs at random)."""
    rng = np.random.default_rng(0)
    for name, ufunc in sorted(ELEMENTWISE.items()):
        if ufunc.nin != 2:
            continue
        low, high = REGISTRY[name].domain
        shapes = [SHAPE_KINDS[k](3, 4) for k in kinds]
        args = [rng.uniform(low, high, s) for s in shapes]
        if name in INTEGER_ORDER:
            args[0] = np.round(args[0])
        if name in ("maximum", "minimum", "fmax", "fmin", "remainder", "fmod"):
            # no ties, no jumps of x % y: x on odd multiples of 0.05, y on non-zero multiples of 0.1
            y = np.round(args[1] * 10) / 10
            args = [np.round(args[0] * 10) / 10 + 0.05, np.where(y == 0, 0.1, y)]
        for dtype in DTYPES:
            typed, argnums = [a.astype(dtype) for a in args], _diff_argnums(REGISTRY[name], 2)
            check_grads(lambda *xs: ufunc(*xs), *typed, argnums=argnums)
            check_through_grad(lambda *xs: ufunc(*xs), typed, argnums)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maximum_minimum_split_ties(dtype):
    # At a tie each side gets half of the cotangent (by design); elsewhere the winner gets all of it.
    x = np.array([1.0, 2.0, 3.0], dtype)
    y = np.array([1.0, 0.0, 5.0], dtype)
    w = np.array([1.0, 2.0, 4.0], dtype)  # distinct weights show which entry got which share
    gx, gy = td.grad(lambda x, y: np.sum(w * np.maximum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 2.0, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 4.0])
    gx, gy = td.grad(lambda x, y: np.sum(w * np.minimum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 0.0, 4.0])
    np.testing.assert_array_equal(gy, [0.5, 2.0, 0.0])


def test_maximum_of_nan_has_a_nan_gradient():
    # np.maximum propagates NaN: its derivative there is undefined, never a silent 0 or 1
    gx, gy = td.grad(lambda x, y: np.sum(np.maximum(x, y)), argnums=(0, 1))(np.array([np.nan, 1.0]), np.zeros(2))
    assert np.isnan(gx[0]) and np.isnan(gy[0]) and (gx[1], gy[1]) == (1.0, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_min_reductions_split_ties(dtype):
    # The cotangent of a max/min is shared evenly by the entries that tie for it (by design).
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], dtype)
    g = td.grad(lambda x: np.max(x))(x)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    w = np.array([1.0, 4.0], dtype)
    g = td.grad(lambda x: np.sum(w * np.max(x, axis=1)))(x)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [2.0, 0.0, 2.0]])
    w = np.array([1.0, 2.0, 4.0], dtype)
    g = td.grad(lambda x: np.sum(w * np.min(x, axis=0, keepdims=True)))(x)
    np.testing.assert_array_equal(g, [[1.0, 0.0, 0.0], [0.0, 2.0, 4.0]])


# --- the other primitives: explicit cases --------------------------------------------------


def _copy_then(write):
    """``x[...] = v`` or ``x[...] += v`` on a copy, then a non-linear read so every entry matters."""
    def fun(x, v):
        # Finite differences perturb v in float64; written into a float32 x the step would round away.
        x = x.astype(np.result_type(x.dtype, getattr(v, "dtype", x.dtype))).copy()
        write(x, v)
        return x * x
    return fun


def _add_through_view(index):
    def write(x, v):
        view = x[index]  # a view in NumPy (basic indexing): += on it writes into x
        view += v
    return write


def _scatter_add(index, shape):
    # scatter_add is internal (the cotangent of x[index]); bind it directly to check its own rule
    template, operands = split_index(index, 1)
    return lambda g: scatter_add_p.bind(g, *operands, index=template, shape=shape, dtype=g.dtype)


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
ROWS = np.array([True, False, True])

CASES = [
    # reductions
    Case("sum", "all", lambda x: np.sum(x), lambda r: (r(3, 4),)),
    Case("sum", "axis=0", lambda x: np.sum(x, axis=0), lambda r: (r(3, 4),)),
    Case("sum", "axis=-1 keepdims", lambda x: np.sum(x, axis=-1, keepdims=True), lambda r: (r(3, 4),)),
    Case("sum", "axis=(0, 2)", lambda x: np.sum(x, axis=(0, 2)), lambda r: (r(2, 3, 4),)),
    Case("sum", "axis=(-1, 0) keepdims", lambda x: x.sum(axis=(-1, 0), keepdims=True), lambda r: (r(2, 3, 4),)),
    Case("sum", "None keepdims", lambda x: np.sum(x, keepdims=True), lambda r: (r(2, 3),)),
    Case("sum", "of 0-d", lambda x: np.sum(x), lambda r: (r(),)),
    Case("mean", "all", lambda x: np.mean(x), lambda r: (r(3, 4),)),
    Case("mean", "axis=1", lambda x: np.mean(x, axis=1), lambda r: (r(3, 4),)),
    Case("mean", "axis=-2 keepdims", lambda x: x.mean(axis=-2, keepdims=True), lambda r: (r(2, 3, 4),)),
    Case("mean", "axis=(0, -1)", lambda x: np.mean(x, axis=(0, -1)), lambda r: (r(2, 3, 4),)),
    Case("mean", "axis=(1, 2) keepdims", lambda x: np.mean(x, axis=(1, 2), keepdims=True), lambda r: (r(2, 3, 4),)),
    # (random values: no ties, see test_max_min_reductions_split_ties)
    Case("max", "all", lambda x: np.max(x), lambda r: (r(3, 4),)),
    Case("max", "axis=0", lambda x: np.max(x, axis=0), lambda r: (r(3, 4),)),
    Case("max", "axis=-1 keepdims", lambda x: x.max(axis=-1, keepdims=True), lambda r: (r(2, 3, 4),)),
    Case("max", "axis=(0, 2)", lambda x: np.max(x, axis=(0, 2)), lambda r: (r(2, 3, 4),)),
    Case("min", "all keepdims", lambda x: np.min(x, keepdims=True), lambda r: (r(3, 4),)),
    Case("min", "axis=1", lambda x: x.min(axis=1), lambda r: (r(3, 4),)),
    Case("min", "axis=(-1, 0) keepdims", lambda x: np.min(x, axis=(-1, 0), keepdims=True), lambda r: (r(2, 3, 4),)),
    # shapes
    Case("reshape", "x.reshape(4, 3)", lambda x: x.reshape(4, 3), lambda r: (r(3, 4),)),
    Case("reshape", "np.reshape -1", lambda x: np.reshape(x, (2, -1, 3)), lambda r: (r(3, 4),)),
    Case("reshape", "ravel", lambda x: x.ravel(), lambda r: (r(2, 3, 2),)),
    Case("reshape", "expand_dims", lambda x: np.expand_dims(x, 1), lambda r: (r(3, 4),)),
    Case("reshape", "squeeze", lambda x: np.squeeze(x), lambda r: (r(3, 1, 4),)),
    Case("transpose", ".T", lambda x: x.T, lambda r: (r(3, 4),)),
    Case("transpose", ".T of 3-D", lambda x: x.T, lambda r: (r(2, 3, 4),)),
    Case("transpose", "axes=(1, 2, 0)", lambda x: np.transpose(x, (1, 2, 0)), lambda r: (r(2, 3, 4),)),
    Case("transpose", "x.transpose(2, 0, 1)", lambda x: x.transpose(2, 0, 1), lambda r: (r(2, 3, 4),)),
    Case("transpose", "swapaxes(0, 2)", lambda x: np.swapaxes(x, 0, 2), lambda r: (r(2, 3, 4),)),
    Case("transpose", "x.swapaxes(-1, -2)", lambda x: x.swapaxes(-1, -2), lambda r: (r(2, 3, 4),)),
    Case("broadcast_to", "(3, 1) -> (2, 3, 4)", lambda x: np.broadcast_to(x, (2, 3, 4)), lambda r: (r(3, 1),)),
    Case("broadcast_to", "(4,) -> (3, 4)", lambda x: np.broadcast_to(x, (3, 4)), lambda r: (r(4),)),
    Case("broadcast_to", "() -> (2, 2)", lambda x: np.broadcast_to(x, (2, 2)), lambda r: (r(),)),
    Case("copy", "np.copy", lambda x: np.copy(x) * x, lambda r: (r(3, 4),)),
    Case("copy", "x.copy()", lambda x: x.copy(), lambda r: (r(3, 4),)),
    Case("stack", "axis=0", lambda a, b, c: np.stack([a, b, c]), lambda r: (r(2, 3), r(2, 3), r(2, 3)), (0, 1, 2)),
    Case("stack", "axis=1", lambda a, b: np.stack([a, b], axis=1), lambda r: (r(2, 3), r(2, 3)), (0, 1)),
    Case("stack", "axis=-1, reused operand", lambda a, b: np.stack((a, b, a), axis=-1),
         lambda r: (r(2, 3), r(2, 3)), (0, 1)),
    Case("concatenate", "axis=0", lambda a, b: np.concatenate([a, b]), lambda r: (r(2, 3), r(4, 3)), (0, 1)),
    Case("concatenate", "axis=1", lambda a, b, c: np.concatenate([a, b, c], axis=1),
         lambda r: (r(3, 2), r(3, 1), r(3, 4)), (0, 1, 2)),
    Case("concatenate", "axis=-1 1-D", lambda a, b: np.concatenate((a, b), axis=-1), lambda r: (r(3), r(2)), (0, 1)),
    # indexing
    Case("getitem", "x[1]", lambda x: x[1], lambda r: (r(3, 4),)),
    Case("getitem", "x[-1, 2]", lambda x: x[-1, 2], lambda r: (r(3, 4),)),
    Case("getitem", "x[1:3]", lambda x: x[1:3], lambda r: (r(4, 3),)),
    Case("getitem", "x[::-1]", lambda x: x[::-1], lambda r: (r(4, 3),)),
    Case("getitem", "x[::-2, 1:]", lambda x: x[::-2, 1:], lambda r: (r(5, 3),)),
    Case("getitem", "x[None, 1]", lambda x: x[None, 1], lambda r: (r(3, 4),)),
    Case("getitem", "x[..., 1]", lambda x: x[..., 1], lambda r: (r(2, 3, 4),)),
    Case("getitem", "x[:, None, ::2]", lambda x: x[:, None, ::2], lambda r: (r(3, 4),)),
    Case("getitem", "x[1, ..., None, -2:]", lambda x: x[1, ..., None, -2:], lambda r: (r(2, 3, 4),)),
    Case("getitem", "repeated int list", lambda x: x[[0, 2, 0, 0]], lambda r: (r(3, 4),)),
    Case("getitem", "2-D int array", lambda x: x[np.array([[0, 1], [1, 1]])], lambda r: (r(3,),)),
    Case("getitem", "two int arrays", lambda x: x[[0, 1, 1, 0], [2, 0, 2, 2]], lambda r: (r(3, 4),)),
    Case("getitem", "slice + repeated ints", lambda x: x[1:, [0, 0, -1]], lambda r: (r(3, 4),)),
    Case("getitem", "Ellipsis + negative ints", lambda x: x[..., [-1, 0, -1]], lambda r: (r(2, 3, 4),)),
    Case("getitem", "2-D mask", lambda x: x[MASK], lambda r: (r(3, 4),)),
    Case("getitem", "row mask", lambda x: x[ROWS], lambda r: (r(3, 4),)),
    Case("getitem", "traced mask", lambda x: x[x > 0.5], lambda r: (r(3, 4),)),
    Case("getitem", "iterating rows", lambda x: np.stack([row * i for i, row in enumerate(x)]), lambda r: (r(3, 2),)),
    Case("scatter_add", "slice", _scatter_add((slice(1, 3),), (4, 3)), lambda r: (r(2, 3),)),
    Case("scatter_add", "repeated ints", _scatter_add(([0, 2, 0],), (4, 3)), lambda r: (r(3, 3),)),
    Case("setitem", "x[1] = v", _copy_then(_set(1)), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[1:, ::-1] = v, v broadcast", _copy_then(_set((slice(1, None), slice(None, None, -1)))),
         lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[..., 0] = v, v 0-d", _copy_then(_set((Ellipsis, 0))), lambda r: (r(3, 4), r()), (0, 1)),
    Case("setitem", "x[None, 2] = v", _copy_then(_set((None, 2))), lambda r: (r(3, 4), r(1, 4)), (0, 1)),
    Case("setitem", "x[[0, 2]] = v", _copy_then(_set([0, 2])), lambda r: (r(3, 4), r(2, 4)), (0, 1)),
    Case("setitem", "x[:, [3, 0]] = v", _copy_then(_set((slice(None), [3, 0]))), lambda r: (r(3, 4), r(3, 2)), (0, 1)),
    Case("setitem", "x[mask] = v", _copy_then(_set(MASK)), lambda r: (r(3, 4), r(int(MASK.sum()))), (0, 1)),
    Case("setitem", "x[mask] = v, v 0-d", _copy_then(_set(MASK)), lambda r: (r(3, 4), r()), (0, 1)),
    Case("setitem", "x[1] += v", _copy_then(_add(1)), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[:, 1:3] += v", _copy_then(_add((slice(None), slice(1, 3)))),
         lambda r: (r(3, 4), r(3, 2)), (0, 1)),
    Case("setitem", "x[[0, 2]] += v", _copy_then(_add([0, 2])), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("setitem", "x[mask] += v", _copy_then(_add(MASK)), lambda r: (r(3, 4), r(int(MASK.sum()))), (0, 1)),
    Case("setitem", "row = x[1]; row += v", _copy_then(_add_through_view(1)), lambda r: (r(3, 4), r(4)), (0, 1)),
    # products: every branch of the matmul rules
    Case("matmul", "1-D @ 1-D", lambda a, b: a @ b, lambda r: (r(3), r(3)), (0, 1)),
    Case("matmul", "1-D @ 2-D", lambda a, b: a @ b, lambda r: (r(3), r(3, 4)), (0, 1)),
    Case("matmul", "2-D @ 1-D", lambda a, b: a @ b, lambda r: (r(2, 3), r(3)), (0, 1)),
    Case("matmul", "2-D @ 2-D", lambda a, b: a @ b, lambda r: (r(2, 3), r(3, 4)), (0, 1)),
    Case("matmul", "3-D @ 3-D", lambda a, b: np.matmul(a, b), lambda r: (r(2, 2, 3), r(2, 3, 4)), (0, 1)),
    Case("matmul", "3-D @ 2-D", lambda a, b: a @ b, lambda r: (r(2, 2, 3), r(3, 4)), (0, 1)),
    Case("matmul", "2-D @ 3-D", lambda a, b: a @ b, lambda r: (r(2, 3), r(2, 3, 4)), (0, 1)),
    Case("matmul", "1-D @ 3-D", lambda a, b: a @ b, lambda r: (r(3), r(2, 3, 4)), (0, 1)),
    Case("matmul", "3-D @ 1-D", lambda a, b: a @ b, lambda r: (r(2, 4, 3), r(3)), (0, 1)),
    Case("matmul", "np.dot 1-D 1-D", lambda a, b: np.dot(a, b), lambda r: (r(3), r(3)), (0, 1)),
    Case("matmul", "np.dot 1-D 2-D", lambda a, b: np.dot(a, b), lambda r: (r(3), r(3, 2)), (0, 1)),
    Case("matmul", "np.dot 2-D 1-D", lambda a, b: np.dot(a, b), lambda r: (r(2, 3), r(3)), (0, 1)),
    Case("matmul", "x.dot 2-D 2-D", lambda a, b: a.dot(b), lambda r: (r(2, 3), r(3, 2)), (0, 1)),
    Case("matmul", "x.T @ x", lambda a: a.T @ a, lambda r: (r(3, 2),)),
    # selection (where is elementwise, but no ufunc reaches it)
    Case("where", "constant mask", lambda x, y: np.where(MASK, x, y), lambda r: (r(3, 4), r(3, 4)), (0, 1)),
    Case("where", "broadcast column/row/0-d", lambda c, x, y: np.where(c > 0, x, y),
         lambda r: (r(3, 1), r(1, 4), r()), (1, 2)),
    Case("where", "Python float branch", lambda x: np.where(ROWS[:, None], x, 0.5), lambda r: (r(3, 4),)),
    Case("where", "leaky relu", lambda x: np.where(x > 0, x, 0.1 * x), lambda r: (r(3, 4),)),
    # casts: float32 -> float64 -> float32 when the argument is float32 (finite differences run
    # in float64, where both casts are no-ops; a float64 -> float32 cast alone can't be
    # finite-differenced, see test_astype_float64_to_float32)
    Case("astype", "float32 <-> float64", lambda x: (x.astype(np.float64) * x).astype(x.dtype),
         lambda r: (r(3, 4),)),
    Case("astype", "up to float64", lambda x: np.sin(x.astype(np.float64)), lambda r: (r(3, 4),)),
] + family_cases()  # the other families' tables, in tests/rule_cases/

# Differentiable primitives users cannot reach, so they have no case here (name -> why).
# (scatter_add is internal too, but bound directly above.)
EXEMPT: dict = {
    "recompute": "made by reverse mode only, where a td.checkpoint block starts again; its rule is "
                 "the identity, checked through checkpoints in tests/test_checkpoint.py (also at order 2)",
}


def _rand(prim: str, dtype, seed: int):
    rng = np.random.default_rng(seed)
    low, high = REGISTRY[prim].domain
    return lambda *shape: rng.uniform(low, high, shape).astype(dtype)


def _case_args(case, dtype):
    return case.args(_rand(case.prim, dtype, seed=zlib.crc32(case.label.encode())))


CASE_IDS = [f"{c.prim}: {c.label}" for c in CASES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case(case, dtype):
    check_grads(case.fun, *_case_args(case, dtype), argnums=case.argnums)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_through_grad(case, dtype):
    check_through_grad(case.fun, _case_args(case, dtype), case.argnums)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_uses_its_primitive(case):
    # A case only counts for its primitive if tracing it really records that primitive.
    graph = td.trace(case.fun, *_case_args(case, np.float64))
    assert case.prim in {node.primitive.name for node in graph.nodes}, str(graph)


def test_every_differentiable_primitive_has_a_test():
    covered = set(ELEMENTWISE) | {c.prim for c in CASES} | set(EXEMPT)
    missing = sorted(name for name, p in REGISTRY.items() if p.differentiable and name not in covered)
    assert not missing, f"differentiable primitives without a test in tests/test_rules.py: {missing}"


def test_exemptions_are_still_needed():
    # An exemption for a primitive that no longer exists, or that now has a case, hides nothing: drop it.
    stale = sorted(n for n in EXEMPT if n not in REGISTRY or n in {c.prim for c in CASES} | set(ELEMENTWISE))
    assert not stale


# --- dtypes ----------------------------------------------------------------------------------

DTYPE_CASES = {
    "ufuncs with Python floats": lambda x: np.sum(np.sin(x) * x / 3.0 + 0.5),
    "broadcast against float64 constant": lambda x: np.sum(x * np.linspace(0, 1, 4)),
    "maximum": lambda x: np.sum(np.maximum(x, 0.1)),
    "matmul + mean": lambda x: np.mean(x.T @ x),
    "getitem + power": lambda x: np.sum(x[::-1, [0, 0]] ** 2),
    "where": lambda x: np.sum(np.where(x > 0, x, 0.5 * x)),
    "astype float64": lambda x: np.sum(x.astype(np.float64) ** 2),
    "stack": lambda x: np.sum(np.stack([x, 2 * x]) ** 2),
    "setitem": lambda x: np.sum(_copy_then(_set(0))(x, 1.0)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", DTYPE_CASES)
def test_gradient_keeps_input_dtype(name, dtype):
    x = np.random.default_rng(0).uniform(-2, 2, (3, 4)).astype(dtype)
    g = td.grad(DTYPE_CASES[name])(x)
    assert g.dtype == dtype and g.shape == x.shape


def test_astype_float64_to_float32():
    # d/dx sum(w * float32(x)) = w exactly; the gradient comes back in x's dtype, float64.
    w = np.array([0.5, -2.0, 3.0], np.float32)
    g = td.grad(lambda x: np.sum(w * x.astype(np.float32)))(np.array([0.1, 0.2, 0.3]))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [0.5, -2.0, 3.0])


# --- second order: every case whose rule is twice differentiable there -------------------

# (primitive, label) -> why its second derivative is not checked at these points
FIRST_ORDER_ONLY = {
    ("sinc", "through 0"): "the rule's own derivative at exactly 0 is 0 (true value -pi**2/3)",
    ("prod", "zeros: one, two, none per row"): "exact zeros: the product-of-the-others rule is exact "
                                               "to first order only",
    ("prod", "zeros, all"): "exact zeros, as above",
    ("prod", "zeros, axis=0 keepdims"): "exact zeros, as above",
    ("cumprod", "zeros first, last, twice"): "exact zeros, as above",
    ("cumprod", "zeros, axis=None"): "exact zeros, as above",
}
SECOND_ORDER_CASES = [c for c in CASES if (c.prim, c.label) not in FIRST_ORDER_ONLY]


@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=[f"{c.prim}: {c.label}" for c in SECOND_ORDER_CASES])
def test_case_second_order(case):
    check_grads(case.fun, *_case_args(case, np.float64), argnums=case.argnums, order=2)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_built_from_shapes(case, monkeypatch):
    """Every rule recorded from shapes and dtypes (abstract.py, for values of any size), each
    value also computed and checked against the shape and dtype worked out; then the gradient
    against finite differences. (First order here, for CI's time: the whole suite, second order
    included, passes with TRACEDIFF_CHECK_SHAPES=1, and the fuzzer builds from shapes at order 2.)"""
    monkeypatch.setattr(abstract, "CHECK_SHAPES", True)
    check_grads(case.fun, *_case_args(case, np.float64), argnums=case.argnums)


@pytest.mark.parametrize("key", sorted(FIRST_ORDER_ONLY))
def test_first_order_only_cases_really_are(key):
    # an exemption that starts passing must be removed, so the table stays honest
    (case,) = [c for c in CASES if (c.prim, c.label) == key]
    with pytest.raises(AssertionError):
        check_grads(case.fun, *_case_args(case, np.float64), argnums=case.argnums, order=2)


# --- reductions: hypothesis-drawn shapes, axes and keepdims -------------------------------

REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": np.var, "std": np.std, "ptp": np.ptp, "nansum": np.nansum, "nanmean": np.nanmean,
    "logsumexp-like": lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
}


@st.composite
def _shape_axis_keepdims(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
            lambda axes: tuple(a - ndim if i % 2 else a for i, a in enumerate(axes))),  # some negative
    ))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@HYPOTHESIS
@given(data=st.data())
def test_reductions_over_drawn_axes(name, dtype, data):
    shape, axis, keepdims = data.draw(_shape_axis_keepdims(), "shape, axis, keepdims")
    # distinct values (no ties in max/min/ptp), away from zero (var/std of near-constant data)
    values = np.random.default_rng(len(shape)).permutation(int(np.prod(shape))) / max(1, np.prod(shape))
    x = (values.reshape(shape) + 0.5).astype(dtype)
    function = REDUCTIONS[name]
    check_grads(lambda x: function(x, axis=axis, keepdims=keepdims), x)


# --- Jacobians: every case's backward pass, batched over all output rows at once --------------

def _real_output(fun):
    """``fun`` with a complex output split into its real and imaginary parts (a Jacobian needs a
    real output)."""
    def real(*xs):
        out = fun(*xs)
        return np.stack([np.real(out), np.imag(out)]) if np.iscomplexobj(out) else out
    return real


def numerical_jacobian(fun, args, n):
    """Central differences of every output entry with respect to ``args[n]``: out.shape + arg.shape."""
    base = np.asarray(args[n], np.float64)
    columns = []
    for idx in np.ndindex(base.shape):
        h = 1e-6 * max(1.0, abs(base[idx]))
        ends = []
        for step in (h, -h):
            moved = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            moved[n] = base.copy()
            moved[n][idx] += step
            ends.append(np.asarray(fun(*moved), np.float64))
        columns.append((ends[0] - ends[1]) / (2 * h))
    out_shape = np.shape(fun(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]))
    return np.moveaxis(np.array(columns), 0, -1).reshape(out_shape + base.shape)


def _assert_close(value, numeric, what):
    np.testing.assert_allclose(value, numeric, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(numeric).max(initial=0)),
                               strict=True, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_jacobian(case):
    fun, args = _real_output(case.fun), _case_args(case, np.float64)
    jac = td.jacobian(fun, argnums=case.argnums)
    for n, J in zip(case.argnums, jac(*args)):
        _assert_close(J, numerical_jacobian(fun, args, n), f"argument {n}")
    written = jac._spec_for(args, {}).extra["written_per_row"]
    assert not written, f"applied row by row (no batching rule): {written}"


@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=[f"{c.prim}: {c.label}" for c in SECOND_ORDER_CASES])
def test_case_hessian(case):
    # The Hessian of a projection of the case, against finite differences of its gradient.
    fun, args, n = _real_output(case.fun), _case_args(case, np.float64), case.argnums[0]
    w = np.random.default_rng(2).standard_normal(np.shape(fun(*args)))

    def projected(*xs):
        return np.sum(fun(*xs) * w)

    hessian = td.hessian(projected, argnums=n)
    _assert_close(hessian(*args), numerical_jacobian(td.grad(projected, argnums=n), args, n), "Hessian")
    written = hessian._spec_for(args, {}).extra["written_per_row"]
    assert not written, f"applied row by row (no batching rule): {written}"
