"""The ray-cast scenes: plateaus at the start, zero loss at the target, PRDPT leaves them."""

import pytest
import torch

import blackbox_opt
from blackbox_opt.exceptions import NotDifferentiableError
from blackbox_opt.testing import check_problem
from problems.scenes import Occlusion, Shadow, pinhole_rays

SCENES = [Occlusion, Shadow]


@pytest.mark.parametrize("cls", SCENES)
def test_contract(cls):
    check_problem(cls())
    check_problem(cls(res=16))
    check_problem(cls(res=16, dtype=torch.float64))


@pytest.mark.parametrize("cls", SCENES)
def test_loss_is_the_image_mse_and_chunking_changes_nothing(cls):
    p = cls(res=32)
    g = torch.Generator().manual_seed(0)
    lo, hi = p.bounds
    X = lo + (hi - lo) * torch.rand(30, p.dim, generator=g)
    images = p.render(X)
    assert images.shape == (30, 32, 32, 3)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    mse = (images - p.render(p.x_opt)).square().mean((1, 2, 3))
    assert torch.allclose(p(X), mse, rtol=1e-5, atol=1e-8)
    chunked = cls(res=32, chunk_bytes=3 * p.bytes_per_point)
    assert chunked.chunk_size(30) == 3
    assert torch.equal(chunked(X), p(X))


def _first_hit(origin, dirs, centre, radius):
    """Brute-force ray-sphere distance in float64: ``(B, P)``, inf on a miss or behind."""
    oc = origin - centre[:, None, :]  # (B, 1 or P, 3)
    b = (oc * dirs).sum(-1)
    disc = b * b - (oc * oc).sum(-1) + radius**2
    t = -b - disc.clamp_min(0).sqrt()
    return torch.where((disc > 0) & (t > 0), t, torch.inf)


def test_visibility_matches_a_brute_force_ray_cast():
    g = torch.Generator().manual_seed(1)
    # occlusion: the moving sphere is visible where it is hit before the occluder
    p = Occlusion(res=48)
    d = 1.5 + 6.5 * torch.rand(300, 1, generator=g)
    dirs = p.dirs.double()
    zero = torch.zeros(3, dtype=torch.float64)
    ox, oy = p.offset
    centres = torch.cat([torch.full_like(d, ox), torch.full_like(d, oy), -d], 1).double()
    t_sphere = _first_hit(zero, dirs, centres, p.radius)
    t_occluder = _first_hit(zero, dirs, torch.tensor([[0.0, 0.0, -4.0]]).double(), 1.0)
    expected = torch.where(t_sphere < t_occluder, 2, (t_occluder < torch.inf).long())
    mismatch = (p._labels(d) != expected).float().mean()
    assert 0 <= mismatch < 1e-4  # boundary pixels may round differently in float32
    assert (expected == 2).float().mean() > 0.01  # the sphere is visible at some d
    # shadow: shadow rays from the ground to the light, primary rays from the camera
    p = Shadow(res=48)
    lo, hi = p.bounds
    X = lo + (hi - lo) * torch.rand(300, 2, generator=g)
    centres = torch.cat([X, torch.full_like(X[:, :1], p.sphere_z)], 1).double()
    ground = torch.cat([p.ground, torch.zeros_like(p.ground[:, :1])], 1).double()
    light = torch.tensor(p.light, dtype=torch.float64)
    oc = ground[None] - centres[:, None, :]  # shadow rays start on the plane
    b = (oc * light).sum(-1)
    shadowed = (b < 0) & (b * b > (oc * oc).sum(-1) - p.radius**2)
    camera = torch.tensor([0.0, 0.0, p.height], dtype=torch.float64)
    seen = _first_hit(camera, p.dirs.double(), centres, p.radius) < torch.inf
    expected = torch.where(seen, 2, shadowed.long())
    mismatch = (p._labels(X) != expected).float().mean()
    assert 0 <= mismatch < 1e-4
    assert shadowed.float().mean() > 0.01 and seen.float().mean() > 0.01


def test_occlusion_plateau_and_minimum():
    p = Occlusion()
    f0 = float(p(p.x0))
    assert f0 > 0.02
    # exactly flat around the start: the red sphere stays hidden behind the grey one
    around = p(torch.linspace(4.0, 6.0, 41)[:, None])
    assert bool((around == f0).all())
    assert float(p(p.x_opt)) == 0.0
    # from the plateau's edge (d ~ 3.64) the loss falls to 0 at d = 3.4, then rises
    towards = p(torch.linspace(3.64, 3.4, 13)[:, None])
    assert bool((towards.diff() < 0).all()) and float(towards[-1]) == 0.0
    beyond = p(torch.tensor([[3.3], [3.0], [2.5], [2.0]]))
    assert bool((beyond.diff() > 0).all()) and float(beyond[0]) > 0.0
    # the sphere is invisible at the start and partly visible (a cap) at the target
    red = torch.tensor([0.9, 0.25, 0.15])
    grey = torch.tensor([0.6, 0.6, 0.6])

    def count(image, colour):
        return int((image - colour).abs().amax(-1).lt(1e-6).sum())

    start, target = p.render(p.x0), p.render(p.x_opt)
    assert count(start, red) == 0 and count(start, grey) > 1000
    assert 100 < count(target, red) < count(start, grey)
    assert count(target, grey) > 300


def test_shadow_plateau_and_minimum():
    p = Shadow()
    f0 = float(p(p.x0))
    assert f0 > 0.01
    # exactly flat around the start: the shadow falls outside the image
    offsets = torch.linspace(-0.4, 0.4, 9)
    grid = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)
    assert bool((p(p.x0 + grid) == f0).all())
    assert float(p(p.x_opt)) == 0.0
    # along the segment start -> target the loss stays flat, then falls strictly to 0
    t = torch.linspace(0.0, 1.0, 41)[:, None]
    losses = p(p.x0 + t * (p.x_opt - p.x0))
    assert bool((losses[:18] == f0).all())
    assert bool((losses[18:].diff() < 0).all()) and float(losses[-1]) == 0.0
    # the sphere itself is off-screen at both ends: only its shadow shows, darkening
    # the plane to the ambient 0.3 of its lit value 0.3 + 0.7 / sqrt(2)
    labels = p._labels(torch.stack([p.x0, p.x_opt]))
    assert int((labels == 2).sum()) == 0
    assert int((labels[0] == 1).sum()) == 0 and int((labels[1] == 1).sum()) > 200
    start, target = p.render(p.x0), p.render(p.x_opt)
    ratio = target.sum(-1) / start.sum(-1)
    shadow = ratio < 0.9
    assert torch.allclose(ratio[shadow], torch.tensor(0.3 / (0.3 + 0.7 * 0.5**0.5)))
    # moved into view, the sphere is drawn
    assert int((p._labels(torch.tensor([[-1.0, 0.0]])) == 2).sum()) > 100


@pytest.mark.parametrize("cls", SCENES)
def test_not_differentiable_is_honest(cls):
    p = cls(res=32)
    assert not cls.differentiable and {"plateau", "image"} <= set(cls.tags)
    X = p.x0[None].clone().requires_grad_(True)
    y = p(X)
    # hard hit tests: the loss has no autograd path to the parameters at all ...
    assert not y.requires_grad
    with pytest.raises(NotDifferentiableError):
        p.value_and_grad(p.x0[None])
    # ... and the true gradient at the start is zero: central differences vanish exactly
    h = 1e-2 * torch.eye(p.dim)
    assert torch.equal(p(p.x0 + h), p(p.x0 - h))


@pytest.mark.parametrize("cls", SCENES)
def test_prdpt_leaves_the_plateau(cls):
    # sigma a third of the start-target distance, steps 2% of it; the gradient is zero
    p = cls()
    distance = float((p.x0 - p.x_opt).norm())
    res = blackbox_opt.minimize(
        p,
        method="prdpt",
        sigma=distance / 3,
        n_samples=4,
        lr=0.02 * distance,
        max_iter=400,
        random_state=0,
        verbose=False,
    )
    assert float((res.x_last - p.x_opt).norm()) < 0.05 * distance
    assert res.fun < 0.1 * float(p(p.x0))


def test_pinhole_rays_look_down_minus_z():
    d = pinhole_rays(5, 90.0)
    assert torch.allclose(d[12], torch.tensor([0.0, 0.0, -1.0]))
    # the top-left pixel looks up and to the left
    assert float(d[0, 0]) < 0 and float(d[0, 1]) > 0
