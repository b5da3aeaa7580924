"""The optimizing passes (tracediff/passes.py), each seen in the optimized IR of a gradient and
each checked to leave the gradient right (exact values or finite differences)."""
import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def primitives(fun, *args, value=False):
    graph = (td.value_and_grad if value else td.grad)(fun).ir(*args)
    return [node.primitive.name for node in graph.nodes]


@pytest.mark.parametrize("fun, gone", [
    (lambda x: np.sum((x * 1 + 0) ** 2), {"add"}),  # x*1 and x+0
    (lambda x: np.sum(-(-x) * x), {"negative"}),  # double negation
    (lambda x: np.sum(x.T.T * x), {"transpose"}),  # transpose of transpose
    (lambda x: np.sum(x.reshape(3, 2).reshape(6).reshape(2, 3) * x), {"reshape"}),  # reshape chain
], ids=["neutral elements", "double negation", "transpose of transpose", "reshape chain"])
def test_local_algebra_leaves_no_trace_of_itself(fun, gone):
    names = primitives(fun, X, value=True)
    assert not gone & set(names), names
    np.testing.assert_allclose(td.grad(fun)(X), 2 * X, rtol=1e-15)


def test_chains_of_scalar_constants_fold_into_one():
    fun = lambda x: np.sum(2.0 * (3.0 * -(x * 0.5)))  # noqa: E731
    graph = td.value_and_grad(fun).ir(X)
    constants = [v.value for n in graph.nodes for v in n.inputs if not hasattr(v, "id")]
    assert constants.count(-3.0) == 1 and primitives(fun, X, value=True).count("multiply") == 1
    np.testing.assert_array_equal(td.grad(fun)(X), np.full_like(X, -3.0))


def test_a_value_computed_twice_is_computed_once():
    fun = lambda x: np.sum(np.sin(x) * np.sin(x))  # noqa: E731
    assert primitives(fun, X).count("sin") == 1
    np.testing.assert_allclose(td.grad(fun)(X), 2 * np.sin(X) * np.cos(X), rtol=1e-14)


def test_forward_values_the_backward_pass_does_not_read_are_not_computed():
    def fun(x):
        unused = np.exp(x) @ np.ones(3)  # noqa: F841  (dead: never reaches the output)
        return np.sum(np.tanh(x) + 3.0 * x)

    names = primitives(fun, X)
    assert "exp" not in names and "matmul" not in names and "sum" not in names
    np.testing.assert_allclose(td.grad(fun)(X), 1 - np.tanh(X) ** 2 + 3.0, rtol=1e-15)


def test_no_sum_undoes_a_broadcast_that_did_not_happen():
    # x and w have one shape: the product's cotangent needs no unbroadcasting sum.
    w = X[::-1].copy()
    assert "sum" not in primitives(lambda x: np.sum(x * w), X)[1:]
    # a bias row broadcast over rows: its gradient is one sum over axis 0
    b = np.array([0.1, 0.2, 0.3])
    names = primitives(lambda b: np.sum((X + b) ** 2), b)
    assert names.count("sum") == 1
    np.testing.assert_allclose(td.grad(lambda b: np.sum((X + b) ** 2))(b), 2 * (X + b).sum(axis=0), rtol=1e-15)


def test_broadcasts_that_elementwise_operations_make_anyway_are_dropped():
    # mean's gradient is broadcast back over the rows; sin's rule multiplies it by cos(z), which
    # broadcasts by itself.
    def fun(z):
        return np.sum(np.mean(np.sin(z), axis=0) ** 2)

    assert "broadcast_to" not in primitives(fun, X)
    m = np.mean(np.sin(X), axis=0)
    np.testing.assert_allclose(td.grad(fun)(X), 2 * m / 2 * np.cos(X), rtol=1e-15)


def test_a_sum_of_broadcast_copies_is_a_product_with_their_count():
    v = np.array([1.0, 2.0, 3.0])

    def fun(v):
        return np.sum(np.mean(np.outer(np.ones(4), v), axis=0) * v)

    names = primitives(fun, v)
    assert "broadcast_to" not in names and "sum" not in names, td.grad(fun).ir(v)
    np.testing.assert_allclose(td.grad(fun)(v), 2 * v, rtol=1e-15)
    check_grads(fun, v, order=2)


# --- common factors -----------------------------------------------------------------------------

def test_a_common_factor_of_two_products_is_taken_out():
    # d/dx sum(w * x * sin(x)) = w*sin(x) + w*x*cos(x): w*(sin(x) + x*cos(x)), two products
    w = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])

    def fun(x):
        return np.sum(w * (x * np.sin(x)))

    assert primitives(fun, X).count("multiply") == 2, td.grad(fun).ir(X)
    np.testing.assert_allclose(td.grad(fun)(X), w * (np.sin(X) + X * np.cos(X)), rtol=1e-14)
    check_grads(fun, X, order=2)


def test_a_deep_chain_gradient_is_one_product_per_step():
    def chain(x):
        for _ in range(4):
            x = np.sin(x) * 1.01 + 0.1 * x
        return np.sum(x ** 2)

    x = np.linspace(-1, 1, 7)
    xs = [x]
    for _ in range(4):
        xs.append(np.sin(xs[-1]) * 1.01 + 0.1 * xs[-1])
    expected = 2 * xs.pop()
    while xs:
        expected = expected * (1.01 * np.cos(xs.pop()) + 0.1)
    np.testing.assert_allclose(td.grad(chain)(x), expected, rtol=1e-14)
    # per step: two products forward, and g * (0.1 + 1.01 * cos(x)) back, not g*0.1 + g*1.01*cos(x)
    assert primitives(chain, x).count("multiply") == 4 * 2 + 4 * 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_factoring_keeps_dtypes_and_shapes(dtype):
    b = np.array([0.5, -0.25, 1.0], dtype=dtype)

    def fun(x):
        return np.sum(np.tanh(x) * (x + b) * 0.5)

    x = X.astype(dtype)
    g = td.grad(fun)(x)
    t = np.tanh(X)
    expected = 0.5 * ((1 - t ** 2) * (X + b) + t)
    assert g.dtype == dtype and g.shape == X.shape
    np.testing.assert_allclose(g, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_products_used_elsewhere_are_not_factored():
    def fun(x):
        a = x * np.sin(x)  # a is also returned in the sum below: its cotangent matters as is
        return np.sum(a) + np.sum(a * a)

    check_grads(fun, X, order=2)


def test_a_product_of_thousands_of_factors_is_no_problem():
    w = np.linspace(0.99, 1.01, 5)

    def fun(x):
        y = x
        for _ in range(3000):
            y = y * w
        return np.sum(y + y * x)

    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(td.grad(fun)(x), w ** 3000 * (1 + 2 * x), rtol=1e-10)


def test_factoring_computes_nothing_from_the_users_arrays_ahead_of_time():
    # contributions g*w + g*c to x, with w and c the user's arrays: g*(w + c), where w + c is
    # computed by the generated code on each call (it reads the arrays by reference)
    w = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    c = np.array([0.5, 1.5, -2.0])

    def fun(x):
        return np.sum(np.tanh(x * w + x * c))

    source = td.grad(fun).source(X)
    assert "w + c" in source or "c + w" in source, source
    np.testing.assert_allclose(td.grad(fun)(X), (1 - np.tanh(X * (w + c)) ** 2) * (w + c), rtol=1e-14)
    check_grads(fun, X, order=2)
