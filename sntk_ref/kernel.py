"""The state-space NTK: dense assembly, matrix-free product, output kernel, views.

SPEC 3.1-3.3. Letters: ``B`` sequences, ``T`` steps, ``D`` inputs, ``N``
hidden units, ``O`` outputs, ``P`` trainable parameters, ``S`` selected time
steps (``S = T`` unless ``times`` is given), ``M = B S N`` rows of the
flattened kernel. ``J_t = dH[:, t] / dtheta``, ``A_t`` and ``D_t`` are the
state and parameter Jacobians of the step that produces ``H[:, t]``
(SPEC 2.1), so ``J_t = A_t J_{t-1} + D_t`` with ``J_{-1} = dh0/dtheta``.

The kernel (SPEC 3.1), no averaging and no normalisation::

    K[b, t, i, b', s, j] = sum_p J[b, t, i, p] J[b', s, j, p]

Two dense constructions that agree to round-off (SPEC 3.2):

- ``method="jacobian"``: the RTRL Jacobian, then ``J J^T`` with one
  symmetric BLAS product (``dsyrk``, which numpy uses for ``a @ a.T``) per
  diagonal block of rows and a GEMM for the rest of the block row; the
  other triangle is a copy, so ``K`` is exactly symmetric;
- ``method="recursion"``: never forms ``J``. With ``Kp(t, u) = D_t D_u^T``
  (diagonal, in closed form) and the cross term ``Y(t, u) = D_t J_u^T``
  (``X(u, t)^T`` in SPEC 3.2)::

      Y(t, u) = Y(t, u-1) A_u^T + Kp(t, u),          Y(t, -1) = 0
      K(t, u) = A_t K(t-1, u) + Y(t, u),             K(-1, u) = J_{-1} J_u^T

  This is the one-sided form of SPEC 3.2's symmetric recursion (one GEMM
  per step instead of two). ``K(-1, u)`` is zero unless ``h0`` is
  trainable; then it is the transpose of ``dH[:, u]/dh0``
  (``J_{-1} J_{-1}^T = I``). Each step is one GEMM with an ``N x N`` matrix
  over a whole row of time pairs, so the cost is ``O((B T)^2 N^3)``, about
  ``N`` times less than the ``jacobian`` route when ``W`` is trainable. The
  rows run over the upper triangle ``u >= t`` only (it is closed under the
  recursion), which is then copied onto the lower one.

The matrix-free route is :func:`sntk_operator` (``K q = J (J^T q)``, one VJP
and one JVP per product). :func:`output_ntk` is the kernel of the outputs
``y = C h + d``.

Memory: every dense request is sized before anything large is allocated and
refused with :class:`KernelMemoryError` when it would exceed ``max_bytes``
(default :data:`MEMORY_FRACTION` of the available memory). float64 only;
there is no reduced-precision path.
"""

import dataclasses

import numpy as np
from scipy.linalg.blas import dsyrk
from scipy.sparse.linalg import LinearOperator

from . import _validation as val
# the budget lives below derivatives; re-exported here under the same names
from ._memory import (FALLBACK_MAX_BYTES, FLOAT_BYTES,  # noqa: F401
                      MEMORY_FRACTION, KernelMemoryError, check_budget,
                      default_max_bytes, refuse_if_over)
from .cells import apply_A
from .derivatives import forward_sweep, reverse_sweep, rtrl_sweep
from .trajectories import check_inputs, rollout

__all__ = [
    "KernelMemoryError",
    "default_max_bytes",
    "output_ntk",
    "sntk",
    "sntk_operator",
    "space_kernel",
    "time_block",
    "time_diagonal",
    "time_kernel",
]

#: Ways to assemble the dense kernel (SPEC 3.2).
METHODS = ("jacobian", "recursion")

#: Working memory for one block of sequences when ``block_size`` is not
#: given and a block's intermediates are not part of the result (64 MiB).
BLOCK_WORK_BYTES = 64 * 2**20

#: Rows per chunk when one triangle of a kernel is copied onto the other
#: (small chunks keep the transposed copy in cache).
SYMMETRIZE_ROWS = 64


# -- argument checks and sizing ----------------------------------------------
def _check_times(times, T):
    """Selected steps as an int array ``(S,)``, negative indices resolved."""
    if times is None:
        return np.arange(T)
    sel = np.asarray(times)
    if sel.ndim == 0:
        sel = sel[None]
    if not np.issubdtype(sel.dtype, np.integer) or sel.ndim != 1:
        raise TypeError(
            f"times must be an integer or a 1-D sequence of integers, got "
            f"{times!r}"
        )
    if sel.size == 0 or sel.min() < -T or sel.max() >= T:
        raise ValueError(
            f"times must be non-empty with every entry in [-T, T) = [{-T}, {T}),"
            f" got {sel.tolist()}"
        )
    sel = sel % T
    if np.unique(sel).size != sel.size:
        raise ValueError(f"times must not repeat a step, got {sel.tolist()}")
    return sel


def _default_block(per_sequence, B):
    """Sequences per block so one block's intermediates fit the work budget."""
    return int(min(B, max(1, BLOCK_WORK_BYTES // max(per_sequence, 1))))


def _plan(model, B, T, sel, method, block_size, n_out=None):
    """Block size and the bytes a dense request needs, result included.

    ``n_out`` set: the output kernel (``O = n_out`` rows per state) instead
    of the state kernel.
    """
    n, P, S = model.n_hidden, model.n_params, len(sel)
    M = B * S * n
    every_step = np.array_equal(sel, np.arange(T))

    if method == "jacobian":
        # the stored J[:, sel], then J_y and Theta or K; a block's full-time
        # Jacobian too unless it is the stored J itself
        width = n if n_out is None else n_out
        per_seq = FLOAT_BYTES * T * n * P
        if block_size is None:
            block_size = B if every_step else _default_block(per_seq, B)
        rows, total = block_size * S * width, B * S * width
        needed = FLOAT_BYTES * (M * P + total * total)
        if n_out is not None:
            needed += FLOAT_BYTES * total * P
        if block_size < B or not every_step:
            needed += per_seq * block_size + FLOAT_BYTES * rows * (rows + total)
        return block_size, needed

    # recursion: K, and per sequence of a block its cross terms and their
    # running state (with temporaries); the rows of K; the dense A_t
    per_seq = FLOAT_BYTES * (T * n * M + 3 * B * T * n * n)
    if block_size is None:
        block_size = _default_block(per_seq, B)
    rows = 3 * block_size * n * M
    needed = FLOAT_BYTES * (M * M + rows + B * T * n * n) + per_seq * block_size
    if n_out is not None:
        needed += FLOAT_BYTES * (B * S * n_out) ** 2
    return block_size, needed


# -- helpers shared by the dense routes --------------------------------------
def _ranges(size, step):
    """Consecutive slices of ``step`` indices (the last may be shorter)."""
    return [slice(s, min(s + step, size)) for s in range(0, size, step)]


def _slice_caches(caches, sl):
    """The step caches of a block of sequences (views, no copies)."""
    def part(cache):
        slope = None if cache.slope is None else cache.slope[sl]
        return dataclasses.replace(cache, r=cache.r[sl], x=cache.x[sl],
                                   g=cache.g[sl], slope=slope)
    return [part(cache) for cache in caches]


def _mirror(K, upper=False):
    """Copy one triangle of a square ``K`` onto the other, in place.

    ``upper=False`` copies the lower triangle onto the upper one,
    ``upper=True`` the reverse; a chunk of rows at a time. Afterwards ``K``
    is exactly symmetric.
    """
    for rows in _ranges(K.shape[0], SYMMETRIZE_ROWS):
        diag = K[rows, rows]
        if upper:
            diag[...] = np.triu(diag) + np.triu(diag, 1).T
            K[rows.stop:, rows] = K[rows, rows.stop:].T
        else:
            diag[...] = np.tril(diag) + np.tril(diag, -1).T
            K[rows, rows.stop:] = K[rows.stop:, rows].T


def _gram(J, rows):
    """``K = J J^T`` for ``J (M, P)`` in diagonal blocks of ``rows`` rows.

    The lower triangle block by block, then copied onto the upper one, so
    ``K`` is exactly symmetric. A diagonal block ``J_r J_r^T`` is one
    symmetric rank-``P`` update: numpy hands ``a @ a.T`` to BLAS ``dsyrk``;
    the rest of a block row is one GEMM.
    """
    M = J.shape[0]
    if rows >= M:
        # numpy computes ``a @ a.T`` with dsyrk and copies the triangle
        # itself, so the result is already exactly symmetric (tested)
        return J @ J.T

    K = np.empty((M, M))
    for r in _ranges(M, rows):
        Jr = J[r]
        K[r, r] = Jr @ Jr.T
        np.matmul(Jr, J[:r.start].T, out=K[r, :r.start])
    _mirror(K)
    return K


def add_parameter_gram(G, M):
    """``G += M^T M`` on the upper triangle, one BLAS ``dsyrk``, in place.

    Internal API (used by :mod:`sntk_ref.channels` and
    :mod:`sntk_ref.analysis`): the ``P x P`` Gram ``J^T J`` whose nonzero
    spectrum is that of ``K = J J^T`` (SPEC 3.4), accumulated over chunks of
    rows of ``J``. Only the upper triangle of ``G`` is updated; see
    :func:`symmetric_from_upper`.

    Parameters
    ----------
    G : ndarray, shape (P, P), float64, Fortran order
        Updated in place (and returned).
    M : ndarray, shape (m, P)
        A chunk of rows; ``M.T`` is passed to BLAS, so a C-ordered ``M`` is
        not copied.

    Returns
    -------
    G : ndarray, shape (P, P)
    """
    return dsyrk(1.0, M.T, beta=1.0, c=G, trans=0, overwrite_c=1)


def symmetric_from_upper(G):
    """The symmetric matrix whose upper triangle is that of ``G``.

    Internal API, the companion of :func:`add_parameter_gram`.

    Parameters
    ----------
    G : ndarray, shape (P, P)

    Returns
    -------
    S : ndarray, shape (P, P)
        Exactly symmetric.
    """
    return np.triu(G) + np.triu(G, 1).T


def parameter_gram(J):
    """``J^T J`` for ``J`` of shape ``(n, P)``, exactly symmetric (SPEC 3.4).

    Internal API: one :func:`add_parameter_gram` into zeros, then
    :func:`symmetric_from_upper`.

    Parameters
    ----------
    J : ndarray, shape (n, P)

    Returns
    -------
    G : ndarray, shape (P, P)
    """
    n_par = J.shape[-1]
    G = add_parameter_gram(np.zeros((n_par, n_par), order="F"), J)
    return symmetric_from_upper(G)


def _selected_jacobian(model, caches, B, sel, block_size):
    """``J[:, sel]`` flattened to ``(B S N, P)``, built a block at a time."""
    T, n, P = len(caches), model.n_hidden, model.n_params
    blocks = _ranges(B, block_size)
    if len(blocks) == 1 and np.array_equal(sel, np.arange(T)):
        return rtrl_sweep(model, caches, B).reshape(B * T * n, P)

    J = np.empty((B, len(sel), n, P))
    for sl in blocks:
        part = _slice_caches(caches, sl)
        J[sl] = rtrl_sweep(model, part, sl.stop - sl.start)[:, sel]
    return J.reshape(-1, P)


# -- the Jacobian-free recursion (SPEC 3.2) -----------------------------------
def _dense_A(model, caches, B):
    """State Jacobians ``A[b, t] (N, N)``, shape (B, T, N, N).

    ``A`` applied to the ``N`` unit vectors side by side gives ``E[b, j,
    i] = A[b, i, j]``.
    """
    n = model.n_hidden
    units = np.ascontiguousarray(np.broadcast_to(np.eye(n), (B, n, n)))
    return np.stack([apply_A(model.cell, c, model.W, model.dt,
                             units).transpose(0, 2, 1) for c in caches], axis=1)


def _kp_factors(model, caches, X):
    """``Kp(t, s) = D_t D_s^T`` in closed form (SPEC 3.2).

    ``D_t dtheta = g_t * (dW r_t + dU x_t + db)``, so ``D_t D_s^T`` is the
    diagonal ``g_t * g_s`` times ``r_t . r_s + x_t . x_s + 1``, each term
    present only when its block is trainable.

    Returns
    -------
    g : ndarray, shape (B, T, N)
    c : ndarray, shape (B, T, B, T)
    """
    g = np.stack([cache.g for cache in caches], axis=1)
    B, T = g.shape[:2]
    c = np.zeros((B * T, B * T))
    if "W" in model.trainable:
        R = np.stack([cache.r for cache in caches], axis=1).reshape(B * T, -1)
        c += R @ R.T
    if "U" in model.trainable:
        Xf = X.reshape(B * T, -1)
        c += Xf @ Xf.T
    if "b" in model.trainable:
        c += 1.0
    return g, c.reshape(B, T, B, T)


def _h0_row(model, A, sel):
    """``K(-1, u) = J_{-1} J_u^T`` for the selected ``u``, shape (N, B, S, N).

    Zero unless ``h0`` is trainable; then ``K(-1, u)[j, b, u, i]`` is
    ``Phi_b(u)[i, j]`` with ``Phi_b(u) = A_u ... A_0 = dH[b, u]/dh0``.
    """
    B, T, n = A.shape[:3]
    row = np.zeros((n, B, len(sel), n))
    if "h0" not in model.trainable:
        return row
    slot = {int(t): k for k, t in enumerate(sel)}
    Phi = np.broadcast_to(np.eye(n), (B, n, n))
    for t in range(T):
        Phi = A[:, t] @ Phi
        if t in slot:
            row[:, :, slot[t]] = Phi.transpose(2, 0, 1)
    return row


def _cross_terms(A, g, c, sl, sel):
    """Cross terms ``Y(t, u) = D_t J_u^T = X(u, t)^T`` (SPEC 3.2).

    Between the block's sequences ``k`` (every step ``t``) and every
    sequence ``b`` (selected steps ``u``), by
    ``Y(t, u) = Y(t, u-1) A_u^T + Kp(t, u)``, ``Y(t, -1) = 0``: one GEMM per
    sequence and step, over all ``t`` at once.

    Returns
    -------
    Y : ndarray, shape (nb, T, N, B S N)
        ``Y[k, t, j, (b, u, i)] = (D_t J_u^T)[j, i]`` of sequences ``k``, ``b``.
    """
    B, T, n = A.shape[:3]
    nb, slot = sl.stop - sl.start, {int(t): k for k, t in enumerate(sel)}
    Y = np.empty((nb * T * n, B, len(sel), n))
    state = np.zeros((B, nb * T * n, n))
    for u in range(T):
        state = state @ A[:, u].transpose(0, 2, 1)
        # Kp(t, u) is diagonal in the unit index
        diag = np.einsum("bktii->bkti", state.reshape(B, nb, T, n, n))
        diag += np.einsum("bi,kti,bkt->bkti", g[:, u], g[sl], c[:, u, sl])
        if u in slot:
            Y[:, :, slot[u]] = state.transpose(1, 0, 2)
    return Y.reshape(nb, T, n, -1)


def _first_columns(sel, T, n, first_column):
    """First column of row ``t`` inside the upper triangle, for every ``t``.

    Rows of a block start at flat column ``first_column``; with the steps
    selected in increasing order, row ``t`` needs only the columns of steps
    ``u >= t`` from there on (the upper triangle, which the recursion keeps
    closed). Otherwise every column is needed.
    """
    if np.any(np.diff(sel) <= 0):
        return np.zeros(T, dtype=int)
    return first_column + n * np.searchsorted(sel, np.arange(T))


def _recursion_rows(A_block, Y, row0, sel, first, out):
    """Rows ``K(t, .) = A_t K(t-1, .) + Y(t, .)`` of the block's sequences.

    Only columns from ``first[t]`` on are carried; ``out``
    (nb, S, N, B S N) receives the selected rows there.
    """
    nb, T, n = Y.shape[:3]
    slot = {int(t): k for k, t in enumerate(sel)}
    row = np.broadcast_to(row0.reshape(1, n, -1), (nb, n, row0.size // n))
    start = 0
    for t in range(T):
        row = A_block[:, t] @ row[:, :, first[t] - start:] + Y[:, t, :, first[t]:]
        start = first[t]
        if t in slot:
            out[:, slot[t], :, start:] = row


def _recursion_kernel(model, caches, X, sel, block_size):
    """The dense kernel by the Jacobian-free recursion, shape (M, M).

    The upper triangle (``u >= t``) block of rows by block of rows, then
    copied onto the lower one.
    """
    B, n, S = X.shape[0], model.n_hidden, len(sel)
    A = _dense_A(model, caches, B)
    g, c = _kp_factors(model, caches, X)
    row0 = _h0_row(model, A, sel)

    K = np.empty((B, S, n, B * S * n))
    for sl in _ranges(B, block_size):
        Y = _cross_terms(A, g, c, sl, sel)
        first = _first_columns(sel, len(caches), n, sl.start * S * n)
        _recursion_rows(A[sl], Y, row0, sel, first, K[sl])
        del Y
    K = K.reshape(B * S * n, B * S * n)
    _mirror(K, upper=True)
    return K


# -- public API ---------------------------------------------------------------
def _prepare(model, X, h0, method, block_size, max_bytes, times, what,
             n_out=None):
    """Validate a dense request, size it, refuse it or roll the model out.

    Returns ``X, sel, block_size, H, caches``.
    """
    val.check_choice("method", method, METHODS)
    X, h0 = check_inputs(model, X, h0)
    B, T = X.shape[:2]
    sel = _check_times(times, T)
    if block_size is not None:
        block_size = val.check_positive_int("block_size", block_size)

    block_size, needed = _plan(model, B, T, sel, method, block_size, n_out)
    refuse_if_over(needed, check_budget(max_bytes), what)
    H, caches = rollout(model, X, h0)
    return X, sel, block_size, H, caches


def sntk(model, X, h0=None, method="jacobian", block_size=None, max_bytes=None,
         *, times=None):
    """The state-space NTK ``K = J J^T`` (SPEC 3.1, assembled as in 3.2).

    Parameters
    ----------
    model : RNN
        Any cell and any trainable subset; the readout blocks ``C``, ``d``
        do not move the states and contribute nothing.
    X : array_like, shape (B, T, D)
        Inputs (upcast to float64).
    h0 : array_like, shape (N,) or (B, N), optional
        Initial state; ``model.h0`` when omitted (required if ``h0`` is
        trainable).
    method : {"jacobian", "recursion"}
        ``"jacobian"``: RTRL ``J``, then one ``dsyrk`` per diagonal block;
        ``"recursion"``: the Jacobian-free recursion (never forms ``J``).
        Both agree to round-off.
    block_size : int, optional
        Sequences per block. Every block size gives the same kernel to
        round-off. Default: all sequences for ``"jacobian"`` over every step
        (the block's Jacobian is then the stored ``J``), otherwise as many as
        keep one block's intermediates within :data:`BLOCK_WORK_BYTES`.
    max_bytes : float, optional
        Memory budget of the result plus intermediates; default
        :func:`default_max_bytes`. A larger request raises
        :class:`KernelMemoryError` before anything large is allocated.
    times : int or sequence of int, optional
        Steps to keep, distinct (negative counts from the end; ``times=-1``
        is the final-state kernel). Default all ``T``; ``S = len(times)``.

    Returns
    -------
    K : ndarray, shape (B, S, N, B, S, N)
        ``K[b, t, i, b', s, j] = sum_p J[b, t, i, p] J[b', s, j, p]``;
        exactly symmetric when flattened to ``(B S N, B S N)`` (rows
        ``(b, t, i)``).

    Raises
    ------
    KernelMemoryError
        The request would exceed ``max_bytes``; the message gives the size.

    Notes
    -----
    ``"jacobian"`` costs ``O(B T N^2 P + (B S N)^2 P)`` time and stores
    ``J[:, times]`` next to ``K``. ``"recursion"`` costs ``O((B T)^2 N^3)``
    whatever ``times`` is (the recursion runs over every step) and stores
    the cross terms of one block of sequences next to ``K``. With a
    ``times`` selection, ``"jacobian"`` is usually the faster route.
    """
    X, sel, block_size, _, caches = _prepare(
        model, X, h0, method, block_size, max_bytes, times, f"{method} kernel")
    B, S, n = X.shape[0], len(sel), model.n_hidden

    if method == "jacobian":
        J = _selected_jacobian(model, caches, B, sel, block_size)
        K = _gram(J, block_size * S * n)
    else:
        K = _recursion_kernel(model, caches, X, sel, block_size)
    val.check_result_finite("sntk: the kernel K", K)
    return K.reshape(B, S, n, B, S, n)


def output_ntk(model, X, h0=None, method="jacobian", block_size=None,
               max_bytes=None, *, times=None):
    """The NTK of the outputs ``y = C h + d`` (SPEC 3.1).

    ``Theta = (I ⊗ C) K (I ⊗ C)^T``, plus ``(h_t . h_s) I_O`` if ``C`` is
    trainable and ``I_O`` if ``d`` is, for every pair of states.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    h0 : array_like, shape (N,) or (B, N), optional
    method : {"jacobian", "recursion"}
        ``"jacobian"`` contracts ``J_y = (I ⊗ C) J`` with itself (one
        ``dsyrk`` per diagonal block); ``"recursion"`` contracts the state
        kernel of the recursion with ``C`` on both sides.
    block_size, max_bytes, times
        As for :func:`sntk`; the budget includes ``Theta``.

    Returns
    -------
    Theta : ndarray, shape (B, S, O, B, S, O)
        Exactly symmetric when flattened to ``(B S O, B S O)``.
    """
    X, sel, block_size, H, caches = _prepare(
        model, X, h0, method, block_size, max_bytes, times, "output kernel",
        n_out=model.n_out)
    B, S, n, O, C = X.shape[0], len(sel), model.n_hidden, model.n_out, model.C

    if method == "jacobian":
        J = _selected_jacobian(model, caches, B, sel, block_size)
        Jy = (C @ J.reshape(B * S, n, -1)).reshape(B * S * O, -1)
        Theta = _gram(Jy, block_size * S * O).reshape(B, S, O, B, S, O)
    else:
        K = _recursion_kernel(model, caches, X, sel, block_size)
        K = K.reshape(B * S, n, B * S, n)
        Theta = np.ascontiguousarray(np.einsum("oi,aibj,pj->aobp", C, K, C))
        Theta = Theta.reshape(B, S, O, B, S, O)

    # the readout's own parameters: ([C] h_t . h_s + [d] 1) I_O
    readout = np.zeros((B, S, B, S))
    if "C" in model.trainable:
        Hs = H[:, sel]
        readout += np.einsum("btn,csn->btcs", Hs, Hs)
    if "d" in model.trainable:
        readout += 1.0
    np.einsum("btoBso->btBso", Theta)[...] += readout[..., None]
    _mirror(Theta.reshape(B * S * O, B * S * O))
    val.check_result_finite("output_ntk: the kernel Theta", Theta)
    return Theta


class _KernelOperator(LinearOperator):
    """``K q = J (J^T q)`` over one rollout's caches (SPEC 2.3, 3.2)."""

    def __init__(self, model, caches, state_shape):
        size = int(np.prod(state_shape))
        super().__init__(dtype=np.float64, shape=(size, size))
        self._model, self._caches, self._state_shape = model, caches, state_shape

    def _matvec(self, q):
        q = np.asarray(q)
        if np.iscomplexobj(q):
            return self._matvec(q.real) + 1j * self._matvec(q.imag)
        q = np.asarray(q, dtype=np.float64).reshape(self._state_shape)

        # one VJP (BPTT) then one JVP along its result
        blocks = reverse_sweep(self._model, self._caches, q)[0]
        blocks = {k: v for k, v in blocks.items() if k in self._model.trainable}
        dH = forward_sweep(self._model, self._caches, blocks)
        return dH.ravel()

    def _rmatvec(self, q):
        return self._matvec(q)

    def _matmat(self, Q):
        cols = [self._matvec(Q[:, k]) for k in range(Q.shape[1])]
        return np.stack(cols, axis=1) if cols else np.zeros((self.shape[0], 0))

    def _adjoint(self):
        return self


def sntk_operator(model, X, h0=None):
    """The kernel as a matrix-free ``LinearOperator`` (SPEC 3.2, ``matvec``).

    Each product ``K q = J (J^T q)`` is one BPTT sweep and one forward
    sweep, ``O(B T N^2)`` time and ``O(B T N)`` memory, reusing the caches of
    a single rollout. Symmetric: ``rmatvec`` is ``matvec``.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    K : scipy.sparse.linalg.LinearOperator, shape (B T N, B T N)
        Vectors are flattened states, order ``(b, t, i)``; ``matmat`` applies
        it column by column.
    """
    X, h0 = check_inputs(model, X, h0)
    _, caches = rollout(model, X, h0)
    return _KernelOperator(model, caches, X.shape[:2] + (model.n_hidden,))


# -- views (SPEC 3.3) ---------------------------------------------------------
def _check_kernel6(K):
    """``K`` as a real array of shape (B, T, N, B, T, N), without copying."""
    K = np.asarray(K)
    if np.iscomplexobj(K) or not np.issubdtype(K.dtype, np.number):
        raise TypeError(f"K must be a real numeric array, got dtype {K.dtype}")
    if K.ndim != 6 or K.shape[:3] != K.shape[3:]:
        raise ValueError(
            f"K must have shape (B, T, N, B, T, N) (as returned by sntk), got "
            f"{K.shape}"
        )
    return K


def time_block(K, b, t, b2, s):
    """One time block ``K(t, s)`` between sequences ``b`` and ``b2`` (SPEC 3.3).

    Parameters
    ----------
    K : ndarray, shape (B, T, N, B, T, N)
    b, t, b2, s : int
        Sequence and step of the row block, then of the column block.

    Returns
    -------
    block : ndarray, shape (N, N)
        ``K[b, t, :, b2, s, :]`` (a copy).
    """
    K = _check_kernel6(K)
    B, T = K.shape[:2]
    for name, value, size in (("b", b, B), ("t", t, T), ("b2", b2, B),
                              ("s", s, T)):
        val.check_positive_int(name, value, minimum=-size)
        if value >= size:
            raise ValueError(f"{name} must be less than {size}, got {value}")
    return np.array(K[b, t, :, b2, s, :])


def time_kernel(K):
    """Trace over units, ``K_time[b, t, b', s] = sum_i K[b, t, i, b', s, i]``.

    SPEC 3.3.

    Parameters
    ----------
    K : ndarray, shape (B, T, N, B, T, N)

    Returns
    -------
    K_time : ndarray, shape (B, T, B, T)
    """
    return np.einsum("btiBsi->btBs", _check_kernel6(K))


def space_kernel(K):
    """Sum over states, ``K_space[i, j] = sum_{b, t} K[b, t, i, b, t, j]``.

    SPEC 3.3.

    Parameters
    ----------
    K : ndarray, shape (B, T, N, B, T, N)

    Returns
    -------
    K_space : ndarray, shape (N, N)
    """
    return np.einsum("btibtj->ij", _check_kernel6(K))


def time_diagonal(K):
    """Equal-time blocks ``K[b, t, :, b', t, :]`` (SPEC 3.3).

    Parameters
    ----------
    K : ndarray, shape (B, T, N, B, T, N)

    Returns
    -------
    K_diag : ndarray, shape (B, T, N, B, N)
        ``K_diag[b, t, i, b', j] = K[b, t, i, b', t, j]`` (a copy).
    """
    return np.array(np.einsum("btiBtj->btiBj", _check_kernel6(K)))
