"""Tests of sntk_ref.model: the RNN container, theta order, RNN.random."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings

from sntk_ref.model import BLOCK_ORDER, DEFAULT_TRAINABLE, RNN

from strategies import ALL_SUBSETS, models, trainable_subsets

N, D, O = 4, 3, 2


def blocks(seed=0, n=N, n_in=D, n_out=O):
    """Six distinct, easily recognised blocks (entry = a unique value)."""
    rng = np.random.default_rng(seed)
    shapes = {"W": (n, n), "U": (n, n_in), "b": (n,), "C": (n_out, n),
              "d": (n_out,), "h0": (n,)}
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


def build(trainable=DEFAULT_TRAINABLE, cell="euler", dt=0.5, **over):
    kw = blocks()
    kw.update(over)
    return RNN(cell, kw["W"], kw["U"], kw["b"], kw["C"], kw["d"], h0=kw["h0"],
               dt=dt, trainable=trainable)


# -- sizes, theta order -------------------------------------------------------
def test_sizes_and_defaults():
    m = build()
    assert (m.n_hidden, m.n_in, m.n_out) == (N, D, O)
    assert m.trainable == ("W", "U", "b")
    assert m.n_params == N * N + N * D + N
    bare = RNN("elman", np.eye(2), np.ones((2, 3)), np.zeros(2),
               np.ones((1, 2)), np.zeros(1))
    assert np.array_equal(bare.h0, np.zeros(2)) and bare.dt == 1.0


@pytest.mark.parametrize("trainable", ALL_SUBSETS, ids=lambda s: "-".join(s)
                         or "none")
def test_theta_is_spec_order_row_major(trainable):
    b = blocks()
    m = build(trainable=trainable)
    # SPEC 1.2 written out: blocks in the fixed order, each flattened by rows
    want = []
    for name in ("W", "U", "b", "C", "d", "h0"):
        if name in trainable:
            arr = b[name]
            want += [arr[idx] for idx in np.ndindex(arr.shape)]
    assert m.theta.shape == (m.n_params,) == (len(want),)
    assert np.array_equal(m.theta, np.array(want, dtype=float))
    for name, sl in m.param_slices.items():
        assert np.array_equal(m.theta[sl].reshape(b[name].shape), b[name])
    split = m.split(m.theta)
    assert set(split) == set(trainable)


def test_trainable_is_stored_in_block_order():
    m = build(trainable=["h0", "b", "W"])
    assert m.trainable == ("W", "b", "h0")
    assert list(m.param_slices) == ["W", "b", "h0"]


# -- immutability --------------------------------------------------------------
def test_arrays_are_read_only_copies():
    b = blocks()
    m = build()
    for name in BLOCK_ORDER:
        arr = getattr(m, name)
        assert arr.dtype == np.float64 and not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[...] = 0.0
    # changing the caller's array afterwards does not change the model
    W = b["W"].copy()
    m2 = build(W=W)
    W[0, 0] += 1.0
    assert m2.W[0, 0] == b["W"][0, 0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.W = np.eye(N)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.dt = 0.1


def test_theta_copy_does_not_alias_the_model():
    m = build(trainable=("W",))
    th = m.theta
    th[:] = 0.0
    assert np.array_equal(m.W, blocks()["W"])


@settings(max_examples=20)
@given(models())
def test_with_theta_round_trip_and_new_model(m):
    rng = np.random.default_rng(m.n_hidden)
    new_theta = rng.standard_normal(m.n_params)
    old_theta = m.theta.copy()
    m2 = m.with_theta(new_theta)
    assert m2 is not m and isinstance(m2, RNN)
    assert np.array_equal(m2.theta, new_theta)
    assert np.array_equal(m.theta, old_theta)           # original untouched
    assert m.with_theta(m.theta) == m
    for name in BLOCK_ORDER:                             # frozen blocks kept
        if name not in m.trainable:
            assert np.array_equal(getattr(m2, name), getattr(m, name))
    assert (m2.cell, m2.dt, m2.trainable) == (m.cell, m.dt, m.trainable)


def test_with_theta_wrong_length_names_theta():
    m = build()
    with pytest.raises(ValueError, match="theta"):
        m.with_theta(np.zeros(m.n_params + 1))
    with pytest.raises(TypeError, match="theta"):
        m.with_theta(np.zeros(m.n_params, dtype=complex))
    with pytest.raises(ValueError, match="theta"):
        m.with_theta(np.full(m.n_params, np.nan))


def test_with_theta_shape_message_prints_a_one_tuple():
    m = build()
    want = f"theta must have shape ({m.n_params},), got ({m.n_params + 1},)"
    with pytest.raises(ValueError) as err:
        m.with_theta(np.zeros(m.n_params + 1))
    assert want in str(err.value)


def test_replace_validates_again():
    m = build()
    m2 = m.replace(trainable=("C",))
    assert m2.trainable == ("C",) and m.trainable == ("W", "U", "b")
    with pytest.raises(ValueError, match="W"):
        m.replace(W=np.zeros((N, N + 1)))


def test_float32_and_int_are_upcast():
    b = blocks()
    m = RNN("elman", b["W"].astype(np.float32), np.ones((N, D), dtype=int),
            b["b"], b["C"], b["d"])
    for name in BLOCK_ORDER:
        assert getattr(m, name).dtype == np.float64
    assert m.theta.dtype == np.float64
    assert np.array_equal(m.W, b["W"].astype(np.float32).astype(np.float64))


# -- bad input ----------------------------------------------------------------
BAD = [
    ("W", dict(W=np.zeros((N, N + 1))), ValueError),
    ("W", dict(W=np.zeros(N)), ValueError),
    ("U", dict(U=np.zeros((N + 1, D))), ValueError),
    ("b", dict(b=np.zeros(N + 1)), ValueError),
    ("C", dict(C=np.zeros((O, N + 1))), ValueError),
    ("d", dict(d=np.zeros(O + 1)), ValueError),
    ("h0", dict(h0=np.zeros((1, N))), ValueError),
    ("W", dict(W=np.eye(N) * (1 + 1j)), TypeError),
    ("U", dict(U=np.zeros((N, D), dtype=object)), TypeError),
    ("b", dict(b=[0.0, [1.0], 2.0, 3.0]), TypeError),
    ("C", dict(C="C"), TypeError),
    ("W", dict(W=np.full((N, N), np.nan)), ValueError),
    ("U", dict(U=np.full((N, D), np.inf)), ValueError),
    ("h0", dict(h0=np.array([0.0, -np.inf, 0.0, 0.0])), ValueError),
    ("dt", dict(dt=0.0), ValueError),
    ("dt", dict(dt=-0.1), ValueError),
    ("dt", dict(dt=1.5), ValueError),
    ("dt", dict(dt=np.nan), ValueError),
    ("dt", dict(dt="0.5"), TypeError),
    ("cell", dict(cell="lstm"), ValueError),
    ("cell", dict(cell=None), TypeError),
    ("trainable", dict(trainable=("W", "V")), ValueError),
    ("trainable", dict(trainable="W"), TypeError),
    ("trainable", dict(trainable=("W", "W")), ValueError),
]


@pytest.mark.parametrize("name, over, exc", BAD,
                         ids=[f"{i}-{n}" for i, (n, _, _) in enumerate(BAD)])
def test_bad_input_names_the_argument(name, over, exc):
    kw = dict(over)
    cell = kw.pop("cell", "euler")
    dt = kw.pop("dt", 0.5)
    trainable = kw.pop("trainable", DEFAULT_TRAINABLE)
    with pytest.raises(exc, match=rf"^{name}\b"):
        build(trainable=trainable, cell=cell, dt=dt, **kw)


# -- RNN.random ---------------------------------------------------------------
@settings(max_examples=10)
@given(trainable_subsets())
def test_random_is_reproducible_bit_for_bit(trainable):
    a = RNN.random(5, 2, 3, rng=np.random.default_rng(42), cell="elman",
                   trainable=trainable)
    b = RNN.random(5, 2, 3, rng=np.random.default_rng(42), cell="elman",
                   trainable=trainable)
    c = RNN.random(5, 2, 3, rng=np.random.default_rng(43), cell="elman",
                   trainable=trainable)
    for name in BLOCK_ORDER:
        x, y = getattr(a, name), getattr(b, name)
        assert x.tobytes() == y.tobytes()
    assert a == b and a != c


def test_random_documented_draws():
    """Draw order and scalings as documented: W, U, b, C; d = h0 = 0."""
    n, n_in, n_out, gain = 7, 3, 2, 0.6
    m = RNN.random(n, n_in, n_out, rng=np.random.default_rng(5), gain=gain)
    rng = np.random.default_rng(5)
    W = rng.normal(0.0, gain / np.sqrt(n), (n, n))
    U = rng.normal(0.0, 1.0 / np.sqrt(n_in), (n, n_in))
    b = rng.normal(0.0, 0.1, n)
    C = rng.normal(0.0, 1.0 / np.sqrt(n), (n_out, n))
    for name, want in zip("WUbC", (W, U, b, C)):
        assert np.array_equal(getattr(m, name), want)
    assert np.all(m.d == 0) and np.all(m.h0 == 0)
    assert m.cell == "euler" and m.dt == 1.0


@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0), "rng"])
def test_random_requires_a_generator(rng):
    with pytest.raises(TypeError, match="rng"):
        RNN.random(3, 2, 1, rng=rng)


def test_random_bad_sizes_and_options():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_hidden"):
        RNN.random(0, 2, 1, rng=rng)
    with pytest.raises(TypeError, match="n_in"):
        RNN.random(3, 2.5, 1, rng=rng)
    with pytest.raises(ValueError, match="n_out"):
        RNN.random(3, 2, -1, rng=rng)
    with pytest.raises(ValueError, match="dt"):
        RNN.random(3, 2, 1, rng=rng, dt=2.0)
    with pytest.raises(ValueError, match="cell"):
        RNN.random(3, 2, 1, rng=rng, cell="gru")
    with pytest.raises(ValueError, match="gain"):
        RNN.random(3, 2, 1, rng=rng, gain=-1.0)


def test_equality_and_unhashable():
    assert build() == build() and build() != build(dt=0.25)
    assert build() != build(trainable=("W",))
    with pytest.raises(TypeError):
        hash(build())
