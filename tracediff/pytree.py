"""Flatten nested containers of arrays into leaves and a hashable structure, and back.

Containers are dict, list, tuple, namedtuple, None (a container with no leaves) and any type
given to :func:`register_pytree_node`. Everything else is a leaf. A tree holds at most
``MAX_DEPTH`` levels of containers within containers.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Hashable, NamedTuple

import numpy as np


class TreeDef(NamedTuple):
    """The structure of a pytree: a node type, its static data and its children's structures.

    A leaf's TreeDef has ``kind`` None. TreeDefs are hashable so they can key the cache.
    """

    kind: Any
    data: Hashable
    children: tuple

    @property
    def num_leaves(self) -> int:
        if self.kind is None:
            return 1
        return sum(child.num_leaves for child in self.children)


LEAF = TreeDef(None, None, ())

# Each level of a tree costs Python stack in flatten, unflatten and in comparing the TreeDefs of
# cache keys; past this many a clear error is raised rather than a RecursionError somewhere.
MAX_DEPTH = 100


class TreeTooDeepError(TypeError):
    """A tree with more than ``MAX_DEPTH`` levels of containers within containers."""


# type -> (to_children(obj) -> (children, static data), from_children(data, children) -> obj)
_NODES: dict[type, tuple[Callable, Callable]] = {
    tuple: (lambda t: (t, None), lambda _, c: tuple(c)),
    list: (lambda l: (l, None), lambda _, c: list(c)),
    dict: (
        lambda d: (tuple(d[k] for k in _sorted_keys(d)), _sorted_keys(d)),
        lambda keys, c: dict(zip(keys, c)),
    ),
    type(None): (lambda _: ((), None), lambda _, c: None),
}


def _sorted_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:
        raise TypeError(
            f"dict keys {list(d)!r} cannot be sorted; tracediff needs a stable order for "
            "dict arguments, so use keys of one sortable type (e.g. all str)"
        ) from None


def register_pytree_node(cls: type, to_children: Callable, from_children: Callable) -> None:
    """Make instances of ``cls`` containers whose children are traced and differentiated.

    ``to_children(obj)`` returns ``(children, data)`` where data is hashable static information;
    ``from_children(data, children)`` rebuilds the object.

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    >>> flatten(Pair(1.0, 2.0))[0]
    [1.0, 2.0]
    """
    _NODES[cls] = (to_children, from_children)


def _node_functions(obj):
    cls = type(obj)
    fns = _NODES.get(cls)
    if fns is None and isinstance(obj, tuple) and hasattr(cls, "_fields"):  # namedtuple
        fns = (lambda t: (tuple(t), None), lambda _, c, cls=cls: cls(*c))
        _NODES[cls] = fns
    return fns


def flatten(tree: Any) -> tuple[list, TreeDef]:
    """Leaves in a fixed order and the structure needed to rebuild the tree.

    >>> leaves, tdef = flatten({"b": [1.0, 2.0], "a": 3.0})
    >>> leaves
    [3.0, 1.0, 2.0]
    >>> unflatten(tdef, [x * 10 for x in leaves])
    {'a': 30.0, 'b': [10.0, 20.0]}
    """
    leaves: list = []
    return leaves, _flatten_into(tree, leaves, MAX_DEPTH)


def _flatten_into(tree, leaves: list, levels_left: int) -> TreeDef:
    fns = _node_functions(tree)
    if fns is None:
        leaves.append(tree)
        return LEAF
    if not levels_left:
        raise TreeTooDeepError(
            f"a tree nested more than {MAX_DEPTH} levels deep (containers within containers) "
            "cannot be flattened; pass nested lists of numbers as an array (np.asarray) or use a "
            "flatter structure"
        )
    children, data = fns[0](tree)
    return TreeDef(type(tree), data, tuple(_flatten_into(c, leaves, levels_left - 1) for c in children))


def unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild a tree of the structure ``treedef`` from ``leaves`` (inverse of :func:`flatten`)."""
    it = iter(leaves)
    tree = _build(treedef, it)
    return tree


def _build(treedef: TreeDef, it):
    if treedef.kind is None:
        return next(it)
    children = [_build(c, it) for c in treedef.children]
    return _NODES[treedef.kind][1](treedef.data, children)


def leaf_paths(tree: Any, prefix: str = "") -> list[str]:
    """A readable path for each leaf, in flatten order (for error messages): ``['w']``, ``[0][1]``."""
    fns = _node_functions(tree)
    if fns is None:
        return [prefix]
    children, data = fns[0](tree)
    labels = data if isinstance(tree, dict) else range(len(children))
    paths = []
    for label, child in zip(labels, children):
        paths.extend(leaf_paths(child, f"{prefix}[{label!r}]"))
    return paths


def ravel_pytree(tree: Any) -> tuple[Any, Callable[[Any], Any]]:
    """One flat vector of all the leaves of ``tree``, and ``unravel``, which rebuilds a tree of
    the same structure, shapes and dtypes from such a vector (JAX's ``ravel_pytree``).

    The vector's dtype is the leaves' common dtype; ``unravel`` casts each piece back to its
    leaf's dtype, and gives a Python float for a Python float leaf. Both work on traced values,
    so they can be used inside a differentiated function, in either direction (a function of
    the flat vector, or of the tree).

    >>> import numpy as np
    >>> flat, unravel = ravel_pytree({"w": np.ones((2, 2)), "b": 0.5})
    >>> flat.tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0]
    >>> unravel(flat * 2)
    {'b': 1.0, 'w': array([[2., 2.],
           [2., 2.]])}
    """
    leaves, treedef = flatten(tree)
    paths = leaf_paths(tree)
    for path, leaf in zip(paths, leaves):
        dtype = getattr(leaf, "dtype", None)
        if not (isinstance(leaf, (bool, int, float)) or (dtype is not None and np.dtype(dtype).kind in "biuf")):
            raise TypeError(
                f"ravel_pytree: the leaf {path or '(the tree itself)'} is {type(leaf).__name__}"
                f"{f' of {dtype}' if dtype is not None else ''}; ravel_pytree joins arrays and "
                "real numbers, so convert it or keep it out of the tree"
            )
    dtypes = [np.dtype(type(leaf)) if isinstance(leaf, (bool, int, float)) else np.dtype(leaf.dtype)
              for leaf in leaves]
    shapes = [np.shape(leaf) for leaf in leaves]  # np.shape reads a traced value's static shape
    # Scalars come back as their own type (a float as a float), arrays as arrays.
    kinds = [type(leaf) if isinstance(leaf, (bool, int, float, np.generic)) else None for leaf in leaves]
    ends = np.cumsum([math.prod(shape) for shape in shapes]).tolist()
    size = ends[-1] if ends else 0
    flat_dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    if leaves:
        flat = np.concatenate([np.ravel(leaf) for leaf in leaves])
        if flat.dtype != flat_dtype:
            flat = flat.astype(flat_dtype)
    else:
        flat = np.zeros(0, flat_dtype)

    def unravel(flat_vector):
        if np.shape(flat_vector) != (size,):
            raise ValueError(
                f"unravel: expected a flat vector of shape ({size},), like the one ravel_pytree "
                f"returned, got shape {np.shape(flat_vector)}"
            )
        pieces = []
        for start, end, shape, dtype, kind in zip([0] + ends[:-1], ends, shapes, dtypes, kinds):
            piece = np.reshape(flat_vector[start:end], shape)
            if piece.dtype != dtype:
                piece = piece.astype(dtype)
            elif isinstance(piece, np.ndarray):
                piece = piece.copy()  # not a view: writing into one must not change the others
            if kind is not None and isinstance(piece, np.ndarray):  # concrete: the leaf's own type
                piece = kind(piece[()]) if kind in (bool, int, float) else piece[()]
            pieces.append(piece)
        return unflatten(treedef, pieces)

    return flat, unravel
