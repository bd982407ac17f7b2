"""The history of a run: its columns, and the iterates kept with ``record_x``."""

import csv
import math

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


def _reference_rows(n):
    """Rows like a run's: ints, floats, 0-d tensors, a column added part way, iterates."""
    rows = []
    for i in range(n):
        row = dict(nit=i, nfev=2 * i, nfev_monitor=1 + i // 7, time=0.01 * i)
        row["best"] = torch.tensor(1.0 / (1 + i), dtype=torch.float64)
        row["loss"] = torch.tensor(2.0 + i, dtype=torch.float32) if i % 3 == 0 else math.nan
        if i >= 600:  # a method's own column, from row 600 on
            row["restarts"] = i // 100
        if i % 2 == 0:
            row["x"] = torch.tensor([i, -i], dtype=torch.float64)
        rows.append(row)
    return rows


def test_a_long_history_reads_the_same_as_its_rows():
    # 1,300 rows: the older ones are frozen into columns, the latest kept as recorded
    rows = _reference_rows(1300)
    h = History()
    for row in rows:
        h.append(**row)
    assert len(h) == 1300 and h.columns == (*HISTORY_COLUMNS, "restarts")
    assert np.array_equal(h["nit"], np.arange(1300))
    assert np.array_equal(h["best"], [1.0 / (1 + i) for i in range(1300)])
    loss = np.array([2.0 + i if i % 3 == 0 else np.nan for i in range(1300)])
    assert np.array_equal(h["loss"], loss, equal_nan=True)
    restarts = np.array([i // 100 if i >= 600 else np.nan for i in range(1300)])
    assert np.array_equal(h["restarts"], restarts, equal_nan=True)
    assert np.isnan(h["grad_norm"]).all()
    x = np.array([[i, -i] if i % 2 == 0 else [np.nan, np.nan] for i in range(1300)])
    assert np.array_equal(h.x, x, equal_nan=True)
    # both forms of to_dict come back the same, and the last row can still be updated
    for as_tensors in (False, True):
        again = History.from_dict(h.to_dict(as_tensors=as_tensors))
        assert again.columns == h.columns and np.array_equal(again.x, x, equal_nan=True)
        for c in h.columns:
            assert np.array_equal(again[c], h[c], equal_nan=True), c
        again.update_last(loss=-1.0)
        again.append(nit=1300, nfev=2600, best=0.0)
        assert again["loss"][-2] == -1.0 and len(again) == 1301 and again["nfev"][-1] == 2600
        assert np.isnan(again.x[-1]).all() and again.x.shape == (1301, 2)
    assert [r["nit"] for r in h.rows()] == list(range(1300))
    assert h.rows()[0]["best"] == 1.0 and torch.equal(h.rows()[2]["x"], rows[2]["x"])


def test_a_long_run_is_saved_compactly_and_resumes_its_history_exactly():
    # 1,500 iterations: the history spans several frozen blocks when it is saved
    problem = blackbox_opt.make_problem("sphere", dim=2)
    full = SPSA(random_state=0, max_iter=1500, verbose=False).fit(problem)

    def stop_at_700(result):
        if result.nit == 700:
            raise StopIteration

    first = SPSA(random_state=0, max_iter=1500, verbose=False)
    first.fit(problem, callback=stop_at_700)
    saved = first.state_dict()
    history = saved["run"]["history"]
    assert all(torch.is_tensor(v) and v.dtype == torch.float64 for v in history.values())
    assert history["nit"].shape == (701,)
    resumed = SPSA(random_state=0, max_iter=1500, verbose=False)
    resumed.load_state_dict(saved)
    resumed.fit(problem)
    a, b = resumed.result_.history, full.result_.history
    assert len(a) == len(b) == 1501 and a.columns == b.columns
    for column in ("nit", "nfev", "best", "grad_norm", "sigma", "param_error"):
        assert np.array_equal(a[column], b[column], equal_nan=True), column
    assert resumed.result_.fun == full.result_.fun


def test_odd_values_of_a_methods_column_do_not_stop_a_long_run():
    # a (1,)-shaped tensor is a number; a string or a vector is kept as NaN with a
    # warning once the rows are frozen, not an error in the middle of the run
    from blackbox_opt import BlackboxOptWarning

    h = History()
    with pytest.warns(BlackboxOptWarning, match="'phase' holds a str"):
        for i in range(1200):
            x = None if i % 2 else torch.tensor([1.0, 2.0], dtype=torch.float32)
            h.append(nit=i, sigma=torch.tensor([0.5]), phase="explore", x=x)
    assert np.array_equal(h["sigma"], np.full(1200, 0.5)) and np.isnan(h["phase"]).all()
    assert h.x.shape == (1200, 2) and np.isnan(h.x[1::2]).all()
    assert np.array_equal(h.x[::2], np.tile([1.0, 2.0], (600, 1)))
    plain = History()
    plain.append(nit=0, x=None)
    assert not plain.has_x
