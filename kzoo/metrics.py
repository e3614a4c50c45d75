"""Metrics: accuracy in its Keras forms, top-k accuracy, and any loss.

A metric function takes ``(y_true, y_pred)`` tensors and returns a value per sample
(or per element); the model averages them over an epoch, weighting by sample weights
as Keras 3 does. ``'accuracy'``/``'acc'`` given to ``compile`` picks binary, sparse
categorical or categorical accuracy from the shapes of targets and outputs (Keras 3's
rule, see :func:`resolve_accuracy`). Every loss name is also a metric name.

>>> import numpy as np
>>> from kzoo import backend as K
>>> y_true, y_pred = K.constant([[0., 1.], [1., 0.]]), K.constant([[.2, .8], [.3, .7]])
>>> K.to_numpy(categorical_accuracy(y_true, y_pred)).tolist()
[1.0, 0.0]
"""
from kzoo import backend as K, losses
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry, deserialize_object

METRICS = Registry('metric')

__all__ = ['binary_accuracy', 'categorical_accuracy', 'sparse_categorical_accuracy',
           'top_k_categorical_accuracy', 'sparse_top_k_categorical_accuracy',
           'resolve_accuracy', 'METRICS', 'get', 'serialize']


def _register(*aliases):
    def decorate(fn):
        METRICS.register(*aliases)(fn)
        return fn
    return decorate


def _floatx(x):
    return K.cast(x, K.floatx())


@_register()
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``y_pred > threshold`` agrees with ``y_true`` (per element)."""
    return _floatx(K.equal(y_true, _floatx(K.greater(y_pred, threshold))))


@_register()
def categorical_accuracy(y_true, y_pred):
    """1 where the argmax of ``y_pred`` is the argmax of one-hot ``y_true``."""
    return _floatx(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)))


def _sparse_labels(y_true, y_pred):
    if K.ndim(y_true) == K.ndim(y_pred) and K.int_shape(y_true)[-1] == 1:
        y_true = K.squeeze(y_true, -1)
    return K.cast(y_true, 'int64')


@_register()
def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the argmax of ``y_pred`` is the integer label ``y_true``."""
    return _floatx(K.equal(_sparse_labels(y_true, y_pred),
                           K.cast(K.argmax(y_pred, axis=-1), 'int64')))


def _in_top_k(labels, y_pred, k):
    # As tf.math.in_top_k: ties at the boundary count as inside.
    target = K.sum(y_pred * K.one_hot(labels, K.int_shape(y_pred)[-1]), axis=-1,
                   keepdims=True)
    above = K.sum(_floatx(K.greater(y_pred, target)), axis=-1)
    return _floatx(K.less(above, float(k)))


@_register()
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the true class (one-hot ``y_true``) is among the ``k`` highest scores."""
    return _in_top_k(K.argmax(y_true, axis=-1), y_pred, k)


@_register()
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the integer label ``y_true`` is among the ``k`` highest scores (shaped
    like ``y_true``, as Keras 3)."""
    return K.reshape(_in_top_k(_sparse_labels(y_true, y_pred), y_pred, k), K.int_shape(y_true))


def resolve_accuracy(y_true_shape, y_pred_shape):
    """The accuracy function ``'accuracy'`` means for these shapes (Keras 3's rule):
    binary for one output unit, sparse categorical for integer labels, else
    categorical."""
    if y_pred_shape[-1] == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
        return sparse_categorical_accuracy
    return categorical_accuracy


class MeanMetricWrapper(object):
    """Keras 3's metric classes (``BinaryAccuracy(threshold=0.6)``): a function and
    its keyword arguments, averaged by the model."""
    fn = None
    fn_kwargs = ()

    def __init__(self, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(self.fn_kwargs)
        if unknown:
            raise ConfigError('%s: keyword argument(s) not understood: %s'
                              % (type(self).__name__, ', '.join(sorted(unknown))))
        self.name = name or losses._snake(type(self).__name__)
        self.kwargs = kwargs

    def __call__(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def get_config(self):
        config = {'name': self.name}
        config.update(self.kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != 'dtype'})


def _metric_class(class_name, function, kwargs=()):
    cls = type(class_name, (MeanMetricWrapper,),
               {'fn': staticmethod(function), 'fn_kwargs': kwargs,
                '__doc__': 'Keras 3 ``%s``: mean of %s.' % (class_name, function.__name__)})
    cls.__module__ = __name__
    METRICS.register()(cls)
    return cls


BinaryAccuracy = _metric_class('BinaryAccuracy', binary_accuracy, ('threshold',))
CategoricalAccuracy = _metric_class('CategoricalAccuracy', categorical_accuracy)
SparseCategoricalAccuracy = _metric_class('SparseCategoricalAccuracy',
                                          sparse_categorical_accuracy)
TopKCategoricalAccuracy = _metric_class('TopKCategoricalAccuracy',
                                        top_k_categorical_accuracy, ('k',))
SparseTopKCategoricalAccuracy = _metric_class('SparseTopKCategoricalAccuracy',
                                              sparse_top_k_categorical_accuracy, ('k',))

# Every loss is a metric too (Keras 2 exposed them from keras.metrics).
from kzoo.losses import (  # noqa: E402,F401
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, squared_hinge, hinge, categorical_hinge, logcosh,
    categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
    kullback_leibler_divergence, poisson, cosine_proximity, mse, mae, mape, msle, kld,
    cosine)


def get(identifier, custom_objects=None):
    """A metric function from a name, config or callable; loss names are metrics too.

    ``'accuracy'``/``'acc'`` are resolved by the model from shapes; here they mean
    :func:`categorical_accuracy`, as in Keras 1.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier in ('accuracy', 'acc'):
        return categorical_accuracy
    if isinstance(identifier, (str, dict)):
        name = identifier if isinstance(identifier, str) else identifier.get('class_name')
        registry = METRICS if name in METRICS else losses.LOSSES
        return deserialize_object(identifier, registry, custom_objects, where='metric')
    if callable(identifier):
        return identifier
    raise ConfigError('could not interpret metric %r: expected a name such as "accuracy" '
                      'or "mae", or a function' % (identifier,))


def serialize(metric):
    if hasattr(metric, 'get_config'):
        return {'class_name': type(metric).__name__, 'config': metric.get_config()}
    return getattr(metric, '__name__', None)
