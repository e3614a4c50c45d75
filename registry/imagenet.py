"""ImageNet helpers shared by the applications: preprocessing, decoding, argument checks.

The 1,000 class names are bundled (``imagenet_class_index.json``, the file Keras
downloads, md5 ``c2c37ea517e94d9795004a39431a14cb``), so decoding works offline.

>>> import numpy as np
>>> preds = np.zeros((1, 1000)); preds[0, 1] = 1.
>>> decode_predictions(preds, top=1)[0][0][:2]
('n01443537', 'goldfish')
"""
import json
import os

import numpy as np

from kzoo import backend as K
from kzoo.engine.node import KTensor
from kzoo.errors import ConfigError, ShapeError

CLASS_INDEX_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'imagenet_class_index.json')
CLASS_INDEX_MD5 = 'c2c37ea517e94d9795004a39431a14cb'
_CLASS_INDEX = None

# Per-mode preprocessing constants, as Keras's imagenet_utils defines them.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


def class_index():
    """``{'0': ['n01440764', 'tench'], ...}`` from the bundled file."""
    global _CLASS_INDEX
    if _CLASS_INDEX is None:
        with open(CLASS_INDEX_FILE) as f:
            _CLASS_INDEX = json.load(f)
    return _CLASS_INDEX


def class_names():
    index = class_index()
    return [index[str(i)][1] for i in range(len(index))]


def decode_predictions(preds, top=5):
    """Top classes per sample: a list of ``(wnid, name, score)`` tuples, best first."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ShapeError('decode_predictions expects a batch of ImageNet predictions, an array '
                         'of shape (samples, 1000); got shape %s' % (preds.shape,))
    index = class_index()
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(index[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results


def preprocess_input(x, data_format=None, mode='caffe'):
    """Scale a batch of RGB images (0-255) the way the model's weights were trained.

    ``caffe``: RGB->BGR, subtract the ImageNet BGR means; ``tf``: scale to [-1, 1];
    ``torch``: scale to [0, 1] and normalize with ImageNet mean and std. The caller's
    array is left untouched.
    """
    if mode not in ('caffe', 'tf', 'torch'):
        raise ConfigError("preprocess_input mode must be 'caffe', 'tf' or 'torch', got %r"
                          % (mode,))
    data_format = K.normalize_data_format(data_format)
    x = np.array(x, dtype=x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating)
                 else K.floatx(), copy=True)
    if mode == 'tf':
        x /= 127.5
        x -= 1.
        return x
    channel_axis = -1 if data_format == 'channels_last' else (0 if x.ndim == 3 else 1)
    if mode == 'torch':
        x /= 255.
        mean, std = TORCH_MEAN, TORCH_STD
    else:
        x = np.flip(x, axis=channel_axis).copy()  # RGB -> BGR
        mean, std = CAFFE_MEAN_BGR, None
    shape = [1] * x.ndim
    shape[channel_axis] = 3
    x -= np.asarray(mean, x.dtype).reshape(shape)
    if std is not None:
        x /= np.asarray(std, x.dtype).reshape(shape)
    return x


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten,
                       weights=None):
    """Validate or pick an application's input shape, with Keras's rules and errors."""
    if input_shape is not None:
        input_shape = tuple(input_shape)
    channels_first = data_format == 'channels_first'
    if weights != 'imagenet' and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        default = ((channels, default_size, default_size) if channels_first
                   else (default_size, default_size, channels))
    else:
        default = (3, default_size, default_size) if channels_first else (
            default_size, default_size, 3)
    if weights == 'imagenet' and require_flatten:
        if input_shape is not None and input_shape != default:
            raise ConfigError('when include_top=True and loading imagenet weights, input_shape '
                              'must be %s; got %s' % (default, input_shape))
        return default
    if input_shape:
        if len(input_shape) != 3:
            raise ConfigError('input_shape must be a tuple of three integers; got %s'
                              % (input_shape,))
        channels = input_shape[0] if channels_first else input_shape[-1]
        spatial = input_shape[1:] if channels_first else input_shape[:2]
        if channels != 3 and weights == 'imagenet':
            raise ConfigError('imagenet weights need 3 input channels; got input_shape %s'
                              % (input_shape,))
        if any(d is not None and d < min_size for d in spatial):
            raise ConfigError('input size must be at least %dx%d; got input_shape %s'
                              % (min_size, min_size, input_shape))
    elif require_flatten:
        input_shape = default
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ConfigError('with include_top=True the input_shape must be static; got %s'
                          % (input_shape,))
    return input_shape


def pretrained_names(name):
    """The ``weights=`` names with published files for application ``name``."""
    from kzoo.registry.base import APPLICATIONS, get_application
    if name not in APPLICATIONS.names():
        return ('imagenet',)
    return get_application(name).weights_names or ('imagenet',)


def check_weights_argument(name, weights, include_top, classes):
    """Keras's checks of ``weights=``; returns ``'imagenet'`` for any published ImageNet
    weights (``'imagenet'``, ``'imagenet-keras1'``), for the input-shape rules."""
    names = pretrained_names(name)
    if not (weights is None or (isinstance(weights, str) and weights in names) or (
            isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ConfigError("%s: weights must be None (random initialization), %s "
                          '(pre-training on ImageNet) or the path to a weights file that '
                          'exists; got %r' % (name, ', '.join(repr(n) for n in names),
                                              weights))
    if isinstance(weights, str) and weights in names:
        if include_top and classes != 1000:
            raise ConfigError("%s: with weights=%r and include_top=True, classes must be "
                              '1000; got %r' % (name, weights, classes))
        return 'imagenet'
    return weights


def source_inputs(tensor):
    """The Input tensors a symbolic tensor was computed from (Keras's get_source_inputs)."""
    found, stack, seen = [], [tensor], set()
    while stack:
        t = stack.pop()
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if not node.inbound_layers:
            if id(t) not in seen:
                seen.add(id(t))
                found.append(t)
            continue
        stack.extend(reversed(node.input_tensors))
    return found


def image_input(input_tensor, input_shape):
    """The graph input: ``input_tensor`` when given (a kzoo tensor), else a new Input."""
    from kzoo.engine.input_layer import Input
    if input_tensor is None:
        return Input(shape=input_shape)
    if not isinstance(input_tensor, KTensor):
        raise ConfigError('input_tensor must be a kzoo symbolic tensor (from kzoo.layers.Input '
                          'or a layer call); got %r' % (input_tensor,))
    return input_tensor
