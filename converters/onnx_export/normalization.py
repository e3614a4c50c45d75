"""BatchNormalization (inference: the moving statistics) and LayerNormalization.

BatchNormalization on the ONNX channel axis (axis 1: every convolution's output) is
the ``BatchNormalization`` op; on any other axis, or several, the statistics are
folded into one scale and one shift, laid out like the input. After a Flatten of an
NCHW tensor the parameters are permuted like the features, so the Dense that follows
still absorbs the permutation.
"""
import hashlib

import numpy as np

from kzoo.converters.onnx_export.context import Value, to_numpy
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import BatchNormalization, LayerNormalization


def _param(layer, name, size, fill):
    variable = getattr(layer, name)
    return to_numpy(variable) if variable is not None else np.full(size, fill, 'float32')


def _weights(layer):
    variables = [w for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
                 if w is not None]
    return tuple(id(w) for w in variables)


@exporter(BatchNormalization)
def batch_normalization(ctx, call):
    layer, v = call.layer, call.input
    axes = layer._axes
    rank = v.rank
    shape = tuple(int(d) for d in layer.moving_mean.shape)
    g = ctx.g
    if len(axes) == 1 and v.feature_perm is not None and axes[0] == rank - 1:
        order = np.asarray(v.feature_perm)
        key = ('features', hashlib.sha1(order.tobytes()).hexdigest())
        names = _bn_inputs(ctx, layer, call, lambda a, order=order: a[order], key)
        y = g.op('BatchNormalization', v.name, *names, epsilon=layer.epsilon, name=call.name)
        return [v.like(y)]
    if v.feature_perm is not None:
        v = ctx.plain_value(v)
    if len(axes) == 1 and rank >= 2 and v.onnx_axis(axes[0]) == 1:
        names = _bn_inputs(ctx, layer, call, None, None)
        y = g.op('BatchNormalization', v.name, *names, epsilon=layer.epsilon, name=call.name)
        return [v.like(y)]
    # fold into x * scale + shift, broadcast along the ONNX axes of the parameters
    full = shape if len(axes) > 1 else tuple(shape[0] if i == axes[0] else 1
                                             for i in range(rank))
    perm = v.perm
    onnx_full = full if perm is None else tuple(full[p] for p in perm)
    size = shape[0] if len(axes) == 1 else shape

    def folded(which):
        def produce():
            mean = _param(layer, 'moving_mean', size, 0.)
            var = _param(layer, 'moving_variance', size, 1.)
            gamma = _param(layer, 'gamma', size, 1.)
            beta = _param(layer, 'beta', size, 0.)
            scale = gamma / np.sqrt(var + np.float32(layer.epsilon))
            value = scale if which == 'scale' else beta - mean * scale
            value = value.astype('float32').reshape(full)
            return np.ascontiguousarray(value if perm is None else value.transpose(perm))
        return produce

    key = ('bn-folded', _weights(layer), perm)
    scale = g.weight(key + ('scale',), call.name + '/scale', onnx_full, 'float32',
                     folded('scale'))
    shift = g.weight(key + ('shift',), call.name + '/shift', onnx_full, 'float32',
                     folded('shift'))
    y = g.op('Add', g.op('Mul', v.name, scale, name=call.sub('scale')), shift, name=call.name)
    return [v.like(y)]


def _bn_inputs(ctx, layer, call, transform, key):
    """scale, bias, mean, var initializers (ones/zeros when not learned)."""
    size = int(layer.moving_mean.shape[0])
    names = []
    for attr, fill in (('gamma', 1.), ('beta', 0.), ('moving_mean', None),
                       ('moving_variance', None)):
        variable = getattr(layer, attr)
        if variable is None:
            names.append(ctx.const(np.full(size, fill, 'float32')))
        else:
            names.append(ctx.weight(variable, '%s/%s' % (call.name, attr), transform,
                                    key=key))
    return names


@exporter(LayerNormalization)
def layer_normalization(ctx, call):
    layer, v = call.layer, call.input
    g = ctx.g
    x = ctx.plain(v)
    axes = layer._axes
    rank = v.rank
    trailing = axes == list(range(axes[0], rank))
    param_shape = tuple(v.shape[a] for a in axes)
    if trailing and ctx.opset >= 17:
        scale = ctx.weight(layer.gamma, call.name + '/gamma') if layer.gamma is not None \
            else ctx.const(np.ones(param_shape, 'float32'))
        inputs = [x, scale]
        if layer.beta is not None:
            inputs.append(ctx.weight(layer.beta, call.name + '/beta'))
        y = g.op('LayerNormalization', *inputs, axis=axes[0], epsilon=layer.epsilon,
                 name=call.name)
        return [Value(y, call.output_shape, v.dtype)]
    # Keras: inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv)
    broadcast = tuple(v.shape[i] if i in axes else 1 for i in range(rank))
    mean = ctx.reduce('ReduceMean', x, axes, True, name=call.sub('mean'))
    centred = g.op('Sub', x, mean, name=call.sub('centre'))
    var = ctx.reduce('ReduceMean', g.op('Mul', centred, centred, name=call.sub('square')),
                     axes, True, name=call.sub('variance'))
    inv = g.op('Reciprocal', g.op('Sqrt', g.op('Add', var, ctx.const(layer.epsilon),
                                               name=call.sub('eps')), name=call.sub('sqrt')),
               name=call.sub('inv'))
    if layer.gamma is not None:
        gamma = ctx.weight(layer.gamma, call.name + '/gamma',
                           lambda a, s=broadcast: a.reshape(s), broadcast, key=('bcast',))
        inv = g.op('Mul', inv, gamma, name=call.sub('scale'))
    y = g.op('Mul', centred, inv, name=call.sub('normalize') if layer.beta is not None
             else call.name)
    if layer.beta is not None:
        beta = ctx.weight(layer.beta, call.name + '/beta', lambda a, s=broadcast: a.reshape(s),
                          broadcast, key=('bcast',))
        y = g.op('Add', y, beta, name=call.name)
    return [Value(y, call.output_shape, v.dtype)]
