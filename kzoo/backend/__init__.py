"""``from kzoo import backend as K``: configuration and the op set of the active backend.

The backend is chosen once, on first use: ``$KZOO_BACKEND``, then the ``"backend"``
field of ``$KZOO_HOME/kzoo.json``, then ``torch`` if it imports, else ``numpy``.
Nothing is written at import time.

Every op (``K.dot``, ``K.conv2d``, ``K.relu``, ...) has the same name and signature in
each backend module; attribute access on this module forwards to the active one:

>>> from kzoo import backend as K
>>> K.backend() in ('torch', 'numpy', 'tensorflow')
True
>>> K.eval(K.dot(K.constant([[1., 2.]]), K.constant([[3.], [4.]])))
array([[11.]], dtype=float32)
"""
import contextlib
import importlib
import json
import os

from kzoo.backend.common import (  # noqa: F401  (re-exported configuration)
    epsilon, set_epsilon, floatx, set_floatx, image_data_format,
    set_image_data_format, image_dim_ordering, set_image_dim_ordering,
    normalize_data_format, cast_to_floatx)
from kzoo.errors import BackendError

# name -> module implementing the op set; tensorflow joins when its module exists.
BACKENDS = {
    'numpy': 'kzoo.backend.numpy_backend',
    'torch': 'kzoo.backend.torch_backend',
    'tensorflow': 'kzoo.backend.tensorflow_backend',
}

_impl = None
_name = None  # read as K._BACKEND (seed-era spelling) through __getattr__
_SUBMODULES = frozenset(['common', 'composite', 'conv_utils', 'numpy_backend', 'torch_backend',
                         'tensorflow_backend'])


def _kzoo_home():
    return os.environ.get('KZOO_HOME') or os.path.join(os.path.expanduser('~'), '.kzoo')


def _configured_name():
    name = os.environ.get('KZOO_BACKEND')
    if name:
        return name, 'the environment variable KZOO_BACKEND'
    path = os.path.join(_kzoo_home(), 'kzoo.json')
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict) and config.get('backend'):
        return config['backend'], path
    return None, None


def _load(name, where='set_backend()'):
    if name not in BACKENDS:
        raise BackendError('unknown kzoo backend %r (from %s); choose one of: %s'
                           % (name, where, ', '.join(sorted(BACKENDS))))
    try:
        return importlib.import_module(BACKENDS[name])
    except ImportError as e:
        raise BackendError('kzoo backend %r (from %s) cannot be used: %s'
                           % (name, where, e)) from e


def _select_default():
    name, where = _configured_name()
    if name:
        return name, _load(name, where)
    try:
        return 'torch', importlib.import_module(BACKENDS['torch'])
    except ImportError:
        return 'numpy', importlib.import_module(BACKENDS['numpy'])


def _active():
    global _impl, _name
    if _impl is None:
        _name, _impl = _select_default()
    return _impl


def backend():
    """Name of the active backend: ``'torch'``, ``'numpy'`` or ``'tensorflow'``."""
    _active()
    return _name


def set_backend(name):
    """Switch the active backend for layers built from now on (tests use :func:`using`)."""
    global _impl, _name
    _impl = _load(name)
    _name = name


@contextlib.contextmanager
def using(name):
    """Run a block with another backend active, then restore the previous one.

    >>> with using('numpy'):
    ...     backend()
    'numpy'
    """
    global _impl, _name
    saved = (_impl, _name)
    set_backend(name)
    try:
        yield
    finally:
        _impl, _name = saved


def available_backends():
    """Names of the backends that import on this machine."""
    names = []
    for name in BACKENDS:
        try:
            importlib.import_module(BACKENDS[name])
            names.append(name)
        except ImportError:
            pass
    return names


def __getattr__(attr):
    # Forward op look-ups (K.dot, K.conv2d, ...) to the active backend module.
    if attr == '_BACKEND':
        return backend()
    if attr.startswith('__') or attr in _SUBMODULES:
        # ``from kzoo.backend import composite`` asks here first: let the import system
        # load the submodule rather than selecting (and importing) the default backend.
        raise AttributeError(attr)
    impl = _active()
    try:
        return getattr(impl, attr)
    except AttributeError:
        raise AttributeError("kzoo backend %r has no operation %r" % (_name, attr)) from None
