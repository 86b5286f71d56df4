"""Tests of sntk_ref.optim (SPEC 5, 7): damped solves, optimisers, training.

Oracles: dense ``np.linalg.solve`` / ``eigh`` / ``svd`` of ``G`` built from an
autograd Jacobian of the outputs (written out here, independent of the
package's derivatives), closed forms, and the scalar pitchfork of SPEC 5.
"""

import logging
import warnings

import autograd.numpy as anp

import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings
from hypothesis import strategies as st

from sntk_ref.derivatives import loss_and_grad
from sntk_ref.model import RNN
from sntk_ref.optim import (DampedGaussNewton, GradientDescent,
                            LowRankNaturalGradient, damped_solve,
                            gauss_newton_products, gauss_newton_step, train,
                            woodbury_solve)
from sntk_ref.trajectories import forward, loss


# -- independent oracles -------------------------------------------------------
def _ag_outputs(theta, model, X):
    """Stacked outputs ``(B T O,)`` as a function of theta, in autograd."""
    names = ("W", "U", "b", "C", "d", "h0")
    blocks = {name: getattr(model, name) for name in names}
    for name, sl in model.param_slices.items():
        blocks[name] = anp.reshape(theta[sl], getattr(model, name).shape)
    W, U, b, C, d, h0 = (blocks[k] for k in names)

    h, ys = anp.tile(h0, (X.shape[0], 1)), []
    for t in range(X.shape[1]):
        drive = anp.dot(X[:, t], U.T) + b
        if model.cell == "elman":
            h = anp.tanh(anp.dot(h, W.T) + drive)
        else:
            h = h + model.dt * (-h + anp.dot(anp.tanh(h), W.T) + drive)
        ys.append(anp.dot(h, C.T) + d)
    return anp.ravel(anp.stack(ys, axis=1))


def _dense(model, X, Y):
    """``(G, g, J_y, r)`` of SPEC 7 from the autograd Jacobian."""
    J = jacobian(_ag_outputs)(model.theta, model, X)
    r = _ag_outputs(model.theta, model, X) - Y.ravel()
    BT = X.shape[0] * X.shape[1]
    return J.T @ J / BT, J.T @ r / BT, J, r


def _problem(seed, cell="elman", n=5, n_in=2, n_out=3, B=3, T=4,
             trainable=("W", "U", "b", "C", "d")):
    rng = np.random.default_rng(seed)
    model = RNN.random(n, n_in, n_out, rng=rng, cell=cell, dt=0.5,
                       trainable=trainable)
    X = rng.normal(size=(B, T, n_in))
    Y = rng.normal(size=(B, T, n_out))
    return model, X, Y


def _rel(a, b):
    assert np.isfinite(a).all() and np.isfinite(b).all()
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# -- damped_solve on plain matrices ----------------------------------------------
@settings(max_examples=20)
@given(st.integers(1, 6), st.integers(1, 7), st.integers(0, 2**16),
       st.floats(-4.0, 2.0))
def test_damped_solve_matches_dense_solve(M, P, seed, log_lam):
    rng = np.random.default_rng(seed)
    J, r = rng.normal(size=(M, P)), rng.normal(size=M)
    lam = 10.0**log_lam * np.linalg.norm(J, 2) ** 2
    want = np.linalg.solve(J.T @ J + lam * np.eye(P), -J.T @ r)
    for form in ("primal", "dual"):
        assert _rel(damped_solve(J, r, lam, form), want) < 1e-9


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (6, 6)])
def test_damped_solve_accurate_for_every_damping(shape):
    # reference: the SVD closed form -V diag(s / (s^2 + lam)) U^T r, with a
    # rank-deficient J (rank 3) so that lam -> 0 is a genuine pseudo-inverse
    rng = np.random.default_rng(7)
    J = rng.normal(size=(shape[0], 3)) @ rng.normal(size=(3, shape[1]))
    r = rng.normal(size=shape[0])
    Us, s, Vt = np.linalg.svd(J, full_matrices=False)
    s, Us, Vt = s[:3], Us[:, :3], Vt[:3]
    norm_G = s[0] ** 2
    pinv_step = -np.linalg.pinv(J, rcond=1e-10) @ r

    for rel_lam in (1.0, 1e-2, 1e-4, 1e-6, 1e-8, 1e-12, 1e-16, 0.0):
        lam = rel_lam * norm_G
        want = -Vt.T @ ((s / (s**2 + lam)) * (Us.T @ r))
        primal = damped_solve(J, r, lam, "primal")
        dual = damped_solve(J, r, lam, "dual")
        assert _rel(primal, want) < 1e-9 and _rel(dual, want) < 1e-9
        if rel_lam >= 1e-8:
            assert _rel(primal, dual) < 1e-8
        # |delta_lam - delta_+| <= lam / s_min^2 |delta_+| (componentwise)
        assert _rel(dual, pinv_step) <= lam / s[-1] ** 2 + 1e-9


def test_damped_solve_validates():
    J, r = np.ones((2, 3)), np.ones(2)
    with pytest.raises(ValueError, match="damping"):
        damped_solve(J, r, -1.0)
    with pytest.raises(ValueError, match="form"):
        damped_solve(J, r, 1.0, form="both")
    with pytest.raises(ValueError, match="r must have shape"):
        damped_solve(J, np.ones(3), 1.0)
    with pytest.raises(ValueError, match="finite"):
        damped_solve(J * np.nan, r, 1.0)


def test_woodbury_solve_matches_dense_solve():
    rng = np.random.default_rng(4)
    U, v = rng.normal(size=(9, 4)), rng.normal(size=9)
    for lam in (3.0, 0.1, 1e-3):
        want = np.linalg.solve(lam * np.eye(9) + U @ U.T, v)
        assert _rel(woodbury_solve(U, v, lam), want) < 1e-10
    with pytest.raises(ValueError, match="damping"):
        woodbury_solve(U, v, 0.0)


# -- Gauss-Newton step of an RNN ---------------------------------------------
@pytest.mark.parametrize("cell", ["elman", "euler"])
def test_gauss_newton_step_matches_dense(cell):
    model, X, Y = _problem(1, cell=cell)
    G, g, _, _ = _dense(model, X, Y)
    norm_G = np.linalg.norm(G, 2)
    for rel_lam in (1e-3, 0.1, 1.0):
        lam = rel_lam * norm_G
        want = -0.7 * np.linalg.solve(G + lam * np.eye(len(g)), g)
        for form in ("dual", "primal"):
            got = gauss_newton_step(model, X, Y, lam, form=form, lr=0.7)
            assert _rel(got, want) < 1e-9


def test_gauss_newton_step_tends_to_pseudo_inverse_step():
    # M = B T O = 8 < P = 29: G is singular, the limit is -J^+ r
    model, X, Y = _problem(2, B=2, T=2, n=4, n_out=2, trainable=("W", "U",
                                                                    "b", "C"))
    G, _, J, r = _dense(model, X, Y)
    pinv_step = -np.linalg.pinv(J) @ r
    s_min2 = np.linalg.svd(J, compute_uv=False)[-1] ** 2 / 4.0  # of G
    for lam in (1e-6, 1e-10, 1e-14, 0.0):
        for form in ("dual", "primal"):
            step = gauss_newton_step(model, X, Y, lam * np.linalg.norm(G, 2),
                                     form=form)
            bound = lam * np.linalg.norm(G, 2) / s_min2 + 1e-8
            assert _rel(step, pinv_step) < bound


# -- low-rank natural gradient -------------------------------------------------
def test_lanczos_eigenpairs_match_dense_eigh():
    model, X, Y = _problem(3, cell="euler", n=6, n_out=2, B=2, T=5)
    G, _, _, _ = _dense(model, X, Y)
    vals, vecs = np.linalg.eigh(G)
    vals, vecs = vals[::-1], vecs[:, ::-1]

    opt = LowRankNaturalGradient(lr=0.1, rank=2)
    _, info = opt.step(model, X, Y)
    sigma, V = opt.eigenpairs
    assert info["eigen_method"] == "lanczos" and info["refreshed"]
    np.testing.assert_allclose(sigma, vals[:2], rtol=1e-8)
    assert abs(info["sigma_ref"] - vals[2]) <= 1e-8 * vals[2]
    cosines = np.abs(np.sum(V * vecs[:, :2], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-8)


@pytest.mark.parametrize("rank", [1, 2])
def test_low_rank_step_matches_dense_formula(rank):
    model, X, Y = _problem(5, cell="euler", n=6, n_out=2, B=2, T=5)
    G, g, _, _ = _dense(model, X, Y)
    vals, vecs = np.linalg.eigh(G)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    V, lam, lr = vecs[:, :rank], 1e-3, 0.3
    scale = vals[rank] / (vals[:rank] + lam)
    want = -lr * (g - V @ (V.T @ g) + V @ (scale * (V.T @ g)))

    opt = LowRankNaturalGradient(lr=lr, rank=rank, damping=lam)
    new, _ = opt.step(model, X, Y)
    assert _rel(new.theta - model.theta, want) < 1e-8


@pytest.mark.parametrize("sigma_ref", [1.0, 2.5])
def test_low_rank_with_full_rank_is_damped_gauss_newton(sigma_ref):
    # r = P: V V^T = I, so dtheta = -eta sigma_ref (G + lam I)^{-1} g
    model, X, Y = _problem(6, n=3, n_in=2, n_out=2, B=2, T=3)
    G, g, _, _ = _dense(model, X, Y)
    P, lam, lr = model.n_params, 1e-2, 0.4
    want = -lr * sigma_ref * np.linalg.solve(G + lam * np.eye(P), g)

    opt = LowRankNaturalGradient(lr=lr, rank=P, sigma_ref=sigma_ref,
                                 damping=lam)
    new, info = opt.step(model, X, Y)
    assert info["eigen_method"] == "dense"
    assert _rel(new.theta - model.theta, want) < 1e-9
    if sigma_ref == 1.0:
        gn = DampedGaussNewton(lr=lr, damping=lam).step(model, X, Y)[0]
        assert _rel(new.theta - model.theta, gn.theta - model.theta) < 1e-9


def test_low_rank_cache_semantics():
    model, X, Y = _problem(7, cell="euler", n=6, n_out=2, B=2, T=5)
    opt = LowRankNaturalGradient(lr=0.1, rank=1)
    new1, info1 = opt.step(model, X, Y)
    new2, info2 = opt.step(model, X, Y)
    fresh = LowRankNaturalGradient(lr=0.1, rank=1).step(model, X, Y)[0]
    assert info1["refreshed"] and not info2["refreshed"]
    assert info2["matvecs"] == 0
    assert np.array_equal(new1.theta, new2.theta)
    assert np.array_equal(new1.theta, fresh.theta)

    # refresh_every = 2: eigenpairs of state 0 serve state 1, not state 2
    amortised = LowRankNaturalGradient(lr=0.1, rank=1, refresh_every=2)
    states, refreshed = [model], []
    for _ in range(3):
        new, info = amortised.step(states[-1], X, Y)
        states.append(new)
        refreshed.append(info["refreshed"])
    assert refreshed == [True, False, True]

    # a repeated step at an already served state is identical, whatever
    # refresh_every (the counter counts distinct states, not calls)
    repeat = LowRankNaturalGradient(lr=0.1, rank=1, refresh_every=2)
    m1 = repeat.step(model, X, Y)[0]
    a, info_a = repeat.step(m1, X, Y)
    b, info_b = repeat.step(m1, X, Y)
    assert not info_a["refreshed"] and not info_b["refreshed"]
    assert np.array_equal(a.theta, b.theta)
    # other inputs always refresh
    info = amortised.step(states[-1], X[:1], Y[:1])[1]
    assert info["refreshed"]


# -- the fused sweeps and the subspace eigensolver -----------------------------
@pytest.mark.parametrize("cell", ["elman", "euler"])
@pytest.mark.parametrize("K", [0, 1, 3])
def test_gauss_newton_products_match_dense(cell, K):
    # every block trainable, h0 included; distinct sizes N=5, D=2, O=3, B=3,
    # T=4, K; oracle: autograd J_y, G = J^T J / (B T), and loss_and_grad
    model, X, Y = _problem(14, cell=cell, trainable=("W", "U", "b", "C", "d",
                                                      "h0"))
    G, g_dense, _, r = _dense(model, X, Y)
    V = np.random.default_rng(15).normal(size=(model.n_params, K))
    L, g, GV = gauss_newton_products(model, X, Y, V)

    assert GV.shape == (model.n_params, K)
    if K:
        assert _rel(GV, G @ V) < 1e-12
    L_ref, g_ref = loss_and_grad(model, X, Y)
    assert abs(L - L_ref) <= 1e-14 * L_ref and abs(L - 0.5 * r @ r / 12) < 1e-13
    assert _rel(g, g_ref) < 1e-12 and _rel(g, g_dense) < 1e-12


def test_gauss_newton_products_validates():
    model, X, Y = _problem(16)
    with pytest.raises(ValueError, match="V must have"):
        gauss_newton_products(model, X, Y, np.ones((model.n_params + 1, 2)))


def _dense_eigh(model, X, Y):
    vals, vecs = np.linalg.eigh(_dense(model, X, Y)[0])
    return vals[::-1], vecs[:, ::-1]


@pytest.mark.parametrize("rank", [1, 2])
def test_subspace_refresh_converges_to_tol(rank):
    # a refresh iterates subspace iteration with block k = r + 1 + 2 until
    # the Ritz residuals of the r + 1 pairs used are below tol; the residual
    # of pair i falls like (s_{k+1} / s_i) per sweep, so a cold start needs
    # about log(tol) / log(rho), rho = s_{k+1} / s_{r+1}, sweeps
    model, X, Y = _problem(17, cell="euler", n=6, n_out=2, B=2, T=5)
    vals, vecs = _dense_eigh(model, X, Y)
    k, tol = rank + 3, 1e-9
    predicted = np.log(tol) / np.log(vals[k] / vals[rank])
    opt = LowRankNaturalGradient(lr=0.1, rank=rank, eigensolver="subspace",
                                 tol=tol)
    info = opt.step(model, X, Y)[1]

    assert info["converged"] and info["eigen_method"] == "subspace"
    assert 0.5 * predicted <= info["sweeps"] <= 2 * predicted + 3
    assert info["matvecs"] == k * info["sweeps"]
    assert info["ritz_residuals"].shape == (rank + 1,)
    assert np.all(info["ritz_residuals"] <= tol)
    sigma, V = opt.eigenpairs
    np.testing.assert_allclose(sigma, vals[:rank], rtol=1e-12)
    assert abs(info["sigma_ref"] - vals[rank]) <= 1e-12 * vals[rank]
    cosines = np.abs(np.sum(V * vecs[:, :rank], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-12)
    # the Ritz residual is |G y - theta y| / theta, checked densely
    G = _dense(model, X, Y)[0]
    y, theta = V[:, 0], sigma[0]
    assert np.linalg.norm(G @ y - theta * y) / theta <= 2 * tol


def test_subspace_refresh_falls_back_to_lanczos_with_a_warning():
    model, X, Y = _problem(17, cell="euler", n=6, n_out=2, B=2, T=5)
    vals = _dense_eigh(model, X, Y)[0]
    opt = LowRankNaturalGradient(lr=0.1, rank=1, eigensolver="subspace",
                                 tol=1e-14, maxiter=1)
    with pytest.warns(UserWarning, match="subspace iteration did not reach"):
        info = opt.step(model, X, Y)[1]
    assert not info["converged"] and info["sweeps"] == 1
    assert info["eigen_method"] == "lanczos"
    assert abs(info["eigenvalues"][0] - vals[0]) <= 1e-9 * vals[0]
    assert abs(info["sigma_ref"] - vals[1]) <= 1e-9 * vals[0]


def test_subspace_refresh_every_and_repeated_steps():
    # the same cache rules as Lanczos: pairs serve refresh_every distinct
    # states, and a repeated step at a served state is identical
    model, X, Y = _problem(20, cell="euler", n=6, n_out=2, B=2, T=5)
    opt = LowRankNaturalGradient(lr=0.1, rank=1, eigensolver="subspace",
                                 refresh_every=2)
    m, refreshed = model, []
    for _ in range(3):
        new, info = opt.step(m, X, Y)
        again = opt.step(m, X, Y)[0]
        assert np.array_equal(new.theta, again.theta)
        refreshed.append(info["refreshed"])
        assert info["matvecs"] == (4 * info["sweeps"] if info["refreshed"]
                                   else 0)
        m = new
    assert refreshed == [True, False, True]


def test_subspace_step_is_the_low_rank_formula_with_ritz_pairs():
    model, X, Y = _problem(18, cell="euler", n=6, n_out=2, B=2, T=5)
    G, g, _, _ = _dense(model, X, Y)
    opt = LowRankNaturalGradient(lr=0.3, rank=1, damping=1e-3,
                                 eigensolver="subspace")
    new, info = opt.step(model, X, Y)
    sigma, V = opt.eigenpairs
    # the Ritz pair is a Rayleigh quotient of G, the step the SPEC 7 formula
    assert abs(V[:, 0] @ G @ V[:, 0] - sigma[0]) < 1e-12 * sigma[0]
    scale = info["sigma_ref"] / (sigma + 1e-3)
    want = -0.3 * (g - V @ (V.T @ g) + V @ (scale * (V.T @ g)))
    assert _rel(new.theta - model.theta, want) < 1e-10
    assert abs(info["loss"] - loss(model, X, Y)) < 1e-14


def test_subspace_same_seed_same_bits():
    model, X, Y = _problem(19, cell="euler", n=6, n_out=2, B=2, T=5)

    def run(rng):
        opt = LowRankNaturalGradient(lr=0.1, rank=1, eigensolver="subspace",
                                     rng=rng)
        m, out = model, []
        for _ in range(3):
            m, info = opt.step(m, X, Y)
            out.append((m.theta, info["eigenvalues"], info["sigma_ref"]))
        return out

    first, second = run(None), run(np.random.default_rng(0))
    # reset() forgets everything, the generator's draws included
    opt = LowRankNaturalGradient(lr=0.1, rank=1, eigensolver="subspace")
    opt.step(model, X, Y)
    opt.reset()
    again = opt.step(model, X, Y)[0].theta
    assert np.array_equal(again, first[0][0])
    for a, b in zip(first, second):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    other = run(np.random.default_rng(1))
    assert not np.array_equal(first[0][0], other[0][0])


@pytest.mark.parametrize("eigensolver", ["lanczos", "subspace"])
def test_low_rank_on_a_singular_G(eigensolver):
    # P = 16 > B T O = 3: G is singular. rank = P, sigma_ref = 1, no
    # damping is the pseudo-inverse step; the subspace refresh (k = P) is
    # exact after one sweep, its zero Ritz values included
    model, X, Y = _problem(21, cell="euler", n=4, n_out=1, B=1, T=3,
                           trainable=("W",))
    G, g, _, _ = _dense(model, X, Y)
    P = model.n_params
    want = -0.5 * np.linalg.pinv(G, rcond=1e-10, hermitian=True) @ g
    opt = LowRankNaturalGradient(lr=0.5, rank=P, sigma_ref=1.0, damping=0.0,
                                 eigensolver=eigensolver)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new, info = opt.step(model, X, Y)
    assert _rel(new.theta - model.theta, want) < 1e-8
    if eigensolver == "subspace":
        assert info["sweeps"] == 1 and info["converged"]
    # rank 1 with sigma_2 = 0 (B T O = 1): the subspace refresh converges
    # without a fallback (Lanczos breaks down there and falls back to dense)
    model, X, Y = _problem(22, cell="euler", n=4, n_out=1, B=1, T=1,
                           trainable=("W",))
    G = _dense(model, X, Y)[0]
    opt = LowRankNaturalGradient(lr=0.5, rank=1, eigensolver=eigensolver)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if eigensolver == "subspace" else
                              "ignore")
        info = opt.step(model, X, Y)[1]
    top = np.linalg.eigvalsh(G)[-1]
    assert abs(info["eigenvalues"][0] - top) <= 1e-8 * top
    assert abs(info["sigma_ref"]) <= 1e-8 * top


def test_lanczos_on_G_zero_falls_back_to_dense():
    # C = 0: the outputs do not depend on W, G = 0 and g = 0
    model, X, Y = _problem(23, cell="euler", n=4, n_out=1, B=2, T=3,
                           trainable=("W",))
    model = model.replace(C=np.zeros_like(model.C))
    opt = LowRankNaturalGradient(lr=0.5, rank=1)
    with pytest.warns(UserWarning, match="Lanczos failed"):
        new, info = opt.step(model, X, Y)
    assert info["eigen_method"] == "dense"
    assert np.array_equal(new.theta, model.theta)


def test_subspace_validates():
    with pytest.raises(ValueError, match="tol"):
        LowRankNaturalGradient(lr=0.1, eigensolver="subspace", tol=-1.0)
    with pytest.raises(ValueError, match="tol"):
        LowRankNaturalGradient(lr=0.1, eigensolver="subspace", tol=0.0)
    with pytest.raises(ValueError, match="maxiter"):
        LowRankNaturalGradient(lr=0.1, eigensolver="subspace", maxiter=0)
    with pytest.raises(ValueError, match="eigensolver"):
        LowRankNaturalGradient(lr=0.1, eigensolver="arnoldi")
    with pytest.raises(TypeError, match="rng"):
        LowRankNaturalGradient(lr=0.1, eigensolver="subspace", rng=3)


def test_low_rank_needs_sigma_ref_when_rank_is_P():
    model, X, Y = _problem(8, n=2, n_in=1, n_out=1, B=1, T=2,
                           trainable=("W",))
    with pytest.raises(ValueError, match="sigma_ref"):
        LowRankNaturalGradient(lr=0.1, rank=4).step(model, X, Y)


# -- shared properties ---------------------------------------------------------
def _optimisers():
    return [GradientDescent(lr=0.3),
            DampedGaussNewton(lr=0.5, damping=1e-2, form="dual"),
            DampedGaussNewton(lr=0.5, damping=1e-2, form="primal"),
            LowRankNaturalGradient(lr=0.3, rank=2, damping=1e-3),
            LowRankNaturalGradient(lr=0.3, rank=2, damping=1e-3,
                                   eigensolver="subspace")]


@pytest.mark.parametrize("index", range(5))
def test_step_invariant_under_duplicating_the_data(index):
    model, X, Y = _problem(9, cell="euler", n=6, n_out=2, B=2, T=5)
    X2, Y2 = np.concatenate([X, X]), np.concatenate([Y, Y])
    one = _optimisers()[index].step(model, X, Y)
    two = _optimisers()[index].step(model, X2, Y2)
    assert abs(one[1]["loss"] - two[1]["loss"]) < 1e-14 * one[1]["loss"]
    step1, step2 = one[0].theta - model.theta, two[0].theta - model.theta
    assert _rel(step2, step1) < 1e-8


def test_gradient_descent_step_is_minus_lr_gradient():
    model, X, Y = _problem(10)
    _, g, _, r = _dense(model, X, Y)
    new, info = GradientDescent(lr=0.25).step(model, X, Y)
    assert _rel(new.theta - model.theta, -0.25 * g) < 1e-12
    assert abs(info["loss"] - 0.5 * r @ r / 12) < 1e-14
    assert abs(info["grad_norm"] - np.linalg.norm(g)) < 1e-12


# -- training loop -------------------------------------------------------------
def test_train_records_and_stops_on_callback(caplog):
    model, X, Y = _problem(11, B=2, T=4)
    seen = []

    def callback(step, current, info):
        seen.append((step, info["loss"]))
        return step == 6

    with caplog.at_level(logging.INFO, logger="sntk_ref.optim"):
        rec = train(model, X, Y, DampedGaussNewton(lr=0.5), steps=20,
                    callback=callback, record_every=3)
    assert rec.status == "callback" and rec.success and rec.n_steps == 6
    assert list(rec.step) == [0, 3, 6]
    assert [s for s, _ in seen] == list(range(7))
    np.testing.assert_allclose(rec.loss, [seen[k][1] for k in (0, 3, 6)])
    assert np.all(np.diff(rec.loss) < 0)
    assert any("step 3" in m for m in caplog.messages)
    # the model returned is the one the callback saw last (not updated)
    assert abs(rec.final_loss - seen[-1][1]) < 1e-14


def test_train_record_matches_the_states_it_visited():
    model, X, Y = _problem(12, B=2, T=4)
    models = []
    rec = train(model, X, Y, GradientDescent(lr=0.1), steps=5,
                callback=lambda k, m, info: models.append(m))
    assert rec.status == "completed" and rec.n_steps == 5
    assert list(rec.step) == list(range(5)) and len(models) == 5
    np.testing.assert_allclose(rec.loss, [loss(m, X, Y) for m in models],
                               rtol=1e-13)
    thetas = [m.theta for m in models] + [rec.model.theta]
    np.testing.assert_allclose(
        rec.step_norm, np.linalg.norm(np.diff(thetas, axis=0), axis=1),
        rtol=1e-12)
    assert rec.final_loss == loss(rec.model, X, Y) < rec.loss[0]


def test_train_stops_on_nonfinite_with_status():
    model, X, Y = _problem(13, cell="euler", B=2, T=6)
    rec = train(model, X, Y, GradientDescent(lr=1e150), steps=10)
    assert rec.status == "nonfinite" and not rec.success
    assert rec.n_steps < 10 and np.isfinite(rec.model.theta).all()


# -- SPEC 5: the scalar pitchfork as a learning problem --------------------------
def _scalar_pitchfork(w, h0):
    """N = 1 euler cell with dt = 1: ``h' = w tanh(h)``; pitchfork at w = 1.

    Its flow ``f = -h + w tanh(h) = mu h - w h^3 / 3 + ...`` with
    ``mu = w - 1`` is the pitchfork normal form; ``h*^2 ~ 3 mu``.
    """
    return RNN("euler", [[w]], [[0.0]], [0.0], [[1.0]], [0.0], h0=[h0],
               dt=1.0, trainable=("W",))


def test_pitchfork_gradient_descent_overshoots_natural_gradient_does_not():
    # teacher mu* = 0.25 at equilibrium; student mu0 -> 0+ starts there too
    mu_star, T, n_steps, lr = 0.25, 300, 8, 0.5
    warm = forward(_scalar_pitchfork(1 + mu_star, 1.0), np.zeros((1, 300, 1)))
    h_star = warm[0, -1, 0]
    X, Y = np.zeros((1, T, 1)), np.full((1, T, 1), h_star)

    def run(opt, mu0):
        model, mus = _scalar_pitchfork(1 + mu0, h_star), []
        for _ in range(n_steps + 1):
            mus.append(model.W[0, 0] - 1.0)
            model = opt.step(model, X, Y)[0]
        return np.array(mus)

    overshoot, natural = [], []
    for mu0 in (0.04, 0.01, 0.0025):
        overshoot.append(run(GradientDescent(lr=0.3), mu0)[1] - mu_star)
        natural.append(run(DampedGaussNewton(lr=lr, damping=1e-12), mu0))
    # with r = P = 1 and sigma_ref = 1 the low-rank step is the same
    low = run(LowRankNaturalGradient(lr=lr, rank=1, sigma_ref=1.0,
                                     damping=1e-12), mu0)
    np.testing.assert_allclose(low, natural[-1], rtol=1e-8)

    # fixed-step GD: the first step jumps past mu*, further as mu0 -> 0+
    assert overshoot[0] > 0 and np.all(np.diff(overshoot) > 0)
    assert overshoot[-1] > 4 * mu_star
    # natural gradient: monotone, no overshoot, contraction ~ 1 - lr for all
    for mus in natural:
        assert np.all(np.diff(mus) > 0) and mus[-1] < mu_star
        assert mu_star - mus[-1] < 0.02 * mu_star
        ratio = (mu_star - mus[-1]) / (mu_star - mus[-2])
        assert abs(ratio - (1 - lr)) < 0.05
