"""User-style functions built from shape, assembly and indexing operations, differentiated and
checked against finite differences; plus the behaviours around them that NumPy users rely on
(in-place sort, flatten's copy, put_along_axis in place, guards on value-dependent sizes, exact
gradients for repeated computed indices on cached calls) and second derivatives through the
rules of tracediff/primitives/shape.py and indexing.py."""
from __future__ import annotations

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

RNG = np.random.default_rng(20240401)


# --- the corpus --------------------------------------------------------------------------------

def im2col_conv(image, kernels):
    """A 2-D convolution (valid, stride 1) as im2col + matmul: patches from slices, stacked and
    reshaped, channels moved with transpose."""
    c, h, w = image.shape
    n, _, kh, kw = kernels.shape
    oh, ow = h - kh + 1, w - kw + 1
    patches = np.stack([image[:, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)], axis=1)
    cols = patches.reshape(c * kh * kw, oh * ow)  # (c, kh*kw, oh, ow) -> (c*kh*kw, oh*ow)
    out = kernels.reshape(n, -1) @ cols
    out = out.reshape(n, oh, ow).transpose(1, 2, 0)  # channels last
    return np.sum(np.tanh(out) ** 2)


def padded_conv1d(signal, taps):
    """'same' 1-D convolution with zero padding, written as a sum of shifted slices."""
    k = taps.shape[0]
    padded = np.pad(signal, (k // 2, k - 1 - k // 2))
    n = signal.shape[0]
    out = sum(taps[j] * padded[j:j + n] for j in range(k))
    return np.sum(out ** 2)


def topk_mean(scores, k=3):
    """Mean of the k largest scores of each row (through np.sort)."""
    top = np.sort(scores, axis=-1)[:, -k:]
    return np.mean(top ** 2)


def softmax_cross_entropy(logits, labels):
    """One-hot labels by equality with np.arange, and the same loss gathered with
    take_along_axis: both must agree and differentiate."""
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    one_hot = labels[:, None] == np.arange(logits.shape[1])
    dense = -np.sum(np.where(one_hot, log_probs, 0.0)) / logits.shape[0]
    picked = np.take_along_axis(log_probs, labels[:, None], axis=1)
    return dense - 0.5 * np.mean(picked)


def masked_mean(x, threshold=0.0):
    """Mean of the entries above a threshold, via a computed mask (its size is guarded)."""
    mask = x > threshold
    return np.sum(x[mask] ** 2) / np.count_nonzero(mask) + np.mean(np.where(mask, x, 0.0))


def message_passing(h, weights, src, dst):
    """Graph message passing: gather at the sources, scatter-add at the destinations with
    x[idx] += v in a loop (repeated destinations)."""
    for w in weights:
        messages = np.tanh(h[src] @ w)
        out = h.copy()
        for e in range(len(src)):
            out[dst[e]] += messages[e]
        h = out
    return np.sum(h ** 2)


def laplacian_energy(u):
    """Periodic finite-difference Laplacian with np.roll, and its Dirichlet energy."""
    lap = (np.roll(u, 1, axis=0) + np.roll(u, -1, axis=0) + np.roll(u, 1, axis=1)
           + np.roll(u, -1, axis=1) - 4 * u)
    grad_x = u - np.roll(u, 1, axis=1)
    return 0.5 * np.sum(grad_x ** 2) + 0.1 * np.sum(lap ** 2)


def trimmed_mean(x, cut=2):
    """Sort, drop the `cut` smallest and largest, average what is left."""
    s = np.sort(x, axis=None)
    return np.mean(s[cut:-cut])


def cholesky_factor_energy(params, x):
    """A lower-triangular factor from an unconstrained vector: tril of a reshape plus an exp on
    the diagonal; energy x' L L' x and the log-determinant through np.diagonal / np.trace."""
    n = x.shape[0]
    a = np.tril(params.reshape(n, n), -1)
    diag = np.diagonal(params.reshape(n, n))
    factor = a + np.diag(np.exp(diag))
    y = factor.T @ x
    return 0.5 * np.sum(y ** 2) - np.sum(np.log(np.diagonal(factor))) + 0.01 * np.trace(factor @ factor.T)


def nearest_upsample_loss(image, target):
    """2x nearest-neighbour upsampling with np.repeat, 2x2 average pooling with reshape."""
    up = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    pooled = up.reshape(image.shape[0], 2, image.shape[1], 2).mean(axis=(1, 3))
    return np.sum((up - target) ** 2) + np.sum((pooled - image) ** 2) + np.sum(np.tile(image, (1, 2)) * 0.1)


def piecewise_linear(x, knots_y, knots_x):
    """np.interp-like interpolation: segments found with searchsorted, values gathered from the
    differentiated table."""
    i = np.clip(np.searchsorted(knots_x, x) - 1, 0, len(knots_x) - 2)
    # knots_x may be a plain array (a constant): NumPy's own indexing can't take a traced index
    # array, np.take_along_axis can (NumPy dispatches it on the indices too)
    x0, x1 = np.take_along_axis(knots_x, i, axis=0), np.take_along_axis(knots_x, i + 1, axis=0)
    t = (x - x0) / (x1 - x0)
    y = knots_y[i] * (1 - t) + knots_y[i + 1] * t
    return np.sum(y ** 2)


def causal_attention(q, k, v):
    """Single-head causal attention: the mask from np.triu, scores masked with np.where."""
    scores = q @ k.T / np.sqrt(q.shape[1])
    future = np.triu(np.ones_like(scores), 1) > 0
    scores = np.where(future, -1e9, scores)
    weights = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return np.sum((weights @ v) ** 2)


def scatter_top1(x):
    """Keep each row's largest entry, scaled, in an otherwise zero array: put_along_axis in place."""
    out = np.zeros_like(x)
    best = np.argmax(x, axis=1)[:, None]
    np.put_along_axis(out, best, 2.0 * np.take_along_axis(x, best, axis=1), axis=1)
    return np.sum(out ** 2) + np.sum(x * np.flip(out, axis=1))


def sorted_in_place(x, w):
    """ndarray.sort() sorts in place and returns None; the argument is left alone."""
    y = x * 1.0
    assert y.sort() is None
    return np.sum(w * y ** 2) + np.sum(x * w)


def group_means(x, labels):
    """Per-group means over labels computed from the data (np.unique: length guarded)."""
    groups, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    means = np.stack([np.sum(np.where(inverse == k, x, 0.0)) / counts[k] for k in range(len(groups))])
    return np.sum(means ** 2)


def patch_blocks(x):
    """Block assembly: hstack / vstack / column_stack / dstack of pieces of x, split back."""
    left, right = np.hsplit(x, 2)  # (4, 3) each
    top, bottom = np.vsplit(x, 2)  # (2, 6) each
    blocks = np.vstack([np.hstack([left * right, right]), top, bottom ** 2])
    columns = np.column_stack([top[0], bottom[1], np.ravel(left)[:6]])
    stacked = np.dstack([x, x ** 2])
    parts = np.array_split(np.moveaxis(stacked, -1, 0), 4, axis=2)
    return (np.sum(blocks ** 2) + np.sum(columns * np.arange(3)) + sum(np.sum(p * (i + 1)) for i, p in enumerate(parts))
            + np.sum(np.rot90(x) ** 3))


EDGES_SRC = np.array([0, 1, 2, 3, 0, 2])
EDGES_DST = np.array([1, 2, 0, 0, 3, 0])  # 0 receives three messages

CORPUS = {
    "im2col convolution": (im2col_conv, lambda: (RNG.standard_normal((2, 5, 5)), RNG.standard_normal((3, 2, 2, 2)) * 0.5), (0, 1)),
    "padded 1-D convolution": (padded_conv1d, lambda: (RNG.standard_normal(7), RNG.standard_normal(3)), (0, 1)),
    "top-k mean via sort": (topk_mean, lambda: (RNG.standard_normal((4, 6)),), (0,)),
    "softmax cross-entropy, one-hot by equality": (
        softmax_cross_entropy, lambda: (RNG.standard_normal((5, 4)), np.array([0, 3, 1, 3, 2])), (0,)),
    "masked mean": (masked_mean, lambda: (RNG.standard_normal((3, 5)),), (0,)),
    "message passing with x[idx] += v": (
        message_passing, lambda: (RNG.standard_normal((4, 3)), RNG.standard_normal((2, 3, 3)) * 0.5, EDGES_SRC, EDGES_DST), (0, 1)),
    "roll-based Laplacian energy": (laplacian_energy, lambda: (RNG.standard_normal((4, 5)),), (0,)),
    "trimmed mean": (trimmed_mean, lambda: (RNG.standard_normal((3, 4)),), (0,)),
    "Cholesky-factor energy": (cholesky_factor_energy, lambda: (RNG.standard_normal(9) * 0.5, RNG.standard_normal(3)), (0, 1)),
    "nearest upsampling and pooling": (
        nearest_upsample_loss, lambda: (RNG.standard_normal((2, 3)), RNG.standard_normal((4, 6))), (0, 1)),
    "piecewise-linear interpolation": (
        piecewise_linear, lambda: (np.array([-0.9, -0.35, 0.1, 0.45, 0.8]), RNG.standard_normal(4), np.linspace(-1.0, 1.0, 4)),
        (0, 1)),
    "causal attention": (causal_attention, lambda: tuple(RNG.standard_normal((4, 3)) for _ in range(3)), (0, 1, 2)),
    "top-1 scattered with put_along_axis": (scatter_top1, lambda: (RNG.standard_normal((3, 4)),), (0,)),
    "x.sort() in place": (sorted_in_place, lambda: (RNG.standard_normal(5), RNG.standard_normal(5)), (0, 1)),
    "group means over np.unique": (group_means, lambda: (RNG.standard_normal(6), np.array([2, 0, 2, 5, 0, 2])), (0,)),
    "block assembly and splits": (patch_blocks, lambda: (RNG.standard_normal((4, 6)),), (0,)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CORPUS)
def test_corpus(name, dtype):
    fun, make_args, argnums = CORPUS[name]
    args = tuple(a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in make_args())
    check_grads(fun, *args, argnums=argnums)
    # and through td.grad, whose code is cached: a second call must agree with the first
    grad = td.grad(fun, argnums=argnums)
    first = grad(*args)
    second = grad(*args)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert all(g.dtype == dtype for g in first)


# --- behaviours around the corpus --------------------------------------------------------------

def test_inplace_sort_sorts_the_array_and_returns_none():
    x = np.array([3.0, 1.0, 2.0])

    def f(x):
        y = x.copy()
        result = y.sort()
        row = np.stack([x, x])
        row[0].sort()  # through a view: sorts the first row of `row`
        return result, y, row

    seen = {}

    def loss(x):
        result, y, row = f(x)
        seen.update(result=result, y=y, row=row)
        return np.sum(y * np.array([1.0, 10.0, 100.0])) + np.sum(row[0] * np.array([1.0, 2.0, 3.0]))

    g = td.grad(loss)(x)
    assert seen["result"] is None
    np.testing.assert_array_equal(seen["y"]._value, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(seen["row"]._value, [[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    np.testing.assert_array_equal(x, [3.0, 1.0, 2.0])  # the caller's array is never written
    # y = (x1, x2, x0): d/dx = (100 + 3, 1 + 1, 10 + 2)
    np.testing.assert_allclose(g, [103.0, 2.0, 12.0])


def test_flatten_is_a_copy_and_ravel_a_view():
    def f(x):
        flat = x.flatten()
        flat[0] = 100.0  # does not reach x
        view = x.ravel()
        view[1] = 0.0  # does: x[0, 1] is overwritten
        return np.sum(x * np.array([[1.0, 2.0], [3.0, 4.0]])) + np.sum(flat)

    g = td.grad(f)(np.ones((2, 2)))
    np.testing.assert_allclose(g, [[1.0, 1.0], [4.0, 5.0]])
    assert f(np.ones((2, 2))) == td.value_and_grad(f)(np.ones((2, 2)))[0]


def test_put_along_axis_writes_in_place_and_returns_none():
    def f(x):
        out = np.zeros_like(x)
        assert np.put_along_axis(out, np.array([[1], [0]]), x[:, :1] * 3.0, axis=1) is None
        return np.sum(out * np.array([[1.0, 2.0], [4.0, 8.0]]))

    np.testing.assert_allclose(td.grad(f)(np.ones((2, 2))), [[6.0, 0.0], [12.0, 0.0]])


def test_repeated_computed_indices_stay_exact_on_cached_calls():
    # The index is an argument: traced without repeats, called again with repeats (no retrace).
    def f(x, v, idx):
        x = x.copy()
        x[idx] = v
        y = x.copy()
        y[idx] += v
        return np.sum(np.sin(x) * y)

    x, v = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 3))
    grad = td.grad(f, argnums=(0, 1))
    for idx in (np.array([0, 1, 2]), np.array([2, 0, 2]), np.array([1, 1, 1]), np.array([3, -1, 0])):
        got = grad(x, v, idx)
        check_grads(f, x, v, idx, argnums=(0, 1))
        for n, g in enumerate(got):
            expected = td.testing.numerical_vjp(f, (x, v, idx), n, 1.0)[0]
            np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-6)
    assert grad.cache_info().traces == 1


def test_value_dependent_sizes_are_guarded():
    def f(x):
        positive = x[np.nonzero(x > 0)]
        rows = np.flatnonzero(x[:, 0] > 0)
        labels = np.unique(np.floor(x))
        return np.sum(positive ** 2) + np.sum(x[rows] * 2.0) + np.sum(labels) * np.sum(x)

    grad = td.grad(f)
    first = np.array([[1.25, -2.5], [0.25, 3.5]])
    for x in (first, np.array([[-1.25, -2.5], [0.25, -3.5]]), first + 0.125):  # the last: the first's sizes
        expected = td.testing.numerical_vjp(f, (x,), 0, 1.0)[0]
        np.testing.assert_allclose(grad(x), expected, rtol=1e-6, atol=1e-6)
    assert grad.cache_info().traces == 2


def test_index_helpers_carry_no_gradient_and_never_fail():
    def f(x):
        order = np.argsort(x)
        where = np.searchsorted(np.sort(x), x)
        count = np.count_nonzero(x > 0)
        like = np.full_like(x, 3.0) + np.zeros_like(x) + np.ones_like(x)
        return np.sum(x * (order + where + count)) + np.sum(x * like) + np.shape(x)[0] * np.size(x) * np.ndim(x)

    x = np.array([0.3, -1.2, 2.5])
    order, where, count = np.argsort(x), np.searchsorted(np.sort(x), x), np.count_nonzero(x > 0)
    np.testing.assert_allclose(td.grad(f)(x), order + where + count + 4.0)


def test_captured_array_indexed_by_a_traced_index_keeps_one_trace():
    # A captured array is indexed by the generated code (X[order]); a plain array that only a
    # container holds is indexed by NumPy itself (no dispatch): the index's value is used under
    # a guard, so a new order traces again. np.take_along_axis (dispatched on its indices) keeps
    # one trace either way.
    table = np.array([1.0, 2.0, 3.0])
    tables = [table]

    def f(x):
        return np.sum(table[np.argsort(x)] * x)

    def f_via_list(x):
        return np.sum(tables[0][np.argsort(x)] * x)

    g, g_via_list = td.grad(f), td.grad(f_via_list)
    for x in ([0.3, -1.0, 2.0], [0.5, -2.0, 3.0], [2.0, 1.0, 0.0]):
        x = np.array(x)
        np.testing.assert_allclose(g(x), table[np.argsort(x)])
        np.testing.assert_allclose(g_via_list(x), table[np.argsort(x)])
    assert g.cache_info().traces == 1
    assert g_via_list.cache_info().traces == 2  # two distinct orders
    taken = td.grad(lambda x: np.sum(np.take_along_axis(tables[0], np.argsort(x), axis=0) * x))
    for x in ([0.3, -1.0, 2.0], [2.0, 1.0, 0.0]):
        np.testing.assert_allclose(taken(np.array(x)), table[np.argsort(x)])
    assert taken.cache_info().traces == 1


def test_generated_code_reads_as_numpy():
    def f(x):
        y = np.hstack([np.flip(x, 1), np.roll(x, 1, axis=0)])
        z = np.pad(np.triu(y[:, :3]), 1) + np.tile(x[:1, :1], (5, 5))
        return np.sum(np.sort(z, axis=0) ** 2) + np.sum(np.diag(x[:, 0]))

    grad = td.grad(f)
    x = RNG.standard_normal((3, 3))
    grad(x)
    source = grad.source(x)
    for text in ("x[:, ::-1]", "np.roll(x, 1, axis=0)", "np.concatenate([", "np.pad(", "np.triu(",
                 "np.tile(", "np.argsort(", "np.take_along_axis(", "np.diag("):
        assert text in source, f"{text!r} not in:\n{source}"
    assert "tracediff" not in source.split("\n", 1)[1]


@pytest.mark.parametrize("call, error, match", [
    (lambda x: np.pad(x, 1, mode="mean"), NotImplementedError, "mode='mean'"),
    (lambda x: np.reshape(x, (4, 3), order="A"), NotImplementedError, "memory layout"),
    (lambda x: np.squeeze(x, axis=0), ValueError, "size not equal to one"),
    (lambda x: np.unique(x, axis=0), NotImplementedError, "axis"),
    (lambda x: np.moveaxis(x, 0, 2), np.exceptions.AxisError, "out of bounds"),
    (lambda x: np.split(x, 5), ValueError, "equal division"),
])
def test_unsupported_or_invalid_calls_say_so(call, error, match):
    with pytest.raises(error, match=match):
        td.grad(lambda x: np.sum(call(x)))(np.ones((3, 4)))


# --- second derivatives: the rules are differentiable -------------------------------------------

SECOND_ORDER = {
    "tile": lambda x: np.tile(x, (2, 1)),
    "repeat counts": lambda x: np.repeat(x, [2, 0, 1], axis=1),
    "repeat int": lambda x: np.repeat(x, 2),
    "roll": lambda x: np.roll(x, (1, -1), axis=(0, 1)),
    "pad reflect": lambda x: np.pad(x, ((1, 2), (2, 0)), mode="reflect"),
    "pad constant": lambda x: np.pad(x, 1, constant_values=0.5),
    "triu / tril": lambda x: np.triu(x, 1) - np.tril(x),
    "diag / diagonal": lambda x: np.diag(np.diagonal(x, 1)) + np.diag(x[:, 0])[:2, :2],
    "diagonal, 3-D": lambda x: np.diagonal(x.reshape(2, 3, 2), axis1=0, axis2=2),
    "sort": lambda x: np.sort(x, axis=0),
    "x[computed repeated] += v": lambda x: _add_at_repeated(x),
    "take_along_axis repeated": lambda x: np.take_along_axis(x, np.array([[0, 0, 2], [1, 1, 1], [2, 0, 0]]), axis=1),
}


def _add_at_repeated(x):
    y = x.copy()
    y[np.argsort(x[:, 0]) // 2] += x[::-1] * 0.5
    return y


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order(name):
    fun = SECOND_ORDER[name]
    check_grads(lambda x: np.sin(fun(x)), RNG.standard_normal((3, 3)) if "3-D" not in name else RNG.standard_normal((3, 4)),
                order=2)
