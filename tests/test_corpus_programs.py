"""The corpus of realistic programs (tests/corpus/): for each, tracediff's gradient agrees with
central finite differences along random directions (at step 0, and at a later step run by the
code traced at step 0); a short td.adam run, passing the step number as users do, lowers the loss
with one trace (two for a program that takes two paths); the caller's arrays, arguments and
closure data, are left unchanged; where a gradient was written by hand, tracediff's equals it; and
given float32 arrays, the gradients are float32 and agree with the float64 ones."""
from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import pytest

import tracediff as td
from corpus import PROGRAMS, Program
from tracediff.api import _generator_state, _set_generator_state
from tracediff.pytree import flatten, leaf_paths, unflatten

NAMES = sorted(PROGRAMS)
BUILT = {name: PROGRAMS[name]() for name in NAMES}  # building a program generates its data
TRAINING_STEPS = 20


def keep_type(old, new):
    """A Python float parameter stays a Python float, as the caller wrote it."""
    return float(new) if isinstance(old, float) and not isinstance(old, np.generic) else new


def call(prog: Program, fun, params, i=0):
    """``fun`` on the program's arguments at step ``i``, with its random stream reset, so every
    call of a stochastic objective sees the same draws."""
    if prog.random_state is not None:
        reset_stream(prog.random_state)
    return fun(*prog.args(params, i))


_initial_states = {}  # id(generator) -> its state when a test first used it


def reset_stream(gen):
    _set_generator_state(gen, _initial_states.setdefault(id(gen), copy.deepcopy(_generator_state(gen))))


def assert_unchanged(before, after, what):
    for path, a, b in zip(leaf_paths(before), flatten(before)[0], flatten(after)[0]):
        assert type(a) is type(b) and np.array_equal(a, b), f"{what}{path} was changed by the call"


def inputs(prog: Program) -> tuple:
    """Everything the objective reads that the caller owns: its arguments, and the arrays its
    closure holds (the data of programs written as ``objective(params, i)``)."""
    cells = [c.cell_contents for c in prog.objective.__closure__ or ()]
    return prog.args(prog.params), [c for c in cells if isinstance(c, np.ndarray)]


def assert_same_structure(grads, params):
    assert leaf_paths(grads) == leaf_paths(params)
    for path, g, p in zip(leaf_paths(params), flatten(grads)[0], flatten(params)[0]):
        assert np.shape(g) == np.shape(p), path
        assert isinstance(g, float) if isinstance(p, float) else g.dtype == p.dtype, path


def assert_matches_finite_differences(prog: Program, grads, i: int = 0, directions: int = 3, h: float = 1e-5):
    """The directional derivative along a few random unit directions, from ``grads`` (at step
    ``i``) and from central differences of the objective."""
    rng = np.random.default_rng(0)
    leaves, treedef = flatten(prog.params)
    g_leaves = [np.asarray(g, dtype=np.float64) for g in flatten(grads)[0]]
    scale = max(1.0, abs(float(call(prog, prog.objective, prog.params, i))),
                np.sqrt(sum(np.sum(g ** 2) for g in g_leaves)))
    for _ in range(directions):
        direction = [rng.standard_normal(np.shape(x)) for x in leaves]
        norm = np.sqrt(sum(np.sum(d ** 2) for d in direction))
        direction = [d / norm for d in direction]

        def moved(sign):
            return unflatten(treedef, [keep_type(x, x + sign * h * d) for x, d in zip(leaves, direction)])

        plus, minus = (float(call(prog, prog.objective, moved(sign), i)) for sign in (1, -1))
        numeric = (plus - minus) / (2 * h)
        analytic = sum(float(np.sum(g * d)) for g, d in zip(g_leaves, direction))
        assert abs(analytic - numeric) <= 1e-6 * scale + 1e-5 * abs(numeric), (
            f"directional derivative {analytic!r} vs finite differences {numeric!r}")


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences(name):
    prog = BUILT[name]
    before = copy.deepcopy(inputs(prog))
    grad_fn = td.grad(prog.objective)
    # A later step runs the code traced at step 0 (where the step number is used, it must be
    # its value on that call that counts).
    for i in (0, 7) if prog.takes_step else (0,):
        grads = call(prog, grad_fn, prog.params, i)
        assert_unchanged(before, inputs(prog), "input ")
        assert_same_structure(grads, prog.params)
        assert_matches_finite_differences(prog, grads, i)


def test_the_finite_difference_check_can_fail():
    # A gradient 1% off in one leaf, and one with two leaves swapped, are both caught.
    prog = BUILT["gmm"]
    grads = td.grad(prog.objective)(*prog.args(prog.params))
    off = {**grads, "means": 1.01 * grads["means"]}
    swapped = {**grads, "logits": grads["logits"][::-1]}
    for wrong in (off, swapped):
        with pytest.raises(AssertionError, match="finite differences"):
            assert_matches_finite_differences(prog, wrong)


@pytest.mark.parametrize("name", NAMES)
def test_training_lowers_the_loss_without_retracing(name):
    prog = BUILT[name]
    before = copy.deepcopy(inputs(prog))
    grad_fn = td.grad(prog.objective)
    # A stochastic objective's stream moves on from step to step, as in real training.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", td.RetraceWarning)
        params = td.adam(lambda p, i: grad_fn(*prog.args(p, i)), prog.params, num_iters=TRAINING_STEPS,
                         step_size=prog.step_size)
    retrace_warnings = [w for w in caught if issubclass(w.category, td.RetraceWarning)]
    # past the cache's limit (8) the RetraceWarning must come, and say what to do
    assert bool(retrace_warnings) == (grad_fn.cache_info().traces > 8), [str(w.message) for w in caught]
    assert all("pass it as an argument" in str(w.message) for w in retrace_warnings)
    assert_unchanged(before, inputs(prog), "input ")
    traces = grad_fn.cache_info().traces
    assert traces == prog.max_traces, f"{name}: {traces} traces in {TRAINING_STEPS} steps\n{grad_fn.explain()}"
    assert prog.max_traces == 1 or prog.traces_why, f"{name}: say why it may trace {prog.max_traces} times"
    initial, final = prog.loss(prog.params), prog.loss(params)
    assert np.isfinite(final) and final < initial, f"{name}: loss {initial} -> {final}"


HAND = [name for name in NAMES if BUILT[name].hand_grad is not None]


@pytest.mark.parametrize("name", HAND)
def test_hand_written_gradient_agrees(name):
    prog = BUILT[name]
    grad_fn = td.grad(prog.objective)
    for i in (0, 1):
        expected = call(prog, prog.hand_grad, prog.params, i)
        got = call(prog, grad_fn, prog.params, i)
        for path, a, b in zip(leaf_paths(expected), flatten(got)[0], flatten(expected)[0]):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10 * max(1.0, np.max(np.abs(b))),
                                       err_msg=f"{name}{path} at step {i}")


def test_the_corpus_is_large_enough():
    assert len(PROGRAMS) >= 30
    assert len(HAND) >= 8


def test_the_unchanged_check_sees_the_data_a_closure_holds():
    X = np.ones(3)
    prog = Program(lambda w: np.sum(w * X), np.ones(3))
    before = copy.deepcopy(inputs(prog))
    X[0] = 2.0
    with pytest.raises(AssertionError, match=r"input \[1\]\[0\] was changed"):
        assert_unchanged(before, inputs(prog), "input ")


def as_float32(tree):
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [x.astype(np.float32) if isinstance(x, np.ndarray) and x.dtype == np.float64 else x
                               for x in leaves])


# Programs whose every float array is an argument (none held by a closure) and that draw no random
# numbers: given float32 arrays, they compute in float32 where NumPy does.
FLOAT32 = [name for name in NAMES if BUILT[name].random_state is None and not any(
    x.dtype.kind == "f" for x in inputs(BUILT[name])[1])]


@pytest.mark.parametrize("name", FLOAT32)
def test_float32_programs_get_float32_gradients(name):
    prog = BUILT[name]
    prog32 = dataclasses.replace(prog, params=as_float32(prog.params), data=as_float32(prog.data))
    value, grads = td.value_and_grad(prog.objective)(*prog32.args(prog32.params))
    assert np.result_type(value) == np.result_type(prog.objective(*prog32.args(prog32.params)))  # NumPy's dtype
    assert_same_structure(grads, prog32.params)
    expected = flatten(td.grad(prog.objective)(*prog.args(prog.params)))[0]
    scale = np.sqrt(sum(np.sum(np.square(g)) for g in expected))
    for path, g, e in zip(leaf_paths(grads), flatten(grads)[0], expected):
        assert np.max(np.abs(np.asarray(g, np.float64) - e), initial=0.0) <= 1e-3 * scale, f"{name}{path}"
