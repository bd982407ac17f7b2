"""
Scaling out: the batches on two Dask workers, the same run, sooner
==================================================================

A renderer that takes a fixed time per image is stood for by
:class:`~blackbox_opt.testing.remote.SlowSphere`, which sleeps 30 ms per point. CMA-ES
runs on it twice with the same seed: in this process, then with its batches of 16
points split over the two workers of a Dask ``LocalCluster``. Each worker builds the
problem once; the optimiser stays here. The two runs are the same bit for bit; the
second renders its batches in half the time, plus Dask's round trip per batch and the
monitoring of the mean (one point per iteration). See :doc:`/scaling_out` for remote
schedulers, HPC clusters and GPU workers.
"""

import time

import matplotlib.pyplot as plt
import torch

from blackbox_opt import minimize
from blackbox_opt.evaluators import DaskEvaluator, ProblemSpec, worker_problems
from blackbox_opt.testing.remote import SlowSphere

torch.set_num_threads(1)
settings = dict(method="cmaes", popsize=16, budget=160, random_state=0, verbose=False)
slow = dict(dim=6, delay=0.03, noise=0.05)

# %%
# In this process
# ---------------
#
# The Dask workers are new processes that may import this script again: what must run
# once is guarded.

if __name__ == "__main__":
    t0 = time.perf_counter()
    serial = minimize(SlowSphere(**slow), **settings)
    serial_time = time.perf_counter() - t0
    print(f"serial: best loss {serial.fun:.4f} in {serial_time:.2f} s")

# %%
# On two workers
# --------------
#
# ``evaluator.wrap`` sends a :class:`~blackbox_opt.evaluators.ProblemSpec` (the class
# and its options) to each worker, which builds the problem from it. Starting the
# cluster and the first build are set-up, outside the timed run.

if __name__ == "__main__":
    with DaskEvaluator(n_workers=2) as evaluator:
        problem = evaluator.wrap(ProblemSpec(SlowSphere, **slow))
        t0 = time.perf_counter()
        dask = minimize(problem, **settings)
        dask_time = time.perf_counter() - t0
        builds = [
            s["builds"] for w in evaluator.client.run(worker_problems).values() for s in w.values()
        ]
    print(f"2 workers: best loss {dask.fun:.4f} in {dask_time:.2f} s")
    print("builds per worker:", builds)
    print("same run:", torch.equal(serial.x, dask.x) and serial.fun == dask.fun)

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.2))
    for result, label, style in ((serial, "serial", "-"), (dask, "2 Dask workers", "--")):
        ax0.plot(result.history["nfev"], result.history["best"], style, label=label)
    ax0.set(xlabel="evaluations", ylabel="best loss", yscale="log", title="the same run")
    ax0.legend()
    ax1.bar(["serial", "2 workers"], [serial_time, dask_time], color=["C0", "C1"])
    ax1.set(ylabel="seconds", title=f"{dask_time / serial_time:.0%} of the serial time")
    fig.tight_layout()
    plt.show()
