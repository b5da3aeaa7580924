"""FFTs of real inputs, and the complex-value rules they bring (real, imag, abs, conj, angle).

A complex result is checked through ``project``: the real part of its product with a fixed
random complex array, so every real and imaginary entry reaches the loss with its own weight.
"""
from __future__ import annotations

import zlib

import numpy as np

from . import Case


def project(z):
    """Re(z * w), w a fixed random complex array of z's shape and precision."""
    rng = np.random.default_rng(zlib.crc32(repr(z.shape).encode()))
    w = rng.standard_normal(z.shape) + 1j * rng.standard_normal(z.shape)
    return np.real(z * w.astype(z.dtype))


def spectrum(x, n=None):
    """A complex input (for the inverse transforms), made from a real one."""
    return np.fft.fft(x, n) * (1.0 + 0.5j)


CASES = [
    # complex to complex, one axis
    Case("fft", "1-D", lambda x: project(np.fft.fft(x)), lambda r: (r(8),)),
    Case("fft", "n pads", lambda x: project(np.fft.fft(x, n=11)), lambda r: (r(8),)),
    Case("fft", "n cuts, norm='ortho'", lambda x: project(np.fft.fft(x, 5, norm="ortho")), lambda r: (r(8),)),
    Case("fft", "axis=0, norm='forward'", lambda x: project(np.fft.fft(x, axis=0, norm="forward")),
         lambda r: (r(5, 3),)),
    Case("fft", "2-D, last axis, norm='backward'", lambda x: project(np.fft.fft(x, norm="backward")),
         lambda r: (r(3, 4),)),
    Case("ifft", "1-D", lambda x: project(np.fft.ifft(x)), lambda r: (r(8),)),
    Case("ifft", "n pads, norm='ortho'", lambda x: project(np.fft.ifft(x, n=10, norm="ortho")), lambda r: (r(7),)),
    Case("ifft", "n cuts, axis=-2, norm='forward'", lambda x: project(np.fft.ifft(x, 3, axis=-2, norm="forward")),
         lambda r: (r(5, 2),)),
    Case("ifft", "of a complex spectrum", lambda x: project(np.fft.ifft(spectrum(x))), lambda r: (r(6),)),
    # complex to complex, several axes
    Case("fftn", "all axes", lambda x: project(np.fft.fftn(x)), lambda r: (r(3, 4),)),
    Case("fftn", "s and axes, norm='ortho'", lambda x: project(np.fft.fftn(x, s=(5, 3), axes=(0, 1), norm="ortho")),
         lambda r: (r(4, 4),)),
    Case("fftn", "axes=(0, 2)", lambda x: project(np.fft.fftn(x, axes=(0, 2))), lambda r: (r(2, 3, 4),)),
    Case("fftn", "fft2", lambda x: project(np.fft.fft2(x)), lambda r: (r(2, 3, 4),)),
    Case("fftn", "fft2, s, norm='forward'", lambda x: project(np.fft.fft2(x, s=(2, 6), norm="forward")),
         lambda r: (r(3, 4),)),
    Case("ifftn", "all axes", lambda x: project(np.fft.ifftn(x)), lambda r: (r(3, 4),)),
    Case("ifftn", "ifft2 of a complex spectrum", lambda x: project(np.fft.ifft2(spectrum(x))), lambda r: (r(3, 4),)),
    Case("ifftn", "ifft2, s, axes=(1, 0)", lambda x: project(np.fft.ifft2(x, s=(3, 5), axes=(1, 0), norm="ortho")),
         lambda r: (r(4, 4),)),
    # real to half-spectrum and back
    Case("rfft", "even length", lambda x: project(np.fft.rfft(x)), lambda r: (r(8),)),
    Case("rfft", "odd length", lambda x: project(np.fft.rfft(x)), lambda r: (r(7),)),
    Case("rfft", "n pads, norm='ortho'", lambda x: project(np.fft.rfft(x, n=11, norm="ortho")), lambda r: (r(8),)),
    Case("rfft", "n cuts, norm='forward'", lambda x: project(np.fft.rfft(x, 6, norm="forward")), lambda r: (r(9),)),
    Case("rfft", "axis=0", lambda x: project(np.fft.rfft(x, axis=0)), lambda r: (r(6, 3),)),
    Case("irfft", "even n", lambda x: np.fft.irfft(spectrum(x)[:5]), lambda r: (r(8),)),
    Case("irfft", "odd n", lambda x: np.fft.irfft(spectrum(x)[:4], n=7), lambda r: (r(7),)),
    Case("irfft", "n pads the input, norm='ortho'", lambda x: np.fft.irfft(spectrum(x)[:3], n=9, norm="ortho"),
         lambda r: (r(6),)),
    Case("irfft", "n cuts the input, norm='forward'", lambda x: np.fft.irfft(spectrum(x), n=6, norm="forward"),
         lambda r: (r(8),)),
    Case("irfft", "axis=0", lambda x: np.fft.irfft(np.fft.fft(x, axis=0) * (1.0 - 0.5j), axis=0),
         lambda r: (r(5, 2),)),
    Case("irfft", "of a real input", lambda x: np.fft.irfft(x), lambda r: (r(5),)),
    Case("irfft", "round trip", lambda x: np.fft.irfft(np.fft.rfft(x), n=7) * np.arange(7), lambda r: (r(7),)),
    # complex values
    Case("real", "np.real", lambda x: np.real(np.fft.fft(x)), lambda r: (r(6),)),
    Case("imag", "np.imag", lambda x: np.imag(np.fft.fft(x)), lambda r: (r(6),)),
    Case("imag", "np.angle (away from the cut)", lambda x: np.angle(np.fft.fft(x)[1:4]), lambda r: (r(8),)),
    Case("imag", "np.angle in degrees", lambda x: np.angle(np.fft.fft(x)[1:3], deg=True), lambda r: (r(6),)),
    Case("abs", "of complex values", lambda x: np.abs(np.fft.fft(x)), lambda r: (r(6),)),
    Case("abs", "power spectrum", lambda x: np.abs(np.fft.rfft(x)) ** 2, lambda r: (r(8),)),
    Case("abs", "exact zeros (0, not NaN)", lambda x: np.abs(np.fft.fft(x) * np.arange(6)), lambda r: (r(6),)),
    Case("conjugate", "of complex values", lambda x: project(np.conj(np.fft.fft(x))), lambda r: (r(6),)),
    Case("conjugate", "z * conj(z)", lambda x: np.real(np.fft.rfft(x) * np.conjugate(np.fft.rfft(x))),
         lambda r: (r(7),)),
    Case("multiply", "complex products", lambda x: project(np.fft.fft(x) * np.fft.fft(x[::-1])), lambda r: (r(5),)),
    # shifts
    Case("concatenate", "fftshift", lambda x: np.fft.fftshift(x) * np.arange(7), lambda r: (r(7),)),
    Case("concatenate", "ifftshift, axes=0", lambda x: np.fft.ifftshift(x, axes=0) * np.arange(4)[:, None],
         lambda r: (r(4, 3),)),
]
