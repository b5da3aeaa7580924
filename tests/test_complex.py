"""Complex numbers: the convention (df/dx - i df/dy, JAX's and autograd's), every rule that takes
complex values checked against finite differences along real and imaginary directions at first
and second order, and everything else refusing complex values loudly rather than guessing."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
import zlib

import numpy as np
import pytest

import tracediff as td
from tracediff.errors import NonDifferentiableError, NonScalarOutputError
from tracediff.primitives import REGISTRY
from tracediff import coverage
from tracediff.primitives.core import UFUNCS, Primitive
from tracediff.testing import check_grads, numerical_vjp

sys.path.insert(0, os.path.dirname(__file__))
from test_rules import CASES, CASE_IDS, FIRST_ORDER_ONLY  # noqa: E402

RNG = np.random.default_rng(7)
# (the real tables' cases cast some arguments to float64 on purpose: NumPy warns for complex ones)
pytestmark = pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")


def _complex(*shape, re=(0.3, 0.9), im=(0.2, 0.7), dtype=np.complex128):
    """Values off both axes, away from every branch cut of NumPy's functions (the negative real
    axis, |Re| > 1 and |Im| > 1 on the axes)."""
    return (RNG.uniform(*re, shape) + 1j * RNG.uniform(*im, shape)).astype(dtype)


# Primitives bound (forward, rules, rules of rules) by a complex check that passed: every one a
# function marked "complex: yes" on the coverage page reaches must be among them (the last test).
CHECKED_ON_COMPLEX: set = set()
WALKED: dict = {"cases": set(), "more": set(), "ufuncs": set()}


@contextlib.contextmanager
def _checked_on_complex(walk: str, key):
    bound, bind = set(), Primitive.bind

    def recorded(self, *args, **params):
        bound.add(self.name)
        return bind(self, *args, **params)

    Primitive.bind = recorded
    try:
        yield bound
    finally:
        Primitive.bind = bind
    WALKED[walk].add(key)


# --- the convention -------------------------------------------------------------------------------

def test_the_convention_on_abs_squared():
    assert td.grad(lambda z: abs(z) ** 2)(1 + 2j) == 2 - 4j  # 2x - i 2y
    z = np.array([1 + 2j, -0.5 + 0.25j])
    np.testing.assert_array_equal(td.grad(lambda z: np.sum(np.abs(z) ** 2))(z), 2 * np.conj(z))


def test_the_convention_on_real_and_imaginary_parts():
    z = np.array([1 + 2j, 3 - 1j])
    np.testing.assert_array_equal(td.grad(lambda z: np.sum(z.real * 3.0))(z), [3, 3])
    np.testing.assert_array_equal(td.grad(lambda z: np.sum(z.imag * 3.0))(z), [-3j, -3j])  # -i df/dy


def test_steepest_ascent_is_the_conjugate_of_the_gradient():
    f = lambda z: float(np.abs(np.exp(z) - 1j) ** 2)  # noqa: E731
    z = 0.3 + 0.2j
    g = td.grad(lambda z: np.abs(np.exp(z) - 1j) ** 2)(z)
    step = 1e-6 * np.conj(g) / abs(g)
    assert f(z + step) - f(z) == pytest.approx(abs(g) * 1e-6, rel=1e-4)  # a step along conj(g) climbs fastest


def test_a_real_loss_of_the_fft_of_a_real_signal():
    t = np.linspace(0.0, 1.0, 16, endpoint=False)

    def loss(x):
        spectrum = np.fft.fft(x)
        return np.sum(np.abs(spectrum[:4]) ** 2)  # power in the four lowest bins

    x = np.sin(2 * np.pi * 2 * t) + 0.3 * t
    g = td.grad(loss)(x)
    assert g.dtype == np.float64  # a real input gets a real gradient
    np.testing.assert_allclose(g, numerical_vjp(loss, (x,), 0, 1.0)[0], rtol=1e-6, atol=1e-7)
    check_grads(loss, x, order=2)


def test_a_loss_of_the_eigenvalues_of_a_hermitian_matrix():
    b = _complex(4, 4, re=(-1, 1), im=(-1, 1))
    h = b + b.conj().T
    loss = lambda a: np.sum(np.linalg.eigvalsh(a) ** 2 * np.arange(1.0, 5.0))  # noqa: E731
    check_grads(loss, h, order=2)
    # sum(w**2) = ||h||_F**2: its gradient, on the lower triangle eigh reads, is 2 conj(h) there
    # and twice that below the diagonal (each entry stands for its mirror image too)
    g = td.grad(lambda a: np.sum(np.linalg.eigvalsh(a) ** 2))(h)
    expected = np.tril(4 * np.conj(h), -1) + np.diag(2 * np.real(np.diag(h)))
    np.testing.assert_allclose(g, expected, atol=1e-12)


def test_holomorphic_derivatives():
    assert td.grad(lambda z: z ** 3, holomorphic=True)(1 + 2j) == pytest.approx(3 * (1 + 2j) ** 2)
    z = np.array([0.3 + 0.1j, -1 + 2j])
    np.testing.assert_allclose(td.grad(lambda z: np.sum(np.sin(z)), holomorphic=True)(z), np.cos(z))
    value, g = td.value_and_grad(lambda z: np.exp(z), holomorphic=True)(0.5j)
    assert value == pytest.approx(np.exp(0.5j)) and g == pytest.approx(np.exp(0.5j))


def test_complex_outputs_and_real_arguments_to_holomorphic_are_clear_errors():
    with pytest.raises(NonScalarOutputError, match=r"output is complex.*abs\(z\).*td.vjp.*holomorphic=True"):
        td.grad(lambda z: z ** 2)(1 + 2j)
    with pytest.raises(NonDifferentiableError, match="holomorphic=True.*'x' is real.*astype"):
        td.grad(lambda x: x ** 2, holomorphic=True)(1.5)


def test_vjp_takes_and_returns_cotangents_in_the_convention():
    z = _complex(3)
    out, pullback = td.vjp(lambda z: np.exp(z) * np.conj(z), z)
    ct = _complex(3)
    (got,) = pullback(ct)
    (expected,) = numerical_vjp(lambda z: np.exp(z) * np.conj(z), (z,), 0, ct)  # of Re(sum(ct * out))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_check_grads_catches_a_rule_with_the_conjugate_convention():
    @td.custom_vjp
    def f(z):
        return z * z

    @f.defvjp
    def _(g, ans, z):
        return (g * np.conj(2 * z),)  # PyTorch's convention: wrong in tracediff's

    with pytest.raises(AssertionError, match="does not match finite differences"):
        check_grads(lambda z: f(z), _complex(3))


def test_python_complex_arguments_are_values_not_keys():
    g = td.grad(lambda z, w: abs(z * w) ** 2)
    assert g(1 + 1j, 2.0) == pytest.approx(2 * 4 * (1 - 1j))
    assert g(2 - 1j, 2.0) == pytest.approx(2 * 4 * (2 + 1j))
    assert g.cache_info().traces == 1


def test_single_precision_stays_single():
    z = _complex(3, dtype=np.complex64)
    g = td.grad(lambda z: np.sum(np.abs(np.exp(z) * (1 + 1j)) ** 2))(z)
    assert g.dtype == np.complex64
    x = np.linspace(0, 1, 8, dtype=np.float32)
    assert td.grad(lambda x: np.sum(np.abs(np.fft.rfft(x)) ** 2))(x).dtype == np.float32


def test_jvp_jacobian_checkpoint_and_export(tmp_path):
    z = np.array([1 + 2j, 0.5 - 1j])
    _, tangent = td.jvp(np.exp, (z,), (np.array([1 + 0j, 1j]),))
    np.testing.assert_allclose(tangent, np.exp(z) * np.array([1, 1j]))
    np.testing.assert_allclose(td.jacobian(lambda z: np.abs(z) ** 2)(z), np.diag(2 * np.conj(z)))
    block = td.checkpoint(lambda z: np.exp(z) * (1 - 0.5j))
    loss = lambda z: np.sum(np.abs(block(z)) ** 2)  # noqa: E731
    check_grads(loss, z, order=2)
    import importlib.util

    path = td.export(td.grad(loss), z, path=str(tmp_path / "complex_grad.py"))
    spec = importlib.util.spec_from_file_location("complex_grad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = [v for k, v in vars(module).items() if k.startswith("grad") and callable(v)][0]
    np.testing.assert_array_equal(exported(z), td.grad(loss)(z))


def test_real_if_close_is_a_decision_on_the_values():
    g = td.grad(lambda z: np.sum(np.abs(np.real_if_close(z * 2)) ** 2))
    np.testing.assert_array_equal(g(np.array([1 + 1e-15j, 2 - 1e-16j])), [8, 16])  # imaginary parts dropped
    np.testing.assert_allclose(g(np.array([1 + 0.5j, 2 + 0j])), [8 - 4j, 16])  # kept: another path
    check_grads(lambda z: np.real_if_close(z) * 3, np.array([1 + 0.5j, 2 + 0.1j]), order=2)


# --- every elementwise rule -----------------------------------------------------------------------

ELEMENTWISE = {p.name: uf for uf, p in UFUNCS.items() if p.elementwise and p.differentiable}


def _defined_for_complex(ufunc) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ufunc(*[_complex(2) for _ in range(ufunc.nin)])
        return True
    except TypeError:
        return False


COMPLEX_UFUNCS = sorted(name for name, uf in ELEMENTWISE.items() if _defined_for_complex(uf))


def test_the_complex_ufuncs_are_the_expected_ones():
    # A ufunc that starts or stops accepting complex values (NumPy, SciPy) must be looked at.
    numpy_ones = {"abs", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "conjugate",
                  "cos", "cosh", "divide", "exp", "exp2", "expm1", "float_power", "fmax", "fmin", "log",
                  "log10", "log1p", "log2", "maximum", "minimum", "multiply", "negative", "positive",
                  "power", "reciprocal", "sin", "sinh", "sqrt", "square", "subtract", "tan", "tanh"}
    assert numpy_ones <= set(COMPLEX_UFUNCS)


@pytest.mark.parametrize("name", COMPLEX_UFUNCS)
def test_elementwise_rule_on_complex_values_of_negative_real_part(name):
    # (off the cuts too: the imaginary parts stay in (0.2, 0.7)); found reading the change:
    # arccosh's rule had the wrong branch there, a complex power's exponent rule a zero log
    ufunc = ELEMENTWISE[name]
    if REGISTRY[name].rule(0) is None:
        return
    args = [_complex(3, re=(-0.9, 0.4)) for _ in range(ufunc.nin)]
    try:
        check_grads(lambda *a: ufunc(*a) * (1.3 - 0.4j), *args, argnums=tuple(range(ufunc.nin)), order=2)
    except NotImplementedError as e:  # a SciPy function whose rule is for real arguments: said so
        assert "complex" in str(e)


@pytest.mark.parametrize("name", COMPLEX_UFUNCS)
def test_elementwise_rule_on_complex_values(name):
    ufunc = ELEMENTWISE[name]
    args = [_complex(3) for _ in range(ufunc.nin)]
    fun = lambda *a: ufunc(*a) * (1.3 - 0.4j)  # noqa: E731
    argnums = tuple(range(ufunc.nin))
    if REGISTRY[name].rule(0) is None:
        return
    with _checked_on_complex("ufuncs", name) as bound:
        try:
            check_grads(fun, *args, argnums=argnums, order=2)
        except NotImplementedError as e:  # a SciPy function whose rule is for real arguments: said so
            assert "complex" in str(e)
            return
        single = [a.astype(np.complex64) for a in args]
        check_grads(fun, *single, argnums=argnums)
        assert td.grad(lambda *a: np.sum(np.abs(fun(*a)) ** 2))(*single).dtype == np.complex64
    CHECKED_ON_COMPLEX.update(bound)


def test_maximum_of_complex_values_follows_numpys_order():
    x, y = np.array([1 + 5j, 2 + 0j, 1 + 1j]), np.array([1 + 2j, 1 + 9j, 1 + 1j])  # by real, then imaginary part
    g = td.grad(lambda x, y: np.sum(np.real(np.maximum(x, y) * (2 - 1j))), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(g[0], [2 - 1j, 2 - 1j, 1 - 0.5j])  # a tie: half each
    np.testing.assert_array_equal(g[1], [0, 0, 1 - 0.5j])


# --- every other rule: checked on complex values, or a clear refusal --------------------------------

def _complex_rand(prim: str, seed: int):
    rng = np.random.default_rng(seed)
    low, high = REGISTRY[prim].domain
    return lambda *shape: rng.uniform(low, high, shape) + 1j * rng.uniform(-0.6, 0.6, shape)


REFUSALS = (NotImplementedError, td.MissingRuleError)
# Raised by tracediff's handlers for complex values where a case's arguments, all made complex, are
# not what NumPy takes (a complex condition, index or shape): loud, never a wrong value.
LOUD = {("where", "TypeError"), ("setitem", "AttributeError"), ("matmul", "TypeError")}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_on_complex_values(case):
    args = case.args(_complex_rand(case.prim, zlib.crc32(case.label.encode())))
    if not any(np.iscomplexobj(args[n]) for n in case.argnums):
        return  # (integer or constant arguments only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            plain = case.fun(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        except Exception:
            return  # NumPy (or SciPy) does not take complex values here
        try:
            traced, _ = td.vjp(lambda *d: case.fun(*_merged(args, case.argnums, d)),
                               *[args[n].copy() if isinstance(args[n], np.ndarray) else args[n] for n in case.argnums])
        except REFUSALS as e:
            assert "complex" in str(e) or "not supported" in str(e), e
            return
        except (TypeError, AttributeError) as e:
            assert (case.prim, type(e).__name__) in LOUD, e
            return
        np.testing.assert_allclose(np.asarray(traced), np.asarray(plain), rtol=1e-10, atol=1e-12, equal_nan=True)
        second = (case.prim, case.label) not in FIRST_ORDER_ONLY
        with _checked_on_complex("cases", case.label) as bound:
            try:
                check_grads(case.fun, *args, argnums=case.argnums, order=2 if second else 1)
            except NotImplementedError as e:  # eigenvectors' and singular vectors' phases are arbitrary
                assert (case.prim == "eigh_vectors" and "phases" in str(e)) or "singular vectors" in str(e), e
                return  # (check_grads checked the first order before the second)
    CHECKED_ON_COMPLEX.update(bound)


def test_singular_values_of_complex_matrices():
    # (second order through the singular vectors: tests/test_complex_svd.py has more)
    for fun in (lambda a: np.linalg.svdvals(a) ** 2, lambda a: np.linalg.norm(a, "nuc"),
                lambda a: np.linalg.svd(a[:3], compute_uv=False)):
        check_grads(fun, B, order=2)


def test_a_loss_that_depends_on_eigenvector_phases_is_an_error():
    phase_blind = lambda a: np.sum(np.abs(np.linalg.eigh(a).eigenvectors[:, 0]) ** 2 * np.arange(4.0))  # noqa: E731
    phase_bound = lambda a: np.sum(np.real(np.linalg.eigh(a).eigenvectors[:, 0]))  # noqa: E731
    check_grads(phase_blind, H)
    with pytest.raises(NotImplementedError, match="phases of the eigenvectors"):
        td.grad(phase_bound)(H)
    g = td.grad(lambda a, w: phase_blind(a) + w * phase_bound(a), argnums=0)
    g(H, 0.0)  # blind here: traced, and the check is in the generated code
    with pytest.raises(NotImplementedError, match="phases of the eigenvectors"):
        g(H, 1.0)  # the check fails, the function is traced again, and the rule says why


def _merged(args, argnums, diff):
    full = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    for n, d in zip(argnums, diff):
        full[n] = d
    return full


# --- linear algebra and transforms not in the real tables -----------------------------------------

B = _complex(4, 4, re=(-1, 1), im=(-1, 1))
H = B + B.conj().T
MORE = {
    "eigh UPLO='U', largest eigenvalue": (lambda a: np.linalg.eigvalsh(a, UPLO="U")[-1], H),
    "eigh eigenvectors, a loss blind to their phases": (
        lambda a: np.sum(np.abs(np.linalg.eigh(a).eigenvectors) ** 2 * np.arange(16.0).reshape(4, 4)), H),
    "slogdet sign (a phase)": (lambda a: np.linalg.slogdet(a)[0], B),
    "slogdet log|det|": (lambda a: np.linalg.slogdet(a)[1], B),
    "matrix_power": (lambda a: np.linalg.matrix_power(a, 3), B),
    "pinv, tall": (np.linalg.pinv, B[:, :3]),
    "pinv, wide": (np.linalg.pinv, B[:3]),
    "cholesky": (lambda a: np.linalg.cholesky(a) * (1 + 2j), B @ B.conj().T + 4 * np.eye(4)),
    "cholesky upper": (lambda a: np.abs(np.linalg.cholesky(a, upper=True)) ** 2, B @ B.conj().T + 4 * np.eye(4)),
    "norm 1": (lambda a: np.linalg.norm(a, 1), B[0]),
    "norm 3": (lambda a: np.linalg.norm(a, 3), B[0]),
    "vdot": (lambda a: np.vdot(a, B), B),
    "inner": (lambda a: np.inner(a, B), B),
    "outer": (lambda a: np.outer(a, B[0]), B[1]),
    "kron": (lambda a: np.kron(a, B[:2, :2]), B[:2]),
    "sort (lexicographic)": (lambda a: np.sort(a, axis=0), B),
    "cov": (np.cov, B),
    "corrcoef": (np.corrcoef, B),
    "fft2": (np.fft.fft2, B),
    "ifftn ortho": (lambda z: np.fft.ifftn(z, norm="ortho"), B),
    "fftshift": (np.fft.fftshift, B),
    "hfft": (np.fft.hfft, B[0]),
    "hfft n, ortho": (lambda z: np.fft.hfft(z, n=7, norm="ortho"), B[0]),
    "ihfft": (np.fft.ihfft, B[0].real),
    "rfft2": (np.fft.rfft2, B.real),
    "irfft2": (np.fft.irfft2, B),
    "rfftn s, axes, ortho": (lambda x: np.fft.rfftn(x, s=(3, 6), axes=(0, 1), norm="ortho"), B.real),
    "irfftn": (lambda z: np.fft.irfftn(z, s=(4, 7), axes=(0, 1)), B),
    "astype complex64 (checked as single precision)": (lambda z: z.astype(np.complex64) * 2, B),
    "sign (z / |z|)": (lambda z: np.sign(z) * (1.5 - 0.5j), B),
    "convolve": (lambda z: np.convolve(z, B[1, :3]), B[0]),
    "convolve, same, shorter first": (lambda z: np.convolve(z[:2], B[1], mode="same"), B[0]),
    "correlate (conjugates v)": (lambda z: np.correlate(B[1], z[:3], mode="full"), B[0]),
    "correlate valid, shorter first": (lambda z: np.correlate(z[:2], B[1]), B[0]),
    "correlate same, shorter first": (lambda z: np.correlate(z[:3], B[1], mode="same"), B[0]),
    "polymul": (lambda z: np.polymul(z, B[1, :2]), B[0]),
    "poly of complex roots": (np.poly, B[0]),
    "polyval": (lambda z: np.polyval(z, B[1]), B[0]),
    "nan_to_num": (lambda z: np.nan_to_num(z + np.array([0, np.nan, np.inf, -1j * np.inf]), posinf=2.0,
                                           neginf=-3.0), B[0]),
    "median": (lambda z: np.median(z, axis=1), B),
    "median of all, keepdims": (lambda z: np.median(z[:3], keepdims=True), B),
    "interp of complex samples": (lambda z: np.interp(np.array([-1, 0.2, 1.7, 3.5]), np.arange(4.0), z,
                                                      left=1j, right=2.0), B[0]),
    "geomspace of complex ends": (lambda z: np.geomspace(z[0], z[1], 5), B[0] * np.array([1, -1, 1, 1])),
    "sort_complex": (np.sort_complex, B),
    "eigvals": (np.linalg.eigvals, B),
    "eig eigenvalues": (lambda a: np.linalg.eig(a).eigenvalues, B),
    "eig eigenvectors, a loss blind to their phases": (
        lambda a: np.sum(np.abs(np.linalg.eig(a).eigenvectors) ** 2 * np.arange(16.0).reshape(4, 4)), B),
    "sort_complex of real values": (lambda x: np.sort_complex(x) * (1 - 1j), B.real),
    "a real value made complex": (lambda x: np.exp(1j * x) * (x + 0j), B.real),
}


try:  # SciPy's special functions whose rules hold for complex arguments (of a real order)
    import scipy.special as sp
except ImportError:  # (optional)
    sp = None
else:
    MORE.update({f"scipy.special.{name} of complex z": (lambda z, name=name: getattr(sp, name)(1.5, z), B[0])
                 for name in ("kv", "kve", "yv", "iv", "jv")})
    MORE["scipy.special.log_softmax"] = (sp.log_softmax, B[0])


@pytest.mark.parametrize("name", MORE)
def test_more_functions_on_complex_values(name):
    fun, x = MORE[name]
    traced, _ = td.vjp(fun, x)
    np.testing.assert_allclose(traced, fun(x), rtol=1e-10, atol=1e-12)
    with _checked_on_complex("more", name) as bound:
        check_grads(fun, x, order=2, **({"rtol": 2e-3, "atol": 2e-3} if "single" in name else {}))
    CHECKED_ON_COMPLEX.update(bound)




def test_the_real_part_is_a_view_so_its_buffer_is_not_reused():
    # Found by the fuzzer (seed 18001, program 84): np.real(g) is a view of g, and codegen wrote
    # the next product into g's buffer (out=g) while the real part was still to be read.
    def f(x0):
        v1 = np.log(1 + x0 * x0) * x0
        v7 = np.abs(np.sqrt(x0 + 1j * v1))
        return (v7 * np.cos(np.arange(4.0)).reshape((2, 2))).sum()

    x = np.array([[0.4669, -1.7335], [-1.4020, 2.1969]])
    with td.optimizations(large_at=2):  # (codegen's buffer reuse on every array)
        reused = td.grad(f)(x)
    with td.optimizations(disable="all"):
        plain = td.grad(f)(x)
    np.testing.assert_allclose(reused, plain, rtol=1e-13)
    check_grads(f, x, order=2)


def test_writes_through_the_real_and_imaginary_parts_as_numpy():
    def f(z):
        z = z * 1.0
        r = z.real
        r[0] = 5.0  # writes into z
        i = z.imag
        z[1] = z[1] * 2  # r and i see it
        return np.sum(np.abs(z) ** 2) + np.sum(r * 3) + np.sum(i ** 2)

    z = np.array([1 + 2j, 0.5 - 1j, 2 + 0.3j])
    assert td.vjp(f, z)[0] == pytest.approx(f(z.copy()))
    check_grads(f, z, order=2)


def test_a_negative_python_number_to_a_fractional_power_is_a_guard():
    # Found by the fuzzer (seed 18002, program 699): Python's (-1.15) ** -1.5 is complex where
    # 1.15 ** -1.5 is a float, so code traced at 1.15 took the real part too early at -1.15.
    def f(x0):
        return np.abs(x0 ** -1.5 * (0.6 - 0.8j) + 1j) ** 2 * 0.75

    g = td.grad(f)
    g(1.15)
    assert g(-1.15) == td.grad(lambda x: f(x))(-1.15)  # traced again for the complex path
    assert g.cache_info().traces == 2
    assert g(-1.15) == pytest.approx(numerical_vjp(f, (-1.15,), 0, 1.0)[0], rel=1e-6)
    powers = td.grad(lambda x, p: x ** p)
    assert (powers(2.0, 2.0), powers(-2.0, 2.0)) == (4.0, -4.0)
    assert powers.cache_info().traces == 1  # a whole exponent: real for either sign


def test_scipy_cholesky_and_cho_solve_of_a_hermitian_matrix():
    sl = pytest.importorskip("scipy.linalg")
    h = B @ B.conj().T + 4 * np.eye(4)
    rhs = np.array([1 + 1j, -0.5, 2j, 0.3 - 0.2j])
    for lower in (False, True):
        solve = lambda a, r, lower=lower: sl.cho_solve(sl.cho_factor(a, lower=lower), r)  # noqa: E731
        np.testing.assert_allclose(td.vjp(solve, h, rhs)[0], solve(h, rhs), rtol=1e-12)
        check_grads(solve, h, rhs, argnums=(0, 1), order=2)
        check_grads(lambda a, lower=lower: sl.cholesky(a, lower=lower), h, order=2)


def test_complex_powers_with_bases_of_negative_real_part():
    # Found reading the change: the exponent's rule took log(x) as 0 where x > 0 failed, which
    # for complex x (NumPy's order) is every base of negative real part.
    x, y = np.array([-0.5 + 0.3j, -1.2 - 0.4j]), np.array([1.5 + 0.2j, 0.7 - 0.1j])
    check_grads(lambda x, y: x ** y, x, y, argnums=(0, 1), order=2)
    check_grads(lambda x, y: np.float_power(x, y), x, y, argnums=(0, 1), order=2)
    check_grads(lambda y: np.array([-2.0, -0.5]) ** y, y, order=2)  # a negative real base


def test_python_complex_constants_are_weak_as_in_numpy():
    # Found adding nan_to_num: 1j * x of a float32 x was complex128 on traced values (complex64 in NumPy).
    x = np.array([0.5, 2.0], np.float32)
    for f in (lambda x: 1j * x, lambda x: x + (1 + 2j), lambda x: np.multiply(x, 1j), lambda x: x / 2j):
        assert td.vjp(f, x)[0].dtype == f(x).dtype == np.complex64
        assert td.grad(lambda x: np.sum(np.abs(f(x)) ** 2))(x).dtype == np.float32


def test_poly_of_conjugate_pairs_is_real_as_in_numpy():
    # NumPy returns the real part when the roots come in conjugate pairs: a guard, checked on every call
    loss = lambda r: np.sum(np.poly(r) * np.arange(1.0, 4.0))  # noqa: E731
    g = td.grad(lambda r: np.real(loss(r)))
    pair, other = np.array([1 + 2j, 1 - 2j]), np.array([1 + 2j, 0.5 - 1j])
    assert td.vjp(np.poly, pair)[0].dtype == np.float64 and td.vjp(np.poly, other)[0].dtype == np.complex128
    for roots in (pair, other, pair):
        np.testing.assert_allclose(g(roots), numerical_vjp(lambda r: np.real(loss(r)), (roots,), 0, 1.0)[0], rtol=1e-6)
    assert g.cache_info().traces == 2


def test_nanmedian_of_complex_values_refuses():
    with pytest.raises(NotImplementedError, match="np.median is"):
        td.grad(lambda z: np.abs(np.nanmedian(z)))(B)


def test_every_function_marked_complex_on_the_coverage_page_is_checked_on_complex_values():
    # (run on its own, or with some of the walks deselected: walk them here)
    for case in (c for c in CASES if c.label not in WALKED["cases"]):
        test_case_on_complex_values(case)
    for name in set(MORE) - WALKED["more"]:
        test_more_functions_on_complex_values(name)
    for name in set(COMPLEX_UFUNCS) - WALKED["ufuncs"]:
        test_elementwise_rule_on_complex_values(name)
    unchecked = {}
    for row in coverage.entries():
        if row["complex"] == "yes":
            # (a primitive marked otherwise is one the function does not reach with complex values)
            missing = [p for p in row["primitives"] if p not in CHECKED_ON_COMPLEX and REGISTRY[p].complex_values is None]
            if missing:
                unchecked[row["names"][0]] = missing
    assert not unchecked, f"marked complex on docs/coverage.md, never checked on complex values: {unchecked}"
