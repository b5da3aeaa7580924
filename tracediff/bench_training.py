"""The training-loop section of ``python -m tracediff.bench``: one step of gradient descent, as
each style writes it.

A training step is what users of the tensor style (``td.tensor``, ``loss.backward()``) feel: the
forward recorded on tensors, the cached generated backward, the update under ``no_grad`` and the
gradients reset. The same step is timed with ``td.grad`` and, when it is installed, in PyTorch
eager mode written the tutorials' way. Every style runs the same number of steps from the same
start and must end at the same parameters (to 1e-8) before its time is reported; the tensor
style must have generated its backward once.

    python -m tracediff.bench --only training
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import tracediff as td
from .bench import _mlp, _mlp_args, _TorchNumPy

LEARNING_RATE = 0.1


@dataclass
class TrainingResult:
    name: str
    steps: int
    step_us: dict = field(default_factory=dict)  # style -> µs per step
    td_tensor_misses: int = 0


def _functional(loss, params, data):
    grad = td.grad(loss, argnums=tuple(range(len(params))))
    params = [p.copy() for p in params]

    def step():
        for p, g in zip(params, grad(*params, *data)):
            p -= LEARNING_RATE * g
    return step, lambda: params


def _tensor_style(loss, params, data):
    params = [td.tensor(p, requires_grad=True) for p in params]

    def step():
        loss(*params, *data).backward()
        with td.no_grad():
            for p in params:
                p -= LEARNING_RATE * p.grad
                p.grad = None
    return step, lambda: [p.numpy() for p in params]


def _torch_eager(torch):
    def make(loss, params, data):
        params = [torch.tensor(p, requires_grad=True) for p in params]
        data = [torch.from_numpy(d) for d in data]  # (shares memory: the data is not copied)

        def step():
            loss(*params, *data).backward()
            with torch.no_grad():
                for p in params:
                    p -= LEARNING_RATE * p.grad
                    p.grad = None
        return step, lambda: [p.detach().numpy() for p in params]
    return make


def styles(others: bool = True) -> dict:
    """style name -> (make(loss written for xp, params, data) -> (step, final params)), and
    the xp each loss is written against."""
    found = {"td.grad": (_functional, np), "td.tensor": (_tensor_style, np)}
    if others:
        try:
            import torch
        except ImportError:
            pass
        else:
            found["torch eager"] = (_torch_eager(torch), _TorchNumPy(torch))
    return found


def run_training(steps: int = 1000, others: bool = True, sizes=(32, 64, 128, 10)) -> TrainingResult:
    """Each style runs ``steps`` steps of the MLP (``sizes``: batch, inputs, hidden, classes)
    from the same start; their final parameters are compared before the time per step is kept."""
    args = _mlp_args(*sizes)
    params, data = list(args[:4]), list(args[4:])
    result = TrainingResult(f"mlp {'x'.join(map(str, sizes))}", steps)
    finals = {}
    td.autograd.clear_cache()
    for name, (make, xp) in styles(others).items():
        step, final = make(_mlp(xp), params, data)
        step()  # the first step generates the code: not a training step's cost
        start = time.perf_counter()
        for _ in range(steps - 1):
            step()
        result.step_us[name] = (time.perf_counter() - start) / (steps - 1) * 1e6
        finals[name] = final()
    result.td_tensor_misses = td.autograd.cache_info().misses
    reference = finals["td.grad"]
    for name, got in finals.items():
        for a, b in zip(got, reference):
            if not np.allclose(a, b, rtol=1e-8, atol=1e-10):
                raise AssertionError(f"training loop: {name}'s parameters after {steps} steps differ "
                                     "from td.grad's")
    if result.td_tensor_misses != 1:
        raise AssertionError(f"training loop: td.tensor generated its backward {result.td_tensor_misses} "
                             "times, not once")
    return result


def report_training(r: TrainingResult) -> str:
    names = list(r.step_us)
    header = ["training loop", "steps"] + [f"{n} µs/step" for n in names] + \
        [f"{n}/td.tensor" for n in names if n != "td.tensor"] + ["td.tensor backward generated"]
    cells = [r.name, f"{r.steps:,}"] + [f"{r.step_us[n]:,.1f}" for n in names] + \
        [f"{r.step_us[n] / r.step_us['td.tensor']:.2f}" for n in names if n != "td.tensor"] + \
        [f"{r.td_tensor_misses} time(s)"]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      "| " + " | ".join(cells) + " |"])
