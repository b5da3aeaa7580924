"""Generated gradients on Dask arrays, computed by a dask.distributed LocalCluster.

The same ``td.grad`` function is called on NumPy arrays and on Dask arrays of the same data; the
Dask results must be lazy Dask arrays and, once computed on the cluster, equal NumPy's to 1e-10.
Gathering the data is caught: Dask arrays refuse ``__array__`` while tracediff runs (a gather
would call it), and a dataset larger than a worker's memory limit is differentiated on workers.
"""
import contextlib
import math
import runpy
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (after the skips: dask is an optional dependency)
from dask.callbacks import Callback  # noqa: E402
from dask.local import get_sync  # noqa: E402

import tracediff as td  # noqa: E402
from tracediff.array_libraries import ArrayLibraryError  # noqa: E402

from array_library_workloads import branchy, linear, logistic, mlp  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WORKER_MEMORY = 300e6  # bytes per worker; the large dataset below is larger than this


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each and a memory limit, as a small cluster would be."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY,
                                  dashboard_address=":0", silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@contextlib.contextmanager
def never_gathered():
    """Dask arrays raise if anything converts one to NumPy (np.asarray would gather its chunks)."""
    array_class = da.Array
    original = array_class.__array__

    def refuse(self, *args, **kwargs):
        raise AssertionError("a Dask array was gathered into a NumPy array")

    array_class.__array__ = refuse
    try:
        yield
    finally:
        array_class.__array__ = original


def data(n=240, d=4, chunk=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) > 0.5).astype(float)
    return X, y, da.from_array(X, chunks=(chunk, d)), da.from_array(y, chunks=chunk)


def leaves(tree):
    return tree if isinstance(tree, (list, tuple)) else [tree]


def check_same_gradient(fun, params, X, y, Xd, yd, client):
    numpy_grad = td.grad(fun)(params, X, y)
    with never_gathered():
        lazy = td.grad(fun)(params, Xd, yd)
    assert all(isinstance(g, da.Array) for g in leaves(lazy)), "the gradient must come back lazy"
    computed = client.compute(lazy, sync=True)
    for got, want in zip(leaves(computed), leaves(numpy_grad)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("fun", [linear, logistic], ids=lambda f: f.__name__)
def test_regressions_give_numpy_gradient(client, fun):
    X, y, Xd, yd = data()
    check_same_gradient(fun, np.array([0.5, -1.0, 0.25, 2.0]), X, y, Xd, yd, client)


def test_mlp_gives_numpy_gradient(client):
    X, y, Xd, yd = data()
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal(5), 0.3]
    check_same_gradient(mlp, params, X, y, Xd, yd, client)


def test_large_numpy_weights_with_dask_data(client):
    # W has more than large_at (65,536) elements: NumPy values that large are worked out from
    # their shapes while tracing; met with Dask data they are computed by Dask instead
    def features(W, X, y):
        s = np.sum(np.tanh(W), axis=0)  # (20,000,) from W's (4, 20,000): worked out from shapes
        z = (X[:, :1] * s) @ np.linspace(-1.0, 1.0, W.shape[1]) / W.shape[1]  # (240, 1) * (20,000,)
        return np.mean((np.tanh(X @ W) @ np.linspace(-1.0, 1.0, W.shape[1]) + z - y) ** 2)

    X, y, Xd, yd = data()
    W = np.random.default_rng(2).standard_normal((4, 20_000)) * 0.1
    numpy_grad = td.grad(features, argnums=(0,))(W, X, y)
    with never_gathered():
        lazy = td.grad(features, argnums=(0,))(W, Xd, yd)
    np.testing.assert_allclose(client.compute(lazy[0], sync=True), numpy_grad[0], rtol=0, atol=1e-10)


def test_value_dependent_branch_takes_both_paths(client):
    X, y, Xd, yd = data()
    w = np.array([0.5, -1.0, 0.25, 2.0])
    grad = td.grad(branchy)
    assert (X @ w).sum() > 0 > (X @ -w).sum()  # (the two calls take different branches)
    check_same_gradient(branchy, w, X, y, Xd, yd, client)
    check_same_gradient(branchy, -w, X, y, Xd, yd, client)
    with never_gathered():
        grad(w, Xd, yd), grad(-w, Xd, yd)  # the guard sends each call to its own code
    assert grad.cache_info().specializations >= 3  # NumPy's one, and one per branch for Dask


def test_value_and_grad_is_lazy_and_computes_together(client):
    X, y, Xd, yd = data()
    w = np.array([0.5, -1.0, 0.25, 2.0])
    value, grad = td.value_and_grad(logistic)(w, X, y)
    with never_gathered():
        lazy_value, lazy_grad = td.value_and_grad(logistic)(w, Xd, yd)
    assert isinstance(lazy_value, da.Array) and lazy_value.shape == ()
    got_value, got_grad = dask.compute(lazy_value, lazy_grad)  # one pass over the data for both
    assert abs(float(got_value) - value) < 1e-10
    np.testing.assert_allclose(got_grad, grad, rtol=0, atol=1e-10)


def test_numpy_and_dask_calls_do_not_share_code(client):
    X, y, Xd, yd = data()
    w = np.array([0.5, -1.0, 0.25, 2.0])
    grad = td.grad(linear)
    numpy_result = grad(w, X, y)
    dask_result = grad(w, Xd, yd)
    numpy_again = grad(w, X, y)
    assert type(numpy_result) is np.ndarray and type(numpy_again) is np.ndarray
    assert isinstance(dask_result, da.Array)
    assert grad.cache_info().specializations == 2
    assert "like=" not in grad.source(w, X, y) and "_like" not in grad.source(w, X, y)
    np.testing.assert_allclose(dask_result.compute(), numpy_result, rtol=0, atol=1e-10)
    # Another chunking of the same data is the same code (Dask follows the chunks).
    rechunked = grad(w, Xd.rechunk((120, 4)), yd.rechunk(120))
    assert grad.cache_info().specializations == 2
    np.testing.assert_allclose(rechunked.compute(), numpy_result, rtol=0, atol=1e-10)


def test_callers_arrays_are_unchanged(client):
    X, y, Xd, yd = data()
    w = np.array([0.5, -1.0, 0.25, 2.0])
    before = w.copy(), Xd.name, yd.name

    def loss(w, X, y):
        w = w.copy()
        w[0] = 0.0  # a write into the function's own copy
        X = X * 1.0
        X[:, 0] = 1.0  # an intercept column, written into a Dask array the function made
        return np.mean((X @ w - y) ** 2)

    got = td.grad(loss)(w, Xd, yd).compute()
    np.testing.assert_allclose(got, td.grad(loss)(w, X, y), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(w, before[0])
    assert (Xd.name, yd.name) == before[1:]
    np.testing.assert_array_equal(Xd.compute(), X)


def test_unsupported_constructs_raise_clearly(client):
    X, y, Xd, yd = data()
    w = np.array([0.5, -1.0, 0.25, 2.0])
    with pytest.raises(ArrayLibraryError, match="closes_over.*pass it as an argument"):
        def closes_over(w):
            return np.sum(Xd @ w)
        td.grad(closes_over)(w)
    with pytest.raises(ArrayLibraryError, match="picks_rows.*np.add.at"):
        def picks_rows(X):
            return np.sum(X[[0, 1, 1]] ** 2)
        td.grad(picks_rows)(Xd)


def chunk_inputs(graph, keys) -> dict:
    """Task key -> the set of ``keys`` (chunks of the data) it depends on, directly or not."""
    from dask.core import get_dependencies

    memo = {}

    def reach(key):
        if key not in memo:
            memo[key] = {key} if key in keys else set()
            for dep in get_dependencies(graph, key):
                memo[key] = memo[key] | reach(dep)
        return memo[key]

    for key in graph:
        reach(key)
    return memo


def test_gradient_is_a_chain_per_chunk_then_a_tree_of_small_sums():
    """Every task that combines several chunks of X makes something of the gradient's size, never
    of the data's length: no gather. (A small copy of the layout the cluster test below uses, run
    locally so that each task's result can be measured.)"""
    rows, d, chunk = 4000, 3, 200
    X = da.random.default_rng(0).standard_normal((rows, d), chunks=(chunk, d))
    y = (da.random.default_rng(1).random(rows, chunks=chunk) > 0.5).astype(float)
    with never_gathered():
        grad = td.grad(logistic)(np.ones(d), X, y)
    graph = dict(grad.__dask_graph__())
    x_chunks = {k for k in graph if isinstance(k, tuple) and k[0] == X.name}
    assert len(x_chunks) == rows // chunk
    reached = chunk_inputs(graph, x_chunks)
    sizes = {}

    class Measure(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            sizes[key] = getattr(result, "nbytes", 0)

    with Measure():
        get_sync(graph, list(grad.__dask_keys__()))
    combining = [key for key, chunks in reached.items() if len(chunks) > 1]
    assert combining, "the gradient must sum over the chunks"
    assert max(sizes[key] for key in combining) <= 8 * d * 4  # a few gradients' worth, not rows
    assert all(len(chunks) <= 1 for key, chunks in reached.items() if sizes.get(key, 0) > 8 * d * 4)


def test_dataset_larger_than_a_workers_memory(client):
    """A logistic-regression gradient over a dataset made on the workers that is larger than each
    worker's memory limit: computed chunk by chunk, equal to the hand-written gradient."""
    d, chunk = 10, 125_000  # 10 MB chunks
    rows = 32 * chunk  # 320 MB of X, each worker may hold 300 MB
    assert rows * d * 8 > WORKER_MEMORY
    X = da.random.default_rng(0).standard_normal((rows, d), chunks=(chunk, d))
    y = (da.random.default_rng(1).random(rows, chunks=chunk) > 0.5).astype(float)
    w = np.linspace(-0.5, 0.5, d)
    with never_gathered():
        lazy = td.grad(logistic)(w, X, y)
    by_hand = X.T @ (1 / (1 + da.exp(-(X @ w))) - y) / rows  # the gradient of the mean log loss
    got, want = client.compute([lazy, by_hand], sync=True)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert math.isfinite(float(np.sum(got)))


def test_example_fits_on_the_cluster(client, capsys):
    """examples/dask_logistic_regression.py, small: the loss falls, the source and the dashboard
    link are printed."""
    example = runpy.run_path(str(EXAMPLES / "dask_logistic_regression.py"), run_name="example_dask")
    result = example["main"](rows=20_000, rows_per_chunk=5_000, steps=5, client=client)
    out = capsys.readouterr().out
    assert "Dask dashboard:" in out and "# Generated by tracediff" in out
    losses = result["losses"]
    assert losses[0] == pytest.approx(np.log(2.0), abs=1e-12)  # w = 0: every probability is 1/2
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_bench_section_checks_and_reports(capsys):
    from tracediff import bench_dask

    results = bench_dask.run(rows=20_000, rows_per_chunk=5_000, workers=(1,), repeats=1)
    assert [r.engine for r in results] == ["numpy", "dask, 1 worker"]
    table = bench_dask.report(results)
    assert "| dask, 1 worker |" in table and "rows per second" in table


def test_docs_page_example_runs(capsys, monkeypatch, tmp_path):
    """The ```py blocks of docs/larger-than-memory.md (Dask code, so not run by test_docs.py,
    which runs without Dask): the loss of the page's example falls."""
    import re

    monkeypatch.chdir(tmp_path)
    page = (EXAMPLES.parent / "docs" / "larger-than-memory.md").read_text()
    blocks = re.findall(r"```py\n(.*?)```", page, flags=re.S)
    assert blocks
    namespace = {"__name__": "docs_larger_than_memory"}
    for block in blocks:
        exec(compile(block, "larger-than-memory.md", "exec"), namespace)
    losses = [float(line.split()[1]) for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]
    assert len(losses) == 5 and all(b < a for a, b in zip(losses, losses[1:]))
