"""Realistic programs written the way their users write them: data from a seeded generator, an
objective over parameters held in dicts and lists (``objective(params, i)`` taking the iteration
number where a training loop is natural), and for some a gradient written by hand.

Each module registers factories with :func:`program`; ``PROGRAMS`` maps a name to its factory,
which builds the data and returns a :class:`Program`. tests/test_corpus_programs.py checks every
program (finite differences, a short training run without retracing, arguments left unchanged)
and ``python -m tracediff.bench --only corpus`` times them.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Program:
    objective: Callable
    params: Any  # the initial parameters: an array, or dicts / lists / tuples of arrays and floats
    data: tuple = ()  # the arguments after params (and after the step number)
    takes_step: bool = False  # objective(params, i, *data)
    step_size: float = 0.05  # Adam's, for the training run
    max_traces: int = 1  # more for a program that legitimately takes several paths:
    traces_why: str = ""  # why (a branch on the step number)
    evaluate: Callable | None = None  # params -> a deterministic loss, for stochastic objectives
    random_state: Any = None  # what a stochastic objective draws from: a generator, or np.random itself
    hand_grad: Callable | None = None  # (*args) -> the gradient with respect to params, by hand

    def args(self, params, i: int = 0) -> tuple:
        return (params, i, *self.data) if self.takes_step else (params, *self.data)

    def loss(self, params) -> float:
        if self.evaluate is not None:
            return float(self.evaluate(params))
        return float(self.objective(*self.args(params)))


PROGRAMS: dict[str, Callable[[], Program]] = {}


def program(factory: Callable[[], Program]) -> Callable[[], Program]:
    """Register ``factory`` under its name (without a leading ``make_``)."""
    PROGRAMS[factory.__name__.removeprefix("make_")] = factory
    return factory


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
