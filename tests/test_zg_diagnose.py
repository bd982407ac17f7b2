"""bench.zg_diagnose: the diagnostic leaves the run and its budget alone."""

import math

import torch

from bench.zg_diagnose import diagnose, format_table, main, reference_gradient
from blackbox_opt.optimizers.zerograds import ZeroGrads
from blackbox_opt.testing import quadratic_problem


def _zerograds():
    return ZeroGrads(sigma=0.2, n_samples=4, width=16, depth=2, random_state=0, verbose=False)


def test_records_every_n_iterations_and_the_run_is_unchanged():
    problem = quadratic_problem(3)
    records = diagnose(_zerograds(), problem, budget=200, every=10, n_ref=50, n_fit=32)
    assert [r["nit"] for r in records] == [1, 10, 20, 25]
    assert records[-1]["nfev"] == 200
    for r in records[1:]:
        for key in ("loss", "sigma", "r2", "corr", "cos_ref", "cos_ref_noise", "step"):
            assert math.isfinite(r[key])
    plain = _zerograds().fit(quadratic_problem(3), budget=200)
    again = _zerograds()
    diagnose(again, quadratic_problem(3), budget=200, every=5, n_ref=20, n_fit=8)
    assert torch.equal(plain.x_, again.x_) and again.nfev_ == plain.nfev_ == 200
    assert "cos_ref" in format_table(records).splitlines()[0]


def test_the_reference_gradient_points_uphill_on_a_quadratic():
    problem = quadratic_problem(3)
    theta = torch.ones(3, dtype=problem.dtype)
    g1, g2, _ = reference_gradient(
        problem, theta, 0.1, 2000, generator=torch.Generator().manual_seed(0)
    )
    exact = problem(theta[None] + 1e-3 * torch.eye(3)) - problem(theta[None] - 1e-3 * torch.eye(3))
    for g in (g1, g2):
        assert float(torch.nn.functional.cosine_similarity(g, exact.double(), 0)) > 0.9


def test_main_runs_a_small_problem(tmp_path, capsys):
    out = tmp_path / "zg.json"
    args = ["--problem", "sphere", "--budget", "80", "--every", "5", "--n-ref", "10"]
    assert main([*args, "--n-fit", "8", "--set", "n_samples=2", "--out", str(out)]) == 0
    assert out.exists() and "cos_ref" in capsys.readouterr().out


def test_stop_at_ends_the_run_early_on_the_long_runs_schedule():
    problem = quadratic_problem(3)
    records = diagnose(_zerograds(), problem, budget=400, every=10, n_ref=0, n_fit=16, stop_at=100)
    # batches of 8: the 12 iterations within 100 evaluations (the diagnostic's own are free)
    assert records[-1]["nfev"] == 96
    # the sigma schedule is the 400-evaluation run's, not a 100-evaluation one's
    whole = diagnose(_zerograds(), quadratic_problem(3), budget=400, every=1, n_ref=0, n_fit=0)
    assert records[-1]["sigma"] == next(r["sigma"] for r in whole if r["nfev"] == 96)
    short = diagnose(_zerograds(), quadratic_problem(3), budget=100, every=1, n_ref=0, n_fit=0)
    assert short[-1]["sigma"] < records[-1]["sigma"]


def test_surrogate_health_counts_live_units_and_weight_sizes():
    problem = quadratic_problem(3)
    records = diagnose(_zerograds(), problem, budget=40, every=1, n_ref=0, n_fit=16)
    row = records[-1]
    assert len(row["weight_norms"]) == 3 and len(row["active"]) == 2  # 2 hidden layers
    assert all(0.0 <= a <= 1.0 for a in row["active"]) and row["active_min"] == min(row["active"])
    assert math.isclose(row["w_rest"], math.hypot(*row["weight_norms"][1:]))
    assert row["grad_norm"] > 0
