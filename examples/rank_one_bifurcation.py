"""Find and classify the bifurcation of a rank-one rate network (SPEC 4.6).

The network ``dh/ds = -h + (g/N) m m^T tanh(h)`` with entries ``m_i = +-1``
has the fixed point ``h = 0`` for every gain ``g``. Its Jacobian there,
``-I + (g/N) m m^T``, has one eigenvalue ``g - 1`` (along ``m``) and all
others ``-1``, so ``h = 0`` loses stability at ``g = 1``. The steps:

1. write the network as a one-parameter system in ``g``;
2. locate the bifurcation as the root of a *continuous* test function, the
   critical eigenvalue at ``h = 0`` (SPEC 4.5), with Brent's method;
3. compute the normal form there: the type (pitchfork, by symmetry) and the
   cubic coefficient, compared with the closed form ``c = -g / (3 N)``;
4. past the bifurcation, find all fixed points by Newton from random seeds
   and compare the new pair ``+-kappa m`` with the normal-form prediction and
   with the exact ``kappa = g tanh(kappa)``.

Run from the repository root: ``python examples/rank_one_bifurcation.py``.
"""

import numpy as np
import scipy.optimize

from sntk_ref.dynamics.fixed_points import find_fixed_points
from sntk_ref.dynamics.normal_forms import normal_form
from sntk_ref.dynamics.system import rnn_system
from sntk_ref.model import RNN

N = 6
m = np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0])
G_PAST = 1.1  # a gain just past the bifurcation


def main():
    # 1. theta = (W, U, b); move only W, along m m^T / N, so the parameter is g
    model = RNN("euler", np.zeros((N, N)), np.zeros((N, 1)), np.zeros(N),
                np.zeros((1, N)), np.zeros(1))
    direction = model.replace(W=np.outer(m, m) / N).theta
    system = rnn_system(model, view="flow").along(model.theta, direction)
    origin = np.zeros(N)

    # 2. the critical eigenvalue at h = 0 changes sign: bracket and solve
    def critical_eigenvalue(g):
        return np.linalg.eigvalsh(system.jacobian(origin, g)).max()

    g_c = scipy.optimize.brentq(critical_eigenvalue, 0.5, 1.5, xtol=1e-14)
    print(f"bifurcation at g = {g_c:.12f}  (closed form 1)")

    # 3. the normal form at the bifurcation point
    nf = normal_form(system, origin, g_c)
    print(f"type: {nf.type}, {nf.criticality}")
    print(f"cubic coefficient c = {nf.c:.10f}  (closed form -g/(3N) = "
          f"{-g_c / (3 * N):.10f})")

    # 4. past it: fixed points from Newton, against the prediction
    rng = np.random.default_rng(0)
    found = find_fixed_points(system, G_PAST, rng=rng, n_random=12,
                              seed_scale=2.0)
    kappa = scipy.optimize.brentq(lambda k: k - G_PAST * np.tanh(k), 0.1, 2.0)
    print(f"\nat g = {G_PAST}: {len(found.points)} fixed points")
    for pt in found.points:
        along_m = pt.x @ m / N
        kind = "stable" if pt.stable else "unstable"
        print(f"  h = {along_m:+.6f} m   ({kind})")
    amplitude = nf.predict(G_PAST - g_c).amplitude / np.sqrt(N)
    print(f"exact kappa = {kappa:.6f}; normal-form prediction "
          f"sqrt(-mu/c)/sqrt(N) = {amplitude:.6f} (leading order in g - 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
