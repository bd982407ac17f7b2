"""The PRDPT paper's Mitsuba 3 tasks, built in Python from Mitsuba's built-in shapes.

Every scene is a ``mi.load_dict`` description with analytic shapes (spheres,
cylinders, disks, rectangles) and textures generated with numpy; nothing is read from
disk or downloaded. Every parameter moves a shape's ``to_world`` transform or a
colour, so the same code writes plain values for black-box evaluation and Dr.Jit
values with gradients for Mitsuba's AD (see :class:`~problems.mitsuba.MitsubaProblem`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from .base import MitsubaProblem, grid_texture

__all__ = ["Caustic", "CornellGI", "Cup", "Occlusion", "Shadows"]


def _diffuse(rgb: Any) -> dict:
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": list(rgb)}}


def _point(mi: Any, *xyz: Any) -> Any:
    return mi.Point3f(*xyz)


class Shadows(MitsubaProblem):
    """An off-screen sphere seen only through its shadow on a gridded wall (PRDPT SHADOWS).

    A diffuse vertical plane at ``x = 0`` spans ``y, z`` in ``[-6.58, 6.58]`` and
    carries a 50 x 50 grid texture. The camera at ``(17.66, 0, 0)`` looks down ``-x``
    (horizontal field of view 39.6 degrees; ``z`` is up). A constant environment
    ``(0.6, 0.6, 0.99)`` and a point light at ``(25.98, 13.78, 0)`` of intensity 1715
    light it. An orange sphere of radius 0.5 at ``(13.57, 8.05, -2.0)`` lies outside the
    view; the two parameters translate it in ``(y, z)``, which moves its shadow on the
    wall. From the start ``(-0.5, 2.5)`` the shadow does not overlap the target's
    shadow at ``(-1.5, 1.0)``: moving it a little changes the loss only by the grid
    under it, a near-plateau.

    Mitsuba's projective AD with ``sppi=0`` gives exactly zero gradient here: the
    caster is visible only through shadow rays, whose discontinuities it does not
    sample. With ``sppi > 0`` it samples them, at tens of times the cost, and the
    gradient is tiny and sign-flipping on the plateau. That is the paper's point.

    Parameters
    ----------
    res : tuple of int, default=(128, 96)
        Image width and height (the paper: 256 x 192).
    spp : int, default=16
        Samples per pixel (the paper: 32).
    x0 : array-like of shape (2,), default=(-0.5, 2.5)
        The start translation ``(y, z)``.
    target : array-like of shape (2,), default=(-1.5, 1.0)
        The target translation.
    reference_spp, seed, variant, dtype, device :
        See :class:`~problems.mitsuba.MitsubaProblem`.

    Examples
    --------
    >>> import problems
    >>> p = problems.make("mi-shadows", res=(32, 24), spp=4)  # doctest: +SKIP
    >>> bool(p(p.x_opt) < p(p.x0))  # doctest: +SKIP
    True
    """

    id = "mi-shadows"
    default_dim: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("plateau", "image", "mitsuba")
    caster: ClassVar[tuple[float, float, float]] = (13.57, 8.05, -2.0)
    radius: ClassVar[float] = 0.5

    def __init__(
        self,
        res: Any = (128, 96),
        spp: int = 16,
        *,
        x0: Any = (-0.5, 2.5),
        target: Any = (-1.5, 1.0),
        reference_spp: int | None = None,
        seed: int = 0,
        variant: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        super().__init__(
            x0,
            [[-4.0, -4.0], [4.0, 4.0]],
            target,
            res=res,
            spp=spp,
            reference_spp=reference_spp,
            seed=seed,
            variant=variant,
            dtype=dtype,
            device=device,
        )

    def scene_dict(self, mi: Any) -> dict:
        """The wall, the lights, the camera and the caster (see the class docstring)."""
        wall = mi.ScalarTransform4f().rotate([0, 1, 0], 90).scale([6.58, 6.58, 1.0])
        return {
            "type": "scene",
            "integrator": self.integrator(),
            "sensor": self.sensor(mi, [17.66, 0, 0], [0, 0, 0], [0, 0, 1], 39.6),
            "environment": {
                "type": "constant",
                "radiance": {"type": "rgb", "value": [0.6, 0.6, 0.99]},
            },
            "light": {
                "type": "point",
                "position": [25.98, 13.78, 0.0],
                "intensity": {"type": "spectrum", "value": 1715.0},
            },
            "wall": {
                "type": "rectangle",
                "to_world": wall,
                "bsdf": {
                    "type": "diffuse",
                    "reflectance": {
                        "type": "bitmap",
                        "bitmap": mi.Bitmap(grid_texture(50)),
                        "raw": True,
                    },
                },
            },
            "caster": {
                "type": "sphere",
                "to_world": mi.ScalarTransform4f().translate(list(self.caster)).scale(self.radius),
                "bsdf": _diffuse((0.9, 0.35, 0.05)),
            },
        }

    def set_parameters(self, params: Any, theta: Any) -> None:
        """Translate the caster by ``(0, y, z)``."""
        mi = self._mi
        x, y, z = self.caster
        centre = _point(mi, x, y + theta[0], z + theta[1])
        params["caster.to_world"] = mi.Transform4f().translate(centre).scale(self.radius)


class Occlusion(MitsubaProblem):
    """A red sphere moving along the view axis behind a grey one (PRDPT OCCLUSION).

    The camera at the origin looks down ``-z`` (horizontal field of view 40 degrees);
    an opaque grey sphere of radius 1 at ``(0, 0, -4)`` hides what lies behind it. A
    red sphere of radius 0.6 sits at ``(0.15, 0.1, -d)``; the one parameter is its
    distance ``d``. At the start ``d = 5`` it is hidden (only the faint light it
    reflects onto the occluder changes), at the target ``d = 3.4`` its cap pokes through
    the occluder's front. A constant environment and a point light light the scene.

    Parameters
    ----------
    res : tuple of int, default=(128, 96)
    spp : int, default=16
    x0 : float, default=5.0
        The start distance.
    target : float, default=3.4
        The target distance.
    reference_spp, seed, variant, dtype, device :
        See :class:`~problems.mitsuba.MitsubaProblem`.
    """

    id = "mi-occlusion"
    default_dim: ClassVar[int] = 1
    tags: ClassVar[tuple[str, ...]] = ("plateau", "image", "mitsuba")
    offset: ClassVar[tuple[float, float]] = (0.15, 0.1)
    radius: ClassVar[float] = 0.6

    def __init__(
        self,
        res: Any = (128, 96),
        spp: int = 16,
        *,
        x0: float = 5.0,
        target: float = 3.4,
        reference_spp: int | None = None,
        seed: int = 0,
        variant: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        super().__init__(
            [x0],
            [[1.5], [8.0]],
            [target],
            res=res,
            spp=spp,
            reference_spp=reference_spp,
            seed=seed,
            variant=variant,
            dtype=dtype,
            device=device,
        )

    def scene_dict(self, mi: Any) -> dict:
        """Two spheres, a constant environment and a point light."""
        return {
            "type": "scene",
            "integrator": self.integrator(),
            "sensor": self.sensor(mi, [0, 0, 0], [0, 0, -1], [0, 1, 0], 40.0),
            "environment": {
                "type": "constant",
                "radiance": {"type": "rgb", "value": [0.25, 0.3, 0.4]},
            },
            "light": {
                "type": "point",
                "position": [2.0, 3.0, 1.0],
                "intensity": {"type": "spectrum", "value": 25.0},
            },
            "occluder": {
                "type": "sphere",
                "to_world": mi.ScalarTransform4f().translate([0, 0, -4.0]),
                "bsdf": _diffuse((0.6, 0.6, 0.6)),
            },
            "mover": {
                "type": "sphere",
                "to_world": mi.ScalarTransform4f().translate([0.15, 0.1, -5.0]).scale(self.radius),
                "bsdf": _diffuse((0.9, 0.15, 0.1)),
            },
        }

    def set_parameters(self, params: Any, theta: Any) -> None:
        """Place the red sphere at distance ``d`` along the view axis."""
        mi = self._mi
        ox, oy = self.offset
        centre = _point(mi, ox, oy, -theta[0])
        params["mover.to_world"] = mi.Transform4f().translate(centre).scale(self.radius)


class Cup(MitsubaProblem):
    """A mug, built from cylinders and spheres, rotated about its vertical axis (PRDPT CUP).

    The body is an open cylinder of radius 1 and height 2 with a bottom disk, glazed
    with a generated texture: a blue band whose strength varies smoothly around the
    circumference, strongest opposite the handle. The handle is a bracket of three thin
    cylinders with rounded corners. The mug stands on a gridded floor under a point
    light and a dim environment; the camera looks at it from the front and above. The
    one parameter is the mug's angle ``phi`` (radians) about the vertical ``z`` axis.
    At the start ``phi = 3.0`` the handle is hidden behind the body and the band faces
    the camera; at the target ``phi = 1.4`` the handle stands out to the side.

    Parameters
    ----------
    res : tuple of int, default=(128, 96)
    spp : int, default=16
    x0 : float, default=3.0
        The start angle in radians.
    target : float, default=1.4
        The target angle.
    reference_spp, seed, variant, dtype, device :
        See :class:`~problems.mitsuba.MitsubaProblem`.
    """

    id = "mi-cup"
    default_dim: ClassVar[int] = 1
    tags: ClassVar[tuple[str, ...]] = ("image", "mitsuba")
    handle_radius: ClassVar[float] = 0.12

    def __init__(
        self,
        res: Any = (128, 96),
        spp: int = 16,
        *,
        x0: float = 3.0,
        target: float = 1.4,
        reference_spp: int | None = None,
        seed: int = 0,
        variant: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        super().__init__(
            [x0],
            [[0.0], [2 * math.pi]],
            [target],
            res=res,
            spp=spp,
            reference_spp=reference_spp,
            seed=seed,
            variant=variant,
            dtype=dtype,
            device=device,
        )

    def _handle(self, mi: Any) -> dict[str, Any]:
        """The handle's pieces as base transforms (before the rotation about z)."""
        r = self.handle_radius
        T = mi.ScalarTransform4f
        along_x = T().rotate([0, 1, 0], 90)  # the unit cylinder's z axis turned to +x
        return {
            "handle_top": (
                "cylinder",
                T().translate([0.95, 0, 1.6]) @ along_x @ T().scale([r, r, 0.55]),
            ),
            "handle_bottom": (
                "cylinder",
                T().translate([0.95, 0, 0.55]) @ along_x @ T().scale([r, r, 0.55]),
            ),
            "handle_bar": ("cylinder", T().translate([1.5, 0, 0.55]) @ T().scale([r, r, 1.05])),
            "handle_corner_top": ("sphere", T().translate([1.5, 0, 1.6]).scale(r)),
            "handle_corner_bottom": ("sphere", T().translate([1.5, 0, 0.55]).scale(r)),
        }

    @staticmethod
    def glaze_texture(width: int = 128, height: int = 32) -> np.ndarray:
        """The body's texture: a blue band fading around the circumference, as RGB.

        Columns run around the body (``u``, the handle at ``u = 0``), rows along its
        height; the band covers the middle rows, strongest at ``u = 0.5``.

        Parameters
        ----------
        width, height : int
            Texels around and along the body.

        Returns
        -------
        numpy.ndarray of shape (height, width, 3), float32
        """
        u = (np.arange(width) + 0.5) / width
        strength = (0.5 - 0.5 * np.cos(2 * np.pi * u)) ** 2  # 0 at the handle, 1 opposite
        rows = np.arange(height)
        band = ((rows >= 0.3 * height) & (rows < 0.7 * height)).astype(np.float64)
        mix = band[:, None, None] * strength[None, :, None]
        base, blue = np.array([0.75, 0.72, 0.65]), np.array([0.1, 0.22, 0.7])
        return (base + mix * (blue - base)).astype(np.float32)

    def scene_dict(self, mi: Any) -> dict:
        """Floor, body, bottom, handle, lights and camera."""
        T = mi.ScalarTransform4f
        glaze = _diffuse((0.75, 0.72, 0.65))
        decal = {
            "type": "diffuse",
            "reflectance": {
                "type": "bitmap",
                "bitmap": mi.Bitmap(self.glaze_texture()),
                "raw": True,
            },
        }
        self._handle_base = self._handle(mi)
        scene = {
            "type": "scene",
            "integrator": self.integrator(),
            "sensor": self.sensor(mi, [6.0, -1.5, 3.0], [0, 0, 0.8], [0, 0, 1], 42.0),
            "environment": {
                "type": "constant",
                "radiance": {"type": "rgb", "value": [0.2, 0.22, 0.25]},
            },
            "light": {
                "type": "point",
                "position": [3.0, -4.0, 7.0],
                "intensity": {"type": "spectrum", "value": 70.0},
            },
            "floor": {
                "type": "rectangle",
                "to_world": T().scale([8.0, 8.0, 1.0]),
                "bsdf": {
                    "type": "diffuse",
                    "reflectance": {
                        "type": "bitmap",
                        "bitmap": mi.Bitmap(grid_texture(16)),
                        "raw": True,
                    },
                },
            },
            "body": {
                "type": "cylinder",
                "to_world": T().scale([1.0, 1.0, 2.0]),
                "bsdf": {"type": "twosided", "bsdf": decal},
            },
            "bottom": {"type": "disk", "to_world": T().translate([0, 0, 0.02]), "bsdf": glaze},
        }
        for name, (kind, base) in self._handle_base.items():
            scene[name] = {"type": kind, "to_world": base, "bsdf": _diffuse((0.8, 0.3, 0.15))}
        return scene

    def set_parameters(self, params: Any, theta: Any) -> None:
        """Turn the body and the handle's pieces by ``phi`` about the z axis."""
        mi = self._mi
        turn = mi.Transform4f().rotate([0, 0, 1], theta[0] * (180.0 / math.pi))
        params["body.to_world"] = turn @ mi.Transform4f(mi.ScalarTransform4f().scale([1, 1, 2]))
        for name, (_, base) in self._handle_base.items():
            params[f"{name}.to_world"] = turn @ mi.Transform4f(base)


class CornellGI(MitsubaProblem):
    """A Cornell-box-like room lit from the ceiling (PRDPT GI): light, wall colour, box.

    A room of five diffuse walls (white floor, ceiling and back, a red left wall), a
    square area light under the ceiling and an ochre box on the floor, seen through the open
    front by a path tracer of depth 6, so much of the light is indirect (the light's
    own pixels are hidden from the camera, as they would dominate the MSE). Three
    parameters: the light's ``x`` position under the ceiling (in ``[-0.7, 0.7]``), the
    right wall's colour as a mix ``t`` between green (``t = 0``) and blue (``t = 1``),
    and the box's rotation about the vertical axis in radians.

    Parameters
    ----------
    res : tuple of int, default=(128, 96)
    spp : int, default=16
    x0 : array-like of shape (3,), default=(-0.5, 0.15, -0.3)
    target : array-like of shape (3,), default=(0.35, 0.8, 0.5)
    reference_spp, seed, variant, dtype, device :
        See :class:`~problems.mitsuba.MitsubaProblem`.
    """

    id = "mi-gi"
    default_dim: ClassVar[int] = 3
    tags: ClassVar[tuple[str, ...]] = ("image", "mitsuba", "global-illumination")
    green: ClassVar[tuple[float, float, float]] = (0.12, 0.45, 0.09)
    blue: ClassVar[tuple[float, float, float]] = (0.08, 0.15, 0.6)
    box_centre: ClassVar[tuple[float, float, float]] = (0.3, 0.6, -0.2)
    box_half: ClassVar[tuple[float, float, float]] = (0.4, 0.6, 0.22)
    box_colour: ClassVar[tuple[float, float, float]] = (0.8, 0.62, 0.2)

    def __init__(
        self,
        res: Any = (128, 96),
        spp: int = 16,
        *,
        x0: Any = (-0.5, 0.15, -0.3),
        target: Any = (0.35, 0.8, 0.5),
        reference_spp: int | None = None,
        seed: int = 0,
        variant: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        bounds = [[-0.7, 0.0, -1.0], [0.7, 1.0, 1.0]]
        super().__init__(
            x0,
            bounds,
            target,
            res=res,
            spp=spp,
            reference_spp=reference_spp,
            seed=seed,
            variant=variant,
            dtype=dtype,
            device=device,
        )

    def integrator(self) -> dict:
        """A path tracer of depth 6 that hides the light seen directly by the camera.

        The light's own pixels (radiance about 9) would otherwise dominate the image
        MSE, and the wall colour and the box would barely count.
        """
        return {**super().integrator(), "hide_emitters": True}

    def ad_integrator(self) -> dict:
        """``prb_projective`` that hides directly seen emitters, like :meth:`integrator`."""
        return {**super().ad_integrator(), "hide_emitters": True}

    def _box_faces(self, mi: Any) -> dict[str, Any]:
        """The box's visible faces as rectangles in the box's frame."""
        T = mi.ScalarTransform4f
        hx, hy, hz = self.box_half
        return {
            "box_px": T().translate([hx, 0, 0]).rotate([0, 1, 0], 90).scale([hz, hy, 1]),
            "box_nx": T().translate([-hx, 0, 0]).rotate([0, 1, 0], -90).scale([hz, hy, 1]),
            "box_pz": T().translate([0, 0, hz]).scale([hx, hy, 1]),
            "box_nz": T().translate([0, 0, -hz]).rotate([0, 1, 0], 180).scale([hx, hy, 1]),
            "box_py": T().translate([0, hy, 0]).rotate([1, 0, 0], -90).scale([hx, hz, 1]),
        }

    def scene_dict(self, mi: Any) -> dict:
        """Walls, the ceiling light, the box and the camera."""
        T = mi.ScalarTransform4f
        white = _diffuse((0.72, 0.7, 0.66))
        self._box_base = self._box_faces(mi)
        scene = {
            "type": "scene",
            "integrator": self.integrator(),
            "sensor": self.sensor(mi, [0, 1.0, 3.7], [0, 1.0, 0], [0, 1, 0], 42.0),
            "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90), "bsdf": white},
            "ceiling": {
                "type": "rectangle",
                "to_world": T().translate([0, 2, 0]).rotate([1, 0, 0], 90),
                "bsdf": white,
            },
            "back": {"type": "rectangle", "to_world": T().translate([0, 1, -1]), "bsdf": white},
            "left": {
                "type": "rectangle",
                "to_world": T().translate([-1, 1, 0]).rotate([0, 1, 0], 90),
                "bsdf": _diffuse((0.63, 0.065, 0.05)),
            },
            "right": {
                "type": "rectangle",
                "to_world": T().translate([1, 1, 0]).rotate([0, 1, 0], -90),
                "bsdf": _diffuse(self.green),
            },
            "light": {
                "type": "rectangle",
                "to_world": T().translate([0, 1.98, 0]).rotate([1, 0, 0], 90).scale(0.3),
                "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [9.0, 7.5, 5.0]}},
                "bsdf": _diffuse((0.0, 0.0, 0.0)),
            },
        }
        for name, base in self._box_base.items():
            scene[name] = {
                "type": "rectangle",
                "to_world": base,
                "bsdf": _diffuse(self.box_colour),
            }
        return scene

    def set_parameters(self, params: Any, theta: Any) -> None:
        """Move the light, mix the right wall's colour, turn the box."""
        mi = self._mi
        light_x, mix, angle = theta[0], theta[1], theta[2]
        params["light.to_world"] = mi.Transform4f().translate(
            _point(mi, light_x, 1.98, 0.0)
        ) @ mi.Transform4f(mi.ScalarTransform4f().rotate([1, 0, 0], 90).scale(0.3))
        g, b = self.green, self.blue
        params["right.bsdf.reflectance.value"] = mi.Color3f(
            *[g[i] + mix * (b[i] - g[i]) for i in range(3)]
        )
        place = mi.Transform4f().translate(_point(mi, *self.box_centre)) @ mi.Transform4f().rotate(
            [0, 1, 0], angle * (180.0 / math.pi)
        )
        for name, base in self._box_base.items():
            params[f"{name}.to_world"] = place @ mi.Transform4f(base)


class Caustic(MitsubaProblem):
    """A spherical light shining through a glass ball onto the floor (PRDPT CAUSTIC).

    A glass sphere (index 1.5) of radius 0.5 floats at ``(0, 0.9, 0)`` above a diffuse
    floor; a spherical area light of radius 0.6 hangs above the top of the image, so
    the camera sees only its effect: the ball's shadow and the bright caustic it
    focuses onto the floor. The two parameters are the light's ``(x, z)`` position at
    height 2.6. A path tracer of depth 6 renders it; the caustic is noisy at few
    samples per pixel, which the fixed seed turns into a fixed pattern. (A smaller
    light gives a sharper caustic but fireflies that swamp the MSE; below about 8 spp
    they swamp it even so: at 32 x 24 pixels and 4 spp the start scores better than
    the target.) From the start, where the caustic falls far from the target's, the
    loss is nearly flat and then falls to the target; from the other side of the ball
    it would first rise, as the caustic crosses the image under the ball.

    Parameters
    ----------
    res : tuple of int, default=(128, 96)
    spp : int, default=16
    x0 : array-like of shape (2,), default=(1.3, 1.2)
    target : array-like of shape (2,), default=(0.5, 0.3)
    reference_spp, seed, variant, dtype, device :
        See :class:`~problems.mitsuba.MitsubaProblem`.
    """

    id = "mi-caustic"
    default_dim: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("image", "mitsuba", "caustic")
    light_height: ClassVar[float] = 2.6
    light_radius: ClassVar[float] = 0.6

    def __init__(
        self,
        res: Any = (128, 96),
        spp: int = 16,
        *,
        x0: Any = (1.3, 1.2),
        target: Any = (0.5, 0.3),
        reference_spp: int | None = None,
        seed: int = 0,
        variant: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        super().__init__(
            x0,
            [[-1.5, -1.5], [1.5, 1.5]],
            target,
            res=res,
            spp=spp,
            reference_spp=reference_spp,
            seed=seed,
            variant=variant,
            dtype=dtype,
            device=device,
        )

    def scene_dict(self, mi: Any) -> dict:
        """Floor, glass ball, light and camera."""
        T = mi.ScalarTransform4f
        return {
            "type": "scene",
            "integrator": self.integrator(),
            "sensor": self.sensor(mi, [0, 1.8, 3.4], [0, 0.4, 0], [0, 1, 0], 45.0),
            "environment": {
                "type": "constant",
                "radiance": {"type": "rgb", "value": [0.02, 0.02, 0.03]},
            },
            "floor": {
                "type": "rectangle",
                "to_world": T().rotate([1, 0, 0], -90).scale([4.0, 4.0, 1.0]),
                "bsdf": {
                    "type": "diffuse",
                    "reflectance": {
                        "type": "bitmap",
                        "bitmap": mi.Bitmap(grid_texture(20)),
                        "raw": True,
                    },
                },
            },
            "ball": {
                "type": "sphere",
                "to_world": T().translate([0, 0.9, 0]).scale(0.5),
                "bsdf": {"type": "dielectric", "int_ior": 1.5, "ext_ior": 1.0},
            },
            "light": {
                "type": "sphere",
                "to_world": T().translate([0, self.light_height, 0]).scale(self.light_radius),
                "emitter": {
                    "type": "area",
                    "radiance": {"type": "rgb", "value": [10.0, 9.5, 8.5]},
                },
            },
        }

    def set_parameters(self, params: Any, theta: Any) -> None:
        """Place the light at ``(x, height, z)``."""
        mi = self._mi
        centre = _point(mi, theta[0], self.light_height, theta[1])
        params["light.to_world"] = mi.Transform4f().translate(centre).scale(self.light_radius)
