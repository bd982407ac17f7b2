"""One batched evaluation (B = 20) of every registered problem, against 20 single calls."""

import torch

import blackbox_opt


def _ids():
    return [row["id"] for row in blackbox_opt.list_problems() if not row.get("requires")]


class TimeEvaluation:
    """Batched against single-point evaluation at the problems' default sizes."""

    params = (_ids(), ["batched", "loop"])
    param_names = ("problem", "mode")

    def setup(self, problem_id, mode):
        torch.set_num_threads(1)
        self.problem = blackbox_opt.make_problem(problem_id)
        g = torch.Generator().manual_seed(0)
        noise = torch.randn(20, self.problem.dim, generator=g, dtype=self.problem.dtype)
        X = self.problem.x0 + 0.01 * noise
        if self.problem.bounds is not None:
            X = torch.maximum(torch.minimum(X, self.problem.bounds[1]), self.problem.bounds[0])
        self.X = X

    def time_evaluate(self, problem_id, mode):
        with torch.no_grad():
            if mode == "batched":
                self.problem.evaluate(self.X)
            else:
                for x in self.X:
                    self.problem.evaluate(x[None])
