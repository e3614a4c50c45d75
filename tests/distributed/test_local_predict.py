"""Batch prediction in one process (no Ray): inputs, results, errors, files, the CLI.

Oracle: Keras 3 runs the same model file on images decoded by Pillow directly
(nearest-neighbour resize, as Keras's load_img does) and scaled by Keras's
``imagenet_utils.preprocess_input`` (mode 'tf', as the tests ask), top classes by numpy;
scores agree to 1e-5 (float32, scaled by max(1, |score|)); class ids exactly.
"""
import json
import os

import numpy as np
import pytest

from conftest import list_file
from helpers import assert_matches
from kzoo.distributed import predict, read_results, write_results
from kzoo.distributed.sources import image_paths
from kzoo.errors import ConfigError


def _pillow_batch(paths, size, mode='RGB'):
    from PIL import Image
    arrays = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert(mode).resize((size[1], size[0]), Image.NEAREST)
        a = np.asarray(img, 'float32')
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    return np.stack(arrays)


def _keras_top(model_path, paths, size, top, mode='RGB'):
    import keras
    from keras.applications import imagenet_utils
    model = keras.saving.load_model(model_path, compile=False)
    batch = imagenet_utils.preprocess_input(_pillow_batch(paths, size, mode), mode='tf')
    preds = np.asarray(model.predict(batch, verbose=0))
    ids = np.argsort(-preds, axis=1, kind='stable')[:, :top]
    return ids, np.take_along_axis(preds, ids, axis=1)


def assert_same_rows(actual, expected, tol):
    assert [r['path'] for r in actual] == [r['path'] for r in expected]
    for a, e in zip(actual, expected):
        assert (a['class_ids'], a['class_names'], a['error']) == (
            e['class_ids'], e['class_names'], e['error'])
        assert_matches(np.array(a['scores']), np.array(e['scores']), tol)


@pytest.fixture(scope='module')
def cnn_rows(image_set, model_files):
    folder, good, bad = image_set
    return list(predict(model_files['cnn'], folder, top=3, batch_size=16, preprocess='tf'))


@pytest.mark.oracle
def test_rgb_model_matches_keras(image_set, model_files, cnn_rows):
    folder, good, bad = image_set
    rows = {r['path']: r for r in cnn_rows}
    ids, scores = _keras_top(model_files['cnn'], good, (32, 32), 3)
    assert np.array_equal([rows[p]['class_ids'] for p in good], ids)
    assert_matches(np.array([rows[p]['scores'] for p in good]), scores, 1e-5)
    assert all(rows[p]['class_names'] == ['class_%d' % i for i in rows[p]['class_ids']]
               for p in good)


@pytest.mark.oracle
def test_grayscale_keras_file_matches_keras(image_set, model_files):
    folder, good, bad = image_set
    paths = good[:40]
    rows = list(predict(model_files['gray'], paths, top=2, batch_size=7, preprocess='tf'))
    ids, scores = _keras_top(model_files['gray'], paths, (12, 12), 2, mode='L')
    assert [r['path'] for r in rows] == paths
    assert np.array_equal([r['class_ids'] for r in rows], ids)
    assert_matches(np.array([r['scores'] for r in rows]), scores, 1e-5)


def test_every_input_once_in_order_and_bad_images_do_not_stop(image_set, cnn_rows):
    folder, good, bad = image_set
    assert [r['path'] for r in cnn_rows] == sorted(good + bad)
    failed = {r['path']: r for r in cnn_rows if r['error'] is not None}
    assert sorted(failed) == bad
    for path, row in failed.items():
        assert row['class_ids'] == row['class_names'] == row['scores'] == []
        assert os.path.basename(path) in row['error']
    assert all(len(r['class_ids']) == 3 for r in cnn_rows if r['error'] is None)


def test_imagenet_outputs_get_imagenet_names(image_set, model_files):
    folder, good, bad = image_set
    with open(os.path.join(os.path.dirname(__import__('kzoo.registry.imagenet').registry
                                           .imagenet.__file__),
                           'imagenet_class_index.json')) as f:
        index = json.load(f)  # the file Keras downloads, bundled with kzoo
    rows = list(predict(model_files['imagenet'], good[:5], top=4))
    for row in rows:
        assert row['class_names'] == [index[str(i)][1] for i in row['class_ids']]
        assert row['scores'] == sorted(row['scores'], reverse=True)


def test_kzoo_model_object_and_preprocessing(image_set):
    """A Model object works; preprocess='caffe' equals Keras's imagenet preprocessing."""
    from keras.applications import imagenet_utils
    from kzoo.layers import Flatten, Input
    from kzoo.models import Model
    folder, good, bad = image_set
    x = Input(shape=(4, 4, 3))
    identity = Model(x, Flatten()(x))  # the scores are the preprocessed pixels
    rows = list(predict(identity, good[:3], top=48, preprocess='caffe'))
    expected = imagenet_utils.preprocess_input(_pillow_batch(good[:3], (4, 4)), mode='caffe',
                                               data_format='channels_last').reshape(3, -1)
    expected = -np.sort(-expected, axis=1, kind='stable')
    assert_matches(np.array([r['scores'] for r in rows]), expected, 1e-6)


# ---- inputs -------------------------------------------------------------------------------------

def test_inputs_folder_glob_and_list_file(image_set, tmp_path):
    folder, good, bad = image_set
    assert image_paths(folder) == sorted(good + bad)
    pattern = os.path.join(folder, 'part1', '*.png')
    assert image_paths(pattern) == sorted(p for p in good if '/part1/' in p
                                          and p.endswith('.png'))
    assert image_paths(os.path.join(folder, '**', '*.jpg')) == sorted(
        p for p in good + bad if p.endswith('.jpg'))
    chosen = [good[5], good[2], good[5], bad[0]]
    listed = list_file(folder, chosen)
    assert image_paths(listed) == [good[5], good[2], bad[0]]  # list order, once each
    assert image_paths(good[0]) == [good[0]]


@pytest.mark.parametrize('spec, message', [('nowhere/at/all', 'no such folder'),
                                           ('/nowhere/*.png', 'matches no file')])
def test_inputs_that_name_nothing(spec, message):
    with pytest.raises(ConfigError, match=message):
        image_paths(spec)


def test_empty_folder_and_list(tmp_path):
    with pytest.raises(ConfigError, match='no image file'):
        image_paths(str(tmp_path))
    (tmp_path / 'list.txt').write_text('# nothing\n\n')
    with pytest.raises(ConfigError, match='names no image'):
        image_paths(str(tmp_path / 'list.txt'))


# ---- results files ----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['r.parquet', 'r.jsonl'])
def test_results_files_round_trip(cnn_rows, tmp_path, name):
    import pyarrow.parquet as pq
    out = str(tmp_path / name)
    assert write_results(iter(cnn_rows), out) == len(cnn_rows)
    assert read_results(out) == cnn_rows
    if name.endswith('.parquet'):  # read by pyarrow alone: the columns and their types
        table = pq.read_table(out)
        assert table.column_names == ['path', 'class_ids', 'class_names', 'scores', 'error']
        assert str(table.schema.field('scores').type) == 'list<element: float>'
        assert table.column('error').null_count == len(cnn_rows) - 3
    assert os.listdir(tmp_path) == [name]


def test_interrupted_write_leaves_old_file_and_no_partial(cnn_rows, tmp_path):
    out = tmp_path / 'r.jsonl'
    out.write_text('previous\n')

    def rows():
        yield from cnn_rows[:2000]
        raise KeyboardInterrupt

    for name in ('r.jsonl', 'r.parquet'):
        with pytest.raises(KeyboardInterrupt):
            write_results(rows(), str(tmp_path / name))
    assert out.read_text() == 'previous\n'
    assert sorted(os.listdir(tmp_path)) == ['r.jsonl']


def test_output_name_must_say_the_format(cnn_rows, tmp_path):
    with pytest.raises(ConfigError, match='.parquet or .jsonl'):
        write_results(cnn_rows, str(tmp_path / 'r.csv'))


# ---- errors ----------------------------------------------------------------------------------

def test_ray_and_pyarrow_missing_say_how_to_install(monkeypatch, image_set, model_files,
                                                    tmp_path, capsys):
    import sys
    from kzoo.cli import main
    from kzoo.distributed import RayUnavailableError
    folder, good, bad = image_set
    monkeypatch.setitem(sys.modules, 'ray', None)  # `import ray` now fails
    with pytest.raises(RayUnavailableError, match=r'pip install "kzoo\[ray\]"'):
        predict(model_files['cnn'], good[:2], ray='auto')
    assert main(['predict', model_files['cnn'], '--input', folder, '--output',
                 str(tmp_path / 'r.jsonl'), '--ray']) == 1
    assert 'kzoo[ray]' in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, 'pyarrow', None)
    with pytest.raises(RayUnavailableError, match='needs pyarrow'):
        write_results([], str(tmp_path / 'r.parquet'))
    # JSON Lines needs neither
    assert write_results(predict(model_files['cnn'], good[:2]), str(tmp_path / 'r.jsonl')) == 2


def test_bad_arguments(model_files, image_set):
    folder, good, bad = image_set
    with pytest.raises(ConfigError, match='at least 1'):
        list(predict(model_files['cnn'], good[:1], top=0))
    with pytest.raises(ConfigError, match='preprocess'):
        list(predict(model_files['cnn'], good[:1], preprocess='bogus'))


# ---- the command --------------------------------------------------------------------------------

def test_cli_input_output_and_positional(image_set, model_files, tmp_path, capsys, cnn_rows):
    from kzoo.cli import main
    folder, good, bad = image_set
    listed = list_file(str(tmp_path), good[:20] + bad)
    out = str(tmp_path / 'r.parquet')
    assert main(['predict', model_files['cnn'], '--input', listed, '--output', out,
                 '--top', '3', '--batch-size', '16', '--workers', '2', '--preprocess', 'tf']) == 0
    by_path = {r['path']: r for r in cnn_rows}
    # other batches than cnn_rows': float32 sums may differ in the last bit
    assert_same_rows(read_results(out), [by_path[p] for p in good[:20] + bad], 1e-6)
    printed = capsys.readouterr()
    assert '23 images (3 could not be read)' in printed.out
    # the positional form is unchanged
    assert main(['predict', model_files['cnn'], good[0], '--top', '2',
                 '--weights', 'none']) == 0
    assert capsys.readouterr().out.startswith(good[0])
    # without --output the rows are printed
    assert main(['predict', model_files['cnn'], '--input', good[1], '--top', '1',
                 '--preprocess', 'tf']) == 0
    assert by_path[good[1]]['class_names'][0] in capsys.readouterr().out
    assert main(['predict', model_files['cnn'], good[0], '--input', folder]) == 1
    assert main(['predict', model_files['cnn']]) == 1
    assert 'no images' in capsys.readouterr().err


def test_precision_and_provider_reach_the_model(image_set, model_files, cnn_rows):
    """kzoo predict's --precision/--provider apply to batch prediction too (the
    inference options themselves are tested with kzoo.engine.inference)."""
    folder, good, bad = image_set
    with pytest.raises(ConfigError, match="unknown inference provider 'bogus'"):
        list(predict(model_files['cnn'], good[:2], provider='bogus'))
    plain = list(predict(model_files['cnn'], good[:16], top=3, batch_size=16,
                         preprocess='tf', provider='plain'))
    assert_same_rows(plain, [r for r in cnn_rows if r['path'] in good[:16]], 1e-5)
