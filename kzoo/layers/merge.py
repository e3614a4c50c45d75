"""Merge layers: ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum``, ``Dot``, their functional forms, and Keras 1's ``merge`` /
``Merge`` (modes ``concat sum mul ave max dot cos`` or a function).

As in Keras 1, ``from kzoo.layers import merge`` is the function; this module's other
names come with ``from kzoo.layers.merge import Concatenate`` (or ``kzoo.layers``).

>>> import numpy as np
>>> a, b = np.ones((2, 3)), np.full((2, 3), 2.)
>>> Add()([a, b])[0].tolist()
[3.0, 3.0, 3.0]
>>> Concatenate()([a, b]).shape
(2, 6)
"""
from kzoo import backend as K
from kzoo.engine.base_layer import Layer, register_layer, to_list
from kzoo.errors import ConfigError, ShapeError
from kzoo.utils.safe_mode import dump_function, load_function, safe_mode_scope

__all__ = ['Concatenate', 'Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum',
           'Dot', 'concatenate', 'add', 'subtract', 'multiply', 'average', 'maximum',
           'minimum', 'dot', 'Merge', 'merge']


def _shape_list(layer, input_shape, at_least=1):
    if not isinstance(input_shape, list) or len(input_shape) < at_least:
        raise ShapeError('%s %r must be called on a list of at least %d inputs, got %r'
                         % (type(layer).__name__, layer.name, at_least, input_shape))
    return [tuple(s) for s in input_shape]


def _all_masks(masks):
    """Keras's ``_Merge.compute_mask``: a step is kept when every given mask keeps it."""
    masks = [K.expand_dims(m, 0) for m in masks if m is not None]
    if not masks:
        return None
    return K.all(K.concatenate(masks, axis=0), axis=0, keepdims=False)


class _Merge(Layer):
    """Element-wise merge of several inputs, broadcasting like Keras 2: inputs of lower
    rank get new axes after the batch axis."""
    min_inputs = 1

    def __init__(self, **kwargs):
        Layer.__init__(self, **kwargs)
        self.supports_masking = True

    def _elementwise_shape(self, shape1, shape2):
        if len(shape1) < len(shape2):
            return self._elementwise_shape(shape2, shape1)
        if not shape2:
            return shape1
        out = list(shape1[:-len(shape2)])
        for i, j in zip(shape1[-len(shape2):], shape2):
            if i is None or j is None:
                out.append(None)
            elif i == 1 or j == 1:
                out.append(j if i == 1 else i)
            elif i != j:
                raise ShapeError('%s %r: inputs of shapes %s and %s cannot be broadcast together'
                                 % (type(self).__name__, self.name, shape1, shape2))
            else:
                out.append(i)
        return tuple(out)

    def compute_output_shape(self, input_shape):
        shapes = _shape_list(self, input_shape, self.min_inputs)
        out = shapes[0][1:]
        for shape in shapes[1:]:
            out = self._elementwise_shape(out, shape[1:])
        batch = {s[0] for s in shapes} - {None}
        return ((batch.pop() if len(batch) == 1 else None),) + tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        inputs = to_list(inputs)
        rank = max(K.ndim(x) for x in inputs)
        expanded = []
        for x in inputs:
            for _ in range(rank - K.ndim(x)):
                x = K.expand_dims(x, 1)
            expanded.append(x)
        return self._merge_function(expanded)

    def _merge_function(self, inputs):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        mask = to_list(mask)
        if len(mask) != len(to_list(inputs)):
            raise ShapeError('%s %r: got %d masks for %d inputs'
                             % (type(self).__name__, self.name, len(mask), len(to_list(inputs))))
        return _all_masks(mask)


def _fold(op):
    def merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = op(out, x)
        return out
    return merge_function


@register_layer()
class Add(_Merge):
    """Sum of the inputs (Keras 1: ``merge(mode='sum')``)."""
    _merge_function = _fold(lambda a, b: a + b)


@register_layer()
class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""
    min_inputs = 2

    def compute_output_shape(self, input_shape):
        if len(_shape_list(self, input_shape, 2)) != 2:
            raise ShapeError('Subtract %r takes exactly 2 inputs, got %d'
                             % (self.name, len(input_shape)))
        return _Merge.compute_output_shape(self, input_shape)

    def _merge_function(self, inputs):
        if len(inputs) != 2:
            raise ShapeError('Subtract %r takes exactly 2 inputs, got %d'
                             % (self.name, len(inputs)))
        return inputs[0] - inputs[1]


@register_layer()
class Multiply(_Merge):
    """Element-wise product (Keras 1: ``mode='mul'``)."""
    _merge_function = _fold(lambda a, b: a * b)


@register_layer()
class Average(_Merge):
    """Element-wise mean (Keras 1: ``mode='ave'``)."""

    def _merge_function(self, inputs):
        return _fold(lambda a, b: a + b)(self, inputs) / len(inputs)


@register_layer()
class Maximum(_Merge):
    """Element-wise maximum (Keras 1: ``mode='max'``)."""
    _merge_function = _fold(lambda a, b: K.maximum(a, b))


@register_layer()
class Minimum(_Merge):
    """Element-wise minimum."""
    _merge_function = _fold(lambda a, b: K.minimum(a, b))


@register_layer()
class Concatenate(Layer):
    """Concatenation along ``axis`` (Keras 1: ``merge(mode='concat', concat_axis=)``).

    The output mask follows Keras 2 (``tf_keras``): masks are widened to the inputs'
    rank, concatenated, and a step is kept when all of it is kept (Keras 3 uses "any").
    """
    config_fields = ('axis',)

    def __init__(self, axis=-1, **kwargs):
        Layer.__init__(self, **kwargs)
        self.axis = int(axis)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        shapes = _shape_list(self, input_shape)
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank:
            raise ShapeError('Concatenate %r (axis=%d) needs inputs of one rank, got shapes %s'
                             % (self.name, self.axis, shapes))
        axis = self.axis % rank
        out = list(shapes[0])
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, shape)):
                if i != axis and a is not None and b is not None and a != b:
                    raise ShapeError('Concatenate %r needs inputs with matching shapes except '
                                     'along the concat axis %d; got shapes %s'
                                     % (self.name, self.axis, shapes))
                if i != axis and a is None:
                    out[i] = b
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        return K.concatenate(to_list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        inputs, mask = to_list(inputs), to_list(mask)
        if all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = K.cast(K.ones_like(x), 'bool')
            elif K.ndim(m) < K.ndim(x):
                # Broadcast, so concatenating along the time axis works too.
                m = K.not_equal(K.cast(K.expand_dims(m, -1), 'float32')
                                * K.ones_like(x, dtype='float32'), 0.)
            masks.append(m)
        return K.all(K.concatenate(masks, axis=self.axis), axis=-1, keepdims=False)


@register_layer()
class Dot(Layer):
    """Batch-wise dot product along ``axes`` (an int or a pair), optionally of
    L2-normalized inputs (then it is the cosine similarity)."""
    config_fields = ('axes', 'normalize')

    def __init__(self, axes, normalize=False, **kwargs):
        Layer.__init__(self, **kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ConfigError('Dot %r: axes must be an integer or a pair, got %r'
                                  % (self.name, axes))
            axes = tuple(int(a) for a in axes)
        else:
            axes = int(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes(self, ranks):
        if isinstance(self.axes, int):
            return [self.axes % r for r in ranks] if self.axes < 0 else [self.axes] * 2
        return [a % r if a < 0 else a for a, r in zip(self.axes, ranks)]

    def compute_output_shape(self, input_shape):
        shapes = _shape_list(self, input_shape, 2)
        if len(shapes) != 2:
            raise ShapeError('Dot %r takes exactly 2 inputs, got %d' % (self.name, len(shapes)))
        shape1, shape2 = list(shapes[0]), list(shapes[1])
        a1, a2 = self._axes([len(shape1), len(shape2)])
        if shape1[a1] is not None and shape2[a2] is not None and shape1[a1] != shape2[a2]:
            raise ShapeError('Dot %r: dimension %d of %s and dimension %d of %s differ'
                             % (self.name, a1, tuple(shape1), a2, tuple(shape2)))
        shape1.pop(a1)
        shape2.pop(a2)
        shape2.pop(0)
        out = shape1 + shape2
        return tuple(out + [1] if len(out) == 1 else out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        x1, x2 = to_list(inputs)
        axes = self._axes([K.ndim(x1), K.ndim(x2)])
        if self.normalize:
            x1 = K.l2_normalize(x1, axis=axes[0])
            x2 = K.l2_normalize(x2, axis=axes[1])
        return K.batch_dot(x1, x2, axes)

    def compute_mask(self, inputs, mask=None):
        return None


# ---- Keras 2 functional forms ---------------------------------------------------------

def add(inputs, **kwargs):
    """``add([a, b])`` is ``Add()([a, b])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize=False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


# ---- Keras 1: Merge and merge ---------------------------------------------------------

class _Cosine(Dot):
    """Keras 1's ``mode='cos'``: ``x.y / max(sqrt((x.x) (y.y)), epsilon)``, on the
    ``dot_axes``; two vectors per sample give ``(batch, 1)``."""

    def call(self, inputs):
        x1, x2 = to_list(inputs)
        axes = self._axes([K.ndim(x1), K.ndim(x2)])
        norms = K.sqrt(K.batch_dot(x1, x1, axes) * K.batch_dot(x2, x2, axes))
        return K.batch_dot(x1, x2, axes) / K.maximum(norms, K.epsilon())


def _dot_axes(value):
    # Keras 0.x wrote dot_axes as [[1], [1]].
    if isinstance(value, (list, tuple)):
        return tuple(v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v for v in value)
    return value


# mode -> the Keras 2 layer that computes it (name given, so no name counter moves).
MERGE_MODES = {
    'sum': lambda m: Add(name=m.name + '_sum'),
    'mul': lambda m: Multiply(name=m.name + '_mul'),
    'ave': lambda m: Average(name=m.name + '_ave'),
    'max': lambda m: Maximum(name=m.name + '_max'),
    'concat': lambda m: Concatenate(axis=m.concat_axis, name=m.name + '_concat'),
    'dot': lambda m: Dot(axes=_dot_axes(m.dot_axes), name=m.name + '_dot'),
    'cos': lambda m: _Cosine(axes=_dot_axes(m.dot_axes), name=m.name + '_cos'),
}


@register_layer()
class Merge(Layer):
    """Keras 1's merge layer. ``mode`` is one of :data:`MERGE_MODES` or a function of
    the list of inputs (then ``output_shape`` and ``output_mask`` may be given).

    Given ``layers`` (for instance two Sequential branches), it connects to their
    outputs at once, so ``Sequential().add(Merge([left, right], mode='concat'))``
    makes a Sequential model whose inputs are the branches' inputs; the branches'
    weights count as this layer's weights, as Keras 1 saved them.

    >>> import numpy as np
    >>> Merge(mode='concat', concat_axis=1)([np.ones((1, 2)), np.zeros((1, 1))]).tolist()
    [[1.0, 1.0, 0.0]]
    """

    def __init__(self, layers=None, mode='sum', concat_axis=-1, dot_axes=-1, output_shape=None,
                 output_mask=None, arguments=None, node_indices=None, tensor_indices=None,
                 name=None, **kwargs):
        Layer.__init__(self, name=name, **kwargs)
        if not callable(mode) and mode not in MERGE_MODES:
            raise ConfigError('Merge %r: unknown mode %r; expected one of %s or a function'
                              % (self.name, mode, ', '.join(sorted(MERGE_MODES))))
        self.mode = mode
        self.concat_axis = int(concat_axis)
        self.dot_axes = dot_axes
        if isinstance(output_shape, list) and all(d is None or isinstance(d, int)
                                                  for d in output_shape):
            output_shape = tuple(output_shape)
        self._output_shape = output_shape
        self._output_mask = output_mask
        self.arguments = dict(arguments or {})
        self.supports_masking = True
        self._impl = None if callable(mode) else MERGE_MODES[mode](self)
        self.layers = list(layers) if layers else []
        if self.layers:
            self._connect_branches(node_indices, tensor_indices)

    def _connect_branches(self, node_indices, tensor_indices):
        if len(self.layers) < 2:
            raise ConfigError('Merge %r needs at least 2 layers to merge, got %d'
                              % (self.name, len(self.layers)))
        node_indices = node_indices or [0] * len(self.layers)
        tensor_indices = tensor_indices or [0] * len(self.layers)
        tensors = []
        for layer, n, t in zip(self.layers, node_indices, tensor_indices):
            if getattr(layer, 'outputs', None) and not layer._inbound_nodes:
                outputs = layer.outputs  # a model used as a branch: its own output
            elif len(layer._inbound_nodes) > n:
                outputs = layer._inbound_nodes[n].output_tensors
            else:
                raise ConfigError('Merge %r: branch %r has no output yet (give its first layer '
                                  'an input shape)' % (self.name, layer.name))
            tensors.append(outputs[t])
        self(tensors)

    # ---- computation --------------------------------------------------------------------

    def compute_output_shape(self, input_shape):
        if self._impl is not None:
            return self._impl.compute_output_shape(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        if self._output_shape is not None:
            return (input_shape[0][0],) + tuple(self._output_shape)
        from kzoo.layers.core import Lambda  # run the function to learn its output shape
        return Lambda(self._call_function, name=self.name + '_shape').compute_output_shape(
            input_shape)

    def _call_function(self, inputs, mask=None):
        kwargs = dict(self.arguments)
        from kzoo.layers.core import _accepts
        if _accepts(self.mode, 'mask'):
            kwargs['mask'] = mask
        return self.mode(inputs, **kwargs)

    def build(self, input_shape):
        if self._impl is not None:
            self._impl.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        if self._impl is not None:
            return self._impl.call(inputs)
        return self._call_function(inputs, mask)

    def compute_mask(self, inputs, mask=None):
        if self._impl is not None:
            return self._impl.compute_mask(inputs, mask)
        if callable(self._output_mask):
            return self._output_mask(mask)
        return self._output_mask

    # ---- the branches' weights ------------------------------------------------------------

    def _branch_specs(self):
        specs, seen = [], set()
        for layer in self.layers:
            for spec in layer._ordered_specs():
                if id(spec.variable) not in seen:
                    seen.add(id(spec.variable))
                    specs.append(spec)
        return specs

    def _ordered_specs(self):
        return self._branch_specs() + Layer._ordered_specs(self)

    @property
    def trainable_weights(self):
        out = [w for layer in self.layers for w in layer.trainable_weights]
        return out if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def weight_names(self):
        return [n for layer in self.layers for n in layer.weight_names()]

    # ---- serialization (Keras 1 layout) ------------------------------------------------------

    def get_config(self):
        config = {'name': self.name, 'trainable': self.trainable, 'dtype': self.dtype}
        for field, value in (('mode', self.mode), ('output_shape', self._output_shape),
                             ('output_mask', self._output_mask)):
            if callable(value):
                config[field], config[field + '_type'] = dump_function(value)
            else:
                config[field], config[field + '_type'] = value, 'raw'
        config.update({'concat_axis': self.concat_axis, 'dot_axes': self.dot_axes,
                       'arguments': self.arguments})
        if self.layers:  # as Keras 1's Sequential.get_config wrote its first Merge
            config['layers'] = [{'class_name': type(l).__name__, 'config': l.get_config()}
                                for l in self.layers]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        from kzoo.engine.network import deserialize_layer
        config = dict(config)
        name = config.get('name')
        with safe_mode_scope(safe_mode):
            for field in ('mode', 'output_shape', 'output_mask'):
                kind = config.pop(field + '_type', 'raw')
                if kind != 'raw' and config.get(field) is not None:
                    config[field] = load_function(config[field], kind, name, field,
                                                  custom_objects)
        if config.get('layers'):
            config['layers'] = [deserialize_layer(c, custom_objects) if isinstance(c, dict)
                                else c for c in config['layers']]
        return cls(**config)


def merge(inputs, mode='sum', concat_axis=-1, dot_axes=-1, output_shape=None, output_mask=None,
          arguments=None, name=None):
    """Keras 1's functional merge: ``merge([a, b], mode='concat')`` is a tensor (given
    layers or models instead of tensors, it is the ``Merge`` layer joining them).

    >>> from kzoo.layers import Input
    >>> merge([Input(shape=(3,)), Input(shape=(3,))], mode='cos').shape
    (None, 1)
    """
    inputs = list(inputs)
    branches = all(isinstance(x, Layer) for x in inputs)
    layer = Merge(layers=inputs if branches else None, mode=mode, concat_axis=concat_axis,
                  dot_axes=dot_axes, output_shape=output_shape, output_mask=output_mask,
                  arguments=arguments, name=name)
    return layer if branches else layer(inputs)
