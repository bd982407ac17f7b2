"""The ``blackbox-opt`` command line: list what is registered, run one method on a problem.

Examples
--------
.. code-block:: console

    $ blackbox-opt list
    $ blackbox-opt run rosenbrock --method spsa --budget 2000 --seed 0 \\
          --option update=optimizer --option lr=1e-2 --out results/history.csv
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["build_parser", "main", "parse_option"]


def parse_option(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` option of ``blackbox-opt run``.

    The value is read as a Python literal (number, bool, None, tuple, list, dict,
    quoted string) with :func:`ast.literal_eval` when it is one, and kept as the raw
    string otherwise, so ``optimizer=sgd`` gives the string ``"sgd"``.

    Parameters
    ----------
    text : str
        ``"key=value"``.

    Returns
    -------
    key : str
    value : object

    Raises
    ------
    argparse.ArgumentTypeError
        When ``text`` has no ``=`` or an empty key.

    Examples
    --------
    >>> parse_option("lr=1e-2")
    ('lr', 0.01)
    >>> parse_option("optimizer=sgd")
    ('optimizer', 'sgd')
    >>> parse_option("optimizer_options={'momentum': 0.9}")
    ('optimizer_options', {'momentum': 0.9})
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options look like key=value; got {text!r}.")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = raw
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``blackbox-opt``.

    Returns
    -------
    argparse.ArgumentParser
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="blackbox-opt",
        description="Optimisers for graphics problems without useful gradients.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser(
        "list",
        help="list the registered methods and problems",
        description="List the registered methods and problems.",
    )

    run = sub.add_parser(
        "run",
        help="minimise a registered problem with a method",
        description=(
            "Minimise a registered problem with a method and print the result. "
            "Method (and problem) parameters are given with --option key=value."
        ),
    )
    run.add_argument("problem", metavar="PROBLEM", help="a registered problem id")
    run.add_argument(
        "--method",
        "-m",
        default=None,
        help="a registered method name (default: the library's default method)",
    )
    run.add_argument("--budget", "-b", type=int, default=None, help="evaluations the run may use")
    run.add_argument(
        "--seed",
        "-s",
        type=int,
        default=None,
        help="random seed (random_state); the same seed gives the same run",
    )
    run.add_argument("--max-iter", type=int, default=None, help="iterations the run may use")
    run.add_argument(
        "--option",
        "-o",
        action="append",
        type=parse_option,
        default=[],
        metavar="KEY=VALUE",
        help=(
            "a method parameter, or a problem parameter such as dim; the value is a "
            "Python literal when it parses as one, else a string (repeatable). A name "
            "that both take (target) needs --method-option or --problem-option"
        ),
    )
    for owner in ("method", "problem"):
        run.add_argument(
            f"--{owner}-option",
            action="append",
            type=parse_option,
            default=[],
            metavar="KEY=VALUE",
            help=f"a parameter of the {owner} only, given explicitly (repeatable)",
        )
    run.add_argument(
        "--out", type=Path, default=None, metavar="FILE.csv", help="write the history as CSV"
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar while running")
    return parser


def _format_value(value: Any) -> str:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return np.array2string(value, threshold=8, precision=6)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _print_result(result: Any) -> None:
    keys = ["method", "problem", "fun", "x", "nit", "nfev", "nfev_monitor", "message", "time"]
    params = result.get("params") or {}
    if list(params) == ["x"]:  # plain reals: the same as x
        params = {}
    width = max(len(k) for k in [*keys, *params])
    for key in keys:
        value = result.get(key)
        text = f"{value:.3f} s" if key == "time" else _format_value(value)
        print(f"{key.rjust(width)}: {text}")
        if key == "x":
            for name, v in params.items():  # the point by name, under x
                print(f"{name.rjust(width)}: {_format_value(v)}")


def _cmd_list(args: argparse.Namespace) -> int:
    import blackbox_opt

    print("Methods")
    print("=======")
    print(blackbox_opt.list_methods())
    print()
    print("Problems")
    print("========")
    print(blackbox_opt.list_problems())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import blackbox_opt

    given: dict[str, dict[str, Any]] = {"option": {}, "method_option": {}, "problem_option": {}}
    for kind, options in given.items():
        for key, value in getattr(args, kind):
            if key in options:
                raise blackbox_opt.InvalidParameterError(f"option {key!r} is given twice.")
            options[key] = value
    options = given["option"]
    reserved = {"budget", "random_state", "verbose", "max_iter", "method"}
    clash = sorted(reserved & (set(options) | set(given["method_option"])))
    if clash:
        raise blackbox_opt.InvalidParameterError(
            f"give {', '.join(clash)} with the dedicated flags (--budget, --seed, "
            "--max-iter, --method), not with --option."
        )
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.method is not None:
        options["method"] = args.method
    result = blackbox_opt.minimize(
        args.problem,
        budget=args.budget,
        random_state=args.seed,
        verbose=not args.quiet,
        method_options=given["method_option"],
        problem_options=given["problem_option"],
        **options,
    )
    _print_result(result)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.history.to_csv(str(args.out))
        print(f"history: {args.out} ({len(result.history)} rows)")
    return 0 if result.success else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``blackbox-opt`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 when a run ended abnormally (its result is
        still printed), 2 on a usage error or an error raised by the library (printed
        as ``error: <message>`` on standard error, without a traceback).
    """
    from .exceptions import BlackboxOptError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    commands = {"list": _cmd_list, "run": _cmd_run}
    try:
        return commands[args.command](args)
    except BlackboxOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
