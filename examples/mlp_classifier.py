"""A small multi-layer perceptron classifying three interleaved spirals, trained with tracediff.

The data are made here (no download): 3 spiral arms of 100 points each in the plane, with noise.
No straight line separates them, so logistic regression fails; one hidden layer of 64 tanh units
gets nearly all points right. The loss is softmax cross-entropy (computed from log-softmax, which
is stable) plus a small L2 penalty. Parameters are a dict of arrays, updated with momentum.

Run it:   python examples/mlp_classifier.py [plot.png]
The loss curve is saved as PNG when matplotlib is installed (pip install -e '.[examples]');
otherwise the example says the plot was skipped.
"""
import sys
import time

import numpy as np

import tracediff as td


def make_spirals(points_per_class=100, classes=3, noise=0.2, seed=0):
    """Points on `classes` spiral arms; labels are integers 0 .. classes-1."""
    rng = np.random.default_rng(seed)
    X, labels = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), points_per_class) + noise * rng.standard_normal(points_per_class)
        X.append(np.column_stack([r * np.sin(angle), r * np.cos(angle)]))
        labels.append(np.full(points_per_class, k))
    return np.concatenate(X), np.concatenate(labels)


def init_params(hidden=64, inputs=2, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((inputs, hidden)) / np.sqrt(inputs),
        "b1": np.zeros(hidden),
        "W2": rng.standard_normal((hidden, classes)) / np.sqrt(hidden),
        "b2": np.zeros(classes),
    }


def logits(params, X):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return h @ params["W2"] + params["b2"]


def loss(params, X, Y, l2=1e-4):
    """Mean softmax cross-entropy; Y is one-hot (n, classes)."""
    z = logits(params, X)
    # A stable log-softmax: the shift by the max cancels, so tracediff gives it no gradient
    # (no tie mask in the generated code; docs/performance.md, "Stable idioms").
    z = z - np.max(z, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    penalty = l2 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    return -np.mean(np.sum(Y * log_p, axis=1)) + penalty


def accuracy(params, X, labels):
    return float(np.mean(np.argmax(logits(params, X), axis=1) == labels))


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
    ax.set_yscale("log")
    ax.set_title(title)
    fig.savefig(path)
    plt.close(fig)
    print("loss curve saved to", path)
    return str(path)


def main(plot_path="mlp_classifier_loss.png", steps=600, lr=0.5, momentum=0.9, seed=0):
    X, labels = make_spirals(seed=seed)
    Y = np.eye(3)[labels]                                            # one-hot targets
    params = init_params(seed=seed)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}

    loss_and_grad = td.value_and_grad(loss)
    print("The generated gradient (traced on the first call, then cached):")
    print(loss_and_grad.source(params, X, Y))

    start = time.perf_counter()
    losses = []
    for step in range(steps):
        value, grads = loss_and_grad(params, X, Y)
        for k in params:                                              # gradient descent with momentum
            velocity[k] = momentum * velocity[k] - lr * grads[k]
            params[k] = params[k] + velocity[k]
        losses.append(float(value))
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {value:.4f}  accuracy {accuracy(params, X, labels):.3f}")
    seconds = time.perf_counter() - start

    train_accuracy = accuracy(params, X, labels)
    X_new, labels_new = make_spirals(seed=seed + 1)                  # the same arms, fresh noise
    test_accuracy = accuracy(params, X_new, labels_new)
    print(f"trained in {seconds:.2f} s ({loss_and_grad.cache_info().traces} trace, {steps} steps)")
    print(f"final loss {losses[-1]:.4f}; accuracy: train {train_accuracy:.3f}, fresh points {test_accuracy:.3f}")
    plot = plot_losses(losses, plot_path, "MLP on three spirals")
    return {"losses": losses, "params": params, "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy, "traces": loss_and_grad.cache_info().traces, "plot": plot}


if __name__ == "__main__":
    main(*sys.argv[1:2])
