"""ONNX convolution, pooling and normalization layers (NCHW, or NHWC on request).

These run when a Keras layer cannot express the operator exactly: weights computed
by the graph (the ONNX backend tests feed them as inputs), grouped transposed
convolutions, pooling with explicit or asymmetric pads, ``ceil_mode``, dilations or
``count_include_pad``, and the normalizations Keras lacks. Convolutions go through
``K.conv*d`` like Keras's own layers; explicit pads are applied first.

>>> import numpy as np
>>> pool = OnnxPool(kind='max', kernel_shape=[2, 2], strides=[2, 2])
>>> pool(np.arange(16.).reshape(1, 1, 4, 4))[0, 0].tolist()
[[5.0, 7.0], [13.0, 15.0]]
"""
import itertools

import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError, ShapeError

from . import tensor_ops as T
from .layers import OnnxLayer, normalize_axis

_POOL_OPS = {1: 'pool1d', 2: 'pool2d', 3: 'pool3d'}
_CONV_OPS = {1: 'conv1d', 2: 'conv2d', 3: 'conv3d'}
_CONV_T_OPS = {1: 'conv1d_transpose', 2: 'conv2d_transpose', 3: 'conv3d_transpose'}


# ---- layout and padding helpers ----------------------------------------------------------

def spatial_axes(rank, data_format):
    return list(range(1, rank - 1)) if data_format == 'channels_last' else list(range(2, rank))


def channel_axis(rank, data_format):
    return rank - 1 if data_format == 'channels_last' else 1


def full_pairs(spatial_pairs, rank, data_format):
    """Per-axis (before, after) pads from the spatial ones, in ``data_format`` order."""
    pairs = [(0, 0)] * rank
    for axis, pair in zip(spatial_axes(rank, data_format), spatial_pairs):
        pairs[axis] = pair
    return pairs


def window_pads(auto_pad, pads, sizes, kernel, strides, dilations):
    """(before, after) per spatial axis from ONNX ``auto_pad``/``pads``; ``None``
    entries where a size is unknown and the padding depends on it."""
    n = len(kernel)
    if auto_pad in ('SAME_UPPER', 'SAME_LOWER'):
        out = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            if size is None:
                out.append(None)
                continue
            total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            small = total // 2
            out.append((small, total - small) if auto_pad == 'SAME_UPPER'
                       else (total - small, small))
        return out
    if auto_pad == 'VALID' or not pads:
        return [(0, 0)] * n
    return [(int(pads[i]), int(pads[i + n])) for i in range(n)]


def window_output(size, k, s, d, pair, ceil_mode=False):
    if size is None or pair is None:
        return None
    span = size + pair[0] + pair[1] - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + pair[0]:
        out -= 1  # the last window must start inside the input or its left pad
    return out


class _Windowed(OnnxLayer):
    """Shared attributes of convolutions and pooling."""
    config_fields = OnnxLayer.config_fields + ('kernel_shape', 'strides', 'pads', 'dilations',
                                               'auto_pad', 'data_format')

    def __init__(self, kernel_shape=None, strides=None, pads=None, dilations=None,
                 auto_pad='NOTSET', data_format='channels_first', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.kernel_shape = None if kernel_shape is None else [int(k) for k in kernel_shape]
        self.strides = None if strides is None else [int(s) for s in strides]
        self.pads = None if pads is None else [int(p) for p in pads]
        self.dilations = None if dilations is None else [int(d) for d in dilations]
        self.auto_pad = auto_pad or 'NOTSET'
        if self.auto_pad not in ('NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'):
            raise ConfigError('%s: unknown auto_pad %r' % (self.where(), auto_pad))
        if data_format not in ('channels_first', 'channels_last'):
            raise ConfigError('%s: unknown data_format %r' % (self.where(), data_format))
        self.data_format = data_format

    def geometry(self, shape, kernel):
        """(spatial sizes, kernel, strides, dilations, pads per axis)."""
        n = len(kernel)
        sizes = [shape[a] for a in spatial_axes(len(shape), self.data_format)]
        strides = self.strides or [1] * n
        dilations = self.dilations or [1] * n
        pairs = window_pads(self.auto_pad, self.pads, sizes, kernel, strides, dilations)
        return sizes, kernel, strides, dilations, pairs


# ---- convolutions --------------------------------------------------------------------------

@register_layer()
class OnnxConv(_Windowed):
    """``Conv`` with its weights and bias as operands (computed or constant)."""
    config_fields = _Windowed.config_fields + ('group',)

    def __init__(self, group=1, **kwargs):
        _Windowed.__init__(self, **kwargs)
        self.group = int(group)

    def compute(self, operands):
        x, w, b = (list(operands) + [None])[:3]
        n = K.ndim(w) - 2
        if n not in _CONV_OPS:
            raise ShapeError('%s: %d-D convolutions are not supported' % (self.where(), n))
        sizes, kernel, strides, dilations, pairs = self.geometry(K.int_shape(x),
                                                                 K.int_shape(w)[2:])
        x = T.pad(x, full_pairs(pairs, K.ndim(x), self.data_format))
        kernel = K.permute_dimensions(w, list(range(2, n + 2)) + [1, 0])
        kwargs = {'groups': self.group} if self.group != 1 else {}
        y = getattr(K, _CONV_OPS[n])(x, kernel, strides, 'valid', self.data_format, dilations,
                                     **kwargs)
        if b is not None:
            y = K.bias_add(y, b, self.data_format)
        return y

    def infer_shape(self, infos):
        shape, wshape = infos[0].shape, infos[1].shape
        sizes, kernel, strides, dilations, pairs = self.geometry(shape, wshape[2:])
        spatial = [window_output(*args) for args in zip(sizes, kernel, strides, dilations,
                                                         pairs)]
        if self.data_format == 'channels_last':
            return (shape[0],) + tuple(spatial) + (wshape[0],)
        return (shape[0], wshape[0]) + tuple(spatial)


@register_layer()
class OnnxConvTranspose(_Windowed):
    """``ConvTranspose`` (any ``group``, ``output_padding``; ONNX's ``output_shape``
    attribute is ``target_shape``)."""
    config_fields = _Windowed.config_fields + ('group', 'output_padding', 'target_shape')

    def __init__(self, group=1, output_padding=None, target_shape=None, **kwargs):
        _Windowed.__init__(self, **kwargs)
        self.group = int(group)
        self.output_padding = None if output_padding is None else [int(p) for p in
                                                                   output_padding]
        self.target_shape = None if target_shape is None else [int(p) for p in target_shape]

    def _crop(self, sizes, kernel):
        """(full size, (crop before, extend after)) per spatial axis."""
        n = len(kernel)
        strides = self.strides or [1] * n
        dilations = self.dilations or [1] * n
        out_pad = (self.output_padding or [0] * n)[:n]
        full = [None if i is None else s * (i - 1) + d * (k - 1) + 1
                for i, k, s, d in zip(sizes, kernel, strides, dilations)]
        if self.pads is None and self.auto_pad in ('SAME_UPPER', 'SAME_LOWER') or (
                self.target_shape is not None and not self.pads):
            pairs = []
            wanted = self.target_shape[-n:] if self.target_shape is not None else [
                None if i is None else i * s for i, s in zip(sizes, strides)]
            for f, p, w in zip(full, out_pad, wanted):
                if f is None or w is None:
                    pairs.append(None)
                    continue
                total = f + p - w
                small = total // 2
                pairs.append((small, total - small) if self.auto_pad == 'SAME_UPPER'
                             else (total - small, small))
        else:
            pads = self.pads if self.pads and self.auto_pad in ('NOTSET', None) else [0] * 2 * n
            pairs = [(pads[i], pads[i + n]) for i in range(n)]
        return full, [None if pr is None else (-pr[0], p - pr[1])
                      for pr, p in zip(pairs, out_pad)]

    def compute(self, operands):
        x, w, b = (list(operands) + [None])[:3]
        n = K.ndim(w) - 2
        rank = K.ndim(x)
        cax = channel_axis(rank, self.data_format)
        sizes = [K.int_shape(x)[a] for a in spatial_axes(rank, self.data_format)]
        kernel_size = list(K.int_shape(w)[2:])
        full, crops = self._crop(sizes, kernel_size)
        strides = self.strides or [1] * n
        dilations = self.dilations or [1] * n
        c_in = int(K.int_shape(w)[0])
        step = c_in // self.group
        outputs = []
        for g in range(self.group):
            xg = T.slice_axis(x, cax, g * step, (g + 1) * step) if self.group > 1 else x
            wg = w[g * step:(g + 1) * step] if self.group > 1 else w
            kernel = K.permute_dimensions(wg, list(range(2, n + 2)) + [1, 0])
            outputs.append(getattr(K, _CONV_T_OPS[n])(xg, kernel, tuple(full), strides,
                                                      'valid', self.data_format, dilations))
        y = outputs[0] if len(outputs) == 1 else K.concatenate(outputs, axis=cax)
        y = T.pad(y, full_pairs(crops, rank, self.data_format))
        if b is not None:
            y = K.bias_add(y, b, self.data_format)
        return y

    def infer_shape(self, infos):
        shape, wshape = infos[0].shape, infos[1].shape
        rank = len(shape)
        sizes = [shape[a] for a in spatial_axes(rank, self.data_format)]
        full, crops = self._crop(sizes, list(wshape[2:]))
        spatial = tuple(None if f is None or c is None else f + c[0] + c[1]
                        for f, c in zip(full, crops))
        channels = None if wshape[1] is None else wshape[1] * self.group
        if self.data_format == 'channels_last':
            return (shape[0],) + spatial + (channels,)
        return (shape[0], channels) + spatial


# ---- pooling -----------------------------------------------------------------------------------

def _window_slices(x, axes, offsets, strides, dilations, outs):
    for axis, o, s, d, out in zip(axes, offsets, strides, dilations, outs):
        x = T.slice_axis(x, axis, o * d, o * d + (out - 1) * s + 1, s)
    return x


@register_layer()
class OnnxPool(_Windowed):
    """``MaxPool``/``AveragePool`` (``kind='max'``/``'avg'``) with ONNX's pads,
    ``ceil_mode``, dilations and ``count_include_pad``; ``MaxPool``'s optional
    ``Indices`` output with ``with_indices`` (flat NCHW indices, ``storage_order``)."""
    config_fields = _Windowed.config_fields + ('kind', 'ceil_mode', 'count_include_pad',
                                               'with_indices', 'storage_order')

    def __init__(self, kind='max', ceil_mode=0, count_include_pad=0, with_indices=False,
                 storage_order=0, **kwargs):
        _Windowed.__init__(self, **kwargs)
        if kind not in ('max', 'avg'):
            raise ConfigError('%s: kind must be max or avg, got %r' % (self.where(), kind))
        self.kind, self.ceil_mode = kind, int(ceil_mode)
        self.count_include_pad, self.with_indices = int(count_include_pad), bool(with_indices)
        self.storage_order = int(storage_order)

    def _plan(self, shape):
        sizes, kernel, strides, dilations, pairs = self.geometry(shape, self.kernel_shape)
        outs = [window_output(*args, ceil_mode=self.ceil_mode)
                for args in zip(sizes, kernel, strides, dilations, pairs)]
        return sizes, kernel, strides, dilations, pairs, outs

    def compute(self, operands):
        x = operands[0]
        rank = K.ndim(x)
        axes = spatial_axes(rank, self.data_format)
        sizes, kernel, strides, dilations, pairs, outs = self._plan(K.int_shape(x))
        # ceil_mode windows may run past the padded input: pad that too (never counted)
        extra = [(o - 1) * s + d * (k - 1) + 1 - (n + b + a)
                 for o, s, d, k, n, (b, a) in zip(outs, strides, dilations, kernel, sizes, pairs)]
        padded_pairs = [(b, a + max(e, 0)) for (b, a), e in zip(pairs, extra)]
        dtype = T.dtype_of(x)
        if self.kind == 'max':
            low = -np.inf if dtype.kind == 'f' else np.iinfo(dtype).min
            xp = T.pad(x, full_pairs(padded_pairs, rank, self.data_format), low)
            if self.with_indices:
                return self._max_with_indices(xp, K.int_shape(x), axes, sizes, kernel, strides,
                                              dilations, pairs, outs)
            if dtype.kind == 'f' and all(d == 1 for d in dilations):
                return getattr(K, _POOL_OPS[len(kernel)])(xp, tuple(kernel), tuple(strides),
                                                         'valid', self.data_format, 'max')
            result = None
            for offsets in itertools.product(*[range(k) for k in kernel]):
                piece = _window_slices(xp, axes, offsets, strides, dilations, outs)
                result = piece if result is None else K.maximum(result, piece)
            return result
        xp = T.pad(x, full_pairs(padded_pairs, rank, self.data_format), 0)
        counts = self._counts(sizes, kernel, strides, dilations, pairs, padded_pairs, outs)
        window = int(np.prod(kernel))
        if all(d == 1 for d in dilations):
            y = getattr(K, _POOL_OPS[len(kernel)])(xp, tuple(kernel), tuple(strides), 'valid',
                                                   self.data_format, 'avg')
            if np.all(counts == window):
                return y
            total = y * window
        else:
            total = None
            for offsets in itertools.product(*[range(k) for k in kernel]):
                piece = _window_slices(xp, axes, offsets, strides, dilations, outs)
                total = piece if total is None else total + piece
        shape = [1] * rank
        for axis, o in zip(axes, outs):
            shape[axis] = o
        return total / T.tensor(counts.reshape(shape).astype(dtype))

    def _counts(self, sizes, kernel, strides, dilations, pairs, padded_pairs, outs):
        """How many elements each window averages (NumPy, spatial shape only)."""
        if self.count_include_pad:
            mask = np.ones([n + b + a for n, (b, a) in zip(sizes, pairs)])
            mask = np.pad(mask, [(0, pa - a) for (b, a), (_, pa) in zip(pairs, padded_pairs)])
        else:
            mask = np.pad(np.ones(sizes), padded_pairs)
        counts = 0
        for offsets in itertools.product(*[range(k) for k in kernel]):
            index = tuple(slice(o * d, o * d + (out - 1) * s + 1, s)
                          for o, s, d, out in zip(offsets, strides, dilations, outs))
            counts = counts + mask[index]
        return np.maximum(counts, 1)

    def _max_with_indices(self, xp, shape, axes, sizes, kernel, strides, dilations, pairs, outs):
        if self.data_format != 'channels_first':
            raise ShapeError('%s: MaxPool indices need channels_first data' % self.where())
        batch, channels = shape[0], shape[1]
        spatial_total = int(np.prod(sizes))
        base = (np.arange(batch)[:, None] * channels + np.arange(channels)[None, :]) \
            * spatial_total
        base = base.reshape((batch, channels) + (1,) * len(sizes))
        best = index = None
        for offsets in itertools.product(*[range(k) for k in kernel]):
            piece = _window_slices(xp, axes, offsets, strides, dilations, outs)
            coords = [np.arange(o) * s + off * d - b
                      for o, s, off, d, (b, _) in zip(outs, strides, offsets, dilations, pairs)]
            grids = np.meshgrid(*coords, indexing='ij')
            if self.storage_order == 1 and len(sizes) == 2:
                flat = grids[0] + grids[1] * sizes[0]
            else:
                flat = np.ravel_multi_index([np.clip(g, 0, n - 1) for g, n in
                                             zip(grids, sizes)], sizes)
            candidate = T.broadcast_to(T.tensor((base + flat[None, None]).astype('int64')),
                                       K.int_shape(piece))
            if best is None:
                best, index = piece, candidate
            else:
                better = K.greater(piece, best)  # strictly: the first maximum wins
                best = K.switch(better, piece, best)
                index = K.switch(better, candidate, index)
        return [best, index]

    def infer_shape(self, infos):
        shape = infos[0].shape
        sizes, kernel, strides, dilations, pairs, outs = self._plan(shape)
        rank = len(shape)
        out = list(shape)
        for axis, o in zip(spatial_axes(rank, self.data_format), outs):
            out[axis] = o
        return [tuple(out), tuple(out)] if self.with_indices else tuple(out)


@register_layer()
class OnnxGlobalPool(OnnxLayer):
    """``GlobalAveragePool``/``GlobalMaxPool``: keeps the spatial axes as size 1."""
    config_fields = OnnxLayer.config_fields + ('kind', 'data_format')

    def __init__(self, kind='avg', data_format='channels_first', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.kind, self.data_format = kind, data_format

    def compute(self, operands):
        x = operands[0]
        axes = spatial_axes(K.ndim(x), self.data_format)
        return T.reduce('mean' if self.kind == 'avg' else 'max', x, axes, True)

    def infer_shape(self, infos):
        shape = infos[0].shape
        axes = spatial_axes(len(shape), self.data_format)
        return tuple(1 if i in axes else d for i, d in enumerate(shape))


# ---- normalization ------------------------------------------------------------------------

def _per_channel(param, rank, data_format):
    """A per-channel parameter shaped to broadcast against the data."""
    if param is None or K.ndim(param) != 1 or data_format == 'channels_last' or rank <= 2:
        return param
    return T.reshape(param, (-1,) + (1,) * (rank - 2))


@register_layer()
class OnnxBatchNormalization(OnnxLayer):
    """``BatchNormalization`` (operands x, scale, B, mean, var); with
    ``training_mode`` it normalizes by the batch statistics and also returns the
    updated running mean and variance."""
    config_fields = OnnxLayer.config_fields + ('epsilon', 'momentum', 'training_mode',
                                               'data_format')

    def __init__(self, epsilon=1e-5, momentum=0.9, training_mode=0,
                 data_format='channels_first', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.epsilon, self.momentum = float(epsilon), float(momentum)
        self.training_mode, self.data_format = int(training_mode), data_format

    def compute(self, operands):
        x, scale, bias, mean, var = operands
        rank = K.ndim(x)
        caxis = channel_axis(rank, self.data_format)
        if self.training_mode:
            axes = [a for a in range(rank) if a != caxis]
            batch_mean = T.reduce('mean', x, axes, False)
            batch_var = T.reduce('mean', K.square(x - _per_channel(batch_mean, rank,
                                                                  self.data_format)), axes, False)
            y = self._normalize(x, scale, bias, batch_mean, batch_var)
            running_mean = mean * self.momentum + batch_mean * (1 - self.momentum)
            running_var = var * self.momentum + batch_var * (1 - self.momentum)
            return [y, running_mean, running_var]
        if K.ndim(mean) == 1 and rank >= 2:
            return K.batch_normalization(x, mean, var, bias, scale, axis=caxis,
                                         epsilon=self.epsilon)
        return self._normalize(x, scale, bias, mean, var)

    def _normalize(self, x, scale, bias, mean, var):
        rank, f = K.ndim(x), self.data_format
        inv = _per_channel(scale, rank, f) / K.sqrt(_per_channel(var, rank, f) + self.epsilon)
        return (x - _per_channel(mean, rank, f)) * inv + _per_channel(bias, rank, f)

    def infer_shape(self, infos):
        if self.training_mode:
            return [infos[0].shape, infos[3].shape, infos[4].shape]
        return infos[0].shape


@register_layer()
class OnnxInstanceNormalization(OnnxLayer):
    """``InstanceNormalization``: per sample and channel over the spatial axes."""
    config_fields = OnnxLayer.config_fields + ('epsilon', 'data_format')

    def __init__(self, epsilon=1e-5, data_format='channels_first', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.epsilon, self.data_format = float(epsilon), data_format

    def compute(self, operands):
        x, scale, bias = operands
        rank = K.ndim(x)
        axes = spatial_axes(rank, self.data_format)
        mean = T.reduce('mean', x, axes, True)
        var = T.reduce('mean', K.square(x - mean), axes, True)
        y = (x - mean) / K.sqrt(var + self.epsilon)
        return y * _per_channel(scale, rank, self.data_format) + _per_channel(
            bias, rank, self.data_format)

    def infer_shape(self, infos):
        return infos[0].shape


@register_layer()
class OnnxLayerNormalization(OnnxLayer):
    """``LayerNormalization`` over the axes from ``axis`` on; outputs Y, and with
    ``num_outputs`` 3 also the mean and the inverse standard deviation."""
    config_fields = OnnxLayer.config_fields + ('axis', 'epsilon', 'num_outputs')

    def __init__(self, axis=-1, epsilon=1e-5, num_outputs=1, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.axis, self.epsilon, self.num_outputs = int(axis), float(epsilon), int(num_outputs)

    def compute(self, operands):
        x, scale, bias = (list(operands) + [None])[:3]
        rank = K.ndim(x)
        axis = normalize_axis(self.axis, rank, self.where())
        axes = list(range(axis, rank))
        mean = T.reduce('mean', x, axes, True)
        var = T.reduce('mean', K.square(x - mean), axes, True)
        inv_std = 1 / K.sqrt(var + self.epsilon)
        y = (x - mean) * inv_std * scale
        if bias is not None:
            y = y + bias
        return [y, mean, inv_std][:self.num_outputs]

    def infer_shape(self, infos):
        shape = infos[0].shape
        axis = normalize_axis(self.axis, len(shape), self.where())
        stats = shape[:axis] + (1,) * (len(shape) - axis)
        shapes = [shape, stats, stats][:self.num_outputs]
        return shapes if self.num_outputs > 1 else shape


@register_layer()
class OnnxLRN(OnnxLayer):
    """``LRN``: ``x / (bias + alpha / size * sum of squares over size channels) ** beta``."""
    config_fields = OnnxLayer.config_fields + ('size', 'alpha', 'beta', 'bias', 'data_format')

    def __init__(self, size=5, alpha=1e-4, beta=0.75, bias=1.0, data_format='channels_first',
                 **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.size, self.alpha, self.beta, self.bias = int(size), float(alpha), float(beta), \
            float(bias)
        self.data_format = data_format

    def compute(self, operands):
        x = operands[0]
        rank = K.ndim(x)
        caxis = channel_axis(rank, self.data_format)
        channels = int(K.int_shape(x)[caxis])
        before = (self.size - 1) // 2
        pairs = [(0, 0)] * rank
        pairs[caxis] = (before, self.size - 1 - before)
        squares = T.pad(K.square(x), pairs)
        total = None
        for i in range(self.size):
            piece = T.slice_axis(squares, caxis, i, i + channels)
            total = piece if total is None else total + piece
        return x / K.pow(self.bias + (self.alpha / self.size) * total, self.beta)

    def infer_shape(self, infos):
        return infos[0].shape


__all__ = ['OnnxConv', 'OnnxConvTranspose', 'OnnxPool', 'OnnxGlobalPool',
           'OnnxBatchNormalization', 'OnnxInstanceNormalization', 'OnnxLayerNormalization',
           'OnnxLRN', 'window_pads', 'window_output', 'spatial_axes', 'full_pairs']
