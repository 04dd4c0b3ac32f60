"""Equality-constrained Hock-Schittkowski test problems with exact derivatives.

Each problem is a dict: ``name``, ``x0`` (the standard start), ``fun``,
``jac``, ``hess``, ``cons`` (a constraint dict with ``fun``, ``jac`` and
``hess(x, v) = sum_i v_i Hess c_i(x)``) and ``fstar`` (the known optimal
value). Used by tests/test_optimize.py and bench/compare_optimize.py.
Source: Hock & Schittkowski, "Test Examples for Nonlinear Programming Codes", 1981.
"""

import math

import numpy as np


def _p(name, x0, fun, jac, hess, cfun, cjac, chess, fstar):
    return {"name": name, "x0": np.array(x0, dtype=float), "fun": fun, "jac": jac, "hess": hess,
            "cons": {"type": "eq", "fun": cfun, "jac": cjac, "hess": chess}, "fstar": fstar}


def _a(*rows):
    return np.array(rows, dtype=float)


A9, B9 = math.pi / 12, math.pi / 16

PROBLEMS = [
    _p("HS6", [-1.2, 1.0],
       lambda x: (1 - x[0]) ** 2,
       lambda x: _a(-2 * (1 - x[0]), 0.0),
       lambda x: _a([2.0, 0.0], [0.0, 0.0]),
       lambda x: _a(10 * (x[1] - x[0] ** 2)),
       lambda x: _a([-20 * x[0], 10.0]),
       lambda x, v: v[0] * _a([-20.0, 0.0], [0.0, 0.0]),
       0.0),
    _p("HS7", [2.0, 2.0],
       lambda x: math.log(1 + x[0] ** 2) - x[1],
       lambda x: _a(2 * x[0] / (1 + x[0] ** 2), -1.0),
       lambda x: _a([(2 - 2 * x[0] ** 2) / (1 + x[0] ** 2) ** 2, 0.0], [0.0, 0.0]),
       lambda x: _a((1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4),
       lambda x: _a([4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]),
       lambda x, v: v[0] * _a([4 + 12 * x[0] ** 2, 0.0], [0.0, 2.0]),
       -math.sqrt(3)),
    _p("HS8", [2.0, 1.0],
       lambda x: -1.0,
       lambda x: np.zeros(2),
       lambda x: np.zeros((2, 2)),
       lambda x: _a(x[0] ** 2 + x[1] ** 2 - 25, x[0] * x[1] - 9),
       lambda x: _a([2 * x[0], 2 * x[1]], [x[1], x[0]]),
       lambda x, v: v[0] * 2 * np.eye(2) + v[1] * _a([0.0, 1.0], [1.0, 0.0]),
       -1.0),
    _p("HS9", [0.0, 0.0],
       lambda x: math.sin(A9 * x[0]) * math.cos(B9 * x[1]),
       lambda x: _a(A9 * math.cos(A9 * x[0]) * math.cos(B9 * x[1]),
                    -B9 * math.sin(A9 * x[0]) * math.sin(B9 * x[1])),
       lambda x: _a([-A9 ** 2 * math.sin(A9 * x[0]) * math.cos(B9 * x[1]),
                     -A9 * B9 * math.cos(A9 * x[0]) * math.sin(B9 * x[1])],
                    [-A9 * B9 * math.cos(A9 * x[0]) * math.sin(B9 * x[1]),
                     -B9 ** 2 * math.sin(A9 * x[0]) * math.cos(B9 * x[1])]),
       lambda x: _a(4 * x[0] - 3 * x[1]),
       lambda x: _a([4.0, -3.0]),
       lambda x, v: np.zeros((2, 2)),
       -0.5),
    _p("HS26", [-2.6, 2.0, 2.0],
       lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
       lambda x: _a(2 * (x[0] - x[1]), -2 * (x[0] - x[1]) + 4 * (x[1] - x[2]) ** 3, -4 * (x[1] - x[2]) ** 3),
       lambda x: _a([2.0, -2.0, 0.0],
                    [-2.0, 2 + 12 * (x[1] - x[2]) ** 2, -12 * (x[1] - x[2]) ** 2],
                    [0.0, -12 * (x[1] - x[2]) ** 2, 12 * (x[1] - x[2]) ** 2]),
       lambda x: _a((1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3),
       lambda x: _a([1 + x[1] ** 2, 2 * x[0] * x[1], 4 * x[2] ** 3]),
       lambda x, v: v[0] * _a([0.0, 2 * x[1], 0.0], [2 * x[1], 2 * x[0], 0.0], [0.0, 0.0, 12 * x[2] ** 2]),
       0.0),
    _p("HS27", [2.0, 2.0, 2.0],
       lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2,
       lambda x: _a(0.02 * (x[0] - 1) - 4 * x[0] * (x[1] - x[0] ** 2), 2 * (x[1] - x[0] ** 2), 0.0),
       lambda x: _a([0.02 - 4 * (x[1] - x[0] ** 2) + 8 * x[0] ** 2, -4 * x[0], 0.0],
                    [-4 * x[0], 2.0, 0.0], [0.0, 0.0, 0.0]),
       lambda x: _a(x[0] + x[2] ** 2 + 1),
       lambda x: _a([1.0, 0.0, 2 * x[2]]),
       lambda x, v: v[0] * np.diag([0.0, 0.0, 2.0]),
       0.04),
    _p("HS28", [-4.0, 1.0, 1.0],
       lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
       lambda x: _a(2 * (x[0] + x[1]), 2 * (x[0] + x[1]) + 2 * (x[1] + x[2]), 2 * (x[1] + x[2])),
       lambda x: _a([2.0, 2.0, 0.0], [2.0, 4.0, 2.0], [0.0, 2.0, 2.0]),
       lambda x: _a(x[0] + 2 * x[1] + 3 * x[2] - 1),
       lambda x: _a([1.0, 2.0, 3.0]),
       lambda x, v: np.zeros((3, 3)),
       0.0),
    _p("HS39", [2.0, 2.0, 2.0, 2.0],
       lambda x: -x[0],
       lambda x: _a(-1.0, 0.0, 0.0, 0.0),
       lambda x: np.zeros((4, 4)),
       lambda x: _a(x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2),
       lambda x: _a([-3 * x[0] ** 2, 1.0, -2 * x[2], 0.0], [2 * x[0], -1.0, 0.0, -2 * x[3]]),
       lambda x, v: v[0] * np.diag([-6 * x[0], 0.0, -2.0, 0.0]) + v[1] * np.diag([2.0, 0.0, 0.0, -2.0]),
       -1.0),
    _p("HS40", [0.8, 0.8, 0.8, 0.8],
       lambda x: -x[0] * x[1] * x[2] * x[3],
       lambda x: -_a(x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3], x[0] * x[1] * x[2]),
       lambda x: -np.array([[0.0 if i == j else np.prod([x[k] for k in range(4) if k not in (i, j)])
                             for j in range(4)] for i in range(4)]),
       lambda x: _a(x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]),
       lambda x: _a([3 * x[0] ** 2, 2 * x[1], 0.0, 0.0], [2 * x[0] * x[3], 0.0, -1.0, x[0] ** 2],
                    [0.0, -1.0, 0.0, 2 * x[3]]),
       lambda x, v: (v[0] * np.diag([6 * x[0], 2.0, 0.0, 0.0])
                     + v[1] * _a([2 * x[3], 0, 0, 2 * x[0]], [0, 0, 0, 0], [0, 0, 0, 0], [2 * x[0], 0, 0, 0])
                     + v[2] * np.diag([0.0, 0.0, 0.0, 2.0])),
       -0.25),
    _p("HS42", [1.0, 1.0, 1.0, 1.0],
       lambda x: float(np.sum((x - np.arange(1, 5)) ** 2)),
       lambda x: 2 * (x - np.arange(1, 5)),
       lambda x: 2 * np.eye(4),
       lambda x: _a(x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2),
       lambda x: _a([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2 * x[2], 2 * x[3]]),
       lambda x, v: v[1] * np.diag([0.0, 0.0, 2.0, 2.0]),
       28 - 10 * math.sqrt(2)),
]

BY_NAME = {p["name"]: p for p in PROBLEMS}


# --- two scalable problems used by the tests and the bench ------------------------

from itercore._problems import pde_control  # noqa: E402,F401  (shared with python -m itercore)


def logistic_problem(n_constraints=10, seed=0):
    """Constrained logistic regression on scikit-learn's breast cancer data (standardised).

    min mean log(1 + exp(-y_i a_i^T x))  s.t.  C x = d (n_constraints random Gaussian rows,
    d = C x_feas for a random unit x_feas) and ||x||^2 = 1. Needs scikit-learn.
    """
    from scipy.special import expit
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = data.data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.where(data.target == 1, 1.0, -1.0)
    M, n = X.shape
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((n_constraints, n))
    xf = rng.standard_normal(n)
    xf /= np.linalg.norm(xf)
    d = C @ xf

    def fun(x):
        return float(np.mean(np.logaddexp(0.0, -y * (X @ x))))

    def jac(x):
        s = expit(-y * (X @ x))
        return -(X.T @ (y * s)) / M

    def hess(x):
        p = expit(y * (X @ x))
        w = p * (1 - p)
        return (X.T * w) @ X / M

    def cfun(x):
        return np.concatenate([C @ x - d, [x @ x - 1.0]])

    def cjac(x):
        return np.vstack([C, 2 * x[None, :]])

    def chess(x, v):
        return 2.0 * v[-1] * np.eye(n)

    x0 = np.zeros(n)
    x0[0] = 1.0
    return {"name": "logistic (breast cancer)", "x0": x0, "fun": fun, "jac": jac, "hess": hess,
            "cons": {"type": "eq", "fun": cfun, "jac": cjac, "hess": chess}}


def ill_qp(n=250, m=50):
    """min 1/2 x'Hx s.t. A x = b, cond(H) = 1e3, dense callables: a KKT system
    the sketch solver needs many iterations on. Returns (fun, jac, hess, cons, x0)."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    H = (Q * np.logspace(0, 3, n)) @ Q.T
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    cons = {"type": "eq", "fun": lambda x: A @ x - b, "jac": lambda x: A, "hess": lambda x, v: np.zeros((n, n))}
    return (lambda x: 0.5 * x @ H @ x, lambda x: H @ x, lambda x: H, cons, np.zeros(n))
