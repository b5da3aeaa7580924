"""tracediff: a tracing-to-code automatic differentiation compiler for NumPy."""
from . import testing
from .api import grad, trace, value_and_grad, vjp
from .cache import RetraceWarning, clear_caches
from .checkpoint import checkpoint
from .export import ExportError, export
from .switches import optimizations
from .errors import (
    EscapedTracerError,
    GuardFailed,
    MissingRuleError,
    MixedTraceError,
    NonDifferentiableError,
    NonScalarOutputError,
    TracediffError,
    TracerConversionError,
)
from .primitives import defbatch, defvjp, primitive
from .optimizers import adam, momentum, rmsprop, sgd
from .pytree import ravel_pytree, register_pytree_node
from .tracing import detach, no_grad, stop_gradient
from .tensors import Tensor, enable_grad, tensor
from . import autograd
from .transforms import custom_vjp, elementwise_grad, hessian, hvp, jacobian, jvp

__version__ = "0.1.0"

__all__ = [
    "grad", "value_and_grad", "vjp", "trace", "jacobian", "hessian", "hvp", "jvp",
    "elementwise_grad", "custom_vjp", "checkpoint", "stop_gradient", "detach", "no_grad",
    "primitive", "defvjp", "defbatch", "register_pytree_node", "testing",
    "TracediffError", "NonScalarOutputError", "NonDifferentiableError", "MissingRuleError",
    "EscapedTracerError", "TracerConversionError", "MixedTraceError", "GuardFailed", "RetraceWarning",
]
__all__ += ["export", "ExportError"]  # standalone modules (export.py)
__all__ += ["optimizations"]  # switches for every optimization (switches.py)
__all__ += ["clear_caches"]  # the shared per-function caches of generated code (cache.py)
__all__ += ["ravel_pytree", "sgd", "momentum", "rmsprop", "adam"]  # porting tools (pytree.py, optimizers.py)
__all__ += ["tensor", "Tensor", "enable_grad", "autograd"]  # PyTorch-style tensors (tensors.py, tensor_backward.py)
