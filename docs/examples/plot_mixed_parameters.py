"""
Mixed parameters: colours, a count and offsets
==============================================

Some parameters of a scene are choices, not numbers. Here an image is assembled from a
3 x 3 pattern of tiles, each painted one of four palette colours (categorical), the
pattern repeated a number of times across the image (integer) and shifted by two
offsets (reals). A :class:`blackbox_opt.Space` names these parameters; the methods
work on its flat continuous relaxation, and the result comes back by name.
"""

# %%
# A function that takes its parameters by name
# --------------------------------------------
# First the smallest case: a plain function of an integer, a choice and a log-scale
# real. ``minimize`` takes the space, calls the function with keyword arguments and
# returns ``result.params`` in the space's types.
import matplotlib.pyplot as plt
import torch

from blackbox_opt import Categorical, Integer, Real, Space, minimize
from problems.tiles import Tiles

torch.set_num_threads(1)

space = Space(
    n=Integer(1, 10),
    shape=Categorical(["sphere", "cube", "torus"]),
    scale=Real(1e-3, 1.0, log=True),
)


def cost(n, shape, scale):
    return (n - 7) ** 2 + (shape != "torus") + (torch.log10(torch.tensor(scale)) + 2) ** 2


res = minimize(cost, method="cmaes", space=space, budget=600, random_state=0, verbose=False)
print(res.params)
assert res.params["n"] == 7 and res.params["shape"] == "torus"

# %%
# The tiles problem
# -----------------
# ``Tiles`` declares its space: one categorical per tile, ``repeats`` and two offsets
# in tile widths (39 flat coordinates). Each categorical owns four scores of the flat
# vector (the highest wins), the integer one coordinate that is rounded when decoded.
problem = Tiles()
for row in problem.space.describe():
    print(row)
print("flat dimension:", problem.dim)
print("target:", problem.space.from_vector(problem.x_opt))

# %%
# Three methods, 3,000 evaluations each (1,000 for SPSA)
# -------------------------------------------------------
# CMA-ES gets the integer coordinate as one of pycma's ``integer_variables``; PRDPT
# descends the Gaussian-smoothed loss, in which the rounding and the argmax are slopes
# instead of steps (its ``sigma`` is 0.3 of a score's unit width); SPSA with its
# default perturbation ``c = 0.1`` never moves a score past the 0.5 margin between two
# choices, so it only ever sees one plateau. One seed each; ``python -m bench.mixed``
# runs five (PRDPT does not recover every tile at every seed, see
# :doc:`/parameter_spaces`).
options = dict(budget=3000, random_state=0, verbose=False)
runs = {
    "cmaes": minimize(Tiles(), "cmaes", **options),
    "prdpt": minimize(Tiles(), "prdpt", sigma=0.3, lr=0.05, **options),
    "spsa": minimize(Tiles(), "spsa", **{**options, "budget": 1000}),
}
for name, r in runs.items():
    wrong = float(problem.param_error(r.x))
    print(f"{name:6s} loss {r.fun:.2e}, discrete parameters wrong {wrong:.0%}:", r.params)

# %%
# The checks below keep the text honest: the docs build fails if a run stops behaving
# as described.
assert float(problem.param_error(runs["cmaes"].x)) == 0.0
assert float(problem.param_error(runs["prdpt"].x)) == 0.0
assert runs["spsa"].fun == float(problem(problem.x0))  # never left the start's plateau

# %%
# The history has a column per parameter
# --------------------------------------
# A categorical's column holds the index of its choice.
history = runs["prdpt"].history
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(history["nfev"], history["repeats"], label="repeats")
for i in range(9):
    axes[0].plot(history["nfev"], history[f"tile{i}"], lw=0.8, label=f"tile{i}")
axes[0].set_xlabel("evaluations")
axes[0].set_ylabel("value (choice index)")
axes[0].legend(fontsize=7)
axes[1].plot(history["nfev"], history["offset_x"], label="offset_x")
axes[1].plot(history["nfev"], history["offset_y"], label="offset_y")
axes[1].set_xlabel("evaluations")
axes[1].legend()
fig.tight_layout()

# %%
# The images
# ----------
points = torch.stack([problem.x0, problem.x_opt, *[r.x for r in runs.values()]])
images = problem.render(points).numpy()
titles = ["start", "target", *runs]
fig, axes = plt.subplots(1, len(titles), figsize=(12, 2.8))
for ax, image, title in zip(axes, images, titles):
    ax.imshow(image)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
