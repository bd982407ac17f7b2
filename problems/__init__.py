"""The task registry: the papers' problems, registered by id, and families of problems.

Problems register through the ``blackbox_opt.problems`` entry-point group (see
``pyproject.toml``), so ``blackbox_opt.minimize("rect", ...)`` finds them without the
library importing this package, and third-party packages can add their own the same way.
Families of problems for meta-learning (``texture-family``, ``brdf-family``) are made
with :func:`make_family`; :func:`list` shows problems and families.

Examples
--------
>>> import problems
>>> p = problems.make("rosenbrock", dim=3)
>>> p.dim
3
>>> float(p(p.x_opt))
0.0
>>> "brdf-family" in [row["id"] for row in problems.list()]
True
"""

from blackbox_opt.api import list_problems as _list_problems
from blackbox_opt.api import make_problem as make
from blackbox_opt.api import register_problem as register
from blackbox_opt.registry import Table

from .families import list_families, make_family

__all__ = ["list", "list_families", "make", "make_family", "register"]


def list() -> Table:
    """A table of the registered problems, then the problem families.

    Columns: ``id``, ``dim`` (at the defaults), ``tags`` (families carry ``family``),
    ``cost``, ``differentiable``, ``version`` and ``requires``.

    Returns
    -------
    Table
    """
    return Table([*_list_problems(), *list_families()])
