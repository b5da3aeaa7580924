"""Random draws inside traced functions are recorded, never baked: generated code draws afresh.

``np.random.<function>(...)`` calls (the legacy global generator) are recorded while a trace is
running; a ``np.random.Generator`` or ``RandomState`` passed as an argument is traced as a value
whose methods are recorded; and one the function reaches from outside its arguments (a global, a
closure, a default argument, an attribute) is replaced while tracing by a
:class:`CapturedGenerator`, whose draws are recorded as calls of the generator itself, held by
reference like a captured array. Draws are effects: passes neither merge nor drop them, so the
generated code consumes the random stream exactly as the plain function does.

A few draws are rewritten, each into draws that consume the stream exactly as NumPy's own does
(checked bit for bit in tests/test_randomness.py), so that gradients flow:

- ``normal(loc, scale)``, ``uniform(low, high)``, ``exponential(scale)`` with differentiable
  parameters: ``loc + scale * standard_normal(size)`` (the reparameterization trick),
  ``low + (high - low) * random(size)``, ``scale * standard_exponential(size)``;
  ``multivariate_normal(mean, cov)`` with a differentiable mean: ``multivariate_normal(0, cov) + mean``;
- ``permutation(x)``, ``choice(x)`` and ``shuffle(x)`` (in place) of a traced array: ``x`` indexed
  by ``permutation(len(x))`` or ``choice(len(x), ...)``.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import functools
import inspect
import threading
import weakref

import numpy as np

from ..errors import GuardFailed, TracediffError
from ..tracing import Tracer, current_trace
from .core import Primitive, call, np_attr, py_literal


class RandomDrawError(TracediffError, TypeError):
    """A draw tracediff cannot record or differentiate: a differentiable argument it has no
    rewrite for, an in-place shuffle of a plain array, an unseeded generator created inside."""


GLOBAL_STATE = np.random.mtrand._rand  # the legacy global state behind np.random.normal and the rest

# The draws of each kind of generator. Their other methods (get_state, spawn, bit_generator,
# bytes) change or copy the generator or return something that is not an array of draws.
_DRAWS = {
    np.random.Generator: frozenset((
        "beta", "binomial", "chisquare", "choice", "dirichlet", "exponential", "f", "gamma",
        "geometric", "gumbel", "hypergeometric", "integers", "laplace", "logistic", "lognormal",
        "logseries", "multinomial", "multivariate_hypergeometric", "multivariate_normal",
        "negative_binomial", "noncentral_chisquare", "noncentral_f", "normal", "pareto",
        "permutation", "permuted", "poisson", "power", "random", "rayleigh", "shuffle",
        "standard_cauchy", "standard_exponential", "standard_gamma", "standard_normal",
        "standard_t", "triangular", "uniform", "vonmises", "wald", "weibull", "zipf")),
    np.random.RandomState: frozenset((
        "beta", "binomial", "chisquare", "choice", "dirichlet", "exponential", "f", "gamma",
        "geometric", "gumbel", "hypergeometric", "laplace", "logistic", "lognormal", "logseries",
        "multinomial", "multivariate_normal", "negative_binomial", "noncentral_chisquare",
        "noncentral_f", "normal", "pareto", "permutation", "poisson", "power", "rand", "randint",
        "randn", "random", "random_integers", "random_sample", "rayleigh", "seed", "shuffle",
        "standard_cauchy", "standard_exponential", "standard_gamma", "standard_normal",
        "standard_t", "tomaxint", "triangular", "uniform", "vonmises", "wald", "weibull", "zipf")),
}
# np.random's functions: the global state's draws (but tomaxint), and two aliases of random_sample.
_LEGACY = tuple(sorted(_DRAWS[np.random.RandomState] - {"tomaxint"} | {"ranf", "sample"}))
_REFUSED_LEGACY = ("get_state", "set_state", "bytes")


def _impl(*operands, method, args, kwargs, has_source):
    if has_source:
        return _call_with(getattr(operands[0], method), operands[1:], args, kwargs)
    function = getattr(_drawing(GLOBAL_STATE), _ALIASES.get(method, method))
    return _call_with(function, operands, args, kwargs)


_ALIASES = {"ranf": "random_sample", "sample": "random_sample"}  # np.random's, not RandomState's
_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # trace -> {id: (generator, copy)}


def _drawing(generator):
    """What a draw from ``generator`` reads: the generator itself, but while tracing a copy kept
    for the trace. The user's stream is not advanced by tracing, so the first run of the
    generated code draws exactly the numbers the trace saw; and a draw replayed into an
    enclosing trace (a gradient of a gradient) reads the same copy as that trace's own draws."""
    trace = current_trace()
    if trace is None:
        return generator
    copies = _copies.setdefault(trace, {})
    if id(generator) not in copies:
        copies[id(generator)] = (generator, copy.deepcopy(generator))  # (the generator keeps its id)
    return copies[id(generator)][1]


def _call_with(function, values, args, kwargs):
    def value(a):
        return values[a.position] if isinstance(a, _Operand) else a

    return function(*map(value, args), **{k: value(a) for k, a in kwargs.items()})


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
    def source(a):
        return values[a.position] if isinstance(a, _Operand) else py_literal(a)

    return call(func, list(map(source, params["args"])), {k: source(a) for k, a in params["kwargs"].items()})


random_p = Primitive("random", _impl, _emit, differentiable=False)
random_p.effectful = True


def draw(source, method: str, args: tuple, kwargs: dict):
    """Record ``source.method(*args, **kwargs)`` in the current trace: ``source`` is None
    (np.random), the tracer of a generator argument, or a :class:`CapturedGenerator`."""
    bound = _bound(source, method, args, kwargs)
    rewrite = _REWRITES.get(method)
    if rewrite is not None and bound is not None:
        result = rewrite(source, method, args, kwargs, bound)
        if result is not _UNCHANGED:
            return result
    _refuse_differentiable(source, method, args, kwargs, bound)
    if "out" in kwargs:
        raise RandomDrawError(f"{_spelled(source, method)}(out=...) inside a differentiated function "
                              "would write into an array outside the trace; use the returned value instead")
    operands = []

    def template(a):
        if isinstance(a, (Tracer, np.ndarray)):
            operands.append(a)
            return _Operand(len(operands) - 1)
        if isinstance(a, type) and issubclass(a, np.generic):  # dtype=np.float32: written np.float32
            return np.dtype(a)
        return a

    params = {"args": tuple(map(template, args)), "kwargs": {k: template(a) for k, a in kwargs.items()}}
    if isinstance(source, CapturedGenerator):  # the method is the primitive's
        primitive = source.primitive(method)
    else:
        primitive = random_p
        params.update(method=method, has_source=source is not None)
        operands = operands if source is None else [source, *operands]
    value = primitive.impl(*[o._value if isinstance(o, Tracer) else o for o in operands], **params)
    return current_trace().record(primitive, operands, params, value)  # None for seed(): an effect only


def _bound(source, method, args, kwargs):
    """``args`` and ``kwargs`` by parameter name (without defaults), or None if they do not fit."""
    try:
        return _signature(_kind(source), method).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):  # NumPy's own call will say what is wrong
        return None


@functools.cache
def _signature(kind, method) -> inspect.Signature:
    if kind is None:
        return inspect.signature(_originals[method])
    signature = inspect.signature(getattr(kind, method))  # (self, ...): the method of the class
    return signature.replace(parameters=list(signature.parameters.values())[1:])


def _kind(source):
    """The generator type ``source`` draws with (None: np.random's functions)."""
    if source is None:
        return None
    return _kind_of(source.generator if isinstance(source, CapturedGenerator) else source._value)


def _kind_of(generator):
    return np.random.Generator if isinstance(generator, np.random.Generator) else np.random.RandomState


def _spelled(source, method: str) -> str:
    """How the user wrote the draw, for messages: np.random.normal, rng.normal."""
    if source is None:
        return f"np.random.{method}"
    name = source.name if isinstance(source, CapturedGenerator) else source._var.name
    return f"{name or 'rng'}.{method}"


def _refuse_differentiable(source, method, args, kwargs, bound) -> None:
    names = bound if bound is not None else {**dict(enumerate(args)), **kwargs}
    for name, value in names.items():
        if isinstance(value, Tracer) and value.requires_grad:
            raise RandomDrawError(
                f"{_spelled(source, method)}(): the argument {name!r} is differentiable, but a draw "
                f"has no gradient with respect to {name!r}. Reparameterize (loc + scale * "
                "rng.standard_normal(size) for a normal draw; normal, uniform and exponential "
                "draws and multivariate_normal's mean are rewritten so), or pass "
                f"td.stop_gradient({name}) if no gradient should flow through it"
            )


# --- rewrites: draws written as other draws that consume the stream identically ------------
_UNCHANGED = object()  # a rewrite's answer when the draw is recorded as it is


def _argument(source, method, bound, name):
    if name in bound:
        return bound[name]
    return _signature(_kind(source), method).parameters[name].default


def _replaced(source, method, args, kwargs, name, value) -> tuple:
    """``args`` and ``kwargs`` with the argument ``name`` set to ``value``."""
    position = list(_signature(_kind(source), method).parameters).index(name)
    if position < len(args):
        return (*args[:position], value, *args[position + 1:]), kwargs
    return args, {**kwargs, name: value}


def _differentiable(*values) -> bool:
    return any(isinstance(v, Tracer) and v.requires_grad for v in values)


def _real_float64(value):
    """A parameter as NumPy's draws read it: float64 (a float32 loc would keep its sum float32)."""
    if isinstance(value, Tracer):
        if value.dtype.kind not in "fiub":
            return None
        return value if value.dtype == np.float64 else value.astype(np.float64)
    return value


def _size_of(source, method, size, *params):
    """The ``size`` of the standard draw behind ``method(*params, size)``, refusing, as NumPy
    does, parameters that do not broadcast to ``size``."""
    shapes = [v.shape if isinstance(v, Tracer) else np.shape(v) for v in params]
    if size is None:
        return np.broadcast_shapes(*shapes) or None
    wanted = tuple(size) if np.iterable(size) else (size,)
    wanted = tuple(map(int, wanted))
    if np.broadcast_shapes(wanted, *shapes) != wanted:
        raise ValueError(f"{_spelled(source, method)}(): parameters of shapes {shapes} cannot be "
                         f"broadcast to size={size} (NumPy refuses this too)")
    return size


def _refuse_negative(source, method, scale, name) -> None:
    """NumPy's check of a scale, which a traced scale keeps: a guard, so a later call with a
    negative scale traces again and gets NumPy's error."""
    if np.any(scale < 0):
        raise ValueError(f"{_spelled(source, method)}(): {name} < 0")


def _standard(source, method, size):
    return draw(source, method, () if size is None else (size,), {})


def _parameters(source, method, bound, *names):
    """The named parameters of a draw, as NumPy's draws read them, when one of them carries a
    gradient (the draw is rewritten); None when none does or one cannot be read (left as is)."""
    values = [_argument(source, method, bound, name) for name in names]
    if not _differentiable(*values):
        return None
    values = [_real_float64(v) for v in values]
    return None if any(v is None for v in values) else values


def _normal(source, method, args, kwargs, bound):
    parameters = _parameters(source, method, bound, "loc", "scale")
    if parameters is None:
        return _UNCHANGED
    loc, scale = parameters
    size = _size_of(source, method, _argument(source, method, bound, "size"), loc, scale)
    _refuse_negative(source, method, scale, "scale")
    return loc + scale * _standard(source, "standard_normal", size)


def _uniform(source, method, args, kwargs, bound):
    parameters = _parameters(source, method, bound, "low", "high")
    if parameters is None:
        return _UNCHANGED
    low, high = parameters
    size = _size_of(source, method, _argument(source, method, bound, "size"), low, high)
    width = high - low
    if not np.all(np.isfinite(width)):  # NumPy's check, kept as a guard
        raise OverflowError(f"{_spelled(source, method)}(): high - low is not finite")
    standard = "random" if _kind(source) is np.random.Generator else "random_sample"
    return low + width * _standard(source, standard, size)


def _exponential(source, method, args, kwargs, bound):
    parameters = _parameters(source, method, bound, "scale")
    if parameters is None:
        return _UNCHANGED
    (scale,) = parameters
    size = _size_of(source, method, _argument(source, method, bound, "size"), scale)
    _refuse_negative(source, method, scale, "scale")
    return scale * _standard(source, "standard_exponential", size)


def _multivariate_normal(source, method, args, kwargs, bound):
    parameters = _parameters(source, method, bound, "mean")
    if parameters is None:
        return _UNCHANGED
    (mean,) = parameters
    args, kwargs = _replaced(source, method, args, kwargs, "mean", np.zeros(mean.shape))
    return draw(source, method, args, kwargs) + mean  # (x + 0.0 + mean: NumPy's x + mean exactly)


def _taken(x, index, axis):
    return x[index] if axis == 0 else np.take(x, index, axis=axis)


def _reordered(name):
    """permutation(x) and choice(x, ...) of a traced array: x indexed by the same draw on
    ``len(x)``, which consumes the stream as NumPy's draw on x does."""
    def rewrite(source, method, args, kwargs, bound):
        x = _argument(source, method, bound, name)
        if not isinstance(x, Tracer) or x.ndim == 0:
            return _UNCHANGED
        axis = bound.get("axis", 0)  # (Generator's; its default is 0)
        if "axis" in bound:  # the draw on an integer takes no axis
            args, kwargs = _replaced(source, method, args, kwargs, "axis", 0)
        args, kwargs = _replaced(source, method, args, kwargs, name, x.shape[axis])
        return _taken(x, draw(source, method, args, kwargs), axis)

    return rewrite


def _shuffle(source, method, args, kwargs, bound):
    x = _argument(source, method, bound, "x")
    if not isinstance(x, Tracer):
        raise RandomDrawError(
            f"{_spelled(source, method)}(x) shuffles a plain {type(x).__name__} in place inside a "
            "differentiated function: the order drawn while tracing would be frozen into the "
            f"generated code. Write x = {_spelled(source, 'permutation')}(x) instead, which draws "
            "afresh on every call (and consumes the random stream exactly as shuffle does)"
        )
    axis = bound.get("axis", 0)  # (Generator's; its default is 0)
    x._become(_taken(x, draw(source, "permutation", (x.shape[axis],), {}), axis))
    return None


_REWRITES = {
    "normal": _normal, "uniform": _uniform, "exponential": _exponential,
    "multivariate_normal": _multivariate_normal, "permutation": _reordered("x"),
    "choice": _reordered("a"), "shuffle": _shuffle,
}


# --- the legacy np.random functions, recorded while this thread traces ---------------------
_originals = {name: getattr(np.random, name) for name in (*_LEGACY, *_REFUSED_LEGACY)}
_original_default_rng = np.random.default_rng
_patch_lock = threading.Lock()
_patch_depth = 0


def _recording_legacy(name):
    original = _originals[name]

    @functools.wraps(original)
    def function(*args, **kwargs):
        if current_trace() is None:
            return original(*args, **kwargs)
        if name in _REFUSED_LEGACY:
            raise RandomDrawError(_refusal(f"np.random.{name}()"))
        return draw(None, name, args, kwargs)

    return function


def _refusal(spelled: str) -> str:
    return (f"{spelled} inside a differentiated function is not supported: only draws are "
            "recorded, and its result would be frozen into the generated code. Use it outside the "
            "function (save or set the random state, spawn generators there) and pass what the "
            "function needs as an argument")


def _default_rng(seed=None):
    if seed is None and current_trace() is not None:
        raise RandomDrawError(
            "np.random.default_rng() without a seed inside a differentiated function would freeze "
            "one draw into the generated code; create the generator outside and pass it as an "
            "argument (f(x, rng)), so every call draws fresh values"
        )
    return _original_default_rng(seed)


_patched = {name: _recording_legacy(name) for name in _originals}
_patched["default_rng"] = _default_rng


def recording_method(method, stand_in):
    """What replaces ``method``, a bound draw of a generator that the user's code holds in a
    global, closure variable, default or attribute (``from numpy.random import normal``,
    ``draw = rng.normal``), while tracing; None if it is not a draw. ``stand_in()`` gives the
    generator's :class:`CapturedGenerator`."""
    generator, name = method.__self__, method.__name__
    if generator is GLOBAL_STATE:  # np.random.normal itself: recorded and written as np.random.normal
        return _patched.get(name) if name in _LEGACY else None
    if name not in _DRAWS[_kind_of(generator)]:
        return None
    captured = stand_in()
    return functools.wraps(method)(lambda *args, **kwargs: getattr(captured, name)(*args, **kwargs))


@contextlib.contextmanager
def recording_numpy_random():
    """While any thread traces, np.random's functions record draws made by tracing threads.

    Other threads (and this one outside traces) get NumPy's own functions' behaviour. The trace
    draws from a copy of the global state (``_drawing``), so a change of the global state itself
    while tracing is a draw tracediff did not record (``Captures.check_generators`` refuses it).
    """
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            for name, fn in _patched.items():
                setattr(np.random, name, fn)
        _patch_depth += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                for name, fn in _originals.items():
                    setattr(np.random, name, fn)
                np.random.default_rng = _original_default_rng


def _checked_method(generator, name: str) -> None:
    """Refuse ``generator.name`` inside a trace unless it is a draw."""
    kind = _kind_of(generator)
    if name in _DRAWS[kind]:
        return
    if not hasattr(kind, name):  # hasattr(rng, "integers") tells the kinds apart
        raise AttributeError(f"{kind.__name__!r} object has no attribute {name!r}")
    raise RandomDrawError(_refusal(f"{kind.__name__}.{name}"))


class TracedGenerator(Tracer):
    """Stands in for a generator argument while tracing: its draws are recorded. A tracer, so
    that passed on to another differentiated function (a gradient of a gradient) its draws are
    recorded into this trace too."""

    __slots__ = ()

    def __init__(self, tracer: Tracer):
        super().__init__(tracer._trace, tracer._var, tracer._value)

    # isinstance(rng, np.random.Generator) holds for the stand-in too
    __class__ = property(lambda self: type(self._value))

    def __getattr__(self, name):
        _checked_method(self._value, name)
        return lambda *args, **kwargs: draw(self, name, args, kwargs)


class CapturedGenerator:
    """Stands in, while a function is traced, for a generator it reaches from outside its
    arguments (put in place and taken away again by captures.py).

    In the tracing thread its draws are recorded as calls of the generator itself, so the
    generated code draws afresh on every call from the user's stream, as plain NumPy would. The
    values seen while tracing come from a copy (see ``_drawing``): the generator is not advanced
    by the trace, and the first run of the generated code draws exactly what the trace saw.
    Anywhere else (another thread) it is the generator.
    """

    __slots__ = ("generator", "name", "state", "_primitives")

    def __init__(self, generator, name: str):
        self.generator = generator
        self.name = name  # the user's name for it (rs, self.rng), for generated code and messages
        self.state = generator_state(generator)
        self._primitives: dict = {}  # method -> its primitive

    # isinstance(rs, np.random.Generator) holds for the stand-in too
    __class__ = property(lambda self: type(self.generator))

    def __getattr__(self, name):
        if current_trace() is None:  # another thread, or a value kept past the trace
            return getattr(self.generator, name)
        _checked_method(self.generator, name)
        return lambda *args, **kwargs: draw(self, name, args, kwargs)

    def primitive(self, method: str) -> Primitive:
        """The draw ``generator.method(...)``: codegen names the bound method (``_fn_rs_normal``)
        in the generated module, which holds it, and the generator, by reference."""
        primitive = self._primitives.get(method)
        if primitive is None:
            generator, function = self.generator, getattr(self.generator, method)
            primitive = Primitive(f"{self.name}.{method}",
                                  lambda *values, args, kwargs: _call_with(
                                      getattr(_drawing(generator), method), values, args, kwargs),
                                  lambda operands, _function_name, **params: _source_of_call(
                                      ast.Name(id=_function_name), operands, params),
                                  differentiable=False, register=False)
            primitive.effectful = True
            primitive.function = function
            primitive.generator = self.generator  # (what random.rewinding puts back)
            self._primitives[method] = primitive
        return primitive

    def drawn_outside(self) -> bool:
        """Whether the generator itself was drawn from while tracing (through a reference that
        was not replaced): those draws are frozen into the trace."""
        return not same_state(generator_state(self.generator), self.state)


def rewinding(graph, run):
    """``run``, the generated code of ``graph``, made to put back the random streams it drew from
    when a guard fails after a draw. The call then goes on to another specialization or a new
    trace, which draws the same numbers again: one call consumes each stream once, as the plain
    function does. ``run`` itself when no guard follows a draw (the usual case: no cost).

    >>> import numpy as np
    >>> from tracediff.ir import Graph
    >>> run = lambda x: x
    >>> rewinding(Graph([], [], []), run) is run
    True
    """
    drawn = [i for i, node in enumerate(graph.nodes) if _generator_of(node, graph) is not None]
    if not drawn or all(node.primitive.name != "guard" for node in graph.nodes[drawn[0]:]):
        return run
    generators = {}  # each stream once: input position, or the generator itself
    for i in drawn:
        source = _generator_of(graph.nodes[i], graph)
        generators[source if isinstance(source, int) else id(source)] = source

    def run_rewinding(*inputs):
        found = [inputs[g] if isinstance(g, int) else g for g in generators.values()]
        states = [generator_state(g) for g in found]
        try:
            return run(*inputs)
        except GuardFailed:
            for generator, state in zip(found, states):
                set_generator_state(generator, state)
            raise

    return run_rewinding


def _generator_of(node, graph):
    """The stream a node draws from: a generator, or the position of a generator argument among
    the inputs; None if it draws nothing."""
    if node.primitive is random_p:
        if not node.params["has_source"]:
            return GLOBAL_STATE
        return next(i for i, v in enumerate(graph.inputs) if v is node.inputs[0])
    return getattr(node.primitive, "generator", None)  # a CapturedGenerator's draw


def set_generator_state(generator, state) -> None:
    if isinstance(generator, np.random.Generator):
        generator.bit_generator.state = state
    else:
        generator.set_state(state)


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
