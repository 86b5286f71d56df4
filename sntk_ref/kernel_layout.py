"""Layout of a state-space kernel: six indices versus a square matrix.

SPEC 3.1 stores the kernel either with six indices, ``K[b, t, i, b', s, j]``
of shape ``(B, T, N, B, T, N)``, or flattened to a square matrix of shape
``(B T N, B T N)`` whose rows and columns are ordered ``(b, t, i)`` (row-major,
unit index fastest). These two functions convert between the layouts; they
move no numbers, so the result is a view whenever the input is contiguous.

Letters: ``B`` sequences, ``T`` time steps, ``N`` hidden units.
"""

import numpy as np

from sntk_ref._validation import check_positive_int

__all__ = ["flatten_kernel", "unflatten_kernel"]


def _as_numeric(name, value):
    """``value`` as an ndarray of numbers, without copying it."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def flatten_kernel(K6):
    """Flatten a six-index kernel to a square matrix (SPEC 3.1).

    Parameters
    ----------
    K6 : ndarray, shape (B, T, N, B, T, N)
        Kernel with six indices; the last three axes must repeat the first
        three.

    Returns
    -------
    K : ndarray, shape (B T N, B T N)
        Rows and columns ordered ``(b, t, i)``; a view of ``K6`` when ``K6``
        is C-contiguous. The dtype is kept.
    """
    K6 = _as_numeric("K6", K6)
    if K6.ndim != 6:
        raise ValueError(
            f"K6 must have 6 dimensions (B, T, N, B, T, N), got shape {K6.shape}"
        )
    if K6.shape[:3] != K6.shape[3:]:
        raise ValueError(
            "K6 must have shape (B, T, N, B, T, N) with the last three sizes "
            f"equal to the first three, got {K6.shape}"
        )

    n = int(np.prod(K6.shape[:3]))
    return K6.reshape(n, n)


def unflatten_kernel(K, B, T, N):
    """Restore the six-index layout of a flattened kernel (SPEC 3.1).

    Parameters
    ----------
    K : ndarray, shape (B T N, B T N)
        Square kernel with rows and columns ordered ``(b, t, i)``.
    B, T, N : int
        Sequences, time steps and hidden units.

    Returns
    -------
    K6 : ndarray, shape (B, T, N, B, T, N)
        A view of ``K`` when ``K`` is C-contiguous. The dtype is kept.
    """
    K = _as_numeric("K", K)
    B = check_positive_int("B", B)
    T = check_positive_int("T", T)
    N = check_positive_int("N", N)

    n = B * T * N
    if K.shape != (n, n):
        raise ValueError(
            f"K must have shape (B*T*N, B*T*N) = ({n}, {n}) for B={B}, T={T}, "
            f"N={N}, got {K.shape}"
        )
    return K.reshape(B, T, N, B, T, N)
