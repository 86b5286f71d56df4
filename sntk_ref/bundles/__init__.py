"""Reference bundles for other backends: export and check (SPEC 9).

A *case* (a JSON object, usually a file) names a model, its sizes, the inputs
and the quantities wanted; :func:`export_bundle` computes them with
``sntk_ref`` and writes one ``.npz`` *bundle*. :func:`check_bundles` compares a
*candidate* bundle written by any other code (JAX, PyTorch, ...) with a
reference bundle key by key.

A bundle holds, as plain arrays (loaded with ``allow_pickle=False``; strings
are numpy unicode arrays, never pickled objects):

- inputs ``X (B, T, D)``, ``Y_target (B, T, O)``, ``h0 (B, N)``;
- parameters ``W (N, N)``, ``U (N, D)``, ``b (N,)``, ``C (O, N)``, ``d (O,)``
  and ``theta (P,)``;
- results, as requested: ``states (B, T, N)``, ``outputs (B, T, O)``,
  ``loss ()``, ``gradient (P,)``, ``J (B, T, N, P)``,
  ``K (B, T, N, B, T, N)``, ``output_ntk (B, T, O, B, T, O)``,
  ``eigenvalues (k,)``, ``eigenvectors (B T N, k)``, ``rank_pr``,
  ``rank_entropy``, ``rank_stable`` (scalars), ``fixed_points (M, N)``,
  ``fixed_point_eigenvalues (M, N)`` (complex), normal-form entries
  ``nf_*``;
- ``convention``: a JSON string (cell, ``dt``, parameter order and layout,
  index order of every key, dtype, loss normalisation, sign convention);
- ``manifest``: a JSON string (format version, package version, the case,
  and per key its role, shape, dtype, tolerance and SHA-256 hash).

Letters: ``B`` sequences, ``T`` steps, ``D`` inputs, ``N`` hidden units,
``O`` outputs, ``P`` trainable parameters, ``k`` eigenpairs, ``M`` fixed
points. A comparison passes when ``max|c - r| <= atol + rtol * max|r|`` over
the key (``r`` reference, ``c`` candidate); the reported relative error is
``max|c - r| / max|r|``.

Modules, in import order:

- :mod:`~sntk_ref.bundles.keys`: the key table (axes, comparison,
  tolerance), format version, errors;
- :mod:`~sntk_ref.bundles.case`: reading and validating case files;
- :mod:`~sntk_ref.bundles.compute`: the model of a case and its quantities;
- :mod:`~sntk_ref.bundles.io`: writing and loading the ``.npz``, manifest
  and hashes;
- :mod:`~sntk_ref.bundles.compare`: comparison of one key, gauges;
- :mod:`~sntk_ref.bundles.check`: the key-by-key check, its report, and the
  diagnosis of layout mistakes;
"""

from .case import (ARRAY_KEYS, CASE_KEYS, DEFAULT_GAIN, DEFAULT_RANDOM_SEEDS,
                   DYNAMICS_KEYS, load_case)
from .check import (ALIASES, CONVENTION_FIELDS, CheckReport, KeyCheck,
                    check_bundles)
from .compute import Problem, build_problem, compute_results
from .io import (HASH_RECIPE, MAX_BUNDLE_BYTES, Bundle, array_hash,
                 export_bundle, load_bundle)
from .keys import (ATOL_FLOOR, CLUSTER_RTOL, CONVENTION_KEY, DERIVATIVE_RTOL,
                   EIGVEC_FACTOR, EIGVEC_FLOOR, FIXED_POINT_RTOL, FORMAT_NAME,
                   FORMAT_VERSION, INPUT_RTOL, KERNEL_RTOL, KEYS, MANIFEST_KEY,
                   NF_ATOL, NF_RTOL, QUANTITIES, RANK_RTOL, SIZE_KEYS,
                   STATE_RTOL, BundleError, CaseError)

__all__ = [
    "BundleError",
    "CaseError",
    "CheckReport",
    "FORMAT_VERSION",
    "QUANTITIES",
    "array_hash",
    "build_problem",
    "check_bundles",
    "compute_results",
    "export_bundle",
    "load_bundle",
    "load_case",
]
