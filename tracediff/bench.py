"""Benchmarks: tracediff's cached gradients against hand-written NumPy gradients (and autograd,
PyTorch and JAX when they are installed), timed in one process and one run.

    python -m tracediff.bench                    # every workload
    python -m tracediff.bench --only mlp sse     # workloads whose name contains a word
    python -m tracediff.bench --quick --json out.json
    python -m tracediff.bench --only checkpoint  # peak memory with and without td.checkpoint
    python -m tracediff.bench --only corpus      # the programs of tests/corpus/ (corpus gmm: one)
    python -m tracediff.bench --only loops       # long Python loops: first call, source length (bench_loops.py)
    python -m tracediff.bench --only training    # a training step: td.grad, td.tensor, torch eager (bench_training.py)
    python -m tracediff.bench --only dask        # NumPy against Dask on 1 and 2 workers (bench_dask.py)

Each workload is one loss written against an array namespace ``xp`` (NumPy for tracediff, the
hand-written gradient and the scaling runs; ``autograd.numpy``, ``jax.numpy`` or a small torch
shim for the others), plus its gradient written by hand in NumPy. Every gradient is checked
against the hand-written one before it is timed. Times are medians of several samples, each
long enough to be measured reliably; ratios are tracediff / hand-written.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib.util
import json
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import tracediff as td
from .api import _generator_state, _set_generator_state
from .pytree import flatten

# --------------------------------------------------------------------------------------------
# Workloads


@dataclass
class Workload:
    name: str
    loss: Callable  # loss(xp) -> the loss function written with that namespace
    args: Callable  # () -> the arguments
    argnums: tuple
    hand: Callable  # (*args) -> gradients with respect to argnums, written by hand in NumPy
    large: bool = False  # measure peak memory
    seed_sized: bool = False  # first call must stay under 20 ms (issue 7)


def _sse(xp):
    def sse(a, b):
        return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2
    return sse


def _sse_hand(a, b):
    r1, r2 = 2 - a - b, 4 - 3 * a - b
    return -2 * r1 - 6 * r2, -2 * r1 - 2 * r2


def _mean3(xp):
    def mean3(x):
        return xp.mean(3 * (x + 2) ** 2)
    return mean3


def _linreg(xp):
    def mse(w, X, y):
        return xp.mean((X @ w - y) ** 2)
    return mse


def _linreg_hand(w, X, y):
    return (2.0 / len(y)) * (X.T @ (X @ w - y)),


def _logreg(xp):
    def bce_with_logits(w, b, X, y):
        z = X @ w + b
        return xp.mean(xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z))))
    return bce_with_logits


def _logreg_hand(w, b, X, y):
    z = X @ w + b
    dz = (1 / (1 + np.exp(-z)) - y) / len(y)
    return X.T @ dz, np.sum(dz)


def _mlp(xp):
    def softmax_cross_entropy(W1, b1, W2, b2, X, Y):
        h = xp.tanh(X @ W1 + b1)
        logits = h @ W2 + b2
        m = xp.max(logits, axis=1, keepdims=True)
        lse = m + xp.log(xp.sum(xp.exp(logits - m), axis=1, keepdims=True))
        return -xp.mean(xp.sum(Y * (logits - lse), axis=1))
    return softmax_cross_entropy


def _mlp_hand(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    d_logits = (e / e.sum(axis=1, keepdims=True) - Y) / len(X)
    d_pre = (d_logits @ W2.T) * (1 - h ** 2)
    return X.T @ d_pre, d_pre.sum(axis=0), h.T @ d_logits, d_logits.sum(axis=0)


def _chain(xp):
    def chain(x):
        return xp.sum(xp.sin(x) * xp.exp(-x ** 2) + xp.tanh(x) * xp.log1p(x ** 2))
    return chain


def _chain_hand(x):
    e, t, x2 = np.exp(-x ** 2), np.tanh(x), x ** 2
    return (np.cos(x) * e - 2 * x * np.sin(x) * e + (1 - t ** 2) * np.log1p(x2) + t * 2 * x / (1 + x2)),


def _rosenbrock(xp):
    def rosenbrock(x):
        return xp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return rosenbrock


def _rosenbrock_hand(x):
    d = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * d - 2 * (1 - x[:-1])
    g[1:] += 200 * d
    return g,


RNN_STEPS = 20


def _rnn(xp):
    def rnn_loss(Wx, Wh, b, Wo, xs, y):
        h = xp.tanh(xs[0] @ Wx + b)
        for t in range(1, len(xs)):
            h = xp.tanh(xs[t] @ Wx + h @ Wh + b)
        return xp.mean((h @ Wo - y) ** 2)
    return rnn_loss


def _rnn_hand(Wx, Wh, b, Wo, xs, y):
    hs = [np.tanh(xs[0] @ Wx + b)]
    for t in range(1, len(xs)):
        hs.append(np.tanh(xs[t] @ Wx + hs[-1] @ Wh + b))
    h = hs[-1]
    d_out = 2 * (h @ Wo - y) / y.size
    gWo = h.T @ d_out
    dh = d_out @ Wo.T
    gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    for t in range(len(xs) - 1, -1, -1):
        dpre = dh * (1 - hs[t] ** 2)
        gWx += xs[t].T @ dpre
        gb += dpre.sum(axis=0)
        if t:
            gWh += hs[t - 1].T @ dpre
            dh = dpre @ Wh.T
    return gWx, gWh, gb, gWo


def _rng(seed=0):
    return np.random.default_rng(seed)


def _regression_args(n, d, logistic):
    r = _rng(n + d)
    X = r.standard_normal((n, d)) / np.sqrt(d)
    w = r.standard_normal(d) * 0.1
    y = (r.random(n) < 0.5).astype(np.float64) if logistic else X @ r.standard_normal(d)
    return (w, 0.1, X, y) if logistic else (w, X, y)


def _mlp_args(n, d, hidden, classes):
    r = _rng(n)
    return (r.standard_normal((d, hidden)) / np.sqrt(d), np.zeros(hidden),
            r.standard_normal((hidden, classes)) / np.sqrt(hidden), np.zeros(classes),
            r.standard_normal((n, d)), np.eye(classes)[r.integers(0, classes, n)])


def _rnn_args(batch=16, d=8, hidden=32, steps=RNN_STEPS):
    r = _rng(7)
    return (r.standard_normal((d, hidden)) * 0.3, r.standard_normal((hidden, hidden)) * 0.2,
            np.zeros(hidden), r.standard_normal((hidden, 1)) * 0.3,
            r.standard_normal((steps, batch, d)), r.standard_normal((batch, 1)))


def workloads() -> list[Workload]:
    out = [
        Workload("sse scalars", _sse, lambda: (0.28, 0.12), (0, 1), _sse_hand, seed_sized=True),
        Workload("mean(3*(x+2)**2) 2x2", _mean3, lambda: (np.ones((2, 2)),), (0,),
                 lambda x: (6 * (x + 2) / x.size,), seed_sized=True),
    ]
    for n, d in ((64, 8), (4096, 64), (100_000, 256)):
        big = n * d >= 10 ** 7
        out.append(Workload(f"linreg mse {n}x{d}", _linreg, lambda n=n, d=d: _regression_args(n, d, False),
                            (0,), _linreg_hand, large=big, seed_sized=n == 64))
        out.append(Workload(f"logreg bce {n}x{d}", _logreg, lambda n=n, d=d: _regression_args(n, d, True),
                            (0, 1), _logreg_hand, large=big, seed_sized=n == 64))
    out += [
        Workload("mlp 32x64x128x10", _mlp, lambda: _mlp_args(32, 64, 128, 10), (0, 1, 2, 3), _mlp_hand),
        Workload("mlp 1024x784x512x10", _mlp, lambda: _mlp_args(1024, 784, 512, 10), (0, 1, 2, 3),
                 _mlp_hand, large=True),
        Workload("chain 1e3", _chain, lambda: (np.linspace(-2, 2, 1000),), (0,), _chain_hand),
        Workload("chain 1e6", _chain, lambda: (np.linspace(-2, 2, 10 ** 6),), (0,), _chain_hand, large=True),
        Workload("rosenbrock 10", _rosenbrock, lambda: (np.linspace(-1, 1.5, 10),), (0,), _rosenbrock_hand),
        Workload("rosenbrock 1e5", _rosenbrock, lambda: (np.linspace(-1, 1.5, 10 ** 5),), (0,),
                 _rosenbrock_hand, large=True),
        Workload("rnn 20 steps h32", _rnn, _rnn_args, (0, 1, 2, 3), _rnn_hand),
    ]
    return out


# --------------------------------------------------------------------------------------------
# Other libraries, when installed


class _TorchNumPy:
    """The few NumPy functions the workloads use, on torch tensors."""

    def __init__(self, torch):
        self.torch = torch
        for name in ("sin", "exp", "tanh", "log", "log1p", "abs"):
            setattr(self, name, getattr(torch, name))

    def maximum(self, x, y):
        return self.torch.clamp(x, min=y) if not self.torch.is_tensor(y) else self.torch.maximum(x, y)

    def sum(self, x, axis=None, keepdims=False):
        return x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return x.mean() if axis is None else x.mean(dim=axis, keepdim=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return x.max() if axis is None else x.amax(dim=axis, keepdim=keepdims)


def _tensor_style(w):
    """The workload in tracediff's PyTorch-style front end: a training step's forward recorded on
    td.tensor leaves, then backward() (generated code, cached by the graph's structure)."""
    loss = w.loss(np)

    def grad(*args):
        leaves = [td.tensor(a, requires_grad=i in w.argnums) for i, a in enumerate(args)]  # (fresh: no .grad)
        loss(*leaves).backward()
        return tuple(leaves[i].grad.numpy() for i in w.argnums)
    return grad


def _other_libraries() -> dict:
    """name -> (make_grad(workload) -> callable on NumPy args returning NumPy gradients)."""
    libs = {}
    try:
        import autograd
        import autograd.numpy as anp

        libs["autograd"] = lambda w: autograd.grad(w.loss(anp), argnum=w.argnums if len(w.argnums) > 1 else w.argnums[0])
    except ImportError:
        pass
    try:
        import torch

        shim = _TorchNumPy(torch)

        def torch_grad(w):
            loss = w.loss(shim)

            def grad(*args):
                targs = [torch.tensor(a, requires_grad=i in w.argnums) if isinstance(a, (np.ndarray, float)) else a
                         for i, a in enumerate(args)]
                out = loss(*targs)
                grads = torch.autograd.grad(out, [targs[i] for i in w.argnums])
                return tuple(g.numpy() for g in grads)
            return grad
        libs["torch"] = torch_grad
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def jax_grad(w):
            grad = jax.jit(jax.grad(w.loss(jnp), argnums=w.argnums))
            # JAX returns before it has computed (asynchronous dispatch): wait for the result,
            # or the timing measures only the dispatch and queues thousands of calls.
            return lambda *args: jax.block_until_ready(grad(*args))
        libs["jax"] = jax_grad
    except ImportError:
        pass
    return libs


# --------------------------------------------------------------------------------------------
# Measuring


def median_time(call: Callable, budget: float = 0.25, samples: int = 7) -> float:
    """Median seconds per call over ``samples`` samples of about ``budget / samples`` each."""
    call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(budget / samples / once))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def peak_memory(call: Callable) -> float:
    """Peak bytes NumPy and Python allocate during one call (after a warm-up call)."""
    call()
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def _check(name, got, expected, what):
    for i, (a, b) in enumerate(zip(_as_tuple(got), _as_tuple(expected))):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-7, atol=1e-10 * max(1.0, np.abs(b).max())):
            raise AssertionError(f"{name}: {what} gradient {i} differs from the hand-written one")


@dataclass
class Result:
    name: str
    hand_us: float
    tracediff_us: float
    first_call_ms: float
    others_us: dict = field(default_factory=dict)
    peak_mb: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.tracediff_us / self.hand_us


def run_workload(w: Workload, libs: dict, budget: float) -> Result:
    args = w.args()
    grad = td.grad(w.loss(np), argnums=w.argnums)
    start = time.perf_counter()
    got = grad(*args)
    first = time.perf_counter() - start
    expected = w.hand(*args)
    _check(w.name, got, expected, "tracediff")
    result = Result(w.name, median_time(lambda: w.hand(*args), budget) * 1e6,
                    median_time(lambda: grad(*args), budget) * 1e6, first * 1e3)
    assert grad.cache_info().traces == 1, "the timed calls must not trace"
    for lib, make in libs.items():
        try:
            other = make(w)
            _check(w.name, other(*args), expected, lib)
        except Exception as error:  # a library that cannot run a workload is reported, not fatal
            result.others_us[lib] = f"failed: {type(error).__name__}"
            continue
        result.others_us[lib] = median_time(lambda: other(*args), budget) * 1e6
    if w.large:
        result.peak_mb = {"hand": peak_memory(lambda: w.hand(*args)) / 2 ** 20,
                          "tracediff": peak_memory(lambda: grad(*args)) / 2 ** 20}
    return result


def first_call_scaling(sizes=(100, 1000, 10000)) -> list[tuple[int, float]]:
    """First-call time (trace + reverse mode + passes + codegen + compile + one run) against the
    number of operations, on a chain of elementwise operations."""
    rows = []
    for n in sizes:
        def chain(x, n=n):
            for i in range(n // 3):
                x = np.sin(x) * 1.001 + 0.01
            return np.sum(x)

        x = np.linspace(0, 1, 8)
        grad = td.grad(chain)
        start = time.perf_counter()
        grad(x)
        first = time.perf_counter() - start
        rows.append((len(grad.ir(x).nodes), first * 1e3))  # (.ir() may build the whole graph: not timed)
    return rows


def _deep_chain(steps: int, block: int, checkpointed: bool):
    def segment(x):
        for _ in range(block):
            x = np.sin(x) * 1.01 + 0.1 * x
        return x

    part = td.checkpoint(segment) if checkpointed else segment

    def deep_chain(x):
        for _ in range(steps // block):
            x = part(x)
        return np.sum(x ** 2)
    return deep_chain


def _deep_chain_hand(x, steps):
    xs = [x]
    for _ in range(steps):
        xs.append(np.sin(xs[-1]) * 1.01 + 0.1 * xs[-1])
    g = 2 * xs.pop()
    while xs:
        g = g * (1.01 * np.cos(xs.pop()) + 0.1)
    return g


@dataclass
class CheckpointResult:
    size: int
    steps: int
    block: int
    ms: dict  # hand, tracediff, checkpointed -> median milliseconds
    peak_mb: dict  # the same keys -> peak MB of one call


def checkpoint_comparison(size: int = 10 ** 6, steps: int = 16, block: int = 4,
                          budget: float = 0.4) -> CheckpointResult:
    """Peak memory and time of a deep elementwise chain's gradient: hand-written, tracediff, and
    tracediff with ``td.checkpoint`` around every ``block`` steps."""
    x = np.linspace(-1, 1, size)
    calls = {"hand": lambda: _deep_chain_hand(x, steps)}
    for key, checkpointed in (("tracediff", False), ("checkpointed", True)):
        grad = td.grad(_deep_chain(steps, block, checkpointed))
        _check(f"deep chain ({key})", grad(x), calls["hand"](), "tracediff")
        calls[key] = lambda grad=grad: grad(x)
    return CheckpointResult(size, steps, block,
                            {k: median_time(c, budget) * 1e3 for k, c in calls.items()},
                            {k: peak_memory(c) / 2 ** 20 for k, c in calls.items()})


# --------------------------------------------------------------------------------------------
# The corpus: the realistic programs of tests/corpus/ (in a source checkout)


def corpus_programs() -> dict:
    """name -> factory of each program in tests/corpus/, or {} when the tests are not there
    (an installed tracediff without its source tree)."""
    if "corpus" in sys.modules:  # imported already, by the test suite
        return sys.modules["corpus"].PROGRAMS
    folder = Path(__file__).resolve().parent.parent / "tests" / "corpus"
    if not (folder / "__init__.py").exists():
        return {}
    spec = importlib.util.spec_from_file_location("corpus", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus"] = module  # its modules import their registry as a package
    spec.loader.exec_module(module)
    return module.PROGRAMS


@dataclass
class CorpusResult:
    """One corpus program's cached gradient time, and those of its hand-written gradient and the
    other libraries (or why they could not run it)."""
    name: str
    tracediff_us: float | str  # a string says why the program could not be timed
    first_call_ms: float = 0.0
    hand_us: float | None = None
    others_us: dict = field(default_factory=dict)


@contextlib.contextmanager
def _corpus_written_with(replacements: dict):
    """The corpus modules' globals that are NumPy or SciPy objects (``np``, ``logsumexp``,
    ``norm``, ...) swapped for another library's, by identity, while the block runs. The
    programs' data stay NumPy arrays, made before."""
    saved = []
    for module in [m for name, m in list(sys.modules.items()) if name.startswith("corpus.")]:
        for name, value in list(vars(module).items()):
            if id(value) in replacements:
                saved.append((module, name, value))
                setattr(module, name, replacements[id(value)])
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def _corpus_libraries() -> dict:
    """name -> (replacements for _corpus_written_with, grad(f) -> gradient function of f(params))."""
    libs = {}
    try:
        import scipy.special
        import scipy.stats
    except ImportError:  # the corpus itself needs SciPy
        return libs

    def replacements(xp, special, stats):
        table = {id(np): xp, id(scipy.special): special, id(scipy.stats): stats}
        for module, ours in ((scipy.special, special), (scipy.stats, stats)):
            for name in dir(module):
                if hasattr(ours, name):
                    table[id(getattr(module, name))] = getattr(ours, name)
        return table

    try:
        import autograd
        import autograd.numpy as anp
        import autograd.scipy.special as aspecial
        import autograd.scipy.stats as astats

        libs["autograd"] = (replacements(anp, aspecial, astats), autograd.grad)
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp
        import jax.scipy.special as jspecial
        import jax.scipy.stats as jstats

        jax.config.update("jax_enable_x64", True)

        def jax_grad(f):
            compiled = jax.jit(jax.grad(f))
            return lambda params: jax.block_until_ready(compiled(params))  # see _other_libraries
        libs["jax"] = (replacements(jnp, jspecial, jstats), jax_grad)
    except ImportError:
        pass
    return libs


def _check_tree(name, got, expected, what):
    _check(name, tuple(flatten(got)[0]), tuple(flatten(expected)[0]), what)


def run_corpus_program(name: str, factory: Callable, libs: dict, budget: float) -> CorpusResult:
    """Time the cached gradient of one corpus program at step 0, checked first against its
    hand-written gradient (if it has one) and the other libraries' against tracediff's. A
    program tracediff cannot run yet is reported with its error, not fatal."""
    prog = factory()
    args = prog.args(prog.params, 0)
    gen = prog.random_state  # reset before the gradients that are compared: the same draws
    state = None if gen is None else copy.deepcopy(_generator_state(gen))
    grad = td.grad(prog.objective)
    try:
        start = time.perf_counter()
        expected = grad(*args)
        first = time.perf_counter() - start
    except Exception as error:
        return CorpusResult(name, f"failed: {type(error).__name__}")
    result = CorpusResult(name, median_time(lambda: grad(*args), budget) * 1e6, first * 1e3)
    if grad.cache_info().traces != 1:
        raise AssertionError(f"corpus {name}: the timed calls traced again")
    if prog.hand_grad is not None:
        _check_tree(f"corpus {name}", expected, prog.hand_grad(*args), "tracediff")
        result.hand_us = median_time(lambda: prog.hand_grad(*args), budget) * 1e6
    for lib, (replacements, make_grad) in libs.items():
        with _corpus_written_with(replacements):
            try:
                other = make_grad(lambda params: prog.objective(*prog.args(params, 0)))
                if gen is not None:
                    _set_generator_state(gen, state)
                got = other(prog.params)
                if gen is not None:
                    _set_generator_state(gen, state)
                _check_tree(f"corpus {name}", got, grad(*args), lib)
                result.others_us[lib] = median_time(lambda: other(prog.params), budget) * 1e6
            except AssertionError:
                result.others_us[lib] = "disagrees with tracediff"
            except Exception as error:  # a library that cannot run a program is reported, not fatal
                result.others_us[lib] = f"failed: {type(error).__name__}"
    return result


# --------------------------------------------------------------------------------------------
# Reporting


def _fmt_us(v) -> str:
    if isinstance(v, str):
        return v
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"


def report_checkpoint(c: CheckpointResult) -> str:
    lines = [f"| deep chain {c.size:,}, {c.steps} steps | hand-written | tracediff | "
             f"tracediff, td.checkpoint every {c.block} steps |", "|---|---|---|---|"]
    lines.append("| peak MB | " + " | ".join(f"{c.peak_mb[k]:.1f}" for k in ("hand", "tracediff", "checkpointed")) + " |")
    lines.append("| ms | " + " | ".join(f"{c.ms[k]:.1f}" for k in ("hand", "tracediff", "checkpointed")) + " |")
    return "\n".join(lines)


def report_corpus(results: list[CorpusResult]) -> str:
    """The corpus table, in Markdown: a program tracediff cannot run yet shows its error."""
    names = sorted({lib for r in results for lib in r.others_us})
    header = ["corpus program", "hand µs", "tracediff µs", "ratio", "first call ms"] + [f"{lib} µs" for lib in names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        timed = not isinstance(r.tracediff_us, str)
        cells = [r.name, _fmt_us(r.hand_us) if r.hand_us else "-", _fmt_us(r.tracediff_us),
                 f"{r.tracediff_us / r.hand_us:.2f}" if timed and r.hand_us else "-",
                 f"{r.first_call_ms:.1f}" if timed else "-"]
        lines.append("| " + " | ".join(cells + [_fmt_us(r.others_us.get(lib, "-")) for lib in names]) + " |")
    ratios = [r.tracediff_us / r.hand_us for r in results if r.hand_us]
    if ratios:
        lines += ["", f"corpus: median tracediff/hand ratio {statistics.median(ratios):.2f} over "
                      f"{len(ratios)} programs with a hand-written gradient"]
    return "\n".join(lines)


def report(results: list[Result], scaling, libs) -> str:
    names = sorted({lib for r in results for lib in r.others_us})
    header = ["workload", "hand µs", "tracediff µs", "ratio", "first call ms"]
    header += [f"{lib} µs" for lib in names] + [f"{lib}/tracediff" for lib in names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [r.name, _fmt_us(r.hand_us), _fmt_us(r.tracediff_us), f"{r.ratio:.2f}", f"{r.first_call_ms:.1f}"]
        cells += [_fmt_us(r.others_us.get(lib, "-")) for lib in names]
        cells += [f"{r.others_us[lib] / r.tracediff_us:.1f}x" if isinstance(r.others_us.get(lib), float) else "-"
                  for lib in names]
        lines.append("| " + " | ".join(cells) + " |")
    ratios = [r.ratio for r in results]
    lines += ["", f"median tracediff/hand ratio: {statistics.median(ratios):.2f}; max: {max(ratios):.2f} "
                  f"({max(results, key=lambda r: r.ratio).name})"]
    sse = next((r for r in results if r.name == "sse scalars"), None)
    if sse:
        lines.append(f"cached-call overhead on the scalar SSE: {sse.tracediff_us - sse.hand_us:.2f} µs")
    memory = [r for r in results if r.peak_mb]
    if memory:
        lines += ["", "| workload | peak MB hand | peak MB tracediff |", "|---|---|---|"]
        lines += [f"| {r.name} | {r.peak_mb['hand']:.1f} | {r.peak_mb['tracediff']:.1f} |" for r in memory]
    if scaling:
        lines += ["", "| operations | first call ms | ms per 300 operations |", "|---|---|---|"]
        lines += [f"| {n} | {ms:.1f} | {ms / n * 300:.1f} |" for n, ms in scaling]
    lines += ["", f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
                  f"libraries: {', '.join(libs) or 'none besides tracediff'}"]
    return "\n".join(lines)


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(prog="python -m tracediff.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="run workloads whose name contains one of these words")
    parser.add_argument("--quick", action="store_true", help="shorter timing samples, no scaling run")
    parser.add_argument("--no-others", action="store_true", help="do not time autograd, torch or jax")
    parser.add_argument("--json", help="also write the results to this JSON file")
    options = parser.parse_args(argv)
    selected = [w for w in workloads() if not options.only or any(word in w.name for word in options.only)]
    # tracediff's own tensor style, then the other libraries installed
    libs = {"td.tensor": _tensor_style, **({} if options.no_others else _other_libraries())}
    budget = 0.1 if options.quick else 0.4
    results = []
    for w in selected:
        print(f"  {w.name} ...", file=sys.stderr, flush=True)
        results.append(run_workload(w, libs, budget))
    scaling = [] if options.quick or options.only else first_call_scaling()
    checkpoint = None
    if not options.only or "checkpoint" in options.only:
        print("  deep chain with td.checkpoint ...", file=sys.stderr, flush=True)
        checkpoint = checkpoint_comparison(size=10 ** 5 if options.quick else 10 ** 6, budget=budget)
    loops = []
    if not options.only or "loops" in options.only:
        from .bench_loops import loop_libraries, loop_workloads, report_loops, run_loop_workload

        loop_libs = {} if options.no_others else loop_libraries()
        for w in loop_workloads(options.quick):
            print(f"  loops: {w.name} ...", file=sys.stderr, flush=True)
            loops.append(run_loop_workload(w, loop_libs, budget))
    training = None
    if not options.only or "training" in options.only:
        from .bench_training import report_training, run_training

        print("  training loop ...", file=sys.stderr, flush=True)
        training = run_training(steps=200 if options.quick else 1000, others=not options.no_others)
    corpus = []
    if not options.only or "corpus" in options.only:  # --only corpus gmm: just that program
        programs = corpus_programs()
        named = [n for n in programs if any(word != "corpus" and word in n for word in options.only)]
        corpus_libs = {} if options.no_others else _corpus_libraries()
        for name in named or programs:
            print(f"  corpus {name} ...", file=sys.stderr, flush=True)
            corpus.append(run_corpus_program(name, programs[name], corpus_libs, budget))
    dask_report = None
    if not options.only or "dask" in options.only:
        dask_report = _dask_section(options.quick)
    print("\n\n".join(([report(results, scaling, libs)] if results else [])
                       + ([report_checkpoint(checkpoint)] if checkpoint else [])
                       + ([report_loops(loops)] if loops else [])
                       + ([report_training(training)] if training else [])
                       + ([report_corpus(corpus)] if corpus else [])
                       + ([dask_report] if dask_report else [])))
    if options.json:
        with open(options.json, "w") as f:
            json.dump({"results": [{**r.__dict__, "ratio": r.ratio} for r in results],
                       "first_call_scaling": scaling,
                       "checkpoint": checkpoint.__dict__ if checkpoint else None,
                       "loops": [r.__dict__ for r in loops],
                       "training": training.__dict__ if training else None,
                       "corpus": [r.__dict__ for r in corpus]}, f, indent=2)
    return results + loops + corpus


def _dask_section(quick: bool) -> str:
    """The Dask table (bench_dask.py), or why there is none."""
    if importlib.util.find_spec("dask") is None or importlib.util.find_spec("distributed") is None:
        return "Dask section skipped: install tracediff[dask] (dask[array] and distributed)"
    from . import bench_dask

    print("  dask: NumPy, then 1 and 2 workers ...", file=sys.stderr, flush=True)
    return bench_dask.report(bench_dask.run(rows=400_000 if quick else 2_000_000))


if __name__ == "__main__":
    main()
