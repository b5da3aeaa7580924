"""Gradient-based optimizers over pytrees, called as autograd's ``autograd.misc.optimizers`` are.

Each takes ``grad_fun(x, i)``, the gradient at ``x`` on iteration ``i`` (a Python int), and a
starting point ``x0``: an array, a float, or a dict / list / tuple of them. It returns the last
``x``, with ``x0``'s structure. ``callback(x, i, g)``, if given, is called on each iteration
before the step. The update is applied to each leaf on its own, so each keeps its dtype.

The update rules, with ``g`` the gradient on iteration ``i`` (counted from 0):

- ``sgd``: ``v = mass * v - (1 - mass) * g``, ``x = x + step_size * v`` (``v`` starts at 0;
  ``mass=0`` is plain gradient descent). These are autograd's ``sgd`` numbers.
- ``momentum``: ``v = mass * v + g``, ``x = x - step_size * v`` (heavy-ball momentum, as in
  ``jax.example_libraries.optimizers.momentum``).
- ``rmsprop``: ``r = gamma * r + (1 - gamma) * g**2``, ``x = x - step_size * g / (sqrt(r) + eps)``
  (``r`` starts at 1, as in autograd).
- ``adam``: ``m = b1 * m + (1 - b1) * g``, ``v = b2 * v + (1 - b2) * g**2``,
  ``x = x - step_size * (m / (1 - b1**(i+1))) / (sqrt(v / (1 - b2**(i+1))) + eps)``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .pytree import flatten, leaf_paths, unflatten


def sgd(grad_fun: Callable, x0, callback: Callable | None = None, num_iters: int = 200,
        step_size: float = 0.1, mass: float = 0.9):
    """Gradient descent with momentum, in autograd's form (``mass=0``: plain gradient descent).

    >>> import numpy as np, tracediff as td
    >>> g = td.grad(lambda x: np.sum((x - 3.0) ** 2))
    >>> x = td.sgd(lambda x, i: g(x), np.zeros(2), num_iters=200, step_size=0.5)
    >>> np.round(x, 3).tolist()
    [3.0, 3.0]
    """
    def step(x, g, i, v):
        v = mass * v - (1 - mass) * g
        return x + step_size * v, (v,)

    return _optimize("sgd", step, 1, grad_fun, x0, callback, num_iters)


def momentum(grad_fun: Callable, x0, callback: Callable | None = None, num_iters: int = 100,
             step_size: float = 0.01, mass: float = 0.9):
    """Heavy-ball momentum: the velocity sums past gradients, decayed by ``mass``.

    The same family as :func:`sgd` in JAX's parametrization: ``momentum(step_size=s, mass=m)``
    takes the steps of ``sgd(step_size=s / (1 - m), mass=m)`` (up to rounding).

    >>> import numpy as np, tracediff as td
    >>> g = td.grad(lambda x: np.sum((x - 3.0) ** 2))
    >>> x = td.momentum(lambda x, i: g(x), np.zeros(2), num_iters=200, step_size=0.05)
    >>> np.round(x, 3).tolist()
    [3.0, 3.0]
    """
    def step(x, g, i, v):
        v = mass * v + g
        return x - step_size * v, (v,)

    return _optimize("momentum", step, 1, grad_fun, x0, callback, num_iters)


def rmsprop(grad_fun: Callable, x0, callback: Callable | None = None, num_iters: int = 100,
            step_size: float = 0.1, gamma: float = 0.9, eps: float = 1e-8):
    """Steps scaled by a running average of squared gradients (started at 1, as autograd does).

    >>> import numpy as np, tracediff as td
    >>> g = td.grad(lambda x: np.sum((x - 3.0) ** 2))
    >>> x = td.rmsprop(lambda x, i: g(x), np.zeros(2), num_iters=500, step_size=0.01)
    >>> np.round(x, 3).tolist()
    [3.0, 3.0]
    """
    def step(x, g, i, r):
        r = gamma * r + (1 - gamma) * g ** 2
        return x - step_size * g / (np.sqrt(r) + eps), (r,)

    return _optimize("rmsprop", step, 1, grad_fun, x0, callback, num_iters, start=1.0)


def adam(grad_fun: Callable, x0, callback: Callable | None = None, num_iters: int = 100,
         step_size: float = 0.001, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam (Kingma and Ba, 2015): steps by bias-corrected running averages of the gradient and
    of its square.

    >>> import numpy as np, tracediff as td
    >>> g = td.grad(lambda p: np.sum((p["w"] - 3.0) ** 2) + (p["b"] + 1.0) ** 2)
    >>> p = td.adam(lambda p, i: g(p), {"w": np.zeros(2), "b": 0.0}, num_iters=500, step_size=0.1)
    >>> np.round(p["w"], 3).tolist(), round(p["b"], 3)
    ([3.0, 3.0], -1.0)
    """
    def step(x, g, i, m, v):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** (i + 1))
        v_hat = v / (1 - b2 ** (i + 1))
        return x - step_size * m_hat / (np.sqrt(v_hat) + eps), (m, v)

    return _optimize("adam", step, 2, grad_fun, x0, callback, num_iters)


def _optimize(name: str, step: Callable, n_state: int, grad_fun: Callable, x0, callback, num_iters: int,
              start: float = 0.0):
    """Run ``step(x, g, i, *state) -> (x, state)`` on each leaf for ``num_iters`` iterations;
    each state starts as ``start`` in the leaf's shape and dtype."""
    if not callable(grad_fun):
        raise TypeError(f"{name}: grad_fun must be a function grad_fun(x, i), got {type(grad_fun).__name__}")
    if isinstance(num_iters, bool) or not isinstance(num_iters, (int, np.integer)) or num_iters < 0:
        raise ValueError(f"{name}: num_iters must be a non-negative int, got {num_iters!r}")
    leaves, tree = flatten(x0)
    for path, leaf in zip(leaf_paths(x0), leaves):
        if not _is_floating(leaf):
            raise TypeError(
                f"{name}: x0{path} is {type(leaf).__name__}{_dtype_note(leaf)}; the optimizers update "
                "floating-point values only: pass floats (x.astype(float), 1.0 instead of 1)"
            )
    states = [[_filled(leaf, start) for _ in range(n_state)] for leaf in leaves]
    for i in range(num_iters):
        x = unflatten(tree, leaves)
        g = grad_fun(x, i)
        g_leaves = _gradient_leaves(name, g, tree, leaves, i, x0)
        if callback is not None:
            callback(x, i, g)
        for k, (leaf, g_leaf) in enumerate(zip(leaves, g_leaves)):
            new, states[k] = step(leaf, g_leaf, i, *states[k])
            leaves[k] = float(new) if type(leaf) is float and isinstance(new, np.generic) else new
    return unflatten(tree, leaves)


def _is_floating(leaf) -> bool:
    return isinstance(leaf, float) or (_dtype(leaf) is not None and np.dtype(_dtype(leaf)).kind == "f")


def _dtype_note(leaf) -> str:
    return f" of {_dtype(leaf)}" if _dtype(leaf) is not None else ""


def _filled(leaf, value: float):
    if isinstance(leaf, float):
        return value
    return np.full(np.shape(leaf), value, dtype=leaf.dtype)


def _gradient_leaves(name: str, g, tree, leaves: list, i: int, x0) -> list:
    """The gradient's leaves, after checking that it has x's structure and shapes."""
    g_leaves, g_tree = flatten(g)
    if g_tree != tree:
        raise ValueError(
            f"{name}: grad_fun(x, {i}) returned a gradient whose structure differs from x's "
            f"(x has {len(leaves)} leaves: {leaf_paths(x0)}; the gradient has {len(g_leaves)}); "
            "return one gradient per leaf of x, in x's structure (td.grad of a function of x does)"
        )
    for path, leaf, g_leaf in zip(leaf_paths(x0), leaves, g_leaves):
        if np.shape(g_leaf) != np.shape(leaf):
            raise ValueError(
                f"{name}: grad_fun(x, {i}) returned a gradient of shape {np.shape(g_leaf)} for "
                f"x{path}, which has shape {np.shape(leaf)}; return the gradient in x's shapes"
            )
    # A float64 gradient for float32 parameters would promote them: the step keeps x's dtype.
    return [g_leaf.astype(leaf.dtype) if _dtype(g_leaf) not in (None, _dtype(leaf)) and _dtype(leaf) else g_leaf
            for leaf, g_leaf in zip(leaves, g_leaves)]


def _dtype(x):
    return getattr(x, "dtype", None)
