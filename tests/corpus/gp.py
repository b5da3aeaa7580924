"""Gaussian process regression: kernel hyperparameters fitted by the log marginal likelihood,
through a Cholesky factor (NumPy's, and SciPy's cho_factor / cho_solve with an ARD kernel)."""
import numpy as np
import scipy.linalg

from . import Program, program


def sq_distances(X, Z, lengthscales=1.0):
    X, Z = X / lengthscales, Z / lengthscales
    return np.sum(X ** 2, axis=1)[:, None] + np.sum(Z ** 2, axis=1)[None, :] - 2 * X @ Z.T


@program
def make_gp_regression():
    rng = np.random.default_rng(90)
    X = np.sort(rng.uniform(-3, 3, 25))[:, None]
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 0] + 0.1 * rng.normal(size=25)
    jitter = 1e-6

    def kernel_matrix(params, X):
        log_lengthscale, log_signal, log_noise = params
        K = np.exp(2 * log_signal) * np.exp(-0.5 * sq_distances(X, X) / np.exp(2 * log_lengthscale))
        return K + (np.exp(2 * log_noise) + jitter) * np.eye(len(X))

    def neg_log_marginal_likelihood(params, X, y):
        L = np.linalg.cholesky(kernel_matrix(params, X))
        alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
        return 0.5 * y @ alpha + np.sum(np.log(np.diag(L))) + 0.5 * len(y) * np.log(2 * np.pi)

    def hand_grad(params, X, y):
        log_lengthscale, log_signal, log_noise = params
        K = kernel_matrix(params, X)
        K_inv = np.linalg.inv(K)
        alpha = K_inv @ y
        inner = 0.5 * (K_inv - np.outer(alpha, alpha))  # dNLML = tr(inner @ dK)
        signal_part = np.exp(2 * log_signal) * np.exp(-0.5 * sq_distances(X, X) / np.exp(2 * log_lengthscale))
        dK = [signal_part * sq_distances(X, X) / np.exp(2 * log_lengthscale), 2 * signal_part,
              2 * np.exp(2 * log_noise) * np.eye(len(X))]
        return np.array([np.sum(inner * d) for d in dK])

    return Program(neg_log_marginal_likelihood, np.array([0.5, 0.0, -1.0]), (X, y), step_size=0.05,
                   hand_grad=hand_grad)


@program
def make_gp_ard():
    rng = np.random.default_rng(91)
    X = rng.uniform(-2, 2, (30, 3))
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.05 * rng.normal(size=30)  # the third input is irrelevant

    def objective(hyper, i):
        lengthscales = np.exp(hyper["log_lengthscales"])
        K = np.exp(2 * hyper["log_amplitude"]) * np.exp(-0.5 * sq_distances(X, X, lengthscales))
        K = K + np.exp(2 * hyper["log_noise"]) * np.eye(len(y))
        factor = scipy.linalg.cho_factor(K, lower=True)
        alpha = scipy.linalg.cho_solve(factor, y)
        return 0.5 * y @ alpha + np.sum(np.log(np.diag(factor[0]))) + 0.5 * len(y) * np.log(2 * np.pi)

    hyper = {"log_lengthscales": np.zeros(3), "log_amplitude": 0.0, "log_noise": np.log(0.3)}
    return Program(objective, hyper, takes_step=True, step_size=0.05)
