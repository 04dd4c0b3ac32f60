"""Demo rows for itercore.linalg (relaxation)."""

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._demo import demo, timed
from .._problems import poisson2d
from .. import linalg


@demo
def relaxation():
    rows = []
    A = poisson2d(100)
    n = A.shape[0]
    b = np.random.default_rng(0).standard_normal(n)
    x_ref = spla.spsolve(A.tocsc(), b)

    def row(problem, method, x, nit, seconds):
        err = np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref)
        return dict(family="linalg", problem=problem, size=f"n={n}", method=method, iterations=nit,
                    seconds=seconds, error=err)

    # omega near the classical optimum 2 / (1 + sin(pi h)) for the 2-D Poisson matrix
    omega = 2.0 / (1.0 + np.sin(np.pi / 101))
    # linalg._solve is the pipeline step behind sor / ssor_pcg: it also returns the iteration count.
    (x, res), s = timed(linalg._solve, "sor", A, b, omega=omega, rtol=1e-10)
    rows.append(row("2-D Poisson 100x100", f"sor omega={omega:.3f}", x, res["nit"], s))
    (x, res), s = timed(linalg._solve, "ssor_pcg", A, b, omega=1.7, rtol=1e-10)
    rows.append(row("2-D Poisson 100x100", "ssor_pcg omega=1.7", x, res["nit"], s))

    # A sequence of shifted systems: the tuner learns omega from iteration counts.
    L = poisson2d(10)
    rng = np.random.default_rng(1)
    tuner = linalg.OmegaTuner(seed=0)
    systems = [(L + c * sp.identity(100)).tocsr() for c in -0.15 + 0.6 * rng.beta(2, 6, 300)]
    B = rng.standard_normal((300, 100))

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for A_t, b_t in zip(systems, B):
                tuner.solve(A_t, b_t, rtol=1e-8)

    _, s = timed(run)
    errs = [np.linalg.norm(b_t - A_t @ tuner.solve(A_t, b_t, rtol=1e-8)[0]) / np.linalg.norm(b_t)
            for A_t, b_t in zip(systems[:5], B[:5])]
    rows.append(dict(family="linalg", problem="300 shifted 10x10 Laplacians", size="n=100",
                     method=f"OmegaTuner -> {tuner.best_omega_:.2f}", iterations=tuner.total_iterations(),
                     seconds=s, error=max(errs)))
    return rows
