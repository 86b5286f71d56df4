"""sntk_ref: a reference implementation of the state-space NTK of RNNs.

Pure NumPy/SciPy, float64 throughout. The mathematics is in the project's
SPEC (sections cited in every docstring); the letters are ``B`` sequences,
``T`` steps, ``D`` inputs, ``N`` hidden units, ``O`` outputs, ``P`` trainable
parameters.

Layers, each importing only from those above it::

    cells -> model -> trajectories -> derivatives -> kernel, spectra
          -> dynamics -> channels -> optim -> analysis -> experiment, bundles
          -> report, plots -> cli

Derivative checkers live in :mod:`sntk_ref.testing`; matplotlib is imported
only by :mod:`sntk_ref.report`, :mod:`sntk_ref.plots` and the command line.
"""

from ._version import __version__
from .analysis import diagnose, load_inputs, load_model, nearest_bifurcation
from .bundles import check_bundles, export_bundle, load_bundle, load_case
from .channels import (critical_projector, decompose, dominant_direction,
                       restricted_sntk, sensitivity_profile)
from .derivatives import (StepForms, jvp, loss_and_grad, output_jvp,
                          output_vjp, state_jacobian, step_forms, vjp)
from .dynamics import (System, continue_branch, find_fixed_points,
                       normal_form, rnn_system, switch_branch,
                       training_bifurcations, unfolding_gradient)
from .dynamics.scalar import ScalarNormalForm
from .experiment import ExperimentConfig, run_experiment
from .kernel import (KernelMemoryError, output_ntk, sntk, sntk_operator,
                     space_kernel, time_block, time_diagonal, time_kernel)
from .kernel_layout import flatten_kernel, unflatten_kernel
from .model import BLOCK_ORDER, RNN
from .optim import (DampedGaussNewton, GradientDescent, LowRankNaturalGradient,
                    damped_solve, gauss_newton_products, gauss_newton_step,
                    train, woodbury_solve)
from .spectra import canonical_sign, effective_rank, effective_ranks, spectrum
from .trajectories import TrajectoryError, forward, loss, outputs

__all__ = [
    "BLOCK_ORDER",
    "DampedGaussNewton",
    "ExperimentConfig",
    "GradientDescent",
    "KernelMemoryError",
    "LowRankNaturalGradient",
    "RNN",
    "ScalarNormalForm",
    "StepForms",
    "System",
    "TrajectoryError",
    "__version__",
    "canonical_sign",
    "check_bundles",
    "continue_branch",
    "critical_projector",
    "damped_solve",
    "decompose",
    "diagnose",
    "dominant_direction",
    "effective_rank",
    "effective_ranks",
    "export_bundle",
    "find_fixed_points",
    "flatten_kernel",
    "forward",
    "gauss_newton_products",
    "gauss_newton_step",
    "jvp",
    "load_bundle",
    "load_case",
    "load_inputs",
    "load_model",
    "loss",
    "loss_and_grad",
    "nearest_bifurcation",
    "normal_form",
    "output_jvp",
    "output_ntk",
    "output_vjp",
    "outputs",
    "restricted_sntk",
    "rnn_system",
    "run_experiment",
    "sensitivity_profile",
    "sntk",
    "sntk_operator",
    "space_kernel",
    "spectrum",
    "state_jacobian",
    "step_forms",
    "switch_branch",
    "time_block",
    "time_diagonal",
    "time_kernel",
    "train",
    "training_bifurcations",
    "unflatten_kernel",
    "unfolding_gradient",
    "vjp",
    "woodbury_solve",
]
