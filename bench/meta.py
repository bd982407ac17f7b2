"""``python -m bench meta``: meta-learned initialisation against training from scratch.

For each family (``texture-family``, ``brdf-family``) this meta-trains a
:class:`~blackbox_opt.MetaInitializer` on the training members and measures, on the
held-out test members:

- the acceptance factor: the Adam steps from a standard random start needed to reach
  the loss that the meta-learned model reaches after ``k = 10`` Meta-SGD steps, divided
  by ``k``, for each learning rate of a small grid (the best of the grid is the
  honest comparison);
- the four regimes of Metappearance's quality-speed figure: *general* (one model
  fitted to all training members, no adaptation), *overfit* (Adam from a random start,
  long), *fine-tuned* (the general model plus Adam steps) and *meta-learned* (the meta
  start plus Meta-SGD steps), as loss against steps and against wall time. A step's
  wall time is measured on one member without monitoring, median of repeated steps;
- with ``--blackbox``, the black-box inner loop: FOMAML whose inner gradient is a
  PRDPT estimate, against PRDPT from a random start.

The settings (families, scales, the meta-learner, Adam's steps and learning rates) are
those of the ``meta`` experiment of :mod:`bench.experiments`.

Everything is written under ``--out`` (default ``results/meta``): ``curves.csv``
(family, regime, member, step, time, loss), ``factor.csv``, ``regimes.csv``,
``meta_training.csv``, ``blackbox.csv``, ``summary.md`` and ``regimes.png``.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from .experiments import Experiment, get_experiment

__all__ = ["adam_curves", "run_meta", "step_time"]


def _checkpoints(steps: int) -> list[int]:
    """Every step up to 200, every 5th to 1000, every 20th beyond."""
    marks = set(range(min(steps, 200) + 1))
    marks |= set(range(200, min(steps, 1000) + 1, 5)) | set(range(1000, steps + 1, 20))
    marks.add(steps)
    return sorted(marks)


def adam_curves(
    family, x0: torch.Tensor, lr: float, steps: int, *, seed: int, split: str = "test"
) -> tuple[list[int], torch.Tensor]:
    """Adam from ``x0`` (one row per member of ``split``), monitored at checkpoints.

    The members are stacked into one ``(T, D)`` tensor and one Adam: Adam acts element by
    element and the members' losses are summed, so this is T independent runs in one
    vectorised pass. Each step sees a training draw (a minibatch for BRDFs); the
    recorded loss is the member's deterministic loss.

    Returns
    -------
    steps : list of int
    losses : torch.Tensor of shape (len(steps), T)
    """
    index = torch.arange(family.size(split))
    generator = torch.Generator().manual_seed(seed)
    marks = _checkpoints(steps)
    wanted = set(marks)
    x = x0.detach().clone().requires_grad_(True)
    adam = torch.optim.Adam([x], lr=lr)
    rows = []
    for step in range(steps + 1):
        if step in wanted:
            with torch.no_grad():
                rows.append(family.losses(x.detach(), index, split=split))
        if step == steps:
            break
        adam.zero_grad(set_to_none=True)
        family.losses(x, index, split=split, generator=generator).sum().backward()
        adam.step()
    return marks, torch.stack(rows)


def fit_general(family, steps: int, lr: float, *, seed: int, batch: int = 5) -> torch.Tensor:
    """One model for all training members: Adam on the mean loss of random members."""
    generator = torch.Generator().manual_seed(seed)
    x = family.init_weights(generator).requires_grad_(True)
    adam = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        index = torch.randint(0, family.n_train, (batch,), generator=generator)
        adam.zero_grad(set_to_none=True)
        family.losses(x[None].expand(batch, -1), index, generator=generator).mean().backward()
        adam.step()
    return x.detach()


def step_time(problem, step: str, rates: torch.Tensor | None = None, *, repeat: int = 60) -> float:
    """Median wall seconds of one training step on one member, without monitoring.

    Parameters
    ----------
    problem : Problem
        A family member.
    step : {"adam", "meta-sgd"}
    rates : torch.Tensor, optional
        The Meta-SGD rates.
    """
    generator = torch.Generator().manual_seed(0)
    x = problem.x0.clone().requires_grad_(True)
    adam = torch.optim.Adam([x], lr=1e-3)
    train = getattr(problem, "training_loss", None)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        loss = train(x[None], generator) if train is not None else problem.evaluate(x[None])
        (grad,) = torch.autograd.grad(loss.sum(), x)
        if step == "adam":
            x.grad = grad
            adam.step()
        else:
            with torch.no_grad():
                x.sub_(rates * grad)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[repeat // 4 :])


def _crossing(marks: list[int], curve: torch.Tensor, target: float) -> int | None:
    below = (curve <= target).nonzero()
    return marks[int(below[0])] if below.numel() else None


def _family_run(experiment: Experiment, scale: str, name: str, out: str, seed: int, log) -> dict:
    import problems
    from blackbox_opt import MetaInitializer

    settings = experiment.settings[scale][name]
    adam_steps = experiment.iterations(scale, "adam", name)
    k = settings["meta"]["inner_steps"]
    spec = {s.label: s for s in experiment.problem_specs(scale)}[name]
    family = problems.make_family(spec.id, **spec.options, **settings["family"], seed=seed)
    meta = MetaInitializer(**settings["meta"], random_state=seed, verbose=False)
    meta.fit(family)
    log(
        f"{name}: meta-training {meta.fit_time_:.1f} s, {meta.n_outer_steps_} outer steps, "
        f"final meta-loss {meta.history_['loss'][-1]:.4g}"
    )
    torch.save(meta.state_dict(), os.path.join(out, f"{name}.pt"))
    hist = meta.history_
    training = [
        dict(family=name, epoch=int(e), time=t, loss=v)
        for e, t, v in zip(hist["nit"], hist["time"], hist["loss"])
    ]

    n_test = family.size("test")
    meta_curve = meta.adaptation_losses(family, "test", k, random_state=seed)  # (k+1, T)
    target = meta_curve[-1]
    g = torch.Generator().manual_seed(seed + 1)
    starts = torch.stack([family.init_weights(g) for _ in range(n_test)])
    factor_rows, best = [], None
    for lr in settings["adam_lrs"]:
        marks, curve = adam_curves(family, starts, lr, adam_steps, seed=seed)
        needed = [_crossing(marks, curve[:, t], float(target[t])) for t in range(n_test)]
        for t in range(n_test):
            factor_rows.append(
                dict(
                    family=name,
                    adam_lr=lr,
                    member=t,
                    meta_loss=float(target[t]),
                    adam_steps=needed[t],
                    adam_budget=adam_steps,
                    factor=None if needed[t] is None else needed[t] / k,
                    adam_final=float(curve[-1, t]),
                )
            )
        final = float(curve[-1].mean())
        if best is None or final < best[1]:
            best = (lr, final, marks, curve)
    lr_best, _, marks, overfit = best

    general = fit_general(family, settings["general_steps"], lr_best, seed=seed)
    member = family.member(0, "test")
    t_adam = step_time(member, "adam")
    t_meta = step_time(member, "meta-sgd", meta.lr_)
    fine_marks, fine = adam_curves(
        family, general[None].repeat(n_test, 1), lr_best, 10 * k, seed=seed
    )
    curves = []

    def add(regime: str, steps: list[int], losses: torch.Tensor, per_step: float) -> None:
        for i, s in enumerate(steps):
            for t in range(n_test):
                curves.append(
                    dict(
                        family=name,
                        regime=regime,
                        member=t,
                        step=s,
                        time=s * per_step,
                        loss=float(losses[i, t]),
                    )
                )

    add("general", [0], fine[:1], 0.0)
    add("overfit", marks, overfit, t_adam)
    add("fine-tuned", fine_marks, fine, t_adam)
    add("meta-learned", list(range(k + 1)), meta_curve, t_meta)

    def at(regime: str, step: int) -> float:
        values = [r["loss"] for r in curves if r["regime"] == regime and r["step"] == step]
        return statistics.mean(values)

    last = adam_steps
    regimes = [
        dict(family=name, regime="general", steps=0, time_s=0.0, loss=at("general", 0)),
        dict(
            family=name,
            regime="overfit",
            steps=last,
            time_s=last * t_adam,
            loss=at("overfit", last),
        ),
        dict(
            family=name, regime="fine-tuned", steps=k, time_s=k * t_adam, loss=at("fine-tuned", k)
        ),
        dict(
            family=name,
            regime="meta-learned",
            steps=k,
            time_s=k * t_meta,
            loss=at("meta-learned", k),
        ),
    ]
    return dict(
        training=training,
        factor=factor_rows,
        curves=curves,
        regimes=regimes,
        lr_best=lr_best,
        fit_time=meta.fit_time_,
        outer_steps=meta.n_outer_steps_,
    )


def _blackbox_run(experiment: Experiment, scale: str, seed: int, log) -> list[dict]:
    """FOMAML with PRDPT's inner gradient estimate against PRDPT from a random start."""
    import problems
    from blackbox_opt import MetaInitializer, minimize

    name = "brdf-family"
    settings = experiment.settings[scale][name]["blackbox"]
    family = problems.make_family(name, **settings["family"], seed=seed)
    prdpt = experiment.params("prdpt", name)
    # the inner loop steps with the meta-learned rates: prdpt's own lr is not used there
    options = {key: value for key, value in prdpt.items() if key != "lr"}
    k = settings["meta"]["inner_steps"]
    meta = MetaInitializer(
        **{**settings["meta"], "inner_lr_init": settings["inner_lr_init"]},
        inner_method="prdpt",
        inner_options=options,
        random_state=seed,
        verbose=False,
    )
    meta.fit(family)
    log(f"black-box FOMAML (prdpt inner): {meta.fit_time_:.1f} s, {meta.nfev_} evaluations")
    exact = MetaInitializer(**settings["meta"], random_state=seed, verbose=False).fit(family)
    g = torch.Generator().manual_seed(seed + 1)
    rows = []
    long = experiment.iterations(scale, "prdpt", name)
    for t in range(family.size("test")):
        problem = family.member(t, "test")
        adapted = meta.adapt(problem, k)
        start = family.init_weights(g)
        res = minimize(
            problem, "prdpt", x0=start, max_iter=long, random_state=seed, verbose=False, **prdpt
        )
        curve = res.history["loss"]
        meta_loss = float(adapted.history["loss"][-1])
        below = [i for i, v in enumerate(curve) if v <= meta_loss]
        rows.append(
            dict(
                member=t,
                meta_prdpt_start=float(adapted.history["loss"][0]),
                meta_prdpt_k=meta_loss,
                prdpt_random_k=float(curve[k]),
                prdpt_random_final=float(curve[-1]),
                prdpt_random_iterations=long,
                prdpt_iterations_to_match=below[0] if below else None,
                exact_meta_k=float(exact.adapt(problem, k).history["loss"][-1]),
                fit_time_s=meta.fit_time_,
            )
        )
    return rows


def _write_csv(path: str, rows: list[dict]) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)


def _figure(curves: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(curves)
    mean = frame.groupby(["family", "regime", "step"], as_index=False)[["time", "loss"]].mean()
    families = sorted(mean["family"].unique())
    fig, axes = plt.subplots(len(families), 2, figsize=(10, 3.6 * len(families)), squeeze=False)
    colours = {"general": "C0", "overfit": "C1", "fine-tuned": "C2", "meta-learned": "C3"}
    for row, name in enumerate(families):
        for col, x in enumerate(("step", "time")):
            ax = axes[row, col]
            for regime, colour in colours.items():
                part = mean[(mean["family"] == name) & (mean["regime"] == regime)]
                if regime == "general":
                    ax.axhline(float(part["loss"].iloc[0]), color=colour, ls="--", label=regime)
                    continue
                part = part[part[x] > 0] if x == "time" else part.assign(step=part["step"] + 1)
                ax.plot(part[x], part["loss"], color=colour, label=regime)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("steps + 1" if x == "step" else "wall time per member (s)")
            ax.set_ylabel("test loss (mean over members)")
            ax.set_title(f"{name}: loss against {'steps' if x == 'step' else 'wall time'}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_meta(
    out: str = "results/meta",
    *,
    scale: str = "quick",
    families: list[str] | None = None,
    blackbox: bool = True,
    seed: int = 0,
    threads: int | None = 1,
) -> dict:
    """Run the meta-learning benchmark and write its tables and figure to ``out``.

    Parameters
    ----------
    out : str, default="results/meta"
    scale : {"smoke", "quick"}, default="quick"
        ``smoke`` checks that everything runs in seconds; ``quick`` is the acceptance
        scale (a few minutes of meta-training per family on a 2-core CPU).
    families : list of str, optional
        Default: both families.
    blackbox : bool, default=True
        Also run the black-box inner loop experiment.
    seed : int, default=0
    threads : int, optional
        torch intra-op threads (default 1: these kernels are small).

    Returns
    -------
    dict
        The rows written, by table.
    """
    experiment = get_experiment("meta")
    if scale not in experiment.scales:
        raise ValueError(f"scale must be one of {sorted(experiment.scales)}; got {scale!r}.")
    known = sorted(spec.label for spec in experiment.problem_specs(scale))
    families = families or known
    unknown = sorted(set(families) - set(known))
    if unknown:
        raise ValueError(f"unknown families {unknown}; choose from {known}.")
    if threads is not None:
        torch.set_num_threads(threads)
    os.makedirs(out, exist_ok=True)
    tables: dict[str, list] = {"training": [], "factor": [], "curves": [], "regimes": []}
    lines = [f"# Meta-learned initialisation ({scale} scale, seed {seed})", ""]

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(f"- {text}")

    for name in families:
        result = _family_run(experiment, scale, name, out, seed, log)
        for key in tables:
            tables[key].extend(result[key])
        factors = result["factor"]
        settings = experiment.settings[scale][name]
        k = settings["meta"]["inner_steps"]
        for lr in settings["adam_lrs"]:
            rows = [r for r in factors if r["adam_lr"] == lr]
            steps = [r["adam_steps"] for r in rows]
            reached = [s for s in steps if s is not None]
            budget = rows[0]["adam_budget"]
            text = (
                f"{name}: Adam lr {lr:g} reaches the meta-learned k={k} loss in "
                f"{len(reached)}/{len(rows)} members within {budget} steps"
            )
            if reached:
                text += f"; median steps {statistics.median(reached):g} (factor "
                text += f"{statistics.median(reached) / k:g}, min {min(reached) / k:g})"
            log(text)
        for r in result["regimes"]:
            log(
                f"{name}: {r['regime']:12s} steps {r['steps']:5d}  time {r['time_s']:.3g} s  "
                f"loss {r['loss']:.4g}"
            )
    _write_csv(os.path.join(out, "meta_training.csv"), tables["training"])
    _write_csv(os.path.join(out, "factor.csv"), tables["factor"])
    _write_csv(os.path.join(out, "curves.csv"), tables["curves"])
    _write_csv(os.path.join(out, "regimes.csv"), tables["regimes"])
    _figure(tables["curves"], os.path.join(out, "regimes.png"))
    if blackbox:
        rows = _blackbox_run(experiment, scale, seed, log)
        tables["blackbox"] = rows
        _write_csv(os.path.join(out, "blackbox.csv"), rows)
        for r in rows:
            log(
                f"black-box member {r['member']}: meta+prdpt after 10 it "
                f"{r['meta_prdpt_k']:.4g} (start {r['meta_prdpt_start']:.4g}); prdpt from "
                f"random after 10 it {r['prdpt_random_k']:.4g}, after "
                f"{r['prdpt_random_iterations']} it {r['prdpt_random_final']:.4g} "
                f"(matches at {r['prdpt_iterations_to_match']}); exact meta "
                f"{r['exact_meta_k']:.4g}"
            )
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return tables
