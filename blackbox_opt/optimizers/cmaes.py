"""CMA-ES through pycma: the whole population evaluated in one batched call."""

from __future__ import annotations

import contextlib
import math
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch

from ..checkpoint import pickle_library_object, unpickle_library_object
from ..exceptions import (
    InsufficientMemoryError,
    InvalidParameterError,
    UnsupportedProblemError,
    did_you_mean,
)
from ..result import Status
from ..scales import is_uniform
from ..utils import available_memory, require
from ..validation import Interval, Options, PositiveVector
from .base import BaseOptimizer, RunState
from .nevergrad import _NumpyStream

__all__ = ["CMAES", "DIAGONAL_DIM", "available_memory", "full_cma_bytes"]

#: Above this dimension ``diagonal="auto"`` runs separable CMA-ES: full CMA-ES keeps a
#: D x D covariance and eigendecomposes it (O(D^3)) every few iterations.
DIAGONAL_DIM = 1000

#: Options this wrapper sets itself; giving them in ``cma_options`` as well is an error.
_OWN_OPTIONS = ("seed", "randn", "popsize", "bounds", "CMA_diagonal", "CMA_stds")


def full_cma_bytes(dim: int) -> int:
    """Memory of full CMA-ES's matrices: covariance, eigenbasis and two work copies.

    Parameters
    ----------
    dim : int

    Returns
    -------
    int
        ``4 * 8 * dim^2`` bytes (float64).
    """
    return 4 * 8 * dim * dim


def _cma_bound(side: np.ndarray) -> float | list | None:
    """One side of the bounds as pycma takes it: a scalar when uniform (pycma's boundary
    transform is cheaper then), None for infinite entries."""
    if np.all(side == side[0]):
        return None if math.isinf(side[0]) else float(side[0])
    return [None if math.isinf(v) else float(v) for v in side]


def _checked_cma_options(cma: Any, options: dict | None) -> dict:
    """``options`` if every key is a pycma option; else the library's own error, with
    the closest names."""
    options = dict(options or {})
    defaults = cma.CMAOptions()
    for key in options:
        # pycma takes any case and any unique start of a name ("TolFun", "maxfev")
        name = defaults.corrected_key(key) if isinstance(key, str) else None
        if name is None:
            hint = did_you_mean(str(key), defaults, n=3, cutoff=0.6)
            raise InvalidParameterError(
                f"cma_options has {key!r}, which is not a pycma option.{hint} "
                "List them with cma.CMAOptions() (or cma.CMAOptions('tol') for those "
                "whose name or description contains 'tol')."
            )
        if name in _OWN_OPTIONS:
            raise InvalidParameterError(
                f"cma_options sets {key!r} ({name}), which CMAES sets from its own "
                "parameters (random_state, popsize, the problem's bounds, diagonal, "
                "sigma0); give it there."
            )
    return options


class CMAES(BaseOptimizer):
    """CMA-ES (Hansen), wrapping pycma's ``CMAEvolutionStrategy``.

    Each iteration asks pycma for a population, evaluates it in one batched problem
    call and tells pycma the losses. Tensors are converted at this boundary only; the
    problem stays on its device. pycma is seeded from ``random_state`` through its own
    ``randn`` option (a private ``numpy.random.RandomState``, so the global numpy
    generator is left alone) and runs silently: no console output, no files.

    On a problem whose :attr:`~blackbox_opt.Problem.space` has integers (or
    index-encoded categoricals), their coordinates go to pycma's
    ``integer_variables``: pycma keeps their step sizes from shrinking below the
    integer spacing, so the search does not freeze on a rounding plateau; the
    rounding itself happens when the space decodes the point.

    Parameters
    ----------
    sigma0 : float, array-like of shape (D,) or None, default=None
        The initial step size, in parameter units. None: a quarter of each parameter's
        bound width (pycma's advice), 0.5 where it has no finite bounds; a number
        applies to every parameter; a vector gives each its own. Per-parameter sizes
        reach pycma as ``sigma0 = max`` and the ``CMA_stds`` option (their ratios).
    popsize : int, optional
        Population size (pycma's default ``4 + floor(3 ln D)``, 10 for D = 10).
    diagonal : {"auto"} or bool, default="auto"
        Separable CMA-ES (a diagonal covariance, memory O(D)). ``"auto"`` chooses it
        above ``DIAGONAL_DIM`` (1,000) parameters. Full CMA-ES needs about
        ``32 D^2`` bytes; when that exceeds the available memory, ``fit`` raises
        :class:`~blackbox_opt.InsufficientMemoryError` before allocating anything.
    cma_options : dict, optional
        Further pycma options (``CMAOptions``), e.g. ``{"tolfun": 1e-12}``. Options that
        this wrapper sets (``seed``, ``randn``, ``popsize``, ``bounds``,
        ``CMA_diagonal``) must be given through its own parameters.
    restarts : int, default=0
        How many times to start CMA-ES again when pycma's own stopping rules end a
        run (a small step size, a flat fitness...), each time with the population
        ``incpopsize`` times larger: IPOP-CMA-ES (Auger & Hansen 2005), as pycma's
        ``fmin`` does with ``restarts``. 0: the run ends when pycma stops, before the
        budget when pycma converges early.
    incpopsize : float, default=2
        The factor on the population size at each restart.
    restart_from : {"x0", "best"}, default="x0"
        Where a restart begins: the run's start (pycma's ``fmin``), or the best point
        found so far. Each restart begins with the initial step size ``sigma0``.
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Examples
    --------
    >>> import problems
    >>> res = CMAES(budget=3000, random_state=0, verbose=False).minimize(
    ...     problems.make("sphere", dim=5))
    >>> res.fun < 1e-8
    True
    """

    name = "cmaes"
    _stays_in_bounds = True
    requires = ("baselines",)
    _parameter_constraints: ClassVar[dict] = {
        "sigma0": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None],
        "popsize": [Interval(Integral, 2, None, closed="left"), None],
        "diagonal": [Options({"auto"}), "boolean"],
        "cma_options": [dict, None],
        "restarts": [Interval(Integral, 0, None, closed="left")],
        "incpopsize": [Interval(Real, 1, None, closed="left")],
        "restart_from": [Options({"x0", "best"})],
    }

    def __init__(
        self,
        *,
        sigma0: float | None = None,
        popsize: int | None = None,
        diagonal: str | bool = "auto",
        cma_options: dict | None = None,
        restarts: int = 0,
        incpopsize: float = 2.0,
        restart_from: str = "x0",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sigma0 = sigma0
        self.popsize = popsize
        self.diagonal = diagonal
        self.cma_options = cma_options
        self.restarts = restarts
        self.incpopsize = incpopsize
        self.restart_from = restart_from

    def _check_params_consistency(self) -> None:
        both = sorted(set(self.cma_options or {}) & set(_OWN_OPTIONS))
        if both:
            raise InvalidParameterError(
                f"cma_options sets {both}, which CMAES sets from its own parameters "
                "(random_state, popsize, the problem's bounds, diagonal); give them there."
            )

    def _start(self, state: RunState) -> None:
        cma = require("cma", "baselines")
        D = state.dim
        if D < 2:
            raise UnsupportedProblemError(
                "pycma's CMA-ES needs at least 2 parameters; this problem has 1. Use a 1-D "
                "method ('zerograds', 'prdpt', 'spsa', 'nevergrad') instead."
            )
        diagonal = D > DIAGONAL_DIM if self.diagonal == "auto" else bool(self.diagonal)
        if not diagonal:
            needed, free = full_cma_bytes(D), available_memory()
            if free is not None and needed > free:
                raise InsufficientMemoryError(
                    f"Full CMA-ES in {D} dimensions needs about {needed / 2**30:.1f} GiB "
                    f"for its covariance matrices; {free / 2**30:.1f} GiB are available. "
                    "Use diagonal=True (separable CMA-ES, memory O(D)) or another method."
                )
        bounds = state.bounds
        steps = self._per_parameter("sigma0", 0.25, 0.5)
        sigma0 = float(steps.max())
        options = {
            "seed": math.nan,  # pycma: "do nothing" to the global numpy generator
            "randn": np.random.RandomState(self._library_seed(state)).randn,
            "CMA_diagonal": diagonal,
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
            "verb_time": False,
            "signals_filename": "",  # no file system look-up every iteration
            **_checked_cma_options(cma, self.cma_options),
        }
        if not is_uniform(steps):
            options["CMA_stds"] = (steps / sigma0).cpu().numpy()
        if self.popsize is not None:
            options["popsize"] = self.popsize
        integers = [] if state.problem is None else state.problem.space.integer_indices
        if integers and "integer_variables" not in options:
            options["integer_variables"] = integers  # pycma keeps their steps >= ~1
        if bounds is not None:
            options["bounds"] = [_cma_bound(side) for side in bounds.double().cpu().numpy()]
        x0 = state.x0.double().cpu().numpy()
        # pycma's integer handling draws from numpy's global generator: it gets a
        # private, seeded stream, swapped in around every call
        self._stream = None
        if options.get("integer_variables"):
            seed = self._library_seed(state) + 1
            self._stream = _NumpyStream(np.random.RandomState(seed).get_state())
        with self._numpy():
            self._es = cma.CMAEvolutionStrategy(x0, sigma0, options)
        self._asked: list | None = None
        self._n_restarts = 0

    def _restart(self) -> None:
        """Start pycma again with a larger population (IPOP), from x0 or the best point."""
        cma = require("cma", "baselines")
        state, old = self._state, self._es
        self._n_restarts += 1
        options = dict(old.inopts)
        options["popsize"] = max(round(old.popsize * self.incpopsize), old.popsize + 1)
        # a fresh seeded stream per restart, so a restart never replays the first's draws
        seed = (self._library_seed(state) + 7919 * self._n_restarts) % (2**31 - 1)
        options["randn"] = np.random.RandomState(seed).randn
        start = state.best_x if self.restart_from == "best" and state.best_x is not None else None
        x0 = (state.x0 if start is None else start).double().cpu().numpy()
        with self._numpy():
            self._es = cma.CMAEvolutionStrategy(x0, float(old.sigma0), options)

    def _numpy(self) -> Any:
        return self._stream if self._stream is not None else contextlib.nullcontext()

    def _get_state(self) -> dict:
        asked = None if self._asked is None else torch.from_numpy(np.stack(self._asked))
        return {
            **super()._get_state(),
            "es": pickle_library_object(self._es, "cma"),
            "asked": asked,
            "stream": None if self._stream is None else _stream_to_plain(self._stream.state),
            "n_restarts": self._n_restarts,
        }

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self._es = unpickle_library_object(state["es"], "cma")
        _rehash_solution_dicts(self._es)
        stream = state.get("stream")
        self._stream = None if stream is None else _NumpyStream(_stream_from_plain(stream))
        asked = state["asked"]
        self._asked = None if asked is None else list(asked.double().cpu().numpy())
        self._n_restarts = int(state.get("n_restarts", 0))

    def _ask(self) -> torch.Tensor:
        state = self._state
        with self._numpy():
            self._asked = self._es.ask()
        X = torch.from_numpy(np.stack(self._asked))
        return X.to(device=state.device, dtype=state.dtype)

    def _batch_range(self) -> tuple[int, int]:
        return (int(self._es.sp.weights.mu), int(self._es.popsize))

    def _ask_n(self, n: int) -> torch.Tensor:
        state = self._state
        with self._numpy():
            self._asked = self._es.ask(n)
        X = torch.from_numpy(np.stack(self._asked))
        return X.to(device=state.device, dtype=state.dtype)

    def _reask(self, slots: torch.Tensor) -> torch.Tensor:
        # new samples from the same distribution take the failed ones' places
        state = self._state
        with self._numpy():
            new = self._es.ask(slots.numel())
        for slot, x in zip(slots.tolist(), new, strict=True):
            self._asked[slot] = x
        return torch.from_numpy(np.stack(new)).to(device=state.device, dtype=state.dtype)

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict:
        # pycma gets back exactly the float64 solutions it proposed
        with self._numpy():
            self._es.tell(self._asked, y.double().cpu().tolist())
            stopped = self._n_restarts < self.restarts and bool(self._es.stop())
        self._asked = None
        if stopped:
            self._restart()
        info = {"sigma": float(self._es.sigma)}
        if self.restarts:
            info["restarts"] = self._n_restarts
        return info

    def _recommend(self) -> torch.Tensor:
        state = self._state
        mean = np.asarray(self._es.result.xfavorite, dtype=np.float64)
        return self._project(torch.from_numpy(mean).to(device=state.device, dtype=state.dtype))

    def _converged(self) -> bool:
        with self._numpy():
            return bool(self._es.stop())

    def _convergence(self) -> tuple[int, str]:
        with self._numpy():
            rules = dict(self._es.stop())
        said = ", ".join(f"{k}={v:g}" if isinstance(v, float) else k for k, v in rules.items())
        detail = f"pycma stopped it: {said}." if said else ""
        problem = self._state.problem
        f_opt = None if problem is None else problem.f_opt
        at_optimum = f_opt is not None and float(self._state.best_f) <= f_opt + 1e-12 * (
            1 + abs(f_opt)
        )
        if "tolflatfitness" in rules and not at_optimum:  # the losses were all equal
            more = "more restarts" if self.restarts else "restarts="
            hint = (
                f" {more} start again with a larger population; a smoothing method "
                "(prdpt, zerograds) can descend a plateau."
            )
            return Status.STALLED, detail + hint
        return Status.CONVERGED, detail


def _rehash_solution_dicts(es: Any) -> None:
    """File pycma's archives of asked solutions under this process's hashes.

    pycma's ``SolutionDict`` keys each solution by ``hash(x.tobytes())``, and Python
    salts the hash of bytes differently in every process: unpickled in a new process,
    the archives would not find the solutions of a batch asked before the save (their
    genotypes, which ``tell`` uses when bounds repaired a point), and the resumed run
    would differ from the uninterrupted one. Each archive keeps the solution it hashed
    (``_unhashed_keys``), so its keys can be computed again.
    """
    from cma.utilities.utils import SolutionDict

    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 3:
            return
        seen.add(id(obj))
        if isinstance(obj, SolutionDict):
            rekey = {old: obj.key(x) for old, x in obj._unhashed_keys.items()}
            obj.data = {rekey.get(k, k): v for k, v in obj.data.items()}
            same = obj.data_with_same_key
            obj.data_with_same_key = {rekey.get(k, k): v for k, v in same.items()}
            obj._unhashed_keys = {rekey[k]: x for k, x in obj._unhashed_keys.items()}
            return
        attributes = getattr(obj, "__dict__", None)
        if attributes is not None and type(obj).__module__.startswith("cma"):
            for value in attributes.values():
                visit(value, depth + 1)

    visit(es, 0)


def _stream_to_plain(state: tuple) -> list:
    """numpy's generator state as plain values and a tensor (loadable with weights_only)."""
    name, keys, pos, has_gauss, cached = state
    return [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), cached]


def _stream_from_plain(saved: list) -> tuple:
    name, keys, pos, has_gauss, cached = saved
    return (name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, float(cached))
