"""
Your own renderer, with the defaults
====================================

A forward model that is not in the registry and that nobody tuned a method for: a
numpy rasteriser of three hard-edged grey discs on a 32 x 32 canvas. Each disc has a
centre in pixels on ``[0, 32]``, a radius in pixels on ``[2, 10]`` and a grey level on
``[0, 1]``: parameters in three different units. The loss is the image MSE against a
target rendered from known parameters; a hard edge makes it a staircase in the
centres and radii, with a zero gradient almost everywhere.

Every method below runs with its documented defaults only. Their step and smoothing
sizes default to fractions of each parameter's bound width (see :ref:`own-renderer`),
so the positions, radii and grey levels each get their own scale without a word from
us.
"""

# %%
# The forward model
# -----------------
# ``_render`` draws a batch of parameter vectors; ``_evaluate`` is the loss. The pixel
# grid is evaluated with numpy broadcasting, one call for the whole batch.
import matplotlib.pyplot as plt
import numpy as np
import torch

import blackbox_opt
from blackbox_opt import plot

RES = 32
CENTRES = (np.arange(RES) + 0.5)[None, :]  # pixel centres along one axis
LOW = [0.0, 0.0, 2.0, 0.0] * 3  # per disc: cx, cy in pixels, radius in pixels, grey
HIGH = [32.0, 32.0, 10.0, 1.0] * 3


def draw(params: np.ndarray) -> np.ndarray:
    """Discs painted in order over black: (B, 12) parameters -> (B, RES, RES) images."""
    B = params.shape[0]
    image = np.zeros((B, RES, RES))
    for cx, cy, r, grey in params.reshape(B, 3, 4).transpose(1, 2, 0):  # three discs
        inside = (CENTRES[..., None] - cx) ** 2 + (CENTRES.T[..., None] - cy) ** 2 < r**2
        image = np.where(inside.transpose(2, 0, 1), grey[:, None, None], image)
    return image


class Discs(blackbox_opt.Problem):
    """Three hard-edged discs against a target image (not a registered problem)."""

    image_shape = (RES, RES, 1)
    # a real renderer takes seconds a frame: declared expensive, the methods monitor
    # their iterate only every few iterations (monitor="auto")
    cost = "expensive"

    def __init__(self, truth, start):
        super().__init__(start, bounds=[LOW, HIGH], x_opt=truth, dtype=torch.float64)
        self.target = draw(np.asarray(truth, dtype=np.float64)[None])[0]

    def _render(self, X):
        return torch.from_numpy(draw(X.detach().cpu().numpy())[..., None])

    def _evaluate(self, X):
        images = draw(X.detach().cpu().numpy())
        return torch.from_numpy(((images - self.target) ** 2).mean((1, 2)))


truth = [9, 10, 6, 0.9, 22, 12, 5, 0.6, 15, 23, 7, 0.35]
start = [8, 16, 4, 0.5, 16, 16, 4, 0.5, 24, 16, 4, 0.5]  # a row of grey discs
problem = Discs(truth, start)
print(f"loss at the start {float(problem(problem.x0)):.4f}")

# %%
# Defaults only
# -------------
# The same budget for every method; two seeds each. ``result.nfev_monitor`` counts
# the renders made only to monitor the iterate (not charged to the budget): with the
# problem declared expensive, at most a tenth of the budget.
budget = 3000
results = {}
for method in ("prdpt", "zerograds", "spsa", "cmaes", "nevergrad", "random"):
    runs = [
        blackbox_opt.minimize(problem, method=method, budget=budget, random_state=seed)
        for seed in range(2)
    ]
    results[method] = runs
    best = min(r.fun for r in runs)
    print(f"{method:10s} best loss {best:.4f}  monitoring renders {runs[0].nfev_monitor}")

# %%
# Convergence
# -----------
# The best loss against the evaluations charged to the budget: the median of the
# two seeds, the band between them.
plot.convergence(results)
plt.show()

# %%
# Start, results and target
# -------------------------
# Each method's best point of its first seed, rendered.
plot.images(problem, {m: runs[0] for m, runs in results.items()})
plt.show()

# %%
# When to set a scale
# -------------------
# The defaults take a tenth of each bound width as the interesting change. From a
# start that is already close, a smaller smoothing scale refines instead of
# wandering; one value per parameter keeps the units apart (pixels, pixels, grey).
near = np.asarray(truth) + np.tile([1.0, -1.0, 0.5, 0.05], 3)
close = Discs(truth, near)
sigma = np.tile([0.5, 0.5, 0.25, 0.02], 3)  # per parameter, in its own units
for name, options in {"defaults": {}, "sigma per parameter": {"sigma": sigma}}.items():
    res = blackbox_opt.minimize(close, method="prdpt", budget=budget, random_state=0, **options)
    error = float(((res.x - close.x_opt) ** 2).mean())
    print(f"prdpt from a close start, {name:20s}: loss {res.fun:.5f}, parameter MSE {error:.4f}")
