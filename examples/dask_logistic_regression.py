"""Logistic regression by gradient descent on data larger than a worker's memory, with Dask.

The data is made on the workers of a dask.distributed LocalCluster, chunked by rows: 4 million
rows of 10 features are 320 MB, and each of the two workers may hold 300 MB. The loss and its
gradient come from one function written with NumPy; tracediff generates the gradient once, and
on Dask arrays the generated code builds a Dask graph: one chain of tasks per chunk of rows,
then a sum of small partial gradients. Nothing is gathered on one machine.

    python examples/dask_logistic_regression.py            # Dask, on a LocalCluster
    python examples/dask_logistic_regression.py --cupy     # the same code on a GPU, with CuPy

Watch the work on Dask's dashboard: its address is printed (client.dashboard_link) when the
cluster starts with one (it needs bokeh installed).
"""
import argparse
import sys
import time

import numpy as np

import tracediff as td


def loss(w, X, y):
    """The mean log loss of a linear classifier: log(1 + e^z) - y z, written stably."""
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


loss_and_gradient = td.value_and_grad(loss)


def fit(w, X, y, steps, rate, compute, report_every=2):
    """Gradient descent; ``compute`` turns the (lazy) loss and gradient into values."""
    losses = []
    for step in range(steps):
        value, gradient = compute(*loss_and_gradient(w, X, y))  # one pass over the data for both
        w = w - rate * gradient
        losses.append(float(value))
        if step % report_every == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {float(value):.6f}")
    return w, losses


def make_data(random, rows, d, **chunking):
    """Features and labels drawn by ``random`` (a NumPy, Dask or CuPy Generator): labels from a
    known direction plus noise, so the fit has something to find."""
    X = random.standard_normal((rows, d), **chunking)
    direction = np.linspace(-1.0, 1.0, d)
    noise = random.standard_normal((rows,), **{k: v[:1] for k, v in chunking.items()})
    y = ((X @ direction + noise) > 0).astype(float)
    return X, y


def main(rows=4_000_000, d=10, rows_per_chunk=125_000, steps=6, rate=2.0, client=None,
         memory_limit="300MB"):
    import dask
    import dask.array as da
    import distributed

    own_cluster = client is None
    if own_cluster:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=memory_limit,
                                           silence_logs=50)
        client = distributed.Client(cluster)
    try:
        print(f"Dask dashboard: {client.dashboard_link}")
        X, y = make_data(da.random.default_rng(0), rows, d, chunks=(rows_per_chunk, d))
        print(f"X: {X.nbytes / 1e6:.0f} MB in {X.numblocks[0]} chunks of {rows_per_chunk:,} rows")
        w = np.zeros(d)
        print(loss_and_gradient.source(w, X, y))
        start = time.perf_counter()
        w, losses = fit(w, X, y, steps, rate, dask.compute)
        seconds = time.perf_counter() - start
        print(f"{steps} steps in {seconds:.1f} s: {steps * rows / seconds:,.0f} rows per second")
        return {"w": w, "losses": losses, "rows": rows}
    finally:
        if own_cluster:
            client.close()
            cluster.close()


def main_cupy(rows=4_000_000, d=10, steps=6, rate=2.0):
    """The same fit on a GPU: CuPy arrays in, CuPy arrays out (``compute`` copies the loss and
    gradient to the host; keep them on the GPU in real code)."""
    try:
        import cupy
        if not cupy.cuda.runtime.getDeviceCount():
            raise RuntimeError("no CUDA device")
    except Exception as error:  # (no CuPy, or no GPU)
        print(f"--cupy needs a GPU with CuPy installed ({error})")
        return None
    X, y = make_data(cupy.random.default_rng(0), rows, d)
    w = cupy.zeros(d)
    w, losses = fit(w, X, y, steps, rate, lambda value, gradient: (float(value), gradient))
    return {"w": cupy.asnumpy(w), "losses": losses, "rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cupy", action="store_true", help="run the same code on a GPU with CuPy")
    parser.add_argument("--steps", type=int, default=6)
    options = parser.parse_args()
    if options.cupy:
        sys.exit(0 if main_cupy(steps=options.steps) is not None else 1)
    main(steps=options.steps)
