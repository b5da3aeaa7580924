"""User-style functions built on products, np.linalg and np.fft, each checked against finite
differences; and second derivatives of every linalg and fft rule case (rules are traced, so a
gradient can itself be differentiated)."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import tracediff as td
from rule_cases import fft as fft_cases
from rule_cases import linalg as linalg_cases
from tracediff.testing import check_grads

RNG = np.random.default_rng(20240501)


def gaussian_log_likelihood(mu, factor, x):
    """log N(x_i | mu, Sigma) summed over the rows of x, Sigma = factor factor.T + 0.5 I."""
    n, d = x.shape
    sigma = factor @ factor.T + 0.5 * np.eye(d)
    _, logdet = np.linalg.slogdet(sigma)
    diff = x - mu
    mahalanobis = np.sum(diff * np.linalg.solve(sigma, diff.T).T)
    return -0.5 * (mahalanobis + n * logdet + n * d * np.log(2 * np.pi))


def ridge_validation_loss(x, y, lam, x_val, y_val):
    """Closed-form ridge regression fitted on (x, y), scored on held-out data."""
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)
    return np.mean((x_val @ w - y_val) ** 2)


def attention(q, k, v):
    """Scaled dot-product attention over a batch, written with einsum."""
    scores = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(q.shape[-1])
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    out = np.einsum("bqk,bkd->bqd", weights, v)
    return np.sum(out * np.linspace(-1.0, 1.0, out.shape[-1]))


def kalman_update(x, p, z, h, r):
    """One predict + update step of a Kalman filter; the loss is a quadratic of the posterior."""
    f = np.array([[1.0, 0.1], [0.0, 1.0]])
    x_pred = f @ x
    p_pred = f @ p @ f.T + 0.01 * np.eye(2)
    s = h @ p_pred @ h.T + r
    gain = p_pred @ h.T @ np.linalg.inv(s)
    x_new = x_pred + gain @ (z - h @ x_pred)
    p_new = (np.eye(2) - gain @ h) @ p_pred
    return np.sum(x_new ** 2) + np.einsum("ii", p_new)


def power_iteration(a, steps=30):
    """The dominant eigenvalue of a symmetric a by power iteration (a Rayleigh quotient)."""
    sym = (a + a.T) / 2
    v = np.ones(a.shape[0])
    for _ in range(steps):
        v = sym @ v
        v = v / np.sqrt(np.sum(v ** 2))
    return v @ sym @ v


def high_frequency_energy(x, cutoff=3):
    """Spectral energy above a cutoff, from the real FFT."""
    power = np.abs(np.fft.rfft(x)) ** 2
    return np.sum(power[cutoff:]) / x.shape[0]


def tikhonov(a, b, lam):
    """Tikhonov-regularized least squares with a first-difference operator, and its objective."""
    n = a.shape[1]
    diff = np.eye(n)[1:] - np.eye(n)[:-1]
    x = np.linalg.solve(a.T @ a + lam * diff.T @ diff, a.T @ b)
    return np.sum((a @ x - b) ** 2) + lam * np.sum((diff @ x) ** 2)


def kernel_log_det(points, length_scale):
    """log det of a squared-exponential kernel matrix (plus noise), through its Cholesky factor."""
    sq = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    k = np.exp(-0.5 * sq / length_scale ** 2) + 0.1 * np.eye(points.shape[0])
    chol = np.linalg.cholesky(k)
    return 2 * np.sum(np.log(np.einsum("ii->i", chol)))


def pca_reconstruction_error(x, k=2):
    """Squared error of the rank-k reconstruction of centered data through its SVD."""
    centered = x - np.mean(x, axis=0)
    u, s, vt = np.linalg.svd(centered, full_matrices=False)
    approx = (u[:, :k] * s[:k]) @ vt[:k]
    return np.sum((centered - approx) ** 2)


def whitening_loss(x):
    """Whiten the data with the eigendecomposition of its covariance; penalize a fixed direction."""
    centered = x - np.mean(x, axis=0)
    cov = centered.T @ centered / x.shape[0] + 0.1 * np.eye(x.shape[1])
    w, v = np.linalg.eigh(cov)
    white = centered @ v / np.sqrt(w)
    return np.sum(white[:, -1] ** 3) + np.sum(np.log(w))


def fft_convolution(signal, kernel):
    """Circular convolution through the real FFT, then a smooth readout."""
    n = signal.shape[0]
    conv = np.fft.irfft(np.fft.rfft(signal) * np.fft.rfft(kernel, n), n)
    return np.sum(np.tanh(conv) * np.arange(n))


def line_fit(t, y):
    """Least-squares line through (t, y), and the squared residual it leaves."""
    design = np.stack([t, np.ones_like(t)], axis=1)
    coef, residuals, rank, s = np.linalg.lstsq(design, y, rcond=None)
    return coef[0] ** 2 + residuals[0]


def orthogonal_procrustes(a, b):
    """The rotation r minimizing |a r - b| (from the SVD of a.T b), and the misfit it leaves."""
    u, _, vt = np.linalg.svd(a.T @ b)
    return np.sum((a @ (u @ vt) - b) ** 2)


def torque_energy(forces, arms):
    """Sum of squared torques r x F over a set of forces."""
    torques = np.cross(arms, forces)
    return np.sum(torques ** 2)


def gaussian_process_mean(x_train, y_train, x_test):
    """Posterior mean of a GP with a squared-exponential kernel, through a solve."""
    def kernel(a, b):
        return np.exp(-0.5 * np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1))

    k = kernel(x_train, x_train) + 0.1 * np.eye(x_train.shape[0])
    alpha = np.linalg.solve(k, y_train)
    return np.sum(kernel(x_test, x_train) @ alpha)


def gram_schmidt_volume(a):
    """log |det a| from the R factor of a QR decomposition."""
    _, r = np.linalg.qr(a)
    return np.sum(np.log(np.abs(np.einsum("ii->i", r))))


def matrix_exponential(a, n=16):
    """exp(a) as (I + a / n)**n, summed with weights."""
    m = np.linalg.matrix_power(np.eye(a.shape[0]) + a / n, n)
    return np.sum(m * np.arange(a.size).reshape(a.shape))


def spectrogram_energy(frames):
    """Log power spectrum of windowed frames (2-D FFT over time and frequency, then a shift)."""
    window = np.hanning(frames.shape[1])
    power = np.abs(np.fft.fftshift(np.fft.fft2(frames * window), axes=1)) ** 2
    return np.sum(np.log(power + 1.0))


def spd(n):
    a = RNG.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


CORPUS = [
    (gaussian_log_likelihood, (RNG.standard_normal(3), RNG.standard_normal((3, 3)), RNG.standard_normal((5, 3))),
     (0, 1, 2)),
    (ridge_validation_loss, (RNG.standard_normal((6, 3)), RNG.standard_normal(6), 0.7,
                             RNG.standard_normal((4, 3)), RNG.standard_normal(4)), (0, 1, 2)),
    (attention, tuple(RNG.standard_normal((2, 3, 4)) for _ in range(3)), (0, 1, 2)),
    (kalman_update, (RNG.standard_normal(2), spd(2), RNG.standard_normal(1), RNG.standard_normal((1, 2)),
                     np.array([[0.5]])), (0, 1, 2, 3, 4)),
    (power_iteration, (np.diag([3.0, 1.0, 0.5]) + 0.2 * RNG.standard_normal((3, 3)),), (0,)),
    (high_frequency_energy, (RNG.standard_normal(12),), (0,)),
    (tikhonov, (RNG.standard_normal((6, 4)), RNG.standard_normal(6), 0.3), (0, 1, 2)),
    (kernel_log_det, (RNG.standard_normal((4, 2)), 1.3), (0, 1)),
    (pca_reconstruction_error, (RNG.standard_normal((6, 4)),), (0,)),
    (whitening_loss, (RNG.standard_normal((8, 3)),), (0,)),
    (fft_convolution, (RNG.standard_normal(8), RNG.standard_normal(3)), (0, 1)),
    (line_fit, (np.linspace(0.0, 1.0, 6), RNG.standard_normal(6)), (0, 1)),
    (orthogonal_procrustes, (RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3))), (0, 1)),
    (torque_energy, (RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))), (0, 1)),
    (gaussian_process_mean, (RNG.standard_normal((4, 2)), RNG.standard_normal(4), RNG.standard_normal((3, 2))),
     (0, 1, 2)),
    (gram_schmidt_volume, (RNG.standard_normal((3, 3)) + 2 * np.eye(3),), (0,)),
    (matrix_exponential, (0.3 * RNG.standard_normal((3, 3)),), (0,)),
    (spectrogram_energy, (RNG.standard_normal((3, 8)),), (0,)),
]


@pytest.mark.parametrize("fun, args, argnums", CORPUS, ids=[f.__name__ for f, _, _ in CORPUS])
def test_corpus(fun, args, argnums):
    check_grads(fun, *args, argnums=argnums)
    # and through td.grad, whose generated code runs on plain arrays
    grads = td.grad(fun, argnums=argnums)(*args)
    for n, g in zip(argnums, grads):
        assert np.shape(g) == np.shape(args[n])


def test_generated_code_is_plain_numpy():
    source = td.grad(gaussian_log_likelihood, argnums=1).source(*CORPUS[0][1])
    assert "np.linalg.slogdet(" in source and "np.linalg.solve(" in source
    assert "tracediff" not in source.split("\n", 1)[1]  # only the title line names tracediff
    source = td.grad(high_frequency_energy).source(*CORPUS[5][1])
    assert "np.fft.rfft(x)" in source and "np.fft.fft(" in source


def test_one_decomposition_serves_forward_and_backward():
    # The backward pass of eigh's vectors needs the eigenvalues: bound again, and merged with the
    # user's own call by common-subexpression elimination.
    source = td.grad(whitening_loss).source(*CORPUS[9][1])
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))
    assert code.count("np.linalg.eigvalsh(") == 1 and code.count("np.linalg.eigh(") == 1


def test_gradient_of_a_real_input_through_complex_values_is_real():
    x = RNG.standard_normal(8).astype(np.float32)
    g = td.grad(high_frequency_energy)(x)
    assert g.dtype == np.float32


def test_full_matrices_u_of_a_non_square_matrix_has_no_gradient():
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        td.grad(lambda a: np.sum(np.linalg.svd(a)[0]))(RNG.standard_normal((4, 3)))
    # the singular values and the square factor are fine
    td.grad(lambda a: np.sum(np.linalg.svd(a)[1]) + np.sum(np.linalg.svd(a)[2] ** 3))(RNG.standard_normal((4, 3)))


def test_lstsq_returns_numpys_four_results():
    a, b = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    expected = np.linalg.lstsq(a, b, rcond=None)
    got = td.value_and_grad(lambda a: np.linalg.lstsq(a, b, rcond=None)[0][0])(a)[0]
    np.testing.assert_allclose(got, expected[0][0])
    graph = td.trace(lambda a: np.linalg.lstsq(a, b, rcond=None), a)
    assert {"lstsq", "lstsq_residuals", "lstsq_rank", "svdvals"} <= {n.primitive.name for n in graph.nodes}


def test_einsum_matches_numpy_on_every_calling_convention():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    c = RNG.standard_normal((5, 1, 2, 3))
    for fun in (lambda a, b, c: np.einsum("ij,jk", a, b), lambda a, b, c: np.einsum("...ij,jk", c, b),
                lambda a, b, c: np.einsum(a, [0, 1], b, [1, 2]), lambda a, b, c: np.einsum("ij,ij->", a, a),
                lambda a, b, c: np.einsum("...jk->...j", c), lambda a, b, c: np.einsum("Ab,bC", a, b)):
        value, _ = td.value_and_grad(lambda a, b, c: np.sum(fun(a, b, c) ** 2), argnums=(0, 1, 2))(a, b, c)
        np.testing.assert_allclose(value, np.sum(fun(a, b, c) ** 2))


# --- second derivatives: the gradient of each rule case's gradient ---------------------------

# The first case of each primitive, and the variants whose rules take other paths
VARIANTS = {"ii->i (diagonal)", "...ij,...jk broadcast", "axes=([1, 0], [0, 2])", "upper=True", "UPLO='U'",
            "wide, reduced", "wide", "stack", "n cuts the input, norm='forward'", "n pads, norm='ortho'"}
SECOND_ORDER = [c for i, c in enumerate(linalg_cases.CASES + fft_cases.CASES)
                if c.label in VARIANTS or c.prim not in {d.prim for d in (linalg_cases.CASES + fft_cases.CASES)[:i]}]


@pytest.mark.parametrize("case", SECOND_ORDER, ids=[f"{c.prim}: {c.label}" for c in SECOND_ORDER])
def test_second_order(case):
    rng = np.random.default_rng(zlib.crc32(case.label.encode()))
    args = case.args(lambda *shape: rng.uniform(-2.0, 2.0, shape))
    w = rng.standard_normal(np.shape(case.fun(*args)))
    first = case.argnums[0]
    gradient = td.grad(lambda *xs: np.sum(case.fun(*xs) * w), argnums=first)
    check_grads(gradient, *args, argnums=case.argnums)
