"""A fuzzing run: draw programs, check each, shrink and write out what fails, count the rest."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from .checks import ProgramCheck, Report
from .programs import generate
from .shrink import regression_test, shrink

OUTCOMES = ("agree", "kink", "unclear", "unstable", "wrong")


@dataclass
class Summary:
    seed: int
    order: int
    seconds: float = 0.0
    report: Report = field(default_factory=Report)
    failures: list = field(default_factory=list)  # (program number, finding, shrunk source, test path)

    def table(self) -> str:
        r = self.report
        lines = [f"seed {self.seed}, order {self.order}: {r.programs} programs in {self.seconds:.0f} s"]
        for order in range(1, self.order + 1):
            counts = ", ".join(f"{k} {r.outcomes[(order, k)]}" for k in OUTCOMES)
            lines.append(f"  points at order {order}: {counts}")
        lines.append(f"  float32 gradients within 1e-2 of float64: {r.outcomes[(1, 'float32 agree')]}, "
                     f"further (ties float32 rounding breaks; look): {r.outcomes[(1, 'float32 differs')]}")
        lines.append(f"  failures: {len(self.failures)}")
        for number, finding, _, path in self.failures:
            lines.append(f"    program {number}: {finding}" + (f" -> {path}" if path else ""))
        return "\n".join(lines)


def run(seed: int = 0, minutes: float | None = None, programs: int | None = None, only: int | None = None,
        order: int = 1, out: str | None = None, show: bool = False, log=None) -> Summary:
    """Check programs ``0, 1, ...`` of ``seed`` until ``minutes`` or ``programs`` run out."""
    summary = Summary(seed, order)
    start = time.perf_counter()
    numbers = [only] if only is not None else range(programs if programs is not None else 1 << 62)
    for number in numbers:
        if minutes is not None and time.perf_counter() - start > minutes * 60:
            break
        program = generate(np.random.default_rng([seed, number]), number, order)
        if show and log:
            print(f"# program {number}\n{program.source()}", file=log)
        report = Report()
        check_seed = seed * 1_000_003 + number
        ProgramCheck(program.function(), program.args, np.random.default_rng(check_seed), order, report).run()
        summary.report.outcomes.update(report.outcomes)
        summary.report.programs += report.programs
        if report.float32_differs and log:
            print(f"program {number}: float32 differs from float64 by more than 1e-2: {report.float32_differs[0]}",
                  file=log, flush=True)
        summary.report.float32_differs += [(number, d) for d in report.float32_differs]
        for finding in report.findings[:1]:  # the first failure of a program is the one shrunk
            small = shrink(program, finding, order, check_seed)
            path = None
            if out:
                os.makedirs(out, exist_ok=True)
                path = os.path.join(out, f"test_fuzz_seed_{seed}_program_{number}.py")
                with open(path, "w") as fh:
                    fh.write(regression_test(small, finding, order, check_seed, seed))
            summary.failures.append((number, finding, small.source(), path))
            if log:
                print(f"program {number}: {finding}\n{small.source()}", file=log, flush=True)
        summary.report.findings += report.findings
    summary.seconds = time.perf_counter() - start
    if log:
        print(summary.table(), file=log, flush=True)
    return summary
