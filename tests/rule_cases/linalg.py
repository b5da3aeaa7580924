"""Products and np.linalg: every rule, including batched (stacked) matrices.

Inputs are built well-conditioned from the test's random values (``r``): symmetric positive
definite matrices for cholesky, inv and solve; symmetric ones with well-separated eigenvalues for
eigh; non-symmetric ones with distinct real eigenvalues for eig and eigvals;
full-rank ones with distinct singular values for svd, pinv, qr and lstsq. Matrices that
cholesky and eigh read one triangle of are passed as they are (symmetric), so finite differences
also check that the other triangle gets no gradient.
"""
from __future__ import annotations

import warnings

import numpy as np

from tracediff.primitives.linalg import svd_vectors_p

from . import Case


def spd(a):
    """A (stack of) symmetric positive definite matrices from a random (stack of) square a."""
    n = a.shape[-1]
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype=a.dtype)


def separated(a, gap=1.0):
    """Symmetric, with eigenvalues gap apart (q a random rotation), from a random square a."""
    n = a.shape[-1]
    q = np.linalg.qr(a.astype(np.float64)).Q
    w = gap * np.arange(1, n + 1) - 0.4 * n
    return ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2)).astype(a.dtype)


def distinct_svd(a):
    """a with singular values 1, 1.8, 2.6, ... (and random singular vectors, complex for a complex a:
    a real matrix cast to complex is where LAPACK's complex QR jumps, see tests/test_complex_qr_lstsq.py)."""
    u, _, vh = np.linalg.svd(a.astype(np.complex128 if np.iscomplexobj(a) else np.float64), full_matrices=False)
    s = 1.0 + 0.8 * np.arange(min(a.shape[-2:]))
    return ((u * s[..., None, :]) @ vh).astype(a.dtype)


def _svd_vectors(a, **params):
    """U above Vh^T, from the primitive np.linalg.svd binds for a complex a only: bound directly."""
    return svd_vectors_p.bind(a, **params)


def shifted(a):
    """a + n * I: a (stack of) well-conditioned, non-symmetric square matrices."""
    return a + a.shape[-1] * np.eye(a.shape[-1], dtype=a.dtype)


def _similar_to(a, d):
    """p d p^-1 with p = shifted(a): a non-symmetric matrix with d's eigenvalues (computed in
    double precision at least, then made a's type again)."""
    p = shifted(a.astype(np.result_type(a, np.float64)))
    return np.linalg.solve(np.swapaxes(p, -1, -2), np.swapaxes(p @ d, -1, -2)).swapaxes(-1, -2).astype(a.dtype)


def real_eigenvalues(a, gap=1.0):
    """Non-symmetric, with real eigenvalues gap apart."""
    n = a.shape[-1]
    return _similar_to(a, np.diag(gap * np.arange(1, n + 1) - 0.4 * n))


def _quietly(function, *args):
    with warnings.catch_warnings():  # NumPy 2 deprecates cross products of 2-vectors
        warnings.simplefilter("ignore", DeprecationWarning)
        return function(*args)


def _ein(subscripts, **kw):
    return lambda *xs: np.einsum(subscripts, *xs, **kw)


CASES = [
    # --- einsum: explicit, implicit, ellipsis (broadcast), repeated labels, sublists -----------
    Case("einsum", "ij,jk->ik", _ein("ij,jk->ik"), lambda r: (r(2, 3), r(3, 4)), (0, 1)),
    Case("einsum", "implicit ij,jk", _ein("ij,jk"), lambda r: (r(2, 3), r(3, 4)), (0, 1)),
    Case("einsum", "implicit ba (transpose)", _ein("ba"), lambda r: (r(2, 3),)),
    Case("einsum", "bij,bjk->bik", _ein("bij,bjk->bik"), lambda r: (r(2, 2, 3), r(2, 3, 4)), (0, 1)),
    Case("einsum", "...ij,...jk broadcast", _ein("...ij,...jk->...ik"),
         lambda r: (r(2, 1, 2, 3), r(4, 3, 2)), (0, 1)),
    Case("einsum", "implicit ...ij,jk", _ein("...ij,jk"), lambda r: (r(2, 3, 2, 3), r(3, 2)), (0, 1)),
    Case("einsum", "ii->i (diagonal)", _ein("ii->i"), lambda r: (r(3, 3),)),
    Case("einsum", "ii (trace)", _ein("ii"), lambda r: (r(3, 3),)),
    Case("einsum", "iji->j", _ein("iji->j"), lambda r: (r(3, 2, 3),)),
    Case("einsum", "ii,i->i", _ein("ii,i->i"), lambda r: (r(3, 3), r(3)), (0, 1)),
    Case("einsum", "ij-> (sum)", _ein("ij->"), lambda r: (r(2, 3),)),
    Case("einsum", "ij,j->j (i only in a)", _ein("ij,j->j"), lambda r: (r(3, 4), r(4)), (0, 1)),
    Case("einsum", "ij,ij->i, size-1 label", _ein("ij,ij->i"), lambda r: (r(3, 4), r(3, 1)), (0, 1)),
    Case("einsum", "i,i (inner)", _ein("i,i"), lambda r: (r(4), r(4)), (0, 1)),
    Case("einsum", "i,j->ij (outer)", _ein("i,j->ij"), lambda r: (r(3), r(4)), (0, 1)),
    Case("einsum", "ij,jk,kl->il", _ein("ij,jk,kl->il"), lambda r: (r(2, 3), r(3, 4), r(4, 2)), (0, 1, 2)),
    Case("einsum", "ij,jk,kl->il optimize", _ein("ij,jk,kl->il", optimize=True),
         lambda r: (r(2, 3), r(3, 4), r(4, 2)), (0, 1, 2)),
    Case("einsum", "same operand twice", lambda x: np.einsum("ij,kj->ik", x, x), lambda r: (r(3, 2),)),
    Case("einsum", "sublist format", lambda a, b: np.einsum(a, [0, 1], b, [1, Ellipsis], [Ellipsis, 0]),
         lambda r: (r(2, 3), r(3, 4)), (0, 1)),
    # --- tensordot, and np.dot / np.inner of N-D arrays --------------------------------------
    Case("tensordot", "axes=2", lambda a, b: np.tensordot(a, b), lambda r: (r(2, 3, 4), r(3, 4, 2)), (0, 1)),
    Case("tensordot", "axes=1", lambda a, b: np.tensordot(a, b, 1), lambda r: (r(2, 3), r(3, 2, 2)), (0, 1)),
    Case("tensordot", "axes=0 (outer)", lambda a, b: np.tensordot(a, b, 0), lambda r: (r(2, 3), r(2)), (0, 1)),
    Case("tensordot", "axes=([1, 0], [0, 2])", lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])),
         lambda r: (r(2, 3, 4), r(3, 2, 2)), (0, 1)),
    Case("tensordot", "axes=(-1, 0) ints", lambda a, b: np.tensordot(a, b, axes=(-1, 0)),
         lambda r: (r(2, 3), r(3, 4)), (0, 1)),
    Case("tensordot", "np.dot 3-D 2-D", lambda a, b: np.dot(a, b), lambda r: (r(2, 3, 4), r(4, 2)), (0, 1)),
    Case("tensordot", "np.dot 2-D 3-D", lambda a, b: np.dot(a, b), lambda r: (r(2, 3), r(2, 3, 4)), (0, 1)),
    Case("tensordot", "np.dot 3-D 1-D", lambda a, b: np.dot(a, b), lambda r: (r(2, 3, 4), r(4)), (0, 1)),
    Case("tensordot", "np.dot 1-D 3-D", lambda a, b: a.dot(b), lambda r: (r(3), r(2, 3, 4)), (0, 1)),
    Case("tensordot", "np.inner 2-D 2-D", lambda a, b: np.inner(a, b), lambda r: (r(2, 3), r(4, 3)), (0, 1)),
    Case("tensordot", "np.inner 3-D 1-D", lambda a, b: np.inner(a, b), lambda r: (r(2, 2, 3), r(3)), (0, 1)),
    Case("matmul", "np.inner 1-D 1-D", lambda a, b: np.inner(a, b), lambda r: (r(3), r(3)), (0, 1)),
    Case("matmul", "np.vdot 2-D 2-D", lambda a, b: np.vdot(a, b), lambda r: (r(2, 3), r(3, 2)), (0, 1)),
    Case("multiply", "np.dot scalar", lambda a, b: np.dot(a, b), lambda r: (r(), r(2, 3)), (0, 1)),
    Case("multiply", "np.outer", lambda a, b: np.outer(a, b), lambda r: (r(3), r(4)), (0, 1)),
    Case("multiply", "np.outer flattens", lambda a, b: np.outer(a, b), lambda r: (r(2, 2), r(3)), (0, 1)),
    Case("multiply", "np.kron 2-D 2-D", lambda a, b: np.kron(a, b), lambda r: (r(2, 3), r(2, 2)), (0, 1)),
    Case("multiply", "np.kron 1-D 2-D", lambda a, b: np.kron(a, b), lambda r: (r(3), r(2, 2)), (0, 1)),
    Case("multiply", "np.kron 3-D 2-D", lambda a, b: np.kron(a, b), lambda r: (r(2, 1, 2), r(3, 2)), (0, 1)),
    # --- cross --------------------------------------------------------------------------------
    Case("cross", "3-vectors", lambda a, b: np.cross(a, b), lambda r: (r(3), r(3)), (0, 1)),
    Case("cross", "stack x vector (broadcast)", lambda a, b: np.cross(a, b), lambda r: (r(4, 3), r(3)), (0, 1)),
    Case("cross", "axis=0", lambda a, b: np.cross(a, b, axis=0), lambda r: (r(3, 2), r(3, 2)), (0, 1)),
    Case("cross", "axisa=0, axisb=-1, axisc=0", lambda a, b: np.cross(a, b, axisa=0, axisb=-1, axisc=0),
         lambda r: (r(3, 4), r(4, 3)), (0, 1)),
    Case("cross", "2-vector x 3-vector (deprecated)", lambda a, b: _quietly(np.cross, a, b),
         lambda r: (r(2, 2), r(2, 3)), (0, 1)),
    Case("cross", "2-vector x 2-vector (deprecated)", lambda a, b: _quietly(np.cross, a, b),
         lambda r: (r(3, 2), r(2)), (0, 1)),
    # --- inverses, solves, determinants ----------------------------------------------------------
    Case("inv", "3x3", lambda a: np.linalg.inv(a), lambda r: (spd(r(3, 3)),)),
    Case("inv", "general 3x3", lambda a: np.linalg.inv(a), lambda r: (shifted(r(3, 3)),)),
    Case("inv", "stack (2, 3, 3)", lambda a: np.linalg.inv(a), lambda r: (spd(r(2, 3, 3)),)),
    Case("solve", "vector b", lambda a, b: np.linalg.solve(a, b), lambda r: (spd(r(3, 3)), r(3)), (0, 1)),
    Case("solve", "matrix b", lambda a, b: np.linalg.solve(a, b), lambda r: (spd(r(3, 3)), r(3, 2)), (0, 1)),
    Case("solve", "stacks", lambda a, b: np.linalg.solve(a, b), lambda r: (spd(r(2, 3, 3)), r(2, 3, 2)), (0, 1)),
    Case("solve", "stack of a, one vector b", lambda a, b: np.linalg.solve(a, b),
         lambda r: (spd(r(2, 3, 3)), r(3)), (0, 1)),
    Case("solve", "one a, stack of b (broadcast)", lambda a, b: np.linalg.solve(a, b),
         lambda r: (spd(r(3, 3)), r(2, 3, 2)), (0, 1)),
    Case("det", "3x3", lambda a: np.linalg.det(a), lambda r: (r(3, 3),)),
    Case("det", "stack (2, 2, 2)", lambda a: np.linalg.det(a), lambda r: (r(2, 2, 2),)),
    Case("slogdet", "logabsdet", lambda a: np.linalg.slogdet(a).logabsdet, lambda r: (r(3, 3),)),
    Case("slogdet", "sign * exp(logabsdet)", lambda a: np.linalg.slogdet(a)[0] * np.exp(np.linalg.slogdet(a)[1]),
         lambda r: (r(3, 3),)),
    Case("slogdet", "stack", lambda a: np.linalg.slogdet(a)[1], lambda r: (spd(r(2, 3, 3)),)),
    Case("matmul", "matrix_power 2", lambda a: np.linalg.matrix_power(a, 2), lambda r: (r(3, 3) / 2,)),
    Case("matmul", "matrix_power 5", lambda a: np.linalg.matrix_power(a, 5), lambda r: (r(3, 3) / 2,)),
    Case("inv", "matrix_power -3", lambda a: np.linalg.matrix_power(a, -3), lambda r: (spd(r(3, 3)) / 3,)),
    Case("matmul", "matrix_power 3 of a stack", lambda a: np.linalg.matrix_power(a, 3), lambda r: (r(2, 3, 3) / 2,)),
    # --- cholesky and eigh (they read one triangle) ----------------------------------------------
    Case("cholesky", "lower", lambda a: np.linalg.cholesky(a), lambda r: (spd(r(3, 3)),)),
    Case("cholesky", "upper=True", lambda a: np.linalg.cholesky(a, upper=True), lambda r: (spd(r(3, 3)),)),
    Case("cholesky", "stack", lambda a: np.linalg.cholesky(a), lambda r: (spd(r(2, 3, 3)),)),
    Case("cholesky", "of x @ x.T + I", lambda x: np.linalg.cholesky(shifted(x @ x.T)), lambda r: (r(3, 3),)),
    Case("eigvalsh", "eigvalsh", lambda a: np.linalg.eigvalsh(a), lambda r: (separated(r(3, 3)),)),
    Case("eigvalsh", "eigh values, UPLO='U'", lambda a: np.linalg.eigh(a, UPLO="U")[0],
         lambda r: (separated(r(3, 3)),)),
    Case("eigvalsh", "stack", lambda a: np.linalg.eigh(a).eigenvalues, lambda r: (separated(r(2, 3, 3)),)),
    Case("eigh_vectors", "eigenvectors", lambda a: np.linalg.eigh(a)[1], lambda r: (separated(r(3, 3)),)),
    Case("eigh_vectors", "UPLO='U'", lambda a: np.linalg.eigh(a, UPLO="U").eigenvectors,
         lambda r: (separated(r(4, 4)),)),
    Case("eigh_vectors", "stack", lambda a: np.linalg.eigh(a)[1], lambda r: (separated(r(2, 3, 3)),)),
    Case("eigh_vectors", "v diag(w) v.T of (b + b.T) / 2", lambda b: (lambda w, v: (v * w) @ v.T)(
        *np.linalg.eigh((b + b.T) / 2)), lambda r: (separated(r(3, 3)),)),
    # --- eig and eigvals of real matrices with real eigenvalues (complex ones: tests/test_eig.py, as
    # the phase test of complex eigenvectors is a guard on the cotangent, which td.jacobian can't batch)
    Case("eigvals", "real eigenvalues", lambda a: np.linalg.eigvals(a), lambda r: (real_eigenvalues(r(3, 3)),)),
    Case("eigvals", "stack", lambda a: np.linalg.eigvals(a), lambda r: (real_eigenvalues(r(2, 3, 3)),)),
    Case("eig_values", "eig's eigenvalues", lambda a: np.linalg.eig(a)[0], lambda r: (real_eigenvalues(r(3, 3)),)),
    Case("eig_vectors", "|v|**2", lambda a: np.abs(np.linalg.eig(a)[1]) ** 2, lambda r: (real_eigenvalues(r(3, 3)),)),
    Case("eig_vectors", "|v|**2 of a stack", lambda a: np.abs(np.linalg.eig(a)[1]) ** 2,
         lambda r: (real_eigenvalues(r(2, 3, 3)),)),
    # --- svd -------------------------------------------------------------------------------------
    Case("svdvals", "compute_uv=False, tall", lambda a: np.linalg.svd(a, compute_uv=False),
         lambda r: (distinct_svd(r(4, 3)),)),
    Case("svdvals", "np.linalg.svdvals, wide", lambda a: np.linalg.svdvals(a), lambda r: (distinct_svd(r(2, 4)),)),
    Case("svdvals", "S of a stack", lambda a: np.linalg.svd(a)[1], lambda r: (distinct_svd(r(2, 3, 3)),)),
    Case("svd_u", "square, full_matrices default", lambda a: np.linalg.svd(a)[0], lambda r: (distinct_svd(r(3, 3)),)),
    Case("svd_u", "tall, reduced", lambda a: np.linalg.svd(a, full_matrices=False).U,
         lambda r: (distinct_svd(r(4, 3)),)),
    Case("svd_u", "wide, reduced", lambda a: np.linalg.svd(a, full_matrices=False)[0],
         lambda r: (distinct_svd(r(2, 4)),)),
    Case("svd_u", "stack", lambda a: np.linalg.svd(a, full_matrices=False)[0], lambda r: (distinct_svd(r(2, 4, 3)),)),
    Case("svd_vh", "square", lambda a: np.linalg.svd(a)[2], lambda r: (distinct_svd(r(3, 3)),)),
    Case("svd_vh", "tall, reduced", lambda a: np.linalg.svd(a, full_matrices=False).Vh,
         lambda r: (distinct_svd(r(4, 3)),)),
    Case("svd_vh", "wide, reduced", lambda a: np.linalg.svd(a, full_matrices=False)[2],
         lambda r: (distinct_svd(r(2, 4)),)),
    Case("svd_vh", "stack", lambda a: np.linalg.svd(a, full_matrices=False)[2], lambda r: (distinct_svd(r(2, 3, 4)),)),
    Case("svd_vh", "u s vh reconstructs a", lambda a: (lambda u, s, vh: (u * s) @ vh)(
        *np.linalg.svd(a, full_matrices=False)), lambda r: (distinct_svd(r(4, 3)),)),
    # (phase-blind functions of both, so that tests/test_complex.py checks them on complex values too)
    Case("svd_vectors", "|U|**2 and |Vh|**2, tall", lambda a: np.abs(_svd_vectors(a, full_matrices=False)) ** 2,
         lambda r: (distinct_svd(r(4, 3)),)),
    Case("svd_vectors", "|U|**2 and |Vh|**2, square", lambda a: np.abs(_svd_vectors(a)) ** 2,
         lambda r: (distinct_svd(r(3, 3)),)),
    Case("svd_vectors", "U Vh, wide", lambda a: (lambda x: x[..., :2, :] @ np.swapaxes(x[..., 2:, :], -1, -2))(
        _svd_vectors(a, full_matrices=False)), lambda r: (distinct_svd(r(2, 4)),)),
    Case("svd_vectors", "U Vh, stack of tall", lambda a: (lambda x: x[..., :4, :] @ np.swapaxes(x[..., 4:, :], -1, -2))(
        _svd_vectors(a, full_matrices=False)), lambda r: (distinct_svd(r(2, 4, 3)),)),
    # --- pinv, qr, lstsq -----------------------------------------------------------------------
    Case("pinv", "tall", lambda a: np.linalg.pinv(a), lambda r: (distinct_svd(r(4, 3)),)),
    Case("pinv", "wide", lambda a: np.linalg.pinv(a), lambda r: (distinct_svd(r(2, 4)),)),
    Case("pinv", "square", lambda a: np.linalg.pinv(a), lambda r: (distinct_svd(r(3, 3)),)),
    Case("pinv", "stack", lambda a: np.linalg.pinv(a), lambda r: (distinct_svd(r(2, 4, 3)),)),
    Case("qr_q", "tall", lambda a: np.linalg.qr(a)[0], lambda r: (distinct_svd(r(4, 3)),)),
    Case("qr_q", "square", lambda a: np.linalg.qr(a).Q, lambda r: (distinct_svd(r(3, 3)),)),
    Case("qr_q", "wide", lambda a: np.linalg.qr(a).Q, lambda r: (distinct_svd(r(2, 4)),)),
    Case("qr_q", "stack", lambda a: np.linalg.qr(a).Q, lambda r: (distinct_svd(r(2, 4, 3)),)),
    Case("qr_r", "tall", lambda a: np.linalg.qr(a)[1], lambda r: (distinct_svd(r(4, 3)),)),
    Case("qr_r", "wide", lambda a: np.linalg.qr(a).R, lambda r: (distinct_svd(r(2, 4)),)),
    Case("qr_r", "mode='r'", lambda a: np.linalg.qr(a, mode="r"), lambda r: (distinct_svd(r(4, 3)),)),
    Case("qr_r", "mode='complete', tall", lambda a: np.linalg.qr(a, mode="complete").R,
         lambda r: (distinct_svd(r(4, 3)),)),
    Case("qr_r", "stack", lambda a: np.linalg.qr(a).R, lambda r: (distinct_svd(r(2, 3, 4)),)),
    Case("qr_q", "q @ r reconstructs a", lambda a: (lambda q, r: q @ r)(*np.linalg.qr(a)),
         lambda r: (distinct_svd(r(4, 3)),)),
    Case("lstsq", "tall, vector b", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0],
         lambda r: (distinct_svd(r(5, 3)), r(5)), (0, 1)),
    Case("lstsq", "tall, matrix b", lambda a, b: np.linalg.lstsq(a, b)[0],
         lambda r: (distinct_svd(r(5, 3)), r(5, 2)), (0, 1)),
    Case("lstsq", "wide (minimum norm)", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0],
         lambda r: (distinct_svd(r(2, 4)), r(2)), (0, 1)),
    Case("lstsq_residuals", "vector b", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[1],
         lambda r: (distinct_svd(r(5, 3)), r(5)), (0, 1)),
    Case("lstsq_residuals", "matrix b", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[1],
         lambda r: (distinct_svd(r(5, 3)), r(5, 2)), (0, 1)),
    Case("svdvals", "lstsq singular values", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[3],
         lambda r: (distinct_svd(r(5, 3)), r(5)), (0,)),
]
