"""Gradient descent, damped Gauss-Newton, low-rank natural gradient, training.

SPEC 7. Letters: ``B`` sequences, ``T`` steps, ``O`` outputs, ``P`` trainable
parameters, ``M = B T O`` stacked outputs. ``J_y (M, P)`` is the Jacobian of
the stacked outputs, ``r (M,)`` the stacked residuals ``y - y*``, and for the
loss of SPEC 1.3

    g = grad L = J_y^T r / (B T),        G = J_y^T J_y / (B T)

(the Gauss-Newton matrix; the Fisher matrix of a unit Gaussian output model).
Both carry the batch normalisation ``1 / (B T)``, so every step here is
unchanged when the data set is duplicated.

- :func:`damped_solve` -- the damped least-squares step on a plain matrix,
  primal ``-(J^T J + lam I)^{-1} J^T r`` or dual ``-J^T (J J^T + lam I)^{-1} r``;
  Cholesky when well conditioned, a least-squares SVD solve otherwise (never
  ``inv``);
- :func:`woodbury_solve` -- ``(lam I + U U^T)^{-1} v`` through the dual solve;
- :func:`gauss_newton_step` -- ``-eta (G + lam I)^{-1} g`` for an RNN;
- :func:`gauss_newton_products` -- ``L``, ``g`` and ``G V`` for a block of
  directions from one rollout and one reverse sweep;
- :class:`GradientDescent`, :class:`DampedGaussNewton`,
  :class:`LowRankNaturalGradient` -- optimisers sharing
  ``step(model, X, Y, h0=None) -> (new_model, info)``;
- :func:`train` -- the full-batch loop, returning a :class:`TrainRecord`.
"""

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from . import _validation as val
from .cells import StepCache, apply_A, apply_A_T, apply_D_T
from .cells import step as cell_step
from .derivatives import (forward_sweep, pack_blocks, readout_cotangent,
                          readout_tangent, reverse_sweep, state_jacobian)
from .trajectories import (TrajectoryError, check_inputs, check_targets,
                           loss, rollout)

__all__ = [
    "DampedGaussNewton",
    "GradientDescent",
    "LowRankNaturalGradient",
    "TrainRecord",
    "damped_solve",
    "gauss_newton_products",
    "gauss_newton_step",
    "train",
    "woodbury_solve",
]

logger = logging.getLogger(__name__)

#: The two algebraically equal forms of the damped step (SPEC 7).
FORMS = ("dual", "primal")

#: Cholesky is used only when ``lam / (lam + |J|_F^2)``, a lower bound on the
#: reciprocal condition number of the damped Gram matrix, is at least this;
#: then its error is below ``eps / 1e-6 ~ 2e-10``. Otherwise the SVD of ``J``.
CHOLESKY_MIN_RCOND = 1e-6

#: Singular values of ``J`` at or below ``LSTSQ_RCOND * max(M, P) * s_max``
#: count as zero in the SVD fallback (numpy's ``matrix_rank`` cutoff).
LSTSQ_RCOND = float(np.finfo(np.float64).eps)

#: Default damping of :class:`DampedGaussNewton`, in the units of ``G``.
DEFAULT_GN_DAMPING = 1e-3

#: Default damping of :class:`LowRankNaturalGradient`, in the units of ``G``.
DEFAULT_LOWRANK_DAMPING = 1e-8

#: Relative tolerance of the Lanczos eigenpairs (``eigsh(tol=...)``).
LANCZOS_TOL = 1e-10

#: Eigen-refresh methods of :class:`LowRankNaturalGradient`.
EIGENSOLVERS = ("lanczos", "subspace")

#: Vectors of the subspace block beyond the ``r`` (+1 for ``sigma_{r+1}``)
#: wanted eigenpairs: oversampling speeds the iteration up (rate
#: ``sigma_{k+1} / sigma_r`` for a block of ``k``) at almost no cost.
SUBSPACE_OVERSAMPLING = 2

#: Seed of the default generator drawing the subspace method's cold start.
SUBSPACE_SEED = 0


# -- damped least squares on a plain matrix ----------------------------------
def _svd_solve(J, r, damping):
    """The damped step from the thin SVD ``J = U diag(s) V^T`` (as gelsd).

    ``delta = -V diag(s / (s^2 + lam)) U^T r``, with singular values at or
    below ``LSTSQ_RCOND * max(M, P) * s_max`` counted as zero: below that
    level they are round-off, not data. At ``lam = 0`` this is the
    minimum-norm least-squares step ``-J^+ r``, and as ``lam -> 0`` the step
    tends to it. ``J^T J`` is never formed.
    """
    U, s, Vt = scipy.linalg.svd(J, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        return np.zeros(J.shape[1])
    keep = s > LSTSQ_RCOND * max(J.shape) * s[0]
    U, s, Vt = U[:, keep], s[keep], Vt[keep]
    # s / (s^2 + lam) written so that s^2 can neither underflow nor overflow
    filt = 1.0 / (s + damping / s)
    return -Vt.T @ (filt * (U.T @ r))


def _damped_solve(J, r, damping, form):
    """:func:`damped_solve` without validation; returns ``(delta, solver)``."""
    with np.errstate(over="ignore"):  # an overflowed norm just means "SVD"
        gram_norm = float(np.sum(J * J))
    if damping > 0 and damping >= CHOLESKY_MIN_RCOND * (damping + gram_norm):
        try:
            if form == "primal":
                factor = scipy.linalg.cho_factor(J.T @ J + damping * np.eye(
                    J.shape[1]))
                return -scipy.linalg.cho_solve(factor, J.T @ r), "cholesky"
            factor = scipy.linalg.cho_factor(J @ J.T + damping * np.eye(
                J.shape[0]))
            return -J.T @ scipy.linalg.cho_solve(factor, r), "cholesky"
        except np.linalg.LinAlgError:
            logger.debug("Cholesky failed; falling back to the SVD solve")
    return _svd_solve(J, r, damping), "svd"


def damped_solve(J, r, damping, form="dual"):
    """The damped least-squares (Levenberg-Marquardt) step of a plain matrix.

    SPEC 7, without the batch normalisation::

        delta = -(J^T J + lam I)^{-1} J^T r        (primal, P x P)
              = -J^T (J J^T + lam I)^{-1} r        (dual,   M x M)

    Cholesky (``scipy.linalg.cho_factor``) when ``lam / (lam + |J|_F^2) >=``
    :data:`CHOLESKY_MIN_RCOND` (so the factorised matrix has condition number
    at most 1e6); otherwise, or if Cholesky fails, the least-squares route
    of LAPACK's ``gelsd``: the thin SVD of ``J`` with the filter factors
    ``s / (s^2 + lam)``, never forming ``J^T J`` (both forms give the same
    result there). Never ``inv``. Singular values at or below
    ``LSTSQ_RCOND * max(M, P) * s_max`` are round-off and count as zero, so
    at ``lam = 0`` the result is the minimum-norm step ``-J^+ r`` and as
    ``lam -> 0`` the step tends to it continuously. Always finite for finite
    input.

    Parameters
    ----------
    J : array_like, shape (M, P)
    r : array_like, shape (M,)
    damping : float
        ``lam >= 0``.
    form : {"dual", "primal"}

    Returns
    -------
    delta : ndarray, shape (P,)
    """
    J = val.as_real_array("J", J, ndim=2)
    r = val.as_real_array("r", r, shape=(J.shape[0],))
    damping = val.check_scalar("damping", damping, 0.0)
    val.check_choice("form", form, FORMS)
    return _damped_solve(J, r, damping, form)[0]


def woodbury_solve(U, v, damping):
    """Solve ``(lam I + U U^T) x = v`` through the dual (Woodbury) form.

    SPEC 7. ``x = (v - U (lam I + U^T U)^{-1} U^T v) / lam``, where
    ``U (lam I + U^T U)^{-1} U^T v`` is minus the dual :func:`damped_solve`
    step of ``J = U^T``, ``r = U^T v`` -- so the small ``K x K`` capacitance
    is solved by Cholesky only when well conditioned and through the SVD of
    ``U`` otherwise (rank-deficient ``U`` included).

    Parameters
    ----------
    U : array_like, shape (n, K)
    v : array_like, shape (n,)
    damping : float
        ``lam > 0`` (at ``lam = 0`` the system is singular when ``K < n``).

    Returns
    -------
    x : ndarray, shape (n,)

    Notes
    -----
    For tiny ``lam`` the solution is dominated by ``v_perp / lam`` (``v_perp``
    the part of ``v`` outside the range of ``U``); its normwise backward error
    stays at round-off, but the plain residual ``|(lam I + U U^T) x - v|`` of
    any float64 ``x`` is of order ``eps |U|^2 |x|``, which can exceed ``|v|``
    for ``lam`` near ``eps |U|^2``.
    """
    U = val.as_real_array("U", U, ndim=2)
    v = val.as_real_array("v", v, shape=(U.shape[0],))
    damping = val.check_scalar("damping", damping, 0.0, low_open=True)
    projected = -_damped_solve(U.T, U.T @ v, damping, "dual")[0]
    return (v - projected) / damping


# -- the outputs linearised at one rollout -----------------------------------
class _Linearisation:
    """Loss, gradient, ``J_y`` and ``J_y^T`` of one model on one data set.

    One rollout is shared by every product (SPEC 2.2, 2.3); ``calls`` counts
    the ``G`` products.
    """

    def __init__(self, model, X, Y, h0):
        self.model, self.n_seq = model, X.shape[0]
        self.scale = 1.0 / (X.shape[0] * X.shape[1])
        self.H, self.caches = rollout(model, X, h0)
        self.R = self.H @ model.C.T + model.d - Y
        self.loss = 0.5 * self.scale * float(np.sum(self.R * self.R))
        self.grad = self.scale * self.vjp(self.R)
        val.check_result_finite("the loss or its gradient", self.loss,
                                self.grad)
        self.calls = 0

    def jvp(self, v):
        """``J_y v``, shape (B, T, O), for ``v (P,)``."""
        blocks = self.model.split(v)
        dH = forward_sweep(self.model, self.caches, blocks, self.n_seq)
        return readout_tangent(self.model, self.H, dH, blocks)

    def vjp(self, R):
        """``J_y^T R``, shape (P,), for ``R (B, T, O)``."""
        blocks = reverse_sweep(self.model, self.caches, R @ self.model.C)[0]
        blocks.update(readout_cotangent(self.H, R))
        return pack_blocks(self.model, blocks)

    def gauss_newton(self, v):
        """``G v = J_y^T (J_y v) / (B T)``, one JVP and one VJP."""
        self.calls += 1
        Gv = self.scale * self.vjp(self.jvp(np.ravel(v)))
        val.check_result_finite("the Gauss-Newton product G v", Gv)
        return Gv

    def operator(self):
        """``G`` as a ``scipy.sparse.linalg.LinearOperator``."""
        P = self.model.n_params
        return LinearOperator((P, P), matvec=self.gauss_newton,
                              dtype=np.float64)


# -- the gradient and a block of G products in one pass ----------------------
def _stacked_caches(caches):
    """The ``T`` step caches as one, rows in ``(t, b)`` order.

    Lets the ``D_t^T`` products of all steps be done at once (SPEC 2.2).
    """
    def stack(name):
        return np.concatenate([getattr(cache, name) for cache in caches])

    slope = None if caches[0].slope is None else stack("slope")
    return StepCache(r=stack("r"), x=stack("x"), g=stack("g"), slope=slope)


def _rollout_with_tangents(model, X, h0, dirs, K):
    """Rollout fused with the JVP of ``K`` directions (SPEC 1.3, 2.3).

    ``dirs`` holds the directions' blocks with a trailing ``K`` axis. Each
    step advances the states and the tangents ``dh (B, N, K)``:
    ``dh_{t+1} = A_t dh_t + D_t v``. Returns ``H (B, T, N)``, the caches and
    the state tangents ``dH (T, B, N, K)``.
    """
    n_seq, T = X.shape[:2]
    n, W, U, b, dt, cell = (model.n_hidden, model.W, model.U, model.b,
                            model.dt, model.cell)
    dW, dU, db = (_flat_columns(dirs, name) for name in ("W", "U", "b"))
    H, caches = np.empty((n_seq, T, n)), []
    dH = np.empty((T, n_seq, n, K))
    dh = np.zeros((n_seq, n, K))
    if "h0" in dirs:
        dh[:] = dirs["h0"]
    h = h0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            h_next, cache = cell_step(cell, h, X[:, t], W, U, b, dt)
            if K:
                dh = apply_A(cell, cache, W, dt, dh) + _drive(cache, dW, dU,
                                                              db, K)
            H[:, t], dH[t], h = h_next, dh, h_next
            caches.append(cache)
    bad = ~np.isfinite(H).all(axis=2)
    if bad.any():
        b, t = (int(i) for i in np.argwhere(bad)[np.argmin(
            np.argwhere(bad)[:, 1])])
        raise TrajectoryError(
            f"the trajectory is not finite at step t={t} (0-based) of "
            f"sequence b={b}: the state overflowed or became NaN")
    val.check_result_finite("the tangents J v", dH)
    return H, caches, dH


def _flat_columns(dirs, name):
    """Block ``(N, M, K)`` as ``(M, N K)`` so ``a @ it`` gives ``(., N, K)``."""
    if name not in dirs:
        return None
    block = dirs[name]
    if block.ndim == 2:
        return block
    return np.ascontiguousarray(block.transpose(1, 0, 2)).reshape(
        block.shape[1], -1)


def _drive(cache, dW, dU, db, K):
    """``D_t v`` for ``K`` directions, shape (B, N, K) (SPEC 2.1).

    ``g * (dW r + dU x + db)`` with the blocks from :func:`_flat_columns`.
    """
    z = np.zeros(cache.g.shape + (K,))
    if dW is not None:
        z += (cache.r @ dW).reshape(z.shape)
    if dU is not None:
        z += (cache.x @ dU).reshape(z.shape)
    if db is not None:
        z += db
    return cache.g[..., None] * z


def _gradient_and_products(model, X, Y, h0, V):
    """``(L, g, G V)`` from one forward pass and one reverse sweep.

    Validated inputs; ``V (P, K)``, ``K >= 0``. The rollout carries the
    tangents of the ``K`` directions (:func:`_rollout_with_tangents`); the
    reverse sweep carries ``K + 1`` cotangents stacked as ``(K + 1, B, N)``:
    copy 0 the loss cotangent ``R C / (B T)``, copy ``k`` the cotangent
    ``(J_y v) C / (B T)`` of direction ``k``, so each time step is one
    ``A_t^T`` product of the stack (SPEC 2.2). The ``D_t^T`` products of all
    steps and copies are done at once after the loop.
    """
    n_seq, T = X.shape[:2]
    n, K, C = model.n_hidden, V.shape[1], model.C
    copies, scale = K + 1, 1.0 / (n_seq * T)
    dirs = model.split(V)
    H, caches, dH = _rollout_with_tangents(model, X, h0, dirs, K)
    R = H @ C.T + model.d - Y
    L = 0.5 * scale * float(np.sum(R * R))

    # output cotangents (T, K + 1, B, O): the residual, then J_y v
    H_t = H.transpose(1, 0, 2)
    out = np.empty((T, copies, n_seq, model.n_out))
    out[:, 0] = R.transpose(1, 0, 2)
    for k in range(K):
        dir_k = {name: block[..., k] for name, block in dirs.items()}
        out[:, k + 1] = readout_tangent(model, H_t, dH[..., k], dir_k)
    out *= scale

    # reverse: lam_t = q_t + A_t^T lam_{t+1}, q_t = out_t C (SPEC 2.2)
    # (apply_A_T broadcasts the step's (B, N) gains over the copy axis)
    lams = np.empty((T, copies, n_seq, n))
    lam = np.zeros((copies, n_seq, n))
    for t in reversed(range(T)):
        lam = out[t] @ C + lam
        lams[t] = lam
        lam = apply_A_T(model.cell, caches[t], model.W, model.dt, lam)

    # J^T q = sum_t D_{t-1}^T lam_t per copy, plus the readout blocks
    whole = _stacked_caches(caches)
    columns = []
    for c in range(copies):
        gW, gU, gb = apply_D_T(whole, lams[:, c].reshape(T * n_seq, n))
        blocks = {"W": gW, "U": gU, "b": gb, "h0": lam[c].sum(axis=0)}
        # (time-major layout: the readout sums run over both axes alike)
        blocks.update(readout_cotangent(H_t, out[:, c]))
        columns.append(pack_blocks(model, blocks))
    GV = np.column_stack(columns[1:]) if K else np.zeros((model.n_params, 0))
    val.check_result_finite("the loss, its gradient or G V", L, columns[0], GV)
    return L, columns[0], GV


def gauss_newton_products(model, X, Y, V, h0=None):
    """The loss, its gradient and ``G V`` from one pass over the trajectory.

    SPEC 7 with SPEC 2.2-2.3. ``G V = J_y^T (J_y V) / (B T)`` for ``K``
    directions at once: one rollout, one forward (JVP) sweep carrying the
    ``K`` tangents as ``K`` extra copies of the batch, and one reverse sweep
    carrying the loss cotangent together with the ``K`` cotangents
    ``J_y V``. Where the cost of a sweep is its per-step overhead rather
    than its flops (small ``N``, long ``T``), this costs little more than
    the gradient alone.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    Y : array_like, shape (B, T, O)
        Targets.
    V : array_like, shape (P, K)
        Directions, ``K >= 0``.
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    L : float
        The loss of SPEC 1.3.
    g : ndarray, shape (P,)
        ``grad L``.
    GV : ndarray, shape (P, K)
    """
    X, Y, h0 = _check_problem(model, X, Y, h0)
    V = val.as_real_array("V", V, shape=(model.n_params, None))
    return _gradient_and_products(model, X, Y, h0, V)


def _output_jacobian(model, X, h0):
    """Dense ``J_y``, shape (B T O, P), from the RTRL state Jacobian."""
    J = np.einsum("on,btnp->btop", model.C, state_jacobian(model, X, h0))
    H = rollout(model, X, h0)[0]  # a second rollout, O(1/P) of the RTRL cost
    sl = model.param_slices
    if "C" in sl:
        eye = np.eye(model.n_out)
        J[..., sl["C"]] = np.einsum("oq,btn->btoqn", eye, H).reshape(
            J.shape[:3] + (-1,))
    if "d" in sl:
        J[..., sl["d"]] = np.eye(model.n_out)
    return J.reshape(-1, model.n_params), H


def _check_problem(model, X, Y, h0):
    X, h0 = check_inputs(model, X, h0)
    return X, check_targets(model, X, Y), h0


def _gauss_newton(model, X, Y, h0, damping, form, lr):
    """Validated inputs -> ``(dtheta, info)`` of the damped GN step."""
    J, H = _output_jacobian(model, X, h0)
    r = (H @ model.C.T + model.d - Y).ravel()
    root = np.sqrt(X.shape[0] * X.shape[1])

    # G = Jt^T Jt and g = Jt^T rt with Jt = J / sqrt(BT), rt = r / sqrt(BT)
    delta, solver = _damped_solve(J / root, r / root, damping, form)
    dtheta = lr * delta
    info = {"loss": 0.5 * float(r @ r) / root**2,
            "grad_norm": float(np.linalg.norm(J.T @ r)) / root**2,
            "step_norm": float(np.linalg.norm(dtheta)), "solver": solver}
    return dtheta, info


def gauss_newton_step(model, X, Y, damping, form="dual", lr=1.0, h0=None):
    """The damped Gauss-Newton (natural-gradient) step of SPEC 7.

    ``dtheta = -eta (G + lam I)^{-1} g = -eta J_y^T (J_y J_y^T + B T lam I)^{-1}
    r`` with ``G = J_y^T J_y / (B T)``, ``g = J_y^T r / (B T)``; ``J_y`` is
    built densely (RTRL). The solve is :func:`damped_solve` on
    ``J_y / sqrt(B T)``: the two forms agree to about 1e-10 relative for
    ``lam >= 1e-8 |G|``, and ``lam = 0`` gives the pseudo-inverse step
    ``-eta J_y^+ r``.

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    Y : array_like, shape (B, T, O)
        Targets.
    damping : float
        ``lam >= 0``, in the units of ``G``.
    form : {"dual", "primal"}
        Solve the ``M x M`` (``M = B T O``) or the ``P x P`` system.
    lr : float
        ``eta > 0``.
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    dtheta : ndarray, shape (P,)
    """
    X, Y, h0 = _check_problem(model, X, Y, h0)
    damping = val.check_scalar("damping", damping, 0.0)
    val.check_choice("form", form, FORMS)
    lr = val.check_scalar("lr", lr, 0.0, low_open=True)
    return _gauss_newton(model, X, Y, h0, damping, form, lr)[0]


# -- optimisers ----------------------------------------------------------------
class _Optimizer:
    """Shared interface: ``step(model, X, Y, h0=None) -> (new_model, info)``.

    ``info`` always holds ``loss`` and ``grad_norm`` at the current model and
    ``step_norm = |dtheta|``; the new model is ``model.with_theta(theta +
    dtheta)``.
    """

    def step(self, model, X, Y, h0=None):
        """One full-batch step (SPEC 7).

        Parameters
        ----------
        model : RNN
        X : array_like, shape (B, T, D)
        Y : array_like, shape (B, T, O)
        h0 : array_like, shape (N,) or (B, N), optional

        Returns
        -------
        new_model : RNN
        info : dict
            ``loss``, ``grad_norm``, ``step_norm`` and method-specific
            entries.

        Raises
        ------
        TrajectoryError
            When the rollout of ``model`` overflows.
        FloatingPointError
            When ``theta + dtheta`` is not finite (``train`` turns both into
            the status ``"nonfinite"``).
        """
        X, Y, h0 = _check_problem(model, X, Y, h0)
        dtheta, info = self._direction(model, X, Y, h0)
        theta = model.theta + dtheta
        if not np.isfinite(theta).all():
            raise FloatingPointError("the step left the finite floats")
        return model.with_theta(theta), info


class GradientDescent(_Optimizer):
    """Plain gradient descent, ``dtheta = -eta g`` (SPEC 7).

    Parameters
    ----------
    lr : float
        ``eta > 0``.
    """

    def __init__(self, lr):
        self.lr = val.check_scalar("lr", lr, 0.0, low_open=True)

    def _direction(self, model, X, Y, h0):
        lin = _Linearisation(model, X, Y, h0)
        dtheta = -self.lr * lin.grad
        return dtheta, {"loss": lin.loss,
                        "grad_norm": float(np.linalg.norm(lin.grad)),
                        "step_norm": float(np.linalg.norm(dtheta))}

    def __repr__(self):
        return f"GradientDescent(lr={self.lr})"


class DampedGaussNewton(_Optimizer):
    """The damped Gauss-Newton step of :func:`gauss_newton_step` (SPEC 7).

    Parameters
    ----------
    lr : float
        ``eta > 0``; 1 is the full Gauss-Newton step.
    damping : float
        ``lam >= 0`` in the units of ``G``; default
        :data:`DEFAULT_GN_DAMPING`.
    form : {"dual", "primal"}

    Notes
    -----
    ``info`` also holds ``solver`` (``"cholesky"`` or ``"svd"``).
    """

    def __init__(self, lr=1.0, damping=DEFAULT_GN_DAMPING, form="dual"):
        self.lr = val.check_scalar("lr", lr, 0.0, low_open=True)
        self.damping = val.check_scalar("damping", damping, 0.0)
        self.form = val.check_choice("form", form, FORMS)

    def _direction(self, model, X, Y, h0):
        return _gauss_newton(model, X, Y, h0, self.damping, self.form,
                             self.lr)

    def __repr__(self):
        return (f"DampedGaussNewton(lr={self.lr}, damping={self.damping}, "
                f"form={self.form!r})")


@dataclass
class _EigenCache:
    """Eigenpairs of ``G`` and the state they were computed at."""

    model: object
    X: np.ndarray
    h0: np.ndarray
    sigma: np.ndarray
    V: np.ndarray
    sigma_ref: float
    method: str
    served: list = None  # the distinct models (states) that used them

    def __post_init__(self):
        if self.served is None:
            self.served = [self.model]


class LowRankNaturalGradient(_Optimizer):
    """The low-rank natural gradient of SPEC 7 (the reference algorithm).

    ``dtheta = -eta [(I - V V^T) g + V diag(sigma_ref / (sigma_i + lam)) V^T g]``
    with ``(sigma_i, V_i)`` the top ``r`` eigenpairs of ``G``, computed
    matrix-free by Lanczos (``scipy.sparse.linalg.eigsh``, ``which="LA"``) on
    ``G v = J_y^T (J_y v) / (B T)`` -- one JVP and one VJP over the rollout
    that also gives the gradient. ``sigma_ref`` is ``sigma_{r+1}`` (so
    ``r + 1`` eigenpairs are computed) unless a constant is given.

    With ``r = P`` the projector ``I - V V^T`` vanishes and the step is
    ``-eta sigma_ref (G + lam I)^{-1} g``: the damped Gauss-Newton step when
    ``sigma_ref = 1``.

    Parameters
    ----------
    lr : float
        ``eta > 0``; default 1.
    rank : int
        ``r >= 1``; 1 near a real codimension-one bifurcation, 2 near Hopf.
    damping : float
        ``lam >= 0`` in the units of ``G``. A direction with
        ``sigma_i + lam = 0`` (zero curvature, no damping) is left out of the
        step: there ``g`` has no component, as ``g = J_y^T r / (B T)`` lies in
        the range of ``G``.
    refresh_every : int
        ``m >= 1``: eigenpairs computed at one state serve the next ``m``
        distinct states (amortising the Lanczos cost over ``m`` steps).
    sigma_ref : float, optional
        ``sigma_ref > 0``; ``None`` for ``sigma_{r+1}`` (then ``r < P``).
    tol : float
        Lanczos relative tolerance, default :data:`LANCZOS_TOL`.
    ncv : int, optional
        Lanczos basis size (``eigsh``'s default when None).
    maxiter : int, optional
        Lanczos restarts (``eigsh``'s default when None).
    eigensolver : {"lanczos", "subspace"}
        How the eigenpairs are refreshed: a Lanczos solve (the reference,
        see the cache semantics below) or one step of a subspace iteration
        fused with the gradient (see below). ``tol``, ``ncv`` and ``maxiter``
        are Lanczos settings; ``refresh_every`` must be 1 for "subspace".
    oversampling : int
        Extra vectors of the subspace block, default
        :data:`SUBSPACE_OVERSAMPLING` ("subspace" only).
    rng : numpy.random.Generator, optional
        Draws the random part of the subspace method's cold-start block;
        ``numpy.random.default_rng(SUBSPACE_SEED)`` when omitted, so the
        same seed gives the same bits ("subspace" only).

    Notes
    -----
    Subspace eigensolver (an approximate eigen-tracker). The optimiser keeps
    an orthonormal block ``Q (P, k)``, ``k = min(r + 1 + oversampling, P)``
    (``r + oversampling`` when ``sigma_ref`` is given). Each step computes
    ``L``, ``g`` and ``G Q`` together (:func:`gauss_newton_products`: one
    rollout carrying the ``k`` tangents, one reverse sweep carrying the
    loss cotangent and the ``k`` cotangents ``J_y Q``), then Rayleigh-Ritz:
    the eigenpairs ``(theta_i, s_i)`` of ``Q^T G Q`` give Ritz pairs
    ``(theta_i, Q s_i)``; the top ``r`` are this step's ``(sigma_i, V_i)``,
    the next one its ``sigma_{r+1}``, and ``orth(G Q S)`` (QR) is the block
    of the next step -- one iteration of subspace (power) iteration with
    Rayleigh-Ritz per step. At a fixed model the Ritz pairs converge to the
    top eigenpairs of ``G``, the ``i``-th eigenvector error shrinking by
    about ``sigma_{k+1} / sigma_i`` per step and the eigenvalues with the
    square of it; along training they lag ``G`` by about one iteration, so
    their accuracy depends on how fast ``G`` changes compared with that
    rate. ``info["ritz_residuals"]`` reports ``|G y_i - theta_i y_i| /
    theta_i`` for the pairs used (``r``, plus the one giving ``sigma_ref``),
    an a-posteriori measure of that accuracy. On a cold start (first step,
    or other inputs, ``h0`` or architecture) the block is ``orth([g, Z])``
    with ``Z`` standard normal from ``rng`` (all of it random when
    ``g = 0``), at the price of one extra gradient sweep. A step at an
    unchanged state iterates once more, so repeated steps at one model are
    not identical; ``refreshed`` is always True and ``matvecs = k``, all in
    the one fused sweep pair. Ritz values are clipped at 0.

    Cache semantics (Lanczos). The optimiser keeps the last eigenpairs with the model
    (all blocks, trainable or not), inputs ``X`` and ``h0`` they were
    computed at, and the distinct models they have served since. A step at a
    model they already served (same data) reuses them, so applying the
    optimiser twice to the same state gives identical steps, whatever
    ``refresh_every``.
    Other inputs (or another architecture) always trigger a fresh solve; a
    different model reuses them only while fewer than ``refresh_every``
    distinct states have used them. With the default ``refresh_every=1``
    the eigenpairs are those of ``G`` at the current theta (to the Lanczos
    tolerance). Lanczos starts from the previous top eigenvector (warm start)
    or, on a fresh start, from the gradient (from a constant vector when the
    gradient vanishes), so results are deterministic. When ``k + 1 >= P``
    eigenpairs are wanted (``k = r`` or ``r + 1``), ``eigsh`` cannot be used
    (it needs ``k < P - 1`` to be useful) and ``G`` is built densely from
    ``P`` products and diagonalised with ``eigh``; the same happens, with a
    warning, when Lanczos does not converge. Computed eigenvalues are
    clipped at 0 (``G`` is PSD). :meth:`reset` clears the cache.

    ``info`` also holds ``eigenvalues (r,)``, ``sigma_ref``, ``refreshed``,
    ``eigen_method`` (``"lanczos"``, ``"dense"`` or ``"subspace"``) and
    ``matvecs``, the number of ``G`` products of this step; with
    "subspace" also ``ritz_residuals``, shape (r,) or (r + 1,) (the last
    for ``sigma_ref`` when it is ``sigma_{r+1}``).
    """

    def __init__(self, lr=1.0, rank=1, damping=DEFAULT_LOWRANK_DAMPING,
                 refresh_every=1, sigma_ref=None, tol=LANCZOS_TOL, ncv=None,
                 maxiter=None, eigensolver="lanczos",
                 oversampling=SUBSPACE_OVERSAMPLING, rng=None):
        self.lr = val.check_scalar("lr", lr, 0.0, low_open=True)
        self.rank = val.check_positive_int("rank", rank)
        self.damping = val.check_scalar("damping", damping, 0.0)
        self.refresh_every = val.check_positive_int("refresh_every",
                                                    refresh_every)
        self.sigma_ref = None if sigma_ref is None else val.check_scalar(
            "sigma_ref", sigma_ref, 0.0, low_open=True)
        self.tol = val.check_scalar("tol", tol, 0.0)
        self.ncv = None if ncv is None else val.check_positive_int("ncv", ncv)
        self.maxiter = None if maxiter is None else val.check_positive_int(
            "maxiter", maxiter)
        self.eigensolver = val.check_choice("eigensolver", eigensolver,
                                            EIGENSOLVERS)
        self.oversampling = val.check_positive_int("oversampling",
                                                   oversampling, minimum=0)
        self.rng = np.random.default_rng(SUBSPACE_SEED) if rng is None else (
            val.check_rng(rng))
        if self.eigensolver == "subspace" and self.refresh_every != 1:
            raise ValueError(
                "refresh_every must be 1 with eigensolver='subspace' (it "
                f"iterates at every step), got {self.refresh_every}"
            )
        self.reset()

    def reset(self):
        """Forget the cached eigenpairs (and the subspace block)."""
        self._cache = None
        self._block = None

    @property
    def eigenpairs(self):
        """``(sigma (r,), V (P, r))`` last used, or None before any step."""
        c = self._cache
        return None if c is None else (c.sigma.copy(), c.V.copy())

    def _direction(self, model, X, Y, h0):
        if self.eigensolver == "subspace":
            return self._subspace_direction(model, X, Y, h0)
        lin = _Linearisation(model, X, Y, h0)
        cache, refreshed = self._eigenpairs(lin, model, X, h0)
        dtheta = self._update(lin.grad, cache)
        info = {"loss": lin.loss, "grad_norm": float(np.linalg.norm(lin.grad)),
                "step_norm": float(np.linalg.norm(dtheta)),
                "eigenvalues": cache.sigma.copy(),
                "sigma_ref": cache.sigma_ref, "refreshed": refreshed,
                "eigen_method": cache.method, "matvecs": lin.calls}
        return dtheta, info

    def _update(self, g, cache):
        """``dtheta``: scale each amplified direction by sigma_ref/(sigma+lam)."""
        denom = cache.sigma + self.damping
        safe = np.where(denom > 0, denom, 1.0)
        factor = np.where(denom > 0, cache.sigma_ref / safe, 0.0)
        return -self.lr * (g + cache.V @ ((factor - 1.0) * (cache.V.T @ g)))

    def _subspace_direction(self, model, X, Y, h0):
        """One fused gradient + subspace-iteration step (see Notes)."""
        P, r = model.n_params, self.rank
        wanted = r + (1 if self.sigma_ref is None else 0)
        if wanted > P:
            raise ValueError(
                f"rank = {r} needs {wanted} eigenpairs of G but P = {P}; "
                "lower rank or give sigma_ref (needed when rank = P)"
            )
        k = min(wanted + self.oversampling, P)

        # warm start from the last step's block, or a cold start
        b = self._block
        warm = (b is not None and b.Q.shape == (P, k)
                and b.model.trainable == model.trainable
                and b.model.cell == model.cell and np.array_equal(b.X, X)
                and np.array_equal(b.h0, h0))
        Q = b.Q if warm else self._cold_block(model, X, Y, h0, k)

        # loss, gradient and G Q in one pass; Rayleigh-Ritz on span(Q)
        L, g, GQ = _gradient_and_products(model, X, Y, h0, Q)
        theta, ritz, residuals, Q_next = _rayleigh_ritz(Q, GQ)
        theta = np.maximum(theta, 0.0)
        sigma_ref = self.sigma_ref if self.sigma_ref is not None else float(
            theta[r])
        self._block = _Block(model, X, h0, Q_next)
        self._cache = _EigenCache(model, X, h0, theta[:r], ritz[:, :r],
                                  sigma_ref, "subspace")

        dtheta = self._update(g, self._cache)
        info = {"loss": L, "grad_norm": float(np.linalg.norm(g)),
                "step_norm": float(np.linalg.norm(dtheta)),
                "eigenvalues": theta[:r].copy(), "sigma_ref": sigma_ref,
                "refreshed": True, "eigen_method": "subspace",
                "matvecs": k, "ritz_residuals": residuals[:wanted]}
        return dtheta, info

    def _cold_block(self, model, X, Y, h0, k):
        """``orth([g, Z])``, ``Z (P, k - 1)`` standard normal from ``rng``."""
        g = _gradient_and_products(model, X, Y, h0,
                                   np.zeros((model.n_params, 0)))[1]
        if np.any(g != 0):
            block = np.column_stack(
                [g, self.rng.standard_normal((model.n_params, k - 1))])
        else:
            block = self.rng.standard_normal((model.n_params, k))
        return np.linalg.qr(block)[0]

    def _eigenpairs(self, lin, model, X, h0):
        """The cache to use at this state, refreshed when the rules say."""
        c = self._cache
        same_data = (c is not None and c.V.shape[0] == model.n_params
                     and c.model.trainable == model.trainable
                     and c.model.cell == model.cell
                     and np.array_equal(c.X, X) and np.array_equal(c.h0, h0))
        if same_data and any(seen == model for seen in c.served):
            return c, False
        if same_data and len(c.served) < self.refresh_every:
            c.served.append(model)
            return c, False

        v0 = c.V[:, 0] if same_data else None
        sigma, V, method = self._solve(lin, v0)
        r = self.rank
        sigma_ref = self.sigma_ref if self.sigma_ref is not None else float(
            sigma[r])
        self._cache = _EigenCache(model, X, h0, sigma[:r], V[:, :r],
                                  sigma_ref, method)
        return self._cache, True

    def _solve(self, lin, v0):
        """Top ``k`` eigenpairs of ``G``, descending: ``(sigma, V, method)``."""
        P = lin.model.n_params
        k = self.rank + (1 if self.sigma_ref is None else 0)
        if k > P:
            raise ValueError(
                f"rank = {self.rank} needs {k} eigenpairs of G but P = {P}; "
                "lower rank or give sigma_ref (needed when rank = P)"
            )
        if k + 1 >= P:
            return (*_dense_top(lin, k), "dense")

        if v0 is None:
            g = lin.grad
            v0 = g if np.any(g != 0) else np.ones(P)
        try:
            vals, vecs = eigsh(lin.operator(), k=k, which="LA", v0=v0,
                               tol=self.tol, ncv=self.ncv,
                               maxiter=self.maxiter)
        except ArpackNoConvergence as err:
            warnings.warn(f"Lanczos did not converge ({err}); using a dense "
                          f"eigh of G from {P} products", stacklevel=4)
            return (*_dense_top(lin, k), "dense")
        order = np.argsort(vals)[::-1]
        return np.maximum(vals[order], 0.0), vecs[:, order], "lanczos"

    def __repr__(self):
        return (f"LowRankNaturalGradient(lr={self.lr}, rank={self.rank}, "
                f"damping={self.damping}, refresh_every={self.refresh_every},"
                f" sigma_ref={self.sigma_ref})")


@dataclass
class _Block:
    """The subspace method's next block and the data it belongs to."""

    model: object
    X: np.ndarray
    h0: np.ndarray
    Q: np.ndarray


def _rayleigh_ritz(Q, GQ):
    """Ritz pairs of ``G`` on ``span(Q)`` and the next block (SPEC 7).

    ``Q (P, k)`` orthonormal, ``GQ = G Q``. Returns the Ritz values
    ``theta (k,)`` descending, the Ritz vectors ``Q S (P, k)``, their
    relative residuals ``|G y - theta y| / theta (k,)`` (``inf`` where
    ``theta <= 0`` and the residual is not 0) and the next block
    ``orth(G Q S)`` from a QR factorisation (one power step).
    """
    theta, S = np.linalg.eigh(0.5 * (Q.T @ GQ + GQ.T @ Q))
    theta, S = theta[::-1], S[:, ::-1]
    ritz, G_ritz = Q @ S, GQ @ S
    residual = np.linalg.norm(G_ritz - ritz * theta, axis=0)
    positive = theta > 0
    relative = np.where(positive, residual / np.where(positive, theta, 1.0),
                        np.where(residual > 0, np.inf, 0.0))
    return theta, ritz, relative, np.linalg.qr(G_ritz)[0]


def _dense_top(lin, k):
    """Top ``k`` eigenpairs of ``G`` built from ``P`` products, descending."""
    P = lin.model.n_params
    G = np.column_stack([lin.gauss_newton(e) for e in np.eye(P)])
    vals, vecs = np.linalg.eigh(0.5 * (G + G.T))
    return np.maximum(vals[::-1][:k], 0.0), vecs[:, ::-1][:, :k]


# -- training loop -------------------------------------------------------------
@dataclass
class TrainRecord:
    """What :func:`train` returns.

    Attributes
    ----------
    step : ndarray of int, shape (K,)
        Recorded step indices (0-based).
    loss : ndarray, shape (K,)
        Loss at the model *before* each recorded step.
    grad_norm : ndarray, shape (K,)
        ``|g|`` there.
    step_norm : ndarray, shape (K,)
        ``|dtheta|`` of that step.
    model : RNN
        The final model.
    final_loss : float
        Loss of the final model (``inf`` when its trajectory is not finite).
    n_steps : int
        Number of updates applied.
    status : {"completed", "callback", "nonfinite"}
        Why training stopped.
    message : str
    """

    step: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    step_norm: np.ndarray
    model: object
    final_loss: float
    n_steps: int
    status: str
    message: str

    @property
    def success(self):
        """False when training stopped on a non-finite value."""
        return self.status != "nonfinite"


def train(model, X, Y, optimizer, steps, callback=None, record_every=1,
          h0=None):
    """Full-batch training (SPEC 7, 8).

    Step ``k`` computes ``optimizer.step(model_k, X, Y, h0)``; then
    ``callback(k, model_k, info)`` is called (every step, with the model the
    step's loss and gradient belong to); if it returns True training stops
    and ``model_k`` is returned *without* the update. A non-finite loss, a
    trajectory that overflows or a non-finite update stops training with
    status ``"nonfinite"`` and returns the last model reached. Progress goes
    to the ``sntk_ref.optim`` logger (INFO at recorded steps).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    Y : array_like, shape (B, T, O)
    optimizer : GradientDescent, DampedGaussNewton or LowRankNaturalGradient
        Anything with ``step(model, X, Y, h0) -> (new_model, info)`` whose
        ``info`` holds ``loss``, ``grad_norm`` and ``step_norm``.
    steps : int
        Maximum number of updates, ``>= 0``.
    callback : callable, optional
        ``callback(step, model, info) -> bool or None``.
    record_every : int
        Record steps ``0, m, 2m, ...`` and the last step taken.
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    record : TrainRecord
    """
    X, Y, h0 = _check_problem(model, X, Y, h0)
    steps = val.check_positive_int("steps", steps, minimum=0)
    record_every = val.check_positive_int("record_every", record_every)
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must have a step method, got {optimizer!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")

    rows, status, message, k = [], "completed", f"ran {steps} steps", 0
    for k in range(steps):
        try:
            # overflow is caught below and reported as a status
            with np.errstate(over="ignore", invalid="ignore"):
                new_model, info = optimizer.step(model, X, Y, h0)
        except (TrajectoryError, FloatingPointError) as err:
            status, message = "nonfinite", f"step {k}: {err}"
            break
        row = (k, info["loss"], info["grad_norm"], info["step_norm"])
        if not np.isfinite(row[1:]).all():
            rows.append(row)
            status, message = "nonfinite", f"step {k}: non-finite loss or step"
            break

        if k % record_every == 0 or k == steps - 1:
            rows.append(row)
            logger.info("step %d: loss %.6g, |g| %.3g, |dtheta| %.3g", *row)
        if callback is not None and callback(k, model, info):
            if not rows or rows[-1][0] != k:
                rows.append(row)
            status, message = "callback", f"callback stopped at step {k}"
            break
        model = new_model
    else:
        k = steps

    n_steps = k
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            final_loss = loss(model, X, Y, h0)
    except TrajectoryError:
        final_loss = np.inf
    logger.info("train: %s after %d updates, final loss %.6g", status,
                n_steps, final_loss)
    cols = list(zip(*rows)) if rows else [(), (), (), ()]
    return TrainRecord(np.array(cols[0], dtype=int), np.array(cols[1], float),
                       np.array(cols[2], float), np.array(cols[3], float),
                       model, float(final_loss), n_steps, status, message)
