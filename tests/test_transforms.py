"""Jacobians, Hessians, hvp, jvp, elementwise_grad, custom VJPs and second-order checks."""
import numpy as np
import pytest

import tracediff as td
from tracediff.testing import check_grads, numerical_vjp
from tracediff.transforms import CustomVJPError

RNG = np.random.default_rng(0)


def numerical_jacobian(fun, x):
    out = np.asarray(fun(x))
    rows = [numerical_vjp(fun, (x,), 0, e.reshape(out.shape))[0] for e in np.eye(out.size)]
    return np.array(rows).reshape(out.shape + np.shape(x))


@pytest.mark.parametrize("fun, x", [
    (lambda x: np.tanh(x) * x[::-1], RNG.standard_normal(4)),
    (lambda x: x @ np.arange(6.0).reshape(3, 2) + np.sin(x[:2]), RNG.standard_normal(3)),
    (lambda x: np.exp(x) / np.sum(np.exp(x)), RNG.standard_normal(5)),
    (lambda x: (x.T @ x) ** 2, RNG.standard_normal((3, 2))),
])
def test_jacobian_matches_finite_differences(fun, x):
    np.testing.assert_allclose(td.jacobian(fun)(x), numerical_jacobian(fun, x), rtol=1e-6, atol=1e-8)


def test_jacobian_is_one_generated_function_traced_once():
    J = td.jacobian(lambda x: np.sin(x) * np.sum(x))
    for _ in range(5):
        x = RNG.standard_normal(4)
        np.testing.assert_allclose(J(x), numerical_jacobian(lambda x: np.sin(x) * np.sum(x), x), atol=1e-8)
    assert J.cache_info().traces == 1  # calls run the generated code: no Python loop over rows


def test_seed_jacobian_of_eye_plus_one_squared():
    inp = np.eye(5)
    J = td.jacobian(lambda x: (x + 1) ** 2)(inp)
    np.testing.assert_array_equal(J.reshape(25, 25), np.diag(2 * (inp + 1).ravel()))


def test_jacobian_with_several_argnums():
    f = lambda a, b: a * b[0] + b  # noqa: E731
    Ja, Jb = td.jacobian(f, argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(Ja, [[3.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(Jb, [[2.0, 0.0], [2.0, 1.0]])


def test_jacobian_runs_one_backward_pass_whatever_the_number_of_outputs():
    # n -> m for m = 2 and m = 40: the generated code has the same statements, over a batch axis
    # of length m (a backward pass per row would grow with m).
    def make(m):
        A = RNG.standard_normal((m, 3))
        return (lambda x: np.tanh(A @ x) * np.sum(x ** 2)), A

    sizes = []
    for m in (2, 40):
        f, A = make(m)
        x = RNG.standard_normal(3)
        J = td.jacobian(f)
        np.testing.assert_allclose(J(x), numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)
        graph = J.ir(x)
        sizes.append(len(graph.nodes))
        assert sum(node.primitive.name == "units" for node in graph.nodes) == 1  # one batch of seeds
    assert sizes[0] == sizes[1]


def _doubler():
    """An opaque primitive whose rule applies the primitive itself to the cotangent (so the
    backward pass holds a primitive without a batching rule)."""
    double = td.primitive(lambda v: 2 * v, name="double")
    td.defvjp(double, lambda g, ans, v: double(g))
    return double


def test_jacobian_applies_a_primitive_without_batching_rule_row_by_row():
    double = _doubler()
    f = lambda x: double(np.sin(x))  # noqa: E731
    x = RNG.standard_normal(3)
    J = td.jacobian(f)
    np.testing.assert_allclose(J(x), np.diag(2 * np.cos(x)), atol=1e-12)
    assert J._spec_for((x,), {}).extra["written_per_row"] == ["double"]
    with pytest.raises(td.TracediffError, match=r"double, which has no batching rule.*5 rows.*max_rows=4"):
        td.jacobian(f, max_rows=4)(np.ones(5))


def test_defbatch_gives_a_primitive_a_batching_rule():
    double = _doubler()
    td.defbatch(double, lambda args, batched, out_shape: double(args[0]))
    J = td.jacobian(lambda x: double(np.sin(x)), max_rows=4)
    x = RNG.standard_normal(5)
    np.testing.assert_allclose(J(x), np.diag(2 * np.cos(x)), atol=1e-12)
    assert J._spec_for((x,), {}).extra["written_per_row"] == []


def test_a_batching_rule_of_the_wrong_shape_is_an_error_not_a_wrong_jacobian():
    double = _doubler()
    td.defbatch(double, lambda args, batched, out_shape: double(args[0][0]))  # drops the batch axis
    with pytest.raises(AssertionError, match="batching rule of double"):
        td.jacobian(lambda x: double(np.sin(x)))(np.ones(3))


@pytest.mark.parametrize("out, dtype", [(lambda x: x * 1j, "complex128"), (lambda x: np.argsort(x), "int64")])
def test_jacobian_of_a_non_float_output_is_refused(out, dtype):
    with pytest.raises(td.TracediffError, match=f"output is {dtype}.*real floating-point"):
        td.jacobian(out)(np.ones(3))


def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose():
    A = RNG.standard_normal((4, 4))
    np.testing.assert_allclose(td.hessian(lambda x: x @ A @ x)(RNG.standard_normal(4)), A + A.T, atol=1e-12)


def test_hessian_of_rosenbrock_is_the_closed_form():
    def rosenbrock(x):
        return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    x = np.array([1.2, 0.8, 1.1, -0.5])
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):  # each term 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i, i + 1] += -400 * x[i]
        H[i + 1, i] += -400 * x[i]
        H[i + 1, i + 1] += 200
    np.testing.assert_allclose(td.hessian(rosenbrock)(x), H, rtol=1e-12)


def test_hessian_of_log_sum_exp_is_diag_p_minus_p_p_transpose():
    x = RNG.standard_normal(4)
    p = np.exp(x) / np.sum(np.exp(x))
    np.testing.assert_allclose(td.hessian(lambda x: np.log(np.sum(np.exp(x))))(x),
                               np.diag(p) - np.outer(p, p), atol=1e-12)


def test_hessian_of_an_mlp_loss_matches_finite_differences_of_its_gradient():
    X, y = RNG.standard_normal((6, 3)), RNG.standard_normal(6)
    W2 = RNG.standard_normal(4)

    def loss(w):  # w: the first layer's weights, flattened
        h = np.tanh(X @ w.reshape(3, 4))
        return np.mean((h @ W2 - y) ** 2)

    w = RNG.standard_normal(12) * 0.5
    grad = td.grad(loss)
    numeric = np.array([numerical_vjp(lambda w: grad(w), (w,), 0, e)[0] for e in np.eye(12)])
    np.testing.assert_allclose(td.hessian(loss)(w), numeric, rtol=1e-5, atol=1e-7)


def test_third_derivatives():
    for x in (0.3, 1.7):
        assert td.grad(td.grad(td.grad(np.sin)))(x) == pytest.approx(-np.cos(x), rel=1e-12)
        assert td.grad(td.grad(td.grad(lambda x: x ** 4)))(x) == pytest.approx(24 * x, rel=1e-12)


def test_hvp_equals_hessian_times_v_without_forming_it():
    f = lambda x: np.sum(np.sin(x) * x ** 2)  # noqa: E731
    x, v = RNG.standard_normal(5), RNG.standard_normal(5)
    hvp = td.hvp(f)
    np.testing.assert_allclose(hvp(x, v), td.hessian(f)(x) @ v, atol=1e-12)
    largest = max(int(np.prod(n.out.shape)) for n in hvp.ir(x, v).nodes if n.out is not None)
    assert largest <= x.size  # nothing of the Hessian's n x n size is formed


def test_jvp_matches_jacobian_times_v():
    f = lambda x: np.tanh(x) * np.sum(x ** 2)  # noqa: E731
    x, v = RNG.standard_normal(4), RNG.standard_normal(4)
    out, tangent = td.jvp(f, (x,), (v,))
    np.testing.assert_allclose(out, f(x))
    np.testing.assert_allclose(tangent, td.jacobian(f)(x) @ v, atol=1e-12)


def test_jvp_with_two_primals():
    f = lambda a, b: a * np.sin(b)  # noqa: E731
    a, b, ta, tb = (RNG.standard_normal(3) for _ in range(4))
    _, tangent = td.jvp(f, (a, b), (ta, tb))
    np.testing.assert_allclose(tangent, ta * np.sin(b) + a * np.cos(b) * tb, atol=1e-12)


def test_elementwise_grad():
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(td.elementwise_grad(np.tanh)(x), 1 - np.tanh(x) ** 2)


@td.custom_vjp
def log1pexp(x):
    return np.log1p(np.exp(x))


@log1pexp.defvjp
def _log1pexp_vjp(g, ans, x):
    return (g / (1 + np.exp(-x)),)  # the naive rule g * exp(x) / (1 + exp(x)) is nan at 1000


def test_custom_vjp_is_stable_and_shows_in_the_source():
    g = td.grad(lambda x: np.sum(log1pexp(x)))
    x = np.array([1000.0, 0.0, -5.0])
    with np.errstate(over="ignore"):  # the forward overflows to inf at 1000; the rule does not
        np.testing.assert_allclose(g(x), [1.0, 0.5, 1 / (1 + np.exp(5.0))])
        backward = g.source(x).split("backward pass")[1]
    assert "np.exp(" in backward and "1 + " in backward  # the custom rule, inline
    assert "np.log1p" not in backward


def test_custom_vjp_rule_is_used_by_higher_derivatives():
    # d2/dx2 log1pexp = s(1 - s) with s = sigmoid: the custom rule differentiated again
    s = 1 / (1 + np.exp(-0.3))
    assert td.grad(td.grad(log1pexp))(0.3) == pytest.approx(s * (1 - s), rel=1e-12)


def test_stopped_values_stay_stopped_in_higher_derivatives():
    f = lambda x: x * td.stop_gradient(x)  # noqa: E731

    def g(x):
        with td.no_grad():
            y = x ** 2
        return x * y

    assert (td.grad(f)(3.0), td.grad(td.grad(f))(3.0)) == (3.0, 0.0)
    assert (td.grad(g)(3.0), td.grad(td.grad(g))(3.0)) == (9.0, 0.0)


def test_custom_vjp_misuse_names_the_rule_and_shapes():
    @td.custom_vjp
    def scale(x, y):
        return x * y

    @scale.defvjp
    def _(g, ans, x, y):
        return (g * y,)  # one cotangent for two arguments

    with pytest.raises(CustomVJPError, match="scale returned 1 cotangent"):
        td.grad(lambda x: np.sum(scale(x, x)))(np.ones(2))

    @td.custom_vjp
    def shrink(x):
        return x * 2

    @shrink.defvjp
    def _(g, ans, x):
        return (np.sum(g),)

    with pytest.raises(CustomVJPError, match=r"expected the arguments' shapes \[\(3,\)\]"):
        td.grad(lambda x: np.sum(shrink(x)))(np.ones(3))


def test_check_grads_second_order_passes_and_catches_a_wrong_second_derivative():
    check_grads(lambda x: np.sum(np.sin(x) * x ** 2), np.linspace(-1, 1, 4), order=2)
    check_grads(lambda x, w: np.tanh(x @ w), RNG.standard_normal((2, 3)), RNG.standard_normal(3),
                argnums=(0, 1), order=2)
    cube = td.primitive(lambda x: x ** 3, name="cube")
    # right first derivative, wrong second: the rule hides x from differentiation
    td.defvjp(cube, lambda g, ans, x: g * 3 * td.stop_gradient(x) ** 2)
    check_grads(lambda x: np.sum(cube(x)), np.array([0.5, 1.5]))
    with pytest.raises(AssertionError):
        check_grads(lambda x: np.sum(cube(x)), np.array([0.5, 1.5]), order=2)


def test_jvp_inside_a_traced_function_replays():
    # Differentiating through jvp, with respect to the primal and to the tangent: exact values.
    x, v = np.array([0.1, 0.5]), np.ones(2)
    np.testing.assert_allclose(td.grad(lambda x: np.sum(td.jvp(np.sin, (x,), (v,))[1]))(x), -np.sin(x))
    np.testing.assert_allclose(td.grad(lambda v: np.sum(td.jvp(np.sin, (x,), (v,))[1] ** 2))(v),
                               2 * np.cos(x) ** 2)
