"""The Blender side of :class:`problems.blender.BlenderProblem`: one scene, rendered on request.

This file runs inside Blender's Python (the ``bpy`` module in an interpreter of its
own, or ``blender -b --python``), never in the library's process: it imports only
``bpy``, ``numpy`` and the standard library, so it works with the numpy that Blender
brings. It talks to the library over two pipes whose file descriptors come on the
command line (after ``--`` for the Blender executable); Blender's own log stays on
stdout and stderr.

Messages are JSON objects (``send_bytes``); a rendered image follows its header as raw
float32 bytes, so nothing depends on the two sides having the same numpy. Requests:

- ``{"op": "setup", "scene": ..., "parameters": [[name, data_path], ...],
  "render": {...}, "settings": {...}}``: build or open the scene, check every data
  path, apply the render settings; answers ``{"ok": true, "version": ...}``;
- ``{"op": "render", "values": {name: value}}``: write the values, render, answer
  ``{"ok": true, "shape": [H, W, 3]}`` then the pixels (top row first, linear RGB);
- ``{"op": "quit"}``.

A failure answers ``{"ok": false, "error": "..."}`` and the worker goes on.
"""

import json
import os
import re
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection

import bpy
import numpy as np

_PATH = re.compile(r"^(?P<owner>.+)\.(?P<attr>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?$")


def _resolve(path):
    """The owner struct, attribute name and optional index of a ``bpy.data`` path."""
    match = _PATH.match(path.strip())
    if match is None:
        raise ValueError(
            f"{path!r} is not a data path such as 'objects[\"Cube\"].location[0]' "
            "(relative to bpy.data)."
        )
    owner_path, attr, index = match["owner"], match["attr"], match["index"]
    try:
        owner = bpy.data.path_resolve(owner_path)
    except ValueError:
        raise ValueError(
            f"{path!r}: bpy.data has nothing at {owner_path!r}. {_hint(owner_path)}"
        ) from None
    if not hasattr(owner, attr):
        props = [p.identifier for p in owner.bl_rna.properties if p.identifier != "rna_type"]
        raise ValueError(
            f"{path!r}: {owner_path} has no property {attr!r}; it has {', '.join(props[:40])}."
        )
    value = getattr(owner, attr)
    if index is not None:
        index = int(index)
        try:
            length = len(value)
        except TypeError:
            raise ValueError(
                f"{path!r}: {owner_path}.{attr} is not an array; drop the [index]."
            ) from None
        if index >= length:
            raise ValueError(f"{path!r}: {owner_path}.{attr} has {length} elements.")
    return owner, attr, index


def _hint(owner_path):
    """The names a collection of bpy.data holds, for an error about a missing one."""
    match = re.match(r"^([a-z_]+)\[", owner_path)
    if match and hasattr(bpy.data, match[1]):
        names = [item.name for item in getattr(bpy.data, match[1])]
        return f"bpy.data.{match[1]} holds {names[:40]}."
    return ""


def _assign(target, value):
    owner, attr, index = target
    if index is not None:
        array = getattr(owner, attr)
        array[index] = value
    elif isinstance(value, list):
        array = getattr(owner, attr)
        if len(value) > len(array):
            raise ValueError(f"{len(value)} values for {attr}, which has {len(array)} elements")
        for i, v in enumerate(value):
            array[i] = v
    else:
        setattr(owner, attr, value)


def _build(scene):
    kind = scene["kind"]
    if kind == "blend":
        bpy.ops.wm.open_mainfile(filepath=scene["path"])
        return
    bpy.ops.wm.read_factory_settings(use_empty=True)
    namespace = {"__name__": "blackbox_opt_scene", "__file__": scene.get("path", "<scene>")}
    if kind == "file":
        with open(scene["path"], encoding="utf-8") as f:
            source = f.read()
    else:
        source = scene["source"]
    code = compile(source, scene.get("path", "<scene builder>"), "exec")
    exec(code, namespace)
    builder = namespace.get(scene["function"])
    if not callable(builder):
        raise ValueError(f"The scene source defines no function {scene['function']!r}.")
    builder(**scene.get("kwargs", {}))


def _gpu():
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI"):
        try:
            prefs.compute_device_type = kind
        except TypeError:
            continue
        prefs.get_devices()
        devices = [d for d in prefs.devices if d.type == kind]
        if devices:
            for d in prefs.devices:
                d.use = d.type == kind
            return kind
    return None


def _configure(render, settings, out_path):
    scene = bpy.context.scene
    if scene.camera is None:
        raise ValueError("The scene has no camera (bpy.context.scene.camera is None).")
    r = scene.render
    r.engine = render["engine"]
    r.resolution_x, r.resolution_y = render["resolution"]
    r.resolution_percentage = 100
    # no persistent data: with it, an idle Blender kept a core busy (3 s of CPU in 3 s
    # of waiting), which took the core from the other workers' renders
    r.use_persistent_data = False
    r.threads_mode = "FIXED" if render["threads"] else "AUTO"
    if render["threads"]:
        r.threads = render["threads"]
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.image_settings.color_mode = "RGB"
    r.filepath = out_path
    used = "CPU"
    if render["engine"] == "CYCLES":
        c = scene.cycles
        c.samples = render["spp"]
        c.seed = render["seed"]
        c.use_animated_seed = False
        c.use_denoising = False
        c.use_adaptive_sampling = False
        if render["device"] in ("GPU", "auto"):
            kind = _gpu()
            if kind is None and render["device"] == "GPU":
                raise ValueError(
                    "cycles_device='GPU' but Cycles finds no GPU (OptiX, CUDA, HIP, Metal or "
                    "oneAPI) here; use cycles_device='CPU' or 'auto'."
                )
            c.device = "GPU" if kind else "CPU"
            used = kind or "CPU"
        else:
            c.device = "CPU"
    for path, value in settings.items():
        _assign(_resolve_scene(scene, path), value)
    return used


def _resolve_scene(scene, path):
    owner_path, _, attr = path.rpartition(".")
    owner = scene.path_resolve(owner_path) if owner_path else scene
    if not hasattr(owner, attr):
        raise ValueError(f"The scene setting {path!r} does not exist.")
    return owner, attr, None


def _render(out_path):
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(out_path, check_existing=False)
    try:
        h, w = image.size[1], image.size[0]
        channels = image.channels
        pixels = np.empty(w * h * channels, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    pixels = pixels.reshape(h, w, channels)[::-1, :, :3]  # Blender stores the bottom row first
    return np.ascontiguousarray(pixels, dtype=np.float32)


def main(read_fd, write_fd):
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    folder = tempfile.mkdtemp(prefix="blackbox-opt-blender-", dir=_scratch())
    out_path = os.path.join(folder, "render.exr")
    targets = {}

    def reply(message, payload=None):
        outbox.send_bytes(json.dumps(message).encode())
        if payload is not None:
            outbox.send_bytes(payload)

    reply({"ok": True, "ready": True, "version": bpy.app.version_string})
    while True:
        try:
            request = json.loads(inbox.recv_bytes())
        except EOFError:
            break
        op = request.get("op")
        try:
            if op == "quit":
                break
            if op == "setup":
                _build(request["scene"])
                targets = {name: _resolve(path) for name, path in request["parameters"]}
                used = _configure(request["render"], request.get("settings", {}), out_path)
                reply({"ok": True, "version": bpy.app.version_string, "device": used})
            elif op == "render":
                for name, value in request["values"].items():
                    _assign(targets[name], value)
                image = _render(out_path)
                if not np.all(np.isfinite(image)):
                    raise ValueError("the render holds NaN or infinite pixels")
                reply({"ok": True, "shape": list(image.shape)}, image.tobytes())
            else:
                reply({"ok": False, "error": f"unknown request {op!r}"})
        except Exception as exc:
            detail = traceback.format_exc(limit=4)
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": detail})
    try:
        os.remove(out_path)
        os.rmdir(folder)
    except OSError:
        pass


def _scratch():
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    main(int(args[0]), int(args[1]))
    sys.stdout.flush()
