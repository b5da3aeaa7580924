"""scipy.linalg: solve_triangular, solve_banded, cho_solve, expm, sqrtm, solve_sylvester (no cases without SciPy)."""
from __future__ import annotations

import numpy as np

from rule_cases import Case

try:
    import scipy.linalg as sl
except ImportError:  # SciPy is optional
    sl = None


def _spd(m):
    """A symmetric positive definite matrix built from m."""
    return m @ m.T + 3 * np.eye(len(m))


def _cases():
    cases = []
    for label, kw in [("upper", {}), ("lower", {"lower": True}), ("lower, trans=1", {"lower": True, "trans": 1}),
                      ("upper, trans='T'", {"trans": "T"}),
                      ("lower, unit_diagonal", {"lower": True, "unit_diagonal": True})]:
        cases += [
            Case("solve_triangular", f"{label}, b 2-D", lambda a, b, kw=kw: sl.solve_triangular(a, b, **kw),
                 lambda r: (r(3, 3), r(3, 2)), (0, 1)),
            Case("solve_triangular", f"{label}, b 1-D", lambda a, b, kw=kw: sl.solve_triangular(a, b, **kw),
                 lambda r: (r(4, 4), r(4)), (0, 1)),
        ]
    for (lower, upper), b_shape in [((1, 1), (4, 2)), ((2, 0), (4,)), ((0, 1), (4, 3))]:
        boost = np.zeros((lower + upper + 1, 1))
        boost[upper] = 4.0  # a dominant diagonal: well conditioned
        cases.append(Case("solve_banded", f"(l, u) = {(lower, upper)}, b {len(b_shape)}-D",
                          lambda ab, b, lu=(lower, upper), boost=boost: sl.solve_banded(lu, ab + boost, b),
                          lambda r, n=lower + upper + 1, s=b_shape: (r(n, 4), r(*s)), (0, 1)))
    cases += [
        Case("solve_triangular", "cho_solve of cho_factor (upper)",
             lambda m, b: sl.cho_solve(sl.cho_factor(_spd(m)), b), lambda r: (r(3, 3), r(3, 2)), (0, 1)),
        Case("solve_triangular", "cho_solve of cho_factor (lower), b 1-D",
             lambda m, b: sl.cho_solve(sl.cho_factor(_spd(m), lower=True), b), lambda r: (r(3, 3), r(3)), (0, 1)),
        Case("expm", "3 x 3", lambda a: sl.expm(a * 0.5), lambda r: (r(3, 3),)),
        Case("expm", "1 x 1", lambda a: sl.expm(a), lambda r: (r(1, 1),)),
        Case("sqrtm", "of a symmetric positive definite matrix", lambda m: sl.sqrtm(_spd(m)), lambda r: (r(3, 3),)),
        Case("sqrtm", "of a non-symmetric matrix", lambda m: sl.sqrtm(m * 0.2 + 2 * np.eye(3)), lambda r: (r(3, 3),)),
        Case("solve_sylvester", "a, b, q", lambda a, b, q: sl.solve_sylvester(_spd(a), _spd(b), q),
             lambda r: (r(3, 3), r(2, 2), r(3, 2)), (0, 1, 2)),
    ]
    return cases


CASES = _cases() if sl is not None else []
