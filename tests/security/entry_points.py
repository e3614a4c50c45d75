"""Every way a user hands kzoo a file, as functions that run in a child process.

Each entry point takes a :class:`~tests.security.hostile.Case` and a context dict
(``url``: the loopback server's base URL; ``box``: the test's folders) and does what a
user would: ``load_model``, ``model.load_weights``, ``model_from_json`` /
``model_from_yaml``, ``from_onnx``, the ``kzoo convert`` and ``kzoo info`` commands,
``get_file(extract=True)`` and the dataset loaders. :func:`entries_for` says which
entry points read a case's kind of input.

The two commands run as the ``kzoo`` program does (``sys.exit(kzoo.cli.main(argv))``)
in the child process; their exit status is the entry's return value and their
output comes back with the outcome. ``real_cli`` runs the installed ``kzoo``
executable instead (a fresh interpreter; slower).
"""
import collections
import os
import subprocess
import sys

Entry = collections.namedtuple('Entry', 'name fn cli')
ENTRIES = collections.OrderedDict()


def entry(name, cli=False):
    def register(fn):
        if name in ENTRIES:
            raise ValueError('entry point %r registered twice' % name)
        ENTRIES[name] = Entry(name, fn, cli)
        return fn
    return register


_BY_KIND = {
    'yaml': ['model_from_yaml', 'load_model', 'kzoo_convert', 'kzoo_info'],
    'json': ['model_from_json', 'load_model', 'kzoo_convert', 'kzoo_info'],
    'h5-model': ['load_model', 'kzoo_convert', 'kzoo_info'],
    'h5-weights': ['load_weights', 'kzoo_convert', 'kzoo_info'],
    'keras3-weights': ['load_weights', 'kzoo_convert', 'kzoo_info'],
    'keras': ['load_model', 'kzoo_convert', 'kzoo_info'],
    'onnx': ['from_onnx', 'load_model', 'kzoo_convert', 'kzoo_info'],
    'tar': ['get_file_extract', 'cifar10_load_data'],
    'zip': ['get_file_extract'],
    'cifar': ['cifar_load_batch', 'cifar10_load_data', 'cifar100_load_data'],
    'npz': ['imdb_load_data', 'reuters_load_data'],
    'torch': ['load_weights', 'kzoo_convert', 'kzoo_info'],
    'download': ['get_file', 'get_file_extract', 'mnist_load_data'],
}


def entries_for(kind, weights_hostile=False):
    """Names of the entry points that read a ``kind`` of input."""
    names = list(_BY_KIND[kind])
    if kind == 'h5-model' and weights_hostile:
        names.insert(1, 'load_weights')  # a whole-model file is also a weights file
    return names


def _small_model():
    from tests.security.hostile import small_model
    return small_model()


def _summary(model):
    return {'class': type(model).__name__, 'layers': [l.name for l in model.layers]}


# ---- library entry points --------------------------------------------------------------------

@entry('load_model')
def load_model(case, ctx):
    from kzoo.models import load_model as load
    return _summary(load(case.paths['model']))


@entry('load_weights')
def load_weights(case, ctx):
    model = _small_model()
    model.load_weights(case.paths.get('weights') or case.paths['model'])
    return [w.tolist() for w in model.get_weights()]


@entry('model_from_json')
def model_from_json(case, ctx):
    from kzoo.models import model_from_json as parse
    with open(case.paths['model'], encoding='utf-8') as f:
        return _summary(parse(f.read()))


@entry('model_from_yaml')
def model_from_yaml(case, ctx):
    from kzoo.models import model_from_yaml as parse
    with open(case.paths['model'], encoding='utf-8') as f:
        return _summary(parse(f.read()))


@entry('from_onnx')
def from_onnx(case, ctx):
    from kzoo.converters import from_onnx as read
    return _summary(read(case.paths['model']))


# ---- the kzoo command --------------------------------------------------------------------------

def convert_argv(case, box):
    """``kzoo convert`` arguments for a case: the hostile file in, a result in ``out/``."""
    out = os.path.join(box.out, 'result')
    if case.kind in ('yaml', 'json'):  # architecture to architecture: no weights needed
        return ['convert', case.paths['model'], out + ('.json' if case.kind == 'yaml'
                                                       else '.yaml')]
    if case.kind in ('h5-weights', 'keras3-weights', 'torch'):
        return ['convert', case.paths['config'], out + '.h5', '--weights',
                case.paths['weights']]
    if case.kind == 'h5-model':
        return ['convert', case.paths['model'], out + '.onnx']
    return ['convert', case.paths['model'], out + '.h5']


def info_argv(case, box):
    return ['info', case.paths.get('weights') or case.paths['model']]


def run_cli(argv):
    """What the ``kzoo`` program does with ``argv``: its exit status."""
    from kzoo import cli
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse
        return e.code if isinstance(e.code, int) else 1


@entry('kzoo_convert', cli=True)
def kzoo_convert(case, ctx):
    return run_cli(convert_argv(case, ctx['box']))


@entry('kzoo_info', cli=True)
def kzoo_info(case, ctx):
    return run_cli(info_argv(case, ctx['box']))


def real_cli(argv, env=None, timeout=300):
    """Run the installed ``kzoo`` program (a new interpreter): ``(status, output)``."""
    exe = os.path.join(os.path.dirname(sys.executable), 'kzoo')
    command = [exe] if os.path.exists(exe) else [sys.executable, '-m', 'kzoo.cli']
    done = subprocess.run(command + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, timeout=timeout)
    return done.returncode, done.stdout.decode('utf-8', 'replace')


# ---- downloads and datasets ----------------------------------------------------------------------

def _served(case, ctx):
    (path, data), = case.served.items()
    return ctx['url'] + path, data


@entry('get_file')
def get_file(case, ctx):
    from kzoo.utils.data_utils import get_file as fetch
    url, _ = _served(case, ctx)
    return fetch(case.extra['fname'], url, file_hash=case.extra['sha256'],
                 cache_dir=os.path.join(ctx['box'].out, 'cache'))


@entry('get_file_extract')
def get_file_extract(case, ctx):
    from kzoo.utils.data_utils import get_file as fetch
    url, _ = _served(case, ctx)
    return fetch(case.extra['fname'], url, file_hash=case.extra['sha256'], extract=True,
                 cache_dir=os.path.join(ctx['box'].out, 'cache'))


def _dataset(module_name, case, ctx):
    """A dataset module pointed at the case's served file (the child is disposable)."""
    import importlib
    module = importlib.import_module('kzoo.datasets.' + module_name)
    if 'archives' in case.extra:
        path, sha = case.extra['archives'][module_name]
        url = ctx['url'] + path
    else:
        url, _ = _served(case, ctx)
        sha = case.extra['sha256']
    module.ORIGIN, module.FILE_HASH = url, sha
    os.environ['KZOO_HOME'] = os.path.join(ctx['box'].out, 'cache')
    return module


@entry('cifar10_load_data')
def cifar10_load_data(case, ctx):
    (x, y), _ = _dataset('cifar10', case, ctx).load_data()
    return x.shape


@entry('cifar100_load_data')
def cifar100_load_data(case, ctx):
    (x, y), _ = _dataset('cifar100', case, ctx).load_data()
    return x.shape


@entry('imdb_load_data')
def imdb_load_data(case, ctx):
    (x, y), _ = _dataset('imdb', case, ctx).load_data()
    return len(x)


@entry('reuters_load_data')
def reuters_load_data(case, ctx):
    (x, y), _ = _dataset('reuters', case, ctx).load_data()
    return len(x)


@entry('cifar_load_batch')
def cifar_load_batch(case, ctx):
    from kzoo.datasets.cifar import load_batch
    data, labels = load_batch(case.paths['batch'])
    return data.shape


@entry('mnist_load_data')
def mnist_load_data(case, ctx):
    (x, y), _ = _dataset('mnist', case, ctx).load_data()
    return x.shape


def call(name, case, ctx):
    """Run entry point ``name`` (the function a child runs)."""
    return ENTRIES[name].fn(case, ctx)
