"""Spectrum, eigenvector sign convention and effective ranks of a kernel.

Implements SPEC 3.4. The kernel ``K = J J^T`` (SPEC 3.1) is symmetric
positive semidefinite; its spectrum is computed from

- the matrix ``K`` itself (dense ``eigh``), given square or with six indices;
- the Jacobian ``J`` (thin SVD ``J = U diag(s) V^T``, which works on the
  smaller of ``J J^T`` and ``J^T J`` implicitly and is more accurate than
  forming either: the eigenvalues are ``s^2``, the kernel's eigenvectors the
  columns of ``U``, the parameter-space ones (of ``J^T J``) those of ``V``);
- a ``scipy.sparse.linalg.LinearOperator`` (Lanczos, ``eigsh``), for the top
  ``k`` eigenpairs only.

Eigenvalues are returned in descending order and every eigenvector carries
the sign convention of :func:`canonical_sign`, so that all routes return the
same vectors to round-off (CASES C09).

Letters: ``n`` size of the kernel (``B T N`` in SPEC 3.1), ``P`` parameters,
``k`` number of eigenpairs requested, ``r = min(n, P)``.
"""

from typing import NamedTuple

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator, eigsh

from sntk_ref._validation import (
    as_real_array,
    check_choice,
    check_finite,
    check_positive_int,
)
from sntk_ref.kernel_layout import flatten_kernel
from sntk_ref.tolerances import EIG_ZERO_FACTOR, EPS

__all__ = [
    "Spectrum",
    "canonical_sign",
    "effective_rank",
    "effective_ranks",
    "spectrum",
]

#: Two entries of an eigenvector whose moduli agree to this relative level
#: count as tied for "largest"; the lower index then wins. Far above the
#: round-off of a computed eigenvector (~ n eps / gap) and far below any
#: genuine difference between entries.
SIGN_TIE_RTOL = 1e-10

#: A kernel ``K`` is accepted as symmetric if
#: ``max|K - K^T| <= SYMMETRY_RTOL * max|K|``; the round-off of an assembled
#: ``J J^T`` is ~ P eps, orders of magnitude below this.
SYMMETRY_RTOL = 1e-10

#: Lanczos (ARPACK) convergence tolerance; 0 asks for machine precision.
LANCZOS_TOL = 0.0

#: An operator is accepted as symmetric if, for two fixed random probes
#: ``u, v``, ``|u^T (A v) - v^T (A u)| <= OPERATOR_SYMMETRY_RTOL *
#: (|u| |A v| + |v| |A u|)``. The round-off of a matrix-free ``J (J^T q)`` is
#: ~ sqrt(n) eps relative to that scale; a genuinely non-symmetric operator
#: gives O(1).
OPERATOR_SYMMETRY_RTOL = 1e-8

#: Seed of the generator that draws the two symmetry probes (deterministic:
#: the same operator is always accepted or refused alike).
SYMMETRY_PROBE_SEED = 20240917

#: Effective-rank kinds (SPEC 3.4).
RANK_KINDS = ("pr", "entropy", "stable")


class Spectrum(NamedTuple):
    """Eigenpairs in descending order of the eigenvalue (SPEC 3.4).

    Attributes
    ----------
    eigenvalues : ndarray, shape (k,)
    eigenvectors : ndarray, shape (n, k) or (P, k)
        Column ``j`` belongs to ``eigenvalues[j]``; canonical sign.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


def canonical_sign(V, axis=0, tie_rtol=SIGN_TIE_RTOL):
    """Fix the sign (real) or phase (complex) of each vector (SPEC 3.4).

    Each vector is multiplied by the unit scalar that makes its entry of
    largest modulus real and positive (exactly: a complex pivot is set to its
    modulus). Entries whose moduli agree to the relative level ``tie_rtol``
    tie, and the lowest index wins. A zero vector is returned unchanged. For
    an eigenvalue of multiplicity above one this fixes each returned vector,
    not the choice of basis. This is the one implementation of the
    convention; :func:`sntk_ref.dynamics.canonicalize_vectors` (eigenvectors
    of fixed points) uses it too.

    Parameters
    ----------
    V : ndarray, shape (n, k) or (n,)
        Vectors, real or complex; with ``axis=0`` the vectors are the columns.
    axis : int
        Axis along which the entries of one vector run.
    tie_rtol : float
        Relative tie tolerance of the largest modulus (default
        ``SIGN_TIE_RTOL``).

    Returns
    -------
    V_canon : ndarray, same shape and dtype kind as ``V``
    """
    V = np.asarray(V)
    if not np.issubdtype(V.dtype, np.number):
        raise TypeError(f"V must be a numeric array, got dtype {V.dtype}")
    axis = _check_axis(axis, V.ndim)
    if not np.iscomplexobj(V):
        V = V.astype(np.float64)
    check_finite("V", V)

    # move the entry axis first and treat the rest as a batch of vectors
    W = np.moveaxis(V, axis, 0)
    flat = W.reshape(W.shape[0], -1)
    mod = np.abs(flat)
    top = mod.max(axis=0)

    # first entry within the tie tolerance of the largest modulus
    is_top = mod >= top * (1.0 - tie_rtol)
    lead = np.argmax(is_top, axis=0)
    cols = np.arange(flat.shape[1])
    pivot = flat[lead, cols]
    # unit scalar conj(pivot) / |pivot|; 1 for a zero vector
    safe = np.where(top > 0, np.abs(pivot), 1.0)
    unit = np.where(top > 0, np.conj(pivot) / safe, 1.0)

    out = flat * unit
    if np.iscomplexobj(out):
        # pivot * conj(pivot) / |pivot| may keep a round-off imaginary part
        out[lead, cols] = np.abs(pivot)
    out = out.reshape(W.shape)
    return np.moveaxis(out, 0, axis)


def _check_axis(axis, ndim):
    """``axis`` as a nonnegative int valid for an array of ``ndim`` dims."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(
        axis, (int, np.integer)
    ):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis must lie in [-{ndim}, {ndim}) for V with {ndim} "
            f"dimensions, got {axis}"
        )
    return int(axis) % ndim


def as_symmetric_kernel(K, square_hint=""):
    """Square float64 kernel from ``K`` (square or six-index), symmetric.

    Internal API, also used by :mod:`sntk_ref.channels`: the one check that
    a kernel (SPEC 3.1) is real, square and symmetric to ``SYMMETRY_RTOL``.

    Parameters
    ----------
    K : array_like, shape (n, n) or (B, T, N, B, T, N)
    square_hint : str
        Appended to the error message when ``K`` is not square.

    Returns
    -------
    K : ndarray, shape (n, n)
        ``(K + K^T) / 2``, exactly symmetric.
    """
    K = np.asarray(K)
    if K.ndim == 6:
        K = flatten_kernel(K)
    K = as_real_array("K", K, ndim=2)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be square, got shape {K.shape}{square_hint}")

    asym = np.max(np.abs(K - K.T), initial=0.0)
    scale = np.max(np.abs(K), initial=0.0)
    if asym > SYMMETRY_RTOL * scale:
        raise ValueError(
            f"K must be symmetric: max|K - K^T| = {asym:.3e} exceeds "
            f"{SYMMETRY_RTOL:g} * max|K| = {SYMMETRY_RTOL * scale:.3e}"
        )
    return 0.5 * (K + K.T)


def _one_source(**sources):
    """Name of the single argument among ``sources`` that is not None."""
    given = [name for name, value in sources.items() if value is not None]
    if len(given) != 1:
        raise ValueError(
            f"give exactly one of {', '.join(sources)}; got "
            f"{', '.join(given) if given else 'none'}"
        )
    return given[0]


def spectrum(K=None, *, J=None, operator=None, k=None, return_vectors=True,
             which="kernel", v0=None):
    """Eigenvalues (descending) and canonically signed eigenvectors (SPEC 3.4).

    Give exactly one of ``K``, ``J`` or ``operator``.

    Parameters
    ----------
    K : ndarray, shape (n, n) or (B, T, N, B, T, N), optional
        Symmetric PSD kernel (six-index input is flattened, SPEC 3.1).
        Refused if not symmetric to ``SYMMETRY_RTOL`` or if an eigenvalue is
        below ``-n * eps * l_1`` (not PSD, SPEC 3.4). Dense ``eigh``; with
        ``k`` only the top ``k`` pairs (and the smallest eigenvalue, for the
        PSD check) are computed.
    J : ndarray, shape (n, P), optional
        Jacobian with ``K = J J^T``. Thin SVD of ``J``: the eigenvalues are the
        squared singular values. Only the ``r = min(n, P)`` pairs that can be
        nonzero are returned; the other ``|n - P|`` eigenvalues (of ``K`` if
        ``n > P``, of ``J^T J`` if ``P > n``) are exactly zero.
    operator : scipy.sparse.linalg.LinearOperator, shape (n, n), optional
        Real symmetric PSD operator (for example ``q -> J (J^T q)``);
        Lanczos (``eigsh``, eigenvalues of largest magnitude, which are the
        largest ones of a PSD operator). Requires ``k``; if ``k >= n - 1``
        (beyond ARPACK) the operator is applied to the identity and the dense
        route is used. Refused: a complex dtype (``TypeError``); asymmetry
        found by two fixed random probes (``OPERATOR_SYMMETRY_RTOL``); a
        computed eigenvalue below ``-n * eps * l_1`` (not PSD, SPEC 3.4). A
        negative eigenvalue smaller in modulus than the ``k`` returned ones
        is beyond what Lanczos sees.
    k : int, optional
        Number of leading eigenpairs; default all (dense routes only).
    return_vectors : bool
        If False, return only the eigenvalues.
    which : {"kernel", "parameters"}
        With ``J``: return eigenvectors of ``K = J J^T`` (columns ``u_j`` of
        length ``n``, ``K u_j = s_j^2 u_j``) or of ``J^T J`` (right singular
        vectors ``v_j`` of length ``P``). The two sets are signed
        independently, so ``J v_j = ± s_j u_j``. With ``K`` or ``operator``
        only ``"kernel"`` is meaningful.
    v0 : ndarray, shape (n,), optional
        Lanczos start vector (``operator`` only); default ARPACK's own.

    Returns
    -------
    Spectrum or ndarray
        ``Spectrum(eigenvalues (k,), eigenvectors (n, k) or (P, k))``, or
        only ``eigenvalues (k,)`` when ``return_vectors`` is False.
    """
    source = _one_source(K=K, J=J, operator=operator)
    check_choice("which", which, ("kernel", "parameters"))
    if which == "parameters" and source != "J":
        raise ValueError('which="parameters" needs the Jacobian J')
    if k is not None:
        k = check_positive_int("k", k)

    if source == "operator":
        vals, vecs = _lanczos(operator, k, v0)
    elif source == "K":
        vals, vecs = _dense_eigh(as_symmetric_kernel(K), k, return_vectors)
    else:
        vals, vecs = _svd_route(as_real_array("J", J, ndim=2), k, which)

    if not return_vectors:
        return vals
    return Spectrum(vals, canonical_sign(vecs, axis=0))


def _dense_eigh(K, k, vectors=True):
    """Top ``k`` (or all) eigenpairs of a symmetric matrix, descending.

    With ``vectors=False`` only the eigenvalues are computed (``vecs`` is
    None).
    """
    n = K.shape[0]
    k = n if k is None else k
    if k > n:
        raise ValueError(f"k must be at most n = {n}, got {k}")

    out = scipy.linalg.eigh(K, subset_by_index=[n - k, n - 1],
                            eigvals_only=not vectors)
    vals, vecs = (out[0][::-1], out[1][:, ::-1]) if vectors else (out[::-1],
                                                                  None)

    # a kernel is PSD: refuse a real negative eigenvalue (SPEC 3.4), looking
    # at the smallest one even when only the top k were asked for
    lowest = vals[-1:] if k == n else scipy.linalg.eigh(
        K, eigvals_only=True, subset_by_index=[0, 0])
    _refuse_negative(np.concatenate([vals[:1], lowest]), n, "kernel")
    return vals, vecs


def _svd_route(J, k, which):
    """Eigenpairs of ``J J^T`` or ``J^T J`` from the thin SVD of ``J``."""
    U, s, Vt = scipy.linalg.svd(J, full_matrices=False)
    r = s.size
    k = r if k is None else k
    if k > r:
        raise ValueError(
            f"k must be at most min(n, P) = {r} with a Jacobian input, got {k}"
        )

    vecs = U[:, :k] if which == "kernel" else Vt[:k].T
    return s[:k] ** 2, vecs


def _check_operator(operator, k):
    """Refuse a non-operator, a non-square or complex one, or a missing k."""
    if not isinstance(operator, LinearOperator):
        raise TypeError(
            "operator must be a scipy.sparse.linalg.LinearOperator, got "
            f"{type(operator).__name__}"
        )
    n, m = operator.shape
    if n != m:
        raise ValueError(f"operator must be square, got shape {operator.shape}")
    if operator.dtype is not None and np.iscomplexobj(
        np.empty(0, operator.dtype)
    ):
        raise TypeError(
            f"operator must be real, got complex dtype {operator.dtype}; "
            "sntk_ref never drops an imaginary part silently"
        )
    if k is None:
        raise ValueError("k is required with an operator input (Lanczos)")
    if k > n:
        raise ValueError(f"k must be at most n = {n}, got {k}")
    return n


def _probe_symmetry(operator, n):
    """Refuse an operator with ``u^T (A v) != v^T (A u)`` for fixed probes."""
    rng = np.random.default_rng(SYMMETRY_PROBE_SEED)
    u, v = rng.standard_normal((2, n))
    Au, Av = np.asarray(operator.matvec(u)), np.asarray(operator.matvec(v))
    if np.iscomplexobj(Au) or np.iscomplexobj(Av):
        raise TypeError("operator must be real, but its products are complex")
    check_finite("operator products", np.concatenate([Au.ravel(), Av.ravel()]))

    gap = abs(u @ Av.ravel() - v @ Au.ravel())
    scale = (np.linalg.norm(u) * np.linalg.norm(Av)
             + np.linalg.norm(v) * np.linalg.norm(Au))
    if gap > OPERATOR_SYMMETRY_RTOL * scale:
        raise ValueError(
            f"operator must be symmetric: for two random probes "
            f"|u^T A v - v^T A u| = {gap:.3e} exceeds "
            f"{OPERATOR_SYMMETRY_RTOL:g} * (|u| |Av| + |v| |Au|) = "
            f"{OPERATOR_SYMMETRY_RTOL * scale:.3e}"
        )


def _refuse_negative(vals, n, what):
    """Refuse eigenvalues below ``-n * eps * l_1`` (not PSD, SPEC 3.4)."""
    top = np.max(np.abs(vals), initial=0.0)
    tol = EIG_ZERO_FACTOR * n * EPS * top
    low = np.min(vals, initial=0.0)
    if low < -tol:
        raise ValueError(
            f"the {what} is not positive semidefinite: eigenvalue {low:.3e} "
            f"is below -n*eps*l_1 = {-tol:.3e} (SPEC 3.4)"
        )


def _lanczos(operator, k, v0):
    """Top ``k`` eigenpairs of a symmetric PSD LinearOperator, descending."""
    n = _check_operator(operator, k)
    _probe_symmetry(operator, n)

    if k >= n - 1:
        # beyond ARPACK: all eigenvalues densely, so all are checked
        dense = operator.matmat(np.eye(n))
        vals, vecs = _dense_eigh(as_symmetric_kernel(dense), n)
        _refuse_negative(vals, n, "operator")
        return vals[:k], vecs[:, :k]

    if v0 is not None:
        v0 = as_real_array("v0", v0, shape=(n,))
    # largest magnitude: for a PSD operator the largest eigenvalues; for an
    # indefinite one a large negative eigenvalue shows up and is refused
    vals, vecs = eigsh(operator, k=k, which="LM", tol=LANCZOS_TOL, v0=v0)
    _refuse_negative(vals, n, "operator")

    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


def _kernel_eigenvalues(K, eigenvalues, J):
    """Eigenvalues of the kernel and its size ``n`` from one of three inputs."""
    source = _one_source(K=K, eigenvalues=eigenvalues, J=J)
    if source == "K":
        K = as_symmetric_kernel(K)
        if K.size == 0:
            raise ValueError(f"K must not be empty, got shape {K.shape}")
        return scipy.linalg.eigvalsh(K), K.shape[0]
    if source == "J":
        J = as_real_array("J", J, ndim=2)
        if J.size == 0:
            raise ValueError(f"J must not be empty, got shape {J.shape}")
        s = scipy.linalg.svdvals(J)
        # ranks are scale-free: squaring s / s_1 cannot overflow
        top = np.max(s)
        return (s / top if top > 0 else s) ** 2, J.shape[0]
    lam = as_real_array("eigenvalues", eigenvalues, ndim=1)
    if lam.size == 0:
        raise ValueError("eigenvalues must not be empty")
    return lam, lam.size


def _clipped(lam, n):
    """Eigenvalues over ``l_1``, round-off zeros set to 0; refuse indefinite.

    SPEC 3.4: ``|l| < n * eps * l_1`` counts as zero; a more negative
    eigenvalue means the matrix is not PSD; a zero matrix has no rank. The
    ranks are scale-free, so dividing by ``l_1`` first keeps the squares and
    logarithms finite from subnormal to near-overflow eigenvalues.
    """
    top = np.max(lam)
    if top <= 0.0:
        raise ValueError(
            "the kernel has no positive eigenvalue (zero matrix or negative "
            "definite): no effective rank"
        )

    tol = EIG_ZERO_FACTOR * n * EPS * top
    low = np.min(lam)
    if low < -tol:
        raise ValueError(
            f"the kernel is not positive semidefinite: eigenvalue {low:.3e} "
            f"is below -n*eps*l_1 = {-tol:.3e} (l_1 = {top:.3e}); refusing "
            "to clip it"
        )
    return np.where(np.abs(lam) < tol, 0.0, lam) / top


def _ranks_from(lam):
    """All three effective ranks of clipped eigenvalues over ``l_1``."""
    total = lam.sum()
    p = lam[lam > 0] / total
    return {
        "pr": total**2 / np.sum(lam**2),
        "entropy": float(np.exp(-np.sum(p * np.log(p)))),
        "stable": total / lam.max(),
    }


def effective_ranks(K=None, *, eigenvalues=None, J=None):
    """Participation ratio, entropy rank and stable rank (SPEC 3.4).

    Give exactly one of ``K``, ``eigenvalues`` or ``J``.

    - ``"pr"``: participation ratio ``(sum l)^2 / sum l^2``;
    - ``"entropy"``: ``exp(-sum p log p)`` with ``p = l / sum l``, the
      exponential of the Shannon entropy of the normalised eigenvalues of the
      **kernel** (Roy & Vetterli 2007) -- the squared singular values of
      ``J``, not the singular values themselves;
    - ``"stable"``: ``sum l / l_1``.

    They satisfy ``1 <= stable <= pr <= rank``. Eigenvalues with
    ``|l| < n * eps * l_1`` (``n`` the kernel's size, factor
    ``tolerances.EIG_ZERO_FACTOR``) count as zero.

    Parameters
    ----------
    K : ndarray, shape (n, n) or (B, T, N, B, T, N), optional
        Symmetric PSD kernel.
    eigenvalues : ndarray, shape (n,), optional
        The kernel's eigenvalues, any order.
    J : ndarray, shape (n, P), optional
        Jacobian with ``K = J J^T``; eigenvalues are its squared singular
        values and ``n`` is its number of rows.

    Returns
    -------
    ranks : dict
        Keys ``"pr"``, ``"entropy"``, ``"stable"``; float values.

    Raises
    ------
    ValueError
        If the kernel is zero (no effective rank) or has an eigenvalue below
        ``-n * eps * l_1`` (not PSD).
    """
    lam, n = _kernel_eigenvalues(K, eigenvalues, J)
    return {name: float(v) for name, v in _ranks_from(_clipped(lam, n)).items()}


def effective_rank(K=None, *, eigenvalues=None, J=None, kind="pr"):
    """One effective rank of a PSD kernel (SPEC 3.4).

    See :func:`effective_ranks` for the definitions, inputs and tolerance
    rules; ``kind`` is ``"pr"`` (participation ratio, the default),
    ``"entropy"`` (exponential of the Shannon entropy of the normalised
    kernel eigenvalues, Roy & Vetterli 2007) or ``"stable"``.

    Returns
    -------
    rank : float
    """
    check_choice("kind", kind, RANK_KINDS)
    return effective_ranks(K, eigenvalues=eigenvalues, J=J)[kind]
