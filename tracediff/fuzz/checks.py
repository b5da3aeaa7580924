"""The checks the fuzzer runs on one program, and how their outcomes are classified.

Every gradient is compared with central finite differences of the *plain NumPy* program along
random directions (a direction catches an error in any entry, almost surely), at two step sizes.
An outcome is one of:

- ``agree``: the derivative matches the differences;
- ``kink``: the one-sided differences disagree with each other, so the function has no
  derivative at that point (a tie of a max, |0|, a branch boundary); classified, never counted as
  agreement;
- ``unclear``: the two step sizes disagree (the function is too curved or too ill-conditioned
  there for differences to decide); counted apart;
- ``unstable``: it looked wrong, but the derivative itself jumps between neighbouring points
  by as much: rounding decides it there (a first-order point with no derivative that the inputs
  cannot reach, such as the std of copies of one value);
- ``wrong``: the differences agree with each other and not with the derivative, which is
  continuous there.

Besides that, for each program: every optimization on against all off (and, for a failure, each
one alone, to name it), codegen's memory management forced on small arrays, second order
(``grad`` of ``grad``, ``hessian``, ``hvp``, ``jacobian`` of the gradient, ``jvp``) against
differences of the gradient, a cached call against a fresh trace after branch flips, float32
against float64, and the caller's arrays unchanged.
"""
from __future__ import annotations

import math
import traceback
import types
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .. import api, transforms
from ..switches import OPTIMIZATIONS, optimizations

STEP, SMALL_STEP = 1e-5, 2.5e-6  # first order; the gradient's differences use 10x these
TOL = 1e-6  # relative agreement asked of a derivative
KINK = 1e-3  # one-sided differences further apart than this (relative) mean no derivative


@dataclass
class Finding:
    """A check that failed: what, where, and the detail to reproduce it."""
    category: str  # "wrong", "error", "mutation", "cache", "float32", "passes"
    check: str  # which check (e.g. "grad, all optimizations", "hvp")
    detail: str
    culprits: list = field(default_factory=list)  # optimizations that alone change the result

    def __str__(self) -> str:
        blame = f" [changed by: {', '.join(self.culprits)}]" if self.culprits else ""
        return f"{self.category} in {self.check}{blame}: {self.detail}"


@dataclass
class Report:
    outcomes: Counter = field(default_factory=Counter)  # (order, outcome) -> count of points
    findings: list = field(default_factory=list)
    programs: int = 0  # programs checked (not counting those the plain program could not run)
    float32_differs: list = field(default_factory=list)  # float32 gradients off by more than 1e-2


def _flat(values) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in values]) if values else np.zeros(0)


def _unflat(vector, like) -> tuple:
    out, start = [], 0
    for x in like:
        size = int(np.size(x))
        piece = vector[start:start + size]
        start += size
        out.append(float(piece[0]) if isinstance(x, float) else piece.reshape(np.shape(x)).astype(np.asarray(x).dtype))
    return tuple(out)


def _quiet(call, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(*args)


def classify(h: float, wide: tuple, narrow: tuple, analytic, scale: float) -> str:
    """The outcome of comparing ``analytic`` with differences: ``wide`` and ``narrow`` are the
    function at ``(-h, 0, h)`` and ``(-h/4, 0, h/4)`` along the direction."""
    (lo, mid, hi), (lo2, _, hi2) = wide, narrow
    if not all(np.all(np.isfinite(v)) for v in (lo, mid, hi, lo2, hi2)):
        return "unclear"
    central, central2 = (hi - lo) / (2 * h), (hi2 - lo2) / (h / 2)
    # One-sided differences differ by h * curvature where there is a derivative, by the jump of
    # the derivative where there is none: only a jump stays as the step shrinks.
    sides, sides2 = np.abs(hi - 2 * mid + lo) / h, np.abs(hi2 - 2 * mid + lo2) / (h / 4)
    bound = TOL * scale + 64 * np.finfo(float).eps * (1 + np.max(np.abs(mid))) / h
    if np.max(sides2) > KINK * scale and np.any((sides2 > KINK * scale) & (sides2 > 0.5 * sides)):
        return "kink"
    err = np.max(np.abs(analytic - central2), initial=0.0) if np.all(np.isfinite(analytic)) else np.inf
    noise = np.max(np.abs(central - central2), initial=0.0)
    if err <= bound + 4 * noise:
        return "unclear" if noise > 1e3 * bound else "agree"
    return "wrong"


class ProgramCheck:
    """All checks of one program at one order; results go into ``report``."""

    def __init__(self, f, args: tuple, rng: np.random.Generator, order: int, report: Report):
        # A new function object: this check's caches start empty (td.grad's cache is shared per
        # function, and a program checked again, after a rule was mended, must be traced again).
        self.f, self.rng, self.order, self.report = _fresh(f), rng, order, report
        # Python ints come last: runtime values of the generated code, never differentiated.
        floats = len(args)
        while floats and type(args[floats - 1]) is int:
            floats -= 1
        self.args, self.ints = tuple(args[:floats]), tuple(args[floats:])
        self.argnums = tuple(range(floats))

    # --- helpers -----------------------------------------------------------------------------

    def plain(self, args) -> float:
        return float(_quiet(self.f, *args, *self.ints))

    def gradient(self, args, **switches) -> np.ndarray:
        """The flattened gradient from a fresh td.grad, built under ``switches``."""
        with optimizations(**switches):
            g = api.grad(_fresh(self.f), argnums=self.argnums)
            return _flat(_quiet(g, *args, *self.ints))

    def find(self, category, check, detail, culprits=()):
        self.report.findings.append(Finding(category, check, detail, list(culprits)))

    def directions(self, args, n: int):
        size = sum(int(np.size(a)) for a in args)
        for _ in range(n):
            u = self.rng.standard_normal(size)
            yield u / max(np.linalg.norm(u), 1e-300)

    def along(self, fun, args, u, h):
        """fun at args + t*u for t = -h, 0, h (fun returns arrays or floats)."""
        base = _flat(args)
        return [np.asarray(fun(_unflat(base + t * u, args)), dtype=np.float64) for t in (-h, 0.0, h)]

    def compare(self, order, check, fun, args, u, h, analytic, scale, analytic_at=None) -> str:
        try:
            wide, narrow = self.along(fun, args, u, h), self.along(fun, args, u, h / 4)
        except Exception:
            if not self.undefined_near(args, u, h):
                raise
            # The program itself fails within a step of the point (a mask's count changes
            # there, and a later shape no longer fits): nothing to compare, and not a finding.
            self.report.outcomes[(order, "unclear")] += 1
            return "unclear"
        analytic = np.asarray(analytic, dtype=np.float64)
        outcome = classify(h, wide, narrow, analytic, scale + np.max(np.abs(analytic), initial=0.0))
        differences = (narrow[2] - narrow[0]) / (h / 2)
        if outcome == "wrong" and analytic_at is not None and self.jumps(analytic_at, args, u, h, analytic, differences):
            outcome = "unstable"
        self.report.outcomes[(order, outcome)] += 1
        if outcome == "wrong":
            self.find("wrong", check, f"derivative {analytic!r} against differences {differences!r}")
        return outcome

    def undefined_near(self, args, u, h) -> bool:
        """Whether the plain program raises at a point the differences along ``u`` need."""
        base = _flat(args)
        for t in (-h, -h / 4, h / 4, h):
            try:
                self.plain(_unflat(base + t * u, args))
            except Exception:
                return True
        return False

    def jumps(self, analytic_at, args, u, h, analytic, differences) -> bool:
        """The derivative itself jumps between x - h/4, x and x + h/4 by as much as it misses the
        differences: a point where rounding decides it (the std of copies of one value, whose
        mean rounds off), not a rule that is consistently wrong (that one is continuous)."""
        lo, _, hi = self.along(analytic_at, args, u, h / 4)
        miss = np.max(np.abs(analytic - differences), initial=0.0)
        spread = max(np.max(np.abs(hi - analytic), initial=0.0), np.max(np.abs(lo - analytic), initial=0.0))
        return bool(np.isfinite(miss) and spread > 0.25 * miss)

    # --- the checks --------------------------------------------------------------------------

    def run(self) -> None:
        args = self.args
        try:
            value = self.plain(args)
        except Exception:
            return
        if not math.isfinite(value):
            return
        self.report.programs += 1
        copies = [np.copy(a) for a in args]
        try:
            self.first_order(args)
            if self.order >= 2:
                self.second_order(args)
            self.cache_and_flips(args)
            self.float32(args)
        except Exception as exc:  # a crash where NumPy ran: a finding of its own
            self.find("error", "tracediff", "".join(traceback.format_exception_only(type(exc), exc)).strip())
        for a, c in zip(args, copies):
            if not np.array_equal(a, c, equal_nan=True):
                self.find("mutation", "arguments", "the caller's array was changed")

    def first_order(self, args) -> None:
        on = self.gradient(args)
        off = self.gradient(args, disable="all")
        # codegen's memory management on every array, and the build from shapes (abstract.py)
        small = self.gradient(args, large_at=2)
        # Building from shapes changes no generated statement: the gradient is the same to the bit.
        computed = self.gradient(args, large_at=2, disable="shape_only_backward")
        if not np.array_equal(small, computed, equal_nan=True):
            self.find("passes", "grad, built from shapes against from values", _diff(small, computed),
                      ["shape_only_backward"])
        # Rolling only rewrites where the same operations run, so it must agree to the last bit.
        rolled = self.gradient(args, only=["roll_loops"], roll_at=2)  # any two like blocks a loop
        if not np.array_equal(rolled, off, equal_nan=True):
            self.find("passes", "grad, loop rolling (from 2 blocks) against nothing", _diff(rolled, off), ["roll_loops"])
        rolled = self.gradient(args, roll_at=2)  # and with folding in the loops' bodies
        if not np.array_equal(rolled, on, equal_nan=True):
            self.find("passes", "grad, all optimizations with rolling from 2 blocks against from 4",
                      _diff(rolled, on), ["roll_loops"])
        # Built from a few iterations of each loop of 7 or more (long_loops.py), its integers moved
        # on: the same code as from the whole trace, so the same numbers to the last bit.
        few = self.gradient(args, roll_at=2, long_loop_at=2)
        if not np.array_equal(few, rolled, equal_nan=True):
            self.find("passes", "grad, built from a few iterations against the whole trace", _diff(few, rolled),
                      ["long_loops"])
        scale = 1.0 + np.nanmax(np.abs(off), initial=0.0)
        for u in self.directions(args, 2):
            self.compare(1, "grad", self.plain, args, u, STEP, off @ u, scale,
                         analytic_at=lambda point, u=u: self.gradient(point, disable="all") @ u)
        for name, g in (("all optimizations", on), ("memory management", small)):
            if not _close(g, off, scale):
                culprits = self.blame(args, off, scale) if name == "all optimizations" else []
                self.find("passes", f"grad, {name} on against off", _diff(g, off), culprits)

    def blame(self, args, off, scale) -> list:
        """The optimizations that change the gradient when each alone is on."""
        return [name for name in OPTIMIZATIONS if not _close(self.gradient(args, only=[name]), off, scale)]

    def second_order(self, args) -> None:
        f, argnums, ints = self.f, self.argnums, self.ints
        with optimizations(disable="all"):
            plain_grad = api.grad(f, argnums=argnums)

        def gradient_at(point):
            return _flat(_quiet(plain_grad, *point, *ints))

        g0 = gradient_at(args)
        scale = 1.0 + np.nanmax(np.abs(g0), initial=0.0)
        u = next(self.directions(args, 1))
        v = _unflat(u, args)
        hvp_fn = transforms.hvp(lambda *a: f(*a), argnums=0) if len(args) == 1 else None
        results = {}
        gg = api.grad(lambda *a: _dot(api.grad(f, argnums=argnums)(*a), v), argnums=argnums)
        results["grad of grad"] = _flat(_quiet(gg, *args, *ints))
        with optimizations(large_at=2):  # built from shapes (abstract.py) at both orders
            gg = api.grad(lambda *a: _dot(api.grad(f, argnums=argnums)(*a), v), argnums=argnums)
            results["grad of grad, built from shapes"] = _flat(_quiet(gg, *args, *ints))
        with optimizations(roll_at=2, long_loop_at=2):  # the outer gradient from a few iterations
            gg = api.grad(lambda *a: _dot(api.grad(f, argnums=argnums)(*a), v), argnums=argnums)
            results["grad of grad, built from a few iterations"] = _flat(_quiet(gg, *args, *ints))
        if hvp_fn is not None:
            results["hvp"] = _flat([_quiet(hvp_fn, args[0], *ints, v[0])])
        if len(args) == 1 and g0.size <= 24:
            size = g0.size
            results["hessian"] = np.reshape(_quiet(transforms.hessian(f), *args, *ints), (size, size)) @ u
            jac = _quiet(transforms.jacobian(api.grad(f)), *args, *ints)
            results["jacobian of grad"] = np.reshape(jac, (size, size)) @ u
        _, tangent = _quiet(transforms.jvp, lambda *a: f(*a, *ints), args, v)
        self.compare(1, "jvp", self.plain, args, u, STEP, float(tangent), scale)
        for check, hv in results.items():
            self.compare(2, check, gradient_at, args, u, STEP * 10, hv, scale)

    def cache_and_flips(self, args) -> None:
        """One td.grad called at points that flip branches, in float32, and at other shapes
        where the program runs: each result equals a fresh trace's at that point. (Every other
        program rolls any two like blocks into a loop, whose guards then run in its body, and
        builds loops of 7 or more iterations from a few of them.)"""
        with optimizations(roll_at=2 if self.report.programs % 2 else None,
                           long_loop_at=2 if self.report.programs % 2 else None):
            self._cache_and_flips(args)

    def _cache_and_flips(self, args) -> None:
        g = api.grad(self.f, argnums=self.argnums)
        points = [args, _scaled(args, 1.01), _scaled(args, -1.0), _as_float32(args), _scaled(args, 0.3),
                  *self.other_shapes(args), args]
        points = [(*point, *self.ints) for point in points]
        if self.ints:  # another value of each int: a value in arithmetic, a guard where it decides
            points += [(*args, *(k % 3 + 1 for k in self.ints)), (*args, *self.ints)]
        for point in points:
            try:
                cached = _flat(_quiet(g, *point))
            except Exception as exc:
                fresh_error = _error_of(lambda: api.grad(_fresh(self.f), argnums=self.argnums)(*point))
                if fresh_error is None:
                    self.find("cache", "cached call", f"raised {exc!r}; a fresh trace did not")
                continue
            try:
                fresh = _flat(_quiet(api.grad(_fresh(self.f), argnums=self.argnums), *point))
            except Exception:
                continue
            if not np.allclose(cached, fresh, rtol=1e-9, atol=1e-12, equal_nan=True):
                self.find("cache", "cached call against a fresh trace", _diff(cached, fresh))

    def other_shapes(self, args) -> list:
        """The arguments with every axis longer than 1 one longer, if the program runs on them."""
        grown = tuple(a if not isinstance(a, np.ndarray) else
                      self.rng.standard_normal(tuple(n + 1 if n > 1 else n for n in a.shape)) for a in args)
        try:
            ok = math.isfinite(self.plain(grown)) and any(np.shape(a) != np.shape(b) for a, b in zip(args, grown))
        except Exception:
            ok = False
        return [grown] if ok else []

    def float32(self, args) -> None:
        """float32 inputs give float32 gradients, finite where float64's are, and close to them
        (1e-2) or counted apart: float32 rounding can break a tie that float64 keeps (the std of
        equal values), so a difference alone is not a bug. When the float32 value itself is off
        by more than 1e-4 relative, the program is too ill-conditioned to compare at all."""
        single = _as_float32(args)
        if single is args:
            return
        grads = _quiet(api.grad(self.f, argnums=self.argnums), *single, *self.ints)
        for a, gi in zip(single, grads):
            if isinstance(a, np.ndarray) and np.asarray(gi).dtype != np.float32:
                self.find("float32", "dtype", f"gradient of a float32 input is {np.asarray(gi).dtype}")
        promoted = tuple(np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in single)
        exact, rounded = self.plain(promoted), self.plain(single)
        if not abs(rounded - exact) <= 1e-4 * (1 + abs(exact)):
            return
        g32, g64 = _flat(grads), _flat(_quiet(api.grad(self.f, argnums=self.argnums), *promoted, *self.ints))
        if np.any(np.isfinite(g64) & ~np.isfinite(g32)):
            self.find("float32", "float32 against float64", "not finite in float32: " + _diff(g32, g64))
        elif np.allclose(g32, g64, rtol=1e-2, atol=1e-2 * (1 + np.nanmax(np.abs(g64), initial=0.0))):
            self.report.outcomes[(1, "float32 agree")] += 1
        else:  # rounding can break a tie float64 keeps (the std of equal values): not proof of a bug
            self.report.outcomes[(1, "float32 differs")] += 1
            self.report.float32_differs.append(_diff(g32, g64))


def _fresh(f):
    """``f`` as a new function object: a td.grad of it starts from an empty cache (the cache is
    shared per function, and a fresh trace is what cached calls are compared with)."""
    if not isinstance(f, types.FunctionType):
        return f
    fresh = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    fresh.__kwdefaults__ = f.__kwdefaults__
    return fresh


def _as_float32(args) -> tuple:
    if not any(isinstance(a, np.ndarray) for a in args):
        return args
    return tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args)


def _dot(grads, v):
    return sum(np.sum(g * vi) for g, vi in zip(grads, v))


def _scaled(args, factor):
    return tuple(a * factor for a in args)


def _close(a, b, scale) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-7, atol=1e-9 * scale, equal_nan=True))


def _diff(a, b) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    i = int(np.nanargmax(np.abs(a - b))) if np.any(np.isfinite(a - b)) else 0
    return f"entry {i}: {a[i]!r} against {b[i]!r}"


def _error_of(call):
    try:
        _quiet(call)
    except Exception as exc:
        return exc
    return None


def check_function(f, args: tuple, order: int = 1, seed: int = 0) -> list[str]:
    """Run every check of the fuzzer on ``f`` at ``args`` (all arguments differentiated); return
    what failed, as text (an empty list when everything agrees).

    >>> import numpy as np
    >>> check_function(lambda x: np.sum(np.sin(x) * x), (np.linspace(-1.0, 1.0, 4),), order=2)
    []
    """
    report = Report()
    ProgramCheck(f, tuple(args), np.random.default_rng(seed), order, report).run()
    return [str(finding) for finding in report.findings]
