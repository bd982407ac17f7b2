"""Checks run on every registered problem, so later problems get them for free."""

import numpy as np
import pytest
import torch

import problems
from blackbox_opt.exceptions import MissingDependencyError
from blackbox_opt.registry import PROBLEMS
from blackbox_opt.testing import check_problem


def make_or_skip(problem_id):
    """Make a problem, skipping when its optional dependency is not installed."""
    try:
        return problems.make(problem_id)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("problem_id", list(PROBLEMS))
def test_problem_contract(problem_id):
    check_problem(make_or_skip(problem_id))


@pytest.mark.parametrize("problem_id", list(PROBLEMS))
def test_start_is_worse_than_the_optimum_and_to_device_works(problem_id):
    p = make_or_skip(problem_id)
    q = make_or_skip(problem_id).to("cpu")
    assert torch.equal(p(p.x0[None]), q(q.x0[None]))
    if p.x_opt is not None:
        assert float(p(p.x_opt)) < float(p(p.x0))


def test_listing_has_the_toy_problems():
    table = problems.list()
    rows = {r["id"]: r for r in table}
    assert {"rosenbrock", "spline1d", "rect"} <= set(rows)
    assert rows["rect"]["dim"] == 2 and "plateau" in rows["rect"]["tags"]
    assert "rosenbrock" in str(table)


def test_listing_says_what_each_class_declares_without_building_it():
    rows = {r["id"]: r for r in problems.list()}
    # Mitsuba differentiates its scenes: adam runs on them with its gradients
    assert all(rows[i]["differentiable"] for i in rows if i.startswith("mi-"))
    assert rows["sort"]["differentiable"] is False and rows["sphere"]["differentiable"]
    assert all(isinstance(r["version"], int) and r["version"] >= 1 for r in rows.values())


def test_the_registry_id_is_the_instance_s_and_the_class_keeps_its_own():
    problems.register("sphere-7d", "problems.functions:Sphere", kwargs={"dim": 7})
    try:
        p = problems.make("sphere-7d")
        assert p.id == "sphere-7d" and p.name == "sphere-7d"
        assert type(p).id == "sphere" and problems.make("sphere").id == "sphere"
    finally:
        PROBLEMS.unregister("sphere-7d")


def test_make_overrides_and_errors():
    assert problems.make("rosenbrock", dim=7).dim == 7
    with pytest.raises(KeyError, match="Did you mean 'rosenbrock'"):
        problems.make("rosenbrok")
    with pytest.raises(KeyError, match="Unknown option 'dimm'.*Did you mean 'dim'"):
        problems.make("rosenbrock", dimm=3)


def test_register_variant_with_default_kwargs():
    problems.register("rosenbrock-5d", "problems.toy:Rosenbrock", kwargs={"dim": 5})
    try:
        assert problems.make("rosenbrock-5d").dim == 5
        assert problems.make("rosenbrock-5d").name == "rosenbrock-5d"
        with pytest.raises(ValueError, match="already registered"):
            problems.register("rosenbrock-5d", "problems.toy:Rosenbrock")
    finally:
        PROBLEMS.unregister("rosenbrock-5d")


def test_rosenbrock_values():
    p = problems.make("rosenbrock", dim=3)
    x = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    a, b = x[0, :-1], x[0, 1:]
    expected = (100 * (b - a**2) ** 2 + (1 - a) ** 2).sum()
    assert torch.allclose(p(x)[0], expected)
    assert float(p(torch.ones(3, dtype=torch.float64))) == 0.0


def test_spline1d_matches_scipy_akima():
    from scipy.interpolate import Akima1DInterpolator

    from problems.toy import SPLINE_X, SPLINE_Y

    p = problems.make("spline1d")
    t = np.linspace(-2, 8, 2001)
    ours = p.spline(torch.tensor(t, dtype=torch.float64)).numpy()
    reference = Akima1DInterpolator(np.array(SPLINE_X), np.array(SPLINE_Y))(t)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)
    assert float(p(torch.tensor([4.0], dtype=torch.float64))) == 0.0
    # the loss at the start is high and 4 is the global minimum on the domain
    losses = p(torch.tensor(t, dtype=torch.float64)[:, None])
    assert abs(t[int(losses.argmin())] - 4.0) < 1e-9
    assert float(p(p.x0)) > 1.0


def test_rect_is_flat_around_the_start_and_zero_at_the_target():
    p = problems.make("rect")
    assert float(p(p.x_opt)) == 0.0
    # moving the rectangle near the start leaves the loss flat up to aliasing (1e-4
    # relative), while sliding it onto the target removes it
    ys = torch.linspace(0.6, 0.72, 25)
    X = torch.stack([torch.full_like(ys, 0.5), ys], 1)
    losses = p(X)
    assert float((losses.max() - losses.min()) / losses.mean()) < 1e-3
    image = p.render(p.x0)
    assert image.shape == (256, 256, 1)
    assert float(image.max()) == 1.0 and float(image.min()) == 0.0
    # no overlap with the target: the loss is the sum of both rectangles' energies
    target = p.render(p.x_opt)
    assert float((image * target).sum()) == 0.0


def test_rect_chunked_evaluation_equals_one_batch():
    p = problems.make("rect", res=128)
    X = torch.rand(9, 2, generator=torch.Generator().manual_seed(0))
    whole = problems.make("rect", res=128, chunk_bytes=2**40)(X)
    chunked = problems.make("rect", res=128, chunk_bytes=3 * 128 * 128 * 4 * 2)(X)
    assert torch.allclose(whole, chunked, rtol=0, atol=0)
    assert torch.allclose(p(X), whole)


@pytest.mark.parametrize("res", [256, 64, 17, 5])
def test_rect_windowed_loss_equals_the_full_image_mse(res):
    p = problems.make("rect", res=res)
    g = torch.Generator().manual_seed(res)
    X = (torch.rand(500, 2, generator=g) * 1.4 - 0.2).clamp(0, 1)  # edges and corners too
    X = torch.cat([X, p.x_opt[None], p.x0[None], torch.tensor([[0.5, 0.34]])])
    full = ((p.render(X)[..., 0] - p.target) ** 2).mean((1, 2))
    assert torch.allclose(p(X), full, rtol=1e-6, atol=1e-8)
    assert float(p(p.x_opt)) == 0.0
