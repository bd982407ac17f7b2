"""The texture and mlp-digits problems: contract, loss definitions and gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from blackbox_opt.testing import check_problem
from problems.mlp_digits import MLPDigits, digit_image, mlp_shapes
from problems.texture import MEAN_EPS, Texture, texture_target


@pytest.fixture(scope="module")
def texture():
    return Texture()


@pytest.fixture(scope="module")
def mlp():
    return MLPDigits()


# -- texture --------------------------------------------------------------------------------
def test_texture_contract(texture):
    check_problem(texture)
    check_problem(Texture(res=8, seed=3, dtype=torch.float64))
    assert texture.dim == Texture.default_dim == 12_288
    assert Texture(res=256).dim == 196_608
    with pytest.raises(ValueError, match="res"):
        Texture(res=1)


def test_texture_target_is_a_fixed_textured_image():
    t = texture_target(64, seed=0)
    assert t.shape == (64, 64, 3)
    assert math.isclose(float(t.min()), 0.05) and math.isclose(float(t.max()), 0.95)
    assert float(t.std()) > 0.1
    assert torch.equal(t, texture_target(64, seed=0))
    assert float((t - texture_target(64, seed=1)).abs().mean()) > 0.1
    # the same pattern at any resolution: 4 x 4 average pooling of res 256 gives res 64
    big = texture_target(256, seed=0).permute(2, 0, 1)[None]
    pooled = F.avg_pool2d(big, 4)[0].permute(1, 2, 0)
    assert float((pooled - t).abs().max()) < 0.02


def test_texture_loss_is_the_zerograds_scale_free_l2(texture):
    ref = texture.x_opt.double()
    g = torch.Generator().manual_seed(0)
    X = torch.rand(3, texture.dim, generator=g)
    img = X.double()
    expected = (((img / img.mean(1, keepdim=True) - 1) - (ref / ref.mean() - 1)) ** 2).mean(1)
    assert torch.allclose(texture(X).double(), expected, rtol=1e-5)
    # the grey start's loss is the squared coefficient of variation of the target
    cv2 = float(ref.var(unbiased=False) / ref.mean() ** 2)
    assert math.isclose(float(texture(texture.x0)), cv2, rel_tol=1e-5)
    assert math.isclose(cv2, 0.098648, rel_tol=1e-4)
    # any positive multiple of a texture has the same loss; the target's multiples are optimal
    assert float(texture(texture.x_opt)) == texture.f_opt == 0.0
    assert float(texture(0.4 * texture.x_opt)) < 1e-12
    assert torch.allclose(texture(0.3 * X), texture(X), rtol=1e-5)
    # a black texture: the mean is floored at MEAN_EPS, X / eps = 0, so the loss is the mean
    # square of the target over its mean
    black = float(texture(torch.zeros(texture.dim)))
    expected_black = float((ref / ref.mean()).square().mean())
    assert MEAN_EPS > 0 and math.isclose(black, expected_black, rel_tol=1e-5)


def test_texture_render_layout_and_clamping():
    p = Texture(res=16)
    image = p.render(p.x_opt)
    assert image.shape == (16, 16, 3)
    assert torch.equal(image, texture_target(16, 0).float())
    X = torch.stack([p.x0 * 3.0, p.x0 - 1.0])
    images = p.render(X)
    assert images.shape == (2, 16, 16, 3)
    assert float(images[0].min()) == 1.0 and float(images[1].max()) == 0.0


def test_texture_is_differentiable(texture):
    _, grad = texture.value_and_grad(texture.x0[None])
    assert float(grad.abs().max()) > 0
    # the gradient is right: it matches a central difference along a random direction
    g = torch.Generator().manual_seed(1)
    p = Texture(res=8, dtype=torch.float64)
    x = p.x0 + 0.1 * torch.rand(p.dim, generator=g, dtype=torch.float64)
    d = torch.randn(p.dim, generator=g, dtype=torch.float64)
    _, grad = p.value_and_grad(x[None])
    h = 1e-6
    fd = (p(x + h * d) - p(x - h * d)) / (2 * h)
    assert math.isclose(float(grad[0] @ d), float(fd), rel_tol=1e-6)
    # and plain gradient descent from the grey start heads to the target
    x = texture.x0.clone()
    for _ in range(20):
        _, grad = texture.value_and_grad(x[None])
        x = (x - 0.05 * grad[0] * texture.dim).clamp(0.0, 1.0)
    assert float(texture(x)) < 0.1 * float(texture(texture.x0))


def test_texture_chunked_evaluation_equals_one_batch():
    X = torch.rand(5, 3 * 32 * 32, generator=torch.Generator().manual_seed(2))
    whole = Texture(res=32, chunk_bytes=2**40)(X)
    chunked = Texture(res=32, chunk_bytes=2 * 3 * 32 * 32 * 4 * 3)(X)
    assert torch.allclose(whole, chunked, rtol=1e-6, atol=0)


# -- mlp-digits -----------------------------------------------------------------------------
def _sequential(x: torch.Tensor, negative_slope: float = 0.01) -> torch.nn.Sequential:
    net = torch.nn.Sequential(
        torch.nn.Linear(256, 32),
        torch.nn.LeakyReLU(negative_slope),
        torch.nn.Linear(32, 32),
        torch.nn.LeakyReLU(negative_slope),
        torch.nn.Linear(32, 784),
        torch.nn.Sigmoid(),
    ).to(x.dtype)
    torch.nn.utils.vector_to_parameters(x, net.parameters())
    return net


def test_mlp_contract(mlp):
    check_problem(mlp)
    check_problem(MLPDigits(digit=7, index=5, seed=1, dtype=torch.float64))
    assert mlp.dim == MLPDigits.default_dim == 256 * 32 + 32 + 32 * 32 + 32 + 32 * 784 + 784
    assert mlp.dim == 35_152
    assert mlp.x_opt is None and mlp.f_opt is None
    with pytest.raises(ValueError, match="digit"):
        MLPDigits(digit=10)
    with pytest.raises(ValueError, match="index"):
        MLPDigits(index=10_000)


def test_mlp_batch_equals_torch_sequential(mlp):
    g = torch.Generator().manual_seed(0)
    X = mlp.x0 + 0.2 * torch.randn(4, mlp.dim, generator=g)
    with torch.no_grad():
        batched = mlp(X)
        images = mlp.render(X)
        for x, loss, image in zip(X, batched, images):
            out = _sequential(x)(mlp.z)
            assert torch.allclose(image.reshape(-1), out, atol=1e-6)
            assert torch.allclose(loss, ((out - mlp.target) ** 2).mean(), rtol=1e-5)
    # chunks of a few points give the same losses
    small = MLPDigits(chunk_bytes=3 * mlp.bytes_per_point)
    assert small.chunk_size(4) == 3
    assert torch.allclose(small(X), batched, rtol=1e-6, atol=0)


def test_mlp_start_is_pytorch_default_init(mlp):
    start = 0
    for fan_out, fan_in in mlp_shapes():
        for n in (fan_out * fan_in, fan_out):
            part = mlp.x0[start : start + n]
            start += n
            bound = 1 / math.sqrt(fan_in)
            assert float(part.abs().max()) <= bound
            if n > 100:  # uniform: spread over the whole interval, centred
                assert float(part.abs().max()) > 0.95 * bound
                assert abs(float(part.mean())) < 0.1 * bound
    assert start == mlp.dim
    assert torch.equal(MLPDigits().x0, mlp.x0)
    assert not torch.equal(MLPDigits(seed=1).x0, mlp.x0)
    assert 0.1 < float(mlp(mlp.x0)) < 0.2


def test_mlp_target_is_a_scikit_learn_digit(mlp):
    from sklearn.datasets import load_digits

    data = load_digits()
    threes = data.images[data.target == 3]
    target = mlp.target.reshape(28, 28)
    assert torch.equal(target, digit_image(3, 0).float())
    small = torch.tensor(threes[0] / 16.0)[None, None]
    expected = F.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False)
    assert torch.allclose(target.double(), expected[0, 0], atol=1e-7)
    # bilinear upsampling keeps the [0, 1] range and roughly the 8 x 8 image's mean
    assert float(target.min()) == 0.0 and 0.9 < float(target.max()) <= 1.0
    assert abs(float(target.mean()) - float(small.mean())) < 0.02
    other = MLPDigits(digit=3, index=1).target
    assert float((other - mlp.target).abs().mean()) > 0.01


def test_mlp_is_differentiable_adam_fits_the_digit(mlp):
    x = mlp.x0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=1e-2)
    start = float(mlp(mlp.x0))
    for _ in range(200):
        optimizer.zero_grad()
        loss = mlp(x)
        loss.backward()
        optimizer.step()
    assert float(x.grad.abs().max()) > 0
    with torch.no_grad():
        assert float(mlp(x)) < 0.1 * start
