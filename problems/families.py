"""Families of fitting problems for meta-learning: procedural textures and analytic BRDFs.

Each family draws many members of one kind, all fitted by the same small network whose
flattened weights are the problem's parameters, and splits them into training and
held-out test members (see :class:`blackbox_opt.ProblemFamily`):

``texture-family``
    Stationary procedural textures (value noise, stripes and checks mixed with random
    weights, frequencies, orientations and two random colours), each fitted by a
    coordinate MLP on a positional encoding of the pixel centre.
``brdf-family``
    Analytic GGX / Cook-Torrance BRDFs with random albedo, roughness and specular
    reflectance, sampled in Rusinkiewicz's half / difference coordinates and fitted by
    a 6-21-21-3 MLP on log-mapped values, as neural BRDFs are.

Examples
--------
>>> import problems
>>> fam = problems.make_family("brdf-family", n_train=4, n_test=2)
>>> fam.dim
675
>>> p = fam.member(0, "test")
>>> p.name, p.differentiable
('brdf-family[test:0]', True)
"""

from __future__ import annotations

import inspect
import itertools
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from blackbox_opt import Problem, ProblemFamily
from blackbox_opt.api import _unknown_option
from blackbox_opt.exceptions import InvalidParameterError, UnknownNameError, did_you_mean
from blackbox_opt.registry import Registry, Table
from blackbox_opt.surrogate import positional_encoding
from blackbox_opt.utils import check_int

__all__ = [
    "FAMILIES",
    "BRDFFamily",
    "BRDFFit",
    "BatchedMLP",
    "TextureFamily",
    "TextureFit",
    "ggx_brdf",
    "list_families",
    "make_family",
    "rusinkiewicz_inputs",
    "stationary_textures",
]


# -- the shared model ------------------------------------------------------------------------
class BatchedMLP:
    """An MLP whose weights come as rows of a matrix, for many weight vectors at once.

    The flat weight vector holds, layer by layer, the weight matrix (``(out, in)``,
    row-major, as in :class:`torch.nn.Linear`) and then its bias. ``forward(W, inputs)``
    evaluates ``T`` networks, one per row of ``W``, with one batched matrix product per
    layer: differentiable in ``W`` to any order (for second-order meta-learning).

    Parameters
    ----------
    sizes : sequence of int
        Widths from input to output.
    negative_slope : float, default=0.0
        Slope of the (leaky) ReLU between layers; 0 gives a ReLU.

    Examples
    --------
    >>> mlp = BatchedMLP((6, 21, 21, 3))
    >>> mlp.n_weights
    675
    >>> W = mlp.init_weights(torch.Generator().manual_seed(0))[None].repeat(2, 1)
    >>> mlp(W, torch.zeros(1, 5, 6)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, sizes: tuple[int, ...], negative_slope: float = 0.0):
        self.sizes = tuple(int(s) for s in sizes)
        self.negative_slope = float(negative_slope)
        self.shapes = [(o, i) for i, o in itertools.pairwise(self.sizes)]

    @property
    def n_weights(self) -> int:
        """The number of weights and biases."""
        return sum(o * i + o for o, i in self.shapes)

    def init_weights(
        self, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """PyTorch's default start: weights and biases uniform in ``+-1/sqrt(fan_in)``.

        Parameters
        ----------
        generator : torch.Generator
        dtype : torch.dtype, default=torch.float32

        Returns
        -------
        torch.Tensor of shape (n_weights,), on the generator's device
        """
        parts = []
        for fan_out, fan_in in self.shapes:
            bound = 1.0 / math.sqrt(fan_in)
            for n in (fan_out * fan_in, fan_out):
                u = torch.rand(
                    n, generator=generator, dtype=torch.float64, device=generator.device
                )
                parts.append((2.0 * u - 1.0) * bound)
        return torch.cat(parts).to(dtype)

    def __call__(self, W: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Outputs ``(T, N, out)`` of the networks ``W`` ``(T, D)`` at ``inputs``.

        ``inputs`` has shape ``(T, N, in)``, or ``(1, N, in)`` shared by every network.
        """
        T = W.shape[0]
        h = inputs.expand(T, -1, -1) if inputs.shape[0] != T else inputs
        start = 0
        last = len(self.shapes) - 1
        for layer, (fan_out, fan_in) in enumerate(self.shapes):
            w = W[:, start : start + fan_out * fan_in].reshape(T, fan_out, fan_in)
            start += fan_out * fan_in
            b = W[:, None, start : start + fan_out]
            start += fan_out
            h = torch.baddbmm(b, h, w.transpose(1, 2))
            if layer < last:
                h = F.leaky_relu(h, self.negative_slope) if self.negative_slope else F.relu(h)
        return h


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    diff = (pred - target).flatten(1)
    return torch.linalg.vecdot(diff, diff) / diff.shape[1]


def amplitude_spectra(images: torch.Tensor) -> torch.Tensor:
    """Per-channel amplitudes of the orthonormal 2-D DFT of square images.

    With the orthonormal transform the squared amplitudes sum to the squared pixel values
    (Parseval), so the mean squared difference of two images' amplitude spectra is never
    above their pixel MSE, and it is zero exactly when one image is the other with the
    phase of each frequency changed: a circular shift, for instance.

    Parameters
    ----------
    images : torch.Tensor of shape (B, res, res, C)

    Returns
    -------
    torch.Tensor of shape (B, res, res, C)

    Examples
    --------
    >>> image = torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(0))
    >>> shifted = image.roll((3, 5), dims=(1, 2))
    >>> torch.allclose(amplitude_spectra(image), amplitude_spectra(shifted), atol=1e-6)
    True
    >>> bool(torch.allclose(amplitude_spectra(image).square().sum(), image.square().sum()))
    True
    """
    return torch.fft.fft2(images, dim=(1, 2), norm="ortho").abs()


# -- textures -------------------------------------------------------------------------------
def stationary_textures(
    n: int, res: int = 32, *, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Draw ``n`` procedural stationary textures with random parameters.

    Each texture blends two random colours by a scalar pattern: a mix, with weights
    drawn uniformly on the simplex, of value noise (random 4 x 4 and 8 x 8 grids
    upsampled bicubically), stripes (random orientation, 2 to 8 periods across, random
    phase) and checks (2 to 6 periods, random phases), rescaled to span [0, 1]. All
    textures are drawn in one vectorised pass.

    Parameters
    ----------
    n : int
        Textures to draw.
    res : int, default=32
        Square resolution.
    generator : torch.Generator
        A CPU generator; the same state gives the same textures.
    dtype : torch.dtype, default=torch.float32

    Returns
    -------
    torch.Tensor of shape (n, res, res, 3)
        RGB values in [0, 1], on the CPU.

    Examples
    --------
    >>> t = stationary_textures(3, 16, generator=torch.Generator().manual_seed(0))
    >>> t.shape, bool(t.min() >= 0) and bool(t.max() <= 1)
    (torch.Size([3, 16, 16, 3]), True)
    """
    f64 = dict(generator=generator, dtype=torch.float64)

    def up(grid: torch.Tensor) -> torch.Tensor:
        return F.interpolate(grid, size=(res, res), mode="bicubic", align_corners=False)[:, 0]

    noise = 0.6 * up(torch.rand(n, 1, 4, 4, **f64)) + 0.4 * up(torch.rand(n, 1, 8, 8, **f64))
    centres = (torch.arange(res, dtype=torch.float64) + 0.5) / res
    u, v = centres[:, None], centres[None, :]  # rows, columns

    def param(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(n, **f64))[:, None, None]

    angle, freq, phase = param(0, math.pi), param(2, 8), param(0, 2 * math.pi)
    stripes = 0.5 + 0.5 * torch.sin(
        2 * math.pi * freq * (u * angle.cos() + v * angle.sin()) + phase
    )
    g, p1, p2 = param(2, 6), param(0, 2 * math.pi), param(0, 2 * math.pi)
    checks = 0.5 + 0.5 * torch.sin(2 * math.pi * g * u + p1) * torch.sin(2 * math.pi * g * v + p2)
    weights = -torch.log(torch.rand(n, 3, **f64))  # exponential draws: uniform on the simplex
    weights = (weights / weights.sum(1, keepdim=True))[:, :, None, None]
    pattern = (weights * torch.stack([noise, stripes, checks], 1)).sum(1)
    low = pattern.amin((1, 2), keepdim=True)
    high = pattern.amax((1, 2), keepdim=True)
    pattern = (pattern - low) / (high - low)
    c0, c1 = torch.rand(n, 1, 1, 3, **f64), torch.rand(n, 1, 1, 3, **f64)
    return (c0 + (c1 - c0) * pattern[..., None]).to(dtype)


class TextureFamily(ProblemFamily):
    """Stationary procedural textures, each fitted by a coordinate MLP.

    The model maps a pixel centre ``(u, v)``, scaled to ``[-pi, pi]`` and encoded with
    ``n_freq`` frequencies (``[x, sin(2^k x), cos(2^k x)]``), through ``depth`` hidden
    ReLU layers of ``width`` units to RGB. A member's parameters are the MLP's flattened
    weights; its loss is the mean squared error of the image to its target texture
    (:func:`stationary_textures`).

    Two losses: ``"pixel"``, the image's mean squared error to the target, and
    ``"spectrum"``, the mean squared error of its per-channel amplitude spectrum to the
    target's (:func:`amplitude_spectra`), a stationary loss that ignores where the
    pattern lies, as texture synthesis losses do (Metappearance fits its textures with
    the Gram matrices of VGG features, a pretrained network this package does not
    ship). The spectrum loss is never above the pixel loss at the same weights, and it
    is zero for any circular shift of the target.

    Parameters
    ----------
    n_train : int, default=200
        Training members.
    n_test : int, default=20
        Held-out members.
    res : int, default=32
        Texture resolution.
    loss : {"pixel", "spectrum"}, default="pixel"
        What a member's loss compares (see above).
    n_freq : int, default=5
        Encoding frequencies (up to ``2^(n_freq - 1)`` periods across the texture).
    width, depth : int, default=32, 2
        Hidden units and layers of the MLP.
    seed : int, default=0
        Seeds the textures and the standard start.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Examples
    --------
    >>> fam = TextureFamily(n_train=4, n_test=2, res=16)
    >>> fam.dim
    1891
    >>> p = fam.member(1, "test")
    >>> float(p(p.x0)) > 0.01, p.render(p.x0).shape
    (True, torch.Size([16, 16, 3]))
    """

    id = "texture-family"
    default_dim: ClassVar[int] = 1891
    #: The values of ``loss``.
    losses_available: ClassVar[tuple[str, ...]] = ("pixel", "spectrum")
    differentiable = True
    tags = ("family", "image", "differentiable")

    def __init__(
        self,
        n_train: int = 200,
        n_test: int = 20,
        *,
        res: int = 32,
        loss: str = "pixel",
        n_freq: int = 5,
        width: int = 32,
        depth: int = 2,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        super().__init__(n_train=n_train, n_test=n_test, seed=seed)
        if loss not in self.losses_available:
            raise InvalidParameterError(
                f"loss must be one of {', '.join(map(repr, self.losses_available))}; "
                f"got {loss!r}.{did_you_mean(str(loss), self.losses_available)}"
            )
        self.loss = loss
        for name, value, low in (
            ("res", res, 2),
            ("n_freq", n_freq, 0),
            ("width", width, 1),
            ("depth", depth, 1),
        ):
            check_int(value, name, low)
        self.res, self.n_freq, self.width, self.depth = res, n_freq, width, depth
        self.dtype = dtype
        centres = (torch.arange(res, dtype=torch.float64) + 0.5) / res
        grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
        encoding = positional_encoding(2 * math.pi * (grid - 0.5), n_freq)
        self.mlp = BatchedMLP((encoding.shape[1], *[width] * depth, 3))
        g = torch.Generator().manual_seed(seed)
        targets = stationary_textures(n_train + n_test, res, generator=g, dtype=dtype)
        self.register_buffer("encoding", encoding.to(dtype)[None])  # (1, N, E)
        self.register_buffer("targets", targets.reshape(n_train + n_test, -1, 3))
        if loss == "spectrum":
            spectra = amplitude_spectra(targets).reshape(n_train + n_test, -1, 3)
            self.register_buffer("target_spectra", spectra)
        if device is not None:
            self.to(device)

    @property
    def dim(self) -> int:
        """The number of MLP weights D."""
        return self.mlp.n_weights

    def init_weights(self, generator: torch.Generator) -> torch.Tensor:
        return self.mlp.init_weights(generator, self.dtype).to(self.targets.device)

    def images(self, X: torch.Tensor) -> torch.Tensor:
        """The MLPs' images ``(B, res, res, 3)`` for weight vectors ``X`` ``(B, D)``."""
        return self.mlp(X, self.encoding).reshape(-1, self.res, self.res, 3)

    def _member(self, k: int) -> TextureFit:
        return TextureFit(self, k)

    @property
    def compared(self) -> torch.Tensor:
        """What the loss compares with, per member, shaped like :meth:`compare`'s output.

        The targets' pixels for the ``"pixel"`` loss, their amplitude spectra for
        ``"spectrum"``: ``(n_train + n_test, res * res, 3)``.
        """
        return self.targets if self.loss == "pixel" else self.target_spectra

    def compare(self, X: torch.Tensor) -> torch.Tensor:
        """What the loss compares for weight vectors ``X`` ``(B, D)``: ``(B, res * res, 3)``.

        The pixels for the ``"pixel"`` loss, the amplitude spectra for ``"spectrum"``.
        """
        out = self.mlp(X, self.encoding)
        if self.loss == "pixel":
            return out
        return amplitude_spectra(out.reshape(-1, self.res, self.res, 3)).flatten(1, 2)

    def _losses(
        self, X: torch.Tensor, k: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        return _mse(self.compare(X), self.compared[k])


class TextureFit(Problem):
    """One member of :class:`TextureFamily`: fit the MLP's weights to one texture.

    Parameters
    ----------
    family : TextureFamily
    k : int
        The member's global number (train members first).
    """

    differentiable = True
    tags = ("image", "differentiable")

    def __init__(self, family: TextureFamily, k: int):
        super().__init__(family.x0, dtype=family.dtype, device=family.targets.device)
        self.family = [family]  # a list: not a submodule, so .to() moves only the target
        self.register_buffer("target", family.targets[k])
        if family.loss == "spectrum":
            self.register_buffer("target_spectrum", family.target_spectra[k])
        self.image_shape = (family.res, family.res, 3)
        n = self.target.shape[0]
        self.bytes_per_point = 3 * n * (family.width * family.depth + 3) * self.x0.element_size()

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        family = self.family[0]
        compared = self.target if family.loss == "pixel" else self.target_spectrum
        return _mse(family.compare(X), compared[None])

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        return self.family[0].images(X).clamp(0.0, 1.0)


# -- BRDFs ----------------------------------------------------------------------------------
def rusinkiewicz_inputs(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Map uniform numbers to Rusinkiewicz coordinates, network inputs and directions.

    ``theta_h = (pi / 2) u_0^2`` (denser near the specular peak, as MERL's tables),
    ``theta_d = (pi / 2) u_1``, ``phi_d = pi u_2`` (isotropy and reciprocity fold the
    rest). The half vector is ``h = (sin theta_h, 0, cos theta_h)`` and the difference
    vector ``d`` is the incoming direction in the half vector's frame; the incoming
    direction is ``d`` rotated by ``theta_h`` about the binormal, and the outgoing one
    its mirror image about ``h``.

    Parameters
    ----------
    u : torch.Tensor of shape (..., 3)
        Uniform numbers in [0, 1).

    Returns
    -------
    inputs : torch.Tensor of shape (..., 6)
        ``(h, d)``, the network's input.
    wi, wo : torch.Tensor of shape (..., 3)
        Incoming and outgoing directions in the local frame (normal ``+z``).

    Examples
    --------
    >>> inputs, wi, wo = rusinkiewicz_inputs(torch.tensor([[0.0, 0.0, 0.0]]))
    >>> inputs.tolist(), wi.tolist(), wo.tolist()  # both directions along the normal
    ([[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]])
    """
    theta_h = (math.pi / 2) * u[..., 0] ** 2
    theta_d = (math.pi / 2) * u[..., 1]
    phi_d = math.pi * u[..., 2]
    sh, ch = torch.sin(theta_h), torch.cos(theta_h)
    sd, cd = torch.sin(theta_d), torch.cos(theta_d)
    h = torch.stack([sh, torch.zeros_like(sh), ch], -1)
    d = torch.stack([sd * torch.cos(phi_d), sd * torch.sin(phi_d), cd], -1)
    wi = torch.stack(
        [d[..., 0] * ch + d[..., 2] * sh, d[..., 1], d[..., 2] * ch - d[..., 0] * sh], -1
    )
    wo = 2 * cd[..., None] * h - wi
    return torch.cat([h, d], -1), wi, wo


def ggx_brdf(
    wi: torch.Tensor,
    wo: torch.Tensor,
    albedo: torch.Tensor,
    roughness: torch.Tensor,
    specular: torch.Tensor,
) -> torch.Tensor:
    """A Cook-Torrance BRDF with the GGX distribution, Smith masking and Schlick's Fresnel.

    ``f = albedo / pi + D G F / (4 cos_i cos_o)`` with ``alpha = roughness^2``,
    ``D = alpha^2 / (pi ((n.h)^2 (alpha^2 - 1) + 1)^2)``, the separable Smith GGX
    ``G`` and ``F = F0 + (1 - F0)(1 - h.wi)^5`` with ``F0 = specular``; zero below the
    horizon.

    Parameters
    ----------
    wi, wo : torch.Tensor of shape (..., 3)
        Unit directions in the local frame (normal ``+z``).
    albedo : torch.Tensor of shape (..., 3)
        Diffuse RGB reflectance.
    roughness, specular : torch.Tensor of shape (..., 1)
        Perceptual roughness and normal-incidence reflectance ``F0``.

    Returns
    -------
    torch.Tensor of shape (..., 3)

    Examples
    --------
    >>> n = torch.tensor([0.0, 0.0, 1.0])
    >>> f = ggx_brdf(n, n, torch.full((3,), 0.5), torch.tensor([0.5]), torch.tensor([0.04]))
    >>> [round(v, 4) for v in f.tolist()]  # 0.5 / pi + F0 / (4 pi alpha^2), G = 1
    [0.2101, 0.2101, 0.2101]
    """
    cos_i = wi[..., 2:3]
    cos_o = wo[..., 2:3]
    h = F.normalize(wi + wo, dim=-1)
    cos_h = h[..., 2:3]
    alpha2 = roughness**4
    D = alpha2 / (math.pi * (cos_h * cos_h * (alpha2 - 1) + 1) ** 2)

    def g1(c: torch.Tensor) -> torch.Tensor:
        c = c.clamp_min(1e-6)
        return 2 * c / (c + torch.sqrt(alpha2 + (1 - alpha2) * c * c))

    fresnel = specular + (1 - specular) * (1 - (wi * h).sum(-1, keepdim=True)).clamp(0, 1) ** 5
    spec = D * g1(cos_i) * g1(cos_o) * fresnel / (4 * (cos_i * cos_o).clamp_min(1e-6))
    above = (cos_i > 0) & (cos_o > 0)
    return torch.where(above, albedo / math.pi + spec, torch.zeros_like(spec))


class BRDFFamily(ProblemFamily):
    """Analytic GGX BRDFs fitted by a 6-21-21-3 MLP on log-mapped values.

    Each member is a :func:`ggx_brdf` with albedo uniform in ``[0.05, 0.8]^3``,
    roughness uniform in ``[0.25, 0.8]`` and specular ``F0`` uniform in
    ``[0.02, 0.25]``. The MLP (ReLU, 675 weights) maps the half and difference vectors
    of Rusinkiewicz's parametrisation (:func:`rusinkiewicz_inputs`) to
    ``log(1 + f cos theta_i)`` per colour channel, the mapping of neural BRDFs that
    tames the specular peak; the loss is the mean squared error in that space. A
    member's own loss uses a fixed set of ``n_samples`` directions; training steps
    (:meth:`BRDFFit.training_loss`, and meta-training) draw fresh minibatches of
    ``batch_size`` directions.

    Parameters
    ----------
    n_train : int, default=200
        Training members.
    n_test : int, default=20
        Held-out members.
    n_samples : int, default=8192
        Directions of each member's deterministic loss.
    batch_size : int, default=512
        Directions per training step.
    seed : int, default=0
        Seeds the materials, the fixed directions and the standard start.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Examples
    --------
    >>> fam = BRDFFamily(n_train=4, n_test=2, n_samples=256)
    >>> fam.materials.shape  # albedo (3), roughness, specular per member
    torch.Size([6, 5])
    >>> p = fam.member(0)
    >>> p.dim, float(p(p.x0)) > 0
    (675, True)
    """

    id = "brdf-family"
    default_dim: ClassVar[int] = 675
    differentiable = True
    tags = ("family", "brdf", "differentiable")

    def __init__(
        self,
        n_train: int = 200,
        n_test: int = 20,
        *,
        n_samples: int = 8192,
        batch_size: int = 512,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        super().__init__(n_train=n_train, n_test=n_test, seed=seed)
        for name, value in (("n_samples", n_samples), ("batch_size", batch_size)):
            check_int(value, name, 1)
        self.n_samples, self.batch_size, self.dtype = n_samples, batch_size, dtype
        self.mlp = BatchedMLP((6, 21, 21, 3))
        g = torch.Generator().manual_seed(seed)
        n = n_train + n_test
        low = torch.tensor([0.05, 0.05, 0.05, 0.25, 0.02], dtype=torch.float64)
        high = torch.tensor([0.8, 0.8, 0.8, 0.8, 0.25], dtype=torch.float64)
        materials = low + (high - low) * torch.rand(n, 5, generator=g, dtype=torch.float64)
        u = torch.rand(n_samples, 3, generator=g, dtype=torch.float64)
        self.register_buffer("materials", materials.to(dtype))
        self.register_buffer("eval_u", u.to(dtype))
        if device is not None:
            self.to(device)

    @property
    def dim(self) -> int:
        """The number of MLP weights D (675)."""
        return self.mlp.n_weights

    def init_weights(self, generator: torch.Generator) -> torch.Tensor:
        return self.mlp.init_weights(generator, self.dtype).to(self.materials.device)

    def values(
        self, u: torch.Tensor, materials: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Network inputs and log-mapped targets for uniform numbers ``u``.

        Parameters
        ----------
        u : torch.Tensor of shape (T or 1, N, 3)
            Uniform numbers (see :func:`rusinkiewicz_inputs`).
        materials : torch.Tensor of shape (T, 5)
            Albedo, roughness and specular of each member.

        Returns
        -------
        inputs : torch.Tensor of shape (T or 1, N, 6)
        targets : torch.Tensor of shape (T, N, 3)
            ``log(1 + f cos theta_i)``.
        """
        inputs, wi, wo = rusinkiewicz_inputs(u)
        m = materials[:, None, :]
        f = ggx_brdf(wi, wo, m[..., :3], m[..., 3:4], m[..., 4:5])
        return inputs, torch.log1p(f * wi[..., 2:3].clamp_min(0))

    def _member(self, k: int) -> BRDFFit:
        return BRDFFit(self, k)

    def _losses(
        self, X: torch.Tensor, k: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        if generator is None:
            u = self.eval_u[None]
        else:
            shape = (k.numel(), self.batch_size, 3)
            u = torch.rand(shape, generator=generator, dtype=X.dtype, device=generator.device)
            u = u.to(X.device)
        inputs, targets = self.values(u, self.materials[k])
        return _mse(self.mlp(X, inputs), targets)


class BRDFFit(Problem):
    """One member of :class:`BRDFFamily`: fit the 675 MLP weights to one analytic BRDF.

    The loss is the mean squared error of the log-mapped values on the family's fixed
    ``n_samples`` directions; :meth:`training_loss` draws a fresh minibatch instead.

    Parameters
    ----------
    family : BRDFFamily
    k : int
        The member's global number (train members first).
    """

    differentiable = True
    tags = ("brdf", "differentiable")

    def __init__(self, family: BRDFFamily, k: int):
        super().__init__(family.x0, dtype=family.dtype, device=family.materials.device)
        self.family = [family]  # a list: not a submodule
        self.register_buffer("material", family.materials[k : k + 1].clone())
        inputs, targets = family.values(family.eval_u[None], self.material)
        self.register_buffer("inputs", inputs)
        self.register_buffer("targets", targets)
        self.bytes_per_point = 3 * family.n_samples * 48 * self.x0.element_size()

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return _mse(self.family[0].mlp(X, self.inputs), self.targets)

    def training_loss(self, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The loss of one training step: a fresh minibatch of ``batch_size`` directions.

        Parameters
        ----------
        X : torch.Tensor of shape (B, D)
        generator : torch.Generator
            Draws the directions (one minibatch shared by the B points).

        Returns
        -------
        torch.Tensor of shape (B,)
        """
        family = self.family[0]
        shape = (1, family.batch_size, 3)
        u = torch.rand(shape, generator=generator, dtype=X.dtype, device=generator.device)
        inputs, targets = family.values(u.to(X.device), self.material)
        return _mse(family.mlp(X, inputs), targets)


# -- the registry ---------------------------------------------------------------------------
#: The registry of problem families.
FAMILIES = Registry("problem family")
FAMILIES.register("texture-family", "problems.families:TextureFamily")
FAMILIES.register("brdf-family", "problems.families:BRDFFamily")


def make_family(name: str, **overrides: Any) -> ProblemFamily:
    """Instantiate the problem family registered as ``name``.

    Parameters
    ----------
    name : str
        ``"texture-family"`` or ``"brdf-family"`` (see :func:`list_families`).
    **overrides
        Constructor arguments: ``n_train``, ``n_test``, ``seed``, ``device``...

    Returns
    -------
    ProblemFamily

    Raises
    ------
    UnknownNameError
        For an unknown id or argument, naming the closest matches.

    Examples
    --------
    >>> fam = make_family("texture-family", n_train=3, n_test=1, res=8)
    >>> fam.n_train, fam.n_test, fam.size("test")
    (3, 1, 1)
    """
    entry = FAMILIES.entry(name)
    cls = entry.load()
    valid = inspect.signature(cls).parameters
    for key in overrides:
        if key not in valid:
            raise UnknownNameError(_unknown_option(key, f"family {name!r}", valid))
    family = cls(**{**entry.kwargs, **overrides})
    family.id = name
    return family


def _default_dim(name: str, cls: type) -> int | None:
    """The dimension of family ``name`` at its defaults (its ``default_dim``)."""
    return FAMILIES.entry(name).kwargs.get("dim", getattr(cls, "default_dim", None))


def list_families() -> Table:
    """A table of the registered families, with the columns of ``problems.list()``.

    Returns
    -------
    Table
    """
    rows = []
    for name in FAMILIES:
        cls = FAMILIES.get(name)
        rows.append(
            dict(
                id=name,
                dim=_default_dim(name, cls),
                tags=tuple(cls.tags),
                cost=cls.cost,
                differentiable=bool(cls.differentiable),
                version=cls.version,
                requires=",".join(cls.requires) or None,
            )
        )
    return Table(rows)
