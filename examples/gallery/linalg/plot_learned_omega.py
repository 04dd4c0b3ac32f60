"""
Learning omega across a sequence of systems
===========================================

A simulation solves a sequence of related sparse systems ``A_t x = b_t``;
SOR's cost depends on the relaxation parameter omega, and the best omega is
not known in advance. :class:`itercore.linalg.OmegaTuner` (Tsallis-INF,
Khodak et al., ICLR 2024) picks an omega for each solve and learns from the
iteration counts alone.

The sequence is the paper's: a 10 x 10 grid Laplacian shifted by
``c_t I`` with ``c_t = -0.15 + 0.6 Beta(2, 6)``. We compare the learned
omega with every fixed omega of the tuner's grid, including omega = 1 (Gauss-Seidel) and the best fixed
omega in hindsight, which no method can know beforehand.
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from itercore.linalg import OmegaTuner

T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(10, 10))
L = (sp.kron(sp.identity(10), T) + sp.kron(T, sp.identity(10))).tocsr()
I = sp.identity(100, format="csr")

rng = np.random.default_rng(0)
steps = 300
shifts = -0.15 + 0.6 * rng.beta(2, 6, size=steps)
rhs = rng.standard_normal((steps, 100))
systems = [(L + c * I).tocsr() for c in shifts]


def run(tuner):
    """Cumulative SOR sweeps over the sequence."""
    for A, b in zip(systems, rhs):
        tuner.solve(A, b, rtol=1e-8)
    return np.cumsum([h["iterations"] for h in tuner.history])


omegas = np.linspace(1.0, 1.95, 20)
# A tuner whose candidates are all the same omega is a fixed omega that
# records its iteration counts.
fixed = {w: run(OmegaTuner(omegas=[w, w])) for w in omegas}
learned_tuner = OmegaTuner(omegas=omegas, seed=0)
learned = run(learned_tuner)
best = min(fixed, key=lambda w: fixed[w][-1])

# %%
# Left: the total sweeps of each fixed omega, and of the tuner (which pays
# for its exploration inside its total). Right: the cumulative sweeps over
# the sequence.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.plot(omegas, [fixed[w][-1] for w in omegas], "o-", label="fixed omega")
ax1.axhline(learned[-1], color="C1", label="OmegaTuner (learned)")
ax1.set_xlabel("omega")
ax1.set_ylabel(f"total SOR sweeps over {steps} solves")
ax1.legend()
ax1.grid(alpha=0.3)

t = np.arange(1, steps + 1)
ax2.plot(t, fixed[omegas[0]], label="omega = 1 (Gauss-Seidel)")
ax2.plot(t, fixed[best], label=f"best fixed in hindsight ({best:.2f})")
ax2.plot(t, learned, label="OmegaTuner")
ax2.set_xlabel("solve")
ax2.set_ylabel("cumulative SOR sweeps")
ax2.legend()
ax2.grid(alpha=0.3)
fig.tight_layout()

print(f"sweeps: omega=1 {fixed[omegas[0]][-1]}, best fixed {fixed[best][-1]} (omega {best:.2f}), "
      f"learned {learned[-1]} (best_omega_ {learned_tuner.best_omega_:.2f})")
