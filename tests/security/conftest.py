"""Fixtures of the security suite: a box per test and the hostile-input harness."""
import pytest

from tests.security import harness


@pytest.fixture
def refuse(tmp_path):
    """``refuse(number, variant, entry)``: hand the input to the entry point and assert
    it is refused safely (see :mod:`tests.security.harness`); returns the attempt."""
    def run(number, variant, entry):
        a = harness.attempt(number, variant, entry, tmp_path / 'box')
        harness.check_refused(a)
        return a
    return run


@pytest.fixture
def accept(tmp_path):
    """``accept(number, variant, entry)``: the input is odd but legitimate: it is read,
    and nothing is touched outside the named paths."""
    def run(number, variant, entry):
        a = harness.attempt(number, variant, entry, tmp_path / 'box')
        harness.check_accepted(a)
        return a
    return run


def pytest_terminal_summary(terminalreporter):
    """Children of the forkserver escape ``time pytest``: say what they used."""
    from tests.security import child
    if child.CHILD_CPU[0]:
        terminalreporter.write_line('security suite: child processes used %.1f s of CPU'
                                    % child.CHILD_CPU[0])
