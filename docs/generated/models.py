"""The functions whose generated gradients docs/reading-generated-code.md shows.

tests/test_golden.py generates each gradient and compares it with the file beside this one
(``quickstart_loss.py``, ...). After an intended change to the generated code, regenerate them:
``TRACEDIFF_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``.
"""
import numpy as np


def loss(w, X, y):  # the quickstart: least squares
    residual = X @ w - y
    return np.mean(residual ** 2)


def sse(a, b):  # seed 5: the SSE surface of two parameters
    return (2 - a - b) ** 2 + (4 - 3 * a - b) ** 2


def mean_out(x):  # seed 1: y = x + 2; z = y * y * 3; out = z.mean()
    y = x + 2
    z = y * y * 3
    out = z.mean()
    return out


def bce_network(w, b, x, y):  # seed 4: one layer and binary cross-entropy with logits
    z = x @ w + b
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return np.mean(loss)


def mlp(params, x, y):  # a 2-layer perceptron with a squared-error loss
    h = np.tanh(x @ params["w1"] + params["b1"])
    pred = h @ params["w2"] + params["b2"]
    return np.mean((pred - y) ** 2)


def cases():
    """name -> (function, argnums, arguments): what the golden files hold."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    params = {"w1": rng.standard_normal((4, 8)) * 0.5, "b1": np.zeros(8),
              "w2": rng.standard_normal((8, 1)) * 0.5, "b2": np.zeros(1)}
    return {
        "quickstart_loss": (loss, 0, (np.zeros((3, 1)), X, X @ np.array([[1.0], [-2.0], [0.5]]))),
        "sse": (sse, (0, 1), (0.0, 0.0)),
        "mean_out": (mean_out, 0, (np.ones((2, 2)),)),
        "bce_network": (bce_network, (0, 1), (rng.standard_normal((5, 3)), rng.standard_normal(3),
                                              np.ones(5), np.zeros(3))),
        "mlp": (mlp, 0, (params, rng.standard_normal((32, 4)), rng.standard_normal((32, 1)))),
    }
