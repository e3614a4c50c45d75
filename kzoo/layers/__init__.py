"""All layers, Keras-style: ``from kzoo.layers import Dense, Conv2D, LSTM``.

Each family module (core, convolutional, pooling, recurrent, ...) lists its public
names in ``__all__``; this package imports every module and re-exports those names,
so a new family needs no edit here.
"""
import importlib as _importlib
import pkgutil as _pkgutil

from kzoo.engine import Input, InputLayer, Layer  # noqa: F401

__all__ = ['Input', 'InputLayer', 'Layer']

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith('_'):
        continue
    _module = _importlib.import_module('%s.%s' % (__name__, _info.name))
    for _name in getattr(_module, '__all__', ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
