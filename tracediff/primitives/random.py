"""Random draws inside traced functions are recorded, never baked: generated code draws afresh.

``np.random.<function>(...)`` calls (the legacy global generator) are recorded while a trace is
running, and a ``np.random.Generator`` passed as an argument is traced as a value whose methods
are recorded. Draws are effects: passes neither merge nor drop them, so the generated code
consumes the random stream exactly as the plain function does.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import threading

import numpy as np

from ..errors import TracediffError
from ..tracing import Tracer, current_trace
from .core import Primitive, call, np_attr, py_literal


class RandomDrawError(TracediffError, TypeError):
    """A random function got a differentiable argument, or an unseeded generator was created."""


def _impl(*operands, method, args, kwargs, has_source):
    function = getattr(operands[0], method) if has_source else _originals[method]
    values = operands[1:] if has_source else operands
    resolved = [values[a.position] if isinstance(a, _Operand) else a for a in args]
    return function(*resolved, **kwargs)


class _Operand:
    """Placeholder for an array argument of a draw (passed as an operand, not written inline)."""

    __slots__ = ("position",)

    def __init__(self, position):
        self.position = position

    def __repr__(self):
        return f"<operand {self.position}>"


def _emit(operands, **params):
    method, has_source = params["method"], params["has_source"]
    func = ast.Attribute(value=operands[0], attr=method) if has_source else np_attr(f"random.{method}")
    values = operands[1:] if has_source else operands
    positional = [values[a.position] if isinstance(a, _Operand) else py_literal(a) for a in params["args"]]
    return call(func, positional, params["kwargs"])


random_p = Primitive("random", _impl, _emit, differentiable=False)
random_p.effectful = True


def draw(source, method: str, args: tuple, kwargs: dict):
    """Record ``source.method(*args, **kwargs)`` in the current trace (source None: np.random)."""
    trace = current_trace()
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tracer) and a.requires_grad:
            raise RandomDrawError(
                f"np.random {method}() got a differentiable argument; draws have no gradient. "
                "Reparameterize: e.g. loc + scale * rng.standard_normal(size) instead of "
                "rng.normal(loc, scale, size)"
            )
    if any(isinstance(a, (Tracer, np.ndarray)) for a in kwargs.values()):
        raise RandomDrawError(f"random {method}(): inside a traced function pass array arguments positionally")
    operands, template = [], []
    for a in args:
        if isinstance(a, (Tracer, np.ndarray)):
            template.append(_Operand(len(operands)))
            operands.append(a)
        else:
            template.append(a)
    prefix = [source] if source is not None else []
    params = {"method": method, "args": tuple(template), "kwargs": dict(kwargs), "has_source": source is not None}
    value = _impl(*[o._value if isinstance(o, Tracer) else o for o in prefix + operands], **params)
    if value is None:  # e.g. seed(): an effect with no value
        trace.record(random_p, prefix + operands, params, None)
        return None
    return trace.record(random_p, prefix + operands, params, value)


# --- the legacy np.random functions, recorded while this thread traces ---------------------
_LEGACY = ("normal", "standard_normal", "uniform", "rand", "randn", "randint", "random",
           "random_sample", "choice", "permutation", "binomial", "poisson", "exponential",
           "gamma", "beta", "laplace", "logistic", "lognormal", "standard_t", "chisquare",
           "multivariate_normal", "seed")
_originals = {name: getattr(np.random, name) for name in _LEGACY}
_original_default_rng = np.random.default_rng
_patch_lock = threading.Lock()
_patch_depth = 0


def _recording_legacy(name):
    original = _originals[name]

    @functools.wraps(original)
    def function(*args, **kwargs):
        if current_trace() is None:
            return original(*args, **kwargs)
        return draw(None, name, args, kwargs)

    return function


def _default_rng(seed=None):
    if seed is None and current_trace() is not None:
        raise RandomDrawError(
            "np.random.default_rng() without a seed inside a differentiated function would freeze "
            "one draw into the generated code; create the generator outside and pass it as an "
            "argument (f(x, rng)), so every call draws fresh values"
        )
    return _original_default_rng(seed)


_patched = {name: _recording_legacy(name) for name in _LEGACY}
_patched["default_rng"] = _default_rng


@contextlib.contextmanager
def recording_numpy_random():
    """While any thread traces, np.random's functions record draws made by tracing threads.

    Other threads (and this one outside traces) get NumPy's own functions' behaviour.
    """
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            for name, fn in _patched.items():
                setattr(np.random, name, fn)
        _patch_depth += 1
    state = np.random.get_state()  # the generated code's first run draws these numbers again
    try:
        yield
    finally:
        np.random.set_state(state)
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                for name in _LEGACY:
                    setattr(np.random, name, _originals[name])
                np.random.default_rng = _original_default_rng


class TracedGenerator:
    """Stands in for a ``np.random.Generator`` argument while tracing: its draws are recorded."""

    _METHODS = ("normal", "standard_normal", "uniform", "integers", "random", "choice",
                "permutation", "binomial", "poisson", "exponential", "gamma", "beta", "laplace",
                "logistic", "lognormal", "multivariate_normal", "standard_t", "chisquare",
                "standard_exponential", "bernoulli")

    def __init__(self, tracer: Tracer):
        self._tracer = tracer

    def __getattr__(self, name):
        if name not in self._METHODS:
            raise AttributeError(f"{name!r} of a random generator is not supported inside a traced function")
        return lambda *args, **kwargs: draw(self._tracer, name, args, kwargs)
