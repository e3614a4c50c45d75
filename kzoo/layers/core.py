"""Core layers: Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda,
Masking, ActivityRegularization (Keras 2 names and arguments; Keras 1 spellings too).

>>> import numpy as np
>>> Flatten()(np.zeros((2, 3, 4))).shape
(2, 12)
>>> Reshape((-1, 2))(np.zeros((2, 6))).shape
(2, 3, 2)
"""
import inspect

import numpy as np

from kzoo import activations, backend as K
from kzoo.engine.base_layer import Layer, register_layer, to_list
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs
from kzoo.utils.safe_mode import dump_function, load_function, safe_mode_scope

__all__ = ['Activation', 'Dropout', 'Flatten', 'Reshape', 'Permute', 'RepeatVector',
           'Lambda', 'Masking', 'ActivityRegularization']


def _int_tuple(value, layer, field):
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError('%s: %s must be a tuple of integers, got %r'
                          % (layer, field, value)) from None


@register_layer()
class Activation(Layer):
    """Applies an activation function by name or callable.

    >>> import numpy as np
    >>> Activation('relu')(np.array([[-1., 2.]])).tolist()
    [[0.0, 2.0]]
    """
    config_fields = ('activation',)

    def __init__(self, activation, **kwargs):
        Layer.__init__(self, **kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)


@register_layer()
class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of inputs while training (Keras 1: ``p``);
    the identity at inference.

    >>> import numpy as np
    >>> Dropout(0.5)(np.ones((1, 3))).tolist()
    [[1.0, 1.0, 1.0]]
    """
    config_fields = ('rate', 'noise_shape', 'seed')

    @keras1_kwargs()
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.rate = min(1., max(0., float(rate)))
        self.noise_shape = None if noise_shape is None else tuple(
            None if d is None else int(d) for d in noise_shape)
        self.seed = seed
        self.supports_masking = True

    def _noise_shape(self, inputs):
        if self.noise_shape is None:
            return None
        shape = K.int_shape(inputs)
        return tuple(shape[i] if d is None else d for i, d in enumerate(self.noise_shape))

    def call(self, inputs, training=None):
        if training and 0. < self.rate < 1.:
            return K.dropout(inputs, self.rate, self._noise_shape(inputs), seed=self.seed)
        return inputs


@register_layer()
class Flatten(Layer):
    """Flattens all but the batch axis; ``channels_first`` inputs are first put in
    channels-last order, as Keras does, so a following Dense sees the same layout."""
    config_fields = ('data_format',)

    @keras1_kwargs()
    def __init__(self, data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.data_format = K.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype='int64'))
        return (input_shape[0], size)

    def call(self, inputs):
        if self.data_format == 'channels_first' and K.ndim(inputs) > 2:
            inputs = K.permute_dimensions(inputs, [0] + list(range(2, K.ndim(inputs))) + [1])
        return K.batch_flatten(inputs)


@register_layer()
class Reshape(Layer):
    """Reshapes to ``target_shape`` (without the batch axis; one entry may be -1)."""
    config_fields = ('target_shape',)

    def __init__(self, target_shape, **kwargs):
        Layer.__init__(self, **kwargs)
        self.target_shape = _int_tuple(target_shape, 'Reshape %r' % self.name, 'target_shape')
        if sum(1 for d in self.target_shape if d < 0) > 1:
            raise ConfigError('Reshape %r: target_shape %s may have only one unknown (-1) '
                              'dimension' % (self.name, self.target_shape))

    def _fix_unknown(self, input_shape):
        known = int(np.prod([d for d in self.target_shape if d >= 0], dtype='int64'))
        original = int(np.prod(input_shape, dtype='int64'))
        shape = list(self.target_shape)
        if -1 in shape:
            if known == 0 or original % known:
                raise ShapeError('Reshape %r: cannot reshape an input of shape %s to %s'
                                 % (self.name, tuple(input_shape), self.target_shape))
            shape[shape.index(-1)] = original // known
        elif original != known:
            raise ShapeError('Reshape %r: cannot reshape an input of shape %s (%d values) to %s '
                             '(%d values)' % (self.name, tuple(input_shape), original,
                                              self.target_shape, known))
        return tuple(shape)

    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            return (input_shape[0],) + tuple(None if d < 0 else d for d in self.target_shape)
        return (input_shape[0],) + self._fix_unknown(input_shape[1:])

    def call(self, inputs):
        shape = K.int_shape(inputs)
        target = self._fix_unknown(shape[1:])
        return K.reshape(inputs, (shape[0],) + target)


@register_layer()
class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` counts from 1 (``Permute((2, 1))``)."""
    config_fields = ('dims',)

    def __init__(self, dims, **kwargs):
        Layer.__init__(self, **kwargs)
        self.dims = _int_tuple(dims, 'Permute %r' % self.name, 'dims')
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ConfigError('Permute %r: dims must be a permutation of 1..%d, got %s'
                              % (self.name, len(self.dims), self.dims))

    def _check(self, ndim):
        if ndim != len(self.dims) + 1:
            raise ShapeError('Permute %r with dims %s expects inputs of rank %d, got rank %d'
                             % (self.name, self.dims, len(self.dims) + 1, ndim))

    def compute_output_shape(self, input_shape):
        self._check(len(input_shape))
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        self._check(K.ndim(inputs))
        return K.permute_dimensions(inputs, (0,) + self.dims)


@register_layer()
class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``."""
    config_fields = ('n',)

    def __init__(self, n, **kwargs):
        Layer.__init__(self, **kwargs)
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError('RepeatVector %r expects inputs of rank 2, got shape %s'
                             % (self.name, tuple(input_shape)))
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        return K.repeat(inputs, self.n)


@register_layer()
class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value`` (output zero there)."""
    config_fields = ('mask_value',)

    def __init__(self, mask_value=0., **kwargs):
        Layer.__init__(self, **kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return K.any(K.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = K.any(K.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return inputs * K.cast(keep, K.dtype(inputs))


@register_layer()
class ActivityRegularization(Layer):
    """Identity that, while training, puts ``(l1 * sum|x| + l2 * sum(x^2)) / batch``
    in ``losses`` (per-sample, as tf.keras 2 and Keras 3 scale it)."""
    config_fields = ('l1', 'l2')

    def __init__(self, l1=0., l2=0., **kwargs):
        from kzoo import regularizers
        Layer.__init__(self, **kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if training:
            batch = K.int_shape(inputs)[0] if K.ndim(inputs) else 1
            self.losses = [self.activity_regularizer(inputs) / max(batch, 1)]
        return inputs


def _accepts(fn, argument):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return argument in params


@register_layer()
class Lambda(Layer):
    """Wraps a function of the input tensor(s) as a layer.

    ``output_shape`` is a shape without the batch axis, or a function of the input
    shape; when omitted it is found by running ``function`` on small dummy inputs.
    ``mask`` is a function ``(inputs, mask) -> mask`` or a fixed mask; ``arguments``
    are extra keyword arguments for ``function``.

    Configs store ``function`` by name, or as marshalled bytecode (Keras 2 layout);
    bytecode is loaded only with safe mode off (:mod:`kzoo.utils.safe_mode`).

    >>> import numpy as np
    >>> layer = Lambda(lambda x, k: x * k, arguments={'k': 3.})
    >>> layer(np.ones((1, 2))).tolist()
    [[3.0, 3.0]]
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        Layer.__init__(self, **kwargs)
        if not callable(function):
            raise ConfigError('Lambda %r: function must be callable, got %r'
                              % (self.name, function))
        self.function = function
        if isinstance(output_shape, list) and all(d is None or isinstance(d, int)
                                                  for d in output_shape):
            output_shape = tuple(output_shape)
        self._output_shape = output_shape
        if isinstance(mask, (list, np.ndarray)):  # a fixed mask read back from a config
            mask = K.convert_to_tensor(np.asarray(mask, dtype=bool))
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if _accepts(self.function, 'mask'):
            kwargs['mask'] = mask
        if _accepts(self.function, 'training'):
            kwargs['training'] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return self._infer_output_shape(input_shape)
        if callable(self._output_shape):
            shape = self._output_shape(input_shape)
            if not isinstance(shape, (list, tuple)):
                raise ShapeError('Lambda %r: the output_shape function must return a tuple or '
                                 'a list of tuples, got %r' % (self.name, shape))
            if isinstance(shape, list) and shape and (shape[0] is None or
                                                      isinstance(shape[0], int)):
                shape = tuple(shape)
            return shape
        batch = input_shape[0][0] if isinstance(input_shape, list) else (
            input_shape[0] if input_shape else None)
        return (batch,) + tuple(self._output_shape)

    def _infer_output_shape(self, input_shape):
        # Run the function twice on dummy inputs, with unknown dimensions set to 2 and
        # to 3: an output dimension that changes between the runs is unknown.
        multi = isinstance(input_shape, list)
        shapes = input_shape if multi else [input_shape]
        runs = []
        for fill in (2, 3):
            dummies = [K.ones(tuple(fill if d is None else d for d in s), dtype=self.dtype)
                       for s in shapes]
            try:
                with K.no_grad():
                    out = self.call(dummies if multi else dummies[0])
            except Exception as e:
                raise ShapeError('Lambda %r: could not infer the output shape by running the '
                                 'function on inputs of shape %s (%s: %s); pass output_shape='
                                 % (self.name, input_shape, type(e).__name__, e)) from e
            runs.append((isinstance(out, (list, tuple)),
                         [tuple(K.int_shape(o)) for o in to_list(out)]))
        (is_list, first), (_, second) = runs
        merged = [tuple(a if a == b else None for a, b in zip(s1, s2))
                  for s1, s2 in zip(first, second)]
        return merged if is_list else merged[0]

    # ---- serialization ----------------------------------------------------------------

    def get_config(self):
        """Keras 2 layout: ``function`` + ``function_type`` ('function' or 'lambda'),
        ``output_shape`` + ``output_shape_type`` ('raw', 'function' or 'lambda')."""
        config = Layer.get_config(self)
        function, function_type = dump_function(self.function)
        config.update({'function': function, 'function_type': function_type,
                       'module': getattr(self.function, '__module__', None)})
        if callable(self._output_shape):
            output_shape, output_shape_type = dump_function(self._output_shape)
        else:
            output_shape, output_shape_type = self._output_shape, 'raw'
        config.update({'output_shape': output_shape, 'output_shape_type': output_shape_type,
                       'output_shape_module': getattr(self._output_shape, '__module__', None)
                       if callable(self._output_shape) else None,
                       'arguments': self.arguments})
        if callable(self.mask):
            config['mask'], config['mask_type'] = dump_function(self.mask)
        elif self.mask is not None:
            config['mask'] = K.to_numpy(self.mask).tolist()
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        config = dict(config)
        name = config.get('name')
        with safe_mode_scope(safe_mode):
            config['function'] = load_function(
                config.get('function'), config.pop('function_type', 'function'), name,
                'function', custom_objects)
            shape_type = config.pop('output_shape_type', 'raw')
            shape = config.get('output_shape')
            if isinstance(shape, dict) or (shape is not None and shape_type != 'raw'):
                config['output_shape'] = load_function(shape, shape_type, name, 'output_shape',
                                                       custom_objects)
            mask_type = config.pop('mask_type', None)
            if mask_type is not None or isinstance(config.get('mask'), dict):
                config['mask'] = load_function(config['mask'], mask_type, name, 'mask',
                                               custom_objects)
        for key in ('module', 'output_shape_module'):
            config.pop(key, None)
        return cls(**config)

