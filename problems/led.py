"""An LED matrix showing text: a stand-in for the ZeroGrads paper's Blender LED task."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from blackbox_opt import Problem

__all__ = ["FONT_5X7", "LEDDisplay", "text_bitmap"]

#: A 5 x 7 bitmap font (after the HD44780 character ROM): seven rows per glyph, top to
#: bottom, each a 5-bit row with the leftmost pixel in bit 4.
FONT_5X7: dict[str, tuple[int, ...]] = {
    " ": (0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
}


def text_bitmap(text: str, rows: int = 12, cols: int = 28) -> torch.Tensor:
    """Draw ``text`` in the 5 x 7 font, centred on a ``rows x cols`` on/off grid.

    Glyphs are 5 columns wide with one blank column between them.

    Parameters
    ----------
    text : str
        Characters of :data:`FONT_5X7` (digits, capitals, space); lower case is upper-cased.
    rows, cols : int, default=12, 28
        The grid; it needs ``rows >= 7`` and ``cols >= 6 len(text) - 1``.

    Returns
    -------
    torch.Tensor of shape (rows, cols), bool

    Examples
    --------
    >>> text_bitmap("1", rows=7, cols=5).int()
    tensor([[0, 0, 1, 0, 0],
            [0, 1, 1, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 1, 1, 1, 0]], dtype=torch.int32)
    """
    text = text.upper()
    unknown = sorted(set(text) - set(FONT_5X7))
    if unknown:
        raise ValueError(f"No glyph for {unknown}; the font has {''.join(FONT_5X7)!r}.")
    width = 6 * len(text) - 1
    if not text or rows < 7 or cols < width:
        raise ValueError(
            f"{text!r} needs a grid of at least 7 x {max(width, 1)} LEDs; got {rows} x {cols}."
        )
    bits = torch.tensor(
        [[[(r >> (4 - b)) & 1 for b in range(5)] for r in FONT_5X7[ch]] for ch in text],
        dtype=torch.bool,
    )
    grid = torch.zeros(rows, cols, dtype=torch.bool)
    top, left = (rows - 7) // 2, (cols - width) // 2
    for i, glyph in enumerate(bits):
        grid[top : top + 7, left + 6 * i : left + 6 * i + 5] = glyph
    return grid


def _profiles(n: int, cell: int, spot: int, sigma: float) -> torch.Tensor:
    """``(n cell, n)``: pixel ``p``'s Gaussian weight summed over LED ``i``'s spot pixels."""
    centres = torch.arange(n, dtype=torch.float64) * cell + (cell - 1) / 2.0
    offsets = torch.arange(spot, dtype=torch.float64) - (spot - 1) / 2.0
    t = torch.arange(n * cell, dtype=torch.float64)[:, None, None] - centres[:, None] - offsets
    return torch.exp(-(t**2) / (2.0 * sigma**2)).sum(-1)


class LEDDisplay(Problem):
    """Switch the LEDs of a matrix display to show a text (ZeroGrads' LED task).

    The parameters are the intensities of ``rows x cols`` LEDs (row-major) in [0, 1].
    Each LED is on when its parameter exceeds 0.5 (a step: no gradient) and then lights
    a ``spot x spot`` pixel block in the centre of its ``cell x cell`` cell. The image is
    blurred by a Gaussian (``blur`` pixels) plus a wider, weaker glow (``glow`` pixels,
    weight ``glow_weight``), clamped to [0, 1] and tinted a warm LED colour; the loss is
    the image MSE to the display showing ``text``. Placing the spots and blurring them is
    one linear map, a transposed convolution of the on/off grid with the blurred spot
    (stride ``cell``); as both Gaussians and the spot are separable it runs as two
    matrix products (along x, then along y) for the whole batch. Any point with the same
    on/off pattern as ``x_opt`` (1 for lit LEDs, 0 for dark ones) is optimal too.

    Parameters
    ----------
    text : str, default="ZG24"
        The target text (see :func:`text_bitmap`).
    rows, cols : int, default=12, 28
        The display; ``D = rows * cols``.
    cell : int, default=4
        Pixels per LED: the image is ``(rows cell) x (cols cell)``.
    spot : int, default=2
        Side of an LED's lit block in pixels.
    blur, glow : float, default=0.8, 3.0
        Standard deviations of the blur and the glow, in pixels.
    glow_weight : float, default=0.15
        Peak of the glow relative to the blur.
    x0 : array-like of shape (D,), optional
        The start; default seeded uniform in [0, 0.5): every LED off, many close to 0.5.
    seed : int, default=0
        Seeds the default start (a local generator).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = LEDDisplay(text="1", rows=7, cols=5)
    >>> p.dim, p.image_shape, float(p(p.x_opt))
    (35, (28, 20, 3), 0.0)
    >>> bool(p(p.x0) > 0.01)
    True
    """

    #: the loss is defined everywhere (a torch rasteriser): the bounds frame the search
    hard_bounds = False

    id = "led-display"
    default_dim: ClassVar[int] = 336
    differentiable = False
    tags = ("discrete", "image", "high-dim")

    #: The LED colour (warm amber), RGB in [0, 1].
    COLOUR = (1.0, 0.62, 0.25)

    def __init__(
        self,
        text: str = "ZG24",
        *,
        rows: int = 12,
        cols: int = 28,
        cell: int = 4,
        spot: int = 2,
        blur: float = 0.8,
        glow: float = 3.0,
        glow_weight: float = 0.15,
        x0: Any = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        pattern = text_bitmap(text, rows, cols)
        if not isinstance(cell, int) or not isinstance(spot, int) or not 1 <= spot <= cell:
            raise ValueError(f"Need ints 1 <= spot <= cell; got spot={spot!r}, cell={cell!r}.")
        if blur <= 0 or glow <= 0 or glow_weight < 0:
            raise ValueError("blur and glow must be positive and glow_weight non-negative.")
        if x0 is None:
            g = torch.Generator().manual_seed(seed)
            x0 = 0.5 * torch.rand(rows * cols, generator=g, dtype=torch.float64)
            x0 = x0.to(dtype)
        super().__init__(
            x0,
            (0.0, 1.0),
            x_opt=pattern.reshape(-1).to(dtype),
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.text, self.rows, self.cols, self.cell = text, rows, cols, cell
        H, W = rows * cell, cols * cell
        self.image_shape = (H, W, 3)
        # the on/off grid, both blurs along x, the intensity image and its difference
        self.bytes_per_point = (rows * cols + 2 * rows * W + 2 * H * W) * 4
        # the blurred spot of LED (r, c) is separable per Gaussian:
        # a_blur(y - y_r) a_blur(x - x_c) + glow_weight a_glow(y - y_r) a_glow(x - x_c),
        # with a(t) the 1-D Gaussian summed over the spot's pixel columns
        a_y, g_y = _profiles(rows, cell, spot, blur), _profiles(rows, cell, spot, glow)
        a_x, g_x = _profiles(cols, cell, spot, blur), _profiles(cols, cell, spot, glow)
        c = (rows // 2) * cell + (cell - 1) // 2  # peak of a lone LED, for normalising
        peak = a_y[c, rows // 2] ** 2 + glow_weight * g_y[c, rows // 2] ** 2
        left = torch.cat([a_y, g_y], 1)  # (H, 2 rows)
        right = torch.cat([a_x.T, glow_weight * g_x.T], 1) / peak  # (cols, 2 W)
        self.register_buffer("left", left.to(self.dtype).to(self.device))
        self.register_buffer("right", right.to(self.dtype).to(self.device))
        colour = torch.tensor(self.COLOUR, dtype=self.dtype, device=self.device)
        self.register_buffer("colour", colour)
        # rgb = intensity * colour, so the RGB MSE is the intensity MSE times this
        self.colour_power = float((colour**2).mean())
        self.register_buffer("target", self._intensity(self.x_opt[None]))

    def _intensity(self, X: torch.Tensor) -> torch.Tensor:
        """Intensity images in [0, 1], laid out ``(H, B, W)``."""
        B, rows, W = X.shape[0], self.rows, self.cols * self.cell
        on = (X > 0.5).to(X.dtype).reshape(B * rows, self.cols)
        # both blurs along x in one GEMM, then both along y (and their sum) in another
        along_x = (on @ self.right).view(B, rows, 2, W).permute(2, 1, 0, 3)
        image = self.left @ along_x.reshape(2 * rows, B * W)
        return image.view(-1, B, W).clamp_(0.0, 1.0)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        diff = self._intensity(X).sub_(self.target)
        return diff.square_().mean((0, 2)).mul_(self.colour_power)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = self._intensity(X).transpose(0, 1)
        images = images[..., None] * self.colour
        return images
