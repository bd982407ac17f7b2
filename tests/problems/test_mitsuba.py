"""The Mitsuba 3 problems at a tiny resolution, and the variant choice around them."""

import importlib.util
import math
import os

import pytest
import torch

import problems
from blackbox_opt import minimize
from blackbox_opt.exceptions import (
    BlackboxOptWarning,
    InvalidParameterError,
    MissingDependencyError,
    NotDifferentiableError,
)
from blackbox_opt.testing import check_problem
from problems.mitsuba import variants

HAVE_MITSUBA = importlib.util.find_spec("mitsuba") is not None
needs_mitsuba = pytest.mark.skipif(
    not HAVE_MITSUBA, reason="Mitsuba 3 is not installed (pip install 'blackbox-opt[mitsuba]')"
)
IDS = ["mi-shadows", "mi-occlusion", "mi-cup", "mi-gi", "mi-caustic"]
TINY = {"res": (32, 24), "spp": 4}


# at 4 spp the caustic's fireflies are larger than the difference between start and target
TINY_SPP = {"mi-caustic": 16}


def tiny(problem_id, **kw):
    return problems.make(problem_id, **{**TINY, "spp": TINY_SPP.get(problem_id, 4), **kw})


@pytest.fixture(scope="module")
def occlusion():
    return tiny("mi-occlusion")


@needs_mitsuba
@pytest.mark.parametrize("problem_id", IDS)
def test_contract_at_a_tiny_resolution(problem_id):
    p = tiny(problem_id)
    check_problem(p, batch=3)
    assert p.image_shape == (24, 32, 3) and p.target.shape == (24, 32, 3)
    assert float(p(p.x_opt)) < float(p(p.x0))
    assert p.differentiable == variants.has_ad(p.variant)
    assert "mitsuba" in p.requires and p.cost == "expensive"


@needs_mitsuba
def test_same_point_same_image_and_batches_equal_single_calls():
    p = tiny("mi-shadows")
    X = torch.stack([p.x0, p.x_opt, p.x0 + torch.tensor([0.3, -0.2])])
    batched = p(X)
    assert torch.equal(batched, torch.stack([p(x) for x in X]))
    assert torch.equal(batched, p(X))
    # a fresh scene built with the same options renders the same images
    assert torch.equal(batched, tiny("mi-shadows")(X))
    # another render seed gives other noise
    assert not torch.equal(batched, tiny("mi-shadows", seed=5)(X))
    assert p.n_evaluations == 3 + 3 + 3


@needs_mitsuba
def test_parameters_move_the_scene(occlusion):
    start, target = occlusion.render(occlusion.x0), occlusion.render(occlusion.x_opt)
    # the red sphere is hidden at the start and in view at the target
    redness = lambda image: (image[..., 0] - image[..., 1]).clamp_min(0).mean()  # noqa: E731
    assert float(redness(target)) > 5 * float(redness(start))
    assert start.min() >= 0 and start.max() <= 1
    # the reference is a render at the target with more samples: the loss there is noise
    assert float(occlusion(occlusion.x_opt)) < 0.25 * float(occlusion(occlusion.x0))


@needs_mitsuba
def test_bad_options_raise():
    with pytest.raises(InvalidParameterError, match="res must be a"):
        tiny("mi-occlusion", res=(32,))
    with pytest.raises(InvalidParameterError, match="spp must be a positive int"):
        tiny("mi-occlusion", spp=0)
    with pytest.raises(InvalidParameterError, match="Unknown Mitsuba variant 'llvm_rgb'.*offers"):
        tiny("mi-occlusion", variant="llvm_rgb")


@needs_mitsuba
def test_ad_gradient_exists_and_points_to_the_target(occlusion):
    if not occlusion.differentiable:
        pytest.skip(f"no AD variant here: {occlusion.not_differentiable_reason}")
    X = torch.tensor([[3.0], [3.2], [5.0]])
    values, grads = occlusion.value_and_grad(X)
    assert torch.equal(values, occlusion(X))
    assert grads.shape == (3, 1) and bool(torch.isfinite(grads).all())
    # in front of the target, where the red sphere's silhouette moves, the loss falls
    # towards the target; the hidden start is a plateau where the gradient is exactly zero
    assert float(grads[0, 0]) < float(grads[1, 0]) < 0
    assert float(grads[2, 0]) == 0.0
    # the AD gradient agrees in sign with a central difference of the loss
    fd = (occlusion(torch.tensor([3.3])) - occlusion(torch.tensor([3.1]))) / 0.2
    assert float(fd) < 0
    # the gradient is bridged to torch: the adam method runs on it
    res = minimize(occlusion, method="adam", x0=[3.2], lr=0.05, max_iter=3, verbose=False)
    assert res.nit == 3 and math.isfinite(res.fun)
    assert float(res.x_last[0]) > 3.2


@needs_mitsuba
def test_scalar_variant_renders_but_has_no_gradient(monkeypatch, occlusion):
    monkeypatch.setenv(variants.ENV_VARIANT, "scalar_rgb")
    p = tiny("mi-occlusion")
    assert p.variant == "scalar_rgb" and not p.differentiable
    assert float(p(p.x_opt)) < float(p(p.x0))
    with pytest.raises(NotDifferentiableError, match="'scalar_rgb' variant.*no automatic"):
        p.value_and_grad(p.x0[None])
    # the adam baseline's error says why this problem has no gradients here
    with pytest.raises(NotDifferentiableError, match="not differentiable. .*'scalar_rgb'"):
        minimize(p, method="adam", max_iter=2, verbose=False)
    # switching back and forth between variants keeps each problem's renders intact
    before = occlusion(occlusion.x0)
    assert torch.equal(occlusion(occlusion.x0), before)
    assert torch.equal(p(p.x0), p(p.x0))


@needs_mitsuba
def test_an_unusable_forced_variant_falls_back_with_a_warning(monkeypatch):
    def probe(variant, **kw):
        ok = variant.startswith("scalar_")
        return variants.ProbeResult(variant, ok, "" if ok else "a test render crashed")

    monkeypatch.setattr(variants, "probe_variant", probe)
    with pytest.warns(BlackboxOptWarning, match="'llvm_ad_rgb' is not usable.*crashed"):
        chosen, reason = variants.choose_variant("llvm_ad_rgb")
    assert chosen == "scalar_rgb"
    assert "llvm_ad_rgb: a test render crashed" in reason
    # the automatic choice falls back silently and says why
    chosen, reason = variants.choose_variant()
    assert chosen == "scalar_rgb" and "cuda_ad_rgb" in reason and "llvm_ad_rgb" in reason


@needs_mitsuba
def test_the_probe_survives_an_aborting_llvm(monkeypatch):
    old = next(
        (
            f"{d}/libLLVM-{v}.so"
            for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")
            for v in (15, 14)
            if os.path.isfile(f"{d}/libLLVM-{v}.so")
        ),
        None,
    )
    if old is None:
        pytest.skip("no LLVM older than 16 installed to make Dr.Jit abort")
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", old)
    monkeypatch.setattr(variants, "_PROBES", {})
    result = variants.probe_variant("llvm_ad_rgb")
    # Dr.Jit aborts the child process; this one gets a report
    assert not result.ok and "test render" in result.message


def test_find_libllvm_picks_the_newest_recent_enough(tmp_path, monkeypatch):
    for name in ("libLLVM-15.so", "libLLVM-17.so", "libLLVM.so.19.1", "libLLVMfoo.a"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(variants, "_LLVM_FOLDERS", (str(tmp_path),))
    assert variants.find_libllvm() == str(tmp_path / "libLLVM.so.19.1")
    assert variants.find_libllvm(min_version=18) == str(tmp_path / "libLLVM.so.19.1")
    assert variants.find_libllvm(min_version=20) is None
    (tmp_path / "libLLVM.so.19.1").unlink()
    assert variants.find_libllvm() == str(tmp_path / "libLLVM-17.so")


def test_missing_mitsuba_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mitsuba" else real(name, *a)
    )
    with pytest.raises(MissingDependencyError, match=r"pip install 'blackbox-opt\[mitsuba\]'"):
        problems.make("mi-shadows", **TINY)
