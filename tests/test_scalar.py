"""Tests of sntk_ref.dynamics.scalar (SPEC 5)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from sntk_ref.dynamics.scalar import (
    ScalarNormalForm,
    gradient_step,
    natural_gradient_step,
)
from sntk_ref.tolerances import FD_STEP_FACTOR

# (kind, mu, x0) with a trajectory that stays bounded over the window
CASES = [
    ("pitchfork", 0.5, 0.1),
    ("pitchfork", -0.3, 0.8),
    ("saddle_node", 0.5, 0.0),
    ("saddle_node", -0.5, 2.0),
    ("transcritical", 0.5, 0.1),
    ("transcritical", -0.4, 0.6),
    ("hopf", 0.3, [0.1, 0.05]),
]
N_STEPS = 300


def _slope(f, lo, hi):
    """Log-log slope of ``f`` between ``lo`` and ``hi``."""
    return np.log(f(hi) / f(lo)) / np.log(hi / lo)


@pytest.mark.parametrize("kind, mu, x0", CASES)
def test_flow_matches_closed_form(kind, mu, x0):
    form = ScalarNormalForm(kind, dt=0.01)
    X, E = form.simulate(mu, x0, N_STEPS), form.exact(mu, x0, N_STEPS)
    assert np.all(np.isfinite(X))
    np.testing.assert_allclose(X, E, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind, mu, x0", CASES)
def test_map_converges_to_flow_at_first_order(kind, mu, x0):
    window = 3.0
    errors = []
    for dt in (1e-2, 5e-3):
        form = ScalarNormalForm(kind, view="map", dt=dt)
        n = int(round(window / dt))
        errors.append(np.max(np.abs(form.simulate(mu, x0, n) - form.exact(mu, x0, n))))
    assert errors[0] < 0.05
    assert 1.8 < errors[0] / errors[1] < 2.2


def test_closed_forms_at_mu_zero_are_continuous():
    for kind in ("pitchfork", "transcritical", "saddle_node", "hopf"):
        form = ScalarNormalForm(kind, dt=0.1)
        x0 = [0.4, 0.2] if kind == "hopf" else 0.4
        at_zero = form.exact(0.0, x0, 20)
        near = form.exact(1e-9, x0, 20)
        np.testing.assert_allclose(at_zero, near, atol=1e-8)
        np.testing.assert_allclose(form.simulate(0.0, x0, 20), at_zero, atol=1e-9)


@pytest.mark.parametrize("view", ["flow", "map"])
@pytest.mark.parametrize("kind, mu, x0", CASES)
def test_sensitivity_against_central_differences(kind, mu, x0, view):
    form = ScalarNormalForm(kind, view=view, dt=0.02)
    n = 150
    S = form.sensitivity(mu, x0, n)

    # flow: difference the closed form; map: difference the map itself
    run = form.exact if view == "flow" else form.simulate
    h = FD_STEP_FACTOR * max(1.0, abs(mu))
    fd = (run(mu + h, x0, n) - run(mu - h, x0, n)) / (2 * h)
    assert np.all(S[0] == 0)
    np.testing.assert_allclose(S, fd, rtol=0, atol=1e-7 * max(1.0, np.abs(fd).max()))


def test_kernel_is_outer_product_of_sensitivities():
    form = ScalarNormalForm("hopf", view="map", dt=0.05)
    S = form.sensitivity(0.2, [0.3, 0.1], 7)
    K = form.kernel(0.2, [0.3, 0.1], 7)
    assert K.shape == (14, 14)
    for (k, i, l, j) in [(0, 0, 6, 1), (3, 1, 3, 1), (6, 0, 2, 0)]:
        assert K[2 * k + i, 2 * l + j] == S[k + 1, i] * S[l + 1, j]
    assert np.linalg.matrix_rank(K) == 1
    assert form.kernel_trace(0.2, [0.3, 0.1], 7) == pytest.approx(np.trace(K))


def test_map_sensitivity_at_equilibrium_closed_form():
    # x_k = sqrt(mu) for all k, so s_k = (1 - (1 - 2 mu dt)^k) / (2 sqrt(mu))
    mu, dt, n = 0.2, 0.1, 60
    form = ScalarNormalForm("pitchfork", view="map", dt=dt)
    S = form.sensitivity(mu, np.sqrt(mu), n)[:, 0]
    k = np.arange(n + 1)
    expected = (1 - (1 - 2 * mu * dt) ** k) / (2 * np.sqrt(mu))
    np.testing.assert_allclose(S, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["pitchfork", "saddle_node", "hopf", "transcritical"])
@pytest.mark.parametrize("mu", [0.05, 0.4])
def test_equilibrium_sensitivity_against_long_run(kind, mu):
    # the Euler map of Hopf has its invariant circle at an O(w^2 dt) shifted
    # radius, so Hopf is checked on the flow
    view = "flow" if kind == "hopf" else "map"
    form = ScalarNormalForm(kind, view=view, dt=0.5, omega=0.2)
    x0 = [0.3, 0.0] if kind == "hopf" else 0.3
    n = int(30 / (mu * form.dt))

    def settled(m):
        return np.linalg.norm(form.simulate(m, x0, n)[-1])

    h = 1e-4 * mu
    fd = (settled(mu + h) - settled(mu - h)) / (2 * h)
    expected = 1.0 if kind == "transcritical" else 1 / (2 * np.sqrt(mu))
    assert form.equilibrium(mu) == pytest.approx(settled(mu), rel=1e-9)
    assert form.equilibrium_sensitivity(mu) == pytest.approx(expected, rel=1e-14)
    assert fd == pytest.approx(expected, rel=1e-6)


def test_saddle_node_passage_time():
    mu, L = -0.3, 1e4
    form = ScalarNormalForm("saddle_node")
    q = np.sqrt(-mu)

    def below(_, x):
        return x[0] + L
    below.terminal = True
    sol = solve_ivp(lambda s, x: form.vector_field(x, mu), (0, 100), [L],
                    events=below, rtol=1e-12, atol=1e-12)
    t_pass = sol.t_events[0][0]
    assert t_pass == pytest.approx(2 * np.arctan(L / q) / q, rel=1e-8)
    assert form.passage_time(mu) == pytest.approx(t_pass, rel=2 / (L * q))
    assert form.passage_time(mu) == np.pi / np.sqrt(0.3)


# --------------------------------------------------------- amplification


@settings(max_examples=10)
@given(st.floats(1e-4, 1e-1), st.sampled_from(["pitchfork", "saddle_node", "hopf"]))
def test_equilibrium_sensitivity_squared_exponent_is_minus_one(mu, kind):
    form = ScalarNormalForm(kind)
    slope = _slope(lambda m: form.equilibrium_sensitivity(m) ** 2, mu, 10 * mu)
    assert abs(slope - (-1.0)) <= 0.1


@settings(max_examples=4)
@given(st.floats(0.02, 0.05))
def test_transient_trace_exponent_is_minus_three(mu_abs):
    # mu < 0, x0^2 << |mu|, window >> 1/|mu|: sum s^2 dt -> x0^2 / (4 |mu|^3)
    x0, dt = 1e-3, 0.5
    form = ScalarNormalForm("pitchfork", view="flow", dt=dt)
    n = int(40 / (mu_abs * dt))

    def trace(m):
        return form.kernel_trace(-m, x0, n) * dt

    assert trace(mu_abs) == pytest.approx(x0**2 / (4 * mu_abs**3), rel=0.02)
    assert abs(_slope(trace, mu_abs, 10 * mu_abs) - (-3.0)) <= 0.3


@settings(max_examples=4)
@given(st.floats(0.01, 0.05))
def test_relaxation_window_trace_exponent_is_minus_two(mu):
    # start at sqrt(mu), window 5/mu: int s^2 = c / mu^2 exactly (flow)
    dt = 0.05

    def trace(m):
        form = ScalarNormalForm("pitchfork", view="flow", dt=dt / m)
        return form.kernel_trace(m, np.sqrt(m), 100) * dt / m

    assert abs(_slope(trace, mu, 10 * mu) - (-2.0)) <= 0.2


@settings(max_examples=4)
@given(st.floats(0.05, 0.1))
def test_fixed_long_window_trace_exponent_is_minus_one(mu):
    # start at sqrt(mu), fixed window S with S mu >= 50: sum s^2 ~ n / (4 mu)
    form = ScalarNormalForm("pitchfork", view="map", dt=0.5)
    n = int(50 / (mu * form.dt))

    def trace(m):
        return form.kernel_trace(m, np.sqrt(m), n)

    assert abs(_slope(trace, mu, 10 * mu) - (-1.0)) <= 0.1


# ------------------------------------------------------------- landscape


@pytest.mark.parametrize("mu", [1e-3, 0.02, 0.3, 2.0])
def test_landscape_closed_form_and_derivatives(mu):
    mu_star = 0.5
    form = ScalarNormalForm("pitchfork")
    terms = form.loss(mu, mu_star)
    assert terms.value == pytest.approx(0.5 * (np.sqrt(mu) - np.sqrt(mu_star)) ** 2)

    h = 1e-3 * mu
    value = lambda m: form.loss(m, mu_star).value   # noqa: E731
    grad_fd = (value(mu + h) - value(mu - h)) / (2 * h)
    curv_fd = (value(mu + h) - 2 * value(mu) + value(mu - h)) / h**2
    assert terms.gradient == pytest.approx(grad_fd, rel=1e-5)
    assert terms.curvature == pytest.approx(np.sqrt(mu_star) / (4 * mu**1.5), rel=1e-12)
    assert curv_fd == pytest.approx(np.sqrt(mu_star) / (4 * mu**1.5), rel=1e-4)
    assert terms.gauss_newton == pytest.approx(1 / (4 * mu), rel=1e-12)


def test_landscape_plateau():
    form = ScalarNormalForm("pitchfork")
    for mu in (-1.0, -1e-3, 0.0):
        terms = form.loss(mu, 0.5)
        assert terms.value == pytest.approx(0.25, rel=1e-15)
        assert terms[1:] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="plateau"):
        form.natural_gradient_step(-0.1, 0.5, 0.5)
    with pytest.raises(ValueError, match="no equilibrium"):
        ScalarNormalForm("saddle_node").equilibrium(-0.1)
    with pytest.raises(ValueError, match="not differentiable"):
        form.equilibrium_sensitivity(0.0)


@pytest.mark.parametrize("view", ["flow", "map"])
def test_trajectory_loss_gradient_and_gauss_newton(view):
    form = ScalarNormalForm("pitchfork", view=view, dt=0.05)
    mu, mu_star, x0, n = 0.3, 0.5, 0.2, 120

    h = FD_STEP_FACTOR
    value = lambda m: form.loss(m, mu_star, x0, n).value   # noqa: E731
    terms = form.loss(mu, mu_star, x0, n)
    assert terms.gradient == pytest.approx((value(mu + h) - value(mu - h)) / (2 * h),
                                           rel=1e-6)

    sim = form.exact if view == "flow" else form.simulate
    J = (sim(mu + h, x0, n)[1:] - sim(mu - h, x0, n)[1:]) / (2 * h)
    assert terms.gauss_newton == pytest.approx(np.sum(J**2) / n, rel=1e-6)
    assert terms.curvature is None


def test_long_window_trajectory_loss_tends_to_landscape():
    form = ScalarNormalForm("pitchfork", view="map", dt=0.5)
    mu, mu_star = 0.2, 0.5
    landscape = form.loss(mu, mu_star).value
    values = [form.loss(mu, mu_star, 0.4, n).value for n in (400, 4000)]
    assert abs(values[1] - landscape) < 0.2 * abs(values[0] - landscape)
    assert values[1] == pytest.approx(landscape, rel=0.01)


# ------------------------------------------------ gradient vs natural step


def _iterate(step, mu0, mu_star, eta, n):
    mus = [mu0]
    for _ in range(n):
        mus.append(step(mus[-1], mu_star, eta))
    return np.array(mus)


def test_fixed_step_gd_overshoots_near_zero_natural_gradient_does_not():
    eta = 0.2
    rates_ng = []
    for mu_star in (1.0, 1e-2, 1e-4):
        gd = _iterate(gradient_step, 2 * mu_star, mu_star, eta, 300)
        ng = _iterate(natural_gradient_step, 2 * mu_star, mu_star, eta, 30)
        if mu_star == 1.0:
            # curvature 1/(4 mu*) = 0.25: eta * 0.25 < 2, GD converges (slowly)
            assert abs(gd[-1] - mu_star) < 1e-2 * mu_star
        else:
            # eta / (4 mu*) >> 2: GD jumps past 0 onto the plateau and stays
            assert gd[1] < 0 and abs(gd[-1] - mu_star) > mu_star
        assert abs(ng[-1] - mu_star) < 1e-2 * mu_star
        err = np.abs(ng - mu_star)
        rates_ng.append(err[-1] / err[-2])

    # contraction factor tends to 1 - eta whatever mu*
    np.testing.assert_allclose(rates_ng, 1 - eta, rtol=1e-3)


def test_natural_step_closed_form():
    mu, mu_star, eta = 0.04, 0.09, 0.3
    expected = mu - 2 * eta * (mu - np.sqrt(mu * mu_star))
    assert natural_gradient_step(mu, mu_star, eta) == pytest.approx(expected, rel=1e-14)
    assert gradient_step(mu, mu_star, eta) == pytest.approx(
        mu - eta * (0.5 - np.sqrt(mu_star) / (2 * np.sqrt(mu))), rel=1e-14)


def test_blow_up_is_reported():
    with pytest.raises(RuntimeError, match="blow up"):
        ScalarNormalForm("saddle_node", dt=0.5).simulate(-0.5, 1.0, 40)
    with pytest.raises(ValueError, match="blows up"):
        ScalarNormalForm("saddle_node", dt=0.5).exact(-0.5, 1.0, 40)
    with pytest.raises(FloatingPointError):
        with np.errstate(over="ignore", invalid="ignore"):
            ScalarNormalForm("saddle_node", view="map", dt=0.5).simulate(-0.5, 1.0, 400)
