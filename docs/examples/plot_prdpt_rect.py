"""
Leaving the plateau with PRDPT
==============================

On the ``rect`` problem (see :ref:`sphx_glr_auto_examples_plot_rect_plateau.py`) a
soft-edged rectangle starts at ``(0.5, 0.66)``, out of reach of its target at
``(0.5, 0.33)``: the image loss is flat around the start and its true gradient is
zero, so gradient descent stays where it is.

:class:`~blackbox_opt.PRDPT` descends the Gaussian-smoothed loss instead (see
:ref:`method-prdpt`). Each iteration renders the rectangle at ``2 n_samples``
positions ``theta -+ tau`` spread by ``sigma`` around the iterate; as soon as some of
them overlap the target, the smoothed loss has a slope, and its estimate points the
way. Here both methods get the same 500 iterations and the same Adam step size.
"""

# %%
# Two runs
# --------
import matplotlib.pyplot as plt
import numpy as np
import torch

import blackbox_opt
import problems
from blackbox_opt import plot

problem = problems.make("rect")
common = dict(lr=1e-3, max_iter=500, random_state=0, verbose=False)
prdpt = blackbox_opt.minimize(
    "rect", method="prdpt", sigma=0.05, n_samples=4, record_x=True, **common
)
adam = blackbox_opt.minimize("rect", method="adam", **common)
print(prdpt)

# %%
# ``history["param_error"]`` is the mean squared error of the iterate to the known
# optimum after each iteration (row 0 is the start), and ``history["sigma"]`` PRDPT's
# smoothing scale: constant for the first half of the run (``anneal_start=0.5``), then
# annealed linearly towards ``sigma / 50 = 0.001``, reached at the end of the run.
target = problem.x_opt
for name, res in {"prdpt": prdpt, "adam": adam}.items():
    mse_last = float(((res.x_last - target) ** 2).mean())
    print(
        f"{name:6s} x_last={np.round(res.x_last.numpy(), 5)} "
        f"parameter MSE {mse_last:.2g}, loss {float(problem(res.x_last)):.2g}, "
        f"nfev={res.nfev}"
    )
start_error = prdpt.history["param_error"][0]
print(f"parameter MSE at the start: {start_error:.4f}")

# %%
# How often does a probe see the target?
# --------------------------------------
# The rectangle's soft edge ends 0.093 from its centre, so two rectangles overlap
# when their centres are less than 0.187 apart in both coordinates. From the start,
# 0.33 from the target, a probe must be shifted by more than 0.14 towards it, almost
# three ``sigma``. Drawing PRDPT's offsets (the radial sampler, with their mirrored
# pairs) around the start shows how rarely that happens:
from blackbox_opt.smoothing import draw_offsets

offsets, _ = draw_offsets(50_000, 2, 0.05, generator=torch.Generator().manual_seed(0))
reach = 2 * problem.half_size * 0.5**0.1  # the centre distance of first overlap
seen = ((problem.x0 - offsets - target).abs() < reach).all(1).double().mean().item()
per_iteration = 1 - (1 - seen) ** 8
print(f"probes that overlap the target at the start: {seen:.2%}")
print(f"iterations with at least one such probe among 8: about {per_iteration:.0%}")

# %%
# The parameter error
# -------------------
# Adam on the true gradient does not leave the start: its error stays at 0.054 (it
# even grows a little: the only gradient on the plateau is pixel aliasing). PRDPT's
# falls from the first iterations on, although at the start only about one iteration
# in 25 has a probe that sees the target. That is enough: such a probe's loss differs
# from its mirror's far more than aliasing does, and Adam, which divides by the running
# gradient magnitude, keeps stepping along that rare signal for many iterations. The
# closer the iterate gets the more probes overlap, and once the annealing shrinks
# ``sigma`` the rectangle settles on the target: a parameter MSE of about 1e-9 after
# 500 iterations, a distance of a few 1e-5. (On the log axis the first 250 iterations
# look flat, yet in them the rectangle travels almost two thirds of the way: its
# distance to the target falls from 0.33 to about 0.12.)
fig, ax = plt.subplots(figsize=(7, 4))
for name, res in {"prdpt": prdpt, "adam": adam}.items():
    ax.plot(res.history["nit"], res.history["param_error"], label=name)
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("parameter MSE to the target")
ax.set_title("rect: PRDPT leaves the plateau, Adam stays")
ax2 = ax.twinx()
ax2.plot(prdpt.history["nit"], prdpt.history["sigma"], color="grey", ls=":", label="sigma")
ax2.set_ylabel("PRDPT's sigma (dotted)")
ax2.set_ylim(0.0, 0.06)
ax.legend(loc="lower left")
fig.tight_layout()

# %%
# The checks below keep this text true: the documentation build fails if a run stops
# behaving as described.
prdpt_error = prdpt.history["param_error"]
adam_error = adam.history["param_error"]
assert adam_error.min() >= 0.99 * start_error  # adam never gets closer
assert prdpt_error[100] < 0.9 * start_error  # prdpt is on its way early
assert 0.1 < np.sqrt(2 * prdpt_error[250]) < 0.14  # the distance when annealing starts
assert prdpt_error[-1] < 1e-8 and float(((prdpt.x_last - target) ** 2).mean()) < 1e-8
assert prdpt.history["sigma"][250] == 0.05 and prdpt.history["sigma"][-1] < 0.0013
assert float(torch.linalg.vector_norm(prdpt.x_last - target)) < 1e-4
assert 0.02 < per_iteration < 0.08  # "about one iteration in 25"

# %%
# The path
# --------
# With ``record_x=True`` the history keeps PRDPT's iterate after every iteration
# (``prdpt.history.x``, one row per history row: 501 points of 2 parameters, 8 kB).
# :func:`blackbox_opt.plot.path` draws them over the loss's contours: the flat start,
# where the contours are missing, and the straight way down once the probes overlap
# the target.
assert prdpt.history.x.shape == (501, 2)
assert np.allclose(prdpt.history.x[-1], prdpt.x_last.numpy())
ax = plot.path(prdpt, problem=problems.make("rect", res=64), resolution=80)
ax.set_title("rect: PRDPT's iterates")

# %%
# The images
# ----------
# ``render`` maps parameters ``(B, 2)`` to images ``(B, H, W, 1)``;
# :func:`blackbox_opt.plot.images` draws the start, the final iterates of both runs
# and the target (the rendering of the known optimum), each with its loss.
fig = plot.images(problem, {"adam, final": adam.x_last, "prdpt, final": prdpt.x_last})
fig.tight_layout()
plt.show()
