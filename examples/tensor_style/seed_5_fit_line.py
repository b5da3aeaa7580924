"""Seed section 5, tensor style: fit y = w * x by stochastic gradient descent, one update per sample."""
import tracediff as td

x_data = [1.0, 2.0, 3.0]
y_data = [2.0, 4.0, 6.0]


def main(epochs=100, lr=0.01):
    w = td.tensor(3.0, requires_grad=True)

    def forward(x):
        return x * w

    def loss(x, y):
        return (forward(x) - y) ** 2

    before = forward(4.0).item()
    print("predict (before training)", 4.0, before)
    print(loss(x_data[0], y_data[0]).backward_source())
    losses = []
    for epoch in range(epochs):
        for x, y in zip(x_data, y_data):
            l = loss(x, y)
            l.backward()
            with td.no_grad():
                w -= lr * w.grad
            w.grad.zero_()
        losses.append(l.item())
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}: w = {w.item():.6f}  loss = {l.item():.3e}")
    after = forward(4.0).item()
    print("predict (after training)", 4.0, after)
    cache = td.autograd.cache_info()
    print("the x, y samples are arguments of one generated backward:", cache)
    return {"before": before, "after": after, "w": w.item(), "losses": losses, "cache": cache}


if __name__ == "__main__":
    main()
