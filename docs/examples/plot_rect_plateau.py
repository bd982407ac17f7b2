"""
Escaping a plateau: the rectangle toy
=====================================

The ``rect`` problem (the toy of PRDPT) renders a soft-edged rectangle into a
256 x 256 image and compares it with a target image by mean squared error. The
rectangle starts at ``(0.5, 0.66)`` and the target sits at ``(0.5, 0.33)``: the two do
not overlap, so moving the rectangle a little changes nothing in the loss. The true
gradient is zero (up to pixel-sized aliasing), and gradient descent has nothing to
follow.

We compare the autodiff baseline (Adam on the true gradient) with SPSA, which estimates
a gradient from two evaluations at randomly perturbed points, fed to the same Adam
update (``update="optimizer"``). The perturbation size ``c`` turns out to matter.
PRDPT, which descends the Gaussian-smoothed loss, is shown on the same problem in
:ref:`sphx_glr_auto_examples_plot_prdpt_rect.py`.
"""

# %%
# The problem
# -----------
# Problems are registered by id; ``problems.make`` builds one. Its loss is a batched
# function of the parameters ``(px, py)``, and ``render`` gives the images.
import matplotlib.pyplot as plt
import numpy as np
import torch

import blackbox_opt
import problems

problem = problems.make("rect")
print(problem)
print("start:", problem.x0.tolist(), " target:", problem.x_opt.tolist())
print("loss at the start:", float(problem(problem.x0)))

# %%
# Gradient descent on the true gradient
# -------------------------------------
# ``method="adam"`` runs :class:`blackbox_opt.Autodiff`: the problem's autograd
# gradient, Adam steps. 300 iterations, one evaluation each.
adam = blackbox_opt.minimize(
    "rect", method="adam", lr=1e-3, max_iter=300, verbose=False, random_state=0
)
print(adam)

# %%
# SPSA with small and with large perturbations
# ---------------------------------------------
# SPSA evaluates two probes, ``theta + c_k Delta`` and ``theta - c_k Delta`` for a
# random sign vector ``Delta``, and steps along the difference of their losses. A
# probe is the whole rectangle shifted by ``c_k`` in both coordinates, and the
# rectangle reaches about 0.093 from its centre, so a probe overlaps the target only
# when it lies within about 0.19 of it in both coordinates. From the start, 0.33
# from the target in ``py``, the default ``c=0.1`` never gets there: both probes sit
# on the plateau and their difference is pixel aliasing, noise. With ``c=0.2`` the
# probe shifted towards the target just overlaps it (once ``c_k = c / (k + 1)^gamma``
# has decayed below 0.19, from the second iteration on): the difference is small but
# has a consistent sign, and Adam, which normalises its steps, turns it into steady
# progress. Each run gets 2000 evaluations (1000 iterations of 2 points).
spsa_options = dict(update="optimizer", lr=1e-2, budget=2000, verbose=False, random_state=0)
spsa_small = blackbox_opt.minimize("rect", method="spsa", c=0.1, **spsa_options)
spsa_large = blackbox_opt.minimize("rect", method="spsa", c=0.2, **spsa_options)

# %%
# The final parameters
# --------------------
# ``x`` is the best point evaluated, ``x_last`` the final iterate.
target = problem.x_opt
runs = {
    "adam": adam,
    "spsa, c=0.1": spsa_small,
    "spsa, c=0.2": spsa_large,
}
for name, res in runs.items():
    error = float(torch.linalg.vector_norm(res.x - target))
    print(
        f"{name:12s} x={np.round(res.x.numpy(), 4)} x_last={np.round(res.x_last.numpy(), 4)} "
        f"loss={res.fun:.3g} distance to target={error:.3f} nfev={res.nfev}"
    )

# %%
# What the numbers say: Adam has barely moved and its loss is the start's to a
# fraction of a percent; it is stuck on the plateau. SPSA with ``c=0.1`` does lower
# the loss, but not by finding the target: its gradient estimates are noise, the
# iterate drifts until the rectangle reaches the border of the image, and there
# pushing it partly out of the picture genuinely lowers the mean squared error (less
# rectangle left to mismatch). It ends on the border, at least as far from the target
# as it started. SPSA with ``c=0.2`` lands on the target; its iterate does not settle
# there, though: Adam with a constant learning rate keeps stepping on noisy estimates,
# so the final iterate ``x_last`` is worse than the best point ``x`` (see the loss
# curves below). The checks below keep this text honest: the documentation build
# fails if a run stops behaving as described.
start_loss = float(problem(problem.x0))
start_error = float(torch.linalg.vector_norm(problem.x0 - target))


def distance(res):
    return float(torch.linalg.vector_norm(res.x - target))


assert abs(adam.fun - start_loss) < 1e-3 * start_loss
assert float(torch.linalg.vector_norm(adam.x - problem.x0)) < 0.01  # barely moved
assert spsa_small.fun < start_loss and distance(spsa_small) >= start_error
assert bool(((spsa_small.x_last == 0.0) | (spsa_small.x_last == 1.0)).any())  # on the border
assert spsa_large.fun < 1e-6 and distance(spsa_large) < 1e-2
assert float(problem(spsa_large.x_last)) > 100 * spsa_large.fun

# %%
# Loss curves
# -----------
# ``history["loss"]`` is the loss at the iterate after each iteration (``nit``). Adam's
# curve is flat. SPSA with ``c=0.1`` steps down when the rectangle reaches the image
# border. SPSA with ``c=0.2`` drops by orders of magnitude within the first hundred
# iterations, then jitters around the target.
fig, ax = plt.subplots(figsize=(7, 4))
for name, res in runs.items():
    ax.plot(res.history["nit"], res.history["loss"], label=name)
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("loss at the iterate (image MSE)")
ax.set_title("rect: the plateau at the start")
ax.legend()
fig.tight_layout()

# %%
# The images
# ----------
# ``render`` maps a batch of parameters ``(B, 2)`` to images ``(B, H, W, 1)``.
points = torch.stack([problem.x0, target, adam.x, spsa_small.x, spsa_large.x])
images = problem.render(points)[..., 0].numpy()
titles = ["start", "target", "adam", "spsa, c=0.1", "spsa, c=0.2"]
fig, axes = plt.subplots(1, len(titles), figsize=(12, 2.8))
for ax, image, title in zip(axes, images, titles):
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
