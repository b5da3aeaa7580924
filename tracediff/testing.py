"""Checking gradients against finite differences.

>>> import numpy as np, tracediff as td
>>> td.testing.check_grads(lambda x: np.sum(np.sin(x) * x), np.linspace(-1, 1, 5))
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .pytree import flatten, leaf_paths, unflatten

# Finite differences run in float64 whatever the inputs' dtype; these bound the analytic
# gradient's error, which is set by the dtype it was computed in.
_TOLERANCES = {np.dtype(np.float32): (2e-3, 2e-3), np.dtype(np.float64): (1e-6, 1e-6),
               np.dtype(np.complex64): (2e-3, 2e-3), np.dtype(np.complex128): (1e-6, 1e-6)}


# Central differences balance truncation (h**2) against rounding (eps / h): h ~ eps ** (1/3).
_STEPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 5e-3, np.dtype(np.float16): 1e-1,
          np.dtype(np.complex128): 1e-6, np.dtype(np.complex64): 5e-3}


def _wide(x):
    """``x`` in float64, or complex128 when complex (the precision finite differences run in)."""
    return np.asarray(x, dtype=np.complex128 if np.iscomplexobj(x) else np.float64)


def numerical_vjp(fun: Callable, args: Sequence, argnum: int, cotangent, step: float | None = None):
    """Central-difference gradient of ``Re(sum(fun(*args) * cotangent))`` with respect to
    ``args[argnum]``, one leaf entry at a time. Inputs are upcast to float64 (complex128); the
    step suits the dtype the function really computes in (a function that casts to float32
    inside gets a float32 step).

    For a complex entry ``z = u + iv`` it is ``dL/du - i dL/dv``, tracediff's convention (JAX's
    and autograd's): the conjugate of the direction of steepest ascent. A complex ``cotangent``
    ``c`` of a complex output ``w`` stands for the real loss ``Re(sum(c * w))``, whose cotangent
    of ``w`` in that convention is ``c``."""
    leaves, tree = flatten(args[argnum])
    base = [_wide(x).copy() for x in leaves]

    def project(new_leaves):
        call_args = [_copy_arrays(a) for a in args]  # the function may write into its arguments
        call_args[argnum] = unflatten(tree, [type(orig)(x) if isinstance(orig, (float, complex)) else x
                                             for x, orig in zip(new_leaves, leaves)])
        return float(np.real(np.sum(_wide(fun(*call_args)) * cotangent)))

    if step is None:  # probe the output dtype (on copies: the function may write its inputs)
        probe = unflatten(tree, [type(orig)(x) if isinstance(orig, (float, complex)) else x.copy()
                                 for x, orig in zip(base, leaves)])
        call_args = _merge([_copy_arrays(a) for a in args], (argnum,), (probe,))
        step = _STEPS.get(np.result_type(np.asarray(fun(*call_args))), 1e-6)
    grads = []
    for k, x in enumerate(base):
        g = np.zeros_like(x)
        directions = (1.0, 1j) if np.iscomplexobj(x) else (1.0,)
        for idx in np.ndindex(x.shape):
            for direction in directions:  # dL/du, then -i dL/dv
                h = step * max(1.0, abs(complex(x[idx])))
                plus, minus = [b.copy() for b in base], [b.copy() for b in base]
                plus[k][idx] += h * direction
                minus[k][idx] -= h * direction
                g[idx] += (project(plus) - project(minus)) / (2 * h) * np.conj(direction)
        grads.append(g)
    return grads


def _random_like(rng, x):
    """Standard normal entries of ``x``'s shape, complex when ``x`` is."""
    shape = np.shape(x)
    if np.iscomplexobj(x):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return rng.standard_normal(shape)


def check_grads(fun: Callable, *args, argnums: int | Sequence[int] = 0, rtol: float | None = None,
                atol: float | None = None, seed: int = 0, order: int = 1, modes: Sequence[str] | None = None):
    """Check tracediff's gradient of ``fun`` against central finite differences.

    A non-scalar output is checked through a random projection (a vector-Jacobian product).
    Raises AssertionError naming the argument and its worst entries. Tolerances default to the
    argument's dtype (float32 looser than float64). ``order=2`` also checks the derivative of
    the (projected) gradient against finite differences of the gradient, and so on.

    autograd's and JAX's spellings work too, told apart by their arguments:

    - ``check_grads(fun, modes=["rev"], order=2)(*args)`` (autograd: no arguments at first)
      returns the checker;
    - ``check_grads(fun, args, order, modes=["rev"])`` (JAX: ``modes=`` given, the arguments as
      one tuple) checks with respect to every argument.

    ``modes``: ``"rev"`` checks reverse mode (to ``order``); ``"fwd"`` checks :func:`td.jvp`
    along a random tangent, to first order.

    >>> import numpy as np
    >>> check_grads(lambda x: np.sum(x ** 3), modes=["rev"], order=2)(np.ones(2))
    >>> check_grads(lambda x, y: np.sum(x * np.sin(y)), (np.ones(2), np.zeros(2)), 2, modes=["fwd", "rev"])
    """
    if not args:  # autograd's spelling: the arguments come in a second call
        def checker(*args):
            _check_modes(fun, args, argnums, rtol, atol, seed, order, modes)
        return checker
    if modes is not None:  # JAX's spelling: (fun, args, order, modes=...)
        order_given = len(args) == 2 and isinstance(args[1], int)
        if not isinstance(args[0], (tuple, list)) or not (len(args) == 1 or order_given):
            raise TypeError(
                "check_grads: with modes=, pass the arguments as one tuple, JAX's spelling "
                "check_grads(fun, (x, y), order, modes=[...]); tracediff's own spelling "
                "check_grads(fun, x, y, argnums=...) checks reverse mode and takes no modes"
            )
        order = args[1] if len(args) == 2 else order
        args = tuple(args[0])
        _check_modes(fun, args, tuple(range(len(args))), rtol, atol, seed, order, modes)
        return None
    from .api import vjp

    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if order > 1:
        check_grads(fun, *args, argnums=argnums, rtol=rtol, atol=atol, seed=seed, order=order - 1)
        _check_higher_order(fun, args, argnums, rtol, atol, seed, order)
        return
    out, pullback = vjp(lambda *diff: fun(*_merge(args, argnums, diff)), *[args[n] for n in argnums])
    rng = np.random.default_rng(seed)
    out_leaves, out_tree = flatten(out)
    if len(out_leaves) != 1:
        raise TypeError("check_grads needs a function with one array output")
    if np.ndim(out_leaves[0]) or np.iscomplexobj(out_leaves[0]):
        cotangent = _random_like(rng, out_leaves[0])
    else:
        cotangent = 1.0
    ct = np.asarray(cotangent, dtype=np.result_type(out_leaves[0]))
    analytic = pullback(unflatten(out_tree, [ct]))
    for n, g_arg in zip(argnums, analytic):
        numeric = numerical_vjp(fun, args, n, _wide(ct))
        paths = leaf_paths(args[n])
        for path, g, num, leaf in zip(paths, flatten(g_arg)[0], numeric, flatten(args[n])[0]):
            dtype = np.result_type(leaf)
            r, a = _TOLERANCES.get(dtype, _TOLERANCES[np.dtype(np.float64)])
            r, a = rtol if rtol is not None else r, atol if atol is not None else a
            if np.iscomplexobj(g) and not np.iscomplexobj(leaf):
                raise AssertionError(f"gradient of {getattr(fun, '__qualname__', fun)} with respect to "
                                     f"argument {n}{path} is complex ({np.result_type(g)}) for a real input")
            g = _wide(g)
            scale = max(1.0, float(np.max(np.abs(num))) if num.size else 1.0)
            err = np.abs(g - num)
            bad = ~(err <= a * scale + r * np.abs(num))  # NaN or inf in either is a mismatch
            if np.any(bad) or g.shape != num.shape:
                raise AssertionError(_report(fun, n, path, g, num, err))


def _check_modes(fun, args, argnums, rtol, atol, seed, order, modes):
    modes = ("rev",) if modes is None else (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes or any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"check_grads: modes must name 'fwd' and/or 'rev', got {list(modes)!r}")
    if "rev" in modes:
        check_grads(fun, *args, argnums=argnums, rtol=rtol, atol=atol, seed=seed, order=order)
    if "fwd" in modes:
        _check_forward(fun, args, (argnums,) if isinstance(argnums, int) else tuple(argnums), rtol, atol, seed)


def _check_forward(fun, args, argnums, rtol, atol, seed):
    """td.jvp along a random tangent against the central difference along it."""
    from .transforms import jvp

    primals = [args[n] for n in argnums]
    for n, p in zip(argnums, primals):
        if flatten(p)[1].kind is not None:
            raise TypeError(
                f"check_grads: modes=['fwd'] checks arguments that are arrays or floats, and argument {n} "
                "is a container; check it with modes=['rev']"
            )
    rng = np.random.default_rng(seed)
    tangents = [rng.standard_normal(np.shape(p)).astype(np.result_type(p)) for p in primals]

    def at(diff):  # fun with the checked arguments replaced (on copies: fun may write into them)
        return fun(*_merge([_copy_arrays(a) for a in args], argnums, diff))

    def along(h):  # in float64, a Python float staying a float
        return np.asarray(at([type(p)(np.asarray(p, dtype=np.float64) + h * t) if isinstance(p, float)
                              else np.asarray(p, dtype=np.float64) + h * t for p, t in zip(primals, tangents)]),
                          dtype=np.float64)

    out, analytic = jvp(lambda *diff: at(diff), [_copy_arrays(p) for p in primals],
                        [float(t) if isinstance(p, float) else t for p, t in zip(primals, tangents)])
    size = max([1.0] + [float(np.max(np.abs(p))) for p in primals if np.size(p)])
    h = _STEPS.get(np.result_type(out), 1e-6) * size
    numeric = (along(h) - along(-h)) / (2 * h)
    r, a = max(_TOLERANCES.get(np.result_type(p), _TOLERANCES[np.dtype(np.float64)]) for p in primals)
    r, a = rtol if rtol is not None else r, atol if atol is not None else a
    g = np.asarray(analytic, dtype=np.float64)
    err = np.abs(g - numeric)
    scale = max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)
    if g.shape != numeric.shape or np.any(~(err <= a * scale + r * np.abs(numeric))):
        name = getattr(fun, "__qualname__", repr(fun))
        raise AssertionError(
            f"forward-mode derivative (td.jvp) of {name} along a random tangent of argument(s) "
            f"{list(argnums)} does not match finite differences: {g.ravel()[:5]} vs {numeric.ravel()[:5]}, "
            f"largest difference {float(np.max(err)) if err.size else 0.0:.3g}"
        )


def _check_higher_order(fun, args, argnums, rtol, atol, seed, order):
    """The derivative of order ``order``: check the derivative of a random projection of the
    gradient of order ``order - 1`` (itself checked already)."""
    from .api import vjp

    rng = np.random.default_rng(seed + order)

    def of_differentiated(*diff):  # one function object, so vjp's compiled code is reused
        return fun(*_merge(args, argnums, diff))

    def projected_gradient(*diff):  # a real function of the arguments: Re(sum(g * w))
        out, pullback = vjp(of_differentiated, *diff)
        ct = rng_out if np.ndim(out) or np.iscomplexobj(out) else 1.0
        return sum(np.real(np.sum(g * w)) for g, w in zip(flatten(pullback(ct))[0], weights))

    diff_args = [args[n] for n in argnums]
    rng_out = _random_like(rng, fun(*[_copy_arrays(a) for a in args]))
    # one weight per leaf, so that arguments that are dicts, lists or tuples are checked too
    weights = [_random_like(rng, leaf) for a in diff_args for leaf in flatten(a)[0]]
    check_grads(projected_gradient, *diff_args, argnums=tuple(range(len(argnums))), rtol=rtol, atol=atol,
                seed=seed, order=order - 1)


def _copy_arrays(tree):
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [x.copy() if isinstance(x, np.ndarray) else x for x in leaves])


def _merge(args, argnums, diff):
    merged = list(args)
    for n, d in zip(argnums, diff):
        merged[n] = d
    return merged


def _report(fun, n, path, g, num, err) -> str:
    name = getattr(fun, "__qualname__", repr(fun))
    lines = [f"gradient of {name} with respect to argument {n}{path} does not match finite differences"]
    if g.shape != num.shape:
        return lines[0] + f": shape {g.shape} vs {num.shape}"
    order = np.argsort(err, axis=None)[::-1][:5]
    lines.append("  worst entries (index: tracediff vs finite differences, |difference|):")
    for flat in order:
        idx = np.unravel_index(flat, g.shape)
        lines.append(f"    {tuple(int(i) for i in idx)}: {g[idx]:.8g} vs {num[idx]:.8g}, {err[idx]:.3g}")
    return "\n".join(lines)
