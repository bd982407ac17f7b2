"""
An external renderer: a thread pool, results out of order, a crash, a resume
============================================================================

Many renderers cannot be called from Python in a loop: a command-line tool, Blender in
its own process, a render farm. This example writes a small "renderer" program (it
draws a soft disc into a 32 x 32 image and prints the mean squared error to a target
image), runs it as a subprocess on every point of a CMA-ES batch from a thread pool,
and tells each loss as it arrives, out of order. One frame crashes: under
``on_error="reask"`` it costs one evaluation and CMA-ES draws a new point in its place.
Half-way through, the process "goes down": the run is resumed from its last saved
state in a new optimiser and ends exactly where the uninterrupted run would have.
"""

import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from blackbox_opt import CMAES

folder = Path(tempfile.mkdtemp())
renderer = folder / "render_disc.py"
renderer.write_text(
    textwrap.dedent(
        """
        import sys
        import numpy as np

        def draw(cx, cy, r, res=32):
            y, x = np.mgrid[0:res, 0:res] / (res - 1)
            d = np.hypot(x - cx, y - cy)
            return 1.0 / (1.0 + np.exp((d - r) / 0.02))

        frame, cx, cy, r = sys.argv[1], *map(float, sys.argv[2:5])
        if frame == "crash":
            sys.exit("render node lost")  # a crashed frame: non-zero exit, no loss
        target = draw(0.65, 0.35, 0.2)
        print(float(np.mean((draw(cx, cy, r) - target) ** 2)))
        """
    )
)


def render(frame: str, x: np.ndarray) -> float:
    """Run the renderer on one point; NaN when the frame crashed."""
    done = subprocess.run(
        [sys.executable, str(renderer), frame, *map(str, x)],
        capture_output=True,
        text=True,
        check=False,
    )
    return float(done.stdout) if done.returncode == 0 else float("nan")


# %%
# Ask, render on a pool, tell as results arrive
# ---------------------------------------------
# ``tell`` matches each point to the batch by its values, so results can come back in
# any order and one at a time; the method steps when the batch is complete. A NaN is a
# failed frame: the next ``ask()`` returns the replacement point (or, with nothing
# failed, the points still waiting; here, none).

x0, bounds = [0.3, 0.6, 0.1], ([0.0, 0.0, 0.02], [1.0, 1.0, 0.5])
settings = dict(sigma0=0.2, random_state=1, on_error="reask", verbose=False)
frames = iter(range(10**6))
arrival_order = []


def run_batches(optimizer, n_batches, crash_at=None):
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(n_batches):
            X = optimizer.ask()
            while True:
                jobs = {}
                for row in X.numpy():
                    frame = next(frames)
                    name = "crash" if frame == crash_at else str(frame)
                    jobs[pool.submit(render, name, row)] = row
                done = [job for job in as_completed(jobs)]
                arrival_order.append([list(jobs).index(job) for job in done])
                for job in done:
                    optimizer.tell(jobs[job][None], [job.result()])
                if not optimizer.n_waiting:  # the batch is complete: CMA-ES has stepped
                    break
                X = optimizer.ask()  # the replacements of crashed frames


optimizer = CMAES(**settings).start(x0=x0, bounds=bounds)
run_batches(optimizer, 10, crash_at=13)
checkpoint = folder / "run.pt"
torch.save(optimizer.state_dict(), checkpoint)  # saved after every batch in practice
print(
    f"after 10 batches: best loss {optimizer.result().fun:.2e}, "
    f"{optimizer.result().nfail} failed frame(s), {optimizer.result().nfev} renders"
)
print("arrival order of the first batch:", arrival_order[0])

# %%
# Resume in a "new process"
# -------------------------
# A new optimiser with the same parameters loads the saved state before it starts and
# continues the saved run. Ten more batches end where twenty uninterrupted ones do.

resumed = CMAES(**settings)
resumed.load_state_dict(torch.load(checkpoint, weights_only=True))
resumed.start(x0=x0, bounds=bounds)
run_batches(resumed, 10)

straight = CMAES(**settings).start(x0=x0, bounds=bounds)
frames = iter(range(10**6))
run_batches(straight, 20, crash_at=13)
print(f"resumed: best loss {resumed.result().fun:.3e} at {resumed.result().x.numpy()}")
print(f"straight through: best loss {straight.result().fun:.3e}")
assert torch.equal(resumed.result().x, straight.result().x)

fig, ax = plt.subplots(figsize=(5, 3.2))
history = resumed.result().history
ax.semilogy(history["nfev"], history["best"], marker=".")
ax.axvline(straight.result().history["nfev"][10], color="k", ls="--", lw=1, label="resumed")
ax.set(xlabel="renders", ylabel="best loss", title="CMA-ES driving a subprocess renderer")
ax.legend()
fig.tight_layout()
