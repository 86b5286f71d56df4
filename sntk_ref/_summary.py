"""JSON-ready summaries shared by the analysis, the experiment and the reports.

Internal API: :func:`plain` and :func:`normal_form_summary` are used by
:mod:`sntk_ref.analysis`, :mod:`sntk_ref.experiment` and
:mod:`sntk_ref.report` to turn results into the plain Python values of
``report.json``. No letters and no arrays beyond 0-d scalars; the normal
form summarised is that of SPEC 4.3.
"""

import math

import numpy as np

#: Attributes of a normal form (SPEC 4.3) copied into its summary, in order.
NORMAL_FORM_FIELDS = ("type", "reason", "kind", "a", "c", "l1", "d", "omega",
                      "criticality")


def plain(value):
    """Python scalars for JSON, recursively; non-finite floats become None.

    Parameters
    ----------
    value : object
        A scalar (Python or numpy), or a dict, list or tuple of them; any
        other object is returned unchanged.

    Returns
    -------
    value : object
        Dicts stay dicts, lists and tuples become lists, numpy booleans,
        integers and floats become ``bool``, ``int`` and ``float``, and
        ``nan`` / ``inf`` become ``None``.
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def normal_form_summary(nf):
    """The normal form's type and coefficients as plain values (SPEC 4.3).

    Parameters
    ----------
    nf : NormalForm or None
        Result of :func:`sntk_ref.dynamics.normal_form`; any object with
        some of the attributes in :data:`NORMAL_FORM_FIELDS` is accepted.

    Returns
    -------
    summary : dict or None
        The attributes present, complex values as ``{"re": .., "im": ..}``,
        passed through :func:`plain`; None when ``nf`` is None.
    """
    if nf is None:
        return None
    out = {}
    for name in NORMAL_FORM_FIELDS:
        if hasattr(nf, name):
            value = getattr(nf, name)
            if isinstance(value, (complex, np.complexfloating)):
                value = {"re": float(value.real), "im": float(value.imag)}
            out[name] = value
    return plain(out)
