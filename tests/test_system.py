"""System derivatives and the RNN adapter (SPEC 4.1, 2.4).

Oracles: closed-form derivatives of a polynomial, the hand-written cell
forms of ``sntk_ref.derivatives`` against autograd, central differences.
"""

import autograd.numpy as anp
import numpy as np
import pytest

from sntk_ref.dynamics.system import System, rnn_system
from sntk_ref.model import RNN


def poly(x, p):
    """f = (p x0^2 x1 + x2^3, sin(p) x0 x2, p^2 x1), n = 3."""
    return anp.array([p * x[0] ** 2 * x[1] + x[2] ** 3,
                      anp.sin(p) * x[0] * x[2], p ** 2 * x[1]])


def poly_B(x, p, u, v):
    return np.array([
        p * (2 * x[1] * u[0] * v[0] + 2 * x[0] * (u[0] * v[1] + u[1] * v[0]))
        + 6 * x[2] * u[2] * v[2],
        np.sin(p) * (u[0] * v[2] + u[2] * v[0]), 0 * u[0]])


def poly_C(u, v, w, p):
    return np.array([
        2 * p * (u[0] * v[0] * w[1] + u[0] * v[1] * w[0] + u[1] * v[0] * w[0])
        + 6 * u[2] * v[2] * w[2], 0 * u[0], 0 * u[0]])


@pytest.fixture
def point():
    rng = np.random.default_rng(0)
    x = rng.normal(size=3)
    u, v, w = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    return x, 0.7, u, v, w


def test_forms_match_closed_form(point):
    x, p, u, v, w = point
    S = System(poly, 3, "flow")
    A = np.array([[2 * p * x[0] * x[1], p * x[0] ** 2, 3 * x[2] ** 2],
                  [np.sin(p) * x[2], 0, np.sin(p) * x[0]], [0, p ** 2, 0]])
    assert np.allclose(S.jacobian(x, p), A, atol=1e-14)
    assert np.allclose(S.B(x, p, u, v), poly_B(x, p, u, v), atol=1e-13)
    assert np.allclose(S.C(x, p, u, v, w), poly_C(u, v, w, p), atol=1e-13)
    Fp = np.array([x[0] ** 2 * x[1], np.cos(p) * x[0] * x[2], 2 * p * x[1]])
    assert np.allclose(S.dF_dp(x, p), Fp, atol=1e-14)
    Ap = np.array([[2 * x[0] * x[1], x[0] ** 2, 0],
                   [np.cos(p) * x[2], 0, np.cos(p) * x[0]], [0, 2 * p, 0]])
    assert S.dA_dp(x, p, u, v) == pytest.approx(u @ Ap @ v, abs=1e-13)
    assert np.allclose(S.d2F_dp2(x, p),
                       [0, -np.sin(p) * x[0] * x[2], 2 * x[1]], atol=1e-14)


def test_map_residual_and_jacobian(point):
    x, p, *_ = point
    S = System(poly, 3, "map")
    assert np.allclose(S.residual(x, p), poly(x, p) - x)
    assert np.allclose(S.residual_jacobian(x, p),
                       S.jacobian(x, p) - np.eye(3))


def test_jacobian_against_central_differences(point):
    x, p, *_ = point
    S = System(poly, 3, "flow")
    h = np.finfo(float).eps ** (1 / 3)
    fd = np.stack([(poly(x + h * e, p) - poly(x - h * e, p)) / (2 * h)
                   for e in np.eye(3)], 1)
    assert np.allclose(S.jacobian(x, p), fd, atol=1e-8)


def test_vector_parameter_and_along():
    def f(x, p):
        return anp.array([p[0] * x[0] + p[1] * x[1] ** 2, p[1] * x[0]])
    S = System(f, 2, "flow", n_params=2)
    x, p = np.array([0.3, -0.4]), np.array([1.5, -0.5])
    Fp = S.dF_dp(x, p)
    assert Fp.shape == (2, 2)
    assert np.allclose(Fp, [[x[0], x[1] ** 2], [0, x[0]]])
    w, v = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    assert np.allclose(S.dA_dp(x, p, w, v),
                       [w @ np.diag([1, 0]) @ v,
                        w @ np.array([[0, 2 * x[1]], [1, 0]]) @ v])
    d = np.array([0.2, 1.0])
    line = S.along(p, d)
    assert np.allclose(line.dF_dp(x, 0.1), S.dF_dp(x, p + 0.1 * d) @ d)
    assert np.allclose(line.evaluate(x, 0.1), S.evaluate(x, p + 0.1 * d))
    with pytest.raises(ValueError, match="shape"):
        S.evaluate(x, 1.0)


def test_bad_functions_raise_naming_function_and_point():
    def wrong_shape(x, p):
        return anp.array([x[0], x[1], x[0]])

    def not_finite(x, p):
        return anp.log(x)

    with pytest.raises(ValueError, match=r"wrong_shape.*shape \(3,\).*x = "):
        System(wrong_shape, 2, "flow").residual(np.ones(2), 0.0)
    with np.errstate(invalid="ignore"), pytest.raises(
            ValueError, match=r"not_finite.*non-finite.*p = "):
        System(not_finite, 2, "flow").jacobian(-np.ones(2), 0.0)
    with pytest.raises(ValueError, match="kind"):
        System(poly, 3, "diffeo")
    with pytest.raises(TypeError):
        System(3.0, 3)


MODELS = [("euler", "map"), ("euler", "flow"), ("elman", "map")]


@pytest.mark.parametrize("cell,view", MODELS)
def test_rnn_forms_agree_with_autograd(cell, view):
    rng = np.random.default_rng(1)
    model = RNN.random(4, 3, 2, rng=rng, cell=cell, dt=0.3,
                       trainable=("W", "U", "b", "C"))
    x = rng.normal(size=3)
    hand = rnn_system(model, x, view)
    auto = hand.autograd_only()
    h, th = rng.normal(size=4), model.theta
    u, v, w = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    assert np.allclose(hand.evaluate(h, th), auto.evaluate(h, th), atol=1e-15)
    assert np.allclose(hand.jacobian(h, th), auto.jacobian(h, th), atol=1e-14)
    assert np.allclose(hand.B(h, th, u, v), auto.B(h, th, u, v), atol=1e-13)
    assert np.allclose(hand.C(h, th, u, v, w), auto.C(h, th, u, v, w),
                       atol=1e-13)
    assert np.allclose(hand.dF_dp(h, th), auto.dF_dp(h, th), atol=1e-14)
    assert np.allclose(hand.dA_dp(h, th, u, v), auto.dA_dp(h, th, u, v),
                       atol=1e-13)
    d = rng.normal(size=th.size)
    lh, la = hand.along(th, d), auto.along(th, d)
    assert lh.dA_dp(h, 0.2, u, v) == pytest.approx(la.dA_dp(h, 0.2, u, v),
                                                   abs=1e-12)


def test_rnn_system_checks():
    model = RNN.random(3, 2, 1, rng=np.random.default_rng(2), cell="elman")
    with pytest.raises(ValueError, match="euler"):
        rnn_system(model, view="flow")
    with pytest.raises(ValueError, match="shape"):
        rnn_system(model, x=np.zeros(5))
    system = rnn_system(model)
    assert system.n == 3 and system.n_params == model.n_params
    F = system.evaluate(np.zeros(3), model.theta)
    assert np.allclose(F, np.tanh(model.b))


def test_B_matrix_applies_the_B_form():
    """``B_matrix(x, p, u) @ y == B(x, p, u, y)`` on both derivative routes."""
    rng = np.random.default_rng(11)
    model = RNN.random(4, 2, 1, cell="euler", dt=0.3, rng=rng)
    flow = rnn_system(model, view="flow")
    cubic = System(lambda x, p: anp.array([p * x[0] - x[0] ** 3 + x[1] ** 2,
                                            -x[1] + x[0] * x[1]]), 2)
    for system, par in ((flow, model.theta), (cubic, 0.3)):
        x = 0.3 * rng.standard_normal(system.n)
        u = rng.standard_normal(system.n) + 1j * rng.standard_normal(system.n)
        y = rng.standard_normal(system.n)
        M = system.B_matrix(x, par, u)
        np.testing.assert_allclose(M @ y, system.B(x, par, u, y),
                                   rtol=1e-12, atol=1e-14)
