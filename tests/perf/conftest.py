"""tests/perf: one torch thread, so results do not depend on a busy shared machine
(OpenMP with two threads on two loaded cores is many times slower, never different)."""
import pytest


@pytest.fixture(autouse=True, scope='module')
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
