"""The generated source as a reader sees it: names, comments, constants, guards, determinism,
debugging files, and the graph as a DOT picture."""
import ast
import io
import os
import re
import subprocess
import sys
import textwrap
import tokenize

import numpy as np
import pytest

import tracediff as td
from tracediff import codegen
from tracediff.bench import peak_memory
from tracediff.switches import LARGE_AT_ELEMENTS


def _module_from(tmp_path, name, code):
    """Import ``code`` as a real module file (so the comments can quote its lines)."""
    import importlib.util

    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _function(source):
    tree = ast.parse(source)
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef))


def _assigned(fn):
    return [t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]


def _comments(source):
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]


def _fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


# ---------------------------------------------------------------------------------------------
# names


def test_values_take_the_users_names_and_cotangents_g_names():
    def model(w, x):
        z = x @ w
        loss = np.sum(z ** 2)
        return loss

    src = td.grad(model).source(np.ones(3), np.ones((4, 3)))
    fn = _function(src)
    assert [a.arg for a in fn.args.args] == ["w", "x"]
    assert "z = x @ w" in src and "g_z = " in src and "g_w = " in src
    assert src.rstrip().endswith("return g_w,")


def test_a_variable_rebound_in_a_loop_names_every_value_it_held():
    def f(x):
        for _ in range(3):
            x = np.sin(x) * 1.5
        return np.sum(x ** 2)

    src = td.grad(f).source(np.ones(2))
    assert re.search(r"^    x_2 = np\.sin\(x\) \* 1\.5$", src, re.M), src
    assert "x_3 = np.sin(x_2) * 1.5" in src
    assert "g_x_3 = " in src and "g_x_2 = " in src  # cotangents follow the values' names
    np.testing.assert_allclose(td.grad(f)(np.ones(2)), _fd_grad(lambda v: f(v), np.ones(2)), rtol=1e-6)


def test_a_value_bound_mid_function_and_then_rebound_keeps_its_first_name():
    def f(w):
        loss = np.sum(w ** 2)
        if loss > 1.0:
            loss = 1.0 + np.log(loss)
        return loss

    src = td.grad(f).source(np.array([2.0, 3.0]))
    assert "loss = np.sum(w ** 2)" in src and "g_loss" in src
    assert "if not (loss > 1.0):" in src  # the guard reads like the user's if


def test_temporaries_are_short_numbered_names_and_single_uses_are_folded():
    def f(x, W, b):
        return np.sum(np.tanh(x @ W + b) ** 2)

    src = td.grad(f, argnums=1).source(np.ones((2, 3)), np.ones((3, 4)), np.ones(4))
    fn = _function(src)
    temps = [n for n in _assigned(fn) if not n.startswith("g_")]
    assert temps and all(re.fullmatch(r"t\d+", n) for n in temps), temps
    assert [int(n[1:]) for n in temps] == list(range(1, len(temps) + 1))
    assert "t1 = np.tanh(x @ W + b)" in src  # x @ W and + b, used once, read as one expression
    assert "g_W = x.T @ " in src


def test_names_that_would_shadow_what_the_code_uses_are_renamed():
    def f(np_, int, GuardFailed, _c0):  # noqa: A002 (names chosen to collide)
        total = np_ * int + GuardFailed * _c0 * SCALE
        for _ in range(np.sum(total > -100)):  # an int guard: the generated code calls int()
            total = total * 1.0001
        return np.sum(total ** 2)

    args = (np.ones(3), np.full(3, 2.0), np.full(3, 3.0), np.full(3, 4.0))
    g = td.grad(f, argnums=(0, 1, 2, 3))
    src = g.source(*args)
    fn = _function(src)
    params = [a.arg for a in fn.args.args]
    assert params == ["np_", "int_", "GuardFailed_", "c0"], params  # c0: not a constant's _c0
    assert re.search(r"if int\(\w+\) != 3:", src)  # the builtin, not the argument
    assert "SCALE" in src  # a constant of the module, under the user's name
    got = g(*args)
    for i in range(4):
        expected = _fd_grad(lambda v, i=i: f(*args[:i], v, *args[i + 1:]), args[i])
        np.testing.assert_allclose(got[i], expected, rtol=1e-6)


SCALE = np.array([1.0, 2.0, 3.0])

HOSTILE_KEYS = ["a-b", "__import__('os')", "λ", "np", "GuardFailed", "x\ny", "# not a comment", "int",
                "'; raise SystemExit #", "\u2028", "_c0", "g_a_b"]


def test_hostile_dict_keys_cannot_break_or_alter_the_generated_code():
    def f(d):
        total = 0.0
        for i, key in enumerate(sorted(d)):
            total = total + (i + 1) * np.sum(d[key] ** 2)
        return total

    d = {k: np.full(2, float(i + 1)) for i, k in enumerate(HOSTILE_KEYS)}
    g = td.grad(f)
    src = g.source(d)
    tree = ast.parse(src)  # valid Python
    fn = _function(src)
    params = [a.arg for a in fn.args.args]
    assert len(params) == len(set(params)) == len(HOSTILE_KEYS)
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in params)  # ASCII identifiers only
    assert all(p not in ("np", "GuardFailed", "int") for p in params)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "__import__" not in names and "os" not in names and "SystemExit" not in names
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Raise, ast.Import, ast.ImportFrom))
                and not (isinstance(n, ast.Import) and n.names[0].name == "numpy")
                and not isinstance(n, ast.Raise)]
    assert src.count("\n") == len(src.splitlines())  # no character splits a line (\u2028)
    grads = g(d)
    for i, key in enumerate(sorted(d)):
        np.testing.assert_allclose(grads[key], 2 * (i + 1) * d[key])


def test_comments_quote_statements_on_one_line_without_their_comments(tmp_path):
    m = _module_from(tmp_path, "commented", '''
        import numpy as np

        def f(x):
            y = (x *
                 2.0)  # a comment of the user's
            s = "a # not a comment \\n"
            z = y + len(s)
            w = np.sum(z ** 2, axis=None) + \\
                1.0
            return w * w

        def odd(x):
            y = np.sin(x) + len("\u2028#\\x00")
            return np.sum(y * y)
        ''')
    src = td.grad(m.f).source(np.ones(3))
    comments = _comments(src)
    assert "# commented.py:5  y = (x * 2.0)" in comments, comments
    assert "# commented.py:9  w = np.sum(z ** 2, axis=None) + 1.0" in comments, comments
    assert "# grad of: w = np.sum(z ** 2, axis=None) + 1.0   (commented.py:9)" in comments, comments
    assert not any("a comment of the user's" in c for c in comments)
    assert _function(src).body  # it parses
    odd_src = td.grad(m.odd).source(np.ones(2))
    ast.parse(odd_src)
    assert odd_src.count("\n") == len(odd_src.splitlines())
    assert "\\u2028" in odd_src  # the line separator is written as an escape in the comment


def test_the_backward_pass_is_grouped_under_the_statement_it_differentiates():
    def f(x, w, b):
        z = x @ w + b
        return np.sum(np.tanh(z))

    src = td.grad(f, argnums=(1, 2)).source(np.ones((2, 3)), np.ones((3, 4)), np.ones(4))
    first = f.__code__.co_firstlineno
    lines = src.splitlines()
    marker = lines.index("    # --- backward pass ---")
    assert f"    # test_codegen.py:{first + 1}  z = x @ w + b" in lines[:marker]
    headers = [line.strip() for line in lines[marker:] if line.strip().startswith("# grad of:")]
    assert headers == [f"# grad of: return np.sum(np.tanh(z))   (test_codegen.py:{first + 2})",
                       f"# grad of: z = x @ w + b   (test_codegen.py:{first + 1})"]


def test_small_constants_are_shown_by_value_and_large_ones_by_type():
    small, large = np.array([1.0, -2.5]), np.arange(40.0).reshape(20, 2)

    def f(x):
        return np.sum(np.sin(x) * small * large)

    src = td.grad(f).source(np.ones((20, 2)))
    shown = dict(re.findall(r"^#   (_c\d+)(.*)$", src, re.M))
    assert sorted(shown.values()) == [" = np.array([1.0, -2.5])", ": f64[20,2]"], shown
    code = _function(src)
    used = {n.id for n in ast.walk(code) if isinstance(n, ast.Name)}
    assert set(shown) <= used  # the code refers to them by name (the user's arrays, by reference)


def test_generated_source_is_byte_identical_across_processes(tmp_path):
    script = tmp_path / "hostile_script.py"
    script.write_text(textwrap.dedent(f"""
        import numpy as np
        import tracediff as td
        KEYS = {HOSTILE_KEYS!r}
        C = np.array([1.0, 2.0])

        def f(d, n):
            total = 0.0
            for key in sorted(d):
                total = total + np.sum(d[key] * C) ** 2
            if total > 1.0:
                total = total * n
            return total

        d = {{k: np.full(2, 0.5) for k in KEYS}}
        print(td.value_and_grad(f).source(d, 3), end="")
        """), encoding="utf-8")
    outs = []
    for seed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, str(script)], capture_output=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        outs.append(done.stdout)
    assert outs[0] == outs[1] and b"def value_and_grad_f(" in outs[0]


# ---------------------------------------------------------------------------------------------
# debugging: TRACEDIFF_DUMP_DIR


def test_dump_dir_writes_each_module_and_compiles_from_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEDIFF_DUMP_DIR", str(tmp_path / "dump"))

    def f(x):
        y = np.log(x)
        return np.sum(y * y)

    g = td.grad(f)
    x = np.array([1.0, 2.0])
    g(x)
    spec = g._spec_for((x,), {})
    path = spec.module.filename
    assert os.path.dirname(path) == str(tmp_path / "dump") and path.endswith(".py")
    with open(path, encoding="utf-8") as file:
        assert file.read() == g.source(x)
    assert spec.run.__code__.co_filename == path

    # the lines the generated code runs are the file's own lines
    visited = []

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == path and event == "line":
            visited.append(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    try:
        spec.run(x)
    finally:
        sys.settrace(None)
    file_lines = open(path, encoding="utf-8").read().splitlines()
    assert [file_lines[n - 1].strip() for n in visited] == [
        line.strip() for line in file_lines if line.startswith("    ") and not line.strip().startswith("#")]

    # and a traceback through it names the file and shows the failing line
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError) as info:
            g(np.array([0.0, 1.0]))
    tb = info.value.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_filename == path
    assert "np.log(x)" in file_lines[tb.tb_lineno - 1]


def test_pdb_steps_through_a_dumped_module(tmp_path):
    script = tmp_path / "debug_me.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import tracediff as td

        def f(x):
            y = np.log(x)
            return np.sum(y * y)

        g = td.grad(f)
        g(np.array([1.0, 2.0]))
        print("DUMPED", g._spec_for((np.array([1.0, 2.0]),), {}).module.filename)
        """))
    dump = tmp_path / "dump"
    env = dict(os.environ, TRACEDIFF_DUMP_DIR=str(dump))
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    path = first.stdout.split("DUMPED ")[1].strip()
    line = next(i for i, text in enumerate(open(path).read().splitlines(), 1) if text.strip().startswith("g_y ="))
    commands = f"break {path}:{line}\ncontinue\np y.tolist()\nnext\np g_y.tolist()\nquit\n"
    done = subprocess.run([sys.executable, "-m", "pdb", str(script)], input=commands, capture_output=True,
                          text=True, env=env, timeout=60)
    out = done.stdout
    assert f"{os.path.basename(path)}({line})grad_f()" in out, out
    assert "[0.0, 0.6931471805599453]" in out and "[0.0, 1.3862943611198906]" in out, out


# ---------------------------------------------------------------------------------------------
# the graph: print and DOT


def seed_graph(x):
    y = x ** 2
    z = y + 1
    return z


def _dot_nodes(dot):
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s*(\w+) \[(.*)\];$", dot, re.M)}


def test_print_graph_shows_the_users_names():
    text = str(td.trace(seed_graph, 1.0))
    assert text.splitlines() == [
        "graph(v0 x: f64[]):",
        f"  v1 = power(v0, 2)  # y: f64[]   test_codegen.py:{seed_graph.__code__.co_firstlineno + 1}  y = x ** 2",
        f"  v2 = add(v1, 1)  # z: f64[]   test_codegen.py:{seed_graph.__code__.co_firstlineno + 2}  z = y + 1",
        "  return v2",
    ]


def test_dot_of_the_seed_graph_shows_leaves_intermediates_and_the_output():
    dot = td.trace(seed_graph, 1.0).to_dot()
    assert dot.startswith("digraph tracediff {") and dot.rstrip().endswith("}")
    nodes = _dot_nodes(dot)
    leaf, inner, out = nodes["v0"], nodes["v1"], nodes["v2"]
    assert 'label="x\\nv0: f64[]\\ninput (leaf)"' in leaf and "shape=box" in leaf and "rounded" in leaf
    assert 'label="y = power\\nv1: f64[]"' in inner and "shape=ellipse" in inner
    assert 'label="z = add\\nv2: f64[]\\noutput"' in out and "bold" in out
    colors = {re.search(r'fillcolor="([^"]+)"', nodes[v]).group(1) for v in ("v0", "v1", "v2")}
    assert len(colors) == 3  # three kinds, three colors
    assert re.search(r"^\s*v0 -> v1;$", dot, re.M) and re.search(r"^\s*v1 -> v2;$", dot, re.M)
    constants = [n for n in nodes if n.startswith("c")]
    assert sorted(nodes[c].split('"')[1] for c in constants) == ["1", "2"]


def test_dot_of_a_gradient_boxes_the_backward_pass():
    g = td.grad(seed_graph)
    dot = g.ir(3.0).to_dot("grad of seed_graph")
    assert "subgraph cluster_backward {" in dot and 'label="grad of seed_graph";' in dot
    assert re.search(r'label="g_x = \w+\\nv\d+: f64\[\]\\noutput"', dot)


def test_dot_labels_cannot_be_broken_by_the_users_text():
    def f(d):
        return np.sum(d['a"b\\l'] ** 2)

    dot = td.trace(f, {'a"b\\l': np.ones(2)}).to_dot('title with "quotes"')
    for line in dot.splitlines():
        body = line.replace('\\\\', "").replace('\\"', "")
        assert body.count('"') % 2 == 0, line
    assert '\\"' in dot


def test_render_without_graphviz_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz raises ImportError
    with pytest.raises(RuntimeError, match="pip install graphviz"):
        td.trace(seed_graph, 1.0).render(tmp_path / "graph.png")


def test_render_draws_a_png_when_graphviz_is_there(tmp_path):
    target = tmp_path / "graph.png"
    try:
        import graphviz  # noqa: F401
        have_package = True
    except ImportError:
        have_package = False
    try:
        written = td.trace(seed_graph, 1.0).render(target)
    except RuntimeError as error:  # the optional parts are missing: the error says which
        assert not have_package or "dot" in str(error)
        assert "graphviz" in str(error).lower()
        return
    assert os.fspath(written) == os.fspath(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["graph.png"]  # no DOT file left behind


def test_safe_identifier_is_ascii_unique_and_never_a_keyword():
    taken = set()
    names = [codegen.safe_identifier(t, taken) for t in
             ["class", "np", "p['a-b']", "p['a-b']", "3d", "λ", "", "__import__('os')", "match"]]
    assert names == ["class_", "np_", "p_a_b", "p_a_b_2", "_3d", "v", "v_2", "import_os", "match_"]


# --- memory: dead large temporaries reused in place, unnamed temporaries kept unnamed ---------

BIG = LARGE_AT_ELEMENTS


def weighted_abs_softplus(w, X, y):
    z = X @ w
    return np.mean(np.abs(z) * y + np.log1p(np.exp(-np.abs(z))))


def test_a_dead_large_temporary_takes_the_result_in_place():
    # z dies in sign(z), which the backward pass needs last: sign writes into z
    rng = np.random.default_rng(0)
    X, w = rng.standard_normal((BIG, 3)), np.array([0.5, -1.0, 0.25])
    y = (rng.random(BIG) < 0.5).astype(float)
    grad = td.grad(weighted_abs_softplus)
    source = grad.source(w, X, y)
    assert re.search(r"np\.sign\((\w+),\s*out=\1\)", source), source
    X0, y0, w0 = X.copy(), y.copy(), w.copy()
    z = X @ w
    e = np.exp(-np.abs(z))
    np.testing.assert_allclose(grad(w, X, y), X.T @ (np.sign(z) * (y - e / (1 + e))) / BIG, rtol=1e-10)
    for given, before in ((X, X0), (y, y0), (w, w0)):
        np.testing.assert_array_equal(given, before)  # never an argument
    assert "out=" not in grad.source(w, X[:8], y[:8])  # only large values: small ones save nothing


def test_no_result_is_written_into_an_array_a_view_still_shows():
    # t = x * 2 has a view (t[::-1]) alive after t's own last use: t must not be overwritten.
    def f(x):
        t = x * 2.0
        view = t[::-1]
        u = np.sin(t) + 1.0
        return np.sum(u * view)

    x = np.linspace(-1, 1, BIG)
    t = 2 * x
    expected = 2 * (np.cos(t) * t[::-1]) + 2 * (np.sin(t) + 1.0)[::-1]
    np.testing.assert_allclose(td.grad(f)(x), expected, rtol=1e-12)


def test_in_place_results_are_right_for_every_operand_position_and_dtype():
    x = np.linspace(0.5, 1.5, BIG)
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        for f in (lambda x: np.sum((x * 3.0 + 1.0) ** 2),
                  lambda x: np.sum(1.0 / (x * x + 1.0)),
                  lambda x: np.sum(np.exp(-(x * 2.0)) * x),
                  lambda x: np.sum(np.maximum(x * 2.0, 1.5) - np.log(x))):
            g = td.grad(f)(xd)
            assert g.dtype == dtype
            td.testing.check_grads(f, xd[:5])  # the rule, at a size with no in-place code
            np.testing.assert_allclose(g[:5], td.grad(f)(xd[:5]), rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_an_argument_of_a_large_call_is_named_and_the_call_writes_into_it():
    x = np.linspace(-2, 2, BIG)
    grad = td.grad(lambda x: np.sum(np.exp(-x ** 2) * x))
    source = grad.source(x)
    # NumPy would keep -t1 alive beside exp's new array: named, exp writes into it.
    assert re.search(r"(t\d+) = -x \*\* 2\n\s+t\d+ = np\.exp\(\1, out=\1\)", source), source
    e = np.exp(-x ** 2)
    np.testing.assert_allclose(grad(x), e - 2 * x ** 2 * e, rtol=1e-13, atol=1e-15)


def test_results_computed_in_a_reused_array_are_written_into_it_too():
    rng = np.random.default_rng(0)
    X, w, y = rng.standard_normal((BIG, 3)), np.array([0.5, -1.0, 0.25]), (rng.random(BIG) < 0.5) * 1.0

    def bce(w):
        z = X @ w
        return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))

    def by_hand(w):
        z = X @ w
        return X.T @ ((1 / (1 + np.exp(-z)) - y) / BIG)

    grad = td.grad(bce)
    source = grad.source(w)
    assert re.search(r"np\.divide\(np\.multiply\(.*out=(t\d+)\),.*out=\1\)", " ".join(source.split())), source
    np.testing.assert_allclose(grad(w), by_hand(w), rtol=1e-10)
    # no array more than by hand (an array is 512 KB; the slack is the call's Python objects)
    assert peak_memory(lambda: grad(w)) <= peak_memory(lambda: by_hand(w)) + 4096


def test_one_minus_a_large_temporary_is_computed_in_it_with_the_same_numbers():
    x = np.linspace(-3, 3, BIG)
    grad = td.grad(lambda x: np.sum(np.tanh(x) * 2.0))
    assert "(-np.tanh(x) ** 2 + 1)" in grad.source(x)
    np.testing.assert_array_equal(grad(x), 2.0 * (1 - np.tanh(x) ** 2))  # a - b is a + -b exactly
    assert "(1 - t1 ** 2)" in grad.source(x[:8])  # small arrays read as written


def test_reductions_and_reshapes_are_methods_of_arrays_and_functions_of_floats():
    source = td.grad(lambda x: np.sum(x.reshape(2, 2) ** 2, axis=0) @ np.ones(2)).source(np.ones(4))
    assert ".reshape(" in source and "np.reshape" not in source
    assert td.grad(lambda x: np.sum(x) * 2)(3.0) == 2.0  # a float has no .sum: np.sum(x)
    assert "np.sum(x)" in td.value_and_grad(lambda x: np.sum(x) * 2).source(3.0)


def test_arrays_read_from_outside_keep_the_users_names_without_shadowing_what_the_code_uses():
    def make():
        range = np.arange(6.0)  # noqa: A001 (a name the generated code needs as the builtin)
        x = np.full(6, 2.0)  # and a value of the function's is called x too

        def doubled(v):
            x = v * 2.0
            return x

        def f(w, i):
            return np.sum(doubled(w) * range[i:i + 2] * x[i:i + 2] / 2) + np.sum(np.zeros(2) * w)

        return f

    g = td.grad(make())
    w = np.array([1.0, -1.0])
    src = td.value_and_grad(make()).source(w, 1)  # (the value needs doubled's x)
    assert "range_[" in src and "len(range(6)[" in src  # the builtin stays the builtin
    assert re.search(r"\bx_\w* = w \* 2.0", src) and "x[i:" in src  # the value renamed, the constant kept
    for i in range(4):
        np.testing.assert_allclose(g(w, i), 2.0 * np.arange(6.0)[i:i + 2])
    assert g.cache_info().traces == 1
