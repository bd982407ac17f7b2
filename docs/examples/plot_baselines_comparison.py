"""
CMA-ES, nevergrad and the smoothing methods on Rastrigin
========================================================

``rastrigin`` in 10 dimensions is a bowl covered with a regular grid of local minima:
``10 D + sum(x_i^2 - 10 cos(2 pi x_i))``, with its global minimum 0 at the origin and a
local minimum near every integer point, whose loss is about the sum of the squared
integers. The start, ``(3, ..., 3)``, is one of them, with a loss of 90.

We give five methods the same budget of 8,000 evaluations, with 3 seeds each:

* ``cmaes``: CMA-ES, through pycma (:ref:`method-cmaes`), with its default population
  (10 points in 10-D) and initial step size (a quarter of the bounds' width, 2.56);
* ``nevergrad``: nevergrad's ``NGOpt``, which picks its own algorithm from the
  dimension, the budget and the batch size, with batches of 8
  (:ref:`method-nevergrad`);
* ``spsa``: two-point gradient estimates fed to Adam, with its default perturbation
  size (a tenth of the bounds' width, 1.02);
* ``prdpt``: descent on the Gaussian-smoothed loss, ``sigma=0.5`` annealed to 0.01 over
  the second half of the run (:ref:`method-prdpt`);
* ``zerograds``: descent on a neural surrogate fitted to samples of the same Gaussian
  (:ref:`method-zerograds`), fitting ``log(1 + loss)``.

The two wrappers need the ``baselines`` extra (``pip install
'blackbox-opt[baselines]'``).
"""

# %%
# The runs
# --------
# :func:`~blackbox_opt.compare` makes every run one :func:`~blackbox_opt.minimize` call
# with the method's options, the seed and the same budget, and returns a tidy table
# of the runs, their results and a summary of medians. ``history["nfev"]`` counts
# the evaluations charged to the budget after each iteration, ``history["best"]``
# is the lowest loss found so far; the methods evaluate different batch sizes per
# iteration (CMA-ES 10, nevergrad and the smoothing methods 8, SPSA 2), so the
# curves are compared by evaluations, not iterations.
import matplotlib.pyplot as plt
import numpy as np

import problems
from blackbox_opt import compare

budget = 8000
seeds = (0, 1, 2)
methods = {
    "cmaes": {},
    "nevergrad": dict(optimizer="NGOpt", batch_size=8),
    "spsa": dict(update="optimizer", lr=0.1),
    "prdpt": dict(sigma=0.5, n_samples=4, lr=0.05),
    "zerograds": dict(sigma=0.5, n_samples=4, lr=1e-2, log_targets=True, lr_follows_sigma=True),
}

problem = problems.make("rastrigin", dim=10)
start_loss = float(problem(problem.x0))
print(problem)
print("loss at the start:", start_loss)

comparison = compare(
    {"rastrigin": problem}, methods, seeds=seeds, budget=budget
)  # every method x seed through minimize, at the same budget
results = {name: [comparison.results["rastrigin", name, s] for s in seeds] for name in methods}
for name in methods:
    seconds = sum(r["time"] for r in comparison.runs if r["method"] == name)
    print(f"{name:10s} {len(seeds)} runs in {seconds:5.1f} s")
print(comparison.summary())

# %%
# Convergence
# -----------
# The best loss against the evaluations used: the median over the seeds (the line)
# and the range from the best to the worst seed (the band). A run that stops early
# keeps its final value; the crosses mark where pycma stopped the CMA-ES runs.
grid = np.arange(0, budget + 1, 20)


def best_on_grid(result):
    """The best loss after ``grid`` evaluations (a step function of the history)."""
    history = result.history
    rows = np.searchsorted(history["nfev"], grid, side="right") - 1
    return history["best"][rows]


curves = {name: np.array([best_on_grid(r) for r in runs]) for name, runs in results.items()}

fig, ax = plt.subplots(figsize=(8, 4.5))
for name, curve in curves.items():
    (line,) = ax.plot(grid, np.median(curve, axis=0), label=name)
    ax.fill_between(grid, curve.min(axis=0), curve.max(axis=0), color=line.get_color(), alpha=0.15)
for r in results["cmaes"]:
    ax.plot(r.nfev, r.fun, "x", color="tab:blue", ms=8)
ax.set_yscale("log")
ax.set_xlabel("evaluations")
ax.set_ylabel("best loss so far")
ax.set_title("rastrigin, D = 10: median of 3 seeds (band: best to worst seed)")
ax.legend()
fig.tight_layout()

# %%
# The final losses
# ----------------
# ``result.fun`` is the lowest loss evaluated in the run. The last column rounds the
# best point of the median seed to the nearest integers: Rastrigin's local minima lie
# close to the integer points, so it shows which basin the run ended in.
finals = {name: np.array([r.fun for r in runs]) for name, runs in results.items()}
print(f"{'method':10s} {'median':>8s} {'min':>8s} {'max':>8s} {'evaluations':>12s}  basin")
for name, runs in results.items():
    f = finals[name]
    median_run = runs[int(np.argsort(f)[len(f) // 2])]
    basin = np.rint(median_run.x.numpy()).astype(int)
    nfev = int(np.median([r.nfev for r in runs]))
    print(
        f"{name:10s} {np.median(f):8.2f} {f.min():8.2f} {f.max():8.2f} {nfev:12d}",
        basin.tolist(),
    )

at_1000 = {name: np.median(curve[:, grid == 1000]) for name, curve in curves.items()}
at_4000 = {name: np.median(curve[:, grid == 4000]) for name, curve in curves.items()}
print("median best after 1000 evaluations:", {k: round(float(v), 2) for k, v in at_1000.items()})
print("median best after 4000 evaluations:", {k: round(float(v), 2) for k, v in at_4000.items()})
for seed, r in zip(seeds, results["cmaes"], strict=True):
    print(f"cmaes, seed {seed}: {r.message} ({r.nfev} evaluations)")

# %%
# What the numbers show
# ---------------------
# **SPSA ends at the global minimum** on every seed. Its perturbation size ``c``
# defaults to a tenth of each bound width, here 1.02: about the ripples' period (1), so
# its two-point differences measure the bowl, not the ripples, and Adam descends the
# bowl to the origin; the same ``c`` decays slowly (``c / (k + 1)^0.101``), so it still
# reaches into the basin of 0 at the end. A smaller ``c`` sees the ripples: in the
# benchmark's Rastrigin experiment, ``c = 0.5`` stalls at a loss of 85.
#
# **PRDPT is second**, with a median best loss of about 4 (every seed below 5),
# against about 18 for the other three. The reason is the smoothing. Averaging
# ``cos(2 pi x)`` over a Gaussian of width ``sigma`` multiplies it by
# ``exp(-2 pi^2 sigma^2)``, 0.007 for ``sigma = 0.5``: the smoothed Rastrigin is
# almost exactly the bowl ``sum x_i^2`` plus a constant, and its minimum is the global
# one. During the first half of the run (4,000 evaluations, ``sigma`` constant) PRDPT
# descends that bowl towards the origin, but the iterate lies between the ripples,
# where Rastrigin's term ``10 - 10 cos(2 pi x_i)`` costs up to 20 per coordinate, so
# the best loss falls slowly. Once ``sigma`` is annealed, the ripples come back into
# the smoothed loss, the iterate settles into the basins near the origin, and the best
# loss drops in the last 4,000 evaluations. What is left are a few coordinates in the
# basins of +-1 instead of 0, each costing about 1.
#
# **CMA-ES is the fastest at the start**, with the lowest median after 1,000
# evaluations, and then stops by itself: pycma's own termination criteria end every
# run after 3,000 to 4,000 evaluations, when the population has contracted into one
# local minimum (the wrapper reports ``status=5``, "converged"), so about half the budget
# is left unused. Restarting with a larger population, pycma's usual remedy on
# multimodal functions, is not part of this comparison.
#
# **NGOpt and ZeroGrads** end close to CMA-ES's median, NGOpt with the widest spread
# over the seeds. NGOpt is nevergrad's own algorithm choice for this setting; with the
# same seed and the same loss values the wrapper reproduces nevergrad's own ask/tell
# loop exactly (see :ref:`method-nevergrad`).
#
# These are three seeds on one function with default or lightly tuned settings, not a
# benchmark. The checks below keep the text above true: the documentation build fails
# if the runs stop behaving as described.
medians = {name: float(np.median(f)) for name, f in finals.items()}
assert all(np.all(f < start_loss) for f in finals.values())  # every run improves
assert finals["spsa"].max() < 1e-3  # the global minimum on every seed
assert sorted(medians, key=medians.get)[:2] == ["spsa", "prdpt"]
others = [v for k, v in medians.items() if k not in ("spsa", "prdpt")]
assert finals["prdpt"].max() < 5 < min(others)
assert min(at_1000, key=at_1000.get) == "cmaes"
assert at_4000["prdpt"] > at_4000["cmaes"]  # PRDPT's gain comes with the annealing
assert all(r.status == 5 and r.nfev <= budget // 2 for r in results["cmaes"])
assert all(r.nfev == budget for name in methods if name != "cmaes" for r in results[name])
plt.show()
