"""A registered POV-Ray scene: a red sphere to place on a checkered floor.

The worked example of :class:`~problems.external.ExternalCommandProblem`: POV-Ray 3.7
(``povray``, Debian's package; ``make povray`` installs it) renders a small scene
written by :func:`scene_source`, its three parameters passed on the command line with
POV-Ray's ``Declare=NAME=VALUE`` options, at 32 x 32 pixels without antialiasing.
Making the problem raises :class:`~blackbox_opt.MissingDependencyError` when
``povray`` is not on ``PATH``; importing this module does not need it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from blackbox_opt.space import Real, Space
from blackbox_opt.utils import check_int

from .external import ExternalCommandProblem

__all__ = ["POVRAY_INSTALL_HINT", "PovraySpheres", "scene_source"]

#: How to install POV-Ray, for the error raised when ``povray`` is missing.
POVRAY_INSTALL_HINT = (
    "Install POV-Ray 3.7 with `make povray` in a checkout of blackbox-opt (as root it "
    "runs apt-get), or `sudo apt-get install povray` on Debian and Ubuntu."
)

#: The scene's parameters: POV-Ray identifier, lower and upper bound, start, target.
_PARAMETERS = {
    "x": ("SphereX", -1.5, 1.5, -1.0, 0.35),
    "z": ("SphereZ", -1.0, 2.0, 1.6, 0.2),
    "radius": ("SphereR", 0.2, 0.8, 0.3, 0.55),
}


def scene_source() -> str:
    """The POV-Ray 3.7 scene of :class:`PovraySpheres`, as the text of a ``.pov`` file.

    The red sphere's parameters are the identifiers ``SphereX``, ``SphereZ`` and
    ``SphereR``, declared on the command line (``Declare=SphereX=0.35``); each has a
    default (``#ifndef``) so the file also renders on its own.

    Returns
    -------
    str

    Examples
    --------
    >>> source = scene_source()
    >>> source.splitlines()[0]
    '#version 3.7;'
    >>> "#ifndef (SphereR)" in source
    True
    """
    defaults = "\n".join(
        f"#ifndef ({ident}) #declare {ident} = {start!r}; #end"
        for ident, _, _, start, _ in _PARAMETERS.values()
    )
    return f"""#version 3.7;
// A red sphere of radius SphereR resting on a checkered floor at (SphereX, SphereZ),
// beside a fixed blue sphere, lit by one point light (hard shadows).
{defaults}
global_settings {{ assumed_gamma 1.0 }}
camera {{
  location <0, 2.2, -4.5> look_at <0, 0.45, 0.5> angle 48
  right x * image_width / image_height
}}
light_source {{ <-3, 5, -3> color rgb 1 }}
background {{ color rgb <0.55, 0.65, 0.85> }}
plane {{
  y, 0
  pigment {{ checker color rgb 0.85 color rgb 0.25 scale 0.75 }}
  finish {{ diffuse 0.8 ambient 0.12 }}
}}
sphere {{
  <SphereX, SphereR, SphereZ>, SphereR
  pigment {{ color rgb <0.9, 0.12, 0.08> }}
  finish {{ diffuse 0.75 ambient 0.12 phong 0.3 }}
}}
sphere {{
  <1.1, 0.45, 1.0>, 0.45
  pigment {{ color rgb <0.1, 0.3, 0.9> }}
  finish {{ diffuse 0.75 ambient 0.12 }}
}}
"""


class PovraySpheres(ExternalCommandProblem):
    """Place a red sphere so that POV-Ray's render matches the target (3 parameters).

    A pinhole camera looks down at a checkered floor lit by one point light. A blue
    sphere of radius 0.45 stands at ``(1.1, 1.0)`` on the floor; a red sphere rests on
    the floor at ``(x, z)`` (the horizontal position in ``[-1.5, 1.5]`` and the depth
    in ``[-1, 2]``, larger is further away) with radius ``radius`` in ``[0.2, 0.8]``,
    casting a hard shadow. The start puts a small sphere far left and behind,
    ``(x, z, radius) = (-1.0, 1.6, 0.3)``; the target is ``(0.35, 0.2, 0.55)``, a larger
    sphere in front, partly overlapping the blue one as seen from the camera.

    Every point is one run of ``povray`` (:func:`scene_source` is written into the
    point's working directory) at ``res x res`` pixels, without antialiasing, with one
    render thread, 8-bit PNG output. The loss is the image MSE to the render at the
    target. POV-Ray's renders are deterministic, pixel for pixel, so the loss at the
    target is exactly 0 (``f_opt``). Without antialiasing each pixel is a single ray:
    the loss is piecewise constant, flat wherever a change of the parameters moves no
    edge across a pixel centre.

    One render takes about 0.7 s at 32 x 32 on a 2-core machine, nearly all of it
    POV-Ray waiting on its own threads (0.02 s of CPU time), so ``jobs``
    renders of a batch run at once in this process by default: a batch of 4 takes
    about as long as one render. An evaluator (``ProcessPoolEvaluator``) adds
    worker processes on top.

    Parameters
    ----------
    res : int, default=32
        Image side in pixels.
    x0 : dict or array-like, optional
        The start (default above).
    target_params : dict or array-like, optional
        The target (default above).
    jobs : int, default=4
        Renders of a batch run at once (see
        :class:`~problems.external.ExternalCommandProblem`).
    timeout : float, default=60.0
        Seconds one render may take.
    keep_failed : bool, default=False
        Keep the working directories of failed renders.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Raises
    ------
    MissingDependencyError
        When ``povray`` is not on ``PATH``; the message says to run ``make povray``
        or ``apt-get install povray``.

    Examples
    --------
    >>> p = PovraySpheres(res=16)  # doctest: +SKIP
    >>> float(p(p.x_opt)), float(p(p.x0)) > 0.01  # doctest: +SKIP
    (0.0, True)
    >>> p.render(p.x0).shape  # doctest: +SKIP
    torch.Size([16, 16, 3])
    """

    id = "povray-spheres"
    version: ClassVar[int] = 1
    default_dim: ClassVar[int] = 3
    tags: ClassVar[tuple[str, ...]] = ("plateau", "image", "external")
    requires: ClassVar[tuple[str, ...]] = ("povray",)

    def __init__(
        self,
        res: int = 32,
        *,
        x0: Any = None,
        target_params: Any = None,
        jobs: int = 4,
        timeout: float = 60.0,
        keep_failed: bool = False,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        res = check_int(res, "res", 2)
        space = Space(
            {
                name: Real(low, high, init=start)
                for name, (_, low, high, start, _) in _PARAMETERS.items()
            }
        )
        command = [
            "povray",
            "+Iscene.pov",
            "+O{output}",
            f"+W{res}",
            f"+H{res}",
            "-A",  # no antialiasing: one ray per pixel
            "-D",  # no display window
            "+FN",  # PNG, 8 bits
            "+WT1",  # one render thread: `jobs` renders share the cores
            "-V",  # no progress lines
            "-GS",  # no statistics (the banner still goes to stderr)
            "-GR",
            "-GD",
            *(f"Declare={ident}={{{name}}}" for name, (ident, *_) in _PARAMETERS.items()),
        ]
        if target_params is None:
            target_params = {name: spec[4] for name, spec in _PARAMETERS.items()}
        super().__init__(
            command,
            space,
            output="render.png",
            target_params=target_params,
            x0=x0,
            timeout=timeout,
            keep_failed=keep_failed,
            files={"scene.pov": scene_source()},
            jobs=jobs,
            install_hint=POVRAY_INSTALL_HINT,
            f_opt=0.0,
            dtype=dtype,
            device=device,
        )
        self.requires = type(self).requires
        self.res = res

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, res={self.res}"
