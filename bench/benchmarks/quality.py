"""Final loss of every method on a quick budget, tracked across commits."""

import sys
import warnings
from pathlib import Path

import torch

import blackbox_opt

# the experiments' hyperparameters live in bench/experiments.py at the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.experiments import get_experiment

_TOYS = get_experiment("toys")
_PLATEAUS = get_experiment("plateaus")
#: problem -> (the experiment whose hyperparameters apply, budget in evaluations)
_CASES = {
    "rosenbrock": (_TOYS, 2000),
    "rect": (_TOYS, 800),
    "occlusion": (_PLATEAUS, 800),
    "shadow": (_PLATEAUS, 800),
}


class TrackFinalLoss:
    """Best loss after a fixed budget, seed 0 (lower is better)."""

    params = (list(_TOYS.methods), list(_CASES))
    param_names = ("method", "problem")
    unit = "loss"
    timeout = 300

    def setup(self, method, problem):
        torch.set_num_threads(1)

    def track_final_loss(self, method, problem):
        experiment, budget = _CASES[problem]
        params = experiment.params(method, problem)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = blackbox_opt.minimize(
                    problem, method, budget=budget, random_state=0, verbose=False, **params
                )
        except (
            blackbox_opt.NotDifferentiableError,
            blackbox_opt.UnsupportedProblemError,
            blackbox_opt.MissingDependencyError,
        ):
            return float("nan")
        return float(result.fun)
