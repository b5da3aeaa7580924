"""Naming the library function a traced value was handed to, for error messages.

When a traced value reaches a SciPy function tracediff has no rule for, SciPy turns it into a
plain array deep inside its own code (``np.asarray``), and the error would point there. The
function the user called is more useful: :func:`describe_library_call` finds it on the stack.
"""
from __future__ import annotations

import sys
import types

from .errors import _is_internal


def _package(module_name: str) -> str:
    """The public package of a SciPy module: ``scipy.linalg`` for ``scipy.linalg._basic``."""
    public = []
    for part in module_name.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    return ".".join(public)


def _is_scipy(frame) -> bool:
    return (frame.f_globals.get("__name__") or "").startswith("scipy.")


def _instance_name(obj) -> str | None:
    """``norm`` for ``scipy.stats.norm`` and for a frozen ``scipy.stats.norm(0, 1)``;
    ``multivariate_normal`` for its generator and its frozen distributions."""
    dist = getattr(obj, "dist", None) or getattr(obj, "_dist", None)
    for candidate in (obj, dist):
        name = getattr(candidate, "name", None) if candidate is not None else None
        if isinstance(name, str) and name:
            return name
    cls = type(dist if dist is not None else obj).__name__
    for suffix in ("_gen", "_frozen"):
        if cls.endswith(suffix):
            return cls[: -len(suffix)]
    return None


def _function_name(frame) -> str:
    """The public name of the function running in ``frame``."""
    code = frame.f_code
    package = _package(frame.f_globals.get("__name__", "scipy"))
    qualname = getattr(code, "co_qualname", code.co_name)
    if code.co_argcount and code.co_varnames[0] == "self" and "self" in frame.f_locals:
        name = _instance_name(frame.f_locals["self"])
        if name:  # making or freezing the distribution: named after it alone
            return f"{package}.{name}" + ("" if code.co_name in ("__call__", "__init__", "freeze") else
                                           f".{code.co_name}")
    if "<locals>" in qualname:  # a decorator's wrapper: the function it wraps is one of its locals
        for value in frame.f_locals.values():
            if (isinstance(value, types.FunctionType) and (value.__module__ or "").startswith("scipy.")
                    and "<locals>" not in value.__qualname__):
                return f"{_package(value.__module__)}.{value.__qualname__}"
    return f"{package}.{qualname}"


def describe_library_call(frame=None) -> str | None:
    """The SciPy function the user's code called, and which is running the code that called this
    one (from ``frame``, by default the caller's frame), e.g. ``"scipy.stats.norm.ppf"``; None
    when that code is the user's own.

    From the innermost frame outwards, past tracediff's, NumPy's and the standard library's
    frames: if the first other frame is SciPy's, the outermost of the SciPy frames around it (the
    one called from outside SciPy). A user's function that SciPy calls back (the integrand of
    ``scipy.integrate.quad``) is the user's code: None. A distribution's method is named after the
    distribution (``scipy.stats.norm.ppf``, also for a frozen ``scipy.stats.norm(0, 1).ppf``), a
    function after its public package (``scipy.linalg.expm``).

    >>> describe_library_call() is None
    True
    """
    frame = sys._getframe(1) if frame is None else frame
    while frame is not None and _is_internal(frame.f_code.co_filename) and not _is_scipy(frame):
        frame = frame.f_back
    if frame is None or not _is_scipy(frame):
        return None
    while frame.f_back is not None and _is_scipy(frame.f_back):
        frame = frame.f_back
    return _function_name(frame)
