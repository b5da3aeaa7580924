"""Seed section 2: stopping gradient flow with `with td.no_grad():` and td.detach.

Values computed inside a no_grad block, and detached values, are constants of the backward pass.
PyTorch's `x.data *= 100` (changing data without recording it) has no special form here: a
functional gradient is computed from the arguments of each call, and updates to data happen
outside any graph.
"""
import numpy as np

import tracediff as td


def with_no_grad(x):
    y1 = x ** 2
    with td.no_grad():
        y2 = x ** 3
    y3 = y1 + y2
    return y3


def with_detach(x):
    y = x ** 2
    y1 = td.detach(y)
    z = y1 * 3
    return z + x


def doubled_sum(x):
    y = 2 * x
    return np.sum(y)  # backward with ones: the gradient of each y_i


def main():
    x = 1.0
    y3, dy3_dx = td.value_and_grad(with_no_grad)(x)
    print("y1 = x**2; with no_grad: y2 = x**3; y3 = y1 + y2   at x = 1")
    print("y3 =", y3, "  dy3/dx =", dy3_dx, "(the no_grad block is not differentiated)")
    graph = td.trace(with_no_grad, x)
    print(graph)
    constants = [n.out.name for n in graph.nodes if not n.out.requires_grad]
    print("constants of the backward pass:", constants)
    print(td.grad(with_no_grad).source(x))

    x2 = 2.0
    dz_dx = td.grad(with_detach)(x2)
    print("y = x**2; y1 = detach(y); z = 3*y1 + x   at x = 2:  dz/dx =", dz_dx, "(only the + x term)")
    print(td.trace(with_detach, x2))
    print(td.grad(with_detach).source(x2))

    xs = np.array([1.0, 2.0, 3.0])
    grad_y = td.grad(doubled_sum)
    before = grad_y(xs)
    xs *= 100  # PyTorch: x.data *= 100
    after = grad_y(xs)
    print("y = 2*x: gradient", before, "; after x *= 100 the gradient is still", after)

    return {"y3": y3, "dy3_dx": dy3_dx, "no_grad_constants": constants, "detach_dz_dx": dz_dx,
            "grad_before_data_update": before, "grad_after_data_update": after}


if __name__ == "__main__":
    main()
