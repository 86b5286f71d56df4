"""Checking a candidate bundle against a reference, key by key (SPEC 9).

:func:`check_bundles` compares every key of a reference bundle with the
candidate's (:mod:`sntk_ref.bundles.compare`) and returns a
:class:`CheckReport`. When a key does not match, the check tries the layout
mistakes other code commonly makes -- a flattened array, ``(t, b)`` instead
of ``(b, t)`` order, a transposed Jacobian, matrix blocks of ``theta`` in
column-major order -- and names the one that explains the numbers. Letters
as in :mod:`sntk_ref.bundles.keys`.
"""

import difflib
import math
from dataclasses import dataclass, field

import numpy as np

from .compare import COMPARATORS, CompareContext
from .io import load_bundle
from .keys import KEY_RANK, KEYS, axes_text, logical_axis_sizes

#: Names other code often uses for a key (to suggest the right one).
ALIASES = {
    "states": ("H", "h", "hidden", "state"),
    "loss": ("L", "l", "cost"),
    "outputs": ("Y", "y", "output", "preds"),
    "gradient": ("grad", "g", "dL_dtheta", "grads"),
    "output_ntk": ("Theta", "theta_ntk", "ntk_out", "ntk"),
    "K": ("sntk", "kernel", "ntk"),
    "eigenvalues": ("evals", "lam"),
    "eigenvectors": ("evecs", "V"),
}

#: Convention fields a candidate's ``convention`` entry is checked against.
CONVENTION_FIELDS = ("cell", "dt", "trainable", "parameter_order", "dtype")


# -- the report ----------------------------------------------------------------
@dataclass(frozen=True)
class KeyCheck:
    """The comparison of one key.

    Attributes
    ----------
    key : str
    status : {"pass", "FAIL", "MISSING"}
    max_abs, max_rel : float
        Largest absolute error and its ratio to ``max|reference|`` (NaN when
        no numbers were compared).
    tolerance : float
        The bound ``max_abs`` was compared with (NaN when not compared).
    note : str
        Why it failed, or what was accepted (e.g. flipped eigenvector signs).
    """

    key: str
    status: str
    max_abs: float = math.nan
    max_rel: float = math.nan
    tolerance: float = math.nan
    note: str = ""

    @property
    def passed(self):
        return self.status == "pass"


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check_bundles`.

    Attributes
    ----------
    reference, candidate : str
        The two paths.
    rows : list of KeyCheck
    notes : list of str
        Remarks about the files as a whole (ignored keys, missing
        convention).
    """

    reference: str
    candidate: str
    rows: list
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        """True iff every key passes."""
        return all(row.passed for row in self.rows)

    @property
    def failures(self):
        """Rows that did not pass."""
        return [row for row in self.rows if not row.passed]

    def table(self):
        """A plain-text pass/fail table with numbered notes."""
        head = (f"{'key':<24} {'status':<8} {'max abs err':>12} "
                f"{'max rel err':>12} {'tolerance':>12}")
        lines = [f"reference: {self.reference}", f"candidate: {self.candidate}",
                 "", head, "-" * len(head)]

        notes = []
        for row in self.rows:
            mark = ""
            if row.note:
                notes.append(row.note)
                mark = f"  [{len(notes)}]"
            lines.append(f"{row.key:<24} {row.status:<8} {_num(row.max_abs)} "
                         f"{_num(row.max_rel)} {_num(row.tolerance)}{mark}")
        lines.append("")
        lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
        lines += [f"note: {note}" for note in self.notes]

        bad = len(self.failures)
        verdict = (f"PASS: all {len(self.rows)} keys within tolerance"
                   if not bad else f"FAIL: {bad} of {len(self.rows)} keys "
                   "failed")
        return "\n".join(lines + ["", verdict])


def _num(x):
    return f"{'-':>12}" if math.isnan(x) else f"{x:>12.2e}"


# -- the check -----------------------------------------------------------------
def check_bundles(reference, candidate):
    """Compare a candidate bundle with a reference bundle key by key (SPEC 9).

    Every result key of the reference must be in the candidate; inputs and
    parameters are compared when the candidate has them. A shape mismatch
    is explained when the candidate's numbers fit a known mistake:
    a flattened layout, ``(t, b)`` instead of ``(b, t)`` order, a transposed
    Jacobian, or matrix blocks of ``theta`` in column-major order.
    Eigenvectors are compared up to sign, clusters of eigenvalues as
    subspaces (principal angles); fixed points as a set.

    Parameters
    ----------
    reference : str or pathlib.Path
        A bundle written by :func:`export_bundle` (manifest required,
        hashes verified).
    candidate : str or pathlib.Path
        An ``.npz`` with the same keys, written by any code (manifest
        optional; verified if present).

    Returns
    -------
    report : CheckReport
        ``report.passed`` is True iff every key is within its tolerance;
        ``report.table()`` formats the result.

    Raises
    ------
    BundleError
        If either file cannot be read or trusted (see :func:`load_bundle`).
    """
    ref = load_bundle(reference)
    cand = load_bundle(candidate, require_manifest=False)
    ctx = CompareContext(ref, cand, _bundle_axis_sizes(ref))
    rows, notes = _check_convention(ref, cand), []

    entries = ref.manifest["entries"]
    for key in sorted(entries, key=KEY_RANK.get):
        entry = entries[key]
        if key in cand.arrays:
            rows.append(_check_key(key, entry, ctx))
        elif entry["role"] == "result":
            rows.append(KeyCheck(key, "MISSING", note=_missing(key, entry,
                                                                ref, cand)))

    extra = sorted(set(cand.arrays) - set(ref.arrays))
    if extra:
        notes.append(f"candidate keys not in the reference were ignored: "
                     f"{', '.join(extra)}")
    if cand.convention is None:
        notes.append("the candidate has no 'convention' entry; it is assumed "
                     "to follow the reference's")
    return CheckReport(str(reference), str(candidate), rows, notes)


def _bundle_axis_sizes(ref):
    case = ref.manifest["case"]
    P = ref.arrays["theta"].size
    k = ref.arrays["eigenvalues"].size if "eigenvalues" in ref.arrays else 0
    M = len(ref.arrays.get("fixed_points", ()))
    return logical_axis_sizes(case["sizes"], P, k, M)


def _check_convention(ref, cand):
    if cand.convention is None:
        return []
    bad = []
    for name in CONVENTION_FIELDS:
        want, got = ref.convention.get(name), cand.convention.get(name)
        if name in cand.convention and got != want:
            bad.append(f"{name}: reference {want!r}, candidate {got!r}")
    if not bad:
        return [KeyCheck("convention", "pass")]
    return [KeyCheck("convention", "FAIL", note="convention mismatch: "
                     + "; ".join(bad))]


def _missing(key, entry, ref, cand):
    spare = sorted(set(cand.arrays) - set(ref.arrays))
    guess = [a for a in ALIASES.get(key, ()) if a in spare]
    guess += difflib.get_close_matches(key, spare, n=1)
    hint = f"; did you name it {guess[0]!r}?" if guess else ""
    return (f"the candidate has no '{key}' (reference shape "
            f"{tuple(entry['shape'])}){hint}")


def _check_key(key, entry, ctx):
    r, c = ctx.ref.arrays[key], ctx.cand.arrays[key]
    if entry["compare"] == "label":
        same = c.dtype.kind == "U" and c.shape == () and str(c) == str(r)
        return KeyCheck(key, "pass" if same else "FAIL", note="" if same else
                        f"reference {str(r)!r}, candidate {c!r}")
    if c.dtype.kind not in "biufc":
        return KeyCheck(key, "FAIL", note=f"'{key}' in the candidate is not "
                        f"numeric (dtype {c.dtype})")
    compare = COMPARATORS[entry["compare"]]
    note = ""
    if c.dtype.kind == "f" and c.dtype.itemsize < 8:
        note = (f"the candidate's '{key}' is {c.dtype}; the reference is "
                "float64 and so must the candidate be. ")

    if c.shape == r.shape or entry["compare"] in ("point_set", "matched"):
        out = compare(key, r, c, entry, ctx)
        if out.ok:
            status, text = "pass", out.note
        else:
            status, text = "FAIL", _diagnose(key, entry, r, c, ctx) or out.note
        return KeyCheck(key, status, out.max_abs, out.max_rel, out.tolerance,
                        note + text)

    hint = _diagnose(key, entry, r, c, ctx)
    if hint is None:
        hint = (f"{key} has shape {r.shape} but the candidate has {c.shape}, "
                "and no known layout mistake explains it" + _p_hint(key, r, c,
                                                                    ctx))
    return KeyCheck(key, "FAIL", note=note + hint)


def _p_hint(key, r, c, ctx):
    spec = KEYS.get(key)
    if spec is None or "p" not in spec.axes or c.ndim != r.ndim:
        return ""
    axis = spec.axes.index("p")
    trainable = ctx.ref.convention["trainable"]
    return (f"; the parameter axis must have P = {r.shape[axis]} entries "
            f"(trainable blocks {trainable}), the candidate's has "
            f"{c.shape[axis]}")


# -- layout diagnosis ----------------------------------------------------------
_MESSAGES = {
    "flattened": "the values match once reshaped to {ref}, so the candidate "
                 "stores the right numbers with another grouping of axes; "
                 "store it with shape {ref}, index order {order}",
    "time-major": "did you flatten (t, b) instead of (b, t)? The values match "
                  "once the batch and time axes are swapped; the index order "
                  "must be {order}",
    "transposed": "did you store the transpose? The values match with the "
                  "parameter axis first; the index order must be {order}",
}

_COLMAJOR = ("did you flatten the matrix blocks of theta column-major? The "
             "values match once W, U, C are read row-major (C order, SPEC 1.2)")

_COLMAJOR_ALSO = ("; also, the matrix blocks of theta are column-major: W, U, "
                  "C must be flattened row-major (C order, SPEC 1.2)")


def _layouts(spec):
    """Known layout mistakes: (name, logical-axis permutation)."""
    axes = spec.axes
    identity = tuple(range(len(axes)))
    out = [("flattened", identity)]

    swap = list(identity)
    for b, t in (("b", "t"), ("b'", "s")):
        if b in axes and t in axes:
            i, j = axes.index(b), axes.index(t)
            swap[i], swap[j] = swap[j], swap[i]
    if tuple(swap) != identity:
        out.append(("time-major", tuple(swap)))
    if "p" in axes and len(axes) > 1:
        p = axes.index("p")
        out.append(("transposed", (p,) + identity[:p] + identity[p + 1:]))
    return out


def _colmajor_perm(ctx):
    """``theta`` index map: reference position -> column-major position."""
    conv = ctx.ref.convention
    perm, changed = [], False
    for name in conv["trainable"]:
        start, stop = conv["parameter_slices"][name]
        shape = ctx.ref.arrays[name].shape if name != "h0" else (stop - start,)
        if len(shape) == 2 and min(shape) > 1:
            rows, cols = shape
            perm.append(start + np.arange(rows * cols).reshape(cols, rows).T
                        .ravel())
            changed = True
        else:
            perm.append(np.arange(start, stop))
    return np.concatenate(perm) if changed else None


def _diagnose(key, entry, r, c, ctx):
    """Name the layout mistake that explains a mismatch, or None."""
    spec = KEYS.get(key)
    if spec is None or spec.role == "input" or not spec.axes:
        return None
    compare = COMPARATORS[entry["compare"]]
    logical = [ctx.axis_sizes[a] for a in spec.axes]
    colmajor = _colmajor_perm(ctx) if "p" in spec.axes else None
    p_axis = spec.axes.index("p") if "p" in spec.axes else None
    if c.size != r.size:
        return None

    for name, perm in _layouts(spec):
        # the candidate read in the mistaken layout, put back in the right one
        data = c.reshape([logical[a] for a in perm])
        data = data.transpose(np.argsort(perm)).reshape(r.shape)
        fixes = []
        if name != "flattened" or c.shape != r.shape:
            fixes.append((data, _MESSAGES[name]))
        if colmajor is not None:
            fixes.append((np.take(data, colmajor, axis=p_axis),
                          _COLMAJOR if name == "flattened"
                          else _MESSAGES[name] + _COLMAJOR_ALSO))

        for fixed, message in fixes:
            if compare(key, r, fixed, entry, ctx).ok:
                text = message.format(ref=r.shape, order=axes_text(spec.axes))
                prefix = (f"{key} has shape {r.shape} but the candidate has "
                          f"{c.shape}: " if c.shape != r.shape else
                          f"{key} does not match: ")
                return prefix + text
    return None
