"""Generated gradients on CuPy arrays (a GPU): the same ``td.grad`` functions as for Dask
(tests/test_dask.py), checked against NumPy's gradient to 1e-10. Skipped without CuPy or a GPU."""
import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
try:
    _devices = cupy.cuda.runtime.getDeviceCount()
except Exception:  # (CuPy installed, no driver)
    _devices = 0
if not _devices:
    pytest.skip("needs a GPU: CuPy found no CUDA device", allow_module_level=True)

import tracediff as td  # noqa: E402

from array_library_workloads import branchy, linear, logistic, mlp  # noqa: E402


def data(n=240, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) > 0.5).astype(float)
    return X, y, cupy.asarray(X), cupy.asarray(y)


def check_same_gradient(fun, params, params_gpu):
    X, y, Xg, yg = data()
    want = td.grad(fun)(params, X, y)
    got = td.grad(fun)(params_gpu, Xg, yg)
    for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        assert isinstance(g, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(g), w, rtol=0, atol=1e-10)


@pytest.mark.parametrize("fun", [linear, logistic], ids=lambda f: f.__name__)
def test_regressions_give_numpy_gradient(fun):
    w = np.array([0.5, -1.0, 0.25, 2.0])
    check_same_gradient(fun, w, cupy.asarray(w))


def test_mlp_gives_numpy_gradient():
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal(5)]
    check_same_gradient(mlp, params + [0.3], [cupy.asarray(p) for p in params] + [0.3])


def test_value_dependent_branch_takes_both_paths():
    w = np.array([0.5, -1.0, 0.25, 2.0])
    check_same_gradient(branchy, w, cupy.asarray(w))
    check_same_gradient(branchy, -w, cupy.asarray(-w))


def test_numpy_and_cupy_calls_do_not_share_code():
    X, y, Xg, yg = data()
    w = np.array([0.5, -1.0, 0.25, 2.0])
    grad = td.grad(linear)
    assert type(grad(w, X, y)) is np.ndarray
    assert isinstance(grad(cupy.asarray(w), Xg, yg), cupy.ndarray)
    assert grad.cache_info().specializations == 2
