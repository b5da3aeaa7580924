"""Products and linear algebra, each primitive beside its VJP rules.

Products: ``@``/``np.matmul``, ``np.dot`` (every case), ``vdot inner outer tensordot einsum kron
cross``. Most are written with three primitives, ``matmul``, ``tensordot`` and ``einsum``, so the
generated code shows what the product computes. ``np.linalg``: ``inv solve det slogdet cholesky
eigh eigvalsh eig eigvals svd svdvals pinv qr lstsq matrix_power``, over stacks of matrices wherever NumPy
allows them (``(..., M, N)``); NumPy 2's ``vecdot matvec vecmat`` ufuncs. Composed of these:
``correlate convolve`` (sliding windows times a vector), ``poly polymul polyfit roots``,
``np.linalg.cond matrix_rank multi_dot tensorinv tensorsolve`` and the ``np.linalg`` aliases.

**Several results, one primitive each.** A graph node has one output, so a NumPy function with
several results is one primitive per result, each written as the NumPy call and the result it
takes: ``w, v = np.linalg.eigh(a)`` becomes ``w = np.linalg.eigvalsh(a)`` and
``v = np.linalg.eigh(a).eigenvectors``. Generated code stays plain NumPy, results nobody uses
are dropped as dead code, and a result a rule needs (``eigh``'s vector rule needs the values) is
bound again and merged with the user's by common-subexpression elimination. The price: using
two results of one call decomposes the matrix twice. The one exception is ``U`` and ``Vh`` of a
complex matrix's ``svd``: whether a loss is blind to their arbitrary phases depends on both
cotangents, so one primitive holds both (``svd_vectors``, ``U`` above ``Vh^T``) and the handler
slices them out of it.

**Caveats** (the gradient is the derivative of what NumPy computes, where that exists):

- ``cholesky`` and ``eigh`` read one triangle of their argument (the lower one, or the upper for
  ``upper=True`` / ``UPLO='U'``), so the gradient lives on that triangle: the other gets zeros,
  the diagonal its own entry, and the read triangle both its own entry and its mirror's. For an
  argument built symmetric (``x @ x.T``, ``(b + b.T) / 2``) the gradient with respect to what it
  was built from is the same as with autograd's and JAX's symmetrized rules.
- ``eigh``'s eigenvector gradient divides by differences of eigenvalues: it is infinite (nan)
  for repeated eigenvalues, and inaccurate when two are close. Eigenvalue gradients are fine.
- ``eig``'s eigenvector gradient divides by differences of eigenvalues too, and ``eig``'s and
  ``eigvals``' eigenvalue gradients invert the matrix of eigenvectors: distinct eigenvalues are
  needed (a defective matrix gives inf or NaN). A real matrix's results are real or complex as
  NumPy's (real when every eigenvalue is): a guard, so a call on the other side traces again.
  Complex eigenvectors (of a complex matrix, or of a real one with complex eigenvalues) have
  arbitrary phases: only a loss blind to them (``|v|**2``) has a gradient (checked, else an error).
- ``svd``'s ``U`` and ``Vh`` gradients divide by differences of squared singular values (the same
  caveat) and by the singular values (so ``a`` must have full rank); singular values are fine.
  Of a non-square matrix with ``full_matrices=True`` (NumPy's default) the extra columns of
  ``U`` (or rows of ``Vh``) are arbitrary, so no gradient flows through that ``U`` (``Vh``): use
  ``full_matrices=False``. The same holds for ``Q`` of ``qr(a, mode='complete')`` of a tall ``a``.
- ``inv solve det slogdet`` need a non-singular matrix; ``pinv`` and ``lstsq`` a matrix whose
  rank does not change near the point (full rank is the safe case).
- Eigenvector and singular-vector signs, and the signs of ``qr``'s R diagonal (real for complex
  matrices too), are LAPACK's choice; the gradient is that of the factors NumPy returns, which is
  smooth where LAPACK's choice is. It jumps where LAPACK skips a reflection: the last one of a
  square or wide complex matrix whose pivot is real (a real matrix cast to complex), where an
  imaginary change flips R's last diagonal entry and Q's last column.
- Complex vectors' phases are LAPACK's choice out of a whole circle: a gradient flows through
  complex eigenvectors and singular vectors only for a loss blind to them, which the generated
  code checks on every call.
"""
from __future__ import annotations

import ast
import functools
import operator
import string
from collections import Counter

import numpy as np

from ..tracing import Tracer
from .core import (FUNCTIONS, UFUNCS, Primitive, call, conj, defbatch, defvjp, is_complex, lift, np_attr, np_function,
                   py_literal)
from .indexing import arange, getitem


def _T(x):
    """Transpose the last two axes (a stack of matrices)."""
    return np.swapaxes(x, -1, -2)


def _swap_last(x):
    return x if x.ndim < 2 else _T(x)


def _dtype(x):
    return getattr(x, "dtype", np.dtype(np.float64))


def _as_array(x):
    return x if isinstance(x, Tracer) else np.asarray(x)


def _describe(handler, caveat, differentiable=True):
    """Say what a composing handler does, for the coverage page."""
    handler.caveat, handler.differentiable = caveat, differentiable
    return handler


# --- matmul ----------------------------------------------------------------------------------

def _matmul_vjp_a(g, ans, a, b):
    if b.ndim == 1:
        return g * b if a.ndim == 1 else g[..., None] * b  # outer product over the last axis
    if a.ndim == 1:
        return (b @ g[..., None])[..., 0] if b.ndim > 2 else b @ g
    return g @ _swap_last(b)


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 1:
        return g * a if b.ndim == 1 else a[:, None] * g[..., None, :]
    if b.ndim == 1:
        return (_swap_last(a) @ g[..., None])[..., 0] if a.ndim > 2 else a.T @ g
    return _swap_last(a) @ g


def _matmul_shape(a, b):
    """matmul's result type from its operands' shapes and dtypes (vectors promoted, then dropped)."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    a2, b2 = (1,) + sa if len(sa) == 1 else sa, sb + (1,) if len(sb) == 1 else sb
    if not sa or not sb or a2[-1] != b2[-2]:
        raise ValueError(f"matmul: shapes {sa} and {sb} do not line up")
    out = np.broadcast_shapes(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    out = out[:-2] + out[-1:] if len(sa) == 1 else out
    return (out[:-1] if len(sb) == 1 else out), np.result_type(a.dtype, b.dtype)


matmul_p = Primitive("matmul", np.matmul, lambda args: ast.BinOp(left=args[0], op=ast.MatMult(), right=args[1]))
defvjp(matmul_p, _matmul_vjp_a, _matmul_vjp_b)
matmul_p.shape_rule = _matmul_shape
UFUNCS[np.matmul] = matmul_p


def _batch_matmul(args, batched, out_shape):
    # A vector operand becomes a matrix (a row on the left, a column on the right), so that the
    # batch axis lines up with the stacking axes; the result is reshaped back to the entry's.
    (a, b), (ba, bb) = args, batched
    size = np.shape(a if ba else b)[0]
    if ba != bb and np.ndim(a if ba else b) == 2 and np.ndim(b if ba else a) == 2:
        # a batch of vectors times a matrix is one matrix product: rows @ b, or rows @ a.T
        return a @ b if ba else b @ np.transpose(a)
    if np.ndim(a) - ba == 1:
        a = np.reshape(a, np.shape(a)[:-1] + (1, np.shape(a)[-1]))
    if np.ndim(b) - bb == 1:
        b = np.reshape(b, np.shape(b) + (1,))
    ndim = max(np.ndim(a) - ba, np.ndim(b) - bb)
    return np.reshape(lift(a, ba, ndim) @ lift(b, bb, ndim), (size,) + out_shape)


defbatch(matmul_p, _batch_matmul)


# --- tensordot: sums over paired axes; np.dot and np.inner of N-D arrays are tensordots --------

tensordot_p = Primitive("tensordot", lambda a, b, axes: np.tensordot(a, b, axes=axes))


def _free(x, axes) -> list:
    return [k for k in range(np.ndim(x)) if k not in axes]


def _tensordot_vjp_a(g, ans, a, b, axes):
    ax_a, ax_b = axes
    free_a, free_b = _free(a, ax_a), _free(b, ax_b)
    ct = np.tensordot(g, b, axes=(tuple(range(len(free_a), np.ndim(g))), tuple(free_b)))
    # ct's axes: a's free axes, then the axes of a paired with b's summed axes, in b's order
    order = free_a + [ax_a[k] for k in np.argsort(ax_b).tolist()]
    return np.transpose(ct, np.argsort(order).tolist())


def _tensordot_vjp_b(g, ans, a, b, axes):
    ax_a, ax_b = axes
    free_a, free_b = _free(a, ax_a), _free(b, ax_b)
    ct = np.tensordot(a, g, axes=(tuple(free_a), tuple(range(len(free_a)))))
    order = [ax_b[k] for k in np.argsort(ax_a).tolist()] + free_b
    return np.transpose(ct, np.argsort(order).tolist())


def _tensordot_shape(a, b, axes):
    (ax_a, ax_b), sa, sb = axes, tuple(a.shape), tuple(b.shape)
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(f"tensordot: axes {axes} of shapes {sa} and {sb} do not line up")
    shape = tuple(n for k, n in enumerate(sa) if k not in ax_a) + tuple(n for k, n in enumerate(sb) if k not in ax_b)
    return shape, np.result_type(a.dtype, b.dtype)


defvjp(tensordot_p, _tensordot_vjp_a, _tensordot_vjp_b)
tensordot_p.shape_rule = _tensordot_shape


def _batch_tensordot(args, batched, out_shape, axes):
    (a, b), (ax_a, ax_b) = args, axes
    if batched[0] and not batched[1]:  # a's free axes come first: the batch axis leads
        return tensordot_p.bind(a, b, axes=(tuple(k + 1 for k in ax_a), ax_b))
    if batched[1] and not batched[0]:  # after a's free axes: moved to the front
        out = tensordot_p.bind(a, b, axes=(ax_a, tuple(k + 1 for k in ax_b)))
        free_a = np.ndim(a) - len(ax_a)
        return np.transpose(out, (free_a,) + tuple(k for k in range(np.ndim(out)) if k != free_a))
    return None


defbatch(tensordot_p, _batch_tensordot)


def _axes_tuple(axes, ndim: int) -> tuple:
    axes = (axes,) if isinstance(axes, (int, np.integer)) else axes
    return tuple(int(k) % ndim for k in axes)


def _tensordot(a, b, axes=2):
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, (int, np.integer)):
        pairs = (tuple(range(na - int(axes), na)), tuple(range(int(axes))))
    else:
        pairs = (_axes_tuple(axes[0], na), _axes_tuple(axes[1], nb))
        if len(pairs[0]) != len(pairs[1]):
            raise ValueError("np.tensordot: shape-mismatch for sum (axes of different lengths)")
    return tensordot_p.bind(a, b, axes=pairs)


def _dot(a, b, out=None):
    if out is not None:
        raise TypeError("np.dot: out= is not supported on traced values")
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na <= 2 and nb <= 2:
        return matmul_p.bind(a, b)
    # sum over the last axis of a and the second-to-last of b (the last, for a 1-D b)
    return tensordot_p.bind(a, b, axes=((na - 1,), (max(nb - 2, 0),)))


def _inner(a, b):
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na == 1 and nb == 1:
        return matmul_p.bind(a, b)
    return tensordot_p.bind(a, b, axes=((na - 1,), (nb - 1,)))


def _vdot(a, b):
    if _dtype(a).kind == "c":
        a = np.conj(a)
    return matmul_p.bind(np.ravel(a), np.ravel(b))


def _outer(a, b, out=None):
    if out is not None:
        raise TypeError("np.outer: out= is not supported on traced values")
    return np.reshape(a, (-1, 1)) * np.ravel(b)


def _kron(a, b):
    nd = max(np.ndim(a), np.ndim(b))
    shape_a = (1,) * (nd - np.ndim(a)) + np.shape(a)
    shape_b = (1,) * (nd - np.ndim(b)) + np.shape(b)
    # a's axes interleaved with b's: product[i0, j0, i1, j1, ...] = a[i0, i1, ...] * b[j0, j1, ...]
    product = (np.reshape(a, tuple(d for n in shape_a for d in (n, 1)))
               * np.reshape(b, tuple(d for n in shape_b for d in (1, n))))
    return np.reshape(product, tuple(p * q for p, q in zip(shape_a, shape_b)))


# --- NumPy 2's vector-matrix ufuncs: vecdot, matvec, vecmat (real values) ----------------------
# They broadcast over the leading (loop) axes; reverse mode sums each cotangent back over the
# loop axes an operand was broadcast along.

def _gufunc(ufunc, core: tuple, *rules):
    prim = Primitive(ufunc.__name__, ufunc)
    defvjp(prim, *rules)

    def batch(args, batched, out_shape):  # the batch axis leads, in front of every operand's loop axes
        loop = max(np.ndim(x) - f - k for x, f, k in zip(args, batched, core))
        return prim.bind(*(_lift_loop(x, f, k, loop) for x, f, k in zip(args, batched, core)))

    defbatch(prim, batch)
    UFUNCS[ufunc] = prim
    return prim


def _lift_loop(x, batched: bool, core: int, loop: int):
    """A batched ``x`` with size-1 loop axes after the batch axis, up to ``loop`` of them."""
    missing = loop - (np.ndim(x) - 1 - core)
    return np.reshape(x, np.shape(x)[:1] + (1,) * missing + np.shape(x)[1:]) if batched and missing > 0 else x


# vecdot and vecmat conjugate their vector (vecdot(a, b) = sum(conj(a) * b)), which is not
# holomorphic in it: its cotangent is the conjugate of the plain rule's (dL/du - i dL/dv).
if hasattr(np, "matvec"):  # NumPy >= 2.2
    vecdot_p = _gufunc(np.vecdot, (1, 1), lambda g, ans, a, b: conj(g[..., None] * b),
                       lambda g, ans, a, b: g[..., None] * conj(a))
    matvec_p = _gufunc(np.matvec, (2, 1), lambda g, ans, m, v: g[..., :, None] * v[..., None, :],
                       lambda g, ans, m, v: np.vecmat(conj(g), m))  # (g @ m: vecmat conjugates g)
    vecmat_p = _gufunc(np.vecmat, (1, 2), lambda g, ans, v, m: conj(np.matvec(m, g)),
                       lambda g, ans, v, m: conj(v)[..., :, None] * g[..., None, :])


# --- cross products, over the last axis -------------------------------------------------------

cross_p = Primitive("cross", lambda a, b: np.cross(a, b))
# <g, a x b> = <a, b x g> = <b, g x a> (the scalar triple product)
defvjp(cross_p, lambda g, ans, a, b: np.cross(b, g), lambda g, ans, a, b: np.cross(g, a))
defbatch(cross_p, lambda args, batched, out_shape: cross_p.bind(*(
    lift(x, f, max(np.ndim(y) - g for y, g in zip(args, batched))) for x, f in zip(args, batched))))


def _to_last(x, axis):
    nd = np.ndim(x)
    axis = int(axis) % nd
    return np.transpose(x, [k for k in range(nd) if k != axis] + [axis])


def _as_3_vectors(x):
    if np.shape(x)[-1] == 3:
        return x
    if np.shape(x)[-1] != 2:
        raise ValueError("np.cross: incompatible dimensions for cross product (dimension must be 2 or 3)")
    return np.concatenate([x, np.zeros(np.shape(x)[:-1] + (1,), _dtype(x))], axis=-1)  # z = 0


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _to_last(a, axisa), _to_last(b, axisb)
    planar = np.shape(a)[-1] == np.shape(b)[-1] == 2
    c = cross_p.bind(_as_3_vectors(a), _as_3_vectors(b))
    if planar:  # two 2-vectors: NumPy returns the z component
        return c[..., 2]
    nd = np.ndim(c)
    order = list(range(nd - 1))
    order.insert(int(axisc) % nd, nd - 1)
    return np.transpose(c, order)


# --- einsum -----------------------------------------------------------------------------------

_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _sublist_term(sublist) -> str:
    return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sublist)


def _einsum_arguments(operands):
    """(subscripts, arrays) from either of np.einsum's calling conventions."""
    if isinstance(operands[0], str):
        return operands[0].replace(" ", ""), list(operands[1:])
    # interleaved: op0, sublist0, op1, sublist1, ..., [output sublist]
    arrays, sublists = list(operands[0::2]), list(operands[1::2])
    output = None
    if len(operands) % 2:
        output = arrays.pop()
    subscripts = ",".join(_sublist_term(s) for s in sublists)
    return subscripts + ("" if output is None else "->" + _sublist_term(output)), arrays


def explicit_subscripts(subscripts: str, shapes: list) -> str:
    """``subscripts`` with an explicit output and each ``...`` spelled out as letters.

    Shapes are static, so broadcast dimensions get letters of their own (unused ones, from 'A'):
    ``'...ij,...jk'`` on (5, 2, 3) and (3, 4) is ``'Aij,jk->Aik'``. Implicit mode's output is
    NumPy's: the broadcast dimensions, then the labels used once, in alphabetical order.
    """
    lhs, arrow, rhs = subscripts.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"np.einsum: {len(terms)} subscript terms for {len(shapes)} operands")
    free = [c for c in _LETTERS if c not in subscripts]
    ellipsis_ndims = []
    for term, shape in zip(terms, shapes):
        n = len(shape) - len(term.replace("...", ""))
        if n < 0 or (n and "..." not in term):
            raise ValueError(f"np.einsum: subscripts '{term}' don't match an operand of shape {shape}")
        ellipsis_ndims.append(n)
    broadcast = "".join(free[:max(ellipsis_ndims, default=0)])
    terms = [t.replace("...", broadcast[len(broadcast) - n:]) for t, n in zip(terms, ellipsis_ndims)]
    if arrow:
        if broadcast and "..." not in rhs:
            raise ValueError("np.einsum: output has more dimensions than subscripts given in einstein "
                             "sum, but no '...' ellipsis provided to broadcast the extra dimensions.")
        output = rhs.replace("...", broadcast)
    else:
        counts = Counter("".join(terms))
        output = broadcast + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in broadcast))
    return ",".join(terms) + "->" + output


def _split(subscripts: str):
    lhs, _, output = subscripts.partition("->")
    return lhs.split(","), output


def _emit_einsum(args, subscripts, optimize):
    return call(np_attr("einsum"), [ast.Constant(subscripts), *args], {"optimize": optimize} if optimize else {})


einsum_p = Primitive("einsum", lambda *ops, subscripts, optimize: np.einsum(subscripts, *ops, optimize=optimize),
                     _emit_einsum)


def _einsum_shape(*operands, subscripts, optimize):
    """einsum's result type from ``a,b->c`` subscripts (None with ``...`` or no output given:
    then it is computed)."""
    terms, output = _split(subscripts)
    if "..." in subscripts or "->" not in subscripts or len(terms) != len(operands):
        return None
    sizes: dict = {}
    for term, x in zip(terms, operands):
        if len(term) != len(x.shape):
            raise ValueError(f"einsum: {term!r} does not fit an operand of shape {x.shape}")
        for label, n in zip(term, x.shape):
            if sizes.setdefault(label, n) != n and 1 not in (n, sizes[label]):
                raise ValueError(f"einsum: {label!r} has sizes {sizes[label]} and {n}")
            sizes[label] = max(sizes[label], n)
    return tuple(sizes[label] for label in output), np.result_type(*(x.dtype for x in operands))


einsum_p.shape_rule = _einsum_shape


def _einsum_rule(i):
    """The cotangent of operand ``i``: another einsum, of the other operands and ``g``."""
    def rule(g, ans, *operands, subscripts, optimize):
        terms, output = _split(subscripts)
        x = operands[i]
        fresh = iter(c for c in _LETTERS if c not in subscripts)
        target, deltas, eyes = "", [], []
        for label, n in zip(terms[i], np.shape(x)):
            if label in target:  # a repeated label ('ii'): g reaches x's diagonal only
                new = next(fresh)
                target += new
                deltas.append(label + new)
                eyes.append(_eye(n, x))
            else:
                target += label
        others = [j for j in range(len(operands)) if j != i]
        inputs = [terms[j] for j in others] + [output] + deltas
        known = set("".join(inputs))
        kept = "".join(c for c in target if c in known)
        ct = np.einsum(",".join(inputs) + "->" + kept, *[operands[j] for j in others], g, *eyes,
                       optimize=optimize)
        # Labels only x has were summed away: the cotangent is constant along them. (Reverse
        # mode sums broadcast axes back, but does not broadcast size-1 axes out.)
        sizes = dict(zip(kept, np.shape(ct)))
        shape = tuple(sizes.get(c, 1) for c in target)
        full = tuple(n if s == 1 else s for s, n in zip(shape, np.shape(x)))
        if shape != np.shape(ct):
            ct = np.reshape(ct, shape)
        return ct if full == shape else np.broadcast_to(ct, full)
    return rule


einsum_p.rule_for = _einsum_rule


def _batch_einsum(args, batched, out_shape, subscripts, optimize):
    terms, output = _split(subscripts)  # explicit, without "..." (see explicit_subscripts)
    label = next(c for c in _LETTERS if c not in subscripts)
    terms = [label + t if b else t for t, b in zip(terms, batched)]
    return einsum_p.bind(*args, subscripts=",".join(terms) + "->" + label + output, optimize=optimize)


defbatch(einsum_p, _batch_einsum)


def _einsum_path(*operands, **options):
    # the path depends on the subscripts and shapes only: NumPy's answer for stand-ins of the same shapes
    return np.einsum_path(*(np.empty(o.shape, o.dtype) if isinstance(o, Tracer) else o for o in operands), **options)


def _einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    if out is not None or dtype is not None:
        raise TypeError("np.einsum: out= and dtype= are not supported on traced values")
    subscripts, arrays = _einsum_arguments(operands)
    subscripts = explicit_subscripts(subscripts, [np.shape(a) for a in arrays])
    return einsum_p.bind(*arrays, subscripts=subscripts, optimize=optimize)


# --- correlation and convolution of 1-D sequences: sliding windows times a vector ----------------

def _correlation(a, v, start: int, length: int):
    """Entries ``start`` to ``start + length`` of the full correlation of a and v,
    out[k] = sum_n a[k + n - (M - 1)] * v[n] (a is zero outside its N entries): the windows of a,
    padded with just the zeros they reach, times v. Written with indexing and @, it differentiates
    in both operands and in order 2 with their rules."""
    n, m = np.shape(a)[0], np.shape(v)[0]
    before, after = max(m - 1 - start, 0), max(start + length - n, 0)
    padded = np.pad(a, (before, after)) if before or after else a
    first = start - (m - 1) + before  # where window 0 starts in padded
    windows = arange(first, first + length, 0, 2, like=(a, v)) + arange(0, m, 1, 2, like=(a, v))
    return getitem(padded, windows) @ v  # (getitem: a plain padded with traced windows too)


def _sequences(function, a, v):
    for name, x in (("a", a), ("v", v)):
        if np.ndim(x) != 1:
            raise ValueError(f"np.{function}: {name} must be 1-D, got {np.ndim(x)} dimensions")
        if not np.shape(x)[0]:
            raise ValueError(f"np.{function}: {name} cannot be empty")


def _mode_range(function, mode, n: int, m: int, same_start: int):
    """(start, length) of ``mode``'s entries within the full output."""
    if mode == "full":
        return 0, n + m - 1
    if mode == "same":
        return same_start, max(n, m)
    if mode == "valid":
        return min(n, m) - 1, max(n, m) - min(n, m) + 1
    raise ValueError(f"np.{function}: mode must be 'full', 'same' or 'valid', got {mode!r}")


def _correlate(a, v, mode="valid"):
    a, v = _as_array(a), _as_array(v)
    _sequences("correlate", a, v)
    n, m = np.shape(a)[0], np.shape(v)[0]
    # NumPy centres 'same' differently when v is the longer: it swaps the two and reverses
    start, length = _mode_range("correlate", mode, n, m, (min(n, m) - 1) // 2 if n >= m else n // 2)
    return _correlation(a, conj(v), start, length)  # NumPy conjugates v (np.convolve does not)


def _convolve(a, v, mode="full"):
    a, v = _as_array(a), _as_array(v)
    _sequences("convolve", a, v)
    n, m = np.shape(a)[0], np.shape(v)[0]
    start, length = _mode_range("convolve", mode, n, m, (min(n, m) - 1) // 2)
    return _correlation(a, v[::-1], start, length)  # convolution is correlation with v reversed


def _poly(seq_of_zeros):
    zeros = np.atleast_1d(seq_of_zeros)
    shape = np.shape(zeros)
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] != 0:
        zeros = np.linalg.eigvals(zeros)  # NumPy's: the characteristic polynomial, of the eigenvalues
    elif len(shape) != 1:
        raise ValueError("np.poly: input must be 1d or non-empty square 2d array.")
    dtype = _dtype(zeros) if _dtype(zeros).kind in "fc" else np.dtype(np.float64)
    if not np.shape(zeros)[0]:
        return 1.0
    a = np.ones((1,), dtype)
    for zero in zeros:  # multiplied by (x - zero), one root after the other
        a = np.convolve(a, np.stack([np.ones((), dtype), -zero.astype(dtype)]))
    # NumPy returns the real part when the roots come in conjugate pairs: a decision on the values (a guard)
    if dtype.kind == "c" and np.all(np.sort(zeros) == np.sort(np.conj(zeros))):
        return np.real(a)
    return a


def _roots(p):
    # NumPy's: the eigenvalues of the companion matrix, with the leading and trailing zero
    # coefficients stripped first (which ones are zero: a decision on the values, guards)
    p = np.atleast_1d(p)
    if np.ndim(p) != 1:
        raise ValueError("np.roots: input must be a rank-1 array.")
    n = np.shape(p)[0]
    nonzero = [k for k in range(n) if bool(p[k] != 0)] if n else []
    if not nonzero:
        return np.array([])
    trailing = n - nonzero[-1] - 1
    p = p[nonzero[0]:nonzero[-1] + 1]
    if _dtype(p).kind not in "fc":
        p = p.astype(float)
    if np.shape(p)[0] > 1:  # the companion matrix: -p[1:] / p[0] over a shifted identity
        m = np.shape(p)[0] - 1
        companion = np.concatenate([(-p[1:] / p[0])[None, :], np.eye(m - 1, m, dtype=_dtype(p))])
        roots = np.linalg.eigvals(companion)
    else:
        roots = np.array([], _dtype(p))
    return np.concatenate([roots, np.zeros(trailing, _dtype(roots))]) if trailing else roots


def _polymul(a1, a2):
    return _convolve(np.atleast_1d(a1), np.atleast_1d(a2))


FUNCTIONS.update({np.dot: _dot, np.tensordot: _tensordot, np.inner: _inner, np.vdot: _vdot,
                  np.outer: _outer, np.kron: _kron, np.cross: _cross, np.einsum: _einsum,
                  np.einsum_path: _describe(_einsum_path, "", differentiable=False)})
_ROUNDING = "NumPy's values up to rounding (the products are summed in another order)"
FUNCTIONS.update({np.correlate: _describe(_correlate, _ROUNDING), np.convolve: _describe(_convolve, _ROUNDING),
                  np.polymul: _describe(_polymul, _ROUNDING),
                  np.poly: _describe(_poly, _ROUNDING + "; of a matrix: through np.linalg.eigvals"),
                  np.roots: _describe(_roots, "through np.linalg.eigvals of the companion matrix (distinct roots); "
                                              "which coefficients are zero is checked on every call")})


# --- np.linalg --------------------------------------------------------------------------------

def _linalg(name, impl, emit=None, rule=None, caveat=None, **kwargs):
    prim = Primitive(name, impl, emit or np_function(f"linalg.{name}"), **kwargs)
    if rule is not None:
        defvjp(prim, *([rule] if callable(rule) else rule))
    if caveat:
        prim.caveat = caveat
    return prim


def _result(path: str, key, **fixed):
    """Emit one result of a NumPy function with several: ``np.linalg.eigh(a).eigenvectors``."""
    def emit(args, **params):
        value = call(np_attr(path), args, {**fixed, **params})
        if isinstance(key, int):
            return ast.Subscript(value=value, slice=ast.Constant(key), ctx=ast.Load())
        return ast.Attribute(value=value, attr=key)
    return emit


def _as_matrices(v):
    """A (stack of) scalar(s) as a (stack of) 1x1 matrices, to scale matrices with."""
    return np.reshape(v, np.shape(v) + (1, 1))


def _eye(n: int, like):
    return _constant("eye", n, _dtype(like))


def _triangle_mask(n: int, lower: bool, like):
    """Ones on one triangle, halves on the diagonal."""
    return _constant("lower" if lower else "upper", n, _dtype(like))


@functools.lru_cache(maxsize=None)
def _constant(kind: str, n: int, dtype):
    """The rules' constant n x n matrices, one array each (generated code names each once)."""
    eye, ones = np.eye(n, dtype=dtype), np.ones((n, n), dtype=dtype)
    value = {"eye": eye, "lower": np.tril(ones) - 0.5 * eye, "upper": np.triu(ones) - 0.5 * eye}[kind]
    value.flags.writeable = False
    return value


def _read_from_triangle(m, lower: bool):
    """The cotangent of a matrix function that reads only one triangle of its argument (LAPACK's
    cholesky and eigh do), given ``m`` with ``Re <m, da>`` its change for a symmetric (Hermitian)
    ``da``: an entry of the triangle stands for itself and (conjugated) its mirror image; a
    diagonal entry's imaginary part is not read."""
    return (m + conj(_T(m))) * _triangle_mask(np.shape(m)[-1], lower, m)


def _solve_transposed(a, b):
    """``b @ inv(a).T`` (for each matrix of a stack)."""
    return _T(np.linalg.solve(a, _T(b)))


# inverses, solves and determinants
inv_p = _linalg("inv", np.linalg.inv, rule=lambda g, ans, a: -_T(ans) @ g @ _T(ans))


def _solve_vjp_b(g, ans, a, b):
    if np.ndim(b) == 1:  # NumPy reads a 1-D b as a vector; any other b as a stack of matrices
        return np.linalg.solve(_T(a), g[..., None])[..., 0]
    return np.linalg.solve(_T(a), g)


def _solve_vjp_a(g, ans, a, b):
    gb = _solve_vjp_b(g, ans, a, b)
    if np.ndim(b) == 1:
        return -gb[..., :, None] * ans[..., None, :]
    return -gb @ _T(ans)


solve_p = _linalg("solve", np.linalg.solve, rule=(_solve_vjp_a, _solve_vjp_b))


def _batch_solve(args, batched, out_shape):
    (a, b), size = args, np.shape(args[1])[0]
    if batched[0]:
        return None
    if np.ndim(b) == 2:  # a batch of vectors: a stack of one-column matrices
        b = np.reshape(b, np.shape(b) + (1,))
    return np.reshape(solve_p.bind(a, lift(b, True, np.ndim(a))), (size,) + out_shape)


defbatch(solve_p, _batch_solve)
det_p = _linalg("det", np.linalg.det, rule=lambda g, ans, a: _as_matrices(g * ans) * _T(np.linalg.inv(a)),
                caveat="the rule uses inv(a): no gradient at a singular matrix")
slogdet_p = _linalg("slogdet", lambda a: np.linalg.slogdet(a).logabsdet, _result("linalg.slogdet", "logabsdet"),
                    rule=lambda g, ans, a: _as_matrices(g) * _T(np.linalg.inv(a)))
slogdet_sign_p = _linalg("slogdet_sign", lambda a: np.linalg.slogdet(a).sign, _result("linalg.slogdet", "sign"),
                         differentiable=False)


def _matrix_power(a, n):
    n = int(n)
    if n == 0:  # the identity, whatever a is: no gradient
        return np.broadcast_to(_eye(np.shape(a)[-1], a), np.shape(a)).copy()
    if n < 0:
        a, n = np.linalg.inv(a), -n
    # NumPy's order of products: powers of two of a, multiplied in from the lowest bit
    if n <= 3:
        return a if n == 1 else a @ a if n == 2 else (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


# Cholesky: Iain Murray, "Differentiation of the Cholesky decomposition" (arXiv:1602.07527), for
# a = L L^H: dL = L Phi(L^-1 da L^-H), Phi the lower triangle with the diagonal halved. Its
# cotangent is the lower triangle of s + s^H, s = L^-T Phi(L^T g) conj(L)^-1 (L^-T ... L^-1 for
# real matrices).
def _cholesky_vjp(g, ans, a, upper=False):
    if upper:  # U = L^H of the lower factor of a^H (the same Hermitian matrix, read from below)
        return conj(_T(_cholesky_vjp(conj(_T(g)), conj(_T(ans)), conj(_T(a)))))
    lower = ans
    phi = (_T(lower) @ g) * _triangle_mask(np.shape(lower)[-1], True, lower)
    s = _T(np.linalg.solve(_T(conj(lower)), _T(np.linalg.solve(_T(lower), phi))))
    return (s + conj(_T(s))) * _triangle_mask(np.shape(lower)[-1], True, lower)


_ONE_TRIANGLE = ("NumPy reads one triangle of a (the lower; the upper for {}), so the gradient is on that "
                 "triangle (autograd and JAX symmetrize it; both agree for an a built symmetric, x @ x.T)")
cholesky_p = _linalg("cholesky", lambda a, upper=False: np.linalg.cholesky(a, upper=upper), rule=_cholesky_vjp,
                     caveat=_ONE_TRIANGLE.format("upper=True"))


# Symmetric (Hermitian) eigendecomposition a = v diag(w) v^H: dw = diag(v^H da v),
# dv = v (F * (v^H da v)) with F[i, j] = 1 / (w[j] - w[i]) off the diagonal.
def _eigvalsh_vjp(g, ans, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO=UPLO).eigenvectors
    return _read_from_triangle((conj(v) * g[..., None, :]) @ _T(v), UPLO == "L")


def _eigh_vectors_vjp(g, ans, a, UPLO="L"):
    w, v = np.linalg.eigvalsh(a, UPLO=UPLO), ans
    if is_complex(a):
        _require_phase_blind(g, v)
    eye = _eye(np.shape(w)[-1], w)
    f = 1 / (w[..., None, :] - w[..., :, None] + eye) - eye  # 0 on the diagonal
    return _read_from_triangle(conj(v) @ ((_T(v) @ g) * f) @ _T(v), UPLO == "L")


def _require_phase_blind(g, v, matrix="a complex Hermitian matrix"):
    """A complex eigenvector's phase is arbitrary (LAPACK picks one), so the gradient through
    eigenvectors exists only for a loss that does not change when a phase does (|v|**2, v v^H,
    and the eigen rules' own terms at higher order): v_k -> v_k e^(i t_k) changes the loss by
    Re(sum(g * i v dt)), so dL/dt_k = -Im((v^T g)_kk) must be 0 (for unit columns v_k, as eigh's
    and eig's are, |(v^T g)_kk| <= |g_k|: the scale of the test)."""
    _require_phases_fixed(np.imag(np.diagonal(_T(v) @ g, axis1=-2, axis2=-1)), g, v, (
        f"the loss depends on the phases of the eigenvectors of {matrix}, which are arbitrary (LAPACK picks "
        "one), so it has no gradient: make it depend on |v|**2 or v v^H, or on the eigenvalues only"))


def _require_phases_fixed(sensitivity, g, like, message):
    """Raise ``message`` unless the loss's change with each arbitrary phase, ``sensitivity``
    (one entry per column of ``g``), is negligible beside that column of the cotangent. The test
    is a decision on values, so the generated code checks it on every call (a guard) and a call
    where it fails traces again, and raises here."""
    sensitivity = np.abs(sensitivity)
    scale = np.sqrt(np.sum(np.abs(g) ** 2, axis=-2)) + np.finfo(_dtype(like)).tiny
    if np.any(sensitivity > np.sqrt(np.finfo(_dtype(like)).eps) * scale):
        raise NotImplementedError(message)


eigvalsh_p = _linalg("eigvalsh", np.linalg.eigvalsh, rule=_eigvalsh_vjp, caveat=_ONE_TRIANGLE.format("UPLO='U'"))
eigh_vectors_p = _linalg("eigh_vectors", lambda a, UPLO="L": np.linalg.eigh(a, UPLO=UPLO).eigenvectors,
                         _result("linalg.eigh", "eigenvectors"), rule=_eigh_vectors_vjp,
                         caveat="divides by differences of eigenvalues: NaN for repeated ones, inaccurate for "
                                "close ones; complex: only for losses blind to each eigenvector's arbitrary phase "
                                "(checked on every call, an error otherwise); " + _ONE_TRIANGLE.format("UPLO='U'"))


# General (non-symmetric) eigendecomposition a v = v diag(w), LAPACK's geev (NumPy's eig and
# eigvals), each column of v of unit norm. From da v + a dv = dv diag(w) + v diag(dw), with
# y = v^-1 da v: dw = diag(y) and dv = v (F * y) + v diag(c), F[i, j] = 1 / (w[j] - w[i]) off the
# diagonal, 0 on it, and c_k = -Re(v_k^H (v (F * y))_k) what keeps v_k of unit norm (its imaginary
# part, the phase, is LAPACK's choice). (M. Giles, "An extended collection of matrix derivative
# results for forward and reverse mode AD", 2008, sec. 3.1; JAX's eig_jvp_rule.) Both are
# holomorphic in y but the norm's Re; in tracediff's pairing Re(sum(g * dy)) (no conjugation):
#   - a change Re(sum(m * y)) of the loss is a cotangent v^-T m v^T of a (tr(m^T v^-1 da v));
#   - eigenvalues: m = diag(g);
#   - eigenvectors: Re(sum(g * v x)) = Re(sum(v^T g * x)), and the norm's term, with
#     r = Re(diag(v^T g)), is -Re(sum(r_k v_k^H (v x)_k)) = -Re(sum((v^T conj(v)) diag(r) * x)):
#     m = F * (v^T g - (v^T conj(v)) diag(r)).
# A real matrix's eigenvalues come out of LAPACK complex ('d->D'); NumPy returns them, and the
# eigenvectors, real when every imaginary part (of the whole stack) is 0. The primitives are
# LAPACK's complex results (for a real a: NumPy's, as complex: dtype= the complex type) and
# NumPy's test is a guard in the handler, as in NumPy's source: the generated code checks it on
# every call, and traces again when it flips.
def _complex_params(a) -> dict:
    """The eig primitives' parameter: for a real ``a``, the complex type its results are cast to."""
    if is_complex(a):
        return {}
    return {"dtype": np.dtype(np.complex64 if _dtype(a) == np.float32 else np.complex128)}


def _emit_eig(path, key=None):
    def emit(args, dtype=None):
        value = call(np_attr(path), args) if key is None else _result(path, key)(args)
        return value if dtype is None else call(ast.Attribute(value=value, attr="astype"), [py_literal(dtype)])
    return emit


def _eig_shape(vectors: bool):
    def rule(a, dtype=None):
        shape = tuple(a.shape)
        if len(shape) < 2 or shape[-1] != shape[-2]:
            return None  # (computed: NumPy says what is wrong)
        return (shape if vectors else shape[:-1]), (a.dtype if dtype is None else dtype)
    return rule


def _real_eigenvalues(a, w) -> bool:
    """NumPy's test: a real matrix's eigenvalues (eigenvectors) are real when no eigenvalue of the
    stack has an imaginary part. A decision on values (bool of a traced value): a guard."""
    return not is_complex(a) and bool(np.all(np.imag(w) == 0))


def _from_eigenbasis(m, v):
    """The cotangent of ``a`` for a change Re(sum(m * (v^-1 da v))) of the loss: v^-T m v^T."""
    return np.linalg.solve(_T(v), m @ _T(v))


def _eigenvalue_cotangent(g, v):
    """v^-T diag(g) v^T, with g's mean taken out first: that part is mean * I whatever v is (the
    trace's gradient), so a g of equal entries (a loss of sum(w)) sends no cotangent to v at all at
    the next order, rather than rounding errors the eigenvector rule's phase test would take for a
    loss that depends on the phases."""
    mean = np.mean(g, axis=-1, keepdims=True)
    return mean[..., None] * _eye(np.shape(g)[-1], g) + np.linalg.solve(_T(v), (g - mean)[..., :, None] * _T(v))


def _eig_values_vjp(g, ans, a, dtype=None):
    v = eig_vectors_p.bind(a, **_complex_params(a))
    if _real_eigenvalues(a, ans):  # (eig's own guard again: the generated code checks it once)
        g, v = np.real(g), np.real(v)  # real eigenvectors: real arithmetic
    return _eigenvalue_cotangent(g, v)


def _eigvals_vjp(g, ans, a, dtype=None):
    w, v = eig_values_p.bind(a, **_complex_params(a)), eig_vectors_p.bind(a, **_complex_params(a))
    # eigvals' eigenvalues are eig's in the same order, but not always: LAPACK's hseqr takes
    # another path for large matrices (n > 128 or so here) when it also computes the Schur vectors.
    # Each of eigvals' is paired with eig's at the same place when equal, else with the nearest.
    n = np.shape(ans)[-1]
    nearest = np.argmin(np.abs(ans[..., :, None] - w[..., None, :]), axis=-1)
    v = np.take_along_axis(v, np.where(ans == w, np.arange(n), nearest)[..., None, :], axis=-1)
    if _real_eigenvalues(a, w):
        g, v = np.real(g), np.real(v)
    return _eigenvalue_cotangent(g, v)


def _eig_vectors_vjp(g, ans, a, dtype=None):
    w, v = eig_values_p.bind(a, **_complex_params(a)), ans
    if _real_eigenvalues(a, w):  # NumPy returns v.real, a real vector's sign is fixed by LAPACK
        w, v, g = np.real(w), np.real(v), np.real(g)
    else:
        _require_phase_blind(g, v, "a complex matrix (or of a real one with complex eigenvalues)")
    eye = _eye(np.shape(w)[-1], w)
    f = 1 / (w[..., None, :] - w[..., :, None] + eye) - eye  # 0 on the diagonal
    vtg = _T(v) @ g
    r = np.real(np.diagonal(vtg, axis1=-2, axis2=-1))
    return _from_eigenbasis(f * (vtg - (_T(v) @ conj(v)) * r[..., None, :]), v)


def _as_complex(result):
    """A primitive's implementation: ``result(a)`` cast to the complex type ``dtype`` (a real a's)."""
    return lambda a, dtype=None: result(a).astype(dtype or _dtype(a), copy=False)


_EIG_VALUES = ("needs distinct eigenvalues: the rule inverts the matrix of eigenvectors (a repeated eigenvalue has "
               "no derivative; a defective matrix gives inf or NaN)")
eigvals_p = _linalg("eigvals", _as_complex(np.linalg.eigvals), _emit_eig("linalg.eigvals"), rule=_eigvals_vjp,
                    caveat=_EIG_VALUES)
eig_values_p = _linalg("eig_values", _as_complex(lambda a: np.linalg.eig(a).eigenvalues),
                       _emit_eig("linalg.eig", "eigenvalues"), rule=_eig_values_vjp, caveat=_EIG_VALUES)
eig_vectors_p = _linalg("eig_vectors", _as_complex(lambda a: np.linalg.eig(a).eigenvectors),
                        _emit_eig("linalg.eig", "eigenvectors"), rule=_eig_vectors_vjp,
                        caveat="divides by differences of eigenvalues: NaN for repeated ones, inaccurate for close "
                               "ones; complex eigenvectors (of a complex matrix, or a real one with complex "
                               "eigenvalues): only for losses blind to each one's arbitrary phase (checked on every "
                               "call, an error otherwise; the check is on the cotangent, so td.jacobian and "
                               "td.hessian refuse them); a real eigenvector's sign is LAPACK's")
for _prim, _vectors in ((eigvals_p, False), (eig_values_p, False), (eig_vectors_p, True)):
    _prim.shape_rule = _eig_shape(_vectors)


# SVD a = u diag(s) vh (reduced): J. Townsend, "Differentiating the singular value decomposition";
# of a complex matrix, C. Wan and S. Zhang, "Automatic differentiation for complex valued SVD"
# (arXiv:1909.02659), at _svd_vectors_vjp.
def _reduced_svd(a, hermitian):
    """u, s, vh of the reduced SVD, bound directly: the singular values' rule reads the vectors,
    and a gradient flows through them at second order (a complex matrix's through svd_vectors_p)."""
    params = _params(full_matrices=_square(a), hermitian=hermitian)
    if is_complex(a):
        u, vh = _split_vectors(svd_vectors_p.bind(a, **params), a)
        return u, svdvals_p.bind(a, **_params(hermitian=hermitian)), vh
    return svd_u_p.bind(a, **params), svdvals_p.bind(a, **_params(hermitian=hermitian)), svd_vh_p.bind(a, **params)


def _lower_when_hermitian(rule):
    """``rule``, whose cotangent is for any change of a, made that of NumPy's ``hermitian=True``
    (svd and pinv through eigh), which reads a's lower triangle only (as eigh's rules)."""
    def read(g, ans, a, **params):
        ct = rule(g, ans, a, **params)
        return _read_from_triangle(ct, True) if params.get("hermitian") else ct
    return read


def _refuse_complex_full(a):
    if is_complex(a):  # (the handler binds svd_vectors_p for every other complex a)
        raise NotImplementedError(
            "no gradient flows through U or Vh of np.linalg.svd(a, full_matrices=True) when a is complex and "
            "not square: use full_matrices=False (where U's and Vh's arbitrary phases are checked together)")


def _svd_f(s):
    """F[i, j] = 1 / (s[j]**2 - s[i]**2) off the diagonal, 0 on it."""
    s2 = s * s
    eye = _eye(np.shape(s)[-1], s)
    return 1 / (s2[..., None, :] - s2[..., :, None] + eye) - eye


def _refuse_full(name, full_matrices, extra):
    if full_matrices and extra:
        raise NotImplementedError(
            f"no gradient flows through {name} of np.linalg.svd(a, full_matrices=True) when a is "
            f"{'tall' if name == 'U' else 'wide'}: its extra {'columns' if name == 'U' else 'rows'} are an "
            "arbitrary basis. Use full_matrices=False."
        )


def _svdvals_vjp(g, ans, a, hermitian=False):
    # ds_k = Re(u_k^H da v_k): the cotangent is u diag(g) vh, conjugated for complex a
    u, _, vh = _reduced_svd(a, hermitian)
    return conj((u * g[..., None, :]) @ vh)


def _svd_u_vjp(g, ans, a, full_matrices=True, hermitian=False):
    _refuse_full("U", full_matrices, np.shape(a)[-2] > np.shape(a)[-1])
    _refuse_complex_full(a)
    u, s, vh = _reduced_svd(a, hermitian)
    utg = _T(u) @ g
    ct = u @ ((_svd_f(s) * (utg - _T(utg))) * s[..., None, :]) @ vh
    if np.shape(a)[-2] > np.shape(a)[-1]:  # u is not square: the part of g outside its columns
        ct = ct + ((g - u @ utg) / s[..., None, :]) @ vh
    return ct


def _svd_vh_vjp(g, ans, a, full_matrices=True, hermitian=False):
    _refuse_full("Vh", full_matrices, np.shape(a)[-1] > np.shape(a)[-2])
    _refuse_complex_full(a)
    u, s, vh = _reduced_svd(a, hermitian)
    vtgv = vh @ _T(g)
    ct = u @ (s[..., :, None] * (_svd_f(s) * (vtgv - _T(vtgv)))) @ vh
    if np.shape(a)[-1] > np.shape(a)[-2]:  # vh is not square
        ct = ct + u @ ((g - (g @ _T(vh)) @ vh) / s[..., :, None])
    return ct


# The singular vectors of a complex matrix. Each pair (u_k, v_k) is defined up to a common phase
# e^{i phi_k} (LAPACK picks one), so a gradient exists only for a loss blind to the phases, and
# whether it is depends on U's and Vh's cotangents together: U diag(s) Vh is blind, U and Vh
# alone are not. One primitive holds both, U above Vh^T ((..., m + n, k), reduced), so that one
# rule sees both cotangents; the handler slices U and Vh out of it.
def _split_vectors(uv, a):
    m = np.shape(a)[-2]
    return uv[..., :m, :], _T(uv[..., m:, :])


def _svd_vectors(a, full_matrices=True, hermitian=False):
    u, _, vh = np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian)
    return np.concatenate([u, np.swapaxes(vh, -1, -2)], axis=-2)


def _emit_svd_vectors(target, args, **params):
    # uv = np.linalg.svd(a, full_matrices=False)
    # uv = np.concatenate([uv.U, np.swapaxes(uv.Vh, -1, -2)], axis=-2)
    # (target stands for itself where it is read, as in _emit_scatter_add)
    vh_t = call(np_attr("swapaxes"), [ast.Attribute(value=target, attr="Vh"), py_literal(-1), py_literal(-2)])
    both = ast.List(elts=[ast.Attribute(value=target, attr="U"), vh_t], ctx=ast.Load())
    return [ast.Assign(targets=[target], value=call(np_attr("linalg.svd"), args, params)),
            ast.Assign(targets=[target], value=call(np_attr("concatenate"), [both], {"axis": -2}))]


def _svd_vectors_vjp(g, ans, a, full_matrices=True, hermitian=False):
    # In the conjugate convention (dL = Re tr(gu^H dU) + Re tr(gv^H dV), V = Vh^H), with
    # j = U^H gu, k = V^H gv and F as in _svd_f, the conjugate of a's cotangent is
    #   U [(F * (j - j^H)) S + S (F * (k - k^H)) + i Im(diag j) / S] V^H
    #   + (gu - U j) S^-1 V^H (a tall)  + U S^-1 (gv - V k)^H (a wide).
    # From P = U^H da V: dU = U W + (1 - U U^H) da V S^-1, dV = V X + (1 - V V^H) da^H U S^-1, with
    # W, X anti-Hermitian, fixed off the diagonal by P, and on it only W_kk - X_kk = i Im(P_kk) / s_k:
    # each pair's phase, put on u_k (X_kk = 0). Any other split gives the same gradient exactly
    # when dL/dphi_k = -Im(j_kk + k_kk) = 0, which is checked. For real a it is Townsend's rule.
    u, vh = _split_vectors(ans, a)
    m, n = np.shape(a)[-2:]
    s = svdvals_p.bind(a, **_params(hermitian=hermitian))
    gu, gv = conj(g[..., :m, :]), g[..., m:, :]  # (ans holds conj(V): its cotangent is gv as it is)
    j, k = conj(_T(u)) @ gu, vh @ gv
    if is_complex(ans):
        _require_phases_fixed(np.imag(np.diagonal(j + k, axis1=-2, axis2=-1)), g, ans, (
            "the loss depends on the phases of the singular vectors of a complex matrix (each pair u_k, v_k "
            "is defined up to a common phase, which LAPACK picks), so it has no gradient: make it depend on "
            "|U|**2, U U^H, U diag(s) Vh or the singular values. (A loss that does not change with the vectors "
            "at all, as the error of a's best low-rank approximation |a - U[:, :r] diag(s[:r]) Vh[:r]|**2, gets here "
            "a cotangent made of rounding errors, whose phases cannot be told: write it with the singular values, "
            "np.sum(s[r:] ** 2).)"))
    f = _svd_f(s)
    inner = (f * (j - conj(_T(j)))) * s[..., None, :] + s[..., :, None] * (f * (k - conj(_T(k))))
    if is_complex(ans):
        inner = inner + 1j * (np.imag(j) * _eye(np.shape(s)[-1], s)) / s[..., None, :]
    ct = u @ inner @ vh
    if m > n:  # u is not square: the part of gu outside its columns
        ct = ct + ((gu - u @ j) / s[..., None, :]) @ vh
    if n > m:  # vh is not square
        ct = ct + u @ ((conj(_T(gv)) - conj(_T(k)) @ vh) / s[..., :, None])
    return conj(ct)


svdvals_p = _linalg("svdvals", lambda a, hermitian=False: np.linalg.svd(a, compute_uv=False, hermitian=hermitian),
                    np_function("linalg.svd", compute_uv=False), rule=_lower_when_hermitian(_svdvals_vjp))
_SINGULAR_VECTORS = ("needs distinct, non-zero singular values (divides by their differences); no gradient "
                     "through {} of full_matrices=True when a is {}")
svd_u_p = _linalg("svd_u", lambda a, full_matrices=True, hermitian=False: np.linalg.svd(
    a, full_matrices=full_matrices, hermitian=hermitian).U, _result("linalg.svd", "U"), rule=_lower_when_hermitian(_svd_u_vjp),
    caveat=_SINGULAR_VECTORS.format("U", "tall"))
svd_vh_p = _linalg("svd_vh", lambda a, full_matrices=True, hermitian=False: np.linalg.svd(
    a, full_matrices=full_matrices, hermitian=hermitian).Vh, _result("linalg.svd", "Vh"), rule=_lower_when_hermitian(_svd_vh_vjp),
    caveat=_SINGULAR_VECTORS.format("Vh", "wide"))
# (a complex a's U and Vh are svd_vectors_p, but of full_matrices=True when a is not square)
svd_u_p.complex_values = svd_vh_p.complex_values = "no: of full_matrices=True when a is not square"
_PHASES = ("complex a: only for losses blind to each singular pair's arbitrary phase (checked on every call, an "
           "error otherwise)")
svd_vectors_p = _linalg("svd_vectors", _svd_vectors, emit_statements=_emit_svd_vectors,
                        rule=_lower_when_hermitian(_svd_vectors_vjp),
                        caveat="U above Vh^T, of a complex a (reduced, or square); needs distinct, non-zero "
                               "singular values; " + _PHASES)


# Pseudo-inverse p of a (constant rank): Golub & Pereyra,
# dp = -p da p + p p.T da.T (1 - a p) + (1 - p a) da.T p.T p
def _pinv_vjp_from(gp, p, a):
    # dp = -p da p + p p^H da^H (1 - a p) + (1 - p a) da^H p^H p: the terms in da^H are not
    # holomorphic, and their cotangents are conjugated (the identity for real matrices)
    pt = _T(p)
    ph = conj(pt)
    x = _T(gp) @ p @ ph  # (1 - a p) x
    y = ph @ p @ _T(gp)  # y (1 - p a)
    return -pt @ gp @ pt + conj((x - a @ (p @ x)) + (y - (y @ p) @ a))


_CONSTANT_RANK = "assumes the rank of a does not change near it (full rank is the safe case)"
_HERMITIAN = "hermitian=True: NumPy reads a's lower triangle (through eigh), so the gradient is on that triangle"
pinv_p = _linalg("pinv", np.linalg.pinv, rule=_lower_when_hermitian(lambda g, ans, a, **params: _pinv_vjp_from(
    g, ans, a)), caveat=_CONSTANT_RANK + "; " + _HERMITIAN)


# QR a = q r (reduced), for a with at least as many rows as columns (Liao et al. 2019, "Differentiable
# programming tensor networks"), with cotangents x_bar such that dL = Re tr(x_bar^H dx):
# a_bar = (q_bar + q copyltu(r r_bar^H - q_bar^H q)) r^-H, copyltu(m) = tril(m, -1) + tril(m, -1)^H
# + Re(diag(m)) (Hermitian, with m's lower triangle). The Re: LAPACK gives r a real diagonal, complex a
# too, so q^H dq is skew-Hermitian with the imaginary diagonal that keeps dr's real. tracediff's
# cotangents are the conjugates, g = conj(x_bar): m = r g_r^T - g_q^T q, g_a = (g_q + conj(q copyltu(m))) r^-T.
# A wide a = [x | y] is qr(x) and r = [u | q^H y].
def _qr_vjp(gq, gr, q, r, a):
    m, n = np.shape(a)[-2:]
    if m >= n:
        return _qr_vjp_tall(gq, gr, q, r)
    gu = None if gr is None else gr[..., :, :m]
    gv = None if gr is None else gr[..., :, m:]
    if gv is not None:
        y_gv = conj(a[..., :, m:] @ _T(gv))
        gq = y_gv if gq is None else gq + y_gv
    gx = _qr_vjp_tall(gq, gu, q, r[..., :, :m])
    gy = np.zeros(np.shape(a)[:-1] + (n - m,), _dtype(a)) if gv is None else conj(q) @ gv
    return np.concatenate([gx, gy], axis=-1)


def _qr_vjp_tall(gq, gr, q, r):
    terms = ([] if gq is None else [-_T(gq) @ q]) + ([] if gr is None else [r @ _T(gr)])
    m = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    lower = m * _triangle_mask(np.shape(r)[-1], True, m)  # its diagonal halved: lower + lower^H is copyltu(m)
    b = conj(q @ (lower + conj(_T(lower))))
    return _solve_transposed(r, b if gq is None else gq + b)


_QR_SIGNS = ("complex a: no derivative along imaginary directions at a square or wide a whose last pivot is "
             "real (a real matrix cast to complex), where NumPy's R[-1, -1] and Q[:, -1] change sign")


def _refuse_complete(mode, a):
    if mode == "complete" and np.shape(a)[-2] > np.shape(a)[-1]:
        raise NotImplementedError(
            "no gradient flows through Q of np.linalg.qr(a, mode='complete') when a has more rows "
            "than columns: its extra columns are an arbitrary basis. Use mode='reduced'."
        )


def _qr_r_vjp(g, ans, a, mode="reduced"):
    k = min(np.shape(a)[-2:])
    q = np.linalg.qr(a).Q
    return _qr_vjp(None, g[..., :k, :], q, ans[..., :k, :], a)  # rows past k are zero (complete)


def _qr_q_vjp(g, ans, a, mode="reduced"):
    _refuse_complete(mode, a)
    return _qr_vjp(g, None, ans, np.linalg.qr(a).R, a)


def _emit_qr_r(args, mode="reduced"):
    if mode == "r":
        return call(np_attr("linalg.qr"), args, {"mode": "r"})
    return _result("linalg.qr", "R")(args, **({"mode": mode} if mode != "reduced" else {}))


qr_q_p = _linalg("qr_q", lambda a, mode="reduced": np.linalg.qr(a, mode=mode).Q, _result("linalg.qr", "Q"),
                 rule=_qr_q_vjp, caveat="needs a of full rank; no gradient through Q of mode='complete' "
                                        "when a is tall; " + _QR_SIGNS)
qr_r_p = _linalg("qr_r", lambda a, mode="reduced": np.linalg.qr(a, mode=mode) if mode == "r" else
                 np.linalg.qr(a, mode=mode).R, _emit_qr_r, rule=_qr_r_vjp, caveat="needs a of full rank; " + _QR_SIGNS)


# Least squares x = pinv(a) @ b, and its residuals |b - a x|^2, whose gradient needs no dx: x
# minimizes them (the envelope theorem): d|e|^2 = 2 Re(e^H (db - da x)), e = b - a x, so the
# cotangents take conj(e). Both assume the rank does not change near a.
def _lstsq_vjp_a(g, ans, a, b, rcond=None):
    gp = g[:, None] * b[None, :] if np.ndim(b) == 1 else g @ _T(b)
    return _pinv_vjp_from(gp, np.linalg.pinv(a), a)


def _lstsq_vjp_b(g, ans, a, b, rcond=None):
    return _T(np.linalg.pinv(a)) @ g


def _residuals_vjp_a(g, ans, a, b, rcond=None):
    if not np.size(ans):  # none: a is rank-deficient or has no more rows than columns
        return None
    x = np.linalg.lstsq(a, b, rcond=rcond)[0]
    r = g * conj(b - a @ x)
    return -2 * (r[:, None] * x[None, :] if np.ndim(b) == 1 else r @ _T(x))


def _residuals_vjp_b(g, ans, a, b, rcond=None):
    if not np.size(ans):
        return None
    return 2 * g * conj(b - a @ np.linalg.lstsq(a, b, rcond=rcond)[0])


def _lstsq_result(name, index, **kwargs):
    # rcond=None is NumPy 2's default, and said explicitly for older NumPy (which warns)
    return _linalg(name, lambda a, b, rcond=None: np.linalg.lstsq(a, b, rcond=rcond)[index],
                   lambda args, rcond=None: _result("linalg.lstsq", index)(args, rcond=rcond), **kwargs)


lstsq_p = _lstsq_result("lstsq", 0, rule=(_lstsq_vjp_a, _lstsq_vjp_b), caveat=_CONSTANT_RANK)
lstsq_residuals_p = _lstsq_result(
    "lstsq_residuals", 1, rule=(_residuals_vjp_a, _residuals_vjp_b),
    caveat=_CONSTANT_RANK + "; NumPy returns no residuals for a rank-deficient a, and a specialization keeps "
                            "the shape it was traced with")
lstsq_rank_p = _lstsq_result("lstsq_rank", 2, differentiable=False)


# --- NumPy's functions -----------------------------------------------------------------------

_EighResult = type(np.linalg.eigh(np.eye(1)))
_EigResult = type(np.linalg.eig(np.eye(1)))
_SVDResult = type(np.linalg.svd(np.eye(1)))
_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))
_QRResult = type(np.linalg.qr(np.eye(1)))


def _params(**given) -> dict:
    """Parameters that differ from NumPy's defaults (written as the defaults give: nothing)."""
    defaults = {"UPLO": "L", "upper": False, "hermitian": False, "full_matrices": True, "mode": "reduced"}
    return {k: v for k, v in given.items() if defaults.get(k, object()) != v}


def _square(a) -> bool:
    return np.shape(a)[-1] == np.shape(a)[-2]


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    s = svdvals_p.bind(a, **_params(hermitian=hermitian))
    if not compute_uv:
        return s
    # full_matrices makes no difference for a square a: leave it out, so U and Vh match the rules'
    params = _params(full_matrices=bool(full_matrices) or _square(a), hermitian=hermitian)
    if is_complex(a) and (_square(a) or not full_matrices):  # U and Vh from one primitive (see svd_vectors_p)
        u, vh = _split_vectors(svd_vectors_p.bind(a, **params), a)
        return _SVDResult(u, s, vh)
    return _SVDResult(svd_u_p.bind(a, **params), s, svd_vh_p.bind(a, **params))


def _qr(a, mode="reduced"):
    if mode not in ("reduced", "complete", "r"):
        raise NotImplementedError(f"np.linalg.qr(a, mode={mode!r}) is not supported on traced values")
    if mode == "complete" and np.shape(a)[-2] <= np.shape(a)[-1]:
        mode = "reduced"  # the same factors
    if mode == "r":
        return qr_r_p.bind(a, mode="r")
    params = _params(mode=mode)
    return _QRResult(qr_q_p.bind(a, **params), qr_r_p.bind(a, **params))


def _lstsq(a, b, rcond=None):
    return (lstsq_p.bind(a, b, rcond=rcond), lstsq_residuals_p.bind(a, b, rcond=rcond),
            lstsq_rank_p.bind(a, b, rcond=rcond), svdvals_p.bind(a))


FUNCTIONS.update({
    np.linalg.inv: lambda a: inv_p.bind(a),
    np.linalg.solve: lambda a, b: solve_p.bind(a, b),
    np.linalg.det: lambda a: det_p.bind(a),
    np.linalg.matrix_power: _matrix_power,
})


def _slogdet(a):
    if is_complex(a):  # the sign is a phase, which moves with a: det / |det|, differentiated
        det = det_p.bind(a)
        return _SlogdetResult(det / np.abs(det), slogdet_p.bind(a))
    return _SlogdetResult(slogdet_sign_p.bind(a), slogdet_p.bind(a))  # +-1: no gradient


def _eigvals(a):
    w = eigvals_p.bind(a, **_complex_params(a))
    return np.real(w) if _real_eigenvalues(a, w) else w


def _eig(a):
    w, v = eig_values_p.bind(a, **_complex_params(a)), eig_vectors_p.bind(a, **_complex_params(a))
    return _EigResult(np.real(w), np.real(v)) if _real_eigenvalues(a, w) else _EigResult(w, v)


_REAL_OR_COMPLEX = ("a real matrix's results are real when all its eigenvalues are (NumPy's test, checked on "
                    "every call: another result type traces again)")
FUNCTIONS.update({
    np.linalg.eigvals: _describe(_eigvals, _REAL_OR_COMPLEX + "; " + eigvals_p.caveat),
    np.linalg.eig: _describe(_eig, _REAL_OR_COMPLEX + "; " + eig_values_p.caveat + "; eigenvectors: "
                             + eig_vectors_p.caveat + "; the values and the vectors are two calls to eig"),
})
FUNCTIONS.update({
    np.linalg.slogdet: _describe(_slogdet, "real matrices: no gradient flows through the sign (+-1); complex: "
                                           "the sign is det / |det|, differentiated"),
    np.linalg.eigvalsh: _describe(lambda a, UPLO="L": eigvalsh_p.bind(a, **_params(UPLO=UPLO)), eigvalsh_p.caveat),
    np.linalg.eigh: _describe(lambda a, UPLO="L": _EighResult(eigvalsh_p.bind(a, **_params(UPLO=UPLO)),
                                                              eigh_vectors_p.bind(a, **_params(UPLO=UPLO))),
                              "eigenvectors: " + eigh_vectors_p.caveat),
})
FUNCTIONS.update({
    np.linalg.cholesky: _describe(lambda a, upper=False: cholesky_p.bind(a, **_params(upper=upper)),
                                  cholesky_p.caveat),
    np.linalg.svd: _describe(_svd, "U and Vh (not S): " + _SINGULAR_VECTORS.format("U (Vh)", "tall (wide)")
                             + "; " + _PHASES + ", and none through U or Vh of full_matrices=True when a is "
                               "not square; " + _HERMITIAN),
    np.linalg.svdvals: _describe(lambda x: svdvals_p.bind(x), ""),
    np.linalg.pinv: _describe(lambda a, rcond=None, hermitian=False, **kw: pinv_p.bind(
        a, **{k: v for k, v in {"rcond": rcond, **kw}.items() if v is not None}, **_params(hermitian=hermitian)),
        _CONSTANT_RANK + "; " + _HERMITIAN),
    np.linalg.qr: _describe(_qr, qr_q_p.caveat),
    np.linalg.lstsq: _describe(_lstsq, "the rank is not differentiable; " + lstsq_residuals_p.caveat),
})


# --- composed of the above ---------------------------------------------------------------------

def _cond(x, p=None):
    known = p in ("fro", "nuc") if isinstance(p, str) else p is None or p in (1, -1, 2, -2, np.inf, -np.inf)
    if not known:
        raise ValueError(f"np.linalg.cond: invalid norm order {p!r}; NumPy supports None, 1, -1, 2, -2, "
                         "np.inf, -np.inf, 'fro' and 'nuc'")
    if np.ndim(x) < 2:
        raise np.linalg.LinAlgError(f"np.linalg.cond: {np.ndim(x)}-dimensional array given; the array "
                                    "must be at least two-dimensional")
    if p is None or p in (2, -2):  # the ratio of the extreme singular values
        s = np.linalg.svd(x, compute_uv=False)
        return s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
    if not _square(x):
        raise np.linalg.LinAlgError("np.linalg.cond: last 2 dimensions of the array must be square")
    return np.linalg.norm(x, p, axis=(-2, -1)) * np.linalg.norm(np.linalg.inv(x), p, axis=(-2, -1))


def _matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    if tol is not None and rtol is not None:
        raise ValueError("np.linalg.matrix_rank: `tol` and `rtol` can't be both set")
    if np.ndim(A) < 2:
        return int(not np.all(A == 0))  # a Python int, as NumPy (a decision on values: guarded)
    S = np.linalg.svd(A, compute_uv=False, hermitian=hermitian)
    if tol is None:
        rtol = max(np.shape(A)[-2:]) * np.finfo(S.dtype).eps if rtol is None else np.expand_dims(rtol, -1)
        tol = np.max(S, axis=-1, keepdims=True) * rtol
    else:
        tol = np.expand_dims(tol, -1)
    return np.count_nonzero(S > tol, axis=-1)


def _matrix_transpose(x, /):
    if np.ndim(x) < 2:
        raise ValueError(f"matrix_transpose: the input must be at least 2-D, got {np.ndim(x)} dimensions")
    return _T(x)


def _multi_dot(arrays, *, out=None):
    if out is not None:
        raise TypeError("np.linalg.multi_dot: out= is not supported on traced values")
    if len(arrays) < 2:
        raise ValueError("np.linalg.multi_dot: expecting at least two arrays")
    if any(np.ndim(a) != 2 for a in arrays[1:-1]) or not all(np.ndim(a) in (1, 2) for a in arrays[::len(arrays) - 1]):
        raise ValueError("np.linalg.multi_dot: the arrays must be 2-D, but the first and last may be 1-D")
    product = arrays[0]
    for a in arrays[1:]:  # (a 1-D first array is a row, a 1-D last one a column, as with @)
        product = product @ a
    return product


def _linalg_outer(x1, x2, /):
    if np.ndim(x1) != 1 or np.ndim(x2) != 1:
        raise ValueError("np.linalg.outer: input arrays must be one-dimensional")
    return _outer(x1, x2)


def _linalg_cross(x1, x2, /, *, axis=-1):
    if np.shape(x1)[axis] != 3 or np.shape(x2)[axis] != 3:
        raise ValueError("np.linalg.cross: both input arrays must be (arrays of) 3-dimensional vectors")
    return _cross(x1, x2, axis=axis)


def _linalg_vecdot(x1, x2, /, *, axis=-1):
    if _dtype(x1).kind == "c":
        x1 = np.conj(x1)
    return np.sum(x1 * x2, axis=axis)


def _polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    # NumPy's: least squares on the Vandermonde matrix with its columns scaled to unit norm
    if cov:
        raise NotImplementedError("np.polyfit(cov=True) is not supported on traced values")
    order = int(deg) + 1
    x, y = _as_array(x) + 0.0, _as_array(y) + 0.0
    if deg < 0:
        raise ValueError("np.polyfit: expected deg >= 0")
    if np.ndim(x) != 1 or not np.size(x):
        raise TypeError("np.polyfit: expected a non-empty 1-D vector for x")
    if np.ndim(y) not in (1, 2) or np.shape(y)[0] != np.shape(x)[0]:
        raise TypeError("np.polyfit: expected a 1-D or 2-D y with as many rows as x")
    rcond = len(x) * np.finfo(_dtype(x)).eps if rcond is None else rcond
    lhs, rhs = np.vander(x, order), y
    if w is not None:
        w = _as_array(w) + 0.0
        if np.shape(w) != np.shape(x):
            raise TypeError("np.polyfit: expected w to be 1-D, with the same length as x")
        lhs = lhs * w[:, None]
        weighted = rhs * (w[:, None] if np.ndim(rhs) == 2 else w)
        rhs = weighted if _dtype(weighted) == _dtype(rhs) else weighted.astype(_dtype(rhs))  # NumPy weighs in place
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))
    c, residuals, rank, s = np.linalg.lstsq(lhs / scale, rhs, rcond)
    c = (c.T / scale).T
    return (c, residuals, rank, s, rcond) if full else c


def _tensorinv(a, ind=2):
    ind = operator.index(ind)
    if ind <= 0:
        raise ValueError("np.linalg.tensorinv: invalid ind argument")
    shape = np.shape(a)
    inverse = np.linalg.inv(np.reshape(a, (int(np.prod(shape[:ind])), -1)))
    return np.reshape(inverse, shape[ind:] + shape[:ind])


def _tensorsolve(a, b, axes=None):
    ndim = np.ndim(a)
    if axes is not None:  # those axes of a go last, in the order given
        rest = [k for k in range(ndim) if k not in [int(k) % ndim for k in axes]]
        a = np.transpose(a, rest + [int(k) % ndim for k in axes])
    shape = np.shape(a)[ndim - (ndim - np.ndim(b)):]
    n = int(np.prod(shape))
    if np.size(a) != n * n:
        raise np.linalg.LinAlgError("np.linalg.tensorsolve: input arrays must satisfy the requirement "
                                    "prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])")
    return np.reshape(np.linalg.solve(np.reshape(a, (n, n)), np.ravel(b)), shape)


FUNCTIONS.update({
    np.linalg.cond: _describe(_cond, "p=None, 2, -2 through the singular values (distinct ones); the other p "
                                     "as norm(x, p) * norm(inv(x), p); a singular matrix raises (NumPy: inf)"),
    np.linalg.matrix_rank: _describe(_matrix_rank, "no gradient (an integer)", differentiable=False),
    np.linalg.multi_dot: _describe(_multi_dot, "multiplied left to right (NumPy picks the cheapest order: the "
                                               "values may differ by rounding)"),
    np.polyfit: _describe(_polyfit, "through np.linalg.lstsq (full rank); NumPy's warning for a rank-deficient "
                                    "fit is not given"),
    np.linalg.tensorinv: _tensorinv, np.linalg.tensorsolve: _tensorsolve,
    np.linalg.matmul: lambda x1, x2, /: np.matmul(x1, x2),
    np.linalg.tensordot: lambda x1, x2, /, *, axes=2: _tensordot(x1, x2, axes),
    np.linalg.outer: _linalg_outer, np.linalg.cross: _linalg_cross, np.linalg.vecdot: _linalg_vecdot,
    np.linalg.trace: lambda x, /, *, offset=0, dtype=None: np.trace(x, offset, -2, -1, dtype),
    np.linalg.diagonal: lambda x, /, *, offset=0: np.diagonal(x, offset, -2, -1),
    np.linalg.matrix_transpose: _matrix_transpose, np.matrix_transpose: _matrix_transpose,
})
# Their complex paths go through svd_vectors_p, never svd_u_p / svd_vh_p (which they reach for real
# matrices); so do np.linalg.norm's (reductions.py)
FUNCTIONS[np.linalg.svd].complex_values = FUNCTIONS[np.linalg.cond].complex_values = "yes"

