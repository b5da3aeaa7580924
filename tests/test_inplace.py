"""In-place NumPy semantics on traced arrays: aliases, views, write-through, np.add.at."""
import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

X = np.arange(6.0).reshape(2, 3) / 4
V = np.array([0.5, -1.0, 2.0])


def plain_and_traced_agree(fun, *args):
    """The function gives NumPy's value when traced, and its gradient matches finite differences."""
    expected = fun(*[a.copy() for a in args])
    value, _ = td.value_and_grad(fun, argnums=tuple(range(len(args))))(*args)
    np.testing.assert_allclose(value, expected)
    check_grads(fun, *args, argnums=tuple(range(len(args))))


def test_augmented_assignment_on_an_alias_changes_both_names():
    def f(x):
        y = x
        y += 1.0
        return np.sum(x ** 2)  # x changed too, as in NumPy
    plain_and_traced_agree(f, X)


def test_writing_through_an_index_view_changes_the_base():
    def f(x, v):
        row = x[1]
        row += v
        return np.sum(x ** 2)
    plain_and_traced_agree(f, X, V)


def test_sibling_views_see_a_write_through_another_view():
    def f(x, v):
        t = x.T
        r = x.reshape(6)
        r[2] = v[0]
        return np.sum(t ** 3)  # t sees the write made through r
    plain_and_traced_agree(f, X, V)


def test_reshape_of_a_non_contiguous_array_is_a_copy_as_in_numpy():
    def f(x):
        r = x.T.reshape(-1)  # NumPy copies here: writing r leaves x alone
        r[0] = 100.0
        return np.sum(x ** 2) + np.sum(r)
    plain_and_traced_agree(f, X)


def test_add_at_accumulates_repeated_indices():
    idx = np.array([0, 2, 2, 1, 2])

    def f(x, v):
        y = x.copy()
        np.add.at(y, idx, v)
        return np.sum(y ** 2)
    plain_and_traced_agree(f, V.copy(), np.array([0.5, -1.0, 2.0, 0.3, 1.0]))


def test_add_at_into_a_plain_array_is_a_clear_error():
    def f(v):
        buffer = np.zeros(3)
        np.add.at(buffer, [0, 0], v)
        return np.sum(buffer)
    with pytest.raises(td.TracerConversionError, match="np.add.at into a plain NumPy array"):
        td.grad(f)(np.ones(2))


def test_caller_arrays_are_untouched_by_all_of_it():
    def f(x, v):
        x[0] += v
        np.add.at(x, [1, 1], v)
        return np.sum(x ** 2)
    x, v = X.copy(), V.copy()
    td.grad(f, argnums=(0, 1))(x, v)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(v, V)


def test_gradient_of_axes_added_by_indexing_is_a_reshape():
    def energy(p):
        diff = p[:, None, :] - p[None, :, :]
        return np.sum(diff ** 2)

    p = np.arange(6.0).reshape(3, 2)
    check_grads(energy, p)
    source = td.grad(energy).source(p)
    assert "np.zeros" not in source  # no scatter into zeros: x[:, None] only adds axes
