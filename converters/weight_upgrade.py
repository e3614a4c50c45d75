"""Weight arrays from a file, brought to the layout of the kzoo layer that receives them.

One converter per layer class, registered with :func:`weight_converter` and found
through the layer's class hierarchy (so Keras 1 legacy classes such as
``Convolution2D`` use ``Conv2D``'s). Converters follow Keras 2.2.4's
``preprocess_weights_for_loading``, which is what Keras itself did with old files, plus
what it missed (Keras 1 Theano kernels, recognised by their weight names):

- Keras 1 LSTM (12 arrays, gate order i, c, f, o) and GRU (9 arrays) to 3 arrays;
- Keras 1 Conv1D 4-D kernels, ``th`` Conv2D/Conv3D/Deconvolution2D kernels;
- Theano kernels (true convolutions) flipped to cross-correlations;
- wrappers (Bidirectional, TimeDistributed) and nested models recurse.

>>> import numpy as np
>>> from kzoo.converters.era import legacy_era
>>> k1 = [np.full((2, 3), i, 'float32') for i in range(12)]  # W U b per gate
>>> k1[1::3] = [np.full((3, 3), i, 'float32') for i in (1, 4, 7, 10)]
>>> k1[2::3] = [np.full((3,), i, 'float32') for i in (2, 5, 8, 11)]
>>> kernel, recurrent, bias = keras1_lstm(k1)
>>> bias.reshape(4, 3)[:, 0].tolist()   # i, f, c, o  from  i, c, f, o
[2.0, 8.0, 5.0, 11.0]
"""
import numpy as np

from kzoo import backend as K
from kzoo.errors import KzooError, ShapeError
from kzoo.utils.np_utils import convert_kernel

_CONVERTERS = {}


def weight_converter(*class_names):
    """Register ``fn(layer, weights, era, report) -> weights`` for these layer classes."""
    def decorate(fn):
        for name in class_names:
            if name in _CONVERTERS:
                raise ValueError('weight converter for %r is registered twice' % name)
            _CONVERTERS[name] = fn
        return fn
    return decorate


def find_converter(layer):
    for cls in type(layer).__mro__:
        fn = _CONVERTERS.get(cls.__name__)
        if fn is not None:
            return fn
    return None


def convert_weights(layer, weights, era, report=None):
    """``weights`` (as stored for ``layer``) in the order and shapes ``layer`` expects."""
    weights = [np.asarray(w) for w in weights]
    fn = find_converter(layer)
    if fn is not None:
        try:
            weights = fn(layer, weights, era, report)
        except KzooError:
            raise
        except (ValueError, IndexError, TypeError) as e:
            # a converter splitting or merging arrays whose shapes are not what the era
            # wrote (a damaged or hostile file): the layer and the shapes say what
            raise ShapeError('layer %r (%s): the stored weights (shapes %s) do not have the '
                             'layout its Keras era writes: %s' % (
                                 layer.name, type(layer).__name__,
                                 [w.shape for w in weights], e)) from None
    return weights


def target_shapes(layer):
    return [tuple(K.int_shape(w)) for w in layer.weights]


def _note(report, message):
    if report is not None:
        report.note(message)


def _is_container(layer):
    from kzoo.engine.network import Container
    return isinstance(layer, Container)


# ---- Keras 1 recurrent layouts -----------------------------------------------------------

def keras1_lstm(weights):
    """12 Keras 1 arrays (W, U, b for gates i, c, f, o) -> kernel, recurrent, bias (i f c o)."""
    order = (0, 2, 1, 3)  # positions of i, f, c, o among Keras 1's i, c, f, o
    return [np.concatenate([weights[3 * g + part] for g in order], axis=-1)
            for part in range(3)]


def keras1_gru(weights):
    """9 Keras 1 arrays (W, U, b for gates z, r, h) -> kernel, recurrent, bias."""
    return [np.concatenate([weights[3 * g + part] for g in range(3)], axis=-1)
            for part in range(3)]


@weight_converter('LSTM', 'LSTMCell')
def _lstm(layer, weights, era, report):
    if len(weights) == 12:
        _note(report, 'layer %r: Keras 1 LSTM weights (12 arrays, gates i c f o) joined into '
                      'kernel, recurrent_kernel, bias (gates i f c o)' % layer.name)
        weights = keras1_lstm(weights)
    if len(weights) == 3 and weights[2].ndim == 1 and len(target_shapes(layer)) == 3 and \
            weights[2].shape[0] == 2 * target_shapes(layer)[2][0]:
        # CuDNNLSTM keeps separate input and recurrent biases; LSTM uses their sum.
        weights[2] = np.sum(np.split(weights[2], 2), axis=0)
        _note(report, 'layer %r: CuDNN LSTM biases summed' % layer.name)
    return weights


@weight_converter('GRU', 'GRUCell')
def _gru(layer, weights, era, report):
    if len(weights) == 9:
        _note(report, 'layer %r: Keras 1 GRU weights (9 arrays) joined into kernel, '
                      'recurrent_kernel, bias' % layer.name)
        weights = keras1_gru(weights)
    return weights


@weight_converter('ConvLSTM2D')
def _conv_lstm2d(layer, weights, era, report):
    if len(weights) == 12:
        weights = keras1_lstm(weights)
        if getattr(layer, 'data_format', None) == 'channels_first':
            weights[0] = np.transpose(weights[0], (2, 3, 1, 0))
            weights[1] = np.transpose(weights[1], (2, 3, 1, 0))
        _note(report, 'layer %r: Keras 1 ConvLSTM2D weights joined' % layer.name)
    if era.theano_kernels:
        weights[0], weights[1] = convert_kernel(weights[0]), convert_kernel(weights[1])
        _note(report, 'layer %r: Theano kernels flipped' % layer.name)
    return weights


# ---- convolutions ----------------------------------------------------------------------------

def _flip_theano(layer, weights, era, report):
    if era.theano_kernels and weights and weights[0].ndim >= 3:
        weights[0] = convert_kernel(weights[0])
        _note(report, 'layer %r (%s): Theano kernel flipped to a cross-correlation kernel'
              % (layer.name, type(layer).__name__))
    return weights


def _fix_transposed(layer, weights, report):
    """Keras 2.2.4's last resort: a 4-D kernel stored (out, in, rows, cols)."""
    targets = target_shapes(layer)
    if weights and targets and weights[0].ndim == 4 and weights[0].shape != targets[0]:
        candidate = np.transpose(weights[0], (2, 3, 1, 0))
        if candidate.shape == targets[0]:
            weights[0] = candidate
            _note(report, 'layer %r: kernel transposed from (out, in, rows, cols)' % layer.name)
    return weights


@weight_converter('Conv1D')
def _conv1d(layer, weights, era, report):
    if weights and weights[0].ndim == 4:
        kernel = weights[0]
        filters = target_shapes(layer)[0][-1] if target_shapes(layer) else kernel.shape[-1]
        if kernel.shape[1] == 1 and kernel.shape[3] == filters:
            kernel = kernel[:, 0, :, :]            # (length, 1, in, filters)
        else:
            kernel = np.transpose(kernel, (2, 3, 1, 0))[:, 0, :, :]  # (filters, in, length, 1)
        weights[0] = kernel
        _note(report, 'layer %r: Keras 1 4-D Conv1D kernel reshaped to (length, in, filters)'
              % layer.name)
    return _flip_theano(layer, weights, era, report)


@weight_converter('Conv2D')
def _conv2d(layer, weights, era, report):
    if era.major == 1 and getattr(layer, 'data_format', None) == 'channels_first' and weights:
        weights[0] = np.transpose(weights[0], (2, 3, 1, 0))
        _note(report, 'layer %r: th kernel (out, in, rows, cols) transposed to '
                      '(rows, cols, in, out)' % layer.name)
    weights = _flip_theano(layer, weights, era, report)
    return _fix_transposed(layer, weights, report)


@weight_converter('Conv3D')
def _conv3d(layer, weights, era, report):
    if era.major == 1 and getattr(layer, 'data_format', None) == 'channels_first' and weights:
        weights[0] = np.transpose(weights[0], (2, 3, 4, 1, 0))
        _note(report, 'layer %r: th 3-D kernel transposed' % layer.name)
    return _flip_theano(layer, weights, era, report)


@weight_converter('Conv2DTranspose')
def _conv2d_transpose(layer, weights, era, report):
    if era.major == 1 and weights:
        if getattr(layer, 'data_format', None) == 'channels_first':
            weights[0] = np.transpose(weights[0], (2, 3, 0, 1))
        else:
            weights[0] = np.transpose(weights[0], (0, 1, 3, 2))
        _note(report, 'layer %r: Keras 1 Deconvolution2D kernel transposed' % layer.name)
    weights = _flip_theano(layer, weights, era, report)
    return _fix_transposed(layer, weights, report)


@weight_converter('BatchNormalization')
def _batch_normalization(layer, weights, era, report):
    if era.major == 1 and len(weights) == 4:
        _note(report, 'layer %r: Keras 1 running_std read as the moving variance (as Keras 2 '
                      'did)' % layer.name)
    return weights


# ---- wrappers and nested models ----------------------------------------------------------------

@weight_converter('Bidirectional')
def _bidirectional(layer, weights, era, report):
    forward = getattr(layer, 'forward_layer', None)
    backward = getattr(layer, 'backward_layer', None)
    if forward is None or backward is None or len(weights) % 2:
        return weights
    half = len(weights) // 2
    return (convert_weights(forward, weights[:half], era, report)
            + convert_weights(backward, weights[half:], era, report))


@weight_converter('TimeDistributed')
def _time_distributed(layer, weights, era, report):
    inner = getattr(layer, 'layer', None)
    return convert_weights(inner, weights, era, report) if inner is not None else weights


@weight_converter('Container')
def _container(layer, weights, era, report):
    """A nested model stores ``model.weights``: every sublayer's trainable weights first,
    then the non-trainable ones. Returned in kzoo's per-layer order (``get_weights``)."""
    trainable = sum(len(l.trainable_weights) for l in layer.layers)
    total = sum(len(l.weights) for l in layer.layers)
    if len(weights) != total:
        raise ShapeError('nested model %r holds %d weight arrays, but the file has %d for it'
                         % (layer.name, total, len(weights)))
    head, tail = weights[:trainable], weights[trainable:]
    out = []
    for sub in layer.layers:
        n_train = len(sub.trainable_weights)
        n_rest = len(sub.weights) - n_train
        mine, head = head[:n_train], head[n_train:]
        rest, tail = tail[:n_rest], tail[n_rest:]
        out.extend(convert_weights(sub, mine + rest, era, report))
    return out

