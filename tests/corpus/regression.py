"""Generalized linear models and penalized regression: logistic, Poisson, probit, softmax, Huber,
ridge and elastic net."""
import numpy as np
from scipy import stats
from scipy.special import expit, logsumexp

from . import Program, program


def design_matrix(rng, n, d):
    X = rng.normal(size=(n, d))
    X[:, 0] = 1.0  # an intercept column
    return X


@program
def make_logistic_regression():
    rng = np.random.default_rng(40)
    X = design_matrix(rng, 100, 4)
    true_w = np.array([-0.5, 2.0, -1.0, 0.5])
    y = (rng.random(100) < expit(X @ true_w)).astype(float)
    l2 = 0.01

    def neg_log_likelihood(params, X, y):
        z = X @ params["w"] + params["b"]
        return np.mean(np.logaddexp(0, z) - y * z) + l2 * np.sum(params["w"] ** 2)

    def hand_grad(params, X, y):
        dz = (expit(X @ params["w"] + params["b"]) - y) / len(y)
        return {"b": float(np.sum(dz)), "w": X.T @ dz + 2 * l2 * params["w"]}

    return Program(neg_log_likelihood, {"w": np.zeros(4), "b": 0.0}, (X, y), step_size=0.1, hand_grad=hand_grad)


@program
def make_poisson_regression():
    rng = np.random.default_rng(41)
    exposure = rng.uniform(0.5, 2.0, 80)
    X = design_matrix(rng, 80, 3)
    counts = rng.poisson(exposure * np.exp(X @ np.array([0.3, 0.8, -0.4])))

    def objective(beta):
        rate = exposure * np.exp(X @ beta)
        return -np.sum(stats.poisson.logpmf(counts, rate)) / len(counts)

    return Program(objective, np.zeros(3), step_size=0.1)


@program
def make_probit_regression():
    rng = np.random.default_rng(42)
    X = design_matrix(rng, 90, 3)
    latent = X @ np.array([0.2, -1.0, 1.5]) + rng.normal(size=90)
    y = (latent > 0).astype(int)
    sign = 2 * y - 1

    def neg_log_likelihood(beta, X, sign):
        return -np.mean(stats.norm.logcdf(sign * (X @ beta)))

    return Program(neg_log_likelihood, np.zeros(3), (X, sign), step_size=0.1)


@program
def make_softmax_regression():
    rng = np.random.default_rng(43)
    n, d, classes = 120, 5, 4
    centers = rng.normal(0, 2, (classes, d))
    labels = rng.integers(0, classes, n)
    X = centers[labels] + rng.normal(size=(n, d))
    l2 = 1e-2

    def loss(W, b, X, labels):
        logits = X @ W + b
        log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
        return -np.mean(log_probs[np.arange(len(labels)), labels]) + 0.5 * l2 * np.sum(W * W)

    def objective(params, X, labels):
        return loss(params[0], params[1], X, labels)

    def hand_grad(params, X, labels):
        W, b = params
        logits = X @ W + b
        probs = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        probs[np.arange(len(labels)), labels] -= 1
        probs /= len(labels)
        return [X.T @ probs + l2 * W, probs.sum(axis=0)]

    return Program(objective, [np.zeros((d, classes)), np.zeros(classes)], (X, labels), step_size=0.1,
                   hand_grad=hand_grad)


@program
def make_huber_regression():
    rng = np.random.default_rng(44)
    x = rng.uniform(-3, 3, 60)
    y = 1.5 * x - 0.5 + 0.3 * rng.normal(size=60)
    outliers = rng.choice(60, 6, replace=False)
    y[outliers] += rng.choice([-8.0, 8.0], 6)

    def huber(r, delta=1.0):
        return np.where(np.abs(r) <= delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta))

    def objective(params, i):
        slope, intercept = params
        return np.mean(huber(y - (slope * x + intercept)))

    return Program(objective, np.array([0.0, 0.0]), takes_step=True, step_size=0.2)


@program
def make_ridge():
    rng = np.random.default_rng(45)
    X = rng.normal(size=(50, 8))
    X[:, 1] = X[:, 0] + 0.01 * rng.normal(size=50)  # nearly collinear columns: why ridge
    y = X @ rng.normal(size=8) + 0.1 * rng.normal(size=50)
    alpha = 0.5

    def ridge_loss(w, X, y):
        residual = y - X @ w
        return 0.5 * residual @ residual / len(y) + 0.5 * alpha * w @ w

    def hand_grad(w, X, y):
        return -X.T @ (y - X @ w) / len(y) + alpha * w

    return Program(ridge_loss, np.zeros(8), (X, y), step_size=0.1, hand_grad=hand_grad)


@program
def make_elastic_net():
    rng = np.random.default_rng(46)
    X = rng.normal(size=(60, 10))
    true_w = np.zeros(10)
    true_w[[1, 4, 7]] = [2.0, -1.5, 1.0]
    y = X @ true_w + 0.1 * rng.normal(size=60)
    l1_ratio, alpha = 0.7, 0.1

    def objective(w, i):
        mse = 0.5 * np.mean((y - X @ w) ** 2)
        penalty = alpha * (l1_ratio * np.sum(np.abs(w)) + 0.5 * (1 - l1_ratio) * np.sum(w ** 2))
        return mse + penalty

    w0 = np.random.default_rng(47).normal(0, 0.5, 10)  # away from 0, where |w| has its kink
    return Program(objective, w0, takes_step=True, step_size=0.05)


sgd_rng = np.random.default_rng(48)  # draws the minibatches


@program
def make_minibatch_least_squares():
    rng = np.random.default_rng(49)
    n, d, batch_size = 500, 6, 32
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.2 * rng.normal(size=n)

    def objective(w, i):
        rows = sgd_rng.integers(0, n, size=batch_size)
        return np.mean((X[rows] @ w - y[rows]) ** 2)

    return Program(objective, np.zeros(d), takes_step=True, step_size=0.1, random_state=sgd_rng,
                   evaluate=lambda w: np.mean((X @ w - y) ** 2))
