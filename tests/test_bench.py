"""The benchmark suite runs and verifies its gradients (timings are reported, never asserted)."""
import numpy as np
import pytest

import tracediff as td
from tracediff import bench


def test_small_workloads_run_and_are_verified(capsys):
    results = bench.main(["--quick", "--no-others", "--only", "sse", "mean", "rosenbrock 10", "rnn"])
    assert [r.name for r in results] == ["sse scalars", "mean(3*(x+2)**2) 2x2", "rosenbrock 10", "rnn 20 steps h32"]
    table = capsys.readouterr().out
    assert "| sse scalars |" in table and "median tracediff/hand ratio" in table


def test_every_workload_has_a_hand_gradient_that_agrees_on_small_inputs():
    # The large workloads are checked by the suite before timing; here, each loss on the
    # smallest instance of its family, so a wrong hand-written gradient is caught by CI.
    for w in bench.workloads():
        if w.large:
            continue
        bench.run_workload(w, {}, budget=0.001)


def test_a_wrong_hand_gradient_is_refused():
    w = bench.workloads()[0]
    wrong = bench.Workload(w.name, w.loss, w.args, w.argnums, lambda a, b: (0.0, 0.0))
    with pytest.raises(AssertionError, match="differs from the hand-written one"):
        bench.run_workload(wrong, {}, budget=0.001)


def test_checkpoint_row_is_verified_and_reported(capsys):
    # The deep chain's three gradients (hand-written, tracediff, checkpointed) agree before they
    # are measured; --only checkpoint prints just that table.
    bench.main(["--quick", "--no-others", "--only", "checkpoint"])
    table = capsys.readouterr().out
    assert "td.checkpoint every 4 steps" in table and "| peak MB |" in table
    assert "median tracediff/hand ratio" not in table


def test_a_wrong_checkpointed_gradient_would_be_refused(monkeypatch):
    monkeypatch.setattr(bench, "_deep_chain_hand", lambda x, steps: 2 * x)
    with pytest.raises(AssertionError, match="deep chain"):
        bench.checkpoint_comparison(size=100, budget=0.001)


# --- the corpus section (tests/corpus/) ----------------------------------------------------------


def test_corpus_section_times_programs_checked_against_their_hand_gradients(capsys):
    results = bench.main(["--quick", "--no-others", "--only", "corpus", "ridge", "gmm", "elastic"])
    assert sorted(r.name for r in results) == ["elastic_net", "gmm", "ridge"]
    table = capsys.readouterr().out
    assert "| corpus program |" in table and "median tracediff/hand ratio" in table
    by_name = {r.name: r for r in results}
    assert by_name["gmm"].hand_us > 0 and by_name["elastic_net"].hand_us is None  # no hand gradient


def test_every_hand_gradient_in_the_corpus_agrees():
    programs = bench.corpus_programs()
    hand = [name for name, make in programs.items() if make().hand_grad is not None]
    assert len(hand) >= 8
    for name in hand:
        assert isinstance(bench.run_corpus_program(name, programs[name], {}, budget=0.001).tracediff_us, float)


def test_a_wrong_corpus_hand_gradient_is_refused():
    make = bench.corpus_programs()["ridge"]

    def wrong():
        prog = make()
        prog.hand_grad = lambda w, X, y: 2 * w
        return prog
    with pytest.raises(AssertionError, match="corpus ridge: tracediff gradient 0 differs"):
        bench.run_corpus_program("ridge", wrong, {}, budget=0.001)


def test_a_corpus_program_tracediff_cannot_run_is_reported_not_fatal():
    make = bench.corpus_programs()["ridge"]

    def leaves_numpy():
        prog = make()
        prog.objective = lambda w, X, y: float(np.sum(w ** 2))
        return prog
    result = bench.run_corpus_program("ridge", leaves_numpy, {}, budget=0.001)
    assert result.tracediff_us == "failed: TracerConversionError"
    assert "| ridge | - | failed: TracerConversionError | - | - |" in bench.report_corpus([result])


class CountingNumPy:
    """NumPy, counting the functions the corpus calls through it (a stand-in for autograd.numpy)."""

    def __init__(self):
        self.calls = 0

    def __getattr__(self, name):
        value = getattr(np, name)
        if callable(value):
            self.calls += 1
        return value


def test_other_libraries_run_the_corpus_with_their_numpy_swapped_in():
    # autograd and JAX are not installed here: a stand-in library checks the plumbing. The
    # programs' np is swapped while the library runs them, and put back afterwards.
    import corpus.latent as latent
    shim = CountingNumPy()
    fake = {"fake": ({id(np): shim}, lambda f: td.grad(f))}
    wrong = {"wrong": ({id(np): shim}, lambda f: (lambda p: {k: 2 * g for k, g in td.grad(f)(p).items()}))}
    result = bench.run_corpus_program("gmm", bench.corpus_programs()["gmm"], {**fake, **wrong}, budget=0.001)
    assert isinstance(result.others_us["fake"], float) and shim.calls > 0
    assert result.others_us["wrong"] == "disagrees with tracediff"
    assert latent.np is np
    assert "| fake µs | wrong µs |" in bench.report_corpus([result])


# --- the loop section (bench_loops.py) -----------------------------------------------------------


def test_loop_workloads_hand_gradients_agree_on_short_loops(capsys):
    from tracediff import bench_loops as bl

    r = np.random.default_rng(0)
    short = [bl.LoopWorkload("spring n=7", bl._spring, (np.array([2.0, 0.1]), 7), (0,), bl._spring_hand, 7),
             bl.LoopWorkload("rnn 3 steps", bl._rnn, bl._rnn_args(batch=2, d=3, hidden=4, steps=3), (0, 1, 2, 3),
                             bl._rnn_hand, 3),
             bl.LoopWorkload("rk4 6 steps", bl._rk4, (r.standard_normal((3, 3)), r.standard_normal(3), 6), (0,),
                             bl._rk4_hand, 6)]
    results = [bl.run_loop_workload(w, {}, budget=0.001) for w in short]
    table = bl.report_loops(results)
    assert "| spring n=7 |" in table and "generated lines" in table
    for w in short:  # and the hand-written gradients are right: against finite differences
        td.testing.check_grads(lambda a: w.loss(np)(*w.args[:w.argnums[0]], a, *w.args[w.argnums[0] + 1:]),
                               w.args[w.argnums[0]])


class _ScanInNumPy:
    """lax.scan's meaning, in NumPy: the benchmark's lax.scan losses are checked without JAX."""

    @staticmethod
    def scan(step, carry, xs, length=None):
        for x in (xs if xs is not None else [None] * length):
            carry, _ = step(carry, x)
        return carry, None


def test_lax_scan_versions_of_the_loops_compute_the_same_losses():
    from tracediff import bench_loops as bl

    for w in bl.loop_workloads(quick=True):
        np.testing.assert_allclose(w.scan(np, _ScanInNumPy)(*w.args), w.loss(np)(*w.args), rtol=1e-12)


def test_a_wrong_hand_gradient_of_a_loop_is_refused():
    from tracediff import bench_loops as bl

    w = bl.LoopWorkload("spring n=3", bl._spring, (np.array([2.0, 0.1]), 3), (0,),
                        lambda p, n: (bl._spring_hand(p, n)[0] * 1.01,), 3)
    with pytest.raises(AssertionError, match="differs from the hand-written one"):
        bl.run_loop_workload(w, {}, budget=0.001)


# --- the training-loop section -----------------------------------------------------------------


def test_training_section_checks_every_style_ends_at_the_same_parameters(capsys):
    from tracediff import bench_training

    r = bench_training.run_training(steps=30, others=False, sizes=(8, 5, 6, 3))
    assert set(r.step_us) == {"td.grad", "td.tensor"} and r.td_tensor_misses == 1
    assert "| training loop |" in bench_training.report_training(r)


def test_training_section_refuses_a_style_that_trains_differently(monkeypatch):
    from tracediff import bench_training

    def wrong_rate(loss, params, data):  # twice the learning rate: other parameters after 30 steps
        step, final = bench_training._functional(loss, params, data)
        return (lambda: (step(), step())), final
    monkeypatch.setattr(bench_training, "styles",
                        lambda others: {"td.grad": (bench_training._functional, np),
                                        "td.tensor": (bench_training._tensor_style, np), "wrong": (wrong_rate, np)})
    with pytest.raises(AssertionError, match="wrong's parameters after 30 steps differ"):
        bench_training.run_training(steps=30, others=False, sizes=(8, 5, 6, 3))
