"""Derivative checkers that ship with the package.

Central differences with the step ``eps ** (1/3) * max(1, |x|)`` (the optimum
for a second-order scheme in float64, :data:`sntk_ref.tolerances.FD_STEP_FACTOR`),
so the truncation and round-off errors are both ``O(eps ** (2/3))``. Inputs
are upcast to float64 first: a float32 finite difference would report false
mismatches (and hide real ones), so it is never used.

Letters: ``n`` inputs of the function checked, ``m`` outputs (any shape).
"""

from dataclasses import dataclass

import numpy as np

from . import _validation as val
from .tolerances import FD_ATOL_REL, FD_RTOL, FD_STEP_FACTOR

__all__ = [
    "CheckResult",
    "check_grad",
    "check_jvp",
    "check_vjp",
    "fd_derivative",
    "fd_jacobian",
]

#: Random directions used by the projection checks.
DEFAULT_DIRECTIONS = 3


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a derivative check.

    Attributes
    ----------
    passed : bool
    max_error : float
        Largest error, in the units of the comparison described by ``kind``.
    tolerance : float
        The bound ``max_error`` was compared with.
    kind : str
        What was compared.
    """

    passed: bool
    max_error: float
    tolerance: float
    kind: str

    def __bool__(self):
        return self.passed


def _as_vector(name, x):
    return val.as_real_array(name, x, ndim=1)


def _f64(fun):
    """Wrap ``fun`` so that its output is a float64 array."""
    def wrapped(x):
        out = np.asarray(fun(x))
        if np.iscomplexobj(out):
            raise TypeError("the checked function returned complex values")
        return out.astype(np.float64)
    return wrapped


def _step(x):
    return FD_STEP_FACTOR * max(1.0, float(np.max(np.abs(x), initial=0.0)))


def fd_derivative(fun, x, direction, step=None):
    """Central difference of ``fun`` at ``x`` along ``direction``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array`` of any fixed shape ``(m...)``.
    x : array_like, shape (n,)
    direction : array_like, shape (n,)
    step : float, optional
        Default ``eps ** (1/3) * max(1, |x|_inf) / |direction|_inf``.

    Returns
    -------
    d : ndarray, shape (m...)
    """
    x = _as_vector("x", x)
    u = val.as_real_array("direction", direction, shape=x.shape)
    scale = float(np.max(np.abs(u), initial=0.0))
    if scale == 0.0:
        return np.zeros_like(_f64(fun)(x))
    h = _step(x) / scale if step is None else val.check_scalar(
        "step", step, 0.0, low_open=True)
    f = _f64(fun)
    return (f(x + h * u) - f(x - h * u)) / (2.0 * h)


def fd_jacobian(fun, x, step=None):
    """Dense central-difference Jacobian, one column per input.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array`` of shape ``(m...)``.
    x : array_like, shape (n,)
    step : float, optional

    Returns
    -------
    J : ndarray, shape (m..., n)
    """
    x = _as_vector("x", x)
    cols = [fd_derivative(fun, x, e, step) for e in np.eye(x.size)]
    return np.stack(cols, axis=-1)


def _compare(analytic, numeric, rtol, atol_rel, kind):
    """Entrywise ``|a - n| <= rtol |n| + atol_rel max|n|``, finiteness first."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(
            f"analytic derivative has shape {analytic.shape}, the finite "
            f"difference {numeric.shape}"
        )
    if not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
        return CheckResult(False, np.inf, 1.0, kind + " (non-finite values)")
    floor = atol_rel * max(float(np.max(np.abs(numeric), initial=0.0)), 1e-300)
    bound = rtol * np.abs(numeric) + floor
    ratio = np.abs(analytic - numeric) / bound
    worst = float(np.max(ratio, initial=0.0))
    return CheckResult(worst <= 1.0, worst, 1.0, kind)


def check_grad(fun, x, grad, rtol=FD_RTOL, atol_rel=FD_ATOL_REL):
    """Check a gradient entry by entry against central differences.

    ``passed`` iff ``|g_i - fd_i| <= rtol |fd_i| + atol_rel max_j |fd_j|`` for
    every ``i``; ``max_error`` is the largest ratio of the two sides (so
    ``<= 1`` passes). A 0.1 % error in any entry larger than ``1e-5`` of the
    largest is caught at the default tolerances.

    Parameters
    ----------
    fun : callable
        Scalar function ``fun(x) -> float``.
    x : array_like, shape (n,)
        Upcast to float64 (float32 input is accepted).
    grad : array_like, shape (n,)
        The analytic gradient at ``x``.

    Returns
    -------
    result : CheckResult
    """
    x = _as_vector("x", x)
    grad = val.as_real_array("grad", grad, shape=x.shape, finite=False)
    numeric = fd_jacobian(lambda z: np.reshape(fun(z), ()), x)
    return _compare(grad, numeric, rtol, atol_rel, "gradient entries")


def check_jvp(fun, x, jvp, rng, n_directions=DEFAULT_DIRECTIONS,
              rtol=FD_RTOL, atol_rel=FD_ATOL_REL):
    """Check ``jvp(v) = J v`` along random directions against central differences.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array (m...)``.
    x : array_like, shape (n,)
    jvp : callable
        ``jvp(v) -> array (m...)``.
    rng : numpy.random.Generator

    Returns
    -------
    result : CheckResult
    """
    x = _as_vector("x", x)
    rng = val.check_rng(rng)
    worst = None
    for _ in range(n_directions):
        v = rng.standard_normal(x.size)
        res = _compare(jvp(v), fd_derivative(fun, x, v), rtol, atol_rel,
                       "JVP along random directions")
        if worst is None or res.max_error > worst.max_error:
            worst = res
    return worst


def check_vjp(fun, x, vjp, rng, n_directions=DEFAULT_DIRECTIONS,
              rtol=FD_RTOL, atol_rel=FD_ATOL_REL):
    """Check ``<u, J v> = <vjp(u), v>`` by random projection.

    The left side is a central difference of ``<u, fun(x + h v)>``, the right
    the analytic VJP; each pair is compared relative to
    ``max(|<u, J v>|, |J^T u| |v|)``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array (m...)``.
    x : array_like, shape (n,)
    vjp : callable
        ``vjp(u) -> array (n,)`` for ``u`` of the output's shape.
    rng : numpy.random.Generator

    Returns
    -------
    result : CheckResult
    """
    x = _as_vector("x", x)
    rng = val.check_rng(rng)
    shape = np.shape(fun(x))
    worst = 0.0
    for _ in range(n_directions):
        u = rng.standard_normal(shape)
        v = rng.standard_normal(x.size)
        lhs = float(np.sum(u * fd_derivative(fun, x, v)))
        g = np.asarray(vjp(u), dtype=np.float64)
        if not np.isfinite(g).all():
            return CheckResult(False, np.inf, rtol, "VJP (non-finite values)")
        rhs = float(g @ v)
        scale = max(abs(lhs), np.linalg.norm(g) * np.linalg.norm(v), 1e-300)
        worst = max(worst, abs(lhs - rhs) / scale)
    return CheckResult(worst <= rtol, worst, rtol, "<u, J v> against <J^T u, v>")
