"""The public transforms: grad, value_and_grad, vjp, and the compiled-function object behind them."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import inspect
import math
import operator
import threading
import types
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from . import array_libraries, codegen, long_loops, passes, switches
from .array_construction import intercept, release
from .autodiff import backward
from .cache import (
    DEFAULT_MAX_SPECIALIZATIONS,
    GUARD_ADVICE,
    argument_signatures,
    describe_change,
    GENERATORS,
    Specialization,
    SpecializationCache,
    Static,
    describe_guard_failure,
    describe_key,
    is_dynamic,
    logger,
    shared_store,
    specialization_key,
    unusable,
)
from .captures import Captures
from .errors import GuardFailed, NonDifferentiableError, NonScalarOutputError, user_location
from .ir import Graph, Literal, Var
from .pytree import MAX_DEPTH, TreeTooDeepError, flatten, leaf_paths, unflatten
from .primitives.core import rebind
from .primitives.random import TracedGenerator, recording_numpy_random, rewinding
from .tracing import Trace, Tracer, recording

# ---------------------------------------------------------------------------------------------
# Tracing a call


_collector_lock = threading.Lock()
_collector_pauses = [0, False]  # builds under way, whether the collector was on before the first


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a function is traced and compiled. A build
    makes hundreds of thousands of small objects (nodes, tracers, AST) that stay alive until it
    ends, and each full collection walks all of them: with the collector on, a first call of
    20,000 operations took a third longer. Nested and concurrent builds share one pause."""
    with _collector_lock:
        if _collector_pauses[0] == 0:
            _collector_pauses[1] = gc.isenabled()
            gc.disable()
        _collector_pauses[0] += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses[0] -= 1
            if _collector_pauses[0] == 0 and _collector_pauses[1]:
                gc.enable()


class _TracedCall:
    """One run of the user's function on tracers, with what is needed to build code from it."""

    def __init__(self, fun: Callable, args: tuple, kwargs: dict, argnums: tuple):
        self.fun = fun
        leaves, self.treedef = flatten((args, kwargs))
        _check_argnums(fun, args, kwargs, argnums)
        self.arg_leaf_ranges = _arg_leaf_ranges(args)
        diff_order = [i for n in argnums for i in range(*self.arg_leaf_ranges[n])]
        diff_leaves = set(diff_order)
        _check_differentiable(fun, args, argnums, leaves, self.arg_leaf_ranges)
        self.trace = Trace()
        self.dynamic_names = []
        self.names = names = _leaf_names(fun, args, kwargs)
        # Dask or CuPy arguments: the trace computes with them (lazily, for Dask), and the code
        # is written for their library (array_libraries.py)
        self.library = array_libraries.library_of_leaves(_fun_name(fun), names, leaves)
        self.like = next((leaf for leaf in leaves if array_libraries.library_of(leaf)), None)
        traced_leaves = []
        input_vars = {}
        generators = []
        for i, leaf in enumerate(leaves):
            if is_dynamic(leaf):
                value = leaf._value if isinstance(leaf, Tracer) else leaf
                tracer = self.trace.new_input(value, requires_grad=i in diff_leaves)
                tracer._var.name = names[i]
                self.dynamic_names.append(names[i])
                if isinstance(value, GENERATORS):
                    generators.append(value)
                    tracer = TracedGenerator(tracer)
                traced_leaves.append(tracer)
                input_vars[i] = tracer._var if isinstance(tracer, Tracer) else None
            else:
                traced_leaves.append(leaf.value if isinstance(leaf, Static) else leaf)
        self.leaves = leaves
        # Taken now, in argnums order: a write (x[0] = ...) rebinds the argument's tracer later.
        self.diff_vars = [input_vars[i] for i in diff_order]
        t_args, t_kwargs = unflatten(self.treedef, traced_leaves)
        captures = Captures(fun)
        for name, leaf in zip(names, leaves):
            if not is_dynamic(leaf):
                captures.watch_object(leaf.value if isinstance(leaf, Static) else leaf, name)
        # Draws made while tracing are made again by the generated code's first run, so the
        # generators are put back as they were: one call consumes the stream once. (Generators
        # reached from outside the arguments are replaced by stand-ins that draw from copies.)
        states = [_generator_state(g) for g in generators]
        # Large values are not computed while tracing either: the generated code computes them
        # on the first call anyway. They are Pending (abstract.py), computed only where the
        # function's control flow reads one (a guard) or the primitive's result depends on values.
        self.trace.pending_at = self.trace.weak_at
        try:
            with recording_numpy_random(), captures.standing_in(), recording(self.trace, captures), \
                    array_libraries.no_gathering(self.library, _fun_name(fun)):
                self.out = fun(*t_args, **t_kwargs)
        finally:
            self.trace.in_user_code = False
            self.trace.pending_at = None
            for g, state in zip(generators, states):
                _set_generator_state(g, state)
        captures.check_generators(_fun_name(fun))
        self.captures = captures
        # Values of an enclosing trace the function closed over became inputs while it ran.
        self.dynamic_names += [inner._var.name or "captured" for _, inner in self.trace.lifted.values()]

    def finish(self) -> None:
        self.trace.closed = True


def _generator_state(gen):
    return gen.bit_generator.state if isinstance(gen, np.random.Generator) else gen.get_state()


def _set_generator_state(gen, state):
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    else:
        gen.set_state(state)


def _arg_leaf_ranges(args) -> list:
    ranges, start = [], 0
    for a in args:
        n = len(flatten(a)[0])
        ranges.append((start, start + n))
        start += n
    return ranges


def _leaf_names(fun, args, kwargs) -> list:
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) else f"arg{i}"
        names += [base + path for path in leaf_paths(a)]
    for k in sorted(kwargs):
        names += [k + path for path in leaf_paths(kwargs[k])]
    return names


def _fun_name(fun) -> str:
    return getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or repr(fun)


def _called_at() -> str:
    loc = user_location()
    return f" (called at {loc})" if loc else ""


def _check_arguments(fun, args, kwargs) -> None:
    """Raise a clear error for the first argument a call cannot be keyed on (a set, a
    memoryview, an unhashable object, a tree nested too deep), naming the function and it."""
    labelled = [(_argument(fun, n), _parameter(fun, n) or "...", a) for n, a in enumerate(args)]
    labelled += [(f"keyword argument '{k}'", k, v) for k, v in sorted(kwargs.items())]
    for label, name, arg in labelled:
        try:
            leaves = flatten(arg)[0]
        except TreeTooDeepError:
            raise TypeError(
                f"{_fun_name(fun)}: {label} is nested more than {MAX_DEPTH} levels deep (containers "
                f"within containers){_called_at()}; pass nested lists of numbers as an array, "
                f"np.asarray({name}), or a flatter structure."
            ) from None
        except TypeError:
            return  # the error itself says what is wrong (dict keys that cannot be sorted)
        for path, leaf in zip(leaf_paths(arg), leaves):
            problem = unusable(leaf, name + path)
            if problem is not None:
                what, fix = problem
                raise TypeError(f"{_fun_name(fun)}: {label}{path} {what}{_called_at()}; {fix}.") from None


def _parameter(fun, n: int) -> str | None:
    """The name of ``fun``'s ``n``-th positional parameter, if it has one."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return None
    if n < len(params) and params[n].kind in (params[n].POSITIONAL_ONLY, params[n].POSITIONAL_OR_KEYWORD):
        return params[n].name
    return None


def _argument(fun, n: int) -> str:
    """``argument 1 ('mask')`` for messages."""
    name = _parameter(fun, n)
    return f"argument {n} ('{name}')" if name else f"argument {n}"


def _check_argnums(fun, args, kwargs, argnums) -> None:
    for n in argnums:
        if not -len(args) <= n < len(args):
            by_keyword = f" (got keyword argument(s) {sorted(kwargs)})" if kwargs else ""
            raise TypeError(
                f"{_fun_name(fun)}: argnums={n} but the function was called with {len(args)} "
                f"positional argument(s){by_keyword}{_called_at()}; pass the arguments to "
                "differentiate positionally"
            )


def _check_differentiable(fun, args, argnums, leaves, ranges) -> None:
    for n in argnums:
        if args[n] is None:
            raise NonDifferentiableError(
                f"{_fun_name(fun)}: {_argument(fun, n)} is None{_called_at()}, so it has no gradient; "
                "pass an array or a float for it, or leave it out of argnums."
            )
        paths = leaf_paths(args[n])
        for path, leaf in zip(paths, leaves[slice(*ranges[n])]):
            dtype = getattr(leaf, "dtype", None)
            if isinstance(leaf, (float, complex)) or (dtype is not None and dtype.kind in "fc"):
                continue
            what = f"argument {n}{path}"
            kind = f"an array of {dtype}" if dtype is not None else f"a Python {type(leaf).__name__}"
            raise NonDifferentiableError(
                f"{_fun_name(fun)}: cannot differentiate with respect to {what}, which is {kind}"
                f"{_called_at()}. "
                "Only floating-point values have gradients: convert it (x.astype(float), 3.0 "
                "instead of 3) or leave it out of argnums."
            )


def _as_tuple(x) -> tuple:
    return (x,) if isinstance(x, (int, str)) else tuple(x)


def _static_positions(fun, static_argnums: tuple, static_argnames: tuple, argnums: tuple):
    """(positions, names) of the arguments to key on by value, or None when there are none.
    A name also covers its parameter passed positionally, a position its keyword, as in JAX."""
    if not static_argnums and not static_argnames:
        return None
    try:
        params = [p for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params]
    positions = set(static_argnums)
    positions |= {names.index(n) for n in static_argnames if n in names}
    keywords = set(static_argnames) | {names[i] for i in static_argnums if 0 <= i < len(names)}
    overlap = positions & {n % len(names) if names and n < 0 else n for n in argnums}
    if overlap:
        raise ValueError(f"{_fun_name(fun)}: argument(s) {sorted(overlap)} are both differentiated "
                         "(argnums) and static (static_argnums/static_argnames); a static argument "
                         "is a constant of the generated code, so it has no gradient.")
    return frozenset(positions), frozenset(keywords)


def _mark_static(fun, static, args: tuple, kwargs: dict):
    """The arguments with those named static wrapped as keys of the specialization."""
    positions, keywords = static

    def wrap(value, label):
        if isinstance(value, Static):
            return value
        try:
            return Static(value)
        except TypeError:
            raise TypeError(f"{_fun_name(fun)}: {label} is static (static_argnums/static_argnames) "
                            f"but a {type(value).__name__} cannot be a key{_called_at()}; pass a "
                            "hashable value (a tuple rather than a list, a number rather than an "
                            "array), or make it an ordinary argument.") from None

    n = len(args)
    args = tuple(wrap(a, _argument(fun, i)) if i in positions or i - n in positions else a
                 for i, a in enumerate(args))
    if kwargs and keywords:
        kwargs = {k: wrap(v, f"keyword argument '{k}'") if k in keywords else v for k, v in kwargs.items()}
    return args, kwargs


# ---------------------------------------------------------------------------------------------
# The compiled-function object


class _Compiled:
    """Shared machinery of the transforms: key, cache lookup, guards, tracing and codegen."""

    kind = "grad"

    def __init__(self, fun: Callable, argnums=0, has_aux: bool = False,
                 max_specializations: int = DEFAULT_MAX_SPECIALIZATIONS,
                 static_argnums: int | Sequence[int] = (), static_argnames: str | Sequence[str] = ()):
        self.fun = fun
        self.argnums = argnums
        self._argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        self.has_aux = has_aux
        self.static_argnums = _as_tuple(static_argnums)
        self.static_argnames = _as_tuple(static_argnames)
        self._static = _static_positions(fun, self.static_argnums, self.static_argnames, self._argnums)
        options = (type(self), self.argnums, has_aux, self.static_argnums, self.static_argnames,
                   max_specializations, *self._options(), switches.setting())
        self._cache = SpecializationCache(max_specializations, shared_store(fun, options))
        self._as_method = None
        # updated=(): copying fun.__dict__ would overwrite this object's state when fun is itself
        # a compiled function (grad(grad(f))).
        functools.update_wrapper(self, fun, updated=())

    def _options(self) -> tuple:
        """What else a subclass's generated code depends on (kept apart in the shared cache)."""
        return ()

    def _marked(self, args: tuple, kwargs: dict):
        """The arguments as the cache sees them: those named static wrapped as keys."""
        return _mark_static(self.fun, self._static, args, kwargs) if self._static else (args, kwargs)

    # --- the call path ------------------------------------------------------------------
    def _call(self, args, kwargs, extra=()):
        """(specialization, flat outputs) for a call. ``extra``: inputs the generated code takes
        after the arguments' dynamic leaves, which are neither keyed nor traced as arguments
        (jvp's tangents)."""
        if self._static is not None:
            args, kwargs = self._marked(args, kwargs)
        try:
            key, dynamic = specialization_key(args, kwargs)
        except TypeError:
            _check_arguments(self.fun, args, kwargs)  # says which argument, and what to pass
            raise
        inputs = (*dynamic, *extra) if extra else dynamic
        cache = self._cache
        specs = cache.entries.get(key)
        if specs:  # the lean path: the most recently used specialization, its checks pass
            spec = specs[0]
            if spec.bindings is None or spec.bindings.changed() is None:
                try:
                    flat = spec.run(*inputs)
                except GuardFailed:
                    pass
                else:
                    cache.hits += 1
                    cache.ran(spec)
                    return spec, flat
        return self._call_slowly(key, inputs, args, kwargs)

    def _call_slowly(self, key, inputs, args, kwargs):
        if any(isinstance(d, Tracer) for d in inputs):
            return self._replay(key, args, kwargs, inputs)
        cache = self._cache
        reason = advice = None
        for spec in cache.lookup(key):
            changed = spec.bindings and spec.bindings.changed()
            if changed is not None:
                reason = f"{changed} since it was traced"
                advice = ("Pass values that change as arguments rather than reading them from "
                          "globals or attributes; or raise max_specializations.")
                cache.discard(key, spec)
                continue
            try:
                flat = spec.run(*inputs)
            except GuardFailed as failure:
                guard = spec.module.guards[failure.args[0]]
                reason, advice = describe_guard_failure(guard, failure.args[1], spec.graph), GUARD_ADVICE
                continue
            cache.hit(key, spec)
            return spec, flat
        cache.misses += 1
        latest = cache.latest() if reason is None else None
        spec = self._build(args, kwargs)
        if "lifted" in spec.extra:  # it closed over traced values: its result depends on them
            return _run_lifted(spec, inputs)
        if latest is not None:
            reason, advice = describe_change(latest.arguments, spec.arguments)
        spec.reason, spec.advice = reason or "first call", advice or ""
        spec.signature = describe_key(spec)
        if reason is not None:
            logger.info("%s traced again: %s", self, reason)
        spec = cache.add(key, spec, self)
        try:
            flat = spec.run(*inputs)
        except GuardFailed as failure:
            guard = spec.module.guards[failure.args[0]]
            raise RuntimeError(
                f"{_fun_name(self.fun)} took another path when its generated code ran right after "
                f"tracing ({describe_guard_failure(guard, failure.args[1])}). Its control flow "
                "depends on something that is not an argument (time, unrecorded randomness, a "
                "mutable object); pass it as an argument."
            ) from None
        cache.ran(spec)
        return spec, flat

    def _replay(self, key, args, kwargs, inputs):
        """Called on tracers of an enclosing trace: replay the graph into that trace."""
        leaves, treedef = flatten((args, kwargs))
        concrete = unflatten(treedef, [x._value if isinstance(x, Tracer) else x for x in leaves])
        key = ("replayed", key)  # never looked up by the lean path, which runs generated code
        for spec in self._cache.lookup(key):
            try:
                return _as_replayed(spec), interpret(spec.graph, inputs)
            except GuardFailed:
                continue
        spec = self._build(*concrete, whole=True)  # (its graph is interpreted: every iteration in it)
        if "lifted" in spec.extra:  # built for these enclosing values only: not kept
            return _run_lifted(spec, inputs)
        spec.reason, spec.signature = "called on traced values", describe_key(spec)
        spec = self._cache.add(key, spec, self)
        return _as_replayed(spec), interpret(spec.graph, inputs)

    def _build(self, args, kwargs, whole: bool = False) -> Specialization:
        """Trace and compile; ``whole``: a graph holding every iteration of long loops (one to
        interpret or show), never one built from a few of them (long_loops.py)."""
        self._cache.traces += 1
        with _collector_paused(), _naming(self.fun):
            call = _TracedCall(self.fun, args, kwargs, self._argnums)
            intercept()  # user-written rules run in reverse mode: np.array([g0, g1]) there too
            try:
                spec = self._compile(call, whole)
            finally:
                release()
                call.finish()
        spec.arguments = argument_signatures(call.names, call.leaves)
        spec.run = rewinding(spec.graph, spec.run)  # a guard failing after a draw puts it back
        if call.library == "dask":
            spec.run = _without_gathering(spec.run, f"the generated {self.kind} of {_fun_name(self.fun)}")
        if call.trace.lifted:
            spec.extra["lifted"] = {inner._var.id: outer for outer, inner in call.trace.lifted.values()}
        referenced = {id(v) for v in spec.module.namespace.values() if isinstance(v, np.ndarray)}
        bindings = call.captures.bindings(referenced)
        spec.bindings = bindings or None
        return spec

    # --- introspection ----------------------------------------------------------------------
    def source(self, *args, **kwargs) -> str:
        """The generated source for these arguments' specialization (traced if needed)."""
        return self._spec_for(args, kwargs).module.source

    def ir(self, *args, **kwargs) -> Graph:
        """The optimized IR graph (forward and backward) for these arguments."""
        spec = self._spec_for(args, kwargs)
        if "long loops" not in spec.extra:
            return spec.graph
        traces = self._cache.traces  # (the cached code was built from a few iterations: not a call)
        try:
            return self._build(*self._marked(args, kwargs), whole=True).graph
        finally:
            self._cache.traces = traces

    def _spec_for(self, args, kwargs) -> Specialization:
        # Finding the specialization runs its guards; it is not a call, so it is not counted.
        counts = self._cache.hits, self._cache.misses
        spec = self._call(args, kwargs)[0]
        self._cache.hits, self._cache.misses = counts
        spec.hits -= 1
        return spec

    def cache_info(self):
        """``CacheInfo(hits, misses, traces, specializations)``."""
        return self._cache.info()

    def explain(self) -> str:
        """What is cached and why: each specialization, its guards with the user's lines, how
        often it ran, and why it was traced."""
        return self._cache.explain(f"{self.kind} of {_fun_name(self.fun)}")

    def clear_cache(self) -> None:
        self._cache.clear()

    def __repr__(self) -> str:
        return f"<tracediff.{self.kind} of {_fun_name(self.fun)}>"

    def __get__(self, obj, objtype=None):
        # As a method decorator: argnums count the arguments after self, as they are written
        # at the call (model.loss(w) differentiates w), however the method is reached.
        # self's attributes are watched like globals.
        if self._as_method is None:
            shifted = self.argnums + 1 if isinstance(self.argnums, int) else tuple(n + 1 for n in self.argnums)
            self._as_method = self._sibling(shifted, tuple(n + 1 if n >= 0 else n for n in self.static_argnums))
        return self._as_method if obj is None else types.MethodType(self._as_method, obj)


class GradFunction(_Compiled):
    """The result of :func:`grad` and :func:`value_and_grad`: call it like the function."""

    def __init__(self, fun, argnums=0, has_aux=False, with_value=False,
                 max_specializations=DEFAULT_MAX_SPECIALIZATIONS, static_argnums=(), static_argnames=(),
                 holomorphic=False):
        self.with_value, self.holomorphic = with_value, bool(holomorphic)
        self.kind = "value_and_grad" if with_value else "grad"
        super().__init__(fun, argnums, has_aux, max_specializations, static_argnums, static_argnames)

    def __call__(self, *args, **kwargs):
        spec, flat = self._call(args, kwargs)
        return spec.finish(flat)

    def _options(self) -> tuple:
        return (self.with_value, self.holomorphic)

    def _sibling(self, argnums, static_argnums):
        return GradFunction(self.fun, argnums, self.has_aux, self.with_value, self._cache.limit,
                            static_argnums, self.static_argnames, self.holomorphic)

    def _compile(self, call: _TracedCall, whole: bool = False) -> Specialization:
        out, aux = _split_aux(call.out, self.has_aux, self.fun)
        _check_scalar(out, self.fun, self.kind, self.has_aux, self.holomorphic)
        if self.holomorphic:
            _check_holomorphic_arguments(call, self.fun, self.kind)
        aux_leaves, aux_tree = flatten(aux)
        name = _fun_name(self.fun)
        output_names = (["value"] * self.with_value + [f"g_{v.name or 'arg'}" for v in call.diff_vars]
                        + ["aux"] * len(aux_leaves))  # for outputs the user's code left unnamed
        fn_name = f"{self.kind}_{_identifier(name)}"

        def build(value_of=lambda x: x):
            """The gradient's graph and source, from the trace's nodes as they are (long_loops.py
            calls it on traces with only a few of a long loop's iterations, whose last iteration's
            values ``value_of`` gives for the real last one's)."""
            # The seed is the output's cotangent: 1 for a real loss; for holomorphic=True, the
            # complex cotangent 1 makes the rules give f'(z). A Python float is weak under NumPy's
            # promotion: float32 work stays float32.
            loss = value_of(out)
            loss = np.reshape(loss, ()) if np.ndim(loss) else loss  # a (1,) or (1, 1) loss is a scalar too
            grads = backward(call.trace, [loss], [1.0], call.diff_vars)
            outputs = ([_as_operand(value_of(out))] if self.with_value else []) + [g._var for g in grads]
            outputs += [_as_operand(value_of(a)) for a in aux_leaves]
            graph = passes.optimize(Graph(call.trace.inputs, call.trace.nodes, outputs))
            fn = codegen.FunctionSpec(fn_name, graph.inputs, graph.nodes, graph.outputs, call.dynamic_names,
                                      output_names)
            return graph, _render(call, graph, [fn], f"{self.kind} of {name}")

        built = None
        if not whole and call.library == "numpy":
            returned = [x._var for x in (out, *aux_leaves) if isinstance(x, Tracer)]
            built = long_loops.build(call.trace, returned, build)
        graph, rendered = built[:2] if built else build()
        module = codegen.load(rendered)
        finishers = [_grad_finisher(call, self._argnums, self.argnums, self.with_value, self.has_aux, aux_tree,
                                    convert) for convert in (True, False)]
        spec = Specialization(module, graph, module.function(fn_name), finishers[0])
        spec.extra["finish_traced"] = finishers[1]
        if built is not None:  # (graph: the trace with a few of each long loop's iterations)
            spec.extra["long loops"] = built[2]
        return spec


# ---------------------------------------------------------------------------------------------
# vjp


class _VJPFunction(_Compiled):
    """Compiled forward and backward functions for :func:`vjp`, cached per function."""

    kind = "vjp"

    def _compile(self, call: _TracedCall, whole: bool = False) -> Specialization:
        out_leaves, out_tree = flatten(call.out)
        cts = []
        for leaf in out_leaves:
            if not (isinstance(leaf, Tracer) or isinstance(leaf, (np.ndarray, np.generic, float))):
                raise TypeError(f"{_fun_name(self.fun)}: vjp needs array outputs, got {type(leaf).__name__}")
            value = leaf._value if isinstance(leaf, Tracer) else np.asarray(leaf)
            cts.append(call.trace.new_input(np.ones(np.shape(value), np.result_type(value)), requires_grad=False))
        grads = backward(call.trace, out_leaves, cts, call.diff_vars)
        n_primal = len(call.dynamic_names)
        outputs = [_as_operand(o) for o in out_leaves] + [g._var for g in grads]
        graph = passes.optimize(Graph(call.trace.inputs, call.trace.nodes, outputs))
        primal_vars, ct_vars = graph.inputs[:n_primal], graph.inputs[n_primal:]
        fwd_nodes, bwd_nodes, residuals = split_forward_backward(graph, len(out_leaves), ct_vars)
        name = _identifier(_fun_name(self.fun))
        out_outputs = graph.outputs[: len(out_leaves)]
        fwd = codegen.FunctionSpec(f"forward_{name}", primal_vars, fwd_nodes, out_outputs + residuals,
                                   call.dynamic_names)
        ct_names = [f"g_out{i}" for i in range(len(ct_vars))]
        # The residuals reach the backward function as one tuple, read residuals[k]: a loop's
        # iterations then read residuals[a * i + b], and the backward loop rolls too.
        packed = Var("residuals", (), np.dtype(object))
        bwd = codegen.FunctionSpec(f"backward_{name}", [packed] + ct_vars, bwd_nodes,
                                   graph.outputs[len(out_leaves):], ["residuals"] + ct_names,
                                   packed=packed, packed_items=residuals)
        module = codegen.load(_render(call, graph, [fwd, bwd], f"vjp of {_fun_name(self.fun)}"))
        every = tuple(range(len(call.arg_leaf_ranges)))
        finish, finish_traced = (_grad_finisher(call, every, every, False, False, None, convert)
                                 for convert in (True, False))
        spec = Specialization(module, graph, module.function(fwd.name), finish)
        spec.extra.update(backward=module.function(bwd.name), n_out=len(out_leaves), out_tree=out_tree,
                          ct_shapes=[(v.shape, v.dtype) for v in ct_vars], finish_traced=finish_traced)
        return spec

    def traced(self, primals: tuple):
        """vjp inside an enclosing trace: the output is traced directly, and the pullback
        replays the vjp graph (its forward part merges with the traced one as it is recorded)."""
        leaves, treedef = flatten((primals, {}))
        dynamic = [leaf for leaf in leaves if is_dynamic(leaf)]
        concrete = unflatten(treedef, [x._value if isinstance(x, Tracer) else x for x in leaves])
        spec = self._build(*concrete)
        out = self.fun(*primals)

        def pullback(cotangent):
            flat = interpret(spec.graph, [*dynamic, *flatten(cotangent)[0]])
            return spec.extra["finish_traced"](flat[spec.extra["n_out"]:])

        return out, pullback


def split_forward_backward(graph: Graph, n_out: int, ct_vars: list):
    """Nodes of the forward function, of the backward function, and the residuals between them."""
    fwd_roots = [v for v in graph.outputs[:n_out] if isinstance(v, Var)]
    # Guards and draws run in the forward function, but those reading a cotangent (a rule's
    # `if` on g) can only run in the backward one.
    from_cts = {v.id for v in ct_vars}
    for n in graph.nodes:
        if n.out is not None and any(isinstance(v, Var) and v.id in from_cts for v in n.inputs):
            from_cts.add(n.out.id)
    effects = [n for n in graph.nodes if n.primitive.effectful
               and not any(isinstance(v, Var) and v.id in from_cts for v in n.inputs)]
    fwd_ids = _needed(graph.nodes, fwd_roots, effects)
    fwd_nodes = [n for n in graph.nodes if id(n) in fwd_ids]
    rest = [n for n in graph.nodes if id(n) not in fwd_ids]
    bwd_ids = _needed(rest, [v for v in graph.outputs[n_out:] if isinstance(v, Var)],
                      [n for n in rest if n.primitive.effectful])
    bwd_nodes = [n for n in rest if id(n) in bwd_ids]
    produced_in_bwd = {n.out.id for n in bwd_nodes if n.out is not None} | {v.id for v in ct_vars}
    residuals, seen = [], set()
    uses = [v for n in bwd_nodes for v in n.inputs] + list(graph.outputs[n_out:])
    for v in uses:
        if isinstance(v, Var) and v.id not in produced_in_bwd and v.id not in seen:
            seen.add(v.id)
            residuals.append(v)
    return fwd_nodes, bwd_nodes, residuals


def _needed(nodes, roots, effects) -> set:
    """The nodes (by id) that compute ``roots`` or run the effectful nodes ``effects``."""
    live, run = {v.id for v in roots}, set(map(id, effects))
    kept = set()
    for node in reversed(nodes):
        if id(node) in run or (node.out is not None and node.out.id in live):
            kept.add(id(node))
            live.update(v.id for v in node.inputs if isinstance(v, Var))
    return kept


def compiled_per_function(cache: "weakref.WeakKeyDictionary", fun: Callable, kind: type, n_args: int):
    """The ``kind`` object compiling ``fun`` for ``n_args`` arguments, kept while ``fun`` lives.

    Functions that cannot be weakly referenced (NumPy ufuncs) get a new one each call."""
    try:
        compiled = cache.get(fun)
    except TypeError:
        return kind(fun, argnums=tuple(range(n_args)))
    if compiled is None or len(compiled._argnums) != n_args:
        compiled = cache[fun] = kind(fun, argnums=tuple(range(n_args)))
    return compiled


_vjp_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def vjp(fun: Callable, *primals) -> tuple[Any, Callable]:
    """The output of ``fun(*primals)`` and a function that pulls a cotangent back to the primals.

    ``pullback(cotangent)`` returns a tuple with one cotangent per primal (vector-Jacobian product).
    The forward and backward code are generated once per specialization and cached.

    >>> import numpy as np, tracediff as td
    >>> out, pullback = td.vjp(lambda x: (2 * x).reshape(2, 2), np.array([1., 2., 3., 4.]))
    >>> pullback(np.array([[1., 0.1], [0.01, 0.001]]))[0]
    array([2.   , 0.2  , 0.02 , 0.002])
    """
    compiled = compiled_per_function(_vjp_cache, fun, _VJPFunction, len(primals))
    if any(isinstance(leaf, Tracer) for leaf in flatten(primals)[0]):
        return compiled.traced(primals)
    spec, flat = compiled._call(primals, {})
    n_out = spec.extra["n_out"]
    out_leaves, residuals = flat[:n_out], flat[n_out:]
    out = unflatten(spec.extra["out_tree"], out_leaves)

    def pullback(cotangent):
        ct_leaves, ct_tree = flatten(cotangent)
        if ct_tree != spec.extra["out_tree"]:
            raise ValueError(f"vjp of {_fun_name(fun)}: the cotangent must have the output's structure")
        cts = []
        for i, (ct, (shape, dtype)) in enumerate(zip(ct_leaves, spec.extra["ct_shapes"])):
            ct = ct if isinstance(ct, Tracer) else np.asarray(ct, dtype=dtype)
            if ct.shape != shape:
                raise ValueError(
                    f"vjp of {_fun_name(fun)}: cotangent {i} has shape {ct.shape}, but the output it "
                    f"belongs to has shape {shape}; pass an array of the output's shape"
                )
            cts.append(ct)
        if any(isinstance(ct, Tracer) for ct in cts):
            # Differentiated with respect to the cotangent (a VJP of a VJP): the pullback is
            # recorded, by replaying its graph, at the primals it was made for.
            primal_leaves = [leaf for leaf in flatten((primals, {}))[0] if is_dynamic(leaf)]
            flat = interpret(spec.graph, [*primal_leaves, *cts])
            return spec.extra["finish_traced"](flat[n_out:])
        try:
            return spec.finish(spec.extra["backward"](tuple(residuals), *cts))
        except GuardFailed:
            pass
        # A rule decided on the cotangent's values (an `if` on g), which the code was traced with
        # ones for: this cotangent takes another path. The gradient of Re(sum(ct * out)), traced
        # for it, is the product.
        return _pullback_traced_for(fun, primals, ct_leaves)

    return out, pullback


def _pullback_traced_for(fun, primals, ct_leaves):
    def projected(*args):
        outs = flatten(fun(*args))[0]
        return sum(np.real(np.sum(np.multiply(ct, o))) for ct, o in zip(ct_leaves, outs))

    grads = grad(projected, argnums=tuple(range(len(primals))))(*primals)
    return tuple(grads)


# ---------------------------------------------------------------------------------------------
# helpers


@contextlib.contextmanager
def _naming(fun):
    """An ArrayLibraryError raised deep in tracing or reverse mode, with the function's name."""
    try:
        yield
    except array_libraries.ArrayLibraryError as error:
        if str(error).startswith(_fun_name(fun)):
            raise
        raise array_libraries.ArrayLibraryError(f"{_fun_name(fun)}: {error}") from None


def _without_gathering(run, what: str):
    """``run`` raising, rather than gathering the data, when Dask lacks a function it calls."""
    def guarded(*inputs):
        with array_libraries.no_gathering("dask", what):
            return run(*inputs)
    return guarded


def _render(call: _TracedCall, graph: Graph, functions: list, title: str) -> codegen.Rendered:
    """The module of ``functions`` (of ``graph``), for the library of ``call``'s arrays."""
    if call.library != "numpy":
        array_libraries.check_neutral(graph.nodes, _fun_name(call.fun), call.library)
    rendered = codegen.render(functions, title, like=call.like)
    if call.library == "cupy" and rendered.constants:  # (CuPy refuses NumPy operands)
        raise array_libraries.ArrayLibraryError(
            f"{_fun_name(call.fun)} reads the NumPy arrays {', '.join(rendered.constants)} from outside its "
            "arguments, and CuPy does not compute with NumPy arrays; pass them as CuPy arguments")
    return rendered


def _split_aux(out, has_aux, fun):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{_fun_name(fun)}: has_aux=True needs the function to return (output, aux)")
    return out


def _check_holomorphic_arguments(call, fun, kind) -> None:
    for var in call.diff_vars:
        if var.dtype.kind != "c":
            raise NonDifferentiableError(
                f"{kind} of {_fun_name(fun)} with holomorphic=True{_called_at()}: the argument "
                f"'{var.name or 'arg'}' is real ({var.dtype}); holomorphic derivatives are taken with "
                "respect to complex arguments: pass it as complex (x.astype(complex), 1.0 + 0j)"
            )


def _check_scalar(out, fun, kind, has_aux=False, holomorphic=False):
    if isinstance(out, (tuple, list)):
        if has_aux:
            what = "the output's first item (the value to differentiate)"
            fix = "return (loss, aux) with a scalar loss, the sum of the items if they are losses"
        else:
            what = "the output"
            fix = ("if it is (loss, aux), pass has_aux=True to get (gradient, aux); if its items are "
                   "losses, return their sum")
        raise NonScalarOutputError(
            f"{kind} of {_fun_name(fun)}{_called_at()}: {what} is a {type(out).__name__} of "
            f"{len(out)} items, not a scalar; {fix}."
        )
    shape = out.shape if isinstance(out, Tracer) else np.shape(out)
    dtype = getattr(out, "dtype", np.result_type(out) if isinstance(out, (int, float, complex)) else None)
    if math.prod(shape) != 1:
        raise NonScalarOutputError(
            f"{kind} of {_fun_name(fun)}{_called_at()}: the output has shape {shape}, but a "
            "gradient needs a scalar output (or one of size 1). Reduce it (e.g. .sum() or .mean()), "
            "or use td.vjp(f, x) for a vector-Jacobian product."
        )
    if dtype is not None and np.dtype(dtype).kind == "c" and not holomorphic:
        raise NonScalarOutputError(
            f"{kind} of {_fun_name(fun)}{_called_at()}: the output is complex ({dtype}), and a gradient "
            "needs a real loss. Return its real part (z.real), its magnitude (abs(z) or abs(z) ** 2); "
            "for a complex function's vector-Jacobian product use td.vjp; for the complex derivative "
            "f'(z) of a holomorphic function pass holomorphic=True"
        )
    if dtype is None or np.dtype(dtype).kind not in ("fc" if holomorphic else "f"):
        raise NonScalarOutputError(
            f"{kind} of {_fun_name(fun)}{_called_at()}: the output must be a floating-point "
            f"scalar, got {dtype or type(out).__name__}"
        )


def _as_operand(x):
    return x._var if isinstance(x, Tracer) else Literal(x)


def _identifier(name: str) -> str:
    return codegen.safe_identifier(name.replace("<lambda>", "lambda"), set())


def _leaf_converter(leaf):
    """Gradients come back in the input's type: float for a Python float, arrays for arrays."""
    if isinstance(leaf, float):
        return float
    if isinstance(leaf, np.generic):
        return leaf.dtype.type
    if isinstance(leaf, np.ndarray) and leaf.ndim == 0:
        return np.asarray
    return None


def _as_replayed(spec: Specialization) -> Specialization:
    """``spec`` with the finisher for results replayed on tracers (they stay tracers)."""
    return dataclasses.replace(spec, finish=spec.extra["finish_traced"])


def _grad_finisher(call: _TracedCall, argnums: tuple, argnums_given, with_value, has_aux, aux_tree,
                   convert: bool = True):
    """Build the function turning the generated code's flat outputs into the user's result.

    ``convert``: give each gradient its argument's type (a float for a Python float); off for
    results replayed on tracers of an enclosing trace, which must stay tracers.
    """
    offsets = []  # (start, stop, treedef, converters) per argnum, in flat-output positions
    position = 1 if with_value else 0
    for n in argnums:
        start, stop = call.arg_leaf_ranges[n]
        arg_tree = flatten(_arg(call, n))[1]
        # (for Dask or CuPy arrays a float's gradient stays a 0-d array: float() would compute it)
        converters = [_leaf_converter(leaf) if convert and call.library == "numpy" else None
                      for leaf in call.leaves[start:stop]]
        offsets.append((position, position + (stop - start), arg_tree, converters))
        position += stop - start
    aux_start = position
    single = isinstance(argnums_given, int)

    def argument_gradient(flat, start, stop, tree, converters):
        if tree.kind is None:  # the argument is one array or float
            return flat[start] if converters[0] is None else converters[0](flat[start])
        return unflatten(tree, [g if c is None else c(g) for g, c in zip(flat[start:stop], converters)])

    if not has_aux and not with_value and all(tree.kind is None for _, _, tree, _ in offsets):
        # Every differentiated argument is one array or float: the common case, kept short.
        picks = [(start, converters[0]) for start, _, _, converters in offsets]
        if single:
            start, convert = picks[0]
            return operator.itemgetter(start) if convert is None else lambda flat: convert(flat[start])
        if all(convert is None for _, convert in picks):
            return lambda flat: flat  # the generated code's tuple of gradients is the result
        return lambda flat: tuple([flat[s] if c is None else c(flat[s]) for s, c in picks])

    def finish(flat):
        grads = [argument_gradient(flat, *offset) for offset in offsets]
        grads = grads[0] if single else tuple(grads)
        if has_aux:
            aux = unflatten(aux_tree, flat[aux_start:])
            if with_value:
                return (flat[0], aux), grads
            return grads, aux
        return (flat[0], grads) if with_value else grads

    return finish


def _run_lifted(spec: Specialization, inputs):
    """``spec``'s graph replayed into the enclosing trace, with that trace's values it closed over
    in the places of its lifted inputs. (Never cached: the next trace has other values.)"""
    lifted, given = spec.extra["lifted"], iter(inputs)
    graph_inputs = [lifted[v.id] if v.id in lifted else next(given) for v in spec.graph.inputs]
    return _as_replayed(spec), interpret(spec.graph, graph_inputs)


def _arg(call: _TracedCall, n: int):
    args, _ = unflatten(call.treedef, call.leaves)
    return args[n]


def interpret(graph: Graph, args: Sequence) -> list:
    """Run ``graph`` by binding each node again: on tracers this replays it into their trace."""
    env = {v.id: a for v, a in zip(graph.inputs, args)}

    def read(v):
        return env[v.id] if isinstance(v, Var) else v.value

    for node in graph.nodes:
        values = [read(v) for v in node.inputs]
        if node.primitive.name == "guard":
            _replay_guard(values[0], node.params)
            continue
        out = rebind(node, values)
        if node.out is not None:  # (effects such as np.random.seed have no value)
            env[node.out.id] = out
    return [read(v) for v in graph.outputs]


def _replay_guard(value, params):
    kind, expected = params["kind"], params["expected"]
    convert = {"bool": bool, "int": int, "float": float, "complex": complex, "value": lambda x: x.tolist()}[kind]
    if convert(value) != expected:
        raise GuardFailed(-1)


# ---------------------------------------------------------------------------------------------
# public constructors


def grad(fun: Callable | None = None, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         max_specializations: int = DEFAULT_MAX_SPECIALIZATIONS,
         static_argnums: int | Sequence[int] = (), static_argnames: str | Sequence[str] = (),
         *, argnum: int | Sequence[int] | None = None, holomorphic: bool = False):
    """The gradient of a scalar-valued ``fun`` with respect to argument(s) ``argnums``
    (``argnum``, autograd's name, is accepted too).

    Complex arguments get ``df/dx - i df/dy`` (JAX's and autograd's convention, see
    docs/complex.md): ``td.grad(lambda z: abs(z) ** 2)(1 + 2j)`` is ``(2-4j)``. The output must be
    real; ``holomorphic=True`` differentiates a complex output of complex arguments, giving the
    complex derivative ``f'(z)`` (right only for holomorphic ``fun``).

    Works as ``td.grad(f)``, ``@td.grad`` and ``@td.grad(argnums=(0, 1))``. The gradient is
    generated as NumPy source once per specialization (argument shapes, dtypes, structure, static
    values and control-flow path) and cached; ``td.grad(f)`` made again for the same ``f`` and
    options finds that code. Python floats, ints and bools are runtime values, not keys (an
    iteration number does not retrace; where one decides a shape, trip count or branch, that is a
    guard); ``static_argnums`` / ``static_argnames`` make arguments keys, compared by value.
    Gradients have the structure of their argument. At most ``max_specializations`` are kept
    (least recently used evicted, with a warning).

    >>> import numpy as np, tracediff as td
    >>> def sse(a, b):
    ...     return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2
    >>> td.grad(sse, argnums=(0, 1))(0.0, 0.0)
    (-28.0, -12.0)
    """
    argnums = _autograd_argnum(argnums, argnum, "grad")
    if fun is None:
        return lambda f: grad(f, argnums, has_aux, max_specializations, static_argnums, static_argnames,
                              holomorphic=holomorphic)
    return GradFunction(fun, argnums, has_aux, False, max_specializations, static_argnums, static_argnames,
                        holomorphic)


def value_and_grad(fun: Callable | None = None, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   max_specializations: int = DEFAULT_MAX_SPECIALIZATIONS,
                   static_argnums: int | Sequence[int] = (), static_argnames: str | Sequence[str] = (),
                   *, argnum: int | Sequence[int] | None = None, holomorphic: bool = False):
    """Like :func:`grad`, returning ``(value, gradient)`` from one generated function.

    >>> import numpy as np, tracediff as td
    >>> value, g = td.value_and_grad(lambda x: np.mean(3 * (x + 2) ** 2))(np.ones((2, 2)))
    >>> float(value), g.tolist()
    (27.0, [[4.5, 4.5], [4.5, 4.5]])
    """
    argnums = _autograd_argnum(argnums, argnum, "value_and_grad")
    if fun is None:
        return lambda f: value_and_grad(f, argnums, has_aux, max_specializations, static_argnums, static_argnames,
                                        holomorphic=holomorphic)
    return GradFunction(fun, argnums, has_aux, True, max_specializations, static_argnums, static_argnames,
                        holomorphic)


def _autograd_argnum(argnums, argnum, transform: str):
    """autograd's spelling ``argnum=`` of ``argnums=``; both at once is an error."""
    if argnum is None:
        return argnums
    if argnums != 0:
        raise TypeError(f"td.{transform}: got argnums={argnums!r} and argnum={argnum!r}; pass one "
                        "(argnum is autograd's name for argnums)")
    return argnum


def trace(fun: Callable, *args, **kwargs) -> Graph:
    """Trace ``fun`` on these arguments and return its forward IR graph (``print`` it).

    Floating-point arguments are marked differentiable, so the graph shows what a gradient would see.

    >>> import tracediff as td
    >>> print(td.trace(lambda x: x ** 2 + 1, 1.0))  # doctest: +ELLIPSIS
    graph(v0 x: f64[]):
      v1 = power(v0, 2)  # f64[]...
      v2 = add(v1, 1)  # f64[]...
      return v2
    """
    def floating(leaves):
        return leaves and all(isinstance(x, float) or getattr(getattr(x, "dtype", None), "kind", "") == "f"
                              for x in leaves)

    argnums = tuple(i for i, a in enumerate(args) if floating(flatten(a)[0]))
    call = _TracedCall(fun, args, kwargs, argnums)
    call.finish()
    out_leaves = flatten(call.out)[0]
    return Graph(call.trace.inputs, call.trace.nodes, [_as_operand(o) for o in out_leaves], call.dynamic_names)
