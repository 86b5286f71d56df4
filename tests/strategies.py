"""Hypothesis strategies for small random RNN problems.

Every strategy draws its sizes as *mutually distinct* small integers (so a
transposed index cannot pass a test by accident) and one integer seed; the
arrays themselves come from ``numpy.random.default_rng(seed)``, so a failing
example is reproduced exactly from the seed and the sizes hypothesis prints.

Letters: ``N`` hidden units, ``D`` inputs, ``O`` outputs, ``B`` sequences,
``T`` steps.

Use::

    from strategies import models, problems, trainable_subsets

    @given(problems(cell="elman", trainable=("W", "C")))
    def test_something(pb):
        pb.model, pb.X, pb.Y_target
"""

import itertools
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from hypothesis import strategies as st

from sntk_ref.cells import CELLS
from sntk_ref.model import BLOCK_ORDER, RNN

#: Smallest and largest size drawn for any of N, D, O, B, T.
MIN_SIZE, MAX_SIZE = 1, 6

#: Smallest hidden size (2 so that W has off-diagonal entries).
MIN_HIDDEN = 2

#: Euler steps drawn when a test does not fix ``dt``.
EULER_DTS = (1.0, 0.5, 0.25)

#: Recurrent gain of the drawn models (contracting, O(1) derivatives).
GAIN = 0.9

#: Scale of the non-zero readout bias ``d`` and initial state ``h0`` drawn.
OFFSET_SCALE = 0.3

#: Every subset of the parameter blocks, each in SPEC 1.2 order.
ALL_SUBSETS = tuple(
    tuple(name for name in BLOCK_ORDER if name in chosen)
    for k in range(len(BLOCK_ORDER) + 1)
    for chosen in itertools.combinations(BLOCK_ORDER, k)
)


@dataclass(frozen=True)
class Problem:
    """A model with inputs and targets.

    Attributes
    ----------
    model : RNN
    X : ndarray, shape (B, T, D)
    Y_target : ndarray, shape (B, T, O)
    seed : int
        Seed of the generator that drew the arrays.
    """

    model: RNN
    X: np.ndarray
    Y_target: np.ndarray
    seed: int

    @property
    def sizes(self):
        """dict with N, D, O, B, T."""
        m = self.model
        B, T = self.X.shape[:2]
        return {"N": m.n_hidden, "D": m.n_in, "O": m.n_out, "B": B, "T": T}


def distinct_sizes(k, min_value=MIN_SIZE, max_value=MAX_SIZE):
    """``k`` mutually distinct integers in ``[min_value, max_value]``."""
    return st.lists(st.integers(min_value, max_value), min_size=k, max_size=k,
                    unique=True)


def trainable_subsets(min_size=0):
    """A tuple of block names in SPEC 1.2 order (possibly empty)."""
    return st.sampled_from([s for s in ALL_SUBSETS if len(s) >= min_size])


def seeds():
    """Seeds for ``numpy.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


def make_model(rng, n_hidden, n_in, n_out, cell="euler", dt=1.0,
               trainable=("W", "U", "b")):
    """Draw an RNN with every block non-zero (``d``, ``h0`` included).

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    model : RNN
    """
    model = RNN.random(n_hidden, n_in, n_out, rng=rng, cell=cell, dt=dt,
                       gain=GAIN, trainable=trainable)
    return model.replace(
        d=OFFSET_SCALE * rng.standard_normal(n_out),
        h0=OFFSET_SCALE * rng.standard_normal(n_hidden),
    )


def make_problem(seed, sizes, cell="euler", dt=1.0, trainable=("W", "U", "b")):
    """A :class:`Problem` from a seed and ``sizes`` (dict with N, D, O, B, T)."""
    rng = np.random.default_rng(seed)
    model = make_model(rng, sizes["N"], sizes["D"], sizes["O"], cell=cell,
                       dt=dt, trainable=trainable)
    X = rng.standard_normal((sizes["B"], sizes["T"], sizes["D"]))
    Y = rng.standard_normal((sizes["B"], sizes["T"], sizes["O"]))
    return Problem(model, X, Y, seed)


def _cell_and_dt(draw, cell, dt):
    cell = draw(st.sampled_from(CELLS)) if cell is None else cell
    if dt is None:
        dt = draw(st.sampled_from(EULER_DTS)) if cell == "euler" else 1.0
    return cell, dt


@st.composite
def models(draw, cell=None, trainable=None, dt=None):
    """An :class:`RNN` with distinct sizes ``N``, ``D``, ``O``.

    Parameters
    ----------
    cell : {"elman", "euler"}, optional
        Drawn when omitted.
    trainable : tuple of str, optional
        Drawn from every subset of the blocks when omitted.
    dt : float, optional
        Drawn from :data:`EULER_DTS` for euler when omitted.
    """
    cell, dt = _cell_and_dt(draw, cell, dt)
    trainable = draw(trainable_subsets()) if trainable is None else trainable
    n, n_in, n_out = draw(distinct_sizes(3).filter(lambda s: s[0] >= MIN_HIDDEN))
    rng = np.random.default_rng(draw(seeds()))
    return make_model(rng, n, n_in, n_out, cell=cell, dt=dt, trainable=trainable)


@st.composite
def problems(draw, cell=None, trainable=None, dt=None, max_steps=MAX_SIZE):
    """A :class:`Problem` with mutually distinct ``N, D, O, B, T``.

    Parameters
    ----------
    cell, trainable, dt
        As for :func:`models`.
    max_steps : int
        Largest ``T`` (smaller values keep expensive tests fast).
    """
    cell, dt = _cell_and_dt(draw, cell, dt)
    trainable = draw(trainable_subsets()) if trainable is None else trainable
    T = draw(st.integers(MIN_SIZE, max_steps))
    rest = draw(distinct_sizes(4).filter(
        lambda s: s[0] >= MIN_HIDDEN and T not in s))
    sizes = dict(zip("NDOBT", (*rest, T)))
    return make_problem(draw(seeds()), sizes, cell=cell, dt=dt,
                        trainable=trainable)


def sizes_from_seed(seed, max_value=5):
    """Mutually distinct ``N, D, O, B, T`` (``N >= 2``) drawn from ``seed``.

    For parametrised (non-hypothesis) tests that still want random, distinct
    sizes.
    """
    rng = np.random.default_rng(seed)
    while True:
        draw = rng.choice(np.arange(MIN_SIZE, max_value + 1), 5, replace=False)
        if draw[0] >= MIN_HIDDEN:
            return dict(zip("NDOBT", (int(v) for v in draw)))


# -- an independent reference forward pass in autograd.numpy -----------------
# Written from SPEC 1.1-1.3 only (no sntk_ref code on the traced path), and
# built by list append + stack, never slice assignment (CASES C05), so that
# autograd can trace it.

def reference_blocks(model, theta):
    """All six blocks, the trainable ones read from ``theta (P,)``.

    The offsets follow SPEC 1.2 directly (blocks W, U, b, C, d, h0, each
    row-major), not ``model.param_slices``.
    """
    blocks, start = {}, 0
    for name in BLOCK_ORDER:
        fixed = getattr(model, name)
        if name in model.trainable:
            stop = start + fixed.size
            blocks[name] = anp.reshape(theta[start:stop], fixed.shape)
            start = stop
        else:
            blocks[name] = fixed
    return blocks


def reference_states(model, theta, X, h0=None):
    """States ``H (B, T, N)`` by the plain recursion of SPEC 1.1 and 1.3."""
    p = reference_blocks(model, theta)
    W, U, b, dt = p["W"], p["U"], p["b"], model.dt
    B, T = X.shape[:2]
    h = p["h0"] if h0 is None else h0
    h = h + anp.zeros((B, model.n_hidden))
    states = []
    for t in range(T):
        drive = anp.dot(X[:, t], U.T) + b
        if model.cell == "elman":
            h = anp.tanh(anp.dot(h, W.T) + drive)
        else:
            h = h + dt * (-h + anp.dot(anp.tanh(h), W.T) + drive)
        states.append(h)
    return anp.stack(states, axis=1)


def reference_outputs(model, theta, X, h0=None):
    """Outputs ``Y = H C^T + d``, shape (B, T, O)."""
    p = reference_blocks(model, theta)
    return anp.dot(reference_states(model, theta, X, h0), p["C"].T) + p["d"]


def reference_loss(model, theta, X, Y_target, h0=None):
    """``L = 1/(2 B T) sum |y - y*|^2`` (SPEC 1.3)."""
    resid = reference_outputs(model, theta, X, h0) - Y_target
    return 0.5 * anp.sum(resid * resid) / (X.shape[0] * X.shape[1])
