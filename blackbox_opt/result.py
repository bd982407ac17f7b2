"""The result of an optimisation run and its per-iteration history."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = ["HISTORY_COLUMNS", "History", "OptimizeResult", "Status"]

#: The columns of a :class:`History`, in order.
HISTORY_COLUMNS = (
    "nit",
    "nfev",
    "nfev_monitor",
    "time",
    "loss",
    "best",
    "grad_norm",
    "sigma",
    "param_error",
)


class Status:
    """The ``status`` codes of an :class:`OptimizeResult`, with their messages."""

    TARGET = 0
    BUDGET = 1
    MAX_ITER = 2
    MAX_TIME = 3
    CALLBACK = 4
    CONVERGED = 5
    INTERRUPTED = 6
    ERROR = 7
    RUNNING = 8
    STALLED = 9

    MESSAGES: ClassVar[dict[int, str]] = {
        TARGET: "The target loss was reached.",
        BUDGET: "The evaluation budget is exhausted.",
        MAX_ITER: "The maximum number of iterations was reached.",
        MAX_TIME: "The time limit was reached.",
        CALLBACK: "The callback stopped the run (StopIteration).",
        CONVERGED: "The method converged.",
        INTERRUPTED: "Interrupted by the user (KeyboardInterrupt); the result so far.",
        ERROR: "The forward model failed; the result is the best found before the failure.",
        RUNNING: "The run has not finished.",
        STALLED: (
            "The method stopped because its samples' losses were all equal (a plateau): "
            "the result may not be a minimum."
        ),
    }
    #: Statuses that count as a normal end of a run (``success=True``).
    SUCCESS = frozenset({TARGET, BUDGET, MAX_ITER, MAX_TIME, CALLBACK, CONVERGED})


class OptimizeResult(dict):
    """The outcome of a run: a dict whose keys are also attributes, like scipy's.

    Attributes
    ----------
    x : torch.Tensor (D,)
        The best point found (the lowest loss among every point evaluated, the method's
        iterates included).
    params : dict
        ``x`` by name, in the types of the problem's
        :attr:`~blackbox_opt.Problem.space`: floats, ints, the chosen categories,
        arrays of their shape (``{"x": x}`` for a problem of plain reals).
    fun : float
        The loss at ``x``.
    success : bool
        Whether the run ended normally (budget, iterations, time, target, callback).
    status : int
        A :class:`Status` code.
    message : str
        Why the run stopped.
    nfev : int
        Evaluations charged to the budget.
    nfev_monitor : int
        Evaluations made only to monitor the loss at the current iterate.
    nfail : int
        Evaluations that failed (the forward model raised or returned NaN or inf) and
        were handled by ``on_error="penalize"`` or ``"reask"``; they count in ``nfev``.
    nit : int
        Iterations completed.
    x_last : torch.Tensor (D,)
        The method's final recommendation (its current iterate or mean).
    x0 : torch.Tensor (D,)
        The point the run started from (the given ``x0``, else the problem's).
    history : History
        One row per iteration.
    method, problem : str
        What ran on what.
    time : float
        Wall-clock seconds.

    Examples
    --------
    >>> r = OptimizeResult(x=torch.zeros(2), fun=0.0, nit=3)
    >>> r.fun, r["nit"]
    (0.0, 3)
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    __setattr__ = dict.__setitem__  # type: ignore[assignment]
    __delattr__ = dict.__delitem__  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not self:
            return f"{type(self).__name__}()"
        order = [
            "message", "success", "status", "fun", "x", "params", "nit", "nfev", "nfev_monitor",
            "nfail",
            "method", "problem", "time",
        ]  # fmt: skip
        keys = [k for k in order if k in self] + sorted(k for k in self if k not in order)
        width = max(len(k) for k in keys)
        lines = []
        for k in keys:
            value = self[k]
            if isinstance(value, History):
                text = f"<History: {len(value)} rows>"
            elif isinstance(value, dict):
                text = "{" + ", ".join(f"{n!r}: {_short(v)}" for n, v in value.items()) + "}"
            else:
                text = _short(value)
            lines.append(f"{k.rjust(width)}: {text}")
        return "\n".join(lines)

    def __dir__(self) -> Iterable[str]:
        return list(self.keys())


class History:
    """Per-iteration records of a run, one row per iteration.

    Rows may hold 0-d tensors while the run is going (so the loop never waits on the
    device); they are turned into floats when read.

    Columns: ``nit``, ``nfev`` (charged evaluations), ``nfev_monitor``, ``time``
    (seconds since the start), ``loss`` (at the current iterate, NaN when not
    monitored), ``best`` (best loss so far), ``grad_norm`` (norm of the method's
    parameter gradient, NaN for methods without one), ``sigma`` (the smoothing or
    step scale, NaN where it has no meaning), ``param_error`` (mean squared error of
    the iterate to the known optimum, NaN when unknown); then every other key that a
    method's ``_tell`` returned (its own columns, NaN in rows without them), and, for a
    problem that declares a :class:`~blackbox_opt.Space`, one column per real, integer
    and categorical parameter at the iterate, named after it (a categorical holds the
    index of its choice; a name that is already a column gets the prefix ``param_``).

    A run with ``record_x=True`` also keeps the iterate of every row (the key ``x`` of
    a row, a ``(D,)`` tensor): :attr:`x` stacks them into an array of shape
    ``(len(history), D)``. They are not among :attr:`columns`; :meth:`to_csv` and
    :meth:`to_pandas` add them as the columns ``x_0`` to ``x_{D-1}``.

    Examples
    --------
    >>> h = History()
    >>> h.append(nit=0, nfev=0, loss=torch.tensor(2.0), best=2.0)
    >>> h["loss"]
    array([2.])
    >>> h.append(nit=1, nfev=2, loss=torch.tensor(1.0), best=1.0, x=torch.tensor([0.5, 1.0]))
    >>> h.x  # NaN where no iterate was recorded
    array([[nan, nan],
           [0.5, 1. ]])
    """

    def __init__(self, rows: list[dict] | None = None):
        self._rows: list[dict] = list(rows or [])
        self._cache: dict[str, np.ndarray] | None = None

    def append(self, **row: Any) -> None:
        """Add a row; missing columns are NaN."""
        self._rows.append(row)
        self._cache = None

    def update_last(self, **values: Any) -> None:
        """Set columns of the most recent row."""
        self._rows[-1].update(values)
        self._cache = None

    def __len__(self) -> int:
        return len(self._rows)

    def _columns(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            extra: dict[str, None] = {}
            for row in self._rows:
                extra.update((k, None) for k in row if k not in HISTORY_COLUMNS and k != "x")
            names = HISTORY_COLUMNS + tuple(extra)
            self._cache = {c: _column(self._rows, c) for c in names}
        return self._cache

    @property
    def has_x(self) -> bool:
        """Whether any row holds its iterate (the run had ``record_x=True``)."""
        return any("x" in row for row in self._rows)

    @property
    def x(self) -> np.ndarray:
        """The iterates, one row per history row: an array of shape ``(len(self), D)``.

        Rows recorded without an iterate are NaN.

        Raises
        ------
        KeyError
            When no row holds one: the run did not have ``record_x=True``.
        """
        found = [i for i, row in enumerate(self._rows) if "x" in row]
        if not found:
            raise KeyError(
                "This history holds no iterates: run with record_x=True (an option of "
                "every method, e.g. minimize(..., record_x=True)) to keep them."
            )
        points = [self._rows[i]["x"] for i in found]
        if all(torch.is_tensor(v) for v in points):  # one device transfer for all rows
            stacked = torch.stack([v.detach().reshape(-1).double() for v in points]).cpu()
            values = stacked.numpy()
        else:
            values = np.asarray([np.asarray(v, dtype=np.float64).reshape(-1) for v in points])
        out = np.full((len(self._rows), values.shape[1]), np.nan)
        out[found] = values
        return out

    def __getitem__(self, column: str) -> np.ndarray:
        """Return one column as a numpy array (``"x"``: :attr:`x`)."""
        if column == "x":
            return self.x
        columns = self._columns()
        if column not in columns:
            raise KeyError(f"Unknown history column {column!r}; columns: {tuple(columns)}.")
        return columns[column]

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names: :data:`HISTORY_COLUMNS`, then any a method added."""
        return tuple(self._columns())

    def to_dict(self) -> dict[str, list]:
        """Return ``{column: list of values}``, and ``"x"`` (lists) when iterates were kept."""
        columns = {c: v.tolist() for c, v in self._columns().items()}
        if self.has_x:
            columns["x"] = [None if np.isnan(r).all() else r.tolist() for r in self.x]
        return columns

    @classmethod
    def from_dict(cls, columns: dict[str, list]) -> History:
        """Rebuild a history from :meth:`to_dict`.

        Parameters
        ----------
        columns : dict of str to list

        Returns
        -------
        History
        """
        n_rows = len(next(iter(columns.values()))) if columns else 0
        scalars = {c: v for c, v in columns.items() if c != "x"}
        rows = [{c: v[i] for c, v in scalars.items()} for i in range(n_rows)]
        for row, x in zip(rows, columns.get("x", ()), strict=False):
            if x is not None:
                row["x"] = torch.tensor(x, dtype=torch.float64)
        return cls(rows)

    def rows(self) -> list[dict]:
        """Return the rows as they were recorded (a copy of the list).

        Returns
        -------
        list of dict
        """
        return [dict(row) for row in self._rows]

    def to_pandas(self):
        """Return the history as a :class:`pandas.DataFrame` (one row per iteration)."""
        from .utils import require

        pd = require("pandas", "bench")
        cols = self._with_x()
        frame = pd.DataFrame(cols, columns=list(cols))
        return frame.astype({"nit": "int64", "nfev": "int64", "nfev_monitor": "int64"})

    def _with_x(self) -> dict[str, np.ndarray]:
        """The columns, then ``x_0`` ... ``x_{D-1}`` when iterates were kept."""
        cols = dict(self._columns())
        if self.has_x:
            cols.update((f"x_{j}", column) for j, column in enumerate(self.x.T))
        return cols

    def to_csv(self, path: str) -> None:
        """Write the history as CSV (no pandas needed); iterates kept with ``record_x``
        are the columns ``x_0`` ... ``x_{D-1}``."""
        cols = self._with_x()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(cols) + "\n")
            for i in range(len(self)):
                fh.write(",".join(_fmt(cols[c][i]) for c in cols) + "\n")

    def __repr__(self) -> str:
        return f"History({len(self)} rows)"


def _short(value: Any) -> str:
    """A value as one short line: arrays summarised."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        array = np.asarray(value.detach().cpu() if torch.is_tensor(value) else value)
        return np.array2string(array, threshold=8, precision=6).replace("\n", "")
    return repr(value)


def _column(rows: list[dict], name: str) -> np.ndarray:
    values = [row.get(name, math.nan) for row in rows]
    tensors = [i for i, v in enumerate(values) if torch.is_tensor(v)]
    if tensors:  # one device transfer for the whole column
        stacked = torch.stack([values[i].detach().reshape(()).double() for i in tensors])
        for i, v in zip(tensors, stacked.cpu().tolist(), strict=True):
            values[i] = v
    values = [math.nan if v is None else v for v in values]
    return np.asarray(values, dtype=np.float64)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
