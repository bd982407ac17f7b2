"""
The image problems: start and target
====================================

Many registered problems render their parameters as an image: the problem's
``image_shape`` is then not None, and ``problem.render(x)`` returns an ``(H, W, C)``
image with values in ``[0, 1]`` (``C`` is 1 or 3). This example walks through the
registry, and for every such problem shows the image at the start ``x0`` and, where an
optimum ``x_opt`` is known, the image at the target, with their losses.
Problems without an image (``rosenbrock``, ``sphere``...) are left out.
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
assert len(rows) >= 2

# %%
# Start and target
# ----------------
# One row per problem: the start on the left, the target on the right. Single-channel
# images are shown with a gray colormap; every image is shown on the full range
# ``[0, 1]``, so a flat grey start (``texture``) or an all-dark one (``led-display``,
# every LED off) looks like that.
fig, axes = plt.subplots(len(rows), 2, figsize=(6.4, 2.6 * len(rows)), squeeze=False)
for (pid, start, start_loss, target, target_loss), (ax_start, ax_target) in zip(
    rows, axes, strict=True
):
    start_title = f"{pid}: start, loss {start_loss:.3g}"
    target_title = "" if target is None else f"{pid}: target, loss {target_loss:.3g}"
    for ax, image, title in ((ax_start, start, start_title), (ax_target, target, target_title)):
        ax.set_xticks([])
        ax.set_yticks([])
        if image is None:
            ax.text(0.5, 0.5, f"{pid}:\nno known optimum", ha="center", va="center")
            continue
        image = image.detach().cpu().numpy()
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(image, vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=9)
fig.tight_layout()
plt.show()
