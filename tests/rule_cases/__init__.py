"""Rule-case tables by family. Each module here defines ``CASES``, a list of :class:`Case`;
tests/test_rules.py checks them all. Add a module for a new family; nothing to register."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, NamedTuple


class Case(NamedTuple):
    prim: str  # the primitive this case is for (it must appear in the traced function)
    label: str
    fun: Callable
    args: Callable  # rand -> tuple of arguments; rand(*shape) is a random array of the test's dtype
    argnums: tuple = (0,)


def _set(index):
    """``x[index] = v``, for the cases of writes."""
    def write(x, v):
        x[index] = v
    return write


def _add(index):
    """``x[index] += v``."""
    def write(x, v):
        x[index] += v
    return write


def family_cases() -> list:
    cases = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        cases += importlib.import_module(f"{__name__}.{info.name}").CASES
    return cases
