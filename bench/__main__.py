"""``python -m bench``: the benchmark's command line.

Examples
--------
.. code-block:: console

    $ python -m bench demo --out results --seeds 3
    $ python -m bench demo --quick
    $ python -m bench speed
    $ python -m bench overhead
    $ python -m bench batching
    $ python -m bench meta
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    demo = sub.add_parser(
        "demo",
        help="gradient-free methods and Adam on the toy problems",
        description=(
            "Run every gradient-free method, plus Adam, on rosenbrock, spline1d and rect; "
            "write a summary table and a convergence figure."
        ),
    )
    demo.add_argument("--out", default="results", help="output folder (default: results)")
    demo.add_argument("--seeds", type=int, default=3, help="seeds per run (default: 3)")
    demo.add_argument("--quick", action="store_true", help="small budgets: a smoke test")
    demo.add_argument(
        "--methods", type=_csv_list, default=None, help="comma-separated methods (default: all)"
    )
    demo.add_argument("--problems", type=_csv_list, default=None, help="comma-separated problems")
    demo.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default: 1, fastest for these tiny problems)",
    )
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
    if args.command == "demo":
        from .demo import PROBLEMS, run_demo

        if args.seeds < 1:
            print("error: --seeds must be at least 1", file=sys.stderr)
            return 2
        try:
            run_demo(
                args.out,
                args.seeds,
                quick=args.quick,
                methods=args.methods,
                problems=args.problems or PROBLEMS,
                threads=args.threads,
            )
        except (BlackboxOptError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
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
