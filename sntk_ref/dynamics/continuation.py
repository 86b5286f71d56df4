"""Pseudo-arclength continuation, detection and location (SPEC 4.5).

Letters: ``n`` state size, ``K`` points on a branch, ``y = (x, p)`` a point
of the extended space (``n + 1``), ``G(y)`` the fixed-point residual
(``F(x, p) - x`` or ``f(x, p)``), ``G_y = [G_x | G_p]`` its ``n x (n + 1)``
Jacobian and ``t`` the unit tangent of the branch.

Continuation (Keller): predict ``y + ds t``, correct by Newton on
``[G(y); t^T (y - y_pred)] = 0``; the new tangent solves
``[G_y; t_old^T] t = e_{n+1}``, which keeps its orientation.

Continuous test functions (never counts of unstable eigenvalues), evaluated
at every point (``lam_i`` the eigenvalues of ``A``; each factor is divided
by a positive normaliser so that products of many factors stay in range):

- ``"eigenvalue"``: ``prod_i lam_i`` (flow) or ``prod_i (lam_i - 1)`` (map),
  the sign of the critical real eigenvalue (``Re lam`` / ``lam - 1``) times
  a factor that does not vanish near it — folds and branch points;
- ``"hopf"``: ``prod_{i<j} (lam_i + lam_j)`` (flow) or
  ``prod_{i<j} (lam_i lam_j - 1)`` (map) — Hopf, Neimark-Sacker and
  neutral saddles;
- ``"flip"`` (maps): ``prod_i (lam_i + 1)``;
- ``"branch_point"``: ``det [G_y; t^T]`` (as ``sign * |det|^(1/(n+1))``),
  which changes sign at branch points, also where the critical eigenvalue
  only touches zero (a pitchfork met along its side branch);
- ``"limit_point"``: the parameter component of ``t`` — folds in ``p``.

A sign change between consecutive points is located by Brent's method
(``scipy.optimize.brentq``) along the arc, correcting a point and
recomputing its eigen-data at every trial; the located point is classified
with :func:`normal_form`.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from .. import _validation as val
from ..tolerances import EPS
from .fixed_points import analyse_point, critical_distance, eigen_data, newton
from .normal_forms import normal_form
from .system import System, rnn_system

__all__ = [
    "Branch",
    "SpecialPoint",
    "TrainingBifurcation",
    "TrainingScan",
    "continue_branch",
    "switch_branch",
    "training_bifurcations",
]

logger = logging.getLogger(__name__)

#: Corrector tolerance on ``|G|`` relative to ``max(1, |x|_inf)``.
CORRECTOR_TOL = 1e-11

#: Corrector Newton iterations before a step is refused.
CORRECTOR_MAX_ITER = 12

#: A step that needed at most this many corrector iterations grows.
EASY_STEP_ITER = 4

#: Growth and shrink factors of the arclength step.
STEP_GROWTH, STEP_SHRINK = 1.3, 0.5

#: Absolute location tolerance of Brent's method along the arc.
LOCATE_XTOL = 1e-13

#: Relative tolerance of Brent's method: the smallest ``brentq`` accepts.
LOCATE_RTOL = 4 * EPS

#: Brent iterations before a location is given up.
LOCATE_MAX_ITER = 200

#: The corrector stops when its Newton step is at most this times
#: ``max(1, |y|_inf)`` (round-off level; the residual is checked after).
CORRECTOR_STEP_RTOL = 1e3 * EPS

#: A critical pair with ``|Im lam| <= NEUTRAL_SADDLE_RTOL * max(1, |lam|)``
#: is real: a neutral saddle, not a Hopf / Neimark-Sacker point.
NEUTRAL_SADDLE_RTOL = 1e-8

#: Newton tolerance of :meth:`Branch.points_at` (tighter than the corrector:
#: the points are reference values).
POINTS_AT_TOL = 1e-13

#: Default step and its bounds.
DEFAULT_DS, DEFAULT_DS_MIN, DEFAULT_DS_MAX = 1e-2, 1e-8, 0.1

#: Default number of continuation steps.
DEFAULT_MAX_STEPS = 500


# -- test functions ----------------------------------------------------------
def _prod(factors):
    return float(np.real(np.prod(factors))) if len(factors) else 1.0


def _eigen_tests(lam, kind):
    """The eigenvalue-based test functions at one point."""
    i, j = np.triu_indices(lam.size, 1)
    if kind == "flow":
        return {
            "eigenvalue": _prod(lam / (1 + np.abs(lam))),
            "hopf": _prod((lam[i] + lam[j]) / (1 + np.abs(lam[i]) + np.abs(lam[j]))),
        }
    return {
        "eigenvalue": _prod((lam - 1) / (1 + np.abs(lam))),
        "flip": _prod((lam + 1) / (1 + np.abs(lam))),
        "hopf": _prod((lam[i] * lam[j] - 1) / (1 + np.abs(lam[i] * lam[j]))),
    }


def _geometric_tests(Gy, t):
    sign, logdet = np.linalg.slogdet(np.vstack([Gy, t]))
    bp = float(sign * np.exp(logdet / Gy.shape[1])) if sign != 0 else 0.0
    return {"branch_point": bp, "limit_point": float(t[-1])}


# -- results -------------------------------------------------------------------
@dataclass
class SpecialPoint:
    """A located special point of a branch.

    Attributes
    ----------
    type : str
        A normal-form type (``"fold"``, ``"transcritical"``, ``"pitchfork"``,
        ``"hopf"``, ``"flip"``, ``"neimark_sacker"``), ``"degenerate"``,
        ``"neutral_saddle"`` or ``"unclassified"``.
    x : ndarray, shape (n,)
    p : float
    index : int
        It lies between branch points ``index`` and ``index + 1``.
    tests : tuple of str
        Test functions that changed sign there.
    eigenvalues : ndarray, shape (n,)
    tangent : ndarray, shape (n + 1,)
        Tangent of the branch it was found on.
    normal_form : NormalForm or None
    message : str
    """

    type: str
    x: np.ndarray
    p: float
    index: int
    tests: tuple
    eigenvalues: np.ndarray
    tangent: np.ndarray
    normal_form: object = None
    message: str = ""


@dataclass
class Branch:
    """A branch of fixed points in one parameter (SPEC 4.5).

    Attributes
    ----------
    x : ndarray, shape (K, n)
    p : ndarray, shape (K,)
    eigenvalues : ndarray, shape (K, n)
        SPEC 4.2 order at each point.
    stable : ndarray of bool, shape (K,)
    tangents : ndarray, shape (K, n + 1)
    tests : dict of str -> ndarray, shape (K,)
    special_points : list of SpecialPoint
    success : bool
        False when the run stopped before reaching the end of ``p_range``.
    status : str
        ``"completed"``, ``"max_steps"``, ``"step_too_small"`` or
        ``"start_failed"``.
    message : str
    """

    system: System
    x: np.ndarray
    p: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    tangents: np.ndarray
    tests: dict
    special_points: list = field(default_factory=list)
    success: bool = True
    status: str = "completed"
    message: str = ""

    def points_at(self, p_value, tol=POINTS_AT_TOL):
        """Fixed points of the branch at ``p = p_value``, corrected by Newton.

        Parameters
        ----------
        p_value : float
        tol : float
            Newton tolerance (default ``POINTS_AT_TOL``).

        Returns
        -------
        X : ndarray, shape (k, n)
            One row per crossing of ``p_value`` along the branch.
        """
        p_value = val.check_scalar("p_value", p_value)
        out = []
        for k in range(len(self.p) - 1):
            a, b = self.p[k] - p_value, self.p[k + 1] - p_value
            if a == 0 or a * b < 0:
                w = 0.0 if a == 0 else a / (a - b)
                guess = (1 - w) * self.x[k] + w * self.x[k + 1]
                x, ok = newton(self.system, guess, p_value, tol)[:2]
                if ok:
                    out.append(x)
        return np.array(out).reshape(-1, self.system.n)


@dataclass
class _Point:
    y: np.ndarray
    t: np.ndarray
    lam: np.ndarray
    tests: dict


# -- corrector and point data --------------------------------------------------
def _G(system, y):
    return system.residual(y[:-1], y[-1])


def _Gy(system, y):
    x, p = y[:-1], y[-1]
    Gp = system.dF_dp(x, p)
    return np.column_stack([system.residual_jacobian(x, p), Gp])


def _correct(system, y_pred, t, tol):
    """Newton on ``[G(y); t^T (y - y_pred)] = 0``; returns (y, ok, iters)."""
    y = y_pred.copy()
    for it in range(1, CORRECTOR_MAX_ITER + 1):
        try:
            r = np.append(_G(system, y), t @ (y - y_pred))
            J = np.vstack([_Gy(system, y), t])
        except ValueError:
            return y, False, it
        dy = np.linalg.lstsq(J, -r, rcond=None)[0]
        y = y + dy
        scale = max(1.0, float(np.max(np.abs(y))))
        if np.linalg.norm(dy) <= CORRECTOR_STEP_RTOL * scale:
            res = np.linalg.norm(_G(system, y))
            return y, bool(res <= tol * scale), it
    res = np.linalg.norm(_G(system, y))
    return y, bool(res <= tol * max(1.0, float(np.max(np.abs(y))))), it


def _tangent(Gy, t_prev):
    t = np.linalg.lstsq(np.vstack([Gy, t_prev]),
                        np.eye(Gy.shape[1])[-1], rcond=None)[0]
    return t / np.linalg.norm(t)


def _point(system, y, t_prev):
    Gy = _Gy(system, y)
    t = _tangent(Gy, t_prev)
    lam = eigen_data(Gy[:, :-1] + (np.eye(system.n) if system.is_map else 0),
                     system.kind, symmetric=False).eigenvalues
    tests = _eigen_tests(np.asarray(lam, dtype=complex), system.kind)
    tests.update(_geometric_tests(Gy, t))
    return _Point(y, t, lam, tests)


# -- location and classification ---------------------------------------------
def _locate(system, a, b, name, tol):
    """Root of test ``name`` between points a and b, along a's tangent."""
    span = float(a.t @ (b.y - a.y))

    def on_arc(s):
        y, ok, _ = _correct(system, a.y + s * a.t, a.t, tol)
        return _point(system, y, a.t), ok

    def psi(s):
        if s <= 0:
            return a.tests[name]
        if s >= span:
            return b.tests[name]
        return on_arc(s)[0].tests[name]

    s = scipy.optimize.brentq(psi, 0.0, span, xtol=LOCATE_XTOL,
                              rtol=LOCATE_RTOL, maxiter=LOCATE_MAX_ITER)
    return on_arc(s)[0]


def _classify(system, pt, index, names):
    names = tuple(names)
    x, p = pt.y[:-1], float(pt.y[-1])
    sp = SpecialPoint("unclassified", x, p, index, tuple(names), pt.lam, pt.t)
    if names == ("hopf",):
        pair = _critical_pair(pt.lam, system.kind)
        if pair is not None and abs(np.imag(pair[0])) <= (
                NEUTRAL_SADDLE_RTOL * max(1, abs(pair[0]))):
            sp.type, sp.message = "neutral_saddle", (
                f"real eigenvalue pair {np.real(pair)} (not a bifurcation)")
            return sp
    try:
        nf = normal_form(system, x, p)
    except ValueError as exc:
        sp.message = str(exc)
        return sp
    sp.type, sp.normal_form, sp.message = nf.type, nf, nf.reason
    return sp


def _critical_pair(lam, kind):
    i, j = np.triu_indices(lam.size, 1)
    if not i.size:
        return None
    val_ = lam[i] + lam[j] if kind == "flow" else lam[i] * lam[j] - 1
    k = int(np.argmin(np.abs(val_)))
    return lam[i[k]], lam[j[k]]


# Events and the tests that signal them, in the order used to locate: a real
# critical eigenvalue (fold or branch point) is located by the eigenvalue test
# when it changes sign, else by the tangent, else by the determinant (trial
# points near a branch point may land on the crossing branch, so one event is
# located once); flips and Hopf / Neimark-Sacker points by their own tests.
_EVENTS = (("eigenvalue", "limit_point", "branch_point"), ("flip",), ("hopf",))


def _detect(system, a, b, index, tol):
    """Locate and classify every event whose tests change sign in [a, b]."""
    found = []
    for event in _EVENTS:
        changed = [k for k in event
                   if k in a.tests and a.tests[k] * b.tests[k] < 0]
        for name in changed:
            try:
                pt = _locate(system, a, b, name, tol)
            except (ValueError, RuntimeError) as exc:
                logger.debug("location of %s failed: %s", name, exc)
                continue
            found.append(_classify(system, pt, index, changed))
            break
    return found


# -- driver ------------------------------------------------------------------
def _run(system, y0, t0, p_range, ds, ds_min, ds_max, max_steps, detect, tol):
    """Continue from the solution ``y0`` along ``t0``; returns a Branch."""
    lo, hi = p_range
    points = [_point(system, y0, t0)]
    special, status, message = [], "max_steps", ""
    for _ in range(max_steps):
        a = points[-1]
        while True:
            y, ok, iters = _correct(system, a.y + ds * a.t, a.t, tol)
            if ok:
                break
            ds *= STEP_SHRINK
            if ds < ds_min:
                status = "step_too_small"
                message = (f"corrector failed with step below ds_min = "
                           f"{ds_min:g} near p = {a.y[-1]:.6g}")
                break
        if status == "step_too_small":
            break
        b = _point(system, y, a.t)
        if not lo <= y[-1] <= hi:
            b = _clip_to_range(system, a, b, lo, hi, tol) or b
            points.append(b)
            status, message = "completed", "reached the end of p_range"
        else:
            points.append(b)
        if detect:
            special.extend(_detect(system, a, b, len(points) - 2, tol))
        if status == "completed":
            break
        if iters <= EASY_STEP_ITER:
            ds = min(ds * STEP_GROWTH, ds_max)
    if status == "max_steps":
        message = f"stopped after max_steps = {max_steps} steps"
    return _branch(system, points, special, status, message)


def _clip_to_range(system, a, b, lo, hi, tol):
    """Replace b by the branch point on the boundary of ``p_range``."""
    bound = hi if b.y[-1] > hi else lo
    w = (bound - a.y[-1]) / (b.y[-1] - a.y[-1])
    guess = (1 - w) * a.y[:-1] + w * b.y[:-1]
    x, ok = newton(system, guess, bound)[:2]
    return _point(system, np.append(x, bound), a.t) if ok else None


def _branch(system, points, special, status, message):
    Y = np.array([pt.y for pt in points])
    lam = np.array([pt.lam for pt in points])
    stable = np.all(critical_distance(lam, system.kind) < 0, axis=1)
    tests = {k: np.array([pt.tests[k] for pt in points])
             for k in points[0].tests}
    return Branch(system, Y[:, :-1], Y[:, -1], lam, stable,
                  np.array([pt.t for pt in points]), tests, special,
                  status == "completed", status, message)


def _check_common(system, p_range, ds, ds_min, ds_max, max_steps):
    if not isinstance(system, System):
        raise TypeError(f"system must be a System, got {type(system).__name__}")
    if system.n_params is not None:
        raise ValueError("continuation needs a scalar parameter; restrict a "
                         "vector parameter with system.along(p0, direction)")
    lo, hi = _check_range(p_range)
    ds = val.check_scalar("ds", ds, 0.0, low_open=True)
    ds_min = val.check_scalar("ds_min", ds_min, 0.0, low_open=True)
    ds_max = val.check_scalar("ds_max", ds_max)
    if ds_min > ds:
        raise ValueError(f"ds_min must be <= ds (= {ds:g}), got {ds_min:g}")
    if ds_max < ds:
        raise ValueError(f"ds_max must be >= ds (= {ds:g}), got {ds_max:g}")
    steps = val.check_positive_int("max_steps", max_steps)
    return (lo, hi), ds, ds_min, ds_max, steps


def _check_range(p_range):
    """``(min, max)`` of two finite distinct numbers, in either order."""
    if isinstance(p_range, (str, bytes)):
        raise TypeError(f"p_range must be two numbers, got {p_range!r}")
    try:
        ends = list(p_range)
    except TypeError:
        raise TypeError(f"p_range must be a pair of numbers (lo, hi), got "
                        f"{type(p_range).__name__} {p_range!r}") from None
    if len(ends) != 2:
        raise ValueError(f"p_range must hold exactly two numbers (lo, hi), "
                         f"got {len(ends)}: {p_range!r}")
    a = val.check_scalar("p_range[0]", ends[0])
    b = val.check_scalar("p_range[1]", ends[1])
    if a == b:
        raise ValueError(f"p_range must hold two distinct numbers, got "
                         f"{p_range!r}")
    return min(a, b), max(a, b)


def _check_inside(name, value, p_range):
    lo, hi = p_range
    if not lo <= value <= hi:
        raise ValueError(f"{name} = {value:g} lies outside p_range = "
                         f"[{lo:g}, {hi:g}]; continuation starts inside it")


def continue_branch(system, x0, p0, p_range, *, direction=1, ds=DEFAULT_DS,
                    ds_min=DEFAULT_DS_MIN, ds_max=DEFAULT_DS_MAX,
                    max_steps=DEFAULT_MAX_STEPS, detect=True,
                    tol=CORRECTOR_TOL):
    """Follow a branch of fixed points by pseudo-arclength (SPEC 4.5).

    Parameters
    ----------
    system : System
        Scalar parameter.
    x0 : array_like, shape (n,)
        A fixed point at ``p0`` (refined by Newton first).
    p0 : float
    p_range : (float, float)
        Two finite distinct numbers (either order) bounding the interval
        ``[min, max]``, which must contain ``p0``. The run ends when the
        branch leaves it (the last point is put on its boundary).
    direction : {1, -1}
        Initial direction in ``p``.
    ds, ds_min, ds_max : float
        Initial, smallest and largest arclength step,
        ``0 < ds_min <= ds <= ds_max``.
    max_steps : int
    detect : bool
        Detect, locate and classify special points.
    tol : float
        Corrector tolerance on ``|G|`` relative to ``max(1, |x|_inf)``.

    Returns
    -------
    Branch
        ``status`` and ``message`` say why it stopped; failures are
        returned, not raised.
    """
    p_range, ds, ds_min, ds_max, steps = _check_common(
        system, p_range, ds, ds_min, ds_max, max_steps)
    p0 = system.check_parameter(p0, "p0")
    _check_inside("p0", p0, p_range)
    val.check_choice("direction", direction, (1, -1))
    x, ok, _, res, msg = newton(system, x0, p0)
    y0 = np.append(x, p0)
    t0 = np.zeros(system.n + 1)
    t0[-1] = direction
    if not ok:
        branch = _branch(system, [_point(system, y0, t0)], [], "start_failed",
                         f"x0 is not a fixed point at p0: {msg}")
        branch.x, branch.p = np.asarray(x0, float)[None], np.array([p0])
        return branch
    return _run(system, y0, t0, p_range, ds, ds_min, ds_max, steps, detect,
                tol)


def switch_branch(system, point, p_range, *, ds=DEFAULT_DS,
                  ds_min=DEFAULT_DS_MIN, ds_max=DEFAULT_DS_MAX,
                  max_steps=DEFAULT_MAX_STEPS, detect=True, tol=CORRECTOR_TOL):
    """Follow the other branch through a branch point, both ways (SPEC 4.5).

    The new tangent is the root of the algebraic branching equation least
    parallel to the tangent of the branch the point was found on.

    Parameters
    ----------
    system : System
    point : SpecialPoint
        A ``"transcritical"`` or ``"pitchfork"`` point of a branch.
    p_range : (float, float)
        As in :func:`continue_branch`; must contain ``point.p``.
    ds, ds_min, ds_max, max_steps, detect, tol
        As in :func:`continue_branch`; ``ds`` is also the first step off the
        branch point.

    Returns
    -------
    branches : list of Branch
        Two branches, one per direction of the new tangent; the branch point
        itself is not among their points.
    """
    p_range, ds, ds_min, ds_max, steps = _check_common(
        system, p_range, ds, ds_min, ds_max, max_steps)
    nf = getattr(point, "normal_form", None)
    if nf is None or nf.type not in ("transcritical", "pitchfork"):
        raise ValueError(
            "switch_branch needs a transcritical or pitchfork special point, "
            f"got {getattr(point, 'type', point)!r}")
    _check_inside("point.p", float(point.p), p_range)
    old = point.tangent
    cosines = [abs(t @ old) for t in nf.branches]
    t_new = nf.branches[int(np.argmin(cosines))]
    y_star = np.append(point.x, point.p)

    out = []
    for sign in (1, -1):
        t = sign * t_new
        y, ok, _ = _correct(system, y_star + ds * t, t, tol)
        if not ok:
            br = _branch(system, [_point(system, y_star, t)], [],
                         "start_failed", "corrector failed off the branch point")
            out.append(br)
            continue
        out.append(_run(system, y, t, p_range, ds, ds_min, ds_max, steps,
                        detect, tol))
    return out


# -- along training ------------------------------------------------------------
@dataclass
class TrainingBifurcation:
    """A crossing of the critical set between two checkpoints (SPEC 4.5).

    Attributes
    ----------
    checkpoint : int
        Between models ``checkpoint`` and ``checkpoint + 1``.
    t : float
        Location on ``theta(t) = (1 - t) theta_k + t theta_{k+1}``.
    theta : ndarray, shape (P,)
    x : ndarray, shape (N,)
        The fixed point there.
    eigenvalue : complex
    type : str
        Normal-form type (or ``"degenerate"`` / ``"unclassified"``).
    normal_form : NormalForm or None
    message : str
    """

    checkpoint: int
    t: float
    theta: np.ndarray
    x: np.ndarray
    eigenvalue: complex
    type: str
    normal_form: object = None
    message: str = ""


@dataclass
class TrainingScan:
    """Outcome of :func:`training_bifurcations`.

    Attributes
    ----------
    mu : ndarray, shape (M,)
        Leading ``Re lam`` (flow) or ``|lam| - 1`` (map) at each checkpoint
        (NaN where no fixed point was found).
    states : ndarray, shape (M, N)
    bifurcations : list of TrainingBifurcation
    success : bool
    message : str
    """

    mu: np.ndarray
    states: np.ndarray
    bifurcations: list
    success: bool
    message: str


def _leading(system, x, t):
    lam = analyse_point(system, x, t).eigenvalues
    return float(critical_distance(lam[:1], system.kind)[0]), lam[0]


def training_bifurcations(models, X_const=None, *, view="map", h_start=None):
    """Where the leading fixed point's critical eigenvalue crosses in training.

    SPEC 4.5. The fixed point is followed from checkpoint to checkpoint by
    Newton (from ``h_start``, zeros by default, at the first one). When
    ``mu`` (leading ``Re lam`` for flows, ``|lam| - 1`` for maps: continuous
    in the matrix) changes sign between checkpoints ``k`` and ``k + 1``, the
    crossing is located on ``theta(t) = (1 - t) theta_k + t theta_{k+1}``
    by ``brentq`` (Newton for the fixed point at every trial) and classified
    with :func:`normal_form` on the restricted one-parameter system.

    Parameters
    ----------
    models : sequence of RNN
        Checkpoints of one architecture.
    X_const : array_like, shape (D,), optional
        The constant input (zeros when omitted).
    view : {"map", "flow"}
    h_start : array_like, shape (N,), optional

    Returns
    -------
    TrainingScan
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"models must hold at least two checkpoints, got "
                         f"{len(models)}")
    base = models[0]
    thetas = [val.as_real_array("theta", m.theta, shape=(base.n_params,))
              for m in models]
    system = rnn_system(base, X_const, view)
    h = np.zeros(base.n_hidden) if h_start is None else system.check_state(
        h_start, "h_start")

    mus, states, found, notes = [], [], [], []
    for k, theta in enumerate(thetas):
        h, ok, _, _, msg = newton(system, h, theta)
        if not ok:
            notes.append(f"checkpoint {k}: fixed point lost ({msg})")
            mus.append(np.nan)
            states.append(np.full(base.n_hidden, np.nan))
            break
        mus.append(_leading(system, h, theta)[0])
        states.append(h)
        if k and mus[-2] * mus[-1] < 0:
            found.append(_locate_training(system, thetas[k - 1], theta,
                                          states[-2], k - 1))
    n_missing = len(thetas) - len(mus)
    mus += [np.nan] * n_missing
    states += [np.full(base.n_hidden, np.nan)] * n_missing
    msg = "; ".join(notes) or f"{len(found)} crossings in {len(thetas)} checkpoints"
    return TrainingScan(np.array(mus), np.array(states), found, not notes, msg)


def _locate_training(system, theta_a, theta_b, h_a, k):
    line = system.along(theta_a, theta_b - theta_a)
    cache = {0.0: h_a}

    def psi(t):
        start = cache[min(cache, key=lambda s: abs(s - t))]
        x, ok, _, _, msg = newton(line, start, t)
        if not ok:
            raise RuntimeError(f"fixed point lost at t = {t:.6g}: {msg}")
        cache[t] = x
        return _leading(line, x, t)[0]

    try:
        t = scipy.optimize.brentq(psi, 0.0, 1.0, xtol=LOCATE_XTOL,
                                  rtol=LOCATE_RTOL, maxiter=LOCATE_MAX_ITER)
    except RuntimeError as exc:
        return TrainingBifurcation(k, np.nan, theta_a, h_a, np.nan,
                                   "unclassified", None, str(exc))
    x = cache[t]
    lam = _leading(line, x, t)[1]
    theta = theta_a + t * (theta_b - theta_a)
    try:
        nf = normal_form(line, x, t)
        kind, msg = nf.type, nf.reason
    except ValueError as exc:
        nf, kind, msg = None, "unclassified", str(exc)
    return TrainingBifurcation(k, t, theta, x, lam, kind, nf, msg)
