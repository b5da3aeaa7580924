"""SciPy's linear algebra (``scipy.linalg``) on traced values, registered when ``scipy.linalg`` is
imported (see :mod:`.scipy_hook`).

New primitives, each beside its VJP rule, written as calls to ``scipy.linalg``:

- ``solve_triangular(a, b, trans, lower, unit_diagonal)``: x = op(a)^-1 b. b's cotangent is a
  solve with the transposed triangle; a's is -b_bar x^T (or its transpose for ``trans``), kept
  on the triangle SciPy reads (without the diagonal for ``unit_diagonal``).
- ``solve_banded((l, u), ab, b)``: the same for a matrix in SciPy's band storage. b's
  cotangent is a banded solve with the transposed band (rows of ab shifted); ab's is -b_bar x^T
  read back into band storage.
- ``expm(a)``: the adjoint of the Fréchet derivative is the upper-right block of
  ``expm([[a^T, g], [0, a^T]])`` (Higham, *Functions of Matrices*, 3.2), an ``expm`` itself, so
  every order is differentiable.
- ``solve_sylvester(a, b, q)``: x with a x + x b = q. q's cotangent solves the transposed
  equation, a^T q_bar + q_bar b^T = g; then a_bar = -q_bar x^T and b_bar = -x^T q_bar.
- ``sqrtm(a)``: x x = a, so dx solves x dx + dx x = da and a_bar = solve_sylvester(x^T, x^T, g).
  Real results only (a matrix without negative real eigenvalues).

Reused from ``np.linalg`` (linalg.py; generated code calls the NumPy function): ``inv``,
``solve``, ``det``, ``cholesky`` (``lower=False`` is NumPy's ``upper=True``), ``eigh``
(``lower``, ``eigvals_only``). ``cho_factor`` is ``cholesky`` (the triangle SciPy leaves
arbitrary is zero here), ``cho_solve`` two triangular solves. Only 2-D matrices (no batches) on
traced values; ``overwrite_*`` and ``check_finite`` are accepted and ignored.
"""
from __future__ import annotations

import ast

import numpy as np

from ..errors import MissingRuleError
from . import linalg
from .core import REGISTRY, Primitive, call, defbatch, defvjp, is_complex, py_literal
from .scipy_hook import install, when_imported

_OWN: dict = {}  # name -> SciPy's own function


def _function(name: str) -> ast.expr:
    """``scipy.linalg.<name>`` as an expression."""
    return ast.Attribute(value=ast.Attribute(value=ast.Name(id="scipy"), attr="linalg"), attr=name)


def _emit(name: str):
    def emit(args, **params):
        return call(_function(name), list(args), {k: py_literal(v) for k, v in params.items()})
    return emit


def _primitive(name: str, impl, rules, domain=(-2.0, 2.0), emit=None) -> Primitive:
    prim = Primitive(name, impl, emit or _emit(name), domain=domain, register=False)
    defvjp(prim, *rules)
    defbatch(prim, _batch(prim))
    return prim


def _batch(prim):
    """Batching by SciPy's own: these functions take stacks of matrices (..., n, n), so every
    operand gets the batch axis (a vector right-hand side becomes a column)."""
    def rule(args, batched, out_shape, **params):
        size = next(np.shape(a)[0] for a, b in zip(args, batched) if b)
        column = prim.name in ("solve_triangular", "solve_banded") and len(out_shape) == 1
        stacked = []
        for k, (a, b) in enumerate(zip(args, batched)):
            a = a if b else np.broadcast_to(a, (size,) + np.shape(a))
            stacked.append(a[..., None] if column and k == 1 else a)
        out = prim.bind(*stacked, **params)
        return out[..., 0] if column else out
    return rule


def _T(x):
    return np.swapaxes(x, -1, -2)


def _outer(u, v):
    """u v^T, for vectors or matrices (columns of right-hand sides)."""
    return u[:, None] * v[None, :] if np.ndim(u) == 1 else u @ _T(v)


def _triangle(m, lower: bool, unit_diagonal: bool):
    n = np.shape(m)[-1]
    k = -1 if unit_diagonal else 0
    mask = np.tril(np.ones((n, n)), k) if lower else np.triu(np.ones((n, n)), -k)
    return m * mask.astype(m.dtype)


# --- solve_triangular ------------------------------------------------------------------------

def _solve_triangular_impl(a, b, trans=0, lower=False, unit_diagonal=False):
    return _OWN["solve_triangular"](a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _solve_triangular_vjp_b(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    return solve_triangular_p.bind(a, g, **_params(1 - trans, lower, unit_diagonal))


def _solve_triangular_vjp_a(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    b_bar = solve_triangular_p.bind(a, g, **_params(1 - trans, lower, unit_diagonal))
    a_bar = -_outer(b_bar, ans) if trans == 0 else -_outer(ans, b_bar)
    return _triangle(a_bar, lower, unit_diagonal)


def _params(trans, lower, unit_diagonal) -> dict:
    """The parameters that differ from SciPy's defaults (the generated call leaves the rest out)."""
    given = {"trans": trans, "lower": bool(lower), "unit_diagonal": bool(unit_diagonal)}
    return {k: v for k, v in given.items() if v != {"trans": 0, "lower": False, "unit_diagonal": False}[k]}


solve_triangular_p = _primitive("solve_triangular", _solve_triangular_impl,
                                (_solve_triangular_vjp_a, _solve_triangular_vjp_b), domain=(0.5, 2.0))
solve_triangular_p.caveat = ("a's gradient is on the triangle SciPy reads (without the diagonal for "
                             "unit_diagonal=True); 2-D a only")


def _matrix(name: str, a) -> None:
    if np.ndim(a) != 2 or np.shape(a)[0] != np.shape(a)[1]:
        raise MissingRuleError(f"scipy.linalg.{name} on traced values takes one square 2-D matrix, not an array "
                               f"of shape {np.shape(a)} (batches are not supported: loop, or use np.linalg)")


def _trans(trans) -> int:
    t = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}.get(trans)
    if t is None:
        raise ValueError(f"scipy.linalg.solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', not {trans!r}")
    return t


def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    _matrix("solve_triangular", a)
    if np.ndim(b) not in (1, 2):
        raise MissingRuleError("scipy.linalg.solve_triangular on traced values: b must be 1-D or 2-D")
    if trans in (2, "C") and is_complex(a):  # a^H x = b is conj(a)^T x = b
        a = np.conj(a)
    return solve_triangular_p.bind(a, b, **_params(_trans(trans), lower, unit_diagonal))


# --- solve_banded ----------------------------------------------------------------------------
# SciPy's band storage: ab[u + i - j, j] = a[i, j] for the l sub- and u super-diagonals.

def _shifted(v, k: int, axis: int):
    """w with w[..., j, ...] = v[..., j + k, ...] along ``axis`` (negative), zero past the ends."""
    n = np.shape(v)[axis]
    if k == 0:
        return v
    if abs(k) >= n:
        return v * 0
    zeros = np.zeros(np.shape(v)[:axis % np.ndim(v)] + (abs(k),) + np.shape(v)[axis % np.ndim(v) + 1:], v.dtype)
    index = [slice(None)] * np.ndim(v)
    index[axis] = slice(k, None) if k > 0 else slice(None, n + k)
    parts = [v[tuple(index)], zeros] if k > 0 else [zeros, v[tuple(index)]]
    return np.concatenate(parts, axis=axis)


def _transposed_band(ab, l: int, u: int):
    """The band storage of a.T (l and u swap): row l + k holds a[j, j + k] = ab[u - k, j + k]."""
    return np.stack([_shifted(ab[..., u - k, :], k, -1) for k in range(-l, u + 1)], axis=-2)


def _as_columns(b, ab):
    return b[..., None] if np.ndim(b) == np.ndim(ab) - 1 else b


def _solve_banded_vjp_b(g, ans, ab, b, l, u):
    return solve_banded_p.bind(_transposed_band(ab, l, u), g, l=u, u=l)


def _solve_banded_vjp_ab(g, ans, ab, b, l, u):
    # a_bar = -b_bar x^T on the band: row r of ab_bar holds a_bar[j + r - u, j]
    b_bar, x = _as_columns(_solve_banded_vjp_b(g, ans, ab, b, l, u), ab), _as_columns(ans, ab)
    return np.stack([-np.sum(_shifted(b_bar, r - u, -2) * x, axis=-1) for r in range(l + u + 1)], axis=-2)


solve_banded_p = _primitive("solve_banded", lambda ab, b, l, u: _OWN["solve_banded"]((l, u), ab, b),
                            (_solve_banded_vjp_ab, _solve_banded_vjp_b), domain=(0.5, 2.0),
                            emit=lambda args, l, u: call(_function("solve_banded"), [py_literal((l, u)), *args]))
solve_banded_p.caveat = "the gradient for ab is on the entries SciPy reads (zero in the unused corners)"


def _solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    l, u = (int(k) for k in l_and_u)
    if np.ndim(ab) != 2 or np.shape(ab)[0] != l + u + 1 or np.ndim(b) not in (1, 2):
        raise MissingRuleError("scipy.linalg.solve_banded on traced values: ab must be 2-D with l + u + 1 rows, "
                               "b 1-D or 2-D (batches are not supported)")
    return solve_banded_p.bind(ab, b, l=l, u=u)


# --- cholesky, cho_factor, cho_solve ----------------------------------------------------------

def _cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    _matrix("cholesky", a)
    return linalg.cholesky_p.bind(a, **({} if lower else {"upper": True}))


def _cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    return _cholesky(a, lower), bool(lower)


def _cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    _matrix("cho_solve", c)
    # a = L L^H: x = L^-H (L^-1 b); a = U^H U: x = U^-1 (U^-H b) (^H: ^T for real matrices)
    if lower:
        return _solve_triangular(c, _solve_triangular(c, b, 0, True), "C", True)
    return _solve_triangular(c, _solve_triangular(c, b, "C", False), 0, False)


# --- expm ------------------------------------------------------------------------------------

def _expm_vjp(g, ans, a):
    n = np.shape(a)[-1]
    at = _T(a)
    zeros = np.zeros(np.shape(at), dtype=at.dtype)
    block = np.concatenate([np.concatenate([at, g], axis=-1), np.concatenate([zeros, at], axis=-1)], axis=-2)
    return expm_p.bind(block)[..., :n, n:]


expm_p = _primitive("expm", lambda a: _OWN["expm"](a), (_expm_vjp,))


def _expm(A):
    _matrix("expm", A)
    return expm_p.bind(A)


# --- solve_sylvester and sqrtm ----------------------------------------------------------------

def _sylvester_q_bar(g, a, b):
    return solve_sylvester_p.bind(_T(a), _T(b), g)


solve_sylvester_p = _primitive("solve_sylvester", lambda a, b, q: _OWN["solve_sylvester"](a, b, q), (
    lambda g, ans, a, b, q: -_sylvester_q_bar(g, a, b) @ _T(ans),
    lambda g, ans, a, b, q: -_T(ans) @ _sylvester_q_bar(g, a, b),
    lambda g, ans, a, b, q: _sylvester_q_bar(g, a, b),
))
solve_sylvester_p.caveat = "a and -b must have no eigenvalue in common (a unique solution)"


def _solve_sylvester(a, b, q):
    for m in (a, b):
        _matrix("solve_sylvester", m)
    return solve_sylvester_p.bind(a, b, q)


def _sqrtm_impl(a):
    x = _OWN["sqrtm"](a)
    if np.iscomplexobj(x) and not np.iscomplexobj(a):
        raise MissingRuleError("scipy.linalg.sqrtm on traced values: the square root of this real matrix is "
                               "complex (it has negative real eigenvalues), which tracediff does not differentiate")
    return x


sqrtm_p = _primitive("sqrtm", _sqrtm_impl, (lambda g, ans, a: solve_sylvester_p.bind(_T(ans), _T(ans), g),))
sqrtm_p.caveat = "real square roots only (no negative real eigenvalues); a singular a has no derivative"


def _sqrtm(A, *args, **kwargs):
    _matrix("sqrtm", A)
    return sqrtm_p.bind(A)


# --- the np.linalg ones ----------------------------------------------------------------------

def _inv(a, overwrite_a=False, check_finite=True):
    _matrix("inv", a)
    return linalg.inv_p.bind(a)


def _solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
           transposed=False):
    _matrix("solve", a)
    if transposed:
        a = _T(a)
    return linalg.solve_p.bind(a, b)  # the solution does not depend on assume_a's choice of method


def _det(a, overwrite_a=False, check_finite=True):
    _matrix("det", a)
    return linalg.det_p.bind(a)


def _eigh(a, b=None, *, lower=True, eigvals_only=False, **kwargs):
    _matrix("eigh", a)
    unsupported = sorted(k for k, v in kwargs.items() if v not in (None, False, True, 1) or
                         (k in ("subset_by_index", "subset_by_value", "driver") and v is not None) or
                         (k == "type" and v != 1))
    if b is not None or unsupported:
        raise MissingRuleError("scipy.linalg.eigh on traced values supports the standard problem only "
                               f"(no b, {', '.join(unsupported) or 'no subsets'})")
    params = {} if lower else {"UPLO": "U"}
    w = linalg.eigvalsh_p.bind(a, **params)
    return w if eigvals_only else (w, linalg.eigh_vectors_p.bind(a, **params))


_HANDLERS = {
    "solve_triangular": _solve_triangular, "solve_banded": _solve_banded, "cholesky": _cholesky,
    "cho_factor": _cho_factor, "cho_solve": _cho_solve, "expm": _expm, "solve_sylvester": _solve_sylvester,
    "sqrtm": _sqrtm, "inv": _inv, "solve": _solve, "det": _det, "eigh": _eigh,
}
_CAVEATS = {
    "cholesky": "the gradient is on the triangle SciPy reads (the upper one by default)",
    "cho_factor": "the triangle SciPy leaves arbitrary is zero; the gradient is on the other",
    "cho_solve": "the gradient for c is on its triangle",
    "solve": "assume_a does not change the gradient (it chooses SciPy's method, not the solution)",
    "eigh": "the standard problem only (no b, no subsets); " + linalg.eigh_vectors_p.caveat,
    "solve_triangular": solve_triangular_p.caveat, "sqrtm": sqrtm_p.caveat, "solve_banded": solve_banded_p.caveat,
    "solve_sylvester": solve_sylvester_p.caveat,
}


def register(module) -> None:
    """Install the wrappers in ``scipy.linalg``."""
    import scipy  # (imported already: scipy.linalg is being registered)

    for prim in (solve_triangular_p, solve_banded_p, expm_p, solve_sylvester_p, sqrtm_p):
        prim.namespace = {"scipy": scipy}
        REGISTRY[prim.name] = prim
    for name, handler in _HANDLERS.items():
        handler.caveat = _CAVEATS.get(name)
        own = install(module, name, handler, f"scipy.linalg.{name}")
        if own is not None:
            _OWN[name] = own


when_imported("scipy.linalg", register)
