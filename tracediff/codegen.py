"""Code generation: IR -> Python AST -> source (astor) -> compiled function.

Each node becomes an AST statement whose variables are placeholders, except that runs of
iterations that did the same thing (rolling.py) become one ``for`` loop: its body is the nodes of
one iteration, a carried value keeps one name (set before the loop, updated in the body), and the
iterations later code reads are kept in lists (``x_steps[i] = x``; the backward loop reads
``x_steps[998 - i]``). Nothing is folded into or out of a loop's body, nor reused or deleted in
it. Then the generator

* folds single-use temporaries into the one expression that uses them, within the block of one
  user statement (``g_w = X.T @ g_residual`` rather than ``v6 = X.T`` and ``g_w = v6 @ ...``),
* chooses names: the user's names for values (``residual``), ``g_<name>`` for their cotangents,
  ``t1``, ``t2``, ... for the other temporaries; names are ASCII identifiers made from the user's
  text, never that text itself, and never shadow a name the code uses (``np``, ``int``, ``_c0``),
* writes each block under a comment naming the user's line (``# model.py:12  z = x @ w + b``;
  in the backward pass ``# grad of: z = x @ w + b   (model.py:12)``),
* renders each statement with astor, compiles the module, and registers its source so that
  tracebacks, ``inspect`` and ``pdb`` show it. With ``TRACEDIFF_DUMP_DIR`` set, every module is
  also written to a file in that folder and compiled from it.

Arrays the user's code read from outside its arguments are module globals named as the user's
code names them (``X_train``; ``_c0``, ``_c1``, ... for other constants) holding the user's array
(by reference); a comment at the top shows small ones by value.
"""
from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import io
import itertools
import keyword
import linecache
import math
import os
import re
import sys
import tokenize
import types
import warnings
import weakref
from dataclasses import dataclass, field

import astor
import numpy as np

from . import array_libraries
from .errors import GuardFailed
from .ir import Literal, Node, Var, printable, type_str, uniform_item
from .rolling import Loop, roll, row_of, with_moving
from .switches import enabled, large_at
from .primitives.core import np_attr, py_literal

_module_counter = itertools.count(1)

DUMP_DIR_VARIABLE = "TRACEDIFF_DUMP_DIR"
_PLACEHOLDER = "\x00"  # a var's name until names are chosen: no identifier can start with it
_INLINE_WIDTH = 80  # a statement grows by folding temporaries into it up to this many characters
# ... and further for large values: NumPy frees (or reuses) an unnamed temporary as soon as the
# expression is done with it, where a named one lives until its last use
_INLINE_WIDTH_LARGE = 200
_SMALL_CONSTANT = 16  # arrays of at most this many elements are shown (and exported) by value
_RESERVED = frozenset({"np", "GuardFailed"}) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)


@dataclass
class FunctionSpec:
    """One generated function: parameters, the nodes it runs, and what it returns."""

    name: str
    params: list  # Var
    nodes: list  # Node
    outputs: list  # Var or Literal
    param_names: list = field(default_factory=list)  # readable names for params, same order
    output_names: list = field(default_factory=list)  # names for outputs the user's code left unnamed
    # Values the function reads as items of one parameter (``packed``, a tuple): ``residuals[k]``
    # for td.vjp's backward function, so that a rolled loop reads ``residuals[2 * i + 1]``
    packed: Var | None = None
    packed_items: list = field(default_factory=list)  # Var


@dataclass
class GeneratedModule:
    source: str
    filename: str
    namespace: dict
    guards: list  # Node, in the order of their guard index
    title: str = ""
    functions: str = ""  # the source of the functions alone (what export reuses)
    constants: dict = field(default_factory=dict)  # _c0 -> the array, in order
    callables: dict = field(default_factory=dict)  # _fn_name -> a user primitive's function
    modules: dict = field(default_factory=dict)  # name -> a module besides NumPy (scipy)

    def function(self, name: str):
        return self.namespace[name]


def safe_identifier(text: str, taken: set, reserved=frozenset()) -> str:
    """A valid Python name derived from ``text`` that is not in ``taken`` (which it joins).

    Only ASCII letters, digits and ``_`` of ``text`` survive (``p['a-b']`` gives ``p_a_b``), so no
    text of the user's can reach the generated code as anything but a plain name. Keywords and
    names in ``reserved`` (names the code uses, like ``int``) get a trailing ``_``.
    """
    name = re.sub(r"_{2,}", "_", re.sub(r"\W+", "_", text, flags=re.ASCII)).strip("_") or "v"
    if name[0].isdigit():
        name = "_" + name
    if name in _RESERVED or name in reserved:
        name += "_"
    # A NameSet remembers where each base name's suffixes stopped: a value rebound thousands of
    # times (x = f(x) in a loop) then costs one probe per name, not one per earlier name.
    suffixes = getattr(taken, "suffixes", {})
    candidate, n = name, suffixes.get(name, 1)
    if n > 1:
        candidate = f"{name}_{n}"
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    suffixes[name] = n
    taken.add(candidate)
    return candidate


class NameSet(set):
    """The names taken in one function, with where each base name's numbering got to."""

    def __init__(self, *args):
        super().__init__(*args)
        self.suffixes: dict = {}


# ---------------------------------------------------------------------------------------------
# Where a node came from: the user's statement, for comments


@dataclass(frozen=True)
class _Where:
    filename: str  # the base name
    lineno: int  # the statement's first line
    text: str  # the statement on one line, without comments


def _where(node: Node) -> _Where | None:
    loc = node.loc if node.backward_of is None else node.backward_of.loc
    if loc is None:
        return None
    lineno, text = _statement(loc.filename, loc.lineno, len(linecache.getlines(loc.filename)))
    if text is None:
        lineno, text = loc.lineno, loc.text
    return _Where(os.path.basename(loc.filename), lineno, text)


@functools.lru_cache(maxsize=4096)
def _statement(filename: str, lineno: int, n_lines: int) -> tuple:
    """(first line, text) of the innermost statement of ``filename`` holding line ``lineno``
    (a compound statement's header only), or (None, None) when the source cannot be read.
    (``n_lines`` is part of the cache key: an edited file is read again.)"""
    index = _statement_index(filename, tuple(linecache.getlines(filename)))
    if index is None:
        return None, None
    lines, stmts = index
    stmt = _innermost(stmts, lineno)
    if stmt is None:
        return None, None
    end = stmt.end_lineno
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt) and body[0].lineno > stmt.lineno:
        first = min([body[0].lineno] + [d.lineno for d in getattr(body[0], "decorator_list", [])])
        end = max(stmt.lineno, first - 1)  # the header of if / for / while / with / def
        while end > stmt.lineno and (not lines[end - 1].strip() or lines[end - 1].strip().startswith("#")):
            end -= 1
    return stmt.lineno, _one_line(lines[stmt.lineno - 1:end])


@functools.lru_cache(maxsize=64)
def _statement_index(filename: str, lines: tuple):
    if not lines:
        return None
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return None
    return lines, tree.body


def _innermost(stmts: list, lineno: int):
    for stmt in stmts:
        if stmt.lineno <= lineno <= (stmt.end_lineno or stmt.lineno):
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(stmt, name, None)
                if isinstance(children, list):
                    inner = [getattr(c, "body", None) if not isinstance(c, ast.stmt) else [c] for c in children]
                    found = _innermost([s for group in inner if group for s in group], lineno)
                    if found is not None:
                        return found
            return stmt
    return None


def _one_line(lines: list) -> str:
    """The statement's text with its comments dropped and its lines joined."""
    text = "".join(lines)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        tokens = []
    if tokens:
        rows = text.split("\n")
        rows = [row + "\n" for row in rows[:-1]] + rows[-1:]  # (splitlines would split at \u2028)
        for t in reversed(tokens):  # cut each comment out of its row
            (r, c), (_, c_end) = t.start, t.end
            rows[r - 1] = rows[r - 1][:c] + rows[r - 1][c_end:]
        text = "".join(rows)
    parts = [line.strip() for line in text.split("\n") if line.strip()]
    joined = ""
    for part in parts:
        if joined and not joined.endswith(("(", "[", "{")) and not part.startswith((")", "]", "}")):
            joined += " "
        joined += part
    joined = joined.replace("\\ ", "")  # explicit line continuations
    return joined


def _comment(text: str, width: int = 200) -> str:
    text = printable(text).rstrip()
    return text if len(text) <= width else text[: width - 3] + "..."


def _header(where: _Where | None, backward: bool) -> str | None:
    if where is None:
        return None
    place = f"{where.filename}:{where.lineno}"
    if backward:
        return _comment(f"# grad of: {where.text}   ({place})" if where.text else f"# grad of: {place}")
    return _comment(f"# {place}  {where.text}".rstrip())


# ---------------------------------------------------------------------------------------------
# Statements


class _Guard:
    """A path check: ``if <test>: raise GuardFailed(index, <value>)``."""

    def __init__(self, index: int, test: ast.expr, negate: bool, value: ast.expr):
        self.index, self.test, self.negate, self.value = index, test, negate, value

    def render(self) -> list[str]:
        test = _source(self.test)
        if self.negate:
            simple = isinstance(self.test, (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Constant))
            test = f"not {test}" if simple else f"not ({test})"
        return [f"if {test}:", f"    raise GuardFailed({self.index}, {_source(self.value)})"]


@dataclass
class _Item:
    """The code of one node."""

    node: Node
    stmts: list  # ast.stmt or _Guard
    block: int  # index of the comment block it belongs to
    defines: str | None = None  # the placeholder this node assigns with one simple statement
    inlined: bool = False  # folded into the expression that uses it
    folded_into: int | None = None  # then: the index of that item
    loop: Loop | None = None  # the rolled loop whose body it is in
    head: "_LoopHead | None" = None  # on a loop's first item: what comes before its body
    tail: bool = False  # the last item of a loop's body
    fold_limit: int | None = None  # in a body: the last item its expression may be folded into


@dataclass
class _LoopHead:
    """``<prologue>`` then ``for <counter> in range(<count>):`` (a rolled run, see rolling.py)."""

    counter: Var
    count: int
    prologue: list  # ast.stmt: initial values of the carried names, the lists of saved values
    comment: str | None


class _Indexed:
    """An operand that is one iteration's value of a rolled loop, kept in a list: ``saved[3]``,
    or ``saved[i]``-like (``index`` is (a, b, counter): iteration a*counter + b); or, with
    ``array``, a row of a constant array (``data[i]``, see rolling.row_of)."""

    def __init__(self, saved: Var | None, index, var, array: np.ndarray | None = None, array_name=None):
        self.saved, self.index, self.var, self.array = saved, index, var, array
        self.array_name = array_name  # the user's name for ``array``, when known

    @property
    def shape(self) -> tuple:
        return self.var.shape


def _placeholder(var: Var) -> str:
    return f"{_PLACEHOLDER}{var.id}"


def _source(node) -> str:
    """``node`` written out by astor (negative numbers in it must be unary minus, see _Scan)."""
    lines = astor.to_source(node).rstrip("\n").split("\n")
    text = "\n".join(line.rstrip() for line in lines)
    if isinstance(node, ast.expr) and text.startswith("(") and text.endswith(")"):
        try:  # astor parenthesizes a lone expression: drop them when they are its own
            if ast.dump(ast.parse(text[1:-1], mode="eval").body) == ast.dump(ast.parse(text, mode="eval").body):
                text = text[1:-1]
        except SyntaxError:
            pass
    return text


class _Module:
    """What the functions of one generated module share: constants, user functions, guards."""

    def __init__(self, library: str = "numpy"):
        self.library = library  # of the inputs: "numpy", or "dask"/"cupy" (array_libraries.py)
        self.constants: dict = {}  # id(array) -> name
        self.unnamed = 0  # constants named _c0, _c1, ...
        self.arrays: dict = {}  # name -> array
        self.callables: dict = {}  # id(function) -> name
        self.functions: dict = {}  # name -> function
        self.guards: list = []
        self.modules: dict = {}  # name -> module other than NumPy the code uses (a primitive's namespace)
        self.names: dict = {}  # var id -> its name, shared by the functions (residuals keep theirs)
        self.temps = itertools.count(1)
        # Names a constant must not take: the module's functions, builtins the code calls (len,
        # range, int), and what an exported module defines around the functions.
        self.reserved: set = set(dir(builtins)) | {"os", "InputsTakeAnotherPath"}
        self.synthetic = itertools.count(1)

    def literal(self, value, hint: str | None = None) -> ast.expr:
        """A constant: an array by reference, as a module global named after the user's name
        for it (``X_train``, ``self_X``) when there is one, else ``_c0``, ``_c1``, ...; a
        scalar by value."""
        if isinstance(value, np.ndarray):
            if id(value) not in self.constants:
                taken = set(self.arrays) | set(self.functions) | set(self.modules)
                if hint:
                    name = safe_identifier(hint, taken, self.reserved)
                else:
                    name = next(f"_c{k}" for k in itertools.count(self.unnamed) if f"_c{k}" not in taken)
                    self.unnamed += 1
                self.constants[id(value)] = name
                self.arrays[name] = value  # by reference: in-place changes by the user are seen
            return ast.Name(id=self.constants[id(value)])
        return py_literal(value)

    def function_name(self, function, hint: str) -> str:
        if id(function) not in self.callables:
            name = safe_identifier(f"_fn_{hint}", set(self.functions))
            self.callables[id(function)] = name
            self.functions[name] = function
        return self.callables[id(function)]

    def operand(self, v) -> ast.expr:
        if isinstance(v, Literal) and v.row is not None:  # data[t] read from outside: data[3]
            v = _Indexed(None, v.row[1], v, array=v.row[0], array_name=v.row[2])
        if isinstance(v, _Indexed):
            rows = (ast.Name(id=_placeholder(v.saved), ctx=ast.Load()) if v.array is None
                    else self.literal(v.array, v.array_name))
            node = ast.Subscript(value=rows, slice=_index_expression(v.index), ctx=ast.Load())
            node.td_ndim = len(v.var.shape)
            return node
        node = self.literal(v.value, v.name) if isinstance(v, Literal) else ast.Name(id=_placeholder(v))
        node.td_ndim = np.ndim(v.value) if isinstance(v, Literal) else len(v.shape)  # 0: maybe a float
        return node

    def fresh_var(self, shape: tuple, dtype, like: Var | None = None) -> Var:
        """A value of the generated code only (a loop counter, a list of saved values)."""
        var = Var(f"r{next(self.synthetic)}", shape, np.dtype(dtype))
        if like is not None:
            var.name, var.grad_of = like.name, like.grad_of
        return var

    def statements(self, node: Node) -> tuple:
        """(statements, the placeholder assigned by a single simple statement or None)."""
        args = [self.operand(v) for v in node.inputs]
        prim = node.primitive
        self.modules.update(getattr(prim, "namespace", None) or {})  # e.g. {"scipy": scipy}
        if prim.name == "guard":
            return [self._guard(node)], None
        params = node.params
        if hasattr(prim, "function"):  # a user primitive: its function lives in the namespace
            params = {**params, "_function_name": self.function_name(prim.function, prim.name)}
        if node.out is None:  # run for its effect only
            return [ast.Expr(prim.emit(args, **params))], None
        target = ast.Name(id=_placeholder(node.out), ctx=ast.Store())
        neutral = self.library != "numpy"  # the same calls, written so that Dask and CuPy take them
        if prim.emit_statements is not None:
            stmts = prim.emit_statements(target, args, **params)
            return (array_libraries.made_like_inputs(stmts) if neutral else stmts), None
        emit = array_libraries.NEUTRAL_EMIT.get(prim.name, prim.emit) if neutral else prim.emit
        value = emit(args, **params)
        if neutral:
            value = array_libraries.made_like_inputs([value])[0]
        value.td_node = node  # found again wherever folding moves it (see _reuse_dead_buffers)
        return [ast.Assign(targets=[target], value=value)], target.id

    def _guard(self, node: Node) -> _Guard:
        index = len(self.guards)
        self.guards.append(node)
        kind, expected = node.params["kind"], node.params["expected"]
        value = self.operand(node.inputs[0])
        if kind == "bool":  # the value reported is the one the check saw
            return _Guard(index, value, bool(expected), ast.Constant(value=not expected))
        # the same conversion the trace made: int(2.5) == 2 must hold for 2.7 too
        if kind == "value":
            converted = ast.Call(func=ast.Attribute(value=value, attr="tolist"), args=[], keywords=[])
        else:
            converted = ast.Call(func=ast.Name(id=kind), args=[value], keywords=[])
        test = ast.Compare(left=converted, ops=[ast.NotEq()], comparators=[py_literal(expected)])
        return _Guard(index, test, False, self.operand(node.inputs[0]))


class _Scan:
    """One walk over a function's statements: where each placeholder is loaded (to fold and to
    count uses), every placeholder Name (to rename), and the other names the code uses."""

    def __init__(self):
        self.loads: dict = {}  # placeholder -> [(item index, parent, field, list index or None)]
        self.placeholders: list = []  # every Name node holding a placeholder
        self.free: set = set()  # names that are not placeholders: np, int, _c0, ...

    def add(self, index: int, stmt) -> None:
        todo = [stmt]
        while todo:
            parent = todo.pop()
            fields = ((f, getattr(parent, f)) for f in ("test", "value")) if isinstance(parent, _Guard) \
                else ast.iter_fields(parent)
            for field_name, value in fields:
                for i, child in (enumerate(value) if isinstance(value, list) else ((None, value),)):
                    if isinstance(child, ast.Name):
                        if child.id.startswith(_PLACEHOLDER):
                            self.placeholders.append(child)
                            if not isinstance(getattr(child, "ctx", None), ast.Store):
                                self.loads.setdefault(child.id, []).append((index, parent, field_name, i))
                        else:
                            self.free.add(child.id)
                    elif isinstance(child, ast.Constant) and _negative_number(child.value):
                        # astor writes Constant(-2.0) ** 2 as -2.0 ** 2 (that is -4): unary minus
                        # instead, which it parenthesizes
                        _put(parent, field_name, i, ast.UnaryOp(op=ast.USub(), operand=ast.Constant(-child.value)))
                    elif isinstance(child, ast.AST):
                        todo.append(child)


def _put(parent, field_name: str, i, node) -> None:
    if i is None:
        setattr(parent, field_name, node)
    else:
        getattr(parent, field_name)[i] = node


def _negative_number(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float, complex)):
        return False
    return (v.real < 0) if isinstance(v, complex) else v < 0


_WIDTH_OF_A_NAME = 6  # names are not chosen when statements are measured


def _width(node) -> int:
    """About how many characters ``node`` takes when written out (to keep folded lines short)."""
    if isinstance(node, ast.Name):
        return _WIDTH_OF_A_NAME if node.id.startswith(_PLACEHOLDER) else len(node.id)
    if isinstance(node, ast.Constant):
        return 3 if node.value is Ellipsis else len(repr(node.value))
    if isinstance(node, ast.Attribute):
        return _width(node.value) + 1 + len(node.attr)
    if isinstance(node, ast.keyword):
        return len(node.arg or "**") + 1 + _width(node.value)
    if isinstance(node, _Guard):
        return 12 + _width(node.test)
    if isinstance(node, ast.Assign):
        return sum(_width(t) + 3 for t in node.targets) + _width(node.value)
    if isinstance(node, (ast.BinOp, ast.BoolOp, ast.Compare)):
        parts = list(ast.iter_child_nodes(node))
        return sum(_width(c) for c in parts if not isinstance(c, (ast.operator, ast.cmpop, ast.boolop))) + 3 * (len(parts) // 2)
    if isinstance(node, ast.UnaryOp):
        return _width(node.operand) + (4 if isinstance(node.op, ast.Not) else 1)
    if isinstance(node, ast.Call):
        parts = node.args + node.keywords
        return _width(node.func) + 2 + sum(_width(c) for c in parts) + 2 * max(len(parts) - 1, 0)
    if isinstance(node, ast.Slice):
        return 1 + sum(_width(c) for c in (node.lower, node.upper, node.step) if c is not None)
    children = list(ast.iter_child_nodes(node))
    return sum(_width(c) for c in children) + 2 * max(len(children), 1)


def _fold_temporaries(items: list, spec: FunctionSpec, scan: _Scan) -> None:
    """Fold each temporary used once into the statement that uses it, in the same block, when
    no effect (a guard, a random draw) lies between and the statement stays short.

    In a rolled loop's body only within the body, and an expression that reads the previous
    iteration's value of a name the body assigns again (``x = x + dt * v``) no further than that
    assignment (``item.fold_limit``): moved past it, the read would see the new value."""
    outputs = {v.id for v in spec.outputs if isinstance(v, Var)}
    effects = list(itertools.accumulate(int(item.node.primitive.effectful) for item in items))

    def kept(item) -> bool:  # a statement of its own whatever is folded
        var = item.node.out
        return (item.defines is None or item.node.primitive.effectful or var.name is not None
                or var.id in outputs or len(scan.loads.get(item.defines, ())) != 1
                or (item.loop is not None and (len(item.stmts) != 1 or item.tail)))
    limits = [item.fold_limit for item in items]

    # Folding a value computes it later, at its use. For a large value that must not keep a
    # large temporary it reads alive past large statements in between, beyond that temporary's
    # own last use (recomputed checkpoint blocks, per-step products of a long chain).
    large_statements = list(itertools.accumulate(
        int(item.defines is not None and _large(item.node.out) and kept(item)) for item in items))
    item_of = {item.node.out.id: k for k, item in enumerate(items) if item.defines is not None}
    dies_at = []  # per item: the earliest last use of a large temporary its expression reads
    for item in items:
        soonest = math.inf
        for v in item.node.inputs:
            k = item_of.get(v.id) if isinstance(v, Var) else None
            if k is None or k >= len(dies_at):
                continue  # an argument or a constant (alive throughout), or a loop's carried value
            if not kept(items[k]):
                soonest = min(soonest, dies_at[k])
            elif _large(v):
                soonest = min(soonest, max((load[0] for load in scan.loads.get(items[k].defines, ())),
                                           default=math.inf))
        dies_at.append(soonest)
    folds: dict = {}  # consumer index -> [(placeholder, its one load)]
    for index, item in enumerate(items):
        if kept(item):
            continue
        var = item.node.out
        consumer, parent = scan.loads[item.defines][0][:2]
        if _large(var) and (_is_ufunc_call(parent) or (
                large_statements[consumer - 1] != large_statements[index] and dies_at[index] < consumer)):
            continue  # named: it can take a call's result in place, or it is computed in time
        if (consumer > index and items[consumer].loop is item.loop  # never into or out of a loop's body
                and (items[consumer].block == item.block or _large(var))
                and effects[consumer - 1] == effects[index]  # no effect in between
                and items[consumer].node.primitive.emit_statements is None
                # (a body's statement may be followed by the list that saves its value)
                and (len(items[consumer].stmts) == 1 or (items[consumer].loop is not None and not items[consumer].tail))
                and (limits[index] is None or consumer <= limits[index])):
            folds.setdefault(consumer, []).append((index, scan.loads[item.defines][0]))
            if limits[index] is not None:  # the consumer now reads what this expression reads
                limits[consumer] = min(limits[index], limits[consumer] if limits[consumer] is not None else math.inf)
    widths: dict = {}
    for consumer in sorted(folds):
        width = widths.get(consumer) or _width(items[consumer].stmts[0])
        for source, (_, parent, field_name, i) in sorted(folds[consumer], key=lambda f: f[0]):
            value = items[source].stmts[0].value
            grown = width - _WIDTH_OF_A_NAME + (widths.get(source) or _width(items[source].stmts[0])) - 9
            if grown > (_INLINE_WIDTH_LARGE if _large(items[source].node.out) else _INLINE_WIDTH):
                continue
            _put(parent, field_name, i, value)
            items[source].inlined = True
            items[source].folded_into = consumer
            width = grown
        widths[consumer] = width


def _is_ufunc_call(expr) -> bool:
    """``np.exp(...)`` and the like: NumPy writes an operator's result into a temporary operand
    (temporary elision), but a function call always makes a new array beside its arguments."""
    node = getattr(expr, "td_node", None)
    return isinstance(expr, ast.Call) and node is not None and node.primitive in _ufuncs_of()


# Producers whose result is a new array nothing else refers to (NumPy's own functions that may
# return their input, a view of it, or a user's array are not here).
_FRESH = frozenset({"matmul", "tensordot", "sum", "mean", "max", "min", "prod", "cumsum", "cumprod",
                    "copy", "full", "units", "scatter_add", "setitem", "where"})


def _large(var: Var) -> bool:
    """Large enough for the code to manage its memory: deleted when dead, folded, reused."""
    return math.prod(var.shape) >= large_at()


def _owns_its_array(node: Node) -> bool:
    prim = node.primitive
    return prim.name in _FRESH or prim in _ufuncs_of()


def _reuse_dead_buffers(items: list, spec: FunctionSpec, scan: _Scan, looped=frozenset()) -> None:
    """Write an elementwise result into the array of a large operand that dies there (``out=``),
    rather than into a new one: ``np.multiply(t1, 2.0, out=t1)``.

    The operand must be a temporary the generated code made (never an argument, a constant or an
    output), no view of it may exist, it must be read once in that statement and never after
    (positions after folding), and its shape and dtype must be the result's. NumPy already
    reuses unnamed temporaries inside an expression (its temporary elision); this is for the
    named ones, which a local variable keeps alive through the statement.
    """
    producer = {item.node.out.id: item.node for item in items if item.node.out is not None}
    viewed = {v.id for n in producer.values()
              if n.primitive.shares_first_operand or n.primitive.alias
              for v in n.inputs[:1] if isinstance(v, Var)}
    # (values a rolled loop reads or writes are kept too: an iteration's list may hold them)
    kept = {v.id for v in spec.outputs if isinstance(v, Var)} | {v.id for v in spec.params} | set(looped)
    buffers = {}
    for var_id, node in producer.items():
        var = node.out
        if var_id not in kept and var_id not in viewed and _owns_its_array(node) and _large(var):
            buffers[_placeholder(var)] = var
    if not buffers:
        return
    loads_in: dict = {}  # placeholder -> {item index: loads there}, positions after folding
    for name in buffers:
        for index, *_ in scan.loads.get(name, ()):
            loads_in.setdefault(name, {}).setdefault(_evaluated_at(items, index), []).append(index)
    for index, item in enumerate(items):
        if item.inlined or item.defines is None or item.loop is not None:
            continue
        for parent, field_name, i, expr in list(_expressions(item.stmts[0], "value")):
            node = getattr(expr, "td_node", None)
            ufunc = None if node is None or node.params else _ufuncs_of().get(node.primitive)
            if ufunc is None:
                continue
            if _constant_minus_temporary(expr, node):
                # NumPy never writes 1 - t into the temporary t; it does -t + 1, the same numbers.
                expr.left, expr.op, expr.right = ast.UnaryOp(op=ast.USub(), operand=expr.right), ast.Add(), expr.left
                continue
            operands = _operand_fields(expr, ufunc)
            if any(hasattr(o, "td_node") and not hasattr(o, "td_buffer") for o in operands):
                continue  # an operand computed right here is a temporary NumPy reuses by itself
            for operand in operands:
                # A dead buffer, or a call that just wrote into one (its result *is* that buffer).
                name, var = getattr(operand, "td_buffer", (getattr(operand, "id", None), None))
                if var is None:
                    var = buffers.get(name)
                    if var is None or max(loads_in[name]) != index or len(loads_in[name][index]) != 1:
                        continue
                if var.shape != node.out.shape or var.dtype != node.out.dtype:
                    continue
                out = ast.Name(id=name, ctx=ast.Load())
                scan.placeholders.append(out)
                call_ = ast.Call(func=np_attr(ufunc.__name__), args=operands,
                                 keywords=[ast.keyword(arg="out", value=out)])
                call_.td_node, call_.td_buffer = node, (name, var)
                _put(parent, field_name, i, call_)
                buffers.pop(name, None)  # written now: no second use
                break


def _constant_minus_temporary(expr, node) -> bool:
    """``1 - t`` with ``t`` an array computed right there, large and floating point (where
    ``x - y`` is ``x + -y`` exactly, by IEEE 754)."""
    return (isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Sub) and isinstance(expr.left, ast.Constant)
            and hasattr(expr.right, "td_node") and _large(node.out) and node.out.dtype.kind == "f"
            and getattr(expr.right.td_node.out, "shape", None) == node.out.shape)


@functools.cache
def _ufuncs_of() -> dict:
    """Primitive -> its NumPy ufunc, for the elementwise ones written ``np.<name>`` or an operator
    (not generalized ufuncs such as matmul, which must not write into an operand)."""
    from .primitives.core import UFUNCS

    return {prim: ufunc for ufunc, prim in UFUNCS.items()
            if isinstance(ufunc, np.ufunc) and ufunc.signature is None and getattr(np, ufunc.__name__, None) is ufunc}


def _operand_fields(expr: ast.expr, ufunc: np.ufunc) -> list:
    """The operands of ``expr`` when it is the plain call or operator of ``ufunc``, else []."""
    if isinstance(expr, ast.BinOp) and ufunc.nin == 2:
        return [expr.left, expr.right]
    if isinstance(expr, ast.UnaryOp) and ufunc.nin == 1:
        return [expr.operand]
    if (isinstance(expr, ast.Call) and not expr.keywords and len(expr.args) == ufunc.nin
            and isinstance(expr.func, ast.Attribute) and isinstance(expr.func.value, ast.Name)
            and expr.func.value.id == "np" and getattr(np, expr.func.attr, None) is ufunc):
        return list(expr.args)
    return []


def _expressions(parent, field_name: str, i=None):
    """(parent, field, index, expression) for every expression under ``parent.field``, inner
    ones first (so that rewriting one never detaches another still to come)."""
    value = getattr(parent, field_name) if i is None else getattr(parent, field_name)[i]
    for child_field, child in ast.iter_fields(value):
        if isinstance(child, list):
            for k, element in enumerate(child):
                if isinstance(element, ast.expr):
                    yield from _expressions(value, child_field, k)
        elif isinstance(child, ast.expr):
            yield from _expressions(value, child_field)
    yield parent, field_name, i, value


def _evaluated_at(items: list, index: int) -> int:
    """The statement where item ``index``'s code runs: its own, or the one it was folded into."""
    while items[index].inlined:
        index = items[index].folded_into
    return index


def _function(spec: FunctionSpec, module: _Module) -> list[str]:
    packed_at = {v.id: k for k, v in enumerate(spec.packed_items)}
    packed = {var_id: (id(spec.packed), k) for var_id, k in packed_at.items()}
    entries, in_loop = roll(spec.nodes, packed=packed) if enabled("roll_loops") else (spec.nodes, {})
    build = _Builder(module, in_loop, spec.nodes, spec.packed, packed_at)
    if in_loop:
        build.mark_saved(entries, spec.outputs)
    for entry in entries:
        if isinstance(entry, Loop):
            build.loop(entry)
        else:
            build.add(build.substituted(entry))
    items, headers = build.items, build.headers
    returned = [module.operand(r) if isinstance(r, _Indexed) else r if isinstance(r, Var) else module.literal(r.value)
                for r in map(build.reference, spec.outputs)]
    scan = _Scan()
    for index, item in enumerate(items):
        if item.head is not None:
            for stmt in item.head.prologue:
                scan.add(index, stmt)
        for stmt in item.stmts:
            scan.add(index, stmt)
    for expr in returned:
        if isinstance(expr, ast.expr):
            for n in ast.walk(expr):
                if isinstance(n, ast.Name) and n.id.startswith(_PLACEHOLDER):
                    scan.placeholders.append(n)  # an iteration's value from a loop's list
                elif isinstance(n, ast.Name):
                    scan.free.add(n.id)
    if build.synthetic:
        scan.free.add("range")  # the loops' header calls it: no value may take its name
    if enabled("fold"):
        _fold_temporaries(items, spec, scan)
    if enabled("reuse_buffers") and module.library == "numpy":  # (Dask has no buffers to reuse)
        _reuse_dead_buffers(items, spec, scan, build.looped)
    names = _choose_names(spec, items, module, scan.free, build.synthetic)
    for name_node in scan.placeholders:  # (a Name may be listed twice; a folded one has no name)
        name_node.id = names.get(name_node.id, name_node.id)
    return _lay_out(spec, items, headers, names, returned)


class _Builder:
    """Items and comment blocks of one function, node by node and rolled loop by rolled loop."""

    def __init__(self, module: _Module, in_loop: dict, nodes: list, packed: Var | None = None,
                 packed_at: dict | None = None):
        self.module, self.in_loop, self.nodes = module, in_loop, nodes
        self.packed, self.packed_at = packed, packed_at or {}  # (see FunctionSpec.packed)
        self.items: list[_Item] = []
        self.headers: list = []  # (comment or None, in the backward pass) per block
        self.key, self.backward_seen, self.new_block = object(), False, False
        self.saved: dict = {}  # (loop, offset) -> the Var of the list keeping its every iteration
        self.list_lengths: dict = {}  # placeholder of each such list -> its length
        self.synthetic: list = []  # (Var, name hint or names -> hint): counters, lists, carried values
        self.looped: set = set()  # ids of values a rolled loop reads or writes: never reused, deleted

    def add(self, node: Node, loop: Loop | None = None) -> _Item:
        backward = node.backward_of is not None
        self.backward_seen = self.backward_seen or backward
        where = _where(node)
        if where is not None:
            new_key, header = (backward, where), _header(where, backward)
        elif self.backward_seen:  # zeros and copies tracediff adds after the backward pass
            new_key, header = "results", "# results"
        else:  # a node with no line of the user's stays in its block
            new_key, header = (self.key if self.headers else None), None
        if new_key != self.key or not self.headers or self.new_block:
            self.headers.append((header, self.backward_seen))
            self.key, self.new_block = new_key, False
        stmts, defines = self.module.statements(node)
        if self.list_lengths:
            for stmt in stmts:
                if isinstance(stmt, ast.AST):
                    for list_node in (n for n in ast.walk(stmt) if isinstance(n, ast.List)):
                        list_node.elts = _starred_runs(list_node.elts, self.list_lengths)
        self.items.append(_Item(node, stmts, len(self.headers) - 1, defines, loop=loop))
        return self.items[-1]

    # --- values of rolled loops --------------------------------------------------------------

    def mark_saved(self, entries: list, outputs: list) -> None:
        """Make a list for each loop value some later code reads at another iteration than the
        last (the last one is in the body's name when the loop is done)."""
        def read(v):
            where = self.in_loop.get(v.id) if isinstance(v, Var) else None
            if where is not None and where[1] != where[0].count - 1:
                self._saved(where[0], where[2])

        for entry in entries:
            if isinstance(entry, Loop):
                for v in entry.inits.values():
                    read(v)
                for cls_row in entry.classes:
                    for cls in cls_row:
                        if cls[0] == "iter":
                            loop, q, a, b = cls[1:]
                            if a != 0 or b != loop.count - 1:
                                self._saved(loop, q)
            else:
                for v in entry.inputs:
                    read(v)
        for v in outputs:
            read(v)

    def _saved(self, loop: Loop, q: int) -> Var:
        if (loop, q) not in self.saved:
            var = loop.nodes[q].out
            self.saved[loop, q] = saved = self.module.fresh_var((), object)
            self.list_lengths[_placeholder(saved)] = loop.count
            self.synthetic.append((saved, lambda names, var=var: f"{var.name or names.get(_placeholder(var), 'saved')}_steps"))
        return self.saved[loop, q]

    def reference(self, v):
        """Operand ``v`` read outside the loop that made it: the body's name after the last
        iteration, an element of the saved list for another one."""
        where = self.in_loop.get(v.id) if isinstance(v, Var) else None
        if where is None:
            k = self.packed_at.get(v.id) if isinstance(v, Var) else None
            return v if k is None else _Indexed(self.packed, k, v)
        loop, t, q = where
        if t == loop.count - 1:
            return loop.nodes[q].out
        return _Indexed(self.saved[loop, q], t, loop.nodes[q].out)

    def substituted(self, node: Node) -> Node:
        inputs = [self.reference(v) for v in node.inputs]
        if all(a is b for a, b in zip(inputs, node.inputs)):
            return node
        return Node(node.primitive, inputs, node.params, node.out, node.loc, node.backward_of)

    # --- a rolled loop -----------------------------------------------------------------------

    def loop(self, loop: Loop) -> None:
        module = self.module
        counter = module.fresh_var((), np.intp)
        self.synthetic.append((counter, "i"))
        carried = self._carried(loop)
        prologue = []
        for q in sorted(loop.inits):
            init = self.reference(loop.inits[q])
            value = module.operand(init) if not isinstance(init, Literal) else module.literal(init.value)
            prologue.append(ast.Assign(targets=[ast.Name(id=_placeholder(carried[q]), ctx=ast.Store())], value=value))
            if isinstance(init, Var):
                self.looped.add(init.id)
        for q in range(len(loop.nodes)):
            if (loop, q) in self.saved:
                empty = ast.BinOp(left=ast.List(elts=[ast.Constant(None)], ctx=ast.Load()), op=ast.Mult(),
                                  right=ast.Constant(loop.count))
                prologue.append(ast.Assign(targets=[ast.Name(id=_placeholder(self.saved[loop, q]), ctx=ast.Store())],
                                           value=empty))
        self.new_block = True
        first = len(self.items)
        for q, (node, classes) in enumerate(zip(loop.nodes, loop.classes)):
            inputs = [self._operand(loop, v, cls, carried, counter) for v, cls in zip(node.inputs, classes)]
            params = node.params
            if len(classes) > len(node.inputs):  # ("ints", steps, starts): an index moving with the counter
                _, steps, starts = classes[-1]
                moving = (_index_expression((a, b, counter)) for a, b in zip(steps, starts))
                params = {**params, "index": with_moving(params["index"], moving)}
            guards = len(module.guards)
            item = self.add(Node(node.primitive, inputs, params, node.out, node.loc, node.backward_of), loop)
            if len(module.guards) > guards:  # a failure names the guard of the first iteration
                module.guards[guards] = self._first_block_node(loop, q)
            self.looped.update(v.id for v in inputs if isinstance(v, Var))
            if node.out is not None:
                self.looped.add(node.out.id)
            for cls in classes:  # the previous iteration's value, in a name assigned again at offset r
                if cls[0] == "carry" and carried[cls[1]] is loop.nodes[cls[1]].out:
                    limit = first + cls[1]
                    item.fold_limit = limit if item.fold_limit is None else min(item.fold_limit, limit)
            if (loop, q) in self.saved:
                store = ast.Subscript(value=ast.Name(id=_placeholder(self.saved[loop, q]), ctx=ast.Load()),
                                      slice=ast.Name(id=_placeholder(counter), ctx=ast.Load()), ctx=ast.Store())
                item.stmts.append(ast.Assign(targets=[store], value=ast.Name(id=_placeholder(node.out), ctx=ast.Load())))
        updates = [(carried[q], loop.nodes[q].out) for q in sorted(carried) if carried[q] is not loop.nodes[q].out]
        if updates:  # carried values read after their offset has its new value: updated at the end
            targets = [ast.Name(id=_placeholder(c), ctx=ast.Store()) for c, _ in updates]
            values = [ast.Name(id=_placeholder(v), ctx=ast.Load()) for _, v in updates]
            if len(updates) == 1:
                self.items[-1].stmts.append(ast.Assign(targets=targets, value=values[0]))
            else:
                self.items[-1].stmts.append(ast.Assign(targets=[ast.Tuple(elts=targets, ctx=ast.Store())],
                                                       value=ast.Tuple(elts=values, ctx=ast.Load())))
            self.looped.update(c.id for c, _ in updates)
        self.items[first].head = _LoopHead(counter, loop.count, prologue, _loop_comment(loop))
        self.items[-1].tail = True
        self.new_block = True

    def _first_block_node(self, loop: Loop, q: int) -> Node:
        return self.nodes[loop.start + q]

    def _carried(self, loop: Loop) -> dict:
        """Offset -> the name a carried value has in the body: the offset's own name when every
        read of it comes before the offset is assigned again, a name of its own otherwise."""
        late = set()
        for o, (node, classes) in enumerate(zip(loop.nodes, loop.classes)):
            for cls in classes:
                if cls[0] == "carry" and (o > cls[1] or (o == cls[1] and node.primitive.emit_statements is not None)):
                    late.add(cls[1])
        carried = {}
        for q in loop.inits:
            var = loop.nodes[q].out
            if q in late:
                carried[q] = self.module.fresh_var(var.shape, var.dtype)
                self.synthetic.append((carried[q], f"{var.name or 'carried'}_before"))
            else:
                carried[q] = var
        return carried

    def _operand(self, loop: Loop, v, cls: tuple, carried: dict, counter: Var):
        kind = cls[0]
        if kind == "inv":
            return self.reference(v)
        if kind == "int":
            return loop.nodes[cls[1]].out
        if kind == "carry":
            return carried[cls[1]]
        if kind == "row" and isinstance(v, Var):  # an item of the packed parameter
            return _Indexed(self.packed, (*cls[2:], counter), v)
        if kind == "row":
            return _Indexed(None, (*cls[2:], counter), v, array=row_of(v)[0], array_name=v.row and v.row[2])
        earlier, q, a, b = cls[1:]  # "iter": iteration a*counter + b of an earlier loop
        var = earlier.nodes[q].out
        if a == 0:
            return var if b == earlier.count - 1 else _Indexed(self.saved[earlier, q], b, var)
        return _Indexed(self.saved[earlier, q], (a, b, counter), var)


def _starred_runs(elts: list, lists: dict) -> list:
    """List items with each run of four or more consecutive items of a loop's saved list written
    as one starred item: ``[x, *x_steps, x_3]`` (an array built from every step of a loop),
    ``[*x_steps[10:20]]``. ``lists``: the lists' placeholders and lengths."""
    def item(elt):  # (list placeholder, index) of ``saved[3]``, or None
        if (isinstance(elt, ast.Subscript) and isinstance(elt.value, ast.Name) and elt.value.id in lists
                and isinstance(elt.slice, ast.Constant) and type(elt.slice.value) is int):
            return elt.value.id, elt.slice.value
        return None

    out, k = [], 0
    while k < len(elts):
        first, end = item(elts[k]), k + 1
        while first is not None and end < len(elts) and item(elts[end]) == (first[0], first[1] + end - k):
            end += 1
        if first is None or end - k < 4:
            out.append(elts[k])
            k += 1
            continue
        name, start = first
        run = ast.Name(id=name, ctx=ast.Load())
        if (start, end - k) != (0, lists[name]):
            run = ast.Subscript(value=run, slice=ast.Slice(ast.Constant(start), ast.Constant(start + end - k)),
                                ctx=ast.Load())
        out.append(ast.Starred(value=run, ctx=ast.Load()))
        k = end
    return out


def _index_expression(index) -> ast.expr:
    """``3``, or ``i``, ``i + 2``, ``i - 13``, ``998 - i``, ``2 * i + 1`` for (a, b, counter)."""
    if isinstance(index, int):
        return ast.Constant(index)
    a, b, counter = index
    if a == 0:
        return py_literal(b)
    name = ast.Name(id=_placeholder(counter), ctx=ast.Load())
    if a == 1:
        term = name
    elif a == -1:
        return ast.BinOp(left=ast.Constant(b), op=ast.Sub(), right=name) if b else ast.UnaryOp(op=ast.USub(), operand=name)
    else:
        term = ast.BinOp(left=ast.Constant(a), op=ast.Mult(), right=name)
    if not b:
        return term
    return ast.BinOp(left=term, op=ast.Add() if b > 0 else ast.Sub(), right=ast.Constant(abs(b)))


def _loop_comment(loop: Loop) -> str | None:
    """``# for: 1000 iterations of model.py:7-9`` (``grad of model.py:7-9`` in the backward pass)."""
    places = [w for w in map(_where, loop.nodes) if w is not None]
    if not places:
        return f"# for: {loop.count} iterations"
    lines = sorted({w.lineno for w in places if w.filename == places[0].filename})
    span = f"{lines[0]}" if len(lines) == 1 else f"{lines[0]}-{lines[-1]}"
    grad = "grad of " if any(n.backward_of is not None for n in loop.nodes) else ""
    return _comment(f"# for: {loop.count} iterations of {grad}{places[0].filename}:{span}")


def _choose_names(spec: FunctionSpec, items: list, module: _Module, free: set, synthetic=()) -> dict:
    """Placeholder -> name for this function: the user's names first, then cotangents and
    temporaries, in the order they are defined (so the same graph always gets the same names)."""
    taken = NameSet(set(_RESERVED) | set(module.arrays) | set(module.functions) | set(module.modules) | free)
    used = frozenset(taken)  # names the code uses: a user's name equal to one gets a trailing _
    names: dict = {}

    def give(var: Var, hint: str | None) -> None:
        key = _placeholder(var)
        if key in names:
            return
        shared = module.names.get(var.id)
        if shared is not None and shared not in taken:
            taken.add(shared)
            names[key] = shared
        elif hint and re.search(r"[A-Za-z0-9]", hint, flags=re.ASCII):
            names[key] = safe_identifier(hint, taken, used)
        else:
            return
        module.names[var.id] = names[key]

    def cotangent_hint(var: Var) -> str | None:
        if var.grad_of is None:
            return var.name
        forward = names.get(_placeholder(var.grad_of)) or module.names.get(var.grad_of.id)
        again = var.grad_of.recomputed_as  # the value of a checkpoint block, as the backward pass made it
        if forward is None and again is not None:
            forward = names.get(_placeholder(again)) or module.names.get(again.id)
        return f"g_{forward}" if forward else var.name

    for var, hint in itertools.zip_longest(spec.params, spec.param_names):
        give(var, hint or var.name)
        if _placeholder(var) not in names:
            names[_placeholder(var)] = module.names[var.id] = safe_identifier("arg", taken)
    defined = [item.node.out for item in items if item.node.out is not None and not item.inlined]
    output_hints = {}
    for v, hint in zip(spec.outputs, spec.output_names):
        if isinstance(v, Var) and hint and v.id not in output_hints:
            output_hints[v.id] = hint
    copies = {item.node.out.id for item in items if item.node.out is not None and item.node.primitive.name == "copy"}
    for var in defined:  # the user's own names
        if var.name is not None and var.grad_of is None and var.id not in copies:
            give(var, var.name)
    for var in defined:  # cotangents, outputs, temporaries
        hint = output_hints.get(var.id) if (var.name is None or var.id in copies) else None
        give(var, hint or cotangent_hint(var))
        if _placeholder(var) not in names:
            while True:
                temp = f"t{next(module.temps)}"
                if temp not in taken:
                    break
            taken.add(temp)
            names[_placeholder(var)] = temp
            module.names[var.id] = temp
    for var, hint in synthetic:  # a loop's counter, lists and carried values
        hint = hint(names) if callable(hint) else hint
        names[_placeholder(var)] = safe_identifier(hint, taken, used)
    return names


def _dead_after(items: list, names: dict, keep: set) -> dict:
    """Item index -> the large values no later statement reads, to delete after that item."""
    last, defined_at = {}, {}
    loop_end, end = {}, None  # item index -> the last item of the loop it is in
    for index in range(len(items) - 1, -1, -1):
        if items[index].tail:
            end = index
        if items[index].loop is None:
            end = None
        elif end is not None:
            loop_end[index] = end
    for index, item in enumerate(items):
        at = loop_end.get(index, index)  # a value read in a loop lives until the loop is done
        for stmt in (item.head.prologue if item.head is not None else []) + ([] if item.inlined else item.stmts):
            roots = [stmt.test, stmt.value] if isinstance(stmt, _Guard) else [stmt]
            for root in roots:
                for node in ast.walk(root):
                    if isinstance(node, ast.Name):
                        last[node.id] = at
        out = item.node.out
        if out is not None and _large(out) and item.loop is None and not item.inlined:
            name = names.get(_placeholder(out))
            if name is not None and name not in keep:
                defined_at[name] = index
    dead: dict = {}
    for name, index in defined_at.items():
        dead.setdefault(last.get(name, index), []).append(name)
    return dead


def _lay_out(spec: FunctionSpec, items: list, headers: list, names: dict, returned: list) -> list[str]:
    params = [names[_placeholder(v)] for v in spec.params]
    lines = [f"def {spec.name}({', '.join(params)}):"]
    outs = [names[_placeholder(r)] if isinstance(r, Var) else _source(r) for r in returned]
    # Large intermediates are deleted once no statement reads them, so they are freed before the
    # function returns (peak memory); smaller ones are left to the return.
    dead = _dead_after(items, names, set(params) | set(outs)) if enabled("free") else {}
    block, indent, marked = None, "    ", False
    for index, item in enumerate(items):
        header, backward = headers[item.block]
        if item.inlined and item.head is None:
            continue
        if backward and not marked:
            lines.append("    # --- backward pass ---")
            marked = True
        if item.head is not None:  # a rolled loop starts: its carried values, its lists, its header
            lines.extend(f"{indent}{line}" for stmt in item.head.prologue for line in _source(stmt).split("\n"))
            if item.head.comment is not None:
                lines.append(f"{indent}{item.head.comment}")
            lines.append(f"{indent}for {names[_placeholder(item.head.counter)]} in range({item.head.count}):")
            indent, block = indent + "    ", None
            if item.inlined:  # (its statement is folded into a later one of the body)
                continue
        if item.block != block:
            if header is not None:
                lines.append(f"{indent}{header}")
            block = item.block
        for stmt in item.stmts:
            rendered = stmt.render() if isinstance(stmt, _Guard) else _source(stmt).split("\n")
            lines.extend(f"{indent}{line}" for line in rendered)
        if item.tail:
            indent, block = indent[:-4], None
        if index in dead:
            lines.append(f"{indent}del {', '.join(dead[index])}")
    lines.append(f"    return {', '.join(outs)}{',' if len(outs) == 1 else ''}" if outs else "    return ()")
    return lines


# ---------------------------------------------------------------------------------------------
# The module


def constant_literal(value: np.ndarray) -> ast.expr | None:
    """``np.array([1.0, 2.0])`` for a small array of numbers, ``np.full((20, 2), 1.0)`` for one
    value everywhere; None when the array is better by name."""
    kind, size = value.dtype.kind, value.dtype.itemsize
    if kind not in "biufc" or (kind == "f" and size > 8) or (kind == "c" and size > 16):
        return None  # long double does not survive a trip through Python floats
    kwargs = {} if value.dtype in (np.float64, np.bool_) else {"dtype": value.dtype}
    keywords = [ast.keyword(arg=k, value=py_literal(v)) for k, v in kwargs.items()]
    if value.size > _SMALL_CONSTANT:
        first = uniform_item(value)
        if first is None or first != first:
            return None
        fill = _exact_items(np.reshape(first, 1))[0]
        return ast.Call(func=np_attr("full"), args=[py_literal(value.shape), py_literal(fill)], keywords=keywords)
    if value.size == 0 and value.ndim != 1:
        return None
    items = value.tolist() if value.dtype.kind in "bi" else _exact_items(value)
    return ast.Call(func=np_attr("array"), args=[py_literal(items)], keywords=keywords)


def _exact_items(value: np.ndarray):
    """Nested lists of Python numbers that read back as the same values in ``value``'s dtype."""
    def item(x):
        if value.dtype.kind == "c":
            return complex(float(str(x.real)), float(str(x.imag)))
        return float(str(x)) if value.dtype.kind == "f" else x.item()

    def nest(a):
        return [nest(x) for x in a] if a.ndim else item(a[()])

    if value.ndim == 0:
        return item(value[()])
    return nest(value)


def _constant_comments(arrays: dict) -> list[str]:
    if not arrays:
        return []
    lines = ["# Arrays read from outside the arguments, by reference (values as traced):"]
    for name, value in arrays.items():
        literal = constant_literal(value)
        shown = _source(ast.Assign(targets=[ast.Name(id=name)], value=literal)) if literal is not None else None
        if shown is not None and "\n" not in shown and len(shown) <= 100:
            lines.append(f"#   {shown}")
        else:
            lines.append(f"#   {name}: {type_str(value.shape, value.dtype)}")
    return lines


@dataclass
class Rendered:
    """A module's source before it is compiled, with what its namespace will hold."""

    source: str
    functions: str  # the source of the functions alone (what export reuses)
    title: str
    guards: list  # Node, in the order of their guard index
    constants: dict  # name -> array
    callables: dict  # name -> a user primitive's function
    modules: dict  # name -> a module besides NumPy
    like: object = None  # a Dask or CuPy array of the inputs (see generate)


def generate(functions: list[FunctionSpec], title: str, like=None) -> GeneratedModule:
    """Render ``functions`` into one module, compile it and register its source for tracebacks.

    ``like``: a Dask or CuPy array of the inputs, for code that runs on that library's arrays
    (array_libraries.py); None for NumPy's."""
    return load(render(functions, title, like))


def render(functions: list[FunctionSpec], title: str, like=None) -> Rendered:
    """The source of ``functions`` as one module (see generate), not compiled yet."""
    library = "numpy" if like is None else array_libraries.library_of(like)
    module = _Module(library)
    module.reserved.update(spec.name for spec in functions)
    body: list[str] = []
    for spec in functions:
        body += ["", "", *_function(spec, module)]
    functions_source = "\n".join(body).strip("\n") + "\n"
    header = [_comment(f"# Generated by tracediff: {title}"), "import numpy as np",
              *import_lines(module.modules, functions_source)]
    if module.guards:
        header.append("# GuardFailed(i, value): the inputs take another path than the traced one")
    if library != "numpy":
        header.append(f"# For {library} arrays: NumPy hands each np.* call to {library}; "
                      f"{array_libraries.LIKE} is a {library} array, so arrays made here are {library}'s")
    constants = _constant_comments(module.arrays)
    if constants:
        header += ["", *constants]
    source = "\n".join(header) + "\n\n\n" + functions_source
    return Rendered(source, functions_source, title, module.guards, dict(module.arrays), dict(module.functions),
                    dict(module.modules), like)


def load(rendered: Rendered) -> GeneratedModule:
    """Compile a rendered module and register its source (``TRACEDIFF_DUMP_DIR``: write it)."""
    namespace: dict = {"np": np, "GuardFailed": GuardFailed, **rendered.modules, **rendered.constants,
                       **rendered.callables}
    if rendered.like is not None:
        namespace[array_libraries.LIKE] = array_libraries.prototype(rendered.like)
    filename = _dump(rendered.source, rendered.title) or _register(rendered.source, rendered.title)
    exec(compile(rendered.source, filename, "exec"), namespace)
    namespace["__source_lines__"] = lines = _SourceLines()
    weakref.finalize(lines, linecache.cache.pop, filename, None).atexit = False
    return GeneratedModule(rendered.source, filename, namespace, rendered.guards, rendered.title,
                           rendered.functions, dict(rendered.constants), dict(rendered.callables),
                           dict(rendered.modules))


def import_lines(modules: dict, source: str) -> list[str]:
    """``import scipy.special`` for the modules besides NumPy that ``source`` uses."""
    lines = []
    for name, value in sorted(modules.items()):
        if not isinstance(value, types.ModuleType) or value.__name__.split(".")[0] != name:
            continue
        paths = sorted(set(re.findall(rf"(?<![\w.]){re.escape(name)}((?:\.\w+)*)", source)))
        for path in paths or [""]:
            parts = f"{name}{path}".split(".")
            while len(parts) > 1 and ".".join(parts) not in sys.modules:
                parts.pop()
            line = f"import {'.'.join(parts)}"
            if line not in lines:
                lines.append(line)
    return lines


def _register(source: str, title: str) -> str:
    """An in-memory file name for ``source``, registered with linecache."""
    filename = f"<tracediff-{next(_module_counter)}: {printable(title)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return filename


class _SourceLines:
    """Held by a generated module's namespace, which every generated function and each of their
    frames (running, or kept by a traceback) holds: when it is garbage, nothing can run or show
    the code any more, and the source leaves linecache."""

    __slots__ = ("__weakref__",)


def release_source(module: GeneratedModule) -> None:
    """Drop ``module``'s source from linecache now (its specialization left the cache), unless a
    thread is running its code: that source goes when the module is garbage (see ``generate``)."""
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_filename == module.filename:
                return
            frame = frame.f_back
    linecache.cache.pop(module.filename, None)


def _dump(source: str, title: str) -> str | None:
    """With TRACEDIFF_DUMP_DIR set: write ``source`` to a file there (named after its title and
    content) and return its path, so the code is compiled from a real file that tracebacks,
    pdb and editors can open."""
    folder = os.environ.get(DUMP_DIR_VARIABLE)
    if not folder:
        return None
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    stem = safe_identifier(title.replace("<lambda>", "lambda").replace("<locals>", ""), set())
    path = os.path.abspath(os.path.join(folder, f"{stem}_{digest}.py"))
    try:
        os.makedirs(folder, exist_ok=True)
        if not (os.path.exists(path) and open(path, encoding="utf-8").read() == source):
            temp = f"{path}.{os.getpid()}.tmp"
            with open(temp, "w", encoding="utf-8") as f:
                f.write(source)
            os.replace(temp, path)  # whole or not at all, for readers in other processes
    except OSError as error:
        warnings.warn(f"tracediff: cannot write generated code to {DUMP_DIR_VARIABLE}={folder!r}: {error}",
                      RuntimeWarning, stacklevel=4)
        return None
    # Registered too, so tracebacks show it even if the file is removed later.
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    return path
