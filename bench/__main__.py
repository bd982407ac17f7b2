"""``python -m bench``: the benchmark's command line.

Examples
--------
.. code-block:: console

    $ python -m bench demo --jobs 2            # quick experiments, figures, summary
    $ python -m bench run plateaus --scale full --seeds 5 --jobs 4
    $ python -m bench run fig7-caustic --scale paper --seed-list 3,4   # those seeds alone
    $ python -m bench run --scale full --scheduler tcp://head:8786
    $ python -m bench run rastrigin --add-methods random --retry-failed
    $ python -m bench figures
    $ python -m bench summary
    $ python -m bench speed
    $ python -m bench overhead
    $ python -m bench threads
    $ python -m bench asv-plot quality.TrackFinalLoss.track_final_loss --out asv.png
    $ python -m bench batching
    $ python -m bench workers --workers 2
    $ python -m bench meta
    $ python -m bench mitsuba --quick
    $ python -m bench outofbox --seeds 5 --budget 5000 --jobs 2
    $ python -m bench blender --seeds 3 --budget 2000

Every subcommand is one handler of :data:`HANDLERS`. A known error (an unknown
experiment, method, scene or family, a bad argument, a missing optional dependency:
:class:`bench.errors.BenchError`, ``ValueError`` or
:class:`blackbox_opt.BlackboxOptError`) prints one line to stderr and exits with status
2; any other exception propagates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .errors import BenchError
from .experiments import get_experiment, runner_scales

__all__ = ["HANDLERS", "build_parser", "main"]


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _seed_list(text: str) -> list[int]:
    """``"3,4"``, ``"2-4"`` or ``"0,5-7"`` as the list of those seeds."""
    seeds: list[int] = []
    for item in _csv_list(text):
        low, dash, high = item.partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a seed or a range of seeds such as 2-4"
            ) from None
        if first < 0 or last < first:
            raise argparse.ArgumentTypeError(
                f"{item!r}: seeds are non-negative and a range goes upwards (e.g. 2-4)"
            )
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise argparse.ArgumentTypeError("names no seed")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m bench``.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    run = sub.add_parser(
        "run",
        help="run experiments: methods x problems x seeds, resumable",
        description="Run the experiments of bench/experiments.py and write a tidy table.",
    )
    run.add_argument("experiments", nargs="*", help="experiment names (default: all)")
    _run_options(run)
    demo = sub.add_parser(
        "demo",
        help="the quick experiments, the figures and the summary (make demo)",
        description="Run every experiment at the quick scale, draw the figures, print "
        "the summary and where the files are.",
    )
    demo.add_argument("experiments", nargs="*", help="experiment names (default: all)")
    _run_options(demo)
    figures = sub.add_parser("figures", help="draw the figures from the results")
    figures.add_argument("--out", default="results", help="results folder (default: results)")
    figures.add_argument(
        "--x-axis",
        choices=("nfev", "nit"),
        default="nfev",
        help="x axis of the convergence and plateau figures: evaluations (default) or iterations",
    )
    summary = sub.add_parser("summary", help="print and save the summary table")
    summary.add_argument("--out", default="results", help="results folder (default: results)")
    summary.add_argument("--scale", choices=runner_scales(), default="quick")
    sub.add_parser("list", help="list the experiments")
    speed = sub.add_parser(
        "speed",
        help="time per iteration of prdpt and zerograds beside the papers' figures",
    )
    speed.add_argument("cases", nargs="*", help="substrings of case names (default: all)")
    speed.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    speed.add_argument(
        "--zerograds-fit",
        action="store_true",
        help="ZeroGrads on mlp-digits (D=35,152), in-place against autograd surrogate fit",
    )
    speed.add_argument(
        "--iterations", type=int, default=6, help="timed iterations with --zerograds-fit"
    )
    overhead = sub.add_parser(
        "overhead",
        help="the cmaes and nevergrad wrappers against the libraries, and tell's matching",
    )
    overhead.add_argument("--dim", type=int, default=10, help="sphere dimension (default 10)")
    overhead.add_argument("--iterations", type=int, default=300, help="per timing")
    asvplot = sub.add_parser("asv-plot", help="draw an asv benchmark across commits as a PNG")
    asvplot.add_argument("benchmark", help="e.g. quality.TrackFinalLoss.track_final_loss")
    asvplot.add_argument("--results", default=".asv/results", help="asv's results_dir")
    asvplot.add_argument("--out", default="asv.png", help="the PNG to write")
    asvplot.add_argument("--only", default=None, help="keep lines whose label has this text")
    asvplot.add_argument("--unit", default="", help="the y axis label")
    threads = sub.add_parser(
        "threads", help="1 against 2 threads for ZeroGrads and MetaInitializer, idle and loaded"
    )
    threads.add_argument("--repeats", type=int, default=3, help="interleaved timings")
    batching = sub.add_parser(
        "batching", help="one batched call against a loop of single calls, per problem"
    )
    batching.add_argument("problems", nargs="*", help="problem ids (default: all)")
    batching.add_argument("--batch", type=int, default=20, help="points per call (default 20)")
    batching.add_argument("--device", default="cpu", help="cpu or cuda")
    batching.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    workers = sub.add_parser(
        "workers",
        help="evaluation throughput on 1, 2... Dask workers, and the overhead per batch",
    )
    workers.add_argument("--workers", type=int, default=2, help="up to this many (default 2)")
    workers.add_argument("--batch", type=int, default=16, help="points per batch (default 16)")
    workers.add_argument(
        "--delay", type=float, default=0.1, help="seconds per point of the slow problem"
    )
    workers.add_argument(
        "--problem", default=None, help="a registered id as the expensive problem (e.g. mi-cup)"
    )
    workers.add_argument("--repeats", type=int, default=5, help="timed expensive batches")
    mitsuba_experiment = get_experiment("mitsuba")
    mitsuba = sub.add_parser(
        "mitsuba",
        help="prdpt against Mitsuba's AD gradients on the mi-* scenes (PRDPT, Table 2)",
        description="Run the mitsuba experiment of bench/experiments.py.",
    )
    mitsuba.add_argument("--out", default="results", help="output folder (default: results)")
    mitsuba.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"prdpt seeds (default: {mitsuba_experiment.seeds['full']})",
    )
    mitsuba.add_argument(
        "--quick", action="store_true", help="fewer iterations on all scenes but mi-shadows"
    )
    mitsuba.add_argument("--scenes", type=_csv_list, default=None, help="comma-separated ids")
    mitsuba.add_argument(
        "--methods",
        type=_csv_list,
        default=list(mitsuba_experiment.methods),
        help=" and/or ".join(mitsuba_experiment.methods),
    )
    meta_scales = get_experiment("meta").scales
    meta = sub.add_parser(
        "meta",
        help="meta-learned initialisation against training from scratch, per family",
        description=(
            "Meta-train a MetaInitializer on texture-family and brdf-family and compare, on "
            "held-out members, with Adam from a random start (the steps factor) and the "
            "general, overfit and fine-tuned regimes; write CSVs and a figure. The settings "
            "are the meta experiment's in bench/experiments.py."
        ),
    )
    meta.add_argument("--out", default="results/meta", help="output folder")
    meta.add_argument(
        "--scale",
        choices=meta_scales,
        default="quick",
        help="smoke: seconds; quick (default): minutes of meta-training per family",
    )
    meta.add_argument("--families", type=_csv_list, default=None, help="comma-separated ids")
    meta.add_argument("--no-blackbox", action="store_true", help="skip the black-box inner loop")
    meta.add_argument("--seed", type=int, default=0, help="seeds everything (default: 0)")
    meta.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    outofbox = sub.add_parser(
        "outofbox",
        help="every gradient-free method with its defaults on untuned problems",
        description=(
            "Run every gradient-free method with its defaults only on three image problems "
            "no setting was tuned on (discs, triangles, threshold) and on the registered "
            "benchmark functions; write the median best loss relative to the start per "
            "method and problem (CSV and markdown) and the goals it misses."
        ),
    )
    outofbox.add_argument("--out", default="results/outofbox", help="output folder")
    outofbox.add_argument("--seeds", type=int, default=5, help="seeds per run (default: 5)")
    outofbox.add_argument(
        "--budget", type=int, default=5000, help="evaluations per run (default: 5000)"
    )
    outofbox.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    outofbox.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads per run, a method's own included (ZeroGrads' "
        "surrogate fit) (default: 1)",
    )
    outofbox.add_argument(
        "--problems", type=_csv_list, default=None, help="comma-separated (default: all)"
    )
    outofbox.add_argument(
        "--methods", type=_csv_list, default=None, help="comma-separated (default: all)"
    )
    outofbox.add_argument("--no-progress", action="store_true", help="no line per run")
    from .blender import add_arguments as blender_arguments

    blender = sub.add_parser(
        "blender",
        help="PRDPT and ZeroGrads on the Blender plateau scenes, and 2 workers against 1",
        description=(
            "Run PRDPT and ZeroGrads with their defaults on blender-shadow and "
            "blender-occlusion and print the parameter MSE per seed, the time per render "
            "and per iteration, and the speed-up of 2 worker processes over 1."
        ),
    )
    blender_arguments(blender)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiments",
        dest="experiment_files",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file defining Experiments (and registering its own methods) to "
        "run, from anywhere; its experiments run when no names are given (repeatable)",
    )
    parser.add_argument(
        "--scale",
        choices=runner_scales(),
        default="quick",
        help="quick: a smoke run of minutes; full: the benchmark's budgets (hours); "
        "paper: a paper's own budget, for the experiments that have it (days; runs "
        "resume from their checkpoints) (default: quick)",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=None, help="seeds per run: 0 to SEEDS - 1")
    seeds.add_argument(
        "--seed-list",
        type=_seed_list,
        default=None,
        metavar="SEEDS",
        help="these seeds alone, instead of --seeds: comma-separated and/or ranges, "
        "e.g. 3,4 or 2-4 (to split an experiment's runs across machines)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler (e.g. tcp://host:8786); the "
        "workers must see --out",
    )
    parser.add_argument(
        "--cluster",
        choices=("local",),
        default=None,
        help="run on a Dask LocalCluster of --jobs worker processes",
    )
    parser.add_argument("--out", default="results", help="results folder (default: results)")
    parser.add_argument(
        "--methods",
        type=_csv_list,
        default=None,
        help="comma-separated methods to keep, each one that a chosen experiment runs "
        "(default: all)",
    )
    parser.add_argument(
        "--add-methods",
        type=_csv_list,
        default=None,
        metavar="METHODS",
        help="comma-separated registered methods to add to the chosen experiments, with "
        "their default hyperparameters (with --methods, they are kept as well)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the runs recorded as failed (skipped runs stay skipped)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads per run, a method's own included (ZeroGrads' "
        "surrogate fit) (default: 1)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="save each run's checkpoint every N iterations (default: every 30 seconds); "
        "a stopped run goes on from its last checkpoint",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def torch_threads(n: int) -> None:
    """Set torch's intra-op threads."""
    import torch

    torch.set_num_threads(n)


# -- the handlers: one per subcommand --------------------------------------------------------


def _run_experiments(args: argparse.Namespace) -> dict:
    """The runner's part of ``run`` and ``demo``: run, then say what was made."""
    from .runner import run

    if args.seeds is not None and args.seeds < 1:
        raise ValueError("--seeds must be at least 1")
    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if args.scheduler and args.cluster:
        raise ValueError("give --scheduler ADDRESS or --cluster local, not both")
    from .experiments import load_experiments

    from_files = [name for path in args.experiment_files for name in load_experiments(path)]
    result = run(
        args.experiments or from_files or None,
        scale=args.scale,
        seeds=args.seed_list if args.seed_list is not None else args.seeds,
        jobs=args.jobs,
        out=args.out,
        methods=args.methods,
        add_methods=args.add_methods,
        retry_failed=args.retry_failed,
        threads=args.threads,
        progress=not args.no_progress,
        scheduler=args.scheduler or args.cluster,
        checkpoint_every=args.checkpoint_every,
    )
    print(
        f"{len(result['ran'])} run(s) made, {result['skipped_existing']} already finished; "
        f"tables: {result['history']}, {result['records']}"
    )
    return result


def _cmd_run(args: argparse.Namespace) -> None:
    _run_experiments(args)


def _cmd_demo(args: argparse.Namespace) -> None:
    from .figures import draw_all
    from .summary import write_summary

    result = _run_experiments(args)
    written = draw_all(args.out, scales=[args.scale])
    path, text = write_summary(args.out, args.scale)
    print()
    print(text)
    print("Figures:")
    for p in written:
        print(f"  {p}")
    print(f"Summary: {path}")
    print(f"Tables: {result['history']}, {result['records']}")
    for line in _smoke_notes(args):
        print(line)


def _smoke_notes(args: argparse.Namespace) -> list[str]:
    """Lines saying which problems ran 10 times or more below their full-scale budget."""
    from .experiments import EXPERIMENTS

    if args.scale == "full":
        return []
    named = getattr(args, "experiments", None)
    notes = []
    for experiment in EXPERIMENTS.values():
        if "full" not in experiment.budgets or args.scale not in experiment.budgets:
            continue
        if (experiment.name not in named) if named else not experiment.default:
            continue  # not run
        short = []
        for spec in experiment.problem_specs(args.scale):
            now, full = (
                experiment.budget(args.scale, spec.label),
                experiment.budget("full", spec.label),
            )
            if full >= 10 * now:
                short.append(f"{spec.label} {now:,} of {full:,}")
        if short:
            notes.append(
                f"Note: {experiment.name} at the {args.scale} scale is a smoke run, not the "
                f"papers' comparison: evaluations {', '.join(short)} (make bench runs the "
                "full budgets, hours)."
            )
    return notes


def _cmd_figures(args: argparse.Namespace) -> None:
    from .figures import draw_all

    for p in draw_all(args.out, x=args.x_axis):
        print(p)


def _cmd_summary(args: argparse.Namespace) -> None:
    from .summary import write_summary

    path, text = write_summary(args.out, args.scale)
    print(text)
    print(f"Wrote {path}")


def _cmd_list(args: argparse.Namespace) -> None:
    from .experiments import EXPERIMENTS

    for e in EXPERIMENTS.values():
        labels = ", ".join(s.label for s in e.problem_specs(e.scales[-1]))
        print(f"{e.name:10s} {e.title}")
        print(f"{'':10s} problems: {labels}")
        print(f"{'':10s} methods: {', '.join(e.methods)}")
        print(f"{'':10s} runs with: python -m bench {e.command} (scales: {', '.join(e.scales)})")


def _cmd_speed(args: argparse.Namespace) -> None:
    from .speed import run_speed, zerograds_fit_side_by_side

    if args.zerograds_fit:
        zerograds_fit_side_by_side(n_iter=args.iterations, threads=args.threads or 2)
        return
    run_speed(args.cases or None, threads=args.threads)


def _cmd_overhead(args: argparse.Namespace) -> None:
    from .overhead import run_overhead, tell_matching

    run_overhead(dim=args.dim, n_iter=args.iterations)
    tell_matching()


def _cmd_asv_plot(args: argparse.Namespace) -> None:
    from .asvplot import plot_asv

    plot_asv(args.benchmark, args.results, args.out, only=args.only, unit=args.unit)
    print(f"wrote {args.out}")


def _cmd_threads(args: argparse.Namespace) -> None:
    from .threads import run_threads

    run_threads(repeats=args.repeats)


def _cmd_batching(args: argparse.Namespace) -> None:
    from .batching import run_batching

    if args.threads is not None:
        torch_threads(args.threads)
    run_batching(args.problems or None, batch=args.batch, device=args.device)


def _cmd_workers(args: argparse.Namespace) -> None:
    from .workers import run_workers

    if args.workers < 1 or args.batch < 1 or args.repeats < 1:
        raise ValueError("--workers, --batch and --repeats must be at least 1")
    run_workers(
        workers=args.workers,
        batch=args.batch,
        delay=args.delay,
        problem=args.problem,
        repeats=args.repeats,
    )


def _cmd_mitsuba(args: argparse.Namespace) -> None:
    from .mitsuba import run_mitsuba

    run_mitsuba(
        args.out, seeds=args.seeds, quick=args.quick, scenes=args.scenes, methods=args.methods
    )


def _cmd_meta(args: argparse.Namespace) -> None:
    from .meta import run_meta

    run_meta(
        args.out,
        scale=args.scale,
        families=args.families,
        blackbox=not args.no_blackbox,
        seed=args.seed,
        threads=args.threads,
    )


def _cmd_outofbox(args: argparse.Namespace) -> None:
    from .outofbox import run_outofbox

    result = run_outofbox(
        args.out,
        problems=args.problems,
        methods=args.methods,
        seeds=args.seeds,
        budget=args.budget,
        jobs=args.jobs,
        threads=args.threads,
        progress=not args.no_progress,
    )
    print()
    print(result["text"])
    print()
    print("Shortfalls:")
    print("\n".join(f"  {line}" for line in result["shortfalls"]) or "  none")
    print("Tables: " + ", ".join(str(p) for p in result["files"]))


def _cmd_blender(args: argparse.Namespace) -> None:
    from .blender import run

    run(args)


#: Subcommand -> handler. A handler reports a known error by raising it (see
#: :func:`main`).
HANDLERS: dict[str, Callable[[argparse.Namespace], None]] = {
    "run": _cmd_run,
    "demo": _cmd_demo,
    "figures": _cmd_figures,
    "summary": _cmd_summary,
    "list": _cmd_list,
    "speed": _cmd_speed,
    "overhead": _cmd_overhead,
    "threads": _cmd_threads,
    "asv-plot": _cmd_asv_plot,
    "batching": _cmd_batching,
    "workers": _cmd_workers,
    "mitsuba": _cmd_mitsuba,
    "meta": _cmd_meta,
    "outofbox": _cmd_outofbox,
    "blender": _cmd_blender,
}


def _is_known_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a usage or library error to report in one line."""
    if isinstance(exc, (BenchError, ValueError)):
        return True
    # blackbox_opt takes seconds to import: a library error can only have been raised
    # once it was, so its exceptions module is looked up, not imported
    exceptions = sys.modules.get("blackbox_opt.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.BlackboxOptError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m bench``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 on a usage error or a library error.
    """
    args = build_parser().parse_args(argv)
    try:
        HANDLERS[args.command](args)
    except Exception as exc:
        if not _is_known_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
