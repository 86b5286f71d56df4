"""The two recurrent cells, their step Jacobians and parameter derivatives.

SPEC 1.1, 2.1 and 2.4. Letters: ``B`` sequences, ``N`` hidden units, ``D``
inputs. Every function here works on plain arrays for one time step of a batch
(``h (B, N)``, ``x (B, D)``); nothing here knows about models or time. The
derivative rules also take ``K`` vectors per sequence at once, ``(B, K, N)``,
so that several directions or cotangents cost one product per step.

Both cells share one shape, which is what makes their derivatives short::

    elman:  F(h) = tanh(W h + U x + b)
    euler:  F(h) = (1 - dt) h + dt (W tanh(h) + U x + b)

    dF = A dh + g * (dW r + dU x + db)

with the *presynaptic* vector ``r`` (``h`` for elman, ``tanh(h)`` for euler)
and the *gain* ``g`` (``1 - F^2`` for elman, the constant ``dt`` for euler).
So ``D_t dtheta = g * (dW r + dU x + db)`` and its transpose
``D_t^T lam = (outer(g lam, r), outer(g lam, x), g lam)`` — never a dense
``D_t`` (SPEC 2.1).

State Jacobians, applied without forming them::

    elman:  A v = g * (W v)                        A^T u = W^T (g * u)
    euler:  A v = (1 - dt) v + dt W (phi'(h) v)    A^T u = (1 - dt) u
                                                          + dt phi'(h) (W^T u)
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = [
    "CELLS",
    "Directions",
    "StepCache",
    "add_D_T",
    "apply_A",
    "apply_A_T",
    "d2tanh",
    "d3tanh",
    "directions",
    "dtanh",
    "matmul_rows",
    "step",
    "tangent_step",
]

#: The cell names, in the order they are documented.
CELLS = ("elman", "euler")


def dtanh(t):
    """``tanh'`` written through ``t = tanh(z)``: ``1 - t^2`` (SPEC 2.4)."""
    return 1.0 - t * t


def d2tanh(t):
    """``tanh''`` through ``t = tanh(z)``: ``-2 t (1 - t^2)``."""
    return -2.0 * t * (1.0 - t * t)


def d3tanh(t):
    """``tanh'''`` through ``t = tanh(z)``: ``-2 (1 - t^2)(1 - 3 t^2)``."""
    return -2.0 * (1.0 - t * t) * (1.0 - 3.0 * t * t)


@dataclass(frozen=True)
class StepCache:
    """What one step keeps for its derivatives.

    Attributes
    ----------
    r : ndarray, shape (B, N)
        Presynaptic vector multiplied by ``W``: ``h`` (elman) or ``tanh(h)``
        (euler).
    x : ndarray, shape (B, D)
        The step's input.
    g : ndarray, shape (B, N)
        Gain multiplying ``W r + U x + b`` in ``dF``: ``1 - F(h)^2`` (elman) or
        ``dt`` everywhere (euler).
    slope : ndarray, shape (B, N) or None
        ``tanh'(h)`` for euler (``None`` for elman).
    """

    r: np.ndarray
    x: np.ndarray
    g: np.ndarray
    slope: np.ndarray = None


def step(cell, h, x, W, U, b, dt):
    """One step ``h' = F(h, x)`` of a batch, with the cache for derivatives.

    Parameters
    ----------
    cell : {"elman", "euler"}
    h : ndarray, shape (B, N)
    x : ndarray, shape (B, D)
    W : ndarray, shape (N, N)
    U : ndarray, shape (N, D)
    b : ndarray, shape (N,)
    dt : float
        Euler step (ignored by elman).

    Returns
    -------
    h_next : ndarray, shape (B, N)
    cache : StepCache

    Notes
    -----
    ``np.tanh`` saturates to exactly ``±1`` for huge arguments, so
    ``tanh'`` is exactly 0 there and no NaN can come from the nonlinearity.
    """
    drive = x @ U.T + b
    if cell == "elman":
        h_next = np.tanh(h @ W.T + drive)
        return h_next, StepCache(r=h, x=x, g=dtanh(h_next))

    r = np.tanh(h)
    h_next = (1.0 - dt) * h + dt * (r @ W.T + drive)
    g = np.full_like(h, dt)
    return h_next, StepCache(r=r, x=x, g=g, slope=dtanh(r))


def apply_A(cell, cache, W, dt, v):
    """State Jacobian times vectors, ``A v`` (SPEC 1.1).

    Parameters
    ----------
    v : ndarray, shape (B, N) or (B, K, N)
        One vector per sequence, or ``K`` vectors per sequence at once.

    Returns
    -------
    Av : ndarray, same shape as ``v``
    """
    if cell == "elman":
        return _per_sequence(cache.g, v) * matmul_rows(v, W.T)
    sv = _per_sequence(cache.slope, v) * v
    return (1.0 - dt) * v + dt * matmul_rows(sv, W.T)


def apply_A_T(cell, cache, W, dt, u):
    """Transposed state Jacobian times vectors, ``A^T u`` (SPEC 2.2).

    Parameters
    ----------
    u : ndarray, shape (B, N) or (B, C, N)
        One vector per sequence, or ``C`` vectors per sequence at once.

    Returns
    -------
    ATu : ndarray, same shape as ``u``
    """
    if cell == "elman":
        return matmul_rows(_per_sequence(cache.g, u) * u, W)
    return (1.0 - dt) * u + dt * _per_sequence(cache.slope, u) * matmul_rows(
        u, W)


def _per_sequence(a, v):
    """``a (B, N)`` shaped to broadcast against ``v (B, N)`` or ``(B, K, N)``."""
    return a if v.ndim == 2 else a[:, None, :]


def matmul_rows(v, M):
    """``v @ M`` on the last axis of ``v (..., N)``, as one 2-D product.

    ``M : (N, m)``; the result has shape ``(..., m)``. Stacked vectors
    become rows of a single GEMM instead of a loop of small ones (what
    ``@`` does for stacked arrays), whose per-call overhead dominates at
    small ``B`` and ``N``.
    """
    return (v.reshape(-1, v.shape[-1]) @ M).reshape(v.shape[:-1] + M.shape[1:])


@dataclass(frozen=True)
class Directions:
    """``K`` parameter directions laid out for :func:`tangent_step`.

    Built by :func:`directions`. Each block is stored transposed, the ``K``
    directions side by side, so that ``D_t`` of all of them is one product
    per block.

    Attributes
    ----------
    n_dirs : int
        ``K``.
    W_T : ndarray, shape (N, K N) or None
        Columns ``k N`` to ``(k + 1) N`` hold ``dW_k^T``.
    U_T : ndarray, shape (D, K N) or None
        Likewise ``dU_k^T``.
    b : ndarray, shape (K, N) or None
    """

    n_dirs: int
    W_T: Optional[np.ndarray] = None
    U_T: Optional[np.ndarray] = None
    b: Optional[np.ndarray] = None


def directions(n_dirs, dW=None, dU=None, db=None):
    """Lay out ``K`` directions for :func:`tangent_step`.

    Parameters
    ----------
    n_dirs : int
        ``K``.
    dW : ndarray, shape (K, N, N), or None
    dU : ndarray, shape (K, N, D), or None
    db : ndarray, shape (K, N), or None
        A block given as ``None`` is not trainable and contributes nothing.

    Returns
    -------
    dirs : Directions
    """
    def side_by_side(block):
        if block is None:
            return None
        return np.ascontiguousarray(block.transpose(2, 0, 1)).reshape(
            block.shape[2], -1)

    return Directions(n_dirs, side_by_side(dW), side_by_side(dU), db)


def tangent_step(cell, cache, W, dt, dh, dirs):
    """The differential of one step along ``K`` directions (SPEC 2.1, 2.3).

    ``dh' = A dh + D_t v_k``, which for both cells is::

        dh' = c dh + g * (W p + dW_k r + dU_k x + db_k)

    with ``p = dh``, ``c = 0`` (elman) or ``p = phi'(h) dh``, ``c = 1 - dt``
    (euler): the forms of ``A`` and ``D_t`` in the module docstring with
    their common gain ``g`` applied once.

    Parameters
    ----------
    dh : ndarray, shape (B, K, N)
        Tangents of the step's input state.
    dirs : Directions

    Returns
    -------
    dh_next : ndarray, shape (B, K, N)
    """
    euler = cell == "euler"
    p = cache.slope[:, None, :] * dh if euler else dh
    z = matmul_rows(p, W.T)
    if dirs.W_T is not None:
        z += (cache.r @ dirs.W_T).reshape(z.shape)
    if dirs.U_T is not None:
        z += (cache.x @ dirs.U_T).reshape(z.shape)
    if dirs.b is not None:
        z += dirs.b
    z *= cache.g[:, None, :]
    return z + (1.0 - dt) * dh if euler else z


def add_D_T(cache, lam, sums):
    """Add the transposed parameter derivative ``D_t^T lam`` to running sums.

    ``D_t^T lam = (outer(g lam, r), outer(g lam, x), g lam)``, summed over
    the batch (SPEC 2.2). The ``W`` and ``U`` blocks are kept transposed, so
    that the terms of all ``C`` cotangents are one product.

    Parameters
    ----------
    lam : ndarray, shape (B, N) or (B, C, N)
        State cotangent(s) of the step's output.
    sums : dict of str to ndarray
        Updated in place; any of ``"W_T"`` of shape ``(N, N)`` or ``(N, C,
        N)`` (``sums["W_T"][j, c, i]`` is the ``(i, j)`` entry of copy
        ``c``'s ``W`` block), ``"U_T"`` of shape ``(D, N)`` or ``(D, C, N)``
        and ``"b"`` of shape ``(N,)`` or ``(C, N)``. Absent keys are skipped.

    Returns
    -------
    glam : ndarray, shape of ``lam``
        ``g * lam``, the cotangent of the step's drive ``W r + U x + b``.
    """
    glam = _per_sequence(cache.g, lam) * lam
    flat = glam.reshape(glam.shape[0], -1)
    if "W_T" in sums:
        sums["W_T"] += (cache.r.T @ flat).reshape(sums["W_T"].shape)
    if "U_T" in sums:
        sums["U_T"] += (cache.x.T @ flat).reshape(sums["U_T"].shape)
    if "b" in sums:
        sums["b"] += glam.sum(axis=0)
    return glam
