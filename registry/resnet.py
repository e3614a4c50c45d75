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
_V02 = 'https://github.com/fchollet/deep-learning-models/releases/download/v0.2/'
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
    from kzoo.registry.weights import architecture, load_pretrained
    app = get_application('ResNet50')
    shape_weights = imagenet.check_weights_argument(app.name, weights, include_top, classes)
    data_format = K.image_data_format()
    input_shape = imagenet.obtain_input_shape(input_shape, 224, 32, data_format, include_top,
                                              shape_weights)
    img_input = imagenet.image_input(input_tensor, input_shape)
    bn_axis = 3 if data_format == 'channels_last' else 1
    inputs = imagenet.source_inputs(input_tensor) if input_tensor is not None else img_input
    if architecture(app, weights, include_top) == 'keras1':
        x = _keras1_graph(img_input, include_top, pooling, classes, classifier_activation,
                          bn_axis)
        model = Model(inputs, x, name=name)
        load_pretrained(model, app, weights, include_top)
        return model

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
    model = Model(inputs, x, name=name)
    load_pretrained(model, app, weights, include_top)
    return model


def _keras1_unit(x, filters, kernel_size, stride, name, bn_axis, relu=True):
    from kzoo.layers import Activation, BatchNormalization, Conv2D
    x = Conv2D(filters, kernel_size, strides=stride, padding='same' if kernel_size > 1
               else 'valid', name='res' + name)(x)
    x = BatchNormalization(axis=bn_axis, name='bn' + name)(x)
    return Activation('relu')(x) if relu else x


def _keras1_block(x, filters, stride, conv_shortcut, name, bn_axis):
    from kzoo.layers import Activation, add
    shortcut = x
    y = _keras1_unit(x, filters, 1, stride, name + '_branch2a', bn_axis)
    y = _keras1_unit(y, filters, 3, 1, name + '_branch2b', bn_axis)
    y = _keras1_unit(y, 4 * filters, 1, 1, name + '_branch2c', bn_axis, relu=False)
    if conv_shortcut:
        shortcut = _keras1_unit(x, 4 * filters, 1, stride, name + '_branch1', bn_axis,
                                relu=False)
    return Activation('relu')(add([y, shortcut]))


def _keras1_graph(img_input, include_top, pooling, classes, classifier_activation, bn_axis):
    """Keras 1's ResNet50 (deep-learning-models v0.2), which its published files fit:
    names ``conv1``, ``res2a_branch2a``, ...; no padding before the first max pooling
    (55x55, not 56x56); BatchNormalization's epsilon 1e-3; a 7x7 average pooling, in the
    notop model too, then Flatten and ``fc1000``."""
    from kzoo.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                             Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
                             MaxPooling2D, ZeroPadding2D)
    x = ZeroPadding2D((3, 3))(img_input)
    x = Conv2D(64, 7, strides=2, name='conv1')(x)
    x = BatchNormalization(axis=bn_axis, name='bn_conv1')(x)
    x = Activation('relu')(x)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    for stage, (filters, blocks, stride) in enumerate(_STAGES, start=2):
        for block in range(blocks):
            x = _keras1_block(x, filters, stride if block == 0 else 1, block == 0,
                              '%d%s' % (stage, 'abcdef'[block]), bn_axis)
    x = AveragePooling2D((7, 7), name='avg_pool')(x)
    if include_top:
        x = Flatten()(x)
        return Dense(classes, activation=classifier_activation, name='fc1000')(x)
    if pooling == 'avg':
        return GlobalAveragePooling2D()(x)
    if pooling == 'max':
        return GlobalMaxPooling2D()(x)
    return x


def _card(include_top, md5, params):
    name = 'resnet50_weights_tf_dim_ordering_tf_kernels%s.h5' % ('' if include_top else '_notop')
    return WeightCard('imagenet', include_top, name, (_BASE + name,), md5, params)


def _keras1_card(include_top, md5, params):
    # Keras 1's Theano-kernel, channels_first files: Keras 1's graph, converted on load
    name = 'resnet50_weights_th_dim_ordering_th_kernels%s.h5' % ('' if include_top else '_notop')
    return WeightCard('imagenet-keras1', include_top, name, (_V02 + name,), md5, params,
                      kernels='theano', data_format='channels_first', architecture='keras1')


APPLICATION = register_application(Application(
    'ResNet50', ResNet50, 224, 'caffe', 'resnet50',
    (_card(True, '2cb95161c43110f7111970584f804107', 25636712),
     _card(False, '4d473c1dd8becc155b73f8504c6f6626', 23587712),
     _keras1_card(True, '1c1f8f5b0c8ee28fe9d950625a230e1c', 25636712),
     _keras1_card(False, 'f64f049c92468c9affcd44b0976cdafe', 23587712)),
    notes='the old deep-learning-models v0.2 file of the same name is a different graph'))

preprocess_input = functools.partial(imagenet.preprocess_input, mode='caffe')
decode_predictions = imagenet.decode_predictions
