"""Tests of the student-teacher construction and configuration (SPEC 8).

Expected values come from SPEC 8 (initial loss 37, seed 2 starting at
mu ~ -0.59) and from the construction's definition, never from a run.
"""

import json

import numpy as np
import pytest

from sntk_ref.experiment import (ExperimentConfig, build_student_teacher,
                                 criteria)
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
                                 {"teacher_gain": 0.9}, {"n_seq": 2.5}])
def test_config_rejects_bad_values(bad):
    with pytest.raises((TypeError, ValueError)):
        ExperimentConfig.from_dict(bad)


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
