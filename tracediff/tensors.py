"""PyTorch-style tensors: values that record the NumPy calls made on them, as they are made.

``td.tensor(1.0, requires_grad=True)`` is a :class:`Tensor`: it wraps a NumPy array and behaves
like one under operators, indexing and NumPy functions (``np.exp(t)``, ``np.sum(t, axis=0)``,
``t @ w``, ``t.mean()``, ``t.reshape(2, 2)``, ``t.T``), each giving a Tensor whose value is
computed at once by NumPy. When an operand requires grad (and grad mode is on: not inside
``td.no_grad()``), the call is also recorded as a node of a graph: the NumPy callable, its
arguments with tensors replaced by placeholders, and where those came from (the node that
computed them, a leaf that requires grad, or a constant). No tracing happens while the forward
runs; ``backward()`` (tensor_backward.py) turns the recorded graph into a replay function, and
tracediff generates and caches its gradient once per graph structure.

Versions: every in-place change (``t += 1``, ``t[i] = v``, ``t.zero_()``) bumps a counter shared
with the tensor's views (``t.data`` is a new tensor, as in PyTorch, so changes through it are not
counted). A node remembers the versions of the leaves and constants it used; backward refuses a
graph whose inputs changed since it was recorded.
"""
from __future__ import annotations

import contextlib
import itertools
import operator
import sys
import weakref

import numpy as np

from .errors import MixedTraceError, TracediffError
from .tracing import Tracer, _state, current_trace, install_operators


class TensorError(TracediffError, RuntimeError):
    """A misuse of td.Tensor's autograd (PyTorch raises RuntimeError for these too)."""


_P = type("_Placeholder", (), {"__repr__": lambda self: "<tensor>"})()  # a parent's place in args

# Kinds of parents a node records: an earlier node's output, a leaf that requires grad, a
# constant tensor (its version is checked at backward), a plain array, a Python float/complex.
NODE, LEAF, CONST_TENSOR, ARRAY, SCALAR = range(5)


def is_grad_enabled() -> bool:
    """Whether operations on tensors that require grad are recorded (off inside td.no_grad())."""
    return _state.no_grad_depth == 0


@contextlib.contextmanager
def enable_grad():
    """Turn recording back on inside a ``td.no_grad()`` block (as ``torch.enable_grad``).

    >>> import tracediff as td
    >>> x = td.tensor(1.0, requires_grad=True)
    >>> with td.no_grad():
    ...     with td.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """
    saved, _state.no_grad_depth = _state.no_grad_depth, 0
    try:
        yield
    finally:
        _state.no_grad_depth = saved


# ---------------------------------------------------------------------------------------------
# Nodes (grad_fn)


class Node:
    """One recorded call: what ``t.grad_fn`` is. ``name()`` is PyTorch's name for it
    (``MulBackward0``); ``next_functions`` walks the graph towards the leaves."""

    __slots__ = ("fn", "args", "kwargs", "parents", "n_out", "freed", "retained", "_name", "unpack",
                 "where", "seq", "__weakref__")

    def __init__(self, fn, args, kwargs, parents, n_out=1, name=None):
        self.fn = fn
        self.args = args  # the arguments, tensors and arrays replaced by _P
        self.kwargs = kwargs  # likewise, or None
        self.parents = parents  # (kind, object, version) per _P, in order of appearance
        self.n_out = n_out
        self.freed = False  # set by a backward without retain_graph
        self.retained = None  # {output index: weakref to the tensor whose grad is retained}
        self._name = name
        self.unpack = False  # the call returns a tuple of n_out results
        self.where = _caller()  # (code, line) of the user's call: comments of the generated code
        self.seq = next(_sequence)  # nodes are made in a topological order: this is it

    def name(self) -> str:
        if self._name is None:
            self._name = backward_name(self)
        return self._name

    @property
    def next_functions(self) -> tuple:
        """``(node, output index)`` per tensor operand; a leaf that requires grad appears as
        ``AccumulateGrad``, a constant as ``(None, 0)`` (Python numbers are left out)."""
        out = []
        for kind, obj, _ in self.parents:
            if kind == NODE:
                out.append(obj if type(obj) is tuple else (obj, 0))
            elif kind == LEAF:
                out.append((AccumulateGrad(obj), 0))
            elif kind != SCALAR:
                out.append((None, 0))
        return tuple(out)

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"


class AccumulateGrad:
    """Where a leaf's gradient goes: ``.variable`` is the leaf (as in PyTorch)."""

    __slots__ = ("variable",)
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __eq__(self, other):
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


_HERE = __file__
_sequence = itertools.count()


def _caller():
    """(code object, line number) of the innermost frame outside this module: cheap enough for
    every recorded call; turned into a source line only when a backward is generated."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == _HERE:
        frame = frame.f_back
    return None if frame is None else (frame.f_code, frame.f_lineno)


def _setitem(a, index, value):
    """``a`` with ``a[index] = value``, as a new value (what ``t[index] = v`` recorded does)."""
    a = a.copy()
    a[index] = value
    return a


def _astype(a, dtype):
    return a.astype(dtype)


_NAMES = {
    np.add: "AddBackward0", np.subtract: "SubBackward0", np.multiply: "MulBackward0",
    np.true_divide: "DivBackward0", np.negative: "NegBackward0", np.exp: "ExpBackward0",
    np.log: "LogBackward0", np.log1p: "Log1PBackward0", np.expm1: "Expm1Backward0",
    np.sqrt: "SqrtBackward0", np.square: "PowBackward0", np.absolute: "AbsBackward0",
    np.sin: "SinBackward0", np.cos: "CosBackward0", np.tan: "TanBackward0", np.tanh: "TanhBackward0",
    np.maximum: "MaximumBackward0", np.minimum: "MinimumBackward0", np.reshape: "ViewBackward0",
    np.ravel: "ViewBackward0", np.where: "WhereBackward0", np.clip: "ClampBackward1",
    np.concatenate: "CatBackward0", np.stack: "StackBackward0", np.squeeze: "SqueezeBackward0",
    np.expand_dims: "UnsqueezeBackward0", np.broadcast_to: "ExpandBackward0", np.copy: "CloneBackward0",
    np.dot: "DotBackward0", np.outer: "OuterBackward0", np.reciprocal: "ReciprocalBackward0",
    np.sign: "SignBackward0", np.arctan: "AtanBackward0", np.arcsin: "AsinBackward0",
    np.arccos: "AcosBackward0", np.sinh: "SinhBackward0", np.cosh: "CoshBackward0",
    np.logaddexp: "LogaddexpBackward0", np.var: "VarBackward0", np.std: "StdBackward0",
    np.prod: "ProdBackward0", np.cumsum: "CumsumBackward0", np.max: "MaxBackward1",
    np.min: "MinBackward1", np.amax: "MaxBackward1", np.amin: "MinBackward1",
    np.floor_divide: "FloorDivideBackward0", np.remainder: "RemainderBackward0",
    _setitem: "CopySlices", _astype: "ToCopyBackward0",
}


def backward_name(node: Node) -> str:
    """PyTorch's name for the backward of ``node``'s call (``PowBackward0``, ``MmBackward0``)."""
    fn, args = node.fn, node.args
    if fn is np.power:  # x ** 2: 0; x ** y (y a tensor): 1; 2 ** x: 2 (as PyTorch's overloads)
        base, exponent = args[0] is _P, args[1] is _P
        kinds = [kind for kind, _, _ in node.parents]
        tensor_exponent = exponent and kinds[-1] not in (SCALAR,)
        tensor_base = base and kinds[0] not in (SCALAR,)
        return "PowBackward1" if tensor_base and tensor_exponent else "PowBackward2" if tensor_exponent else "PowBackward0"
    if fn in (np.sum, np.mean):  # over everything: 0; along an axis: 1
        axis = node.kwargs.get("axis") if node.kwargs else (args[1] if len(args) > 1 else None)
        return f"{'Sum' if fn is np.sum else 'Mean'}Backward{0 if axis is None else 1}"
    if fn is np.transpose:
        return "TBackward0" if len(args) < 2 or args[1] is None else "PermuteBackward0"
    if fn is operator.getitem:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        if any(i is _P or isinstance(i, list) for i in index):
            return "IndexBackward0"
        if all(isinstance(i, int) for i in index):
            return "SelectBackward0"
        return "SliceBackward0"
    known = _NAMES.get(fn)
    if known is not None:
        return known
    name = getattr(fn, "__name__", type(fn).__name__)
    return "".join(part.capitalize() for part in name.split("_")) + "Backward0"


def _matmul_name(a, b) -> str:
    return {(2, 2): "MmBackward0", (2, 1): "MvBackward0", (1, 1): "DotBackward0"}.get(
        (a.ndim, b.ndim) if type(a) is type(b) is np.ndarray else (np.ndim(a), np.ndim(b)), "MatmulBackward0")


# ---------------------------------------------------------------------------------------------
# Recording


def _mixed(what) -> MixedTraceError:
    return MixedTraceError(
        f"{what}: a td.Tensor met a value traced by td.grad (or td.vjp, td.jacobian ...). Tensors "
        "record their own graph and are differentiated with t.backward() or td.autograd.grad; a "
        "function given to td.grad takes NumPy arrays. Pass t.detach().numpy() into the traced "
        "function, or compute with tensors only."
    )


class _Args:
    """Walks a call's arguments: the NumPy values for computing now, and (for the record) the
    arguments with placeholders and the parents they stand for."""

    __slots__ = ("parents", "grad")

    def __init__(self):
        self.parents = []
        self.grad = False

    def take(self, a):
        """(value for NumPy, value for the record) of one argument (recursing into lists/tuples)."""
        if isinstance(a, Tensor):
            self.grad = self.grad or a._rg
            self.parents.append(a._as_parent())
            return a._a, _P
        if isinstance(a, np.ndarray) or isinstance(a, np.generic):
            self.parents.append((ARRAY, np.asarray(a), None))
            return a, _P
        if type(a) is float or type(a) is complex:
            self.parents.append((SCALAR, a, None))
            return a, _P
        if type(a) in (list, tuple):
            values, record = self.take_each(a)
            return type(a)(values), type(a)(record)
        if isinstance(a, Tracer):
            raise _mixed("an operation")
        return a, a

    def take_each(self, items):
        """([values], [records]) of a call's arguments: ``take`` of each, with the common
        arguments (ints, None, strings, bools) passed over without a call."""
        values, record = [], []
        for a in items:
            if a is None or type(a) in _PLAIN:
                values.append(a)
                record.append(a)
            else:
                v, r = self.take(a)
                values.append(v)
                record.append(r)
        return values, record


_PLAIN = frozenset((int, bool, str, slice, type(Ellipsis)))


def _wrap(value, requires_grad=False, node=None, out=0, vc=None) -> "Tensor":
    t = object.__new__(Tensor)
    t._a = value if type(value) is np.ndarray else np.asarray(value)
    t._rg = requires_grad
    t._grad = None
    t._node = node
    t._out = out
    t._vc = [0] if vc is None else vc
    t._node_version = t._vc[0]
    t._base = None
    t._retains = False
    return t


def _differentiable(value) -> bool:
    return getattr(value, "dtype", None) is not None and value.dtype.kind in "fc"


def _finish(fn, result, walker: _Args, record_args, record_kwargs, name=None, view_of=None):
    """Tensors of ``result`` (an array, or a tuple/list of them), recorded as ``fn``'s output
    when an operand requires grad and grad mode is on."""
    if isinstance(result, (tuple, list)) and result and all(isinstance(r, (np.ndarray, np.generic)) for r in result):
        outs = list(result)
    elif isinstance(result, (np.ndarray, np.generic)):
        outs = None
    else:
        return result  # np.shape(t), np.ndim(t), a Python bool ...
    record = walker.grad and _state.no_grad_depth == 0
    if outs is None:
        vc = view_of._vc if view_of is not None and _shares(result, view_of._a) else None
        if not (record and _differentiable(result)):
            return _wrap(result, vc=vc)
        node = Node(fn, record_args, record_kwargs, walker.parents, 1, name)
        t = _wrap(result, True, node, 0, vc)
        if vc is not None and (view_of._base is not None or view_of._node is None):
            t._base = view_of._base or view_of  # a view of a leaf: no in-place change through it
        return t
    make = getattr(type(result), "_make", type(result))  # (a named tuple: np.linalg.eigh's)
    if not (record and any(_differentiable(r) for r in outs)):
        return make([_wrap(r) for r in outs])
    node = Node(fn, record_args, record_kwargs, walker.parents, len(outs), name)
    node.unpack = True
    return make([_wrap(r, _differentiable(r), (node, i) if _differentiable(r) else None, i)
                 for i, r in enumerate(outs)])


def _shares(result, array) -> bool:
    return type(result) is np.ndarray and result.base is not None and np.may_share_memory(result, array)


_VIEWS = {np.reshape, np.transpose, np.ravel, np.squeeze, np.expand_dims, np.swapaxes, np.diagonal,
          np.moveaxis, np.broadcast_to, np.atleast_1d, np.atleast_2d}


def call(fn, args, kwargs=None, name=None):
    """``fn(*args, **kwargs)`` on tensors' values, recorded (the path of every Tensor operation
    but the fast one for ufuncs). Also records calls of functions that are not NumPy's own,
    such as the compiled gradient of a backward with ``create_graph=True``."""
    walker = _Args()
    values, record_args = walker.take_each(args)
    record_args = tuple(record_args)
    if kwargs:
        kw_values, kw_record = walker.take_each(kwargs.values())
        kw_values, kw_record = dict(zip(kwargs, kw_values)), dict(zip(kwargs, kw_record))
    else:
        kw_values, kw_record = {}, None
    if walker.grad and _state.no_grad_depth == 0:
        _check_differentiable_call(fn)
    result = fn(*values, **kw_values)
    view_of = args[0] if fn in _VIEWS and args and isinstance(args[0], Tensor) else None
    return _finish(fn, result, walker, record_args, kw_record, name, view_of)


_KNOWN_CALLS: set = set()


def _check_differentiable_call(fn) -> None:
    try:
        if fn in _KNOWN_CALLS:
            return
    except TypeError:  # (an unhashable callable)
        pass
    from .primitives.core import FUNCTIONS, UFUNCS

    if isinstance(fn, np.ufunc):
        known = fn in UFUNCS
    elif getattr(fn, "__module__", "") and str(getattr(fn, "__module__", "")).startswith("numpy"):
        known = fn in FUNCTIONS
    else:
        known = True  # the user's own callables (and ours): traced when backward replays them
    if not known:
        name = getattr(fn, "__name__", repr(fn))
        raise TensorError(
            f"np.{name} has no gradient rule in tracediff, so it cannot be recorded on a tensor "
            f"that requires grad. Write it with supported NumPy functions, or compute it on "
            f"t.detach() if it needs no gradient."
        )
    try:
        _KNOWN_CALLS.add(fn)
    except TypeError:
        pass


# ---------------------------------------------------------------------------------------------
# The tensor


def tensor(data, requires_grad: bool = False, dtype=None) -> "Tensor":
    """A new leaf tensor holding a COPY of ``data`` (as ``torch.tensor``): the caller's array is
    never changed by what is done to the tensor. Floats are float64, NumPy's default.

    >>> import tracediff as td
    >>> x = td.tensor(1.0, requires_grad=True)
    >>> y = x ** 2
    >>> z = y + 1
    >>> z.backward()
    >>> x.grad
    tensor(2.)
    >>> y.grad_fn, z.grad_fn
    (<PowBackward0 ...>, <AddBackward0 ...>)
    """
    if isinstance(data, Tensor):
        data = data._a
    t = _wrap(np.array(data, dtype=dtype, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


class Tensor:
    """A NumPy array that records the calls made on it (see the module docstring).

    ``Tensor(data, requires_grad=False)`` is :func:`tensor`. Values are computed at once;
    ``backward()`` differentiates the recorded graph with generated NumPy code (cached by
    the graph's structure).
    """

    __slots__ = ("_a", "_rg", "_grad", "_node", "_out", "_vc", "_node_version", "_base", "_retains",
                 "__weakref__")
    __array_priority__ = 2000  # ndarray (op) tensor gives the tensor's turn
    _is_td_tensor = True

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        t = tensor(data, requires_grad, dtype)
        for name in ("_a", "_rg", "_grad", "_node", "_out", "_vc", "_node_version", "_base", "_retains"):
            setattr(self, name, getattr(t, name))

    # --- NumPy protocols --------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return _ufunc_general(ufunc, method, inputs, kwargs)
        return _apply_ufunc(ufunc, inputs)

    def __array_function__(self, func, types, args, kwargs):
        return call(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        if current_trace() is not None:
            raise _mixed("np.asarray of a tensor")
        if dtype is not None and np.dtype(dtype) != self._a.dtype:
            return self._a.astype(dtype)
        return self._a.copy() if copy else self._a

    # --- values -----------------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """The value as a tensor sharing memory, outside the graph: changes through it are not
        recorded nor counted as in-place changes (``x.data *= 100``)."""
        return _wrap(self._a)

    @data.setter
    def data(self, value):
        self._a = value._a if isinstance(value, Tensor) else np.asarray(value)

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array sharing memory (PyTorch asks for ``t.detach().numpy()``
        when t requires grad; tracediff allows both)."""
        return self._a

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    T = property(lambda self: call(np.transpose, (self,)))
    real = property(lambda self: call(np.real, (self,)))
    imag = property(lambda self: call(np.imag, (self,)))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return operator.index(self._a.item() if self._a.ndim == 0 else self._a)

    def __complex__(self):
        return complex(self._a)

    def __format__(self, spec):
        return format(self._a.item(), spec) if spec and self._a.size == 1 else format(str(self), spec)

    def __repr__(self):
        body = np.array2string(self._a, separator=", ", prefix="tensor(")
        extra = ""
        if self._node is not None:
            node = self._node[0] if type(self._node) is tuple else self._node
            extra = f", grad_fn=<{node.name()}>"
        elif self._rg:
            extra = ", requires_grad=True"
        if self._a.dtype not in (np.float64, np.int64, np.bool_, np.complex128):
            extra = f", dtype={self._a.dtype}" + extra
        return f"tensor({body}{extra})"

    __str__ = __repr__
    __hash__ = object.__hash__  # by identity, as torch.Tensor (== is elementwise)

    # --- autograd attributes ----------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Mark a leaf as requiring grad (or not), in place; returns the tensor."""
        if self._node is not None:
            if requires_grad:
                return self
            raise TensorError(
                "requires_grad can only be changed on leaf tensors; this tensor was computed from "
                "tensors that require grad. Use t.detach() for a copy outside the graph.")
        if requires_grad and not _differentiable(self._a):
            raise TensorError(
                f"only tensors of floating-point (or complex) dtype can require gradients, this one "
                f"is {self._a.dtype}; make it float: td.tensor(data, dtype=float)")
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """Inputs, and every tensor that does not require grad, are leaves; recorded results are not."""
        return self._node is None

    @property
    def grad_fn(self):
        """The node that computed this tensor (``None`` for a leaf)."""
        node = self._node
        return node[0] if type(node) is tuple else node

    @property
    def grad(self):
        """The gradient accumulated by backward (a Tensor), or None; assign None to reset it."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None and not isinstance(value, Tensor):
            value = _wrap(np.array(value, dtype=self._a.dtype))
        if value is not None and value.shape != self.shape:
            raise ValueError(f"assigned grad has shape {value.shape}, the tensor has shape {self.shape}")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._retains

    @property
    def _version(self) -> int:
        return self._vc[0]

    def retain_grad(self) -> None:
        """Keep this intermediate's gradient in ``.grad`` at the next backward (leaves always
        get theirs)."""
        if not self._rg:
            raise TensorError("retain_grad() on a tensor that does not require grad: it has no gradient")
        if self._node is None:
            return
        node, out = (self._node if type(self._node) is tuple else (self._node, 0))
        if node.retained is None:
            node.retained = {}
        node.retained[out] = weakref.ref(self)
        self._retains = True

    def detach(self) -> "Tensor":
        """A new leaf sharing this value (and its version counter), outside the graph."""
        return _wrap(self._a, vc=self._vc)

    def detach_(self) -> "Tensor":
        self._node, self._rg = None, False
        return self

    def clone(self) -> "Tensor":
        return call(np.copy, (self,))

    def copy(self) -> "Tensor":
        return call(np.copy, (self,))

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of the leaves it was computed
        from (and of intermediates that called ``retain_grad()``).

        A scalar needs no ``gradient``; otherwise ``gradient`` (the output's shape) gives the
        vector-Jacobian product. The gradient is computed by generated NumPy code, made once
        per graph structure and cached (``td.autograd.cache_info()``). That code runs the
        recorded forward again from the leaves' current values and then its backward (no
        intermediate values are kept between forward and backward); ``t.backward_source()``
        shows it. Without ``retain_graph=True`` the graph cannot be differentiated again;
        ``create_graph=True`` records the gradients as tensors with a graph of their own.

        >>> import numpy as np, tracediff as td
        >>> x = td.tensor(np.ones((2, 2)), requires_grad=True)
        >>> out = (3 * (x + 2) ** 2).mean()
        >>> out.backward()
        >>> x.grad
        tensor([[4.5, 4.5],
                [4.5, 4.5]])
        """
        from .tensor_backward import backward

        backward([self], [gradient], retain_graph, create_graph, inputs)

    def backward_source(self, gradient=None, inputs=None) -> str:
        """The generated NumPy source that ``backward(gradient)`` runs for this graph.

        >>> import tracediff as td
        >>> x = td.tensor(3.0, requires_grad=True)
        >>> y = x * x
        >>> print(y.backward_source())  # doctest: +ELLIPSIS
        # Generated by tracediff: grad of y
        ...
        def grad_y(x):
        ...
        """
        from .tensor_backward import backward_source

        return backward_source([self], [gradient], inputs)

    # --- in-place changes -------------------------------------------------------------------
    def _as_parent(self):
        """(kind, object, version) of this tensor as an operand of a recorded call."""
        node = self._node
        if node is not None:
            if self._vc[0] != self._node_version:
                raise TensorError(
                    "a tensor computed in the graph was changed in place through another tensor "
                    "sharing its memory (a view such as t[0], t.T, t.reshape(...), or its base) "
                    "after it was computed, so its recorded history no longer gives its value. "
                    "Compute it again after the change, or change a copy (t.clone()).")
            return NODE, node, None
        return (LEAF if self._rg else CONST_TENSOR), self, self._vc[0]

    def _check_in_place(self, what: str, recording: bool) -> None:
        if not recording:
            return
        leaf = self if self._node is None and self._rg else self._base
        if leaf is not None:
            which = "a leaf tensor" if leaf is self else "a view of a leaf tensor"
            raise TensorError(
                f"{what} on {which} that requires grad: the change would not be part of any "
                "graph. Do it inside `with td.no_grad():` (as an optimizer step does), change "
                "x.data, or compute a new tensor (y = x + 1).")

    def _bump(self):
        self._vc[0] += 1
        self._node_version = self._vc[0]

    def _become(self, fn, args, result):
        """Record the in-place change ``self <- fn(*args)`` (``result``, computed)."""
        walker = _Args()
        record = []
        for a in args:
            if a is self and self._node is None:  # a constant whose old value the replay needs
                walker.parents.append((ARRAY, self._a.copy(), None))
                record.append(_P)
            else:
                record.append(walker.take(a)[1])
        node = Node(fn, tuple(record), None, walker.parents)
        if result.dtype != self._a.dtype:
            node = Node(_astype, (_P, self._a.dtype), None, [(NODE, node, None)])
        np.copyto(self._a, result, casting="same_kind")
        self._node, self._out, self._rg = node, 0, True
        self._bump()

    def _in_place(self, ufunc, other):
        grad = self._rg or (isinstance(other, Tensor) and other._rg)
        recording = grad and _state.no_grad_depth == 0 and _differentiable(self._a)
        self._check_in_place(f"an in-place {ufunc.__name__} ({_IN_PLACE_SPELLING.get(ufunc, ufunc.__name__)})",
                             recording)
        if isinstance(other, Tracer):
            raise _mixed(f"in-place np.{ufunc.__name__}")
        value = other._a if isinstance(other, Tensor) else other
        if not recording:
            ufunc(self._a, value, out=self._a)
            self._bump()
            return self
        if self._node is not None:
            self._as_parent()  # (refuses a value changed behind the graph's back)
        result = ufunc(self._a, value)
        if np.shape(result) != self.shape:
            raise ValueError(f"in-place {ufunc.__name__}: the result has shape {np.shape(result)}, "
                             f"which does not fit the tensor's shape {self.shape}")
        self._become(ufunc, (self, other), np.asarray(result))
        return self

    def __setitem__(self, index, value):
        walker = _Args()
        index_values, index_record = walker.take(index)
        grad = self._rg or walker.grad or (isinstance(value, Tensor) and value._rg)
        recording = grad and _state.no_grad_depth == 0 and _differentiable(self._a)
        self._check_in_place("an indexed assignment (t[i] = v)", recording)
        v = value._a if isinstance(value, Tensor) else value
        if isinstance(value, Tracer):
            raise _mixed("an indexed assignment")
        if not recording:
            self._a[index_values] = v
            self._bump()
            return
        if self._node is not None:
            self._as_parent()
        new = self._a.copy()
        new[index_values] = v
        walker = _Args()
        if self._node is None:
            walker.parents.append((ARRAY, self._a.copy(), None))
        else:
            walker.take(self)
        _, index_record = walker.take(index)
        value_record = walker.take(value)[1]
        node = Node(_setitem, (_P, index_record, value_record), None, walker.parents)
        self._a[index_values] = v
        self._node, self._out, self._rg = node, 0, True
        self._bump()

    def zero_(self) -> "Tensor":
        """Set every element to 0, in place (``x.grad.zero_()``)."""
        self._check_in_place("zero_()", self._rg and _state.no_grad_depth == 0)
        self._a[...] = 0
        self._bump()
        return self

    def fill_(self, value) -> "Tensor":
        self._check_in_place("fill_()", self._rg and _state.no_grad_depth == 0)
        self._a[...] = value
        self._bump()
        return self

    def __getitem__(self, index):
        walker = _Args()
        index_values, index_record = walker.take(index)
        parent = self._as_parent()
        walker.parents.insert(0, parent)
        walker.grad = walker.grad or self._rg
        result = self._a[index_values]
        return _finish(operator.getitem, result, walker, (_P, index_record), None, view_of=self)

    # --- methods spelled as NumPy functions -----------------------------------------------
    def reshape(self, *shape, **kwargs):
        return call(np.reshape, (self, shape[0] if len(shape) == 1 else shape), kwargs)

    def view(self, *shape):
        return self.reshape(*shape)

    def transpose(self, *axes):
        return call(np.transpose, (self, axes[0] if len(axes) == 1 else (axes or None)))

    def astype(self, dtype):
        return call(_astype, (self, np.dtype(dtype)))


_RECORDABLE_UFUNCS: set = set()
_IN_PLACE_SPELLING = {np.add: "+=", np.subtract: "-=", np.multiply: "*=", np.true_divide: "/=",
                      np.power: "**=", np.matmul: "@=", np.floor_divide: "//=", np.remainder: "%="}


def _apply_ufunc(ufunc, inputs):
    """``ufunc(*inputs)`` with no keywords, recorded: the path of Python's operators and of
    most NumPy calls on tensors, so it walks the operands once."""
    values, parents, template, grad = [], [], [], False
    for a in inputs:
        if isinstance(a, Tensor):
            values.append(a._a)
            if a._rg:
                grad = True
            parents.append(a)
            template.append(_P)
        elif type(a) is float or type(a) is complex:
            values.append(a)
            parents.append((SCALAR, a, None))
            template.append(_P)
        elif isinstance(a, (np.ndarray, np.generic)):
            values.append(a)
            parents.append((ARRAY, np.asarray(a), None))
            template.append(_P)
        elif isinstance(a, Tracer):
            raise _mixed(f"np.{ufunc.__name__}")
        elif type(a) in (list, tuple):  # [1.0, 2.0] * t: NumPy makes the list an array, so do we
            return _apply_ufunc(ufunc, [_list_operand(b) for b in inputs])
        else:
            values.append(a)
            template.append(a)
    if ufunc.nout != 1:  # (np.modf, np.frexp, divmod: the general path records tuples)
        return call(ufunc, inputs)
    result = ufunc(*values)
    if not grad or _state.no_grad_depth or not _differentiable(result):
        return _wrap(result)
    if ufunc not in _RECORDABLE_UFUNCS:
        _check_differentiable_call(ufunc)
        _RECORDABLE_UFUNCS.add(ufunc)
    parents = [p._as_parent() if type(p) is Tensor else p for p in parents]
    name = _matmul_name(values[0], values[1]) if ufunc is np.matmul else None
    return _wrap(result, True, Node(ufunc, tuple(template), None, parents, 1, name))


def _list_operand(a):
    """A list given to a ufunc as the array NumPy would make of it: stacked with its tensors
    in the graph (np.stack is recorded), a constant array when it holds none."""
    if type(a) not in (list, tuple):
        return a
    items = [_list_operand(b) for b in a]
    if any(isinstance(b, Tensor) for b in items):
        return call(np.stack, (items,))
    return np.asarray(a)


def _operator(ufunc, reflected=False):
    """``t + x`` (``x + t``) without NumPy's search for an override: the tensor's is the one."""
    if reflected:
        return lambda self, other: _apply_ufunc(ufunc, (other, self))
    return lambda self, other: _apply_ufunc(ufunc, (self, other))


def _ufunc_general(ufunc, method, inputs, kwargs):
    """``np.add.reduce``, ``out=`` and other keywords: computed on the values; recorded only
    when nothing requires grad (they have no place in a graph)."""
    out = kwargs.get("out")
    walker = _Args()
    values = walker.take(tuple(inputs))[0]
    kw_values = dict(kwargs)
    if out is not None:
        kw_values["out"] = walker.take(tuple(out))[0]
    if walker.grad and _state.no_grad_depth == 0:
        spelled = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        raise TensorError(
            f"{spelled} with {sorted(kwargs) or 'this method'} cannot be recorded on tensors that "
            "require grad; write the result as a new value with the plain function (np.sum "
            "instead of np.add.reduce, y = np.add(a, b) instead of out=)")
    result = getattr(ufunc, method)(*values, **kw_values)
    if out is not None:
        for t in out:
            if isinstance(t, Tensor):
                t._bump()
        return out[0] if len(out) == 1 else out
    return _finish(ufunc, result, walker, None, None)


def _in_place_operator(ufunc):
    return lambda self, other: self._in_place(ufunc, other)


install_operators(Tensor, _in_place_operator, _operator)


def _method(numpy_function):
    def method(self, *args, **kwargs):
        return call(numpy_function, (self, *args), kwargs)

    method.__name__ = numpy_function.__name__
    method.__doc__ = f"``np.{numpy_function.__name__}(t, ...)``, recorded."
    return method


for _f in (np.sum, np.mean, np.max, np.min, np.prod, np.var, np.std, np.dot, np.ravel, np.squeeze,
           np.clip, np.cumsum, np.cumprod, np.argmax, np.argmin, np.any, np.all, np.round, np.swapaxes,
           np.trace, np.diagonal, np.repeat, np.nonzero, np.argsort, np.conj, np.take):
    setattr(Tensor, _f.__name__, _method(_f))
Tensor.flatten = lambda self: call(np.copy, (call(np.ravel, (self,)),))
