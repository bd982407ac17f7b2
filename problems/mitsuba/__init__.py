"""Mitsuba 3 problems: the PRDPT paper's scenes, with Mitsuba's own gradients as baseline.

Five scenes built in Python with ``mi.load_dict`` (built-in shapes, generated
textures), each registered by id: ``mi-shadows``, ``mi-occlusion``, ``mi-cup``,
``mi-gi`` and ``mi-caustic``. The loss is the image MSE to a reference rendered once at
the target parameters. They need the optional dependency (``pip install
'blackbox-opt[mitsuba]'``); importing this package does not import Mitsuba, making a
problem does, and raises :class:`~blackbox_opt.MissingDependencyError` when it is
missing. :mod:`problems.mitsuba.variants` explains how the variant is chosen.

Examples
--------
>>> import problems
>>> p = problems.make("mi-shadows", res=(32, 24), spp=4)  # doctest: +SKIP
>>> p.variant, p.differentiable  # doctest: +SKIP
('llvm_ad_rgb', True)
"""

from .base import MitsubaProblem, grid_texture, to_srgb
from .scenes import Caustic, CornellGI, Cup, Occlusion, Shadows
from .variants import choose_variant, find_libllvm, load_mitsuba, probe_variant

__all__ = [
    "Caustic",
    "CornellGI",
    "Cup",
    "MitsubaProblem",
    "Occlusion",
    "Shadows",
    "choose_variant",
    "find_libllvm",
    "grid_texture",
    "load_mitsuba",
    "probe_variant",
    "to_srgb",
]
