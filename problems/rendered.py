"""Problems whose images come from a renderer outside torch: an image loss to a target.

A :class:`RenderedProblem` is the shared half of the Blender problems
(:mod:`problems.blender`) and of the external-command problem
(:mod:`problems.external`): the renderer makes one image per point, in another
process, and this class turns the images into losses. It holds

- the parameters, a :class:`~blackbox_opt.space.Space` (reals, log-scaled reals,
  integers, categorical choices), decoded to values by name for the renderer;
- the target: an image (a file or an array), or a render at given target parameters
  (which then become the known optimum ``x_opt``);
- the image loss: ``"mse"`` (the default), ``"l1"``, or a callable
  ``loss(images, target) -> losses`` on torch tensors ``(B, H, W, C)`` and ``(H, W, C)``.

A subclass implements :meth:`RenderedProblem.render_points`: it renders a list of
points (dicts by parameter name) and returns, for each, the image ``(H, W, C)`` as a
float32 array, or a :class:`RenderFailure` saying why there is none (a crash, a
time-out, a missing or unreadable output, with the renderer's own error output). A
batch with failures raises :class:`~blackbox_opt.PointsFailedError` carrying the other
points' losses, so the optimiser's ``on_error`` policy costs only the failed points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from blackbox_opt import Problem
from blackbox_opt.exceptions import EvaluationError, InvalidParameterError, PointsFailedError
from blackbox_opt.space import Space

__all__ = [
    "IMAGE_LOSSES",
    "RenderFailure",
    "RenderedProblem",
    "check_timeout",
    "jsonable",
    "read_image",
]


class RenderFailure:
    """Why one point has no image: returned by a renderer in place of the image.

    Parameters
    ----------
    reason : str
        What went wrong, with the renderer's error output where it has one.

    Examples
    --------
    >>> RenderFailure("exit status 1: out of memory")
    RenderFailure('exit status 1: out of memory')
    """

    def __init__(self, reason: str):
        self.reason = str(reason)

    def __repr__(self) -> str:
        return f"RenderFailure({self.reason!r})"


def _mse(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (images - target).square().mean(dim=(1, 2, 3))


def _l1(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (images - target).abs().mean(dim=(1, 2, 3))


#: The image losses by name: ``(B, H, W, C)`` images and an ``(H, W, C)`` target.
IMAGE_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": _mse,
    "l1": _l1,
}


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as float32 ``(H, W, C)``.

    PNG, JPEG, TIFF, PPM/PGM and BMP are read with Pillow and scaled to ``[0, 1]``
    (8- and 16-bit); ``.npy`` files are taken as they are (2-D arrays get one
    channel); OpenEXR files need the ``OpenEXR`` package and keep their linear values.
    An alpha channel is dropped.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    numpy.ndarray of shape (H, W, C), float32

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        When the file is not an image this function reads.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.npy"
    >>> np.save(path, np.full((2, 3), 0.5))
    >>> read_image(path).shape
    (2, 3, 1)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No image file at {path}.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        image = np.load(path, allow_pickle=False).astype(np.float32)
    elif suffix == ".exr":
        image = _read_exr(path)
    else:
        image = _read_with_pillow(path)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"{path} is not an image of shape (H, W, C): {image.shape}.")
    if image.shape[2] in (2, 4):  # grey + alpha, RGB + alpha
        image = image[:, :, :-1]
    return np.ascontiguousarray(image, dtype=np.float32)


def _read_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            data = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{path} could not be read as an image: {exc}") from None
    if mode in ("1", "L", "LA", "RGB", "RGBA", "P", "PA"):
        if mode in ("P", "PA", "1"):
            with Image.open(path) as im:
                data = np.asarray(im.convert("RGB"))
        scale = 1.0 if data.dtype == bool else 255.0
        return data.astype(np.float32) / scale
    if mode.startswith("I;16") or mode == "I":
        return data.astype(np.float32) / 65535.0
    if mode == "F":
        return data.astype(np.float32)
    raise ValueError(f"{path} has the image mode {mode!r}, which read_image does not read.")


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise ImportError(
            f"Reading {path.name} needs the OpenEXR package: pip install OpenEXR "
            "(or let the renderer write PNG or .npy)."
        ) from None
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            if "RGB" in channels:
                return np.asarray(channels["RGB"].pixels, dtype=np.float32)
            if "RGBA" in channels:
                return np.asarray(channels["RGBA"].pixels, dtype=np.float32)
            names = [n for n in ("R", "G", "B") if n in channels] or sorted(channels)[:1]
            return np.stack([channels[n].pixels for n in names], -1).astype(np.float32)
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{path} could not be read as OpenEXR: {exc}") from None


def check_timeout(timeout: Any) -> float | None:
    """A per-render time-out in seconds: a positive finite number, or None for no limit.

    Parameters
    ----------
    timeout : float or None

    Returns
    -------
    float or None

    Raises
    ------
    InvalidParameterError
        For anything else (a string, a boolean, zero, a negative number, inf).

    Examples
    --------
    >>> check_timeout(2), check_timeout(None)
    (2.0, None)
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidParameterError(f"timeout must be a number of seconds; got {timeout!r}.")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise InvalidParameterError(
            f"timeout must be a positive number of seconds (or None); got {timeout!r}."
        )
    return float(timeout)


def jsonable(value: Any) -> Any:
    """A decoded parameter value as plain JSON data: tensors and arrays become lists.

    Parameters
    ----------
    value : Any

    Returns
    -------
    Any
        Numbers, strings, booleans, None and lists of them; anything else as its str.

    Examples
    --------
    >>> jsonable(torch.tensor([1.5, 2.0])), jsonable((1, "a")), jsonable(np.float32(0.5))
    ([1.5, 2.0], [1, 'a'], 0.5)
    """
    if torch.is_tensor(value):
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


class RenderedProblem(Problem):
    """Base class of problems rendered by a program outside torch, with an image loss.

    Subclasses set up their renderer, call :meth:`_set_target` at the end of their
    ``__init__``, and implement :meth:`render_points`.

    Parameters
    ----------
    space : Space
        The parameters by name; the renderer receives each point as a dict.
    x0 : dict or array-like, optional
        The start (values by name; missing names take their ``init``).
    target_params : dict or array-like, optional
        Where the target image is rendered (and the known optimum ``x_opt``).
    loss : str or callable, default="mse"
        ``"mse"``, ``"l1"`` or ``loss(images, target) -> losses`` on tensors
        ``(B, H, W, C)`` and ``(H, W, C)``.
    f_opt : float, optional
        The known minimum (0 for a deterministic renderer with ``target_params``).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Attributes
    ----------
    target : torch.Tensor of shape (H, W, C)
        The target image.
    image_shape : tuple of int
        ``(H, W, C)`` of every render.
    """

    tags: ClassVar[tuple[str, ...]] = ("image", "renderer")
    cost: ClassVar[str] = "expensive"

    def __init__(
        self,
        space: Space,
        *,
        x0: Any = None,
        target_params: Any = None,
        loss: str | Callable = "mse",
        f_opt: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        if not isinstance(space, Space):
            raise InvalidParameterError(
                f"{type(self).__name__} needs its parameters as a blackbox_opt.space.Space; "
                f"got {type(space).__name__}."
            )
        if space.dim == 0:
            raise InvalidParameterError(f"{type(self).__name__} has no parameter to optimise.")
        super().__init__(
            x0, space=space, x_opt=target_params, f_opt=f_opt, dtype=dtype, device=device
        )
        if isinstance(loss, str):
            if loss not in IMAGE_LOSSES:
                raise InvalidParameterError(
                    f"Unknown image loss {loss!r}; choose one of {sorted(IMAGE_LOSSES)} or "
                    "pass a callable loss(images, target)."
                )
            self._loss = IMAGE_LOSSES[loss]
        elif callable(loss):
            self._loss = loss
        else:
            raise InvalidParameterError(
                f"loss must be a name or a callable; got {type(loss).__name__}."
            )
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")

    # -- to implement -------------------------------------------------------------------
    def render_points(self, points: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Render each point; an image ``(H, W, C)`` float32, or a :class:`RenderFailure`.

        Parameters
        ----------
        points : sequence of dict
            The points by parameter name, in the space's types.

        Returns
        -------
        list
            One entry per point, in order.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement render_points().")

    # -- the target ---------------------------------------------------------------------
    def _set_target(self, target: Any) -> None:
        """Load or render the target: a path, an array, or None (render at ``x_opt``)."""
        if target is None:
            if self.x_opt is None:
                raise InvalidParameterError(
                    f"{type(self).__name__} needs a target: an image (a file or an array) "
                    "or target_params to render it at."
                )
            (image,) = self._images(self.x_opt[None], what="the target")
        elif isinstance(target, (str, Path)):
            try:
                image = read_image(target)
            except (FileNotFoundError, ValueError) as exc:
                raise InvalidParameterError(f"The target image: {exc}") from None
        else:
            image = np.asarray(target.cpu() if torch.is_tensor(target) else target)
            if image.ndim == 2:
                image = image[:, :, None]
            if image.ndim != 3:
                raise InvalidParameterError(
                    f"A target image must have shape (H, W) or (H, W, C); got {image.shape}."
                )
            image = image.astype(np.float32)
        self.image_shape = tuple(int(s) for s in image.shape)
        self.register_buffer(
            "target", torch.from_numpy(np.ascontiguousarray(image)).to(self.device, self.dtype)
        )

    # -- evaluation ---------------------------------------------------------------------
    def _images(self, X: torch.Tensor, *, what: str = "") -> list[np.ndarray]:
        """Render ``X`` and raise on any failure (the target, :meth:`render`)."""
        images = self.render_points(self.space.rows(X))
        for i, image in enumerate(images):
            if isinstance(image, RenderFailure):
                where = what or f"point {i}"
                raise EvaluationError(f"{self.name} could not render {where}: {image.reason}")
        return images

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        rendered = self.render_points(self.space.rows(X))
        if len(rendered) != X.shape[0]:
            raise EvaluationError(
                f"{type(self).__name__}.render_points returned {len(rendered)} entries for "
                f"{X.shape[0]} points."
            )
        errors: dict[int, str] = {}
        good: list[int] = []
        images: list[np.ndarray] = []
        shape = getattr(self, "image_shape", None)
        for i, image in enumerate(rendered):
            if isinstance(image, RenderFailure):
                errors[i] = image.reason
            elif shape is not None and tuple(image.shape) != tuple(shape):
                errors[i] = (
                    f"the render has shape {tuple(image.shape)} but the target has "
                    f"{tuple(shape)} (H, W, C)"
                )
            else:
                good.append(i)
                images.append(image)
        losses = torch.full((X.shape[0],), float("nan"), dtype=self.dtype, device=self.device)
        if images:
            batch = torch.from_numpy(np.stack(images)).to(self.device, self.dtype)
            losses[good] = self._loss(batch, self.target).to(self.dtype)
        if errors:
            first = min(errors)
            raise PointsFailedError(
                f"{self.name}: {len(errors)} of {X.shape[0]} point(s) could not be rendered; "
                f"point {first}: {errors[first]}",
                losses=losses,
                errors=errors,
            )
        return losses

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        images = self._images(X)
        return self.to_display(torch.from_numpy(np.stack(images)).to(self.device, self.dtype))

    def to_display(self, images: torch.Tensor) -> torch.Tensor:
        """Map renders ``(B, H, W, C)`` to display values in ``[0, 1]`` (default: clip).

        Parameters
        ----------
        images : torch.Tensor

        Returns
        -------
        torch.Tensor
        """
        return images.clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        shape = getattr(self, "image_shape", None)
        return f"{super().extra_repr()}, image={shape}, loss={self.loss_name}"
