"""Model tests run torch on one thread: their numbers (resume equals an uninterrupted run,
bit-identical frozen tasks) are compared exactly, and one thread fixes the summation order."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
