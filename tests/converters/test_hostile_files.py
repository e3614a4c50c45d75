"""Model files are untrusted input (security.md): the readers refuse hostile files with
a kzoo error, run no code (a sentinel a payload would write stays absent), follow no
link out of the file and allocate no more than a small multiple of the file's size.

Every hostile file is built here, on the fly. (The exhaustive hostile-input suite is
its own issue; this covers what the readers themselves must refuse: security.md items
1-16, 25 and 26.)
"""
import json
import os
import zipfile

import numpy as np
import pytest

from kzoo.errors import (ConfigError, FileFormatError, KzooError, UnknownObjectError,
                         UnsafeInputError)
from kzoo.layers import Dense
from kzoo.models import Sequential, load_model, model_from_json, model_from_yaml


@pytest.fixture
def sentinel(tmp_path):
    path = tmp_path / 'pwned'
    yield str(path)
    assert not path.exists(), 'a payload ran: %s was written' % path


def _payload_code(sentinel):
    """Marshalled bytecode of a function that would write ``sentinel`` (never called)."""
    from kzoo.utils.safe_mode import func_dump

    def make(path):
        return lambda x: (open(path, 'w').write('pwned'), x)[1]
    return list(func_dump(make(sentinel)))


def _small_model():
    return Sequential([Dense(2, input_dim=3, name='d')], name='s')


def _config_with_lambda(sentinel, field='function'):
    config = json.loads(_small_model().to_json())
    lam = {'module': 'keras.layers', 'class_name': 'Lambda', 'registered_name': None,
           'config': {'name': 'evil', 'trainable': True, 'dtype': 'float32',
                      'function': 'linear', 'function_type': 'function',
                      'output_shape': None, 'output_shape_type': 'raw', 'arguments': {}}}
    if field == 'function':
        lam['config'].update(function=_payload_code(sentinel), function_type='lambda')
    else:
        lam['config'].update(output_shape=_payload_code(sentinel), output_shape_type='lambda')
    config['config']['layers'].append(lam)
    return config


def _h5_with_config(path, config):
    import h5py
    _small_model().save(path)
    with h5py.File(path, 'r+') as f:
        f.attrs['model_config'] = json.dumps(config).encode()


def _rewrite_keras(path, replace):
    """Write a copy of a kzoo .keras archive with members replaced or added."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members.update(replace)
    with zipfile.ZipFile(path, 'w') as z:
        for name, data in members.items():
            z.writestr(name, data)


# ---- YAML ------------------------------------------------------------------------------

def test_yaml_python_tag_is_refused(sentinel):
    text = '!!python/object/apply:os.system ["echo pwned > %s"]' % sentinel
    with pytest.raises(UnsafeInputError, match='safe loader'):
        model_from_yaml(text)


def test_yaml_alias_bomb_is_refused():
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i, name in enumerate('bcdefghi'):
        prev = 'abcdefghi'[i]
        lines.append('%s: &%s [%s]' % (name, name, ', '.join(['*' + prev] * 10)))
    with pytest.raises(UnsafeInputError, match='alias bomb'):
        model_from_yaml('\n'.join(lines))


# ---- Lambda bytecode -------------------------------------------------------------------------

def test_lambda_bytecode_in_h5_is_refused(tmp_path, sentinel):
    path = str(tmp_path / 'evil.h5')
    _h5_with_config(path, _config_with_lambda(sentinel))
    with pytest.raises(UnsafeInputError, match="'evil'.*marshalled"):
        load_model(path)
    # The caller may supply the function by the layer's name: the file's code never runs.
    model = load_model(path, custom_objects={'evil': lambda x: x * 2})
    out = model.predict(np.ones((1, 3), 'float32'))
    assert out.shape == (1, 2)


def test_lambda_bytecode_in_keras_archive_is_refused(tmp_path, sentinel):
    path = str(tmp_path / 'evil.keras')
    _small_model().save(path)
    _rewrite_keras(path, {'config.json': json.dumps(_config_with_lambda(sentinel))})
    with pytest.raises(UnsafeInputError, match='marshalled'):
        load_model(path)


def test_lambda_payload_in_output_shape_only_is_refused(tmp_path, sentinel):
    path = str(tmp_path / 'evil.h5')
    _h5_with_config(path, _config_with_lambda(sentinel, field='output_shape'))
    with pytest.raises(UnsafeInputError, match='output_shape'):
        load_model(path)


# ---- class gadgets ------------------------------------------------------------------------------

@pytest.mark.parametrize('entry', [
    {'module': 'os', 'class_name': 'system', 'config': {'command': 'echo pwned'}},
    {'module': 'keras.saving', 'class_name': 'load_model', 'config': {'filepath': '/x.keras'}},
    {'module': 'builtins', 'class_name': 'eval', 'config': {'source': '1'}},
], ids=['os.system', 'loader', 'eval'])
def test_config_cannot_name_a_python_callable(entry):
    config = json.loads(_small_model().to_json())
    config['config']['layers'].append(entry)
    with pytest.raises(UnknownObjectError, match=entry['class_name']):
        model_from_json(json.dumps(config))


def test_registered_name_is_ignored():
    """A Dense claiming ``registered_name: subprocess.Popen`` is just a Dense."""
    config = json.loads(_small_model().to_json())
    config['config']['layers'][-1]['registered_name'] = 'subprocess.Popen'
    config['config']['layers'][-1]['module'] = 'subprocess'
    model = model_from_json(json.dumps(config))
    assert type(model.layers[-1]).__name__ == 'Dense'


# ---- HDF5 links, virtual and external storage, bombs ---------------------------------------

def _weights_file(path):
    _small_model().save_weights(path)


def test_external_link_as_model_weights_is_refused(tmp_path):
    import h5py
    target = str(tmp_path / 'other.h5')
    _weights_file(target)
    path = str(tmp_path / 'm.h5')
    _small_model().save(path)
    with h5py.File(path, 'r+') as f:
        del f['model_weights']
        f['model_weights'] = h5py.ExternalLink(target, '/')
    with pytest.raises(UnsafeInputError, match='ExternalLink'):
        load_model(path)


def test_soft_link_cycle_is_refused(tmp_path):
    import h5py
    path = str(tmp_path / 'w.h5')
    _weights_file(path)
    with h5py.File(path, 'r+') as f:
        del f['d']
        f['d'] = h5py.SoftLink('/d')
    model = _small_model()
    with pytest.raises(UnsafeInputError, match='SoftLink'):
        model.load_weights(path)


def test_virtual_dataset_is_refused(tmp_path):
    import h5py
    source = str(tmp_path / 'source.h5')
    with h5py.File(source, 'w') as f:
        f['k'] = np.ones((3, 2), 'float32')
    path = str(tmp_path / 'w.h5')
    _weights_file(path)
    with h5py.File(path, 'r+') as f:
        name = f['d'].attrs['weight_names'][0].decode()
        del f['d'][name]
        layout = h5py.VirtualLayout(shape=(3, 2), dtype='float32')
        layout[:] = h5py.VirtualSource(source, 'k', shape=(3, 2))
        f['d'].create_virtual_dataset(name, layout)
    with pytest.raises(UnsafeInputError, match='virtual'):
        _small_model().load_weights(path)


def test_external_storage_is_refused(tmp_path):
    import h5py
    raw = tmp_path / 'raw.bin'
    raw.write_bytes(np.ones((3, 2), 'float32').tobytes())
    path = str(tmp_path / 'w.h5')
    _weights_file(path)
    with h5py.File(path, 'r+') as f:
        name = f['d'].attrs['weight_names'][0].decode()
        del f['d'][name]
        f['d'].create_dataset(name, shape=(3, 2), dtype='float32',
                              external=[(str(raw), 0, 24)])
    with pytest.raises(UnsafeInputError, match='external storage'):
        _small_model().load_weights(path)


def test_compressed_fill_only_bomb_is_refused(tmp_path):
    import h5py
    path = str(tmp_path / 'w.h5')
    _weights_file(path)
    with h5py.File(path, 'r+') as f:
        name = f['d'].attrs['weight_names'][0].decode()
        del f['d'][name]
        f['d'].create_dataset(name, shape=(2 ** 40,), dtype='float32', chunks=(1 << 16,),
                              compression='gzip')
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(UnsafeInputError, match='bomb'):
        _small_model().load_weights(path)


def test_truncated_and_bit_flipped_files_fail_cleanly(tmp_path):
    """Seeded corruptions of a real file: each load succeeds or raises a kzoo error."""
    source = '/work/shared/corpus/keras/dl4j__keras2_dga_classifier_tf_model.h5'
    if not os.path.exists(source):
        pytest.skip('corpus file missing')
    data = open(source, 'rb').read()
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'bad.h5')
    outcomes = {'loaded': 0, 'refused': 0}
    for i in range(24):
        if i % 2:
            bad = data[:int(rng.integers(8, len(data)))]
        else:
            bad = bytearray(data)
            for offset in rng.integers(0, len(data), size=8):
                bad[offset] ^= 1 << int(rng.integers(0, 8))
            bad = bytes(bad)
        with open(path, 'wb') as f:
            f.write(bad)
        try:
            load_model(path)
            outcomes['loaded'] += 1
        except KzooError:
            outcomes['refused'] += 1
    assert outcomes['refused'] > 0


# ---- .keras archives

def test_keras_zip_bomb_is_refused(tmp_path):
    path = str(tmp_path / 'bomb.keras')
    _small_model().save(path)
    with zipfile.ZipFile(path) as z:
        config, metadata = z.read('config.json'), z.read('metadata.json')
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr('metadata.json', metadata)
        z.writestr('config.json', config)
        z.writestr('model.weights.h5', b'\0' * (96 << 20))
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(UnsafeInputError, match='zip bomb'):
        load_model(path)


@pytest.mark.parametrize('member', ['../x', '/abs/x', 'assets/../../x'])
def test_keras_archive_with_escaping_members_is_refused(tmp_path, member):
    path = str(tmp_path / 'trav.keras')
    _small_model().save(path)
    _rewrite_keras(path, {member: b'x'})
    with pytest.raises(UnsafeInputError, match='absolute or parent'):
        load_model(path)
    assert not os.path.exists(os.path.join(str(tmp_path), '..', 'x'))


# ---- names, cycles, depth

@pytest.mark.parametrize('name', ['../../x', '.', ''], ids=['parent', 'dot', 'empty'])
def test_hostile_layer_names_in_weights_file(tmp_path, name):
    import h5py
    path = str(tmp_path / 'w.h5')
    _weights_file(path)
    with h5py.File(path, 'r+') as f:
        f.attrs['layer_names'] = np.array([name.encode()])
    with pytest.raises(FileFormatError):
        _small_model().load_weights(path)


def test_odd_but_valid_layer_names_round_trip(tmp_path):
    """'a/b' becomes nested HDF5 groups, as in Keras; a 2,000-character name is stored."""
    long_name = 'n' * 2000
    model = Sequential([Dense(2, input_dim=3, name='a/b'), Dense(1, name=long_name)])
    path = str(tmp_path / 'm.h5')
    model.save(path)
    back = load_model(path)
    assert [l.name for l in back.layers] == ['a/b', long_name]
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layer_names_that_hdf5_cannot_hold_are_refused_on_write(tmp_path):
    from kzoo.errors import ConversionError
    model = Sequential([Dense(2, input_dim=3, name='bad\0name')])
    with pytest.raises(ConversionError):
        model.save(str(tmp_path / 'm.h5'))
    assert os.listdir(str(tmp_path)) == []  # nothing half-written


def test_cyclic_config_is_refused():
    config = {'class_name': 'Model', 'config': {
        'name': 'cycle',
        'layers': [{'name': 'in', 'class_name': 'InputLayer',
                    'config': {'batch_input_shape': [None, 2], 'name': 'in'},
                    'inbound_nodes': []},
                   {'name': 'a', 'class_name': 'Dense', 'config': {'units': 2, 'name': 'a'},
                    'inbound_nodes': [[['b', 0, 0, {}]]]},
                   {'name': 'b', 'class_name': 'Dense', 'config': {'units': 2, 'name': 'b'},
                    'inbound_nodes': [[['a', 0, 0, {}]]]}],
        'input_layers': [['in', 0, 0]], 'output_layers': [['b', 0, 0]]}}
    with pytest.raises(ConfigError, match='cycle|never appear'):
        model_from_json(json.dumps(config))


def test_deep_json_is_refused(tmp_path):
    text = '{"class_name": "Sequential", "config": ' + '[' * 100000 + ']' * 100000 + '}'
    with pytest.raises(FileFormatError, match='nested too deeply'):
        model_from_json(text)
    path = str(tmp_path / 'deep.h5')
    import h5py
    _small_model().save(path)
    with h5py.File(path, 'r+') as f:  # 20,000 deep still fits an HDF5 attribute
        f.attrs['model_config'] = np.bytes_(('[' * 20000 + ']' * 20000).encode())
    with pytest.raises(FileFormatError, match='nested too deeply'):
        load_model(path)


def test_deeply_nested_models_are_refused():
    text = '{"class_name": "Dense", "config": {"units": 1, "name": "d"}}'
    for i in range(200):  # deep enough for the limit, shallow enough for json itself
        text = '{"class_name": "Sequential", "config": {"name": "s%d", "layers": [%s]}}' % (
            i, text)
    with pytest.raises(ConfigError, match='levels deep'):
        model_from_json(text)
