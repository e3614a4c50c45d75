"""Batch prediction and bulk conversion on a real local Ray instance (num_cpus=2).

One Ray instance serves the whole module. The Ray path must give the one-process
path's rows exactly (same groups, same model, same functions, and the model on one
thread in both: each actor here holds less than one CPU, so Ray gives it one thread),
each input once, also when a model actor's process is killed mid-run (Ray restarts it
and runs its group again). Bulk conversion outputs agree with Keras 3 (scaled max error 1e-5).
"""
import os
import signal
import threading
import time

import pytest

from kzoo.distributed import predict, read_results, write_results

ray = pytest.importorskip('ray', reason='Ray is not installed (pip install "kzoo[ray]")')


@pytest.fixture(scope='module', autouse=True)
def ray_instance(tmp_path_factory):
    # the workers inherit the environment the local Ray instance starts with: a private
    # KZOO_HOME, as for the tests themselves
    saved = {name: os.environ.get(name) for name in ('KZOO_HOME', 'RAY_ADDRESS')}
    os.environ['KZOO_HOME'] = str(tmp_path_factory.mktemp('ray_kzoo_home'))
    os.environ.pop('RAY_ADDRESS', None)  # a Ray of our own, not a cluster someone named
    try:
        ray.init(address='local', num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=300 * 2 ** 20)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    yield ray
    ray.shutdown()


@pytest.fixture(scope='module')
def local_rows(image_set, model_files):
    folder, good, bad = image_set
    return list(predict(model_files['cnn'], folder, top=3, batch_size=16, preprocess='tf',
                        threads=1))


def test_cli_on_ray_writes_the_one_process_file(image_set, model_files, local_rows,
                                                tmp_path, capsys):
    from kzoo.cli import main
    folder, good, bad = image_set
    out = str(tmp_path / 'ray.jsonl')
    assert main(['predict', model_files['cnn'], '--input', folder, '--output', out, '--top',
                 '3', '--batch-size', '16', '--preprocess', 'tf', '--workers', '2',
                 '--threads', '1', '--ray', 'auto']) == 0
    assert '%d images (3 could not be read)' % len(local_rows) in capsys.readouterr().out
    write_results(iter(local_rows), str(tmp_path / 'local.jsonl'))
    assert (tmp_path / 'ray.jsonl').read_bytes() == (tmp_path / 'local.jsonl').read_bytes()
    assert sum(r['error'] is not None for r in local_rows) == len(bad)


def _parent(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _ours(pid):
    """Started under this process (by our Ray instance), not by another test run's."""
    me = os.getpid()
    while pid > 1:
        pid = _parent(pid)
        if pid == me:
            return True
    return False


def _predictor_processes():
    """``{pid: title}`` of our Ray Data model actors (Ray names a process after them)."""
    found = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/cmdline' % name, 'rb') as f:
                    title = f.read().decode('utf-8', 'replace')
            except OSError:
                continue
            if 'MapBatches(Predictor)' in title and _ours(int(name)):
                found[int(name)] = title
    return found


class _Killer(threading.Thread):
    """Kills the first model actor seen running a task (``...).submit``), then records
    the actor processes that come after it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.before = set(_predictor_processes())
        self.killed, self.later, self.done = None, set(), threading.Event()

    def run(self):
        deadline = time.time() + 120
        while not self.done.is_set() and time.time() < deadline:
            for pid, title in _predictor_processes().items():
                if pid in self.before or pid == self.killed:
                    continue
                if self.killed is None and ').submit' in title:
                    os.kill(pid, signal.SIGKILL)
                    self.killed = pid
                elif self.killed is not None:
                    self.later.add(pid)
            time.sleep(0.002)


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='finds Ray worker processes in /proc')
def test_killed_actor_is_restarted_and_each_input_appears_once(image_set, model_files,
                                                                local_rows, tmp_path):
    folder, good, bad = image_set
    killer = _Killer()
    killer.start()
    try:
        ds = predict(model_files['cnn'], folder, top=3, batch_size=16, preprocess='tf',
                     ray='auto', workers=1, threads=1)
        out = str(tmp_path / 'r.parquet')
        count = write_results(ds, out)
    finally:
        killer.done.set()
        killer.join()
    assert killer.killed is not None, 'no model actor was seen working'
    assert killer.later, 'no model actor came back after the kill'
    assert count == len(local_rows)
    assert read_results(out) == local_rows  # each path once, in order, same numbers


def test_model_object_on_ray(image_set, model_files):
    """A Model object travels to the actors as HDF5 bytes; ImageNet names on Ray."""
    from kzoo.models import load_model
    folder, good, bad = image_set
    paths = good[:30] + bad
    model = load_model(model_files['imagenet'])
    local = list(predict(model, paths, batch_size=8, threads=1))
    on_ray = predict(model, paths, batch_size=8, ray=True, workers=1, threads=1)
    assert isinstance(on_ray, ray.data.Dataset)
    assert list(on_ray.iter_rows()) == local


def test_bulk_convert_on_ray(model_files, tmp_path, capsys):
    from kzoo.cli import main
    from test_bulk_convert import check_outputs_against_keras, write_manifest
    folder = str(tmp_path)
    manifest = write_manifest(folder, [
        '%s,cnn.onnx,13' % model_files['cnn'],
        '%s,gray.keras,' % model_files['gray'],
        '%s,bad.onnx,' % __file__,
    ], header='src,dst,opset')
    assert main(['convert', '--batch', manifest, '--ray', 'auto']) == 1
    out = capsys.readouterr().out
    assert 'on Ray' in out and '2 converted, 1 failed' in out
    assert 'test_ray.py' in out.split('report (manifest order):')[1]
    check_outputs_against_keras(model_files, folder)
    assert sorted(os.listdir(folder)) == ['cnn.onnx', 'gray.keras', 'manifest.csv']


@pytest.mark.slow
def test_application_with_a_weights_file_on_ray(image_set, tmp_path):
    """ResNet50 by name: each actor builds it and loads the weights file once."""
    from kzoo.registry import get_application
    folder, good, bad = image_set
    weights = str(tmp_path / 'resnet50.weights.h5')
    get_application('ResNet50').builder(weights=None).save_weights(weights)
    paths = good[:4] + bad[:1]
    local = list(predict('ResNet50', paths, weights=weights, batch_size=4, threads=1))
    on_ray = predict('ResNet50', paths, weights=weights, batch_size=4, ray='auto', workers=1)
    assert list(on_ray.iter_rows()) == local
    assert [len(r['class_ids']) for r in local] == [5, 5, 5, 5, 0]


def test_worker_errors_are_explained_in_one_line():
    from kzoo.commands._models import load_model_or_application
    from kzoo.distributed._ray import explain, is_ray_error
    with pytest.raises(Exception) as info:  # a kzoo error raised in a Ray worker
        ray.get(ray.remote(max_retries=0)(load_model_or_application).remote('/data/m.h5'))
    assert is_ray_error(info.value)
    message = str(explain(info.value))
    assert message.startswith('the Ray run failed (')
    assert message.endswith('FileFormatError: model file /data/m.h5 does not exist')
