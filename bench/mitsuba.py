"""PRDPT against Mitsuba 3's own gradients on the paper's scenes (PRDPT, Table 2).

``python -m bench mitsuba`` runs the ``mitsuba`` experiment of
:mod:`bench.experiments` (its scenes, settings and iterations per scale are there):
``prdpt`` (black-box, two renders per iteration) and ``adam`` on the gradients of
Mitsuba's projective AD (``value_and_grad``: a forward render for the loss and an AD
render for the gradient) on the ``mi-*`` problems, and writes, per scene and method:
the image MSE at the final iterate, the parameter MSE to the target and the seconds
per iteration, beside the paper's Table 2 (which used 256 x 192 images at 32 spp on a
GPU; these problems default to 128 x 96 at 16 spp on the CPU). ``adam`` is
deterministic here (fixed render seed, no random draws), so it runs once per scene;
``prdpt`` runs once per seed. Monitoring evaluations are off, so the times are those of
the methods' own work.

Outputs in ``--out``: ``mitsuba_runs.csv`` (one row per run), ``mitsuba_table.md``
(the table beside the paper's) and ``mitsuba_shadows.png`` (parameter error against
iterations on ``mi-shadows``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .experiments import get_experiment, prdpt_paper

__all__ = ["run_mitsuba", "run_one"]


def run_one(
    problem: Any, method: str, options: dict[str, Any], seed: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Run one method on one problem from its start; time it and score the iterate.

    Parameters
    ----------
    problem : MitsubaProblem
    method : str
        ``"prdpt"`` or ``"adam"``.
    options : dict
        The method's options, ``max_iter`` included.
    seed : int
        ``random_state`` of the method.

    Returns
    -------
    row : dict
        ``scene``, the problem's ``problem_version``, ``method``, ``seed``;
        ``param_mse`` and ``image_mse`` at the final iterate, ``s_per_iter``,
        ``iterations``, ``nfev`` and, for ``adam``, ``grad_zero`` (the fraction of
        iterations with an exactly zero gradient) and ``grad_norm_median``.
    curve : numpy.ndarray
        The parameter MSE of the iterate after every iteration.
    """
    import torch

    import blackbox_opt

    curve: list[float] = []
    grads: list[float] = []

    def record(result: Any) -> None:
        curve.append(float(problem.param_error(result.x_last)))
        if method == "adam":
            grads.append(float(result.history["grad_norm"][-1]))

    problem.reset_counter()
    start = time.perf_counter()
    result = blackbox_opt.minimize(
        problem,
        method=method,
        random_state=seed,
        verbose=False,
        monitor=False,
        callback=record,
        **options,
    )
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        image_mse = float(problem(result.x_last))
    row = {
        "scene": problem.name,
        "problem_version": int(getattr(problem, "version", 1)),
        "method": method,
        "seed": seed,
        "iterations": result.nit,
        "nfev": result.nfev,
        "s_per_iter": elapsed / max(result.nit, 1),
        "image_mse": image_mse,
        "param_mse": float(problem.param_error(result.x_last)),
        "x": [round(float(v), 4) for v in result.x_last],
    }
    if method == "adam":
        finite = [g for g in grads if np.isfinite(g)]
        row["grad_zero"] = float(np.mean([g == 0.0 for g in finite])) if finite else float("nan")
        row["grad_norm_median"] = float(np.median(finite)) if finite else float("nan")
    return row, np.asarray(curve)


def _table(runs: Any) -> str:
    lines = [
        "| scene | method | runs | iterations | image MSE | param MSE (mean) | param MSE "
        "per seed | s/iter | paper image MSE | paper param MSE | paper s/iter |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (scene, method), group in runs.groupby(["scene", "method"], sort=False):
        paper = prdpt_paper(scene, method)
        per_seed = ", ".join(f"{v:.3g}" for v in group["param_mse"])
        lines.append(
            f"| {scene} | {method} | {len(group)} | {int(group['iterations'].iloc[0])} | "
            f"{group['image_mse'].mean():.3g} | {group['param_mse'].mean():.3g} | {per_seed} | "
            f"{group['s_per_iter'].mean():.3f} | {paper[0]:.3g} | {paper[1]:.3g} | "
            f"{paper[2]:.2f} |"
        )
    return "\n".join(lines)


def _plot(curves: dict[str, list[np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for (label, runs), colour in zip(curves.items(), ("C0", "C3"), strict=False):
        for i, curve in enumerate(runs):
            ax.semilogy(
                np.arange(1, len(curve) + 1),
                curve,
                color=colour,
                alpha=0.8,
                label=label if i == 0 else None,
            )
    paper = prdpt_paper("mi-shadows", "prdpt").param_mse
    ax.axhline(paper, color="k", ls="--", lw=1, label=f"paper PRDPT ({paper:.3g})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("parameter MSE")
    ax.set_title("mi-shadows: PRDPT against Mitsuba's AD gradients")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_mitsuba(
    out: str | Path = "results",
    *,
    seeds: int | None = None,
    quick: bool = False,
    scenes: Sequence[str] | None = None,
    methods: Sequence[str] = ("prdpt", "adam"),
    res: tuple[int, int] | None = None,
    spp: int | None = None,
) -> Any:
    """Run the comparison and write its table, runs and figure.

    Parameters
    ----------
    out : str or Path, default="results"
        Output folder.
    seeds : int, optional
        Seeds of ``prdpt`` per scene (default: the experiment's, 3); ``adam`` is
        deterministic: one run.
    quick : bool, default=False
        The experiment's ``quick`` scale (fewer iterations on every scene but
        mi-shadows, which keeps the paper's 400) instead of its ``full`` one.
    scenes : sequence of str, optional
        Scene ids (default: all five).
    methods : sequence of str, default=("prdpt", "adam")
    res, spp : optional
        Override the problems' resolution and samples per pixel.

    Returns
    -------
    pandas.DataFrame
        One row per run.

    Raises
    ------
    ValueError
        For a scene or method that the experiment does not have, or fewer than one seed.
    """
    import pandas as pd

    import problems

    experiment = get_experiment("mitsuba")
    scale = "quick" if quick else "full"
    specs = {spec.label: spec for spec in experiment.problem_specs(scale)}
    scenes = list(scenes or specs)
    for kind, chosen, known in (
        ("scenes", scenes, specs),
        ("methods", methods, experiment.methods),
    ):
        unknown = [name for name in chosen if name not in known]
        if unknown:
            raise ValueError(f"unknown {kind} {unknown}; choose from {list(known)}.")
    if seeds is not None and seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {seeds}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[np.ndarray]] = {}
    overrides = {k: v for k, v in (("res", res), ("spp", spp)) if v is not None}
    for scene in scenes:
        spec = specs[scene]
        problem = problems.make(spec.id, **{**spec.options, **overrides})
        print(
            f"{scene}: variant {problem.variant}, {problem.width}x{problem.height}, "
            f"{problem.spp} spp",
            flush=True,
        )
        for method in methods:
            options = experiment.params(method, scene)
            options["max_iter"] = experiment.iterations(scale, method, scene)
            if method == "adam" and not problem.differentiable:
                print(f"  adam skipped: {problem.not_differentiable_reason}", flush=True)
                continue
            for seed in experiment.run_seeds(scale, method, seeds):
                row, curve = run_one(problem, method, options, seed)
                rows.append(row)
                # written after every run, so an interrupted benchmark keeps its rows
                pd.DataFrame(rows).to_csv(out / "mitsuba_runs.csv", index=False)
                if scene == "mi-shadows":
                    curves.setdefault(method, []).append(curve)
                extra = ""
                if "grad_zero" in row:
                    extra = (
                        f", gradient zero in {row['grad_zero']:.0%} of iterations, median "
                        f"norm {row['grad_norm_median']:.3g}"
                    )
                print(
                    f"  {method} seed {seed}: param MSE {row['param_mse']:.3g}, image MSE "
                    f"{row['image_mse']:.3g}, {row['s_per_iter']:.3f} s/iter, "
                    f"x {row['x']}{extra}",
                    flush=True,
                )
    runs = pd.DataFrame(rows)
    runs.to_csv(out / "mitsuba_runs.csv", index=False)
    table = _table(runs)
    (out / "mitsuba_table.md").write_text(
        "PRDPT against Mitsuba's AD gradients (adam) beside the paper's Table 2.\n\n"
        + table
        + "\n"
    )
    if curves:
        _plot(curves, out / "mitsuba_shadows.png")
    print(table)
    return runs
