"""Layers for the ONNX tensor operators no Keras layer expresses exactly.

Constants, casts, ``Dropout``, and the shape operators (``Shape``, ``Reshape``,
``Flatten``, ``Transpose``, ``Squeeze``, ``Unsqueeze``, ``Concat``, ``Split``,
``Slice``, ``Gather``, ``Tile``, ``Expand``, ``ConstantOfShape``, ``Pad``,
``DepthToSpace``/``SpaceToDepth``) with ONNX's semantics: any dtype, NumPy
broadcasting, data-dependent shapes. The base class and its operand bookkeeping are
in :mod:`.onnx_layer` (re-exported here).

>>> import numpy as np
>>> layer = OnnxTranspose(perm=[1, 0], operands=['input'])
>>> layer(np.arange(6.).reshape(2, 3)).shape
(3, 2)
"""
import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError, ShapeError

from . import tensor_ops as T
from .onnx_layer import (CONFIG_CONSTANT_LIMIT, WEIGHT_DTYPES, OnnxLayer, Operand,  # noqa: F401
                         _count, broadcast_shapes, ints, known, normalize_axis, operand_spec,
                         scalar)


# ---- constants, casts, identity ---------------------------------------------------------

@register_layer()
class OnnxConstant(OnnxLayer):
    """Returns its constant operand; the graph input it is called on only anchors it
    in the graph (a kzoo layer needs an input)."""

    def compute(self, operands):
        return operands[1]

    def infer_shape(self, infos):
        return infos[1].shape


@register_layer()
class OnnxCast(OnnxLayer):
    """``Cast`` to ``to`` (a NumPy dtype name); float to integer truncates toward zero."""
    config_fields = OnnxLayer.config_fields + ('to',)

    def __init__(self, to='float32', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.to = np.dtype(to).name

    def compute(self, operands):
        return T.cast(operands[0], self.to)

    def infer_shape(self, infos):
        return infos[0].shape


@register_layer()
class OnnxDropout(OnnxLayer):
    """``Dropout`` (operands data, ratio, training_mode): the identity unless training
    with a ratio above 0, then random; with ``with_mask`` also the kept-mask."""
    config_fields = OnnxLayer.config_fields + ('ratio', 'with_mask', 'seed')

    def __init__(self, ratio=0.5, with_mask=False, seed=None, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.ratio, self.with_mask = float(ratio), bool(with_mask)
        self.seed = None if seed is None else int(seed)

    def compute(self, operands):
        x, ratio, training = (list(operands) + [None, None])[:3]
        ratio = self.ratio if ratio is None else float(scalar(ratio))
        if training is not None and bool(scalar(training)) and ratio > 0:
            keep = K.greater_equal(K.random_uniform(K.int_shape(x), seed=self.seed), ratio)
            y = K.switch(keep, x / (1. - ratio), 0 * x)
        else:
            keep, y = T.full(K.int_shape(x), True, 'bool'), x
        return [y, keep] if self.with_mask else y

    def infer_shape(self, infos):
        return [infos[0].shape, infos[0].shape] if self.with_mask else infos[0].shape


@register_layer()
class OnnxIdentity(OnnxLayer):
    """The identity (also ``Dropout`` at inference), with ``Dropout``'s optional mask."""
    config_fields = OnnxLayer.config_fields + ('with_mask',)

    def __init__(self, with_mask=False, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.with_mask = bool(with_mask)

    def compute(self, operands):
        x = operands[0]
        if self.with_mask:
            return [x, T.full(K.int_shape(x), True, 'bool')]
        return x

    def infer_shape(self, infos):
        return [infos[0].shape, infos[0].shape] if self.with_mask else infos[0].shape


# ---- shapes ------------------------------------------------------------------------------

@register_layer()
class OnnxShape(OnnxLayer):
    """``Shape``: the dimensions of the input (``start``/``end`` as in opset 15) as int64."""
    config_fields = OnnxLayer.config_fields + ('start', 'end')

    def __init__(self, start=0, end=None, **kwargs):
        kwargs.setdefault('dtype', 'int64')
        OnnxLayer.__init__(self, **kwargs)
        self.start, self.end = int(start), None if end is None else int(end)

    def _range(self, rank):
        start = min(max(self.start + rank if self.start < 0 else self.start, 0), rank)
        end = rank if self.end is None else self.end
        end = min(max(end + rank if end < 0 else end, 0), rank)
        return start, max(start, end)

    def compute(self, operands):
        shape = K.int_shape(operands[0])
        start, end = self._range(len(shape))
        return T.tensor(np.asarray(shape[start:end], 'int64'))

    def infer_shape(self, infos):
        start, end = self._range(infos[0].rank)
        return (end - start,)


@register_layer()
class OnnxReshape(OnnxLayer):
    """``Reshape`` to a shape operand (constant or computed); 0 copies the input
    dimension unless ``allowzero``; one -1 is inferred."""
    config_fields = OnnxLayer.config_fields + ('allowzero',)

    def __init__(self, allowzero=0, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.allowzero = int(allowzero)

    def target(self, input_shape, shape):
        shape = list(shape)
        if not self.allowzero:
            shape = [input_shape[i] if d == 0 and i < len(input_shape) else d
                     for i, d in enumerate(shape)]
        if shape.count(-1) > 1:
            raise ShapeError('%s: the shape %s has more than one -1' % (self.where(), shape))
        if -1 in shape:
            if any(d is None for d in input_shape) or any(d is None for d in shape):
                return [None if d == -1 else d for d in shape]
            rest = int(np.prod([d for d in shape if d != -1], dtype='int64'))
            total = int(np.prod(input_shape, dtype='int64'))
            if rest == 0 or total % rest:
                raise ShapeError('%s: cannot reshape %s to %s' % (self.where(),
                                                                   tuple(input_shape), shape))
            shape[shape.index(-1)] = total // rest
        return shape

    def compute(self, operands):
        x = operands[0]
        return T.reshape(x, self.target(K.int_shape(x), ints(operands[1])))

    def infer_shape(self, infos):
        shape = infos[1].ints()
        if shape is None:
            return (None,) * int(infos[1].shape[0])
        return tuple(self.target(infos[0].shape, shape))


@register_layer()
class OnnxFlatten(OnnxLayer):
    """``Flatten``: a 2-D tensor of the axes before ``axis`` and those from it."""
    config_fields = OnnxLayer.config_fields + ('axis',)

    def __init__(self, axis=1, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.axis = int(axis)

    @staticmethod
    def _prod(dims):
        return None if any(d is None for d in dims) else int(np.prod(dims, dtype='int64'))

    def _shape(self, shape):
        axis = self.axis + len(shape) if self.axis < 0 else self.axis
        return (self._prod(shape[:axis]), self._prod(shape[axis:]))

    def compute(self, operands):
        x = operands[0]
        return T.reshape(x, self._shape(K.int_shape(x)))

    def infer_shape(self, infos):
        return self._shape(infos[0].shape)


@register_layer()
class OnnxTranspose(OnnxLayer):
    """``Transpose`` by ``perm`` (default: reverse the axes)."""
    config_fields = OnnxLayer.config_fields + ('perm',)

    def __init__(self, perm=None, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.perm = None if perm is None else [int(p) for p in perm]

    def _perm(self, rank):
        return list(reversed(range(rank))) if self.perm is None else self.perm

    def compute(self, operands):
        x = operands[0]
        return K.permute_dimensions(x, self._perm(K.ndim(x)))

    def infer_shape(self, infos):
        shape = infos[0].shape
        return tuple(shape[p] for p in self._perm(len(shape)))


@register_layer()
class OnnxSqueeze(OnnxLayer):
    """``Squeeze`` the ``axes`` operand (or every axis of size 1)."""

    def _axes(self, shape, axes):
        if axes is None:
            return [i for i, d in enumerate(shape) if d == 1]
        return sorted(normalize_axis(a, len(shape), self.where()) for a in axes)

    def compute(self, operands):
        x = operands[0]
        shape = K.int_shape(x)
        axes = self._axes(shape, ints(operands[1]) if len(operands) > 1 else None)
        return T.reshape(x, [d for i, d in enumerate(shape) if i not in axes])

    def infer_shape(self, infos):
        shape = infos[0].shape
        axes_info = infos[1] if len(infos) > 1 and infos[1].present else None
        if axes_info is not None and axes_info.value is None:
            return (None,) * (len(shape) - _count(axes_info, self))
        if axes_info is None and not known(shape):
            raise ShapeError('%s: Squeeze without axes needs a known input shape, got %s'
                             % (self.where(), shape))
        axes = self._axes(shape, axes_info.ints() if axes_info else None)
        return tuple(d for i, d in enumerate(shape) if i not in axes)


@register_layer()
class OnnxUnsqueeze(OnnxLayer):
    """``Unsqueeze``: insert axes of size 1 at the ``axes`` of the output."""

    def _shape(self, shape, axes):
        rank = len(shape) + len(axes)
        axes = sorted(normalize_axis(a, rank, self.where()) for a in axes)
        out, it = [], iter(shape)
        for i in range(rank):
            out.append(1 if i in axes else next(it))
        return out

    def compute(self, operands):
        x = operands[0]
        return T.reshape(x, self._shape(K.int_shape(x), ints(operands[1])))

    def infer_shape(self, infos):
        if infos[1].value is None:
            return (None,) * (len(infos[0].shape) + _count(infos[1], self))
        return tuple(self._shape(infos[0].shape, infos[1].ints()))


@register_layer()
class OnnxConcat(OnnxLayer):
    """``Concat`` of all operands along ``axis``."""
    config_fields = OnnxLayer.config_fields + ('axis',)

    def __init__(self, axis=0, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.axis = int(axis)

    def compute(self, operands):
        xs = [x for x in operands if x is not None]
        axis = normalize_axis(self.axis, K.ndim(xs[0]), self.where())
        return K.concatenate(xs, axis=axis)

    def infer_shape(self, infos):
        shapes = [i.shape for i in infos if i.present]
        rank = len(shapes[0])
        axis = normalize_axis(self.axis, rank, self.where())
        out = list(broadcast_shapes(*[s[:axis] + (1,) + s[axis + 1:] for s in shapes]))
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)


@register_layer()
class OnnxSplit(OnnxLayer):
    """``Split`` along ``axis`` by the ``split`` operand, or into ``num_outputs``
    parts (the last one smaller when the size does not divide, as in opset 18)."""
    config_fields = OnnxLayer.config_fields + ('axis', 'num_outputs')

    def __init__(self, axis=0, num_outputs=1, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.axis, self.num_outputs = int(axis), int(num_outputs)

    def _sizes(self, length, split):
        if split is not None:
            return split
        if length is None:
            return [None] * self.num_outputs
        part = -(-length // self.num_outputs)
        sizes = [min(part, max(length - i * part, 0)) for i in range(self.num_outputs)]
        return sizes

    def compute(self, operands):
        x = operands[0]
        axis = normalize_axis(self.axis, K.ndim(x), self.where())
        sizes = self._sizes(int(K.int_shape(x)[axis]),
                            ints(operands[1]) if len(operands) > 1 else None)
        outputs, start = [], 0
        for size in sizes:
            outputs.append(T.slice_axis(x, axis, start, start + size))
            start += size
        return outputs

    def infer_shape(self, infos):
        shape = infos[0].shape
        axis = normalize_axis(self.axis, len(shape), self.where())
        split = infos[1].ints() if len(infos) > 1 and infos[1].present else None
        if len(infos) > 1 and infos[1].present and split is None:
            split = [None] * self.num_outputs
        return [shape[:axis] + (s,) + shape[axis + 1:] for s in self._sizes(shape[axis], split)]


def slice_indices(dim, start, end, step):
    """Python slice bounds for ONNX ``Slice`` on an axis of length ``dim``."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, end


@register_layer()
class OnnxSlice(OnnxLayer):
    """``Slice`` with ``starts``, ``ends``, ``axes`` and ``steps`` operands."""

    def _plan(self, shape, starts, ends, axes, steps):
        rank = len(shape)
        axes = list(range(len(starts))) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        plan = []
        for s, e, a, st in zip(starts, ends, axes, steps):
            if st == 0:
                raise ShapeError('%s: slice steps must not be 0' % self.where())
            plan.append((normalize_axis(a, rank, self.where()), s, e, st))
        return plan

    def compute(self, operands):
        x = operands[0]
        shape = K.int_shape(x)
        plan = self._plan(shape, *[ints(o) for o in (list(operands[1:]) + [None] * 4)[:4]])
        for axis, s, e, st in plan:
            start, end = slice_indices(shape[axis], s, e, st)
            if st < 0:
                indices = np.arange(start, end, st)
                x = T.take(x, indices, axis) if len(indices) else T.slice_axis(x, axis, 0, 0)
            else:
                x = T.slice_axis(x, axis, start, end, st)
        return x

    def infer_shape(self, infos):
        infos = (list(infos) + [Operand(None, present=False)] * 4)[:5]
        shape = list(infos[0].shape)
        starts, ends, axes, steps = [i.ints() if i.present else None for i in infos[1:5]]
        if infos[3].present and axes is None:
            return (None,) * len(shape)
        if axes is None:
            axes = list(range(int(infos[1].shape[0])))
        if starts is None or ends is None or (infos[4].present and steps is None):
            for a in axes:
                shape[normalize_axis(a, len(shape), self.where())] = None
            return tuple(shape)
        for axis, s, e, st in self._plan(shape, starts, ends, axes, steps):
            dim = shape[axis]
            if dim is None:
                continue
            start, end = slice_indices(dim, s, e, st)
            shape[axis] = max(0, -(-(end - start) // st))
        return tuple(shape)


@register_layer()
class OnnxGather(OnnxLayer):
    """``Gather``: entries of ``data`` along ``axis`` at ``indices`` (negative
    indices count from the end)."""
    config_fields = OnnxLayer.config_fields + ('axis',)

    def __init__(self, axis=0, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.axis = int(axis)

    def compute(self, operands):
        x, indices = operands
        axis = normalize_axis(self.axis, K.ndim(x), self.where())
        dim = int(K.int_shape(x)[axis])
        index = np.asarray(T.numpy(indices), 'int64')
        if np.any(index < -dim) or np.any(index >= dim):
            raise ShapeError('%s: gather indices out of range for an axis of length %d'
                             % (self.where(), dim))
        index = np.where(index < 0, index + dim, index)
        return T.take(x, index, axis)

    def infer_shape(self, infos):
        shape = infos[0].shape
        axis = normalize_axis(self.axis, len(shape), self.where())
        return shape[:axis] + tuple(infos[1].shape) + shape[axis + 1:]


@register_layer()
class OnnxTile(OnnxLayer):
    """``Tile`` by the ``repeats`` operand."""

    def compute(self, operands):
        x, repeats = operands
        return K.tile(x, ints(repeats)) if K.ndim(x) else x

    def infer_shape(self, infos):
        repeats = infos[1].ints()
        if repeats is None:
            return (None,) * len(infos[0].shape)
        return tuple(None if d is None else d * r for d, r in zip(infos[0].shape, repeats))


@register_layer()
class OnnxExpand(OnnxLayer):
    """``Expand``: broadcast the input against the ``shape`` operand."""

    def compute(self, operands):
        x, shape = operands
        target = broadcast_shapes(K.int_shape(x), tuple(ints(shape)))
        return T.broadcast_to(x, target)

    def infer_shape(self, infos):
        shape = infos[1].ints()
        if shape is None:
            return (None,) * max(len(infos[0].shape), int(infos[1].shape[0]))
        return broadcast_shapes(infos[0].shape, tuple(shape))


@register_layer()
class OnnxConstantOfShape(OnnxLayer):
    """``ConstantOfShape``: a tensor of the ``shape`` operand filled with ``value``."""
    config_fields = OnnxLayer.config_fields + ('value', 'value_dtype')

    def __init__(self, value=0., value_dtype='float32', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.value, self.value_dtype = value, np.dtype(value_dtype).name

    def compute(self, operands):
        return T.full(ints(operands[0]), self.value, self.value_dtype)

    def infer_shape(self, infos):
        shape = infos[0].ints()
        return (None,) * int(infos[0].shape[0]) if shape is None else tuple(shape)


@register_layer()
class OnnxPad(OnnxLayer):
    """``Pad``: ``constant``, ``edge``, ``reflect`` or ``wrap`` padding by the ``pads``
    operand (begins then ends; negative amounts crop) on ``axes`` (default: all)."""
    config_fields = OnnxLayer.config_fields + ('mode',)

    def __init__(self, mode='constant', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        if mode not in ('constant', 'edge', 'reflect', 'wrap'):
            raise ConfigError('layer %r (OnnxPad): unknown pad mode %r' % (self.name, mode))
        self.mode = mode

    def _pairs(self, rank, pads, axes):
        axes = list(range(rank)) if axes is None else [
            normalize_axis(a, rank, self.where()) for a in axes]
        if len(pads) != 2 * len(axes):
            raise ShapeError('%s: %d pads for %d axes' % (self.where(), len(pads), len(axes)))
        pairs = [(0, 0)] * rank
        for i, a in enumerate(axes):
            pairs[a] = (pads[i], pads[i + len(axes)])
        return pairs

    def compute(self, operands):
        operands = (list(operands) + [None] * 4)[:4]
        x, pads, value, axes = operands
        pairs = self._pairs(K.ndim(x), ints(pads), ints(axes))
        if self.mode == 'constant':
            return T.pad(x, pairs, scalar(value) if value is not None else 0)
        for axis, (before, after) in enumerate(pairs):
            if before or after:
                x = T.take(x, _pad_indices(int(K.int_shape(x)[axis]), before, after,
                                           self.mode), axis)
        return x

    def infer_shape(self, infos):
        infos = (list(infos) + [Operand(None, present=False)] * 4)[:4]
        shape = infos[0].shape
        pads = infos[1].ints()
        axes = infos[3].ints() if infos[3].present else None
        if pads is None or (infos[3].present and axes is None):
            return (None,) * len(shape)
        pairs = self._pairs(len(shape), pads, axes)
        return tuple(None if d is None else d + b + a for d, (b, a) in zip(shape, pairs))


def _pad_indices(n, before, after, mode):
    """Source indices of each output position for edge/reflect/wrap padding."""
    positions = np.arange(-before, n + after)
    if mode == 'edge':
        return np.clip(positions, 0, n - 1)
    if mode == 'wrap':
        return np.mod(positions, n)
    if n == 1:
        return np.zeros_like(positions)
    period = 2 * (n - 1)
    p = np.mod(positions, period)
    return np.where(p >= n, period - p, p)


@register_layer()
class OnnxDepthToSpace(OnnxLayer):
    """``DepthToSpace`` (``DCR`` or ``CRD``) and ``SpaceToDepth`` (``inverse=True``)
    of NCHW tensors, or NHWC ones with ``data_format='channels_last'``."""
    config_fields = OnnxLayer.config_fields + ('blocksize', 'mode', 'inverse', 'data_format')

    def __init__(self, blocksize=2, mode='DCR', inverse=False, data_format='channels_first',
                 **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.blocksize, self.mode, self.inverse = int(blocksize), str(mode), bool(inverse)
        self.data_format = data_format

    def compute(self, operands):
        x = operands[0]
        last = self.data_format == 'channels_last'
        if last:
            x = K.permute_dimensions(x, (0, 3, 1, 2))
        n, c, h, w = K.int_shape(x)
        b = self.blocksize
        if self.inverse:
            y = T.reshape(x, (n, c, h // b, b, w // b, b))
            order = (0, 3, 5, 1, 2, 4) if self.mode == 'DCR' else (0, 1, 3, 5, 2, 4)
            y = K.permute_dimensions(y, order)
            y = T.reshape(y, (n, c * b * b, h // b, w // b))
        elif self.mode == 'DCR':
            y = T.reshape(x, (n, b, b, c // (b * b), h, w))
            y = K.permute_dimensions(y, (0, 3, 4, 1, 5, 2))
            y = T.reshape(y, (n, c // (b * b), h * b, w * b))
        else:
            y = T.reshape(x, (n, c // (b * b), b, b, h, w))
            y = K.permute_dimensions(y, (0, 1, 4, 2, 5, 3))
            y = T.reshape(y, (n, c // (b * b), h * b, w * b))
        return K.permute_dimensions(y, (0, 2, 3, 1)) if last else y

    def infer_shape(self, infos):
        shape = infos[0].shape
        b = self.blocksize
        last = self.data_format == 'channels_last'
        n, c, h, w = (shape[0], shape[3], shape[1], shape[2]) if last else shape
        mul = lambda d, f: None if d is None else int(d * f)  # noqa: E731
        if self.inverse:
            c, h, w = mul(c, b * b), mul(h, 1. / b), mul(w, 1. / b)
        else:
            c, h, w = mul(c, 1. / (b * b)), mul(h, b), mul(w, b)
        return (n, h, w, c) if last else (n, c, h, w)


__all__ = ['OnnxLayer', 'Operand', 'operand_spec', 'known', 'OnnxConstant', 'OnnxCast',
           'OnnxDropout', 'OnnxIdentity',
           'OnnxShape', 'OnnxReshape', 'OnnxFlatten', 'OnnxTranspose', 'OnnxSqueeze',
           'OnnxUnsqueeze', 'OnnxConcat', 'OnnxSplit', 'OnnxSlice', 'OnnxGather', 'OnnxTile',
           'OnnxExpand', 'OnnxConstantOfShape', 'OnnxPad', 'OnnxDepthToSpace']
