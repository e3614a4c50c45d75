"""Whole-model layout conversions: ``channels_first`` <-> ``channels_last``, and Theano <->
TensorFlow convolution kernels.

:func:`convert_data_format` rebuilds a model for the other data format. Convolution
kernels need no change (Keras stores them the same way for both formats); what changes
is where the channels are: each layer's ``data_format``, the input shapes, the ``axis``
of BatchNormalization, Concatenate and Softmax on image tensors, PReLU's slopes, and,
when a Flatten flattened channels-first data in its raw order (Keras 1 Theano models),
the rows of the Dense (and the BatchNormalization parameters) that read the flattened
features. Layers whose meaning depends on the layout in other ways (Reshape, Permute,
Dense on an image tensor, Lambda) are refused by name.

>>> import numpy as np
>>> from kzoo.layers import Input, Conv2D, Flatten, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3, 8, 8))
>>> y = Dense(2)(Flatten()(Conv2D(4, 3, data_format='channels_first')(x)))
>>> converted = convert_data_format(Model(x, y), 'channels_last')
>>> converted.input_shape
(None, 8, 8, 3)
"""
import copy

import numpy as np

from kzoo.errors import ConversionError

FORMATS = ('channels_first', 'channels_last')

# Layers with no layout of their own: they apply to any tensor element by element.
_ELEMENTWISE = ('Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Dropout',
                'GaussianNoise', 'GaussianDropout', 'ActivityRegularization', 'Add',
                'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum')
# Layers with an ``axis`` that names a tensor axis.
_AXIS_LAYERS = ('BatchNormalization', 'Concatenate', 'Softmax')
# Layers that keep a Flatten's features in order (and how their weights follow them).
_FEATURE_WISE = ('Dropout', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU',
                 'GaussianNoise', 'GaussianDropout', 'ActivityRegularization',
                 'BatchNormalization')


def to_format_perm(rank, source):
    """Axis ``i`` of the converted tensor is axis ``perm[i]`` of the source tensor."""
    if source == 'channels_first':      # (N, C, S...) -> (N, S..., C)
        return (0,) + tuple(range(2, rank)) + (1,)
    return (0, rank - 1) + tuple(range(1, rank - 1))


def map_axis(axis, rank, source):
    """Where source axis ``axis`` goes in the converted tensor."""
    perm = to_format_perm(rank, source)
    return perm.index(axis % rank)


def transpose_array(array, source):
    """A batch of images (or any tensor with a batch axis) in the other data format."""
    array = np.asarray(array)
    return np.ascontiguousarray(array.transpose(to_format_perm(array.ndim, source)))


def model_data_format(model):
    """The data format of ``model``'s image layers, or None if it has none."""
    found = set()
    for layer in _layers(model):
        value = getattr(layer, 'data_format', None)
        # Flatten's data_format only says in which order it flattens
        if value in FORMATS and getattr(layer, 'rank', 2) != 1 and _class(layer) != 'Flatten':
            found.add(value)
    if len(found) > 1:
        raise ConversionError('model %r mixes channels_first and channels_last layers'
                              % model.name)
    return found.pop() if found else None


def _layers(model):
    from kzoo.utils.layer_utils import _all_layers
    return _all_layers(model)


def _class(layer):
    return type(layer).__name__


class _Plan(object):
    """Which tensors are images and what each layer needs changed."""

    def __init__(self, model, source, target, raw_flatten=False):
        self.model, self.source, self.target = model, source, target
        self.raw_flatten = raw_flatten  # Flatten in Keras 1's raw channels_first order
        self.image = set()            # id(KTensor) of tensors in the source layout
        self.config_changes = {}      # layer name -> {field: new value}
        self.weight_changes = {}      # layer name -> function(weights) -> weights
        self.input_shapes = {}        # input layer name -> new batch shape

    def fail(self, layer, why):
        raise ConversionError('cannot convert model %r to %s: layer %r (%s) %s'
                              % (self.model.name, self.target, layer.name, _class(layer), why))


def _consumers(model, tensor):
    layer, node_index, tensor_index = tensor._keras_history
    out = []
    for node in model._plan:
        for t in node.input_tensors:
            if t is tensor:
                out.append(node)
    return out


def _feeds_image_layer(model, tensor, source, seen=None):
    """Does ``tensor`` reach a ``source``-format layer through elementwise layers?"""
    seen = seen if seen is not None else set()
    if id(tensor) in seen:
        return False
    seen.add(id(tensor))
    for node in _consumers(model, tensor):
        layer = node.outbound_layer
        if getattr(layer, 'data_format', None) == source:
            return True
        if _class(layer) in _ELEMENTWISE + _AXIS_LAYERS + ('PReLU',):
            if any(_feeds_image_layer(model, t, source, seen) for t in node.output_tensors):
                return True
    return False


def _plan(model, source, target, raw_flatten=False):
    plan = _Plan(model, source, target, raw_flatten)
    for tensor, layer in zip(model.inputs, model.input_layers):
        if len(tensor.shape) >= 3 and _feeds_image_layer(model, tensor, source):
            plan.image.add(id(tensor))
            shape = tuple(tensor.shape)
            plan.input_shapes[layer.name] = tuple(shape[p] for p in
                                                  to_format_perm(len(shape), source))
    for node in model._plan:
        layer = node.outbound_layer
        images = [id(t) in plan.image for t in node.input_tensors]
        if not any(images):
            if getattr(layer, 'data_format', None) == source and not hasattr(layer, '_plan') \
                    and getattr(layer, 'rank', 2) != 1 and _class(layer) != 'Flatten':
                plan.fail(layer, 'has data_format=%s but its input is not an image tensor'
                          % source)
            continue
        _plan_layer(plan, node, layer, images)
    return plan


def _plan_layer(plan, node, layer, images):
    name, cls = layer.name, _class(layer)
    rank = len(node.input_tensors[0].shape)
    outputs_image = True
    if hasattr(layer, '_plan'):
        plan.fail(layer, 'is a nested model; convert the nested model first')
    fmt = getattr(layer, 'data_format', None)
    if cls == 'Flatten':
        _plan_flatten(plan, node, layer)
        outputs_image = False
    elif fmt in FORMATS:
        if fmt != plan.source:
            plan.fail(layer, 'has data_format=%s in a %s model' % (fmt, plan.source))
        plan.config_changes[name] = {'data_format': plan.target}
        if cls.startswith('Global') and not getattr(layer, 'keepdims', False):
            outputs_image = False
    elif cls in _ELEMENTWISE:
        if not all(images) or len({len(t.shape) for t in node.input_tensors}) > 1:
            plan.fail(layer, 'merges image tensors with other tensors')
    elif cls in _AXIS_LAYERS:
        if not all(images):
            plan.fail(layer, 'mixes image tensors with other tensors')
        axis = layer.axis
        if isinstance(axis, (list, tuple)):
            new = [map_axis(a, rank, plan.source) for a in axis]
            if cls == 'BatchNormalization' and len(new) > 1:
                plan.fail(layer, 'normalizes several axes')
        else:
            new = map_axis(axis, rank, plan.source)
        plan.config_changes[name] = {'axis': new}
    elif cls == 'PReLU':
        _plan_prelu(plan, layer, rank)
    else:
        plan.fail(layer, 'works on an image tensor in a layout-dependent way kzoo cannot '
                         'convert')
    if outputs_image:
        plan.image.update(id(t) for t in node.output_tensors)


def _plan_prelu(plan, layer, rank):
    source = plan.source
    perm = to_format_perm(rank, source)
    if layer.shared_axes:
        plan.config_changes[layer.name] = {
            'shared_axes': sorted(map_axis(a, rank, source) for a in layer.shared_axes)}

    def move(weights, perm=perm):
        alpha = weights[0]
        full = alpha.reshape((1,) + alpha.shape).transpose(perm)
        return [np.ascontiguousarray(full[0])]
    plan.weight_changes[layer.name] = move


def _plan_flatten(plan, node, layer):
    """Keep the flattened feature order, or permute the weights that read it."""
    shape = tuple(node.input_tensors[0].shape)
    rank = len(shape)
    source, target = plan.source, plan.target
    if layer.data_format == 'channels_first' and source == 'channels_last':
        plan.fail(layer, 'flattens channels_last data as if it were channels_first')
    raw_channels_first = source == 'channels_first' and layer.data_format != 'channels_first'
    if plan.raw_flatten and source == 'channels_last' and target == 'channels_first':
        # Keras 1's order: channels_first data flattened as it lies (what its files'
        # Dense rows read). New feature i (order c, rows, cols) is old feature order[i].
        plan.config_changes[layer.name] = {'data_format': 'channels_last'}
        if any(d is None for d in shape[1:]):
            plan.fail(layer, 'flattens a tensor of unknown shape %s' % (shape,))
        order = np.arange(int(np.prod(shape[1:]))).reshape(shape[1:]).transpose(
            (rank - 2,) + tuple(range(rank - 2))).ravel()
        _permute_readers(plan, node.output_tensors[0], order)
        return
    # Flatten's data_format only reorders channels_first data: pick the one that keeps
    # the old order where possible.
    plan.config_changes[layer.name] = {'data_format': 'channels_last' if raw_channels_first
                                       and target == 'channels_first' else target}
    if not (raw_channels_first and target == 'channels_last'):
        return
    if any(d is None for d in shape[1:]):
        plan.fail(layer, 'flattens a tensor of unknown shape %s' % (shape,))
    # new feature i (channels last order) is old feature order[i] (channels first order)
    order = np.arange(int(np.prod(shape[1:]))).reshape(shape[1:]).transpose(
        tuple(range(1, rank - 1)) + (0,)).ravel()
    _permute_readers(plan, node.output_tensors[0], order)


def _permute_readers(plan, tensor, order):
    model = plan.model
    for node in _consumers(model, tensor):
        layer = node.outbound_layer
        cls = _class(layer)
        if cls == 'Dense':
            plan.weight_changes[layer.name] = \
                lambda w, order=order: [np.ascontiguousarray(w[0][order])] + list(w[1:])
        elif cls in _FEATURE_WISE:
            if cls == 'BatchNormalization':
                plan.weight_changes[layer.name] = \
                    lambda w, order=order: [np.ascontiguousarray(a[order]) for a in w]
            for t in node.output_tensors:
                _permute_readers(plan, t, order)
        else:
            raise ConversionError(
                'cannot convert model %r to %s: layer %r (%s) reads the features of a '
                'channels_first Flatten in their raw order; only Dense layers (through '
                'elementwise layers and BatchNormalization) can be permuted to match'
                % (model.name, plan.target, layer.name, cls))
    if tensor in model.outputs:
        raise ConversionError('cannot convert model %r to %s: a model output is a flattened '
                              'channels_first tensor whose order would change'
                              % (model.name, plan.target))


def _edit_config(config, plan, sequential):
    config = copy.deepcopy(config)
    entries = config['layers']
    for i, entry in enumerate(entries):
        layer_config = entry['config']
        name = layer_config.get('name')
        for field, value in plan.config_changes.get(name, {}).items():
            layer_config[field] = value
        if name in plan.input_shapes:
            for key in ('batch_input_shape', 'batch_shape'):
                if key in layer_config:
                    layer_config[key] = list(plan.input_shapes[name])
        if sequential and i == 0 and plan.input_shapes:
            shape = list(plan.input_shapes.values())[0]
            layer_config.pop('input_shape', None)
            layer_config['batch_input_shape'] = list(shape)
    return config


def convert_data_format(model, data_format, raw_flatten=False):
    """A new model computing ``model`` on inputs (and image outputs) in ``data_format``.

    Inputs of the new model are the old ones transposed with :func:`transpose_array`;
    image-shaped outputs come out transposed the same way. With ``raw_flatten`` (to
    channels_first only), Flatten layers of the new model flatten in Keras 1's raw
    channels-first order and the Dense rows that read them are permuted to match: the
    layout of Keras 1 ``th`` weight files.
    """
    from kzoo.engine.network import deserialize_layer
    from kzoo.engine.sequential import Sequential
    if data_format not in FORMATS:
        raise ConversionError('data_format must be channels_first or channels_last, got %r'
                              % (data_format,))
    source = model_data_format(model)
    if source is None or source == data_format:
        return model
    plan = _plan(model, source, data_format, raw_flatten)
    sequential = isinstance(model, Sequential)
    config = _edit_config(model.get_config(), plan, sequential)
    clone = deserialize_layer({'class_name': type(model).__name__, 'config': config})
    if sequential and not clone.inputs:
        clone.build(tuple(plan.input_shapes.get(model.input_layers[0].name,
                                                model.inputs[0].shape)))
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        change = plan.weight_changes.get(layer.name)
        clone.get_layer(layer.name).set_weights(change(weights) if change else weights)
    clone._kzoo_layout = {'source': source, 'target': data_format,
                          'image_inputs': [id(t) in plan.image for t in model.inputs],
                          'image_outputs': [id(t) in plan.image for t in model.outputs]}
    return clone


def image_outputs(converted):
    """Which outputs of a model made by :func:`convert_data_format` are images."""
    return getattr(converted, '_kzoo_layout', {}).get('image_outputs')


def image_inputs(converted):
    """Which inputs of a model made by :func:`convert_data_format` are images."""
    return getattr(converted, '_kzoo_layout', {}).get('image_inputs')


def convert_kernels(model):
    """Flip every convolution kernel of ``model`` in place (Theano <-> TensorFlow
    convention); applying it twice restores the model. Returns ``model``."""
    from kzoo.utils.layer_utils import convert_all_kernels_in_model
    convert_all_kernels_in_model(model)
    return model


__all__ = ['convert_data_format', 'convert_kernels', 'transpose_array', 'model_data_format',
           'image_inputs', 'image_outputs', 'map_axis']
