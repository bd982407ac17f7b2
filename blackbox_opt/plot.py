"""Pictures of runs: convergence curves, start / result / target images, iterate paths.

Every user of a run draws the same figures; these functions draw them from
:class:`~blackbox_opt.OptimizeResult` objects and problems. They need matplotlib, an
optional dependency (``pip install 'blackbox-opt[plot]'``); importing this module does
not import it, calling a function does.

- :func:`convergence`: the best loss (or any history column) against evaluations, for
  one result, several, or several seeds per label (their median, with the range);
- :func:`images`: the start, the result(s) and the target of any problem with
  :meth:`~blackbox_opt.Problem.render`;
- :func:`path`: the iterates of a run with ``record_x=True`` in two coordinates, over
  the loss's contours for a 2-D problem.

Examples
--------
>>> import blackbox_opt
>>> from blackbox_opt import plot
>>> res = blackbox_opt.minimize("rosenbrock", method="spsa", budget=200, random_state=0,
...                             verbose=False)
>>> ax = plot.convergence(res)
>>> ax.get_xlabel()
'evaluations'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch

from .exceptions import InvalidParameterError
from .problem import Problem
from .result import OptimizeResult
from .utils import require

__all__ = ["convergence", "images", "path"]

_X_LABELS = {"nfev": "evaluations", "nit": "iterations", "time": "seconds"}


def _pyplot() -> Any:
    return require("matplotlib.pyplot", "plot")


def _label(result: OptimizeResult, results: Sequence[OptimizeResult]) -> str:
    problems = {r.get("problem") for r in results}
    method = str(result.get("method", "run"))
    return method if len(problems) <= 1 else f"{method} on {result.get('problem')}"


def _groups(results: Any) -> dict[str, list[OptimizeResult]]:
    """``results`` as ``{label: [result, ...]}``."""
    if isinstance(results, OptimizeResult):
        results = [results]
    if isinstance(results, Mapping):
        groups = {}
        for label, value in results.items():
            runs = [value] if isinstance(value, OptimizeResult) else list(value)
            if not runs or not all(isinstance(r, OptimizeResult) for r in runs):
                raise InvalidParameterError(
                    f"results[{label!r}] must be an OptimizeResult or a sequence of them."
                )
            groups[str(label)] = runs
        return groups
    runs = list(results)
    if not runs or not all(isinstance(r, OptimizeResult) for r in runs):
        raise InvalidParameterError(
            "results must be an OptimizeResult, a sequence of them, or a dict of label to "
            "one or several of them (seeds); got "
            f"{type(results).__name__}."
        )
    groups: dict[str, list[OptimizeResult]] = {}
    for r in runs:
        label = _label(r, runs)
        if label in groups:  # the same method twice: number them, do not merge them
            label = f"{label} ({sum(k.startswith(label) for k in groups) + 1})"
        groups[label] = [r]
    return groups


def convergence(
    results: Any,
    *,
    x: str = "nfev",
    y: str = "best",
    ax: Any = None,
    log: bool | None = None,
    n_points: int = 200,
) -> Any:
    """Draw a history column (the best loss by default) against evaluations.

    Parameters
    ----------
    results : OptimizeResult, sequence of them, or dict
        One curve per result; with a dict, one curve per label, and a label given
        several results (seeds) draws their median on a common grid with the range
        between the lowest and the highest as a band.
    x : {"nfev", "nit", "time"}, default="nfev"
        The horizontal axis: evaluations charged to the budget, iterations or seconds.
    y : str, default="best"
        A history column: ``"best"`` (best loss so far), ``"loss"`` (at the iterate),
        ``"param_error"``, ``"sigma"``...
    ax : matplotlib axes, optional
        Where to draw (default: a new figure).
    log : bool, optional
        A logarithmic vertical axis; default: when every value drawn is positive.
    n_points : int, default=200
        Grid points of a median curve.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        For results that are not :class:`~blackbox_opt.OptimizeResult` objects or an
        unknown ``x``.
    KeyError
        For an unknown history column ``y``, naming the columns.
    """
    from .compare import median_curve, on_grid

    if x not in _X_LABELS:
        raise InvalidParameterError(f"x must be one of {sorted(_X_LABELS)}; got {x!r}.")
    groups = _groups(results)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    drawn = []
    for label, runs in groups.items():
        curves = [(r.history[x], r.history[y]) for r in runs]
        if len(curves) == 1:
            xs, ys = curves[0]
            keep = ~np.isnan(ys)
            (line,) = ax.plot(xs[keep], ys[keep], label=label, drawstyle="steps-post")
            drawn.append(ys[keep])
            continue
        end = max(float(np.nanmax(c[0])) for c in curves)
        grid = np.linspace(0.0, end, n_points)
        if x != "time":
            grid = np.unique(grid.round())
        kept = [(cx[~np.isnan(cy)], cy[~np.isnan(cy)]) for cx, cy in curves]
        median = median_curve(kept, grid)
        (line,) = ax.plot(grid, median, label=f"{label} (median of {len(runs)})")
        stacked = np.stack([on_grid(cx, cy, grid) for cx, cy in kept])
        with np.errstate(invalid="ignore"):
            low, high = np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0)
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        drawn.append(stacked)
    values = np.concatenate([np.ravel(v) for v in drawn]) if drawn else np.array([])
    values = values[np.isfinite(values)]
    if log is None:
        log = values.size > 0 and bool((values > 0).all())
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(_X_LABELS[x])
    ax.set_ylabel({"best": "best loss", "loss": "loss at the iterate"}.get(y, y))
    if len(groups) > 1 or any(len(r) > 1 for r in groups.values()):
        ax.legend()
    return ax


def _as_image(image: Any) -> tuple[np.ndarray, dict]:
    """A rendered image as an array for ``imshow``, and the keywords it needs."""
    array = image.detach().cpu().double().numpy() if torch.is_tensor(image) else image
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return array, dict(cmap="gray", vmin=0.0, vmax=1.0)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return np.clip(array, 0.0, 1.0), {}
    raise InvalidParameterError(
        "images draws images of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); the "
        f"problem rendered one of shape {array.shape}."
    )


def _point(problem: Problem, value: Any, name: str) -> torch.Tensor:
    if isinstance(value, OptimizeResult):
        value = value.x
    if not torch.is_tensor(value):
        value = torch.as_tensor(np.asarray(value, dtype=np.float64))
    value = value.detach().to(device=problem.device, dtype=problem.dtype)
    if value.shape != (problem.dim,):
        raise InvalidParameterError(
            f"{name} must be a point of shape ({problem.dim},) of {problem.name} or an "
            f"OptimizeResult; got shape {tuple(value.shape)}."
        )
    return value


def _is_point(value: Any) -> bool:
    """Whether ``value`` is one point (a 1-d tensor or array, or a list of numbers)."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, (list, tuple)) and all(isinstance(v, Real) for v in value)


def _target_image(problem: Problem, target: Any) -> Any:
    """The target image: given, rendered at ``x_opt``, or the problem's target image."""
    if target is not None:
        if isinstance(target, OptimizeResult) or _is_point(target):
            return problem.render(_point(problem, target, "target"))
        return target
    if problem.x_opt is not None:
        return problem.render(problem.x_opt)
    image = getattr(problem, "target", None)
    if torch.is_tensor(image) and problem.image_shape is not None:
        if tuple(image.shape) == tuple(problem.image_shape):
            return image
    return None


def images(
    problem: Problem,
    results: Any = None,
    *,
    x0: Any = None,
    target: Any = None,
    axes: Any = None,
    losses: bool = True,
) -> Any:
    """Draw the start, the result(s) and the target of an image problem side by side.

    Parameters
    ----------
    problem : Problem
        A problem with :meth:`~blackbox_opt.Problem.render` (``image_shape`` set).
    results : OptimizeResult, point, sequence or dict of them, optional
        What to show after the start: a result (its best point ``x``), a point of
        shape ``(D,)``, several of them, or ``{title: result or point}``.
    x0 : array-like of shape (D,), optional
        The start (default: the problem's ``x0``).
    target : array-like, optional
        A target point ``(D,)`` or image ``(H, W[, C])``. Default: the rendering of
        the problem's known optimum ``x_opt``, else its ``target`` image when it has
        one of ``image_shape``; without either the panel is left out.
    axes : sequence of matplotlib axes, optional
        One per panel (default: a new figure with one row).
    losses : bool, default=True
        Write the loss of every point under its panel.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidParameterError
        When ``problem`` does not render images, or for a point of the wrong shape.

    Examples
    --------
    >>> import blackbox_opt, problems
    >>> from blackbox_opt import plot
    >>> p = problems.make("rect", res=32)
    >>> res = blackbox_opt.minimize(p, method="random", budget=50, random_state=0,
    ...                             verbose=False)
    >>> fig = plot.images(p, res)
    >>> [a.get_title() for a in fig.axes]
    ['start', 'random', 'target']
    """
    if not isinstance(problem, Problem):
        raise InvalidParameterError(
            f"images needs a blackbox_opt.Problem with render; got {type(problem).__name__}."
        )
    if type(problem)._render is Problem._render:
        raise InvalidParameterError(
            f"Problem {problem.name!r} does not render images: images needs a problem "
            "that implements _render (see Problem.render)."
        )
    start = _point(problem, problem.x0 if x0 is None else x0, "x0")
    panels: list[tuple[str, Any, torch.Tensor | None]] = [("start", problem.render(start), start)]
    if results is not None:
        if isinstance(results, OptimizeResult) or _is_point(results):
            items = [(None, results)]
        elif isinstance(results, Mapping):
            items = list(results.items())
        else:
            items = [(None, r) for r in results]
        for i, (title, value) in enumerate(items):
            point = _point(problem, value, "results" if title is None else f"results[{title!r}]")
            if title is None:
                method = value.get("method") if isinstance(value, OptimizeResult) else None
                title = method or ("result" if len(items) == 1 else f"result {i + 1}")
            panels.append((str(title), problem.render(point), point))
    image = _target_image(problem, target)
    if image is not None:
        point = problem.x_opt if target is None and problem.x_opt is not None else None
        if target is not None and (isinstance(target, OptimizeResult) or _is_point(target)):
            point = _point(problem, target, "target")
        panels.append(("target", image, point))
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), squeeze=False)
        axes = axes[0]
    axes = list(np.ravel(axes))
    if len(axes) != len(panels):
        raise InvalidParameterError(
            f"axes must hold one axes per panel ({len(panels)}: "
            f"{', '.join(t for t, _, _ in panels)}); got {len(axes)}."
        )
    for ax, (title, picture, point) in zip(axes, panels, strict=True):
        array, style = _as_image(picture)
        ax.imshow(array, interpolation="nearest", **style)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        if losses and point is not None:
            with torch.no_grad():
                ax.set_xlabel(f"loss {float(problem(point)):.4g}")
    return axes[0].figure


def path(
    result: OptimizeResult,
    *,
    problem: Problem | None = None,
    dims: tuple[int, int] = (0, 1),
    ax: Any = None,
    levels: int = 30,
    resolution: int = 120,
) -> Any:
    """Draw the iterates of a run with ``record_x=True`` in two coordinates.

    Parameters
    ----------
    result : OptimizeResult
        From a run with ``record_x=True`` (its ``history.x``).
    problem : Problem, optional
        A 2-D problem: its loss is drawn as contours below the path, over its bounds
        when they are finite, else over the box around the path and the optimum (one
        batched evaluation of ``resolution**2`` points, not counted anywhere but in
        the problem's ``n_evaluations``).
    dims : pair of int, default=(0, 1)
        The coordinates drawn.
    ax : matplotlib axes, optional
    levels : int, default=30
        Contour levels (log-spaced when the loss is positive).
    resolution : int, default=120
        Grid points per side of the contours.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        When the run did not record its iterates.
    InvalidParameterError
        For ``dims`` outside the dimension.
    """
    X = result.history.x
    i, j = dims
    if not (0 <= i < X.shape[1] and 0 <= j < X.shape[1]) or i == j:
        raise InvalidParameterError(
            f"dims must be two different coordinates below {X.shape[1]}; got {dims!r}."
        )
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.0))
    keep = ~np.isnan(X).any(1)
    if problem is not None and problem.dim == 2:
        if problem.bounds is not None and bool(torch.isfinite(problem.bounds).all()):
            lo, hi = problem.bounds.detach().cpu().double().numpy()
        else:  # the box around the path (and the optimum), with a margin
            seen = X[keep]
            if problem.x_opt is not None:
                seen = np.vstack([seen, problem.x_opt.detach().cpu().double().numpy()])
            lo, hi = seen.min(0), seen.max(0)
            margin = np.maximum(0.15 * (hi - lo), 1e-3 * np.maximum(np.abs(hi), 1.0))
            lo, hi = lo - margin, hi + margin
        u = np.linspace(lo[i], hi[i], resolution)
        v = np.linspace(lo[j], hi[j], resolution)
        U, V = np.meshgrid(u, v)
        grid = np.zeros((U.size, 2))
        grid[:, i], grid[:, j] = U.ravel(), V.ravel()
        with torch.no_grad():
            points = torch.as_tensor(grid, dtype=problem.dtype, device=problem.device)
            Z = problem(points).detach().cpu().double().numpy().reshape(U.shape)
        finite = Z[np.isfinite(Z)]
        if finite.size and finite.min() > 0:
            ticks = np.geomspace(finite.min(), finite.max(), levels)
            ax.contour(U, V, Z, levels=ticks, cmap="viridis", linewidths=0.6)
        else:
            ax.contour(U, V, Z, levels=levels, cmap="viridis", linewidths=0.6)
    xs, ys = X[keep, i], X[keep, j]
    ax.plot(xs, ys, "-", color="C3", linewidth=1.0, label=str(result.get("method", "path")))
    ax.plot(xs[:1], ys[:1], "o", color="black", label="start")
    ax.plot(xs[-1:], ys[-1:], "*", color="C3", markersize=12, label="last iterate")
    if problem is not None and problem.x_opt is not None:
        opt = problem.x_opt.detach().cpu().double().numpy()
        ax.plot([opt[i]], [opt[j]], "x", color="black", markersize=9, label="optimum")
    ax.set_xlabel(f"x[{i}]")
    ax.set_ylabel(f"x[{j}]")
    ax.legend(loc="best", fontsize="small")
    return ax
