"""The shared machinery of the Mitsuba 3 problems: scene, reference, loss and AD bridge.

A :class:`MitsubaProblem` loads its scene once with ``mi.load_dict``, keeps the
``mi.traverse`` handle, and for every point writes the parameters into the scene
(``params[...] = ...; params.update()``) and renders it: no reload and, because the
kernels only see new values, no recompilation per point. Mitsuba renders one image per
call, so a batch is a loop over renders; each uses the same sampler seed, so a point
always gives the same image (a batch equals single calls, bit for bit) and nearby
points share their noise (common random numbers).

The loss is the mean squared error of the linear RGB image to a reference rendered
once at the target parameters with more samples per pixel and another seed, so the
loss at the target is small but not zero (the render noise).

With an AD variant (``llvm_ad_rgb``, ``cuda_ad_rgb``) the problem is differentiable:
:meth:`MitsubaProblem.value_and_grad` renders with a projective integrator
(``prb_projective``, or ``direct_projective`` for direct lighting, both with
``sppi=0``: no extra samples for discontinuities seen indirectly, such as a shadow's
edge) and back-propagates the loss to the parameters with ``dr.backward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from blackbox_opt import Problem
from blackbox_opt.exceptions import InvalidParameterError

from .variants import has_ad, load_mitsuba

__all__ = ["MitsubaProblem", "grid_texture", "to_srgb"]


def grid_texture(
    cells: int = 50,
    *,
    pixels_per_cell: int = 4,
    line: tuple[float, float, float] = (0.15, 0.15, 0.2),
    fill: tuple[float, float, float] = (0.85, 0.85, 0.8),
) -> np.ndarray:
    """A ``cells x cells`` grid of thin dark lines on a light background, as RGB.

    Parameters
    ----------
    cells : int, default=50
        Grid cells per side.
    pixels_per_cell : int, default=4
        Texels per cell; the first row and column of each cell are the line.
    line, fill : tuple of float
        Linear RGB of the lines and of the cells.

    Returns
    -------
    numpy.ndarray of shape (cells * pixels_per_cell, cells * pixels_per_cell, 3), float32

    Examples
    --------
    >>> t = grid_texture(2, pixels_per_cell=2)
    >>> t.shape, float(t[0, 0, 0]), float(t[1, 1, 0])
    ((4, 4, 3), 0.15000000596046448, 0.8500000238418579)
    """
    n = cells * pixels_per_cell
    on_line = (np.arange(n) % pixels_per_cell) == 0
    mask = on_line[:, None] | on_line[None, :]
    image = np.where(mask[..., None], np.asarray(line), np.asarray(fill))
    return image.astype(np.float32)


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """Map linear RGB to display sRGB in [0, 1] (clipped).

    Parameters
    ----------
    linear : numpy.ndarray

    Returns
    -------
    numpy.ndarray of the same shape, float32

    Examples
    --------
    >>> [round(float(v), 4) for v in to_srgb(np.array([0.0, 0.0031308, 0.5, 4.0]))]
    [0.0, 0.0404, 0.7354, 1.0]
    """
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(
        np.float32
    )


class MitsubaProblem(Problem):
    """Base class of the problems rendered with Mitsuba 3 (image MSE to a reference).

    Subclasses describe the scene in :meth:`scene_dict` and write a parameter vector
    into it in :meth:`set_parameters`; values arrive as Python floats, or as Dr.Jit
    floats that carry gradients when :meth:`value_and_grad` differentiates, so one
    piece of code serves both (build transforms with ``mi.Transform4f``).

    Parameters
    ----------
    x0, bounds, x_opt :
        As in :class:`blackbox_opt.Problem`; ``x_opt`` (the target) is required.
    res : tuple of int, default=(128, 96)
        Image width and height.
    spp : int, default=16
        Samples per pixel of every evaluation.
    reference_spp : int, optional
        Samples per pixel of the reference (default ``16 * spp``).
    seed : int, default=0
        Sampler seed of every evaluation (the reference uses ``seed + 1``).
    variant : str, optional
        A Mitsuba variant to force (see :mod:`problems.mitsuba.variants`); default:
        ``BLACKBOX_OPT_MI_VARIANT``, else the first usable of ``cuda_ad_rgb``,
        ``llvm_ad_rgb``, ``scalar_rgb``.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
        Where parameters and losses live (Mitsuba renders on its own backend).

    Attributes
    ----------
    variant : str
        The Mitsuba variant in use.
    differentiable : bool
        True (the class's value, which the registry lists): Mitsuba differentiates
        the scenes. An instance that renders with a variant without AD sets False.
    not_differentiable_reason : str
        Why no AD variant is used (empty when one is).
    target : torch.Tensor of shape (H, W, 3)
        The linear RGB reference image.
    """

    #: the registered scenes render at any parameter value; their bounds frame the
    #: search, as in the PRDPT paper's setups (a scene of a user's own that cannot be
    #: rendered outside its ranges sets True)
    hard_bounds = False

    tags: ClassVar[tuple[str, ...]] = ("image", "mitsuba")
    differentiable = True
    cost: ClassVar[str] = "expensive"
    requires: ClassVar[tuple[str, ...]] = ("mitsuba",)
    #: Path length of the forward integrator and of the AD integrator.
    max_depth: ClassVar[int] = 6

    def __init__(
        self,
        x0: Any,
        bounds: Any,
        x_opt: Any,
        *,
        res: Sequence[int] = (128, 96),
        spp: int = 16,
        reference_spp: int | None = None,
        seed: int = 0,
        variant: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        res = tuple(res) if isinstance(res, Sequence) and not isinstance(res, str) else res
        if not (
            isinstance(res, tuple)
            and len(res) == 2
            and all(isinstance(r, int) and r >= 2 for r in res)
        ):
            raise InvalidParameterError(
                f"res must be a (width, height) pair of ints >= 2; got {res!r}."
            )
        for name, value in (("spp", spp), ("reference_spp", reference_spp or 1)):
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be a positive int; got {value!r}.")
        if not isinstance(seed, int) or seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}.")
        super().__init__(x0, bounds, x_opt=x_opt, dtype=dtype, device=device)
        mi, self.variant, reason = load_mitsuba(variant)
        if not has_ad(self.variant):
            self.differentiable = False
            self.not_differentiable_reason = (
                f"It renders with Mitsuba's {self.variant!r} variant, which has no automatic "
                f"differentiation. {reason}"
            ).strip()
        self.width, self.height = res
        self.spp = spp
        self.reference_spp = reference_spp or 16 * spp
        self.seed = seed
        self.image_shape = (self.height, self.width, 3)
        self._mi = mi
        # no parser optimisation: merging shapes would hide the ones the parameters move
        self._scene = mi.load_dict(self.scene_dict(mi), optimize=False)
        self._params = mi.traverse(self._scene)
        self._ad_integrator = None
        target = self._render_linear(self._values(self.x_opt), self.reference_spp, seed + 1)
        self._target = target
        self.register_buffer("target", torch.from_numpy(target))

    # -- to implement -----------------------------------------------------------------
    def scene_dict(self, mi: Any) -> dict:
        """The scene for ``mi.load_dict``; its camera comes from :meth:`sensor`, with the film."""
        raise NotImplementedError(f"{type(self).__name__} must implement scene_dict(mi).")

    def set_parameters(self, params: Any, theta: Sequence[Any]) -> None:
        """Write the parameter vector ``theta`` (floats or Dr.Jit floats) into ``params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement set_parameters().")

    # -- scene helpers ------------------------------------------------------------------
    def sensor(
        self,
        mi: Any,
        origin: Sequence[float],
        target: Sequence[float],
        up: Sequence[float],
        fov: float,
    ) -> dict:
        """A perspective camera (horizontal ``fov`` in degrees) with the problem's film.

        Parameters
        ----------
        mi : module
            Mitsuba, set to a variant.
        origin, target, up : sequence of float
            The camera's position, the point it looks at and its up direction.
        fov : float
            Horizontal field of view in degrees.

        Returns
        -------
        dict
        """
        return {
            "type": "perspective",
            "fov": fov,
            "fov_axis": "x",
            "to_world": mi.ScalarTransform4f().look_at(origin=origin, target=target, up=up),
            "film": {
                "type": "hdrfilm",
                "width": self.width,
                "height": self.height,
                "rfilter": {"type": "box"},
                "pixel_format": "rgb",
                # shapes that move can enter or leave the image: AD needs the border
                "sample_border": True,
            },
            "sampler": {"type": "independent", "sample_count": self.spp},
        }

    def integrator(self) -> dict:
        """The forward integrator: a path tracer of depth :attr:`max_depth`."""
        return {"type": "path", "max_depth": self.max_depth}

    def ad_integrator(self) -> dict:
        """The AD integrator: projective sampling of visibility, no extra ``sppi``."""
        if self.max_depth <= 2:
            return {"type": "direct_projective", "sppi": 0}
        return {"type": "prb_projective", "max_depth": self.max_depth, "sppi": 0}

    # -- rendering --------------------------------------------------------------------
    def _values(self, x: torch.Tensor) -> list[float]:
        return [float(v) for v in x.detach().cpu().double()]

    def _activate(self) -> None:
        if self._mi.variant() != self.variant:
            self._mi.set_variant(self.variant)

    def _write_parameters(self, theta: Sequence[Any]) -> None:
        self.set_parameters(self._params, theta)
        self._params.update()

    def _render_linear(self, theta: Sequence[float], spp: int, seed: int) -> np.ndarray:
        self._activate()
        self._write_parameters(theta)
        image = self._mi.render(self._scene, self._params, seed=seed, spp=spp)
        return np.array(image, dtype=np.float32).reshape(self.image_shape)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        losses = []
        for x in X:
            image = self._render_linear(self._values(x), self.spp, self.seed)
            losses.append(np.mean(np.square(image - self._target), dtype=np.float64))
        return torch.tensor(losses, dtype=self.dtype, device=self.device)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Display images ``(B, H, W, 3)``: the renders mapped to sRGB in [0, 1]."""
        images = [to_srgb(self._render_linear(self._values(x), self.spp, self.seed)) for x in X]
        return torch.from_numpy(np.stack(images)).to(device=self.device, dtype=self.dtype)

    def render_linear(self, x: Any, *, spp: int | None = None) -> np.ndarray:
        """The linear RGB render ``(H, W, 3)`` at one point, as used by the loss.

        Parameters
        ----------
        x : array-like of shape (D,)
        spp : int, optional
            Samples per pixel (default: :attr:`spp`).

        Returns
        -------
        numpy.ndarray, float32
        """
        x = self.validate(x)
        if x.ndim != 1:
            raise InvalidParameterError(f"render_linear takes one point; got shape {x.shape}.")
        return self._render_linear(self._values(x), spp or self.spp, self.seed)

    # -- gradients ----------------------------------------------------------------------
    def value_and_grad(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The losses ``(B,)`` and their gradients ``(B, D)`` from Mitsuba's AD.

        The values are those of a call (the forward path tracer); each gradient comes
        from a render with :meth:`ad_integrator` and ``dr.backward`` of its image MSE,
        with the same seed.

        Parameters
        ----------
        X : torch.Tensor of shape (B, D)

        Returns
        -------
        values, grads : torch.Tensor

        Raises
        ------
        NotDifferentiableError
            With a variant without AD (``scalar_rgb``); the message says why no AD
            variant was used.
        """
        self.require_gradients()
        X = self.validate(X)
        values = self.evaluate(X)
        grads = torch.stack([self._gradient(self._values(x)) for x in X])
        return values, grads

    def _gradient(self, theta: Sequence[float]) -> torch.Tensor:
        mi = self._mi
        import drjit as dr

        self._activate()
        if self._ad_integrator is None:
            self._ad_integrator = mi.load_dict(self.ad_integrator())
            self._target_ad = mi.TensorXf(self._target)
        leaves = [mi.Float(v) for v in theta]
        for leaf in leaves:
            dr.enable_grad(leaf)
        try:
            self._write_parameters(leaves)
            image = mi.render(
                self._scene,
                self._params,
                integrator=self._ad_integrator,
                seed=self.seed,
                spp=self.spp,
            )
            loss = dr.mean(dr.square(image - self._target_ad), axis=None)
            dr.backward(loss)
            grad = [float(dr.grad(leaf)[0]) for leaf in leaves]
        finally:
            # leave the scene holding plain values, so no later render tracks gradients
            self._write_parameters(list(theta))
        return torch.tensor(grad, dtype=self.dtype, device=self.device)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, variant={self.variant}, res={self.width}x{self.height}, "
            f"spp={self.spp}"
        )
