"""Loop rolling (rolling.py, codegen.py): iterations of the user's loops that did the same thing are
written as one Python ``for`` loop, in the forward and the backward pass, so the generated source
does not grow with the trip count; the results are those of the unrolled code, to the last bit."""
import importlib.util
import re

import numpy as np
import pytest

import tracediff as td
from tracediff import api, rolling
from tracediff.ir import Var


def simulate(params, n):
    k, c = params[0], params[1]
    x = np.array([1.0, 0.5, -0.3])
    v = np.zeros(3)
    dt = 0.01
    for _ in range(n):
        a = -k * x - c * v
        v = v + dt * a
        x = x + dt * v
    return np.sum(x ** 2)


def damped(x, n):
    for _ in range(n):
        x = np.sin(x) * 0.9 + 0.05 * x ** 2
    return np.sum(x ** 3)


def clipped(x, n):
    """A branch inside the loop: its guard runs in every iteration of the rolled loop."""
    for _ in range(n):
        if x[0] > 0.9:
            x = x * 0.5
        else:
            x = x * 1.1 + 0.01
    return np.sum(x ** 2)


def noisy(x, rng, n):
    for _ in range(n):
        x = np.tanh(x + 0.1 * rng.standard_normal(x.shape))
    return np.sum(x ** 2)


def unrolled(fun, *args, argnums=0, kind=td.grad):
    with td.optimizations(disable="roll_loops"):
        return kind(fun, argnums=argnums)(*args)


def for_loops(source: str) -> int:
    return len(re.findall(r"^\s*for \w+ in range\(\d+\):", source, flags=re.M))


P = np.array([2.0, 0.1])


def test_the_spring_simulation_is_one_loop_forward_and_backward():
    g = td.grad(simulate)
    source = g.source(P, 100)
    assert for_loops(source) == 2, source
    assert "iterations of test_loop_rolling.py:" in source and "iterations of grad of" in source
    assert len(g.source(P, 1000).splitlines()) <= 1.5 * len(source.splitlines())
    for n in (5, 37, 100):
        np.testing.assert_allclose(g(P, n), unrolled(simulate, P, n), rtol=1e-12, atol=0)


def test_rolled_gradients_match_finite_differences_to_second_order():
    td.testing.check_grads(lambda p: simulate(p, 30), P, order=2)
    x = np.array([0.3, -0.2, 0.7])
    td.testing.check_grads(lambda y: damped(y, 12), x, order=2)


def test_the_trip_count_may_change_between_calls():
    g = td.grad(damped)
    x = np.array([0.3, -0.2, 0.7])
    for n in (6, 20, 6, 9, 4, 1, 0):
        np.testing.assert_allclose(g(x, n), unrolled(damped, x, n), rtol=1e-12, atol=0)


def test_a_guard_in_the_body_fails_midway_and_the_function_is_traced_again():
    g = td.grad(clipped)
    x = np.array([0.5, 0.2])
    expected = unrolled(clipped, x, 12)
    np.testing.assert_allclose(g(x, 12), expected, rtol=1e-12, atol=0)
    assert for_loops(g.source(x, 12)) >= 1
    # From 0.8 the branch flips after two steps: the cached code's guard fails inside its loop.
    y = np.array([0.8, 0.2])
    np.testing.assert_allclose(g(y, 12), unrolled(clipped, y, 12), rtol=1e-12, atol=0)
    assert g.cache_info().misses == 2
    np.testing.assert_allclose(g(x, 12), expected, rtol=1e-12, atol=0)


def test_random_draws_in_the_body_are_the_plain_functions_draws():
    x = np.array([0.1, -0.4, 0.3])
    g = td.value_and_grad(noisy)
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(3):  # the second call runs the cached code, which must draw in the same order
        value, _ = g(x, rng, 10)
        assert value == noisy(x, twin, 10)
    assert rng.random() == twin.random()
    assert for_loops(g.source(x, np.random.default_rng(5), 10)) >= 1
    grad = td.grad(noisy)(x, np.random.default_rng(7), 10)
    np.testing.assert_array_equal(grad, unrolled(noisy, x, np.random.default_rng(7), 10))


def test_hessian_and_jacobian_of_a_looped_function():
    h = td.hessian(lambda p: simulate(p, 40))(P)
    with td.optimizations(disable="roll_loops"):
        h_plain = td.hessian(lambda p: simulate(p, 40))(P)
    np.testing.assert_allclose(h, h_plain, rtol=1e-10, atol=1e-14)

    def trajectory(x):
        for _ in range(8):
            x = np.cos(x) * 0.5 + x * 0.3
        return x

    x = np.array([0.2, 0.4, -0.1])
    jac = td.jacobian(trajectory)(x)
    with td.optimizations(disable="roll_loops"):
        jac_plain = td.jacobian(trajectory)(x)
    np.testing.assert_allclose(jac, jac_plain, rtol=1e-12, atol=0)
    td.testing.check_grads(lambda y: np.sum(trajectory(y) ** 2), x, order=2)


def test_an_exported_rolled_gradient_runs(tmp_path):
    g = td.grad(simulate)
    path = td.export(g, P, 50, path=tmp_path / "spring.py")
    text = (tmp_path / "spring.py").read_text()
    assert for_loops(text) == 2
    spec = importlib.util.spec_from_file_location("spring_exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    np.testing.assert_allclose(module.grad_simulate(P, 50), g(P, 50), rtol=1e-12, atol=0)


def vjp_source(f, *primals) -> str:
    compiled = api.compiled_per_function(api._vjp_cache, f, api._VJPFunction, len(primals))
    return compiled._call(primals, {})[0].module.source


@pytest.mark.parametrize("n", [10, 60])
def test_vjp_of_a_looped_function_rolls_forward_and_backward(n):
    x = np.array([0.3, -0.2, 0.7])
    f = lambda y: np.sin(damped(y, n)) * y  # noqa: E731
    out, pullback = td.vjp(f, x)
    ct = np.array([1.0, -2.0, 0.5])
    with td.optimizations(disable="roll_loops"):
        out_plain, pullback_plain = td.vjp(f, x)
    np.testing.assert_array_equal(out, out_plain)
    np.testing.assert_array_equal(pullback(ct), pullback_plain(ct))
    np.testing.assert_allclose(pullback(ct)[0], td.grad(lambda y: np.sum(f(y) * ct))(x), rtol=1e-12)
    source = vjp_source(f, x)
    backward = source[source.index("def backward"):]
    # the residuals reach the backward function as one tuple, read with the loop's counter
    assert for_loops(backward) >= 1 and re.search(r"residuals\[-?\d* ?\*? ?i", backward), backward
    assert len(source.splitlines()) < 150, source


def test_short_loops_stay_unrolled_and_the_switch_turns_rolling_off():
    x = np.array([0.3, -0.2, 0.7])
    assert for_loops(td.grad(damped).source(x, 3)) == 0
    with td.optimizations(disable="roll_loops"):
        assert for_loops(td.grad(damped).source(x, 50)) == 0
    assert for_loops(td.grad(damped).source(x, 50)) >= 1


def test_a_value_read_two_iterations_later_gives_the_unrolled_gradient():
    """b[t] = f(b[t-1], b[t-2]): one iteration's block reads two blocks back, which no class
    allows; the detector takes two iterations as its block, or leaves the loop unrolled."""
    def fib(x, n):
        a, b = x, x * 0.5
        for _ in range(n):
            a, b = b, np.sin(a) + b * 0.5
        return np.sum(b ** 2)

    x = np.array([0.3, -0.2])
    np.testing.assert_allclose(td.grad(fib)(x, 20), unrolled(fib, x, 20), rtol=1e-12, atol=0)
    td.testing.check_grads(lambda y: fib(y, 20), x, order=1)


def test_roll_finds_the_period_and_the_classes_of_operands():
    g = td.grad(damped)
    graph = g.ir(np.array([0.3, -0.2]), 10)
    entries, in_loop = rolling.roll(graph.nodes)
    loops = [e for e in entries if isinstance(e, rolling.Loop)]
    assert loops and all(loop.count >= rolling.MIN_BLOCKS for loop in loops)
    kinds = {cls[0] for loop in loops for row in loop.classes for cls in row}
    assert {"carry", "int", "inv"} <= kinds and "iter" in kinds  # the backward loop reads the forward one
    for var_id, (loop, t, q) in in_loop.items():
        assert 0 <= t < loop.count and 0 <= q < loop.period
    assert all(isinstance(v, Var) or v is not None for loop in loops for v in loop.inits.values())


def rnn(W, U, xs, h0):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h ** 2)


def test_an_rnn_over_a_sequence_rolls_with_its_index_written_by_the_counter():
    rng = np.random.default_rng(0)
    W, U, h0 = rng.standard_normal((4, 4)) * 0.3, rng.standard_normal((4, 3)), np.zeros(4)
    xs = rng.standard_normal((20, 3))
    g = td.grad(rnn, argnums=(0, 1, 2))
    source = g.source(W, U, xs, h0)
    assert for_loops(source) == 2, source
    assert re.search(r"xs\[i\]", source) and re.search(r"\[\d+ - i_2\] = ", source), source
    for got, want in zip(g(W, U, xs, h0), unrolled(rnn, W, U, xs, h0, argnums=(0, 1, 2))):
        np.testing.assert_array_equal(got, want)
    long = rng.standard_normal((200, 3))
    assert len(g.source(W, U, long, h0).splitlines()) == len(source.splitlines())
    td.testing.check_grads(lambda w, u, x: rnn(w, u, x, h0), W, U, xs[:6], argnums=(0, 1, 2), order=2)


def test_an_index_that_does_not_move_by_a_fixed_step_is_not_rolled_wrongly():
    order = [0, 1, 3, 2, 5, 4, 6, 7, 9, 8]

    def shuffled(xs, w):
        h = np.zeros(2)
        for t in order:
            h = np.sin(h * w + xs[t])
        for t in range(0, 10, 2):  # a step of 2
            h = np.cos(h + xs[t] * w)
        return np.sum(h ** 2)

    xs, w = np.linspace(-1, 1, 20).reshape(10, 2), np.array([0.7, -0.4])
    for argnums in (0, 1):
        np.testing.assert_array_equal(td.grad(shuffled, argnums=argnums)(xs, w),
                                      unrolled(shuffled, xs, w, argnums=argnums))
    td.testing.check_grads(shuffled, xs, w, argnums=(0, 1), order=1)


def test_an_index_moving_by_two_is_written_with_the_counter():
    def stepped(xs, w):
        h = np.zeros(2)
        for t in range(1, 20, 2):
            h = np.cos(h + xs[t] * w)
        return np.sum(h ** 2)

    xs, w = np.linspace(-1, 1, 40).reshape(20, 2), np.array([0.7, -0.4])
    g = td.grad(stepped, argnums=(0, 1))
    assert "xs[2 * i + 3]" in g.source(xs, w)
    for got, want in zip(g(xs, w), unrolled(stepped, xs, w, argnums=(0, 1))):
        np.testing.assert_array_equal(got, want)


def moving_window(w, xs):
    h = np.zeros(2)
    for t in range(30):
        h = np.tanh(w * h + xs[t:t + 2] + xs[t + 3:t + 1:-1] * 0.5 + np.sum(xs[-t - 3:-t - 1]))
    return np.sum(h ** 2)


def test_a_slice_moving_with_the_counter_is_written_with_it():
    xs, w = np.sin(np.arange(40.0)), np.array([0.5, -0.3])
    g = td.grad(moving_window, argnums=(0, 1))
    source = g.source(w, xs)
    assert for_loops(source) == 2 and "xs[i:i + 2]" in source and "xs[i + 3:i + 1:-1]" in source, source
    assert "xs[-i - 3:-i - 1]" in source or "xs[-3 - i:-1 - i]" in source, source  # (-2:0 is empty: unrolled)
    for got, want in zip(g(w, xs), unrolled(moving_window, w, xs, argnums=(0, 1))):
        np.testing.assert_array_equal(got, want)
    td.testing.check_grads(moving_window, w, xs, argnums=(0, 1), order=2)


OBSERVED = np.sin(np.arange(60.0).reshape(20, 3))  # data read from outside, row by row (an array of its own)
GRID = np.arange(60.0).reshape(20, 3) / 60  # rows of a view: its rows' base is the 60-element array
SCALE = np.linspace(1.0, 2.0, 40)  # a 1-D array read element by element


def fit_to_observed(k):
    x, loss = np.array([1.0, 0.5, -0.3]), 0.0
    for t in range(20):
        x = x + 0.1 * np.tanh(k * x)
        loss = loss + np.sum((x - OBSERVED[t]) ** 2) + 0.1 * np.sum(OBSERVED[19 - t] * x)
    return loss


def fit_to_grid(k):
    x, loss = np.array([1.0, 0.5, -0.3]), 0.0
    for t in range(20):
        x = x + 0.1 * np.tanh(k * x) * SCALE[t]
        loss = loss + np.sum((x - GRID[t]) ** 2)
    return loss


@pytest.mark.parametrize("f, data, written", [
    # (OBSERVED[t] forward; OBSERVED[19 - t], t = 18 - i_2, backward), under the user's name
    (fit_to_observed, OBSERVED, ["OBSERVED[i]", "OBSERVED[i_2 + 1]"]),
    # (SCALE[0] is 1: x * 1 is x in the first iteration, which stays out of the loop)
    (fit_to_grid, GRID, ["GRID[i + 1]", "SCALE[i + 1]"]),
], ids=["rows", "rows of a view, elements"])
def test_rows_of_data_read_with_the_counter_are_written_with_it(f, data, written):
    g = td.grad(f)
    source = g.source(0.7)
    assert for_loops(source) == 2 and all(w in source for w in written), source
    np.testing.assert_array_equal(g(0.7), unrolled(f, 0.7))
    data[3, 1] += 1.0  # by reference, as every array read from outside (a view's memory is the user's)
    try:
        np.testing.assert_array_equal(g(0.7), unrolled(f, 0.7))
    finally:
        data[3, 1] -= 1.0
    td.testing.check_grads(f, 0.7, order=2)


def test_values_named_like_the_loop_header_do_not_shadow_it():
    def named(x):
        for i in range(6):
            range_ = x  # noqa: F841
            i = np.sin(x) * 0.5  # noqa: PLW2901
            x = i + x * 0.1
        return np.sum(x ** 2)

    def shadowing(x):
        for _ in (0,) * 6:  # (range is a local name here)
            range = np.sin(x) * 0.5  # noqa: A001
            x = range + x * 0.1
        return np.sum(x ** 2)

    x = np.array([0.2, -0.3])
    for f in (named, shadowing):
        g = td.grad(f)
        assert for_loops(g.source(x)) >= 1
        np.testing.assert_array_equal(g(x), unrolled(f, x))


def test_a_loop_of_checkpointed_steps_rolls_and_recomputes_in_the_backward_loop():
    step = td.checkpoint(lambda x: np.sin(x) * 0.9 + 0.05 * x ** 2)

    def chain(x, n):
        for _ in range(n):
            x = step(x)
        return np.sum(x ** 3)

    x = np.linspace(-1, 1, 5)
    g = td.grad(chain)
    np.testing.assert_array_equal(g(x, 12), unrolled(chain, x, 12))
    assert for_loops(g.source(x, 12)) >= 2
    td.testing.check_grads(lambda x: chain(x, 12), x, order=2)


def test_an_array_built_from_every_step_reads_the_saved_list_starred():
    def trajectory_loss(x, n):
        states = []
        for _ in range(n):
            x = np.sin(x) * 0.9 + 0.1
            states.append(x)
        return np.sum(np.array(states) ** 2) + np.sum(np.array(states[5:15]) ** 3)

    g, x = td.grad(trajectory_loss), np.linspace(-1, 1, 3)
    np.testing.assert_array_equal(g(x, 40), unrolled(trajectory_loss, x, 40))
    source = g.source(x, 40)
    assert re.search(r"\*\w+_steps\[0:\d+\]", source) and re.search(r"\*\w+_steps\[5:15\]", source), source
    assert len(source.splitlines()) < 80
    td.testing.check_grads(lambda x: trajectory_loss(x, 40), x, order=2)


def test_small_constants_made_again_in_each_iteration_do_not_stop_rolling():
    def f(x, n):
        for _ in range(n):
            x = np.tanh(x + np.ones(3) * 0.1) * np.array([1.0, 0.5, 2.0])
        return np.sum(x)

    g, x = td.grad(f), np.linspace(-1, 1, 3)
    np.testing.assert_array_equal(g(x, 30), unrolled(f, x, 30))
    source = g.source(x, 30)
    assert for_loops(source) == 2 and len(source.splitlines()) < 60
    td.testing.check_grads(lambda x: f(x, 30), x, order=2)
