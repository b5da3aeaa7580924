"""np.linalg.qr, lstsq and cond of complex matrices: values as NumPy's, gradients against finite
differences along real and imaginary directions (tracediff's convention, tests/test_complex.py),
at second order wherever the rules allow it.

QR is unique here because LAPACK's complex QR (zgeqrf: Householder reflections with a real beta)
gives R a real diagonal, so only the diagonal's signs are LAPACK's choice, as for real matrices:
no phase is left free and no phase check is needed. Except where LAPACK skips a reflection: the
last one of a square or wide matrix, when its pivot is real. A real matrix cast to complex is such
a point, where NumPy's factors jump under any imaginary change (test_qr_of_a_real_matrix_cast_to_complex)."""
from __future__ import annotations

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

RNG = np.random.default_rng(11)


def _complex(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def _shifted(*shape):
    """Square complex matrices a + 3 I: well conditioned."""
    return _complex(*shape) + 3 * np.eye(shape[-1])


SHAPES = {"tall": (5, 3), "square": (3, 3), "wide": (3, 5), "stack of tall": (2, 4, 3), "stack of wide": (2, 3, 4)}
MATRICES = {name: _complex(*shape) for name, shape in SHAPES.items()}


def _diagonal(r):
    return np.diagonal(r, axis1=-2, axis2=-1)


# --- QR ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("shape", SHAPES)
def test_lapacks_complex_qr_has_a_real_diagonal(shape, dtype):
    a = MATRICES[shape].astype(dtype)
    for r in (np.linalg.qr(a).R, np.linalg.qr(a, mode="r"), np.linalg.qr(a, mode="complete").R):
        assert np.all(np.imag(_diagonal(r)) == 0) and np.all(_diagonal(r) != 0)


def _of_q_and_r(a):
    q, r = np.linalg.qr(a)
    return np.sum(np.abs(q) ** 2 * np.real(q)) + np.real(np.sum(r * np.conj(r[..., :1, :])))


LOSSES = {  # a non-scalar output is checked through a random complex projection (check_grads)
    "Q": lambda a: np.linalg.qr(a).Q,
    "R": lambda a: np.linalg.qr(a)[1],
    "Q and R": _of_q_and_r,
    "q @ r": lambda a: (lambda q, r: q @ r)(*np.linalg.qr(a)),
    "mode='r'": lambda a: np.linalg.qr(a, mode="r"),
    "mode='complete', R": lambda a: np.linalg.qr(a, mode="complete").R,
    "mode='complete', Q (square or wide)": lambda a: np.linalg.qr(a, mode="complete").Q,
}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("shape", SHAPES)
def test_qr_of_complex_matrices(shape, loss):
    a, fun = MATRICES[shape], LOSSES[loss]
    if "Q (square or wide)" in loss and a.shape[-2] > a.shape[-1]:
        with pytest.raises(NotImplementedError, match="arbitrary basis"):
            td.grad(lambda a: np.sum(np.abs(fun(a)) ** 2))(a)
        return
    np.testing.assert_allclose(td.vjp(fun, a)[0], fun(a), rtol=1e-12, atol=1e-12)
    check_grads(fun, a, order=2)


def test_qr_in_single_precision():
    a = MATRICES["tall"].astype(np.complex64)
    check_grads(lambda a: np.linalg.qr(a).Q, a)
    assert td.grad(lambda a: np.sum(np.abs(np.linalg.qr(a).R) ** 2))(a).dtype == np.complex64


@pytest.mark.parametrize("shape", ["tall", "stack of tall"])
def test_one_rule_for_real_and_complex_qr(shape):
    # A tall real matrix cast to complex: the real part of the complex gradient is the real gradient
    a = MATRICES[shape].real
    w = RNG.standard_normal(a.shape[:-2] + (a.shape[-1], a.shape[-1]))
    loss = lambda a: np.real(np.sum(np.linalg.qr(a).R * w) + np.sum(np.linalg.qr(a).Q[..., :3, :] ** 2))  # noqa: E731
    np.testing.assert_allclose(np.real(td.grad(loss)(a.astype(complex))), td.grad(loss)(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", ["square", "wide"])
def test_qr_of_a_real_matrix_cast_to_complex(shape):
    # The last pivot of a square or wide real matrix is real, so LAPACK skips the last reflection,
    # and an imaginary change of any size flips the sign of R's last diagonal entry (and of Q's
    # last column): no derivative there along imaginary directions, except for losses blind to
    # those signs. The gradient is that of the factors with NumPy's signs held.
    a = MATRICES[shape].real.astype(complex)
    k = a.shape[-2]
    nudged = a.copy()
    nudged[k - 1, k - 1] += 1e-300j
    assert np.linalg.qr(nudged).R[k - 1, k - 1] == -np.linalg.qr(a).R[k - 1, k - 1]
    check_grads(lambda a: (lambda q, r: np.abs(q) ** 2 + np.sum(np.abs(r) ** 2))(*np.linalg.qr(a)), a, order=2)
    check_grads(lambda a: (lambda q, r: q @ r)(*np.linalg.qr(a)), a, order=2)


# --- lstsq ---------------------------------------------------------------------------------------

def _system(shape, b_columns, a_kind, b_kind):
    a = _complex(*shape) if a_kind == "complex" else RNG.standard_normal(shape)
    b_shape = shape[:1] + b_columns
    return a, _complex(*b_shape) if b_kind == "complex" else RNG.standard_normal(b_shape)


KINDS = [("complex", "complex"), ("complex", "real"), ("real", "complex")]
B = {"vector b": (), "matrix b": (2,)}


@pytest.mark.parametrize("kinds", KINDS, ids=["complex a, b", "complex a, real b", "real a, complex b"])
@pytest.mark.parametrize("b", B)
@pytest.mark.parametrize("shape", ["tall", "square", "wide"])
def test_lstsq_solution(shape, b, kinds):
    a, rhs = _system(SHAPES[shape], B[b], *kinds)
    fun = lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0]  # noqa: E731
    np.testing.assert_allclose(td.vjp(fun, a, rhs)[0], fun(a, rhs), rtol=1e-10, atol=1e-12)
    check_grads(fun, a, rhs, argnums=(0, 1), order=2)


@pytest.mark.parametrize("kinds", KINDS, ids=["complex a, b", "complex a, real b", "real a, complex b"])
@pytest.mark.parametrize("b", B)
def test_lstsq_residuals(b, kinds):
    # sum |b - a x|**2 (real): a real a with a complex b took the residuals' gradient without
    # conjugating b - a x before (a wrong value, as the check for complex a did not see b)
    a, rhs = _system(SHAPES["tall"], B[b], *kinds)
    fun = lambda a, b: np.linalg.lstsq(a, b, rcond=None)[1]  # noqa: E731
    assert fun(a, rhs).dtype == np.float64
    np.testing.assert_allclose(td.vjp(fun, a, rhs)[0], fun(a, rhs), rtol=1e-10)
    check_grads(fun, a, rhs, argnums=(0, 1), order=2)


def test_lstsq_singular_values_at_first_order():
    a, rhs = _system(SHAPES["tall"], (), "complex", "complex")
    check_grads(lambda a: np.linalg.lstsq(a, rhs, rcond=None)[3], a)


def test_polyfit_of_complex_values():
    x = np.linspace(-1, 1, 6) + 0.3j * RNG.standard_normal(6)
    y = _complex(6)
    check_grads(lambda x, y: np.polyfit(x, y, 2), x, y, argnums=(0, 1), order=2)
    check_grads(lambda y: np.polyfit(x.real, y, 2, full=True)[1], y, order=2)


# --- cond ----------------------------------------------------------------------------------------

# Through the singular values: first order only for complex matrices (the second derivative of
# singular values goes through the singular vectors, which have no complex rule yet)
@pytest.mark.parametrize("p", [None, 2, -2, "nuc"])
@pytest.mark.parametrize("a", ["square", "stack", "wide"])
def test_cond_through_singular_values(a, p):
    if a == "wide" and p == "nuc":
        return  # (NumPy: only the 2-norm orders take a matrix that is not square)
    x = {"square": _shifted(3, 3), "stack": _shifted(2, 3, 3), "wide": _complex(2, 3)}[a]
    fun = lambda x: np.linalg.cond(x, p)  # noqa: E731
    np.testing.assert_allclose(td.vjp(fun, x)[0], fun(x), rtol=1e-10)
    check_grads(fun, x)


# Through norm(x, p) * norm(inv(x), p): second order
@pytest.mark.parametrize("p", ["fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("a", ["square", "stack"])
def test_cond_through_norm_and_inverse(a, p):
    x = {"square": _shifted(3, 3), "stack": _shifted(2, 3, 3)}[a]
    fun = lambda x: np.linalg.cond(x, p)  # noqa: E731
    np.testing.assert_allclose(td.vjp(fun, x)[0], fun(x), rtol=1e-10)
    check_grads(fun, x, order=2)
