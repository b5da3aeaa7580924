"""Indices computed from traced values: slices with computed bounds (``x[i:i + 3]``) stay slices
under a length guard, and arrays read from outside the arguments (globals, closure variables,
defaults, attributes) are indexed by the generated code, so a minibatch picked by the step
number costs one trace. Gradients are checked against finite differences or by hand."""
import threading

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

RNG = np.random.default_rng(7)
DATA = RNG.standard_normal((20, 3))  # a global, indexed by the step number below
TARGETS = RNG.standard_normal(20)


def global_batch_loss(w, i, batch=5):
    rows = slice(i * batch, (i + 1) * batch)
    return np.mean((DATA[rows] @ w - TARGETS[rows]) ** 2)


def by_hand(w, i, batch=5):
    X, y = DATA[i * batch:(i + 1) * batch], TARGETS[i * batch:(i + 1) * batch]
    return 2 / batch * X.T @ (X @ w - y)


def test_a_global_sliced_by_the_step_number_traces_once():
    g, w = td.grad(global_batch_loss), RNG.standard_normal(3)
    for i in range(8):
        np.testing.assert_allclose(g(w, i % 4), by_hand(w, i % 4), rtol=1e-12)
    assert g.cache_info().traces == 1
    assert type(DATA) is np.ndarray  # put back after tracing


@pytest.mark.parametrize("where", ["closure", "default", "attribute", "class attribute"])
def test_arrays_read_from_anywhere_the_function_reaches_are_indexed_by_the_generated_code(where):
    X = RNG.standard_normal((12, 2))

    class Model:
        table = X  # a class attribute

        def __init__(self):
            self.X = X

        def loss(self, w, i):
            source = self.X if where == "attribute" else self.table
            return np.sum(source[i:i + 3] @ w ** 2)

    def closure_loss(w, i):
        return np.sum(X[i:i + 3] @ w ** 2)

    def default_loss(w, i, X=X):
        return np.sum(X[i:i + 3] @ w ** 2)

    f = {"closure": closure_loss, "default": default_loss}.get(where) or Model().loss
    g, w = td.grad(f), np.array([0.5, -2.0])
    for i in range(6):
        np.testing.assert_allclose(g(w, i), 2 * w * X[i:i + 3].sum(axis=0), rtol=1e-12)
    assert g.cache_info().traces == 1
    if where == "closure":
        assert closure_loss.__closure__[0].cell_contents is X  # the original, put back
    if where == "default":
        assert default_loss.__defaults__[0] is X


def test_random_rows_of_captured_data_trace_once_and_match_by_hand():
    X, y = RNG.standard_normal((50, 4)), RNG.standard_normal(50)
    draws = np.random.default_rng(1)

    def loss(w, i):
        rows = draws.integers(0, len(X), size=8)
        return np.mean((X[rows] @ w - y[rows]) ** 2)

    g, w = td.grad(loss), RNG.standard_normal(4)
    replay = np.random.default_rng(1)
    for i in range(10):
        rows = replay.integers(0, len(X), size=8)
        np.testing.assert_allclose(g(w, i), 2 / 8 * X[rows].T @ (X[rows] @ w - y[rows]), rtol=1e-12)
    assert g.cache_info().traces == 1


def test_rows_chosen_through_a_captured_index_table():
    # data[batches[i % n]]: the table of batches is captured too, and indexed by a traced int
    data = RNG.standard_normal((12, 2))
    batches = RNG.permutation(12).reshape(4, 3)

    def loss(w, i):
        return np.sum(np.tanh(data[batches[i % len(batches)]] @ w))

    g, w = td.grad(loss), np.array([0.3, -0.7])
    for i in range(9):
        X = data[batches[i % 4]]
        np.testing.assert_allclose(g(w, i), X.T @ (1 - np.tanh(X @ w) ** 2), rtol=1e-12)
    assert g.cache_info().traces == 1


def test_what_the_function_computes_from_a_captured_array_is_a_plain_array():
    X = np.arange(6.0).reshape(3, 2)
    seen = {}

    def f(w):
        seen["types"] = {type(X * 2), type(np.exp(X)), type(X[0]), type(X.sum(axis=0)), type(np.asarray(X))}
        seen["isinstance"] = isinstance(X, np.ndarray)
        return np.sum(X.T[1] * w)

    np.testing.assert_allclose(td.grad(f)(np.ones(3)), X[:, 1])
    assert seen["types"] == {np.ndarray} and seen["isinstance"]


def test_captured_data_changed_in_place_is_seen_by_the_cached_gradient():
    X = np.arange(8.0)

    def f(w, i):
        return np.sum(X[i:i + 2] * w)

    g = td.grad(f)
    np.testing.assert_allclose(g(np.ones(2), 1), [1.0, 2.0])
    X[1:3] = [10.0, 20.0]  # the user's array, changed between calls
    np.testing.assert_allclose(g(np.ones(2), 1), [10.0, 20.0])


def test_other_threads_see_the_original_behaviour_while_a_function_is_traced():
    X = np.arange(10.0)
    started, release = threading.Event(), threading.Event()
    seen = []

    def f(w, i):
        started.set()
        release.wait(5)
        return np.sum(X[i:i + 2] * w)

    def other():
        started.wait(5)
        seen.append((type(X[np.int64(2)]), X[2:4].tolist(), float(np.sum(X))))
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    np.testing.assert_allclose(td.grad(f)(np.ones(2), 3), [3.0, 4.0])
    thread.join()
    assert seen == [(np.float64, [2.0, 3.0], 45.0)]


# --- slices with computed bounds on traced arrays ---------------------------------------------

@pytest.mark.parametrize("i", [0, 2, -4, 5])
def test_computed_slice_bounds_match_finite_differences_at_first_and_second_order(i):
    def f(x, i):
        return np.sum(np.sin(x[i:i + 3]) * x[..., i + 1:i + 3, None].sum()) + np.sum(x[::2][i // 2:] ** 3)

    x = RNG.standard_normal(8)
    check_grads(lambda x: f(x, i), x, order=2)


def test_a_slice_whose_length_changes_traces_again_and_stays_right():
    def f(x, i):
        return np.sum(x[i:] ** 2)

    g, x = td.grad(f), RNG.standard_normal(6)
    for i in (1, 2, 1, 7, -2):
        want = np.zeros(6)
        want[i:] = 2 * x[i:]
        np.testing.assert_allclose(g(x, i), want)
    assert g.cache_info().traces == 4  # lengths 5, 4, 0 and 2


def test_slices_with_computed_bounds_along_later_axes_and_with_other_index_items():
    x = RNG.standard_normal((4, 6, 5))

    def f(x, i):
        a = x[1, i:i + 2]  # an int, then the computed slice: axis 1
        b = x[..., i:i + 3]  # after an Ellipsis: the last axis
        c = x[[0, 2], :, i - 1:i + 1]  # with an index array
        d = x[x[:, 0, 0] > -10, i:i + 1]  # with a mask (one axis)
        return np.sum(a ** 2) + np.sum(np.cos(b)) + np.sum(c * 3) + np.sum(d ** 3)

    for i in (1, 2):
        check_grads(lambda x: f(x, i), x, order=2)
    g = td.grad(f)
    g(x, 1), g(x, 2)
    assert g.cache_info().traces == 1


def test_writes_through_a_slice_with_computed_bounds():
    def f(x, i):
        y = x.copy()
        view = y[i:i + 2]
        view *= 3.0  # written through to y
        y[i + 2:i + 4] = x[:2] ** 2
        y[i:i + 1] += x[-1]
        return np.sum(y ** 2)

    def by_numpy(x, i):
        y = x.copy()
        y[i:i + 2] *= 3.0
        y[i + 2:i + 4] = x[:2] ** 2
        y[i:i + 1] += x[-1]
        return np.sum(y ** 2)

    g, x = td.grad(f), RNG.standard_normal(8)
    for i in (0, 1, 3):
        assert np.isclose(f(x, i), by_numpy(x, i))
        check_grads(lambda x: f(x, i), x, order=2)
        g(x, i)
    assert g.cache_info().traces == 1


def test_jacobian_and_export_of_computed_slices(tmp_path):
    def f(x, i):
        return np.tanh(x[i:i + 3]) * x[i + 1:i + 4]

    x = RNG.standard_normal(7)
    for i in (0, 2):
        jac = td.jacobian(f)(x, i)
        h = 1e-6
        fd = np.stack([(f(x + h * e, i) - f(x - h * e, i)) / (2 * h) for e in np.eye(7)], axis=1)
        np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-8)
    g = td.grad(lambda x, i: np.sum(f(x, i)))
    path = tmp_path / "sliced.py"
    td.export(g, x, 2, path=path)
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    exported = next(v for k, v in namespace.items() if k.startswith("grad") and callable(v))
    np.testing.assert_allclose(exported(x, 1), g(x, 1))
