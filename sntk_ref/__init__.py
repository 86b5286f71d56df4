"""sntk_ref: a reference implementation of the state-space NTK of RNNs.

Pure NumPy/SciPy, float64 throughout. The mathematics is in the project's
SPEC (sections cited in every docstring); the letters are ``B`` sequences,
``T`` steps, ``D`` inputs, ``N`` hidden units, ``O`` outputs, ``P`` trainable
parameters.
"""

from ._version import __version__
from .derivatives import (StepForms, jvp, loss_and_grad, output_jvp,
                          output_vjp, state_jacobian, step_forms, vjp)
from .model import BLOCK_ORDER, RNN
from .trajectories import TrajectoryError, forward, loss, outputs

__all__ = [
    "BLOCK_ORDER",
    "RNN",
    "StepForms",
    "TrajectoryError",
    "__version__",
    "forward",
    "jvp",
    "loss",
    "loss_and_grad",
    "output_jvp",
    "output_vjp",
    "outputs",
    "state_jacobian",
    "step_forms",
    "vjp",
]
