"""Forward pass, readout and loss (SPEC 1.3).

Letters: ``B`` sequences, ``T`` steps, ``D`` inputs, ``N`` hidden units, ``O``
outputs. ``H[b, t]`` is the state **after** input ``X[b, t]``, i.e.
``h_{t+1}``; the initial state is not part of ``H``.

Arrays are validated and upcast to float64 (integer and float32 input is
accepted and converted; complex, object and non-finite input is refused).
"""

import numpy as np

from . import _validation as val
from .cells import step
from .model import RNN

__all__ = ["TrajectoryError", "forward", "loss", "outputs", "rollout"]


class TrajectoryError(FloatingPointError):
    """A trajectory left the finite floats (overflow or NaN)."""


def check_model(model):
    """Raise ``TypeError`` unless ``model`` is an :class:`RNN`."""
    if not isinstance(model, RNN):
        raise TypeError(f"model must be an sntk_ref.RNN, got {type(model).__name__}")
    return model


def check_inputs(model, X, h0=None):
    """Validate ``X (B, T, D)`` and ``h0`` and return them as float64.

    Returns
    -------
    X : ndarray, shape (B, T, D)
    h0 : ndarray, shape (B, N)
        ``model.h0`` broadcast when ``h0`` is None.
    """
    check_model(model)
    X = val.as_real_array("X", X, shape=(None, None, model.n_in))
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have B >= 1 and T >= 1, got shape {X.shape}")
    n_seq, n = X.shape[0], model.n_hidden

    if h0 is None:
        return X, np.tile(model.h0, (n_seq, 1))
    if "h0" in model.trainable:
        raise ValueError(
            "h0 is a trainable block of this model, so the initial state is "
            "model.h0; pass h0=None (or make h0 frozen) instead of an h0 array"
        )
    h0 = val.as_real_array("h0", h0, ndim=(1, 2))
    if h0.shape == (n,):
        return X, np.tile(h0, (n_seq, 1))
    if h0.shape != (n_seq, n):
        raise ValueError(
            f"h0 must have shape (N,) = ({n},) or (B, N) = ({n_seq}, {n}), "
            f"got {h0.shape}"
        )
    return X, h0


def rollout(model, X, h0):
    """Run the cell over validated inputs, keeping each step's cache.

    Parameters
    ----------
    model : RNN
    X : ndarray, shape (B, T, D)
    h0 : ndarray, shape (B, N)

    Returns
    -------
    H : ndarray, shape (B, T, N)
    caches : list of T :class:`sntk_ref.cells.StepCache`

    Raises
    ------
    TrajectoryError
        At the first step and sequence whose state is not finite.
    """
    T = X.shape[1]
    H = np.empty((X.shape[0], T, model.n_hidden))
    caches = []
    h = h0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            h, cache = step(model.cell, h, X[:, t], model.W, model.U,
                            model.b, model.dt)
            bad = ~np.isfinite(h).all(axis=1)
            if bad.any():
                raise TrajectoryError(
                    f"the trajectory is not finite at step t={t} (0-based) "
                    f"of sequence b={int(np.argmax(bad))}: the state "
                    "overflowed or became NaN"
                )
            H[:, t] = h
            caches.append(cache)
    return H, caches


def forward(model, X, h0=None):
    """States after each input (SPEC 1.3).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    h0 : array_like, shape (N,) or (B, N), optional
        Initial state; ``model.h0`` when omitted (and required when ``h0`` is
        trainable).

    Returns
    -------
    H : ndarray, shape (B, T, N)
        ``H[b, t] = h_{t+1}``.
    """
    X, h0 = check_inputs(model, X, h0)
    return rollout(model, X, h0)[0]


def outputs(model, H):
    """Readout ``Y = H C^T + d``.

    Parameters
    ----------
    model : RNN
    H : array_like, shape (B, T, N)

    Returns
    -------
    Y : ndarray, shape (B, T, O)
    """
    check_model(model)
    H = val.as_real_array("H", H, shape=(None, None, model.n_hidden))
    return H @ model.C.T + model.d


def check_targets(model, X, Y_target):
    """Validate ``Y_target (B, T, O)`` against ``X (B, T, D)``."""
    B, T = X.shape[:2]
    return val.as_real_array("Y_target", Y_target, shape=(B, T, model.n_out))


def loss(model, X, Y_target, h0=None):
    """The squared loss ``L = 1/(2 B T) sum_{b,t} |y_bt - y*_bt|^2`` (SPEC 1.3).

    Parameters
    ----------
    model : RNN
    X : array_like, shape (B, T, D)
    Y_target : array_like, shape (B, T, O)
    h0 : array_like, shape (N,) or (B, N), optional

    Returns
    -------
    L : float
    """
    X, h0 = check_inputs(model, X, h0)
    Y_target = check_targets(model, X, Y_target)
    resid = outputs(model, rollout(model, X, h0)[0]) - Y_target
    return 0.5 * float(np.sum(resid * resid)) / (X.shape[0] * X.shape[1])
