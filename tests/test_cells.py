"""Tests of sntk_ref.cells: the one-step rules, one and ``K`` vectors at once.

Oracle: autograd's Jacobians of :func:`sntk_ref.cells.step` itself (the
forward rule), so ``A``, ``D_t`` and their transposes are each checked
against an independent differentiation, and the stacked forms against the
single-vector ones. Sizes are mutually distinct: B=3, N=5, D=2, K=4.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian

from sntk_ref.cells import (CELLS, add_D_T, apply_A, apply_A_T, directions,
                            matmul_rows, step, tangent_step)

#: Sizes: sequences, hidden units, inputs, directions.
B, N, D, K = 3, 5, 2, 4

#: Round-off level of two exact evaluations of the same derivative.
ROUNDOFF = 1e-13

#: Euler step of the tests.
DT = 0.3


def _point(seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(B, N)), rng.normal(size=(B, D)),
            rng.normal(size=(N, N)), rng.normal(size=(N, D)),
            rng.normal(size=N))


def _autograd_step(cell, x, dt):
    """``F(h, W, U, b)`` written with autograd.numpy, for its Jacobians."""
    def F(h, W, U, b):
        if cell == "elman":
            return anp.tanh(h @ W.T + x @ U.T + b)
        return (1 - dt) * h + dt * (anp.tanh(h) @ W.T + x @ U.T + b)
    return F


def _dense(cell, seed):
    """Cache, and the dense ``A (B, N, N)`` and ``D (B, N, P)`` by autograd."""
    h, x, W, U, b = _point(seed)
    cache = step(cell, h, x, W, U, b, DT)[1]
    F = _autograd_step(cell, x, DT)
    dF = [jacobian(F, i)(h, W, U, b) for i in range(4)]  # (B, N, *arg)
    A = np.stack([dF[0][s, :, s] for s in range(B)])
    D = np.concatenate([d.reshape(B, N, -1) for d in dF[1:]], axis=2)
    return cache, A, D, W


def _split(v):
    """Directions ``v (K, P)`` as the blocks ``dW, dU, db``, leading K."""
    sizes = np.cumsum([N * N, N * D])
    dW, dU, db = np.split(v, sizes, axis=1)
    return dW.reshape(K, N, N), dU.reshape(K, N, D), db


@pytest.mark.parametrize("cell", CELLS)
def test_apply_A_and_transpose_match_autograd_for_stacked_vectors(cell):
    cache, A, _, W = _dense(cell, 0)
    rng = np.random.default_rng(1)
    v = rng.normal(size=(B, K, N))
    want = np.einsum("bij,bkj->bki", A, v)
    assert np.max(np.abs(apply_A(cell, cache, W, DT, v) - want)) < ROUNDOFF
    # one vector per sequence gives the same as its column of the stack
    single = apply_A(cell, cache, W, DT, v[:, 2])
    assert np.max(np.abs(single - want[:, 2])) < ROUNDOFF

    wantT = np.einsum("bji,bkj->bki", A, v)
    assert np.max(np.abs(apply_A_T(cell, cache, W, DT, v) - wantT)) < ROUNDOFF
    single = apply_A_T(cell, cache, W, DT, v[:, 1])
    assert np.max(np.abs(single - wantT[:, 1])) < ROUNDOFF


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("blocks", [("W", "U", "b"), ("W",), ("b",), ()])
def test_tangent_step_is_A_dh_plus_D_v(cell, blocks):
    cache, A, Dmat, W = _dense(cell, 2)
    rng = np.random.default_rng(3)
    dh, v = rng.normal(size=(B, K, N)), rng.normal(size=(K, Dmat.shape[2]))
    dW, dU, db = _split(v)
    given = {"W": dW, "U": dU, "b": db}
    dirs = directions(K, *(given[n] if n in blocks else None
                           for n in ("W", "U", "b")))
    # the directions of frozen blocks are zero
    mask = np.concatenate([np.full(N * N, "W" in blocks),
                           np.full(N * D, "U" in blocks),
                           np.full(N, "b" in blocks)])
    want = (np.einsum("bij,bkj->bki", A, dh)
            + np.einsum("bip,kp->bki", Dmat, v * mask))
    got = tangent_step(cell, cache, W, DT, dh, dirs)
    assert got.shape == (B, K, N)
    assert np.max(np.abs(got - want)) < ROUNDOFF


@pytest.mark.parametrize("cell", CELLS)
def test_add_D_T_is_the_transpose_of_D_summed_over_the_batch(cell):
    cache, _, Dmat, _ = _dense(cell, 4)
    lam = np.random.default_rng(5).normal(size=(B, K, N))
    sums = {"W_T": np.zeros((N, K, N)), "U_T": np.zeros((D, K, N)),
            "b": np.zeros((K, N))}
    glam = add_D_T(cache, lam, sums)
    add_D_T(cache, lam, sums)  # running sums: twice the term

    want = 2 * np.einsum("bip,bki->kp", Dmat, lam)  # (K, P)
    dW, dU, db = _split(want)
    assert np.max(np.abs(sums["W_T"].transpose(1, 2, 0) - dW)) < ROUNDOFF
    assert np.max(np.abs(sums["U_T"].transpose(1, 2, 0) - dU)) < ROUNDOFF
    assert np.max(np.abs(sums["b"] - db)) < ROUNDOFF
    assert np.array_equal(glam, cache.g[:, None, :] * lam)

    # one cotangent per sequence; absent keys are skipped
    single = {"W_T": np.zeros((N, N))}
    add_D_T(cache, lam[:, 0], single)
    assert np.max(np.abs(single["W_T"].T - dW[0] / 2)) < ROUNDOFF


def test_matmul_rows_is_matmul_on_the_last_axis():
    rng = np.random.default_rng(6)
    v, M = rng.normal(size=(B, K, N)), rng.normal(size=(N, D))
    assert np.max(np.abs(matmul_rows(v, M) - v @ M)) < ROUNDOFF
    assert matmul_rows(np.zeros((0, K, N)), M).shape == (0, K, D)
