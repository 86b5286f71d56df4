"""The model a case describes, and the quantities it asks for (SPEC 1-4, 9).

:func:`build_problem` turns a validated case (:func:`load_case`) into an
:class:`~sntk_ref.model.RNN` and its inputs; :func:`compute_results`
computes the requested quantities with ``sntk_ref``, as bundle entries.
Letters as in :mod:`sntk_ref.bundles.keys`.
"""

from dataclasses import dataclass

import numpy as np

from ..derivatives import loss_and_grad, state_jacobian
from ..dynamics.fixed_points import find_fixed_points
from ..dynamics.normal_forms import normal_form
from ..dynamics.system import rnn_system
from ..kernel import output_ntk, sntk
from ..model import BLOCK_ORDER, RNN
from ..spectra import effective_ranks, spectrum
from ..tolerances import EPS
from ..trajectories import forward, outputs
from .case import case_errors
from .keys import (EIGVEC_FACTOR, EIGVEC_FLOOR, CaseError, eigenvalue_clusters,
                   unpack_sizes)


# -- the problem ---------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """The model and inputs a case describes.

    Attributes
    ----------
    model : RNN
    X : ndarray, shape (B, T, D)
    Y_target : ndarray, shape (B, T, O)
        Zeros when the case gives neither a seed nor targets.
    h0 : ndarray, shape (B, N)
    """

    model: RNN
    X: np.ndarray
    Y_target: np.ndarray
    h0: np.ndarray

    @property
    def h0_arg(self):
        """``h0`` to pass to the derivative functions (None if trainable)."""
        return None if "h0" in self.model.trainable else self.h0


def build_problem(case):
    """Build the model and inputs of a validated case (SPEC 1, 9).

    Parameters
    ----------
    case : dict
        Output of :func:`load_case`.

    Returns
    -------
    problem : Problem
    """
    sizes = case["sizes"]
    B, T, N, D, O = unpack_sizes(sizes)
    drawn = {"Y_target": np.zeros((B, T, O))}
    with case_errors(f"invalid case {case['name']!r}: "):
        if case["seed"] is not None:
            drawn.update(_draw(case, B, T, N, D, O))
        drawn.update(case["arrays"])
        _check_array_sizes(drawn, sizes)

        h0 = drawn.get("h0", np.zeros(N))
        model = RNN(case["cell"], drawn["W"], drawn["U"], drawn["b"],
                    drawn["C"], drawn["d"], h0=h0 if h0.ndim == 1 else None,
                    dt=case["dt"], trainable=tuple(case["trainable"]))

    if h0.ndim == 2 and "h0" in model.trainable:
        raise CaseError("h0 is trainable, so it must be one state (N,), "
                        f"got shape {h0.shape}")
    h0 = np.broadcast_to(h0, (B, N)).copy()
    return Problem(model, drawn["X"], drawn["Y_target"], h0)


def _draw(case, B, T, N, D, O):
    """Parameters, ``X`` and ``Y_target`` drawn from the case's seed."""
    rng = np.random.default_rng(case["seed"])
    model = RNN.random(N, D, O, rng=rng, cell=case["cell"], dt=case["dt"],
                       gain=case["gain"], trainable=tuple(case["trainable"]))
    drawn = {name: getattr(model, name) for name in BLOCK_ORDER}
    drawn["X"] = rng.standard_normal((B, T, D))
    drawn["Y_target"] = rng.standard_normal((B, T, O))
    return drawn


def _check_array_sizes(arrays, sizes):
    B, T, N, D, O = unpack_sizes(sizes)
    want = {"W": [(N, N)], "U": [(N, D)], "b": [(N,)], "C": [(O, N)],
            "d": [(O,)], "h0": [(N,), (B, N)], "X": [(B, T, D)],
            "Y_target": [(B, T, O)]}
    for key, arr in arrays.items():
        if arr.shape not in want[key]:
            shapes = " or ".join(str(s) for s in want[key])
            raise CaseError(f"arrays[{key!r}] has shape {arr.shape}, but the "
                            f"sizes {sizes} need {shapes}")


# -- results -------------------------------------------------------------------
def compute_results(case, problem):
    """Compute the quantities a case asks for (SPEC 1-4).

    Parameters
    ----------
    case : dict
        Output of :func:`load_case`.
    problem : Problem
        Output of :func:`build_problem`.

    Returns
    -------
    results : dict
        Key -> ndarray, with the keys and shapes of the module docstring of
        :mod:`sntk_ref.bundles`.
    """
    model, X, h0 = problem.model, problem.X, problem.h0_arg
    wanted = set(case["quantities"])
    out = {}

    if wanted & {"states", "outputs"}:
        H = forward(model, X, h0)
        if "states" in wanted:
            out["states"] = H
        if "outputs" in wanted:
            out["outputs"] = outputs(model, H)
    if wanted & {"loss", "gradient"}:
        L, g = loss_and_grad(model, X, problem.Y_target, h0)
        if "loss" in wanted:
            out["loss"] = np.float64(L)
        if "gradient" in wanted:
            out["gradient"] = g
    if "J" in wanted:
        out["J"] = state_jacobian(model, X, h0)

    out.update(_kernel_results(case, problem, wanted))
    out.update(_dynamics_results(case, problem, wanted))
    return out


def _kernel_results(case, problem, wanted):
    """K, output NTK, eigenpairs and effective ranks (SPEC 3)."""
    if not wanted & {"K", "output_ntk", "eigenpairs", "effective_ranks"}:
        return {}
    model, X, h0 = problem.model, problem.X, problem.h0_arg
    # one block of all sequences: the same reduction order on every run
    block = X.shape[0]
    out = {}

    if wanted & {"K", "eigenpairs", "effective_ranks"}:
        K = sntk(model, X, h0, method="jacobian", block_size=block)
        if "K" in wanted:
            out["K"] = K
    if "output_ntk" in wanted:
        out["output_ntk"] = output_ntk(model, X, h0, block_size=block)
    if "eigenpairs" in wanted:
        out.update(_eigenpairs(K, case["k"]))
    if "effective_ranks" in wanted:
        ranks = effective_ranks(K)
        out.update({f"rank_{kind}": np.float64(ranks[kind])
                    for kind in ("pr", "entropy", "stable")})
    return out


def _eigenpairs(K, k):
    """Top ``k`` eigenpairs of ``K`` and the tolerance of their vectors."""
    lam_all = spectrum(K, return_vectors=False)
    n, top = lam_all.size, lam_all[0]
    zero = n * EPS * top
    if lam_all[k - 1] <= zero:
        raise CaseError(
            f"k = {k} reaches into the null space of K (eigenvalue {k} is "
            f"{lam_all[k - 1]:.3e} <= n eps l_1 = {zero:.3e}); its vectors "
            "are not determined: choose k <= the rank of K"
        )
    cut = [idx for idx in eigenvalue_clusters(lam_all) if idx[0] < k <= idx[-1]]
    if cut:
        raise CaseError(
            f"k = {k} cuts through a cluster of equal eigenvalues (indices "
            f"{cut[0][0] + 1}..{cut[0][-1] + 1}, value {lam_all[k - 1]:.6e}); "
            "the top-k subspace is not determined: choose another k"
        )

    lam, V = spectrum(K, k=k)
    tol = max(EIGVEC_FLOOR,
              EIGVEC_FACTOR * n * EPS * top / _smallest_gap(lam_all, k))
    return {"eigenvalues": lam, "eigenvectors": V,
            "_tolerances": {"eigenvectors": {"rtol": 0.0, "atol": tol}}}


def _smallest_gap(lam, k):
    """Smallest distance from a cluster among the top ``k`` to the rest."""
    gaps = []
    for idx in eigenvalue_clusters(lam):
        if idx[0] >= k:
            break
        if idx[0] > 0:
            gaps.append(lam[idx[0] - 1] - lam[idx[0]])
        if idx[-1] + 1 < lam.size:
            gaps.append(lam[idx[-1]] - lam[idx[-1] + 1])
    return min(gaps) if gaps else lam[0]


def _dynamics_results(case, problem, wanted):
    """Fixed points and normal-form coefficients (SPEC 4)."""
    if not wanted & {"fixed_points", "normal_form"}:
        return {}
    dyn = case["dynamics"]
    system = rnn_system(problem.model, dyn["x"], view=dyn["view"])
    theta = problem.model.theta
    out = {}

    if "fixed_points" in wanted:
        rng = np.random.default_rng(dyn["seed"])
        found = find_fixed_points(system, theta, dyn["seeds"], rng=rng,
                                  n_random=dyn["n_random"],
                                  seed_scale=dyn["seed_scale"])
        if not found.success:
            raise CaseError(f"no fixed point found: {found.message}")
        out["fixed_points"] = np.stack([pt.x for pt in found.points])
        out["fixed_point_eigenvalues"] = np.stack(
            [pt.eigenvalues.astype(complex) for pt in found.points])
    if "normal_form" in wanted:
        try:
            nf = normal_form(system, dyn["point"], theta, kind=dyn["kind"])
        except ValueError as err:
            raise CaseError(f"normal form at {dyn['point']}: {err}") from None
        out.update(_normal_form_entries(nf))
    return out


def _normal_form_entries(nf):
    """Bundle entries of a normal form (SPEC 4.3-4.4)."""
    if nf.is_degenerate:
        raise CaseError(f"the point is degenerate ({nf.reason}); a bundle "
                        "needs a codimension-one point")
    out = {"nf_type": np.array(nf.type),
           "nf_criticality": np.array(str(nf.criticality)),
           "nf_point": nf.x, "nf_eigenvalue": np.complex128(nf.eigenvalue),
           "nf_q": nf.q, "nf_left": nf.left, "nf_mu": np.float64(nf.mu),
           "nf_mu_p": np.asarray(nf.mu_p, dtype=float)}
    if nf.type in ("hopf", "neimark_sacker"):
        out["nf_c1"] = np.complex128(nf.c)
        out["nf_omega"] = np.float64(nf.omega)
        out["nf_radial"] = np.float64(nf.radial)
    else:
        out["nf_a"] = np.float64(nf.a)
        out["nf_c"] = np.float64(np.real(nf.c))
    return out
