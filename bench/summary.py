"""The benchmark's summary: final loss and parameter error per problem and method.

``python -m bench summary`` prints, and saves as ``results/summary_<scale>.md``, one
table per experiment: per problem and method the median and interquartile range over
seeds of the final (best) loss and the parameter error, the evaluations used, the wall
time, and the method's rank on that problem (by median loss); then the ranking of the
methods by their mean rank over the experiment's problems. Runs that could not happen
are listed with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import NoResultsError
from .experiments import EXPERIMENTS

__all__ = ["summarize", "summary_markdown", "write_summary"]


def _iqr_text(values: Any) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{med:.3g} [{q1:.2g}, {q3:.2g}]"


def summarize(records: Any) -> Any:
    """One row per (experiment, problem, method) of finished runs.

    Parameters
    ----------
    records : pandas.DataFrame
        The runner's records (:func:`bench.runner.load_records`).

    Returns
    -------
    pandas.DataFrame
        ``experiment``, ``problem``, ``method``, ``seeds``, ``fun`` (median), ``fun_q1``,
        ``fun_q3``, ``param_error`` (median), ``param_error_q1``, ``param_error_q3``,
        ``nfev`` (median), ``wall_time`` (median, s) and ``rank`` (1 = lowest median
        loss on the problem).

    Examples
    --------
    >>> import pandas as pd
    >>> rec = pd.DataFrame({"experiment": "e", "problem": "p", "method": ["a", "a", "b"],
    ...                     "seed": [0, 1, 0], "status": "done", "fun": [1.0, 3.0, 0.5],
    ...                     "param_error": 0.0, "nfev": 10, "wall_time": 0.1})
    >>> summarize(rec)[["method", "seeds", "fun", "rank"]].to_string(index=False)
    'method  seeds  fun  rank\\n     b      1  0.5   1.0\\n     a      2  2.0   2.0'
    """
    import pandas as pd

    done = records[records["status"] == "done"]
    if done.empty:
        return pd.DataFrame(
            columns=[
                "experiment",
                "problem",
                "method",
                "seeds",
                "fun",
                "param_error",
                "nfev",
                "wall_time",
                "rank",
            ]
        )
    groups = done.groupby(["experiment", "problem", "method"], sort=False)
    table = groups.agg(
        seeds=("seed", "count"),
        fun=("fun", "median"),
        fun_q1=("fun", lambda v: v.quantile(0.25)),
        fun_q3=("fun", lambda v: v.quantile(0.75)),
        param_error=("param_error", "median"),
        param_error_q1=("param_error", lambda v: v.quantile(0.25)),
        param_error_q3=("param_error", lambda v: v.quantile(0.75)),
        nfev=("nfev", "median"),
        wall_time=("wall_time", "median"),
    ).reset_index()
    table["rank"] = table.groupby(["experiment", "problem"])["fun"].rank(method="min")
    return table.sort_values(["experiment", "problem", "rank"], kind="stable").reset_index(
        drop=True
    )


def summary_markdown(records: Any, scale: str = "quick") -> str:
    """The summary as Markdown: a table and a ranking per experiment.

    Parameters
    ----------
    records : pandas.DataFrame
        The runner's records.
    scale : str, default="quick"
        For the heading.

    Returns
    -------
    str
    """
    table = summarize(records)
    lines = [f"# Benchmark summary ({scale} scale)", ""]
    lines.append(
        "Median over seeds [interquartile range]; loss: the best loss of the run; "
        "parameter error: MSE to the known optimum."
    )
    for name in dict.fromkeys(list(records["experiment"])):
        experiment = EXPERIMENTS.get(name)
        sub = table[table["experiment"] == name]
        lines += ["", f"## {name}: {experiment.title if experiment else ''}".rstrip(": "), ""]
        lines.append(
            "| problem | method | seeds | loss | parameter error | evaluations | "
            "wall time (s) | rank |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        done = records[(records["experiment"] == name) & (records["status"] == "done")]
        for _, row in sub.iterrows():
            runs = done[(done["problem"] == row["problem"]) & (done["method"] == row["method"])]
            lines.append(
                f"| {row['problem']} | {row['method']} | {row['seeds']} | "
                f"{_iqr_text(runs['fun'])} | {_iqr_text(runs['param_error'])} | "
                f"{row['nfev']:.0f} | {row['wall_time']:.2f} | {row['rank']:.0f} |"
            )
        if not sub.empty:
            ranking = sub.groupby("method")["rank"].mean().sort_values()
            order = ", ".join(f"{m} ({r:.1f})" for m, r in ranking.items())
            lines += ["", f"Ranking by mean rank over problems: {order}."]
        not_run = records[(records["experiment"] == name) & (records["status"] != "done")]
        if not not_run.empty:
            lines += ["", "Not run:", ""]
            for (problem, method), runs in not_run.groupby(["problem", "method"], sort=False):
                reason = str(runs["reason"].iloc[0]).splitlines()[0][:160]
                lines.append(f"- {method} on {problem} ({runs['status'].iloc[0]}): {reason}")
    return "\n".join(lines) + "\n"


def write_summary(out: str | Path = "results", scale: str = "quick") -> tuple[Path, str]:
    """Write ``<out>/summary_<scale>.md`` from the runs at ``scale``.

    Parameters
    ----------
    out : str or Path, default="results"
    scale : str, default="quick"

    Returns
    -------
    path : Path
    text : str

    Raises
    ------
    NoResultsError
        When ``out`` has no runs at ``scale`` (a ``FileNotFoundError``).
    """
    from .runner import load_records

    records = load_records(out, scale)
    if records.empty:
        raise NoResultsError(f"no runs under {Path(out) / scale}; run `python -m bench run`.")
    text = summary_markdown(records, scale)
    path = Path(out) / f"summary_{scale}.md"
    path.write_text(text, encoding="utf-8")
    return path, text
