"""Figures of the experiment and analysis reports (matplotlib, Agg canvas).

Every function takes the JSON-ready dict of a report (``report.json``: see
:meth:`sntk_ref.experiment.ExperimentResult.to_dict` and
:func:`sntk_ref.report.analysis_dict`), draws one figure with labelled axes,
units and a legend, writes it as a PNG into a directory and returns the file
name. Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas,
so no global pyplot state or interactive backend is touched. Only
:mod:`sntk_ref.report` and :mod:`sntk_ref.cli` import this module; the
numerical core never does.

Units: training steps are counts; the loss of SPEC 1.3 and the kernel are
in squared state / output units (the model's own units, dimensionless
here); ``mu`` is the real part of the critical eigenvalue of the flow
``dh/ds = f(h)``, per unit of the flow's time ``s`` (the ``euler`` map's
multiplier is ``1 + dt mu``), or ``|lambda| - 1`` per step for a map.
"""

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .experiment import loss_after_crossing

__all__ = [
    "EXPERIMENT_FIGURES",
    "ANALYSIS_FIGURES",
    "experiment_figures",
    "analysis_figures",
    "gd_vs_ng_figure",
]

#: Size of every figure, inches, and its resolution.
FIGSIZE = (6.4, 4.0)
DPI = 110

#: Colours of the two optimisers and of the bifurcation marker.
GD_COLOUR, NG_COLOUR, BIF_COLOUR = "tab:red", "tab:blue", "0.35"


def _new(nrows=1):
    fig = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] * (1 + 0.6 * (nrows - 1))),
                 dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _save(fig, out_dir, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name))
    return name


def _column(rows, key):
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows],
                    dtype=float)


def _mark_bifurcation(ax, report):
    bif = report.get("bifurcation") or {}
    if bif.get("found") and bif.get("step") is not None:
        ax.axvline(bif["step"], color=BIF_COLOUR, ls="--", lw=1,
                   label=f"{bif['type']} at step {bif['step']:.2f}")


def _checkpoint_curves(ax, report, curves):
    """One line per ``(column, format, label)`` of the checkpoints vs step."""
    rows = report["descent"]["checkpoints"]
    steps = _column(rows, "step")
    for key, fmt, label in curves:
        ax.plot(steps, _column(rows, key), fmt, ms=3, label=label)


def _label_training(ax, report, ylabel, title, **legend):
    """Bifurcation marker, axis labels, title and legend of a training curve."""
    _mark_bifurcation(ax, report)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(**legend)


# -- the experiment ----------------------------------------------------------
def _loss(report, out_dir):
    fig, (ax,) = _new()
    _checkpoint_curves(ax, report, [
        ("loss", "k.-", f"gradient descent, lr = {report['descent']['lr']:g}")])
    ax.set_yscale("log")
    _label_training(ax, report, "loss L (SPEC 1.3, output units$^2$)",
                    "Student loss through the bifurcation")
    return _save(fig, out_dir, "loss.png")


def _effective_rank(report, out_dir):
    fig, (ax,) = _new()
    _checkpoint_curves(ax, report, [
        ("pr", "o-", "participation ratio $(\\sum l)^2 / \\sum l^2$"),
        ("entropy_rank", "s-", "entropy rank $\\exp(-\\sum p \\log p)$")])
    ax.set_yscale("log")
    _label_training(ax, report, "effective rank of K (number of modes)",
                    "sNTK effective rank collapses at the crossing")
    return _save(fig, out_dir, "effective_rank.png")


def _mu(report, out_dir):
    fig, (ax,) = _new()
    _checkpoint_curves(ax, report, [
        ("mu", "k.-", "$\\mu$ = Re $\\lambda_{crit}$ at the tracked fixed point")])
    ax.axhline(0.0, color="0.7", lw=1)
    _label_training(ax, report, "$\\mu$ (1 / flow time unit)",
                    "Critical eigenvalue of the student under zero input")
    return _save(fig, out_dir, "mu.png")


def _alignment(report, out_dir):
    fig, (ax,) = _new()
    _checkpoint_curves(ax, report, [
        ("cos_delta_grad_mu", "o-",
         "|cos(dominant direction $\\delta$, $\\nabla\\mu$)|"),
        ("restricted_cos", "s-",
         "|cos($J\\delta$, $s \\otimes v$)| (normal form)"),
        ("rho", "^-", "$\\rho$ = tr $K_{bif}$ / tr $K$")])
    ax.set_ylim(0.0, 1.05)
    _label_training(ax, report, "cosine / trace fraction (dimensionless)",
                    "Alignment with the bifurcation channel", loc="best",
                    fontsize="small")
    return _save(fig, out_dir, "alignment.png")


def _restricted(report, out_dir):
    prof = report.get("restricted_profile")
    k = report.get("crossing_checkpoint")
    fig, (top, bottom) = _new(2)
    if prof is None:
        top.text(0.5, 0.5, "no crossing located", ha="center")
        return _save(fig, out_dir, "restricted_kernel.png")
    step = report["descent"]["checkpoints"][k]["step"]
    for b, (obs, pred) in enumerate(zip(prof["observed"], prof["predicted"])):
        t = np.arange(1, len(obs) + 1)
        line, = top.plot(t, obs, lw=1.5, label=f"sequence {b}: $w^T J_t\\delta$")
        top.plot(t, pred, "--", color=line.get_color(), lw=1,
                 label=f"sequence {b}: $(\\nabla\\mu\\cdot\\delta)\\, s_t$")
        bottom.semilogy(t, prof["observed_diag"][b], color=line.get_color(),
                        lw=1.5)
        bottom.semilogy(t, prof["predicted_diag"][b], "--",
                        color=line.get_color(), lw=1)
    top.set_ylabel("critical coordinate (state units)")
    top.set_title(f"Restricted kernel at step {step}: cos = {prof['cos']:.4f}")
    top.legend(fontsize="x-small", ncol=2)
    bottom.set_xlabel("time step t")
    bottom.set_ylabel("$K_\\delta(t, t)$ (state units$^2$)")
    bottom.legend(["observed $|J_t\\delta|^2$", "normal form"],
                  fontsize="small")
    return _save(fig, out_dir, "restricted_kernel.png")


def _gd_vs_ng_label(name, run):
    """Legend entry of one optimiser and how its loss behaves.

    Gradient descent from its crossing on, the natural gradient over the
    whole run (as in the report's caption and criterion).
    """
    if name == "gd":
        after = loss_after_crossing(run["loss"], run.get("crossing_step"))
        label = "gradient descent"
    else:
        after = loss_after_crossing(run["loss"], None)
        label = "rank-1 natural gradient"
    if after["monotone"]:
        return f"{label}: loss decreases at every step"
    where = "after its crossing" if after["from_step"] > 0 else "over the run"
    return (f"{label}: loss erratic {where} "
            f"({after['min']:.3g} to {after['max']:.3g})")


def gd_vs_ng_figure(report):
    """The figure ``gd_vs_ng.png``: loss and ``mu`` of both optimisers.

    The legend names what the dotted lines are (each optimiser's first step
    past its crossing) and how each loss behaves after it, so that an
    erratic gradient-descent curve is not read by its minimum alone.

    Parameters
    ----------
    report : dict
        ``ExperimentResult.to_dict()`` (only ``"comparison"`` is read).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    comp = report["comparison"]
    fig, (top, bottom) = _new(2)
    for name, colour in (("gd", GD_COLOUR), ("ng", NG_COLOUR)):
        run = comp[name]
        label = _gd_vs_ng_label(name, run)
        top.semilogy(np.arange(len(run["loss"])), run["loss"], ".-",
                     color=colour, label=label)
        bottom.plot(np.arange(len(run["mu"])), run["mu"], ".-", color=colour,
                    label=label)
        if run.get("crossing_step") is not None:
            for ax in (top, bottom):
                ax.axvline(run["crossing_step"], color=colour, ls=":", lw=1)

    # a legend entry for the dotted lines, in neutral grey
    top.plot([], [], color=BIF_COLOUR, ls=":", lw=1,
             label="dotted: first step past each one's crossing of mu = 0")
    bottom.axhline(0.0, color="0.7", lw=1)
    top.set_ylabel("loss L (output units$^2$)")
    top.set_title(f"Same step size lr = {comp['lr']:g}")
    top.legend(fontsize="small")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("$\\mu$ (1 / flow time unit)")
    return fig


def _gd_vs_ng(report, out_dir):
    return _save(gd_vs_ng_figure(report), out_dir, "gd_vs_ng.png")


#: Experiment figures, in report order: (file name, caption, drawer).
EXPERIMENT_FIGURES = (
    ("loss.png", "Loss with the located bifurcation marked", _loss),
    ("effective_rank.png", "Effective rank of the sNTK over training",
     _effective_rank),
    ("mu.png", "Critical eigenvalue mu over training", _mu),
    ("alignment.png", "Alignment cosines and the bifurcation channel's share",
     _alignment),
    ("restricted_kernel.png",
     "Restricted kernel against the pitchfork normal-form prediction",
     _restricted),
    ("gd_vs_ng.png", "Gradient descent vs rank-1 natural gradient, same step",
     _gd_vs_ng),
)


def experiment_figures(report, out_dir):
    """Draw every experiment figure into ``out_dir``; return the file names.

    Parameters
    ----------
    report : dict
        ``ExperimentResult.to_dict()``.
    out_dir : str
    """
    return [draw(report, out_dir) for _, _, draw in EXPERIMENT_FIGURES]


# -- analysis of one model ---------------------------------------------------
def _spectrum(report, out_dir):
    lam = np.asarray(report["kernel"]["eigenvalues"], dtype=float)
    fig, (ax,) = _new()
    ax.semilogy(np.arange(1, lam.size + 1), np.clip(lam, 1e-300, None), "k.-",
                label=f"PR = {report['summary']['pr']:.3g}, entropy rank = "
                      f"{report['summary']['entropy_rank']:.3g}")
    ax.set_xlabel("index k (descending)")
    ax.set_ylabel("eigenvalue $l_k$ of K (state units$^2$)")
    ax.set_title("sNTK spectrum on the probe inputs")
    ax.legend()
    return _save(fig, out_dir, "spectrum.png")


def _eigenvalues(report, out_dir):
    fp = report["fixed_points"]
    fig, (ax,) = _new()
    view = report["summary"]["view"]
    if view == "map":
        phi = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(phi), np.sin(phi), color="0.7", lw=1,
                label="unit circle (critical set)")
    else:
        ax.axvline(0.0, color="0.7", lw=1, label="imaginary axis (critical set)")
    for i, p in enumerate(fp):
        lam = np.array(p["eigenvalues_re"]) + 1j * np.array(p["eigenvalues_im"])
        marker = "o" if i == report["analysed_point"] else "x"
        ax.plot(lam.real, lam.imag, marker, ms=4, fillstyle="none",
                label=f"fixed point {i} ({'stable' if p['stable'] else 'unstable'})")
    ax.set_xlabel("Re $\\lambda$" + (" (1 / flow time)" if view == "flow" else ""))
    ax.set_ylabel("Im $\\lambda$")
    ax.set_title(f"Jacobian eigenvalues at the fixed points ({view} view)")
    ax.legend(fontsize="small")
    return _save(fig, out_dir, "eigenvalues.png")


def _channels(report, out_dir):
    s = report["summary"]
    fig, (ax,) = _new()
    names = ["rho", "A_tr", "A_spec", "cos_delta_grad_mu", "restricted_cos"]
    values = [np.nan if s.get(n) is None else s[n] for n in names]
    ax.bar(names, values, color="tab:gray")
    ax.set_yscale("log")
    ax.set_ylabel("ratio / cosine (dimensionless)")
    ax.set_title("Channel split and alignments at the analysed fixed point")
    for i, v in enumerate(values):
        if np.isfinite(v):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize="small")
    return _save(fig, out_dir, "channels.png")


#: Analysis figures: (file name, caption, drawer).
ANALYSIS_FIGURES = (
    ("spectrum.png", "sNTK spectrum", _spectrum),
    ("eigenvalues.png", "Eigenvalues at the fixed points", _eigenvalues),
    ("channels.png", "Channel split and alignment", _channels),
)


def analysis_figures(report, out_dir):
    """Draw every analysis figure into ``out_dir``; return the file names."""
    return [draw(report, out_dir) for _, _, draw in ANALYSIS_FIGURES]
