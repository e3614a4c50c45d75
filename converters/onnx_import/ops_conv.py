"""Handlers: Conv and ConvTranspose.

With constant float32 weights these become kzoo's ``Conv1D``/``Conv2D``/``Conv3D``
(``data_format`` of the import, weights transposed to Keras's kernel layout) and
``Conv1DTranspose``/``Conv2DTranspose``/``Conv3DTranspose`` (full output, then cropped
by the ONNX pads). Explicit pads that Keras's ``same`` does not express become a
``ZeroPadding2D`` (1D, 3D) in front. Otherwise :class:`OnnxConv`/:class:`OnnxConvTranspose`.
"""
import numpy as np

from kzoo.layers import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                         Conv3DTranspose, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

from .common import keras_weights
from .importer import Value
from .layers import OnnxPad
from .nn_layers import OnnxConv, OnnxConvTranspose, full_pairs, window_pads
from .registry import onnx_op

CONV = {1: Conv1D, 2: Conv2D, 3: Conv3D}
CONV_TRANSPOSE = {1: Conv1DTranspose, 2: Conv2DTranspose, 3: Conv3DTranspose}
ZERO_PADDING = {1: ZeroPadding1D, 2: ZeroPadding2D, 3: ZeroPadding3D}


def spatial_input(ctx, x):
    """``x`` in the layout of the import (NHWC when channels_last)."""
    if ctx.data_format == 'channels_last' and 3 <= x.rank <= 5:
        return ctx.to_cl(x)
    return ctx.to_cf(x)


def data_format_of(x):
    return 'channels_last' if x.layout == 'cl' else 'channels_first'


def _window_attrs(node, n):
    return dict(kernel_shape=node.attr('kernel_shape'), strides=node.attr('strides'),
                pads=node.attr('pads'), dilations=node.attr('dilations'),
                auto_pad=node.attr('auto_pad', 'NOTSET'))


def _keras_padding(ctx, node, x, kernel, strides, dilations):
    """(padding for the Keras layer, explicit (before, after) pairs or None)."""
    auto_pad = node.attr('auto_pad', 'NOTSET')
    n = len(kernel)
    if auto_pad == 'SAME_UPPER':
        return 'same', None
    sizes = list(x.onnx_shape[2:])
    pairs = window_pads(auto_pad, node.attr('pads'), sizes, kernel, strides, dilations)
    if any(p is None for p in pairs):
        return None, None
    if all(p == (0, 0) for p in pairs):
        return 'valid', None
    same = [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2)
            for k, d in zip(kernel, dilations)]
    if all(s == 1 for s in strides) and pairs == same:
        return 'same', None
    return 'valid', pairs[:n]


@onnx_op('Conv', 1, 11, 22, layout_aware=True)
def conv(ctx, node, inputs):
    x, w = spatial_input(ctx, inputs[0]), inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    data_format = data_format_of(x)
    n = (w.rank - 2) if w is not None else None
    keras_ok = (not x.is_const and w.is_const and (b is None or b.is_const) and n in CONV
                and x.dtype == np.float32 and w.dtype == np.float32)
    if keras_ok:
        kernel_size = list(w.shape[2:])
        strides = node.attr('strides') or [1] * n
        dilations = node.attr('dilations') or [1] * n
        padding, pairs = _keras_padding(ctx, node, x, kernel_size, strides, dilations)
        if padding is not None:
            if pairs is not None:
                pad = ZERO_PADDING[n](padding=tuple(tuple(p) for p in pairs),
                                      data_format=data_format, name=ctx.layer_name('_pad'))
                x = ctx.keras(pad, [x], out_layout=x.layout)[0]
            kernel = np.transpose(w.const, list(range(2, n + 2)) + [1, 0])
            weights = keras_weights([kernel] + ([b.const] if b is not None else []))
            layer = CONV[n](int(w.shape[0]), tuple(kernel_size), strides=tuple(strides),
                            padding=padding, data_format=data_format,
                            dilation_rate=tuple(dilations), groups=node.attr('group', 1),
                            use_bias=b is not None, weights=weights,
                            kernel_initializer='zeros', name=ctx.layer_name())
            return ctx.keras(layer, [x], out_layout=x.layout)
    return ctx.generic(OnnxConv, [x, ctx.to_cf(w), ctx.to_cf(b)], out_layout=x.layout,
                       group=node.attr('group', 1), data_format=data_format,
                       **_window_attrs(node, n))


@onnx_op('ConvTranspose', 1, 11, 22, layout_aware=True)
def conv_transpose(ctx, node, inputs):
    x, w = spatial_input(ctx, inputs[0]), inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    data_format = data_format_of(x)
    n = (w.rank - 2) if w is not None else None
    attrs = dict(_window_attrs(node, n), group=node.attr('group', 1),
                 output_padding=node.attr('output_padding'),
                 target_shape=node.attr('output_shape'), data_format=data_format)
    keras_ok = (not x.is_const and w.is_const and (b is None or b.is_const)
                and n in CONV_TRANSPOSE and attrs['group'] == 1 and x.dtype == np.float32
                and w.dtype == np.float32)
    if keras_ok:
        probe = OnnxConvTranspose(name='probe', **attrs)
        kernel_size = list(w.shape[2:])
        _, crops = probe._crop(list(x.onnx_shape[2:]), kernel_size)
        if all(c is not None and c[1] <= 0 for c in crops):
            kernel = np.transpose(w.const, list(range(2, n + 2)) + [1, 0])
            weights = keras_weights([kernel] + ([b.const] if b is not None else []))
            layer = CONV_TRANSPOSE[n](
                int(w.shape[1]), tuple(kernel_size), strides=tuple(probe.strides or [1] * n),
                padding='valid', output_padding=(0,) * n, data_format=data_format,
                dilation_rate=tuple(probe.dilations or [1] * n), use_bias=b is not None,
                weights=weights, kernel_initializer='zeros', name=ctx.layer_name())
            y = ctx.keras(layer, [x], out_layout=x.layout)[0]
            if any(c != (0, 0) for c in crops):
                pairs = full_pairs(crops, x.rank, data_format)
                pads = Value(const=np.asarray([p[0] for p in pairs] + [p[1] for p in pairs],
                                              'int64'))
                y = ctx.one(OnnxPad, [y, pads], out_layout=x.layout, suffix='_crop')
            return [y]
    return ctx.generic(OnnxConvTranspose, [x, ctx.to_cf(w), ctx.to_cf(b)], out_layout=x.layout,
                       **attrs)
