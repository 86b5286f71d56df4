"""Tests of sntk_ref.spectra and sntk_ref.kernel_layout (SPEC 3.4, 3.1)."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse.linalg import aslinearoperator

from sntk_ref.kernel_layout import flatten_kernel, unflatten_kernel
from sntk_ref.spectra import (
    canonical_sign,
    effective_rank,
    effective_ranks,
    spectrum,
)

EXACT = 1e-12


def _sign_fixed_by_hand(Q):
    """Reference convention, one column at a time: largest |entry| positive."""
    out = np.array(Q, dtype=float)
    for j in range(out.shape[1]):
        i = int(np.argmax(np.abs(out[:, j])))
        out[:, j] *= np.sign(out[i, j])
    return out


def _c09_matrix():
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    return Q @ np.diag([5.0, 3.0, 1.0, 0.5]) @ Q.T, Q


# ---------------------------------------------------------------- C09


def test_c09_plain_matches_hand_convention():
    A, Q = _c09_matrix()
    vals, vecs = spectrum(A)
    np.testing.assert_allclose(vals, [5.0, 3.0, 1.0, 0.5], rtol=0, atol=EXACT)
    np.testing.assert_allclose(vecs, _sign_fixed_by_hand(Q), rtol=0, atol=EXACT)


def test_c09_k1_and_k4_identical():
    A, _ = _c09_matrix()
    _, full = spectrum(A)
    for k in (1, 2, 4):
        vals, vecs = spectrum(A, k=k)
        assert vecs.shape == (4, k)
        np.testing.assert_allclose(vecs, full[:, :k], rtol=0, atol=EXACT)


def test_c09_permutation_then_unpermute():
    A, _ = _c09_matrix()
    _, full = spectrum(A)
    perm = np.array([2, 0, 3, 1])
    P = np.eye(4)[perm]
    _, vp = spectrum(P @ A @ P.T)
    np.testing.assert_allclose(P.T @ vp, full, rtol=0, atol=EXACT)


def test_c09_dense_vs_lanczos():
    A, _ = _c09_matrix()
    _, full = spectrum(A)
    op = aslinearoperator(A)
    for k in (1, 2, 3, 4):
        vals, vecs = spectrum(operator=op, k=k)
        np.testing.assert_allclose(vals, [5.0, 3.0, 1.0, 0.5][:k], atol=EXACT)
        np.testing.assert_allclose(vecs, full[:, :k], rtol=0, atol=EXACT)


def test_c09_lanczos_larger_matrix_with_start_vector():
    rng = np.random.default_rng(61)
    G = rng.standard_normal((30, 9))
    K = G @ G.T
    _, full = spectrum(K)
    vals, vecs = spectrum(operator=aslinearoperator(K), k=3, v0=np.ones(30))
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(K)[::-1][:3], rtol=1e-12)
    np.testing.assert_allclose(vecs, full[:, :3], rtol=0, atol=1e-10)


def test_c09_complex_phase_is_unique():
    g, c = 1.5, np.cos(np.pi / 4)
    M = g * np.array([[c, -c], [c, c]]) - np.eye(2)
    lam, V = np.linalg.eig(M)
    j = int(np.argmax(lam.imag))
    np.testing.assert_allclose(lam[j], g * np.exp(1j * np.pi / 4) - 1, atol=EXACT)

    # R (1, -i) = e^{i pi/4} (1, -i): the moduli tie, so entry 0 is made real
    expected = np.array([1.0, -1.0j]) / np.sqrt(2)
    rng = np.random.default_rng(9)
    for phase in rng.uniform(0, 2 * np.pi, size=5):
        v = canonical_sign(V[:, j] * np.exp(1j * phase))
        np.testing.assert_allclose(v, expected, rtol=0, atol=EXACT)


def test_canonical_sign_real_ties_and_zero():
    V = np.array([[1.0, -1.0, 0.0, 0.3], [-1.0, 1.0, 0.0, -0.5]]) / np.sqrt(2)
    out = canonical_sign(V)
    np.testing.assert_array_equal(np.sign(out[0, :2]), [1, 1])
    np.testing.assert_array_equal(out[:, 2], [0.0, 0.0])
    assert out[1, 3] > 0 and out[0, 3] < 0
    rows = canonical_sign(V.T, axis=1)
    np.testing.assert_array_equal(rows, out.T)


# ---------------------------------------------------- fast paths vs dense


@pytest.mark.parametrize("shape", [(5, 3), (3, 7)])
def test_jacobian_route_matches_dense_kernel(shape):
    rng = np.random.default_rng(sum(shape))
    J = rng.standard_normal(shape)
    r = min(shape)

    vals, U = spectrum(J=J)
    ref_vals, ref_U = spectrum(J @ J.T, k=r)
    np.testing.assert_allclose(vals, ref_vals, rtol=1e-12)
    np.testing.assert_allclose(U, ref_U, rtol=0, atol=1e-12)

    pvals, V = spectrum(J=J, which="parameters")
    ref_pvals, ref_V = spectrum(J.T @ J, k=r)
    np.testing.assert_allclose(pvals, ref_pvals, rtol=1e-12)
    np.testing.assert_allclose(V, ref_V, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.abs(J @ V), np.abs(U * np.sqrt(vals)), atol=1e-12)


def test_six_index_kernel_accepted():
    rng = np.random.default_rng(3)
    B, T, N = 2, 3, 4
    J = rng.standard_normal((B * T * N, 5))
    K = J @ J.T
    K6 = unflatten_kernel(K, B, T, N)
    np.testing.assert_allclose(spectrum(K6, return_vectors=False),
                               spectrum(K, return_vectors=False), rtol=1e-14)
    assert effective_rank(K6) == effective_rank(K)


def test_layout_against_index_formula():
    B, T, N = 2, 3, 4
    n = B * T * N
    K = np.arange(n * n, dtype=float).reshape(n, n)
    K6 = unflatten_kernel(K, B, T, N)
    for (b, t, i, c, s, j) in [(0, 0, 0, 1, 2, 3), (1, 2, 3, 0, 1, 2),
                               (1, 0, 2, 1, 1, 0)]:
        assert K6[b, t, i, c, s, j] == K[(b * T + t) * N + i, (c * T + s) * N + j]
    np.testing.assert_array_equal(flatten_kernel(K6), K)


def test_layout_refuses_bad_shapes():
    with pytest.raises(ValueError, match="6 dimensions"):
        flatten_kernel(np.zeros((2, 3, 4, 2, 3)))
    with pytest.raises(ValueError, match="equal to the first three"):
        flatten_kernel(np.zeros((2, 3, 4, 2, 4, 3)))
    with pytest.raises(ValueError, match=r"\(24, 24\)"):
        unflatten_kernel(np.zeros((24, 23)), 2, 3, 4)


def test_refuses_nonsymmetric_and_bad_arguments():
    A, _ = _c09_matrix()
    B = A.copy()
    B[0, 1] += 1e-6
    with pytest.raises(ValueError, match="symmetric"):
        spectrum(B)
    with pytest.raises(ValueError, match="symmetric"):
        effective_rank(B)
    with pytest.raises(ValueError, match="exactly one"):
        spectrum(A, J=A)
    with pytest.raises(ValueError, match="k is required"):
        spectrum(operator=aslinearoperator(A))
    with pytest.raises(ValueError, match="parameters"):
        spectrum(A, which="parameters")
    with pytest.raises(ValueError, match="finite"):
        spectrum(np.full((2, 2), np.nan))


# ---------------------------------------------------------------- C27


def test_c27a_diag_3_1():
    K = np.diag([3.0, 1.0])
    expected_erank = np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert abs(effective_rank(K, kind="entropy") - 1.7547654) < 1e-7
    assert abs(effective_rank(K, kind="entropy") - expected_erank) < 1e-14
    assert abs(effective_rank(K) - 1.6) < 1e-12
    assert abs(effective_rank(K, kind="stable") - 4.0 / 3.0) < 1e-12


def test_c27b_round_off_eigenvalues_count_as_zero():
    rng = np.random.default_rng(16)
    E = 1e-17 * rng.standard_normal((5, 5))
    E = 0.5 * (E + E.T)
    K = np.diag([1.0, 1.0, 0.0, 0.0, 0.0]) + E
    ranks = effective_ranks(K)
    assert all(np.isfinite(v) for v in ranks.values())
    assert abs(ranks["entropy"] - 2.0) < 1e-9
    assert abs(ranks["pr"] - 2.0) < 1e-9


def test_c27c_zero_matrix_raises():
    with pytest.raises(ValueError, match="no effective rank"):
        effective_rank(np.zeros((5, 5)), kind="entropy")
    with pytest.raises(ValueError, match="no effective rank"):
        effective_rank(eigenvalues=np.zeros(3))


def test_c27d_indefinite_raises_not_clipped():
    rng = np.random.default_rng(27)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    K = Q @ np.diag([1.0, 0.5, -1e-3]) @ Q.T
    for kind in ("pr", "entropy", "stable"):
        with pytest.raises(ValueError, match="not positive semidefinite"):
            effective_rank(K, kind=kind)


def _c01_jacobian():
    """Model D (elman), N=8, D=2, T=10, n=6, seed 0, g=1.5: J (480, 88)."""
    N, D, T, n, g = 8, 2, 10, 6, 1.5
    rng = np.random.default_rng(0)
    W = rng.normal(0.0, g / np.sqrt(N), (N, N))
    U = rng.normal(0.0, 1.0 / np.sqrt(D), (N, D))
    b = rng.normal(0.0, 0.1, N)
    X = rng.normal(0.0, 1.0, (n, T, D))

    def trajectory(theta):
        W_, U_ = theta[:N * N].reshape(N, N), theta[N * N:N * N + N * D]
        U_, b_ = U_.reshape(N, D), theta[N * N + N * D:]
        h, states = anp.zeros((n, N)), []
        for t in range(T):
            h = anp.tanh(h @ W_.T + X[:, t] @ U_.T + b_)
            states.append(h)
        return anp.stack(states, axis=1).reshape(-1)   # rows (b, t, i)

    theta = np.concatenate([W.ravel(), U.ravel(), b])
    return jacobian(trajectory)(theta)


def test_c27e_c01_kernel():
    J = _c01_jacobian()
    assert J.shape == (480, 88)
    K = J @ J.T
    K = 0.5 * (K + K.T)
    ranks = effective_ranks(K)
    for value in ranks.values():
        assert np.isfinite(value) and 1.0 <= value <= 88.0
    from_J = effective_ranks(J=J)
    for kind in ranks:
        assert abs(from_J[kind] - ranks[kind]) <= 1e-9 * ranks[kind]

    vals = spectrum(J=J, return_vectors=False)
    dense = spectrum(K, return_vectors=False)
    assert np.all(np.abs(dense[88:]) <= 1e-10 * dense[0])
    np.testing.assert_allclose(dense[:10], vals[:10], rtol=1e-10)


# ------------------------------------------------------ property tests


def _psd_from(G, scales):
    G = G * scales[: G.shape[1]]
    return G @ G.T


_G = st.integers(2, 6).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda m: arrays(np.float64, (n, m), elements=st.floats(-3, 3))
    )
)
_SCALES = arrays(np.float64, 6, elements=st.floats(1e-3, 1e3))


@settings(max_examples=30)
@given(_G, _SCALES)
def test_rank_ordering(G, scales):
    K = _psd_from(G, scales)
    if np.max(np.abs(K)) < 1e-100:
        return
    lam = np.linalg.eigvalsh(K)
    rank = int(np.sum(lam > K.shape[0] * 2.3e-16 * lam.max()))
    r = effective_ranks(K)
    slack = 1e-9
    assert 1 - slack <= r["stable"] <= r["pr"] * (1 + slack)
    assert r["pr"] <= rank * (1 + slack)
    assert 1 - slack <= r["entropy"] <= rank * (1 + slack)


@settings(max_examples=20)
@given(_G, _SCALES, st.integers(0, 2**16))
def test_ranks_invariant_under_orthogonal_similarity(G, scales, seed):
    K = _psd_from(G, scales)
    if np.max(np.abs(K)) < 1e-100:
        return
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal(K.shape))
    r1 = effective_ranks(K)
    r2 = effective_ranks(Q @ K @ Q.T)
    for kind in r1:
        assert abs(r1[kind] - r2[kind]) <= 1e-8 * r1[kind]


@settings(max_examples=20)
@given(_G, _SCALES)
def test_pr_of_jacobian_equals_pr_of_kernel(G, scales):
    J = G * scales[: G.shape[1]]
    if np.max(np.abs(J)) < 1e-50:
        return
    K = J @ J.T
    assert abs(effective_rank(J=J) - effective_rank(K)) <= 1e-9 * effective_rank(K)
    assert abs(effective_rank(J=J) - effective_rank(J=J.T)) <= 1e-9 * effective_rank(K)


# ---------------------------------------------------- operator refusals


def test_operator_complex_dtype_is_refused_not_truncated():
    op = aslinearoperator((1 + 1j) * np.eye(4))
    with pytest.raises(TypeError, match="operator must be real"):
        spectrum(operator=op, k=1)


def test_operator_nonsymmetric_is_refused():
    A = np.array([[1.0, 3.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5]])
    with pytest.raises(ValueError, match="operator must be symmetric"):
        spectrum(operator=aslinearoperator(A), k=1)


def test_operator_indefinite_is_refused():
    A = np.diag([-5.0, 1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="not positive semidefinite"):
        spectrum(operator=aslinearoperator(A), k=1)
    # dense fallback (k >= n - 1) sees every eigenvalue
    with pytest.raises(ValueError, match="not positive semidefinite"):
        spectrum(operator=aslinearoperator(A), k=3)


def test_operator_psd_low_rank_is_accepted():
    # rank 3 of size 7: the Lanczos zeros are round-off, not refused
    rng = np.random.default_rng(41)
    J = rng.standard_normal((7, 3))
    K = J @ J.T
    lam = np.linalg.eigvalsh(K)[::-1]
    for k in (2, 5, 7):
        got = spectrum(operator=aslinearoperator(K), k=k, return_vectors=False)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, lam[:k], rtol=0, atol=1e-12 * lam[0])


# ------------------------------------------------- ranks at extreme scales


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_ranks_are_exact_at_extreme_scales(scale):
    ranks = effective_ranks(np.eye(3) * scale)
    assert ranks["pr"] == 3.0 and ranks["stable"] == 3.0
    assert abs(ranks["entropy"] - 3.0) < EXACT


def test_ranks_of_subnormal_eigenvalues():
    ranks = effective_ranks(eigenvalues=[5e-324] * 2)
    assert ranks["pr"] == 2.0 and ranks["stable"] == 2.0
    assert abs(ranks["entropy"] - 2.0) < EXACT


def test_ranks_of_huge_jacobian_are_finite():
    # J = 1e200 * [I_2; 0]: s^2 = 1e400 would overflow if squared directly
    J = np.vstack([np.eye(2), np.zeros((1, 2))]) * 1e200
    assert effective_rank(J=J) == 2.0


def test_empty_kernel_raises_clear_error():
    with pytest.raises(ValueError, match="K must not be empty"):
        effective_rank(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="J must not be empty"):
        effective_rank(J=np.zeros((0, 3)))


def test_canonical_sign_bad_axis():
    with pytest.raises(ValueError, match="axis must lie in"):
        canonical_sign(np.eye(2), axis=2)
    with pytest.raises(TypeError, match="axis must be an integer"):
        canonical_sign(np.eye(2), axis=0.5)
    V = np.array([[1.0, -3.0], [-2.0, 1.0]])
    np.testing.assert_array_equal(canonical_sign(V, axis=-1),
                                  canonical_sign(V, axis=1))


@pytest.mark.parametrize("k", [None, 1, 2])
def test_dense_spectrum_refuses_an_indefinite_kernel(k):
    """A kernel is PSD: a clearly negative eigenvalue is an error, whatever k."""
    K = np.diag([5.0, 1.0, 0.5, -1e-3 * 5.0])
    with pytest.raises(ValueError, match="positive semidefinite|PSD"):
        spectrum(K, k=k)
    # round-off negatives are zero, not an error
    spectrum(np.diag([5.0, 1.0, 0.5, -1e-17]), k=k)
