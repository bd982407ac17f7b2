"""The benchmark's experiments, as data: every setting of every benchmark, once.

An :class:`Experiment` names its problems, its methods with their hyperparameters, the
budget in evaluations per problem and the number of seeds, at two scales:

``quick``
    Small budgets: every experiment of the runner together finishes in about ten
    minutes on a 2-core CPU (``make demo``).
``full``
    The papers' budgets (a task's iterations in its paper times the evaluations of
    one of them), for a GPU or a long run.

Hyperparameters are ``{method: {"default": {...}, problem_label: {...}}}``: a problem's
entry replaces the method's default for that problem. The values come from the papers
where they give them (see the comments) and from small grids on 3 seeds otherwise.

Each experiment names the ``python -m bench`` subcommand that runs it (its
``command``): the runner's experiments (``toys``, ``highdim``, ``plateaus``,
``scaling``, ``rastrigin``) run with ``python -m bench run [EXPERIMENT...] --scale
quick``; ``mitsuba`` with ``python -m bench mitsuba`` (:mod:`bench.mitsuba`) and
``meta``, at its own ``smoke`` and ``quick`` scales, with ``python -m bench meta``
(:mod:`bench.meta`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, NamedTuple

from blackbox_opt.exceptions import did_you_mean

from .errors import UnknownExperimentError

__all__ = [
    "COMMANDS",
    "EXPERIMENTS",
    "PRDPT_TABLE2",
    "SCALES",
    "Experiment",
    "PaperResult",
    "ProblemSpec",
    "check_seeds",
    "get_experiment",
    "load_experiments",
    "loaded_files",
    "prdpt_paper",
    "runner_scales",
]

#: The scales every runner experiment has (the default of :attr:`Experiment.scales`):
#: ``quick``, a smoke run of minutes, and ``full``, the benchmark's budgets (hours). An
#: experiment may add its own, such as ``paper`` for a paper's own budget where that is
#: far beyond ``full`` (days on a CPU; see :func:`runner_scales`).
SCALES: tuple[str, ...] = ("quick", "full")

#: The ``python -m bench`` subcommands that run experiments: ``run`` is the runner
#: (:mod:`bench.runner`, also behind ``demo``).
COMMANDS: tuple[str, ...] = ("run", "mitsuba", "meta")


@dataclass(frozen=True)
class ProblemSpec:
    """A registered problem with constructor overrides, under a label.

    Parameters
    ----------
    id : str
        The registered problem id.
    options : mapping, optional
        Keyword arguments for :func:`blackbox_opt.make_problem`.
    label : str, optional
        The name in tables and figures (default: the id, followed by the options,
        e.g. ``"texture[res=16]"``).
    requires : str, optional
        An optional extra the problem needs (e.g. ``"mitsuba"``); runs are skipped with
        the reason when it is missing.

    Examples
    --------
    >>> ProblemSpec("texture", {"res": 16}).label
    'texture[res=16]'
    """

    id: str
    options: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    requires: str | None = None

    def __post_init__(self) -> None:
        if not self.label:
            opts = ",".join(f"{k}={v}" for k, v in self.options.items())
            object.__setattr__(self, "label", f"{self.id}[{opts}]" if opts else self.id)


@dataclass(frozen=True)
class Experiment:
    """Problems x methods x seeds at a budget, at its scales (``quick`` and ``full``).

    Parameters
    ----------
    name : str
        The experiment's id on the command line and in the results table.
    title : str
        One line for figures and the summary.
    problems : tuple of ProblemSpec or str
        The problems (a string is a registered id with its defaults).
    methods : tuple of str
        Registered method names, or labels that ``method_ids`` maps to one.
    budgets : mapping of str to mapping of str to int
        ``{scale: {problem_label: evaluations}}``; the key ``"default"`` covers the
        problems not named.
    seeds : mapping of str to int
        ``{scale: number of seeds}``; runs use ``random_state`` 0 .. n-1.
    hyperparams : mapping, optional
        ``{method: {"default": {...}, problem_label: {...}}}``.
    max_iter : mapping, optional
        Also stop runs after this many iterations: ``{scale: iterations}`` for every
        run (the scaling experiment times a fixed number of iterations), or ``{scale:
        {method: {problem_label: iterations}}}`` per run, where the key ``"default"``
        covers the problems not named. Read it with :meth:`iterations`.
    full_only : tuple of str, optional
        Problem labels left out at the ``quick`` scale.
    quick_exclude : tuple of (str, str), optional
        ``(method, problem_label)`` pairs left out at the ``quick`` scale (runs that
        would take minutes alone, e.g. finite differences at D = 12,288).
    figures : tuple of str, optional
        The figures of :mod:`bench.figures` drawn from this experiment.
    deterministic : tuple of str, optional
        Methods whose runs do not depend on the seed here (e.g. ``adam`` on a render
        with a fixed seed): they run once per problem, with seed 0.
    settings : mapping, optional
        ``{scale: {problem_label: {...}}}``: what the experiment's own subcommand reads
        besides the methods' hyperparameters, iterations and seeds (e.g. the sizes of
        the meta experiment's families and its meta-learner's epochs).
    scales : tuple of str, optional
        The experiment's scales (default :data:`SCALES`).
    command : str, optional
        The ``python -m bench`` subcommand that runs it (one of :data:`COMMANDS`;
        default ``"run"``, the runner).
    method_ids : mapping of str to str, optional
        ``{label: registered method}`` for a method run under another name, e.g. one
        method with two settings (``{"ipop-cmaes": "cmaes"}``, with ``restarts`` in
        its hyperparameters). Records, tables and figures show the label.
    default : bool, default=True
        Run when the runner is given no experiment names (``make demo``); False for
        experiments too long for that, run by name.

    Examples
    --------
    >>> e = get_experiment("plateaus")
    >>> e.budget("quick", "rect") > 0, "prdpt" in e.methods
    (True, True)
    """

    name: str
    title: str
    problems: tuple[ProblemSpec | str, ...]
    methods: tuple[str, ...]
    budgets: Mapping[str, Mapping[str, int]]
    seeds: Mapping[str, int]
    hyperparams: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    max_iter: Mapping[str, int | Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    full_only: tuple[str, ...] = ()
    quick_exclude: tuple[tuple[str, str], ...] = ()
    figures: tuple[str, ...] = ("convergence",)
    deterministic: tuple[str, ...] = ()
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    scales: tuple[str, ...] = SCALES
    command: str = "run"
    method_ids: Mapping[str, str] = field(default_factory=dict)
    default: bool = True

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}; got {self.command!r}.")

    def problem_specs(self, scale: str) -> list[ProblemSpec]:
        """The problems run at ``scale``.

        Parameters
        ----------
        scale : str
            One of the experiment's :attr:`scales`.

        Returns
        -------
        list of ProblemSpec
        """
        self._check_scale(scale)
        specs = [p if isinstance(p, ProblemSpec) else ProblemSpec(p) for p in self.problems]
        return [s for s in specs if scale != "quick" or s.label not in self.full_only]

    def budget(self, scale: str, label: str) -> int:
        """Evaluations per run of problem ``label`` at ``scale``.

        Parameters
        ----------
        scale : str
            One of the experiment's :attr:`scales`.
        label : str

        Returns
        -------
        int
        """
        self._check_scale(scale)
        table = self.budgets[scale]
        return int(table.get(label, table["default"]))

    def params(self, method: str, label: str) -> dict[str, Any]:
        """The hyperparameters of ``method`` on problem ``label``.

        Parameters
        ----------
        method, label : str

        Returns
        -------
        dict
        """
        entry = self.hyperparams.get(method, {})
        return dict(entry.get(label, entry.get("default", {})))

    def iterations(self, scale: str, method: str, label: str) -> int | None:
        """The iterations that stop a run of ``method`` on ``label`` at ``scale``.

        Parameters
        ----------
        scale : str
            One of the experiment's :attr:`scales`.
        method, label : str

        Returns
        -------
        int or None
            None when only the budget stops the run.

        Examples
        --------
        >>> e = get_experiment("mitsuba")
        >>> e.iterations("quick", "prdpt", "mi-gi"), e.iterations("full", "prdpt", "mi-gi")
        (250, 400)
        """
        self._check_scale(scale)
        cap = self.max_iter.get(scale)
        if isinstance(cap, Mapping):
            entry = cap.get(method, {})
            cap = entry.get(label, entry.get("default"))
        return None if cap is None else int(cap)

    def method_id(self, method: str) -> str:
        """The registered method that the label ``method`` runs.

        Parameters
        ----------
        method : str

        Returns
        -------
        str

        Examples
        --------
        >>> e = get_experiment("fig7-caustic")
        >>> e.method_id("ipop-cmaes"), e.method_id("zerograds")
        ('cmaes', 'zerograds')
        """
        return self.method_ids.get(method, method)

    def run_seeds(
        self, scale: str, method: str, seeds: int | Sequence[int] | None = None
    ) -> Sequence[int]:
        """The seeds of ``method``'s runs at ``scale``.

        Parameters
        ----------
        scale : str
            One of the experiment's :attr:`scales`.
        method : str
        seeds : int or sequence of int, optional
            A number of seeds (``0`` to ``seeds - 1``) or the seeds themselves, replacing
            the experiment's own; see :func:`check_seeds`.

        Returns
        -------
        sequence of int
            ``range(seeds)`` for a number, the seeds given for a sequence. A
            :attr:`deterministic` method has one run, seed 0: ``range(1)``, or, for a
            sequence of seeds, ``[0]`` if it holds 0 and none if not (so that runs
            split across machines by their seeds run it once).

        Examples
        --------
        >>> e = get_experiment("fig7-caustic")
        >>> list(e.run_seeds("full", "prdpt", [3, 4]))
        [3, 4]
        >>> list(e.run_seeds("full", "prdpt", 2))
        [0, 1]
        """
        self._check_scale(scale)
        seeds = check_seeds(seeds)
        if method in self.deterministic:
            if isinstance(seeds, tuple):
                return [0] if 0 in seeds else []
            return range(1)
        if isinstance(seeds, tuple):
            return list(seeds)
        return range(seeds if seeds is not None else self.seeds[scale])

    def _check_scale(self, scale: str) -> None:
        if scale not in self.scales:
            raise ValueError(
                f"experiment {self.name!r} has the scales {self.scales}; got {scale!r}."
            )


def check_seeds(seeds: Any) -> int | tuple[int, ...] | None:
    """Check the runner's ``seeds``: None, a number of seeds, or the seeds themselves.

    Parameters
    ----------
    seeds : None, int or sequence of int
        A number, at least 1 (the seeds ``0`` to ``seeds - 1``), or a non-empty
        sequence of distinct non-negative integers (those seeds alone, e.g. to split an
        experiment's runs across machines).

    Returns
    -------
    None, int or tuple of int

    Raises
    ------
    ValueError
        For a number below 1, an empty sequence, a negative, repeated or non-integer
        seed.

    Examples
    --------
    >>> check_seeds(5), check_seeds([3, 4])
    (5, (3, 4))
    """
    if seeds is None:
        return None
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1; got {seeds}.")
        return int(seeds)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError(f"seeds must be a number of seeds or a sequence of seeds; got {seeds!r}.")
    values = list(seeds)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, Integral) or v < 0]
    if not values or bad:
        raise ValueError(
            f"seeds must be a non-empty sequence of non-negative integers; got {values!r}."
        )
    repeated = sorted({int(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"seeds repeats {repeated}.")
    return tuple(int(v) for v in values)


def runner_scales(experiments: Iterable[Experiment] | None = None) -> tuple[str, ...]:
    """The scales the runner can run: :data:`SCALES`, then the experiments' own.

    Parameters
    ----------
    experiments : iterable of Experiment, optional
        Default: the registered experiments that the runner runs.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> runner_scales()
    ('quick', 'full', 'paper')
    """
    if experiments is None:
        experiments = [e for e in EXPERIMENTS.values() if e.command == "run"]
    extra = [s for e in experiments for s in e.scales if s not in SCALES]
    return (*SCALES, *dict.fromkeys(extra))


# -- shared hyperparameters ------------------------------------------------------------------
# Chosen by small grids on 3 seeds at the quick budgets, unless a comment cites a paper.
_ZEROGRADS_LOW_DIM = {
    "sigma": 0.33,
    "n_samples": 4,
    "k_theta": 1,
    "lr": 5e-3,
    "log_targets": True,
    "anneal_start": 0.3,
    "sigma_min": 1e-3,
}
_NEVERGRAD = {"optimizer": "TwoPointsDE", "batch_size": 8}

TOYS = Experiment(
    name="toys",
    title="Gradient-free methods and Adam on the toy problems",
    problems=("rosenbrock", "spline1d", "rect"),
    methods=("random", "spsa", "fd", "adam", "prdpt", "zerograds", "cmaes", "nevergrad"),
    budgets={
        "quick": {"default": 20_000, "rect": 4000},
        "full": {"default": 20_000, "rect": 4000},
    },
    seeds={"quick": 3, "full": 5},
    hyperparams={
        # Spall's gains stall on Rosenbrock; Adam on the estimate works (lr 1e-1 of
        # {1e-2, 3e-2, 1e-1}). On rect c=0.2 reaches the target's basin (0.1 stays on
        # the plateau, 0.3 overshoots).
        "spsa": {
            "default": {"update": "optimizer", "lr": 1e-1},
            "rect": {"update": "optimizer", "lr": 1e-2, "c": 0.2},
        },
        # a wide difference step sees past rect's plateau (h=1e-3 sees zero)
        "fd": {"default": {"lr": 1e-1}, "rect": {"lr": 3e-2, "h": 0.2}},
        "adam": {"default": {"lr": 1e-1}, "rect": {"lr": 1e-3}},
        "zerograds": {
            "default": _ZEROGRADS_LOW_DIM,
            "spline1d": {
                **_ZEROGRADS_LOW_DIM,
                "n_samples": 10,
                "lr": 1e-2,
                "lr_follows_sigma": True,
            },
            "rect": {"sigma": 0.1, "n_samples": 4, "lr": 2e-3, "lr_follows_sigma": True},
        },
        # PRDPT's rect setting (4 pairs, sigma 0.05, Adam 1e-3)
        "prdpt": {
            "default": {"sigma": 0.3, "n_samples": 2, "lr": 1e-2, "sigma_min": 1e-3},
            "rect": {"sigma": 0.05, "n_samples": 4, "lr": 1e-3},
        },
        # NGOpt spends ~5.5 ms of its own per evaluation on the 2-D Rosenbrock
        "nevergrad": {"default": _NEVERGRAD},
    },
)

#: The settings on the caustic, chosen alike for every method on a small grid at 20,000
#: evaluations on seed 0 (ZeroGrads: the final iterate's loss, from ``python -m
#: bench.zg_diagnose``; the others: the best loss), then run on 5 seeds at 200,000.
#: ZeroGrads: the paper's batch (10 antithetic pairs) and k_theta, sigma 0.002 (see
#: the highdim experiment), and a surrogate fitted harder than the paper's k_phi 3 at
#: lr_phi 1e-4, which under-fits here: lr_phi / k_phi 1e-4 / 3 reached 0.0355, 1e-3 / 3
#: 0.0293, 1e-4 / 10 0.0248, 1e-4 / 30 0.0298, 1e-3 / 10 0.0171, 1e-3 / 30 0.0170 and
#: 3e-3 / 10 0.0200 (lr_theta 3e-5; the paper's 1e-4 gave 0.0377 with the paper's fit
#: and 0.0178 with this one). Fitting the last 10 batches (memory=10) at k_phi 3, 1e-3
#: gave 0.0182 (0.0293 without); memory=5 on top of k_phi 10 0.0184 (no gain).
ZEROGRADS_CAUSTIC = {
    "sigma": 0.002,
    "n_samples": 10,
    "lr": 3e-5,
    "lr_surrogate": 1e-3,
    "k_phi": 10,
    "k_theta": 1,
}

# the highdim experiment's former sigma 0.025 / lr 1e-3 drifted above the start (0.063);
# at sigma 0.002, lr 1e-3, 1e-4, 3e-5 and 1e-5 gave 0.064, 0.032, 0.0171 and 0.0268;
# sigma 0.001 and 0.005 at 3e-5 0.0178 and 0.0195 (best samples)
PRDPT_CAUSTIC = {"sigma": 0.002, "n_samples": 4, "lr": 3e-5}
# c 0.002: lr 1e-3, 1e-4, 3e-5, 1e-5 gave 0.061, 0.028, 0.0170, 0.0199; c 0.001 and
# 0.005 at 3e-5: 0.0173, 0.0205; the former c 0.025: 0.053-0.063
SPSA_CAUSTIC = {"update": "optimizer", "lr": 3e-5, "c": 0.002}

HIGH_DIM = Experiment(
    name="highdim",
    title="ZeroGrads' comparison: high-dimensional tasks without gradients",
    problems=("caustic", "mlp-digits", "led-display", "texture"),
    methods=("zerograds", "prdpt", "spsa", "cmaes", "random", "adam"),
    budgets={
        "quick": {"default": 6000, "mlp-digits": 400, "texture": 1000},
        # the ZeroGrads paper's iterations on each task times its samples per iteration
        "full": {"default": 200_000, "mlp-digits": 100_000, "led-display": 10_000},
    },
    seeds={"quick": 2, "full": 3},
    hyperparams={
        # the ZeroGrads paper's settings per task (sigma, lr_phi / lr_theta, B, k_phi /
        # k_theta), the encoding of the high-dimensional surrogate included, except where
        # a comment says otherwise
        "zerograds": {
            # sigma 0.002, not the paper's 0.0125: that is 1.8 times the std of this
            # problem's true heights (0.007), and smoothed at it the loss is 0.0714 at the
            # start and 0.0638 at the optimum, a landscape almost flat (at 0.002: 0.0765
            # and 0.0356), so the run stays near 0.05 until sigma anneals; and the
            # surrogate fitted harder than the paper's k_phi 3 at lr_phi 1e-4 (see
            # ZEROGRADS_CAUSTIC)
            "caustic": ZEROGRADS_CAUSTIC,
            "mlp-digits": {
                "sigma": 0.025,
                "n_samples": 10,
                "lr": 1.25e-5,
                "lr_surrogate": 1e-4,
                "k_phi": 10,
                "k_theta": 4,
                "n_freq": 3,
            },
            # the paper's B=1, lr 1e-3 (with the 6-frequency encoding) stays near the start
            # for 1,000 iterations here (0.054 -> 0.050); 4 pairs, lr 1e-2 and no encoding
            # reach 0.0117 (a grid over B in {1, 4}, lr in {1e-3, 1e-2}, n_freq in {0, 3})
            "led-display": {
                "sigma": 0.33,
                "n_samples": 4,
                "lr": 1e-2,
                "lr_surrogate": 1e-3,
                "k_phi": 3,
                "k_theta": 1,
                "n_freq": 0,
            },
            "texture": {
                "sigma": 0.025,
                "n_samples": 20,
                "lr": 1e-5,
                "lr_surrogate": 1e-4,
                "k_phi": 3,
                "k_theta": 1,
            },
        },
        "prdpt": {
            "default": {"sigma": 0.025, "n_samples": 4, "lr": 1e-3},
            "caustic": PRDPT_CAUSTIC,
            "led-display": {"sigma": 0.3, "n_samples": 8, "lr": 5e-2},
        },
        "spsa": {
            "default": {"update": "optimizer", "lr": 1e-3, "c": 0.025},
            "caustic": SPSA_CAUSTIC,
            "led-display": {"update": "optimizer", "lr": 5e-2, "c": 0.3},
        },
        "random": {
            "default": {"sampling": "gaussian", "sigma": 0.01, "center": "best"},
            # a hundredth of the caustic's bound width (0.1), as on the other problems
            "caustic": {"sampling": "gaussian", "sigma": 0.001, "center": "best"},
        },
        "adam": {"default": {"lr": 1e-2}, "mlp-digits": {"lr": 1e-3}},
    },
    figures=("convergence", "grad_variance", "strips"),
)

# -- ZeroGrads' Fig. 7 and 8 at the paper's budgets -----------------------------------------
#: The methods of ZeroGrads' comparison (its Fig. 7 and 8), each run under its label:
#: CMA-ES with IPOP restarts (pycma stops itself after about 40,000 evaluations on the
#: caustic), nevergrad's GeneticDE (differential evolution with Holland's two-point
#: crossover, nevergrad's genetic algorithm) and its (1+1)-ES, OnePlusOne.
_FIG7_METHODS = ("zerograds", "prdpt", "spsa", "ipop-cmaes", "ga", "oneplusone")
_FIG7_IDS = {"ipop-cmaes": "cmaes", "ga": "nevergrad", "oneplusone": "nevergrad"}
_FIG7_NEVERGRAD = {
    "ga": {"default": {"optimizer": "GeneticDE", "batch_size": 8}},
    "oneplusone": {"default": {"optimizer": "OnePlusOne", "batch_size": 8}},
}

FIG7_CAUSTIC = Experiment(
    name="fig7-caustic",
    title="ZeroGrads' Fig. 7/8: caustic, D = 1,024",
    problems=("caustic",),
    methods=_FIG7_METHODS,
    method_ids=_FIG7_IDS,
    # the paper scale: the authors' own run, 100,000 iterations of 10 antithetic pairs
    # (days a seed on a CPU); the runner checkpoints every run, so it resumes when stopped
    budgets={
        "quick": {"default": 20_000},
        "full": {"default": 200_000},
        "paper": {"default": 2_000_000},
    },
    seeds={"quick": 1, "full": 5, "paper": 5},
    scales=("quick", "full", "paper"),
    hyperparams={
        "zerograds": {"default": ZEROGRADS_CAUSTIC},
        "prdpt": {"default": PRDPT_CAUSTIC},
        "spsa": {"default": SPSA_CAUSTIC},
        # sigma0 0.005 from the best point: 0.0258 (from x0: 0.0288; the default, a
        # quarter of the bound width, 0.025: 0.0386 from x0)
        "ipop-cmaes": {"default": {"restarts": 50, "restart_from": "best", "sigma0": 0.005}},
        # neither left the start (0.054) with nevergrad's sigma 0.002 or 0.01
        **_FIG7_NEVERGRAD,
    },
    figures=("convergence", "iterate", "grad_variance"),
    default=False,
)

FIG7_MLP = Experiment(
    name="fig7-mlp",
    title="ZeroGrads' Fig. 7/8 at the paper's budget: MLP digit, D = 35,152",
    problems=("mlp-digits",),
    methods=_FIG7_METHODS,
    method_ids=_FIG7_IDS,
    budgets={"quick": {"default": 2_000}, "full": {"default": 100_000}},
    seeds={"quick": 1, "full": 3},
    hyperparams={
        # chosen on a grid at 10,000 evaluations, seed 0 (start 0.140; final iterate):
        # zerograds, the paper's settings 0.137; lr 1e-4 and 1e-3 with lr_phi 1e-3:
        # 0.139 and 0.369 (it diverged); prdpt n 4 at sigma 0.025 / 0.005: lr 1e-4
        # 0.137 / 0.137, 1e-3 0.041 / 0.040, 3e-3 0.0053 / 0.0066, 1e-2 0.085 / 0.121;
        # spsa at c 0.025 / 0.005: lr 1e-4 0.132 / 0.132, 1e-3 0.0074 / 0.0073, 3e-3
        # 0.014 / 0.021, 1e-2 0.178 / 0.142
        "zerograds": {"default": HIGH_DIM.params("zerograds", "mlp-digits")},
        "prdpt": {"default": {"sigma": 0.025, "n_samples": 4, "lr": 3e-3}},
        "spsa": {"default": {"update": "optimizer", "c": 0.005, "lr": 1e-3}},
        "ipop-cmaes": {"default": {"restarts": 20}},
        **_FIG7_NEVERGRAD,
    },
    figures=("convergence", "iterate", "grad_variance"),
    default=False,
)

# -- the Mitsuba scenes -----------------------------------------------------------------------
#: Each Mitsuba scene's settings, once: prdpt's sigma, the learning rate of prdpt and of
#: adam on Mitsuba's gradients, and the iterations of (prdpt, adam) at the quick and full
#: scales of the ``mitsuba`` experiment. ``plateaus`` (full scale) uses the same
#: hyperparameters on its two Mitsuba scenes. mi-shadows follows the paper (sigma 0.5,
#: Adam lr 2e-2, 400 iterations); the other scenes take sigma about half the
#: start-target distance.
_MI_SCENES: dict[str, tuple[float, float, tuple[int, int], tuple[int, int]]] = {
    # scene          sigma  lr     quick (prdpt, adam)  full (prdpt, adam)
    "mi-shadows":   (0.5,   2e-2,  (400, 400),          (400, 400)),
    "mi-occlusion": (0.8,   3e-2,  (150, 100),          (300, 300)),
    "mi-cup":       (0.8,   3e-2,  (150, 100),          (300, 300)),
    "mi-gi":        (0.3,   2e-2,  (250, 100),          (400, 300)),
    "mi-caustic":   (0.5,   3e-2,  (300, 100),          (300, 300)),
}  # fmt: skip


def _mi_prdpt(sigma: float, lr: float) -> dict[str, Any]:
    # PRDPT's reference settings: one antithetic pair, sigma constant for the first half
    # of the run and then annealed linearly to sigma / 50, Adam on the estimate
    return {"sigma": sigma, "n_samples": 1, "lr": lr, "anneal_start": 0.5, "sigma_min": sigma / 50}


_MI_PRDPT = {scene: _mi_prdpt(sigma, lr) for scene, (sigma, lr, _, _) in _MI_SCENES.items()}
# Adam's second moment with a memory of about 100 iterations (beta2 0.99, not 0.999) on
# the two scenes where the iterate still has ground to cover while sigma anneals: there
# the first half's large estimates, kept by a 1,000-iteration memory, shrink the second
# half's steps. Final parameter MSE at the full scale, 3 seeds, median (0.999 -> 0.99):
# mi-gi 0.028 -> 5.0e-4, mi-caustic 1.1e-3 -> 5.3e-4; unchanged on
# mi-shadows and mi-cup, and worse on mi-occlusion (5.9e-5 -> 2.1e-4), where the
# iterate has converged and the long memory's smaller steps settle it closer.
for _scene in ("mi-gi", "mi-caustic"):
    _MI_PRDPT[_scene]["optimizer_options"] = {"betas": (0.9, 0.99)}
_MI_ADAM = {scene: {"lr": lr} for scene, (_, lr, _, _) in _MI_SCENES.items()}


def _mi_iterations(column: int) -> dict[str, dict[str, int]]:
    """``{method: {scene: iterations}}`` from column 2 (quick) or 3 (full) of the table."""
    return {
        method: {scene: row[column][i] for scene, row in _MI_SCENES.items()}
        for i, method in enumerate(("prdpt", "adam"))
    }


MITSUBA = Experiment(
    name="mitsuba",
    title="PRDPT against Mitsuba's AD gradients on the mi- scenes (PRDPT's Table 2)",
    problems=tuple(ProblemSpec(scene, requires="mitsuba") for scene in _MI_SCENES),
    methods=("prdpt", "adam"),
    # no budget in evaluations: the iterations stop the runs
    budgets={"quick": {"default": 10**9}, "full": {"default": 10**9}},
    max_iter={"quick": _mi_iterations(2), "full": _mi_iterations(3)},
    seeds={"quick": 3, "full": 3},
    hyperparams={"prdpt": _MI_PRDPT, "adam": _MI_ADAM},
    # a fixed render seed and no random draws: adam runs once per scene
    deterministic=("adam",),
    command="mitsuba",
    figures=(),
)

PLATEAUS = Experiment(
    name="plateaus",
    title="Plateaus: parameter error from a start where the loss is flat",
    problems=(
        "rect",
        "occlusion",
        "shadow",
        "sort",
        ProblemSpec("mi-shadows", requires="mitsuba"),
        ProblemSpec("mi-occlusion", requires="mitsuba"),
    ),
    methods=("prdpt", "zerograds", "adam", "spsa", "cmaes", "nevergrad"),
    budgets={
        "quick": {"default": 1600, "rect": 4000, "shadow": 3200, "sort": 4000},
        "full": {"default": 3200, "sort": 40_000},
    },
    seeds={"quick": 3, "full": 5},
    hyperparams={
        # PRDPT's settings: 4 pairs and sigma about a third of the distance to travel on
        # the toys; the Mitsuba scenes' own settings (_MI_SCENES) on those
        "prdpt": {
            "rect": {"sigma": 0.05, "n_samples": 4, "lr": 1e-3},
            "occlusion": {"sigma": 0.53, "n_samples": 4, "lr": 0.032},
            "shadow": {"sigma": 0.69, "n_samples": 4, "lr": 0.041},
            "sort": {"sigma": 0.05, "n_samples": 4, "lr": 3e-3},
            "mi-shadows": _MI_PRDPT["mi-shadows"],
            "mi-occlusion": _MI_PRDPT["mi-occlusion"],
        },
        "zerograds": {
            "default": {"sigma": 0.33, "n_samples": 4, "lr": 2e-2, "log_targets": True},
            "rect": {"sigma": 0.1, "n_samples": 4, "lr": 2e-3, "lr_follows_sigma": True},
            "occlusion": {"sigma": 0.53, "n_samples": 4, "lr": 3e-2, "log_targets": True},
            "sort": {"sigma": 0.05, "n_samples": 4, "lr": 3e-3},
        },
        "adam": {
            "default": {"lr": 1e-2},
            "rect": {"lr": 1e-3},
            "mi-shadows": _MI_ADAM["mi-shadows"],
            "mi-occlusion": _MI_ADAM["mi-occlusion"],
        },
        "spsa": {
            "default": {"update": "optimizer", "lr": 2e-2, "c": 0.3},
            "rect": {"update": "optimizer", "lr": 1e-2, "c": 0.2},
            "sort": {"update": "optimizer", "lr": 3e-3, "c": 0.05},
        },
        "nevergrad": {"default": _NEVERGRAD},
    },
    # the Mitsuba scenes take seconds per render and minutes per run on a CPU: at the
    # quick scale the ``mitsuba`` experiment compares prdpt and adam on them alone
    full_only=("mi-shadows", "mi-occlusion"),
    figures=("plateaus", "strips"),
)

SCALING = Experiment(
    name="scaling",
    title="Time per iteration against the dimension (texture, res 16 to 256)",
    problems=tuple(ProblemSpec("texture", {"res": r}) for r in (16, 32, 64, 128, 256)),
    methods=("zerograds", "prdpt", "spsa", "fd", "cmaes", "nevergrad", "adam"),
    budgets={"quick": {"default": 10**9}, "full": {"default": 10**9}},
    max_iter={"quick": 5, "full": 50},
    seeds={"quick": 1, "full": 3},
    hyperparams={
        "zerograds": {"default": {"sigma": 0.025, "n_samples": 4, "k_theta": 1}},
        "prdpt": {"default": {"sigma": 0.025, "n_samples": 4, "lr": 1e-3}},
        "nevergrad": {"default": {"optimizer": "TwoPointsDE", "batch_size": 8}},
        "adam": {"default": {"lr": 1e-2}},
    },
    full_only=("texture[res=128]", "texture[res=256]"),
    # 2D = 24,576 points of 12,288 values per iteration: about 10 s each
    quick_exclude=(("fd", "texture[res=64]"),),
    figures=("scaling",),
)

RASTRIGIN = Experiment(
    name="rastrigin",
    title="10-D Rastrigin: the baselines' home ground",
    problems=("rastrigin",),
    methods=("cmaes", "nevergrad", "spsa", "prdpt", "zerograds"),
    budgets={"quick": {"default": 8000}, "full": {"default": 8000}},
    seeds={"quick": 3, "full": 10},
    hyperparams={
        # c about the ripples' period sees past them (c=0.5 stalls at 85, c=1.0 reaches 0)
        "spsa": {"default": {"update": "optimizer", "lr": 0.1, "c": 1.0}},
        "prdpt": {"default": {"sigma": 1.0, "n_samples": 8, "lr": 5e-2, "sigma_min": 1e-2}},
        "zerograds": {
            "default": {
                "sigma": 1.0,
                "n_samples": 8,
                "lr": 2e-2,
                "sigma_min": 1e-2,
                "log_targets": True,
            }
        },
        "cmaes": {"default": {"sigma0": 2.0}},
        "nevergrad": {"default": _NEVERGRAD},
    },
)


# -- meta-learned initialisation --------------------------------------------------------------
#: The meta-learner's parameters (besides ``epochs``) wherever the meta experiment does
#: not say otherwise.
_META_LEARNER = {
    "algorithm": "fomaml",
    "inner_steps": 10,
    "meta_batch": 5,
    "outer_lr": 1e-3,
    "inner_lr_init": 1e-2,
}
_ADAM_LRS = (1e-3, 3e-3, 1e-2, 3e-2)
_TEXTURE_SPECTRUM = ProblemSpec("texture-family", {"loss": "spectrum"})
#: The texture family's settings at each scale, the same for both losses.
_TEXTURE_SETTINGS = {
    "smoke": {
        "family": {"n_train": 10, "n_test": 2, "res": 16},
        "meta": {**_META_LEARNER, "epochs": 2},
        "adam_lrs": (1e-2,),
        "general_steps": 30,
    },
    "quick": {
        "family": {"n_train": 200, "n_test": 10},
        "meta": {**_META_LEARNER, "epochs": 40},
        "adam_lrs": _ADAM_LRS,
        "general_steps": 2000,
    },
}

META = Experiment(
    name="meta",
    title="Meta-learned initialisation against training from scratch, per family",
    # texture-family twice: with the pixel loss, and with the stationary spectrum loss
    # that compares what texture synthesis compares (Metappearance's textures are fitted
    # with a stationary loss, and the pixel loss has to place every stripe and blob)
    problems=("texture-family", _TEXTURE_SPECTRUM, "brdf-family"),
    # adam: Adam from a random start and from the general model; prdpt: from a random
    # start, against FOMAML whose inner gradient is a prdpt estimate (brdf-family)
    methods=("adam", "prdpt"),
    # no budget in evaluations: Adam's steps and prdpt's iterations stop the runs
    budgets={"smoke": {"default": 10**9}, "quick": {"default": 10**9}},
    max_iter={
        "smoke": {"adam": {"default": 60}, "prdpt": {"brdf-family": 50}},
        "quick": {
            "adam": {"texture-family": 3000, _TEXTURE_SPECTRUM.label: 3000, "brdf-family": 5000},
            "prdpt": {"brdf-family": 1000},
        },
    },
    # one seed (``--seed``) seeds the families, the meta-learner and every run
    seeds={"smoke": 1, "quick": 1},
    # prdpt's estimate, in the black-box inner loop (without lr: the meta-learned rates
    # step there) and from a random start
    hyperparams={"prdpt": {"brdf-family": {"sigma": 0.02, "n_samples": 8, "lr": 1e-3}}},
    # per family: its size (``family``), the meta-learner (``meta``), Adam's grid of
    # learning rates and the general model's training steps; brdf-family's ``blackbox``:
    # the family and the meta-learner of the black-box inner loop (a smaller first inner
    # rate for the estimated gradient) and of the exact FOMAML it is compared with
    settings={
        "smoke": {
            "texture-family": _TEXTURE_SETTINGS["smoke"],
            _TEXTURE_SPECTRUM.label: _TEXTURE_SETTINGS["smoke"],
            "brdf-family": {
                "family": {"n_train": 10, "n_test": 2, "n_samples": 1024},
                "meta": {**_META_LEARNER, "epochs": 2},
                "adam_lrs": (1e-2,),
                "general_steps": 30,
                "blackbox": {
                    "family": {"n_train": 10, "n_test": 2, "n_samples": 1024},
                    "meta": {**_META_LEARNER, "epochs": 1},
                    "inner_lr_init": 1e-4,
                },
            },
        },
        "quick": {
            "texture-family": _TEXTURE_SETTINGS["quick"],
            _TEXTURE_SPECTRUM.label: _TEXTURE_SETTINGS["quick"],
            "brdf-family": {
                "family": {"n_train": 200, "n_test": 10},
                # a lower outer rate: the rates grew to the edge of stability and
                # meta-training blew up at 1e-3
                "meta": {**_META_LEARNER, "epochs": 150, "outer_lr": 5e-4},
                "adam_lrs": _ADAM_LRS,
                "general_steps": 3000,
                "blackbox": {
                    "family": {"n_train": 50, "n_test": 5, "n_samples": 1024},
                    "meta": {**_META_LEARNER, "epochs": 8},
                    "inner_lr_init": 1e-4,
                },
            },
        },
    },
    scales=("smoke", "quick"),
    command="meta",
    figures=(),
)


class PaperResult(NamedTuple):
    """One method's result on one task in a paper's table."""

    #: Image MSE at the final iterate.
    image_mse: float
    #: Parameter MSE to the target at the final iterate.
    param_mse: float
    #: Seconds per iteration.
    s_per_iter: float


_R = PaperResult

#: PRDPT's Table 2 for Mitsuba's AD (``adam``) and PRDPT, keyed by the paper's task, with
#: this benchmark's problems that stand for it (the ``mi-`` scenes and their pure-torch
#: miniatures). Read a value with :func:`prdpt_paper`.
PRDPT_TABLE2: dict[str, dict[str, Any]] = {
    "SHADOWS":   {"problems": ("shadow", "mi-shadows"),
                  "adam": _R(1.64e-3, 5.06, 0.64), "prdpt": _R(1.74e-5, 1.81e-3, 0.04)},
    "OCCLUSION": {"problems": ("occlusion", "mi-occlusion"),
                  "adam": _R(5.85e-2, 52.3, 0.37), "prdpt": _R(2.34e-4, 3.29e-3, 0.09)},
    "SORT":      {"problems": ("sort",),
                  "adam": _R(1.18e-2, 6.64, 2.88), "prdpt": _R(3.81e-3, 0.419, 2.23)},
    "CUP":       {"problems": ("mi-cup",),
                  "adam": _R(5.49e-3, 7.5e-2, 1.12), "prdpt": _R(4.92e-6, 4.18e-7, 0.10)},
    "GI":        {"problems": ("mi-gi",),
                  "adam": _R(3.78e-2, 0.387, 0.44), "prdpt": _R(5.07e-5, 8.71e-4, 0.15)},
    "CAUSTIC":   {"problems": ("mi-caustic",),
                  "adam": _R(0.312, 8.50, 1.02), "prdpt": _R(1.89e-5, 9.76e-5, 0.08)},
}  # fmt: skip


def prdpt_paper(problem: str, method: str) -> PaperResult:
    """PRDPT's Table 2 result of ``method`` on the task that ``problem`` stands for.

    Parameters
    ----------
    problem : str
        A problem of :data:`PRDPT_TABLE2` (e.g. ``"mi-shadows"`` or ``"shadow"``).
    method : {"prdpt", "adam"}
        ``adam`` is the paper's Mitsuba AD baseline.

    Returns
    -------
    PaperResult

    Raises
    ------
    KeyError
        For a problem that stands for no task of the table, or another method.

    Examples
    --------
    >>> prdpt_paper("mi-shadows", "prdpt").param_mse
    0.00181
    """
    for row in PRDPT_TABLE2.values():
        if problem in row["problems"]:
            if method not in ("prdpt", "adam"):
                raise KeyError(f"PRDPT's Table 2 has prdpt and adam; got {method!r}.")
            return row[method]
    raise KeyError(f"No task of PRDPT's Table 2 stands for problem {problem!r}.")


#: Every experiment, by name.
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (TOYS, HIGH_DIM, PLATEAUS, SCALING, RASTRIGIN, MITSUBA, META, FIG7_CAUSTIC, FIG7_MLP)
}


def get_experiment(name: str) -> Experiment:
    """Return the experiment called ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    Experiment

    Raises
    ------
    UnknownExperimentError
        For an unknown name (a ``KeyError``), listing the known ones.
    """
    try:
        return EXPERIMENTS[name]
    except KeyError:
        hint = did_you_mean(name, EXPERIMENTS, n=1)
        raise UnknownExperimentError(
            f"Unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}.{hint}"
        ) from None


#: The experiment files loaded in this process, in order (the runner's workers load
#: them too).
_LOADED: dict[str, list[str]] = {}


def load_experiments(path: str | os.PathLike) -> list[str]:
    """Load a Python file of experiments (and the methods it registers) into the registry.

    The file is imported as a module; every :class:`Experiment` defined at its top level
    joins :data:`EXPERIMENTS`. It may import and register its own methods
    (:func:`blackbox_opt.register_method`) and problems. Loading the same file again
    does nothing.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of str
        The names of the file's experiments.

    Raises
    ------
    ValueError
        For a file without experiments, or an experiment whose name is taken.
    """
    import importlib.util

    path = os.path.abspath(os.fspath(path))
    if path in _LOADED:
        return _LOADED[path]
    if not os.path.isfile(path):
        raise ValueError(f"No experiment file {path!r}.")
    name = "bench_experiments_" + "".join(c if c.isalnum() else "_" for c in path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up
    spec.loader.exec_module(module)
    found = [v for v in vars(module).values() if isinstance(v, Experiment)]
    if not found:
        raise ValueError(f"{path} defines no Experiment at its top level.")
    for experiment in found:
        if experiment.name in EXPERIMENTS and EXPERIMENTS[experiment.name] is not experiment:
            raise ValueError(
                f"{path} defines the experiment {experiment.name!r}, which exists already; "
                "give it another name."
            )
        EXPERIMENTS[experiment.name] = experiment
    _LOADED[path] = [e.name for e in found]
    return _LOADED[path]


def loaded_files() -> list[str]:
    """The experiment files :func:`load_experiments` has loaded in this process.

    Returns
    -------
    list of str
    """
    return list(_LOADED)
