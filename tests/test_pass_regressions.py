"""Wrong gradients that optimizations once gave, checked against exact values and differences.

Each test failed on the commit before its fix.
"""
import numpy as np

import tracediff as td
from tracediff.fuzz import check_function
from tracediff.testing import check_grads


def sum_times_mean(x):
    return np.sum(x) * np.mean(x)


def test_two_reductions_of_one_array_keep_the_gradient_shape():
    # f = S**2 / n: the gradient is 2 S / n everywhere, the Hessian 2 / n everywhere. Both
    # broadcasts of the reductions' rules were dropped as if each were alone: 4.0 of shape ().
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(td.grad(sum_times_mean)(x), [4.0, 4.0, 4.0])
    np.testing.assert_allclose(td.hessian(sum_times_mean)(x), np.full((3, 3), 2 / 3), rtol=1e-15)


def test_two_reductions_along_an_axis_keep_the_gradient_shape():
    def f(X):
        c = np.cumsum(X, axis=1)
        return np.sum(np.sin(c.sum(1))) + np.sum(np.cos(c.sum(1, keepdims=True)))

    X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    assert td.grad(f)(X).shape == (2, 3)
    check_grads(f, X, order=2)


def test_grad_of_grad_through_two_reductions():
    def f(x):
        return np.sum(x ** 2) * np.mean(np.sin(x)) + np.sum(x) * np.mean(x)

    x = np.array([0.3, -1.2, 0.7, 2.0])
    check_grads(f, x, order=2)
    assert check_function(f, (x,), order=2) == []


def test_a_softplus_term_pairs_with_its_own_maximum_only():
    # Two softplus-like terms share one maximum: only one may take it as its other half.
    def f(z):
        return np.sum(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) + np.log(1 + np.exp(-np.abs(z))))

    z = np.array([-1.0, 0.5, 2.0])
    e = np.exp(-np.abs(z))
    exact = 1 / (1 + np.exp(-z)) - np.sign(z) * e / (1 + e)
    np.testing.assert_allclose(td.grad(f)(z), exact, rtol=1e-14)
    check_grads(f, z, order=2)


def test_unoptimized_code_writes_constants_as_themselves():
    # Rule constants are alias nodes; with every optimization off they were written np.constant.
    def f(x):
        return np.sum(x * np.cos(np.arange(4.0)).reshape(2, 2))

    x = np.ones((2, 2))
    with td.optimizations(disable="all"):
        np.testing.assert_allclose(td.grad(f)(x), np.cos(np.arange(4.0)).reshape(2, 2))


def test_in_place_update_keeps_shape_and_dtype_as_numpy_does():
    import pytest

    def grows(x):
        out = np.zeros(3) + x[0]
        out += x[None, :3]  # (3,) += (1, 3): NumPy refuses; it used to become (1, 3) silently
        return np.sum(out)

    with pytest.raises(ValueError, match="add in place at .*shape \\(1, 3\\).*shape \\(3,\\)"):
        td.grad(grows)(np.ones(4))

    def single(x):
        out = x * 1
        out += np.float64(0.1) * x  # float32 += float64: stays float32, like NumPy
        return np.sum(out ** 2)

    x = np.linspace(0.5, 1.5, 3, dtype=np.float32)
    assert single(x).dtype == np.float32
    g = td.grad(single)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * 1.1 ** 2 * x, rtol=1e-6)


def test_scalar_constants_keep_scipy_ufuncs_in_single_precision():
    # A float32 array of ones became the Python float 1.0, which SciPy's ufuncs (unlike NumPy's)
    # promote to float64: the gradient of a float32 input came back float64. Found by the fuzzer.
    import scipy.special

    def f(x):
        return np.sum(scipy.special.xlogy(1 + x * x, 1 + x * x))

    x = np.linspace(-1.0, 1.0, 4, dtype=np.float32).reshape(2, 2)
    g = td.grad(f)(x)
    assert g.dtype == np.float32
    y = 1 + x.astype(np.float64) ** 2
    np.testing.assert_allclose(g, (np.log(y) + 1) * 2 * x, rtol=1e-5)
