"""Seed section 3: vector outputs, vector-Jacobian products and Jacobians.

Only a scalar output has a plain gradient (td.grad refuses anything else). For a vector output y,
PyTorch's y.backward(v) is td.vjp: `out, pullback = td.vjp(f, x)`, then `pullback(v)` is v^T J.
Gradients do not accumulate: every call returns fresh ones, and compiled code can be called again
and again (there is no graph to free).
"""
import numpy as np

import tracediff as td


def doubled_square(x):
    y = 2 * x
    z = y.reshape(2, 2)
    return z


def shifted_square(inp):
    return (inp + 1) ** 2


def weighted_sum(x, v):  # v^T J as the gradient of a scalar: the cotangent v is an argument
    return np.sum(v * doubled_square(x))


def main():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    try:
        td.grad(doubled_square)(x)
    except td.NonScalarOutputError as error:
        print("td.grad of a (2, 2) output:", type(error).__name__)
    print(td.trace(doubled_square, x))
    z, pullback = td.vjp(doubled_square, x)
    v = np.array([[1.0, 0.1], [0.01, 0.001]])
    (vjp,) = pullback(v)
    print("z =", z.tolist())
    print("v =", v.tolist(), "->  v^T J =", vjp)
    jacobian = np.stack([pullback(row.reshape(2, 2))[0] for row in np.eye(4)])  # one row per output
    print("J (one pullback per output entry) =")
    print(jacobian)
    batched = td.jacobian(doubled_square)(x)  # the same, one generated backward pass for all rows
    print("td.jacobian gives it at once, shaped z.shape + x.shape:", batched.shape)
    print("The same product as the gradient of sum(v * z), and its generated code:")
    weighted = td.grad(weighted_sum)
    print(weighted.source(x, v))

    inp = np.eye(5)
    out, pullback = td.vjp(shifted_square, inp)
    ones = np.ones_like(out)
    first = pullback(ones)[0]
    second = pullback(ones)[0]
    print("inp = eye(5); out = (inp + 1)**2; pullback(ones):")
    print(first)
    print("called again: the same fresh gradient (nothing accumulates, nothing to zero):",
          np.array_equal(first, second))
    print("PyTorch's accumulated figure is an explicit sum here:")
    print(first + second)
    eye_jacobian = td.jacobian(shifted_square)(inp).reshape(25, 25)
    print("td.jacobian of (inp + 1)**2, flattened, is diag(2 * (inp + 1)):",
          np.array_equal(eye_jacobian, np.diag(2 * (inp + 1).ravel())))
    repeated = td.grad(lambda inp: np.sum(shifted_square(inp)))
    calls = [repeated(inp) for _ in range(3)]
    print("a compiled gradient called 3 times:", [c[0, :2].tolist() for c in calls], repeated.cache_info())

    return {"z": z, "vjp": vjp, "jacobian": jacobian, "batched_jacobian": batched,
            "eye_jacobian": eye_jacobian, "weighted_grad": weighted(x, v),
            "eye_vjp_first": first, "eye_vjp_second": second, "eye_vjp_sum": first + second,
            "repeated_calls": calls}


if __name__ == "__main__":
    main()
