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
    params_last, params0 : dict
        ``x_last`` and ``x0`` by name, as ``params``.
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
    device); they are turned into floats when read. The latest 512 rows are kept as
    recorded; older ones are frozen into one float64 column each (their tensors stacked
    on the device until first read): about 120 bytes a row, where rows kept as dicts
    of tensors took 1.8 KB, so the history of a run of a million iterations fits in
    about 120 MB and its checkpoint saves it as one tensor per column.

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
        self._blocks: list[_Block] = []  # older rows, frozen into columns
        self._tail: list[dict] = []  # the latest rows, as recorded
        self._extra: dict[str, None] = {}  # the columns a method added, in order
        self._has_x = False
        self._cache: dict[str, np.ndarray] | None = None
        for row in rows or ():
            self.append(**row)

    def append(self, **row: Any) -> None:
        """Add a row; missing columns are NaN."""
        if len(self._tail) >= _BLOCK_ROWS:  # freeze the older rows: ~80 bytes a row
            self._blocks.append(_Block.from_rows(self._tail))
            self._tail = []
        self._tail.append(row)
        self._note_keys(row)
        self._cache = None

    def update_last(self, **values: Any) -> None:
        """Set columns of the most recent row."""
        if not self._tail:  # the last row is frozen (a history rebuilt from a checkpoint)
            self._tail.append(self._blocks[-1].pop_last())
            if self._blocks[-1].n == 0:
                self._blocks.pop()
        self._tail[-1].update(values)
        self._note_keys(values)
        self._cache = None

    def _note_keys(self, row: dict) -> None:
        for key in row:
            if key == "x":
                self._has_x = self._has_x or row["x"] is not None
            elif key not in HISTORY_COLUMNS and key not in self._extra:
                self._extra[key] = None

    def __len__(self) -> int:
        return sum(block.n for block in self._blocks) + len(self._tail)

    def _columns(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            tail = _Block.from_rows(self._tail) if self._tail else None
            blocks = self._blocks + ([tail] if tail is not None else [])
            names = HISTORY_COLUMNS + tuple(self._extra)
            self._cache = {
                c: np.concatenate([b.column(c) for b in blocks]) if blocks else np.empty(0)
                for c in names
            }
        return self._cache

    @property
    def has_x(self) -> bool:
        """Whether any row holds its iterate (the run had ``record_x=True``)."""
        return self._has_x

    @property
    def x(self) -> np.ndarray:
        """The iterates, one row per history row: an array of shape ``(len(self), D)``.

        Rows recorded without an iterate are NaN.

        Raises
        ------
        KeyError
            When no row holds one: the run did not have ``record_x=True``.
        """
        if not self._has_x:
            raise KeyError(
                "This history holds no iterates: run with record_x=True (an option of "
                "every method, e.g. minimize(..., record_x=True)) to keep them."
            )
        blocks = self._blocks + ([_Block.from_rows(self._tail)] if self._tail else [])
        parts = [b.iterates() for b in blocks]
        dim = next(p.shape[1] for p in parts if p.shape[1] > 0)
        return np.concatenate([p if p.shape[1] else np.full((len(p), dim), np.nan) for p in parts])

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

    def to_dict(self, *, as_tensors: bool = False) -> dict[str, Any]:
        """Return ``{column: values}``, and ``"x"`` when iterates were kept.

        Parameters
        ----------
        as_tensors : bool, default=False
            False: lists of floats (``"x"``: a list per row, None where a row has no
            iterate). True: one float64 tensor per column (``"x"``: a ``(rows, D)``
            tensor, NaN where a row has none), compact and quick to save for a run of
            a million iterations; :meth:`from_dict` reads both.

        Returns
        -------
        dict
        """
        if as_tensors:
            columns: dict[str, Any] = {
                c: torch.from_numpy(v.copy()) for c, v in self._columns().items()
            }
            if self.has_x:
                columns["x"] = torch.from_numpy(self.x)
            return columns
        columns = {c: v.tolist() for c, v in self._columns().items()}
        if self.has_x:
            columns["x"] = [None if np.isnan(r).all() else r.tolist() for r in self.x]
        return columns

    @classmethod
    def from_dict(cls, columns: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict` (lists or tensors).

        Parameters
        ----------
        columns : dict of str to list or tensor

        Returns
        -------
        History
        """
        history = cls()
        arrays = {
            c: np.asarray(v.cpu() if torch.is_tensor(v) else v, dtype=np.float64).reshape(-1)
            for c, v in columns.items()
            if c != "x"
        }
        n_rows = len(next(iter(arrays.values()))) if arrays else 0
        x = columns.get("x")
        if x is not None and not torch.is_tensor(x):  # a list, None for rows without one
            rows = [r for r in x if r is not None]
            dim = len(rows[0]) if rows else 0
            x = np.array([[math.nan] * dim if r is None else r for r in x], dtype=np.float64)
        elif x is not None:
            x = x.detach().cpu().double().numpy()
        if n_rows:
            history._blocks.append(_Block(n_rows, arrays, x))
        history._note_keys(arrays)
        history._has_x = x is not None and bool((~np.isnan(x)).any())
        return history

    def rows(self) -> list[dict]:
        """Return the rows (a copy): the latest 512 as recorded, older ones as they were
        frozen: floats, with NaN for a column a row did not set, and the iterate (when
        kept) as a float64 tensor.

        Returns
        -------
        list of dict
        """
        out = [row for block in self._blocks for row in block.rows()]
        return out + [dict(row) for row in self._tail]

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


#: Rows a :class:`History` keeps as recorded before freezing them into columns.
_BLOCK_ROWS = 512


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors flattened and stacked, detached, shape ``(k, numel)``: in their own
    dtype when they share it and a device (no conversion on the device), else float64."""
    with torch.no_grad():
        first = tensors[0]
        flat = [t.reshape(-1) for t in tensors]  # views: no copies, no kernels
        if all(t.dtype == first.dtype and t.device == first.device for t in tensors):
            return torch.stack(flat)
        return torch.stack([t.double().to(first.device) for t in flat])


def _scalar_or_nan(value: Any, name: str) -> float:
    """A plain value of a history column as a float; a non-number is NaN, with a warning
    (once a column), rather than an error in the middle of a run."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        _warn_not_a_number(name, f"a {type(value).__name__} ({value!r})")
        return math.nan


def _warn_not_a_number(name: str, what: str) -> None:
    if name in _WARNED_COLUMNS:
        return
    _WARNED_COLUMNS.add(name)
    import warnings

    from .exceptions import BlackboxOptWarning

    warnings.warn(
        f"The history column {name!r} holds {what}, not a number: such values are kept "
        "as NaN. A method's _tell should return numbers (or 0-d tensors).",
        BlackboxOptWarning,
        stacklevel=3,
    )


#: Columns already warned about by :func:`_warn_not_a_number`.
_WARNED_COLUMNS: set[str] = set()


class _Block:
    """Rows of a :class:`History` frozen into columns: a float64 array per column, and
    the rows' 0-d tensors stacked on their device, copied to the host only when read
    (freezing never waits on the device). The iterates of ``record_x``, if any, as a
    ``(n, D)`` stack."""

    __slots__ = ("columns", "n", "x")

    def __init__(self, n: int, columns: dict[str, Any], x: Any = None):
        self.n = n
        self.columns = columns
        self.x = x

    @classmethod
    def from_rows(cls, rows: list[dict]) -> _Block:
        names: dict[str, None] = {}
        for row in rows:
            names.update((k, None) for k in row if k != "x")
        columns: dict[str, Any] = {}
        for name in names:
            values = [row.get(name, math.nan) for row in rows]
            tensors = [i for i, v in enumerate(values) if torch.is_tensor(v) and v.numel() == 1]
            plain = [math.nan if torch.is_tensor(v) else _scalar_or_nan(v, name) for v in values]
            if len(tensors) < sum(torch.is_tensor(v) for v in values):
                _warn_not_a_number(name, "a tensor of several values")  # kept as NaN
            base = np.asarray(plain, dtype=np.float64)
            if tensors:  # one stack on the device; the host copy waits for a read
                stacked = _stack([values[i] for i in tensors]).reshape(-1)
                columns[name] = (base, np.asarray(tensors), stacked)
            else:
                columns[name] = base
        found = [i for i, row in enumerate(rows) if row.get("x") is not None]
        x = None
        if found:
            points = [rows[i]["x"] for i in found]
            if all(torch.is_tensor(v) for v in points):
                values = _stack(points)
            else:
                values = torch.as_tensor(
                    np.asarray([np.asarray(v, dtype=np.float64).reshape(-1) for v in points])
                )
            x = (np.asarray(found), values)
        return cls(len(rows), columns, x)

    def column(self, name: str) -> np.ndarray:
        value = self.columns.get(name)
        if value is None:
            return np.full(self.n, np.nan)
        if isinstance(value, tuple):  # first read: the one device-to-host copy
            base, where, stacked = value
            base[where] = stacked.cpu().double().numpy()
            self.columns[name] = value = base
        return value

    def iterates(self) -> np.ndarray:
        """``(n, D)``, NaN rows without an iterate; ``(n, 0)`` when none has one."""
        if self.x is None:
            return np.empty((self.n, 0))
        if isinstance(self.x, np.ndarray):
            return self.x
        where, values = self.x
        out = np.full((self.n, values.shape[1]), np.nan)
        out[where] = values.cpu().double().numpy()
        self.x = out
        return out

    def rows(self) -> list[dict]:
        columns = {name: self.column(name) for name in self.columns}
        x = self.iterates()
        out = []
        for i in range(self.n):
            row = {name: float(v[i]) for name, v in columns.items()}
            if x.shape[1] and not np.isnan(x[i]).all():
                row["x"] = torch.from_numpy(x[i].copy())
            out.append(row)
        return out

    def pop_last(self) -> dict:
        """Remove the last row and return it as a row dict."""
        row = {name: float(self.column(name)[-1]) for name in self.columns}
        x = self.iterates()
        if x.shape[1] and not np.isnan(x[-1]).all():
            row["x"] = torch.from_numpy(x[-1].copy())
        self.n -= 1
        for name in list(self.columns):
            self.columns[name] = self.column(name)[: self.n].copy()
        if self.x is not None:
            self.x = self.iterates()[: self.n].copy()
        return row


def _fmt(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
