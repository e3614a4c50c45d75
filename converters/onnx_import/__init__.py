"""ONNX import: ``from_onnx(path)`` builds a kzoo ``Model`` from an ONNX graph.

One handler per ONNX operator version (:mod:`.registry`), one small module per
operator family (``ops_*.py``); handlers produce kzoo's own layers where Keras's
semantics match exactly (``Conv2D``, ``Dense``, ``LSTM``, ``Activation``, ...) and the
layers of :mod:`.layers` (registered, so imported models save and reload) where no
Keras layer fits. External tensor data is read only from regular files inside the
model's folder (:mod:`.external_data`).

>>> import numpy as np, onnx
>>> from onnx import helper, TensorProto
>>> graph = helper.make_graph(
...     [helper.make_node('Relu', ['x'], ['y'])], 'g',
...     [helper.make_tensor_value_info('x', TensorProto.FLOAT, [None, 3])],
...     [helper.make_tensor_value_info('y', TensorProto.FLOAT, [None, 3])])
>>> model = from_onnx(helper.make_model(graph))
>>> model.predict(np.array([[-1., 0., 2.]], 'float32')).tolist()
[[0.0, 0.0, 2.0]]
"""
import os

from kzoo.errors import ConfigError, FileFormatError

from . import (layers, math_layers, nn_layers, resize_layers, rnn_layers,  # noqa: F401
               ops_basic, ops_conv, ops_elementwise, ops_linear, ops_norm, ops_pool,
               ops_reduce, ops_resize, ops_rnn, ops_shape)
from .external_data import resolve_tensors
from .importer import build_model, import_graph
from .registry import UnsupportedOperatorError, supported_operators

DATA_FORMATS = ('channels_first', 'channels_last')


def load_model_proto(source, base_dir=None):
    """``(ModelProto with every tensor checked and read, label)`` from a path, bytes or
    a ``ModelProto`` (copied, never changed)."""
    import onnx
    from google.protobuf.message import DecodeError
    if isinstance(source, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(source)
        label = 'ONNX model %r' % (source.graph.name or 'in memory')
    else:
        if isinstance(source, (bytes, bytearray)):
            data, label = bytes(source), 'ONNX model (bytes)'
        else:
            path = os.fspath(source)
            label = 'ONNX file %r' % path
            try:
                with open(path, 'rb') as f:
                    data = f.read()
            except OSError as e:
                raise FileFormatError('%s cannot be read: %s' % (label, e)) from e
            if base_dir is None:
                base_dir = os.path.dirname(os.path.abspath(path))
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except (DecodeError, ValueError, RuntimeError) as e:
            raise FileFormatError('%s is not a valid ONNX protobuf: %s' % (label, e)) from e
        if not model.HasField('graph'):
            raise FileFormatError('%s has no graph (is it an ONNX model?)' % label)
    resolve_tensors(model, base_dir, label)
    return model, label


def from_onnx(source, data_format='channels_first', name=None, base_dir=None):
    """A kzoo ``Model`` computing the ONNX graph in ``source``.

    ``source``: a path to an ``.onnx`` file (external data is read from its folder),
    the file's bytes, or an ``onnx.ModelProto`` (external data then only with
    ``base_dir``). ``data_format='channels_last'`` takes image inputs as NHWC and
    keeps the model NHWC (Keras's default layout), permuting the weights of the first
    ``Dense`` after a ``Flatten``. Raises :class:`UnsupportedOperatorError` naming an
    operator kzoo cannot import.
    """
    if data_format not in DATA_FORMATS:
        raise ConfigError('from_onnx: data_format must be channels_first or channels_last, '
                          'got %r' % (data_format,))
    model, label = load_model_proto(source, base_dir)
    return build_model(model, data_format=data_format, where=label, name=name)


__all__ = ['from_onnx', 'load_model_proto', 'import_graph', 'UnsupportedOperatorError',
           'supported_operators']
