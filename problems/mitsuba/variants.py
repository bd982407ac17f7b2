"""Choose a Mitsuba 3 variant that works on this machine, without risking the process.

Mitsuba's JIT variants need a backend: ``cuda_ad_rgb`` a CUDA driver, ``llvm_ad_rgb``
an LLVM library of version 16 or later. Dr.Jit otherwise loads whatever ``libLLVM``
it finds, and an older one (such as the libLLVM-15 that mesa pulls in) makes the
first render *abort the whole process* ("LLVM ERROR: Cannot select ..."), which no
``try`` can catch. So every JIT variant is probed once in a child process that
renders a tiny scene (and, for AD variants, differentiates it); only a variant whose
probe succeeded is used here. The results are cached for the life of the process.

The order of preference is ``cuda_ad_rgb``, ``llvm_ad_rgb``, then ``scalar_rgb``,
which always works but has no automatic differentiation. Before Dr.Jit is imported,
``DRJIT_LIBLLVM_PATH`` is pointed at the newest LLVM >= 16 found in the usual library
folders (unless it is set already); on Debian and Ubuntu ``apt-get install libllvm19``
provides one.

The choice can be forced with the ``variant=`` option of the Mitsuba problems or the
``BLACKBOX_OPT_MI_VARIANT`` environment variable; a forced variant that is not usable
falls back to the automatic choice with a :class:`~blackbox_opt.BlackboxOptWarning`.
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from types import ModuleType

from blackbox_opt.exceptions import (
    BlackboxOptWarning,
    InvalidParameterError,
    MissingDependencyError,
)

__all__ = [
    "ENV_VARIANT",
    "PREFERRED_VARIANTS",
    "ProbeResult",
    "choose_variant",
    "find_libllvm",
    "has_ad",
    "load_mitsuba",
    "probe_variant",
]

#: The environment variable that forces a variant, like the problems' ``variant=``.
ENV_VARIANT = "BLACKBOX_OPT_MI_VARIANT"
#: Variants tried in this order when none is forced.
PREFERRED_VARIANTS = ("cuda_ad_rgb", "llvm_ad_rgb", "scalar_rgb")
#: The oldest LLVM that Dr.Jit 1.5 can compile Mitsuba's kernels with.
MIN_LLVM = 16

_LLVM_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/lib/llvm-*/lib",
    "/opt/homebrew/opt/llvm/lib",
    "/usr/local/opt/llvm/lib",
)
_LLVM_NAME = re.compile(r"libLLVM[-.]?(\d+)(?:\.\d+)*\.(?:so|dylib)(?:\.\d+)*$|libLLVM\.so\.(\d+)")
_PROBE_TIMEOUT = 300.0

# The probe renders an 8 x 8 image of a sphere and, for AD variants, back-propagates
# its mean through a projective integrator: both paths of the real problems.
_PROBE_SCRIPT = """
import sys
import drjit as dr
import mitsuba as mi
mi.set_variant(sys.argv[1])
scene = mi.load_dict({
    "type": "scene",
    "integrator": {"type": "path", "max_depth": 3},
    "sensor": {"type": "perspective", "film": {"type": "hdrfilm", "width": 8, "height": 8}},
    "light": {"type": "constant"},
    "ball": {"type": "sphere", "to_world": mi.ScalarTransform4f().translate([0, 0, 3])},
})
params = mi.traverse(scene)
image = mi.render(scene, params, spp=4)
value = dr.mean(image, axis=None)
dr.eval(value)
if dr.is_diff_v(mi.Float):
    shift = mi.Float(0.1)
    dr.enable_grad(shift)
    params["ball.to_world"] = mi.Transform4f().translate(mi.Point3f(shift, 0.0, 3.0))
    params.update()
    integrator = mi.load_dict({"type": "direct_projective", "sppi": 0})
    image = mi.render(scene, params, integrator=integrator, spp=4)
    dr.backward(dr.mean(image, axis=None))
    value = dr.grad(shift)
    dr.eval(value)
print("probe-ok", value)
"""


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of probing one variant in a child process.

    Attributes
    ----------
    variant : str
        The variant probed.
    ok : bool
        Whether the child rendered (and differentiated) a tiny scene.
    message : str
        Why it failed (the child's last error lines or exit status); empty when ok.
    """

    variant: str
    ok: bool
    message: str = ""


_PROBES: dict[tuple[str, str], ProbeResult] = {}


def has_ad(variant: str) -> bool:
    """Whether ``variant`` supports automatic differentiation (``*_ad_*`` variants).

    Parameters
    ----------
    variant : str

    Returns
    -------
    bool

    Examples
    --------
    >>> has_ad("llvm_ad_rgb"), has_ad("scalar_rgb")
    (True, False)
    """
    return "_ad_" in variant


def find_libllvm(min_version: int = MIN_LLVM) -> str | None:
    """Return the newest LLVM shared library of version ``min_version`` or later.

    Looks in the usual system library folders (Debian's multiarch folders,
    ``/usr/lib/llvm-*/lib``, Homebrew's).

    Parameters
    ----------
    min_version : int, default=16
        The oldest acceptable major version.

    Returns
    -------
    str or None
        The path, or None when none is installed.
    """
    best: tuple[int, str] | None = None
    for folder in _LLVM_FOLDERS:
        for path in glob.glob(os.path.join(folder, "libLLVM*")):
            match = _LLVM_NAME.search(os.path.basename(path))
            if not match or not os.path.isfile(path):
                continue
            version = int(match.group(1) or match.group(2))
            if version >= min_version and (best is None or version > best[0]):
                best = (version, path)
    return None if best is None else best[1]


def _prepare_environment() -> None:
    """Point Dr.Jit at a usable LLVM before it is imported (never after)."""
    if "drjit" in sys.modules or os.environ.get("DRJIT_LIBLLVM_PATH"):
        return
    path = find_libllvm()
    if path is not None:
        os.environ["DRJIT_LIBLLVM_PATH"] = path


def _import_mitsuba() -> ModuleType:
    if importlib.util.find_spec("mitsuba") is None or importlib.util.find_spec("drjit") is None:
        raise MissingDependencyError(
            "The Mitsuba problems (mi-*) need Mitsuba 3, which is not installed. Install "
            "the optional dependency with: pip install 'blackbox-opt[mitsuba]' "
            "(mitsuba==3.9.1, drjit==1.5.0)."
        )
    _prepare_environment()
    import mitsuba

    return mitsuba


def probe_variant(variant: str, *, timeout: float = _PROBE_TIMEOUT) -> ProbeResult:
    """Check in a child process that ``variant`` can render and differentiate.

    A crash of the child (an LLVM abort, a missing CUDA driver) is reported, never
    propagated. ``scalar_*`` variants need no probe. Results are cached per variant
    and ``DRJIT_LIBLLVM_PATH``.

    Parameters
    ----------
    variant : str
        A Mitsuba variant name.
    timeout : float, default=300
        Seconds the child may take (the first JIT compilation is slow).

    Returns
    -------
    ProbeResult
    """
    if variant.startswith("scalar_"):
        return ProbeResult(variant, True)
    if variant.startswith("cuda_") and ctypes.util.find_library("cuda") is None:
        return ProbeResult(variant, False, "no CUDA driver (libcuda) was found")
    _prepare_environment()
    key = (variant, os.environ.get("DRJIT_LIBLLVM_PATH", ""))
    if key in _PROBES:
        return _PROBES[key]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT, variant],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ),
        )
    except subprocess.TimeoutExpired:
        result = ProbeResult(variant, False, f"the probe took longer than {timeout:.0f} s")
    else:
        if done.returncode == 0 and "probe-ok" in done.stdout:
            result = ProbeResult(variant, True)
        else:
            result = ProbeResult(variant, False, _failure(done.returncode, done.stderr))
    _PROBES[key] = result
    return result


def _failure(status: int, stderr: str) -> str:
    """Summarise a failed probe: how it ended and its most telling error line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    detail = (errors or lines or ["no error output"])[-1]
    if len(detail) > 300:
        detail = detail[:300] + "..."
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    return f"a test render {how} ({detail})"


def _advice(variant: str) -> str:
    if variant.startswith("llvm_"):
        if find_libllvm() is None:
            return (
                " No LLVM >= 16 library was found: install one (Debian/Ubuntu: "
                "apt-get install libllvm19) or set DRJIT_LIBLLVM_PATH to it."
            )
        return f" DRJIT_LIBLLVM_PATH={os.environ.get('DRJIT_LIBLLVM_PATH', '(unset)')}."
    if variant.startswith("cuda_"):
        return " It needs an NVIDIA GPU and its driver."
    return ""


def choose_variant(variant: str | None = None) -> tuple[str, str]:
    """Pick the Mitsuba variant to use, probing JIT variants safely.

    Parameters
    ----------
    variant : str, optional
        A forced variant; default: the ``BLACKBOX_OPT_MI_VARIANT`` environment
        variable, else the first usable of :data:`PREFERRED_VARIANTS`.

    Returns
    -------
    variant : str
        The variant chosen.
    reason : str
        Why the AD variants were not chosen (empty when an AD variant was).

    Raises
    ------
    MissingDependencyError
        When Mitsuba is not installed.
    InvalidParameterError
        When the forced variant is not one Mitsuba was built with.

    Warns
    -----
    BlackboxOptWarning
        When a forced variant is unusable and another is used instead.
    """
    mi = _import_mitsuba()
    available = list(mi.variants())
    requested = variant or os.environ.get(ENV_VARIANT) or None
    reasons: list[str] = []
    if requested is not None:
        if requested not in available:
            raise InvalidParameterError(
                f"Unknown Mitsuba variant {requested!r} (from "
                f"{'variant=' if variant else ENV_VARIANT}). This Mitsuba offers: "
                f"{', '.join(available)}."
            )
        probe = probe_variant(requested)
        if probe.ok:
            forced = f"The variant {requested!r} was forced (variant= or {ENV_VARIANT})."
            return requested, "" if has_ad(requested) else forced
        reasons.append(f"{requested}: {probe.message}.{_advice(requested)}")
    for candidate in PREFERRED_VARIANTS:
        if candidate == requested or candidate not in available:
            continue
        probe = probe_variant(candidate)
        if probe.ok:
            if requested is not None:
                warnings.warn(
                    f"The Mitsuba variant {requested!r} is not usable here ({reasons[0]}); "
                    f"using {candidate!r} instead.",
                    BlackboxOptWarning,
                    stacklevel=3,
                )
            return candidate, "" if has_ad(candidate) else " ".join(reasons)
        reasons.append(f"{candidate}: {probe.message}.{_advice(candidate)}")
    raise InvalidParameterError(  # pragma: no cover - scalar_rgb is always built
        "No usable Mitsuba variant: " + " ".join(reasons)
    )


def load_mitsuba(variant: str | None = None) -> tuple[ModuleType, str, str]:
    """Import Mitsuba and set the variant chosen by :func:`choose_variant`.

    Parameters
    ----------
    variant : str, optional
        As in :func:`choose_variant`.

    Returns
    -------
    mitsuba : module
        The ``mitsuba`` module, set to the variant.
    variant : str
        The variant.
    reason : str
        Why no AD variant is used (empty when one is).

    Raises
    ------
    MissingDependencyError
        When Mitsuba is not installed; the message names the extra to install.
    """
    chosen, reason = choose_variant(variant)
    mi = _import_mitsuba()
    if mi.variant() != chosen:
        mi.set_variant(chosen)
    return mi, chosen, reason
