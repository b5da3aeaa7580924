"""Seed section 6, tensor style: the graph is rebuilt on every run, so Python control flow may
depend on the values. Each graph structure seen gets its own generated backward, made once and
reused whenever the same path is taken again."""
import numpy as np

import tracediff as td


def f(x):
    y = x * 2
    while np.sqrt((y ** 2).sum()) < 10:  # a data-dependent number of doublings
        y = y * 2
    if y.sum() > 0:
        z = y ** 2
    else:
        z = -y
    return z.sum()


def main():
    grads = {}
    for start in ([1.0, 2.0], [1.1, 2.1], [-1.0, -2.0], [-1.1, -2.1], [3.0, 4.0]):
        x = td.tensor(start, requires_grad=True)
        out = f(x)
        out.backward()
        grads[tuple(start)] = x.grad.numpy()
        print(f"x = {start}: f(x) = {out.item():.2f}, grad = {x.grad.numpy()}")
    cache = td.autograd.cache_info()
    print("three paths among five runs, each generated once:", cache)
    x = td.tensor([1.0, 2.0], requires_grad=True)
    print(f(x).backward_source())  # the path of x = [1, 2]: two doublings, then y ** 2
    return {"grads": grads, "cache": cache}


if __name__ == "__main__":
    main()
