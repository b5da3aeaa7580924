"""Testing your gradients with pytest: the `check_grads` fixture tracediff's plugin provides.

Installing tracediff (pip install -e .) registers the plugin; nothing to import or configure.
Run these tests with

    python -m pytest examples/test_my_gradients.py

`check_grads(fun, *args, argnums=0, rtol=None, atol=None, seed=0)` compares tracediff's gradient
of `fun` with central finite differences (computed in float64; tolerances from each argument's
dtype, looser for float32). When a check fails, pytest's report shows the argument, its worst
entries and the NumPy source tracediff generated for the gradient. See docs/testing-with-pytest.md.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tracediff as td


def mse(w, X, y):
    return np.mean((X @ w - y) ** 2)


def mlp_loss(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return np.mean((h @ params["w2"] - y) ** 2)


def softplus(x):
    return np.logaddexp(0.0, x)


softplus_p = td.primitive(softplus)  # an opaque function with a hand-written rule: test the rule
td.defvjp(softplus_p, lambda g, ans, x: g / (1 + np.exp(-x)))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((20, 3)), rng.standard_normal(20)


def test_mse(check_grads, data):
    X, y = data
    check_grads(mse, np.array([0.5, -1.0, 2.0]), X, y)


def test_mse_every_argument(check_grads, data):
    X, y = data
    check_grads(mse, np.array([0.5, -1.0, 2.0]), X, y, argnums=(0, 1, 2))


def test_mlp_parameters_as_a_dict(check_grads, data):
    X, y = data
    rng = np.random.default_rng(1)
    params = {"W1": rng.standard_normal((3, 4)), "b1": np.zeros(4), "w2": rng.standard_normal(4)}
    check_grads(mlp_loss, params, X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_in_each_precision(check_grads, data, dtype):
    X, y = (a.astype(dtype) for a in data)
    check_grads(mse, np.array([0.5, -1.0, 2.0], dtype=dtype), X, y)  # float32: looser tolerances


def test_custom_rule(check_grads):
    check_grads(lambda x: np.sum(softplus_p(x) ** 2), np.linspace(-3.0, 3.0, 7))


def test_non_scalar_output(check_grads):
    # A non-scalar output is checked through a random projection (a vector-Jacobian product).
    check_grads(lambda x: np.tanh(x) * x, np.linspace(-1.0, 1.0, 5))


@settings(max_examples=10, deadline=None)
@given(arrays(np.float64, (2, 3), elements=st.floats(-3.0, 3.0)))
def test_at_random_points(check_grads, x):
    # With Hypothesis: many inputs. Smooth functions only: at a kink (abs at 0) no check can pass.
    check_grads(lambda x: np.sum(np.tanh(x) ** 2 + softplus_p(x)), x)
