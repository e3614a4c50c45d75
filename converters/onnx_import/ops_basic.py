"""Handlers: Constant, Identity, Dropout, Cast, Shape, ConstantOfShape."""
import numpy as np

from .common import pass_through
from .importer import DTYPES, Value
from .layers import OnnxCast, OnnxConstantOfShape, OnnxDropout, OnnxShape
from .registry import onnx_op


@onnx_op('Constant', 1, 9, 11, 12, 13, 19, 21, 23, 24, 25)
def constant(ctx, node, inputs):
    for field, dtype in (('value', None), ('value_float', 'float32'),
                         ('value_floats', 'float32'), ('value_int', 'int64'),
                         ('value_ints', 'int64')):
        if field in node.attrs:
            return [Value(const=np.asarray(node.attrs[field], dtype=dtype))]
    if 'sparse_value' in node.attrs:
        raise node.fail('sparse constants are not supported')
    raise node.fail('a Constant needs one of value, value_float(s), value_int(s); '
                    'string constants are not supported')


onnx_op('Identity', 1, 13, 14, 16, 19, 21, 23, 24, 25, layout_aware=True)(pass_through)


@onnx_op('Dropout', 1, 6, 7, 10, 12, 13, 22, layout_aware=True)
def dropout(ctx, node, inputs):
    """Inference is the identity; opset 12's ``training_mode`` input may ask for
    random dropout (then computed at run time)."""
    x = inputs[0]
    with_mask = len(node.outputs) > 1 and bool(node.outputs[1])
    ratio = inputs[1] if len(inputs) > 1 else None
    training = inputs[2] if len(inputs) > 2 else None
    if training is None or (training.is_const and not bool(np.asarray(training.const).any())):
        if not with_mask:
            return [x]
        mask = Value(const=np.ones(x.shape, 'bool'), out_layout=x.layout) if x.is_const else None
        if mask is not None:
            return [x, mask]
        out = ctx.generic(OnnxDropout, [x], out_layout=x.layout, with_mask=True,
                          dtypes=[x.dtype, np.dtype('bool')])
        return out
    return ctx.generic(OnnxDropout, [x, ratio, training], out_layout=x.layout,
                       ratio=node.attr('ratio', 0.5), with_mask=with_mask,
                       seed=node.attr('seed'), dtypes=[x.dtype, np.dtype('bool')])


@onnx_op('Cast', 1, 6, 9, 13, 19, 21, 23, 24, 25, 28, layout_aware=True)
def cast(ctx, node, inputs):
    import onnx
    to = node.attr('to')
    if isinstance(to, str):  # opset 1 spelled the type by name
        to = getattr(onnx.TensorProto, to.upper())
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))
    if dtype.name not in DTYPES:
        raise node.fail('casting to %s is not supported (kzoo computes with %s)'
                        % (dtype, ', '.join(DTYPES)))
    x = inputs[0]
    if x.dtype == dtype:
        return [x]
    return ctx.generic(OnnxCast, [x], out_layout=x.layout, to=dtype.name, dtypes=[dtype])


@onnx_op('Shape', 1, 13, 15, 19, 21, 23, 24, 25, layout_aware=True)
def shape(ctx, node, inputs):
    x = inputs[0]
    start, end = node.attr('start', 0), node.attr('end')
    known = x.onnx_shape if not isinstance(x.layout, tuple) else x.shape
    layer = OnnxShape(start=start, end=end, name='probe')
    first, last = layer._range(len(known))
    if all(d is not None for d in known[first:last]):
        return [Value(const=np.asarray(known[first:last], 'int64'))]
    x = ctx.to_cf(x)
    return ctx.generic(OnnxShape, [x], start=start, end=end, dtypes=[np.dtype('int64')])


@onnx_op('ConstantOfShape', 9, 20, 21, 23, 24, 25)
def constant_of_shape(ctx, node, inputs):
    value = node.attr('value')
    value = np.zeros(1, 'float32') if value is None else np.asarray(value)
    fill = value.ravel()[0].item() if value.size else 0
    out = ctx.generic(OnnxConstantOfShape, [inputs[0]], value=fill,
                      value_dtype=value.dtype.name, dtypes=[value.dtype])
    return out
