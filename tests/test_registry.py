"""The generic Registry and Table."""

import pytest

from blackbox_opt import InvalidParameterError, UnknownNameError
from blackbox_opt.registry import PROBLEMS, Registry, Table


def test_lazy_string_entry_points_load_on_first_use():
    reg = Registry("thing")
    reg.register("od", "collections:OrderedDict")
    assert isinstance(reg.entry("od").entry_point, str)
    assert reg.get("od").__name__ == "OrderedDict"
    assert "od" in reg and len(reg) == 1 and list(reg) == ["od"]


def test_collisions_bad_entry_points_and_unknown_names():
    reg = Registry("thing")
    reg.register("a", int)
    with pytest.raises(InvalidParameterError, match="already registered"):
        reg.register("a", float)
    reg.register("a", float, overwrite=True)
    assert reg.get("a") is float
    reg.register("bad", "no_colon_here")
    with pytest.raises(InvalidParameterError, match="package.module:Attribute"):
        reg.get("bad")
    with pytest.raises(UnknownNameError, match="Unknown thing 'b'"):
        reg.get("b")


def test_names_match_ignoring_case_hyphens_and_underscores():
    reg = Registry("thing")
    reg.register("cmaes", int)
    reg.register("mi-gi", float)
    assert reg.resolve("CMA-ES") == "cmaes" and reg.get("CMAES") is int
    assert reg.resolve("mi_gi") == "mi-gi" and "MI-GI" in reg
    assert reg.get("Nope", None) is None and "Nope" not in reg
    # a name that matches a registered one loosely would shadow it: refused
    with pytest.raises(InvalidParameterError, match="'cmaes' is already registered"):
        reg.register("CMA_ES", str)
    reg.register("CMA_ES", str, overwrite=True)  # replaces it, under the new name
    assert list(reg) == ["CMA_ES", "mi-gi"] and reg.get("cmaes") is str
    reg.unregister("Mi_Gi")
    assert list(reg) == ["CMA_ES"]


def test_a_method_and_a_problem_by_their_class_names_run_under_the_registered_names():
    from blackbox_opt import minimize

    res = minimize("Rosenbrock", method="CMA-ES", budget=40, random_state=0, verbose=False)
    same = minimize("rosenbrock", method="cmaes", budget=40, random_state=0, verbose=False)
    assert (res.method, res.problem) == ("cmaes", "rosenbrock") and res.fun == same.fun
    assert minimize("sphere", method="ZeroGrads", max_iter=2, verbose=False).method == "zerograds"


def test_decorator_registration():
    reg = Registry("thing")

    @reg.register("f")
    def f():
        return 1

    assert reg.get("f") is f


def test_entry_point_group_provides_the_toy_problems():
    assert {"rosenbrock", "spline1d", "rect"} <= set(PROBLEMS)
    assert PROBLEMS.get("rect").__name__ == "Rect"


def test_table_formats_and_converts():
    table = Table([{"id": "a", "dim": 2, "tags": ("x", "y")}, {"id": "bb", "dim": 10}])
    lines = str(table).splitlines()
    assert lines[0].split() == ["id", "dim", "tags"]
    assert lines[2].split() == ["a", "2", "x,y"]
    assert table.to_pandas().shape == (2, 3)
