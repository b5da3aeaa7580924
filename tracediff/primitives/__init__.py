"""Primitives grouped by family; importing this package registers them all."""
from . import core, elementwise, indexing, linalg, random, reductions, shape  # noqa: F401
from .core import REGISTRY, Primitive, defvjp, primitive

__all__ = ["REGISTRY", "Primitive", "defvjp", "primitive"]
