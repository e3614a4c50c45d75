"""SavedModel folders are staged beside the destination under names that carry the
writer's pid, so a later writer removes what a killed one left; an existing folder is
replaced whole. A stand-in model writes the folder (TensorFlow is not needed here)."""
import os

import pytest

from kzoo.converters.tf_export import save_savedmodel
from kzoo.errors import ConversionError

DEAD_PID = 2 ** 22  # above Linux's default pid_max: no such process


class StandInModel(object):
    """Writes what ``tf_model.save`` would, and notes the folder it was written in."""

    def __init__(self, content, fail=False):
        self.content, self.fail, self.seen = content, fail, None

    def save(self, target, save_format=None, include_optimizer=True):
        assert save_format == 'tf' and not include_optimizer
        os.makedirs(target)
        with open(os.path.join(target, 'saved_model.pb'), 'wb') as f:
            f.write(self.content)
        self.seen = sorted(os.listdir(os.path.dirname(os.path.dirname(target))))
        if self.fail:
            raise RuntimeError('the writer failed half way')


def _pb(path):
    with open(os.path.join(str(path), 'saved_model.pb'), 'rb') as f:
        return f.read()


def test_stale_staging_of_a_killed_writer_is_removed(tmp_path):
    for name in ('.sm.%d.abc.tmp' % DEAD_PID, '.sm.%d.old.def.tmp' % DEAD_PID):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'junk').write_bytes(b'j')
    model = StandInModel(b'new')
    save_savedmodel(model, str(tmp_path / 'sm'))
    assert sorted(os.listdir(str(tmp_path))) == ['sm']
    assert _pb(tmp_path / 'sm') == b'new'
    # while writing, the only staging folder was ours, named with our pid
    [staged] = model.seen
    assert staged.startswith('.sm.%d.' % os.getpid()) and staged.endswith('.tmp')


def test_a_live_writers_staging_is_left_alone(tmp_path):
    live = tmp_path / ('.sm.%d.abc.tmp' % os.getppid())
    live.mkdir()
    save_savedmodel(StandInModel(b'new'), str(tmp_path / 'sm'))
    assert live.exists()


def test_an_existing_folder_is_replaced_whole(tmp_path):
    (tmp_path / 'sm').mkdir()
    (tmp_path / 'sm' / 'saved_model.pb').write_bytes(b'old')
    (tmp_path / 'sm' / 'extra').write_bytes(b'x')
    save_savedmodel(StandInModel(b'new'), str(tmp_path / 'sm'))
    assert sorted(os.listdir(str(tmp_path / 'sm'))) == ['saved_model.pb']
    assert _pb(tmp_path / 'sm') == b'new'
    assert sorted(os.listdir(str(tmp_path))) == ['sm']


def test_a_failed_write_keeps_the_old_folder_and_leaves_nothing(tmp_path):
    (tmp_path / 'sm').mkdir()
    (tmp_path / 'sm' / 'saved_model.pb').write_bytes(b'old')
    with pytest.raises(RuntimeError, match='half way'):
        save_savedmodel(StandInModel(b'new', fail=True), str(tmp_path / 'sm'))
    assert sorted(os.listdir(str(tmp_path))) == ['sm']
    assert _pb(tmp_path / 'sm') == b'old'


def test_a_missing_parent_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConversionError, match='does not exist'):
        save_savedmodel(StandInModel(b'new'), str(tmp_path / 'nope' / 'sm'))
