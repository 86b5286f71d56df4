"""Dynamical systems: a map or a flow with a parameter (SPEC 4.1, 2.4).

Letters: ``n`` state size, ``m`` parameter size (a scalar parameter has no
``m`` axis), ``N`` hidden units and ``P`` trainable parameters of an RNN.

A :class:`System` wraps a user function ``fun(x, p)`` written with
``autograd.numpy``: the map ``x -> F(x, p)`` or the vector field
``dx/ds = f(x, p)``. Its derivatives are the Taylor forms of SPEC 2.4,

    F(x + y) = F(x) + A y + 1/2 B(y, y) + 1/6 C(y, y, y) + O(|y|^4),

plus ``dF/dp`` and the contraction ``w^T (dA/dp) v``. They come from autograd
(nested forward-mode directional derivatives) unless the system carries
hand-written forms, as the RNN adapter :func:`rnn_system` does (it uses
:func:`sntk_ref.derivatives.step_forms`). Complex directions are handled by
expanding each form into real and imaginary parts (the forms are real
multilinear), so user functions never see complex numbers.
"""

import itertools
import warnings

import autograd.numpy as anp
import numpy as np
from autograd import jacobian, make_jvp

from .. import _validation as val

__all__ = ["KINDS", "System", "rnn_system"]

#: The two kinds of system (SPEC 4.1).
KINDS = ("map", "flow")

#: How many entries of a point an error message shows.
_MESSAGE_ENTRIES = 6


def _short(arr):
    """A short text form of a state or parameter for error messages."""
    return np.array2string(np.asarray(arr), threshold=_MESSAGE_ENTRIES,
                           edgeitems=3, precision=6)


def _nested_jvp(fun, z, directions):
    """``d^k fun(z)[d_1, ..., d_k]`` by nested forward-mode autograd."""
    if not directions:
        return fun(z)
    first, rest = directions[0], directions[1:]

    def inner(y):
        return _nested_jvp(fun, y, rest)

    with warnings.catch_warnings():
        # a form that is constant in x (a polynomial's top order) is fine
        warnings.filterwarnings("ignore", "Output seems independent")
        return make_jvp(inner)(z)(first)[1]


def _complex_multilinear(form, vectors):
    """Evaluate a real multilinear ``form`` at complex vectors.

    ``form(u_1 + i v_1, ...) = sum over real/imaginary picks of
    i^(number of imaginary picks) form(picks)``; all-real input costs one call,
    and zero imaginary parts are skipped.
    """
    parts = [(np.real(v), np.imag(v)) for v in vectors]
    if not any(np.any(im) for _, im in parts):
        return form(*[re for re, _ in parts])

    total = None
    for picks in itertools.product((0, 1), repeat=len(vectors)):
        if any(c == 1 and not np.any(parts[k][1]) for k, c in enumerate(picks)):
            continue
        args = [parts[k][c] for k, c in enumerate(picks)]
        term = (1j ** sum(picks)) * np.asarray(form(*args))
        total = term if total is None else total + term
    return total


class System:
    """A map ``x -> F(x, p)`` or a flow ``dx/ds = f(x, p)`` (SPEC 4.1).

    Parameters
    ----------
    fun : callable
        ``fun(x, p) -> (n,)`` with ``x`` of shape ``(n,)`` and ``p`` a float
        (scalar parameter) or an array of shape ``(m,)``. Write it with
        ``autograd.numpy`` so that its derivatives can be taken.
    n_state : int
        ``n``, the state size.
    kind : {"map", "flow"}
    n_params : int, optional
        ``m`` for a vector parameter; ``None`` (default) for a scalar one.
    name : str, optional
        Used in error messages; defaults to ``fun.__name__``.
    forms : callable, optional
        Hand-written derivatives: ``forms(x, p)`` returns an object with
        ``A (n, n)``, ``B(u, v) -> (n,)``, ``C(u, v, w) -> (n,)``,
        ``dF_dp`` (shape ``(n,)`` or ``(n, m)``) and ``A_p(w, v)`` (a scalar
        or ``(m,)``: ``w^T (dA/dp) v``). When given, these replace autograd;
        :meth:`autograd_only` returns the same system without them.

    Notes
    -----
    Every evaluation checks that ``fun`` returns a finite array of shape
    ``(n,)`` and raises ``ValueError`` naming the function and the point
    otherwise.
    """

    def __init__(self, fun, n_state, kind="flow", n_params=None, name=None,
                 forms=None):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        self.fun = fun
        self.n = val.check_positive_int("n_state", n_state)
        self.kind = val.check_choice("kind", kind, KINDS)
        self.n_params = (None if n_params is None
                         else val.check_positive_int("n_params", n_params))
        self.name = name or getattr(fun, "__name__", "fun")
        if forms is not None and not callable(forms):
            raise TypeError("forms must be callable (x, p) -> forms object")
        self.forms = forms

    def __repr__(self):
        m = "scalar" if self.n_params is None else f"m={self.n_params}"
        return f"System({self.name!r}, kind={self.kind!r}, n={self.n}, p: {m})"

    @property
    def is_map(self):
        """True for a map, False for a flow."""
        return self.kind == "map"

    def autograd_only(self):
        """The same system with its derivatives taken by autograd."""
        return System(self.fun, self.n, self.kind, self.n_params, self.name)

    # -- checked arguments and values ---------------------------------------
    def check_state(self, x, name="x"):
        """``x`` as a float64 array of shape ``(n,)``."""
        return val.as_real_array(name, x, shape=(self.n,))

    def check_parameter(self, p, name="p"):
        """``p`` as a float (scalar parameter) or an array ``(m,)``."""
        if self.n_params is None:
            if isinstance(p, np.ndarray) and p.shape in ((), (1,)):
                p = p.reshape(())[()]
            return val.check_scalar(name, p)
        return val.as_real_array(name, p, shape=(self.n_params,))

    def _checked(self, what, value, shape, x, p):
        """Raise naming the function and point if ``value`` is malformed."""
        arr = np.asarray(value)
        if arr.shape != shape:
            raise ValueError(
                f"{what} of system {self.name!r} returned shape {arr.shape}, "
                f"expected {shape}, at x = {_short(x)}, p = {_short(p)}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(
                f"{what} of system {self.name!r} returned non-finite values "
                f"at x = {_short(x)}, p = {_short(p)}"
            )
        return arr

    def evaluate(self, x, p):
        """``F(x, p)`` (map) or ``f(x, p)`` (flow), shape ``(n,)``."""
        x, p = self.check_state(x), self.check_parameter(p)
        return self._eval(x, p)

    def _eval(self, x, p):
        out = self.fun(x, p)
        return self._checked(self.name, out, (self.n,), x, p).astype(float)

    def residual(self, x, p):
        """Fixed-point residual ``F(x) - x`` (map) or ``f(x)`` (flow), ``(n,)``."""
        x, p = self.check_state(x), self.check_parameter(p)
        out = self._eval(x, p)
        return out - x if self.is_map else out

    # -- derivatives ---------------------------------------------------------
    def _forms(self, x, p):
        self._eval(x, p)
        return self.forms(x, p)

    def jacobian(self, x, p):
        """``A = dF/dx`` (map) or ``df/dx`` (flow), shape ``(n, n)``."""
        x, p = self.check_state(x), self.check_parameter(p)
        if self.forms is not None:
            A = self._forms(x, p).A
        else:
            self._eval(x, p)
            A = jacobian(lambda y: self.fun(y, p))(x)
        return self._checked(f"jacobian of {self.name}", A,
                             (self.n, self.n), x, p)

    def residual_jacobian(self, x, p):
        """Jacobian of :meth:`residual`: ``A - I`` (map) or ``A`` (flow)."""
        A = self.jacobian(x, p)
        return A - np.eye(self.n) if self.is_map else A

    def B_matrix(self, x, p, u):
        """The matrix ``M``, shape ``(n, n)``, with ``M y = B(u, y)`` for all ``y``.

        SPEC 2.4; one column per unit vector, from one set of step forms
        (built once, not once per column).
        """
        x, p = self.check_state(x), self.check_parameter(p)
        if self.forms is not None:
            forms = self._forms(x, p)
            cols = [forms.B(u, e) for e in np.eye(self.n)]
        else:
            cols = [self.B(x, p, u, e) for e in np.eye(self.n)]
        return self._checked(f"B form of {self.name}", np.stack(cols, axis=1),
                             (self.n, self.n), x, p)

    def B(self, x, p, u, v):
        """Second-order form ``B(u, v)``, shape ``(n,)`` (SPEC 2.4).

        ``u``, ``v`` may be complex ``(n,)``; the result is then complex.
        """
        x, p = self.check_state(x), self.check_parameter(p)
        if self.forms is not None:
            out = self._forms(x, p).B(u, v)
        else:
            self._eval(x, p)
            out = _complex_multilinear(
                lambda a, b: _nested_jvp(lambda y: self.fun(y, p), x, [a, b]),
                [u, v])
        return self._checked(f"B form of {self.name}", out, (self.n,), x, p)

    def C(self, x, p, u, v, w):
        """Third-order form ``C(u, v, w)``, shape ``(n,)`` (SPEC 2.4)."""
        x, p = self.check_state(x), self.check_parameter(p)
        if self.forms is not None:
            out = self._forms(x, p).C(u, v, w)
        else:
            self._eval(x, p)
            out = _complex_multilinear(
                lambda a, b, c: _nested_jvp(lambda y: self.fun(y, p), x,
                                            [a, b, c]),
                [u, v, w])
        return self._checked(f"C form of {self.name}", out, (self.n,), x, p)

    def _joint(self, x, p):
        """``g(z) = fun(z[:n], z[n:])`` on the joint vector ``z = (x, p)``."""
        n, scalar = self.n, self.n_params is None

        def g(z):
            return self.fun(z[:n], z[n] if scalar else z[n:])

        z = np.concatenate([x, np.atleast_1d(p)])
        return g, z

    def _p_direction(self, k):
        e = np.zeros(self.n + (1 if self.n_params is None else self.n_params))
        e[self.n + k] = 1.0
        return e

    def dF_dp(self, x, p):
        """``dF/dp``: shape ``(n,)`` (scalar ``p``) or ``(n, m)``."""
        x, p = self.check_state(x), self.check_parameter(p)
        shape = (self.n,) if self.n_params is None else (self.n, self.n_params)
        if self.forms is not None:
            out = self._forms(x, p).dF_dp
        else:
            self._eval(x, p)
            g, z = self._joint(x, p)
            cols = [_nested_jvp(g, z, [self._p_direction(k)])
                    for k in range(self.n_params or 1)]
            out = cols[0] if self.n_params is None else np.stack(cols, 1)
        return self._checked(f"dF/dp of {self.name}", out, shape, x, p)

    def dA_dp(self, x, p, w, v):
        """``w^T (dA/dp) v`` (bilinear, no conjugation), scalar or ``(m,)``.

        Pass ``conj(w)`` for ``w^H (dA/dp) v``.
        """
        x, p = self.check_state(x), self.check_parameter(p)
        shape = () if self.n_params is None else (self.n_params,)
        if self.forms is not None:
            out = self._forms(x, p).A_p(w, v)
        else:
            self._eval(x, p)
            g, z = self._joint(x, p)
            pad = np.zeros(z.size - self.n)

            def form(a, b):
                vz = np.concatenate([b, pad])
                vals = [_nested_jvp(g, z, [vz, self._p_direction(k)]) @ a
                        for k in range(self.n_params or 1)]
                return vals[0] if self.n_params is None else np.array(vals)

            out = _complex_multilinear(form, [w, v])
        return self._checked(f"dA/dp of {self.name}", out, shape, x, p)

    def d2F_dp2(self, x, p):
        """``d^2 F / dp^2``, shape ``(n,)`` (scalar parameter only)."""
        if self.n_params is not None:
            raise ValueError("d2F_dp2 needs a scalar parameter; restrict a "
                             "vector parameter with System.along first")
        x, p = self.check_state(x), self.check_parameter(p)
        self._eval(x, p)
        g, z = self._joint(x, p)
        e = self._p_direction(0)
        out = _nested_jvp(g, z, [e, e])
        return self._checked(f"d2F/dp2 of {self.name}", out, (self.n,), x, p)

    # -- restriction to a line in parameter space ---------------------------
    def along(self, p0, direction):
        """The scalar-parameter system ``t -> F(x, p0 + t direction)``.

        Parameters
        ----------
        p0 : ndarray, shape (m,)
        direction : ndarray, shape (m,)

        Returns
        -------
        System
            Scalar parameter ``t``; hand-written forms are carried over
            (``dF/dt = dF/dp @ direction``).
        """
        if self.n_params is None:
            raise ValueError("along() needs a system with a vector parameter")
        p0 = self.check_parameter(p0, "p0")
        d = self.check_parameter(direction, "direction")
        parent = self

        def restricted(x, t):
            return parent.fun(x, p0 + t * d)

        def restricted_forms(x, t):
            return _RestrictedForms(parent.forms(x, p0 + t * d), d)

        forms = None if self.forms is None else restricted_forms

        name = f"{self.name} along a direction"
        out = System(restricted, self.n, self.kind, None, name, forms)
        out.line = (p0, d)
        return out


class _RestrictedForms:
    """Forms of a system restricted to ``p = p0 + t d``."""

    def __init__(self, forms, d):
        self._f, self._d = forms, d
        self.A, self.B, self.C = forms.A, forms.B, forms.C
        self.dF_dp = forms.dF_dp @ d

    def A_p(self, w, v):
        return self._f.A_p(w, v) @ self._d


# -- the RNN adapter ---------------------------------------------------------
class _RNNForms:
    """Adapter from :class:`sntk_ref.derivatives.StepForms` to System forms."""

    def __init__(self, step):
        self.A, self.B, self.C = step.A, step.B, step.C
        self.dF_dp = step.dtheta
        self.A_p = step.A_theta


def _rnn_function(model, x, view):
    """The cell update as an autograd function of ``(h, theta)`` (SPEC 1.1)."""
    slices = model.param_slices

    def block(theta, name):
        if name in slices:
            return anp.reshape(theta[slices[name]], getattr(model, name).shape)
        return getattr(model, name)

    def step(h, theta):
        W, U, b = (block(theta, k) for k in ("W", "U", "b"))
        if model.cell == "elman":
            return anp.tanh(anp.dot(W, h) + anp.dot(U, x) + b)
        f = -h + anp.dot(W, anp.tanh(h)) + anp.dot(U, x) + b
        return f if view == "flow" else h + model.dt * f

    step.__name__ = f"{model.cell}_{view}"
    return step


def rnn_system(model, x=None, view="map"):
    """An RNN with a constant input as a :class:`System` (SPEC 4.1).

    The parameter is the flat trainable vector ``theta (P,)`` in the order
    of SPEC 1.2. Derivatives come from the hand-written cell forms
    (:func:`sntk_ref.derivatives.step_forms`); ``.autograd_only()`` gives the
    same system differentiated by autograd (the two agree; see the tests).
    Restrict to one parameter with ``.along(theta0, direction)``.

    Parameters
    ----------
    model : RNN
    x : array_like, shape (D,), optional
        The constant input; zeros when omitted.
    view : {"map", "flow"}
        ``"map"``: the cell's update ``F``; ``"flow"`` (``euler`` only): the
        vector field ``f = -h + W tanh(h) + U x + b``.

    Returns
    -------
    system : System
        State size ``N``, vector parameter of size ``P``.
    """
    from ..derivatives import step_forms

    val.check_choice("view", view, KINDS)
    if view == "flow" and model.cell != "euler":
        raise ValueError(
            f"view='flow' needs the euler cell; this model's cell is "
            f"{model.cell!r}")
    if model.n_params == 0:
        raise ValueError("the model has no trainable parameters (P = 0)")
    x = (np.zeros(model.n_in) if x is None
         else val.as_real_array("x", x, shape=(model.n_in,)))

    def forms(h, theta):
        return _RNNForms(step_forms(model.with_theta(theta), h, x, view))

    fun = _rnn_function(model, x, view)
    out = System(fun, model.n_hidden, view, model.n_params, fun.__name__,
                 forms)
    out.model, out.input = model, x
    return out
