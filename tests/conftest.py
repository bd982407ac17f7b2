import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep torch on the two cores CI has and make runs reproducible."""
    torch.set_num_threads(2)
    yield
