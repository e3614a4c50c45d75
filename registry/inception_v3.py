"""InceptionV3 (Szegedy et al., 2015) with the structure and names of Keras's application.

Every convolution is ``conv2d_bn``: Conv2D without bias, BatchNormalization without
scale, ReLU; mixing blocks are named ``mixed0`` ... ``mixed10``.
"""
import functools

from kzoo import backend as K
from kzoo.registry import imagenet
from kzoo.registry.base import Application, WeightCard, get_application, register_application

_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/'
_OLD = 'https://github.com/fchollet/deep-learning-models/releases/download/v0.5/'
_V02 = 'https://github.com/fchollet/deep-learning-models/releases/download/v0.2/'


def conv2d_bn(x, filters, rows, cols, padding='same', strides=(1, 1), name=None):
    from kzoo.layers import Activation, BatchNormalization, Conv2D
    bn_axis = 1 if K.image_data_format() == 'channels_first' else 3
    x = Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False,
               name=name + '_conv' if name else None)(x)
    x = BatchNormalization(axis=bn_axis, scale=False, name=name + '_bn' if name else None)(x)
    return Activation('relu', name=name)(x)


def keras1_conv2d_bn(x, filters, rows, cols, padding='same', strides=(1, 1), name=None):
    """Keras 1's unit (deep-learning-models v0.2): Conv2D with bias and ReLU, then a
    BatchNormalization with scale, in the order its published weights were trained."""
    from kzoo.layers import BatchNormalization, Conv2D
    bn_axis = 1 if K.image_data_format() == 'channels_first' else 3
    x = Conv2D(filters, (rows, cols), strides=strides, padding=padding, activation='relu',
               name=name + '_conv' if name else None)(x)
    return BatchNormalization(axis=bn_axis, name=name + '_bn' if name else None)(x)


def _avg_branch(conv, x, filters):
    from kzoo.layers import AveragePooling2D
    return conv(AveragePooling2D((3, 3), strides=(1, 1), padding='same')(x), filters, 1, 1)


def _block_35(conv, x, pool_filters, name, axis):
    from kzoo.layers import concatenate
    b1 = conv(x, 64, 1, 1)
    b5 = conv(conv(x, 48, 1, 1), 64, 5, 5)
    b3 = conv(conv(conv(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    return concatenate([b1, b5, b3, _avg_branch(conv, x, pool_filters)], axis=axis, name=name)


def _block_17(conv, x, width, name, axis):
    from kzoo.layers import concatenate
    b1 = conv(x, 192, 1, 1)
    b7 = conv(conv(conv(x, width, 1, 1), width, 1, 7), 192, 7, 1)
    b7d = conv(x, width, 1, 1)
    for filters, (r, c) in ((width, (7, 1)), (width, (1, 7)), (width, (7, 1)), (192, (1, 7))):
        b7d = conv(b7d, filters, r, c)
    return concatenate([b1, b7, b7d, _avg_branch(conv, x, 192)], axis=axis, name=name)


def _block_8(conv, x, index, axis):
    from kzoo.layers import concatenate
    b1 = conv(x, 320, 1, 1)
    b3 = conv(x, 384, 1, 1)
    b3 = concatenate([conv(b3, 384, 1, 3), conv(b3, 384, 3, 1)], axis=axis,
                     name='mixed9_%d' % index)
    b3d = conv(conv(x, 448, 1, 1), 384, 3, 3)
    b3d = concatenate([conv(b3d, 384, 1, 3), conv(b3d, 384, 3, 1)], axis=axis)
    return concatenate([b1, b3, b3d, _avg_branch(conv, x, 192)], axis=axis,
                       name='mixed%d' % (9 + index))


def InceptionV3(include_top=True, weights='imagenet', input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation='softmax',
                name='inception_v3'):
    """InceptionV3 with Keras's signature, structure and layer names; input 299x299.

    ``weights='imagenet-keras1'`` builds the graph of Keras 1's InceptionV3 (convolution
    with bias and ReLU before BatchNormalization, an average pool in ``mixed8``, a
    Flatten top) and loads its published Theano-kernel files, converted on load.

    >>> InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)).count_params()
    21802784
    """
    from kzoo.layers import (AveragePooling2D, Dense, Flatten, GlobalAveragePooling2D,
                             GlobalMaxPooling2D, MaxPooling2D, concatenate)
    from kzoo.models import Model
    from kzoo.registry.weights import architecture, load_pretrained
    app = get_application('InceptionV3')
    shape_weights = imagenet.check_weights_argument(app.name, weights, include_top, classes)
    keras1 = architecture(app, weights, include_top) == 'keras1'
    conv = keras1_conv2d_bn if keras1 else conv2d_bn
    data_format = K.image_data_format()
    input_shape = imagenet.obtain_input_shape(input_shape, 299, 75, data_format, include_top,
                                              shape_weights)
    img_input = imagenet.image_input(input_tensor, input_shape)
    axis = 1 if data_format == 'channels_first' else 3

    x = conv(img_input, 32, 3, 3, strides=(2, 2), padding='valid')
    x = conv(x, 32, 3, 3, padding='valid')
    x = conv(x, 64, 3, 3)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv(x, 80, 1, 1, padding='valid')
    x = conv(x, 192, 3, 3, padding='valid')
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)

    for i, pool_filters in enumerate((32, 64, 64)):
        x = _block_35(conv, x, pool_filters, 'mixed%d' % i, axis)

    b3 = conv(x, 384, 3, 3, strides=(2, 2), padding='valid')
    b3d = conv(conv(conv(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=(2, 2), padding='valid')
    x = concatenate([b3, b3d, MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=axis,
                    name='mixed3')

    for i, width in enumerate((128, 160, 160, 192)):
        x = _block_17(conv, x, width, 'mixed%d' % (4 + i), axis)

    b3 = conv(conv(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding='valid')
    b7 = conv(conv(conv(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    b7 = conv(b7, 192, 3, 3, strides=(2, 2), padding='valid')
    pool = AveragePooling2D if keras1 else MaxPooling2D  # Keras 1 averaged here
    x = concatenate([b3, b7, pool((3, 3), strides=(2, 2))(x)], axis=axis, name='mixed8')

    for i in range(2):
        x = _block_8(conv, x, i, axis)

    if include_top and keras1:
        x = AveragePooling2D((8, 8), strides=(8, 8), name='avg_pool')(x)
        x = Flatten(name='flatten')(x)
        x = Dense(classes, activation=classifier_activation, name='predictions')(x)
    elif include_top:
        x = GlobalAveragePooling2D(name='avg_pool')(x)
        x = Dense(classes, activation=classifier_activation, name='predictions')(x)
    elif pooling == 'avg':
        x = GlobalAveragePooling2D()(x)
    elif pooling == 'max':
        x = GlobalMaxPooling2D()(x)
    inputs = imagenet.source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    load_pretrained(model, app, weights, include_top)
    return model


def _cards():
    cards = []
    for include_top, md5, params in ((True, '9a0d58056eeedaa3f26cb7ebd46da564', 23851784),
                                     (False, 'bcbd6486424b2319ff4ef7d526e38f63', 21802784)):
        name = 'inception_v3_weights_tf_dim_ordering_tf_kernels%s.h5' % (
            '' if include_top else '_notop')
        cards.append(WeightCard('imagenet', include_top, name, (_BASE + name, _OLD + name),
                                md5, params))
    # Keras 1's Theano-kernel, channels_first files (deep-learning-models v0.2) fit Keras
    # 1's graph; kzoo builds that graph for them and converts the kernels on load.
    for include_top, md5, params in ((True, 'b3baf3070cc4bf476d43a2ea61b0ca5f', 23886216),
                                     (False, '79aaa90ab4372b4593ba3df64e142f05', 21837216)):
        name = 'inception_v3_weights_th_dim_ordering_th_kernels%s.h5' % (
            '' if include_top else '_notop')
        cards.append(WeightCard('imagenet-keras1', include_top, name, (_V02 + name,), md5,
                                params, kernels='theano', data_format='channels_first',
                                architecture='keras1'))
    return tuple(cards)


APPLICATION = register_application(Application(
    'InceptionV3', InceptionV3, 299, 'tf', 'inception_v3', _cards()))

preprocess_input = functools.partial(imagenet.preprocess_input, mode='tf')
decode_predictions = imagenet.decode_predictions
