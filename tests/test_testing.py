"""Tests of sntk_ref.testing: finite differences and derivative checkers.

Oracles are closed forms: polynomials, ``sin``/``exp`` and a linear map.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sntk_ref.testing import (CheckResult, check_grad, check_jvp, check_vjp,
                              fd_derivative, fd_jacobian)
from sntk_ref.tolerances import FD_RTOL

RNG_SEED = 3


def f_scalar(x):
    """``sum(sin(x) * exp(x / 3)) + x_0^3``."""
    return np.sum(np.sin(x) * np.exp(x / 3.0)) + x[0] ** 3


def g_scalar(x):
    g = np.cos(x) * np.exp(x / 3.0) + np.sin(x) * np.exp(x / 3.0) / 3.0
    g[0] += 3.0 * x[0] ** 2
    return g


def f_vector(x):
    """A map R^4 -> R^(2, 3) with a closed-form Jacobian."""
    return np.array([[x[0] * x[1], np.sin(x[2]), x[3] ** 2],
                     [np.exp(x[0]), x[1] + x[2], x[0] * x[3]]])


def J_vector(x):
    J = np.zeros((2, 3, 4))
    J[0, 0, 0], J[0, 0, 1] = x[1], x[0]
    J[0, 1, 2] = np.cos(x[2])
    J[0, 2, 3] = 2 * x[3]
    J[1, 0, 0] = np.exp(x[0])
    J[1, 1, 1] = J[1, 1, 2] = 1.0
    J[1, 2, 0], J[1, 2, 3] = x[3], x[0]
    return J


X0 = np.array([0.3, -1.2, 0.7, 2.0])


def test_fd_jacobian_closed_form():
    J = fd_jacobian(f_vector, X0)
    assert J.shape == (2, 3, 4) and J.dtype == np.float64
    np.testing.assert_allclose(J, J_vector(X0), rtol=0, atol=1e-9)


def test_fd_derivative_is_exact_for_quadratics_and_second_order():
    A = np.arange(16.0).reshape(4, 4)
    u = np.array([1.0, -2.0, 0.5, 3.0])
    # central differences are exact (to round-off) for quadratics
    d = fd_derivative(lambda x: x @ A @ x, X0, u)
    assert abs(d - (X0 @ (A + A.T) @ u)) < 1e-7
    # second order: for a cubic the error is h^2 / 6 * f''' exactly
    h = 1e-2
    d = fd_derivative(lambda x: x[0] ** 3, X0, np.eye(4)[0], step=h)
    assert abs(d - (3 * X0[0] ** 2 + h ** 2)) < 1e-12
    assert np.all(fd_derivative(f_vector, X0, np.zeros(4)) == 0.0)


@settings(max_examples=20)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_check_grad_passes_correct_and_catches_planted_error(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    g = g_scalar(x)
    res = check_grad(f_scalar, x, g)
    assert isinstance(res, CheckResult) and res.passed and bool(res)
    assert res.max_error <= 1.0
    # documented: a 0.1 % error in any entry above ~1e-5 of the largest
    big = np.abs(g) >= 2e-5 * np.max(np.abs(g))
    for i in np.flatnonzero(big):
        bad = g.copy()
        bad[i] *= 1.001
        assert not check_grad(f_scalar, x, bad).passed


def test_check_grad_upcasts_float32_and_never_differences_in_float32():
    seen = []

    def fun(x):
        seen.append(x.dtype)
        return f_scalar(x)

    x32 = X0.astype(np.float32)
    x64 = x32.astype(np.float64)
    res = check_grad(fun, x32, g_scalar(x64), rtol=1e-7)
    assert res.passed and set(seen) == {np.dtype(np.float64)}


def test_float32_finite_difference_would_fail():
    """Why C22 matters: the same check done in float32 reports a mismatch."""
    x = X0.astype(np.float32)
    h = np.float32(np.finfo(np.float32).eps ** (1 / 3))
    fd32 = np.array([(np.float32(f_scalar(x + h * e)) - np.float32(
        f_scalar(x - h * e))) / (2 * h) for e in np.eye(4, dtype=np.float32)])
    g = g_scalar(x.astype(np.float64))
    assert np.max(np.abs(fd32 - g) / np.abs(g)) > FD_RTOL


def test_check_grad_non_finite_analytic_fails():
    g = g_scalar(X0)
    g[1] = np.nan
    res = check_grad(f_scalar, X0, g)
    assert not res.passed and res.max_error == np.inf


def test_check_jvp_and_vjp_closed_form():
    rng = np.random.default_rng(RNG_SEED)
    J = J_vector(X0)
    assert check_jvp(f_vector, X0, lambda v: J @ v, rng).passed
    assert check_vjp(f_vector, X0,
                     lambda u: np.einsum("ij,ijk->k", u, J), rng).passed
    wrong = J.copy()
    wrong[0, 2, 3] *= 1.001
    assert not check_jvp(f_vector, X0, lambda v: wrong @ v, rng).passed
    assert not check_vjp(f_vector, X0,
                         lambda u: np.einsum("ij,ijk->k", u, wrong), rng).passed
    # a transposed-index error (a swapped pair of entries) is caught too
    swapped = J.copy()
    swapped[1, 2, [0, 3]] = swapped[1, 2, [3, 0]]
    assert not check_jvp(f_vector, X0, lambda v: swapped @ v, rng).passed


def test_checkers_validate_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="grad"):
        check_grad(f_scalar, X0, np.zeros(3))
    with pytest.raises(ValueError, match="x"):
        check_grad(f_scalar, np.full(4, np.nan), np.zeros(4))
    with pytest.raises(TypeError, match="x"):
        fd_jacobian(f_vector, X0 + 0j)
    with pytest.raises(ValueError, match="direction"):
        fd_derivative(f_vector, X0, np.zeros(3))
    with pytest.raises(ValueError, match="step"):
        fd_derivative(f_vector, X0, np.ones(4), step=0.0)
    with pytest.raises(TypeError, match="rng"):
        check_jvp(f_vector, X0, lambda v: v, 0)
    with pytest.raises(TypeError, match="rng"):
        check_vjp(f_vector, X0, lambda v: v, None)
    with pytest.raises(TypeError, match="complex"):
        fd_jacobian(lambda x: x + 1j, X0)


# -- the command line (its demo runs these checkers) --------------------------
@pytest.mark.parametrize("args", [["--version"], ["demo"],
                                  ["demo", "--cell", "elman", "--seed", "3"]])
def test_cli_runs_and_exits_zero(args):
    import subprocess
    import sys
    from pathlib import Path

    from sntk_ref._version import __version__

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "sntk_ref", *args], cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if args == ["--version"]:
        assert __version__ in out.stdout
    else:
        assert "PASS" in out.stdout
