"""Fixed points, slow points and eigen-data (SPEC 4.2, 3.4).

Oracles: systems with known fixed points, dense ``numpy.linalg`` checks of
the eigen-decomposition identities, central differences.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sntk_ref.dynamics import fixed_points
from sntk_ref.dynamics.fixed_points import (EIG_REPEAT_RTOL, SYMMETRY_RTOL,
                                            canonicalize_vectors, eigen_data,
                                            eigenvalue_sensitivity,
                                            find_fixed_points, newton)
from sntk_ref.dynamics.system import System, rnn_system
from sntk_ref.model import RNN
from sntk_ref.trajectories import forward


def cubic(x, p):
    """x' = p x - x^3 per unit, y' = -y: fixed points 0, +-sqrt(p)."""
    return anp.array([p * x[0] - x[0] ** 3, -x[1]])


def _check_eigen(J, eig, kind):
    n = J.shape[0]
    lam, V, P = eig.eigenvalues, eig.right, eig.left
    assert np.allclose(np.linalg.norm(V, axis=0), 1, atol=1e-14)
    assert np.abs(P.conj().T @ V - np.eye(n)).max() <= 1e-10
    assert np.linalg.norm(J - V @ np.diag(lam) @ np.linalg.inv(V)) <= \
        1e-12 * max(1, np.linalg.norm(J))
    # SPEC 4.2 ordering
    key = np.abs(lam) if kind == "map" else lam.real
    assert np.all(np.diff(key) <= 1e-12 * max(1, np.abs(lam).max()))
    # SPEC 3.4: largest-modulus entry real and positive (ties: lowest index)
    for k in range(n):
        i = np.flatnonzero(np.abs(V[:, k]) >= np.abs(V[:, k]).max()
                           * (1 - 1e-9))[0]
        assert np.imag(V[i, k]) == 0 and np.real(V[i, k]) > 0
    # left eigenvectors are left eigenvectors
    assert np.allclose(P.conj().T @ J, np.diag(lam) @ P.conj().T, atol=1e-10)


@settings(max_examples=15)
@given(n=st.integers(1, 5), seed=st.integers(0, 10_000),
       kind=st.sampled_from(["flow", "map"]))
def test_eigen_data_general_path(n, seed, kind):
    J = np.random.default_rng(seed).normal(size=(n, n))
    eig = eigen_data(J, kind)
    assert eig.symmetric == (n == 1)
    _check_eigen(J, eig, kind)
    assert np.allclose(np.sort_complex(eig.eigenvalues),
                       np.sort_complex(np.linalg.eigvals(J).astype(complex)))


@settings(max_examples=10)
@given(n=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_eigen_data_symmetric_path(n, seed):
    G = np.random.default_rng(seed).normal(size=(n, n))
    J = G + G.T
    eig = eigen_data(J, "flow")
    assert eig.symmetric and np.array_equal(eig.left, eig.right)
    _check_eigen(J, eig, "flow")
    assert np.linalg.norm(eig.right.T @ eig.right - np.eye(n)) <= 1e-12


def test_sort_ties_by_imaginary_part():
    J = np.array([[0.0, -2, 0], [2, 0, 0], [0, 0, 0]])    # +-2i and 0
    lam = eigen_data(J, "flow").eigenvalues
    assert np.allclose(lam, [2j, 0, -2j], atol=1e-14)
    lam = eigen_data(J, "map").eigenvalues
    assert np.allclose(lam, [2j, -2j, 0], atol=1e-14)
    with pytest.raises(ValueError, match="square"):
        eigen_data(np.ones((2, 3)))


def test_canonicalize_complex_pair_is_conjugate():
    J = np.random.default_rng(5).normal(size=(4, 4))
    eig = eigen_data(J)
    lam = eig.eigenvalues
    for k in np.flatnonzero(lam.imag > 1e-12):
        j = np.argmin(np.abs(lam - np.conj(lam[k])))
        assert np.allclose(eig.right[:, j], np.conj(eig.right[:, k]), atol=1e-12)
    V = canonicalize_vectors(np.array([[1.0, -2.0], [-1.0, 1.0]]))
    assert np.allclose(V[:, 0], np.array([1, -1]) / np.sqrt(2))   # tie -> first
    assert np.allclose(V[:, 1], np.array([2, -1]) / np.sqrt(5))


def test_eigenvalue_sensitivity_vs_finite_differences():
    rng = np.random.default_rng(6)
    J = rng.normal(size=(3, 3))
    lam, G = eigenvalue_sensitivity(J, index=0)
    E = rng.normal(size=(3, 3))
    h = 1e-6
    lp = np.linalg.eigvals(J + h * E)
    lm = np.linalg.eigvals(J - h * E)
    fd = (lp[np.argmin(np.abs(lp - lam))] - lm[np.argmin(np.abs(lm - lam))]) / (
        2 * h)
    assert np.sum(G * E) == pytest.approx(fd, abs=1e-7)
    with pytest.raises(ValueError, match="repeated"):
        eigenvalue_sensitivity(np.eye(2), index=0)


def _planted_symmetric(n, multiplicities, seed):
    """``Q diag Q^T`` with repeated eigenvalues 3, 2, 1, ... (exactly sym)."""
    Q = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]
    lam = np.repeat(np.arange(len(multiplicities), 0, -1.0), multiplicities)
    A = Q @ np.diag(lam) @ Q.T
    return (A + A.T) / 2, lam


@settings(max_examples=10)
@given(mult=st.sampled_from([(1, 2), (3, 1), (2, 2), (1, 3, 1)]),
       seed=st.integers(0, 10_000), kind=st.sampled_from(["flow", "map"]))
def test_general_path_orthonormal_in_repeated_eigenspaces(mult, seed, kind):
    """A symmetric J on the general path: V^T V = I, V L V^-1 = J (C10)."""
    n = sum(mult)
    J, lam = _planted_symmetric(n, mult, seed)
    eig = eigen_data(J, kind, symmetric=False)
    assert not eig.symmetric
    assert np.allclose(eig.eigenvalues, lam, atol=1e-12)
    V = eig.right
    assert np.linalg.norm(V.T @ V - np.eye(n)) <= 1e-12
    assert np.linalg.norm(J - V @ np.diag(eig.eigenvalues) @ np.linalg.inv(V)) \
        <= 1e-12 * np.linalg.norm(J)
    assert np.abs(eig.left.T @ V - np.eye(n)).max() <= 1e-12
    assert np.abs(eig.left - V).max() <= 1e-12


def test_near_symmetric_matrix_within_symmetry_rtol():
    """Asymmetry below SYMMETRY_RTOL: "auto" takes the general path (not
    exactly symmetric) and still returns orthonormal vectors; symmetric=True
    accepts it; above the level symmetric=True refuses it."""
    J, lam = _planted_symmetric(4, (2, 2), 3)
    E = np.triu(np.ones((4, 4)), 1)
    scale = np.linalg.norm(J)
    small = J + 0.1 * SYMMETRY_RTOL * scale * E / np.linalg.norm(E)
    eig = eigen_data(small)
    assert not eig.symmetric
    assert np.linalg.norm(eig.right.T @ eig.right - np.eye(4)) <= 1e-12
    assert eigen_data(small, symmetric=True).symmetric
    large = J + 10 * SYMMETRY_RTOL * scale * E / np.linalg.norm(E)
    with pytest.raises(ValueError, match="not symmetric"):
        eigen_data(large, symmetric=True)


def test_repeated_eigenvalue_level():
    """Eigenvalues within EIG_REPEAT_RTOL * max(1, |lam|) are one."""
    close = np.diag([2.0, 2.0 + 0.4 * EIG_REPEAT_RTOL * 2])
    with pytest.raises(ValueError, match="repeated"):
        eigenvalue_sensitivity(close, index=0)
    apart = np.diag([2.0, 2.0 + 10 * EIG_REPEAT_RTOL * 2])
    lam, G = eigenvalue_sensitivity(apart, index=0)
    assert lam == apart[1, 1] and np.array_equal(G, np.diag([0.0, 1.0]))


def test_slow_point_search_uses_its_named_knobs(monkeypatch):
    """SLOW_MAX_ITER bounds BFGS: with 0 iterations the seed is returned."""
    system = System(cubic, 2, "flow")
    x0 = np.array([0.3, 0.2])
    x, q = fixed_points._minimise_speed(system, x0, 0.1)
    assert np.linalg.norm(system.residual(x, 0.1)) < 1e-5
    monkeypatch.setattr(fixed_points, "SLOW_MAX_ITER", 0)
    x, q = fixed_points._minimise_speed(system, x0, 0.1)
    assert np.array_equal(x, x0)


def test_find_fixed_points_cubic():
    system = System(cubic, 2, "flow")
    res = find_fixed_points(system, 0.25, rng=np.random.default_rng(0),
                            n_random=20)
    assert res.success
    xs = sorted(pt.x[0] for pt in res.points)
    assert np.allclose(xs, [-0.5, 0.0, 0.5], atol=1e-12)
    for pt in res.points:
        assert pt.residual <= 1e-12 and pt.label == "fixed point"
        assert np.allclose(pt.jacobian, system.jacobian(pt.x, 0.25))
        assert pt.stable == (abs(pt.x[0]) > 0.1)
        assert pt.hyperbolic
    zero = min(res.points, key=lambda pt: abs(pt.x[0]))
    assert np.allclose(zero.eigenvalues, [0.25, -1])
    assert zero.n_unstable == 1


def test_find_fixed_points_map_and_seeds():
    def F(x, p):
        return x + 0.5 * cubic(x, p)
    system = System(F, 2, "map")
    res = find_fixed_points(system, 1.0, seeds=[[0.9, 0.1], [-2.0, 0.3],
                                                [0.95, 0.0]])
    xs = sorted(pt.x[0] for pt in res.points)
    assert np.allclose(xs, [-1, 1], atol=1e-12)      # duplicates merged
    assert res.n_converged == 3 and len(res.points) == 2
    for pt in res.points:
        assert np.allclose(np.abs(pt.eigenvalues), [0.5, 0.0])
        assert pt.stable


def test_slow_points_are_reported_separately():
    def ghost(x, p):
        return anp.array([p + x[0] ** 2, -x[1]])
    res = find_fixed_points(System(ghost, 2, "flow"), 1e-3,
                            seeds=[[0.3, 0.2], [-0.2, 0.0]],
                            minimize_speed=True)
    assert not res.success and res.points == []
    assert len(res.slow_points) == 1
    sp = res.slow_points[0]
    assert sp.label == "slow point" and sp.is_slow_point
    assert np.allclose(sp.x, 0, atol=1e-5)
    assert sp.speed == pytest.approx(0.5e-6, rel=1e-4)


def test_rnn_fixed_points_from_trajectory_seeds():
    rng = np.random.default_rng(2)
    model = RNN.random(4, 2, 1, rng=rng, cell="euler", dt=0.5, gain=1.5)
    X = np.zeros((2, 30, 2))
    H = forward(model, X, h0=rng.normal(size=(2, 4)))
    system = rnn_system(model, np.zeros(2), "map")
    res = find_fixed_points(system, model.theta, trajectories=H)
    assert res.success
    for pt in res.points:
        F = system.evaluate(pt.x, model.theta)
        assert np.linalg.norm(F - pt.x) <= 1e-12


def test_newton_failure_is_returned():
    def no_root(x, p):
        return anp.array([x[0] ** 2 + 1.0])
    x, ok, it, res, msg = newton(System(no_root, 1, "flow"), [0.5], 0.0,
                                 max_iter=20)
    assert not ok and it == 20 and res >= 1.0 and "did not converge" in msg
    res = find_fixed_points(System(no_root, 1, "flow"), 0.0, seeds=[[0.3]])
    assert not res.success and "0 fixed points" in res.message


def test_find_fixed_points_validates():
    system = System(cubic, 2, "flow")
    with pytest.raises(ValueError, match="seeds"):
        find_fixed_points(system, 0.1, seeds=np.zeros((2, 3)))
    with pytest.raises(TypeError, match="Generator"):
        find_fixed_points(system, 0.1, rng=0)
    with pytest.raises(TypeError, match="System"):
        find_fixed_points(cubic, 0.1)
