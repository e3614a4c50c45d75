"""The torch backend (default): fast forward passes and autograd for training."""
import importlib as _importlib
import os as _os
import pkgutil as _pkgutil
import sys as _sys

if 'torch' not in _sys.modules and not (_os.environ.get('OMP_WAIT_POLICY')
                                         or _os.environ.get('GOMP_SPINCOUNT')):
    # torch's OpenMP (libgomp) threads spin ~300,000 times before sleeping; on a busy or
    # CPU-quota'd machine the spinning thread holds a core another one needs, and two-thread
    # inference ran 5x slower than one thread. 10,000 spins still bridge the gaps between
    # one layer's kernel and the next. Read once, when libgomp loads; the user's choice wins.
    _os.environ['GOMP_SPINCOUNT'] = '10000'

import torch as _torch  # noqa: F401,E402  (ImportError here makes the backend unavailable)
from kzoo.backend import composite as _composite  # noqa: E402

NAME = 'torch'

# Every op module of this package (core, conv, pooling, recurrent, ...) exports the ops
# in its __all__; a new op family needs no edit here.
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: (m.name != 'core', m.name)):
    _module = _importlib.import_module('%s.%s' % (__name__, _info.name))
    for _name in getattr(_module, '__all__', ()):
        globals()[_name] = getattr(_module, _name)

_composite.install(globals())
