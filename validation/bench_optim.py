"""Cost of a rank-one low-rank natural-gradient step vs gradient descent.

SPEC 7-8. Builds the student-teacher configuration of SPEC 8 (euler, N=24,
D=2, O=1, dt=0.2, T=150, B=8, only W trained, numpy.random.default_rng(0)
drawing m, W0, U, inputs, initial-state signs and noise in that order) and
times, along a short training run, the CPU time (process_time) per step of

- gradient descent (the unit of cost);
- LowRankNaturalGradient(rank=1, sigma_ref = sigma_2) with a fresh, warm-
  started Lanczos solve at every step (refresh_every=1), with the default
  Lanczos settings and with a small basis / loose tolerance;
- the same with the eigenpairs refreshed every m steps (amortised);
- eigensolver="subspace" refreshed every m steps: at a refresh the block's
  G products ride along with the gradient (one rollout, one JVP sweep
  carrying the block's tangents, one reverse sweep carrying the loss and
  block cotangents), and more sweeps run only until the Ritz residuals of
  the pairs used are below tol (default 1e-2).

It also trains the SPEC 8 student at eta = 0.2 for 30 steps with the fresh
Lanczos and the subspace (m = 1) eigensolvers and reports whether the loss
falls monotonically, the final loss and the subspace sweeps per step.

Target (issue): at most 1.5x the cost of a gradient-descent step. Prints one
table; ratios are from one run on this machine.

Run: python validation/bench_optim.py [--steps K] [--repeats R]
(set OPENBLAS_NUM_THREADS=1 for single-threaded BLAS).
"""

import argparse
import time

import numpy as np

from sntk_ref.experiment import ExperimentConfig, build_student_teacher
from sntk_ref.optim import GradientDescent, LowRankNaturalGradient
from sntk_ref.trajectories import loss

#: Cost target of a low-rank step, in gradient-descent steps.
TARGET_RATIO = 1.5

#: Refresh intervals timed for the fused subspace eigensolver.
SUBSPACE_EVERY = (1, 2, 3)

def spec8_problem(seed=0):
    """Student, inputs, targets and initial states of SPEC 8 (the package's
    own :func:`sntk_ref.experiment.build_student_teacher`)."""
    data = build_student_teacher(ExperimentConfig(seed=seed))
    return data.student, data.X, data.Y, data.h0


def time_run(optimizer, model, X, Y, h0, steps):
    """Wall time per step over ``steps`` steps, and the last info."""
    start = time.process_time()
    matvecs = 0
    for _ in range(steps):
        model, info = optimizer.step(model, X, Y, h0)
        matvecs += info.get("matvecs", 0)
    return (time.process_time() - start) / steps, matvecs / steps, info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    student, X, Y, h0 = spec8_problem()
    lr = 0.002
    runs = [
        ("gradient descent", lambda: GradientDescent(lr)),
        ("low-rank, fresh Lanczos, defaults",
         lambda: LowRankNaturalGradient(lr, rank=1)),
        ("low-rank, fresh Lanczos, ncv=4 tol=1e-3",
         lambda: LowRankNaturalGradient(lr, rank=1, ncv=4, tol=1e-3)),
    ]
    for m in (5, 10, 20):
        runs.append((f"low-rank, Lanczos every {m}, ncv=4 tol=1e-3",
                     lambda m=m: LowRankNaturalGradient(
                         lr, rank=1, ncv=4, tol=1e-3, refresh_every=m)))
    for m in SUBSPACE_EVERY:
        runs.append((f"low-rank, fused subspace every {m}",
                     lambda m=m: LowRankNaturalGradient(
                         lr, rank=1, eigensolver="subspace", refresh_every=m)))

    # repeats interleaved across optimisers, so that load changes on the
    # machine hit all of them alike; the best (least disturbed) run counts
    best = [None] * len(runs)
    for _ in range(args.repeats):
        for i, (_, make) in enumerate(runs):
            result = time_run(make(), student, X, Y, h0, args.steps)
            if best[i] is None or result[0] < best[i][0]:
                best[i] = result
    rows = [(name, *result) for (name, _), result in zip(runs, best)]

    base = rows[0][1]
    print(f"SPEC 8 configuration: P = {student.n_params}, {args.steps} steps, "
          f"best of {args.repeats}; GD step = {1e3 * base:.2f} ms")
    print(f"{'optimizer':46s} {'ms/step':>8s} {'G v/step':>9s} "
          f"{'x GD':>6s}  target <= {TARGET_RATIO}")
    for name, seconds, matvecs, info in rows:
        ratio = seconds / base
        verdict = "" if name == "gradient descent" else (
            "PASS" if ratio <= TARGET_RATIO else "FAIL")
        print(f"{name:46s} {1e3 * seconds:8.2f} {matvecs:9.1f} "
              f"{ratio:6.2f}  {verdict}")
    for label, group in (("fresh Lanczos", rows[1:3]),
                         ("amortised Lanczos", rows[3:6]),
                         ("fused subspace", rows[6:])):
        best = min(group, key=lambda row: row[1])
        ratio = best[1] / base
        print(f"verdict: {label}: best x{ratio:.2f} ({best[0]}) "
              f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")

    # accuracy of the cheap Lanczos settings at the initial student
    tight = LowRankNaturalGradient(lr, rank=1).step(student, X, Y, h0)[1]
    loose = LowRankNaturalGradient(lr, rank=1, ncv=4, tol=1e-3).step(
        student, X, Y, h0)[1]
    for key, label in (("eigenvalues", "sigma_1"), ("sigma_ref", "sigma_2")):
        a, b = np.ravel(tight[key])[0], np.ravel(loose[key])[0]
        print(f"initial {label}: {a:.6g} (defaults), {b:.6g} (ncv=4 tol=1e-3),"
              f" relative difference {abs(a - b) / a:.1e}")


    monotone_check(student, X, Y, h0)


def monotone_check(student, X, Y, h0, lr=0.2, steps=30):
    """SPEC 8 at ``eta = 0.2``: is the loss monotone, and where does it end?"""
    print(f"SPEC 8 at lr={lr}, {steps} steps, rank 1, sigma_ref = sigma_2:")
    for name, opt in (("fresh Lanczos", LowRankNaturalGradient(lr, rank=1)),
                      ("fused subspace", LowRankNaturalGradient(
                          lr, rank=1, eigensolver="subspace"))):
        model, losses, sweeps = student, [], []
        for _ in range(steps):
            model, info = opt.step(model, X, Y, h0)
            losses.append(info["loss"])
            sweeps.append(info.get("sweeps", 0))
        final = loss(model, X, Y, h0)
        path = np.append(losses, final)
        rises = np.flatnonzero(np.diff(path) >= 0)
        print(f"  {name:15s} monotone {rises.size == 0!s:5s} "
              f"final loss {final:.4g}; first rise at step "
              f"{rises[0] if rises.size else '-'}; subspace sweeps per step "
              f"{np.mean(sweeps):.2f} (max {max(sweeps)})")
        print("    losses:", " ".join(f"{v:.3g}" for v in path))


if __name__ == "__main__":
    main()
