"""The ZeroGrads caustic design task: shape a glass surface so its caustic matches a target."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from blackbox_opt import Problem
from blackbox_opt.utils import check_int

__all__ = ["Caustic", "bspline_basis"]


def bspline_basis(t: torch.Tensor, n: int, *, derivative: bool = False) -> torch.Tensor:
    """The uniform cubic B-spline basis matrix of ``n`` control points on ``[0, 1]``.

    Knots are uniform and unclamped: ``t_j = (j - 3) / (n - 3)`` for ``j = 0..n+3``, so
    that ``[0, 1] = [t_3, t_n]`` is covered by ``n - 3`` spans, each with exactly four
    non-zero basis functions. Basis function ``i`` is the centred cubic B-spline
    ``N(s) = 2/3 - s^2 + |s|^3/2`` (``|s| < 1``), ``(2 - |s|)^3 / 6`` (``1 <= |s| < 2``),
    with ``s = (t - u_i) / h``, ``h = 1 / (n - 3)`` and centre ``u_i = (i - 1) h`` (the
    Greville abscissa). On all of ``[0, 1]`` the basis sums to one (partition of
    unity) and ``sum_i u_i B_i(t) = t`` (linear precision).

    Parameters
    ----------
    t : torch.Tensor of shape (P,)
        Evaluation points in ``[0, 1]``.
    n : int
        The number of control points (at least 4).
    derivative : bool, default=False
        Return ``dB_i / dt`` instead of ``B_i``.

    Returns
    -------
    torch.Tensor of shape (P, n)

    Examples
    --------
    >>> B = bspline_basis(torch.linspace(0, 1, 5, dtype=torch.float64), 6)
    >>> B.shape
    torch.Size([5, 6])
    >>> bool(torch.allclose(B.sum(1), torch.ones(5, dtype=torch.float64)))
    True
    """
    if n < 4:
        raise ValueError(f"a cubic B-spline needs at least 4 control points; got {n}.")
    h = 1.0 / (n - 3)
    centres = (torch.arange(n, dtype=t.dtype, device=t.device) - 1.0) * h
    s = (t[:, None] - centres) / h
    a = s.abs()
    inner, outer = a < 1, (a >= 1) & (a < 2)
    if derivative:
        d_inner = -2.0 * s + 1.5 * s * a
        d_outer = -0.5 * torch.sign(s) * (2.0 - a) ** 2
        return torch.where(inner, d_inner, torch.where(outer, d_outer, 0.0)) / h
    v_inner = 2.0 / 3.0 - a * a + 0.5 * a**3
    v_outer = (2.0 - a) ** 3 / 6.0
    return torch.where(inner, v_inner, torch.where(outer, v_outer, 0.0))


class Caustic(Problem):
    """Design a refractive glass surface whose caustic on the ground matches a target.

    The ZeroGrads caustic task in pure torch. The bottom surface of a glass slab of side
    ``size`` is the height field ``h(u, v) = sum_ij c_ij B_i(u) B_j(v)`` of a
    ``grid x grid`` uniform cubic B-spline (see :func:`bspline_basis`); the parameters
    are the control heights ``c`` (row-major, ``u`` along image rows). A ``photons x
    photons`` grid of vertical rays (direction ``(0, 0, -1)``, one per cell centre of
    ``[0, 1]^2``) leaves the glass (refractive index ``ior``) through the surface into
    air, refracted by Snell's law about the normal ``normalize(-h_u / size, -h_v / size,
    1)``, and hits the ground plane ``z = -distance``. Photons are binned by ``floor``
    into a ``res x res`` histogram of the ground square below the slab; a photon is
    dropped when it is totally internally reflected (its ray never reaches the ground)
    or lands outside the square. The histogram is divided by the count of a flat slab
    and tone-mapped by ``r / (1 + r)`` to ``[0, 1)`` (a flat slab gives 0.5); the loss is
    the image MSE to the caustic of a ground-truth surface (``x_opt``, ``f_opt = 0``).

    Binning is piecewise constant in the parameters: autograd sees no dependence at all
    (``differentiable = False``), which is the point of the task.

    The ground truth is a smooth random surface (fixed seed): Gaussian-smoothed normal
    control heights with standard deviation ``amplitude``; the start is a flat slab
    plus seeded noise of standard deviation ``amplitude / 20``.

    Parameters
    ----------
    grid : int, default=32
        Control points per side (dim = ``grid**2``, at least 4).
    photons : int, default=128
        Photons per side (the ZeroGrads paper uses 512).
    res : int, default=64
        Image resolution.
    ior : float, default=1.33
        Refractive index of the glass (air below is 1).
    distance : float, default=1.0
        Distance of the ground plane below the slab (``z = 0``).
    size : float, default=1.0
        Side of the slab; heights and ``distance`` share its unit.
    amplitude : float, default=0.007
        Standard deviation of the ground-truth heights.
    smoothing : float, default=0.05
        Standard deviation, in units of the slab side, of the Gaussian smoothing of the
        ground-truth control heights.
    seed : int, default=0
        Seeds the ground truth and the start.
    bound : float, default=0.05
        Symmetric bounds ``[-bound, bound]`` on every control height.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = Caustic(grid=8, photons=32, res=16)
    >>> p.dim
    64
    >>> float(p(p.x_opt))
    0.0
    >>> bool(p(p.x0) > 0)
    True
    """

    #: the loss is defined everywhere (a torch rasteriser): the bounds frame the search
    hard_bounds = False

    id = "caustic"
    default_dim: ClassVar[int] = 1024
    differentiable = False
    tags = ("discrete", "image", "high-dim")
    cost = "cheap"

    def __init__(
        self,
        grid: int = 32,
        *,
        photons: int = 128,
        res: int = 64,
        ior: float = 1.33,
        distance: float = 1.0,
        size: float = 1.0,
        amplitude: float = 0.007,
        smoothing: float = 0.05,
        seed: int = 0,
        bound: float = 0.05,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        for name, value, low in (("grid", grid, 4), ("photons", photons, 2), ("res", res, 2)):
            check_int(value, name, low)
        if not (ior > 0 and distance > 0 and size > 0 and amplitude >= 0 and bound > 0):
            raise ValueError("ior, distance, size and bound must be positive, amplitude >= 0.")
        truth, start = _ground_truth(grid, amplitude, smoothing, seed)
        super().__init__(
            start.clamp(-bound, bound),
            (-bound, bound),
            x_opt=truth.clamp(-bound, bound),
            f_opt=0.0,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.grid, self.photons, self.res = grid, photons, res
        self.ior, self.distance, self.size = float(ior), float(distance), float(size)
        self.image_shape = (res, res, 1)
        # the (2P, 2P) product, ~12 photon-sized temporaries, an int64 index, 3 images
        item = self.x0.element_size()
        self.bytes_per_point = (16 * item + 8) * photons**2 + 3 * item * res**2
        kw = {"dtype": torch.float64, "device": self.device}
        t = (torch.arange(photons, **kw) + 0.5) / photons
        B, dB = bspline_basis(t, grid), bspline_basis(t, grid, derivative=True)
        # Z = C @ [Bv^T | dBv^T]: (g, 2P); [Bu; dBu] @ Z gives h, h_v, h_u blocks
        self.register_buffer("right", torch.cat([B.T, dB.T], 1).to(self.dtype))
        self.register_buffer("left", torch.cat([B, dB], 0).to(self.dtype))
        self.register_buffer("u", t.to(self.dtype))
        self.register_buffer("target", self._image(self.x_opt[None])[0])

    # -- the forward model -----------------------------------------------------------------
    def height_field(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heights and their derivatives on the photon grid.

        Parameters
        ----------
        X : torch.Tensor of shape (B, grid**2)

        Returns
        -------
        h, h_u, h_v : torch.Tensor of shape (B, photons, photons)
            ``h(u_k, v_l)`` and its partial derivatives in ``u`` (rows) and ``v``.
        """
        P = self.photons
        C = X.reshape(-1, self.grid, self.grid)
        W = self.left @ (C @ self.right)  # (B, 2P, 2P): [[h, h_v], [h_u, .]]
        return W[:, :P, :P], W[:, P:, :P], W[:, :P, P:]

    def photon_counts(self, X: torch.Tensor) -> torch.Tensor:
        """The photon histograms of points ``X``, before tone mapping.

        Parameters
        ----------
        X : torch.Tensor of shape (B, grid**2)

        Returns
        -------
        torch.Tensor of shape (B, res, res)
            Photons per pixel (integer-valued, of the problem's dtype); totally
            internally reflected photons and those landing off the image are not counted.

        Examples
        --------
        >>> p = Caustic(grid=8, photons=32, res=16)
        >>> counts = p.photon_counts(torch.zeros(1, 64))  # a flat slab
        >>> float(counts.min()), float(counts.max()), float(counts.sum())
        (4.0, 4.0, 1024.0)
        """
        h, hu, hv = self.height_field(X)
        B, R = h.shape[0], self.res
        # the unit normal (nx, ny, nz) against the ray d = (0, 0, -1); cos_i = nz
        nx, ny = hu / -self.size, hv / -self.size
        nz = 1.0 / (nx * nx + ny * ny + 1.0).sqrt()
        nx, ny = nx * nz, ny * nz
        eta = self.ior  # glass over air
        k = 1.0 - eta * eta * (1.0 - nz * nz)
        keep = k >= 0  # k < 0: total internal reflection, the photon is dropped
        a = eta * nz - k.clamp_min(0.0).sqrt()
        tz = a * nz - eta  # t = eta d + a n, below zero whenever k >= 0
        s = (h + self.distance) / tz.clamp_max(-1e-3).neg()  # the clamp only hits dropped ones
        x = self.u[:, None] + s * (a * nx) / self.size  # hit point in slab units, rows
        y = self.u[None, :] + s * (a * ny) / self.size
        x, y = (x * R).floor(), (y * R).floor()  # integer binning: no gradient
        keep &= (x >= 0) & (x < R) & (y >= 0) & (y < R)  # photons off the image are dropped
        offset = torch.arange(B, device=self.device)[:, None, None] * (R * R)
        index = offset + torch.where(keep, x * R + y, 0.0).long()  # dropped: weight 0
        counts = torch.zeros(B * R * R, dtype=self.dtype, device=self.device)
        counts.index_add_(0, index.reshape(-1), keep.reshape(-1).to(self.dtype))
        return counts.reshape(B, R, R)

    def _image(self, X: torch.Tensor) -> torch.Tensor:
        ratio = self.photon_counts(X) * (self.res**2 / self.photons**2)
        return ratio / (ratio + 1.0)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        diff = self._image(X) - self.target
        return (diff * diff).mean((1, 2))

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = self._image(X)[..., None]
        return images


def _ground_truth(
    grid: int, amplitude: float, smoothing: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smoothed random control heights (std ``amplitude``) and a noisy flat start."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(grid, grid, generator=g, dtype=torch.float64)
    start = torch.randn(grid * grid, generator=g, dtype=torch.float64) * (amplitude / 20)
    sigma = smoothing * (grid - 3)  # in control-point spacings
    if sigma > 0:
        i = torch.arange(grid, dtype=torch.float64)
        K = torch.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
        K = K / K.sum(1, keepdim=True)
        noise = K @ noise @ K.T
    truth = (noise - noise.mean()) / noise.std().clamp_min(1e-12) * amplitude
    return truth.reshape(-1), start
