"""Sweep of the bifurcation / residual channels toward a pitchfork (SPEC 6).

Run: ``python validation/sweep_channels.py [--out PATH] [--window T] ...``.
Not a test: prints one table and writes one figure (PNG, Agg backend).

Network (SPEC 4.6): the rank-one ``euler`` network
``W = (g / N) m m^T``, ``m_i = ±1`` (half each), ``U = DRIVE * Normal / sqrt(N)``
(a weak random input drive, columns of norm about ``DRIVE``), ``b = 0``,
``X ~ Normal(0, 1)``, only ``W`` trained (``P = N^2``), ``h0 = 0``.
``numpy.random.default_rng(seed)`` draws ``m``, ``U`` and ``X`` in that
order, the same for every ``g``. The flow eigenvalue at ``h* = 0`` is
``mu = g - 1 < 0``; the map's is ``dt mu`` and its relaxation time
``1 / (dt |mu|)`` steps.

Every number comes from a tested function: :func:`sntk_ref.channels.decompose`
(``rho``, ``A_spec``, ``A_tr`` in factored form, from ``J``),
:func:`sntk_ref.channels.dominant_direction` (``cos(delta, grad mu)``),
:func:`sntk_ref.channels.restricted_sntk` (``cos(J delta, s ⊗ v)``),
:func:`sntk_ref.spectra.effective_ranks` (PR, entropy rank),
:func:`sntk_ref.dynamics.normal_forms.unfolding_gradient` (``grad mu``); the
map pitchfork coefficient is the closed form ``c = -dt g / (3 N)``.

Reference slopes drawn (log-log, against ``|mu|``): ``A_spec`` at least
``|mu|^-1`` (window-limited) and up to ``|mu|^-2`` (window much longer than
the relaxation time: ``l_max(K_bif) ~ |mu|^-3``, ``l_max(K_res) ~ |mu|^-1``);
``1 - rho`` between ``|mu|^1`` and ``|mu|^2`` for the same reason.
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sntk_ref.channels import (CriticalMode, decompose,  # noqa: E402
                               dominant_direction, restricted_sntk)
from sntk_ref.derivatives import state_jacobian  # noqa: E402
from sntk_ref.dynamics.fixed_points import analyse_point  # noqa: E402
from sntk_ref.dynamics.normal_forms import unfolding_gradient  # noqa: E402
from sntk_ref.dynamics.system import rnn_system  # noqa: E402
from sntk_ref.model import RNN  # noqa: E402
from sntk_ref.spectra import effective_ranks  # noqa: E402

#: Default |mu| values (flow eigenvalue g - 1 below the pitchfork).
DEFAULT_MUS = (0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005)

#: Hidden units, Euler step, inputs, sequences, window (steps).
N_UNITS, DT, N_IN, N_SEQ, WINDOW = 12, 0.2, 2, 2, 1500

#: Column norm of the input weights.
DRIVE = 0.3


def build(mu, rng):
    """The rank-one network at ``g = 1 + mu`` (draws ``m``, then ``U``)."""
    m = rng.permutation(np.repeat([1.0, -1.0], N_UNITS // 2))
    U = DRIVE * rng.standard_normal((N_UNITS, N_IN)) / np.sqrt(N_UNITS)
    g = 1.0 + mu
    model = RNN("euler", g / N_UNITS * np.outer(m, m), U, np.zeros(N_UNITS),
                np.zeros((1, N_UNITS)), np.zeros(1), dt=DT, trainable=("W",))
    return model, g


def measure(mu, seed, window, n_seq):
    """One row of the table at ``g = 1 - mu`` (``mu = |mu| > 0``)."""
    rng = np.random.default_rng(seed)
    model, g = build(-mu, rng)
    X = rng.standard_normal((n_seq, window, N_IN))

    point = analyse_point(rnn_system(model), np.zeros(N_UNITS), model.theta)
    _, grad = unfolding_gradient(model, point, view="map")
    mode = CriticalMode.from_fixed_point(point, c=-DT * g / (3 * N_UNITS),
                                         grad_mu=grad)

    J = state_jacobian(model, X)
    ranks = effective_ranks(J=J.reshape(-1, model.n_params))
    split = decompose(J, mode)
    top = dominant_direction(J, grad_mu=grad)
    restricted = restricted_sntk(model, X, top.delta, mode)
    return {
        "mu": mu, "relax": window * DT * mu, "pr": ranks["pr"],
        "entropy": ranks["entropy"], "rho": split.rho,
        "A_spec": split.A_spec, "A_tr": split.A_tr,
        "cos_grad": top.cos_grad_mu, "cos_nf": restricted.cos,
        "ratio": restricted.norm_ratio,
    }


def print_table(rows):
    head = ("|mu|", "T/relax", "PR", "erank", "rho", "A_spec", "A_tr",
            "cos(d,gmu)", "cos(Jd,sv)", "norm ratio")
    print(" ".join(f"{h:>10}" for h in head))
    keys = ("mu", "relax", "pr", "entropy", "rho", "A_spec", "A_tr",
            "cos_grad", "cos_nf", "ratio")
    for row in rows:
        print(" ".join(f"{row[k]:>10.4g}" for k in keys))


def _slope_guide(ax, x, y, slope, label, style):
    """A reference line of the given log-log slope through the middle point."""
    k = len(x) // 2
    ax.plot(x, y[k] * (x / x[k]) ** slope, style, color="gray", label=label)


def plot(rows, out):
    mu = np.array([r["mu"] for r in rows])
    col = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))

    ax = axes[0, 0]
    ax.loglog(mu, col["pr"], "o-", label="participation ratio")
    ax.loglog(mu, col["entropy"], "s-", label="entropy rank")
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_title("effective rank of K")

    ax = axes[0, 1]
    ax.loglog(mu, col["A_spec"], "o-", label="A_spec")
    ax.loglog(mu, col["A_tr"], "s-", label="A_tr")
    _slope_guide(ax, mu, col["A_spec"], -1.0, "slope -1", "--")
    _slope_guide(ax, mu, col["A_spec"], -2.0, "slope -2", ":")
    ax.set_title("amplification of the bifurcation channel")

    ax = axes[1, 0]
    ax.loglog(mu, 1.0 - col["rho"], "o-", label="1 - rho")
    _slope_guide(ax, mu, 1.0 - col["rho"], 1.0, "slope 1", "--")
    _slope_guide(ax, mu, 1.0 - col["rho"], 2.0, "slope 2", ":")
    ax.set_title("trace outside the bifurcation channel")

    ax = axes[1, 1]
    ax.loglog(mu, 1.0 - col["cos_grad"], "o-", label="1 - cos(delta, grad mu)")
    ax.loglog(mu, 1.0 - col["cos_nf"], "s-", label="1 - cos(J delta, s⊗v)")
    ax.set_title("alignment with the normal form")

    for ax in axes.ravel():
        ax.set_xlabel("|mu| (flow eigenvalue g - 1)")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="validation/out/channels_sweep.png")
    parser.add_argument("--mus", type=float, nargs="+", default=DEFAULT_MUS,
                        help="|mu| values (positive; g = 1 - |mu|)")
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--sequences", type=int, default=N_SEQ)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    mus = sorted((abs(m) for m in args.mus), reverse=True)
    rows = [measure(m, args.seed, args.window, args.sequences) for m in mus]
    print(f"rank-one euler network N={N_UNITS}, dt={DT}, D={N_IN}, "
          f"B={args.sequences}, T={args.window}, drive={DRIVE}, "
          f"seed={args.seed}; only W trained (P={N_UNITS ** 2})")
    print_table(rows)
    plot(rows, args.out)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()
