"""PRDPT's SORT task: arrange hard-edged coloured primitives by hue."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from blackbox_opt import Problem
from blackbox_opt.utils import check_int

__all__ = ["Sort", "hue_to_rgb", "serpentine_grid"]


def hue_to_rgb(hue: torch.Tensor, saturation: float = 1.0, value: float = 1.0) -> torch.Tensor:
    """Convert hues in ``[0, 1)`` to RGB colours (the HSV colour wheel).

    Parameters
    ----------
    hue : torch.Tensor of shape (...)
        Hues, 0 is red, 1/3 green, 2/3 blue.
    saturation, value : float, default=1.0
        The HSV saturation and value shared by all colours.

    Returns
    -------
    torch.Tensor of shape (..., 3)

    Examples
    --------
    >>> hue_to_rgb(torch.tensor([0.0, 1 / 3, 2 / 3]))
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]])
    """
    offsets = torch.tensor([5.0, 3.0, 1.0], dtype=hue.dtype, device=hue.device)
    k = torch.remainder(offsets + 6.0 * hue[..., None], 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return value * (1.0 - saturation * ramp)


def serpentine_grid(n: int, res: int) -> tuple[torch.Tensor, int]:
    """Cell centres of a ``rows x cols`` grid visited in serpentine (boustrophedon) order.

    The centres are snapped to pixel boundaries (multiples of ``1 / res``), so squares of
    a whole number of pixels placed there have their edges between pixel centres.

    Parameters
    ----------
    n : int
        Number of cells used (``cols = ceil(sqrt(n))``).
    res : int
        The image resolution the centres are snapped to.

    Returns
    -------
    centres : torch.Tensor of shape (n, 2), float64
        ``(x, y)`` of the k-th cell: left to right on even rows, right to left on odd ones.
    cols : int
        The number of columns.

    Examples
    --------
    >>> centres, cols = serpentine_grid(4, 8)
    >>> cols, centres.tolist()
    (2, [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]])
    """
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    k = torch.arange(n)
    r, c = k // cols, k % cols
    c = torch.where(r % 2 == 0, c, cols - 1 - c)
    x = torch.round((c + 0.5) * res / cols) / res
    y = torch.round((r + 0.5) * res / rows) / res
    return torch.stack([x, y], 1).double(), cols


class Sort(Problem):
    """Sort ``n`` hard-edged coloured primitives by hue (PRDPT's SORT task).

    Primitive ``i`` (squares by default, or discs) has a fixed colour from the colour
    wheel and parameters ``(x_i, y_i)`` in ``[0, 1]^2``, its centre; ``X`` holds
    ``(x_0, y_0, x_1, y_1, ...)``. The ``res x res`` RGB image on a black background is
    rasterised with hard edges in painter's order (later primitives cover earlier ones),
    and the loss is the image MSE to the target arrangement: the hues increasing along a
    serpentine path through a grid. Moving a primitive changes the image only when an
    edge crosses a pixel centre, so the loss is piecewise constant: its gradient is zero
    almost everywhere and autograd gives none (the coverage is a comparison), hence
    ``differentiable = False``.

    Parameters
    ----------
    n : int, default=75
        Number of primitives; ``D = 2 n``. At most 255 (index bytes).
    res : int, default=64
        Image resolution.
    primitive : {"square", "disc"}, default="square"
        Axis-aligned squares or discs, all of the same size: 90 % of a grid cell, a
        whole number of pixels.
    start : {"scatter", "permutation"}, default="scatter"
        The start: the primitives at seeded uniform random positions, or on the target
        cells in a seeded random order (a scrambled grid).
    seed : int, default=0
        Seeds the colour assignment and the start (a local generator).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = Sort(n=9, res=24)
    >>> p.dim, float(p(p.x_opt)), bool(p(p.x0) > 0.05)
    (18, 0.0, True)
    >>> p.render(p.x_opt).shape
    torch.Size([24, 24, 3])
    """

    #: the loss is defined everywhere (a torch rasteriser): the bounds frame the search
    hard_bounds = False

    id = "sort"
    default_dim: ClassVar[int] = 150
    differentiable = False
    tags = ("plateau", "image", "high-dim")

    def __init__(
        self,
        n: int = 75,
        *,
        res: int = 64,
        primitive: str = "square",
        start: str = "scatter",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        check_int(n, "n", 2, 255)
        check_int(res, "res", 4)
        if primitive not in ("square", "disc"):
            raise ValueError(f"primitive must be 'square' or 'disc'; got {primitive!r}.")
        if start not in ("scatter", "permutation"):
            raise ValueError(f"start must be 'scatter' or 'permutation'; got {start!r}.")
        g = torch.Generator().manual_seed(seed)
        centres, cols = serpentine_grid(n, res)
        half_px = max(1, math.floor(0.45 * res / cols))
        half = half_px / res
        rank = torch.randperm(n, generator=g)  # primitive i has the rank[i]-th hue
        x_opt = centres[rank]
        if start == "permutation":
            x0 = centres[torch.randperm(n, generator=g)]
        else:
            x0 = half + (1.0 - 2.0 * half) * torch.rand(n, 2, generator=g, dtype=torch.float64)
        super().__init__(
            x0.reshape(-1).to(dtype),
            (0.0, 1.0),
            x_opt=x_opt.reshape(-1).to(dtype),
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.n, self.res, self.primitive = n, res, primitive
        self.half_size = half
        self.window = 2 * half_px + 2  # candidate pixels per axis around a primitive
        self.image_shape = (res, res, 3)
        # the (n, K, K) windows (uint8 values, int64 pixel indices, float distances for
        # discs), then the per-pixel table indices (int64) and errors
        K = self.window
        self.bytes_per_point = 26 * n * K * K + 20 * res * res
        kw = {"dtype": self.dtype, "device": self.device}
        hues = (rank.to(torch.float64) / n).to(**kw)
        palette = torch.cat([torch.zeros(1, 3, **kw), hue_to_rgb(hues)])  # 0: background
        self.register_buffer("palette", palette)
        self.register_buffer("grid", (torch.arange(res, **kw) + 0.5) / res)  # pixel centres
        order = torch.arange(1, n + 1, device=self.device).to(torch.uint8)
        self.register_buffer("order", order[:, None])
        self.register_buffer("target", self._image(self.x_opt[None])[0])
        # the squared error of every palette colour at every pixel, pixel-major: the
        # loss looks up one entry per pixel instead of building the RGB image
        table = (self.palette[:, None, None, :] - self.target).square_().mean(-1)
        self.register_buffer("error_table", table.reshape(n + 1, -1).t().reshape(-1))
        offsets = torch.arange(res * res, device=self.device) * (n + 1)
        self.register_buffer("offsets", offsets)

    def _index(self, X: torch.Tensor) -> torch.Tensor:
        """Per pixel, 1 + the index of the last primitive covering it (0: none).

        Each primitive covers at most ``2 half_px + 1`` pixel rows and columns, so only
        a ``K x K`` window of candidate pixels around it is tested (``K = 2 half_px +
        2``, a pixel of margin), with the same comparisons as a test of every pixel,
        and the painter's order is one ``scatter_reduce`` (amax) of the windows into
        the image: the work per point is ``n K^2``, not ``n H W``.
        """
        B, n, res = X.shape[0], self.n, self.res
        P = X.reshape(B, n, 2)
        K = self.window
        # the first candidate pixel per axis: pixel k is covered when
        # (c - half) res - 0.5 < k < (c + half) res - 0.5
        first = torch.floor((P - self.half_size) * res - 0.5).long()  # (B, n, 2)
        k = first[..., None] + torch.arange(K, device=X.device)  # (B, n, 2, K)
        inside = (k >= 0) & (k < res)
        d = self.grid[k.clamp(0, res - 1)] - P[..., None]  # as a full-image test computes
        cols, rows = d[:, :, 0], d[:, :, 1]  # (B, n, K) each: x (columns), y (rows)
        in_x, in_y = inside[:, :, 0], inside[:, :, 1]
        # uint8 products broadcast far faster than bool ``&`` on CPU
        in_y, in_x = in_y.view(torch.uint8), in_x.view(torch.uint8)
        if self.primitive == "square":
            cover_y = (rows.abs() < self.half_size).view(torch.uint8).mul_(in_y)
            cover_x = (cols.abs() < self.half_size).view(torch.uint8).mul_(in_x)
            value = cover_y.mul_(self.order)[..., :, None] * cover_x[..., None, :]
        else:
            d2 = rows.square()[..., :, None] + cols.square()[..., None, :]
            value = (d2 < self.half_size**2).view(torch.uint8)
            value *= (in_y * self.order)[..., :, None] * in_x[..., None, :]
        # (B, n, K, K): 1 + the primitive's index where it covers the pixel, else 0
        pixel = (
            k[:, :, 1].clamp(0, res - 1)[..., :, None] * res
            + k[:, :, 0].clamp(0, res - 1)[..., None, :]
        )
        index = torch.zeros(B, res * res, dtype=torch.uint8, device=X.device)
        index.scatter_reduce_(1, pixel.reshape(B, -1), value.reshape(B, -1), "amax")
        return index.view(B, res, res)

    def _image(self, X: torch.Tensor) -> torch.Tensor:
        return self.palette[self._index(X).long()]  # (B, H, W, 3)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        index = self._index(X).view(X.shape[0], -1)
        return self.error_table.take(self.offsets + index).mean(-1)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = self._image(X)
        return images
