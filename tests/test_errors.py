"""Errors of the public API. Each is a named class in tracediff.errors whose message says what
happened, where in the user's code (file:line) and what to do about it."""
from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

import tracediff as td
from tracediff import errors

HERE = os.path.basename(__file__)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def call_line() -> int:
    """The caller's line number plus 2: written just above a ``with pytest.raises(...):`` whose
    body is the call that fails."""
    return sys._getframe(1).f_lineno + 2


def assert_location(msg: str, *lines: int):
    """The message names this file and one of ``lines``."""
    found = [int(n) for n in re.findall(re.escape(HERE) + r":(\d+)", msg)]
    assert found, f"no {HERE}:<line> in the message: {msg!r}"
    assert set(found) & set(lines), f"{HERE}:{found} in the message, expected one of lines {lines}: {msg!r}"


def assert_suggestions_exist(msg: str):
    """Every ``td.<name>`` the message suggests exists, and every docs/ file it cites is there."""
    for name in re.findall(r"\btd\.(\w+)", msg):
        assert hasattr(td, name), f"the message suggests td.{name}, which does not exist: {msg!r}"
    for path in re.findall(r"\b(docs/[\w./-]+\.md)\b", msg):
        assert os.path.exists(os.path.join(REPO, path)), f"the message cites {path}, which does not exist"


def test_error_classes_are_exported_and_share_a_base():
    for name in ["NonScalarOutputError", "NonDifferentiableError", "MissingRuleError",
                 "EscapedTracerError", "TracerConversionError"]:
        cls = getattr(td, name)
        assert cls is getattr(errors, name)
        assert issubclass(cls, td.TracediffError)
    assert issubclass(td.NonDifferentiableError, TypeError)
    assert issubclass(td.NonScalarOutputError, TypeError)
    assert issubclass(td.TracerConversionError, TypeError)


# =============================================================================================
# NonScalarOutputError


def vector_valued(x):
    y = np.sin(x)
    return y * 2.0


def non_scalar_error():
    g = td.grad(vector_valued)
    line = call_line()
    with pytest.raises(td.NonScalarOutputError) as info:
        g(np.ones(3))
    return str(info.value), line


def test_grad_of_non_scalar_output_says_what_and_what_to_do():
    msg, _ = non_scalar_error()
    assert "vector_valued" in msg and "(3,)" in msg  # which function, what shape
    assert ".sum()" in msg or ".mean()" in msg
    assert "td.vjp" in msg or "td.elementwise_grad" in msg


def test_grad_of_non_scalar_output_suggests_functions_that_exist():
    msg, _ = non_scalar_error()
    assert_suggestions_exist(msg)  # e.g. a td.elementwise_grad it suggests must exist


def test_grad_of_non_scalar_output_says_where():
    msg, line = non_scalar_error()
    return_line = vector_valued.__code__.co_firstlineno + 2
    assert_location(msg, line, return_line)


def test_value_and_grad_of_non_scalar_output():
    with pytest.raises(td.NonScalarOutputError, match=r"\(2, 2\)"):
        td.value_and_grad(lambda x: x @ x)(np.eye(2))


def test_grad_of_integer_output():
    line = call_line()
    with pytest.raises(td.NonScalarOutputError, match="floating-point") as info:
        td.grad(lambda x: 3)(2.0)
    assert_location(str(info.value), line)


# =============================================================================================
# NonDifferentiableError


def scaled_sum(x, y=1.0):
    return np.sum(x * 2.0) * y


@pytest.mark.parametrize(
    "value, what",
    [
        (np.arange(3), "int64"),
        (np.array([True, False]), "bool"),
        (3, "Python int"),
        (True, "Python bool"),
    ],
)
def test_differentiating_a_non_float_argument(value, what):
    with pytest.raises(td.NonDifferentiableError) as info:
        td.grad(scaled_sum)(value)
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert "scaled_sum" in msg and "argument 0" in msg and what in msg
    assert "astype(float)" in msg or "3.0 instead of 3" in msg  # what to do
    assert "argnums" in msg


def test_differentiating_a_non_float_argument_says_where():
    g = td.grad(scaled_sum)
    line = call_line()
    with pytest.raises(td.NonDifferentiableError) as info:
        g(np.arange(3))
    assert_location(str(info.value), line, scaled_sum.__code__.co_firstlineno)


def test_differentiating_an_int_leaf_of_a_pytree_names_its_path():
    with pytest.raises(td.NonDifferentiableError) as info:
        td.grad(lambda p: np.sum(p["w"]) * 2.0)({"w": np.ones(2), "n": 3})
    assert "argument 0['n']" in str(info.value)


def test_non_float_argument_not_differentiated_is_fine():
    g = td.grad(lambda x, idx, n: np.sum(x[idx] ** n))(np.array([1.0, 2.0, 3.0]), np.array([0, 2]), 2)
    np.testing.assert_allclose(g, [2.0, 0.0, 6.0])


def test_vjp_of_an_integer_primal():
    with pytest.raises(td.NonDifferentiableError, match="int64"):
        td.vjp(lambda x: x * 2.0, np.arange(3))


@pytest.mark.parametrize("argnums", [2, -3, (0, 5)])
def test_argnums_out_of_range_is_a_clear_type_error(argnums):
    with pytest.raises(TypeError) as info:
        td.grad(lambda x, y: np.sum(x * y), argnums=argnums)(np.ones(2), np.ones(2))
    msg = str(info.value)
    assert "argnums" in msg and "2 positional" in msg


def test_differentiated_argument_passed_by_keyword_is_a_clear_type_error():
    with pytest.raises(TypeError) as info:
        td.grad(lambda x: np.sum(x))(x=np.ones(2))
    assert "positional" in str(info.value)


def test_has_aux_without_a_pair_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"has_aux=True.*\(output, aux\)"):
        td.grad(lambda x: np.sum(x), has_aux=True)(np.ones(2))


# =============================================================================================
# MissingRuleError


def uses_fft(x):
    spectrum = np.fft.fft(x)
    return np.sum(np.abs(spectrum))


def uses_inv(a):
    b = np.linalg.inv(a)
    return np.sum(b)


FUNCTIONS_WITHOUT_RULES = [(uses_fft, "np.fft.fft"), (uses_inv, "np.linalg.inv")]


@pytest.fixture(autouse=True)
def without_rules_for_the_examples(monkeypatch):
    # As if np.fft.fft and np.linalg.inv had no rules, whatever coverage grows to: the tests are
    # about the error, and full module paths (np.fft, np.linalg) are what they check.
    from tracediff.primitives.core import FUNCTIONS

    for function in (np.fft.fft, np.linalg.inv):
        monkeypatch.delitem(FUNCTIONS, function, raising=False)


@pytest.mark.parametrize("fun, name", FUNCTIONS_WITHOUT_RULES)
def test_numpy_function_without_a_rule_says_how_to_register_one_and_where(fun, name):
    with pytest.raises(td.MissingRuleError) as info:
        td.grad(fun)(np.eye(2) + 1.0)
    assert isinstance(info.value, NotImplementedError)
    msg = str(info.value)
    assert "td.primitive" in msg and "td.defvjp" in msg  # how to register one
    assert_location(msg, fun.__code__.co_firstlineno + 1)


@pytest.mark.parametrize("fun, name", FUNCTIONS_WITHOUT_RULES)
def test_numpy_function_without_a_rule_is_named_in_full(fun, name):
    with pytest.raises(td.MissingRuleError) as info:
        td.grad(fun)(np.eye(2) + 1.0)
    # The full public name, not a shortened one: "np.fft" is a module, "np.inv" does not exist.
    assert re.search(re.escape(name) + r"\b", str(info.value)), f"{name} not named in: {info.value}"


def test_ufunc_without_a_rule_is_named(monkeypatch):
    from tracediff.primitives.core import UFUNCS

    monkeypatch.delitem(UFUNCS, np.arctan)  # as if it had no rule, whatever coverage grows to
    line = call_line()
    with pytest.raises(td.MissingRuleError) as info:
        td.grad(lambda x: np.sum(np.arctan(x)))(np.ones(2))
    assert "np.arctan" in str(info.value)
    assert_location(str(info.value), line)


def test_missing_rule_message_points_to_docs_that_exist():
    with pytest.raises(td.MissingRuleError) as info:
        td.grad(uses_inv)(np.eye(2))
    assert_suggestions_exist(str(info.value))


def test_user_primitive_without_a_rule_is_not_silently_zero():
    # No defvjp was called for it: its gradient is unknown, and returning zeros would be wrong.
    cube = td.primitive(lambda x: x ** 3, name="cube_no_rule")
    with pytest.raises(td.MissingRuleError) as info:
        td.grad(lambda x: np.sum(cube(x)))(np.array([1.0, 2.0]))
    assert "cube_no_rule" in str(info.value) and "td.defvjp" in str(info.value)


# =============================================================================================
# EscapedTracerError

_kept = []


def keeps_a_tracer(x):
    y = x * 2.0
    _kept.append(y)
    return np.sum(y ** 2)


def test_tracer_used_after_its_trace_ended():
    _kept.clear()
    np.testing.assert_allclose(td.grad(keeps_a_tracer)(np.array([1.0, 2.0])), [8.0, 16.0])
    leaked = _kept[0]
    line = call_line()
    with pytest.raises(td.EscapedTracerError) as info:
        leaked + 1.0
    msg = str(info.value)
    assert "after its trace ended" in msg
    assert "has_aux=True" in msg  # what to do instead
    assert_location(msg, line)
    with pytest.raises(td.EscapedTracerError):
        np.sum(leaked)


def test_tracer_used_in_a_later_gradient_is_an_escaped_tracer():
    # Not a nested trace: the value simply outlived its trace. The error must say so.
    _kept.clear()
    td.grad(keeps_a_tracer)(np.array([1.0, 2.0]))
    leaked = _kept[0]
    with pytest.raises(td.EscapedTracerError) as info:
        td.grad(lambda z: np.sum(z * leaked))(np.array([1.0, 1.0]))
    assert "has_aux=True" in str(info.value)


# =============================================================================================
# TracerConversionError


from numpy import array as bound_array  # noqa: E402  (bound before tracing: NumPy's own)


def builds_with_a_name_bound_before_tracing(x):
    v = bound_array([x[0] * 2.0, x[1]])
    return np.sum(v ** 2)


def writes_into_a_plain_buffer(x):
    v = np.zeros(2)
    v[:] = x
    return np.sum(v ** 2)


def converts_to_float(x):
    s = float(np.sum(x))
    return s * np.sum(x)


@pytest.mark.parametrize("fun", [builds_with_a_name_bound_before_tracing, writes_into_a_plain_buffer])
def test_tracer_turned_into_a_numpy_array(fun):
    with pytest.raises(td.TracerConversionError) as info:
        td.grad(fun)(np.array([1.0, 2.0]))
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert "np.array(...)" in msg and "y = x.copy(); y[i] = v" in msg  # what to do
    line = fun.__code__.co_firstlineno + (1 if fun is builds_with_a_name_bound_before_tracing else 2)
    assert_location(msg, line)
    assert_suggestions_exist(msg)


def test_np_array_of_python_float_tracers():
    assert td.grad(lambda a, b: np.sum(np.array([a, b]) ** 2), argnums=(0, 1))(1.0, 2.0) == (2.0, 4.0)


def test_np_stack_is_the_fix():
    f = lambda x: np.sum(np.stack([x[0] * 2.0, x[1]]) ** 2)  # noqa: E731
    np.testing.assert_allclose(td.grad(f)(np.array([1.0, 2.0])), [8.0, 4.0])


def test_float_of_a_differentiable_value():
    with pytest.raises(td.TracerConversionError) as info:
        td.grad(converts_to_float)(np.array([1.0, 2.0]))
    msg = str(info.value)
    assert "float()" in msg and "gradient" in msg
    assert "td.stop_gradient" in msg  # the way to say "I mean a constant"
    assert_location(msg, converts_to_float.__code__.co_firstlineno + 1)
    assert_suggestions_exist(msg)


def test_float_of_a_python_float_argument():
    with pytest.raises(td.TracerConversionError):
        td.grad(lambda x: float(x) * 2.0)(1.0)


def test_float_of_a_stopped_gradient_is_allowed():
    def f(x):
        s = float(td.stop_gradient(np.sum(x)))
        return s * np.sum(x)

    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(td.grad(f)(x), [3.0, 3.0])


# =============================================================================================
# Outputs that are containers, and arguments tracediff cannot take


def loss_and_prediction(x):
    prediction = np.sin(x)
    return np.sum(prediction ** 2), prediction


def two_losses(x):
    return [np.sum(x ** 2), np.sum(x)]


@pytest.mark.parametrize("fun, kind", [(loss_and_prediction, "tuple"), (two_losses, "list")])
@pytest.mark.parametrize("transform", [td.grad, td.value_and_grad])
def test_a_container_output_without_has_aux_says_so(fun, kind, transform):
    line = call_line()
    with pytest.raises(td.NonScalarOutputError) as info:
        transform(fun)(np.ones(3))
    msg = str(info.value)
    assert fun.__name__ in msg and f"a {kind} of 2" in msg and "scalar" in msg
    assert "has_aux=True" in msg and "sum" in msg  # the two ways out
    assert "plain NumPy array" not in msg
    assert_location(msg, line, fun.__code__.co_firstlineno + 2)


def test_has_aux_is_the_fix_for_a_loss_and_aux_tuple():
    g, prediction = td.grad(loss_and_prediction, has_aux=True)(np.array([0.5, 1.0]))
    x = np.array([0.5, 1.0])
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x))
    np.testing.assert_allclose(prediction, np.sin(x))


def masked_sum(x, mask=None):
    return np.sum(x ** 2) if mask is None else np.sum(x[mask] ** 2)


def test_none_is_a_static_argument():
    x = np.array([1.0, 2.0, 3.0])
    g = td.grad(masked_sum)
    np.testing.assert_allclose(g(x, None), 2 * x)
    np.testing.assert_allclose(g(x, mask=None), 2 * x)
    np.testing.assert_allclose(g(x, np.array([True, False, True])), [2.0, 0.0, 6.0])
    np.testing.assert_allclose(g(x, None), 2 * x)  # None's specialization again


def test_none_as_a_differentiated_argument():
    line = call_line()
    with pytest.raises(TypeError) as info:
        td.grad(masked_sum, argnums=1)(np.ones(3), None)
    msg = str(info.value)
    assert "masked_sum" in msg and "argument 1 ('mask')" in msg and "None" in msg
    assert "argnums" in msg  # what to do: pass a value, or don't differentiate it
    assert_location(msg, line)


def sums_with(x, options):
    return np.sum(x)


@pytest.mark.parametrize("options, path", [({1.0, 2.0}, ""), ({"ids": {1, 2}}, "['ids']")])
def test_a_set_argument(options, path):
    line = call_line()
    with pytest.raises(TypeError) as info:
        td.grad(sums_with)(np.ones(3), options)
    msg = str(info.value)
    assert f"sums_with: argument 1 ('options'){path} is a set" in msg
    assert "unordered" in msg and "list or tuple" in msg
    assert_location(msg, line)


def test_a_set_as_the_differentiated_argument():
    with pytest.raises(TypeError, match=r"sums_with: argument 0 \('x'\) is a set.*list or tuple"):
        td.grad(sums_with)({1.0, 2.0}, None)


@pytest.mark.parametrize("argnum", [0, 1])
@pytest.mark.parametrize("view", [memoryview(np.ones(3)), memoryview(b"abc")])
def test_a_memoryview_argument(argnum, view):
    args = [np.ones(3), None]
    args[argnum] = view
    line = call_line()
    with pytest.raises(TypeError) as info:
        td.grad(sums_with)(*args)
    msg = str(info.value)
    assert f"sums_with: argument {argnum} ('{['x', 'options'][argnum]}') is a memoryview" in msg
    assert "np.asarray(" in msg
    assert_location(msg, line)


def nested(depth, leaf):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize("argnum", [0, 1])
def test_an_argument_nested_500_deep_is_a_clear_error(argnum):
    args = [np.ones(3), None]
    args[argnum] = nested(500, 1.0)
    line = call_line()
    with pytest.raises(TypeError) as info:
        td.grad(sums_with)(*args)
    assert not isinstance(info.value, RecursionError)
    msg = str(info.value)
    assert f"sums_with: argument {argnum} ('{['x', 'options'][argnum]}')" in msg
    assert "nested more than" in msg and "np.asarray(" in msg
    assert_location(msg, line)


def innermost_squared(tree):
    while isinstance(tree, list):
        (tree,) = tree
    return tree ** 2


def test_an_argument_nested_50_deep_works():
    assert td.grad(innermost_squared)(nested(50, 3.0)) == nested(50, 6.0)


def test_gradient_of_an_empty_container_argument_is_that_container():
    f = lambda x, p: np.sum(x)  # noqa: E731
    assert td.grad(f, argnums=1)(np.ones(2), ()) == ()
    assert td.grad(f, argnums=1)(np.ones(2), {}) == {}
    g_x, g_p = td.grad(f, argnums=(0, 1))(np.ones(2), [])
    np.testing.assert_array_equal(g_x, [1.0, 1.0])
    assert g_p == []
