"""Tests of :mod:`sntk_ref.analysis`: model files, diagnosis, nearest bifurcation.

Oracles: the closed forms of SPEC 4.6 for the rank-one flow
``dh/ds = -h + (g/N) m m^T tanh(h)`` (critical eigenvalue ``g - 1`` at 0,
``grad mu = m m^T / N`` for ``W``, pitchfork ``c = -g / (3 N)`` at ``g = 1``)
and the dense kernel ``K = J J^T`` built by brute force at tiny sizes.
"""

import numpy as np
import pytest

from sntk_ref.analysis import (ModelFileError, diagnose, load_inputs,
                               load_model, nearest_bifurcation)
from sntk_ref.derivatives import state_jacobian
from sntk_ref.model import RNN

N, D, O = 4, 3, 2


def rank_one(g, dt=0.5, trainable=("W",)):
    m = np.array([1.0, -1.0, 1.0, 1.0])
    rng = np.random.default_rng(5)
    U = rng.normal(size=(N, D))
    C = rng.normal(size=(O, N))
    return RNN("euler", g * np.outer(m, m) / N, U, np.zeros(N), C,
               np.zeros(O), dt=dt, trainable=trainable), m


def model_arrays(model):
    return {"cell": np.array(model.cell), "dt": np.array(model.dt),
            "W": model.W, "U": model.U, "b": model.b, "C": model.C,
            "d": model.d}


def test_load_model_round_trip(tmp_path):
    model, _ = rank_one(0.8)
    path = tmp_path / "m.npz"
    np.savez(path, **model_arrays(model), h0=np.ones(N),
             trainable=np.array(["W", "b"]))
    loaded = load_model(path)
    assert loaded == model.replace(h0=np.ones(N), trainable=("W", "b"))


@pytest.mark.parametrize("key, value, message", [
    ("W", None, "missing key"),
    ("U", np.full((N, D), np.nan), "'U' has"),
    ("b", np.zeros(N + 1), "b must have shape"),
    ("cell", np.array("lstm"), "cell must be one of"),
    ("dt", np.array(1.5), "dt must lie"),
    ("C", np.array([["a", "b", "c", "d"]] * O), "'C' must be a real"),
    ("extra", np.zeros(2), "unknown key"),
])
def test_load_model_errors_name_the_key(tmp_path, key, value, message):
    model, _ = rank_one(0.8)
    arrays = model_arrays(model)
    if value is None:
        del arrays[key]
    else:
        arrays[key] = value
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(path)
    assert key in str(err.value)


def test_load_model_refuses_pickles_and_garbage(tmp_path):
    model, _ = rank_one(0.8)
    arrays = model_arrays(model)
    arrays["W"] = np.array([model.W, "x"], dtype=object)
    path = tmp_path / "p.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="'W'"):
        load_model(path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFileError, match=r"not a valid \.npz \(zip\)"):
        load_model(junk)
    # a zip signature followed by garbage: numpy's own error, still clean
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(broken)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.npz")


def test_load_inputs_checks_shapes(tmp_path):
    model, _ = rank_one(0.8)
    path = tmp_path / "x.npz"
    np.savez(path, X=np.zeros((2, 5, D)), h0=np.zeros((2, N)),
             x_const=np.ones(D))
    X, h0, x = load_inputs(path, model)
    assert X.shape == (2, 5, D) and h0.shape == (2, N) and x.shape == (D,)
    np.savez(path, X=np.zeros((2, 5, D + 1)))
    with pytest.raises(ModelFileError, match="'X'"):
        load_inputs(path, model)
    np.savez(path, X=np.zeros((2, 5, D)), h0=np.zeros((3, N)))
    with pytest.raises(ModelFileError, match="'h0'"):
        load_inputs(path, model)


def test_diagnose_matches_closed_form_and_dense_kernel():
    g = 0.9
    model, m = rank_one(g)
    rng = np.random.default_rng(3)
    X = 0.3 * rng.normal(size=(2, 5, D))
    h0 = 0.2 * rng.normal(size=(2, N))
    d = diagnose(model, X, h0=h0)

    # SPEC 4.6: origin, critical eigenvalue g - 1, grad mu = m m^T / N
    assert np.allclose(d.point.x, 0.0) and len(d.fixed_points) == 1
    assert abs(d.mu - (g - 1.0)) < 1e-12
    np.testing.assert_allclose(d.grad_mu, (np.outer(m, m) / N).ravel(),
                               atol=1e-10)

    # ranks against the dense kernel K = J J^T (n = 40 rows, P = 16)
    J = state_jacobian(model, X, h0).reshape(-1, model.n_params)
    lam = np.linalg.eigvalsh(J @ J.T)
    lam = np.clip(lam, 0, None)
    pr = lam.sum() ** 2 / np.sum(lam ** 2)
    p = lam[lam > 1e-12 * lam.max()] / lam.sum()
    assert abs(d.ranks["pr"] - pr) < 1e-9 * pr
    assert abs(d.ranks["entropy"] - np.exp(-np.sum(p * np.log(p)))) < 1e-8
    np.testing.assert_allclose(d.eigenvalues[:5], np.sort(lam)[::-1][:5],
                               rtol=1e-9)

    # dominant direction: top right singular vector of the dense J
    top = np.linalg.svd(J)[2][0]
    cos = abs(top @ d.grad_mu) / np.linalg.norm(d.grad_mu)
    assert abs(d.direction.cos_grad_mu - cos) < 1e-9
    assert 0.0 <= d.split.rho <= 1.0


@pytest.mark.parametrize("g", [0.9, 1.05])
def test_nearest_bifurcation_is_the_rank_one_pitchfork(g):
    model, m = rank_one(g)
    X = 0.1 * np.random.default_rng(4).normal(size=(1, 3, D))
    d = diagnose(model, X, track=np.zeros(N))
    nb = nearest_bifurcation(model, d.point)
    assert nb.success, nb.message
    # moving W along m m^T / N (unit Frobenius norm) by g - 1 reaches g = 1
    assert abs(nb.distance - abs(g - 1.0)) < 1e-8
    assert nb.normal_form.type == "pitchfork"
    assert abs(nb.normal_form.c - (-1.0 / (3 * N))) < 1e-6
    assert nb.normal_form.criticality == "supercritical"
