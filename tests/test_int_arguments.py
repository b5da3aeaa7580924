"""Python ints and bools are runtime values; static_argnums makes keys; caches are per function;
retraces say which argument changed."""
import dataclasses
import enum
import warnings

import numpy as np
import pytest

import tracediff as td


def test_an_iteration_number_does_not_retrace_a_training_loop():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)

    def objective(w, i):
        lr_scale = 1.0 / np.sqrt(i + 1)  # the step number enters arithmetic only
        batch = (i % 4) * 5
        rows = np.arange(20) // 5 == i % 4  # a mask from the step: a value, not a path
        r = X @ w - y
        return lr_scale * np.sum(np.where(rows, r, 0.0) ** 2) + 1e-3 * batch * np.sum(w ** 2)

    g = td.grad(objective)
    w = np.zeros(3)
    for i in range(20):
        got = g(w, i)
        rows = np.arange(20) // 5 == i % 4
        r = X @ w - y
        want = 2 / np.sqrt(i + 1) * X.T @ np.where(rows, r, 0.0) + 2e-3 * (i % 4) * 5 * w
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        w = w - 0.05 * got
    assert g.cache_info().traces == 1


def test_ints_stay_weak_under_numpy_promotion():
    g = td.value_and_grad(lambda x, k: np.sum(x * k + k // 2))
    x = np.ones(3, dtype=np.float32)
    value, grad = g(x, 3)
    assert value.dtype == np.float32 and grad.dtype == np.float32  # x32 * 3 stays float32
    np.testing.assert_array_equal(grad, np.full(3, 3, np.float32))
    assert g(x, 5)[1].tolist() == [5.0, 5.0, 5.0] and g.cache_info().traces == 1


def test_an_int_that_decides_a_trip_count_is_a_guard_and_named_when_it_retraces():
    def f(x, n):
        for _ in range(n):
            x = np.sin(x)
        return np.sum(x)

    g = td.grad(f, max_specializations=2)
    x = np.array([0.3, 0.5])
    with pytest.warns(td.RetraceWarning) as caught:
        for n in (1, 2, 3):
            td.testing.check_grads(lambda x: f(x, n), x)
            want = np.cos(x) if n == 1 else None
            got = g(x, n)
            if want is not None:
                np.testing.assert_allclose(got, want)
    message = str(caught[0].message)
    assert caught[0].filename == __file__  # it points at the user's call
    assert "for _ in range(n):" in message and "expected" in message and "(from argument n)" in message
    assert "static_argnums" in message  # the advice fits a Python decision on an int
    assert g(x, 3) is not None and g.cache_info().traces == 3
    assert "(from argument n)" in g.explain()


def test_a_changed_shape_or_static_value_is_named():
    g = td.grad(lambda x, how: np.sum(x) if how == "sum" else np.mean(x), max_specializations=1)
    g(np.ones(2), "sum")
    with pytest.warns(td.RetraceWarning, match=r"x: f64\[2\] -> f64\[3\]"):
        g(np.ones(3), "sum")
    g2 = td.grad(lambda x, how: np.sum(x) if how == "sum" else np.mean(x), max_specializations=1)
    g2(np.ones(2), "sum")
    with pytest.warns(td.RetraceWarning, match="how: 'sum' -> 'mean'") as caught:
        np.testing.assert_allclose(g2(np.ones(2), "mean"), [0.5, 0.5])
    assert "static argument" in str(caught[0].message)
    assert "how='mean'" in g2.explain()  # static values are shown in the signature


def test_static_argnums_and_argnames_make_keys():
    def f(x, n, scale=1.0):
        return np.sum(x ** n) * scale

    x = np.array([1.0, 2.0])
    by_position = td.grad(f, static_argnums=1)
    by_name = td.grad(f, static_argnames="n")
    for g in (by_position, by_name):
        np.testing.assert_allclose(g(x, 2), 2 * x)
        np.testing.assert_allclose(g(x, 3), 3 * x ** 2)
        np.testing.assert_allclose(g(x, n=3), 3 * x ** 2)  # by keyword: the same key
        np.testing.assert_allclose(g(x, 3, 0.5), 1.5 * x ** 2)
        np.testing.assert_allclose(g(x, 3, 0.25), 0.75 * x ** 2)  # scale is a value
        assert g.cache_info().traces == 4  # n=2, n=3, n=3 by keyword, and a third argument
        assert "n=2" in g.explain() and "n: int" not in g.explain()
    source = by_position.source(x, 2)
    assert "_f(x):" in source and "g_x = 2.0 * x" in source  # n is a constant of the code


def test_static_argument_errors_name_the_function_and_the_argument():
    def f(x, options):
        return np.sum(x) * len(options)

    with pytest.raises(ValueError, match="both differentiated"):
        td.grad(f, argnums=1, static_argnums=1)
    with pytest.raises(TypeError, match=r"f: argument 1 \('options'\) is static .* a list cannot be a key"):
        td.grad(f, static_argnums=1)(np.ones(2), [1, 2])
    np.testing.assert_allclose(td.grad(f, static_argnums=1)(np.ones(2), (1, 2)), [2.0, 2.0])


def test_static_argnums_on_a_method_count_after_self():
    class Model:
        def __init__(self):
            self.w = np.array([1.0, -1.0])

        @td.grad(argnums=0, static_argnums=1)
        def loss(self, x, mode):
            return np.sum((x * self.w) ** 2) if mode == "l2" else np.sum(np.abs(x * self.w))

    m = Model()
    np.testing.assert_allclose(m.loss(np.array([1.0, 2.0]), "l2"), [2.0, 4.0])
    np.testing.assert_allclose(m.loss(np.array([1.0, 2.0]), "l1"), [1.0, 1.0])


def test_bools_are_values_whose_branches_are_guards():
    def f(x, training):
        return np.sum(x * 0.5) if training else np.sum(x)

    g = td.grad(f)
    x = np.ones(2)
    assert g(x, True).tolist() == [0.5, 0.5] and g(x, False).tolist() == [1.0, 1.0]
    assert g(x, True).tolist() == [0.5, 0.5] and g.cache_info().traces == 2


class Mode(enum.IntEnum):
    SUM = 0
    MEAN = 1


def test_int_subclasses_and_huge_ints_stay_static():
    def f(x, mode, big):
        base = np.sum(x) if mode is Mode.SUM else np.mean(x)
        return base * (big % 7)

    g = td.grad(f)
    x = np.ones(2)
    assert g(x, Mode.SUM, 2 ** 70).tolist() == [2 ** 70 % 7] * 2
    assert g(x, Mode.MEAN, 2 ** 70).tolist() == [0.5 * (2 ** 70 % 7)] * 2
    assert g.cache_info().traces == 2


def test_a_runtime_int_indexes_without_retracing_and_works_as_a_dict_key():
    table = {0: 1.0, 1: -2.0}

    def f(x, i):
        return x[i] ** 2 * table[i % 2]

    g = td.grad(f)
    x = np.arange(1.0, 5.0)
    for i in range(4):
        want = np.zeros(4)
        want[i] = 2 * x[i] * table[i % 2]
        np.testing.assert_allclose(g(x, i), want)
    assert g.cache_info().traces == 2  # the dict lookup is a decision: one path per key


def test_ints_inside_containers_are_values():
    def f(w, config):
        return np.sum(w ** config["power"]) * config["steps"]

    g = td.grad(f)
    w = np.array([1.0, 2.0])
    assert g(w, {"power": 2, "steps": 3}).tolist() == [6.0, 12.0]
    assert g(w, {"power": 3, "steps": 1}).tolist() == [3.0, 12.0]
    assert g.cache_info().traces == 1
    with pytest.raises(td.NonDifferentiableError, match=r"argument 0\['steps'\], which is a Python int"):
        td.grad(lambda p: np.sum(p["w"]) * p["steps"])({"w": w, "steps": 3})


def test_a_new_grad_of_the_same_function_finds_its_code():
    def loss(w, x):
        return np.sum(np.tanh(x @ w))

    w, x = np.ones(3), np.ones((4, 3))
    traces = []
    for _ in range(5):
        g = td.grad(loss)  # made inside the loop, as people write it
        g(w, x)
        traces.append(g.cache_info().traces)
    assert traces == [1, 0, 0, 0, 0]
    assert td.grad(loss, argnums=1)(w, x).shape == (4, 3)  # other options: other code
    with td.optimizations(disable="all"):
        plain = td.grad(loss)
        plain(w, x)
    assert plain.cache_info().traces == 1  # another optimization setting: other code
    td.clear_caches()
    again = td.grad(loss)
    again(w, x)
    assert again.cache_info().traces == 1


def test_bound_methods_share_per_instance_never_between_equal_instances():
    @dataclasses.dataclass(frozen=True)  # == and hash by value: equal models, different arrays?
    class Scaled:
        scale: float

        def loss(self, w):
            return np.sum(w ** 2) * self.scale

    a, b = Scaled(2.0), Scaled(2.0)
    w = np.ones(2)
    for _ in range(3):
        np.testing.assert_allclose(td.grad(a.loss)(w), [4.0, 4.0])
    assert td.grad(a.loss).cache_info().specializations == 1

    class Model:
        def __init__(self, w):
            self.w = w

        def __eq__(self, other):  # equal to every other model
            return True

        __hash__ = object.__hash__

        def loss(self, x):
            return np.sum(self.w * x)

    m1, m2 = Model(np.array([1.0, 2.0])), Model(np.array([3.0, 4.0]))
    assert td.grad(m1.loss)(np.ones(2)).tolist() == [1.0, 2.0]
    assert td.grad(m2.loss)(np.ones(2)).tolist() == [3.0, 4.0]
    assert td.grad(m1.loss)(np.ones(2)).tolist() == [1.0, 2.0]


def test_printing_a_runtime_int_while_tracing_does_not_fail(capsys):
    def f(x, i):
        print(f"step {i}")
        return np.sum(x) * i

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert td.grad(f)(np.ones(2), 3).tolist() == [3.0, 3.0]
    assert "step" in capsys.readouterr().out


def test_argnum_is_accepted_as_autograds_spelling():
    f = lambda a, b: a * b ** 2  # noqa: E731
    assert td.grad(f, argnum=1)(2.0, 3.0) == 12.0
    assert td.value_and_grad(f, argnum=(0, 1))(2.0, 3.0) == (18.0, (9.0, 12.0))
    with pytest.raises(TypeError, match="argnum is autograd's name"):
        td.grad(f, argnums=1, argnum=0)


def test_captured_data_indexed_by_the_step_keeps_one_trace():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((12, 2)), rng.standard_normal(12)

    def loss(w, i):  # rows picked by the step number, from arrays the function closes over
        rows = (np.arange(3) + 3 * i) % 12
        return np.mean((X[rows] @ w - y[rows]) ** 2)

    def sliced_loss(w, i):
        return np.mean((X[3 * i:3 * i + 3] @ w - y[3 * i:3 * i + 3]) ** 2)

    g, gs = td.grad(loss), td.grad(sliced_loss)
    w = np.array([0.5, -1.0])
    for i in range(4):
        rows = slice(3 * i, 3 * i + 3)
        want = 2 / 3 * X[rows].T @ (X[rows] @ w - y[rows])
        np.testing.assert_allclose(g(w, i), want, rtol=1e-12)
        np.testing.assert_allclose(gs(w, i), want, rtol=1e-12)
    assert g.cache_info().traces == gs.cache_info().traces == 1
    source = gs.source(w, 0)  # the slices stay slices; one guard checks their length
    assert source.count("len(range(12)[") == 1 and source.count("GuardFailed(") == 2  # (+ the comment)


def test_data_in_a_container_indexed_by_the_step_is_guarded_and_the_warning_says_what_to_do():
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((12, 2)), rng.standard_normal(12))  # a tuple: NumPy indexes it

    def loss(w, i):
        X, y = data
        rows = (np.arange(3) + 3 * i) % 12  # a plain array indexed by a traced index: guarded
        return np.mean((X[rows] @ w - y[rows]) ** 2)

    g = td.grad(loss, max_specializations=2)
    w = np.array([0.5, -1.0])
    X, y = data
    with pytest.warns(td.RetraceWarning, match="take the batch outside and pass it as an argument"):
        for i in range(4):
            rows = (np.arange(3) + 3 * i) % 12
            want = 2 / 3 * X[rows].T @ (X[rows] @ w - y[rows])
            np.testing.assert_allclose(g(w, i), want, rtol=1e-12)
    assert "(from argument i)" in g.explain()

    def batch_loss(w, Xb, yb):  # the batch as an argument: one trace for every batch
        return np.mean((Xb @ w - yb) ** 2)

    gb = td.grad(batch_loss)
    for i in range(4):
        rows = (np.arange(3) + 3 * i) % 12
        gb(w, X[rows], y[rows])
    assert gb.cache_info().traces == 1


def test_a_rule_defined_again_is_not_served_from_the_shared_cache():
    cube = td.primitive(lambda x: x ** 3, name="cube_again")
    td.defvjp(cube, lambda g, ans, x: g * 2 * x ** 2)  # wrong, as a first draft in a notebook
    f = lambda x: cube(x)  # noqa: E731
    assert td.grad(f)(2.0) == 8.0
    td.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)  # the cell run again, mended
    assert td.grad(f)(2.0) == 12.0


def test_item_and_tolist_of_python_scalar_arguments():
    # Python scalars stay Python scalars while tracing: .item() and .tolist() still answer, guarded.
    g = td.grad(lambda x, i, s: np.sum(x) * i.item() + np.sum(x) * s.tolist())
    assert g(np.ones(2), 3, 0.5).tolist() == [3.5, 3.5]
    assert g(np.ones(2), 4, 0.5).tolist() == [4.5, 4.5]  # a new value: the guard traces again
    assert g(np.ones(2), 3, 0.5).tolist() == [3.5, 3.5] and g.cache_info().traces == 2


def test_a_list_times_a_runtime_int_is_repeated_as_python_repeats_it():
    # Found writing the long-loop tests: [x, y] * (n // 4 + 2) with n an int argument was NumPy's
    # product of the array the list makes (shape (2, 4) times 5), not the list repeated 5 times.
    def f(x, n):
        w = np.concatenate([x, x[::-1]] * (n // len(x) + 2))
        pairs = np.array((x, 2 * x) * n)
        return np.sum(w ** 2) + np.sum(pairs) + np.sum(n * [x])

    x = np.array([0.1, 0.4, -0.3, 0.8])
    for n in (4, 12):
        repeats = 2 * (n // 4 + 2)
        expected = 2 * x * repeats + 3 * n + n
        np.testing.assert_allclose(td.grad(f)(x, n), expected, rtol=1e-12)
    with pytest.raises(TypeError, match="can't multiply sequence by non-int"):
        td.grad(lambda x, k: np.sum(np.array([x] * k)))(x, 2.0)  # as Python says for a float
