"""The Dask section of ``python -m tracediff.bench``: one generated gradient on NumPy and on Dask.

A logistic-regression gradient (``td.grad``) over the same rows, on a NumPy array in this process
and on a Dask array held by the workers of a dask.distributed LocalCluster of 1 and then 2 worker
processes (one thread each), on the same machine. A Dask call is timed from the call of the
gradient function (tracediff's cached call builds the Dask graph) to the computed result, so
scheduling and the workers' sums are included. Both gradients are checked against each other
before they are timed. Runs only when dask[array] and distributed are installed.

    python -m tracediff.bench --only dask
    python -m tracediff.bench --only dask --quick    # a smaller dataset
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import tracediff as td
from .bench import median_time


def log_loss(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


@dataclass
class DaskResult:
    engine: str  # "numpy", or "dask, N worker(s)"
    workers: int
    seconds: float  # per gradient
    rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def run(rows: int = 2_000_000, d: int = 10, rows_per_chunk: int = 100_000, workers=(1, 2),
        repeats: int = 3) -> list[DaskResult]:
    """Time the gradient on NumPy, then on Dask with each number of ``workers`` (median of
    ``repeats`` calls each)."""
    import dask.array as da
    import distributed

    # The data is made on the workers (the same numbers on each cluster: the same seeds and
    # chunks); NumPy's copy is made in this process from the same recipe.
    X_recipe = da.random.default_rng(0).standard_normal((rows, d), chunks=(rows_per_chunk, d))
    y_recipe = (da.random.default_rng(1).random(rows, chunks=rows_per_chunk) > 0.5).astype(float)
    X, y = (a.compute(scheduler="threads") for a in (X_recipe, y_recipe))
    w = np.linspace(-0.5, 0.5, d)
    grad = td.grad(log_loss)
    expected = grad(w, X, y)
    results = [DaskResult("numpy", 0, median_time(lambda: grad(w, X, y), 0, repeats), rows)]
    for n in workers:
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=50) as cluster, distributed.Client(cluster) as client:
            Xd, yd = client.persist([X_recipe, y_recipe])  # held by the workers
            distributed.wait([Xd, yd])
            got = client.compute(grad(w, Xd, yd), sync=True)
            if not np.allclose(got, expected, rtol=0, atol=1e-10):
                raise AssertionError(f"the Dask gradient on {n} worker(s) differs from NumPy's")
            seconds = median_time(lambda: client.compute(grad(w, Xd, yd), sync=True), 0, repeats)
            results.append(DaskResult(f"dask, {n} worker{'s' * (n > 1)}", n, seconds, rows))
    return results


def report(results: list[DaskResult]) -> str:
    numpy_rate = results[0].rows_per_second
    lines = [f"logistic-regression gradient over {results[0].rows:,} rows (same machine, one run)", "",
             "| engine | ms per gradient | rows per second | / NumPy |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.engine} | {r.seconds * 1e3:.1f} | {r.rows_per_second:,.0f} | "
                     f"{r.rows_per_second / numpy_rate:.2f} |")
    by_workers = {r.workers: r for r in results if r.workers}
    if 1 in by_workers and 2 in by_workers:
        lines.append(f"\n2 workers / 1 worker: {by_workers[2].rows_per_second / by_workers[1].rows_per_second:.2f}x")
    return "\n".join(lines)
