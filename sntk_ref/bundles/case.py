"""Case files: read, validate and fill in the defaults (SPEC 9).

A *case* is a JSON object (usually a file) naming a model, its sizes
``B, T, N, D, O`` (letters of :mod:`sntk_ref.bundles.keys`), its inputs and
the quantities wanted. :func:`load_case` turns it into a normalised dict or
raises a :class:`CaseError` that names the offending key.
"""

import contextlib
import difflib
import json
import math
import pathlib

import numpy as np

from .. import _validation as val
from ..dynamics.normal_forms import NORMAL_FORM_TYPES
from ..model import DEFAULT_TRAINABLE
from .keys import KEYS, QUANTITIES, SIZE_KEYS, CaseError

#: Keys a case may contain.
CASE_KEYS = ("name", "description", "cell", "sizes", "dt", "seed", "gain",
             "trainable", "arrays", "quantities", "k", "tolerances",
             "dynamics")

#: Arrays a case may give explicitly (replacing the drawn ones).
ARRAY_KEYS = ("W", "U", "b", "C", "d", "h0", "X", "Y_target")

#: Keys of a case's ``dynamics`` object: ``view`` ("map" or "flow"), the
#: constant input ``x (D,)``, Newton ``seeds (S, N)``, ``n_random`` extra
#: seeds ``Normal(0, seed_scale^2)`` drawn from ``default_rng(seed)``, and
#: the ``point (N,)`` where the normal form is computed (default zeros) and
#: its ``kind`` (needed for fold / branch points: the parameter is the whole
#: trainable vector theta, so no single direction decides the type).
DYNAMICS_KEYS = ("view", "x", "seeds", "n_random", "seed_scale", "seed",
                 "point", "kind")

#: Random Newton seeds of a fixed-point search unless the case says.
DEFAULT_RANDOM_SEEDS = 16

#: Default gain of ``W`` for seeded cases (as :meth:`RNN.random`).
DEFAULT_GAIN = 0.9


@contextlib.contextmanager
def case_errors(prefix=""):
    """Re-raise the TypeError or ValueError of a check as a CaseError.

    Internal API of the bundles package (also used by :mod:`.compute`).

    Parameters
    ----------
    prefix : str
        Put before the original message.
    """
    try:
        yield
    except (TypeError, ValueError) as err:
        raise CaseError(f"{prefix}{err}") from None


def _unknown(kind, names, allowed):
    """CaseError naming unknown keys, with a close match when there is one."""
    parts = []
    for name in names:
        close = difflib.get_close_matches(str(name), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    return CaseError(
        f"the case has unknown {kind} {', '.join(parts)}; allowed: "
        f"{', '.join(allowed)}"
    )


def _case_int(name, value, minimum=1):
    with case_errors("impossible size: "):
        return val.check_positive_int(name, value, minimum)


def load_case(case, base_dir=None):
    """Read and validate a case (SPEC 9).

    A case is a JSON object with the keys

    - ``cell`` (``"elman"`` or ``"euler"``), ``sizes`` (``{"B", "T", "N",
      "D", "O"}``, positive integers), ``quantities`` (a list from
      :data:`QUANTITIES`) -- required;
    - ``seed`` (int): draw the model with ``RNN.random(N, D, O, rng=rng,
      cell, dt, gain, trainable)``, then ``X ~ Normal(0, 1) (B, T, D)``,
      then ``Y_target ~ Normal(0, 1) (B, T, O)``, with
      ``rng = numpy.random.default_rng(seed)``;
    - ``arrays``: explicit arrays (a path to an ``.npz`` relative to the case
      file, or an object of nested lists) among :data:`ARRAY_KEYS`; they
      replace the drawn ones. Without ``seed`` all of ``W, U, b, C, d, X``
      are required (and ``Y_target`` for the loss and gradient);
    - ``dt`` (default 1), ``gain`` (default 0.9), ``trainable`` (default
      ``["W", "U", "b"]``), ``k`` (eigenpairs; required with
      ``"eigenpairs"``), ``tolerances`` (``{key: {"rtol": .., "atol": ..}}``
      overriding the defaults), ``dynamics`` (for fixed points and normal
      forms), ``name``, ``description``.

    Parameters
    ----------
    case : str, pathlib.Path or dict
        A path to a JSON file, or the decoded object.
    base_dir : path, optional
        Directory that relative ``arrays`` paths are read from (default: the
        case file's directory, or the working directory for a dict).

    Returns
    -------
    case : dict
        Normalised: every optional key filled with its default, sizes as
        ints, ``quantities`` in the order of :data:`QUANTITIES`.

    Raises
    ------
    CaseError
        Naming the offending key and what was expected.
    """
    if isinstance(case, (str, pathlib.Path)):
        path = pathlib.Path(case)
        case = _read_case_file(path)
        base_dir = path.parent if base_dir is None else base_dir
    _check_top_level(case)

    out = dict(case)
    out["name"] = str(case.get("name", "case"))
    out["description"] = str(case.get("description", ""))
    out["sizes"] = _check_sizes(case["sizes"])
    out["quantities"] = _check_quantities(case["quantities"])
    out["trainable"] = list(case.get("trainable", DEFAULT_TRAINABLE))
    out["dt"] = case.get("dt", 1.0)
    out["gain"] = case.get("gain", DEFAULT_GAIN)

    out["seed"] = case.get("seed")
    if out["seed"] is not None:
        out["seed"] = _case_int("seed", out["seed"], minimum=0)
    out["k"] = _check_k(case.get("k"), out)
    out["tolerances"] = _check_tolerances(case.get("tolerances", {}))
    out["dynamics"] = _check_dynamics(case.get("dynamics", {}), out)

    out["arrays"] = _read_arrays(case.get("arrays"), base_dir)
    if out["seed"] is None:
        _require_arrays(out)
    return out


def _read_case_file(path):
    """The decoded JSON of a case file."""
    try:
        text = path.read_text()
    except OSError as err:
        raise CaseError(f"cannot read the case file {path}: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CaseError(f"the case file {path} is not valid JSON: {err}") \
            from None


def _check_top_level(case):
    """A JSON object with known keys, the required ones, a known cell."""
    if not isinstance(case, dict):
        raise CaseError(f"a case must be a JSON object, got {type(case).__name__}")
    unknown = [key for key in case if key not in CASE_KEYS]
    if unknown:
        raise _unknown("keys", unknown, CASE_KEYS)

    for key in ("cell", "sizes", "quantities"):
        if key not in case:
            raise CaseError(f"the case must give {key!r}")
    if case["cell"] not in ("elman", "euler"):
        raise CaseError(f"cell must be 'elman' or 'euler', got {case['cell']!r}")


def _check_sizes(sizes):
    if not isinstance(sizes, dict):
        raise CaseError(f"sizes must be an object with keys {SIZE_KEYS}, got "
                        f"{sizes!r}")
    unknown = [key for key in sizes if key not in SIZE_KEYS]
    if unknown:
        raise _unknown("sizes", unknown, SIZE_KEYS)
    missing = [key for key in SIZE_KEYS if key not in sizes]
    if missing:
        raise CaseError(f"sizes must give {SIZE_KEYS}; missing {missing}")
    return {key: _case_int(f"sizes[{key!r}]", sizes[key]) for key in SIZE_KEYS}


def _check_quantities(quantities):
    if isinstance(quantities, str) or not isinstance(quantities, list):
        raise CaseError(f"quantities must be a list of names from {QUANTITIES}, "
                        f"got {quantities!r}")
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise _unknown("quantities", unknown, QUANTITIES)
    if not quantities:
        raise CaseError("quantities is empty: ask for at least one quantity")
    return [q for q in QUANTITIES if q in quantities]


def _check_k(k, case):
    if "eigenpairs" not in case["quantities"]:
        return k
    if k is None:
        raise CaseError('the case asks for "eigenpairs" but gives no k')

    n = math.prod(case["sizes"][s] for s in ("B", "T", "N"))
    k = _case_int("k", k)
    if k > n:
        raise CaseError(f"impossible size: k = {k} exceeds the kernel size "
                        f"B T N = {n}")
    return k


def _check_tolerances(tolerances):
    if not isinstance(tolerances, dict):
        raise CaseError(f"tolerances must be an object, got {tolerances!r}")
    results = [key for key, spec in KEYS.items() if spec.role == "result"]
    unknown = [key for key in tolerances if key not in results]
    if unknown:
        raise _unknown("tolerance keys", unknown, results)

    out = {}
    for key, tol in tolerances.items():
        if not isinstance(tol, dict) or set(tol) - {"rtol", "atol"}:
            raise CaseError(f"tolerances[{key!r}] must be an object with "
                            f"'rtol' and/or 'atol', got {tol!r}")
        with case_errors():
            out[key] = {name: val.check_scalar(
                f"tolerances[{key!r}][{name!r}]", v, 0.0)
                for name, v in tol.items()}
    return out


def _check_dynamics(dyn, case):
    """Defaults and checks of the ``dynamics`` object (SPEC 4)."""
    if not isinstance(dyn, dict):
        raise CaseError(f"dynamics must be an object, got {dyn!r}")
    unknown = [key for key in dyn if key not in DYNAMICS_KEYS]
    if unknown:
        raise _unknown("dynamics keys", unknown, DYNAMICS_KEYS)

    N, D = case["sizes"]["N"], case["sizes"]["D"]
    out = {"view": dyn.get("view", "map"), "seed": dyn.get("seed", 0),
           "n_random": dyn.get("n_random", DEFAULT_RANDOM_SEEDS),
           "seed_scale": dyn.get("seed_scale", 1.0)}
    if out["view"] not in ("map", "flow"):
        raise CaseError(f"dynamics view must be 'map' or 'flow', got "
                        f"{out['view']!r}")
    if out["view"] == "flow" and case["cell"] != "euler":
        raise CaseError("dynamics view 'flow' needs the euler cell")

    out["kind"] = dyn.get("kind")
    if out["kind"] is not None and out["kind"] not in NORMAL_FORM_TYPES:
        raise CaseError(f"dynamics kind must be one of {NORMAL_FORM_TYPES}, "
                        f"got {out['kind']!r}")
    out["seed"] = _case_int("dynamics seed", out["seed"], minimum=0)
    out["n_random"] = _case_int("dynamics n_random", out["n_random"], 0)

    with case_errors():
        out["seed_scale"] = val.check_scalar("dynamics seed_scale",
                                             out["seed_scale"], 0.0)
        out["x"] = val.as_real_array("dynamics x", dyn.get("x", np.zeros(D)),
                                     shape=(D,)).tolist()
        out["point"] = val.as_real_array("dynamics point",
                                         dyn.get("point", np.zeros(N)),
                                         shape=(N,)).tolist()
        seeds = dyn.get("seeds")
        out["seeds"] = None if seeds is None else val.as_real_array(
            "dynamics seeds", seeds, shape=(None, N)).tolist()
    return out


def _read_arrays(arrays, base_dir):
    """Explicit arrays of a case: an ``.npz`` path or an object of lists."""
    if arrays is None:
        return {}
    if isinstance(arrays, str):
        path = pathlib.Path(base_dir or ".") / arrays
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as err:
            raise CaseError(f"cannot read the arrays file {path}: {err}") \
                from None

    if not isinstance(arrays, dict):
        raise CaseError("arrays must be a path to an .npz file or an object "
                        f"of arrays, got {type(arrays).__name__}")
    unknown = [key for key in arrays if key not in ARRAY_KEYS]
    if unknown:
        raise _unknown("arrays", unknown, ARRAY_KEYS)
    with case_errors():
        return {key: val.as_real_array(f"arrays[{key!r}]", value)
                for key, value in arrays.items()}


def _require_arrays(case):
    need = ["W", "U", "b", "C", "d", "X"]
    if {"loss", "gradient"} & set(case["quantities"]):
        need.append("Y_target")
    missing = [key for key in need if key not in case["arrays"]]
    if missing:
        raise CaseError(f"a case without a seed must give the arrays {need}; "
                        f"missing {missing}")
