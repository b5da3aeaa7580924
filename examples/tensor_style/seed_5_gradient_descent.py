"""Seed section 5, tensor style: the SSE surface and gradient descent on a least-squares loss."""
import numpy as np

import tracediff as td


def sse(a, b):
    return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2


def main(steps=10000, lr=0.01):
    points = {}
    for point in [(0.0, 0.0), (0.28, 0.12), (0.49944, 0.2128), (0.4944, 0.2128)]:
        a = td.tensor(point[0], requires_grad=True)
        b = td.tensor(point[1], requires_grad=True)
        value = sse(a, b)
        value.backward()
        points[point] = (value.item(), a.grad.item(), b.grad.item())
        print(f"sse{point} = {value.item():.4f}, gradient ({a.grad.item():.4f}, {b.grad.item():.4f})")

    X = td.tensor([[1.0, 1.0], [3.0, 1.0]])
    y = td.tensor([[2.0], [4.0]])
    w = td.tensor(np.zeros((2, 1)), requires_grad=True)
    history = {}
    for step in range(1, steps + 1):
        residual = X @ w - y
        loss = (residual.T @ residual).sum() / (2 * 2)  # SSE / (2m), m = 2 samples
        if step == 1:
            print(loss.backward_source())
        loss.backward()
        if step == 1:
            print("gradient at w = 0:", w.grad.numpy().ravel(), "(X.T @ (X @ w - y) / 2)")
        with td.no_grad():
            w -= lr * w.grad
        w.grad.zero_()
        if step in (3, 4, 1000, 10000):
            with td.no_grad():
                r = X @ w - y
                history[step] = (w.numpy().ravel().copy(), (r.T @ r).item())
            print(f"after {step} steps: w = {history[step][0]}, SSE = {history[step][1]:.4f}")
    cache = td.autograd.cache_info()
    print("backward generated", cache.misses, "time(s) for", steps, "steps:", cache)
    return {"points": points, "history": history, "w": w.numpy().ravel(), "cache": cache}


if __name__ == "__main__":
    main()
