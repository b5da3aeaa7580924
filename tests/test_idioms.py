"""Stable idioms differentiated as a whole (tracediff/idioms.py): the logsumexp shift and softplus.

Each shortcut is checked three ways: the generated source shows it was taken (or not), the
gradient equals the hand-derived one, and it agrees with finite differences. The cases where the
shortcut must *not* be taken are built so that taking it would give a wrong gradient.
"""
import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads


def softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


RNG = np.random.default_rng(7)
X = RNG.standard_normal((5, 4))
X_TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5], [2.0, -1.0, 0.0, 2.0]])


# --- the logsumexp shift ------------------------------------------------------------------------

def lse_keepdims(x):
    m = np.max(x, axis=1, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))


def lse_expanded(x):
    m = np.max(x, axis=1)
    return np.log(np.sum(np.exp(x - m[:, None]), axis=1)) + m


def lse_reshaped(x):
    m = np.max(x, axis=1)
    return m + np.log(np.sum(np.exp(x - m.reshape(-1, 1)), axis=1))


def lse_axis0(x):
    m = np.max(x, axis=0)  # broadcast along axis 0, the summed one
    return m + np.log(np.sum(np.exp(x - m), axis=0))


def lse_everything(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def lse_of_mean(x):
    m = np.max(x, axis=1, keepdims=True)
    return m + np.log(np.mean(np.exp(x - m), axis=1, keepdims=True))


def log_softmax(x):
    s = x - np.max(x, axis=-1, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))


# (function, summed axis, exact gradient of sum(w * f(x)) for the weights w)
SHIFT_FREE = [
    (lse_keepdims, 1, lambda x, w: w * softmax(x, 1)),
    (lse_expanded, 1, lambda x, w: w[:, None] * softmax(x, 1)),
    (lse_reshaped, 1, lambda x, w: w[:, None] * softmax(x, 1)),
    (lse_axis0, 0, lambda x, w: w[None, :] * softmax(x, 0)),
    (lse_everything, None, lambda x, w: w * softmax(x, None)),
    (lse_of_mean, 1, lambda x, w: w * softmax(x, 1)),
    (log_softmax, -1, lambda x, w: w - softmax(x, -1) * np.sum(w, axis=-1, keepdims=True)),
]


@pytest.mark.parametrize("fun, axis, exact", SHIFT_FREE, ids=[f[0].__name__ for f in SHIFT_FREE])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x", [X, X_TIES], ids=["random", "ties"])
def test_the_shift_of_logsumexp_gets_no_gradient(fun, axis, exact, dtype, x):
    x = x.astype(dtype)
    w = np.random.default_rng(1).standard_normal(np.shape(fun(x))).astype(dtype)

    def loss(x):
        return np.sum(w * fun(x))

    grad = td.grad(loss)
    source = grad.source(x)
    assert "==" not in source and "where" not in source, source  # no tie mask for the max
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(grad(x), exact(x.astype(np.float64), w.astype(np.float64)), rtol=tol, atol=tol)
    assert grad(x).dtype == dtype
    if dtype == np.float64 and x.shape == X.shape:
        check_grads(loss, X)  # away from ties, where differences are smooth


def test_the_softmax_cross_entropy_of_a_network_has_the_hand_written_gradient():
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
    inputs, labels = rng.standard_normal((8, 6)), np.eye(4)[rng.integers(0, 4, 8)]

    def cross_entropy(W, b):
        logits = inputs @ W + b
        m = np.max(logits, axis=1, keepdims=True)
        lse = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
        return -np.mean(np.sum(labels * (logits - lse), axis=1))

    d_logits = (softmax(inputs @ W + b, 1) - labels) / 8
    g_W, g_b = td.grad(cross_entropy, argnums=(0, 1))(W, b)
    np.testing.assert_allclose(g_W, inputs.T @ d_logits, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g_b, d_logits.sum(axis=0), rtol=1e-12, atol=1e-15)
    check_grads(cross_entropy, W, b, argnums=(0, 1), order=2)


def along_other_axis(x):
    m = np.max(x, axis=0, keepdims=True)  # varies along axis 1, the summed one: not a shift
    return m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))


def reduced_against_kept(x):
    m = np.max(x, axis=1, keepdims=True)  # (5, 1) + (5,) is (5, 5): every m meets every row
    return m + np.log(np.sum(np.exp(x - m), axis=1))


def shift_reversed(x):
    m = np.max(x, axis=1)  # row i is shifted by the max of another row
    return m + np.log(np.sum(np.exp(x - m[::-1, None]), axis=1))


def shifted_also_used(x):
    m = np.max(x, axis=1, keepdims=True)
    d = x - m
    return m + np.log(np.sum(np.exp(d), axis=1, keepdims=True)) + np.sum(d ** 2, axis=1, keepdims=True)


def shift_subtracted(x):
    m = np.max(x, axis=1, keepdims=True)
    return m - np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))


def other_shift(x):
    m = np.max(x, axis=1, keepdims=True)
    return 2 * m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))


def log_softmax_shift_also_used(x):
    s = x - np.max(x, axis=1, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=1, keepdims=True)) + s ** 2


@pytest.mark.parametrize("fun", [along_other_axis, reduced_against_kept, shift_reversed, shifted_also_used, shift_subtracted, other_shift,
                                 log_softmax_shift_also_used])
def test_a_shift_that_matters_keeps_its_gradient(fun):
    # Each of these depends on m; dropping m's gradient would fail the finite differences.
    w = np.random.default_rng(2).standard_normal(np.shape(fun(X)))

    def loss(x):
        return np.sum(w * fun(x))

    check_grads(loss, X, order=2)
    assert "==" in td.grad(loss).source(X)  # m = max(x): its gradient goes through the tie mask


# --- softplus -------------------------------------------------------------------------------

def bce(z, y):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def bce_reordered(z, y):
    return np.mean(np.log1p(np.exp(-np.abs(z))) - y * z + np.maximum(0, z))


def bce_negated(z, y):
    return -np.mean(z * y - np.log1p(np.exp(-np.abs(z))) - np.maximum(z, 0.0))


def bce_summed(z, y):
    return np.sum(-(z * y) + (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))))


def bce_log_form(z, y):  # as TensorFlow's documentation writes it
    return np.mean(np.maximum(z, 0) - z * y + np.log(1 + np.exp(-np.abs(z))))


Z = np.array([-800.0, -40.0, -3.0, -0.5, 0.0, 0.25, 2.0, 40.0, 800.0])
LABELS = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize("fun, scale", [(bce, 1 / 9), (bce_reordered, 1 / 9), (bce_negated, 1 / 9),
                                        (bce_summed, 1.0), (bce_log_form, 1 / 9)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_terms_have_the_sigmoid_as_gradient(fun, scale, dtype):
    z, y = Z.astype(dtype), LABELS.astype(dtype)
    grad = td.grad(fun)
    source = grad.source(z, y)
    assert "np.minimum" in source and "sign" not in source, source
    got = grad(z, y)
    assert got.dtype == dtype
    expected = scale * (sigmoid(Z) - LABELS)
    if dtype == np.float64:
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)  # 4e-18 at z=-40 too
        check_grads(fun, Z[2:7], LABELS[2:7], order=2)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-30)


def test_softplus_at_infinities_has_the_limits_as_gradient():
    def softplus(z):
        return np.sum(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))

    np.testing.assert_array_equal(td.grad(softplus)(np.array([-np.inf, np.inf])), [0.0, 1.0])


def relu_used_twice(z):
    r = np.maximum(z, 0)
    return np.sum(r + np.log1p(np.exp(-np.abs(z))) + r ** 2)


def opposite_signs(z):
    return np.sum(np.maximum(z, 0) - np.log1p(np.exp(-np.abs(z))))


def log1p_term_broadcast(z):
    rows = np.array([[1.0], [2.0]])
    return np.sum(np.maximum(z, 0) + (np.log1p(np.exp(-np.abs(z))) * rows))


def relu_of_another_value(z):
    return np.sum(np.maximum(2 * z, 0) + np.log1p(np.exp(-np.abs(z))))


def log_of_two_plus(z):
    return np.sum(np.maximum(z, 0) + np.log(2 + np.exp(-np.abs(z))))


@pytest.mark.parametrize("fun", [relu_used_twice, opposite_signs, log1p_term_broadcast, relu_of_another_value,
                                 log_of_two_plus])
def test_softplus_lookalikes_keep_their_own_rules(fun):
    # Taking the shortcut here would be wrong: finite differences would catch it.
    z = np.array([-2.0, -0.3, 0.4, 1.5])
    check_grads(fun, z, order=2)
    assert "sign" in td.grad(fun).source(z)


def test_the_exp_of_softplus_used_elsewhere_still_gets_its_own_gradient():
    def fun(z):
        e = np.exp(-np.abs(z))
        return np.sum(np.maximum(z, 0) + np.log1p(e) + 3 * e)

    z = np.array([-2.0, -0.3, 0.4, 1.5])
    source = td.grad(fun).source(z)
    assert "np.minimum" in source
    e = np.exp(-np.abs(z))
    np.testing.assert_allclose(td.grad(fun)(z), sigmoid(z) - 3 * np.sign(z) * e, rtol=1e-13)
    check_grads(fun, z, order=2)


def test_shortcuts_hold_in_jacobians_hessians_and_jvps():
    z = np.array([-1.5, 0.2, 0.7])
    per_row = td.jacobian(lambda x: log_softmax(x))(X[:3])
    s = softmax(X[:3], -1)
    expected = np.zeros((3, 4, 3, 4))
    for i in range(3):
        expected[i, :, i, :] = np.eye(4) - s[i][None, :]
    np.testing.assert_allclose(per_row, expected, rtol=1e-12, atol=1e-15)

    def softplus(z):
        return np.sum(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))

    p = sigmoid(z)
    np.testing.assert_allclose(td.hessian(softplus)(z), np.diag(p * (1 - p)), rtol=1e-12, atol=1e-15)
    value, tangent = td.jvp(softplus, (z,), (np.ones(3),))
    np.testing.assert_allclose(tangent, np.sum(p), rtol=1e-13)


def test_the_forward_value_is_the_users_own():
    z, y = Z[1:-1], LABELS[1:-1]
    value, _ = td.value_and_grad(bce)(z, y)
    assert value == bce(z, y)
    x = X_TIES
    value, _ = td.value_and_grad(lambda x: np.sum(lse_keepdims(x)))(x)
    assert value == np.sum(lse_keepdims(x))
