"""The airspeed velocity (asv) suite: speed, memory and quality across commits.

Run from the repository root, in an environment where the package is installed::

    asv machine --yes
    asv run --python=same            # this checkout
    asv run --python=same --quick    # each benchmark once (a smoke test)

``time_*`` benchmarks time one iteration of each method at D = 10, 1,024 and 35,152
and one batched evaluation of each problem; ``peakmem_*`` measure ZeroGrads' memory at
large D; ``track_*`` record each method's final loss on a quick budget, so that quality
regressions show across commits as well as slow-downs.
"""
