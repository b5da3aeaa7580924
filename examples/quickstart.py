"""Quickstart: the gradient of a least-squares loss, and the NumPy code tracediff generated for it."""
import numpy as np

import tracediff as td


@td.grad
def loss(w, X, y):
    residual = X @ w - y
    return np.mean(residual ** 2)


rng = np.random.default_rng(0)
X = rng.standard_normal((64, 3))
y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.standard_normal((64, 1))
w = np.zeros((3, 1))

print("d loss / d w =", loss(w, X, y).ravel())
print("by hand      =", (2 * X.T @ (X @ w - y) / len(X)).ravel())
print()
print("The generated gradient (traced once, cached, plain NumPy):")
print(loss.source(w, X, y))

for step in range(200):  # gradient descent runs the cached code: no tracing after the first call
    w -= 0.1 * loss(w, X, y)
print("fitted w     =", w.ravel().round(3), "  ", loss.cache_info())
