"""Files cross between kzoo and Keras in both directions, for every layer family.

- kzoo writes ``.h5``, ``.keras``, weights-only ``.h5`` with JSON or YAML architecture,
  and ``.weights.h5`` with JSON; tf-keras and Keras 3 load each and predict what kzoo
  predicts.
- tf-keras and Keras 3 write every format they have (tf-keras: ``.h5``, ``.keras``,
  JSON + weights ``.h5``, JSON + ``.weights.h5``; Keras 3: ``.keras``, ``.h5``,
  JSON + ``.weights.h5``); kzoo loads each and predicts what they predict.

Same seeded weights and inputs on both sides; tolerance 1e-5 scaled by magnitude. The
models are built once per module (``families.py``) and every oracle runs in-process.

Nested models are where Keras disagrees with itself: tf-keras counts a nested model's
nodes from 1 in node lists, Keras 3 from 0, and neither reads the other's nested files
(Keras 3 cannot load tf-keras's own nested ``.h5``). kzoo writes the Keras 2 layout
for ``.h5``/JSON/YAML and the Keras 3 layout for nested ``.keras``; the combinations
Keras itself cannot read are marked below as strict expected failures.
"""
import json
import os

import pytest

from converter_oracles import keras_predict, kzoo_predict, sample_inputs
from corpus_builders import api
from families import FAMILIES, randomize
from helpers import assert_matches

pytestmark = pytest.mark.oracle

KZOO_FORMATS = ('h5', 'keras', 'json+h5', 'yaml+h5', 'json+weights.h5')
READERS = ('tf_keras', 'keras3')

# (family, format, reader): why that Keras cannot read it (strict xfail).
KERAS_CANNOT = {
    ('nested', fmt, 'keras3'): 'Keras 3 cannot read nested models in the Keras 2 layout '
                               '(it fails on tf-keras\'s own nested files the same way)'
    for fmt in ('h5', 'json+h5', 'yaml+h5', 'json+weights.h5')}
KERAS_CANNOT[('nested', 'keras', 'tf_keras')] = (
    'tf-keras cannot read Keras 3 node arguments, which nested models need in .keras')


def _write_kzoo(model, folder):
    model.save(os.path.join(folder, 'm.h5'))
    model.save(os.path.join(folder, 'm.keras'))
    model.save_weights(os.path.join(folder, 'w.h5'))
    model.save_weights(os.path.join(folder, 'w.weights.h5'))
    with open(os.path.join(folder, 'm.json'), 'w') as f:
        f.write(model.to_json())
    with open(os.path.join(folder, 'm.yaml'), 'w') as f:
        f.write(model.to_yaml())


@pytest.fixture(scope='module')
def kzoo_written(tmp_path_factory):
    """family -> (folder, inputs, kzoo predictions), built and written once."""
    import kzoo
    cache = {}

    def get(family):
        if family not in cache:
            model = FAMILIES[family](api(kzoo))
            randomize(model, seed=1)
            folder = str(tmp_path_factory.mktemp('kzoo_%s' % family))
            _write_kzoo(model, folder)
            arrays = sample_inputs(model, seed=2)
            cache[family] = folder, arrays, kzoo_predict(model, arrays)
        return cache[family]
    return get


def _keras_read(k, reader, fmt, folder):
    """Load kzoo's files with tf-keras (``reader='tf_keras'``) or Keras 3."""
    load = k.models.load_model if reader == 'tf_keras' else k.saving.load_model
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    if fmt in ('h5', 'keras'):
        return load(path('m.' + fmt), compile=False)
    if fmt.startswith('yaml'):
        import yaml
        with open(path('m.yaml')) as f:
            text = json.dumps(yaml.safe_load(f))  # neither Keras reads YAML any more
    else:
        with open(path('m.json')) as f:
            text = f.read()
    model = k.models.model_from_json(text)
    model.load_weights(path('w.weights.h5' if fmt.endswith('weights.h5') else 'w.h5'))
    return model


def _cases(formats, readers, cannot):
    out = []
    for family in FAMILIES:
        for fmt in formats:
            for reader in readers:
                reason = cannot.get((family, fmt, reader))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                out.append(pytest.param(family, fmt, reader, marks=marks,
                                        id='%s-%s-%s' % (family, fmt, reader)))
    return out


@pytest.mark.parametrize('family,fmt,reader', _cases(KZOO_FORMATS, READERS, KERAS_CANNOT))
def test_keras_reads_kzoo_files(family, fmt, reader, kzoo_written, tfk, k3):
    folder, arrays, expected = kzoo_written(family)
    model = _keras_read(tfk if reader == 'tf_keras' else k3, reader, fmt, folder)
    actual = keras_predict(model, arrays)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert_matches(a, e, 1e-5, what='%s read by %s from %s' % (family, reader, fmt))


# ---- Keras writes, kzoo reads ------------------------------------------------------------------

WRITERS = {'tf_keras': ('h5', 'keras', 'json+h5', 'json+weights.h5'),
           'keras3': ('keras', 'h5', 'json+weights.h5')}


def _write_keras(k, writer, model, folder):
    model.save(os.path.join(folder, 'm.keras'))
    if writer == 'tf_keras':
        model.save(os.path.join(folder, 'm.h5'), save_format='h5')
        model.save_weights(os.path.join(folder, 'w.h5'), save_format='h5')
    else:
        model.save(os.path.join(folder, 'm.h5'))
    model.save_weights(os.path.join(folder, 'w.weights.h5'))
    with open(os.path.join(folder, 'm.json'), 'w') as f:
        f.write(model.to_json())


@pytest.fixture(scope='module')
def keras_written(tmp_path_factory, tfk, k3):
    """(writer, family) -> (folder, inputs, Keras predictions), built and written once."""
    cache = {}

    def get(writer, family):
        if (writer, family) not in cache:
            import kzoo
            k = tfk if writer == 'tf_keras' else k3
            model = FAMILIES[family](api(k))
            randomize(model, seed=1)
            folder = str(tmp_path_factory.mktemp('%s_%s' % (writer, family)))
            _write_keras(k, writer, model, folder)
            arrays = sample_inputs(FAMILIES[family](api(kzoo)), seed=2)
            cache[writer, family] = folder, arrays, keras_predict(model, arrays)
        return cache[writer, family]
    return get


def _kzoo_read(fmt, folder):
    from kzoo.models import load_model, model_from_json
    if fmt in ('h5', 'keras'):
        return load_model(os.path.join(folder, 'm.' + fmt))
    with open(os.path.join(folder, 'm.json')) as f:
        model = model_from_json(f.read())
    model.load_weights(os.path.join(folder, 'w.weights.h5' if fmt.endswith('weights.h5')
                                     else 'w.h5'))
    return model


def _writer_cases():
    out = []
    for writer, formats in WRITERS.items():
        for family in FAMILIES:
            for fmt in formats:
                out.append(pytest.param(writer, family, fmt,
                                        id='%s-%s-%s' % (writer, family, fmt)))
    return out


@pytest.mark.parametrize('writer,family,fmt', _writer_cases())
def test_kzoo_reads_keras_files(writer, family, fmt, keras_written):
    folder, arrays, expected = keras_written(writer, family)
    model = _kzoo_read(fmt, folder)
    actual = kzoo_predict(model, arrays)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert_matches(a, e, 1e-5, what='%s by %s as %s' % (family, writer, fmt))


def test_kzoo_reads_its_own_files_back(kzoo_written):
    """Every kzoo format read back by kzoo, for every family (nested ones included)."""
    from kzoo.models import load_model, model_from_json, model_from_yaml
    for family in FAMILIES:
        folder, arrays, expected = kzoo_written(family)
        models = [load_model(os.path.join(folder, 'm.h5')),
                  load_model(os.path.join(folder, 'm.keras'))]
        for text_file, reader, weights in (('m.json', model_from_json, 'w.h5'),
                                           ('m.yaml', model_from_yaml, 'w.h5'),
                                           ('m.json', model_from_json, 'w.weights.h5')):
            with open(os.path.join(folder, text_file)) as f:
                model = reader(f.read())
            model.load_weights(os.path.join(folder, weights))
            models.append(model)
        for model in models:
            for a, e in zip(kzoo_predict(model, arrays), expected):
                assert_matches(a, e, 1e-6, what='%s read back' % family)
