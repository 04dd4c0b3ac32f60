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



# --- 16 more equality-constrained problems (HS46-53, 56, 60, 61, 77-81) ----------
# Written from the published formulations (Hock & Schittkowski 1981). HS53's
# bounds (-10 <= x <= 10), HS60's (-10 <= x <= 10) and HS80/81's are inactive
# at the solution and dropped. HS61 starts at x0 = 0, where its constraint
# Jacobian is rank deficient (as published). fstar: the published optimal value.

def _powsum(n, terms):
    """f = sum coef * (a . x + b)^p over terms (coef, {index: a_index}, b, p): (fun, jac, hess)."""
    vecs = []
    for coef, a, b, p in terms:
        av = np.zeros(n)
        for i, ai in a.items():
            av[i] = ai
        vecs.append((coef, av, b, p))

    def fun(x):
        return float(sum(coef * (av @ x + b) ** p for coef, av, b, p in vecs))

    def jac(x):
        return sum(coef * p * (av @ x + b) ** (p - 1) * av for coef, av, b, p in vecs)

    def hess(x):
        return sum(coef * p * (p - 1) * (av @ x + b) ** (p - 2) * np.outer(av, av) for coef, av, b, p in vecs)

    return fun, jac, hess


def _cons(parts):
    """Constraint (fun, jac, hess(x, v)) from a list of per-constraint (c, grad, hess)."""
    return (lambda x: np.array([c(x) for c, _, _ in parts], dtype=float),
            lambda x: np.array([g(x) for _, g, _ in parts], dtype=float),
            lambda x, v: sum(vi * h(x) for vi, (_, _, h) in zip(v, parts)))


def _linear(n, A, b):
    """Linear constraints A x = b as per-constraint parts."""
    A = np.asarray(A, dtype=float)
    return [(lambda x, a=a, bi=bi: float(a @ x - bi), lambda x, a=a: a, lambda x: np.zeros((n, n)))
            for a, bi in zip(A, b)]


def _sym(n, entries):
    """Symmetric n x n matrix from {(i, j): value} (upper or lower given once)."""
    M = np.zeros((n, n))
    for (i, j), v in entries.items():
        M[i, j] += v
        if i != j:
            M[j, i] += v
    return M


def _prob(name, x0, f, cons, fstar):
    fun, jac, hess = f
    cf, cj, ch = _cons(cons)
    return _p(name, x0, fun, jac, hess, cf, cj, ch, fstar)


def _hs46_cons(n, k1, k2):
    # c1 = x1^2 x4 + sin(x4 - x5) - k1 ; c2 = x2 + x3^4 x4^2 - k2
    return [
        (lambda x: x[0] ** 2 * x[3] + math.sin(x[3] - x[4]) - k1,
         lambda x: _a(2 * x[0] * x[3], 0.0, 0.0, x[0] ** 2 + math.cos(x[3] - x[4]), -math.cos(x[3] - x[4])),
         lambda x: _sym(n, {(0, 0): 2 * x[3], (0, 3): 2 * x[0], (3, 3): -math.sin(x[3] - x[4]),
                            (3, 4): math.sin(x[3] - x[4]), (4, 4): -math.sin(x[3] - x[4])})),
        (lambda x: x[1] + x[2] ** 4 * x[3] ** 2 - k2,
         lambda x: _a(0.0, 1.0, 4 * x[2] ** 3 * x[3] ** 2, 2 * x[2] ** 4 * x[3], 0.0),
         lambda x: _sym(n, {(2, 2): 12 * x[2] ** 2 * x[3] ** 2, (2, 3): 8 * x[2] ** 3 * x[3], (3, 3): 2 * x[2] ** 4})),
    ]


def _hs47_cons(n, k1, k2, k3):
    # c1 = x1 + x2^2 + x3^3 - k1 ; c2 = x2 - x3^2 + x4 - k2 ; c3 = x1 x5 - k3
    return [
        (lambda x: x[0] + x[1] ** 2 + x[2] ** 3 - k1, lambda x: _a(1.0, 2 * x[1], 3 * x[2] ** 2, 0.0, 0.0),
         lambda x: _sym(n, {(1, 1): 2.0, (2, 2): 6 * x[2]})),
        (lambda x: x[1] - x[2] ** 2 + x[3] - k2, lambda x: _a(0.0, 1.0, -2 * x[2], 1.0, 0.0),
         lambda x: _sym(n, {(2, 2): -2.0})),
        (lambda x: x[0] * x[4] - k3, lambda x: _a(x[4], 0.0, 0.0, 0.0, x[0]), lambda x: _sym(n, {(0, 4): 1.0})),
    ]


def _hs78_cons(n):
    # c1 = sum x^2 - 10 ; c2 = x2 x3 - 5 x4 x5 ; c3 = x1^3 + x2^3 + 1
    return [
        (lambda x: float(x @ x) - 10.0, lambda x: 2 * x, lambda x: 2 * np.eye(n)),
        (lambda x: x[1] * x[2] - 5 * x[3] * x[4], lambda x: _a(0.0, x[2], x[1], -5 * x[4], -5 * x[3]),
         lambda x: _sym(n, {(1, 2): 1.0, (3, 4): -5.0})),
        (lambda x: x[0] ** 3 + x[1] ** 3 + 1, lambda x: _a(3 * x[0] ** 2, 3 * x[1] ** 2, 0.0, 0.0, 0.0),
         lambda x: _sym(n, {(0, 0): 6 * x[0], (1, 1): 6 * x[1]})),
    ]


def _prod(x):
    """(P, grad P, Hess P) of P = prod x_i."""
    n = x.size
    P = float(np.prod(x))
    g = np.array([np.prod(np.delete(x, i)) for i in range(n)])
    H = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(n)] for i in range(n)])
    return P, g, H


def _hs80(x):
    P, g, H = _prod(x)
    e = math.exp(P)
    return e, e * g, e * (np.outer(g, g) + H)


def _hs81(x):
    e, ge, He = _hs80(x)
    q = x[0] ** 3 + x[1] ** 3 + 1
    gq = np.array([3 * x[0] ** 2, 3 * x[1] ** 2, 0.0, 0.0, 0.0])
    Hq = np.diag([6 * x[0], 6 * x[1], 0.0, 0.0, 0.0])
    return e - 0.5 * q * q, ge - q * gq, He - (np.outer(gq, gq) + q * Hq)


def _hs56_cons():
    def sin2(i, coef):
        return (lambda x: -coef * math.sin(x[i]) ** 2, lambda x: -coef * math.sin(2 * x[i]),
                lambda x: -2 * coef * math.cos(2 * x[i]))

    out = []
    for lin, (i, coef) in (({0: 1.0}, (3, 4.2)), ({1: 1.0}, (4, 4.2)), ({2: 1.0}, (5, 4.2)),
                           ({0: 1.0, 1: 2.0, 2: 2.0}, (6, 7.2))):
        s_f, s_g, s_h = sin2(i, coef)
        a = np.zeros(7)
        for j, v in lin.items():
            a[j] = v

        def c(x, a=a, s_f=s_f):
            return float(a @ x) + s_f(x)

        def g(x, a=a, i=i, s_g=s_g):
            out = a.copy()
            out[i] += s_g(x)
            return out

        def h(x, i=i, s_h=s_h):
            M = np.zeros((7, 7))
            M[i, i] = s_h(x)
            return M

        out.append((c, g, h))
    return out


_A56, _B56 = math.asin(math.sqrt(1 / 4.2)), math.asin(math.sqrt(5 / 7.2))
_R2 = math.sqrt(2.0)

_HS51_F = [(1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {1: 1, 2: 1}, -2.0, 2), (1.0, {3: 1}, -1.0, 2),
           (1.0, {4: 1}, -1.0, 2)]
_HS51_A = [[1, 3, 0, 0, 0], [0, 0, 1, 1, -2], [0, 1, 0, 0, -1]]

MORE_PROBLEMS = [
    _prob("HS46", [0.5 * _R2, 1.75, 0.5, 2.0, 2.0],
          _powsum(5, [(1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {2: 1}, -1.0, 2), (1.0, {3: 1}, -1.0, 4),
                      (1.0, {4: 1}, -1.0, 6)]),
          _hs46_cons(5, 1.0, 2.0), 0.0),
    _prob("HS47", [2.0, _R2, -1.0, 2.0 - _R2, 0.5],
          _powsum(5, [(1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {1: 1, 2: -1}, 0.0, 3), (1.0, {2: 1, 3: -1}, 0.0, 4),
                      (1.0, {3: 1, 4: -1}, 0.0, 4)]),
          _hs47_cons(5, 3.0, 1.0, 1.0), 0.0),
    _prob("HS48", [3.0, 5.0, -3.0, 2.0, -2.0],
          _powsum(5, [(1.0, {0: 1}, -1.0, 2), (1.0, {1: 1, 2: -1}, 0.0, 2), (1.0, {3: 1, 4: -1}, 0.0, 2)]),
          _linear(5, [[1, 1, 1, 1, 1], [0, 0, 1, -2, -2]], [5.0, -3.0]), 0.0),
    _prob("HS49", [10.0, 7.0, 2.0, -3.0, 0.8],
          _powsum(5, [(1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {2: 1}, -1.0, 2), (1.0, {3: 1}, -1.0, 4),
                      (1.0, {4: 1}, -1.0, 6)]),
          _linear(5, [[1, 1, 1, 4, 0], [0, 0, 1, 0, 5]], [7.0, 6.0]), 0.0),
    _prob("HS50", [35.0, -31.0, 11.0, 5.0, -5.0],
          _powsum(5, [(1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {1: 1, 2: -1}, 0.0, 2), (1.0, {2: 1, 3: -1}, 0.0, 4),
                      (1.0, {3: 1, 4: -1}, 0.0, 2)]),
          _linear(5, [[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]], [6.0, 6.0, 6.0]), 0.0),
    _prob("HS51", [2.5, 0.5, 2.0, -1.0, 0.5], _powsum(5, _HS51_F), _linear(5, _HS51_A, [4.0, 0.0, 0.0]), 0.0),
    _prob("HS52", [2.0, 2.0, 2.0, 2.0, 2.0],
          _powsum(5, [(1.0, {0: 4, 1: -1}, 0.0, 2)] + _HS51_F[1:]),
          _linear(5, _HS51_A, [0.0, 0.0, 0.0]), 1859.0 / 349.0),
    _prob("HS53", [2.0, 2.0, 2.0, 2.0, 2.0], _powsum(5, _HS51_F), _linear(5, _HS51_A, [0.0, 0.0, 0.0]),
          176.0 / 43.0),
    _prob("HS56", [1.0, 1.0, 1.0, _A56, _A56, _A56, _B56],
          (lambda x: -x[0] * x[1] * x[2], lambda x: -_a(x[1] * x[2], x[0] * x[2], x[0] * x[1], 0, 0, 0, 0),
           lambda x: -_sym(7, {(0, 1): x[2], (0, 2): x[1], (1, 2): x[0]})),
          _hs56_cons(), -3.456),
    _prob("HS60", [2.0, 2.0, 2.0],
          _powsum(3, [(1.0, {0: 1}, -1.0, 2), (1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {1: 1, 2: -1}, 0.0, 4)]),
          [(lambda x: x[0] * (1 + x[1] ** 2) + x[2] ** 4 - 4 - 3 * _R2,
            lambda x: _a(1 + x[1] ** 2, 2 * x[0] * x[1], 4 * x[2] ** 3),
            lambda x: _sym(3, {(0, 1): 2 * x[1], (1, 1): 2 * x[0], (2, 2): 12 * x[2] ** 2}))],
          0.0325682002513),
    _prob("HS61", [0.0, 0.0, 0.0],
          (lambda x: 4 * x[0] ** 2 + 2 * x[1] ** 2 + 2 * x[2] ** 2 - 33 * x[0] + 16 * x[1] - 24 * x[2],
           lambda x: _a(8 * x[0] - 33, 4 * x[1] + 16, 4 * x[2] - 24), lambda x: np.diag([8.0, 4.0, 4.0])),
          [(lambda x: 3 * x[0] - 2 * x[1] ** 2 - 7, lambda x: _a(3.0, -4 * x[1], 0.0),
            lambda x: _sym(3, {(1, 1): -4.0})),
           (lambda x: 4 * x[0] - x[2] ** 2 - 11, lambda x: _a(4.0, 0.0, -2 * x[2]),
            lambda x: _sym(3, {(2, 2): -2.0}))],
          -143.646142201),
    _prob("HS77", [2.0, 2.0, 2.0, 2.0, 2.0],
          _powsum(5, [(1.0, {0: 1}, -1.0, 2), (1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {2: 1}, -1.0, 2),
                      (1.0, {3: 1}, -1.0, 4), (1.0, {4: 1}, -1.0, 6)]),
          _hs46_cons(5, 2 * _R2, 8 + _R2), 0.24150513),
    _prob("HS78", [-2.0, 1.5, 2.0, -1.0, -1.0],
          (lambda x: _prod(x)[0], lambda x: _prod(x)[1], lambda x: _prod(x)[2]),
          _hs78_cons(5), -2.91970041),
    _prob("HS79", [2.0, 2.0, 2.0, 2.0, 2.0],
          _powsum(5, [(1.0, {0: 1}, -1.0, 2), (1.0, {0: 1, 1: -1}, 0.0, 2), (1.0, {1: 1, 2: -1}, 0.0, 2),
                      (1.0, {2: 1, 3: -1}, 0.0, 4), (1.0, {3: 1, 4: -1}, 0.0, 4)]),
          _hs47_cons(5, 2 + 3 * _R2, -2 + 2 * _R2, 2.0), 0.0787768209),
    _prob("HS80", [-2.0, 2.0, 2.0, -1.0, -1.0],
          (lambda x: _hs80(x)[0], lambda x: _hs80(x)[1], lambda x: _hs80(x)[2]),
          _hs78_cons(5), 0.0539498478),
    _prob("HS81", [-2.0, 2.0, 2.0, -1.0, -1.0],
          (lambda x: _hs81(x)[0], lambda x: _hs81(x)[1], lambda x: _hs81(x)[2]),
          _hs78_cons(5), 0.0539498478),
]

#: The original ten plus the sixteen above.
ALL_PROBLEMS = PROBLEMS + MORE_PROBLEMS
BY_NAME = {p["name"]: p for p in ALL_PROBLEMS}


# --- two scalable problems used by the tests and the bench ------------------------

from itercore._problems import pde_control  # noqa: E402,F401  (shared with python -m itercore)


def logistic_problem(n_constraints=10, seed=0, dataset="breast_cancer"):
    """Constrained logistic regression on a data set bundled with scikit-learn (standardised).

    min mean log(1 + exp(-y_i a_i^T x))  s.t.  C x = d (n_constraints random Gaussian rows,
    d = C x_feas for a random unit x_feas) and ||x||^2 = 1. Needs scikit-learn.
    ``dataset``: "breast_cancer" (569 x 30), "diabetes" (442 x 10, label: target above
    its median), "digits" (1797 x 64, label: even digit), "wine" (178 x 13, label: class 0).
    """
    from scipy.special import expit
    from sklearn import datasets

    data = getattr(datasets, f"load_{dataset}")()
    X = data.data.astype(float)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    t = data.target
    label = {"breast_cancer": t == 1, "diabetes": t > np.median(t), "digits": t % 2 == 0, "wine": t == 0}[dataset]
    y = np.where(label, 1.0, -1.0)
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
    name = "logistic (breast cancer)" if dataset == "breast_cancer" else f"logistic ({dataset})"
    return {"name": name, "x0": x0, "fun": fun, "jac": jac, "hess": hess,
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
