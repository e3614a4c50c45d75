"""The torch backend (default): fast forward passes and autograd for training."""
import importlib as _importlib
import pkgutil as _pkgutil
import torch as _torch  # noqa: F401  (ImportError here makes the backend unavailable)
from kzoo.backend import composite as _composite

NAME = 'torch'

# Every op module of this package (core, conv, pooling, recurrent, ...) exports the ops
# in its __all__; a new op family needs no edit here.
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: (m.name != 'core', m.name)):
    _module = _importlib.import_module('%s.%s' % (__name__, _info.name))
    for _name in getattr(_module, '__all__', ()):
        globals()[_name] = getattr(_module, _name)

_composite.install(globals())
