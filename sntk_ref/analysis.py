"""Analysis of one RNN: fixed points, nearest bifurcation, sNTK, channels.

SPEC 3.4, 4.2-4.4 and 6, put together for one model at one point of
training. Letters: ``B`` sequences, ``T`` steps, ``D`` inputs, ``N`` hidden
units, ``O`` outputs, ``P`` trainable parameters, ``k`` reported
eigenvalues.

:func:`diagnose` is the measurement made at every checkpoint of the
student-teacher experiment (:mod:`sntk_ref.experiment`) and by
``sntk-ref analyze``; :func:`load_model` and :func:`load_inputs` read the
files of the latter.

The kernel ``K = J J^T`` (SPEC 3.1) is never formed: with ``n = B T N``
rows and ``P`` columns, its nonzero spectrum is that of the ``P x P`` Gram
``J^T J`` (SPEC 3.4). That Gram is built and diagonalised once per
diagnosis: its eigenvalues are the kernel's, its top eigenvector is the
dominant parameter direction of SPEC 6 (the top right singular vector of
``J``), and the channel split reuses it as the total Gram.

Model files (``.npz``, read with ``allow_pickle=False``):

======== ================ ===============================================
key      shape            meaning
======== ================ ===============================================
cell     () string        ``"elman"`` or ``"euler"``
dt       () float         Euler step (``0 < dt <= 1``; stored for elman too)
W        (N, N)           recurrent weights
U        (N, D)           input weights
b        (N,)             bias
C        (O, N)           readout
d        (O,)             readout bias
h0       (N,), optional   default initial state (zeros)
trainable (k,) strings,   blocks of ``theta`` (default ``W, U, b``)
         optional
======== ================ ===============================================

Input files (``.npz``): ``X (B, T, D)``; optional ``h0`` of shape ``(N,)``
or ``(B, N)``; optional ``x_const (D,)``, the constant input under which
fixed points are sought (zeros if absent). Without an input file the probe
of :func:`default_probe` is used.
"""

import math
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import _validation as val
from ._summary import normal_form_summary, plain
from .channels import (CriticalMode, DominantDirection, decompose,
                       restricted_sntk)
from .derivatives import state_jacobian
from .dynamics.fixed_points import (analyse_point, critical_distance,
                                    find_fixed_points)
from .dynamics.normal_forms import normal_form, unfolding_gradient
from .dynamics.system import rnn_system
from .kernel import parameter_gram
from .model import BLOCK_ORDER, DEFAULT_TRAINABLE, RNN
from .spectra import effective_ranks, spectrum
from .trajectories import check_inputs, forward, loss

__all__ = [
    "Diagnosis",
    "ModelFileError",
    "NearestBifurcation",
    "default_probe",
    "diagnose",
    "load_inputs",
    "load_model",
    "nearest_bifurcation",
]

#: Required keys of a model file.
MODEL_KEYS = ("cell", "dt", "W", "U", "b", "C", "d")

#: Optional keys of a model file.
OPTIONAL_MODEL_KEYS = ("h0", "trainable")

#: Keys of an input file (``X`` required).
INPUT_KEYS = ("X", "h0", "x_const")

#: First bytes of a zip archive (``numpy.savez``; ``PK\x05\x06`` opens an
#: empty one) and of a single ``.npy`` array.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"

#: Default probe: sequences, steps, input scale and seed.
PROBE_SEQUENCES = 4
PROBE_STEPS = 50
PROBE_INPUT_SCALE = 0.1
PROBE_SEED = 0

#: Random Newton seeds drawn per fixed-point search, and their scale
#: (``Normal(0, FP_SEED_SCALE^2)`` per unit); the origin, the tracked point
#: and the final state of every sequence are always seeds as well.
FP_RANDOM_SEEDS = 8
FP_SEED_SCALE = 1.0

#: A fixed point counts as "near" a bifurcation when the critical distance
#: ``|mu|`` (flow: ``Re lam``; map: ``|lam| - 1``) is at most this.
NEAR_BIFURCATION = 0.1

#: Newton on ``mu(theta) = 0`` along ``grad mu`` (:func:`nearest_bifurcation`):
#: stop at ``|mu|`` below this (far below the normal forms' critical
#: tolerance, ``1e-6`` relative), or after this many steps.
CRITICAL_NEWTON_TOL = 1e-10
CRITICAL_NEWTON_MAX_ITER = 20

#: Leading kernel eigenvalues kept in a :class:`Diagnosis`.
TOP_EIGENVALUES = 20


class ModelFileError(ValueError):
    """A model or input file is malformed; the message names the key."""


@dataclass
class Diagnosis:
    """Everything measured on one model (SPEC 3.4, 4, 6).

    Attributes
    ----------
    view : {"map", "flow"}
        ``flow`` for ``euler`` cells (the vector field of SPEC 1.1), ``map``
        for ``elman``.
    loss : float or None
        SPEC 1.3 loss when targets were given.
    fixed_points : list of FixedPoint
        Verified fixed points under the constant input.
    index : int
        Which of them is analysed (tracked, or nearest to a bifurcation).
    eigenvalue : complex
        Its critical (leading) eigenvalue.
    mu : float
        Critical distance: ``Re lam`` (flow) or ``|lam| - 1`` (map).
    grad_mu : ndarray, shape (P,) or None
        ``d mu / d theta`` (SPEC 4.4) in the view's units.
    normal_form : object or None
        Result of :func:`sntk_ref.dynamics.normal_form` at the point.
    eigenvalues : ndarray, shape (k,)
        Leading eigenvalues of ``K``, descending.
    ranks : dict
        ``pr``, ``entropy``, ``stable`` (SPEC 3.4).
    split : ChannelSplit or None
    direction : DominantDirection or None
    restricted : RestrictedKernel or None
    nearest : NearestBifurcation or None
        Where along ``grad mu`` the analysed point becomes critical.
    notes : list of str
        Anything that could not be computed, and why.
    """

    view: str
    loss: Optional[float]
    fixed_points: list
    index: int
    eigenvalue: complex
    mu: float
    grad_mu: Optional[np.ndarray]
    normal_form: object
    eigenvalues: np.ndarray
    ranks: dict
    split: object = None
    direction: object = None
    restricted: object = None
    nearest: object = None
    notes: list = field(default_factory=list)

    @property
    def point(self):
        """The analysed :class:`FixedPoint`."""
        return self.fixed_points[self.index]

    def summary(self):
        """Scalars only, JSON-ready (floats, ints, strings, bools)."""
        nf = self.normal_form
        out = {
            "loss": self.loss,
            "view": self.view,
            "n_fixed_points": len(self.fixed_points),
            "n_stable": sum(bool(p.stable) for p in self.fixed_points),
            "point_norm": float(np.linalg.norm(self.point.x)),
            "point_stable": bool(self.point.stable),
            "eigenvalue_re": float(np.real(self.eigenvalue)),
            "eigenvalue_im": float(np.imag(self.eigenvalue)),
            "mu": self.mu,
            "near_bifurcation": abs(self.mu) <= NEAR_BIFURCATION,
            "grad_mu_norm": _norm(self.grad_mu),
            "normal_form": normal_form_summary(nf),
            "bifurcation_distance": (None if self.nearest is None
                                     else self.nearest.distance),
            "pr": self.ranks["pr"],
            "entropy_rank": self.ranks["entropy"],
            "stable_rank": self.ranks["stable"],
            "top_eigenvalues": [float(x) for x in self.eigenvalues[:5]],
            "notes": list(self.notes),
        }
        if self.split is not None:
            out.update(rho=self.split.rho, A_spec=self.split.A_spec,
                       A_tr=self.split.A_tr)
        if self.direction is not None:
            out["cos_delta_grad_mu"] = self.direction.cos_grad_mu
        if self.restricted is not None:
            out["restricted_cos"] = self.restricted.cos
            out["restricted_norm_ratio"] = self.restricted.norm_ratio
        return {k: plain(v) for k, v in out.items()}


def _norm(x):
    return None if x is None else float(np.linalg.norm(x))


# -- the measurement ---------------------------------------------------------
def default_view(model):
    """``"flow"`` for ``euler`` cells, ``"map"`` for ``elman`` (SPEC 4.1)."""
    return "flow" if model.cell == "euler" else "map"


def _fixed_points(model, H, x_const, view, track, rng):
    """Verified fixed points under ``x_const`` and the analysed index.

    ``H (B, T, N)`` are the states on the probe; their last ones are seeds.
    """
    system = rnn_system(model, x_const, view)
    seeds = [np.zeros(model.n_hidden)]
    if track is not None:
        seeds.append(track)
    seeds.extend(H[:, -1])
    found = find_fixed_points(system, model.theta, np.array(seeds), rng=rng,
                              n_random=FP_RANDOM_SEEDS,
                              seed_scale=FP_SEED_SCALE)
    if not found.success:
        raise RuntimeError(f"no fixed point found: {found.message}")

    points = found.points
    if track is not None:
        index = int(np.argmin([np.linalg.norm(p.x - track) for p in points]))
    else:
        dist = [abs(critical_distance(p.eigenvalues[0], view)) for p in points]
        index = int(np.argmin(dist))
    return points, index


def _kernel_spectrum(J):
    """The Gram ``J^T J (P, P)`` and its full spectrum (that of ``K``)."""
    # J^T J by a symmetric rank-k update (half the flops of a product)
    gram = parameter_gram(J.reshape(-1, J.shape[-1]))
    return gram, spectrum(gram)


def _critical_mode(model, point, nf, grad_mu):
    """The map-view :class:`CriticalMode` of the analysed point (SPEC 6).

    ``dt`` scales a flow point's data to the map (SPEC 4.6); a map point
    ignores it.
    """
    return CriticalMode.from_fixed_point(
        point, dt=model.dt, c=_coefficient(nf, "c"), a=_coefficient(nf, "a"),
        grad_mu=grad_mu)


def _coefficient(nf, name):
    value = getattr(nf, name, 0.0) if nf is not None else 0.0
    value = 0.0 if value is None else value
    value = float(np.real(value))
    return value if math.isfinite(value) else 0.0


def diagnose(model, X, *, h0=None, Y=None, x_const=None, view=None,
             track=None, rng=None, channels=True):
    """Fixed points, critical eigenvalue, sNTK ranks and channels of a model.

    SPEC 3.4, 4.2-4.4, 6. The kernel is that of the states on ``X`` with the
    model's trainable parameters; it is never formed (module docstring).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
        Inputs on which the kernel is measured.
    h0 : array_like, shape (N,) or (B, N), optional
    Y : array_like, shape (B, T, O), optional
        Targets; the SPEC 1.3 loss is reported when given.
    x_const : array_like, shape (D,), optional
        Constant input of the fixed-point search (zeros).
    view : {"map", "flow"}, optional
        Default :func:`default_view`.
    track : array_like, shape (N,), optional
        Analyse the fixed point nearest to this state (continuation between
        checkpoints); otherwise the one nearest to a bifurcation (smallest
        ``|mu|`` of its leading eigenvalue).
    rng : numpy.random.Generator, optional
        Draws the random Newton seeds (``default_rng(0)`` if omitted, so the
        result is reproducible).
    channels : bool
        Also compute the channel split, the dominant direction and the
        restricted kernel (SPEC 6).

    Returns
    -------
    Diagnosis
    """
    X, h0 = check_inputs(model, X, h0)
    view = default_view(model) if view is None else view
    rng = np.random.default_rng(0) if rng is None else val.check_rng(rng)
    if track is not None:
        track = val.as_real_array("track", track, shape=(model.n_hidden,))
    notes = []

    # fixed points and the critical eigenvalue (SPEC 4.2)
    H = forward(model, X, h0)
    points, index = _fixed_points(model, H, x_const, view, track, rng)
    point = points[index]
    lam = complex(point.eigenvalues[0])
    mu = float(critical_distance(lam, view))
    grad_mu, nf, nearest = _bifurcation_data(model, point, view, x_const,
                                             notes)

    # the kernel's spectrum and effective ranks (SPEC 3.4)
    J = state_jacobian(model, X, h0)
    gram, spec = _kernel_spectrum(J)
    eigenvalues = spec.eigenvalues
    try:
        ranks = effective_ranks(eigenvalues=eigenvalues)
    except ValueError as err:
        notes.append(f"effective rank: {err}")
        ranks = {"pr": math.nan, "entropy": math.nan, "stable": math.nan}
    out = Diagnosis(
        view=view, loss=None if Y is None else loss(model, X, Y, h0),
        fixed_points=points, index=index, eigenvalue=lam, mu=mu,
        grad_mu=grad_mu, normal_form=nf, nearest=nearest,
        eigenvalues=eigenvalues[:TOP_EIGENVALUES], ranks=ranks, notes=notes)
    if channels:
        _channels(out, model, X, h0, J, H, gram, spec, notes)
    return out


def _bifurcation_data(model, point, view, x_const, notes):
    """``grad mu`` (SPEC 4.4) and the nearest normal form (SPEC 4.3)."""
    try:
        start = unfolding_gradient(model, point, x_const, view)
    except (NotImplementedError, ValueError, np.linalg.LinAlgError) as err:
        notes.append(f"grad mu: {err}")
        return None, None, None
    grad = start[1]
    nearest = _newton_to_critical(model, point, view, x_const,
                                  CRITICAL_NEWTON_TOL,
                                  CRITICAL_NEWTON_MAX_ITER, start)
    if not nearest.success:
        notes.append(f"nearest bifurcation: {nearest.message}")
    return grad, nearest.normal_form, nearest


@dataclass
class NearestBifurcation:
    """The critical parameter nearest along ``grad mu`` (SPEC 4.3-4.5).

    Attributes
    ----------
    success : bool
    message : str
    theta : ndarray, shape (P,)
        Parameters where the tracked fixed point is critical.
    distance : float
        ``|theta - theta_model|``, the parameter distance to the bifurcation
        (to first order ``|mu| / |grad mu|``).
    point : ndarray, shape (N,)
        The fixed point at ``theta``.
    normal_form : NormalForm or None
        Its normal form (type, coefficients, criticality).
    iterations : int
    """

    success: bool
    message: str
    theta: np.ndarray
    distance: float
    point: np.ndarray
    normal_form: object
    iterations: int


def nearest_bifurcation(model, point, *, view=None, x_const=None,
                        tol=CRITICAL_NEWTON_TOL,
                        max_iter=CRITICAL_NEWTON_MAX_ITER):
    """Move ``theta`` along ``grad mu`` until the tracked point is critical.

    Newton on ``mu(theta) = 0`` restricted to the gradient direction,
    ``theta <- theta - mu grad / |grad|^2`` (the minimum-norm step), with
    the fixed point re-converged from its previous position at each step;
    then :func:`sntk_ref.dynamics.normal_form` at the critical point. SPEC
    4.3-4.4; the located point is the nearest bifurcation of this branch to
    first order in the parameter distance.

    Parameters
    ----------
    model : RNN
    point : FixedPoint
        A fixed point of ``rnn_system(model, x_const, view)``.
    view : {"map", "flow"}, optional
    x_const : array_like, shape (D,), optional
    tol : float
        Stop when ``|mu| <= tol``.
    max_iter : int

    Returns
    -------
    NearestBifurcation
        ``success = False`` (with the reason) if Newton did not converge or
        the normal form could not be computed.
    """
    view = default_view(model) if view is None else view
    return _newton_to_critical(model, point, view, x_const, tol, max_iter)


def _leading_mu(point, view):
    """Critical distance of the leading eigenvalue of a ``FixedPoint``."""
    return float(critical_distance(point.eigenvalues[0], view))


def _newton_to_critical(model, point, view, x_const, tol, max_iter,
                        start=None):
    """:func:`nearest_bifurcation`, from ``start = (mu, grad mu)`` if known.

    ``start`` is ``unfolding_gradient(model, point, x_const, view)``. Each
    Newton step reads ``mu`` from the re-converged (and analysed) fixed
    point, and ``grad mu`` at the model is also the line of the normal form.
    """
    theta, h = model.theta, np.array(point.x)
    if start is None:
        system = rnn_system(model, x_const, view)
        mu, grad = _leading_mu(analyse_point(system, h, theta), view), None
    else:
        mu, grad = start
    grad_model, step_mu = grad, mu
    for it in range(1, max_iter + 1):
        if abs(mu) <= tol:
            break
        if grad is None:
            mu, grad = unfolding_gradient(model.with_theta(theta), h, x_const,
                                          view)
        if it == 1:
            grad_model = grad
        gg = float(grad @ grad)
        if not gg > 0.0:
            return _no_bifurcation(model, "grad mu vanishes", theta, h, it)
        theta, step_mu = theta - mu * grad / gg, mu
        system = rnn_system(model.with_theta(theta), x_const, view)
        found = find_fixed_points(system, theta, h[None, :])
        if not found.success:
            return _no_bifurcation(model, "the tracked fixed point was lost",
                                   theta, h, it)
        h = found.points[0].x
        mu, grad = _leading_mu(found.points[0], view), None
    else:
        # |mu| where the last step started
        return _no_bifurcation(
            model, f"|mu| = {abs(step_mu):.3g} > {tol} after {max_iter} steps",
            theta, h, max_iter)

    # the normal form along grad mu, a scalar unfolding parameter
    system = rnn_system(model.with_theta(theta), x_const, view)
    try:
        if grad_model is None:
            grad_model = unfolding_gradient(model, point, x_const, view)[1]
        line = system.along(theta, grad_model / np.linalg.norm(grad_model))
        nf = normal_form(line, h, 0.0)
    except (NotImplementedError, ValueError) as err:
        return _no_bifurcation(model, f"normal form: {err}", theta, h, it)
    distance = float(np.linalg.norm(theta - model.theta))
    return NearestBifurcation(True, f"{nf.type} after {it} Newton steps",
                              theta, distance, h, nf, it)


def _no_bifurcation(model, message, theta, h, it):
    return NearestBifurcation(False, message, theta,
                              float(np.linalg.norm(theta - model.theta)), h,
                              None, it)


def _channels(out, model, X, h0, J, H, gram, spec, notes):
    """Channel split, dominant direction, restricted kernel (SPEC 6).

    ``gram = J^T J`` and its spectrum ``spec`` are those of
    :func:`_kernel_spectrum`; ``H`` the states on ``X``.
    """
    mode = _critical_mode(model, out.point, out.normal_form, out.grad_mu)
    lam, vecs = spec
    out.split = decompose(J, mode, gram=gram, lmax_total=lam[0])
    out.direction = DominantDirection.from_spectrum(lam[:2], vecs[:, :2],
                                                    grad_mu=out.grad_mu)
    try:
        out.restricted = restricted_sntk(model, X, out.direction.delta, mode,
                                         h0=h0, J=J, H=H)
    except NotImplementedError as err:
        notes.append(f"restricted kernel: {err}")


# -- files -------------------------------------------------------------------
def _open_npz(path, what):
    """The arrays of an ``.npz`` file as a dict, or a ModelFileError."""
    _check_npz_magic(path, what)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ModelFileError(
                    f"{what} file {path} is a single .npy array, not an .npz "
                    "archive of named arrays")
            return {key: _read_key(data, key, path) for key in data.files}
    except ModelFileError:
        raise
    except FileNotFoundError:
        raise ModelFileError(f"{what} file {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ModelFileError(
            f"{what} file {path} is not a readable .npz archive: {err}"
        ) from None


def _check_npz_magic(path, what):
    """Refuse a file that is not a zip archive, with a message that says so.

    ``numpy.load`` treats any other file as a pickle and, with
    ``allow_pickle=False``, would blame "pickled data" for plain garbage.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
    except FileNotFoundError:
        raise ModelFileError(f"{what} file {path} does not exist") from None
    except OSError as err:
        raise ModelFileError(f"{what} file {path} cannot be read: {err}") from None
    if head.startswith(NPY_MAGIC):
        raise ModelFileError(
            f"{what} file {path} is a single .npy array, not an .npz "
            "archive of named arrays")
    if not head.startswith(ZIP_MAGIC):
        raise ModelFileError(
            f"{what} file {path} is not a valid .npz (zip) file: it does not "
            "start with the zip signature (save one with numpy.savez)"
        )


def _read_key(data, key, path):
    try:
        return data[key]
    except ValueError as err:
        raise ModelFileError(
            f"{path}: key {key!r} cannot be read without pickling (object "
            f"arrays are refused): {err}") from None


def _string_key(arrays, key, path):
    arr = arrays[key]
    if arr.dtype.kind not in "US" or arr.ndim != 0:
        raise ModelFileError(
            f"{path}: key {key!r} must be a string scalar, got an array of "
            f"shape {arr.shape} and dtype {arr.dtype}")
    return str(arr)


def _real_key(arrays, key, path, ndim):
    arr = arrays[key]
    if arr.dtype.kind not in "biuf":
        raise ModelFileError(
            f"{path}: key {key!r} must be a real numeric array, got dtype "
            f"{arr.dtype}")
    if arr.ndim != ndim:
        raise ModelFileError(
            f"{path}: key {key!r} must have {ndim} dimensions, got shape "
            f"{arr.shape}")
    bad = ~np.isfinite(arr.astype(np.float64))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ModelFileError(
            f"{path}: key {key!r} has {int(bad.sum())} non-finite entries "
            f"(first at index {first})")
    return arr.astype(np.float64)


def load_model(path):
    """Read an RNN from an ``.npz`` model file (keys in the module docstring).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    model : RNN

    Raises
    ------
    ModelFileError
        Unreadable file, missing or unknown key, wrong dtype, shape or
        value, non-finite entries; the message names the key.
    """
    arrays = _open_npz(path, "model")
    missing = [k for k in MODEL_KEYS if k not in arrays]
    if missing:
        raise ModelFileError(f"{path}: missing key(s) {missing}; a model file "
                             f"needs {list(MODEL_KEYS)}")
    unknown = sorted(set(arrays) - set(MODEL_KEYS) - set(OPTIONAL_MODEL_KEYS))
    if unknown:
        raise ModelFileError(f"{path}: unknown key(s) {unknown}")

    cell = _string_key(arrays, "cell", path)
    dt = float(_real_key(arrays, "dt", path, 0))
    ndims = {"W": 2, "U": 2, "b": 1, "C": 2, "d": 1, "h0": 1}
    blocks = {k: _real_key(arrays, k, path, n) for k, n in ndims.items()
              if k in arrays}
    trainable = DEFAULT_TRAINABLE
    if "trainable" in arrays:
        arr = arrays["trainable"]
        if arr.dtype.kind not in "US" or arr.ndim != 1:
            raise ModelFileError(
                f"{path}: key 'trainable' must be a 1-d array of block names "
                f"from {BLOCK_ORDER}, got shape {arr.shape}, dtype {arr.dtype}")
        trainable = tuple(str(s) for s in arr)
    try:
        return RNN(cell, dt=dt, trainable=trainable, **blocks)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: {err}") from None


def load_inputs(path, model):
    """Read ``X``, ``h0`` and ``x_const`` for ``model`` from an ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
    model : RNN

    Returns
    -------
    X : ndarray, shape (B, T, D)
    h0 : ndarray, shape (N,) or (B, N), or None
    x_const : ndarray, shape (D,), or None
    """
    arrays = _open_npz(path, "input")
    if "X" not in arrays:
        raise ModelFileError(f"{path}: missing key 'X' (inputs, shape (B, T, D))")
    unknown = sorted(set(arrays) - set(INPUT_KEYS))
    if unknown:
        raise ModelFileError(f"{path}: unknown key(s) {unknown}; input files "
                             f"hold {list(INPUT_KEYS)}")
    X = _real_key(arrays, "X", path, 3)
    if X.shape[2] != model.n_in or min(X.shape[:2]) < 1:
        raise ModelFileError(
            f"{path}: key 'X' must have shape (B, T, D) with D = {model.n_in} "
            f"and B, T >= 1, got {X.shape}")
    h0 = x_const = None
    if "h0" in arrays:
        h0 = _real_key(arrays, "h0", path, arrays["h0"].ndim)
        if h0.shape not in ((model.n_hidden,), (X.shape[0], model.n_hidden)):
            raise ModelFileError(
                f"{path}: key 'h0' must have shape (N,) = ({model.n_hidden},) "
                f"or (B, N) = ({X.shape[0]}, {model.n_hidden}), got {h0.shape}")
    if "x_const" in arrays:
        x_const = _real_key(arrays, "x_const", path, 1)
        if x_const.shape != (model.n_in,):
            raise ModelFileError(
                f"{path}: key 'x_const' must have shape (D,) = "
                f"({model.n_in},), got {x_const.shape}")
    return X, h0, x_const


def default_probe(model, rng=None):
    """The documented probe inputs used when no input file is given.

    ``B = PROBE_SEQUENCES`` sequences of ``T = PROBE_STEPS`` steps, inputs
    ``PROBE_INPUT_SCALE * Normal(0, 1)`` drawn from
    ``numpy.random.default_rng(PROBE_SEED)`` unless ``rng`` is given; the
    initial state is the model's ``h0``.

    Returns
    -------
    X : ndarray, shape (B, T, D)
    """
    rng = np.random.default_rng(PROBE_SEED) if rng is None else val.check_rng(rng)
    shape = (PROBE_SEQUENCES, PROBE_STEPS, model.n_in)
    return PROBE_INPUT_SCALE * rng.standard_normal(shape)
