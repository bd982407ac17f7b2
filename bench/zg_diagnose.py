"""Diagnose a ZeroGrads run: the surrogate's fit and its gradient against a reference.

During a run, every ``every`` iterations, :func:`diagnose` records at the current
iterate ``theta`` and the sampling scale ``sigma`` of the iteration just taken:

* the surrogate's fit on fresh samples ``theta - sigma eps`` (``eps ~ N(0, I)``), with
  the targets the method fits (``log(1 + y)`` under ``log_targets``): ``r2`` (one minus
  the MSE over the targets' variance, the plain fit error) and ``corr`` (Pearson
  correlation, which ignores an offset or a scale the gradient does not see);
* ``cos_ref``: the cosine between the surrogate's gradient at ``theta`` and a
  high-sample PRDPT estimate of the gradient of the smoothed loss at the same
  ``theta`` and ``sigma`` (the mean of two independent estimates of ``n_ref`` antithetic
  pairs each; ``cos_ref_noise`` is the cosine between the two, the reference's own
  noise: with ``c`` that cosine, one estimate has an expected cosine about
  ``sqrt(c)`` to the exact gradient);
* ``cos_step``: the cosine between the step the run actually took over the last
  iteration and the reference's descent direction; ``cos_opt``: of the surrogate's
  descent direction with the direction to the known optimum (where the problem has one);
* the surrogate's health (:func:`surrogate_health`): ``w_first`` and ``w_rest`` (the
  norm of the first layer's weights and of all the others), ``active_min`` (the
  smallest fraction of positive pre-activations of a hidden layer on the fresh
  samples) and ``grad_norm`` (of the surrogate's gradient at ``theta``);
* optionally ``cos_fd``: against central finite differences of the plain loss
  (``2 D`` evaluations, step ``fd_step``);
* ``loss`` (the plain loss at ``theta``), ``smoothed`` (the mean loss of the reference
  samples, the smoothed loss), ``sigma``, ``step`` (the last iteration's step length)
  and ``nfev``.

The diagnostic's own evaluations go to the problem directly and are not charged to the
run: the problem's evaluation counter is restored after each.

Rerun the caustic diagnosis with (40,000 evaluations with the reference every 200
iterations took 15 minutes on a loaded 2-core machine; ``--n-ref 0 --n-fit 0`` records
only the trajectory)::

    PYTHONPATH=$PWD python -m bench.zg_diagnose --budget 40000 --every 200
    PYTHONPATH=$PWD python -m bench.zg_diagnose --budget 40000 --set sigma=0.0125  # paper's
    PYTHONPATH=$PWD python -m bench.zg_diagnose --budget 40000 --set sigma=0.0005 \\
        --set schedule=constant --out zg.json

The start of a long run, with the long run's schedules (sigma held for its first half
here), and a remedy beside it (about 40 minutes each to 400,000 evaluations, two at a
time on a 2-core machine)::

    PYTHONPATH=$PWD python -m bench.zg_diagnose --budget 2000000 --stop-at 420000 \\
        --every 100 --n-ref 250 --n-fit 64 --out base.json
    PYTHONPATH=$PWD python -m bench.zg_diagnose --budget 2000000 --stop-at 420000 \\
        --every 100 --n-ref 100 --n-fit 64 --set fit_clip=3.0 --out clip.json

``--set NAME=VALUE`` overrides one of the ``highdim`` experiment's caustic settings of
ZeroGrads (values are parsed as Python literals).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from blackbox_opt.optimizers.zerograds import ZeroGrads
from blackbox_opt.smoothing import draw_offsets, smoothed_gradient

from .experiments import get_experiment

__all__ = [
    "CAUSTIC_SETTINGS",
    "diagnose",
    "format_table",
    "main",
    "reference_gradient",
    "surrogate_health",
]

#: ZeroGrads' settings on the caustic in the ``highdim`` experiment.
CAUSTIC_SETTINGS: dict[str, Any] = dict(
    get_experiment("highdim").hyperparams["zerograds"]["caustic"]
)


def _uncounted(problem: Any, X: torch.Tensor) -> torch.Tensor:
    """Evaluate ``X`` on the problem without changing its evaluation count."""
    count = problem.__dict__.get("n_evaluations")
    with torch.no_grad():
        y = problem.evaluate(X.to(dtype=problem.dtype, device=problem.device))
    if count is not None:
        problem.__dict__["n_evaluations"] = count
    return y


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom > 0 else float("nan")


def reference_gradient(
    problem: Any,
    theta: torch.Tensor,
    sigma: float,
    n_pairs: int,
    *,
    generator: torch.Generator,
    chunk: int = 256,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Two independent PRDPT estimates of the smoothed loss's gradient at ``theta``.

    Parameters
    ----------
    problem : Problem
        Evaluated directly, without counting.
    theta : torch.Tensor of shape (D,)
    sigma : float
        The smoothing scale.
    n_pairs : int
        Antithetic pairs per estimate.
    generator : torch.Generator
        The diagnostic's own random source (not the run's).
    chunk : int, default=256
        Pairs drawn and evaluated at a time.

    Returns
    -------
    g1, g2 : torch.Tensor of shape (D,)
        The two estimates (radial sampler).
    smoothed : float
        The mean loss over all the samples: an estimate of the smoothed loss.
    """
    D = theta.numel()
    estimates, total, count = [], 0.0, 0
    for _ in range(2):
        acc = torch.zeros(D, dtype=torch.float64)
        done = 0
        while done < n_pairs:
            n = min(chunk, n_pairs - done)
            tau, w = draw_offsets(n, D, sigma, generator=generator, dtype=torch.float64)
            y = _uncounted(problem, theta.double()[None] - tau).double()
            acc += smoothed_gradient(w, y) * (2 * n)
            total += float(y.sum())
            count += y.numel()
            done += n
        estimates.append(acc / (2 * n_pairs))
    return estimates[0], estimates[1], total / count


def surrogate_health(optimizer: ZeroGrads, X: torch.Tensor) -> dict:
    """The state of the surrogate's network: its weights' sizes and its live units.

    Parameters
    ----------
    optimizer : ZeroGrads
        Started.
    X : torch.Tensor of shape (B, D)
        Points (unnormalised) at which to count the units.

    Returns
    -------
    dict
        ``weight_norms``: the Frobenius norm of each layer's weight; ``w_first`` and
        ``w_rest``: the first layer's and the root sum of squares of the others;
        ``active``: per hidden layer, the fraction of units whose pre-activation is
        positive, over the points; ``active_min``: the smallest of those. A LeakyReLU
        unit below zero passes only ``negative_slope`` of its gradient (0.01 by
        default), so a layer with few active units flattens the surrogate.
    """
    surrogate = optimizer.surrogate_
    norms = [float(layer.weight.detach().double().norm()) for layer in surrogate.layers]
    active = []
    with torch.no_grad():
        h = surrogate.encode(optimizer._normalise(X.to(optimizer._theta.dtype)))
        for layer in surrogate.layers[:-1]:
            z = layer(h)
            active.append(float((z > 0).double().mean()))
            h = torch.nn.functional.leaky_relu(z, surrogate.negative_slope)
    return {
        "weight_norms": norms,
        "w_first": norms[0],
        "w_rest": math.sqrt(sum(n * n for n in norms[1:])),
        "active": active,
        "active_min": min(active),
    }


def _fd_gradient(problem: Any, theta: torch.Tensor, h: float) -> torch.Tensor:
    D = theta.numel()
    E = torch.eye(D, dtype=theta.dtype) * h
    up = _uncounted(problem, theta[None] + E).double()
    down = _uncounted(problem, theta[None] - E).double()
    return (up - down) / (2 * h)


def diagnose(
    optimizer: ZeroGrads,
    problem: Any,
    *,
    budget: int,
    every: int = 100,
    n_ref: int = 1000,
    n_fit: int = 256,
    fd_step: float | None = None,
    seed: int = 12345,
    stop_at: int | None = None,
    callbacks: Sequence[Callable[[dict], Any]] = (),
) -> list[dict]:
    """Run ``optimizer`` on ``problem`` and record its diagnostics every ``every`` iterations.

    Parameters
    ----------
    optimizer : ZeroGrads
        Unfitted; it is fitted here with ``budget``.
    problem : Problem
    budget : int
        The run's evaluations (the diagnostic's are not counted).
    every : int, default=100
        Iterations between records (the first iteration is always recorded, and the
        last one).
    n_ref : int, default=1000
        Antithetic pairs of each of the two reference estimates; 0 skips the reference.
    n_fit : int, default=256
        Fresh samples of the fit error; 0 skips the fit.
    fd_step : float, optional
        With a step, also the cosine to central finite differences of the plain loss.
    seed : int, default=12345
        The diagnostic's random source (the run keeps its own).
    stop_at : int, optional
        Stop the run where another iteration would pass this many evaluations; its
        schedules still follow ``budget``, so the first part of a long run is diagnosed
        at the cost of that part alone.
    callbacks : sequence of callable, optional
        Each is called with every record as it is made (e.g. to print it).

    Returns
    -------
    list of dict
        One record per diagnosis, with the keys described in the module documentation.
    """
    gen = torch.Generator().manual_seed(seed)
    records: list[dict] = []
    previous: dict[str, torch.Tensor | None] = {"theta": None}
    t0 = time.perf_counter()

    def record(result: Any) -> None:
        state = optimizer._state
        theta = optimizer._theta.detach().clone()
        before = previous["theta"]
        previous["theta"] = theta
        nit = state.nit
        last = state.nfev + optimizer._batch > (budget if stop_at is None else stop_at)
        if not (nit == 1 or nit % every == 0 or last):
            return
        tic = time.perf_counter()
        sigma = optimizer._sigma
        sigma = float(sigma.mean()) if torch.is_tensor(sigma) else float(sigma)
        row: dict[str, Any] = {"nit": nit, "nfev": state.nfev, "sigma": sigma}
        row["loss"] = float(_uncounted(problem, theta[None])[0])
        if n_fit > 0:  # (a) the fit on fresh samples, in the targets the method fits
            X = theta[None] - sigma * torch.randn(n_fit, theta.numel(), generator=gen)
            y = _uncounted(problem, X).double()
            if optimizer.log_targets:
                y = torch.log1p(y)
            pred = optimizer.predict(X).double()
            var = float(y.var(unbiased=False))
            row["r2"] = 1.0 - float(((pred - y) ** 2).mean()) / var if var > 0 else math.nan
            row["corr"] = float(torch.corrcoef(torch.stack([pred, y]))[0, 1])
        g = optimizer.surrogate_gradient().double()
        row["grad_norm"] = float(g.norm())
        row.update(surrogate_health(optimizer, X if n_fit > 0 else theta[None]))
        if before is not None:
            row["step"] = float((theta - before).norm())
        if n_ref > 0:  # (b) the surrogate's gradient against the reference
            g1, g2, smoothed = reference_gradient(problem, theta, sigma, n_ref, generator=gen)
            ref = (g1 + g2) / 2
            row["smoothed"] = smoothed
            row["cos_ref"] = _cos(g, ref)
            row["cos_ref_noise"] = _cos(g1, g2)
            if before is not None:
                row["cos_step"] = _cos(theta - before, -ref)
        if getattr(problem, "x_opt", None) is not None:
            row["cos_opt"] = _cos(-g, problem.x_opt.to(theta.dtype) - theta)
            row["dist_opt"] = float((problem.x_opt.to(theta.dtype) - theta).norm())
        if fd_step is not None:
            row["cos_fd"] = _cos(g, _fd_gradient(problem, theta, fd_step))
        row["diag_s"] = time.perf_counter() - tic
        row["time_s"] = time.perf_counter() - t0
        records.append(row)
        for callback in callbacks:
            callback(row)
        if last and stop_at is not None:
            raise StopIteration

    optimizer.fit(problem, budget=budget, callback=record)
    return records


_COLUMNS = (
    ("nit", "{:>6d}"),
    ("nfev", "{:>7d}"),
    ("loss", "{:.4f}"),
    ("smoothed", "{:.4f}"),
    ("sigma", "{:.2e}"),
    ("r2", "{:+.3f}"),
    ("corr", "{:+.3f}"),
    ("cos_ref", "{:+.3f}"),
    ("cos_ref_noise", "{:+.3f}"),
    ("cos_step", "{:+.3f}"),
    ("cos_opt", "{:+.3f}"),
    ("step", "{:.2e}"),
    ("grad_norm", "{:.2e}"),
    ("w_first", "{:.2f}"),
    ("w_rest", "{:.2f}"),
    ("active_min", "{:.3f}"),
)


def format_table(records: Sequence[dict], keys: Sequence[str] | None = None) -> str:
    """A plain-text table of the records.

    Parameters
    ----------
    records : sequence of dict
        As returned by :func:`diagnose`.
    keys : sequence of str, optional
        The columns (default: the usual ones present in any record).

    Returns
    -------
    str
    """
    if keys is None:
        keys = [k for k, _ in _COLUMNS if any(k in r for r in records)]
        if any("cos_fd" in r for r in records):
            keys.append("cos_fd")
    fmt = dict(_COLUMNS)
    lines = ["  ".join(f"{k:>8s}" for k in keys)]
    for r in records:
        cells = []
        for k in keys:
            v = r.get(k)
            bad = v is None or (isinstance(v, float) and math.isnan(v))
            cells.append(f"{'-':>8s}" if bad else f"{fmt.get(k, '{:+.3f}').format(v):>8s}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.zg_diagnose``: diagnose ZeroGrads on the caustic.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.zg_diagnose", description=__doc__)
    parser.add_argument("--problem", default="caustic")
    parser.add_argument("--budget", type=int, default=40_000)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--n-ref", type=int, default=1000)
    parser.add_argument("--n-fit", type=int, default=256)
    parser.add_argument("--fd-step", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stop-at", type=int, default=None, help="stop after this many evaluations"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", default=None, help="write the records as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import problems

    settings = dict(CAUSTIC_SETTINGS) if args.problem == "caustic" else {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            settings[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[name] = value
    problem = problems.make(args.problem)
    settings.setdefault("n_threads", args.threads)
    optimizer = ZeroGrads(random_state=args.seed, verbose=False, **settings)
    print(f"{args.problem} (D={problem.dim}), ZeroGrads {settings}, budget {args.budget}")
    header = [True]
    keys = [k for k, _ in _COLUMNS] + (["cos_fd"] if args.fd_step else [])

    def show(row: dict) -> None:
        table = format_table([row], keys).splitlines()
        if header[0]:
            print(table[0])
            header[0] = False
        print(table[1], flush=True)

    so_far: list[dict] = []

    def save(row: dict) -> None:  # after every record, so a long run stopped keeps its own
        so_far.append(row)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump({"settings": settings, "seed": args.seed, "records": so_far}, fh)

    diagnose(
        optimizer,
        problem,
        budget=args.budget,
        every=args.every,
        n_ref=args.n_ref,
        n_fit=args.n_fit,
        fd_step=args.fd_step,
        stop_at=args.stop_at,
        callbacks=[show, save],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
