"""Every script in examples/ runs, quickly, and shows what it promises."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: Seconds an example may take (they are meant to run in seconds).
TIMEOUT = 60


def run(script, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                          capture_output=True, text=True, env=env,
                          timeout=TIMEOUT, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_sntk_heatmap_writes_a_png(tmp_path):
    out = tmp_path / "time_kernel.png"
    text = run("sntk_heatmap.py", "--out", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "K has shape (2, 12, 6, 2, 12, 6)" in text


def test_rank_one_bifurcation_is_a_supercritical_pitchfork():
    text = run("rank_one_bifurcation.py")
    assert "bifurcation at g = 1.0000000000" in text
    assert "type: pitchfork, supercritical" in text
    assert "3 fixed points" in text


def test_pitchfork_landscape(tmp_path):
    out = tmp_path / "landscape.png"
    text = run("pitchfork_landscape.py", "--out", str(out))
    assert out.exists()
    # natural gradient reaches the teacher mu* = 0.5 within 8 steps
    last = text.strip().splitlines()[-2].split()
    assert last[0] == "8" and abs(float(last[2]) - 0.5) < 0.01


def test_torch_crosscheck_runs_or_skips_clearly(tmp_path):
    text = run("torch_crosscheck.py", "--workdir", str(tmp_path))
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "PyTorch is not installed" in text
        assert "skipping" in text
    else:
        assert "PASS" in text


@pytest.mark.parametrize("script", sorted(p.name for p in
                                          EXAMPLES.glob("*.py")))
def test_every_example_has_a_docstring(script):
    source = (EXAMPLES / script).read_text()
    assert source.startswith('"""'), script
