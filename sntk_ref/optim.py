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

import copy
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackError, LinearOperator, eigsh

from . import _validation as val
from .cells import matmul_rows
from .derivatives import (cotangent_sweep, pack_columns, readout_block_tangent,
                          readout_cotangent, state_jacobian, tangent_sweep)
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

#: Default tolerance of the subspace eigensolver: the largest relative Ritz
#: residual ``|G y - theta y| / theta`` accepted for the pairs used. 1e-2
#: keeps the SPEC 8 run at ``eta = 0.2`` monotone, like a tight Lanczos
#: solve (``python validation/bench_optim.py``).
SUBSPACE_TOL = 1e-2

#: Ritz values below ``RITZ_FLOOR * theta_1`` are zero to the accuracy of the
#: ``G`` products; their residuals are measured against that floor.
RITZ_FLOOR = float(np.sqrt(np.finfo(np.float64).eps))

#: Default maximum number of subspace sweeps per refresh; when it is reached
#: the refresh falls back to a Lanczos solve (with a warning).
SUBSPACE_MAXITER = 100


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
    """Loss, gradient and ``G`` products of one model on one data set.

    One rollout is shared by every product (SPEC 2.2, 2.3). With ``V (P,
    K)`` the gradient and ``G V`` come from the same reverse sweep: the
    JVP sweep carries the ``K`` directions side by side, and the reverse
    sweep ``K + 1`` cotangents side by side -- copy 0 the loss cotangent
    ``R / (B T)``, copy ``k`` the cotangent ``J_y v_k / (B T)``. Each time
    step of a sweep is then one product per rule, which is what makes ``G
    V`` cheap next to the gradient when ``B`` and ``N`` are small and ``T``
    long. ``calls`` counts the later :meth:`gauss_newton` products.

    Attributes
    ----------
    loss : float
    grad : ndarray, shape (P,)
    GV : ndarray, shape (P, K)
    """

    def __init__(self, model, X, Y, h0, V=None):
        n_seq, T = X.shape[:2]
        self.model, self.scale = model, 1.0 / (n_seq * T)
        self.H, self.caches = rollout(model, X, h0)
        with np.errstate(over="ignore", invalid="ignore"):
            R = matmul_rows(self.H, model.C.T) + model.d - Y
            self.loss = 0.5 * self.scale * float(np.sum(R * R))

        # output cotangents (B, T, K + 1, O): the residual, then J_y v_k
        K = 0 if V is None else V.shape[1]
        out = np.empty((n_seq, T, K + 1, model.n_out))
        out[:, :, 0] = R
        if K:
            out[:, :, 1:] = self.jvp(V)
            val.check_result_finite("the tangents J_y V", out[:, :, 1:])
        columns = self.vjp(self.scale * out)
        self.grad, self.GV = columns[:, 0], columns[:, 1:]
        val.check_result_finite("the loss, its gradient or G V", self.loss,
                                columns)
        self.calls = 0

    # (overflow inside a sweep is reported by the callers' finiteness
    # checks as a FloatingPointError, not as a RuntimeWarning first)
    def jvp(self, V):
        """``J_y V``, shape (B, T, K, O), for ``V (P, K)``."""
        dirs = {name: np.moveaxis(block, -1, 0)
                for name, block in self.model.split(V).items()}
        with np.errstate(over="ignore", invalid="ignore"):
            dY = tangent_sweep(self.model, self.caches, dirs, V.shape[1],
                               readout=self.model.C)
            return readout_block_tangent(self.H, dY, dirs)

    def vjp(self, R):
        """``J_y^T R``, shape (P, C), for ``R (B, T, C, O)``."""
        with np.errstate(over="ignore", invalid="ignore"):
            blocks = cotangent_sweep(self.model, self.caches, R,
                                     readout=self.model.C)[0]
            blocks.update(readout_cotangent(self.H, R))
        return pack_columns(self.model, blocks, R.shape[2])

    def gauss_newton(self, v):
        """``G v = J_y^T (J_y v) / (B T)``, one JVP and one VJP sweep.

        ``v (P,)`` gives ``(P,)``; a block ``V (P, K)`` gives ``(P, K)``
        from one sweep pair. ``calls`` counts the columns.
        """
        V = np.reshape(v, (np.shape(v)[0], -1))
        self.calls += V.shape[1]
        GV = self.scale * self.vjp(self.jvp(V))
        val.check_result_finite("the Gauss-Newton products G v", GV)
        return GV.reshape(np.shape(v))

    def operator(self):
        """``G`` as a ``scipy.sparse.linalg.LinearOperator``."""
        P = self.model.n_params
        return LinearOperator((P, P), matvec=self.gauss_newton,
                              dtype=np.float64)


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
    lin = _Linearisation(model, X, Y, h0, V)
    return lin.loss, lin.grad, lin.GV


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
        ``sigma_i + lam`` zero to round-off (at most ``LSTSQ_RCOND * P``
        times the largest: zero curvature, no damping) is left out of the
        step: there ``g`` has no component, as ``g = J_y^T r / (B T)`` lies in
        the range of ``G``.
    refresh_every : int
        ``m >= 1``: eigenpairs computed at one state serve the next ``m``
        distinct states (amortising the refresh over ``m`` steps).
    sigma_ref : float, optional
        ``sigma_ref > 0``; ``None`` for ``sigma_{r+1}`` (then ``r < P``).
    tol : float, optional
        Accuracy of a refresh: the Lanczos relative tolerance (default
        :data:`LANCZOS_TOL`; 0 means machine precision), or for "subspace"
        the largest relative Ritz residual accepted (``> 0``, default
        :data:`SUBSPACE_TOL`).
    ncv : int, optional
        Lanczos basis size (``eigsh``'s default when None).
    maxiter : int, optional
        Lanczos restarts (``eigsh``'s default when None), or for "subspace"
        the most sweeps per refresh (default :data:`SUBSPACE_MAXITER`).
    eigensolver : {"lanczos", "subspace"}
        How a refresh computes the eigenpairs: a Lanczos solve (the
        reference) or a subspace iteration whose first sweep rides along
        with the gradient's pass (see Notes).
    oversampling : int
        Extra vectors of the subspace block, default
        :data:`SUBSPACE_OVERSAMPLING` ("subspace" only).
    rng : numpy.random.Generator, optional
        Draws the subspace method's cold-start block;
        ``numpy.random.default_rng(SUBSPACE_SEED)`` when omitted, so the
        same seed gives the same bits ("subspace" only).

    Notes
    -----
    Cache semantics (both eigensolvers). The optimiser keeps the last
    eigenpairs with the model (all blocks, trainable or not), inputs ``X``
    and ``h0`` they were computed at, and the distinct models they have
    served since. A step at a model they already served (same data) reuses
    them, so applying the optimiser twice to the same state gives identical
    steps, whatever ``refresh_every``. Other inputs (or another
    architecture) always trigger a refresh; a different model reuses them
    only while fewer than ``refresh_every`` distinct states have used them.
    With the default ``refresh_every=1`` the eigenpairs are those of ``G``
    at the current theta, to the tolerance. Computed eigenvalues are
    clipped at 0 (``G`` is PSD). :meth:`reset` clears the cache.

    Lanczos refresh. ``eigsh`` starts from the previous top eigenvector
    (warm start) or, on a fresh start, from the gradient (from a constant
    vector when the gradient vanishes), so results are deterministic. When
    ``k + 1 >= P`` eigenpairs are wanted (``k = r`` or ``r + 1``), ``eigsh``
    cannot be used (it needs ``k < P - 1`` to be useful) and ``G`` is built
    densely from ``P`` products and diagonalised with ``eigh``; the same
    happens, with a warning, when Lanczos does not converge.

    Subspace refresh. An orthonormal block ``Q (P, k)``, ``k = min(r + 1 +
    oversampling, P)`` (``r + oversampling`` when ``sigma_ref`` is given),
    is carried from one refresh to the next. The refresh computes ``L``,
    ``g`` and ``G Q`` in one pass (:func:`gauss_newton_products`: one
    rollout, one JVP sweep carrying the ``k`` directions, one reverse sweep
    carrying the loss cotangent and the ``k`` cotangents ``J_y Q``), then
    Rayleigh-Ritz: the eigenpairs ``(theta_i, s_i)`` of ``Q^T G Q`` give
    Ritz pairs ``(theta_i, Q s_i)``, with relative residuals ``|G y_i -
    theta_i y_i| / theta_i`` (against ``RITZ_FLOOR theta_1`` for Ritz
    values below that, so that a zero eigenvalue converges too). While a
    residual of the pairs used (the top ``r``, and the next one when it
    gives ``sigma_ref``) exceeds ``tol``,
    the block becomes ``orth(G Q S)`` (one sweep of subspace iteration,
    each pair's error shrinking by about ``sigma_{k+1} / sigma_i``) and
    ``G Q`` is recomputed on the same rollout. After ``maxiter`` sweeps
    without reaching ``tol`` the refresh falls back to a Lanczos solve
    (``LANCZOS_TOL``) with a warning. The next refresh starts from the
    last ``orth(G Q S)`` (warm start), or on a cold start (first step,
    other inputs, ``h0`` or architecture) from ``orth(Z)``, ``Z`` standard
    normal from ``rng``. Along slow training one sweep per refresh is the
    rule, which is the point of the method: the refresh then costs one JVP
    sweep and a wider reverse sweep on top of the gradient, not ``2 n``
    separate sweeps for ``n`` Lanczos products.

    ``info`` also holds ``eigenvalues (r,)``, ``sigma_ref``, ``refreshed``,
    ``eigen_method`` (``"lanczos"``, ``"dense"`` or ``"subspace"``) and
    ``matvecs``, the number of ``G`` products of this step; after a
    subspace refresh also ``sweeps``, ``converged`` and ``ritz_residuals``,
    shape (r,) or (r + 1,) (the last for ``sigma_ref`` when it is
    ``sigma_{r+1}``).
    """

    def __init__(self, lr=1.0, rank=1, damping=DEFAULT_LOWRANK_DAMPING,
                 refresh_every=1, sigma_ref=None, tol=None, ncv=None,
                 maxiter=None, eigensolver="lanczos",
                 oversampling=SUBSPACE_OVERSAMPLING, rng=None):
        self.lr = val.check_scalar("lr", lr, 0.0, low_open=True)
        self.rank = val.check_positive_int("rank", rank)
        self.damping = val.check_scalar("damping", damping, 0.0)
        self.refresh_every = val.check_positive_int("refresh_every",
                                                    refresh_every)
        self.sigma_ref = None if sigma_ref is None else val.check_scalar(
            "sigma_ref", sigma_ref, 0.0, low_open=True)
        self.eigensolver = val.check_choice("eigensolver", eigensolver,
                                            EIGENSOLVERS)
        subspace = self.eigensolver == "subspace"
        default_tol = SUBSPACE_TOL if subspace else LANCZOS_TOL
        self.tol = default_tol if tol is None else val.check_scalar(
            "tol", tol, 0.0, low_open=subspace)
        self.ncv = None if ncv is None else val.check_positive_int("ncv", ncv)
        if maxiter is None and subspace:
            maxiter = SUBSPACE_MAXITER
        self.maxiter = None if maxiter is None else val.check_positive_int(
            "maxiter", maxiter)
        self.oversampling = val.check_positive_int("oversampling",
                                                   oversampling, minimum=0)
        self.rng = np.random.default_rng(SUBSPACE_SEED) if rng is None else (
            val.check_rng(rng))
        self._rng_start = copy.deepcopy(self.rng.bit_generator.state)
        self.reset()

    def reset(self):
        """Forget the cached eigenpairs and the subspace block, and rewind
        ``rng`` to its state at construction: the next steps are those of
        a new optimiser."""
        self._cache = None
        self._block = None
        self.rng.bit_generator.state = copy.deepcopy(self._rng_start)

    @property
    def eigenpairs(self):
        """``(sigma (r,), V (P, r))`` last used, or None before any step."""
        c = self._cache
        return None if c is None else (c.sigma.copy(), c.V.copy())

    def _direction(self, model, X, Y, h0):
        wanted = self._wanted(model.n_params)
        cache, same_data = self._reusable(model, X, h0)
        refreshed, extra = cache is None, {}
        if not refreshed:
            lin = _Linearisation(model, X, Y, h0)
        elif self.eigensolver == "lanczos":
            lin = _Linearisation(model, X, Y, h0)
            v0 = self._cache.V[:, 0] if same_data else None
            cache = self._store(model, X, h0, *self._solve(lin, v0, wanted))
        else:
            # the block's G products ride along with the gradient's pass
            Q = self._start_block(model.n_params, same_data, wanted)
            lin = _Linearisation(model, X, Y, h0, Q)
            sigma, V, method, extra = self._track(lin, Q, wanted)
            cache = self._store(model, X, h0, sigma, V, method)

        dtheta = self._update(lin.grad, cache)
        matvecs = lin.calls + lin.GV.shape[1]  # later products + fused ones
        info = {"loss": lin.loss, "grad_norm": float(np.linalg.norm(lin.grad)),
                "step_norm": float(np.linalg.norm(dtheta)),
                "eigenvalues": cache.sigma.copy(),
                "sigma_ref": cache.sigma_ref, "refreshed": refreshed,
                "eigen_method": cache.method, "matvecs": matvecs, **extra}
        return dtheta, info

    def _wanted(self, P):
        """Eigenpairs needed: ``r``, plus one for ``sigma_ref = sigma_{r+1}``."""
        wanted = self.rank + (1 if self.sigma_ref is None else 0)
        if wanted > P:
            raise ValueError(
                f"rank = {self.rank} needs {wanted} eigenpairs of G but P = "
                f"{P}; lower rank or give sigma_ref (needed when rank = P)"
            )
        return wanted

    def _update(self, g, cache):
        """``dtheta``: scale each amplified direction by sigma_ref/(sigma+lam).

        ``sigma_i + lam`` at or below ``LSTSQ_RCOND * P`` times the largest
        is zero to round-off (the rule of :func:`damped_solve`): that
        direction is left out, not divided by round-off.
        """
        denom = cache.sigma + self.damping
        keep = denom > LSTSQ_RCOND * g.size * max(float(denom.max()), 0.0)
        keep &= denom > 0
        safe = np.where(keep, denom, 1.0)
        factor = np.where(keep, cache.sigma_ref / safe, 0.0)
        return -self.lr * (g + cache.V @ ((factor - 1.0) * (cache.V.T @ g)))

    def _reusable(self, model, X, h0):
        """``(cache or None, same_data)``: the eigenpairs this state may use.

        Eigenpairs serve a model they already served (so repeated steps are
        identical) and up to ``refresh_every`` distinct models on the same
        data; otherwise they are refreshed (None).
        """
        c = self._cache
        same_data = (c is not None and c.V.shape[0] == model.n_params
                     and c.model.trainable == model.trainable
                     and c.model.cell == model.cell
                     and np.array_equal(c.X, X) and np.array_equal(c.h0, h0))
        if same_data and any(seen == model for seen in c.served):
            return c, True
        if same_data and len(c.served) < self.refresh_every:
            c.served.append(model)
            return c, True
        return None, same_data

    def _store(self, model, X, h0, sigma, V, method):
        """Keep the top ``r`` pairs and ``sigma_ref`` for the next steps."""
        r = self.rank
        sigma_ref = self.sigma_ref if self.sigma_ref is not None else float(
            sigma[r])
        self._cache = _EigenCache(model, X, h0, sigma[:r], V[:, :r],
                                  sigma_ref, method)
        return self._cache

    def _start_block(self, P, same_data, wanted):
        """The last refresh's next block (warm), or ``orth(Z)``, ``Z`` from rng."""
        k = min(wanted + self.oversampling, P)
        if same_data and self._block is not None and self._block.shape == (P, k):
            return self._block
        return np.linalg.qr(self.rng.standard_normal((P, k)))[0]

    def _track(self, lin, Q, wanted):
        """Subspace iteration from ``Q``; ``lin.GV`` is ``G Q`` (see Notes)."""
        GQ, sweeps = lin.GV, 1
        while True:
            theta, ritz, residuals, Q_next = _rayleigh_ritz(Q, GQ)
            converged = bool(np.all(residuals[:wanted] <= self.tol))
            if converged or sweeps >= self.maxiter:
                break
            Q, sweeps = Q_next, sweeps + 1
            GQ = lin.gauss_newton(Q)
        self._block = Q_next
        extra = {"sweeps": sweeps, "ritz_residuals": residuals[:wanted],
                 "converged": converged}
        if not converged:
            worst = int(np.argmax(residuals[:wanted]))
            warnings.warn(
                f"subspace iteration did not reach tol = {self.tol:g} in "
                f"{sweeps} sweeps (largest Ritz residual "
                f"{residuals[worst]:.3g}, pair {worst + 1}); using a Lanczos "
                "solve", stacklevel=4)
            sigma, V, method = self._solve(lin, ritz[:, 0], wanted)
            return sigma, V, method, extra
        return np.maximum(theta, 0.0), ritz, "subspace", extra

    def _solve(self, lin, v0, k):
        """Top ``k`` eigenpairs of ``G``, descending: ``(sigma, V, method)``."""
        P = lin.model.n_params
        if k + 1 >= P:
            return (*_dense_top(lin, k), "dense")

        if v0 is None:
            g = lin.grad
            v0 = g if np.any(g != 0) else np.ones(P)
        tol = LANCZOS_TOL if self.eigensolver == "subspace" else self.tol
        maxiter = None if self.eigensolver == "subspace" else self.maxiter
        try:
            vals, vecs = eigsh(lin.operator(), k=k, which="LA", v0=v0,
                               tol=tol, ncv=self.ncv, maxiter=maxiter)
        except ArpackError as err:  # no convergence, or a Krylov breakdown
            warnings.warn(f"Lanczos failed ({err}); using a dense "
                          f"eigh of G from {P} products", stacklevel=4)
            return (*_dense_top(lin, k), "dense")
        order = np.argsort(vals)[::-1]
        return np.maximum(vals[order], 0.0), vecs[:, order], "lanczos"

    def __repr__(self):
        return (f"LowRankNaturalGradient(lr={self.lr}, rank={self.rank}, "
                f"damping={self.damping}, refresh_every={self.refresh_every},"
                f" sigma_ref={self.sigma_ref}, "
                f"eigensolver={self.eigensolver!r})")


def _rayleigh_ritz(Q, GQ):
    """Ritz pairs of ``G`` on ``span(Q)`` and the next block (SPEC 7).

    ``Q (P, k)`` orthonormal, ``GQ = G Q``. Returns the Ritz values
    ``theta (k,)`` descending, the Ritz vectors ``Q S (P, k)``, their
    residuals ``|G y_i - theta_i y_i| / max(theta_i, RITZ_FLOOR theta_1)``
    (``(k,)``; 0 when ``G Q = 0``) and the next block ``orth(G Q S)`` from
    a QR factorisation (one power step). The floor makes a zero eigenvalue
    of a singular ``G`` -- computed as round-off of either sign --
    converge like any other instead of dividing by round-off.
    """
    theta, S = np.linalg.eigh(0.5 * (Q.T @ GQ + GQ.T @ Q))
    theta, S = theta[::-1], S[:, ::-1]
    ritz, G_ritz = Q @ S, GQ @ S
    residual = np.linalg.norm(G_ritz - ritz * theta, axis=0)
    floor = RITZ_FLOOR * max(theta[0], 0.0)
    scale = np.maximum(theta, floor)
    relative = np.divide(residual, scale, out=np.zeros_like(residual),
                         where=scale > 0)
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
