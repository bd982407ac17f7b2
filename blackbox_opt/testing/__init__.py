"""The shared checks every registered optimiser must pass.

Like scikit-learn's ``check_estimator``: :func:`check_optimizer` runs every check on
one method; :func:`optimizer_checks` yields them one by one so a test suite can
parametrise over methods x checks. A new method joins the suite by registering.

Examples
--------
>>> from blackbox_opt.testing import check_optimizer
>>> check_optimizer("spsa")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .asktell import (
    check_failure_policies,
    check_fit_resumes_from_a_checkpoint,
    check_tell_in_any_order,
    check_wrong_tells_are_refused,
)
from .optimizers import (
    check_ask_tell_equals_fit,
    check_bad_inputs,
    check_budget_respected,
    check_callback,
    check_clone,
    check_converges_on_quadratic,
    check_forward_model_errors,
    check_keyboard_interrupt,
    check_mixed_space,
    check_result_fields,
    check_same_seed_same_run,
    check_state_dict_resumes_exactly,
    check_state_is_complete,
)
from .problems import check_problem, mixed_problem, quadratic_problem

__all__ = [
    "CHECKS",
    "check_ask_tell_equals_fit",
    "check_bad_inputs",
    "check_budget_respected",
    "check_callback",
    "check_clone",
    "check_converges_on_quadratic",
    "check_failure_policies",
    "check_fit_resumes_from_a_checkpoint",
    "check_forward_model_errors",
    "check_keyboard_interrupt",
    "check_mixed_space",
    "check_optimizer",
    "check_problem",
    "check_result_fields",
    "check_same_seed_same_run",
    "check_state_dict_resumes_exactly",
    "check_state_is_complete",
    "check_tell_in_any_order",
    "check_wrong_tells_are_refused",
    "mixed_problem",
    "optimizer_checks",
    "quadratic_problem",
]

CHECKS: tuple[Callable[[Any], None], ...] = (
    check_clone,
    check_same_seed_same_run,
    check_budget_respected,
    check_callback,
    check_ask_tell_equals_fit,
    check_state_is_complete,
    check_state_dict_resumes_exactly,
    check_tell_in_any_order,
    check_wrong_tells_are_refused,
    check_fit_resumes_from_a_checkpoint,
    check_failure_policies,
    check_result_fields,
    check_bad_inputs,
    check_keyboard_interrupt,
    check_forward_model_errors,
    check_converges_on_quadratic,
    check_mixed_space,
)


def optimizer_checks() -> Iterator[Callable[[Any], None]]:
    """Yield every check; each takes a method name, class or instance.

    Yields
    ------
    callable
    """
    yield from CHECKS


def check_optimizer(method: Any) -> None:
    """Run every check on ``method``; raises AssertionError on the first failure.

    Parameters
    ----------
    method : str, type or BaseOptimizer
        A registered method name, an optimiser class or an instance.
    """
    for check in CHECKS:
        check(method)
