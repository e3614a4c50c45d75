"""Oracle for recurrent layers, wrappers and attention (several inputs and outputs).

A layer is described by a hashable *spec*, ``spec('LSTM', units=4)`` or
``spec('Bidirectional', spec('GRU', units=4), merge_mode='sum')``, and built from the
same constructor arguments in Keras (``keras`` 3, or ``tf_keras`` for Keras 2
behaviour) and in kzoo. :func:`oracle` builds the Keras layer once per (library, spec,
inputs, call arguments), gives it seeded weights and returns them with its outputs;
:func:`check` runs kzoo on the same weights and inputs and compares every output with
``assert_matches`` at 1e-5 (float32), then checks the JSON config round trip.

Inputs and call arguments name arrays of :data:`DATA`, so that specs stay hashable.
"""
import functools
import json
import os

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')  # exact float32 oracles (oracles.md)

UNITS = 4
_RNG = np.random.default_rng(2024)
DATA = {
    'x': _RNG.uniform(-1, 1, (3, 6, 5)).astype('float32'),
    'x2': _RNG.uniform(-1, 1, (3, 6, 5)).astype('float32'),
    # masked steps at the start, in the middle and at the end; one full row
    'mask': np.array([[1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1]], bool),
    # right padding (Embedding(mask_zero=True) on post-padded data): torch's packed path
    'rmask': np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], bool),
    'h0': _RNG.uniform(-1, 1, (3, UNITS)).astype('float32'),
    'c0': _RNG.uniform(-1, 1, (3, UNITS)).astype('float32'),
    'h1': _RNG.uniform(-1, 1, (3, UNITS)).astype('float32'),
    'c1': _RNG.uniform(-1, 1, (3, UNITS)).astype('float32'),
    'x4d': _RNG.uniform(-1, 1, (3, 2, 6, 5)).astype('float32'),
    'video': _RNG.uniform(-1, 1, (2, 4, 6, 5, 3)).astype('float32'),
    'vmask': np.array([[1, 1, 0, 1], [0, 1, 1, 1]], bool),
    'q': _RNG.uniform(-1, 1, (2, 4, 3)).astype('float32'),
    'v': _RNG.uniform(-1, 1, (2, 5, 3)).astype('float32'),
    'k': _RNG.uniform(-1, 1, (2, 5, 3)).astype('float32'),
    'qmask': np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool),
    'vmask5': np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]], bool),
}


def spec(class_name, inner=None, **config):
    """Hashable description of a layer: class name, constructor arguments, inner layer."""
    return (class_name, tuple(sorted(config.items())), inner)


def make(layers, layer_spec, **extra):
    """Build ``layer_spec`` from the ``layers`` namespace (keras.layers or kzoo.layers)."""
    class_name, config, inner = layer_spec
    kwargs = dict(config)
    kwargs.update(extra)
    cls = getattr(layers, class_name)
    if inner is None:
        return cls(**kwargs)
    if isinstance(inner[0], tuple):  # a list of cells
        return cls([make(layers, s) for s in inner], **kwargs)
    return cls(make(layers, inner), **kwargs)


def resolve(value):
    """A DATA key, a tuple of keys (a list of arrays), or a plain value."""
    if isinstance(value, str) and value in DATA:
        return DATA[value]
    if isinstance(value, tuple):
        return [resolve(v) for v in value]
    return value


def library(lib):
    return pytest.importorskip(lib)


def _shapes(inputs):
    arrays = [DATA[k] for k in inputs]
    shapes = [a.shape for a in arrays]
    return shapes if len(shapes) > 1 else shapes[0]


def _inputs(inputs):
    arrays = [DATA[k] for k in inputs]
    return arrays if len(arrays) > 1 else arrays[0]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@functools.lru_cache(maxsize=None)
def keras_built(layer_spec, inputs, lib='keras', weight_seed=1):
    """The Keras layer, built for the shapes of ``inputs``, and its seeded weights."""
    module = library(lib)
    layer = make(module.layers, layer_spec)
    layer.build(_shapes(inputs))
    weights = seeded_weights([tuple(w.shape) for w in layer.get_weights()], weight_seed)
    layer.set_weights(weights)
    return layer, weights


@functools.lru_cache(maxsize=None)
def oracle(layer_spec, inputs=('x',), call=(), lib='keras', weight_seed=1):
    """``(weights, outputs)`` of the Keras layer on ``inputs`` with call arguments ``call``
    (pairs of name and DATA key)."""
    layer, weights = keras_built(layer_spec, inputs, lib, weight_seed)
    kwargs = {name: resolve(value) for name, value in call}
    out = layer(_inputs(inputs), **kwargs)
    return weights, [np.asarray(o) for o in _as_list(out)]


def kzoo_layer(layer_spec, weights=None, **extra):
    import kzoo.layers
    return make(kzoo.layers, layer_spec, weights=weights, **extra)


def kzoo_outputs(layer, inputs=('x',), call=()):
    kwargs = {name: resolve(value) for name, value in call}
    return [np.asarray(o) for o in _as_list(layer(_inputs(inputs), **kwargs))]


def json_config(layer):
    return json.loads(json.dumps(layer.get_config()))


def roundtrip(layer):
    """Config through JSON and ``from_config``: the clone's config is the same."""
    from kzoo.engine.network import deserialize_layer
    config = json_config(layer)
    clone = deserialize_layer({'class_name': type(layer).__name__, 'config': config})
    assert type(clone) is type(layer)
    assert json_config(clone) == config
    return clone


def check(layer_spec, inputs=('x',), call=(), lib='keras', tol=1e-5, config=True):
    """kzoo against Keras on the same weights and inputs, then the config round trip
    (the clone, given the same weights, computes the same outputs)."""
    weights, expected = oracle(layer_spec, inputs, call, lib)
    layer = kzoo_layer(layer_spec, weights)
    out = kzoo_outputs(layer, inputs, call)
    assert len(out) == len(expected), 'kzoo gives %d outputs, Keras %d' % (len(out),
                                                                          len(expected))
    for i, (a, e) in enumerate(zip(out, expected)):
        assert_matches(a, e, tol, what='output %d' % i)
    if config:
        clone = roundtrip(layer)
        clone._initial_weights = weights
        for a, b in zip(kzoo_outputs(clone, inputs, call), out):
            assert_matches(a, b, 1e-6, what='output of the rebuilt layer')
    return layer, out


def symbolic_shapes(layer_spec, input_shapes, lib='keras', call_inputs=()):
    """Output shapes of a symbolic call in kzoo and in Keras (``None`` dimensions kept).

    ``call_inputs`` names call arguments given as further symbolic inputs, e.g.
    ``(('initial_state', [(4,), (4,)]),)``.
    """
    import kzoo.layers
    module = library(lib)
    shapes = {}
    for name, layers, new_input in (('kzoo', kzoo.layers, kzoo.layers.Input),
                                    ('keras', module.layers, module.Input)):
        tensors = [new_input(shape=s) for s in input_shapes]
        kwargs = {k: [new_input(shape=s) for s in v] for k, v in call_inputs}
        out = make(layers, layer_spec)(tensors if len(tensors) > 1 else tensors[0], **kwargs)
        shapes[name] = [tuple(None if d is None else int(d) for d in o.shape)
                        for o in _as_list(out)]
    return shapes['kzoo'], shapes['keras']
