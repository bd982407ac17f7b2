"""Parameter spaces: named real, log-scaled, integer, categorical, fixed and array parameters.

A :class:`Space` maps a point in the user's names and types (a dict such as
``{"n": 3, "colour": "red", "offset": 0.25}``) to the flat continuous vector every
method works on, and back. Each parameter owns a slice of that vector:

========================  =====================  ==========================  =========
parameter                 coordinates            flat bounds                 scale
========================  =====================  ==========================  =========
``Real(lo, hi)``          1, the value           ``[lo, hi]``                ``hi - lo``
``Real(lo, hi, log=True)``  1, ``log(value)``    ``[log lo, log hi]``        ``log(hi / lo)``
``Integer(lo, hi)``       1, rounded to decode   ``[lo - 0.5, hi + 0.5]``    ``hi - lo + 1``
``Categorical(K choices)``  K scores, argmax     ``[0, 1]`` each             1
  ``encoding="index"``    1, rounded index       ``[-0.5, K - 0.5]``         K
``Array(shape, lo, hi)``  one per element        per element                 per element
``Fixed(value)``          none                   -                           -
========================  =====================  ==========================  =========

Decoding clamps every coordinate into its bounds first, so the points that smoothing
methods probe a little outside still decode to valid values. Rounding and the argmax
are applied inside the evaluation: a method that smooths the loss with Gaussian
samples (PRDPT, ZeroGrads) sees the rounding's plateaus as slopes.

Examples
--------
>>> space = Space(
...     lr=Real(1e-4, 1e-1, log=True),
...     layers=Integer(1, 8),
...     act=Categorical(["relu", "tanh"]),
... )
>>> space.dim
4
>>> x = space.to_vector({"lr": 1e-2, "layers": 3, "act": "tanh"})
>>> x
tensor([-4.6052,  3.0000,  0.2500,  0.7500], dtype=torch.float64)
>>> params = space.from_vector(x)
>>> params["layers"], params["act"], round(params["lr"], 12)
(3, 'tanh', 0.01)
"""

from .parameters import Array, Categorical, Fixed, Integer, Parameter, Real
from .space import Space

__all__ = ["Array", "Categorical", "Fixed", "Integer", "Parameter", "Real", "Space"]
