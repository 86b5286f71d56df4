"""Cases C06, C07, C10, C13, C14, C15 of CASES.md (SPEC 4)."""

import autograd.numpy as anp
import numpy as np
import pytest
from scipy.optimize import brentq

from sntk_ref.dynamics.continuation import continue_branch, switch_branch
from sntk_ref.dynamics.fixed_points import (analyse_point, eigen_data,
                                            eigenvalue_derivative,
                                            eigenvalue_sensitivity)
from sntk_ref.dynamics.normal_forms import normal_form
from sntk_ref.dynamics.system import System


def _kappa(g):
    return brentq(lambda k: k - g * np.tanh(k), 1e-9, 10)


# -- C06 ---------------------------------------------------------------------------
def test_c06_hermitian_eigenvalue_derivative():
    a = 2.0
    J = np.array([[1, 1j * a], [-1j * a, 2]])
    dJ = np.array([[0, 1j], [-1j, 0]])
    lam, _ = eigenvalue_sensitivity(J, index=1)      # lambda_min: last
    assert lam == pytest.approx((3 - np.sqrt(1 + 4 * a * a)) / 2, abs=1e-12)
    d = eigenvalue_derivative(J, dJ, index=1)
    assert d == pytest.approx(-4 / np.sqrt(17), abs=1e-9)
    assert abs(d) > 0.9


def test_c06_complex_non_hermitian_is_refused():
    with pytest.raises(TypeError, match="Hermitian"):
        eigen_data(np.array([[1, 1j], [0, 2]]))


def test_c06_real_nonsymmetric_pair():
    theta = 0.3
    J = np.array([[theta, -1.0], [1.0, theta]])
    eig = eigen_data(J)
    assert np.allclose(eig.eigenvalues, [theta + 1j, theta - 1j], atol=1e-14)
    for k in range(2):
        d = eigenvalue_derivative(J, np.eye(2), index=k)
        assert np.real(d) == pytest.approx(1.0, abs=1e-10)


# -- C07 ---------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.0, 1e-13])
def test_c07_unstructured_eigen_gradient(eps):
    A = np.array([[1.0, 2.0], [2.0 + eps, 3.0]])
    lam_max, G_max = eigenvalue_sensitivity(A, index=0)
    lam_min, G_min = eigenvalue_sensitivity(A, index=1)
    assert lam_min == pytest.approx(2 - np.sqrt(5), abs=1e-12)
    assert lam_max == pytest.approx(2 + np.sqrt(5), abs=1e-12)
    assert np.allclose(G_min, [[0.7236068, -0.4472136], [-0.4472136, 0.2763932]],
                       atol=1e-7)
    assert np.allclose(G_max, [[0.2763932, 0.4472136], [0.4472136, 0.7236068]],
                       atol=1e-7)
    # each entry an independent variable: equal to FD on that entry
    h = 1e-6
    for i in range(2):
        for j in range(2):
            E = np.zeros((2, 2))
            E[i, j] = h
            fd = (np.linalg.eigvals(A + E).real.min()
                  - np.linalg.eigvals(A - E).real.min()) / (2 * h)
            assert G_min[i, j] == pytest.approx(fd, abs=1e-8)


# -- C10 ---------------------------------------------------------------------------
def _c10_inputs():
    J1 = -np.eye(6) + np.ones((6, 6)) / 3
    J2 = np.array([[2.0, 1, 1], [1, 2, 1], [1, 1, 2]])
    return [(J1, [1] + [-1] * 5), (J2, [4, 1, 1])]


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("symmetric", ["auto", True, False])
def test_c10_degenerate_eigenspace(which, symmetric):
    J, expected = _c10_inputs()[which]
    n = J.shape[0]
    eig = eigen_data(J, "flow", symmetric)
    assert eig.symmetric == (symmetric is not False)
    lam, V, P = eig.eigenvalues, eig.right, eig.left
    assert np.allclose(lam, expected, atol=1e-12)
    ones = np.ones(n) / np.sqrt(n)
    assert np.allclose(V[:, 0], ones, atol=1e-12)    # canonical sign: +
    assert np.abs(ones @ V[:, 1:]).max() <= 1e-12
    assert np.abs(P.conj().T @ V - np.eye(n)).max() <= 1e-12
    # both checks on both paths: J is symmetric, so V is orthonormal even on
    # the general path, and V L V^-1 reconstructs J on the eigh path too
    assert np.isrealobj(V) and np.isrealobj(lam)
    assert np.linalg.norm(V.T @ V - np.eye(n)) <= 1e-12
    assert np.linalg.norm(J - V @ np.diag(lam) @ np.linalg.inv(V)) <= 1e-12


def test_c10_fixed_point_analysis_uses_symmetric_path():
    N, g = 6, 2.0
    m = np.ones(N)

    def f(h, gg):
        return -h + (gg / N) * m * anp.dot(m, anp.tanh(h))
    pt = analyse_point(System(f, N, "flow"), np.zeros(N), g)
    V = pt.right
    assert np.allclose(pt.eigenvalues, [1] + [-1] * 5, atol=1e-12)
    assert np.linalg.norm(V.T @ V - np.eye(N)) <= 1e-12
    assert not pt.stable and pt.hyperbolic and pt.n_unstable == 1


# -- C13 ---------------------------------------------------------------------------
def toggle(h, g):
    return -h - g * anp.tanh(h[::-1])


def test_c13_symmetric_pitchfork_toggle():
    system = System(toggle, 2, "flow")
    br = continue_branch(system, np.zeros(2), 0.5, (0.5, 2.0))
    assert br.success, br.message
    assert np.allclose(br.x, 0, atol=1e-12)
    pts = [sp for sp in br.special_points if sp.type == "pitchfork"]
    assert len(pts) == 1 and len(br.special_points) == 1
    sp = pts[0]
    assert sp.p == pytest.approx(1.0, abs=1e-8)
    nf = sp.normal_form
    assert np.allclose(nf.q, np.array([1, -1]) / np.sqrt(2), atol=1e-10)
    assert abs(nf.a) <= 1e-10
    assert nf.c == pytest.approx(-1 / 6, abs=1e-6)

    k = _kappa(1.05)
    assert k == pytest.approx(0.3892410, abs=1e-7)
    new = switch_branch(system, sp, (0.5, 2.0))
    found = set()
    for b in new:
        assert b.success, b.message
        X = b.points_at(1.05)
        assert len(X) == 1
        assert np.allclose(np.abs(X[0]), k, atol=1e-8)
        assert X[0][0] == pytest.approx(-X[0][1], abs=1e-12)
        found.add(int(np.sign(X[0][0])))
    assert found == {1, -1}


def test_c13_pitchfork_from_side_branch():
    N, g0 = 4, 1.0001
    m = np.ones(N)

    def f(h, g):
        return -h + (g / N) * m * anp.dot(m, anp.tanh(h))
    k0 = _kappa(g0)
    assert k0 == pytest.approx(0.0173207, abs=1e-7)
    br = continue_branch(System(f, N, "flow"), k0 * m, g0, (0.5, 1.2),
                         direction=-1, ds=0.005)
    assert np.allclose(br.x[0], k0 * m, atol=1e-12)
    assert br.success, br.message
    kinds = [sp.type for sp in br.special_points]
    assert kinds == ["pitchfork"], [sp.message for sp in br.special_points]
    sp = br.special_points[0]
    assert "branch_point" in sp.tests   # the eigenvalue only touches zero
    assert "eigenvalue" not in sp.tests
    assert sp.p == pytest.approx(1.0, abs=1e-8)
    assert sp.normal_form.c == pytest.approx(-1 / (3 * N), abs=1e-6)


# -- C14 ---------------------------------------------------------------------------
def test_c14_transcritical_switching():
    def f(x, p):
        return anp.array([x[0] * (p - x[0]), -x[1]])
    system = System(f, 2, "flow")
    br = continue_branch(system, np.zeros(2), -0.5, (-1.0, 1.0))
    assert br.success
    (sp,) = br.special_points
    assert sp.type == "transcritical" and abs(sp.p) <= 1e-8
    # exchange of stability on the trivial branch
    assert np.all(br.stable[br.p < -1e-6]) and not np.any(br.stable[br.p > 1e-6])
    sides = set()
    for b in switch_branch(system, sp, (-1.0, 1.0)):
        assert b.success, b.message
        x, y, p = b.x[:5, 0], b.x[:5, 1], b.p[:5]
        assert np.all(np.abs(x - p) <= 1e-8)
        assert np.all(np.abs(x) >= 1e-3)
        assert np.all(y == 0)
        side = np.sign(p[0])
        sides.add(side)
        assert np.all(np.sign(p) == side)
        # x = p is stable for p > 0, unstable for p < 0
        assert np.all(b.stable[:5] == (side > 0))
    assert sides == {1.0, -1.0}


# -- C15 ---------------------------------------------------------------------------
def _c15(act, theta=np.pi / 4, S=None):
    R = np.array([[np.cos(theta), -np.sin(theta)],
                  [np.sin(theta), np.cos(theta)]])
    if S is None:
        def f(h, g):
            return -h + g * anp.dot(R, act(h))
    else:
        Sinv = np.linalg.inv(S)

        def f(y, g):
            h = anp.dot(S, y)
            return anp.dot(Sinv, -h + g * anp.dot(R, act(h)))
    return System(f, 2, "flow")


def _c15_variants():
    S = np.random.default_rng(7).normal(size=(2, 2))
    return [dict(), dict(S=S), dict(theta=-np.pi / 4),
            dict(S=S, theta=-np.pi / 4)]


@pytest.mark.parametrize("variant", range(4))
def test_c15_hopf_supercritical(variant):
    kw = _c15_variants()[variant]
    system = _c15(anp.tanh, **kw)
    br = continue_branch(system, np.zeros(2), 1.2, (1.2, 1.6), ds=0.05)
    hopf = [sp for sp in br.special_points if sp.type == "hopf"]
    assert len(hopf) == 1
    g_star = hopf[0].p
    assert g_star == pytest.approx(np.sqrt(2), abs=1e-10)
    nf = hopf[0].normal_form
    assert nf.omega == pytest.approx(1.0, abs=1e-9)
    assert nf.criticality == "supercritical" and nf.l1 < 0
    if not kw:
        A = system.jacobian(np.zeros(2), np.sqrt(2))
        assert np.allclose(A, [[0, -1], [1, 0]], atol=1e-15)
        assert nf.radial == pytest.approx(-0.25, abs=1e-6)
        assert nf.predict(0.005).rms_radius == pytest.approx(0.1190, abs=2e-4)
        assert nf.predict(0.01).rms_radius == pytest.approx(0.1684, abs=5e-4)
        assert nf.predict(0.01).rms_radius == pytest.approx(
            2 * np.sqrt(0.01 / np.sqrt(2)), rel=1e-8)


@pytest.mark.parametrize("variant", range(4))
def test_c15_sinh_subcritical(variant):
    kw = _c15_variants()[variant]
    system = _c15(anp.sinh, **kw)
    nf = normal_form(system, np.zeros(2), np.sqrt(2))
    assert nf.type == "hopf" and nf.criticality == "subcritical"
    assert nf.l1 > 0
    if not kw:
        assert nf.radial == pytest.approx(0.125, abs=1e-6)
        pred = nf.predict(-0.01)
        assert pred.rms_radius == pytest.approx(0.238, abs=5e-4)
        assert len(nf.predict(0.01).points) == 0
