"""The functions whose gradients tests/test_dask.py and tests/test_cupy.py compare with NumPy's:
plain NumPy code, differentiated with respect to their first argument."""
import numpy as np


def linear(w, X, y):
    residual = X @ w - y
    return np.mean(residual ** 2)


def logistic(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def mlp(params, X, y):
    W1, b1, W2, b2 = params
    hidden = np.tanh(X @ W1 + b1)
    out = hidden @ W2 + b2
    return np.mean((out - y) ** 2)


def branchy(w, X, y):
    z = X @ w
    if np.sum(z) > 0:  # a guard: the generated code computes this one number
        return np.sum(z ** 2) / len(y)
    return np.mean(np.abs(z - y))
