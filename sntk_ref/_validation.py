"""Argument checks shared by every public function.

Each check raises a ``TypeError`` (wrong kind of object or dtype) or a
``ValueError`` (wrong shape, non-finite entries, value out of range) whose
message names the argument, what was expected and what was received.

Dtype policy (all of ``sntk_ref``): every array is computed in float64.
Real integer, boolean and float32 input is upcast to float64 silently (this is
documented on every public function that takes arrays); complex and object
arrays are refused, never cast.
"""

import numbers

import numpy as np

__all__ = [
    "as_real_array",
    "check_choice",
    "check_result_finite",
    "check_finite",
    "check_positive_int",
    "check_rng",
    "check_scalar",
]


def _describe(value):
    """A short description of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:120]


def as_real_array(name, value, ndim=None, shape=None, finite=True):
    """Return ``value`` as a float64 array after checking it.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    value : array_like
        The user's input.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any size. Its length fixes
        ``ndim``.
    finite : bool
        Whether NaN and infinite entries are refused.

    Returns
    -------
    out : ndarray of float64
        A new array (never a view of ``value``).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real array, got {_describe(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        # numpy refuses ragged nested sequences before any check can run
        raise TypeError(
            f"{name} must be a real numeric array, got ragged or mixed input "
            f"({exc})"
        ) from exc
    if arr.dtype == object:
        raise TypeError(
            f"{name} must be a real numeric array, got dtype object "
            "(ragged or mixed input?)"
        )
    if np.iscomplexobj(arr):
        raise TypeError(
            f"{name} must be real, got complex dtype {arr.dtype}; sntk_ref "
            "never drops an imaginary part silently"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64, copy=True)

    if shape is not None:
        ndim = len(shape)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(k) for k in allowed)
            raise ValueError(
                f"{name} must have {want} dimensions, got shape {arr.shape}"
            )
    if shape is not None:
        for got, want in zip(arr.shape, shape):
            if want is not None and got != want:
                raise ValueError(
                    f"{name} must have shape {_shape_str(shape)}, "
                    f"got {arr.shape}"
                )
    if finite:
        check_finite(name, arr)
    return arr


def _shape_str(shape):
    """``shape`` as Python prints a tuple, ``None`` entries as ``*``."""
    parts = ["*" if s is None else str(s) for s in shape]
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"


def check_finite(name, arr):
    """Raise ``ValueError`` naming the first non-finite entry of ``arr``."""
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be finite, but {int(bad.sum())} entries are not "
            f"(first at index {first}: {arr[first]})"
        )


def check_scalar(name, value, low=None, high=None, low_open=False,
                 high_open=False):
    """Return ``value`` as a finite Python float in the given interval."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, numbers.Real
    ):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    too_low = low is not None and (out <= low if low_open else out < low)
    too_high = high is not None and (out >= high if high_open else out > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(
            f"{name} must lie in {left}{lo}, {hi}{right}, got {out}"
        )
    return out


def check_positive_int(name, value, minimum=1):
    """Return ``value`` as an ``int`` at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, numbers.Integral
    ):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise."""
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {tuple(choices)}, got {value!r}"
        )
    return value


def check_rng(rng, name="rng"):
    """Return ``rng`` if it is a ``numpy.random.Generator``.

    ``sntk_ref`` never seeds or uses the global random state: every random
    draw goes through a generator the caller passes.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator "
            f"(numpy.random.default_rng(seed)), got {_describe(rng)}"
        )
    return rng


def check_result_finite(what, *arrays):
    """Raise ``FloatingPointError`` if a computed result is not finite.

    For results, not inputs: finite weights and inputs can still overflow in
    a product (squared residuals, cotangents through a huge ``W``). Nothing
    non-finite is returned silently.
    """
    for arr in arrays:
        arr = np.asarray(arr)
        if not np.isfinite(arr).all():
            raise FloatingPointError(
                f"{what} is not finite (overflow or NaN in the computation: "
                "weights, inputs or targets too large for float64?)"
            )
