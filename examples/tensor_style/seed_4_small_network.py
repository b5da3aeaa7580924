"""Seed section 4, tensor style: a one-layer network with a logistic loss, and a frozen layer."""
import numpy as np

import tracediff as td


def binary_cross_entropy_with_logits(z, y):
    """Mean over the outputs, in the numerically stable form (NumPy functions on tensors)."""
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def main(seed=0):
    rng = np.random.default_rng(seed)
    x = td.tensor(np.ones(5))
    y = td.tensor(np.zeros(3))
    w = td.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    b = td.tensor(rng.standard_normal(3), requires_grad=True)
    z = x @ w + b
    z.retain_grad()
    loss = binary_cross_entropy_with_logits(z, y)
    print("z =", z, "\nloss =", loss)
    print("z.grad_fn =", z.grad_fn, " loss.grad_fn =", loss.grad_fn)
    print(loss.backward_source())
    loss.backward()
    sigmoid = 1 / (1 + np.exp(-z.numpy()))
    print("dloss/dz =", z.grad, "  (sigmoid(z) - y) / 3 =", (sigmoid - y.numpy()) / 3)
    print("dloss/db =", b.grad)
    print("dloss/dw =", w.grad)
    r = {"x": x.numpy(), "y": y.numpy(), "w": w.numpy(), "b": b.numpy(), "z": z.numpy(),
         "loss": loss.item(), "dz": z.grad.numpy(), "dw": w.grad.numpy(), "db": b.grad.numpy()}

    W = td.tensor(np.ones((2, 2)))  # the frozen layer M(a) = W a + bias: no requires_grad
    bias = td.tensor(np.ones(2))

    def M(v):
        return W @ v + bias

    a = td.tensor([1.0, 2.0], requires_grad=True)
    b2 = td.tensor([13.0, 32.0], requires_grad=True)
    c = M(a)
    c2 = M(b2)  # computed, not on the path to the output
    d = c * 2
    np.sum(d).backward()
    print("frozen layer: d sum(2 M(a)) / da =", a.grad, "; b.grad =", b2.grad, "; W.grad =", W.grad)
    r.update(frozen_d_da=a.grad.numpy(), frozen_b_grad=b2.grad, frozen_W_grad=W.grad, c2=c2.numpy())
    return r


if __name__ == "__main__":
    main()
