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


def conv2d_bn(x, filters, rows, cols, padding='same', strides=(1, 1), name=None):
    from kzoo.layers import Activation, BatchNormalization, Conv2D
    bn_axis = 1 if K.image_data_format() == 'channels_first' else 3
    x = Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False,
               name=name + '_conv' if name else None)(x)
    x = BatchNormalization(axis=bn_axis, scale=False, name=name + '_bn' if name else None)(x)
    return Activation('relu', name=name)(x)


def _avg_branch(x, filters):
    from kzoo.layers import AveragePooling2D
    return conv2d_bn(AveragePooling2D((3, 3), strides=(1, 1), padding='same')(x), filters, 1, 1)


def _block_35(x, pool_filters, name, axis):
    from kzoo.layers import concatenate
    b1 = conv2d_bn(x, 64, 1, 1)
    b5 = conv2d_bn(conv2d_bn(x, 48, 1, 1), 64, 5, 5)
    b3 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    return concatenate([b1, b5, b3, _avg_branch(x, pool_filters)], axis=axis, name=name)


def _block_17(x, width, name, axis):
    from kzoo.layers import concatenate
    b1 = conv2d_bn(x, 192, 1, 1)
    b7 = conv2d_bn(conv2d_bn(conv2d_bn(x, width, 1, 1), width, 1, 7), 192, 7, 1)
    b7d = conv2d_bn(x, width, 1, 1)
    for filters, (r, c) in ((width, (7, 1)), (width, (1, 7)), (width, (7, 1)), (192, (1, 7))):
        b7d = conv2d_bn(b7d, filters, r, c)
    return concatenate([b1, b7, b7d, _avg_branch(x, 192)], axis=axis, name=name)


def _block_8(x, index, axis):
    from kzoo.layers import concatenate
    b1 = conv2d_bn(x, 320, 1, 1)
    b3 = conv2d_bn(x, 384, 1, 1)
    b3 = concatenate([conv2d_bn(b3, 384, 1, 3), conv2d_bn(b3, 384, 3, 1)], axis=axis,
                     name='mixed9_%d' % index)
    b3d = conv2d_bn(conv2d_bn(x, 448, 1, 1), 384, 3, 3)
    b3d = concatenate([conv2d_bn(b3d, 384, 1, 3), conv2d_bn(b3d, 384, 3, 1)], axis=axis)
    return concatenate([b1, b3, b3d, _avg_branch(x, 192)], axis=axis, name='mixed%d' % (9 + index))


def InceptionV3(include_top=True, weights='imagenet', input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation='softmax',
                name='inception_v3'):
    """InceptionV3 with Keras's signature, structure and layer names; input 299x299.

    >>> InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)).count_params()
    21802784
    """
    from kzoo.layers import (Dense, GlobalAveragePooling2D, GlobalMaxPooling2D,
                             MaxPooling2D, concatenate)
    from kzoo.models import Model
    imagenet.check_weights_argument('InceptionV3', weights, include_top, classes)
    data_format = K.image_data_format()
    input_shape = imagenet.obtain_input_shape(input_shape, 299, 75, data_format, include_top,
                                              weights)
    img_input = imagenet.image_input(input_tensor, input_shape)
    axis = 1 if data_format == 'channels_first' else 3

    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding='valid')
    x = conv2d_bn(x, 32, 3, 3, padding='valid')
    x = conv2d_bn(x, 64, 3, 3)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding='valid')
    x = conv2d_bn(x, 192, 3, 3, padding='valid')
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)

    for i, pool_filters in enumerate((32, 64, 64)):
        x = _block_35(x, pool_filters, 'mixed%d' % i, axis)

    b3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding='valid')
    b3d = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=(2, 2),
                    padding='valid')
    x = concatenate([b3, b3d, MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=axis,
                    name='mixed3')

    for i, width in enumerate((128, 160, 160, 192)):
        x = _block_17(x, width, 'mixed%d' % (4 + i), axis)

    b3 = conv2d_bn(conv2d_bn(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding='valid')
    b7 = conv2d_bn(conv2d_bn(conv2d_bn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    b7 = conv2d_bn(b7, 192, 3, 3, strides=(2, 2), padding='valid')
    x = concatenate([b3, b7, MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=axis,
                    name='mixed8')

    for i in range(2):
        x = _block_8(x, i, axis)

    if include_top:
        x = GlobalAveragePooling2D(name='avg_pool')(x)
        x = Dense(classes, activation=classifier_activation, name='predictions')(x)
    elif pooling == 'avg':
        x = GlobalAveragePooling2D()(x)
    elif pooling == 'max':
        x = GlobalMaxPooling2D()(x)
    inputs = imagenet.source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    if weights == 'imagenet':
        from kzoo.registry.weights import load_into
        load_into(model, get_application('InceptionV3').card('imagenet', include_top))
    elif weights is not None:
        model.load_weights(weights)
    return model


def _cards():
    cards = []
    for include_top, md5, params in ((True, '9a0d58056eeedaa3f26cb7ebd46da564', 23851784),
                                     (False, 'bcbd6486424b2319ff4ef7d526e38f63', 21802784)):
        name = 'inception_v3_weights_tf_dim_ordering_tf_kernels%s.h5' % (
            '' if include_top else '_notop')
        cards.append(WeightCard('imagenet', include_top, name, (_BASE + name, _OLD + name),
                                md5, params))
    # Keras 1 published Theano-kernel, channels_first variants; kzoo converts on load.
    for include_top, md5, params in ((True, 'b3baf3070cc4bf476d43a2ea61b0ca5f', 23851784),
                                     (False, '79aaa90ab4372b4593ba3df64e142f05', 21802784)):
        name = 'inception_v3_weights_th_dim_ordering_th_kernels%s.h5' % (
            '' if include_top else '_notop')
        cards.append(WeightCard('imagenet', include_top, name, (_OLD + name,), md5, params,
                                kernels='theano', data_format='channels_first'))
    return tuple(cards)


APPLICATION = register_application(Application(
    'InceptionV3', InceptionV3, 299, 'tf', 'inception_v3', _cards()))

preprocess_input = functools.partial(imagenet.preprocess_input, mode='tf')
decode_predictions = imagenet.decode_predictions
