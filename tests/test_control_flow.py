"""Dynamic control flow: guards, retracing, the specialization cache, captured values, randomness."""
import logging
import os
import threading
import warnings

import numpy as np
import pytest

import tracediff as td
from tracediff.cache import RetraceWarning
from tracediff.captures import CapturedGeneratorError
from tracediff.testing import check_grads

THIS_FILE = os.path.basename(__file__)


# --- a corpus of user-style control flow ----------------------------------------------------

def piecewise(x):
    if np.sum(x) > 1.0:
        return np.sum(x ** 3)
    elif np.sum(x) > -1.0:
        return np.sum(np.sin(x))
    return np.sum(np.exp(x))


def babylonian_sqrt(a):
    x = a
    while np.abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


def value_dependent_trip_count(x):
    total = x
    for _ in range(int(np.ceil(np.sum(np.abs(x))))):
        total = np.tanh(total) + x
    return np.sum(total)


def recursive_power(x, n=None):
    n = int(np.sum(x > 0)) + 1 if n is None else n
    return np.sum(x) if n == 1 else np.sum(x) * recursive_power(x, n - 1)


def early_return(x):
    for i in range(len(x)):
        if x[i] < 0:
            return np.sum(x[:i] ** 2)
    return np.sum(x ** 2) / 2


def positive_part(x):
    return np.sum(x[x > 0] ** 2)


def abs_with_if(x):
    return -x if x < 0 else x


CORPUS = [
    # function, inputs in an order that leaves a path and comes back to it, traces expected
    (piecewise, [np.array([1.0, 0.5]), np.array([0.1, -0.2]), np.array([-2.0, -0.5]), np.array([0.9, 0.8])], 3),
    (babylonian_sqrt, [4.0, 100.0, 4.0], 2),  # more Newton steps from further away
    (value_dependent_trip_count, [np.array([0.3, 0.4]), np.array([1.2, 0.9]), np.array([0.2, 0.1])], 2),
    (recursive_power, [np.array([0.5, -1.0]), np.array([0.5, 1.5]), np.array([0.7, -2.0])], 2),
    (early_return, [np.array([1.0, 2.0, -1.0]), np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.3, -2.0])], 2),
    (positive_part, [np.array([1.0, -2.0, 3.0]), np.array([1.0, 2.0, 3.0]), np.array([-0.1, 0.5, 0.2])], 2),
    (abs_with_if, [-1.5, 2.0, -0.5], 2),
]


@pytest.mark.parametrize("fun, inputs, traces", CORPUS, ids=[c[0].__name__ for c in CORPUS])
def test_corpus_matches_finite_differences_and_traces_each_path_once(fun, inputs, traces):
    g = td.grad(fun)
    for x in inputs:
        got = g(x)
        check_grads(fun, x)  # an independent check of the same point
        numeric = td.testing.numerical_vjp(fun, (x,), 0, 1.0)[0]
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-6)
    assert g.cache_info().traces == traces


def test_babylonian_sqrt_gradient_is_exact():
    g = td.grad(babylonian_sqrt)
    for a in (4.0, 9.0, 2.0, 4.0):
        assert g(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)


def test_a_path_seen_before_is_not_traced_again():
    g = td.grad(piecewise)
    up, down = np.array([2.0, 0.0]), np.array([0.1, 0.0])
    for _ in range(5):
        g(up), g(down)
    info = g.cache_info()
    assert (info.traces, info.specializations, info.hits) == (2, 2, 8)


def test_failed_guard_never_returns_the_stale_gradient():
    g = td.grad(abs_with_if)
    assert g(-3.0) == -1.0
    assert g(3.0) == 1.0  # the first specialization's guard fails: never -1.0


# --- Python scalars and static arguments ----------------------------------------------------

def test_changed_python_scalars_do_not_retrace():
    def loss(w, lr, power):
        return lr * np.sum(w ** power)

    g = td.grad(loss)
    w = np.array([1.0, 2.0])
    np.testing.assert_allclose(g(w, 0.1, 2), 0.1 * 2 * w)
    np.testing.assert_allclose(g(w, 0.5, 2), 0.5 * 2 * w)
    np.testing.assert_allclose(g(w, 0.5, 3), 0.5 * 3 * w ** 2)
    assert g.cache_info().traces == 1


def test_unhashable_static_argument_is_a_clear_error():
    g = td.grad(lambda x, options: np.sum(x) * options["scale"][0])
    with pytest.raises(TypeError, match="neither an array nor a hashable"):
        g(np.ones(2), {"scale": {1, 2}})


# --- values captured from globals and closures ----------------------------------------------

SCALE = np.array([1.0, 2.0, 3.0])


def scaled(x):
    return np.sum(SCALE * x ** 2)


def test_rebound_global_is_seen_and_in_place_changes_are_seen():
    global SCALE
    g = td.grad(scaled)
    x = np.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(g(x), [2.0, 4.0, 6.0])
    SCALE[0] = 10.0  # in place
    try:
        np.testing.assert_allclose(g(x), [20.0, 4.0, 6.0])
        assert "'SCALE' was changed in place" in g.explain()
        saved, SCALE = SCALE, np.array([0.5, 0.5, 0.5])  # rebound
        try:
            np.testing.assert_allclose(g(x), [1.0, 1.0, 1.0])
            assert "'SCALE' was rebound" in g.explain()
        finally:
            SCALE = saved
    finally:
        SCALE[0] = 1.0


OFFSET = np.array([1.0, 2.0])


def test_in_place_change_to_an_array_used_before_it_meets_a_traced_value_is_seen():
    def f(x):
        doubled = OFFSET * 2  # plain NumPy at trace time: its value is baked into the code
        return np.sum(doubled * x)

    g = td.grad(f)
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 4.0])
    OFFSET[1] = 5.0
    try:
        np.testing.assert_allclose(g(np.ones(2)), [2.0, 10.0])  # seen: traced again
        assert g.cache_info().traces == 2
    finally:
        OFFSET[1] = 2.0


def test_rebound_closure_variable_is_seen():
    factor = 2.0

    def f(x):
        return factor * np.sum(x ** 2)

    g = td.grad(f)
    assert g(3.0) == 12.0
    factor = 5.0
    assert g(3.0) == 30.0


# --- the specialization limit, explain() and logging ----------------------------------------

def test_limit_warns_once_names_the_line_and_stays_correct():
    def stepwise(x):
        return x * int(x)  # int() of a traced value: a guard on its integer value

    g = td.grad(stepwise, max_specializations=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(8):
            assert g(k + 0.5) == float(k)  # d/dx (x * int(x)) = int(x)
    retrace_warnings = [w for w in caught if issubclass(w.category, RetraceWarning)]
    assert len(retrace_warnings) == 1
    message = str(retrace_warnings[0].message)
    assert f"{THIS_FILE}:" in message and "return x * int(x)" in message
    assert g.cache_info().specializations == 3
    assert g(7.5) == 7.0 and g.cache_info().traces == 8  # the most recent ones are kept


def test_explain_lists_guards_with_user_lines_and_retrace_reasons():
    g = td.grad(piecewise)
    g(np.array([1.0, 0.5]))
    g(np.array([0.1, -0.2]))
    g(np.array([0.1, -0.2]))
    text = g.explain()
    assert "2 specialization(s)" in text
    assert f"{THIS_FILE}:" in text and "if np.sum(x) > 1.0:" in text
    assert "expected True, got False" in text
    assert "ran 2 time(s)" in text


def test_retrace_is_logged_at_info_with_the_failed_guard(caplog):
    g = td.grad(abs_with_if)
    g(1.0)
    with caplog.at_level(logging.INFO, logger="tracediff"):
        g(-1.0)
    record, = [r for r in caplog.records if r.name == "tracediff"]
    assert record.levelno == logging.INFO
    assert f"{THIS_FILE}:" in record.getMessage() and "x < 0" in record.getMessage()


# --- randomness ----------------------------------------------------------------------------

def test_np_random_inside_draws_fresh_noise_matching_plain_numpy():
    def noisy(w):
        return np.sum(w * np.random.normal(size=3))

    g = td.grad(noisy)
    w = np.ones(3)
    np.random.seed(123)
    first, second = g(w), g(w)
    np.random.seed(123)
    np.testing.assert_array_equal(first, np.random.normal(size=3))
    np.testing.assert_array_equal(second, np.random.normal(size=3))
    assert g.cache_info().traces == 1


def test_generator_argument_draws_fresh_noise_each_call():
    def noisy(w, rng):
        return np.sum(w * rng.standard_normal(3))

    g = td.grad(noisy)
    rng, reference = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        np.testing.assert_array_equal(g(np.ones(3), rng), reference.standard_normal(3))
    assert g.cache_info().traces == 1
    assert "rng.standard_normal(3)" in g.source(np.ones(3), rng)


GLOBAL_RNGS = [np.random.default_rng(0)]


def test_generator_reached_through_a_container_is_a_clear_error():
    def noisy(w):
        return np.sum(w * GLOBAL_RNGS[0].normal(size=3))

    with pytest.raises(CapturedGeneratorError, match="'GLOBAL_RNGS\\[0\\]'.*Pass the generator as an argument"):
        td.grad(noisy)(np.ones(3))  # (one held by a global itself draws afresh: test_stale_cache.py)


def test_unseeded_default_rng_inside_is_a_clear_error():
    with pytest.raises(TypeError, match="pass it as an\\s+argument"):
        td.grad(lambda w: np.sum(w * np.random.default_rng().normal(size=2)))(np.ones(2))


def test_differentiable_arguments_to_a_draw_ask_for_reparameterization():
    with pytest.raises(TypeError, match="Reparameterize"):
        td.grad(lambda mu: np.sum(np.random.gumbel(mu, 1.0)))(np.zeros(2))


# --- stopping gradients ---------------------------------------------------------------------

def test_no_grad_block_and_stop_gradient_are_constants_of_the_backward_pass():
    def f(x):
        y1 = x ** 2
        with td.no_grad():
            y2 = x ** 3
        return y1 + y2 + td.stop_gradient(x ** 4) + td.detach(np.sin(x))

    g = td.grad(f)
    assert g(1.0) == 2.0
    assert g(3.0) == 6.0


# --- threads --------------------------------------------------------------------------------

def test_threads_share_a_compiled_gradient_correctly():
    def f(x):
        if x[0] > 0:
            return np.sum(x ** 3)
        return np.sum(-x)

    g = td.grad(f)
    errors = []

    def worker(sign):
        for i in range(100):
            x = sign * (np.arange(3.0) + 1 + i % 3)
            expected = 3 * x ** 2 if sign > 0 else -np.ones(3)
            if not np.allclose(g(x), expected):
                errors.append((sign, i))

    threads = [threading.Thread(target=worker, args=(s,)) for s in (1, -1, 1, -1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert g.cache_info().specializations == 2


GC_STATE = {"collections": 0}


def _count_collections(phase, info):  # a library's gc callback, as some install (hypothesis does)
    global GC_STATE
    if phase == "start":
        GC_STATE = {"collections": GC_STATE["collections"] + 1}  # rebinds a global each time


def test_code_run_by_the_garbage_collector_while_tracing_is_not_watched():
    import gc

    def f(x):
        gc.collect()  # a collection in the middle of the trace runs the callback
        return np.sum(x ** 2)

    gc.callbacks.append(_count_collections)
    try:
        g = td.grad(f)
        for _ in range(3):
            gc.collect()
            np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
        assert g.cache_info().traces == 1  # the callback's global is not a binding of f
    finally:
        gc.callbacks.remove(_count_collections)
