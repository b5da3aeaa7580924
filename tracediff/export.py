"""Standalone export: the generated gradient as a module that needs NumPy alone.

``td.export(td.grad(loss), w, X, y, path="loss_grad.py")`` writes a module whose ``grad_loss(w, X, y)``
returns what ``td.grad(loss)(w, X, y)`` returns, for arguments of the same structure, shapes and
dtypes. The gradient code is the generated source, verbatim; around it the module has

* the arrays the function read from outside its arguments, as they are at export time: small ones
  written out (``np.array([1.0, 2.0])``), large ones saved beside the module (``loss_grad.npz``);
* a wrapper with the user's signature that checks the arguments against the exported
  specialization and gives the result the user's structure (dicts, tuples, floats);
* ``InputsTakeAnotherPath``, raised when the arguments differ (shape, dtype, a static value) or take
  another path through the function's control flow (a guard): export again with such arguments.
"""
from __future__ import annotations

import inspect
import os
import re

import numpy as np

from .errors import TracediffError

from . import codegen
from .cache import GENERATORS, Static, is_dynamic, is_runtime_int
from .ir import printable, type_str
from .pytree import TreeDef, flatten, leaf_paths

class ExportError(TracediffError, TypeError):
    """The function or its arguments cannot be written as a standalone module."""


def export(g, *args, path, **kwargs) -> str:
    """Write the gradient ``g`` computes for arguments like ``args`` as a module that needs only
    NumPy; return the path written. ``g`` is a :func:`~tracediff.grad` or
    :func:`~tracediff.value_and_grad` function.

    >>> import numpy as np, tracediff as td, tempfile, os, importlib.util
    >>> def loss(w, x):
    ...     return np.sum((x @ w) ** 2)
    >>> path = td.export(td.grad(loss), np.ones(2), np.eye(2), path=os.path.join(tempfile.mkdtemp(), "loss_grad.py"))
    >>> spec = importlib.util.spec_from_file_location("loss_grad", path)
    >>> module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    >>> module.grad_loss(np.ones(2), np.eye(2))
    array([2., 2.])
    """
    from .api import GradFunction

    if not isinstance(g, GradFunction):
        raise ExportError(f"td.export takes a td.grad or td.value_and_grad function, got {type(g).__name__}")
    result = g(*args, **kwargs)  # traced (or found in the cache) for these arguments
    spec = g._spec_for(args, kwargs)
    args, kwargs = g._marked(args, kwargs)  # static_argnums: those arguments are checked by value
    module = spec.module
    if module.callables:
        names = ", ".join(sorted(f.__name__ for f in module.callables.values()))
        raise ExportError(f"{g}: the generated code calls Python functions ({names}) registered with "
                          "td.primitive; a standalone module cannot carry them")
    path = os.path.abspath(os.fspath(path))
    if not path.endswith(".py"):
        raise ExportError(f"td.export writes a Python module: path must end in .py, got {path!r}")
    stem = os.path.splitext(os.path.basename(path))[0]
    small, large = {}, {}
    for name, value in module.constants.items():
        literal = codegen.constant_literal(value)
        if literal is not None:
            small[name] = codegen._source(literal)
        elif value.dtype.hasobject:
            raise ExportError(f"{g}: the function reads an array of Python objects from outside its "
                              "arguments; export supports arrays of numbers")
        else:
            large[name] = np.array(value)  # a copy: as the array is now
    data_file = f"{stem}.npz" if large else None
    aux_tree = _aux_tree(g, result)
    source = _module_source(g, spec, args, kwargs, small, data_file, aux_tree)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    if large:
        np.savez(os.path.join(os.path.dirname(path), data_file), **large)
    return path


def _aux_tree(g, result):
    if not g.has_aux:
        return None
    aux = result[0][1] if g.with_value else result[1]
    return flatten(aux)[1]


def _module_source(g, spec, args, kwargs, small: dict, data_file, aux_tree) -> str:
    from .api import _arg_leaf_ranges, _fun_name, _leaf_converter

    fun_name = _fun_name(g.fun)
    flat_name = spec.run.__name__  # the generated function, kept as _grad_loss
    public = codegen.safe_identifier(f"{g.kind}_{getattr(g.fun, '__name__', 'f')}".replace("<lambda>", "lambda"), set())
    module = spec.module
    taken = {"np", "os", "GuardFailed", "InputsTakeAnotherPath", "_GUARDS", "_FUNCTION", "_differ",
             "_check_array", "_check_scalar", "_check_static", "_check_container", "_check_generator",
             "_data", "_out", public, f"_{flat_name}", *module.constants, *module.modules}
    params = _parameters(g.fun, len(args), taken)
    leaves, _ = flatten((args, kwargs))
    paths = [p for i, a in enumerate(args) for p in _paths(params[i], a)]
    paths += [p for k in sorted(kwargs) for p in _paths(f"kwargs[{k!r}]", kwargs[k])]
    where = [printable(p) for p in
             [params[i] + lp for i, a in enumerate(args) for lp in leaf_paths(a)]
             + [k + lp for k in sorted(kwargs) for lp in leaf_paths(kwargs[k])]]

    body = []  # the wrapper's statements
    for i, a in enumerate(args):
        body += _structure_checks(params[i], a, printable(params[i]))
    if kwargs:
        body.append(f"_check_container('keyword arguments', kwargs, dict, {tuple(sorted(kwargs))!r})")
        for k in sorted(kwargs):
            body += _structure_checks(f"kwargs[{k!r}]", kwargs[k], printable(k))
    dynamic = []
    for leaf, access, label in zip(leaves, paths, where):
        if isinstance(leaf, float) or is_runtime_int(leaf):
            kind = "float" if isinstance(leaf, float) else type(leaf).__name__
            body.append(f"_check_scalar({label!r}, {access}, {kind})")
        elif isinstance(leaf, GENERATORS):
            body.append(f"_check_generator({label!r}, {access})")
        elif is_dynamic(leaf):
            body.append(f"_check_array({label!r}, {access}, {tuple(np.shape(leaf))!r}, {np.result_type(leaf).name!r})")
        else:
            value = leaf.value if isinstance(leaf, Static) else leaf
            body.append(f"_check_static({label!r}, {access}, {_static_literal(value, label)})")
        if is_dynamic(leaf):
            dynamic.append(access)
    body.append(f"_out = _{flat_name}({', '.join(dynamic)})")

    # the result, in the user's structure
    position = 1 if g.with_value else 0
    grads = []
    ranges = _arg_leaf_ranges(args)
    for n in g._argnums:
        start, stop = ranges[n]
        outs = []
        for k, leaf in enumerate(leaves[start:stop]):
            convert = _leaf_converter(leaf)
            expr = f"_out[{position + k}]"
            if convert is float:
                expr = f"float({expr})"
            elif convert is np.asarray:
                expr = f"np.asarray({expr})"
            elif convert is not None:
                expr = f"np.{np.dtype(convert).name}({expr})"
            outs.append(expr)
        grads.append(_rebuild(flatten(args[n])[1], outs, params[n]))
        position += stop - start
    grads_expr = grads[0] if isinstance(g.argnums, int) else _tuple(grads)
    if g.has_aux:
        aux = _rebuild(aux_tree, [f"_out[{position + k}]" for k in range(aux_tree.num_leaves)], None)
        result = f"(_out[0], {aux}), {grads_expr}" if g.with_value else f"{grads_expr}, {aux}"
    else:
        result = f"_out[0], {grads_expr}" if g.with_value else grads_expr
    body.append(f"return {result}")

    signature = ", ".join(params + (["**kwargs"] if kwargs else []))
    what = "value and gradient" if g.with_value else "gradient"
    wrt = ", ".join(params[n] for n in g._argnums)
    doc = printable(f"The {what} of {fun_name} with respect to {wrt}, as td.{g.kind}({fun_name}) computes it.")
    types = ", ".join(f"{w}: {_type_of(leaf)}" for w, leaf in zip(where, leaves) if is_dynamic(leaf))
    wrapper = [f"def {public}({signature}):", f"    {doc!r}"] + [f"    {line}" for line in body]

    guards = [(printable(_guard_where(node)), node.params["expected"]) for node in module.guards]
    functions = re.sub(rf"^def {re.escape(flat_name)}\(", f"def _{flat_name}(", module.functions, count=1, flags=re.M)
    imports = codegen.import_lines(module.modules, module.functions)
    needs = "NumPy" + "".join(f" and {line.split()[1].split('.')[0]}" for line in imports)
    lines = [
        codegen._comment(f"# Exported by tracediff: {g.kind} of {fun_name}"),
        codegen._comment(f"# For arguments {types}" if types else "# For these arguments"),
        f"# Needs only {needs}. Calling {public} with other shapes, dtypes or static arguments, or",
        "# with inputs that take another path through the function's control flow, raises",
        "# InputsTakeAnotherPath: export again with such inputs.",
    ]
    lines += ["import os", ""] if data_file else []
    lines += ["import numpy as np", *imports, "", "", *_RUNTIME.strip("\n").split("\n"), "", ""]
    lines.append(f"_GUARDS = {_guard_table(guards)}")
    lines.append(f"_FUNCTION = {printable(fun_name)!r}")
    if small or data_file:
        lines.append("")
    lines += [f"{name} = {text}" for name, text in small.items()]
    if data_file:
        lines.append(f"_data = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), {data_file!r}))")
        lines += [f"{name} = _data[{name!r}]" for name in module.constants if name not in small]
    lines += ["", "", functions.rstrip("\n"), "", "", *wrapper, ""]
    return "\n".join(lines)


def _guard_where(node) -> str:
    loc = node.loc
    if loc is None:
        return "(unknown line)"
    return f"{os.path.basename(loc.filename)}:{loc.lineno}  {loc.text}".rstrip()


def _guard_table(guards: list) -> str:
    if not guards:
        return "[]"
    rows = [f"    ({where!r}, {_value_literal(expected)})," for where, expected in guards]
    return "[\n" + "\n".join(rows) + "\n]"


def _value_literal(value) -> str:
    return codegen._source(codegen.py_literal(value)) if not isinstance(value, str) else repr(value)


def _static_literal(value, label: str) -> str:
    """Source for a static argument's value, which the wrapper compares with what it gets."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return repr(value)
    if isinstance(value, complex) and np.isfinite(value):
        return repr(value)
    raise ExportError(f"argument {label} is a {type(value).__name__}: export supports static arguments that "
                      "are ints, strings, bytes, booleans or None (and arrays and floats as inputs)")


def _type_of(leaf) -> str:
    if isinstance(leaf, float) or is_runtime_int(leaf):
        return "float" if isinstance(leaf, float) else type(leaf).__name__
    if isinstance(leaf, GENERATORS):
        return type(leaf).__name__
    return type_str(np.shape(leaf), np.result_type(leaf))


def _parameters(fun, n: int, taken: set) -> list:
    try:
        params = [p for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [params[i].name if i < len(params) else f"arg{i}" for i in range(n)]
    return [codegen.safe_identifier(name, taken) for name in names]


def _paths(access: str, tree) -> list:
    """Source that reads each leaf of ``tree`` from ``access``, in flatten order."""
    return _leaf_access(flatten(tree)[1], access)


def _leaf_access(treedef: TreeDef, access: str) -> list:
    if treedef.kind is None:
        return [access]
    if treedef.kind is dict:
        return [p for key, child in zip(treedef.data, treedef.children) for p in _leaf_access(child, f"{access}[{key!r}]")]
    if _is_sequence(treedef.kind):
        return [p for i, child in enumerate(treedef.children) for p in _leaf_access(child, f"{access}[{i}]")]
    if treedef.kind is type(None):
        return []
    raise ExportError(f"{access} is a {treedef.kind.__name__}, registered with td.register_pytree_node: "
                      "export supports arguments made of dicts, lists, tuples and namedtuples")


def _is_sequence(kind) -> bool:
    return kind in (list, tuple) or (isinstance(kind, type) and issubclass(kind, tuple))


def _structure_checks(access: str, tree, label: str) -> list:
    _, treedef = flatten(tree)
    return _container_checks(treedef, access, label)


def _container_checks(treedef: TreeDef, access: str, label: str) -> list:
    if treedef.kind is None:
        return []
    if treedef.kind is dict:
        odd = [k for k in treedef.data if not isinstance(k, (str, int, bytes))]
        if odd:
            raise ExportError(f"{label} has keys of type {type(odd[0]).__name__}: export supports dict keys "
                              "that are strings, ints or bytes")
        lines = [f"_check_container({label!r}, {access}, dict, {tuple(treedef.data)!r})"]
        for key, child in zip(treedef.data, treedef.children):
            lines += _container_checks(child, f"{access}[{key!r}]", f"{label}[{key!r}]")
        return lines
    if treedef.kind is type(None):
        return [f"_check_static({label!r}, {access}, None)"]
    if _is_sequence(treedef.kind):
        kind = treedef.kind.__name__ if treedef.kind in (list, tuple) else "tuple"
        lines = [f"_check_container({label!r}, {access}, {kind}, {len(treedef.children)})"]
        for i, child in enumerate(treedef.children):
            lines += _container_checks(child, f"{access}[{i}]", f"{label}[{i}]")
        return lines
    raise ExportError(f"{label} is a {treedef.kind.__name__}, registered with td.register_pytree_node: "
                      "export supports arguments made of dicts, lists, tuples and namedtuples")


def _tuple(items: list) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _rebuild(treedef: TreeDef, exprs: list, like: str | None) -> str:
    """Source building ``treedef``'s structure from leaf expressions (``like``: the argument
    whose type a namedtuple result takes)."""
    it = iter(exprs)

    def build(node: TreeDef, access) -> str:
        if node.kind is None:
            return next(it)
        if node.kind is type(None):
            return "None"
        if node.kind is dict:
            items = [f"{key!r}: {build(child, access and f'{access}[{key!r}]')}"
                     for key, child in zip(node.data, node.children)]
            return "{" + ", ".join(items) + "}"
        children = [build(child, access and f"{access}[{i}]") for i, child in enumerate(node.children)]
        if node.kind is list:
            return "[" + ", ".join(children) + "]"
        if node.kind is tuple:
            return _tuple(children) if children else "()"
        if _is_sequence(node.kind) and access is not None:  # a namedtuple: the argument's own type
            return f"type({access})({', '.join(children)})"
        raise ExportError(f"a result of type {node.kind.__name__} cannot be rebuilt without its class")

    return build(treedef, like)


_RUNTIME = '''
class InputsTakeAnotherPath(Exception):
    """The arguments differ from those the module was exported for: export again with them."""


class GuardFailed(InputsTakeAnotherPath):
    """Raised by the generated code: the inputs take another path through the control flow."""

    def __init__(self, index, value):
        where, expected = _GUARDS[index]
        super().__init__(
            f"the inputs take another path through {_FUNCTION} than the exported one: at {where} "
            f"the exported path has {expected!r}, these inputs give {value!r}. Export again "
            "(td.export) with inputs that take this path."
        )


def _differ(what):
    return InputsTakeAnotherPath(
        f"{_FUNCTION} was exported for other arguments: {what}. Export again (td.export) with "
        "arguments like these."
    )


def _check_array(where, value, shape, dtype):
    if not isinstance(value, (np.ndarray, np.generic)):
        raise _differ(f"{where} must be a NumPy array, got {type(value).__name__}")
    if value.shape != shape or value.dtype != dtype:
        raise _differ(f"{where} has shape {value.shape} and dtype {value.dtype}, "
                      f"the module takes shape {shape} and dtype {dtype}")


def _check_scalar(where, value, kind):
    if not (isinstance(value, kind) if kind is float else type(value) is kind):
        article = "an" if kind is int else "a"
        raise _differ(f"{where} must be {article} {kind.__name__}, got {type(value).__name__}")


def _check_generator(where, value):
    if not isinstance(value, (np.random.Generator, np.random.RandomState)):
        raise _differ(f"{where} must be a NumPy random generator, got {type(value).__name__}")


def _check_static(where, value, expected):
    if type(value) is not type(expected) or value != expected:
        raise _differ(f"{where} is {value!r}, the module was exported for {expected!r}")


def _check_container(where, value, kind, layout):
    if not isinstance(value, kind):
        article = "an" if kind is int else "a"
        raise _differ(f"{where} must be {article} {kind.__name__}, got {type(value).__name__}")
    if kind is dict and tuple(sorted(value)) != layout:
        raise _differ(f"{where} has keys {sorted(value)}, the module takes {list(layout)}")
    if kind is not dict and len(value) != layout:
        raise _differ(f"{where} has {len(value)} items, the module takes {layout}")
'''
