"""A smaller input size for checking an image model's ONNX export, when it proves as much.

Checking an export runs the model twice (kzoo's reference, then onnxruntime). For an
image model with a fixed input size most of that work is spatial: ResNet50 checked at
64x64 instead of 224x224 computes 12 times less, yet runs every layer with every
weight. A smaller size is used only when all of these hold:

* the graph the exporter builds for the smaller size has exactly the nodes, attributes,
  constants and weights (the same variables, transformed the same way) of the graph it
  writes for the model's own size: onnxruntime then runs the written nodes and weights;
  only the declared input and output sizes of the checked graph differ;
* every tensor keeps its rank, batch and channels (only spatial sizes shrink): a
  Flatten or Reshape that depends on the spatial size rules a smaller size out;
* every kernel tap of every convolution and pooling window that meets real data at the
  model's size also meets real data at the smaller one (a 3x3 convolution on a 1x1
  map would only test its centre);
* each spatial size keeps its remainder modulo 32 (the downsampling of five stride-2
  stages), so strided windows meet the edges as they do at the model's size.

The size is the smallest such one; models without a fixed image input, or without a
size that qualifies at most half the work, are checked at their own size.
"""
import numpy as np

from kzoo.backend import conv_utils
from kzoo.converters.onnx_export.walk import _output_shapes
from kzoo.engine.network import Container

MODULUS = 32
MAX_FRACTION = 0.5


class CheckSize(object):
    """The input shapes to check at (batch dimension None) and the graph for them."""

    def __init__(self, shapes, graph):
        self.shapes, self.graph = shapes, graph

    def describe(self, full_shapes):
        return 'checked at input size %s (the model\'s %s: the same nodes and weights)' % (
            ', '.join('x'.join(str(d) for d in s[1:]) for s in self.shapes),
            ', '.join('x'.join(str(d) for d in s[1:]) for s in full_shapes))


def data_format_of(model):
    """'channels_last' or 'channels_first' if every layer that has one agrees, else None."""
    found = set()
    for layer in _all_layers(model):
        fmt = getattr(layer, 'data_format', None)
        if fmt:
            found.add(fmt)
    return found.pop() if len(found) == 1 else None


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, Container):
            yield from _all_layers(layer)
        else:
            yield layer


def _spatial_axes(rank, data_format):
    return range(1, rank - 1) if data_format == 'channels_last' else range(2, rank)


def candidates(full_shapes, data_format):
    """Input shape sets to try, smallest first: spatial sizes ``n % 32 + 32 j``."""
    spatial = [[a for a in _spatial_axes(len(s), data_format)] if len(s) >= 3 else []
               for s in full_shapes]
    if not any(spatial) or any(s[a] is None for s, axes in zip(full_shapes, spatial)
                               for a in axes):
        return
    full_work = sum(int(np.prod(s[1:])) for s in full_shapes)
    for j in range(0, max(max(s[a] for a in axes) for s, axes in zip(full_shapes, spatial)
                          if axes) // MODULUS + 1):
        shapes = []
        for s, axes in zip(full_shapes, spatial):
            shape = list(s)
            for a in axes:
                shape[a] = min(s[a], s[a] % MODULUS + MODULUS * j)
            shapes.append(tuple(shape))
        if any(d == 0 for s in shapes for d in s[1:]):
            continue
        if sum(int(np.prod(s[1:])) for s in shapes) > MAX_FRACTION * full_work:
            return
        yield shapes


def _shape_pass(model, input_shapes, visit):
    """Propagate ``input_shapes`` through ``model`` (nested models walked into) with each
    layer's ``compute_output_shape``; ``visit(layer, in_small, in_full, out_small,
    out_full)`` for each call; returns the output shapes."""
    shapes = {id(t): tuple(s) for t, s in zip(model.inputs, input_shapes)}
    for node in model._plan:
        layer = node.outbound_layer
        ins = [shapes[id(t)] for t in node.input_tensors]
        full_in = [tuple(t.shape) for t in node.input_tensors]
        if isinstance(layer, Container):
            outs = _shape_pass(layer, ins, visit)
        else:
            outs = _output_shapes(layer, ins, len(node.output_tensors))
        full_out = [tuple(t.shape) for t in node.output_tensors]
        visit(layer, ins, full_in, outs, full_out)
        for t, s in zip(node.output_tensors, outs):
            shapes[id(t)] = s
    return [shapes[id(t)] for t in model.outputs]


def _taps(n, k, s, d, padding):
    """The kernel taps that meet real data along an axis of length ``n``."""
    if n is None:
        return None
    before, after = conv_utils.pad_amounts(n, k, padding, s, d)
    out = (n + before + after - conv_utils.effective_kernel(k, d)) // s + 1
    used = set()
    for t in range(k):
        offsets = np.arange(max(out, 0)) * s + t * d - before
        if ((offsets >= 0) & (offsets < n)).any():
            used.add(t)
    return used


def _window(layer):
    """``(kernel, strides, dilation, padding)`` of a convolution or pooling window
    layer, or None (transposed convolutions use every tap for every input pixel)."""
    from kzoo.layers import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
    if isinstance(layer, (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)):
        return None
    kernel = getattr(layer, 'kernel_size', None) or getattr(layer, 'pool_size', None)
    padding = getattr(layer, 'padding', None)
    if not kernel or not isinstance(padding, str) or not getattr(layer, 'data_format', None):
        return None
    strides = getattr(layer, 'strides', None) or (1,) * len(kernel)
    dilation = getattr(layer, 'dilation_rate', None) or (1,) * len(kernel)
    return tuple(kernel), tuple(strides), tuple(dilation), padding


class _Rejected(Exception):
    pass


class _Judge(object):
    """Stops the shape pass (:class:`_Rejected`) where a smaller size does not prove as
    much as the model's own; ``reason`` says why."""

    def __init__(self, data_format):
        self.data_format = data_format
        self.reason = None

    def __call__(self, layer, in_small, in_full, out_small, out_full):
        self._judge(layer, in_small, in_full, out_small, out_full)
        if self.reason:
            raise _Rejected(self.reason)

    def _judge(self, layer, in_small, in_full, out_small, out_full):
        for small, full in zip(list(in_small) + list(out_small), list(in_full) + list(out_full)):
            if not self._similar(small, full):
                self.reason = '%s: shape %s at the smaller size, %s at the model\'s' % (
                    layer.name, small, full)
                return
        window = _window(layer)
        if window is None or len(in_small) != 1:
            return
        kernel, strides, dilation, padding = window
        from kzoo.layers.convolutional import spatial_dims
        fmt = layer.data_format
        for n_small, n_full, k, s, d in zip(spatial_dims(in_small[0], fmt),
                                            spatial_dims(in_full[0], fmt), kernel, strides,
                                            dilation):
            full_taps = _taps(n_full, k, s, d, padding)
            if full_taps is not None and not full_taps <= _taps(n_small, k, s, d, padding):
                self.reason = '%s: kernel taps unused at the smaller size' % layer.name
                return

    def _similar(self, small, full):
        if len(small) != len(full):
            return False
        spatial = set(_spatial_axes(len(full), self.data_format)) if len(full) >= 3 else set()
        for axis, (a, b) in enumerate(zip(small, full)):
            if axis in spatial:
                if (a is None or b is None) and a != b or a is not None and a < 1:
                    return False
            elif a != b:
                return False
        return True


def same_graph(a, b):
    """Do two :class:`OnnxGraph` have the same nodes, initializers (names, shapes, types,
    weight sources and transforms, constant values)?"""
    if len(a.nodes) != len(b.nodes) or list(a.initializers) != list(b.initializers):
        return False
    if a._keys != b._keys:
        return False
    for x, y in zip(a.nodes, b.nodes):
        if x[:3] != y[:3] or x.domain != y.domain or x.name != y.name or \
                not _same_attributes(x.attributes, y.attributes):
            return False
    consts = set(a._small.values())
    if consts != set(b._small.values()):
        return False
    for name, x in a.initializers.items():
        y = b.initializers[name]
        if x.dims != y.dims or x.dtype != y.dtype:
            return False
        if name in consts and np.asarray(x.producer()).tobytes() != \
                np.asarray(y.producer()).tobytes():
            return False
    return True


def _same_attributes(a, b):
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def smaller_check_size(model, graph, opset, dynamic_batch):
    """A :class:`CheckSize` for ``model`` whose export is ``graph``, or None."""
    from kzoo.converters.onnx_export.export import build_graph
    data_format = data_format_of(model)
    if data_format is None:
        return None
    full_shapes = [tuple(t.shape) for t in model.inputs]
    for shapes in candidates(full_shapes, data_format):
        try:
            _shape_pass(model, shapes, _Judge(data_format))
        except Exception:   # rejected, or a layer cannot take this size: try a larger one
            continue
        try:
            small = build_graph(model, opset, dynamic_batch, input_shapes=shapes)
        except Exception:
            continue
        if same_graph(graph, small):
            small.same_nodes_as(graph)
            return CheckSize(shapes, small)
    return None
