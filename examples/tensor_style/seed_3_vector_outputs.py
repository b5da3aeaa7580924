"""Seed section 3, tensor style: vector outputs, backward(v) and accumulating gradients."""
import numpy as np

import tracediff as td


def main():
    r = {}
    x = td.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = 2 * x
    z = y.reshape(2, 2)
    v = td.tensor([[1.0, 0.1], [0.01, 0.001]])
    try:
        z.backward()
    except RuntimeError as error:
        print("z.backward() on a non-scalar:", error)
    print(z.backward_source(v))
    z.backward(v)
    print("v^T J =", x.grad)
    r.update(z=z.numpy(), vjp=x.grad.numpy())

    inp = td.tensor(np.eye(5), requires_grad=True)
    out = (inp + 1) ** 2
    out.backward(td.tensor(np.ones((5, 5))), retain_graph=True)
    print("first backward:\n", inp.grad)
    r["eye_vjp_first"] = inp.grad.numpy().copy()
    out.backward(td.tensor(np.ones((5, 5))), retain_graph=True)
    print("second backward (gradients accumulate):\n", inp.grad)
    r["eye_vjp_sum"] = inp.grad.numpy().copy()
    inp.grad.zero_()
    out.backward(td.tensor(np.ones((5, 5))))
    print("after inp.grad.zero_(), a third backward:\n", inp.grad)
    r["eye_vjp_after_zero"] = inp.grad.numpy().copy()
    try:
        out.backward(td.tensor(np.ones((5, 5))))
    except RuntimeError as error:
        print("a fourth backward without retain_graph=True the time before:", error)
        r["freed_error"] = str(error)
    r["cache"] = td.autograd.cache_info()
    print("generated backward functions:", r["cache"])
    return r


if __name__ == "__main__":
    main()
