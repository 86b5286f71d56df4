"""Bifurcation and residual channels of the state-space NTK (SPEC 6).

Letters: ``B`` sequences, ``T`` steps, ``N`` hidden units, ``P`` trainable
parameters, ``n = B T N`` rows of the flattened kernel (SPEC 3.1).

Near a fixed point ``h*`` with a critical mode (right eigenvector ``v``, left
eigenvector ``w``, ``w^H v = 1``) the kernel ``K = J J^T`` splits with the
projector ``Pi = I_{BT} ⊗ P`` acting on the unit index of every state::

    K = K_bif + K_res + K_x,   K_bif = Pi K Pi^T,
    K_res = (I - Pi) K (I - Pi)^T,   K_x = Pi K (I - Pi)^T + (I - Pi) K Pi^T

``P = v w^T`` (spectral; ``P = 2 Re(v w^H)``, real rank two, for a complex
pair) or the orthogonal projector on the span of ``v`` (``v v^T / |v|^2``).
``K_bif`` and ``K_res`` are Gram matrices of ``Pi J`` and ``(I - Pi) J``, so
every trace and top eigenvalue comes from ``J`` in factored form, without the
``n x n`` kernel: ``tr K_bif = |Pi J|_F^2`` and ``l_max(K_bif)`` is the top
eigenvalue of the ``P x P`` Gram ``(Pi J)^T (Pi J)``.

The critical coordinate ``x_t = w^T (h_t - h*)`` follows the scalar map
``x -> (1 + mu) x + a x^2 + c x^3 + e_t`` (``e_t`` the projected input drive,
which does not depend on ``mu``). Differentiating in ``mu`` gives the
sensitivity recursion used for the normal-form prediction of ``J delta``::

    s_{t+1} = (1 + mu + 2 a x_t + 3 c x_t^2) s_t + x_t,   s_0 = 0

and, to leading order, ``J_t delta = (grad mu . delta) s_t v``.
"""

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator

from . import _validation as val
from ._memory import FLOAT_BYTES, check_budget
from .derivatives import jvp, vjp
from .dynamics.fixed_points import FixedPoint, critical_distance
from .kernel import (KernelMemoryError, add_parameter_gram, parameter_gram,
                     symmetric_from_upper)
from .model import RNN
from .spectra import as_symmetric_kernel, canonical_sign, spectrum
from .trajectories import check_inputs, forward

__all__ = [
    "ChannelSplit",
    "CriticalMode",
    "DominantDirection",
    "RestrictedKernel",
    "critical_projector",
    "decompose",
    "dominant_direction",
    "restricted_sntk",
    "sensitivity_profile",
]

#: Projector variants (SPEC 6).
VARIANTS = ("spectral", "orthogonal")

#: A given projector is accepted if ``max|P^2 - P| <= PROJECTOR_RTOL max|P|``.
PROJECTOR_RTOL = 1e-8

#: ``|w^H v|`` below this fraction of ``|w| |v|`` means the pair cannot be
#: normalised (left and right eigenvectors of different eigenvalues).
BIORTHOGONAL_MIN = 1e-8

#: An eigenvector whose imaginary part is below this fraction of its real
#: part is treated as real (a real critical eigenvalue).
IMAG_RTOL = 1e-12

#: Bytes of ``J`` rows processed at once when accumulating ``P x P`` Grams.
CHUNK_BYTES = 64 * 2**20


# -- the critical mode -------------------------------------------------------
@dataclass(frozen=True)
class CriticalMode:
    """The critical mode at a fixed point, in the **map** view (SPEC 4, 6).

    Attributes
    ----------
    h_star : ndarray, shape (N,)
        The fixed point.
    v : ndarray, shape (N,), real or complex
        Critical right eigenvector of ``A = dF/dh``.
    w : ndarray, shape (N,), real or complex
        Critical left eigenvector (``w^H A = lambda w^H``); rescaled on
        construction so that ``w^H v = 1``.
    mu : float
        Unfolding parameter of the map (multiplier minus one, SPEC 4.4).
    c : float
        Cubic normal-form coefficient of the map (pitchfork, SPEC 4.3).
    a : float
        Quadratic coefficient (transcritical); zero for a pitchfork.
    grad_mu : ndarray, shape (P,), optional
        ``d mu / d theta`` of the map in SPEC 1.2 order.

    For an ``euler`` model analysed in the flow view, use
    :meth:`from_flow`, which multiplies ``mu``, ``a``, ``c`` and ``grad_mu``
    by ``dt`` (SPEC 4.6: multiplier ``1 + dt lambda``, ``c_map = dt c``).
    """

    h_star: np.ndarray
    v: np.ndarray
    w: np.ndarray
    mu: float = 0.0
    c: float = 0.0
    a: float = 0.0
    grad_mu: Optional[np.ndarray] = None

    def __post_init__(self):
        set_ = object.__setattr__
        h_star = val.as_real_array("h_star", self.h_star, ndim=1)
        n = h_star.shape[0]
        v = _as_vector("v", self.v, n)
        w = _as_vector("w", self.w, n)
        set_(self, "h_star", h_star)
        set_(self, "v", v)
        set_(self, "w", w / np.conj(_pairing(v, w)))
        for name in ("mu", "c", "a"):
            set_(self, name, val.check_scalar(name, getattr(self, name)))
        if self.grad_mu is not None:
            set_(self, "grad_mu", val.as_real_array("grad_mu", self.grad_mu,
                                                    ndim=1))

    @property
    def is_complex(self):
        """True for a complex pair (Hopf / Neimark-Sacker)."""
        return np.iscomplexobj(self.v)

    @classmethod
    def from_flow(cls, h_star, v, w, mu, dt, c=0.0, a=0.0, grad_mu=None):
        """The map-view mode of an ``euler`` cell from flow quantities.

        Parameters
        ----------
        h_star, v, w : ndarray, shape (N,)
        mu : float
            Flow unfolding parameter (real part of the critical eigenvalue).
        dt : float
            Euler step; the map's ``mu``, ``a``, ``c`` and ``grad_mu`` are
            ``dt`` times the flow's.
        c, a : float
        grad_mu : ndarray, shape (P,), optional

        Returns
        -------
        mode : CriticalMode
        """
        dt = val.check_scalar("dt", dt, 0.0, 1.0, low_open=True)
        grad = None if grad_mu is None else dt * np.asarray(grad_mu)
        return cls(h_star, v, w, mu=dt * mu, c=dt * c, a=dt * a,
                   grad_mu=grad)

    @classmethod
    def from_fixed_point(cls, point, *, index=0, dt=None, c=0.0, a=0.0,
                         grad_mu=None):
        """The mode of eigenvalue ``index`` of a fixed point (SPEC 4.2).

        Parameters
        ----------
        point : sntk_ref.dynamics.fixed_points.FixedPoint
            Map or flow point; eigenvalue 0 is the one nearest instability.
        index : int
            Which eigenvalue (SPEC 4.2 order).
        dt : float, optional
            Required for a flow point (``euler`` cell): the flow's ``mu``
            (``Re lambda``), ``c``, ``a``, ``grad_mu`` are scaled by ``dt``
            (:meth:`from_flow`). For a map point ``mu = |lambda| - 1``.
        c, a : float
            Normal-form coefficients in the point's own view.
        grad_mu : ndarray, shape (P,), optional
            In the point's own view.

        Returns
        -------
        mode : CriticalMode
        """
        if not isinstance(point, FixedPoint):
            raise TypeError(
                f"point must be a FixedPoint, got {type(point).__name__}")
        lam = point.eigenvalues[index]
        v, w = point.right[:, index], point.left[:, index]
        mu = float(critical_distance(lam, point.kind))
        if point.kind == "map":
            return cls(point.x, v, w, mu=mu, c=c, a=a, grad_mu=grad_mu)
        if dt is None:
            raise ValueError(
                "a flow point needs dt to give the map-view mode (euler cell)")
        return cls.from_flow(point.x, v, w, mu, dt, c=c, a=a, grad_mu=grad_mu)


def _as_vector(name, value, n):
    """A length-``n`` float64 or complex128 vector (complex kept)."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        arr = arr.astype(np.complex128)
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        val.check_finite(name, arr)
        scale = np.max(np.abs(arr.real), initial=0.0)
        if np.max(np.abs(arr.imag), initial=0.0) <= IMAG_RTOL * scale:
            return arr.real.copy()
        return arr
    return val.as_real_array(name, arr, shape=(n,))


def _as_float64(name, value, *, ndim=None, shape=None):
    """``value`` as a checked float64 array, not copied if it already is one.

    A float64 ``ndarray`` of the right shape (the package's own ``J`` or
    ``H``) is returned as is when the sum of its entries is finite (which no
    NaN or infinity allows); anything else, including a sum that overflows,
    goes through :func:`sntk_ref._validation.as_real_array`, which copies
    and names the first bad entry.
    """
    if type(value) is np.ndarray and value.dtype == np.float64 and _fits(
            value, ndim, shape):
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.sum(value))
        if math.isfinite(total):
            return value
    return val.as_real_array(name, value, ndim=ndim, shape=shape)


def _fits(arr, ndim, shape):
    """Whether ``arr`` has the exact ``shape`` (or one of the ``ndim``)."""
    if shape is not None:
        return arr.shape == tuple(shape)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    return ndim is None or arr.ndim in allowed


def _pairing(v, w):
    """``w^H v``, refused if it vanishes relative to ``|w| |v|``."""
    pair = np.vdot(w, v)
    if abs(pair) <= BIORTHOGONAL_MIN * np.linalg.norm(w) * np.linalg.norm(v):
        raise ValueError(
            f"w^H v = {pair:.3e} is (nearly) zero relative to |w| |v|: w is "
            "not the left eigenvector paired with v"
        )
    return pair


# -- the projector -----------------------------------------------------------
def critical_projector(v, w=None, variant="spectral"):
    """Real projector on the critical mode (SPEC 6).

    Parameters
    ----------
    v : array_like, shape (N,), real or complex
        Critical right eigenvector.
    w : array_like, shape (N,), optional
        Critical left eigenvector; required for ``variant="spectral"``.
    variant : {"spectral", "orthogonal"}
        ``"spectral"``: ``P = v w^T / (w^T v)`` for real ``v``, and
        ``P = 2 Re(v w^H) / (w^H v)`` (real, rank two; the sum of the
        spectral projectors of ``v`` and ``conj(v)``) for a complex pair.
        ``"orthogonal"``: the orthogonal projector on ``span(v)``
        (``v v^T / |v|^2``), or on ``span(Re v, Im v)`` for a complex pair.

    Returns
    -------
    P : ndarray, shape (N, N)
        Real, ``P^2 = P``, ``P v = v``.
    """
    val.check_choice("variant", variant, VARIANTS)
    raw = np.asarray(v)
    if raw.ndim != 1:
        raise ValueError(f"v must be a vector (N,), got shape {raw.shape}")
    v = _as_vector("v", raw, raw.shape[0])

    if variant == "orthogonal":
        basis = np.column_stack([v.real, v.imag]) if np.iscomplexobj(v) else (
            v[:, None])
        Q, _ = np.linalg.qr(basis)
        return Q @ Q.T

    if w is None:
        raise ValueError('variant="spectral" needs the left eigenvector w')
    w = _as_vector("w", w, v.shape[0])
    w = w / np.conj(_pairing(v, w))
    if np.iscomplexobj(v) or np.iscomplexobj(w):
        return 2.0 * np.real(np.outer(v, np.conj(w)))
    return np.outer(v, w)


def _projector_from(critical, variant):
    """The ``(N, N)`` projector from a projector, a mode or a ``(v, w)`` pair."""
    if isinstance(critical, FixedPoint):
        critical = (critical.right[:, 0], critical.left[:, 0])
    if isinstance(critical, CriticalMode):
        return critical_projector(critical.v, critical.w, variant), variant
    if isinstance(critical, tuple):
        if len(critical) != 2:
            raise ValueError(
                f"critical as a tuple must be (v, w), got {len(critical)} items"
            )
        return critical_projector(critical[0], critical[1], variant), variant

    P = val.as_real_array("critical", critical, ndim=2)
    if P.shape[0] != P.shape[1]:
        raise ValueError(f"a projector must be square, got shape {P.shape}")
    err = np.max(np.abs(P @ P - P), initial=0.0)
    if err > PROJECTOR_RTOL * max(np.max(np.abs(P), initial=0.0), 1.0):
        raise ValueError(
            f"critical is not a projector: max|P^2 - P| = {err:.3e} exceeds "
            f"{PROJECTOR_RTOL:g} * max|P|"
        )
    return P, "given"


# -- the split ---------------------------------------------------------------
@dataclass(frozen=True)
class ChannelSplit:
    """Traces, top eigenvalues and ratios of the channel split (SPEC 6).

    Attributes
    ----------
    projector : ndarray, shape (N, N)
        The ``P`` of ``Pi = I_{BT} ⊗ P``.
    variant : str
        ``"spectral"``, ``"orthogonal"`` or ``"given"`` (projector passed in).
    trace_total, trace_bif, trace_res, trace_cross : float
        ``tr K``, ``tr K_bif``, ``tr K_res``, ``tr K_x`` (they sum).
    lmax_total, lmax_bif, lmax_res : float
        Top eigenvalues of ``K``, ``K_bif``, ``K_res``.
    K_bif, K_res, K_x : ndarray, shape (n, n), or None
        Dense blocks (flattened, rows ``(b, t, i)``), only when requested.
    """

    projector: np.ndarray
    variant: str
    trace_total: float
    trace_bif: float
    trace_res: float
    trace_cross: float
    lmax_total: float
    lmax_bif: float
    lmax_res: float
    K_bif: Optional[np.ndarray] = None
    K_res: Optional[np.ndarray] = None
    K_x: Optional[np.ndarray] = None

    @property
    def A_spec(self):
        """``l_max(K_bif) / l_max(K_res)`` (``inf`` if ``K_res = 0``)."""
        return _ratio(self.lmax_bif, self.lmax_res)

    @property
    def A_tr(self):
        """``tr K_bif / tr K_res`` (``inf`` if ``K_res = 0``)."""
        return _ratio(self.trace_bif, self.trace_res)

    @property
    def rho(self):
        """``tr K_bif / tr K``, the fraction of the kernel's trace."""
        return _ratio(self.trace_bif, self.trace_total)


def _ratio(num, den):
    """``num / den`` with ``x / 0 = inf`` for ``x > 0`` and ``0 / 0 = nan``."""
    if den > 0.0:
        return num / den
    return math.inf if num > 0.0 else math.nan


def decompose(K_or_J, critical, *, variant="spectral", return_blocks=False,
              max_bytes=None, gram=None, lmax_total=None):
    """Split the kernel into bifurcation, residual and cross channels (SPEC 6).

    Parameters
    ----------
    K_or_J : ndarray
        Either the kernel, shape ``(n, n)`` (rows ``(b, t, i)``) or
        ``(B, T, N, B, T, N)``, or the state Jacobian ``J``, shape
        ``(B, T, N, P)`` (four dimensions always mean ``J``). With ``J`` the
        kernel is never formed: traces (squared Frobenius norms of ``Pi J``
        and ``(I - Pi) J``) and top eigenvalues come from their small Gram
        matrices (``P x P``, accumulated over chunks of rows; or ``n x n``
        when ``n <= P``).
    critical : ndarray (N, N), CriticalMode, FixedPoint or tuple (v, w)
        A real projector (used as given, ``variant`` ignored), a
        :class:`CriticalMode`, a fixed point (its eigenvalue 0, the one
        nearest instability, and its partner if complex), or the critical
        right and left eigenvectors.
    variant : {"spectral", "orthogonal"}
        Which projector to build (see :func:`critical_projector`).
    return_blocks : bool
        Also return the dense ``K_bif``, ``K_res``, ``K_x`` of shape
        ``(n, n)``; refused up front (``KernelMemoryError``) if they exceed
        ``max_bytes``.
    max_bytes : float, optional
        Memory budget of the dense blocks; default
        :func:`sntk_ref.kernel.default_max_bytes`.
    gram : ndarray, shape (P, P), optional
        ``J^T J`` when the caller already holds it (Jacobian input only): the
        ``P x P`` route then accumulates only the two projected Grams. It is
        trusted to be the Gram of ``J`` (only its shape is checked); the
        ``n x n`` route (``n <= P`` or ``return_blocks``) does not use it.
    lmax_total : float, optional
        ``l_max(K)`` when already known (Jacobian input only, for example
        the top eigenvalue of ``gram``); otherwise computed. Trusted as
        given (negative round-off is clipped to 0).

    Returns
    -------
    split : ChannelSplit
        With the ratios ``A_spec``, ``A_tr`` and ``rho`` as properties.
    """
    val.check_choice("variant", variant, VARIANTS)
    arr = np.asarray(K_or_J)
    P, used = _projector_from(critical, variant)
    N = P.shape[0]

    if arr.ndim == 4:
        J = _as_float64("J", arr, ndim=4)
        if J.shape[2] != N:
            raise ValueError(
                f"J has N = {J.shape[2]} units per state but the projector "
                f"is {N} x {N}"
            )
        if return_blocks:
            _check_budget(int(np.prod(J.shape[:3])), 4, max_bytes,
                          "blocks K_bif, K_res, K_x")
        if gram is not None:
            gram = _as_float64("gram", gram, shape=(J.shape[3],) * 2)
        if lmax_total is not None:
            lmax_total = max(val.check_scalar("lmax_total", lmax_total), 0.0)
        return _split_from_J(J, P, used, return_blocks, gram, lmax_total)

    if gram is not None or lmax_total is not None:
        raise ValueError(
            "gram and lmax_total apply to a Jacobian J (four dimensions, "
            f"(B, T, N, P)), got K_or_J of shape {arr.shape}"
        )

    if arr.ndim not in (2, 6):
        raise ValueError(
            "K_or_J must be a kernel (n, n) or (B, T, N, B, T, N) or a "
            f"Jacobian (B, T, N, P), got shape {arr.shape}"
        )
    K = as_symmetric_kernel(arr, square_hint=" (pass a Jacobian with four "
                            "dimensions, (B, T, N, P))")
    if K.shape[0] % N:
        raise ValueError(
            f"the kernel size {K.shape[0]} is not a multiple of N = {N}, the "
            "size of the projector"
        )
    if return_blocks:
        _check_budget(K.shape[0], 3, max_bytes, "blocks K_bif, K_res, K_x")
    return _split_from_K(K, P, used, return_blocks)


def _check_budget(n, n_blocks, max_bytes, what):
    """Refuse up front ``n_blocks`` dense ``n x n`` blocks above the budget.

    The budget rule is the package's (:func:`sntk_ref._memory.check_budget`).
    """
    max_bytes = check_budget(max_bytes)
    need = n_blocks * n * n * FLOAT_BYTES
    if need > max_bytes:
        raise KernelMemoryError(
            f"the dense {what} of size {n} x {n} need {need / 2**30:.2f} GiB, "
            f"above max_bytes = {max_bytes / 2**30:.2f} GiB; do not ask for "
            "the dense blocks"
        )


def _project_units(P, M):
    """Apply ``P`` to the unit axis (axis 1) of ``M (BT, N, m)``."""
    return np.matmul(P, M)


def _top_eig(G):
    """Largest eigenvalue of a symmetric PSD matrix (0 for an empty one)."""
    m = G.shape[0]
    if m == 0:
        return 0.0
    G = 0.5 * (G + G.T)
    top = scipy.linalg.eigvalsh(G, subset_by_index=[m - 1, m - 1])[0]
    return max(float(top), 0.0)


def _split_from_K(K, P, used, return_blocks):
    """The split of a dense kernel: ``Pi K Pi^T`` etc. formed directly."""
    N, n = P.shape[0], K.shape[0]
    K4 = K.reshape(n // N, N, n // N, N)
    R = np.eye(N) - P

    # Pi K Pi^T and (I - Pi) K (I - Pi)^T, unit axes projected on both sides
    K_bif = np.einsum("ij,ajbk,lk->aibl", P, K4, P, optimize=True)
    K_res = np.einsum("ij,ajbk,lk->aibl", R, K4, R, optimize=True)
    return _assemble(P, used, (K, K_bif.reshape(n, n), K_res.reshape(n, n)),
                     return_blocks)


def _assemble(P, used, grams, return_blocks, lmax_total=None):
    """A :class:`ChannelSplit` from the Grams of ``J``, ``Pi J``, ``(I-Pi) J``.

    ``grams`` are either the ``n x n`` kernels ``K, K_bif, K_res`` or the
    ``P x P`` Grams ``J^T J`` etc.; both have the same traces and nonzero
    eigenvalues. ``lmax_total``, when known, is that of the first.
    """
    tot, bif, res = (float(np.trace(G)) for G in grams)
    lmax = [_top_eig(G) for G in grams[1:]]
    lmax.insert(0, _top_eig(grams[0]) if lmax_total is None else lmax_total)
    blocks = (None, None, None)
    if return_blocks:
        K, K_bif, K_res = grams
        blocks = (K_bif, K_res, K - K_bif - K_res)
    return ChannelSplit(P, used, tot, bif, res, tot - bif - res, *lmax,
                        *blocks)


def _split_from_J(J, P, used, return_blocks, gram=None, lmax_total=None):
    """The split from ``J (B, T, N, P)`` without the ``n x n`` kernel.

    ``gram`` (``J^T J``) and ``lmax_total``, when the caller has them, are
    not recomputed.
    """
    B, T, N, n_par = J.shape
    rows = J.reshape(B * T, N, n_par)
    n = B * T * N

    if n <= n_par or return_blocks:
        # few rows (or blocks asked for): the n x n kernels themselves
        J2 = rows.reshape(n, n_par)
        PJ = _project_units(P, rows).reshape(n, n_par)
        RJ = J2 - PJ
        grams = (J2 @ J2.T, PJ @ PJ.T, RJ @ RJ.T)
    else:
        grams = _parameter_grams(rows, P, gram)
    return _assemble(P, used, grams, return_blocks, lmax_total)


def _row_chunks(rows):
    """Slices of the ``BT`` axis holding about ``CHUNK_BYTES`` of ``J``."""
    per = max(1, CHUNK_BYTES // max(1, rows[0].size * 8))
    return [slice(i, i + per) for i in range(0, rows.shape[0], per)]


def _parameter_grams(rows, P, gram=None):
    """``J^T J``, ``(Pi J)^T (Pi J)``, ``((I-Pi) J)^T ((I-Pi) J)``, chunked.

    With ``gram`` (``J^T J`` already known) only the last two are built.
    """
    n_par = rows.shape[2]
    skip = 0 if gram is None else 1
    G = [np.zeros((n_par, n_par), order="F") for _ in range(3 - skip)]
    for sl in _row_chunks(rows):
        Jc = rows[sl].reshape(-1, n_par)
        PJ = _project_units(P, rows[sl]).reshape(-1, n_par)
        G = [add_parameter_gram(g, M)
             for g, M in zip(G, (Jc, PJ, Jc - PJ)[skip:])]
    G = [symmetric_from_upper(g) for g in G]
    return tuple(G) if gram is None else (gram, *G)


# -- the dominant parameter direction ----------------------------------------
@dataclass(frozen=True)
class DominantDirection:
    """Top right singular vector of ``J`` (SPEC 6).

    Attributes
    ----------
    delta : ndarray, shape (P,)
        Unit vector, canonical sign (largest-magnitude entry positive,
        SPEC 3.4).
    l1, l2 : float
        The two largest eigenvalues of ``K`` (squared singular values of
        ``J``); ``l2`` is 0 if ``J`` has one column.
    cos_grad_mu : float or None
        ``|cos(delta, grad mu)|`` when ``grad_mu`` was given (absolute: the
        sign of ``delta`` is a convention).
    """

    delta: np.ndarray
    l1: float
    l2: float
    cos_grad_mu: Optional[float] = None

    @classmethod
    def from_spectrum(cls, eigenvalues, eigenvectors, grad_mu=None):
        """The direction from leading eigenpairs of ``J^T J`` (SPEC 3.4, 6).

        For a caller that already holds the spectrum of the ``P x P`` Gram
        (for example :func:`sntk_ref.spectra.spectrum` of ``J^T J``).

        Parameters
        ----------
        eigenvalues : array_like, shape (k,)
            Descending, ``k >= 1``; the first two are ``l1``, ``l2``.
        eigenvectors : array_like, shape (P, k)
            Matching eigenvectors (columns); the first, given the canonical
            sign (SPEC 3.4), is ``delta``. It should have unit norm.
        grad_mu : array_like, shape (P,), optional
            Its absolute cosine with ``delta`` is reported.

        Returns
        -------
        result : DominantDirection
        """
        lam = val.as_real_array("eigenvalues", eigenvalues, ndim=1)
        vecs = np.asarray(eigenvectors)
        if lam.size == 0 or vecs.ndim != 2 or vecs.shape[1] != lam.size:
            raise ValueError(
                f"eigenvectors must have shape (P, k) with k = {lam.size} >= 1 "
                f"(the number of eigenvalues), got shape {vecs.shape}"
            )
        delta = canonical_sign(val.as_real_array("eigenvectors", vecs[:, 0]))
        l2 = float(lam[1]) if lam.size > 1 else 0.0
        cos = None
        if grad_mu is not None:
            g = val.as_real_array("grad_mu", grad_mu, shape=(delta.size,))
            cos = _abs_cos(delta, g)
        return cls(delta, float(lam[0]), l2, cos)


def _abs_cos(a, b):
    """``|<a, b>| / (|a| |b|)`` (nan if either is zero)."""
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(abs(np.vdot(a, b)) / den) if den > 0 else math.nan


def _gram_operator(model, X, h0):
    """``d -> J^T J d`` by one JVP and one VJP (SPEC 2.3), shape (P, P)."""
    n_par = model.n_params

    def matvec(d):
        return vjp(model, X, jvp(model, X, np.ravel(d), h0), h0)[0]

    return LinearOperator((n_par, n_par), matvec=matvec, dtype=np.float64)


def _gram_spectrum(J):
    """Top two eigenpairs of ``J^T J`` from the smaller Gram of ``J (n, P)``.

    ``J^T J`` directly when ``P <= n``; otherwise ``K = J J^T`` and the
    right singular vector ``J^T u / |J^T u|`` (SPEC 3.4).
    """
    n, n_par = J.shape
    k = min(2, n, n_par)
    if n_par <= n:
        return spectrum(K=parameter_gram(J), k=k)
    lam, U = spectrum(K=J @ J.T, k=k)
    V = J.T @ U
    return lam, V / np.linalg.norm(V, axis=0)


def dominant_direction(source, X=None, *, h0=None, grad_mu=None):
    """The dominant parameter direction ``delta`` of the kernel (SPEC 6).

    Parameters
    ----------
    source : ndarray or RNN
        The Jacobian ``J``, shape ``(B, T, N, P)`` or ``(n, P)`` (thin SVD
        through :func:`sntk_ref.spectra.spectrum`), or a model, in which case
        ``J`` is never formed: Lanczos on ``J^T J`` applied by JVP + VJP.
    X : array_like, shape (B, T, D), optional
        Inputs; required with a model.
    h0 : array_like, shape (N,) or (B, N), optional
        Initial state (model route only).
    grad_mu : array_like, shape (P,), optional
        Gradient of the unfolding parameter; its cosine with ``delta`` is
        reported.

    Returns
    -------
    result : DominantDirection
    """
    if isinstance(source, RNN):
        if X is None:
            raise ValueError("X is required when source is a model")
        X, h0 = check_inputs(source, X, h0)
        k = min(2, source.n_params)
        spec = spectrum(operator=_gram_operator(source, X, h0), k=k)
    else:
        J = _as_float64("J", source, ndim=(2, 4))
        spec = _gram_spectrum(J.reshape(-1, J.shape[-1]))
    return DominantDirection.from_spectrum(*spec, grad_mu=grad_mu)


# -- the restricted kernel and its normal-form prediction --------------------
@dataclass(frozen=True)
class RestrictedKernel:
    """``K_delta = (J delta)(J delta)^T`` and its normal-form match (SPEC 6).

    Attributes
    ----------
    J_delta : ndarray, shape (B, T, N)
        ``J delta``; ``K_delta`` is its outer product with itself.
    eigenvalue : float
        ``|J delta|^2``, the only nonzero eigenvalue of ``K_delta``.
    x : ndarray, shape (B, T)
        Projected trajectory ``w^T (h - h*)``, aligned with ``H``
        (``x[b, t]`` belongs to ``H[b, t] = h_{t+1}``).
    s : ndarray, shape (B, T)
        Sensitivity profile ``dx/dmu``, aligned like ``x``.
    prediction : ndarray, shape (B, T, N)
        ``s ⊗ v``: ``prediction[b, t] = s[b, t] v``.
    cos : float
        ``|cos(J delta, s ⊗ v)|`` over all ``(b, t, i)``.
    projection : float
        ``(grad mu . delta)``, the predicted amplitude (nan without
        ``grad_mu``).
    norm_ratio : float
        ``|J delta| / (|grad mu . delta| |s ⊗ v|)``; 1 to leading order
        (nan without ``grad_mu``).
    K_delta : ndarray, shape (n, n) or None
        Dense restricted kernel, only when requested.
    """

    J_delta: np.ndarray
    eigenvalue: float
    x: np.ndarray
    s: np.ndarray
    prediction: np.ndarray
    cos: float
    projection: float
    norm_ratio: float
    K_delta: Optional[np.ndarray] = None


def sensitivity_profile(x_prev, mu, c=0.0, a=0.0):
    """``s = dx/dmu`` along a projected map trajectory (SPEC 5, 6).

    ``s_{t+1} = (1 + mu + 2 a x_t + 3 c x_t^2) s_t + x_t``, ``s_0 = 0``: the
    derivative in ``mu`` of ``x_{t+1} = (1 + mu) x_t + a x_t^2 + c x_t^3
    + e_t`` with a drive ``e_t`` that does not depend on ``mu``.

    Parameters
    ----------
    x_prev : array_like, shape (B, T)
        ``x_t`` for ``t = 0 .. T-1`` (the state *before* each step); finite,
        upcast to float64.
    mu, c, a : float
        Finite real numbers.

    Returns
    -------
    s : ndarray, shape (B, T)
        ``s_{t+1}`` for ``t = 0 .. T-1`` (aligned with the states after
        each step).
    """
    x_prev = val.as_real_array("x_prev", x_prev, ndim=2)
    mu = val.check_scalar("mu", mu)
    c = val.check_scalar("c", c)
    a = val.check_scalar("a", a)

    s = np.zeros(x_prev.shape)
    prev = np.zeros(x_prev.shape[0])
    for t in range(x_prev.shape[1]):
        xt = x_prev[:, t]
        prev = (1.0 + mu + 2.0 * a * xt + 3.0 * c * xt * xt) * prev + xt
        s[:, t] = prev
    return s


def restricted_sntk(model, X, delta, critical, *, h0=None,
                    return_kernel=False, max_bytes=None, J=None, H=None):
    """The kernel restricted to ``delta`` and its normal-form prediction.

    SPEC 6. ``K_delta = (J delta)(J delta)^T`` (``J delta`` by one JVP), and
    the comparison of ``J delta`` with ``(grad mu . delta) s ⊗ v``, where
    ``s`` solves the map sensitivity recursion (:func:`sensitivity_profile`)
    along each sequence's projected trajectory ``x_t = w^T (h_t - h*)``
    (including ``x_0`` from the initial state).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    delta : array_like, shape (P,)
        Parameter direction (usually :func:`dominant_direction`).
    critical : CriticalMode
        Map-view critical data with a real ``v`` (pitchfork or
        transcritical); ``grad_mu`` needed for ``norm_ratio``.
    h0 : array_like, shape (N,) or (B, N), optional
    return_kernel : bool
        Also return the dense ``K_delta (n, n)``; refused up front
        (``KernelMemoryError``) above ``max_bytes``.
    max_bytes : float, optional
        Default :func:`sntk_ref.kernel.default_max_bytes`.
    J : ndarray, shape (B, T, N, P), optional
        The state Jacobian on ``X`` when the caller already holds it:
        ``J delta`` is then the product ``J @ delta`` (equal to the JVP to
        round-off) instead of a JVP.
    H : ndarray, shape (B, T, N), optional
        ``forward(model, X, h0)`` when already computed.

    Returns
    -------
    result : RestrictedKernel
    """
    if not isinstance(critical, CriticalMode):
        raise TypeError(
            "critical must be a CriticalMode, got "
            f"{type(critical).__name__}"
        )
    if critical.is_complex:
        raise NotImplementedError(
            "the normal-form prediction of J delta for a complex pair "
            "(Hopf / Neimark-Sacker amplitude sensitivity) is not implemented"
        )
    X, h0 = check_inputs(model, X, h0)
    delta = val.as_real_array("delta", delta, shape=(model.n_params,))
    if critical.v.shape[0] != model.n_hidden:
        raise ValueError(
            f"critical has N = {critical.v.shape[0]}, the model "
            f"{model.n_hidden}"
        )

    # J delta and the projected trajectory x_t, t = 0 .. T
    states = X.shape[:2] + (model.n_hidden,)
    if J is None:
        Jd = jvp(model, X, delta, h0)
    else:
        Jd = _as_float64("J", J, shape=states + (model.n_params,)) @ delta
    if H is None:
        H = forward(model, X, h0)
    else:
        H = _as_float64("H", H, shape=states)
    x = (H - critical.h_star) @ critical.w
    x_prev = np.concatenate([(h0 - critical.h_star) @ critical.w[:, None],
                             x[:, :-1]], axis=1)

    # normal-form profile s and the prediction s ⊗ v
    s = sensitivity_profile(x_prev, critical.mu, critical.c, critical.a)
    pred = s[:, :, None] * critical.v
    cos = _abs_cos(Jd.ravel(), pred.ravel())
    proj, ratio = math.nan, math.nan
    if critical.grad_mu is not None:
        g = val.as_real_array("grad_mu", critical.grad_mu,
                              shape=(model.n_params,))
        proj = float(g @ delta)
        ratio = _ratio(np.linalg.norm(Jd),
                       abs(proj) * np.linalg.norm(pred))

    K_delta = None
    if return_kernel:
        _check_budget(Jd.size, 1, max_bytes, "restricted kernel K_delta")
        K_delta = np.outer(Jd.ravel(), Jd.ravel())
    return RestrictedKernel(Jd, float(np.sum(Jd * Jd)), x, s, pred, cos,
                            proj, ratio, K_delta)
