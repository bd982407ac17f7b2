"""Scene builders of the registered Blender problems: Python code that builds each scene.

These functions run inside Blender's Python (the worker of
:class:`~problems.blender.BlenderProblem` imports this file by its path), so they import
``bpy`` inside their bodies and nothing of the library: importing this module needs no
Blender. Every scene starts from Blender's empty factory settings, and nothing is
downloaded: meshes are primitives and materials are node trees made here.

Lighting is kept free of Monte Carlo noise where the task allows, so that the loss
landscape is the task's and not the sampler's: flat colours are emission shaders (not
sampled as lights), the one light of the shadow scene is a sun of zero angle (a delta
light, sampled exactly), and no light bounces (``max_bounces = 0``). The pixel filter
still antialiases edges with random sub-pixel positions, fixed by the seed. Cycles'
light tree is off: rebuilt for every render, it cost 35 of the 45 ms of a 32 x 32 render
here, and a scene of one light gains nothing from it.
"""

from __future__ import annotations

import math

__all__ = ["build_led", "build_occlusion", "build_shadow"]


def _camera(location, *, fov_deg, look="down"):
    import bpy

    data = bpy.data.cameras.new("Camera")
    data.angle = math.radians(fov_deg)
    data.clip_start, data.clip_end = 0.05, 100.0
    camera = bpy.data.objects.new("Camera", data)
    bpy.context.scene.collection.objects.link(camera)
    camera.location = location  # Blender cameras look down their local -z
    bpy.context.scene.camera = camera
    return camera


def _emission(name, rgb, strength=1.0):
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes = mat.node_tree.nodes
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*rgb, 1.0)
    emit.inputs["Strength"].default_value = strength
    mat.node_tree.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    mat.cycles.emission_sampling = "NONE"  # a flat colour, not a light
    return mat


def _sphere(name, radius, location, material, segments=48):
    import bmesh
    import bpy

    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=segments, v_segments=segments // 2, radius=radius)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = location
    return obj


def _plain_world(rgb=(0.0, 0.0, 0.0)):
    import bpy

    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (*rgb, 1.0)
    world.cycles.sampling_method = "NONE"  # it lights nothing: no importance map
    bpy.context.scene.world = world
    cycles = bpy.context.scene.cycles
    cycles.max_bounces = 0
    # a light tree is rebuilt for every render (35 ms at 32 x 32); one sun needs none
    cycles.use_light_tree = False


def build_shadow(caster=(-5.5, -0.25)):
    """PRDPT's SHADOWS scene: a sphere outside the view whose shadow must reach a target.

    A camera at height 5 looks straight down at the ground plane (field of view 40
    degrees: it sees ``|x|, |y| <~ 1.82``), a beige checkerboard with an ambient term
    (an emission of 0.3 times its albedo). A sun of zero angle shines from
    ``(-1, 0, 1) / sqrt(2)``. The sphere ``Caster`` (radius 0.6, blue) floats at height 2
    at ``caster``; its hard shadow is an ellipse centred at ``(x + 2, y)``.

    Parameters
    ----------
    caster : tuple of float, default=(-5.5, -0.25)
        The caster's ``(x, y)`` (the problem writes its parameters over it).
    """
    import bpy

    _plain_world()
    _camera((0.0, 0.0, 5.0), fov_deg=40.0)
    ground = bpy.data.materials.new("Ground")
    ground.use_nodes = True
    nodes, links = ground.node_tree.nodes, ground.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 1.0
    checker.inputs["Color1"].default_value = (0.85, 0.8, 0.69, 1.0)
    checker.inputs["Color2"].default_value = (0.75, 0.7, 0.61, 1.0)
    coords = nodes.new("ShaderNodeTexCoord")
    scale = nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    scale.inputs["Scale"].default_value = 1.0 / 0.6  # checker cells of 0.3
    links.new(coords.outputs["Object"], scale.inputs[0])
    links.new(scale.outputs["Vector"], checker.inputs["Vector"])
    diffuse = nodes.new("ShaderNodeBsdfDiffuse")
    links.new(checker.outputs["Color"], diffuse.inputs["Color"])
    ambient = nodes.new("ShaderNodeEmission")
    ambient.inputs["Strength"].default_value = 0.3
    ground.cycles.emission_sampling = "NONE"  # the ambient term lights nothing else
    links.new(checker.outputs["Color"], ambient.inputs["Color"])
    add = nodes.new("ShaderNodeAddShader")
    links.new(diffuse.outputs["BSDF"], add.inputs[0])
    links.new(ambient.outputs["Emission"], add.inputs[1])
    links.new(add.outputs["Shader"], out.inputs["Surface"])
    bpy.ops.mesh.primitive_plane_add(size=40.0, location=(0.0, 0.0, 0.0))
    plane = bpy.context.active_object
    plane.name = "Ground"
    plane.data.materials.append(ground)
    blue = bpy.data.materials.new("Blue")
    blue.use_nodes = True
    blue.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (
        0.2,
        0.4,
        0.85,
        1.0,
    )
    _sphere("Caster", 0.6, (caster[0], caster[1], 2.0), blue)
    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 0.7 * math.pi  # a lit point reaches albedo x (0.3 + 0.7 cos 45)
    sun_data.angle = 0.0
    sun = bpy.data.objects.new("Sun", sun_data)
    bpy.context.scene.collection.objects.link(sun)
    sun.rotation_euler = (0.0, -math.pi / 4, 0.0)  # travels along (1, 0, -1) / sqrt(2)


def build_occlusion(offset=(0.15, 0.1), distance=5.0):
    """PRDPT's OCCLUSION scene: a red sphere hidden behind a large grey one.

    The camera at the origin looks down ``-z`` (field of view 40 degrees); flat colours
    (emission shaders, no light). The grey occluder (radius 1) is centred at
    ``(0, 0, -4)``; the red sphere ``Hidden`` (radius 0.6) at ``(offset, -distance)``:
    fully hidden for ``distance >~ 3.64``, a red cap poking through the occluder's
    surface below that.

    Parameters
    ----------
    offset : tuple of float, default=(0.15, 0.1)
        The hidden sphere's ``(x, y)``.
    distance : float, default=5.0
        Its distance along the view axis.
    """

    _plain_world((0.1, 0.12, 0.18))
    camera = _camera((0.0, 0.0, 0.0), fov_deg=40.0)
    camera.data.clip_start = 0.01
    _sphere("Occluder", 1.0, (0.0, 0.0, -4.0), _emission("Grey", (0.6, 0.6, 0.6)))
    _sphere("Hidden", 0.6, (offset[0], offset[1], -distance), _emission("Red", (0.9, 0.25, 0.15)))


def build_led(rows=12, cols=28, pitch=0.1, radius=0.035):
    """An LED matrix: ``rows x cols`` emissive discs, each on when its value passes 0.5.

    Every LED is a disc ``LED_rrr_ccc`` (row-major from the top left) with one shared
    material: an amber emission whose strength is ``object colour red > 0.5``, a step
    inside the shader, so the image depends on the parameters (each LED's
    ``color[0]``) only through which LEDs are on. A dark panel sits behind them; the
    camera looks straight at the panel with an orthographic view that frames the grid.

    Parameters
    ----------
    rows, cols : int, default=12, 28
    pitch : float, default=0.1
        Distance between LED centres.
    radius : float, default=0.035
        LED radius.
    """
    import bpy

    _plain_world((0.02, 0.02, 0.025))
    data = bpy.data.cameras.new("Camera")
    data.type = "ORTHO"
    data.ortho_scale = cols * pitch
    data.sensor_fit = "HORIZONTAL"
    camera = bpy.data.objects.new("Camera", data)
    bpy.context.scene.collection.objects.link(camera)
    camera.location = (0.0, 0.0, 2.0)
    bpy.context.scene.camera = camera
    mat = bpy.data.materials.new("LED")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    info = nodes.new("ShaderNodeObjectInfo")
    split = nodes.new("ShaderNodeSeparateColor")
    links.new(info.outputs["Color"], split.inputs["Color"])
    step = nodes.new("ShaderNodeMath")
    step.operation = "GREATER_THAN"
    step.inputs[1].default_value = 0.5
    links.new(split.outputs[0], step.inputs[0])
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (1.0, 0.62, 0.25, 1.0)
    links.new(step.outputs["Value"], emit.inputs["Strength"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    mat.cycles.emission_sampling = "NONE"  # seen directly, lighting nothing
    panel = _emission("Panel", (0.03, 0.03, 0.035))
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(0.0, 0.0, -0.01))
    back = bpy.context.active_object
    back.scale = (cols * pitch * 1.2, rows * pitch * 1.5, 1.0)
    back.data.materials.append(panel)
    bpy.ops.mesh.primitive_circle_add(vertices=24, radius=radius, fill_type="NGON")
    disc = bpy.context.active_object
    disc.data.materials.append(mat)
    mesh = disc.data
    bpy.data.objects.remove(disc)
    collection = bpy.context.scene.collection
    for r in range(rows):
        for c in range(cols):
            led = bpy.data.objects.new(f"LED_{r:03d}_{c:03d}", mesh)
            led.location = ((c - (cols - 1) / 2) * pitch, ((rows - 1) / 2 - r) * pitch, 0.0)
            led.color = (0.0, 0.0, 0.0, 1.0)
            collection.objects.link(led)
