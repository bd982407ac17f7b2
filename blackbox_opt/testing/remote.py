"""A stand-in for a remote renderer: a problem that takes a fixed time per point.

:class:`SlowSphere` sleeps ``delay`` seconds per point (as a renderer that renders the
points of a batch one after the other), adds a noise term that is a function of the
point alone (seeded per point, never per process, so any split of a batch over any
number of workers gives the same losses), and fails on demand: it raises, hangs or
kills its own process for points in a chosen region. The evaluators' tests and the
scaling benchmark use it.
"""

from __future__ import annotations

import os
import time

import torch

from ..problem import Problem

__all__ = ["SlowSphere"]


class SlowSphere(Problem):
    """The sphere ``sum((x - 0.5)**2)`` plus point-seeded noise, at a fixed cost per point.

    Parameters
    ----------
    dim : int, default=4
    delay : float, default=0.0
        Seconds of sleep per point evaluated.
    noise : float, default=0.0
        Amplitude of the noise, a hash of the point in ``[0, noise)``: the same point
        always gets the same noise, whichever process evaluates it in whatever batch.
    fail_above : float, optional
        Points whose first coordinate exceeds this raise ``RuntimeError``.
    hang_above : float, optional
        Points whose first coordinate exceeds this sleep ``hang`` seconds more.
    hang : float, default=60.0
    crash_above : float, optional
        Points whose first coordinate exceeds this end the process at once
        (``os._exit``), as a renderer that segfaults.
    dtype : torch.dtype, default=torch.float64

    Examples
    --------
    >>> p = SlowSphere(dim=2, noise=0.1)
    >>> x = torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=torch.float64)
    >>> bool(p(x)[0] < 0.1), bool(torch.equal(p(x)[1:], p(x[1:])))
    (True, True)
    """

    def __init__(
        self,
        dim: int = 4,
        *,
        delay: float = 0.0,
        noise: float = 0.0,
        fail_above: float | None = None,
        hang_above: float | None = None,
        hang: float = 60.0,
        crash_above: float | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__(
            torch.zeros(dim, dtype=dtype),
            (-2.0, 2.0),
            x_opt=torch.full((dim,), 0.5, dtype=dtype),
            f_opt=0.0,
            dtype=dtype,
        )
        self.delay = delay
        self.noise = noise
        self.fail_above = fail_above
        self.hang_above = hang_above
        self.hang = hang
        self.crash_above = crash_above
        weights = torch.arange(1, dim + 1, dtype=dtype) * 12.9898
        self.register_buffer("weights", weights)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        first = X[:, 0]
        if self.crash_above is not None and bool((first > self.crash_above).any()):
            os._exit(13)
        if self.fail_above is not None and bool((first > self.fail_above).any()):
            raise RuntimeError(f"the renderer failed on x[0] > {self.fail_above}")
        if self.delay:
            time.sleep(self.delay * X.shape[0])
        if self.hang_above is not None and bool((first > self.hang_above).any()):
            time.sleep(self.hang)
        y = ((X - 0.5) ** 2).sum(-1)
        if self.noise:
            h = torch.sin((X * self.weights).sum(-1)) * 43758.5453
            y = y + self.noise * (h - torch.floor(h))
        return y
