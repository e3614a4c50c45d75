"""Eight processes downloading into one cache and converting into one folder at once.

Each process fetches the same model file and the same archive (``extract=True``)
through ``get_file`` into one ``KZOO_HOME``, then runs ``kzoo convert`` twice: into a
destination all eight write (``model.onnx``) and into one of its own. Every process
succeeds; the model is downloaded once; the cache holds one verified copy and one
complete extracted folder; every result file is complete and computes what the source
model computes (onnxruntime / kzoo); no temporary file is left anywhere.
"""
import hashlib
import io
import os
import zipfile

import numpy as np

from tests.loopback_server import LoopbackServer
from tests.security import child, harness, hostile, workers

PROCESSES = 8


def test_eight_processes_download_and_convert_into_one_cache(tmp_path):
    box = hostile.Box(tmp_path / 'box')
    source = os.path.join(box.tmp, 'model.h5')
    shape = workers.medium_model(source)
    with open(source, 'rb') as f:
        model_bytes = f.read()
    os.remove(source)
    members = {'data/f%02d.bin' % i: np.random.default_rng(i).bytes(30000) for i in range(40)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, data in members.items():
            z.writestr(name, data)
    archive = buf.getvalue()
    env = harness.child_env(box)
    env['KZOO_TIMEOUT'] = '30'
    cache = os.path.join(box.out, 'cache')
    results = os.path.join(box.out, 'results')
    os.makedirs(results)
    with LoopbackServer({'/model.h5': model_bytes, '/data.zip': archive}) as server:
        # slow enough that all eight ask while the first is still downloading
        for path in ('/model.h5', '/data.zip'):
            server.fault(path, 'throttle', times=None, chunk=256 << 10, pause=0.05)
        started = [child.start_child(workers.download_then_convert, i, server.url('/model.h5'),
                                     hashlib.sha256(model_bytes).hexdigest(),
                                     server.url('/data.zip'),
                                     hashlib.sha256(archive).hexdigest(), results,
                                     env=env, cwd=box.inp)
                   for i in range(PROCESSES)]
        outcomes = [child.finish_child(p, r, timeout=600) for p, r in started]
        downloads = {path: server.count(path) for path in ('/model.h5', '/data.zip')}
    for outcome in outcomes:
        assert outcome.status == 'returned', outcome.describe()
        assert outcome.value['status'] == [0, 0], outcome.describe()
    assert downloads == {'/model.h5': 1, '/data.zip': 1}
    datasets = os.path.join(cache, 'datasets')
    assert {o.value['model'] for o in outcomes} == {os.path.join(datasets, 'model.h5')}
    with open(os.path.join(datasets, 'model.h5'), 'rb') as f:
        assert f.read() == model_bytes
    folder = os.path.join(datasets, 'data_extracted')
    assert {o.value['folder'] for o in outcomes} == {folder}
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), 'rb') as f:
                found[os.path.relpath(os.path.join(root, name), folder)] = f.read()
    assert found == members
    assert sorted(os.listdir(datasets)) == ['.kzoo', 'data.zip', 'data_extracted', 'model.h5']
    # every result computes what the source model computes
    x = np.random.default_rng(3).standard_normal(shape).astype('float32')
    expected = workers.model_outputs(os.path.join(datasets, 'model.h5'), x)
    names = sorted(os.listdir(results))
    assert names == sorted(['model.onnx'] + ['model_%d.keras' % i for i in range(PROCESSES)])
    for name in names:
        np.testing.assert_allclose(workers.model_outputs(os.path.join(results, name), x),
                                   expected, rtol=1e-4, atol=1e-4)
    # no temporary file is left, not even onnxruntime's telemetry session (kzoo turns it off)
    assert os.listdir(box.tmp) == [] and os.listdir(box.home) == []
