"""Golden files: the generated gradients docs/reading-generated-code.md shows, checked in.

A change to the generated code (names, comments, folding, passes) shows up here as a diff. When the
change is intended, regenerate the files and the page's listings, and review the diff:

    TRACEDIFF_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""
import difflib
import importlib.util
import os
import pathlib
import re

import pytest

import tracediff as td

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATED = ROOT / "docs" / "generated"
PAGE = ROOT / "docs" / "reading-generated-code.md"
UPDATE = os.environ.get("TRACEDIFF_UPDATE_GOLDEN") == "1"


def _models():
    spec = importlib.util.spec_from_file_location("models", GENERATED / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = _models().cases()


def _source(name):
    fun, argnums, args = CASES[name]
    return td.grad(fun, argnums=argnums).source(*args)


def _mismatch(what, expected, got):
    diff = "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                        "checked in", "generated now"))
    return (f"{what} differs from what tracediff generates now. If the change is intended, run\n"
            f"    TRACEDIFF_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py\nand review the diff:\n{diff}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_source_matches_its_golden_file(name):
    path = GENERATED / f"{name}.py"
    source = _source(name)
    if UPDATE:
        path.write_text(source, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    assert source == expected, _mismatch(f"docs/generated/{name}.py", expected, source)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_gradients_are_right(name):
    fun, argnums, args = CASES[name]
    td.testing.check_grads(fun, *args, argnums=argnums)


def _listing(name):
    return re.compile(rf"(<!-- generated/{name}\.py -->\n```text\n)(.*?)(```)", re.S)


def test_the_page_shows_the_golden_files():
    page = PAGE.read_text(encoding="utf-8")
    for name in sorted(CASES):
        listing = _listing(name)
        match = listing.search(page)
        assert match, f"{PAGE.name} has no listing of generated/{name}.py (<!-- generated/{name}.py --> then ```text)"
        golden = (GENERATED / f"{name}.py").read_text(encoding="utf-8")
        if UPDATE:
            page = listing.sub(lambda m: m.group(1) + golden + m.group(3), page)
            PAGE.write_text(page, encoding="utf-8")
            continue
        assert match.group(2) == golden, _mismatch(f"the listing of generated/{name}.py in {PAGE.name}",
                                                   golden, match.group(2))
