"""MetaInitializer: meta-learned start and per-parameter learning rates (Metappearance).

Over a family of similar fitting problems, learn the initial parameters ``theta_0`` and
one learning rate per parameter ``alpha`` (Meta-SGD) such that ``k`` plain steps
``theta_{i+1} = theta_i - alpha * grad L(theta_i)`` fit a new member (Fischer &
Ritschel, "Metappearance", SIGGRAPH Asia 2022). The outer loop is Adam on
``(theta_0, alpha)`` minimising the loss after the ``k`` steps, averaged over a
meta-batch of members:

``"maml"``
    differentiates through the ``k`` steps, second-order terms included;
``"fomaml"``
    drops them: the meta-gradient of ``theta_0`` is the gradient at ``theta_k`` and
    that of ``alpha`` is ``-(sum_i g_i) * grad L(theta_k)``. The only choice when the
    inner gradient ``g_i`` is itself an estimate (``inner_method``);
``"reptile"``
    moves ``theta_0`` towards the adapted ``theta_k`` (the rates, if learned, take the
    first-order meta-gradient).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator

from ..checkpoint import is_plain
from ..evaluation import evaluate
from ..exceptions import (
    EvaluationError,
    InvalidParameterError,
    NotDifferentiableError,
    NotFittedError,
)
from ..optimizers.base import _RANDOM_STATE
from ..optimizers.gradient import GradientMethod
from ..problem import Problem
from ..result import History, OptimizeResult, Status
from ..utils import (
    check_param_constraints,
    check_random_state,
    missing_attribute,
    torch_threads,
)
from ..validation import Interval, Options
from .family import ProblemFamily

__all__ = ["ALGORITHMS", "DEFAULT_INNER_METHOD", "MetaInitializer", "MetaSGD"]

#: The meta-learning algorithms.
ALGORITHMS = ("fomaml", "maml", "reptile")

#: The inner method used for families whose loss is not differentiable.
DEFAULT_INNER_METHOD = "prdpt"

#: Options of the inner method that the meta-learner sets itself.
_RESERVED_INNER = ("lr", "optimizer", "optimizer_options", "max_iter", "budget", "random_state")

FITTED_ATTRIBUTES = (
    "init_",
    "lr_",
    "dim_",
    "inner_method_",
    "history_",
    "n_outer_steps_",
    "nfev_",
    "fit_time_",
)


class MetaSGD(torch.optim.Optimizer):
    """Plain gradient steps with one learning rate per parameter.

    ``p <- p - lr * rates * p.grad``: the inner step of Meta-SGD. Any method that
    hands its gradient (or estimate) to a torch optimiser takes it through its
    ``optimizer`` parameter, so that a black-box method adapts from a meta-learned
    start with the meta-learned rates.

    Parameters
    ----------
    params : iterable of tensors
        One tensor (the iterate).
    lr : float, default=1.0
        A global factor on the rates.
    rates : torch.Tensor
        Per-parameter learning rates, broadcastable to the parameter.
    record : list, optional
        Each step appends a copy of the gradient it took here.

    Examples
    --------
    >>> x = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    >>> opt = MetaSGD([x], rates=torch.tensor([0.5, 0.1]))
    >>> x.grad = torch.tensor([2.0, 2.0])
    >>> opt.step()
    >>> x.data
    tensor([0.0000, 0.8000])
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1.0,
        *,
        rates: torch.Tensor,
        record: list | None = None,
    ):
        if not torch.is_tensor(rates):
            raise InvalidParameterError(f"rates must be a tensor; got {type(rates).__name__}.")
        super().__init__(params, dict(lr=lr))
        self.rates = rates
        self.record = record

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        """Take one step along each parameter's ``grad``."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if self.record is not None:
                    self.record.append(p.grad.detach().clone())
                p.sub_(group["lr"] * self.rates.to(p) * p.grad)


class MetaInitializer(BaseEstimator):
    """Meta-learned initialisation and per-parameter learning rates (Metappearance).

    ``fit(family)`` learns, over the training members of a
    :class:`~blackbox_opt.ProblemFamily`, a start :attr:`init_` and rates :attr:`lr_`
    such that ``inner_steps`` plain steps ``theta <- theta - lr_ * grad`` fit a member
    well; :meth:`adapt` runs those steps on a new problem. A fitted instance is
    accepted as ``x0`` by :func:`~blackbox_opt.minimize` and by every method's ``fit``,
    which then start from :attr:`init_`.

    Meta-training draws meta-batches of training members without replacement (one
    epoch is one pass over them), runs the inner steps on all members of a meta-batch
    in one vectorised call (:meth:`ProblemFamily.losses`) and takes one Adam step on
    ``(init, rates)``. With ``inner_method``, or on a family whose loss is not
    differentiable, the inner gradient is estimated by that registered method
    (PRDPT, ZeroGrads, SPSA, finite differences...), stepping through :class:`MetaSGD`,
    and the meta-gradient is first-order.

    Parameters
    ----------
    inner_steps : int, default=10
        Steps ``k`` of the inner loop (iterations of ``inner_method`` when given).
    algorithm : {"fomaml", "maml", "reptile"}, default="fomaml"
        Second-order MAML, first-order MAML or Reptile (see the module documentation).
    meta_batch : int, default=5
        Members per outer step (at most the number of training members).
    outer_lr : float, default=1e-4
        Adam's learning rate on the start and the rates.
    inner_lr_init : float, default=1e-3
        The rates' initial value (and their fixed value without ``meta_sgd``).
    meta_sgd : bool, default=True
        Learn one rate per parameter; otherwise every rate stays ``inner_lr_init``.
    epochs : int, default=100
        Passes over the training members.
    weight_decay : float, default=1e-6
        Adam's weight decay on the start.
    min_rate : float or None, default=0.0
        Keep every learned rate at or above this value after each outer step; None
        leaves them free. A negative rate ascends the loss along its weight, which
        compounds over the inner steps and, with noisy (minibatch or estimated)
        gradients, makes the inner loop diverge.
    inner_method : str, optional
        A registered gradient-estimating method (``"prdpt"``, ``"zerograds"``,
        ``"spsa"``, ``"fd"``...) that estimates the inner gradient from loss values. By
        default the exact gradient (autograd through the family's loss), or
        :data:`DEFAULT_INNER_METHOD` when the family is not differentiable.
    inner_options : dict, optional
        Parameters of the inner method (``sigma``, ``n_samples``...). The method's
        ``lr``, ``optimizer``, ``max_iter`` and ``random_state`` are set here.
    max_time : float, optional
        Stop meta-training after this many seconds (checked between outer steps).
    n_threads : int or None, default=1
        torch intra-op threads during :meth:`fit` and :meth:`adapt` (restored after);
        None keeps the process's setting. Meta-training is many small tensor
        operations: on 2 cores (``python -m bench threads``, the BRDF family) an outer
        step took 10.8 ms with one thread and 10.6 ms with two when idle, and 10.8
        against 20.4 ms beside one busy process.
    verbose : bool, optional
        Show a progress bar; None shows it when standard error is a terminal.
    random_state : int, torch.Generator, numpy.random.Generator or None
        Seeds the start, the meta-batches, the minibatches and the inner method's
        draws: the same seed gives the same result.

    Attributes
    ----------
    init_ : torch.Tensor of shape (D,)
        The meta-learned start.
    lr_ : torch.Tensor of shape (D,)
        The meta-learned (or fixed) per-parameter rates.
    dim_ : int
        The dimension D of the family.
    inner_method_ : str or None
        The inner method used (None: exact gradients).
    history_ : History
        One row per epoch: ``loss`` is the mean loss after the inner steps over the
        epoch's meta-batches, ``grad_norm`` the mean norm of the meta-gradient of the
        start, ``nfev`` the evaluations so far (of the loss or its gradient, per
        member), ``time`` the seconds since the start.
    n_outer_steps_ : int
        Outer (Adam) steps taken.
    nfev_ : int
        Evaluations made during meta-training.
    fit_time_ : float
        Seconds spent in :meth:`fit`.

    Examples
    --------
    A family of shifted quadratics ``|x - c|^2``: a rate of 0.5 reaches any centre in
    one step, and Meta-SGD learns it.

    >>> from blackbox_opt import FunctionProblem, ProblemFamily
    >>> class Bowls(ProblemFamily):
    ...     dim = 2
    ...     differentiable = True
    ...     def init_weights(self, generator):
    ...         return torch.zeros(2)
    ...     def _member(self, k):
    ...         c = torch.tensor([1.0 + 0.1 * k, -1.0])
    ...         return FunctionProblem(lambda X: ((X - c) ** 2).sum(1), torch.zeros(2),
    ...                                vectorized=True, x_opt=c)
    >>> meta = MetaInitializer(inner_steps=1, outer_lr=0.05, inner_lr_init=0.1,
    ...                        epochs=200, random_state=0, verbose=False)
    >>> meta = meta.fit(Bowls(n_train=5, n_test=1))
    >>> [round(v, 2) for v in meta.lr_.tolist()]
    [0.5, 0.5]
    >>> res = meta.adapt(Bowls(n_train=5, n_test=1).member(0, "test"))
    >>> res.fun < 1e-4, res.nit
    (True, 1)
    """

    _parameter_constraints: ClassVar[dict] = {
        "inner_steps": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [Options(set(ALGORITHMS))],
        "meta_batch": [Interval(Integral, 1, None, closed="left")],
        "outer_lr": [Interval(Real, 0, None, closed="neither")],
        "inner_lr_init": [Interval(Real, 0, None, closed="neither")],
        "meta_sgd": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "min_rate": [Real, None],
        "inner_method": [str, None],
        "inner_options": [dict, None],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["boolean", None],
        "random_state": _RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        inner_steps: int = 10,
        algorithm: str = "fomaml",
        meta_batch: int = 5,
        outer_lr: float = 1e-4,
        inner_lr_init: float = 1e-3,
        meta_sgd: bool = True,
        epochs: int = 100,
        weight_decay: float = 1e-6,
        min_rate: float | None = 0.0,
        inner_method: str | None = None,
        inner_options: dict | None = None,
        max_time: float | None = None,
        n_threads: int | None = 1,
        verbose: bool | None = None,
        random_state: Any = None,
    ):
        self.inner_steps = inner_steps
        self.algorithm = algorithm
        self.meta_batch = meta_batch
        self.outer_lr = outer_lr
        self.inner_lr_init = inner_lr_init
        self.meta_sgd = meta_sgd
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.min_rate = min_rate
        self.inner_method = inner_method
        self.n_threads = n_threads
        self.inner_options = inner_options
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute(self, name, FITTED_ATTRIBUTES, "fit(family)")

    # -- validation -------------------------------------------------------------------------
    def _validate_params(self) -> None:
        check_param_constraints(self)
        reserved = sorted(set(self.inner_options or {}) & set(_RESERVED_INNER))
        if reserved:
            raise InvalidParameterError(
                f"inner_options may not set {', '.join(map(repr, reserved))}: the inner "
                "method steps with the meta-learned rates (MetaSGD) for inner_steps "
                "iterations, seeded by random_state."
            )
        if self.inner_options and self.inner_method is None:
            raise InvalidParameterError(
                "inner_options are given but inner_method is None; name the method they "
                "are for (e.g. inner_method='prdpt')."
            )
        if self.min_rate is not None and self.min_rate > self.inner_lr_init:
            raise InvalidParameterError(
                f"min_rate ({self.min_rate}) must not exceed inner_lr_init "
                f"({self.inner_lr_init}), the rates' start."
            )
        if self.algorithm == "maml" and self.inner_method is not None:
            raise InvalidParameterError(
                "algorithm='maml' differentiates through the inner steps and needs exact "
                f"gradients; with inner_method={self.inner_method!r} use 'fomaml' or "
                "'reptile'."
            )

    def _check_fitted(self) -> None:
        if "init_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(family) or "
                "load_state_dict(...) first."
            )

    def _inner(
        self,
        name: str,
        rates: torch.Tensor,
        steps: int,
        generator: Any,
        record: list | None,
        *,
        monitor: bool = False,
    ) -> GradientMethod:
        from ..api import get_method

        method = get_method(name, **(self.inner_options or {}))
        if not isinstance(method, GradientMethod):
            raise InvalidParameterError(
                f"inner_method must be a method that estimates a gradient and steps along "
                f"it (such as 'prdpt', 'zerograds', 'spsa', 'fd'); {name!r} "
                f"({type(method).__name__}) does not."
            )
        return method.set_params(
            lr=1.0,
            optimizer=MetaSGD,
            optimizer_options={"rates": rates, "record": record},
            max_iter=max(steps, 1),
            budget=None,
            monitor=monitor,
            verbose=False,
            random_state=generator,
            **method._steps_through_optimizer,
        )

    # -- meta-training ------------------------------------------------------------------------
    def fit(self, family: ProblemFamily) -> MetaInitializer:
        """Meta-train the start and the rates on the training members of ``family``.

        Parameters
        ----------
        family : ProblemFamily
            The family; only its training members are used.

        Returns
        -------
        self
            Fitted: :attr:`init_`, :attr:`lr_`, :attr:`history_`...
        """
        self._validate_params()
        with torch_threads(self.n_threads):
            return self._fit(family)

    def _fit(self, family: ProblemFamily) -> MetaInitializer:
        if not isinstance(family, ProblemFamily):
            raise InvalidParameterError(
                "family must be a blackbox_opt.ProblemFamily (see problems.make_family); "
                f"got {type(family).__name__}."
            )
        inner = self.inner_method
        if inner is None and not family.differentiable:
            inner = DEFAULT_INNER_METHOD
        if self.algorithm == "maml" and not family.differentiable:
            raise NotDifferentiableError(
                f"algorithm='maml' needs the gradient of the loss, but family "
                f"{family.name!r} is not differentiable; use 'fomaml' with an inner_method."
            )
        device = family.x0.device
        generator = check_random_state(self.random_state, device)
        init = family.init_weights(generator).detach().clone().requires_grad_(True)
        rates = torch.full_like(init, self.inner_lr_init).requires_grad_(self.meta_sgd)
        groups = [dict(params=[init], weight_decay=self.weight_decay)]
        if self.meta_sgd:
            groups.append(dict(params=[rates], weight_decay=0.0))
        adam = torch.optim.Adam(groups, lr=self.outer_lr)
        if inner is not None:  # fail before training on a bad method or option
            self._inner(inner, rates.detach(), self.inner_steps, generator, None)
        for attr in FITTED_ATTRIBUTES:
            self.__dict__.pop(attr, None)

        from tqdm.auto import tqdm

        verbose = sys.stderr.isatty() if self.verbose is None else self.verbose
        T = min(self.meta_batch, family.n_train)
        per_epoch = family.n_train // T
        history = History()
        members: dict[int, Problem] = {}
        self._nfev = 0
        t0 = time.perf_counter()
        n_steps = 0
        best = math.inf
        bar = tqdm(
            range(self.epochs),
            desc=f"meta-training on {family.name}",
            disable=not verbose,
            leave=False,
            dynamic_ncols=True,
        )
        with torch.enable_grad():
            for epoch in bar:
                order = torch.randperm(family.n_train, generator=generator, device=device)
                losses, norms = [], []
                for s in range(per_epoch):
                    index = order[s * T : (s + 1) * T]
                    adam.zero_grad(set_to_none=True)
                    if inner is None:
                        loss = self._outer_exact(family, init, rates, index, generator)
                    else:
                        loss = self._outer_estimated(
                            family, members, inner, init, rates, index, generator
                        )
                    losses.append(loss)
                    norms.append(torch.linalg.vector_norm(init.grad).double())
                    adam.step()
                    if self.meta_sgd and self.min_rate is not None:
                        with torch.no_grad():
                            rates.clamp_(min=self.min_rate)
                    n_steps += 1
                # one device sync per epoch: the means, the last loss, and the divergence check
                epoch_losses = torch.stack(losses)
                mean_loss, mean_norm, last = torch.stack(
                    [epoch_losses.mean(), torch.stack(norms).mean(), epoch_losses[-1]]
                ).tolist()
                if not (math.isfinite(mean_loss) and math.isfinite(mean_norm)):
                    raise EvaluationError(
                        f"Meta-training diverged at epoch {epoch + 1}: non-finite loss "
                        "or meta-gradient. Lower outer_lr or inner_lr_init."
                    )
                best = min(best, mean_loss)
                history.append(
                    nit=epoch + 1,
                    nfev=self._nfev,
                    time=time.perf_counter() - t0,
                    loss=mean_loss,
                    best=best,
                    grad_norm=mean_norm,
                )
                bar.set_postfix(loss=f"{last:.4g}", refresh=False)
                if self.max_time is not None and time.perf_counter() - t0 >= self.max_time:
                    break
        bar.close()
        self.init_ = init.detach().clone()
        self.lr_ = rates.detach().clone()
        self.dim_ = int(init.shape[0])
        self.inner_method_ = inner
        self.history_ = history
        self.n_outer_steps_ = n_steps
        self.nfev_ = self._nfev
        self.fit_time_ = time.perf_counter() - t0
        return self

    def _outer_exact(
        self,
        family: ProblemFamily,
        init: torch.Tensor,
        rates: torch.Tensor,
        index: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """One meta-batch with exact inner gradients; sets ``init.grad`` (and rates').

        Returns the mean query loss as a 0-d tensor (no device sync)."""
        T, k = index.numel(), self.inner_steps
        self._nfev += T * (k + 1)
        if self.algorithm == "maml":
            theta = init[None].expand(T, -1)
            for _ in range(k):
                loss = family.losses(theta, index, generator=generator)
                (grad,) = torch.autograd.grad(loss.sum(), theta, create_graph=True)
                theta = theta - rates * grad
            query = family.losses(theta, index, generator=generator).mean()
            query.backward()
            return query.detach().double()
        theta = init.detach()[None].repeat(T, 1)
        total = torch.zeros_like(theta)
        step = rates.detach()
        for _ in range(k):
            x = theta.requires_grad_(True)
            (grad,) = torch.autograd.grad(family.losses(x, index, generator=generator).sum(), x)
            theta = (x - step * grad).detach()
            total += grad
        x = theta.requires_grad_(True)
        query = family.losses(x, index, generator=generator)
        (q,) = torch.autograd.grad(query.sum(), x)
        self._first_order(init, rates, theta.detach(), total, q)
        return query.detach().mean().double()

    def _outer_estimated(
        self,
        family: ProblemFamily,
        members: dict[int, Problem],
        inner: str,
        init: torch.Tensor,
        rates: torch.Tensor,
        index: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """One meta-batch with estimated inner gradients, member by member."""
        k = self.inner_steps
        thetas, totals, queries, losses = [], [], [], []
        for i in index.tolist():
            if i not in members:
                members[i] = family.member(i, "train")
            problem = members[i]
            record: list[torch.Tensor] = []
            method = self._inner(inner, rates.detach(), k + 1, generator, record)
            method.start(problem, init.detach())
            n_inner = 0
            for step in range(k + 1):
                if step == k:  # theta_k: one more round estimates the gradient there
                    n_inner = len(record)
                    thetas.append(method.recommend())
                X = method.ask()
                method.tell(X, *evaluate(problem, X, gradients=method.needs_gradient))
                self._nfev += X.shape[0]
            totals.append(torch.stack(record[:n_inner]).sum(0) if n_inner else init * 0)
            queries.append(record[n_inner])
            losses.append(evaluate(problem, thetas[-1][None])[0][0])
        q = torch.stack(queries)
        self._first_order(init, rates, torch.stack(thetas), torch.stack(totals).detach(), q)
        return torch.stack(losses).mean().double()

    def _first_order(
        self,
        init: torch.Tensor,
        rates: torch.Tensor,
        theta: torch.Tensor,
        total: torch.Tensor,
        q: torch.Tensor,
    ) -> None:
        """First-order meta-gradients from ``theta_k = init - rates * total``.

        ``q`` holds each member's gradient at ``theta_k`` (rows of ``(T, D)``).
        """
        if self.algorithm == "reptile":
            init.grad = (init.detach()[None] - theta).mean(0)
        else:
            init.grad = q.mean(0).to(init.dtype)
        if rates.requires_grad:
            rates.grad = -(total * q).mean(0).to(rates.dtype)

    # -- using the result -------------------------------------------------------------------
    def as_x0(self, problem: Problem | None = None) -> torch.Tensor:
        """The meta-learned start for ``problem``, on its device and dtype.

        Every method calls this when a fitted MetaInitializer is given as ``x0``.

        Parameters
        ----------
        problem : Problem, optional
            Checked to have the family's dimension.

        Returns
        -------
        torch.Tensor of shape (D,)
        """
        self._check_fitted()
        if problem is None:
            return self.init_.clone()
        if not isinstance(problem, Problem) or problem.dim != self.dim_:
            got = problem.dim if isinstance(problem, Problem) else type(problem).__name__
            raise InvalidParameterError(
                f"This MetaInitializer was fitted on a family of dimension {self.dim_}; "
                f"the problem has dimension {got}."
            )
        return self.init_.to(device=problem.device, dtype=problem.dtype).clone()

    def adapt(
        self, problem: Problem, steps: int | None = None, *, random_state: Any = None
    ) -> OptimizeResult:
        """Fit ``problem`` with the inner loop: ``steps`` Meta-SGD steps from :attr:`init_`.

        With exact gradients a step is ``theta <- theta - lr_ * grad``; the gradient is
        that of the member's ``training_loss`` (a random minibatch) where it has one,
        else of its loss. With an inner method, that method runs ``steps`` iterations
        stepping through :class:`MetaSGD`. The loss at every iterate is monitored (not
        charged to ``nfev``).

        Parameters
        ----------
        problem : Problem
            A problem of the family's dimension (a test member, say).
        steps : int, optional
            Steps to take (default: ``inner_steps``); 0 evaluates the start.
        random_state : int, torch.Generator or None, optional
            Seeds minibatches and the inner method (default: the ``random_state``
            parameter).

        Returns
        -------
        OptimizeResult
            ``x`` the best iterate, ``x_last`` the last, ``history`` one row per step
            (row 0 is the start).
        """
        self._check_fitted()
        x0 = self.as_x0(problem)
        steps = self.inner_steps if steps is None else steps
        if not isinstance(steps, Integral) or isinstance(steps, bool) or steps < 0:
            raise InvalidParameterError(f"steps must be a non-negative int; got {steps!r}.")
        seed = self.random_state if random_state is None else random_state
        generator = check_random_state(seed, problem.device)
        with torch_threads(self.n_threads):
            return self._adapt(problem, x0, steps, generator)

    def _adapt(
        self, problem: Problem, x0: torch.Tensor, steps: int, generator: torch.Generator
    ) -> OptimizeResult:
        rates = self.lr_.to(device=problem.device, dtype=problem.dtype)
        if self.inner_method_ is not None and steps > 0:
            method = self._inner(self.inner_method_, rates, steps, generator, None, monitor=True)
            result = method.minimize(problem, x0)
            result.method = f"MetaInitializer+{self.inner_method_}"
            return result
        if steps > 0:
            problem.require_gradients(
                "Adapting without an inner_method",
                advice="Fit the MetaInitializer with an inner_method (e.g. 'prdpt') to "
                "adapt with estimated gradients.",
            )
        return _meta_sgd(problem, x0, rates, steps, generator)

    def adaptation_losses(
        self,
        family: ProblemFamily,
        split: str = "test",
        steps: int | None = None,
        *,
        random_state: Any = None,
    ) -> torch.Tensor:
        """The loss of every member of ``split`` after each adaptation step.

        With exact gradients all members adapt at once in one vectorised pass, each
        with its own minibatches; with an inner method, member by member through
        :meth:`adapt`.

        Parameters
        ----------
        family : ProblemFamily
        split : {"train", "test"}, default="test"
        steps : int, optional
            Default ``inner_steps``.
        random_state : optional
            As in :meth:`adapt`.

        Returns
        -------
        torch.Tensor of shape (steps + 1, n_members)
            Row ``i``: the members' deterministic losses after ``i`` steps.
        """
        self._check_fitted()
        steps = self.inner_steps if steps is None else steps
        if not isinstance(steps, Integral) or isinstance(steps, bool) or steps < 0:
            raise InvalidParameterError(f"steps must be a non-negative int; got {steps!r}.")
        n = family.size(split)
        if self.inner_method_ is not None:
            curves = []
            for i in range(n):
                res = self.adapt(family.member(i, split), steps, random_state=random_state)
                curves.append(torch.as_tensor(res.history["loss"]))
            return torch.stack(curves, 1)
        index = torch.arange(n)
        seed = self.random_state if random_state is None else random_state
        generator = check_random_state(seed, self.init_.device)
        theta = self.init_[None].repeat(n, 1)
        rows = []
        with torch.enable_grad():
            for i in range(steps + 1):
                with torch.no_grad():
                    rows.append(family.losses(theta, index, split=split))
                if i == steps:
                    break
                x = theta.detach().requires_grad_(True)
                loss = family.losses(x, index, split=split, generator=generator)
                (grad,) = torch.autograd.grad(loss.sum(), x)
                theta = (x - self.lr_ * grad).detach()
        return torch.stack(rows)

    # -- saving -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The fitted start and rates with the parameters, as tensors and plain values.

        Save it with :func:`torch.save`; it loads with ``torch.load(...,
        weights_only=True)``. Parameters that are not plain values (a generator as
        ``random_state``, a callable in ``inner_options``) are left out.

        Returns
        -------
        dict
        """
        self._check_fitted()
        params = {k: v for k, v in self.get_params(deep=False).items() if is_plain(v)}
        return {
            "class": type(self).__name__,
            "params": params,
            "init": self.init_.clone(),
            "lr": self.lr_.clone(),
            "inner_method": self.inner_method_,
            "history": self.history_.to_dict(),
            "n_outer_steps": self.n_outer_steps_,
            "nfev": self.nfev_,
            "fit_time": self.fit_time_,
        }

    def load_state_dict(self, state_dict: dict) -> MetaInitializer:
        """Restore a fitted MetaInitializer (its parameters too) from :meth:`state_dict`.

        Parameters
        ----------
        state_dict : dict

        Returns
        -------
        self
        """
        if not isinstance(state_dict, dict) or state_dict.get("class") != type(self).__name__:
            got = state_dict.get("class") if isinstance(state_dict, dict) else state_dict
            raise InvalidParameterError(
                f"This is not the state of a {type(self).__name__}; got {type(got).__name__} "
                f"{got!r}."[:200]
            )
        init, lr = state_dict["init"], state_dict["lr"]
        if not (
            torch.is_tensor(init)
            and torch.is_tensor(lr)
            and init.ndim == 1
            and init.shape == lr.shape
        ):
            raise InvalidParameterError("The state's init and lr must be tensors of shape (D,).")
        self.set_params(**state_dict["params"])
        self.init_ = init.detach().clone()
        self.lr_ = lr.detach().clone()
        self.dim_ = int(init.shape[0])
        self.inner_method_ = state_dict["inner_method"]
        columns = state_dict["history"]
        n_rows = len(next(iter(columns.values()))) if columns else 0
        self.history_ = History([{c: v[i] for c, v in columns.items()} for i in range(n_rows)])
        self.n_outer_steps_ = state_dict["n_outer_steps"]
        self.nfev_ = state_dict["nfev"]
        self.fit_time_ = state_dict["fit_time"]
        return self


def _meta_sgd(
    problem: Problem,
    x0: torch.Tensor,
    rates: torch.Tensor,
    steps: int,
    generator: torch.Generator,
) -> OptimizeResult:
    """``steps`` exact Meta-SGD steps on ``problem``, monitored, as an OptimizeResult."""
    t0 = time.perf_counter()
    history = History()
    train = getattr(problem, "training_loss", None)
    theta = x0
    best_x, best_f = x0, math.inf
    status = Status.MAX_ITER
    nfev = 0
    grad_norm: Any = math.nan
    for i in range(steps + 1):
        with torch.no_grad():
            loss = float(problem.evaluate(theta[None])[0])
        if math.isfinite(loss) and loss < best_f:
            best_x, best_f = theta, loss
        history.append(
            nit=i,
            nfev=nfev,
            nfev_monitor=i + 1,
            time=time.perf_counter() - t0,
            loss=loss,
            best=best_f,
            grad_norm=grad_norm,
        )
        if not math.isfinite(loss):
            status = Status.ERROR
            break
        if i == steps:
            break
        if train is not None:
            with torch.enable_grad():
                x = theta.detach()[None].requires_grad_(True)
                (grad,) = torch.autograd.grad(train(x, generator).sum(), x)
        else:
            _, grad = problem.value_and_grad(theta[None])
        grad = grad[0]
        nfev += 1
        grad_norm = torch.linalg.vector_norm(grad)
        theta = (theta - rates * grad).detach()
    message = Status.MESSAGES[status]
    if status == Status.ERROR:
        message += " The loss became non-finite."
    return OptimizeResult(
        x=best_x.clone(),
        fun=best_f,
        success=status in Status.SUCCESS,
        status=status,
        message=message,
        nfev=nfev,
        nfev_monitor=len(history),
        nit=len(history) - 1,
        x_last=theta.clone(),
        x0=x0.clone(),
        history=history,
        method="MetaInitializer",
        problem=problem.name,
        time=time.perf_counter() - t0,
    )
