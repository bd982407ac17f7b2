"""
A Blender scene: where the sphere is, how the light falls, how bright it is
===========================================================================

Blender renders this scene; Python never differentiates it. The scene is built by a
plain function that Blender runs (it imports ``bpy`` itself), and three of its
properties are the parameters, named and addressed by their Blender data paths: the
sphere's position along the floor (metres), the sun's elevation (radians) and its
strength (log-scaled). The target is a render at known parameters, so the loss there
is exactly 0: Cycles renders with a fixed seed.

CMA-ES runs with its defaults: its first step is a quarter of each parameter's range,
so metres, radians and a log-scaled strength need no tuning. Blender
runs in a process of its own (``BLACKBOX_OPT_BLENDER``, set up by ``make blender``).
"""

import matplotlib.pyplot as plt
import torch

from blackbox_opt import minimize
from blackbox_opt.space import Real
from problems.blender import BlenderProblem


def sphere_on_a_floor():
    """Runs inside Blender: a red sphere on a grey floor, a camera and a sun."""
    import bpy

    bpy.ops.mesh.primitive_plane_add(size=20)
    floor = bpy.data.materials.new("Floor")
    floor.use_nodes = True
    floor.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (
        0.6,
        0.6,
        0.6,
        1,
    )
    bpy.context.active_object.data.materials.append(floor)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0, 0, 0.5))
    bpy.context.active_object.name = "Sphere"
    red = bpy.data.materials.new("Red")
    red.use_nodes = True
    red.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (
        0.8,
        0.1,
        0.05,
        1,
    )
    bpy.context.active_object.data.materials.append(red)
    bpy.ops.object.camera_add(location=(0, -7, 3.5), rotation=(1.1, 0, 0))
    bpy.context.scene.camera = bpy.context.active_object
    bpy.ops.object.light_add(type="SUN", rotation=(0.8, 0, 0.6))
    bpy.context.active_object.name = "Sun"
    bpy.data.lights["Sun"].angle = 0.05
    scene = bpy.context.scene
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.05, 0.05, 0.06)
    scene.cycles.max_bounces = 1
    scene.cycles.use_light_tree = False  # one light: skip the per-render light tree


problem = BlenderProblem(
    sphere_on_a_floor,
    {
        "x": ('objects["Sphere"].location[0]', Real(-2.0, 2.0)),
        "sun_tilt": ('objects["Sun"].rotation_euler[0]', Real(0.2, 1.3)),
        "strength": ('lights["Sun"].energy', Real(0.5, 10.0, log=True)),
    },
    x0={"x": -1.4, "sun_tilt": 0.3, "strength": 1.0},
    target_params={"x": 0.8, "sun_tilt": 1.0, "strength": 4.0},
    resolution=(48, 32),
    spp=8,
)
print(problem)
print("loss at the start:", float(problem(problem.x0)))

result = minimize(problem, method="cmaes", budget=600, random_state=0)
found = problem.space.from_vector(result.x)
print({k: round(v, 3) for k, v in found.items()}, "loss", f"{result.fun:.2e}")
print(f"{problem.n_evaluations} renders by Blender {problem.blender_version}")

images = problem.render(torch.stack([problem.x0, result.x, problem.x_opt]))
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6))
for ax, image, title in zip(axes, images, ("start", "result", "target")):
    ax.imshow(image.numpy())
    ax.set_title(title)
    ax.axis("off")
history = result.history.to_pandas()
axes[3].semilogy(history["nfev"], history["best"])
axes[3].set_xlabel("renders")
axes[3].set_title("best loss")
fig.tight_layout()
problem.close()
