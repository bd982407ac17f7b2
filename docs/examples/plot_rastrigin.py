"""
The baselines on 10-D Rastrigin
===============================

Rastrigin's function ``10 D + sum (x_i^2 - 10 cos(2 pi x_i))`` is a regular grid of
local minima around the global minimum 0 at the origin: the home ground of evolution
strategies, and a test of whether a smoothing method sees past the ripples. This
example runs CMA-ES (pycma), nevergrad's TwoPointsDE, SPSA, PRDPT and ZeroGrads from
the start ``(3, ..., 3)`` (loss 90) on 3 seeds with 8,000 evaluations each, with the
hyperparameters of the benchmark's ``rastrigin`` experiment (``bench/experiments.py``),
and plots the best loss against evaluations.
"""

# %%
# The experiment's settings
# -------------------------
# The benchmark keeps its experiments as data; this example reads the settings from
# there, so it shows what ``python -m bench run rastrigin`` runs.
import warnings

import matplotlib.pyplot as plt

import blackbox_opt
from bench.experiments import get_experiment
from blackbox_opt import plot

experiment = get_experiment("rastrigin")
budget, seeds = experiment.budget("quick", "rastrigin"), experiment.seeds["quick"]
for method in experiment.methods:
    print(f"{method:10s} {experiment.params(method, 'rastrigin')}")

# %%
# Run every method on every seed
# ------------------------------
# Each run is one :func:`blackbox_opt.minimize` call; its ``history`` records the
# evaluations used and the best loss so far after every iteration. CMA-ES may stop
# before the budget when pycma's own stopping rules fire (a flat fitness, a tiny step).
results = {}
for method in experiment.methods:
    params = experiment.params(method, "rastrigin")
    runs = []
    for seed in range(seeds):
        with warnings.catch_warnings():  # pycma's and nevergrad's own notes
            warnings.simplefilter("ignore")
            result = blackbox_opt.minimize(
                "rastrigin", method, budget=budget, random_state=seed, verbose=False, **params
            )
        runs.append(result)
    results[method] = runs
    finals = [r.history["best"][-1] for r in runs]
    print(f"{method:10s} best loss per seed: {', '.join(f'{f:.3g}' for f in finals)}")

# %%
# Every method improves on the start
# ----------------------------------
for method, runs in results.items():
    for r in runs:
        assert r.history["nfev"][-1] <= budget
        assert r.history["best"][-1] < r.history["best"][0] == 90.0, method

# %%
# Best loss against evaluations
# -----------------------------
# :func:`blackbox_opt.plot.convergence` draws, for each method given several runs, the
# median over seeds of the best loss on a common grid of evaluations, with the range
# of the seeds as a band. A method may reach 0, so the axis is symmetric-log.
fig, ax = plt.subplots(figsize=(6.4, 4.0))
plot.convergence(results, ax=ax, log=False)
ax.set_yscale("symlog", linthresh=1e-2)
ax.set_title(f"10-D Rastrigin, median over {seeds} seeds")
ax.grid(True, alpha=0.3)
plt.show()
