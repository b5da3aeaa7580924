"""The differential fuzzer: random NumPy programs, each gradient checked independently.

``python -m tracediff.fuzz --minutes 5 --seed 1 --order 2`` draws programs (programs.py), checks
each one (checks.py: finite differences, every optimization on against off and one at a time,
second order, cached calls against fresh traces, float32, the caller's arrays), shrinks every
failure to a few lines and writes it out as a ready regression test (shrink.py).
"""
from .checks import Finding, Report, check_function
from .programs import Program, generate
from .shrink import regression_test, shrink

__all__ = ["check_function", "generate", "shrink", "regression_test", "Program", "Finding", "Report"]
