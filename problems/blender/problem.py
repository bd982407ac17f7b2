"""A Blender scene as a problem: parameters by data path, Cycles renders, an image loss."""

from __future__ import annotations

import inspect
import json
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from blackbox_opt.exceptions import InvalidParameterError
from blackbox_opt.space import Parameter, Space

from ..rendered import RenderedProblem, RenderFailure, check_timeout, jsonable
from .process import BlenderError, BlenderProcess

__all__ = ["BlenderProblem"]

ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH")
CYCLES_DEVICES = ("CPU", "GPU", "auto")


class BlenderProblem(RenderedProblem):
    """A Blender scene whose parameters are Blender data paths, scored against a target image.

    The scene lives in a Blender process of its own (see
    :mod:`problems.blender.process` for which Blender runs it), started at the first
    render and kept for the problem's life: each point writes its values into the
    scene's properties, renders with Cycles and reads the image back (linear RGB, from
    an OpenEXR file in ``/dev/shm`` where there is one). Renders are deterministic:
    Cycles' seed is fixed, adaptive sampling and denoising are off, the threads are
    fixed. No gradient is taken: Blender is a black box here.

    A batch is rendered point by point in that one process. To render points in
    parallel, give ``minimize`` an evaluator (``ProcessPoolEvaluator`` or
    ``DaskEvaluator``): each of its workers builds the problem once, with a Blender
    process and a copy of the scene of its own.

    Parameters
    ----------
    scene : str, path-like or callable
        The scene: a ``.blend`` file; ``"builder.py:function"``, a Python file and the
        function in it that builds the scene with ``bpy`` (the file runs inside Blender,
        so it must not import the library or torch); or a function, which is sent as
        its source code and so must import what it uses (``bpy``, ``math``) inside its
        body. Builders start from Blender's empty factory settings.
    parameters : dict
        The parameters by name, each ``name: (data_path, parameter)`` or, to use the
        data path as the name, ``data_path: parameter``. A data path is relative to
        ``bpy.data``, e.g. ``'objects["Cube"].location[0]'``,
        ``'lights["Sun"].energy'``, ``'objects["Cube"].modifiers["Bevel"].width'`` or
        ``'materials["M"].node_tree.nodes["Principled BSDF"].inputs["Roughness"]
        .default_value'``; the parameter is a :mod:`blackbox_opt.space` kind
        (``Real``, ``Real(..., log=True)``, ``Integer``, ``Categorical`` of values the
        property takes, or ``Array`` for the first elements of a vector property).
    target : str, path-like or array-like, optional
        The target image (a file read with :func:`~problems.rendered.read_image`, or an
        ``(H, W, 3)`` array of linear RGB); default: a render at ``target_params``.
    target_params : dict or array-like, optional
        Where to render the target; it becomes the known optimum ``x_opt``, with
        ``f_opt = 0``.
    x0 : dict or array-like, optional
        The start (values by name; missing ones take their parameter's ``init``).
    loss : str or callable, default="mse"
        See :class:`~problems.rendered.RenderedProblem`.
    resolution : tuple of int, default=(64, 64)
        Width and height in pixels.
    spp : int, default=16
        Cycles samples per pixel.
    seed : int, default=0
        Cycles' sampling seed, the same for every render.
    threads : int or None, default=1
        Render threads per Blender process (None: Blender's choice, every core). On
        Linux each Blender process is also pinned to that many cores, taken in turn by
        the Blender processes this user starts, because Blender's own task threads
        otherwise spread over every core and spin while they wait: two worker processes'
        Blenders on two cores rendered 1.0 times as fast as one before, 1.9-2.1 times
        pinned.
    engine : str, default="CYCLES"
        ``"CYCLES"``, or ``"BLENDER_EEVEE"`` / ``"BLENDER_WORKBENCH"`` (which need a
        display or GPU context that headless machines may lack).
    cycles_device : {"CPU", "GPU", "auto"}, default="CPU"
        Where Cycles renders; ``"GPU"`` uses OptiX, CUDA, HIP, Metal or oneAPI, and
        fails when none is present; ``"auto"`` takes a GPU when there is one.
    settings : dict, optional
        Further scene settings by path relative to the scene, e.g.
        ``{"cycles.max_bounces": 4, "render.film_transparent": True}``.
    scene_kwargs : dict, optional
        Keyword arguments of the builder (JSON values).
    timeout : float, optional
        Seconds one render may take; a render that takes longer is stopped, the point
        fails under the optimiser's ``on_error`` policy and Blender restarts.
    blender : str, optional
        The Blender to run (a Python with ``bpy`` or a Blender executable); default
        from ``BLACKBOX_OPT_BLENDER``, this interpreter or ``PATH``.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
        Where losses live (Blender renders on its own).

    Attributes
    ----------
    data_paths : dict of str to str
        Each parameter's Blender data path.
    blender_version : str or None
        The Blender version, once it has started.

    Examples
    --------
    A scene built by code: a sphere whose height and size are the parameters.

    >>> from blackbox_opt.space import Real
    >>> def two_spheres():  # doctest: +SKIP
    ...     import bpy
    ...     bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5)
    ...     bpy.ops.object.camera_add(location=(0, -6, 0), rotation=(1.5708, 0, 0))
    ...     bpy.context.scene.camera = bpy.context.active_object
    ...     bpy.ops.object.light_add(type="SUN", rotation=(0.5, 0.3, 0))
    >>> problem = BlenderProblem(  # doctest: +SKIP
    ...     two_spheres,
    ...     {
    ...         "height": ('objects["Sphere"].location[2]', Real(-1, 1)),
    ...         "size": ('objects["Sphere"].scale[0]', Real(0.5, 2)),
    ...     },
    ...     target_params={"height": 0.3, "size": 1.2},
    ...     resolution=(32, 32),
    ...     spp=4,
    ... )
    """

    tags: ClassVar[tuple[str, ...]] = ("image", "blender")
    requires: ClassVar[tuple[str, ...]] = ("blender",)

    def __init__(
        self,
        scene: str | os.PathLike | Callable[..., Any],
        parameters: Mapping[str, Any],
        *,
        target: Any = None,
        target_params: Any = None,
        x0: Any = None,
        loss: str | Callable = "mse",
        resolution: Sequence[int] = (64, 64),
        spp: int = 16,
        seed: int = 0,
        threads: int | None = 1,
        engine: str = "CYCLES",
        cycles_device: str = "CPU",
        settings: Mapping[str, Any] | None = None,
        scene_kwargs: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        blender: str | None = None,
        f_opt: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        space, paths = _parameters(parameters)
        render = _render_settings(resolution, spp, seed, threads, engine, cycles_device)
        self.timeout = check_timeout(timeout)
        setup = {
            "scene": _scene(scene, scene_kwargs),
            "parameters": [[name, path] for name, path in paths.items()],
            "render": render,
            "settings": _json(dict(settings or {}), "settings"),
        }
        if f_opt is None and target is None and target_params is not None:
            f_opt = 0.0  # a render at x_opt is the target, bit for bit
        super().__init__(
            space,
            x0=x0,
            target_params=target_params,
            loss=loss,
            f_opt=f_opt,
            dtype=dtype,
            device=device,
        )
        self.data_paths = paths
        self.resolution = tuple(render["resolution"])
        self.spp, self.seed, self.threads = spp, seed, threads
        self._setup = setup
        self._blender = blender
        self._process: BlenderProcess | None = None
        # start Blender now: a missing Blender, a broken scene or a wrong data path is
        # an error here, not a failure of every point later
        self._process_for().start()
        self._set_target(target)
        if self.image_shape[:2] != (self.resolution[1], self.resolution[0]):
            raise InvalidParameterError(
                f"The target image is {self.image_shape[1]} x {self.image_shape[0]} pixels "
                f"but the renders are {self.resolution[0]} x {self.resolution[1]}."
            )

    @property
    def blender_version(self) -> str | None:
        """The version of the Blender that renders, once it has started."""
        return None if self._process is None else self._process.version

    def _process_for(self) -> BlenderProcess:
        if self._process is None:
            self._process = BlenderProcess(
                self._setup, blender=self._blender, timeout=self.timeout
            )
        return self._process

    def render_points(self, points: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Render each point in this problem's Blender process.

        Parameters
        ----------
        points : sequence of dict
            Values by parameter name.

        Returns
        -------
        list
            Linear RGB images ``(H, W, 3)``, or a
            :class:`~problems.rendered.RenderFailure` for a point that failed.
        """
        process = self._process_for()
        out: list[Any] = []
        for point in points:
            values = {name: jsonable(value) for name, value in point.items()}
            try:
                out.append(process.render(values))
            except BlenderError as exc:
                out.append(RenderFailure(str(exc)))
        return out

    def close(self) -> None:
        """Stop this problem's Blender process (it restarts if the problem is used again)."""
        if self._process is not None:
            self._process.close()

    def to_display(self, images: torch.Tensor) -> torch.Tensor:
        """Linear renders ``(B, H, W, 3)`` to sRGB in ``[0, 1]``.

        Parameters
        ----------
        images : torch.Tensor

        Returns
        -------
        torch.Tensor
        """
        x = images.clamp(0.0, 1.0)
        return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.pow(1 / 2.4) - 0.055)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_process"] = None  # a copy (a worker's) starts a Blender of its own
        return state

    def extra_repr(self) -> str:
        w, h = self.resolution
        return f"{super().extra_repr()}, resolution={w}x{h}, spp={self.spp}"


def _parameters(parameters: Any) -> tuple[Space, dict[str, str]]:
    if not isinstance(parameters, Mapping) or not parameters:
        raise InvalidParameterError(
            "parameters must be a non-empty dict: name -> (data_path, parameter), or "
            f"data_path -> parameter; got {type(parameters).__name__}."
        )
    kinds: dict[str, Parameter] = {}
    paths: dict[str, str] = {}
    for name, spec in parameters.items():
        if isinstance(spec, Parameter):
            path, kind = name, spec
        elif isinstance(spec, Sequence) and len(spec) == 2 and isinstance(spec[1], Parameter):
            path, kind = spec
        else:
            raise InvalidParameterError(
                f"Parameter {name!r}: expected (data_path, parameter) such as "
                f"('objects[\"Cube\"].location[0]', Real(-1, 1)), or a parameter; got {spec!r}."
            )
        if not isinstance(path, str) or "." not in path:
            raise InvalidParameterError(
                f"Parameter {name!r}: {path!r} is not a Blender data path such as "
                "'objects[\"Cube\"].location[0]'."
            )
        kinds[name], paths[name] = kind, path
    return Space(kinds), paths


def _render_settings(resolution, spp, seed, threads, engine, cycles_device) -> dict:
    res = tuple(resolution) if isinstance(resolution, Sequence) else resolution
    if not (isinstance(res, tuple) and len(res) == 2 and all(_int(r, 1) for r in res)):
        raise InvalidParameterError(
            f"resolution must be (width, height) ints; got {resolution!r}."
        )
    if not _int(spp, 1):
        raise InvalidParameterError(f"spp must be a positive int; got {spp!r}.")
    if not _int(seed, 0):
        raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}.")
    if threads is not None and not _int(threads, 1):
        raise InvalidParameterError(f"threads must be a positive int or None; got {threads!r}.")
    if engine not in ENGINES:
        raise InvalidParameterError(f"engine must be one of {ENGINES}; got {engine!r}.")
    if cycles_device not in CYCLES_DEVICES:
        raise InvalidParameterError(
            f"cycles_device must be one of {CYCLES_DEVICES}; got {cycles_device!r}."
        )
    return {
        "engine": engine,
        "resolution": list(res),
        "spp": spp,
        "seed": seed,
        "threads": threads or 0,
        "device": cycles_device,
    }


def _int(value: Any, low: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


def _scene(scene: Any, kwargs: Mapping[str, Any] | None) -> dict:
    kwargs = _json(dict(kwargs or {}), "scene_kwargs")
    if callable(scene) and not isinstance(scene, (str, os.PathLike)):
        name = getattr(scene, "__name__", "")
        if not name.isidentifier():
            raise InvalidParameterError(
                "A scene builder must be a named function (def), not a lambda: it is sent "
                "to Blender as its source code."
            )
        try:
            source = textwrap.dedent(inspect.getsource(scene))
        except (OSError, TypeError) as exc:
            raise InvalidParameterError(
                f"The source of the scene builder {name} cannot be read ({exc}); put it in "
                "a file and pass 'file.py:function'."
            ) from None
        return {"kind": "source", "source": source, "function": name, "kwargs": kwargs}
    if not isinstance(scene, (str, os.PathLike)):
        raise InvalidParameterError(
            "scene must be a .blend file, 'builder.py:function' or a function; got "
            f"{type(scene).__name__}."
        )
    text = os.fspath(scene)
    if text.endswith(".blend"):
        path = Path(text).resolve()
        if not path.is_file():
            raise InvalidParameterError(f"No .blend file at {path}.")
        return {"kind": "blend", "path": str(path)}
    file, sep, function = text.rpartition(":")
    if not sep or not file.endswith(".py") or not function.isidentifier():
        raise InvalidParameterError(
            f"scene {text!r}: expected a .blend file or 'builder.py:function'."
        )
    path = Path(file).resolve()
    if not path.is_file():
        raise InvalidParameterError(f"scene {text!r}: no file at {path}.")
    return {"kind": "file", "path": str(path), "function": function, "kwargs": kwargs}


def _json(value: Any, what: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{what} must hold JSON values (numbers, strings, lists): {exc}"
        ) from None
    return value
