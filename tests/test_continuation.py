"""Pseudo-arclength continuation and detection (SPEC 4.5).

Oracles: branches and special points known in closed form (fold
``x = +-sqrt(p)``, the logistic map, a planted Neimark-Sacker map, a neutral
saddle), and rank-one RNN checkpoints whose crossing is at ``g = 1``.
"""

import autograd.numpy as anp
import numpy as np
import pytest

from sntk_ref.dynamics.continuation import (continue_branch, switch_branch,
                                            training_bifurcations)
from sntk_ref.dynamics.system import System
from sntk_ref.model import RNN


def fold(x, p):
    return anp.array([p - x[0] ** 2, -x[1] + x[0]])


def test_fold_is_located_and_passed():
    system = System(fold, 2, "flow")
    br = continue_branch(system, np.array([1.0, 1.0]), 1.0, (-1.0, 2.0),
                         direction=-1, ds=0.05)
    assert br.success, br.message
    assert np.allclose(br.x[:, 0] ** 2, br.p, atol=1e-10)       # on the branch
    assert np.allclose(br.x[:, 1], br.x[:, 0], atol=1e-10)
    # eigenvalues -2 x and -1: a neutral saddle where -2 x = 1 (x = -1/2)
    sp, ns = br.special_points
    assert ns.type == "neutral_saddle" and ns.p == pytest.approx(0.25)
    assert ns.x[0] == pytest.approx(-0.5)
    assert sp.type == "fold" and abs(sp.p) <= 1e-8 and abs(sp.x[0]) <= 1e-6
    assert set(sp.tests) == {"eigenvalue", "limit_point"}
    # q = (1, 1)/sqrt 2, p = (sqrt 2, 0): a = p.B(q, q)/2 = -1/sqrt 2
    assert sp.normal_form.a * np.sign(sp.normal_form.q[0]) == pytest.approx(
        -1 / np.sqrt(2))
    # the branch turned: it ends on the x < 0 side at p = 2
    assert br.p[-1] == pytest.approx(2.0) and br.x[-1, 0] < 0
    assert np.all(br.stable == (br.x[:, 0] > 0))


def logistic(x, r):
    return r * x * (1 - x)


def test_logistic_map_transcritical_and_flip():
    system = System(logistic, 1, "map")
    br = continue_branch(system, np.array([0.0]), 0.5, (0.5, 3.2), ds=0.05)
    (tc,) = br.special_points
    assert tc.type == "transcritical" and tc.p == pytest.approx(1.0, abs=1e-10)
    nontrivial = max(switch_branch(system, tc, (0.5, 3.2), ds=0.05),
                     key=lambda b: b.p[0])
    assert np.allclose(nontrivial.x[:, 0], 1 - 1 / nontrivial.p, atol=1e-10)
    flips = [sp for sp in nontrivial.special_points if sp.type == "flip"]
    assert len(flips) == 1
    assert flips[0].p == pytest.approx(3.0, abs=1e-10)
    # r x (1 - x) at r = 3: supercritical period doubling
    assert flips[0].normal_form.criticality == "supercritical"
    pred = flips[0].normal_form.predict(0.01)
    # period-two orbit of the logistic map: roots of r^2 x^2 - r(r+1) x + r + 1
    r = 3.01
    exact = np.sort(np.roots([r * r, -r * (r + 1), r + 1]).real)
    assert np.allclose(np.sort(pred.points[:, 0]), exact, atol=0.01)


def ns_map(x, p):
    c, s = np.cos(1.0), np.sin(1.0)
    r2 = x[0] ** 2 + x[1] ** 2
    return anp.array([(1 + p) * (c * x[0] - s * x[1]) - x[0] * r2,
                      (1 + p) * (s * x[0] + c * x[1]) - x[1] * r2])


def test_neimark_sacker_detected():
    br = continue_branch(System(ns_map, 2, "map"), np.zeros(2), -0.3,
                         (-0.3, 0.2), ds=0.05)
    (sp,) = br.special_points
    assert sp.type == "neimark_sacker" and abs(sp.p) <= 1e-10
    assert sp.normal_form.omega == pytest.approx(1.0)
    assert sp.normal_form.criticality == "supercritical"


def test_neutral_saddle_is_not_a_hopf():
    def f(x, p):
        return anp.array([x[0], p * x[1] + x[0] ** 2])
    br = continue_branch(System(f, 2, "flow"), np.zeros(2), -2.0, (-2.0, -0.5),
                         ds=0.05)
    (sp,) = br.special_points
    assert sp.type == "neutral_saddle" and sp.p == pytest.approx(-1.0)


def test_failures_are_returned_not_raised():
    system = System(fold, 2, "flow")
    br = continue_branch(system, np.array([5.0, 0.0]), -1.0, (-2.0, 2.0))
    assert not br.success and br.status == "start_failed"
    assert "not a fixed point" in br.message
    br = continue_branch(system, np.array([1.0, 1.0]), 1.0, (0.0, 50.0),
                         max_steps=3)
    assert not br.success and br.status == "max_steps" and len(br.p) == 4

    def blows_up(x, p):      # no solutions beyond p = 1: the corrector fails
        return anp.array([x[0] - anp.sqrt(1.0 - p)])
    # the predictor steps past the end point p = 1, where blows_up is nan on
    # purpose (the System refuses it and the corrector fails): silence only
    # numpy's "invalid value in sqrt" there
    with np.errstate(invalid="ignore"):
        br = continue_branch(System(blows_up, 1, "flow"), np.array([1.0]),
                             0.0, (-1.0, 2.0), ds=0.1)
    assert not br.success and br.status == "step_too_small", br.message


def test_continuation_validates():
    system = System(fold, 2, "flow")
    with pytest.raises(ValueError, match="distinct"):
        continue_branch(system, np.ones(2), 1.0, (1.0, 1.0))
    vec = System(lambda x, p: p[0] - x, 1, "flow", n_params=2)
    with pytest.raises(ValueError, match="scalar parameter"):
        continue_branch(vec, np.zeros(1), np.zeros(2), (0.0, 1.0))
    br = continue_branch(system, np.ones(2), 1.0, (-1.0, 2.0), direction=-1)
    with pytest.raises(ValueError, match="transcritical or pitchfork"):
        switch_branch(system, br.special_points[0], (-1.0, 2.0))


def test_p_range_and_p0_are_validated():
    system = System(fold, 2, "flow")
    x0 = np.ones(2)
    with pytest.raises(ValueError, match=r"p0 = 5 lies outside p_range = "
                       r"\[-1, 1\]"):
        continue_branch(system, x0, 5.0, (-1.0, 1.0))
    with pytest.raises(ValueError, match=r"exactly two numbers .* got 3"):
        continue_branch(system, x0, 1.0, (0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match=r"exactly two numbers .* got 1"):
        continue_branch(system, x0, 1.0, (1.0,))
    with pytest.raises(ValueError, match=r"p_range\[1\] must be finite"):
        continue_branch(system, x0, 1.0, (0.0, np.inf))
    with pytest.raises(TypeError, match="p_range"):
        continue_branch(system, x0, 1.0, 2.0)
    # either order gives the same interval [min, max]
    a = continue_branch(system, x0, 1.0, (0.5, 2.0), ds=0.1)
    b = continue_branch(system, x0, 1.0, (2.0, 0.5), ds=0.1)
    assert a.success and np.array_equal(a.p, b.p)
    assert a.p.min() == pytest.approx(1.0) and a.p.max() == pytest.approx(2.0)


def test_step_bounds_messages():
    system = System(fold, 2, "flow")
    with pytest.raises(ValueError, match=r"ds_max must be >= ds \(= 1\), "
                       r"got 0\.1"):
        continue_branch(system, np.ones(2), 1.0, (0.0, 2.0), ds=1.0,
                        ds_max=0.1)
    with pytest.raises(ValueError, match=r"ds_min must be <= ds \(= 0\.01\)"):
        continue_branch(system, np.ones(2), 1.0, (0.0, 2.0), ds_min=0.1)


def test_switch_branch_point_must_lie_in_p_range():
    system = System(logistic, 1, "map")
    br = continue_branch(system, np.array([0.0]), 0.5, (0.5, 3.2), ds=0.05)
    (tc,) = br.special_points
    with pytest.raises(ValueError, match=r"point.p = 1 lies outside p_range"):
        switch_branch(system, tc, (2.0, 3.2))


def _checkpoints(cell, gains, N=4):
    m = np.ones(N)
    U = np.random.default_rng(0).normal(size=(N, 2))
    models = []
    for g in gains:
        W = g * np.outer(m, m) / N
        models.append(RNN(cell, W, U, np.zeros(N), np.ones((1, N)), np.zeros(1),
                          dt=0.5, trainable=("W", "b")))
    return models


@pytest.mark.parametrize("cell,view", [("euler", "flow"), ("euler", "map"),
                                       ("elman", "map")])
def test_training_bifurcation_located_and_classified(cell, view):
    gains = [0.6, 0.8, 0.95, 1.1, 1.3]
    scan = training_bifurcations(_checkpoints(cell, gains), np.zeros(2),
                                 view=view)
    assert scan.success, scan.message
    (b,) = scan.bifurcations
    assert b.checkpoint == 2
    t_exact = (1.0 - 0.95) / (1.1 - 0.95)
    assert b.t == pytest.approx(t_exact, abs=1e-8)
    assert b.theta[:16].reshape(4, 4) == pytest.approx(np.ones((4, 4)) / 4,
                                                       abs=1e-8)
    assert b.type == "pitchfork"
    mu_exact = {"flow": np.array(gains) - 1,
                "map": 0.5 * (np.array(gains) - 1)}[view]
    if cell == "elman":
        mu_exact = np.array(gains) - 1
    assert np.allclose(scan.mu, mu_exact, atol=1e-12)
