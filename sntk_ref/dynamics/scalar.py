"""Scalar normal forms as learning problems (SPEC 5).

One parameter ``mu`` unfolds each bifurcation; the "model" is the normal form
itself and the "kernel" is the rank-one Gram matrix of the trajectory's
sensitivity ``s_k = dx_k / dmu``. Four forms, each as a flow sampled every
``dt`` or as its forward-Euler map ``x <- x + dt f(x; mu)``:

============== ================================= ===========================
kind           vector field ``f(x; mu)``         attractor amplitude ``a*``
============== ================================= ===========================
pitchfork      ``mu x - x^3``                    ``sqrt(mu)`` (mu > 0), 0
saddle_node    ``mu - x^2``                      ``sqrt(mu)`` (mu >= 0)
transcritical  ``mu x - x^2``                    ``mu`` (mu > 0), 0
hopf           ``z' = (mu + i w) z - |z|^2 z``   radius ``sqrt(mu)``, 0
============== ================================= ===========================

Saddle-node sign convention: SPEC 5 writes ``y' = beta + y^2``; here
``x = -y``, ``mu = -beta``, so that ``mu > 0`` is the side with a stable
equilibrium ``+sqrt(mu)`` (like the other forms) and ``mu < 0`` the
bottleneck side, passage time ``pi / sqrt(-mu)`` (= ``pi / sqrt(beta)``).
Hopf is written in real coordinates ``x = (Re z, Im z)``; ``r' = mu r - r^3``,
``phase' = w``.

Amplification, stated exactly (the SPEC's "1/|mu|^2" is loose):

- equilibrium sensitivity squared: ``(da*/dmu)^2 = 1/(4 mu)``, exponent
  **-1** (pitchfork, saddle-node, Hopf radius; 1 for the transcritical).
  Exponent -2 holds for a parameter that does not itself vanish at the
  equilibrium (``dx*/dp = -f_p / f_x``, ``f_x = -2 mu``); for ``mu`` the
  factor ``f_mu = x* = sqrt(mu)`` removes one power.
- pitchfork flow started at its equilibrium: ``s(t) = (1 - e^{-2 mu t}) /
  (2 sqrt(mu))``; ``int_0^S s^2`` is ``S / (4 mu)`` to leading order for a
  fixed window ``S >> 1/mu`` (exponent -1) and exactly ``c(q) / mu^2`` for a
  window ``S = q / mu`` scaled with the relaxation time (exponent -2).
- pitchfork flow at ``mu < 0`` from ``x0`` with ``x0^2 << |mu|``:
  ``s ~ x0 t e^{mu t}`` and ``int_0^inf s^2 = x0^2 / (4 |mu|^3)`` up to a
  relative ``O(x0^2 / |mu|)`` (exponent -3, the "up to 1/|mu|^3").

Letters: ``m`` state size (1, or 2 for Hopf); ``T`` = ``n_steps``; arrays of
a trajectory have shape ``(T + 1, m)``, row ``k`` at time ``k dt``.
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np
from scipy.integrate import solve_ivp

from sntk_ref._validation import (
    as_real_array,
    check_choice,
    check_positive_int,
    check_scalar,
)

__all__ = [
    "KINDS",
    "LossTerms",
    "ScalarNormalForm",
    "gradient_step",
    "natural_gradient_step",
]

#: Normal forms offered.
KINDS = ("pitchfork", "saddle_node", "transcritical", "hopf")

#: Relative and absolute tolerances of the flow integrator (DOP853).
ODE_RTOL = 1e-12
ODE_ATOL = 1e-14

#: Default sampling interval of the flow / step of the map.
DEFAULT_DT = 0.01


class LossTerms(NamedTuple):
    """A loss and its derivatives in ``mu`` (SPEC 5, SPEC 7).

    Attributes
    ----------
    value : float
    gradient : float
        ``dL/dmu``.
    gauss_newton : float
        ``J^T J`` for ``L = |r|^2 / 2`` (normalised like the loss).
    curvature : float or None
        ``d^2L/dmu^2`` where a closed form is available (equilibrium
        landscape); None for the trajectory loss.
    """

    value: float
    gradient: float
    gauss_newton: float
    curvature: Optional[float]


@dataclass(frozen=True)
class ScalarNormalForm:
    """A one-parameter normal form as a learning problem (SPEC 5).

    Parameters
    ----------
    kind : {"pitchfork", "saddle_node", "transcritical", "hopf"}
    view : {"flow", "map"}
        ``"flow"``: the ODE sampled every ``dt`` (DOP853, ``ODE_RTOL``,
        ``ODE_ATOL``). ``"map"``: forward Euler with step ``dt``.
    dt : float
        Sampling interval (flow) or step (map), ``> 0``.
    omega : float
        Hopf rotation frequency ``w``; ignored by the other forms.
    """

    kind: str = "pitchfork"
    view: str = "flow"
    dt: float = DEFAULT_DT
    omega: float = 1.0

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        check_choice("view", self.view, ("flow", "map"))
        check_scalar("dt", self.dt, low=0.0, low_open=True)
        check_scalar("omega", self.omega)

    @property
    def dim(self):
        """State size ``m``: 2 for Hopf, else 1."""
        return 2 if self.kind == "hopf" else 1

    # ---------------------------------------------------------- the field

    def vector_field(self, x, mu):
        """``f(x; mu)``, x shape (m,) -> shape (m,)."""
        if self.kind == "pitchfork":
            return mu * x - x**3
        if self.kind == "saddle_node":
            return mu - x**2
        if self.kind == "transcritical":
            return mu * x - x**2
        r2 = x @ x
        return np.array([mu * x[0] - self.omega * x[1] - r2 * x[0],
                         self.omega * x[0] + mu * x[1] - r2 * x[1]])

    def _f_x(self, x, mu):
        """State Jacobian ``df/dx``, shape (m, m)."""
        if self.kind == "pitchfork":
            return np.array([[mu - 3 * x[0] ** 2]])
        if self.kind == "saddle_node":
            return np.array([[-2 * x[0]]])
        if self.kind == "transcritical":
            return np.array([[mu - 2 * x[0]]])
        (u, v), w, r2 = x, self.omega, x @ x
        return np.array([[mu - r2 - 2 * u * u, -w - 2 * u * v],
                         [w - 2 * u * v, mu - r2 - 2 * v * v]])

    def _f_mu(self, x):
        """Parameter derivative ``df/dmu``, shape (m,)."""
        return np.ones(1) if self.kind == "saddle_node" else np.array(x)

    # -------------------------------------------------------- trajectories

    def times(self, n_steps):
        """Sample times ``k dt``, shape (T + 1,)."""
        n_steps = check_positive_int("n_steps", n_steps)
        return self.dt * np.arange(n_steps + 1)

    def _check(self, mu, x0, n_steps):
        mu = check_scalar("mu", mu)
        x0 = as_real_array("x0", np.atleast_1d(x0), shape=(self.dim,))
        return mu, x0, check_positive_int("n_steps", n_steps)

    def _run(self, mu, x0, n_steps):
        """States and sensitivities, each shape (T + 1, m)."""
        m = self.dim
        if self.view == "map":
            X, S = np.empty((n_steps + 1, m)), np.empty((n_steps + 1, m))
            X[0], S[0] = x0, 0.0
            for k in range(n_steps):
                x, s = X[k], S[k]
                # s_{k+1} = s_k + dt (f_x s_k + f_mu): exact derivative of the map
                X[k + 1] = x + self.dt * self.vector_field(x, mu)
                S[k + 1] = s + self.dt * (self._f_x(x, mu) @ s + self._f_mu(x))
            if not (np.all(np.isfinite(X)) and np.all(np.isfinite(S))):
                raise FloatingPointError(
                    f"the {self.kind} map diverged (non-finite state) for "
                    f"mu={mu}, x0={x0}, dt={self.dt}"
                )
            return X, S

        def rhs(_, y):
            x, s = y[:m], y[m:]
            return np.concatenate([self.vector_field(x, mu),
                                   self._f_x(x, mu) @ s + self._f_mu(x)])

        t = self.times(n_steps)
        sol = solve_ivp(rhs, (0.0, t[-1]), np.concatenate([x0, np.zeros(m)]),
                        method="DOP853", t_eval=t, rtol=ODE_RTOL, atol=ODE_ATOL)
        if not sol.success:
            raise RuntimeError(
                f"integrating the {self.kind} flow failed for mu={mu}, x0={x0} "
                f"(the solution may blow up before s={t[-1]}): {sol.message}"
            )
        return sol.y[:m].T, sol.y[m:].T

    def simulate(self, mu, x0, n_steps):
        """Trajectory ``x_k``, k = 0..T (SPEC 5).

        Parameters
        ----------
        mu : float
        x0 : float or ndarray, shape (m,)
        n_steps : int
            ``T``; the window is ``T dt``.

        Returns
        -------
        X : ndarray, shape (T + 1, m)
            ``X[0] = x0``; ``X[k]`` the state at time ``k dt``.

        Raises
        ------
        RuntimeError, FloatingPointError
            If the flow blows up inside the window / the map diverges.
        """
        return self._run(*self._check(mu, x0, n_steps))[0]

    def sensitivity(self, mu, x0, n_steps):
        """Trajectory sensitivity ``s_k = dx_k/dmu``, ``s_0 = 0`` (SPEC 5).

        Flow: ``s' = f_x s + f_mu`` integrated jointly with ``x``. Map: the
        exact recursion ``s_{k+1} = s_k + dt (f_x(x_k) s_k + f_mu(x_k))``.

        Returns
        -------
        S : ndarray, shape (T + 1, m)
        """
        return self._run(*self._check(mu, x0, n_steps))[1]

    def kernel(self, mu, x0, n_steps):
        """Normal-form kernel ``k(t, t') = s_t . s_t'`` (SPEC 5), rank one.

        Rows are the states after each step, ``k = 1..T`` (SPEC 1.3), unit
        index fastest.

        Returns
        -------
        K : ndarray, shape (T m, T m)
        """
        s = self.sensitivity(mu, x0, n_steps)[1:].reshape(-1)
        return np.outer(s, s)

    def kernel_trace(self, mu, x0, n_steps):
        """``tr K = sum_{k=1..T} |s_k|^2`` without forming ``K`` (SPEC 5)."""
        return float(np.sum(self.sensitivity(mu, x0, n_steps) ** 2))

    def exact(self, mu, x0, n_steps):
        """Closed-form solution of the **flow** at times ``k dt`` (SPEC 5).

        For ``view="map"`` this is the flow the map discretises (its limit as
        ``dt -> 0``). Pitchfork and Hopf radius:
        ``x0 e^{mu s} / sqrt(1 + x0^2 (e^{2 mu s} - 1) / mu)``; transcritical
        (logistic): ``x0 e^{mu s} / (1 + x0 (e^{mu s} - 1) / mu)``;
        saddle-node: the Riccati solution (``tanh`` for ``mu > 0``, ``tan``
        for ``mu < 0``). ``mu = 0`` is the continuous limit.

        Returns
        -------
        X : ndarray, shape (T + 1, m)

        Raises
        ------
        ValueError
            If the solution blows up inside the window.
        """
        mu, x0, n_steps = self._check(mu, x0, n_steps)
        s = self.times(n_steps)

        if self.kind == "hopf":
            r0, phase0 = np.hypot(*x0), np.arctan2(x0[1], x0[0])
            r = _pitchfork_exact(mu, r0, s)
            phase = phase0 + self.omega * s
            return np.stack([r * np.cos(phase), r * np.sin(phase)], axis=1)
        solve = {"pitchfork": _pitchfork_exact,
                 "transcritical": _transcritical_exact,
                 "saddle_node": _saddle_node_exact}[self.kind]
        return solve(mu, x0[0], s)[:, None]

    # --------------------------------------------------------- equilibria

    def _amplitude(self, mu):
        """``(a*, da*/dmu, d^2a*/dmu^2)`` for ``mu != 0`` on the stable side."""
        if self.kind == "saddle_node" and mu < 0:
            raise ValueError(
                f"the saddle-node x' = mu - x^2 has no equilibrium for mu < 0 "
                f"(got mu={mu}); its passage time is pi/sqrt(-mu)"
            )
        if mu < 0:
            return 0.0, 0.0, 0.0
        if self.kind == "transcritical":
            return mu, 1.0, 0.0
        return np.sqrt(mu), 0.5 / np.sqrt(mu), -0.25 * mu**-1.5

    def equilibrium(self, mu):
        """Amplitude ``a*(mu)`` of the attractor (SPEC 5).

        The stable equilibrium (pitchfork: the positive branch; saddle-node:
        ``+sqrt(mu)``, needs ``mu >= 0``) or, for Hopf, the radius of the
        attracting set (limit cycle for ``mu > 0``, origin for ``mu <= 0``).
        These are the flow's; the Euler map has the same fixed points, but
        its Hopf invariant circle sits at ``r^2 = mu + (1 - sqrt(1 - w^2
        dt^2)) / dt``, shifted by ``O(w^2 dt)``.
        """
        mu = check_scalar("mu", mu)
        return 0.0 if mu == 0 else float(self._amplitude(mu)[0])

    def equilibrium_sensitivity(self, mu):
        """``da*/dmu`` (SPEC 5): ``1 / (2 sqrt(mu))`` on the square-root branches.

        Raises ``ValueError`` at ``mu = 0`` (not differentiable there).
        """
        mu = check_scalar("mu", mu)
        if mu == 0:
            raise ValueError("a*(mu) is not differentiable at the bifurcation mu=0")
        return float(self._amplitude(mu)[1])

    def passage_time(self, mu):
        """Saddle-node bottleneck passage time ``pi / sqrt(-mu)``, ``mu < 0``."""
        if self.kind != "saddle_node":
            raise NotImplementedError(
                f"a passage time is defined for the saddle-node only, not {self.kind}"
            )
        mu = check_scalar("mu", mu, high=0.0, high_open=True)
        return float(np.pi / np.sqrt(-mu))

    # ----------------------------------------------------------- learning

    def loss(self, mu, mu_star, x0=None, n_steps=None):
        """Loss against a teacher ``mu*`` and its derivatives (SPEC 5).

        Without a window (``x0 = n_steps = None``): the long-window landscape
        ``L = (a*(mu) - a*(mu*))^2 / 2``; for the pitchfork
        ``(sqrt(mu) - sqrt(mu*))^2 / 2`` for ``mu > 0`` and the plateau
        ``mu*/2`` for ``mu <= 0`` (at ``mu = 0`` the plateau side's derivatives
        are returned). Gauss-Newton ``(da*/dmu)^2``; curvature exact,
        ``sqrt(mu*) / (4 mu^{3/2})`` for the pitchfork.

        With a window: the trajectory loss from ``x0`` over ``T = n_steps``
        steps, ``L = 1/(2T) sum_{k=1..T} |x_k(mu) - x_k(mu*)|^2`` (SPEC 1.3),
        gradient ``(1/T) sum r_k . s_k``, Gauss-Newton ``(1/T) sum |s_k|^2``
        (``J^T J / T`` with ``J`` the stacked ``s_k``); curvature None.

        Returns
        -------
        LossTerms
        """
        mu = check_scalar("mu", mu)
        mu_star = check_scalar("mu_star", mu_star)
        if (x0 is None) != (n_steps is None):
            raise ValueError("give both x0 and n_steps (trajectory loss) or neither")

        if x0 is None:
            a, da, d2a = (0.0, 0.0, 0.0) if mu == 0 else self._amplitude(mu)
            if self.kind == "saddle_node" and mu == 0:
                raise ValueError("the saddle-node landscape is singular at mu=0")
            r = a - self.equilibrium(mu_star)
            return LossTerms(0.5 * r**2, r * da, da**2, da**2 + r * d2a)

        mu, x0, n_steps = self._check(mu, x0, n_steps)
        X, S = self._run(mu, x0, n_steps)
        R = X[1:] - self._run(mu_star, x0, n_steps)[0][1:]
        return LossTerms(0.5 * np.sum(R**2) / n_steps,
                         np.sum(R * S[1:]) / n_steps,
                         np.sum(S[1:] ** 2) / n_steps, None)

    def gradient_step(self, mu, mu_star, eta):
        """One fixed-step gradient-descent step on the landscape (SPEC 5)."""
        eta = check_scalar("eta", eta, low=0.0, low_open=True)
        return float(mu - eta * self.loss(mu, mu_star).gradient)

    def natural_gradient_step(self, mu, mu_star, eta):
        """``mu - eta (dL/dmu) / (da*/dmu)^2`` on the landscape (SPEC 5).

        Gauss-Newton in ``mu`` = gradient descent in the amplitude ``a*``; for
        the pitchfork ``mu <- mu - 2 eta (mu - sqrt(mu mu*))``, contraction
        factor ``1 - eta`` near ``mu*`` whatever ``mu*``. Undefined where
        ``da*/dmu = 0`` (the plateau): raises ``ValueError``.
        """
        eta = check_scalar("eta", eta, low=0.0, low_open=True)
        terms = self.loss(mu, mu_star)
        if terms.gauss_newton == 0.0:
            raise ValueError(
                f"the natural gradient is undefined at mu={mu}: da*/dmu = 0 "
                "(plateau)"
            )
        return float(mu - eta * terms.gradient / terms.gauss_newton)


def gradient_step(mu, mu_star, eta, kind="pitchfork"):
    """Module-level :meth:`ScalarNormalForm.gradient_step` (SPEC 5)."""
    return ScalarNormalForm(kind).gradient_step(mu, mu_star, eta)


def natural_gradient_step(mu, mu_star, eta, kind="pitchfork"):
    """Module-level :meth:`ScalarNormalForm.natural_gradient_step` (SPEC 5)."""
    return ScalarNormalForm(kind).natural_gradient_step(mu, mu_star, eta)


# ------------------------------------------------------------ closed forms


def _growth(mu, s, c):
    """``(e^{c mu s} - 1) / mu``, continuous at ``mu = 0`` (value ``c s``)."""
    return c * s if mu == 0 else np.expm1(c * mu * s) / mu


def _pitchfork_exact(mu, x0, s):
    """SPEC 5 pitchfork solution, shape of ``s``; never blows up."""
    return x0 * np.exp(mu * s) / np.sqrt(1.0 + x0**2 * _growth(mu, s, 2.0))


def _transcritical_exact(mu, x0, s):
    """Logistic solution of ``x' = mu x - x^2``."""
    den = 1.0 + x0 * _growth(mu, s, 1.0)
    if np.any(den <= 0):     # den is monotone in s and starts at 1
        raise ValueError(f"the transcritical flow from x0={x0} blows up in the window")
    return x0 * np.exp(mu * s) / den


def _saddle_node_exact(mu, x0, s):
    """Riccati solution of ``x' = mu - x^2``."""
    if mu < 0:
        # x = q tan(theta0 - q s), finite while theta0 - q s > -pi/2
        q = np.sqrt(-mu)
        theta = np.arctan(x0 / q) - q * s
        if np.any(theta <= -np.pi / 2):
            raise ValueError(
                f"the saddle-node flow from x0={x0} blows up in the window"
            )
        return q * np.tan(theta)
    if mu == 0:
        den = 1.0 + x0 * s
        num = x0
    else:
        r = np.sqrt(mu)
        th = np.tanh(r * s)
        num, den = r * (x0 + r * th), r + x0 * th
    if np.any(den <= 0):     # den is monotone in s and starts positive
        raise ValueError(f"the saddle-node flow from x0={x0} blows up in the window")
    return num / den
