"""Seed section 1: differentiable values, the graph, leaves.

PyTorch marks x with requires_grad=True and walks z.grad_fn backwards. tracediff traces the
function instead: print(td.trace(f, x)) is the graph (one line per operation, each with the line
of code that made it), and td.grad(f) is the generated NumPy code that differentiates it.
"""
import numpy as np

import tracediff as td


def z_of_x(x):  # PyTorch prints y.grad_fn = PowBackward0, z.grad_fn = AddBackward0
    y = x ** 2
    z = y + 1
    return z


def square(v):
    return v ** 2


def z_of_y(y):  # the intermediate y as an input: its gradient is PyTorch's y.retain_grad()
    return square(y)


def z_of_x_through_y(x):  # y = x**2; z = y**2
    return z_of_y(square(x))


def detached(x):  # y_leaf is a new leaf: a constant holding y's value
    y = x ** 2
    y_leaf = td.detach(y)
    return y_leaf + x


def mean_out(x):
    y = x + 2
    z = y * y * 3
    out = z.mean()
    return out


def describe(graph):
    """Which values of a traced graph are leaves (inputs) and which were computed, and by what."""
    lines = [f"  leaf      {v!r} ({name}), differentiable" for v, name in zip(graph.inputs, graph.input_names)]
    for node in graph.nodes:
        kind = "differentiable" if node.out.requires_grad else "constant"
        lines.append(f"  computed  {node.out!r} ({node.out.name or '-'}) by {node.primitive.name}, {kind}")
    return "\n".join(lines)


def main():
    x = 1.0
    z, dz_dx = td.value_and_grad(z_of_x)(x)
    print("x = 1.0;  y = x**2;  z = y + 1")
    print("z =", z, "  dz/dx =", dz_dx)
    graph = td.trace(z_of_x, x)
    print("The graph (each value remembers the operation that made it):")
    print(graph)
    print("The generated gradient:")
    print(td.grad(z_of_x).source(x))

    print("y = x**2;  z = y**2  at x = 1")
    dz_dx2 = td.grad(z_of_x_through_y)(x)
    dy_dx = td.grad(square)(x)
    print("dz/dx =", dz_dx2, "  dy/dx =", dy_dx)
    y = square(x)
    dz_dy = td.grad(z_of_y)(y)  # retain_grad: differentiate with respect to y as an input
    print("dz/dy =", dz_dy, " (y as an input, like retain_grad)   dz/dx = dz/dy * dy/dx =", dz_dy * dy_dx)

    print("Leaves: the inputs; computed values are not; a detached copy is a new leaf (a constant)")
    leaf_graph = td.trace(detached, x)
    print(leaf_graph)
    print(describe(leaf_graph))
    d_detached = td.grad(detached)(x)
    print("d(detach(x**2) + x)/dx =", d_detached, "(nothing flows back through the detached copy)")

    ones = np.ones((2, 2))
    out, dout_dx = td.value_and_grad(mean_out)(ones)
    print("x = ones(2, 2);  y = x + 2;  z = y*y*3;  out = z.mean()")
    print("out =", out)
    print("d out/dx =")
    print(dout_dx)
    print(td.trace(mean_out, ones))

    return {
        "z": z, "dz_dx": dz_dx, "graph_ops": [n.primitive.name for n in graph.nodes],
        "y_squared_dz_dx": dz_dx2, "dy_dx": dy_dx, "dz_dy": dz_dy,
        "leaf_inputs": list(leaf_graph.input_names),
        "detached_requires_grad": [n.out.requires_grad for n in leaf_graph.nodes
                                   if n.primitive.name == "stop_gradient"],
        "d_detached": d_detached, "out": out, "dout_dx": dout_dx,
    }


if __name__ == "__main__":
    main()
