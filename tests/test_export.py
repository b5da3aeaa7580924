"""td.export: the generated gradient as a module that runs with NumPy alone.

The exported modules are imported in a fresh interpreter (``python -I``) where tracediff and astor
cannot be imported, and must reproduce what the compiled gradient returns.
"""
import os
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracediff as td

SHIFT = np.array([0.5, -1.0, 2.0, 0.0, 1.5])  # small: written into the module
TABLE = np.linspace(-1.0, 1.0, 40).reshape(8, 5)  # large: saved beside it in an .npz


def mlp(params, x, n_steps):
    h = np.tanh(x @ params["w1"] + params["b1"] + SHIFT)
    for _ in range(n_steps):
        h = np.sin(h) * 1.1
    pred = h @ params["w2"]
    if np.sum(pred) > 0:  # a guard: inputs with a negative sum take the other branch
        pred = pred * 2.0
    return np.mean(pred ** 2) + 0.01 * np.sum(TABLE[: x.shape[0]] * h)


def scaled(x, scale, pair):
    y = np.exp(x) * scale
    a, b = pair
    return np.sum(y * a) + np.sum(b ** 2), {"y": y, "parts": [a, b]}


def _params(rng):
    return {"w1": rng.standard_normal((3, 5)) * 0.5, "b1": rng.standard_normal(5) * 0.1,
            "w2": np.abs(rng.standard_normal((5, 2)))}


RUNNER = textwrap.dedent("""
    import importlib.abc
    import pickle
    import sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tracediff", "astor"):
                raise ImportError(name + " is blocked: an exported module must not need it")
            return None

    # Hides exactly tracediff and astor, wherever they are installed; the rest of sys.path stays
    # (NumPy sits beside them in site-packages, and a clone of tracediff may hold the venv).
    sys.meta_path.insert(0, Blocked())
    sys.path.insert(0, sys.argv[1])  # the exported modules
    try:
        import tracediff  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("tracediff is importable: the test proves nothing")

    import numpy as np  # noqa: E402

    calls = pickle.load(open(sys.argv[2], "rb"))
    results = []
    for module_name, function, args in calls:
        module = __import__(module_name)
        try:
            results.append(("ok", getattr(module, function)(*args)))
        except module.InputsTakeAnotherPath as error:
            results.append(("error", str(error)))
    assert not [m for m in sys.modules if m.split(".")[0] in ("tracediff", "astor")]
    pickle.dump(results, open(sys.argv[3], "wb"))
    """)


def _run_isolated(tmp_path, calls):
    (tmp_path / "runner.py").write_text(RUNNER)
    with open(tmp_path / "calls.pkl", "wb") as f:
        pickle.dump(calls, f)
    done = subprocess.run([sys.executable, "-I", str(tmp_path / "runner.py"), str(tmp_path),
                           str(tmp_path / "calls.pkl"), str(tmp_path / "results.pkl")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "results.pkl", "rb") as f:
        return pickle.load(f)


def _assert_same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)  # the same code: the same numbers, bit for bit
        assert np.asarray(a).dtype == np.asarray(b).dtype


def test_exported_modules_reproduce_the_gradient_without_tracediff(tmp_path):
    rng = np.random.default_rng(3)
    params, x = _params(rng), rng.standard_normal((6, 3))
    g_mlp = td.grad(mlp)
    path = td.export(g_mlp, params, x, 2, path=tmp_path / "mlp_grad.py")
    assert path == str(tmp_path / "mlp_grad.py")
    assert sorted(os.listdir(tmp_path)) == ["mlp_grad.npz", "mlp_grad.py"]  # TABLE goes to the .npz
    text = (tmp_path / "mlp_grad.py").read_text()
    assert "SHIFT = np.array([0.5, -1.0, 2.0, 0.0, 1.5])" in text  # small, by value, under its name
    assert "np.load(" in text and "mlp_grad.npz" in text

    x32 = rng.standard_normal(3).astype(np.float32)
    g_scaled = td.value_and_grad(scaled, argnums=(0, 1, 2), has_aux=True)
    pair = (rng.standard_normal(3).astype(np.float32), np.float32(0.5))
    td.export(g_scaled, x32, 0.75, pair, path=tmp_path / "scaled_vg.py")

    negative = {**params, "w2": -params["w2"]}  # another path through the if
    calls = [
        ("mlp_grad", "grad_mlp", (params, x, 2)),
        ("mlp_grad", "grad_mlp", (params, x * 0.5, 2)),  # other values, same path
        ("scaled_vg", "value_and_grad_scaled", (x32, 0.75, pair)),
        ("scaled_vg", "value_and_grad_scaled", (x32 + 1, 0.25, pair)),
        ("mlp_grad", "grad_mlp", (negative, x, 2)),
        ("mlp_grad", "grad_mlp", (params, x, 3)),  # an int that decides a trip count
        ("mlp_grad", "grad_mlp", (params, x, 2.0)),  # a float where an int was exported
        ("mlp_grad", "grad_mlp", (params, x[:2], 2)),  # another shape
        ("mlp_grad", "grad_mlp", ({"w1": params["w1"]}, x, 2)),  # another structure
    ]
    results = _run_isolated(tmp_path, calls)

    expected = [g_mlp(params, x, 2), g_mlp(params, x * 0.5, 2),
                g_scaled(x32, 0.75, pair), g_scaled(x32 + 1, 0.25, pair)]
    for (status, got), want in zip(results, expected):
        assert status == "ok", got
        _assert_same(got, want)
    assert isinstance(results[2][1][1][1], float)  # the gradient of a Python float is a float
    assert isinstance(results[2][1][1][2][1], np.float32)  # and of a NumPy scalar, that scalar type

    kinds = [r[0] for r in results[4:]]
    assert kinds == ["error"] * 5, results[4:]
    path_error, count_error, type_error, shape_error, structure_error = (r[1] for r in results[4:])
    assert "take another path through mlp" in path_error and "if np.sum(pred) > 0:" in path_error
    assert "Export again" in path_error
    assert "take another path through mlp" in count_error and "range(n_steps)" in count_error
    assert "n_steps must be an int, got float" in type_error
    assert "x has shape (2, 3)" in shape_error and "(6, 3)" in shape_error
    assert "keys ['w1']" in structure_error


def test_the_exported_gradient_code_is_the_generated_source(tmp_path):
    rng = np.random.default_rng(0)
    params, x = _params(rng), rng.standard_normal((4, 3))
    g = td.grad(mlp)
    td.export(g, params, x, 2, path=tmp_path / "m.py")
    exported = (tmp_path / "m.py").read_text()
    generated = g.source(params, x, 2)
    body = generated[generated.index("\ndef grad_mlp("):]
    assert body.replace("def grad_mlp(", "def _grad_mlp(", 1) in exported
    again = tmp_path / "again"
    td.export(g, params, x, 2, path=again / "m.py")
    assert (again / "m.py").read_text() == exported  # stable, byte for byte


def test_export_refuses_what_a_standalone_module_cannot_hold(tmp_path):
    cube = td.primitive(lambda x: x ** 3, name="cube")
    td.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
    with pytest.raises(td.ExportError, match="td.primitive"):
        td.export(td.value_and_grad(lambda x: np.sum(cube(x))), np.ones(2), path=tmp_path / "c.py")
    with pytest.raises(td.ExportError, match="td.grad or td.value_and_grad"):
        td.export(np.sum, np.ones(2), path=tmp_path / "d.py")
    with pytest.raises(td.ExportError, match=r"must end in \.py"):
        td.export(td.grad(lambda x: np.sum(x)), np.ones(2), path=tmp_path / "e.txt")

    class Config:
        pass

    with pytest.raises(td.ExportError, match="static arguments"):
        td.export(td.grad(lambda x, c: np.sum(x * 2)), np.ones(2), Config(), path=tmp_path / "f.py")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".py")]


def test_exported_wrapper_keeps_hostile_keys_as_data(tmp_path):
    keys = ["a-b", "__import__('os')", "x\ny", "λ"]
    d = {k: np.full(2, float(i + 1)) for i, k in enumerate(keys)}

    def f(d):
        return sum(np.sum(d[k] ** 2) for k in sorted(d))

    g = td.grad(f)
    path = td.export(g, d, path=tmp_path / "hostile.py")
    text = open(path, encoding="utf-8").read()
    assert not re.search(r"^\s*(import os|__import__)", text, re.M)
    namespace = {}
    exec(compile(text, path, "exec"), namespace)  # in-process too: just NumPy underneath
    got = namespace["grad_f"](d)
    assert list(got) == sorted(keys)
    for k in keys:
        np.testing.assert_array_equal(got[k], 2 * d[k])


def test_static_arguments_are_checked_by_value_in_the_exported_module(tmp_path):
    import importlib.util

    def powered(x, n, mode):
        return np.sum(x ** n) if mode == "sum" else np.mean(x ** n)

    g = td.grad(powered, static_argnums=1)  # n is a key; mode is static as a string
    path = td.export(g, np.ones(3), 2, "sum", path=tmp_path / "powered_grad.py")
    spec = importlib.util.spec_from_file_location("powered_grad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(module.grad_powered(x, 2, "sum"), 2 * x)
    with pytest.raises(module.InputsTakeAnotherPath, match="n is 3, the module was exported for 2"):
        module.grad_powered(x, 3, "sum")
