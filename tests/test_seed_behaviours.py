"""Every number of /work/shared/seed-behaviours.md, sections 1-5, computed with tracediff.

Each gradient below comes from tracediff differentiating the function; hand formulas appear only as
a second check next to the figures the seed tutorials print.
"""
import inspect
import re

import numpy as np
import pytest

import tracediff as td

EXACT = dict(rtol=1e-12, atol=1e-12)  # figures the tutorials give exactly
DEC4 = dict(rtol=0, atol=1e-4)  # figures given to 4 decimals
DEC6 = dict(rtol=0, atol=1e-6)  # figures given to 6 decimals


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ---------------------------------------------------------------------------------------------
# 1. Differentiable values, the graph, leaves


def z_of_x(x):
    y = x ** 2
    z = y + 1
    return z


def test_1_z_is_2_and_dz_dx_is_2():
    z, dz_dx = td.value_and_grad(z_of_x)(1.0)
    assert type(dz_dx) is float  # a Python float argument gets a Python float gradient
    np.testing.assert_allclose(z, 2.0, **EXACT)
    np.testing.assert_allclose(dz_dx, 2.0, **EXACT)
    np.testing.assert_allclose(td.grad(z_of_x)(1.0), 2.0, **EXACT)


def test_1_each_computed_value_remembers_its_operation():
    graph = td.trace(z_of_x, 1.0)
    power, add = graph.nodes
    assert (power.primitive.name, add.primitive.name) == ("power", "add")  # PowBackward0, AddBackward0
    (x,) = graph.inputs
    assert power.inputs[0] is x  # the leaf feeds y = x**2
    assert add.inputs[0] is power.out  # y feeds z = y + 1
    assert graph.outputs == [add.out]  # z is the root
    assert graph.input_names == ["x"]
    text = str(graph)
    assert "v1 = power(v0, 2)" in text and "v2 = add(v1, 1)" in text and "return v2" in text
    assert "y = x ** 2" in text and "z = y + 1" in text  # each line names the code that made it


def square(v):
    return v ** 2


def z_of_y(y):
    return square(y)


def z_of_x_through_y(x):
    return z_of_y(square(x))


def test_1_differentiating_through_an_intermediate():
    np.testing.assert_allclose(td.grad(z_of_x_through_y)(1.0), 4.0, **EXACT)  # dz/dx
    np.testing.assert_allclose(td.grad(square)(1.0), 2.0, **EXACT)  # dy/dx


def test_1_retain_grad_is_the_gradient_with_respect_to_the_intermediate_as_an_input():
    x = 1.0
    y = square(x)
    dz_dy = td.grad(z_of_y)(y)
    dz_dx = td.grad(z_of_x_through_y)(x)
    np.testing.assert_allclose(dz_dy, 2.0, **EXACT)
    np.testing.assert_allclose(dz_dx, 4.0, **EXACT)
    np.testing.assert_allclose(dz_dx, dz_dy * td.grad(square)(x), **EXACT)  # chain rule


def detached(x):
    y = x ** 2
    y_leaf = td.detach(y)
    return y_leaf + x


def test_1_inputs_are_leaves_computed_values_are_not_a_detached_copy_is_a_new_leaf():
    graph = td.trace(detached, 1.0)
    (x,) = graph.inputs
    produced = {node.out.id for node in graph.nodes}
    assert x.id not in produced and x.requires_grad  # the input is a leaf, and differentiable
    by_op = {node.primitive.name: node for node in graph.nodes}
    assert set(by_op) == {"power", "stop_gradient", "add"}
    assert by_op["power"].out.requires_grad  # y is computed, with a gradient path to x
    assert not by_op["stop_gradient"].out.requires_grad  # its detached copy is a constant
    # nothing flows back through the detached copy: d(detach(x**2) + x)/dx = 1, not 2x + 1
    np.testing.assert_allclose(td.grad(detached)(3.0), 1.0, **EXACT)
    g = td.grad(lambda x: td.detach(x ** 2) * 5)(3.0)
    assert type(g) is float
    np.testing.assert_allclose(g, 0.0, **EXACT)


def mean_out(x):
    y = x + 2
    z = y * y * 3
    out = z.mean()
    return out


def test_1_mean_of_3_y_squared_is_27_with_gradient_4_5():
    out, g = td.value_and_grad(mean_out)(np.ones((2, 2)))
    np.testing.assert_allclose(out, 27.0, **EXACT)
    assert g.shape == (2, 2)
    np.testing.assert_allclose(g, np.full((2, 2), 4.5), **EXACT)


# ---------------------------------------------------------------------------------------------
# 2. Stopping gradient flow


def with_no_grad(x):
    y1 = x ** 2
    with td.no_grad():
        y2 = x ** 3
    y3 = y1 + y2
    return y3


def test_2_no_grad_block_is_not_differentiated():
    y3, dy3_dx = td.value_and_grad(with_no_grad)(1.0)
    np.testing.assert_allclose(y3, 2.0, **EXACT)
    np.testing.assert_allclose(dy3_dx, 2.0, **EXACT)  # 2x, without the block's 3x**2
    np.testing.assert_allclose(td.grad(with_no_grad)(2.0), 4.0, **EXACT)  # not 4 + 12


def test_2_values_computed_in_no_grad_are_constants():
    graph = td.trace(with_no_grad, 1.0)
    ops = [(node.primitive.name, node.inputs[-1].value if node.primitive.name == "power" else None,
            node.out.requires_grad) for node in graph.nodes]
    assert ops == [("power", 2, True), ("power", 3, False), ("add", None, True)]  # y1, y2 (constant), y3

    def only_the_block(x):
        with td.no_grad():
            y2 = x ** 3
        return y2 * 2

    np.testing.assert_allclose(td.grad(only_the_block)(1.5), 0.0, **EXACT)


def test_2_nothing_computed_from_a_detached_value_carries_gradient_back():
    def f(x):
        y = x ** 2
        y1 = td.detach(y)
        return np.sum(np.exp(y1) * 3 + y1 ** 2)

    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(td.grad(f)(x), np.zeros(3), **EXACT)
    np.testing.assert_allclose(td.grad(lambda x: td.detach(x ** 2) * 3 + x)(2.0), 1.0, **EXACT)


def test_2_changing_data_outside_the_graph_keeps_the_gradient_of_2x():
    grad_y = td.grad(lambda x: np.sum(2 * x))
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(grad_y(x), [2.0, 2.0, 2.0], **EXACT)
    x *= 100  # PyTorch: x.data *= 100
    np.testing.assert_allclose(grad_y(x), [2.0, 2.0, 2.0], **EXACT)


def test_2_data_updates_to_a_constant_are_seen_by_the_next_call():
    """Constants and data updates are outside the graph: a constant updated in place between two
    calls of the same compiled gradient must give the gradient for its new data (as a fresh
    td.grad of the same function does)."""
    c = np.array([1.0, 2.0, 3.0])

    def f(x):
        return np.sum(c * x)

    g = td.grad(f)
    x = np.ones(3)
    np.testing.assert_allclose(g(x), [1.0, 2.0, 3.0], **EXACT)
    c *= 100
    np.testing.assert_allclose(td.grad(f)(x), [100.0, 200.0, 300.0], **EXACT)
    np.testing.assert_allclose(g(x), [100.0, 200.0, 300.0], **EXACT)


def test_2_generated_source_comments_point_into_the_differentiated_function():
    """The location comments of generated code name lines of the user's function, never the line
    that happened to call the gradient."""
    def f(x):
        y = x ** 2
        y1 = td.detach(y)
        return y1 * 3 + x

    lines, first = inspect.getsourcelines(f)
    inside = range(first, first + len(lines))
    g = td.grad(f)
    np.testing.assert_allclose(g(2.0), 1.0, **EXACT)
    source = g.source(2.0)
    cited = [int(n) for n in re.findall(r"# (?:grad of: )?test_seed_behaviours\.py:(\d+)", source)]
    outside = [n for n in cited if n not in inside]
    assert not outside, f"lines {outside} are outside f (lines {first}-{inside[-1]}):\n{source}"


# ---------------------------------------------------------------------------------------------
# 3. Vector outputs: vector-Jacobian products and Jacobians


def doubled_square(x):
    y = 2 * x
    z = y.reshape(2, 2)
    return z


def test_3_only_a_scalar_output_has_a_plain_gradient():
    with pytest.raises(td.NonScalarOutputError, match=r"shape \(2, 2\)"):
        td.grad(doubled_square)(np.array([1.0, 2.0, 3.0, 4.0]))


def test_3_the_non_scalar_error_suggests_only_functions_that_exist():
    with pytest.raises(td.NonScalarOutputError) as info:
        td.grad(doubled_square)(np.array([1.0, 2.0, 3.0, 4.0]))
    suggested = set(re.findall(r"\btd\.(\w+)", str(info.value)))
    assert "vjp" in suggested
    missing = sorted(name for name in suggested if not hasattr(td, name))
    assert not missing, f"the message suggests {', '.join('td.' + m for m in missing)}, which tracediff does not have: {info.value}"


def test_3_vjp_of_reshaped_2x_is_v_transpose_j():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    z, pullback = td.vjp(doubled_square, x)
    np.testing.assert_allclose(z, [[2.0, 4.0], [6.0, 8.0]], **EXACT)
    v = np.array([[1.0, 0.1], [0.01, 0.001]])
    cotangents = pullback(v)
    assert isinstance(cotangents, tuple) and len(cotangents) == 1  # one per primal
    np.testing.assert_allclose(cotangents[0], [2.0, 0.2, 0.02, 0.002], **EXACT)


def test_3_jacobian_from_one_pullback_per_output_entry():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    _, pullback = td.vjp(doubled_square, x)
    jacobian = np.stack([pullback(e.reshape(2, 2))[0] for e in np.eye(4)])
    np.testing.assert_allclose(jacobian, 2 * np.eye(4), **EXACT)
    v = np.array([[1.0, 0.1], [0.01, 0.001]])
    np.testing.assert_allclose(v.ravel() @ jacobian, pullback(v)[0], **EXACT)


def shifted_square(inp):
    return (inp + 1) ** 2


def test_3_vjp_with_ones_of_eye_is_4_on_the_diagonal_2_elsewhere_and_fresh_each_call():
    inp = np.eye(5)
    out, pullback = td.vjp(shifted_square, inp)
    np.testing.assert_allclose(out, (inp + 1) ** 2, **EXACT)
    expected = np.where(np.eye(5, dtype=bool), 4.0, 2.0)
    first = pullback(np.ones((5, 5)))[0]
    np.testing.assert_allclose(first, expected, **EXACT)
    np.testing.assert_allclose(first, 2 * (inp + 1), **EXACT)
    second = pullback(np.ones((5, 5)))[0]
    np.testing.assert_allclose(second, expected, **EXACT)  # no accumulation: not 8 / 4
    assert first is not second
    first *= 0  # the caller owns what it got back: a later call is not affected
    np.testing.assert_allclose(pullback(np.ones((5, 5)))[0], expected, **EXACT)
    accumulated = pullback(np.ones((5, 5)))[0] + pullback(np.ones((5, 5)))[0]
    np.testing.assert_allclose(accumulated, np.where(np.eye(5, dtype=bool), 8.0, 4.0), **EXACT)


@pytest.mark.parametrize("fun", [shifted_square, lambda inp: inp + 1, lambda inp: inp * 1.0],
                         ids=["seed (inp+1)**2", "inp+1", "inp*1.0"])
def test_3_fresh_cotangents_can_be_accumulated_in_place(fun):
    """The tutorial's accumulation, done by the caller: total = pullback(v); total += pullback(v).
    Fresh results must be new arrays, not the cotangent passed in (or each other)."""
    inp = np.eye(5)
    out, pullback = td.vjp(fun, inp)
    np.testing.assert_allclose(out, fun(inp), **EXACT)
    v = np.ones((5, 5))
    single = pullback(v)[0].copy()
    total = pullback(v)[0]
    total += pullback(v)[0]
    total += pullback(v)[0]
    np.testing.assert_allclose(v, np.ones((5, 5)), **EXACT)  # the cotangent is untouched
    np.testing.assert_allclose(total, 3 * single, **EXACT)


def test_3_gradients_are_fresh_arrays_not_the_arguments_or_each_other():
    x, y = np.ones(3), np.array([1.0, 2.0, 3.0])
    g = td.grad(lambda x, y: np.sum(x * y))(x, y)  # the gradient equals y ...
    np.testing.assert_allclose(g, [1.0, 2.0, 3.0], **EXACT)
    g *= 10  # ... but updating it in place must not change y
    np.testing.assert_allclose(y, [1.0, 2.0, 3.0], **EXACT)

    def f(x, b):
        z = x + b
        return np.sum(z ** 2)

    gx, gb = td.grad(f, argnums=(0, 1))(np.ones(3), np.ones(3))
    np.testing.assert_allclose(gx, [4.0, 4.0, 4.0], **EXACT)
    np.testing.assert_allclose(gb, [4.0, 4.0, 4.0], **EXACT)
    gx -= 4.0  # updating one argument's gradient must not change the other's
    np.testing.assert_allclose(gb, [4.0, 4.0, 4.0], **EXACT)


def test_3_a_compiled_gradient_can_be_called_any_number_of_times():
    g = td.grad(lambda inp: np.sum(shifted_square(inp)))
    inp = np.eye(5)
    expected = np.where(np.eye(5, dtype=bool), 4.0, 2.0)
    for _ in range(5):
        np.testing.assert_allclose(g(inp), expected, **EXACT)
    info = g.cache_info()
    assert (info.traces, info.misses, info.hits) == (1, 1, 4)


# ---------------------------------------------------------------------------------------------
# 4. A small network and a loss


def binary_cross_entropy_with_logits(z, y):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def network_loss(w, b, x, y):
    z = x @ w + b
    return binary_cross_entropy_with_logits(z, y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_4_logistic_loss_gradients(seed):
    rng = np.random.default_rng(seed)
    x, y = np.ones(5), np.zeros(3)
    w, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    loss, (dw, db) = td.value_and_grad(network_loss, argnums=(0, 1))(w, b, x, y)
    z = x @ w + b
    p = sigmoid(z)
    np.testing.assert_allclose(loss, -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-12)
    dz = td.grad(binary_cross_entropy_with_logits)(z, y)
    np.testing.assert_allclose(dz, (p - y) / 3, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dw, np.outer(x, dz), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, dz, rtol=1e-12, atol=1e-15)
    td.testing.check_grads(network_loss, w, b, x, y, argnums=(0, 1))


def test_4_logistic_loss_gradient_for_both_labels_and_signs():
    z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, 40.0])
    for y in (np.zeros(6), np.ones(6), np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])):
        dz = td.grad(binary_cross_entropy_with_logits)(z, y)
        np.testing.assert_allclose(dz, (sigmoid(z) - y) / 6, rtol=1e-12, atol=1e-15)


W = np.ones((2, 2))
bias = np.ones(2)


def M(a):
    return W @ a + bias


def frozen_layer_sum(a, b):
    c = M(a)
    c2 = M(b)  # noqa: F841  (computed, not on the path to the output)
    d = c * 2
    return np.sum(d)


def test_4_frozen_linear_layer():
    a, b = np.array([1.0, 2.0]), np.array([13.0, 32.0])
    np.testing.assert_allclose(td.grad(frozen_layer_sum)(a, b), [4.0, 4.0], **EXACT)
    d_da, d_db = td.grad(frozen_layer_sum, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(d_da, [4.0, 4.0], **EXACT)
    np.testing.assert_allclose(d_db, [0.0, 0.0], **EXACT)  # b is not on the path to the output
    graph = td.trace(frozen_layer_sum, a, b)
    assert graph.input_names == ["a", "b"]  # W and bias are constants, not inputs: no gradient


def test_4_frozen_layer_with_weights_as_arguments_outside_argnums():
    def f(a, b, W, bias):
        c = W @ a + bias
        c2 = W @ b + bias  # noqa: F841
        return np.sum(c * 2)

    a, b = np.array([1.0, 2.0]), np.array([13.0, 32.0])
    d_da = td.grad(f, argnums=0)(a, b, np.ones((2, 2)), np.ones(2))
    np.testing.assert_allclose(d_da, [4.0, 4.0], **EXACT)
    np.testing.assert_allclose(td.grad(f, argnums=0)(a, b, 3 * np.ones((2, 2)), np.ones(2)), [12.0, 12.0], **EXACT)


# ---------------------------------------------------------------------------------------------
# 5. Gradient descent


def sse(a, b):
    return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2


@pytest.mark.parametrize("point, value, gradient, tol", [
    ((0.0, 0.0), 20.0, (-28.0, -12.0), EXACT),
    ((0.28, 0.12), 11.8016, (-21.44, -9.28), dict(rtol=1e-12, atol=1e-9)),
    ((0.49944, 0.2128), 6.8973, (-16.3088, -7.1533), DEC4),
    ((0.4944, 0.2128), 6.9797, (-16.4096, -7.1936), DEC4),
])
def test_5_sse_surface(point, value, gradient, tol):
    v, (da, db) = td.value_and_grad(sse, argnums=(0, 1))(*point)
    assert type(da) is float and type(db) is float
    np.testing.assert_allclose(v, value, **tol)
    np.testing.assert_allclose((da, db), gradient, **tol)
    np.testing.assert_allclose(td.grad(sse, argnums=(0, 1))(*point), gradient, **tol)


def test_5_step_along_the_negative_gradient_lands_on_0_4944_0_2128():
    a, b = 0.28, 0.12
    da, db = td.grad(sse, argnums=(0, 1))(a, b)
    np.testing.assert_allclose((a - 0.01 * da, b - 0.01 * db), (0.4944, 0.2128), rtol=0, atol=1e-12)


X = np.array([[1.0, 1.0], [3.0, 1.0]])
Y = np.array([[2.0], [4.0]])


def least_squares(w, X, y):  # SSE / (2m)
    residual = X @ w - y
    return np.sum(residual ** 2) / (2 * len(X))


def sum_of_squares(w, X, y):
    residual = X @ w - y
    return np.sum(residual ** 2)


def test_5_matrix_gradient_at_zeros_and_the_factor_2m():
    w = np.zeros((2, 1))
    g = td.grad(least_squares)(w, X, Y)
    assert g.shape == (2, 1)
    np.testing.assert_allclose(g, [[-7.0], [-3.0]], **EXACT)
    np.testing.assert_allclose(td.grad(sum_of_squares)(w, X, Y), [[-28.0], [-12.0]], **EXACT)  # 4 = 2m times
    rng = np.random.default_rng(0)
    for _ in range(3):  # the hand formula, as a second check
        w = rng.standard_normal((2, 1))
        np.testing.assert_allclose(td.grad(least_squares)(w, X, Y), X.T @ (X @ w - Y) / 2, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def descent():
    td.clear_caches()  # (module scope: set up before the per-test clearing in conftest.py)
    grad = td.grad(least_squares)
    w = np.zeros((2, 1))
    snapshots = {}
    for step in range(1, 10001):
        w = w - 0.01 * grad(w, X, Y)
        if step in (3, 4, 1000, 10000):
            snapshots[step] = w.copy()
    return snapshots, grad.cache_info()


def test_5_after_3_steps(descent):
    np.testing.assert_allclose(descent[0][3].ravel(), [0.197939, 0.084999], **DEC6)


def test_5_after_4_steps_with_sse_12_4075(descent):
    w = descent[0][4]
    np.testing.assert_allclose(w.ravel(), [0.256342, 0.110190], **DEC6)
    residual = X @ w - Y
    np.testing.assert_allclose((residual.T @ residual).item(), 12.4075, **DEC4)


def test_5_after_1000_steps(descent):
    np.testing.assert_allclose(descent[0][1000].ravel(), [1.0372, 0.9102], **DEC4)


def test_5_after_10000_steps(descent):
    np.testing.assert_allclose(descent[0][10000].ravel(), [1.0, 1.0], **DEC6)
    assert descent[1].traces == 1  # one trace, then the cached code for every step


def fit_loss(w, x, y):
    return (w * x - y) ** 2


def test_5_fit_y_equals_w_x():
    w = 3.0
    np.testing.assert_allclose(w * 4.0, 12.0, **EXACT)  # prediction before training
    grad = td.grad(fit_loss)
    w_hand = w
    for _ in range(100):
        for x, y in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]):
            g = grad(w, x, y)
            assert type(g) is float
            w = w - 0.01 * g
            w_hand = w_hand - 0.01 * 2 * (w_hand * x - y) * x  # the hand formula, as a second check
    assert type(w) is float
    np.testing.assert_allclose(w, w_hand, rtol=1e-12)
    np.testing.assert_allclose(w, 2.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(w * 4.0, 8.0, rtol=0, atol=1e-9)  # prediction after training
