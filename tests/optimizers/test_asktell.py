"""The ask/tell contract for external renderers, beyond the shared checks."""

import math

import numpy as np
import pytest
import torch

from blackbox_opt import CMAES, PRDPT, SPSA, InvalidParameterError, RandomSearch, minimize
from blackbox_opt.optimizers.pending import PendingBatch
from blackbox_opt.testing import quadratic_problem


def _f(X):
    return ((torch.as_tensor(X, dtype=torch.float64) - 0.3) ** 2).sum(-1)


def test_a_partial_tell_waits_for_the_rest_of_the_batch():
    o = SPSA(random_state=0).start(x0=[0.5] * 4, bounds=[[0] * 4, [1] * 4])
    X = o.ask()
    o.tell(X[:1], _f(X[:1]))
    assert o.n_waiting == 1 and o.result().nit == 0
    assert torch.isfinite(o.recommend()).all()
    assert torch.equal(o.ask(), X[1:])  # a second ask: the point still waiting
    o.tell(X[1:], _f(X[1:]))
    assert o.n_waiting == 0 and o.result().nit == 1 and torch.isfinite(o.recommend()).all()


def test_wrong_counts_and_unknown_points_are_refused_with_what_was_expected():
    o = PRDPT(n_samples=2, random_state=0).start(x0=[0.5] * 3, bounds=(0, 1))
    X = o.ask()
    with pytest.raises(InvalidParameterError, match=r"one loss per point, shape \(4,\)"):
        o.tell(X, [0.1])
    with pytest.raises(InvalidParameterError, match="not a point of the pending batch"):
        o.tell(torch.rand(1, 3, dtype=X.dtype), [0.1])
    with pytest.raises(InvalidParameterError, match="number"):
        o.tell(X[:1], np.array(["0.1"]))
    with pytest.raises(InvalidParameterError, match="real losses"):
        o.tell(X[:1], torch.tensor([True]))
    # a lost frame told as None: the message names it and its row, and says NaN
    with pytest.raises(InvalidParameterError, match="NaN for a failed.*None at row 1"):
        o.tell(X[:2], [0.1, None])
    o.tell(X.numpy().tolist(), _f(X).tolist())  # a round trip through Python floats matches
    assert o.result().nit == 1


def test_the_result_counts_told_points_of_an_incomplete_batch():
    o = RandomSearch(batch_size=8, random_state=0).start(x0=[0.0, 0.0], bounds=(-1, 1))
    X = o.ask()
    y = _f(X)
    i = int(torch.argmin(y))
    o.tell(X[i : i + 1], y[i : i + 1])
    res = o.result()
    assert torch.equal(res.x, X[i]) and res.fun == float(y[i]) and res.nfev == 1


def test_ask_n_where_the_method_chooses_its_batch():
    r = RandomSearch(random_state=0).start(x0=[0.0] * 2, bounds=(-1, 1))
    assert r.ask(5).shape == (5, 2)
    c = CMAES(random_state=0).start(x0=[0.5] * 4, bounds=(0, 1))  # population 8, mu 4
    with pytest.raises(InvalidParameterError, match="4 to 8 points"):
        c.ask(3)
    X = c.ask(6)
    c.tell(X, _f(X))
    assert c.result().nit == 1
    with pytest.raises(InvalidParameterError, match="without n"):
        SPSA(random_state=0).start(x0=[0.5] * 2).ask(4)


def test_repeated_points_in_a_batch_take_one_loss_each():
    X = torch.tensor([[0.0, 1.0], [0.5, 0.5], [0.0, 1.0]])
    batch = PendingBatch(X)
    first = batch.match(X[:1])
    batch.fill(first, torch.tensor([1.0]))
    second = batch.match(X[2:3])  # the same values: the other row of them
    assert {int(first), int(second)} == {0, 2}
    batch.fill(second, torch.tensor([2.0]))
    with pytest.raises(InvalidParameterError, match="told already"):
        batch.match(X[:1])
    both = PendingBatch(X).match(torch.stack([X[0], X[0]]))
    assert sorted(both.tolist()) == [0, 2]
    with pytest.raises(InvalidParameterError, match="told already"):
        PendingBatch(X).match(torch.stack([X[0], X[0], X[0]]))


def test_a_budget_that_cannot_pay_one_iteration_is_an_error_before_any_evaluation():
    calls = []

    def f(x):
        calls.append(x)
        return float(np.sum(x**2))

    with pytest.raises(InvalidParameterError, match="cannot pay for one iteration.*4 points"):
        minimize(f, method="prdpt", x0=[0.5] * 4, budget=3, verbose=False)
    assert calls == []


def test_penalize_tells_the_worst_loss_plus_its_spread_or_the_given_penalty():
    problem = quadratic_problem(fail_at=4, fail_with=math.nan)
    o = SPSA(random_state=0, max_iter=6, on_error="penalize", verbose=False).fit(problem)
    assert o.result_.nfail == 2 and o.result_.success
    o = SPSA(random_state=0, on_error="penalize").start(x0=[0.5, 0.5])
    X = o.ask()
    o.tell(X, [1.0, 3.0])
    X = o.ask()
    o.tell(X, [math.nan, 2.0])  # worst 3, best 1: the penalty is 3 + 2
    assert o.result().nfail == 1 and o.result().fun == 1.0
    o = SPSA(random_state=0, on_error="penalize").start(x0=[0.5, 0.5])
    with pytest.raises(Exception, match="give penalty="):
        o.tell(o.ask(), [math.nan, math.nan])  # nothing seen yet to base a penalty on
    # a first batch with a failure: its other points count as seen (worst = best = 2)
    o = SPSA(random_state=0, on_error="penalize").start(x0=[0.5, 0.5])
    o.tell(o.ask(), [math.nan, 2.0])
    assert o.result().nfail == 1 and o.result().fun == 2.0
    o = SPSA(random_state=0, on_error="penalize", penalty=7.5).start(x0=[0.5, 0.5])
    o.tell(o.ask(), [math.nan, math.nan])
    assert o.result().nfail == 2 and o.result().fun == math.inf  # penalties are never best


def test_a_penalized_batch_gives_the_same_run_whatever_the_order_of_its_tells():
    def run(order_of):
        o = PRDPT(random_state=0, on_error="penalize").start(x0=[0.5, 0.5, 0.2], bounds=(0, 1))
        for it in range(4):
            X = o.ask()
            y = _f(X)
            y[0] = math.nan  # a lost frame in every batch
            if it == 2:
                y[1] = 50.0  # and one loss far above the others: it sets the penalty
            for rows in order_of(X.shape[0]):
                o.tell(X[rows], y[rows])
        return o.result()

    whole = run(lambda n: [list(range(n))])
    # the lost frame told first, then the others one at a time, in reverse
    pieces = run(lambda n: [[0]] + [[i] for i in range(n - 1, 0, -1)])
    assert pieces.nit == whole.nit == 4 and pieces.nfail == whole.nfail == 4
    assert torch.equal(pieces.x_last, whole.x_last) and pieces.fun == whole.fun
    # the first batch's lost frame told before any finite loss is seen: not an error
    o = SPSA(random_state=0, on_error="penalize").start(x0=[0.5, 0.5])
    X = o.ask()
    o.tell(X[:1], [math.nan])
    o.tell(X[1:], [2.0])
    assert o.result().nit == 1 and o.result().fun == 2.0


def test_reask_draws_replacements_that_complete_the_batch():
    o = CMAES(random_state=0, on_error="reask").start(x0=[0.5] * 3, bounds=(0, 1))
    X = o.ask()
    y = _f(X)
    y[2] = math.nan
    o.tell(X, y)
    assert o.n_waiting == 1 and o.result().nit == 0
    new = o.ask()
    assert new.shape == (1, 3) and not torch.equal(new[0], X[2])
    o.tell(new, _f(new))
    assert o.result().nit == 1 and o.result().nfail == 1 and o.result().nfev == X.shape[0] + 1


def test_load_state_dict_before_start_continues_a_hand_driven_run():
    first = CMAES(random_state=0).start(x0=[0.5] * 3, bounds=(0, 1))
    for _ in range(3):
        X = first.ask()
        first.tell(X, _f(X))
    X = first.ask()
    first.tell(X[:2], _f(X[:2]))  # saved in the middle of a batch
    saved = first.state_dict()
    second = CMAES(random_state=5)
    second.load_state_dict(saved)
    assert second.resuming
    second.start(x0=[0.5] * 3, bounds=(0, 1))
    assert torch.equal(second.ask(), X[2:])  # the points still waiting
    for opt in (first, second):
        opt.tell(X[2:], _f(X[2:]))
    assert torch.equal(first.ask(), second.ask()) and not second.resuming


def test_the_checkpoint_is_replaced_atomically(tmp_path):
    path = tmp_path / "run.pt"
    SPSA(random_state=0, max_iter=4, verbose=False).fit(
        quadratic_problem(), checkpoint=path, checkpoint_every=1
    )
    assert path.exists() and not (tmp_path / "run.pt.partial").exists()
    saved = torch.load(path, weights_only=True)
    assert saved["run"]["nit"] == 4
    with pytest.raises(InvalidParameterError, match=f"The checkpoint {path} is of a SPSA"):
        PRDPT(max_iter=4, verbose=False).fit(quadratic_problem(), checkpoint=path)
    with pytest.raises(InvalidParameterError, match="The checkpoint .* another start x0"):
        SPSA(random_state=0, max_iter=4, verbose=False).fit(
            quadratic_problem(), x0=torch.full((3,), 0.25, dtype=torch.float64), checkpoint=path
        )
    by_hand = PRDPT(max_iter=4)  # a state loaded by hand is "this state", not the file
    with pytest.raises(InvalidParameterError, match="This state is of a SPSA"):
        by_hand.load_state_dict(saved)


def test_matching_is_exact_even_when_every_key_collides(monkeypatch):
    import blackbox_opt.optimizers.pending as pending

    monkeypatch.setattr(pending, "row_keys", lambda X: torch.zeros(X.shape[0], dtype=torch.int64))
    X = torch.rand(6, 3, generator=torch.Generator().manual_seed(0))
    batch = PendingBatch(X)
    order = torch.tensor([4, 1, 5])
    slots = batch.match(X[order])
    assert slots.tolist() == [4, 1, 5]
    batch.fill(slots, torch.ones(3))
    assert batch.match(X[[0, 2, 3]]).tolist() == [0, 2, 3]
    with pytest.raises(InvalidParameterError, match="told already"):
        batch.match(X[[1]])
    with pytest.raises(InvalidParameterError, match="not a point"):
        batch.match(X[[0]] + 1.0)
