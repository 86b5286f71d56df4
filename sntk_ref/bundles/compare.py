"""Comparisons of one key: values, eigenvectors, point sets, gauges (SPEC 9).

Every comparator takes ``(key, r, c, entry, ctx)`` -- the key, the
reference array ``r``, the candidate array ``c``, the key's manifest entry
(``rtol``, ``atol``) and the :class:`CompareContext` of the check -- and returns an
:class:`_Outcome`. A comparison passes when ``max|c - r| <= atol + rtol *
max|r|``; eigenvectors, fixed points and critical vectors are first
aligned with the reference (sign, phase, order), since those are gauge
choices, not errors. Letters as in :mod:`sntk_ref.bundles.keys`.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from .io import Bundle
from .keys import eigenvalue_clusters


@dataclass
class CompareContext:
    """What a comparison needs besides the two arrays.

    Internal API of the bundles package (built by :mod:`.check`).
    """

    ref: Bundle
    cand: Bundle
    axis_sizes: dict
    matching: np.ndarray = None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    max_abs: float
    max_rel: float
    tolerance: float
    note: str = ""


def _failed(note):
    """An outcome where no numbers could be compared."""
    return _Outcome(False, math.nan, math.nan, math.nan, note)


def _nonfinite(c):
    bad = ~np.isfinite(c)
    if bad.any():
        return _failed(f"the candidate has {int(bad.sum())} non-finite "
                       "entries")
    return None


def _compare_values(key, r, c, entry, ctx):
    """Largest absolute error against ``atol + rtol * max|r|``."""
    c = np.asarray(c)
    bad = _nonfinite(c)
    if bad is not None:
        return bad

    max_abs = float(np.max(np.abs(c - r))) if r.size else 0.0
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    tol = entry["atol"] + entry["rtol"] * scale
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    return _Outcome(max_abs <= tol, max_abs, rel, tol)


def _compare_eigenvectors(key, r, c, entry, ctx):
    """Eigenvectors up to sign; clusters as subspaces (principal angles)."""
    bad = _nonfinite(np.asarray(c))
    if bad is not None:
        return bad

    worst, flipped, merged = 0.0, 0, 0
    for idx in eigenvalue_clusters(ctx.ref.arrays["eigenvalues"]):
        R, Cc = r[:, idx], c[:, idx]
        if len(idx) == 1:
            plus = np.max(np.abs(Cc - R))
            minus = np.max(np.abs(Cc + R))
            flipped += minus < plus
            err = min(plus, minus)
        else:
            merged += 1
            orth = np.max(np.abs(Cc.T @ Cc - np.eye(len(idx))))
            angle = np.max(scipy.linalg.subspace_angles(R, Cc))
            err = max(orth, math.sin(angle))
        worst = max(worst, float(err))

    tol = entry["atol"]
    notes = []
    if flipped:
        notes.append(f"{flipped} eigenvector(s) have the opposite sign to the "
                     "reference convention (accepted: a sign is a gauge "
                     "choice)")
    if merged:
        notes.append(f"{merged} cluster(s) of equal eigenvalues compared as "
                     "subspaces (largest principal angle)")
    return _Outcome(worst <= tol, worst, worst, tol, "; ".join(notes))


def _all_finite(a):
    """True for a numeric array without nan or inf entries."""
    return a.dtype.kind in "biufc" and bool(np.isfinite(a).all())


def _match_points(ctx):
    """Candidate row matched to each reference fixed point (assignment).

    None when the candidate's fixed points cannot be matched: absent, of the
    wrong shape, too few, or with non-finite entries (no distance exists).
    """
    if ctx.matching is None:
        r = ctx.ref.arrays["fixed_points"]
        c = np.asarray(ctx.cand.arrays.get("fixed_points", np.zeros((0, 0))))
        if c.ndim != 2 or c.shape[1:] != r.shape[1:] or len(c) < len(r):
            return None
        if not _all_finite(c):
            return None
        dist = np.linalg.norm(r[:, None, :] - c[None, :, :], axis=2)
        _, ctx.matching = scipy.optimize.linear_sum_assignment(dist)
    return ctx.matching


def _compare_point_set(key, r, c, entry, ctx):
    """Fixed points as a set: same count, matched by least total distance."""
    c = np.asarray(c)
    if c.ndim != 2 or c.shape[1:] != r.shape[1:]:
        return _failed(f"{key} must have shape (M, N) = (M, {r.shape[1]}), "
                       f"the candidate has {c.shape}")
    bad = _nonfinite(c)
    if bad is not None:
        return bad
    if len(c) != len(r):
        return _failed(f"the candidate has {len(c)} fixed points, the "
                       f"reference {len(r)}")

    order = _match_points(ctx)
    out = _compare_values(key, r, c[order], entry, ctx)
    moved = not np.array_equal(order, np.arange(len(r)))
    note = "points matched as a set (candidate order differs)" if moved else ""
    return dataclasses.replace(out, note=note)


def _compare_matched(key, r, c, entry, ctx):
    """Rows that belong to the fixed points, in the matched order."""
    order = _match_points(ctx)
    c = np.asarray(c)
    points = ctx.cand.arrays.get("fixed_points")
    if points is not None and not _all_finite(np.asarray(points)):
        return _failed(f"{key} cannot be matched to the reference: the "
                       "candidate's fixed_points are not all finite numbers")
    if order is None or c.shape != r.shape:
        return _failed(f"{key} needs matching fixed points and shape "
                       f"{r.shape}; the candidate has {c.shape}")
    return _compare_values(key, r, c[order], entry, ctx)


def _gauge(r, c):
    """Unit scalar ``s`` minimising ``|s c - r|`` (sign or phase of c)."""
    inner = np.vdot(c, r)
    return inner / abs(inner) if abs(inner) > 0 else 1.0


def _compare_gauge(key, r, c, entry, ctx):
    """A vector defined up to a sign (real) or phase (complex)."""
    bad = _nonfinite(np.asarray(c))
    if bad is not None:
        return bad

    s = _gauge(r, c)
    out = _compare_values(key, r, s * c, entry, ctx)
    note = "" if s == 1 else "aligned by a sign/phase (a gauge choice)"
    return dataclasses.replace(out, note=note)


def _compare_odd_in_q(key, r, c, entry, ctx):
    """A coefficient that changes sign with the critical vector ``q``."""
    q_ref, q_cand = ctx.ref.arrays["nf_q"], ctx.cand.arrays.get("nf_q")
    s = 1.0
    if q_cand is not None and np.shape(q_cand) == q_ref.shape:
        s = float(np.sign(np.real(_gauge(q_ref, q_cand)))) or 1.0
    return _compare_values(key, r, s * np.asarray(c), entry, ctx)


#: Comparator of each ``compare`` name of :data:`~.keys.KEYS` ("label" is
#: compared as text by the check itself).
COMPARATORS = {
    "values": _compare_values,
    "eigenvectors": _compare_eigenvectors,
    "point_set": _compare_point_set,
    "matched": _compare_matched,
    "gauge": _compare_gauge,
    "odd_in_q": _compare_odd_in_q,
}
