"""Tests of the ``sntk-ref`` command line: reproduce --quick and analyze.

``reproduce --quick`` runs once per session in a subprocess (with one BLAS
thread, so it stays fast on a loaded machine); the criteria are recomputed
from the recorded checkpoints rather than trusted.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sntk_ref.cli import main
from sntk_ref.model import RNN

FIGURES = {"loss.png", "effective_rank.png", "mu.png", "alignment.png",
           "restricted_kernel.png", "gd_vs_ng.png"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick") / "results"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "sntk_ref", "reproduce", "--quick", "--out",
         str(out)], capture_output=True, text=True, env=env, timeout=300)
    return proc, out


def test_reproduce_quick_writes_a_complete_report(quick_run):
    proc, out = quick_run
    # exit 0: the quick configuration passes all its criteria
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step" in proc.stderr and "left" in proc.stderr  # progress
    files = set(os.listdir(out))
    assert {"report.md", "report.json"} | FIGURES <= files
    report = json.loads((out / "report.json").read_text())
    for key in ("version", "config", "draw", "descent", "bifurcation",
                "comparison", "criteria", "timing", "passed"):
        assert key in report
    assert report["config"]["n_hidden"] == 12
    md = (out / "report.md").read_text()
    for name in FIGURES:
        assert f"({name})" in md


def test_reproduce_progress_total_never_changes(quick_run):
    # before the crossing no total is claimed; after it, one fixed end
    proc, _ = quick_run
    lines = [ln for ln in proc.stderr.splitlines()
             if ln.startswith("[descent]")]
    before = [ln for ln in lines if "crossing not yet reached" in ln]
    after = lines[len(before):]
    assert before and after
    assert all("crossing not yet reached" not in ln for ln in after)
    ends = {ln.split(" of ~")[1].split()[0] for ln in after}
    assert len(ends) == 1, ends
    assert all("left (estimate)" in ln for ln in lines)


def test_reproduce_quick_shows_collapse_and_alignment(quick_run):
    _, out = quick_run
    report = json.loads((out / "report.json").read_text())
    rows = report["descent"]["checkpoints"]
    bif = report["bifurcation"]
    assert bif["found"] and bif["type"] == "pitchfork"

    # the crossing lies between the checkpoints where mu changes sign
    mu = np.array([r["mu"] for r in rows])
    k0, k1 = bif["between_checkpoints"]
    assert mu[k0] < 0 < mu[k1]
    steps = np.array([r["step"] for r in rows], float)
    k = int(np.argmin(np.abs(steps - bif["step"])))
    assert k == report["crossing_checkpoint"]

    pr = [r["pr"] for r in rows]
    assert pr[k] <= 0.25 * pr[0] and pr[k] <= 0.25 * pr[-1]
    assert rows[k]["cos_delta_grad_mu"] >= 0.95
    named = {c["name"]: c for c in report["criteria"]}
    assert named["pr_collapse"]["passed"] and named["alignment"]["passed"]


def test_reproduce_rejects_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"seed": 0, "nonsense": 1}))
    out = tmp_path / "out"
    assert main(["reproduce", "--quick", "--config", str(cfg), "--out",
                 str(out)]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert not out.exists()


def _rank_one_file(path, g=1.02, **changes):
    N, D = 4, 2
    m = np.array([1.0, 1.0, -1.0, 1.0])
    arrays = {"cell": np.array("euler"), "dt": np.array(0.5),
              "W": g * np.outer(m, m) / N,
              "U": np.random.default_rng(0).normal(size=(N, D)),
              "b": np.zeros(N), "C": m[None] / 2, "d": np.zeros(1)}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return N


def test_analyze_reports_the_pitchfork(tmp_path, capsys):
    model = tmp_path / "m.npz"
    N = _rank_one_file(model)
    out = tmp_path / "out"
    assert main(["analyze", str(model), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    s = report["summary"]
    # SPEC 4.6: origin eigenvalue g - 1; pitchfork with c = -1 / (3 N) at g = 1
    assert abs(s["mu"] - 0.02) < 1e-12 and s["near_bifurcation"]
    nf = report["nearest_bifurcation"]["normal_form"]
    assert nf["type"] == "pitchfork"
    assert abs(nf["c"] + 1.0 / (3 * N)) < 1e-6
    assert s["pr"] >= 1.0
    assert {"report.md", "spectrum.png", "eigenvalues.png",
            "channels.png"} <= set(os.listdir(out))


def test_analyze_with_inputs_file(tmp_path):
    model = tmp_path / "m.npz"
    _rank_one_file(model, g=0.7)
    inputs = tmp_path / "x.npz"
    np.savez(inputs, X=0.2 * np.ones((2, 6, 2)), x_const=np.zeros(2))
    out = tmp_path / "out"
    assert main(["analyze", str(model), "--inputs", str(inputs), "--out",
                 str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert abs(report["summary"]["mu"] - (0.7 - 1.0)) < 1e-12


@pytest.mark.parametrize("change, key", [
    ({"W": None}, "W"),
    ({"U": np.full((4, 2), np.inf)}, "U"),
    ({"b": np.zeros(5)}, "b"),
])
def test_analyze_bad_file_names_key_and_writes_nothing(tmp_path, capsys,
                                                       change, key):
    model = tmp_path / "m.npz"
    _rank_one_file(model, **change)
    out = tmp_path / "out"
    assert main(["analyze", str(model), "--out", str(out)]) == 2
    assert key in capsys.readouterr().err
    assert not out.exists()
    assert os.listdir(tmp_path) == ["m.npz"]


def test_failed_write_leaves_previous_output(tmp_path, monkeypatch):
    from sntk_ref import report as report_mod

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")

    def boom(report, out_dir):
        open(os.path.join(out_dir, "partial.png"), "w").close()
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report_mod.plots, "analysis_figures", boom)
    with pytest.raises(RuntimeError):
        report_mod.write_analysis_report({"summary": {}}, out)
    assert os.listdir(out) == ["keep.txt"]
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("command", ["reproduce", "analyze"])
def test_out_is_an_existing_file_exits_2_without_traceback(tmp_path, capsys,
                                                           command):
    model = tmp_path / "m.npz"
    _rank_one_file(model)
    target = tmp_path / "afile"
    target.write_text("keep me")
    argv = (["reproduce", "--quick"] if command == "reproduce"
            else ["analyze", str(model)])
    for out in (target, target / "sub"):
        assert main(argv + ["--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "is not a directory" in err and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_analyze_text_file_says_not_a_zip(tmp_path, capsys):
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("this is not an archive\n")
    assert main(["analyze", str(garbage), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a valid .npz (zip) file" in err
    assert "pickle" not in err


def test_analyze_single_npy_array_is_named(tmp_path, capsys):
    single = tmp_path / "single.npz"
    with open(single, "wb") as fh:
        np.save(fh, np.zeros(3))
    assert main(["analyze", str(single), "--out", str(tmp_path / "o")]) == 2
    assert "single .npy array" in capsys.readouterr().err
