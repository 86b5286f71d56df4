"""The RNN container and the parameter order (SPEC 1.1-1.2).

Letters: ``N`` hidden units, ``D`` inputs, ``O`` outputs, ``P`` trainable
parameters. Blocks, always in the order ``W (N, N)``, ``U (N, D)``, ``b (N,)``,
``C (O, N)``, ``d (O,)``, ``h0 (N,)``; ``theta`` concatenates the trainable
ones in that order, each row-major (C order).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import _validation as val
from .cells import CELLS

__all__ = ["BLOCK_ORDER", "DEFAULT_TRAINABLE", "RNN"]

#: Parameter blocks in the fixed order of SPEC 1.2.
BLOCK_ORDER = ("W", "U", "b", "C", "d", "h0")

#: Blocks trained unless a model says otherwise.
DEFAULT_TRAINABLE = ("W", "U", "b")

#: Standard deviation of the biases drawn by :meth:`RNN.random`.
RANDOM_BIAS_SCALE = 0.1


def _readonly(arr):
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class RNN:
    """An RNN with an ``elman`` or ``euler`` cell and a linear readout.

    Immutable: the arrays are float64 copies marked read-only, and every
    change (:meth:`with_theta`, :meth:`replace`) returns a new model.
    Integer and float32 arrays are upcast to float64; complex, object and
    non-finite arrays are refused.

    Parameters
    ----------
    cell : {"elman", "euler"}
        ``elman``: ``h' = tanh(W h + U x + b)``; ``euler``:
        ``h' = h + dt (-h + W tanh(h) + U x + b)`` (SPEC 1.1).
    W : array_like, shape (N, N)
    U : array_like, shape (N, D)
    b : array_like, shape (N,)
    C : array_like, shape (O, N)
    d : array_like, shape (O,)
    h0 : array_like, shape (N,), optional
        Default initial state (zeros if omitted).
    dt : float
        Euler step, ``0 < dt <= 1``; checked for both cells, used by
        ``euler`` only.
    trainable : tuple of str
        Trainable blocks, a subset of :data:`BLOCK_ORDER` (stored in that
        order).
    """

    cell: str
    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    C: np.ndarray
    d: np.ndarray
    h0: np.ndarray = None
    dt: float = 1.0
    trainable: tuple = DEFAULT_TRAINABLE

    def __post_init__(self):
        set_ = object.__setattr__
        if not isinstance(self.cell, str):
            raise TypeError(f"cell must be a string, got {self.cell!r}")
        val.check_choice("cell", self.cell, CELLS)

        W = val.as_real_array("W", self.W, ndim=2)
        n = W.shape[0]
        if W.shape != (n, n):
            raise ValueError(f"W must be square (N, N), got shape {W.shape}")
        U = val.as_real_array("U", self.U, shape=(n, None))
        b = val.as_real_array("b", self.b, shape=(n,))
        C = val.as_real_array("C", self.C, shape=(None, n))
        d = val.as_real_array("d", self.d, shape=(C.shape[0],))
        h0 = np.zeros(n) if self.h0 is None else self.h0
        h0 = val.as_real_array("h0", h0, shape=(n,))
        for name, arr in zip(BLOCK_ORDER, (W, U, b, C, d, h0)):
            set_(self, name, _readonly(arr))

        set_(self, "dt", val.check_scalar("dt", self.dt, 0.0, 1.0, low_open=True))
        set_(self, "trainable", _check_trainable(self.trainable))

    # -- sizes ---------------------------------------------------------------
    @property
    def n_hidden(self):
        """``N``, the number of hidden units."""
        return self.W.shape[0]

    @property
    def n_in(self):
        """``D``, the input size."""
        return self.U.shape[1]

    @property
    def n_out(self):
        """``O``, the output size."""
        return self.C.shape[0]

    @property
    def param_slices(self):
        """dict mapping each trainable block name to its slice of ``theta``."""
        out, start = {}, 0
        for name in self.trainable:
            size = getattr(self, name).size
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def n_params(self):
        """``P``, the number of trainable parameters."""
        return sum(getattr(self, name).size for name in self.trainable)

    # -- theta <-> blocks ----------------------------------------------------
    @property
    def theta(self):
        """ndarray, shape (P,): the trainable blocks, flat, in SPEC 1.2 order."""
        parts = [getattr(self, name).ravel() for name in self.trainable]
        return np.concatenate(parts) if parts else np.zeros(0)

    def with_theta(self, theta):
        """A new model whose trainable blocks are read from ``theta (P,)``."""
        theta = val.as_real_array("theta", theta, shape=(self.n_params,))
        new = {
            name: theta[sl].reshape(getattr(self, name).shape)
            for name, sl in self.param_slices.items()
        }
        return self.replace(**new)

    def split(self, vector, name="vector"):
        """Split a parameter-space vector into blocks.

        Parameters
        ----------
        vector : ndarray, shape (P,) or (P, K)

        Returns
        -------
        blocks : dict
            name -> array of the block's shape (with a trailing ``K`` axis when
            ``vector`` has two dimensions); absent for frozen blocks.
        """
        vector = np.asarray(vector)
        if vector.shape[:1] != (self.n_params,):
            raise ValueError(
                f"{name} must have leading dimension P = {self.n_params}, "
                f"got shape {vector.shape}"
            )
        tail = vector.shape[1:]
        return {
            name: vector[sl].reshape(getattr(self, name).shape + tail)
            for name, sl in self.param_slices.items()
        }

    def replace(self, **fields):
        """A new model with some fields replaced (validated again)."""
        return dataclasses.replace(self, **fields)

    def as_system(self, x=None, view="map"):
        """This RNN under a constant input as a dynamical system (SPEC 4.1).

        See :func:`sntk_ref.dynamics.system.rnn_system`; derivatives come from
        the hand-written forms of the cells. The import is deferred because
        the dynamics layer sits above the model in the package.

        Parameters
        ----------
        x : array_like, shape (D,), optional
            The constant input (zeros when omitted).
        view : {"map", "flow"}
            The cell's map, or (``euler`` only) its vector field.
        """
        from .dynamics.system import rnn_system

        return rnn_system(self, x=x, view=view)

    # -- construction --------------------------------------------------------
    @classmethod
    def random(cls, n_hidden, n_in, n_out, *, rng, cell="euler", dt=1.0,
               gain=0.9, trainable=DEFAULT_TRAINABLE):
        """Draw a model with standard scalings.

        Draws, in this order: ``W ~ Normal(0, gain^2 / N)``,
        ``U ~ Normal(0, 1 / D)``, ``b ~ Normal(0, 0.1^2)``,
        ``C ~ Normal(0, 1 / N)``; ``d = 0``, ``h0 = 0``.

        Parameters
        ----------
        n_hidden, n_in, n_out : int
            ``N``, ``D``, ``O``.
        rng : numpy.random.Generator
        cell : {"elman", "euler"}
        dt : float
        gain : float
            Spectral scale of ``W`` (about its spectral radius for large N).
        trainable : tuple of str

        Returns
        -------
        model : RNN
        """
        n = val.check_positive_int("n_hidden", n_hidden)
        n_in = val.check_positive_int("n_in", n_in)
        n_out = val.check_positive_int("n_out", n_out)
        gain = val.check_scalar("gain", gain, 0.0)
        rng = val.check_rng(rng)

        W = rng.normal(0.0, gain / np.sqrt(n), (n, n))
        U = rng.normal(0.0, 1.0 / np.sqrt(n_in), (n, n_in))
        b = rng.normal(0.0, RANDOM_BIAS_SCALE, n)
        C = rng.normal(0.0, 1.0 / np.sqrt(n), (n_out, n))
        return cls(cell, W, U, b, C, np.zeros(n_out), dt=dt,
                   trainable=trainable)

    def __repr__(self):
        return (
            f"RNN(cell={self.cell!r}, N={self.n_hidden}, D={self.n_in}, "
            f"O={self.n_out}, dt={self.dt}, trainable={self.trainable}, "
            f"P={self.n_params})"
        )

    def __eq__(self, other):
        if not isinstance(other, RNN):
            return NotImplemented
        same = (self.cell, self.dt, self.trainable) == (
            other.cell, other.dt, other.trainable)
        return same and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in BLOCK_ORDER
        )

    __hash__ = None


def _check_trainable(trainable):
    if isinstance(trainable, str) or not isinstance(trainable, (tuple, list)):
        raise TypeError(
            f"trainable must be a tuple of block names from {BLOCK_ORDER}, "
            f"got {trainable!r}"
        )
    for name in trainable:
        if name not in BLOCK_ORDER:
            raise ValueError(
                f"trainable names an unknown block {name!r}; blocks are "
                f"{BLOCK_ORDER}"
            )
    if len(set(trainable)) != len(trainable):
        raise ValueError(f"trainable repeats a block: {trainable!r}")
    return tuple(name for name in BLOCK_ORDER if name in trainable)
