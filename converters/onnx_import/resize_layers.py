"""``Resize`` (and ``Upsample``): separable interpolation, one axis at a time.

For every resized axis the source positions and weights of each output position are
computed in NumPy from the sizes (ONNX's coordinate transformation modes, nearest
rounding modes, linear and cubic kernels, antialiasing when downsampling), then the
data is gathered along that axis and weighted on the backend. That is how the ONNX
reference evaluates ``Resize``, so every mode matches it exactly.

>>> import numpy as np
>>> layer = OnnxResize(mode='nearest', operands=['input', None,
...     {'value': [1., 1., 2., 2.], 'dtype': 'float32'}, None])
>>> layer(np.arange(4.).reshape(1, 1, 2, 2))[0, 0].tolist()
[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]]
"""
import math

import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError, ShapeError

from . import tensor_ops as T
from .layers import OnnxLayer

MODES = ('nearest', 'linear', 'cubic')
TRANSFORMS = ('half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners',
              'asymmetric', 'tf_crop_and_resize')
NEAREST = ('round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil', 'simple')


def source_coordinates(mode, out_size, scale, in_size, roi):
    """Source coordinate of each output index, and where it extrapolates (or None)."""
    y = np.arange(out_size, dtype=np.float64)
    out_width = scale * in_size
    if mode == 'align_corners':
        x = np.zeros(out_size) if out_width == 1 else y * (in_size - 1) / (out_width - 1)
    elif mode == 'asymmetric':
        x = y / scale
    elif mode == 'tf_crop_and_resize':
        start, end = roi
        if out_width == 1:
            x = np.full(out_size, (end - start) * (in_size - 1) / 2)
        else:
            x = y * (end - start) * (in_size - 1) / (out_width - 1)
        x = x + start * (in_size - 1)
        return x, (x < 0) | (x > in_size - 1)
    elif mode == 'pytorch_half_pixel':
        x = np.full(out_size, -0.5) if out_width == 1 else (y + 0.5) / scale - 0.5
    elif mode == 'half_pixel':
        x = (y + 0.5) / scale - 0.5
    elif mode == 'half_pixel_symmetric':
        offset = in_size / 2 * (1 - out_size / out_width)
        x = offset + (y + 0.5) / scale - 0.5
    else:
        raise ConfigError('unknown coordinate_transformation_mode %r' % (mode,))
    return x, None


def nearest_weights(ratio, rounding, scale):
    if ratio == 1:
        return np.array([0., 1.])
    if rounding == 'round_prefer_floor':
        return np.array([ratio <= 0.5, ratio > 0.5], 'float64')
    if rounding == 'round_prefer_ceil':
        return np.array([ratio < 0.5, ratio >= 0.5], 'float64')
    if rounding == 'floor' or (rounding == 'simple' and scale >= 1):
        return np.array([1., 0.])
    return np.array([0., 1.])


def linear_weights(ratio, scale, antialias):
    if not antialias:
        return np.array([1 - ratio, ratio])
    scale = min(scale, 1.0)
    start = int(np.floor(-1 / scale) + 1)
    args = (np.arange(start, 2 - start) - ratio) * scale
    weights = np.clip(1 - np.abs(args), 0, 1)
    return weights / weights.sum()


def cubic_weights(ratio, scale, antialias, a):
    def kernel(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        if x < 2:
            return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
        return 0.0

    if not antialias:
        return np.array([kernel(ratio + 1), kernel(ratio), kernel(1 - ratio), kernel(2 - ratio)])
    scale = min(scale, 1.0)
    start = int(np.floor(-2 / scale) + 1)
    weights = np.array([kernel(scale * (i - ratio)) for i in range(start, 2 - start)])
    return weights / weights.sum()


@register_layer()
class OnnxResize(OnnxLayer):
    """``Resize`` with operands X, roi, scales, sizes (opset 10: X, scales)."""
    config_fields = OnnxLayer.config_fields + (
        'mode', 'coordinate_transformation_mode', 'nearest_mode', 'cubic_coeff_a',
        'exclude_outside', 'extrapolation_value', 'antialias', 'axes',
        'keep_aspect_ratio_policy', 'data_format')

    def __init__(self, mode='nearest', coordinate_transformation_mode='half_pixel',
                 nearest_mode='round_prefer_floor', cubic_coeff_a=-0.75, exclude_outside=0,
                 extrapolation_value=0.0, antialias=0, axes=None,
                 keep_aspect_ratio_policy='stretch', data_format='channels_first', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        for value, allowed, field in ((mode, MODES, 'mode'),
                                      (coordinate_transformation_mode, TRANSFORMS,
                                       'coordinate_transformation_mode'),
                                      (nearest_mode, NEAREST, 'nearest_mode')):
            if value not in allowed:
                raise ConfigError('%s: unsupported %s %r (supported: %s)'
                                  % (self.where(), field, value, ', '.join(allowed)))
        self.mode, self.coordinate_transformation_mode = mode, coordinate_transformation_mode
        self.nearest_mode, self.cubic_coeff_a = nearest_mode, float(cubic_coeff_a)
        self.exclude_outside, self.extrapolation_value = int(exclude_outside), float(
            extrapolation_value)
        self.antialias = int(antialias)
        self.axes = None if axes is None else [int(a) for a in axes]
        self.keep_aspect_ratio_policy = keep_aspect_ratio_policy
        self.data_format = data_format

    # ---- sizes ------------------------------------------------------------------------

    def _onnx_shape(self, shape):
        """The input shape in ONNX (channels_first) axis order."""
        if self.data_format == 'channels_last':
            return (shape[0], shape[-1]) + tuple(shape[1:-1])
        return tuple(shape)

    def _to_data_axis(self, axis, rank):
        if self.data_format != 'channels_last' or axis == 0:
            return axis
        return rank - 1 if axis == 1 else axis - 1

    def plan(self, shape, roi, scales, sizes):
        """(per ONNX axis: scale, output size, roi pair) from the operand values."""
        shape = self._onnx_shape(shape)
        rank = len(shape)
        axes = self.axes if self.axes is not None else list(range(rank))
        axes = [a % rank for a in axes]
        full_scales, full_sizes = [1.0] * rank, list(shape)
        full_roi = [(0.0, 1.0)] * rank
        if roi is not None and len(roi):
            half = len(roi) // 2
            for i, a in enumerate(axes[:half]):
                full_roi[a] = (float(roi[i]), float(roi[half + i]))
        if sizes is not None and len(sizes):
            for i, a in enumerate(axes):
                full_sizes[a] = int(sizes[i])
            if any(shape[a] is None for a in axes):
                return None
            full_scales = [full_sizes[i] / shape[i] if i in axes else 1.0 for i in range(rank)]
            if self.keep_aspect_ratio_policy != 'stretch':
                pick = min if self.keep_aspect_ratio_policy == 'not_larger' else max
                scale = pick(full_scales[a] for a in axes)
                full_scales = [scale if i in axes else 1.0 for i in range(rank)]
                full_sizes = [int(scale * shape[i] + 0.5) if i in axes else shape[i]
                              for i in range(rank)]
        elif scales is not None and len(scales):
            for i, a in enumerate(axes):
                full_scales[a] = float(scales[i])
            full_sizes = [None if d is None else int(s * d) for s, d in zip(full_scales, shape)]
        else:
            raise ShapeError('%s: Resize needs scales or sizes' % self.where())
        return list(zip(full_scales, full_sizes, full_roi))

    # ---- computation -----------------------------------------------------------------

    def _weights(self, ratio, scale):
        if self.mode == 'nearest':
            return nearest_weights(ratio, self.nearest_mode, scale)
        if self.mode == 'linear':
            return linear_weights(ratio, scale, self.antialias)
        return cubic_weights(ratio, scale, self.antialias, self.cubic_coeff_a)

    def axis_taps(self, in_size, scale, out_size, roi):
        """(indices, weights) of shape (out_size, taps), and the extrapolation mask."""
        x, outside = source_coordinates(self.coordinate_transformation_mode, out_size, scale,
                                        in_size, roi)
        x_floor = np.floor(x)
        ratios = np.where(x == x_floor, 1.0, x - x_floor)
        weights = np.array([self._weights(float(r), scale) for r in ratios])
        taps = weights.shape[1]
        pad = int(math.ceil(taps / 2))
        padded = x + pad
        p = np.floor(padded).astype(np.int64)
        frac = padded - p
        if taps % 2 == 0:
            offset = np.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
        else:
            offset = np.where(frac <= 0.5, -((taps - 1) // 2), -((taps - 1) // 2) + 1)
        indices = (p + offset)[:, None] + np.arange(taps)[None, :] - pad
        if self.exclude_outside:
            weights = np.where((indices < 0) | (indices >= in_size), 0.0, weights)
            total = weights.sum(axis=-1, keepdims=True)
            weights = weights / np.where(total == 0, 1.0, total)
        return np.clip(indices, 0, in_size - 1), weights, outside

    def compute(self, operands):
        x, roi, scales, sizes = (list(operands) + [None] * 4)[:4]
        value = lambda t: None if t is None else T.numpy(t).astype('float64').ravel()  # noqa
        shape = K.int_shape(x)
        plan = self.plan(shape, value(roi), value(scales), value(sizes))
        dtype = T.dtype_of(x)
        rank = len(shape)
        onnx_shape = self._onnx_shape(shape)
        for axis, (scale, out_size, pair) in enumerate(plan):
            in_size = onnx_shape[axis]
            if out_size == in_size and math.isclose(scale, 1.0) and pair == (0.0, 1.0):
                continue
            data_axis = self._to_data_axis(axis, rank)
            indices, weights, outside = self.axis_taps(in_size, scale, out_size, pair)
            if self.mode == 'nearest':
                chosen = indices[np.arange(out_size), np.argmax(weights, axis=1)]
                x = T.take(x, chosen, data_axis)
            else:
                if dtype.kind != 'f':
                    x = T.cast(x, 'float32')
                gathered = T.take(x, indices, data_axis)
                wshape = [1] * (rank + 1)
                wshape[data_axis], wshape[data_axis + 1] = weights.shape
                w = T.tensor(weights.reshape(wshape).astype(T.dtype_of(x)))
                x = T.reduce('sum', gathered * w, [data_axis + 1], False)
            if outside is not None and outside.any():
                mshape = [1] * rank
                mshape[data_axis] = out_size
                mask = T.tensor(outside.reshape(mshape))
                x = K.switch(mask, T.cast(T.tensor(np.asarray(self.extrapolation_value)),
                                          T.dtype_of(x)), x)
        if T.dtype_of(x) != dtype:
            x = T.cast(K.round(x) if dtype.kind != 'f' else x, dtype)
        return x

    def infer_shape(self, infos):
        shape = infos[0].shape
        if any(i.present and i.value is None for i in infos[1:]):
            return (shape[0],) + (None,) * (len(shape) - 1)
        values = [i.value if i.present else None for i in infos[1:4]]
        flat = [None if v is None else np.asarray(v, 'float64').ravel() for v in values]
        plan = self.plan(shape, *flat)
        if plan is None:
            return (shape[0],) + (None,) * (len(shape) - 1)
        sizes = [s for _, s, _ in plan]
        if self.data_format == 'channels_last':
            return (sizes[0],) + tuple(sizes[2:]) + (sizes[1],)
        return tuple(sizes)


__all__ = ['OnnxResize']
