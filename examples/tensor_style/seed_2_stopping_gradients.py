"""Seed section 2, tensor style: stopping gradient flow with no_grad, detach and .data."""
import tracediff as td


def main():
    r = {}
    x = td.tensor(1.0, requires_grad=True)
    y1 = x ** 2
    with td.no_grad():
        y2 = x ** 3  # a constant: computed, not recorded
    y3 = y1 + y2
    print("y2.requires_grad =", y2.requires_grad, " y3 =", y3)
    print(y3.backward_source())
    y3.backward()
    print("dy3/dx =", x.grad, "(only y1 = x**2 is differentiated)")
    r.update(y3=y3.item(), dy3_dx=x.grad.item(), y2_requires_grad=y2.requires_grad)

    x = td.tensor(2.0, requires_grad=True)
    y = x ** 2
    y1 = y.detach()  # a new leaf: no gradient flows back through it
    z = y1 * 3 + x
    z.backward()
    print("z = 3 * detach(x**2) + x:  dz/dx =", x.grad)
    r["detach_dz_dx"] = x.grad.item()

    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = 2 * x
    x.data *= 100  # outside the graph: not recorded
    y.backward(td.tensor([1.0, 1.0, 1.0]))
    print("y = 2x, then x.data *= 100:  x =", x, " dy/dx =", x.grad)
    r.update(grad_after_data_update=x.grad.numpy(), x_after=x.numpy())
    return r


if __name__ == "__main__":
    main()
