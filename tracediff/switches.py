"""Every optimization tracediff makes, by name, and the switch that turns each one off.

An optimization must never change a gradient beyond rounding; the differential fuzzer
(``python -m tracediff.fuzz``) holds them to that by building each program's gradient with all of
them on, all off, and one at a time. Users get the same switch to rule an optimization in or out
when a gradient looks wrong: with everything off, the generated code is the rules' output as
traced.

The setting is read when code is *generated*, and when a ``td.grad`` object is made (its cache is
shared with other objects made under the same setting): a function already traced and cached keeps
its code (``g.clear_cache()`` builds it again). ``TRACEDIFF_DISABLE`` in the
environment (``all``, or names separated by commas) sets the default for the whole process.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterable, Iterator

OPTIMIZATIONS = {
    "record_cse": "an operation recorded twice on the same operands is one value (tracing.py)",
    "shape_only_backward": "the backward pass recorded from shapes and dtypes, its values computed only where needed (abstract.py)",
    "idioms": "stable idioms (logsumexp's shift, softplus) differentiated as a whole (idioms.py)",
    "scalarize": "constant arrays holding one value everywhere written as scalars (passes.py)",
    "simplify": "local algebra: x*1, x+0, --x, chains of scalar constants, reshape chains (passes.py)",
    "cse": "common subexpressions computed once (passes.py)",
    "dce": "values no output needs are not computed (passes.py)",
    "factor": "common factors taken out of sums of products: g*a + g*b is g*(a + b) (passes.py)",
    "broadcasts": "np.broadcast_to dropped where the operation broadcasts anyway (passes.py)",
    "fold": "temporaries used once written inside the expression that uses them (codegen.py)",
    "reuse_buffers": "results of large values written out= into dead temporaries (codegen.py)",
    "free": "large intermediates deleted after their last use (codegen.py)",
    "roll_loops": "iterations that did the same thing written as one Python for loop (rolling.py)",
    "long_loops": "a long loop's gradient built from a few of its iterations, its counts then moved on (long_loops.py)",
}

# Values of at least this many elements get codegen's memory management (reuse_buffers, free,
# folding across blocks); the fuzzer lowers it so that small programs exercise that code too.
LARGE_AT_ELEMENTS = 1 << 16
# Runs of at least this many iterations that did the same thing become a for loop (roll_loops);
# the fuzzer lowers it so that short loops and repeated statements exercise rolling too.
ROLL_AT_BLOCKS = 4
# Runs of at least this many iterations get their gradient built from a few of them (long_loops)
# when that walks fewer nodes; the fuzzer lowers it, and below this default the build is used
# whatever it costs, so that short loops exercise it too.
LONG_LOOP_AT = 32


def _parse(names: str | Iterable[str]) -> frozenset:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = frozenset(names)
    if "all" in names:
        return frozenset(OPTIMIZATIONS)
    unknown = sorted(names - OPTIMIZATIONS.keys())
    if unknown:
        raise ValueError(f"unknown optimization(s) {', '.join(unknown)}; "
                         f"the names are: all, {', '.join(OPTIMIZATIONS)}")
    return names


_disabled = contextvars.ContextVar("tracediff_disabled", default=_parse(os.environ.get("TRACEDIFF_DISABLE", "")))
_large_at = contextvars.ContextVar("tracediff_large_at", default=LARGE_AT_ELEMENTS)
_roll_at = contextvars.ContextVar("tracediff_roll_at", default=ROLL_AT_BLOCKS)
_long_loop_at = contextvars.ContextVar("tracediff_long_loop_at", default=LONG_LOOP_AT)


def enabled(name: str) -> bool:
    """True unless optimization ``name`` is switched off where the code is being generated."""
    return name not in _disabled.get()


def setting() -> tuple:
    """The switches in force, as a hashable value (part of what shares a compiled cache)."""
    return _disabled.get(), _large_at.get(), _roll_at.get(), _long_loop_at.get()


def large_at() -> int:
    """The element count from which codegen manages a value's memory."""
    return _large_at.get()


def roll_at() -> int:
    """The number of like iterations from which codegen writes them as a loop."""
    return _roll_at.get()


def long_loop_at() -> int:
    """The number of like iterations from which a loop's gradient is built from a few of them."""
    return _long_loop_at.get()


@contextlib.contextmanager
def optimizations(disable: str | Iterable[str] = (), *, only: Iterable[str] | None = None,
                  large_at: int | None = None, roll_at: int | None = None,
                  long_loop_at: int | None = None) -> Iterator[None]:
    """Switch optimizations off for the gradients generated inside the block.

    ``disable`` names optimizations (or ``"all"``); ``only`` keeps just the ones it names.
    ``large_at`` changes the element count from which codegen manages memory, ``roll_at`` the
    number of like iterations from which it writes a loop, ``long_loop_at`` the number from which
    a loop's gradient is built from a few of its iterations (all three for testing).

    >>> import numpy as np, tracediff as td
    >>> f = lambda x: np.sum(x) * np.mean(x)
    >>> with td.optimizations(disable="all"):
    ...     plain = td.grad(f)(np.array([1.0, 2.0, 3.0]))
    >>> plain
    array([4., 4., 4.])
    """
    off = _parse(disable)
    if only is not None:
        off |= OPTIMIZATIONS.keys() - _parse(only)
    tokens = [_disabled.set(_disabled.get() | off)]
    tokens = [(_disabled, tokens[0])]
    if large_at is not None:
        tokens.append((_large_at, _large_at.set(int(large_at))))
    if roll_at is not None:
        tokens.append((_roll_at, _roll_at.set(max(2, int(roll_at)))))
    if long_loop_at is not None:
        tokens.append((_long_loop_at, _long_loop_at.set(max(2, int(long_loop_at)))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
