"""Image problems rasterised in torch: the PRDPT rectangle toy."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from blackbox_opt import Problem
from blackbox_opt.utils import check_int

__all__ = ["Rect", "rect_image"]


def _pow10(t: torch.Tensor) -> torch.Tensor:
    """``|t|**10`` by repeated squaring (4 multiplies, no pow kernel).

    ``|t|`` is floored at 1e-3 so that the result never falls into the subnormal
    range, where CPUs are tens of times slower; the floor changes ``1 - 2 t^10`` by
    under 1e-29, invisible in float32 and float64 images alike.
    """
    t = t.abs().clamp_min(1e-3)
    t2 = t * t
    t4 = t2 * t2
    return t4 * t4 * t2


def rect_image(
    centres: torch.Tensor, grid: torch.Tensor, half_w: float, half_h: float
) -> torch.Tensor:
    """Rasterise soft-edged rectangles.

    The intensity at grid point ``(u, v)`` (row, column coordinates) of a rectangle at
    ``(px, py)`` is ``1 - 2 (|(py - u) / w|^10 + |(v - px) / h|^10)`` clamped to [0, 1].
    The power is separable, so only ``H + W`` powers are computed per rectangle.

    Parameters
    ----------
    centres : torch.Tensor of shape (B, 2)
        ``(px, py)`` per image.
    grid : torch.Tensor of shape (R,)
        Coordinates of the pixel rows and columns (a square image).
    half_w, half_h : float
        The half-sizes ``w`` and ``h``.

    Returns
    -------
    torch.Tensor of shape (B, R, R)
    """
    rows = _pow10((centres[:, 1:2] - grid) / half_w)  # (B, R) over u
    cols = _pow10((grid - centres[:, 0:1]) / half_h)  # (B, R) over v
    return (1.0 - 2.0 * (rows[:, :, None] + cols[:, None, :])).clamp_(0.0, 1.0)


class Rect(Problem):
    """The PRDPT toy: move a soft-edged rectangle onto its target (a plateau at the start).

    A ``res x res`` single-channel image on a ``[0, 1]^2`` grid shows a rectangle of
    half-sizes ``w = h = 0.1`` at parameters ``(px, py)``; the loss is the image MSE to
    the rectangle at the target. From the start ``(0.5, 0.66)`` the rectangle does not
    overlap the target at ``(0.5, 0.33)``, so the loss is exactly flat around the
    start and its gradient is zero: gradient descent cannot move.

    Parameters
    ----------
    res : int, default=256
        Image resolution.
    x0 : array-like of shape (2,), default=(0.5, 0.66)
    target : array-like of shape (2,), default=(0.5, 0.33)
    half_size : float, default=0.1
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = Rect(res=64)
    >>> float(p(p.x_opt))
    0.0
    >>> bool(p(p.x0) > 0)
    True
    """

    #: the loss is defined everywhere (a torch rasteriser): the bounds frame the search
    hard_bounds = False

    id = "rect"
    default_dim: ClassVar[int] = 2
    differentiable = True
    tags = ("plateau", "image", "differentiable")

    def __init__(
        self,
        res: int = 256,
        *,
        x0: Any = (0.5, 0.66),
        target: Any = (0.5, 0.33),
        half_size: float = 0.1,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        check_int(res, "res", 2)
        super().__init__(
            x0,
            (0.0, 1.0),
            x_opt=target,
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.res = res
        self.half_size = float(half_size)
        self.image_shape = (res, res, 1)
        self.register_buffer(
            "grid", torch.linspace(0.0, 1.0, res, dtype=self.dtype, device=self.device)
        )
        self.register_buffer("target", self._image(self.x_opt[None])[0])
        energy = torch.zeros(res + 1, res + 1, dtype=torch.float64, device=self.device)
        energy[1:, 1:] = self.target.double().square().cumsum(0).cumsum(1)
        self.register_buffer("target_energy", energy)
        # intensity vanishes where 2 |t|^10 >= 1: beyond 0.5^(1/10) half-sizes
        self._reach = self.half_size * 0.5**0.1
        self._window = math.ceil(2 * self._reach * (res - 1)) + 2
        self.bytes_per_point = 3 * self._window**2 * self.x0.element_size()

    def _image(self, X: torch.Tensor) -> torch.Tensor:
        return rect_image(X, self.grid, self.half_size, self.half_size)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        # The rectangle is zero beyond |t| = 0.5^(1/10) half-sizes, so only an L x L
        # window of pixels around it can differ from the target; outside it the squared
        # error is the target's own energy, read from a float64 integral image. This is
        # the full-image MSE with (L / res)^2 ~ 4 % of the work at the default size.
        B, R, L = X.shape[0], self.res, self._window
        rows, row_ok, row0 = self._window_index(X[:, 1])
        cols, col_ok, col0 = self._window_index(X[:, 0])
        w = self.half_size
        big = torch.finfo(X.dtype).max / 8  # off-image rows/cols: intensity 0
        a = torch.where(row_ok, _pow10((X[:, 1:2] - self.grid[rows]) / w), big)
        c = torch.where(col_ok, _pow10((self.grid[cols] - X[:, 0:1]) / w), big)
        image = (1.0 - 2.0 * (a[:, :, None] + c[:, None, :])).clamp_(0.0, 1.0)
        ok = row_ok[:, :, None] & col_ok[:, None, :]
        target = torch.where(ok, self.target[rows[:, :, None], cols[:, None, :]], 0.0)
        inside = (image - target).square_().sum((1, 2), dtype=torch.float64)
        r0, c0 = row0.clamp(0, R), col0.clamp(0, R)
        r1, c1 = (row0 + L).clamp(0, R), (col0 + L).clamp(0, R)
        P = self.target_energy  # (R + 1, R + 1) prefix sums of target^2, float64
        window_energy = P[r1, c1] - P[r0, c1] - P[r1, c0] + P[r0, c0]
        outside = (P[R, R] - window_energy).clamp_min(0.0)
        return ((inside + outside) / (R * R)).to(X.dtype).reshape(B)

    def _window_index(
        self, centre: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixel indices ``(B, L)`` of the window around ``centre`` (clamped to the image),
        which of them are on the image, and the unclamped first index ``(B,)``."""
        step = 1.0 / (self.res - 1)
        start = torch.floor((centre - self._reach) / step).long()
        index = start[:, None] + torch.arange(self._window, device=centre.device)
        ok = (index >= 0) & (index < self.res)
        return index.clamp(0, self.res - 1), ok, start

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = self._image(X)[..., None]
        return images
