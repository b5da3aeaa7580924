"""tracediff's pytest plugin: the entry point, the check_grads fixture, and what a failure shows.

The plugin is exercised by running pytest on small test files (pytester): a passing and a failing
gradient test, and the report of the failing one must show the worst entries and the source
tracediff generated for the gradient under test.
"""
import importlib.metadata
import pathlib
import re
import textwrap

import numpy as np
import pytest

import tracediff as td
from tracediff import pytest_plugin

pytest_plugins = ["pytester"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLUGIN = "tracediff.pytest_plugin"  # entry-point name = module name: `-p` is then a no-op if autoloaded

GRADIENT_TESTS = textwrap.dedent('''
    import numpy as np
    import tracediff as td

    wrong_sin = td.primitive(np.sin, name="wrong_sin")
    td.defvjp(wrong_sin, lambda g, ans, x: g * np.sin(x))  # the bug: should be np.cos(x)

    def good_loss(w, X):
        return np.mean(np.tanh(X @ w) ** 2)

    def bad_loss(w):
        scaled = 3.0 * w
        return np.sum(wrong_sin(scaled))

    def test_passes(check_grads):
        check_grads(good_loss, np.array([0.3, -0.2]), np.arange(6.0).reshape(3, 2) / 6)

    def test_fails(check_grads):
        check_grads(bad_loss, np.linspace(0.1, 1.0, 4))
''')


def entry_points():
    return [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.value == PLUGIN]


def test_installing_tracediff_registers_the_plugin():
    try:
        dist = importlib.metadata.distribution("tracediff")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("tracediff is not installed; install it as README says: pip install -e '.[test]'")
    found = [ep for ep in dist.entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in found] == [(PLUGIN, PLUGIN)], (
        "the installed tracediff has no pytest11 entry point for its plugin; pyproject.toml declares "
        "one, so reinstall: pip install -e '.[test]'")
    assert found[0].load() is pytest_plugin


def test_fixture_is_available_here(check_grads):
    """This very test run got the fixture from the installed plugin, with no conftest."""
    assert check_grads is pytest_plugin.check_grads
    check_grads(lambda x: np.sum(np.sin(x) * x), np.linspace(-1.0, 1.0, 5))


VECTOR_TESTS = textwrap.dedent('''
    import numpy as np
    import tracediff as td

    half = td.primitive(lambda x: 0.5 * x, name="half")
    td.defvjp(half, lambda g, ans, x: g)  # the bug: should be 0.5 * g

    def layer(x, scale):
        return scale * half(x)

    def test_vector_output(check_grads):
        check_grads(layer, np.ones(3), 2.0, argnums=(0, 1))
''')

DTYPE_TESTS = textwrap.dedent('''
    import numpy as np

    def cancelling(x):  # the gradient is a difference of two nearly equal terms
        return np.sum(np.exp(x) - np.exp(x + 0.001))

    x = np.linspace(4.0, 6.0, 9)

    def test_float64(check_grads):
        check_grads(cancelling, x)

    def test_float32(check_grads):
        check_grads(cancelling, x.astype(np.float32))

    def test_float32_at_float64_tolerances(check_grads):
        check_grads(cancelling, x.astype(np.float32), rtol=1e-6, atol=1e-6)
''')


def test_passing_and_failing_gradient_tests(pytester):
    """One pytest run (pytester) over three small test files, 3 tests pass and 3 fail; each check
    below reads its report."""
    pytester.makepyfile(test_gradients=GRADIENT_TESTS, test_vector=VECTOR_TESTS, test_dtypes=DTYPE_TESTS)
    result = pytester.runpytest("-p", PLUGIN)
    check_outcomes(result)
    check_the_failure_report_shows_the_generated_source(result)
    check_worst_entries_are_the_true_differences(result)
    check_non_scalar_output_and_argnums(result)
    check_tolerances_follow_the_dtype(result)


def failure_section(result, test_name):
    """The text of one test's entry in the FAILURES section."""
    text = result.stdout.str()
    sections = re.split(r"\n_{3,} (\S+) _{3,}\n", text.split("= FAILURES =", 1)[1])
    bodies = dict(zip(sections[1::2], sections[2::2]))
    assert test_name in bodies, f"{test_name} did not fail:\n{text}"
    return bodies[test_name]


def check_outcomes(gradient_run):
    gradient_run.assert_outcomes(passed=3, failed=3)
    failed = sorted(re.findall(r"^FAILED (\S+)", gradient_run.stdout.str(), flags=re.M))
    assert failed == ["test_dtypes.py::test_float32_at_float64_tolerances", "test_gradients.py::test_fails",
                      "test_vector.py::test_vector_output"]


def check_the_failure_report_shows_the_generated_source(gradient_run):
    report = failure_section(gradient_run, "test_fails")
    expected_in_order = [
        "check_grads(bad_loss, np.linspace(0.1, 1.0, 4))",   # the user's line
        "GradientCheckError: gradient of bad_loss with respect to argument 0 does not match finite differences",
        "worst entries (index: tracediff vs finite differences, |difference|):",
        "the gradient tracediff generated, td.grad(bad_loss, argnums=0):",
        "# Generated by tracediff: grad of bad_loss",
        "def grad_bad_loss(w):",
        "scaled = 3.0 * w",
        "# --- backward pass ---",
        "np.sin(scaled)",                                   # the wrong rule, as the generated code runs it
        "return g_w,",
        "test_gradients.py:18: GradientCheckError",
    ]
    position = 0
    for piece in expected_in_order:
        found = report.find(piece, position)
        assert found >= 0, f"{piece!r} missing (or out of order) in the report:\n{report}"
        position = found + len(piece)
    assert report.count("# Generated by tracediff") == 1
    assert "pytest_plugin.py" not in report  # the traceback stops at the user's test line


def check_worst_entries_are_the_true_differences(gradient_run):
    entries = re.findall(r"\((\d+),\): (\S+) vs (\S+), (\S+)", failure_section(gradient_run, "test_fails"))
    assert len(entries) == 4
    w = np.linspace(0.1, 1.0, 4)
    wrong, right = 3.0 * np.sin(3.0 * w), 3.0 * np.cos(3.0 * w)  # d/dw sum(sin(3w)) = 3 cos(3w)
    errors = np.abs(wrong - right)
    assert [int(i) for i, *_ in entries] == list(np.argsort(errors)[::-1])  # worst first
    for i, ours, numeric, difference in entries:
        i = int(i)
        np.testing.assert_allclose(float(ours), wrong[i], rtol=1e-7)
        np.testing.assert_allclose(float(numeric), right[i], rtol=1e-6)
        np.testing.assert_allclose(float(difference), errors[i], rtol=1e-2)


def check_non_scalar_output_and_argnums(gradient_run):
    report = failure_section(gradient_run, "test_vector_output")
    assert "gradient of layer with respect to argument 0 does not match finite differences" in report
    assert "the gradient tracediff generated for sum(layer(...)), argnums=(0, 1)" in report
    assert "vector-Jacobian product" in report
    assert "def grad_layer_summed(x, scale):" in report


def check_tolerances_follow_the_dtype(gradient_run):
    """float32 work passes at float32 tolerances; the same numbers fail at float64's."""
    report = failure_section(gradient_run, "test_float32_at_float64_tolerances")
    assert "gradient of cancelling with respect to argument 0 does not match" in report
    assert "test_float32 " not in gradient_run.stdout.str().split("short test summary")[1]


def test_the_example_test_file_passes(pytester):
    pytester.copy_example(str(ROOT / "examples" / "test_my_gradients.py"))
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=8)


def test_a_fresh_pytest_process_loads_the_plugin_by_itself(pytester):
    """No `-p`, no conftest: the entry point alone provides the fixture."""
    pytester.makepyfile(test_gradients=GRADIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*def grad_bad_loss(w):"])


def test_check_grads_outside_pytest():
    """The plugin's check_grads is a plain function too; its error carries the source."""
    wrong_exp = td.primitive(np.exp, name="wrong_exp")
    td.defvjp(wrong_exp, lambda g, ans, x: g * x)
    with pytest.raises(pytest_plugin.GradientCheckError) as failure:
        pytest_plugin.check_grads(lambda x: np.sum(wrong_exp(x)), np.array([0.5, 1.5]))
    assert isinstance(failure.value, AssertionError)
    assert "def grad_" in failure.value.source and "worst entries" in str(failure.value)
    assert failure.value.source in str(failure.value)


def test_passing_check_raises_nothing():
    assert pytest_plugin.check_grads(lambda x: np.sum(x ** 3), np.array([1.0, 2.0])) is None


def test_when_no_source_can_be_generated_the_report_says_why():
    def not_traceable(x):
        return float(np.sum(x))  # float() of a differentiated value: tracediff refuses

    text = pytest_plugin.generated_source(not_traceable, (np.ones(2),))
    assert text.startswith("the gradient tracediff generated for ")
    assert "not available (TracerConversionError" in text


def test_other_errors_are_not_turned_into_gradient_failures():
    with pytest.raises(td.NonDifferentiableError):
        pytest_plugin.check_grads(lambda n: np.sum(np.ones(3) * n), np.arange(3))
