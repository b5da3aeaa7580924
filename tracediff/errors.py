"""Exception classes. Every message says what happened, where in the user's code, and what to do."""
from __future__ import annotations

import functools
import os
import sys
import sysconfig

def _folders(*paths) -> tuple:
    return tuple({os.path.join(os.path.realpath(p), "") for p in paths})


_PATHS = sysconfig.get_paths()
_OURS = _folders(os.path.dirname(os.path.abspath(__file__)),  # tracediff
                 os.path.dirname(os.path.abspath(sys.modules["numpy"].__file__)))  # NumPy's layers
_STDLIB = _folders(_PATHS["stdlib"], _PATHS["platstdlib"])  # linecache, contextlib, threading, ...
_INSTALLED = _folders(_PATHS["purelib"], _PATHS["platlib"])  # may lie inside stdlib: user packages


@functools.lru_cache(maxsize=4096)
def _is_internal(filename: str) -> bool:
    """Frames of tracediff, NumPy, the standard library and generated code are not the user's."""
    if filename.startswith(("<tracediff", "<frozen")):
        return True
    if not os.path.isabs(filename):
        return False
    path = os.path.realpath(filename)
    return path.startswith(_OURS) or (path.startswith(_STDLIB) and not path.startswith(_INSTALLED))


def user_frame(depth: int = 1):
    """The innermost stack frame that belongs to the user's code, or None."""
    frame = sys._getframe(depth)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_location() -> str:
    """'file.py:12' for the innermost user frame, '' if there is none."""
    frame = user_frame(2)
    if frame is None:
        return ""
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


class TracediffError(Exception):
    """Base class of every error tracediff raises on purpose."""



class NonScalarOutputError(TracediffError, TypeError):
    """`grad` was asked for the gradient of an output that is not a scalar."""


class NonDifferentiableError(TracediffError, TypeError):
    """A gradient was asked for with respect to an integer, boolean or non-numeric argument."""


class MissingRuleError(TracediffError, NotImplementedError):
    """A NumPy function was called on a traced value and tracediff has no rule for it."""


class EscapedTracerError(TracediffError, RuntimeError):
    """A traced value was used after the trace that made it had ended."""


class TracerConversionError(TracediffError, TypeError):
    """A traced value was turned into a plain NumPy array or Python number where that loses it."""


class MixedTraceError(TracediffError, RuntimeError):
    """Values from two different traces met in one operation (e.g. a closure over an outer trace)."""


class GuardFailed(Exception):
    """Raised by generated code when the inputs take another path than the traced one.

    The cache catches it and retraces; users of exported code see it as a clear error.
    """
