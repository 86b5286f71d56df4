"""The ``sntk-ref`` command line (argparse).

Sub-commands are added by the modules they drive; this module only parses,
sets up logging, and prints.
"""

import argparse
import logging
import sys

import numpy as np

from ._version import __version__

__all__ = ["main"]

#: Seed of the built-in demo.
DEMO_SEED = 0


def _demo(args):
    """Build a small RNN, run it, and check its gradient three ways."""
    from .derivatives import loss_and_grad, state_jacobian
    from .model import RNN
    from .testing import check_grad
    from .trajectories import forward, loss

    rng = np.random.default_rng(args.seed)
    model = RNN.random(6, 3, 2, cell=args.cell, dt=0.5, rng=rng)
    X = rng.standard_normal((2, 8, 3))
    Y = rng.standard_normal((2, 8, 2))
    H = forward(model, X)
    L, g = loss_and_grad(model, X, Y)
    J = state_jacobian(model, X)
    res = check_grad(lambda th: loss(model.with_theta(th), X, Y), model.theta, g)
    print(f"model: {model}")
    print(f"states H: shape {H.shape}, |H|_max = {np.abs(H).max():.4f}")
    print(f"loss L = {L:.10f}, |grad|_2 = {np.linalg.norm(g):.6e}")
    print(f"state Jacobian J: shape {J.shape}")
    print(f"BPTT gradient vs central differences: worst ratio "
          f"{res.max_error:.2e} of tolerance -> {'PASS' if res else 'FAIL'}")
    return 0 if res else 1


def build_parser():
    """The argument parser of ``sntk-ref``."""
    parser = argparse.ArgumentParser(
        prog="sntk-ref",
        description="Reference implementation of the state-space NTK of RNNs.",
    )
    parser.add_argument("--version", action="version",
                        version=f"sntk-ref {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="build a small RNN and check its gradient")
    demo.add_argument("--cell", choices=("elman", "euler"), default="euler")
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    """Entry point of ``sntk-ref``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(message)s", stream=sys.stderr,
    )
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return args.func(args)
