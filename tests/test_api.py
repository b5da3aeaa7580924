"""Public API behaviour of the core compiler: grad / value_and_grad / vjp, pytrees, dtypes, the
cache, input safety, determinism, the generated source, td.trace and user primitives.

Every gradient is checked against central finite differences (computed in float64 by
``tracediff.testing.numerical_vjp``, which never traces) or against a value derived by hand;
never tracediff against itself. Error cases are in test_errors.py.
"""
from __future__ import annotations

import ast
import inspect
import io
import os
import re
import subprocess
import sys
import textwrap
import tokenize
import traceback
from collections import namedtuple

import numpy as np
import pytest

import tracediff as td
from tracediff.testing import numerical_vjp

RNG = np.random.default_rng(20240611)


def rand(*shape, dtype=np.float64, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def leaves_of(tree):
    """Leaves of a pytree of dict / list / tuple / namedtuple / None, in tracediff's order
    (dicts by sorted key), written here so the comparison does not rely on tracediff."""
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in leaves_of(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [leaf for child in tree for leaf in leaves_of(child)]
    if tree is None:
        return []
    return [tree]


def fd_grad(f, args, argnum, kwargs=None):
    """Finite-difference gradient of scalar ``f`` with respect to ``args[argnum]`` (flat leaves)."""
    fun = (lambda *a: f(*a, **kwargs)) if kwargs else f
    return numerical_vjp(fun, list(args), argnum, 1.0)


def assert_grad_matches_fd(f, grad, args, argnum, kwargs=None, rtol=1e-6, atol=1e-7):
    expected = fd_grad(f, args, argnum, kwargs)
    got = leaves_of(grad)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert np.shape(g) == np.shape(e)
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), e, rtol=rtol, atol=atol)


def same_structure(a, b):
    """True when a and b have the same containers (types, dict keys, lengths) all the way down."""
    if type(a) is not type(b) and not (
        isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    ):
        return False
    if isinstance(a, dict):
        return set(a) == set(b) and all(same_structure(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_structure(x, y) for x, y in zip(a, b))
    return True


# =============================================================================================
# td.grad: argnums, has_aux, decorator forms


def three(a, b, c):
    return np.sum(a * b ** 2 * np.sin(c))


A3, B3, C3 = rand(4), rand(4), rand(4)


def test_grad_argnums_default_is_first_argument():
    g = td.grad(three)(A3, B3, C3)
    assert isinstance(g, np.ndarray)
    np.testing.assert_allclose(g, B3 ** 2 * np.sin(C3), rtol=1e-12)


def test_grad_argnums_int():
    g = td.grad(three, argnums=1)(A3, B3, C3)
    np.testing.assert_allclose(g, 2 * A3 * B3 * np.sin(C3), rtol=1e-12)


def test_grad_argnums_negative_int():
    g = td.grad(three, argnums=-1)(A3, B3, C3)
    np.testing.assert_allclose(g, A3 * B3 ** 2 * np.cos(C3), rtol=1e-12)


def test_grad_argnums_tuple_returns_tuple_in_argnums_order():
    ga, gc = td.grad(three, argnums=(0, 2))(A3, B3, C3)
    np.testing.assert_allclose(ga, B3 ** 2 * np.sin(C3), rtol=1e-12)
    np.testing.assert_allclose(gc, A3 * B3 ** 2 * np.cos(C3), rtol=1e-12)
    gc2, ga2 = td.grad(three, argnums=(2, 0))(A3, B3, C3)
    np.testing.assert_allclose(gc2, gc, rtol=1e-12)
    np.testing.assert_allclose(ga2, ga, rtol=1e-12)


def test_grad_argnums_tuple_with_negative_and_single_element():
    out = td.grad(three, argnums=(-3, -2))(A3, B3, C3)
    assert isinstance(out, tuple) and len(out) == 2
    np.testing.assert_allclose(out[0], B3 ** 2 * np.sin(C3), rtol=1e-12)
    np.testing.assert_allclose(out[1], 2 * A3 * B3 * np.sin(C3), rtol=1e-12)
    single = td.grad(three, argnums=(1,))(A3, B3, C3)
    assert isinstance(single, tuple) and len(single) == 1
    np.testing.assert_allclose(single[0], 2 * A3 * B3 * np.sin(C3), rtol=1e-12)


def test_grad_has_aux_returns_grads_and_concrete_aux():
    def f(x, y):
        r = x * y
        return np.sum(r ** 2), {"r": r, "mean": np.mean(x), "label": "step", "n": 3}

    x, y = rand(3), rand(3)
    grads, aux = td.grad(f, argnums=(0, 1), has_aux=True)(x, y)
    np.testing.assert_allclose(grads[0], 2 * x * y ** 2, rtol=1e-12)
    np.testing.assert_allclose(grads[1], 2 * y * x ** 2, rtol=1e-12)
    assert set(aux) == {"r", "mean", "label", "n"}
    assert isinstance(aux["r"], np.ndarray)  # a value, not a tracer
    np.testing.assert_allclose(aux["r"], x * y, rtol=1e-12)
    assert float(aux["mean"]) == pytest.approx(np.mean(x), rel=1e-12)
    assert aux["label"] == "step" and aux["n"] == 3

    # the cached path gives the aux of the new arguments
    x2 = rand(3)
    grads2, aux2 = td.grad(f, argnums=(0, 1), has_aux=True)(x2, y)
    np.testing.assert_allclose(aux2["r"], x2 * y, rtol=1e-12)


def test_grad_has_aux_cached_call_gives_new_aux():
    g = td.grad(lambda x: (np.sum(x ** 3), x * 2.0), has_aux=True)
    for _ in range(3):
        x = rand(5)
        grad, aux = g(x)
        np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-12)
        np.testing.assert_allclose(aux, 2 * x, rtol=1e-12)
    assert g.cache_info().traces == 1


def test_grad_decorator_bare():
    @td.grad
    def f(x, y):
        return np.sum(np.exp(x) * y)

    x, y = rand(3), rand(3)
    np.testing.assert_allclose(f(x, y), np.exp(x) * y, rtol=1e-12)
    assert f.__name__ == "f"


def test_grad_decorator_with_arguments():
    @td.grad(argnums=(0, 1))
    def f(x, y):
        return np.sum(np.exp(x) * y)

    x, y = rand(3), rand(3)
    gx, gy = f(x, y)
    np.testing.assert_allclose(gx, np.exp(x) * y, rtol=1e-12)
    np.testing.assert_allclose(gy, np.exp(x), rtol=1e-12)


def test_grad_decorator_with_has_aux():
    @td.grad(has_aux=True)
    def f(x):
        return np.sum(x ** 2), x.shape

    grad, aux = f(np.array([1.0, -2.0]))
    np.testing.assert_allclose(grad, [2.0, -4.0])
    assert aux == (2,)


def test_value_and_grad():
    def f(x, y):
        return np.sum(np.tanh(x) * y)

    x, y = rand(2, 3), rand(3)
    value, grads = td.value_and_grad(f, argnums=(0, 1))(x, y)
    assert float(value) == pytest.approx(np.sum(np.tanh(x) * y), rel=1e-12)
    np.testing.assert_allclose(grads[0], (1 - np.tanh(x) ** 2) * y, rtol=1e-12)
    np.testing.assert_allclose(grads[1], np.tanh(x).sum(axis=0), rtol=1e-12)


def test_value_and_grad_has_aux():
    @td.value_and_grad(has_aux=True)
    def f(x):
        y = x ** 2
        return np.sum(y), {"y": y}

    x = rand(4)
    (value, aux), grad = f(x)
    assert float(value) == pytest.approx(np.sum(x ** 2), rel=1e-12)
    np.testing.assert_allclose(aux["y"], x ** 2, rtol=1e-12)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-12)


def test_value_and_grad_decorator_bare():
    @td.value_and_grad
    def f(x):
        return np.mean(np.sin(x))

    x = rand(5)
    value, grad = f(x)
    assert float(value) == pytest.approx(np.mean(np.sin(x)), rel=1e-12)
    np.testing.assert_allclose(grad, np.cos(x) / 5, rtol=1e-12)


# =============================================================================================
# methods


class Quadratic:
    def __init__(self, scale):
        self.scale = scale

    @td.grad
    def grad_loss(self, x):
        return self.scale * np.sum(x ** 2)

    @td.value_and_grad
    def value_and_grad_loss(self, x):
        return self.scale * np.sum(x ** 2)


def test_grad_on_a_method_differentiates_the_argument_not_self():
    # `model.grad_loss(x)` is called with one argument, x: that is what a user expects to be
    # differentiated (self is a Python object, which has no gradient).
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(Quadratic(3.0).grad_loss(x), 6.0 * x)
    np.testing.assert_allclose(Quadratic(0.5).grad_loss(x), 1.0 * x)
    value, grad = Quadratic(2.0).value_and_grad_loss(x)
    assert float(value) == pytest.approx(2.0 * 14.0)
    np.testing.assert_allclose(grad, 4.0 * x)


class Bilinear:
    def __init__(self, scale):
        self.scale = scale

    @td.grad(argnums=(0, 1))
    def grads(self, x, y):
        return np.sum(x * y) * self.scale


def test_grad_on_a_method_with_argnums_tuple():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    gx, gy = Bilinear(2.0).grads(x, y)
    np.testing.assert_allclose(gx, 2.0 * y)
    np.testing.assert_allclose(gy, 2.0 * x)


class Linear:
    def __init__(self, w, scale):
        self.w, self.scale = w, scale

    @td.grad  # differentiates x, as test_grad_on_a_method_differentiates_the_argument_not_self
    def grad_input(self, x):
        return np.sum((x @ self.w) ** 2) * self.scale


def test_method_sees_attribute_changes_between_calls():
    # The usual life of a model object: its attributes are rebound between calls (a training
    # step does `self.w = self.w - lr * g`). The next gradient must use the new values, not the
    # ones baked into the code generated for the first call.
    model = Linear(np.array([[1.0], [2.0]]), 3.0)
    x = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(model.grad_input(x), 2 * 3.0 * 3.0 * np.array([[1.0, 2.0]]))
    model.scale = 5.0
    np.testing.assert_allclose(model.grad_input(x), 2 * 3.0 * 5.0 * np.array([[1.0, 2.0]]))
    model.w = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(model.grad_input(x), 2 * 1.0 * 5.0 * np.array([[0.0, 1.0]]))


# =============================================================================================
# pytree arguments

Layer = namedtuple("Layer", ["w", "b"])


def mlp_loss(params, x):
    h = x
    for layer in params["layers"]:
        h = np.tanh(h @ layer.w + layer.b)
    a, (b, c) = params["coef"]
    return np.sum(h ** 2) * params["scale"] + a * b + np.sum(c) * a


def mlp_params():
    return {
        "layers": [Layer(rand(3, 4), rand(4)), Layer(rand(4, 2), rand(2))],
        "scale": 0.7,
        "coef": (1.5, (np.array(-0.5), rand(2))),
    }


def test_grad_of_nested_pytree_has_the_argument_structure_and_matches_fd():
    params, x = mlp_params(), rand(5, 3)
    grads = td.grad(mlp_loss)(params, x)
    assert same_structure(grads, params)
    assert isinstance(grads["layers"], list) and isinstance(grads["layers"][0], Layer)
    assert isinstance(grads["coef"], tuple) and isinstance(grads["coef"][1], tuple)
    assert_grad_matches_fd(mlp_loss, grads, (params, x), 0)


def test_pytree_python_float_leaves_give_python_float_gradients():
    def f(p):
        return p["a"] * p["b"] ** 2 + np.sum(p["w"] * p["a"])

    p = {"a": 2.0, "b": 3.0, "w": np.array([1.0, 2.0])}
    g = td.grad(f)(p)
    assert type(g["a"]) is float and type(g["b"]) is float
    assert g["a"] == pytest.approx(9.0 + 3.0)
    assert g["b"] == pytest.approx(12.0)
    np.testing.assert_allclose(g["w"], [2.0, 2.0])


def test_pytree_list_and_tuple_args():
    def f(p):
        return p[0] * p[1][0] + np.sum(p[1][1] ** 2)

    p = [2.0, (3.0, np.array([1.0, -1.0]))]
    g = td.grad(f)(p)
    assert type(g) is list and type(g[1]) is tuple
    assert type(g[0]) is float and g[0] == pytest.approx(3.0)
    assert type(g[1][0]) is float and g[1][0] == pytest.approx(2.0)
    np.testing.assert_allclose(g[1][1], [2.0, -2.0])


def test_pytree_none_leaves_are_kept():
    g = td.grad(lambda p: np.sum(p["w"] ** 2))({"w": np.array([1.0, 2.0]), "b": None})
    assert g["b"] is None
    np.testing.assert_allclose(g["w"], [2.0, 4.0])


def test_python_float_scales_a_reduction():
    # A Python float argument multiplying a reduction (the learning-rate / weight-decay pattern).
    def f(x, s):
        return np.sum(x ** 2) * s

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(td.grad(f)(x, 0.5), x)
    gs = td.grad(f, argnums=1)(x, 0.5)
    assert type(gs) is float and gs == pytest.approx(14.0)


def test_python_float_argument_gives_python_float_gradient():
    g = td.grad(lambda x, y: x ** 3 * y + np.sin(x), argnums=(0, 1))(2.0, 5.0)
    assert type(g[0]) is float and type(g[1]) is float
    assert g[0] == pytest.approx(3 * 4.0 * 5.0 + np.cos(2.0), rel=1e-12)
    assert g[1] == pytest.approx(8.0, rel=1e-12)


def test_python_float_argument_unused_gives_float_zero():
    g = td.grad(lambda x, y: y * 3.0)(2.0, 1.0)
    assert type(g) is float and g == 0.0


def test_zero_d_array_gives_zero_d_array_gradient():
    g = td.grad(lambda x: x ** 3)(np.array(2.0))
    assert isinstance(g, np.ndarray) and g.shape == () and g.dtype == np.float64
    assert float(g) == pytest.approx(12.0)
    g32 = td.grad(lambda x: x ** 3 * 0.5)(np.array(2.0, np.float32))
    assert isinstance(g32, np.ndarray) and g32.shape == () and g32.dtype == np.float32
    assert float(g32) == pytest.approx(6.0)


def test_numpy_scalar_gives_numpy_scalar_of_its_dtype():
    g = td.grad(lambda x: x ** 2)(np.float32(3.0))
    assert isinstance(g, np.float32) and float(g) == pytest.approx(6.0)


def test_keyword_arguments_are_not_differentiated_and_are_used():
    def f(x, *, w, power, scale=1.0):
        return np.sum((x * w) ** power * scale)

    x, w = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    g = td.grad(f)(x, w=w, power=2, scale=0.5)
    np.testing.assert_allclose(g, x * w ** 2)  # d/dx 0.5 * (x w)^2
    g3 = td.grad(f)(x, w=w, power=3, scale=1.0)  # a different static value
    np.testing.assert_allclose(g3, 3 * x ** 2 * w ** 3)
    g_new_w = td.grad(f)(x, w=np.array([1.0, 1.0]), power=2, scale=2.0)  # new keyword values
    np.testing.assert_allclose(g_new_w, 4 * x)


def test_keyword_float_scale_of_a_reduction():
    def f(x, scale=1.0):
        return np.sum(x ** 2) * scale

    np.testing.assert_allclose(td.grad(f)(np.array([1.0, 2.0]), scale=3.0), [6.0, 12.0])


# =============================================================================================
# dtypes


def test_float32_inputs_give_float32_gradients_with_python_float_constants():
    def f(x, W):
        h = np.tanh(x @ W) * 0.5 + 1.0
        return np.mean(np.exp(-h) / (2.0 + h ** 2)) * 3.0

    x, W = rand(4, 3, dtype=np.float32), rand(3, 2, dtype=np.float32)
    gx, gW = td.grad(f, argnums=(0, 1))(x, W)
    assert gx.dtype == np.float32 and gW.dtype == np.float32
    value, _ = td.value_and_grad(f)(x, W)
    assert np.result_type(value) == np.float32
    assert_grad_matches_fd(f, gx, (x, W), 0, rtol=2e-3, atol=1e-5)
    assert_grad_matches_fd(f, gW, (x, W), 1, rtol=2e-3, atol=1e-5)


def test_float64_stays_float64():
    f = lambda x: np.mean(np.sin(x) * 0.5)  # noqa: E731
    value, g = td.value_and_grad(f)(rand(3))
    assert g.dtype == np.float64 and np.result_type(value) == np.float64


def test_mixed_float32_float64_follows_numpy_promotion():
    def f(x, y):
        return np.sum((x * y + 1.0) ** 2)

    x32, y64 = rand(3, dtype=np.float32), rand(3)
    value, (gx, gy) = td.value_and_grad(f, argnums=(0, 1))(x32, y64)
    assert np.result_type(value) == np.result_type(np.float32, np.float64) == np.float64
    assert gx.dtype == np.float32  # each gradient has its argument's dtype
    assert gy.dtype == np.float64
    xf, yf = x32.astype(np.float64), y64
    np.testing.assert_allclose(gx, 2 * (xf * yf + 1) * yf, rtol=1e-5)
    np.testing.assert_allclose(gy, 2 * (xf * yf + 1) * xf, rtol=1e-10)


def test_float32_vjp_keeps_float32():
    out, pullback = td.vjp(lambda x: np.sin(x) * 2.0, rand(3, dtype=np.float32))
    assert out.dtype == np.float32
    (g,) = pullback(np.ones(3, np.float32))
    assert g.dtype == np.float32


# =============================================================================================
# td.vjp


def test_vjp_non_scalar_output():
    x = rand(2, 3)
    out, pullback = td.vjp(lambda x: np.sin(x) @ np.ones((3, 4)) * 2.0, x)
    np.testing.assert_allclose(out, np.sin(x) @ np.ones((3, 4)) * 2.0, rtol=1e-12)
    ct = rand(2, 4)
    (g,) = pullback(ct)
    np.testing.assert_allclose(g, 2.0 * np.cos(x) * (ct @ np.ones((4, 3))), rtol=1e-12)


def test_vjp_several_primals_and_pytree_outputs():
    def f(x, y):
        return {"prod": x * y, "stats": (np.sum(x), y ** 2)}

    x, y = rand(2, 3), rand(3)
    out, pullback = td.vjp(f, x, y)
    assert set(out) == {"prod", "stats"} and isinstance(out["stats"], tuple)
    np.testing.assert_allclose(out["prod"], x * y, rtol=1e-12)
    ct = {"prod": rand(2, 3), "stats": (0.5, rand(3))}
    gx, gy = pullback(ct)
    np.testing.assert_allclose(gx, ct["prod"] * y + 0.5, rtol=1e-12)
    np.testing.assert_allclose(gy, np.sum(ct["prod"] * x, axis=0) + 2 * y * ct["stats"][1], rtol=1e-12)


def test_vjp_pytree_primal_and_float():
    out, pullback = td.vjp(lambda p: p["a"] * p["w"], {"a": 2.0, "w": np.array([1.0, 3.0])})
    (g,) = pullback(np.array([1.0, 10.0]))
    assert type(g["a"]) is float and g["a"] == pytest.approx(31.0)
    np.testing.assert_allclose(g["w"], [2.0, 20.0])


def test_vjp_pullback_can_be_called_repeatedly():
    x = rand(3)
    _, pullback = td.vjp(lambda x: np.exp(x), x)
    for ct in np.eye(3):
        (g,) = pullback(ct)
        np.testing.assert_allclose(g, ct * np.exp(x), rtol=1e-12)


@pytest.mark.parametrize("bad", [np.ones((3, 2)), np.ones(6), np.ones(3), 1.0])
def test_vjp_cotangent_of_wrong_shape_is_a_clear_value_error(bad):
    out, pullback = td.vjp(lambda x: x * 2.0, np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        pullback(bad)
    msg = str(info.value)
    assert "(2, 3)" in msg and str(np.shape(bad)) in msg  # both shapes named
    assert "shape" in msg


def test_vjp_cotangent_of_wrong_structure_is_a_value_error():
    _, pullback = td.vjp(lambda x: (x, 2.0 * x), np.ones(2))
    with pytest.raises(ValueError, match="structure"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match="structure"):
        pullback([np.ones(2), np.ones(2)])


@pytest.mark.parametrize(
    "f, args",
    [
        (lambda x: np.tanh(x) * x.T, (rand(3, 3),)),
        (lambda x: np.mean(x ** 2, axis=0) / (1.0 + np.sum(x)), (rand(4, 2, low=0.1),)),
        (lambda x: (x.reshape(3, 2) @ np.ones((2, 5))).T, (rand(6),)),
    ],
)
def test_vjp_matches_finite_differences(f, args):
    td.testing.check_grads(f, *args)


# =============================================================================================
# the cache


def test_cached_path_runs_generated_code_without_calling_the_function():
    calls = []

    def loss(w, X, y):
        calls.append(1)
        residual = X @ w - y
        return np.mean(residual ** 2)

    g = td.grad(loss)
    for _ in range(100):
        w, X, y = rand(3), rand(8, 3), rand(8)
        expected = 2 * X.T @ (X @ w - y) / 8  # by hand
        np.testing.assert_allclose(g(w, X, y), expected, rtol=1e-12, atol=1e-14)
    assert len(calls) == 1  # traced once; every later call ran the generated code
    info = g.cache_info()
    assert info.traces == 1 and info.misses == 1 and info.hits == 99 and info.specializations == 1


def test_new_shape_traces_again_and_clear_cache_resets():
    g = td.grad(lambda x: np.sum(np.sin(x)))
    for _ in range(3):
        x = rand(4)
        np.testing.assert_allclose(g(x), np.cos(x), rtol=1e-12)
    assert g.cache_info().traces == 1
    x5 = rand(5)
    np.testing.assert_allclose(g(x5), np.cos(x5), rtol=1e-12)
    assert g.cache_info().traces == 2 and g.cache_info().specializations == 2
    x32 = rand(4, dtype=np.float32)  # a new dtype is a new specialization too
    assert g(x32).dtype == np.float32
    assert g.cache_info().traces == 3
    g.clear_cache()
    assert tuple(g.cache_info()) == (0, 0, 0, 0)
    np.testing.assert_allclose(g(x), np.cos(x), rtol=1e-12)
    assert g.cache_info().traces == 1


def test_python_scalars_are_values_static_values_are_keys():
    g = td.grad(lambda x, s, n, how: np.sum(x ** n) * s if how == "power" else np.sum(x) * s)
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(g(x, 2.0, 2, "power"), 4.0 * x)
    np.testing.assert_allclose(g(x, 3.0, 2, "power"), 6.0 * x)  # new float: same code
    np.testing.assert_allclose(g(x, 1.0, 3, "power"), 3 * x ** 2)  # new int: same code
    assert g.cache_info().traces == 1
    np.testing.assert_allclose(g(x, 1.0, 3, "sum"), np.ones(2))  # new string: new code
    assert g.cache_info().traces == 2


def test_value_dependent_control_flow_retraces_on_the_other_path():
    def f(x):
        if np.sum(x) > 0:
            return np.sum(x ** 2)
        return np.sum(-3.0 * x)

    g = td.grad(f)
    pos, neg = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    np.testing.assert_allclose(g(pos), 2 * pos)
    np.testing.assert_allclose(g(neg), [-3.0, -3.0])
    np.testing.assert_allclose(g(pos * 3), 6 * pos)
    np.testing.assert_allclose(g(neg * 3), [-3.0, -3.0])
    assert g.cache_info().traces == 2


# =============================================================================================
# the caller's arrays are never modified


def test_function_writing_into_its_argument_leaves_the_caller_array_alone():
    def f(x):
        x[0] = 5.0
        return np.sum(x ** 2)

    x = np.array([1.0, 2.0, 3.0])
    g = td.grad(f)
    for _ in range(2):  # traced call, then cached call
        np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
        grad = g(x)
        np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
        # x[0] is overwritten, so it has no influence; the others: 2 x
        np.testing.assert_allclose(grad, [0.0, 4.0, 6.0])


def test_function_writing_computed_value_into_its_argument():
    # x[1] of a 1-d array is a new scalar, not a view: NumPy code writes like this all the time.
    def f(x):
        x[0] = x[1] * 2.0
        return np.sum(x ** 2)

    x = np.array([1.0, 2.0, 3.0])
    grad = td.grad(f)(x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    # f = (2 x1)^2 + x1^2 + x2^2
    np.testing.assert_allclose(grad, [0.0, 10.0 * 2.0, 6.0])


def test_function_writing_into_non_differentiated_arguments():
    def f(x, y, idx):
        y[0] = 10.0
        idx[0] = 2
        return np.sum(x * y)

    x, y, idx = np.array([1.0, 2.0, 3.0]), np.ones(3), np.array([0, 1])
    grad = td.grad(f)(x, y, idx)
    np.testing.assert_allclose(grad, [10.0, 1.0, 1.0])
    np.testing.assert_array_equal(y, np.ones(3))
    np.testing.assert_array_equal(idx, [0, 1])


def test_inplace_operators_in_the_function_leave_the_caller_array_alone():
    def f(x):
        x += 1
        x *= 2.0
        x -= 0.5
        x /= 4.0
        return np.sum(x ** 2)

    x = np.array([1.0, 2.0, 3.0])
    g = td.grad(f)
    for _ in range(2):
        grad = g(x)
        np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
        y = ((x + 1) * 2.0 - 0.5) / 4.0
        np.testing.assert_allclose(grad, 2 * y * 0.5)


@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_writing_into_a_returned_gradient_changes_neither_inputs_nor_later_results(argnums):
    # The gradient of sum(x * y) with respect to x is y's *value*; it must not be y itself.
    g = td.grad(lambda x, y: np.sum(x * y), argnums=argnums)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    first = g(x, y)
    for grad in (first if isinstance(first, tuple) else (first,)):
        assert grad.flags.writeable
        assert not np.shares_memory(grad, x) and not np.shares_memory(grad, y)
        grad[...] = 99.0
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(y, [3.0, 4.0])
    again = g(x, y)
    gx = again[0] if isinstance(again, tuple) else again
    np.testing.assert_array_equal(gx, [3.0, 4.0])


WEIGHTS = np.array([1.0, 2.0])


@pytest.mark.parametrize("case", ["scalar", "mean", "inline array", "global array"])
def test_writing_into_a_constant_gradient_changes_nothing_else(case):
    # Gradients that do not depend on the inputs: each call must still return a fresh array.
    f, expected = {
        "scalar": (lambda x: np.sum(3.0 * x), [3.0, 3.0]),
        "mean": (lambda x: np.mean(x), [0.5, 0.5]),
        "inline array": (lambda x: np.sum(x * np.array([1.0, 2.0])), [1.0, 2.0]),
        "global array": (lambda x: np.sum(x * WEIGHTS), [1.0, 2.0]),
    }[case]
    WEIGHTS[...] = [1.0, 2.0]
    g = td.value_and_grad(f)
    x = np.array([1.0, 2.0])
    _, grad = g(x)
    np.testing.assert_array_equal(grad, expected)
    grad[...] = -7.0
    np.testing.assert_array_equal(WEIGHTS, [1.0, 2.0])  # the user's global is untouched
    value, grad = g(x)
    np.testing.assert_array_equal(grad, expected)
    assert float(value) == pytest.approx(float(np.dot(x, expected)))
    np.testing.assert_array_equal(x, [1.0, 2.0])


MATRIX = np.arange(9.0).reshape(3, 3)


@pytest.mark.parametrize("case", ["broadcast mean", "diagonal of a constant", "diagonal of a temporary"])
def test_gradients_numpy_would_give_as_read_only_views_are_fresh_writable_arrays(case):
    # np.broadcast_to and np.diagonal return read-only views: the gradient must be a real array,
    # and never a view of the user's matrix (which could then change under it).
    f, x, expected = {
        "broadcast mean": (lambda x: np.sum(np.sin(np.mean(x, axis=0))), np.ones((4, 3)),
                           np.broadcast_to(np.cos(1.0) / 4, (4, 3))),
        "diagonal of a constant": (lambda v: np.sum(np.diag(v) * MATRIX), np.ones(3), [0.0, 4.0, 8.0]),
        "diagonal of a temporary": (lambda v: np.sum(np.diag(v) * (MATRIX * 2.0)), np.ones(3), [0.0, 8.0, 16.0]),
    }[case]
    grad = td.grad(f)(x)
    assert grad.flags.writeable and not np.shares_memory(grad, MATRIX)
    np.testing.assert_allclose(grad, expected, rtol=1e-15)
    grad[...] = -1.0
    np.testing.assert_array_equal(MATRIX, np.arange(9.0).reshape(3, 3))
    np.testing.assert_allclose(td.grad(f)(x), expected, rtol=1e-15)


def test_a_large_temporary_is_not_overwritten_while_its_diagonal_is_read():
    # np.diagonal(t) is a view of t in NumPy: exp must not write into t while d is still to be read.
    x = np.random.default_rng(0).standard_normal((256, 256)) * 0.1

    def f(w):
        t = x * w
        d = np.diagonal(t)
        e = np.exp(t)
        return np.sum(e) * np.sum(d)

    w = 1.3
    t = x * w
    value, grad = td.value_and_grad(f)(w)
    assert value == pytest.approx(np.sum(np.exp(t)) * np.trace(t), rel=1e-12)
    expected = np.sum(np.exp(t) * x) * np.trace(t) + np.sum(np.exp(t)) * np.trace(x)
    assert grad == pytest.approx(expected, rel=1e-12)


def test_gradient_is_not_an_alias_of_an_input_with_value_and_grad_or_vjp():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    _, gx = td.value_and_grad(lambda x, y: np.sum(x * y))(x, y)
    assert not np.shares_memory(gx, y)
    _, pullback = td.vjp(lambda x: x * 1.0 + 0.0, x)
    ct = np.array([5.0, 6.0])
    (g,) = pullback(ct)
    assert not np.shares_memory(g, ct) and not np.shares_memory(g, x)


# =============================================================================================
# determinism


def ten_ops(x, W, b):
    h = np.tanh(x @ W + b)
    z = h * 2.0 - 1.0
    e = np.exp(-z ** 2)
    s = np.sin(z) / (1.0 + e)
    return np.mean(s * s + np.log1p(e))


def ten_ops_args():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 3)), rng.standard_normal((3, 2)) * 0.5, rng.standard_normal(2)


def test_source_is_byte_identical_across_grad_objects():
    args = ten_ops_args()
    s1 = td.grad(ten_ops, argnums=(1, 2)).source(*args)
    s2 = td.grad(ten_ops, argnums=(1, 2)).source(*args)
    s3 = td.grad(ten_ops, argnums=(1, 2)).source(*(a + 1.0 for a in args))  # same shapes
    assert s1 == s2 == s3


_DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tracediff as td

    def model(p, x):
        h = np.tanh(x @ p["w1"] + p["b1"])
        out = h @ p["w2"]
        return np.mean((out - 1.0) ** 2) + 0.1 * np.sum(p["w1"] ** 2)

    p = {"w1": np.ones((3, 4)), "b1": np.zeros(4), "w2": np.ones((4, 2)), "z": np.zeros(1)}
    print(td.grad(model).source(p, np.ones((5, 3))), end="")
    """
)


def test_source_is_byte_identical_across_processes(tmp_path):
    script = tmp_path / "model_script.py"
    script.write_text(_DETERMINISM_SCRIPT)
    outs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        res = subprocess.run([sys.executable, str(script)], capture_output=True, env=env,
                             timeout=60, check=True)
        outs.append(res.stdout)
    assert outs[0] == outs[1] and b"def " in outs[0]


# =============================================================================================
# the generated source


def _code_without_comments(source: str) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return tokenize.untokenize(t for t in tokens if t.type != tokenize.COMMENT)


ARRAY_METHODS = {"copy", "reshape", "astype", "sum", "transpose", "T"}


def test_generated_source_is_plain_numpy():
    args = ten_ops_args()
    g = td.grad(ten_ops, argnums=(0, 1, 2))
    src = g.source(*args)
    assert "Tracer" not in src and "tape" not in src.lower()
    code = _code_without_comments(src)
    assert "tracediff" not in code and "Tracer" not in code and "tape" not in code.lower()

    tree = ast.parse(src)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(functions) == 1
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.Import) and [a.name for a in n.names] == ["numpy"] for n in imports)
    assert {type(n) for n in tree.body} <= {ast.Import, ast.FunctionDef}

    fn = functions[0]
    params = {a.arg for a in fn.args.args}
    assigned = {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    for node in ast.walk(fn):
        # statements: assignments and the return only (no loops, no calls into a runtime)
        if isinstance(node, ast.stmt):
            assert isinstance(node, (ast.FunctionDef, ast.Assign, ast.Return)), ast.dump(node)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            assert node.id == "np" or node.id in params or node.id in assigned, node.id
        if isinstance(node, ast.Call):
            func = node.func
            root = func
            while isinstance(root, ast.Attribute):
                root = root.value
            is_numpy = isinstance(func, ast.Attribute) and isinstance(root, ast.Name) and root.id == "np"
            is_method = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                         and func.value.id != "np" and func.attr in ARRAY_METHODS)
            assert is_numpy or is_method, ast.unparse(node)

    # standalone: run it with nothing but NumPy, and check it against finite differences
    namespace = {"np": np}
    exec(compile(src, "<standalone>", "exec"), namespace)
    outputs = namespace[fn.name](*args)
    flat = [o for o in outputs]
    assert len(flat) == 3
    for i in range(3):
        assert_grad_matches_fd(ten_ops, flat[i], args, i)


def test_generated_source_names_the_users_lines():
    args = ten_ops_args()
    src = td.grad(ten_ops).source(*args)
    first = ten_ops.__code__.co_firstlineno
    assert f"test_api.py:{first + 1}" in src and "h = np.tanh(x @ W + b)" in src


def test_traceback_through_generated_code_shows_its_lines():
    def f(x):
        return np.sum(np.log(x))

    g = td.grad(f)
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [1.0, 0.5])
    src = g.source(np.array([1.0, 2.0]))
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError) as info:
            g(np.array([0.0, 2.0]))  # the generated code computes 1 / x
    tb = info.value.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    assert code.co_filename.startswith("<tracediff")
    line = src.splitlines()[tb.tb_lineno - 1]
    assert "/" in line and "x" in line  # the failing line of the generated source
    formatted = "".join(traceback.format_exception(info.value))
    assert line.strip() in formatted  # linecache knows the generated source
    fn_source = inspect.getsource(code)  # and inspect finds the generated function
    assert fn_source.startswith("def ") and fn_source in src


# =============================================================================================
# td.trace


def test_trace_prints_one_line_per_node():
    def f(x, y):
        z = x * y
        return np.sum(np.sin(z))

    graph = td.trace(f, rand(3, 4), rand(3, 4))
    lines = str(graph).splitlines()
    assert lines[0] == "graph(v0 x: f64[3,4], v1 y: f64[3,4]):"  # the user's names beside the ids
    assert lines[-1] == "  return v4"
    body = lines[1:-1]
    pattern = re.compile(r"^  (v\d+) = (\w+)\((.*?)\)  # (?:(\w+): )?(\S+)\s+(.*)$")
    parsed = [pattern.match(line) for line in body]
    assert all(parsed), body
    assert [m.group(2) for m in parsed] == ["multiply", "sin", "sum"]
    assert [m.group(1) for m in parsed] == ["v2", "v3", "v4"]
    assert parsed[0].group(3) == "v0, v1"
    assert [m.group(4) for m in parsed] == ["z", None, None]
    assert [m.group(5) for m in parsed] == ["f64[3,4]", "f64[3,4]", "f64[]"]
    first = f.__code__.co_firstlineno
    assert parsed[0].group(6) == f"test_api.py:{first + 1}  z = x * y"
    assert parsed[2].group(6).startswith(f"test_api.py:{first + 2}")


def test_trace_shows_float32_and_python_float_inputs():
    out = str(td.trace(lambda x, s: np.sum(x * s), np.ones(2, np.float32), 0.5))
    assert out.splitlines()[0] == "graph(v0 x: f32[2], v1 s: f64[]):"
    assert "multiply(v0, v1)" in out


# =============================================================================================
# user primitives


def softplus(x):
    return np.log1p(np.exp(x))


softplus_p = td.primitive(softplus)
td.defvjp(softplus_p, lambda g, ans, x: g / (1.0 + np.exp(-x)))


def test_primitive_with_defvjp_differentiates_correctly():
    def f(x):
        return np.sum(softplus_p(x) * x)

    x = np.linspace(-2.0, 2.0, 5)
    g = td.grad(f)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(g(x), np.log1p(np.exp(x)) + x * sig, rtol=1e-12)
    assert_grad_matches_fd(f, g(x), (x,), 0)
    td.testing.check_grads(lambda x: softplus_p(x) ** 2, x)


def test_primitive_is_opaque_and_called_by_the_generated_code():
    calls = []

    def scaled(x, y):
        calls.append(type(x))
        return x * y + x

    p = td.primitive(scaled)
    td.defvjp(p, lambda g, ans, x, y: g * (y + 1.0), lambda g, ans, x, y: g * x)

    f = lambda a, b: np.sum(p(a, b) ** 2)  # noqa: E731
    a, b = rand(3), rand(3)
    ga, gb = td.grad(f, argnums=(0, 1))(a, b)
    r = a * b + a
    np.testing.assert_allclose(ga, 2 * r * (b + 1), rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * r * a, rtol=1e-12)
    assert all(t is np.ndarray for t in calls)  # never sees a tracer: it is opaque


def test_primitive_made_from_a_lambda():
    triple = td.primitive(lambda x: x * 3.0)
    td.defvjp(triple, lambda g, ans, x: g * 3.0)
    np.testing.assert_allclose(td.grad(lambda x: np.sum(triple(x) ** 2))(np.array([1.0, 2.0])),
                               [18.0, 36.0])


def test_two_primitives_with_the_same_name_in_one_function():
    def make(k):
        def scale(x):
            return x * k

        p = td.primitive(scale)
        td.defvjp(p, lambda g, ans, x: g * k)
        return p

    p2, p5 = make(2.0), make(5.0)
    # f = sum(2x * 5x) = 10 sum(x^2): gradient 20 x
    np.testing.assert_allclose(td.grad(lambda x: np.sum(p2(x) * p5(x)))(np.array([1.0, 2.0])),
                               [20.0, 40.0])


def test_the_garbage_collector_is_back_as_it_was_after_a_build():
    import gc

    assert gc.isenabled()
    td.grad(lambda x: np.sum(x ** 2))(np.ones(3))
    assert gc.isenabled()
    with pytest.raises(td.NonScalarOutputError):
        td.grad(lambda x: x * 2)(np.ones(3))  # a build that fails
    assert gc.isenabled()
    gc.disable()
    try:
        td.grad(lambda x: np.sum(x ** 3))(np.ones(3))
        assert not gc.isenabled()  # the user's choice is kept
    finally:
        gc.enable()


def test_each_node_carries_the_line_of_the_user_code_that_made_it():
    # The profile hook tells record which user frame called in (no stack walk per value); after a
    # helper returns, and inside code a primitive runs, the line must still be the right one.
    import inspect

    def helper(x):
        return np.sin(x)

    def f(x):
        y = helper(x) * 2.0
        z = np.exp(y) + helper(y)
        return np.sum(z)

    first = {fn: inspect.getsourcelines(fn)[1] for fn in (helper, f)}
    nodes = td.trace(f, np.ones(3)).nodes
    lines = [(n.primitive.name, n.loc.lineno - first[helper if n.loc.lineno < first[f] else f]) for n in nodes]
    assert lines == [("sin", 1), ("multiply", 1), ("exp", 2), ("sin", 1), ("add", 2), ("sum", 3)], lines
