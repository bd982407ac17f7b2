"""
The image problems: start, solved result and target
===================================================

Many registered problems render their parameters as an image: the problem's
``image_shape`` is then not None, and ``problem.render(x)`` returns an ``(H, W, C)``
image with values in ``[0, 1]`` (``C`` is 1 or 3). This example walks through the
registry, and for every such problem shows the image at the start ``x0``, the result
of a short optimisation from there, and, where an optimum ``x_opt`` is known, the
image at the target, with their losses.
Problems without an image (``rosenbrock``, ``sphere``...) and those that need an
optional dependency (the Mitsuba scenes, see :doc:`/mitsuba`) are left out.
"""

# %%
# Collect the image problems
# --------------------------
# :func:`blackbox_opt.list_problems` lists the registered problems as a table of row
# dicts; :func:`blackbox_opt.make_problem` builds one with its default parameters.
import matplotlib.pyplot as plt

import blackbox_opt

print(blackbox_opt.list_problems())

rows = []
for entry in blackbox_opt.list_problems():
    if entry["requires"]:  # e.g. the Mitsuba scenes, shown on their own page
        continue
    problem = blackbox_opt.make_problem(entry["id"])
    if problem.image_shape is None:
        continue
    start = problem.render(problem.x0)
    start_loss = float(problem(problem.x0))
    if problem.x_opt is not None:
        target = problem.render(problem.x_opt)
        target_loss = float(problem(problem.x_opt))
    else:
        target, target_loss = None, None
    rows.append((entry["id"], start, start_loss, target, target_loss))

for pid, _, start_loss, _, target_loss in rows:
    target_text = "no known optimum" if target_loss is None else f"{target_loss:.4g}"
    print(f"{pid:12s} start loss {start_loss:.4g}   target loss {target_text}")

# %%
# A short optimisation of each
# ----------------------------
# One method and a small budget per problem (seconds each on a laptop CPU): PRDPT for
# the problems whose loss is flat or piecewise constant, Adam on the true gradient for
# the two differentiable high-dimensional ones. The budgets are far below the papers'
# (the full benchmark, ``python -m bench``, runs those): ``sort`` and ``caustic`` are
# only partly solved here, which the losses below say plainly.
RECIPES = {
    "rect": ("prdpt", {"sigma": 0.05, "n_samples": 4, "lr": 1e-3, "max_iter": 400}),
    "occlusion": ("prdpt", {"sigma": 0.53, "n_samples": 4, "lr": 0.032, "max_iter": 400}),
    "shadow": ("prdpt", {"sigma": 0.69, "n_samples": 4, "lr": 0.041, "max_iter": 400}),
    "sort": ("prdpt", {"sigma": 0.05, "n_samples": 4, "lr": 3e-3, "max_iter": 1500}),
    "led-display": ("prdpt", {"sigma": 0.3, "n_samples": 8, "lr": 5e-2, "max_iter": 800}),
    "caustic": ("prdpt", {"sigma": 0.02, "n_samples": 4, "lr": 1e-3, "max_iter": 600}),
    "texture": ("adam", {"lr": 1e-2, "max_iter": 300}),
    "mlp-digits": ("adam", {"lr": 1e-3, "max_iter": 500}),
}
solved = {}
for pid, *_ in rows:
    if pid not in RECIPES:
        continue
    method, options = RECIPES[pid]
    problem = blackbox_opt.make_problem(pid)
    result = blackbox_opt.minimize(problem, method, random_state=0, verbose=False, **options)
    solved[pid] = (method, problem.render(result.x), float(result.fun))
    print(f"{pid:12s} {method:6s} {result.nit:5d} iterations: loss {result.fun:.3g}")

# %%
# A few checks
# ------------
# Every render is an ``(H, W, C)`` image in ``[0, 1]`` with one or three channels, and
# wherever a target is known its loss is below the start's (here it is exactly 0:
# each target image is the problem's own reference).
for pid, start, start_loss, target, target_loss in rows:
    for image in (start, target):
        if image is None:
            continue
        assert image.ndim == 3 and image.shape[-1] in (1, 3), (pid, image.shape)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0, pid
    if target_loss is not None:
        assert target_loss < start_loss, pid
        assert target_loss == 0.0, (pid, target_loss)
    if pid in solved:
        assert solved[pid][2] < start_loss, pid  # every short run improved on its start
assert len(rows) >= 2

# %%
# Start, result and target
# ------------------------
# One row per problem: the start on the left, the short optimisation's result in the
# middle, the target on the right. Single-channel images are shown with a gray
# colormap; every image is shown on the full range ``[0, 1]``, so a flat grey start
# (``texture``) or an all-dark one (``led-display``, every LED off) looks like that.
fig, axes = plt.subplots(len(rows), 3, figsize=(9.0, 2.6 * len(rows)), squeeze=False)
for (pid, start, start_loss, target, target_loss), (ax_start, ax_solved, ax_target) in zip(
    rows, axes, strict=True
):
    start_title = f"{pid}: start, loss {start_loss:.3g}"
    target_title = "" if target is None else f"{pid}: target, loss {target_loss:.3g}"
    method, result_image, result_loss = solved.get(pid, ("", None, None))
    result_title = f"{pid}: {method}, loss {result_loss:.3g}" if method else ""
    panels = (
        (ax_start, start, start_title),
        (ax_solved, result_image, result_title),
        (ax_target, target, target_title),
    )
    for ax, image, title in panels:
        ax.set_xticks([])
        ax.set_yticks([])
        if image is None:
            text = "no known optimum" if ax is ax_target else "not optimised here"
            ax.text(0.5, 0.5, f"{pid}:\n{text}", ha="center", va="center")
            continue
        image = image.detach().cpu().numpy()
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(image, vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=9)
fig.tight_layout()
plt.show()
