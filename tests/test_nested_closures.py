"""Differentiation inside differentiation that closes over outer traced values; pullbacks that are
themselves differentiated; size-1 losses."""
import numpy as np
import pytest

import tracediff as td


def test_an_inner_gradient_closing_over_an_outer_value():
    # d/dx [x * d/dy (x * y)] = d/dx x**2 = 2x
    assert td.grad(lambda x: x * td.grad(lambda y: x * y)(2.0))(1.5) == 3.0
    # the inner call on a traced value too: d/dx [x * (d/dy x*y at y=x)] = 2x
    assert td.grad(lambda x: x * td.grad(lambda y: x * y)(x))(1.5) == 3.0


def test_closed_over_arrays_through_nonlinear_inner_functions():
    def outer(x):
        inner = td.grad(lambda y: np.sum(np.sin(x) * y ** 2))(np.ones(2))  # 2 sin(x)
        return np.sum(x * inner)

    x = np.array([0.5, 1.0])
    np.testing.assert_allclose(td.grad(outer)(x), 2 * np.sin(x) + 2 * x * np.cos(x), rtol=1e-12)
    td.testing.check_grads(outer, x)


def test_three_levels_of_closure():
    def f(x):
        def g(y):
            return y * td.grad(lambda z: x * y * z ** 2)(1.0)  # 2xy

        return td.grad(g)(x)  # d/dy (2 x y**2) at y = x: 4 x**2

    np.testing.assert_allclose(td.grad(f)(0.7), 8 * 0.7, rtol=1e-12)


def test_grad_of_grad_of_a_ufunc_after_grad_of_it():
    assert td.grad(np.sin)(1.0) == np.cos(1.0)
    np.testing.assert_allclose(td.grad(td.grad(np.sin))(np.float64(1.0)), -np.sin(1.0))


def test_a_pullback_is_differentiable_in_its_cotangent_and_its_primal():
    f = lambda x: np.sin(x) * x  # noqa: E731
    x0 = np.array([0.3, 0.7])
    d = np.sin(x0) + x0 * np.cos(x0)  # f'
    dd = 2 * np.cos(x0) - x0 * np.sin(x0)  # f''

    _, pullback = td.vjp(f, x0)
    np.testing.assert_allclose(td.grad(lambda ct: np.sum(pullback(ct)[0] ** 2))(np.ones(2)), 2 * d * d)
    _, pullback_of_pullback = td.vjp(lambda ct: pullback(ct)[0], np.ones(2))  # a VJP of a VJP
    np.testing.assert_allclose(pullback_of_pullback(np.ones(2))[0], d)

    def gauss_newton_direction(x, v):  # J^T v, differentiated in x
        _, pb = td.vjp(f, x)
        return pb(v)[0]

    _, pb_x = td.vjp(lambda x: gauss_newton_direction(x, np.ones(2)), x0)
    np.testing.assert_allclose(pb_x(np.ones(2))[0], dd, rtol=1e-12)
    td.testing.check_grads(lambda x: np.sum(gauss_newton_direction(x, np.array([1.0, -2.0])) ** 2), x0)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1)])
def test_size_one_outputs_are_scalar_losses(shape):
    X = np.arange(3.0).reshape(1, 3)

    def loss(w):
        return ((X @ w) ** 2).reshape(shape)

    w = np.array([0.5, -1.0, 2.0])
    want = 2 * (X @ w) * X[0]
    np.testing.assert_allclose(td.grad(loss)(w), want)
    value, g = td.value_and_grad(loss)(w)
    assert value.shape == shape  # the value as the function returned it
    np.testing.assert_allclose(g, want)
    np.testing.assert_allclose(td.hessian(loss)(w), 2 * np.outer(X[0], X[0]))
    td.testing.check_grads(loss, w)


def test_outputs_of_more_than_one_element_are_still_refused():
    with pytest.raises(td.NonScalarOutputError, match=r"shape \(2,\).*or one of size 1"):
        td.grad(lambda w: w * 2)(np.ones(2))


def test_a_custom_rule_refuses_a_differentiated_value_read_from_a_closure():
    def loss(x, w):
        @td.custom_vjp
        def scaled_sin(x):
            return np.sin(x * w)  # w is being differentiated, but is not an argument

        @scaled_sin.defvjp
        def _(g, ans, x):
            return (g * np.cos(x * w) * w,)

        return np.sum(scaled_sin(x))

    with pytest.raises(td.transforms.CustomVJPError, match="reads 'w', which is being differentiated"):
        td.grad(loss, argnums=(0, 1))(np.ones(2), np.array([1.0, 2.0]))
    # Not differentiated with respect to w: w is a constant of the rule, and that is fine.
    x, w = np.ones(2), np.array([1.0, 2.0])
    np.testing.assert_allclose(td.grad(loss)(x, w), np.cos(x * w) * w)


def test_a_custom_rule_may_use_values_computed_earlier_from_its_arguments():
    def loss(x, w):
        s = np.sin(x)  # the same operation inside the custom function is merged with this one

        @td.custom_vjp
        def twice_sin(x):
            return np.sin(x) * 2

        twice_sin.defvjp(lambda x: (np.sin(x) * 2, (np.cos(x),)), lambda r, g: (2 * g * r[0],))
        return np.sum(twice_sin(x) * w + s)

    x, w = np.ones(2), np.array([1.0, 2.0])
    gx, gw = td.grad(loss, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(gx, 2 * np.cos(x) * w + np.cos(x))
    np.testing.assert_allclose(gw, 2 * np.sin(x))
