"""Handlers: arithmetic (Add, Sub, Mul, Div, Pow, Sum, Max, Min, Mean), PRelu,
comparisons, Where, activations and math functions, Clip, Softmax, LogSoftmax.

Activations Keras has with the same formula and parameters become kzoo
``Activation``, ``LeakyReLU``, ``ELU``, ``ThresholdedReLU``, ``PReLU``, ``ReLU`` (Clip
from 0) and ``Softmax`` layers, element-wise ops on tensors of one shape kzoo's merge
layers (``Add``, ``Subtract``, ``Multiply``, ...); the rest are :class:`OnnxUnary` and
:class:`OnnxElementwise` layers (broadcasting, constants, any dtype). Opsets before 7
broadcast the second operand from ``axis`` (``broadcast=1``); that is rewritten as
NumPy broadcasting here.
"""
import numpy as np

from kzoo.layers import (ELU, Activation, Add, Average, LeakyReLU, Maximum, Minimum, Multiply,
                         PReLU, ReLU, Softmax, Subtract, ThresholdedReLU)

from .common import as_cl_constant, broadcastable_to_cl, cl_axis, keras_weights, to_cl_operands
from .importer import Value
from .layers import OnnxUnsqueeze
from .math_layers import OnnxClip, OnnxElementwise, OnnxSoftmax, OnnxUnary
from .registry import onnx_op

_SELU = (1.67326319217681884765625, 1.05070102214813232421875)


def legacy_broadcast(ctx, node, a, b):
    """Opset < 7 ``broadcast=1, axis=k``: align ``b`` with ``a`` from axis ``k``."""
    if b is None or not node.attr('broadcast', 0) or node.attr('axis') is None:
        return b
    rank_a = len(a.onnx_shape)
    trailing = rank_a - node.attr('axis') % rank_a - b.rank
    if trailing <= 0:
        return b
    if b.is_const:
        return Value(const=b.const.reshape(b.shape + (1,) * trailing))
    axes = Value(const=np.arange(b.rank, b.rank + trailing, dtype='int64'))
    return ctx.one(OnnxUnsqueeze, [ctx.to_cf(b), axes], suffix='_broadcast')


KERAS_MERGE = {'Add': Add, 'Sum': Add, 'Sub': Subtract, 'Mul': Multiply, 'Max': Maximum,
               'Min': Minimum, 'Mean': Average}


def _keras_merge(ctx, op, values):
    """kzoo's merge layer when every operand is a float tensor of one known shape (no
    broadcasting: Keras broadcasts lower ranks differently)."""
    if op not in KERAS_MERGE or len(values) < 2 or (op == 'Sub' and len(values) != 2):
        return None
    first = values[0]
    if any(v.is_const or v.dtype != np.float32 or v.layout != first.layout
           or isinstance(v.layout, tuple) for v in values):
        return None
    if any(v.shape != first.shape for v in values) or any(d is None for d in first.shape[1:]):
        return None
    layer = KERAS_MERGE[op](name=ctx.layer_name())
    return ctx.keras(layer, values, out_layout=first.layout)


def elementwise(ctx, node, inputs, op, dtype=None):
    values = [v for v in inputs if v is not None]
    merged = _keras_merge(ctx, op, values)
    if merged is not None:
        return merged
    if ctx.data_format == 'channels_last' and broadcastable_to_cl(ctx, node, values):
        return ctx.generic(OnnxElementwise, to_cl_operands(ctx, values), out_layout='cl', op=op,
                           dtypes=None if dtype is None else [dtype])
    return ctx.generic(OnnxElementwise, [ctx.to_cf(v) for v in values], op=op,
                       dtypes=None if dtype is None else [dtype])


def _binary(op):
    def handler(ctx, node, inputs):
        a, b = inputs[0], inputs[1]
        if node.opset < 7:
            b = legacy_broadcast(ctx, node, a, b)
        return elementwise(ctx, node, [a, b], op)
    handler.__name__ = op.lower()
    return handler


for _op in ('Add', 'Sub', 'Mul', 'Div'):
    onnx_op(_op, 1, 6, 7, 13, 14, layout_aware=True)(_binary(_op))
onnx_op('Pow', 1, 7, 12, 13, 15, layout_aware=True)(_binary('Pow'))


def _variadic(op):
    def handler(ctx, node, inputs):
        values = [v for v in inputs if v is not None]
        if len(values) == 1:
            return [values[0]]
        return elementwise(ctx, node, values, op)
    handler.__name__ = op.lower()
    return handler


onnx_op('Sum', 1, 6, 8, 13, layout_aware=True)(_variadic('Sum'))
onnx_op('Mean', 1, 6, 8, 13, layout_aware=True)(_variadic('Mean'))
onnx_op('Max', 1, 6, 8, 12, 13, layout_aware=True)(_variadic('Max'))
onnx_op('Min', 1, 6, 8, 12, 13, layout_aware=True)(_variadic('Min'))


def _comparison(op):
    def handler(ctx, node, inputs):
        return elementwise(ctx, node, inputs[:2], op, dtype=np.dtype('bool'))
    handler.__name__ = op.lower()
    return handler


onnx_op('Equal', 1, 7, 11, 13, 19, layout_aware=True)(_comparison('Equal'))
onnx_op('Less', 1, 7, 9, 13, layout_aware=True)(_comparison('Less'))
onnx_op('Greater', 1, 7, 9, 13, layout_aware=True)(_comparison('Greater'))
onnx_op('LessOrEqual', 12, 16, layout_aware=True)(_comparison('LessOrEqual'))
onnx_op('GreaterOrEqual', 12, 16, layout_aware=True)(_comparison('GreaterOrEqual'))


@onnx_op('Where', 9, 16, layout_aware=True)
def where(ctx, node, inputs):
    return elementwise(ctx, node, inputs[:3], 'Where', dtype=inputs[1].dtype)


@onnx_op('PRelu', 1, 6, 7, 9, 16, layout_aware=True)
def prelu(ctx, node, inputs):
    x, slope = inputs[0], inputs[1]
    rank = len(x.onnx_shape)
    if node.opset < 7 and slope.rank == 1 and rank > 2 and slope.shape[0] == x.onnx_shape[1] \
            and slope.shape[0] != 1:
        # before opset 7 a 1-D slope is per channel
        if slope.is_const:
            slope = Value(const=slope.const.reshape((-1,) + (1,) * (rank - 2)))
        else:
            axes = Value(const=np.arange(1, rank - 1, dtype='int64'))
            slope = ctx.one(OnnxUnsqueeze, [slope, axes], suffix='_slope')
    layer = _keras_prelu(ctx, x, slope)
    if layer is not None:
        return ctx.keras(layer, [x], out_layout=x.layout)
    return elementwise(ctx, node, [x, slope], 'PRelu')


def _keras_prelu(ctx, x, slope):
    """kzoo's PReLU with ``shared_axes`` where the constant slope broadcasts."""
    if x.is_const or not slope.is_const or x.dtype != np.float32 or x.rank < 2 or \
            isinstance(x.layout, tuple) or slope.rank > x.rank:
        return None
    alpha = slope.const if x.layout == 'cf' else as_cl_constant(slope.const, x.rank)
    alpha = alpha.reshape((1,) * (x.rank - alpha.ndim) + alpha.shape)
    if alpha.shape[0] != 1:
        return None
    shared, shape = [], []
    for axis in range(1, x.rank):
        dim, a = x.shape[axis], alpha.shape[axis]
        if a == 1 and dim != 1:
            shared.append(axis)
            shape.append(1)
        elif dim is not None and a == dim:
            shape.append(a)
        else:
            return None
    return PReLU(shared_axes=shared or None, name=ctx.layer_name(),
                 weights=keras_weights([alpha.reshape(shape)]))


# ---- one-tensor functions ------------------------------------------------------------------

def _keras_activation(node, x):
    """The Keras activation name computing this node exactly, or None."""
    if x.dtype.kind != 'f' or x.dtype.itemsize < 4:
        return None
    op, a = node.op_type, node.attrs
    simple = {'Relu': 'relu', 'Sigmoid': 'sigmoid', 'Tanh': 'tanh', 'Softsign': 'softsign'}
    if op in simple:
        return simple[op]
    if op == 'Elu' and a.get('alpha', 1.0) == 1.0:
        return 'elu'
    if op == 'Selu' and (a.get('alpha', _SELU[0]), a.get('gamma', _SELU[1])) == _SELU:
        return 'selu'
    if op == 'HardSigmoid' and np.float32(a.get('alpha', 0.2)) == np.float32(0.2) and \
            np.float32(a.get('beta', 0.5)) == np.float32(0.5):
        return 'hard_sigmoid'
    return None


def _keras_activation_layer(ctx, node, x):
    """kzoo's advanced activation layer computing this node exactly, or None."""
    if x.dtype != np.float32:
        return None
    op, a = node.op_type, node.attrs
    if op == 'LeakyRelu':
        return LeakyReLU(alpha=a.get('alpha', 0.01), name=ctx.layer_name())
    if op == 'Elu':
        return ELU(alpha=a.get('alpha', 1.0), name=ctx.layer_name())
    if op == 'ThresholdedRelu' and a.get('alpha', 1.0) >= 0:
        return ThresholdedReLU(theta=a.get('alpha', 1.0), name=ctx.layer_name())
    return None


def unary(ctx, node, inputs):
    x = inputs[0]
    name = _keras_activation(node, x)
    if name is not None and not x.is_const:
        return ctx.keras(Activation(name, name=ctx.layer_name()), [x], out_layout=x.layout)
    layer = None if x.is_const else _keras_activation_layer(ctx, node, x)
    if layer is not None:
        return ctx.keras(layer, [x], out_layout=x.layout)
    attributes = {k: v for k, v in node.attrs.items() if isinstance(v, (int, float, str))
                  and k != 'consumed_inputs'}
    return ctx.generic(OnnxUnary, [x], out_layout=x.layout, op=node.op_type, attributes=attributes)


for _op, _versions in (('Relu', (1, 6, 13, 14)), ('LeakyRelu', (1, 6, 16)),
                       ('Elu', (1, 6, 22)), ('Selu', (1, 6, 22)), ('Sigmoid', (1, 6, 13)),
                       ('HardSigmoid', (1, 6, 22)), ('Tanh', (1, 6, 13)),
                       ('Softplus', (1, 22)), ('Softsign', (1, 22)), ('Neg', (1, 6, 13)),
                       ('Abs', (1, 6, 13)), ('Exp', (1, 6, 13)), ('Log', (1, 6, 13)),
                       ('Sqrt', (1, 6, 13)), ('Reciprocal', (1, 6, 13)),
                       ('Floor', (1, 6, 13)), ('Ceil', (1, 6, 13)), ('Sign', (9, 13)),
                       ('Erf', (9, 13)), ('Sin', (7, 22)), ('Cos', (7, 22)),
                       ('HardSwish', (14, 22)), ('Mish', (18, 22)), ('Gelu', (20,)),
                       ('Celu', (12, 28)), ('ThresholdedRelu', (10, 22)), ('Shrink', (9,)),
                       ('Not', (1,))):
    onnx_op(_op, *_versions, layout_aware=True)(unary)


@onnx_op('Clip', 1, 6, 11, 12, 13, layout_aware=True)
def clip(ctx, node, inputs):
    x = inputs[0]
    if node.opset < 11:
        low = Value(const=np.asarray(node.attr('min', -np.inf), x.dtype)) \
            if 'min' in node.attrs else None
        high = Value(const=np.asarray(node.attr('max', np.inf), x.dtype)) \
            if 'max' in node.attrs else None
    else:
        low, high = (list(inputs[1:]) + [None, None])[:2]
    operands = [x, low, high]
    if not x.is_const and x.dtype == np.float32 and low is not None and low.is_const and \
            float(low.const) == 0 and (high is None or high.is_const and float(high.const) > 0):
        # clip(x, 0, m) is Keras's ReLU(max_value=m) (ReLU6 when m is 6)
        layer = ReLU(max_value=None if high is None else float(high.const),
                     name=ctx.layer_name())
        return ctx.keras(layer, [x], out_layout=x.layout)
    if any(v is not None and not v.is_const and v.layout != 'cf' for v in operands[1:]):
        operands = [ctx.to_cf(v) for v in operands]
    return ctx.generic(OnnxClip, operands, out_layout=operands[0].layout)


def softmax(ctx, node, inputs, log):
    x = inputs[0]
    legacy = node.opset < 13
    axis = node.attr('axis', 1 if legacy else -1)
    rank = x.rank
    if not log and not x.is_const and x.dtype == np.float32 and rank >= 1 and (
            not legacy or axis % rank == rank - 1) and x.layout in ('cf', 'cl'):
        keras_axis = cl_axis(axis, rank) if x.layout == 'cl' else axis % rank
        return ctx.keras(Softmax(axis=keras_axis, name=ctx.layer_name()), [x],
                         out_layout=x.layout)
    if x.layout == 'cl' and not legacy:
        return ctx.generic(OnnxSoftmax, [x], out_layout='cl', axis=cl_axis(axis, rank), log=log)
    if x.layout == 'cl' and legacy and axis % rank == 1:
        # the 2-D view holds all of each sample: the same set in either layout
        return ctx.generic(OnnxSoftmax, [x], out_layout='cl', axis=1, log=log, coerce_2d=True)
    x = ctx.to_cf(x)
    coerce = legacy and axis % max(rank, 1) != rank - 1
    return ctx.generic(OnnxSoftmax, [x], axis=axis, log=log, coerce_2d=coerce)


onnx_op('Softmax', 1, 11, 13, layout_aware=True)(lambda ctx, node, inputs: softmax(
    ctx, node, inputs, False))
onnx_op('LogSoftmax', 1, 11, 13, layout_aware=True)(lambda ctx, node, inputs: softmax(
    ctx, node, inputs, True))
