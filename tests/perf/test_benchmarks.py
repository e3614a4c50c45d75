"""The benchmark scripts run end to end on tiny inputs (no timing is asserted; the
outputs of every peer are checked against kzoo's plain path inside the benchmark)."""
import os
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), 'benchmarks')


@pytest.fixture
def benchmarks(monkeypatch):
    monkeypatch.syspath_prepend(HERE)
    yield


@pytest.mark.slow
def test_bench_inference_small(benchmarks, tmp_path):
    pytest.importorskip('onnxruntime')
    import bench_inference
    report = bench_inference.main(['--small', '--models', 'ResNet50', '--batches', '1',
                                   '--repeat', '1', '--threads', '1', '--dir', str(tmp_path),
                                   '--peers', 'kzoo,kzoo bf16,kzoo plain,onnxruntime,torch cl'])
    row = [l for l in report.splitlines() if l.startswith('| ResNet50 | 1 |')][0]
    assert 'fails' not in row and 'n/a' not in row.split('|')[3]
    errors = report.split("Largest difference from kzoo's plain path")[1].split('\n')[0]
    for part in errors.strip(' :().').split(';'):
        name, value = part.strip().rsplit(' ', 1)
        assert float(value) <= (1e-2 if 'bf16' in name else 1e-4), part


@pytest.mark.slow
def test_bench_loading_small(benchmarks, tmp_path):
    import bench_loading
    results = bench_loading.rows(str(tmp_path), small=True, repeat=1, include_keras=False)
    assert [r['what'] for r in results] == ['load_model', 'load_weights']
    assert all(r['kzoo']['seconds'] > 0 for r in results)
    assert '| `load_model` |' in bench_loading.table(results)
