"""The loop section of ``python -m tracediff.bench``: gradients of long Python loops.

Simulations differentiate through thousands of time steps written as a Python ``for`` loop. For
each workload this measures what a user feels: the first call (trace, reverse mode, passes,
codegen, compile and one run), a cached call, the generated source's length and the cached
call's peak memory, against a gradient written by hand in NumPy (and, when installed, autograd
running the same Python loop, and JAX twice: the same Python loop under ``jax.jit``, which XLA
compiles unrolled, and the loop written with ``lax.scan``, compiled once whatever its length).
Every gradient is checked against the hand-written one before it is timed; other libraries'
first calls (JAX's: tracing and compiling) are reported beside their cached calls.

    python -m tracediff.bench --only loops           # spring n = 100, 1,000, 10,000; RNN; RK4
    python -m tracediff.bench --only loops --quick   # the small sizes only
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import tracediff as td
from .bench import _check, _other_libraries, _rnn, _rnn_args, _rnn_hand, median_time, peak_memory

# --------------------------------------------------------------------------------------------
# Workloads: each loss is written against an array namespace xp, with its gradient by hand

DT = 0.01


def _spring(xp):
    def spring(params, n):
        """A damped spring, integrated by semi-implicit Euler: three small updates per step."""
        k, c = params[0], params[1]
        x = xp.array([1.0, 0.5, -0.3])
        v = xp.zeros(3)
        for _ in range(n):
            a = -k * x - c * v
            v = v + DT * a
            x = x + DT * v
        return xp.sum(x ** 2)
    return spring


def _spring_hand(params, n):
    k, c = params
    xs, vs = [np.array([1.0, 0.5, -0.3])], [np.zeros(3)]
    for _ in range(n):
        v = vs[-1] + DT * (-k * xs[-1] - c * vs[-1])
        xs.append(xs[-1] + DT * v)
        vs.append(v)
    gx, gv, gk, gc = 2 * xs[-1], np.zeros(3), 0.0, 0.0
    for i in range(n - 1, -1, -1):  # back through x' = x + dt v', v' = v + dt (-k x - c v)
        g_new_v = gv + DT * gx
        ga = DT * g_new_v
        gk -= xs[i] @ ga
        gc -= vs[i] @ ga
        gx, gv = gx - k * ga, g_new_v - c * ga
    return np.array([gk, gc]),


def _rk4(xp):
    def rk4(A, y0, n):
        """A small neural ODE, dy/dt = tanh(A y), integrated by classic Runge-Kutta 4."""
        h = 1.0 / n
        y = y0
        for _ in range(n):
            k1 = xp.tanh(A @ y)
            k2 = xp.tanh(A @ (y + h / 2 * k1))
            k3 = xp.tanh(A @ (y + h / 2 * k2))
            k4 = xp.tanh(A @ (y + h * k3))
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return xp.sum((y - 1.0) ** 2)
    return rk4


def _rk4_hand(A, y0, n):
    h = 1.0 / n
    ys, stages = [y0], []
    for _ in range(n):
        y = ys[-1]
        points, ks = [y], []
        for scale in (h / 2, h / 2, h):
            ks.append(np.tanh(A @ points[-1]))
            points.append(y + scale * ks[-1])
        ks.append(np.tanh(A @ points[-1]))
        stages.append((points, ks))
        ys.append(y + h / 6 * (ks[0] + 2 * ks[1] + 2 * ks[2] + ks[3]))
    gy, gA = 2 * (ys[-1] - 1.0), np.zeros_like(A)
    for points, ks in reversed(stages):
        g_ks = [h / 6 * gy, h / 3 * gy, h / 3 * gy, h / 6 * gy]
        g_y = gy.copy()
        for j in (3, 2, 1, 0):  # stage j reads point j; point j + 1 = y + scale_j * k_j
            u = g_ks[j] * (1 - ks[j] ** 2)
            gA += np.outer(u, points[j])
            g_point = A.T @ u
            g_y += g_point
            if j:
                g_ks[j - 1] = g_ks[j - 1] + (h if j == 3 else h / 2) * g_point
        gy = g_y
    return gA,


# The same losses with JAX's lax.scan: the loop is one operation, compiled once whatever its length


def _spring_scan(jnp, lax):
    def spring(params, n):
        k, c = params[0], params[1]

        def step(state, _):
            x, v = state
            v = v + DT * (-k * x - c * v)
            return (x + DT * v, v), None
        (x, _), _ = lax.scan(step, (jnp.array([1.0, 0.5, -0.3]), jnp.zeros(3)), None, length=n)
        return jnp.sum(x ** 2)
    return spring


def _rnn_scan(jnp, lax):
    def rnn_loss(Wx, Wh, b, Wo, xs, y):
        def step(h, x):
            return jnp.tanh(x @ Wx + h @ Wh + b), None
        h, _ = lax.scan(step, jnp.tanh(xs[0] @ Wx + b), xs[1:])
        return jnp.mean((h @ Wo - y) ** 2)
    return rnn_loss


def _rk4_scan(jnp, lax):
    def rk4(A, y0, n):
        h = 1.0 / n

        def step(y, _):
            k1 = jnp.tanh(A @ y)
            k2 = jnp.tanh(A @ (y + h / 2 * k1))
            k3 = jnp.tanh(A @ (y + h / 2 * k2))
            k4 = jnp.tanh(A @ (y + h * k3))
            return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None
        y, _ = lax.scan(step, y0, None, length=n)
        return jnp.sum((y - 1.0) ** 2)
    return rk4


@dataclass
class LoopWorkload:
    name: str
    loss: Callable  # loss(xp)
    args: tuple
    argnums: tuple
    hand: Callable
    steps: int
    scan: Callable | None = None  # scan(jnp, lax): the loss written with lax.scan


def loop_workloads(quick: bool = False) -> list[LoopWorkload]:
    r = np.random.default_rng(3)
    A, y0 = r.standard_normal((4, 4)) * 0.5, r.standard_normal(4)
    params = np.array([2.0, 0.1])
    out = [LoopWorkload(f"spring n={n:,}", _spring, (params, n), (0,), _spring_hand, n, _spring_scan)
           for n in ((100, 1000) if quick else (100, 1000, 10_000))]
    out += [LoopWorkload(f"rnn {steps} steps h32", _rnn, _rnn_args(steps=steps), (0, 1, 2, 3), _rnn_hand, steps,
                         _rnn_scan)
            for steps in ((20,) if quick else (20, 200))]
    n = 100 if quick else 1000
    out.append(LoopWorkload(f"rk4 {n:,} steps", _rk4, (A, y0, n), (0,), _rk4_hand, n, _rk4_scan))
    return out


# JAX compiles a Python loop unrolled: 100 steps of the spring took 18 s to compile here; longer
# loops are not timed (300 steps ran for minutes)
JAX_UNROLLED_STEPS = 100


# --------------------------------------------------------------------------------------------
# Other libraries, when installed: the same Python loop (JAX: the trip count a static argument)


def loop_libraries() -> dict:
    """name -> (make_grad(workload) -> callable on NumPy args returning NumPy gradients)."""
    libs = {k: v for k, v in _other_libraries().items() if k == "autograd"}  # (torch's shim has no loops' xp.array)
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def jax_grad(w, loss=None):
            if loss is None and w.steps > JAX_UNROLLED_STEPS:
                raise NotTimed(f"> {JAX_UNROLLED_STEPS:,} steps unrolled")
            static = tuple(i for i, a in enumerate(w.args) if isinstance(a, int))
            grad = jax.jit(jax.grad(loss or w.loss(jnp), argnums=w.argnums), static_argnums=static)
            return lambda *args: jax.block_until_ready(grad(*args))
        libs["jax (Python loop, jit)"] = jax_grad
        libs["jax (lax.scan, jit)"] = lambda w: jax_grad(w, w.scan(jnp, jax.lax))
    except ImportError:
        pass
    return libs


# --------------------------------------------------------------------------------------------
# Measuring


class NotTimed(Exception):
    """A library left out of one workload, with the reason (reported in its cell)."""


@dataclass
class LoopResult:
    name: str
    first_s: float
    cached_ms: float
    hand_ms: float
    lines: int
    peak_mb: dict  # hand, tracediff -> MB
    others_ms: dict = field(default_factory=dict)  # cached call (autograd: every call)
    others_first_s: dict = field(default_factory=dict)  # first call (JAX: tracing and compiling)


def run_loop_workload(w: LoopWorkload, libs: dict, budget: float) -> LoopResult:
    grad = td.grad(w.loss(np), argnums=w.argnums)
    start = time.perf_counter()
    got = grad(*w.args)
    first = time.perf_counter() - start
    expected = w.hand(*w.args)
    _check(w.name, got, expected, "tracediff")
    result = LoopResult(w.name, first, median_time(lambda: grad(*w.args), budget) * 1e3,
                        median_time(lambda: w.hand(*w.args), budget) * 1e3,
                        len(grad.source(*w.args).splitlines()),
                        {"hand": peak_memory(lambda: w.hand(*w.args)) / 2 ** 20,
                         "tracediff": peak_memory(lambda: grad(*w.args)) / 2 ** 20})
    assert grad.cache_info().traces == 1, "the timed calls must not trace"
    for lib, make in libs.items():
        try:
            other = make(w)
            start = time.perf_counter()
            got = other(*w.args)
            result.others_first_s[lib] = time.perf_counter() - start
            _check(w.name, got, expected, lib)
        except NotTimed as reason:
            result.others_ms[lib] = result.others_first_s[lib] = str(reason)
            continue
        except Exception as error:  # a library that cannot run a workload is reported, not fatal
            result.others_ms[lib] = result.others_first_s[lib] = f"failed: {type(error).__name__}"
            continue
        result.others_ms[lib] = median_time(lambda: other(*w.args), budget) * 1e3
    return result


def report_loops(results: list[LoopResult]) -> str:
    names = sorted({lib for r in results for lib in r.others_ms})
    header = (["loop workload", "first call s", "cached ms", "hand ms", "cached/hand", "generated lines",
               "peak MB hand", "peak MB tracediff"] + [f"{lib} {what}" for lib in names for what in ("first s", "ms")])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [r.name, f"{r.first_s:.2f}", f"{r.cached_ms:.2f}", f"{r.hand_ms:.2f}",
                 f"{r.cached_ms / r.hand_ms:.2f}", f"{r.lines:,}", f"{r.peak_mb['hand']:.2f}",
                 f"{r.peak_mb['tracediff']:.2f}"]
        cells += [v if isinstance(v, str) else f"{v:.2f}"
                  for lib in names for v in (r.others_first_s.get(lib, "-"), r.others_ms.get(lib, "-"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
