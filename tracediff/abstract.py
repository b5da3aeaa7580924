"""Values known by shape and dtype only, computed when something needs them: so that building a
gradient costs the same on a thousand elements as on a million.

Reverse mode runs each rule on tracers, which records the backward pass; the values those
tracers carried were computed on the user's full-size arrays and then thrown away, since the
generated code computes them again on every call. While the backward pass is recorded, a
primitive's result is therefore a :class:`Pending` value: its shape and dtype, worked out from
its operands' shapes and dtypes, and what would compute it. It is computed (with its pending
operands, once) only when something needs the value: a guard (``if g.sum() > 0:`` in a rule), a
primitive whose result shape could depend on values, a write into a view.

How a result's shape and dtype are found without its value:

- an elementwise primitive broadcasts its operands' shapes; its dtype is the primitive's
  result on one-element stand-ins of the operands' types (NumPy's promotion depends on dtypes,
  and on Python scalars' types, never on array values or shapes);
- a product (matmul, tensordot, einsum) has a rule for its result's shape (``shape_rule``
  beside the primitive): run on stand-ins, NumPy would take its slow loops;
- any other primitive of tracediff's own with a gradient is run on stand-ins of the pending
  operands' shapes that hold one value (zero strides: no memory). That runs the primitive, but
  on no data: a reduction or a reshape of a zero-stride array costs far less than the real one.

The forward pass's large arrays are held by the trace the same way (:meth:`Pending.held_weakly`):
a weak reference while the user's code keeps the value, and what computes it again after that,
so that temporaries die as they would without tracing.

A pending integer or boolean operand (an index, a mask: shapes may depend on their values) is
computed first, and a result that is not floating point is computed for real. So are the
primitives of user code (``td.primitive``), random draws and guards.

Values smaller than the ``large_at`` setting (65,536 elements) are computed as before: on a few
elements that costs less than working out a shape. ``TRACEDIFF_CHECK_SHAPES=1`` makes every
value of the backward pass Pending, whatever its size, computes it at once too and checks its
shape and dtype (the test suite passes with it; see docs/design.md).
"""
from __future__ import annotations

import math
import os
import weakref

import numpy as np

_UNSET = object()
CHECK_SHAPES = os.environ.get("TRACEDIFF_CHECK_SHAPES", "") not in ("", "0")


class Pending:
    """A value known by its shape and dtype; :meth:`force` computes it (once).

    A forward value the trace holds only weakly (see :meth:`held_weakly`) is a Pending value
    too: the value while the user's code keeps it, computed again if needed after that.
    """

    __slots__ = ("shape", "dtype", "sample", "primitive", "operands", "params", "value", "ref", "holder")

    def __init__(self, shape, dtype, sample, primitive, operands, params):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.sample = sample  # a one-element value of the value's type, for probing what uses it
        self.primitive, self.operands, self.params = primitive, operands, params
        self.value = _UNSET
        self.ref = None  # a weak reference to the value, when computed and held weakly
        # For a forward value: a weak reference to the tracer the user's code holds. Once
        # computed, the value is that tracer's while it lives, and held weakly here.
        self.holder = None

    @classmethod
    def held_weakly(cls, value: np.ndarray, primitive, operands: list, params: dict) -> "Pending":
        """``value``, computed while tracing, held so that it dies when the user's code drops
        it (a temporary of ``np.sin(x) * np.exp(-x)``), as it would without tracing: the trace
        then takes no more memory than the function. ``operands`` (the trace's own values of
        the primitive's operands) compute it again if it is needed later."""
        pending = cls(value.shape, value.dtype, _one_like(value), primitive, operands, params)
        pending.ref = weakref.ref(value)
        return pending

    ndim = property(lambda self: len(self.shape))

    def known(self):
        """The value if it is at hand (computed, or held weakly and still alive), else _UNSET."""
        if self.value is _UNSET and self.ref is not None:
            value = self.ref()
            return _UNSET if value is None else value
        return self.value

    def force(self):
        """The value, computing it and the pending values it is made from (iteratively: a
        backward pass may be thousands of values deep). Computed values are kept; a forward
        value's array (see ``holder``) lives as long as the user's tracer of it, as if it had
        been computed when the user's code made it."""
        value = self.known()
        if value is not _UNSET:
            return value
        todo, forward = [self], []
        while todo:
            p = todo[-1]
            if p.known() is not _UNSET:
                todo.pop()
                continue
            waiting = [o for o in p.operands if type(o) is Pending and o.known() is _UNSET]
            if waiting:
                todo += waiting
                continue
            todo.pop()
            p.value = p.primitive.impl(*concrete(p.operands), **p.params)
            _check(p, p.value)
            if p.holder is not None and type(p.value) is np.ndarray:
                forward.append(p)
            else:
                p.operands = p.ref = None  # computed: what it was made from may go
        value = self.value
        for p in forward:  # (kept until now: the values after them were computed from them)
            tracer = p.holder()
            if tracer is not None and tracer._val is p:
                tracer._val = p.value
            p.ref, p.value = weakref.ref(p.value), _UNSET
        return value

    def __repr__(self) -> str:
        return f"Pending({self.primitive.name}, {self.shape}, {self.dtype})"


def is_pending(value) -> bool:
    """Whether ``value`` is a Pending value not at hand."""
    return type(value) is Pending and value.known() is _UNSET


def concrete(values) -> list:
    """``values`` with every Pending one computed."""
    return [v.force() if type(v) is Pending else v for v in values]


def recomputable(primitive) -> bool:
    """Whether ``primitive`` computes the same value again from the same operands: tracediff's
    own primitives but draws and guards (a user's td.primitive may keep state)."""
    from .primitives.core import REGISTRY

    return (REGISTRY.get(primitive.name) is primitive and not primitive.effectful
            and not primitive.checks and not primitive.alias)


def evaluate(primitive, operands: list, params: dict, at: int = 0):
    """The result of ``primitive`` on ``operands`` as a Pending value, or None when it is to be
    computed: for the reasons in the module's docstring, or because it is small (fewer than
    ``at`` elements, from operands at hand), where computing costs less than working it out."""
    for o in operands:  # (the common case first: small values at hand, computed)
        if type(o) is Pending or type(o) is np.ndarray and o.size >= at:
            break
    else:
        return None
    if (not recomputable(primitive) or not primitive.differentiable
            or primitive.is_view and not is_pending(operands[0])):
        return None
    if not all(isinstance(o, _KNOWN_OPERANDS) for o in operands):
        return None  # (a Dask or CuPy array: its library computes it, lazily for Dask)
    waiting = any(is_pending(o) for o in operands)
    if primitive.elementwise:
        shape = np.broadcast_shapes(*(_shape(o) for o in operands))
        if not waiting and math.prod(shape) < at:
            return None
    elif not waiting and all(math.prod(_shape(o)) < at for o in operands):
        return None
    try:
        with np.errstate(all="ignore"):
            if primitive.elementwise:
                sample = primitive.impl(*[_sample(o) for o in operands], **params)
            elif primitive.shape_rule is not None:
                typed = primitive.shape_rule(*operands, **params)
                if typed is None:
                    return None
                shape, sample = typed[0], np.ones((), typed[1])
            else:
                if any(is_pending(o) and o.dtype.kind not in "fc" for o in operands):
                    return None
                out = primitive.impl(*[_stand_in(o) for o in operands], **params)
                if not isinstance(out, (np.ndarray, np.generic, float, complex)):
                    return None
                shape, sample = np.shape(out), _one_like(out)
    except Exception:  # (a stand-in outside the primitive's domain: computed for real instead)
        return None
    dtype = np.result_type(sample)
    if dtype.kind not in "fc":
        return None
    pending = Pending(shape, dtype, sample, primitive, list(operands), params)
    if CHECK_SHAPES:
        pending.force()
    return pending


_KNOWN_OPERANDS = (Pending, np.ndarray, np.generic, int, float, complex)  # (bool is an int)


def _shape(value) -> tuple:
    return value.shape if isinstance(value, (Pending, np.ndarray, np.generic)) else ()


def _sample(value):
    """A one-element operand of ``value``'s type: Python scalars as they are (NumPy treats
    them as weak), NumPy values as 0-d arrays of their dtype."""
    if type(value) is Pending:
        return value.sample
    if isinstance(value, np.ndarray):
        return np.ones((), value.dtype)
    return value


def _stand_in(value):
    """``value`` itself, or for a pending one, an array of its shape holding one value."""
    if type(value) is not Pending:
        return value
    known = value.known()
    if known is not _UNSET:
        return known
    if isinstance(value.sample, (float, complex)) and not value.shape:
        return value.sample
    return np.broadcast_to(np.asarray(value.sample, value.dtype), value.shape)


def _one_like(out):
    if isinstance(out, (float, complex)):
        return type(out)(1)
    return np.ones((), np.result_type(out)) if isinstance(out, np.ndarray) else np.result_type(out).type(1)


def _check(pending: Pending, value) -> None:
    if np.shape(value) != pending.shape or np.result_type(value) != pending.dtype:
        raise AssertionError(
            f"internal error: {pending.primitive.name} gave a {np.result_type(value)} value of shape "
            f"{np.shape(value)} where {pending.dtype} of shape {pending.shape} was worked out from its "
            "operands' shapes; please report this with the function (switching the optimization "
            "'shape_only_backward' off works around it)"
        )
