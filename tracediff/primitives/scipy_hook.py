"""Registering rules for a SciPy module when it is imported, and wrapping SciPy's Python functions.

SciPy is optional and tracediff never imports it. Each family module for SciPy
(``special.py``, ``scipy_stats.py``, ``scipy_linalg.py``, ``scipy_signal.py``,
``scipy_integrate.py``) asks :func:`when_imported` to call its ``register(module)`` the moment
that SciPy module is imported, by whoever imports it:

- if the module is already in ``sys.modules`` when tracediff is imported, right away;
- otherwise a post-import hook (one finder at the front of ``sys.meta_path`` that only answers
  for the awaited module names) lets SciPy's own loader run the module and then registers; the
  module keeps SciPy's own loader, and the hook removes itself once nothing is awaited.

SciPy's functions written in Python (``scipy.special.logsumexp``, ``scipy.linalg.expm``, the
methods of ``scipy.stats.norm``) are not ufuncs: NumPy's dispatch never hands them a traced
value, and their first ``np.asarray`` would drop the trace. :func:`install` replaces such a
function, in its public module and in the module that defines it (so that pickling finds the
same object), with a wrapper that calls tracediff's handler when an argument is traced and SciPy's
own function otherwise: one ``isinstance`` test per argument is all it costs untraced. A module
that did ``from scipy.linalg import expm`` before tracediff was imported keeps SciPy's own
function; import tracediff first, or call it through its module.
"""
from __future__ import annotations

import functools
import importlib.abc
import sys
import warnings
from typing import Callable

from ..tracing import Tracer

# public name ("scipy.linalg.expm", "scipy.stats.norm.logpdf") -> handler, for the coverage page
LIBRARY_FUNCTIONS: dict = {}

_awaited: dict = {}  # module name -> [register callbacks]


def traced(args, kwargs) -> bool:
    """Whether any argument is a traced value (looking one level into tuples and lists, where
    SciPy takes ``args=(p, q)`` and ``(c, lower)``).

    >>> traced((1.0, (2.0, 3.0)), {"axis": 0})
    False
    """
    for value in (*args, *kwargs.values()):
        if isinstance(value, Tracer):
            return True
        if isinstance(value, (tuple, list)) and any(isinstance(v, Tracer) for v in value):
            return True
    return False


def dispatching(original: Callable, handler: Callable) -> Callable:
    """SciPy's ``original``, but ``handler`` when any argument is a traced value.

    >>> import numpy as np, tracediff as td
    >>> double = dispatching(lambda x: x + x, lambda x: 2 * x)  # the handler records one multiply
    >>> double(1.5), float(td.grad(double)(1.5))
    (3.0, 2.0)
    """
    @functools.wraps(original)
    def function(*args, **kwargs):
        if traced(args, kwargs):
            return handler(*args, **kwargs)
        return original(*args, **kwargs)

    function._tracediff_original = original
    return function


def original(function: Callable) -> Callable:
    """SciPy's own function behind a wrapper (the function itself when it is not wrapped)."""
    return getattr(function, "_tracediff_original", function)


def install(module, name: str, handler: Callable, public: str) -> Callable | None:
    """Replace ``module.name`` by a wrapper calling ``handler`` on traced arguments; returns SciPy's
    own function (None when this SciPy has no such function)."""
    current = getattr(module, name, None)
    if current is None:
        return None
    own = original(current)
    wrapper = dispatching(own, handler)
    setattr(module, name, wrapper)
    defining = sys.modules.get(getattr(own, "__module__", None) or "", None)
    if defining is not None and getattr(defining, name, None) is own:
        setattr(defining, name, wrapper)  # pickle looks the function up there
    LIBRARY_FUNCTIONS[public] = handler
    return own


def _register_safely(name: str, register: Callable, module) -> None:
    try:
        register(module)
    except Exception as error:  # never break the user's `import scipy.xxx`
        warnings.warn(f"tracediff could not register {name}'s gradient rules: {error!r}",
                      RuntimeWarning, stacklevel=2)


def when_imported(name: str, register: Callable) -> None:
    """Call ``register(module)`` once the module ``name`` is imported (now, if it already is)."""
    if name in sys.modules:
        _register_safely(name, register, sys.modules[name])
        return
    _awaited.setdefault(name, []).append(register)
    if _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)


class _Loader(importlib.abc.Loader):
    """SciPy's loader for an awaited module, then the registrations."""

    def __init__(self, loader, name: str):
        self.loader = loader
        self.name = name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the module keeps SciPy's loader
        self.loader.exec_module(module)
        for register in _awaited.pop(self.name, []):
            _register_safely(self.name, register, module)
        if not _awaited and _hook in sys.meta_path:
            sys.meta_path.remove(_hook)

    def __getattr__(self, name):
        return getattr(self.loader, name)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Answers only for the awaited module names: finds the module as the other finders would,
    and registers the rules once it has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _awaited:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, fullname)
        return spec


_hook = _ImportHook()
