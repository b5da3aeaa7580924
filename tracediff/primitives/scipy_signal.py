"""``scipy.signal.convolve`` on traced values, registered when ``scipy.signal`` is imported (see
:mod:`.scipy_hook`).

One primitive, written as the call to ``scipy.signal.convolve``. For ``mode='full'``,
out[n] = sum_k a[k] b[n - k], so a's cotangent is the correlation of g with b over the positions
where b fits, ``convolve(g, flip(b), 'valid')``, and b's likewise: convolutions again, so every
order is differentiable. ``'same'`` and ``'valid'`` are slices of the full convolution (centred;
where the smaller operand fits), so their cotangent is first padded back to the full shape with
zeros. Every ``method`` ('auto', 'direct', 'fft') gives the same derivative; the rules use the
method the call used. Operands of any number of dimensions (the same for both), real only.
"""
from __future__ import annotations

import ast

import numpy as np

from ..errors import MissingRuleError
from .core import REGISTRY, Primitive, call, defbatch, defvjp, py_literal
from .scipy_hook import install, when_imported

_OWN: dict = {}


def _emit(args, mode, method):
    params = {k: v for k, v in (("mode", mode), ("method", method)) if v != {"mode": "full", "method": "auto"}[k]}
    func = ast.Attribute(value=ast.Attribute(value=ast.Name(id="scipy"), attr="signal"), attr="convolve")
    return call(func, list(args), {k: py_literal(v) for k, v in params.items()})


def _window(na, nb, mode) -> list:
    """Where the result of ``mode`` starts in the full convolution of shapes na and nb."""
    if mode == "same":  # centred on the full result, the size of a (SciPy's _centered)
        return [(m - 1) // 2 for m in nb]
    if mode == "valid":  # where the smaller operand fits entirely
        return [min(p, q) - 1 for p, q in zip(na, nb)]
    return [0] * len(na)


def _full_cotangent(g, a, b, mode):
    """``g`` padded with zeros to the shape of the full convolution of a and b."""
    if mode == "full":
        return g
    na, nb = np.shape(a), np.shape(b)
    for axis, (start, p, q) in enumerate(zip(_window(na, nb, mode), na, nb)):
        shape = list(np.shape(g))
        after = p + q - 1 - start - shape[axis]
        blocks = [np.zeros(shape[:axis] + [n] + shape[axis + 1:], dtype=g.dtype) for n in (start, after)]
        g = np.concatenate([blocks[0], g, blocks[1]], axis=axis)  # (np.concatenate batches; np.pad not)
    return g


def _batch_convolve(args, batched, out_shape, mode, method):
    """One operand batched: a convolution with one more axis, where the other operand has size 1
    (so the batch axis is carried through), in full mode, then the window of ``mode``."""
    if all(batched):
        return None  # each entry in turn
    a, b = (x if bx else np.reshape(x, (1,) + np.shape(x)) for x, bx in zip(args, batched))
    full = convolve_p.bind(a, b, mode="full", method=method)
    starts = _window(np.shape(a)[1:], np.shape(b)[1:], mode)
    return full[(slice(None),) + tuple(slice(s, s + n) for s, n in zip(starts, out_shape))]


def _vjp(i):
    def rule(g, ans, a, b, mode, method):
        other = b if i == 0 else a
        flipped = np.flip(other)
        return convolve_p.bind(_full_cotangent(g, a, b, mode), flipped, mode="valid", method=method)
    return rule


convolve_p = Primitive("convolve", lambda a, b, mode, method: _OWN["convolve"](a, b, mode=mode, method=method),
                       _emit, register=False)
defvjp(convolve_p, _vjp(0), _vjp(1))
defbatch(convolve_p, _batch_convolve)


def _convolve(in1, in2, mode="full", method="auto"):
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"scipy.signal.convolve: mode must be 'full', 'same' or 'valid', not {mode!r}")
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"scipy.signal.convolve: method must be 'auto', 'direct' or 'fft', not {method!r}")
    if np.ndim(in1) != np.ndim(in2) or np.ndim(in1) == 0:
        raise ValueError("scipy.signal.convolve: in1 and in2 should have the same dimensionality (at least 1)")
    if any(np.result_type(x).kind == "c" for x in (in1, in2)):
        raise MissingRuleError("scipy.signal.convolve on traced values: complex operands are not supported")
    return convolve_p.bind(in1, in2, mode=mode, method=method)


_convolve.caveat = "real operands of the same number of dimensions"
_convolve.complex_values = "no: complex operands (np.convolve takes them)"


def register(module) -> None:
    """Install the wrapper in ``scipy.signal``."""
    import scipy  # (imported already: scipy.signal is being registered)

    convolve_p.namespace = {"scipy": scipy}
    REGISTRY[convolve_p.name] = convolve_p
    own = install(module, "convolve", _convolve, "scipy.signal.convolve")
    if own is not None:
        _OWN["convolve"] = own


when_imported("scipy.signal", register)
