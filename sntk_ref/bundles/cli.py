"""The ``sntk-ref oracle`` command: export and check bundles (SPEC 9).

Command-line code, so it prints (the rest of the package never does);
:mod:`sntk_ref.cli` registers it with :func:`add_oracle_parser`.
"""

import pathlib
import sys

from .check import check_bundles
from .io import export_bundle
from .keys import FORMAT_VERSION, BundleError, CaseError


def _cli_export(args):
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


def _cli_check(args):
    """``sntk-ref oracle check REF.npz CANDIDATE.npz``."""
    try:
        report = check_bundles(args.reference, args.candidate)
    except BundleError as err:
        print(f"sntk-ref oracle check: error: {err}", file=sys.stderr)
        return 2
    print(report.table())
    return 0 if report.passed else 1


def add_oracle_parser(subparsers):
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
    export.set_defaults(func=_cli_export)

    check = actions.add_parser(
        "check", help="compare a candidate bundle with a reference bundle")
    check.add_argument("reference", help="reference bundle (.npz)")
    check.add_argument("candidate", help="candidate bundle (.npz)")
    check.set_defaults(func=_cli_check)
    return oracle
