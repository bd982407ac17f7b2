"""Per-iteration time of every method, and ZeroGrads' peak memory at large D."""

import torch

import blackbox_opt
from blackbox_opt import FunctionProblem, InsufficientMemoryError, MissingDependencyError

#: Methods timed per iteration, with the settings of the papers' high-dimensional tasks
#: where they matter (ZeroGrads: the MLP-digit task's surrogate and steps).
SETTINGS = {
    "zerograds": {"sigma": 0.025, "n_samples": 10, "k_phi": 10, "k_theta": 4, "n_freq": 3},
    "prdpt": {"sigma": 0.025, "n_samples": 4},
    "spsa": {"update": "optimizer", "c": 0.025},
    "fd": {"h": 1e-3},
    "cmaes": {},
    "nevergrad": {"optimizer": "TwoPointsDE", "batch_size": 8},
    "random": {},
    "adam": {},
}


def _quadratic(dim: int) -> FunctionProblem:
    x0 = torch.full((dim,), 0.5)
    return FunctionProblem(lambda X: (X * X).sum(1), x0, bounds=(-1.0, 1.0), vectorized=True)


class TimeIteration:
    """One ask -> evaluate -> tell round on a cheap quadratic (the method's own cost)."""

    params = (list(SETTINGS), [10, 1024, 35_152])
    param_names = ("method", "dim")
    timeout = 300

    def setup(self, method, dim):
        if method == "fd" and dim > 1024:
            raise NotImplementedError("2 D points per iteration: 70,304 x 35,152 floats")
        torch.set_num_threads(1)
        self.problem = _quadratic(dim)
        try:
            self.optimizer = blackbox_opt.get_method(
                method, budget=10**9, random_state=0, **SETTINGS[method]
            )
            self.optimizer.start(self.problem)
            for _ in range(2):  # first-call allocations out of the timing
                self.step()
        except (MissingDependencyError, InsufficientMemoryError) as exc:
            raise NotImplementedError(str(exc)) from exc

    def step(self):
        X = self.optimizer.ask()
        if self.optimizer.needs_gradient:
            self.optimizer.tell(X, *self.problem.value_and_grad(X))
            return
        with torch.no_grad():
            y = self.problem.evaluate(X)
        self.optimizer.tell(X, y)

    def time_iteration(self, method, dim):
        self.step()


class PeakMemZeroGrads:
    """Peak memory of ZeroGrads' surrogate at large D (encoding off and on)."""

    params = ([35_152, 196_608], [0, 3])
    param_names = ("dim", "n_freq")
    timeout = 600

    def setup(self, dim, n_freq):
        torch.set_num_threads(1)
        self.problem = _quadratic(dim)

    def peakmem_three_iterations(self, dim, n_freq):
        blackbox_opt.minimize(
            self.problem,
            "zerograds",
            max_iter=3,
            n_freq=n_freq,
            sigma=0.025,
            n_samples=4,
            k_theta=1,
            random_state=0,
            verbose=False,
        )
