"""``python -m tracediff.fuzz``: run the differential fuzzer and print what it found.

    python -m tracediff.fuzz --minutes 5 --seed 1            first order
    python -m tracediff.fuzz --minutes 5 --seed 1 --order 2  also second order
    python -m tracediff.fuzz --programs 200 --seed 7         a fixed number of programs (CI)
    python -m tracediff.fuzz --seed 7 --program 42 --show    one program, its source and result

Exit status 1 when anything failed; each failure is shrunk and written to ``--out`` as a test.
"""
from __future__ import annotations

import argparse
import sys

from .run import run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracediff.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the run's seed; program k is drawn from (seed, k)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    parser.add_argument("--programs", type=int, default=None, help="stop after this many programs")
    parser.add_argument("--program", type=int, default=None, help="check only program K of the seed")
    parser.add_argument("--order", type=int, choices=(1, 2), default=1, help="2: second order too")
    parser.add_argument("--out", default="fuzz-failures", help="folder for shrunk failing programs as tests")
    parser.add_argument("--show", action="store_true", help="print each program's source")
    options = parser.parse_args(argv)
    if options.minutes is None and options.programs is None and options.program is None:
        options.minutes = 1.0
    summary = run(seed=options.seed, minutes=options.minutes, programs=options.programs,
                  only=options.program, order=options.order, out=options.out, show=options.show,
                  log=sys.stdout)
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
