"""scipy.special: the ufuncs, polygamma, multigammaln, logsumexp, softmax and log_softmax (no cases
without SciPy: then tracediff registers none of these primitives)."""
from __future__ import annotations

import numpy as np

from rule_cases import Case
from rule_cases.elementwise_more import second_order

try:
    import scipy.special as sp
except ImportError:  # SciPy is optional
    sp = None


def _cases():
    unary = ["expit", "logit", "erf", "erfc", "erfinv", "erfcx", "ndtr", "log_ndtr", "ndtri", "gamma",
             "gammaln", "psi", "i0", "i1", "j0", "j1", "y0", "y1", "k0", "k1", "i0e", "i1e", "k0e", "k1e",
             "loggamma", "rgamma", "erfcinv", "log_expit", "entr", "exp1", "expi", "dawsn", "erfi", "spence",
             "cosm1", "exp10", "exprel", "ellipk", "ellipe"]
    cases = []
    for name in unary:
        ufunc = getattr(sp, name)
        cases += [
            Case(name, "2-D", lambda x, f=ufunc: f(x), lambda r: (r(3, 4),)),
            Case(name, "second order", second_order(ufunc), lambda r: (r(4),)),
        ]
    for name in ("jv", "yv", "kv", "ive", "kve", "iv"):  # the order is a constant
        ufunc = getattr(sp, name)
        cases += [
            Case(name, "order 1.5, 2-D", lambda z, f=ufunc: f(1.5, z), lambda r: (r(3, 4),)),
            Case(name, "orders 0, 1, 2.5 broadcast", lambda z, f=ufunc: f(np.array([0.0, 1.0, 2.5]), z),
                 lambda r: (r(4, 1),)),
            Case(name, "second order", second_order(lambda z, f=ufunc: f(0.5, z)), lambda r: (r(4),)),
        ]
    cases += [
        Case("i0e", "negative x (the other side of its kink)", lambda x: sp.i0e(-x), lambda r: (r(3, 4),)),
        Case("i1e", "negative x (the other side of its kink)", lambda x: sp.i1e(-x), lambda r: (r(3, 4),)),
        Case("jv", "by its other name, jn", lambda z: sp.jn(2, z), lambda r: (r(3, 4),)),
        Case("yn", "integer orders", lambda z: sp.yn(np.array([0, 1, 3]), z), lambda r: (r(2, 3),)),
        Case("yn", "second order", second_order(lambda z: sp.yn(2, z)), lambda r: (r(4),)),
    ]
    for name in ("gammainc", "gammaincc", "stdtr"):  # no gradient to the first argument
        ufunc = getattr(sp, name)
        cases += [
            Case(name, "in x, broadcast", lambda x, f=ufunc: f(np.array([0.7, 1.5, 2.5]), x), lambda r: (r(4, 1),)),
            Case(name, "second order", second_order(lambda x, f=ufunc: f(1.3, x)), lambda r: (r(4),)),
        ]
    for name in ("betainc", "betaincc"):
        ufunc = getattr(sp, name)
        cases += [
            Case(name, "in x, broadcast", lambda x, f=ufunc: f(np.array([0.5, 1.5, 3.0]), 2.5, x),
                 lambda r: (r(4, 1),)),
            Case(name, "second order", second_order(lambda x, f=ufunc: f(1.3, 0.7, x)), lambda r: (r(4),)),
        ]
    cases += [
        Case("gammaln", "multigammaln d=3", lambda a: sp.multigammaln(a + 2.0, 3), lambda r: (r(3, 2),)),
    ]
    cases += [
        Case("spence", "through z == 1", lambda x: sp.spence(x / x[:, :1]), lambda r: (r(3, 3),)),
        Case("exprel", "near 0, both sides", lambda x: sp.exprel((x - 1.25) * 1e-3), lambda r: (r(3, 4),)),
        Case("exprel", "second order near 0", second_order(lambda x: sp.exprel((x - 1.25) * 1e-3)), lambda r: (r(4),)),
    ]
    for name in ("xlogy", "xlog1py", "beta", "betaln", "rel_entr", "kl_div", "binom", "poch", "powm1",
                 "pseudo_huber"):
        ufunc = getattr(sp, name)
        cases += [
            Case(name, "broadcast", lambda x, y, f=ufunc: f(x, y), lambda r: (r(3, 1), r(4)), (0, 1)),
            Case(name, "second order", second_order(ufunc, (0, 1)), lambda r: (r(2, 1), r(3)), (0, 1)),
        ]
    for name in ("xlogy", "xlog1py"):
        ufunc = getattr(sp, name)
        cases.append(Case(name, "x == 0 somewhere", lambda x, y, f=ufunc: f(x * np.array([0.0, 1.0, 1.0]), y),
                          lambda r: (r(3), r(3)), (0, 1)))
    cases += [
        Case("psi", "by its other name, digamma", lambda x: sp.digamma(x), lambda r: (r(5),)),
        Case("iv", "array order", lambda z: sp.iv(np.linspace(0.5, 2.0, 4), z), lambda r: (r(3, 4),)),
        Case("polygamma", "n=1 and n=2", lambda x: sp.polygamma(1, x) + sp.polygamma(2, x), lambda r: (r(3, 4),)),
        Case("polygamma", "second order", second_order(lambda x: sp.polygamma(1, x) / 10), lambda r: (r(4),)),
        Case("logsumexp", "all", lambda x: sp.logsumexp(x), lambda r: (r(3, 4),)),
        Case("logsumexp", "axis=1", lambda x: sp.logsumexp(x, axis=1), lambda r: (r(3, 4),)),
        Case("logsumexp", "axis=(0, -1) keepdims", lambda x: sp.logsumexp(x, axis=(0, -1), keepdims=True),
             lambda r: (r(2, 3, 4),)),
        Case("logsumexp", "weights b", lambda x, b: sp.logsumexp(x, axis=0, b=b), lambda r: (r(3, 4), r(3, 4) + 3.0),
             (0, 1)),
        Case("logsumexp", "weights b broadcast", lambda x, b: sp.logsumexp(x, axis=-1, b=b),
             lambda r: (r(3, 4), r(4) + 3.0), (0, 1)),
        Case("logsumexp", "large values", lambda x: sp.logsumexp(x * 400.0, axis=1), lambda r: (r(3, 4),)),
        Case("logsumexp", "second order", second_order(lambda x: sp.logsumexp(x, axis=1)), lambda r: (r(2, 3),)),
        Case("softmax", "axis=-1", lambda x: sp.softmax(x, axis=-1), lambda r: (r(3, 4),)),
        Case("softmax", "all", lambda x: sp.softmax(x), lambda r: (r(3, 4),)),
        Case("softmax", "axis=(0, 2)", lambda x: sp.softmax(x, axis=(0, 2)), lambda r: (r(2, 3, 4),)),
        Case("softmax", "second order", second_order(lambda x: sp.softmax(x, axis=0)), lambda r: (r(2, 3),)),
        Case("log_softmax", "axis=1", lambda x: sp.log_softmax(x, axis=1), lambda r: (r(3, 4),)),
        Case("log_softmax", "all", lambda x: sp.log_softmax(x), lambda r: (r(3, 4),)),
        Case("log_softmax", "second order", second_order(lambda x: sp.log_softmax(x, axis=-1)), lambda r: (r(2, 3),)),
        # axis=0 and axis=-1 of a 0-d value, which SciPy takes (issue 13)
        Case("logsumexp", "axis=0 of a 0-d value", lambda x: sp.logsumexp(np.sum(x ** 2), axis=0), lambda r: (r(3),)),
        Case("logsumexp", "axis=(-1,) keepdims of a 0-d value",
             lambda x: sp.logsumexp(x * 2, axis=(-1,), keepdims=True), lambda r: (r(),)),
        Case("softmax", "axis=-1 of a 0-d value", lambda x: sp.softmax(x, axis=-1) * x, lambda r: (r(),)),
        Case("log_softmax", "axis=0 of a 0-d value", lambda x: sp.log_softmax(x * x, axis=0) + x, lambda r: (r(),)),
    ]
    return cases


CASES = _cases() if sp is not None else []
