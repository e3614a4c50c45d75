"""Walking a kzoo model: each node of its plan exported by its layer's exporter, nested
models inlined (their layers become nodes of the one ONNX graph).
"""
from kzoo.converters.onnx_export.context import LayerCall, Value
from kzoo.converters.onnx_export.registry import exporter, find_exporter
from kzoo.engine.base_layer import to_list, unpack_singleton
from kzoo.engine.network import Container
from kzoo.engine.sequential import Sequential
from kzoo.engine.training import Model


def export_call(ctx, layer, inputs, masks, arguments, output_shapes, name=None):
    """Export one call of ``layer``: ``(output Values, output mask Values)``."""
    found = find_exporter(layer)
    masks = list(masks or [])
    has_mask = any(m is not None for m in masks)
    arguments = {k: v for k, v in (arguments or {}).items() if k not in ('training', 'mask')}
    call = LayerCall(ctx, layer, list(inputs), masks, arguments, list(output_shapes),
                     ctx.g.free_name(name or layer.name))
    if has_mask and not found.masks and layer._call_accepts('mask') \
            and not isinstance(layer, Container):
        call.fail('it receives a mask, and kzoo cannot export how this layer uses masks')
    outputs = found.fn(ctx, call)
    if call.out_masks is not None:
        out_masks = list(call.out_masks) + [None] * (len(outputs) - len(call.out_masks))
    elif has_mask and layer.supports_masking:
        out_masks = [masks[0]] * len(outputs)    # Layer.compute_mask: the mask passes on
    else:
        out_masks = [None] * len(outputs)
    return outputs, out_masks


def export_container(ctx, model, inputs, masks=None):
    """Export the graph of ``model`` on ``inputs`` (Values): its output Values and masks."""
    values = {}
    masks = masks or [None] * len(inputs)
    for tensor, value, mask in zip(model.inputs, inputs, masks):
        values[id(tensor)] = (value, mask)
    top = ctx.g.step < 0   # the outermost model: weights remember their plan step
    for step, node in enumerate(model._plan):
        if top:
            ctx.g.step = step
        layer = node.outbound_layer
        ins = [values[id(t)] for t in node.input_tensors]
        shapes = [t.shape for t in node.output_tensors]
        if ctx.infer_shapes and not isinstance(layer, Container):
            shapes = _output_shapes(layer, [v.shape for v, _ in ins], len(shapes))
        outputs, out_masks = export_call(ctx, layer, [v for v, _ in ins], [m for _, m in ins],
                                         node.arguments, shapes)
        for tensor, value, mask in zip(node.output_tensors, outputs, out_masks):
            values[id(tensor)] = (value, mask)
    if top:
        ctx.g.step = -1
    results = [values[id(t)] for t in model.outputs]
    return [v for v, _ in results], [m for _, m in results]


def _output_shapes(layer, input_shapes, count):
    """The layer's output shapes for inputs of ``input_shapes`` (a graph built for other
    input sizes than the model's: ``build_graph(input_shapes=...)``)."""
    out = layer.compute_output_shape(unpack_singleton([tuple(s) for s in input_shapes]))
    if count == 1 and not (isinstance(out, list) and out and isinstance(out[0], (tuple, list))):
        return [tuple(out)]
    return [tuple(s) for s in to_list(out)]


@exporter(Container, Model, Sequential, masks=True)
def nested_model(ctx, call):
    """A model used as a layer: its layers are inlined."""
    model = call.layer
    if not getattr(model, 'inputs', None):
        call.fail('the nested model has no inputs (it was never built)')
    outputs, masks = export_container(ctx, model, call.inputs, call.masks)
    call.out_masks = masks
    return outputs


__all__ = ['export_call', 'export_container', 'Value']
