"""Exact derivatives of the trajectory: BPTT, JVP, RTRL, one-step forms.

SPEC 2. Letters: ``B`` sequences, ``T`` steps, ``D`` inputs, ``N`` hidden
units, ``O`` outputs, ``P`` trainable parameters. ``A_t = dF/dh`` and
``D_t = dF/dtheta`` of the step mapping ``h_t`` to ``h_{t+1}`` (SPEC 2.1).

Three ways through the same chain rule, each written out by hand:

- reverse (BPTT, SPEC 2.2): ``lam_t = q_t + A_t^T lam_{t+1}``,
  ``J^T q = sum_t D_{t-1}^T lam_t`` — :func:`vjp`;
- forward (JVP, SPEC 2.3): ``dh_{t+1} = A_t dh_t + D_t dtheta`` — :func:`jvp`;
- forward sensitivities (RTRL, SPEC 2.1): ``J_{t+1} = A_t J_t + D_t`` —
  :func:`state_jacobian`.

Parameter vectors are in the order of SPEC 1.2; states do not depend on the
readout blocks ``C``, ``d``, whose columns of ``J`` are zero. Arrays are
validated and upcast to float64.

Internal API: :func:`pack_blocks`, :func:`pack_columns`,
:func:`reverse_sweep`, :func:`forward_sweep`,
:func:`cotangent_sweep`, :func:`tangent_sweep` and :func:`rtrl_sweep` work
on the step caches of :func:`sntk_ref.trajectories.rollout` without
validating; they are shared with :mod:`sntk_ref.kernel` and
:mod:`sntk_ref.optim` and are not exported.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _validation as val
from ._memory import FLOAT_BYTES, check_budget, refuse_if_over
from .cells import (add_D_T, apply_A, apply_A_T, d2tanh, d3tanh, directions,
                    dtanh, matmul_rows, tangent_step)
from .trajectories import check_inputs, check_model, check_targets, rollout

__all__ = [
    "StepForms",
    "jvp",
    "loss_and_grad",
    "output_jvp",
    "output_vjp",
    "state_jacobian",
    "step_forms",
    "vjp",
]

#: Ways to build the state Jacobian.
JACOBIAN_METHODS = ("rtrl", "bptt")

#: Advice given when the state Jacobian exceeds the memory budget.
JACOBIAN_ADVICE = (
    "use fewer sequences or steps, or the matrix-free products vjp/jvp"
)

#: Views of one step for :func:`step_forms`.
VIEWS = ("map", "flow")


# -- packing helpers ---------------------------------------------------------
def pack_blocks(model, blocks):
    """Concatenate a dict of block arrays into theta order (zeros if absent).

    Internal API (SPEC 1.2 parameter order). The result is complex when a
    block is (``A_theta`` with complex vectors).

    Parameters
    ----------
    model : RNN
    blocks : dict of str to ndarray
        Arrays shaped like the model's blocks (``W (N, N)``, ``U (N, D)``,
        ``b (N,)``, ...); absent trainable blocks are zeros, untrainable ones
        are ignored.

    Returns
    -------
    theta : ndarray, shape (P,)
    """
    dtype = np.result_type(np.float64, *(np.asarray(v) for v in blocks.values()))
    out = np.zeros(model.n_params, dtype=dtype)
    for name, sl in model.param_slices.items():
        if name in blocks:
            out[sl] = np.ravel(blocks[name])
    return out


def _direction_blocks(model, dtheta):
    dtheta = val.as_real_array("dtheta", dtheta, shape=(model.n_params,))
    return model.split(dtheta, "dtheta")


# -- the sweeps, several directions or cotangents at once -------------------
def tangent_sweep(model, caches, dirs, n_dirs, readout=None):
    """JVP of ``K`` directions at once over cached steps (SPEC 2.3).

    Internal API, no validation (see :func:`jvp`).
    ``dh_{t+1} = A_t dh_t + D_t v`` with the ``K`` tangents of a sequence
    side by side, so each step is one product per rule. With ``readout``
    only the projections ``M dh_{t+1}`` are kept, never the full tangents.

    Parameters
    ----------
    model : RNN
    caches : list of T step caches
        From :func:`sntk_ref.trajectories.rollout`.
    dirs : dict of str to ndarray
        The directions' blocks with a leading ``K`` axis (``W (K, N, N)``,
        ``h0 (K, N)``, ...); absent blocks are zero.
    n_dirs : int
        ``K``.
    readout : ndarray, shape (O, N), optional
        ``M``.

    Returns
    -------
    dH : ndarray, shape (B, T, K, N), or (B, T, K, O) with ``readout``
    """
    T, (n_seq, n) = len(caches), caches[0].g.shape
    drive = directions(n_dirs, dirs.get("W"), dirs.get("U"), dirs.get("b"))
    project = None if readout is None else readout.T
    dH = np.empty((n_seq, T, n_dirs, n if readout is None else len(readout)))
    dh = np.zeros((n_seq, n_dirs, n))
    if "h0" in dirs:
        dh += dirs["h0"]
    for t, cache in enumerate(caches):
        dh = tangent_step(model.cell, cache, model.W, model.dt, dh, drive)
        dH[:, t] = dh if project is None else matmul_rows(dh, project)
    return dH


def cotangent_sweep(model, caches, Q, inputs=False, readout=None):
    """BPTT of ``C`` state cotangents at once over cached steps (SPEC 2.2).

    Internal API, no validation (see :func:`vjp`).
    ``lam_t = q_t + A_t^T lam_{t+1}`` and ``J^T q = sum_t D_{t-1}^T lam_t``
    with the ``C`` cotangents of a sequence side by side, so each step is
    one product per rule. Only the trainable blocks among ``W``, ``U`` and
    ``b`` are summed. With ``readout`` the cotangents ``r_t`` are given on
    the outputs ``y = M h``, and the state cotangents ``q_t = M^T r_t`` are
    formed step by step.

    Parameters
    ----------
    model : RNN
    caches : list of T step caches
        From :func:`sntk_ref.trajectories.rollout`.
    Q : ndarray, shape (B, T, C, N), or (B, T, C, O) with ``readout``
        Cotangents of the states (or outputs).
    inputs : bool
        Also return the cotangents of the inputs.
    readout : ndarray, shape (O, N), optional
        ``M``.

    Returns
    -------
    blocks : dict of str to ndarray
        Parameter blocks of ``J^T q`` with a leading ``C`` axis (``W (C, N,
        N)``, ...), and ``h0 (C, N)`` summed over the batch.
    g_h0 : ndarray, shape (B, C, N)
        Cotangents of the initial states.
    g_X : ndarray, shape (B, T, C, D), or None
        Cotangents of the inputs, when ``inputs``.
    """
    (n_seq, T, C), n = Q.shape[:3], model.n_hidden
    shapes = {"W": (n, C, n), "U": (model.n_in, C, n)}
    sums = {name + "_T": np.zeros(shape) for name, shape in shapes.items()
            if name in model.trainable}
    if "b" in model.trainable:
        sums["b"] = np.zeros((C, n))
    g_X = np.empty((n_seq, T, C, model.n_in)) if inputs else None

    lam = np.zeros((n_seq, C, n))
    for t in reversed(range(T)):
        # cotangent of h_{t+1}: its own term plus what flows back; then h_t
        q = Q[:, t] if readout is None else matmul_rows(Q[:, t], readout)
        lam = q + lam
        glam = add_D_T(caches[t], lam, sums)
        if inputs:  # the input enters like b: dF/dx = g * U
            g_X[:, t] = matmul_rows(glam, model.U)
        lam = apply_A_T(model.cell, caches[t], model.W, model.dt, lam)

    blocks = {name: sums[name + "_T"].transpose(1, 2, 0)
              for name in shapes if name + "_T" in sums}
    if "b" in sums:
        blocks["b"] = sums["b"]
    blocks["h0"] = lam.sum(axis=0)
    return blocks, lam, g_X


def pack_columns(model, blocks, n_cols):
    """Blocks with a leading ``K`` axis as ``K`` parameter vectors (SPEC 1.2).

    Internal API; absent trainable blocks are zeros.

    Returns
    -------
    V : ndarray, shape (P, K)
    """
    out = np.zeros((model.n_params, n_cols))
    for name, sl in model.param_slices.items():
        if name in blocks:
            out[sl] = blocks[name].reshape(n_cols, -1).T
    return out


# -- reverse mode ------------------------------------------------------------
def reverse_sweep(model, caches, q, inputs=False):
    """BPTT over cached steps for a state cotangent (SPEC 2.2).

    Internal API, no validation (see :func:`vjp`); one copy of
    :func:`cotangent_sweep`.

    Parameters
    ----------
    model : RNN
    caches : list of T step caches
        From :func:`sntk_ref.trajectories.rollout`.
    q : ndarray, shape (B, T, N)
    inputs : bool
        Also return the cotangent of the inputs.

    Returns
    -------
    blocks : dict of str to ndarray
        Parameter blocks of ``J^T q`` (the trainable ones of ``W``, ``U``,
        ``b``, and ``h0`` summed over the batch).
    g_h0 : ndarray, shape (B, N)
        Cotangent of the initial states.
    g_X : ndarray, shape (B, T, D), or None
        Cotangent of the inputs, when ``inputs``.
    """
    blocks, g_h0, g_X = cotangent_sweep(model, caches, q[:, :, None],
                                        inputs=inputs)
    blocks = {name: block[0] for name, block in blocks.items()}
    return blocks, g_h0[:, 0], None if g_X is None else g_X[:, :, 0]


def vjp(model, X, q, h0=None):
    """Vector-Jacobian product by backpropagation through time (SPEC 2.2).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    q : array_like, shape (B, T, N)
        Cotangent of every state ``H[b, t]``.
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    g_theta : ndarray, shape (P,)
        ``J^T q`` in the parameter order of SPEC 1.2 (zeros for ``C``, ``d``).
    g_h0 : ndarray, shape (B, N)
        Cotangent of each sequence's initial state.
    g_X : ndarray, shape (B, T, D)
        Cotangent of each input.
    """
    X, h0 = check_inputs(model, X, h0)
    q = val.as_real_array("q", q, shape=X.shape[:2] + (model.n_hidden,))
    _, caches = rollout(model, X, h0)
    blocks, g_h0, g_X = reverse_sweep(model, caches, q, inputs=True)
    out = pack_blocks(model, blocks), g_h0, g_X
    val.check_result_finite("vjp: the cotangent J^T q", *out)
    return out


# -- forward mode ------------------------------------------------------------
def forward_sweep(model, caches, blocks):
    """JVP over cached steps for a direction given as blocks (SPEC 2.3).

    Internal API, no validation (see :func:`jvp`); one direction of
    :func:`tangent_sweep`.

    Parameters
    ----------
    model : RNN
    caches : list of T step caches
        From :func:`sntk_ref.trajectories.rollout`.
    blocks : dict of str to ndarray
        The direction ``dtheta`` split into blocks (``model.split``).

    Returns
    -------
    dH : ndarray, shape (B, T, N)
    """
    dirs = {name: block[None] for name, block in blocks.items()}
    return tangent_sweep(model, caches, dirs, 1)[:, :, 0]


def jvp(model, X, dtheta, h0=None):
    """Jacobian-vector product of the states (SPEC 2.3).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    dtheta : array_like, shape (P,)
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    dH : ndarray, shape (B, T, N)
        ``J dtheta`` reshaped.
    """
    dH = _tangents(model, X, dtheta, h0)[1]
    val.check_result_finite("jvp: the tangent J dtheta", dH)
    return dH


def _tangents(model, X, dtheta, h0):
    """Validated states ``H``, their JVP ``dH`` and ``dtheta`` as blocks."""
    X, h0 = check_inputs(model, X, h0)
    blocks = _direction_blocks(model, dtheta)
    H, caches = rollout(model, X, h0)
    return H, forward_sweep(model, caches, blocks), blocks


# -- the full Jacobian -------------------------------------------------------
def _D_columns(model):
    """Row and column indices of the nonzero entries of ``D_t`` per block.

    ``dF_i/dW_ik = g_i r_k``, ``dF_i/dU_ik = g_i x_k``, ``dF_i/db_i = g_i``:
    one row per unit, its own contiguous run of columns (SPEC 2.1).
    """
    n, n_in, sl = model.n_hidden, model.n_in, model.param_slices
    idx = {}
    if "W" in sl:
        idx["W"] = (np.repeat(np.arange(n), n), sl["W"].start + np.arange(n * n))
    if "U" in sl:
        idx["U"] = (np.repeat(np.arange(n), n_in),
                    sl["U"].start + np.arange(n * n_in))
    if "b" in sl:
        idx["b"] = (np.arange(n), sl["b"].start + np.arange(n))
    return idx


def rtrl_sweep(model, caches, n_seq):
    """Forward sensitivities ``J_{t+1} = A_t J_t + D_t`` (SPEC 2.1).

    Internal API, no validation (see :func:`state_jacobian`).

    Parameters
    ----------
    model : RNN
    caches : list of T step caches
        From :func:`sntk_ref.trajectories.rollout`.
    n_seq : int
        ``B``.

    Returns
    -------
    J : ndarray, shape (B, T, N, P)
    """
    n, P = model.n_hidden, model.n_params
    J = np.empty((n_seq, len(caches), n, P))
    # the sensitivities to the P parameters side by side, (B, P, N)
    Jt = np.zeros((n_seq, P, n))
    if "h0" in model.param_slices:
        Jt[:, model.param_slices["h0"]] = np.eye(n)
    idx = _D_columns(model)

    for t, cache in enumerate(caches):
        Jt = apply_A(model.cell, cache, model.W, model.dt, Jt)
        # D_t, scattered into its sparse positions, never built densely
        g = cache.g[:, :, None]
        values = {"W": g * cache.r[:, None, :], "U": g * cache.x[:, None, :],
                  "b": cache.g}
        for name, (rows, cols) in idx.items():
            Jt[:, cols, rows] += values[name].reshape(n_seq, -1)
        J[:, t] = Jt.transpose(0, 2, 1)
    return J


def state_jacobian(model, X, h0=None, method="rtrl", max_bytes=None):
    """The full state Jacobian ``J[b, t, i, p] = dH[b, t, i] / dtheta_p``.

    SPEC 2.1. ``method="rtrl"`` runs the forward sensitivities, exploiting the
    block sparsity of ``D_t``; ``method="bptt"`` builds ``J`` row by row from
    VJPs with unit cotangents (slow, an independent check). Both agree to
    round-off.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    h0 : array_like, shape (N,) or (B, N), optional
    method : {"rtrl", "bptt"}
    max_bytes : float, optional
        Memory budget in bytes for ``J`` and the one-step sensitivities
        ``(B, P, N)``; default :func:`sntk_ref.kernel.default_max_bytes`
        (the same rule as the kernel).

    Returns
    -------
    J : ndarray, shape (B, T, N, P)

    Raises
    ------
    KernelMemoryError
        ``J`` would exceed ``max_bytes``; raised before it is allocated, the
        message gives the size.
    """
    val.check_choice("method", method, JACOBIAN_METHODS)
    X, h0 = check_inputs(model, X, h0)
    n_seq, T, n = X.shape[0], X.shape[1], model.n_hidden

    # refuse before anything of size B T N P is allocated
    needed = FLOAT_BYTES * n_seq * n * model.n_params * (T + 1)
    refuse_if_over(needed, check_budget(max_bytes), "state Jacobian",
                   advice=JACOBIAN_ADVICE)

    _, caches = rollout(model, X, h0)
    if method == "rtrl":
        J = rtrl_sweep(model, caches, n_seq)
    else:
        J = np.empty((n_seq, T, n, model.n_params))
        q = np.zeros((n_seq, T, n))
        for index in np.ndindex(n_seq, T, n):
            q[index] = 1.0
            J[index] = pack_blocks(model, reverse_sweep(model, caches, q)[0])
            q[index] = 0.0
    val.check_result_finite("state_jacobian: J", J)
    return J


# -- through the readout -----------------------------------------------------
def readout_cotangent(H, R):
    """The readout blocks of ``J_y^T R`` (``Y = H C^T + d``, SPEC 3.1).

    Internal API (also used by :mod:`sntk_ref.optim`). ``R`` may carry
    ``C`` cotangents per output, done at once.

    Parameters
    ----------
    H : ndarray, shape (B, T, N)
    R : ndarray, shape (B, T, O) or (B, T, C, O)
        Output cotangent(s).

    Returns
    -------
    blocks : dict
        ``"C"`` of shape (O, N) and ``"d"`` of shape (O,), each with a
        leading ``C`` axis for ``C`` cotangents; :func:`pack_blocks` keeps
        only the trainable ones.
    """
    return {"C": np.einsum("bt...o,btn->...on", R, H), "d": R.sum(axis=(0, 1))}


def readout_tangent(model, H, dH, blocks):
    """``J_y dtheta`` from the state tangent: ``dH C^T + H dC^T + dd``.

    Internal API. ``dH`` and the blocks may carry ``K`` directions, done
    at once.

    Parameters
    ----------
    model : RNN
    H : ndarray, shape (B, T, N)
        States.
    dH : ndarray, shape (B, T, N) or (B, T, K, N)
        Their tangent ``J dtheta``.
    blocks : dict
        The direction's blocks (:meth:`RNN.split`: ``C (O, N)``, ``d
        (O,)``; with a leading ``K`` axis for ``K`` directions), ``C`` and
        ``d`` only when trainable.

    Returns
    -------
    dY : ndarray, shape (B, T, O) or (B, T, K, O)
    """
    return readout_block_tangent(H, matmul_rows(dH, model.C.T), blocks)


def readout_block_tangent(H, dY, blocks):
    """Add ``H dC^T + dd``, the readout blocks' part of ``J_y dtheta``, to dY.

    Internal API. ``dY (B, T, O)`` or ``(B, T, K, O)`` (with ``K``
    directions in ``blocks``) is updated in place and returned.
    """
    if "C" in blocks:
        dY += np.tensordot(H, blocks["C"], axes=(-1, -1))
    if "d" in blocks:
        dY += blocks["d"]
    return dY


def output_vjp(model, X, r, h0=None):
    """``J_y^T r`` for the outputs ``Y = H C^T + d`` (SPEC 3.1).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    r : array_like, shape (B, T, O)
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    g_theta : ndarray, shape (P,)
        Includes the ``C`` and ``d`` blocks when they are trainable.
    """
    X, h0 = check_inputs(model, X, h0)
    r = val.as_real_array("r", r, shape=X.shape[:2] + (model.n_out,))
    H, caches = rollout(model, X, h0)
    blocks = reverse_sweep(model, caches, r @ model.C)[0]
    blocks.update(readout_cotangent(H, r))
    g = pack_blocks(model, blocks)
    val.check_result_finite("output_vjp: J_y^T r", g)
    return g


def output_jvp(model, X, dtheta, h0=None):
    """``J_y dtheta`` for the outputs ``Y = H C^T + d``.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    dtheta : array_like, shape (P,)
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    dY : ndarray, shape (B, T, O)
    """
    H, dH, blocks = _tangents(model, X, dtheta, h0)
    dY = readout_tangent(model, H, dH, blocks)
    val.check_result_finite("output_jvp: J_y dtheta", dY)
    return dY


def loss_and_grad(model, X, Y_target, h0=None):
    """The loss of SPEC 1.3 and its gradient by BPTT.

    ``L = 1/(2 B T) sum_{b,t} |C h_bt + d - y*_bt|^2``.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    Y_target : array_like, shape (B, T, O)
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    L : float
    g : ndarray, shape (P,)
    """
    X, h0 = check_inputs(model, X, h0)
    Y_target = check_targets(model, X, Y_target)
    H, caches = rollout(model, X, h0)
    scale = 1.0 / (X.shape[0] * X.shape[1])

    R = H @ model.C.T + model.d - Y_target
    L = 0.5 * scale * float(np.sum(R * R))
    blocks = reverse_sweep(model, caches, scale * (R @ model.C))[0]
    blocks.update(readout_cotangent(H, scale * R))
    g = pack_blocks(model, blocks)
    val.check_result_finite("loss_and_grad: the loss or its gradient", L, g)
    return L, g


# -- multilinear forms of one step -------------------------------------------
@dataclass(frozen=True)
class StepForms:
    """Taylor forms of one step at a point (SPEC 2.4).

    ``F(h + y) = F(h) + A y + 1/2 B(y, y) + 1/6 C(y, y, y) + O(|y|^4)``.

    Attributes
    ----------
    value : ndarray, shape (N,)
        ``F(h)`` (map) or ``f(h)`` (flow).
    A : ndarray, shape (N, N)
    B : callable
        ``B(u, v) -> (N,)``, symmetric bilinear; complex vectors allowed.
    C : callable
        ``C(u, v, w) -> (N,)``, symmetric trilinear.
    dtheta : ndarray, shape (N, P)
        ``dF/dtheta`` (trainable blocks, SPEC 1.2 order; zero columns for
        ``C``, ``d``, ``h0``).
    A_theta : callable
        ``A_theta(w, v) -> (P,)``: the gradient of the bilinear ``w^T A v``
        with respect to theta at fixed ``h`` and input (no conjugation; pass
        ``conj(w)`` for ``w^H A v``).
    """

    value: np.ndarray
    A: np.ndarray
    B: Callable
    C: Callable
    dtheta: np.ndarray
    A_theta: Callable


def step_forms(model, h, x=None, view="map"):
    """Derivatives of one step at a state ``h`` and constant input ``x``.

    SPEC 2.4. ``view="map"`` gives the cell's map ``F``; ``view="flow"``
    (``euler`` only) the vector field ``f = -h + W tanh(h) + U x + b`` whose
    Euler map is ``F = h + dt f``.

    Parameters
    ----------
    model : RNN
    h : array_like, shape (N,)
    x : array_like, shape (D,), optional
        Zeros when omitted.
    view : {"map", "flow"}

    Returns
    -------
    forms : StepForms
    """
    check_model(model)
    val.check_choice("view", view, VIEWS)
    if view == "flow" and model.cell != "euler":
        raise ValueError(
            f"view='flow' needs the euler cell (a vector field); this model's "
            f"cell is {model.cell!r}"
        )
    n = model.n_hidden
    h = val.as_real_array("h", h, shape=(n,))
    x = np.zeros(model.n_in) if x is None else val.as_real_array(
        "x", x, shape=(model.n_in,))
    if model.cell == "euler":
        scale = 1.0 if view == "flow" else model.dt
        return _euler_forms(model, h, x, scale, view)
    return _elman_forms(model, h, x, model.W)


def _dtheta_dense(model, g, r, x):
    """Dense ``dF/dtheta (N, P)`` from the sparse rule ``g * (dW r + dU x + db)``."""
    n = model.n_hidden
    blocks = {
        "W": np.einsum("ij,k->ijk", np.diag(g), r),
        "U": np.einsum("ij,k->ijk", np.diag(g), x),
        "b": np.diag(g),
    }
    out = np.zeros((n, model.n_params))
    for name, sl in model.param_slices.items():
        if name in blocks:
            out[:, sl] = blocks[name].reshape(n, -1)
    return out


def _euler_forms(model, h, x, scale, view):
    """Forms of ``F = h + dt f`` (scale = dt) or of ``f`` (scale = 1)."""
    W, n = model.W, model.n_hidden
    t = np.tanh(h)
    s1, s2, s3 = dtanh(t), d2tanh(t), d3tanh(t)
    f = -h + W @ t + model.U @ x + model.b
    if view == "flow":
        value, A = f, -np.eye(n) + W * s1
    else:
        value = h + model.dt * f
        A = (1.0 - model.dt) * np.eye(n) + model.dt * W * s1

    def B(u, v):
        return scale * (W @ (s2 * u * v))

    def C(u, v, w):
        return scale * (W @ (s3 * u * v * w))

    def A_theta(w, v):
        return scale * pack_blocks(model, {"W": np.outer(w, s1 * v)})

    dtheta = _dtheta_dense(model, np.full(n, scale), t, x)
    return StepForms(value, A, B, C, dtheta, A_theta)


def _elman_forms(model, h, x, W):
    """Forms of ``F = tanh(W h + U x + b)``, with ``z`` the pre-activation."""
    z = W @ h + model.U @ x + model.b
    t = np.tanh(z)
    s1, s2, s3 = dtanh(t), d2tanh(t), d3tanh(t)

    def B(u, v):
        return s2 * (W @ u) * (W @ v)

    def C(u, v, w):
        return s3 * (W @ u) * (W @ v) * (W @ w)

    def A_theta(w, v):
        # w^T diag(s1(z)) W v, differentiated in W directly and through z
        c = w * s2 * (W @ v)
        return pack_blocks(model, {"W": np.outer(w * s1, v) + np.outer(c, h),
                             "U": np.outer(c, x), "b": c})

    dtheta = _dtheta_dense(model, s1, h, x)
    return StepForms(t, s1[:, None] * W, B, C, dtheta, A_theta)
