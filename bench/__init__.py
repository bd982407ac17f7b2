"""The blackbox-opt benchmark (run from the repository root as ``python -m bench``).

For now it holds a small demo (:mod:`bench.demo`): the gradient-free methods and the
Adam baseline on the toy problems. It grows into the full benchmark.
"""

__all__ = ["demo"]
