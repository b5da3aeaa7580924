"""Fast Fourier transforms, ``np.fft.fft ifft fft2 ifft2 fftn ifftn rfft irfft rfft2 irfft2 rfftn
irfftn hfft ihfft`` (and the shifts), each beside its VJP rule; and the complex-value rules they need.

**Complex cotangents** follow JAX's convention: the cotangent of a complex value ``z = u + iv``
feeding a real loss ``L`` is ``dL/du - i dL/dv``. With it, the rule of a holomorphic function is
the real rule as written (``g * f'(z)``: multiply, exp, matmul, ... need nothing new), a linear
map's rule is its plain transpose (no conjugation), and a real value that entered a complex
computation gets the real part of its cotangent. The gradient ``td.grad`` returns for a real
input is real, and for a complex input it is ``dL/du - i dL/dv`` (docs/complex.md).

The transforms are linear, so each rule is a transform of ``g``: the DFT matrix is symmetric, so
``fft``'s rule is ``fft`` (with the same ``norm``), ``ifft``'s is ``ifft``; a length ``n`` that
padded the input cuts the cotangent, one that cut it pads the cotangent with zeros. ``rfft``'s
rule is the real part of ``fft`` of ``g`` padded to the full length, and ``irfft``'s is a
weighted, conjugated ``rfft`` (each bin but the zero and Nyquist ones stands for two).
"""
from __future__ import annotations

import functools

import numpy as np

from .core import FUNCTIONS, UFUNCS, Primitive, batch_axis, call, defbatch, defvjp, is_complex, np_attr


def _real_if(ct, x):
    """The cotangent of ``x``: real for a real ``x`` (the real part, by the convention above)."""
    return ct if is_complex(x) else np.real(ct)


def _resize(x, length: int, axis: int):
    """``x`` cut, or padded with zeros, to ``length`` along ``axis`` (as ``n=`` does to an input)."""
    n = np.shape(x)[axis]
    if n > length:
        return x[(slice(None),) * axis + (slice(0, length),)]
    if n < length:
        shape = list(np.shape(x))
        shape[axis] = length - n
        return np.concatenate([x, np.zeros(shape, x.dtype)], axis=axis)
    return x


def _emit(path: str):
    """``np.fft.<path>(x, ...)`` with the parameters the user gave (None: NumPy's default)."""
    defaults = {"axis": -1}
    return lambda args, **params: call(np_attr(path), args, {
        k: v for k, v in params.items() if v is not None and defaults.get(k) != v})


def _transform(name: str, impl, rule):
    prim = Primitive(name, impl, _emit(f"fft.{name}"))
    defvjp(prim, rule)
    return prim


# --- complex to complex: fft, ifft (one axis), fftn, ifftn (several; fft2 and ifft2 are these) --

def _fitted(ct, x, axes):
    """``ct`` (output lengths) fitted to ``x``'s lengths along ``axes``, real for a real ``x``."""
    for axis in axes:
        ct = _resize(ct, np.shape(x)[axis], axis)
    return _real_if(ct, x)


def _fft_rule(transform):
    return lambda g, ans, x, n=None, axis=-1, norm=None: _fitted(
        transform(g, axis=axis, norm=norm), x, [axis % np.ndim(x)])


def _nd_axes(x, s, axes) -> list:
    if axes is None:
        axes = range(np.ndim(x)) if s is None else range(-len(s), 0)
    return [a % np.ndim(x) for a in axes]


def _fftn_rule(transform):
    return lambda g, ans, x, s=None, axes=None, norm=None: _fitted(
        transform(g, axes=_nd_axes(x, s, axes), norm=norm), x, _nd_axes(x, s, axes))


fft_p = _transform("fft", lambda x, n=None, axis=-1, norm=None: np.fft.fft(x, n, axis, norm),
                   _fft_rule(np.fft.fft))
ifft_p = _transform("ifft", lambda x, n=None, axis=-1, norm=None: np.fft.ifft(x, n, axis, norm),
                    _fft_rule(np.fft.ifft))
fftn_p = _transform("fftn", lambda x, s=None, axes=None, norm=None: np.fft.fftn(x, s, axes, norm),
                    _fftn_rule(np.fft.fftn))
ifftn_p = _transform("ifftn", lambda x, s=None, axes=None, norm=None: np.fft.ifftn(x, s, axes, norm),
                     _fftn_rule(np.fft.ifftn))


# --- real to half-spectrum and back ------------------------------------------------------------

def _rfft_vjp(g, ans, x, n=None, axis=-1, norm=None):
    n = np.shape(x)[axis] if n is None else n
    # rfft(x) is fft(x) cut to n // 2 + 1 bins: its transpose pads g back to n, then fft
    return _fitted(np.fft.fft(g, n=n, axis=axis, norm=norm), x, [axis % np.ndim(x)])


_TRANSPOSED_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _irfft_vjp(g, ans, y, n=None, axis=-1, norm=None):
    n = 2 * (np.shape(y)[axis] - 1) if n is None else n
    # irfft reads bin k (0 < k < n/2) twice, as itself and as its conjugate for bin n - k
    bins = n // 2 + 1
    weights = np.full(bins, 2.0, dtype=ans.dtype)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    weights = np.reshape(weights, (bins,) + (1,) * (np.ndim(y) - 1 - axis % np.ndim(y)))
    ct = np.conj(np.fft.rfft(g, axis=axis, norm=_TRANSPOSED_NORM[norm])) * weights
    return _fitted(ct, y, [axis % np.ndim(y)])


rfft_p = _transform("rfft", lambda x, n=None, axis=-1, norm=None: np.fft.rfft(x, n, axis, norm), _rfft_vjp)
irfft_p = _transform("irfft", lambda x, n=None, axis=-1, norm=None: np.fft.irfft(x, n, axis, norm), _irfft_vjp)


# --- batching rules: an entry's axis k is the batched value's axis k + 1 -------------------------

def _batch_one_axis(prim):
    return lambda args, batched, out_shape, n=None, axis=-1, norm=None: prim.bind(
        args[0], n=n, axis=batch_axis(axis, np.ndim(args[0]) - 1), norm=norm)


def _batch_several_axes(prim):
    def rule(args, batched, out_shape, s=None, axes=None, norm=None):
        ndim = np.ndim(args[0]) - 1
        if axes is None:  # NumPy's default: every axis, or the last len(s)
            axes = tuple(range(ndim - (ndim if s is None else len(s)), ndim))
        return prim.bind(args[0], s=s, axes=batch_axis(tuple(axes), ndim), norm=norm)
    return rule


for _prim in (fft_p, ifft_p, rfft_p, irfft_p):
    defbatch(_prim, _batch_one_axis(_prim))
for _prim in (fftn_p, ifftn_p):
    defbatch(_prim, _batch_several_axes(_prim))


# --- NumPy's functions ---------------------------------------------------------------------

_NORMS = (None, "backward", "ortho", "forward")


def _check(function, norm, out):
    if out is not None:
        raise TypeError(f"np.fft.{function}: out= is not supported on traced values")
    if norm not in _NORMS:
        raise ValueError(f'np.fft.{function}: invalid norm value {norm}; should be "backward", "ortho" or "forward"')


def _one_axis(prim):
    def handler(a, n=None, axis=-1, norm=None, out=None):
        _check(prim.name, norm, out)
        return prim.bind(a, n=None if n is None else int(n), axis=int(axis), norm=norm)
    return handler


def _several_axes(prim, name, default_axes=None):
    def handler(a, s=None, axes=default_axes, norm=None, out=None):
        _check(name, norm, out)
        s = None if s is None else tuple(int(k) for k in s)
        axes = None if axes is None else tuple(int(k) for k in axes)
        return prim.bind(a, s=s, axes=axes, norm=norm)
    return handler


def _shift(x, axes, forward: bool):
    """np.fft.fftshift (forward) or ifftshift: a roll by half the length along each axis."""
    axes = range(np.ndim(x)) if axes is None else [axes] if isinstance(axes, int) else axes
    for axis in axes:
        axis = axis % np.ndim(x)
        n = np.shape(x)[axis]
        cut = n - n // 2 if forward else n // 2
        before = (slice(None),) * axis
        x = np.concatenate([x[before + (slice(cut, None),)], x[before + (slice(0, cut),)]], axis=axis)
    return x


def _real_several_axes(name, inverse: bool, default_axes=None):
    """rfftn (irfftn) as NumPy computes it: rfft along the last of the axes, then fft along the
    others (ifft along the others, then irfft along the last); rfft2 and irfft2 are these."""
    def handler(a, s=None, axes=default_axes, norm=None, out=None):
        _check(name, norm, out)
        ndim = np.ndim(a)
        if axes is None:
            axes = range(ndim) if s is None else range(-len(s), 0)
        axes = [int(k) % ndim for k in axes]
        if s is None:
            s = [np.shape(a)[k] for k in axes]
            if inverse:  # the last axis holds half a spectrum
                s[-1] = 2 * (s[-1] - 1)
        s = [int(k) for k in s]
        if len(s) != len(axes):
            raise ValueError(f"np.fft.{name}: shape and axes have different lengths")
        if not inverse:
            a = rfft_p.bind(a, n=s[-1], axis=axes[-1], norm=norm)
        for n, axis in zip(s[:-1], axes[:-1]):
            a = (ifft_p if inverse else fft_p).bind(a, n=n, axis=axis, norm=norm)
        return irfft_p.bind(a, n=s[-1], axis=axes[-1], norm=norm) if inverse else a
    return handler


def _hfft(a, n=None, axis=-1, norm=None, out=None):
    """The transform of a Hermitian-symmetric signal given by its first half: NumPy's irfft of
    the conjugate, with the normalization's direction swapped."""
    _check("hfft", norm, out)
    n = 2 * (np.shape(a)[int(axis)] - 1) if n is None else int(n)
    return irfft_p.bind(np.conj(a), n=n, axis=int(axis), norm=_TRANSPOSED_NORM[norm])


def _ihfft(a, n=None, axis=-1, norm=None, out=None):
    _check("ihfft", norm, out)
    return np.conj(rfft_p.bind(a, n=None if n is None else int(n), axis=int(axis), norm=_TRANSPOSED_NORM[norm]))


FUNCTIONS.update({
    np.fft.rfftn: _real_several_axes("rfftn", False), np.fft.irfftn: _real_several_axes("irfftn", True),
    np.fft.rfft2: _real_several_axes("rfft2", False, (-2, -1)),
    np.fft.irfft2: _real_several_axes("irfft2", True, (-2, -1)),
    np.fft.hfft: _hfft, np.fft.ihfft: _ihfft,
    np.fft.fft: _one_axis(fft_p), np.fft.ifft: _one_axis(ifft_p),
    np.fft.rfft: _one_axis(rfft_p), np.fft.irfft: _one_axis(irfft_p),
    np.fft.fftn: _several_axes(fftn_p, "fftn"), np.fft.ifftn: _several_axes(ifftn_p, "ifftn"),
    np.fft.fft2: _several_axes(fftn_p, "fft2", (-2, -1)), np.fft.ifft2: _several_axes(ifftn_p, "ifft2", (-2, -1)),
    np.fft.fftshift: lambda x, axes=None: _shift(x, axes, True),
    np.fft.ifftshift: lambda x, axes=None: _shift(x, axes, False),
})
for _function in (np.fft.rfft, np.fft.rfft2, np.fft.rfftn, np.fft.ihfft):  # NumPy takes no complex input there
    FUNCTIONS[_function].complex_values = "real only"



# --- complex values ----------------------------------------------------------------------------
# The elementwise family handles real values. Holomorphic functions need nothing more (see the
# convention above); these are not holomorphic, and get their complex rules here, beside the
# transforms that make complex values. Each keeps the elementwise family's rule (or handler)
# for real values.

real_p = Primitive("real", np.real)
defvjp(real_p, lambda g, ans, z: g)  # g is real: as a complex cotangent, dL/du - i * 0
imag_p = Primitive("imag", np.imag)
defvjp(imag_p, lambda g, ans, z: -1j * g)  # dL/du = 0, dL/dv = g
# NumPy's real and imaginary parts of a complex array are views of it (writing into z.real
# writes into z), which matters to writes and to codegen's reuse of buffers.
real_p.is_view = imag_p.is_view = True
defbatch(real_p, lambda args, batched, out_shape: real_p.bind(args[0]))
defbatch(imag_p, lambda args, batched, out_shape: imag_p.bind(args[0]))


def _for_complex(function, complex_handler):
    """Extend ``function``'s handler to complex values (it stays the elementwise family's entry)."""
    real_handler = FUNCTIONS.get(function)

    def handler(x, *args, **kwargs):
        if is_complex(x) or real_handler is None:
            return complex_handler(x, *args, **kwargs)
        return real_handler(x, *args, **kwargs)
    if real_handler is not None:
        functools.update_wrapper(handler, real_handler)
        real_caveat = getattr(real_handler, "caveat", None)
        handler.caveat = "complex values: differentiable" + (f"; {real_caveat}" if real_caveat else "")
    handler.differentiable = True
    handler.complex_values = "yes"  # (its real handler's primitives are not reached for complex values)
    FUNCTIONS[function] = handler


def _angle(z, deg=False):
    angle = np.arctan2(np.imag(z), np.real(z))
    return angle * (180 / np.pi) if deg else angle


_for_complex(np.real, real_p.bind)
_for_complex(np.imag, imag_p.bind)
_for_complex(np.angle, _angle)


def _complex_rule(ufunc, rule):
    prim = UFUNCS.get(ufunc)
    if prim is None:  # not traced at all: nothing to extend
        return
    real_rule = prim.rule(0)
    defvjp(prim, lambda g, ans, x: rule(g, ans, x) if is_complex(x) else real_rule(g, ans, x))


# |z| = sqrt(u**2 + v**2): dL/du - i dL/dv = g (u - iv) / |z|, taken as 0 at z = 0 as for real
# values (a spectrum's zero bins are common: the mean bin of a centered signal); conj(z) = u - iv:
# the cotangent's conjugate
_complex_rule(np.absolute, lambda g, ans, z: g * np.conj(z) / np.where(ans == 0, 1.0, ans))
_complex_rule(np.conjugate, lambda g, ans, z: np.conj(g))
