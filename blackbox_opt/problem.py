"""The Problem contract: a batched, device-aware loss ``(B, D) -> (B,)``.

A problem is a :class:`torch.nn.Module`, so ``problem.to(device)`` moves its tensors
(start, bounds, targets) with it. Subclasses implement one vectorised method,
:meth:`Problem._evaluate`; :meth:`Problem.__call__` validates the input once, splits
large batches into chunks sized to a memory budget, counts evaluations and checks the
output.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from .exceptions import (
    EvaluationError,
    InvalidParameterError,
    NotDifferentiableError,
    PointsFailedError,
)
from .scales import bound_widths
from .space import Space

__all__ = ["FunctionProblem", "Problem"]

#: Default working-memory budget of one chunk, per device type, in bytes. On a CPU a
#: batch whose intermediates fall out of cache is slower than a loop over smaller
#: chunks; on a GPU large batches pay.
DEFAULT_CHUNK_BYTES = {"cpu": 4 * 2**20, "cuda": 2 * 2**30}


class Problem(torch.nn.Module):
    """Base class of every optimisation problem.

    A problem maps parameter vectors to losses: ``X`` of shape ``(B, D)`` gives losses
    of shape ``(B,)``, a single ``x`` of shape ``(D,)`` gives a 0-d tensor.

    Parameters
    ----------
    x0 : array-like of shape (D,) or dict, optional
        The start point: a flat vector, or with a ``space`` values by name (missing
        names take their defaults). Required without a space.
    bounds : array-like of shape (2, D) or (2,), optional
        Lower and upper bounds; a pair of scalars applies to every coordinate. With a
        ``space`` the bounds come from it.
    x_opt : array-like of shape (D,) or dict, optional
        A known minimiser (the ground truth), used for parameter errors.
    f_opt : float, optional
        The known minimum.
    space : Space, optional
        Named parameters (reals, log-scaled reals, integers, categoricals, arrays; see
        :mod:`blackbox_opt.space`) and their map to the flat vector ``X`` that
        :meth:`_evaluate` receives; ``self.space.decode(X)`` gives them by name.
        Default: one block of plain reals ``x`` within ``bounds``.
    dtype : torch.dtype, optional
        The dtype of parameters and losses (default: float32, or that of a tensor x0).
    device : str or torch.device, optional
        Where the problem evaluates (default: CPU).
    chunk_bytes : int, optional
        Working-memory budget of one evaluation chunk; large batches are evaluated in
        chunks of ``chunk_bytes // bytes_per_point`` points. Defaults per device type
        (4 MiB on CPU, 2 GiB on CUDA).

    Attributes
    ----------
    dim : int
        The number of parameters D.
    id : str or None
        The registry id the problem was made under (:func:`~blackbox_opt.make_problem`
        sets it); a class may give its usual id as the default.
    differentiable : bool
        Whether the loss has a meaningful gradient (torch autograd, or the renderer's
        own derivatives). The class's value is what the registry lists; an instance
        whose backend cannot give one (a Mitsuba variant without AD) sets False and
        says why in ``not_differentiable_reason``.
    not_differentiable_reason : str
        Why a problem that could have gradients has none here (e.g. a renderer variant
        without AD); gradient methods add it to their error. Empty by default.
    version : int
        Bumped when a change to the class alters its losses; the benchmark's records
        of an older version are stale.
    tags : tuple of str
        Labels shown by ``problems.list()``: ``plateau``, ``discrete``, ``high-dim``...
    cost : str
        ``"cheap"``, ``"medium"`` or ``"expensive"`` per evaluation. The methods'
        default ``monitor="auto"`` evaluates the iterate of an expensive problem only
        every few iterations (see :class:`~blackbox_opt.BaseOptimizer`).
    hard_bounds : bool
        Whether the problem cannot be evaluated outside its bounds (True, the default:
        a renderer given a negative radius, an index past the end). The methods' asked
        points beyond a bound are then moved onto it. False for a loss defined
        everywhere whose bounds only frame the search (the registered benchmark
        functions): the smoothing methods' samples may then fall outside, and only
        the points inside can become the best point.
    requires : tuple of str
        Optional dependencies (extras) the problem needs.
    image_shape : tuple of int or None
        ``(H, W, C)`` of :meth:`render` for image problems.
    bytes_per_point : int or None
        Working memory one point needs during evaluation; None disables chunking.
    n_evaluations : int
        Points evaluated so far (every call counts).

    Examples
    --------
    >>> class Sphere(Problem):
    ...     def _evaluate(self, X):
    ...         return (X**2).sum(-1)
    >>> p = Sphere(x0=[1.0, 2.0])
    >>> p(torch.tensor([[1.0, 1.0], [0.0, 3.0]]))
    tensor([2., 9.])
    >>> p.n_evaluations
    2
    """

    id: str | None = None
    differentiable: bool = False
    not_differentiable_reason: str = ""
    version: ClassVar[int] = 1
    tags: ClassVar[tuple[str, ...]] = ()
    cost: ClassVar[str] = "cheap"
    hard_bounds: bool = True
    requires: ClassVar[tuple[str, ...]] = ()
    image_shape: tuple[int, int, int] | None = None
    bytes_per_point: int | None = None

    def __init__(
        self,
        x0: Any = None,
        bounds: Any = None,
        *,
        x_opt: Any = None,
        f_opt: float | None = None,
        space: Space | None = None,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        chunk_bytes: int | None = None,
    ):
        super().__init__()
        x0, bounds, x_opt = _from_space(space, x0, bounds, x_opt)
        self._space = space
        if dtype is None:
            dtype = x0.dtype if torch.is_tensor(x0) and x0.is_floating_point() else None
        dtype = dtype or torch.get_default_dtype()
        device = torch.device(device) if device is not None else None
        x0 = _as_vector(x0, "x0", dtype, device)
        self.register_buffer("x0", x0)
        self.register_buffer("bounds", _as_bounds(bounds, x0))
        self.register_buffer(
            "x_opt", None if x_opt is None else _as_vector(x_opt, "x_opt", dtype, device, x0)
        )
        self.f_opt = None if f_opt is None else float(f_opt)
        if chunk_bytes is not None and (not isinstance(chunk_bytes, int) or chunk_bytes <= 0):
            raise InvalidParameterError(f"chunk_bytes must be a positive int; got {chunk_bytes}.")
        self.chunk_bytes = chunk_bytes
        self.n_evaluations = 0

    # -- properties ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """The number of parameters D."""
        return self.x0.shape[0]

    @property
    def device(self) -> torch.device:
        """The device the problem evaluates on."""
        return self.x0.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of parameters and losses."""
        return self.x0.dtype

    @property
    def name(self) -> str:
        """The registered id, or the class name for unregistered problems."""
        return self.id or type(self).__name__

    @property
    def space(self) -> Space:
        """The problem's parameters by name (:class:`~blackbox_opt.space.Space`).

        The declared space, or by default one block ``x`` of plain reals within the
        bounds.
        """
        if self._space is not None:
            return self._space
        default = self.__dict__.get("_default_space")
        if default is None or default.dim != self.dim:
            default = Space.from_bounds(self.dim, self.bounds)
            self.__dict__["_default_space"] = default
        return default

    @property
    def scales(self) -> torch.Tensor:
        """The natural scale of each coordinate of the flat vector, shape ``(D,)``.

        The methods' step and smoothing sizes default to fractions of it (see
        :mod:`blackbox_opt.scales`). From the declared space (log-scale reals: their
        width in log units; one score per categorical choice: 1), else the width of
        the bounds; ``inf`` where a parameter has no finite bounds, where the methods
        fall back on absolute defaults. A problem whose parameters have a natural
        scale other than their bounds overrides this property.
        """
        if self._space is not None:
            return self._space.scales.to(device=self.device, dtype=self.dtype)
        return bound_widths(self.bounds, self.dim, self.dtype, self.device)

    # -- evaluation -----------------------------------------------------------------------
    def forward(self, X: Any) -> torch.Tensor:
        """Evaluate the loss at ``X`` of shape ``(B, D)`` or ``(D,)``.

        The input is validated (shape, dtype, device, finiteness); array-likes are
        converted to tensors on the problem's device.

        Parameters
        ----------
        X : tensor or array-like of shape (B, D) or (D,)
            The points.

        Returns
        -------
        torch.Tensor
            Losses of shape ``(B,)``, or a 0-d tensor for a single point.
        """
        X = self.validate(X)
        single = X.ndim == 1
        y = self.evaluate(X[None] if single else X)
        return y[0] if single else y

    def validate(self, X: Any) -> torch.Tensor:
        """Return ``X`` as a tensor of the problem's dtype and device, or raise.

        Parameters
        ----------
        X : tensor or array-like of shape (B, D) or (D,)
            The points.

        Returns
        -------
        torch.Tensor
            ``X`` converted; the autograd graph is kept for tensors.
        """
        D = self.dim
        if not torch.is_tensor(X):
            try:
                X = torch.as_tensor(np.asarray(X, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(
                    f"{self.name} expects points as a tensor or array of shape (B, {D}) "
                    f"or ({D},); could not convert a {type(X).__name__}: {exc}"
                ) from None
            X = X.to(device=self.device, dtype=self.dtype)
        if X.device != self.device:
            raise InvalidParameterError(
                f"{self.name} evaluates on {self.device} but X is on {X.device}; move X "
                "with X.to(problem.device) or the problem with problem.to(device)."
            )
        if X.is_complex() or X.dtype == torch.bool:
            raise InvalidParameterError(
                f"{self.name} expects real points of dtype {self.dtype}; got {X.dtype}."
            )
        if X.ndim not in (1, 2) or X.shape[-1] != D:
            raise InvalidParameterError(
                f"{self.name} expects points of shape (B, {D}) or ({D},); "
                f"got shape {tuple(X.shape)}."
            )
        if X.dtype != self.dtype:
            X = X.to(self.dtype)
        # one reduction first (NaN and inf propagate through a sum); the element-wise
        # check runs only when it fails, e.g. on a finite sum that overflowed
        if not bool(torch.isfinite(X.sum())) and not bool(torch.isfinite(X).all()):
            finite = torch.isfinite(X)
            rows = (~finite.reshape(-1, D).all(-1)).nonzero().flatten().tolist()
            raise InvalidParameterError(
                f"{self.name} got non-finite values (NaN or inf) in point(s) {rows[:10]}."
            )
        return X

    def evaluate(self, X: torch.Tensor) -> torch.Tensor:
        """Evaluate a well-formed batch without validating it (the optimisers' path).

        Counts the evaluations, splits the batch into memory-sized chunks and checks
        that the subclass returned one finite-or-not real loss per point.

        Parameters
        ----------
        X : torch.Tensor of shape (B, D)
            Points on the problem's device and dtype.

        Returns
        -------
        torch.Tensor of shape (B,)
        """
        B = X.shape[0]
        chunk = self.chunk_size(B)
        if chunk >= B:
            y = self._evaluate(X)
        else:
            y = torch.cat([self._evaluate(part) for part in X.split(chunk)])
        # plain attribute update: torch.nn.Module.__setattr__ costs microseconds a call
        self.__dict__["n_evaluations"] += B
        if not torch.is_tensor(y) or y.shape != (B,):
            got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
            raise EvaluationError(
                f"{type(self).__name__}._evaluate must return a tensor of shape ({B},) for "
                f"{B} points; it returned {got}."
            )
        return y

    def chunk_size(self, batch: int) -> int:
        """The number of points evaluated per call to :meth:`_evaluate`.

        Parameters
        ----------
        batch : int
            The requested batch size.

        Returns
        -------
        int
            ``batch`` when no chunking is needed.
        """
        if not self.bytes_per_point:
            return batch
        budget = self.chunk_bytes or DEFAULT_CHUNK_BYTES.get(self.device.type, 2**30)
        return max(1, min(batch, budget // self.bytes_per_point))

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        """Compute the losses of a batch ``X`` ``(B, D) -> (B,)``: subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _evaluate(X).")

    def value_and_grad(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the losses ``(B,)`` and their gradients ``(B, D)`` at ``X``.

        Parameters
        ----------
        X : torch.Tensor of shape (B, D)

        Returns
        -------
        values, grads : torch.Tensor

        Raises
        ------
        NotDifferentiableError
            When :attr:`differentiable` is False.
        """
        self.require_gradients()
        with torch.enable_grad():
            X = X.detach().requires_grad_(True)
            y = self.evaluate(X)
            (grad,) = torch.autograd.grad(y.sum(), X)
        return y.detach(), grad

    def require_gradients(self, needed_by: str | None = None, advice: str | None = None) -> None:
        """Raise :class:`~blackbox_opt.NotDifferentiableError` unless the problem has gradients.

        The one message for a missing gradient, with the problem's own reason.

        Parameters
        ----------
        needed_by : str, optional
            Who needs them, e.g. ``"The 'adam' method"``; the message starts with it.
        advice : str, optional
            What to do instead (default: use a gradient-free method).

        Raises
        ------
        NotDifferentiableError

        Examples
        --------
        >>> p = FunctionProblem(lambda x: 0.0, x0=[1.0], name="flat")
        >>> p.require_gradients("The 'adam' method")
        Traceback (most recent call last):
        ...
        blackbox_opt.exceptions.NotDifferentiableError: The 'adam' method needs gradients, but problem 'flat' is not differentiable. A numpy function has no autograd gradient; pass a torch function (and a tensor x0) for one. Use a gradient-free method such as 'zerograds', 'prdpt', 'spsa' or 'cmaes'.
        """  # noqa: E501
        if self.differentiable:
            return
        if needed_by is None:
            head = (
                f"Problem {self.name!r} is not differentiable (differentiable=False): its "
                "gradient is unavailable or meaningless."
            )
        else:
            head = f"{needed_by} needs gradients, but problem {self.name!r} is not differentiable."
        reason = f" {self.not_differentiable_reason}" if self.not_differentiable_reason else ""
        advice = advice or (
            "Use a gradient-free method such as 'zerograds', 'prdpt', 'spsa' or 'cmaes'."
        )
        raise NotDifferentiableError(f"{head}{reason} {advice}")

    def render(self, X: Any) -> torch.Tensor:
        """Render the images for points ``X``: ``(B, D) -> (B, H, W, C)`` in [0, 1].

        The input is validated as for a call; image problems implement ``_render`` for a
        batch, and this method handles single points and turns autograd off.

        Parameters
        ----------
        X : tensor or array-like of shape (B, D) or (D,)

        Returns
        -------
        torch.Tensor of shape (B, H, W, C), or (H, W, C) for a single point
        """
        X = self.validate(X)
        single = X.ndim == 1
        with torch.no_grad():
            images = self._render(X[None] if single else X)
        return images[0] if single else images

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        """Images ``(B, H, W, C)`` for a validated batch: image problems implement it."""
        raise NotImplementedError(f"Problem {self.name!r} does not render images.")

    def param_error(self, x: torch.Tensor) -> torch.Tensor | None:
        """Mean squared parameter error to :attr:`x_opt`, or None when it is unknown."""
        if self.x_opt is None:
            return None
        return ((x - self.x_opt) ** 2).mean(-1)

    def reset_counter(self) -> None:
        """Set :attr:`n_evaluations` back to zero."""
        self.n_evaluations = 0

    def extra_repr(self) -> str:
        return f"dim={self.dim}, device={self.device}, dtype={self.dtype}"


class FunctionProblem(Problem):
    """Wrap a plain callable as a :class:`Problem`, as ``scipy.optimize.minimize`` does.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` for one point ``x`` of shape ``(D,)``, or with
        ``vectorized=True`` ``fun(X) -> (B,)`` for a batch. It receives torch tensors, or
        numpy arrays when ``backend="numpy"``. With a ``space``, it takes the parameters
        by name instead (see ``params_as``).
    x0 : array-like of shape (D,) or dict, optional
        The start point; with a ``space``, values by name or None for its defaults.
    bounds : array-like of shape (2, D) or (2,), optional
        Lower and upper bounds (with a ``space``, they come from it).
    space : Space, optional
        The parameters by name: reals (optionally log-scaled), integers, categoricals,
        fixed values and array blocks (see :class:`~blackbox_opt.Space`).
    params_as : {"kwargs", "dict", "vector"}, optional
        How ``fun`` receives a point: ``fun(**params)``, ``fun(params)`` or the flat
        vector. Default: ``"kwargs"`` with a space, else ``"vector"``. One point's
        params are reals as floats (0-d tensors with the torch backend, so autograd
        flows), integers as ints, categoricals as the choice, arrays as arrays of their
        shape. With ``vectorized=True`` every value is batched: ``(B,)`` tensors or
        arrays, ``(B, *shape)`` for arrays, the *index* of the choice for
        categoricals.
    vectorized : bool, default=False
        Whether ``fun`` takes a whole batch. Otherwise it is called once per point,
        the fallback for forward models that cannot batch.
    backend : {"auto", "torch", "numpy"}, default="auto"
        What ``fun`` receives. ``"auto"`` picks numpy when ``x0`` is not a tensor.
    x_opt, f_opt : optional
        A known minimiser and minimum.
    differentiable : bool, optional
        Whether autograd through ``fun`` is meaningful; default True for torch
        functions, False for numpy ones.
    name : str, optional
        A name used in messages and results (default: the function's name).
    cost : {"cheap", "medium", "expensive"}, optional
        What one evaluation costs; default ``"cheap"`` for a vectorised function and
        ``"expensive"`` for one evaluated point by point (taken to be a forward model
        that cannot batch, such as a renderer): the methods' ``monitor="auto"`` then
        evaluates the iterate only every few iterations.
    hard_bounds : bool, default=True
        Whether ``fun`` cannot be called outside the bounds: the methods' points beyond
        a bound are then moved onto it. False for a function defined everywhere whose
        bounds only frame the search (see :attr:`Problem.hard_bounds`).
    dtype, device, chunk_bytes :
        As in :class:`Problem`.

    Examples
    --------
    >>> import numpy as np
    >>> p = FunctionProblem(lambda x: float(np.sum(x**2)), x0=np.ones(3))
    >>> p(np.zeros(3)).item()
    0.0
    >>> p.dtype
    torch.float64

    By name, with a space:

    >>> from blackbox_opt import Categorical, Integer, Space
    >>> def cost(n, colour):
    ...     return abs(n - 3) + (colour != "red")
    >>> space = Space(n=Integer(1, 5), colour=Categorical(["blue", "red"]))
    >>> p = FunctionProblem(cost, space=space)
    >>> p(p.space.to_vector({"n": 3, "colour": "red"})).item()
    0.0
    """

    def __init__(
        self,
        fun: Callable,
        x0: Any = None,
        bounds: Any = None,
        *,
        space: Space | None = None,
        params_as: str | None = None,
        vectorized: bool = False,
        backend: str = "auto",
        x_opt: Any = None,
        f_opt: float | None = None,
        differentiable: bool | None = None,
        name: str | None = None,
        cost: str | None = None,
        hard_bounds: bool = True,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        chunk_bytes: int | None = None,
    ):
        if not callable(fun):
            raise InvalidParameterError(f"fun must be callable; got {type(fun).__name__}.")
        if backend not in ("auto", "torch", "numpy"):
            raise InvalidParameterError(
                f"backend must be 'auto', 'torch' or 'numpy'; got {backend!r}."
            )
        if backend == "auto":
            backend = "torch" if torch.is_tensor(x0) else "numpy"
        if dtype is None and not torch.is_tensor(x0):
            dtype = torch.float64
        if params_as is None:
            params_as = "vector" if space is None else "kwargs"
        if params_as not in ("kwargs", "dict", "vector"):
            raise InvalidParameterError(
                f"params_as must be 'kwargs', 'dict' or 'vector'; got {params_as!r}."
            )
        super().__init__(
            x0,
            bounds,
            x_opt=x_opt,
            f_opt=f_opt,
            space=space,
            dtype=dtype,
            device=device,
            chunk_bytes=chunk_bytes,
        )
        self.fun = fun
        self.vectorized = bool(vectorized)
        self.backend = backend
        self.params_as = params_as
        self.differentiable = backend == "torch" if differentiable is None else differentiable
        if not self.differentiable and backend == "numpy" and differentiable is None:
            self.not_differentiable_reason = (
                "A numpy function has no autograd gradient; pass a torch function (and a "
                "tensor x0) for one."
            )
        self._name = name or getattr(fun, "__name__", None) or type(fun).__name__
        if cost is None:
            cost = "cheap" if self.vectorized else "expensive"
        if cost not in ("cheap", "medium", "expensive"):
            raise InvalidParameterError(
                f"cost must be 'cheap', 'medium' or 'expensive'; got {cost!r}."
            )
        self.cost = cost
        self.hard_bounds = bool(hard_bounds)
        if params_as == "kwargs":
            self._check_signature()

    def _check_signature(self) -> None:
        """Refuse a function that cannot take the space's names as keywords: a bug in
        the set-up, which would otherwise fail at every point as if frames were lost."""
        try:
            signature = inspect.signature(self.fun)
        except (TypeError, ValueError):  # a builtin or an object without one: try it
            return
        names = list(self.space)
        try:
            signature.bind(**dict.fromkeys(names))
        except TypeError as exc:
            takes = ", ".join(signature.parameters) or "nothing"
            raise InvalidParameterError(
                f"{self.name} takes ({takes}) but is called with the space's parameters "
                f"by name, ({', '.join(names)}): {exc}. Name its arguments after the "
                "space's parameters, or pass params_as='dict' (one dict argument) or "
                "'vector'."
            ) from None

    @property
    def name(self) -> str:
        return self._name

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        numpy = self.backend == "numpy"
        # the function gets its own copy: one that edits its input in place (a renderer
        # clamping a parameter) must not change the points the method asked for
        X = X.clone()
        if self.params_as == "vector":
            args = X.detach().cpu().numpy() if numpy else X
            points = args if self.vectorized else list(args)
        elif self.vectorized:
            points = self.space.decode(X)
            if numpy:
                points = {k: _to_numpy(v) for k, v in points.items()}
        else:
            points = self._points_by_name(X)
        if numpy:
            if self.vectorized:
                values = self._batch_values(self._call(points), X.shape[0])
            else:
                values = self._each(points, lambda v: _scalar(v, self.name))
            y = torch.as_tensor(np.asarray(values, dtype=np.float64).reshape(-1))
            return y.to(device=self.device, dtype=self.dtype)
        if self.vectorized:
            y = self._batch_values(self._call(points), X.shape[0])
            y = torch.as_tensor(y, device=self.device)
            return y.reshape(-1).to(self.dtype)
        return torch.stack(self._each(points, lambda v: _scalar_tensor(v, self)))

    def _each(self, points: list[Any], convert: Callable[[Any], Any]) -> list[Any]:
        """The function's value at each point, one call each, up to the first call that
        fails; then a :class:`~blackbox_opt.PointsFailedError` with the losses so far
        and the rows not yet evaluated, so that no point is evaluated twice and none
        that succeeded is lost (the fit loop evaluates the rest only if ``on_error``
        goes on).

        A failure is what the fit loop hands to ``on_error``: any exception but the
        library's own errors (which, like ``KeyboardInterrupt``, propagate at once).
        """
        from .evaluation import is_forward_model_failure

        values: list[Any] = []
        for i, point in enumerate(points):
            try:
                values.append(convert(self._call(point)))
            except Exception as exc:
                if not is_forward_model_failure(exc):
                    raise
                n = len(points)
                losses = torch.full((n,), math.nan, dtype=self.dtype, device=self.device)
                if values:
                    losses[:i] = torch.stack(
                        [torch.as_tensor(v, dtype=self.dtype).detach() for v in values]
                    ).to(self.device)
                reason = f"{type(exc).__name__}: {exc}"
                raise PointsFailedError(
                    f"{self.name} raised at point {i} of a batch of {n} ({reason}); the "
                    f"{i} point(s) before it have losses, the {n - i - 1} after it were "
                    "not evaluated.",
                    losses=losses,
                    errors={i: reason},
                    unevaluated=range(i + 1, n),
                ) from exc
        return values

    def _call(self, point: Any) -> Any:
        return self.fun(**point) if self.params_as == "kwargs" else self.fun(point)

    def _points_by_name(self, X: torch.Tensor) -> list[dict[str, Any]]:
        """One dict per point, in the user's types (see ``params_as``)."""
        space = self.space
        if self.backend == "numpy":
            rows = space.rows(X)
            arrays = [k for k in space if space[k].kind == "array"]
            for row in rows:
                row.update((k, _to_numpy(row[k])) for k in arrays)
            return rows
        rows = space.rows(X.detach())
        values = space.decode(X)  # reals and arrays keep their autograd graph
        keep = [k for k in space if space[k].kind in ("real", "array")]
        for i, row in enumerate(rows):
            row.update((k, values[k][i]) for k in keep)
        return rows

    def _batch_values(self, values: Any, batch: int) -> Any:
        """A vectorised function's output, if it holds one loss per point."""
        _check_numbers(values, self.name)
        shape = tuple(values.shape) if hasattr(values, "shape") else np.shape(values)
        if int(np.prod(shape)) != batch or len([n for n in shape if n != 1]) > 1:
            raise EvaluationError(
                f"{self.name} (vectorized=True) must return one loss per point of the "
                f"batch, shape ({batch},), for a batch of shape {(batch, self.dim)}; it "
                f"returned shape {shape}."
            )
        return values


def _to_numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if torch.is_tensor(value) else value


def _check_numbers(value: Any, name: str) -> None:
    """Refuse a loss that is not a real number (a string, a bool), as ``tell`` does.

    None among a batch's losses is a failed point (NaN), as before; a scalar None is
    refused like any other non-number."""
    if torch.is_tensor(value):
        bad = value.dtype == torch.bool or value.is_complex()
        kind, example = str(value.dtype), value.reshape(-1)[0] if value.numel() else value
    else:
        array = np.asarray(value)
        names = {"U": "text", "S": "bytes", "b": "bool", "O": "object", "c": "complex"}
        kind = names.get(array.dtype.kind, array.dtype.name)
        flat = array.reshape(-1)
        bad, example = array.dtype.kind not in "iuf", flat[0] if flat.size else value
        if array.dtype.kind == "O":  # numbers and None mixed, or something else
            for item in flat:
                if not _number_or_none(item, allow_none=array.ndim > 0):
                    kind, example = type(item).__name__, item
                    break
            else:
                bad = False
    if bad:
        example = example.item() if isinstance(example, np.generic) else example
        what = "None" if example is None else f"{kind} values such as {example!r}"
        raise EvaluationError(
            f"{name} must return real losses; it returned {what}. Return a float "
            "(float(text) for a loss read from a program's output; NaN for a failed "
            "evaluation)."
        )


def _number_or_none(item: Any, *, allow_none: bool) -> bool:
    if item is None:
        return allow_none
    if isinstance(item, (str, bytes, bool, np.bool_)) or torch.is_tensor(item):
        return False
    try:
        float(item)
    except (TypeError, ValueError):
        return False
    return True


def _scalar(value: Any, name: str) -> float:
    _check_numbers(value, name)
    array = np.asarray(value if not torch.is_tensor(value) else value.detach().cpu())
    if array.size != 1:
        raise EvaluationError(
            f"{name} must return one scalar per point; it returned shape {array.shape}. "
            "Pass vectorized=True (--option vectorized=True on the command line) if it "
            "evaluates a batch."
        )
    return float(array.reshape(()))


def _scalar_tensor(value: Any, problem: FunctionProblem) -> torch.Tensor:
    _check_numbers(value, problem.name)
    y = value if torch.is_tensor(value) else torch.as_tensor(_scalar(value, problem.name))
    if y.numel() != 1:
        raise EvaluationError(
            f"{problem.name} must return one scalar per point; it returned shape "
            f"{tuple(y.shape)}. Pass vectorized=True (--option vectorized=True on the "
            "command line) if it evaluates a batch."
        )
    return y.reshape(()).to(device=problem.device, dtype=problem.dtype)


def _bounds_array(bounds: Any) -> np.ndarray:
    """``bounds`` as a float array, None entries (scipy's "no bound") as -inf / +inf."""
    try:
        array = np.asarray(bounds, dtype=object)
        if array.ndim >= 1 and array.shape[-1] == 2 and array.dtype == object:
            array = array.copy()
            lower, upper = array[..., 0], array[..., 1]
            lower[np.equal(lower, None)] = -np.inf
            upper[np.equal(upper, None)] = np.inf
        return np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"bounds must be real numbers (None for no bound); {exc}"
        ) from None


def _check_scipy_bounds(bounds: Any) -> None:
    """Refuse ``minimize``'s ``bounds=`` when a 2 x 2 array reads validly as two
    (low, high) pairs and as a lower and an upper row (scipy's users write pairs; the
    library's arrays are rows)."""
    if bounds is None or torch.is_tensor(bounds) or hasattr(bounds, "lb"):
        return
    if isinstance(bounds, list | tuple) and all(isinstance(b, tuple) for b in bounds):
        return  # scipy's sequence of pairs
    array = _bounds_array(bounds)
    if array.shape == (2, 2):
        _unambiguous_square(array, strict=True)


def _unambiguous_square(bounds: np.ndarray, strict: bool) -> np.ndarray:
    """A 2 x 2 array of bounds: two (low, high) pairs or a lower and an upper row; one
    that reads validly both ways is rows, or an error when ``strict``."""
    as_rows = bool(np.all(bounds[0] < bounds[1]))
    as_pairs = bool(np.all(bounds[:, 0] < bounds[:, 1]))
    if strict and as_rows and as_pairs and not np.array_equal(bounds, bounds.T):
        raise InvalidParameterError(
            f"bounds {bounds.tolist()} read both as two (low, high) pairs and as a lower "
            "and an upper row; give a list of tuples [(low, high), (low, high)],"
            " scipy.optimize.Bounds(lb, ub) or a (2, D) tensor (lower row, upper row)."
        )
    return bounds.T if as_pairs and not as_rows else bounds


def _as_vector(
    value: Any,
    what: str,
    dtype: torch.dtype,
    device: torch.device | None,
    like: torch.Tensor | None = None,
) -> torch.Tensor:
    try:
        if torch.is_tensor(value):
            t = value.detach().to(dtype=dtype)
        else:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{what} must be a real vector; {exc}") from None
    if device is not None:
        t = t.to(device)
    elif like is not None:
        t = t.to(like.device)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1 or t.shape[0] == 0:
        raise InvalidParameterError(
            f"{what} must be a non-empty vector of shape (D,); got shape {tuple(t.shape)}."
        )
    if like is not None and t.shape != like.shape:
        raise InvalidParameterError(
            f"{what} has {t.shape[0]} value(s); the problem has {like.shape[0]} "
            f"parameter(s), so {what} must have shape {tuple(like.shape)}."
        )
    if not bool(torch.isfinite(t).all()):
        raise InvalidParameterError(f"{what} contains NaN or inf: {t.tolist()[:10]}.")
    return t.clone()


def _as_bounds(bounds: Any, x0: torch.Tensor, *, scipy: bool = False) -> torch.Tensor | None:
    """The bounds as a ``(2, D)`` tensor (lower row, upper row), from any accepted form.

    Accepted: a ``(low, high)`` pair of numbers for every coordinate; an object with
    ``lb`` and ``ub`` (``scipy.optimize.Bounds``); a sequence of D ``(low, high)``
    pairs, as ``scipy.optimize.minimize`` takes them (None for no bound); an array of
    shape ``(2, D)`` (lower row, upper row) or ``(D, 2)``. A tensor is always read as
    ``(2, D)``. For two parameters, a list of tuples is read as pairs, and another 2 x 2
    array that reads validly both ways as the library's (lower row, upper row); with
    ``scipy=True`` (``minimize``'s ``bounds=``, where scipy's users write pairs) it is
    refused as ambiguous instead.
    """
    if bounds is None:
        return None
    D = x0.shape[0]
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        lower = np.broadcast_to(np.asarray(bounds.lb, dtype=np.float64), (D,))
        upper = np.broadcast_to(np.asarray(bounds.ub, dtype=np.float64), (D,))
        bounds = np.stack([lower, upper])
    elif not torch.is_tensor(bounds):
        # a list of tuples is scipy's sequence of (low, high) pairs
        pairs = isinstance(bounds, list | tuple) and all(isinstance(b, tuple) for b in bounds)
        bounds = _bounds_array(bounds)
        if bounds.shape == (2,):
            bounds = np.repeat(bounds[:, None], D, axis=1)
        elif bounds.ndim == 2 and bounds.shape[1] == 2 and bounds.shape[0] != 2:
            bounds = bounds.T  # D (low, high) pairs
        elif bounds.shape == (2, 2):
            bounds = bounds.T if pairs else _unambiguous_square(bounds, scipy)
    try:
        b = torch.as_tensor(
            bounds.detach().cpu().numpy() if torch.is_tensor(bounds) else bounds,
            dtype=x0.dtype,
        ).to(x0.device)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"bounds must be real numbers; {exc}") from None
    if b.shape == (2,):
        b = b[:, None].expand(2, D).clone()
    if b.ndim == 2 and b.shape[0] == 2 and b.shape[1] != D:
        raise InvalidParameterError(
            f"x0 has {D} value(s) but bounds give {b.shape[1]} (low, high) pair(s): x0 "
            f"needs one value per bounded parameter, shape ({b.shape[1]},)."
        )
    if b.shape != (2, D):
        raise InvalidParameterError(
            f"bounds must be a (low, high) pair for every parameter, {D} (low, high) pairs "
            f"(scipy's form), scipy.optimize.Bounds, or an array of shape (2, {D}) (lower "
            f"row, upper row); got shape {tuple(b.shape)}."
        )
    if bool(torch.isnan(b).any()) or not bool((b[0] < b[1]).all()):
        bad = (~(b[0] < b[1])).nonzero().flatten().tolist()[:10]
        raise InvalidParameterError(
            f"bounds must satisfy low < high for every parameter (inf allowed, NaN not); "
            f"parameter(s) {bad} do not."
        )
    outside = (x0 < b[0]) | (x0 > b[1])
    if bool(outside.any()):
        idx = outside.nonzero().flatten().tolist()[:10]
        raise InvalidParameterError(f"x0 lies outside the bounds in coordinate(s) {idx}.")
    return b


def _from_space(space: Space | None, x0: Any, bounds: Any, x_opt: Any) -> tuple[Any, Any, Any]:
    """The flat start, bounds and optimum of a problem that declares a space."""
    if space is None:
        if x0 is None:
            raise InvalidParameterError(
                "x0 is required: give the start point, or a space= whose defaults give it."
            )
        for what, value in (("x0", x0), ("x_opt", x_opt)):
            if isinstance(value, Mapping):
                raise InvalidParameterError(
                    f"{what} is given by name ({sorted(value)[:5]}); that needs a space= "
                    "that declares the names."
                )
        return x0, bounds, x_opt
    if not isinstance(space, Space):
        raise InvalidParameterError(
            f"space must be a blackbox_opt.Space; got {type(space).__name__}."
        )
    if bounds is not None:
        raise InvalidParameterError(
            "bounds and space are both given: with a space, bounds come from its parameters."
        )
    if x0 is None or isinstance(x0, Mapping):
        x0 = space.to_vector(x0).numpy()
    if isinstance(x_opt, Mapping):
        x_opt = space.to_vector(x_opt).numpy()
    return x0, space.bounds, x_opt  # a tensor: read as (lower row, upper row)
