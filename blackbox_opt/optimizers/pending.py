"""The batch a method asked for, waiting for its losses; told points matched to it.

An external renderer returns results in any order and in pieces. ``ask`` opens a
:class:`PendingBatch`; every ``tell`` matches its rows to the asked rows by the points
themselves (bit-for-bit equal values), fills their losses, and the method steps once
the batch is complete, seeing it in the order it was asked. Matching is vectorised: each
row gets an integer key from its values' bits, the asked keys are sorted once, and a
told row is found with a binary search and then compared element by element, so a
tell of ``P`` points costs ``O(P (D + log B))`` whatever the order.
"""

from __future__ import annotations

import torch

from ..exceptions import InvalidParameterError

__all__ = ["PendingBatch", "row_keys"]

_INT_OF_SIZE = {2: torch.int16, 4: torch.int32, 8: torch.int64}
_WEIGHTS: dict[tuple[int, torch.dtype, str], torch.Tensor] = {}


def _weights(dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (dim, dtype, str(device))
    if key not in _WEIGHTS:
        g = torch.Generator().manual_seed(0x5EED)
        high = 2**62 if dtype == torch.int64 else 2**30
        w = torch.randint(-high, high, (dim,), generator=g, dtype=torch.int64) | 1
        _WEIGHTS[key] = w.to(device=device, dtype=dtype)
    return _WEIGHTS[key]


def row_keys(X: torch.Tensor) -> torch.Tensor:
    """An integer key per row, equal for rows whose values are bit-for-bit equal.

    Parameters
    ----------
    X : torch.Tensor of shape (B, D), floating point

    Returns
    -------
    torch.Tensor of shape (B,), int64
        A weighted sum of the values' bit patterns (wrapping arithmetic). Different
        rows may share a key; matches are confirmed by comparing the values.

    Examples
    --------
    >>> X = torch.tensor([[0.5, 1.0], [1.0, 0.5], [0.5, 1.0]])
    >>> k = row_keys(X)
    >>> bool(k[0] == k[2]), bool(k[0] == k[1])
    (True, False)
    """
    X = X.contiguous()
    bits = X.view(_INT_OF_SIZE[X.element_size()])
    if bits.dtype == torch.int16:
        bits = bits.to(torch.int32)
    # products wrap in the bits' own width; the sum is taken in 64 bits
    return (bits * _weights(X.shape[1], bits.dtype, X.device)).sum(-1, dtype=torch.int64)


class PendingBatch:
    """The asked batch: its points, the losses told so far, and which rows are done.

    Parameters
    ----------
    X : torch.Tensor of shape (B, D)
        The points as asked.
    needs_gradient : bool
        Whether tells carry gradients ``(P, D)``.

    Attributes
    ----------
    X : torch.Tensor of shape (B, D)
    y : torch.Tensor of shape (B,)
        Losses told so far (NaN where not yet told).
    grads : torch.Tensor of shape (B, D) or None
    told : torch.Tensor of shape (B,), bool
    redraw : torch.Tensor of shape (B,), bool
        Rows whose evaluation failed under ``on_error="reask"``: the next ``ask``
        replaces them with new points.
    penalized : torch.Tensor of shape (B,), bool
        Rows whose evaluation failed and whose loss is the penalty.
    """

    def __init__(self, X: torch.Tensor, needs_gradient: bool = False):
        B = X.shape[0]
        self.X = X.detach().clone()
        self.y = torch.full((B,), float("nan"), dtype=X.dtype, device=X.device)
        self.grads = torch.zeros_like(self.X) if needs_gradient else None
        self.told = torch.zeros(B, dtype=torch.bool, device=X.device)
        self.redraw = torch.zeros(B, dtype=torch.bool, device=X.device)
        self.penalized = torch.zeros(B, dtype=torch.bool, device=X.device)
        self.any_penalized = False
        self._n_told = 0
        self._every_row: torch.Tensor | None = None  # arange(B), the slots of a whole tell
        self._sorted_keys: torch.Tensor | None = None  # built on the first search
        self._handed_out: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def _index(self) -> None:
        self._sorted_keys, self._order = torch.sort(row_keys(self.X), stable=True)

    def hand_out(self, X: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Remember the tensor ``ask`` returns for rows ``slots``, and return it.

        A tell of that very tensor, unchanged and whole (the ``fit`` loop's case), is
        matched by one comparison instead of a search.
        """
        whole = slots.numel() == self.size and self._n_told == 0
        self._handed_out = (X, None if whole else slots)  # None: every row, in order
        return X

    @property
    def size(self) -> int:
        """The number of points asked."""
        return self.X.shape[0]

    def n_told(self) -> int:
        """The number of points told so far."""
        return self._n_told

    def complete(self) -> bool:
        """Whether every point has its loss."""
        return self._n_told == self.size

    def waiting(self) -> torch.Tensor:
        """Indices of the rows still waiting for a loss (not told, not to be redrawn)."""
        return (~self.told & ~self.redraw).nonzero().flatten()

    def match(self, X: torch.Tensor) -> torch.Tensor:
        """The asked row of each told row, or an error naming the first that has none.

        Rows equal to several asked rows (a method that asked the same point twice)
        take the free ones in turn. Nothing is changed: call :meth:`fill` to record.

        Parameters
        ----------
        X : torch.Tensor of shape (P, D)

        Returns
        -------
        torch.Tensor of shape (P,), int64

        Raises
        ------
        InvalidParameterError
            For a row that was not asked in this batch, or one whose loss was told
            already (counting repeats within ``X``).
        """
        P, B = X.shape[0], self.size
        if self._handed_out is not None:
            out, slots = self._handed_out
            same_tensor = (
                X.data_ptr() == out.data_ptr()
                and X.shape == out.shape
                and X.stride() == out.stride()
            )
            if same_tensor and slots is None and self._n_told == 0 and torch.equal(X, self.X):
                self._every_row = torch.arange(B, device=X.device)
                return self._every_row
            if (
                same_tensor
                and slots is not None
                and not bool(self.told[slots].any())
                and torch.equal(X, self.X[slots])
            ):
                return slots
        if self._sorted_keys is None:
            self._index()
        keys = row_keys(X)
        left = torch.searchsorted(self._sorted_keys, keys, right=False)
        right = torch.searchsorted(self._sorted_keys, keys, right=True)
        # repeats of one key within this tell take successive free slots
        sorted_told, order = torch.sort(keys, stable=True)
        first = torch.searchsorted(sorted_told, sorted_told, right=False)
        rank = torch.empty_like(first)
        rank[order] = torch.arange(P, device=X.device) - first
        # slots of one key are filled front to back, so the taken ones are a prefix
        taken = (self.told | self.redraw)[self._order].to(torch.int64)
        cum = torch.cat([taken.new_zeros(1), taken.cumsum(0)])
        position = left + (cum[right] - cum[left]) + rank
        inside = position < right
        slots = self._order[position.clamp(max=B - 1)]
        equal = (self.X[slots] == X).all(1) & inside
        if bool(equal.all()):
            return slots
        return self._match_one_by_one(X, slots, equal)

    def _match_one_by_one(
        self, X: torch.Tensor, slots: torch.Tensor, matched: torch.Tensor
    ) -> torch.Tensor:
        """Match, by direct comparison, the rows the keyed search did not place.

        Reached for a wrong tell, or when two different asked points share a key (a
        chance of about one in a billion per pair); a loop over those rows only.
        """
        B = self.size
        taken = self.told | self.redraw
        taken[slots[matched]] = True
        slots = slots.clone()
        for i in (~matched).nonzero().flatten().tolist():
            same = (self.X == X[i]).all(1)
            free = (same & ~taken).nonzero().flatten()
            if free.numel():
                slots[i] = free[0]
                taken[free[0]] = True
                continue
            if bool(same.any()):
                raise InvalidParameterError(
                    f"Row {i} of X was told already: each asked point takes one loss. The "
                    f"batch has {B} points, {self.n_told()} told; ask() returns those "
                    "still waiting."
                )
            raise InvalidParameterError(
                f"Row {i} of X is not a point of the pending batch: tell() takes the "
                f"points ask() returned (bit-for-bit, in any order and in pieces); it "
                f"returned {B} points, {self.n_told()} told so far."
            )
        return slots

    def fill(
        self, slots: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None = None
    ) -> None:
        """Record the losses (and gradients) of the matched rows (distinct, not told)."""
        if slots is self._every_row:  # the batch as asked, whole: nothing to reorder
            self.y = y.to(self.y.dtype)
            if self.grads is not None and grads is not None:
                self.grads = grads.to(self.grads.dtype)
            self.told = torch.ones_like(self.told)
            self._n_told = self.size
            return
        self.y[slots] = y
        if self.grads is not None and grads is not None:
            self.grads[slots] = grads
        self.told[slots] = True
        self._n_told += slots.numel()

    def mark_redraw(self, slots: torch.Tensor) -> None:
        """Mark rows whose evaluation failed, to be replaced by the next ask."""
        self.redraw[slots] = True

    def replace(self, slots: torch.Tensor, X: torch.Tensor) -> None:
        """Put new points in the given rows (redrawn after a failure)."""
        self.X[slots] = X
        self.redraw[slots] = False
        self._sorted_keys = None

    def state_dict(self) -> dict:
        """The batch as tensors."""
        return {
            "X": self.X,
            "y": self.y,
            "grads": self.grads,
            "told": self.told,
            "redraw": self.redraw,
            "penalized": self.penalized,
        }

    @classmethod
    def from_state_dict(cls, state: dict, device: torch.device) -> PendingBatch:
        """Rebuild a batch saved by :meth:`state_dict`."""
        batch = cls(state["X"].to(device), needs_gradient=state["grads"] is not None)
        batch.y = state["y"].to(device)
        if state["grads"] is not None:
            batch.grads = state["grads"].to(device)
        batch.told = state["told"].to(device)
        batch.redraw = state["redraw"].to(device)
        batch.penalized = state["penalized"].to(device)
        batch.any_penalized = bool(batch.penalized.any())
        batch._n_told = int(batch.told.sum())
        return batch
