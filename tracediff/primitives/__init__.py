"""Primitives grouped by family; importing this package registers them all."""
from . import core, elementwise, fft, indexing, linalg, random, reductions, shape  # noqa: F401
# SciPy's families register their rules when their SciPy module is imported (scipy_hook.py)
from . import scipy_integrate, scipy_linalg, scipy_signal, scipy_stats, special  # noqa: F401
from .core import REGISTRY, Primitive, defbatch, defvjp, primitive

__all__ = ["REGISTRY", "Primitive", "defbatch", "defvjp", "primitive"]
