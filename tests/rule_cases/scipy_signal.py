"""scipy.signal.convolve: modes, methods, 1-D and 2-D (no cases without SciPy)."""
from __future__ import annotations

from rule_cases import Case

try:
    import scipy.signal as ss
except ImportError:  # SciPy is optional
    ss = None


def _cases():
    cases = []
    for mode in ("full", "same", "valid"):
        for method in ("auto", "direct"):
            cases += [
                Case("convolve", f"1-D {mode} {method}", lambda a, b, m=mode, k=method: ss.convolve(a, b, m, k),
                     lambda r: (r(6), r(3)), (0, 1)),
                Case("convolve", f"1-D {mode} {method}, second longer",
                     lambda a, b, m=mode, k=method: ss.convolve(a, b, mode=m, method=k),
                     lambda r: (r(2), r(5)), (0, 1)),
            ]
        cases.append(Case("convolve", f"2-D {mode}", lambda a, b, m=mode: ss.convolve(a, b, mode=m),
                          lambda r: (r(4, 5), r(2, 3)), (0, 1)))
    cases.append(Case("convolve", "3-D fft", lambda a, b: ss.convolve(a, b, method="fft"),
                      lambda r: (r(2, 3, 2), r(2, 2, 2)), (0, 1)))
    return cases


CASES = _cases() if ss is not None else []
