"""The parameter-constraint types and their messages."""

from numbers import Integral, Real

import numpy as np
import pytest
import torch

from blackbox_opt.exceptions import InvalidParameterError
from blackbox_opt.validation import Interval, Options, validate_params


@pytest.mark.parametrize(
    ("closed", "expected"),
    [
        ("left", [True, True, False]),
        ("right", [False, True, True]),
        ("both", [True, True, True]),
        ("neither", [False, True, False]),
    ],
)
def test_interval_ends(closed, expected):
    interval = Interval(Real, 0, 1, closed=closed)
    assert [interval.is_satisfied_by(v) for v in (0, 0.5, 1)] == expected


def test_interval_kinds_refuse_bools_nan_and_floats_for_ints():
    ints = Interval(Integral, 1, None, closed="left")
    assert ints.is_satisfied_by(3) and ints.is_satisfied_by(np.int64(3))
    assert not ints.is_satisfied_by(3.0) and not ints.is_satisfied_by(True)
    reals = Interval(Real, None, None, closed="neither")
    assert reals.is_satisfied_by(2) and reals.is_satisfied_by(np.float32(-1e30))
    assert not reals.is_satisfied_by(float("nan")) and not reals.is_satisfied_by(False)
    assert not reals.is_satisfied_by("1")


def test_descriptions_read_as_a_range():
    assert Interval(Integral, 1, None, closed="left").describe() == "an int in the range [1, inf)"
    assert Interval(Real, 0, 1, closed="both").describe() == "a float in the range [0, 1]"
    assert Interval(Real, None, 0.5, closed="right").describe() == (
        "a float in the range (-inf, 0.5]"
    )


def test_bad_constraint_definitions_are_refused():
    with pytest.raises(TypeError):
        Interval(float, 0, 1, closed="both")
    with pytest.raises(ValueError, match="closed"):
        Interval(Real, 0, 1, closed="open")
    with pytest.raises(ValueError, match="exceeds"):
        Interval(Real, 2, 1, closed="both")
    with pytest.raises(TypeError):
        Options([])
    with pytest.raises(TypeError, match="Unknown parameter constraint"):
        validate_params({"a": ["nonsense"]}, {"a": 1}, "X")


def test_messages_name_parameter_caller_alternatives_and_value():
    table = {
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "mode": [Options({"a", "b"}), callable],
        "flag": ["boolean"],
        "gen": [torch.Generator, np.random.Generator],
        "options": [dict, None],
    }
    ok = dict(sigma=None, mode=print, flag=np.bool_(True), gen=torch.Generator(), options={})
    validate_params(table, ok, "Method")
    cases = {
        "sigma": (
            0,
            "The 'sigma' parameter of Method must be a float in the range (0, inf) or "
            "None. Got 0 instead.",
        ),
        "mode": ("c", "must be a str among {'a', 'b'} or a callable. Got 'c' instead."),
        "flag": (1, "must be a bool. Got 1 instead."),
        "gen": (3, "must be a torch.Generator or a numpy.random.Generator. Got 3 instead."),
        "options": ([], "must be a dict or None. Got [] instead."),
    }
    for name, (value, message) in cases.items():
        with pytest.raises(InvalidParameterError) as info:
            validate_params(table, {**ok, name: value}, "Method")
        assert message in str(info.value), str(info.value)


def test_unconstrained_parameters_are_not_checked():
    validate_params({"a": [Options({"x"})]}, {"a": "x", "b": object()}, "Method")
