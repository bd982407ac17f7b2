"""The blackbox-opt benchmark (run from the repository root as ``python -m bench``).

:mod:`bench.experiments` holds every experiment as data, in one registry; the
``python -m bench`` subcommands run them: :mod:`bench.runner` (``run``, ``demo``: methods
x problems x seeds, resumable), :mod:`bench.mitsuba` (PRDPT against Mitsuba's
gradients) and :mod:`bench.meta` (meta-learned initialisation). :mod:`bench.figures`
and :mod:`bench.summary` turn the runner's tables into figures and a summary;
:mod:`bench.speed`, :mod:`bench.overhead` and :mod:`bench.batching` time the methods,
the baselines' wrappers and batched evaluation. :mod:`bench.errors` has the errors
that ``python -m bench`` reports in one line.
"""

__all__ = [
    "batching",
    "errors",
    "experiments",
    "figures",
    "meta",
    "mitsuba",
    "overhead",
    "runner",
    "speed",
    "summary",
]
