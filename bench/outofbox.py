"""Out-of-the-box quality: every gradient-free method with its defaults, on untuned problems.

Every setting in :mod:`bench.experiments` was found by small grids on the problems it
runs. A user's own problem gets no such grid, so this benchmark asks what the defaults
alone give: each gradient-free method, with no option but the budget and the seed, on

- three image problems that no setting of :mod:`bench.experiments` was tuned on, written
  here and not registered (:class:`Discs`: hard-edged discs, :class:`Triangles`: flat
  triangles, :class:`Threshold`: a thresholded band-limited pattern; 32 x 32 RGB, every
  parameter in [0, 1], the image MSE to a target rendered from known parameters, from a
  generic start);
- the registered benchmark functions (the problems tagged ``toy``), at their defaults.

The figure of merit is the median, over seeds, of the best loss found relative to the
start: ``(best - f_opt) / (f(x0) - f_opt)`` (``f_opt`` is 0 for the image problems and
the functions' known minimum otherwise), so 1 is no progress and 0 the optimum.
:func:`run_outofbox` writes one JSON record per run (a re-run skips the runs already
recorded with the same budget), the table of every run (``runs.csv``), the medians
(``medians.csv``, ``medians.md``) and the shortfalls against the goals below
(``shortfalls.md``):

- every method below :data:`IMAGE_GOAL` of the start loss on every image problem;
- PRDPT and ZeroGrads each at least as good as CMA-ES on every image problem;
- ZeroGrads never worse than random search on a benchmark function.

Run it with ``python -m bench outofbox`` (see ``--help``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from blackbox_opt import Problem

__all__ = [
    "IMAGE_GOAL",
    "IMAGE_PROBLEMS",
    "METHODS",
    "Discs",
    "Threshold",
    "Triangles",
    "function_problems",
    "make_outofbox_problem",
    "medians",
    "run_one",
    "run_outofbox",
    "shortfalls",
]

#: The gradient-free methods, each run with its defaults.
METHODS: tuple[str, ...] = ("zerograds", "prdpt", "spsa", "fd", "cmaes", "nevergrad", "random")

#: The goal for image problems: the median best loss below this fraction of the start.
IMAGE_GOAL = 0.3


def _pixel_grid(res: int, dtype: torch.dtype) -> torch.Tensor:
    """Pixel centres ``(res * res, 2)`` as ``(x, y)`` in [0, 1], row-major."""
    t = (torch.arange(res, dtype=dtype) + 0.5) / res
    y, x = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=-1)


class _ImageProblem(Problem):
    """An image-MSE problem on ``[0, 1]^D`` with a target rendered from known parameters."""

    tags = ("image", "plateau", "out-of-box")
    cost = "cheap"

    def __init__(self, x0: Any, x_opt: Any, *, res: int, dtype: torch.dtype, device: Any):
        super().__init__(x0, (0.0, 1.0), x_opt=x_opt, f_opt=0.0, dtype=dtype, device=device)
        self.res = int(res)
        self.image_shape = (self.res, self.res, 3)
        self.register_buffer("grid", _pixel_grid(self.res, self.dtype).to(self.device))
        with torch.no_grad():
            self.register_buffer("target", self._render(self.x_opt[None])[0])

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return ((self._render(X) - self.target) ** 2).mean(dim=(1, 2, 3))


class Discs(_ImageProblem):
    """Hard-edged discs painted in order over black: 6 parameters per disc.

    A disc's parameters are its centre ``(x, y)``, its radius ``0.05 + 0.3 r`` and its
    colour ``(R, G, B)``, all in [0, 1]. A pixel takes the colour of the last disc that
    covers its centre (no antialiasing), so the loss is piecewise constant.

    Parameters
    ----------
    n_discs : int, default=3
    res : int, default=32
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Examples
    --------
    >>> p = Discs()
    >>> p.dim, float(p(p.x_opt)), round(float(p(p.x0)), 4) > 0
    (18, 0.0, True)
    """

    def __init__(
        self, n_discs: int = 3, res: int = 32, *, dtype: torch.dtype = torch.float32, device=None
    ):
        self.n_discs = int(n_discs)
        k = torch.arange(self.n_discs, dtype=torch.float64)
        g = torch.Generator().manual_seed(11)
        truth = torch.rand(self.n_discs, 6, generator=g, dtype=torch.float64)
        truth[:, :2] = 0.2 + 0.6 * truth[:, :2]  # centres inside the image
        truth[:, 2] = 0.3 + 0.5 * truth[:, 2]
        start = torch.empty(self.n_discs, 6, dtype=torch.float64)
        start[:, 0] = (k + 1) / (self.n_discs + 1)  # a row of grey discs across the middle
        start[:, 1] = 0.5
        start[:, 2] = 0.4
        start[:, 3:] = 0.5
        self.bytes_per_point = 8 * res * res * (self.n_discs + 6)
        super().__init__(start.reshape(-1), truth.reshape(-1), res=res, dtype=dtype, device=device)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        P = X.reshape(X.shape[0], self.n_discs, 6)
        image = torch.zeros(X.shape[0], self.grid.shape[0], 3, dtype=X.dtype, device=X.device)
        for k in range(self.n_discs):  # painter's order over the few discs, batched in B
            d2 = ((self.grid[None] - P[:, k, None, :2]) ** 2).sum(-1)  # (B, HW)
            radius = 0.05 + 0.3 * P[:, k, 2:3]
            inside = (d2 < radius * radius)[..., None]
            image = torch.where(inside, P[:, k, None, 3:6], image)
        return image.reshape(X.shape[0], self.res, self.res, 3)


class Triangles(_ImageProblem):
    """Flat-coloured triangles painted in order over black: 9 parameters per triangle.

    A triangle's parameters are its three vertices ``(x, y)`` and its colour
    ``(R, G, B)``, all in [0, 1]; a pixel is inside when its centre is on the same side
    of all three edges (either orientation). Hard edges: the loss is piecewise constant.

    Parameters
    ----------
    n_triangles : int, default=3
    res : int, default=32
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Examples
    --------
    >>> p = Triangles()
    >>> p.dim, float(p(p.x_opt))
    (27, 0.0)
    """

    def __init__(
        self,
        n_triangles: int = 3,
        res: int = 32,
        *,
        dtype: torch.dtype = torch.float32,
        device=None,
    ):
        self.n_triangles = int(n_triangles)
        g = torch.Generator().manual_seed(23)
        u = torch.rand(self.n_triangles, 10, generator=g, dtype=torch.float64)
        centre = 0.3 + 0.4 * u[:, :2]
        radius = 0.15 + 0.15 * u[:, 2:3]
        angles = 2 * math.pi * (u[:, 3:4] + torch.arange(3) / 3 + 0.1 * (u[:, 4:7] - 0.5))
        vertices = centre[:, None] + radius[..., None] * torch.stack(
            [torch.cos(angles), torch.sin(angles)], dim=-1
        )
        truth = torch.cat([vertices.reshape(-1, 6), u[:, 7:10]], dim=-1)  # well-shaped ones
        start = torch.empty(self.n_triangles, 9, dtype=torch.float64)
        for k in range(self.n_triangles):  # small grey triangles in a row
            cx = (k + 1) / (self.n_triangles + 1)
            start[k, :6] = torch.tensor(
                [cx - 0.12, 0.62, cx + 0.12, 0.62, cx, 0.38], dtype=torch.float64
            )
        start[:, 6:] = 0.5
        self.bytes_per_point = 8 * res * res * (self.n_triangles + 8)
        super().__init__(start.reshape(-1), truth.reshape(-1), res=res, dtype=dtype, device=device)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        P = X.reshape(X.shape[0], self.n_triangles, 9)
        px, py = self.grid[None, :, 0], self.grid[None, :, 1]
        image = torch.zeros(X.shape[0], self.grid.shape[0], 3, dtype=X.dtype, device=X.device)
        for k in range(self.n_triangles):
            v = P[:, k, :6].reshape(-1, 3, 2)
            sides = []
            for i in range(3):
                a, b = v[:, i], v[:, (i + 1) % 3]
                cross = (b[:, 0:1] - a[:, 0:1]) * (py - a[:, 1:2]) - (b[:, 1:2] - a[:, 1:2]) * (
                    px - a[:, 0:1]
                )
                sides.append(cross)
            s = torch.stack(sides)  # (3, B, HW)
            inside = ((s > 0).all(0) | (s < 0).all(0))[..., None]
            image = torch.where(inside, P[:, k, None, 6:9], image)
        return image.reshape(X.shape[0], self.res, self.res, 3)


class Threshold(_ImageProblem):
    """A band-limited field thresholded into a two-colour pattern.

    The field is ``sum_k a_k cos(2 pi f_k . p) + b_k sin(2 pi f_k . p)`` over ``n_waves``
    fixed low frequencies ``f_k``, with the coefficients ``a_k = 2 u - 1`` given by
    parameters ``u`` in [0, 1]; a pixel is orange where the field is positive and dark
    blue elsewhere. Only the sign pattern is seen: the loss is piecewise constant, and
    scaling every coefficient changes nothing.

    Parameters
    ----------
    n_waves : int, default=6
        Frequencies; the dimension is ``2 n_waves``.
    res : int, default=32
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Examples
    --------
    >>> p = Threshold()
    >>> p.dim, float(p(p.x_opt))
    (12, 0.0)
    """

    def __init__(
        self, n_waves: int = 6, res: int = 32, *, dtype: torch.dtype = torch.float32, device=None
    ):
        self.n_waves = int(n_waves)
        g = torch.Generator().manual_seed(5)
        freqs = torch.randint(-3, 4, (self.n_waves, 2), generator=g).to(torch.float64)
        freqs[freqs.abs().sum(-1) == 0] = torch.tensor([1.0, 2.0], dtype=torch.float64)
        truth = torch.rand(2 * self.n_waves, generator=g, dtype=torch.float64)
        start = torch.full((2 * self.n_waves,), 0.5, dtype=torch.float64)
        start[0] = 0.8  # the first wave alone: stripes
        self.bytes_per_point = 8 * res * res * (2 * self.n_waves + 6)
        self._freqs = freqs
        super().__init__(start, truth, res=res, dtype=dtype, device=device)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        freqs = self._freqs.to(device=X.device, dtype=X.dtype)
        phase = 2 * math.pi * self.grid @ freqs.T  # (HW, K)
        basis = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)  # (HW, 2K)
        field = (2.0 * X - 1.0) @ basis.T  # (B, HW)
        fg = torch.tensor([1.0, 0.55, 0.1], dtype=X.dtype, device=X.device)
        bg = torch.tensor([0.1, 0.15, 0.4], dtype=X.dtype, device=X.device)
        image = torch.where((field > 0)[..., None], fg, bg)
        return image.reshape(X.shape[0], self.res, self.res, 3)


#: The image problems of this benchmark, by name.
IMAGE_PROBLEMS: dict[str, type[_ImageProblem]] = {
    "discs": Discs,
    "triangles": Triangles,
    "threshold": Threshold,
}


def function_problems() -> list[str]:
    """The registered benchmark functions: the problem ids tagged ``toy``.

    Returns
    -------
    list of str
    """
    from blackbox_opt import list_problems

    return [row["id"] for row in list_problems() if "toy" in row["tags"]]


def make_outofbox_problem(name: str) -> Problem:
    """Build one of this benchmark's image problems or a registered problem at its defaults.

    Parameters
    ----------
    name : str
        A key of :data:`IMAGE_PROBLEMS` or a registered problem id.

    Returns
    -------
    Problem
    """
    if name in IMAGE_PROBLEMS:
        return IMAGE_PROBLEMS[name]()
    from blackbox_opt import make_problem

    return make_problem(name)


def run_one(problem: str, method: str, seed: int, budget: int) -> dict:
    """Run ``method`` with its defaults on ``problem`` and return the record.

    Parameters
    ----------
    problem, method : str
    seed : int
        The run's ``random_state``.
    budget : int
        Evaluations.

    Returns
    -------
    dict
        ``problem``, ``method``, ``seed``, ``budget``, ``status`` (``done``,
        ``skipped``, ``failed``), ``start``, ``best``, ``f_opt``,
        ``relative``, ``nfev``, ``nfev_monitor``, ``time``, ``warnings`` (the messages
        of the warnings the run raised, which often say why a method fell short) and
        ``error``. ``skipped`` is for a missing optional dependency or a problem the
        method does not take (pycma's CMA-ES in 1-D).
    """
    from blackbox_opt import minimize
    from blackbox_opt.exceptions import MissingDependencyError, UnsupportedProblemError

    record: dict[str, Any] = dict(problem=problem, method=method, seed=seed, budget=budget)
    p = make_outofbox_problem(problem)
    with torch.no_grad():
        start = float(p(p.x0))
    f_opt = 0.0 if p.f_opt is None else p.f_opt
    record.update(start=start, f_opt=f_opt)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = minimize(p, method=method, budget=budget, random_state=seed, verbose=False)
        except (MissingDependencyError, UnsupportedProblemError) as exc:
            # a missing extra, or a problem the method cannot take (pycma in 1-D)
            return {**record, "status": "skipped", "error": str(exc)}
        except Exception as exc:  # a method's failure is a finding of this benchmark
            error = f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
            return {**record, "status": "failed", "error": error, "trace": trace}
    record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    best = float(res.fun)
    gap = start - f_opt
    record.update(
        status="done",
        best=best,
        relative=(best - f_opt) / gap if gap > 0 else math.nan,
        nfev=int(res.nfev),
        nfev_monitor=int(res.get("nfev_monitor", 0)),
        nit=int(res.nit),
        time=time.perf_counter() - t0,
        message=str(res.message),
    )
    return record


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_task(task: tuple[str, str, int, int, str]) -> dict:
    problem, method, seed, budget, path = task
    record = run_one(problem, method, seed, budget)
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
    os.replace(partial, path)  # a reader sees no file or the whole record
    return record


def _record_path(out: Path, problem: str, method: str, seed: int) -> Path:
    return out / "runs" / problem / method / f"seed{seed}.json"


def run_outofbox(
    out: str | os.PathLike = "results/outofbox",
    *,
    problems: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    seeds: int = 5,
    budget: int = 5000,
    jobs: int = 1,
    threads: int = 1,
    progress: bool = True,
) -> dict:
    """Run the benchmark, write its tables and return them.

    Parameters
    ----------
    out : path, default="results/outofbox"
        Output folder.
    problems : sequence of str, optional
        Default: the image problems, then :func:`function_problems`.
    methods : sequence of str, optional
        Default: :data:`METHODS`.
    seeds : int, default=5
        Seeds 0 to ``seeds - 1``.
    budget : int, default=5000
        Evaluations per run.
    jobs : int, default=1
        Worker processes.
    threads : int, default=1
        Torch intra-op threads per run.
    progress : bool, default=True
        Print one line per finished run.

    Returns
    -------
    dict
        ``records`` (every run's record), ``medians`` (``{problem: {method: median}}``),
        ``shortfalls`` (lines) and ``files`` (the paths written).
    """
    out = Path(out)
    problems = list(problems or [*IMAGE_PROBLEMS, *function_problems()])
    methods = list(methods or METHODS)
    if seeds < 1 or budget < 1 or jobs < 1 or threads < 1:
        raise ValueError("seeds, budget, jobs and threads must each be at least 1.")
    records, todo = [], []
    for problem in problems:
        for method in methods:
            for seed in range(seeds):
                path = _record_path(out, problem, method, seed)
                if path.exists():
                    old = json.loads(path.read_text(encoding="utf-8"))
                    if old.get("budget") == budget and old.get("status") != "failed":
                        records.append(old)
                        continue
                path.parent.mkdir(parents=True, exist_ok=True)
                todo.append((problem, method, seed, budget, str(path)))

    total = len(records) + len(todo)

    def note(r: dict) -> None:
        records.append(r)
        if progress:
            rel = r.get("relative", math.nan)
            t = r.get("time", math.nan)
            print(
                f"[{len(records)}/{total}] {r['problem']:10s} "
                f"{r['method']:10s} seed {r['seed']}: {r['status']} relative {rel:.4g} "
                f"({t:.1f} s)",
                flush=True,
            )

    if jobs == 1:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for task in todo:
                note(_run_task(task))
        finally:
            torch.set_num_threads(before)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(threads,)) as pool:
            futures = [pool.submit(_run_task, task) for task in todo]
            for future in as_completed(futures):
                note(future.result())
    return write_tables(out, records, problems, methods)


def medians(records: Sequence[dict]) -> dict[str, dict[str, float]]:
    """The median relative best loss per problem and method, over the finished runs.

    Parameters
    ----------
    records : sequence of dict
        Records of :func:`run_one`.

    Returns
    -------
    dict
        ``{problem: {method: median}}``; NaN where no run finished.
    """
    values: dict[str, dict[str, list[float]]] = {}
    for r in records:
        row = values.setdefault(r["problem"], {}).setdefault(r["method"], [])
        if r["status"] == "done":
            row.append(r["relative"])
    return {
        p: {m: statistics.median(v) if v else math.nan for m, v in ms.items()}
        for p, ms in values.items()
    }


def shortfalls(table: dict[str, dict[str, float]]) -> list[str]:
    """The goals of this benchmark that the medians miss, one line each.

    Parameters
    ----------
    table : dict
        :func:`medians`.

    Returns
    -------
    list of str
    """
    lines = []
    for problem, row in table.items():
        if problem in IMAGE_PROBLEMS:
            for method, value in row.items():
                if not value < IMAGE_GOAL:
                    lines.append(f"{problem}: {method} at {value:.3g} of the start (goal < 0.3)")
            cma = row.get("cmaes", math.nan)
            for method in ("prdpt", "zerograds"):
                value = row.get(method, math.nan)
                if method in row and "cmaes" in row and not value <= cma:
                    lines.append(f"{problem}: {method} {value:.3g} worse than cmaes {cma:.3g}")
        elif "zerograds" in row and "random" in row:
            zg, rnd = row["zerograds"], row["random"]
            if not zg <= rnd:
                lines.append(f"{problem}: zerograds {zg:.3g} worse than random {rnd:.3g}")
    return lines


def write_tables(
    out: Path, records: list[dict], problems: Sequence[str], methods: Sequence[str]
) -> dict:
    """Write ``runs.csv``, ``medians.csv``, ``medians.md`` and ``shortfalls.md`` in ``out``.

    Parameters
    ----------
    out : Path
    records : list of dict
    problems, methods : sequence of str
        The order of the table's rows and columns.

    Returns
    -------
    dict
        As :func:`run_outofbox`.
    """
    out.mkdir(parents=True, exist_ok=True)
    keep = set(problems), set(methods)
    records = [r for r in records if r["problem"] in keep[0] and r["method"] in keep[1]]
    records.sort(
        key=lambda r: (problems.index(r["problem"]), methods.index(r["method"]), r["seed"])
    )
    columns = [
        "problem", "method", "seed", "budget", "status", "start", "best", "f_opt",
        "relative", "nfev", "nfev_monitor", "nit", "time", "error",
    ]  # fmt: skip
    runs_csv = out / "runs.csv"
    with open(runs_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    table = medians(records)
    medians_csv = out / "medians.csv"
    with open(medians_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["problem", *methods])
        for p in problems:
            writer.writerow([p, *(table.get(p, {}).get(m, math.nan) for m in methods)])
    seeds = len({r["seed"] for r in records})
    budgets = sorted({r["budget"] for r in records})
    lines = [
        "Median best loss relative to the start, (best - f_opt) / (f(x0) - f_opt), "
        f"defaults only, {seeds} seed(s), budget {', '.join(map(str, budgets))}.",
        "",
        "| problem | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for p in problems:
        cells = [_cell(table.get(p, {}).get(m, math.nan)) for m in methods]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    failed = [r for r in records if r["status"] != "done"]
    for r in failed:
        lines.append(
            f"\n{r['problem']} / {r['method']} / seed {r['seed']}: {r['status']}: {r['error']}"
        )
    medians_md = out / "medians.md"
    medians_md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    missed = shortfalls(table)
    shortfalls_md = out / "shortfalls.md"
    shortfalls_md.write_text(
        "\n".join(f"- {line}" for line in missed) + "\n" if missed else "None.\n",
        encoding="utf-8",
    )
    return dict(
        records=records,
        medians=table,
        shortfalls=missed,
        files=[runs_csv, medians_csv, medians_md, shortfalls_md],
        text="\n".join(lines),
    )


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"
