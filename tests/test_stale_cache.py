"""Cached gradients never run stale code, and captured randomness is never frozen (issue 13).

Every expected gradient is derived by hand; draws are replayed from a twin generator seeded alike.
"""
import warnings

import numpy as np
import pytest

import tracediff as td
from tracediff.captures import CapturedGeneratorError

W = np.array([1.0, -2.0, 0.5])


def assert_grad(g, expected, *args):
    np.testing.assert_array_equal(g(W, *args), expected)


# --- attributes of self and of arguments, at any watched depth --------------------------------

class Model:
    def __init__(self, scale):
        self.scale = scale

    def loss(self, w):
        return self.scale * np.sum(w ** 2)  # gradient: 2 * scale * w


def test_bound_method_sees_a_rebound_attribute_of_self():
    model = Model(2.0)
    g = td.grad(model.loss)  # a bound method of an ordinary object, not decorated
    assert_grad(g, 4.0 * W)
    model.scale = 5.0
    assert_grad(g, 10.0 * W)
    assert g.cache_info().traces == 2
    assert "'self.scale' was rebound" in g.explain()


class ClassDefault:
    scale = 2.0

    def loss(self, w):
        return self.scale * np.sum(w ** 2)


def test_instance_attribute_shadowing_a_class_attribute_is_seen():
    obj = ClassDefault()  # its own __dict__ is empty: scale comes from the class
    g = td.grad(obj.loss)
    assert_grad(g, 4.0 * W)
    obj.scale = 5.0
    assert_grad(g, 10.0 * W)


def test_rebound_class_attribute_is_seen():
    class Local(ClassDefault):
        pass

    obj = Local()
    g = td.grad(obj.loss)
    assert_grad(g, 4.0 * W)
    ClassDefault.scale = 3.0
    try:
        assert_grad(g, 6.0 * W)
    finally:
        ClassDefault.scale = 2.0


class Holder:
    def __init__(self, **attributes):
        self.__dict__.update(attributes)


def test_attribute_of_an_attribute_of_an_argument():
    def f(w, o):
        return o.inner.scale * np.sum(w ** 2)

    o = Holder(inner=Holder(scale=2.0))
    g = td.grad(f)
    assert_grad(g, 4.0 * W, o)
    o.inner.scale = 3.0
    assert_grad(g, 6.0 * W, o)
    o.inner = Holder(scale=4.0)
    assert_grad(g, 8.0 * W, o)


class Trainer:
    def __init__(self):
        self.cfg = Holder(lr=0.5, offset=np.array([1.0, 1.0, 1.0]))

    def objective(self, w):
        return self.cfg.lr * np.sum((w - self.cfg.offset) ** 2)  # gradient: 2 lr (w - offset)

    grad_objective = td.grad(objective)  # decorated: self is an argument


@pytest.mark.parametrize("how", ["bound method", "decorated method"])
def test_attribute_of_an_attribute_of_self(how):
    trainer = Trainer()
    g = td.grad(trainer.objective) if how == "bound method" else trainer.grad_objective
    assert_grad(g, 1.0 * (W - 1.0))
    trainer.cfg.lr = 2.0
    assert_grad(g, 4.0 * (W - 1.0))
    trainer.cfg.offset[1] = 3.0  # in place, two attributes down
    assert_grad(g, 4.0 * (W - np.array([1.0, 3.0, 1.0])))


def test_three_attribute_steps_below_self_are_watched():
    class Network:
        def __init__(self):
            self.encoder = Holder(layer=Holder(scale=2.0))

        def loss(self, w):
            return self.encoder.layer.scale * np.sum(w ** 2)

    net = Network()
    g = td.grad(net.loss)
    assert_grad(g, 4.0 * W)
    net.encoder.layer.scale = 7.0
    assert_grad(g, 14.0 * W)


CONFIG = Holder(scale=2.0)


def reads_a_global_object(w):
    return CONFIG.scale * np.sum(w ** 2)


def test_attribute_of_an_object_held_by_a_global():
    g = td.grad(reads_a_global_object)
    assert_grad(g, 4.0 * W)
    CONFIG.scale = 3.0
    try:
        assert_grad(g, 6.0 * W)
    finally:
        CONFIG.scale = 2.0


def test_attribute_of_an_object_held_by_a_closure():
    cfg = Holder(scale=2.0)
    g = td.grad(lambda w: cfg.scale * np.sum(w ** 2))
    assert_grad(g, 4.0 * W)
    cfg.scale = 3.0
    assert_grad(g, 6.0 * W)


def test_deeper_than_watched_warns_when_traced():
    deep = Holder(a=Holder(b=Holder(c=Holder(d=Holder(scale=2.0)))))
    with pytest.warns(UserWarning, match=r"deep\.a\.b\.c"):
        td.grad(lambda w, deep: deep.a.b.c.d.scale * np.sum(w ** 2))(W, deep)


# --- helper functions reached through globals -------------------------------------------------

def helper(w):
    return 2.0 * w


def _triple(w):
    return 3.0 * w


def uses_helper(w):
    return np.sum(helper(w) * w)  # sum(k w^2): gradient 2 k w


def with_default(w, k=2.0):
    return k * w


def uses_with_default(w):
    return np.sum(with_default(w) * w)


def with_keyword_default(w, *, k=2.0):
    return k * w


def uses_with_keyword_default(w):
    return np.sum(with_keyword_default(w) * w)


def _make_scaler():
    k = 2.0

    def scaler(w):
        return k * w

    def set_k(value):
        nonlocal k
        k = value

    return scaler, set_k


scaler, set_scaler_k = _make_scaler()


def uses_scaler(w):
    return np.sum(scaler(w) * w)


def test_helper_whose_code_is_replaced():
    g = td.grad(uses_helper)
    assert_grad(g, 4.0 * W)
    code = helper.__code__
    helper.__code__ = _triple.__code__  # as IPython's autoreload does
    try:
        assert_grad(g, 6.0 * W)
    finally:
        helper.__code__ = code
    assert_grad(g, 4.0 * W)


def test_helper_whose_defaults_are_replaced():
    g = td.grad(uses_with_default)
    assert_grad(g, 4.0 * W)
    with_default.__defaults__ = (3.0,)
    try:
        assert_grad(g, 6.0 * W)
    finally:
        with_default.__defaults__ = (2.0,)


def test_helper_whose_keyword_defaults_change():
    g = td.grad(uses_with_keyword_default)
    assert_grad(g, 4.0 * W)
    with_keyword_default.__kwdefaults__["k"] = 3.0  # in place
    try:
        assert_grad(g, 6.0 * W)
        with_keyword_default.__kwdefaults__ = {"k": 4.0}  # replaced
        assert_grad(g, 8.0 * W)
    finally:
        with_keyword_default.__kwdefaults__ = {"k": 2.0}


def test_helper_whose_closure_variable_is_rebound():
    g = td.grad(uses_scaler)
    assert_grad(g, 4.0 * W)
    set_scaler_k(3.0)
    try:
        assert_grad(g, 6.0 * W)
    finally:
        set_scaler_k(2.0)


def test_nothing_changed_traces_once():
    model, trainer = Model(2.0), Trainer()
    grads = [td.grad(model.loss), td.grad(trainer.objective), td.grad(uses_helper), td.grad(uses_scaler)]
    for g in grads:
        for _ in range(3):
            g(W)
        assert g.cache_info().traces == 1


# --- generators reached from outside the arguments draw afresh --------------------------------

KINDS = {"Generator": np.random.default_rng, "RandomState": np.random.RandomState}
NOISE = None  # a module global the "global" route reads


def _by_default(rs):
    def obj(p, rs=rs):
        return np.sum(p * rs.normal(size=p.shape))
    return obj


def _by_closure(rs):
    def obj(p):
        return np.sum(p * rs.normal(size=p.shape))
    return obj


def _global_obj(p):
    return np.sum(p * NOISE.normal(size=p.shape))


def _by_global(rs):
    global NOISE
    NOISE = rs
    return _global_obj


class Noisy:
    def __init__(self, rs):
        self.rs = rs

    def obj(self, p):
        return np.sum(p * self.rs.normal(size=p.shape))


ROUTES = {"default argument": _by_default, "closure": _by_closure, "global": _by_global,
          "attribute of self": lambda rs: Noisy(rs).obj}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("route", ROUTES)
def test_captured_generator_draws_afresh_on_every_call_as_plain_numpy_does(route, kind):
    rs, replay = KINDS[kind](5), KINDS[kind](5)
    g = td.grad(ROUTES[route](rs))
    p = np.array([1.0, 2.0, 3.0])
    grads = [g(p) for _ in range(3)]
    for got in grads:
        np.testing.assert_array_equal(got, replay.normal(size=p.shape))  # d/dp sum(p * n) = n
    assert not np.array_equal(grads[0], grads[1]) and not np.array_equal(grads[1], grads[2])
    assert g.cache_info().traces == 1
    assert rs.normal() == replay.normal()  # each call consumed the stream once, tracing none


def test_captured_generator_is_put_back_and_rebinding_it_is_seen():
    rs = np.random.default_rng(1)
    noisy = Noisy(rs)
    g = td.grad(noisy.obj)
    g(np.ones(2))
    assert noisy.rs is rs  # the stand-in used while tracing is gone
    noisy.rs = np.random.default_rng(2)
    np.testing.assert_array_equal(g(np.ones(2)), np.random.default_rng(2).normal(size=2))


def test_generator_reached_through_a_container_is_a_clear_error():
    sources = [np.random.default_rng(0)]

    def obj(p):
        return np.sum(p * sources[0].normal(size=p.shape))

    with pytest.raises(CapturedGeneratorError, match=r"obj draws from the random generator 'sources\[0\]'.*argument"):
        td.grad(obj)(np.ones(3))


def test_generator_argument_is_still_traced_as_an_argument():
    def obj(p, rng):
        return np.sum(p * rng.standard_normal(p.shape))

    g = td.grad(obj)
    rng, replay = np.random.default_rng(3), np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            np.testing.assert_array_equal(g(np.ones(2), rng), replay.standard_normal(2))


def test_generator_held_by_a_module_attribute_draws_afresh():
    import types

    settings = types.ModuleType("settings")
    settings.rng = np.random.default_rng(4)
    replay = np.random.default_rng(4)
    namespace = {"np": np, "settings": settings}
    exec("def obj(p):\n    return np.sum(p * settings.rng.normal(size=p.shape))", namespace)
    g = td.grad(namespace["obj"])
    for _ in range(3):
        np.testing.assert_array_equal(g(np.ones(2)), replay.normal(size=2))
    assert isinstance(settings.rng, np.random.Generator) and type(settings.rng) is np.random.Generator


def test_helper_reached_only_through_a_default_is_watched():
    # The differentiated function reads no global, so only the helper in its defaults is watched.
    def double(x):
        return 2 * x

    def triple(x):
        return 3 * x

    def f(x, helper=double):
        return np.sum(helper(x))

    g = td.grad(f)
    x = np.ones(2)
    np.testing.assert_array_equal(g(x), [2.0, 2.0])
    double.__code__ = triple.__code__
    np.testing.assert_array_equal(g(x), [3.0, 3.0])


# --- objects of libraries' classes -------------------------------------------------------------

def test_a_scipy_distribution_held_by_the_model_is_not_walked_but_rebinding_it_is_seen():
    stats = pytest.importorskip("scipy.stats")

    class Bayesian:
        def __init__(self):
            self.prior = stats.norm(0.0, 2.0)  # its internals: many objects, all SciPy's

        def log_posterior(self, w):
            return np.sum(self.prior.logpdf(w))  # gradient: -w / 4

    model = Bayesian()
    g = td.grad(model.log_posterior)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lie further" warning about SciPy's objects
        assert_grad(g, -W / 4.0)
    model.prior = stats.norm(0.0, 1.0)
    assert_grad(g, -W)
    assert g.cache_info().traces == 2


def test_drawing_from_the_random_state_of_a_scipy_distribution_is_a_clear_error():
    stats = pytest.importorskip("scipy.stats")
    noise = stats.norm(0.0, 0.1)
    noise.random_state = np.random.default_rng(0)

    def f(w):
        return np.sum(noise.rvs(size=3) * w)

    with pytest.raises(CapturedGeneratorError, match="an object of a library"):
        td.grad(f)(W)
