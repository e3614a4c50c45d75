"""The format machinery: detection, eras, the HDF5 layout details, atomic writes, text
configs, weight loading options, kernel conversion, training configs and ``kzoo info``.
Oracles: tf-keras (reads our long-attribute files), scipy (kernel flips), and the
layouts Keras itself writes."""
import json
import os

import numpy as np
import pytest

from converter_oracles import corpus_path, kzoo_predict, sample_inputs
from corpus_builders import api
from families import FAMILIES, randomize
from helpers import assert_matches
from kzoo.errors import ConfigError, ConversionError, FileFormatError, ShapeError
from kzoo.layers import Dense, Input
from kzoo.models import Model, Sequential, load_model, model_from_config, model_from_json, \
    model_from_yaml


def _model():
    model = Sequential([Dense(4, input_dim=3, name='a'), Dense(2, name='b')], name='s')
    randomize(model)
    return model


# ---- detection and eras ------------------------------------------------------------------------

def test_formats_are_detected_by_content_not_name(tmp_path):
    from kzoo.converters import formats
    model = _model()
    model.save(str(tmp_path / 'model.bin'))            # legacy HDF5 whatever the name
    model.save(str(tmp_path / 'model.keras'))
    model.save_weights(str(tmp_path / 'w.weights.h5'))
    model.save_weights(str(tmp_path / 'w.h5'))
    (tmp_path / 'm.txt').write_text(model.to_json())
    found = {name: formats.detect(str(tmp_path / name)).name
             for name in ('model.bin', 'model.keras', 'w.weights.h5', 'w.h5', 'm.txt')}
    assert found == {'model.bin': 'hdf5-model', 'model.keras': 'keras3-archive',
                     'w.weights.h5': 'keras3-weights', 'w.h5': 'hdf5-weights',
                     'm.txt': 'json-config'}
    (tmp_path / 'junk.h5').write_bytes(b'not a model at all')
    with pytest.raises(FileFormatError, match='junk.h5.*not a model file'):
        load_model(str(tmp_path / 'junk.h5'))
    with pytest.raises(FileFormatError, match='no such file'):
        load_model(str(tmp_path / 'missing.h5'))
    with pytest.raises(FileFormatError, match='holds no architecture'):
        load_model(str(tmp_path / 'w.h5'))


@pytest.mark.parametrize('name,version,backend,kernels', [
    ('dl4j__conv2d_theano_1.h5', '1.2.2', None, 'theano'),        # names without ':0'
    ('dl4j__cnn_tf_model.h5', '1.1.2', None, 'tensorflow'),       # names with ':0'
    ('dl4j__conv2d_theano_2.h5', '2.1.3', 'theano', 'theano'),
    ('dl4j__issue_9349.hdf5', '2.4.0', 'tensorflow', 'tensorflow'),
    ('keras-mlx__model.keras', '3.8.0', None, 'tensorflow'),
])
def test_era_is_read_from_the_file(name, version, backend, kernels):
    model = load_model(corpus_path('keras', name))
    era = model._kzoo_report.era
    assert (era.keras_version, era.backend, era.kernels) == (version, backend, kernels)


# ---- the legacy HDF5 layout

def test_layout_matches_what_tf_keras_writes(tmp_path, tfk):
    """Root and group attributes and dataset paths as tf-keras's ``model.save``."""
    import h5py
    model = _model()
    model.save(str(tmp_path / 'k.h5'))
    with h5py.File(str(tmp_path / 'k.h5'), 'r') as f:
        assert {'keras_version', 'backend', 'model_config'} <= set(f.attrs)
        weights = f['model_weights']
        assert [n.decode() for n in weights.attrs['layer_names']] == ['a', 'b']
        assert [n.decode() for n in weights['a'].attrs['weight_names']] == \
            ['a/kernel:0', 'a/bias:0']
        assert weights['a/a/kernel:0'].shape == (3, 4)
    oracle = tfk.models.Sequential([tfk.layers.Dense(4, input_shape=(3,), name='a'),
                                    tfk.layers.Dense(2, name='b')])
    oracle.save(str(tmp_path / 'tf.h5'), save_format='h5')
    with h5py.File(str(tmp_path / 'tf.h5'), 'r') as f:
        assert [n.decode() if isinstance(n, bytes) else n
                for n in f['model_weights'].attrs['layer_names']] == ['a', 'b']
        assert 'a/a/kernel:0' in f['model_weights']


@pytest.mark.slow
def test_long_layer_name_lists_are_split_and_keras_reads_them(tmp_path, tfk):
    """Over 64,512 bytes of layer names: ``layer_names0``, ``layer_names1``, ... (Keras's
    ``save_attributes_to_hdf5_group``); tf-keras loads the file and predicts the same."""
    import h5py
    x = Input(shape=(2,))
    h = x
    for i in range(140):
        h = Dense(2, name='layer_%03d_%s' % (i, 'x' * 480))(h)
    model = Model(x, h)
    randomize(model)
    path = str(tmp_path / 'long.h5')
    model.save(path)
    with h5py.File(path, 'r') as f:
        names = set(f['model_weights'].attrs)
        assert 'layer_names' not in names and {'layer_names0', 'layer_names1'} <= names
    data = np.random.default_rng(0).uniform(-1, 1, (3, 2)).astype('float32')
    expected = model.predict(data)
    assert_matches(load_model(path).predict(data), expected, 1e-6)
    oracle = tfk.models.load_model(path, compile=False)
    assert_matches(oracle(data).numpy(), expected, 1e-5)


def test_nested_model_weights_are_written_trainable_first(tmp_path, tfk):
    """A nested model's group lists all trainable weights before the non-trainable ones
    (Keras's ``model.weights``), which is how tf-keras writes and reads it."""
    import h5py
    import kzoo
    model = FAMILIES['nested'](api(kzoo))
    randomize(model)
    model.save_weights(str(tmp_path / 'w.h5'))
    with h5py.File(str(tmp_path / 'w.h5'), 'r') as f:
        names = [n.decode() for n in f['stack'].attrs['weight_names']]
    assert [n.split('/')[-1] for n in names] == [
        'kernel:0', 'bias:0', 'gamma:0', 'beta:0', 'moving_mean:0', 'moving_variance:0']


# ---- atomic writes

def test_failed_write_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    from kzoo.converters import hdf5_legacy
    path = str(tmp_path / 'm.h5')
    _model().save(path)
    before = open(path, 'rb').read()

    def broken(group, model):
        raise RuntimeError('disk full')
    monkeypatch.setattr(hdf5_legacy, 'write_weights_group', broken)
    with pytest.raises(RuntimeError, match='disk full'):
        _model().save(path)
    assert open(path, 'rb').read() == before
    assert os.listdir(str(tmp_path)) == ['m.h5']


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    path = str(tmp_path / 'm.h5')
    _model().save(path)
    with pytest.raises(ConversionError, match='overwrite=False'):
        _model().save(path, overwrite=False)


# ---- text configs

@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_to_json_and_to_yaml_round_trip_exactly(family):
    import kzoo
    model = FAMILIES[family](api(kzoo))
    text = model.to_json()
    assert model_from_json(text).to_json() == text
    text = model.to_yaml()
    assert model_from_yaml(text).to_yaml() == text
    assert '!!python' not in text


def test_double_encoded_json_and_config_dicts_of_every_era():
    model = _model()
    text = model.to_json()
    assert model_from_json(json.dumps(text)).to_json() == text
    keras1 = {'class_name': 'Sequential', 'config': [
        {'class_name': 'Dense', 'config': {'name': 'd', 'output_dim': 2, 'input_dim': 3,
                                           'init': 'glorot_uniform', 'bias': True}}]}
    keras3 = {'module': 'keras', 'class_name': 'Sequential', 'registered_name': None,
              'config': {'name': 's', 'layers': [
                  {'module': 'keras.layers', 'class_name': 'InputLayer',
                   'config': {'batch_shape': [None, 3], 'name': 'in'}},
                  {'module': 'keras.layers', 'class_name': 'Dense', 'registered_name': None,
                   'config': {'name': 'd', 'units': 2, 'dtype': {
                       'module': 'keras', 'class_name': 'DTypePolicy',
                       'config': {'name': 'float32'}}}}]}}
    for config in (keras1, keras3, json.loads(text)):
        built = model_from_config(config)
        assert built.layers[0].units in (2, 4)
    assert model_from_config({'class_name': 'Dense', 'config': {'units': 3}}).units == 3


def test_keras1_time_distributed_dense_becomes_time_distributed():
    from kzoo.converters.config_upgrade import upgrade_model_config
    config = {'class_name': 'Sequential', 'keras_version': '1.1.0', 'config': [
        {'class_name': 'TimeDistributedDense', 'config': {
            'name': 'tdd', 'output_dim': 3, 'input_dim': 2, 'input_length': 5,
            'activation': 'linear', 'bias': True}}]}
    entry = upgrade_model_config(config)['config'][0]
    assert entry['class_name'] == 'TimeDistributed'
    assert entry['config']['batch_input_shape'] == [None, 5, 2]
    assert entry['config']['layer']['class_name'] == 'Dense'
    model = model_from_config(config)
    assert model.output_shape == (None, 5, 3)


def test_keras1_gru_without_reset_after_keeps_keras2_semantics():
    from kzoo.converters.config_upgrade import upgrade_model_config
    config = {'class_name': 'Sequential', 'keras_version': '2.0.5', 'config': [
        {'class_name': 'GRU', 'config': {'name': 'g', 'units': 2,
                                         'batch_input_shape': [None, 3, 2]}}]}
    layer = upgrade_model_config(config)['config'][0]['config']
    assert layer['reset_after'] is False and layer['recurrent_activation'] == 'hard_sigmoid'


# ---- load_weights

def test_load_weights_by_order_by_name_and_mismatches(tmp_path):
    source = _model()
    path = str(tmp_path / 'w.h5')
    source.save_weights(path)
    target = _model()
    target.load_weights(path)
    for a, b in zip(target.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    # by name: layers are found by their names, whatever their order
    x = Input(shape=(3,))
    renamed = Model(x, Dense(2, name='b')(Dense(4, name='a')(x)))
    renamed.load_weights(path, by_name=True)
    np.testing.assert_array_equal(renamed.get_layer('b').get_weights()[0],
                                  source.get_layer('b').get_weights()[0])
    # a wrong shape names the layer and both shapes
    wrong = Sequential([Dense(4, input_dim=5, name='a'), Dense(2, name='b')])
    with pytest.raises(ShapeError, match=r"layer 'a'.*\(5, 4\).*\(3, 4\)"):
        wrong.load_weights(path)
    with pytest.warns(UserWarning, match="skipping layer 'a'"):
        wrong.load_weights(path, skip_mismatch=True)
    np.testing.assert_array_equal(wrong.get_layer('b').get_weights()[0],
                                  source.get_layer('b').get_weights()[0])
    # a different number of layers is explained
    short = Sequential([Dense(4, input_dim=3, name='a')])
    with pytest.raises(ShapeError, match='holds weights for 2 layers'):
        short.load_weights(path)


def test_keras3_weights_file_mismatch_names_the_path(tmp_path):
    path = str(tmp_path / 'w.weights.h5')
    _model().save_weights(path)
    wrong = Sequential([Dense(5, input_dim=3, name='a'), Dense(2, name='b')])
    with pytest.raises(ShapeError, match=r"layer 'a'.*\(3, 5\).*\(3, 4\).*layers/dense/vars"):
        wrong.load_weights(path)
    with pytest.raises(FileFormatError, match='by_name'):
        _model().load_weights(path, by_name=True)


# ---- Keras 3 nested containers (PR 22362)

def test_post_pr22362_nested_container_file(tmp_path, k3):
    """Keras 3.15 saves sublayers held in nested lists under ``container`` groups; the
    same custom class in kzoo reads them (the pre-PR layout is in test_corpus)."""
    from test_corpus import nested_dense_model_class

    @k3.saving.register_keras_serializable(package='kzoo_test')
    class NestedDenseModel(k3.Model):
        def __init__(self, num=3, **kwargs):
            super().__init__(**kwargs)
            self.num = num
            self.blocks = [(k3.layers.Dense(4, use_bias=False, name='d_%d' % i),)
                           for i in range(num)]
            self.out = k3.layers.Dense(2)

        def call(self, x):
            for (d,) in self.blocks:
                x = d(x)
            return self.out(x)

        def get_config(self):
            return dict(super().get_config(), num=self.num)

    model = NestedDenseModel()
    data = np.random.default_rng(0).uniform(-1, 1, (2, 4)).astype('float32')
    model(data)
    for i, (d,) in enumerate(model.blocks):
        d.kernel.assign(np.full((4, 4), 0.1 * (i + 1), 'float32'))
    path = str(tmp_path / 'post.keras')
    model.save(path)
    import zipfile
    import h5py
    import io
    with zipfile.ZipFile(path) as z:
        with h5py.File(io.BytesIO(z.read('model.weights.h5')), 'r') as f:
            assert 'blocks/container/dense/vars/0' in f
    loaded = load_model(path, custom_objects={'NestedDenseModel': nested_dense_model_class()})
    for i, (d,) in enumerate(loaded.blocks):
        np.testing.assert_allclose(d.get_weights()[0], np.full((4, 4), 0.1 * (i + 1)),
                                   atol=1e-6)
    assert_matches(loaded(data), model(data).numpy(), 1e-5)


# ---- kernels

@pytest.mark.parametrize('rank', [1, 2, 3])
def test_convert_kernel_turns_convolution_into_correlation(rank):
    """scipy: convolving with a kernel = correlating with the converted kernel."""
    from scipy import signal
    from kzoo.utils.np_utils import convert_kernel
    rng = np.random.default_rng(rank)
    x = rng.uniform(-1, 1, (6,) * rank)
    kernel = rng.uniform(-1, 1, (3,) * rank + (1, 1))
    flipped = convert_kernel(kernel)[(Ellipsis, 0, 0)]
    np.testing.assert_allclose(signal.correlate(x, flipped, mode='valid'),
                               signal.convolve(x, kernel[..., 0, 0], mode='valid'))
    np.testing.assert_array_equal(convert_kernel(convert_kernel(kernel)), kernel)
    th = np.moveaxis(kernel, (-2, -1), (1, 0))  # Keras 1 th layout (out, in, *spatial)
    np.testing.assert_array_equal(np.moveaxis(convert_kernel(th, 'th'), (1, 0), (-2, -1)),
                                  convert_kernel(kernel))
    with pytest.raises(ShapeError, match='no spatial axes'):
        convert_kernel(np.ones((3, 2)))


def test_convert_all_kernels_in_model_flips_each_convolution():
    import kzoo
    from kzoo.utils.np_utils import convert_kernel
    from kzoo.utils.layer_utils import convert_all_kernels_in_model
    model = FAMILIES['conv1d_3d'](api(kzoo))
    randomize(model)
    before = {l.name: [w.copy() for w in l.get_weights()] for l in model.layers}
    convert_all_kernels_in_model(model)
    for layer in model.layers:
        if type(layer).__name__ in ('Conv1D', 'Conv3D'):
            np.testing.assert_array_equal(layer.get_weights()[0],
                                          convert_kernel(before[layer.name][0]))
            np.testing.assert_array_equal(layer.get_weights()[1], before[layer.name][1])
    convert_all_kernels_in_model(model)
    for layer in model.layers:
        for a, b in zip(layer.get_weights(), before[layer.name]):
            np.testing.assert_array_equal(a, b)


# ---- training configs

def test_training_config_is_kept_and_compiled_when_possible(monkeypatch):
    path = corpus_path('keras', 'dl4j__bidirectional_lstm_tensorflow_2.h5')
    model = load_model(path)
    assert model._training_config['loss'] == 'mse'
    assert model._training_config['optimizer_config']['class_name'] == 'Adam'
    calls = []
    monkeypatch.setattr(Sequential, 'compile', lambda self, **kw: calls.append(kw),
                        raising=False)
    load_model(path)
    assert calls and calls[0]['loss'] == 'mse'
    calls.clear()
    load_model(path, compile=False)
    assert not calls


def test_kzoo_keeps_training_config_when_saving(tmp_path):
    model = _model()
    model._training_config = {'optimizer_config': {'class_name': 'SGD', 'config': {}},
                              'loss': 'mse', 'metrics': None, 'loss_weights': None}
    for name in ('m.h5', 'm.keras'):
        model.save(str(tmp_path / name))
        back = load_model(str(tmp_path / name), compile=False)
        assert back._training_config['loss'] == 'mse'


# ---- kzoo info

def test_info_command(capsys, tmp_path):
    from kzoo.cli import main
    assert main(['info', corpus_path('keras', 'dl4j__embedding_lstm_theano_1.h5')]) == 0
    out = capsys.readouterr().out
    for text in ('legacy HDF5 whole model', 'Keras version:  1.2.2', 'Theano',
                 'Total params:', 'Keras 1 LSTM weights (12 arrays'):
        assert text in out
    assert main(['info', corpus_path('keras', 'dl4j__mnist_cnn_th_keras_1_weights.h5')]) == 0
    assert 'Total params: 600,810' in capsys.readouterr().out
    bad = tmp_path / 'bad.h5'
    bad.write_bytes(b'\x89HDF\r\n\x1a\n' + b'\0' * 100)
    assert main(['info', str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('kzoo: error:') and '\n' not in err


def test_predictions_survive_every_kzoo_format(tmp_path):
    """Sanity across formats without an oracle run (the oracle runs are in
    test_keras_interop): save, load, predict the same."""
    model = _model()
    arrays = sample_inputs(model)
    expected = kzoo_predict(model, arrays)
    for name in ('m.h5', 'm.keras'):
        model.save(str(tmp_path / name))
        assert_matches(kzoo_predict(load_model(str(tmp_path / name)), arrays)[0],
                       expected[0], 1e-6)
    with pytest.raises(ConfigError):
        model_from_config({'class_name': 'Sequential', 'config': 'not a list'})


def test_keras1_regularizer_and_constraint_dicts():
    """Keras 1 wrote ``{'name': 'WeightRegularizer', 'l1': .., 'l2': ..}`` and
    ``{'name': 'MaxNorm', 'm': .., 'axis': ..}``."""
    config = {'class_name': 'Sequential', 'keras_version': '1.2.2', 'config': [
        {'class_name': 'Dense', 'config': {
            'name': 'd', 'output_dim': 2, 'input_dim': 3, 'init': '<lambda>',
            'W_regularizer': {'name': 'WeightRegularizer', 'l1': 0.0, 'l2': 0.01},
            'W_constraint': {'name': 'MaxNorm', 'm': 2, 'axis': 0}}}]}
    layer = model_from_config(config).layers[0]
    assert layer.kernel_regularizer.l2 == pytest.approx(0.01)
    assert type(layer.kernel_constraint).__name__ == 'MaxNorm'


# ---- Keras 1 weight layouts against Keras 1's own equations -----------------------------------

def _keras1_weights_file(path, layer_name, arrays, tensorflow_names):
    """A Keras 1 ``save_weights`` file: no keras_version; TensorFlow names end in ':0'."""
    import h5py
    suffix = ':0' if tensorflow_names else ''
    with h5py.File(path, 'w') as f:
        f.attrs['layer_names'] = np.array([layer_name.encode()])
        g = f.create_group(layer_name)
        names = ['%s_%d%s' % (layer_name, i, suffix) for i in range(len(arrays))]
        g.attrs['weight_names'] = np.array([n.encode() for n in names])
        for n, a in zip(names, arrays):
            g[n] = a


@pytest.mark.parametrize('tensorflow_names', [True, False], ids=['tensorflow', 'theano'])
def test_keras1_conv1d_kernels_against_scipy(tmp_path, tensorflow_names):
    """Keras 1 Conv1D kernels are 4-D: (length, 1, in, filters) from TensorFlow and
    (filters, in, length, 1) from Theano, whose convolutions are true convolutions."""
    from scipy import signal
    config = {'class_name': 'Sequential', 'keras_version': '1.2.2', 'config': [
        {'class_name': 'Convolution1D', 'config': {
            'name': 'c', 'nb_filter': 2, 'filter_length': 3, 'input_dim': 4,
            'input_length': 7, 'border_mode': 'valid', 'activation': 'linear'}}]}
    rng = np.random.default_rng(0)
    kernel = rng.uniform(-1, 1, (3, 4, 2)).astype('float32')     # (length, in, filters)
    bias = rng.uniform(-1, 1, (2,)).astype('float32')
    stored = kernel[:, None] if tensorflow_names else np.transpose(kernel, (2, 1, 0))[..., None]
    path = str(tmp_path / 'w.h5')
    _keras1_weights_file(path, 'c', [stored, bias], tensorflow_names)
    model = model_from_config(config)
    model.load_weights(path)
    x = rng.uniform(-1, 1, (2, 7, 4)).astype('float32')
    op = signal.correlate if tensorflow_names else signal.convolve
    expected = np.stack([np.stack([sum(op(sample[:, c], kernel[:, c, f], mode='valid')
                                       for c in range(4)) + bias[f] for f in range(2)], -1)
                         for sample in x.astype('float64')])
    assert_matches(model.predict(x), expected, 1e-5)


def test_keras1_gru_weights_against_keras1_equations(tmp_path):
    """Nine Keras 1 GRU arrays (W, U, b for z, r, h) run as Keras 1.2's GRU.step did."""
    config = {'class_name': 'Sequential', 'keras_version': '1.2.2', 'config': [
        {'class_name': 'GRU', 'config': {
            'name': 'g', 'output_dim': 3, 'input_dim': 2, 'input_length': 4,
            'activation': 'tanh', 'inner_activation': 'hard_sigmoid',
            'return_sequences': True}}]}
    rng = np.random.default_rng(1)
    arrays = []
    for _ in range(3):
        arrays += [rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (3, 3)),
                   rng.uniform(-1, 1, (3,))]
    arrays = [a.astype('float32') for a in arrays]
    path = str(tmp_path / 'w.h5')
    _keras1_weights_file(path, 'g', arrays, tensorflow_names=True)
    model = model_from_config(config)
    model.load_weights(path)
    x = rng.uniform(-1, 1, (2, 4, 2)).astype('float32')
    W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h = [a.astype('float64') for a in arrays]
    hard_sigmoid = lambda v: np.clip(0.2 * v + 0.5, 0, 1)  # noqa: E731  (Keras 1)
    h = np.zeros((2, 3))
    outputs = []
    for t in range(4):
        xt = x[:, t].astype('float64')
        z = hard_sigmoid(xt @ W_z + b_z + h @ U_z)
        r = hard_sigmoid(xt @ W_r + b_r + h @ U_r)
        hh = np.tanh(xt @ W_h + b_h + (r * h) @ U_h)
        h = z * h + (1 - z) * hh
        outputs.append(h)
    assert_matches(model.predict(x), np.stack(outputs, 1), 1e-5)
