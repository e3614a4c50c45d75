"""Fuzzing in CI: ``KZOO_FUZZ_CASES`` cases per reader (2,000 by default), seeded.

Each reader (HDF5 via ``load_model``/``load_weights`` and ``kzoo convert``'s streaming
loader, JSON/YAML configs, ``.keras`` archives, ONNX via ``from_onnx``) reads
Hypothesis-drawn mutations of the corpus files in child processes; any exception
other than a :class:`~kzoo.errors.KzooError`, any crash and any hang fails the test,
with a command that replays the case. ``KZOO_FUZZ_SEED`` picks another campaign; long
campaigns: ``python -m tests.security.fuzz --reader all --cases 100000``
(SECURITY.md).
"""
import os

import pytest

from tests.security import fuzz

CASES = int(os.environ.get('KZOO_FUZZ_CASES', '2000'))
SEED = int(os.environ.get('KZOO_FUZZ_SEED', '0'))


@pytest.mark.parametrize('reader', sorted(fuzz.READERS))
def test_fuzz_reader(reader):
    if not os.path.isdir(fuzz.CORPUS):
        pytest.skip('no corpus at %s' % fuzz.CORPUS)
    result = fuzz.campaign(reader, CASES, seed=SEED, batch=1000)
    print(result.report())
    assert not result.failures and not result.crashes, result.report()
    assert result.cases >= CASES
    # the mutations reach both outcomes: some files still read, most are refused
    assert result.counts['refused'] > CASES // 4, result.report()
    assert result.counts['read'] > 0, result.report()
    assert result.counts['skipped'] < CASES // 10, result.report()


def test_a_reported_plan_replays_the_same_file(tmp_path):
    """The replay command of a report makes exactly the file the campaign read."""
    reader = fuzz.READERS['hdf5']()
    if not reader.seeds:
        pytest.skip('no HDF5 seeds in the corpus')
    plan = {'seed': 0, 'h5': [['attr', 0.1, 0.5, 0], ['dataset', 0.3, 'transpose']],
            'bytes': [['flip', 0.5, 3], ['truncate', 0.9]], 'via': 'load_model'}
    made = []
    for name in ('a', 'b'):
        folder = tmp_path / name
        folder.mkdir()
        with open(reader.make(plan, str(folder))[0], 'rb') as f:
            made.append(f.read())
    assert made[0] == made[1]
