"""ONNX external data is read only from regular files inside the model's folder
(security.md, hostile inputs 17-19), with bounds checked before anything is read or
allocated. Every hostile file is built here, on the fly."""
import os
import tracemalloc

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper, numpy_helper

from kzoo.converters import from_onnx
from kzoo.errors import FileFormatError, UnsafeInputError

WEIGHT = np.arange(4, dtype='float32').reshape(2, 2) + 1


def _graph_model(weight):
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'W'], ['y'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [None, 2])],
        initializer=[weight])
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', 13)])


def external_model(folder, location='w.bin', offset=None, length=None, dims=(2, 2),
                   data=WEIGHT.tobytes(), write_data=True):
    """``folder/model.onnx`` whose weight W has its bytes in ``location``."""
    os.makedirs(folder, exist_ok=True)
    if write_data:
        with open(os.path.join(folder, 'w.bin'), 'wb') as f:
            f.write(data)
    weight = TensorProto(name='W', data_type=TensorProto.FLOAT, dims=list(dims))
    weight.data_location = TensorProto.EXTERNAL
    entries = [('location', location)]
    if offset is not None:
        entries.append(('offset', str(offset)))
    if length is not None:
        entries.append(('length', str(length)))
    for key, value in entries:
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    path = os.path.join(folder, 'model.onnx')
    with open(path, 'wb') as f:
        f.write(_graph_model(weight).SerializeToString())
    return path


def _predict(model):
    x = np.array([[1., 2.]], 'float32')
    return model.predict(x)


def test_external_data_inside_the_folder_is_read(tmp_path):
    model = from_onnx(external_model(str(tmp_path / 'm')))
    assert np.allclose(_predict(model), np.array([[1., 2.]], 'float32') @ WEIGHT)


def test_offset_and_length_are_honoured(tmp_path):
    data = b'\x00' * 8 + WEIGHT.tobytes() + b'\xff' * 4
    model = from_onnx(external_model(str(tmp_path / 'm'), offset=8, length=16, data=data))
    assert np.allclose(_predict(model), np.array([[1., 2.]], 'float32') @ WEIGHT)


def test_external_data_written_by_onnx_itself(tmp_path):
    weight = numpy_helper.from_array(WEIGHT, 'W')
    proto = _graph_model(weight)
    path = str(tmp_path / 'model.onnx')
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location='weights.data', size_threshold=0)
    assert os.path.exists(str(tmp_path / 'weights.data'))
    assert np.allclose(_predict(from_onnx(path)), np.array([[1., 2.]], 'float32') @ WEIGHT)


@pytest.fixture
def opened(monkeypatch):
    """Paths kzoo opens while importing (to prove nothing outside is read)."""
    paths = []
    real_open = os.open

    def recording_open(path, *args, **kwargs):
        paths.append(os.path.abspath(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, 'open', recording_open)
    return paths


@pytest.mark.parametrize('location', ['../secret.bin', 'sub/../../secret.bin', '..'])
def test_parent_locations_are_refused(tmp_path, opened, location):
    secret = tmp_path / 'secret.bin'
    secret.write_bytes(WEIGHT.tobytes())
    path = external_model(str(tmp_path / 'm'), location=location)
    with pytest.raises(UnsafeInputError, match="'W'.*leaves the model folder"):
        from_onnx(path)
    assert str(secret) not in opened


@pytest.mark.parametrize('location', ['/etc/passwd', '//etc/passwd', 'C:/Windows/x.bin',
                                      'sub\\..\\..\\x', 'w.bin\x00.txt'])
def test_absolute_and_odd_locations_are_refused(tmp_path, opened, location):
    path = external_model(str(tmp_path / 'm'), location=location)
    with pytest.raises(UnsafeInputError, match="'W'"):
        from_onnx(path)
    assert '/etc/passwd' not in opened


def test_symlink_out_of_the_folder_is_refused(tmp_path, opened):
    secret = tmp_path / 'secret.bin'
    secret.write_bytes(WEIGHT.tobytes())
    folder = tmp_path / 'm'
    path = external_model(str(folder), location='link.bin')
    os.symlink(str(secret), str(folder / 'link.bin'))
    with pytest.raises(UnsafeInputError, match="'W'.*symbolic link"):
        from_onnx(path)
    assert str(secret) not in opened


def test_symlink_inside_the_folder_is_refused_too(tmp_path):
    folder = tmp_path / 'm'
    path = external_model(str(folder), location='link.bin')
    os.symlink('w.bin', str(folder / 'link.bin'))
    with pytest.raises(UnsafeInputError, match='symbolic link'):
        from_onnx(path)


def test_symlinked_directory_is_refused(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'w.bin').write_bytes(WEIGHT.tobytes())
    folder = tmp_path / 'm'
    path = external_model(str(folder), location='sub/w.bin')
    os.symlink(str(outside), str(folder / 'sub'))
    with pytest.raises(UnsafeInputError, match='symbolic link'):
        from_onnx(path)


def test_directory_location_is_refused(tmp_path):
    folder = tmp_path / 'm'
    path = external_model(str(folder), location='sub')
    (folder / 'sub').mkdir()
    with pytest.raises(UnsafeInputError, match='not a regular file'):
        from_onnx(path)


def test_missing_file_is_a_clear_error(tmp_path):
    path = external_model(str(tmp_path / 'm'), location='nothing.bin')
    with pytest.raises(FileFormatError, match="'W'.*does not exist"):
        from_onnx(path)


@pytest.mark.parametrize('offset, length', [(1 << 40, None), (0, 1 << 40), (12, 16),
                                            (16, 1)])
def test_ranges_past_the_end_are_refused(tmp_path, offset, length):
    path = external_model(str(tmp_path / 'm'), offset=offset, length=length)
    with pytest.raises(FileFormatError, match="'W'"):
        from_onnx(path)


@pytest.mark.parametrize('offset', ['-4', 'twelve'])
def test_bad_offsets_are_refused(tmp_path, offset):
    folder = str(tmp_path / 'm')
    path = external_model(folder, offset=0)
    proto = onnx.load(path, load_external_data=False)
    for entry in proto.graph.initializer[0].external_data:
        if entry.key == 'offset':
            entry.value = offset
    with open(path, 'wb') as f:
        f.write(proto.SerializeToString())
    with pytest.raises(FileFormatError, match="'W'.*offset"):
        from_onnx(path)


def test_huge_dims_with_four_bytes_are_refused_without_allocating(tmp_path):
    path = external_model(str(tmp_path / 'm'), dims=(2 ** 62, 4), data=b'\x00' * 4)
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match="'W'.*declares dims"):
            from_onnx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20


def test_huge_dims_inline_are_refused(tmp_path):
    weight = TensorProto(name='W', data_type=TensorProto.FLOAT, dims=[2 ** 62, 4],
                         raw_data=b'\x00' * 4)
    path = str(tmp_path / 'model.onnx')
    with open(path, 'wb') as f:
        f.write(_graph_model(weight).SerializeToString())
    with pytest.raises(FileFormatError, match="'W'.*declares dims"):
        from_onnx(path)


def test_negative_dims_are_refused(tmp_path):
    weight = TensorProto(name='W', data_type=TensorProto.FLOAT, dims=[-1, 4], raw_data=b'')
    with pytest.raises(FileFormatError, match="'W'.*negative"):
        from_onnx(_graph_model(weight))


def test_model_in_memory_has_no_folder_for_external_data(tmp_path):
    proto = onnx.load(external_model(str(tmp_path / 'm')), load_external_data=False)
    with pytest.raises(UnsafeInputError, match="'W'.*not loaded from a folder"):
        from_onnx(proto)
    model = from_onnx(proto, base_dir=str(tmp_path / 'm'))
    assert np.allclose(_predict(model), np.array([[1., 2.]], 'float32') @ WEIGHT)


def test_truncated_and_garbage_files_fail_cleanly(tmp_path):
    path = external_model(str(tmp_path / 'm'))
    data = open(path, 'rb').read()
    for i, blob in enumerate([data[:len(data) // 2], b'\x08\x96\x01garbage', b'']):
        bad = tmp_path / ('bad%d.onnx' % i)
        bad.write_bytes(blob)
        with pytest.raises((FileFormatError, UnsafeInputError)):
            from_onnx(str(bad))
