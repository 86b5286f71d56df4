"""The bundle format: its keys, their axes, tolerances and errors (SPEC 9).

Every entry of a bundle is described once, in :data:`KEYS`: its role
(input, parameter or result), its logical axes, how it is compared and with
what tolerance. The other modules of :mod:`sntk_ref.bundles` read this table.

Letters: ``B`` sequences, ``T`` steps, ``D`` inputs, ``N`` hidden units,
``O`` outputs, ``P`` trainable parameters, ``k`` eigenpairs, ``M`` fixed
points. Lower-case letters name the logical axes of a key (``b`` sequence,
``t`` step, ``i`` hidden unit, ``x`` input, ``o`` output, ``p`` parameter,
``k`` eigenpair, ``m`` fixed point; primed or ``s``, ``j``, ``n`` for the
second copy of an axis).
"""

from dataclasses import dataclass

import numpy as np

#: Version of the bundle layout; readers refuse bundles from a later version.
FORMAT_VERSION = 1

#: Name of the format, stored in the manifest.
FORMAT_NAME = "sntk_ref.bundle"

#: Keys of the two JSON string entries.
MANIFEST_KEY = "manifest"
CONVENTION_KEY = "convention"

#: Quantities a case may ask for, in the order they are computed.
QUANTITIES = ("states", "outputs", "loss", "gradient", "J", "K", "output_ntk",
              "eigenpairs", "effective_ranks", "fixed_points", "normal_form")

#: Sizes a case must give.
SIZE_KEYS = ("B", "T", "N", "D", "O")

#: Tolerances of results (rtol, atol). Two float64 implementations of the
#: same recursions differ by round-off that grows about like ``T eps`` times
#: the conditioning; 1e-10 .. 1e-9 relative leaves five orders of headroom
#: on the small bundles while any real error (a missing term, an off-by-one
#: step, float32 arithmetic) is of relative size 1e-7 or more.
STATE_RTOL = 1e-10
DERIVATIVE_RTOL = 1e-9
KERNEL_RTOL = 1e-9
RANK_RTOL = 1e-8

#: Fixed points and normal-form coefficients come out of Newton iterations
#: and bordered solves at (nearly) singular points: their round-off is the
#: Newton tolerance times the conditioning, hence looser tolerances.
FIXED_POINT_RTOL = 1e-9
NF_RTOL = 1e-8

#: Absolute floor of every tolerance (an all-zero reference array).
ATOL_FLOOR = 1e-13

#: Absolute floor of normal-form entries that vanish at the point (``mu``,
#: the quadratic coefficient of a pitchfork).
NF_ATOL = 1e-10

#: Inputs and parameters are copied, not computed: they must match exactly.
INPUT_RTOL = 0.0

#: Eigenvalues closer than ``CLUSTER_RTOL * l_1`` form a cluster whose
#: eigenvectors are compared as a subspace (principal angles), not one by one.
CLUSTER_RTOL = 1e-6

#: Eigenvector tolerance: ``EIGVEC_FACTOR * n * eps * l_1 / gap`` (the
#: perturbation bound of an eigenvector separated by ``gap``), at least
#: ``EIGVEC_FLOOR``.
EIGVEC_FACTOR = 100.0
EIGVEC_FLOOR = 1e-9


class BundleError(ValueError):
    """A bundle cannot be read or trusted (version, hash, layout)."""


class CaseError(ValueError):
    """A case description is invalid (unknown keys, impossible sizes)."""


# -- keys: logical axes, comparison and tolerance -----------------------------
@dataclass(frozen=True)
class _Key:
    """How one bundle entry is indexed and compared.

    ``axes`` are the logical axes (letters of the module docstring, primed
    for the second copy in a kernel); ``compare`` names the comparison (see
    ``sntk_ref.bundles.compare.COMPARATORS``).
    """

    role: str
    axes: tuple
    rtol: float = 0.0
    atol: float = ATOL_FLOOR
    compare: str = "values"


def axes_text(axes):
    """Index order of a key as text, e.g. ``"(b, t, i)"``.

    Internal API of the bundles package (:mod:`.io`, :mod:`.check`).

    Parameters
    ----------
    axes : tuple of str
        Logical axis letters of a key.

    Returns
    -------
    text : str
    """
    return "(" + ", ".join(axes) + ")"


def _given(role, *axes):
    """An input or a parameter: copied, so compared exactly."""
    return _Key(role, axes, INPUT_RTOL, 0.0)


def _res(axes, rtol, compare="values", atol=ATOL_FLOOR):
    return _Key("result", axes, rtol, atol, compare)


KEYS = {
    "X": _given("input", "b", "t", "x"),
    "Y_target": _given("input", "b", "t", "o"),
    "h0": _given("input", "b", "i"),
    "W": _given("parameter", "i", "j"),
    "U": _given("parameter", "i", "x"),
    "b": _given("parameter", "i"),
    "C": _given("parameter", "o", "i"),
    "d": _given("parameter", "o"),
    "theta": _given("parameter", "p"),
    "states": _res(("b", "t", "i"), STATE_RTOL),
    "outputs": _res(("b", "t", "o"), STATE_RTOL),
    "loss": _res((), STATE_RTOL),
    "gradient": _res(("p",), DERIVATIVE_RTOL),
    "J": _res(("b", "t", "i", "p"), DERIVATIVE_RTOL),
    "K": _res(("b", "t", "i", "b'", "s", "j"), KERNEL_RTOL),
    "output_ntk": _res(("b", "t", "o", "b'", "s", "o'"), KERNEL_RTOL),
    "eigenvalues": _res(("k",), KERNEL_RTOL),
    # stored as (B T N, k): the first three logical axes are merged
    "eigenvectors": _res(("b", "t", "i", "k"), 0.0, "eigenvectors",
                         EIGVEC_FLOOR),
    "rank_pr": _res((), RANK_RTOL),
    "rank_entropy": _res((), RANK_RTOL),
    "rank_stable": _res((), RANK_RTOL),
    "fixed_points": _res(("m", "i"), FIXED_POINT_RTOL, "point_set"),
    "fixed_point_eigenvalues": _res(("m", "n"), FIXED_POINT_RTOL, "matched"),
    "nf_type": _res((), 0.0, "label"),
    "nf_criticality": _res((), 0.0, "label"),
    "nf_point": _res(("i",), FIXED_POINT_RTOL, atol=NF_ATOL),
    "nf_eigenvalue": _res((), NF_RTOL, atol=NF_ATOL),
    "nf_q": _res(("i",), NF_RTOL, "gauge"),
    "nf_left": _res(("i",), NF_RTOL, "gauge"),
    "nf_mu": _res((), NF_RTOL, atol=NF_ATOL),
    "nf_mu_p": _res(("p",), NF_RTOL, atol=NF_ATOL),
    "nf_a": _res((), NF_RTOL, "odd_in_q", NF_ATOL),
    "nf_c": _res((), NF_RTOL, atol=NF_ATOL),
    "nf_c1": _res((), NF_RTOL, atol=NF_ATOL),
    "nf_omega": _res((), NF_RTOL, atol=NF_ATOL),
    "nf_radial": _res((), NF_RTOL, atol=NF_ATOL),
}


#: Keys in table order (inputs, parameters, results) for reports; internal
#: API of the bundles package.
KEY_RANK = {key: rank for rank, key in enumerate(KEYS)}


def unpack_sizes(sizes):
    """``(B, T, N, D, O)`` of a case's ``sizes`` object.

    Internal API of the bundles package.

    Parameters
    ----------
    sizes : dict
        The case's ``sizes`` (keys ``SIZE_KEYS``).

    Returns
    -------
    B, T, N, D, O : int
    """
    return tuple(sizes[s] for s in SIZE_KEYS)


def logical_axis_sizes(sizes, P, k=0, M=0):
    """Size of every logical axis letter (SPEC 9).

    Internal API of the bundles package.

    Parameters
    ----------
    sizes : dict
        The case's ``sizes``.
    P, k, M : int
        Parameters, eigenpairs and fixed points.

    Returns
    -------
    sizes : dict of str to int
        One entry per axis letter of :data:`KEYS`.
    """
    B, T, N, D, O = unpack_sizes(sizes)
    return {"b": B, "b'": B, "t": T, "s": T, "i": N, "j": N, "n": N, "x": D,
            "o": O, "o'": O, "p": P, "k": k, "m": M}


def eigenvalue_clusters(lam):
    """Index groups of eigenvalues closer than ``CLUSTER_RTOL * l_1``.

    Internal API of the bundles package (SPEC 3.4: a cluster's eigenvectors
    are defined only as a subspace).

    Parameters
    ----------
    lam : array_like, shape (k,)
        Eigenvalues in descending order.

    Returns
    -------
    groups : list of list of int
        Consecutive indices, one list per cluster.
    """
    lam = np.asarray(lam, dtype=float)
    if lam.size == 0:
        return []
    gap = CLUSTER_RTOL * max(abs(lam[0]), np.finfo(float).tiny)

    groups, current = [], [0]
    for j in range(1, lam.size):
        if abs(lam[j - 1] - lam[j]) <= gap:
            current.append(j)
        else:
            groups.append(current)
            current = [j]
    return groups + [current]
