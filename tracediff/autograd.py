"""``td.autograd``: the functional side of td.Tensor's autograd (as ``torch.autograd``).

``grad(outputs, inputs, ...)`` returns gradients without touching ``.grad``; ``cache_info()``
counts the generated backward functions (one per graph structure) and their reuse.
"""
from .tensor_backward import CacheInfo, cache_info, clear_cache, grad
from .tensors import Tensor, enable_grad, is_grad_enabled
from .tracing import no_grad

__all__ = ["grad", "cache_info", "clear_cache", "CacheInfo", "Tensor", "enable_grad", "no_grad",
           "is_grad_enabled"]
