"""Normal forms (SPEC 4.3), closed forms (SPEC 4.6), unfolding gradient (4.4).

Oracles: planted polynomial systems whose normal-form coefficients are known
by hand (including the centre-manifold contribution of a coupled stable
direction), the closed forms of SPEC 4.6, long simulations, and finite
differences of the critical eigenvalue.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from sntk_ref.dynamics.fixed_points import analyse_point, newton
from sntk_ref.dynamics.normal_forms import normal_form, unfolding_gradient
from sntk_ref.dynamics.system import System, rnn_system
from sntk_ref.model import RNN

RTOL = 1e-8

# -- planted systems: state (u, y), u critical, y stable, coupling u*y and
# y' = -y + u^2 (flow) / y' = y/2 + u^2 (map) -------------------------------
# The centre manifold is y = u^2 (flow) or y = 2 u^2 (map), which adds 1 (flow)
# or 2 (map) to the cubic coefficient (SPEC 4.3 worked check).


def flow_fold(x, p):
    return anp.array([p + 1.5 * x[0] ** 2 + x[0] * x[1], -x[1] + x[0] ** 2])


def flow_transcritical(x, p):
    return anp.array([p * x[0] - 2 * x[0] ** 2 + x[0] * x[1],
                      -x[1] + x[0] ** 2])


def flow_pitchfork(x, p):
    return anp.array([p * x[0] - 3 * x[0] ** 3 + x[0] * x[1],
                      -x[1] + x[0] ** 2])


def map_fold(x, p):
    return anp.array([x[0] + p - 0.7 * x[0] ** 2 + x[0] * x[1],
                      x[1] / 2 + x[0] ** 2])


def map_transcritical(x, p):
    return anp.array([(1 + p) * x[0] + 0.8 * x[0] ** 2 + x[0] * x[1],
                      x[1] / 2 + x[0] ** 2])


def map_pitchfork(x, p):
    return anp.array([(1 + p) * x[0] - 5 * x[0] ** 3 + x[0] * x[1],
                      x[1] / 2 + x[0] ** 2])


def map_flip(x, p):
    return anp.array([-(1 + p) * x[0] + 1.5 * x[0] ** 3 + x[0] * x[1],
                      x[1] / 2 + x[0] ** 2])


OMEGA, THETA = 2.0, 1.0
C_HOPF = -2.0 + 0.5j          # plus 1 from the centre manifold -> -1 + 0.5i
C_NS = -3.0 * np.exp(1j * THETA)   # plus 2 -> radial -3 + 2 cos(theta)


def flow_hopf(x, p):
    r2, y = x[0] ** 2 + x[1] ** 2, x[2]
    cr, ci = C_HOPF.real, C_HOPF.imag
    return anp.array([
        p * x[0] - OMEGA * x[1] + (cr * x[0] - ci * x[1]) * r2 + x[0] * y,
        OMEGA * x[0] + p * x[1] + (ci * x[0] + cr * x[1]) * r2 + x[1] * y,
        -y + r2])


def map_ns(x, p):
    r2, y = x[0] ** 2 + x[1] ** 2, x[2]
    co, si, cr, ci = np.cos(THETA), np.sin(THETA), C_NS.real, C_NS.imag
    return anp.array([
        (1 + p) * (co * x[0] - si * x[1]) + (cr * x[0] - ci * x[1]) * r2
        + x[0] * y,
        (1 + p) * (si * x[0] + co * x[1]) + (ci * x[0] + cr * x[1]) * r2
        + x[1] * y,
        y / 2 + r2])


# name: (fun, n, kind, type, expected {attribute: value})
PLANTED = {
    "flow_fold": (flow_fold, 2, "flow", "fold", {"a": 1.5, "mu_p": 1.0}),
    "flow_transcritical": (flow_transcritical, 2, "flow", "transcritical",
                           {"a": -2.0, "mu_p": 1.0}),
    "flow_pitchfork": (flow_pitchfork, 2, "flow", "pitchfork",
                       {"a": 0.0, "c": -2.0, "mu_p": 1.0}),
    "map_fold": (map_fold, 2, "map", "fold", {"a": -0.7, "mu_p": 1.0}),
    "map_transcritical": (map_transcritical, 2, "map", "transcritical",
                          {"a": 0.8, "mu_p": 1.0}),
    "map_pitchfork": (map_pitchfork, 2, "map", "pitchfork",
                      {"c": -3.0, "mu_p": 1.0}),
    "map_flip": (map_flip, 2, "map", "flip", {"c": 3.5, "mu_p": 1.0}),
    "flow_hopf": (flow_hopf, 3, "flow", "hopf",
                  {"radial": -1.0, "l1": -1.0, "omega": OMEGA, "mu_p": 1.0}),
    "map_ns": (map_ns, 3, "map", "neimark_sacker",
               {"radial": -3 + 2 * np.cos(THETA), "omega": THETA,
                "mu_p": 1.0}),
}


def _coefficient(nf, name):
    return np.real(nf.c) if name == "c" else getattr(nf, name)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_normal_forms(name):
    fun, n, kind, typ, expected = PLANTED[name]
    nf = normal_form(System(fun, n, kind), np.zeros(n), 0.0)
    assert nf.type == typ, nf.reason
    for attr, value in expected.items():
        assert _coefficient(nf, attr) == pytest.approx(value, abs=RTOL), attr


def test_planted_hopf_c1_and_ns_c1():
    nf = normal_form(System(flow_hopf, 3, "flow"), np.zeros(3), 0.0)
    # x = z q + conj(z q), |q| = 1 -> c1 = 2 (C_HOPF + 1)
    assert nf.c == pytest.approx(2 * (C_HOPF + 1), abs=RTOL)
    assert nf.criticality == "supercritical"
    nf = normal_form(System(map_ns, 3, "map"), np.zeros(3), 0.0)
    assert nf.c == pytest.approx(2 * (C_NS + 2), abs=RTOL)
    assert nf.d == pytest.approx(2 * (-3 + 2 * np.cos(THETA)), abs=RTOL)


def _transformed(fun, n, kind, S, r):
    """``g(y, t) = S^{-1} F(S y, r t)`` (map: same with the map)."""
    Sinv = np.linalg.inv(S)

    def g(y, t):
        return anp.dot(Sinv, fun(anp.dot(S, y), r * t))
    return System(g, n, kind)


@pytest.mark.parametrize("name", sorted(PLANTED))
@pytest.mark.parametrize("seed", [0, 1])
def test_planted_under_change_of_coordinates(name, seed):
    """Random linear change of state, rescaled state and parameter."""
    fun, n, kind, typ, _ = PLANTED[name]
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(n, n)) * rng.uniform(0.2, 5.0)
    r = rng.uniform(0.2, 5.0) * rng.choice([-1, 1])
    nf_x = normal_form(System(fun, n, kind), np.zeros(n), 0.0)
    nf_y = normal_form(_transformed(fun, n, kind, S, r), np.zeros(n), 0.0)

    assert nf_y.type == typ
    assert nf_y.criticality == nf_x.criticality
    qy = np.linalg.solve(S, nf_x.q)
    k = np.linalg.norm(qy)
    orient = np.sign(np.real(np.vdot(nf_y.q, qy)))
    if typ == "fold":
        # beta = <p, F_p> dp lives in the amplitude u along q: u_y = k u_x
        assert orient * nf_y.mu_p == pytest.approx(k * r * nf_x.mu_p, rel=RTOL)
    else:   # an eigenvalue derivative: only the parameter scale enters
        assert nf_y.mu_p == pytest.approx(r * nf_x.mu_p, rel=RTOL)
    if typ in ("pitchfork", "flip", "hopf", "neimark_sacker"):
        cubic_x = nf_x.radial if typ in ("hopf", "neimark_sacker") else nf_x.c
        cubic_y = nf_y.radial if typ in ("hopf", "neimark_sacker") else nf_y.c
        if typ in ("hopf", "neimark_sacker"):
            # the RMS radius is not invariant under S; Re c1 / k^2 is
            assert np.real(nf_y.c) == pytest.approx(
                np.real(nf_x.c) / k ** 2, rel=RTOL)
        else:
            assert cubic_y == pytest.approx(cubic_x / k ** 2, rel=RTOL)
    else:
        assert orient * nf_y.a == pytest.approx(nf_x.a / k, rel=RTOL)

    # leading-order predictions are covariant: S pred_y(dt) = pred_x(r dt)
    dt = 1e-3 * np.sign(r * nf_x.mu_p) * (
        -1 if typ in ("fold",) and nf_x.a * nf_x.mu_p > 0 else 1)
    if typ in ("pitchfork", "hopf", "neimark_sacker"):
        dt *= np.sign(-nf_x.radial if typ != "pitchfork" else -nf_x.c)
    if typ == "flip":
        dt *= np.sign(nf_x.c)
    px, py = nf_x.predict(r * dt), nf_y.predict(dt)
    assert px.points.shape == py.points.shape and len(px.points)
    if typ in ("hopf", "neimark_sacker"):
        # same cycle: compare the sets of points by nearest distance
        mapped = py.points @ S.T
        dist = np.min(np.linalg.norm(mapped[:, None] - px.points[None], axis=2),
                      axis=1)
        assert np.max(dist) <= 0.1 * px.amplitude  # sampled at 64 phases
        assert np.allclose(np.sort(np.linalg.norm(mapped, axis=1)).mean(),
                           np.sort(np.linalg.norm(px.points, axis=1)).mean(),
                           rtol=1e-8)
    else:
        mapped = sorted(map(tuple, np.round(py.points @ S.T, 12)))
        ref = sorted(map(tuple, np.round(px.points, 12)))
        assert np.allclose(mapped, ref, atol=1e-10)


# -- degenerate points ---------------------------------------------------------
def cusp(x, p):
    return anp.array([p + x[0] ** 3, -x[1]])


def pitchfork_no_cubic(x, p):
    return anp.array([p * x[0] + x[0] ** 5, -x[1]])


def bautin(x, p):
    r2 = x[0] ** 2 + x[1] ** 2
    return anp.array([p * x[0] - x[1] + x[0] * r2 ** 2,
                      x[0] + p * x[1] + x[1] * r2 ** 2])


def bogdanov_takens(x, p):
    return anp.array([x[1], p + x[0] ** 2 + x[0] * x[1]])


@pytest.mark.filterwarnings("ignore:eigenvector matrix is nearly singular")
@pytest.mark.parametrize("fun", [cusp, pitchfork_no_cubic, bautin,
                                 bogdanov_takens])
def test_degenerate_points_are_reported(fun):
    nf = normal_form(System(fun, 2, "flow"), np.zeros(2), 0.0)
    assert nf.type == "degenerate" and nf.reason
    with pytest.raises(ValueError, match="degenerate"):
        nf.predict(0.01)


def test_hyperbolic_point_raises():
    with pytest.raises(ValueError, match="critical set"):
        normal_form(System(flow_pitchfork, 2, "flow"), np.zeros(2), -0.5)


def test_classification_is_scale_free_near_an_approximate_point():
    """Fold vs pitchfork on a point located only to 1e-9 (scale-free tests)."""
    for s in (1e-3, 1.0, 1e3):
        def scaled(x, p, s=s):
            return s * flow_pitchfork(x / s, p / s)
        nf = normal_form(System(scaled, 2, "flow"), np.array([1e-9 * s, 0.0]),
                         0.0)
        assert nf.type == "pitchfork"


# -- SPEC 4.6 closed forms -------------------------------------------------------
def _rank_one_flow(m, kind="flow", dt=1.0):
    N = m.size

    def f(h, g):
        rhs = -h + (g / N) * m * anp.dot(m, anp.tanh(h))
        return rhs if kind == "flow" else h + dt * rhs
    return System(f, N, kind)


signs = st.lists(st.sampled_from([-1.0, 1.0]), min_size=2, max_size=6)


@settings(max_examples=10)
@given(m=signs, dt=st.floats(0.1, 1.0))
def test_rank_one_pitchfork_closed_form(m, dt):
    m = np.array(m)
    N = m.size
    nf = normal_form(_rank_one_flow(m), np.zeros(N), 1.0)
    assert nf.type == "pitchfork" and nf.criticality == "supercritical"
    assert nf.c == pytest.approx(-1 / (3 * N), rel=RTOL)
    assert nf.mu_p == pytest.approx(1.0, rel=RTOL)
    assert abs(abs(nf.q @ m) / np.sqrt(N) - 1) < 1e-12
    nf_map = normal_form(_rank_one_flow(m, "map", dt), np.zeros(N), 1.0)
    assert nf_map.type == "pitchfork"
    assert nf_map.c == pytest.approx(-dt / (3 * N), rel=RTOL)
    assert nf_map.mu_p == pytest.approx(dt, rel=RTOL)


@settings(max_examples=10)
@given(m=st.lists(st.floats(0.3, 2.0), min_size=2, max_size=5),
       flips=st.lists(st.booleans(), min_size=5, max_size=5))
def test_general_m_closed_form(m, flips):
    m = np.array(m) * np.where(flips[:len(m)], -1, 1)
    N = m.size
    g_c = 1 / np.mean(m ** 2)
    nf = normal_form(_rank_one_flow(m), np.zeros(N), g_c)
    assert nf.type == "pitchfork"
    expected = -g_c * np.mean(m ** 4) / (3 * N * np.mean(m ** 2))
    assert nf.c == pytest.approx(expected, rel=1e-7)


@settings(max_examples=8)
@given(m=signs, g=st.floats(1.01, 1.3))
def test_rank_one_fixed_points_and_multipliers(m, g):
    m = np.array(m)
    N = m.size
    kappa = brentq(lambda k: k - g * np.tanh(k), 1e-6, 10)
    assert kappa ** 2 == pytest.approx(3 * (g - 1) + 0.6 * (g - 1) ** 2,
                                       abs=5 * (g - 1) ** 3)
    system = _rank_one_flow(m)
    x, ok = newton(system, 0.9 * kappa * m, g)[:2]
    assert ok and np.allclose(x, kappa * m, atol=1e-10)
    lam0 = analyse_point(system, np.zeros(N), g).eigenvalues
    assert lam0[0] == pytest.approx(g - 1, abs=1e-12)
    assert np.allclose(lam0[1:], -1, atol=1e-12)
    dt = 0.3
    mults = analyse_point(_rank_one_flow(m, "map", dt), np.zeros(N),
                          g).eigenvalues
    assert mults[0] == pytest.approx(1 + dt * (g - 1), abs=1e-12)
    assert np.allclose(mults[1:], 1 - dt, atol=1e-12)


@settings(max_examples=8)
@given(m=signs, g=st.floats(1.01, 1.5))
def test_elman_rank_one_closed_form(m, g):
    m = np.array(m)
    N = m.size

    def F(h, gg):
        return anp.tanh((gg / N) * m * anp.dot(m, h))
    system = System(F, N, "map")
    assert analyse_point(system, np.zeros(N), g).eigenvalues[0] == \
        pytest.approx(g, abs=1e-12)
    a = brentq(lambda s: s - np.tanh(g * s), 1e-6, 2)
    x, ok = newton(system, 0.9 * a * m, g)[:2]
    assert ok and np.allclose(x, a * m, atol=1e-10)
    nf = normal_form(system, np.zeros(N), 1.0)
    assert nf.type == "pitchfork"
    assert nf.c == pytest.approx(-1 / (3 * N), rel=RTOL)  # -g^3/(3N), g = 1


def _rank_two(N, phi):
    k = N // 4
    m = np.tile([1.0, 1.0, -1.0, -1.0], k)
    n = np.tile([1.0, -1.0, 1.0, -1.0], k)
    M = np.stack([m, n], 1)
    R = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    base = M @ R @ M.T / N

    def f(h, g):
        return -h + g * anp.dot(base, anp.tanh(h))
    return System(f, N, "flow"), m, n


@settings(max_examples=6)
@given(k=st.integers(1, 2), phi=st.floats(0.3, 1.2))
def test_rank_two_hopf_closed_form(k, phi):
    N = 4 * k
    system, m, n = _rank_two(N, phi)
    g_c = 1 / np.cos(phi)
    nf = normal_form(system, np.zeros(N), g_c)
    assert nf.type == "hopf" and nf.criticality == "supercritical"
    assert nf.omega == pytest.approx(np.tan(phi), rel=1e-10)
    assert nf.mu_p == pytest.approx(np.cos(phi), rel=RTOL)
    # |z_ab|^2 = 2 (g cos - 1) / (g cos) in h = a m + b n; RMS radius of h is
    # sqrt(N) |z_ab|, so rho' = mu rho - rho^3 / (2 N) at g cos(phi) = 1
    assert nf.radial == pytest.approx(-1 / (2 * N), rel=RTOL)
    dg = 1e-3
    pred = nf.predict(dg)
    mu = dg * np.cos(phi)
    assert pred.rms_radius ** 2 == pytest.approx(2 * N * mu, rel=RTOL)


# -- predictions against long simulations ------------------------------------
def test_pitchfork_prediction_vs_simulation():
    N, dg = 4, 0.02
    m = np.ones(N)
    system = _rank_one_flow(m)
    nf = normal_form(system, np.zeros(N), 1.0)
    pred = nf.predict(dg)
    sol = solve_ivp(lambda s, h: system.evaluate(h, 1 + dg), (0, 1500),
                    0.1 * m, rtol=1e-10, atol=1e-12)
    h_end = sol.y[:, -1]
    target = max(pred.points[1:], key=lambda x: x @ h_end)
    # leading order: relative error O(dg)
    err = np.linalg.norm(target - h_end) / np.linalg.norm(h_end)
    assert err <= 2 * dg
    assert err > 0  # a prediction, not a copy


def test_hopf_cycle_radius_vs_simulation():
    """C15 network at g* + 0.01: RMS radius of the simulated cycle."""
    def f(h, g):
        R = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)
        return -h + g * anp.dot(R, anp.tanh(h))
    system = System(f, 2, "flow")
    nf = normal_form(system, np.zeros(2), np.sqrt(2))
    dg = 0.01
    pred = nf.predict(dg)
    g = np.sqrt(2) + dg
    R = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)
    end = 800.0
    sol = solve_ivp(lambda s, h: -h + g * R @ np.tanh(h), (0, end),
                    np.array([pred.rms_radius, 0.0]), method="DOP853", rtol=1e-10,
                    atol=1e-12,
                    dense_output=True)
    s = np.linspace(end - 2 * np.pi, end, 400)
    rho = np.sqrt(np.mean(np.sum(sol.sol(s) ** 2, axis=0)))
    assert rho == pytest.approx(0.1684, abs=2e-4)  # CASES C15
    assert abs(rho - pred.rms_radius) / rho <= 5 * dg * np.sqrt(2)


# -- unfolding gradient (SPEC 4.4) -----------------------------------------------
def _fd_mu(model, x, view, h, index=0, step=1e-6):
    system = rnn_system(model, x, view)
    theta = model.theta
    out = np.zeros(theta.size)
    lam0 = analyse_point(system, h, theta).eigenvalues[index]
    for j in range(theta.size):
        vals = []
        for s in (step, -step):
            th = theta.copy()
            th[j] += s
            hj = newton(system, h, th)[0]
            lam = analyse_point(system, hj, th).eigenvalues
            near = lam[np.argmin(np.abs(lam - lam0))]
            vals.append(abs(near) - 1 if view == "map" else near.real)
        out[j] = (vals[0] - vals[1]) / (2 * step)
    return out


@pytest.mark.parametrize("cell,view,N", [("euler", "map", 3),
                                         ("euler", "flow", 4),
                                         ("elman", "map", 2)])
def test_unfolding_gradient_vs_finite_differences(cell, view, N):
    rng = np.random.default_rng(3)
    model = RNN.random(N, 2, 1, rng=rng, cell=cell, dt=0.5, gain=1.1)
    x = rng.normal(size=2) * 0.3
    system = rnn_system(model, x, view)
    h, ok = newton(system, np.zeros(N), model.theta)[:2]
    assert ok
    mu, grad = unfolding_gradient(model, h, x, view)
    assert grad.shape == (model.n_params,)
    fd = _fd_mu(model, x, view, h)
    assert np.allclose(grad, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())
    # the moving-fixed-point term matters here (b and U move h*)
    assert np.abs(grad).max() > 0


def test_unfolding_gradient_rank_one_W_closed_form():
    """Euler flow at the symmetric point h* = 0: dmu/dW = w (phi'(0) v)^T."""
    N = 5
    rng = np.random.default_rng(4)
    m = np.sign(rng.normal(size=N))
    W = 0.8 * np.outer(m, m) / N + 0.05 * rng.normal(size=(N, N))
    model = RNN("euler", W, np.zeros((N, 1)), np.zeros(N), np.zeros((1, N)),
                np.zeros(1), trainable=("W",))
    mu, grad = unfolding_gradient(model, np.zeros(N), None, "flow")
    lam, V = np.linalg.eig(-np.eye(N) + W)
    k = np.argmax(lam.real)
    v = np.real(V[:, k])
    lamL, WL = np.linalg.eig((-np.eye(N) + W).T)
    w = np.real(WL[:, np.argmin(np.abs(lamL - lam[k]))])
    w = w / (w @ v)
    assert mu == pytest.approx(lam[k].real, abs=1e-12)
    assert np.allclose(grad.reshape(N, N), np.outer(w, v), atol=1e-12)


def test_rnn_vector_parameter_pitchfork():
    """Rank-one euler flow at g = 1 with theta = W: direction or kind needed."""
    N = 4
    m = np.array([1.0, -1.0, 1.0, 1.0])
    W = np.outer(m, m) / N
    model = RNN("euler", W, np.zeros((N, 1)), np.zeros(N), np.zeros((1, N)),
                np.zeros(1), trainable=("W",))
    system = rnn_system(model, None, "flow")
    with pytest.raises(ValueError, match="along"):
        normal_form(system, np.zeros(N), model.theta)
    nf = normal_form(system, np.zeros(N), model.theta, kind="pitchfork")
    v = m / 2                                    # = w, unit, phi'(0) = 1
    assert np.allclose(nf.mu_p.reshape(N, N), np.outer(v, v), atol=1e-12)
    mu, grad = unfolding_gradient(model, np.zeros(N), None, "flow")
    assert abs(mu) <= 1e-12 and np.allclose(grad, nf.mu_p, atol=1e-12)

    line = system.along(model.theta, W.ravel())  # g -> g (1 + t)
    nf = normal_form(line, np.zeros(N), 0.0)
    assert nf.type == "pitchfork"
    assert nf.mu_p == pytest.approx(1.0, rel=RTOL)
    assert nf.c == pytest.approx(-1 / (3 * N), rel=RTOL)


# -- argument checks -----------------------------------------------------------
def test_normal_form_refuses_a_point_that_is_not_fixed():
    """x = 0.3 at p = 0.27 is critical (p - 3 x^2 = 0) but f = 0.054 != 0."""
    system = System(lambda x, p: anp.array([p * x[0] - x[0] ** 3]), 1)
    with pytest.raises(ValueError, match=r"x = \[0\.3\] is not a fixed point"
                       r".*residual 0\.054 exceeds.* = 1e-08"):
        normal_form(system, np.array([0.3]), 0.27)
    # scale-aware: residual 1e-5 is refused at |x| = 0 but accepted at
    # |x| = 1e6 (1e-5 <= 1e-8 * 1e6), where it is round-off-sized
    for c, accepted in ((0.0, False), (1e6, True)):
        shifted = System(lambda x, p, c=c: anp.array(
            [p - (x[0] - c) ** 2 + 1e-5]), 1)
        if accepted:
            assert normal_form(shifted, np.array([c]), 0.0).type == "fold"
        else:
            with pytest.raises(ValueError, match="residual 1e-05"):
                normal_form(shifted, np.array([c]), 0.0)


def test_unfolding_gradient_refuses_a_point_that_is_not_fixed():
    N = 3
    model = RNN("euler", 0.5 * np.eye(N), np.zeros((N, 1)), np.zeros(N),
                np.zeros((1, N)), np.zeros(1), trainable=("W",))
    mu, _ = unfolding_gradient(model, np.zeros(N), None, "flow")
    assert mu == pytest.approx(-0.5, abs=1e-12)
    with pytest.raises(ValueError, match="fixed_point = .* is not a fixed "
                       "point.*residual"):
        unfolding_gradient(model, np.zeros(N) + 0.3, None, "flow")


@pytest.mark.parametrize("name,kind,found", [
    ("flow_pitchfork", "hopf", r"real \(0, a pitchfork point\)"),
    ("flow_fold", "flip", r"real \(0, a fold point\)"),
    ("map_flip", "fold", r"real \(-1, a flip point\)"),
    ("map_transcritical", "neimark_sacker",
     r"real \(\+1, a transcritical point\)"),
    ("flow_hopf", "pitchfork", r"a complex pair \(\+-2 i, a hopf point\)"),
    ("map_ns", "hopf", r"a complex pair on the unit circle \(theta = 1, a "
     r"neimark_sacker point\)"),
])
def test_kind_mismatch_says_what_was_found(name, kind, found):
    fun, n, sys_kind, _, _ = PLANTED[name]
    with pytest.raises(ValueError, match=rf"kind='{kind}' was requested but "
                       rf"the critical eigenvalue is {found}"):
        normal_form(System(fun, n, sys_kind), np.zeros(n), 0.0, kind=kind)


def test_normal_form_validates_critical_tol():
    system = System(flow_pitchfork, 2, "flow")
    for bad in (-1.0, 0.0, np.nan):
        with pytest.raises(ValueError, match="critical_tol"):
            normal_form(system, np.zeros(2), 0.0, critical_tol=bad)
    with pytest.raises(TypeError, match="critical_tol"):
        normal_form(system, np.zeros(2), 0.0, critical_tol="1e-6")
