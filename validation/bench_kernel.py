"""Benchmark of the dense state-space NTK routes (SPEC 3.2), side by side.

Run: ``python validation/bench_kernel.py``. Not a test: it prints a table of
times measured in one run and PASS/FAIL per goal:

1. ``sntk(method="jacobian")`` within 1.5x the time of a bare ``J @ J.T`` on
   a precomputed ``J`` of the same shape;
2. ``method="recursion"`` faster than ``method="jacobian"``;
3. both at least 20x faster than building ``K`` from ``autograd.jacobian``;
4. peak traced memory of ``method="jacobian"`` at most 1.5x
   ``bytes(J) + bytes(K)`` (tracemalloc).

Problem: euler cell, N=32, D=4, T=40, B=2, W, U, b trainable (P=1184).
Times are the best of ``REPEATS`` runs (autograd: one run).
"""

import time
import tracemalloc

import autograd.numpy as anp
import numpy as np
from autograd import jacobian

from sntk_ref.derivatives import state_jacobian
from sntk_ref.kernel import sntk
from sntk_ref.model import RNN

#: Problem sizes of the benchmark.
N, D, O, T, B = 32, 4, 2, 40, 2

#: Runs per timing; the best is reported.
REPEATS = 5

#: Goals (see the module docstring).
MAX_JACOBIAN_OVER_BARE = 1.5
MIN_AUTOGRAD_SPEEDUP = 20.0
MAX_PEAK_OVER_J_PLUS_K = 1.5


def best_times(funs, repeats=REPEATS):
    """Best wall time of each function over ``repeats`` interleaved rounds.

    Interleaving (one call of each per round) shares any change in the
    machine's load fairly between the routes compared.
    """
    best = {name: np.inf for name in funs}
    out = {}
    for _ in range(repeats):
        for name, fun in funs.items():
            start = time.perf_counter()
            out[name] = fun()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, out


def autograd_states(model, X):
    """``theta -> H (B, T, N)`` of the euler cell, traced by autograd."""
    n, n_in = model.n_hidden, model.n_in

    def states(theta):
        W = anp.reshape(theta[:n * n], (n, n))
        U = anp.reshape(theta[n * n:n * n + n * n_in], (n, n_in))
        b = theta[n * n + n * n_in:]
        h, out = anp.zeros((X.shape[0], n)), []
        for t in range(X.shape[1]):
            drive = anp.dot(anp.tanh(h), W.T) + anp.dot(X[:, t], U.T) + b
            h = h + model.dt * (-h + drive)
            out.append(h)
        return anp.stack(out, axis=1)

    return states


def autograd_kernel(model, X):
    """``K = J J^T`` with ``J`` from ``autograd.jacobian``, shape (M, M)."""
    J = jacobian(autograd_states(model, X))(model.theta)
    J = J.reshape(-1, model.n_params)
    return J @ J.T


def peak_bytes(fun):
    """Peak traced heap of one call of ``fun``."""
    tracemalloc.start()
    try:
        fun()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main():
    rng = np.random.default_rng(0)
    model = RNN.random(N, D, O, rng=rng, cell="euler", dt=0.5)
    X = rng.standard_normal((B, T, D))
    M, P = B * T * N, model.n_params

    J = state_jacobian(model, X).reshape(M, P)
    times, out = best_times({
        "bare": lambda: J @ J.T,
        "jacobian": lambda: sntk(model, X, method="jacobian"),
        "recursion": lambda: sntk(model, X, method="recursion"),
    })
    t_bare, t_jac, t_rec = times["bare"], times["jacobian"], times["recursion"]
    K_bare, K_jac, K_rec = out["bare"], out["jacobian"], out["recursion"]
    t_ag, out = best_times({"autograd": lambda: autograd_kernel(model, X)}, 1)
    t_ag, K_ag = t_ag["autograd"], out["autograd"]

    scale = np.linalg.norm(K_ag)
    for name, K in (("jacobian", K_jac), ("recursion", K_rec)):
        err = np.linalg.norm(K.reshape(M, M) - K_ag) / scale
        print(f"relative difference {name} vs autograd: {err:.2e}")
    print(f"relative difference bare J J^T vs autograd: "
          f"{np.linalg.norm(K_bare - K_ag) / scale:.2e}")

    peak = peak_bytes(lambda: sntk(model, X, method="jacobian"))
    j_plus_k = J.nbytes + K_bare.nbytes

    print(f"\neuler N={N} D={D} T={T} B={B} P={P}: J {M}x{P}, K {M}x{M}")
    print(f"{'route':<34}{'time [s]':>12}")
    for name, t in (("bare J @ J.T (J precomputed)", t_bare),
                    ("sntk method='jacobian'", t_jac),
                    ("sntk method='recursion'", t_rec),
                    ("autograd.jacobian, then J J^T", t_ag)):
        print(f"{name:<34}{t:>12.4f}")
    print(f"peak traced memory of 'jacobian': {peak / 2**20:.1f} MiB; "
          f"bytes(J)+bytes(K) = {j_plus_k / 2**20:.1f} MiB")

    goals = [
        ("jacobian / bare J J^T", t_jac / t_bare, "<=", MAX_JACOBIAN_OVER_BARE),
        ("recursion / jacobian", t_rec / t_jac, "<", 1.0),
        ("autograd / jacobian", t_ag / t_jac, ">=", MIN_AUTOGRAD_SPEEDUP),
        ("autograd / recursion", t_ag / t_rec, ">=", MIN_AUTOGRAD_SPEEDUP),
        ("peak / (bytes(J)+bytes(K))", peak / j_plus_k, "<=",
         MAX_PEAK_OVER_J_PLUS_K),
    ]
    print(f"\n{'goal':<30}{'ratio':>10}  {'target':<10}result")
    for name, ratio, op, bound in goals:
        ok = {"<=": ratio <= bound, "<": ratio < bound, ">=": ratio >= bound}[op]
        print(f"{name:<30}{ratio:>10.3f}  {op} {bound:<7}{'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
