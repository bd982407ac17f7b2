"""The benchmark's figures, drawn from the tables :mod:`bench.runner` writes.

``python -m bench figures`` draws, for each scale that has results, PNG and PDF files
under ``results/figures/`` (``<scale>_<experiment>_<figure>.png``):

``convergence``
    Best loss against evaluations per method, median and interquartile band over
    seeds, one panel per problem (ZeroGrads' comparison on ``caustic`` and
    ``mlp-digits`` among them).
``iterate``
    The same for the loss of each method's iterate (its recommendation, monitored every
    iteration) instead of the best loss evaluated.
``grad_variance``
    The variance of the gradient magnitude over a sliding window of iterations, per
    method, on a log scale, against evaluations (ZeroGrads' Fig. 8).
``plateaus``
    Parameter error against evaluations for every method on the plateau problems,
    with a table beside the PRDPT paper's Table 2.
``scaling``
    Time per iteration against the dimension per method, marking the runs that could
    not happen (e.g. CMA-ES out of memory).
``strips``
    For problems that render: the start, each method's result (seed 0) and the target.
``meta``
    The MetaInitializer's quality-speed figure, from ``results/meta/curves.csv``
    (``python -m bench meta``) when it exists.

The curves of ``convergence`` and ``plateaus`` (:func:`run_curves`) are medians over
every seed: a run that ended early (a method's own stopping rule) keeps its last value
to the end of the method's longest run, so the last point of a curve is the median of
the runs' final values, the summary's median. Their x axis is the evaluations
(``nfev``, the budget's unit) by default, or the iterations (``x="nit"``).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .experiments import EXPERIMENTS, PRDPT_TABLE2, runner_scales

__all__ = [
    "LOG_FLOOR",
    "draw_all",
    "plot_convergence",
    "plot_grad_variance",
    "plot_meta",
    "plot_plateaus",
    "plot_scaling",
    "plot_strips",
    "run_curves",
]

#: The lowest value drawn on a log axis.
LOG_FLOOR = 1e-16

#: Points per curve on the common evaluation grid.
GRID_POINTS = 101

#: The x axes of the curves: a history column and its label.
X_AXES: dict[str, str] = {"nfev": "evaluations", "nit": "iteration"}

#: The y axes of the convergence figure: a history column and its label.
_Y_AXES: dict[str, str] = {"best": "best loss", "loss": "loss of the iterate"}


def _figure(n_panels: int, width: float = 4.2, height: float = 3.4, rows: int = 1):
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # headless; leave a user's backend alone
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    cols = max(1, math.ceil(n_panels / rows))
    # room for the legend beside a lone panel and for a title longer than one panel
    fig = Figure(figsize=(max(width * cols, 7.0), height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _few_ticks() -> Any:
    """At most five round ticks: evaluation counts such as 125000 do not collide."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(5)


def _palette(methods: Sequence[str]) -> dict[str, Any]:
    import seaborn as sns

    methods = sorted(set(methods))
    return dict(zip(methods, sns.color_palette("tab10", max(len(methods), 1)), strict=False))


def _legend(fig, palette: dict[str, Any], title: str = "method") -> None:
    import matplotlib.lines

    handles = [matplotlib.lines.Line2D([], [], color=c, label=m) for m, c in palette.items()]
    fig.legend(handles=handles, title=title, loc="outside right center")


def _save(fig, path: Path) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    paths = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=120)
    fig.savefig(paths[1])
    return paths


def _on_grid(
    x: np.ndarray, y: np.ndarray, grid: np.ndarray, running_min: bool = True
) -> np.ndarray:
    """``y`` (its running minimum) as a step function of ``x``, read at ``grid``.

    Before the first point: NaN; after the last: the last value (carried forward).
    """
    from blackbox_opt.compare import on_grid

    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if running_min:
        y = np.fmin.accumulate(y)
    return on_grid(x, y, grid)


def run_curves(
    runs: Any, y: str, grid: np.ndarray, x: str = "nfev", running_min: bool = False
) -> np.ndarray:
    """Each run's ``y`` against ``x``, read at ``grid``: the rows a band is drawn from.

    A run that ended before the longest of ``runs`` keeps its last value up to that
    run's end, so a median over the rows is over every run; past the end of the
    longest run the values are NaN.

    Parameters
    ----------
    runs : pandas.DataFrame
        History rows of one method on one problem (a run per ``seed``).
    y : str
        The column drawn, e.g. ``"best"`` or ``"param_error"``.
    grid : numpy.ndarray
        The points of the x axis.
    x : {"nfev", "nit"}, default="nfev"
        The column of the x axis.
    running_min : bool, default=False
        Draw the running minimum of ``y`` (the best so far).

    Returns
    -------
    numpy.ndarray
        Runs x grid points.
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}; got {x!r}.")
    rows = [
        _on_grid(r[x].to_numpy(float), r[y].to_numpy(float), grid, running_min)
        for _, r in runs.groupby("seed")
    ]
    curves = np.stack(rows)
    curves[:, grid > runs[x].max()] = np.nan
    return curves


def _band(ax, x, values: np.ndarray, color, label: str, log: bool = True) -> None:
    """Median line and interquartile band of ``values`` (runs x points)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no value there
        med = np.nanmedian(values, 0)
        lo, hi = np.nanpercentile(values, 25, 0), np.nanpercentile(values, 75, 0)
    if log:
        med, lo, hi = (np.clip(v, LOG_FLOOR, None) for v in (med, lo, hi))
    ax.plot(x, med, color=color, label=label, lw=1.6)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)


def plot_convergence(
    history: Any, path: Path, title: str = "", x: str = "nfev", y: str = "best"
) -> list[Path]:
    """Best loss against evaluations, median and quartiles over seeds, per problem.

    Parameters
    ----------
    history : pandas.DataFrame
        The runner's table for one experiment.
    path : Path
        Output path without suffix (PNG and PDF are written).
    title : str, optional
    x : {"nfev", "nit"}, default="nfev"
        The x axis: evaluations or iterations (see :func:`run_curves`).
    y : {"best", "loss"}, default="best"
        The best loss evaluated so far, or the loss of the method's iterate (its
        recommendation, monitored every iteration), which for a sampling method
        such as PRDPT can lie above its best sample.

    Returns
    -------
    list of Path
    """
    if y not in _Y_AXES:
        raise ValueError(f"y must be one of {sorted(_Y_AXES)}; got {y!r}.")
    problems = list(dict.fromkeys(history["problem"]))
    palette = _palette(history["method"])
    fig, axes = _figure(len(problems), rows=1 if len(problems) <= 4 else 2)
    for ax, problem in zip(axes, problems, strict=True):
        sub = history[history["problem"] == problem]
        grid = np.linspace(0, sub[x].max(), GRID_POINTS)
        for method, runs in sub.groupby("method", sort=True):
            curves = run_curves(runs, y, grid, x, running_min=y == "best")
            _band(ax, grid, curves, palette[method], method)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(_few_ticks())
        ax.set_title(problem)
        ax.set_xlabel(X_AXES[x])
        ax.set_ylabel(_Y_AXES[y])
        ax.grid(True, alpha=0.3)
    _legend(fig, palette)
    what = _Y_AXES[y][0].upper() + _Y_AXES[y][1:]
    fig.suptitle(title or f"{what} against {X_AXES[x]} (median, band: quartiles)")
    return _save(fig, path)


def plot_grad_variance(history: Any, path: Path, window: int = 20, x: str = "nfev") -> list[Path]:
    """Variance of the gradient magnitude over a sliding window of iterations.

    Parameters
    ----------
    history : pandas.DataFrame
        The runner's table for one experiment (methods without a gradient estimate,
        whose ``grad_norm`` is NaN, are left out).
    path : Path
        Output path without suffix.
    window : int, default=20
        Iterations per window.
    x : {"nfev", "nit"}, default="nfev"
        The x axis: the evaluations at each window's last iteration (methods spend
        different numbers per iteration), or the iterations.

    Returns
    -------
    list of Path
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}; got {x!r}.")
    data = history[history["grad_norm"].notna()]
    problems = list(dict.fromkeys(data["problem"])) or ["(no gradients)"]
    palette = _palette(data["method"]) if len(data) else {}
    fig, axes = _figure(len(problems), rows=1 if len(problems) <= 4 else 2)
    for ax, problem in zip(axes, problems, strict=True):
        sub = data[data["problem"] == problem]
        for method, runs in sub.groupby("method", sort=True):
            n = int(runs.groupby("seed")["nit"].max().min()) + 1
            rows, axis = [], None
            for _, r in runs.groupby("seed"):
                r = r.sort_values("nit")
                g = r["grad_norm"].to_numpy(float)[:n]
                var = _rolling_var(g, window)
                rows.append(np.pad(var, (0, n - len(var)), constant_values=np.nan))
                if axis is None:  # the same evaluations per iteration in every seed
                    axis = r[x].to_numpy(float)[:n]
            axis = np.pad(axis, (0, n - len(axis)), constant_values=np.nan)
            _band(ax, axis, np.stack(rows), palette[method], method)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(_few_ticks())
        ax.set_title(problem)
        ax.set_xlabel(X_AXES[x])
        ax.set_ylabel(f"variance of |gradient| ({window} iterations)")
        ax.grid(True, alpha=0.3)
    _legend(fig, palette)
    fig.suptitle("Variance of the gradient magnitude over the run (ZeroGrads Fig. 8)")
    return _save(fig, path)


def _rolling_var(g: np.ndarray, window: int) -> np.ndarray:
    if len(g) < window:
        return np.full(len(g), np.nan)
    c1 = np.concatenate([[0.0], np.cumsum(g)])
    c2 = np.concatenate([[0.0], np.cumsum(g * g)])
    s1, s2 = c1[window:] - c1[:-window], c2[window:] - c2[:-window]
    var = np.maximum(s2 / window - (s1 / window) ** 2, 0.0)
    return np.concatenate([np.full(window - 1, np.nan), var])


def plot_plateaus(
    history: Any, records: Any, path: Path, x: str = "nfev"
) -> tuple[list[Path], str]:
    """Parameter error against evaluations per method, and the table beside PRDPT's.

    Parameters
    ----------
    history, records : pandas.DataFrame
        The runner's tables for the plateau experiment.
    path : Path
        Output path without suffix; the table goes to ``<path>.md`` as well.
    x : {"nfev", "nit"}, default="nfev"
        The x axis: evaluations or iterations (see :func:`run_curves`).

    Returns
    -------
    paths : list of Path
    table : str
        Markdown: median final image MSE and parameter MSE and seconds per iteration of
        ``prdpt`` and ``adam`` per problem, beside the paper's values.
    """
    data = history[history["param_error"].notna()]
    problems = list(dict.fromkeys(data["problem"]))
    palette = _palette(data["method"])
    fig, axes = _figure(max(len(problems), 1), rows=1 if len(problems) <= 4 else 2)
    for ax, problem in zip(axes, problems, strict=False):
        sub = data[data["problem"] == problem]
        grid = np.linspace(0, sub[x].max(), GRID_POINTS)
        for method, runs in sub.groupby("method", sort=True):
            curves = run_curves(runs, "param_error", grid, x)
            _band(ax, grid, curves, palette[method], method)
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel(X_AXES[x])
        ax.set_ylabel("parameter MSE")
        ax.grid(True, alpha=0.3)
    _legend(fig, palette)
    fig.suptitle("Plateaus: parameter error from a flat start (median, band: quartiles)")
    paths = _save(fig, path)
    table = plateau_table(records)
    md = path.with_suffix(".md")
    md.write_text(table, encoding="utf-8")
    return [*paths, md], table


def plateau_table(records: Any) -> str:
    """Markdown table of ``prdpt`` and ``adam`` beside PRDPT's Table 2.

    Parameters
    ----------
    records : pandas.DataFrame
        The runner's records for the plateau experiment.

    Returns
    -------
    str
    """
    done = records[records["status"] == "done"]
    lines = [
        "| task | problem | method | image MSE | parameter MSE | s/iter | "
        "paper image MSE | paper parameter MSE | paper s/iter |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, paper in PRDPT_TABLE2.items():
        for problem in paper["problems"]:
            for method in ("prdpt", "adam"):
                sub = done[(done["problem"] == problem) & (done["method"] == method)]
                skipped = records[
                    (records["problem"] == problem)
                    & (records["method"] == method)
                    & (records["status"] != "done")
                ]
                if len(sub):
                    per_iter = (sub["wall_time"] / sub["nit"].clip(lower=1)).median()
                    ours = (
                        f"{sub['fun'].median():.3g} | {sub['param_error'].median():.3g} | "
                        f"{per_iter:.3g}"
                    )
                elif len(skipped):
                    ours = "not run | " + skipped["reason"].iloc[0].split(":")[0] + " | -"
                else:
                    continue
                img, par, sec = paper[method]
                lines.append(
                    f"| {task} | {problem} | {method} | {ours} | {img:.3g} | {par:.3g} | {sec} |"
                )
    return "\n".join(lines) + "\n"


def plot_scaling(history: Any, records: Any, path: Path) -> list[Path]:
    """Time per iteration against the dimension, per method.

    Parameters
    ----------
    history, records : pandas.DataFrame
        The runner's tables for the scaling experiment.
    path : Path
        Output path without suffix.

    Returns
    -------
    list of Path
    """
    palette = _palette(records["method"])
    fig, axes = _figure(1, width=6.0, height=4.2)
    ax = axes[0]
    dims = _dims(records)
    done = records[records["status"] == "done"]
    for method, runs in done.groupby("method", sort=True):
        per_iter = []
        for _, r in runs.iterrows():
            h = history[
                (history["problem"] == r["problem"])
                & (history["method"] == method)
                & (history["seed"] == r["seed"])
            ].sort_values("nit")
            steps = np.diff(h["time"].to_numpy(float))
            if len(steps):
                per_iter.append((dims[r["problem"]], float(np.median(steps))))
        if per_iter:
            frame = sorted(per_iter)
            xs = sorted({d for d, _ in frame})
            ys = [np.median([t for d, t in frame if d == x]) for x in xs]
            ax.plot(xs, ys, "o-", color=palette[method], label=method)
    top = ax.get_ylim()[1] if len(done) else 1.0
    for _, r in records[records["status"] != "done"].iterrows():
        ax.plot(dims.get(r["problem"], np.nan), top, "x", color=palette[r["method"]], ms=10, mew=2)
        ax.annotate(
            f"{r['method']}: not run",
            (dims.get(r["problem"], np.nan), top),
            fontsize=7,
            rotation=20,
            xytext=(3, -12),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("dimension D")
    ax.set_ylabel("seconds per iteration (median)")
    ax.grid(True, which="both", alpha=0.3)
    _legend(fig, palette)
    fig.suptitle("Time per iteration against D (texture, res 16 to 256; x: could not run)")
    return _save(fig, path)


def _dims(records: Any) -> dict[str, float]:
    """Dimension per problem label (from finished runs, else by building the problem)."""
    import blackbox_opt

    dims: dict[str, float] = {}
    if "dim" in records:
        for label, dim in zip(records["problem"], records["dim"], strict=True):
            if isinstance(dim, int | float) and not math.isnan(dim):
                dims[label] = float(dim)
    for _, r in records.drop_duplicates("problem").iterrows():
        if r["problem"] not in dims:
            try:
                options = r["problem_options"] if isinstance(r["problem_options"], dict) else {}
                dims[r["problem"]] = float(
                    blackbox_opt.make_problem(r["problem_id"], **options).dim
                )
            except Exception:  # an unavailable problem: no point on the axis
                dims[r["problem"]] = math.nan
    return dims


def plot_strips(records: Any, out: Path, path: Path) -> list[Path]:
    """Start, each method's result (seed 0) and target images of the rendering problems.

    Parameters
    ----------
    records : pandas.DataFrame
        The runner's records for one experiment.
    out : Path
        The results folder (where the runs' ``.x.pt`` files are).
    path : Path
        Output path without suffix.

    Returns
    -------
    list of Path
    """
    import torch

    import blackbox_opt

    from .runner import Task

    done = records[(records["status"] == "done") & (records["seed"] == 0)]
    rows = []
    for label, runs in done.groupby("problem", sort=False):
        first = runs.iloc[0]
        options = first["problem_options"] if isinstance(first["problem_options"], dict) else {}
        try:
            problem = blackbox_opt.make_problem(first["problem_id"], **options)
        except Exception:
            continue
        if problem.image_shape is None:
            continue
        images = [("start", problem.render(problem.x0), float(problem(problem.x0)))]
        for _, r in runs.sort_values("method").iterrows():
            fields = {k: r[k] for k in Task.__dataclass_fields__}
            x_path = Task(**fields).stem(out).with_suffix(".x.pt")
            if x_path.exists():
                x = torch.load(x_path, weights_only=True).to(problem.dtype)
                images.append((r["method"], problem.render(x), float(r["fun"])))
        if problem.x_opt is not None:
            images.append(("target", problem.render(problem.x_opt), 0.0))
        rows.append((label, images))
    if not rows:
        return []
    cols = max(len(images) for _, images in rows)
    fig, axes = _figure(len(rows) * cols, width=1.9, height=2.1, rows=len(rows))
    axes = np.asarray(axes).reshape(len(rows), cols)
    for (label, images), row_axes in zip(rows, axes, strict=True):
        for ax in row_axes:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax, (name, image, loss) in zip(row_axes, images, strict=False):
            image = image.detach().cpu().clamp(0, 1).numpy()
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(image)
            ax.set_title(f"{label}\n{name} ({loss:.2g})", fontsize=7)
        for ax in row_axes[len(images) :]:
            ax.set_visible(False)
    fig.suptitle("Start, each method's result (seed 0, loss in brackets) and target")
    return _save(fig, path)


def plot_meta(csv: Path, path: Path) -> list[Path]:
    """The MetaInitializer's quality-speed figure: loss against steps and wall time.

    Parameters
    ----------
    csv : Path
        ``curves.csv`` from ``python -m bench meta`` (columns ``family``, ``regime``,
        ``member``, ``step``, ``time``, ``loss``).
    path : Path
        Output path without suffix.

    Returns
    -------
    list of Path
    """
    import pandas as pd

    data = pd.read_csv(csv)
    families = list(dict.fromkeys(data["family"]))
    palette = _palette(data["regime"])
    fig, axes = _figure(2 * len(families), rows=len(families))
    axes = np.asarray(axes).reshape(len(families), 2)
    for (ax_steps, ax_time), family in zip(axes, families, strict=True):
        sub = data[data["family"] == family]
        for regime, runs in sub.groupby("regime"):
            curve = runs.groupby("step").agg(loss=("loss", "median"), time=("time", "median"))
            x_steps = curve.index.to_numpy(float).copy()
            x_steps[x_steps == 0] = 0.5  # the start on a log axis
            x_time = curve["time"].to_numpy(float).copy()
            positive = sub["time"][sub["time"] > 0]
            # no time spent (the general model): drawn at half the shortest time measured
            x_time[x_time <= 0] = 0.5 * positive.min() if len(positive) else 1e-6
            for ax, x in ((ax_steps, x_steps), (ax_time, x_time)):
                ax.plot(
                    x,
                    curve["loss"].clip(lower=LOG_FLOOR),
                    "o-" if len(x) < 3 else "-",
                    color=palette[regime],
                    label=regime,
                    ms=4,
                )
        for ax, xlabel in ((ax_steps, "steps"), (ax_time, "wall time (s)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("held-out loss (median)")
            ax.set_title(family)
            ax.grid(True, which="both", alpha=0.3)
    _legend(fig, palette, "regime")
    fig.suptitle("Quality against speed: general, overfit, fine-tuned, meta-learned")
    return _save(fig, path)


def draw_all(
    out: str | Path = "results", scales: Sequence[str] | None = None, x: str = "nfev"
) -> list:
    """Draw every figure for which results exist.

    Parameters
    ----------
    out : str or Path, default="results"
    scales : sequence of str, optional
        Default: every scale of the runner's experiments
        (:func:`bench.experiments.runner_scales`).
    x : {"nfev", "nit"}, default="nfev"
        The x axis of the convergence and plateau figures.

    Returns
    -------
    list of Path
        The files written.
    """
    from .runner import load_history, load_records

    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}; got {x!r}.")
    out = Path(out)
    written: list[Path] = []
    figures = out / "figures"
    for scale in runner_scales() if scales is None else scales:
        if not (out / scale / "runs").exists():
            continue
        history, records = load_history(out, scale), load_records(out, scale)
        if records.empty:
            continue
        records = _with_options(records)
        for name, experiment in EXPERIMENTS.items():
            h = history[history["experiment"] == name]
            r = records[records["experiment"] == name]
            if r.empty:
                continue
            stem = figures / f"{scale}_{name}"
            if "convergence" in experiment.figures and not h.empty:
                written += plot_convergence(
                    h, stem.with_name(stem.name + "_convergence"), experiment.title, x
                )
            if "iterate" in experiment.figures and not h.empty:
                written += plot_convergence(
                    h, stem.with_name(stem.name + "_iterate"), experiment.title, x, y="loss"
                )
            if "grad_variance" in experiment.figures and not h.empty:
                written += plot_grad_variance(h, stem.with_name(stem.name + "_grad_variance"))
            if "plateaus" in experiment.figures and not h.empty:
                written += plot_plateaus(h, r, stem.with_name(stem.name + "_plateaus"), x)[0]
            if "scaling" in experiment.figures:
                written += plot_scaling(h, r, stem.with_name(stem.name + "_scaling"))
            if "strips" in experiment.figures:
                written += plot_strips(r, out, stem.with_name(stem.name + "_strips"))
    meta = out / "meta" / "curves.csv"
    if meta.exists():
        written += plot_meta(meta, figures / "meta_regimes")
    return written


def _with_options(records: Any) -> Any:
    """Records read back from JSON keep ``problem_options`` and ``params`` as dicts."""
    records = records.copy()
    for column in ("problem_options", "params"):
        if column in records:
            records[column] = [v if isinstance(v, dict) else {} for v in records[column]]
    return records
