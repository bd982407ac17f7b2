"""The problem families: registry, split, members, vectorised losses and the BRDF model."""

import math

import pytest
import torch

import problems
from blackbox_opt import InvalidParameterError, UnknownNameError, minimize
from blackbox_opt.testing import check_problem
from problems.families import (
    BatchedMLP,
    BRDFFamily,
    TextureFamily,
    ggx_brdf,
    rusinkiewicz_inputs,
    stationary_textures,
)


@pytest.fixture(scope="module")
def textures():
    return problems.make_family("texture-family", n_train=6, n_test=3, res=8, width=8)


@pytest.fixture(scope="module")
def spectrum_textures():
    return problems.make_family(
        "texture-family", n_train=6, n_test=3, res=8, width=8, loss="spectrum"
    )


@pytest.fixture(scope="module")
def brdfs():
    return problems.make_family("brdf-family", n_train=6, n_test=3, n_samples=512)


def test_registry_lists_and_makes_families():
    table = problems.list()
    rows = {row["id"]: row for row in table}
    assert {"texture-family", "brdf-family", "rect"} <= set(rows)
    for name, cls in (("texture-family", TextureFamily), ("brdf-family", BRDFFamily)):
        assert "family" in rows[name]["tags"] and rows[name]["differentiable"]
        assert rows[name]["dim"] == cls.default_dim
    assert problems.make_family("brdf-family", n_train=2, n_test=1).dim == 675
    assert TextureFamily(n_train=2, n_test=1).dim == TextureFamily.default_dim
    with pytest.raises(UnknownNameError, match="Did you mean 'brdf-family'"):
        problems.make_family("brdf-famly")
    with pytest.raises(UnknownNameError, match="Did you mean 'n_train'"):
        problems.make_family("brdf-family", n_trian=3)


@pytest.mark.parametrize("name", ["textures", "spectrum_textures", "brdfs"])
def test_members_are_differentiable_problems(name, request):
    family = request.getfixturevalue(name)
    for split in ("train", "test"):
        member = family.member(1, split)
        check_problem(member)
        assert member.differentiable and member.dim == family.dim
        assert member.name == f"{family.name}[{split}:1]"
        torch.testing.assert_close(member.x0, family.x0)
    # autograd agrees with central differences along a random direction
    member = family.member(0)
    g = torch.Generator().manual_seed(0)
    x = member.x0.double()
    v = torch.randn(member.dim, generator=g, dtype=torch.float64)
    _, grad = member.value_and_grad(member.x0[None])
    h = 1e-3
    with torch.no_grad():
        up = member((x + h * v).float()[None]).double()
        down = member((x - h * v).float()[None]).double()
    slope = float((up - down) / (2 * h))
    assert slope == pytest.approx(float(grad[0].double() @ v), rel=0.05, abs=1e-4)


@pytest.mark.parametrize("name", ["textures", "spectrum_textures", "brdfs"])
def test_vectorised_losses_equal_member_losses(name, request):
    family = request.getfixturevalue(name)
    g = torch.Generator().manual_seed(1)
    X = torch.stack([family.init_weights(g) for _ in range(3)])
    for split in ("train", "test"):
        index = [2, 0, 1]
        together = family.losses(X, index, split=split)
        apart = torch.stack([family.member(i, split)(X[t]) for t, i in enumerate(index)])
        torch.testing.assert_close(together, apart, rtol=1e-5, atol=1e-7)


def test_split_and_seed(textures):
    train = textures.targets[: textures.n_train]
    test = textures.targets[textures.n_train :]
    assert test.shape[0] == 3
    # held-out members are new textures, none equal to a training one
    assert float(torch.cdist(test.flatten(1), train.flatten(1)).min()) > 0.1
    same = problems.make_family("texture-family", n_train=6, n_test=3, res=8, width=8)
    other = problems.make_family("texture-family", n_train=6, n_test=3, res=8, width=8, seed=1)
    assert torch.equal(same.targets, textures.targets)
    assert not torch.equal(other.targets, textures.targets)
    assert not torch.equal(other.x0, textures.x0)


def test_index_and_shape_errors(textures):
    with pytest.raises(InvalidParameterError, match="3 test members"):
        textures.member(3, "test")
    with pytest.raises(InvalidParameterError, match="split must be"):
        textures.member(0, "validation")
    with pytest.raises(InvalidParameterError, match="shape \\(2, "):
        textures.losses(torch.zeros(3, textures.dim), [0, 1])
    with pytest.raises(InvalidParameterError, match="n_train must be an int >= 1"):
        TextureFamily(n_train=0)


def test_every_method_runs_on_a_member(brdfs):
    member = brdfs.member(0, "test")
    start = float(member(member.x0))
    for method, options in [
        ("adam", {"lr": 1e-2}),
        ("prdpt", {"sigma": 0.01}),
        ("zerograds", {"sigma": 0.01, "n_freq": 0}),
    ]:
        res = minimize(member, method, max_iter=20, random_state=0, verbose=False, **options)
        assert res.fun < start


def test_batched_mlp_equals_torch_sequential():
    mlp = BatchedMLP((6, 21, 21, 3))
    W = torch.stack([mlp.init_weights(torch.Generator().manual_seed(s)) for s in range(2)])
    inputs = torch.randn(1, 7, 6, generator=torch.Generator().manual_seed(2))
    out = mlp(W, inputs)
    for t in range(2):
        net = torch.nn.Sequential(
            torch.nn.Linear(6, 21),
            torch.nn.ReLU(),
            torch.nn.Linear(21, 21),
            torch.nn.ReLU(),
            torch.nn.Linear(21, 3),
        )
        torch.nn.utils.vector_to_parameters(W[t], net.parameters())
        torch.testing.assert_close(out[t], net(inputs[0]))
    bound = 1 / math.sqrt(21)
    assert float(W[:, 6 * 21 + 21 :].abs().max()) <= bound  # default init of later layers


def test_the_spectrum_loss_matches_an_explicit_dft_and_ignores_shifts(textures, spectrum_textures):
    family = spectrum_textures
    X = torch.stack([family.init_weights(torch.Generator().manual_seed(i)) for i in range(3)])
    member = family.member(1, "test")
    # brute force: the DFT as a matrix product, in float64
    n = family.res
    k = torch.arange(n, dtype=torch.float64)
    dft = torch.exp(-2j * math.pi * torch.outer(k, k) / n) / math.sqrt(n)
    dft = dft.to(torch.complex128)

    def amplitudes(images):  # (B, n, n, 3)
        z = images.to(torch.complex128).permute(0, 3, 1, 2)
        return (dft @ z @ dft.T).abs()

    images = family.images(X).double()
    target = member.target.reshape(n, n, 3).double()[None]
    expected = (amplitudes(images) - amplitudes(target)).square().mean((1, 2, 3))
    torch.testing.assert_close(member(X).double(), expected, rtol=1e-4, atol=1e-7)
    # never above the pixel loss of the same weights (Parseval)
    assert bool((member(X) <= textures.member(1, "test")(X) + 1e-7).all())
    # zero for the target shifted circularly: a spectrum fixes the pattern, not its place
    shifted = target.roll((3, 5), dims=(1, 2))
    assert float((amplitudes(shifted) - amplitudes(target)).abs().max()) < 1e-9
    # same textures and start as the pixel loss
    assert torch.equal(family.targets, textures.targets) and torch.equal(family.x0, textures.x0)
    with pytest.raises(InvalidParameterError, match="Did you mean 'spectrum'"):
        problems.make_family("texture-family", n_train=2, n_test=1, loss="spectra")


def test_stationary_textures_vary_and_stay_in_range():
    t = stationary_textures(8, 16, generator=torch.Generator().manual_seed(0))
    assert t.shape == (8, 16, 16, 3) and float(t.min()) >= 0 and float(t.max()) <= 1
    assert float(t.std((1, 2)).mean()) > 0.05  # patterned, not flat
    assert float(t.mean((1, 2)).std(0).mean()) > 0.1  # different colours


def test_rusinkiewicz_directions_and_ggx_reciprocity():
    u = torch.rand(1000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    inputs, wi, wo = rusinkiewicz_inputs(u)
    h, d = inputs[:, :3], inputs[:, 3:]
    torch.testing.assert_close(wi.norm(dim=1), torch.ones(1000, dtype=torch.float64))
    torch.testing.assert_close(wo.norm(dim=1), torch.ones(1000, dtype=torch.float64))
    # h is the half vector of (wi, wo) and d.z = cos theta_d = wi . h
    torch.testing.assert_close(torch.nn.functional.normalize(wi + wo, dim=1), h)
    torch.testing.assert_close((wi * h).sum(1), d[:, 2])
    albedo = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    r, f0 = torch.tensor([0.4], dtype=torch.float64), torch.tensor([0.05], dtype=torch.float64)
    torch.testing.assert_close(ggx_brdf(wi, wo, albedo, r, f0), ggx_brdf(wo, wi, albedo, r, f0))
    above = (wi[:, 2] > 0) & (wo[:, 2] > 0)
    f = ggx_brdf(wi, wo, albedo, r, f0)
    assert bool((f[~above] == 0).all()) and bool((f[above] > 0).all())


def test_ggx_distribution_is_normalised():
    """The GGX distribution integrates to 1 over projected solid angle of the half vector."""
    n = 400_000
    g = torch.Generator().manual_seed(0)
    alpha2 = 0.5**4
    cos_h = torch.rand(n, generator=g, dtype=torch.float64)  # uniform on the hemisphere
    D = alpha2 / (math.pi * (cos_h**2 * (alpha2 - 1) + 1) ** 2)
    assert float((D * cos_h).mean() * 2 * math.pi) == pytest.approx(1.0, rel=0.02)


def test_brdf_training_loss_draws_minibatches(brdfs):
    member = brdfs.member(0)
    x = member.x0[None]
    a = member.training_loss(x, torch.Generator().manual_seed(0))
    b = member.training_loss(x, torch.Generator().manual_seed(0))
    c = member.training_loss(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # a minibatch estimates the full loss
    draws = torch.cat(
        [member.training_loss(x, torch.Generator().manual_seed(s)) for s in range(40)]
    )
    assert float(draws.mean()) == pytest.approx(float(member(x)), rel=0.2)
    assert brdfs.materials.shape == (9, 5)
