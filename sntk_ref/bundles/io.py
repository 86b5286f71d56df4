"""Writing and reading bundles: npz, manifest, conventions, hashes (SPEC 9).

:func:`export_bundle` computes a case and writes its arrays, its
``convention`` and its ``manifest`` (JSON strings) into one ``.npz``;
:func:`load_bundle` reads a bundle back without unpickling and verifies
the format version and the SHA-256 hash of every array (:func:`array_hash`).
Letters as in :mod:`sntk_ref.bundles.keys`.
"""

import hashlib
import json
import platform
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from ..model import BLOCK_ORDER
from .case import load_case
from .compute import build_problem, compute_results
from .keys import (CONVENTION_KEY, FORMAT_NAME, FORMAT_VERSION, KEYS,
                   MANIFEST_KEY, BundleError, CaseError, axes_text)

#: An export whose arrays would exceed this many bytes is refused up front.
MAX_BUNDLE_BYTES = 2**30

#: Hash recipe, recorded in the manifest so any backend can recompute it.
HASH_RECIPE = ("sha256 of the ascii text '<dtype.str>|<shape>|' followed by "
               "the C-contiguous bytes; real numbers as float64 ('<f8'), "
               "complex as complex128, strings as numpy unicode")


# -- hashes ------------------------------------------------------------------
def array_hash(arr):
    """SHA-256 of an array's shape, dtype and C-contiguous bytes (SPEC 9).

    Real numeric arrays are hashed as float64, complex ones as complex128,
    strings as numpy unicode; see :data:`HASH_RECIPE`.

    Parameters
    ----------
    arr : array_like, any shape

    Returns
    -------
    digest : str
        64 hexadecimal characters.
    """
    data = _canonical(arr)
    digest = hashlib.sha256(f"{data.dtype.str}|{data.shape}|".encode("ascii"))
    digest.update(data.tobytes())
    return digest.hexdigest()


def _canonical(arr):
    """A C-contiguous copy as float64, complex128 or numpy unicode."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "biuf":
        arr = arr.astype("<f8")
    elif arr.dtype.kind == "c":
        arr = arr.astype("<c16")
    elif arr.dtype.kind != "U":
        raise BundleError(f"a bundle cannot hold an array of dtype {arr.dtype}")
    return np.array(arr, order="C")


# -- writing -----------------------------------------------------------------
def export_bundle(case, out, max_bytes=MAX_BUNDLE_BYTES):
    """Compute a case and write its reference bundle (SPEC 9).

    Parameters
    ----------
    case : str, pathlib.Path or dict
        A case file or object (see :func:`load_case`).
    out : str or pathlib.Path
        Path of the ``.npz`` to write.
    max_bytes : int
        Refuse, before computing anything, a bundle whose arrays would exceed
        this size (default :data:`MAX_BUNDLE_BYTES`).

    Returns
    -------
    manifest : dict
        The manifest written into the bundle.
    """
    case = load_case(case)
    _check_budget(case, max_bytes)
    problem = build_problem(case)
    model = problem.model

    arrays = {"X": problem.X, "Y_target": problem.Y_target, "h0": problem.h0,
              "theta": model.theta}
    arrays.update({name: getattr(model, name) for name in BLOCK_ORDER[:5]})
    results = compute_results(case, problem)
    extra_tol = results.pop("_tolerances", {})
    arrays.update(results)
    arrays = {key: _canonical(a) for key, a in arrays.items()}

    convention = _convention(model)
    manifest = _manifest(case, arrays, convention, extra_tol)
    entries = dict(arrays)
    entries[CONVENTION_KEY] = np.array(json.dumps(convention, sort_keys=True))
    entries[MANIFEST_KEY] = np.array(json.dumps(manifest, sort_keys=True))
    with open(out, "wb") as handle:
        np.savez(handle, **entries)
    return manifest


def _check_budget(case, max_bytes):
    s = case["sizes"]
    n = s["B"] * s["T"] * s["N"]
    P = s["N"] * (s["N"] + s["D"] + 1 + 2 * s["O"]) + s["O"] + s["N"]
    sizes = {"J": n * P, "K": n * n,
             "output_ntk": (s["B"] * s["T"] * s["O"]) ** 2,
             "eigenpairs": n * n}

    total = 8 * sum(v for q, v in sizes.items() if q in case["quantities"])
    if total > max_bytes:
        raise CaseError(
            f"impossible size: the bundle would need about {total / 2**20:.1f} "
            f"MiB (B T N = {n}, P <= {P}), more than the budget "
            f"{max_bytes / 2**20:.1f} MiB; shrink the sizes"
        )


def _convention(model):
    """The conventions a candidate must follow, as a JSON-ready dict."""
    slices = {name: [sl.start, sl.stop]
              for name, sl in model.param_slices.items()}
    return {
        "cell": model.cell,
        "dt": model.dt,
        "trainable": list(model.trainable),
        "parameter_order": list(BLOCK_ORDER),
        "parameter_layout": "trainable blocks concatenated in parameter_order, "
                            "each flattened row-major (C order)",
        "parameter_slices": slices,
        "dtype": "float64",
        "states": "states[b, t] = h_{t+1}, the state after input X[b, t]; "
                  "h0 is not included",
        "loss": "L = 1/(2 B T) sum_{b,t} |C h_{b,t} + d - Y_target[b, t]|^2",
        "kernel": "K = J J^T with J = d states / d theta, no normalisation",
        "eigenvectors": "columns, eigenvalues descending; the entry of "
                        "largest magnitude is positive (ties: lowest index); "
                        "clusters compared as subspaces",
        "index_order": {key: axes_text(spec.axes) for key, spec in KEYS.items()},
    }


def _manifest(case, arrays, convention, extra_tol):
    """The manifest of canonical ``arrays`` (see :func:`_canonical`)."""
    entries = {}
    for key, arr in arrays.items():
        spec = KEYS[key]
        entries[key] = {
            "role": spec.role, "shape": list(arr.shape),
            "dtype": arr.dtype.str, "sha256": array_hash(arr),
            "compare": spec.compare, "index_order": axes_text(spec.axes),
            "rtol": spec.rtol, "atol": spec.atol,
            **extra_tol.get(key, {}), **case["tolerances"].get(key, {}),
        }

    public_case = {k: v for k, v in case.items() if k != "arrays"}
    public_case["explicit_arrays"] = sorted(case["arrays"])
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package": "sntk_ref",
        "package_version": __version__,
        "numpy_version": np.__version__,
        "platform": platform.platform(),
        "hash": HASH_RECIPE,
        "case": public_case,
        "convention": convention,
        "entries": entries,
    }


# -- reading -----------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    """A loaded bundle.

    Attributes
    ----------
    arrays : dict
        Key -> ndarray (without the manifest and convention entries).
    manifest : dict or None
        The decoded manifest (None for a candidate written without one).
    convention : dict or None
    path : str
    """

    arrays: dict
    manifest: dict = None
    convention: dict = None
    path: str = ""


def load_bundle(path, require_manifest=True, verify=True):
    """Read a bundle without unpickling, checking its version and hashes.

    Parameters
    ----------
    path : str or pathlib.Path
    require_manifest : bool
        Refuse a file without a manifest (True for reference bundles;
        candidates written by other code may omit it).
    verify : bool
        Check the format version and every hash of the manifest.

    Returns
    -------
    bundle : Bundle

    Raises
    ------
    BundleError
        Unreadable file, pickled objects, a format version newer than
        :data:`FORMAT_VERSION`, or an array whose hash or shape differs from
        its manifest entry (a tampered or corrupted bundle).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except ValueError as err:
        raise BundleError(f"{path} holds pickled objects, which a bundle never "
                          f"does (loaded with allow_pickle=False): {err}") \
            from None
    except (OSError, EOFError) as err:
        raise BundleError(f"{path} is not a readable .npz bundle: {err}") \
            from None

    manifest = _json_entry(path, arrays.pop(MANIFEST_KEY, None), MANIFEST_KEY)
    convention = _json_entry(path, arrays.pop(CONVENTION_KEY, None),
                             CONVENTION_KEY)
    if manifest is None and require_manifest:
        raise BundleError(f"{path} has no '{MANIFEST_KEY}' entry: it is not an "
                          "sntk_ref reference bundle")
    if manifest is not None and verify:
        _verify(path, arrays, manifest)
    return Bundle(arrays, manifest, convention, str(path))


def _json_entry(path, entry, key):
    if entry is None:
        return None
    if entry.dtype.kind != "U" or entry.shape != ():
        raise BundleError(f"{path}: the '{key}' entry must be a JSON string "
                          f"(numpy unicode scalar), got {entry.dtype} "
                          f"{entry.shape}")
    try:
        out = json.loads(str(entry))
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: the '{key}' entry is not valid JSON: "
                          f"{err}") from None
    if not isinstance(out, dict):
        raise BundleError(f"{path}: the '{key}' entry must be a JSON object")
    return out


def _verify(path, arrays, manifest):
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise BundleError(f"{path}: the manifest has no valid format_version "
                          f"(got {version!r})")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{path} is a bundle of format version {version}, written by "
            f"sntk_ref {manifest.get('package_version', '?')}; this sntk_ref "
            f"({__version__}) reads format versions up to {FORMAT_VERSION}. "
            "Upgrade sntk_ref to read it."
        )

    entries = manifest.get("entries", {})
    missing = sorted(set(entries) - set(arrays))
    if missing:
        raise BundleError(f"{path}: the manifest lists {missing}, which the "
                          "file does not hold (truncated or edited bundle)")
    for key, entry in entries.items():
        arr = arrays[key]
        if list(arr.shape) != entry["shape"]:
            raise BundleError(f"{path}: '{key}' has shape {arr.shape}, but the "
                              f"manifest records {tuple(entry['shape'])}")
        if array_hash(arr) != entry["sha256"]:
            raise BundleError(
                f"{path}: the hash of '{key}' does not match its manifest "
                "entry: the array was modified after export (tampered or "
                "corrupted bundle); regenerate it"
            )
