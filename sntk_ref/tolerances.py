"""Named numerical tolerances and knobs shared across ``sntk_ref``.

One table, so that every tolerance has a name, a comment and one home.
Module-specific knobs live as named constants at the top of their module.
"""

import numpy as np

#: Machine epsilon of float64, the only dtype sntk_ref computes in.
EPS = float(np.finfo(np.float64).eps)

#: Relative level below which an eigenvalue of a PSD kernel counts as zero,
#: multiplied by the matrix size (SPEC 3.4: ``|l| < n * eps * l_1``).
EIG_ZERO_FACTOR = 1.0

#: Central-difference step factor: ``step = FD_STEP_FACTOR * max(1, |x|)``,
#: the optimum ``eps ** (1/3)`` for a second-order scheme.
FD_STEP_FACTOR = EPS ** (1.0 / 3.0)

#: Default relative tolerance of the derivative checkers in
#: :mod:`sntk_ref.testing`; the central-difference error is ``O(eps ** (2/3))``
#: (about 4e-11) relative to the function's scale, so 1e-6 leaves a wide
#: margin for round-off while catching a 0.1 % error in one gradient entry.
FD_RTOL = 1e-6

#: Absolute floor of the derivative checkers, relative to the largest entry.
FD_ATOL_REL = 1e-8
