"""Fixed points, bifurcations and normal forms of maps and flows (SPEC 4).

- :mod:`.system` — :class:`System` (map or flow, autograd derivatives) and
  the RNN adapter :func:`rnn_system` (SPEC 4.1, 2.4);
- :mod:`.fixed_points` — Newton from seeds, slow points, eigen-data
  (SPEC 4.2);
- :mod:`.normal_forms` — codimension-one normal forms and the unfolding
  gradient (SPEC 4.3-4.4);
- :mod:`.continuation` — pseudo-arclength continuation, test functions,
  location, branch switching, bifurcations along training (SPEC 4.5).
"""

from .continuation import (Branch, SpecialPoint, TrainingBifurcation,
                           TrainingScan, continue_branch, switch_branch,
                           training_bifurcations)
from .fixed_points import (EigenData, FixedPoint, FixedPointResult,
                           analyse_point, canonicalize_vectors,
                           critical_distance, eigen_data,
                           eigenvalue_derivative, eigenvalue_sensitivity,
                           find_fixed_points, newton)
from .normal_forms import (NORMAL_FORM_TYPES, NormalForm, Prediction,
                           normal_form, unfolding_gradient)
from .system import KINDS, System, rnn_system

__all__ = [
    "Branch",
    "EigenData",
    "FixedPoint",
    "FixedPointResult",
    "KINDS",
    "NORMAL_FORM_TYPES",
    "NormalForm",
    "Prediction",
    "SpecialPoint",
    "System",
    "TrainingBifurcation",
    "TrainingScan",
    "analyse_point",
    "canonicalize_vectors",
    "continue_branch",
    "critical_distance",
    "eigen_data",
    "eigenvalue_derivative",
    "eigenvalue_sensitivity",
    "find_fixed_points",
    "newton",
    "normal_form",
    "rnn_system",
    "switch_branch",
    "training_bifurcations",
    "unfolding_gradient",
]
