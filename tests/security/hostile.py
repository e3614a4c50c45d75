"""The 26 hostile inputs of ``docs/security.md``, built on the fly.

Each item of the list has a number, a short title and one or more *variants*; a
variant is built into a :class:`Box` as a :class:`Case`: the files (or text, or
served bytes) a user would hand to kzoo, the *kind* of input it is (which decides the
entry points that read it, :mod:`tests.security.entry_points`), and what kzoo must
do with it: refuse it with a given kzoo error whose message matches a pattern naming
what was refused (``expect='refused'``), or, for odd but legitimate inputs, accept
it (``expect='accepted'``).

A :class:`Box` is one folder per test::

    in/        the input files the user names
    out/       where the user lets kzoo write (conversion results, the cache)
    outside/   files a hostile input points at: kzoo must never open them
    tmp/       TMPDIR of the process under test (must end empty)
    home/      HOME of the process under test (nothing may appear there)
    pwned      the sentinel a payload would create (must never exist)
    escaped    where a '../' or absolute-path escape would land (must never exist)

Nothing here is committed as a binary; every file is generated, deterministically.

>>> import tempfile
>>> box = Box(tempfile.mkdtemp())
>>> case = build(1, 'document', box)
>>> case.kind, case.refused, os.path.exists(case.paths['model'])
('yaml', 'UnsafeInputError', True)
>>> len(ITEMS)
26
"""
import collections
import hashlib
import io
import json
import os
import pickle
import shutil
import stat
import tarfile
import zipfile

import numpy as np

CORPUS = os.environ.get('KZOO_CORPUS', '/work/shared/corpus')


# ---- the box and the case -------------------------------------------------------------

class Box(object):
    """The folders of one test (see the module docstring)."""

    def __init__(self, root):
        self.root = os.path.abspath(os.fspath(root))
        for name in ('in', 'out', 'outside', 'tmp', 'home'):
            os.makedirs(os.path.join(self.root, name), exist_ok=True)
        self.inp = os.path.join(self.root, 'in')
        self.out = os.path.join(self.root, 'out')
        self.outside = os.path.join(self.root, 'outside')
        self.tmp = os.path.join(self.root, 'tmp')
        self.home = os.path.join(self.root, 'home')
        self.sentinel = os.path.join(self.root, 'pwned')
        self.escaped = os.path.join(self.root, 'escaped')
        # A readable file of the right size for anything that tries to read outside.
        secret = os.path.join(self.outside, 'secret.bin')
        if not os.path.exists(secret):
            with open(secret, 'wb') as f:
                f.write(np.arange(6, dtype='float32').tobytes())

    def path(self, *parts):
        return os.path.join(self.inp, *parts)


class Case(object):
    """One hostile input, ready to hand to an entry point.

    ``paths``: role -> file (``'model'``, ``'weights'``, ``'config'``, ...);
    ``served``: URL path -> bytes for the loopback server, with ``faults``
    (``[(url path, kind, params)]``); ``refused``: the kzoo error class name expected;
    ``match``: a regular expression the message must match; ``size``: the input's real
    size in bytes (memory is bounded by a small multiple of it).
    """

    def __init__(self, number, key, variant, kind, paths=None, refused='KzooError',
                 match='', expect='refused', served=None, faults=(), extra=None):
        self.number, self.key, self.variant, self.kind = number, key, variant, kind
        self.paths = dict(paths or {})
        self.refused, self.match, self.expect = refused, match, expect
        self.served = dict(served or {})
        self.faults = list(faults)
        self.extra = dict(extra or {})
        self.size = sum(os.path.getsize(p) for p in self.paths.values()
                        if isinstance(p, str) and os.path.isfile(p)) + \
            sum(len(v) for v in self.served.values())

    @property
    def name(self):
        return '%02d_%s[%s]' % (self.number, self.key, self.variant)

    def __repr__(self):
        return '<Case %s (%s)>' % (self.name, self.kind)


Item = collections.namedtuple('Item', 'number key title variants kind weights')
ITEMS = collections.OrderedDict()


def item(number, key, title, variants, kind, weights=False):
    """Register the builder ``fn(box, variant) -> Case`` of item ``number``.

    ``kind``: the kind of input every variant is, or ``fn(variant) -> kind`` (known
    without building, so tests can be parametrized by entry point at collection);
    ``weights``: the hostile part is in the weights (so ``load_weights`` of a
    whole-model file reads it too).
    """
    def register(fn):
        if number in ITEMS:
            raise ValueError('hostile item %d registered twice' % number)
        ITEMS[number] = Item(number, key, title, tuple(variants), kind, weights)
        _BUILDERS[number] = fn
        return fn
    return register


def kind_of(number, variant):
    """``(kind, weights_hostile)`` of a variant, without building it."""
    spec = ITEMS[number]
    kind = spec.kind(variant) if callable(spec.kind) else spec.kind
    weights = spec.weights(variant) if callable(spec.weights) else spec.weights
    return kind, weights


_BUILDERS = {}


def build(number, variant, box):
    """Build variant ``variant`` of item ``number`` into ``box``."""
    spec = ITEMS[number]
    if variant not in spec.variants:
        raise KeyError('item %d has no variant %r (it has %s)' % (number, variant,
                                                                  ', '.join(spec.variants)))
    case = _BUILDERS[number](box, variant)
    kind, weights = kind_of(number, variant)
    assert case.kind == kind, (case, kind)
    case.extra['weights_hostile'] = weights
    if kind in ('h5-weights', 'keras3-weights') and 'config' not in case.paths:
        # the architecture a user converting these weights would name (clean)
        case.paths['config'] = write(box.path('clean_model.json'), small_model().to_json())
    return case


def all_variants():
    """``[(number, variant)]`` for every hostile input."""
    return [(n, v) for n, spec in ITEMS.items() for v in spec.variants]


# ---- clean material ----------------------------------------------------------------------

def small_model():
    """The clean model every hostile file is derived from: Dense(2) on 3 inputs."""
    from kzoo.layers import Dense
    from kzoo.models import Sequential
    return Sequential([Dense(2, input_dim=3, name='d')], name='s')


def small_config():
    return json.loads(small_model().to_json())


def functional_config():
    from kzoo.layers import Dense, Input
    from kzoo.models import Model
    x = Input(shape=(3,), name='x')
    return json.loads(Model(x, Dense(2, name='d')(x), name='f').to_json())


def payload_code(sentinel):
    """Marshalled bytecode of a function that would write ``sentinel`` (never called)."""
    from kzoo.utils.safe_mode import func_dump

    def make(path):
        return lambda x: (open(path, 'w').write('pwned'), x)[1]
    return list(func_dump(make(sentinel)))


class Payload(object):
    """Unpickling this runs ``touch <sentinel>`` (``__reduce__``)."""

    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, ('touch %s' % self.sentinel,))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)
    return path


def rewrite_zip(path, replace=(), drop=(), compression=zipfile.ZIP_STORED):
    """Rewrite the zip at ``path`` with members replaced/added and some dropped."""
    with zipfile.ZipFile(path) as z:
        members = collections.OrderedDict((n, z.read(n)) for n in z.namelist())
    for name in drop:
        members.pop(name, None)
    members.update(replace)
    with zipfile.ZipFile(path, 'w', compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _carry_config(box, carrier, config=None, text=None):
    """Put a model config (a dict, or raw ``text``) into a file of kind ``carrier``:
    ``json``, ``yaml``, ``h5-model`` (the ``model_config`` attribute) or ``keras``."""
    import h5py
    if text is None:
        text = json.dumps(config)
    if carrier == 'json':
        return {'model': write(box.path('model.json'), text)}
    if carrier == 'yaml':
        import yaml
        body = text if config is None else yaml.safe_dump(config)
        return {'model': write(box.path('model.yaml'), body)}
    if carrier == 'h5-model':
        path = box.path('model.h5')
        small_model().save(path)
        with h5py.File(path, 'r+') as f:
            f.attrs['model_config'] = text  # variable length: any size fits
        return {'model': path}
    if carrier == 'keras':
        path = box.path('model.keras')
        small_model().save(path)
        rewrite_zip(path, {'config.json': text.encode()})
        return {'model': path}
    raise ValueError('unknown config carrier %r' % carrier)


def _config_case(number, key, variant, box, carrier, config=None, text=None, refused='',
                 match=''):
    return Case(number, key, variant, carrier, _carry_config(box, carrier, config, text),
                refused=refused, match=match)


CONFIG_CARRIERS = ('json', 'yaml', 'h5-model', 'keras')


def _variants(names, carriers=CONFIG_CARRIERS):
    return ['%s-%s' % (n, c) for n in names for c in carriers]


def _split(variant):
    """``('name', 'carrier')`` from a variant named ``name-carrier``."""
    for carrier in sorted(CONFIG_CARRIERS, key=len, reverse=True):
        if variant.endswith('-' + carrier):
            return variant[:-len(carrier) - 1], carrier
    raise ValueError('variant %r names no carrier' % variant)


# ---- 1-2: YAML -------------------------------------------------------------------------

@item(1, 'yaml_python_tag', 'YAML with a Python tag', ['document', 'in_config', 'name_tag'],
      kind='yaml')
def _yaml_python_tag(box, variant):
    command = 'touch %s' % box.sentinel
    if variant == 'document':
        text = '!!python/object/apply:os.system [%s]\n' % json.dumps(command)
    elif variant == 'name_tag':
        text = small_model().to_yaml().replace('activation: linear',
                                               'activation: !!python/name:os.system')
    else:
        text = small_model().to_yaml().replace(
            'units: 2', 'units: !!python/object/apply:os.system [%s]' % json.dumps(command))
    assert '!!python' in text
    return Case(1, 'yaml_python_tag', variant, 'yaml',
                {'model': write(box.path('model.yaml'), text)},
                refused='UnsafeInputError', match=r'(?i)yaml tag|safe loader')


def alias_bomb_lines(prefix=''):
    lines = ['%sa: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]' % prefix]
    for i, name in enumerate('bcdefghi'):
        prev = 'abcdefghi'[i]
        lines.append('%s%s: &%s [%s]' % (prefix, name, name, ', '.join(['*' + prev] * 10)))
    return lines


@item(2, 'yaml_alias_bomb', 'YAML alias bomb', ['document', 'in_config'],
      kind='yaml')
def _yaml_alias_bomb(box, variant):
    if variant == 'document':
        text = '\n'.join(alias_bomb_lines())
    else:  # the bomb hides in a model config's extra key
        text = small_model().to_yaml() + 'extra:\n' + '\n'.join(alias_bomb_lines('  '))
    return Case(2, 'yaml_alias_bomb', variant, 'yaml',
                {'model': write(box.path('model.yaml'), text + '\n')},
                refused='UnsafeInputError', match='alias bomb')


# ---- 3-5: Lambda bytecode ------------------------------------------------------------------

def lambda_config(sentinel, field='function'):
    """The small model plus a Lambda whose ``function`` (or ``output_shape``) is code."""
    config = small_config()
    lam = {'module': 'keras.layers', 'class_name': 'Lambda', 'registered_name': None,
           'config': {'name': 'evil', 'trainable': True, 'dtype': 'float32',
                      'function': 'linear', 'function_type': 'function',
                      'output_shape': None, 'output_shape_type': 'raw', 'arguments': {}}}
    if field == 'function':
        lam['config'].update(function=payload_code(sentinel), function_type='lambda')
    else:
        lam['config'].update(output_shape=payload_code(sentinel), output_shape_type='lambda')
    config['config']['layers'].append(lam)
    return config


def keras3_lambda_config(sentinel):
    """A Keras 3 style Lambda: ``{'class_name': '__lambda__', 'config': {'code': ...}}``."""
    config = small_config()
    code = payload_code(sentinel)[0]
    config['config']['layers'].append({
        'module': 'keras.layers', 'class_name': 'Lambda', 'registered_name': None,
        'config': {'name': 'evil', 'trainable': True, 'dtype': 'float32',
                   'function': {'class_name': '__lambda__',
                                'config': {'code': code, 'defaults': None, 'closure': None}},
                   'output_shape': None, 'arguments': {}}})
    return config


@item(3, 'h5_lambda_bytecode', '.h5 with a Lambda of marshalled code', ['function'],
      kind='h5-model')
def _h5_lambda(box, variant):
    return _config_case(3, 'h5_lambda_bytecode', variant, box, 'h5-model',
                        lambda_config(box.sentinel), refused='UnsafeInputError',
                        match=r"'evil'.*marshalled")


@item(4, 'keras_lambda_bytecode', '.keras with a Lambda of marshalled code',
      ['keras2_style', 'keras3_style'],
      kind='keras')
def _keras_lambda(box, variant):
    config = lambda_config(box.sentinel) if variant == 'keras2_style' else \
        keras3_lambda_config(box.sentinel)
    return _config_case(4, 'keras_lambda_bytecode', variant, box, 'keras', config,
                        refused='UnsafeInputError', match=r"'evil'.*(marshalled|code)")


@item(5, 'lambda_output_shape', 'Lambda payload in output_shape only', ['h5', 'json'],
      kind=lambda v: 'h5-model' if v == 'h5' else 'json')
def _lambda_output_shape(box, variant):
    carrier = 'h5-model' if variant == 'h5' else 'json'
    return _config_case(5, 'lambda_output_shape', variant, box, carrier,
                        lambda_config(box.sentinel, field='output_shape'),
                        refused='UnsafeInputError', match='output_shape')


# ---- 6-8: class and function gadgets ---------------------------------------------------------

@item(6, 'module_os_system', 'config with module: os, class_name: system',
      _variants(['sequential', 'functional']) + ['builtins_eval-json'],
      kind=lambda v: _split(v)[1])
def _module_os_system(box, variant):
    name, carrier = _split(variant)
    entry = {'module': 'os', 'class_name': 'system', 'registered_name': None,
             'config': {'command': 'touch %s' % box.sentinel, 'name': 'evil'}}
    if name == 'builtins_eval':
        entry = {'module': 'builtins', 'class_name': 'eval', 'config': {'source': '1'}}
        config = small_config()
        config['config']['layers'].append(entry)
    elif name == 'sequential':
        config = small_config()
        config['config']['layers'].append(entry)
    else:  # a functional model: the gadget sits beside the graph, connected to nothing
        config = functional_config()
        config['config']['layers'].append(dict(entry, name='evil', inbound_nodes=[]))
    return _config_case(6, 'module_os_system', variant, box, carrier, config,
                        refused='ConfigError', match=r"'system'|'eval'")


@item(7, 'registered_name_popen', 'registered_name: subprocess.Popen on a Dense',
      _variants(['dense']),
      kind=lambda v: _split(v)[1])
def _registered_name(box, variant):
    _, carrier = _split(variant)
    config = small_config()
    dense = config['config']['layers'][-1]
    dense['registered_name'] = 'subprocess.Popen'
    dense['module'] = 'subprocess'
    return _config_case(7, 'registered_name_popen', variant, box, carrier, config,
                        refused='UnsafeInputError', match=r'subprocess\.Popen')


LOADER_VARIANTS = ('layer_class', 'activation', 'lambda_function', 'initializer')


@item(8, 'loader_function', 'config naming a loader function',
      _variants(LOADER_VARIANTS, ('json', 'h5-model')),
      kind=lambda v: _split(v)[1])
def _loader_function(box, variant):
    name, carrier = _split(variant)
    config = small_config()
    layers = config['config']['layers']
    dense = layers[-1]['config']
    if name == 'layer_class':
        layers.append({'module': 'keras.saving', 'class_name': 'load_model',
                       'registered_name': None,
                       'config': {'filepath': box.path('other.keras'), 'name': 'evil'}})
        target = 'load_model'
    elif name == 'activation':
        dense['activation'] = {'module': 'keras.saving', 'class_name': 'function',
                               'config': 'load_model', 'registered_name': 'function'}
        target = 'load_model'
    elif name == 'lambda_function':
        layers.append({'module': 'keras.layers', 'class_name': 'Lambda',
                       'registered_name': None,
                       'config': {'name': 'evil', 'function': {
                           'module': 'keras.config', 'class_name': 'function',
                           'config': 'enable_unsafe_deserialization',
                           'registered_name': 'function'}, 'arguments': {}}})
        target = 'enable_unsafe_deserialization'
    else:
        dense['kernel_initializer'] = {'module': 'keras.config',
                                       'class_name': 'enable_unsafe_deserialization',
                                       'config': {}, 'registered_name': None}
        target = 'enable_unsafe_deserialization'
    return _config_case(8, 'loader_function', variant, box, carrier, config,
                        refused='ConfigError', match=target)


# ---- 9-12: HDF5 links, virtual and external storage, bombs -----------------------------------

def _h5_model(box):
    path = box.path('model.h5')
    small_model().save(path)
    return path


def _h5_weights(box):
    path = box.path('weights.h5')
    small_model().save_weights(path)
    return path


def _k3_weights(box):
    path = box.path('model.weights.h5')
    small_model().save_weights(path)
    return path


def _outside_h5(box):
    """A real weights file outside the named paths: what a link would pull in."""
    path = os.path.join(box.outside, 'other.h5')
    if not os.path.exists(path):
        small_model().save_weights(path)
    return path


def _keras_with_weights(box, edit):
    """A .keras archive whose model.weights.h5 went through ``edit(h5py.File)``."""
    import h5py
    path = box.path('model.keras')
    small_model().save(path)
    weights = box.path('inner.weights.h5')
    with zipfile.ZipFile(path) as z:
        write(weights, z.read('model.weights.h5'))
    with h5py.File(weights, 'r+') as f:
        edit(f)
    with open(weights, 'rb') as f:
        data = f.read()
    os.remove(weights)
    rewrite_zip(path, {'model.weights.h5': data})
    return path


_K3_KERNEL = 'layers/dense/vars/0'


def _replace_dataset(f, path, make):
    parent, _, name = path.rpartition('/')
    group = f[parent] if parent else f
    del group[name]
    make(group, name)


def _edit_case(number, key, variant, box, layout, make, refused, match):
    """Build a weights-bearing file of ``layout`` and let ``make(group, name)`` replace
    its kernel dataset (or the whole link) with a hostile one."""
    import h5py
    if layout == 'h5-weights':
        path, target, kind = _h5_weights(box), 'd/d/kernel:0', 'h5-weights'
    elif layout == 'h5-model':
        path, target, kind = _h5_model(box), 'model_weights/d/d/kernel:0', 'h5-model'
    elif layout == 'keras3-weights':
        path, target, kind = _k3_weights(box), _K3_KERNEL, 'keras3-weights'
    elif layout == 'keras':
        path = _keras_with_weights(box, lambda f: _replace_dataset(f, _K3_KERNEL, make))
        return Case(number, key, variant, 'keras', {'model': path}, refused=refused,
                    match=match, extra={'weights_hostile': True})
    else:
        raise ValueError(layout)
    with h5py.File(path, 'r+') as f:
        _replace_dataset(f, target, make)
    role = 'model' if kind == 'h5-model' else 'weights'
    return Case(number, key, variant, kind, {role: path}, refused=refused, match=match,
                extra={'weights_hostile': True})


LAYOUTS = ('h5-weights', 'h5-model', 'keras3-weights', 'keras')


@item(9, 'hdf5_external_link', 'HDF5 ExternalLink as model_weights',
      ['model_weights', 'layer_group'] + ['dataset-%s' % l for l in LAYOUTS],
      kind=lambda v: {'model_weights': 'h5-model', 'layer_group': 'h5-weights'}.get(
          v) or v.split('-', 1)[1], weights=True)
def _external_link(box, variant):
    import h5py
    other = _outside_h5(box)
    match = 'ExternalLink'
    if variant == 'model_weights':
        path = _h5_model(box)
        with h5py.File(path, 'r+') as f:
            del f['model_weights']
            f['model_weights'] = h5py.ExternalLink(other, '/')
        return Case(9, 'hdf5_external_link', variant, 'h5-model', {'model': path},
                    refused='UnsafeInputError', match=match, extra={'weights_hostile': True})
    if variant == 'layer_group':
        path = _h5_weights(box)
        with h5py.File(path, 'r+') as f:
            del f['d']
            f['d'] = h5py.ExternalLink(other, '/d')
        return Case(9, 'hdf5_external_link', variant, 'h5-weights', {'weights': path},
                    refused='UnsafeInputError', match=match)
    layout = variant.split('-', 1)[1]

    def make(group, name):
        group[name] = h5py.ExternalLink(other, '/d/d/kernel:0')
    return _edit_case(9, 'hdf5_external_link', variant, box, layout, make,
                      'UnsafeInputError', match)


@item(10, 'hdf5_softlink_cycle', 'HDF5 SoftLink cycle',
      ['cycle-%s' % l for l in LAYOUTS] + ['to_root'],
      kind=lambda v: 'keras3-weights' if v == 'to_root' else v.split('-', 1)[1], weights=True)
def _softlink(box, variant):
    import h5py
    if variant == 'to_root':  # a link to an ancestor: a walk would never end
        path = _k3_weights(box)
        with h5py.File(path, 'r+') as f:
            f['layers/dense/loop'] = h5py.SoftLink('/layers')
        return Case(10, 'hdf5_softlink_cycle', variant, 'keras3-weights',
                    {'weights': path}, refused='UnsafeInputError', match='SoftLink')
    layout = variant.split('-', 1)[1]

    def make(group, name):
        group[name] = h5py.SoftLink(group.name + '/' + name)  # points at itself
    return _edit_case(10, 'hdf5_softlink_cycle', variant, box, layout, make,
                      'UnsafeInputError', 'SoftLink')


@item(11, 'hdf5_virtual_dataset', 'virtual dataset into another file',
      ['virtual-%s' % l for l in LAYOUTS] + ['external_storage-h5-weights',
                                              'external_storage-keras3-weights'],
      kind=lambda v: v.split('-', 1)[1], weights=True)
def _virtual(box, variant):
    import h5py
    kind, layout = variant.split('-', 1)
    if kind == 'virtual':
        source = os.path.join(box.outside, 'source.h5')
        if not os.path.exists(source):
            with h5py.File(source, 'w') as f:
                f['k'] = np.ones((3, 2), 'float32')

        def make(group, name):
            vl = h5py.VirtualLayout(shape=(3, 2), dtype='float32')
            vl[:] = h5py.VirtualSource(source, 'k', shape=(3, 2))
            group.create_virtual_dataset(name, vl)
        match = 'virtual'
    else:
        raw = os.path.join(box.outside, 'secret.bin')

        def make(group, name):
            group.create_dataset(name, shape=(3, 2), dtype='float32', external=[(raw, 0, 24)])
        match = 'external storage'
    return _edit_case(11, 'hdf5_virtual_dataset', variant, box, layout, make,
                      'UnsafeInputError', match)


@item(12, 'hdf5_fill_bomb', 'compressed fill-only dataset of shape (2**40,)',
      ['bomb-%s' % l for l in LAYOUTS] + ['bomb_2d-h5-weights', 'config_bomb-h5-model',
                                          'config_bomb-keras'],
      kind=lambda v: v.split('-', 1)[1], weights=lambda v: not v.startswith('config'))
def _fill_bomb(box, variant):
    """A dataset declaring 4 TiB in a file of a few KB; and its cousin, a config
    declaring a 16 GiB layer in a file whose weights are a few bytes."""
    if variant.startswith('config_bomb'):
        config = small_config()
        config['config']['layers'][0]['config']['batch_input_shape'] = [None, 2 ** 16]
        config['config']['layers'][-1]['config']['units'] = 2 ** 16
        return _config_case(12, 'hdf5_fill_bomb', variant, box, variant.split('-', 1)[1],
                            config, refused='UnsafeInputError', match='more than the file')
    shape = (2 ** 40,) if not variant.startswith('bomb_2d') else (2 ** 20, 2 ** 20)
    chunks = (1 << 16,) if len(shape) == 1 else (256, 256)

    def make(group, name):
        group.create_dataset(name, shape=shape, dtype='float32', chunks=chunks,
                             compression='gzip')
    return _edit_case(12, 'hdf5_fill_bomb', variant, box, variant.split('-', 1)[1], make,
                      'UnsafeInputError', 'bomb')


# ---- 13: corrupted copies of real files ------------------------------------------------------

CORRUPTION_SOURCES = collections.OrderedDict([
    ('h5', os.path.join(CORPUS, 'keras', 'dl4j__cnn_tf_model.h5')),
    ('h5_keras1', os.path.join(CORPUS, 'keras', 'dl4j__conv2d_theano_1.h5')),
    ('keras', os.path.join(CORPUS, 'keras', 'keras-mlx__model.keras')),
    ('onnx', os.path.join(CORPUS, 'onnx', 'onnx2c__conv_k2_maxpool_k2.onnx')),
])


def corrupt(data, rng):
    """A truncated or bit-flipped copy of ``data`` (seeded by ``rng``)."""
    if rng.random() < 0.5:
        return data[:int(rng.integers(0, len(data)))]
    bad = bytearray(data)
    for offset in rng.integers(0, len(data), size=int(rng.integers(1, 16))):
        bad[offset] ^= 1 << int(rng.integers(0, 8))
    return bytes(bad)


@item(13, 'corrupted_copies', 'truncated and bit-flipped copies of a real model file',
      list(CORRUPTION_SOURCES),
      kind=lambda v: {'keras': 'keras', 'onnx': 'onnx'}.get(v, 'h5-model'))
def _corrupted(box, variant):
    """The case names the source; the copies are made where they are read
    (:func:`tests.security.entry_points.corrupted_batch`), a few hundred, seeded."""
    source = CORRUPTION_SOURCES[variant]
    kind = {'h5': 'h5-model', 'h5_keras1': 'h5-model', 'keras': 'keras',
            'onnx': 'onnx'}[variant]
    path = box.path('source' + os.path.splitext(source)[1])
    if os.path.exists(source):
        shutil.copyfile(source, path)
    return Case(13, 'corrupted_copies', variant, kind, {'model': path}, refused='KzooError',
                match='', expect='either', extra={'source': source})


# ---- 14-15: .keras archives ----------------------------------------------------------------

BOMB_BYTES = 512 << 20
_BOMBS = {}


def _zip_member_of_zeros(z, name, size, zip64=True):
    """A deflated member of ``size`` zero bytes, streamed (never held in memory)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = b'\0' * (1 << 20)
    with z.open(info, 'w', force_zip64=zip64) as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)


def _lying_zip(path, liar, real_size):
    """Add member ``liar`` to the zip at ``path``: ``real_size`` zero bytes, deflated,
    whose headers declare only 1,000 bytes."""
    import struct
    with zipfile.ZipFile(path, 'a') as z:
        _zip_member_of_zeros(z, liar, real_size, zip64=False)
    with open(path, 'r+b') as f, zipfile.ZipFile(path) as z:
        info = z.getinfo(liar)
        f.seek(info.header_offset + 22)          # local header: uncompressed size
        f.write(struct.pack('<L', 1000))
        f.seek(0)
        central = f.read().rindex(b'PK\x01\x02')  # the liar's: the last entry
        f.seek(central + 24)                      # central directory: uncompressed size
        f.write(struct.pack('<L', 1000))


@item(14, 'keras_zip_bomb', '.keras zip bomb', ['weights_member', 'config_member',
                                                 'lying_header'],
      kind='keras')
def _keras_zip_bomb(box, variant):
    path = box.path('bomb.keras')
    small_model().save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if variant == 'lying_header':
        rewrite_zip(path, drop=['model.weights.h5'])
        _lying_zip(path, 'model.weights.h5', 64 << 20)
        match = r'larger than it declares|CRC|corrupt|cannot read'
        refused = 'KzooError'
    else:
        bomb = 'model.weights.h5' if variant == 'weights_member' else 'config.json'
        members.pop(bomb)
        if variant not in _BOMBS:  # deflating 512 MiB takes a while: once per process
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, 'w') as z:
                for name, data in members.items():
                    z.writestr(name, data)
                _zip_member_of_zeros(z, bomb, BOMB_BYTES)
            _BOMBS[variant] = buf.getvalue()
        write(path, _BOMBS[variant])
        match = 'zip bomb'
        refused = 'UnsafeInputError'
    assert os.path.getsize(path) < 2 << 20
    return Case(14, 'keras_zip_bomb', variant, 'keras', {'model': path}, refused=refused,
                match=match)


TRAVERSAL_MEMBERS = {'dotdot': '../x', 'deep_dotdot': '../../../../escaped',
                     'absolute': None, 'nested': 'assets/../../x', 'backslash': '..\\x'}


@item(15, 'keras_member_traversal', '.keras with members ../x and absolute names',
      list(TRAVERSAL_MEMBERS),
      kind='keras')
def _keras_traversal(box, variant):
    path = box.path('trav.keras')
    small_model().save(path)
    member = TRAVERSAL_MEMBERS[variant] or box.escaped
    rewrite_zip(path, {member: b'x'})
    return Case(15, 'keras_member_traversal', variant, 'keras', {'model': path},
                refused='UnsafeInputError', match='absolute or parent')


# ---- 16: layer names ------------------------------------------------------------------------

HOSTILE_NAMES = collections.OrderedDict([
    ('parent', '../../x'), ('dot', '.'), ('empty', ''), ('nul', 'a\x00b'),
    ('long', 'n' * 70000), ('slash', 'a/b'), ('absolute', '/d')])
# names a weights file may legitimately hold ('a/b' is nested groups in Keras too)
ACCEPTED_NAMES = ('slash',)


@item(16, 'hostile_layer_names', 'layer names ../../x, a/b, empty, NUL, very long',
      list(HOSTILE_NAMES),
      kind='h5-weights', weights=True)
def _layer_names(box, variant):
    """A weights file whose ``layer_names`` names ``name``; a group of that name holds
    the weights where HDF5 can hold such a name."""
    import h5py
    name = HOSTILE_NAMES[variant]
    path = _h5_weights(box)
    with h5py.File(path, 'r+') as f:
        f.attrs['layer_names'] = np.array([name.encode()], dtype=object) \
            if '\x00' not in name else np.array([name.encode()])
        if variant in ACCEPTED_NAMES:
            f.move('d', 'moved')
            f.create_group('a')
            f.move('moved', name)
    accepted = variant in ACCEPTED_NAMES
    return Case(16, 'hostile_layer_names', variant, 'h5-weights', {'weights': path},
                refused='FileFormatError', match=r'layer|object|name|member',
                expect='accepted' if accepted else 'refused', extra={'name': name})


# ---- 17-19: ONNX external data ----------------------------------------------------------------

def onnx_model(initializer_edit=None, dims=(3, 2)):
    """A one-node ONNX model (MatMul by an initializer ``W``) as a ModelProto."""
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.arange(6, dtype='float32').reshape(3, 2), 'W')
    if initializer_edit is not None:
        initializer_edit(w)
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'W'], ['y'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [None, 2])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])


def _external(location, offset=None, length=None):
    from onnx import TensorProto

    def edit(w):
        w.ClearField('raw_data')
        w.data_location = TensorProto.EXTERNAL
        for key, value in (('location', location), ('offset', offset), ('length', length)):
            if value is not None:
                entry = w.external_data.add()
                entry.key, entry.value = key, str(value)
    return edit


def _save_onnx(box, proto, name='model.onnx'):
    path = box.path(name)
    write(path, proto.SerializeToString())
    return path


def _onnx_case(number, key, variant, box, edit, refused, match):
    path = _save_onnx(box, onnx_model(edit))
    return Case(number, key, variant, 'onnx', {'model': path}, refused=refused, match=match)


@item(17, 'onnx_external_traversal', 'ONNX external data with ../ and absolute locations',
      ['dotdot', 'deep_dotdot', 'absolute', 'inner_dotdot', 'etc_passwd'],
      kind='onnx')
def _onnx_traversal(box, variant):
    location = {'dotdot': '../outside/secret.bin',
                'deep_dotdot': '../' * 12 + box.outside.lstrip('/') + '/secret.bin',
                'absolute': os.path.join(box.outside, 'secret.bin'),
                'inner_dotdot': 'sub/../../outside/secret.bin',
                'etc_passwd': '../../../../../../../../etc/passwd'}[variant]
    os.makedirs(box.path('sub'), exist_ok=True)
    return _onnx_case(17, 'onnx_external_traversal', variant, box, _external(location),
                      'UnsafeInputError', r'leaves the model folder|relative path')


@item(18, 'onnx_external_symlink', 'ONNX external data through a symlink',
      ['file_link', 'folder_link'],
      kind='onnx')
def _onnx_symlink(box, variant):
    if variant == 'file_link':
        os.symlink(os.path.join(box.outside, 'secret.bin'), box.path('data.bin'))
        location = 'data.bin'
    else:
        os.symlink(box.outside, box.path('sub'))
        location = 'sub/secret.bin'
    return _onnx_case(18, 'onnx_external_symlink', variant, box, _external(location),
                      'UnsafeInputError', 'symbolic link')


@item(19, 'onnx_huge_dims', 'ONNX tensor dims [2**62, 4] with four bytes of data',
      ['inline', 'external', 'overflow'],
      kind='onnx')
def _onnx_huge(box, variant):
    def edit(w):
        del w.dims[:]
        if variant == 'overflow':
            w.dims.extend([2 ** 62, 2 ** 62, 2 ** 62])
        else:
            w.dims.extend([2 ** 62, 4])
        w.raw_data = b'\0\0\0\0'
        if variant == 'external':
            write(box.path('data.bin'), b'\0\0\0\0')
            _external('data.bin')(w)
    return _onnx_case(19, 'onnx_huge_dims', variant, box, edit, 'FileFormatError',
                      r'declares dims')


# ---- 20-21: archives --------------------------------------------------------------------------

def _tar(entries):
    """A tar.gz from ``[(TarInfo fields dict, data or None)]``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz', format=tarfile.GNU_FORMAT) as tar:
        for fields, data in entries:
            info = tarfile.TarInfo(fields.pop('name'))
            for k, v in fields.items():
                setattr(info, k, v)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _archive_case(number, key, variant, box, name, data, match):
    served = {'/' + name: data}
    return Case(number, key, variant, 'tar' if name.endswith('.tar.gz') else 'zip',
                refused='UnsafeInputError', match=match, served=served,
                extra={'fname': name, 'sha256': hashlib.sha256(data).hexdigest()})


TAR_VARIANTS = ['dotdot', 'deep_dotdot', 'absolute', 'symlink_etc', 'symlink_out',
                'hardlink_out', 'device', 'fifo']


@item(20, 'tar_traversal', 'tar with ../x, absolute paths, symlinks, hard links, devices',
      TAR_VARIANTS,
      kind='tar')
def _tar_traversal(box, variant):
    ok = ({'name': 'data/ok.txt', 'mode': 0o644}, b'fine')
    evil = {
        'dotdot': [({'name': '../x', 'mode': 0o644}, b'x')],
        'deep_dotdot': [({'name': 'data/' + '../' * 6 + 'escaped', 'mode': 0o644}, b'x')],
        'absolute': [({'name': box.escaped, 'mode': 0o644}, b'x')],
        # the classic: a symlink to /etc, then a member written through it
        'symlink_etc': [({'name': 'etc', 'type': tarfile.SYMTYPE, 'linkname': '/etc'}, None),
                        ({'name': 'etc/kzoo-hostile-test', 'mode': 0o644}, b'x')],
        'symlink_out': [({'name': 'data/out', 'type': tarfile.SYMTYPE,
                          'linkname': box.outside}, None),
                        ({'name': 'data/out/secret.bin', 'mode': 0o644}, b'overwritten')],
        'hardlink_out': [({'name': 'data/secret', 'type': tarfile.LNKTYPE,
                           'linkname': os.path.join(box.outside, 'secret.bin')}, None)],
        'device': [({'name': 'data/null', 'type': tarfile.CHRTYPE, 'devmajor': 1,
                     'devminor': 3}, None)],
        'fifo': [({'name': 'data/fifo', 'type': tarfile.FIFOTYPE}, None)],
    }[variant]
    data = _tar([ok] + evil)
    return _archive_case(20, 'tar_traversal', variant, box, 'hostile.tar.gz', data,
                         r'refused')


@item(21, 'zip_traversal', 'zip with ../x', ['dotdot', 'deep_dotdot', 'absolute',
                                             'backslash', 'symlink'],
      kind='zip')
def _zip_traversal(box, variant):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('data/ok.txt', b'fine')
        if variant == 'symlink':
            info = zipfile.ZipInfo('data/out')
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, box.outside)
        else:
            name = {'dotdot': '../x', 'deep_dotdot': '../' * 6 + 'escaped',
                    'absolute': box.escaped, 'backslash': '..\\..\\x'}[variant]
            info = zipfile.ZipInfo(name)  # ZipInfo keeps the name as given
            z.writestr(info, b'x')
    return _archive_case(21, 'zip_traversal', variant, box, 'hostile.zip', buf.getvalue(),
                         r'refused')


# ---- 22-23: pickles -----------------------------------------------------------------------------

@item(22, 'cifar_pickle_payload', 'cifar batch with a __reduce__ payload',
      ['in_data', 'whole_batch', 'npz_object_array'],
      kind=lambda v: 'npz' if v.startswith('npz') else 'cifar')
def _cifar_payload(box, variant):
    """The payload in the CIFAR-10 and CIFAR-100 archives (as the loaders download
    them) and in a batch file; or in the pickled object arrays of imdb/reuters .npz."""
    from tests.datasets import upstream_files as uf
    rng = np.random.default_rng(0)
    evil_object = Payload(box.sentinel)
    served, archives = {}, {}
    if variant == 'npz_object_array':
        payload = np.empty(1, dtype=object)
        payload[0] = evil_object
        files = {'imdb': uf.npz({'x_train': payload, 'y_train': np.zeros(1, 'int64'),
                                 'x_test': payload, 'y_test': np.zeros(1, 'int64')}),
                 'reuters': uf.npz({'x': payload, 'y': np.zeros(1, 'int64')})}
        for name, data in files.items():
            served['/%s.npz' % name] = data
            archives[name] = ('/%s.npz' % name, hashlib.sha256(data).hexdigest())
        return Case(22, 'cifar_pickle_payload', variant, 'npz', refused='UnsafeInputError',
                    match=r'refusing to load .*system', served=served,
                    extra={'archives': archives})
    if variant == 'in_data':
        evil = uf.py2_pickle({b'data': evil_object, b'labels': [1]})
    else:
        evil = pickle.dumps(evil_object, protocol=2)
    _, batches = uf.cifar10_tar(rng)
    members = {'cifar-10-batches-py/%s' % k: uf.py2_pickle(v) for k, v in batches.items()}
    members['cifar-10-batches-py/data_batch_1'] = evil
    _, batches100 = uf.cifar100_tar(rng)
    members100 = {'cifar-100-python/%s' % k: uf.py2_pickle(v) for k, v in batches100.items()}
    members100['cifar-100-python/train'] = evil
    for name, content in (('cifar10', uf.tar_gz(members)), ('cifar100', uf.tar_gz(members100))):
        path = '/%s.tar.gz' % name
        served[path] = content
        archives[name] = (path, hashlib.sha256(content).hexdigest())
    batch = write(box.path('data_batch_1'), evil)
    return Case(22, 'cifar_pickle_payload', variant, 'cifar', {'batch': batch},
                refused='UnsafeInputError', match=r'refusing to load .*system',
                served=served, extra={'archives': archives})


@item(23, 'torch_checkpoint_payload', 'torch checkpoint with a __reduce__ payload',
      ['state_dict', 'tensor_rebuild'],
      kind='torch')
def _torch_payload(box, variant):
    import torch
    path = box.path('weights.pt')
    if variant == 'state_dict':
        state = {'d.weight': Payload(box.sentinel), 'd.bias': torch.zeros(2)}
    else:
        state = collections.OrderedDict([('d.weight', torch.zeros(2, 3)),
                                         ('d.bias', torch.zeros(2))])
        state._metadata = Payload(box.sentinel)
    torch.save(state, path)
    write(box.path('model.json'), small_model().to_json())
    return Case(23, 'torch_checkpoint_payload', variant, 'torch',
                {'weights': path, 'config': box.path('model.json')},
                refused='UnsafeInputError', match=r'(?i)refus.*(pickle|weights_only)')


# ---- 24: downloads -------------------------------------------------------------------------------

DOWNLOAD_VARIANTS = collections.OrderedDict([
    ('hash_mismatch', ('HashMismatchError', r'(?i)sha256 \w+, expected')),
    ('short_body', ('DownloadError', r'(?i)sha256 \w+, expected|short|incomplete|fewer')),
    ('disconnect', ('DownloadError', r'(?i)disconnect|incomplete|connection|ended|broken|'
                                     r'reset|short|fewer')),
    ('redirect_file', ('UnsafeInputError', r'(?i)file:|scheme')),
    ('redirect_loop', ('DownloadError', r'(?i)redirect')),
    ('slow_timeout', ('DownloadError', r'(?i)timed out|timeout')),
])


@item(24, 'download_faults', 'downloads: hash mismatch, short body, disconnect, redirect to '
      'file://, redirect loop, slow server', list(DOWNLOAD_VARIANTS),
      kind='download')
def _download(box, variant):
    """A zip archive (so ``extract=True`` applies) served with a fault; the expected hash
    is the real file's."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('data/a.txt', b'a' * 4000)
        z.writestr('data/b.bin', np.random.default_rng(1).bytes(60000))
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    name = '/files/archive.zip'
    faults = {
        'hash_mismatch': [(name, 'body', {'data': data[:-1] + b'!', 'times': None})],
        'short_body': [(name, 'body', {'data': data[:len(data) // 2], 'times': None})],
        'disconnect': [(name, 'cut', {'at': len(data) // 3, 'times': None})],
        'redirect_file': [(name, 'redirect', {'to': 'file://' + os.path.join(
            box.outside, 'secret.bin'), 'times': None})],
        'redirect_loop': [(name, 'redirect', {'to': name, 'times': None})],
        'slow_timeout': [(name, 'stall', {'seconds': 4, 'times': None})],
    }[variant]
    refused, match = DOWNLOAD_VARIANTS[variant]
    return Case(24, 'download_faults', variant, 'download', refused=refused, match=match,
                served={name: data}, faults=faults,
                extra={'fname': 'archive.zip', 'sha256': sha})


# ---- 25-26: cycles and depth ---------------------------------------------------------------------

def cyclic_config():
    return {'class_name': 'Model', 'config': {
        'name': 'cycle',
        'layers': [{'name': 'in', 'class_name': 'InputLayer',
                    'config': {'batch_input_shape': [None, 2], 'name': 'in'},
                    'inbound_nodes': []},
                   {'name': 'a', 'class_name': 'Dense', 'config': {'units': 2, 'name': 'a'},
                    'inbound_nodes': [[['b', 0, 0, {}]]]},
                   {'name': 'b', 'class_name': 'Dense', 'config': {'units': 2, 'name': 'b'},
                    'inbound_nodes': [[['a', 0, 0, {}]]]}],
        'input_layers': [['in', 0, 0]], 'output_layers': [['b', 0, 0]]}}


def self_loop_config():
    config = cyclic_config()
    config['config']['layers'][2]['inbound_nodes'] = [[['b', 0, 0, {}]]]
    return config


@item(25, 'cyclic_config', 'model config whose layers form a cycle',
      _variants(['two_layers', 'self_loop']),
      kind=lambda v: _split(v)[1])
def _cycle(box, variant):
    name, carrier = _split(variant)
    config = cyclic_config() if name == 'two_layers' else self_loop_config()
    return _config_case(25, 'cyclic_config', variant, box, carrier, config,
                        refused='ConfigError', match=r'cycle|never appear')


def deep_json(depth=100000):
    return '{"class_name": "Sequential", "config": ' + '[' * depth + ']' * depth + '}'


def nested_models_json(depth=10000):
    text = '{"class_name": "Dense", "config": {"units": 1, "name": "d"}}'
    head = ''.join('{"class_name": "Sequential", "config": {"name": "s%d", "layers": [' % i
                   for i in range(depth))
    return head + text + ']}}' * depth


@item(26, 'deep_json', 'JSON nested 100,000 deep',
      _variants(['brackets']) + ['nested_models-json', 'flow_sequence-yaml',
                                 'nested_models_200-json'],
      kind=lambda v: _split(v)[1])
def _deep(box, variant):
    name, carrier = _split(variant)
    if name == 'brackets':
        text = deep_json()
        refused, match = 'FileFormatError', 'nested too deeply'
    elif name == 'nested_models':
        text = nested_models_json()
        refused, match = 'KzooError', r'nested too deeply|levels deep'
    elif name == 'nested_models_200':  # deep enough for kzoo's limit, shallow for json
        text = nested_models_json(200)
        refused, match = 'ConfigError', 'levels deep'
    else:
        refused, match = 'FileFormatError', 'nested too deeply'
    if carrier == 'yaml' and name in ('brackets', 'flow_sequence'):
        text = 'class_name: Sequential\nconfig: ' + '[' * 100000 + ']' * 100000 + '\n'
    return _config_case(26, 'deep_json', variant, box, carrier, text=text, refused=refused,
                        match=match)


assert sorted(ITEMS) == list(range(1, 27)), sorted(ITEMS)
