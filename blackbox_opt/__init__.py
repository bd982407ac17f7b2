"""blackbox-opt: optimisers for graphics problems without useful gradients.

The front door is :func:`minimize`; each method is also an estimator class with
``fit``/``ask``/``tell``. Problems follow the :class:`Problem` contract.
"""

from . import optimizers
from .api import (
    get_method,
    list_methods,
    list_problems,
    make_problem,
    minimize,
    register_method,
    register_problem,
)
from .compare import Comparison, compare
from .exceptions import (
    BlackboxOptError,
    BlackboxOptWarning,
    CallbackError,
    ClusterError,
    EvaluationError,
    InsufficientMemoryError,
    InvalidParameterError,
    MethodError,
    MissingDependencyError,
    NotDifferentiableError,
    NotFittedError,
    PointsFailedError,
    UnknownNameError,
    UnsupportedProblemError,
)
from .meta import MetaInitializer, MetaSGD, ProblemFamily
from .optimizers.autodiff import Autodiff
from .optimizers.base import BaseOptimizer
from .optimizers.cmaes import CMAES
from .optimizers.finite_differences import FiniteDifferences
from .optimizers.nevergrad import Nevergrad
from .optimizers.prdpt import PRDPT
from .optimizers.random_search import RandomSearch
from .optimizers.spsa import SPSA
from .optimizers.zerograds import ZeroGrads
from .problem import FunctionProblem, Problem
from .result import History, OptimizeResult, Status
from .smoothing import smooth
from .space import Array, Categorical, Fixed, Integer, Real, Space

#: The package version.
__version__ = "0.1.0"

__all__ = [
    "CMAES",
    "PRDPT",
    "SPSA",
    "Array",
    "Autodiff",
    "BaseOptimizer",
    "BlackboxOptError",
    "BlackboxOptWarning",
    "CallbackError",
    "Categorical",
    "ClusterError",
    "Comparison",
    "EvaluationError",
    "FiniteDifferences",
    "Fixed",
    "FunctionProblem",
    "History",
    "InsufficientMemoryError",
    "Integer",
    "InvalidParameterError",
    "MetaInitializer",
    "MetaSGD",
    "MethodError",
    "MissingDependencyError",
    "Nevergrad",
    "NotDifferentiableError",
    "NotFittedError",
    "OptimizeResult",
    "PointsFailedError",
    "Problem",
    "ProblemFamily",
    "RandomSearch",
    "Real",
    "Space",
    "Status",
    "UnknownNameError",
    "UnsupportedProblemError",
    "ZeroGrads",
    "__version__",
    "compare",
    "get_method",
    "list_methods",
    "list_problems",
    "make_problem",
    "minimize",
    "optimizers",
    "register_method",
    "register_problem",
    "smooth",
]
