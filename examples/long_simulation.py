"""A long simulation: fitting a predator-prey model through 2,000 time steps.

The Lotka-Volterra model is stepped by explicit Euler in a plain Python loop, and the loss adds up
each step's misfit to the observations as it goes (``observed[t]``). tracediff traces the 2,000
steps once. The steps are alike and the loop is long, so reverse mode, the passes and code
generation run on a copy of the trace with only a few of its steps, and the loop counts of the
result are then set to 2,000 (docs/design.md, "Long loops are built from a few iterations"): the
first call costs little more than tracing, and the generated gradient is two ``for`` loops,
forward and backward, printed below.

Run it:   python examples/long_simulation.py
"""
import time

import numpy as np

import tracediff as td

STEPS, DT = 2000, 0.005
Z0 = np.array([1.0, 0.5])  # prey, predators


def simulate(theta):
    """The populations at every step (plain NumPy: this makes the observations)."""
    a, b, c, d = theta
    z, path = Z0, []
    for _ in range(STEPS):
        prey, predators = z
        z = z + DT * np.array([a * prey - b * prey * predators, d * prey * predators - c * predators])
        path.append(z)
    return np.array(path)


true_theta = np.array([1.0, 0.6, 0.8, 0.5])
observed = simulate(true_theta) + 0.02 * np.random.default_rng(1).standard_normal((STEPS, 2))


def loss(log_theta):
    """Mean squared misfit along the trajectory, for positive rates ``exp(log_theta)``."""
    a, b, c, d = np.exp(log_theta)
    z, total = Z0, 0.0
    for t in range(STEPS):
        prey, predators = z[0], z[1]
        growth = np.array([a * prey - b * prey * predators, d * prey * predators - c * predators])
        z = z + DT * growth
        total = total + np.sum((z - observed[t]) ** 2)
    return total / STEPS


def main():
    gradient = td.value_and_grad(loss)
    log_theta = np.log(np.array([0.8, 0.5, 1.0, 0.4]))  # a first guess
    start = time.perf_counter()
    value, g = gradient(log_theta)
    first = time.perf_counter() - start
    print(f"first call (trace and build, {STEPS} steps): {first:.2f} s, loss {value:.5f}")
    step = 0.05
    for i in range(150):  # gradient descent with a step that shrinks when the loss goes up
        trial = log_theta - step * g / (np.linalg.norm(g) + 1e-12)
        trial_value, trial_g = gradient(trial)
        if trial_value < value:
            log_theta, value, g = trial, trial_value, trial_g
            step *= 1.2
        else:
            step *= 0.5
        if i % 30 == 0:
            print(f"step {i:3d}  loss {value:.5f}  rates {np.round(np.exp(log_theta), 3)}")
    start = time.perf_counter()
    gradient(log_theta)
    cached = time.perf_counter() - start
    theta = np.exp(log_theta)
    print(f"fitted rates {np.round(theta, 3)} (true: {true_theta}); a cached call: {cached * 1e3:.1f} ms")
    source = gradient.source(log_theta)
    print(f"traces: {gradient.cache_info().traces}; generated lines: {len(source.splitlines())}")
    print(source)
    return {"theta": theta, "loss": value, "source": source, "cache": gradient.cache_info(),
            "first_call_s": first}


if __name__ == "__main__":
    main()
