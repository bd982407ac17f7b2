"""blackbox_opt.plot: convergence, images and paths drawn from real runs."""

import sys

import numpy as np
import pytest
import torch

import blackbox_opt
import problems
from blackbox_opt import plot
from blackbox_opt.compare import median_curve
from blackbox_opt.exceptions import InvalidParameterError, MissingDependencyError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _run(method, seed=0, budget=200, **options):
    return blackbox_opt.minimize(
        "rosenbrock", method=method, budget=budget, random_state=seed, verbose=False, **options
    )


def test_convergence_draws_the_best_loss_against_evaluations():
    spsa, rnd = _run("spsa"), _run("random")
    ax = plot.convergence([spsa, rnd])
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["spsa", "random"]
    assert np.array_equal(lines[0].get_xdata(), spsa.history["nfev"])
    assert np.array_equal(lines[0].get_ydata(), spsa.history["best"])
    assert ax.get_xlabel() == "evaluations" and ax.get_yscale() == "log"
    ax = plot.convergence(spsa, x="nit", y="param_error", log=False)
    assert np.array_equal(ax.get_lines()[0].get_xdata(), spsa.history["nit"])
    assert ax.get_ylabel() == "param_error" and ax.get_yscale() == "linear"


def test_convergence_of_several_seeds_is_their_median_with_the_range():
    runs = [_run("spsa", seed=s) for s in range(3)]
    ax = plot.convergence({"SPSA": runs}, n_points=11)
    (line,) = ax.get_lines()
    assert line.get_label() == "SPSA (median of 3)"
    grid = line.get_xdata()
    assert grid[0] == 0 and grid[-1] == max(r.nfev for r in runs)
    expected = median_curve([(r.history["nfev"], r.history["best"]) for r in runs], grid)
    assert np.allclose(line.get_ydata(), expected)
    assert len(ax.collections) == 1  # the band


def test_convergence_refuses_what_is_not_a_result():
    with pytest.raises(InvalidParameterError, match="results must be an OptimizeResult"):
        plot.convergence([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="x must be one of"):
        plot.convergence(_run("spsa"), x="evals")
    with pytest.raises(KeyError, match="Unknown history column 'bset'"):
        plot.convergence(_run("spsa"), y="bset")


def test_images_show_start_results_and_target_with_their_losses():
    p = problems.make("rect", res=32)
    res = blackbox_opt.minimize(p, method="random", budget=60, random_state=0, verbose=False)
    fig = plot.images(p, {"random search": res, "truth again": p.x_opt})
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["start", "random search", "truth again", "target"]
    shown = fig.axes[1].get_images()[0].get_array()
    assert np.allclose(shown, p.render(res.x)[..., 0].numpy())
    assert fig.axes[0].get_xlabel() == f"loss {float(p(p.x0)):.4g}"
    assert fig.axes[2].get_xlabel() == "loss 0" and fig.axes[3].get_xlabel() == "loss 0"


def test_images_take_an_explicit_target_image_and_a_start():
    p = problems.make("rect", res=16)
    target = np.ones((16, 16))
    fig = plot.images(p, x0=[0.2, 0.2], target=target, losses=False)
    assert [a.get_title() for a in fig.axes] == ["start", "target"]
    assert np.array_equal(fig.axes[1].get_images()[0].get_array(), target)
    assert np.allclose(fig.axes[0].get_images()[0].get_array(), p.render([0.2, 0.2])[..., 0])


def test_images_need_a_problem_that_renders_and_points_of_its_size():
    with pytest.raises(InvalidParameterError, match="'rosenbrock' does not render images"):
        plot.images(blackbox_opt.make_problem("rosenbrock"))
    p = problems.make("rect", res=16)
    with pytest.raises(InvalidParameterError, match=r"results must be a point of shape \(2,\)"):
        plot.images(p, np.zeros(3))
    with pytest.raises(InvalidParameterError, match="one axes per panel"):
        _, axes = plt.subplots(1, 2)
        plot.images(p, np.zeros(2), axes=axes)


def test_path_draws_the_recorded_iterates_over_the_contours():
    res = _run("spsa", record_x=True)
    p = blackbox_opt.make_problem("rosenbrock")
    ax = plot.path(res, problem=p)
    line = ax.get_lines()[0]
    assert np.array_equal(line.get_xdata(), res.history.x[:, 0])
    assert np.array_equal(line.get_ydata(), res.history.x[:, 1])
    assert len(ax.collections) > 0  # the contours
    with pytest.raises(KeyError, match="record_x=True"):
        plot.path(_run("spsa"))
    with pytest.raises(InvalidParameterError, match="dims must be two different"):
        plot.path(res, dims=(0, 0))


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # import raises
    with pytest.raises(MissingDependencyError, match=r"blackbox-opt\[plot\]"):
        plot.convergence(_run("spsa", budget=20))


def test_images_of_an_rgb_problem_without_known_optimum_use_its_target():
    class Grey(blackbox_opt.Problem):
        """A flat RGB image of grey level x; the target image is given, not its x."""

        image_shape = (4, 5, 3)

        def __init__(self):
            super().__init__([0.2], (0.0, 1.0))
            self.register_buffer("target", torch.full((4, 5, 3), 0.7))

        def _render(self, X):
            return X[:, None, None, :].expand(-1, 4, 5, 3)

        def _evaluate(self, X):
            return ((self._render(X) - self.target) ** 2).mean((1, 2, 3))

    fig = plot.images(Grey(), [0.7])
    assert [a.get_title() for a in fig.axes] == ["start", "result", "target"]
    assert np.allclose(fig.axes[2].get_images()[0].get_array(), 0.7)
    assert fig.axes[1].get_xlabel() == "loss 0"
    assert fig.axes[2].get_xlabel() == ""  # no point is known for the target


def test_path_of_an_unbounded_problem_spans_the_path_and_the_optimum():
    p = blackbox_opt.FunctionProblem(
        lambda X: ((X - 3.0) ** 2).sum(-1), torch.zeros(2), vectorized=True, x_opt=[3.0, 3.0]
    )
    res = blackbox_opt.minimize(
        p, method="spsa", budget=100, random_state=0, verbose=False, record_x=True
    )
    ax = plot.path(res, problem=p)
    assert len(ax.collections) > 0
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    assert x_lo < 0.0 and x_hi > 3.0 and y_lo < 0.0 and y_hi > 3.0
