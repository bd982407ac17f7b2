"""Helpers shared by the check suites."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..api import get_method
from ..evaluation import evaluate
from ..optimizers.base import FITTED_ATTRIBUTES, BaseOptimizer
from ..problem import Problem


def _make(method: Any, **params: Any) -> BaseOptimizer:
    optimizer = get_method(method)
    merged = {"verbose": False, **type(optimizer)._check_params, **params}
    return optimizer.set_params(**merged)


def _assert(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _raises(exc_type: type, func: Callable, what: str, match: str | None = None) -> None:
    try:
        func()
    except exc_type as exc:
        if match is not None and match not in str(exc):
            raise AssertionError(f"{what}: the message {str(exc)!r} lacks {match!r}") from exc
        return
    except Exception as exc:  # pragma: no cover - reported as a failure
        raise AssertionError(
            f"{what}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing was raised")


def _drive(optimizer: BaseOptimizer, problem: Problem, n: int) -> list[torch.Tensor]:
    """``n`` ask/evaluate/tell rounds; returns the points asked."""
    points = []
    for _ in range(n):
        X = optimizer.ask()
        points.append(X.clone())
        optimizer.tell(X, *evaluate(problem, X, gradients=optimizer.needs_gradient))
    return points


def _run_attributes(optimizer: BaseOptimizer) -> set[str]:
    """The attributes a run has set on the optimiser (not its parameters, not fitted)."""
    ignored = set(optimizer.get_params(deep=False)) | set(FITTED_ATTRIBUTES) | {"_state"}
    return set(vars(optimizer)) - ignored


def _same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        if not (torch.is_tensor(a) and torch.is_tensor(b)) or a.shape != b.shape:
            return False
        if a.is_floating_point():  # bit-for-bit, NaN equal to NaN (losses not told yet)
            return a.dtype == b.dtype and bool(((a == b) | (a.isnan() & b.isnan())).all())
        return torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
