"""``OnnxLayer``: the base class of the layers computing ONNX operators.

An operator's inputs ("operands") are either tensors of the graph (the layer's
inputs, in order), constants kept in the config (small lists such as axes or
shapes), constants kept as layer weights (arrays such as a bias), or absent. The
``operands`` config field records which, one entry per ONNX input: ``'input'``,
``{'value': [...], 'dtype': 'int64'}``,
``{'weight': 'const_1', 'dtype': 'float32', 'shape': [3]}`` or ``None``. So an
imported model saves and reloads like any other kzoo model.

Subclasses implement ``compute(operands)`` (backend tensors, ``None`` when absent)
and ``infer_shape(infos)`` (:class:`Operand` objects with the shape and, when known
without running the graph, the value), returning ``None`` for dimensions that depend
on data.

>>> import numpy as np
>>> operand_spec(1, np.arange(3))
({'value': [0, 1, 2], 'dtype': 'int64'}, False)
"""
import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import Layer
from kzoo.errors import ConfigError, ShapeError

from . import tensor_ops as T

# dtypes a kzoo weight can hold on every backend; other constants stay in the config
WEIGHT_DTYPES = ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8',
                 'bool')
# constants up to this many elements go into the config (readable, no weight file entry)
CONFIG_CONSTANT_LIMIT = 64


class Operand(object):
    """What shape inference knows of one operand: its shape and maybe its value."""

    def __init__(self, shape, value=None, dtype=None, present=True):
        self.shape = None if shape is None else tuple(shape)
        self.value = value
        self.dtype = dtype
        self.present = present

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape)

    def ints(self):
        return None if self.value is None else [int(v) for v in np.asarray(self.value).ravel()]


def ints(x):
    """Python ints from a backend tensor, an array or a list (for shape-like operands)."""
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [int(v) for v in x]
    return [int(v) for v in T.numpy(x).ravel()]


def scalar(x):
    return None if x is None else T.numpy(x).ravel()[0].item()


def normalize_axis(axis, rank, where):
    axis = int(axis)
    if not -rank <= axis < max(rank, 1):
        raise ShapeError('%s: axis %d is out of range for a tensor of rank %d'
                         % (where, axis, rank))
    return axis % max(rank, 1)


def broadcast_shapes(*shapes):
    """NumPy broadcasting of shapes with ``None`` for unknown dimensions."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = [d for d in dims if d is not None and d != 1]
        if known:
            out.append(known[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def known(shape):
    return shape is not None and all(d is not None for d in shape)


class OnnxLayer(Layer):
    """Base class: operand bookkeeping, weights for constants, shape inference."""
    config_fields = ('operands',)

    def __init__(self, operands=None, constants=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.operands = list(operands or ['input'])
        for i, spec in enumerate(self.operands):
            if not (spec is None or spec == 'input' or (
                    isinstance(spec, dict) and ('value' in spec or 'weight' in spec))):
                raise ConfigError('layer %r (%s): operand %d has an invalid spec %.100r'
                                  % (self.name, type(self).__name__, i, spec))
        # values for weight operands, set when the layer is built (import time only)
        self._pending = dict(constants or {})
        self._weights_by_operand = {}
        self._config_tensors = {}

    # ---- operands -----------------------------------------------------------------

    @property
    def runtime_count(self):
        return sum(1 for spec in self.operands if spec == 'input')

    def build(self, input_shape):
        for i, spec in enumerate(self.operands):
            if isinstance(spec, dict) and 'weight' in spec:
                value = self._pending.pop(i, None)
                shape, dtype = tuple(spec['shape']), spec['dtype']

                def initializer(shape, dtype=None, _value=value):
                    if _value is None:
                        return np.zeros(shape, dtype)
                    return np.asarray(_value, dtype).reshape(shape)

                trainable = np.dtype(dtype).kind == 'f'
                self._weights_by_operand[i] = self.add_weight(
                    spec['weight'], shape, dtype=dtype, initializer=initializer,
                    trainable=trainable)
        self.built = True

    def _config_tensor(self, i, spec):
        key = (K.backend(), i)
        if key not in self._config_tensors:
            value = np.asarray(spec['value'], dtype=spec['dtype'])
            if 'shape' in spec:
                value = value.reshape(spec['shape'])
            self._config_tensors[key] = T.tensor(value)
        return self._config_tensors[key]

    def _assemble(self, inputs):
        inputs = list(inputs)
        out = []
        for i, spec in enumerate(self.operands):
            if spec is None:
                out.append(None)
            elif spec == 'input':
                out.append(inputs.pop(0))
            elif 'weight' in spec:
                out.append(self._weights_by_operand[i])
            else:
                out.append(self._config_tensor(i, spec))
        return out

    def _runtime_list(self, inputs):
        if self.runtime_count == 1 and not isinstance(inputs, list):
            return [inputs]
        return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

    def call(self, inputs):
        outputs = self.compute(self._assemble(self._runtime_list(inputs)))
        if isinstance(outputs, (list, tuple)):
            return [T.tensor(o) for o in outputs]
        return T.tensor(outputs)

    def evaluate(self, operands):
        """Compute on arrays (constant folding at import): a list of arrays."""
        tensors = [None if a is None else T.tensor(a) for a in operands]
        with K.no_grad():
            outputs = self.compute(tensors)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [np.asarray(T.numpy(o)) for o in outputs]

    def compute(self, operands):
        raise NotImplementedError

    # ---- shapes -------------------------------------------------------------------

    def operand_infos(self, input_shapes):
        if self.runtime_count == 1:
            input_shapes = [input_shapes]
        input_shapes = list(input_shapes)
        infos = []
        for i, spec in enumerate(self.operands):
            if spec is None:
                infos.append(Operand(None, present=False))
            elif spec == 'input':
                infos.append(Operand(input_shapes.pop(0)))
            elif 'weight' in spec:
                variable = self._weights_by_operand.get(i)
                value = None if variable is None else K.to_numpy(variable)
                infos.append(Operand(spec['shape'], value, spec['dtype']))
            else:
                value = np.asarray(spec['value'], dtype=spec['dtype'])
                if 'shape' in spec:
                    value = value.reshape(spec['shape'])
                infos.append(Operand(value.shape, value, spec['dtype']))
        return infos

    def compute_output_shape(self, input_shape):
        shapes = self.infer_shape(self.operand_infos(input_shape))
        if isinstance(shapes, list):
            return [tuple(s) for s in shapes]
        return tuple(shapes)

    def infer_shape(self, infos):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        return None

    def where(self):
        return 'layer %r (%s)' % (self.name, type(self).__name__)


def operand_spec(index, value, name=None):
    """The ``operands`` entry for a constant ``value`` at ONNX input ``index``, and
    whether it is held as a weight."""
    value = np.asarray(value)
    if value.dtype.name not in WEIGHT_DTYPES or value.size <= CONFIG_CONSTANT_LIMIT:
        spec = {'value': value.ravel().tolist(), 'dtype': value.dtype.name}
        if value.ndim != 1:
            spec['shape'] = list(value.shape)
        return spec, False
    return {'weight': name or 'const_%d' % index, 'dtype': value.dtype.name,
            'shape': list(value.shape)}, True


def _count(info, layer):
    """How many axes a computed axes operand lists (its static length)."""
    if info.shape is None or len(info.shape) > 1 or (info.shape and info.shape[0] is None):
        raise ShapeError('%s: the number of axes computed at run time must be known; got an '
                         'axes operand of shape %s' % (layer.where(), info.shape))
    return int(info.shape[0]) if info.shape else 1


__all__ = ['OnnxLayer', 'Operand', 'operand_spec', 'ints', 'scalar', 'normalize_axis',
           'broadcast_shapes', 'known', 'WEIGHT_DTYPES', 'CONFIG_CONSTANT_LIMIT']
