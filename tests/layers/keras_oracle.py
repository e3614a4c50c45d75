"""One-layer Keras oracle shared by the layer tests.

``keras_output('Conv2D', kwargs, x, weights)`` builds the Keras 3 layer (``lib='tf_keras'``
for Keras 2 behaviour and layers Keras 3 dropped) from the same constructor arguments as
the kzoo layer, sets the same weights, and calls it eagerly on the same inputs. Layers are
built once per (library, class, arguments, input shape) and results are cached, so the
kzoo side can run on every backend against one oracle computation.

TensorFlow's CPU kernels do not implement channels_first convolution and pooling, so
``via_channels_last=True`` asks Keras for the channels_last layer on transposed inputs
(kernels are in the same layout for both data formats) and transposes the result back.
"""
import hashlib
import json
import os

import numpy as np
import pytest

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')  # exact float32 oracles (oracles.md)

_LAYERS = {}
_RESULTS = {}


def library(lib='keras'):
    """The Keras 3 module or tf_keras (skipping the test when it is not installed)."""
    return pytest.importorskip(lib)


def _digest(*arrays):
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _key(kwargs):
    return json.dumps(kwargs, sort_keys=True, default=repr)


def keras_layer(class_name, kwargs, input_shape, lib='keras'):
    """The Keras layer ``class_name(**kwargs)`` built for ``input_shape`` (batch first)."""
    key = (lib, class_name, _key(kwargs), tuple(input_shape))
    if key not in _LAYERS:
        module = library(lib)
        layer = getattr(module.layers, class_name)(**kwargs)
        layer.build(tuple(input_shape))
        _LAYERS[key] = layer
    return _LAYERS[key]


def _to_last(x):
    return np.moveaxis(x, 1, -1)


def _to_first(x):
    return np.moveaxis(x, -1, 1)


def keras_output(class_name, kwargs, x, weights=(), lib='keras', training=False, mask=None,
                 via_channels_last=False):
    """Keras's output of ``class_name(**kwargs)`` on ``x`` with ``weights`` (numpy)."""
    x = np.asarray(x)
    if via_channels_last:
        kwargs = dict(kwargs, data_format='channels_last')
        x = _to_last(x)
    extra = () if mask is None else (np.asarray(mask),)
    key = (lib, class_name, _key(kwargs), training, _digest(x, *weights, *extra))
    if key not in _RESULTS:
        layer = keras_layer(class_name, kwargs, (None,) + x.shape[1:], lib)
        if weights:
            layer.set_weights([np.asarray(w) for w in weights])
        call_kwargs = {'training': training} if training else {}
        if mask is not None:
            call_kwargs['mask'] = mask
        y = np.asarray(layer(x, **call_kwargs))
        _RESULTS[key] = _to_first(y) if via_channels_last else y
    return _RESULTS[key]


def keras_weights_after(class_name, kwargs, x, weights, lib='keras'):
    """Keras's weights after one ``training=True`` call (moving statistics updates)."""
    module = library(lib)
    layer = getattr(module.layers, class_name)(**kwargs)
    layer.build((None,) + tuple(np.shape(x)[1:]))
    layer.set_weights([np.asarray(w) for w in weights])
    output = np.asarray(layer(np.asarray(x), training=True))
    return output, [np.asarray(w) for w in layer.get_weights()]


def keras_output_shape(class_name, kwargs, input_shape, lib='keras'):
    """Keras's ``compute_output_shape`` for a (possibly partly unknown) input shape."""
    module = library(lib)
    layer = getattr(module.layers, class_name)(**kwargs)
    shape = layer.compute_output_shape(tuple(input_shape))
    return tuple(None if d is None else int(d) for d in shape)


def keras_mask(class_name, kwargs, x, lib='keras'):
    layer = keras_layer(class_name, kwargs, (None,) + np.shape(x)[1:], lib)
    mask = layer.compute_mask(np.asarray(x))
    return None if mask is None else np.asarray(mask)


# ---- the kzoo side of a one-layer comparison ---------------------------------------------

def json_config(layer):
    """``layer.get_config()`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(layer.get_config()))


def built(layer, input_shape, weights=None, seed=0):
    """``layer`` built for ``input_shape`` with ``weights`` (default: seeded uniform)."""
    from helpers import seeded_weights
    layer.build((None,) + tuple(input_shape[1:]))
    layer.built = True
    if weights is None:
        weights = seeded_weights([np.shape(w) for w in layer.get_weights()], seed)
    layer.set_weights(weights)
    return layer, list(weights)


def roundtrip(layer, x, weights, expected_output):
    """The layer's config survives JSON and ``from_config`` unchanged, and the clone with
    the same weights computes exactly the same output."""
    from kzoo.engine.network import deserialize_layer
    config = json_config(layer)
    clone = deserialize_layer({'class_name': type(layer).__name__, 'config': config})
    assert type(clone) is type(layer)
    assert json_config(clone) == config
    built(clone, np.shape(x), weights)
    np.testing.assert_array_equal(clone(x), expected_output)
    return clone


def check_layer(make, kwargs, x, class_name=None, lib='keras', tol=1e-5,
                via_channels_last=False, weights=None, keras_kwargs=None, config=True):
    """kzoo ``make(**kwargs)`` against Keras's ``class_name(**kwargs)`` on ``x``: output
    (``assert_matches`` at ``tol``), ``compute_output_shape``, and the config round trip."""
    from helpers import assert_matches
    layer, weights = built(make(**kwargs), np.shape(x), weights)
    out = layer(x)
    name = class_name or type(layer).__name__
    expected = keras_output(name, keras_kwargs or kwargs, x, weights, lib,
                            via_channels_last=via_channels_last)
    assert_matches(out, expected, tol)
    assert tuple(layer.compute_output_shape((None,) + np.shape(x)[1:])) == \
        (None,) + expected.shape[1:]
    if config:
        roundtrip(layer, x, weights, out)
    return layer, out


def check_config_exchange(class_name, args=(), lib='keras'):
    """A config Keras writes for ``class_name(*args)`` loads in kzoo, and the config kzoo
    writes back loads in the same Keras (Keras 3 takes no ``batch_input_shape`` in a
    layer config: its models keep shapes in InputLayer)."""
    from kzoo.engine.network import deserialize_layer
    module = library(lib)
    keras_cls = getattr(module.layers, class_name)
    written = json.loads(json.dumps(keras_cls(*args).get_config(),
                                    default=lambda o: np.asarray(o).tolist()))
    layer = deserialize_layer({'class_name': class_name, 'config': written})
    assert type(layer).__name__ == class_name
    ours = json_config(layer)
    if lib == 'keras':
        ours.pop('batch_input_shape', None)
    keras_cls.from_config(ours)
    return layer
