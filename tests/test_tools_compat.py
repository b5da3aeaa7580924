"""tracediff next to the tools people run their code under: profilers (cProfile, pure-Python
profile hooks), debuggers and coverage (sys.settrace), and long-running processes whose cache
must stay bounded."""
from __future__ import annotations

import cProfile
import gc
import linecache
import pstats
import subprocess
import sys
import textwrap
import traceback
import warnings

import numpy as np
import pytest

import tracediff as td


def _loss(x):
    s = np.sin(x)
    return np.sum(s * x)


def _loss_grad(x):
    """d/dx sum(sin(x) x), by hand."""
    return np.cos(x) * x + np.sin(x)


def _called_after_the_trace():
    return 1


X = np.array([0.5, -1.25, 2.0])


# --- profilers ------------------------------------------------------------------------------


def test_grad_under_cprofile_is_right_and_the_profiler_keeps_recording():
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        g = td.grad(_loss)(X)
        _called_after_the_trace()
    finally:
        profiler.disable()
    np.testing.assert_allclose(g, _loss_grad(X), rtol=1e-12)
    recorded = {name for (_, _, name) in pstats.Stats(profiler).stats}
    assert "_loss" in recorded  # profiled while tracing
    assert "_called_after_the_trace" in recorded  # and after
    assert sys.getprofile() is None


def test_generated_code_under_cprofile_keeps_the_users_names():
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        f = td.grad(_loss)
        f(X)
    finally:
        profiler.disable()
    assert "s = np.sin(x)" in f.source(X)


SCALE = 2.0
ROWS = [np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5])]


def _scale():
    return SCALE


def _scaled_loss(x):
    rows = np.stack([r * 1.0 for r in ROWS])  # ROWS is read only in the comprehension
    return np.sum(rows @ (x * x)) * _scale()  # SCALE only in a helper that traces nothing


def test_globals_read_under_cprofile_are_still_watched():
    global SCALE, ROWS
    saved = SCALE, ROWS
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        f = td.grad(_scaled_loss)
        np.testing.assert_allclose(f(X), 2.0 * 2 * X * (ROWS[0] + ROWS[1]))
        SCALE = 3.0
        np.testing.assert_allclose(f(X), 3.0 * 2 * X * (ROWS[0] + ROWS[1]))
        ROWS = [np.array([1.0, 0.0, 0.0])]
        np.testing.assert_allclose(f(X), 3.0 * 2 * X * ROWS[0])
    finally:
        profiler.disable()
        SCALE, ROWS = saved


def test_a_python_profile_hook_sees_every_call_during_and_after_tracing():
    seen = []

    def hook(frame, event, arg):
        if event == "call":
            seen.append(frame.f_code.co_name)

    sys.setprofile(hook)
    try:
        g = td.grad(_loss)(X)
        _called_after_the_trace()
        still_installed = sys.getprofile() is hook
    finally:
        sys.setprofile(None)
    np.testing.assert_allclose(g, _loss_grad(X), rtol=1e-12)
    assert still_installed
    assert "_loss" in seen
    assert "_called_after_the_trace" in seen


def test_python_m_cprofile_runs_a_script(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import tracediff as td

        def loss(x):
            return np.sum(np.sin(x) * x)

        g = td.grad(loss)
        print("grad", g(np.array([0.5, 2.0])).round(6).tolist())
        print("again", g(np.array([1.0, 3.0])).round(6).tolist())
    """))
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-s", "cumtime", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    expected = np.round(_loss_grad(np.array([0.5, 2.0])), 6).tolist()
    assert f"grad {expected}" in proc.stdout
    assert "function calls" in proc.stdout  # cProfile's report


# --- debuggers and coverage (sys.settrace) -----------------------------------------------------


def test_a_line_tracer_keeps_working_during_and_after_tracing():
    lines = {}

    def tracer(frame, event, arg):
        def local(frame, event, arg):
            if event == "line":
                name = frame.f_code.co_name
                lines[name] = lines.get(name, 0) + 1
            return local
        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        g = td.grad(_loss)(X)
        _called_after_the_trace()
        still_installed = sys.gettrace() is tracer
    finally:
        sys.settrace(previous)
    np.testing.assert_allclose(g, _loss_grad(X), rtol=1e-12)
    assert still_installed
    assert lines.get("_loss") == 2  # both lines of the user's function, while tracing
    assert lines.get("_called_after_the_trace") == 1


# --- long-running processes: the cache stays bounded --------------------------------------------


def _bounded_log_loss(x):
    return np.sum(np.log(x))


def _sources_of(name):
    """The generated sources registered with linecache for the function ``name``."""
    return [filename for filename in linecache.cache if filename.startswith("<tracediff") and name in filename]


def test_two_thousand_shapes_leave_a_bounded_cache_history_and_linecache():
    g = td.grad(_bounded_log_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", td.RetraceWarning)
        for n in range(1, 2001):
            g(np.full(n, 2.0))
    assert g.cache_info().traces == 2000
    assert len(_sources_of("_bounded_log_loss")) <= g.cache_info().specializations == 8
    lines = g.explain().splitlines()
    assert len(lines) < 100
    assert "    ... and 1967 earlier retraces" in lines  # 1,999 retraces, the latest 32 listed
    assert sum(line.startswith("    - ") for line in lines) == 32

    # A cached specialization keeps its source: tracebacks through it show its lines.
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError) as info:
        g(np.zeros(2000))  # the generated code computes 1 / x
    tb = info.value.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    failing = g.source(np.ones(2000)).splitlines()[tb.tb_lineno - 1].strip()
    assert "/" in failing and failing in "".join(traceback.format_exception(info.value))

    g.clear_cache()
    assert _sources_of("_bounded_log_loss") == []
    assert "retraces" not in g.explain()


def test_a_discarded_function_leaves_no_generated_source_behind():
    def _discarded_loss(x):
        return np.sum(np.exp(x))

    g = td.grad(_discarded_loss)
    for n in range(1, 4):
        g(np.ones(n))
    assert len(_sources_of("_discarded_loss")) == 3
    del g, _discarded_loss  # its code is shared by every td.grad of it, so it lives as long as it
    gc.collect()
    assert _sources_of("_discarded_loss") == []
