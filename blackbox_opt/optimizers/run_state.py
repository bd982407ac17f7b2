"""What a started optimiser knows about its run, and the conversion of told values."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..exceptions import InvalidParameterError
from ..problem import Problem
from ..result import History, Status
from .pending import PendingBatch

__all__ = ["RunState"]


@dataclass
class RunState:
    """What a started optimiser knows about the run (not part of its parameters)."""

    dim: int
    x0: torch.Tensor
    bounds: torch.Tensor | None
    generator: torch.Generator
    scales: torch.Tensor | None = None
    problem: Problem | None = None
    budget: int | None = None
    nit: int = 0
    nfev: int = 0
    nfev_monitor: int = 0
    nfail: int = 0
    best_x: torch.Tensor | None = None
    best_f: torch.Tensor | None = None
    worst_f: torch.Tensor | None = None
    pending: PendingBatch | None = None
    history: History = field(default_factory=History)
    t0: float = field(default_factory=time.perf_counter)
    status: int = Status.RUNNING
    message: str = Status.MESSAGES[Status.RUNNING]

    @property
    def device(self) -> torch.device:
        return self.x0.device

    @property
    def dtype(self) -> torch.dtype:
        return self.x0.dtype

    @property
    def finite_bounds(self) -> bool:
        """Whether the run has bounds and all of them are finite."""
        return self.bounds is not None and bool(torch.isfinite(self.bounds).all())


def _as_batch(X: Any, state: RunState, what: str) -> torch.Tensor:
    if not torch.is_tensor(X):
        X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    X = X.detach().to(device=state.device, dtype=state.dtype)
    if X.ndim != 2 or X.shape[1] != state.dim:
        raise InvalidParameterError(
            f"{what} must have shape (B, {state.dim}); got {tuple(X.shape)}."
        )
    return X


def _as_losses(y: Any, batch: int, state: RunState) -> torch.Tensor:
    if not torch.is_tensor(y):
        array = np.asarray(y)
        if array.dtype.kind not in "iuf":
            flat = list(array.ravel())
            odd = [
                i
                for i, v in enumerate(flat)
                if not isinstance(v, (int, float, np.integer, np.floating))
                or isinstance(v, (bool, np.bool_))
            ]
            example = f"{flat[odd[0]]!r} at row {odd[0]}" if odd else repr(flat[:1])
            raise InvalidParameterError(
                "y must hold one number per point (a float loss, NaN for a failed "
                f"evaluation, e.g. a lost frame); got {array.dtype.name} values such as "
                f"{example}."
            )
        y = torch.as_tensor(array.astype(np.float64))
    elif y.dtype == torch.bool or y.is_complex():
        raise InvalidParameterError(f"y must hold real losses; got dtype {y.dtype}.")
    y = y.detach().to(device=state.device, dtype=state.dtype)
    if y.shape != (batch,):
        raise InvalidParameterError(
            f"y must hold one loss per point, shape ({batch},); got {tuple(y.shape)}."
        )
    return y
