"""ZeroGrads: descend the gradient of a neural surrogate fitted online around theta."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import torch

from ..exceptions import EvaluationError
from ..surrogate import Surrogate
from ..utils import torch_threads
from ..validation import Interval, Options
from .base import RunState
from .smoothing_base import SmoothingMethod

__all__ = ["HIGH_DIM", "ZeroGrads"]

#: Above this dimension the surrogate defaults to 8 x 128 with 6 encoding frequencies.
HIGH_DIM = 32


def _adam(
    params: list[torch.Tensor], lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam in one fused pass over the weights where the device supports it.

    At large D the surrogate's first layer holds tens of millions of weights and Adam's
    memory traffic dominates an iteration: the fused kernel reads and writes each
    weight and its two moments once per step. ``weight_decay`` is decoupled (AdamW):
    each step multiplies the weights by ``1 - lr weight_decay`` before Adam's update.
    """
    kw = dict(lr=lr, weight_decay=weight_decay, decoupled_weight_decay=True)
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, foreach=True, **kw)


class ZeroGrads(SmoothingMethod):
    """Learned local surrogate losses (Fischer & Ritschel, SIGGRAPH 2024).

    Each iteration samples ``n_samples`` Gaussian offsets around the iterate
    (antithetic pairs by default), evaluates the points in one batched call, takes
    ``k_theta`` optimiser steps along the analytic gradient of a small MLP surrogate
    ``h(theta)`` and then fits the surrogate to the new samples with ``k_phi`` steps.
    The noise of the samples goes into the surrogate's fit, whose inertia smooths it
    over iterations, so the parameter gradient has far lower variance than SPSA or
    PRDPT estimates, and the method scales to tens of thousands of parameters. With
    ``smooth_loss`` each point is evaluated at a further inner perturbation, so the
    surrogate fits the Gaussian-smoothed loss. ``sigma`` is annealed by default: with
    a fixed ``sigma`` the run stops at the minimum of the smoothed loss, not the loss.

    Parameters
    ----------
    sigma : float, array-like of shape (D,) or None, default=None
        The initial sampling scale, in parameter units. None: 0.1 of each
        parameter's bound width, 0.1 where it has no finite bounds; a vector gives each
        parameter its own (see :mod:`blackbox_opt.scales`).
    n_samples : int, default=4
        Offsets per iteration (pairs with ``antithetic``: ``2 n_samples`` evaluations).
    lr : float, array-like of shape (D,) or None, default=None
        Learning rate of the parameter optimiser (``lr_theta`` in the paper), in
        parameter units: None is 5e-4 of each parameter's bound width (5e-4 where it has
        no finite bounds); a vector gives one rate per parameter (see
        :class:`~blackbox_opt.optimizers.GradientMethod`).
    lr_surrogate : float, default=1e-3
        Learning rate of the surrogate's Adam (``lr_phi``).
    weight_decay : float, default=0.0
        Decoupled weight decay of the surrogate's fit (AdamW): every fitting step
        shrinks each weight by the factor ``1 - lr_surrogate weight_decay``, so the
        surrogate forgets its old fits over about ``1 / (lr_surrogate weight_decay)``
        steps and its weights cannot random-walk without bound over a long run.
        0 is the paper's plain Adam. Layers whose gradient is tiny decay towards
        zero: on the caustic (sigma 0.002) 0.1 collapsed the surrogate within 80,000
        evaluations.
    fit_clip : float or None, default=None
        Scale a fitting step's gradient (of all the surrogate's weights together)
        down to ``fit_clip`` times the running mean of the previous steps' norms (an
        exponential average over about 100 steps) before Adam sees it. None: no
        clipping, as in the paper. Adam divides each weight's step by the root of its
        running squared gradient; after a long quiet stretch that root is tiny, and a
        sudden surge of the fit's gradient then moves every weight of the first layer
        by up to about three times ``lr_surrogate`` at once. Measured on the caustic
        (1,024 parameters, sigma held at 0.002, seed 0, ``negative_slope=0.2``):
        unclipped, the first layer's gradient rose a million-fold in one iteration at
        36,000 evaluations, its weights' norm from 28 to 58 within five iterations
        and the loss from 0.020 to 0.060; with ``fit_clip=3`` there was no such jump
        (0.0194 at 44,000 evaluations). It did not prevent the later jumps of the
        iterate at the default slope (see the ZeroGrads page of the docs).
    k_theta : int, default=3
        Parameter steps per iteration.
    k_phi : int, default=3
        Surrogate fitting steps per iteration.
    memory : int, default=1
        Batches the surrogate fits at each fitting step: the new one and the
        ``memory - 1`` before it, their points and losses kept as they were evaluated
        (``memory`` times the batch in memory, ``memory`` times the fitting cost).
        1 fits the new batch alone, as in the paper. A longer memory gives the fit more
        samples near the iterate when the iterate moves little per iteration, as at
        large D with a small ``lr``.
    order : {"theta_first", "surrogate_first"}, default="theta_first"
        Step theta with the previous surrogate and then refit it (the paper's order),
        or refit first.
    smooth_loss : bool, default=False
        Evaluate at ``x - t`` with ``t ~ N(0, (inner_sigma sigma)^2 I)`` but record the
        sample at ``x``.
    inner_sigma : float, default=0.1
        The inner perturbation's scale relative to ``sigma``.
    log_targets : bool, default=False
        Fit ``log(1 + y)`` instead of ``y`` (losses must exceed -1).
    width, depth, n_freq : int, optional
        The surrogate: ``depth`` hidden LeakyReLU layers of ``width`` units on a
        positional encoding of ``n_freq`` frequencies. Default 3 x 64 without encoding
        up to ``HIGH_DIM`` (32) parameters, 8 x 128 with 6 frequencies above. Memory of
        the first layer with its gradient and Adam's two moments:
        ``16 D (1 + 2 n_freq) width`` bytes in float32, i.e. 26.6 kB per parameter at
        the high-D default (width 128, 6 frequencies). Measured peak growth of the
        process over two iterations (10 pairs, float32): 0.60 GiB at D = 35,152 with
        3 frequencies; 5.5 GiB at D = 196,608 (a 256 x 256 RGB texture) with the
        default 6, which fits a 24 GiB machine but costs 11.6 s per iteration with
        ``k_phi=3`` on 2 CPU cores; 0.50 GiB and 0.43 s there with ``n_freq=0``, the
        setting to use for such sizes on a CPU.
    negative_slope : float, default=0.01
        The slope of the surrogate's LeakyReLU below zero (the paper's and torch's
        0.01). A unit whose pre-activation is negative at every sample of a batch (the
        usual case when ``sigma`` is small beside the bounds) gets only this fraction
        of its gradient and rarely comes back; over a long run the first layer's
        units die one by one (on the caustic at sigma 0.002, under 1 % of its
        pre-activations were positive from 50,000 evaluations on). A larger slope
        keeps them alive but did not make the fit steadier there (0.2 surged at
        36,000 evaluations).
    normalize : bool, default=True
        Map the parameters to ``[-1, 1]`` from finite bounds before the surrogate.
    n_threads : int or None, default=1
        torch intra-op threads for the surrogate's fitting and gradient steps (the
        problem's evaluation keeps the process's setting); None: the process's
        setting. Measured with ``python -m bench threads`` on 2 cores: idle, two
        threads took as long as one at D = 18 (3 x 64 surrogate, 3.4 ms an iteration)
        and 0.67 times as long at D = 1,024 (8 x 128, 6 frequencies, 1.7 M weights: 26
        against 39 ms); beside one busy process, 5.3 and 1.95 times as long (18 against
        3.4 ms, 85 against 43 ms), and on a machine loaded by several jobs up to 12
        times. One thread is the default: it is never the slow choice by more than the
        idle 1.5 at large D; give ``n_threads=2`` (or None) for a large surrogate on a
        machine of its own. Where other jobs share the cores, start the process with
        ``OMP_WAIT_POLICY=PASSIVE``: OpenMP's waiting threads then sleep instead of
        spinning; at D = 35,152 (the MLP-digits settings) beside 3 to 4 busy processes
        on 2 cores, two threads' surrogate fit took a third of the time it took
        without it (``python -m bench speed --zerograds-fit``).
    schedule, sigma_min, anneal_start, lr_follows_sigma, antithetic :
        See :class:`~blackbox_opt.optimizers.smoothing_base.SmoothingMethod`.
    optimizer, optimizer_options :
        The parameter optimiser (Adam by default).
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Examples
    --------
    >>> import problems
    >>> spline = problems.make("spline1d")  # start 1.1, loss 35
    >>> res = ZeroGrads(sigma=0.33, n_samples=10, lr=1e-2, log_targets=True,
    ...                 lr_follows_sigma=True, anneal_start=0.3, max_iter=1500,
    ...                 random_state=0, verbose=False).minimize(spline)
    >>> float(spline(res.x_last)) < 1e-3
    True
    """

    name = "zerograds"
    #: 2: points sampled beyond the bounds are evaluated on them (``ask`` clamps)
    version: ClassVar[int] = 2
    #: Fit with the first layer's gradient formed in place (:meth:`_fit_lean`); False:
    #: autograd through the whole surrogate. The same steps either way, to rounding.
    _lean_fit: ClassVar[bool] = True
    _derived_state: ClassVar[frozenset[str]] = frozenset({"_centre", "_half"})
    #: the first layer's weight gradient, written whole by every fitting step
    _scratch_state: ClassVar[frozenset[str]] = frozenset({"_weight_grad"})
    _check_params: ClassVar[dict] = {"width": 16, "depth": 2, "lr": 1e-2}
    _lr_default: ClassVar[float] = 5e-4
    _parameter_constraints: ClassVar[dict] = {
        "lr_surrogate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "fit_clip": [Interval(Real, 1, None, closed="left"), None],
        "k_theta": [Interval(Integral, 1, None, closed="left")],
        "k_phi": [Interval(Integral, 0, None, closed="left")],
        "memory": [Interval(Integral, 1, None, closed="left")],
        "order": [Options({"theta_first", "surrogate_first"})],
        "smooth_loss": ["boolean"],
        "inner_sigma": [Interval(Real, 0, None, closed="neither")],
        "log_targets": ["boolean"],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "depth": [Interval(Integral, 1, None, closed="left"), None],
        "n_freq": [Interval(Integral, 0, None, closed="left"), None],
        "negative_slope": [Interval(Real, 0, 1, closed="left")],
        "normalize": ["boolean"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        n_samples: int = 4,
        lr: Any = None,
        lr_surrogate: float = 1e-3,
        weight_decay: float = 0.0,
        fit_clip: float | None = None,
        k_theta: int = 3,
        k_phi: int = 3,
        memory: int = 1,
        order: str = "theta_first",
        smooth_loss: bool = False,
        inner_sigma: float = 0.1,
        log_targets: bool = False,
        width: int | None = None,
        depth: int | None = None,
        n_freq: int | None = None,
        negative_slope: float = 0.01,
        normalize: bool = True,
        n_threads: int | None = 1,
        **kwargs: Any,
    ):
        super().__init__(n_samples=n_samples, lr=lr, **kwargs)
        self.lr_surrogate = lr_surrogate
        self.weight_decay = weight_decay
        self.fit_clip = fit_clip
        self.k_theta = k_theta
        self.k_phi = k_phi
        self.memory = memory
        self.order = order
        self.smooth_loss = smooth_loss
        self.inner_sigma = inner_sigma
        self.log_targets = log_targets
        self.width = width
        self.depth = depth
        self.n_freq = n_freq
        self.negative_slope = negative_slope
        self.normalize = normalize
        self.n_threads = n_threads

    def _start(self, state: RunState) -> None:
        super()._start(state)
        high = state.dim > HIGH_DIM
        self.surrogate_ = Surrogate(
            state.dim,
            width=self.width or (128 if high else 64),
            depth=self.depth or (8 if high else 3),
            n_freq=self.n_freq if self.n_freq is not None else (6 if high else 0),
            negative_slope=self.negative_slope,
            generator=state.generator,
            dtype=state.dtype,
            device=state.device,
        )
        self._surrogate_optimizer = _adam(
            list(self.surrogate_.parameters()), self.lr_surrogate, self.weight_decay
        )
        bounds = state.bounds
        if self.normalize and state.finite_bounds:
            self._centre = (bounds[0] + bounds[1]) / 2
            self._half = (bounds[1] - bounds[0]) / 2
        else:
            self._centre, self._half = None, None
        self._record: torch.Tensor | None = None  # the pending batch, as recorded
        # the last ``memory - 1`` batches' points (as recorded) and fitted targets
        self._memory_X: torch.Tensor | None = None
        self._memory_y: torch.Tensor | None = None
        self._sigma: float | None = None
        self._weight_grad: torch.Tensor | None = None  # made by the first fitting step
        self._fit_norm: torch.Tensor | None = None  # running gradient norm, for fit_clip

    def _get_state(self) -> dict:
        return {
            **super()._get_state(),
            "surrogate_": self.surrogate_.state_dict(),
            "surrogate_optimizer": self._surrogate_optimizer.state_dict(),
            "record": self._record,
            "sigma": self._sigma,
            "memory_X": self._memory_X,
            "memory_y": self._memory_y,
            "fit_norm": self._fit_norm,
        }

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self.surrogate_.load_state_dict(state["surrogate_"])
        self._surrogate_optimizer.load_state_dict(state["surrogate_optimizer"])
        self._record = self._restored(state["record"])
        self._sigma = state["sigma"]
        self._memory_X = self._restored(state.get("memory_X"))
        self._memory_y = self._restored(state.get("memory_y"))
        self._fit_norm = self._restored(state.get("fit_norm"))

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self._centre is None:
            return x
        return (x - self._centre) / self._half

    def _ask(self) -> torch.Tensor:
        state = self._state
        self._sigma = self._next_sigma()
        kw = dict(generator=state.generator, dtype=state.dtype, device=state.device)
        eps = self._sigma * torch.randn(self.n_samples, state.dim, **kw)
        if self.antithetic:
            eps = torch.cat([eps, -eps])
        X = self._theta.detach() - eps
        self._record = X
        if self.smooth_loss:
            inner = (self.inner_sigma * self._sigma) * torch.randn(X.shape, **kw)
            return X - inner
        return X

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict:
        with torch_threads(self.n_threads):
            return self._learn(X, y)

    def _learn(self, X: torch.Tensor, y: torch.Tensor) -> dict:
        """Step theta on the surrogate's gradient and refit the surrogate to the batch."""
        record = self._record if self._record is not None else X
        if self.log_targets:
            if bool((y <= -1).any()):
                raise EvaluationError("log_targets=True needs losses above -1.")
            y = torch.log1p(y)
        record, y = self._remember(record, y)
        if self.order == "surrogate_first":
            self._fit(record, y)
        info: dict = {}
        for _ in range(self.k_theta):
            info = self._step(self.surrogate_gradient())
        if self.order == "theta_first":
            self._fit(record, y)
        self._record = None
        return {**info, "sigma": self._sigma_info(self._sigma)}

    def _remember(self, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The points and targets to fit: the new batch after the remembered ones."""
        if self.memory == 1:
            return X, y
        keep = (self.memory - 1) * len(X)
        if self._memory_X is not None:
            X = torch.cat([self._memory_X, X])
            y = torch.cat([self._memory_y, y])
        # copies, so that neither the run nor a saved state holds the whole concatenation
        self._memory_X, self._memory_y = X[len(X) - keep :].clone(), y[len(y) - keep :].clone()
        return X, y

    def surrogate_gradient(self) -> torch.Tensor:
        """The gradient of the surrogate at the current iterate.

        Returns
        -------
        torch.Tensor of shape (D,)
        """
        theta = self._theta.detach().requires_grad_(True)
        with torch.enable_grad():
            value = self.surrogate_(self._normalise(theta)[None])[0]
            (grad,) = torch.autograd.grad(value, theta)
        return grad

    def _fit(self, X: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            H = self.surrogate_.encode(self._normalise(X))
        target = y.to(H.dtype)
        if self._lean_fit:
            self._fit_lean(H, target)
            return
        with torch.enable_grad():
            for _ in range(self.k_phi):
                self._surrogate_optimizer.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(self.surrogate_.head(H), target)
                loss.backward()
                if self.fit_clip is not None:
                    with torch.no_grad():
                        grads = [p.grad for p in self.surrogate_.parameters()]
                        scale = self._clip_scale(sum((g**2).sum() for g in grads).sqrt())
                        for g in grads:
                            g.mul_(scale)
                self._surrogate_optimizer.step()

    def _fit_lean(self, H: torch.Tensor, target: torch.Tensor) -> None:
        """The ``k_phi`` fitting steps with the first layer's gradient formed in place.

        The steps of the autograd loop in :meth:`_fit`, with the same operations:
        autograd runs only on the layers after the first, from the first layer's output
        ``Z = H W^T + b`` as a leaf; its gradient ``G`` (B x width) gives the first
        layer's weight gradient ``G^T H`` (rank B), written with one matrix product into
        a buffer kept across steps and iterations, and the bias gradient ``G``'s column
        sums. At large D autograd's own step allocates a new gradient of the first
        layer's size (126 MB at D = 35,152 with 3 frequencies), which the system then
        faults in and zeroes page by page, every step.
        """
        surrogate, optimizer = self.surrogate_, self._surrogate_optimizer
        first = surrogate.layers[0]
        weight, bias = first.weight, first.bias
        buffer = self._weight_grad
        if buffer is None or buffer.shape != weight.shape or buffer.dtype != weight.dtype:
            buffer = self._weight_grad = torch.empty_like(weight)
        clip = self.fit_clip is not None
        with torch.no_grad():
            Z = torch.nn.functional.linear(H, weight, bias)
            # |G^T H|^2 = sum((G G^T) * (H H^T)): the first layer's gradient norm from
            # B x B products, without forming it twice
            HH = H @ H.t() if clip else None
        rest = list(surrogate.layers[1:].parameters())
        for k in range(self.k_phi):
            optimizer.zero_grad(set_to_none=True)
            Z.requires_grad_(True)
            with torch.enable_grad():
                loss = torch.nn.functional.mse_loss(surrogate.tail(Z), target)
                loss.backward()
            with torch.no_grad():
                G = Z.grad
                if clip:
                    rest_grads = [p.grad for p in rest]
                    square = (HH * (G @ G.t())).sum() + (G.sum(0) ** 2).sum()
                    square = square + sum((g**2).sum() for g in rest_grads)
                    scale = self._clip_scale(square.sqrt())
                    G = G * scale
                    for g in rest_grads:  # the small layers after the first
                        g.mul_(scale)
                weight.grad = torch.mm(G.t(), H, out=buffer)
                bias.grad = G.sum(0)
                optimizer.step()
                if k < self.k_phi - 1:
                    Z = torch.nn.functional.linear(H, weight, bias)

    def _clip_scale(self, norm: torch.Tensor) -> torch.Tensor:
        """The factor that brings a fitting step's gradient norm within ``fit_clip``.

        At most 1, and ``fit_clip`` times the running norm over ``norm`` above it; the
        running norm follows the clipped norms (a tensor throughout: no sync).
        """
        running = self._fit_norm
        if running is None:
            running = norm
        scale = torch.clamp(self.fit_clip * running / norm.clamp_min(1e-30), max=1.0)
        self._fit_norm = 0.99 * running + 0.01 * (norm * scale)
        return scale

    def predict(self, X: Any) -> torch.Tensor:
        """The surrogate's prediction of the loss (or ``log(1 + loss)``) at ``X``.

        Parameters
        ----------
        X : tensor of shape (B, D)

        Returns
        -------
        torch.Tensor of shape (B,)
        """
        state = self._require_started()
        X = torch.as_tensor(X, dtype=state.dtype, device=state.device)
        with torch.no_grad():
            return self.surrogate_(self._normalise(X.reshape(-1, state.dim)))
