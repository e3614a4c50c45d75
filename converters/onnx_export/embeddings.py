"""Embedding: a ``Gather`` of rows; with ``mask_zero`` the mask is ``indices != 0``."""
import numpy as np

from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import Embedding


@exporter(Embedding)
def embedding(ctx, call):
    layer, v = call.layer, call.input
    indices = ctx.plain(v)
    if v.dtype != np.dtype('int64'):
        # kzoo casts to int64 (float indices truncate toward zero, as Cast does)
        indices = ctx.cast(indices, 'int64', name=call.sub('indices'))
    table = ctx.weight(layer.embeddings, call.name + '/embeddings')
    y = ctx.g.op('Gather', table, indices, axis=0, name=call.name)
    if layer.mask_zero:
        zero = ctx.g.const(np.zeros((), 'int64'))
        mask = ctx.g.op('Not', ctx.g.op('Equal', indices, zero, name=call.sub('is_padding')),
                        name=call.sub('mask'))
        call.out_masks = [Value(mask, v.shape, 'bool')]
    else:
        call.out_masks = [None]
    return [Value(y, call.output_shape, 'float32')]
