"""Tests of the student-teacher construction and configuration (SPEC 8).

Expected values come from SPEC 8 (initial loss 37, seed 2 starting at
mu ~ -0.59) and from the construction's definition, never from a run.
"""

import json

import numpy as np
import pytest

from sntk_ref.experiment import (ExperimentConfig, _interpolated_crossing,
                                 build_student_teacher, criteria,
                                 format_progress, loss_after_crossing)
from sntk_ref.trajectories import forward, loss


def test_config_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        ExperimentConfig.from_dict({"learning_rate": 0.1})
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"seed": 1, "bogus": 2}))
    with pytest.raises(ValueError, match="bogus"):
        ExperimentConfig.from_json(path)


def test_config_json_overrides_and_keeps_defaults(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"seed": 1, "lr": 0.003}))
    cfg = ExperimentConfig.from_json(path)
    assert (cfg.seed, cfg.lr, cfg.n_hidden) == (1, 0.003, 24)
    quick = ExperimentConfig.from_json(path, base=ExperimentConfig.quick())
    assert (quick.seed, quick.n_hidden) == (1, 12)
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad", [{"dt": 0.0}, {"n_hidden": 0}, {"lr": -1.0},
                                 {"teacher_gain": 0.9}, {"n_seq": 2.5},
                                 {"ng_eigensolver": "arnoldi"}])
def test_config_rejects_bad_values(bad):
    with pytest.raises((TypeError, ValueError)):
        ExperimentConfig.from_dict(bad)


def test_config_chooses_the_natural_gradient_eigensolver(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"ng_eigensolver": "subspace"}))
    cfg = ExperimentConfig.from_json(path)
    assert cfg.ng_eigensolver == "subspace"
    assert ExperimentConfig().ng_eigensolver == "lanczos"  # the reference
    with pytest.raises(TypeError, match="ng_eigensolver"):
        ExperimentConfig(ng_eigensolver=1)


def test_config_rejects_non_object_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("[1, 2]")
    with pytest.raises(TypeError, match="JSON object"):
        ExperimentConfig.from_json(path)


def test_construction_follows_spec8():
    cfg = ExperimentConfig()
    st = build_student_teacher(cfg)
    N = cfg.n_hidden
    m = st.m
    assert set(np.unique(m)) <= {-1.0, 1.0}
    np.testing.assert_allclose(st.teacher.W - st.student.W,
                               1.5 * np.outer(m, m) / N, atol=1e-14)
    np.testing.assert_array_equal(st.student.C, m[None] / np.sqrt(N))
    assert st.student.trainable == ("W",) and st.student.n_params == N * N
    assert st.X.shape == (cfg.n_seq, cfg.n_steps, cfg.n_in)
    assert st.h0.shape == (cfg.n_seq, N)

    # the teacher's point is a stable fixed point of -h + W tanh(h)
    h = st.h_teacher
    np.testing.assert_allclose(-h + st.teacher.W @ np.tanh(h), 0, atol=1e-10)
    A = -np.eye(N) + st.teacher.W * (1 - np.tanh(h) ** 2)
    assert np.linalg.eigvals(A).real.max() < 0 and h @ m > 0

    # targets are the teacher's outputs; SPEC 8: the student starts at L = 37
    assert loss(st.teacher, st.X, st.Y, st.h0) < 1e-28
    assert abs(loss(st.student, st.X, st.Y, st.h0) - 37.0) < 0.1
    H = forward(st.student, st.X, st.h0)
    assert np.isfinite(H).all()


def test_seed_two_starts_further_away():
    # SPEC 8: seed 2 starts at mu about -0.59 (leading eigenvalue of -I + W)
    st = build_student_teacher(ExperimentConfig(seed=2))
    mu = np.linalg.eigvals(-np.eye(24) + st.student.W).real.max()
    assert abs(mu - (-0.59)) < 0.01


def _fake_result(pr, cos, bif_type, gd_loss, ng_loss, gd_mu, ng_mu):
    """A minimal stand-in for ExperimentResult, for :func:`criteria`."""
    class Bif:
        type = bif_type

    class Result:
        config = ExperimentConfig()
        checkpoints = [{"step": i, "pr": p, "cos_delta_grad_mu": cos}
                       for i, p in enumerate(pr)]
        crossing_index = int(np.argmin(pr))
        crossing_step = float(np.argmin(pr))
        crossing = Bif()
        comparison = {
            "gd": {"loss": gd_loss, "mu": gd_mu,
                   "crossing_step": int(np.argmax(np.array(gd_mu) > 0))},
            "ng": {"loss": ng_loss, "mu": ng_mu,
                   "crossing_step": int(np.argmax(np.array(ng_mu) > 0))},
        }
    return Result()


def test_criteria_thresholds():
    good = _fake_result([20, 10, 2, 12, 21], 0.99, "pitchfork",
                        [37, 30, 490, 10], [37, 30, 20, 10],
                        [-1, 0.1, 2, 2], [-1, -0.5, 0.2, 0.4])
    assert all(c["passed"] for c in criteria(good))

    bad = _fake_result([20, 10, 6, 12, 21], 0.9, "fold",
                       [37, 30, 150, 10], [37, 30, 31, 10],
                       [-1, 0.1, 2, 2], [-1, -0.5, 0.2, 0.4])
    passed = {c["name"]: c["passed"] for c in criteria(bad)}
    assert passed == {"pr_collapse": False, "alignment": False,
                      "pitchfork": False, "natural_gradient": False}


# -- progress line and the gd-vs-ng description --------------------------------
def _info(**over):
    info = {"stage": "descent", "step": 17, "done": 18, "total": 51,
            "crossing": None, "last_step": None, "elapsed": 12.0,
            "remaining": 30.0, "loss": 1.5, "mu": -0.2, "pr": 3.0}
    info.update(over)
    return info


def test_progress_line_before_the_crossing_gives_no_total():
    line = format_progress(_info())
    assert "step 17, crossing not yet reached" in line
    assert "51" not in line and " of " not in line
    assert "left (estimate)" in line


def test_progress_line_after_the_crossing_gives_the_end():
    line = format_progress(_info(step=27, crossing=24.6, last_step=35,
                                 total=36))
    assert "step 27 of ~35 (crossing at step 24.6)" in line
    assert "left (estimate)" in line
    line = format_progress(_info(stage="compare-gd", step=20, total=20,
                                 pr=None))
    assert line.startswith("[compare-gd] step 20 of 20:")


def test_interpolated_crossing_is_linear_between_checkpoints():
    rows = [{"step": 20, "mu": -0.1}, {"step": 22, "mu": 0.3}]
    assert _interpolated_crossing(rows) == pytest.approx(20.5, abs=1e-12)


def test_loss_after_crossing_range_and_increases():
    loss = [13.0, 5.0, 0.2, 15.0, 0.3, 14.0]
    after = loss_after_crossing(loss, 1)
    assert after == {"from_step": 1, "min": 0.2, "max": 15.0,
                     "n_increases": 2, "monotone": False}
    whole = loss_after_crossing([3.0, 2.0, 1.5], None)
    assert whole["monotone"] and whole["from_step"] == 0
    with pytest.raises(ValueError, match="past the end"):
        loss_after_crossing([1.0, 0.5], 2)


def _comparison():
    gd = {"loss": [13.0, 5.0, 0.2, 15.0, 0.3, 14.0],
          "mu": [-0.5, 0.1, 0.4, -0.2, 0.3, 0.1], "crossing_step": 1}
    ng = {"loss": [13.0, 12.0, 9.0, 6.0, 4.0, 3.0],
          "mu": [-0.5, -0.2, 0.1, 0.3, 0.4, 0.5], "crossing_step": 2}
    return {"lr": 1.0, "gd": gd, "ng": ng}


def test_report_caption_says_gd_is_erratic_and_ng_monotone():
    from sntk_ref.report import _gd_vs_ng_note

    note = _gd_vs_ng_note(_comparison())
    assert "Gradient descent's loss is erratic" in note
    assert "between 0.2 and 15" in note
    assert "minimum alone is no measure" in note
    assert "natural gradient's loss decreases at every step" in note
    assert "Dotted lines" in note


def test_gd_vs_ng_legend_explains_the_dotted_lines():
    from sntk_ref.plots import gd_vs_ng_figure

    fig = gd_vs_ng_figure({"comparison": _comparison()})
    top = fig.axes[0]
    texts = [t.get_text() for t in top.get_legend().get_texts()]
    assert any("dotted" in t for t in texts)
    assert any(t.startswith("gradient descent") and "erratic" in t
               for t in texts)
    assert any("natural gradient" in t and "decreases at every step" in t
               for t in texts)
    assert "dotted" not in top.get_title()


def test_comparison_with_the_subspace_eigensolver_matches_lanczos():
    # the two refresh methods of the rank-one natural gradient are checked
    # against each other: same loss path to the subspace tolerance's effect
    import time

    from sntk_ref.experiment import _compare

    runs = {}
    for solver in ("lanczos", "subspace"):
        config = ExperimentConfig.quick(ng_eigensolver=solver,
                                        compare_steps=8)
        data = build_student_teacher(config)
        runs[solver] = _compare(config, data, None, time.perf_counter())
    assert "eigensolver='subspace'" in runs["subspace"]["ng"]["optimizer"]
    lanczos = np.array(runs["lanczos"]["ng"]["loss"])
    subspace = np.array(runs["subspace"]["ng"]["loss"])
    assert lanczos.shape == subspace.shape == (9,)
    assert np.max(np.abs(subspace - lanczos) / lanczos) < 1e-2
    assert np.array_equal(runs["lanczos"]["gd"]["loss"],
                          runs["subspace"]["gd"]["loss"])
