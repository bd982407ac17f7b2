"""The optimisers, one module per method, each registered by name.

Registration uses string entry points, so a method's module (and its optional
dependencies) is imported only when the method is used.
"""

from ..registry import METHODS
from .base import DEFAULT_BUDGET, BaseOptimizer, RunState
from .gradient import GradientMethod

__all__ = ["DEFAULT_BUDGET", "METHODS", "BaseOptimizer", "GradientMethod", "RunState"]

_BUILTIN = {
    "random": "blackbox_opt.optimizers.random_search:RandomSearch",
    "spsa": "blackbox_opt.optimizers.spsa:SPSA",
    "fd": "blackbox_opt.optimizers.finite_differences:FiniteDifferences",
    "adam": "blackbox_opt.optimizers.autodiff:Autodiff",
    "prdpt": "blackbox_opt.optimizers.prdpt:PRDPT",
    "zerograds": "blackbox_opt.optimizers.zerograds:ZeroGrads",
    "cmaes": "blackbox_opt.optimizers.cmaes:CMAES",
    "nevergrad": "blackbox_opt.optimizers.nevergrad:Nevergrad",
}
for _name, _entry_point in _BUILTIN.items():
    METHODS.register(_name, _entry_point)  # first: installed packages cannot shadow them
