"""The Blender problems at tiny resolutions: scenes, data paths, failures, workers.

Blender runs in processes of its own (``BLACKBOX_OPT_BLENDER``: ``make test`` builds
``.venv-blender`` with bpy and points there). The tests are skipped only when no
Blender is configured at all; a configured Blender that does not work fails them.
"""

import os
import pickle
import shutil
import subprocess
import time

import pytest
import torch

import problems
from blackbox_opt import minimize
from blackbox_opt.evaluators import ProcessPoolEvaluator
from blackbox_opt.exceptions import (
    InvalidParameterError,
    MissingDependencyError,
    PointsFailedError,
)
from blackbox_opt.space import Categorical, Integer, Real
from blackbox_opt.testing import check_problem
from problems.blender import BlenderError, BlenderProblem, BlenderShadow, find_blender

CONFIGURED = bool(os.environ.get("BLACKBOX_OPT_BLENDER")) or shutil.which("blender") is not None
needs_blender = pytest.mark.skipif(
    not CONFIGURED, reason="no Blender configured (make blender; BLACKBOX_OPT_BLENDER)"
)


def cube_scene(count=1):
    """A grey cube with an Array modifier, a camera and a sun (runs inside Blender)."""
    import bpy

    bpy.ops.mesh.primitive_cube_add(size=0.5, location=(0, 0, 0))
    cube = bpy.context.active_object
    cube.name = "Cube"
    array = cube.modifiers.new("Array", "ARRAY")
    array.count = count
    array.relative_offset_displace = (1.5, 0, 0)
    bpy.ops.object.camera_add(location=(1.0, -6.0, 0.0), rotation=(1.5708, 0, 0))
    bpy.context.scene.camera = bpy.context.active_object
    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.4, 0))
    bpy.context.active_object.name = "Sun"
    bpy.context.scene.cycles.use_light_tree = False


def trap_scene():
    """A cube whose x decides the render's fate: x > 0.5 hangs, x < -0.9 kills Blender."""
    import os
    import time

    import bpy

    bpy.ops.mesh.primitive_cube_add(size=0.5)
    bpy.context.active_object.name = "Cube"
    bpy.ops.object.camera_add(location=(0, -6, 0), rotation=(1.5708, 0, 0))
    bpy.context.scene.camera = bpy.context.active_object
    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.4, 0))
    bpy.context.scene.cycles.use_light_tree = False

    def trap(scene, *args):
        x = bpy.data.objects["Cube"].location[0]
        if x > 0.5:
            time.sleep(60)
        if x < -0.9:
            os._exit(7)

    bpy.app.handlers.render_pre.append(trap)


def broken_scene():
    """A builder that raises inside Blender."""
    raise RuntimeError("the scene file is corrupt")


TINY = {"resolution": (16, 16), "spp": 2}


def cube_problem(**kw):
    params = {
        "x": ('objects["Cube"].location[0]', Real(-1.0, 1.0)),
        "count": ('objects["Cube"].modifiers["Array"].count', Integer(1, 3)),
    }
    return BlenderProblem(
        cube_scene,
        params,
        target_params={"x": 0.25, "count": 2},
        x0={"x": -0.3, "count": 1},
        **{**TINY, **kw},
    )


# -- finding Blender ---------------------------------------------------------------------
def test_no_blender_is_a_clear_error_naming_the_ways_to_install_one(monkeypatch):
    monkeypatch.delenv("BLACKBOX_OPT_BLENDER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingDependencyError, match="make blender") as info:
        find_blender()
    assert "blackbox-opt[blender]" in str(info.value) and "numpy<2" in str(info.value)
    with pytest.raises(MissingDependencyError, match="make blender"):
        problems.make("blender-shadow", res=8)
    with pytest.raises(MissingDependencyError, match="not an executable"):
        find_blender("/nonexistent/python3")


def test_a_blender_executable_runs_the_worker_in_background_mode(tmp_path):
    fake = tmp_path / "blender"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    cmd = find_blender(str(fake))
    assert cmd[0] == str(fake) and "--background" in cmd and cmd[-1] == "--"
    assert cmd[cmd.index("--python") + 1].endswith("worker.py")


def test_bad_arguments_are_refused_before_blender_starts():
    with pytest.raises(InvalidParameterError, match="data path"):
        BlenderProblem(cube_scene, {"x": ("location", Real(0, 1))}, target_params=[0.5])
    with pytest.raises(InvalidParameterError, match="lambda"):
        BlenderProblem(lambda: None, {'objects["C"].location[0]': Real(0, 1)})
    with pytest.raises(InvalidParameterError, match="builder.py:function"):
        BlenderProblem("scene.txt", {'objects["C"].location[0]': Real(0, 1)})
    with pytest.raises(InvalidParameterError, match="resolution"):
        BlenderProblem(cube_scene, {'objects["C"].location[0]': Real(0, 1)}, resolution=(0, 4))
    with pytest.raises(InvalidParameterError, match="cycles_device"):
        BlenderProblem(cube_scene, {'objects["C"].location[0]': Real(0, 1)}, cycles_device="TPU")


# -- registered scenes -------------------------------------------------------------------
@needs_blender
@pytest.mark.parametrize("problem_id", ["blender-shadow", "blender-occlusion"])
def test_plateau_scenes_start_on_a_plateau_and_the_target_is_exact(problem_id):
    p = problems.make(problem_id, res=16)
    assert p.dim == 2 and p.f_opt == 0.0 and p.image_shape == (16, 16, 3)
    assert float(p(p.x_opt)) == 0.0
    f0 = p(p.x0)
    assert float(f0) > 1e-3
    # no gradient exists around the start: small moves change no pixel
    moved = p.x0 + torch.tensor([[0.2, 0.0], [0.0, 0.2], [-0.1, -0.1]])
    assert torch.equal(p(moved), f0.expand(3))
    check_problem(p)
    images = p.render(torch.stack([p.x0, p.x_opt]))
    assert images.shape == (2, 16, 16, 3) and 0 <= float(images.min()) < float(images.max()) <= 1


@needs_blender
def test_renders_are_the_same_in_another_blender_process():
    p, q = BlenderShadow(res=16), BlenderShadow(res=16)
    X = p.x_opt + torch.tensor([[0.0, 0.0], [0.3, -0.2], [0.6, 0.1]])
    assert torch.equal(p(X), q(X))
    assert p._process.version == "5.0.1" or p.blender_version  # the Blender that rendered


@needs_blender
def test_led_display_scene_spells_its_text():
    p = problems.make("blender-led", text="1", rows=7, cols=5)
    assert p.dim == 35 and p.image_shape == (28, 20, 3)
    assert float(p(p.x_opt)) == 0.0 and float(p(p.x0)) > 0.01
    # only the on/off pattern counts: values on the same side of 0.5 give the same image
    same = torch.where(p.x_opt > 0.5, 0.9, 0.2)
    assert float(p(same)) == 0.0


# -- a user's scene ------------------------------------------------------------------------
@needs_blender
def test_a_scene_built_by_a_function_with_integer_and_categorical_parameters():
    p = cube_problem()
    assert list(p.space) == ["x", "count"]
    assert p.data_paths["count"] == 'objects["Cube"].modifiers["Array"].count'
    assert float(p(p.x_opt)) == 0.0
    one = p.space.to_vector({"x": 0.25, "count": 1})
    three = p.space.to_vector({"x": 0.25, "count": 3})
    assert float(p(one)) > 0 and float(p(three)) > 0
    # a categorical choice of the sun's type
    q = BlenderProblem(
        cube_scene,
        {"light": ('lights["Sun"].type', Categorical(["SUN", "POINT"]))},
        target_params={"light": "POINT"},
        **TINY,
    )
    assert float(q(q.x_opt)) == 0.0 and float(q(q.space.to_vector({"light": "SUN"}))) > 0


def run_in_blender(script):
    """Run a Python script with the Blender the problems use."""
    cmd = find_blender()
    if "--python" in cmd:  # a Blender executable
        cmd = [cmd[0], "--background", "--factory-startup", "--python", str(script)]
    else:
        cmd = [cmd[0], str(script)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=120)


@needs_blender
def test_a_blend_file_and_a_target_image_file(tmp_path):
    script = tmp_path / "save.py"
    script.write_text(
        "import bpy\n"
        "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
        "bpy.ops.mesh.primitive_cube_add(size=0.5)\n"
        "bpy.context.active_object.name = 'Cube'\n"
        "bpy.ops.object.camera_add(location=(0, -6, 0), rotation=(1.5708, 0, 0))\n"
        "bpy.context.scene.camera = bpy.context.active_object\n"
        "bpy.ops.object.light_add(type='SUN')\n"
        f"bpy.ops.wm.save_as_mainfile(filepath={str(tmp_path / 'cube.blend')!r})\n"
    )
    run_in_blender(script)
    params = {"x": ('objects["Cube"].location[0]', Real(-1.0, 1.0))}
    p = BlenderProblem(tmp_path / "cube.blend", params, target_params=[0.4], **TINY)
    assert float(p(p.x_opt)) == 0.0 and float(p(torch.tensor([-0.4]))) > 0
    # the target as an image file: a render saved as .npy, read back the same
    target = tmp_path / "target.npy"
    import numpy as np

    np.save(target, p.target.numpy())
    q = BlenderProblem(tmp_path / "cube.blend", params, target=target, **TINY)
    assert q.x_opt is None and float(q(torch.tensor([0.4]))) == 0.0
    with pytest.raises(InvalidParameterError, match="16 x 16"):
        BlenderProblem(tmp_path / "cube.blend", params, target=target, resolution=(8, 8), spp=2)


@needs_blender
def test_wrong_data_paths_and_a_broken_scene_fail_at_construction_with_names():
    with pytest.raises(BlenderError, match=r"bpy.data.objects holds \['Camera', 'Cube', 'Sun'\]"):
        BlenderProblem(
            cube_scene,
            {"x": ('objects["Cub"].location[0]', Real(0, 1))},
            target_params=[0.5],
            **TINY,
        )
    with pytest.raises(BlenderError, match="no property 'locaton'"):
        BlenderProblem(
            cube_scene,
            {"x": ('objects["Cube"].locaton[0]', Real(0, 1))},
            target_params=[0.5],
            **TINY,
        )
    with pytest.raises(BlenderError, match="the scene file is corrupt"):
        BlenderProblem(
            broken_scene,
            {"x": ('objects["Cube"].location[0]', Real(0, 1))},
            target_params=[0.5],
            **TINY,
        )


# -- failures -----------------------------------------------------------------------------
@needs_blender
def test_a_crash_and_a_hang_fail_their_points_and_keep_the_others():
    p = BlenderProblem(
        trap_scene,
        {"x": ('objects["Cube"].location[0]', Real(-1.0, 1.0))},
        target_params=[0.0],
        timeout=3.0,
        **TINY,
    )
    X = torch.tensor([[0.3], [-0.95], [0.45], [0.9], [0.0]])
    start = time.perf_counter()
    with pytest.raises(PointsFailedError) as info:
        p(X)
    assert time.perf_counter() - start < 30  # the hang was stopped, not waited for
    err = info.value
    assert set(err.errors) == {1, 3}
    assert "exited (status 7)" in err.errors[1]
    assert "did not render within 3 s" in err.errors[3]
    assert torch.isnan(err.losses[[1, 3]]).all() and float(err.losses[4]) == 0.0
    assert float(err.losses[0]) > 0 and float(err.losses[2]) > float(err.losses[0])
    # Blender was restarted: the next points render
    assert float(p(torch.tensor([0.0]))) == 0.0


@needs_blender
def test_an_interrupted_render_never_answers_the_next_point():
    import signal

    p = BlenderProblem(
        trap_scene,
        {"x": ('objects["Cube"].location[0]', Real(-1.0, 1.0))},
        target_params=[0.0],
        **TINY,
    )
    expected = p(torch.tensor([[0.3], [0.0]]))

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(KeyboardInterrupt):
            p(torch.tensor([0.9]))  # hangs for 60 s inside Blender: Ctrl-C after 1 s
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    start = time.perf_counter()
    assert torch.equal(p(torch.tensor([[0.3], [0.0]])), expected)  # a fresh Blender
    assert time.perf_counter() - start < 30


@needs_blender
def test_a_run_goes_on_past_crashing_points_and_keeps_its_best():
    p = BlenderProblem(
        trap_scene,
        {"x": ('objects["Cube"].location[0]', Real(-1.0, 1.0))},
        target_params=[-0.2],
        x0=[-0.75],
        timeout=3.0,
        **TINY,
    )
    result = minimize(p, method="prdpt", budget=100, on_error="penalize", random_state=0)
    assert result.nfail >= 1  # PRDPT's samples reached the crashing region
    assert result.nfev >= 100 and result.fun < float(p(p.x0))
    assert abs(float(result.x[0]) + 0.2) < 0.25


# -- parallel points -------------------------------------------------------------------------
@needs_blender
def test_two_worker_processes_give_the_serial_losses():
    p = BlenderShadow(res=16)
    X = p.x_opt + 0.3 * torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    serial = p(X)
    pickle.loads(pickle.dumps(p))  # a copy carries no Blender process
    with ProcessPoolEvaluator(n_workers=2) as evaluator:
        distributed = evaluator.wrap(p)
        assert torch.equal(distributed(X), serial)


@needs_blender
def test_prdpt_recovers_the_shadow_where_no_gradient_exists():
    p = BlenderShadow(res=16)
    result = minimize(p, method="prdpt", budget=1200, random_state=0)
    assert float(((result.x - p.x_opt) ** 2).mean()) < 1e-2
