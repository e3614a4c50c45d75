"""Model configs of every Keras era, brought to the one form kzoo's engine reads.

kzoo's layer classes already accept Keras 1 argument names and keep the Keras 1 class
names as thin legacy classes (``Convolution2D``, ``Merge``, ...). What is left for a
config upgrade is what a constructor cannot see:

- Keras 3 serialization markers: ``module`` / ``registered_name`` (ignored: classes
  come only from kzoo's registries and ``custom_objects``; a ``registered_name`` that
  is an import path such as ``subprocess.Popen`` is refused), dtype policies,
  ``__tensor__`` / ``__numpy__`` / ``__tuple__`` values, function references;
- structure: ``TimeDistributedDense`` becomes ``TimeDistributed(Dense)``; nested
  containers' node indices follow Keras 2's convention (a nested model's first node is
  the one it was built with, so configs count from 1), which Keras 3 configs spell
  differently for ``Sequential``;
- defaults that changed between eras (``GRU.reset_after`` was False before tf.keras,
  LSTM/GRU ``recurrent_activation`` was ``hard_sigmoid``);
- initializers that no registry knows (``"<lambda>"`` in Keras 1 files): the weights
  come from the file, so the layer gets the default initializer and a note (but one
  naming a module other than Keras's initializers, ``keras.config`` say, is refused);
- layers that cannot be expressed (a ``TensorFlowOpLayer`` embeds a raw TensorFlow
  graph op): a clear error instead of an unknown-class one.

Handlers are registered per class name (:func:`upgrader`). The walk is bounded in
depth, so a config nesting 10,000 models fails with a :class:`ConfigError`.

>>> cfg = {'class_name': 'Sequential', 'config': [{'class_name': 'TimeDistributedDense',
...        'config': {'name': 'tdd', 'output_dim': 3, 'input_dim': 2, 'input_length': 5}}]}
>>> layer = upgrade_model_config(cfg, major=1)['config'][0]
>>> layer['class_name'], layer['config']['layer']['class_name']
('TimeDistributed', 'Dense')
"""
import copy
import re

from kzoo.errors import ConfigError, UnknownObjectError, UnsafeInputError

MAX_NESTING = 48

# Keys Keras 3 adds to every serialized object; kzoo never uses them to find a class.
_KERAS3_OBJECT_KEYS = ('module', 'registered_name', 'build_config', 'compile_config',
                       'shared_object_id')
_CONTAINERS = ('Sequential', 'Model', 'Functional', 'Container')

_UPGRADERS = {}


def upgrader(*class_names):
    """Register ``fn(entry, ctx) -> entry`` for layer entries of these classes."""
    def decorate(fn):
        for name in class_names:
            if name in _UPGRADERS:
                raise ValueError('config upgrader for %r is registered twice' % name)
            _UPGRADERS[name] = fn
        return fn
    return decorate


class Context(object):
    """What the walk knows: the era's major version, the report, custom objects."""

    def __init__(self, major, report=None, custom_objects=None, label='model config'):
        self.major = major
        self.report = report
        self.custom_objects = custom_objects or {}
        self.label = label

    def note(self, message):
        if self.report is not None:
            self.report.note(message)


def guess_major(config):
    """1, 2 or 3 for a config without a ``keras_version`` (from its spellings)."""
    text = repr(config)
    if "'module':" in text or '__keras_tensor__' in text or "'batch_shape':" in text:
        return 3
    keras1 = ("'output_dim':", "'nb_filter':", "'border_mode':", "'dim_ordering':",
              "'init':", "'W_regularizer':", "'input_dtype':")
    if any(k in text for k in keras1):
        return 1
    return 2


def upgrade_model_config(config, major=None, report=None, custom_objects=None,
                         label='model config'):
    """The ``{'class_name', 'config'}`` dict kzoo's engine reads, from any era's config.

    ``config`` may also carry ``keras_version`` and ``backend`` (as ``to_json`` writes).
    """
    if not isinstance(config, dict) or 'class_name' not in config:
        raise ConfigError('%s must be a dict with "class_name" and "config"; got %.200r'
                          % (label, config))
    if major is None:
        from kzoo.converters.era import major_version
        major = major_version(config['keras_version']) if config.get('keras_version') \
            else guess_major(config)
    ctx = Context(major, report, custom_objects, label)
    entry = {'class_name': config['class_name'], 'config': config.get('config')}
    entry = upgrade_layer(entry, ctx, 0)
    if major == 1:
        _keras1_dim_ordering(entry, ctx, config.get('keras_version'))
    return entry


def _layer_entries(root):
    """Every layer entry (dict with class_name and a dict config) below ``root``."""
    out, stack = [], [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get('class_name'), str) and isinstance(item.get('config'), dict):
                out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def _accepts(class_name, argument, ctx):
    import inspect
    from kzoo.engine.base_layer import LAYERS
    try:
        cls = LAYERS.get(class_name, ctx.custom_objects)
        return argument in inspect.signature(cls.__init__).parameters
    except Exception:
        return False


def _keras1_dim_ordering(root, ctx, version):
    """Keras 1 left ``dim_ordering`` out of some configs (UpSampling2D, ZeroPadding2D):
    those layers used the global ordering of the Keras that loads them. The layers that
    did record one say what it was; Keras 1.0's default was ``th``."""
    entries = _layer_entries(root)
    declared = [e['config'].get('dim_ordering') or e['config'].get('data_format')
                for e in entries]
    declared = [d for d in declared if d in ('th', 'tf', 'channels_first', 'channels_last')]
    if declared:
        ordering = max(set(declared), key=declared.count)
    elif version and str(version).startswith('1.0'):
        ordering = 'th'
    else:
        return
    for e in entries:
        config = e['config']
        if 'dim_ordering' in config or 'data_format' in config:
            continue
        if _accepts(e['class_name'], 'data_format', ctx):
            config['dim_ordering'] = ordering
            ctx.note('layer %r: no dim_ordering stored (Keras 1 omitted it); using %r like '
                     'the rest of the model' % (config.get('name'), ordering))


def upgrade_layer(entry, ctx, depth):
    """One layer entry (``class_name``, ``config``, maybe ``name``/``inbound_nodes``)."""
    if depth > MAX_NESTING:
        raise ConfigError('%s nests layers more than %d levels deep' % (ctx.label, MAX_NESTING))
    if not isinstance(entry, dict) or not isinstance(entry.get('class_name'), str):
        raise ConfigError('%s: a layer entry must be a dict with a class_name; got %.200r'
                          % (ctx.label, entry))
    check_registered_name(entry, ctx)
    entry = {k: v for k, v in entry.items() if k not in _KERAS3_OBJECT_KEYS}
    config = entry.get('config')
    if config is None:
        config = {}
    if entry['class_name'] in _CONTAINERS and isinstance(config, dict) \
            and isinstance(config.get('layers'), list) and 'input_layers' in config:
        # before cleaning: the ops are recognised by their Keras 3 `module`
        config = dict(config, layers=_drop_mask_ops(config['layers'], config, ctx))
    if isinstance(config, dict):
        config = clean_values(config, ctx)
    elif isinstance(config, list):  # a Keras 1 / 2.0 Sequential: a bare list of layers
        config = list(config)
    else:
        raise ConfigError('%s: config of layer class %r must be a dict, got %.200r'
                          % (ctx.label, entry['class_name'], config))
    entry['config'] = config
    handler = _UPGRADERS.get(entry['class_name'])
    if handler is not None:
        entry = handler(entry, ctx)
    if entry['class_name'] in _CONTAINERS:
        entry['config'] = _upgrade_container(entry, ctx, depth)
    elif isinstance(entry['config'], dict):
        for key in ('layer', 'cell', 'forward_layer', 'backward_layer'):
            if isinstance(entry['config'].get(key), dict):
                entry['config'][key] = upgrade_layer(entry['config'][key], ctx, depth + 1)
        if isinstance(entry['config'].get('cells'), list):
            entry['config']['cells'] = [upgrade_layer(c, ctx, depth + 1)
                                        for c in entry['config']['cells']]
        _unknown_initializers(entry, ctx)
    return entry


def _upgrade_container(entry, ctx, depth):
    config = entry['config']
    if isinstance(config, list):
        return [upgrade_layer(c, ctx, depth + 1) for c in config]
    if not isinstance(config.get('layers'), list):
        raise ConfigError('%s: model %r has no "layers" list' % (ctx.label, config.get('name')))
    config = dict(config)
    config['layers'] = [upgrade_layer(c, ctx, depth + 1) for c in config['layers']]
    if ctx.major >= 3 and 'input_layers' in config:
        _keras3_sequential_coordinates(config)
        _keras3_list_nodes(config)
    return config


def _keras3_list_nodes(config):
    """Keras 3 reads node lists with the raw node index of a nested model; kzoo's engine
    reads lists the Keras 2 way (counted from 1), so shift them."""
    nested = {_entry_name(l) for l in config['layers'] if isinstance(l, dict) and (
        l.get('class_name') in ('Model', 'Functional', 'Container') or
        (l.get('class_name') == 'Sequential' and has_input_shape(l)))}
    if not nested:
        return
    for layer in config['layers']:
        nodes = layer.get('inbound_nodes') if isinstance(layer, dict) else None
        if not isinstance(nodes, list):
            continue
        layer['inbound_nodes'] = [
            [[item[0], item[1] + 1] + list(item[2:]) if isinstance(item, list) and len(item) >= 3
             and item[0] in nested and isinstance(item[1], int) else item for item in node]
            if isinstance(node, list) else node for node in nodes]


def _entry_name(entry):
    return entry.get('name') or (entry.get('config') or {}).get('name')


def _is_op(entry, ctx):
    """A Keras 3 operation node (``keras.ops``), or a class no registry knows that names
    no module (Keras 3's legacy ``.h5`` configs leave ``module`` out)."""
    if not isinstance(entry, dict):
        return False
    module = entry.get('module')
    if isinstance(module, str) and (module.startswith('keras.src.ops') or
                                    module.startswith('keras.ops')):
        return True
    if module is not None:
        # A class from any other module (``os.system`` beside the graph) is not a Keras
        # operation: it stays, to be refused by name when the model is built.
        return False
    from kzoo.engine.base_layer import LAYERS
    name = entry.get('class_name')
    return isinstance(name, str) and name not in LAYERS and name not in ctx.custom_objects \
        and name not in _CONTAINERS


def _tensor_names(value, skip_mask=True):
    """Names of layers referenced by ``__keras_tensor__`` markers in a node's args."""
    names, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get('class_name') == '__keras_tensor__':
                history = (item.get('config') or {}).get('keras_history') or [None]
                names.add(history[0])
                continue
            stack.extend(v for k, v in item.items() if not (skip_mask and k == 'mask'))
        elif isinstance(item, list):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
                names.add(item[0])
            else:
                stack.extend(item)
    return names


def _drop_mask_ops(layers, config, ctx):
    """Keras 3 writes the mask computations of a functional model (``NotEqual``, ``Any``
    from ``keras.ops``) as graph nodes passed to layers as ``mask=``; kzoo computes masks
    itself, so such nodes are dropped when nothing else uses them."""
    ops = {_entry_name(l) for l in layers if _is_op(l, ctx)}
    if not ops:
        return layers
    used = set()
    for layer in layers:
        if _entry_name(layer) in ops or not isinstance(layer, dict):
            continue
        used |= _tensor_names(layer.get('inbound_nodes') or [])
    used |= _tensor_names([config.get('output_layers') or [], config.get('input_layers') or []])
    needed = ops & used
    if needed:
        return layers  # a real computation: reported as an unknown class when built
    ctx.note('Keras 3 mask operations %s dropped (kzoo computes masks itself)'
             % ', '.join(sorted(ops)))
    return [l for l in layers if _entry_name(l) not in ops]


def _keras3_sequential_coordinates(config):
    """Keras 3 counts a nested Sequential's nodes from 0 in input/output_layers, Keras 2
    from 1 (its first node is the one it was built with); kzoo reads Keras 2's way."""
    nested = {l.get('name') or (l.get('config') or {}).get('name') for l in config['layers']
              if isinstance(l, dict) and l.get('class_name') == 'Sequential'
              and has_input_shape(l)}
    for field in ('input_layers', 'output_layers'):
        coords = config.get(field)
        if not isinstance(coords, list):
            continue
        single = len(coords) == 3 and isinstance(coords[0], str)
        items = [coords] if single else coords
        fixed = [[c[0], c[1] + 1, c[2]] if isinstance(c, list) and len(c) == 3
                 and c[0] in nested and isinstance(c[1], int) else c for c in items]
        config[field] = fixed[0] if single else fixed


def has_input_shape(entry):
    """True when a Sequential entry knows its input shape (so Keras built it at once)."""
    config = entry.get('config')
    layers = config if isinstance(config, list) else (config or {}).get('layers')
    if not layers or not isinstance(layers[0], dict):
        return False
    first = layers[0]
    first_config = first.get('config') or {}
    return first.get('class_name') == 'InputLayer' or any(
        first_config.get(k) is not None for k in ('batch_input_shape', 'batch_shape',
                                                  'input_shape', 'input_dim'))


# ---- values ----------------------------------------------------------------------------

def clean_values(config, ctx):
    """A copy of a layer config with Keras 3 markers turned into plain values."""
    out = {}
    for key, value in config.items():
        if key == 'dtype':
            value = _dtype_name(value, ctx)
        out[key] = _clean(value, ctx)
    return out


def _dtype_name(value, ctx):
    if isinstance(value, dict):  # Keras 3 DTypePolicy / DTypePolicyMap
        name = (value.get('config') or {}).get('name')
        if isinstance(name, str) and name.startswith('mixed_'):
            ctx.note('dtype policy %s read as float32 (kzoo computes in float32)' % name)
            return 'float32'
        return name
    return value


def _clean(value, ctx):
    """Walk a value iteratively (no recursion limit), replacing Keras 3 markers."""
    root = [value]
    stack = [(root, 0)]
    while stack:
        holder, key = stack.pop()
        item = holder[key]
        if isinstance(item, dict):
            marker = item.get('class_name')
            if marker in ('__tensor__', '__numpy__'):
                holder[key] = (item.get('config') or {}).get('value')
                continue
            if marker == '__tuple__':
                holder[key] = list((item.get('config') or {}).get('value') or [])
                continue
            if marker == 'function' and isinstance(item.get('config'), str):
                holder[key] = item['config']  # a function referenced by name
                continue
            check_registered_name(item, ctx)
            _foreign_initializers(item, ctx)
            item = {k: v for k, v in item.items() if k not in _KERAS3_OBJECT_KEYS
                    or marker in ('__lambda__',)}
            holder[key] = item
            stack.extend((item, k) for k in item)
        elif isinstance(item, (list, tuple)):
            item = list(item)
            holder[key] = item
            stack.extend((item, i) for i in range(len(item)))
    return root[0]


# What Keras writes as ``registered_name``: a class or function name, optionally behind
# ``package>`` (``register_keras_serializable``). Never a dotted import path.
_REGISTERED_NAME = re.compile(r'^([^>\s]+>)?[A-Za-z_][A-Za-z0-9_]*$')
_INITIALIZER_MODULES = ('keras.initializers', 'keras.src.initializers', 'tf_keras.initializers',
                        'tf_keras.src.initializers', 'tensorflow.keras.initializers')


def check_registered_name(obj, ctx):
    """Refuse a ``registered_name`` that is an import path (``subprocess.Popen``).

    kzoo never resolves it (classes come from its registries and ``custom_objects``
    only); a file that puts a Python path there is hostile, so it is refused by name
    rather than silently read as something else.
    """
    name = obj.get('registered_name')
    if name is None or (isinstance(name, str) and _REGISTERED_NAME.match(name)):
        return
    raise UnsafeInputError(
        '%s: refused registered_name %.200r on %s: it names a Python import path, and kzoo '
        'never imports what a file names (classes come only from its registries and '
        'custom_objects)' % (ctx.label, name, _describe(obj)))


def _describe(obj):
    config = obj.get('config')
    name = config.get('name') if isinstance(config, dict) else None
    return '%s %r' % (obj.get('class_name'), name) if name else repr(obj.get('class_name'))


def _foreign_initializers(config, ctx):
    """An initializer that names another module (``keras.config``, ``os``) is not an
    unknown initializer to tolerate: it is refused by name."""
    for key, value in config.items():
        if not (key.endswith('_initializer') or key in ('init', 'inner_init')):
            continue
        if not isinstance(value, dict) or not isinstance(value.get('module'), str):
            continue
        module = value['module']
        if module.startswith(_INITIALIZER_MODULES) or value.get('class_name') in \
                ctx.custom_objects:
            continue
        raise UnknownObjectError(
            '%s: layer %r: %s %r from module %r is not an initializer; kzoo resolves names '
            'only through its registries and custom_objects' % (
                ctx.label, config.get('name'), key, value.get('class_name'), module))


def _unknown_initializers(entry, ctx):
    """An initializer no registry knows only seeds weights that the file replaces."""
    from kzoo import initializers
    config = entry['config']
    for key in list(config):
        if not (key.endswith('_initializer') or key in ('init', 'inner_init')):
            continue
        value = config[key]
        name = value.get('class_name') if isinstance(value, dict) else value
        if not isinstance(name, str) or name in ctx.custom_objects:
            continue
        if name in initializers.INITIALIZERS:
            continue
        del config[key]
        ctx.note('layer %r: initializer %r is unknown; the default is used (the weights '
                 'come from the file)' % (config.get('name'), name))


# ---- per-class upgrades ------------------------------------------------------------------

@upgrader('TimeDistributedDense')
def _time_distributed_dense(entry, ctx):
    """Keras 1 ``TimeDistributedDense`` is ``TimeDistributed(Dense)``: same W and b."""
    config = dict(entry['config'])
    outer = {k: config.pop(k) for k in ('name', 'trainable', 'batch_input_shape',
                                        'input_dtype', 'dtype') if k in config}
    input_dim, input_length = config.pop('input_dim', None), config.pop('input_length', None)
    if 'batch_input_shape' not in outer and input_dim is not None:
        outer['batch_input_shape'] = [None, input_length, input_dim]
    inner = dict(config)
    inner['name'] = '%s_dense' % outer.get('name', 'time_distributed_dense')
    entry = dict(entry, class_name='TimeDistributed')
    outer['layer'] = {'class_name': 'Dense', 'config': inner}
    entry['config'] = outer
    ctx.note('layer %r: Keras 1 TimeDistributedDense read as TimeDistributed(Dense)'
             % outer.get('name'))
    return entry


@upgrader('GRU', 'CuDNNGRU')
def _gru(entry, ctx):
    config = entry['config']
    if ctx.major <= 2 and 'reset_after' not in config and entry['class_name'] == 'GRU':
        # Keras 1/2 GRU had no reset_after (the bias is applied before the reset gate).
        config['reset_after'] = False
    _keras2_recurrent_activation(entry, ctx)
    return entry


@upgrader('LSTM')
def _lstm(entry, ctx):
    _keras2_recurrent_activation(entry, ctx)
    return entry


def _keras2_recurrent_activation(entry, ctx):
    config = entry['config']
    if ctx.major <= 2 and 'recurrent_activation' not in config \
            and 'inner_activation' not in config:
        config['recurrent_activation'] = 'hard_sigmoid'  # the Keras 1/2 default


@upgrader('BatchNormalization')
def _batch_normalization(entry, ctx):
    config = entry['config']
    mode = config.pop('mode', 0)
    if mode not in (0, None):
        raise ConfigError(
            '%s: BatchNormalization %r uses Keras 1 mode=%r (statistics of the current batch '
            'at inference), which Keras 2 and kzoo cannot express' % (
                ctx.label, config.get('name'), mode))
    return entry


@upgrader('Masking')
def _masking(entry, ctx):
    """Keras 3 stores ``mask_value`` as a tensor (``[0.0]``); one element is a scalar."""
    value = entry['config'].get('mask_value')
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], list):
        entry['config']['mask_value'] = value[0]
    return entry


_GRAPH_OP_LAYERS = {
    'TensorFlowOpLayer': 'embeds a raw TensorFlow graph op',
    'TFOpLambda': 'calls a TensorFlow function by its Python name',
    'SlicingOpLambda': 'calls a TensorFlow slicing function by its Python name',
}


def _graph_op(entry, ctx):
    name = entry['class_name']
    if name in ctx.custom_objects:
        return entry
    config = entry['config'] if isinstance(entry['config'], dict) else {}
    op = (config.get('node_def') or {}).get('op') or config.get('function')
    raise UnknownObjectError(
        '%s: layer %r is a %s: it %s%s, which kzoo cannot run. Rebuild that part of the '
        'model with Keras layers, or pass custom_objects={%r: ...}' % (
            ctx.label, entry.get('name') or config.get('name'), name, _GRAPH_OP_LAYERS[name],
            ' (%s)' % op if isinstance(op, str) else '', name))


for _name in _GRAPH_OP_LAYERS:
    upgrader(_name)(_graph_op)


def copy_config(config):
    """A deep copy that never recurses past the nesting limit."""
    try:
        return copy.deepcopy(config)
    except RecursionError:
        raise ConfigError('model config is nested too deeply') from None
