"""Regenerate the reference bundles of validation/bundles/ (SPEC 9).

Every ``*.json`` case file in ``validation/bundles/`` is exported with
``sntk_ref.bundles.export_bundle`` to a bundle of the same name (``.npz``)
in the output directory (default: next to the case files).

    python validation/make_bundles.py                 # rewrite the bundles
    python validation/make_bundles.py --out-dir DIR   # write elsewhere
    python validation/make_bundles.py --verify        # regenerate into a
                                                      # temporary directory
                                                      # and compare

``--verify`` reports, per bundle, whether the regenerated arrays have the
same bits as the checked-in ones (same SHA-256 in the manifests). On another
platform (BLAS, CPU, numpy version) the bits may differ; the bundle is then
checked within its tolerances and the difference is reported as such.
"""

import argparse
import pathlib
import sys
import tempfile

from sntk_ref.bundles import check_bundles, export_bundle, load_bundle

#: Directory of the checked-in case files and bundles.
BUNDLE_DIR = pathlib.Path(__file__).resolve().parent / "bundles"


def make_bundles(case_dir=BUNDLE_DIR, out_dir=None):
    """Export every case file of ``case_dir``; return the bundle paths."""
    case_dir = pathlib.Path(case_dir)
    out_dir = case_dir if out_dir is None else pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in sorted(case_dir.glob("*.json")):
        out = out_dir / (case.stem + ".npz")
        export_bundle(case, out)
        paths.append(out)
    return paths


def compare_bits(checked_in, regenerated):
    """Compare two bundles of one case.

    Returns
    -------
    differing : list of str
        Keys whose SHA-256 differ (empty: the same bits).
    report : CheckReport or None
        The within-tolerance check, run only when some bits differ.
    """
    old = load_bundle(checked_in).manifest["entries"]
    new = load_bundle(regenerated).manifest["entries"]
    differing = sorted(key for key in old.keys() | new.keys()
                       if old.get(key, {}).get("sha256")
                       != new.get(key, {}).get("sha256"))
    if not differing:
        return differing, None
    return differing, check_bundles(checked_in, regenerated)


def verify(case_dir=BUNDLE_DIR):
    """Regenerate into a temporary directory and compare; exit status."""
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in make_bundles(case_dir, tmp):
            differing, report = compare_bits(case_dir / path.name, path)
            if not differing:
                print(f"{path.name}: identical bits")
            elif report.passed:
                print(f"{path.name}: bits differ in {differing} (another "
                      "platform or library version?) but every key is "
                      "within tolerance")
            else:
                print(f"{path.name}: differs beyond tolerance\n"
                      f"{report.table()}")
                status = 1
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=pathlib.Path, default=None)
    parser.add_argument("--verify", action="store_true",
                        help="regenerate into a temporary directory and "
                             "compare with the checked-in bundles")
    args = parser.parse_args(argv)
    if args.verify:
        return verify()
    for path in make_bundles(BUNDLE_DIR, args.out_dir):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
