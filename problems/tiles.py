"""A mixed discrete-continuous problem: a mosaic of palette tiles, repeated and shifted."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from blackbox_opt import Categorical, Integer, Problem, Real, Space

__all__ = ["PALETTE", "Tiles"]

#: The palette every tile picks from: names and RGB colours.
PALETTE = {
    "red": (0.9, 0.2, 0.15),
    "green": (0.2, 0.75, 0.3),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.2),
}


class Tiles(Problem):
    """Recover a mosaic: which palette colour each tile has, how often it repeats, its shift.

    A ``grid x grid`` pattern of tiles, each one of the :data:`PALETTE` colours
    (categorical ``tile0 ... tile8``), is repeated ``repeats`` times across the image in
    both directions (integer) and shifted by ``offset_x``, ``offset_y`` (reals, in tile
    widths, within half a tile so that no shift turns into a permutation of colours).
    The loss is the mean squared error to a target rendered from known parameters.
    Every discrete choice matters: a wrong repeat count puts every tile in the wrong
    place, a wrong colour is wrong everywhere it repeats. The loss is piecewise
    constant in every coordinate (a tile's colour, a rounding, a pixel edge), so no
    gradient helps.

    Parameters
    ----------
    size : int, default=48
        Width and height of the image in pixels.
    grid : int, default=3
        Tiles per side of the pattern (``grid**2`` categorical parameters).
    max_repeats : int, default=4
        Repeats range over ``1 ... max_repeats``.
    target : dict, optional
        The target's parameters by name (default: repeats 3, offsets (0.3, 0.15), a
        pattern that uses every colour).
    encoding : {"onehot", "index"}, default="onehot"
        How the tiles' choices are relaxed for the methods (see
        :class:`~blackbox_opt.Categorical`).
    supersample : int, default=2
        Samples per pixel and side (anti-aliased edges).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Notes
    -----
    :meth:`param_error` is the fraction of discrete parameters (tiles and repeats)
    that differ from the target's.

    Examples
    --------
    >>> p = Tiles()
    >>> p.dim, sorted(p.space)[:3]
    (39, ['offset_x', 'offset_y', 'repeats'])
    >>> float(p(p.x_opt)), float(p.param_error(p.x_opt))
    (0.0, 0.0)
    """

    id = "tiles"
    default_dim: ClassVar[int] = 39
    version: ClassVar[int] = 1
    tags = ("mixed", "discrete", "plateau", "image")

    def __init__(
        self,
        size: int = 48,
        grid: int = 3,
        *,
        max_repeats: int = 4,
        target: dict | None = None,
        encoding: str = "onehot",
        supersample: int = 2,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        for what, v, low in (
            ("size", size, 8),
            ("grid", grid, 1),
            ("max_repeats", max_repeats, 1),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"Tiles needs an int {what} >= {low}; got {v!r}.")
        colours = list(PALETTE)
        params: dict[str, Any] = {
            f"tile{i}": Categorical(colours, encoding=encoding) for i in range(grid * grid)
        }
        params["repeats"] = Integer(1, max_repeats)
        params["offset_x"] = Real(0.0, 0.5)
        params["offset_y"] = Real(0.0, 0.5)
        space = Space(params)
        if target is None:
            target = {
                f"tile{i}": colours[(i * 3 + i // grid) % len(colours)] for i in range(grid**2)
            }
            target.update(repeats=min(3, max_repeats), offset_x=0.3, offset_y=0.15)
        if not isinstance(supersample, int) or supersample < 1:
            raise ValueError(f"Tiles needs an int supersample >= 1; got {supersample!r}.")
        super().__init__(space=space, x_opt=target, f_opt=0.0, dtype=dtype, device=device)
        self.size, self.grid, self.supersample = size, grid, supersample
        self.image_shape = (size, size, 3)
        palette = torch.tensor(list(PALETTE.values()), dtype=self.dtype, device=self.device)
        self.register_buffer("palette", palette)
        self.register_buffer("target", self._render(self.x_opt[None])[0])
        self.bytes_per_point = 4 * (size * self.supersample) ** 2 * 8
        self._discrete = [k for k in space if space[k].kind in ("categorical", "integer")]

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        values = self.space.decode(X)
        B, G, S, ss = X.shape[0], self.grid, self.size, self.supersample
        tiles = torch.stack([values[f"tile{i}"] for i in range(G * G)], -1)  # (B, G*G)
        u = (torch.arange(S * ss, device=X.device, dtype=X.dtype) + 0.5) / (S * ss)
        per_image = (values["repeats"].to(X.dtype) * G)[:, None]  # tiles across the image
        col = torch.floor(per_image * u + values["offset_x"][:, None]).long() % G  # (B, S ss)
        row = torch.floor(per_image * u + values["offset_y"][:, None]).long() % G
        index = row[:, :, None] * G + col[:, None, :]  # (B, S ss, S ss)
        colour = torch.gather(tiles, 1, index.reshape(B, -1)).reshape(B, S * ss, S * ss)
        image = self.palette[colour]  # (B, S ss, S ss, 3)
        if ss > 1:
            image = image.reshape(B, S, ss, S, ss, 3).mean((2, 4))
        return image

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return ((self._render(X) - self.target) ** 2).mean((1, 2, 3))

    def param_error(self, x: torch.Tensor) -> torch.Tensor | None:
        """Fraction of the discrete parameters (tiles, repeats) that differ from the target.

        Parameters
        ----------
        x : torch.Tensor of shape (D,) or (B, D)

        Returns
        -------
        torch.Tensor of shape () or (B,)
        """
        single = x.ndim == 1
        got = self.space.decode(x[None] if single else x)
        want = self.space.decode(self.x_opt[None])
        wrong = torch.stack([(got[k] != want[k]) for k in self._discrete], -1)
        err = wrong.to(x.dtype).mean(-1)
        return err[0] if single else err
