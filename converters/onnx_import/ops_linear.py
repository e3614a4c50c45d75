"""Handlers: Gemm and MatMul.

A ``Gemm`` or ``MatMul`` whose weight is a constant float32 matrix is a kzoo ``Dense``
(``alpha`` folded into the kernel, ``beta * C`` into the bias when C is a vector).
After a channels_last ``Flatten`` the kernel's rows are permuted to NHWC order.
"""
import numpy as np

from kzoo.layers import Dense

from .common import keras_weights
from .importer import Value
from .math_layers import OnnxElementwise, OnnxGemm, OnnxMatMul
from .registry import onnx_op


def _dense(ctx, node, x, kernel, bias):
    if isinstance(x.layout, tuple):  # flattened NHWC: rows in the data's order
        kernel = kernel[x.layout[1]]
    weights = keras_weights([kernel] + ([bias] if bias is not None else []))
    # zeros: no random draw for weights that are overwritten at once
    layer = Dense(kernel.shape[1], use_bias=bias is not None, weights=weights,
                  kernel_initializer='zeros', name=ctx.layer_name())
    return ctx.keras(layer, [x])[0]


def _dense_ok(x, weight):
    return (not x.is_const and weight is not None and weight.is_const and weight.rank == 2
            and x.dtype == np.float32 and weight.dtype == np.float32 and x.rank >= 2)


@onnx_op('Gemm', 1, 6, 7, 9, 11, 13, layout_aware=True)
def gemm(ctx, node, inputs):
    a, b = inputs[0], inputs[1]
    a = a if isinstance(a.layout, tuple) else ctx.to_cf(a)
    c = inputs[2] if len(inputs) > 2 else None
    alpha, beta = node.attr('alpha', 1.0), node.attr('beta', 1.0)
    trans_a, trans_b = node.attr('transA', 0), node.attr('transB', 0)
    if not trans_a and _dense_ok(a, b) and a.rank == 2:
        kernel = b.const.T if trans_b else b.const
        if alpha != 1.0:
            kernel = kernel * np.float32(alpha)
        units = kernel.shape[1]
        bias, rest = None, c
        if c is not None and c.is_const and c.const.size in (1, units) and (
                c.rank < 2 or c.shape[0] == 1):
            bias = np.broadcast_to(c.const.reshape(-1) * np.float32(beta), (units,)).copy()
            rest = None
        y = _dense(ctx, node, a, kernel, bias)
        if rest is None:
            return [y]
        if beta != 1.0:
            rest = Value(const=rest.const * np.float32(beta)) if rest.is_const else \
                ctx.one(OnnxElementwise, [ctx.to_cf(rest), Value(const=np.float32(beta))],
                        op='Mul', suffix='_beta')
        return ctx.generic(OnnxElementwise, [y, ctx.to_cf(rest)], op='Add', suffix='_bias')
    return ctx.generic(OnnxGemm, [ctx.to_cf(a), ctx.to_cf(b), ctx.to_cf(c)], alpha=alpha,
                       beta=beta, trans_a=trans_a, trans_b=trans_b)


@onnx_op('MatMul', 1, 9, 13, layout_aware=True)
def matmul(ctx, node, inputs):
    a, b = inputs[0], inputs[1]
    a = a if isinstance(a.layout, tuple) else ctx.to_cf(a)
    if _dense_ok(a, b):
        return [_dense(ctx, node, a, b.const, None)]
    return ctx.generic(OnnxMatMul, [ctx.to_cf(a), ctx.to_cf(b)])
