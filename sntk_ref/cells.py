"""The two recurrent cells, their step Jacobians and parameter derivatives.

SPEC 1.1, 2.1 and 2.4. Letters: ``B`` sequences, ``N`` hidden units, ``D``
inputs. Every function here works on plain arrays for one time step of a batch
(``h (B, N)``, ``x (B, D)``); nothing here knows about models or time.

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

import numpy as np

__all__ = [
    "CELLS",
    "StepCache",
    "apply_A",
    "apply_A_T",
    "apply_D",
    "apply_D_T",
    "dtanh",
    "d2tanh",
    "d3tanh",
    "step",
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
    v : ndarray, shape (B, N) or (B, N, K)
        One vector, or ``K`` columns, per sequence.

    Returns
    -------
    Av : ndarray, same shape as ``v``
    """
    cols = v.ndim == 3
    if cell == "elman":
        Wv = _W_times_columns(W, v) if cols else v @ W.T
        g = cache.g[..., None] if cols else cache.g
        return g * Wv

    slope = cache.slope[..., None] if cols else cache.slope
    sv = slope * v
    Wsv = _W_times_columns(W, sv) if cols else sv @ W.T
    return (1.0 - dt) * v + dt * Wsv


def _W_times_columns(W, v):
    """``W @ v[b]`` for every ``b`` of ``v (B, N, K)`` as one matrix product.

    A single GEMM over ``(N, B K)`` instead of ``B`` small ones: the batched
    form is many times slower under a threaded BLAS on a loaded machine.
    """
    n_seq, n, k = v.shape
    flat = np.ascontiguousarray(v.transpose(1, 0, 2)).reshape(n, n_seq * k)
    return (W @ flat).reshape(n, n_seq, k).transpose(1, 0, 2)


def apply_A_T(cell, cache, W, dt, u):
    """Transposed state Jacobian times a vector, ``A^T u`` (SPEC 2.2).

    Parameters
    ----------
    u : ndarray, shape (B, N)

    Returns
    -------
    ATu : ndarray, shape (B, N)
    """
    if cell == "elman":
        return (cache.g * u) @ W
    return (1.0 - dt) * u + dt * cache.slope * (u @ W)


def apply_D(cache, dW=None, dU=None, db=None):
    """Parameter derivative of one step times a direction, ``D_t dtheta``.

    ``D_t dtheta = g * (dW r + dU x + db)`` (SPEC 2.1); a block given as
    ``None`` is not trainable and contributes nothing.

    Parameters
    ----------
    dW : ndarray, shape (N, N) or None
    dU : ndarray, shape (N, D) or None
    db : ndarray, shape (N,) or None

    Returns
    -------
    out : ndarray, shape (B, N)
    """
    z = np.zeros_like(cache.g)
    if dW is not None:
        z += cache.r @ dW.T
    if dU is not None:
        z += cache.x @ dU.T
    if db is not None:
        z += db
    return cache.g * z


def apply_D_T(cache, lam):
    """Transposed parameter derivative, ``D_t^T lam``, summed over the batch.

    Parameters
    ----------
    lam : ndarray, shape (B, N)
        State cotangent of the step's output.

    Returns
    -------
    gW : ndarray, shape (N, N)
        ``sum_b outer(g lam, r)``.
    gU : ndarray, shape (N, D)
        ``sum_b outer(g lam, x)``.
    gb : ndarray, shape (N,)
        ``sum_b g lam``.
    """
    glam = cache.g * lam
    return glam.T @ cache.r, glam.T @ cache.x, glam.sum(axis=0)
