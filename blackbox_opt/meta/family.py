"""Families of related problems: the tasks a :class:`~blackbox_opt.MetaInitializer` learns from.

A family draws many problems of one kind and one dimension (textures fitted by the same
network, BRDFs fitted by the same MLP) and splits them into training members, which
meta-training samples, and held-out test members, which it never sees.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import torch

from ..exceptions import InvalidParameterError
from ..problem import Problem
from ..utils import check_int

__all__ = ["SPLITS", "ProblemFamily"]

#: The names of a family's two splits.
SPLITS = ("train", "test")


class ProblemFamily(torch.nn.Module):
    """Base class of a family of problems that share their dimension and their model.

    Members are numbered within each split: ``member(i, "train")`` for
    ``0 <= i < n_train`` and ``member(i, "test")`` for ``0 <= i < n_test``. Each member is
    a :class:`~blackbox_opt.Problem`, so every method runs on it. Subclasses implement

    - ``dim`` (a property) and :meth:`init_weights`, the standard random start of the
      family's model (what training from scratch starts from);
    - ``_member(k)``, the member with global number ``k`` (train members first, then
      test members);
    - optionally ``_losses(X, k, generator)``, the losses of members ``k[t]`` at points
      ``X[t]`` in one vectorised call (the default loops over the members). With a
      ``generator`` the loss may be a random minibatch of the member's data, as one
      training step would see it; without, it is the member's own deterministic loss.

    A member may define ``training_loss(X, generator)``, the loss of one training step
    on a random minibatch; :meth:`~blackbox_opt.MetaInitializer.adapt` then uses it.

    Parameters
    ----------
    n_train : int
        Training members.
    n_test : int
        Held-out test members.
    seed : int, default=0
        Seeds every member and the standard start :attr:`x0`.

    Attributes
    ----------
    differentiable : bool
        Whether autograd through the members' losses is meaningful.
    version : int
        Bumped when a change alters the members' losses.
    tags : tuple of str
        Labels shown by ``problems.list()``.

    Examples
    --------
    >>> class Shifted(ProblemFamily):
    ...     dim = 2
    ...     differentiable = True
    ...     def init_weights(self, generator):
    ...         return torch.randn(2, generator=generator)
    ...     def _member(self, k):
    ...         centre = torch.tensor([float(k), 1.0])
    ...         from blackbox_opt import FunctionProblem
    ...         return FunctionProblem(lambda X: ((X - centre) ** 2).sum(1), self.x0,
    ...                                vectorized=True, x_opt=centre)
    >>> fam = Shifted(n_train=3, n_test=1)
    >>> fam.member(0, "test").x_opt
    tensor([3., 1.])
    >>> fam.losses(torch.zeros(2, 2), torch.tensor([0, 2]))
    tensor([1., 5.])
    """

    id: ClassVar[str | None] = None
    differentiable: ClassVar[bool] = False
    version: ClassVar[int] = 1
    tags: ClassVar[tuple[str, ...]] = ()
    cost: ClassVar[str] = "cheap"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, n_train: int, n_test: int, seed: int = 0):
        super().__init__()
        for name, value, low in (("n_train", n_train, 1), ("n_test", n_test, 0)):
            check_int(value, name, low)
        if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}.")
        self.n_train = int(n_train)
        self.n_test = int(n_test)
        self.seed = int(seed)

    # -- what subclasses provide ----------------------------------------------------------
    def init_weights(self, generator: torch.Generator) -> torch.Tensor:
        """A standard random start of the family's model, shape ``(D,)``.

        Parameters
        ----------
        generator : torch.Generator
            The random source.

        Returns
        -------
        torch.Tensor of shape (D,)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement init_weights.")

    def _member(self, k: int) -> Problem:
        raise NotImplementedError(f"{type(self).__name__} must implement _member(k).")

    def _losses(
        self, X: torch.Tensor, k: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        rows = []
        for t, member in enumerate(self._member(int(i)) for i in k.tolist()):
            train = getattr(member, "training_loss", None)
            if generator is not None and train is not None:
                rows.append(train(X[t : t + 1], generator))
            else:
                rows.append(member.evaluate(X[t : t + 1]))
        return torch.cat(rows)

    # -- the public interface ---------------------------------------------------------------
    @property
    def x0(self) -> torch.Tensor:
        """The standard random start drawn with the family's seed, shape ``(D,)``."""
        return self.init_weights(torch.Generator().manual_seed(self.seed))

    @property
    def name(self) -> str:
        """The registered id, or the class name."""
        return self.id or type(self).__name__

    def size(self, split: str = "train") -> int:
        """The number of members in ``split``.

        Parameters
        ----------
        split : {"train", "test"}

        Returns
        -------
        int
        """
        _check_split(split)
        return self.n_train if split == "train" else self.n_test

    def global_index(self, index: Any, split: str = "train") -> torch.Tensor:
        """Member numbers within ``split`` as global numbers (train first, then test).

        Parameters
        ----------
        index : int or sequence of int
        split : {"train", "test"}

        Returns
        -------
        torch.Tensor of int64, shape (T,)
        """
        n = self.size(split)
        k = torch.as_tensor(index).reshape(-1)
        if k.is_floating_point() or k.dtype == torch.bool or k.numel() == 0:
            raise InvalidParameterError(f"index must hold member numbers (ints); got {index!r}.")
        if bool(((k < 0) | (k >= n)).any()):
            raise InvalidParameterError(
                f"{self.name} has {n} {split} members (0 to {n - 1}); got index {k.tolist()}."
            )
        return k.to(torch.int64) + (0 if split == "train" else self.n_train)

    def member(self, index: int, split: str = "train") -> Problem:
        """The member ``index`` of ``split`` as a :class:`~blackbox_opt.Problem`.

        Parameters
        ----------
        index : int
        split : {"train", "test"}

        Returns
        -------
        Problem
        """
        if not isinstance(index, Integral) or isinstance(index, bool):
            raise InvalidParameterError(f"index must be an int; got {index!r}.")
        k = int(self.global_index(index, split)[0])
        problem = self._member(k)
        problem.id = f"{self.name}[{split}:{index}]"
        return problem

    def members(self, split: str = "train") -> list[Problem]:
        """Every member of ``split``.

        Parameters
        ----------
        split : {"train", "test"}

        Returns
        -------
        list of Problem
        """
        return [self.member(i, split) for i in range(self.size(split))]

    def losses(
        self,
        X: torch.Tensor,
        index: Any,
        *,
        split: str = "train",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The loss of member ``index[t]`` at ``X[t]``, for all ``t`` in one call.

        Differentiable through ``X`` (with second derivatives) for differentiable
        families: meta-training builds its graphs through this method.

        Parameters
        ----------
        X : torch.Tensor of shape (T, D)
            One point per member.
        index : sequence of int of length T
            Member numbers within ``split``.
        split : {"train", "test"}, default="train"
        generator : torch.Generator, optional
            Draw a random minibatch of each member's data, as a training step sees
            it; without, each member's deterministic loss.

        Returns
        -------
        torch.Tensor of shape (T,)
        """
        k = self.global_index(index, split)
        if not torch.is_tensor(X) or X.ndim != 2 or X.shape != (k.numel(), self.dim):
            got = tuple(X.shape) if torch.is_tensor(X) else type(X).__name__
            raise InvalidParameterError(
                f"X must have shape ({k.numel()}, {self.dim}), one point per member; got {got}."
            )
        return self._losses(X, k.to(X.device), generator)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_train={self.n_train}, n_test={self.n_test}, seed={self.seed}"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidParameterError(f"split must be 'train' or 'test'; got {split!r}.")
