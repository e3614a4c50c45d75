"""ONNX element-wise, reduction and matrix layers: NumPy broadcasting and dtypes kept.

>>> import numpy as np
>>> layer = OnnxElementwise(op='Sub', operands=['input', {'value': [1.0], 'dtype': 'float32'}])
>>> layer(np.array([[3., 5.]], 'float32')).tolist()
[[2.0, 4.0]]
"""
import math

import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.utils.generic_utils import Registry

from . import tensor_ops as T
from .layers import OnnxLayer, _count, broadcast_shapes, ints, normalize_axis, scalar

# ---- element-wise functions of several tensors -------------------------------------------

BINARY = Registry('ONNX element-wise operator')


def _register(registry, *names):
    """Register a function under ONNX operator names only (not its Python name)."""
    def decorate(fn):
        for name in names:
            registry.add(name, fn)
        return fn
    return decorate


def _fold(fn):
    def apply(xs, layer):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x, layer)
        return out
    apply.__name__ = fn.__name__
    return apply


@_register(BINARY, 'Add', 'Sum')
@_fold
def add(a, b, layer):
    return a + b


@_register(BINARY, 'Sub')
@_fold
def sub(a, b, layer):
    return a - b


@_register(BINARY, 'Mul')
@_fold
def mul(a, b, layer):
    return a * b


@_register(BINARY, 'Div')
@_fold
def div(a, b, layer):
    if T.dtype_of(a).kind in 'iu':
        return T.trunc_divide(a, b)  # ONNX integer division truncates toward zero
    return T.true_divide(a, b)


@_register(BINARY, 'Pow')
def power(xs, layer):
    base, exponent = xs
    dtype = T.dtype_of(base)
    if dtype.kind in 'iu' and T.dtype_of(exponent).kind in 'iu':
        return T.narrow(K.pow(base, T.cast(exponent, dtype)), dtype)
    if dtype.kind in 'iu':
        return T.cast(K.pow(T.cast(base, 'float64'), T.cast(exponent, 'float64')), dtype)
    return K.pow(base, T.cast(exponent, dtype))


@_register(BINARY, 'Max')
@_fold
def maximum(a, b, layer):
    return K.maximum(a, b)


@_register(BINARY, 'Min')
@_fold
def minimum(a, b, layer):
    return K.minimum(a, b)


@_register(BINARY, 'Mean')
def mean(xs, layer):
    return add(xs, layer) / len(xs)


@_register(BINARY, 'PRelu')
def prelu(xs, layer):
    x, slope = xs
    return K.switch(K.less(x, 0), x * slope, x)


@_register(BINARY, 'Equal')
def equal(xs, layer):
    return K.equal(xs[0], xs[1])


@_register(BINARY, 'Less')
def less(xs, layer):
    return K.less(xs[0], xs[1])


@_register(BINARY, 'LessOrEqual')
def less_equal(xs, layer):
    return K.less_equal(xs[0], xs[1])


@_register(BINARY, 'Greater')
def greater(xs, layer):
    return K.greater(xs[0], xs[1])


@_register(BINARY, 'GreaterOrEqual')
def greater_equal(xs, layer):
    return K.greater_equal(xs[0], xs[1])


@_register(BINARY, 'Where')
def where(xs, layer):
    return K.switch(xs[0], xs[1], xs[2])


_BOOLEAN_RESULT = ('Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual')


@register_layer()
class OnnxElementwise(OnnxLayer):
    """``Add``, ``Sub``, ``Mul``, ``Div``, ``Pow``, ``Sum``, ``Max``, ``Min``, ``Mean``,
    ``PRelu``, comparisons and ``Where`` on broadcast operands."""
    config_fields = OnnxLayer.config_fields + ('op',)

    def __init__(self, op='Add', **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        if op not in BINARY:
            raise ConfigError('layer %r (OnnxElementwise): unknown operator %r; known: %s'
                              % (self.name, op, ', '.join(BINARY.names())))
        self.op = op
        self._fn = BINARY.get(op)

    def compute(self, operands):
        xs = [x for x in operands if x is not None]
        dtype = T.dtype_of(xs[0])
        if dtype.name in ('uint16', 'uint32', 'uint64') and K.backend() != 'numpy':
            out = self._fn([T.widen(x)[0] for x in xs], self)
            return out if self.op in _BOOLEAN_RESULT else T.narrow(out, dtype)
        return self._fn(xs, self)

    def infer_shape(self, infos):
        return broadcast_shapes(*[i.shape for i in infos if i.present])


# ---- element-wise functions of one tensor ------------------------------------------------

UNARY = Registry('ONNX unary operator')


def _unary(*names):
    return _register(UNARY, *names)


@_unary('Relu')
def relu(x, a):
    return K.relu_plain(x) if T.dtype_of(x).kind == 'f' else K.maximum(x, T.tensor(
        np.zeros((), T.dtype_of(x))))


@_unary('LeakyRelu')
def leaky_relu(x, a):
    return K.switch(K.less(x, 0), x * a.get('alpha', 0.01), x)


@_unary('Elu')
def elu(x, a):
    alpha = a.get('alpha', 1.0)
    return K.switch(K.less(x, 0), alpha * (K.exp(x) - 1), x)


@_unary('Selu')
def selu(x, a):
    alpha = a.get('alpha', 1.67326319217681884765625)
    gamma = a.get('gamma', 1.05070102214813232421875)
    return gamma * K.switch(K.less_equal(x, 0), alpha * (K.exp(x) - 1), x)


@_unary('Celu')
def celu(x, a):
    alpha = a.get('alpha', 1.0)
    return K.maximum(x, 0 * x) + K.minimum(0 * x, alpha * (K.exp(x / alpha) - 1))


@_unary('ThresholdedRelu')
def thresholded_relu(x, a):
    return K.switch(K.greater(x, a.get('alpha', 1.0)), x, 0 * x)


@_unary('Sigmoid')
def sigmoid(x, a):
    return K.sigmoid(x)


@_unary('HardSigmoid')
def hard_sigmoid(x, a):
    y = x * a.get('alpha', 0.2) + a.get('beta', 0.5)
    return K.minimum(K.maximum(y, 0 * y), 0 * y + 1)


@_unary('HardSwish')
def hard_swish(x, a):
    return x * hard_sigmoid(x, {'alpha': 1. / 6, 'beta': 0.5})


@_unary('Tanh')
def tanh(x, a):
    return K.tanh(x)


@_unary('Softplus')
def softplus(x, a):
    # log(1 + exp(x)) without overflow
    return K.maximum(x, 0 * x) + K.log(1 + K.exp(-K.abs(x)))


@_unary('Softsign')
def softsign(x, a):
    return x / (1 + K.abs(x))


@_unary('Mish')
def mish(x, a):
    return x * K.tanh(softplus(x, a))


@_unary('Gelu')
def gelu(x, a):
    if a.get('approximate', 'none') == 'tanh':
        c = math.sqrt(2. / math.pi)
        return 0.5 * x * (1 + K.tanh(c * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + K.erf(x / math.sqrt(2.)))


@_unary('Neg')
def neg(x, a):
    return -x


@_unary('Abs')
def absolute(x, a):
    return K.abs(x)


@_unary('Exp')
def exp(x, a):
    return K.exp(x)


@_unary('Log')
def log(x, a):
    return K.log(x)


@_unary('Sqrt')
def sqrt(x, a):
    return K.sqrt(x)


@_unary('Reciprocal')
def reciprocal(x, a):
    return 1 / x


@_unary('Floor')
def floor(x, a):
    return T.floor(x)


@_unary('Ceil')
def ceil(x, a):
    return T.ceil(x)


@_unary('Sign')
def sign(x, a):
    return K.sign(x)


@_unary('Erf')
def erf(x, a):
    return K.erf(x)


@_unary('Sin')
def sin(x, a):
    return K.sin(x)


@_unary('Cos')
def cos(x, a):
    return K.cos(x)


@_unary('Not')
def logical_not(x, a):
    return K.equal(x, False)


@_unary('Shrink')
def shrink(x, a):
    bias, lambd = a.get('bias', 0.0), a.get('lambd', 0.5)
    zero = 0 * x
    return K.switch(K.less(x, -lambd), x + bias, K.switch(K.greater(x, lambd), x - bias, zero))


@register_layer()
class OnnxUnary(OnnxLayer):
    """Activations and math functions of one tensor (``Relu``, ``Elu``, ``Exp``, ...),
    with the operator's float attributes in ``attributes``."""
    config_fields = OnnxLayer.config_fields + ('op', 'attributes')

    def __init__(self, op='Relu', attributes=None, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        if op not in UNARY:
            raise ConfigError('layer %r (OnnxUnary): unknown operator %r; known: %s'
                              % (self.name, op, ', '.join(UNARY.names())))
        self.op, self.attributes = op, dict(attributes or {})
        self._fn = UNARY.get(op)

    def compute(self, operands):
        x = operands[0]
        dtype = T.dtype_of(x)
        y = self._fn(x, self.attributes)
        return T.narrow(y, dtype) if self.op != 'Not' else y

    def infer_shape(self, infos):
        return infos[0].shape


@register_layer()
class OnnxClip(OnnxLayer):
    """``Clip`` between the optional ``min`` and ``max`` operands (``max`` wins when
    ``min > max``, as in ONNX)."""

    def compute(self, operands):
        x, low, high = (list(operands) + [None, None])[:3]
        dtype = T.dtype_of(x)
        if low is not None:
            x = K.maximum(x, T.cast(low, dtype))
        if high is not None:
            x = K.minimum(x, T.cast(high, dtype))
        return x

    def infer_shape(self, infos):
        return infos[0].shape


@register_layer()
class OnnxSoftmax(OnnxLayer):
    """``Softmax``/``LogSoftmax`` on ``axis`` (opset 13), or with ``coerce_2d`` on the
    2-D view ``[:axis] x [axis:]`` that opsets 1-12 define."""
    config_fields = OnnxLayer.config_fields + ('axis', 'log', 'coerce_2d')

    def __init__(self, axis=-1, log=False, coerce_2d=False, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.axis, self.log, self.coerce_2d = int(axis), bool(log), bool(coerce_2d)

    def compute(self, operands):
        x = operands[0]
        fn = K.log_softmax if self.log else K.softmax
        axis = normalize_axis(self.axis, K.ndim(x), self.where())
        if not self.coerce_2d:
            return fn(x, axis=axis)
        shape = K.int_shape(x)
        rows = int(np.prod(shape[:axis], dtype='int64'))
        return T.reshape(fn(T.reshape(x, (rows, -1)), axis=-1), shape)

    def infer_shape(self, infos):
        return infos[0].shape


def _lowest(dtype):
    return -np.inf if dtype.kind == 'f' else (False if dtype.kind == 'b' else np.iinfo(dtype).min)


def _highest(dtype):
    return np.inf if dtype.kind == 'f' else (True if dtype.kind == 'b' else np.iinfo(dtype).max)


_EMPTY = {'sum': lambda d: 0, 'prod': lambda d: 1, 'mean': lambda d: np.nan,
          'max': _lowest, 'min': _highest}


@register_layer()
class OnnxReduce(OnnxLayer):
    """``ReduceMean``/``ReduceSum``/``ReduceMax``/``ReduceMin``/``ReduceProd`` over the
    ``axes`` operand (all axes when absent, none with ``noop_with_empty_axes``)."""
    config_fields = OnnxLayer.config_fields + ('kind', 'keepdims', 'noop_with_empty_axes')

    def __init__(self, kind='mean', keepdims=1, noop_with_empty_axes=0, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        if kind not in ('mean', 'sum', 'max', 'min', 'prod'):
            raise ConfigError('layer %r (OnnxReduce): unknown reduction %r' % (self.name, kind))
        self.kind, self.keepdims = kind, int(keepdims)
        self.noop_with_empty_axes = int(noop_with_empty_axes)

    def _axes(self, rank, axes):
        if not axes:
            return None if self.noop_with_empty_axes else list(range(rank))
        return sorted({normalize_axis(a, rank, self.where()) for a in axes})

    def compute(self, operands):
        x = operands[0]
        axes = self._axes(K.ndim(x), ints(operands[1]) if len(operands) > 1 else None)
        if axes is None:
            return x
        shape = K.int_shape(x)
        if any(shape[a] == 0 for a in axes):  # empty: the reduction's identity
            out = [1 if i in axes else d for i, d in enumerate(shape)] if self.keepdims else [
                d for i, d in enumerate(shape) if i not in axes]
            return T.full(out, _EMPTY[self.kind](T.dtype_of(x)), T.dtype_of(x))
        return T.reduce(self.kind, x, axes, bool(self.keepdims))

    def infer_shape(self, infos):
        shape = infos[0].shape
        if len(infos) > 1 and infos[1].present and infos[1].value is None:
            if self.keepdims:
                return (None,) * len(shape)
            count = _count(infos[1], self)
            if count == 0:
                return shape if self.noop_with_empty_axes else ()
            return (None,) * (len(shape) - count)
        axes = self._axes(len(shape), infos[1].ints() if len(infos) > 1 and infos[1].present
                          else None)
        if axes is None:
            return shape
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)


@register_layer()
class OnnxMatMul(OnnxLayer):
    """``MatMul`` with NumPy's rules (1-D operands, broadcast batch axes)."""

    def compute(self, operands):
        return T.matmul(operands[0], operands[1])

    def infer_shape(self, infos):
        a, b = infos[0].shape, infos[1].shape
        if len(a) == 1 and len(b) == 1:
            return ()
        if len(a) == 1:
            return b[:-2] + (b[-1],)
        if len(b) == 1:
            return a[:-1]
        batch = broadcast_shapes(a[:-2], b[:-2])
        return batch + (a[-2], b[-1])


@register_layer()
class OnnxGemm(OnnxLayer):
    """``Gemm``: ``alpha * A' B' + beta * C`` with optional transposes of 2-D A and B."""
    config_fields = OnnxLayer.config_fields + ('alpha', 'beta', 'trans_a', 'trans_b')

    def __init__(self, alpha=1.0, beta=1.0, trans_a=0, trans_b=0, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        self.alpha, self.beta = float(alpha), float(beta)
        self.trans_a, self.trans_b = int(trans_a), int(trans_b)

    def compute(self, operands):
        a, b, c = (list(operands) + [None])[:3]
        if self.trans_a:
            a = K.permute_dimensions(a, (1, 0))
        if self.trans_b:
            b = K.permute_dimensions(b, (1, 0))
        y = T.matmul(a, b)
        if self.alpha != 1.0:
            y = y * self.alpha
        if c is not None:
            y = y + (c * self.beta if self.beta != 1.0 else c)
        return y

    def infer_shape(self, infos):
        a, b = infos[0].shape, infos[1].shape
        if len(a) != 2 or len(b) != 2:
            raise ShapeError('%s: Gemm needs 2-D A and B, got shapes %s and %s'
                             % (self.where(), a, b))
        return (a[1] if self.trans_a else a[0], b[0] if self.trans_b else b[1])


def reduce_kind(op_type):
    return {'ReduceMean': 'mean', 'ReduceSum': 'sum', 'ReduceMax': 'max', 'ReduceMin': 'min',
            'ReduceProd': 'prod'}[op_type]


__all__ = ['OnnxElementwise', 'OnnxUnary', 'OnnxClip', 'OnnxSoftmax', 'OnnxReduce',
           'OnnxMatMul', 'OnnxGemm', 'BINARY', 'UNARY', 'scalar']
