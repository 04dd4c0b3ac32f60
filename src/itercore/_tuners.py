"""Bandits that learn the SOR relaxation parameter across a sequence of systems.

A simulation solves many related systems ``A_t x = b_t``. Each solve reveals
only its own cost (iterations) for the omega it used. :class:`OmegaTuner`
(Tsallis-INF, an adversarial multi-armed bandit) approaches the best fixed
omega in hindsight; :class:`ContextualOmegaTuner` (ChebCB: per-arm regression
on Chebyshev features of a scalar context, inverse-gap-weighted sampling)
approaches the best omega for each context, e.g. a diagonal shift or a
diffusion coefficient. Khodak et al., "Learning to Relax", ICLR 2024.
"""

from __future__ import annotations

import math

import numpy as np

from . import _pipeline
from ._validation import as_float_array, check_choice, check_int, check_random_state, check_scalar

#: The solvers whose omega a tuner learns (``method=``).
_METHODS = ("sor", "ssor_pcg")


def _check_omegas(omegas):
    omegas = as_float_array(omegas, "omegas", ndim=1, dtype=np.float64)
    if omegas.size < 2:
        raise ValueError(f"omegas must hold at least 2 candidate values, got {omegas.size}")
    if np.any(omegas <= 0) or np.any(omegas >= 2):
        raise ValueError("omegas must lie in the open interval (0, 2)")
    return omegas


def tsallis_inf_weights(cum_loss, eta):
    """Tsallis-INF sampling distribution with the 1/2-Tsallis regulariser.

    ``p_i = 4 / (eta * (L_i - x))**2`` with the normaliser ``x < min(L)``
    found by Newton's method so that the ``p_i`` sum to one (Zimmert and
    Seldin, 2021).
    """
    L = np.asarray(cum_loss, dtype=np.float64)
    x = L.min() - 2.0 / eta  # here the best arm alone has p = 1, so sum(p) >= 1
    for _ in range(100):
        p = 4.0 / (eta * (L - x)) ** 2
        f = p.sum() - 1.0
        if abs(f) < 1e-13:
            break
        x -= f / (eta * np.sum(p ** 1.5))
    p = 4.0 / (eta * (L - x)) ** 2
    return p / p.sum()


class _CostScale:
    """Running mean of observed costs: losses are costs divided by it, so the
    learning rates need no knowledge of how many iterations a solve takes."""

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def update(self, cost):
        self.total += float(cost)
        self.count += 1

    def normalise(self, cost):
        mean = self.total / self.count if self.count else float(cost)
        return float(cost) / mean if mean > 0 else 0.0


class _TunerBase:
    """Shared solving, history and (de)serialisation of the tuners."""

    _kind = ""

    def __init__(self, omegas, method, seed):
        self.omegas = _check_omegas(omegas)
        self.method = check_choice(method, "method", _METHODS)
        self._rng = check_random_state(seed)
        self.history = []
        self._scale = _CostScale()

    @property
    def n_arms(self):
        return len(self.omegas)

    def _solve_with(self, arm, A, b, x0, solver_kwargs):
        """Solve with the arm's omega through linalg's pipeline step; returns
        ``(x, info, iterations)``."""
        from .linalg import _solve  # late: linalg imports this module

        if "omega" in solver_kwargs:
            raise TypeError("omega is chosen by the tuner; do not pass it to solve()")
        for key in ("history", "stacklevel"):  # the step's own arguments, not the solver's
            if key in solver_kwargs:
                raise TypeError(f"solve() got an unexpected keyword argument {key!r}")
        # stacklevel: the user's call of the tuner's solve (which calls this method).
        x, res = _solve(self.method, A, b, x0=x0, omega=float(self.omegas[arm]), stacklevel=3, **solver_kwargs)
        return x, _pipeline.linear_info(res["status"], res["nit"]), res["nit"]

    def _record(self, arm, cost, context):
        self.history.append({"omega": float(self.omegas[arm]), "iterations": int(cost), "context": context})

    def state_dict(self):
        """The tuner's whole state as plain JSON-serialisable data."""
        return {
            "kind": self._kind,
            "omegas": self.omegas.tolist(),
            "method": self.method,
            "history": [dict(h) for h in self.history],
            "scale": [self._scale.total, self._scale.count],
            "rng": self._rng.bit_generator.state,
            **self._extra_state(),
        }

    @classmethod
    def from_state_dict(cls, state):
        """Rebuild a tuner saved by :meth:`state_dict` (it continues identically)."""
        if not isinstance(state, dict) or state.get("kind") != cls._kind:
            raise ValueError(f"state is not a {cls.__name__} state_dict")
        try:  # every value is checked as the constructor checks it: a state may come from a file
            obj = cls(omegas=state["omegas"], method=state["method"],
                      **{key: state[key] for key in cls._HYPER})
            obj._rng.bit_generator.state = state["rng"]
            obj.history = [dict(h) for h in state["history"]]
            total, count = check_scalar(state["scale"][0], "scale[0]", lower=0.0), state["scale"][1]
            obj._scale.total, obj._scale.count = total, check_int(count, "scale[1]", lower=0)
            obj._load_extra_state(state)
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            raise ValueError(f"state is not a valid {cls.__name__} state_dict: {exc!s}") from None
        return obj

    def total_iterations(self):
        """Sum of the iterations of every solve so far."""
        return int(sum(h["iterations"] for h in self.history))


class OmegaTuner(_TunerBase):
    """Learn a fixed SOR relaxation parameter across a sequence of systems.

    Each :meth:`solve` samples omega from a Tsallis-INF distribution over the
    grid ``omegas``, solves, and feeds the iteration count back as a
    reduced-variance importance-weighted loss (the cost divided by the running
    mean cost, minus 1/2, over the probability of the played omega). Over a
    sequence its total cost approaches that of the best fixed omega of the
    grid in hindsight.

    Parameters
    ----------
    omegas : array_like
        Candidate values in (0, 2); default ``numpy.linspace(1.0, 1.95, 20)``.
    method : {"sor", "ssor_pcg"}
        The solver whose omega is tuned.
    policy : {"tsallis-inf"}
        The bandit algorithm.
    eta : float
        Learning-rate scale: ``eta_t = eta / sqrt(t)``.
    seed : None, int or numpy.random.Generator

    Attributes
    ----------
    history : list of dict
        ``{"omega", "iterations", "context"}`` per solve.
    best_omega_ : float
        The omega with the lowest estimated cumulative loss.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.linalg import OmegaTuner
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(10, 10))
    >>> L = (sp.kron(sp.identity(10), T) + sp.kron(T, sp.identity(10))).tocsr()
    >>> tuner = OmegaTuner(seed=0)
    >>> rng = np.random.default_rng(0)
    >>> for t in range(200):
    ...     x, info = tuner.solve(L, rng.standard_normal(100))
    >>> round(tuner.best_omega_, 2)
    1.55
    """

    _kind = "OmegaTuner"
    _HYPER = ("policy", "eta")  # constructor arguments kept in state_dict

    def __init__(self, *, omegas=None, method="sor", policy="tsallis-inf", eta=2.0, seed=None):
        super().__init__(np.linspace(1.0, 1.95, 20) if omegas is None else omegas, method, seed)
        self.policy = check_choice(policy, "policy", ("tsallis-inf",))
        self.eta = check_scalar(eta, "eta", lower=0.0, lower_inclusive=False)
        self._cum_loss = np.zeros(self.n_arms)
        self._t = 0

    def probabilities(self):
        """The distribution the next solve samples omega from."""
        return tsallis_inf_weights(self._cum_loss, self.eta / math.sqrt(self._t + 1))

    def solve(self, A, b, *, x0=None, **solver_kwargs):
        """Pick omega, solve ``A x = b`` with it, learn from the iteration count.

        Parameters
        ----------
        A, b, x0
            As for :func:`itercore.linalg.sor` / :func:`~itercore.linalg.ssor_pcg`.
        **solver_kwargs
            Keywords of that solver (``rtol``, ``maxiter``, ``n_threads``,
            ``ordering``, ``callback``, ``options``, ...), but not ``omega``.

        Returns
        -------
        x, info
            As the solver returns them.
        """
        p = self.probabilities()
        arm = int(self._rng.choice(self.n_arms, p=p))
        x, info, cost = self._solve_with(arm, A, b, x0, solver_kwargs)
        self._scale.update(cost)
        # Zimmert and Seldin's reduced-variance estimate: (loss - 1/2) / p for the
        # played arm. Losses are costs over their running mean, so most are near 1.
        self._cum_loss[arm] += (self._scale.normalise(cost) - 0.5) / p[arm]
        self._t += 1
        self._record(arm, cost, None)
        return x, info

    @property
    def best_omega_(self):
        return float(self.omegas[int(np.argmin(self._cum_loss))])

    def _extra_state(self):
        return {"policy": self.policy, "eta": self.eta, "cum_loss": self._cum_loss.tolist(), "t": self._t}

    def _load_extra_state(self, state):
        self._cum_loss = _state_array(state, "cum_loss", (self.n_arms,))
        self._t = check_int(state["t"], "t", lower=0)


def _state_array(state, key, shape):
    """A finite float64 array of ``shape`` from a state_dict (ValueError naming ``key``)."""
    return as_float_array(state[key], key, shape=shape, dtype=np.float64, allow_empty=True, copy=True)


def chebyshev_features(u, degree):
    """``[T_0(u), ..., T_degree(u)]`` for ``u`` in [-1, 1]."""
    feats = np.empty(degree + 1)
    feats[0] = 1.0
    if degree >= 1:
        feats[1] = u
    for k in range(2, degree + 1):
        feats[k] = 2.0 * u * feats[k - 1] - feats[k - 2]
    return feats


class ContextualOmegaTuner(_TunerBase):
    """Learn omega as a function of a scalar context (e.g. a diagonal shift).

    ``policy="chebcb"`` (default) fits, per candidate omega, a ridge
    regression of the normalised cost on Chebyshev polynomial features of the
    context, and samples by inverse-gap weighting: arm ``a`` gets probability
    ``1 / (K + gamma_t (yhat_a - yhat_best))`` with ``gamma_t`` growing like
    ``sqrt(K t)``. ``policy="binned-tsallis"`` runs an independent
    Tsallis-INF per context bin (the simple baseline).

    Parameters
    ----------
    omegas : array_like, optional
        Candidate values in (0, 2); default ``numpy.linspace(1.0, 1.95, 20)``.
    context_range : (float, float)
        Range the contexts come from (mapped to [-1, 1]; values outside are clipped).
    method : {"sor", "ssor_pcg"}
        The solver whose omega is tuned.
    policy : {"chebcb", "binned-tsallis"}
    degree : int
        Chebyshev degree for ChebCB.
    n_bins : int
        Bins for "binned-tsallis".
    gamma : float
        Exploration scale of inverse-gap weighting.
    ridge : float
        Ridge regulariser of the per-arm regressions.
    seed : None, int or numpy.random.Generator

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.linalg import ContextualOmegaTuner
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(10, 10))
    >>> L = (sp.kron(sp.identity(10), T) + sp.kron(T, sp.identity(10))).tocsr()
    >>> tuner = ContextualOmegaTuner(context_range=(0.0, 1.0), seed=0)
    >>> rng = np.random.default_rng(0)
    >>> for t in range(100):
    ...     c = rng.uniform()
    ...     x, info = tuner.solve(L + c * sp.identity(100), rng.standard_normal(100), context=c)
    >>> len(tuner.history)
    100
    """

    _kind = "ContextualOmegaTuner"
    _HYPER = ("policy", "context_range", "degree", "n_bins", "gamma", "ridge")  # constructor arguments

    def __init__(self, *, omegas=None, context_range=(0.0, 1.0), method="sor", policy="chebcb", degree=4,
                 n_bins=10, gamma=1.0, ridge=1.0, seed=None):
        super().__init__(np.linspace(1.0, 1.95, 20) if omegas is None else omegas, method, seed)
        self.policy = check_choice(policy, "policy", ("chebcb", "binned-tsallis"))
        lo_hi = as_float_array(context_range, "context_range", shape=(2,), dtype=np.float64)
        if not lo_hi[0] < lo_hi[1]:
            raise ValueError(f"context_range must be (lo, hi) with lo < hi, got {tuple(lo_hi)}")
        if not np.isfinite(lo_hi[1] - lo_hi[0]):
            raise ValueError(f"context_range must have a finite width hi - lo, got {tuple(lo_hi)}")
        self.context_range = (float(lo_hi[0]), float(lo_hi[1]))
        self.degree = check_int(degree, "degree", lower=0, upper=20)
        self.n_bins = check_int(n_bins, "n_bins", lower=1, upper=2**20)
        self.gamma = check_scalar(gamma, "gamma", lower=0.0, lower_inclusive=False)
        self.ridge = check_scalar(ridge, "ridge", lower=0.0, lower_inclusive=False)
        self._init_models()

    def _init_models(self):
        d = self.degree + 1
        self._gram = np.repeat(self.ridge * np.eye(d)[None], self.n_arms, axis=0)
        self._rhs = np.zeros((self.n_arms, d))
        self._bin_loss = np.zeros((self.n_bins, self.n_arms))
        self._bin_t = np.zeros(self.n_bins, dtype=np.int64)
        self._t = 0

    def _unit(self, context):
        lo, hi = self.context_range
        return float(np.clip(2.0 * (context - lo) / (hi - lo) - 1.0, -1.0, 1.0))

    def _bin(self, context):
        return min(int((self._unit(context) + 1.0) / 2.0 * self.n_bins), self.n_bins - 1)

    def predicted_costs(self, context):
        """Per-omega predicted normalised cost at ``context`` (ChebCB's model)."""
        context = check_scalar(context, "context")
        phi = chebyshev_features(self._unit(context), self.degree)
        coef = np.linalg.solve(self._gram, self._rhs[:, :, None])[:, :, 0]
        return coef @ phi

    def probabilities(self, context):
        """The distribution over omegas the next solve at ``context`` samples from."""
        context = check_scalar(context, "context")
        if self.policy == "binned-tsallis":
            k = self._bin(context)
            return tsallis_inf_weights(self._bin_loss[k], 2.0 / math.sqrt(self._bin_t[k] + 1))
        yhat = self.predicted_costs(context)
        best = int(np.argmin(yhat))
        K = self.n_arms
        gamma_t = self.gamma * math.sqrt(K * (self._t + 1))
        p = 1.0 / (K + gamma_t * (yhat - yhat[best]))
        p[best] = 0.0
        p[best] = 1.0 - p.sum()
        return p

    def best_omega(self, context):
        """The omega the model currently expects to be cheapest at ``context``."""
        context = check_scalar(context, "context")
        if self.policy == "binned-tsallis":
            return float(self.omegas[int(np.argmin(self._bin_loss[self._bin(context)]))])
        return float(self.omegas[int(np.argmin(self.predicted_costs(context)))])

    @property
    def best_omega_(self):
        """The best omega at the middle of ``context_range``."""
        return self.best_omega(0.5 * (self.context_range[0] + self.context_range[1]))

    def solve(self, A, b, *, context, x0=None, **solver_kwargs):
        """Pick omega for ``context``, solve, and learn from the iteration count.

        Parameters
        ----------
        A, b, x0
            As for the solver.
        context : float
            The instance's feature (e.g. the shift ``c`` of ``A + c I``).
        **solver_kwargs
            Keywords of the solver (not ``omega``), as for :meth:`OmegaTuner.solve`.
        """
        context = check_scalar(context, "context")
        p = self.probabilities(context)
        arm = int(self._rng.choice(self.n_arms, p=p))
        x, info, cost = self._solve_with(arm, A, b, x0, solver_kwargs)
        self._scale.update(cost)
        loss = self._scale.normalise(cost)
        if self.policy == "binned-tsallis":
            k = self._bin(context)
            self._bin_loss[k, arm] += (loss - 0.5) / p[arm]  # as OmegaTuner
            self._bin_t[k] += 1
        else:
            phi = chebyshev_features(self._unit(context), self.degree)
            self._gram[arm] += np.outer(phi, phi)
            self._rhs[arm] += loss * phi
        self._t += 1
        self._record(arm, cost, context)
        return x, info

    def _extra_state(self):
        return {
            "policy": self.policy, "context_range": list(self.context_range), "degree": self.degree,
            "n_bins": self.n_bins, "gamma": self.gamma, "ridge": self.ridge, "t": self._t,
            "gram": self._gram.tolist(), "rhs": self._rhs.tolist(),
            "bin_loss": self._bin_loss.tolist(), "bin_t": self._bin_t.tolist(),
        }

    def _load_extra_state(self, state):
        d = self.degree + 1
        self._t = check_int(state["t"], "t", lower=0)
        self._gram = _state_array(state, "gram", (self.n_arms, d, d))
        self._rhs = _state_array(state, "rhs", (self.n_arms, d))
        self._bin_loss = _state_array(state, "bin_loss", (self.n_bins, self.n_arms))
        self._bin_t = _state_array(state, "bin_t", (self.n_bins,)).astype(np.int64)
