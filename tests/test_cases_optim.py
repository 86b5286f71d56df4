"""Cases C23 and C26 of CASES.md: damped Gauss-Newton and Woodbury solves.

Oracles: ``np.linalg.pinv`` / ``np.linalg.svd`` closed forms, an autograd
Jacobian of Model D's outputs, and an SVD-based Woodbury reference.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian

from sntk_ref.model import RNN
from sntk_ref.optim import damped_solve, gauss_newton_step, woodbury_solve

C23_DAMPINGS = (1.0, 1e-2, 1e-4, 1e-8, 1e-12, 1e-16, 0.0)


def _rel(a, b):
    assert np.isfinite(a).all() and np.isfinite(b).all()
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_c23_damping_floor_plain_matrix():
    rng = np.random.default_rng(12)
    J = rng.standard_normal((3, 10))
    r = rng.standard_normal(3)
    pinv_step = -np.linalg.pinv(J) @ r

    for lam in C23_DAMPINGS:
        primal = damped_solve(J, r, lam, form="primal")
        dual = damped_solve(J, r, lam, form="dual")
        assert np.isfinite(primal).all() and np.isfinite(dual).all()
        if lam >= 1e-8:
            assert _rel(primal, dual) <= 1e-8
        if lam <= 1e-8:
            assert _rel(primal, pinv_step) <= 1e-6
            assert _rel(dual, pinv_step) <= 1e-6


def _model_d_outputs(theta, X, n):
    """Model D (elman, h0 = 0) with the identity readout: outputs = states."""
    D = X.shape[2]
    W = anp.reshape(theta[:n * n], (n, n))
    U = anp.reshape(theta[n * n:n * n + n * D], (n, D))
    b = theta[n * n + n * D:]
    h, ys = anp.zeros((X.shape[0], n)), []
    for t in range(X.shape[1]):
        h = anp.tanh(anp.dot(h, W.T) + anp.dot(X[:, t], U.T) + b)
        ys.append(h)
    return anp.ravel(anp.stack(ys, axis=1))


def test_c23_damping_floor_rnn():
    # Model D, N=6, D=2, T=3, n=1, seed 12; readout C = I, d = 0 so the
    # 18 outputs are the states; theta = (W, U, b), P = 54
    N, D, T, n_seq = 6, 2, 3, 1
    rng = np.random.default_rng(12)
    W = rng.normal(0.0, 0.9 / np.sqrt(N), (N, N))
    U = rng.normal(0.0, 1.0 / np.sqrt(D), (N, D))
    b = rng.normal(0.0, 0.1, N)
    X = rng.normal(size=(n_seq, T, D))
    Y = rng.normal(size=(n_seq, T, N))
    model = RNN("elman", W, U, b, np.eye(N), np.zeros(N))
    assert model.n_params == 54

    # dense oracle: J (18, 54), and the unnormalised system of C23,
    # (J^T J + lam I) delta = -J^T r, is G + (lam / BT) I with G = J^T J / BT
    J = jacobian(_model_d_outputs)(model.theta, X, N)
    r = _model_d_outputs(model.theta, X, N) - Y.ravel()
    Us, s, Vt = np.linalg.svd(J, full_matrices=False)
    pinv_step = -Vt.T @ ((Us.T @ r) / s)
    BT = n_seq * T

    for lam in C23_DAMPINGS:
        want = -Vt.T @ ((s / (s**2 + lam)) * (Us.T @ r))
        primal = gauss_newton_step(model, X, Y, lam / BT, form="primal")
        dual = gauss_newton_step(model, X, Y, lam / BT, form="dual")
        assert _rel(primal, want) <= 1e-9 and _rel(dual, want) <= 1e-9
        if lam >= 1e-8:
            assert _rel(primal, dual) <= 1e-8
        # the exact damped step differs from the pseudo-inverse step by up
        # to lam / s_min^2 (s_min^2 ~ 1.3e-5 here), so CASES's 1e-6 holds
        # only for lam <= ~1e-11; the bound below holds for every lam
        assert _rel(dual, pinv_step) <= lam / s[-1] ** 2 + 1e-9
        if lam <= 1e-12:
            assert _rel(dual, pinv_step) <= 1e-6
    exact_at_1e8 = -Vt.T @ ((s / (s**2 + 1e-8)) * (Us.T @ r))
    assert _rel(exact_at_1e8, pinv_step) > 1e-6


def _woodbury_svd(U, v, lam):
    """``(lam I + U U^T)^{-1} v`` from the SVD of ``U``, to relative ``O(eps)``.

    With ``U = Q S V^T`` (thin), the solve splits exactly into the range of
    ``Q``, scaled by ``1 / (lam + s^2)``, and its complement, scaled by
    ``1 / lam``; each piece is computed to full relative accuracy, so this is
    an independent float64 reference even at ``lam = 1e-12``.
    """
    Q, s, _ = np.linalg.svd(U, full_matrices=False)
    coef = Q.T @ v
    return Q @ (coef / (lam + s**2)) + (v - Q @ coef) / lam


@pytest.mark.parametrize("rank_deficient", [False, True])
def test_c26_woodbury_ill_conditioned(rank_deficient):
    rng = np.random.default_rng(15)
    U = rng.standard_normal((200, 5))
    v = rng.standard_normal(200)
    if rank_deficient:
        U[:, 4] = U[:, 3]

    for lam in (1.0, 1e-4, 1e-8, 1e-12):
        x = woodbury_solve(U, v, lam)
        A = lam * np.eye(200) + U @ U.T
        assert np.isfinite(x).all()
        # against an independent SVD solve: far inside CASES's 1e-8
        assert _rel(x, _woodbury_svd(U, v, lam)) <= 1e-12
        if lam >= 1e-4:
            # a dense float64 solve is itself accurate only to ~cond * eps
            # (about 1e-6 at lam = 1e-8), so compare with it where it is
            assert _rel(x, np.linalg.solve(A, v)) <= 1e-8
        # normwise backward error; the plain residual |A x - v| / |v| of
        # any float64 x is ~eps |U|^2 |x| / |v| ~ 1e-2 at lam = 1e-12
        backward = np.linalg.norm(A @ x - v) / (
            np.linalg.norm(A, 2) * np.linalg.norm(x) + np.linalg.norm(v))
        assert backward <= 1e-14


@pytest.mark.parametrize("scale", [1e-200, 1e-150, 1e150, 1e200])
@pytest.mark.parametrize("form", ["dual", "primal"])
def test_damped_solve_extreme_scales_stay_finite(scale, form):
    """No NaN, inf or spurious zero when ``s^2`` under- or overflows.

    At ``lam = 0`` the step of ``scale J`` is ``J^+ r / scale`` exactly, so
    the scaled result must equal the pseudo-inverse step of ``J``.
    """
    rng = np.random.default_rng(1)
    J = rng.standard_normal((3, 10))
    r = np.ones(3)
    delta = damped_solve(scale * J, r, 0.0, form=form)
    assert np.isfinite(delta).all()
    assert _rel(scale * delta, -np.linalg.pinv(J) @ r) <= 1e-12
