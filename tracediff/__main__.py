"""The command line: show the gradient tracediff generates for a function in a file.

    python -m tracediff show model.py:loss --arg w=f64[3,1] --arg x=f64[64,3] --arg y=f64[64,1]
    python -m tracediff show model.py:loss --arg w=f64[3,1] ... --ir      # the IR graph instead
    python -m tracediff show model.py:loss --arg w=f64[3,1] ... --dot     # Graphviz DOT
    python -m tracediff export model.py:loss --arg ... -o loss_grad.py     # a standalone module

Argument types: ``f64[3,1]``, ``f32[8]`` (random arrays; also f16, i32, i64, bool), ``f64[]`` (a 0-d
array), ``float`` (a random Python float), ``float:0.5``, ``int:3`` (Python scalars: runtime values),
``str:mean`` (a static value).
Arguments named ``name=type`` go to the function's parameter of that name; unnamed ones fill
the parameters in order. The file is imported as a module (its ``if __name__ == "__main__":``
block does not run; what it prints on import goes to stderr).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import os
import re
import sys

import numpy as np

USAGE_ERROR = 2
_DTYPES = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64,
           "bool": np.bool_}


class CommandError(Exception):
    """A mistake in the command line, reported without a traceback."""


def parse_type(spec: str, rng: np.random.Generator):
    """A random value of the type ``spec`` (``f64[3,1]``, ``float``, ``int:3``, ...)."""
    spec = spec.strip()
    match = re.fullmatch(r"(\w+)\[([^\]]*)\]", spec)
    if match:
        kind, dims = match.groups()
        if kind not in _DTYPES:
            raise CommandError(f"unknown dtype {kind!r} in {spec!r}; use one of {', '.join(_DTYPES)}")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip()) if dims.strip() else ()
        except ValueError:
            raise CommandError(f"bad shape in {spec!r}: write sizes as integers, e.g. f64[3,4] or f64[]") from None
        if any(d < 0 for d in shape):
            raise CommandError(f"bad shape in {spec!r}: sizes cannot be negative")
        dtype = np.dtype(_DTYPES[kind])
        if dtype.kind == "f":
            return rng.standard_normal(shape).astype(dtype)
        if dtype.kind == "b":
            return rng.random(shape) < 0.5
        return rng.integers(0, 10, shape).astype(dtype)
    if spec == "float":
        return float(rng.standard_normal())
    kind, sep, text = spec.partition(":")
    if sep and kind in ("float", "int", "str"):
        try:
            return {"float": float, "int": int, "str": str}[kind](text)
        except ValueError:
            raise CommandError(f"bad value in {spec!r}: {text!r} is not a {kind}") from None
    raise CommandError(
        f"cannot read the type {spec!r}: use f64[3,1], f32[8], f64[] (0-d), float, float:0.5, int:3 or str:text"
    )


def load_function(target: str):
    """``path/to/file.py:name`` (or ``file.py:Class.method``) -> the object."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise CommandError(f"expected FILE.py:FUNCTION, got {target!r}")
    if not os.path.isfile(path):
        raise CommandError(f"no such file: {path}")
    module_name = "_tracediff_show_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses, pickling and tracebacks look modules up here
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # its own imports of neighbours
    with contextlib.redirect_stdout(sys.stderr):
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise CommandError(f"importing {path} raised {type(error).__name__}: {error}") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise CommandError(f"{path} has no {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CommandError(f"{path}:{name} is a {type(obj).__name__}, not a function")
    return obj


def build_arguments(fun, specs: list, rng) -> list:
    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    values: dict = {}
    unnamed = []
    for spec in specs:
        name, sep, type_spec = spec.partition("=")
        if not sep:
            unnamed.append(spec)
            continue
        name = name.strip()
        if name not in params:
            raise CommandError(f"--arg {spec!r}: the function has no parameter {name!r} "
                               f"(its parameters: {', '.join(params) or 'none found'})")
        if name in values:
            raise CommandError(f"--arg {spec!r}: {name} is given twice")
        values[name] = parse_type(type_spec, rng)
    free = [p for p in params if p not in values]
    for spec in unnamed:
        if not free:
            if params:
                raise CommandError(f"--arg {spec!r}: every parameter already has a value")
            free.append(f"arg{len(values)}")
            params.append(free[0])
        values[free.pop(0)] = parse_type(spec, rng)
    last = max((params.index(p) for p in values), default=-1)
    missing = [p for p in params[:last + 1] if p not in values]
    if missing:
        raise CommandError(f"no --arg for parameter(s) {', '.join(missing)}")
    return [values[p] for p in params if p in values]


def _argnums(text: str | None, n_args: int):
    if text is None:
        return None
    try:
        nums = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise CommandError(f"--argnums {text!r}: write argument positions as integers, e.g. 0,1") from None
    if not nums or any(not -n_args <= k < n_args for k in nums):
        raise CommandError(f"--argnums {text!r}: the function gets {n_args} argument(s)")
    return nums[0] if len(nums) == 1 and "," not in text else nums


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracediff", description="Show what tracediff generates.")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print the generated gradient source of FILE.py:FUNC")
    export = commands.add_parser("export", help="write the gradient of FILE.py:FUNC as a standalone module")
    for sub in (show, export):
        sub.add_argument("target", metavar="FILE.py:FUNC")
        sub.add_argument("--arg", action="append", default=[], metavar="[NAME=]TYPE",
                         help="an argument: f64[3,1], f32[8], f64[], float, int:3 ...")
        sub.add_argument("--argnums", help="the arguments to differentiate, e.g. 0 or 0,1 (default 0)")
        sub.add_argument("--value", action="store_true", help="value_and_grad instead of grad")
        sub.add_argument("--seed", type=int, default=0, help="seed of the random arguments (default 0)")
    show.add_argument("--ir", action="store_true", help="print the IR graph (forward and backward)")
    show.add_argument("--dot", action="store_true", help="print the graph in Graphviz's DOT language")
    export.add_argument("-o", "--output", required=True, help="the module to write (.py)")
    options = parser.parse_args(argv)
    try:
        return _run(options)
    except CommandError as error:
        print(f"python -m tracediff {options.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def _run(options) -> int:
    import tracediff as td

    fun = load_function(options.target)
    if isinstance(fun, td.api.GradFunction):  # already decorated with @td.grad
        argnums = fun.argnums
        fun = fun.fun
    else:
        argnums = 0
    rng = np.random.default_rng(options.seed)
    args = build_arguments(fun, options.arg, rng)
    if not args:
        raise CommandError("give the function's arguments with --arg NAME=TYPE (e.g. --arg x=f64[3])")
    given = _argnums(options.argnums, len(args))
    g = (td.value_and_grad if options.value else td.grad)(fun, argnums=argnums if given is None else given)
    try:
        if options.command == "export":
            print(td.export(g, *args, path=options.output))
            return 0
        outputs = []
        if options.ir:
            outputs.append(str(g.ir(*args)))
        if options.dot:
            outputs.append(g.ir(*args).to_dot(f"{g.kind} of {getattr(fun, '__qualname__', fun)}").rstrip("\n"))
        if not outputs:
            outputs.append(g.source(*args).rstrip("\n"))
    except (td.TracediffError, TypeError, ValueError) as error:
        raise CommandError(f"{type(error).__name__}: {error}") from None
    print("\n\n".join(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
