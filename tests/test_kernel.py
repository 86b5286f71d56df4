"""Tests of sntk_ref.kernel: dense kernels, operator, output kernel, views.

Oracles: ``K = J J^T`` with ``J`` from ``autograd.jacobian`` of the
independent forward pass in tests/strategies.py (list append + stack), a
closed form of the linearised euler network, and loops over the six indices
for the views. Sizes are mutually distinct (N, D, O, B, T).
"""

import tracemalloc

import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings

from sntk_ref import kernel as kernel_module
from sntk_ref.cells import CELLS
from sntk_ref.kernel import (KernelMemoryError, default_max_bytes, output_ntk,
                             sntk, sntk_operator, space_kernel, time_block,
                             time_diagonal, time_kernel)
from sntk_ref.tolerances import EPS

from strategies import make_problem, problems, reference_outputs, reference_states

#: Agreement of two exact constructions of the same kernel (SPEC 3.2).
EXACT = 1e-10

#: Block-size invariance (CASES C02).
BLOCK_TOL = 1e-12

#: Sizes used by the fixed-size tests: distinct, and B T N = 60 > P = 32 for
#: W, U, b trainable, so the rank bound is active.
SIZES = dict(N=4, D=3, O=2, B=3, T=5)

#: Trainable subsets of the fixed-size tests (state blocks, readout, h0).
SUBSETS = (("W", "U", "b"), ("W", "h0"), ("U", "b", "C", "d"),
           ("W", "U", "b", "C", "d", "h0"), ("d",))


def rel(a, b):
    """Relative Frobenius distance, after checking both are finite."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.isfinite(a).all() and np.isfinite(b).all()
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def flat(K):
    n = int(np.sqrt(K.size))
    return K.reshape(n, n)


def autograd_kernel(model, X, output=False):
    """``J J^T`` from ``autograd.jacobian``; six indices."""
    fun = reference_outputs if output else reference_states
    J = jacobian(lambda th: fun(model, th, X))(model.theta)
    Jf = J.reshape(-1, model.n_params)
    return (Jf @ Jf.T).reshape(J.shape[:3] * 2)


def problem(cell, trainable, seed=0, dt=0.5, sizes=SIZES):
    return make_problem(seed, sizes, cell=cell, dt=dt, trainable=trainable)


# -- three exact constructions against autograd ------------------------------
@pytest.mark.filterwarnings("ignore:Output seems independent of input")
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("trainable", SUBSETS, ids="-".join)
def test_methods_agree_with_autograd(cell, trainable):
    pb = problem(cell, trainable, seed=len(trainable))
    K_ref = autograd_kernel(pb.model, pb.X)

    K_jac = sntk(pb.model, pb.X, method="jacobian")
    K_rec = sntk(pb.model, pb.X, method="recursion")
    M = K_ref.shape[0] * K_ref.shape[1] * K_ref.shape[2]
    K_op = sntk_operator(pb.model, pb.X).matmat(np.eye(M))
    assert K_jac.shape == K_rec.shape == (3, 5, 4, 3, 5, 4)
    assert rel(K_jac, K_ref) <= EXACT
    assert rel(K_rec, K_ref) <= EXACT
    assert rel(K_op, flat(K_ref)) <= EXACT


@pytest.mark.parametrize("method", ["jacobian", "recursion"])
@pytest.mark.parametrize("cell", CELLS)
def test_selected_times_are_a_submatrix(method, cell):
    pb = problem(cell, ("W", "U", "b", "h0"), seed=3)
    K_ref = autograd_kernel(pb.model, pb.X)
    times = [4, 0, 2]
    K = sntk(pb.model, pb.X, method=method, times=[-1, 0, 2])
    assert rel(K, K_ref[:, times][:, :, :, :, times]) <= EXACT
    K_final = sntk(pb.model, pb.X, method=method, times=-1)
    assert rel(K_final, K_ref[:, -1:, :, :, -1:]) <= EXACT


def test_explicit_initial_states_per_sequence():
    pb = problem("elman", ("W", "b"), seed=5)
    h0 = np.random.default_rng(1).standard_normal((3, 4))
    fun = lambda th: reference_states(pb.model, th, pb.X, h0)  # noqa: E731
    J = jacobian(fun)(pb.model.theta).reshape(60, -1)
    for method in ("jacobian", "recursion"):
        assert rel(flat(sntk(pb.model, pb.X, h0, method=method)), J @ J.T) <= EXACT


# -- invariants (SPEC 3.1) ---------------------------------------------------
@settings(max_examples=20)
@given(problems(max_steps=4))
def test_symmetric_psd_rank_bounded(pb):
    K = flat(sntk(pb.model, pb.X))
    K_rec = flat(sntk(pb.model, pb.X, method="recursion"))
    assert np.array_equal(K, K.T) and np.array_equal(K_rec, K_rec.T)
    assert rel(K_rec, K) <= EXACT

    lam = np.linalg.eigvalsh(K)
    floor = K.shape[0] * EPS * max(lam[-1], 1e-300)
    assert lam[0] >= -floor
    assert np.sum(lam > floor) <= min(K.shape[0], pb.model.n_params)


@pytest.mark.parametrize("method", ["jacobian", "recursion"])
def test_block_size_invariance(method):
    sizes = dict(N=3, D=2, O=1, B=5, T=4)
    pb = problem("elman", ("W", "U", "b", "h0"), seed=7, sizes=sizes)
    ref = sntk(pb.model, pb.X, method="jacobian", block_size=5)
    for bs in range(1, 7):
        assert rel(sntk(pb.model, pb.X, method=method, block_size=bs),
                   ref) <= BLOCK_TOL
        for times in ([3, 1], [1, 3], [0, 2, 3]):
            K = sntk(pb.model, pb.X, method=method, block_size=bs, times=times)
            assert rel(K, ref[:, times][:, :, :, :, times]) <= BLOCK_TOL
            assert np.array_equal(flat(K), flat(K).T)


@pytest.mark.parametrize("method", ["jacobian", "recursion"])
def test_triangles_copied_in_chunks(method, monkeypatch):
    """Symmetrisation chunk by chunk (rows not dividing M) changes nothing."""
    pb = problem("euler", ("W", "b", "h0"), seed=8)
    K_ref = autograd_kernel(pb.model, pb.X)
    monkeypatch.setattr(kernel_module, "SYMMETRIZE_ROWS", 7)
    for block_size in (None, 2):
        K = flat(sntk(pb.model, pb.X, method=method, block_size=block_size))
        assert np.array_equal(K, K.T)
        assert rel(K, flat(K_ref)) <= EXACT
    Theta = flat(output_ntk(pb.model, pb.X, method=method))
    assert np.array_equal(Theta, Theta.T)


def test_no_reduced_precision_path():
    pb = problem("euler", ("W", "U", "b"), seed=2)
    X32 = pb.X.astype(np.float32)
    for method in ("jacobian", "recursion"):
        K = sntk(pb.model, X32, method=method)
        assert K.dtype == np.float64
        assert rel(K, sntk(pb.model, X32.astype(np.float64))) <= EXACT


def test_no_state_parameters_gives_zero_kernel():
    pb = problem("euler", ("C", "d"), seed=4)
    for method in ("jacobian", "recursion"):
        assert not sntk(pb.model, pb.X, method=method).any()
    empty = pb.model.replace(trainable=())
    assert not sntk(empty, pb.X).any()


# -- the linearised network (W -> 0) -----------------------------------------
def linear_kernel(model, X):
    """Closed-form kernel of the euler network at ``W = 0``, shape (M, M).

    With ``a = 1 - dt`` and ``W = 0`` the states obey
    ``h_{t+1} = a h_t + dt (U x_t + b)`` and
    ``J_t = sum_{k <= t} a^(t-k) D_k`` with ``D_k dtheta =
    dt (dW tanh(h_k) + dU x_k + db)``. So ``K = (L c L^T) ⊗ I_N`` with
    ``L[(b,t), (b,k)] = dt a^(t-k)`` for ``k <= t`` and
    ``c = tanh(h_k) . tanh(h_l) + x_k . x_l + 1``.
    """
    B, T = X.shape[:2]
    a, dt = 1.0 - model.dt, model.dt
    h, pre = np.tile(model.h0, (B, 1)), []
    for t in range(T):
        pre.append(h)
        h = a * h + dt * (X[:, t] @ model.U.T + model.b)
    R = np.tanh(np.stack(pre, axis=1)).reshape(B * T, -1)
    Xf = X.reshape(B * T, -1)
    c = R @ R.T + Xf @ Xf.T + 1.0

    steps = np.arange(T)
    power = np.subtract.outer(steps, steps)
    L1 = np.where(power >= 0, dt * a ** np.maximum(power, 0), 0.0)
    L = np.kron(np.eye(B), L1)
    return np.kron(L @ c @ L.T, np.eye(model.n_hidden))


def test_linear_network_closed_form():
    """Error of the W = 0 closed form is first order in |W|."""
    pb = problem("euler", ("W", "U", "b"), seed=9)
    X = 0.3 * pb.X   # no saturation: tanh stays near its linear range
    W0 = pb.model.W
    errors = []
    for scale in (1e-3, 1e-4):
        model = pb.model.replace(W=scale * W0)
        K_lin = linear_kernel(model, X)
        err = rel(flat(sntk(model, X)), K_lin)
        # first-order perturbation accumulated over at most T steps
        assert err <= X.shape[1] * np.linalg.norm(model.W, 2)
        errors.append(err)
    assert 0.05 <= errors[1] / errors[0] <= 0.2


# -- the operator (SPEC 2.3, 3.2) ---------------------------------------------
def test_operator_products():
    pb = problem("elman", ("W", "U", "h0"), seed=11)
    K = flat(autograd_kernel(pb.model, pb.X))
    op = sntk_operator(pb.model, pb.X)
    rng = np.random.default_rng(0)
    q = rng.standard_normal(60)
    Q = rng.standard_normal((60, 3))
    assert op.shape == (60, 60) and op.dtype == np.float64
    assert rel(op.matvec(q), K @ q) <= EXACT
    assert rel(op.rmatvec(q), K @ q) <= EXACT
    assert rel(op @ Q, K @ Q) <= EXACT
    assert rel(op.H @ q, K @ q) <= EXACT
    z = q + 1j * rng.standard_normal(60)
    assert rel(op.matvec(z), K @ z) <= EXACT


# -- output kernel (SPEC 3.1) -------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("trainable", SUBSETS, ids="-".join)
def test_output_ntk_against_autograd(cell, trainable):
    pb = problem(cell, trainable, seed=20 + len(trainable))
    Theta_ref = autograd_kernel(pb.model, pb.X, output=True)
    for method in ("jacobian", "recursion"):
        Theta = output_ntk(pb.model, pb.X, method=method)
        assert Theta.shape == (3, 5, 2, 3, 5, 2)
        assert rel(Theta, Theta_ref) <= EXACT
        assert np.array_equal(flat(Theta), flat(Theta).T)
    Theta = output_ntk(pb.model, pb.X, times=[-1], block_size=1)
    assert rel(Theta, Theta_ref[:, -1:, :, :, -1:]) <= EXACT


# -- memory budget -------------------------------------------------------------
@pytest.mark.parametrize("method", ["jacobian", "recursion"])
def test_refused_before_allocating(method):
    pb = problem("euler", ("W", "U", "b"), seed=1)
    bytes_K = 8 * 60 ** 2
    tracemalloc.start()
    try:
        with pytest.raises(KernelMemoryError, match=r"needs about .* bytes"):
            sntk(pb.model, pb.X, method=method, max_bytes=bytes_K)
        with pytest.raises(MemoryError, match="max_bytes"):
            output_ntk(pb.model, pb.X, method=method, max_bytes=100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < bytes_K
    # the same request within a generous budget is served
    assert sntk(pb.model, pb.X, method=method, max_bytes=1e8).shape[0] == 3


def test_default_budget_is_a_fraction_of_available_memory():
    budget = default_max_bytes()
    assert isinstance(budget, int) and budget > 0


# -- views (SPEC 3.3) -----------------------------------------------------------
def test_views_against_index_loops():
    pb = problem("elman", ("W", "U", "b"), seed=13)
    K = sntk(pb.model, pb.X)
    B, T, N = K.shape[:3]
    K_time = np.zeros((B, T, B, T))
    K_space = np.zeros((N, N))
    K_diag = np.zeros((B, T, N, B, N))
    for b, t, c, s in np.ndindex(B, T, B, T):
        for i in range(N):
            K_time[b, t, c, s] += K[b, t, i, c, s, i]
        if b == c and t == s:
            K_space += K[b, t, :, b, t, :]
        if t == s:
            K_diag[b, t, :, c, :] = K[b, t, :, c, t, :]
    assert np.allclose(time_kernel(K), K_time, rtol=1e-14, atol=0)
    assert np.allclose(space_kernel(K), K_space, rtol=1e-14, atol=0)
    assert np.array_equal(time_diagonal(K), K_diag)
    assert np.array_equal(time_block(K, 2, 1, 0, 4), K[2, 1, :, 0, 4, :])
    assert np.array_equal(time_block(K, -1, -1, 0, 0), K[2, 4, :, 0, 0, :])


# -- argument checks -------------------------------------------------------------
def test_bad_arguments():
    pb = problem("euler", ("W",), seed=0)
    model, X = pb.model, pb.X
    with pytest.raises(ValueError, match="method"):
        sntk(model, X, method="dense")
    with pytest.raises(ValueError, match="times"):
        sntk(model, X, times=[5])
    with pytest.raises(ValueError, match="times"):
        sntk(model, X, times=[1, -4])
    with pytest.raises(TypeError, match="times"):
        sntk(model, X, times=[0.5])
    with pytest.raises(ValueError, match="block_size"):
        sntk(model, X, block_size=0)
    with pytest.raises(ValueError, match="max_bytes"):
        sntk(model, X, max_bytes=-1.0)
    with pytest.raises(TypeError, match="model"):
        sntk("model", X)
    with pytest.raises(ValueError, match="X"):
        sntk_operator(model, X[..., :2])
    K = sntk(model, X)
    with pytest.raises(ValueError, match="shape"):
        time_kernel(K[0])
    with pytest.raises(ValueError, match="t"):
        time_block(K, 0, 5, 0, 0)
    with pytest.raises(TypeError, match="real"):
        space_kernel(K.astype(complex))


def test_model_with_trainable_h0_rejects_explicit_h0():
    pb = problem("elman", ("h0",), seed=0)
    with pytest.raises(ValueError, match="h0"):
        sntk(pb.model, pb.X, h0=np.zeros(4))


def test_budget_names_are_re_exported_from_the_low_level_module():
    from sntk_ref import _memory, kernel
    assert kernel.KernelMemoryError is _memory.KernelMemoryError
    assert kernel.default_max_bytes is _memory.default_max_bytes
    assert issubclass(KernelMemoryError, MemoryError)
