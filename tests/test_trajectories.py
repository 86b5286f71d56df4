"""Tests of sntk_ref.trajectories: forward pass, readout, loss, failures."""

import numpy as np
import pytest
from hypothesis import given, settings

from sntk_ref.derivatives import (jvp, loss_and_grad, output_jvp, output_vjp,
                                  state_jacobian, step_forms, vjp)
from sntk_ref.model import RNN
from sntk_ref.trajectories import TrajectoryError, forward, loss, outputs

from strategies import make_problem, problems, reference_states, sizes_from_seed

ROUNDOFF = 1e-13


# -- forward against the recursion written out --------------------------------
@settings(max_examples=20)
@given(problems())
def test_forward_equals_plain_recursion(pb):
    model, X = pb.model, pb.X
    H = forward(model, X)
    assert H.shape == X.shape[:2] + (model.n_hidden,) and H.dtype == np.float64
    np.testing.assert_allclose(H, reference_states(model, model.theta, X),
                               rtol=0, atol=ROUNDOFF)


@settings(max_examples=20)
@given(problems(max_steps=1))
def test_one_step_is_a_single_cell_update(pb):
    """T = 1: ``H[:, 0] = F(h0, x_0)`` from SPEC 1.1, and ``J = dF/dtheta``."""
    m, X = pb.model, pb.X
    x = X[:, 0]
    if m.cell == "elman":
        want = np.tanh(m.h0 @ m.W.T + x @ m.U.T + m.b)
    else:
        want = m.h0 + m.dt * (-m.h0 + np.tanh(m.h0) @ m.W.T + x @ m.U.T + m.b)
    np.testing.assert_allclose(forward(m, X)[:, 0], want, rtol=0, atol=ROUNDOFF)

    # and the one-step Jacobian is the step's dF/dtheta (+ A for h0)
    J = state_jacobian(m, X)
    for b in range(X.shape[0]):
        forms = step_forms(m, m.h0, x[b])
        want_J = forms.dtheta.copy()
        if "h0" in m.param_slices:
            want_J[:, m.param_slices["h0"]] = forms.A
        np.testing.assert_allclose(J[b, 0], want_J, rtol=0, atol=ROUNDOFF)


@settings(max_examples=20)
@given(problems(cell="euler", dt=1.0))
def test_euler_with_unit_step_is_w_tanh_h_plus_input(pb):
    m, X = pb.model, pb.X
    H = forward(m, X)
    prev = np.concatenate([np.tile(m.h0, (X.shape[0], 1, 1)), H[:, :-1]], axis=1)
    want = np.tanh(prev) @ m.W.T + X @ m.U.T + m.b
    np.testing.assert_allclose(H, want, rtol=0, atol=ROUNDOFF)


def test_h0_argument_forms():
    pb = make_problem(1, sizes_from_seed(1), cell="elman")
    m, X = pb.model, pb.X
    B, N = X.shape[0], m.n_hidden
    h0 = np.random.default_rng(1).standard_normal((B, N))
    H = forward(m, X, h0=h0)
    for b in range(B):
        np.testing.assert_allclose(H[b], forward(m, X[b:b + 1], h0=h0[b])[0],
                                   rtol=0, atol=ROUNDOFF)
    np.testing.assert_allclose(forward(m, X), forward(m, X, h0=m.h0),
                               rtol=0, atol=ROUNDOFF)
    # the model's own h0 is used by default
    assert not np.allclose(forward(m, X), forward(m, X, h0=np.zeros(N)))


def test_outputs_and_loss_closed_form():
    pb = make_problem(2, sizes_from_seed(2))
    m, X, Y = pb.model, pb.X, pb.Y_target
    H = forward(m, X)
    Yhat = outputs(m, H)
    B, T, O = Y.shape
    want = np.empty((B, T, O))
    for b in range(B):
        for t in range(T):
            want[b, t] = m.C @ H[b, t] + m.d
    np.testing.assert_allclose(Yhat, want, rtol=0, atol=ROUNDOFF)
    L = sum(np.sum((want[b, t] - Y[b, t]) ** 2) for b in range(B)
            for t in range(T)) / (2 * B * T)
    assert abs(loss(m, X, Y) - L) <= ROUNDOFF * max(1.0, L)
    assert abs(loss_and_grad(m, X, Y)[0] - L) <= ROUNDOFF * max(1.0, L)
    assert isinstance(loss(m, X, Y), float)


def test_float32_input_is_upcast():
    pb = make_problem(3, sizes_from_seed(3))
    m, X, Y = pb.model, pb.X, pb.Y_target
    X32 = X.astype(np.float32)
    m32 = RNN(m.cell, m.W.astype(np.float32), m.U.astype(np.float32), m.b,
              m.C, m.d, h0=m.h0.astype(np.float32), dt=m.dt)
    H = forward(m32, X32)
    assert H.dtype == np.float64
    # computed in float64 from the float32 values: equals the float64 run on
    # the rounded values exactly
    ref = RNN(m.cell, m32.W, m32.U, m.b, m.C, m.d, h0=m32.h0, dt=m.dt)
    np.testing.assert_array_equal(H, forward(ref, X32.astype(np.float64)))
    P = m32.n_params
    q = np.ones(H.shape, dtype=np.float32)
    for arr in (*vjp(m32, X32, q), jvp(m32, X32, np.ones(P, np.float32)),
                loss_and_grad(m32, X32, Y.astype(np.float32))[1],
                output_jvp(m32, X32, np.ones(P)),
                output_vjp(m32, X32, Y.astype(np.float32)),
                outputs(m32, H.astype(np.float32))):
        assert arr.dtype == np.float64
    X_int = np.ones(X.shape, dtype=int)
    np.testing.assert_array_equal(forward(m, X_int), forward(m, X_int * 1.0))


# -- bad input ----------------------------------------------------------------
def _bad_calls(m, X, Y):
    B, T, D = X.shape
    N, O, P = m.n_hidden, m.n_out, m.n_params
    return [
        ("X", TypeError, lambda: forward(m, X.astype(complex))),
        ("X", TypeError, lambda: forward(m, X.astype(object))),
        ("X", TypeError, lambda: forward(m, "X")),
        ("X", ValueError, lambda: forward(m, X[0])),
        ("X", ValueError, lambda: forward(m, X[..., :-1])),
        ("X", ValueError, lambda: forward(m, X[:, :0])),
        ("X", ValueError, lambda: forward(m, np.where(X > 0, np.nan, X))),
        ("X", ValueError, lambda: forward(m, np.full(X.shape, np.inf))),
        ("h0", ValueError, lambda: forward(m, X, h0=np.zeros(N + 1))),
        ("h0", ValueError, lambda: forward(m, X, h0=np.zeros((B + 1, N)))),
        ("h0", ValueError, lambda: forward(m, X, h0=np.full(N, np.nan))),
        ("h0", TypeError, lambda: forward(m, X, h0=np.zeros(N, complex))),
        ("model", TypeError, lambda: forward("model", X)),
        ("H", ValueError, lambda: outputs(m, np.zeros((B, T, N + 1)))),
        ("Y_target", ValueError, lambda: loss(m, X, Y[..., :-1])),
        ("Y_target", ValueError, lambda: loss(m, X, np.full(Y.shape, np.nan))),
        ("Y_target", TypeError, lambda: loss_and_grad(m, X, Y * 1j)),
        ("q", ValueError, lambda: vjp(m, X, np.zeros((B, T, N + 1)))),
        ("q", ValueError, lambda: vjp(m, X, np.full((B, T, N), np.inf))),
        ("dtheta", ValueError, lambda: jvp(m, X, np.zeros(P + 1))),
        ("dtheta", TypeError, lambda: jvp(m, X, np.zeros(P, complex))),
        ("dtheta", ValueError, lambda: output_jvp(m, X, np.zeros(P + 1))),
        ("r", ValueError, lambda: output_vjp(m, X, np.zeros((B, T, O + 1)))),
        ("method", ValueError, lambda: state_jacobian(m, X, method="fd")),
    ]


_PB0 = make_problem(0, sizes_from_seed(0))
_NAMES = [call[0] for call in _bad_calls(_PB0.model, _PB0.X, _PB0.Y_target)]


@pytest.mark.parametrize("index", range(len(_NAMES)),
                         ids=[f"{i}-{n}" for i, n in enumerate(_NAMES)])
def test_bad_input_names_the_argument(index):
    pb = make_problem(0, sizes_from_seed(0))
    name, exc, call = _bad_calls(pb.model, pb.X, pb.Y_target)[index]
    with pytest.raises(exc, match=rf"^{name}\b"):
        call()


def test_explicit_h0_refused_when_h0_is_trainable():
    pb = make_problem(0, sizes_from_seed(0), trainable=("W", "h0"))
    with pytest.raises(ValueError, match="h0"):
        forward(pb.model, pb.X, h0=np.zeros(pb.model.n_hidden))


# -- trajectories that leave the floats ----------------------------------------
def _blowup_euler():
    # unit 0 sums two positive overflowing products: +inf in any order
    W = 0.1 * np.eye(3)
    U = np.array([[10.0, 10.0], [10.0, -10.0], [0.0, 0.0]])
    return RNN("euler", W, U, np.zeros(3), np.ones((1, 3)), np.zeros(1), dt=1.0)


def _nan_elman():
    """An elman net whose saturated ``W h`` is +inf; ``U x`` = -inf gives NaN.

    ``D = 1`` and a saturated state ``h = (1, 1)``, so ``W h = 2e308 = +inf``
    and ``U x`` is a single product: both are exact in any summation order,
    and their elementwise sum is NaN.
    """
    W = np.full((2, 2), 1e308)
    U = np.full((2, 1), 10.0)
    return RNN("elman", W, U, np.zeros(2), np.ones((1, 2)), np.zeros(1))


@pytest.mark.parametrize("cell", ["euler", "elman"])
def test_overflow_or_nan_raises_trajectory_error_naming_step_and_sequence(cell):
    if cell == "euler":
        m = _blowup_euler()
        X = np.zeros((3, 5, 2))
        X[1, 2] = [1e308, 1e308]
    else:
        m = _nan_elman()
        X = np.full((3, 5, 1), 100.0)    # saturates h at exactly 1 from step 0
        X[1, 2] = -1e308
    with pytest.raises(TrajectoryError, match=r"t=2\b.*b=1\b"):
        forward(m, X)
    B, T, N = X.shape[0], X.shape[1], m.n_hidden
    for call in (lambda: vjp(m, X, np.zeros((B, T, N))),
                 lambda: jvp(m, X, np.zeros(m.n_params)),
                 lambda: state_jacobian(m, X),
                 lambda: loss_and_grad(m, X, np.zeros((B, T, 1)))):
        with pytest.raises(TrajectoryError, match=r"t=2\b.*b=1\b"):
            call()
    assert issubclass(TrajectoryError, FloatingPointError)
    # the same net without the bad input is fine (the elman states saturate
    # at exactly 1 although W h is +inf: tanh(inf) = 1)
    X_ok = np.where(np.abs(X) > 1e300, 0.0, X)
    H = forward(m, X_ok)
    assert np.isfinite(H).all()
    if cell == "elman":
        assert np.all(H == 1.0)


def test_trajectory_error_reports_the_first_bad_step():
    m = _blowup_euler()
    X = np.zeros((4, 6, 2))
    X[3, 1] = [1e308, 1e308]
    X[0, 4] = [1e308, 1e308]
    with pytest.raises(TrajectoryError, match=r"t=1\b.*b=3\b"):
        forward(m, X)


def test_huge_elman_weights_saturate_without_nan():
    """``tanh`` of ~1e300 is exactly +-1, its derivative exactly 0."""
    pb = make_problem(4, sizes_from_seed(4), cell="elman")
    m = pb.model
    m = m.replace(W=m.W * 1e300)
    X = pb.X
    H = forward(m, X)
    assert np.isfinite(H).all()
    assert np.all(np.abs(H[:, 1:]) == 1.0)       # every step after the first
    J = state_jacobian(m, X)
    assert np.isfinite(J).all() and np.all(J[:, 1:] == 0.0)
    np.testing.assert_array_equal(J, state_jacobian(m, X, method="bptt"))
    L, g = loss_and_grad(m, X, pb.Y_target)
    assert np.isfinite(L) and np.isfinite(g).all()
    forms = step_forms(m, H[0, 0])
    assert np.all(forms.A == 0.0) and np.all(forms.dtheta == 0.0)
    u = np.ones(m.n_hidden)
    assert np.all(forms.B(u, u) == 0.0) and np.all(forms.C(u, u, u) == 0.0)
