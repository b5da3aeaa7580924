"""Dynamic graphs: Python control flow that depends on values, and when tracediff traces again.

Each call differentiates the path actually taken. The generated gradient of a path is reused
while its guards (the decisions the trace made) still hold; another path is traced once and
kept beside it.
"""
import numpy as np

import tracediff as td


@td.grad
def clipped_loss(w, x):
    loss = np.sum((x @ w) ** 2)
    if loss > 10.0:             # a decision on a value: a guard in the generated code
        loss = 10.0 + np.log(loss - 9.0)
    return loss


@td.grad
def newton_sqrt(a):
    x = a
    steps = 0
    while np.abs(x * x - a) > 1e-12 * a:   # the number of iterations depends on a
        x = 0.5 * (x + a / x)
        steps += 1
    return x


def main():
    x = np.array([[1.0, 2.0], [0.5, -1.0]])
    small, large = np.array([0.1, 0.2]), np.array([2.0, 3.0])
    for w in (small, large, small, large):
        print(f"w = {w}: gradient {clipped_loss(w, x)}")
    info = clipped_loss.cache_info()
    print(f"4 calls, 2 paths: {info.traces} traces, {info.hits} cache hits")
    print()
    print(clipped_loss.explain())
    print()
    print("The path through the clipping branch, as generated code:")
    print(clipped_loss.source(large, x))

    roots = {}
    for a in (4.0, 2.0, 100.0, 4.0):
        roots[a] = newton_sqrt(a)
        print(f"d sqrt(a)/da at a={a}: {roots[a]:.12f}   (exact {0.5 / np.sqrt(a):.12f})")
    print(f"newton_sqrt: {newton_sqrt.cache_info().traces} traces for "
          f"{len(set(roots))} distinct inputs (one per iteration count)")
    return {"clipped_traces": info.traces, "clipped_hits": info.hits,
            "sqrt_grads": roots, "sqrt_traces": newton_sqrt.cache_info().traces}


if __name__ == "__main__":
    main()
