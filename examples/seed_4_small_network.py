"""Seed section 4: a one-layer network with a logistic loss, and a frozen linear layer.

Parameters are ordinary arguments; argnums says which ones get gradients. A frozen layer's weights
are constants of the function (here: closed over), so no gradient is computed for them at all.
"""
import numpy as np

import tracediff as td


def binary_cross_entropy_with_logits(z, y):
    """Mean over the outputs, in the numerically stable form."""
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def network_loss(w, b, x, y):
    z = x @ w + b
    return binary_cross_entropy_with_logits(z, y)


W = np.ones((2, 2))  # the frozen layer M(a) = W a + bias
bias = np.ones(2)


def M(a):
    return W @ a + bias


def frozen_layer_sum(a, b):
    c = M(a)
    c2 = M(b)  # computed, but not on the path to the output
    d = c * 2
    return np.sum(d)


def main(seed=0):
    rng = np.random.default_rng(seed)
    x, y = np.ones(5), np.zeros(3)
    w, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    loss_and_grads = td.value_and_grad(network_loss, argnums=(0, 1))
    loss, (dw, db) = loss_and_grads(w, b, x, y)
    z = x @ w + b
    dz = td.grad(binary_cross_entropy_with_logits)(z, y)
    print("z = x @ w + b =", z)
    print("loss = binary_cross_entropy_with_logits(z, y) =", loss)
    print("dloss/dz =", dz, "  (sigmoid(z) - y) / 3 =", (1 / (1 + np.exp(-z)) - y) / 3)
    print("dloss/db =", db)
    print("dloss/dw =")
    print(dw)
    print(td.trace(network_loss, w, b, x, y))
    print(loss_and_grads.source(w, b, x, y))

    a, b2 = np.array([1.0, 2.0]), np.array([13.0, 32.0])
    d_da = td.grad(frozen_layer_sum)(a, b2)  # argnums=0: only a; W and bias are constants
    print("frozen layer M(a) = W a + bias, W and bias all ones:  d sum(2 M(a)) / da =", d_da)
    print("b and W get no gradient: only a was asked for (argnums=0), and W, bias are constants")
    _, d_db = td.grad(frozen_layer_sum, argnums=(0, 1))(a, b2)
    print("asked for anyway (argnums=(0, 1)), b's gradient is", d_db, "as b is not on the path to the output")
    print(td.trace(frozen_layer_sum, a, b2))
    print(td.grad(frozen_layer_sum).source(a, b2))

    return {"w": w, "b": b, "x": x, "y": y, "z": z, "loss": loss, "dz": dz, "dw": dw, "db": db,
            "frozen_d_da": d_da, "frozen_d_db": d_db}


if __name__ == "__main__":
    main()
