"""A training loop written the way autograd's users write it, run with tracediff unchanged.

A small neural network classifies points of two interleaved spirals. The objective takes the
parameters (a list of (W, b) pairs) and the iteration number, as autograd's optimizers call it:
the number picks the minibatch (a slice of the shuffled data, read from a global) and sets the
weight of the prior (a warm-up); a SciPy normal prior is used as written, and an array is built
from traced values with ``np.array([...])``. ``td.adam`` calls the gradient with the step number
at every step; since Python ints are runtime values of the generated code, and the slice of the
global data is taken by the generated code, the whole run traces once.

Run it:   python examples/training_loop_as_written.py      (needs SciPy: pip install scipy)
"""
import numpy as np
import scipy.stats

import tracediff as td


def make_spirals(n_per_class=100, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n_per_class)) * 3 * np.pi
    arm = np.column_stack([t * np.cos(t), t * np.sin(t)]) / (3 * np.pi)
    X = np.vstack([arm, -arm]) + noise / (3 * np.pi) * rng.standard_normal((2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)])
    return X, y


def init_params(sizes, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((m, n)) / np.sqrt(m), np.zeros(n)) for m, n in zip(sizes[:-1], sizes[1:])]


def predict(params, X):
    h = X
    for W, b in params[:-1]:
        h = np.tanh(h @ W + b)
    W, b = params[-1]
    return (h @ W + b)[:, 0]  # logits


X, y = make_spirals()
shuffled = np.random.default_rng(2).permutation(len(X))
X_train, y_train = X[shuffled], y[shuffled]
BATCH = 100  # two minibatches of the 200 points


def data_loss(params, X=X, y=y):
    logits = predict(params, X)
    return np.mean(np.logaddexp(0.0, logits) - y * logits)  # binary cross-entropy, from logits


def objective(params, i):
    start = (i % (len(X_train) // BATCH)) * BATCH  # the step number picks the minibatch
    batch = slice(start, start + BATCH)
    nll = data_loss(params, X_train[batch], y_train[batch])
    log_prior = sum(np.sum(scipy.stats.norm.logpdf(W, 0.0, 3.0)) for W, _ in params)
    warm_up = 1.0 - 0.5 ** (i / 50 + 1)  # the prior's weight grows with the step number
    terms = np.array([nll, -log_prior / len(X)])  # an array built from traced values
    return terms @ np.array([1.0, warm_up])


def main():
    params = init_params([2, 24, 24, 1])
    gradient = td.grad(objective)
    losses = []

    def record(params, i, g):
        losses.append(float(data_loss(params)))
        if i % 100 == 0:
            print(f"step {i:4d}  cross-entropy {losses[-1]:.4f}")

    trained = td.adam(gradient, params, callback=record, num_iters=600, step_size=0.02)
    accuracy = float(np.mean((predict(trained, X) > 0) == y))
    print(f"accuracy on the training points: {accuracy:.3f}")
    print(f"traces for 600 steps: {gradient.cache_info().traces}")
    print(gradient.source(params, 0))
    return {"losses": losses, "accuracy": accuracy, "cache": gradient.cache_info(),
            "params": params, "trained": trained}


if __name__ == "__main__":
    main()
