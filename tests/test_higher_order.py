"""Higher-order derivatives: a compiled gradient called on tracers replays its IR."""
import numpy as np
import pytest

import tracediff as td


def test_nested_grads_of_a_cubic_are_exact():
    f = lambda x: x ** 3  # noqa: E731
    for x in (2.0, 3.0, -1.5):
        assert td.grad(f)(x) == pytest.approx(3 * x ** 2)
        assert td.grad(td.grad(f))(x) == pytest.approx(6 * x)
        assert td.grad(td.grad(td.grad(f)))(x) == pytest.approx(6.0)


def test_grad_of_grad_is_not_the_inner_grad():
    # functools.update_wrapper once copied the inner object's state into the outer one, so
    # grad(grad(f)) silently was grad(f); at x = 2 for x**3 both give 12, so use x = 3.
    f = lambda x: x ** 3  # noqa: E731
    outer = td.grad(td.grad(f))
    assert outer(3.0) == 18.0 and outer.fun is not f


def test_hessian_rows_of_an_elementwise_sum_match_the_analytic_diagonal():
    g = lambda x: np.sum(np.sin(x) * x)  # noqa: E731
    x = np.array([0.5, 1.0, 2.0])
    hess = np.array([td.grad(lambda x, e=e: np.sum(td.grad(g)(x) * e))(x) for e in np.eye(3)])
    np.testing.assert_allclose(hess, np.diag(2 * np.cos(x) - x * np.sin(x)), atol=1e-12)


def test_second_derivative_source_is_plain_numpy():
    source = td.grad(td.grad(lambda x: x ** 3)).source(2.0)
    assert "g_x = 6.0 * x" in source


def test_second_derivative_matches_finite_differences_of_the_gradient():
    def loss(w, x):
        return np.sum(np.tanh(x @ w) ** 2)

    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(3), rng.standard_normal((4, 3))
    grad = td.grad(loss)
    v = rng.standard_normal(3)
    # d/dw <grad(w), v> by tracediff against central differences of the first gradient
    hvp = td.grad(lambda w: np.sum(grad(w, x) * v))(w)
    h = 1e-6
    numeric = np.array([(np.sum(grad(w + h * e, x) * v) - np.sum(grad(w - h * e, x) * v)) / (2 * h)
                        for e in np.eye(3)])
    np.testing.assert_allclose(hvp, numeric, rtol=1e-6, atol=1e-8)


def test_a_gradient_called_twice_on_traced_values_replays_both_times():
    # The second traced call once found the first one's specialization and ran its generated
    # code on tracers (which fails at np.asarray); replays are kept apart from compiled calls.
    inner = td.grad(lambda x: np.sum(np.sin(x.astype(np.float64))))
    x = np.ones(3, np.float32)
    first = td.grad(lambda x: np.sum(inner(x)))(x)
    second = td.grad(lambda x: np.sum(inner(x)) * 2)(x)
    np.testing.assert_allclose(second, 2 * first)
    np.testing.assert_allclose(first, -np.sin(1.0), rtol=1e-6)
