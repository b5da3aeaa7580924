"""Seed section 5: gradient descent, on the SSE surface and in matrix form.

Python floats are differentiable arguments and their gradients come back as Python floats. The
matrix form's gradient comes from differentiating the loss SSE / (2m), not from the hand formula
X.T @ (X @ w - y) / m, which is printed next to it for comparison.
"""
import numpy as np

import tracediff as td


def sse(a, b):
    return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2


def least_squares(w, X, y):  # SSE / (2m), m = len(X) samples
    residual = X @ w - y
    return np.sum(residual ** 2) / (2 * len(X))


X = np.array([[1.0, 1.0], [3.0, 1.0]])
y = np.array([[2.0], [4.0]])


def main(steps=10000, lr=0.01):
    sse_and_grad = td.value_and_grad(sse, argnums=(0, 1))
    points = {}
    for a, b in [(0.0, 0.0), (0.28, 0.12), (0.49944, 0.2128), (0.4944, 0.2128)]:
        value, (da, db) = sse_and_grad(a, b)
        points[(a, b)] = (value, da, db)
        print(f"sse({a}, {b}) = {value:.4f}   gradient ({da:.4f}, {db:.4f})")
    print(td.trace(sse, 0.0, 0.0))
    print(sse_and_grad.source(0.0, 0.0))

    grad = td.grad(least_squares)
    w = np.zeros((2, 1))
    print("gradient of SSE/(2m) at zeros:", grad(w, X, y).ravel(),
          "  by hand X.T @ (X @ w - y) / 2:", (X.T @ (X @ w - y) / 2).ravel())
    print(grad.source(w, X, y))
    history = {}
    for step in range(1, steps + 1):
        w = w - lr * grad(w, X, y)
        if step in (1, 2, 3, 4, 1000, steps):
            residual = X @ w - y
            history[step] = (w.ravel().copy(), (residual.T @ residual).item())
            print(f"after {step:5d} steps: w = {w.ravel()}   SSE = {history[step][1]:.4f}")
    print(grad.cache_info())
    return {"points": points, "history": history, "w": w.ravel()}


if __name__ == "__main__":
    main()
