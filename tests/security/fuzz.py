"""Fuzzing kzoo's readers with mutated copies of real files.

Four readers, each seeded with the real files of ``/work/shared/corpus``:

``hdf5``    ``load_model`` / ``load_weights`` on legacy HDF5 files: raw byte damage
            (truncations, bit flips, overwritten runs) and structural damage made with
            h5py (attributes replaced by hostile values, datasets swapped for other
            shapes, types, links, external or fill-only storage, the model config
            mutated as JSON): files that are valid HDF5 but mean something hostile;
``config``  ``model_from_json`` / ``model_from_yaml`` on the corpus configs: values
            replaced, keys dropped, classes swapped, nesting deepened, text damaged;
``keras``   ``load_model`` on ``.keras`` archives: members mutated (config, metadata,
            the HDF5 weights), renamed, dropped, and the zip's bytes damaged;
``onnx``    ``from_onnx`` on ONNX files: node attributes, tensor dims, data types and
            raw data mutated, inputs renamed, bytes damaged.

A *case* is a JSON-serialisable plan (seed file and a list of mutation operations) drawn
by Hypothesis; the same plan always makes the same file. Reading it must return a
model or raise one of kzoo's documented errors (a :class:`~kzoo.errors.KzooError`);
any other exception is a failure, and so is a crash of the process. Cases run in
child processes (:mod:`tests.security.child`), a batch per child: a child that dies
(a segfault in libhdf5, say) is reported with the plan it was reading, and the
campaign goes on in a new child.

Command line (a long campaign; ``--replay`` re-runs one reported plan in-process)::

    python -m tests.security.fuzz --reader hdf5 --cases 100000
    python -m tests.security.fuzz --reader all --cases 20000 --seed 7
    python -m tests.security.fuzz --reader onnx --replay '{"seed": 3, "ops": [...]}'

The CI tests (``tests/security/test_fuzz.py``) run ``KZOO_FUZZ_CASES`` cases per
reader (2,000 by default).
"""
import argparse
import copy
import functools
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import zipfile

import numpy as np

CORPUS = os.environ.get('KZOO_CORPUS', '/work/shared/corpus')
# Seeds larger than this are left out of the CI campaign (each case reads a whole
# file; small files make more cases per second). --all-seeds takes every file.
SMALL_SEED = 120 << 10


# ---- seeds -------------------------------------------------------------------------------

def _corpus_files(*parts, ext=None):
    folder = os.path.join(CORPUS, *parts)
    if not os.path.isdir(folder):
        return []
    out = []
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if ext is None or name.endswith(ext):
                out.append(os.path.join(root, name))
    return sorted(out)


def _small(paths, all_seeds):
    return [p for p in paths if all_seeds or os.path.getsize(p) <= SMALL_SEED]


def hdf5_seeds(all_seeds=False):
    """``[(h5 path, companion config path or None)]``: whole models, and weights files
    with the config of their model (keras-io-pairs, Keras 1 mnist)."""
    import h5py
    seeds = []
    for path in _small(_corpus_files('keras', ext='.h5') + _corpus_files('keras', ext='.hdf5'),
                       all_seeds):
        if path.endswith('.weights.h5'):
            continue
        try:
            with h5py.File(path, 'r') as f:
                whole = 'model_config' in f.attrs
        except OSError:
            continue
        if whole:
            seeds.append((path, None))
    for folder in sorted(os.listdir(os.path.join(CORPUS, 'keras-io-pairs'))
                         if os.path.isdir(os.path.join(CORPUS, 'keras-io-pairs')) else []):
        base = os.path.join(CORPUS, 'keras-io-pairs', folder, folder)
        if os.path.exists(base + '_model.h5') and (
                all_seeds or os.path.getsize(base + '_model.h5') <= SMALL_SEED):
            seeds.append((base + '_model.h5', None))
        if os.path.exists(base + '_weights.h5') and os.path.exists(base + '_config.json') \
                and (all_seeds or os.path.getsize(base + '_weights.h5') <= SMALL_SEED):
            seeds.append((base + '_weights.h5', base + '_config.json'))
    return seeds


def config_seeds(all_seeds=False):
    """``[config text]``: the corpus JSON configs and the model configs inside the
    corpus HDF5 files."""
    import h5py
    texts = []
    for path in _corpus_files('keras', ext='.json') + _corpus_files('keras-io-pairs',
                                                                     ext='_config.json'):
        with open(path, encoding='utf-8') as f:
            texts.append(f.read())
    for path, _ in hdf5_seeds(all_seeds):
        with h5py.File(path, 'r') as f:
            if 'model_config' in f.attrs:
                value = f.attrs['model_config']
                texts.append(value.decode() if isinstance(value, bytes) else str(value))
    seen, out = set(), []
    for t in texts:
        if t not in seen and (all_seeds or len(t) <= 64 << 10):
            seen.add(t)
            out.append(t)
    return out


def keras_seeds(all_seeds=False):
    """``[.keras path]``: the corpus archives, plus small ones kzoo writes (so the
    campaign has a few archives even where the corpus has only two)."""
    return _small(_corpus_files('keras', ext='.keras'), all_seeds)


def onnx_seeds(all_seeds=False):
    return _small(_corpus_files('onnx', ext='.onnx'), all_seeds)


# ---- byte mutations (shared) ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _frac():
    from hypothesis import strategies as st
    return st.floats(0, 1, exclude_max=True, allow_nan=False)


def byte_ops(draw, st):
    """A strategy-driven list of raw byte operations (positions as fractions)."""
    return [list(o) if not isinstance(o[-1], bytes) else list(o[:-1]) + [o[-1].hex()]
            for o in draw(_byte_ops())]


@functools.lru_cache(maxsize=None)  # strategies are built once: building them is slow
def _byte_ops():
    from hypothesis import strategies as st
    frac = _frac()
    op = st.one_of(
        st.tuples(st.just('truncate'), frac),
        st.tuples(st.just('flip'), frac, st.integers(0, 7)),
        st.tuples(st.just('flip_head'), st.integers(0, 4095), st.integers(0, 7)),
        st.tuples(st.just('flip_tail'), st.integers(1, 4096), st.integers(0, 7)),
        st.tuples(st.just('run'), frac, st.integers(1, 64),
                  st.sampled_from([0, 255, 1, 127, 128, None])),
        st.tuples(st.just('copy'), frac, frac, st.integers(1, 256)),
        st.tuples(st.just('delete'), frac, st.integers(1, 64)),
        st.tuples(st.just('insert'), frac, st.binary(min_size=1, max_size=16)),
    )
    return st.lists(op, min_size=1, max_size=6)


def apply_bytes(data, ops, salt=0):
    """``data`` with the raw operations applied (deterministic)."""
    data = bytearray(data)
    rng = np.random.default_rng(salt)
    for op in ops:
        n = len(data)
        if n == 0:
            break
        kind = op[0]
        if kind == 'truncate':
            del data[int(op[1] * n):]
        elif kind == 'flip':
            data[int(op[1] * n)] ^= 1 << op[2]
        elif kind == 'flip_head':
            data[op[1] % n] ^= 1 << op[2]
        elif kind == 'flip_tail':
            data[-(op[1] % n) - 1] ^= 1 << op[2]
        elif kind == 'run':
            start = int(op[1] * n)
            length = min(op[2], n - start)
            fill = rng.integers(0, 256, length, dtype=np.uint8).tobytes() if op[3] is None \
                else bytes([op[3]]) * length
            data[start:start + length] = fill
        elif kind == 'copy':
            src, dst = int(op[1] * n), int(op[2] * n)
            chunk = bytes(data[src:src + op[3]])
            data[dst:dst + len(chunk)] = chunk
        elif kind == 'delete':
            start = int(op[1] * n)
            del data[start:start + op[2]]
        elif kind == 'insert':
            pos = int(op[1] * n)
            data[pos:pos] = bytes.fromhex(op[2])
    return bytes(data)


# ---- config mutations ------------------------------------------------------------------------

GADGET_NAMES = ['system', 'Popen', 'eval', 'exec', '__import__', 'load_model',
                'enable_unsafe_deserialization', 'getattr', 'Lambda', 'TFOpLambda',
                'Functional', 'Sequential', 'Model', 'InputLayer', 'Dense', 'Conv2D', 'LSTM',
                'Bidirectional', 'TimeDistributed', 'Merge', 'Concatenate', '__tensor__',
                '__numpy__', '__tuple__', '__lambda__', 'function', '']
PALETTE = [None, True, False, 0, 1, -1, 2, 3, 7, 2 ** 31, -2 ** 31, 2 ** 63, -2 ** 63,
           10 ** 30, 0.5, -0.0, 1e308, -1e308, float('inf'), float('nan'), '', 'x',
           '../../x', '/etc/passwd', 'a\x00b', 'n' * 5000, [], {}, [None], [[]], [0, 0],
           [-1, 3], [2 ** 40, 2 ** 40], {'class_name': 'Dense', 'config': {}},
           {'class_name': 'system', 'module': 'os', 'config': {}},
           {'class_name': '__lambda__', 'config': {'code': 'AAAA'}},
           {'module': 'keras.config', 'class_name': 'function',
            'config': 'enable_unsafe_deserialization'},
           ['x', 0, 0], [['x', 0, 0, {}]], 'channels_first', 'th', 'tf', 'same', 'valid',
           'linear', 'relu', 'float64', 'int8', 'mixed_float16']


def _nodes(root, limit=4000):
    """``[(path, value)]`` of every node of a JSON tree (paths are lists of keys)."""
    out, stack = [], [([], root)]
    while stack and len(out) < limit:
        path, value = stack.pop()
        out.append((path, value))
        if isinstance(value, dict):
            stack.extend((path + [k], v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((path + [i], v) for i, v in reversed(list(enumerate(value))))
    return out


def _set(root, path, value):
    if not path:
        return value
    holder = root
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return root


def _deep(depth, leaf=0):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def config_ops(draw, st):
    """Structural JSON mutations (node positions as fractions of the node list)."""
    return [list(o) for o in draw(_config_ops())]


@functools.lru_cache(maxsize=None)
def _config_ops():
    from hypothesis import strategies as st
    frac = _frac()
    op = st.one_of(
        st.tuples(st.just('replace'), frac, st.integers(0, len(PALETTE) - 1)),
        st.tuples(st.just('delete'), frac),
        st.tuples(st.just('class'), frac, st.sampled_from(GADGET_NAMES)),
        st.tuples(st.just('duplicate'), frac),
        st.tuples(st.just('swap'), frac, frac),
        st.tuples(st.just('number'), frac, st.sampled_from([0, -1, 1, 2, 3, 1000, 2 ** 20])),
        st.tuples(st.just('nest'), frac, st.sampled_from([40, 60, 200, 2000])),
        st.tuples(st.just('rename'), frac, st.sampled_from(['name', 'layers', 'config',
                                                            'class_name', 'inbound_nodes',
                                                            'x', 'batch_input_shape'])),
        st.tuples(st.just('reference'), frac, frac),
    )
    return st.lists(op, min_size=1, max_size=5)


def apply_config(root, ops):
    """``root`` (a parsed config) with the structural operations applied."""
    root = copy.deepcopy(root)
    for op in ops:
        nodes = _nodes(root)
        path, value = nodes[int(op[1] * len(nodes))]
        kind = op[0]
        if kind == 'replace':
            root = _set(root, path, copy.deepcopy(PALETTE[op[2]]))
        elif kind == 'delete' and path:
            parent = nodes_get(root, path[:-1])
            del parent[path[-1]]
        elif kind == 'class':
            dicts = [(p, v) for p, v in nodes if isinstance(v, dict) and 'class_name' in v]
            if dicts:
                p, v = dicts[int(op[1] * len(dicts))]
                v['class_name'] = op[2]
        elif kind == 'duplicate' and path and isinstance(nodes_get(root, path[:-1]), list):
            nodes_get(root, path[:-1]).insert(path[-1], copy.deepcopy(value))
        elif kind == 'swap':
            other_path, other = nodes[int(op[2] * len(nodes))]
            if path and other_path and path[:len(other_path)] != other_path and \
                    other_path[:len(path)] != path:
                root = _set(root, path, copy.deepcopy(other))
                root = _set(root, other_path, copy.deepcopy(value))
        elif kind == 'number':
            numbers = [(p, v) for p, v in nodes if isinstance(v, (int, float))
                       and not isinstance(v, bool)]
            if numbers:
                p, v = numbers[int(op[1] * len(numbers))]
                root = _set(root, p, op[2])
        elif kind == 'nest':
            root = _set(root, path, _deep(op[2]))
        elif kind == 'rename' and path and isinstance(nodes_get(root, path[:-1]), dict):
            parent = nodes_get(root, path[:-1])
            parent[op[2]] = parent.pop(path[-1])
        elif kind == 'reference':
            names = [v for p, v in nodes if p and p[-1] == 'name' and isinstance(v, str)]
            refs = [(p, v) for p, v in nodes if isinstance(v, list) and len(v) >= 3 and
                    isinstance(v[0], str)]
            if names and refs:
                p, v = refs[int(op[1] * len(refs))]
                v[0] = names[int(op[2] * len(names))]
    return root


def nodes_get(root, path):
    for key in path:
        root = root[key]
    return root


# ---- the readers -------------------------------------------------------------------------------

class Reader(object):
    """A reader under test: seeds, a plan strategy, how a plan becomes files, and the
    kzoo call that reads them."""

    name = None

    def __init__(self, all_seeds=False):
        self.all_seeds = all_seeds
        self._seeds = None

    @property
    def seeds(self):
        if self._seeds is None:
            self._seeds = self.load_seeds()
        return self._seeds

    def strategy(self):
        from hypothesis import strategies as st
        n = len(self.seeds)

        @st.composite
        def plans(draw):
            return self.draw_plan(draw, st, draw(st.integers(0, n - 1)))
        return plans()

    def load_seeds(self):
        raise NotImplementedError

    def draw_plan(self, draw, st, seed):
        raise NotImplementedError

    def make(self, plan, folder):
        """Write the plan's input into ``folder``; return what :meth:`read` takes."""
        raise NotImplementedError

    def read(self, made):
        raise NotImplementedError


class HDF5Reader(Reader):
    name = 'hdf5'

    def load_seeds(self):
        return hdf5_seeds(self.all_seeds)

    def draw_plan(self, draw, st, seed):
        # whole models are read by load_model or by `kzoo convert`'s streaming loader
        plan = {'seed': seed, 'h5': [], 'bytes': [],
                'via': draw(st.sampled_from(['load_model', 'stream']))}
        mode = draw(st.sampled_from(['bytes', 'h5', 'h5', 'both']))
        if mode in ('h5', 'both'):
            ops = []
            for o in draw(_h5_ops()):
                o = list(o)
                if o[0] == 'config':
                    o[1] = config_ops(draw, st)
                ops.append(o)
            plan['h5'] = ops
        if mode in ('bytes', 'both'):
            plan['bytes'] = byte_ops(draw, st)
        return plan

    def _make(self, plan, folder):
        source, config = self.seeds[plan['seed']]
        path = os.path.join(folder, 'case.h5')
        shutil.copyfile(source, path)
        if plan['h5']:
            mutate_hdf5(path, plan['h5'], folder)
        if plan['bytes']:
            with open(path, 'rb') as f:
                data = f.read()
            with open(path, 'wb') as f:
                f.write(apply_bytes(data, plan['bytes'], plan['seed']))
        return path, config

    def make(self, plan, folder):
        return self._make(plan, folder) + (plan.get('via', 'load_model'),)

    def read(self, made):
        path, config, via = made
        if config is None and via == 'stream':
            from kzoo.converters.streaming import load_hdf5_model
            return load_hdf5_model(path)
        if config is None:
            from kzoo.models import load_model
            return load_model(path)
        from kzoo.models import model_from_json
        with open(config, encoding='utf-8') as f:
            model = model_from_json(f.read())
        model.load_weights(path)
        return model


@functools.lru_cache(maxsize=None)
def _h5_ops():
    from hypothesis import strategies as st
    frac = _frac()
    op = st.one_of(
        st.tuples(st.just('attr'), frac, frac, st.integers(0, len(H5_ATTR_VALUES) - 1)),
        st.tuples(st.just('attr_delete'), frac, frac),
        st.tuples(st.just('dataset'), frac, st.sampled_from(sorted(H5_DATASETS))),
        st.tuples(st.just('node_delete'), frac),
        st.tuples(st.just('config'), st.just(None)),
    )
    return st.lists(op, min_size=1, max_size=3)


def _hdf5_objects(f):
    """Every object of a file in a stable order: ``[(name, object)]`` (root first)."""
    names = ['/']
    f.visit(names.append)
    out = []
    for name in names:
        try:
            out.append((name, f[name]))
        except Exception:  # noqa: BLE001  (a broken object: skip it)
            continue
    return out


H5_ATTR_VALUES = [
    ('int', np.array([1, 2, 3])), ('float', 1.5), ('empty_str', ''), ('nul', np.bytes_(b'a\0b')),
    ('latin1', np.bytes_(b'\xff\xfe')), ('parent', np.array([b'../../x'])),
    ('absolute', np.array([b'/model_weights'])), ('dot', np.array([b'.'])),
    ('long', np.array([b'n' * 70000], dtype=object)), ('json_list', '[1, 2, 3]'),
    ('json_deep', '[' * 5000 + ']' * 5000), ('empty_array', np.zeros((0,), 'S1')),
    ('names_2d', np.array([[b'a', b'b'], [b'c', b'd']])), ('bool', np.array([True])),
    ('huge_version', '9' * 200), ('null', 'null'), ('many', np.array([b'x'] * 5000)),
    ('self', np.array([b'model_weights'])), ('vlen_list', np.array(['a', 'b'], dtype=object)),
]

H5_DATASETS = {'transpose', 'extra_dim', 'scalar', 'empty', 'float16', 'float64', 'int8',
               'bool', 'complex', 'string', 'compound', 'bomb', 'external', 'softlink',
               'external_link', 'null_space', 'hardlink_alias', 'group', 'nan', 'big_endian'}


def mutate_hdf5(path, ops, folder):
    """Apply structural operations to the HDF5 file at ``path`` with h5py."""
    import h5py
    with h5py.File(path, 'r+') as f:
        for op in ops:
            objects = _hdf5_objects(f)
            kind = op[0]
            if kind in ('attr', 'attr_delete'):
                with_attrs = [(n, o) for n, o in objects if len(o.attrs)]
                if not with_attrs:
                    continue
                name, obj = with_attrs[int(op[1] * len(with_attrs))]
                keys = sorted(obj.attrs.keys())
                key = keys[int(op[2] * len(keys))]
                if kind == 'attr_delete':
                    del obj.attrs[key]
                else:
                    obj.attrs[key] = H5_ATTR_VALUES[op[3]][1]
            elif kind == 'dataset':
                datasets = [(n, o) for n, o in objects if isinstance(o, h5py.Dataset)]
                if datasets:
                    name, ds = datasets[int(op[1] * len(datasets))]
                    _replace_dataset(f, name, ds, op[2], datasets, folder)
            elif kind == 'node_delete':
                victims = [n for n, _ in objects if n != '/']
                if victims:
                    del f[victims[int(op[1] * len(victims))]]
            elif kind == 'config':
                if 'model_config' in f.attrs:
                    text = f.attrs['model_config']
                    text = text.decode() if isinstance(text, bytes) else str(text)
                    try:
                        config = json.loads(text)
                    except ValueError:
                        continue
                    f.attrs['model_config'] = json.dumps(apply_config(config, op[1]))


def _replace_dataset(f, name, ds, how, datasets, folder):
    import h5py
    shape, dtype = ds.shape, ds.dtype
    data = ds[()] if ds.size < 1 << 20 else np.zeros(shape, dtype)
    parent, base = name.rsplit('/', 1) if '/' in name else ('/', name)
    group = f[parent or '/']
    del group[base]
    if how == 'transpose':
        group[base] = np.asarray(data).T.copy() if np.ndim(data) > 1 else \
            np.asarray(data).reshape(-1)[::-1].copy()
    elif how == 'extra_dim':
        group[base] = np.asarray(data)[None]
    elif how == 'scalar':
        group[base] = np.float32(1)
    elif how == 'empty':
        group[base] = np.zeros((0,) + tuple(shape[1:]), 'float32')
    elif how in ('float16', 'float64', 'int8', 'bool', 'complex'):
        target = {'complex': 'complex64'}.get(how, how)
        group[base] = np.asarray(data).astype(target)
    elif how == 'string':
        group[base] = np.array([b'weights'] * max(1, int(np.prod(shape or (1,))) % 7))
    elif how == 'compound':
        group[base] = np.zeros(3, dtype=[('a', 'f4'), ('b', 'i4')])
    elif how == 'bomb':
        group.create_dataset(base, shape=(2 ** 36,) + tuple(shape[1:2]), dtype='float32',
                             chunks=True, compression='gzip')
    elif how == 'external':
        group.create_dataset(base, shape=shape, dtype='float32',
                             external=[(os.path.join(folder, 'missing.bin'), 0, 4 * int(
                                 np.prod(shape or (1,))))])
    elif how == 'softlink':
        group[base] = h5py.SoftLink(name)
    elif how == 'external_link':
        group[base] = h5py.ExternalLink(os.path.join(folder, 'elsewhere.h5'), '/x')
    elif how == 'null_space':
        group.create_dataset(base, data=h5py.Empty('f4'))
    elif how == 'hardlink_alias':
        others = [o for n, o in datasets if n != name and n in f]
        if others:
            group[base] = others[0]
        else:
            group[base] = np.asarray(data)
    elif how == 'group':
        group.create_group(base)
    elif how == 'nan':
        group[base] = np.full(shape, np.nan, 'float32')
    elif how == 'big_endian':
        group[base] = np.asarray(data, dtype='>f4')


class ConfigReader(Reader):
    name = 'config'

    def load_seeds(self):
        return [json.loads(t) for t in config_seeds(self.all_seeds)]

    def draw_plan(self, draw, st, seed):
        return {'seed': seed, 'format': draw(st.sampled_from(['json', 'json', 'yaml'])),
                'ops': config_ops(draw, st),
                'bytes': byte_ops(draw, st) if draw(st.integers(0, 3)) == 0 else []}

    def make(self, plan, folder):
        config = apply_config(self.seeds[plan['seed']], plan['ops'])
        if plan['format'] == 'yaml':
            import yaml
            try:
                text = yaml.safe_dump(config)
            except (yaml.YAMLError, RecursionError):
                text = json.dumps(config)
        else:
            try:
                text = json.dumps(config)
            except RecursionError:
                text = '[]'
        data = text.encode('utf-8')
        if plan['bytes']:
            data = apply_bytes(data, plan['bytes'], plan['seed'])
        return plan['format'], data

    def read(self, made):
        """An architecture-only config builds whatever it declares (as Keras does): the
        fuzzer bounds the weights to 16 MiB so that a mutated ``units: 1000`` is a
        refusal, not a minute of random initialisation."""
        fmt, data = made
        from kzoo.engine.base_layer import weights_budget
        from kzoo.models import model_from_json, model_from_yaml
        text = data.decode('utf-8', 'replace')
        with weights_budget(16 << 20, 'fuzzed config'):
            return (model_from_yaml if fmt == 'yaml' else model_from_json)(text)


class KerasReader(Reader):
    name = 'keras'

    def load_seeds(self):
        seeds = []
        for path in keras_seeds(self.all_seeds):
            with zipfile.ZipFile(path) as z:
                seeds.append({n: z.read(n) for n in z.namelist()})
        seeds.extend(_written_keras_seeds())
        return seeds

    def draw_plan(self, draw, st, seed):
        ops = []
        for o in draw(_keras_ops()):
            o = list(o)
            if o[0] == 'config':
                o[1] = config_ops(draw, st)
            elif o[0] == 'weights_h5':
                o[1] = HDF5Reader.draw_plan(self, draw, st, 0)
                o[1].pop('seed')
            elif o[0] == 'member_bytes':
                o[2] = byte_ops(draw, st)
            ops.append(o)
        return {'seed': seed, 'ops': ops,
                'bytes': byte_ops(draw, st) if draw(st.integers(0, 4)) == 0 else []}

    def make(self, plan, folder):
        members = dict(self.seeds[plan['seed']])
        compression = zipfile.ZIP_STORED
        for op in plan['ops']:
            kind = op[0]
            if kind == 'config' and 'config.json' in members:
                try:
                    config = json.loads(members['config.json'])
                    members['config.json'] = json.dumps(apply_config(config, op[1])).encode()
                except (ValueError, RecursionError):
                    pass
            elif kind == 'metadata':
                members['metadata.json'] = json.dumps({'keras_version': PALETTE[op[1]]},
                                                      default=str).encode()
            elif kind == 'weights_h5' and 'model.weights.h5' in members:
                path = os.path.join(folder, 'inner.h5')
                with open(path, 'wb') as f:
                    f.write(members['model.weights.h5'])
                if op[1]['h5']:
                    try:
                        mutate_hdf5(path, op[1]['h5'], folder)
                    except Exception:  # noqa: BLE001  (h5py could not make it: skip)
                        pass
                with open(path, 'rb') as f:
                    data = f.read()
                members['model.weights.h5'] = apply_bytes(data, op[1]['bytes'])
            elif kind == 'member_bytes' and op[1] in members:
                members[op[1]] = apply_bytes(members[op[1]], op[2])
            elif kind == 'drop':
                members.pop(op[1], None)
            elif kind == 'rename' and op[1] in members:
                members[op[2]] = members.pop(op[1])
            elif kind == 'compress':
                compression = zipfile.ZIP_DEFLATED if op[1] else zipfile.ZIP_STORED
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', compression=compression) as z:
            for name, data in members.items():
                z.writestr(zipfile.ZipInfo(name), data)
        data = apply_bytes(buf.getvalue(), plan['bytes'], plan['seed'])
        path = os.path.join(folder, 'case.keras')
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def read(self, made):
        from kzoo.models import load_model
        return load_model(made)


KERAS_MEMBERS = ('config.json', 'metadata.json', 'model.weights.h5')


@functools.lru_cache(maxsize=None)
def _keras_ops():
    from hypothesis import strategies as st
    members = st.sampled_from(KERAS_MEMBERS)
    op = st.one_of(
        st.tuples(st.just('config'), st.just(None)),
        st.tuples(st.just('metadata'), st.integers(0, len(PALETTE) - 1)),
        st.tuples(st.just('weights_h5'), st.just(None)),
        st.tuples(st.just('member_bytes'), members, st.just(None)),
        st.tuples(st.just('drop'), members),
        st.tuples(st.just('rename'), members,
                  st.sampled_from(['../x', '/abs', 'a/../../b', 'config.json',
                                   'model.weights.h5', 'assets/x', 'C:x'])),
        st.tuples(st.just('compress'), st.booleans()),
    )
    return st.lists(op, min_size=1, max_size=3)


def _written_keras_seeds():
    """Two small archives written by kzoo (a Sequential and a functional model)."""
    from kzoo.layers import Conv2D, Dense, Flatten, Input
    from kzoo.models import Model, Sequential
    seeds = []
    folder = tempfile.mkdtemp(prefix='kzoo-fuzz-seed-')
    try:
        x = Input(shape=(6, 6, 1), name='img')
        y = Dense(3, name='out')(Flatten(name='flat')(Conv2D(2, 3, name='conv')(x)))
        for i, model in enumerate([Sequential([Dense(2, input_dim=3, name='d')]),
                                   Model(x, y, name='f')]):
            path = os.path.join(folder, '%d.keras' % i)
            model.save(path)
            with zipfile.ZipFile(path) as z:
                seeds.append({n: z.read(n) for n in z.namelist()})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return seeds


class OnnxReader(Reader):
    name = 'onnx'

    def load_seeds(self):
        seeds = []
        for path in onnx_seeds(self.all_seeds):
            with open(path, 'rb') as f:
                seeds.append(f.read())
        return seeds

    def draw_plan(self, draw, st, seed):
        return {'seed': seed, 'ops': [list(o) for o in draw(_onnx_ops())],
                'bytes': byte_ops(draw, st) if draw(st.integers(0, 3)) == 0 else []}

    def make(self, plan, folder):
        import onnx
        model = onnx.ModelProto()
        model.ParseFromString(self.seeds[plan['seed']])
        g = model.graph
        nodes, inits = list(g.node), list(g.initializer)
        for op in plan['ops']:
            kind = op[0]
            if kind.startswith('attr') and nodes:
                node = nodes[int(op[1] * len(nodes))]
                if not node.attribute:
                    continue
                attr = node.attribute[int(op[2] * len(node.attribute))]
                if kind == 'attr_drop':
                    node.attribute.remove(attr)
                elif kind == 'attr_int':
                    attr.i = max(-2 ** 63, min(2 ** 63 - 1, op[3]))
                elif kind == 'attr_ints':
                    del attr.ints[:]
                    attr.ints.extend(op[3])
                elif kind == 'attr_float':
                    attr.f = op[3]
            elif kind == 'op_type' and nodes:
                nodes[int(op[1] * len(nodes))].op_type = op[2]
            elif kind == 'input_name' and nodes:
                node = nodes[int(op[1] * len(nodes))]
                if node.input:
                    node.input[int(op[2] * len(node.input))] = op[3]
            elif kind == 'dims' and inits:
                t = inits[int(op[1] * len(inits))]
                del t.dims[:]
                t.dims.extend(op[2])
            elif kind == 'data_type' and inits:
                inits[int(op[1] * len(inits))].data_type = op[2]
            elif kind == 'raw_data' and inits:
                t = inits[int(op[1] * len(inits))]
                if t.HasField('raw_data'):
                    t.raw_data = t.raw_data[:int(op[2] * len(t.raw_data))]
            elif kind == 'value_info_dims':
                infos = list(g.input) + list(g.output)
                if infos:
                    info = infos[int(op[1] * len(infos))]
                    shape = info.type.tensor_type.shape
                    del shape.dim[:]
                    for d in op[2]:
                        shape.dim.add().dim_value = d
            elif kind == 'opset' and model.opset_import:
                model.opset_import[0].version = op[1]
            elif kind == 'external' and inits:
                t = inits[int(op[1] * len(inits))]
                t.ClearField('raw_data')
                t.data_location = onnx.TensorProto.EXTERNAL
                del t.external_data[:]
                entry = t.external_data.add()
                entry.key, entry.value = 'location', op[2]
        data = apply_bytes(model.SerializeToString(), plan['bytes'], plan['seed'])
        path = os.path.join(folder, 'case.onnx')
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def read(self, made):
        from kzoo.converters import from_onnx
        return from_onnx(made)


@functools.lru_cache(maxsize=None)
def _onnx_ops():
    from hypothesis import strategies as st
    frac = _frac()
    value = st.sampled_from([0, 1, -1, 2, 3, 2 ** 31 - 1, -2 ** 31, 2 ** 62, 7, 1000])
    op = st.one_of(
        st.tuples(st.just('attr_int'), frac, frac, value),
        st.tuples(st.just('attr_ints'), frac, frac, st.lists(value, max_size=6)),
        st.tuples(st.just('attr_float'), frac, frac,
                  st.sampled_from([0.0, -1.0, 1e30, float('nan'), float('inf')])),
        st.tuples(st.just('attr_drop'), frac, frac),
        st.tuples(st.just('op_type'), frac, st.sampled_from(
            ['Relu', 'Conv', 'Gemm', 'MatMul', 'Reshape', 'LSTM', 'Loop', 'If', 'Scan',
             'Unknown', 'Add', 'Concat', 'Gather', 'Resize', ''])),
        st.tuples(st.just('input_name'), frac, frac, st.sampled_from(['', 'x', 'nope'])),
        st.tuples(st.just('dims'), frac, st.lists(value, max_size=5)),
        st.tuples(st.just('data_type'), frac, st.integers(0, 25)),
        st.tuples(st.just('raw_data'), frac, frac),
        st.tuples(st.just('value_info_dims'), frac, st.lists(value, max_size=5)),
        st.tuples(st.just('opset'), value),
        st.tuples(st.just('external'), frac, st.sampled_from(
            ['../x', '/etc/passwd', 'missing.bin', 'a\0b', ''])),
    )
    return st.lists(op, min_size=1, max_size=4)


READERS = {r.name: r for r in (HDF5Reader, ConfigReader, KerasReader, OnnxReader)}


# ---- running cases ----------------------------------------------------------------------------

def run_plan(reader, plan, folder):
    """Make and read one plan: ``(status, detail)`` with status ``'read'``,
    ``'refused'`` (a KzooError), ``'skipped'`` (the mutation could not be made) or
    ``'failed'`` (any other exception: a bug)."""
    from kzoo.errors import KzooError
    for name in os.listdir(folder):
        p = os.path.join(folder, name)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    try:
        made = reader.make(plan, folder)
    except Exception as e:  # noqa: BLE001  (h5py refused to build the mutation)
        return 'skipped', '%s: %s' % (type(e).__name__, str(e)[:200])
    try:
        reader.read(made)
        return 'read', ''
    except KzooError as e:
        return 'refused', type(e).__name__
    except Exception as e:  # noqa: BLE001  (the point: anything else is a finding)
        tb = traceback.extract_tb(e.__traceback__)
        where = ['%s:%d %s' % (os.path.relpath(f.filename, _ROOT) if f.filename.startswith(
            _ROOT) else os.path.basename(f.filename), f.lineno, f.name) for f in tb[-4:]]
        return 'failed', '%s: %s\n    at %s' % (type(e).__name__, str(e)[:400],
                                                '\n    at '.join(where))


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_batch(reader_name, seed, count, workdir, progress, all_seeds=False):
    """In a child: ``count`` Hypothesis-drawn plans (seeded), each made and read.

    Before each case its plan is appended to ``progress`` (so a crash names it); the
    return value is ``{'counts': {...}, 'failures': [(plan, detail)], 'cases': n}``.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    reader = READERS[reader_name](all_seeds)
    counts = {'read': 0, 'refused': 0, 'skipped': 0, 'failed': 0}
    failures = []
    folder = os.path.join(workdir, 'case')
    os.makedirs(folder, exist_ok=True)
    log = open(progress, 'a')
    started = [time.monotonic()]
    watchdog = threading.Thread(target=_watchdog, args=(started, log), daemon=True)
    watchdog.start()

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(reader.strategy())
    def case(plan):
        text = json.dumps(plan)
        log.write(text + '\n')
        log.flush()
        started[0] = time.monotonic()
        status, detail = run_plan(reader, plan, folder)
        started[0] = None
        counts[status] += 1
        if status == 'failed':
            failures.append((plan, detail))

    case()
    started[0] = None
    log.close()
    return {'counts': counts, 'failures': failures, 'cases': sum(counts.values())}


CASE_TIMEOUT = float(os.environ.get('KZOO_FUZZ_CASE_TIMEOUT', '60'))
HANG_EXIT = 86


def _watchdog(started, log):
    """A case running longer than CASE_TIMEOUT is a hang (libhdf5 looping in C cannot
    be interrupted): say so and end the child, which reports the plan it was on."""
    while True:
        time.sleep(1)
        t = started[0]
        if t is not None and time.monotonic() - t > CASE_TIMEOUT:
            try:
                log.write('"HANG"\n')
                log.flush()
            finally:
                os._exit(HANG_EXIT)


class Campaign(object):
    """The outcome of :func:`campaign`: counts, failures (plan, detail), crashes."""

    def __init__(self, reader):
        self.reader = reader
        self.counts = {'read': 0, 'refused': 0, 'skipped': 0, 'failed': 0, 'crashed': 0}
        self.failures, self.crashes = [], []
        self.cpu = 0.0
        self.peak = 0

    @property
    def cases(self):
        return sum(self.counts.values())

    def report(self, limit=10):
        lines = ['%s: %d cases (%s), child CPU %.1f s' % (
            self.reader, self.cases, ', '.join('%s %d' % kv for kv in sorted(
                self.counts.items())), self.cpu)]
        seen = set()
        for plan, detail in self.failures + self.crashes:
            key = detail.splitlines()[0][:120] + '|' + (detail.splitlines()[-1] if detail
                                                      else '')
            if key in seen:
                continue
            seen.add(key)
            lines.append('  %s\n    replay: python -m tests.security.fuzz --reader %s '
                         "--replay '%s'" % (detail, self.reader, json.dumps(plan)))
            if len(seen) >= limit:
                break
        return '\n'.join(lines)


def campaign(reader_name, cases, seed=0, batch=500, all_seeds=False, timeout=900,
             env=None, log=None):
    """Run ``cases`` cases of a reader in child processes, ``batch`` per child."""
    from tests.security import child
    result = Campaign(reader_name)
    workdir = tempfile.mkdtemp(prefix='kzoo-fuzz-')
    env = dict(os.environ if env is None else env)
    env['TMPDIR'] = workdir
    batch_index = 0
    try:
        while result.cases < cases:
            n = min(batch, cases - result.cases)
            progress = os.path.join(workdir, 'progress.jsonl')
            if os.path.exists(progress):
                os.remove(progress)
            batch_seed = seed * 1000003 + batch_index
            batch_index += 1
            outcome = child.run_in_child(run_batch, reader_name, batch_seed, n, workdir,
                                         progress, all_seeds, timeout=timeout, env=env)
            result.cpu += outcome.cpu or 0
            result.peak = max(result.peak, outcome.peak or 0)
            if outcome.status == 'returned':
                for k, v in outcome.value['counts'].items():
                    result.counts[k] += v
                result.failures.extend(outcome.value['failures'])
                if outcome.value['cases'] == 0:
                    break
            else:
                done = _read_progress(progress)
                hang = bool(done) and done[-1] == 'HANG'
                plans = [d for d in done if d != 'HANG']
                last = plans[-1] if plans else None
                result.counts['crashed'] += 1
                result.counts['read'] += max(0, len(plans) - 1)  # approximately: before it
                what = 'hung (over %.0f s) on this plan' % CASE_TIMEOUT if hang else \
                    'process %s (exit code %s) reading this plan' % (outcome.status,
                                                                   outcome.exitcode)
                result.crashes.append((last, '%s:\n%s' % (what, outcome.output[-1500:])))
            if log is not None:
                log('%s: %d/%d cases, %d failures, %d crashes' % (
                    reader_name, result.cases, cases, len(result.failures),
                    len(result.crashes)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _read_progress(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def replay(reader_name, plan, keep=None, all_seeds=False):
    """Re-run one plan in this process (tracebacks in full); ``keep``: a folder to
    leave the made file in."""
    reader = READERS[reader_name](all_seeds)
    folder = keep or tempfile.mkdtemp(prefix='kzoo-fuzz-replay-')
    os.makedirs(folder, exist_ok=True)
    made = reader.make(plan, folder)
    print('made %s' % (made,))
    try:
        reader.read(made)
        print('read without error')
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.security.fuzz',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--reader', default='all', choices=sorted(READERS) + ['all'])
    parser.add_argument('--cases', type=int, default=int(os.environ.get(
        'KZOO_FUZZ_CASES', '10000')))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--batch', type=int, default=500, help='cases per child process')
    parser.add_argument('--all-seeds', action='store_true',
                        help='also mutate the large corpus files')
    parser.add_argument('--replay', help='a plan (JSON) to re-run in this process')
    parser.add_argument('--keep', help='--replay: leave the made file in this folder')
    args = parser.parse_args(argv)
    if args.replay:
        if args.reader == 'all':
            parser.error('--replay needs --reader')
        replay(args.reader, json.loads(args.replay), args.keep, args.all_seeds)
        return 0
    names = sorted(READERS) if args.reader == 'all' else [args.reader]
    status = 0
    for name in names:
        start = time.time()
        result = campaign(name, args.cases, args.seed, args.batch, args.all_seeds,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
        print(result.report(limit=50))
        print('  (%.0f s)' % (time.time() - start))
        if result.failures or result.crashes:
            status = 1
    return status


if __name__ == '__main__':
    # run the importable module's main: child processes find run_batch by its name
    from tests.security import fuzz as _module
    sys.exit(_module.main())
