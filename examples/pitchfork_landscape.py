"""The loss landscape of the scalar pitchfork as a learning problem (SPEC 5).

The "network" is the normal form ``x' = mu x - x^3`` itself; its attractor
is ``x* = sqrt(mu)`` for ``mu > 0`` and ``0`` for ``mu <= 0``. A student
``mu`` learns a teacher ``mu*`` from the long-window loss

    L(mu) = 1/2 (sqrt(mu) - sqrt(mu*))^2    (mu > 0),   mu*/2   (mu <= 0).

Steps:

1. tabulate the loss, its gradient and curvature; the curvature
   ``sqrt(mu*) / (4 mu^{3/2})`` blows up as ``mu -> 0+``: the bifurcation;
2. run fixed-step gradient descent and the natural-gradient step
   ``-eta (dL/dmu) / (dx*/dmu)^2`` from a student just past the bifurcation;
   the natural gradient contracts at the same rate whatever ``mu``;
3. optionally save the landscape as a PNG (``--out``).

Run from the repository root: ``python examples/pitchfork_landscape.py``.
"""

import argparse
import pathlib

import numpy as np

from sntk_ref.dynamics.scalar import ScalarNormalForm

MU_STAR = 0.5    # the teacher
MU_START = 0.01  # the student starts just past the bifurcation
ETA = 0.5        # step size of both methods
STEPS = 8


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="also save the landscape as this PNG")
    args = parser.parse_args(argv)
    pitchfork = ScalarNormalForm("pitchfork")

    # 1. the landscape near the bifurcation
    print(f"teacher mu* = {MU_STAR}")
    print(f"{'mu':>8} {'L':>10} {'dL/dmu':>10} {'curvature':>11}")
    for mu in (-0.1, 0.001, 0.01, 0.1, 0.5, 1.0):
        terms = pitchfork.loss(mu, MU_STAR)
        print(f"{mu:>8} {terms.value:>10.5f} {terms.gradient:>10.4f} "
              f"{terms.curvature:>11.3f}")

    # 2. gradient descent versus the natural gradient
    mu_gd = mu_ng = MU_START
    print(f"\n{'step':>4} {'GD mu':>12} {'natural-gradient mu':>20}")
    for step in range(STEPS + 1):
        print(f"{step:>4} {mu_gd:>12.6f} {mu_ng:>20.6f}")
        mu_gd = pitchfork.gradient_step(mu_gd, MU_STAR, ETA)
        mu_ng = pitchfork.natural_gradient_step(mu_ng, MU_STAR, ETA)

    # 3. the picture
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        mus = np.linspace(-0.2, 1.0, 400)
        losses = [pitchfork.loss(mu, MU_STAR).value for mu in mus]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(mus, losses)
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("mu")
        ax.set_ylabel("L(mu)")
        ax.set_title(f"pitchfork landscape, teacher mu* = {MU_STAR}")
        fig.tight_layout()
        fig.savefig(args.out, dpi=100)
        plt.close(fig)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
