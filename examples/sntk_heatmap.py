"""The state-space NTK of a tiny RNN, and its time kernel as a heat map.

What this shows (SPEC 3):

1. build a small ``euler`` RNN and a batch of input sequences;
2. compute its state-space NTK ``K[b, t, i, b', s, j]`` -- how a gradient
   step that changes the state ``(b', s, j)`` moves the state ``(b, t, i)``;
3. check the two facts every NTK must satisfy: it is symmetric and positive
   semidefinite, and it is the Gram matrix ``J J^T`` of the state Jacobian;
4. reduce it to the time kernel ``K_time[b, t, b', s] = sum_i K[b,t,i,b',s,i]``
   and save it as a heat map.

Run from the repository root::

    python examples/sntk_heatmap.py --out sntk_time_kernel.png
"""

import argparse
import pathlib
import tempfile

import matplotlib

matplotlib.use("Agg")  # write files, never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sntk_ref.derivatives import state_jacobian  # noqa: E402
from sntk_ref.kernel import sntk, time_kernel  # noqa: E402
from sntk_ref.kernel_layout import flatten_kernel  # noqa: E402
from sntk_ref.model import RNN  # noqa: E402
from sntk_ref.spectra import effective_rank, spectrum  # noqa: E402

# B sequences of T steps, D inputs, N hidden units, O outputs
B, T, D, N, O = 2, 12, 2, 6, 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="PNG to write (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # 1. a tiny model and its inputs (every random draw from one generator)
    rng = np.random.default_rng(args.seed)
    model = RNN.random(N, D, O, cell="euler", dt=0.5, rng=rng)
    X = rng.standard_normal((B, T, D))
    print(f"model: {model}")

    # 2. the kernel, six indices (b, t, i, b', s, j)
    K = sntk(model, X)
    print(f"K has shape {K.shape}: (B, T, N, B, T, N)")

    # 3. symmetric, PSD, and equal to J J^T
    K2 = flatten_kernel(K)
    J = state_jacobian(model, X).reshape(B * T * N, model.n_params)
    lam = spectrum(K2, return_vectors=False)
    print(f"max |K - K^T|     = {np.abs(K2 - K2.T).max():.1e}")
    print(f"max |K - J J^T|   = {np.abs(K2 - J @ J.T).max():.1e}")
    print(f"smallest eigenvalue / largest = {lam[-1] / lam[0]:.1e}")
    print(f"top 5 eigenvalues: {np.array2string(lam[:5], precision=3)}")
    print(f"effective rank (participation ratio) = "
          f"{effective_rank(K2):.2f} of at most {min(B * T * N, model.n_params)}")

    # 4. the time kernel of the first sequence, as a heat map
    K_time = time_kernel(K)[0, :, 0, :]
    out = args.out or pathlib.Path(tempfile.mkdtemp()) / "sntk_time_kernel.png"
    fig, ax = plt.subplots(figsize=(4.5, 4))
    image = ax.imshow(K_time, cmap="viridis", origin="lower")
    ax.set_xlabel("time s")
    ax.set_ylabel("time t")
    ax.set_title("time kernel  sum_i K[0, t, i, 0, s, i]")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
