"""The student-teacher experiment: a student RNN trained across a pitchfork.

SPEC 8 (with SPEC 4-7 for what is measured). Letters: ``B`` sequences, ``T``
steps, ``D`` inputs, ``N`` hidden units, ``O`` outputs, ``P`` trainable
parameters (``P = N^2``: only ``W`` is trained).

A teacher ``euler`` RNN whose autonomous flow ``dh/ds = -h + W tanh(h)`` is
past a pitchfork (bistable: ``h = 0`` unstable, two stable points ``±h*``),
and a student of the same architecture before it, differ only in the gain of
a rank-one term ``g m m^T / N``. The student learns the teacher's outputs by
full-batch descent on ``L`` (SPEC 1.3) and crosses the bifurcation; at every
recorded step :func:`sntk_ref.analysis.diagnose` measures the critical
eigenvalue ``mu``, the sNTK effective ranks, the channel split and the
alignments of SPEC 6. Afterwards the first bifurcation is located between
checkpoints (SPEC 4.5) and a large step of plain gradient descent is compared
with the rank-one natural gradient (SPEC 7) at the same step size.

The default draw is ``seed = 0`` (SPEC 8: crosses within about 25 steps at
``lr = 0.002``). With ``numpy.random.default_rng(seed)`` the draws are, in
this order: ``m`` (entries ±1), ``W0``, ``U``, the inputs, the signs ``s_b``
of the initial states, the noise of the initial states.
"""

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _validation as val
from ._summary import normal_form_summary, plain
from .analysis import diagnose
from .dynamics.continuation import training_bifurcations
from .dynamics.fixed_points import critical_distance, find_fixed_points
from .dynamics.system import rnn_system
from .model import RNN
from .optim import (EIGENSOLVERS, GradientDescent, LowRankNaturalGradient,
                    train)
from .trajectories import forward, outputs

__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "criteria",
    "format_progress",
    "loss_after_crossing",
    "StudentTeacher",
    "build_student_teacher",
    "run_experiment",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentConfig:
    """Every knob of the student-teacher experiment (SPEC 8).

    The defaults are the configuration of SPEC 8 with the draw ``seed = 0``;
    :meth:`quick` is a smaller one for continuous integration. Load a
    partial configuration from JSON with :meth:`from_json` (unknown keys are
    refused; missing keys keep their defaults).

    Attributes
    ----------
    seed : int
        Seed of ``numpy.random.default_rng`` drawing ``m, W0, U``, inputs,
        the signs and the noise of the initial states, in that order.
    n_hidden, n_in, n_out : int
        ``N``, ``D``, ``O``.
    dt : float
        Euler step of the cell.
    n_steps, n_seq : int
        ``T`` and ``B``.
    w0_variance : float
        ``W0 ~ Normal(0, w0_variance / N)``.
    teacher_gain, student_gain : float
        ``W = W0 + gain m m^T / N`` for the teacher and the student.
    input_scale : float
        Inputs are ``input_scale * Normal(0, 1)`` at every step.
    h0_fixed_point_scale, h0_noise : float
        Initial states ``h0_fixed_point_scale s_b h*_teacher +
        h0_noise Normal(0, 1)``.
    lr : float
        Small step of the gradient-descent run that crosses the bifurcation.
    max_steps : int
        Cap on that run's length (it stops earlier once past the crossing).
    steps_after_crossing : int
        Steps trained after the critical eigenvalue changes sign.
    record_every : int
        Steps between recorded checkpoints.
    lr_large : float
        Step size of the gradient-descent vs natural-gradient comparison.
    compare_steps : int
        Steps of each run of that comparison.
    ng_damping : float
        ``lambda`` of the rank-one natural gradient (SPEC 7).
    ng_refresh_every : int
        Steps between refreshes of its top eigenpair.
    ng_eigensolver : {"lanczos", "subspace"}
        How a refresh computes it (:class:`~sntk_ref.LowRankNaturalGradient`):
        the reference Lanczos solve, or the cheaper subspace iteration.
    pr_ratio_max, cosine_min, overshoot_factor : float
        Thresholds of the pass/fail criteria (see ``report.json``).
    """

    seed: int = 0
    n_hidden: int = 24
    n_in: int = 2
    n_out: int = 1
    dt: float = 0.2
    n_steps: int = 150
    n_seq: int = 8
    w0_variance: float = 0.25
    teacher_gain: float = 2.0
    student_gain: float = 0.5
    input_scale: float = 0.1
    h0_fixed_point_scale: float = 0.2
    h0_noise: float = 0.05
    lr: float = 0.002
    max_steps: int = 200
    steps_after_crossing: int = 8
    record_every: int = 1
    lr_large: float = 0.2
    compare_steps: int = 30
    ng_damping: float = 0.0
    ng_refresh_every: int = 1
    ng_eigensolver: str = "lanczos"
    pr_ratio_max: float = 0.25
    cosine_min: float = 0.95
    overshoot_factor: float = 5.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "ng_eigensolver":
                if not isinstance(value, str):
                    raise TypeError(
                        f"{f.name} must be a string, got {value!r}")
                val.check_choice(f.name, value, EIGENSOLVERS)
            elif f.type is int:
                minimum = 0 if f.name in ("seed",) else 1
                val.check_positive_int(f.name, value, minimum=minimum)
            else:
                low_open = f.name not in ("ng_damping", "h0_noise", "input_scale",
                                          "h0_fixed_point_scale")
                val.check_scalar(f.name, value, 0.0, low_open=low_open)
                object.__setattr__(self, f.name, float(value))
        val.check_scalar("dt", self.dt, 0.0, 1.0, low_open=True)
        val.check_scalar("pr_ratio_max", self.pr_ratio_max, 0.0, 1.0, low_open=True)
        val.check_scalar("cosine_min", self.cosine_min, 0.0, 1.0, low_open=True)
        if self.teacher_gain <= 1.0 or self.student_gain >= self.teacher_gain:
            raise ValueError(
                "teacher_gain must exceed 1 (teacher past the pitchfork) and "
                f"student_gain, got teacher_gain={self.teacher_gain}, "
                f"student_gain={self.student_gain}"
            )

    @classmethod
    def quick(cls, **overrides):
        """A small configuration (``N = 12, T = 60, B = 4``) for CI."""
        small = dict(n_hidden=12, n_steps=60, n_seq=4, lr=0.01, max_steps=100,
                     steps_after_crossing=12, lr_large=1.0, compare_steps=20)
        small.update(overrides)
        return cls(**small)

    @classmethod
    def from_dict(cls, data, base=None):
        """A configuration from a mapping; unknown keys raise ``ValueError``.

        Parameters
        ----------
        data : dict
            Field name -> value; missing fields keep the values of ``base``.
        base : ExperimentConfig, optional
            Defaults (``ExperimentConfig()`` if omitted).
        """
        if not isinstance(data, dict):
            raise TypeError(
                f"configuration must be a JSON object, got {type(data).__name__}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"unknown configuration key(s) {unknown}; known keys are "
                f"{sorted(names)}"
            )
        base = cls() if base is None else base
        return dataclasses.replace(base, **data)

    @classmethod
    def from_json(cls, path, base=None):
        """Read :meth:`from_dict` input from a JSON file at ``path``."""
        with open(path, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as err:
                raise ValueError(f"configuration file {path} is not JSON: {err}")
        return cls.from_dict(data, base=base)

    def to_dict(self):
        """The configuration as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)


# -- construction ------------------------------------------------------------
class StudentTeacher(NamedTuple):
    """The teacher, the student and the data of SPEC 8.

    Attributes
    ----------
    teacher, student : RNN
        ``euler`` cells, only ``W`` trainable (``P = N^2``).
    X : ndarray, shape (B, T, D)
    h0 : ndarray, shape (B, N)
    Y : ndarray, shape (B, T, O)
        The teacher's outputs, the student's targets.
    m : ndarray, shape (N,)
        The ±1 pattern of the rank-one term.
    h_teacher : ndarray, shape (N,)
        The teacher's stable fixed point with ``m . h > 0``.
    """

    teacher: RNN
    student: RNN
    X: np.ndarray
    h0: np.ndarray
    Y: np.ndarray
    m: np.ndarray
    h_teacher: np.ndarray


#: Newton seeds for the teacher's bistable points: ``±TEACHER_SEED_GAIN m``
#: (SPEC 4.6: ``h* = kappa m`` with ``kappa ~ 1.9`` at gain 2).
TEACHER_SEED_GAIN = 2.0


def build_student_teacher(config=None):
    """Draw the teacher, the student and the data of SPEC 8.

    Parameters
    ----------
    config : ExperimentConfig, optional

    Returns
    -------
    StudentTeacher
    """
    config = ExperimentConfig() if config is None else config
    N, D, O = config.n_hidden, config.n_in, config.n_out
    rng = np.random.default_rng(config.seed)

    # draws in the order of SPEC 8: m, W0, U, inputs, initial states
    m = rng.choice([-1.0, 1.0], size=N)
    W0 = rng.normal(0.0, np.sqrt(config.w0_variance / N), (N, N))
    U = rng.normal(0.0, 1.0 / np.sqrt(D), (N, D))
    X = config.input_scale * rng.standard_normal((config.n_seq, config.n_steps, D))

    # readout along m, rank-one gains on both sides of the pitchfork
    C = np.tile(m / np.sqrt(N), (O, 1))
    mm = np.outer(m, m) / N
    common = dict(U=U, b=np.zeros(N), C=C, d=np.zeros(O), dt=config.dt,
                  trainable=("W",))
    teacher = RNN("euler", W0 + config.teacher_gain * mm, **common)
    student = RNN("euler", W0 + config.student_gain * mm, **common)

    h_star = _teacher_fixed_point(teacher, m)
    signs = rng.choice([-1.0, 1.0], size=config.n_seq)
    h0 = (config.h0_fixed_point_scale * signs[:, None] * h_star
          + config.h0_noise * rng.standard_normal((config.n_seq, N)))
    Y = outputs(teacher, forward(teacher, X, h0))
    return StudentTeacher(teacher, student, X, h0, Y, m, h_star)


def _teacher_fixed_point(teacher, m):
    """The teacher's stable fixed point on the ``+m`` side (SPEC 4.2)."""
    system = rnn_system(teacher, view="flow")
    seeds = TEACHER_SEED_GAIN * np.array([m, -m])
    found = find_fixed_points(system, teacher.theta, seeds)
    stable = [p.x for p in found.points if p.stable and p.x @ m > 0]
    if not stable:
        raise RuntimeError(
            "the teacher has no stable fixed point on the +m side; is "
            f"teacher_gain past the pitchfork? ({found.message})")
    return stable[0]


# -- the run -----------------------------------------------------------------
@dataclass
class ExperimentResult:
    """Everything :func:`run_experiment` measured (see :meth:`to_dict`).

    Attributes
    ----------
    config : ExperimentConfig
    data : StudentTeacher
    checkpoints : list of dict
        One :meth:`Diagnosis.summary` per recorded step of the small-step
        gradient-descent run, with ``step`` and ``seconds``.
    diagnoses : list of Diagnosis
    scan : TrainingScan
        The bifurcations located between checkpoints (SPEC 4.5).
    comparison : dict
        Losses, ``mu`` and time per step of gradient descent and of the
        rank-one natural gradient at ``lr_large``.
    criteria : list of dict
        ``name``, ``passed``, ``description`` and the numbers.
    timing : dict
        Wall-clock seconds per phase.
    """

    config: ExperimentConfig
    data: StudentTeacher
    checkpoints: list
    diagnoses: list
    scan: object
    comparison: dict
    criteria: list = dataclasses.field(default_factory=list)
    timing: dict = dataclasses.field(default_factory=dict)

    @property
    def passed(self):
        """True when every criterion holds."""
        return all(c["passed"] for c in self.criteria)

    @property
    def crossing(self):
        """The first located bifurcation (``TrainingBifurcation``) or None."""
        found = getattr(self.scan, "bifurcations", [])
        return found[0] if found else None

    @property
    def crossing_step(self):
        """Fractional training step of the first bifurcation (or None)."""
        bif = self.crossing
        if bif is None or not np.isfinite(bif.t):
            return None
        s = [c["step"] for c in self.checkpoints]
        k = bif.checkpoint
        return float(s[k] + bif.t * (s[k + 1] - s[k]))

    @property
    def crossing_index(self):
        """Index of the checkpoint nearest to the crossing (or None)."""
        step = self.crossing_step
        if step is None:
            return None
        s = np.array([c["step"] for c in self.checkpoints], dtype=float)
        return int(np.argmin(np.abs(s - step)))

    def to_dict(self):
        """Every number, JSON-ready (see ``report.json``)."""
        from ._version import __version__

        bif = self.crossing
        k = self.crossing_index
        out = {
            "package": "sntk_ref",
            "version": __version__,
            "config": self.config.to_dict(),
            "draw": {"seed": self.config.seed, "order": DRAW_ORDER},
            "timing": dict(self.timing),
            "descent": {"lr": self.config.lr, "checkpoints": self.checkpoints,
                        "scan_message": getattr(self.scan, "message", "")},
            "bifurcation": _bifurcation_dict(bif, self.crossing_step),
            "crossing_checkpoint": k,
            "restricted_profile": (None if k is None
                                   else _profile(self.diagnoses[k])),
            "comparison": self.comparison,
            "criteria": self.criteria,
            "passed": self.passed,
        }
        return plain(out)


#: How the default draw is made (recorded in ``report.json``).
DRAW_ORDER = ("numpy.random.default_rng(seed) draws m (rng.choice of ±1), "
              "W0, U, the inputs, the signs s_b (rng.choice of ±1) and the "
              "noise of the initial states, in that order")

#: Sequences shown in the restricted-kernel figure (and stored for it).
PROFILE_SEQUENCES = 3


def _bifurcation_dict(bif, step):
    if bif is None:
        return {"found": False}
    nf = bif.normal_form
    return {
        "found": True, "type": bif.type, "step": step,
        "between_checkpoints": [bif.checkpoint, bif.checkpoint + 1],
        "t": bif.t,
        "eigenvalue_re": float(np.real(bif.eigenvalue)),
        "eigenvalue_im": float(np.imag(bif.eigenvalue)),
        "normal_form": normal_form_summary(nf), "message": bif.message,
    }


def _profile(diag):
    """Observed ``w^T J delta`` and predicted ``(grad mu . delta) s``."""
    r = diag.restricted
    if r is None or diag.split is None:
        return None
    w = np.real(diag.point.left[:, 0])
    v = np.real(diag.point.right[:, 0])
    w = w / (w @ v)
    k = min(PROFILE_SEQUENCES, r.s.shape[0])
    return {
        "observed": (r.J_delta[:k] @ w).tolist(),
        "predicted": (r.projection * r.s[:k]).tolist(),
        "observed_diag": np.sum(r.J_delta[:k] ** 2, axis=2).tolist(),
        "predicted_diag": ((r.projection * r.s[:k]) ** 2
                           * float(v @ v)).tolist(),
        "cos": r.cos, "norm_ratio": r.norm_ratio,
        "eigenvalue": r.eigenvalue,
    }


def run_experiment(config=None, progress=None):
    """Run the student-teacher experiment of SPEC 8 end to end.

    1. Gradient descent at ``config.lr`` until the student's critical
       eigenvalue ``mu`` (flow view, ``Re lam`` of ``-I + W diag(phi')``
       at the tracked fixed point) has changed sign and
       ``steps_after_crossing`` more steps are done (at most ``max_steps``),
       with :func:`sntk_ref.analysis.diagnose` at every recorded step.
    2. The first bifurcation located between checkpoints and classified
       (:func:`sntk_ref.dynamics.training_bifurcations`).
    3. Gradient descent and the rank-one natural gradient
       (``sigma_ref = sigma_2``) at ``config.lr_large``.
    4. The pass/fail criteria (:func:`criteria`).

    Parameters
    ----------
    config : ExperimentConfig, optional
    progress : callable, optional
        ``progress(info)`` after every recorded step, with a dict: ``stage``
        (``"descent"``, ``"compare-gd"``, ``"compare-ng"``), ``step``,
        ``done`` (checkpoints so far), ``crossing`` (descent: the step where
        ``mu`` changed sign, interpolated between checkpoints; None until it
        has), ``last_step`` (descent: the step it will end at, None until
        the crossing is known, since it runs a fixed number of steps past
        it), ``total`` (descent: checkpoints, an *estimate* that moves while
        the crossing is extrapolated; comparison: its exact number of
        steps), ``elapsed`` and
        ``remaining`` (seconds, an estimate) and the latest ``loss``, ``mu``,
        ``pr``. :func:`format_progress` turns it into one line.

    Returns
    -------
    ExperimentResult
    """
    config = ExperimentConfig() if config is None else config
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig, got {config!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {progress!r}")
    clock = time.perf_counter()
    data = build_student_teacher(config)

    checkpoints, diagnoses, models = _descend(config, data, progress, clock)
    t_descent = time.perf_counter() - clock
    scan = training_bifurcations(models, view="flow")
    comparison = _compare(config, data, progress, clock)

    result = ExperimentResult(config, data, checkpoints, diagnoses, scan,
                              comparison)
    result.criteria = criteria(result)
    result.timing = {"descent_s": t_descent,
                     "compare_s": comparison["seconds"],
                     "total_s": time.perf_counter() - clock}
    return result


def format_progress(info):
    """One honest progress line from a ``run_experiment`` progress dict.

    The descent stops a fixed number of steps after ``mu`` changes sign, so
    its length is unknown until then: before the crossing the line says so
    (``step 17, crossing not yet reached``); after it, it gives the end
    (``step 27 of ~35 (crossing at step 24.6)``). The time left is always
    labelled as an estimate.

    Parameters
    ----------
    info : dict
        As passed to the ``progress`` callback of :func:`run_experiment`.

    Returns
    -------
    line : str
    """
    head = f"[{info['stage']}] step {info['step']}"
    if info["stage"] == "descent":
        crossing = info.get("crossing")
        if crossing is None:
            head += ", crossing not yet reached"
        else:
            head += (f" of ~{info['last_step']} "
                     f"(crossing at step {crossing:.1f})")
    elif info.get("total") is not None:
        head += f" of {info['total']}"
    pr = info.get("pr")
    pr = "" if pr is None else f", PR {pr:.3g}"
    return (f"{head}: loss {info.get('loss', float('nan')):.4g}, "
            f"mu {info.get('mu', float('nan')):+.4f}{pr}; "
            f"{info['elapsed']:.0f} s elapsed, ~{info['remaining']:.0f} s "
            "left (estimate)")


def _emit(progress, **info):
    """Log a progress line and pass it to the callback."""
    logger.info("%s", format_progress(info))
    if progress is not None:
        progress(info)


def _descend(config, data, progress, clock):
    """Small-step gradient descent through the crossing, diagnosed."""
    checkpoints, diagnoses, models = [], [], []
    state = {"crossed_at": None, "track": np.zeros(config.n_hidden)}
    rng = np.random.default_rng([config.seed, DESCENT_STREAM])

    def callback(k, model, info):
        if k % config.record_every:
            return False
        tic = time.perf_counter()
        diag = diagnose(model, data.X, h0=data.h0, Y=data.Y,
                        track=state["track"], rng=rng)
        state["track"] = diag.point.x
        row = {"step": k, **diag.summary(),
               "seconds": time.perf_counter() - tic}
        checkpoints.append(row)
        diagnoses.append(diag)
        models.append(model)

        mu0 = checkpoints[0]["mu"]
        if state["crossed_at"] is None and diag.mu * mu0 < 0:
            state["crossed_at"] = k
            state["crossing"] = _interpolated_crossing(checkpoints[-2:])
        crossed = state["crossed_at"] is not None
        stop = crossed and k - state["crossed_at"] >= config.steps_after_crossing
        last = (min(state["crossed_at"] + config.steps_after_crossing,
                    config.max_steps) if crossed else None)
        _emit(progress, stage="descent", step=k, done=len(checkpoints),
              crossing=state.get("crossing"), last_step=last,
              total=_estimate_total(config, checkpoints, state["crossed_at"]),
              elapsed=time.perf_counter() - clock, loss=row["loss"],
              mu=diag.mu, pr=row["pr"],
              remaining=_remaining(config, checkpoints, state["crossed_at"]))
        return stop

    record = train(data.student, data.X, data.Y, GradientDescent(config.lr),
                   config.max_steps + 1, callback=callback, h0=data.h0)
    if record.status == "nonfinite":
        raise FloatingPointError(f"descent diverged: {record.message}")
    if state["crossed_at"] is None:
        logger.warning("no sign change of mu within max_steps = %d",
                       config.max_steps)
    return checkpoints, diagnoses, models


def _interpolated_crossing(rows):
    """Step where ``mu`` is zero, linear between the last two checkpoints."""
    if len(rows) < 2:
        return float(rows[-1]["step"])
    (k0, m0), (k1, m1) = [(r["step"], r["mu"]) for r in rows]
    return float(k0 + (k1 - k0) * m0 / (m0 - m1))


#: Stream index of the generator drawing Newton seeds in the descent.
DESCENT_STREAM = 1

#: Comparison-run steps counted as one diagnosed checkpoint in time
#: estimates (a plain step is much cheaper than a full diagnosis).
COMPARE_COST_FACTOR = 0.1


def _estimate_total(config, rows, crossed_at):
    """Estimated number of checkpoints of the descent."""
    k = rows[-1]["step"]
    if crossed_at is not None:
        end = crossed_at + config.steps_after_crossing
    elif len(rows) > 1 and (rows[-1]["mu"] - rows[0]["mu"]) * rows[0]["mu"] < 0:
        rate = (rows[-1]["mu"] - rows[0]["mu"]) / k
        end = k + abs(rows[-1]["mu"] / rate) + config.steps_after_crossing
    else:
        end = config.max_steps
    return int(min(end, config.max_steps)) // config.record_every + 1


def _remaining(config, rows, crossed_at):
    """Seconds left: checkpoints to go plus the comparison runs."""
    per = np.mean([r["seconds"] for r in rows])
    left = _estimate_total(config, rows, crossed_at) - len(rows)
    compare = 2 * config.compare_steps * COMPARE_COST_FACTOR
    return float(per * (max(left, 0) + compare))


def _compare(config, data, progress, clock):
    """Gradient descent vs rank-one natural gradient at ``lr_large``."""
    out = {"lr": config.lr_large, "steps": config.compare_steps}
    optimizers = {
        "gd": GradientDescent(config.lr_large),
        "ng": LowRankNaturalGradient(config.lr_large, rank=1,
                                     damping=config.ng_damping,
                                     refresh_every=config.ng_refresh_every,
                                     eigensolver=config.ng_eigensolver),
    }
    tic_all = time.perf_counter()
    for name, opt in optimizers.items():
        mus, track = [], [np.zeros(config.n_hidden)]

        def callback(k, model, info, mus=mus, track=track):
            mu, track[0] = _leading_mu(model, track[0])
            mus.append(mu)
            return False

        tic = time.perf_counter()
        rec = train(data.student, data.X, data.Y, opt, config.compare_steps,
                    callback=callback, h0=data.h0)
        seconds = time.perf_counter() - tic
        losses = list(rec.loss) + [rec.final_loss]
        mus.append(_leading_mu(rec.model, track[0])[0])
        out[name] = {
            "optimizer": repr(opt), "loss": losses, "mu": mus,
            "status": rec.status, "message": rec.message,
            "seconds": seconds, "seconds_per_step": seconds / max(rec.n_steps, 1),
            "crossing_step": _first_sign_change(mus),
        }
        _emit(progress, stage=f"compare-{name}", step=rec.n_steps,
              done=rec.n_steps, total=config.compare_steps,
              elapsed=time.perf_counter() - clock, loss=losses[-1],
              mu=mus[-1], remaining=0.0)
    out["seconds"] = time.perf_counter() - tic_all
    out["cost_ratio"] = (out["ng"]["seconds_per_step"]
                         / out["gd"]["seconds_per_step"])
    return out


def _leading_mu(model, h):
    """``mu`` of the fixed point continued from ``h`` (flow view)."""
    system = rnn_system(model, view="flow")
    found = find_fixed_points(system, model.theta, np.array([h, 0 * h]))
    if not found.success:
        return float("nan"), h
    point = min(found.points, key=lambda p: np.linalg.norm(p.x - h))
    return float(critical_distance(point.eigenvalues[0], "flow")), point.x


def loss_after_crossing(loss, crossing_step):
    """How a loss curve behaves from the crossing of ``mu`` on (SPEC 8).

    A large step of gradient descent makes the loss jump up and down after
    the crossing, so its minimum alone says nothing about progress; the
    range and the number of increases do.

    Parameters
    ----------
    loss : array_like, shape (S + 1,)
        Loss before each step and after the last.
    crossing_step : int or None
        First index at which ``mu`` has changed sign; None if it never did
        (then the whole curve is summarised).

    Returns
    -------
    summary : dict
        ``from_step`` (the first index summarised), ``min``, ``max``,
        ``n_increases`` (steps ``k -> k + 1`` from ``from_step`` on where the
        loss did not go down) and ``monotone`` (it went down at every one).
    """
    loss = val.as_real_array("loss", loss, ndim=1)
    start = 0 if crossing_step is None else int(crossing_step)
    part = loss[start:]
    if part.size == 0:
        raise ValueError(
            f"crossing_step {crossing_step} is past the end of the loss "
            f"curve of length {loss.size}")
    ups = int(np.sum(np.diff(part) >= 0))
    return {"from_step": start, "min": float(part.min()),
            "max": float(part.max()), "n_increases": ups,
            "monotone": ups == 0}


def _first_sign_change(values):
    """First index whose sign differs from ``values[0]`` (or None)."""
    v = np.asarray(values, dtype=float)
    hit = np.flatnonzero(v * v[0] < 0)
    return int(hit[0]) if hit.size else None


# -- criteria ----------------------------------------------------------------
def criteria(result):
    """The pass/fail statements of the issue, with their numbers.

    1. ``pr_collapse``: the participation ratio at the checkpoint nearest to
       the located crossing is at most ``pr_ratio_max`` times its value at
       initialisation and at the end.
    2. ``alignment``: there ``|cos(delta, grad mu)| >= cosine_min``.
    3. ``pitchfork``: the first bifurcation is classified as a pitchfork.
    4. ``natural_gradient``: at ``lr_large`` gradient descent's loss rises
       above ``overshoot_factor`` times its initial value after its
       crossing, while the rank-one natural gradient's loss decreases at
       every step of its run, which crosses too.

    Parameters
    ----------
    result : ExperimentResult

    Returns
    -------
    list of dict
        ``name``, ``passed``, ``description``, and the numbers used.
    """
    cfg, rows, k = result.config, result.checkpoints, result.crossing_index
    out = []
    if k is None:
        missing = "no bifurcation was located between checkpoints"
        for name in ("pr_collapse", "alignment", "pitchfork"):
            out.append({"name": name, "passed": False, "description": missing})
    else:
        pr0, prc, pre = rows[0]["pr"], rows[k]["pr"], rows[-1]["pr"]
        out.append({
            "name": "pr_collapse",
            "passed": bool(prc <= cfg.pr_ratio_max * min(pr0, pre)),
            "description": (f"PR at the checkpoint nearest the crossing <= "
                            f"{cfg.pr_ratio_max} x PR at init and at the end"),
            "pr_init": pr0, "pr_crossing": prc, "pr_end": pre,
            "ratio_to_init": prc / pr0, "ratio_to_end": prc / pre,
            "crossing_checkpoint_step": rows[k]["step"],
            "crossing_step": result.crossing_step,
            "threshold": cfg.pr_ratio_max,
        })
        cos = rows[k].get("cos_delta_grad_mu")
        out.append({
            "name": "alignment",
            "passed": bool(cos is not None and cos >= cfg.cosine_min),
            "description": (f"|cos(dominant direction, grad mu)| >= "
                            f"{cfg.cosine_min} at that checkpoint"),
            "cosine": cos, "threshold": cfg.cosine_min,
        })
        out.append({
            "name": "pitchfork",
            "passed": result.crossing.type == "pitchfork",
            "description": "the first bifurcation is classified a pitchfork",
            "type": result.crossing.type,
        })
    out.append(_natural_gradient_criterion(cfg, result.comparison))
    return out


def _natural_gradient_criterion(cfg, comp):
    gd, ng = comp["gd"], comp["ng"]
    k_gd = gd["crossing_step"]
    after = gd["loss"][k_gd:] if k_gd is not None else []
    peak = max(after) if after else float("nan")
    rise = peak / gd["loss"][0]
    steps = np.diff(ng["loss"])
    monotone = bool(np.all(steps < 0))
    return {
        "name": "natural_gradient",
        "passed": bool(rise > cfg.overshoot_factor and monotone
                       and ng["crossing_step"] is not None),
        "description": (f"at lr = {cfg.lr_large}, gradient descent's loss "
                        f"rises above {cfg.overshoot_factor} x its initial "
                        "value after the crossing, while the rank-one natural "
                        "gradient lowers the loss at every step through the "
                        "crossing"),
        "gd_initial_loss": gd["loss"][0], "gd_peak_after_crossing": peak,
        "gd_rise_factor": rise, "gd_crossing_step": k_gd,
        "ng_monotone": monotone, "ng_crossing_step": ng["crossing_step"],
        "ng_largest_increase": float(steps.max()) if steps.size else None,
        "ng_final_loss": ng["loss"][-1], "threshold": cfg.overshoot_factor,
    }
