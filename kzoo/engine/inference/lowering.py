"""Lowerings: layer calls (and chains of them) rewritten as inference kernels.

A lowering is registered for a layer class with :func:`lowering`; given the compile
context and an :class:`~kzoo.engine.inference.graph.Op` it returns a :class:`Group`
(the ops it absorbs and a builder for the kernel) or ``None`` to leave the op to the
layer's own ``call``. A lowering applies only when the layer's class does not override
``call``, so a user's subclass always runs its own code.

Fusions made here (each exact up to float rounding):

- ``ZeroPadding2D`` (symmetric) -> ``Conv2D(padding='valid')``: padding moves into the
  convolution;
- ``Conv2D`` -> ``BatchNormalization``: the moving statistics are folded into the
  kernel and bias, ``w * g / sqrt(v + eps)`` and ``(b - m) * g / sqrt(v + eps) + beta``;
- ... -> ``Add`` with one other tensor of the same shape: a residual sum in the kernel;
- ... -> ReLU (``Activation('relu')``, a ``ReLU()`` layer with default arguments, or
  the convolution's own ``activation='relu'``): applied in the kernel.

- ``ZeroPadding2D`` (symmetric) -> ``MaxPooling2D(padding='valid')`` after a kernel ending
  in ReLU: the pool pads itself (values are >= 0, so -inf padding gives the same maxima);
  large max pools take the maximum of strided views (torch's CPU pooling writes an index
  per output, a buffer mapped afresh on every call once past 32 MiB).

``Dense`` becomes one ``addmm`` with its activation (ReLU in place; for a large kernel
on 2-D batches of several rows, and in bfloat16, oneDNN's matmul on a packed kernel,
ReLU fused), a lone
``BatchNormalization`` one ``addcmul``.
"""
import torch

from kzoo import activations
from kzoo.engine.inference import kernels

LOWERINGS = {}
PACKED_DENSE_MIN = 1 << 20  # float32 Dense kernels this large (elements) are packed


def lowering(*classes):
    """Register ``fn(ctx, op) -> Group | None`` for layer ``classes`` (no duplicates)."""
    def decorate(fn):
        for cls in classes:
            if cls in LOWERINGS:
                raise ValueError('a lowering for %s is registered twice' % cls.__name__)
            LOWERINGS[cls] = fn
        return fn
    return decorate


def find_lowering(layer):
    """The lowering of ``layer``'s class or a base whose ``call`` it does not override."""
    _load()
    for cls in type(layer).__mro__:
        fn = LOWERINGS.get(cls)
        if fn is not None:
            return fn if type(layer).call is cls.call else None
    return None


class Group(object):
    """Ops replaced by one kernel: ``build(ctx)`` returns ``fn(*inputs) -> output``.

    ``inputs`` are the slots the kernel reads (in ``fn``'s argument order), ``output``
    the slot it writes (that of the last op), ``fresh`` whether it allocates its output.
    """

    def __init__(self, ops, inputs, build, fresh=True, note=''):
        self.ops = ops
        self.inputs = inputs
        self.output = ops[-1].outputs[0]
        self.build = build
        self.fresh = fresh
        self.note = note


# ---- helpers ----------------------------------------------------------------------------

def _plain(op):
    """The op is a plain one-input, one-output call without extra arguments."""
    return not op.arguments and len(op.outputs) == 1


def _known(shape):
    """A concrete shape (kernels are prepared for exact sizes)."""
    return shape is not None and all(d is not None for d in shape)


def _array(variable):
    return variable.detach().double() if variable is not None else None


def _is_relu(layer):
    """A layer computing exactly ``max(x, 0)``."""
    from kzoo.layers import Activation, ReLU
    if type(layer) is Activation:
        return layer.activation is activations.relu
    if type(layer) is ReLU:
        return (layer.max_value is None and layer.negative_slope == 0.
                and layer.threshold == 0.)
    return False


def _bn_scale_shift(bn):
    """``(scale, shift)`` in float64 with ``bn(x) == x * scale + shift`` at inference."""
    inv = torch.rsqrt(_array(bn.moving_variance) + float(bn.epsilon))
    if bn.gamma is not None:
        inv = inv * _array(bn.gamma)
    shift = -_array(bn.moving_mean) * inv
    if bn.beta is not None:
        shift = shift + _array(bn.beta)
    return inv, shift


def _bn_axis(bn, ndim):
    """The single feature axis of a BatchNormalization with 1-D statistics, or None."""
    axes = list(getattr(bn, '_axes', ()) or ())
    if len(axes) != 1 or bn.moving_mean is None or bn.moving_mean.dim() != 1:
        return None
    return axes[0] % ndim


def _weights_dtype_ok(ctx, layer):
    return all(v.dtype == torch.float32 for v in layer.weights)


# ---- convolution chains -------------------------------------------------------------------

def _channel_axis(data_format):
    return 3 if data_format == 'channels_last' else 1


def _to_nchw(data_format):
    if data_format == 'channels_last':
        return lambda x: x.permute(0, 3, 1, 2)
    return lambda x: x


def _from_nchw(data_format):
    if data_format == 'channels_last':
        return lambda y: y.permute(0, 2, 3, 1)
    return lambda y: y


def _folded_padding(ctx, op):
    """``(pad_op, pads)`` for a symmetric ZeroPadding2D feeding only this conv."""
    from kzoo.layers import ZeroPadding2D
    pad = ctx.producer(op.inputs[0])
    if (pad is None or type(pad.layer) is not ZeroPadding2D or not _plain(pad)
            or ctx.is_grouped(pad) or ctx.graph.only_reader(pad.outputs[0]) is not op
            or pad.layer.data_format != op.layer.data_format):
        return None
    pads = tuple(tuple(int(v) for v in p) for p in pad.layer.padding)
    if any(b != a for b, a in pads):
        return None
    return pad, pads


def lower_conv2d(ctx, op):
    from kzoo.backend import conv_utils
    from kzoo.layers import Add, BatchNormalization
    layer = op.layer
    if (not _plain(op) or layer.rank != 2 or layer.padding not in ('valid', 'same')
            or not _weights_dtype_ok(ctx, layer) or len(op.shapes[0]) != 4
            or not _known(ctx.shape(op.inputs[0]))):
        return None
    relu = layer.activation is activations.relu
    if not relu and layer.activation is not activations.linear:
        return None
    ops, bn, residual = [op], None, None
    channel_axis = _channel_axis(layer.data_format)
    slot = op.outputs[0]
    while not relu:
        nxt = ctx.graph.only_reader(slot)
        if nxt is None or ctx.is_grouped(nxt) or nxt.arguments:
            break
        if (bn is None and residual is None and type(nxt.layer) is BatchNormalization
                and _bn_axis(nxt.layer, 4) == channel_axis
                and _weights_dtype_ok(ctx, nxt.layer)):
            bn = nxt.layer
        elif (residual is None and type(nxt.layer) is Add and len(nxt.inputs) == 2
              and len(set(nxt.inputs)) == 2
              and ctx.shape(nxt.inputs[0]) == ctx.shape(nxt.inputs[1])):
            residual = nxt.inputs[1] if nxt.inputs[0] == slot else nxt.inputs[0]
        elif _is_relu(nxt.layer):
            relu = True
        else:
            break
        ops.append(nxt)
        slot = nxt.outputs[0]

    source = op.inputs[0]
    pre_pads = None
    folded = _folded_padding(ctx, op) if layer.padding == 'valid' else None
    if folded is not None:
        pad_op, pre_pads = folded
        ops.insert(0, pad_op)
        source = pad_op.inputs[0]

    def build(ctx):
        in_shape = ctx.shape(source)
        nchw = (in_shape[0], in_shape[3], in_shape[1], in_shape[2]) if (
            layer.data_format == 'channels_last') else tuple(in_shape)
        size = nchw[2:]
        if pre_pads is not None:
            pads = pre_pads
        else:
            pads = tuple(conv_utils.pad_amounts(int(s), k, layer.padding, st, d) for s, k, st, d
                         in zip(size, layer.kernel_size, layer.strides, layer.dilation_rate))

        def prepare():
            w = _array(layer.kernel).permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, ..)
            b = _array(layer.bias) if layer.bias is not None else None
            if bn is not None:
                scale, shift = _bn_scale_shift(bn)
                w = w * scale.reshape(-1, 1, 1, 1)
                b = shift if b is None else b * scale + shift
            return kernels.ConvWeights(w.float(), None if b is None else b.float(),
                                       layer.strides, pads, layer.dilation_rate, layer.groups,
                                       ctx.dtype, nchw)

        # Prepared for this plan's exact shape (oneDNN's layout may depend on the batch);
        # plans of other batch sizes wanting the same layout share one copy.
        prepared = prepare()
        weights = ctx.shared(('conv', id(layer), id(bn), ctx.dtype, nchw[1:], pads,
                              prepared.layout), lambda: prepared)
        # The sum may go straight into the residual tensor when nothing reads it later.
        in_place = (residual is not None and residual != source
                    and ctx.may_overwrite(residual, ops[-1]))
        conv = kernels.Conv(weights, relu=relu, residual=residual is not None,
                            in_place=in_place)
        to_nchw, from_nchw = _to_nchw(layer.data_format), _from_nchw(layer.data_format)
        if residual is None:
            return lambda x: from_nchw(conv(to_nchw(x)))
        return lambda x, other: from_nchw(conv(to_nchw(x), to_nchw(other)))

    note = '+'.join(['pad'] * (pre_pads is not None) + ['conv'] + ['bn'] * (bn is not None)
                    + ['add'] * (residual is not None) + ['relu'] * relu)
    inputs = [source] + ([residual] if residual is not None else [])
    return Group(ops, inputs, build, note=note)


# ---- dense, batch normalization, activations, add ------------------------------------------

def lower_dense(ctx, op):
    layer = op.layer
    if not _plain(op) or not _weights_dtype_ok(ctx, layer):
        return None
    ops, act = [op], layer.activation
    if act is activations.linear:
        nxt = ctx.graph.only_reader(op.outputs[0])
        if nxt is not None and not ctx.is_grouped(nxt) and _is_relu(nxt.layer):
            ops.append(nxt)
            act = activations.relu
    if act is activations.linear:
        activation = None
    elif act is activations.relu:
        activation = 'relu'
    elif act is activations.softmax:
        activation = 'softmax'
    else:
        activation = act

    def build(ctx):
        kernel = layer.kernel.detach()
        bias = None if layer.bias is None else layer.bias.detach()
        shape = ctx.shape(op.inputs[0])
        rows = int(shape[0]) if _known(shape) and len(shape) == 2 else None
        if rows is not None and kernels.oneDNN_ready() and (ctx.dtype != torch.float32 or (
                rows > 1 and kernel.numel() >= PACKED_DENSE_MIN)):
            # oneDNN's packed kernel: a copy, which pays for large kernels only; for one
            # float32 row BLAS on Keras's kernel is as fast and copies nothing (and small
            # layers give the very bits of the layer's own call). Its layout depends on
            # the rows: shared by the plans of the batch sizes that want the same one.
            prepared = kernels.LinearWeights(kernel, ctx.dtype, rows)
            kernel = ctx.shared(('dense', id(layer), ctx.dtype, prepared.layout),
                                lambda: prepared)
        elif ctx.dtype != torch.float32:  # a reduced-precision copy, shared by all batch sizes
            kernel = (ctx.shared(('dense', id(layer), ctx.dtype),
                                 lambda: kernels.transposed_kernel(kernel, ctx.dtype)),
                      'transposed')
        return kernels.Linear(kernel, bias, activation, ctx.dtype)

    return Group(ops, [op.inputs[0]], build, note='dense' + ('+relu' if len(ops) > 1 else ''))


def lower_batch_norm(ctx, op):
    layer = op.layer
    ndim = len(op.shapes[0])
    axis = _bn_axis(layer, ndim)
    if not _plain(op) or axis is None or axis == 0 or not _weights_dtype_ok(ctx, layer):
        return None

    def build(ctx):
        scale, shift = _bn_scale_shift(layer)
        return kernels.Affine(scale.float(), shift.float(), axis, ndim, ctx.dtype)

    return Group([op], [op.inputs[0]], build, note='affine')


def lower_relu(ctx, op):
    if not _plain(op) or not _is_relu(op.layer):
        return None

    def build(ctx):
        # In place when this step is the last reader of a tensor the plan allocated.
        if ctx.may_overwrite(op.inputs[0], op):
            return torch.relu_
        return torch.relu

    return Group([op], [op.inputs[0]], build, note='relu')


def lower_add(ctx, op):
    if op.arguments or len(op.inputs) != 2 or ctx.shape(op.inputs[0]) != ctx.shape(op.inputs[1]):
        return None
    ops = [op]
    nxt = ctx.graph.only_reader(op.outputs[0])
    relu = nxt is not None and not ctx.is_grouped(nxt) and _is_relu(nxt.layer)
    if relu:
        ops.append(nxt)
    a, b = op.inputs

    def build(ctx):
        if a != b and ctx.may_overwrite(a, ops[-1]):
            fn = (lambda x, y: x.add_(y).relu_()) if relu else (lambda x, y: x.add_(y))
        else:
            fn = (lambda x, y: torch.add(x, y).relu_()) if relu else torch.add
        return lambda x, y: fn(x, y.to(x.dtype) if y.dtype != x.dtype else y)

    return Group(ops, [a, b], build, note='add' + ('+relu' if relu else ''))


def lower_max_pool(ctx, op):
    """``MaxPooling2D`` as :class:`~kzoo.engine.inference.kernels.MaxPool` (no index
    buffer where torch's would be mapped afresh on every call), with a symmetric
    ``ZeroPadding2D`` before it folded in when its input is known to be >= 0 (a fused
    kernel ending in ReLU): the pool pads itself with -inf, which never wins over a
    real value >= 0, so the zero-padded copy is never made."""
    from kzoo.backend import conv_utils
    from kzoo.layers import MaxPooling2D, ZeroPadding2D
    layer = op.layer
    if not _plain(op) or type(layer) is not MaxPooling2D or len(op.shapes[0]) != 4:
        return None
    ops, source, pads = [op], op.inputs[0], None
    pad = ctx.producer(source)
    if (layer.padding == 'valid' and pad is not None and type(pad.layer) is ZeroPadding2D
            and _plain(pad) and not ctx.is_grouped(pad)
            and ctx.graph.only_reader(pad.outputs[0]) is op
            and pad.layer.data_format == layer.data_format
            and all(b == a for b, a in pad.layer.padding)
            and _non_negative(ctx, pad.inputs[0])):
        pads = [int(b) for b, _ in pad.layer.padding]
        ops, source = [pad, op], pad.inputs[0]
    shape = ctx.shape(source)
    if not _known(shape):
        return None
    nchw = (shape[0], shape[3], shape[1], shape[2]) if (
        layer.data_format == 'channels_last') else tuple(shape)
    if pads is None:
        amounts = [conv_utils.pad_amounts(int(d), k, layer.padding, st)
                   for d, k, st in zip(nchw[2:], layer.pool_size, layer.strides)]
        if any(b != a for b, a in amounts):
            return None  # asymmetric 'same': the layer pads with -inf itself
        pads = [b for b, _ in amounts]
    if any(2 * p > k for p, k in zip(pads, layer.pool_size)):
        return None  # torch pools pad by at most half the window

    def build(ctx):
        pool = kernels.MaxPool(layer.pool_size, layer.strides, pads, nchw)
        to_nchw, from_nchw = _to_nchw(layer.data_format), _from_nchw(layer.data_format)
        return lambda x: from_nchw(pool(to_nchw(x)))

    return Group(ops, [source], build, note='pad+maxpool' if len(ops) > 1 else 'maxpool')


def _non_negative(ctx, slot):
    """The slot is written by a kernel whose last step is a ReLU."""
    producer = ctx.producer(slot)
    group = ctx.group_of.get(producer.index) if producer is not None else None
    return (group is not None and group.output == slot
            and group.note.split('+')[-1] == 'relu')


_loaded = []


def _load():
    """Bind the lowerings to layer classes (kzoo.layers imports the engine, so late)."""
    if _loaded:
        return
    _loaded.append(True)
    from kzoo.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, MaxPooling2D,
                             ReLU)
    for cls, fn in ((Conv2D, lower_conv2d), (Dense, lower_dense),
                    (BatchNormalization, lower_batch_norm), (Activation, lower_relu),
                    (ReLU, lower_relu), (Add, lower_add), (MaxPooling2D, lower_max_pool)):
        lowering(cls)(fn)


__all__ = ['lowering', 'find_lowering', 'Group', 'LOWERINGS']
