"""Primitives grouped by family; importing this package registers them all."""
from . import core, elementwise, fft, indexing, linalg, random, reductions, shape  # noqa: F401
from . import special  # noqa: F401  (registers scipy.special's rules when SciPy is imported)
from .core import REGISTRY, Primitive, defbatch, defvjp, primitive

__all__ = ["REGISTRY", "Primitive", "defbatch", "defvjp", "primitive"]
