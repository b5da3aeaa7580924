import pathlib
import sys

# Lets test modules import the shared rule-case tables in tests/rule_cases/.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


import pytest

import tracediff as td


@pytest.fixture(autouse=True)
def _fresh_compiled_code():
    """Each test starts as a new process would: a td.grad(f) made for a module-level f in one
    test must not find code another test traced (the cache is shared per function)."""
    td.clear_caches()
    yield
