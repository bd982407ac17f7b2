"""The task registry: the papers' problems, registered by id.

Problems register through the ``blackbox_opt.problems`` entry-point group (see
``pyproject.toml``), so ``blackbox_opt.minimize("rect", ...)`` finds them without the
library importing this package, and third-party packages can add their own the same way.

Examples
--------
>>> import problems
>>> p = problems.make("rosenbrock", dim=3)
>>> p.dim
3
>>> float(p(p.x_opt))
0.0
"""

from blackbox_opt.api import list_problems as list
from blackbox_opt.api import make_problem as make
from blackbox_opt.api import register_problem as register

__all__ = ["list", "make", "register"]
