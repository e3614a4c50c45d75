"""Walks an ONNX graph and builds the kzoo ``Model``, one handler per node.

Each ONNX tensor name maps to a :class:`Value`: a constant (NumPy array) or a
symbolic kzoo tensor, with its ONNX dtype and its layout. Nodes whose inputs are all
constants are computed at import (constant folding, e.g. the ``Shape -> Gather ->
Concat -> Reshape`` chains exporters write), so only real computation becomes layers.

Layouts: ONNX is channels_first. With ``data_format='channels_last'`` image inputs
are taken as NHWC and layout-aware handlers (convolutions, pooling, normalization,
element-wise ops, Concat, Flatten, ...) keep tensors NHWC; a value carries ``'cl'``
then. Any other handler gets its inputs back in ONNX's layout (a transpose is
inserted once per value). Flattening NHWC data gives the features in another order;
the value remembers that permutation, so the ``Gemm``/``MatMul`` after it permutes its
weight rows instead of the data (``'flat'`` layout).
"""
import re

import numpy as np

from kzoo.engine.input_layer import Input
from kzoo.engine.network import get_source_inputs
from kzoo.engine.training import Model
from kzoo.layers import Permute
from kzoo.errors import ConversionError, FileFormatError, KzooError

from .external_data import to_array
from .layers import OnnxConstant, OnnxGather, OnnxTranspose, Operand, operand_spec
from .registry import canonical_domain, find_handler

# operators whose first input is image-like: an input they read is taken as NHWC when
# importing channels_last
SPATIAL_OPS = ('Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
               'GlobalMaxPool', 'BatchNormalization', 'InstanceNormalization', 'LRN',
               'Resize', 'Upsample', 'DepthToSpace', 'SpaceToDepth')


# the largest constant computed while importing (light models fold 550 MB of weights)
MAX_FOLDED_BYTES = 4 << 30

# element types kzoo computes with (no bfloat16, float8, 4-bit, string or complex)
DTYPES = ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8',
          'uint16', 'uint32', 'uint64', 'bool')


class Value(object):
    """An ONNX tensor during import: ``const`` (an array) or ``tensor`` (a KTensor)."""
    __slots__ = ('tensor', 'const', 'dtype', 'layout', 'origin')

    def __init__(self, tensor=None, const=None, dtype=None, layout='cf'):
        self.tensor, self.const = tensor, None if const is None else np.asarray(const)
        self.origin = None  # (value, perm) when this is a transpose of another value
        self.dtype = np.dtype(dtype if dtype is not None else
                              (self.const.dtype if self.const is not None else 'float32'))
        self.layout = layout

    @property
    def is_const(self):
        return self.const is not None

    @property
    def shape(self):
        """The shape as stored (NHWC for a ``'cl'`` value)."""
        return tuple(self.const.shape) if self.is_const else tuple(self.tensor.shape)

    @property
    def rank(self):
        return len(self.shape)

    @property
    def onnx_shape(self):
        """The shape in ONNX's layout."""
        shape = self.shape
        if self.layout == 'cl':
            return (shape[0], shape[-1]) + shape[1:-1]
        return shape

    def __repr__(self):
        what = 'const' if self.is_const else 'tensor'
        return '<Value %s %s %s %s>' % (what, self.shape, self.dtype, self.layout)


def is_flat(value):
    return value is not None and isinstance(value.layout, tuple)


def cf_to_cl(rank):
    return [0] + list(range(2, rank)) + [1]


def cl_to_cf(rank):
    return [0, rank - 1] + list(range(1, rank - 1))


class Node(object):
    """An ONNX node with its attributes decoded."""

    def __init__(self, proto, opset, where):
        import onnx
        self.proto = proto
        self.op_type, self.domain = proto.op_type, canonical_domain(proto.domain)
        self.name = proto.name or ''
        self.inputs, self.outputs = list(proto.input), list(proto.output)
        self.opset = opset
        self.where = where
        self.attrs = {}
        for attr in proto.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                self.attrs[attr.name] = to_array(attr.t, where)
            elif attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                self.attrs[attr.name] = attr
            else:
                value = onnx.helper.get_attribute_value(attr)
                if isinstance(value, bytes):
                    value = value.decode('utf-8', 'replace')
                elif isinstance(value, list) and value and isinstance(value[0], bytes):
                    value = [v.decode('utf-8', 'replace') for v in value]
                self.attrs[attr.name] = value

    def attr(self, name, default=None):
        return self.attrs.get(name, default)

    @property
    def label(self):
        return self.name or (self.outputs[0] if self.outputs else self.op_type)

    def fail(self, message):
        return ConversionError('%s: node %r (%s-%d): %s' % (self.where, self.label, self.op_type,
                                                             self.opset, message))


def _sanitize(name):
    name = re.sub(r'[^A-Za-z0-9_.\-]', '_', name or '')
    return name.strip('._') or 'node'


class ImportContext(object):
    """The state of one import: values by name, layer names, options."""

    def __init__(self, opsets, data_format='channels_first', where='ONNX model',
                 value_types=None):
        self.opsets = opsets
        self.data_format = data_format
        self.where = where
        self.values = {}
        self.value_types = value_types or {}
        self._names = set()
        self._converted = {}
        self.node = None
        self.anchor = None  # a graph input, for layers producing constants

    # ---- names -------------------------------------------------------------------

    def unique_name(self, base):
        base = _sanitize(base)
        name, i = base, 1
        while name in self._names:
            i += 1
            name = '%s_%d' % (base, i)
        self._names.add(name)
        return name

    def layer_name(self, suffix=''):
        base = self.node.label if self.node is not None else 'onnx'
        return self.unique_name(base + suffix)

    # ---- building layers -----------------------------------------------------------

    def output_dtype(self, index, fallback):
        if self.node is not None and index < len(self.node.outputs):
            known = self.value_types.get(self.node.outputs[index])
            if known is not None:
                return known
        return np.dtype(fallback)

    def generic(self, cls, operands, out_layout='cf', suffix='', dtypes=None, **config):
        """Outputs (a list of Values) of an :class:`OnnxLayer` on ``operands`` (Values or
        None, in ONNX input order); folded when every operand is a constant."""
        present = [v for v in operands if v is not None]
        first_dtype = present[0].dtype if present else np.dtype('float32')
        if all(v.is_const for v in present):
            layer = cls(operands=[None if v is None else 'input' for v in operands],
                        name='fold', **config)
            self._check_fold_size(layer, operands)
            arrays = layer.evaluate([None if v is None else v.const for v in operands])
            return [Value(const=a, layout=out_layout) for a in arrays]
        specs, constants, tensors = [], {}, []
        for i, v in enumerate(operands):
            if v is None:
                specs.append(None)
            elif v.is_const:
                spec, as_weight = operand_spec(i, v.const)
                specs.append(spec)
                if as_weight:
                    constants[i] = v.const
            else:
                specs.append('input')
                tensors.append(v.tensor)
        out_dtype = self.output_dtype(0, first_dtype if dtypes is None else dtypes[0])
        layer = cls(operands=specs, constants=constants, name=self.layer_name(suffix),
                    dtype=out_dtype.name, **config)
        outputs = layer(tensors[0] if len(tensors) == 1 else tensors)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        values = []
        for i, t in enumerate(outputs):
            fallback = dtypes[i] if dtypes is not None and i < len(dtypes) else first_dtype
            values.append(Value(tensor=t, dtype=self.output_dtype(i, fallback), layout=out_layout))
        return values

    def _check_fold_size(self, layer, operands):
        """Refuse to compute, at import, a constant larger than MAX_FOLDED_BYTES (a
        200-byte file may ask ConstantOfShape for petabytes)."""
        infos = [Operand(None, present=False) if v is None else Operand(v.shape, v.const,
                                                                          v.dtype.name)
                 for v in operands]
        try:
            shapes = layer.infer_shape(infos)
        except Exception:  # noqa: BLE001  (checked again when computed)
            return
        for shape in shapes if isinstance(shapes, list) else [shapes]:
            if shape is not None and all(d is not None for d in shape):
                size = int(np.prod([int(d) for d in shape], dtype=object)) * 8
                if size > MAX_FOLDED_BYTES:
                    raise self.node.fail('its output would have shape %s (%d bytes), more '
                                         'than the %d kzoo computes while importing'
                                         % (tuple(shape), size, MAX_FOLDED_BYTES))

    def one(self, cls, operands, **options):
        return self.generic(cls, operands, **options)[0]

    def keras(self, layer, inputs, out_layout='cf', dtype=None):
        """Outputs (a list of Values) of a kzoo layer called on ``inputs`` (Values)."""
        if all(v.is_const for v in inputs):
            arrays = [v.const for v in inputs]
            out = layer(arrays[0] if len(arrays) == 1 else arrays)
            out = out if isinstance(out, list) else [out]
            return [Value(const=np.asarray(o), layout=out_layout) for o in out]
        if any(v.is_const for v in inputs):
            raise self.node.fail('internal error: a Keras layer got a constant input')
        tensors = [v.tensor for v in inputs]
        out = layer(tensors[0] if len(tensors) == 1 else tensors)
        out = out if isinstance(out, list) else [out]
        dtype = np.dtype(dtype or inputs[0].dtype)
        return [Value(tensor=t, dtype=self.output_dtype(i, dtype), layout=out_layout)
                for i, t in enumerate(out)]

    def const(self, value, dtype=None):
        return Value(const=np.asarray(value, dtype=dtype))

    # ---- layouts ---------------------------------------------------------------------

    def to_cf(self, value):
        """``value`` in ONNX's layout (a transpose or gather, made once per value)."""
        if value is None or value.layout == 'cf':
            return value
        key = (id(value), 'cf')
        if key in self._converted:
            return self._converted[key][1]
        if value.layout == 'cl':
            out = self.one(OnnxTranspose, [value], perm=cl_to_cf(value.rank), suffix='_to_nchw')
        else:
            _, perm = value.layout
            out = self.one(OnnxGather, [value, self.const(np.argsort(perm).astype('int64'))],
                           axis=1, suffix='_to_nchw_order')
        out.layout = 'cf'
        self._converted[key] = (value, out)  # keep value alive so its id stays unique
        return out

    def to_cl(self, value):
        """``value`` (rank 3 to 5) as NHWC."""
        if value.layout == 'cl':
            return value
        value = self.to_cf(value)
        key = (id(value), 'cl')
        if key in self._converted:
            return self._converted[key][1]
        if value.origin is not None:
            # a transpose of NHWC data (exporters of Keras models write them): use the
            # data itself instead of transposing twice
            source, perm = value.origin
            if source.layout == 'cf' and [perm[q] for q in cf_to_cl(value.rank)] == list(
                    range(value.rank)):
                out = Value(tensor=source.tensor, const=source.const, dtype=source.dtype,
                            layout='cl')
                self._converted[key] = (value, out)
                return out
        out = self.one(OnnxTranspose, [value], perm=cf_to_cl(value.rank), suffix='_to_nhwc')
        out.layout = 'cl'
        self._converted[key] = (value, out)
        return out

    def transpose(self, value, perm, suffix=''):
        """``value`` (ONNX layout) transposed by ``perm``; a transpose of a transpose is
        one transpose of the original, or the original itself."""
        perm = [int(p) for p in perm]
        while value.origin is not None and value.origin[0].layout == 'cf':
            source, first = value.origin
            perm, value = [first[p] for p in perm], source
        if perm == list(range(len(perm))):
            return value
        if perm[0] == 0 and not value.is_const:
            # the batch axis stays: Keras's Permute (1-based axes after the batch)
            layer = Permute(tuple(perm[1:]), name=self.layer_name(suffix))
            out = self.keras(layer, [value])[0]
        else:
            out = self.one(OnnxTranspose, [value], perm=perm, suffix=suffix)
        out.origin = (value, perm)
        return out

    def anchored_constant(self, value):
        """A symbolic tensor holding a constant (for graph outputs that are constants)."""
        if self.anchor is None:
            raise ConversionError('%s: the graph has no inputs and computes only constants; '
                                  'there is nothing for a kzoo model to compute' % self.where)
        layer = OnnxConstant(operands=['input', operand_spec(1, value.const)[0]],
                             constants={1: value.const}, name=self.unique_name('constant'),
                             dtype=value.dtype.name)
        return Value(tensor=layer(self.anchor), dtype=value.dtype)


def value_types(model, where):
    """ONNX element types of the graph's tensors from onnx shape inference (names to
    NumPy dtypes); large initializers are left out of the copy it works on."""
    import onnx
    light = onnx.ModelProto()
    light.CopyFrom(model)
    for tensor in light.graph.initializer:
        if len(tensor.raw_data) > 4096:
            tensor.ClearField('raw_data')
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.dims[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(light, strict_mode=False)
    except Exception:  # noqa: BLE001  (inference is a hint; the handlers decide)
        inferred = light
    types = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.output) + list(
            inferred.graph.input):
        elem = info.type.tensor_type.elem_type if info.type.HasField('tensor_type') else 0
        if elem:
            try:
                types[info.name] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
            except Exception:  # noqa: BLE001
                pass
    return types


def _input_shape(info):
    dims = []
    for d in info.type.tensor_type.shape.dim:
        dims.append(int(d.dim_value) if d.HasField('dim_value') else None)
    return tuple(dims)


def _feeds_spatial_op(graph, name):
    return any(node.op_type in SPATIAL_OPS and node.input and node.input[0] == name
               for node in graph.node)


def import_graph(model, data_format='channels_first', where='ONNX model'):
    """``(context, [(input name, tensor)], output Values)`` of an ONNX ``ModelProto``
    whose tensors are resolved."""
    import onnx
    graph = model.graph
    opsets = {canonical_domain(o.domain): o.version for o in model.opset_import}
    if '' not in opsets:
        opsets[''] = 1 if model.ir_version < 3 else onnx.defs.onnx_opset_version()
    ctx = ImportContext(opsets, data_format, where, value_types(model, where))

    initializers = {t.name: t for t in graph.initializer}
    for t in graph.initializer:
        ctx.values[t.name] = Value(const=to_array(t, where))
    for t in graph.sparse_initializer:
        raise ConversionError('%s: sparse initializer %r is not supported'
                              % (where, t.values.name))

    inputs = []
    for info in graph.input:
        if info.name in initializers:
            continue  # IR < 4 lists initializers as inputs too; they stay constants
        if not info.type.HasField('tensor_type'):
            raise ConversionError('%s: input %r is not a tensor (sequence, map and optional '
                                  'inputs are not supported)' % (where, info.name))
        shape = _input_shape(info)
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(
                info.type.tensor_type.elem_type))
        except Exception:  # noqa: BLE001
            raise ConversionError('%s: input %r has an unsupported element type %d'
                                  % (where, info.name, info.type.tensor_type.elem_type)) from None
        if dtype.name not in DTYPES:
            raise ConversionError('%s: input %r has element type %s, which kzoo does not '
                                  'compute with (supported: %s)'
                                  % (where, info.name, dtype, ', '.join(DTYPES)))
        layout = 'cf'
        if data_format == 'channels_last' and 3 <= len(shape) <= 5 and _feeds_spatial_op(
                graph, info.name):
            shape, layout = tuple(shape[i] for i in cf_to_cl(len(shape))), 'cl'
        tensor = Input(batch_shape=shape, dtype=dtype.name, name=ctx.unique_name(info.name))
        ctx.values[info.name] = Value(tensor=tensor, dtype=dtype, layout=layout)
        inputs.append((info.name, tensor))
    ctx.anchor = inputs[0][1] if inputs else None

    for proto in graph.node:
        node = Node(proto, opsets.get(canonical_domain(proto.domain), 1), where)
        ctx.node = node
        handler = find_handler(node.domain, node.op_type, node.opset, node.label)
        args = []
        for input_name in node.inputs:
            if not input_name:
                args.append(None)
                continue
            if input_name not in ctx.values:
                raise FileFormatError('%s: node %r reads %r, which no earlier node, input or '
                                      'initializer defines (is the graph topologically '
                                      'sorted?)' % (where, node.label, input_name))
            value = ctx.values[input_name]
            args.append(value if handler.layout_aware else ctx.to_cf(value))
        try:
            outputs = handler.fn(ctx, node, args)
        except KzooError:
            raise
        except Exception as e:  # noqa: BLE001  (a hostile or broken node: name it)
            raise FileFormatError('%s: node %r (%s-%d) cannot be imported: its attributes or '
                                  'inputs are malformed (%s: %s)' % (
                                      where, node.label, node.op_type, node.opset,
                                      type(e).__name__, str(e)[:300])) from None
        if len(outputs) < len([o for o in node.outputs if o]):
            raise node.fail('internal error: the handler gave %d outputs for %d'
                            % (len(outputs), len(node.outputs)))
        for output_name, value in zip(node.outputs, outputs):
            if output_name and value is not None:
                ctx.values[output_name] = value
    ctx.node = None

    outputs = []
    for info in graph.output:
        if info.name not in ctx.values:
            raise FileFormatError('%s: graph output %r is never computed' % (where, info.name))
        value = ctx.values[info.name]
        if is_flat(value) or (value.layout == 'cl' and data_format != 'channels_last'):
            value = ctx.to_cf(value)
        outputs.append(value)
    ctx.output_names = [info.name for info in graph.output]
    return ctx, inputs, outputs


def finish_model(ctx, inputs, outputs, name):
    """``(Model, names of its ONNX inputs)``: constant outputs get a layer, and graph
    inputs no output depends on are left out (a kzoo model's inputs must be used)."""
    if not inputs:
        raise ConversionError('%s: the graph has no inputs, so it computes only constants; '
                              'there is nothing for a kzoo model to compute' % ctx.where)
    tensors = [ctx.anchored_constant(v).tensor if v.is_const else v.tensor for v in outputs]
    used = {id(t) for t in get_source_inputs(tensors)}
    kept = [(n, t) for n, t in inputs if id(t) in used]
    model = Model(inputs=[t for _, t in kept], outputs=tensors, name=ctx.unique_name(name))
    # the ONNX names of the model's inputs and outputs, in order (layer names are
    # sanitized: ONNX allows any string)
    model.onnx_input_names = [n for n, _ in kept]
    model.onnx_output_names = list(ctx.output_names)
    # which of them are NHWC (data_format='channels_last': image inputs and outputs)
    model.nhwc_inputs = [ctx.values[n].layout == 'cl' for n, _ in kept]
    model.nhwc_outputs = [v.layout == 'cl' for v in outputs]
    return model, model.onnx_input_names


def build_model(model, data_format='channels_first', where='ONNX model', name=None):
    """The kzoo ``Model`` of an ONNX ``ModelProto`` whose tensors are resolved."""
    try:
        ctx, inputs, outputs = import_graph(model, data_format, where)
        return finish_model(ctx, inputs, outputs, name or model.graph.name or 'onnx_model')[0]
    except KzooError:
        raise
    except RecursionError:
        raise FileFormatError('%s: the graph is nested too deeply to import' % where) from None
    except Exception as e:  # noqa: BLE001  (whatever a malformed graph makes fail)
        raise FileFormatError('%s: the graph cannot be imported: %s: %s'
                              % (where, type(e).__name__, str(e)[:300])) from None


__all__ = ['DTYPES', 'cf_to_cl', 'cl_to_cf', 'build_model', 'import_graph', 'finish_model',
           'ImportContext', 'Value', 'Node', 'SPATIAL_OPS', 'is_flat']
