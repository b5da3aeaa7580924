"""The differential fuzzer: a fixed-seed run in CI, and proof that it catches what it is for.

A fuzzer that never fails proves nothing, so most tests here break tracediff on purpose (a wrong
rule, a wrong pass) and check that the fuzzer reports it, names the pass, shrinks the program and
writes a regression test that fails.
"""
import numpy as np
import pytest

import tracediff as td
from tracediff import passes
from tracediff.fuzz import check_function, generate
from tracediff.fuzz.checks import classify
from tracediff.fuzz.run import run
from tracediff.primitives.core import REGISTRY
from tracediff.switches import OPTIMIZATIONS

# CI's budget: a fixed number of programs (deterministic), about half a minute each.
FIRST_ORDER_PROGRAMS, SECOND_ORDER_PROGRAMS = 250, 120


def test_fixed_seed_first_order_finds_nothing():
    summary = run(seed=2026, programs=FIRST_ORDER_PROGRAMS, order=1)
    assert not summary.failures, summary.table()
    assert summary.report.outcomes[(1, "agree")] > FIRST_ORDER_PROGRAMS  # checks really ran


def test_fixed_seed_second_order_finds_nothing():
    summary = run(seed=2027, programs=SECOND_ORDER_PROGRAMS, order=2)
    assert not summary.failures, summary.table()
    assert summary.report.outcomes[(2, "agree")] > SECOND_ORDER_PROGRAMS


def test_programs_are_reproducible_from_seed_and_number():
    one = generate(np.random.default_rng([5, 3]), 3)
    two = generate(np.random.default_rng([5, 3]), 3)
    assert one.source() == two.source()
    assert all(np.array_equal(a, b) for a, b in zip(one.args, two.args))


def _sin(x):
    return np.sum(np.sin(x) * x)


def test_a_wrong_rule_is_reported_as_a_wrong_gradient(monkeypatch):
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "vjp", [lambda g, ans, x: g * np.sin(x)])  # should be cos
    findings = check_function(_sin, (np.linspace(0.1, 1.0, 4),))
    assert any(f.startswith("wrong in grad") for f in findings), findings


def test_a_wrong_pass_is_reported_and_named(monkeypatch):
    original = passes.simplify

    def broken(graph):  # "x * c is x" for every scalar c: wrong unless c == 1
        for node in graph.nodes:
            if node.primitive.name == "multiply" and any(passes._scalar(v) for v in node.inputs):
                node.inputs = [v if not passes._scalar(v) else type(v)(1.0) for v in node.inputs]
        return original(graph)

    monkeypatch.setattr(passes, "_PASSES", [(n, broken if n == "simplify" else p) for n, p in passes._PASSES])
    findings = check_function(lambda x: np.sum((3.0 * x) ** 2), (np.linspace(0.1, 1.0, 4),))
    assert any("[changed by: simplify]" in f for f in findings), findings


def test_failures_are_shrunk_into_a_regression_test_that_fails(monkeypatch, tmp_path):
    sin = REGISTRY["sin"]
    monkeypatch.setattr(sin, "vjp", [lambda g, ans, x: g * np.sin(x)])
    number = next(n for n in range(200) if "np.sin(" in generate(np.random.default_rng([11, n]), n).source())
    summary = run(seed=11, only=number, out=str(tmp_path))
    assert summary.failures
    _, finding, source, path = summary.failures[0]
    assert "np.sin(" in source and source.count("\n") <= 6, source  # a few lines, the bug kept
    namespace = {}
    exec(compile(open(path).read(), path, "exec"), namespace)
    test = next(v for k, v in namespace.items() if k.startswith("test_fuzz"))
    with pytest.raises(AssertionError):
        test()
    monkeypatch.undo()
    test()  # with the rule mended, the written test passes


def test_classification_of_points_without_a_derivative():
    h = 1e-5
    abs_at = lambda x0: [np.abs(x0 + t) for t in (-h, 0.0, h)]  # noqa: E731
    assert classify(h, abs_at(0.0), [np.abs(t) for t in (-h / 4, 0.0, h / 4)], 0.0, 1.0) == "kink"
    square = [(1.0 + t) ** 2 for t in (-h, 0.0, h)]
    square2 = [(1.0 + t) ** 2 for t in (-h / 4, 0.0, h / 4)]
    assert classify(h, square, square2, 2.0, 3.0) == "agree"
    assert classify(h, square, square2, 2.1, 3.0) == "wrong"
    assert classify(h, square, square2, np.nan, 3.0) == "wrong"


def test_every_optimization_can_be_switched_off_and_names_are_checked():
    f = lambda x: np.sum(np.exp(x) * np.sin(x)) * np.mean(x)  # noqa: E731
    x = np.linspace(0.1, 1.0, 5)
    expected = td.grad(f)(x)
    for name in ["all", *OPTIMIZATIONS]:
        with td.optimizations(disable=name):
            np.testing.assert_allclose(td.grad(f)(x), expected, rtol=1e-12)
    with td.optimizations(disable="all"):
        assert "t6 = t4 * t5" in td.grad(f).source(x)  # the rules' output, unoptimized
    with pytest.raises(ValueError, match="unknown optimization.*factr.*the names are: all, record_cse"):
        with td.optimizations(disable="factr"):
            pass


def test_optimizations_off_is_read_from_the_environment():
    import subprocess
    import sys
    code = "import tracediff.switches as s; print(s.enabled('factor'), s.enabled('cse'))"
    env = {**__import__("os").environ, "TRACEDIFF_DISABLE": "factor"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_derivative_decided_by_rounding_is_classified_not_wrong():
    # std of three copies of one value is 0 for every x, but the mean rounds off, and the chain
    # rule divides that rounding by itself: a point with no derivative that no input reaches.
    def f(x):
        return np.sum(np.std(np.take(x, [0, 0, 0], axis=0), axis=0, keepdims=True) * np.cos(2.0))

    x = np.array([-0.4485708963508407])
    summary_findings = check_function(f, (x,), order=1, seed=13001045408)
    assert not [s for s in summary_findings if s.startswith("wrong")], summary_findings


def test_a_consistently_wrong_rule_is_still_wrong_not_unstable(monkeypatch):
    exp = REGISTRY["exp"]
    monkeypatch.setattr(exp, "vjp", [lambda g, ans, x: g * ans * 1.01])  # 1% off, continuous
    findings = check_function(lambda x: np.sum(np.exp(x)), (np.linspace(0.1, 1.0, 4),))
    assert any(f.startswith("wrong in grad") for f in findings), findings


def test_a_program_undefined_within_a_step_is_not_a_finding_but_a_crash_still_is(monkeypatch):
    # Found by --seed 16302 --order 2 (program 893): x2[0] is -2.8e-5, so a difference step
    # makes it positive, the mask selects 3 entries, and the program's own reshape to (2,) fails.
    def f(x0, x1, x2):
        v1 = x2 / (1 + x0 * x0)
        v3 = v1[v1 > 0]
        return (v3 * np.cos(np.arange(2.0) + 1).reshape((2,))).sum() + x0 * 1.0 + np.sum(x1)

    args = (np.array(-0.7096743018949571), np.array([0.5, -0.3]),
            np.array([[-2.825800494682452e-05], [0.7881243971160499], [0.03940606149283066]]))
    assert check_function(f, args, order=2, seed=16302049799) == []
    tanh = REGISTRY["tanh"]  # a rule that crashes where NumPy runs is still reported
    monkeypatch.setattr(tanh, "vjp", [lambda g, ans, x: g[:2] * ans])  # (2,) against (4,)
    findings = check_function(lambda x: np.sum(np.tanh(x)), (np.linspace(0.1, 1.0, 4),))
    assert any(f.startswith("error") for f in findings), findings
