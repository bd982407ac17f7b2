"""Parameter spaces: round trips, decoding, errors, and spaces through problems and methods."""

import math

import numpy as np
import pytest
import torch

import blackbox_opt
from blackbox_opt import (
    Array,
    Categorical,
    Fixed,
    FunctionProblem,
    Integer,
    InvalidParameterError,
    Real,
    Space,
    UnknownNameError,
    minimize,
)
from blackbox_opt.cli import main
from blackbox_opt.registry import PROBLEMS
from blackbox_opt.testing import mixed_problem
from problems.tiles import Tiles


def every_kind():
    return Space(
        offset=Real(-1.0, 1.0),
        lr=Real(1e-4, 1e-1, log=True),
        n=Integer(-2, 5),
        colour=Categorical(["red", "green", "blue"]),
        level=Categorical([1, 2, 4, 8], encoding="index"),
        weight=Fixed(2.5),
        height=Array((32, 32), 0.0, 1.0),
        texture=Array((64, 64, 3), np.zeros((64, 64, 3)), np.full((64, 64, 3), 2.0)),
    )


# -- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("offset", -0.37),
        ("offset", 1.0),
        ("lr", 3e-3),
        ("lr", 1e-4),
        ("n", -2),
        ("n", 5),
        ("colour", "blue"),
        ("level", 8),
        ("weight", 2.5),
    ],
)
def test_scalar_round_trip_space_vector_space(name, value):
    space = every_kind()
    params = space.from_vector(space.to_vector({name: value}))
    assert type(params[name]) is type(value)
    if isinstance(value, float):
        assert params[name] == pytest.approx(value, rel=1e-12)
    else:
        assert params[name] == value
    defaults = {"colour": "red", "n": 1, "level": 1}  # the others keep their defaults
    assert all(params[k] == v for k, v in defaults.items() if k != name)


def test_array_blocks_round_trip_with_per_element_bounds():
    space = every_kind()
    g = np.random.default_rng(0)
    height = g.uniform(0, 1, (32, 32))
    texture = g.uniform(0, 2, (64, 64, 3))
    x = space.to_vector({"height": height, "texture": texture})
    assert x.shape == (1 + 1 + 1 + 3 + 1 + 32 * 32 + 64 * 64 * 3,)
    params = space.from_vector(x)
    assert params["height"].shape == (32, 32) and params["texture"].shape == (64, 64, 3)
    np.testing.assert_array_equal(params["height"].numpy(), height)
    np.testing.assert_array_equal(params["texture"].numpy(), texture)
    # vector -> space -> vector is exact too
    assert torch.equal(space.to_vector(params), x)


def test_flat_bounds_and_scales_per_kind():
    space = Space(
        a=Real(0.0, 2.0),
        b=Real(1e-3, 1e1, log=True),
        n=Integer(1, 6),
        c=Categorical(["x", "y", "z"]),
        d=Categorical(["p", "q", "r", "s"], encoding="index"),
        e=Real(0.0),
    )
    lo, hi = space.bounds
    assert lo.tolist() == pytest.approx([0, math.log(1e-3), 0.5, 0, 0, 0, -0.5, 0])
    assert hi.tolist()[:7] == pytest.approx([2, math.log(10), 6.5, 1, 1, 1, 3.5])
    assert hi[7] == math.inf
    assert space.scales.tolist()[:7] == pytest.approx([2, math.log(1e4), 6, 1, 1, 1, 4])
    assert space.scales[7] == math.inf
    assert space.integer_indices == [2, 6]
    assert space.slices["c"] == slice(3, 6)


def test_decoding_clamps_rounds_and_takes_the_argmax():
    space = Space(n=Integer(1, 4), c=Categorical(["r", "g", "b"]), a=Real(0.0, 1.0))
    X = torch.tensor(
        [
            [0.2, 0.1, 0.9, 0.2, -0.5],  # below the integer range, a real below its bound
            [2.6, 0.5, 0.4, 0.45, 0.3],
            [9.0, -1.0, -2.0, 3.0, 7.0],  # far outside: still valid values
        ]
    )
    values = space.decode(X)
    assert values["n"].tolist() == [1, 3, 4]
    assert values["c"].tolist() == [1, 0, 2]
    assert values["a"].tolist() == [0.0, pytest.approx(0.3), 1.0]
    rows = space.rows(X)
    assert [r["c"] for r in rows] == ["g", "r", "b"]
    assert rows[2] == {"n": 4, "c": "b", "a": 1.0}


def test_a_choice_encodes_inside_the_bounds_and_numbers_match_by_value():
    c = Categorical([1, 2, 4])
    assert c.encode(2, "k").tolist() == [0.25, 0.75, 0.25]
    assert c.encode(4.0, "k").tolist() == [0.25, 0.25, 0.75]  # 4.0 is the choice 4
    with pytest.raises(InvalidParameterError, match="True is not one of its choices"):
        Categorical([0, 1]).encode(True, "flag")


def test_default_space_of_a_plain_problem_is_its_bounded_reals():
    p = FunctionProblem(lambda x: float((x**2).sum()), np.zeros(3), bounds=(-1.0, 2.0))
    assert list(p.space) == ["x"] and p.space.is_default
    assert torch.equal(p.space.bounds, p.bounds)
    assert p.scales.tolist() == [3.0, 3.0, 3.0]
    unbounded = FunctionProblem(lambda x: 0.0, np.zeros(2))
    assert unbounded.scales.tolist() == [math.inf, math.inf]


def test_a_problem_takes_its_scales_and_bounds_from_its_space():
    space = Space(lr=Real(1e-3, 1.0, log=True), c=Categorical(["a", "b"]))
    p = FunctionProblem(lambda lr, c: lr, space=space)
    assert p.dim == 3 and not p.space.is_default
    assert p.scales.tolist() == pytest.approx([math.log(1e3), 1.0, 1.0])
    assert torch.equal(p.bounds, space.bounds.to(p.dtype))
    assert p.space.from_vector(p.x0) == pytest.approx({"lr": math.sqrt(1e-3), "c": "a"})


# -- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Real(0.0, 1.0, log=True), "log-scale Real needs finite bounds 0 < low"),
        (lambda: Real(-1.0, 1.0, log=True), "log-scale Real needs finite bounds 0 < low"),
        (lambda: Real(1.0, 1.0), "use Fixed for a constant"),
        (lambda: Real(0.0, 1.0, init=2.0), r"init=2.0 lies outside its bounds \[0, 1\]"),
        (lambda: Integer(3, 1), "low <= high"),
        (lambda: Integer(0, 1.5), "Integer's high must be an int"),
        (lambda: Integer(0, 5, init=2.5), "init must be an integer"),
        (lambda: Categorical(["a", "b", "a"]), "repeat 'a'"),
        (lambda: Categorical(["a"]), "at least two choices"),
        (lambda: Categorical("abc"), "must be a list"),
        (lambda: Categorical(["a", "b"], init="c"), "init='c' is not one of its choices"),
        (lambda: Array((32, 32), np.zeros((32, 31)), 1.0), r"low must be a number or have"),
        (lambda: Array((2, 2), 0.0, 1.0, init=np.zeros(3)), r"init must have shape \(2, 2\)"),
        (lambda: Array((0, 3)), "shape must be positive ints"),
        (lambda: Space(a=Real(0, 1), b=3.0), "Parameter 'b' must be a Real"),
        (lambda: Space(w=Fixed(1)), "at least one parameter that is not Fixed"),
    ],
)
def test_bad_parameters_fail_at_construction(build, match):
    with pytest.raises(InvalidParameterError, match=match):
        build()


def test_bad_values_name_the_parameter():
    space = every_kind()
    with pytest.raises(InvalidParameterError, match=r"offset=1.5 lies outside its bounds"):
        space.to_vector({"offset": 1.5})
    with pytest.raises(InvalidParameterError, match=r"lr=0.5 lies outside"):
        space.to_vector({"lr": 0.5})
    with pytest.raises(InvalidParameterError, match=r"colour='purple' is not one of its"):
        space.to_vector({"colour": "purple"})
    with pytest.raises(InvalidParameterError, match="n must be an integer; got 2.5"):
        space.to_vector({"n": 2.5})
    with pytest.raises(InvalidParameterError, match=r"height must have shape \(32, 32\)"):
        space.to_vector({"height": np.zeros((32, 16))})
    with pytest.raises(
        InvalidParameterError, match=r"texture lies outside .* element \(1, 2, 0\)"
    ):
        t = np.ones((64, 64, 3))
        t[1, 2, 0] = 3.0
        space.to_vector({"texture": t})
    with pytest.raises(InvalidParameterError, match="weight is fixed at 2.5"):
        space.to_vector({"weight": 3.0})
    with pytest.raises(UnknownNameError, match="Unknown parameter 'colur'. Did you mean 'colour'"):
        space.to_vector({"colur": "red"})


def test_problems_refuse_bad_space_input():
    space = Space(n=Integer(1, 3))
    with pytest.raises(InvalidParameterError, match="bounds and space are both given"):
        FunctionProblem(lambda n: n, space=space, bounds=(0, 1))
    with pytest.raises(UnknownNameError, match="Did you mean 'n'"):
        FunctionProblem(lambda n: n, {"n ": 2}, space=space)
    with pytest.raises(InvalidParameterError, match="n=7 lies outside its bounds"):
        FunctionProblem(lambda n: n, {"n": 7}, space=space)
    with pytest.raises(InvalidParameterError, match="needs a space="):
        FunctionProblem(lambda x: 0.0, {"n": 2})
    with pytest.raises(InvalidParameterError, match="params_as must be"):
        FunctionProblem(lambda n: n, space=space, params_as="list")
    with pytest.raises(InvalidParameterError, match="space must be a blackbox_opt.Space"):
        FunctionProblem(lambda n: n, space={"n": Integer(1, 3)})


# -- functions by name -------------------------------------------------------------------
def test_a_function_takes_its_parameters_as_keywords_or_a_dict():
    space = Space(n=Integer(1, 5), c=Categorical(["a", "b"]), h=Array((2,), 0.0, 1.0))
    seen = []

    def by_keywords(n, c, h):
        seen.append((n, c, type(h).__name__))
        return n + (c == "b") + float(h.sum())

    p = FunctionProblem(by_keywords, space=space)
    x = space.to_vector({"n": 4, "c": "b", "h": [0.5, 0.25]})
    assert float(p(x)) == 5.75
    assert seen == [(4, "b", "ndarray")]
    as_dict = FunctionProblem(lambda d: d["n"] * 10.0, space=space, params_as="dict")
    assert float(as_dict(x)) == 40.0


def test_a_vectorized_function_gets_batched_values_and_choice_indices():
    space = Space(n=Integer(1, 5), c=Categorical(["a", "b"]), r=Real(0.0, 1.0))

    def batched(n, c, r):
        assert n.dtype == torch.long and c.dtype == torch.long and n.shape == (3,)
        return n.to(r) + c.to(r) + r

    p = FunctionProblem(batched, space=space, vectorized=True, backend="torch")
    X = torch.stack([space.to_vector({"n": k, "c": "b", "r": 0.5}) for k in (1, 2, 3)])
    assert p(X).tolist() == [2.5, 3.5, 4.5]


def test_reals_keep_their_gradient_through_a_space():
    space = Space(a=Real(-2.0, 2.0), n=Integer(0, 3))
    p = FunctionProblem(lambda a, n: (a - 1.0) ** 2 + n, space=space, backend="torch")
    X = torch.tensor([[0.5, 2.2]], dtype=torch.float64)
    values, grads = p.value_and_grad(X)
    assert values.tolist() == [2.25]
    assert grads.tolist() == [[-1.0, 0.0]]


# -- through minimize ------------------------------------------------------------------
def test_minimize_takes_a_space_and_returns_params_by_name():
    space = Space(n=Integer(1, 6), colour=Categorical(["red", "green"]), t=Real(0.0, 1.0))

    def cost(n, colour, t):
        return (n - 4) ** 2 + (colour != "green") + (t - 0.2) ** 2

    res = minimize(cost, "cmaes", space=space, x0={"n": 2}, budget=600, random_state=0,
                   verbose=False)  # fmt: skip
    assert res.params["n"] == 4 and res.params["colour"] == "green"
    assert res.params["t"] == pytest.approx(0.2, abs=1e-3)
    assert isinstance(res.x, np.ndarray) and res.x.shape == (4,)
    assert "params" in repr(res)
    assert {"n", "colour", "t"} <= set(res.history.columns)
    assert res.history["n"][0] == 2.0  # the start given by name
    assert res.history["n"][-1] == 4.0 and res.history["colour"][-1] == 1.0


def test_history_columns_that_clash_get_a_prefix_and_reach_the_csv(tmp_path):
    space = Space(loss=Real(0.0, 1.0), k=Integer(0, 2))
    res = minimize(lambda loss, k: (loss - 0.5) ** 2 + k, "random", space=space,
                   budget=50, random_state=0, verbose=False)  # fmt: skip
    assert "param_loss" in res.history.columns and "k" in res.history.columns
    res.history.to_csv(str(tmp_path / "h.csv"))
    header = (tmp_path / "h.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["param_loss", "k"]


def test_nevergrad_searches_through_its_own_parameters():
    problem = mixed_problem()
    opt = blackbox_opt.Nevergrad(optimizer="TwoPointsDE", budget=64, random_state=0,
                                 verbose=False).start(problem)  # fmt: skip
    param = opt._ng.optimizer.parametrization
    assert sorted(param.value) == ["colour", "field", "lr", "n", "offset"]
    X = opt.ask()
    space = problem.space
    # every candidate is an encoded point: integers exact, choices at their scores
    assert torch.equal(X[:, 2], X[:, 2].round())
    assert set(X[:, 3:6].flatten().tolist()) <= {0.25, 0.75}
    for x in X:
        assert torch.allclose(space.to_vector(space.from_vector(x)), x)


def test_cmaes_hands_the_integer_coordinates_to_pycma():
    problem = mixed_problem()
    opt = blackbox_opt.CMAES(budget=50, random_state=0, verbose=False).start(problem)
    assert list(opt._es.opts["integer_variables"]) == problem.space.integer_indices == [2]


# -- the registered mixed problem -------------------------------------------------------
def test_tiles_target_comes_from_known_parameters_and_every_discrete_choice_matters():
    p = Tiles()
    assert float(p(p.x_opt)) == 0.0 and float(p.param_error(p.x_opt)) == 0.0
    target = p.space.from_vector(p.x_opt)
    assert target["repeats"] == 3 and target["offset_x"] == pytest.approx(0.3)
    for change in ({"repeats": 2}, {"tile4": "blue"}, {"offset_x": 0.0}):
        x = p.space.to_vector({**target, **change}, dtype=p.dtype)
        assert float(p(x)) > 1e-3, change
    one_wrong = p.space.to_vector({**target, "tile0": "green"}, dtype=p.dtype)
    assert float(p.param_error(one_wrong)) == pytest.approx(0.1)
    assert tuple(p.render(p.x_opt).shape) == (48, 48, 3)


def test_tiles_index_encoding_has_one_coordinate_per_tile():
    p = Tiles(encoding="index")
    assert p.dim == 12 and p.space.integer_indices == list(range(10))
    assert float(p(p.x_opt)) == 0.0


def test_cli_shows_the_parameters_by_name(tmp_path, capsys):
    added = "tiles" not in PROBLEMS  # registered by the entry point once installed
    if added:
        blackbox_opt.register_problem("tiles", "problems.tiles:Tiles")
    out = tmp_path / "h.csv"
    try:
        argv = ["run", "tiles", "-m", "random", "-b", "40", "-s", "0", "-q", "--out", str(out)]
        code = main(argv)
    finally:
        if added:
            PROBLEMS.unregister("tiles")
    assert code == 0
    printed = capsys.readouterr().out
    assert "repeats: " in printed and "tile8: " in printed
    header = out.read_text().splitlines()[0].split(",")
    assert {"tile0", "repeats", "offset_x"} <= set(header)


def test_the_backend_decides_what_x_is_when_the_start_comes_from_the_space():
    space = Space(a=Real(-1.0, 1.0), n=Integer(0, 3))
    kw = dict(space=space, budget=20, random_state=0, verbose=False)
    as_torch = minimize(lambda a, n: (a - 0.5) ** 2 + n, "random", backend="torch", **kw)
    as_numpy = minimize(lambda a, n: (a - 0.5) ** 2 + n, "random", **kw)
    assert torch.is_tensor(as_torch.x) and isinstance(as_numpy.x, np.ndarray)
    assert as_torch.params == as_numpy.params


def test_spaces_are_equal_when_their_parameters_and_bounds_are():
    low = np.zeros((2, 2))
    assert Space(h=Array((2, 2), low, 1.0)) == Space(h=Array((2, 2), low, 1.0))
    assert Space(h=Array((2, 2), low, 1.0)) != Space(h=Array((2, 2), low - 1, 1.0))
    assert Space(n=Integer(0, 3)) != Space(n=Integer(0, 4))
