"""Random draws inside traced functions are recorded, never baked: generated code draws afresh.

``np.random.<function>(...)`` calls (the legacy global generator) are recorded while a trace is
running; a ``np.random.Generator`` or ``RandomState`` passed as an argument is traced as a value
whose methods are recorded; and one the function reaches from outside its arguments (a global, a
closure, a default argument, an attribute) is replaced while tracing by a
:class:`CapturedGenerator`, whose draws are recorded as calls of the generator itself, held by
reference like a captured array. Draws are effects: passes neither merge nor drop them, so the
generated code consumes the random stream exactly as the plain function does.
"""
from __future__ import annotations

import ast
import contextlib
import copy
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
    return _call_with(function, operands[1:] if has_source else operands, args, kwargs)


def _call_with(function, values, args, kwargs):
    return function(*[values[a.position] if isinstance(a, _Operand) else a for a in args], **kwargs)


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
    return _source_of_call(func, operands[1:] if has_source else operands, params)


def _source_of_call(func, values, params):
    positional = [values[a.position] if isinstance(a, _Operand) else py_literal(a) for a in params["args"]]
    return call(func, positional, params["kwargs"])


random_p = Primitive("random", _impl, _emit, differentiable=False)
random_p.effectful = True


def draw(source, method: str, args: tuple, kwargs: dict):
    """Record ``source.method(*args, **kwargs)`` in the current trace: ``source`` is None
    (np.random), the tracer of a generator argument, or a :class:`CapturedGenerator`."""
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
    values = [o._value if isinstance(o, Tracer) else o for o in operands]
    if isinstance(source, CapturedGenerator):  # the method is the primitive's
        primitive, params = source.primitive(method), {"args": tuple(template), "kwargs": dict(kwargs)}
        value = _call_with(getattr(source.shadow, method), values, template, kwargs)
    else:
        primitive = random_p
        params = {"method": method, "args": tuple(template), "kwargs": dict(kwargs), "has_source": source is not None}
        if source is not None:
            operands, values = [source, *operands], [source._value, *values]
        value = _impl(*values, **params)
    return trace.record(primitive, operands, params, value)  # None for seed(): an effect only


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


_METHODS = {  # the draws recorded, by the generator's type
    np.random.Generator: frozenset((
        "normal", "standard_normal", "uniform", "integers", "random", "choice", "permutation",
        "binomial", "poisson", "exponential", "gamma", "beta", "laplace", "logistic", "lognormal",
        "multivariate_normal", "standard_t", "chisquare", "standard_exponential", "bernoulli")),
    np.random.RandomState: frozenset(_LEGACY),
}


def _methods(generator) -> frozenset:
    return _METHODS[np.random.Generator if isinstance(generator, np.random.Generator) else np.random.RandomState]


def _unsupported(name: str) -> AttributeError:
    return AttributeError(f"{name!r} of a random generator is not supported inside a traced function")


class TracedGenerator:
    """Stands in for a generator argument while tracing: its draws are recorded."""

    def __init__(self, tracer: Tracer):
        self._tracer = tracer

    def __getattr__(self, name):
        if name not in _methods(self._tracer._value):
            raise _unsupported(name)
        return lambda *args, **kwargs: draw(self._tracer, name, args, kwargs)


class CapturedGenerator:
    """Stands in, while a function is traced, for a generator it reaches from outside its
    arguments (put in place and taken away again by captures.py).

    In the tracing thread its draws are recorded as calls of the generator itself, so the
    generated code draws afresh on every call from the user's stream, as plain NumPy would. The
    values seen while tracing come from ``shadow``, a copy: the generator is not advanced by the
    trace, and the first run of the generated code draws exactly what the trace saw. Anywhere
    else (another thread) it is the generator.
    """

    __slots__ = ("generator", "shadow", "name", "state", "_primitives")

    def __init__(self, generator, name: str):
        self.generator = generator
        self.shadow = copy.deepcopy(generator)
        self.name = name  # the user's name for it (rs, self.rng), for generated code and messages
        self.state = generator_state(generator)
        self._primitives: dict = {}  # method -> its primitive

    # isinstance(rs, np.random.Generator) holds for the stand-in too
    __class__ = property(lambda self: type(self.generator))

    def __getattr__(self, name):
        if current_trace() is None:  # another thread, or a value kept past the trace
            return getattr(self.generator, name)
        if name not in _methods(self.generator):
            raise _unsupported(name)
        return lambda *args, **kwargs: draw(self, name, args, kwargs)

    def primitive(self, method: str) -> Primitive:
        """The draw ``generator.method(...)``: codegen names the bound method (``_fn_rs_normal``)
        in the generated module, which holds it, and the generator, by reference."""
        primitive = self._primitives.get(method)
        if primitive is None:
            function = getattr(self.generator, method)
            primitive = Primitive(f"{self.name}.{method}",
                                  lambda *values, args, kwargs: _call_with(function, values, args, kwargs),
                                  lambda operands, _function_name, **params: _source_of_call(
                                      ast.Name(id=_function_name), operands, params),
                                  differentiable=False, register=False)
            primitive.effectful = True
            primitive.function = function
            self._primitives[method] = primitive
        return primitive

    def drawn_outside(self) -> bool:
        """Whether the generator itself was drawn from while tracing (through a reference that
        was not replaced): those draws are frozen into the trace."""
        return not same_state(generator_state(self.generator), self.state)


def generator_state(generator):
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state
    return generator.get_state(legacy=False)


def same_state(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b
