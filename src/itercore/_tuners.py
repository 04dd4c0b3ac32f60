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
from typing import Any

import numpy as np

from . import _pipeline
from ._validation import as_float_array, check_choice, check_int, check_random_state, check_scalar
from ._typing import ArrayLike, FloatArray, MatrixLike, SeedLike

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


#: How OmegaTuner turns iteration counts into losses.
_LOSSES = ("paper", "running-mean")


def _paper_scale(scale):
    """Khodak et al.'s loss scale: the mean of (cost - 1) over the solves so far
    (1 before the first; an iteration count is at least 1)."""
    if not scale.count:
        return 1.0
    mean = scale.total / scale.count - 1.0
    return mean if mean > 0 else 1.0


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
    grid ``omegas``, solves, and feeds the iteration count back as an
    importance-weighted loss. Over a sequence its total cost approaches that
    of the best fixed omega of the grid in hindsight.

    ``loss="paper"`` (default) normalises as Khodak et al.'s code does: the
    played arm's cumulative loss grows by ``(cost - 1) / p`` (an iteration
    count is at least 1), and the whole vector is divided, when the next
    distribution is computed, by the current mean of ``cost - 1`` over all
    solves so far. ``loss="running-mean"`` (itercore's earlier choice) adds
    ``(cost / mean cost so far - 1/2) / p``, each loss normalised once, when
    it is seen (Zimmert and Seldin's reduced-variance estimate).

    Parameters
    ----------
    omegas : array_like
        Candidate values in (0, 2); default ``numpy.linspace(1.0, 1.95, 20)``.
    method : {"sor", "ssor_pcg"}
        The solver whose omega is tuned.
    policy : {"tsallis-inf"}
        The bandit algorithm.
    eta : float
        Learning-rate scale: ``eta_t = eta / sqrt(t)`` (the authors': 2).
    loss : {"paper", "running-mean"}
        How iteration counts become losses (above).
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
    1.5
    """

    _kind = "OmegaTuner"
    _HYPER = ("policy", "eta", "loss")  # constructor arguments kept in state_dict

    def __init__(self, *, omegas: ArrayLike | None = None, method: str = "sor", policy: str = "tsallis-inf",
                 eta: float = 2.0, loss: str = "paper", seed: SeedLike = None) -> None:
        super().__init__(np.linspace(1.0, 1.95, 20) if omegas is None else omegas, method, seed)
        self.policy = check_choice(policy, "policy", ("tsallis-inf",))
        self.eta = check_scalar(eta, "eta", lower=0.0, lower_inclusive=False)
        self.loss = check_choice(loss, "loss", _LOSSES)
        self._cum_loss = np.zeros(self.n_arms)
        self._t = 0

    def probabilities(self) -> FloatArray:
        """The distribution the next solve samples omega from."""
        return tsallis_inf_weights(self._scaled_loss(), self.eta / math.sqrt(self._t + 1))

    def _scaled_loss(self):
        if self.loss == "paper":  # the raw sums over the mean of (cost - 1) so far
            return self._cum_loss / _paper_scale(self._scale)
        return self._cum_loss

    def _choose(self, context=None):
        """(arm, probabilities) for the next solve."""
        p = self.probabilities()
        return int(self._rng.choice(self.n_arms, p=p)), p

    def _learn(self, arm, p, cost, context=None):
        """Feed back the cost of a solve with ``arm`` drawn from ``p``."""
        self._scale.update(cost)
        if self.loss == "paper":
            self._cum_loss[arm] += (float(cost) - 1.0) / p[arm]
        else:
            # Zimmert and Seldin's reduced-variance estimate: (loss - 1/2) / p for the
            # played arm. Losses are costs over their running mean, so most are near 1.
            self._cum_loss[arm] += (self._scale.normalise(cost) - 0.5) / p[arm]
        self._t += 1
        self._record(arm, cost, None)

    def solve(self, A: MatrixLike, b: ArrayLike, *, x0: ArrayLike | None = None, **solver_kwargs: Any
              ) -> tuple[FloatArray, int]:
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
        arm, p = self._choose()
        x, info, cost = self._solve_with(arm, A, b, x0, solver_kwargs)
        self._learn(arm, p, cost)
        return x, info

    @property
    def best_omega_(self) -> float:
        return float(self.omegas[int(np.argmin(self._cum_loss))])

    def _extra_state(self):
        return {"policy": self.policy, "eta": self.eta, "loss": self.loss, "cum_loss": self._cum_loss.tolist(),
                "t": self._t}

    def _load_extra_state(self, state):
        self.policy, self.eta, self.loss = state["policy"], float(state["eta"]), state["loss"]
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

    ``policy="chebcb"`` (default) is Khodak et al.'s ChebCB as their code runs
    it: per candidate omega, a least-squares fit of the scaled cost on the
    Chebyshev polynomials ``T_0..T_degree`` of the context (mapped to [-1, 1]),
    its coefficients boxed as the paper's Lipschitz bounds require (the
    minimum-norm fit, from the arm's normal equations, or a box-constrained
    one when that leaves the box), and
    sampling by inverse-gap weighting: arm ``a`` gets probability
    ``1 / (K + eta_t (yhat_a - yhat_best))`` with ``eta_t`` growing about
    linearly in ``t`` (``2 t sqrt(K t / (R_t + 2 alpha^2 t))``, ``R_t`` the
    squared error of the past predictions). Costs are scaled by ``max cost *
    N``, ``N = 2 + 4 (hi - lo) L / max cost * (1 + log(degree + 1))`` with
    ``L`` the observed cost range over the context range.
    ``policy="binned-tsallis"`` runs an independent Tsallis-INF
    (losses as :class:`OmegaTuner`'s ``loss="paper"``) per context bin, the
    authors' Tsallis-INF-CB baseline.

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
        Chebyshev degree for ChebCB (the authors': 5, i.e. 6 features).
    n_bins : int
        Bins for "binned-tsallis" (the authors': 5).
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
    _HYPER = ("policy", "context_range", "degree", "n_bins")  # constructor arguments

    def __init__(self, *, omegas: ArrayLike | None = None, context_range: tuple[float, float] = (0.0, 1.0),
                 method: str = "sor", policy: str = "chebcb", degree: int = 5, n_bins: int = 5,
                 seed: SeedLike = None) -> None:
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
        self._init_models()

    def _init_models(self):
        d = self.degree + 1
        self._bin_loss = np.zeros((self.n_bins, self.n_arms))
        self._bin_t = np.zeros(self.n_bins, dtype=np.int64)
        self._bin_cost = np.zeros(self.n_bins)
        self._t = 0
        # ChebCB (the authors'): coefficients, exploration, cost scale, past data
        self._theta = np.zeros((self.n_arms, d))
        self._eta = 0.0
        self._cscale = 0.0
        self._set_data(np.zeros((0, d)), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
        self._arm_gram = np.zeros((self.n_arms, d, d))  # per arm: sum phi phi^T and sum phi (cost - 1)
        self._arm_rhs = np.zeros((self.n_arms, d))

    def _set_data(self, phi, arms, costs, pred):
        """ChebCB's past rounds (views of growable buffers)."""
        self._buf_phi, self._buf_arms, self._buf_costs, self._buf_pred = phi, arms, costs, pred
        self._phi, self._arms, self._costs, self._pred = phi, arms, costs, pred

    def _unit(self, context):
        lo, hi = self.context_range
        return float(np.clip(2.0 * (context - lo) / (hi - lo) - 1.0, -1.0, 1.0))

    def _bin(self, context):
        return min(int((self._unit(context) + 1.0) / 2.0 * self.n_bins), self.n_bins - 1)

    def predicted_costs(self, context: float) -> FloatArray:
        """Per-omega predicted scaled cost at ``context`` (ChebCB's model)."""
        context = check_scalar(context, "context")
        return self._theta @ chebyshev_features(self._unit(context), self.degree)

    def probabilities(self, context: float) -> FloatArray:
        """The distribution over omegas the next solve at ``context`` samples from."""
        context = check_scalar(context, "context")
        if self.policy == "binned-tsallis":
            k = self._bin(context)
            mean = self._bin_cost[k] / self._bin_t[k] - 1.0 if self._bin_t[k] else 1.0
            return tsallis_inf_weights(self._bin_loss[k] / (mean if mean > 0 else 1.0),
                                       2.0 / math.sqrt(self._bin_t[k] + 1))
        yhat = self.predicted_costs(context)
        best = int(np.argmin(yhat))
        p = 1.0 / (self.n_arms + self._eta * (yhat - yhat[best]))
        p[best] = 0.0
        p[best] = 1.0 - p.sum()
        return p

    def best_omega(self, context: float) -> float:
        """The omega the model currently expects to be cheapest at ``context``."""
        context = check_scalar(context, "context")
        if self.policy == "binned-tsallis":
            return float(self.omegas[int(np.argmin(self._bin_loss[self._bin(context)]))])
        return float(self.omegas[int(np.argmin(self.predicted_costs(context)))])

    @property
    def best_omega_(self) -> float:
        """The best omega at the middle of ``context_range``."""
        return self.best_omega(0.5 * (self.context_range[0] + self.context_range[1]))

    def _choose(self, context):
        p = self.probabilities(context)
        return int(self._rng.choice(self.n_arms, p=p)), p

    def _learn(self, arm, p, cost, context):
        self._scale.update(cost)
        if self.policy == "binned-tsallis":
            k = self._bin(context)
            self._bin_loss[k, arm] += (float(cost) - 1.0) / p[arm]  # as OmegaTuner(loss="paper")
            self._bin_cost[k] += float(cost)
            self._bin_t[k] += 1
        else:
            self._chebcb_update(arm, float(cost), chebyshev_features(self._unit(context), self.degree))
        self._t += 1
        self._record(arm, cost, context)

    def _chebcb_update(self, arm, cost, phi):
        """One round of the authors' ChebCB update (learners/ChebCB.m)."""
        from scipy.optimize import lsq_linear  # late: only ChebCB needs it

        t = len(self._costs) + 1
        if t > len(self._buf_costs):  # amortised growth: no O(t) copy per round
            cap = max(64, 2 * t)
            self._buf_pred = np.resize(self._buf_pred, cap)
            self._buf_phi = np.resize(self._buf_phi, (cap, phi.size))
            self._buf_arms = np.resize(self._buf_arms, cap)
            self._buf_costs = np.resize(self._buf_costs, cap)
        self._buf_pred[t - 1] = self._theta[arm] @ phi
        self._buf_phi[t - 1] = phi
        self._buf_arms[t - 1] = arm
        self._buf_costs[t - 1] = cost
        self._pred, self._phi = self._buf_pred[:t], self._buf_phi[:t]
        self._arms, self._costs = self._buf_arms[:t], self._buf_costs[:t]
        self._arm_gram[arm] += np.outer(phi, phi)
        self._arm_rhs[arm] += (cost - 1.0) * phi
        m = self.degree + 1
        width = self.context_range[1] - self.context_range[0]
        K = float(self._costs.max())
        if not K > 0:
            return
        L = (K - float(self._costs.min())) / width  # the cost's observed range per unit of context
        N = 2.0 + 4.0 * width * L / K * (1.0 + math.log(m))
        refit_all = self._cscale != K * N
        self._cscale = scale = K * N
        ub = np.concatenate([[1.0 / N], 2.0 * width * L / scale / np.arange(1, m)])
        ub = np.maximum(ub, 1e-12)  # a box of zero width (no spread seen yet) is a tiny one
        resnorm = 0.0
        for a in (range(self.n_arms) if refit_all else (arm,)):
            if not self._arm_gram[a, 0, 0] > 0:  # (T_0 = 1: the arm's number of rounds)
                continue
            # the minimum-norm least-squares fit, from the arm's normal equations
            # (m x m; numpy's lstsq on the raw rows cost ~100x more here)
            theta = np.linalg.pinv(self._arm_gram[a], rcond=1e-12, hermitian=True) @ self._arm_rhs[a] / scale
            if np.any(np.abs(theta) > ub):
                rows = self._arms == a
                X, y = self._phi[rows], (self._costs[rows] - 1.0) / scale
                fit = lsq_linear(X, y, bounds=(-ub, ub), method="bvls")
                theta, resnorm = fit.x, 2.0 * float(fit.cost)
            self._theta[a] = theta
        alpha = (math.pi + 2.0 / math.pi * math.log(2.0 * m + 1.0)) / (2.0 * scale * (m + 1)) * width * L
        R = float(np.sum((self._pred - self._costs / scale) ** 2))
        denom = R - resnorm + 2.0 * alpha ** 2 * t
        self._eta = 2.0 * t * math.sqrt(self.n_arms * t / denom) if denom > 0 else 0.0

    def solve(self, A: MatrixLike, b: ArrayLike, *, context: float, x0: ArrayLike | None = None,
              **solver_kwargs: Any) -> tuple[FloatArray, int]:
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
        arm, p = self._choose(context)
        x, info, cost = self._solve_with(arm, A, b, x0, solver_kwargs)
        self._learn(arm, p, cost, context)
        return x, info

    def _extra_state(self):
        return {
            "policy": self.policy, "context_range": list(self.context_range), "degree": self.degree,
            "n_bins": self.n_bins, "t": self._t,
            "bin_loss": self._bin_loss.tolist(), "bin_t": self._bin_t.tolist(), "bin_cost": self._bin_cost.tolist(),
            "theta": self._theta.tolist(), "eta_t": self._eta, "cost_scale": self._cscale,
            "arms": self._arms.tolist(), "pred": self._pred.tolist(),
        }

    def _load_extra_state(self, state):
        self.policy = state["policy"]
        self.context_range = tuple(float(c) for c in state["context_range"])
        self.degree, self.n_bins = int(state["degree"]), int(state["n_bins"])
        self._init_models()
        self._t = check_int(state["t"], "t", lower=0)
        self._bin_loss = _state_array(state, "bin_loss", (self.n_bins, self.n_arms))
        self._bin_t = _state_array(state, "bin_t", (self.n_bins,)).astype(np.int64)
        self._bin_cost = _state_array(state, "bin_cost", (self.n_bins,))
        self._theta = _state_array(state, "theta", (self.n_arms, self.degree + 1))
        self._eta, self._cscale = float(state["eta_t"]), float(state["cost_scale"])
        if self.policy == "chebcb":  # the data the fits use, from the history
            costs = np.array([h["iterations"] for h in self.history], dtype=np.float64)
            phi = np.array([chebyshev_features(self._unit(h["context"]), self.degree) for h in self.history])
            self._set_data(phi.reshape(len(self.history), self.degree + 1),
                           np.asarray(state["arms"], dtype=np.int64), costs,
                           np.asarray(state["pred"], dtype=np.float64))
            for k in range(len(costs)):
                a = self._arms[k]
                self._arm_gram[a] += np.outer(self._phi[k], self._phi[k])
                self._arm_rhs[a] += (costs[k] - 1.0) * self._phi[k]
