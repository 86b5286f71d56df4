"""Cases C05, C18, C19, C20 and C22 of CASES.md (the foundation's share).

Model D: the elman cell, ``h_0 = 0``, ``theta = (W, U, b)``, drawn with
``numpy.random.default_rng(seed)`` in the order ``W ~ Normal(0, g^2/N)``,
``U ~ Normal(0, 1/D)``, ``b ~ Normal(0, 0.1^2)``, ``X ~ Normal(0, 1)``,
then any targets.
"""

import numpy as np
import pytest
from autograd import grad, jacobian
import autograd.numpy as anp

from sntk_ref.derivatives import state_jacobian, vjp
from sntk_ref.model import RNN
from sntk_ref.testing import check_grad, fd_jacobian
from sntk_ref.trajectories import forward

from strategies import reference_states

#: Recurrent gain of Model D.
GAIN = 0.9


def model_d(seed, N, D, T, n, dtype=np.float64, targets=None):
    """Model D with inputs (and targets of shape ``targets`` if given)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, GAIN / np.sqrt(N), (N, N))
    U = rng.normal(0.0, 1.0 / np.sqrt(D), (N, D))
    b = rng.normal(0.0, 0.1, N)
    X = rng.normal(0.0, 1.0, (n, T, D))
    Y = None if targets is None else rng.normal(0.0, 1.0, targets)
    model = RNN("elman", W.astype(dtype), U.astype(dtype), b.astype(dtype),
                np.zeros((1, N)), np.zeros(1))
    return model, X, Y


def rel_err(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def final_state_loss(model, X):
    """``theta -> 1/2 |h_T|^2`` (numpy forward pass, for central differences)."""
    def fun(theta):
        h_T = forward(model.with_theta(theta), X)[:, -1]
        return 0.5 * float(np.sum(h_T * h_T))
    return fun


def final_state_q(H):
    """Cotangent of ``1/2 |h_T|^2``: ``h_T`` on the last step, zero before."""
    q = np.zeros_like(H)
    q[:, -1] = H[:, -1]
    return q


# -- C05 ----------------------------------------------------------------------
def test_c05_autograd_traces_the_reference_and_matches_bptt():
    model, X, _ = model_d(4, N=3, D=1, T=5, n=1)
    theta = model.theta

    def ag_loss(theta, X, h0):
        h_T = reference_states(model, theta, X, h0)[:, -1]
        return 0.5 * anp.sum(h_T * h_T)

    h0 = np.zeros((1, 3))
    g_ag = grad(ag_loss, 0)(theta, X, h0)          # no exception: append+stack
    fd = fd_jacobian(final_state_loss(model, X), theta)
    assert rel_err(g_ag, fd) < 1e-8

    H = forward(model, X)
    g_bptt, g_h0, g_X = vjp(model, X, final_state_q(H), h0=h0)
    assert rel_err(g_bptt, g_ag) < 1e-12
    assert rel_err(g_X, grad(ag_loss, 1)(theta, X, h0)) < 1e-12
    assert rel_err(g_h0, grad(ag_loss, 2)(theta, X, h0)) < 1e-12
    # the traced trajectory itself
    J_ag = jacobian(reference_states, 1)(model, theta, X)
    assert rel_err(state_jacobian(model, X), J_ag) < 1e-12


def test_c05_slice_assignment_is_what_autograd_cannot_trace():
    """The failure mode the reference avoids (so the test above can fail)."""
    model, X, _ = model_d(4, N=3, D=1, T=5, n=1)

    def sliced(theta):
        W = anp.reshape(theta[:9], (3, 3))
        H = np.zeros((5, 3))
        h = np.zeros(3)
        for t in range(5):
            h = anp.tanh(anp.dot(W, h) + X[0, t, 0])
            H[t] = h
        return anp.sum(H)

    with pytest.raises((TypeError, ValueError)):
        grad(sliced)(model.theta)


# -- C18 ----------------------------------------------------------------------
def test_c18a_final_state_only_loss():
    model, X, _ = model_d(8, N=4, D=2, T=20, n=1)
    assert model.n_params == 28
    q = np.zeros((1, 20, 4))
    q[:, -1] = 1.0                                  # L = sum_a h_T^a
    g = vjp(model, X, q)[0]
    assert np.linalg.norm(g) > 1e-3

    def L(theta):
        return float(np.sum(forward(model.with_theta(theta), X)[:, -1]))

    assert rel_err(g, fd_jacobian(L, model.theta)) < 1e-8


def chunked_gradient(model, X, split):
    """``1/2 sum_t |h_t|^2`` by two BPTT calls, ``h_split`` handed over.

    The second chunk starts from the first chunk's last state; its ``g_h0``
    is that state's cotangent, added to the first chunk's cotangent of its
    last step.
    """
    H1 = forward(model, X[:, :split], h0=np.zeros(model.n_hidden))
    H2 = forward(model, X[:, split:], h0=H1[:, -1])
    g2, g_h_split, _ = vjp(model, X[:, split:], H2, h0=H1[:, -1])
    q1 = H1.copy()
    q1[:, -1] += g_h_split
    g1, g_h0, _ = vjp(model, X[:, :split], q1, h0=np.zeros(model.n_hidden))
    return g1 + g2, g_h0


def test_c18b_chunked_bptt_equals_single_sweep():
    model, X, _ = model_d(8, N=4, D=2, T=20, n=1)
    H = forward(model, X)
    g_single, g_h0_single, _ = vjp(model, X, H, h0=np.zeros(4))
    g_chunk, g_h0 = chunked_gradient(model, X, 10)
    assert rel_err(g_chunk, g_single) < 1e-12
    assert rel_err(g_h0, g_h0_single) < 1e-12

    def L(theta):
        H = forward(model.with_theta(theta), X)
        return 0.5 * float(np.sum(H * H))

    assert rel_err(g_chunk, fd_jacobian(L, model.theta)) < 1e-8

    def L_h0(h0):
        H = forward(model, X, h0=h0)
        return 0.5 * float(np.sum(H * H))

    # at h0 = 0 and at a non-zero h0
    assert rel_err(g_h0[0], fd_jacobian(L_h0, np.zeros(4))) < 1e-8
    h0 = np.random.default_rng(8).standard_normal(4)
    g_h0_b = vjp(model, X, forward(model, X, h0=h0), h0=h0)[1][0]
    assert rel_err(g_h0_b, fd_jacobian(L_h0, h0)) < 1e-8

    # every split point, not just the middle
    for split in range(1, 20):
        assert rel_err(chunked_gradient(model, X, split)[0], g_single) < 1e-12


# -- C19 ----------------------------------------------------------------------
def truncated_sensitivity_gradient(model, X, q):
    """A *truncated* (one-step) RTRL, labelled as such: ``J_{t+1} = D_t``.

    Drops the ``A_t J_t`` term of SPEC 2.1, keeping only the step's own
    parameter derivative (elman: ``dF_i/dW_ik = (1 - h'_i^2) h_k`` etc.).
    Not a correct gradient; it exists to show the test detects it.
    """
    H = forward(model, X)
    B, T, N = H.shape
    prev = np.concatenate([np.zeros((B, 1, N)), H[:, :-1]], axis=1)
    g = q * (1.0 - H * H)                                  # (B, T, N)
    gW = np.einsum("bti,btk->ik", g, prev)
    gU = np.einsum("bti,btk->ik", g, X)
    gb = g.sum(axis=(0, 1))
    return np.concatenate([gW.ravel(), gU.ravel(), gb])


def test_c19_full_forward_sensitivities():
    model, X, Y = model_d(9, N=4, D=2, T=15, n=2, targets=(2, 15, 4))
    assert model.n_params == 28
    H = forward(model, X)
    R = H - Y                                   # L = 1/2 sum_t |h_t - y_t|^2

    J = state_jacobian(model, X, method="rtrl")
    assert J.shape == (2, 15, 4, 28)
    g_rtrl = np.einsum("btn,btnp->p", R, J)
    g_bptt = vjp(model, X, R)[0]
    assert rel_err(g_rtrl, g_bptt) < 1e-10

    def L(theta):
        D = forward(model.with_theta(theta), X) - Y
        return 0.5 * float(np.sum(D * D))

    assert rel_err(g_rtrl, fd_jacobian(L, model.theta)) < 1e-7

    # the sensitivities themselves, column by column
    J_fd = fd_jacobian(lambda th: forward(model.with_theta(th), X), model.theta)
    assert np.max(np.abs(J - J_fd)) < 1e-7 * max(1.0, np.max(np.abs(J_fd)))

    # a truncated variant is measurably wrong on this input
    g_trunc = truncated_sensitivity_gradient(model, X, R)
    assert rel_err(g_trunc, g_bptt) > 1e-3
    # (and equals the exact gradient with the recurrence cut: T = 1 check)
    one = truncated_sensitivity_gradient(model, X[:, :1], R[:, :1])
    assert rel_err(one, vjp(model, X[:, :1], R[:, :1])[0]) < 1e-13


# -- C20 ----------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 2, 3, 4, 5])
def test_c20_input_gradient_with_variable_length(T):
    model, X, _ = model_d(10, N=3, D=2, T=5, n=1)
    U = model.U

    # length-T run, and length-5 run with the states after T masked out
    g_trunc = vjp(model, X[:, :T], np.ones((1, T, 3)))[2]
    mask = np.zeros((1, 5, 3))
    mask[:, :T] = 1.0
    g_mask = vjp(model, X, mask)[2]
    assert g_trunc.shape == (1, T, 2) and g_mask.shape == (1, 5, 2)
    assert np.max(np.abs(g_mask[:, :T] - g_trunc)) <= 1e-14
    assert np.all(g_mask[:, T:] == 0.0)

    # dL_T / dx_T = U^T (1 - h_T^2), elementwise square
    h_T = forward(model, X)[0, T - 1]
    assert np.max(np.abs(g_trunc[0, T - 1] - U.T @ (1.0 - h_T ** 2))) <= 1e-14

    def L_T(x_flat):
        H = forward(model, x_flat.reshape(X.shape))
        return float(np.sum(H[:, :T]))

    fd = fd_jacobian(L_T, X.ravel()).reshape(X.shape)
    assert np.max(np.abs(g_mask - fd)) < 1e-8


# -- C22 ----------------------------------------------------------------------
def test_c22_float32_parameters_into_check_grad():
    model, X, _ = model_d(11, N=5, D=3, T=30, n=1, dtype=np.float32)
    assert model.W.dtype == np.float64                 # upcast on the way in
    theta32 = model.theta.astype(np.float32)
    assert np.array_equal(theta32.astype(np.float64), model.theta)

    H = forward(model, X)
    g = vjp(model, X, final_state_q(H))[0]
    assert g.dtype == np.float64
    fun = final_state_loss(model, X)
    assert check_grad(fun, theta32, g).passed
    assert check_grad(fun, theta32, g, rtol=1e-7).passed

    # a 0.1 % error planted in any entry not tiny against the largest
    big = np.flatnonzero(np.abs(g) >= 2e-5 * np.max(np.abs(g)))
    assert big.size > g.size // 2
    for i in big:
        bad = g.copy()
        bad[i] *= 1.001
        assert not check_grad(fun, theta32, bad).passed
