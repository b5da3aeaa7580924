"""Shrinking a failing program to a few lines, and writing it out as a regression test.

A candidate is the program with one output term dropped, or one statement dropped and its name
replaced, wherever later lines read it, by another name bound before it. A candidate is kept when
plain NumPy still runs it to a finite value and the same check still fails in the same way.
Dropping statements one at a time until none can go gives a program where every line matters.
"""
from __future__ import annotations

import dataclasses
import re
import textwrap

import numpy as np

from .checks import Finding, ProgramCheck, Report, _quiet
from .programs import Program, Statement


def _fails_alike(program: Program, finding: Finding, order: int, seed: int) -> bool:
    try:
        value = _quiet(program.function(), *program.args)
        if not np.isfinite(float(value)):
            return False
    except Exception:
        return False
    report = Report()
    ProgramCheck(program.function(), program.args, np.random.default_rng(seed), order, report).run()
    return any(f.category == finding.category and f.check == finding.check for f in report.findings)


def _rename(lines: list, old: str, new: str) -> list:
    return [re.sub(rf"\b{old}\b", new, line) for line in lines]


def _candidates(program: Program):
    for i in range(len(program.terms)):
        if len(program.terms) > 1:
            yield dataclasses.replace(program, terms=program.terms[:i] + program.terms[i + 1:], _fun=None)
    statements = program.statements
    for i in reversed(range(len(statements))):
        target = statements[i].target
        earlier = [n for n, _ in program.inputs] + [s.target for s in statements[:i]]
        read = [n for n in earlier if any(re.search(rf"\b{n}\b", line) for line in statements[i].lines)]
        for substitute in dict.fromkeys(read[::-1] + earlier[::-1]):
            rest = [Statement(s.target, _rename(s.lines, target, substitute)) for s in statements[i + 1:]]
            yield dataclasses.replace(program, statements=statements[:i] + rest,
                                      terms=_rename(program.terms, target, substitute), _fun=None)


def _without_unused_inputs(program: Program) -> Program:
    text = "\n".join([line for s in program.statements for line in s.lines] + program.terms)
    kept = [k for k, (name, _) in enumerate(program.inputs) if re.search(rf"\b{name}\b", text)]
    if not kept:
        return program
    return dataclasses.replace(program, inputs=[program.inputs[k] for k in kept],
                               args=tuple(program.args[k] for k in kept), _fun=None)


def shrink(program: Program, finding: Finding, order: int, seed: int, budget: int = 400) -> Program:
    """The smallest program found that fails ``finding``'s check the same way."""
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for candidate in _candidates(program):
            tries += 1
            candidate = _without_unused_inputs(candidate)
            if _fails_alike(candidate, finding, order, seed):
                program, improved = candidate, True
                break
            if tries >= budget:
                break
    return program


def _literal(value) -> str:
    if isinstance(value, (float, int)):
        return repr(value)
    return f"np.array({np.asarray(value).tolist()!r})"


def regression_test(program: Program, finding: Finding, order: int, seed: int, run_seed: int) -> str:
    """A pytest module that fails while the bug is there."""
    args = ", ".join(_literal(a) for a in program.args) + ("," if len(program.args) == 1 else "")
    name = f"test_fuzz_seed_{run_seed}_program_{program.number}"
    what = textwrap.fill(str(finding), 96, subsequent_indent="    ")
    return f'''"""Found by the differential fuzzer (python -m tracediff.fuzz --seed {run_seed}), shrunk.

{what}
"""
import numpy as np
import scipy.special  # noqa: F401  (programs may use it)

from tracediff.fuzz import check_function


{program.source()}

def {name}():
    assert check_function(f, ({args}), order={order}, seed={seed}) == []
'''
