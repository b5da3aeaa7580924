"""Logistic regression, trained by gradient descent with a tracediff gradient.

The data are made here (no download): two overlapping Gaussian clouds in 5 dimensions, 600
points, of which 150 are held out. The model is p(y=1 | x) = sigmoid(x @ w + b); the loss is the
mean binary cross-entropy (in its stable form, from the logits) plus a small L2 penalty on w.
The parameters are one dict, so the gradient is a dict of the same shape.

Run it:   python examples/logistic_regression.py [plot.png]
The loss curve is saved as PNG when matplotlib is installed (pip install -e '.[examples]');
otherwise the example says the plot was skipped.
"""
import sys
import time

import numpy as np

import tracediff as td


def make_data(n=600, dim=5, seed=0):
    """Two Gaussian clouds, one per class, whose means are 2.5 apart: not perfectly separable."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float64)
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    X = rng.standard_normal((n, dim)) + np.outer(2 * y - 1, 1.25 * direction)
    return X, y


def loss(params, X, y, l2=1e-3):
    """Mean binary cross-entropy of the logits z = X @ w + b, plus l2 * |w|^2."""
    z = X @ params["w"] + params["b"]
    # max(z, 0) + log1p(exp(-|z|)) is softplus(z), written so that exp never overflows;
    # tracediff differentiates the pair as one, into sigmoid(z) (docs/performance.md).
    cross_entropy = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return cross_entropy + l2 * np.sum(params["w"] ** 2)


def predict(params, X):
    return (X @ params["w"] + params["b"] > 0).astype(np.float64)


def accuracy(params, X, y):
    return float(np.mean(predict(params, X) == y))


def plot_losses(losses, path, title):
    """Save loss against step as a PNG; return the path, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only, no window
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plot skipped (pip install matplotlib)")
        return None
    fig, ax = plt.subplots()
    ax.plot(range(len(losses)), losses)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    fig.savefig(path)
    plt.close(fig)
    print("loss curve saved to", path)
    return str(path)


def main(plot_path="logistic_regression_loss.png", steps=300, lr=0.5, seed=0):
    X, y = make_data(seed=seed)
    X_train, y_train, X_test, y_test = X[:450], y[:450], X[450:], y[450:]
    params = {"w": np.zeros(X.shape[1]), "b": 0.0}

    loss_and_grad = td.value_and_grad(loss)
    print("The generated gradient (traced on the first call, then cached):")
    print(loss_and_grad.source(params, X_train, y_train))

    start = time.perf_counter()
    losses = []
    for step in range(steps):
        value, grads = loss_and_grad(params, X_train, y_train)
        params = {k: params[k] - lr * grads[k] for k in params}  # gradients have params' structure
        losses.append(float(value))
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {value:.4f}  train accuracy {accuracy(params, X_train, y_train):.3f}")
    seconds = time.perf_counter() - start

    train_accuracy = accuracy(params, X_train, y_train)
    test_accuracy = accuracy(params, X_test, y_test)
    print(f"trained in {seconds:.2f} s ({loss_and_grad.cache_info().traces} trace, {steps} steps)")
    print(f"final loss {losses[-1]:.4f}; accuracy: train {train_accuracy:.3f}, held out {test_accuracy:.3f}")
    plot = plot_losses(losses, plot_path, "logistic regression")
    return {"losses": losses, "params": params, "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy, "traces": loss_and_grad.cache_info().traces, "plot": plot,
            "explain": loss_and_grad.explain()}


if __name__ == "__main__":
    main(*sys.argv[1:2])
