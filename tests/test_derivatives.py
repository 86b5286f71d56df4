"""Tests of sntk_ref.derivatives: BPTT, JVP, RTRL, readout, step forms.

Oracles: an independent autograd forward pass (tests/strategies.py), central
differences, and dense constructions written out in the test. Sizes are
always mutually distinct (N, D, O, B, T).
"""

import numpy as np
import pytest
from autograd import grad, hessian, jacobian, make_jvp
import autograd.numpy as anp
from hypothesis import given, settings

from sntk_ref import _memory
from sntk_ref.cells import CELLS
from sntk_ref.derivatives import (jvp, loss_and_grad, output_jvp, output_vjp,
                                  state_jacobian, step_forms, vjp)
from sntk_ref.kernel import KernelMemoryError
from sntk_ref.testing import fd_jacobian
from sntk_ref.trajectories import forward

from strategies import (ALL_SUBSETS, make_problem, problems,
                        reference_blocks, reference_loss, reference_outputs,
                        reference_states, sizes_from_seed)

#: Round-off level of two exact evaluations of the same derivative.
ROUNDOFF = 1e-12

#: Agreement with central differences (step eps**(1/3), error ~ eps**(2/3)).
FD_TOL = 1e-7


def close(a, b, tol, scale=None):
    """Finite, same shape, and ``max|a - b| <= tol * max(1, max|b|)``."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.isfinite(a).all() and np.isfinite(b).all()
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    err = float(np.max(np.abs(a - b), initial=0.0))
    assert err <= tol * scale, f"max error {err:.3e} > {tol:.1e} * {scale:.3e}"


def dense_output_jacobian(model, X, J):
    """``J_y[b, t, o, p] = dY[b, t, o] / dtheta_p`` written out densely.

    ``Y = H C^T + d``: the state part ``C J``, plus for trainable ``C`` the
    column ``delta(o, o') H[b, t, n]`` and for ``d`` the column
    ``delta(o, o')``.
    """
    H = forward(model, X)
    B, T, O, N = H.shape[0], H.shape[1], model.n_out, model.n_hidden
    Jy = np.einsum("on,btnp->btop", model.C, J)
    start = 0
    for name in model.trainable:
        size = getattr(model, name).size
        if name == "C":
            for o in range(O):
                for n in range(N):
                    Jy[:, :, o, start + o * N + n] += H[:, :, n]
        if name == "d":
            for o in range(O):
                Jy[:, :, o, start + o] += 1.0
        start += size
    return Jy


# -- every trainable subset, both cells --------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("trainable", ALL_SUBSETS, ids="-".join)
def test_bptt_rtrl_autograd_fd_agree(cell, trainable):
    seed = ALL_SUBSETS.index(trainable) + 100 * CELLS.index(cell)
    sizes = sizes_from_seed(seed)
    pb = make_problem(seed, sizes, cell=cell, dt=0.5, trainable=trainable)
    model, X, Y = pb.model, pb.X, pb.Y_target
    theta, P = model.theta, model.n_params
    B, T, N = sizes["B"], sizes["T"], sizes["N"]

    # the state Jacobian two ways
    J = state_jacobian(model, X, method="rtrl")
    assert J.shape == (B, T, N, P)
    close(J, state_jacobian(model, X, method="bptt"), ROUNDOFF)

    # the loss gradient: BPTT, RTRL through the readout, autograd, FD
    L, g = loss_and_grad(model, X, Y)
    assert g.shape == (P,) and g.dtype == np.float64
    Jy = dense_output_jacobian(model, X, J)
    R = forward(model, X) @ model.C.T + model.d - Y
    g_rtrl = np.einsum("bto,btop->p", R, Jy) / (B * T)
    close(g, g_rtrl, ROUNDOFF)
    close(L, reference_loss(model, theta, X, Y), ROUNDOFF)
    if P == 0:
        return
    close(g, grad(reference_loss, 1)(model, theta, X, Y), ROUNDOFF)
    fd = fd_jacobian(lambda th: reference_loss(model, th, X, Y), theta)
    close(g, fd, FD_TOL)
    if set(trainable) <= {"C", "d"}:
        assert np.all(J == 0.0) and np.any(g != 0.0)

    # JVP and VJP against J and against each other
    rng = np.random.default_rng(seed)
    v, q = rng.standard_normal(P), rng.standard_normal((B, T, N))
    r = rng.standard_normal((B, T, model.n_out))
    dH = jvp(model, X, v)
    close(dH, J @ v, ROUNDOFF)
    close(vjp(model, X, q)[0], np.einsum("btn,btnp->p", q, J), ROUNDOFF)
    close(np.sum(q * dH), vjp(model, X, q)[0] @ v, ROUNDOFF)

    # the same through the readout, against autograd's forward mode
    dY = output_jvp(model, X, v)
    close(dY, Jy @ v, ROUNDOFF)
    close(dY, make_jvp(lambda th: reference_outputs(model, th, X))(theta)(v)[1],
          ROUNDOFF)
    close(output_vjp(model, X, r), np.einsum("bto,btop->p", r, Jy), ROUNDOFF)
    close(np.sum(r * dY), output_vjp(model, X, r) @ v, ROUNDOFF)


@settings(max_examples=10)
@given(problems(max_steps=4))
def test_state_jacobian_equals_autograd_jacobian(pb):
    model, X = pb.model, pb.X
    J = state_jacobian(model, X)
    if model.n_params == 0:
        assert J.shape == X.shape[:2] + (model.n_hidden, 0)
        return
    J_ag = jacobian(reference_states, 1)(model, model.theta, X)
    close(J, J_ag, ROUNDOFF)


@settings(max_examples=15)
@given(problems(trainable=("W", "U", "b")))
def test_vjp_input_and_initial_state_cotangents(pb):
    """``g_h0`` and ``g_X`` of :func:`vjp` against autograd, explicit ``h0``."""
    model, X = pb.model, pb.X
    rng = np.random.default_rng(pb.seed)
    h0 = rng.standard_normal((X.shape[0], model.n_hidden))
    q = rng.standard_normal(X.shape[:2] + (model.n_hidden,))
    g_theta, g_h0, g_X = vjp(model, X, q, h0=h0)

    def scalar(theta, X, h0):
        return anp.sum(q * reference_states(model, theta, X, h0))

    theta = model.theta
    close(g_theta, grad(scalar, 0)(theta, X, h0), ROUNDOFF)
    close(g_X, grad(scalar, 1)(theta, X, h0), ROUNDOFF)
    close(g_h0, grad(scalar, 2)(theta, X, h0), ROUNDOFF)

    # forward mode from the same explicit initial states
    v = rng.standard_normal(model.n_params)
    want = make_jvp(lambda th: reference_states(model, th, X, h0))(theta)(v)[1]
    close(jvp(model, X, v, h0=h0), want, ROUNDOFF)
    close(state_jacobian(model, X, h0=h0) @ v, want, ROUNDOFF)

    # a shared (N,) initial state gives the same as its (B, N) tiling
    tiled = np.tile(h0[0], (X.shape[0], 1))
    assert np.array_equal(vjp(model, X, q, h0=h0[0])[1], vjp(model, X, q, tiled)[1])


@settings(max_examples=15)
@given(problems(trainable=("W", "U", "b", "h0")))
def test_jvp_is_linear_in_dtheta(pb):
    model, X = pb.model, pb.X
    rng = np.random.default_rng(pb.seed)
    v1, v2 = rng.standard_normal((2, model.n_params))
    a, c = rng.standard_normal(2)
    lhs = jvp(model, X, a * v1 + c * v2)
    close(lhs, a * jvp(model, X, v1) + c * jvp(model, X, v2), ROUNDOFF)
    close(jvp(model, X, np.zeros(model.n_params)), np.zeros_like(lhs), 0.0)


@settings(max_examples=15)
@given(problems(trainable=("W", "U", "b", "C", "d", "h0")))
def test_adjoint_identity_random_projection(pb):
    """``<u, J v> = <J^T u, v>`` for states and outputs, and J v matches FD."""
    model, X = pb.model, pb.X
    rng = np.random.default_rng(pb.seed)
    v = rng.standard_normal(model.n_params)
    u = rng.standard_normal(X.shape[:2] + (model.n_hidden,))
    r = rng.standard_normal(X.shape[:2] + (model.n_out,))
    dH = jvp(model, X, v)
    close(np.sum(u * dH), vjp(model, X, u)[0] @ v, ROUNDOFF)
    close(np.sum(r * output_jvp(model, X, v)), output_vjp(model, X, r) @ v,
          ROUNDOFF)

    theta = model.theta
    eps = 1e-5
    fd = (forward(model.with_theta(theta + eps * v), X)
          - forward(model.with_theta(theta - eps * v), X)) / (2 * eps)
    close(dH, fd, FD_TOL * 10)


def test_state_jacobian_rejects_unknown_method():
    pb = make_problem(0, sizes_from_seed(0))
    with pytest.raises(ValueError, match="method"):
        state_jacobian(pb.model, pb.X, method="adjoint")


def test_state_jacobian_refuses_over_budget_before_allocating():
    pb = make_problem(0, sizes_from_seed(0))
    B, T, _ = pb.X.shape
    N, P = pb.model.n_hidden, pb.model.n_params
    needed = 8 * B * N * P * (T + 1)          # J (B, T, N, P) + one step
    with pytest.raises(KernelMemoryError, match=f"{needed} bytes"):
        state_jacobian(pb.model, pb.X, max_bytes=needed - 1)
    J = state_jacobian(pb.model, pb.X, max_bytes=needed)
    assert J.shape == (B, T, N, P)
    with pytest.raises(ValueError, match="max_bytes"):
        state_jacobian(pb.model, pb.X, max_bytes=-1.0)


def test_state_jacobian_default_budget_is_the_kernel_rule(monkeypatch):
    # the same budget function as the kernel; shrink it to a few bytes
    monkeypatch.setattr(_memory, "default_max_bytes", lambda: 1000)
    pb = make_problem(0, sizes_from_seed(0))
    for method in ("rtrl", "bptt"):
        with pytest.raises(KernelMemoryError, match="state Jacobian"):
            state_jacobian(pb.model, pb.X, method=method)


# -- step forms against autograd ---------------------------------------------
def reference_step(model, theta, h, x, view):
    """One step ``F`` (map) or the Euler vector field ``f`` (flow)."""
    p = reference_blocks(model, theta)
    W, U, b = p["W"], p["U"], p["b"]
    if model.cell == "elman":
        return anp.tanh(anp.dot(W, h) + anp.dot(U, x) + b)
    f = -h + anp.dot(W, anp.tanh(h)) + anp.dot(U, x) + b
    return f if view == "flow" else h + model.dt * f


def _complex(rng, n):
    return rng.standard_normal(n) + 1j * rng.standard_normal(n)


CELL_VIEWS = [("elman", "map"), ("euler", "map"), ("euler", "flow")]


def _step_setup(cell, view, seed, trainable):
    sizes = sizes_from_seed(seed + 7)
    rng = np.random.default_rng(seed)
    model = make_problem(seed, sizes, cell=cell, dt=0.3,
                         trainable=trainable).model
    h, x = rng.standard_normal(model.n_hidden), rng.standard_normal(model.n_in)
    return model, h, x, rng


@pytest.mark.parametrize("cell, view, seed", [(c, v, s) for s, (c, v)
                                               in enumerate(CELL_VIEWS, 1)])
def test_step_forms_A_B_C_against_autograd(cell, view, seed):
    model, h, x, rng = _step_setup(cell, view, seed, ("W", "U", "b"))
    N, theta = model.n_hidden, model.theta
    forms = step_forms(model, h, x, view=view)

    def F(h):
        return reference_step(model, theta, h, x, view)

    H2 = jacobian(jacobian(F))(h)          # (N, N, N): d2F_i / dh_j dh_k
    H3 = jacobian(jacobian(jacobian(F)))(h)
    close(forms.value, F(h), ROUNDOFF)
    close(forms.A, jacobian(F)(h), ROUNDOFF)

    u, v, w = _complex(rng, N), _complex(rng, N), _complex(rng, N)
    close(forms.B(u, v), np.einsum("ijk,j,k->i", H2, u, v), ROUNDOFF)
    close(forms.C(u, v, w), np.einsum("ijkl,j,k,l->i", H3, u, v, w), ROUNDOFF)
    ur = rng.standard_normal(N)
    close(forms.B(ur, ur), np.einsum("ijk,j,k->i", H2, ur, ur), ROUNDOFF)
    close(forms.C(ur, u, w), forms.C(w, ur, u), ROUNDOFF)


@pytest.mark.filterwarnings("ignore:Output seems independent of input")
@pytest.mark.parametrize("cell, view", CELL_VIEWS)
@pytest.mark.parametrize("trainable", [("W", "U", "b"), ("W", "b", "C", "h0"),
                                       ("U",), ("d",)], ids="-".join)
def test_step_forms_dtheta_and_A_theta_against_autograd(cell, view, trainable):
    model, h, x, rng = _step_setup(cell, view, 1, trainable)
    N, P, theta = model.n_hidden, model.n_params, model.theta
    forms = step_forms(model, h, x, view=view)
    assert forms.dtheta.shape == (N, P)
    dF = jacobian(lambda th: reference_step(model, th, h, x, view))(theta)
    close(forms.dtheta, dF, ROUNDOFF)

    # A_theta(w, v) = grad_theta of w^T A(theta) v; with complex w, v the
    # bilinear form splits into real bilinear forms of Re and Im parts
    def bilinear(th, a, c):
        Ath = jacobian(lambda hh: reference_step(model, th, hh, x, view))(h)
        return anp.dot(a, anp.dot(Ath, c))

    g = grad(bilinear)
    w, v = _complex(rng, N), _complex(rng, N)
    want = (g(theta, w.real, v.real) - g(theta, w.imag, v.imag)
            + 1j * (g(theta, w.real, v.imag) + g(theta, w.imag, v.real)))
    got = forms.A_theta(w, v)
    assert got.shape == (P,) and np.iscomplexobj(got)
    close(got, want, ROUNDOFF)
    close(forms.A_theta(w.real, v.real), g(theta, w.real, v.real), ROUNDOFF)


def test_step_forms_second_order_taylor():
    """``F(h + s y) = F + s A y + s^2/2 B(y, y) + s^3/6 C(y,y,y) + O(s^4)``."""
    pb = make_problem(3, sizes_from_seed(3), cell="elman")
    model, rng = pb.model, np.random.default_rng(3)
    h, y = rng.standard_normal(model.n_hidden), rng.standard_normal(model.n_hidden)
    f0 = step_forms(model, h)
    errs = []
    for s in (1e-2, 5e-3):
        fs = step_forms(model, h + s * y).value
        taylor = (f0.value + s * f0.A @ y + s**2 / 2 * f0.B(y, y)
                  + s**3 / 6 * f0.C(y, y, y))
        errs.append(np.max(np.abs(fs - taylor)))
    # fourth order: halving s divides the remainder by about 16
    assert 12 < errs[0] / errs[1] < 20


def test_step_forms_hessian_symmetry_and_flow_relation():
    """Euler: map forms are ``h + dt f`` forms; B matches autograd hessian."""
    pb = make_problem(5, sizes_from_seed(5), cell="euler", dt=0.4)
    model, rng = pb.model, np.random.default_rng(5)
    h = rng.standard_normal(model.n_hidden)
    fmap, fflow = step_forms(model, h), step_forms(model, h, view="flow")
    close(fmap.A, np.eye(model.n_hidden) + model.dt * fflow.A, ROUNDOFF)
    u, v = rng.standard_normal((2, model.n_hidden))
    close(fmap.B(u, v), model.dt * fflow.B(u, v), ROUNDOFF)
    close(fmap.B(u, v), fmap.B(v, u), ROUNDOFF)
    i = 0
    Hi = hessian(lambda hh: reference_step(model, model.theta, hh,
                                           np.zeros(model.n_in), "map")[i])(h)
    close(fmap.B(u, v)[i], u @ Hi @ v, ROUNDOFF)


def test_step_forms_bad_arguments():
    pb = make_problem(0, sizes_from_seed(0), cell="elman")
    model, N = pb.model, pb.model.n_hidden
    with pytest.raises(ValueError, match="view"):
        step_forms(model, np.zeros(N), view="flow")
    with pytest.raises(ValueError, match="view"):
        step_forms(model, np.zeros(N), view="ode")
    with pytest.raises(ValueError, match="h"):
        step_forms(model, np.zeros(N + 1))
    with pytest.raises(ValueError, match="x"):
        step_forms(model, np.zeros(N), x=np.zeros(model.n_in + 1))
    with pytest.raises(TypeError, match="h"):
        step_forms(model, np.zeros(N, dtype=complex))
    with pytest.raises(TypeError, match="model"):
        step_forms("model", np.zeros(N))


def test_overflow_in_derivatives_raises_not_nan():
    """Finite but huge weights: states stay finite (tanh saturates) while
    products overflow; every entry point raises instead of returning NaN."""
    from sntk_ref.kernel import output_ntk, sntk
    from sntk_ref.model import RNN
    from sntk_ref.optim import LowRankNaturalGradient, train

    rng = np.random.default_rng(3)
    model = RNN.random(5, 2, 1, cell="euler", dt=0.5, rng=rng)
    model = model.replace(W=1e200 * np.ones((5, 5)), C=1e200 * np.ones((1, 5)))
    X = rng.standard_normal((2, 4, 2))
    Y = rng.standard_normal((2, 4, 1))
    with np.errstate(all="ignore"):
        # the loss (|C h|^2 ~ 1e400) and the kernel (J J^T ~ 1e400) overflow
        for call in (lambda: loss_and_grad(model, X, Y),
                     lambda: sntk(model, X),
                     lambda: output_ntk(model, X)):
            with pytest.raises(FloatingPointError, match="not finite"):
                call()
        # the rest either return finite values or raise; never NaN or inf
        for call in (lambda: state_jacobian(model, X),
                     lambda: jvp(model, X, np.ones(model.n_params)),
                     lambda: vjp(model, X, np.ones((2, 4, 5)))[0]):
            try:
                out = call()
            except FloatingPointError as err:
                assert "not finite" in str(err)
            else:
                assert np.isfinite(out).all()
        record = train(model, X, Y, LowRankNaturalGradient(0.1), 3)
    assert record.status == "nonfinite"
