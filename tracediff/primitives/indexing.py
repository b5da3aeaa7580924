"""Indexing: ``x[index]``, its scatter-add cotangent, and functional ``x[index] = v``.

An index is kept as a static template (ints, slices, None, ...) in which every index array is a
placeholder for an operand, so traced index arrays flow through the graph like any value.
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

import numpy as np

from ..tracing import Tracer, unlink_view
from .core import Primitive, call, defvjp, np_attr, py_literal


@dataclass(frozen=True)
class IndexOperand:
    """Placeholder in an index template for the operand at position ``position``."""

    position: int

    def __repr__(self) -> str:
        return f"<operand {self.position}>"


def split_index(index, first_position: int):
    """(template, operands): index arrays become operands; everything else stays static."""
    items = index if isinstance(index, tuple) else (index,)
    template, operands = [], []
    for item in items:
        if isinstance(item, (list, np.ndarray, Tracer)):
            if isinstance(item, list):
                item = np.asarray(item)
            if item.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, got {item.dtype}")
            template.append(IndexOperand(first_position + len(operands)))
            operands.append(item)
        elif isinstance(item, slice):
            template.append(slice(*(None if v is None else operator.index(v)
                                    for v in (item.start, item.stop, item.step))))
        elif item is None or item is Ellipsis:
            template.append(item)
        else:
            template.append(operator.index(item))
    return tuple(template), operands


def build_index(template, operands):
    """The NumPy index a template stands for, given its operands' values."""
    items = tuple(operands[t.position - _first(template)] if isinstance(t, IndexOperand) else t
                  for t in template)
    return items[0] if len(items) == 1 else items


def _first(template) -> int:
    return min((t.position for t in template if isinstance(t, IndexOperand)), default=0)


def _index_ast(template, args):
    items = [args[t.position] if isinstance(t, IndexOperand) else py_literal(t) for t in template]
    return items[0] if len(items) == 1 else ast.Tuple(elts=items, ctx=ast.Load())


def _index_value_ast(template, args):
    """The index as an ordinary value (an argument of np.add.at), where ``1:`` is not valid syntax."""
    items = [call(ast.Name(id="slice"), [py_literal(v) for v in (t.start, t.stop, t.step)])
             if isinstance(t, slice) else t for t in template]
    return _index_ast(items, args)


def _subscript(value, template, args):
    return ast.Subscript(value=value, slice=_index_ast(template, args), ctx=ast.Load())


def _has_advanced(template) -> bool:
    return any(isinstance(t, IndexOperand) for t in template)


# --- x[index] -----------------------------------------------------------------------------
getitem_p = Primitive(
    "getitem",
    lambda x, *operands, index: x[build_index(index, operands)],
    lambda args, index: _subscript(args[0], index, args),
)
getitem_p.is_view = True  # may be: basic indexing is, advanced indexing is not


def _getitem_vjp(g, ans, x, *operands, index):
    return scatter_add_p.bind(g, *operands, index=index, shape=x.shape, dtype=x.dtype)


defvjp(getitem_p, _getitem_vjp)


# --- zeros with g added at index (the cotangent of x[index]) ----------------------------
def _scatter_add(g, *operands, index, shape, dtype):
    out = np.zeros(shape, dtype)
    np.add.at(out, build_index(index, operands), g)
    return out


def _emit_scatter_add(target, args, index, shape, dtype):
    zeros = call(np_attr("zeros"), [py_literal(shape)], {"dtype": dtype})
    stmts = [ast.Assign(targets=[target], value=zeros)]
    if _has_advanced(index):
        # Repeated integer indices must add up, which only np.add.at does.
        stmts.append(ast.Expr(call(np_attr("add.at"), [target, _index_value_ast(index, args), args[0]])))
    else:
        store = ast.Subscript(value=target, slice=_index_ast(index, args), ctx=ast.Store())
        stmts.append(ast.Assign(targets=[store], value=args[0]))
    return stmts


scatter_add_p = Primitive("scatter_add", _scatter_add, emit_statements=_emit_scatter_add)
defvjp(scatter_add_p, lambda g, ans, gx, *operands, index, shape, dtype: getitem_p.bind(g, *operands, index=index))


# --- functional x[index] = v ---------------------------------------------------------------
def _setitem_impl(x, v, *operands, index):
    out = x.copy()
    out[build_index(index, operands)] = v
    return out


def _emit_setitem(target, args, index):
    copy = call(ast.Attribute(value=args[0], attr="copy"), [])
    store = ast.Subscript(value=target, slice=_index_ast(index, args), ctx=ast.Store())
    return [ast.Assign(targets=[target], value=copy), ast.Assign(targets=[store], value=args[1])]


setitem_p = Primitive("setitem", _setitem_impl, emit_statements=_emit_setitem)
defvjp(
    setitem_p,
    lambda g, ans, x, v, *operands, index: setitem_p.bind(g, 0.0, *operands, index=index),
    # setitem numbers its index operands from 2 (after x and v), getitem from 1 (after x)
    lambda g, ans, x, v, *operands, index: getitem_p.bind(g, *operands, index=_renumber(index, 1)),
)


def _renumber(template, first_position: int):
    """``template`` with its operands numbered from ``first_position``."""
    shift = first_position - _first(template)
    return tuple(IndexOperand(t.position + shift) if isinstance(t, IndexOperand) else t for t in template)


def getitem(x, index):
    """``x[index]`` for a traced ``x`` (or traced index arrays)."""
    template, operands = split_index(index, 1)
    _guard_mask_sizes(operands)
    out = getitem_p.bind(x, *operands, index=template)
    if isinstance(x, Tracer) and out._view_of is x:
        if _is_view(template, x.ndim):
            out._view_kind = ("index", template)
        else:  # bind linked it as a view: NumPy makes a copy here
            unlink_view(x, out)
    return out


def _is_view(template, ndim: int) -> bool:
    """Whether NumPy returns a view: basic indexing does, unless it picks one element."""
    if _has_advanced(template):
        return False
    return not (len(template) == ndim and all(isinstance(t, int) for t in template))


def setitem(x, index, value):
    """The value of ``x`` after ``x[index] = value``, as a new traced array."""
    template, operands = split_index(index, 2)
    _guard_mask_sizes(operands)
    _refuse_repeated(operands)
    # not getattr(value, "dtype", np.result_type(value)): the default runs first, and fails on a Tracer
    value_dtype = value.dtype if hasattr(value, "dtype") else np.result_type(value)
    if np.dtype(value_dtype).kind in "fc" and x.dtype.kind not in "fc":
        raise TypeError(f"cannot write float values into an array of {x.dtype}; create it with a float dtype")
    return setitem_p.bind(x, value, *operands, index=template)


def _guard_mask_sizes(operands):
    # A boolean mask's result size depends on its values: the generated code checks it is unchanged.
    from .core import guard_p

    for mask in operands:
        if isinstance(mask, Tracer) and mask.dtype.kind == "b":
            count_p = _count_nonzero_p.bind(mask)
            guard_p.bind(count_p, kind="int", expected=int(np.count_nonzero(mask._value)))


def _refuse_repeated(operands):
    # With a repeated index only one of the writes lands, so the gradient of the written values
    # depends on which; a traced index could take repeats on a later call without a retrace.
    for o in operands:
        if isinstance(o, Tracer) and o.dtype.kind != "b":
            raise NotImplementedError(
                "x[index] = v with a computed (traced) integer index array is not supported yet; "
                "use a boolean mask, slices, or an index array that does not depend on the inputs"
            )
        if not isinstance(o, Tracer) and o.dtype.kind != "b" and np.unique(o).size != o.size:
            raise NotImplementedError(
                f"x[index] = v with repeated indices {o.tolist()} is ambiguous (NumPy keeps one of "
                "the writes); remove the repeats, or accumulate with x = x + np.bincount-style sums"
            )


_count_nonzero_p = Primitive("count_nonzero", np.count_nonzero, differentiable=False)
