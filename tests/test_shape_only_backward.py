"""Building a gradient from shapes and dtypes (abstract.py): the backward pass is recorded
without computing its values, forward temporaries die as they would without tracing, and values
are computed where a decision needs them. Each test checks gradients against finite differences
or hand-derived values, with the optimization on and off, and with arrays held weakly from one
element (large_at=1) so that small arrays take the large arrays' path."""
import gc
import tracemalloc

import numpy as np
import pytest

import tracediff as td
from tracediff import abstract
from tracediff.primitives.core import REGISTRY
from tracediff.testing import check_grads

SETTINGS = [{}, {"large_at": 1}, {"disable": "shape_only_backward"}]


@pytest.fixture(params=SETTINGS, ids=["default", "weak_from_1", "off"])
def setting(request):
    with td.optimizations(**request.param):
        yield request.param


@pytest.fixture
def not_checking(monkeypatch):
    """The tests of what is not computed: TRACEDIFF_CHECK_SHAPES=1 computes everything."""
    monkeypatch.setattr(abstract, "CHECK_SHAPES", False)


def test_the_build_computes_no_backward_value(monkeypatch, not_checking):
    calls = []
    cos = REGISTRY["cos"]
    impl = cos.impl
    monkeypatch.setattr(cos, "impl", lambda *a, **k: calls.append(np.size(a[0])) or impl(*a, **k))
    n = 1 << 17  # (smaller values are computed: that costs less than working out their shape)
    x = np.linspace(-1.0, 1.0, n)
    g = td.grad(lambda x: np.sum(np.sin(x)))(x)  # sin's rule is g * cos(x)
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-15)
    assert n not in calls  # (the dtype is worked out on one element; the generated code calls np.cos)
    with td.optimizations(disable="shape_only_backward"):
        td.grad(lambda x: np.sum(np.sin(x)))(x)
    assert n in calls


def test_tracing_keeps_no_more_temporaries_than_the_function(not_checking):
    n, depth = 200_000, 24

    def deep(x):
        for _ in range(depth):
            x = np.sin(x) * 0.9 + 0.1
        return np.sum(x)

    x = np.linspace(-1.0, 1.0, n)
    peaks = {}
    for key, setting in {"weak": {}, "strong": {"disable": "shape_only_backward"}}.items():
        gc.collect()
        tracemalloc.start()
        with td.optimizations(**setting):
            grad = td.grad(deep)
            got = grad(x)
        peaks[key] = tracemalloc.get_traced_memory()[1] / x.nbytes
        tracemalloc.stop()
        expected = np.ones(n)
        y = x
        for _ in range(depth):
            expected = expected * np.cos(y) * 0.9
            y = np.sin(y) * 0.9 + 0.1
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # The generated code keeps every step's sin input for the backward pass (depth arrays); the
    # trace must add only a few of its own, where holding every temporary adds 2 per step.
    assert peaks["weak"] < depth + 8, peaks
    assert peaks["strong"] > peaks["weak"] + depth, peaks


def test_values_a_guard_computes_live_as_long_as_the_users_code_holds_them(not_checking):
    # Large forward values are worked out from shapes; a guard at each step computes the step's
    # values. Those must then die with the user's variables, as if computed when made: a trace
    # holding each computed step would take depth arrays more.
    n, depth = 200_000, 24

    def guarded(x):
        for _ in range(depth):
            x = np.sin(x) * 0.9 + 0.1
            if np.max(x) > 10.0:  # (never: a guard that reads each step's value)
                x = x * 0.5
        return np.sum(x)

    x = np.linspace(-1.0, 1.0, n)
    gc.collect()
    tracemalloc.start()
    got = td.grad(guarded)(x)
    peak = tracemalloc.get_traced_memory()[1] / x.nbytes
    tracemalloc.stop()
    expected, y = np.ones(n), x
    for _ in range(depth):
        expected, y = expected * np.cos(y) * 0.9, np.sin(y) * 0.9 + 0.1
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert peak < depth + 8, peak  # (the generated code's depth saved inputs, and a few)


FUNCTIONS = {
    "chain": lambda x: np.sum(np.sin(x) * np.exp(-x ** 2) + np.tanh(x) * np.log1p(x ** 2)),
    "reductions and reshapes": lambda x: np.sum(np.max(x.reshape(3, 4), axis=1) ** 2)
    + np.mean(x.reshape(4, 3).T @ np.arange(4.0)),
    "sort reads its indices": lambda x: np.sum(np.sort(np.sin(x)) * np.arange(12.0)),
    "cumulative and indexing": lambda x: np.sum(np.cumsum(x ** 2)[::2] * x[[0, 3, 3, 5, 7, 11]]),
    "where and clip": lambda x: np.sum(np.where(x > 0, np.clip(x, -0.5, 0.5), x ** 3)),
    "linear algebra": lambda x: np.linalg.slogdet(x[:9].reshape(3, 3) + 3 * np.eye(3))[1]
    + np.sum(np.linalg.solve(x[:9].reshape(3, 3) + 3 * np.eye(3), x[9:])),
    "float32": lambda x: np.sum(np.tanh(x) * np.float32(2) + x ** 2),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradients_match_finite_differences_to_second_order(name, setting):
    x = np.linspace(-0.9, 1.1, 12) + 0.05 * np.arange(12) ** 1.5
    check_grads(FUNCTIONS[name], x.astype(np.float32) if name == "float32" else x, order=2)
    if name == "float32":
        assert td.grad(FUNCTIONS[name])(x.astype(np.float32)).dtype == np.float32


def test_a_guard_in_a_custom_rule_reads_a_pending_cotangent(setting):
    @td.custom_vjp
    def scaled(x):
        return x * 2.0

    @scaled.defvjp
    def _(g, ans, x):
        if np.sum(g) > 0:  # decided on the cotangent's value: it is computed for this
            return (g * 2.0,)
        return (g * 3.0,)

    x = np.linspace(0.0, 1.0, 6)
    grad = td.grad(lambda x, s: s * np.sum(scaled(np.sin(x))))
    np.testing.assert_allclose(grad(x, 1.0), 2.0 * np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(grad(x, -1.0), -3.0 * np.cos(x), rtol=1e-14)  # the other path


def test_writes_into_views_of_pending_values_in_a_custom_rule(setting):
    @td.custom_vjp
    def f(x):
        return x ** 2

    @f.defvjp
    def _(g, ans, x):
        out = 2 * x * g
        flat = out.reshape(-1)  # a view: the write shows in out
        flat[0] += 100.0
        copy = out.T.reshape(-1)  # a copy (transposed data): a write into it does not
        copy[1] += 1000.0
        return (out,)

    x = np.arange(6.0).reshape(2, 3)
    got = td.grad(lambda x: np.sum(f(x) * 3.0))(x)
    expected = 6.0 * x
    expected[0, 0] += 100.0
    np.testing.assert_array_equal(got, expected)


def test_a_forward_value_dead_by_the_backward_pass_is_computed_again():
    # sort's rule needs the argsort of its operand, np.sin(x), which the user's code dropped.
    x = np.linspace(-2.0, 2.0, 9)[::-1].copy()
    with td.optimizations(large_at=1):
        got = td.grad(lambda x: np.sum(np.sort(np.sin(x)) * np.arange(9.0)))(x)
    order = np.argsort(np.sin(x))
    expected = np.zeros(9)
    expected[order] = np.arange(9.0) * np.cos(x[order])
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_a_pending_value_knows_when_a_shape_was_worked_out_wrong():
    p = abstract.Pending((3,), np.float64, np.ones(()), REGISTRY["sin"], [np.zeros(4)], {})
    with pytest.raises(AssertionError, match="shape_only_backward"):
        p.force()


def test_forcing_a_long_chain_of_pending_values_does_not_recurse():
    p = np.zeros(3)
    for _ in range(20_000):
        p = abstract.Pending((3,), np.float64, np.ones(()), REGISTRY["add"], [p, 1.0], {})
    np.testing.assert_array_equal(p.force(), np.full(3, 20_000.0))


def test_jacobian_hessian_and_checkpoint_take_the_same_path(setting):
    x = np.linspace(-1.0, 1.0, 5)
    jac = td.jacobian(lambda x: np.sin(x) * x[::-1])(x)
    expected = np.diag(np.cos(x) * x[::-1]) + np.diag(np.sin(x))[:, ::-1]
    np.testing.assert_allclose(jac, expected, rtol=1e-14, atol=1e-15)
    hess = td.hessian(lambda x: np.sum(x ** 3) + x[0] * x[1])(x)
    expected = np.diag(6 * x)
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(hess, expected, rtol=1e-14)

    @td.checkpoint
    def block(x):
        return np.tanh(x) * 2.0

    g = td.grad(lambda x: np.sum(block(block(x)) ** 2))(x)
    t1 = np.tanh(x) * 2.0
    t2 = np.tanh(t1) * 2.0
    np.testing.assert_allclose(g, 2 * t2 * 2 * (1 - np.tanh(t1) ** 2) * 2 * (1 - np.tanh(x) ** 2), rtol=1e-13)


def test_a_big_matrix_product_is_typed_without_being_computed(monkeypatch, not_checking):
    calls = []
    matmul = REGISTRY["matmul"]
    impl = matmul.impl
    monkeypatch.setattr(matmul, "impl", lambda a, b: calls.append(np.shape(a)) or impl(a, b))
    X = np.linspace(0.0, 1.0, 600 * 200).reshape(600, 200)  # (a big gradient: 120,000 elements)
    w = np.linspace(-1.0, 1.0, 200)
    g = td.grad(lambda X, w: np.sum(np.tanh(X @ w)), argnums=(0, 1))(X, w)
    d = 1 - np.tanh(X @ w) ** 2
    np.testing.assert_allclose(g[0], np.outer(d, w), rtol=1e-13)
    np.testing.assert_allclose(g[1], X.T @ d, rtol=1e-12)
    assert calls == []  # none computed while building: the forward's and the backward's are worked out
