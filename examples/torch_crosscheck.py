"""Cross-check an independent PyTorch sNTK of the euler cell against a bundle.

This is how another backend uses ``sntk_ref`` as an oracle (SPEC 9):

1. ``sntk-ref oracle export`` a case to a reference bundle (done here in
   Python with :func:`sntk_ref.bundles.export_bundle`);
2. read the bundle's inputs and parameters, and recompute everything with a
   *separate* implementation -- here PyTorch, with ``torch.func.jacrev`` for
   the Jacobian of one sequence and ``torch.func.vmap`` over the batch;
3. write the results, with the bundle's key names and index order
   ``(b, t, i)``, to a candidate ``.npz``;
4. ``sntk-ref oracle check REF.npz CANDIDATE.npz`` (here
   :func:`sntk_ref.bundles.check_bundles`) prints the pass/fail table.

PyTorch is optional: without it the script says so and exits with status 0.
Run from the repository root: ``python examples/torch_crosscheck.py``.
"""

import argparse
import json
import pathlib
import sys
import tempfile

import numpy as np

from sntk_ref.bundles import check_bundles, export_bundle, load_bundle

#: The case exported and checked (euler cell, W, U, b trainable).
CASE = (pathlib.Path(__file__).resolve().parent.parent
        / "validation" / "bundles" / "euler_small.json")

SKIP_MESSAGE = ("PyTorch is not installed: skipping the PyTorch cross-check "
                "(install torch to run it; nothing else is needed).")


def torch_results(ref, torch):
    """Every result key of the reference, recomputed with PyTorch."""
    a, conv = ref.arrays, ref.convention
    if conv["cell"] != "euler" or conv["trainable"] != ["W", "U", "b"]:
        raise SystemExit("this example implements the euler cell with W, U, b "
                         "trainable only")
    dt = conv["dt"]
    X, h0 = torch.tensor(a["X"]), torch.tensor(a["h0"])
    C, d = torch.tensor(a["C"]), torch.tensor(a["d"])
    B, T, D = X.shape
    N, O, P = a["W"].shape[0], a["C"].shape[0], a["theta"].size

    def one_sequence(theta, x, h):
        """States (T, N) of one sequence; theta = (W, U, b) row-major."""
        W = theta[:N * N].reshape(N, N)
        U = theta[N * N:N * N + N * D].reshape(N, D)
        b = theta[N * N + N * D:]
        out = []
        for t in range(T):
            h = h + dt * (-h + W @ torch.tanh(h) + U @ x[t] + b)
            out.append(h)
        return torch.stack(out)

    theta = torch.tensor(a["theta"])
    states = torch.func.vmap(one_sequence, in_dims=(None, 0, 0))
    jacobian = torch.func.vmap(torch.func.jacrev(one_sequence),
                               in_dims=(None, 0, 0))

    def loss(theta):
        Y = states(theta, X, h0) @ C.T + d
        return 0.5 * ((Y - torch.tensor(a["Y_target"])) ** 2).sum() / (B * T)

    H = states(theta, X, h0)
    J = jacobian(theta, X, h0)                      # (B, T, N, P)
    Jf = J.reshape(B * T * N, P)
    K = Jf @ Jf.T
    Jy = (C @ J.reshape(B * T, N, P)).reshape(B * T * O, P)
    lam, V = torch.linalg.eigh(K)                   # ascending
    k = a["eigenvalues"].size
    lam, V = lam.flip(0), V.flip(1)
    p = lam.clamp(min=0) / lam.clamp(min=0).sum()
    p = p[p > 0]
    out = {
        "states": H, "outputs": H @ C.T + d, "loss": loss(theta),
        "gradient": torch.func.grad(loss)(theta), "J": J,
        "K": K.reshape(B, T, N, B, T, N),
        "output_ntk": (Jy @ Jy.T).reshape(B, T, O, B, T, O),
        "eigenvalues": lam[:k], "eigenvectors": V[:, :k],
        "rank_pr": K.trace() ** 2 / (K * K).sum(),
        "rank_entropy": torch.exp(-(p * p.log()).sum()),
        "rank_stable": K.trace() / lam[0],
    }
    return {key: value.detach().numpy() for key, value in out.items()
            if key in a}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=pathlib.Path, default=None,
                        help="where to write the bundles (default: temporary)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(SKIP_MESSAGE)
        return 0
    torch.set_default_dtype(torch.float64)

    # 1. the reference bundle
    workdir = args.workdir or pathlib.Path(tempfile.mkdtemp())
    reference, candidate = workdir / "ref.npz", workdir / "candidate.npz"
    export_bundle(CASE, reference)
    ref = load_bundle(reference)

    # 2-3. the independent implementation, written as a candidate bundle
    results = torch_results(ref, torch)
    convention = {key: ref.convention[key] for key in
                  ("cell", "dt", "trainable", "parameter_order", "dtype")}
    np.savez(candidate, convention=np.array(json.dumps(convention)), **results)

    # 4. the check
    report = check_bundles(reference, candidate)
    print(report.table())
    if "K" not in {row.key for row in report.rows}:
        print("the kernel K was not compared: the case must ask for it")
        return 1
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
