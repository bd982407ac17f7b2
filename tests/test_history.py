"""The history of a run: its columns, and the iterates kept with ``record_x``."""

import csv

import numpy as np
import pytest
import torch

import blackbox_opt
from blackbox_opt import SPSA, History
from blackbox_opt.result import HISTORY_COLUMNS


@pytest.mark.parametrize("method", ["spsa", "cmaes", "random", "prdpt"])
@pytest.mark.parametrize("monitor", [True, False])
def test_record_x_keeps_the_start_and_every_iterate(method, monitor):
    res = blackbox_opt.minimize(
        "rosenbrock",
        method=method,
        budget=120,
        random_state=0,
        verbose=False,
        record_x=True,
        monitor=monitor,
    )
    X = res.history.x
    assert X.shape == (res.nit + 1, 2) and len(res.history) == res.nit + 1
    assert np.array_equal(X[0], [-1.2, 1.0])  # the start
    assert np.allclose(X[-1], res.x_last.numpy())  # the last iterate
    assert not np.isnan(X).any()
    assert len({tuple(row) for row in X}) > 1  # the iterate moved


def test_record_x_does_not_change_the_run_and_is_off_by_default():
    common = dict(method="spsa", budget=200, random_state=3, verbose=False)
    plain = blackbox_opt.minimize("rosenbrock", **common)
    kept = blackbox_opt.minimize("rosenbrock", record_x=True, **common)
    assert plain.fun == kept.fun and plain.nfev == kept.nfev
    assert np.array_equal(plain.history["best"], kept.history["best"])
    assert kept.history.columns == plain.history.columns  # x is not a scalar column
    assert not plain.history.has_x and kept.history.has_x
    with pytest.raises(KeyError, match="record_x=True"):
        plain.history.x


def test_the_iterates_of_the_path_are_those_of_the_method():
    seen = []
    SPSA(random_state=0, max_iter=15, verbose=False, record_x=True).fit(
        blackbox_opt.make_problem("rosenbrock"),
        callback=lambda r: seen.append(r.x_last.numpy().copy()),
    )
    opt = SPSA(random_state=0, max_iter=15, verbose=False, record_x=True)
    opt.fit(blackbox_opt.make_problem("rosenbrock"))
    assert np.allclose(opt.result_.history.x[1:], np.stack(seen))


def test_iterates_go_to_csv_and_survive_a_round_trip(tmp_path):
    res = blackbox_opt.minimize(
        "sphere", method="spsa", dim=3, budget=40, random_state=0, verbose=False, record_x=True
    )
    path = tmp_path / "h.csv"
    res.history.to_csv(str(path))
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == (*HISTORY_COLUMNS, "x_0", "x_1", "x_2")
    assert np.allclose([[float(v) for v in r[-3:]] for r in rows[1:]], res.history.x)

    again = History.from_dict(res.history.to_dict())
    assert np.array_equal(again.x, res.history.x)
    assert np.array_equal(again["best"], res.history["best"])


def test_a_resumed_run_keeps_the_iterates_it_recorded(tmp_path):
    problem = blackbox_opt.make_problem("rosenbrock")
    full = SPSA(random_state=0, max_iter=20, verbose=False, record_x=True).fit(problem)
    first = SPSA(random_state=0, max_iter=20, verbose=False, record_x=True)

    def stop_at_8(result):
        if result.nit == 8:
            raise StopIteration

    first.fit(problem, callback=stop_at_8)
    assert first.result_.history.x.shape == (9, 2)
    resumed = SPSA(random_state=0, max_iter=20, verbose=False, record_x=True)
    resumed.load_state_dict(first.state_dict())
    resumed.fit(problem)
    assert np.allclose(resumed.result_.history.x, full.result_.history.x)


def test_rows_without_an_iterate_are_nan():
    h = History()
    h.append(nit=0, nfev=0, best=1.0, x=torch.tensor([1.0, 2.0]))
    h.append(nit=1, nfev=2, best=0.5)
    assert np.array_equal(h.x[0], [1.0, 2.0]) and np.isnan(h.x[1]).all()
    assert np.array_equal(h["x"], h.x, equal_nan=True)
    with pytest.raises(KeyError, match="Unknown history column 'xx'"):
        h["xx"]
