"""ResNet50 (He et al., 2015) with the layer names of Keras's ``applications.resnet``.

The published file ``resnet50_weights_tf_dim_ordering_tf_kernels.h5`` exists in two
versions with one name: the old one (deep-learning-models v0.2, a different graph) and
the current one (keras-applications/resnet). kzoo's card pins the current file by hash;
the cache keys files by hash, so the old one can never be mistaken for it.
"""
import functools

from kzoo import backend as K
from kzoo.registry import imagenet
from kzoo.registry.base import Application, WeightCard, get_application, register_application

_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/resnet/'
_EPS = 1.001e-5
# (filters, blocks, stride of the first block) per stage conv2 .. conv5
_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


def _block(x, filters, stride, conv_shortcut, name, bn_axis):
    from kzoo.layers import Activation, Add, BatchNormalization, Conv2D
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=name + '_0_conv')(x)
        shortcut = BatchNormalization(axis=bn_axis, epsilon=_EPS, name=name + '_0_bn')(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=name + '_1_conv')(x)
    x = BatchNormalization(axis=bn_axis, epsilon=_EPS, name=name + '_1_bn')(x)
    x = Activation('relu', name=name + '_1_relu')(x)
    x = Conv2D(filters, 3, padding='same', name=name + '_2_conv')(x)
    x = BatchNormalization(axis=bn_axis, epsilon=_EPS, name=name + '_2_bn')(x)
    x = Activation('relu', name=name + '_2_relu')(x)
    x = Conv2D(4 * filters, 1, name=name + '_3_conv')(x)
    x = BatchNormalization(axis=bn_axis, epsilon=_EPS, name=name + '_3_bn')(x)
    x = Add(name=name + '_add')([shortcut, x])
    return Activation('relu', name=name + '_out')(x)


def ResNet50(include_top=True, weights='imagenet', input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation='softmax', name='resnet50'):
    """ResNet50 with Keras's signature and layer names (``conv1_conv`` ... ``predictions``).

    >>> ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3)).count_params()
    23587712
    """
    from kzoo.layers import (Activation, BatchNormalization, Conv2D, Dense,
                             GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D,
                             ZeroPadding2D)
    from kzoo.models import Model
    imagenet.check_weights_argument('ResNet50', weights, include_top, classes)
    data_format = K.image_data_format()
    input_shape = imagenet.obtain_input_shape(input_shape, 224, 32, data_format, include_top,
                                              weights)
    img_input = imagenet.image_input(input_tensor, input_shape)
    bn_axis = 3 if data_format == 'channels_last' else 1

    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name='conv1_pad')(img_input)
    x = Conv2D(64, 7, strides=2, name='conv1_conv')(x)
    x = BatchNormalization(axis=bn_axis, epsilon=_EPS, name='conv1_bn')(x)
    x = Activation('relu', name='conv1_relu')(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name='pool1_pad')(x)
    x = MaxPooling2D(3, strides=2, name='pool1_pool')(x)
    for stage, (filters, blocks, stride) in enumerate(_STAGES, start=2):
        for block in range(1, blocks + 1):
            x = _block(x, filters, stride if block == 1 else 1, block == 1,
                       'conv%d_block%d' % (stage, block), bn_axis)
    if include_top:
        x = GlobalAveragePooling2D(name='avg_pool')(x)
        x = Dense(classes, activation=classifier_activation, name='predictions')(x)
    elif pooling == 'avg':
        x = GlobalAveragePooling2D(name='avg_pool')(x)
    elif pooling == 'max':
        x = GlobalMaxPooling2D(name='max_pool')(x)
    inputs = imagenet.source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    if weights == 'imagenet':
        from kzoo.registry.weights import load_into
        load_into(model, get_application('ResNet50').card('imagenet', include_top))
    elif weights is not None:
        model.load_weights(weights)
    return model


def _card(include_top, md5, params):
    name = 'resnet50_weights_tf_dim_ordering_tf_kernels%s.h5' % ('' if include_top else '_notop')
    return WeightCard('imagenet', include_top, name, (_BASE + name,), md5, params)


APPLICATION = register_application(Application(
    'ResNet50', ResNet50, 224, 'caffe', 'resnet50',
    (_card(True, '2cb95161c43110f7111970584f804107', 25636712),
     _card(False, '4d473c1dd8becc155b73f8504c6f6626', 23587712)),
    notes='the old deep-learning-models v0.2 file of the same name is a different graph'))

preprocess_input = functools.partial(imagenet.preprocess_input, mode='caffe')
decode_predictions = imagenet.decode_predictions
