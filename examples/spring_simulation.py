"""Fitting a simulation: the stiffness and damping of a spring, from a noisy trajectory.

The simulation is a plain Python loop of 2,000 small steps (semi-implicit Euler), and the loss
compares every step's position with the observations (as one array: a second Python loop
reading ``observed[i]`` would be unrolled, see docs/sharp-edges.md). tracediff traces once; the
generated gradient writes the 2,000 steps as one ``for`` loop forward and one backward (printed
below: the loops are a few lines each; most of the rest lists the 2,000 positions that are
stacked into one array), and each later call runs that code.

Run it:   python examples/spring_simulation.py
"""
import numpy as np

import tracediff as td

STEPS, DT = 2000, 0.005


def simulate(params, x0, v0):
    """Positions of a damped spring at every step: ``a = -k x - c v``."""
    k, c = params
    x, v = x0, v0
    positions = []
    for _ in range(STEPS):
        v = v + DT * (-k * x - c * v)
        x = x + DT * v
        positions.append(x)
    return positions


true_params = np.array([4.0, 0.3])
observed = np.array(simulate(true_params, 1.0, 0.0)) + 0.01 * np.random.default_rng(0).standard_normal(STEPS)


def loss(params):
    positions = np.array(simulate(params, 1.0, 0.0))  # an array built from the traced steps
    return np.mean((positions - observed) ** 2)


def main():
    gradient = td.value_and_grad(loss)
    params = np.array([3.0, 0.5])  # a first guess
    for step in range(300):
        value, g = gradient(params)
        params = params - 0.5 * g / (1.0 + np.abs(g))  # a damped step: the loss is steep near k
        if step % 60 == 0:
            print(f"step {step:3d}  loss {value:.6f}  k {params[0]:.4f}  c {params[1]:.4f}")
    print(f"fitted k = {params[0]:.3f}, c = {params[1]:.3f} (true: 4.0, 0.3)")
    source = gradient.source(params)
    print(f"traces: {gradient.cache_info().traces}; generated lines: {len(source.splitlines())}")
    print(source)
    return {"params": params, "source": source, "cache": gradient.cache_info()}


if __name__ == "__main__":
    main()
