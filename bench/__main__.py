"""``python -m bench``: the benchmark's command line.

Examples
--------
.. code-block:: console

    $ python -m bench demo --jobs 2            # quick experiments, figures, summary
    $ python -m bench run plateaus --scale full --seeds 5 --jobs 4
    $ python -m bench figures
    $ python -m bench summary
    $ python -m bench speed
    $ python -m bench overhead
    $ python -m bench batching
    $ python -m bench meta
    $ python -m bench mitsuba --quick
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .experiments import SCALES

__all__ = ["build_parser", "main"]


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


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
    summary = sub.add_parser("summary", help="print and save the summary table")
    summary.add_argument("--out", default="results", help="results folder (default: results)")
    summary.add_argument("--scale", choices=SCALES, default="quick")
    sub.add_parser("list", help="list the experiments")
    speed = sub.add_parser(
        "speed",
        help="time per iteration of prdpt and zerograds beside the papers' figures",
    )
    speed.add_argument("cases", nargs="*", help="substrings of case names (default: all)")
    speed.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    overhead = sub.add_parser(
        "overhead", help="the cmaes and nevergrad wrappers against the libraries directly"
    )
    overhead.add_argument("--dim", type=int, default=10, help="sphere dimension (default 10)")
    overhead.add_argument("--iterations", type=int, default=300, help="per timing")
    batching = sub.add_parser(
        "batching", help="one batched call against a loop of single calls, per problem"
    )
    batching.add_argument("problems", nargs="*", help="problem ids (default: all)")
    batching.add_argument("--batch", type=int, default=20, help="points per call (default 20)")
    batching.add_argument("--device", default="cpu", help="cpu or cuda")
    batching.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    mitsuba = sub.add_parser(
        "mitsuba",
        help="prdpt against Mitsuba's AD gradients on the mi-* scenes (PRDPT, Table 2)",
    )
    mitsuba.add_argument("--out", default="results", help="output folder (default: results)")
    mitsuba.add_argument("--seeds", type=int, default=3, help="prdpt seeds (default: 3)")
    mitsuba.add_argument(
        "--quick", action="store_true", help="fewer iterations on all scenes but mi-shadows"
    )
    mitsuba.add_argument("--scenes", type=_csv_list, default=None, help="comma-separated ids")
    mitsuba.add_argument(
        "--methods", type=_csv_list, default=["prdpt", "adam"], help="prdpt and/or adam"
    )
    meta = sub.add_parser(
        "meta",
        help="meta-learned initialisation against training from scratch, per family",
        description=(
            "Meta-train a MetaInitializer on texture-family and brdf-family and compare, on "
            "held-out members, with Adam from a random start (the steps factor) and the "
            "general, overfit and fine-tuned regimes; write CSVs and a figure."
        ),
    )
    meta.add_argument("--out", default="results/meta", help="output folder")
    meta.add_argument(
        "--scale", choices=("smoke", "quick"), default="quick",
        help="smoke: seconds; quick (default): minutes of meta-training per family",
    )  # fmt: skip
    meta.add_argument("--families", type=_csv_list, default=None, help="comma-separated ids")
    meta.add_argument("--no-blackbox", action="store_true", help="skip the black-box inner loop")
    meta.add_argument("--seed", type=int, default=0, help="seeds everything (default: 0)")
    meta.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=SCALES, default="quick", help="(default: quick)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per run")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--out", default="results", help="results folder (default: results)")
    parser.add_argument(
        "--methods", type=_csv_list, default=None, help="comma-separated methods (default: all)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads per run (default: 1)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> dict:
    from .runner import run

    return run(
        args.experiments or None,
        scale=args.scale,
        seeds=args.seeds,
        jobs=args.jobs,
        out=args.out,
        methods=args.methods,
        threads=args.threads,
        progress=not args.no_progress,
    )


def torch_threads(n: int) -> None:
    """Set torch's intra-op threads."""
    import torch

    torch.set_num_threads(n)


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
    from blackbox_opt import BlackboxOptError

    args = build_parser().parse_args(argv)
    if args.command in ("run", "demo"):
        if args.seeds is not None and args.seeds < 1:
            print("error: --seeds must be at least 1", file=sys.stderr)
            return 2
        if args.jobs < 1:
            print("error: --jobs must be at least 1", file=sys.stderr)
            return 2
        try:
            result = _run(args)
        except (BlackboxOptError, KeyError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{len(result['ran'])} run(s) made, {result['skipped_existing']} already "
              f"finished; tables: {result['history']}, {result['records']}")  # fmt: skip
        if args.command == "demo":
            from .figures import draw_all
            from .summary import write_summary

            written = draw_all(args.out, scales=[args.scale])
            path, text = write_summary(args.out, args.scale)
            print()
            print(text)
            print("Figures:")
            for p in written:
                print(f"  {p}")
            print(f"Summary: {path}")
            print(f"Tables: {result['history']}, {result['records']}")
    elif args.command == "figures":
        from .figures import draw_all

        for p in draw_all(args.out):
            print(p)
    elif args.command == "summary":
        from .summary import write_summary

        try:
            path, text = write_summary(args.out, args.scale)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(text)
        print(f"Wrote {path}")
    elif args.command == "list":
        from .experiments import EXPERIMENTS

        for e in EXPERIMENTS.values():
            labels = ", ".join(s.label for s in e.problem_specs(e.scales[-1]))
            print(f"{e.name:10s} {e.title}\n{'':10s} problems: {labels}\n"
                  f"{'':10s} methods: {', '.join(e.methods)}")  # fmt: skip
    elif args.command == "speed":
        from .speed import run_speed

        run_speed(args.cases or None, threads=args.threads)
    elif args.command == "batching":
        from .batching import run_batching

        if args.threads is not None:
            torch_threads(args.threads)
        run_batching(args.problems or None, batch=args.batch, device=args.device)
    elif args.command == "overhead":
        from .overhead import run_overhead

        run_overhead(dim=args.dim, n_iter=args.iterations)
    elif args.command == "mitsuba":
        from .mitsuba import run_mitsuba

        try:
            run_mitsuba(
                args.out, seeds=args.seeds, quick=args.quick, scenes=args.scenes,
                methods=args.methods,
            )  # fmt: skip
        except (BlackboxOptError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif args.command == "meta":
        from .meta import run_meta

        try:
            run_meta(
                args.out, scale=args.scale, families=args.families,
                blackbox=not args.no_blackbox, seed=args.seed, threads=args.threads,
            )  # fmt: skip
        except (BlackboxOptError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
