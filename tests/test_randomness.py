"""Randomness as people write it (issue 14, item 7): every draw inside a differentiated function is
drawn afresh on every call and consumes the user's random stream exactly as the plain function
does, checked against a twin generator with the same seed running plain NumPy; or it is a clear
error that says what to write instead."""
import copy
import types
import warnings

import numpy as np
import pytest
from numpy.random import normal, randn

import tracediff as td
from tracediff.captures import CapturedGeneratorError
from tracediff.primitives.random import RandomDrawError

KINDS = {"Generator": np.random.default_rng, "RandomState": np.random.RandomState}

# Draws as people write them, each (generator, n) -> n floats; n changes to force a retrace.
COMMON = {
    "normal": lambda rs, n: rs.normal(1.0, 2.0, n),
    "normal(size=)": lambda rs, n: rs.normal(size=n),
    "standard_normal": lambda rs, n: rs.standard_normal(n),
    "uniform": lambda rs, n: rs.uniform(-1.0, 1.0, size=n),
    "choice": lambda rs, n: rs.choice(7, n),
    "choice(p=)": lambda rs, n: rs.choice(3, n, p=np.array([0.2, 0.3, 0.5])),
    "choice(array)": lambda rs, n: rs.choice(np.linspace(0.0, 1.0, 9), n, replace=False),
    "permutation": lambda rs, n: rs.permutation(n),
    "binomial": lambda rs, n: rs.binomial(5, 0.3, n),
    "multivariate_normal": lambda rs, n: rs.multivariate_normal([0.0, 1.0], np.eye(2) * 2, n).sum(axis=1),
    "exponential": lambda rs, n: rs.exponential(2.0, n),
    "standard_exponential": lambda rs, n: rs.standard_exponential(n),
    "gumbel": lambda rs, n: rs.gumbel(size=n),
    "poisson": lambda rs, n: rs.poisson(3.0, n),
    "gamma": lambda rs, n: rs.gamma(2.0, 1.0, n),
    "beta": lambda rs, n: rs.beta(2.0, 3.0, n),
    "dirichlet": lambda rs, n: rs.dirichlet(np.ones(n)),
    "laplace": lambda rs, n: rs.laplace(size=n),
    "standard_t": lambda rs, n: rs.standard_t(3.0, n),
    "lognormal": lambda rs, n: rs.lognormal(0.0, 0.5, n),
}
LEGACY_ONLY = {
    "randn": lambda rs, n: rs.randn(n),
    "rand": lambda rs, n: rs.rand(n),
    "randint": lambda rs, n: rs.randint(0, 5, n),
    "random_sample": lambda rs, n: rs.random_sample(n),
    "random": lambda rs, n: rs.random(n),
}
GENERATOR_ONLY = {
    "random": lambda rs, n: rs.random(n),
    "integers": lambda rs, n: rs.integers(0, 5, n),
    "integers(endpoint=)": lambda rs, n: rs.integers(0, 5, size=n, endpoint=True),
    "standard_normal(dtype=)": lambda rs, n: rs.standard_normal(n, dtype=np.float32),
    "permuted": lambda rs, n: rs.permuted(np.arange(float(n))),
}
DRAWS = {("RandomState", name): d for name, d in {**COMMON, **LEGACY_ONLY}.items()}
DRAWS.update({("Generator", name): d for name, d in {**COMMON, **GENERATOR_ONLY}.items()})


def _global_function(p):
    return np.sum(p * DRAW(NOISE, p.shape[0]))


NOISE, DRAW = None, None  # the generator and draw of the "global" route


def _by_argument(draw, rs):
    return (lambda p, rs: np.sum(p * draw(rs, p.shape[0]))), (rs,)


def _by_closure(draw, rs):
    return (lambda p: np.sum(p * draw(rs, p.shape[0]))), ()


def _by_default(draw, rs):
    def f(p, rs=rs):
        return np.sum(p * draw(rs, p.shape[0]))
    return f, ()


def _by_global(draw, rs):
    global NOISE, DRAW
    NOISE, DRAW = rs, draw
    return _global_function, ()


class Model:
    def __init__(self, rs, draw):
        self.rs, self.draw = rs, draw

    def loss(self, p):
        return np.sum(p * self.draw(self.rs, p.shape[0]))


ROUTES = {"argument": _by_argument, "closure": _by_closure, "default": _by_default,
          "global": _by_global, "attribute": lambda draw, rs: (Model(rs, draw).loss, ())}


# Every draw through a traced argument and a stand-in (closure); every route for a few draws.
CASES = sorted({(kind, name, route) for kind, name in DRAWS for route in ("argument", "closure")}
               | {(kind, name, route) for kind in KINDS for route in ROUTES
                  for name in ("normal", "choice(array)", "permutation")})


@pytest.mark.parametrize("kind, name, route", CASES)
def test_draws_afresh_on_every_call_as_the_plain_function_does(kind, name, route):
    draw = DRAWS[kind, name]
    rs, twin = KINDS[kind](11), KINDS[kind](11)
    f, extra = ROUTES[route](draw, rs)
    g = td.value_and_grad(f)
    for n in (4, 4, 3, 4, 3):  # a retrace at the first 3; the 4s' code runs again after it
        p = np.linspace(0.5, 1.5, n)
        value, grad = g(p, *extra)
        noise = draw(twin, n)
        np.testing.assert_array_equal(grad, noise)  # d/dp sum(p * noise) = noise
        assert value == np.sum(p * noise)
    assert g.cache_info().traces == 2
    assert generator_state(rs) == generator_state(twin)  # tracing consumed nothing


def generator_state(rs):
    return repr(rs.bit_generator.state if isinstance(rs, np.random.Generator) else rs.get_state(legacy=False))


# --- np.random's functions (the global state) ---------------------------------------------

def _imported(n):
    return normal(size=n) * randn(n)  # bound methods of the global state, imported as globals


LEGACY_FUNCTIONS = {
    "normal": lambda n: np.random.normal(0.5, 2.0, size=n),
    "randn": lambda n: np.random.randn(n),
    "rand": lambda n: np.random.rand(n),
    "randint": lambda n: np.random.randint(0, 9, n),
    "random_sample": lambda n: np.random.random_sample(n),
    "random": lambda n: np.random.random(n),
    "ranf": lambda n: np.random.ranf(n),
    "uniform": lambda n: np.random.uniform(2.0, 3.0, n),
    "choice": lambda n: np.random.choice(5, n),
    "permutation": lambda n: np.random.permutation(n),
    "binomial": lambda n: np.random.binomial(4, 0.5, n),
    "standard_normal": lambda n: np.random.standard_normal(n),
    "standard_exponential": lambda n: np.random.standard_exponential(n),
    "gumbel": lambda n: np.random.gumbel(size=n),
    "multivariate_normal": lambda n: np.random.multivariate_normal([0.0, 1.0], np.eye(2), n)[:, 0],
    "random_integers": lambda n: np.random.random_integers(1, 4, n),
    "from numpy.random import normal": lambda n: _imported(n),
}


@pytest.mark.parametrize("name", LEGACY_FUNCTIONS)
def test_np_random_functions_draw_afresh_from_the_global_state(name):
    draw = LEGACY_FUNCTIONS[name]
    g = td.grad(lambda p: np.sum(p * draw(p.shape[0])))
    sizes = (3, 3, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # random_integers
        np.random.seed(5)
        grads = [g(np.ones(n)) for n in sizes]
        np.random.seed(5)
        for n, got in zip(sizes, grads):
            np.testing.assert_array_equal(got, draw(n))
    assert g.cache_info().traces == 2


def test_np_random_shuffle_and_permutation_of_a_traced_array():
    def f(w):
        v = w * 1.0
        np.random.shuffle(v)
        return np.sum(v * [1.0, 2.0, 3.0]) + np.sum(np.random.permutation(w) ** 2)

    g = td.grad(f)
    w = np.array([1.0, 2.0, 3.0])
    np.random.seed(4)
    grads = [g(w) for _ in range(3)]
    np.random.seed(4)
    for got in grads:
        first, second = np.random.permutation(3), np.random.permutation(3)
        expected = np.zeros(3)
        expected[first] = [1.0, 2.0, 3.0]
        expected[second] += 2 * w[second]
        np.testing.assert_array_equal(got, expected)


def test_a_bound_draw_method_held_in_a_closure_draws_afresh():
    rs, twin = np.random.default_rng(2), np.random.default_rng(2)
    draw = rs.normal  # (a bound method, held in a closure variable)
    g = td.grad(lambda p: np.sum(p * draw(size=p.shape)))
    for _ in range(3):
        np.testing.assert_array_equal(g(np.ones(3)), twin.normal(size=3))


def test_generator_in_a_module_attribute_and_isinstance_checks():
    settings = types.ModuleType("settings")
    settings.rng = np.random.default_rng(4)
    twin = np.random.default_rng(4)
    namespace = {"np": np, "settings": settings}
    exec("def obj(p):\n"
         "    rng = settings.rng\n"
         "    assert isinstance(rng, np.random.Generator) and hasattr(rng, 'integers')\n"
         "    return np.sum(p * rng.normal(size=p.shape))", namespace)
    g = td.grad(namespace["obj"])
    for _ in range(3):
        np.testing.assert_array_equal(g(np.ones(2)), twin.normal(size=2))


@pytest.mark.parametrize("kind", KINDS)
def test_a_generator_argument_passes_isinstance_and_hasattr_checks(kind):
    def f(p, rng):
        draw = rng.integers if hasattr(rng, "integers") else rng.randint
        assert isinstance(rng, KINDS[kind](0).__class__)
        return np.sum(p * draw(0, 9, p.shape))

    rs, twin = KINDS[kind](8), KINDS[kind](8)
    g = td.grad(f)
    for _ in range(2):
        expected = twin.integers(0, 9, 3) if kind == "Generator" else twin.randint(0, 9, 3)
        np.testing.assert_array_equal(g(np.ones(3), rs), expected)


# --- traced parameters: the reparameterization trick ----------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shapes, size", [
    (((), ()), None), (((3,), ()), None), (((3,), (3,)), (2, 3)), (((2, 1), (3,)), None),
    (((), ()), 4), (((3,), ()), (4, 3)),
])
def test_normal_with_traced_loc_and_scale_is_differentiable(kind, shapes, size, dtype):
    r = np.random.default_rng(0)
    loc = r.standard_normal(shapes[0]).astype(dtype)
    scale = (np.abs(r.standard_normal(shapes[1])) + 0.5).astype(dtype)
    weights = r.standard_normal(np.broadcast_shapes(shapes[0], shapes[1], size or ()))

    def f(loc, scale, rs):
        return np.sum(weights * rs.normal(loc, scale, size))

    rs, twin = KINDS[kind](3), KINDS[kind](3)
    g = td.value_and_grad(f, argnums=(0, 1))
    for _ in range(3):
        value, (g_loc, g_scale) = g(loc, scale, rs)
        twin_copy = copy.deepcopy(twin)
        draws = twin.normal(loc, scale, size)  # NumPy's own draw: the value must be bit for bit
        assert value == np.sum(weights * draws)
        eps = twin_copy.standard_normal(np.shape(draws))  # the same stream, as standard draws
        assert np.result_type(g_loc) == dtype and np.result_type(g_scale) == dtype
        np.testing.assert_allclose(g_loc, _unbroadcast(weights, loc.shape), rtol=1e-6)
        np.testing.assert_allclose(g_scale, _unbroadcast(weights * eps, scale.shape), rtol=1e-5)
    assert g.cache_info().traces == 1


def _unbroadcast(x, shape):
    x = np.sum(x, axis=tuple(range(x.ndim - len(shape))))
    return np.sum(x, axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


@pytest.mark.parametrize("kind", KINDS)
def test_uniform_exponential_and_multivariate_normal_mean_are_differentiable(kind):
    def f(low, width, scale, mean, rs):
        a = rs.uniform(low, low + width, size=(2, 3))
        b = rs.exponential(scale, 3)
        c = rs.multivariate_normal(mean, [[2.0, 0.5], [0.5, 1.0]], 4)
        return np.sum(a * [1.0, 2.0, 3.0]) + np.sum(b ** 2) + np.sum(c[:, 0] * c[:, 1])

    low, width = np.array([0.0, 1.0, -1.0]), 2.0
    scale, mean = np.array([0.5, 1.0, 2.0]), np.array([1.0, -2.0])
    rs, twin = KINDS[kind](6), KINDS[kind](6)
    g = td.value_and_grad(f, argnums=(0, 1, 2, 3))
    for _ in range(3):
        value, (g_low, g_width, g_scale, g_mean) = g(low, width, scale, mean, rs)
        standard = copy.deepcopy(twin)
        assert value == f(low, width, scale, mean, twin)  # bit for bit: the same stream
        u = standard.random((2, 3)) if kind == "Generator" else standard.random_sample((2, 3))
        e = standard.standard_exponential(3)
        c = standard.multivariate_normal(np.zeros(2), [[2.0, 0.5], [0.5, 1.0]], 4) + mean
        np.testing.assert_allclose(g_low, [2.0, 4.0, 6.0])
        np.testing.assert_allclose(g_width, np.sum(u * [1.0, 2.0, 3.0]))
        np.testing.assert_allclose(g_scale, 2 * scale * e ** 2)
        np.testing.assert_allclose(g_mean, [np.sum(c[:, 1]), np.sum(c[:, 0])])


def test_reparameterized_draws_agree_with_finite_differences_on_the_same_noise():
    def f(mu, log_sigma, rs):
        return np.sum(np.tanh(rs.normal(mu, np.exp(log_sigma), 3)))

    mu, log_sigma = np.array([0.1, -0.3, 0.2]), np.array([0.0, -0.5, 0.3])
    grads = td.grad(f, argnums=(0, 1))(mu, log_sigma, np.random.RandomState(1))
    h = 1e-6
    for i in range(2):
        for j in range(3):
            up, down = [mu.copy(), log_sigma.copy()], [mu.copy(), log_sigma.copy()]
            up[i][j] += h
            down[i][j] -= h  # each evaluation draws the same noise from a generator seeded alike
            fd = (f(*up, np.random.RandomState(1)) - f(*down, np.random.RandomState(1))) / (2 * h)
            np.testing.assert_allclose(grads[i][j], fd, rtol=1e-6, atol=1e-9)


def test_negative_scale_gets_numpys_error_also_after_caching():
    def f(mu, sigma, rs):
        return np.sum(rs.normal(mu, sigma, 2))

    g = td.grad(f, argnums=(0, 1))
    rs = np.random.default_rng(0)
    g(0.0, np.array(1.0), rs)
    with pytest.raises(ValueError, match=r"rs.normal\(\): scale < 0"):
        g(0.0, np.array(-1.0), rs)


def test_a_differentiable_argument_without_a_rewrite_names_it():
    with pytest.raises(RandomDrawError, match=r"rng.gumbel\(\): the argument 'loc' is differentiable"):
        td.grad(lambda mu, rng: np.sum(rng.gumbel(mu, 1.0, 3)))(np.zeros(3), np.random.default_rng(0))
    with pytest.raises(RandomDrawError, match=r"np.random.lognormal\(\): the argument 'mean'.*stop_gradient"):
        td.grad(lambda mu: np.sum(np.random.lognormal(mu, 1.0)))(np.zeros(2))
    with pytest.raises(RandomDrawError, match=r"'cov' is differentiable"):
        td.grad(lambda c, rng: np.sum(rng.multivariate_normal(np.zeros(2), c)))(
            np.eye(2), np.random.default_rng(0))


def test_stop_gradient_parameters_are_drawn_with_numpys_own_draw():
    def f(mu, rs):
        return np.sum(mu * rs.gamma(td.stop_gradient(mu), 1.0))

    rs, twin = np.random.default_rng(1), np.random.default_rng(1)
    g = td.grad(f)
    mu = np.array([1.0, 2.0])
    for _ in range(2):
        np.testing.assert_array_equal(g(mu, rs), twin.gamma(mu, 1.0))


# --- permutations, choices and the in-place shuffle of traced arrays --------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(5,), (4, 3)])
def test_shuffle_of_a_traced_array_shuffles_it_in_place_differentiably(kind, shape):
    c = np.arange(np.prod(shape), dtype=float).reshape(shape)

    def f(w, rs):
        v = w * 1.0
        rs.shuffle(v)  # in place, as NumPy does
        return np.sum(c * v ** 2)

    rs, twin = KINDS[kind](9), KINDS[kind](9)
    w = np.linspace(1.0, 2.0, np.prod(shape)).reshape(shape)
    g = td.value_and_grad(f)
    for _ in range(3):
        value, grad = g(w, rs)
        shuffled = w.copy()
        twin.shuffle(shuffled)
        assert value == np.sum(c * shuffled ** 2)
        order = np.argsort([np.flatnonzero(w.ravel() == s)[0] for s in shuffled.reshape(len(w), -1)[:, 0]])
        np.testing.assert_array_equal(grad, (2 * c * shuffled)[order])


def test_generator_shuffle_and_permutation_along_an_axis():
    def f(w, rs):
        v = w * 1.0
        rs.shuffle(v, axis=1)
        return np.sum(np.arange(12.0).reshape(3, 4) * v) + np.sum(rs.permutation(w, axis=1)[:, 0])

    rs, twin = np.random.default_rng(4), np.random.default_rng(4)
    w = np.arange(12.0).reshape(3, 4)
    g = td.grad(f)
    for _ in range(2):
        grad = g(w, rs)
        perm = twin.permutation(4)  # shuffle(v, axis=1) is v[:, permutation(4)]
        second = twin.permutation(4)
        expected = np.zeros((3, 4))
        expected[:, perm] = np.arange(12.0).reshape(3, 4)
        expected[:, second[0]] += 1.0
        np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_permutation_and_choice_of_a_traced_array_match_numpy(kind):
    def f(w, rs):
        return np.sum(rs.permutation(w) * [1.0, 2.0, 3.0, 4.0]) + np.sum(rs.choice(w, 3, replace=False) ** 2)

    rs, twin = KINDS[kind](2), KINDS[kind](2)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    g = td.value_and_grad(f)
    for _ in range(3):
        value, grad = g(w, rs)
        perm = copy.deepcopy(twin)
        assert value == f(w, twin)
        order, picked = perm.permutation(4), perm.choice(4, 3, replace=False)
        expected = np.zeros(4)
        expected[order] = [1.0, 2.0, 3.0, 4.0]
        expected[picked] += 2 * w[picked]
        np.testing.assert_array_equal(grad, expected)


def test_shuffle_of_a_plain_array_is_a_clear_error():
    def f(w, rs):
        idx = np.arange(3)
        rs.shuffle(idx)
        return np.sum(w[idx])

    with pytest.raises(RandomDrawError, match=r"rs.shuffle\(x\) shuffles a plain ndarray.*rs.permutation\(x\)"):
        td.grad(f)(np.ones(3), np.random.default_rng(0))
    with pytest.raises(RandomDrawError, match=r"np.random.shuffle\(x\).*np.random.permutation\(x\)"):
        td.grad(lambda w: np.sum(w * np.random.shuffle(np.arange(3.0)) or w))(np.ones(3))


def test_permutation_written_instead_of_shuffle_draws_the_same_order():
    rs, twin = np.random.RandomState(3), np.random.RandomState(3)
    g = td.grad(lambda w, rs: np.sum(w[rs.permutation(np.arange(4))] * [1.0, 2.0, 3.0, 4.0]))
    for _ in range(3):
        idx = np.arange(4)
        twin.shuffle(idx)
        expected = np.zeros(4)
        expected[idx] = [1.0, 2.0, 3.0, 4.0]
        np.testing.assert_array_equal(g(np.ones(4), rs), expected)


# --- what cannot be recorded is refused ---------------------------------------------------

def test_state_changes_and_out_arguments_inside_are_refused():
    with pytest.raises(RandomDrawError, match=r"np.random.get_state\(\).*outside"):
        td.grad(lambda w: np.sum(w) * len(np.random.get_state()))(np.ones(2))
    rs = np.random.RandomState(0)
    with pytest.raises(RandomDrawError, match=r"RandomState.set_state inside a differentiated function"):
        td.grad(lambda w: np.sum(w * rs.set_state(rs.get_state()) or w))(np.ones(2))
    with pytest.raises(RandomDrawError, match=r"Generator.spawn inside a differentiated function.*outside"):
        td.grad(lambda w, rng: np.sum(w * rng.spawn(1)[0].normal()))(np.ones(2), np.random.default_rng(0))
    with pytest.raises(RandomDrawError, match=r"out=.*returned value"):
        td.grad(lambda w, rng: np.sum(w * rng.standard_normal(out=np.empty(2))))(
            np.ones(2), np.random.default_rng(0))
    with pytest.raises(AttributeError, match="'RandomState' object has no attribute 'integers'"):
        td.grad(lambda w, rng: np.sum(w * rng.integers(3)))(np.ones(2), np.random.RandomState(0))


def test_generator_or_bound_draw_in_a_container_is_still_an_error():
    rngs = {"noise": np.random.default_rng(0)}
    with pytest.raises(CapturedGeneratorError, match=r"'rngs\['noise'\]'.*container"):
        td.grad(lambda w: np.sum(w * rngs["noise"].normal(size=2)))(np.ones(2))
    draws = [np.random.default_rng(0).normal]
    with pytest.raises(CapturedGeneratorError, match=r"'draws\[0\]'.*container"):
        td.grad(lambda w: np.sum(w * draws[0](size=2)))(np.ones(2))


def test_seeding_inside_the_function_is_recorded():
    def f(w):
        np.random.seed(3)
        return np.sum(w * np.random.normal(size=2))

    g = td.grad(f)
    np.random.seed(0)
    grads = [g(np.ones(2)) for _ in range(2)]
    np.random.seed(3)
    expected = np.random.normal(size=2)
    for got in grads:
        np.testing.assert_array_equal(got, expected)
    assert np.random.normal() == np.random.RandomState(3).normal(size=3)[2]  # the call seeded


FUNCTIONS = {"normal": np.random.normal}


@pytest.mark.parametrize("route", ["np.random.mtrand._rand", "a dict of np.random's functions"])
def test_unrecorded_draws_from_the_global_state_are_an_error(route):
    def f(w):
        draw = np.random.mtrand._rand.normal if route == "np.random.mtrand._rand" else FUNCTIONS["normal"]
        return np.sum(w * draw(size=2))

    state = np.random.get_state(legacy=False)
    with pytest.raises(CapturedGeneratorError, match=r"f draws from np.random's global state.*directly"):
        td.grad(f)(np.ones(2))
    assert repr(np.random.get_state(legacy=False)) == repr(state)  # put back


@pytest.mark.parametrize("kind", KINDS)
def test_a_gradient_of_a_gradient_draws_afresh_from_a_generator_argument(kind):
    def f(w, rng):
        return np.sum(w ** 3 * rng.standard_normal(3))

    gg = td.grad(lambda w, rng: np.sum(td.grad(f)(w, rng)))
    rng, twin = KINDS[kind](0), KINDS[kind](0)
    w = np.array([1.0, 2.0, 3.0])
    for _ in range(3):
        np.testing.assert_allclose(gg(w, rng), 6 * w * twin.standard_normal(3))


@pytest.mark.parametrize("route", ["np.random", "closure"])
def test_a_gradient_of_a_gradient_draws_afresh_from_np_random_and_captured_generators(route):
    rng, twin = np.random.default_rng(0), np.random.default_rng(0)
    draw = {"np.random": lambda: np.random.standard_normal(3), "closure": lambda: rng.standard_normal(3)}[route]
    gg = td.grad(lambda w: np.sum(td.grad(lambda w: np.sum(w ** 3 * draw()))(w)))
    w = np.array([1.0, 2.0, 3.0])
    np.random.seed(1)
    grads = [gg(w) for _ in range(3)]
    np.random.seed(1)
    for got in grads:
        np.testing.assert_allclose(got, 6 * w * (np.random.standard_normal(3) if route == "np.random"
                                                 else twin.standard_normal(3)))


def test_a_gradient_of_a_gradient_replays_a_seed_inside():
    def f(w):
        np.random.seed(2)  # (recorded as an effect only: a node without a result)
        return np.sum(w ** 3 * np.random.standard_normal(2))

    gg = td.grad(lambda w: np.sum(td.grad(f)(w)))
    w = np.array([1.0, 2.0])
    for _ in range(2):
        np.testing.assert_allclose(gg(w), 6 * w * np.random.RandomState(2).standard_normal(2))


def _branches_on_noise(draw):
    def f(w):
        e = draw()
        if np.sum(e) > 0:  # a guard after the draw: other noise takes the other specialization
            return np.sum(w * e)
        return np.sum(2 * w * e)
    return f


@pytest.mark.parametrize("source", ["argument", "closure", "np.random"])
def test_a_guard_after_a_draw_consumes_the_stream_once(source):
    rs, twin = np.random.RandomState(0), np.random.RandomState(0)  # (np.random is seeded 0 too)
    if source == "argument":
        g = td.grad(lambda w, rs: _branches_on_noise(lambda: rs.normal(size=3))(w))
        call = lambda w: g(w, rs)  # noqa: E731
    else:
        draw = (lambda: rs.normal(size=3)) if source == "closure" else (lambda: np.random.normal(size=3))
        g = call = td.grad(_branches_on_noise(draw))
    w = np.ones(3)
    np.random.seed(0)
    grads = [call(w) for _ in range(8)]
    for got in grads:
        e = twin.normal(size=3)
        np.testing.assert_array_equal(got, e if np.sum(e) > 0 else 2 * e)
    assert g.cache_info().specializations == 2
