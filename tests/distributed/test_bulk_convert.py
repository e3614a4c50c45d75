"""Bulk conversion from a CSV manifest, in local processes (the Ray path is in
test_ray.py): manifest checks, the report, the exit status, and outputs that agree with
Keras 3 on the source files (onnxruntime for ONNX; scaled max error 1e-5)."""
import csv
import os

import numpy as np
import pytest

from helpers import assert_matches
from kzoo.distributed.bulk_convert import read_manifest
from kzoo.errors import ConfigError


def write_manifest(folder, rows, header='src,dst'):
    path = os.path.join(folder, 'manifest.csv')
    with open(path, 'w') as f:
        f.write(header + '\n' + ''.join(row + '\n' for row in rows))
    return path


def test_manifest_options_and_relative_paths(tmp_path):
    path = write_manifest(str(tmp_path), [
        'a.h5,out/a.onnx,13,yes,,0.001,',
        '',
        '/abs/b.json,b.h5,,,,,w.h5',
    ], header='src,dst,opset,static_batch,check,tolerance,weights')
    a, b = read_manifest(path)
    assert (a.line, a.src, a.dst) == (2, str(tmp_path / 'a.h5'), str(tmp_path / 'out/a.onnx'))
    assert a.options == {'opset': 13, 'dynamic_batch': False, 'tolerance': 0.001}
    assert (b.line, b.src, b.options) == (4, '/abs/b.json', {'weights': str(tmp_path / 'w.h5')})


@pytest.mark.parametrize('header, rows, message', [
    ('src,dst,colour', ['a.h5,b.onnx,red'], 'header must name src and dst'),
    ('src', ['a.h5'], 'header must name src and dst'),
    ('src,dst', [',b.onnx'], 'line 2: src and dst must both be given'),
    ('src,dst,opset', ['a.h5,b.onnx,thirteen'], 'line 2, column opset'),
    ('src,dst,check', ['a.h5,b.onnx,maybe'], 'column check'),
    ('src,dst', ['a.h5,b.onnx', 'c.h5,./b.onnx'], 'lines 2 and 3 both write'),
    ('src,dst', [], 'lists no conversion'),
])
def test_bad_manifests_are_refused_before_any_work(tmp_path, header, rows, message):
    with pytest.raises(ConfigError, match=message):
        read_manifest(write_manifest(str(tmp_path), rows, header))


def keras_outputs(path, x):
    import keras
    return np.asarray(keras.saving.load_model(path, compile=False).predict(x, verbose=0))


def check_outputs_against_keras(model_files, folder):
    """The ONNX and .keras outputs compute what Keras 3 computes from the sources."""
    import keras
    import onnxruntime
    x = np.random.default_rng(3).uniform(-1, 1, (4, 32, 32, 3)).astype('float32')
    expected = keras_outputs(model_files['cnn'], x)
    session = onnxruntime.InferenceSession(os.path.join(folder, 'cnn.onnx'))
    actual = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert_matches(actual, expected, 1e-5)
    g = np.random.default_rng(4).uniform(-1, 1, (3, 12, 12, 1)).astype('float32')
    assert_matches(keras.saving.load_model(os.path.join(folder, 'gray.keras'), compile=False)
                   .predict(g, verbose=0), keras_outputs(model_files['gray'], g), 1e-5)


@pytest.mark.slow
def test_local_processes_convert_check_and_report(model_files, tmp_path, capsys):
    from kzoo.cli import main
    folder = str(tmp_path)
    manifest = write_manifest(folder, [
        '%s,cnn.onnx,13' % model_files['cnn'],
        '%s,gray.keras,' % model_files['gray'],
        'missing.h5,missing.onnx,',
        '%s,imagenet.json,' % model_files['imagenet'],
    ], header='src,dst,opset')
    report = os.path.join(folder, 'report.csv')
    assert main(['convert', '--batch', manifest, '--workers', '2', '--report', report]) == 1
    out = capsys.readouterr().out
    assert '3 converted, 1 failed' in out
    assert 'missing.h5' in out and 'no such file' in out
    with open(report) as f:
        rows = list(csv.DictReader(f))
    assert [r['status'] for r in rows] == ['ok', 'ok', 'failed', 'ok']
    assert float(rows[0]['max_error']) <= 1e-4 and float(rows[0]['seconds']) > 0
    assert not os.path.exists(os.path.join(folder, 'missing.onnx'))
    check_outputs_against_keras(model_files, folder)
    # nothing but the outputs: no staging files left behind
    assert sorted(os.listdir(folder)) == ['cnn.onnx', 'gray.keras', 'imagenet.json',
                                          'manifest.csv', 'report.csv']


def test_a_failing_check_fails_the_job(model_files, tmp_path):
    """A tolerance no conversion meets: reported failed, nothing written (in-process
    runner function, so this stays fast)."""
    from kzoo.distributed.bulk_convert import Job, run_job
    dst = str(tmp_path / 'cnn.onnx')
    outcome = run_job(Job(2, model_files['cnn'], dst, {'tolerance': -1.0}))
    assert outcome.status == 'failed' and 'ConversionError' in outcome.reason
    assert not os.path.exists(dst) and os.listdir(tmp_path) == []


def test_cli_needs_src_dst_or_batch(capsys):
    from kzoo.cli import main
    assert main(['convert']) == 1
    assert '--batch' in capsys.readouterr().err
    assert main(['convert', 'a.h5', '--batch', 'm.csv']) == 1


def crashing(job):
    """Kill this worker process: always for ``*crash_always*``, the first time (a marker
    file remembers) for ``*crash_once*``; else convert."""
    from kzoo.distributed.bulk_convert import run_job
    marker = job.dst + '.crashed'
    if 'crash_always' in job.dst or ('crash_once' in job.dst and not os.path.exists(marker)):
        open(marker, 'w').close()
        os._exit(9)
    return run_job(job)


@pytest.mark.slow
def test_killed_worker_processes_are_replaced_and_their_jobs_run_again(model_files, tmp_path):
    from kzoo.distributed.bulk_convert import Job, _in_processes
    names = {'cnn': 'crash_once.json', 'gray': 'crash_always.json', 'imagenet': 'fine.json'}
    jobs = [Job(2 + i, model_files[key], str(tmp_path / names[key]), {})
            for i, key in enumerate(names)]
    seen = []
    done = _in_processes(jobs, 2, seen.append, fn=crashing)
    assert [done[i].status for i in range(3)] == ['ok', 'failed', 'ok']
    assert 'worker process died' in done[1].reason
    assert sorted(o.dst for o in seen) == sorted(j.dst for j in jobs)  # each reported once
    assert os.path.exists(jobs[0].dst) and os.path.exists(jobs[2].dst)
    assert not os.path.exists(jobs[1].dst)
