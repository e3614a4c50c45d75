"""Values, layouts, and the helpers every exporter uses.

A :class:`Value` is one kzoo tensor as it exists in the ONNX graph: an ONNX name, the
tensor's Keras shape, and how the ONNX tensor is laid out relative to Keras:

* ``perm``: the ONNX tensor is ``transpose(keras_tensor, perm)``. A channels_last
  convolution asks for ``(0, C, 1, 2)`` (NCHW) once, and the convolutions, pooling,
  normalization, activations and merges that follow keep that layout, so a
  channels_last network costs one Transpose at its input and (at most) one at its
  output instead of two around every convolution.
* ``feature_perm``: for a flattened tensor ``(batch, n)``: ONNX feature ``j`` is Keras
  feature ``feature_perm[j]``. ``Flatten`` of an NCHW tensor makes one; the ``Dense``
  that follows permutes its kernel rows instead of the data.

:meth:`ExportContext.plain` gives any value in Keras layout (adding the Transpose or
Gather once per value).

>>> Value('x', (None, 8, 8, 3), perm=(0, 3, 1, 2)).onnx_shape
(None, 3, 8, 8)
"""
import numpy as np

from kzoo.converters.onnx_export.graph import OnnxGraph
from kzoo.errors import ConversionError


def identity(rank):
    return tuple(range(rank))


def inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


def nc_perm(rank, data_format):
    """The perm that puts a ``data_format`` tensor of ``rank`` in ONNX's N, C, spatial."""
    if data_format == 'channels_first':
        return identity(rank)
    return (0, rank - 1) + tuple(range(1, rank - 1))


class Value(object):
    """A kzoo tensor in the ONNX graph (see the module docstring)."""
    __slots__ = ('name', 'shape', 'dtype', 'perm', 'feature_perm')

    def __init__(self, name, shape, dtype='float32', perm=None, feature_perm=None):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        rank = len(self.shape)
        self.perm = None if perm is None or tuple(perm) == identity(rank) else tuple(perm)
        self.feature_perm = feature_perm

    @property
    def rank(self):
        return len(self.shape)

    @property
    def is_plain(self):
        return self.perm is None and self.feature_perm is None

    @property
    def onnx_shape(self):
        if self.perm is None:
            return self.shape
        return tuple(self.shape[p] for p in self.perm)

    def onnx_axis(self, keras_axis):
        """Where Keras axis ``keras_axis`` is in the ONNX tensor."""
        axis = keras_axis % self.rank
        return axis if self.perm is None else self.perm.index(axis)

    def like(self, name, shape=None, dtype=None):
        """A value with this one's layout (an elementwise op's output)."""
        return Value(name, self.shape if shape is None else shape,
                     self.dtype if dtype is None else dtype, self.perm, self.feature_perm)

    def __repr__(self):
        return '<Value %s %s perm=%s%s>' % (self.name, self.shape, self.perm,
                                            ' feature_perm' if self.feature_perm is not None
                                            else '')


class LayerCall(object):
    """One call of a layer being exported: what an exporter gets."""

    def __init__(self, ctx, layer, inputs, masks, arguments, output_shapes, name):
        self.ctx = ctx
        self.layer = layer
        self.inputs = inputs
        self.masks = masks
        self.arguments = arguments
        self.output_shapes = output_shapes
        self.name = name
        self.out_masks = None     # set by exporters that compute masks

    @property
    def input(self):
        return self.inputs[0]

    @property
    def mask(self):
        return self.masks[0] if self.masks else None

    @property
    def output_shape(self):
        return self.output_shapes[0]

    def with_layer(self, layer):
        """The same call, exported as ``layer`` (Keras 1 Merge delegates so)."""
        other = LayerCall(self.ctx, layer, self.inputs, self.masks, self.arguments,
                          self.output_shapes, self.name)
        return other

    def with_name(self, name):
        return LayerCall(self.ctx, self.layer, self.inputs, self.masks, self.arguments,
                         self.output_shapes, name)

    def sub(self, suffix):
        """A node name for a helper node of this layer."""
        return '%s/%s' % (self.name, suffix)

    def fail(self, why):
        raise ConversionError('cannot export layer %r (%s) to ONNX: %s'
                              % (self.layer.name, type(self.layer).__name__, why))


class ExportContext(object):
    """The graph being built plus layout and op helpers (opset-aware)."""

    def __init__(self, opset, graph_name='kzoo'):
        self.opset = int(opset)
        self.g = OnnxGraph(self.opset, graph_name)
        self._cache = {}
        self.infer_shapes = False   # output shapes from the layers, not the model's tensors

    # ---- layouts ------------------------------------------------------------------------------

    def plain(self, v):
        """ONNX name of ``v`` in Keras layout."""
        if v.is_plain:
            return v.name
        key = (v.name, 'plain')
        if key not in self._cache:
            name = v.name
            if v.feature_perm is not None:
                name = self.g.op('Gather', name, self.g.ints(np.argsort(v.feature_perm)),
                                 axis=v.rank - 1, name=_base(v.name) + '/unpermute')
            if v.perm is not None:
                name = self.g.op('Transpose', name, perm=list(inverse(v.perm)),
                                 name=_base(v.name) + '/to_keras_layout')
            self._cache[key] = name
        return self._cache[key]

    def plain_value(self, v):
        return Value(self.plain(v), v.shape, v.dtype)

    def in_layout(self, v, perm):
        """ONNX name of ``v`` laid out as ``transpose(keras, perm)``."""
        perm = tuple(perm)
        if perm == identity(v.rank):
            return self.plain(v)
        if v.feature_perm is None and v.perm == perm:
            return v.name
        key = (v.name, perm)
        if key not in self._cache:
            source = v.name if v.feature_perm is None else self.plain(v)
            current = identity(v.rank) if v.feature_perm is not None or v.perm is None \
                else v.perm
            step = tuple(inverse(current)[p] for p in perm)
            self._cache[key] = self.g.op('Transpose', source, perm=list(step),
                                         name=_base(v.name) + '/to_channels_first')
        return self._cache[key]

    def nc(self, v, data_format):
        """``(name, perm)``: ``v`` in N, C, spatial order for a layer of ``data_format``."""
        perm = nc_perm(v.rank, data_format)
        return self.in_layout(v, perm), perm

    def common_layout(self, values):
        """Names of ``values`` (same rank) in one layout, and that layout's perm: the
        first value's, so a residual branch joins a main path without transposes."""
        ranks = {v.rank for v in values}
        if len(ranks) != 1:
            return [self.plain(v) for v in values], None
        first = values[0]
        perm = first.perm if first.feature_perm is None else None
        if perm is None:
            return [self.plain(v) for v in values], None
        return [self.in_layout(v, perm) for v in values], perm

    # ---- weights -------------------------------------------------------------------------------

    def weight(self, variable, name, transform=None, dims=None, key=None):
        """An initializer holding ``transform(value of variable)`` (written later, once)."""
        shape = tuple(int(d) for d in variable.shape)
        dims = shape if dims is None else tuple(int(d) for d in dims)
        dtype = np.dtype(_dtype_of(variable))

        def produce(variable=variable, transform=transform):
            value = to_numpy(variable)
            return value if transform is None else transform(value)

        return self.g.weight((id(variable), key), name, dims, dtype, produce)

    # ---- ops ------------------------------------------------------------------------------------

    def reduce(self, op_type, x, axes, keepdims, name=None):
        """``ReduceMean``/``ReduceMax``/... over ``axes`` whatever the opset's spelling."""
        axes = [int(a) for a in axes]
        takes_input = op_type == 'ReduceSum' or self.opset >= 18
        if takes_input:
            return self.g.op(op_type, x, self.g.ints(axes), keepdims=int(keepdims), name=name)
        return self.g.op(op_type, x, axes=axes, keepdims=int(keepdims), name=name)

    def unsqueeze(self, x, axes, name=None):
        return self.g.op('Unsqueeze', x, self.g.ints(axes), name=name)

    def squeeze(self, x, axes, name=None):
        return self.g.op('Squeeze', x, self.g.ints(axes), name=name)

    def reshape(self, x, shape, name=None):
        return self.g.op('Reshape', x, self.g.ints(shape), name=name)

    def cast(self, x, dtype, name=None):
        from kzoo.converters.onnx_export import proto
        return self.g.op('Cast', x, to=proto.elem_type(dtype), name=name)

    def const(self, value, dtype='float32'):
        return self.g.const(np.asarray(value, dtype=dtype))

    def slice(self, x, starts, ends, axes, steps=None, name=None):
        inputs = [x, self.g.ints(starts), self.g.ints(ends), self.g.ints(axes)]
        if steps is not None:
            inputs.append(self.g.ints(steps))
        return self.g.op('Slice', *inputs, name=name)

    def clip(self, x, low, high, name=None):
        low = '' if low is None else self.const(low)
        high = '' if high is None else self.const(high)
        return self.g.node('Clip', [x, low, high], 1, name=name)[0]

    def shape_slice(self, x, start, end=None, name=None):
        """``Shape(x)[start:end]`` (int64)."""
        attrs = {'start': int(start)}
        if end is not None:
            attrs['end'] = int(end)
        if self.opset >= 15:
            return self.g.op('Shape', x, name=name, **attrs)
        shape = self.g.op('Shape', x, name=name)
        return self.slice(shape, [start], [end if end is not None else 2 ** 62], [0])

    def reshape_dynamic(self, x, leading, static_tail, name=None):
        """Reshape ``x`` to ``leading + static_tail``; ``leading`` is a list of ONNX
        int64 1-D names or ints (-1 allowed once)."""
        parts = []
        for item in leading:
            parts.append(item if isinstance(item, str) else self.g.ints([item]))
        if static_tail:
            parts.append(self.g.ints(static_tail))
        shape = parts[0] if len(parts) == 1 else self.g.op('Concat', *parts, axis=0)
        return self.g.op('Reshape', x, shape, name=name)

    def bool_to_float(self, mask, name=None):
        return self.cast(mask, 'float32', name=name)


def _base(name):
    return name.split(':')[0]


def _dtype_of(variable):
    dtype = getattr(variable, 'dtype', 'float32')
    text = str(dtype).replace('torch.', '').replace("<dtype: '", '').replace("'>", '')
    return np.dtype(text) if text in ('float32', 'float64', 'float16', 'int32', 'int64') \
        else np.dtype('float32')


def to_numpy(variable):
    """A kzoo variable of any backend as a numpy array."""
    if hasattr(variable, 'detach'):        # torch
        return variable.detach().cpu().numpy()
    if hasattr(variable, 'numpy'):         # tensorflow
        return variable.numpy()
    return np.asarray(variable)
