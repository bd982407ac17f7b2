"""
Mitsuba 3 scenes: PRDPT against Mitsuba's own gradients
=======================================================

The ``mi-*`` problems render the PRDPT paper's scenes with Mitsuba 3 (the optional
``mitsuba`` extra). This example shows each scene at its start and at its target, then
optimises ``mi-shadows`` twice from the start: with ``prdpt``, which only renders, and
with ``adam`` on the gradients of Mitsuba's differentiable renderer. The images are
small (80 x 60 at 8 samples per pixel) so that the example runs in well under a minute.
"""

# %%
# The five scenes, start and target
# ---------------------------------
# ``res`` and ``spp`` override the default 128 x 96 at 16 samples per pixel; the
# reference (the target image) is rendered once at ``reference_spp``. The loss is the
# image MSE to it, so at the target it is the render noise, not zero.
import time

import matplotlib.pyplot as plt

import blackbox_opt
from bench.experiments import get_experiment, prdpt_paper

small = {"res": (80, 60), "spp": 8, "reference_spp": 128}
ids = ["mi-shadows", "mi-occlusion", "mi-cup", "mi-gi", "mi-caustic"]
scenes = {i: blackbox_opt.make_problem(i, **small) for i in ids}
print("Mitsuba variant:", scenes["mi-shadows"].variant)

fig, axes = plt.subplots(2, len(ids), figsize=(2.3 * len(ids), 4.6))
for column, (name, problem) in enumerate(scenes.items()):
    for row, (label, x) in enumerate((("start", problem.x0), ("target", problem.x_opt))):
        ax = axes[row, column]
        ax.imshow(problem.render(x).numpy())
        ax.set_title(f"{name} {label}\nloss {float(problem(x)):.2g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()

# %%
# Optimising the shadow caster
# ----------------------------
# In ``mi-shadows`` an off-screen sphere is seen only through its shadow; from the
# start, its shadow does not overlap the target's. PRDPT uses the paper's settings, as
# the benchmark's ``mitsuba`` experiment (``bench/experiments.py``) has them: one
# antithetic pair of renders per iteration, ``sigma`` 0.5 held for half of the 400
# iterations and then annealed to 0.01, Adam with learning rate 2e-2 on the estimate.
experiment = get_experiment("mitsuba")
settings = experiment.params("prdpt", "mi-shadows")
iterations = experiment.iterations("full", "prdpt", "mi-shadows")
print(f"prdpt: {settings}, {iterations} iterations")
shadows = scenes["mi-shadows"]
t0 = time.perf_counter()
prdpt = blackbox_opt.minimize(
    shadows, method="prdpt", max_iter=iterations, random_state=0, verbose=False, **settings
)
prdpt_time = (time.perf_counter() - t0) / prdpt.nit
error = float(shadows.param_error(prdpt.x_last))
print(f"prdpt: x = {prdpt.x_last.tolist()}, parameter MSE {error:.2e}, {prdpt_time:.3f} s/iter")

# %%
# Mitsuba's gradient, from ``value_and_grad`` (a projective integrator with
# ``sppi=0``), sees the caster only through shadow rays, whose discontinuities it does
# not sample: the gradient is zero or a little noise, and Adam drifts instead of
# moving to the target. Each iteration costs an AD render, so this run is short.
if shadows.differentiable:
    t0 = time.perf_counter()
    adam_settings = experiment.params("adam", "mi-shadows")  # the same learning rate
    adam = blackbox_opt.minimize(
        shadows, method="adam", max_iter=10, verbose=False, **adam_settings
    )
    adam_time = (time.perf_counter() - t0) / adam.nit
    error = float(shadows.param_error(adam.x_last))
    print(f"adam: x = {adam.x_last.tolist()}, parameter MSE {error:.2e}, {adam_time:.3f} s/iter")
else:
    adam = None
    print(f"adam skipped: {shadows.not_differentiable_reason}")

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.3))
runs = [("prdpt", prdpt, "C0")] + ([("adam (Mitsuba AD)", adam, "C3")] if adam else [])
for label, result, colour in runs:
    history = result.history
    left.semilogy(history["nit"], history["loss"], color=colour, label=label)
    right.semilogy(history["nit"], history["param_error"], color=colour, label=label)
# the paper's PRDPT result on its shadows scene, from the benchmark's copy of its Table 2
paper = prdpt_paper("mi-shadows", "prdpt").param_mse
right.axhline(paper, color="k", ls="--", lw=1, label="paper PRDPT")
left.set(xlabel="iteration", ylabel="image MSE", title="loss")
right.set(xlabel="iteration", ylabel="parameter MSE", title="parameter error")
right.legend()
fig.tight_layout()

# %%
# The final PRDPT render beside the target.
fig, axes = plt.subplots(1, 2, figsize=(5, 2.1))
for ax, (label, x) in zip(axes, (("prdpt result", prdpt.x_last), ("target", shadows.x_opt))):
    ax.imshow(shadows.render(x).numpy())
    ax.set_title(label, fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()
