"""Memory budget of dense requests (kernels, Jacobians).

Low-level helper shared by :mod:`sntk_ref.derivatives`, :mod:`sntk_ref.kernel`
and :mod:`sntk_ref.channels`: every dense request is sized before anything
large is allocated and refused with :class:`KernelMemoryError` when it would
exceed the budget ``max_bytes``. Re-exported from :mod:`sntk_ref.kernel`
under the same names.
"""

from . import _validation as val

__all__ = [
    "KernelMemoryError",
    "check_budget",
    "default_max_bytes",
    "refuse_if_over",
]

#: Default memory budget: this fraction of ``MemAvailable`` (/proc/meminfo).
MEMORY_FRACTION = 0.5

#: Default budget when /proc/meminfo cannot be read (2 GiB).
FALLBACK_MAX_BYTES = 2 * 2**30

#: Bytes of one float64.
FLOAT_BYTES = 8

#: Advice appended to a refusal of a kernel request.
KERNEL_ADVICE = (
    "select fewer time steps (times=), use fewer sequences, or use "
    "sntk_operator for matrix-free products"
)


class KernelMemoryError(MemoryError):
    """A dense request whose result or intermediates exceed the budget.

    Raised before anything large is allocated; the message states the bytes
    needed and the budget.
    """


def default_max_bytes():
    """The default memory budget of a dense request.

    Returns
    -------
    max_bytes : int
        :data:`MEMORY_FRACTION` of ``MemAvailable`` in /proc/meminfo, or
        :data:`FALLBACK_MAX_BYTES` where that file cannot be read.
    """
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    kib = int(line.split()[1])
                    return int(MEMORY_FRACTION * kib * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_MAX_BYTES


def check_budget(max_bytes):
    """The budget in bytes: ``max_bytes`` checked, or the default if None."""
    if max_bytes is None:
        return default_max_bytes()
    return val.check_scalar("max_bytes", max_bytes, 0.0, low_open=True)


def refuse_if_over(needed, max_bytes, what, advice=KERNEL_ADVICE):
    """Raise :class:`KernelMemoryError` when ``needed > max_bytes``."""
    if needed > max_bytes:
        raise KernelMemoryError(
            f"the {what} needs about {needed / 1e9:.3g} GB ({int(needed)} "
            f"bytes) but max_bytes is {max_bytes / 1e9:.3g} GB; {advice}"
        )
