"""Fitting a damped oscillation in the frequency domain, with a complex parameter.

The model is ``x(t) = Re(c * exp((-decay + 2 pi i freq) t))``: a complex amplitude ``c`` (its
modulus the amplitude, its angle the phase) and two real parameters. The loss compares the
model's spectrum, ``np.fft.rfft``, with the observed one: a real loss computed through complex
values, differentiated with respect to a complex and two real arguments.

tracediff's gradient of a real loss ``L`` with respect to a complex ``z = x + iy`` is
``dL/dx - i dL/dy`` (JAX's and autograd's convention, docs/complex.md): the direction of steepest
descent is its conjugate, so the update is ``c - step * np.conj(g)``.

Run it:   python examples/damped_oscillation_spectrum.py            (prints the fit)
          python examples/damped_oscillation_spectrum.py --plot     (also saves a figure; needs matplotlib)
"""
import sys

import numpy as np

import tracediff as td

N, DT = 256, 0.01
t = np.arange(N) * DT


def model(c, rates):
    """The damped oscillation; ``rates`` holds the decay rate (1/s) and the frequency (Hz)."""
    decay, freq = rates[0], rates[1]
    return np.real(c * np.exp((-decay + 2j * np.pi * freq) * t))


true_c, true_rates = 1.5 * np.exp(0.6j), np.array([1.2, 7.0])
observed = model(true_c, true_rates) + 0.05 * np.random.default_rng(0).standard_normal(N)
observed_spectrum = np.fft.rfft(observed)


def loss(c, rates):
    """Mean squared distance between the spectra (Parseval: the same as in time, up to scale)."""
    return np.mean(np.abs(np.fft.rfft(model(c, rates)) - observed_spectrum) ** 2)


def main(plot: bool = False):
    gradient = td.value_and_grad(loss, argnums=(0, 1))
    # A first guess. (c is a NumPy complex, as the updates keep it: a Python complex and a NumPy
    # one are different argument types, and each would be traced once.)
    c, rates = np.complex128(1.0), np.array([0.8, 6.8])
    m, v = [np.zeros_like(c), np.zeros_like(rates)], [0.0, np.zeros_like(rates)]
    for step in range(1, 601):
        value, (g_c, g_rates) = gradient(c, rates)
        # Adam on (conj(g_c), g_rates): steepest descent for c is along conj(g_c)
        for i, g in enumerate((np.conj(g_c), g_rates)):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * np.abs(g) ** 2
            update = 0.02 * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
            c, rates = (c - update, rates) if i == 0 else (c, rates - update)
        if step % 100 == 0:
            print(f"step {step:3d}  loss {value:9.5f}  |c| {abs(c):.3f}  phase {np.angle(c):.3f}  "
                  f"decay {rates[0]:.3f}  freq {rates[1]:.3f}")
    print(f"fitted: amplitude {abs(c):.2f}, phase {np.angle(c):.2f}, decay {rates[0]:.2f}/s, freq {rates[1]:.2f} Hz "
          f"(true: 1.50, 0.60, 1.20, 7.00)")
    print(f"traces: {gradient.cache_info().traces}")
    print(gradient.source(c, rates))
    if plot:
        _plot(c, rates)
    return {"c": c, "rates": rates, "loss": value, "cache": gradient.cache_info()}


def _plot(c, rates, path="damped_oscillation_fit.png"):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no figure")
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6))
    top.plot(t, observed, ".", ms=3, label="observed")
    top.plot(t, model(c, rates), label="fitted")
    top.set_xlabel("t (s)")
    top.legend()
    freqs = np.fft.rfftfreq(N, DT)
    bottom.plot(freqs, np.abs(observed_spectrum), ".", ms=3, label="|rfft(observed)|")
    bottom.plot(freqs, np.abs(np.fft.rfft(model(c, rates))), label="|rfft(fitted)|")
    bottom.set_xlabel("frequency (Hz)")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main(plot="--plot" in sys.argv)
