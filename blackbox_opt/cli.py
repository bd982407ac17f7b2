"""The ``blackbox-opt`` command line: list what is registered, run one method on a problem.

``run`` takes a registered problem id, or the user's own problem without registering
it: ``module:attr`` (an importable module) or ``path/to/file.py:attr`` (a file), where
``attr`` is

- a :class:`~blackbox_opt.Problem` instance;
- a factory: a Problem class, or a function callable without arguments that returns a
  Problem (``--option`` passes it keyword arguments, as to a registered problem);
- an objective: a function of one point ``x`` (a numpy array) returning its loss, as
  for ``scipy.optimize.minimize``; ``--x0`` gives the start and ``--bounds`` the bounds
  (``--option vectorized=True`` for a function of a batch ``(B, D)``).

``--out`` writes the history (CSV), the result with the full best point (JSON) and the
points as a CSV with one column per parameter. The progress bar is shown only when
standard error is a terminal (``--progress`` forces it, ``--quiet`` hides it).

Examples
--------
.. code-block:: console

    $ blackbox-opt list
    $ blackbox-opt run rosenbrock --method spsa --budget 2000 --seed 0 \\
          --option update=optimizer --option lr=1e-2 --out results/history.csv
    $ blackbox-opt run my_renderer.py:make_problem --method cmaes --budget 3000
    $ blackbox-opt run my_model.py:loss --x0 0.5,0.5,0.5 --bounds 0,1 --out fit
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["build_parser", "load_problem", "main", "parse_bounds", "parse_option", "parse_vector"]


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


def parse_vector(text: str) -> list[float]:
    """Parse ``--x0``: comma-separated numbers or a Python list literal.

    Parameters
    ----------
    text : str
        ``"0.5,0.5,1"`` or ``"[0.5, 0.5, 1]"``.

    Returns
    -------
    list of float

    Raises
    ------
    argparse.ArgumentTypeError
        When ``text`` is not a non-empty list of numbers.

    Examples
    --------
    >>> parse_vector("0.5, 1,2e-1")
    [0.5, 1.0, 0.2]
    >>> parse_vector("[1, 2]")
    [1.0, 2.0]
    """
    try:
        value = ast.literal_eval(text.strip() if "[" in text else f"[{text}]")
        values = [float(v) for v in value]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise argparse.ArgumentTypeError(
            f"a point is comma-separated numbers such as 0.5,0.5,1; got {text!r}."
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"a point needs finite numbers; got {text!r}.")
    return values


def parse_bounds(text: str) -> list[list[float]]:
    """Parse ``--bounds``: ``LO,HI`` for every parameter, or one ``(lo, hi)`` pair each.

    Parameters
    ----------
    text : str
        ``"0,1"``, or ``"[(0, 1), (-3.14, 3.14)]"`` (a pair per parameter, as
        ``scipy.optimize.minimize`` takes them).

    Returns
    -------
    list of list of float
        ``[lower, upper]``: two scalars, or two lists of one bound per parameter
        (the ``(2, D)`` layout of :class:`~blackbox_opt.Problem`).

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else, or a lower bound above its upper bound.

    Examples
    --------
    >>> parse_bounds("0,1")
    [[0.0], [1.0]]
    >>> parse_bounds("[(0, 1), (-2, 2)]")
    [[0.0, -2.0], [1.0, 2.0]]
    """
    usage = (
        "bounds are LO,HI for every parameter, or one (lo, hi) pair per parameter such "
        f"as [(0, 1), (-3.14, 3.14)]; got {text!r}."
    )
    try:
        value = ast.literal_eval(text.strip() if "(" in text or "[" in text else f"[{text}]")
        if all(isinstance(v, (int, float)) for v in value):
            pairs = [tuple(float(v) for v in value)]
        else:
            pairs = [tuple(float(v) for v in pair) for pair in value]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise argparse.ArgumentTypeError(usage) from None
    if not pairs or any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(usage)
    bad = [i for i, (lo, hi) in enumerate(pairs) if math.isnan(lo) or math.isnan(hi) or lo > hi]
    if bad:
        raise argparse.ArgumentTypeError(
            f"each lower bound must be at most its upper bound; not so for the pair(s) "
            f"{bad} of {text!r}."
        )
    return [[lo for lo, _ in pairs], [hi for _, hi in pairs]]


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
        help="list the registered methods, problems and problem families",
        description="List the registered methods, problems and problem families.",
    )

    run = sub.add_parser(
        "run",
        help="minimise a problem (registered, or your own) with a method",
        description=(
            "Minimise a problem with a method and print the result. PROBLEM is a "
            "registered id, or module:attr or path/to/file.py:attr naming a Problem, a "
            "factory of one (a Problem class, or a function callable without arguments), "
            "or an objective function of one point x (then --x0 is required). Method "
            "(and problem) parameters are given with --option key=value."
        ),
    )
    run.add_argument(
        "problem",
        metavar="PROBLEM",
        help="a registered problem id, module:attr or path/to/file.py:attr",
    )
    run.add_argument(
        "--x0",
        type=parse_vector,
        default=None,
        metavar="X0",
        help="the start point, comma-separated (required for an objective function; "
        "replaces a problem's own start otherwise)",
    )
    run.add_argument(
        "--bounds",
        type=parse_bounds,
        default=None,
        metavar="BOUNDS",
        help="bounds of an objective function: LO,HI for every parameter, or a list "
        "of (lo, hi) pairs, one per parameter",
    )
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
        "--out",
        type=Path,
        default=None,
        metavar="FILE.csv",
        help="write the history to FILE.csv, the result with the full best point to "
        "FILE.json and the points (best, last, start) to FILE.x.csv, one column per "
        "parameter (record_x=True adds the iterates to the history)",
    )
    run.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        metavar="FILE",
        help="save the run's state to FILE as it goes and when it ends (Ctrl-C and "
        "failures included); if FILE exists, resume from it: the same command goes on "
        "where the run stopped, and a larger --budget or --max-iter goes on past its end",
    )
    bar = run.add_mutually_exclusive_group()
    bar.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    bar.add_argument(
        "--progress",
        action="store_true",
        help="a progress bar even when standard error is not a terminal (by default it "
        "is shown only on a terminal)",
    )
    return parser


#: Points up to this size are printed in full; larger ones are summarised (and are in
#: full in the files of ``--out``).
PRINT_FULL_UP_TO = 1000


def _format_value(value: Any) -> str:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size > PRINT_FULL_UP_TO:
            text = np.array2string(value, threshold=8, precision=6)
            return f"{text} ({value.size} values; --out writes them all)"
        return np.array2string(
            value, threshold=value.size + 1, precision=8, max_line_width=99
        ).replace("\n", "\n" + " " * 14)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _print_result(result: Any) -> None:
    keys = ["method", "problem", "fun", "x", "nit", "nfev", "nfev_monitor", "message", "time"]
    if result.get("nfail"):  # lost frames under penalize or reask: say how many
        keys.insert(keys.index("nfev_monitor") + 1, "nfail")
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


def _families() -> Any:
    """The table of problem families, or None when the ``problems`` package is absent."""
    try:
        from problems import list_families
    except ImportError:
        return None
    return list_families()


def _cmd_list(args: argparse.Namespace) -> int:
    import blackbox_opt

    print("Methods")
    print("=======")
    print(blackbox_opt.list_methods())
    print()
    print("Problems")
    print("========")
    print(blackbox_opt.list_problems())
    families = _families()
    if families is not None:
        print()
        print("Problem families")
        print("================")
        print(families)
        print(
            "(families of problems for meta-learning a start with MetaInitializer: "
            "problems.make_family(id, ...))"
        )
    return 0


def _import_file(path: Path, spec: str) -> Any:
    """Import the Python file ``path`` as a module (its folder is importable meanwhile)."""
    from .exceptions import InvalidParameterError

    if not path.is_file():
        raise InvalidParameterError(f"PROBLEM {spec!r}: there is no file {str(path)!r}.")
    name = f"_blackbox_opt_cli_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise InvalidParameterError(f"PROBLEM {spec!r}: {str(path)!r} is not a Python file.")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module  # pickling, dataclasses and the like look it up here
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def load_problem(spec: str) -> Any:
    """Return the object that ``module:attr`` or ``path/to/file.py:attr`` names.

    Parameters
    ----------
    spec : str
        A module path or a ``.py`` file, a colon, and a dotted attribute path.

    Returns
    -------
    object
        What the attribute holds: a Problem, a factory or an objective function.

    Raises
    ------
    InvalidParameterError
        For a file or module that does not exist, naming ``PROBLEM``.
    UnknownNameError
        For an attribute the module does not have, naming the closest matches.
    """
    from .exceptions import InvalidParameterError, UnknownNameError, did_you_mean

    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise InvalidParameterError(
            f"PROBLEM {spec!r} must be a registered id, module:attr or path/to/file.py:attr."
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        obj = _import_file(Path(target), spec)
    else:
        try:
            obj = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is not None and target.startswith(exc.name):
                raise InvalidParameterError(
                    f"PROBLEM {spec!r}: no module named {target!r} can be imported (is its "
                    "folder on PYTHONPATH? A file can be given as path/to/file.py:attr)."
                ) from None
            raise
    where = target
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise UnknownNameError(
                f"PROBLEM {spec!r}: {where!r} has no attribute "
                f"{part!r}.{did_you_mean(part, names)}"
            )
        obj = getattr(obj, part)
        where = f"{target}:{part}" if where == target else f"{where}.{part}"
    return obj


def _is_factory(obj: Any) -> bool:
    """A Problem class, or a callable whose parameters all have defaults."""
    from .problem import Problem

    if isinstance(obj, type):
        return issubclass(obj, Problem)
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False
    required = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return not any(p.kind in required and p.default is p.empty for p in params)


def _cmd_run(args: argparse.Namespace) -> int:
    import blackbox_opt

    given: dict[str, dict[str, Any]] = {"option": {}, "method_option": {}, "problem_option": {}}
    for kind, options in given.items():
        for key, value in getattr(args, kind):
            if key in options:
                raise blackbox_opt.InvalidParameterError(f"option {key!r} is given twice.")
            options[key] = value
    options = given["option"]
    reserved = {"budget", "random_state", "verbose", "max_iter", "method", "checkpoint"}
    clash = sorted(reserved & (set(options) | set(given["method_option"])))
    if clash:
        raise blackbox_opt.InvalidParameterError(
            f"give {', '.join(clash)} with the dedicated flags (--budget, --seed, "
            "--max-iter, --method, --checkpoint), not with --option."
        )
    if args.checkpoint is not None:
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.method is not None:
        options["method"] = args.method
    problem_options = dict(given["problem_option"])
    x0 = None if args.x0 is None else np.asarray(args.x0, dtype=np.float64)
    registered = None
    problem: Any = args.problem
    if args.problem not in blackbox_opt.registry.PROBLEMS and ":" in args.problem:
        obj = load_problem(args.problem)
        if isinstance(obj, blackbox_opt.Problem):
            problem = obj
        elif callable(obj) and _is_factory(obj):
            registered = args.problem  # routed like a registered problem's options
            blackbox_opt.registry.PROBLEMS.register(registered, obj)
        elif callable(obj):
            if x0 is None:
                raise blackbox_opt.InvalidParameterError(
                    f"PROBLEM {args.problem!r} is an objective function of a point: give "
                    "its start with --x0 (and its bounds with --bounds)."
                )
            problem = obj
        else:
            raise blackbox_opt.InvalidParameterError(
                f"PROBLEM {args.problem!r} is a {type(obj).__name__}, not a Problem, a "
                "factory of one or an objective function."
            )
    if args.bounds is not None:
        if "bounds" in problem_options or "bounds" in options:
            raise blackbox_opt.InvalidParameterError("bounds are given twice; give --bounds once.")
        problem_options["bounds"] = _bounds_for(args.bounds, x0, args.problem)
    carried = (
        blackbox_opt.EvaluationError,
        blackbox_opt.MethodError,
        blackbox_opt.CallbackError,
    )
    failure: Exception | None = None
    try:
        result = blackbox_opt.minimize(
            problem,
            x0=x0,
            budget=args.budget,
            random_state=args.seed,
            verbose=False if args.quiet else (True if args.progress else None),
            method_options=given["method_option"],
            problem_options=problem_options,
            checkpoint=args.checkpoint,
            **options,
        )
    except carried as exc:
        if getattr(exc, "result", None) is None:
            raise
        failure, result = exc, exc.result
    finally:
        if registered is not None:
            blackbox_opt.registry.PROBLEMS.unregister(registered)
    if failure is not None:
        # The run ended on an error, but what it had evaluated is still the user's:
        # say why on standard error, then print and write the result up to the failure.
        text = str(failure).split(" The best point so far")[0]
        print(f"error: {text}", file=sys.stderr)
        if isinstance(failure, blackbox_opt.EvaluationError):
            print(
                "hint: -o on_error=penalize (or reask) goes on past failed evaluations; "
                "-o on_error=stop ends the run without an error.",
                file=sys.stderr,
            )
        print("The result up to the failure (best point so far):", file=sys.stderr)
    _print_result(result)
    if args.out is not None:
        for kind, path in _write_out(args, result).items():
            print(f"{kind}: {path}")
    return 0 if result.success and failure is None else 1


def _bounds_for(bounds: list[list[float]], x0: Any, spec: str) -> Any:
    """``--bounds`` as the (2,) or (2, D) bounds of a problem, checked against ``--x0``."""
    from .exceptions import InvalidParameterError

    if len(bounds[0]) == 1:
        return np.asarray([bounds[0][0], bounds[1][0]], dtype=np.float64)
    if x0 is not None and len(bounds[0]) != len(x0):
        raise InvalidParameterError(
            f"--bounds gives {len(bounds[0])} (lo, hi) pairs but --x0 has {len(x0)} "
            "values: give one pair per parameter, or LO,HI for all of them."
        )
    return np.asarray(bounds, dtype=np.float64)


def _vector(value: Any) -> list[float]:
    if torch.is_tensor(value):
        value = value.detach().cpu().double().numpy()
    return [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)]


def _plain(params: Any) -> Any:
    """Named parameters as JSON values: numbers, strings and nested lists."""
    if params is None:
        return None
    out = {}
    for name, value in params.items():
        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
        out[name] = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
    return out


def _named_columns(params: dict[str, Any]) -> list[str]:
    """One column per scalar parameter, ``name[i]`` per element of an array."""
    columns = []
    for name, value in params.items():
        if isinstance(value, list):  # an array parameter, flattened in C order
            columns += [f"{name}[{i}]" for i in range(int(np.size(value)))]
        else:
            columns.append(name)
    return columns


def _named_values(params: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for value in params.values():
        values += list(np.ravel(value)) if isinstance(value, list) else [value]
    return values


def _cell(value: Any) -> Any:
    """A CSV cell: a number at full precision, a category as its text."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def _write_out(args: argparse.Namespace, result: Any) -> dict[str, Path]:
    """Write the history, the result (JSON) and the points (CSV); return their paths."""
    out = args.out
    stem = out.with_suffix("") if out.suffix == ".csv" else out
    history = stem.with_name(stem.name + ".csv")
    result_json = stem.with_name(stem.name + ".json")
    points_csv = stem.with_name(stem.name + ".x.csv")
    history.parent.mkdir(parents=True, exist_ok=True)
    result.history.to_csv(str(history))
    x, x_last = _vector(result.x), _vector(result.x_last)
    start = _vector(result.x0) if "x0" in result else None
    record = {
        "problem": result.problem,
        "method": result.method,
        "fun": result.fun,
        "x": x,
        "x_last": x_last,
        "x0": start,
        "success": bool(result.success),
        "status": int(result.status),
        "message": result.message,
        "nit": int(result.nit),
        "nfev": int(result.nfev),
        "nfev_monitor": int(result.nfev_monitor),
        "nfail": int(result.get("nfail", 0)),
        "time": float(result.time),
        "seed": args.seed,
        "budget": args.budget,
        "history": history.name,
        "points": points_csv.name,
    }
    named = {key: _plain(result[key]) for key in ("params", "params_last", "params0")}
    if named["params"] is not None:
        record.update(named)
    result_json.write_text(json.dumps(record, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    rows = [("best", x), ("last", x_last)] + ([("start", start)] if start else [])
    header = ["point", *(f"x_{j}" for j in range(len(x)))]
    if named["params"] is not None and list(named["params"]) != ["x"]:
        # a problem with a parameter space: its parameters by name, decoded
        by_name = [named["params"], named["params_last"], named["params0"]][: len(rows)]
        header = ["point", *_named_columns(named["params"])]
        rows = [(label, _named_values(p)) for (label, _), p in zip(rows, by_name, strict=True)]
    with open(points_csv, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")  # quotes a category's commas
        writer.writerow(header)
        writer.writerows([name, *(_cell(v) for v in values)] for name, values in rows)
    return {
        "history": history,
        "result": result_json,
        "points": points_csv,
    }


#: Options whose value may start with a minus sign (``--x0 -5,2.5``).
_SIGNED_VALUES = ("--x0", "--bounds")


def _attached_values(argv: Sequence[str]) -> list[str]:
    """``--x0 -5,2.5`` as ``--x0=-5,2.5``: argparse would take the value for an option."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] in _SIGNED_VALUES and i + 1 < len(args) and args[i + 1].startswith("-"):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


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
        still printed), including a run ended by a failing forward model, method or
        callback (the error is printed on standard error, then the result up to it,
        and ``--out`` writes its files), 2 on a usage error or an error raised by the
        library (printed as ``error: <message>`` on standard error, without a
        traceback).
    """
    from .exceptions import BlackboxOptError

    parser = build_parser()
    try:
        args = parser.parse_args(_attached_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    commands = {"list": _cmd_list, "run": _cmd_run}
    try:
        return commands[args.command](args)
    except BlackboxOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output's reader is gone (``| head``): stop quietly
        # Python flushes stdout again at exit; point it at /dev/null so that flush
        # does not raise a second time
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
