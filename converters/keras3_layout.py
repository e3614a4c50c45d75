"""Where each weight lives in a Keras 3 ``.weights.h5``: ``layers/<name>/vars/<i>``.

Keras 3 saves an object's own variables at ``<path>/vars/0, 1, ...`` and then walks its
attributes: a ``Sequential`` or functional model's ``layers`` list first, each layer in
it under a name made from its *class* (``dense``, ``dense_1``, ...), an RNN's ``cell``,
a wrapper's ``layer`` or ``forward_layer`` / ``backward_layer``. Files have no weight
names, so order is everything.

:func:`walk` lists ``(vars_path, variables, layer)`` for a kzoo model. Built-in layouts
are registered per class with :func:`keras3_layout`; other classes (custom objects) get
Keras 3's own walk over their attributes, including the nested containers (lists and
tuples of layers) that PR 22362 started saving under ``container``, ``container_1``...

>>> from kzoo.layers import Dense
>>> from kzoo.models import Sequential
>>> model = Sequential([Dense(2, input_dim=3), Dense(1)])
>>> [(path, len(vs)) for path, vs, _ in walk(model)]
[('vars', 0), ('layers/dense/vars', 2), ('layers/dense_1/vars', 2)]
"""
from kzoo.converters.keras_config import keras_class_name, keras3_snake_case

_LAYOUTS = {}


def keras3_layout(*class_names):
    """Register ``fn(layer) -> [(attribute, child or [children])]`` for these classes.

    The layer's own variables always go to ``vars``; ``fn`` names its sublayers.
    """
    def decorate(fn):
        for name in class_names:
            if name in _LAYOUTS:
                raise ValueError('Keras 3 layout for %r is registered twice' % name)
            _LAYOUTS[name] = fn
        return fn
    return decorate


def own_variables(layer):
    """Variables a layer owns itself, as Keras 3 saves them: trainable ones first."""
    specs = getattr(layer, '_weight_specs', [])
    return [s.variable for s, t in specs if t] + [s.variable for s, t in specs if not t]


def _layout(layer):
    for cls in type(layer).__mro__:
        fn = _LAYOUTS.get(cls.__name__)
        if fn is not None:
            return fn
    return None


def _is_builtin(layer):
    return type(layer).__module__.startswith('kzoo.')


@keras3_layout('Sequential')
def _sequential(model):
    return [('layers', list(model.layers))]


@keras3_layout('Container')
def _functional(model):
    return [('layers', list(model.layers))]


@keras3_layout('RNN')
def _rnn(layer):
    cell = getattr(layer, 'cell', None)
    return [('cell', cell)] if cell is not None else []


@keras3_layout('StackedRNNCells')
def _stacked_cells(layer):
    return [('cells', list(layer.cells))]


@keras3_layout('Bidirectional')
def _bidirectional(layer):
    return [('backward_layer', layer.backward_layer), ('forward_layer', layer.forward_layer)]


@keras3_layout('TimeDistributed', 'Wrapper')
def _wrapper(layer):
    return [('layer', layer.layer)]


def _unique(name, used):
    if name in used:
        used[name] += 1
        return '%s_%d' % (name, used[name])
    used[name] = 0
    return name


def _join(*parts):
    return '/'.join(p for p in parts if p)


def walk(model, has_path=None):
    """``[(vars_path, variables, layer)]`` for every object Keras 3 would save.

    ``has_path(path)`` (reading) tells whether the file has a group; a custom object's
    nested container missing from the file is skipped, as Keras does for files written
    before PR 22362 (its layers are then found under ``layers``).
    """
    out, visited = [], set()
    _visit(model, '', out, visited, has_path)
    return out


def _visit(obj, path, out, visited, has_path):
    # An explicit stack would lose Keras's visiting order for shared layers; depth is
    # bounded by the model's nesting, which configs limit (config_upgrade.MAX_NESTING).
    if id(obj) in visited:
        return
    visited.add(id(obj))
    out.append((_join(path, 'vars'), own_variables(obj), obj))
    fn = _layout(obj)
    if fn is not None and _is_builtin(obj) or fn is not None and _is_container(obj):
        children = fn(obj)
    elif _is_builtin(obj):
        children = []
    else:
        children = _attribute_children(obj)
    for attr, child in children:
        child_path = _join(path, attr)
        if isinstance(child, (list, tuple)):
            _visit_container(child, child_path, out, visited, has_path, set())
        elif child is not None:
            _visit(child, child_path, out, visited, has_path)


def _visit_container(items, path, out, visited, has_path, seen_containers):
    from kzoo.engine.base_layer import Layer
    if id(items) in seen_containers:
        return
    seen_containers.add(id(items))
    used = {}
    for item in items:
        if isinstance(item, Layer):
            name = _unique(keras3_snake_case(keras_class_name(item, 3)), used)
            _visit(item, _join(path, name), out, visited, has_path)
        elif isinstance(item, (list, tuple, dict)):
            name = _unique('container', used)
            nested = _join(path, name)
            if has_path is not None and not has_path(nested):
                continue  # a file from before Keras PR 22362: these layers sit in `layers`
            values = list(item.values()) if isinstance(item, dict) else item
            _visit_container(values, nested, out, visited, has_path, seen_containers)


def _is_container(obj):
    from kzoo.engine.network import Container
    return isinstance(obj, Container)


_SKIP = {'input', 'output', 'input_shape', 'output_shape', 'inbound_nodes', 'outbound_nodes',
         'weights', 'trainable_weights', 'non_trainable_weights', 'losses', 'inputs',
         'outputs', 'input_layers', 'output_layers'}


def _name_key(name):
    return '~' + name if name.startswith('_') else name


def _attribute_children(obj):
    """Keras 3's attribute walk over a custom object: layers and containers of layers."""
    from kzoo.engine.base_layer import Layer
    children = []
    if _is_container(obj):
        children.append(('layers', list(obj.layers)))
    for attr in sorted(dir(obj), key=_name_key):
        if attr.startswith('__') or attr in _SKIP or attr.startswith('_inbound') \
                or attr.startswith('_outbound') or attr == '_weight_specs':
            continue
        try:
            value = getattr(obj, attr)
        except Exception:
            continue
        if isinstance(value, Layer) and value is not obj:
            children.append((attr, value))
        elif isinstance(value, dict) and any(isinstance(v, (Layer, list, tuple))
                                             for v in value.values()):
            children.append((attr, list(value.values())))
        elif isinstance(value, (list, tuple)) and _holds_layers(value):
            children.append((attr, value))
    return children


def _holds_layers(items, depth=0):
    from kzoo.engine.base_layer import Layer
    if depth > 8:
        return False
    for item in items:
        if isinstance(item, Layer):
            return True
        if isinstance(item, (list, tuple)) and _holds_layers(item, depth + 1):
            return True
    return False
