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
