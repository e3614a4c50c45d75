"""Activation functions (``activation=`` of any layer, and ``Activation``) and the
activation layers: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax.

Functions are registered by the kzoo function object (``kzoo.activations.relu``), so an
activation kzoo knows under two names (``swish``/``silu``) is one entry. Elementwise
activations keep the layout of their input (an NCHW tensor stays NCHW); softmax maps
its Keras axis to the ONNX one.

>>> from kzoo import activations
>>> activations.get('relu') in ACTIVATIONS
True
"""
import math

import numpy as np

from kzoo import activations as kact
from kzoo.backend.composite import SELU_ALPHA, SELU_SCALE
from kzoo.converters.onnx_export.registry import exporter
from kzoo.errors import ConversionError
from kzoo.layers import (ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU)

ACTIVATIONS = {}


def activation_exporter(*functions):
    def register(fn):
        for f in functions:
            if f in ACTIVATIONS:
                raise ValueError('ONNX exporter for activation %s registered twice'
                                 % f.__name__)
            ACTIVATIONS[f] = fn
        return fn
    return register


def apply_activation(ctx, function, v, name, layer=None):
    """``function(v)`` as ONNX nodes (the last one named ``name``); a Value."""
    if function is kact.linear or function is None:
        return v
    export = ACTIVATIONS.get(function)
    if export is None:
        what = getattr(function, '__name__', repr(function))
        where = ' of layer %r (%s)' % (layer.name, type(layer).__name__) if layer else ''
        raise ConversionError('cannot export the activation %r%s to ONNX: it is not a kzoo '
                              'built-in activation' % (what, where))
    return v.like(export(ctx, v, name))


def _unary(op_type, **attributes):
    def export(ctx, v, name):
        return ctx.g.op(op_type, v.name, name=name, **attributes)
    return export


activation_exporter(kact.relu)(_unary('Relu'))
activation_exporter(kact.sigmoid)(_unary('Sigmoid'))
activation_exporter(kact.tanh)(_unary('Tanh'))
activation_exporter(kact.softplus)(_unary('Softplus'))
activation_exporter(kact.softsign)(_unary('Softsign'))
activation_exporter(kact.elu)(_unary('Elu', alpha=1.0))
activation_exporter(kact.selu)(_unary('Selu', alpha=SELU_ALPHA, gamma=SELU_SCALE))
activation_exporter(kact.exponential)(_unary('Exp'))
activation_exporter(kact.hard_sigmoid)(_unary('HardSigmoid', alpha=0.2, beta=0.5))


@activation_exporter(kact.relu6)
def _relu6(ctx, v, name):
    return ctx.clip(v.name, 0., 6., name=name)


@activation_exporter(kact.softmax)
def _softmax(ctx, v, name):
    return ctx.g.op('Softmax', ctx.plain(v) if v.feature_perm is not None else v.name,
                    axis=v.onnx_axis(-1) if v.feature_perm is None else v.rank - 1, name=name)


@activation_exporter(kact.log_softmax)
def _log_softmax(ctx, v, name):
    return ctx.g.op('LogSoftmax', ctx.plain(v) if v.feature_perm is not None else v.name,
                    axis=v.onnx_axis(-1) if v.feature_perm is None else v.rank - 1, name=name)


@activation_exporter(kact.swish)
def _swish(ctx, v, name):
    return ctx.g.op('Mul', v.name, ctx.g.op('Sigmoid', v.name, name=name + '/sigmoid'),
                    name=name)


@activation_exporter(kact.gelu)
def _gelu(ctx, v, name):
    # Keras's gelu default is the exact (erf) form.
    if ctx.opset >= 20:
        return ctx.g.op('Gelu', v.name, name=name)
    scaled = ctx.g.op('Mul', v.name, ctx.const(1. / math.sqrt(2.)), name=name + '/scale')
    erf = ctx.g.op('Erf', scaled, name=name + '/erf')
    half = ctx.g.op('Mul', v.name, ctx.const(0.5), name=name + '/half')
    return ctx.g.op('Mul', half, ctx.g.op('Add', erf, ctx.const(1.), name=name + '/one'),
                    name=name)


# ---- the layers ------------------------------------------------------------------------------

@exporter(Activation)
def activation_layer(ctx, call):
    v = call.input
    out = apply_activation(ctx, call.layer.activation, v, call.name, call.layer)
    if out is v:  # linear: still give the layer its node
        out = v.like(ctx.g.op('Identity', v.name, name=call.name))
    return [out]


def keras_relu(ctx, v, name, alpha=0., max_value=None, threshold=0.):
    """Keras's relu with ``alpha``/``max_value``/``threshold`` (the composite op's order)."""
    g, x = ctx.g, v.name
    if alpha == 0. and max_value is None and threshold == 0.:
        return g.op('Relu', x, name=name)
    if alpha != 0. and max_value is None and threshold == 0.:
        return g.op('LeakyRelu', x, alpha=float(alpha), name=name)
    if alpha == 0. and threshold == 0.:
        return ctx.clip(x, 0., float(max_value), name=name)
    negative = None
    if alpha != 0.:
        shifted = g.op('Neg', x, name=name + '/neg')
        if threshold != 0.:
            shifted = g.op('Add', shifted, ctx.const(threshold), name=name + '/shift')
        negative = g.op('Relu', shifted, name=name + '/negative')
    if threshold != 0.:
        keep = ctx.cast(g.op('Greater', x, ctx.const(threshold), name=name + '/above'),
                        'float32', name=name + '/keep')
        y = g.op('Mul', x, keep, name=name + '/thresholded')
    else:
        y = g.op('Relu', x, name=name + '/relu')
    if max_value is not None:
        y = ctx.clip(y, 0., float(max_value), name=name + '/clip')
    if negative is not None:
        y = g.op('Sub', y, g.op('Mul', negative, ctx.const(alpha), name=name + '/slope'),
                 name=name + '/sub')
    return g.op('Identity', y, name=name)


@exporter(ReLU)
def relu_layer(ctx, call):
    layer = call.layer
    return [call.input.like(keras_relu(ctx, call.input, call.name, layer.negative_slope,
                                       layer.max_value, layer.threshold))]


@exporter(LeakyReLU)
def leaky_relu_layer(ctx, call):
    return [call.input.like(ctx.g.op('LeakyRelu', call.input.name,
                                     alpha=float(call.layer.alpha), name=call.name))]


@exporter(ELU)
def elu_layer(ctx, call):
    return [call.input.like(ctx.g.op('Elu', call.input.name, alpha=float(call.layer.alpha),
                                     name=call.name))]


@exporter(ThresholdedReLU)
def thresholded_relu_layer(ctx, call):
    return [call.input.like(ctx.g.op('ThresholdedRelu', call.input.name,
                                     alpha=float(call.layer.theta), name=call.name))]


@exporter(PReLU)
def prelu_layer(ctx, call):
    """``PRelu`` with the slope laid out like the input (broadcast from the right)."""
    v = call.input
    if v.feature_perm is not None:
        v = ctx.plain_value(v)
    shape = tuple(int(d) for d in call.layer.alpha.shape)
    full = (1,) + shape
    perm = v.perm
    if perm is None:
        transform, dims = None, shape
    else:
        dims = tuple(full[p] for p in perm)

        def transform(a, perm=perm):
            return np.ascontiguousarray(a.reshape((1,) + a.shape).transpose(perm))
    slope = ctx.weight(call.layer.alpha, call.name + '/alpha', transform, dims,
                       key=('prelu', perm))
    return [v.like(ctx.g.op('PRelu', v.name, slope, name=call.name))]


@exporter(Softmax, masks=True)
def softmax_layer(ctx, call):
    layer, v = call.layer, call.input
    mask = call.mask
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    if mask is not None or len(axes) > 1 or v.feature_perm is not None:
        v = ctx.plain_value(v)
    g, x = ctx.g, v.name
    if mask is not None:
        keep = mask.name  # boolean; Where broadcasts it from the right, as Keras does
        x = g.op('Where', keep, x, ctx.const(-1e9), name=call.sub('mask'))
    if len(axes) > 1:
        # exp(x - logsumexp(x, axes)), as kzoo computes a multi-axis softmax
        axes_onnx = [v.onnx_axis(a) for a in axes]
        lse = ctx.reduce('ReduceLogSumExp', x, axes_onnx, True, name=call.sub('logsumexp'))
        y = g.op('Exp', g.op('Sub', x, lse, name=call.sub('sub')),
                 name=call.name if mask is None else call.sub('exp'))
    else:
        y = g.op('Softmax', x, axis=v.onnx_axis(axes[0]),
                 name=call.name if mask is None else call.sub('softmax'))
    if mask is not None:
        zeros = ctx.const(0.)
        y = g.op('Where', keep, y, zeros, name=call.name)
    call.out_masks = [mask]
    return [v.like(y)]
