"""td.tensor / td.Tensor: the seed tutorials' behaviours written as PyTorch tutorials write them,
with their exact numbers; gradients against finite differences; one generated backward per graph
structure; misuse errors; second derivatives."""
import numpy as np
import pytest

import tracediff as td
from tracediff.tensors import TensorError

EXACT = dict(rtol=1e-12, atol=1e-12)
DEC4 = dict(rtol=0, atol=1e-4)
DEC6 = dict(rtol=0, atol=1e-6)


@pytest.fixture(autouse=True)
def _fresh_backward_cache():
    td.autograd.clear_cache()
    yield


def values(t):
    return np.asarray(t.numpy())


# ---------------------------------------------------------------------------------------------
# 1. Differentiable values, the graph, leaves


def test_graph_names_and_gradient():
    x = td.tensor(1.0, requires_grad=True)
    y = x ** 2
    z = y + 1
    assert y.grad_fn.name() == "PowBackward0" and z.grad_fn.name() == "AddBackward0"
    assert repr(z.grad_fn).startswith("<AddBackward0 object at")
    # The graph, walked from the root: z <- y <- x (a leaf: AccumulateGrad)
    (parent, index), = z.grad_fn.next_functions
    assert parent is y.grad_fn and index == 0
    (acc, _), = y.grad_fn.next_functions
    assert acc.name() == "AccumulateGrad" and acc.variable is x
    assert x.is_leaf and not y.is_leaf and not z.is_leaf and x.grad_fn is None
    z.backward()
    assert z.item() == 2.0 and x.grad.item() == 2.0
    assert isinstance(x.grad, td.Tensor) and y.grad is None  # intermediates keep no gradient


def test_differentiating_an_intermediate_and_retain_grad():
    x = td.tensor(1.0, requires_grad=True)
    y = x ** 2
    y.retain_grad()
    z = y ** 2
    z.backward()
    assert y.grad.item() == 2.0 and x.grad.item() == 4.0  # dz/dy = 2, dz/dx = 4
    assert y.retains_grad and not z.retains_grad
    x2 = td.tensor(1.0, requires_grad=True)
    (dy_dx,) = td.autograd.grad(x2 ** 2, x2)
    assert dy_dx.item() == 2.0 and x2.grad is None  # autograd.grad leaves .grad alone


def test_leaves_and_detach():
    x = td.tensor(1.0, requires_grad=True)
    y = x ** 2
    c = y.detach()
    assert c.is_leaf and not c.requires_grad and c.grad_fn is None
    assert np.shares_memory(c.numpy(), y.numpy())
    z = x * c  # c is a constant: dz/dx = c = 1
    z.backward()
    assert x.grad.item() == 1.0 and c.grad is None
    constant = td.tensor([1.0, 2.0])
    assert constant.is_leaf and not constant.requires_grad


def test_mean_of_a_matrix():
    x = td.tensor(np.ones((2, 2)), requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    assert out.grad_fn.name() == "MeanBackward0" and z.grad_fn.name() == "MulBackward0"
    out.backward()
    assert out.item() == 27.0
    np.testing.assert_allclose(values(x.grad), np.full((2, 2), 4.5), **EXACT)


# ---------------------------------------------------------------------------------------------
# 2. Stopping gradient flow


def test_no_grad_block():
    x = td.tensor(1.0, requires_grad=True)
    y1 = x ** 2
    with td.no_grad():
        y2 = x ** 3
    y3 = y1 + y2
    assert not y2.requires_grad and y2.grad_fn is None and y2.is_leaf
    y3.backward()
    assert y3.item() == 2.0 and x.grad.item() == 2.0


def test_enable_grad_inside_no_grad_and_as_decorator():
    x = td.tensor(2.0, requires_grad=True)
    with td.no_grad():
        with td.enable_grad():
            y = x * 3
        z = x * 3
    assert y.requires_grad and not z.requires_grad

    @td.no_grad()
    def doubled(t):
        return t * 2

    assert not doubled(x).requires_grad and td.autograd.is_grad_enabled()


def test_detach_stops_the_gradient():
    x = td.tensor(2.0, requires_grad=True)
    y = x ** 2
    y1 = y.detach()
    z = y1 * 3 + x
    z.backward()
    assert x.grad.item() == 1.0


def test_data_update_outside_the_graph():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = 2 * x
    x.data *= 100  # not recorded, not counted as an in-place change
    y.backward(td.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(values(x.grad), [2.0, 2.0, 2.0], **EXACT)
    np.testing.assert_allclose(values(x), [100.0, 200.0, 300.0], **EXACT)
    assert x._version == 0


# ---------------------------------------------------------------------------------------------
# 3. Vector outputs


def test_vector_jacobian_product_through_a_reshape():
    x = td.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = 2 * x
    z = y.reshape(2, 2)
    assert z.grad_fn.name() == "ViewBackward0"
    with pytest.raises(TensorError, match="only for a scalar output"):
        z.backward()
    z.backward(td.tensor([[1.0, 0.1], [0.01, 0.001]]))
    np.testing.assert_allclose(values(x.grad), [2.0, 0.2, 0.02, 0.002], **EXACT)


def test_accumulation_retain_graph_and_zeroing():
    inp = td.tensor(np.eye(5), requires_grad=True)
    out = (inp + 1) ** 2
    diagonal = np.eye(5, dtype=bool)
    out.backward(td.tensor(np.ones((5, 5))), retain_graph=True)
    np.testing.assert_allclose(values(inp.grad), np.where(diagonal, 4.0, 2.0), **EXACT)
    out.backward(td.tensor(np.ones((5, 5))), retain_graph=True)
    np.testing.assert_allclose(values(inp.grad), np.where(diagonal, 8.0, 4.0), **EXACT)
    inp.grad.zero_()
    out.backward(np.ones((5, 5)))
    np.testing.assert_allclose(values(inp.grad), np.where(diagonal, 4.0, 2.0), **EXACT)
    with pytest.raises(TensorError, match="retain_graph=True"):
        out.backward(np.ones((5, 5)))
    inp.grad = None
    assert inp.grad is None
    assert td.autograd.cache_info().misses == 1  # three backwards, one generated function


# ---------------------------------------------------------------------------------------------
# 4. A small network and a loss


def binary_cross_entropy_with_logits(z, y):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def test_small_network_with_binary_cross_entropy():
    rng = np.random.default_rng(0)
    x, y = td.tensor(np.ones(5)), td.tensor(np.zeros(3))
    w = td.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    b = td.tensor(rng.standard_normal(3), requires_grad=True)
    z = x @ w + b
    z.retain_grad()
    loss = binary_cross_entropy_with_logits(z, y)
    assert z.grad_fn.name() == "AddBackward0" and loss.grad_fn.name() == "MeanBackward0"
    assert z.grad_fn.next_functions[0][0].name() == "MvBackward0" or \
        z.grad_fn.next_functions[0][0].name() == "MatmulBackward0"
    loss.backward()
    zv = values(z)
    p = 1 / (1 + np.exp(-zv))
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(1 - p)), rtol=1e-12)
    dz = (p - values(y)) / 3
    np.testing.assert_allclose(values(z.grad), dz, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values(w.grad), np.outer(values(x), dz), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values(b.grad), dz, rtol=1e-12, atol=1e-15)
    assert x.grad is None and y.grad is None


def test_frozen_linear_layer():
    W = td.tensor(np.ones((2, 2)))  # frozen: no requires_grad
    bias = td.tensor(np.ones(2))

    def M(v):
        return W @ v + bias

    a = td.tensor([1.0, 2.0], requires_grad=True)
    b = td.tensor([13.0, 32.0], requires_grad=True)
    c = M(a)
    c2 = M(b)  # not on the path to the output
    d = c * 2
    np.sum(d).backward()
    np.testing.assert_allclose(values(a.grad), [4.0, 4.0], **EXACT)
    assert b.grad is None and W.grad is None and bias.grad is None
    assert c2.requires_grad


# ---------------------------------------------------------------------------------------------
# 5. Gradient descent


def sse(a, b):
    return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2


@pytest.mark.parametrize("point, expected, tol", [
    ((0.0, 0.0), (20.0, -28.0, -12.0), EXACT),
    ((0.28, 0.12), (11.8016, -21.44, -9.28), dict(rtol=1e-12, atol=1e-9)),
    ((0.49944, 0.2128), (6.8973, -16.3088, -7.1533), DEC4),
    ((0.4944, 0.2128), (6.9797, -16.4096, -7.1936), DEC4),
])
def test_sse_surface(point, expected, tol):
    a = td.tensor(point[0], requires_grad=True)
    b = td.tensor(point[1], requires_grad=True)
    value = sse(a, b)
    value.backward()
    np.testing.assert_allclose((value.item(), a.grad.item(), b.grad.item()), expected, **tol)


def test_matrix_gradient_descent():
    X = td.tensor([[1.0, 1.0], [3.0, 1.0]])
    y = td.tensor([[2.0], [4.0]])
    w = td.tensor(np.zeros((2, 1)), requires_grad=True)
    history = {}
    for step in range(1, 10001):
        residual = X @ w - y
        loss = (residual.T @ residual).sum() / (2 * 2)  # SSE / (2m), m = 2
        loss.backward()
        if step == 1:
            np.testing.assert_allclose(values(w.grad), [[-7.0], [-3.0]], **EXACT)
        with td.no_grad():
            w -= 0.01 * w.grad
        w.grad.zero_()
        if step in (3, 4, 1000, 10000):
            r = values(X) @ values(w) - values(y)
            history[step] = (values(w).ravel().copy(), (r.T @ r).item())
    np.testing.assert_allclose(history[3][0], [0.197939, 0.084999], **DEC6)
    np.testing.assert_allclose(history[4][0], [0.256342, 0.110190], **DEC6)
    np.testing.assert_allclose(history[4][1], 12.4075, **DEC4)
    np.testing.assert_allclose(history[1000][0], [1.0372, 0.9102], **DEC4)
    np.testing.assert_allclose(history[10000][0], [1.0, 1.0], **DEC6)
    info = td.autograd.cache_info()
    assert (info.misses, info.hits) == (1, 9999)  # 10,000 backwards, generated once


def test_per_sample_fit():
    x_data, y_data = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]
    w = td.tensor(3.0, requires_grad=True)

    def forward(x):
        return x * w

    assert forward(4.0).item() == 12.0
    for epoch in range(100):
        for x, y in zip(x_data, y_data):
            loss = (forward(x) - y) ** 2
            loss.backward()
            with td.no_grad():
                w -= 0.01 * w.grad
            w.grad.zero_()
    np.testing.assert_allclose(w.item(), 2.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(forward(4.0).item(), 8.0, rtol=0, atol=1e-9)
    assert loss.item() < 1e-20
    assert td.autograd.cache_info().misses == 1  # the Python floats x, y are arguments, not keys


def test_training_loop_generates_its_backward_once():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))
    W = td.tensor(rng.standard_normal((3, 8)) * 0.5, requires_grad=True)
    b = td.tensor(np.zeros(8), requires_grad=True)
    V = td.tensor(rng.standard_normal((8, 1)) * 0.5, requires_grad=True)
    first = None
    for step in range(1000):
        h = np.tanh(X @ W + b)
        loss = ((h @ V - Y) ** 2).mean()
        loss.backward()
        with td.no_grad():
            for p in (W, b, V):
                p -= 0.05 * p.grad
                p.grad = None
        first = loss.item() if first is None else first
    assert loss.item() < 0.9 * first
    info = td.autograd.cache_info()
    assert (info.misses, info.hits, info.entries) == (1, 999, 1)


# ---------------------------------------------------------------------------------------------
# 6. Dynamic graphs


def test_dynamic_graph_two_structures():
    def f(x):
        y = x * 2
        if y.sum() > 10:  # a Python decision on the values: the graph differs with the data
            y = y ** 2
        else:
            y = y * 3
        return y.sum()

    grads = []
    for start in ([1.0, 2.0], [5.0, 6.0], [0.5, 0.5], [4.0, 4.0]):
        x = td.tensor(start, requires_grad=True)
        f(x).backward()
        grads.append(values(x.grad))
    np.testing.assert_allclose(grads[0], [6.0, 6.0], **EXACT)
    np.testing.assert_allclose(grads[1], [8 * 5.0, 8 * 6.0], **EXACT)
    np.testing.assert_allclose(grads[2], [6.0, 6.0], **EXACT)
    np.testing.assert_allclose(grads[3], [32.0, 32.0], **EXACT)
    assert td.autograd.cache_info() == (2, 2, 2)  # two structures, each generated once


def test_where_mask_is_an_argument_not_a_key():
    for v, expected in (([-1.0, 2.0], [0.0, 4.0]), ([3.0, -2.0], [6.0, 0.0])):
        x = td.tensor(v, requires_grad=True)
        np.sum(np.where(x > 0, x ** 2, 0.0)).backward()
        np.testing.assert_allclose(values(x.grad), expected, **EXACT)
    assert td.autograd.cache_info().misses == 1


# ---------------------------------------------------------------------------------------------
# Gradients against finite differences


def _central_differences(f, arrays, i, eps=1e-6):
    base = [a.copy() for a in arrays]
    grad = np.zeros_like(base[i])
    for j in np.ndindex(base[i].shape):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[i][j] += eps
        minus[i][j] -= eps
        grad[j] = (f(*plus) - f(*minus)) / (2 * eps)
    return grad


def _as_tensors(f):
    def numeric(*arrays):
        with td.no_grad():
            return f(*[td.tensor(a) for a in arrays]).item()
    return numeric


FUNCTIONS = {
    "broadcast_mlp": (lambda x, w, b: np.sum(np.tanh(x @ w + b) ** 2), [(4, 3), (3, 2), (2,)]),
    "softmax_ce": (lambda z, t: -np.sum(t * (z - np.log(np.sum(np.exp(z), axis=1, keepdims=True)))) / 3,
                   [(3, 4), (3, 4)]),
    "indexing_and_reshape": (lambda a, b: np.sum((a[1:, ::2] * b.reshape(2, 2)) ** 3) + a[0, 1] * a.T.sum(),
                             [(3, 4), (4,)]),
    "division_and_max": (lambda a, b: np.mean(np.maximum(a / (1.5 + b ** 2), 0.1) * np.exp(-a)),
                         [(2, 3), (3,)]),
    "column_broadcast": (lambda a, b: np.sum(np.sqrt(1 + (a - b[:, None]) ** 2) * np.sin(a)),
                         [(3, 2), (3,)]),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradients_against_finite_differences(name):
    f, shapes = FUNCTIONS[name]
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(s) for s in shapes]
    tensors = [td.tensor(a, requires_grad=True) for a in arrays]
    f(*tensors).backward()
    for i, t in enumerate(tensors):
        expected = _central_differences(_as_tensors(f), arrays, i)
        np.testing.assert_allclose(values(t.grad), expected, rtol=1e-6, atol=1e-7)


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    a = td.tensor(rng.standard_normal((3, 2)), requires_grad=True, dtype=np.float32)
    w = td.tensor(rng.standard_normal(2), requires_grad=True, dtype=np.float32)
    loss = np.mean(np.exp(a * w) * 0.5)
    assert loss.dtype == np.float32
    loss.backward()
    assert a.grad.dtype == np.float32 and w.grad.dtype == np.float32
    a64, w64 = values(a).astype(float), values(w).astype(float)
    expected_w = np.sum(np.exp(a64 * w64) * 0.5 * a64, axis=0) / 6
    np.testing.assert_allclose(values(w.grad), expected_w, rtol=1e-5)


def test_setitem_and_in_place_on_intermediates_are_recorded():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    y[1] = x[0] ** 2  # CopySlices
    y += 1
    assert y.grad_fn.name() == "AddBackward0"
    assert y.grad_fn.next_functions[0][0].name() == "CopySlices"
    np.sum(y * x).backward()
    # sum(y * x) = (x0 + 1) x0 + (x0^2 + 1) x1 + (x2 + 1) x2
    x0, x1, x2 = 1.0, 2.0, 3.0
    np.testing.assert_allclose(values(x.grad), [2 * x0 + 1 + 2 * x0 * x1, x0 ** 2 + 1, 2 * x2 + 1], **EXACT)


def test_constant_written_with_a_value_that_requires_grad():
    x = td.tensor(2.0, requires_grad=True)
    buffer = td.tensor(np.zeros(3))
    buffer[1] = x * 3
    assert buffer.requires_grad and not buffer.is_leaf
    np.sum(buffer ** 2).backward()
    assert x.grad.item() == 2 * 6.0 * 3


def test_autograd_grad_of_intermediates_and_unused():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x ** 2
    z = np.sum(y * 3)
    gy, gx = td.autograd.grad(z, (y, x), retain_graph=True)
    np.testing.assert_allclose(values(gy), [3.0, 3.0], **EXACT)
    np.testing.assert_allclose(values(gx), [6.0, 12.0], **EXACT)
    other = td.tensor(1.0, requires_grad=True)
    with pytest.raises(TensorError, match="allow_unused=True"):
        td.autograd.grad(z, (x, other), retain_graph=True)
    gx, none = td.autograd.grad(z, (x, other), allow_unused=True)
    assert none is None and x.grad is None


def test_backward_source_is_the_generated_code():
    w = td.tensor([1.0, 2.0], requires_grad=True)
    data = np.array([3.0, 4.0])
    loss = np.sum((w * data - 1.0) ** 2)
    source = loss.backward_source()
    assert "# Generated by tracediff" in source and "def grad_loss(w, data" in source
    loss.backward()
    assert td.autograd.cache_info() == (1, 1, 1)  # built by backward_source, reused by backward


def test_td_tensor_copies_the_callers_array():
    data = np.array([1.0, 2.0])
    t = td.tensor(data, requires_grad=True)
    with td.no_grad():
        t += 1
    t2 = td.tensor(data)
    t2[0] = 10.0
    np.testing.assert_array_equal(data, [1.0, 2.0])
    np.sum(t * 2).backward()
    np.testing.assert_array_equal(data, [1.0, 2.0])


def test_second_derivatives_with_create_graph():
    x = td.tensor(3.0, requires_grad=True)
    y = x ** 3
    (g,) = td.autograd.grad(y, x, create_graph=True)
    assert g.item() == 27.0 and g.requires_grad
    g.backward()
    assert x.grad.item() == 18.0
    x2 = td.tensor([1.0, 2.0], requires_grad=True)
    loss = np.sum(np.sin(x2) * x2)
    loss.backward(create_graph=True)
    grad = x2.grad  # cos(x) x + sin(x), with a graph
    assert grad.requires_grad
    x2.grad = None
    np.sum(grad).backward()
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(values(x2.grad), -np.sin(v) * v + 2 * np.cos(v), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Misuse


def test_backward_of_a_tensor_that_does_not_require_grad():
    with pytest.raises(TensorError, match="does not require grad"):
        (td.tensor(1.0) * 2).backward()
    x = td.tensor(1.0, requires_grad=True)
    with td.no_grad():
        y = x * 2
    with pytest.raises(TensorError, match="no_grad"):
        y.backward()


def test_in_place_change_of_a_value_the_backward_needs():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    c = td.tensor([3.0, 4.0])
    loss = np.sum(x * c)
    c += 1
    with pytest.raises(TensorError, match="changed in place after it was recorded.*version 1.*version 0"):
        loss.backward()
    loss = np.sum(x ** 2)
    with td.no_grad():
        x -= 0.1  # an optimizer step before backward
    with pytest.raises(TensorError, match="leaf that requires grad"):
        loss.backward()
    c = td.tensor([3.0, 4.0])
    loss = np.sum(x * c)
    c[0] = 7.0
    with pytest.raises(TensorError, match="changed in place"):
        loss.backward()


def test_in_place_change_through_a_view_is_refused():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    row = y[:2]  # a view of y
    y *= 3
    with pytest.raises(TensorError, match="through another tensor sharing its memory"):
        row * 1.0
    with pytest.raises(TensorError, match="view of a leaf"):
        part = x[:2]
        part += 1


def test_in_place_on_a_leaf_that_requires_grad():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TensorError, match=r"in-place add \(\+=\) on a leaf tensor that requires grad.*no_grad"):
        x += 1
    with pytest.raises(TensorError, match="indexed assignment"):
        x[0] = 5.0
    with td.no_grad():
        x += 1
        x[0] = 5.0
    np.testing.assert_array_equal(values(x), [5.0, 3.0])
    assert x._version == 2


def test_non_float_tensors_cannot_require_grad():
    with pytest.raises(TensorError, match="floating-point"):
        td.tensor([1, 2], requires_grad=True)


def test_tensors_and_td_grad_tracers_do_not_mix():
    w = td.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(td.MixedTraceError, match="td.Tensor met a value traced by td.grad"):
        td.grad(lambda x: np.sum(x * w))(np.ones(2))
    with pytest.raises(TypeError, match="is a td.Tensor.*detach\\(\\).numpy\\(\\)"):
        td.grad(lambda x: np.sum(x ** 2))(w)


def test_unsupported_numpy_function_is_refused_when_recorded():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TensorError, match="np.add.reduce"):
        np.add.reduce(x)
    assert np.add.reduce(x.detach()).item() == 3.0


def test_ufuncs_with_two_results_are_recorded_or_refused():
    # np.modf used to return tensors outside the graph, so x + modf(x)[0] silently lost a term
    x = td.tensor([1.5, 2.25], requires_grad=True)
    with pytest.raises(TensorError, match="np.modf has no gradient rule"):
        np.modf(x)
    fraction, whole = np.modf(x.detach())
    assert values(fraction).tolist() == [0.5, 0.25] and values(whole).tolist() == [1.0, 2.0]


def test_operators_with_arrays_lists_and_numbers_on_either_side():
    x0 = np.array([1.0, -2.0, 3.0])
    x = td.tensor(x0, requires_grad=True)
    c = np.array([2.0, 0.5, -1.0])
    y = (c * x) + (x - 1.0) / 4 + [1.0, 2.0, 3.0] * x - 2 ** x + x ** 2 @ c
    expected = c * x0 + (x0 - 1.0) / 4 + np.array([1.0, 2.0, 3.0]) * x0 - 2 ** x0 + x0 ** 2 @ c
    np.testing.assert_array_equal(values(y), expected)
    y.sum().backward()
    hand = c + 0.25 + np.array([1.0, 2.0, 3.0]) - np.log(2) * 2 ** x0 + 3 * 2 * x0 * c
    np.testing.assert_allclose(values(x.grad), hand, rtol=1e-14)
    x.grad = None
    ([x[2], x[1], x[0]] * x).sum().backward()  # a list of tensors is an array built from them
    np.testing.assert_array_equal(values(x.grad), 2 * x0[::-1])


def test_comparisons_and_conversions():
    x = td.tensor([1.0, -2.0], requires_grad=True)
    mask = x > 0
    assert isinstance(mask, td.Tensor) and mask.dtype == bool and not mask.requires_grad
    assert float(x[0]) == 1.0 and bool(x[0] > 0) and f"{x.sum():.1f}" == "-1.0"
    assert x.shape == (2,) and x.dtype == np.float64 and len(x) == 2
    assert repr(x) == "tensor([ 1., -2.], requires_grad=True)"


def test_numpy_functions_on_tensors_match_td_grad():
    def f(a, b, idx):
        s = np.stack([a, b])
        c = np.concatenate([a, b * 2])
        return np.sum(s[:, idx] ** 2) + np.linalg.norm(c) + np.einsum("i,i->", a, b) + np.sum(a[idx])

    a0, b0, idx0 = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), np.array([2, 0, 0])
    a, b = td.tensor(a0, requires_grad=True), td.tensor(b0, requires_grad=True)
    out = f(a, b, td.tensor(idx0))
    np.testing.assert_allclose(out.item(), f(a0, b0, idx0), rtol=1e-14)
    out.backward()
    ga, gb = td.grad(f, argnums=(0, 1))(a0, b0, idx0)
    np.testing.assert_allclose(values(a.grad), ga, rtol=1e-12)
    np.testing.assert_allclose(values(b.grad), gb, rtol=1e-12)
    names = [np.stack([a, b]).grad_fn.name(), a[td.tensor(idx0)].grad_fn.name(), a[0].grad_fn.name(),
             a[:2].grad_fn.name(), a.T.grad_fn.name()]
    assert names == ["StackBackward0", "IndexBackward0", "SelectBackward0", "SliceBackward0", "TBackward0"]


def test_several_results_of_one_call():
    M = td.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
    w, v = np.linalg.eigh(M)
    assert w.grad_fn is v.grad_fn and w.grad_fn.name() == "EighBackward0"
    (w[1] * 2 + w[0]).backward()
    def f(m):
        w, _ = np.linalg.eigh(m)
        return w[1] * 2 + w[0]

    expected = td.grad(f)(values(M))  # (eigh reads the lower triangle: so does its gradient)
    np.testing.assert_allclose(values(M.grad), expected, atol=1e-12)
    assert abs(np.sum(values(M.grad) * np.eye(2)) - 3.0) < 1e-12  # d(2 w1 + w0)/dt along I: 3


def test_complex_leaf_gets_pytorchs_convention():
    z = td.tensor(1 + 2j, requires_grad=True)
    (abs(z) ** 2).backward()
    assert z.grad.item() == 2 + 4j  # PyTorch: the conjugate of tracediff's (JAX's) 2 - 4j
