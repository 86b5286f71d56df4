"""CASES C01, C02, C04: the state-space NTK as an exact, blockwise, budgeted
Gram matrix (SPEC 3.1-3.2).

Model D of CASES.md: the elman cell, ``h_0 = 0``, ``theta = (W, U, b)``;
draws in the order ``W ~ Normal(0, g^2 / N)``, ``U ~ Normal(0, 1 / D)``,
``b ~ Normal(0, 0.1^2)``, inputs ``X ~ Normal(0, 1)`` of shape ``(n, T, D)``.
"""

import tracemalloc

import numpy as np
import pytest

from sntk_ref.derivatives import state_jacobian
from sntk_ref.kernel import METHODS, KernelMemoryError, default_max_bytes, sntk
from sntk_ref.model import RNN
from sntk_ref.testing import fd_jacobian
from sntk_ref.trajectories import forward


def model_d(N, D, T, n, seed, g=0.9):
    """Model D and its inputs, drawn in the order of CASES.md."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, g / np.sqrt(N), (N, N))
    U = rng.normal(0.0, 1.0 / np.sqrt(D), (N, D))
    b = rng.normal(0.0, 0.1, N)
    X = rng.standard_normal((n, T, D))
    model = RNN("elman", W, U, b, C=np.zeros((1, N)), d=np.zeros(1))
    return model, X


def rel(a, b):
    assert np.isfinite(a).all() and np.isfinite(b).all()
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# -- C01 -----------------------------------------------------------------------
def test_c01_exact_gram_matrix():
    model, X = model_d(N=8, D=2, T=10, n=6, seed=0, g=1.5)
    M, P = 480, 88
    assert model.n_params == P

    # J column by column from central differences, then J J^T
    def states(theta):
        return forward(model.with_theta(theta), X).ravel()

    J_fd = fd_jacobian(states, model.theta)
    assert J_fd.shape == (M, P)

    for method in METHODS:
        K = sntk(model, X, method=method).reshape(M, M)
        # symmetric (exactly, by construction) and positive semidefinite
        assert np.max(np.abs(K - K.T)) <= 1e-12 * np.max(np.abs(K))
        lam = np.linalg.eigvalsh(K)[::-1]
        assert lam[-1] >= -1e-10 * lam[0]
        assert np.all(np.abs(lam[P:]) <= 1e-10 * lam[0])
        assert np.linalg.norm(K - J_fd @ J_fd.T) <= 1e-7 * np.linalg.norm(K)


# -- C02 -----------------------------------------------------------------------
def test_c02_block_size_invariance():
    model, X = model_d(N=16, D=3, T=12, n=10, seed=1)
    ref = sntk(model, X, method="jacobian")
    assert ref.dtype == np.float64
    for method in METHODS:
        for block_size in (None, 1, 2, 5, 10):
            K = sntk(model, X, method=method, block_size=block_size)
            assert K.dtype == np.float64
            assert rel(K, ref) <= 1e-12, (method, block_size)

    # float32 input is upcast: there is no float32 path to fall into
    K32 = sntk(model, X.astype(np.float32), block_size=5)
    assert K32.dtype == np.float64
    assert rel(K32, sntk(model, X.astype(np.float32).astype(np.float64))) == 0.0


# -- C04 -----------------------------------------------------------------------
@pytest.mark.slow
def test_c04a_final_state_kernel_memory():
    model, X = model_d(N=32, D=4, T=50, n=40, seed=3)
    M, P = 40 * 32, 1184
    assert model.n_params == P

    tracemalloc.start()
    try:
        K = sntk(model, X, times=-1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert K.shape == (40, 1, 32, 40, 1, 32)
    bytes_K, bytes_J = 8 * M * M, 8 * M * P
    assert peak <= 10 * (bytes_K + bytes_J)

    # J of the final states, a few sequences at a time
    J = np.concatenate([state_jacobian(model, X[s:s + 8])[:, -1]
                        for s in range(0, 40, 8)]).reshape(M, P)
    assert rel(K.reshape(M, M), J @ J.T) <= 1e-12


def test_c04b_full_trajectory_refused_before_allocating():
    model, X = model_d(N=32, D=4, T=50, n=40, seed=3)
    needed_K = 8 * 64_000 ** 2   # about 33 GB
    # the default budget (a fraction of available memory) refuses it on any
    # machine with less than ~66 GB free; a budget given explicitly makes the
    # test independent of the machine, so it never has to be skipped
    budget = min(default_max_bytes(), needed_K // 2)

    tracemalloc.start()
    try:
        with pytest.raises(KernelMemoryError) as err:
            sntk(model, X, max_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20
    message = str(err.value)
    needed = int(message.split("(")[1].split(" bytes")[0])
    assert needed >= needed_K
    assert "GB" in message
