"""ZeroPadding, Cropping and UpSampling in 1, 2 and 3 dimensions (N, C, spatial layout).

UpSampling is ``Resize``: nearest with asymmetric coordinates and ``floor`` rounding
repeats each entry (Keras's ``repeat_elements``); bilinear uses half-pixel centres, as
Keras 3 and ``tf.image.resize`` do.
"""
from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D,
                         UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

_INT64_MAX = 2 ** 63 - 1


@exporter(ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
def zero_padding(ctx, call):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    begins = [0, 0] + [b for b, _ in layer.padding]
    ends = [0, 0] + [a for _, a in layer.padding]
    y = ctx.g.op('Pad', x, ctx.g.ints(begins + ends), name=call.name, mode='constant')
    return [Value(y, call.output_shape, v.dtype, perm=perm)]


@exporter(Cropping1D, Cropping2D, Cropping3D)
def cropping(ctx, call):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    spatial = [v.shape[p] for p in perm[2:]]
    starts, ends = [], []
    for (before, after), length in zip(layer.cropping, spatial):
        starts.append(before)
        if length is not None:
            ends.append(length - after)
        else:
            ends.append(-after if after else _INT64_MAX)
    y = ctx.slice(x, starts, ends, list(range(2, v.rank)), name=call.name)
    return [Value(y, call.output_shape, v.dtype, perm=perm)]


def _resize(ctx, call, sizes, mode):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    scales = ctx.const([1., 1.] + [float(s) for s in sizes])
    if mode == 'nearest':
        attrs = dict(mode='nearest', coordinate_transformation_mode='asymmetric',
                     nearest_mode='floor')
    else:
        attrs = dict(mode='linear', coordinate_transformation_mode='half_pixel')
    y = ctx.g.node('Resize', [x, '', scales], 1, name=call.name, **attrs)[0]
    return [Value(y, call.output_shape, v.dtype, perm=perm)]


@exporter(UpSampling1D)
def upsampling_1d(ctx, call):
    return _resize(ctx, call, [call.layer.size], 'nearest')


@exporter(UpSampling2D)
def upsampling_2d(ctx, call):
    return _resize(ctx, call, call.layer.size, call.layer.interpolation)


@exporter(UpSampling3D)
def upsampling_3d(ctx, call):
    return _resize(ctx, call, call.layer.size, 'nearest')
