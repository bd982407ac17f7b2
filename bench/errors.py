"""The benchmark's own errors.

``python -m bench`` prints the message of a :class:`BenchError` (as it does for a
``ValueError`` or a :class:`blackbox_opt.BlackboxOptError`) on one line and exits with
status 2; any other exception is a bug and propagates.
"""

from __future__ import annotations

__all__ = ["BenchError", "NoResultsError", "UnknownExperimentError"]


class BenchError(Exception):
    """Base class of the benchmark's errors."""


class UnknownExperimentError(BenchError, KeyError):
    """An experiment name that is not registered; the message names the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NoResultsError(BenchError, FileNotFoundError):
    """A results folder without the runs that a table or figure needs."""
