"""VGG16 and VGG19 (Simonyan & Zisserman, 2014), with Keras's layer names."""
import functools

from kzoo import backend as K
from kzoo.registry import imagenet
from kzoo.registry.base import Application, WeightCard, get_application, register_application

_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/'
_OLD = 'https://github.com/fchollet/deep-learning-models/releases/download/v0.1/'

# Convolutions per block; every block ends in a 2x2 max pooling.
_BLOCKS = {'vgg16': (2, 2, 3, 3, 3), 'vgg19': (2, 2, 4, 4, 4)}
_FILTERS = (64, 128, 256, 512, 512)


def _cards(model, top_md5, notop_md5, top_params, notop_params):
    cards = []
    for include_top, md5, params in ((True, top_md5, top_params),
                                     (False, notop_md5, notop_params)):
        name = '%s_weights_tf_dim_ordering_tf_kernels%s.h5' % (model, '' if include_top
                                                                  else '_notop')
        cards.append(WeightCard('imagenet', include_top, name,
                                (_BASE + model + '/' + name, _OLD + name), md5, params))
    return tuple(cards)


def _vgg(model_name, include_top=True, weights='imagenet', input_tensor=None,
         input_shape=None, pooling=None, classes=1000, classifier_activation='softmax',
         name=None):
    from kzoo.layers import (Conv2D, Dense, Flatten, GlobalAveragePooling2D,
                             GlobalMaxPooling2D, MaxPooling2D)
    from kzoo.models import Model
    from kzoo.registry.weights import load_pretrained
    app = get_application(model_name)
    shape_weights = imagenet.check_weights_argument(app.name, weights, include_top, classes)
    input_shape = imagenet.obtain_input_shape(input_shape, 224, 32, K.image_data_format(),
                                              include_top, shape_weights)
    img_input = imagenet.image_input(input_tensor, input_shape)
    x = img_input
    for block, (convs, filters) in enumerate(zip(_BLOCKS[model_name], _FILTERS), start=1):
        for i in range(1, convs + 1):
            x = Conv2D(filters, (3, 3), activation='relu', padding='same',
                       name='block%d_conv%d' % (block, i))(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name='block%d_pool' % block)(x)
    if include_top:
        x = Flatten(name='flatten')(x)
        x = Dense(4096, activation='relu', name='fc1')(x)
        x = Dense(4096, activation='relu', name='fc2')(x)
        x = Dense(classes, activation=classifier_activation, name='predictions')(x)
    elif pooling == 'avg':
        x = GlobalAveragePooling2D()(x)
    elif pooling == 'max':
        x = GlobalMaxPooling2D()(x)
    inputs = imagenet.source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name or model_name)
    # a Keras 1 th file given by path (its name says so) is converted on load
    load_pretrained(model, app, weights, include_top)
    return model


def VGG16(include_top=True, weights='imagenet', input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation='softmax', name=None):
    """VGG16 with Keras's signature and layer names (``block1_conv1`` ... ``predictions``).

    >>> VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).count_params()
    14714688
    """
    return _vgg('vgg16', include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)


def VGG19(include_top=True, weights='imagenet', input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation='softmax', name=None):
    """VGG19 with Keras's signature and layer names."""
    return _vgg('vgg19', include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)


register_application(Application(
    'VGG16', VGG16, 224, 'caffe', 'vgg16',
    _cards('vgg16', '64373286793e3c8b2b4e3219cbf3544b', '6d6bbae143d832006294945121d1f1fc',
           138357544, 14714688)))
register_application(Application(
    'VGG19', VGG19, 224, 'caffe', 'vgg19',
    _cards('vgg19', 'cbe5617147190e668d6c5d5026f83318', '253f8cb515780f3b799900260a226db6',
           143667240, 20024384)))

preprocess_input = functools.partial(imagenet.preprocess_input, mode='caffe')
decode_predictions = imagenet.decode_predictions
