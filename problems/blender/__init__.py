"""Blender scenes as problems: parameters by data path, rendered by Cycles in Blender itself.

:class:`BlenderProblem` turns any Blender scene (a ``.blend`` file, or Python code that
builds one) into a problem: its parameters are Blender data paths (an object's location,
a light's power, a material node's input, a modifier's value), every point is rendered
by Blender in a process of its own and compared to a target image. Nothing is
differentiated. The registered scenes (``blender-shadow``, ``blender-occlusion``,
``blender-led``) are built by code, so nothing is downloaded.

Blender runs in its own interpreter (see :mod:`problems.blender.process`): the library
never imports ``bpy``, so the ``bpy`` wheel's numpy < 2 pin does not reach the
library's environment.
"""

from .problem import BlenderProblem
from .process import BlenderError, BlenderProcess, find_blender
from .scenes import BlenderLED, BlenderOcclusion, BlenderShadow

__all__ = [
    "BlenderError",
    "BlenderLED",
    "BlenderOcclusion",
    "BlenderProblem",
    "BlenderProcess",
    "BlenderShadow",
    "find_blender",
]
