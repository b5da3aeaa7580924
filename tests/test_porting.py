"""The tools people coming from autograd and JAX expect: ravel_pytree, the optimizers,
custom_vjp's defvjp(fwd, bwd) and the foreign spellings of check_grads."""
import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads
from tracediff.transforms import CustomVJPError

RNG = np.random.default_rng(7)


# --- ravel_pytree ----------------------------------------------------------------------------

def mixed_tree():
    return {
        "w": RNG.standard_normal((2, 3)),
        "layers": [RNG.standard_normal(4).astype(np.float32), np.float32(1.5), 2.5],
        "none": None,
        "pair": (np.array(3.0), np.arange(3)),
    }


def test_ravel_pytree_round_trips_shapes_dtypes_and_types():
    tree = mixed_tree()
    flat, unravel = td.ravel_pytree(tree)
    assert flat.shape == (6 + 4 + 1 + 1 + 1 + 3,) and flat.dtype == np.float64  # the common dtype
    # dict keys sorted, as everywhere in tracediff: layers, none, pair, w
    np.testing.assert_array_equal(flat[:4], tree["layers"][0])
    np.testing.assert_array_equal(flat[-6:], tree["w"].ravel())
    back = unravel(flat)
    assert set(back) == set(tree) and back["none"] is None
    for got, want in [(back["w"], tree["w"]), (back["layers"][0], tree["layers"][0]),
                      (back["pair"][0], tree["pair"][0]), (back["pair"][1], tree["pair"][1])]:
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert type(back["layers"][1]) is np.float32 and back["layers"][1] == np.float32(1.5)
    assert type(back["layers"][2]) is float and back["layers"][2] == 2.5
    assert isinstance(back["pair"], tuple) and isinstance(back["layers"], list)


def test_unravel_gives_fresh_arrays_and_checks_the_vector():
    flat, unravel = td.ravel_pytree([np.ones(2), np.ones((1, 2))])
    a, b = unravel(flat)
    a[0] = 5.0
    assert b[0, 0] == 1.0 and flat[0] == 1.0
    with pytest.raises(ValueError, match=r"unravel: expected a flat vector of shape \(4,\).*got shape \(2, 2\)"):
        unravel(flat.reshape(2, 2))


def test_ravel_pytree_float32_only_stays_float32_and_empty_tree():
    flat, unravel = td.ravel_pytree({"a": np.ones(2, np.float32), "b": np.zeros((2, 2), np.float32)})
    assert flat.dtype == np.float32 and flat.shape == (6,)
    flat, unravel = td.ravel_pytree({})
    assert flat.shape == (0,) and unravel(flat) == {}


def test_ravel_pytree_rejects_non_numeric_leaves():
    with pytest.raises(TypeError, match=r"ravel_pytree: the leaf \['name'\] is str"):
        td.ravel_pytree({"name": "w", "x": np.ones(2)})


def test_gradient_through_ravel_pytree_inside_the_function():
    params = {"w": RNG.standard_normal((3, 2)), "b": RNG.standard_normal(2), "s": 0.7}

    def loss(p):
        flat, unravel = td.ravel_pytree(p)
        q = unravel(np.tanh(flat))
        return np.sum(flat ** 2) * q["s"] + np.sum(q["w"] @ q["b"])

    check_grads(loss, params)
    # exact: d/dflat [sum(flat^2) tanh(s)] = 2 flat tanh(s), plus the tanh terms
    g = td.grad(loss)(params)
    assert type(g["s"]) is float and g["w"].shape == (3, 2)
    t = {k: np.tanh(v) for k, v in params.items()}
    sumsq = sum(float(np.sum(np.square(v))) for v in params.values())
    np.testing.assert_allclose(g["b"], 2 * params["b"] * t["s"] + (1 - t["b"] ** 2) * t["w"].sum(0), rtol=1e-12)
    np.testing.assert_allclose(g["s"], 2 * params["s"] * t["s"] + sumsq * (1 - t["s"] ** 2), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_of_a_function_of_the_flat_vector_first_and_second_order(dtype):
    params = {"w": RNG.standard_normal((2, 3)).astype(dtype), "b": RNG.standard_normal(3).astype(dtype)}
    flat, unravel = td.ravel_pytree(params)
    x = RNG.standard_normal(2).astype(dtype)

    def objective(v):
        p = unravel(v)
        return np.sum(np.sin(x @ p["w"] + p["b"]) ** 2)

    # check_grads' second order is too coarse in float32 (finite differences of a float32
    # gradient); there the Hessian is compared with one computed in float64 instead.
    check_grads(objective, flat, order=2 if dtype == np.float64 else 1)
    in_float64 = td.ravel_pytree({k: v.astype(np.float64) for k, v in params.items()})[1]
    hessian64 = td.hessian(lambda v: np.sum(np.sin(x @ in_float64(v)["w"] + in_float64(v)["b"]) ** 2))(
        flat.astype(np.float64))
    np.testing.assert_allclose(td.hessian(objective)(flat), hessian64, rtol=1e-4, atol=1e-5)
    g_flat = td.grad(objective)(flat)
    g_tree = td.grad(lambda p: np.sum(np.sin(x @ p["w"] + p["b"]) ** 2))(params)
    assert g_flat.dtype == dtype
    np.testing.assert_array_equal(g_flat, td.ravel_pytree(g_tree)[0])


# --- optimizers ------------------------------------------------------------------------------

def reference_step(name, x, g, i, state, **h):
    """One update written out in NumPy, from the textbook formulas."""
    if name == "sgd":
        (v,) = state
        v = h["mass"] * v - (1 - h["mass"]) * g
        return x + h["step_size"] * v, (v,)
    if name == "momentum":
        (v,) = state
        v = h["mass"] * v + g
        return x - h["step_size"] * v, (v,)
    if name == "rmsprop":
        (r,) = state
        r = h["gamma"] * r + (1 - h["gamma"]) * g ** 2
        return x - h["step_size"] * g / (np.sqrt(r) + h["eps"]), (r,)
    m, v = state
    m = h["b1"] * m + (1 - h["b1"]) * g
    v = h["b2"] * v + (1 - h["b2"]) * g ** 2
    m_hat, v_hat = m / (1 - h["b1"] ** (i + 1)), v / (1 - h["b2"] ** (i + 1))
    return x - h["step_size"] * m_hat / (np.sqrt(v_hat) + h["eps"]), (m, v)


HYPER = {
    "sgd": dict(step_size=0.05, mass=0.8),
    "momentum": dict(step_size=0.02, mass=0.7),
    "rmsprop": dict(step_size=0.03, gamma=0.85, eps=1e-8),
    "adam": dict(step_size=0.04, b1=0.8, b2=0.95, eps=1e-8),
}
START = {"sgd": (0.0,), "momentum": (0.0,), "rmsprop": (1.0,), "adam": (0.0, 0.0)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(HYPER))
def test_optimizer_steps_match_a_numpy_reference_exactly(name, dtype):
    A = RNG.standard_normal((3, 3)).astype(dtype)
    x0 = {"a": RNG.standard_normal(3).astype(dtype), "b": [RNG.standard_normal((2, 2)).astype(dtype)]}

    def grad_fun(x, i):  # a gradient that changes with i, so the iteration number must be right
        return {"a": np.tanh(A @ x["a"]) * (i + 1), "b": [x["b"][0] ** 3 - dtype(0.5) * i]}

    num_iters = 5
    x = {"a": x0["a"], "b": x0["b"][0]}
    states = {k: tuple(np.full_like(v, s) for s in START[name]) for k, v in x.items()}
    for i in range(num_iters):
        g = grad_fun({"a": x["a"], "b": [x["b"]]}, i)
        g = {"a": g["a"], "b": g["b"][0]}
        for k in x:
            x[k], states[k] = reference_step(name, x[k], g[k], i, states[k], **HYPER[name])
    seen = []
    result = getattr(td, name)(grad_fun, x0, callback=lambda x, i, g: seen.append(i), num_iters=num_iters,
                               **HYPER[name])
    assert seen == list(range(num_iters))
    assert isinstance(result["b"], list) and result["a"].dtype == dtype and result["b"][0].dtype == dtype
    np.testing.assert_array_equal(result["a"], x["a"])
    np.testing.assert_array_equal(result["b"][0], x["b"])


@pytest.mark.parametrize("name, options", [
    ("sgd", dict(step_size=0.1, num_iters=300)),
    ("momentum", dict(step_size=0.01, num_iters=300)),
    ("rmsprop", dict(step_size=0.02, num_iters=600)),
    ("adam", dict(step_size=0.05, num_iters=800)),
])
def test_optimizers_minimize_a_least_squares_problem(name, options):
    X = RNG.standard_normal((40, 3))
    true_w, true_b = np.array([1.0, -2.0, 0.5]), 0.3
    y = X @ true_w + true_b

    def loss(params, X, y):
        return np.mean((X @ params["w"] + params["b"] - y) ** 2)

    g = td.grad(loss)
    start = {"w": np.zeros(3), "b": 0.0}
    result = getattr(td, name)(lambda p, i: g(p, X, y), start, **options)
    assert type(result["b"]) is float and start["w"].tolist() == [0.0, 0.0, 0.0]  # x0 not changed
    assert loss(result, X, y) < 1e-4 * loss(start, X, y)
    np.testing.assert_allclose(result["w"], true_w, atol=0.02)


def test_callback_sees_x_i_and_g_before_each_step():
    calls = []
    x = td.sgd(lambda x, i: 2 * x, np.array([1.0]), num_iters=2, step_size=0.5, mass=0.0,
               callback=lambda x, i, g: calls.append((x.item(), i, g.item())))
    assert calls == [(1.0, 0, 2.0), (0.0, 1, 0.0)] and x.tolist() == [0.0]


def test_optimizer_errors_name_the_optimizer_and_the_leaf():
    with pytest.raises(ValueError, match=r"adam: grad_fun\(x, 0\) returned a gradient whose structure differs"):
        td.adam(lambda x, i: [x["a"]], {"a": np.ones(2)})
    with pytest.raises(ValueError, match=r"sgd: grad_fun\(x, 0\) returned .* shape \(3,\) for x\['a'\]"):
        td.sgd(lambda x, i: {"a": np.ones(3)}, {"a": np.ones(2)})
    with pytest.raises(TypeError, match=r"momentum: x0\['n'\] is ndarray of int64"):
        td.momentum(lambda x, i: x, {"n": np.arange(2)})
    with pytest.raises(ValueError, match="rmsprop: num_iters must be a non-negative int"):
        td.rmsprop(lambda x, i: x, np.ones(2), num_iters=-1)
    assert td.adam(lambda x, i: x, np.ones(2), num_iters=0).tolist() == [1.0, 1.0]


def test_a_gradient_of_x_and_i_is_traced_once():
    # the iteration number is a Python int: a runtime value of the generated code, not a retrace
    g = td.grad(lambda x, i: np.sum((x - 1.0) ** 2) * (1.0 + 1.0 / (i + 1)))
    x = td.adam(g, np.zeros(2), num_iters=300, step_size=0.05)
    assert g.cache_info().traces == 1
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-3)


# --- custom_vjp: JAX's defvjp(fwd, bwd) ------------------------------------------------------

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@td.custom_vjp
def softplus(x):
    return np.logaddexp(x, 0.0)


def softplus_fwd(x):
    return np.logaddexp(x, 0.0), (sigmoid(x),)


def softplus_bwd(residuals, g):
    (s,) = residuals
    return (g * s,)


softplus.defvjp(softplus_fwd, softplus_bwd)


def test_defvjp_fwd_bwd_first_and_second_order():
    x = np.array([-3.0, 0.0, 0.5, 40.0])
    s = sigmoid(x)
    np.testing.assert_allclose(td.grad(lambda x: np.sum(softplus(x)))(x), s, rtol=1e-14)
    # the residual s depends on x, so the second derivative differentiates bwd through it
    second = td.elementwise_grad(td.elementwise_grad(softplus))(x)
    np.testing.assert_allclose(second, s * (1 - s), rtol=1e-12, atol=1e-16)
    check_grads(lambda x: np.sum(softplus(x) ** 2), x, order=2)
    np.testing.assert_array_equal(softplus(x), np.logaddexp(x, 0.0))  # untraced: the function itself


def test_defvjp_fwd_bwd_is_used_not_the_forward_code():
    @td.custom_vjp
    def clip_gradient(x, lo, hi):
        return x

    def fwd(x, lo, hi):
        return x, {"bounds": (lo, hi), "label": "unused"}

    def bwd(res, g):
        lo, hi = res["bounds"]
        return (np.clip(g, lo, hi), None, None)

    clip_gradient.defvjp(fwd, bwd)
    g = td.grad(lambda x: np.sum(clip_gradient(x, -1.0, 1.0) * np.array([5.0, -0.5, -3.0])))(np.ones(3))
    np.testing.assert_array_equal(g, [1.0, -0.5, -1.0])


def test_defvjp_fwd_bwd_with_two_arguments_and_a_jacobian():
    @td.custom_vjp
    def mul(a, b):
        return a * b

    mul.defvjp(lambda a, b: (a * b, (a, b)), lambda res, g: (g * res[1], g * res[0]))
    a, b = RNG.standard_normal(3), RNG.standard_normal(3)
    check_grads(lambda a, b: np.sum(np.sin(mul(a, b))), a, b, argnums=(0, 1), order=2)
    np.testing.assert_allclose(td.jacobian(lambda a: mul(a, b))(a), np.diag(b))


def test_defvjp_fwd_bwd_misuse():
    @td.custom_vjp
    def f(x):
        return 2 * x

    f.defvjp(lambda x: 2 * x, lambda res, g: (2 * g,))
    with pytest.raises(CustomVJPError, match="the fwd function of .*f returned one value; it must return a pair"):
        td.grad(lambda x: np.sum(f(x)))(np.ones(2))
    f.defvjp(lambda x: (2 * x, None), lambda res, g: (2 * g, g))
    with pytest.raises(CustomVJPError, match="returned 2 cotangent"):
        td.grad(lambda x: np.sum(f(x)))(np.ones(2))
    with pytest.raises(TypeError, match="defvjp: bwd must be a function"):
        f.defvjp(lambda x: (x, None), "bwd")


# --- check_grads in autograd's and JAX's spellings --------------------------------------------

def test_check_grads_autograd_spelling():
    check_grads(lambda x: np.sum(np.sin(x) * x), modes=["rev"], order=2)(np.linspace(-1, 1, 4))
    check_grads(lambda x, y: np.sum(x * np.cos(y)), argnums=1)(np.ones(2), np.linspace(0, 1, 2))
    bad = td.primitive(lambda x: x ** 3, name="cube")
    td.defvjp(bad, lambda g, ans, x: g * 3 * td.stop_gradient(x) ** 2)  # wrong second derivative
    check_grads(lambda x: np.sum(bad(x)), order=1)(np.array([0.5, 1.5]))
    with pytest.raises(AssertionError):
        check_grads(lambda x: np.sum(bad(x)), modes=["rev"], order=2)(np.array([0.5, 1.5]))


def test_check_grads_jax_spelling():
    x, y = np.linspace(-1, 1, 3), np.linspace(0, 2, 3)
    check_grads(lambda x, y: np.sum(np.tanh(x * y)), (x, y), 2, modes=["rev"])
    check_grads(lambda x, y: np.sum(np.tanh(x * y)), (x, y), order=1, modes=("fwd", "rev"))
    wrong = td.primitive(lambda x: np.sin(x), name="wrong_sin")
    td.defvjp(wrong, lambda g, ans, x: g * np.cos(x) * 1.01)
    with pytest.raises(AssertionError, match="wrong_sin|argument 1"):
        check_grads(lambda x, y: np.sum(wrong(y) * x), (x, y), 1, modes=["rev"])
    with pytest.raises(AssertionError):
        check_grads(lambda x, y: np.sum(wrong(y) * x), (x, y), 1, modes=["fwd"])


def test_check_grads_foreign_spelling_errors():
    with pytest.raises(ValueError, match="check_grads: modes must name 'fwd' and/or 'rev'"):
        check_grads(lambda x: np.sum(x), modes=["backward"])(np.ones(2))
    with pytest.raises(TypeError, match=r"check_grads: with modes=, pass the arguments as one tuple"):
        check_grads(lambda x: np.sum(x), np.ones(2), modes=["rev"])


def test_check_grads_second_order_on_containers_of_parameters():
    # autograd checks to order 2 by default, often on dicts of parameters
    params = {"w": RNG.standard_normal((3, 2)), "b": [RNG.standard_normal(2), 0.3]}
    x = RNG.standard_normal(3)

    def loss(p):
        return np.sum(np.tanh(x @ p["w"] + p["b"][0]) ** 2) * p["b"][1]

    check_grads(loss, params, order=2)
    check_grads(loss, modes=["rev"], order=2)(params)
    cube = td.primitive(lambda x: x ** 3, name="cube_in_a_dict")
    td.defvjp(cube, lambda g, ans, x: g * 3 * td.stop_gradient(x) ** 2)  # wrong second derivative
    check_grads(lambda p: np.sum(cube(p["w"])), params)
    with pytest.raises(AssertionError):
        check_grads(lambda p: np.sum(cube(p["w"])), params, order=2)
