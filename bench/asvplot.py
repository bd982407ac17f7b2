"""Draw one asv benchmark across commits from asv's own result files, as a PNG.

``asv publish`` renders the results as an interactive HTML site (``asv preview``
serves it); ``python -m bench asv-plot BENCHMARK`` draws the same numbers as a static
figure for a page or a report: one line per parameter combination, commits in the order
of their dates on the x axis. It reads the JSON files that ``asv run`` writes under
``.asv/results/<machine>/``, in asv's documented results format (``result_columns``,
``results``), so it needs nothing but the files.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

__all__ = ["asv_series", "plot_asv"]


def asv_series(results_dir: str | Path, benchmark: str) -> tuple[list[str], dict[str, list]]:
    """One benchmark's values per commit, from asv's result files.

    Parameters
    ----------
    results_dir : str or Path
        asv's ``results_dir`` (``.asv/results``): one folder per machine.
    benchmark : str
        The benchmark's full name, e.g. ``"quality.TrackFinalLoss.track_final_loss"``.

    Returns
    -------
    commits : list of str
        Short hashes, oldest first (by the date asv recorded for the commit).
    series : dict
        ``{"param1, param2": [value per commit]}``, NaN where a commit lacks it.
    """
    runs = []
    for path in sorted(Path(results_dir).glob("*/*.json")):
        if path.name in ("machine.json", "benchmarks.json"):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        result = data.get("results", {}).get(benchmark)
        if result is None:
            continue
        row = dict(zip(data["result_columns"], result, strict=False))
        runs.append((data.get("date", 0), data["commit_hash"][:8], row))
    if not runs:
        raise ValueError(f"no results of {benchmark!r} under {results_dir}; run `make asv` first")
    runs.sort()
    commits = [commit for _, commit, _ in runs]
    series: dict[str, list] = {}
    for i, (_, _, row) in enumerate(runs):
        labels = [
            ", ".join(p.strip("'") for p in combo) for combo in itertools.product(*row["params"])
        ]
        for label, value in zip(labels, row["result"], strict=True):
            series.setdefault(label, [float("nan")] * len(runs))[i] = (
                float("nan") if value is None else float(value)
            )
    return commits, series


def plot_asv(
    benchmark: str,
    results_dir: str | Path = ".asv/results",
    out: str | Path | None = None,
    *,
    only: str | None = None,
    unit: str = "",
) -> Any:
    """Draw ``benchmark`` across commits; save it to ``out`` if given.

    Parameters
    ----------
    benchmark : str
        The benchmark's full name.
    results_dir : str or Path, default=".asv/results"
    out : str or Path, optional
        A PNG to write.
    only : str, optional
        Keep the lines whose label contains this text (e.g. ``"rect"``).
    unit : str, default=""
        The y axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    commits, series = asv_series(results_dir, benchmark)
    if only is not None:
        series = {k: v for k, v in series.items() if only in k}
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in series.items():
        ax.plot(range(len(commits)), values, marker="o", label=label)
    ax.set_xticks(range(len(commits)), commits, rotation=30)
    ax.set_xlabel("commit (oldest first)")
    ax.set_ylabel(unit or benchmark.rsplit(".", 1)[-1])
    ax.set_yscale("log")
    ax.set_title(benchmark, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out, dpi=110)
    return fig
