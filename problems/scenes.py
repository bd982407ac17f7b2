"""Ray-cast scenes with hard visibility: PRDPT's occlusion and shadow tasks in miniature.

Rays from a pinhole camera are intersected with analytic spheres and a ground plane;
every hit test is binary, so each pixel takes one of a few flat colours and the image
MSE is piecewise constant in the parameters: its gradient is zero almost everywhere
and autograd has no path from the loss back to the parameters at all. Both scenes
start on a plateau where nothing visible changes.

A pixel's colour is picked from a small per-pixel table (``colours``, shape
``(L, P, C)``) by an integer label computed from the hit tests; the squared error of
every label against the target is precomputed (``errors``, ``(L, P)``), so the loss of
a batch selects one precomputed error per pixel and averages over ``(B, P)``. The hit
tests are written as a few multiply-adds and comparisons per pixel (no square roots,
no integer labels) because elementwise passes over ``(B, P)`` are what a batch costs.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from blackbox_opt import Problem
from blackbox_opt.utils import check_int

__all__ = ["Occlusion", "Shadow", "pinhole_rays"]


def pinhole_rays(res: int, fov_deg: float, **kw: Any) -> torch.Tensor:
    """Unit directions of a ``res x res`` pinhole camera looking down ``-z``.

    Rows run from ``+y`` (top) to ``-y``, columns from ``-x`` to ``+x``; rays go
    through pixel centres.

    Parameters
    ----------
    res : int
        Image side in pixels.
    fov_deg : float
        Full field of view in degrees.
    **kw
        ``dtype`` and ``device`` of the result.

    Returns
    -------
    torch.Tensor of shape (res * res, 3)

    Examples
    --------
    >>> d = pinhole_rays(4, 40.0)
    >>> d.shape, bool(torch.allclose(d.norm(dim=1), torch.ones(16)))
    (torch.Size([16, 3]), True)
    """
    half = math.tan(math.radians(fov_deg) / 2)
    s = (torch.arange(res, **kw) + 0.5) / res * 2 - 1
    v, u = torch.meshgrid(-s * half, s * half, indexing="ij")
    d = torch.stack([u, v, -torch.ones_like(u)], -1).reshape(-1, 3)
    return d / d.norm(dim=1, keepdim=True)


class _Scene(Problem):
    """Shared machinery: label tables, the loss by gather, and ``render``."""

    #: the loss is defined everywhere (a torch rasteriser): the bounds frame the search
    hard_bounds = False

    differentiable = False
    tags = ("plateau", "image")

    def _setup(self, res: int, colours: torch.Tensor) -> None:
        """Store the colour table ``(L, P, C)`` and the errors against the target."""
        self.res = res
        self.image_shape = (res, res, colours.shape[-1])
        self.register_buffer("colours", colours)
        target = self._gather_colours(self._labels(self.x_opt[None]))[0]
        self.register_buffer("target", target)
        self.register_buffer("errors", (colours - target).square().mean(-1))
        # a handful of (B, P) float and int64 temporaries are alive at once
        self.bytes_per_point = res * res * (6 * self.x0.element_size() + 2 * 8)

    def _labels(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _gather_colours(self, labels: torch.Tensor) -> torch.Tensor:
        pixels = torch.arange(labels.shape[1], device=labels.device)
        return self.colours[labels, pixels]

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = self._gather_colours(self._labels(X))
        images = images.reshape(-1, *self.image_shape)
        return images


class Occlusion(_Scene):
    """A red sphere moves along the view axis behind a large grey one (PRDPT's OCCLUSION).

    The camera sits at the origin and looks down ``-z`` (field of view 40 degrees, flat
    shading, ``res x res`` RGB). An opaque occluder sphere of radius 1 is centred at
    ``(0, 0, -4)``, its front at distance 3. The moving sphere, radius 0.6, is centred at
    ``(0.15, 0.1, -d)``: the one parameter is its distance ``d`` along a line parallel
    to the view axis. For ``d >~ 3.64`` it lies entirely behind the occluder as seen
    from the camera, so it is fully hidden and the loss is exactly constant (the plateau around
    the start ``d = 5``, up to the bound 8). Below that its front cap pokes through the
    occluder's surface and grows as the sphere approaches, until for ``d <~ 1.7`` it
    hides the occluder completely. At the target ``d = 3.4`` it is partly visible: a
    red cap inside the grey disc. The loss is the image MSE to the render at the
    target, 0 there (and on the few-thousandths-wide interval of ``d`` that changes no
    pixel), rising on both sides.

    Parameters
    ----------
    res : int, default=64
        Image side in pixels.
    x0 : float, default=5.0
        The start distance (hidden).
    target : float, default=3.4
        The target distance (partly visible).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = Occlusion(res=32)
    >>> float(p(p.x_opt))
    0.0
    >>> bool(p(p.x0) > 0), bool(p(p.x0) == p(p.x0 + 0.3))
    (True, True)
    >>> p.render(p.x0).shape
    torch.Size([32, 32, 3])
    """

    id = "occlusion"
    default_dim: ClassVar[int] = 1
    fov_deg: ClassVar[float] = 40.0
    radius: ClassVar[float] = 0.6
    offset: ClassVar[tuple[float, float]] = (0.15, 0.1)

    def __init__(
        self,
        res: int = 64,
        *,
        x0: float = 5.0,
        target: float = 3.4,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        check_int(res, "res", 2)
        super().__init__(
            [x0],
            (1.5, 8.0),
            x_opt=[target],
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        kw = {"dtype": self.dtype, "device": self.device}
        dirs = pinhole_rays(res, self.fov_deg, **kw)
        self.register_buffer("dirs", dirs)
        # the occluder: centre (0, 0, -4), radius 1; its hit distance per pixel (inf: miss)
        b = 4.0 * dirs[:, 2]  # dot(origin - centre, dir) with origin - centre = (0, 0, 4)
        disc = b * b - 15.0
        t_occ = torch.where(disc > 0, -b - disc.clamp_min(0).sqrt(), torch.inf)
        self.register_buffer("neg_t_occ", -t_occ)
        self.register_buffer("base", (disc > 0).long())  # 0: background, 1: occluder
        # per pixel, dot(origin - centre, dir) = dz * d - (dx * ox + dy * oy)
        ox, oy = self.offset
        self.register_buffer("dz", dirs[:, 2].contiguous())
        self.register_buffer("kxy", dirs[:, 0] * ox + dirs[:, 1] * oy)
        P = res * res
        table = torch.tensor([[0.1, 0.12, 0.18], [0.6, 0.6, 0.6], [0.9, 0.25, 0.15]], **kw)
        self._setup(res, table[:, None, :].expand(3, P, 3).contiguous())
        self.register_buffer("error_base", self.errors.gather(0, self.base[None])[0])

    def _visible(self, X: torch.Tensor) -> torch.Tensor:
        """Whether the moving sphere is the first thing each pixel's ray hits, ``(B, P)``.

        The ray meets the sphere at ``t = -b - sqrt(b^2 - cc)`` when ``b^2 > cc``; it is
        visible when ``t`` is below the occluder's distance ``t_occ``, that is when
        ``b^2 - cc > max(0, w |w|)`` with ``w = -t_occ - b``: no square root and one
        comparison, cheap on every device. ``t > 0`` holds for every ``d > 0.58`` (the
        camera lies outside the sphere and looks towards it); distances below 0.6, far
        outside the bounds, are taken as 0.6.
        """
        d = X[:, :1].clamp_min(0.6)  # the centre is (ox, oy, -d); the camera is at the origin
        ox, oy = self.offset
        b = torch.addcmul(-self.kxy, d, self.dz)  # dot(origin - centre, dir): (B, P)
        cc = d * d + (ox * ox + oy * oy - self.radius**2)  # |origin - centre|^2 - r^2
        disc = torch.addcmul(-cc, b, b)
        w = self.neg_t_occ - b
        return disc > w.mul_(w.abs()).clamp_min_(0.0)

    def _labels(self, X: torch.Tensor) -> torch.Tensor:
        return torch.where(self._visible(X), 2, self.base)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return torch.where(self._visible(X), self.errors[2], self.error_base).mean(-1)


class Shadow(_Scene):
    """An off-screen sphere whose only visible effect is its hard shadow (PRDPT's SHADOWS).

    A camera at ``(0, 0, 5)`` looks straight down at the ground plane ``z = 0`` (field of
    view 40 degrees: it sees ``|x|, |y| <~ 1.82``), which carries a faint beige
    checkerboard. A directional light shines from ``(-1, 0, 1) / sqrt(2)`` (ambient 0.3).
    A sphere of radius 0.6 floats at height 2 at ``(x, y)``, the two parameters; every
    plane point casts a shadow ray to the light, tested against the sphere analytically.
    The shadow is an ellipse centred at ``(x + 2, y)`` with semi-axes 0.85 (along x) and
    0.6. At the start ``(-5.5, -0.25)`` it falls left of the image, so the loss is exactly
    flat around it (for every ``x <~ -4.64``, whatever ``y``). At the target
    ``(-3.5, 0.25)`` the sphere is still outside the view frustum and about two thirds of
    its shadow lie inside the image at the left edge; so a shadow entering the image
    from the start's side overlaps the target's at once and the smoothed loss slopes
    from the plateau down to the target. (With the target shadow fully inside the image,
    a shadow entering it first adds wrong dark pixels: a barrier that pushed PRDPT back
    onto the plateau.) The sphere is drawn in flat blue if it is moved into view
    (``x >~ -1.71``).

    Parameters
    ----------
    res : int, default=64
        Image side in pixels.
    x0 : array-like of shape (2,), default=(-5.5, -0.25)
        The start ``(x, y)`` of the sphere (shadow off-image).
    target : array-like of shape (2,), default=(-3.5, 0.25)
        The target ``(x, y)``.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = Shadow(res=32)
    >>> float(p(p.x_opt))
    0.0
    >>> bool(p(p.x0) > 0), bool(p(p.x0) == p(p.x0 + 0.2))
    (True, True)
    >>> p.render(p.x_opt).shape
    torch.Size([32, 32, 3])
    """

    id = "shadow"
    default_dim: ClassVar[int] = 2
    fov_deg: ClassVar[float] = 40.0
    height: ClassVar[float] = 5.0  # of the camera
    sphere_z: ClassVar[float] = 2.0
    radius: ClassVar[float] = 0.6
    light: ClassVar[tuple[float, float, float]] = (-math.sqrt(0.5), 0.0, math.sqrt(0.5))

    def __init__(
        self,
        res: int = 64,
        *,
        x0: Any = (-5.5, -0.25),
        target: Any = (-3.5, 0.25),
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        check_int(res, "res", 2)
        super().__init__(
            x0,
            [[-6.0, -3.0], [1.0, 3.0]],
            x_opt=target,
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        kw = {"dtype": self.dtype, "device": self.device}
        dirs = pinhole_rays(res, self.fov_deg, **kw)
        self.register_buffer("dirs", dirs)
        ground = dirs[:, :2] * (self.height / -dirs[:, 2:])  # (P, 2): where rays meet z = 0
        self.register_buffer("ground", ground)
        self.register_buffer("ground_x", self.light[2] * ground[:, 0])
        self.register_buffer("ground_y", ground[:, 1].contiguous())
        self.register_buffer("dz_oz", dirs[:, 2] * (self.height - self.sphere_z))
        self.register_buffer("neg_dx", -dirs[:, 0])
        self.register_buffer("neg_dy", -dirs[:, 1])
        checker = ((ground / 0.3).floor().sum(1) % 2) * 2 - 1  # +-1
        albedo = torch.tensor([0.8, 0.75, 0.65], **kw) * (1 + 0.06 * checker[:, None])
        ambient = 0.3
        lit = albedo * (ambient + (1 - ambient) * self.light[2])
        sphere = torch.tensor([0.2, 0.4, 0.85], **kw).expand_as(lit)
        self._setup(res, torch.stack([lit, albedo * ambient, sphere]))

    def _hits(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pixel ``(B, P)``: whether its ground point is in shadow, and whether the
        camera sees the sphere there.

        The shadow of a sphere under a directional light ``L = (lx, 0, lz)`` on the plane
        ``z = 0`` is exactly the ellipse ``(lz (x - cx - sx))^2 + (y - cy)^2 < r^2`` with
        ``sx = -sphere_z lx / lz`` (the points whose shadow ray passes within ``r`` of
        the centre). A camera ray ``dir`` sees the sphere when ``b^2 > cc`` with
        ``b = dot(o - centre, dir)``, ``cc = |o - centre|^2 - r^2`` (``b < 0`` follows:
        the sphere lies below the camera, which looks down). Elementwise multiply-adds
        and two comparisons, the same arithmetic for any batch size.
        """
        cx, cy = X[:, :1], X[:, 1:2]  # (B, 1) each; the centre is (cx, cy, sphere_z)
        lx, _, lz = self.light
        cz, r2 = self.sphere_z, self.radius**2
        u = self.ground_x - lz * (cx - cz * lx / lz)  # lz (x - cx - sx), (B, P)
        v = self.ground_y - cy
        shadowed = torch.addcmul(u.mul_(u), v, v) < r2
        oz = self.height - cz
        b = torch.addcmul(torch.addcmul(self.dz_oz, cx, self.neg_dx), cy, self.neg_dy)
        cc = cx * cx + cy * cy + (oz * oz - r2)
        seen = torch.addcmul(-cc, b, b) > 0
        return shadowed, seen

    def _labels(self, X: torch.Tensor) -> torch.Tensor:
        shadowed, seen = self._hits(X)
        return torch.where(seen, 2, shadowed.long())

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        shadowed, seen = self._hits(X)
        lit_or_shadow = torch.where(shadowed, self.errors[1], self.errors[0])
        return torch.where(seen, self.errors[2], lit_or_shadow).mean(-1)
