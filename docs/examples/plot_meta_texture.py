"""
Fitting an unseen texture in 10 steps with a meta-learned start
===============================================================

A :class:`~blackbox_opt.MetaInitializer` learns, from many textures of the
``texture-family``, a start for the weights of a small coordinate MLP and one learning
rate per weight, such that 10 plain gradient steps fit a texture it has never seen
(see :ref:`method-meta`). Here it meta-trains for a few seconds on 100 procedural
textures, then adapts to a held-out one; the pictures show the network's image after
0, 5 and 10 steps beside the target, and the same 10 steps of Adam from the standard
random start of the MLP.
"""

# %%
# Meta-training
# -------------
# Each texture blends two random colours by a random mix of value noise, stripes and
# checks; the model maps a pixel's encoded position through two hidden layers of 32
# ReLU units to RGB (1,891 weights).
import matplotlib.pyplot as plt

import problems
from blackbox_opt import MetaInitializer, minimize

family = problems.make_family("texture-family", n_train=100, n_test=4, seed=0)
meta = MetaInitializer(
    inner_steps=10, epochs=10, outer_lr=1e-3, inner_lr_init=3e-2, random_state=0, verbose=False
)
meta.fit(family)
print(
    f"{meta.n_outer_steps_} outer steps in {meta.fit_time_:.1f} s; mean loss after the "
    f"inner steps: {meta.history_['loss'][0]:.4f} (epoch 1), "
    f"{meta.history_['loss'][-1]:.4f} (epoch {len(meta.history_)})"
)

# %%
# Adapting to a held-out texture
# ------------------------------
# :meth:`~blackbox_opt.MetaInitializer.adapt` runs the 10 Meta-SGD steps and returns an
# :class:`~blackbox_opt.OptimizeResult` with the loss after every step. For comparison,
# Adam (learning rate 1e-2) takes 10 steps from the family's standard random start.
member = family.member(0, "test")
adapted = meta.adapt(member, steps=10)
thetas = {0: meta.init_, 5: meta.adapt(member, steps=5).x_last, 10: adapted.x_last}
adam = minimize(member, "adam", lr=1e-2, max_iter=10, random_state=0, verbose=False)
print(
    "meta-learned loss after 0, 5, 10 steps:",
    [f"{adapted.history['loss'][i]:.4f}" for i in (0, 5, 10)],
)
print(f"Adam from a random start after 10 steps: {adam.history['loss'][-1]:.4f}")

fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
for ax, (step, theta) in zip(axes, thetas.items()):
    ax.imshow(member.render(theta).numpy())
    ax.set_title(f"meta: {step} steps\nloss {float(member(theta)):.4f}", fontsize=9)
axes[3].imshow(member.render(adam.x_last).numpy())
axes[3].set_title(f"Adam: 10 steps\nloss {adam.history['loss'][-1]:.4f}", fontsize=9)
axes[4].imshow(member.target.reshape(member.image_shape).numpy())
axes[4].set_title("target (unseen)", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# What the start learned
# ----------------------
# The loss of every held-out texture after each step, from the meta-learned start with
# the learned rates, beside the mean squared deviation of each texture from its own mean
# colour. On this family the quick meta-training learns mostly to find the mean colour
# fast; the stripes and noise need many more steps (the benchmark, ``python -m bench
# meta``, measures how many).
curve = meta.adaptation_losses(family, "test")
targets = family.targets[family.n_train :]
flat = ((targets - targets.mean(1, keepdim=True)) ** 2).mean((1, 2))
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(curve.numpy(), color="C3", alpha=0.7)
for value in flat:
    ax.axhline(float(value), color="grey", ls=":", lw=0.8)
ax.set_yscale("log")
ax.set_xlabel("Meta-SGD steps")
ax.set_ylabel("loss (MSE)")
ax.set_title("held-out textures (dotted: mean colour only)")
fig.tight_layout()
plt.show()
