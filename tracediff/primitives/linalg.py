"""Products and linear algebra, each primitive beside its VJP rules.

Products: ``@``/``np.matmul``, ``np.dot`` (every case), ``vdot inner outer tensordot einsum kron
cross``. Most are written with three primitives, ``matmul``, ``tensordot`` and ``einsum``, so the
generated code shows what the product computes. ``np.linalg``: ``inv solve det slogdet cholesky
eigh eigvalsh svd svdvals pinv qr lstsq matrix_power``, over stacks of matrices wherever NumPy
allows them (``(..., M, N)``); NumPy 2's ``vecdot matvec vecmat`` ufuncs. Composed of these:
``correlate convolve`` (sliding windows times a vector), ``poly polymul polyfit``,
``np.linalg.cond matrix_rank multi_dot tensorinv tensorsolve`` and the ``np.linalg`` aliases.

**Several results, one primitive each.** A graph node has one output, so a NumPy function with
several results is one primitive per result, each written as the NumPy call and the result it
takes: ``w, v = np.linalg.eigh(a)`` becomes ``w = np.linalg.eigvalsh(a)`` and
``v = np.linalg.eigh(a).eigenvectors``. Generated code stays plain NumPy, results nobody uses
are dropped as dead code, and a result a rule needs (``eigh``'s vector rule needs the values) is
bound again and merged with the user's by common-subexpression elimination. The price: using
two results of one call decomposes the matrix twice.

**Caveats** (the gradient is the derivative of what NumPy computes, where that exists):

- ``cholesky`` and ``eigh`` read one triangle of their argument (the lower one, or the upper for
  ``upper=True`` / ``UPLO='U'``), so the gradient lives on that triangle: the other gets zeros,
  the diagonal its own entry, and the read triangle both its own entry and its mirror's. For an
  argument built symmetric (``x @ x.T``, ``(b + b.T) / 2``) the gradient with respect to what it
  was built from is the same as with autograd's and JAX's symmetrized rules.
- ``eigh``'s eigenvector gradient divides by differences of eigenvalues: it is infinite (nan)
  for repeated eigenvalues, and inaccurate when two are close. Eigenvalue gradients are fine.
- ``svd``'s ``U`` and ``Vh`` gradients divide by differences of squared singular values (the same
  caveat) and by the singular values (so ``a`` must have full rank); singular values are fine.
  Of a non-square matrix with ``full_matrices=True`` (NumPy's default) the extra columns of
  ``U`` (or rows of ``Vh``) are arbitrary, so no gradient flows through that ``U`` (``Vh``): use
  ``full_matrices=False``. The same holds for ``Q`` of ``qr(a, mode='complete')`` of a tall ``a``.
- ``inv solve det slogdet`` need a non-singular matrix; ``pinv`` and ``lstsq`` a matrix whose
  rank does not change near the point (full rank is the safe case).
- Eigenvector and singular-vector signs are LAPACK's choice; the gradient is that of the vectors
  NumPy returns, which is smooth where LAPACK's choice is.
"""
from __future__ import annotations

import ast
import functools
import operator
import string
from collections import Counter

import numpy as np

from ..tracing import Tracer
from .core import FUNCTIONS, UFUNCS, Primitive, call, conj, defbatch, defvjp, is_complex, lift, np_attr, np_function
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
        if _dtype(x).kind == "c":
            raise NotImplementedError(f"np.{function} of complex traced values is not supported yet")


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
    return _correlation(a, v, start, length)


def _convolve(a, v, mode="full"):
    a, v = _as_array(a), _as_array(v)
    _sequences("convolve", a, v)
    n, m = np.shape(a)[0], np.shape(v)[0]
    start, length = _mode_range("convolve", mode, n, m, (min(n, m) - 1) // 2)
    return _correlation(a, v[::-1], start, length)  # convolution is correlation with v reversed


def _poly(seq_of_zeros):
    zeros = np.atleast_1d(seq_of_zeros)
    if np.ndim(zeros) != 1:
        raise NotImplementedError("np.poly of a matrix (its characteristic polynomial, through complex eigenvalues) "
                                  "is not supported on traced values; give the roots")
    if _dtype(zeros).kind == "c":
        raise NotImplementedError("np.poly of complex traced roots is not supported yet")
    dtype = _dtype(zeros) if _dtype(zeros).kind == "f" else np.dtype(np.float64)
    if not np.shape(zeros)[0]:
        return 1.0
    a = np.ones((1,), dtype)
    for zero in zeros:  # multiplied by (x - zero), one root after the other
        a = np.convolve(a, np.stack([np.ones((), dtype), -zero.astype(dtype)]))
    return a


def _polymul(a1, a2):
    return _convolve(np.atleast_1d(a1), np.atleast_1d(a2))


FUNCTIONS.update({np.dot: _dot, np.tensordot: _tensordot, np.inner: _inner, np.vdot: _vdot,
                  np.outer: _outer, np.kron: _kron, np.cross: _cross, np.einsum: _einsum,
                  np.einsum_path: _describe(_einsum_path, "", differentiable=False)})
_ROUNDING = "NumPy's values up to rounding (the products are summed in another order)"
FUNCTIONS.update({np.correlate: _describe(_correlate, _ROUNDING), np.convolve: _describe(_convolve, _ROUNDING),
                  np.polymul: _describe(_polymul, _ROUNDING), np.poly: _describe(_poly, _ROUNDING)})


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
    value = {"eye": eye, "lower": np.tril(ones) - 0.5 * eye, "upper": np.triu(ones) - 0.5 * eye,
             "tril": np.tril(ones), "strictly lower": np.tril(ones, -1)}[kind]
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


def _require_phase_blind(g, v):
    """A complex eigenvector's phase is arbitrary (LAPACK picks one), so the gradient through
    eigenvectors exists only for a loss that does not change when a phase does (|v|**2, v v^H,
    and eigh's own rules at higher order): dL/dphase_k = -Im((v^T g)_kk) must be 0. The test is
    a decision on values, so the generated code checks it on every call (a guard) and a call
    where it fails traces again, and raises here."""
    sensitivity = np.abs(np.imag(np.diagonal(_T(v) @ g, axis1=-2, axis2=-1)))
    scale = np.sqrt(np.sum(np.abs(g) ** 2, axis=-2)) + np.finfo(_dtype(v)).tiny
    if np.any(sensitivity > np.sqrt(np.finfo(_dtype(v)).eps) * scale):
        raise NotImplementedError(
            "the loss depends on the phases of the eigenvectors of a complex Hermitian matrix, which are "
            "arbitrary (LAPACK picks one), so it has no gradient: make it depend on |v|**2 or v v^H, or on "
            "the eigenvalues only")


eigvalsh_p = _linalg("eigvalsh", np.linalg.eigvalsh, rule=_eigvalsh_vjp, caveat=_ONE_TRIANGLE.format("UPLO='U'"))
eigh_vectors_p = _linalg("eigh_vectors", lambda a, UPLO="L": np.linalg.eigh(a, UPLO=UPLO).eigenvectors,
                         _result("linalg.eigh", "eigenvectors"), rule=_eigh_vectors_vjp,
                         caveat="divides by differences of eigenvalues: NaN for repeated ones, inaccurate for "
                                "close ones; complex: only for losses blind to each eigenvector's arbitrary phase "
                                "(checked on every call, an error otherwise); " + _ONE_TRIANGLE.format("UPLO='U'"))


# SVD a = u diag(s) vh (reduced): J. Townsend, "Differentiating the singular value decomposition"
def _reduced_svd(a, hermitian):
    """u, s, vh of the reduced SVD, bound directly: a rule may read a complex matrix's singular
    vectors (the singular values' rule), though no gradient flows through them (see below)."""
    params = _params(full_matrices=_square(a), hermitian=hermitian)
    return svd_u_p.bind(a, **params), svdvals_p.bind(a, **_params(hermitian=hermitian)), svd_vh_p.bind(a, **params)


def _refuse_complex_vectors(a):
    if is_complex(a):  # (reached at second order through the singular values' rule, too)
        raise NotImplementedError("no gradient flows through the singular vectors of a complex matrix yet: their "
                                  "phases are arbitrary; the singular values (np.linalg.svdvals) have one at first order")


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
    _refuse_complex_vectors(a)
    _refuse_full("U", full_matrices, np.shape(a)[-2] > np.shape(a)[-1])
    u, s, vh = _reduced_svd(a, hermitian)
    utg = _T(u) @ g
    ct = u @ ((_svd_f(s) * (utg - _T(utg))) * s[..., None, :]) @ vh
    if np.shape(a)[-2] > np.shape(a)[-1]:  # u is not square: the part of g outside its columns
        ct = ct + ((g - u @ utg) / s[..., None, :]) @ vh
    return ct


def _svd_vh_vjp(g, ans, a, full_matrices=True, hermitian=False):
    _refuse_complex_vectors(a)
    _refuse_full("Vh", full_matrices, np.shape(a)[-1] > np.shape(a)[-2])
    u, s, vh = _reduced_svd(a, hermitian)
    vtgv = vh @ _T(g)
    ct = u @ (s[..., :, None] * (_svd_f(s) * (vtgv - _T(vtgv)))) @ vh
    if np.shape(a)[-1] > np.shape(a)[-2]:  # vh is not square
        ct = ct + u @ ((g - (g @ _T(vh)) @ vh) / s[..., :, None])
    return ct


svdvals_p = _linalg("svdvals", lambda a, hermitian=False: np.linalg.svd(a, compute_uv=False, hermitian=hermitian),
                    np_function("linalg.svd", compute_uv=False), rule=_svdvals_vjp)
_SINGULAR_VECTORS = ("needs distinct, non-zero singular values (divides by their differences); no gradient "
                     "through {} of full_matrices=True when a is {}")
svd_u_p = _linalg("svd_u", lambda a, full_matrices=True, hermitian=False: np.linalg.svd(
    a, full_matrices=full_matrices, hermitian=hermitian).U, _result("linalg.svd", "U"), rule=_svd_u_vjp,
    caveat=_SINGULAR_VECTORS.format("U", "tall"))
svd_vh_p = _linalg("svd_vh", lambda a, full_matrices=True, hermitian=False: np.linalg.svd(
    a, full_matrices=full_matrices, hermitian=hermitian).Vh, _result("linalg.svd", "Vh"), rule=_svd_vh_vjp,
    caveat=_SINGULAR_VECTORS.format("Vh", "wide"))


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
pinv_p = _linalg("pinv", np.linalg.pinv, rule=lambda g, ans, a, **params: _pinv_vjp_from(g, ans, a),
                 caveat=_CONSTANT_RANK)


# QR a = q r (reduced): for a with at least as many rows as columns (Liao et al. 2019, "Differentiable
# programming tensor networks"), with copyltu(m) = tril(m) + tril(m, -1).T:
# a_bar = (q_bar + q copyltu(r r_bar.T - q_bar.T q)) r^-T. A wide a = [x | y] is qr(x) and r = [u | q.T y].
def _qr_vjp(gq, gr, q, r, a):
    m, n = np.shape(a)[-2:]
    if m >= n:
        return _qr_vjp_tall(gq, gr, q, r)
    gu = None if gr is None else gr[..., :, :m]
    gv = None if gr is None else gr[..., :, m:]
    if gv is not None:
        y_gv = a[..., :, m:] @ _T(gv)
        gq = y_gv if gq is None else gq + y_gv
    gx = _qr_vjp_tall(gq, gu, q, r[..., :, :m])
    gy = np.zeros(np.shape(a)[:-1] + (n - m,), _dtype(a)) if gv is None else q @ gv
    return np.concatenate([gx, gy], axis=-1)


def _qr_vjp_tall(gq, gr, q, r):
    k = np.shape(r)[-1]
    terms = ([] if gq is None else [-_T(gq) @ q]) + ([] if gr is None else [r @ _T(gr)])
    m = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    copyltu = m * _constant("tril", k, _dtype(r)) + _T(m * _constant("strictly lower", k, _dtype(r)))
    b = q @ copyltu if gq is None else gq + q @ copyltu
    return _solve_transposed(r, b)


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
                                        "when a is tall")
qr_r_p = _linalg("qr_r", lambda a, mode="reduced": np.linalg.qr(a, mode=mode) if mode == "r" else
                 np.linalg.qr(a, mode=mode).R, _emit_qr_r, rule=_qr_r_vjp, caveat="needs a of full rank")


# Least squares x = pinv(a) @ b, and its residuals |b - a x|^2, whose gradient needs no dx: x
# minimizes them (the envelope theorem). Both assume the rank does not change near a.
def _lstsq_vjp_a(g, ans, a, b, rcond=None):
    gp = g[:, None] * b[None, :] if np.ndim(b) == 1 else g @ _T(b)
    return _pinv_vjp_from(gp, np.linalg.pinv(a), a)


def _lstsq_vjp_b(g, ans, a, b, rcond=None):
    return _T(np.linalg.pinv(a)) @ g


def _residuals_vjp_a(g, ans, a, b, rcond=None):
    if not np.size(ans):  # none: a is rank-deficient or has no more rows than columns
        return None
    x = np.linalg.lstsq(a, b, rcond=rcond)[0]
    r = g * (b - a @ x)
    return -2 * (r[:, None] * x[None, :] if np.ndim(b) == 1 else r @ _T(x))


def _residuals_vjp_b(g, ans, a, b, rcond=None):
    if not np.size(ans):
        return None
    return 2 * g * (b - a @ np.linalg.lstsq(a, b, rcond=rcond)[0])


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
    if is_complex(a):
        raise NotImplementedError("np.linalg.svd of a complex traced matrix is supported for its singular values "
                                  "only (compute_uv=False, or np.linalg.svdvals): the singular vectors' phases "
                                  "are arbitrary")
    # full_matrices makes no difference for a square a: leave it out, so U and Vh match the rules'
    params = _params(full_matrices=bool(full_matrices) or _square(a), hermitian=hermitian)
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


def _real_matrices(function, handler, *caveats):
    """``handler`` for real matrices only: these rules are written for real (symmetric, orthogonal)
    factors. (inv, solve and det are holomorphic: their rules hold for complex matrices as they are.)"""
    def checked(a, *args, **kwargs):
        if _dtype(a).kind == "c":
            raise NotImplementedError(f"np.linalg.{function.__name__} of a complex traced matrix is not supported yet")
        return handler(a, *args, **kwargs)
    checked.caveat = "; ".join(("real matrices only",) + caveats)
    return checked


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
                             + "; complex matrices: the singular values only"),
    np.linalg.svdvals: _describe(lambda x: svdvals_p.bind(x), ""),
    np.linalg.pinv: _describe(lambda a, rcond=None, hermitian=False, **kw: pinv_p.bind(
        a, **{k: v for k, v in {"rcond": rcond, **kw}.items() if v is not None}, **_params(hermitian=hermitian)),
        _CONSTANT_RANK),
})
FUNCTIONS.update({function: _real_matrices(function, handler, *caveats) for function, (handler, *caveats) in {
    np.linalg.qr: (_qr, qr_q_p.caveat),
    np.linalg.lstsq: (_lstsq, "the rank is not differentiable; " + lstsq_residuals_p.caveat),
}.items()})


# --- composed of the above ---------------------------------------------------------------------

def _cond(x, p=None):
    known = p in ("fro", "nuc") if isinstance(p, str) else p is None or p in (1, -1, 2, -2, np.inf, -np.inf)
    if not known:
        raise ValueError(f"np.linalg.cond: invalid norm order {p!r}; NumPy supports None, 1, -1, 2, -2, "
                         "np.inf, -np.inf, 'fro' and 'nuc'")
    if np.ndim(x) < 2:
        raise np.linalg.LinAlgError(f"np.linalg.cond: {np.ndim(x)}-dimensional array given; the array "
                                    "must be at least two-dimensional")
    if _dtype(x).kind == "c":
        raise NotImplementedError("np.linalg.cond of a complex traced matrix is not supported yet")
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
