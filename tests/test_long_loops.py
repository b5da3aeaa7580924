"""Long loops (long_loops.py): the gradient of a loop of many like iterations is built from copies
of the trace with a few of them, and its integers moved on to the real count. Each gradient here
is checked against the one built from the whole trace (the same numbers, to the last bit) and
against finite differences or a gradient written by hand."""
import numpy as np
import pytest

import tracediff as td
from tracediff.bench_loops import _rk4, _spring, _spring_hand
from tracediff.long_loops import moved_on
from tracediff.testing import check_grads

P = np.array([2.0, 0.3])
DATA = np.cos(np.arange(240.0)).reshape(80, 3)
FORCES = np.sin(np.arange(800.0)).reshape(400, 2)


spring = _spring(np)  # the benchmark's damped spring: three small updates per step


def spring_by_hand(params, n):
    return _spring_hand(params, n)[0]


def rnn(W, h0):
    """Rows of a global array read with the counter, a carried state and a summed loss."""
    h, loss = h0, 0.0
    for t in range(len(DATA)):
        h = np.tanh(W @ h + DATA[t])
        loss = loss + np.sum((h - DATA[t]) ** 2)
    return loss


rk4 = _rk4(np)  # the benchmark's neural ODE (Runge-Kutta 4 steps of dy/dt = tanh(A y))


def whole(fun, *args, argnums=0, kind=td.grad, **options):
    """The gradient built from every iteration of the trace."""
    with td.optimizations(disable="long_loops"):
        return kind(fun, argnums=argnums, **options)(*args)


def built_from_few(g, *args) -> bool:
    return "long loops" in g._spec_for(args, {}).extra


def test_the_spring_is_built_from_a_few_iterations_and_matches_the_hand_gradient():
    g = td.grad(spring)
    for n in (100, 333, 2000):
        got = g(P, n)
        np.testing.assert_allclose(got, spring_by_hand(P, n), rtol=1e-12, atol=1e-15)
        assert np.array_equal(got, whole(spring, P, n))
        assert built_from_few(g, P, n)
    # the trip count is a guard: each count is its own specialization, one trace each
    assert g.cache_info().traces == 3
    assert len(g.source(P, 2000).splitlines()) == len(g.source(P, 100).splitlines())
    assert "range(1998)" in g.source(P, 2000)
    assert "built from 8 to 10 iterations of each long loop" in g.explain()
    assert "2,000 iterations of" in g.explain()


def test_rows_of_data_read_with_the_counter():
    W, h0 = np.eye(3) * 0.4 + 0.05, np.array([0.1, -0.2, 0.3])
    g = td.grad(rnn, argnums=(0, 1))
    gW, gh = g(W, h0)
    wW, wh = whole(rnn, W, h0, argnums=(0, 1))
    assert np.array_equal(gW, wW) and np.array_equal(gh, wh)
    assert built_from_few(g, W, h0)
    assert "DATA[i" in g.source(W, h0)
    check_grads(rnn, W, h0, argnums=(0, 1))


def test_rk4_to_second_order():
    A, y0 = np.array([[0.3, -0.5], [0.4, 0.2]]), np.array([0.5, -1.0])
    assert np.array_equal(td.grad(rk4)(A, y0, 50), whole(rk4, A, y0, 50))
    assert built_from_few(td.grad(rk4), A, y0, 50)
    # higher order replays the inner gradient's graph: every iteration of it
    check_grads(lambda A: rk4(A, y0, 50), A, order=2)


def test_the_values_of_the_first_and_last_iterations_may_be_returned():
    def trajectory(params, n):
        k = params[0]
        x, states = np.array([1.0, -0.5]), []
        for _ in range(n):
            x = x - 0.05 * k * np.sin(x)
            states.append(x)
        return np.sum(states[-1] ** 2) + np.sum(states[0]), (states[0], states[-2], states[-1])

    g = td.value_and_grad(trajectory, has_aux=True)
    (value, aux), grad = g(P, 200)
    (w_value, w_aux), w_grad = whole(trajectory, P, 200, kind=td.value_and_grad, has_aux=True)
    assert value == w_value and np.array_equal(grad, w_grad)
    assert all(np.array_equal(a, b) for a, b in zip(aux, w_aux))
    assert built_from_few(g, P, 200)
    check_grads(lambda p: trajectory(p, 200)[0], P)


def test_a_middle_iteration_read_after_the_loop_gets_the_whole_build():
    def halfway(params, n):
        x, states = np.array([1.0, -0.5]), []
        for _ in range(n):
            x = x - 0.05 * params[0] * np.sin(x)
            states.append(x)
        return np.sum(states[n // 2] * states[-1])

    g = td.grad(halfway)
    np.testing.assert_array_equal(g(P, 200), whole(halfway, P, 200))
    assert not built_from_few(g, P, 200)
    check_grads(lambda p: halfway(p, 200), P)


def test_three_long_loops_each_move_their_own_counts():
    def three_phases(w, n):
        x = np.array([0.2, 0.4])
        for _ in range(n):
            x = np.tanh(w * x + 0.1)
        y = x
        for t in range(2 * n):
            y = 0.9 * np.sin(y) + 0.1 * w * FORCES[t]
        z = y
        for _ in range(n + 7):
            z = z * 0.97 + np.sin(z) * 0.01
        return np.sum(z ** 2)

    w = np.array([0.8, -0.6])
    g = td.grad(three_phases)
    assert np.array_equal(g(w, 200), whole(three_phases, w, 200))
    assert built_from_few(g, w, 200)
    assert len(g.source(w, 200)) < 2 * len(g.source(w, 20))
    check_grads(lambda w: three_phases(w, 200), w)


def test_a_loop_reading_an_earlier_loops_states_with_the_counter():
    def two_phases(w, n):
        x, xs = np.array([0.2, 0.4]), []
        for _ in range(n):
            x = np.tanh(w * x + 0.1)
            xs.append(x)
        y = x
        for t in range(n):  # reads the first loop's states: that loop is built whole
            y = 0.9 * y + 0.1 * xs[t] * w
        return np.sum(y ** 2)

    w = np.array([0.8, -0.6])
    assert np.array_equal(td.grad(two_phases)(w, 60), whole(two_phases, w, 60))
    check_grads(lambda w: two_phases(w, 60), w)


def test_a_guard_in_the_body_that_fails_midway_traces_again():
    def clipped(x, n):
        for _ in range(n):
            if x[0] > 0.9:
                x = x * 0.5
            else:
                x = x * 1.01 + 0.002 * np.sin(x)  # (x * 1.01 alone: the passes fold 1.01 ** n)
        return np.sum(x ** 2)

    g = td.grad(clipped)
    x = np.array([0.1, 0.2])
    assert np.array_equal(g(x, 100), whole(clipped, x, 100))
    assert built_from_few(g, x, 100)
    y = np.array([0.6, 0.2])  # x[0] passes 0.9 after about 40 steps: the body's guard fails there
    assert np.array_equal(g(y, 100), whole(clipped, y, 100))
    assert g.cache_info().traces == 2
    check_grads(lambda y: clipped(y, 100), y)


def test_a_convergence_loop_stops_where_the_data_says():
    def fixed_point(a, tol):
        x, steps = np.ones(2), 0
        while np.max(np.abs(x - np.cos(a * x))) > tol and steps < 500:
            x = np.cos(a * x)
            steps += 1
        return np.sum(x)

    g = td.grad(fixed_point)
    for a in (np.array([0.5, 0.7]), np.array([0.3, 0.9])):
        assert np.array_equal(g(a, 1e-9), whole(fixed_point, a, 1e-9))
        check_grads(lambda a: fixed_point(a, 1e-9), a, rtol=1e-4)


def test_random_draws_in_a_long_loop_are_the_plain_functions_draws():
    def noisy(x, rng, n):
        for _ in range(n):
            x = np.tanh(x + 0.1 * rng.standard_normal(x.shape))
        return np.sum(x ** 2)

    x = np.array([0.3, -0.2, 0.5])
    got = td.grad(noisy)(x, np.random.default_rng(7), 64)
    assert np.array_equal(got, whole(noisy, x, np.random.default_rng(7), 64))
    rng = np.random.default_rng(7)
    check_grads(lambda x: noisy(x, np.random.default_rng(7), 64), x)
    assert np.array_equal(td.grad(noisy)(x, rng, 64), got)


def test_nested_loops_and_a_float_argument_in_the_body():
    def nested(w, dt):
        x = np.array([1.0, 0.0])
        for _ in range(3):
            for _ in range(40):
                x = x + dt * np.array([x[1], -w[0] * x[0]]) * 1.0
            x = x * 0.99
        return np.sum(x ** 2)

    w = np.array([4.0])
    assert np.array_equal(td.grad(nested)(w, 0.01), whole(nested, w, 0.01))
    check_grads(lambda w: nested(w, 0.01), w, order=2)


def test_ir_and_higher_order_see_every_iteration():
    g = td.grad(spring)
    g(P, 80)
    assert built_from_few(g, P, 80)
    assert len(g.ir(P, 80).nodes) > 80 * 7  # the whole graph, not the few iterations built
    assert g.cache_info().traces == 1
    H = td.hessian(lambda p: spring(p, 50))(P)
    check_grads(lambda p: spring(p, 50), P, order=2)
    assert H.shape == (2, 2) and np.allclose(H, H.T)


def test_float32_and_the_switch():
    x = np.array([0.5, -0.25], dtype=np.float32)

    def decay(x, n):
        for _ in range(n):
            x = x * np.float32(0.99) + np.sin(x) * np.float32(0.01)
        return np.sum(x ** 2)

    got = td.grad(decay)(x, 64)
    assert got.dtype == np.float32 and np.array_equal(got, whole(decay, x, 64))
    with td.optimizations(disable="long_loops"):
        assert not built_from_few(td.grad(decay), x, 64)
    with td.optimizations(long_loop_at=1000):
        assert not built_from_few(td.grad(decay), x, 64)


def test_moved_on_refuses_what_does_not_move_by_a_fixed_step():
    assert moved_on(["x[4]", "x[5]", "x[6]"], [10]) == "x[14]"
    assert moved_on(["x[4] + y[2]", "x[5] + y[2]", "x[6] + y[2]"], [10]) == "x[14] + y[2]"
    assert moved_on(["x[4]", "x[5]", "x[7]"], [10]) is None  # not affine
    assert moved_on(["t4", "t5", "t6"], [10]) is None  # names never move
    assert moved_on(["0.5", "0.6", "0.7"], [10]) is None  # nor do floats
    assert moved_on(["x[2]", "x[1]", "x[0]"], [10]) is None  # it would be negative
    assert moved_on(["f(a)", "f(a, b)", "f(a, b, c)"], [10]) is None
    # two runs: the first count moves the first integer, the second both
    assert moved_on(["a[3] + b[5]", "a[4] + b[6]", "a[5] + b[7]", "a[3] + b[6]", "a[3] + b[7]"],
                    [100, 10]) == "a[103] + b[115]"


@pytest.mark.parametrize("n", [40, 41, 97])
def test_counts_near_and_above_the_threshold(n):
    got = td.grad(spring)(P, n)
    np.testing.assert_allclose(got, spring_by_hand(P, n), rtol=1e-12, atol=1e-15)
    assert np.array_equal(got, whole(spring, P, n))


def _every_other(x, n):  # an index that alternates: two iterations make one rolled block
    y = x * 1.0
    for t in range(n):
        y = np.sin(y) * 0.9 + x[t % 2] * 0.1
    return np.sum(y ** 2)


def _special_ends(x, n):  # the first and the last three steps differ (Python branches on t)
    y = x * 1.0
    for t in range(n):
        if t == 0:
            y = y * 2.0
        elif t >= n - 3:
            y = np.cos(y) + y
        else:
            y = np.tanh(y) + 0.1 * x
    return np.sum(y ** 3)


def _windows(x, n):  # slices of an argument moving forwards and backwards with the counter
    w = np.concatenate([x, x[::-1]] * (n // len(x) + 2))
    y = x[:2] * 1.0
    for t in range(n):
        y = np.tanh(y) * 0.8 + w[t:t + 2] * 0.1 + w[n + 1 - t:n + 3 - t] * 0.05
    return np.sum(y ** 2)


def _running_max_and_invariant(x, n):  # a loop-invariant value (computed once) and a running max
    m, y = x * 0.0, x * 1.0
    for _ in range(n):
        c = np.sin(x)  # the same operation on the same operand: merged as it is recorded
        y = y * 0.95 + 0.05 * c * np.cos(y)
        m = np.maximum(m, y)
    return np.sum(m * y)


def _matrix_state(A, n):  # a matrix carried through matrix products
    S = np.eye(A.shape[0])
    for _ in range(n):
        S = S + 0.01 * (A @ S - S @ A.T) + 0.001 * np.tanh(S)
    return np.sum(S ** 2)


@pytest.mark.parametrize("f, x", [
    (_every_other, np.array([0.3, -0.7])),
    (_special_ends, np.array([0.2, 0.5, -0.4])),
    (_windows, np.array([0.1, 0.4, -0.3, 0.8])),
    (_running_max_and_invariant, np.array([0.5, -1.2, 0.9])),
    (_matrix_state, np.array([[0.1, -0.4], [0.3, 0.2]])),
])
@pytest.mark.parametrize("n", [12, 40])
def test_loop_shapes_built_from_a_few_iterations_give_the_whole_builds_bits(f, x, n):
    """With long_loop_at lowered, loops of 7 or more iterations are built from a few; every one of
    these must give the whole build's gradient exactly, and agree with finite differences."""
    with td.optimizations(roll_at=2, long_loop_at=2):
        few = td.grad(f)(x, n)
    with td.optimizations(roll_at=2, disable="long_loops"):
        assert np.array_equal(few, td.grad(f)(x, n))
    few = td.grad(f)(x, n)  # and with the default thresholds
    with td.optimizations(disable="long_loops"):
        assert np.array_equal(few, td.grad(f)(x, n))
    check_grads(lambda x: f(x, n), x)


def test_an_exported_gradient_built_from_a_few_iterations_runs(tmp_path):
    import importlib.util

    g = td.grad(spring)
    path = td.export(g, P, 500, path=tmp_path / "spring_500.py")
    assert built_from_few(g, P, 500)
    assert "range(498)" in (tmp_path / "spring_500.py").read_text()
    spec = importlib.util.spec_from_file_location("spring_500", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = next(getattr(module, name) for name in dir(module) if name.startswith("grad_"))
    np.testing.assert_array_equal(exported(P, 500), g(P, 500))
    np.testing.assert_allclose(exported(P, 500), spring_by_hand(P, 500), rtol=1e-12, atol=1e-15)
