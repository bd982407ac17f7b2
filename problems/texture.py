"""The ZeroGrads texture problem: fit every RGB pixel of a texture under a scale-free L2."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from blackbox_opt import Problem
from blackbox_opt.utils import check_int

__all__ = ["MEAN_EPS", "Texture", "normalise", "scale_free_l2", "texture_target"]

#: Floor of the image mean in :func:`scale_free_l2`, so that a black texture (or, outside
#: the bounds, one with a negative mean) gives a finite loss instead of a division by 0.
MEAN_EPS = 1e-6


def texture_target(
    res: int = 64, seed: int = 0, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The procedural target texture: smooth noise, sinusoidal stripes and soft checks.

    Two layers of value noise (a ``4 x 4`` and a ``16 x 16`` random grid upsampled
    bicubically) are mixed with two sinusoidal stripe patterns of random direction,
    frequency and per-channel phase and a smooth ``sin * sin`` checkerboard; each
    channel is then rescaled to span ``[0.05, 0.95]``. The random numbers come from a
    CPU generator seeded with ``seed`` and the pattern is a function of the pixel
    centres, so every ``res`` shows the same texture at a different resolution.

    Parameters
    ----------
    res : int, default=64
        Resolution of the square texture.
    seed : int, default=0
        Seeds the noise grids and the stripe parameters.
    dtype : torch.dtype, default=torch.float64

    Returns
    -------
    torch.Tensor of shape (res, res, 3)
        RGB values in ``[0.05, 0.95]``, on the CPU.

    Examples
    --------
    >>> t = texture_target(16)
    >>> t.shape
    torch.Size([16, 16, 3])
    >>> round(float(t.min()), 6), round(float(t.max()), 6)
    (0.05, 0.95)
    """
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    coarse = torch.rand(1, 3, 4, 4, generator=g, dtype=f64)
    fine = torch.rand(1, 3, 16, 16, generator=g, dtype=f64)
    theta = math.pi * torch.rand(2, 1, 1, 1, generator=g, dtype=f64)
    freq = 3.0 + 5.0 * torch.rand(2, 1, 1, 1, generator=g, dtype=f64)
    phase = 2.0 * math.pi * torch.rand(2, 3, 1, 1, generator=g, dtype=f64)
    amp = 0.1 + 0.2 * torch.rand(2, 3, 1, 1, generator=g, dtype=f64)

    def up(grid: torch.Tensor) -> torch.Tensor:
        return F.interpolate(grid, size=(res, res), mode="bicubic", align_corners=False)[0]

    noise = 0.6 * up(coarse) + 0.4 * up(fine)  # (3, res, res)
    centres = (torch.arange(res, dtype=f64) + 0.5) / res
    u, v = centres[:, None], centres[None, :]  # rows, columns
    along = u * theta.cos() + v * theta.sin()  # (2, 1, res, res)
    stripes = (amp * torch.sin(2.0 * math.pi * freq * along + phase)).sum(0)
    checks = torch.sin(2.0 * math.pi * 4.0 * u) * torch.sin(2.0 * math.pi * 4.0 * v)
    image = noise + stripes + 0.15 * checks
    low = image.amin((1, 2), keepdim=True)
    high = image.amax((1, 2), keepdim=True)
    image = 0.05 + 0.9 * (image - low) / (high - low)
    return image.permute(1, 2, 0).contiguous().to(dtype)


def normalise(X: torch.Tensor) -> torch.Tensor:
    """Divide each row of ``X`` ``(B, N)`` by its mean, floored at :data:`MEAN_EPS`.

    Parameters
    ----------
    X : torch.Tensor of shape (B, N)

    Returns
    -------
    torch.Tensor of shape (B, N)

    Examples
    --------
    >>> normalise(torch.tensor([[1.0, 3.0], [0.0, 0.0]]))
    tensor([[0.5000, 1.5000],
            [0.0000, 0.0000]])
    """
    return X / X.mean(1, keepdim=True).clamp_min(MEAN_EPS)


def scale_free_l2(X: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The scale-independent L2 of ZeroGrads, ``mean((X / mean(X) - ref / mean(ref))^2)``.

    This equals ``mean(((X / mean(X) - 1) - (ref / mean(ref) - 1))^2)``: each image is
    divided by its own mean over all pixels and channels, so a texture and any positive
    multiple of it have the same loss. Means are floored at :data:`MEAN_EPS`.

    Parameters
    ----------
    X : torch.Tensor of shape (B, N)
        Flattened images.
    ref : torch.Tensor of shape (N,)
        The reference image already divided by its mean, ``normalise(ref[None])[0]``.

    Returns
    -------
    torch.Tensor of shape (B,)

    Examples
    --------
    >>> ref = normalise(torch.tensor([[1.0, 3.0]]))[0]
    >>> scale_free_l2(torch.tensor([[2.0, 6.0], [1.0, 1.0]]), ref)
    tensor([0.0000, 0.2500])
    """
    mean = X.mean(1, keepdim=True).clamp_min(MEAN_EPS)
    # ref - X / mean in one pass; rounded like normalise, so that the loss at ref is 0
    diff = torch.addcdiv(ref, X, mean, value=-1.0)
    return torch.linalg.vecdot(diff, diff) / X.shape[1]


class Texture(Problem):
    """Fit a ``res x res`` RGB texture pixel by pixel (ZeroGrads' high-dimensional task).

    The parameters are the texture itself, ``D = 3 res^2`` values in ``[0, 1]``
    flattened in ``(row, column, channel)`` order. The target is the procedural
    :func:`texture_target`. The loss is the scale-independent L2 of the ZeroGrads
    paper, per point::

        mean(((img / img.mean() - 1) - (ref / ref.mean() - 1)) ** 2)

    with the means taken over all pixels and channels of each point (floored at
    :data:`MEAN_EPS` against black textures). The loss is scale-invariant: every
    positive multiple ``c * target`` is optimal too, with loss 0; :attr:`x_opt` is the
    target itself.

    The start is a flat grey texture (0.5 everywhere), whose loss is the squared
    coefficient of variation of the target, ``var(ref) / mean(ref)^2``.

    Parameters
    ----------
    res : int, default=64
        Texture resolution; ``D = 3 res^2`` (12,288 by default, 196,608 at 256).
    seed : int, default=0
        Seeds the target texture.
    x0 : array-like of shape (D,), optional
        The start; default 0.5 everywhere.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = Texture(res=16)
    >>> p.dim
    768
    >>> float(p(p.x_opt))
    0.0
    >>> float(p(3.0 * p.x_opt)) < 1e-10  # scale-invariant
    True
    >>> bool(p(p.x0) > 0.05)
    True
    >>> p.render(p.x0).shape
    torch.Size([16, 16, 3])
    """

    id = "texture"
    default_dim: ClassVar[int] = 3 * 64 * 64
    differentiable = True
    tags = ("image", "high-dim", "differentiable")

    def __init__(
        self,
        res: int = 64,
        *,
        seed: int = 0,
        x0: Any = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        check_int(res, "res", 2)
        target = texture_target(res, seed).reshape(-1)
        super().__init__(
            torch.full_like(target, 0.5, dtype=dtype) if x0 is None else x0,
            (0.0, 1.0),
            x_opt=target.to(dtype),
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.res = res
        self.seed = seed
        self.image_shape = (res, res, 3)
        # the difference to the reference, plus slack for the mean and autograd copies
        self.bytes_per_point = 3 * self.dim * self.x0.element_size()
        # normalised exactly as the points are, so that the loss at x_opt is exactly 0
        self.register_buffer("ref", normalise(self.x_opt[None])[0])

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return scale_free_l2(X, self.ref)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = X.clamp(0.0, 1.0).reshape(*X.shape[:-1], *self.image_shape)
        return images
