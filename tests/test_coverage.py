"""docs/coverage.md is generated from the rule registry and must not go stale."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import tracediff as td
from tracediff import coverage
from tracediff.primitives.core import FUNCTIONS, UFUNCS, Primitive, defvjp


def test_coverage_page_is_up_to_date():
    # SciPy's section is there only when SciPy is installed, as it is where the page is generated.
    pytest.importorskip("scipy.special", reason="docs/coverage.md lists the SciPy rules: check it with SciPy")
    # In a fresh interpreter: what other tests register for themselves must not count.
    result = subprocess.run([sys.executable, "-m", "tracediff.coverage", "--check"],
                            capture_output=True, text=True, cwd=coverage.DOC.parent.parent)
    assert result.returncode == 0, (
        f"docs/coverage.md is stale (a function was added or its rule changed): regenerate it with "
        f"`{coverage.COMMAND}` and commit it.\n{result.stdout}{result.stderr}")


def test_every_registered_function_is_listed():
    listed = {name for row in coverage.entries() for name in row["names"]}
    for ufunc in UFUNCS:
        assert any(n.endswith("." + ufunc.__name__) for n in listed), ufunc
    for function in FUNCTIONS:
        name = getattr(function, "__name__", None)
        assert any(n.endswith("." + name) for n in listed), function


def test_the_count_at_the_top_is_the_differentiable_numpy_rows():
    page = coverage.build_markdown()
    count = int(re.search(r"\*\*(\d+) differentiable NumPy functions\*\*", page).group(1))
    rows = [r for r in coverage.entries() if r["numpy"] and r["differentiable"]]
    assert count == len(rows)
    table_rows = [line for line in page.splitlines() if line.startswith("| `np.") and "| yes |" in line]
    assert len(table_rows) == count


def test_functions_registered_by_another_family_are_picked_up():
    # As another family module would: a primitive and handlers defined in its module, for
    # (stand-ins of) NumPy functions that no family registers.
    def fancy_shift(x, axes=None):
        return np.roll(x, 1)

    def fancy_count(x):
        return len(x)

    fancy_shift.__module__ = fancy_count.__module__ = "numpy.fft"
    shift_p = Primitive("fancy_shift_for_coverage_test", fancy_shift, register=False)
    defvjp(shift_p, lambda g, ans, x: np.roll(g, -1))
    shift_p.caveat = "a test caveat"

    def handler(x, axes=None):
        return shift_p.bind(x)

    def static(x):  # binds nothing: a static answer
        return len(x)

    handler.__module__ = static.__module__ = "tracediff.primitives.fft"
    FUNCTIONS[fancy_shift], FUNCTIONS[fancy_count] = handler, static
    try:
        rows = {row["names"][0]: row for row in coverage.entries()}
        assert rows["np.fft.fancy_shift"] == dict(names=["np.fft.fancy_shift"], family="fft", differentiable=True,
                                                  caveat="a test caveat", numpy=True, complex="yes",
                                                  primitives=["fancy_shift_for_coverage_test"])
        assert rows["np.fft.fancy_count"]["differentiable"] is False
        assert "## FFT" in coverage.build_markdown()
    finally:
        del FUNCTIONS[fancy_shift], FUNCTIONS[fancy_count]


def test_differentiability_is_read_from_what_a_handler_calls():
    # No metadata: a handler that calls NumPy functions on traced values is differentiable when
    # what it calls is; one that calls only functions without gradient is not.
    def composite(x):
        return np.transpose(np.exp(x))

    def comparison(x):
        return np.isnan(x) | np.isinf(x)

    assert coverage._describe_handler(composite)[0] is True
    assert coverage._describe_handler(comparison)[0] is False
    assert coverage._describe_handler(FUNCTIONS[np.argmax])[0] is False
    assert coverage._describe_handler(FUNCTIONS[np.max]) == (True, "ties share the cotangent evenly")


def test_main_writes_the_page(tmp_path):
    out = tmp_path / "coverage.md"
    assert coverage.main(["--output", str(out)]) == 0
    assert out.read_text() == coverage.build_markdown()
    assert coverage.main(["--check", "--output", str(out)]) == 0
    out.write_text("stale")
    assert coverage.main(["--check", "--output", str(out)]) == 1
    assert td  # the package imports the coverage module's registries


def test_the_complex_column_says_yes_real_only_or_why_not():
    rows = {name: row for row in coverage.entries() for name in row["names"]}
    assert rows["np.sign"]["complex"] == rows["np.linalg.svd"]["complex"] == rows["np.median"]["complex"] == "yes"
    assert rows["np.arctan2"]["complex"] == rows["np.quantile"]["complex"] == rows["np.fft.rfft"]["complex"] \
        == "real only"  # NumPy takes no complex values there
    assert rows["np.nanmedian"]["complex"].startswith("no: ")  # tracediff refuses them, and says why
    assert rows["np.floor"]["complex"] == ""  # (no gradient)
    page = coverage.build_markdown()
    assert "| function | gradient | complex | notes |" in page and "| `np.quantile` | yes | real only |" in page
