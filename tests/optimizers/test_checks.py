"""The shared check suite, run on every registered method."""

import pytest

from blackbox_opt.registry import METHODS
from blackbox_opt.testing import optimizer_checks


@pytest.mark.parametrize("check", list(optimizer_checks()), ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", list(METHODS))
def test_registered_method_passes_check(method, check):
    check(method)
