"""Handlers: Resize and Upsample (all their coordinate and rounding modes).

``Upsample`` and ``Resize``-10 resize by scales with the ``asymmetric`` transformation
(onnxruntime's behaviour for those opsets: nearest rounds down when enlarging and up
when shrinking); ``Resize``-11 and later follow their attributes.
"""
import numpy as np

from .importer import Value
from .ops_conv import data_format_of, spatial_input
from .resize_layers import OnnxResize
from .registry import onnx_op


def _resize(ctx, node, x, roi, scales, sizes, **options):
    x = spatial_input(ctx, x)
    if x.layout == 'cl' and any(v is not None and not v.is_const for v in (roi, scales, sizes)):
        x = ctx.to_cf(x)
    operands = [x] + [ctx.to_cf(v) for v in (roi, scales, sizes)]
    return ctx.generic(OnnxResize, operands, out_layout=x.layout, data_format=data_format_of(x),
                       **options)


def _old_mode(node):
    mode = node.attr('mode', 'nearest')
    return {'bilinear': 'linear', 'trilinear': 'linear'}.get(mode, mode)


@onnx_op('Resize', 10, 11, 13, 18, 19, layout_aware=True)
def resize(ctx, node, inputs):
    x = inputs[0]
    if node.opset < 11:
        return _resize(ctx, node, x, None, inputs[1], None, mode=_old_mode(node),
                       coordinate_transformation_mode='asymmetric', nearest_mode='simple')
    roi, scales, sizes = (list(inputs[1:]) + [None] * 3)[:3]
    if scales is not None and scales.is_const and scales.const.size == 0:
        scales = None
    if sizes is not None and sizes.is_const and sizes.const.size == 0:
        sizes = None
    mode = node.attr('mode', 'nearest')
    transform = node.attr('coordinate_transformation_mode', 'half_pixel')
    if transform != 'tf_crop_and_resize':
        roi = None
    return _resize(ctx, node, x, roi, scales, sizes, mode=mode,
                   coordinate_transformation_mode=transform,
                   nearest_mode=node.attr('nearest_mode', 'round_prefer_floor'),
                   cubic_coeff_a=node.attr('cubic_coeff_a', -0.75),
                   exclude_outside=node.attr('exclude_outside', 0),
                   extrapolation_value=node.attr('extrapolation_value', 0.0),
                   antialias=node.attr('antialias', 0), axes=node.attr('axes'),
                   keep_aspect_ratio_policy=node.attr('keep_aspect_ratio_policy', 'stretch'))


@onnx_op('Upsample', 1, 7, 9, 10, layout_aware=True)
def upsample(ctx, node, inputs):
    x = inputs[0]
    if node.opset < 7:
        scales = [1.0, 1.0, node.attr('height_scale', 1.0), node.attr('width_scale', 1.0)]
        scales = Value(const=np.asarray(scales, 'float32'))
    elif node.opset < 9:
        scales = Value(const=np.asarray(node.attr('scales'), 'float32'))
    else:
        scales = inputs[1]
    return _resize(ctx, node, x, None, scales, None, mode=_old_mode(node),
                   coordinate_transformation_mode='asymmetric', nearest_mode='simple')
