"""The caustic design problem: B-spline surface, refraction, photon binning."""

import math

import numpy as np
import pytest
import torch

from blackbox_opt.exceptions import NotDifferentiableError
from blackbox_opt.testing import check_problem
from problems.caustic import Caustic, bspline_basis

SMALL = {"grid": 8, "photons": 32, "res": 16}


def small(**kw):
    return Caustic(**{**SMALL, "dtype": torch.float64, **kw})


def greville(n):
    return (np.arange(n) - 1.0) / (n - 3)


def cox_de_boor(t, n):
    """Basis values and derivatives at one point by the Cox-de Boor recursion."""
    knots = (np.arange(n + 4) - 3.0) / (n - 3)
    span = min(int(np.searchsorted(knots, t, side="right")) - 1, n - 1)
    N = [np.array([1.0 if j == span else 0.0 for j in range(n + 3)])]
    for p in (1, 2, 3):
        prev, cur = N[-1], np.zeros(n + 3 - p)
        for i in range(n + 3 - p):
            a = (t - knots[i]) / (knots[i + p] - knots[i]) * prev[i]
            b = (knots[i + p + 1] - t) / (knots[i + p + 1] - knots[i + 1]) * prev[i + 1]
            cur[i] = a + b
        N.append(cur)
    quad = N[2]  # degree 2, n + 1 functions
    left = 3 * quad[:n] / (knots[3 : n + 3] - knots[:n])
    right = 3 * quad[1 : n + 1] / (knots[4 : n + 4] - knots[1 : n + 1])
    d = left - right
    return N[3], d


def test_contract_default_and_small():
    check_problem(Caustic())
    check_problem(Caustic(**SMALL))
    p = Caustic()
    assert p.dim == Caustic.default_dim == 1024 and p.image_shape == (64, 64, 1)
    assert not p.differentiable and {"discrete", "image", "high-dim"} <= set(p.tags)
    assert float(p(p.x_opt)) == 0.0 and float(p(p.x0)) > 0.03
    assert bool((p.x_opt.abs() < p.bounds[1]).all())


def test_basis_matches_cox_de_boor():
    n = 7
    t = torch.rand(9, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    t = torch.cat([t, torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)])
    B, dB = bspline_basis(t, n), bspline_basis(t, n, derivative=True)
    for k, tk in enumerate(t.tolist()):
        values, slopes = cox_de_boor(tk, n)
        np.testing.assert_allclose(B[k].numpy(), values, atol=1e-12)
        np.testing.assert_allclose(dB[k].numpy(), slopes, atol=1e-10)


def test_height_field_matches_pointwise_sum():
    p = small()
    C = torch.randn(1, p.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    h, hu, hv = (f[0].numpy() for f in p.height_field(C))
    c = C[0].reshape(p.grid, p.grid).numpy()
    t = (np.arange(p.photons) + 0.5) / p.photons
    for k, j in [(0, 0), (3, 17), (31, 5), (16, 16)]:
        Bu, dBu = cox_de_boor(t[k], p.grid)
        Bv, dBv = cox_de_boor(t[j], p.grid)
        assert h[k, j] == pytest.approx(Bu @ c @ Bv, abs=1e-12)
        assert hu[k, j] == pytest.approx(dBu @ c @ Bv, abs=1e-10)
        assert hv[k, j] == pytest.approx(Bu @ c @ dBv, abs=1e-10)


def test_constant_and_linear_fields_are_reproduced():
    p = small()
    h, hu, hv = p.height_field(torch.full((1, p.dim), 0.0123, dtype=torch.float64))
    assert torch.allclose(h, torch.tensor(0.0123, dtype=torch.float64), rtol=0, atol=1e-15)
    assert float(hu.abs().max()) < 1e-12 and float(hv.abs().max()) < 1e-12
    # control heights a + b u_i + c v_j at the Greville abscissae give a + b u + c v
    g = torch.tensor(greville(p.grid))
    C = 0.01 + 0.03 * g[:, None] - 0.02 * g[None, :]
    h, hu, hv = (f[0] for f in p.height_field(C.reshape(1, -1)))
    t = (torch.arange(p.photons, dtype=torch.float64) + 0.5) / p.photons
    assert torch.allclose(h, 0.01 + 0.03 * t[:, None] - 0.02 * t[None, :], rtol=0, atol=1e-15)
    assert torch.allclose(hu, torch.tensor(0.03, dtype=torch.float64), rtol=0, atol=1e-13)
    assert torch.allclose(hv, torch.tensor(-0.02, dtype=torch.float64), rtol=0, atol=1e-13)


def test_flat_slab_gives_a_uniform_image():
    for p in (small(), Caustic()):
        counts = p.photon_counts(torch.zeros(2, p.dim, dtype=p.dtype))
        assert bool((counts == (p.photons // p.res) ** 2).all())  # 4 photons per pixel
        image = p.render(torch.zeros(p.dim, dtype=p.dtype))
        assert bool((image == 0.5).all())


@pytest.mark.parametrize(("slope", "distance"), [(0.3, 0.8), (-0.7, 0.8), (1.1, 0.2)])
def test_tilted_plane_shifts_photons_like_a_prism(slope, distance):
    # h = slope * u: every ray meets the incidence angle theta = atan(slope) and leaves
    # at phi with sin(phi) = ior sin(theta), deviating by phi - theta towards -u
    p = small(photons=64, distance=distance)
    C = torch.tensor(slope * greville(p.grid))[:, None].expand(p.grid, p.grid)
    rows = p.photon_counts(C.reshape(1, -1))[0].sum(1).numpy()
    u = (np.arange(p.photons) + 0.5) / p.photons
    theta = math.atan(abs(slope))
    phi = math.asin(p.ior * math.sin(theta))
    landing = u - math.copysign(1, slope) * (p.distance + slope * u) * math.tan(phi - theta)
    expected = np.histogram(landing, bins=p.res, range=(0, 1))[0] * p.photons
    np.testing.assert_array_equal(rows, expected)
    assert 0 < rows.sum() < p.photons**2  # some photons leave the image


def test_total_internal_reflection_drops_photons():
    critical = math.tan(math.asin(1 / 1.33))  # 1.14
    for slope, kept in ((critical - 0.01, True), (critical + 0.01, False)):
        p = small(bound=2.0, distance=0.01)
        C = torch.tensor(slope * greville(p.grid))[:, None].expand(p.grid, p.grid)
        total = float(p.photon_counts(C.reshape(1, -1)).sum())
        assert (total > 0.9 * p.photons**2) if kept else total == 0.0


def test_photon_count_is_conserved_inside_the_image():
    p = small(grid=12, photons=64)
    C = torch.zeros(p.grid, p.grid, dtype=torch.float64)
    C[4:8, 4:8] = torch.randn(4, 4, generator=torch.Generator().manual_seed(2)) * 0.01
    counts = p.photon_counts(C.reshape(1, -1))[0]
    assert float(counts.sum()) == p.photons**2
    assert float(counts.max()) > 2 * float(counts.mean()) and float(counts.min()) < 16


def test_batched_counts_are_bitwise_single_ones_and_render_shape():
    p = Caustic()
    g = torch.Generator().manual_seed(5)
    X = torch.cat([p.x0 + 0.005 * torch.randn(6, p.dim, generator=g), p.x_opt[None]])
    counts = p.photon_counts(X)
    assert torch.equal(counts, torch.cat([p.photon_counts(x[None]) for x in X]))
    assert float(p(X)[-1]) == 0.0  # the optimum is exact inside a batch, too
    images = p.render(X)
    assert images.shape == (7, 64, 64, 1) and p.render(X[0]).shape == (64, 64, 1)
    assert 0 <= float(images.min()) and float(images.max()) < 1
    assert float(p.render(p.x_opt).std()) > 0.1  # the target has visible structure
    chunked = Caustic(chunk_bytes=p.bytes_per_point)(X)
    assert torch.equal(chunked, p(X))


def test_autograd_sees_no_gradient():
    p = Caustic(**SMALL)
    X = p.x0[None].clone().requires_grad_(True)
    loss = p(X)
    assert not loss.requires_grad  # floor binning cuts the graph: no gradient at all
    with pytest.raises(NotDifferentiableError):
        p.value_and_grad(X.detach())
