"""The registered Blender problems: scenes built by code (:mod:`problems.blender.builders`).

Each renders with Cycles on the CPU, one thread and a fixed seed by default, and has a
known optimum (its target parameters, loss 0: the target is a render there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from blackbox_opt.space import Real

from ..led import text_bitmap
from .problem import BlenderProblem

__all__ = ["BlenderLED", "BlenderOcclusion", "BlenderShadow"]

BUILDERS = Path(__file__).with_name("builders.py")


class _PlateauScene(BlenderProblem):
    """A square two-parameter scene of :mod:`~problems.blender.builders`, target known."""

    #: The builder function's name in builders.py.
    builder: ClassVar[str]
    #: The parameters: name -> (data path, Real).
    scene_parameters: ClassVar[dict[str, tuple[str, Real]]]
    default_dim: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("image", "blender", "plateau")

    def __init__(self, res: int, spp: int, x0: Any, target: Any, **options: Any):
        super().__init__(
            f"{BUILDERS}:{self.builder}",
            self.scene_parameters,
            x0=list(x0),
            target_params=list(target),
            resolution=(res, res),
            spp=spp,
            **options,
        )


class BlenderShadow(_PlateauScene):
    """PRDPT's shadow task in Blender: move a sphere outside the view until its shadow matches.

    The scene (:func:`~problems.blender.builders.build_shadow`): a camera at height 5
    looks straight down at a checkered ground (it sees ``|x|, |y| <~ 1.82``); a sun of
    zero angle shines from ``(-1, 0, 1) / sqrt(2)``; the blue sphere ``Caster`` (radius
    0.6, height 2) casts a hard elliptical shadow centred at ``(x + 2, y)``. The
    parameters are the caster's ``x`` in ``[-6, 1]`` and ``y`` in ``[-3, 3]``. At the
    start ``(-5.5, -0.25)`` the shadow falls outside the image, so the loss is exactly
    flat around it (no gradient exists at all); at the target ``(-3.5, 0.25)`` the
    sphere is still outside the view and two thirds of its shadow lie inside the
    image, at its left edge. Direct light only, so the renders have no noise but the
    antialiasing of edges.

    Parameters
    ----------
    res : int, default=64
        Image side in pixels.
    spp : int, default=4
        Cycles samples per pixel.
    x0, target : array-like of shape (2,)
        The start and the target ``(x, y)``.
    **options
        ``seed``, ``threads``, ``cycles_device``, ``timeout``, ``blender``, ``dtype``,
        ``device``: see :class:`~problems.blender.BlenderProblem`.

    Examples
    --------
    >>> p = BlenderShadow(res=16)  # doctest: +SKIP
    >>> float(p(p.x_opt)), bool(p(p.x0) == p(p.x0 + 0.2))  # doctest: +SKIP
    (0.0, True)
    """

    id = "blender-shadow"
    builder: ClassVar[str] = "build_shadow"
    scene_parameters: ClassVar[dict[str, tuple[str, Real]]] = {
        "x": ('objects["Caster"].location[0]', Real(-6.0, 1.0)),
        "y": ('objects["Caster"].location[1]', Real(-3.0, 3.0)),
    }

    def __init__(
        self,
        res: int = 64,
        *,
        spp: int = 4,
        x0: Any = (-5.5, -0.25),
        target: Any = (-3.5, 0.25),
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        **options: Any,
    ):
        super().__init__(res, spp, x0, target, dtype=dtype, device=device, **options)


class BlenderOcclusion(_PlateauScene):
    """PRDPT's occlusion task in Blender: bring a sphere out from behind another.

    The scene (:func:`~problems.blender.builders.build_occlusion`): the camera at the
    origin looks down ``-z``; flat colours. A grey occluder of radius 1 is centred at
    ``(0, 0, -4)``; the red sphere ``Hidden`` (radius 0.6) sits at ``(x, 0.1, z)``. The
    parameters are ``x`` in ``[-0.6, 0.6]`` and the depth ``z`` in ``[-8, -1.5]``. At the
    start ``(0, -5)`` the red sphere is fully hidden and nothing it does nearby shows
    (a plateau); at the target ``(0.15, -3.4)`` a red cap pokes through the grey disc.

    Parameters
    ----------
    res : int, default=64
        Image side in pixels.
    spp : int, default=4
        Cycles samples per pixel.
    x0, target : array-like of shape (2,)
        The start and the target ``(x, z)``.
    **options
        ``seed``, ``threads``, ``cycles_device``, ``timeout``, ``blender``, ``dtype``,
        ``device``: see :class:`~problems.blender.BlenderProblem`.

    Examples
    --------
    >>> p = BlenderOcclusion(res=16)  # doctest: +SKIP
    >>> float(p(p.x_opt)), bool(p(p.x0) == p(p.x0 + 0.2))  # doctest: +SKIP
    (0.0, True)
    """

    id = "blender-occlusion"
    builder: ClassVar[str] = "build_occlusion"
    scene_parameters: ClassVar[dict[str, tuple[str, Real]]] = {
        "x": ('objects["Hidden"].location[0]', Real(-0.6, 0.6)),
        "z": ('objects["Hidden"].location[2]', Real(-8.0, -1.5)),
    }

    def __init__(
        self,
        res: int = 64,
        *,
        spp: int = 4,
        x0: Any = (0.0, -5.0),
        target: Any = (0.15, -3.4),
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        **options: Any,
    ):
        super().__init__(res, spp, x0, target, dtype=dtype, device=device, **options)


class BlenderLED(BlenderProblem):
    """ZeroGrads' LED display task in Blender: switch the LEDs that spell a text.

    The scene (:func:`~problems.blender.builders.build_led`): ``rows x cols`` emissive
    discs seen head-on by an orthographic camera; each disc's shader lights it only when
    its object colour's red channel exceeds 0.5 (a step inside the renderer). The
    parameters are those values, ``led_<row>_<col>`` in ``[0, 1]``, row-major from the
    top left. The target shows ``text`` in a 5 x 7 font (:func:`problems.led.text_bitmap`);
    its optimum sets lit LEDs to 1 and dark ones to 0, and every point with the same
    on/off pattern is optimal too. The default start is seeded uniform in ``[0, 0.5)``:
    every LED off.

    Parameters
    ----------
    text : str, default="ZG24"
    rows, cols : int, default=12, 28
        The display; ``D = rows * cols``.
    cell : int, default=4
        Pixels per LED: the image is ``(cols cell) x (rows cell)``.
    spp : int, default=4
        Cycles samples per pixel.
    x0 : array-like of shape (D,), optional
    start_seed : int, default=0
        Seeds the default start.
    **options
        ``seed``, ``threads``, ``cycles_device``, ``timeout``, ``blender``, ``dtype``,
        ``device``: see :class:`~problems.blender.BlenderProblem`.

    Examples
    --------
    >>> p = BlenderLED(text="1", rows=7, cols=5)  # doctest: +SKIP
    >>> p.dim, p.image_shape, float(p(p.x_opt))  # doctest: +SKIP
    (35, (28, 20, 3), 0.0)
    """

    id = "blender-led"
    default_dim: ClassVar[int] = 336
    tags: ClassVar[tuple[str, ...]] = ("image", "blender", "discrete", "high-dim")

    def __init__(
        self,
        text: str = "ZG24",
        *,
        rows: int = 12,
        cols: int = 28,
        cell: int = 4,
        spp: int = 4,
        x0: Any = None,
        start_seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        **options: Any,
    ):
        pattern = text_bitmap(text, rows, cols).flatten()
        names = [f"led_{r:03d}_{c:03d}" for r in range(rows) for c in range(cols)]
        parameters = {n: (f'objects["LED_{n[4:]}"].color[0]', Real(0.0, 1.0)) for n in names}
        if x0 is None:
            generator = torch.Generator().manual_seed(start_seed)
            x0 = (0.5 * torch.rand(rows * cols, generator=generator, dtype=torch.float64)).tolist()
        super().__init__(
            f"{BUILDERS}:build_led",
            parameters,
            x0=x0,
            target_params=pattern.double().tolist(),
            resolution=(cols * cell, rows * cell),
            spp=spp,
            scene_kwargs={"rows": rows, "cols": cols},
            dtype=dtype,
            device=device,
            **options,
        )
        self.text = text
