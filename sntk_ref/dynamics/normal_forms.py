"""Codimension-one normal forms and the unfolding parameter (SPEC 4.3-4.4).

Letters: ``n`` state size, ``m`` parameter size (vector parameters), ``P``
trainable parameters of an RNN. At a fixed point ``x0`` with Jacobian ``A``,
``q`` and ``p`` are the critical right and left eigenvectors, ``|q| = 1``,
``<p, q> = p^H q = 1``; ``B``, ``C`` the Taylor forms of SPEC 2.4;
``M = A - lam_c I`` with ``lam_c`` the critical value (0 for a flow, 1 or -1
for a map). ``M^INV y`` is the bordered solve of SPEC 4.3,
``[[M, q], [p^H, 0]] [z; s] = [y; 0]``.

Type of the point (SPEC 4.3, Kuznetsov ch. 3-5, 10):

- a simple real critical eigenvalue (0 for flows, +1 for maps) is a *fold*
  when the parameter moves the fixed point off the kernel (``p^H F_p != 0``)
  and a *branch point* otherwise; the two branches through a branch point
  come from the algebraic branching equation (ABE)
  ``c11 a^2 + 2 c12 a b + c22 b^2 = 0`` for tangents ``(a q + b v0, b)``,
  ``M v0 = -F_p``, ``c11 = <p, B(q, q)>``,
  ``c12 = <p, B(q, v0) + A_p q>``,
  ``c22 = <p, B(v0, v0) + 2 A_p v0 + F_pp>``. A branch point is a
  *pitchfork* when the quadratic coefficient vanishes against the cubic one
  and *transcritical* otherwise. Both decisions use ratios that are
  invariant under ``x -> s x`` and ``p -> r p``;
- ``-1`` (maps): flip; a complex pair: Hopf (flows) or Neimark-Sacker (maps);
- two critical eigenvalues, a vanishing coefficient, a strong resonance:
  ``"degenerate"`` with a reason, never a forced type.

Hopf convention: ``x = x0 + z q + conj(z q)``,
``z' = (mu + i w) z + c1 z |z|^2``, ``l1 = Re(c1) / w0``. The RMS radius of
the cycle, ``rho = sqrt(mean |x - x0|^2) = sqrt(2) |z|``, obeys
``rho' = mu rho + a rho^3`` with ``a = Re(c1) / 2`` (the radial coefficient of
CASES C15); the same for Neimark-Sacker with ``d / 2``.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import _validation as val
from .fixed_points import analyse_point, critical_distance
from .system import System, _short

__all__ = [
    "NORMAL_FORM_TYPES",
    "NormalForm",
    "Prediction",
    "normal_form",
    "unfolding_gradient",
]

#: Types a point can be given (plus "degenerate").
NORMAL_FORM_TYPES = ("fold", "transcritical", "pitchfork", "hopf", "flip",
                     "neimark_sacker")

#: An eigenvalue is critical within this distance of the critical set,
#: relative to ``max(1, |A|_2)``.
CRITICAL_TOL = 1e-6

#: A coefficient vanishes when it is below this fraction of the sum of the
#: magnitudes of the terms it is made of.
COEFF_TOL = 1e-8

#: Fold test: a branch point when ``|p^H F_p| K / |c12|`` is below this
#: (``K = |a| + sqrt|c|``; the ratio is scale-free).
BRANCH_POINT_TOL = 1e-6

#: Pitchfork test: ``|a| <= PITCHFORK_TOL * sqrt(|c|)`` (scale-free).
PITCHFORK_TOL = 1e-6

#: Distance of ``k theta0`` from a multiple of ``2 pi`` that counts as a
#: strong resonance (k = 3, 4) of a Neimark-Sacker point.
RESONANCE_TOL = 1e-6

#: Relative residual above which dh*/dtheta is declared not to exist.
SINGULAR_RESIDUAL = 1e-10

#: Points of a predicted cycle returned by :meth:`NormalForm.predict`.
CYCLE_SAMPLES = 64

#: ``x`` is accepted as a fixed point when its residual (``|F(x) - x|`` or
#: ``|f(x)|``) is at most ``FIXED_POINT_RTOL * max(1, |x|_inf)``, the scaling
#: of Newton's stopping rule; located points (Newton / corrector tolerance
#: 1e-11 to 1e-12) pass with a wide margin.
FIXED_POINT_RTOL = 1e-8

#: Types a real critical eigenvalue 0 (flow) or +1 (map) can be given.
_REAL_TYPES = ("fold", "transcritical", "pitchfork")


def _bordered(M, q, p, y):
    """``M^INV y``: solve ``[[M, q], [p^H, 0]] [z; s] = [y; 0]``; return z."""
    n = M.shape[0]
    y = np.asarray(y)
    tail = y.shape[1:]
    K = np.zeros((n + 1, n + 1), dtype=np.result_type(M, q, p, y))
    K[:n, :n], K[:n, n], K[n, :n] = M, q, np.conj(p)
    rhs = np.zeros((n + 1,) + tail, dtype=K.dtype)
    rhs[:n] = y
    return np.linalg.solve(K, rhs)[:n]


def _vanishes(value, terms, tol=COEFF_TOL):
    """True if ``|value|`` is negligible against its constituent terms."""
    scale = float(np.sum(np.abs(terms)))
    return abs(value) <= tol * scale


@dataclass
class Prediction:
    """Leading-order prediction at ``p0 + dp`` (see :meth:`NormalForm.predict`).

    Attributes
    ----------
    dp : float
    mu : float
        The unfolding parameter ``mu_p dp``.
    points : ndarray, shape (k, n)
        Fixed points of the branches (fold, branch points), the two points of
        the period-two orbit (flip), or ``CYCLE_SAMPLES`` points of the cycle
        (Hopf, Neimark-Sacker); ``k = 0`` on the side without them.
    amplitude : float
        Offset along ``q`` of the bifurcated solutions, or ``|z|`` of the
        cycle; NaN when there is none.
    rms_radius : float
        ``sqrt(2) |z|`` for a cycle (NaN otherwise).
    """

    dp: float
    mu: float
    points: np.ndarray
    amplitude: float
    rms_radius: float = float("nan")


@dataclass
class NormalForm:
    """Normal-form data at a non-hyperbolic fixed point (SPEC 4.3).

    Attributes
    ----------
    type : str
        One of :data:`NORMAL_FORM_TYPES` or ``"degenerate"``.
    reason : str
        Why the point is degenerate (empty otherwise).
    kind : {"map", "flow"}
    x : ndarray, shape (n,)
    p : float or ndarray, shape (m,)
    eigenvalue : complex
        The critical eigenvalue (``Im > 0`` member of a pair).
    q, left : ndarray, shape (n,)
        Critical right and left eigenvectors, ``|q| = 1``, ``left^H q = 1``.
    omega : float
        ``w0`` (Hopf) or ``theta0`` (Neimark-Sacker); 0 otherwise.
    a : float
        Quadratic coefficient ``1/2 <p, B(q, q)>`` (real eigenvalue types).
    c : float or complex
        Cubic coefficient: pitchfork/flip ``c``; Hopf/Neimark-Sacker ``c1``.
    l1 : float
        First Lyapunov coefficient ``Re(c1) / w0`` (Hopf) or NaN.
    d : float
        ``Re(exp(-i theta0) c1)`` (Neimark-Sacker) or NaN.
    radial : float
        Cubic coefficient of the RMS cycle radius: ``Re(c1)/2`` (Hopf),
        ``d/2`` (Neimark-Sacker), NaN otherwise.
    mu : float
        Current value of the unfolding parameter: ``Re lam`` (flows) or
        ``|lam| - 1`` (maps) of the critical eigenvalue; 0 for a fold, whose
        unfolding parameter is ``beta = beta_p dp``.
    mu_p : float or ndarray, shape (m,)
        Derivative of the unfolding parameter with respect to ``p``: for a
        fold ``beta_p = <p, F_p>``; for a branch point along the reference
        branch; otherwise the eigenvalue derivative including the moving
        fixed point.
    beta_p : float or ndarray, shape (m,)
        ``<p, F_p>``.
    criticality : str or None
        ``"supercritical"`` / ``"subcritical"`` (pitchfork, flip, Hopf,
        Neimark-Sacker), else None.
    tests : dict
        Scale-free test values used for the classification.
    branches : ndarray, shape (k, n + 1)
        Unit tangents ``(dx, dp)`` of the branches through a branch point
        (reference branch first); empty otherwise.
    """

    type: str
    reason: str
    kind: str
    x: np.ndarray
    p: object
    eigenvalue: complex
    q: np.ndarray
    left: np.ndarray
    omega: float = 0.0
    a: float = float("nan")
    c: object = float("nan")
    l1: float = float("nan")
    d: float = float("nan")
    radial: float = float("nan")
    mu: float = 0.0
    mu_p: object = float("nan")
    beta_p: object = float("nan")
    criticality: object = None
    tests: dict = field(default_factory=dict)
    branches: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _xp: object = None
    _slopes: object = None

    @property
    def is_degenerate(self):
        """True when the point was not given a codimension-one type."""
        return self.type == "degenerate"

    def predict(self, dp):
        """Leading-order bifurcated solutions at ``p0 + dp`` (SPEC 4.3).

        Parameters
        ----------
        dp : float
            Parameter offset (scalar parameters only).

        Returns
        -------
        Prediction
        """
        dp = val.check_scalar("dp", dp)
        if self.type == "degenerate" or np.ndim(self.mu_p) != 0:
            raise ValueError(
                f"predict needs a non-degenerate point with a scalar "
                f"parameter; this one is {self.type!r} {self.reason}")
        mu = float(np.real(self.mu_p)) * dp
        empty = np.zeros((0, self.x.size))
        base = self.x + (0.0 if self._xp is None else dp * self._xp)

        if self.type == "fold":
            s2 = -mu / self.a
            if s2 < 0:
                return Prediction(dp, mu, empty, float("nan"))
            s = np.sqrt(s2)
            pts = np.stack([self.x + s * self.q, self.x - s * self.q])
            return Prediction(dp, mu, pts, float(s))
        if self.type in ("transcritical", "pitchfork"):
            pts = [self.x + dp * (u * self.q + self._xp) for u in self._slopes]
            if self.type == "transcritical":
                return Prediction(dp, mu, np.stack(pts), abs(
                    dp * (self._slopes[1] - self._slopes[0])))
            trivial = pts[0]
            s2 = -mu / self.c
            if s2 < 0:
                return Prediction(dp, mu, trivial[None], float("nan"))
            s = np.sqrt(s2)
            pts = np.stack([trivial, trivial + s * self.q, trivial - s * self.q])
            return Prediction(dp, mu, pts, float(s))
        if self.type == "flip":
            s2 = mu / self.c
            if s2 < 0:
                return Prediction(dp, mu, empty, float("nan"))
            s = np.sqrt(s2)
            return Prediction(dp, mu, np.stack([base + s * self.q,
                                                base - s * self.q]), float(s))

        radial = float(np.real(self.c)) if self.type == "hopf" else self.d
        r2 = -mu / radial
        if r2 < 0:
            return Prediction(dp, mu, empty, float("nan"))
        r = np.sqrt(r2)
        phases = np.exp(2j * np.pi * np.arange(CYCLE_SAMPLES) / CYCLE_SAMPLES)
        pts = base + 2 * np.real(r * phases[:, None] * self.q[None])
        return Prediction(dp, mu, pts, float(r), float(np.sqrt(2) * r))


# -- pieces -------------------------------------------------------------------
def _real_pair(q, p):
    """Real critical vectors: ``|q| = 1``, ``p^T q = 1``."""
    q = np.real(q)
    q = q / np.linalg.norm(q)
    p = np.real(p)
    return q, p / (p @ q)


def _pB_row(system, x, par, left, q):
    """Row ``r (n,)`` with ``r @ y = <left, B(q, y)>`` for every ``y``."""
    return np.conj(left) @ system.B_matrix(x, par, q)


def _eigen_derivative(system, x, par, left, q, xp):
    """``<p, A_p q + B(q, xp)>``: scalar or (m,), eigenvalue derivative."""
    direct = system.dA_dp(x, par, np.conj(left), q)
    if np.ndim(xp) == 1:
        return direct + np.vdot(left, system.B(x, par, q, xp))
    return direct + _pB_row(system, x, par, left, q) @ xp


def _check_fixed_point(pt, name):
    """Raise unless ``pt.x`` is a fixed point to ``FIXED_POINT_RTOL``."""
    tol = FIXED_POINT_RTOL * max(1.0, float(np.max(np.abs(pt.x))))
    if not pt.residual <= tol:
        raise ValueError(
            f"{name} = {_short(pt.x)} is not a fixed point at p = "
            f"{_short(pt.p)}: its residual "
            f"{pt.residual:.3g} exceeds FIXED_POINT_RTOL * max(1, |{name}|_inf)"
            f" = {tol:.3g}; locate the point first (newton, continue_branch)")


def _pick_critical(system, pt, critical_tol):
    """Index of the critical eigenvalue and the set of critical ones."""
    lam = pt.eigenvalues
    tol = critical_tol * max(1.0, np.linalg.norm(pt.jacobian, 2))
    dist = np.abs(critical_distance(lam, system.kind))
    i0 = int(np.argmin(dist))
    if dist[i0] > tol:
        raise ValueError(
            f"no eigenvalue of the Jacobian lies on the critical set "
            f"(nearest: {lam[i0]:.6g} at distance {dist[i0]:.3g} > {tol:.3g}); "
            "normal_form needs a non-hyperbolic fixed point")
    crit = np.flatnonzero(dist <= tol)
    if abs(np.imag(lam[i0])) > tol and np.imag(lam[i0]) < 0:
        i0 = int(crit[np.argmax(np.imag(lam[crit]))])
    return i0, crit, tol


def _classify_real(system, x, par, nf, M, kind, tests):
    """Fold / transcritical / pitchfork / degenerate at lam_c = 0 or +1."""
    q, p = nf.q, nf.left
    Bqq = system.B(x, par, q, q)
    nf.a = 0.5 * float(p @ Bqq)
    h2 = _bordered(M, q, p, -Bqq)
    Cqqq, Bqh2 = system.C(x, par, q, q, q), system.B(x, par, q, h2)
    nf_c = float(p @ (Cqqq + 3 * Bqh2)) / 6
    c_terms = [np.abs(p) @ np.abs(Cqqq) / 6, np.abs(p) @ np.abs(Bqh2) / 2]
    cubic_vanishes = _vanishes(nf_c, c_terms)

    Fp = system.dF_dp(x, par)
    nf.beta_p = p @ Fp
    vector = np.ndim(nf.beta_p) == 1
    if vector and kind is None:
        raise ValueError(
            "with a vector parameter the fold / branch-point distinction "
            "depends on the direction: restrict with system.along(p0, d) or "
            "pass kind=")

    v0 = _bordered(M, q, p, -Fp)
    row = _pB_row(system, x, par, p, q)
    c12_terms = [np.abs(system.dA_dp(x, par, p, q)), np.abs(row @ v0)]
    c12 = system.dA_dp(x, par, p, q) + row @ v0
    K = abs(nf.a) + np.sqrt(abs(nf_c))
    if not vector:
        denom = abs(c12)
        ratio = (0.0 if nf.beta_p == 0 else
                 np.inf if denom == 0 else abs(nf.beta_p) * K / denom)
        tests["fold_ratio"] = ratio
    tests["quadratic_ratio"] = (abs(nf.a) / np.sqrt(abs(nf_c))
                                if nf_c != 0 else np.inf)

    is_fold = kind == "fold" or (kind is None and ratio > BRANCH_POINT_TOL)
    quad_small = abs(nf.a) <= PITCHFORK_TOL * np.sqrt(abs(nf_c))
    if is_fold:
        nf.type, nf.mu_p, nf.mu = "fold", nf.beta_p, 0.0
        nf.c = nf_c
        if nf.a == 0 or quad_small:
            nf.type = "degenerate"
            nf.reason = "fold with vanishing quadratic coefficient (cusp)"
        return

    nf.c = nf_c
    if kind == "pitchfork" or (kind is None and quad_small):
        nf.type = "pitchfork"
        if cubic_vanishes:
            nf.type, nf.reason = "degenerate", (
                "branch point with vanishing quadratic and cubic coefficients")
            return
        nf.criticality = "supercritical" if nf_c < 0 else "subcritical"
    else:
        nf.type = "transcritical"
    if vector:
        nf.mu_p = np.real(c12)
        nf._xp = v0
        return
    if _vanishes(c12, c12_terms):
        nf.type, nf.reason = "degenerate", (
            "branch point without transversality (c12 = 0)")
        return

    Fpp = system.d2F_dp2(x, par)
    c22 = (p @ system.B(x, par, v0, v0) + 2 * system.dA_dp(x, par, p, v0)
           + p @ Fpp)
    _branches(nf, np.array([[2 * nf.a, c12], [c12, c22]]), v0, tests)


def _branches(nf, Q, v0, tests):
    """Branch tangents from the ABE; reference branch = smallest slope."""
    disc = Q[0, 1] ** 2 - Q[0, 0] * Q[1, 1]
    tests["abe_discriminant"] = disc
    if disc <= 0:
        nf.type, nf.reason = "degenerate", (
            "branch point without two real branches (ABE discriminant <= 0)")
        return
    # roots u = a / b of c11 u^2 + 2 c12 u + c22 = 0, plus the vertical branch
    if nf.type == "pitchfork":
        slopes = [-Q[1, 1] / (2 * Q[0, 1])]
    else:
        root = np.sqrt(disc)
        slopes = sorted([(-Q[0, 1] + root) / Q[0, 0],
                         (-Q[0, 1] - root) / Q[0, 0]], key=abs)
    nf._slopes, nf._xp = slopes, v0
    nf.mu_p = float(Q[0, 1] + Q[0, 0] * slopes[0])
    tangents = [np.append(u * nf.q + v0, 1.0) for u in slopes]
    if nf.type == "pitchfork":
        tangents.append(np.append(nf.q, 0.0))
    nf.branches = np.stack([t / np.linalg.norm(t) for t in tangents])


def _complex_coefficients(system, x, par, A, q, p, lam_c, is_map):
    """``c1`` of Hopf (flow) or Neimark-Sacker (map) and its terms."""
    n = A.shape[0]
    qb = np.conj(q)
    Bqq, Bqqb = system.B(x, par, q, q), system.B(x, par, q, qb)
    M0 = np.eye(n) - A if is_map else A
    h11 = np.linalg.solve(M0, Bqqb) if is_map else -np.linalg.solve(A, Bqqb)
    shift = lam_c ** 2 if is_map else 2 * lam_c
    h20 = np.linalg.solve(shift * np.eye(n) - A, Bqq)
    terms = [system.C(x, par, q, q, qb), 2 * system.B(x, par, q, h11),
             system.B(x, par, qb, h20)]
    c1 = 0.5 * np.vdot(p, sum(terms))
    sizes = [0.5 * np.abs(p) @ np.abs(t) for t in terms]
    return c1, sizes


def normal_form(system, x, p, kind=None, critical_tol=CRITICAL_TOL):
    """Normal form of a codimension-one fixed point (SPEC 4.3).

    Parameters
    ----------
    system : System
    x : array_like, shape (n,)
        The fixed point (a located bifurcation point).
    p : float or array_like, shape (m,)
    kind : str, optional
        Force one of :data:`NORMAL_FORM_TYPES` instead of classifying (the
        critical eigenvalue must still match).
    critical_tol : float
        Positive; critical eigenvalues are within
        ``critical_tol * max(1, |A|_2)`` of the critical set.

    Returns
    -------
    NormalForm
        Use :meth:`NormalForm.predict` for the bifurcated branch or cycle.

    Raises
    ------
    ValueError
        If ``x`` is not a fixed point (residual above
        ``FIXED_POINT_RTOL * max(1, |x|_inf)``), if no eigenvalue is
        critical, or if ``kind`` does not fit the critical eigenvalue.
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be a System, got {type(system).__name__}")
    if kind is not None:
        val.check_choice("kind", kind, NORMAL_FORM_TYPES)
    critical_tol = val.check_scalar("critical_tol", critical_tol, 0.0,
                                    low_open=True)
    pt = analyse_point(system, x, p)
    _check_fixed_point(pt, "x")
    x, par, A, is_map = pt.x, pt.p, pt.jacobian, system.is_map
    i0, crit, tol = _pick_critical(system, pt, critical_tol)
    lam = complex(pt.eigenvalues[i0])
    q, left = pt.right[:, i0], pt.left[:, i0]
    nf = NormalForm("degenerate", "", system.kind, x, par, lam, q, left)

    is_real = abs(lam.imag) <= tol
    if kind is not None:
        _check_family(system, x, par, kind, lam, is_real, critical_tol)
    expected = 1 if is_real else 2
    if crit.size > expected:
        nf.reason = (f"{crit.size} critical eigenvalues "
                     f"{np.round(pt.eigenvalues[crit], 8)} (codimension two: "
                     "e.g. Bogdanov-Takens, zero-Hopf); not implemented")
        return nf

    if is_real and (not is_map or lam.real > 0):
        nf.q, nf.left = _real_pair(q, left)
        M = A - (np.eye(x.size) if is_map else 0.0)
        nf.mu = float(lam.real - 1.0 if is_map else lam.real)
        _classify_real(system, x, par, nf, M, kind, nf.tests)
        return _check_kind(nf, kind)

    if is_real:
        _flip(system, x, par, A, nf)
        return _check_kind(nf, kind)

    # Hopf / Neimark-Sacker
    q = q / np.linalg.norm(q)
    left = left / np.conj(np.vdot(left, q))
    nf.q, nf.left = q, left
    if is_map:
        nf.omega = float(np.angle(lam))
        lam_c = np.exp(1j * nf.omega)
        xp = np.linalg.solve(np.eye(x.size) - A, system.dF_dp(x, par))
    else:
        nf.omega = float(lam.imag)
        lam_c = 1j * nf.omega
        xp = -np.linalg.solve(A, system.dF_dp(x, par))
    nf._xp = xp
    dlam = _eigen_derivative(system, x, par, left, q, xp)
    c1, sizes = _complex_coefficients(system, x, par, A, q, left, lam_c, is_map)
    nf.c = c1
    if is_map:
        nf.type, nf.mu = "neimark_sacker", abs(lam) - 1.0
        nf.mu_p = np.real(np.conj(lam_c) * dlam)
        nf.d = float(np.real(np.conj(lam_c) * c1))
        nf.radial = nf.d / 2
        value = nf.d
        for k in (3, 4):
            off = abs(np.angle(np.exp(1j * k * nf.omega)))
            if off <= RESONANCE_TOL:
                nf.type, nf.reason = "degenerate", f"strong resonance 1:{k}"
                return nf
    else:
        nf.type, nf.mu = "hopf", lam.real
        nf.mu_p = np.real(dlam)
        nf.l1 = float(c1.real / nf.omega)
        nf.radial = float(c1.real / 2)
        value = c1.real
    if _vanishes(value, sizes):
        nf.type, nf.reason = "degenerate", (
            "vanishing first Lyapunov coefficient (Bautin / Chenciner)")
        return nf
    nf.criticality = "supercritical" if value < 0 else "subcritical"
    return _check_kind(nf, kind)


def _flip(system, x, par, A, nf):
    """Flip (multiplier -1) coefficients."""
    n = x.size
    q, p = _real_pair(nf.q, nf.left)
    nf.q, nf.left = q, p
    Bqq = system.B(x, par, q, q)
    nf.a = 0.5 * float(p @ Bqq)
    w = np.linalg.solve(A - np.eye(n), Bqq)
    Cqqq, Bqw = system.C(x, par, q, q, q), system.B(x, par, q, w)
    nf.c = float(p @ Cqqq) / 6 - 0.5 * float(p @ Bqw)
    xp = np.linalg.solve(np.eye(n) - A, system.dF_dp(x, par))
    nf._xp = xp
    nf.mu = float(-nf.eigenvalue.real - 1.0)
    nf.mu_p = -np.real(_eigen_derivative(system, x, par, p, q, xp))
    nf.type = "flip"
    if _vanishes(nf.c, [np.abs(p) @ np.abs(Cqqq) / 6,
                        np.abs(p) @ np.abs(Bqw) / 2]):
        nf.type, nf.reason = "degenerate", "flip with vanishing cubic coefficient"
        return
    nf.criticality = "supercritical" if nf.c > 0 else "subcritical"


def _family(is_map, lam, is_real):
    """Description of the critical eigenvalue and the types it allows."""
    if is_real and (not is_map or lam.real > 0):
        where = "+1" if is_map else "0"
        return f"real ({where}", _REAL_TYPES
    if is_real:
        return "real (-1", ("flip",)
    if is_map:
        return (f"a complex pair on the unit circle (theta = "
                f"{abs(np.angle(lam)):.6g}", ("neimark_sacker",))
    return f"a complex pair (+-{abs(lam.imag):.6g} i", ("hopf",)


def _check_family(system, x, par, kind, lam, is_real, critical_tol):
    """Raise if ``kind`` cannot describe the critical eigenvalue ``lam``."""
    found, allowed = _family(system.is_map, lam, is_real)
    if kind in allowed:
        return
    try:
        nf = normal_form(system, x, par, None, critical_tol)
        what = (f"a degenerate point: {nf.reason}" if nf.is_degenerate
                else f"a {nf.type} point")
    except ValueError:
        what = " / ".join(allowed) + " point"
    raise ValueError(
        f"kind={kind!r} was requested but the critical eigenvalue is "
        f"{found}, {what}); a {system.kind} allows kind in {allowed} there")


def _check_kind(nf, kind):
    if kind is not None and nf.type not in (kind, "degenerate"):
        raise ValueError(
            f"kind={kind!r} was requested but the point classifies as "
            f"{nf.type!r} (critical eigenvalue {nf.eigenvalue:.6g})")
    return nf


# -- SPEC 4.4 -----------------------------------------------------------------
def unfolding_gradient(model, fixed_point, x=None, view="map", index=0):
    """``d mu / d theta`` of a fixed point's critical eigenvalue (SPEC 4.4).

    ``d lam = p^H (dA/dtheta) q + p^H B(q, dh*/dtheta)`` with ``p^H q = 1``
    and ``dh*/dtheta = (I - A)^{-1} dF/dtheta`` (map) or
    ``-A^{-1} df/dtheta`` (flow); ``mu = Re lam`` (flow) or ``|lam| - 1``
    (map), so ``d mu = Re d lam`` (flow) and ``Re(conj(lam) d lam) / |lam|``
    (map).

    Parameters
    ----------
    model : RNN
    fixed_point : FixedPoint or array_like, shape (N,)
        A fixed point of ``rnn_system(model, x, view)`` (or its state).
    x : array_like, shape (D,), optional
        The constant input (zeros when omitted).
    view : {"map", "flow"}
    index : int
        Which eigenvalue, in the SPEC 4.2 order (0: the leading one).

    Returns
    -------
    mu : float
    grad : ndarray, shape (P,)
        In the parameter order of SPEC 1.2.

    Raises
    ------
    ValueError
        If ``fixed_point`` is not a fixed point (residual above
        ``FIXED_POINT_RTOL * max(1, |h|_inf)``), or at a fold in theta.

    Notes
    -----
    At a branch point (``I - A`` or ``A`` singular) ``dh*/dtheta`` is taken
    as the least-squares solution when ``dF/dtheta`` lies in the range (for
    example ``h* = 0`` of an odd network, where the term vanishes); when it
    does not (a fold) a ``ValueError`` is raised.
    """
    from .system import rnn_system

    system = rnn_system(model, x, view)
    h = getattr(fixed_point, "x", fixed_point)
    pt = analyse_point(system, h, model.theta)
    _check_fixed_point(pt, "fixed_point")
    n = pt.eigenvalues.size
    if not -n <= index < n:
        raise ValueError(
            f"index must lie in [-{n}, {n}) (negative counts from the end), "
            f"got {index}")
    lam = complex(pt.eigenvalues[index])
    q, p = pt.right[:, index], pt.left[:, index]

    M = np.eye(n) - pt.jacobian if system.is_map else -pt.jacobian
    Fth = system.dF_dp(pt.x, pt.p)
    hth = np.linalg.lstsq(M, Fth, rcond=None)[0]
    if np.linalg.norm(M @ hth - Fth) > SINGULAR_RESIDUAL * max(
            1.0, np.linalg.norm(Fth)):
        raise ValueError(
            "the fixed point is at a fold in theta (dF/dtheta leaves the "
            "range of I - A or A): dh*/dtheta does not exist; evaluate "
            "near it instead")
    dlam = _eigen_derivative(system, pt.x, pt.p, p, q, hth)
    if system.is_map:
        return abs(lam) - 1.0, np.real(np.conj(lam) * dlam) / abs(lam)
    return lam.real, np.real(dlam)
