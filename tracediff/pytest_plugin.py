"""pytest integration: a ``check_grads`` fixture whose failures show the generated gradient.

Installing tracediff registers this module as a pytest plugin (the ``pytest11`` entry point in
pyproject.toml), so any test can ask for the fixture::

    def test_loss_gradient(check_grads):
        check_grads(loss, w, X, y)                # argnums=0 by default, like td.grad
        check_grads(loss, w, X, y, argnums=(0, 1))

It runs :func:`tracediff.testing.check_grads` (central finite differences in float64, tolerances
set by each argument's dtype). When the check fails, the test fails with a
:class:`GradientCheckError` whose message names the argument, lists its worst entries (tracediff
against finite differences) and shows the source tracediff generated for the gradient under test.
Outside pytest, call :func:`check_grads` from this module directly: it does the same.
"""
from __future__ import annotations

import inspect
from typing import Callable, Sequence

import numpy as np
import pytest

from . import testing

__all__ = ["GradientCheckError", "check_grads"]


class GradientCheckError(AssertionError):
    """A gradient did not match finite differences.

    The message holds the mismatch (argument, worst entries) and the generated source;
    ``.source`` holds the generated source alone.
    """

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


def check_grads(fun: Callable, *args, argnums: int | Sequence[int] = 0, rtol: float | None = None,
                atol: float | None = None, seed: int = 0, **options) -> None:
    """:func:`tracediff.testing.check_grads`, failing with the generated gradient source in the message.

    Other keyword arguments (such as ``order=2``) are passed on to it.
    """
    __tracebackhide__ = True  # pytest: the failure points at the test's line, not at this function
    try:
        testing.check_grads(fun, *args, argnums=argnums, rtol=rtol, atol=atol, seed=seed, **options)
    except AssertionError as failure:
        source = generated_source(fun, args, argnums)
        raise GradientCheckError(f"{failure}\n\n{source}", source) from None


def generated_source(fun: Callable, args: tuple, argnums: int | Sequence[int] = 0) -> str:
    """The source tracediff generates for the gradient of ``fun`` at ``args``, with a header.

    For a scalar output this is ``td.grad(fun, argnums).source(*args)``. For any other output,
    ``check_grads`` checks a vector-Jacobian product; this shows the gradient of ``sum(fun(*args))``,
    which runs the same rules.
    """
    from .api import grad
    from .errors import NonScalarOutputError

    name = getattr(fun, "__qualname__", None) or repr(fun)
    try:
        try:  # traced, never called on the arguments themselves: fun may write into its inputs
            source = grad(fun, argnums=argnums).source(*args)
            header = f"the gradient tracediff generated, td.grad({name}, argnums={argnums!r}):"
        except NonScalarOutputError:
            def summed(*a):
                return np.sum(fun(*a))

            summed.__name__ = summed.__qualname__ = f"{getattr(fun, '__name__', 'fun')}_summed"
            try:  # the generated code names its arguments after fun's parameters
                summed.__signature__ = inspect.signature(fun)
            except (TypeError, ValueError):
                pass
            source = grad(summed, argnums=argnums).source(*args)
            header = (f"the gradient tracediff generated for sum({name}(...)), argnums={argnums!r} (the "
                      "output is not a scalar: check_grads checked a vector-Jacobian product, same rules):")
    except Exception as error:  # the check already failed: say why there is no source, don't mask it
        return f"the gradient tracediff generated for {name}: not available ({type(error).__name__}: {error})"
    return f"{header}\n{source}"


@pytest.fixture(name="check_grads", scope="session")  # stateless: fine with Hypothesis' @given
def check_grads_fixture() -> Callable:
    """Check a function's tracediff gradient against finite differences.

    ``check_grads(fun, *args, argnums=0, rtol=None, atol=None, seed=0, order=1)``: tolerances
    default to the arguments' dtype; a failure shows the worst entries and the generated gradient
    source (of the first derivative, also when ``order=2`` checks the second).
    """
    return check_grads
