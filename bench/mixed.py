"""Every method on the mixed ``tiles`` problem: do they recover the discrete parameters?

``python -m bench.mixed`` runs each method at 5 seeds and a budget of 3,000
evaluations on :class:`problems.tiles.Tiles` (9 categorical tiles of 4 colours, an
integer repeat count, two continuous offsets), single-threaded, and prints one row per
method: how many seeds recovered every discrete parameter, the mean fraction of
discrete parameters wrong, the median loss and offset error, and the seconds per run.
The settings below are the ones the table was made with; ``--methods`` picks rows and
``--out`` writes every run as JSON.

Examples
--------
.. code-block:: console

    $ python -m bench.mixed
    $ python -m bench.mixed --methods prdpt,cmaes --seeds 2 --budget 1000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["SETTINGS", "main", "run_one"]

#: Row name -> (method, method options, problem options). Scalar steps are a fraction
#: of the widths of the flat coordinates: one categorical score spans [0, 1].
SETTINGS: dict[str, tuple[str, dict, dict]] = {
    "prdpt": ("prdpt", {"sigma": 0.3, "lr": 0.05}, {}),
    "prdpt/index": ("prdpt", {"sigma": 0.3, "lr": 0.05}, {"encoding": "index"}),
    "zerograds": (
        "zerograds",
        {"sigma": 0.3, "lr": 0.02, "lr_surrogate": 3e-3, "k_phi": 10},
        {},
    ),
    "cmaes": ("cmaes", {}, {}),
    "cmaes/index": ("cmaes", {}, {"encoding": "index"}),
    "nevergrad": ("nevergrad", {"optimizer": "TwoPointsDE"}, {}),
    "spsa": ("spsa", {"update": "optimizer", "c": 0.6, "lr": 0.05}, {}),
    "spsa/defaults": ("spsa", {}, {}),
    "fd": ("fd", {}, {}),
    "random": ("random", {}, {}),
}


def run_one(row: str, seed: int, budget: int) -> dict:
    """Run one row of :data:`SETTINGS` at one seed.

    Parameters
    ----------
    row : str
    seed : int
    budget : int
        Evaluations.

    Returns
    -------
    dict
        ``row``, ``seed``, ``fun``, ``discrete_error`` (fraction of tiles and repeats
        wrong), ``recovered`` (all right), ``offset_error`` (largest offset error, in
        tile widths), ``params`` and ``seconds``.
    """
    from blackbox_opt import minimize
    from problems.tiles import Tiles

    method, options, problem_options = SETTINGS[row]
    problem = Tiles(**problem_options)
    start = time.perf_counter()
    res = minimize(problem, method, budget=budget, random_state=seed, verbose=False, **options)
    seconds = time.perf_counter() - start
    target = problem.space.from_vector(problem.x_opt)
    err = float(problem.param_error(res.x))
    offset = max(abs(res.params[k] - target[k]) for k in ("offset_x", "offset_y"))
    return dict(
        row=row,
        seed=seed,
        fun=res.fun,
        discrete_error=err,
        recovered=err == 0.0,
        offset_error=offset,
        params=res.params,
        seconds=seconds,
    )


def summarise(records: list[dict]) -> str:
    """A markdown table, one row per setting.

    Parameters
    ----------
    records : list of dict
        From :func:`run_one`.

    Returns
    -------
    str
    """
    lines = [
        "| method | recovered (seeds) | discrete wrong (mean) | loss (median) | "
        "offset error (median) | s / run |",
        "|---|---|---|---|---|---|",
    ]
    for row in dict.fromkeys(r["row"] for r in records):
        rs = [r for r in records if r["row"] == row]
        lines.append(
            f"| {row} | {sum(r['recovered'] for r in rs)}/{len(rs)} | "
            f"{statistics.mean(r['discrete_error'] for r in rs):.2f} | "
            f"{statistics.median(r['fun'] for r in rs):.2e} | "
            f"{statistics.median(r['offset_error'] for r in rs):.3f} | "
            f"{statistics.mean(r['seconds'] for r in rs):.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the table; see the module's docstring.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bench.mixed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--methods", default=",".join(SETTINGS), help="rows, comma-separated")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=None, help="write the runs as JSON")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.methods.split(",") if r.strip()]
    unknown = [r for r in rows if r not in SETTINGS]
    if unknown:
        parser.error(f"unknown rows {unknown}; rows: {', '.join(SETTINGS)}")
    torch.set_num_threads(1)
    records = []
    for row in rows:
        for seed in range(args.seeds):
            record = run_one(row, seed, args.budget)
            records.append(record)
            print(
                f"{row:>14} seed {seed}: discrete wrong {record['discrete_error']:.2f}, "
                f"loss {record['fun']:.2e}, {record['seconds']:.1f} s",
                flush=True,
            )
    print(f"\nTiles, budget {args.budget} evaluations, {args.seeds} seeds\n")
    print(summarise(records))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(records, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
