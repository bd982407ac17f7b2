"""Meta-learned initialisation (Metappearance): learn a start and per-parameter rates.

:class:`MetaInitializer` learns, over a :class:`ProblemFamily` of similar fitting
problems, the initial parameters and one learning rate per parameter (Meta-SGD) such
that a few plain gradient steps fit a new member of the family. :class:`MetaSGD` is
that inner step as a :mod:`torch.optim` optimiser, so that any gradient-estimating
method can take it.
"""

from .family import SPLITS, ProblemFamily
from .initializer import ALGORITHMS, DEFAULT_INNER_METHOD, MetaInitializer, MetaSGD

__all__ = [
    "ALGORITHMS",
    "DEFAULT_INNER_METHOD",
    "SPLITS",
    "MetaInitializer",
    "MetaSGD",
    "ProblemFamily",
]
