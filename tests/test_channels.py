"""Tests of sntk_ref.channels (SPEC 6).

Oracles: the dense construction ``Pi = kron(I_BT, P)`` at tiny, mutually
distinct sizes; left/right eigenvectors from ``scipy.linalg.eig``; central
differences of the scalar map in ``mu``; an exactly one-dimensional rank-one
network whose sensitivity is known; and the closed forms of SPEC 4.6 for
the evidence tests near the pitchfork.
"""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import sntk_ref.channels as channels
from sntk_ref.channels import (
    CriticalMode,
    DominantDirection,
    critical_projector,
    decompose,
    dominant_direction,
    restricted_sntk,
    sensitivity_profile,
)
from sntk_ref.derivatives import state_jacobian
from sntk_ref.dynamics.fixed_points import FixedPoint, analyse_point
from sntk_ref.dynamics.normal_forms import unfolding_gradient
from sntk_ref.dynamics.system import rnn_system
from sntk_ref.kernel import KernelMemoryError
from sntk_ref.model import RNN
from sntk_ref.spectra import effective_rank
from sntk_ref.trajectories import forward

#: Round-off level of the comparisons between two exact routes.
EXACT = 1e-11


def _close(a, b, tol=EXACT):
    a, b = np.asarray(a), np.asarray(b)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    scale = max(np.max(np.abs(b), initial=0.0), 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale)


def _random_pair(rng, n, complex_pair=False):
    """A non-normal real matrix and its leading eigenvector pair (scipy).

    Real case: ``A = V diag(l) V^{-1}`` with real distinct ``l``; complex
    case: a rotation block with eigenvalues ``0.3 ± 2i`` on top.
    """
    if complex_pair:
        A = rng.standard_normal((n, n))
        A[:2, :2] = [[0.3, -2.0], [2.0, 0.3]]
        A[:2, 2:] *= 0.2
        A[2:, :2] = 0.0
    else:
        V = rng.standard_normal((n, n)) + 2.0 * np.eye(n)
        A = V @ np.diag(np.arange(n, 0, -1.0)) @ np.linalg.inv(V)
    lam, vl, vr = scipy.linalg.eig(A, left=True)
    k = int(np.argmax(lam.imag if complex_pair else lam.real))
    v, w = vr[:, k], vl[:, k]
    if not complex_pair:
        v, w = v.real, w.real
    return A, v, w, lam, vr, k


def _dense_split(K, P, BT):
    Pi = np.kron(np.eye(BT), P)
    R = np.eye(K.shape[0]) - Pi
    return Pi @ K @ Pi.T, R @ K @ R.T, Pi @ K @ R.T + R @ K @ Pi.T


# -- projectors ---------------------------------------------------------------
def test_spectral_projector_real_pair_matches_scipy_eigenvectors():
    rng = np.random.default_rng(1)
    A, v, w, lam, vr, k = _random_pair(rng, 5)
    P = critical_projector(v, 3.7 * w)
    _close(P @ P, P)
    _close(P @ v, v)
    _close(P @ A, A @ P, 1e-10)
    assert np.linalg.matrix_rank(P) == 1
    others = [j for j in range(5) if j != k]
    _close(np.abs(P @ vr[:, others]), np.zeros((5, 4)), 1e-10)


def test_complex_pair_projector_is_real_rank_two():
    rng = np.random.default_rng(2)
    A, v, w, lam, vr, k = _random_pair(rng, 6, complex_pair=True)
    assert abs(lam[k].imag) > 1.0
    P = critical_projector(v, w)
    assert P.dtype == np.float64
    assert np.linalg.matrix_rank(P, tol=1e-9) == 2
    _close(P @ P, P, 1e-10)
    _close(P @ v, v, 1e-10)
    _close(P @ np.conj(v), np.conj(v), 1e-10)
    _close(P @ A, A @ P, 1e-10)
    # it annihilates the other eigenvectors
    rest = [j for j in range(6) if abs(lam[j] - lam[k]) > 1e-8
            and abs(lam[j] - np.conj(lam[k])) > 1e-8]
    _close(np.abs(P @ vr[:, rest]), np.zeros((6, len(rest))), 1e-10)

    Q = critical_projector(v, variant="orthogonal")
    _close(Q, Q.T)
    _close(Q @ Q, Q)
    assert np.linalg.matrix_rank(Q, tol=1e-9) == 2
    _close(Q @ v.real, v.real)
    _close(Q @ v.imag, v.imag)


def test_orthogonal_projector_is_v_vT_over_norm():
    v = np.array([1.0, -2.0, 0.5])
    _close(critical_projector(v, variant="orthogonal"), np.outer(v, v) / 5.25)


def test_projector_input_errors():
    with pytest.raises(ValueError, match="w"):
        critical_projector(np.ones(3))
    with pytest.raises(ValueError, match="w\\^H v"):
        critical_projector(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="variant"):
        critical_projector(np.ones(3), np.ones(3), variant="oblique")
    with pytest.raises(ValueError, match="not a projector"):
        decompose(np.eye(6), 2.0 * np.eye(3))


# -- the split against the dense construction -------------------------------
@pytest.mark.parametrize("n_par", [5, 30])
@pytest.mark.parametrize("variant", ["spectral", "orthogonal"])
def test_decompose_matches_dense_construction(n_par, variant):
    rng = np.random.default_rng(3)
    B, T, N = 2, 3, 4
    J = rng.standard_normal((B, T, N, n_par))
    _, v, w, *_ = _random_pair(rng, N)
    K = J.reshape(-1, n_par) @ J.reshape(-1, n_par).T
    P = critical_projector(v, w, variant)
    Kb, Kr, Kx = _dense_split(K, P, B * T)

    for source in (J, K, K.reshape(B, T, N, B, T, N)):
        split = decompose(source, (v, w), variant=variant, return_blocks=True)
        _close(split.projector, P)
        _close(split.K_bif, Kb)
        _close(split.K_res, Kr)
        _close(split.K_x, Kx)
        _close(split.K_bif + split.K_res + split.K_x, K)
        _close([split.trace_bif, split.trace_res, split.trace_cross,
                split.trace_total],
               [np.trace(Kb), np.trace(Kr), np.trace(Kx), np.trace(K)])
        top = [np.linalg.eigvalsh(M)[-1] for M in (K, Kb, Kr)]
        _close([split.lmax_total, split.lmax_bif, split.lmax_res], top, 1e-10)
        _close(split.A_spec, top[1] / top[2], 1e-10)
        _close(split.A_tr, np.trace(Kb) / np.trace(Kr))
        _close(split.rho, np.trace(Kb) / np.trace(K))


def test_precomputed_gram_gives_the_same_split():
    """``gram=`` and ``lmax_total=`` only save work: same numbers as without,
    and they are refused with a kernel input (nothing to save there)."""
    rng = np.random.default_rng(31)
    B, T, N, n_par = 3, 4, 5, 7          # n = 60 > P: the P x P Gram route
    J = rng.standard_normal((B, T, N, n_par))
    _, v, w, *_ = _random_pair(rng, N)
    flat = J.reshape(-1, n_par)
    G = flat.T @ flat
    plain = decompose(J, (v, w))
    given = decompose(J, (v, w), gram=G,
                      lmax_total=np.linalg.eigvalsh(G)[-1])
    for name in ("trace_bif", "trace_res", "trace_cross", "trace_total",
                 "lmax_total", "lmax_bif", "lmax_res"):
        _close(getattr(given, name), getattr(plain, name), 1e-12)
    K = flat @ flat.T
    with pytest.raises(ValueError):
        decompose(K, (v, w), gram=G)


def test_dominant_direction_from_spectrum_equals_the_direct_route():
    rng = np.random.default_rng(32)
    J = rng.standard_normal((2, 5, 3, 8))
    grad = rng.standard_normal(8)
    flat = J.reshape(-1, 8)
    lam, V = np.linalg.eigh(flat.T @ flat)
    lam, V = lam[::-1], V[:, ::-1]
    direct = dominant_direction(J, grad_mu=grad)
    built = DominantDirection.from_spectrum(lam, V, grad_mu=grad)
    _close(built.delta, direct.delta, 1e-10)
    _close([built.l1, built.l2], [direct.l1, direct.l2], 1e-10)
    _close(built.cos_grad_mu, direct.cos_grad_mu, 1e-10)


def test_factored_route_in_chunks_matches_dense(monkeypatch):
    rng = np.random.default_rng(4)
    B, T, N, n_par = 3, 5, 4, 7
    J = rng.standard_normal((B, T, N, n_par))
    _, v, w, *_ = _random_pair(rng, N)
    dense = decompose(J, (v, w), return_blocks=True)
    # force one (b, t) row per chunk of the Gram accumulation
    monkeypatch.setattr(channels, "CHUNK_BYTES", 8)
    factored = decompose(J, (v, w))
    assert factored.K_bif is None
    for name in ("trace_total", "trace_bif", "trace_res", "trace_cross",
                 "lmax_total", "lmax_bif", "lmax_res"):
        _close(getattr(factored, name), getattr(dense, name), 1e-10)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), sizes=st.permutations([1, 2, 3, 5]),
       variant=st.sampled_from(["spectral", "orthogonal"]))
def test_blocks_psd_and_sum_to_kernel(seed, sizes, variant):
    B, T, N, n_par = sizes
    N = max(N, 2)
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((B, T, N, n_par))
    _, v, w, *_ = _random_pair(rng, N)
    split = decompose(J, (v, w), variant=variant, return_blocks=True)
    K = J.reshape(-1, n_par) @ J.reshape(-1, n_par).T

    _close(split.K_bif + split.K_res + split.K_x, K)
    for M in (split.K_bif, split.K_res):
        lam = np.linalg.eigvalsh(M)
        assert lam.min() >= -1e-10 * max(lam.max(), 1.0)
    assert split.trace_bif >= 0 and split.trace_res >= 0
    if variant == "orthogonal":
        # an orthogonal Pi has tr(Pi K (I - Pi)) = tr((I - Pi) Pi K) = 0
        _close(split.trace_cross, 0.0, 1e-10 * split.trace_total)


def test_spectral_and_orthogonal_agree_for_symmetric_matrix():
    rng = np.random.default_rng(5)
    M = rng.standard_normal((4, 4))
    lam, V = np.linalg.eigh(M + M.T)
    v = V[:, -1]
    J = rng.standard_normal((2, 3, 4, 6))
    a = decompose(J, (v, v), variant="spectral")
    b = decompose(J, (v, v), variant="orthogonal")
    _close(a.projector, b.projector)
    _close([a.A_spec, a.rho], [b.A_spec, b.rho])

    # a non-normal pair gives a different split
    _, v2, w2, *_ = _random_pair(rng, 4)
    c = decompose(J, (v2, w2), variant="spectral")
    d = decompose(J, (v2, w2), variant="orthogonal")
    assert abs(c.trace_bif - d.trace_bif) > 1e-3 * c.trace_total


def test_complex_pair_split_has_rank_two_per_step():
    rng = np.random.default_rng(6)
    _, v, w, *_ = _random_pair(rng, 5, complex_pair=True)
    J = rng.standard_normal((1, 2, 5, 40))
    split = decompose(J, (v, w), return_blocks=True)
    # K_bif lives on span(Re v, Im v) at each of the 2 steps: rank 4
    assert np.linalg.matrix_rank(split.K_bif, tol=1e-8 * split.lmax_bif) == 4
    _close(split.K_bif + split.K_res + split.K_x,
           J.reshape(10, 40) @ J.reshape(10, 40).T)


def test_decompose_refuses_dense_blocks_over_budget():
    J = np.ones((2, 3, 4, 5))
    with pytest.raises(KernelMemoryError, match="GiB"):
        decompose(J, np.eye(4), return_blocks=True, max_bytes=100)
    with pytest.raises(ValueError, match="multiple of N"):
        decompose(np.eye(10), np.eye(4))
    with pytest.raises(ValueError, match="units per state"):
        decompose(J, np.eye(3))


# -- critical modes -------------------------------------------------------------
def test_critical_mode_normalises_w_and_scales_flow():
    v, w = np.array([1.0, 1.0, 0.0]), np.array([2.0, 0.0, 1.0])
    mode = CriticalMode.from_flow(np.zeros(3), v, w, -0.3, 0.25, c=-0.4,
                                  grad_mu=np.ones(2))
    _close(mode.w @ mode.v, 1.0)
    _close([mode.mu, mode.c], [-0.075, -0.1])
    _close(mode.grad_mu, np.full(2, 0.25))
    with pytest.raises(ValueError, match="dt"):
        CriticalMode.from_flow(np.zeros(3), v, w, -0.3, 0.0)


def test_from_fixed_point_and_fixed_point_input():
    N, g, dt = 6, 0.8, 0.5
    m = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    model = RNN("euler", g / N * np.outer(m, m), np.zeros((N, 1)),
                np.zeros(N), np.zeros((1, N)), np.zeros(1), dt=dt,
                trainable=("W",))
    flow = analyse_point(rnn_system(model, view="flow"), np.zeros(N),
                         model.theta)
    mode = CriticalMode.from_fixed_point(flow, dt=dt)
    _close(mode.mu, dt * (g - 1.0))              # SPEC 4.6
    _close(np.abs(mode.v), np.abs(m) / np.sqrt(N))
    pmap = analyse_point(rnn_system(model), np.zeros(N), model.theta)
    _close(CriticalMode.from_fixed_point(pmap).mu, dt * (g - 1.0))

    J = np.random.default_rng(7).standard_normal((1, 3, N, 4))
    _close(decompose(J, pmap).projector, np.outer(m, m) / N)
    with pytest.raises(ValueError, match="dt"):
        CriticalMode.from_fixed_point(flow)
    assert isinstance(flow, FixedPoint)


# -- dominant direction -------------------------------------------------------
def test_dominant_direction_routes_agree_with_dense_eigh():
    rng = np.random.default_rng(8)
    model = RNN.random(5, 3, 2, rng=rng, cell="euler", dt=0.5)
    X = rng.standard_normal((2, 7, 3))
    J = state_jacobian(model, X)
    G = J.reshape(-1, model.n_params).T @ J.reshape(-1, model.n_params)
    lam, V = np.linalg.eigh(G)
    ref = V[:, -1] * np.sign(V[np.argmax(np.abs(V[:, -1])), -1])

    grad = rng.standard_normal(model.n_params)
    by_J = dominant_direction(J, grad_mu=grad)
    by_model = dominant_direction(model, X, grad_mu=grad)
    for res in (by_J, by_model):
        _close(res.delta, ref, 1e-8)
        _close([res.l1, res.l2], [lam[-1], lam[-2]], 1e-9)
        _close(res.cos_grad_mu, abs(ref @ grad) / np.linalg.norm(grad), 1e-8)
    assert dominant_direction(J).cos_grad_mu is None
    with pytest.raises(ValueError, match="X is required"):
        dominant_direction(model)


# -- sensitivity recursion and restricted kernel -----------------------------
def test_sensitivity_profile_is_d_x_d_mu_of_the_driven_map():
    rng = np.random.default_rng(9)
    e = 0.05 * rng.standard_normal((2, 40))
    mu, a, c = -0.05, 0.3, -0.7

    def run(m):
        x = np.zeros((2, 41))
        x[:, 0] = [0.1, -0.2]
        for t in range(40):
            xt = x[:, t]
            x[:, t + 1] = (1 + m) * xt + a * xt**2 + c * xt**3 + e[:, t]
        return x

    step = 1e-6
    fd = (run(mu + step) - run(mu - step))[:, 1:] / (2 * step)
    s = sensitivity_profile(run(mu)[:, :-1], mu, c=c, a=a)
    _close(s, fd, 1e-7)


@pytest.mark.parametrize("args, exc, name", [
    ((np.array([1.0, 2.0]), 0.1), ValueError, "x_prev"),
    ((np.array([[1.0, np.nan]]), 0.1), ValueError, "x_prev"),
    ((np.ones((2, 3)) + 0j, 0.1), TypeError, "x_prev"),
    ((np.ones((2, 3)), np.nan), ValueError, "mu"),
    ((np.ones((2, 3)), "0.1"), TypeError, "mu"),
    ((np.ones((2, 3)), 0.1, np.inf), ValueError, "c"),
    ((np.ones((2, 3)), 0.1, 0.0, np.nan), ValueError, "a"),
])
def test_sensitivity_profile_validates_its_inputs(args, exc, name):
    with pytest.raises(exc, match=name):
        sensitivity_profile(*args)


def test_sensitivity_profile_accepts_lists_as_float64():
    # s_1 = x_0, s_2 = (1 + mu) x_0 + x_1 for a = c = 0
    s = sensitivity_profile([[1, 2]], 0.5)
    assert s.dtype == np.float64
    np.testing.assert_array_equal(s, [[1.0, 3.5]])


def test_restricted_kernel_exact_on_one_dimensional_network():
    # Drive along m keeps h_t = x_t v exactly; delta = v v^T moves only g, so
    # J delta = (dx/dg) v, and the cubic recursion is exact to O(x^2 / N).
    N, g, dt, T = 6, 0.8, 0.5, 60
    m = np.array([1.0, 1.0, -1.0, 1.0, -1.0, -1.0])
    v = m / np.sqrt(N)
    model = RNN("euler", g / N * np.outer(m, m), 1e-3 * m[:, None],
                np.zeros(N), np.zeros((1, N)), np.zeros(1), dt=dt,
                trainable=("W",))
    X = np.random.default_rng(10).standard_normal((2, T, 1))
    grad_map = dt * np.outer(v, v).ravel()
    mode = CriticalMode(np.zeros(N), v, v, mu=dt * (g - 1),
                        c=-dt * g / (3 * N), grad_mu=grad_map)
    delta = np.outer(v, v).ravel()

    res = restricted_sntk(model, X, delta, mode, return_kernel=True)
    J_full = state_jacobian(model, X)
    Jd = J_full.reshape(-1, N * N) @ delta
    # a caller holding J and H gets the same result without a JVP
    held = restricted_sntk(model, X, delta, mode, J=J_full,
                           H=forward(model, X))
    _close(held.J_delta, res.J_delta)
    _close([held.cos, held.norm_ratio], [res.cos, res.norm_ratio])
    _close(res.J_delta.ravel(), Jd)
    _close(res.K_delta, np.outer(Jd, Jd))
    _close(res.eigenvalue, Jd @ Jd)
    _close(res.x, forward(model, X) @ v)
    _close(res.projection, dt)
    assert abs(res.cos - 1.0) < 1e-8
    assert abs(res.norm_ratio - 1.0) < 1e-5
    _close(res.prediction, res.s[:, :, None] * v)


def test_restricted_kernel_input_errors():
    model = RNN.random(3, 1, 1, rng=np.random.default_rng(11))
    X = np.zeros((1, 4, 1))
    mode = CriticalMode(np.zeros(3), np.array([1, 1j, 0]),
                        np.array([1, 1j, 0]))
    with pytest.raises(NotImplementedError, match="complex pair"):
        restricted_sntk(model, X, np.zeros(model.n_params), mode)
    with pytest.raises(TypeError, match="CriticalMode"):
        restricted_sntk(model, X, np.zeros(model.n_params), np.eye(3))
    real = CriticalMode(np.zeros(3), np.ones(3), np.ones(3))
    with pytest.raises(KernelMemoryError):
        restricted_sntk(model, X, np.zeros(model.n_params), real,
                        return_kernel=True, max_bytes=16)


# -- evidence near the pitchfork (SPEC 4.6, 6) ---------------------------------
#: Rank-one euler network: N units, Euler step, window, sequences, inputs.
N_UNITS, DT, WINDOW, N_SEQ, N_IN = 12, 0.2, 1500, 2, 2

#: Column norm of the input weights (a weak drive, linear regime at mu=0.01).
DRIVE = 0.3

#: Flow eigenvalues mu = g - 1 probed (far, a decade apart near).
MUS = (-0.5, -0.1, -0.01)


def _measure(mu):
    rng = np.random.default_rng(0)
    m = rng.permutation(np.repeat([1.0, -1.0], N_UNITS // 2))
    U = DRIVE * rng.standard_normal((N_UNITS, N_IN)) / np.sqrt(N_UNITS)
    g = 1.0 + mu
    model = RNN("euler", g / N_UNITS * np.outer(m, m), U, np.zeros(N_UNITS),
                np.zeros((1, N_UNITS)), np.zeros(1), dt=DT, trainable=("W",))
    X = rng.standard_normal((N_SEQ, WINDOW, N_IN))

    # critical data: library eigen-data and gradient, closed-form c
    point = analyse_point(rnn_system(model), np.zeros(N_UNITS), model.theta)
    mu_map, grad = unfolding_gradient(model, point, view="map")
    v = m / np.sqrt(N_UNITS)
    _close(mu_map, DT * mu)
    _close(grad, DT * np.outer(v, v).ravel(), 1e-10)     # SPEC 4.4
    mode = CriticalMode.from_fixed_point(point, c=-DT * g / (3 * N_UNITS),
                                         grad_mu=grad)

    J = state_jacobian(model, X)
    split = decompose(J, mode)
    top = dominant_direction(J, grad_mu=grad)
    restricted = restricted_sntk(model, X, top.delta, mode)
    pr = effective_rank(J=J.reshape(-1, model.n_params))
    return pr, split, top, restricted


@pytest.fixture(scope="module")
def sweep():
    return {mu: _measure(mu) for mu in MUS}


def test_kernel_collapses_near_pitchfork(sweep):
    pr = {mu: sweep[mu][0] for mu in MUS}
    rho = {mu: sweep[mu][1].rho for mu in MUS}
    assert pr[-0.01] < 1.5
    assert pr[-0.5] >= 3.0 * pr[-0.01]
    assert rho[-0.5] < rho[-0.1] < rho[-0.01]
    assert rho[-0.01] > 0.95


def test_spectral_amplification_grows_at_least_like_one_over_mu(sweep):
    a_near, a_mid = sweep[-0.01][1].A_spec, sweep[-0.1][1].A_spec
    assert a_near / a_mid >= 0.1 / 0.01
    assert sweep[-0.5][1].A_spec < a_mid


def test_dominant_direction_aligns_with_grad_mu_only_near(sweep):
    assert sweep[-0.01][2].cos_grad_mu > 0.98
    assert sweep[-0.5][2].cos_grad_mu < 0.5


def test_restricted_kernel_matches_normal_form_near(sweep):
    near = sweep[-0.01][3]
    assert near.cos > 0.95
    assert 0.8 < near.norm_ratio < 1.25
    assert sweep[-0.5][3].cos < near.cos
