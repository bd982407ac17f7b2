"""The ZeroGrads surrogate: a small MLP fitted online to the loss around the iterate."""

from __future__ import annotations

import itertools
import math

import torch

__all__ = ["Surrogate", "positional_encoding"]


def positional_encoding(x: torch.Tensor, n_freq: int) -> torch.Tensor:
    """NeRF-style encoding ``[x, sin(2^k x), cos(2^k x)]`` for ``k < n_freq``.

    Parameters
    ----------
    x : torch.Tensor of shape (B, D)
    n_freq : int
        Number of frequencies; 0 returns ``x``.

    Returns
    -------
    torch.Tensor of shape (B, D (1 + 2 n_freq))

    Examples
    --------
    >>> positional_encoding(torch.zeros(1, 2), 3).shape
    torch.Size([1, 14])
    """
    if n_freq == 0:
        return x
    freqs = 2.0 ** torch.arange(n_freq, dtype=x.dtype, device=x.device)
    angles = (x[:, None, :] * freqs[:, None]).reshape(x.shape[0], -1)  # (B, n_freq * D)
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)


class Surrogate(torch.nn.Module):
    """An MLP ``h(x)`` with LeakyReLU activations and a linear scalar output.

    Parameters
    ----------
    dim : int
        Input dimension D.
    width : int
        Hidden units per layer.
    depth : int
        Hidden layers.
    n_freq : int
        Positional-encoding frequencies (0: none); the first layer then takes
        ``D (1 + 2 n_freq)`` inputs and dominates the memory:
        ``4 D (1 + 2 n_freq) width`` bytes in float32, four times that with Adam's
        state and the gradient.
    negative_slope : float, default=0.01
        The LeakyReLU's slope below zero (torch's default). A unit whose
        pre-activation is negative at every sample passes only this fraction of its
        gradient, so a small slope lets units that drift negative stay there.
    generator : torch.Generator, optional
        Seeds the initial weights (PyTorch's default uniform ``+-1/sqrt(fan_in)``).
    dtype, device :
        Of the weights.

    Examples
    --------
    >>> h = Surrogate(3, width=16, depth=2, n_freq=0)
    >>> h(torch.zeros(5, 3)).shape
    torch.Size([5])
    """

    def __init__(
        self,
        dim: int,
        width: int,
        depth: int,
        n_freq: int,
        *,
        negative_slope: float = 0.01,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.n_freq = n_freq
        self.negative_slope = negative_slope
        sizes = [dim * (1 + 2 * n_freq)] + [width] * depth + [1]
        # skip torch's own initialisation, which draws from the global generator
        make = torch.nn.utils.skip_init
        self.layers = torch.nn.ModuleList(
            make(torch.nn.Linear, a, b, dtype=dtype, device=device or "cpu")
            for a, b in itertools.pairwise(sizes)
        )
        with torch.no_grad():
            for layer in self.layers:
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict the loss at normalised points ``x`` ``(B, D) -> (B,)``."""
        return self.head(self.encode(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The positional encoding of ``x`` (computed once when fitting many steps)."""
        return positional_encoding(x, self.n_freq)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The MLP on encoded inputs ``(B, D (1 + 2 n_freq)) -> (B,)``."""
        return self.tail(self.layers[0](h))

    def tail(self, z: torch.Tensor) -> torch.Tensor:
        """The MLP after its first linear map: ``(B, width) -> (B,)``.

        ``head(h)`` is ``tail(layers[0](h))``. The first layer holds nearly all the
        weights at large D; a caller that applies it, and forms its weight gradient, by
        its own means continues here.

        Parameters
        ----------
        z : torch.Tensor of shape (B, width)
            The first layer's output before its activation.

        Returns
        -------
        torch.Tensor of shape (B,)

        Examples
        --------
        >>> h = Surrogate(3, width=16, depth=2, n_freq=1)
        >>> x = torch.rand(4, 3)
        >>> H = h.encode(x)
        >>> torch.equal(h.tail(h.layers[0](H)), h(x))
        True
        """
        slope = self.negative_slope
        h = torch.nn.functional.leaky_relu(z, slope)
        for layer in self.layers[1:-1]:
            h = torch.nn.functional.leaky_relu(layer(h), slope)
        return self.layers[-1](h)[:, 0]

    @property
    def n_weights(self) -> int:
        """The number of trainable weights."""
        return sum(p.numel() for p in self.parameters())
