"""Gradients through the singular vectors of complex matrices, and so second derivatives of their
singular values.

Each pair (u_k, v_k) of a complex SVD is defined up to a common phase e^{i phi_k} (LAPACK picks
one), so a gradient exists only for a loss blind to the phases: |U|**2, projectors U U^H, the
reconstruction U diag(s) Vh (which depends on U and Vh together: each alone depends on the
phases), the singular values at any order. np.linalg.svd of a complex matrix binds one primitive
for both vectors (svd_vectors: U above Vh^T), so that its rule sees both cotangents, checks
dL/dphi_k = 0 (a guard of the generated code) and applies the complex formula (Wan & Zhang 2019).
Every gradient here is checked against finite differences along real and imaginary directions.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads

RNG = np.random.default_rng(11)
PHASES = "phases of the singular vectors"


def _distinct(*shape, dtype=np.complex128):
    """A complex (stack of) matrix with singular values 1, 1.8, 2.6, ... and random complex
    singular vectors: well separated, so the vectors' gradients are well conditioned."""
    z = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    u, _, vh = np.linalg.svd(z, full_matrices=False)
    s = 1.0 + 0.8 * np.arange(min(shape[-2:]))
    return ((u * s[..., None, :]) @ vh).astype(dtype)


def _weights(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def _H(x):
    return np.conj(np.swapaxes(x, -1, -2))


SHAPES = {"tall": (4, 3), "square": (3, 3), "wide": (2, 4), "stack of tall": (2, 4, 3), "stack of wide": (2, 3, 4)}
# (label, shape, keyword arguments of np.linalg.svd): reduced for every shape, and NumPy's default
# full_matrices=True for square matrices (the same factors)
FORMS = [(f"{name}, reduced", shape, {"full_matrices": False}) for name, shape in SHAPES.items()] + [
    ("square, full_matrices default", (3, 3), {}), ("stack of square, full_matrices default", (2, 3, 3), {})]


def _losses(shape, svd_kwargs):
    """Losses blind to the phases, each a real function of the complex matrix."""
    m, n = shape[-2:]
    k = min(m, n)
    wu, wv = RNG.uniform(0.5, 2.0, shape[:-2] + (m, k)), RNG.uniform(0.5, 2.0, shape[:-2] + (k, n))
    c_u, c_v, c_a = _weights(*shape[:-2], m, m), _weights(*shape[:-2], n, n), _weights(*shape)
    target = _weights(*shape)

    def svd(a):
        return np.linalg.svd(a, **svd_kwargs)

    return {
        "|U|**2 and |Vh|**3, weighted": lambda a: (np.sum(np.abs(svd(a).U) ** 2 * wu)
                                                   + np.sum(np.abs(svd(a).Vh) ** 3 * wv)),
        "projectors on leading vectors": lambda a: np.real(
            np.sum(c_u * (svd(a).U[..., :, :k - 1] @ _H(svd(a).U[..., :, :k - 1])))
            + np.sum(c_v * (_H(svd(a).Vh[..., :k - 1, :]) @ svd(a).Vh[..., :k - 1, :]))),
        "U diag(f(s)) Vh": lambda a: (lambda u, s, vh: np.real(np.sum(
            c_a * ((u * ((s + np.arange(k)) ** 2)[..., None, :]) @ vh))))(*svd(a)),
        "|U Vh - target|**2 (the unitary factor)": lambda a: np.sum(np.abs(svd(a).U @ svd(a).Vh - target) ** 2),
        "rank k - 1 misfit to a target": lambda a: (lambda u, s, vh: np.sum(np.abs(
            (u[..., :, :k - 1] * s[..., None, :k - 1]) @ vh[..., :k - 1, :] - target) ** 2))(*svd(a)),
    }


LOSS_NAMES = list(_losses((3, 3), {}))


@pytest.mark.parametrize("form", FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_losses_blind_to_the_phases_at_second_order(form, loss):
    _, shape, svd_kwargs = form
    check_grads(_losses(shape, svd_kwargs)[loss], _distinct(*shape), order=2)


SINGULAR_VALUES = {
    "svdvals ** 3": lambda a: np.linalg.svdvals(a) ** 3,
    "svd(compute_uv=False), log": lambda a: np.log(np.linalg.svd(a, compute_uv=False)),
    "S of svd(a)": lambda a: np.linalg.svd(a)[1] ** 2,
    "norm 2": lambda a: np.linalg.norm(a, 2, axis=(-2, -1)),
    "norm nuc": lambda a: np.linalg.norm(a, "nuc", axis=(-2, -1)),
    "norm -2": lambda a: np.linalg.norm(a, -2, axis=(-2, -1)),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=list(SHAPES))
@pytest.mark.parametrize("fun", SINGULAR_VALUES)
def test_singular_values_at_second_order(fun, shape):
    # the singular values' rule reads U and Vh, through which their second derivatives flow
    check_grads(SINGULAR_VALUES[fun], _distinct(*shape), order=2)


def test_second_order_of_a_two_dimensional_norm():
    a = _distinct(3, 4)
    check_grads(lambda a: np.linalg.norm(a, 2), a, order=2)
    check_grads(lambda a: np.linalg.norm(a, "nuc") ** 2, a, order=2)


@pytest.mark.parametrize("form", FORMS, ids=[f[0] for f in FORMS])
def test_values_are_numpys(form):
    _, shape, svd_kwargs = form
    a = _distinct(*shape)

    def loss(a):
        out = np.linalg.svd(a, **svd_kwargs)
        return np.sum(np.abs(out.U) ** 2) + np.sum(out.S), out

    _, (u, s, vh) = td.grad(loss, has_aux=True)(a)
    expected = np.linalg.svd(a, **svd_kwargs)
    np.testing.assert_array_equal(u, expected.U)
    np.testing.assert_array_equal(vh, expected.Vh)
    np.testing.assert_array_equal(s, np.linalg.svd(a, compute_uv=False))  # S is its own call (as for real a)


def test_the_reconstruction_depends_on_u_and_vh_together():
    # U diag(s) Vh is blind to the phases, though U's and Vh's parts of it are not: a check of
    # each output alone would refuse it
    a = _distinct(4, 3)
    c, b_right, b_left = _weights(4, 3), _weights(3, 5), _weights(5, 4)
    check_grads(lambda a: (lambda u, s, vh: np.real(np.sum(c * (u * s) @ vh)))(*np.linalg.svd(a, full_matrices=False)),
                a, order=2)
    with pytest.raises(NotImplementedError, match=PHASES):
        td.grad(lambda a: np.real(np.sum(np.linalg.svd(a, full_matrices=False).U @ b_right)))(a)
    with pytest.raises(NotImplementedError, match=PHASES):
        td.grad(lambda a: np.real(np.sum(b_left[:3, :3] @ np.linalg.svd(a, full_matrices=False).Vh)))(a)


def _vectors(a):
    out = np.linalg.svd(a, full_matrices=False)
    return out.U, out.Vh


PHASE_BOUND = {
    "Re U": lambda a: np.sum(np.real(_vectors(a)[0])),
    "Im of a row of Vh": lambda a: np.sum(np.imag(_vectors(a)[1][..., 0, :])),
    "angles of a row of U": lambda a: np.sum(np.angle(_vectors(a)[0][..., 0, :])),
    "u_0 v_0^T (u_0 v_0^H is blind)": lambda a: (lambda u, vh: np.real(np.sum(
        u[..., :, :1] * np.conj(vh[..., :1, :]))))(*_vectors(a)),
    "|U|**2 plus a little Re Vh": lambda a: (lambda u, vh: np.sum(np.abs(u) ** 2 * np.arange(3.0))
                                             + 1e-3 * np.sum(np.real(vh)))(*_vectors(a)),
}


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 4), (2, 3, 3)], ids=["tall", "square", "wide", "stack"])
@pytest.mark.parametrize("loss", PHASE_BOUND)
def test_a_loss_that_depends_on_the_phases_is_an_error(loss, shape):
    with pytest.raises(NotImplementedError, match=PHASES):
        td.grad(PHASE_BOUND[loss])(_distinct(*shape))


def test_one_matrix_of_a_stack_that_depends_on_the_phases_is_enough():
    a = _distinct(3, 4, 3)
    mask = np.array([0.0, 1.0, 0.0])[:, None, None]  # the second matrix's Re U counts

    def loss(a):
        u = np.linalg.svd(a, full_matrices=False).U
        return np.sum(np.abs(u) ** 2 * np.arange(3.0)) + np.sum(np.real(u) * mask)

    with pytest.raises(NotImplementedError, match=PHASES):
        td.grad(loss)(a)


def test_the_check_runs_on_every_call():
    a = _distinct(4, 3)

    def loss(a, w):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(np.abs(u) ** 2 * np.arange(3.0)) + w * np.sum(np.real(vh))

    g = td.grad(loss)
    g(a, 0.0)  # blind here: traced, with the check in the generated code
    source = g.source(a, 0.0)
    assert "GuardFailed" in source and "np.imag(np.diagonal(" in source
    g(a * 1.5, 0.0)  # the same code
    assert g.cache_info().traces == 1
    with pytest.raises(NotImplementedError, match=PHASES):
        g(a, 1.0)  # the check fails, the function is traced again, and the rule says why
    assert g.cache_info().traces == 2


def test_one_decomposition_for_both_vectors_in_the_generated_code():
    a = _distinct(4, 3)
    source = td.grad(lambda a: (lambda u, s, vh: np.sum(np.abs((u * s) @ vh - 1.0) ** 2))(
        *np.linalg.svd(a, full_matrices=False))).source(a)
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    assert code.count("np.linalg.svd(a, full_matrices=False)") == 1, source
    assert "np.concatenate([" in code and ".U, np.swapaxes(" in code, source
    assert code.count("np.linalg.svd(") == 2, source  # and S: np.linalg.svd(a, compute_uv=False)


def test_real_matrices_keep_their_primitives():
    def loss(a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(np.abs((u * s) @ vh) ** 2) + np.sum(np.linalg.svdvals(a) ** 3)

    real = {n.primitive.name for n in td.trace(td.grad(loss), RNG.standard_normal((4, 3))).nodes}
    complex_ = {n.primitive.name for n in td.trace(td.grad(loss), _distinct(4, 3)).nodes}
    assert {"svd_u", "svd_vh"} <= real and "svd_vectors" not in real
    assert "svd_vectors" in complex_ and not {"svd_u", "svd_vh"} & complex_
    assert "concatenate" not in td.grad(loss).source(RNG.standard_normal((4, 3)))


@pytest.mark.parametrize("shape", [(4, 3), (2, 4)], ids=["tall", "wide"])
def test_full_matrices_of_a_non_square_complex_matrix(shape):
    # NumPy's values, and a gradient through S; none through U or Vh, whose extra columns (rows)
    # are an arbitrary basis, and whose phases are checked together only in the reduced form
    a = _distinct(*shape)

    def through_s(a):
        out = np.linalg.svd(a)
        return np.sum(out.S ** 3), out

    _, out = td.grad(through_s, has_aux=True)(a)
    np.testing.assert_array_equal(out.U, np.linalg.svd(a).U)
    np.testing.assert_array_equal(out.Vh, np.linalg.svd(a).Vh)
    check_grads(lambda a: np.linalg.svd(a)[1] ** 3, a, order=2)
    for index in (0, 2):
        with pytest.raises(NotImplementedError, match="full_matrices=False"):
            td.grad(lambda a: np.sum(np.abs(np.linalg.svd(a)[index]) ** 2))(a)


def test_single_precision():
    a = _distinct(4, 3, dtype=np.complex64)
    w = RNG.uniform(0.5, 2.0, (4, 3))

    def loss(a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(np.abs(u) ** 2 * w) + np.sum(np.real((u * s) @ vh) * w)

    g = td.grad(loss)(a)
    assert g.dtype == np.complex64
    check_grads(loss, a, rtol=2e-3, atol=2e-3)
    check_grads(lambda a: np.linalg.svdvals(a) ** 2, a, order=2, rtol=2e-3, atol=2e-3)


def test_a_loop_of_decompositions():
    # a rolled loop: the two statements of the decomposition inside its body
    a, w = _distinct(4, 3), RNG.uniform(0.5, 2.0, (4, 3))

    def loss(a):
        for _ in range(12):
            u, s, vh = np.linalg.svd(a, full_matrices=False)
            a = a + 0.05 * (u * np.sqrt(s)) @ vh
        return np.sum(np.abs(a) ** 2 * w)

    check_grads(loss, a)
    assert "for " in td.grad(loss).source(a)


def test_a_loss_unchanged_by_the_vectors_is_written_with_the_singular_values():
    # |a - a_r|**2, a_r the best rank-r approximation, does not change with the vectors (a_r is
    # optimal): their cotangents are rounding errors, whose phases cannot be told, so the check
    # may refuse it, and says what to write instead, which works
    a = _distinct(4, 3)

    def misfit(a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(np.abs(a - (u[:, :2] * s[:2]) @ vh[:2]) ** 2)

    try:
        check_grads(misfit, a)
    except NotImplementedError as e:
        assert PHASES in str(e) and "rounding errors" in str(e) and "np.sum(s[r:] ** 2)" in str(e)
    check_grads(lambda a: np.sum(np.linalg.svdvals(a)[2:] ** 2), a, order=2)
    np.testing.assert_allclose(td.grad(lambda a: np.sum(np.linalg.svdvals(a)[2:] ** 2))(a),
                               2 * np.conj(a - _rank(a, 2)), rtol=1e-10, atol=1e-12)


def _rank(a, r):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return (u[:, :r] * s[:r]) @ vh[:r]
