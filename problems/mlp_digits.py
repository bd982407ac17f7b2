"""Fit the weights of a small MLP so that one fixed input decodes to a handwritten digit."""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from blackbox_opt import Problem

__all__ = ["LAYER_SIZES", "MLPDigits", "digit_image", "mlp_shapes"]

#: Widths of the MLP, input to output: 256 -> 32 -> 32 -> 784 (a 28 x 28 image).
LAYER_SIZES: tuple[int, ...] = (256, 32, 32, 784)


def mlp_shapes(sizes: tuple[int, ...] = LAYER_SIZES) -> list[tuple[int, int]]:
    """``(out, in)`` of every linear layer; each takes ``out * in + out`` parameters.

    The flat parameter vector holds, layer by layer, the weight matrix (row-major,
    ``(out, in)`` as in :class:`torch.nn.Linear`) and then its bias: the order of
    ``torch.nn.utils.parameters_to_vector`` on the equivalent ``torch.nn.Sequential``.

    Parameters
    ----------
    sizes : tuple of int, default=LAYER_SIZES

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> mlp_shapes()
    [(32, 256), (32, 32), (784, 32)]
    >>> sum(o * i + o for o, i in mlp_shapes())
    35152
    """
    return [(fan_out, fan_in) for fan_in, fan_out in itertools.pairwise(sizes)]


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def digit_image(digit: int = 3, index: int = 0, size: int = 28) -> torch.Tensor:
    """One sample of scikit-learn's bundled 8 x 8 digits, in [0, 1], upsampled bilinearly.

    Parameters
    ----------
    digit : int, default=3
        The class, 0 to 9.
    index : int, default=0
        Which sample of that class, in data-set order (about 180 per class).
    size : int, default=28
        The output resolution.

    Returns
    -------
    torch.Tensor of shape (size, size), float64, on the CPU

    Examples
    --------
    >>> img = digit_image(3)
    >>> img.shape, float(img.min()) >= 0.0, float(img.max()) <= 1.0
    (torch.Size([28, 28]), True, True)
    """
    if not isinstance(digit, numbers.Integral) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an int from 0 to 9; got {digit!r}.")
    images, targets = _digits()
    samples = images[targets == digit]
    if not isinstance(index, numbers.Integral) or not 0 <= index < len(samples):
        raise ValueError(
            f"index must be an int from 0 to {len(samples) - 1} for digit {digit}; got {index!r}."
        )
    small = torch.as_tensor(samples[int(index)] / 16.0, dtype=torch.float64)[None, None]
    image = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return image[0, 0]


class MLPDigits(Problem):
    """Optimise the 35,152 weights of an MLP that decodes a fixed input into a digit.

    An MLP ``256 -> 32 -> 32 -> 784`` with LeakyReLU between the layers and a sigmoid
    output maps one fixed random input vector (standard normal, seeded) to a
    ``28 x 28`` image; the loss is its mean squared error to one handwritten digit of
    scikit-learn's digits data set (``load_digits``: 8 x 8 images with values 0 to 16,
    scaled to [0, 1] and upsampled bilinearly to 28 x 28). The parameters are the
    flattened weights and biases in the order of :func:`mlp_shapes`, so
    ``torch.nn.utils.vector_to_parameters(x, net.parameters())`` loads a point into
    the equivalent ``torch.nn.Sequential``. No exact optimum is known (``x_opt`` is
    None).

    The start is PyTorch's default initialisation of :class:`torch.nn.Linear`: weights
    and biases uniform in ``+-1/sqrt(fan_in)``, seeded. A batch is evaluated with one
    batched matrix product per layer, never a loop over the points.

    Parameters
    ----------
    digit : int, default=3
        The target class, 0 to 9.
    index : int, default=0
        Which sample of that class is the target.
    seed : int, default=0
        Seeds the input vector and the start weights.
    negative_slope : float, default=0.01
        Slope of the LeakyReLU for negative inputs (``torch.nn.LeakyReLU``'s default).
    bounds : array-like, optional
        Bounds on the weights; default none.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
    chunk_bytes : int, optional
        See :class:`blackbox_opt.Problem`.

    Examples
    --------
    >>> p = MLPDigits(digit=3)
    >>> p.dim
    35152
    >>> 0.05 < float(p(p.x0)) < 0.5
    True
    >>> p.render(p.x0).shape
    torch.Size([28, 28, 1])
    """

    id = "mlp-digits"
    default_dim: ClassVar[int] = sum(o * i + o for o, i in mlp_shapes())
    differentiable = True
    tags = ("image", "high-dim", "differentiable")

    def __init__(
        self,
        digit: int = 3,
        *,
        index: int = 0,
        seed: int = 0,
        negative_slope: float = 0.01,
        bounds: Any = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
        chunk_bytes: int | None = None,
    ):
        target = digit_image(digit, index, 28).reshape(-1)
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(LAYER_SIZES[0], generator=g, dtype=torch.float64)
        parts = []
        for fan_out, fan_in in mlp_shapes():
            bound = 1.0 / math.sqrt(fan_in)
            for n in (fan_out * fan_in, fan_out):  # the weight, then the bias
                parts.append((2.0 * torch.rand(n, generator=g, dtype=torch.float64) - 1.0) * bound)
        super().__init__(
            torch.cat(parts).to(dtype),
            bounds,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.digit = digit
        self.index = index
        self.seed = seed
        self.negative_slope = float(negative_slope)
        self.image_shape = (28, 28, 1)
        # the activations, the output and its difference to the target; the weights are
        # read once whatever the chunk size, and chunks smaller than ~300 points are slower
        self.bytes_per_point = 4 * sum(LAYER_SIZES[1:]) * self.x0.element_size()
        self.register_buffer("z", z.to(device=self.device, dtype=self.dtype))
        self.register_buffer("target", target.to(device=self.device, dtype=self.dtype))

    def _images(self, X: torch.Tensor) -> torch.Tensor:
        """The MLP outputs ``(B, 784)`` in (0, 1) for weight vectors ``(B, D)``."""
        B = X.shape[0]
        h = self.z.expand(B, 1, -1)  # row vectors (B, 1, in)
        start = 0
        shapes = mlp_shapes()
        for layer, (fan_out, fan_in) in enumerate(shapes):
            W = X[:, start : start + fan_out * fan_in].reshape(B, fan_out, fan_in)
            start += fan_out * fan_in
            b = X[:, None, start : start + fan_out]
            start += fan_out
            # h W^T + b as a batched (1, in) x (in, out) product: on a CPU several times
            # faster than the matrix-vector form W h for the wide last layer
            h = torch.baddbmm(b, h, W.transpose(1, 2))
            if layer < len(shapes) - 1:
                h = F.leaky_relu(h, self.negative_slope)
        return torch.sigmoid(h[:, 0])

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        diff = self._images(X) - self.target
        return torch.linalg.vecdot(diff, diff) / diff.shape[1]

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` in [0, 1] for a batch ``X`` (see :meth:`Problem.render`)."""
        images = self._images(X).reshape(-1, 28, 28, 1)
        return images
