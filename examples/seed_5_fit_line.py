"""Seed section 5: fit y = w * x by stochastic gradient descent, and plot loss against epoch.

x = [1, 2, 3], y = [2, 4, 6], w starts at 3.0; one update per sample with learning rate 0.01 on
the per-sample loss (w * x - y)**2, 100 epochs. w is a Python float, and so is its gradient. The
plot needs matplotlib (pip install -e '.[examples]'); without it the plot is skipped.
"""
import sys

import tracediff as td

x_data = [1.0, 2.0, 3.0]
y_data = [2.0, 4.0, 6.0]


def forward(w, x):
    return w * x


def loss(w, x, y):
    y_pred = forward(w, x)
    return (y_pred - y) ** 2


def plot_losses(losses, path):
    """Save loss against epoch as a PNG; return the path, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only, no window
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plot skipped (pip install matplotlib)")
        return None
    fig, ax = plt.subplots()
    ax.plot(range(len(losses)), losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("fitting y = w * x")
    fig.savefig(path)
    plt.close(fig)
    print("loss against epoch saved to", path)
    return str(path)


def main(plot_path="seed_5_fit_line_loss.png", epochs=100, lr=0.01):
    w = 3.0
    loss_and_grad = td.value_and_grad(loss)
    print(td.trace(loss, w, x_data[0], y_data[0]))
    print(loss_and_grad.source(w, x_data[0], y_data[0]))
    before = forward(w, 4.0)
    print("predict (before training)", 4.0, before)
    losses = []
    for epoch in range(epochs):
        for x, y in zip(x_data, y_data):
            l, grad = loss_and_grad(w, x, y)
            w = w - lr * grad
        losses.append(l)  # the last sample's loss, as the tutorial prints and plots
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}: w = {w:.6f}  loss = {l:.3e}   (last grad {grad:.3e})")
    after = forward(w, 4.0)
    print("predict (after training)", 4.0, after)
    plot = plot_losses(losses, plot_path)
    return {"w": w, "before": before, "after": after, "losses": losses, "plot": plot}


if __name__ == "__main__":
    main(*sys.argv[1:2])
