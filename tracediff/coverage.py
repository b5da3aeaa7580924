"""The coverage page: every NumPy (and SciPy) function tracediff supports, from the registries.

    python -m tracediff.coverage            # writes docs/coverage.md
    python -m tracediff.coverage --check    # exit status 1 when docs/coverage.md is stale

The page is built from ``UFUNCS`` (ufunc -> primitive), ``FUNCTIONS`` (NumPy function ->
handler) and ``LIBRARY_FUNCTIONS`` (public name of a SciPy function written in Python -> handler,
see primitives/scipy_hook.py), so a function registered by any family module appears without
being listed here. Each
entry gets its public name (``np.linalg.norm``), its family (the module that registered it), whether
a gradient flows through it, and its caveat: the ``caveat`` attribute of the primitive or of the
handler. A handler that composes other functions may say ``handler.differentiable``; otherwise it
counts as differentiable when a differentiable primitive is reachable from its code.
"""
from __future__ import annotations

import argparse
import dis
import pathlib
import sys
import types

import numpy as np

from .primitives import core
from .primitives.core import FUNCTIONS, UFUNCS, Primitive, takes_complex
from .primitives.scipy_hook import LIBRARY_FUNCTIONS

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "coverage.md"
COMMAND = "python -m tracediff.coverage"

FAMILIES = {  # module -> (order, title)
    "elementwise": (0, "Elementwise"),
    "reductions": (1, "Reductions and statistics"),
    "shape": (2, "Shape and assembly"),
    "indexing": (3, "Indexing"),
    "linalg": (4, "Products and linear algebra"),
    "fft": (5, "FFT"),
    "random": (6, "Random"),
    "special": (7, "SciPy special functions (scipy.special)"),
    "scipy_stats": (8, "SciPy distributions (scipy.stats)"),
    "scipy_linalg": (9, "SciPy linear algebra (scipy.linalg)"),
    "scipy_signal": (10, "SciPy signal processing (scipy.signal)"),
    "scipy_integrate": (11, "SciPy integration (scipy.integrate)"),
}
SCIPY_MODULES = ("scipy.special", "scipy.stats", "scipy.linalg", "scipy.signal", "scipy.integrate")


def _public_modules() -> list:
    mods = [("np", np), ("np.linalg", np.linalg), ("np.fft", np.fft)]
    for name in SCIPY_MODULES:  # the page documents the SciPy rules when SciPy is installed
        try:
            __import__(name)
        except ImportError:
            continue
        mods.append((name, sys.modules[name]))
    return mods


def _public_names(modules) -> dict:
    """id(object) -> its public names (``np.abs``, ``np.absolute``), shortest first."""
    names: dict = {}
    for prefix, module in modules:
        for attr in dir(module):
            if attr.startswith("_"):
                continue
            try:
                obj = getattr(module, attr)
            except Exception:  # a lazily loaded attribute that fails to load
                continue
            if callable(obj) and not isinstance(obj, (type, types.ModuleType)):
                names.setdefault(id(obj), []).append(f"{prefix}.{attr}")
    return {k: sorted(set(v), key=lambda n: (len(n), n)) for k, v in names.items()}


def _module_family(module_name: str | None) -> str:
    module_name = module_name or ""
    return module_name.rsplit(".", 1)[-1] if module_name.startswith("tracediff.primitives.") else module_name


def _primitive_families() -> dict:
    """id(primitive) -> the family module that holds it as a global."""
    out = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("tracediff.primitives.") and module is not None and name != core.__name__:
            for value in vars(module).values():
                if isinstance(value, Primitive):
                    out.setdefault(id(value), _module_family(name))
    return out


def _reachable_primitives(fn, depth: int = 4, seen=None) -> list:
    """The primitives a handler can bind: in its closure, the globals its code names, and
    (recursively) the functions and NumPy handlers it calls."""
    seen = set() if seen is None else seen
    if id(fn) in seen or depth < 0:
        return []
    seen.add(id(fn))
    if isinstance(fn, Primitive):
        return [fn]
    if isinstance(fn, types.MethodType):
        return _reachable_primitives(fn.__self__, depth, seen) + _reachable_primitives(fn.__func__, depth, seen)
    code = getattr(fn, "__code__", None)
    if code is None:
        handler = FUNCTIONS.get(fn)
        if handler is not None:
            return _reachable_primitives(handler, depth - 1, seen)
        prim = UFUNCS.get(fn) if isinstance(fn, np.ufunc) else None
        return [prim] if prim is not None else []
    found = []
    candidates = [cell.cell_contents for cell in (fn.__closure__ or ()) if _has_contents(cell)]
    globals_ = getattr(fn, "__globals__", {})
    codes = [code]
    while codes:
        c = codes.pop()
        codes.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        candidates += [globals_[name] for name in c.co_names if name in globals_
                       and not isinstance(globals_[name], types.ModuleType)]
        candidates += _module_attributes(c, globals_)
    for value in candidates:
        if isinstance(value, Primitive):
            found.append(value)
        elif isinstance(value, np.ufunc) and value in UFUNCS:
            found.append(UFUNCS[value])
        elif callable(value) and (value in FUNCTIONS if _hashable(value) else False):
            found += _reachable_primitives(FUNCTIONS[value], depth - 1, seen)
        elif isinstance(value, types.FunctionType) and value.__module__.startswith("tracediff."):
            found += _reachable_primitives(value, depth - 1, seen)
    return found


def _module_attributes(code, globals_) -> list:
    """What ``np.linalg.norm``-style attribute chains on modules in ``code`` refer to."""
    found, obj = [], None
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(globals_.get(ins.argval), types.ModuleType):
            obj = globals_[ins.argval]
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and obj is not None:
            obj = getattr(obj, ins.argval, None)
            if obj is not None and not isinstance(obj, types.ModuleType):
                found.append(obj)
                obj = None
        else:
            obj = None
    return found


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _direct_primitives(fn) -> list:
    """The primitives ``fn`` names itself (closure and globals), not those of what it calls."""
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    values = [cell.cell_contents for cell in (fn.__closure__ or ()) if _has_contents(cell)]
    values += [fn.__globals__.get(name) for name in code.co_names]
    return [v for v in values if isinstance(v, Primitive)]


def _describe_handler(handler):
    """(differentiable, caveat) of a FUNCTIONS handler."""
    prims = _reachable_primitives(handler)
    differentiable = getattr(handler, "differentiable", None)
    if differentiable is None:
        differentiable = any(p.differentiable for p in prims)
    caveat = getattr(handler, "caveat", None)
    if caveat is None and differentiable:  # the caveat of the one primitive it binds itself
        caveats = {p.caveat for p in _direct_primitives(handler) if p.differentiable and getattr(p, "caveat", None)}
        caveat = caveats.pop() if len(caveats) == 1 else None
    return bool(differentiable), caveat


def _said(obj, ufunc) -> str | None:
    """What ``obj`` (a handler or a primitive) says of complex values itself, or None."""
    said = getattr(obj, "complex_values", None)
    return "real only" if said is None and ufunc is not None and not takes_complex(ufunc) else said


def _complex_values(obj, prims, ufunc, ufunc_of: dict) -> str:
    """Complex support of a differentiable function: "yes", "real only" (NumPy or SciPy take no
    complex values) or "no: <why>" (tracediff refuses them): said by the handler or primitive
    (``complex_values``), else by a primitive it reaches, else "yes" (tests/test_complex.py checks
    every primitive a "yes" reaches on complex values)."""
    said = _said(obj, ufunc)
    if said is not None:
        return said
    reached = (_said(p, ufunc_of.get(id(p))) for p in prims if p.differentiable and p is not obj)
    return next((note for note in reached if note not in (None, "yes")), "yes")


def entries() -> list:
    """One dict per supported function object: names, family, differentiable, caveat, numpy,
    complex (see _complex_values) and primitives (the differentiable ones it can bind)."""
    public = _public_names(_public_modules())
    families = _primitive_families()
    rows = []
    ufunc_of = {id(prim): ufunc for ufunc, prim in UFUNCS.items()}
    for ufunc, prim in list(UFUNCS.items()):
        names = public.get(id(ufunc)) or [f"{_prefix_of(ufunc)}.{ufunc.__name__}"]
        family = families.get(id(prim)) or ("special" if names[0].startswith("scipy.") else "elementwise")
        rows.append(dict(names=names, family=family, differentiable=prim.differentiable,
                         caveat=getattr(prim, "caveat", None), handler=prim, ufunc=ufunc))
    for function, handler in list(FUNCTIONS.items()):
        names = public.get(id(function))
        if names is None:
            module = getattr(function, "__module__", "") or ""
            names = [f"{module.replace('numpy', 'np', 1)}.{getattr(function, '__name__', function)}"]
        differentiable, caveat = _describe_handler(handler)
        family = _module_family(getattr(handler, "__module__", None))
        rows.append(dict(names=names, family=family, differentiable=differentiable, caveat=caveat, handler=handler))
    for name, handler in list(LIBRARY_FUNCTIONS.items()):  # SciPy's Python functions, by public name
        differentiable, caveat = _describe_handler(handler)
        family = _module_family(getattr(handler, "__module__", None))
        rows.append(dict(names=[name], family=family, differentiable=differentiable, caveat=caveat, handler=handler))
    for row in rows:
        row["numpy"] = row["names"][0].startswith("np.")
        handler, ufunc = row.pop("handler"), row.pop("ufunc", None)
        prims = [handler] if ufunc is not None else _reachable_primitives(handler)
        row["primitives"] = sorted({p.name for p in prims if p.differentiable})
        row["complex"] = _complex_values(handler, prims, ufunc, ufunc_of) if row["differentiable"] else ""
    return sorted(rows, key=lambda r: (FAMILIES.get(r["family"], (99, r["family"]))[0], r["family"], r["names"][0]))


def _prefix_of(ufunc) -> str:
    return "np" if getattr(np, ufunc.__name__, None) is ufunc else "scipy.special"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def build_markdown() -> str:
    rows = entries()
    numpy_diff = [r for r in rows if r["numpy"] and r["differentiable"]]
    numpy_names = sum(len(r["names"]) for r in numpy_diff)
    scipy_diff = [r for r in rows if not r["numpy"] and r["differentiable"]]
    no_grad = [r for r in rows if not r["differentiable"]]
    lines = [
        "# Coverage",
        "",
        f"<!-- Generated by `{COMMAND}` from tracediff's rule registry: do not edit by hand. -->",
        "",
        f"**{len(numpy_diff)} differentiable NumPy functions** ({numpy_names} names, counting aliases such as "
        "`np.abs` / `np.absolute` separately)"
        + (f", plus **{len(scipy_diff)} differentiable SciPy functions** (`scipy.special`, `scipy.stats` "
           "distributions, `scipy.linalg`, `scipy.signal`, `scipy.integrate`; see [scipy.md](scipy.md))"
           if scipy_diff else "")
        + f". {len(no_grad)} more run on traced values without a gradient (comparisons, rounding, "
        "index-valued and shape functions): their outputs are constants, so using them on a gradient "
        "path contributes nothing, and is not an error.",
        "",
        "Every gradient rule is checked against finite differences in float32 and float64 "
        "(`tests/test_rules.py`, cases in `tests/rule_cases/`). A function missing here raises "
        "`MissingRuleError` naming it; see [custom-rules.md](custom-rules.md) to add one.",
        "",
        "Conventions at points where a function is not differentiable:",
        "",
        "- **Ties share the gradient evenly.** `np.maximum`/`np.minimum`/`np.fmax`/`np.fmin` at `x == y` "
        "send half of the cotangent to each side; `np.max`/`np.min`/`np.amax`/`np.amin`/`np.ptp`/"
        "`np.nanmax`/`np.nanmin` split it evenly among the entries equal to the extremum (so "
        "`max([1, 3, 3])` sends half to each 3); `np.clip` is treated as "
        "`np.minimum(np.maximum(x, min), max)`.",
        "- **Kinks take the value NumPy's `np.sign` gives:** the derivative of `np.abs` at 0 is 0.",
        "- **Jumps** (`np.remainder`, `np.fmod`, `np.arctan2` across its cut) use the derivative of the "
        "piece the point belongs to.",
        "- **Complex values** follow JAX's convention (`df/dx - i df/dy`, see [complex.md](complex.md)). "
        "The *complex* column says, for each differentiable function, whether its gradient takes complex "
        "values (*yes*: checked against finite differences along real and imaginary directions, "
        "`tests/test_complex.py`), whether NumPy or SciPy themselves take none (*real only*), or why "
        "tracediff refuses them (*no*: a clear error, never a guess).",
        "",
        "SciPy is optional: the rules for each SciPy module are registered when that module is imported "
        "(tracediff never imports SciPy), and generated code calls SciPy's public functions "
        "(`scipy.special.<name>`, `scipy.linalg.expm`, ...).",
        "",
    ]
    current = None
    for row in rows:
        if row["family"] != current:
            current = row["family"]
            title = FAMILIES.get(current, (99, current))[1]
            fam = [r for r in rows if r["family"] == current]
            n = sum(r["differentiable"] for r in fam)
            lines += ["", f"## {title}", "", f"{n} of {len(fam)} differentiable.", "",
                      "| function | gradient | complex | notes |", "| --- | --- | --- | --- |"]
        names = ", ".join(f"`{n}`" for n in row["names"])
        lines.append(f"| {names} | {'yes' if row['differentiable'] else 'no'} | {_cell(row['complex'])} "
                     f"| {_cell(row['caveat'] or '')} |")
    return "\n".join(lines).rstrip() + "\n"


def write(path=DOC) -> pathlib.Path:
    path = pathlib.Path(path)
    path.write_text(build_markdown())
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Write docs/coverage.md from the rule registry.")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when the page is stale")
    parser.add_argument("--output", default=str(DOC))
    args = parser.parse_args(argv)
    if args.check:
        stale = not pathlib.Path(args.output).exists() or pathlib.Path(args.output).read_text() != build_markdown()
        print(f"{args.output} is {'stale: run ' + COMMAND if stale else 'up to date'}")
        return int(stale)
    print(f"wrote {write(args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
