"""The benchmark suite runs and verifies its gradients (timings are reported, never asserted)."""
import pytest

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
