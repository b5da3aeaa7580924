"""Flatten nested containers of arrays into leaves and a hashable structure, and back.

Containers are dict, list, tuple, namedtuple, None (a container with no leaves) and any type
given to :func:`register_pytree_node`. Everything else is a leaf. A tree holds at most
``MAX_DEPTH`` levels of containers within containers.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, NamedTuple


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
