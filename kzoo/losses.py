"""Loss functions, with Keras's names, aliases and formulas (Keras 3's, written in ``K`` ops).

Each function takes ``(y_true, y_pred)`` backend tensors and returns one loss per
sample (reduced over the last axis); the model weights and averages them. The
crossentropies take probabilities, as Keras's do (``from_logits=False``); an output
that carries the logits it came from (``y_pred._keras_logits``, as Keras 3's softmax
and sigmoid attach) is used through them, as Keras does.

Names resolve through the :data:`LOSSES` registry: Keras 2 names
(``mean_squared_error``), short aliases (``mse``, ``mae``, ``mape``, ``msle``,
``kld``, ``cosine``, ``logcosh``) and Keras 3 class names (``MeanSquaredError``).

>>> import numpy as np
>>> from kzoo import backend as K
>>> K.to_numpy(get('mse')(K.constant([[0., 2.]]), K.constant([[1., 1.]]))).tolist()
[1.0]
"""
import numpy as np

from kzoo import backend as K
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry, deserialize_object

LOSSES = Registry('loss')

__all__ = ['mean_squared_error', 'mean_absolute_error', 'mean_absolute_percentage_error',
           'mean_squared_logarithmic_error', 'squared_hinge', 'hinge', 'categorical_hinge',
           'logcosh', 'huber', 'categorical_crossentropy', 'sparse_categorical_crossentropy',
           'binary_crossentropy', 'kullback_leibler_divergence', 'poisson',
           'cosine_proximity', 'LOSSES', 'Loss', 'get', 'serialize', 'deserialize']


def _register(*aliases):
    def decorate(fn):
        LOSSES.register(*aliases)(fn)
        return fn
    return decorate


def _logits(y_pred):
    return getattr(y_pred, '_keras_logits', None)


@_register('mse', 'MSE')
def mean_squared_error(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


@_register('mae', 'MAE')
def mean_absolute_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)


@_register('mape', 'MAPE')
def mean_absolute_percentage_error(y_true, y_pred):
    diff = K.abs((y_true - y_pred) / K.maximum(K.abs(y_true), K.epsilon()))
    return 100. * K.mean(diff, axis=-1)


@_register('msle', 'MSLE')
def mean_squared_logarithmic_error(y_true, y_pred):
    first_log = K.log(K.maximum(y_pred, K.epsilon()) + 1.)
    second_log = K.log(K.maximum(y_true, K.epsilon()) + 1.)
    return K.mean(K.square(first_log - second_log), axis=-1)


def _hinge_labels(y_true):
    # Keras 3: labels given as {0, 1} mean {-1, +1}.
    values = K.to_numpy(y_true)
    if np.all((values == 0) | (values == 1)):
        return y_true * 2. - 1.
    return y_true


@_register()
def squared_hinge(y_true, y_pred):
    y_true = _hinge_labels(y_true)
    return K.mean(K.square(K.maximum(1. - y_true * y_pred, 0.)), axis=-1)


@_register()
def hinge(y_true, y_pred):
    y_true = _hinge_labels(y_true)
    return K.mean(K.maximum(1. - y_true * y_pred, 0.), axis=-1)


@_register()
def categorical_hinge(y_true, y_pred):
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1. - y_true) * y_pred, axis=-1)
    return K.maximum(neg - pos + 1., 0.)


@_register('log_cosh')
def logcosh(y_true, y_pred):
    x = y_pred - y_true
    return K.mean(x + K.softplus(-2. * x) - float(np.log(2.)), axis=-1)


@_register()
def huber(y_true, y_pred, delta=1.0):
    error = y_pred - y_true
    abs_error = K.abs(error)
    quadratic = 0.5 * K.square(error)
    linear = delta * abs_error - 0.5 * delta ** 2
    return K.mean(K.switch(K.less_equal(abs_error, delta), quadratic, linear), axis=-1)


@_register()
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0., axis=-1):
    if label_smoothing:
        n = K.int_shape(y_true)[axis]
        y_true = y_true * (1. - label_smoothing) + label_smoothing / n
    logits = y_pred if from_logits else _logits(y_pred)
    if logits is not None:
        return -K.sum(y_true * K.log_softmax(logits, axis=axis), axis=axis)
    output = y_pred / K.sum(y_pred, axis=axis, keepdims=True)
    output = K.clip(output, K.epsilon(), 1. - K.epsilon())
    return -K.sum(y_true * K.log(output), axis=axis)


@_register()
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    if K.ndim(y_true) == K.ndim(y_pred) and K.int_shape(y_true)[-1] == 1:
        y_true = K.squeeze(y_true, -1)
    classes = K.int_shape(y_pred)[axis]
    one_hot = K.one_hot(K.cast(y_true, 'int64'), classes)
    logits = y_pred if from_logits else _logits(y_pred)
    if logits is None:
        # Keras 3: log of the clipped probabilities, used as logits.
        logits = K.log(K.clip(y_pred, K.epsilon(), 1. - K.epsilon()))
    return -K.sum(one_hot * K.log_softmax(logits, axis=-1), axis=-1)


def _sigmoid_crossentropy_with_logits(target, logits):
    return K.relu_plain(logits) - logits * target + K.softplus(-K.abs(logits))


@_register()
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0., axis=-1):
    if label_smoothing:
        y_true = y_true * (1. - label_smoothing) + 0.5 * label_smoothing
    logits = y_pred if from_logits else _logits(y_pred)
    if logits is not None:
        bce = _sigmoid_crossentropy_with_logits(y_true, logits)
    else:
        output = K.clip(y_pred, K.epsilon(), 1. - K.epsilon())
        bce = -(y_true * K.log(output) + (1. - y_true) * K.log(1. - output))
    return K.mean(bce, axis=axis)


@_register('kld', 'KLD', 'kl_divergence')
def kullback_leibler_divergence(y_true, y_pred):
    y_true = K.clip(y_true, K.epsilon(), 1.)
    y_pred = K.clip(y_pred, K.epsilon(), 1.)
    return K.sum(y_true * K.log(y_true / y_pred), axis=-1)


@_register()
def poisson(y_true, y_pred):
    return K.mean(y_pred - y_true * K.log(y_pred + K.epsilon()), axis=-1)


@_register('cosine', 'cosine_similarity')
def cosine_proximity(y_true, y_pred, axis=-1):
    """Minus the cosine similarity (Keras 2's ``cosine_proximity``, Keras 3's
    ``cosine_similarity`` loss): -1 for vectors pointing the same way."""
    y_true = K.l2_normalize(y_true, axis=axis)
    y_pred = K.l2_normalize(y_pred, axis=axis)
    return -K.sum(y_true * y_pred, axis=axis)


class Loss(object):
    """A loss as an object, Keras 3's classes (``MeanSquaredError()``, ...).

    ``fn`` gives per-sample losses (what a model uses); calling the object reduces them
    as Keras 3 does (``sum_over_batch_size``, ``sum`` or ``none``).
    """
    fn = None
    fn_kwargs = ()

    def __init__(self, reduction='sum_over_batch_size', name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(self.fn_kwargs)
        if unknown:
            raise ConfigError('%s: keyword argument(s) not understood: %s'
                              % (type(self).__name__, ', '.join(sorted(unknown))))
        if reduction not in ('sum_over_batch_size', 'auto', 'sum', 'none', None, 'mean'):
            raise ConfigError('%s: unknown reduction %r' % (type(self).__name__, reduction))
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)
        # Keras 3 configs carry ignore_class=None, which means nothing.
        self.kwargs = {k: v for k, v in kwargs.items()
                       if not (k == 'ignore_class' and v is None)}

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        if sample_weight is not None:
            values = values * K.convert_to_tensor(np.asarray(sample_weight, K.floatx()))
        if self.reduction in ('none', None):
            return values
        total = K.sum(values)
        if self.reduction == 'sum':
            return total
        return total / float(max(np.prod(K.int_shape(values)), 1))

    def get_config(self):
        config = {'name': self.name, 'reduction': self.reduction}
        config.update(self.kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != 'dtype'})


def _snake(name):
    import re
    return re.sub('([a-z0-9])([A-Z])', r'\1_\2', name).lower()


def _loss_class(class_name, function, kwargs=(), aliases=()):
    cls = type(class_name, (Loss,), {'fn': staticmethod(function), 'fn_kwargs': kwargs,
                                     '__doc__': 'Keras 3 ``%s``: %s, reduced.'
                                                % (class_name, function.__name__)})
    cls.__module__ = __name__
    LOSSES.register(*aliases)(cls)
    return cls


MeanSquaredError = _loss_class('MeanSquaredError', mean_squared_error)
MeanAbsoluteError = _loss_class('MeanAbsoluteError', mean_absolute_error)
MeanAbsolutePercentageError = _loss_class('MeanAbsolutePercentageError',
                                          mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _loss_class('MeanSquaredLogarithmicError',
                                          mean_squared_logarithmic_error)
Hinge = _loss_class('Hinge', hinge)
SquaredHinge = _loss_class('SquaredHinge', squared_hinge)
CategoricalHinge = _loss_class('CategoricalHinge', categorical_hinge)
LogCosh = _loss_class('LogCosh', logcosh)
Huber = _loss_class('Huber', huber, ('delta',))
CategoricalCrossentropy = _loss_class('CategoricalCrossentropy', categorical_crossentropy,
                                      ('from_logits', 'label_smoothing', 'axis'))
SparseCategoricalCrossentropy = _loss_class('SparseCategoricalCrossentropy',
                                            sparse_categorical_crossentropy,
                                            ('from_logits', 'axis', 'ignore_class'))
BinaryCrossentropy = _loss_class('BinaryCrossentropy', binary_crossentropy,
                                 ('from_logits', 'label_smoothing', 'axis'))
KLDivergence = _loss_class('KLDivergence', kullback_leibler_divergence)
Poisson = _loss_class('Poisson', poisson)
CosineSimilarity = _loss_class('CosineSimilarity', cosine_proximity, ('axis',))

# Short Keras spellings of the same functions, importable by name.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence = kullback_leibler_divergence
cosine = cosine_similarity = cosine_proximity
log_cosh = logcosh


def per_sample(loss):
    """The per-sample function behind a loss name, function or :class:`Loss` object."""
    if isinstance(loss, Loss):
        return loss.call
    return loss


def get(identifier, custom_objects=None):
    """A loss function (or :class:`Loss` object) from a name, a config or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize_object(identifier, LOSSES, custom_objects, where='loss')
    if callable(identifier):
        return identifier
    raise ConfigError('could not interpret loss %r: expected a name such as "mse", a '
                      'function or a Loss object' % (identifier,))


def serialize(loss):
    """A function's name, or ``{'class_name', 'config'}`` for a :class:`Loss` object."""
    if isinstance(loss, Loss):
        return {'class_name': type(loss).__name__, 'config': loss.get_config()}
    return getattr(loss, '__name__', None)


deserialize = get
