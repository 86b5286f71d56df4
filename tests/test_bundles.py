"""Tests of sntk_ref.bundles: export, check, diagnosis, bad input (SPEC 9).

Expected values come from closed forms (SPEC 4.6), from the bundle's own
arrays recombined densely (K = J J^T, L from the states), from an
independent NumPy loop of the euler cell, or from the documented hash
recipe recomputed with hashlib -- never from the code's own output alone.
"""

import hashlib
import importlib.util
import json
import pathlib
import warnings

import numpy as np
import pytest

from sntk_ref.bundles import (FORMAT_VERSION, BundleError, CaseError,
                              array_hash, check_bundles,
                              export_bundle, load_bundle, load_case)
from sntk_ref.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUNDLE_DIR = ROOT / "validation" / "bundles"

# distinct sizes so that a transposed axis cannot pass
B, T, N, D, O = 2, 5, 4, 3, 2

EULER_CASE = {
    "name": "t_euler", "cell": "euler", "dt": 0.5, "seed": 0,
    "sizes": {"B": B, "T": T, "N": N, "D": D, "O": O},
    "quantities": ["states", "outputs", "loss", "gradient", "J", "K",
                   "output_ntk", "eigenpairs", "effective_ranks"],
    "k": 6,
}


@pytest.fixture(scope="module")
def ref_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.npz"
    export_bundle(EULER_CASE, path)
    return path


@pytest.fixture(scope="module")
def ref(ref_path):
    return load_bundle(ref_path)


def write(path, arrays, **extra):
    np.savez(path, **arrays, **extra)
    return path


def result_arrays(ref):
    return {k: v for k, v in ref.arrays.items()
            if ref.manifest["entries"][k]["role"] == "result"}


def row(report, key):
    return next(r for r in report.rows if r.key == key)


# -- the content of a bundle ------------------------------------------------------
def test_states_match_an_independent_euler_loop(ref):
    a = ref.arrays
    h = a["h0"].copy()
    for t in range(T):
        h = h + 0.5 * (-h + np.tanh(h) @ a["W"].T + a["X"][:, t] @ a["U"].T
                       + a["b"])
        np.testing.assert_allclose(a["states"][:, t], h, rtol=1e-14, atol=1e-15)


def test_results_are_consistent_dense_recombinations(ref):
    a = ref.arrays
    J = a["J"].reshape(B * T * N, -1)
    Y = a["states"] @ a["C"].T + a["d"]
    R = Y - a["Y_target"]
    np.testing.assert_allclose(a["outputs"], Y, rtol=1e-14)
    np.testing.assert_allclose(a["loss"], 0.5 * np.sum(R**2) / (B * T),
                               rtol=1e-14)
    # gradient = J_y^T r / (B T) with J_y = (I x C) J (C, d frozen)
    Jy = np.einsum("on,anp->aop", a["C"], J.reshape(B * T, N, -1))
    g = np.einsum("aop,ao->p", Jy, R.reshape(B * T, O)) / (B * T)
    np.testing.assert_allclose(a["gradient"], g, rtol=1e-12, atol=1e-15)
    K = a["K"].reshape(B * T * N, B * T * N)
    np.testing.assert_allclose(K, J @ J.T, rtol=1e-13, atol=1e-13)
    Jy = Jy.reshape(B * T * O, -1)
    np.testing.assert_allclose(a["output_ntk"].reshape(B * T * O, -1),
                               Jy @ Jy.T, rtol=1e-13, atol=1e-13)


def test_eigenpairs_and_ranks_follow_spec_3_4(ref):
    a = ref.arrays
    K = a["K"].reshape(B * T * N, B * T * N)
    lam, V = a["eigenvalues"], a["eigenvectors"]
    assert np.all(np.diff(lam) < 0)
    np.testing.assert_allclose(K @ V, V * lam, atol=1e-12 * lam[0])
    top = np.argmax(np.abs(V), axis=0)
    assert np.all(V[top, np.arange(V.shape[1])] > 0)   # sign convention
    full = np.linalg.eigvalsh(K)[::-1]
    full = full[full > B * T * N * 2.2e-16 * full[0]]
    p = full / full.sum()
    np.testing.assert_allclose(a["rank_pr"], full.sum()**2 / np.sum(full**2),
                               rtol=1e-10)
    np.testing.assert_allclose(a["rank_entropy"], np.exp(-np.sum(p * np.log(p))),
                               rtol=1e-10)
    np.testing.assert_allclose(a["rank_stable"], full.sum() / full[0],
                               rtol=1e-10)


def test_manifest_hashes_follow_the_documented_recipe(ref, ref_path):
    with np.load(ref_path, allow_pickle=False) as data:
        manifest = json.loads(str(data["manifest"]))
        K = data["K"]
    entry = manifest["entries"]["K"]
    digest = hashlib.sha256(f"<f8|{K.shape}|".encode())
    digest.update(np.ascontiguousarray(K, dtype="<f8").tobytes())
    assert entry["sha256"] == digest.hexdigest() == array_hash(K)
    assert manifest["format_version"] == FORMAT_VERSION
    assert entry["shape"] == [B, T, N, B, T, N]
    assert entry["rtol"] > 0
    conv = json.loads(str(np.load(ref_path, allow_pickle=False)["convention"]))
    assert conv["parameter_order"] == ["W", "U", "b", "C", "d", "h0"]
    assert conv["index_order"]["K"] == "(b, t, i, b', s, j)"
    assert "1/(2 B T)" in conv["loss"]


# -- checking -------------------------------------------------------------------
def test_identical_candidate_passes(ref_path, tmp_path, ref):
    cand = write(tmp_path / "c.npz", result_arrays(ref))
    report = check_bundles(ref_path, cand)
    assert report.passed, report.table()
    assert "PASS" in report.table()


def test_planted_error_is_reported_with_its_size(ref_path, tmp_path, ref):
    arrays = result_arrays(ref)
    K = arrays["K"].copy()
    K[1, 2, 3, 0, 4, 1] += 1e-6
    arrays["K"] = K
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    r = row(report, "K")
    assert not report.passed and r.status == "FAIL"
    assert r.max_abs == pytest.approx(1e-6, rel=1e-6)
    assert r.max_rel == pytest.approx(1e-6 / np.abs(ref.arrays["K"]).max(),
                                      rel=1e-6)
    assert [x.key for x in report.failures] == ["K"]


def test_float32_candidate_fails_and_says_so(ref_path, tmp_path, ref):
    arrays = result_arrays(ref)
    arrays["J"] = arrays["J"].astype(np.float32)
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    assert not row(report, "J").passed
    assert "float32" in row(report, "J").note


def test_flattened_and_time_major_layouts_are_named(ref_path, tmp_path, ref):
    arrays = result_arrays(ref)
    arrays["states"] = ref.arrays["states"].reshape(B * T, N)
    arrays["K"] = ref.arrays["K"].transpose(1, 0, 2, 4, 3, 5).reshape(
        T * B, N, T * B, N)
    arrays["J"] = ref.arrays["J"].reshape(B * T * N, -1).T
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    assert not report.passed
    assert "reshaped" in row(report, "states").note
    note = row(report, "K").note
    assert f"K has shape {(B, T, N, B, T, N)} but the candidate has " \
           f"{(T * B, N, T * B, N)}" in note
    assert "(t, b) instead of (b, t)" in note
    assert "transpose" in row(report, "J").note


def test_column_major_parameter_blocks_are_named(ref_path, tmp_path, ref):
    arrays = result_arrays(ref)
    a = ref.arrays
    # an honest column-major candidate: theta = (W.ravel("F"), U.ravel("F"), b)
    g = np.zeros_like(a["gradient"])
    sl = {"W": slice(0, N * N), "U": slice(N * N, N * N + N * D)}
    g[sl["W"]] = a["gradient"][sl["W"]].reshape(N, N).ravel("F")
    g[sl["U"]] = a["gradient"][sl["U"]].reshape(N, D).ravel("F")
    g[N * N + N * D:] = a["gradient"][N * N + N * D:]
    arrays["gradient"] = g
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    assert "column-major" in row(report, "gradient").note


def test_missing_key_is_named_with_a_guess(ref_path, tmp_path, ref):
    arrays = result_arrays(ref)
    arrays["H"] = arrays.pop("states")
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    r = row(report, "states")
    assert r.status == "MISSING" and "'H'" in r.note
    assert any("ignored: H" in n for n in report.notes)


def test_convention_mismatch_is_named(ref_path, tmp_path, ref):
    conv = json.dumps({"cell": "elman", "dt": 0.5})
    report = check_bundles(ref_path, write(tmp_path / "c.npz",
                                           result_arrays(ref),
                                           convention=np.array(conv)))
    r = row(report, "convention")
    assert r.status == "FAIL" and "cell: reference 'euler'" in r.note


def test_eigenvector_signs_are_a_gauge_choice(ref_path, tmp_path, ref):
    arrays = result_arrays(ref)
    V = arrays["eigenvectors"].copy()
    V[:, [0, 3]] *= -1
    arrays["eigenvectors"] = V
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    assert report.passed, report.table()
    assert "opposite sign" in row(report, "eigenvectors").note
    V[:, 1] = V[:, 2]            # a wrong vector still fails
    arrays["eigenvectors"] = V
    assert not check_bundles(ref_path, write(tmp_path / "d.npz",
                                             arrays)).passed


# A model whose kernel has eigenvalues of multiplicity N: elman with W, U, b
# all zero keeps h = 0, so J_t = [0 | I (x) x_t | I] and K = M (x) I_N with
# M[t, s] = x_t . x_s + 1 (SPEC 2.1).
DEGENERATE = {
    "name": "degenerate", "cell": "elman", "seed": 4,
    "sizes": {"B": 1, "T": 2, "N": 3, "D": 2, "O": 1},
    "arrays": {"W": np.zeros((3, 3)).tolist(), "U": np.zeros((3, 2)).tolist(),
               "b": [0.0, 0.0, 0.0]},
    "quantities": ["K", "eigenpairs"], "k": 3,
}


def test_eigenvalue_cluster_is_compared_as_a_subspace(tmp_path):
    ref_path = tmp_path / "deg.npz"
    export_bundle(DEGENERATE, ref_path)
    ref = load_bundle(ref_path)
    X = ref.arrays["X"][0]
    M = X @ X.T + 1.0
    np.testing.assert_allclose(ref.arrays["eigenvalues"],
                               np.repeat(np.linalg.eigvalsh(M)[-1], 3),
                               rtol=1e-13)
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    arrays = {"K": ref.arrays["K"], "eigenvalues": ref.arrays["eigenvalues"],
              "eigenvectors": ref.arrays["eigenvectors"] @ Q}
    report = check_bundles(ref_path, write(tmp_path / "c.npz", arrays))
    assert report.passed, report.table()
    assert "subspace" in row(report, "eigenvectors").note
    # vectors of the other cluster span another subspace: fail
    lam, V = np.linalg.eigh(ref.arrays["K"].reshape(6, 6))
    arrays["eigenvectors"] = V[:, :3]
    assert not check_bundles(ref_path, write(tmp_path / "d.npz",
                                             arrays)).passed


def test_k_cutting_a_cluster_is_refused(tmp_path):
    with pytest.raises(CaseError, match="cuts through a cluster"):
        export_bundle(dict(DEGENERATE, k=2), tmp_path / "x.npz")


# -- the checked-in bundles -------------------------------------------------------
def _make_bundles_module():
    spec = importlib.util.spec_from_file_location(
        "make_bundles", ROOT / "validation" / "make_bundles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regeneration_is_deterministic(tmp_path):
    make = _make_bundles_module()
    paths = make.make_bundles(BUNDLE_DIR, tmp_path)
    assert len(paths) == len(list(BUNDLE_DIR.glob("*.json"))) >= 4
    for path in paths:
        differing, report = make.compare_bits(BUNDLE_DIR / path.name, path)
        if differing:
            # other platform / BLAS: not the same bits, but within tolerance
            assert report.passed, report.table()
            warnings.warn(f"{path.name}: bits differ in {differing}, within "
                          "tolerance", stacklevel=1)


def test_checked_in_bundles_are_small_and_self_consistent():
    for path in BUNDLE_DIR.glob("*.npz"):
        assert path.stat().st_size < 2**20
        assert check_bundles(path, path).passed


def test_rank_one_pitchfork_bundle_matches_closed_forms():
    a = load_bundle(BUNDLE_DIR / "rank_one_pitchfork.npz").arrays
    m = np.array([1.0, -1.0, 1.0, 1.0])
    assert str(a["nf_type"]) == "pitchfork"
    assert str(a["nf_criticality"]) == "supercritical"
    assert a["nf_c"] == pytest.approx(-1.0 / 12.0, rel=1e-10)   # -g/(3N)
    assert abs(a["nf_eigenvalue"]) < 1e-12                     # mu = g - 1
    np.testing.assert_allclose(np.abs(a["nf_q"] @ m) / 2, 1.0, rtol=1e-12)
    # SPEC 4.4: d mu / dW = w (phi'(0) v)^T = m m^T / N at h* = 0
    np.testing.assert_allclose(a["nf_mu_p"][:16].reshape(4, 4),
                               np.outer(m, m) / 4, atol=1e-12)


def test_rank_one_fixed_point_bundle_matches_closed_forms():
    a = load_bundle(BUNDLE_DIR / "rank_one_fixed_points.npz").arrays
    m = np.array([1.0, -1.0, 1.0, 1.0])
    kappa = 1.5
    for _ in range(200):                          # kappa = g tanh(kappa)
        kappa = 1.5 * np.tanh(kappa)
    coords = a["fixed_points"] @ m / 4
    np.testing.assert_allclose(np.sort(coords), [-kappa, 0.0, kappa],
                               atol=1e-12)
    lam0 = a["fixed_point_eigenvalues"][np.argmin(np.abs(coords))]
    # multipliers at 0: 1 + dt (g - 1) and 1 - dt (SPEC 4.6)
    np.testing.assert_allclose(np.sort(lam0.real), [0.5, 0.5, 0.5, 1.25],
                               atol=1e-12)


def test_fixed_points_are_compared_as_a_set(tmp_path):
    ref_path = BUNDLE_DIR / "rank_one_fixed_points.npz"
    a = load_bundle(ref_path).arrays
    order = [2, 0, 1]
    cand = {"states": a["states"], "fixed_points": a["fixed_points"][order],
            "fixed_point_eigenvalues": a["fixed_point_eigenvalues"][order]}
    report = check_bundles(ref_path, write(tmp_path / "c.npz", cand))
    assert report.passed, report.table()
    cand["fixed_points"] = cand["fixed_points"][:2]
    report = check_bundles(ref_path, write(tmp_path / "d.npz", cand))
    assert "2 fixed points, the reference 3" in row(report,
                                                    "fixed_points").note


def test_nonfinite_fixed_points_fail_with_a_message(tmp_path):
    ref_path = BUNDLE_DIR / "rank_one_fixed_points.npz"
    a = load_bundle(ref_path).arrays
    points = a["fixed_points"].copy()
    points[1, 2] = np.nan
    cand = {"states": a["states"], "fixed_points": points,
            "fixed_point_eigenvalues": a["fixed_point_eigenvalues"]}
    report = check_bundles(ref_path, write(tmp_path / "c.npz", cand))
    assert not report.passed
    assert row(report, "fixed_points").status == "FAIL"
    assert "non-finite" in row(report, "fixed_points").note
    matched = row(report, "fixed_point_eigenvalues")
    assert matched.status == "FAIL"
    assert "fixed_points are not all finite" in matched.note


def test_normal_form_gauge_and_type(tmp_path):
    ref_path = BUNDLE_DIR / "rank_one_pitchfork.npz"
    a = load_bundle(ref_path).arrays
    cand = {k: v for k, v in a.items() if k.startswith("nf_")}
    for key in ("nf_q", "nf_left", "nf_a"):       # q -> -q, p -> -p
        cand[key] = -cand[key]
    assert check_bundles(ref_path, write(tmp_path / "c.npz", cand)).passed
    cand["nf_type"] = np.array("fold")
    report = check_bundles(ref_path, write(tmp_path / "d.npz", cand))
    assert "'fold'" in row(report, "nf_type").note


# -- bad input --------------------------------------------------------------------
def _rewrite(src, dst, edit_manifest=None, edit_arrays=None):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    manifest = json.loads(str(arrays["manifest"]))
    if edit_manifest:
        edit_manifest(manifest)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["manifest"] = np.array(json.dumps(manifest))
    np.savez(dst, **arrays)
    return dst


def test_future_format_version_is_refused(ref_path, tmp_path):
    path = _rewrite(ref_path, tmp_path / "future.npz",
                    edit_manifest=lambda m: m.update(format_version=99))
    with pytest.raises(BundleError, match="format version 99"):
        load_bundle(path)


def test_tampered_array_is_refused(ref_path, tmp_path):
    def edit(arrays):
        arrays["K"] = arrays["K"].copy()
        arrays["K"][0, 0, 0, 0, 0, 0] += 1e-12
    path = _rewrite(ref_path, tmp_path / "tampered.npz", edit_arrays=edit)
    with pytest.raises(BundleError, match="hash of 'K'"):
        check_bundles(path, path)


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, K=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BundleError, match="pickled"):
        load_bundle(path, require_manifest=False)


def test_candidate_without_manifest_is_not_a_reference(ref_path, tmp_path,
                                                       ref):
    cand = write(tmp_path / "c.npz", result_arrays(ref))
    with pytest.raises(BundleError, match="no 'manifest'"):
        check_bundles(cand, ref_path)


@pytest.mark.parametrize("edit, message", [
    ({"quantites": ["K"]}, "did you mean 'quantities'"),
    ({"sizes": {"B": 0, "T": 5, "N": 4, "D": 3, "O": 2}}, "impossible size"),
    ({"sizes": {"B": 2, "T": 2.5, "N": 4, "D": 3, "O": 2}}, "impossible size"),
    ({"sizes": {"B": 2, "T": 5, "N": 4, "D": 3}}, "missing"),
    ({"sizes": {"B": 2, "T": 5, "N": 4, "D": 3, "O": 2, "P": 7}},
     "unknown sizes"),
    ({"k": 41}, "exceeds the kernel size"),
    ({"quantities": ["K", "ntk"]}, "unknown quantities"),
    ({"cell": "lstm"}, "cell must be"),
    ({"arrays": {"W": [[1.0, 2.0], [3.0, 4.0]]}}, "arrays\\['W'\\] has shape"),
    ({"tolerances": {"K": {"rtol": -1}}}, "rtol"),
])
def test_bad_cases_raise_clear_errors(edit, message, tmp_path):
    case = dict(EULER_CASE, **edit)
    if "quantites" in edit:
        del case["quantities"]
        case["quantities"] = ["K"]
    with pytest.raises(CaseError, match=message):
        export_bundle(case, tmp_path / "x.npz")


def test_over_budget_case_is_refused_before_computing(tmp_path):
    case = dict(EULER_CASE, sizes={"B": 50, "T": 200, "N": 64, "D": 3, "O": 2})
    with pytest.raises(CaseError, match="MiB"):
        export_bundle(case, tmp_path / "x.npz")


def test_case_file_with_npz_arrays(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {"W": rng.standard_normal((N, N)) / 3, "U": rng.standard_normal(
        (N, D)), "b": np.zeros(N), "C": np.ones((O, N)), "d": np.zeros(O),
        "X": rng.standard_normal((B, T, D))}
    np.savez(tmp_path / "arrays.npz", **arrays)
    case = {"cell": "euler", "sizes": EULER_CASE["sizes"], "arrays":
            "arrays.npz", "quantities": ["states"], "dt": 0.5}
    (tmp_path / "case.json").write_text(json.dumps(case))
    export_bundle(tmp_path / "case.json", tmp_path / "b.npz")
    got = load_bundle(tmp_path / "b.npz").arrays
    np.testing.assert_array_equal(got["W"], arrays["W"])
    assert load_case(tmp_path / "case.json")["seed"] is None
    del case["dt"]
    case["quantities"] = ["loss"]               # loss needs Y_target
    (tmp_path / "case.json").write_text(json.dumps(case))
    with pytest.raises(CaseError, match="Y_target"):
        load_case(tmp_path / "case.json")


# -- command line ---------------------------------------------------------------
def _run(argv):
    return cli_main(argv)


def test_cli_export_and_check(tmp_path, capsys, ref):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(EULER_CASE))
    out = tmp_path / "ref.npz"
    assert _run(["oracle", "export", str(case), "--out", str(out)]) == 0
    assert _run(["oracle", "check", str(out), str(out)]) == 0
    assert "PASS" in capsys.readouterr().out

    arrays = result_arrays(ref)
    arrays["loss"] = arrays["loss"] + 1e-3
    cand = write(tmp_path / "c.npz", arrays)
    assert _run(["oracle", "check", str(out), str(cand)]) == 1
    text = capsys.readouterr().out
    assert "loss" in text and "FAIL" in text

    assert _run(["oracle", "check", str(out), str(tmp_path / "none.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    case.write_text(json.dumps(dict(EULER_CASE, colour="red")))
    assert _run(["oracle", "export", str(case), "--out", str(out)]) == 2
    assert "unknown keys 'colour'" in capsys.readouterr().err
