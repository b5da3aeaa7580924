"""np.linalg.eigvals and np.linalg.eig of general (non-symmetric) matrices, real and complex.

The traced results are NumPy's, real or complex as NumPy's are (a real matrix's are real when all
its eigenvalues are: a guard, and the other kind traces again). Gradients are checked against
finite differences along real and imaginary directions, at second order; complex eigenvectors
only through losses blind to their arbitrary phases (a loss that is not raises).
"""
from __future__ import annotations

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads, numerical_vjp

RNG = np.random.default_rng(11)
SINGLE = {"rtol": 2e-3, "atol": 2e-3}


def _similar_to(d, dtype=np.float64, seed=0):
    """p d p^-1 with p a well-conditioned random matrix (complex for a complex dtype): a
    non-symmetric matrix (a stack, for a stack d) with d's eigenvalues."""
    rng = np.random.default_rng(seed)
    n = d.shape[-1]
    p = rng.uniform(-1, 1, d.shape) + n * np.eye(n)
    if np.dtype(dtype).kind == "c":
        p = p + 1j * rng.uniform(-1, 1, d.shape)
    return np.linalg.solve(np.swapaxes(p, -1, -2), np.swapaxes(p @ d, -1, -2)).swapaxes(-1, -2).astype(dtype)


def _block(re, im, *rest):
    """A real block diagonal matrix with eigenvalues re +- i im and ``rest``."""
    d = np.diag([re, re, *rest]).astype(float)
    d[0, 1], d[1, 0] = -im, im
    return d


REAL = _similar_to(np.diag([-1.5, -0.3, 0.8, 2.0]))  # real, non-symmetric, real eigenvalues
PAIR = _similar_to(_block(0.5, 1.5, 2.0, -1.0), seed=1)  # real, with a complex pair
COMPLEX = RNG.uniform(-1, 1, (4, 4)) + 1j * RNG.uniform(-1, 1, (4, 4))
REAL_STACK = _similar_to(np.stack([np.diag([-1.0, 0.5, 2.0]), np.diag([0.3, 1.4, -2.2])]), seed=2)
PAIR_STACK = _similar_to(np.stack([np.diag([-1.0, 0.5, 2.0]), _block(0.2, 0.9, 1.5)]), seed=3)  # one pair
COMPLEX_STACK = RNG.uniform(-1, 1, (2, 3, 3)) + 1j * RNG.uniform(-1, 1, (2, 3, 3))
MATRICES = {
    "real eigenvalues": REAL, "a complex pair": PAIR, "complex": COMPLEX, "real stack": REAL_STACK,
    "a stack with one pair": PAIR_STACK, "complex stack": COMPLEX_STACK,
    "float32": REAL.astype(np.float32), "float32, a complex pair": PAIR.astype(np.float32),
    "complex64": COMPLEX.astype(np.complex64),
}
COMPLEX_VECTORS = {k: v for k, v in MATRICES.items() if "pair" in k or "complex" in k}


def _weights(shape, dtype, seed=5):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return w.astype(np.result_type(dtype, np.complex64))


def _tolerances(a):
    return SINGLE if a.dtype in (np.float32, np.complex64) else {}


def _eig(a):
    w, v = np.linalg.eig(a)
    return w, v


# --- the values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", MATRICES)
def test_the_traced_values_are_numpys(name):
    a = MATRICES[name]

    def loss(a):  # (blind to the eigenvectors' phases: td.vjp's pullback would check a cotangent)
        w, (ew, ev) = np.linalg.eigvals(a), np.linalg.eig(a)
        return np.sum(np.abs(w) ** 2) + np.sum(np.abs(ev) ** 2 * np.abs(ew[..., None, :])), (w, ew, ev)

    (_, (w, ew, ev)), _ = td.value_and_grad(loss, has_aux=True)(a)
    expected_w, (expected_ew, expected_ev) = np.linalg.eigvals(a), np.linalg.eig(a)
    for got, expected in ((w, expected_w), (ew, expected_ew), (ev, expected_ev)):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    assert np.iscomplexobj(w) == ("pair" in name or "complex" in name)


def test_eig_returns_numpys_result_type():
    seen = []

    def f(a):
        result = np.linalg.eig(a)
        seen.append(type(result))
        return np.sum(result.eigenvalues) + np.sum(result.eigenvectors ** 2)

    td.grad(f)(REAL)
    assert seen == [type(np.linalg.eig(REAL))]


def test_not_square_is_numpys_error():
    with pytest.raises(np.linalg.LinAlgError):
        td.grad(lambda a: np.sum(np.abs(np.linalg.eigvals(a))))(REAL[:3])


# --- eigenvalues ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", MATRICES)
def test_eigvals_gradient(name):
    a = MATRICES[name]
    c = _weights(a.shape[:-1], a.dtype)
    check_grads(lambda a: np.linalg.eigvals(a) * c, a, order=2, **_tolerances(a))
    check_grads(lambda a: np.abs(np.linalg.eigvals(a)) ** 2, a, order=2, **_tolerances(a))


@pytest.mark.parametrize("name", MATRICES)
def test_eig_eigenvalues_gradient(name):
    a = MATRICES[name]
    c = _weights(a.shape[:-1], a.dtype, seed=6)
    check_grads(lambda a: np.linalg.eig(a).eigenvalues * c, a, order=2, **_tolerances(a))


def test_the_gradient_of_the_trace_and_its_square():
    # sum(w) = trace(a): the gradient is the identity whatever the eigenvectors (none flows to them,
    # so the phase test at second order sees an exact zero, not rounding errors)
    for a in (REAL, PAIR, COMPLEX):
        np.testing.assert_allclose(td.grad(lambda a: np.real(np.sum(np.linalg.eigvals(a))))(a), np.eye(4),
                                   atol=1e-12)
        check_grads(lambda a: np.real(np.sum(np.linalg.eigvals(a))) ** 2, a, order=2)


def test_real_cotangents_for_real_matrices():
    for a in (REAL, PAIR, REAL.astype(np.float32)):
        g = td.grad(lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2 * np.arange(4.0)))(a)
        assert g.dtype == a.dtype
    single = COMPLEX.astype(np.complex64)
    assert td.grad(lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2))(single).dtype == np.complex64


def test_eigvals_of_a_matrix_whose_eig_orders_them_otherwise():
    # For large matrices LAPACK's hseqr orders eig's eigenvalues differently from eigvals' (here,
    # OpenBLAS, n = 150), so the rule pairs each of eigvals' with its eigenvector. (Their order is not
    # even continuous in a there: a loss of the eigenvalues as a set, checked along a direction.)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((150, 150))
    loss = lambda a: np.sum(np.real(np.linalg.eigvals(a)) ** 3 + np.abs(np.linalg.eigvals(a)) ** 2)  # noqa: E731
    g = td.grad(loss)(a)
    d = rng.standard_normal(a.shape)
    h = 1e-6
    directional = (loss(a + h * d) - loss(a - h * d)) / (2 * h)
    assert np.sum(g * d) == pytest.approx(directional, rel=1e-6)


# --- eigenvectors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [REAL, REAL_STACK, REAL.astype(np.float32)], ids=["4x4", "stack", "float32"])
def test_real_eigenvectors_gradient(a):
    # real eigenvectors (a real matrix with real eigenvalues): their signs are LAPACK's, fixed near
    # the point, so any loss of them has a gradient, real
    check_grads(lambda a: np.linalg.eig(a).eigenvectors, a, order=2, **_tolerances(a))
    check_grads(lambda a: (lambda w, v: v * w[..., None, :] ** 2)(*np.linalg.eig(a)), a, order=2, **_tolerances(a))
    g = td.grad(lambda a: np.sum(np.linalg.eig(a)[1] * np.arange(a.shape[-1] ** 2).reshape(a.shape[-2:])))(a)
    assert g.dtype == a.dtype


@pytest.mark.parametrize("name", COMPLEX_VECTORS)
def test_phase_blind_eigenvector_losses(name):
    a = COMPLEX_VECTORS[name]
    n = a.shape[-1]
    weights = np.arange(1.0, n * n + 1).reshape(n, n) / n
    blind = lambda a: np.abs(np.linalg.eig(a).eigenvectors) ** 2 * weights  # noqa: E731
    check_grads(blind, a, order=2, **_tolerances(a))

    def with_the_eigenvalues(a):  # values and vectors together, the values recomputed
        w, v = np.linalg.eig(a)
        return np.sum(np.abs(v) ** 2 * weights * np.abs(w[..., None, :])) + np.sum(np.real(w) ** 3)

    check_grads(with_the_eigenvalues, a, order=2, **_tolerances(a))


@pytest.mark.parametrize("a", [REAL, PAIR, COMPLEX, COMPLEX_STACK], ids=["real", "pair", "complex", "complex stack"])
def test_v_diag_w_inv_v_is_a(a):
    # a phase-blind product of both results: a itself, so the gradient of Re(sum(c * a)) is c
    # (its real part for a real a)
    c = _weights(a.shape, a.dtype, seed=8)

    def loss(a):
        w, v = np.linalg.eig(a)
        return np.sum(np.real(c * np.swapaxes(np.linalg.solve(np.swapaxes(v, -1, -2),
                                                              np.swapaxes(v * w[..., None, :], -1, -2)), -1, -2)))

    g = td.grad(loss)(a)
    np.testing.assert_allclose(g, c if np.iscomplexobj(a) else np.real(c), atol=1e-10)
    check_grads(loss, a)
    # (Not at order 2: the gradient, c, does not depend on the eigenvectors, so the cotangent that
    # reaches them at the next order is rounding errors only, which the phase test refuses.)


@pytest.mark.parametrize("a", [PAIR, COMPLEX], ids=["a complex pair", "complex"])
def test_a_loss_that_depends_on_eigenvector_phases_is_an_error(a):
    phase_bound = lambda a: np.sum(np.real(np.linalg.eig(a).eigenvectors[:, 0]))  # noqa: E731
    phase_blind = lambda a: np.sum(np.abs(np.linalg.eig(a).eigenvectors[:, 0]) ** 2 * np.arange(4.0))  # noqa: E731
    with pytest.raises(NotImplementedError, match="phases of the eigenvectors of a complex matrix"):
        td.grad(phase_bound)(a)
    g = td.grad(lambda a, s: phase_blind(a) + s * phase_bound(a))
    g(a, 0.0)  # blind here: traced, and the check is in the generated code
    with pytest.raises(NotImplementedError, match="phases of the eigenvectors"):
        g(a, 1.0)  # the check fails, the function is traced again, and the rule says why


# --- real or complex: NumPy's decision on the values, a guard ------------------------------------------

def test_real_then_complex_eigenvalues_and_back():
    weights = np.arange(1.0, 17.0).reshape(4, 4)

    def loss(a):
        w, v = np.linalg.eig(a)
        w2 = np.linalg.eigvals(a)
        value = np.sum(np.abs(w) ** 2 * np.arange(4.0)) + np.sum(np.abs(v) ** 2 * weights) + np.sum(np.abs(w2) ** 3)
        return value, (w, v, w2)

    value_and_grad = td.value_and_grad(loss, has_aux=True)
    for a in (REAL, PAIR, REAL, PAIR):
        (value, (w, v, w2)), g = value_and_grad(a)
        expected_w, expected_v = np.linalg.eig(a)
        for got, expected in ((w, expected_w), (v, expected_v), (w2, np.linalg.eigvals(a))):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
        assert value == pytest.approx(loss(a)[0], rel=1e-12)
        np.testing.assert_allclose(g, numerical_vjp(lambda a: loss(a)[0], (a,), 0, 1.0)[0], rtol=1e-6, atol=1e-6)
    assert value_and_grad.cache_info().traces == 2  # one per kind of result, each kept


def test_a_stack_is_complex_when_one_matrix_has_complex_eigenvalues():
    loss = lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2 * np.arange(3.0))  # noqa: E731
    f = td.grad(loss)
    for a in (REAL_STACK, PAIR_STACK):
        np.testing.assert_allclose(f(a), numerical_vjp(loss, (a,), 0, 1.0)[0], rtol=1e-6, atol=1e-7)
    (_, w), _ = td.value_and_grad(lambda a: (loss(a), np.linalg.eigvals(a)), has_aux=True)(PAIR_STACK)
    assert w.dtype == np.complex128 and np.all(np.imag(w[0]) == 0)  # as NumPy: the whole stack complex


# --- through eigvals: np.roots (the companion matrix) and np.poly of a matrix -------------------------

def _padded(q):  # zero coefficients that stay zero: NumPy strips them (leading) or adds roots at 0 (trailing)
    return np.roots(np.concatenate([np.zeros(1, q.dtype), q, np.zeros(2, q.dtype)]))


ROOTS = {
    "real and a complex pair": (np.roots, np.array([1.0, -3.0, 2.5, 0.7])),
    "real roots": (np.roots, np.array([2.0, -3.0, 1.0, 0.1])),
    "zeros stripped and added": (_padded, np.array([2.0, -3.0, 1.0])),
    "complex coefficients": (np.roots, np.array([1 + 1j, 2.0, 0.5j])),
    "linear": (np.roots, np.array([3.0, 1.0])),
    "float32": (np.roots, np.array([2.0, -3.0, 1.0, 0.1], np.float32)),
}


@pytest.mark.parametrize("name", ROOTS)
def test_roots(name):
    fun, p = ROOTS[name]
    (_, r), _ = td.value_and_grad(lambda p: (np.sum(np.abs(fun(p)) ** 2), fun(p)), has_aux=True)(p)
    assert r.dtype == fun(p).dtype
    np.testing.assert_array_equal(r, fun(p))
    check_grads(fun, p, order=2, **_tolerances(p))


def test_roots_when_a_coefficient_becomes_zero():
    loss = lambda p: np.sum(np.abs(np.roots(p)) ** 2)  # noqa: E731
    g = td.grad(loss)
    for p in (np.array([1.0, -3.0, 2.0]), np.array([0.0, -3.0, 2.0]), np.array([1.0, -3.0, 0.0])):
        np.testing.assert_allclose(g(p)[p != 0], numerical_vjp(
            lambda q: loss(np.where(p != 0, q, 0.0)), (p,), 0, 1.0)[0][p != 0], rtol=1e-6)
    assert g.cache_info().traces == 3


def test_poly_of_a_matrix():
    a = _similar_to(np.diag([-1.4, 0.5, 2.1]), seed=4)
    (_, c), _ = td.value_and_grad(lambda a: (np.sum(np.poly(a) ** 2), np.poly(a)), has_aux=True)(a)
    np.testing.assert_allclose(c, np.poly(a), rtol=1e-13)
    check_grads(np.poly, a, order=2)
    # complex eigenvalues in conjugate pairs: NumPy's polynomial is real (a guard), as its gradient
    (_, c), _ = td.value_and_grad(lambda a: (np.sum(np.poly(a) ** 2), np.poly(a)), has_aux=True)(PAIR)
    np.testing.assert_allclose(c, np.poly(PAIR), rtol=1e-12)
    assert c.dtype == np.poly(PAIR).dtype == np.float64
    check_grads(np.poly, PAIR, order=2)
