"""Fixed points and their eigen-data (SPEC 4.2, 3.4, 4.4).

Letters: ``n`` state size, ``S`` seeds, ``A`` the Jacobian of the map ``F``
or of the vector field ``f`` at a point.

Fixed points solve ``F(x) - x = 0`` (map) or ``f(x) = 0`` (flow) by damped
Newton from seeds: given points, random draws, trajectory states, or minima of
the speed ``q(x) = 1/2 |F(x) - x|^2`` (flow: ``1/2 |f(x)|^2``). A point is
kept only if its residual is at round-off level; minima of ``q`` that are not
fixed points are *slow points*, reported separately and labelled.

Eigen-data (SPEC 4.2): eigenvalues sorted (flows by real part, maps by
modulus, descending; ties by imaginary part, descending); right
eigenvectors ``q_k`` of unit norm, canonicalised (SPEC 3.4: the entry of
largest modulus is real and positive, ties to the lowest index); left
eigenvectors ``p_k`` with ``p_k^H q_j = delta_kj``. A symmetric (Hermitian)
matrix takes the ``eigh`` path, whose eigenvectors are orthonormal even in a
degenerate eigenspace; any other matrix the general path ``A = V L V^{-1}``.
On the general path a matrix that is symmetric to ``SYMMETRY_RTOL`` has the
right eigenvectors of each repeated real eigenvalue orthonormalised (QR of the
cluster's columns, then the SPEC 3.4 sign), so ``V^T V = I`` there too (CASES
C10).
"""

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize

from .. import _validation as val
from ..spectra import canonical_sign
from ..tolerances import EPS
from .system import System

__all__ = [
    "EigenData",
    "FixedPoint",
    "FixedPointResult",
    "analyse_point",
    "canonicalize_vectors",
    "critical_distance",
    "eigen_data",
    "eigenvalue_derivative",
    "eigenvalue_sensitivity",
    "find_fixed_points",
    "newton",
]

logger = logging.getLogger(__name__)

#: Newton stops when ``|residual| <= NEWTON_TOL * max(1, |x|_inf)``.
NEWTON_TOL = 1e-12

#: Newton iterations before giving up (linear convergence at singular points
#: needs a few dozen).
NEWTON_MAX_ITER = 60

#: Backtracking halvings of a Newton step before accepting it anyway.
NEWTON_MAX_HALVINGS = 30

#: Two points are one if they differ by at most this times the state scale.
DEDUP_RTOL = 1e-7

#: Eigenvalues within this distance of the critical set (imaginary axis or
#: unit circle) make a point non-hyperbolic.
HYPERBOLIC_TOL = 1e-8

#: Relative tie tolerance when choosing the largest-modulus entry of an
#: eigenvector (SPEC 3.4: ties go to the lowest index).
CANON_TIE_RTOL = 1e-9

#: Relative tie tolerance of the eigenvalue ordering key.
SORT_TIE_RTOL = 1e-12

#: A slow point is a local minimum of the speed with ``q`` at most this,
#: relative to ``max(1, |x|)^2``, that is not a fixed point.
SLOW_SPEED_TOL = 1e-3

#: Random seeds drawn when a generator is given without a count.
DEFAULT_RANDOM_SEEDS = 16

#: Eigenvector matrices with a condition number above this are flagged
#: (nearly defective matrix: left eigenvectors unreliable).
EIGVEC_COND_WARN = 1e10

#: ``J`` counts as symmetric (Hermitian) when
#: ``|J - J^H|_F <= SYMMETRY_RTOL * max(1, |J|_F)``: the level accepted by
#: ``symmetric=True``, and the level at which the general path orthonormalises
#: the eigenvectors of a repeated eigenvalue (round-off of an assembled
#: symmetric matrix is a few eps).
SYMMETRY_RTOL = 1e3 * EPS

#: Two eigenvalues are one repeated eigenvalue when they differ by at most
#: ``EIG_REPEAT_RTOL * max(1, max_k |lam_k|)`` (the round-off of eigenvalues
#: of a normal matrix is a few eps times its norm).
EIG_REPEAT_RTOL = 1e3 * EPS

#: Gradient tolerance of the BFGS minimisation of the speed ``q``.
SLOW_GTOL = 1e-12

#: BFGS iterations of the minimisation of the speed ``q``.
SLOW_MAX_ITER = 500


# -- eigen-data ---------------------------------------------------------------
def canonicalize_vectors(V):
    """Normalise columns and fix their phase (SPEC 3.4).

    The columns are scaled to unit norm, then given the sign/phase
    convention of :func:`sntk_ref.spectra.canonical_sign` with the tie
    tolerance ``CANON_TIE_RTOL``.

    Parameters
    ----------
    V : ndarray, shape (n, k)
        Nonzero columns, real or complex.

    Returns
    -------
    V : ndarray, shape (n, k)
        Unit columns whose entry of largest modulus (ties within
        ``CANON_TIE_RTOL`` to the lowest index) is real and positive.
    """
    V = np.asarray(V, dtype=np.result_type(V, np.float64))
    return canonical_sign(V / np.linalg.norm(V, axis=0), axis=0,
                          tie_rtol=CANON_TIE_RTOL)


def _sort_order(lam, kind):
    """Order of SPEC 4.2: real part (flow) or modulus (map), then imag part."""
    key = np.abs(lam) if kind == "map" else np.real(lam)
    scale = max(1.0, float(np.max(np.abs(lam)))) if lam.size else 1.0
    order = sorted(range(lam.size), key=lambda i: -key[i])
    out, start = [], 0
    while start < len(order):
        stop = start + 1
        while (stop < len(order) and key[order[start]] - key[order[stop]]
               <= SORT_TIE_RTOL * scale):
            stop += 1
        group = sorted(order[start:stop], key=lambda i: -np.imag(lam[i]))
        out.extend(group)
        start = stop
    return np.array(out, dtype=int)


@dataclass(frozen=True)
class EigenData:
    """Sorted eigen-decomposition of a square matrix (SPEC 4.2).

    Attributes
    ----------
    eigenvalues : ndarray, shape (n,)
    right : ndarray, shape (n, n)
        Column ``k`` is ``q_k``, unit norm, canonical phase.
    left : ndarray, shape (n, n)
        Column ``k`` is ``p_k`` with ``p_k^H q_j = delta_kj``.
    symmetric : bool
        Whether the ``eigh`` path was used (then ``left == right``).
    condition : float
        Condition number of ``right`` (1 on the symmetric path).
    """

    eigenvalues: np.ndarray
    right: np.ndarray
    left: np.ndarray
    symmetric: bool
    condition: float


def _is_hermitian(J):
    return np.array_equal(J, np.conj(J.T))


def eigen_data(J, kind="flow", symmetric="auto"):
    """Eigenvalues, right and left eigenvectors of ``J`` (SPEC 4.2, 3.4).

    Parameters
    ----------
    J : array_like, shape (n, n)
        Real, or complex Hermitian (complex non-Hermitian input is refused).
    kind : {"flow", "map"}
        Ordering: real part (flow) or modulus (map), descending.
    symmetric : {"auto", True, False}
        ``"auto"`` takes the ``eigh`` path when ``J`` equals its conjugate
        transpose exactly; ``True`` forces it (``J`` must be symmetric to
        round-off: ``|J - J^H|_F <= SYMMETRY_RTOL max(1, |J|_F)``);
        ``False`` forces the general path, which still returns orthonormal
        eigenvectors for a ``J`` symmetric to that level (see the module
        docstring).

    Returns
    -------
    EigenData
    """
    val.check_choice("kind", kind, ("flow", "map"))
    val.check_choice("symmetric", symmetric, ("auto", True, False))
    J = np.asarray(J)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"J must be a square matrix, got shape {J.shape}")
    if np.iscomplexobj(J):
        if not _is_hermitian(J):
            raise TypeError(
                "J is complex and not Hermitian; eigen_data takes real "
                "matrices or complex Hermitian ones")
        J = J.astype(complex)
    else:
        J = val.as_real_array("J", J)
    val.check_finite("J", J)

    asym = float(np.linalg.norm(J - np.conj(J.T)))
    near_symmetric = asym <= SYMMETRY_RTOL * max(np.linalg.norm(J), 1.0)
    if symmetric == "auto":
        symmetric = _is_hermitian(J)
    if symmetric:
        if not near_symmetric:
            raise ValueError(
                f"symmetric=True but J is not symmetric (|J - J^H| = {asym:.3g}"
                f" > {SYMMETRY_RTOL:.3g} max(1, |J|))")
        lam, V = np.linalg.eigh((J + np.conj(J.T)) / 2)
        order = _sort_order(lam.astype(complex), kind)
        V = canonicalize_vectors(V[:, order])
        return EigenData(lam[order], V, V.copy(), True, 1.0)

    lam, V = scipy.linalg.eig(J)
    if near_symmetric:
        # a symmetric (Hermitian) J has real eigenvalues: drop round-off
        lam = lam.real
    order = _sort_order(lam, kind)
    lam, V = lam[order], V[:, order]
    if near_symmetric:
        V = _orthonormalise_clusters(lam, V, np.isrealobj(J))
    V = canonicalize_vectors(V)
    if not np.any(np.imag(lam)) and not np.any(np.imag(V)):
        lam, V = lam.real, V.real
    cond = float(np.linalg.cond(V))
    if cond > EIGVEC_COND_WARN:
        warnings.warn(
            f"eigenvector matrix is nearly singular (condition {cond:.2e}); "
            "the matrix is close to defective and its left eigenvectors are "
            "unreliable", RuntimeWarning, stacklevel=2)
    left = np.conj(np.linalg.solve(V, np.eye(J.shape[0]))).T
    return EigenData(lam, V, left, False, cond)


def _repeat_tol(lam):
    """Distance below which two of the eigenvalues ``lam`` are one."""
    return EIG_REPEAT_RTOL * max(1.0, float(np.max(np.abs(lam), initial=0.0)))


def _orthonormalise_clusters(lam, V, real):
    """Orthonormal right eigenvectors within each repeated eigenvalue.

    For a symmetric ``J`` the columns of a repeated eigenvalue span its
    eigenspace but need not be orthogonal (nor real: the general solver may
    return complex combinations). A real ``J`` gets the ``k`` leading left
    singular vectors of ``[Re V_c, Im V_c]`` (its eigenspace is real, of
    dimension ``k``), a complex Hermitian one the QR factor of ``V_c``; the
    caller restores the SPEC 3.4 sign. Eigenvectors of distinct eigenvalues
    of a symmetric matrix are orthogonal already.

    Parameters
    ----------
    lam : ndarray, shape (n,)
        Real eigenvalues.
    V : ndarray, shape (n, n)
        Matching eigenvectors (columns).
    real : bool
        Whether ``J`` is real.

    Returns
    -------
    V : ndarray, shape (n, n)
        Real when ``real``.
    """
    out = np.array(V.real if real else V, copy=True)
    tol = _repeat_tol(lam)
    todo = list(range(lam.size))
    while todo:
        cluster = [j for j in todo if abs(lam[j] - lam[todo[0]]) <= tol]
        todo = [j for j in todo if j not in cluster]
        block = V[:, cluster]
        if real:
            both = np.hstack([block.real, block.imag])
            out[:, cluster] = np.linalg.svd(both, full_matrices=False)[0][
                :, :len(cluster)]
        elif len(cluster) > 1:
            out[:, cluster] = np.linalg.qr(block)[0]
    return out


def eigenvalue_sensitivity(J, index=0, kind="flow", symmetric="auto"):
    """Gradient of one simple eigenvalue with respect to the entries of ``J``.

    ``d lam_k / d J_ij = conj(p_k)_i (q_k)_j`` with ``p_k^H q_k = 1`` — every
    entry an independent variable (no symmetric-manifold convention), so for
    a symmetric ``J`` it is ``v_i v_j`` (SPEC 4.4).

    Parameters
    ----------
    J : array_like, shape (n, n)
        Real, or complex Hermitian.
    index : int
        Position of the eigenvalue in the SPEC 4.2 order.
    kind : {"flow", "map"}
    symmetric : {"auto", True, False}

    Returns
    -------
    lam : complex or float
    G : ndarray, shape (n, n)
        ``G[i, j] = d lam / d J_ij``.
    """
    eig = eigen_data(J, kind, symmetric)
    n = eig.eigenvalues.size
    if not -n <= index < n:
        raise ValueError(
            f"index must lie in [-{n}, {n}) (negative counts from the end), "
            f"got {index}")
    lam = eig.eigenvalues[index]
    if np.sum(np.abs(eig.eigenvalues - lam) <= _repeat_tol(
            eig.eigenvalues)) > 1:
        raise ValueError(
            f"eigenvalue {lam} is repeated; its derivative is not defined")
    G = np.outer(np.conj(eig.left[:, index]), eig.right[:, index])
    return lam, G


def eigenvalue_derivative(J, dJ, index=0, kind="flow", symmetric="auto"):
    """Directional derivative ``p_k^H dJ q_k`` of a simple eigenvalue.

    Parameters
    ----------
    J, dJ : array_like, shape (n, n)
        Real, or complex Hermitian (``dJ`` may be any complex matrix).
    index : int
        Position of the eigenvalue in the SPEC 4.2 order.
    kind : {"flow", "map"}
    symmetric : {"auto", True, False}

    Returns
    -------
    dlam : complex or float
    """
    lam, G = eigenvalue_sensitivity(J, index, kind, symmetric)
    dJ = np.asarray(dJ)
    if dJ.shape != G.shape:
        raise ValueError(f"dJ must have shape {G.shape}, got {dJ.shape}")
    out = np.sum(G * dJ)
    return out.real if np.isrealobj(J) and np.isreal(lam) and np.isrealobj(
        dJ) else out


# -- one point ---------------------------------------------------------------
@dataclass
class FixedPoint:
    """A fixed point (or slow point) with its eigen-data (SPEC 4.2).

    Attributes
    ----------
    x : ndarray, shape (n,)
    p : float or ndarray, shape (m,)
    kind : {"map", "flow"}
    label : {"fixed point", "slow point"}
    residual : float
        ``|F(x) - x|`` (map) or ``|f(x)|`` (flow).
    speed : float
        ``q = residual^2 / 2``.
    jacobian : ndarray, shape (n, n)
    eigenvalues : ndarray, shape (n,)
    right, left : ndarray, shape (n, n)
        ``q_k`` and ``p_k``, ``p_k^H q_k = 1``.
    stable : bool
    hyperbolic : bool
    n_unstable : int
        Eigenvalues with positive real part (flow) or modulus above one.
    critical : ndarray of int
        Indices of eigenvalues within ``HYPERBOLIC_TOL`` of the critical set.
    """

    x: np.ndarray
    p: object
    kind: str
    label: str
    residual: float
    speed: float
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    right: np.ndarray
    left: np.ndarray
    stable: bool
    hyperbolic: bool
    n_unstable: int
    critical: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def is_slow_point(self):
        """True for a slow point (not a fixed point)."""
        return self.label == "slow point"


def critical_distance(lam, kind):
    """Signed distance of eigenvalues from the critical set.

    ``Re lam`` (flow) or ``|lam| - 1`` (map); positive means unstable.
    """
    lam = np.asarray(lam)
    return np.abs(lam) - 1.0 if kind == "map" else np.real(lam)


def analyse_point(system, x, p, label="fixed point", symmetric="auto",
                  hyperbolic_tol=HYPERBOLIC_TOL):
    """Jacobian, eigen-data, stability and hyperbolicity at ``x`` (SPEC 4.2).

    Parameters
    ----------
    system : System
    x : array_like, shape (n,)
    p : float or array_like, shape (m,)
    label : str
    symmetric : {"auto", True, False}
        Eigen path, see :func:`eigen_data`.
    hyperbolic_tol : float

    Returns
    -------
    FixedPoint
    """
    x, p = system.check_state(x), system.check_parameter(p)
    r = system.residual(x, p)
    J = system.jacobian(x, p)
    eig = eigen_data(J, system.kind, symmetric)

    dist = critical_distance(eig.eigenvalues, system.kind)
    critical = np.flatnonzero(np.abs(dist) <= hyperbolic_tol)
    res = float(np.linalg.norm(r))
    return FixedPoint(
        x=x, p=p, kind=system.kind, label=label, residual=res,
        speed=0.5 * res ** 2, jacobian=J, eigenvalues=eig.eigenvalues,
        right=eig.right, left=eig.left,
        stable=bool(np.all(dist < -hyperbolic_tol)),
        hyperbolic=critical.size == 0,
        n_unstable=int(np.sum(dist > hyperbolic_tol)), critical=critical)


# -- Newton --------------------------------------------------------------------
def _newton_tol(x, tol):
    return tol * max(1.0, float(np.max(np.abs(x))))


def newton(system, x0, p, tol=NEWTON_TOL, max_iter=NEWTON_MAX_ITER):
    """Damped Newton for ``F(x) - x = 0`` or ``f(x) = 0`` (SPEC 4.2).

    Steps solve ``J_r dx = -r`` (least squares when ``J_r`` is singular) and
    are halved until the residual decreases.

    Parameters
    ----------
    system : System
    x0 : array_like, shape (n,)
    p : float or array_like, shape (m,)
    tol : float
        Stop when ``|r| <= tol * max(1, |x|_inf)``.
    max_iter : int

    Returns
    -------
    x : ndarray, shape (n,)
        Last iterate.
    success : bool
    n_iter : int
    residual : float
    message : str
    """
    x, p = system.check_state(x0, "x0"), system.check_parameter(p)
    r = system.residual(x, p)
    norm = float(np.linalg.norm(r))
    for it in range(max_iter + 1):
        if norm <= _newton_tol(x, tol):
            return x, True, it, norm, f"converged in {it} iterations"
        if it == max_iter:
            break
        step = _solve(system.residual_jacobian(x, p), -r)

        for _ in range(NEWTON_MAX_HALVINGS):
            trial = x + step
            try:
                r_trial = system.residual(trial, p)
            except ValueError:
                step = step / 2
                continue
            if np.linalg.norm(r_trial) < norm:
                break
            step = step / 2
        x, r = trial, r_trial
        norm = float(np.linalg.norm(r))
    return x, False, max_iter, norm, (
        f"Newton did not converge in {max_iter} iterations "
        f"(residual {norm:.3e} > {_newton_tol(x, tol):.3e})")


def _solve(M, b):
    """Solve ``M z = b``; least squares if ``M`` is singular to round-off."""
    try:
        if np.linalg.cond(M) < 1.0 / EPS:
            return np.linalg.solve(M, b)
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(M, b, rcond=None)[0]


# -- search ----------------------------------------------------------------------
@dataclass
class FixedPointResult:
    """Outcome of :func:`find_fixed_points`.

    Attributes
    ----------
    points : list of FixedPoint
        Verified fixed points, deduplicated, ordered by ``|x|``.
    slow_points : list of FixedPoint
        Local minima of the speed that are not fixed points (label
        ``"slow point"``), ordered by speed.
    n_seeds : int
    n_converged : int
        Seeds whose Newton run converged (before deduplication).
    success : bool
        At least one fixed point was found.
    message : str
    """

    points: list
    slow_points: list
    n_seeds: int
    n_converged: int
    success: bool
    message: str


def _gather_seeds(system, seeds, trajectories, rng, n_random, seed_scale):
    parts = []
    if seeds is not None:
        s = val.as_real_array("seeds", seeds, ndim=(1, 2))
        parts.append(s.reshape(-1, system.n) if s.shape[-1] == system.n
                     else _bad_seeds(system, s))
    if trajectories is not None:
        H = val.as_real_array("trajectories", trajectories)
        if H.shape[-1] != system.n:
            raise ValueError(
                f"trajectories must end in the state size {system.n}, got "
                f"shape {H.shape}")
        parts.append(H.reshape(-1, system.n))
    if rng is not None:
        rng = val.check_rng(rng)
        k = DEFAULT_RANDOM_SEEDS if n_random is None else n_random
        k = val.check_positive_int("n_random", k, minimum=0)
        parts.append(rng.normal(0.0, seed_scale, (k, system.n)))
    if not parts:
        parts.append(np.zeros((1, system.n)))
    return np.concatenate(parts, axis=0)


def _bad_seeds(system, s):
    raise ValueError(
        f"seeds must have shape (S, {system.n}) or ({system.n},), got {s.shape}")


def _minimise_speed(system, x0, p):
    """Local minimum of ``q(x) = 1/2 |r(x)|^2`` from ``x0`` (BFGS)."""
    def q_and_grad(x):
        r = system.residual(x, p)
        return 0.5 * r @ r, system.residual_jacobian(x, p).T @ r

    res = scipy.optimize.minimize(q_and_grad, x0, jac=True, method="BFGS",
                                  options={"gtol": SLOW_GTOL,
                                           "maxiter": SLOW_MAX_ITER})
    return res.x, float(res.fun)


def _dedupe(items, key, state=lambda item: item.x):
    """Items whose states differ by more than ``DEDUP_RTOL`` times the scale."""
    out = []
    scale = max([1.0] + [float(np.max(np.abs(state(it)))) for it in items])
    for it in sorted(items, key=key):
        if all(np.linalg.norm(state(it) - state(o)) > DEDUP_RTOL * scale
               for o in out):
            out.append(it)
    return out


def find_fixed_points(system, p, seeds=None, *, rng=None, n_random=None,
                      seed_scale=1.0, trajectories=None, minimize_speed=False,
                      tol=NEWTON_TOL, max_iter=NEWTON_MAX_ITER,
                      slow_tol=SLOW_SPEED_TOL, symmetric="auto"):
    """Fixed points of a map or flow by Newton from many seeds (SPEC 4.2).

    Parameters
    ----------
    system : System
    p : float or array_like, shape (m,)
    seeds : array_like, shape (S, n) or (n,), optional
    rng : numpy.random.Generator, optional
        Draws ``n_random`` seeds ``Normal(0, seed_scale^2)``.
    n_random : int, optional
        Default ``DEFAULT_RANDOM_SEEDS`` when ``rng`` is given.
    seed_scale : float
    trajectories : array_like, shape (..., n), optional
        States used as seeds (for example ``forward(model, X)``).
    minimize_speed : bool
        Minimise ``q = 1/2 |r|^2`` from each seed first and run Newton from
        the minimum; minima that are not fixed points become slow points.
    tol, max_iter
        Newton tolerance (relative to ``max(1, |x|_inf)``) and iterations.
    slow_tol : float
        Largest ``q / max(1, |x|)^2`` of a reported slow point.
    symmetric : {"auto", True, False}
        Eigen path (see :func:`eigen_data`).

    Returns
    -------
    FixedPointResult
        With no seed given at all, the single seed is ``x = 0``.
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be a System, got {type(system).__name__}")
    p = system.check_parameter(p)
    seed_scale = val.check_scalar("seed_scale", seed_scale, 0.0)
    S = _gather_seeds(system, seeds, trajectories, rng, n_random, seed_scale)

    found, slow, n_conv = [], [], 0
    for x0 in S:
        q_min = None
        if minimize_speed:
            x0, q_min = _minimise_speed(system, x0, p)
        x, ok, _, res, msg = newton(system, x0, p, tol, max_iter)
        if ok:
            n_conv += 1
            found.append(x)
        elif q_min is not None and q_min <= slow_tol * max(
                1.0, float(np.linalg.norm(x0))) ** 2:
            slow.append(analyse_point(system, x0, p, "slow point", symmetric))
        else:
            logger.debug("seed %s: %s", x0[:3], msg)

    # deduplicate the states first: the eigen-analysis runs once per point
    unique = _dedupe(found, key=np.linalg.norm, state=lambda x: x)
    points = [analyse_point(system, x, p, symmetric=symmetric) for x in unique]
    slow = [s for s in _dedupe(slow, key=lambda pt: pt.speed)
            if all(np.linalg.norm(s.x - pt.x) > DEDUP_RTOL * max(
                1.0, np.linalg.norm(pt.x)) for pt in points)]
    msg = (f"{len(points)} fixed points and {len(slow)} slow points from "
           f"{len(S)} seeds ({n_conv} Newton runs converged)")
    return FixedPointResult(points, slow, len(S), n_conv, bool(points), msg)
