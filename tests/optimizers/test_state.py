"""Saving and restoring a run: explicit method state, labelled library pickles."""

import io
import math
import pickle
from typing import ClassVar

import numpy as np
import pytest
import torch

from blackbox_opt import CMAES, PRDPT, SPSA
from blackbox_opt.checkpoint import (
    is_library_pickle,
    pickle_library_object,
    unpickle_library_object,
)
from blackbox_opt.evaluation import evaluate
from blackbox_opt.exceptions import BlackboxOptWarning, InvalidParameterError
from blackbox_opt.optimizers.spsa import SPSA as _SPSA
from blackbox_opt.testing import (
    check_state_dict_resumes_exactly,
    check_state_is_complete,
    quadratic_problem,
)


def _drive(optimizer, problem, n):
    for _ in range(n):
        X = optimizer.ask()
        optimizer.tell(X, *evaluate(problem, X, gradients=optimizer.needs_gradient))


class CountingSPSA(_SPSA):
    """SPSA with one more piece of run state, ``_told``, that it forgets to save."""

    name = "counting-spsa"

    def _start(self, state):
        super()._start(state)
        self._told = 0

    def _tell(self, X, y, grads):
        self._told += 1
        return super()._tell(X, y, grads)

    def _ask(self):
        X = super()._ask()
        return X if self._told < 2 else X * 0.5  # the field changes the run


class SavingCountingSPSA(CountingSPSA):
    def _get_state(self):
        return {**super()._get_state(), "told": self._told}

    def _set_state(self, state):
        super()._set_state(state)
        self._told = state["told"]


class FalselyDerivedSPSA(SavingCountingSPSA):
    """Declares run state as derived: two starts give different values."""

    _derived_state: ClassVar[frozenset[str]] = frozenset({"_stamp"})

    def _start(self, state):
        super()._start(state)
        self._stamp = torch.rand(1, generator=state.generator)


def test_a_forgotten_field_fails_the_check_and_is_named():
    with pytest.raises(AssertionError, match=r"CountingSPSA sets \['_told'\]"):
        check_state_is_complete(CountingSPSA)
    with pytest.raises(AssertionError, match="asked for different points"):
        check_state_dict_resumes_exactly(CountingSPSA)


def test_the_field_saved_passes_both_checks():
    check_state_is_complete(SavingCountingSPSA)
    check_state_dict_resumes_exactly(SavingCountingSPSA)


def test_run_state_declared_derived_is_caught():
    with pytest.raises(AssertionError, match="_stamp is declared in _derived_state"):
        check_state_is_complete(FalselyDerivedSPSA)


def test_derived_state_merges_along_the_class_hierarchy():
    assert {"_A", "_a"} <= SPSA._derived_state
    assert {"_n_iter", "_anneal_start"} <= PRDPT._derived_state
    assert (
        "_stamp" in FalselyDerivedSPSA._derived_state and "_A" in FalselyDerivedSPSA._derived_state
    )


def test_state_dict_is_a_copy_that_does_not_follow_the_run():
    problem = quadratic_problem()
    opt = PRDPT(sigma=0.3, lr=0.1, random_state=0, max_iter=20, verbose=False).start(problem)
    _drive(opt, problem, 3)
    saved = opt.state_dict()
    theta = saved["method"]["theta"].clone()
    moments = saved["method"]["torch_optimizer"]["state"][0]["exp_avg"].clone()
    _drive(opt, problem, 3)
    assert torch.equal(saved["method"]["theta"], theta)
    assert torch.equal(saved["method"]["torch_optimizer"]["state"][0]["exp_avg"], moments)
    assert not torch.equal(opt.recommend(), theta)


def test_state_records_parameters_and_refuses_others_by_name():
    problem = quadratic_problem()
    opt = PRDPT(sigma=0.3, lr=0.1, random_state=0, max_iter=20).start(problem)
    _drive(opt, problem, 2)
    saved = opt.state_dict()
    assert saved["params"]["sigma"] == 0.3 and saved["params"]["lr"] == 0.1
    other = PRDPT(sigma=0.2, lr=0.1, random_state=0, max_iter=20).start(problem)
    before = other.recommend()
    with pytest.raises(InvalidParameterError, match=r"sigma=0\.3 \(here 0\.2\)"):
        other.load_state_dict(saved)
    assert torch.equal(other.recommend(), before) and other.result().nit == 0
    # the seed and the progress bar may differ: the saved generator replaces the seed
    PRDPT(sigma=0.3, lr=0.1, random_state=9, max_iter=20, verbose=True).start(
        problem
    ).load_state_dict(saved)


def test_a_state_saved_before_a_parameter_existed_resumes_at_its_default():
    # a parameter added to the class later ran at its default in the saved run
    from blackbox_opt import ZeroGrads

    problem = quadratic_problem()
    opt = ZeroGrads(random_state=0, max_iter=6).start(problem)
    _drive(opt, problem, 2)
    saved = opt.state_dict()
    del saved["params"]["weight_decay"]
    resumed = ZeroGrads(random_state=0, max_iter=6).start(problem)
    resumed.load_state_dict(saved)
    assert resumed.result().nit == 2
    with pytest.raises(InvalidParameterError, match=r"weight_decay=0\.0 \(here 0\.5\)"):
        ZeroGrads(random_state=0, max_iter=6, weight_decay=0.5).start(problem).load_state_dict(
            saved
        )


def test_a_state_without_the_format_is_refused():
    opt = SPSA(random_state=0).start(quadratic_problem())
    with pytest.raises(InvalidParameterError, match="format"):
        opt.load_state_dict({"class": "SPSA", "dim": 3})


def test_library_objects_are_stored_as_labelled_pickles():
    cma = pytest.importorskip("cma")
    problem = quadratic_problem()
    opt = CMAES(random_state=0, max_iter=10).start(problem)
    _drive(opt, problem, 2)
    saved = opt.state_dict()
    record = saved["method"]["es"]
    assert is_library_pickle(record)
    assert record["library_pickle"] == "cma" and record["version"] == cma.__version__
    assert record["type"].endswith("CMAEvolutionStrategy")
    assert record["data"].dtype == torch.uint8
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)  # loads without unpickling anything


def test_a_pickle_of_another_library_or_version_is_refused_or_warned():
    record = pickle_library_object([1.5, 2.5], "numpy")
    with pytest.raises(InvalidParameterError, match="holds a numpy object"):
        unpickle_library_object(record, "cma")
    older = {**record, "version": "0.0.1"}
    with pytest.warns(BlackboxOptWarning, match="pickled by numpy 0.0.1"):
        assert unpickle_library_object(older, "numpy") == [1.5, 2.5]
    with pytest.raises(InvalidParameterError, match="Expected a pickled"):
        unpickle_library_object({"data": 1}, "numpy")


def test_nevergrad_pending_candidates_survive_a_reload():
    pytest.importorskip("nevergrad")
    from blackbox_opt import Nevergrad

    problem = quadratic_problem()
    first = Nevergrad(optimizer="TwoPointsDE", batch_size=4, random_state=0, budget=80)
    first.start(problem)
    _drive(first, problem, 2)
    X = first.ask()  # pending: told only after the reload
    second = Nevergrad(optimizer="TwoPointsDE", batch_size=4, random_state=0, budget=80)
    second.start(problem)
    second.load_state_dict(pickle.loads(pickle.dumps(first.state_dict())))
    y = evaluate(problem, X)[0]
    first.tell(X, y)
    second.tell(X, y)
    assert torch.equal(first.ask(), second.ask())
    assert math.isfinite(second.result().fun)


def test_a_signature_that_would_lose_parameters_is_an_error_at_class_creation():
    with pytest.raises(TypeError, match=r"takes \['sigma0'\] positionally.*keyword-only"):

        class Positional(_SPSA):
            def __init__(self, sigma0=None, **kwargs):
                super().__init__(**kwargs)
                self.sigma0 = sigma0


def test_a_malformed_batch_names_the_method_not_the_problem():
    from blackbox_opt import MethodError

    class FlatAsk(_SPSA):
        def _ask(self):
            return super()._ask()[0]  # (D,) instead of (B, D)

    class NumpyAsk(_SPSA):
        def _ask(self):
            return super()._ask().numpy()

    for cls, got in ((FlatAsk, r"shape \(3,\)"), (NumpyAsk, "ndarray")):
        # raised even under on_error="stop": a bug of the method, not a failed render
        opt = cls(max_iter=3, on_error="stop", verbose=False)
        with pytest.raises(MethodError, match=rf"{cls.__name__}\._ask must return .*{got}"):
            opt.fit(quadratic_problem())


def test_keys_that_tell_returns_become_history_columns():
    class Counting(_SPSA):
        def _tell(self, X, y, grads):
            return {**super()._tell(X, y, grads), "spread": float(y.max() - y.min())}

    res = Counting(max_iter=4, random_state=0, verbose=False).fit(quadratic_problem()).result_
    assert res.history.columns[-1] == "spread"
    spread = res.history["spread"]
    assert np.isnan(spread[0]) and np.all(spread[1:] >= 0)
    assert "spread" in res.history.to_pandas().columns


def test_a_state_resumed_from_another_start_or_other_bounds_is_refused():
    from blackbox_opt import CMAES, InvalidParameterError

    def f(X):
        return ((X - 3) ** 2).sum(1)

    opt = CMAES(random_state=0).start(x0=[0.5, 0.5, 0.5], bounds=(0, 1))
    X = opt.ask()
    opt.tell(X, f(X))
    saved = opt.state_dict()
    for x0, bounds, what in (
        ([5.0, 5.0, 5.0], (0, 10), r"another start x0: \[0.5, 0.5, 0.5\] \(here \[5, 5, 5\]\)"),
        ([0.5, 0.5, 0.5], (0, 10), "other bounds"),
    ):
        again = CMAES(random_state=0)
        again.load_state_dict(saved)
        with pytest.raises(InvalidParameterError, match=what):
            again.start(x0=x0, bounds=bounds)
    same = CMAES(random_state=0)
    same.load_state_dict(saved)
    assert same.start(x0=[0.5, 0.5, 0.5], bounds=(0, 1)).result().nit == 1


def test_a_checkpoint_of_another_problem_is_refused_and_its_own_resumes(tmp_path):
    # the same command after editing the objective into a new function: the old run's
    # result would be reported under the new function's name
    import blackbox_opt as bo

    def loss_v1(x):
        return float(np.sum((x - 0.3) ** 2))

    def loss_v2(x):
        return float(np.sum((x + 0.3) ** 2))

    ckpt = tmp_path / "run.ckpt"
    kw = dict(
        method="cmaes",
        x0=np.array([0.5, 0.5]),
        bounds=(-1, 1),
        random_state=0,
        verbose=False,
        checkpoint=ckpt,
    )
    first = bo.minimize(loss_v1, budget=100, **kw)
    with pytest.raises(
        bo.InvalidParameterError, match="'loss_v1'; this run's problem is 'loss_v2'"
    ):
        bo.minimize(loss_v2, budget=200, **kw)
    again = bo.minimize(loss_v1, budget=200, **kw)  # its own problem goes on
    assert again.nfev > first.nfev and again.fun <= first.fun
