"""Configs that today's Keras reads, written from kzoo models.

- :func:`keras2_model_config`: the Keras 2 layout (legacy HDF5 ``model_config``,
  ``to_json``/``to_yaml``), read by tf-keras and by Keras 3's legacy loader;
- :func:`keras3_model_config`: ``config.json`` of a ``.keras`` archive, and
  :func:`portable_model_config` for ``to_json``: ``module``/``registered_name`` on every
  object (Keras 3 and tf-keras find classes that way), an explicit ``InputLayer`` at the
  bottom of a ``Sequential``.

Keras 1 legacy classes are written under their Keras 2 names. Per-class adjustments
for Keras 3 are registered with :func:`keras3_adapter`.

>>> from kzoo.layers import Dense
>>> from kzoo.models import Sequential
>>> cfg = keras3_model_config(Sequential([Dense(2, input_dim=3, name='d')], name='s'))
>>> [(l['module'], l['class_name']) for l in cfg['config']['layers']]
[('keras.layers', 'InputLayer'), ('keras.layers', 'Dense')]
"""
import re

from kzoo.converters.json_yaml import plain
from kzoo.errors import ConversionError

# Keras 1 names kzoo keeps as thin legacy classes -> the class Keras 2/3 know.
KERAS1_CLASS_NAMES = {
    'Convolution1D': 'Conv1D', 'AtrousConvolution1D': 'Conv1D',
    'Convolution2D': 'Conv2D', 'AtrousConvolution2D': 'Conv2D',
    'Convolution3D': 'Conv3D', 'Deconvolution2D': 'Conv2DTranspose',
    'SeparableConvolution2D': 'SeparableConv2D', 'SeparableConvolution1D': 'SeparableConv1D',
    'Convolution2DTranspose': 'Conv2DTranspose',
}
_FUNCTIONAL = ('Model', 'Functional', 'Container')
_NESTED_LAYER_KEYS = ('layer', 'cell', 'forward_layer', 'backward_layer')
# Keras 1 Merge modes with a Keras 2 layer of the same meaning.
_MERGE_MODES = {'sum': 'Add', 'mul': 'Multiply', 'ave': 'Average', 'max': 'Maximum',
                'concat': 'Concatenate', 'dot': 'Dot'}


def keras_class_name(layer_or_name, major=2):
    """The class name Keras uses for a kzoo layer (or class name) in configs and paths."""
    name = layer_or_name if isinstance(layer_or_name, str) else type(layer_or_name).__name__
    name = KERAS1_CLASS_NAMES.get(name, name)
    if major >= 3 and name in _FUNCTIONAL:
        return 'Functional'
    if major == 2 and name in ('Functional', 'Container'):
        return 'Model'
    return name


def keras3_snake_case(name):
    """Keras 3's ``naming.to_snake_case`` (the group names in ``.weights.h5``)."""
    name = re.sub(r'\W+', '', name)
    name = re.sub('(.)([A-Z][a-z]+)', r'\1_\2', name)
    return re.sub('([a-z])([A-Z])', r'\1_\2', name).lower()


# ---- Keras 2 ---------------------------------------------------------------------------------

def keras2_model_config(model):
    """``{'class_name', 'config'}`` in the Keras 2 layout for ``model``."""
    config = plain({'class_name': keras_class_name(model, 2), 'config': model.get_config()})
    _walk_entries(config, _keras2_entry)
    return config


def _walk_entries(root, fn):
    """Apply ``fn`` to every ``{'class_name', 'config'}`` dict, iteratively."""
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get('class_name'), str) and 'config' in item:
                fn(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_KERAS2_ADAPTERS = {}


def keras2_adapter(*class_names):
    """Register ``fn(config) -> config`` adjusting a Keras 2 layout layer config."""
    def decorate(fn):
        for name in class_names:
            if name in _KERAS2_ADAPTERS:
                raise ValueError('Keras 2 adapter for %r is registered twice' % name)
            _KERAS2_ADAPTERS[name] = fn
        return fn
    return decorate


@keras2_adapter('Attention')
def _attention(config):
    # Keras 3's legacy loader turns the string 'dot' into the function ops.dot; 'dot' is
    # the default everywhere, so leaving it out reads the same in every Keras.
    if config.get('score_mode') == 'dot':
        config.pop('score_mode')
    return config


def _sequential_input_layer(config):
    """tf-keras starts a Sequential config with its InputLayer; Keras 3's legacy loader
    needs it there (it misreads ``batch_input_shape`` on the first layer)."""
    layers = config.get('layers') if isinstance(config, dict) else None
    if not layers or layers[0].get('class_name') == 'InputLayer':
        return
    first = layers[0].get('config')
    if not isinstance(first, dict) or first.get('batch_input_shape') is None:
        return
    shape = first.pop('batch_input_shape')
    layers.insert(0, {'class_name': 'InputLayer', 'config': {
        'batch_input_shape': shape, 'dtype': first.get('dtype') or 'float32', 'sparse': False,
        'name': '%s_input' % first.get('name', 'sequential')}})


def _keras2_entry(entry):
    entry['class_name'] = keras_class_name(entry['class_name'], 2)
    if entry['class_name'] == 'Sequential':
        _sequential_input_layer(entry['config'])
    adapter = _KERAS2_ADAPTERS.get(entry['class_name'])
    if adapter is not None and isinstance(entry['config'], dict):
        entry['config'] = adapter(entry['config'])
    if isinstance(entry['config'], dict):
        for key in _NESTED_LAYER_KEYS:  # Keras 3 finds wrapped layers by module only
            inner = entry['config'].get(key)
            if isinstance(inner, dict) and 'class_name' in inner:
                inner.setdefault('module', 'keras.layers')
                inner.setdefault('registered_name', None)
    if entry['class_name'] == 'Merge' and isinstance(entry['config'], dict):
        config = entry['config']
        mode = config.get('mode')
        if isinstance(mode, str) and mode in _MERGE_MODES and not config.get('layers'):
            new = {'name': config.get('name'), 'trainable': config.get('trainable', True)}
            if mode == 'concat':
                new['axis'] = config.get('concat_axis', -1)
            if mode == 'dot':
                new['axes'] = config.get('dot_axes', -1)
            entry['class_name'], entry['config'] = _MERGE_MODES[mode], new


# ---- portable configs (Keras 3 and tf-keras) --------------------------------------------

_ADAPTERS = {}


def keras3_adapter(*class_names):
    """Register ``fn(config) -> config`` adjusting a layer config for Keras 3."""
    def decorate(fn):
        for name in class_names:
            if name in _ADAPTERS:
                raise ValueError('Keras 3 adapter for %r is registered twice' % name)
            _ADAPTERS[name] = fn
        return fn
    return decorate


_OBJECT_MODULES = (('_initializer', 'keras.initializers'), ('_regularizer', 'keras.regularizers'),
                   ('_constraint', 'keras.constraints'))
def keras3_model_config(model):
    """The ``config.json`` object of a ``.keras`` archive for ``model``.

    Keras 3 and tf-keras both find classes by ``module`` + ``class_name`` and both read
    Keras 2 style node lists, so a model without nested models is written that way and
    both read it. Nested models need node indices, which the two count differently
    (tf-keras from 1, Keras 3 from 0); there the archive follows Keras 3, whose format
    it is, with Keras 3 node arguments.
    """
    return _portable(keras2_model_config(model), model, keras3_nodes=_has_nested(model),
                     strict=True)


def portable_model_config(model):
    """A config both tf-keras and Keras 3 deserialize (``to_json`` / ``to_yaml``); node
    indices of nested models follow Keras 2, like the legacy HDF5 layout."""
    return _portable(keras2_model_config(model), model, keras3_nodes=False, strict=False)


def _has_nested(model):
    from kzoo.engine.network import Container
    return any(isinstance(l, Container) for l in getattr(model, 'layers', []))


def _portable(entry, obj, keras3_nodes, strict):
    cls = entry['class_name']
    config = entry['config']
    if cls == 'Sequential':
        out = {'module': 'keras', 'class_name': 'Sequential',
               'config': _sequential(config, obj, strict), 'registered_name': None}
    elif cls in _FUNCTIONAL:
        out = {'module': 'keras', 'class_name': 'Model',
               'config': _functional(config, obj, keras3_nodes, strict), 'registered_name': None}
    else:
        out = {'module': 'keras.layers', 'class_name': cls,
               'config': _layer(cls, config, obj, strict), 'registered_name': None}
    for key in ('name', 'inbound_nodes'):
        if key in entry and key not in out:
            out[key] = entry[key]
    return out


def _layer(cls, config, obj, strict):
    config = dict(config)
    if cls == 'InputLayer':
        return config
    config.pop('batch_input_shape', None)
    for key, value in list(config.items()):
        if key in _NESTED_LAYER_KEYS and isinstance(value, dict) and 'class_name' in value:
            config[key] = _portable(value, getattr(obj, key, None), False, strict)
        elif isinstance(value, dict) and 'class_name' in value:
            for suffix, module in _OBJECT_MODULES:
                if key.endswith(suffix):
                    config[key] = dict(value, module=module, registered_name=None)
    if strict:
        for key in ('activation', 'recurrent_activation'):
            if config.get(key) == 'hard_sigmoid':
                raise ConversionError(
                    'layer %r uses hard_sigmoid as Keras 1/2 defined it (0.2 x + 0.5); Keras 3 '
                    'changed hard_sigmoid to x / 6 + 0.5, so a .keras file cannot say this. '
                    'Save as .h5 instead' % config.get('name'))
    adapter = _ADAPTERS.get(cls)
    return adapter(config) if adapter else config


def _input_layer_entry(name, batch_shape, dtype):
    return {'module': 'keras.layers', 'class_name': 'InputLayer',
            'config': {'batch_input_shape': list(batch_shape), 'dtype': dtype or 'float32',
                       'sparse': False, 'name': name}, 'registered_name': None}


def _sequential(config, model, strict):
    layers = config['layers'] if isinstance(config, dict) else config
    sub_layers = list(getattr(model, 'layers', []) or [])
    out_layers = []
    if layers and layers[0]['class_name'] != 'InputLayer':
        first = layers[0]['config'] or {}
        shape = first.get('batch_input_shape')
        if shape is None and getattr(model, 'inputs', None):
            shape = list(model.inputs[0].shape)
        if shape is not None:
            out_layers.append(_input_layer_entry('%s_input' % first.get('name', 'input'),
                                                 shape, first.get('dtype')))
    objs = sub_layers if len(sub_layers) == len(layers) else [None] * len(layers)
    for entry, obj in zip(layers, objs):
        out_layers.append(_portable(entry, obj, False, strict))
    return {'name': config.get('name') if isinstance(config, dict) else None,
            'trainable': getattr(model, 'trainable', True), 'layers': out_layers}


def _skips(entry):
    from kzoo.converters.config_upgrade import has_input_shape
    cls = entry.get('class_name')
    return cls in _FUNCTIONAL or (cls == 'Sequential' and has_input_shape(entry))


def _functional(config, model, keras3_nodes, strict):
    by_name = {l.name: l for l in getattr(model, 'layers', [])}
    skip = {e.get('name') or e['config'].get('name'): _skips(e) for e in config['layers']}
    sequential = {e.get('name') or e['config'].get('name') for e in config['layers']
                  if e.get('class_name') == 'Sequential'}

    def tensor(name, index, tensor_index):
        raw = index - 1 if skip.get(name) else index
        shape, dtype = None, 'float32'
        layer = by_name.get(name)
        if layer is not None and 0 <= raw < len(layer._inbound_nodes):
            node = layer._inbound_nodes[raw]
            if tensor_index < len(node.output_tensors):
                shape = list(node.output_tensors[tensor_index].shape)
                dtype = node.output_tensors[tensor_index].dtype or 'float32'
        return {'class_name': '__keras_tensor__',
                'config': {'shape': shape, 'dtype': dtype,
                           'keras_history': [name, raw, tensor_index]}}

    layers = []
    for entry in config['layers']:
        name = entry.get('name') or entry['config'].get('name')
        new = _portable(entry, by_name.get(name), False, strict)
        if keras3_nodes:
            nodes = []
            for node in entry.get('inbound_nodes') or []:
                tensors = [tensor(*item[:3]) for item in node]
                kwargs = {}
                for item in node:
                    if len(item) > 3 and isinstance(item[3], dict):
                        kwargs.update(item[3])
                nodes.append({'args': [tensors[0] if len(tensors) == 1 else tensors],
                              'kwargs': kwargs})
            new['inbound_nodes'] = nodes
        new['name'] = name
        layers.append(new)

    def coords(field):
        items = [list(c) for c in config.get(field) or []]
        if keras3_nodes:  # Keras 3 counts a nested Sequential's nodes from 0
            items = [[n, i - 1 if n in sequential and skip.get(n) else i, t]
                     for n, i, t in items]
        return items

    return {'name': config.get('name'), 'trainable': getattr(model, 'trainable', True),
            'layers': layers, 'input_layers': coords('input_layers'),
            'output_layers': coords('output_layers')}
