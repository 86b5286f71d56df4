"""``report.md``, ``report.json`` and figures, written all or nothing.

The experiment (:func:`write_experiment_report`) and the analysis of one
model (:func:`write_analysis_report`) each write into an output directory

- ``report.json``: every number, the configuration and the package version;
- ``report.md``: a human summary with the key numbers and the figures
  inline;
- PNG figures from :mod:`sntk_ref.plots`.

Everything is first written into a fresh temporary directory next to the
target, which is then renamed into place (:func:`atomic_output_dir`): an
error half-way leaves the target as it was. Imports matplotlib (through
:mod:`sntk_ref.plots`); the numerical core never imports this module.
"""

import contextlib
import json
import math
import os
import shutil
import tempfile

import numpy as np

from . import plots
from ._version import __version__
from ._summary import normal_form_summary, plain
from .experiment import loss_after_crossing

__all__ = [
    "analysis_dict",
    "atomic_output_dir",
    "write_analysis_report",
    "write_experiment_report",
]


@contextlib.contextmanager
def atomic_output_dir(out_dir):
    """Yield a temporary directory that replaces ``out_dir`` on success.

    The temporary directory is created beside ``out_dir`` (same file
    system, so the final rename is atomic). On success an existing
    ``out_dir`` is moved aside, the new one renamed into place, and the old
    one deleted; on any exception the temporary directory is removed and
    ``out_dir`` is untouched.
    """
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(f"--out {out_dir} exists and is not a directory")
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-",
                           dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if os.path.exists(out_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-",
                               dir=parent)
        os.rmdir(old)
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_json(report, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, allow_nan=False)
        fh.write("\n")


def _cell(text):
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|")


def _fmt(value, spec=".4g"):
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format(value, spec) if math.isfinite(value) else str(value)
    return str(value)


# -- the experiment ----------------------------------------------------------
def write_experiment_report(result, out_dir):
    """Write the report of :func:`sntk_ref.experiment.run_experiment`.

    Parameters
    ----------
    result : ExperimentResult or dict
        The result, or its :meth:`to_dict`.
    out_dir : str
        Replaced as a whole (see :func:`atomic_output_dir`).

    Returns
    -------
    report : dict
        What ``report.json`` holds.
    """
    report = result if isinstance(result, dict) else result.to_dict()
    return _write_report(report, out_dir, plots.experiment_figures,
                         experiment_markdown)


def _write_report(report, out_dir, figures, markdown):
    """Figures, ``report.json`` and ``report.md`` into ``out_dir``, atomically.

    ``figures(report, dir)`` draws and returns the file names (stored in
    ``report["figures"]`` before the JSON is written); ``markdown(report)``
    returns the text of ``report.md``.
    """
    with atomic_output_dir(out_dir) as tmp:
        report["figures"] = figures(report, tmp)
        _write_json(report, os.path.join(tmp, "report.json"))
        with open(os.path.join(tmp, "report.md"), "w", encoding="utf-8") as fh:
            fh.write(markdown(report))
    return report


def experiment_markdown(report):
    """The text of the experiment's ``report.md``."""
    cfg, bif = report["config"], report["bifurcation"]
    rows = report["descent"]["checkpoints"]
    crit = {c["name"]: c for c in report["criteria"]}
    k = report["crossing_checkpoint"]
    lines = [
        "# sNTK collapse at a pitchfork: student-teacher experiment",
        "",
        f"sntk_ref {report['version']}. Configuration of SPEC 8 "
        f"(N = {cfg['n_hidden']}, D = {cfg['n_in']}, O = {cfg['n_out']}, "
        f"dt = {cfg['dt']}, T = {cfg['n_steps']}, B = {cfg['n_seq']}, only W "
        f"trained, P = {cfg['n_hidden'] ** 2}); draw seed {cfg['seed']}: "
        f"{report['draw']['order']}. Teacher gain {cfg['teacher_gain']}, "
        f"student gain {cfg['student_gain']}.",
        "",
        f"**All criteria passed: {_fmt(report['passed'])}.** "
        f"Wall time {_fmt(report['timing']['total_s'], '.1f')} s "
        f"(descent {_fmt(report['timing']['descent_s'], '.1f')} s, "
        f"comparison {_fmt(report['timing']['compare_s'], '.1f')} s).",
        "",
        "## Key numbers",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| gradient-descent step size | {cfg['lr']} |",
        f"| checkpoints (steps {rows[0]['step']}..{rows[-1]['step']}) "
        f"| {len(rows)} |",
        f"| mu at initialisation | {_fmt(rows[0]['mu'])} |",
    ]
    if bif.get("found"):
        nf = bif.get("normal_form") or {}
        lines += [
            f"| first bifurcation | {bif['type']} at step "
            f"{_fmt(bif['step'], '.3f')} |",
            f"| cubic coefficient c (flow) | {_fmt(nf.get('c'))} "
            f"({nf.get('criticality')}) |",
            f"| checkpoint nearest the crossing | step {rows[k]['step']} "
            f"(mu = {_fmt(rows[k]['mu'])}) |",
            f"| PR init / crossing / end | {_fmt(rows[0]['pr'], '.3g')} / "
            f"{_fmt(rows[k]['pr'], '.3g')} / {_fmt(rows[-1]['pr'], '.3g')} |",
            f"| entropy rank init / crossing / end | "
            f"{_fmt(rows[0]['entropy_rank'], '.3g')} / "
            f"{_fmt(rows[k]['entropy_rank'], '.3g')} / "
            f"{_fmt(rows[-1]['entropy_rank'], '.3g')} |",
            f"| cos(delta, grad mu) at crossing | "
            f"{_fmt(rows[k].get('cos_delta_grad_mu'))} |",
            f"| rho, A_spec at crossing | {_fmt(rows[k].get('rho'))}, "
            f"{_fmt(rows[k].get('A_spec'))} |",
            f"| restricted kernel vs normal form, cosine | "
            f"{_fmt(rows[k].get('restricted_cos'))} |",
        ]
    comp = report["comparison"]
    gd, ng = comp["gd"], comp["ng"]
    lines += [
        f"| GD at lr = {comp['lr']}: initial loss, peak after crossing | "
        f"{_fmt(gd['loss'][0])}, "
        f"{_fmt(crit['natural_gradient'].get('gd_peak_after_crossing'))} |",
        f"| GD loss after its crossing: min, max, steps up "
        f"(erratic; its minimum is no measure) | "
        f"{_after_cells(gd)} |",
        f"| rank-1 NG at lr = {comp['lr']}: final loss, monotone | "
        f"{_fmt(ng['loss'][-1])}, "
        f"{_fmt(crit['natural_gradient'].get('ng_monotone'))} |",
        f"| NG / GD time per step | {_fmt(comp['cost_ratio'], '.2f')} |",
        "",
        "## Criteria",
        "",
        "| criterion | passed | numbers |",
        "|---|---|---|",
    ]
    for c in report["criteria"]:
        nums = ", ".join(f"{key} = {_fmt(val)}" for key, val in c.items()
                         if key not in ("name", "passed", "description"))
        lines.append(f"| {_cell(c['description'])} | {_fmt(c['passed'])} "
                     f"| {_cell(nums)} |")
    lines += ["", "## Figures", ""]
    notes = {"gd_vs_ng.png": _gd_vs_ng_note(comp)}
    for name, caption, _ in plots.EXPERIMENT_FIGURES:
        note = f" {notes[name]}" if name in notes else ""
        lines += [f"![{caption}]({name})", "", f"*{caption}.*{note}", ""]
    return "\n".join(lines)


def _after_cells(run):
    """``min, max, n_increases`` of a loss after the crossing."""
    after = loss_after_crossing(run["loss"], run["crossing_step"])
    return (f"{_fmt(after['min'], '.3g')}, {_fmt(after['max'], '.3g')}, "
            f"{after['n_increases']}")


def _loss_sentence(label, after, crossing_step):
    """How one loss curve behaves (``loss_after_crossing`` dict), in words."""
    if after["from_step"] > 0:
        where = f"after its crossing of mu = 0 (step {crossing_step})"
    elif crossing_step is not None:
        where = f"of the run, through its crossing of mu = 0 (step {crossing_step})"
    else:
        where = "of the run (mu never changed sign)"
    if after["monotone"]:
        return f"{label}'s loss decreases at every step {where}."
    return (f"{label}'s loss is erratic {where}: it fails to decrease at "
            f"{after['n_increases']} steps and jumps between "
            f"{_fmt(after['min'], '.3g')} and {_fmt(after['max'], '.3g')}, "
            "so its minimum alone is no measure of progress.")


def _gd_vs_ng_note(comp):
    """Caption sentences of gd_vs_ng.png, from the comparison's numbers.

    Gradient descent is described from its crossing on (where it becomes
    erratic); the natural gradient over the whole run, as in the
    ``natural_gradient`` criterion.
    """
    gd, ng = comp["gd"], comp["ng"]
    return " ".join((
        _loss_sentence("Gradient descent",
                       loss_after_crossing(gd["loss"], gd["crossing_step"]),
                       gd["crossing_step"]),
        _loss_sentence("The natural gradient",
                       loss_after_crossing(ng["loss"], None),
                       ng["crossing_step"]),
        "Dotted lines: each optimiser's first step past its crossing.",
    ))


# -- the analysis of one model -----------------------------------------------
def analysis_dict(model, diagnosis, *, source, inputs, x_const=None):
    """The JSON-ready report of ``sntk-ref analyze``.

    Parameters
    ----------
    model : RNN
    diagnosis : Diagnosis
    source : str
        The model file.
    inputs : str
        The input file, or a description of the default probe.
    x_const : ndarray, shape (D,), optional

    Returns
    -------
    dict
    """
    d = diagnosis
    nearest = d.nearest
    out = {
        "package": "sntk_ref", "version": __version__,
        "command": "analyze", "model_file": str(source), "inputs": inputs,
        "model": {"cell": model.cell, "dt": model.dt, "N": model.n_hidden,
                  "D": model.n_in, "O": model.n_out,
                  "trainable": list(model.trainable), "P": model.n_params},
        "constant_input": (None if x_const is None
                           else np.asarray(x_const).tolist()),
        "summary": d.summary(),
        "analysed_point": d.index,
        "fixed_points": [_point_dict(p) for p in d.fixed_points],
        "nearest_bifurcation": None if nearest is None else {
            "success": nearest.success, "message": nearest.message,
            "parameter_distance": nearest.distance,
            "normal_form": normal_form_summary(nearest.normal_form),
        },
        "kernel": {"eigenvalues": [float(x) for x in d.eigenvalues]},
    }
    return plain(out)


def _point_dict(p):
    lam = np.asarray(p.eigenvalues)
    return {"x": p.x.tolist(), "stable": bool(p.stable),
            "residual": float(p.residual), "n_unstable": int(p.n_unstable),
            "eigenvalues_re": lam.real.tolist(),
            "eigenvalues_im": lam.imag.tolist()}


def write_analysis_report(report, out_dir):
    """Write ``report.json``, ``report.md`` and figures of an analysis.

    Parameters
    ----------
    report : dict
        :func:`analysis_dict`.
    out_dir : str

    Returns
    -------
    report : dict
    """
    return _write_report(report, out_dir, plots.analysis_figures,
                         analysis_markdown)


def analysis_markdown(report):
    """The text of ``report.md`` for ``sntk-ref analyze``."""
    s, m = report["summary"], report["model"]
    nb = report["nearest_bifurcation"] or {}
    nf = nb.get("normal_form") or {}
    lines = [
        f"# Analysis of {report['model_file']}",
        "",
        f"sntk_ref {report['version']}. {m['cell']} cell, N = {m['N']}, "
        f"D = {m['D']}, O = {m['O']}, dt = {m['dt']}, trainable "
        f"{', '.join(m['trainable'])} (P = {m['P']}). Kernel inputs: "
        f"{report['inputs']}.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| fixed points (stable) under the constant input | "
        f"{s['n_fixed_points']} ({s['n_stable']}) |",
        f"| analysed point: norm, stable | {_fmt(s['point_norm'])}, "
        f"{_fmt(s['point_stable'])} |",
        f"| critical eigenvalue ({s['view']} view) | "
        f"{_fmt(s['eigenvalue_re'])} + {_fmt(s['eigenvalue_im'])} i |",
        f"| critical distance mu | {_fmt(s['mu'])} |",
        f"| near a bifurcation | {_fmt(s['near_bifurcation'])} |",
        f"| nearest bifurcation along grad mu | {nf.get('type', 'n/a')} at "
        f"parameter distance {_fmt(nb.get('parameter_distance'))} "
        f"({nb.get('message', '')}) |",
        f"| normal-form coefficients a, c | {_fmt(nf.get('a'))}, "
        f"{_fmt(nf.get('c'))} ({nf.get('criticality')}) |",
        f"| sNTK participation ratio / entropy rank / stable rank | "
        f"{_fmt(s['pr'])} / {_fmt(s['entropy_rank'])} / "
        f"{_fmt(s['stable_rank'])} |",
        f"| rho, A_tr, A_spec | {_fmt(s.get('rho'))}, {_fmt(s.get('A_tr'))}, "
        f"{_fmt(s.get('A_spec'))} |",
        f"| cos(delta, grad mu) | {_fmt(s.get('cos_delta_grad_mu'))} |",
        f"| restricted kernel vs normal form, cosine | "
        f"{_fmt(s.get('restricted_cos'))} |",
        "",
    ]
    if s["notes"]:
        lines += ["Notes:", ""] + [f"- {n}" for n in s["notes"]] + [""]
    lines += ["## Figures", ""]
    for name, caption, _ in plots.ANALYSIS_FIGURES:
        lines += [f"![{caption}]({name})", "", f"*{caption}.*", ""]
    return "\n".join(lines)
