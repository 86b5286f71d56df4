"""The ``sntk-ref`` command line (argparse).

Sub-commands are added by the modules they drive; this module only parses,
sets up logging, and prints.

- ``sntk-ref demo``: a small RNN and a gradient check;
- ``sntk-ref reproduce [--config FILE] [--out DIR] [--quick]``: the
  student-teacher experiment of SPEC 8 (:mod:`sntk_ref.experiment`), with
  ``report.md``, ``report.json`` and figures in ``DIR``;
- ``sntk-ref analyze MODEL.npz [--inputs X.npz] [--out DIR]``: fixed points,
  nearest bifurcation, sNTK spectrum and channels of a saved model
  (:mod:`sntk_ref.analysis`; file keys in its docstring).

Output directories are replaced all or nothing. Progress goes to stderr.
On a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` can make the
runs several times faster (idle BLAS threads spin while waiting for a core).
"""

import argparse
import logging
import os
import pathlib
import sys

import numpy as np

from ._version import __version__
from .bundles import (FORMAT_VERSION, BundleError, CaseError, check_bundles,
                      export_bundle)

__all__ = ["main"]

#: Seed of the built-in demo.
DEMO_SEED = 0

#: Default output directory of ``reproduce`` and ``analyze``.
DEFAULT_OUT = "results"

#: Exit status when a criterion of ``reproduce`` fails, and on bad input.
EXIT_CRITERIA, EXIT_INPUT = 1, 2


def _demo(args):
    """Build a small RNN, run it, and check its gradient three ways."""
    from .derivatives import loss_and_grad, state_jacobian
    from .model import RNN
    from .testing import check_grad
    from .trajectories import forward, loss

    rng = np.random.default_rng(args.seed)
    model = RNN.random(6, 3, 2, cell=args.cell, dt=0.5, rng=rng)
    X = rng.standard_normal((2, 8, 3))
    Y = rng.standard_normal((2, 8, 2))
    H = forward(model, X)
    L, g = loss_and_grad(model, X, Y)
    J = state_jacobian(model, X)
    res = check_grad(lambda th: loss(model.with_theta(th), X, Y), model.theta, g)
    print(f"model: {model}")
    print(f"states H: shape {H.shape}, |H|_max = {np.abs(H).max():.4f}")
    print(f"loss L = {L:.10f}, |grad|_2 = {np.linalg.norm(g):.6e}")
    print(f"state Jacobian J: shape {J.shape}")
    print(f"BPTT gradient vs central differences: worst ratio "
          f"{res.max_error:.2e} of tolerance -> {'PASS' if res else 'FAIL'}")
    return 0 if res else 1


def _out_dir_problem(out):
    """Why ``out`` cannot become an output directory, or None if it can.

    Checked before any work is done, so that a long run is not lost to a
    path that was never usable.
    """
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        return f"--out {out} exists and is not a directory"
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"--out {out}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {out}: cannot write in {parent}"
    return None


def _print_progress(info):
    """One progress line on stderr (see :func:`experiment.format_progress`)."""
    from .experiment import format_progress

    print(format_progress(info), file=sys.stderr, flush=True)


def _reproduce(args):
    """Run the student-teacher experiment and write its report."""
    from .experiment import ExperimentConfig, run_experiment
    from .report import write_experiment_report

    problem = _out_dir_problem(args.out)
    if problem is not None:
        print(f"sntk-ref reproduce: {problem}", file=sys.stderr)
        return EXIT_INPUT
    base = ExperimentConfig.quick() if args.quick else ExperimentConfig()
    try:
        config = (base if args.config is None
                  else ExperimentConfig.from_json(args.config, base=base))
    except (OSError, TypeError, ValueError) as err:
        print(f"sntk-ref reproduce: bad --config: {err}", file=sys.stderr)
        return EXIT_INPUT
    print(f"sntk-ref reproduce: {'quick' if args.quick else 'default'} "
          f"configuration, seed {config.seed}, writing to {args.out}",
          file=sys.stderr)

    result = run_experiment(config, progress=_print_progress)
    report = write_experiment_report(result, args.out)
    for c in report["criteria"]:
        print(f"{'PASS' if c['passed'] else 'FAIL'}  {c['description']}")
    print(f"report: {args.out}/report.md ({report['timing']['total_s']:.1f} s)")
    return 0 if report["passed"] else EXIT_CRITERIA


def _analyze(args):
    """Analyse a saved model and write its report."""
    from .analysis import (ModelFileError, default_probe, diagnose,
                           load_inputs, load_model)
    from .report import analysis_dict, write_analysis_report

    problem = _out_dir_problem(args.out)
    if problem is not None:
        print(f"sntk-ref analyze: {problem}", file=sys.stderr)
        return EXIT_INPUT
    try:
        model = load_model(args.model)
        if args.inputs is None:
            X, h0, x_const = default_probe(model), None, None
            inputs = ("default probe: B = 4 sequences of T = 50 steps, inputs "
                      "0.1 Normal(0, 1) from default_rng(0), h0 of the model")
        else:
            X, h0, x_const = load_inputs(args.inputs, model)
            inputs = str(args.inputs)
    except ModelFileError as err:
        print(f"sntk-ref analyze: {err}", file=sys.stderr)
        return EXIT_INPUT

    diagnosis = diagnose(model, X, h0=h0, x_const=x_const)
    report = analysis_dict(model, diagnosis, source=args.model, inputs=inputs,
                           x_const=x_const)
    write_analysis_report(report, args.out)
    s = report["summary"]
    print(f"{s['n_fixed_points']} fixed points; critical eigenvalue "
          f"{s['eigenvalue_re']:+.6g}{s['eigenvalue_im']:+.3g}i "
          f"(mu = {s['mu']:+.4g}); PR {s['pr']:.4g}, entropy rank "
          f"{s['entropy_rank']:.4g}")
    print(f"report: {args.out}/report.md")
    return 0


# -- sntk-ref oracle (SPEC 9) ------------------------------------------------
def _oracle_export(args):
    """``sntk-ref oracle export CASE.json --out REF.npz``."""
    try:
        manifest = export_bundle(args.case, args.out)
    except (CaseError, BundleError) as err:
        print(f"sntk-ref oracle export: error: {err}", file=sys.stderr)
        return 2
    keys = [k for k, e in manifest["entries"].items() if e["role"] == "result"]
    size = pathlib.Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size} bytes, format {FORMAT_VERSION}): "
          f"results {', '.join(keys)}")
    return 0


def _oracle_check(args):
    """``sntk-ref oracle check REF.npz CANDIDATE.npz``."""
    try:
        report = check_bundles(args.reference, args.candidate)
    except BundleError as err:
        print(f"sntk-ref oracle check: error: {err}", file=sys.stderr)
        return 2
    print(report.table())
    return 0 if report.passed else 1


def _add_oracle_parser(subparsers):
    """Register ``oracle export`` and ``oracle check`` (argparse).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``parser.add_subparsers()``.

    Returns
    -------
    parser : argparse.ArgumentParser
        The ``oracle`` sub-parser. Each action sets ``func``, which takes the
        parsed arguments and returns the exit status: 0 success (all keys
        pass), 1 a check failed, 2 an invalid case or unreadable bundle.
    """
    oracle = subparsers.add_parser(
        "oracle", help="reference bundles for other backends (SPEC 9)",
        description="Export reference bundles and check candidate bundles "
                    "written by other backends against them.")
    actions = oracle.add_subparsers(dest="oracle_action", metavar="ACTION")
    oracle.set_defaults(func=lambda args: (oracle.print_help(), 2)[1])

    export = actions.add_parser(
        "export", help="compute a case and write its reference bundle")
    export.add_argument("case", help="case file (JSON)")
    export.add_argument("--out", required=True, help="bundle to write (.npz)")
    export.set_defaults(func=_oracle_export)

    check = actions.add_parser(
        "check", help="compare a candidate bundle with a reference bundle")
    check.add_argument("reference", help="reference bundle (.npz)")
    check.add_argument("candidate", help="candidate bundle (.npz)")
    check.set_defaults(func=_oracle_check)
    return oracle


def build_parser():
    """The argument parser of ``sntk-ref``."""
    parser = argparse.ArgumentParser(
        prog="sntk-ref",
        description="Reference implementation of the state-space NTK of RNNs.",
    )
    parser.add_argument("--version", action="version",
                        version=f"sntk-ref {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="build a small RNN and check its gradient")
    demo.add_argument("--cell", choices=("elman", "euler"), default="euler")
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.set_defaults(func=_demo)

    rep = sub.add_parser(
        "reproduce", help="run the student-teacher experiment (SPEC 8)",
        description="Train a student RNN across a pitchfork and write "
                    "report.md, report.json and figures.")
    rep.add_argument("--config", metavar="FILE",
                     help="JSON object overriding ExperimentConfig fields "
                          "(unknown keys are refused)")
    rep.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                     help=f"output directory (default {DEFAULT_OUT}/)")
    rep.add_argument("--quick", action="store_true",
                     help="the small CI configuration (under a minute)")
    rep.set_defaults(func=_reproduce)

    ana = sub.add_parser(
        "analyze", help="analyse a saved RNN (.npz)",
        description="Fixed points, nearest bifurcation, sNTK spectrum and "
                    "channel split of an RNN stored as .npz (keys cell, dt, "
                    "W, U, b, C, d, optional h0, trainable).")
    ana.add_argument("model", metavar="MODEL.npz")
    ana.add_argument("--inputs", metavar="X.npz",
                     help="inputs: X (B, T, D), optional h0, x_const "
                          "(default: a documented random probe)")
    ana.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                     help=f"output directory (default {DEFAULT_OUT}/)")
    ana.set_defaults(func=_analyze)

    _add_oracle_parser(sub)
    return parser


def main(argv=None):
    """Entry point of ``sntk-ref``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(message)s", stream=sys.stderr,
    )
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return args.func(args)
