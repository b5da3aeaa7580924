"""Random NumPy programs, written the way people write them, for the differential fuzzer.

A program is a list of statements over its inputs, each binding one new name, and a scalar
output made of weighted sums of the last values. Every statement is checked as it is made by
*running* it on the inputs with plain NumPy: a statement whose value is not finite, too large,
or too close to a point where a function has no derivative (a log near 0, a division by a small
number) is drawn again. So the generator needs no shape algebra of its own: NumPy is the
reference for what is valid, and shapes come from the values.

What the statements cover: elementwise functions with their domains, broadcasting between
shapes with 1-sized and 0-d operands, powers (0, 1, integers, fractions, traced exponents),
reductions with axes, negative axes, tuples and keepdims, reshaping, transposes, slicing, integer,
fancy (with repeated indices) and boolean indexing, writes ``u[i] = v`` and ``u += v`` into fresh
arrays, matrix products and a few linear-algebra functions, value-dependent ``if``, ``while`` and
``for`` loops, repeated subexpressions, and the stable idioms (softplus, logsumexp, log-softmax)
written in several equivalent ways and with near misses. Some programs also take a Python int
``k`` (last), a runtime value of the generated code: in arithmetic, as an exponent, as an index,
as a trip count and in a branch; and read a global array ``C`` indexed and sliced by ``k`` (the
minibatch a training step picks), as traced slices are.
"""
from __future__ import annotations

import itertools
import linecache
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

LIMIT = 1e4  # values larger than this are drawn again: they make finite differences meaningless
SAFE = 0.3  # how far from a singular point (log 0, 1/0, sqrt 0) an operand must stay


@dataclass
class Statement:
    target: str
    lines: list[str]  # Python source, at function-body indentation 0



@dataclass
class Program:
    inputs: list[tuple[str, tuple]]  # (name, shape); shape None is a Python float, INT an int
    statements: list[Statement]
    terms: list[str]  # the output is their sum
    args: tuple = ()  # the inputs it was drawn and checked with
    number: int = 0
    constants: dict = field(default_factory=dict)  # global arrays the function reads (name -> value)
    _fun: object = field(default=None, repr=False, compare=False)

    def source(self, name: str = "f") -> str:
        body = [line for s in self.statements for line in s.lines]
        body.append("return " + " + ".join(self.terms))
        args = ", ".join(n for n, _ in self.inputs)
        constants = "".join(f"{c} = np.array({v.tolist()!r})\n" for c, v in self.constants.items())
        return constants + f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body)

    def function(self):
        """The program as a Python function (its source registered, so tracebacks show it)."""
        if self._fun is None:
            filename = f"<fuzz program {self.number}>"
            text = "import numpy as np\nimport scipy.special\n\n" + self.source() if _HAS_SCIPY else \
                "import numpy as np\n\n" + self.source()
            linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
            namespace: dict = {}
            exec(compile(text, filename, "exec"), namespace)
            self._fun = namespace["f"]
        return self._fun

    def arguments(self, rng: np.random.Generator, dtype=np.float64) -> tuple:
        """Random inputs: standard normal values, 0-d ones sometimes as Python floats."""
        args = []
        for _, shape in self.inputs:
            if shape == INT:
                args.append(int(rng.integers(1, 4)))
            elif shape is None:
                args.append(float(rng.standard_normal()))
            else:
                args.append(np.asarray(rng.standard_normal(shape), dtype=dtype))
        return tuple(args)


try:
    import scipy.special  # noqa: F401
    _HAS_SCIPY = True
except ImportError:  # the fuzzer runs without SciPy, without SciPy's functions
    _HAS_SCIPY = False

_SHAPES = [(), (1,), (3,), (4,), (2, 3), (3, 1), (1, 3), (2, 1, 3), (2, 2), (3, 3), None]
INT = "int"  # the shape of a Python int input
CONSTANT_SIZE = 8  # of the global array C that programs taking k read


def _lit(x: float) -> str:
    return repr(float(x))


class _Builder:
    """Draws one program. ``env`` holds the values of the names bound so far, for the inputs the
    program was drawn with: candidates are run on it and kept only when valid."""

    def __init__(self, rng: np.random.Generator, order: int):
        self.rng = rng
        self.order = order
        self.names = (f"v{i}" for i in itertools.count(1))
        n_inputs = int(rng.integers(1, 4))
        self.inputs = [(f"x{i}", _SHAPES[rng.integers(len(_SHAPES))]) for i in range(n_inputs)]
        self.env: dict = {"np": np}
        self.constants: dict = {}
        if rng.random() < 0.3:
            self.inputs.append(("k", INT))
            self.constants["C"] = self.env["C"] = rng.standard_normal(CONSTANT_SIZE)
        if _HAS_SCIPY:
            self.env["scipy"] = __import__("scipy")
        values = Program(self.inputs, [], []).arguments(rng)
        self.pool: list[str] = []
        for (name, shape), value in zip(self.inputs, values):
            self.env[name] = value
            if shape != INT:
                self.pool.append(name)
        self.statements: list[Statement] = []

    # --- picking operands --------------------------------------------------------------------

    def value(self, name):
        return self.env[name]

    def shape(self, name) -> tuple:
        return np.shape(self.env[name])

    def pick(self, where=lambda v: True, recent: bool = True):
        """A name whose value satisfies ``where``, the recent ones more likely, or None."""
        names = [n for n in self.pool if where(self.env[n])]
        if not names:
            return None
        if recent and len(names) > 1 and self.rng.random() < 0.6:
            return names[-1 - int(self.rng.integers(min(3, len(names))))]
        return names[int(self.rng.integers(len(names)))]

    def positive(self) -> str:
        """An expression whose value is at least SAFE everywhere."""
        name = self.pick(lambda v: np.size(v) > 0 and np.min(v) > SAFE)
        if name is not None and self.rng.random() < 0.6:
            return name
        v = self.pick()
        return self.choice([f"({v} ** 2 + 0.5)", f"(np.abs({v}) + 0.5)", f"np.exp(np.tanh({v}))",
                            f"np.cosh({v} * 0.5)", f"(1 + {v} * {v})"])

    def bounded(self, limit: float = 3.0) -> str:
        name = self.pick(lambda v: np.max(np.abs(v), initial=0.0) < limit)
        return name if name is not None else f"np.tanh({self.pick()})"

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def axis_of(self, shape, allow_tuple=True):
        """An axis argument for a value of ``shape``: None, an int (maybe negative) or a tuple."""
        ndim = len(shape)
        if ndim == 0:
            return self.choice([None, None, 0, -1])  # NumPy accepts 0 and -1 on 0-d values
        r = self.rng.random()
        if r < 0.25:
            return None
        if r < 0.85 or ndim == 1 or not allow_tuple:
            a = int(self.rng.integers(ndim))
            return a - ndim if self.rng.random() < 0.3 else a
        k = int(self.rng.integers(2, ndim + 1))
        return tuple(sorted(int(a) for a in self.rng.choice(ndim, size=k, replace=False)))

    # --- statements --------------------------------------------------------------------------

    def add(self, lines: list[str], target: str) -> bool:
        """Run ``lines`` on the current values; keep them if ``target`` comes out valid."""
        env = dict(self.env)
        try:
            with warnings.catch_warnings(), np.errstate(all="raise"):
                warnings.simplefilter("error")
                exec("\n".join(lines), env)
        except Exception:
            return False
        value = env.get(target)
        if not isinstance(value, (float, np.floating, np.ndarray)) or np.asarray(value).dtype.kind != "f":
            return False
        if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0.0) > LIMIT:
            return False
        self.env = env
        self.pool.append(target)
        self.statements.append(Statement(target, lines))
        return True

    def one_line(self, target: str) -> list[str] | None:
        family = self.choice(_FAMILIES)
        made = family(self, target)
        if made is None:
            return None
        return [made] if isinstance(made, str) else made

    def output_terms(self) -> list[str]:
        """Weighted sums of the last values (and sometimes an earlier one), so that every
        element's gradient differs."""
        later = ["\n".join(line for t in self.statements[i + 1:] for line in t.lines)
                 for i in range(len(self.statements))]
        sinks = [s.target for s, rest in zip(self.statements, later) if not re.search(rf"\b{s.target}\b", rest)]
        chosen = list(dict.fromkeys(sinks[-4:] + [self.choice(self.pool)]))
        terms = []
        for k, name in enumerate(chosen):
            shape = self.shape(name)
            if shape == ():
                terms.append(f"{name} * {_lit(0.5 + 0.25 * k)}")
            else:
                size = int(np.prod(shape))
                weights = f"np.cos(np.arange({size}.0) + {k}).reshape({shape})"
                terms.append(self.choice([f"np.sum({name} * {weights})", f"({name} * {weights}).sum()"]))
        return terms


def generate(rng: np.random.Generator, number: int = 0, order: int = 1, max_statements: int = 9) -> Program:
    """One random program, valid on the inputs it was drawn with."""
    b = _Builder(rng, order)
    want = int(rng.integers(2, max_statements + 1))
    tries = 0
    while len(b.statements) < want and tries < want * 12:
        tries += 1
        target = f"v{len(b.statements) + 1}"
        lines = b.one_line(target)
        if lines is not None:
            b.add(lines, target)
    args = tuple(b.env[name] for name, _ in b.inputs)
    return Program(b.inputs, b.statements, b.output_terms(), args, number, b.constants)


# --- families of statements (each returns source lines for ``target``, or None) ---------------

_UNARY = ["np.sin({a})", "np.cos({a})", "np.tanh({a})", "-{a}", "{a} * 1.5", "{a} + 0.5", "0.5 - {a}",
          "{a} / 3.0", "np.square({a})", "{a} ** 2", "{a} ** 3", "{a} ** 0", "{a} ** 1", "{a} ** 1.0",
          "{a} ** 0.0", "{a} ** 2.0", "np.arctan({a})", "np.abs({a})", "np.maximum({a}, 0)",
          "np.minimum({a}, 0.3)", "np.clip({a}, -0.5, 0.5)", "np.where({a} > 0, {a}, 0.1 * {a})",
          "1 / (1 + np.exp(-{b}))", "np.exp({b})", "np.sinh({b})", "np.cosh({b})", "np.expm1({b})",
          "np.log1p(np.exp({b}))", "{a} * {a}", "np.sign({a}) * {a}", "np.log({p})", "np.sqrt({p})",
          "1.0 / {p}", "{p} ** 0.5", "{p} ** -1.5", "{p} ** 2.5", "np.reciprocal({p})",
          "np.log({p}) * {a}", "np.arcsinh({a})", "np.exp(-{a} ** 2)", "{a} ** 2 * np.sin({a})"]

_SCIPY_UNARY = ["scipy.special.expit({a})", "scipy.special.erf({b})", "scipy.special.gammaln({p})",
                "scipy.special.log_ndtr({b})", "scipy.special.xlogy({p}, {p})"]


def _unary(b: _Builder, target: str):
    forms = _UNARY + (_SCIPY_UNARY if _HAS_SCIPY else [])
    form = b.choice(forms)
    return f"{target} = " + form.format(a=b.pick(), b=b.bounded(), p=b.positive())


def _binary(b: _Builder, target: str):
    x = b.pick()
    shape = b.shape(x)

    def broadcasts(v):
        try:
            np.broadcast_shapes(shape, np.shape(v))
            return True
        except ValueError:
            return False

    y = b.pick(broadcasts, recent=False)
    if b.rng.random() < 0.2:  # a slice or unit axis of another value, to broadcast against
        y = b.choice([f"{x}[..., :1]", f"{x}[:1]", f"np.sum({x}, axis=0, keepdims=True)"]) if shape else y
    form = b.choice(["{x} + {y}", "{x} - {y}", "{x} * {y}", "{y} * {x} + {x}", "{x} / {p}",
                     "np.maximum({x}, {y})", "np.minimum({x}, {y})", "{p} ** {t}", "np.power({p}, 2)",
                     "np.where({y} > 0, {x}, {y})", "np.logaddexp({x}, {y})", "np.hypot({p}, {y})",
                     "np.arctan2({x}, {p})", "{x} * {y} - {y} * {y}", "({x} + {y}) * ({x} - {y})"])
    return f"{target} = " + form.format(x=x, y=y, p=b.positive(), t=b.bounded(1.5))


def _reduction(b: _Builder, target: str):
    x = b.pick()
    shape = b.shape(x)
    method_ok = not isinstance(b.value(x), float)
    axis = b.axis_of(shape)
    keep = ", keepdims=True" if b.rng.random() < 0.35 else ""
    ax = "" if axis is None else f", axis={axis}"
    name = b.choice(["sum", "sum", "mean", "mean", "max", "min", "prod", "var", "std", "cumsum",
                     "norm", "logsumexp", "ptp", "median"])
    if name == "cumsum":
        if isinstance(axis, tuple):
            return None
        return f"{target} = np.cumsum({x}{ax})"
    if name == "norm":
        return f"{target} = np.linalg.norm({x})"
    if name == "prod":
        return f"{target} = np.prod(np.tanh({x}) + 1.5{ax}{keep})"
    if name == "logsumexp":
        if not _HAS_SCIPY:
            return None
        return f"{target} = scipy.special.logsumexp({x}{ax}{keep})"
    if name in ("ptp", "median") and isinstance(axis, tuple):
        return None
    if b.rng.random() < 0.3 and name not in ("ptp", "median") and method_ok:
        return f"{target} = {x}.{name}({ax[2:]}{keep})".replace("(, ", "(")
    return f"{target} = np.{name}({x}{ax}{keep})"


def _two_reductions(b: _Builder, target: str):
    """Two reductions of one value, combined (the bug class where both broadcasts were dropped)."""
    x = b.pick(lambda v: np.ndim(v) > 0)
    if x is None:
        return None
    shape = b.shape(x)
    a1, a2 = b.axis_of(shape, False), b.axis_of(shape, False)
    k1 = b.rng.random() < 0.5
    k2 = b.rng.random() < 0.5
    r1 = f"np.{b.choice(['sum', 'mean'])}({x}" + ("" if a1 is None else f", axis={a1}") + (", keepdims=True)" if k1 else ")")
    r2 = f"{x}.{b.choice(['sum', 'mean'])}(" + ("" if a2 is None else f"axis={a2}") + (", keepdims=True)" if k2 and a2 is not None else ")")
    combine = b.choice(["np.sum(np.sin({r1})) * np.sum(np.cos({r2}))", "np.sum({r1}) * np.mean({r2})",
                        "np.sum(np.sin({r1})) + np.sum(np.cos({r2}))", "np.sum({r1} ** 2) + np.sum({r2})"])
    return f"{target} = " + combine.format(r1=r1, r2=r2)


def _reshape(b: _Builder, target: str):
    x = b.pick(lambda v: np.ndim(v) > 0)
    if x is None:
        return None
    shape = b.shape(x)
    size = int(np.prod(shape))
    options = [f"{x}.reshape(-1)", f"{x}.T", f"np.transpose({x})", f"{x}[None]", f"{x}[..., None]",
               f"np.expand_dims({x}, 0)", f"np.flip({x}, axis=0)", f"{x}[::-1]", f"np.ravel({x})",
               f"np.roll({x}, 1, axis=-1)", f"np.tile({x}, 2)", f"np.repeat({x}, 2, axis=0)",
               f"np.concatenate([{x}, {x} * 2], axis=0)", f"np.stack([{x}, np.sin({x})])",
               f"np.broadcast_to({x}, (2,) + {x}.shape)", f"np.moveaxis({x}, 0, -1)", f"{x}.reshape({size}, 1)"]
    if 1 in shape:
        options.append(f"np.squeeze({x})")
    if len(shape) >= 2:
        options += [f"np.swapaxes({x}, 0, 1)", f"{x}.reshape({shape[0]}, -1)", f"np.diagonal({x})",
                    f"np.trace({x})", f"np.triu({x})", f"np.concatenate([{x}, {x}[:, :1]], axis=1)"]
    return f"{target} = {b.choice(options)}"


def _with_rows(b: _Builder):
    """A value with a first axis of at least one element, its shape and that length."""
    x = b.pick(lambda v: np.ndim(v) > 0 and np.shape(v)[0] > 0)
    return (None, None, None) if x is None else (x, b.shape(x), b.shape(x)[0])


def _index(b: _Builder, target: str):
    x, shape, n = _with_rows(b)
    if x is None:
        return None
    idx = b.rng.integers(n, size=int(b.rng.integers(1, 5))).tolist()  # repeats on purpose
    options = [f"{x}[{int(b.rng.integers(n))}]", f"{x}[-1]", f"{x}[1:]", f"{x}[:-1] - {x}[1:]",
               f"{x}[{idx}]", f"{x}[np.array({idx})]", f"{x}[::2]", f"{x}[{x} > 0]",
               f"np.take({x}, {idx}, axis=0)", f"{x}[..., -1]", f"np.sort({x}, axis=-1)"]
    if len(shape) >= 2:
        options += [f"{x}[:, 0]", f"{x}[0, -1]", f"{x}[:, 1:]", f"{x}[{idx}, 0]", f"{x}[0][None]"]
    return f"{target} = {b.choice(options)}"


def _write(b: _Builder, target: str):
    """``u[i] = v`` and ``u += v`` into a fresh array (never into an input or a view)."""
    x, shape, n = _with_rows(b)
    if x is None:
        return None
    i = int(b.rng.integers(n))
    # (Writing traced values into a plain np.zeros buffer is refused by design: see sharp-edges.md.)
    start = b.choice([f"{target} = {x}.copy()", f"{target} = {x} * 1.5", f"{target} = np.zeros_like({x})"])
    y = b.pick()
    ys = b.shape(y)
    slot = shape[1:]
    value = f"np.sin({y})" if ys == () else f"np.sum({y})"
    if slot and ys == slot:
        value = b.choice([f"{y} * 2", f"{y}[None]", y])  # (1, k) into a (k,) slot broadcasts
    write = b.choice([f"{target}[{i}] = {value}", f"{target}[{i}] += {value}",
                      f"{target}[[{i}, {i}]] = {value}", f"{target}[{x} > 0] = 0.0",
                      f"{target}[{i}:] *= 2.0", f"{target} += np.tanh({x})", f"{target} *= {x}"])
    return [start, write]


def _matmul(b: _Builder, target: str):
    a = b.pick(lambda v: np.ndim(v) in (1, 2))
    if a is None:
        return None
    k = b.shape(a)[-1]
    other = b.pick(lambda v: np.ndim(v) in (1, 2) and np.shape(v)[0] == k)
    if other is None:
        other = f"np.cos(np.arange({k * 2}.0)).reshape({k}, 2)"
    form = b.choice(["{a} @ {o}", "np.dot({a}, {o})", "np.matmul({a}, {o})", "np.tensordot({a}, {o}, axes=1)"])
    if b.shape(a) == (k,) and not other.startswith("np.cos") and b.shape(other) == (k,):
        form = b.choice([form, "np.inner({a}, {o})", "np.outer({a}, {o})", "np.einsum('i,i->', {a}, {o})"])
    square = b.pick(lambda v: np.ndim(v) == 2 and np.shape(v)[0] == np.shape(v)[1])
    if square is not None and b.rng.random() < 0.4:
        m = b.shape(square)[0]
        well = f"(np.eye({m}) * 3 + np.tanh({square}))"
        return f"{target} = " + b.choice([f"np.linalg.inv({well})", f"np.linalg.det({well})",
                                          f"np.linalg.solve({well}, np.ones({m}))",
                                          f"np.linalg.slogdet({well})[1]", f"np.einsum('ij,jk->ik', {square}, {square})"])
    return f"{target} = " + form.format(a=a, o=other)


def _branch(b: _Builder, target: str):
    x, y = b.pick(), b.pick()
    cond = b.choice([f"np.sum({y}) > 0", f"np.max({y}) > 0.5", f"{y}.mean() < 0", f"np.sum({y} ** 2) > 1.0"])
    if b.order == 1 and b.rng.random() < 0.5:
        cond = b.choice([cond, f"np.sum({y}) > 0 and np.min({x}) < 0"])
    one, two = b.choice(_UNARY[:20]), b.choice(_UNARY[:20])
    return [f"if {cond}:", f"    {target} = " + one.format(a=x), "else:",
            f"    {target} = " + two.format(a=x)]


def _loop(b: _Builder, target: str):
    x, y = b.pick(), b.bounded()
    form = b.choice(["while", "for", "for_i", "int", "long", "long_constant", "stacked", "stacked", "window",
                     "simulation"])
    n = 2 * (b.shape(x) or (0,))[0]
    if form == "window" and n >= 4:  # slices moving with the counter, forwards and backwards
        w = f"{target}_w"
        return [f"{w} = np.concatenate([{x}, {x} * 0.5])", f"{target} = {x}[:1] * 1.0", f"for t in range({n}):",
                f"    {target} = np.tanh({target}) * 0.8 + {w}[t:t + 1] * 0.2 + {w}[{n - 1} - t:{n} - t] * 0.1"]
    if form == "stacked":  # the states kept in a list and built into one array, which the
        # backward pass reads (codegen writes it from the rolled loop's list, starred)
        weights = f"np.linspace(0.5, 1.5, 7).reshape((7,) + (1,) * np.ndim({x}))"
        return [f"{target}_s = {x} * 1.0", f"{target}_all = [{target}_s]", "for _ in range(6):",
                f"    {target}_s = np.tanh({target}_s) * 0.7 + {y} * 0.3", f"    {target}_all.append({target}_s)",
                f"{target} = np.sum(np.array({target}_all) ** 2 * {weights}, axis=0)"]
    if form == "simulation":  # a state and its velocity, forced by the elements of C read with the
        # counter when there is a C: long enough for the build from a few iterations (long_loops.py)
        v, force = f"{target}_v", ("C[t]", CONSTANT_SIZE) if "C" in b.env else ("0.05", 12)
        return [f"{v} = {x} * 0.0", f"{target} = {x} * 1.0", f"for t in range({force[1]}):",
                f"    {v} = {v} * 0.9 - 0.1 * np.sin({target}) + {y} * {force[0]}",
                f"    {target} = {target} + 0.1 * {v}"]
    if form == "long":  # long enough to be rolled into a loop, with a carried sum
        return [f"{target} = {x} * 1.0", f"{target}_acc = {x} * 0.0", "for _ in range(6):",
                f"    {target} = np.tanh({target}) * 0.8 + {y} * 0.2",
                f"    {target}_acc = {target}_acc + {target} * {target}", f"{target} = {target} + {target}_acc * 0.1"]
    if form == "long_constant":  # a small constant array made again in each iteration
        shape = b.shape(x)
        return [f"{target} = {x} * 1.0", "for _ in range(5):",
                f"    {target} = np.sin({target}) * 0.9 + np.full({shape}, 0.05) * np.cos({y})"]
    if form == "while":
        return [f"{target} = {x}", f"{target}_k = 0",
                f"while np.max(np.abs({target})) > 0.3 and {target}_k < 4:",
                f"    {target} = {target} * 0.6 + 0.05 * np.sin({target})", f"    {target}_k += 1"]
    if form == "for":
        return [f"{target} = {x}", "for _ in range(3):", f"    {target} = np.tanh({target}) * 0.9 + {y} * 0.1"]
    if form == "for_i":
        return [f"{target} = {x} * 1.0", "for i in range(1, 4):", f"    {target} = {target} + np.sin({target} * i) / i"]
    return [f"{target}_n = int(np.sum({y} > 0))", f"{target} = {x} * ({target}_n + 1)"]


def _repeat(b: _Builder, target: str):
    """A statement written again (the same value twice), or one expression used twice."""
    singles = [s for s in b.statements if len(s.lines) == 1 and not s.lines[0].startswith("if")]
    if singles and b.rng.random() < 0.5:
        return f"{target} = " + b.choice(singles).lines[0].split("=", 1)[1].strip()
    x = b.pick()
    e = b.choice([f"np.sin({x})", f"{x}[..., :1]" if b.shape(x) else f"np.exp(np.tanh({x}))", f"np.sum({x})"])
    return f"{target} = {e} * {e} + {e}"


def _softplus(b: _Builder, target: str):
    z = b.pick()
    relu = b.choice(["np.maximum({z}, 0)", "np.maximum(0, {z})", "np.maximum({z}, 0.0)"]).format(z=z)
    soft = b.choice(["np.log1p(np.exp(-np.abs({z})))", "np.log(1 + np.exp(-np.abs({z})))",
                     "np.log(np.exp(-np.abs({z})) + 1)"]).format(z=z)
    form = b.choice(["{r} + {s}", "{s} + {r}", "{r} - {s}", "{r} + 2 * {s}", "{r} + {s} + {s2}",
                     "split", "split_reused", "bce"])
    if form == "split":
        return [f"{target}_r = {relu}", f"{target}_s = {soft}", f"{target} = {target}_r + {target}_s"]
    if form == "split_reused":
        return [f"{target}_r = {relu}", f"{target}_s = {soft}", f"{target} = ({target}_r + {target}_s) * {target}_s"]
    if form == "bce":
        y = b.pick(lambda v: np.shape(v) == b.shape(z)) or "0.5"
        return f"{target} = np.mean({relu} - {z} * np.tanh({y}) + {soft})"
    s2 = "np.log1p(np.exp(-np.abs({z})))".format(z=z)
    return f"{target} = " + form.format(r=relu, s=soft, s2=s2)


def _logsumexp(b: _Builder, target: str):
    x = b.pick(lambda v: np.ndim(v) > 0)
    if x is None:
        return None
    shape = b.shape(x)
    axis = b.axis_of(shape, False)
    if axis is None:
        axis_text, keep_m = "", ""
    else:
        axis_text, keep_m = f", axis={axis}", ", keepdims=True"
    m = b.choice([f"np.max({x}{axis_text}{keep_m})", f"np.mean({x}{axis_text}{keep_m})",
                  f"np.max({x}{axis_text}{keep_m}) * 0.5"])
    form = b.choice(["lse", "lse_nokeep", "log_softmax", "near_miss", "mean_form"])
    lines = [f"{target}_m = {m}"]
    if form == "lse":
        lines.append(f"{target} = {target}_m + np.log(np.sum(np.exp({x} - {target}_m){axis_text}{keep_m}))")
    elif form == "lse_nokeep":
        squeeze = "" if axis is None else f".squeeze({axis})" if shape[axis] == 1 or True else ""
        lines.append(f"{target} = np.log(np.sum(np.exp({x} - {target}_m){axis_text})) + {target}_m{squeeze}")
    elif form == "log_softmax":
        lines += [f"{target}_s = {x} - {target}_m",
                  f"{target} = {target}_s - np.log(np.sum(np.exp({target}_s){axis_text}, keepdims=True))"]
    elif form == "mean_form":
        lines.append(f"{target} = {target}_m + np.log(np.mean(np.exp({x} - {target}_m){axis_text}{keep_m}))")
    else:  # x - m also used elsewhere: not the idiom
        lines += [f"{target}_s = {x} - {target}_m",
                  f"{target} = {target}_m + np.log(np.sum(np.exp({target}_s){axis_text}{keep_m})) + {target}_s * 0.1"]
    return lines


def _with_int(b: _Builder, target: str):
    """A use of the int input ``k``, when the program has one."""
    if "k" not in b.env:
        return None
    x = b.pick()
    shape = b.shape(x)
    forms = [f"{target} = {x} * k", f"{target} = {x} ** k", f"{target} = {x} / (k + 0.5)",
             f"{target} = {x} * (k % 2) + {x} * 0.5", f"{target} = {x} * np.sqrt(k + 1)",
             [f"{target} = {x}", "for _ in range(k):", f"    {target} = np.sin({target}) * 0.9"],
             ["if k > 1:", f"    {target} = np.tanh({x})", "else:", f"    {target} = {x} * 2.0"]]
    if shape:
        forms += [f"{target} = {x}[k % {shape[0]}]", f"{target} = {x}[k % {shape[0]}:]",
                  f"{target} = {x}[..., k % {shape[-1]}] * k"]
    return b.choice(forms)


def _indexed_by_int(b: _Builder, target: str):
    """The global array ``C`` indexed and sliced by ``k``, and traced slices with computed bounds."""
    if "k" not in b.env:
        return None
    x = b.pick()
    shape = b.shape(x)
    m = shape[-1] if shape else 1
    forms = [f"{target} = {x} * C[k % {CONSTANT_SIZE}]", f"{target} = {x} + C[k:k + {m}]",
             f"{target} = {x} * C[(np.arange({m}) * k) % {CONSTANT_SIZE}]",
             f"{target} = {x} * np.sum(C[k - 1:k + 1] ** 2)", f"{target} = {x} * C[-k]",
             f"{target} = {x} * np.sum(C[:k])"]  # a length that changes with k: reduced at once,
    if shape:  # so the program runs at every k (and the length guard is what keeps it right)
        forms.append(f"{target} = np.sum(np.sin({x}[k % {shape[0]}:]), axis=0) * 1.5")
        forms.append(f"{target} = np.sum({x}[..., k - 1:] ** 2, axis=-1)")
    if shape and shape[0] >= 3:  # a slice of constant length with computed bounds
        forms.append(f"{target} = {x}[k % {shape[0] - 1}:k % {shape[0] - 1} + 2] * 1.5")
    return b.choice(forms)


def _complex(b: _Builder, target: str):
    """Through complex values and back to a real one: the complex rules (and the convention,
    dL/du - i dL/dv, inside) are checked by finite differences of the real program."""
    x = b.pick()
    shape = b.shape(x)
    forms = ["np.abs(np.exp({b} * (0.3 + 0.4j))) ** 2", "np.real(np.exp(1j * {a}) * ({a} + 0.5j))",
             "np.imag(np.sin({a} + 0.5j) * np.conj({a} * 1j + 0.3))", "np.angle({a} + (1 + 0.5j))",
             "np.abs(np.sqrt({p} + 1j * {a}))", "np.real(({a} + 0.5j) ** 2 * np.conj({a} - 1j))",
             "np.abs(np.log({p} + 1j * {b})) ** 2", "np.abs({a} * (0.6 - 0.8j) + 1j) ** 2",
             "np.real(np.sign({a} + 0.5j) * (1 - 2j))", "np.abs(np.nan_to_num({a} * 1j + 0.5)) ** 2"]
    if shape:
        forms += ["np.abs(np.fft.fft({a}, axis=-1)) ** 2 / 4",
                  "np.real(np.fft.ifft(np.fft.fft({a}, axis=0) * (1 + 0.5j), axis=0))",
                  f"np.fft.irfft(np.fft.rfft({{a}}, axis=-1) * (0.5 - 0.5j), n={shape[-1]}, axis=-1)",
                  "np.var({a} * (1 + 2j) + 1j * np.sin({a}), axis=0)",
                  "np.real(np.sum(np.exp(1j * {a}) * np.conj({a} + 0.5j)))",
                  "np.abs(np.median({a} * (1 + 0.5j) + 1j * np.sin({a}), axis=0)) ** 2"]
    if len(shape) == 1 and shape[0] >= 2:
        forms += ["np.abs(np.convolve({a} + 0.5j, {a} * (1 - 1j), mode='same')) ** 2",
                  "np.real(np.correlate({a} * (1 + 1j), {a}[:2] + 0.3j, mode='full')[:%d])" % shape[0]]
    return f"{target} = " + b.choice(forms).format(a=x, b=b.bounded(), p=b.positive())


_FAMILIES = ([_unary] * 5 + [_binary] * 5 + [_reduction] * 3 + [_two_reductions] + [_reshape] * 2
             + [_index] * 2 + [_write] + [_matmul] + [_branch] + [_loop] + [_repeat] + [_softplus]
             + [_logsumexp] + [_with_int] * 2 + [_indexed_by_int] * 2 + [_complex] * 2)
