"""The SORT task (hard-edged primitives sorted by hue) and the LED display."""

import pytest
import torch

import blackbox_opt
from blackbox_opt.exceptions import NotDifferentiableError
from blackbox_opt.testing import check_problem
from problems.led import FONT_5X7, LEDDisplay, text_bitmap
from problems.sort import Sort, hue_to_rgb


def _finite_difference_is_zero(problem, x, h):
    """Central differences of every coordinate at ``x`` vanish (a plateau)."""
    steps = h * torch.eye(problem.dim, dtype=problem.dtype)
    with torch.no_grad():
        return bool(torch.equal(problem(x + steps), problem(x - steps)))


# -- sort ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n": 9, "res": 24},
        {"n": 12, "res": 32, "primitive": "disc"},
        {"n": 16, "res": 32, "start": "permutation"},
    ],
)
def test_sort_contract(kwargs):
    check_problem(Sort(**kwargs))


def test_sort_target_is_zero_and_start_is_high():
    p = Sort()
    assert p.dim == 150 and p.image_shape == (64, 64, 3)
    assert float(p(p.x_opt)) == 0.0 and p.f_opt == 0.0
    assert float(p(p.x0)) > 0.25
    # the start as a scrambled grid: the same cells, in another order
    q = Sort(start="permutation")
    assert sorted(q.x0.view(-1, 2).tolist()) == sorted(q.x_opt.view(-1, 2).tolist())
    assert float(q(q.x0)) > 0.2


def test_sort_target_is_sorted_by_hue_along_a_serpentine():
    p = Sort(n=9, res=30)  # a 3 x 3 grid
    image = p.render(p.x_opt)
    centres = [(5, 5), (5, 15), (5, 25), (15, 25), (15, 15), (15, 5), (25, 5)]
    colours = torch.stack([image[r, c] for r, c in centres])
    hues = torch.arange(7, dtype=torch.float32) / 9
    assert torch.allclose(colours, hue_to_rgb(hues), atol=1e-6)


def test_sort_moving_a_primitive_by_less_than_a_pixel_is_flat():
    p = Sort()
    pixel = 1.0 / p.res
    X = p.x_opt.repeat(5, 1)
    # edges lie between pixel centres at the target: 0.4 pixel moves change nothing
    X[0, 0] += 0.4 * pixel
    X[1, 1] -= 0.4 * pixel
    X[2, 20:22] += 0.4 * pixel
    X[3, 0] += 1.0 * pixel  # a whole pixel uncovers a column of the square
    X[4, 0] += 0.3  # far off its cell
    losses = p(X)
    assert losses[:3].tolist() == [0.0, 0.0, 0.0]
    assert 0.0 < float(losses[3]) < float(losses[4])
    # around the start too: plateaus everywhere, so the differences are exactly zero
    assert _finite_difference_is_zero(p, p.x0, 1e-3 * pixel)


def test_sort_painters_order_and_chunking():
    p = Sort(n=9, res=24)
    x = torch.full((9, 2), 0.5)
    x[-1] = 0.1  # the last primitive elsewhere: the one before it is on top at the centre
    image = p.render(x.view(-1))
    assert torch.equal(image[12, 12], p.palette[8]) and torch.equal(image[2, 2], p.palette[9])
    X = torch.rand(13, p.dim, generator=torch.Generator().manual_seed(1))
    whole = Sort(n=9, res=24, chunk_bytes=2**40)(X)
    chunked = Sort(n=9, res=24, chunk_bytes=3 * p.bytes_per_point)(X)
    assert torch.equal(whole, chunked)


def test_sort_is_not_differentiable():
    p = Sort()
    X = p.x0[None].clone().requires_grad_(True)
    assert not p(X).requires_grad  # the coverage is a comparison: autograd has no path
    with pytest.raises(NotDifferentiableError):
        p.value_and_grad(p.x0[None])
    with pytest.raises(ValueError, match="primitive"):
        Sort(primitive="triangle")


def test_sort_spsa_makes_progress():
    p = Sort()
    start = float(p(p.x0))
    res = blackbox_opt.minimize(p, method="spsa", budget=2000, random_state=0, verbose=False)
    # observed: 0.319 -> 0.216 (0.68 of the start)
    assert res.fun < 0.8 * start


# -- led-display ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"text": "1", "rows": 7, "cols": 5, "cell": 3}])
def test_led_contract(kwargs):
    check_problem(LEDDisplay(**kwargs))


def test_led_text_bitmap():
    grid = text_bitmap("ZG24")
    assert grid.shape == (12, 28) and int(grid.sum()) == 61
    assert int(text_bitmap("8", 7, 5).sum()) == sum(bin(r).count("1") for r in FONT_5X7["8"])
    # "Z" starts with a full top row, at row 2 and columns 2..6 of the centred text
    assert grid[2, 2:7].all() and not grid[2, 7] and not grid[1].any()
    with pytest.raises(ValueError, match="glyph"):
        text_bitmap("a?")
    with pytest.raises(ValueError, match="at least"):
        text_bitmap("12345")


def test_led_threshold_steps_and_optimal_set():
    p = LEDDisplay()
    assert p.dim == 336 and p.image_shape == (48, 112, 3)
    assert float(p(p.x_opt)) == 0.0 and float(p(p.x0)) > 0.04
    assert bool((p.x0 < 0.5).all())  # the start has every LED off
    on = int(p.x_opt.argmax())  # an LED lit in the target
    off = int((p.x_opt == 0).nonzero()[0, 0])
    X = p.x0.repeat(4, 1)
    X[0, on], X[1, on], X[2, on] = 0.01, 0.49, 0.51
    X[3] = 0.25 + 0.5 * p.x_opt  # same on/off pattern as x_opt
    losses = p(X)
    assert float(losses[0]) == float(losses[1])
    assert abs(float(losses[0]) - float(p(p.x0))) < 1e-6 * float(losses[0])  # rounding only
    assert float(losses[2]) < float(losses[1]) - 1e-4  # switching it on helps
    assert float(losses[3]) == 0.0
    Y = p.x_opt.repeat(2, 1)
    Y[0, off], Y[1, off] = 0.49, 0.51
    assert p(Y).tolist()[0] == 0.0 and p(Y).tolist()[1] > 1e-5


def test_led_render_is_warm_and_peaks_at_one():
    p = LEDDisplay()
    image = p.render(p.x_opt)
    assert image.shape == (48, 112, 3) and float(image.min()) < 1e-6
    assert torch.allclose(image.amax((0, 1)), torch.tensor(LEDDisplay.COLOUR), atol=1e-6)
    # a lone lit LED peaks at 1 (times the colour)
    lone = torch.zeros(p.dim)
    lone[5 * 28 + 10] = 1.0
    assert abs(float(p.render(lone)[..., 0].max()) - 1.0) < 1e-6
    # the loss is the MSE of the rendered RGB images
    X = torch.rand(3, p.dim, generator=torch.Generator().manual_seed(2))
    mse = ((p.render(X) - image) ** 2).mean((1, 2, 3))
    assert torch.allclose(p(X), mse, rtol=1e-5)


def test_led_is_not_differentiable():
    p = LEDDisplay()
    X = p.x0[None].clone().requires_grad_(True)
    assert not p(X).requires_grad  # the threshold is a comparison: no gradient path
    h = 0.5 * float((p.x0 - 0.5).abs().min())  # no LED crosses 0.5
    assert _finite_difference_is_zero(p, p.x0, h)
    with pytest.raises(NotDifferentiableError):
        p.value_and_grad(p.x0[None])


def test_led_spsa_makes_progress():
    p = LEDDisplay()
    start = float(p(p.x0))
    res = blackbox_opt.minimize(p, method="spsa", budget=2000, random_state=0, verbose=False)
    # observed: 0.0541 -> 0.0361 (0.67 of the start)
    assert res.fun < 0.8 * start


@pytest.mark.parametrize("primitive", ["square", "disc"])
def test_sort_windowed_painter_equals_a_full_image_test(primitive):
    p = Sort(n=20, res=40, primitive=primitive)
    g = torch.Generator().manual_seed(3)
    X = torch.rand(50, p.dim, generator=g) * 1.2 - 0.1  # some primitives leave the image
    centres = X.reshape(50, p.n, 1, 1, 2)
    gy, gx = torch.meshgrid(p.grid, p.grid, indexing="ij")
    dx, dy = gx - centres[..., 0], gy - centres[..., 1]  # (B, n, H, W)
    if primitive == "square":
        covered = (dx.abs() < p.half_size) & (dy.abs() < p.half_size)
    else:
        covered = dx.square() + dy.square() < p.half_size**2
    expected = torch.zeros(50, 40, 40, dtype=torch.long)
    for i in range(p.n):  # painter's order: later primitives cover earlier ones
        expected[covered[:, i]] = i + 1
    assert torch.equal(p._index(X).long(), expected)
    assert (expected > 0).float().mean() > 0.1
