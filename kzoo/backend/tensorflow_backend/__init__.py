"""The tensorflow backend (optional): eager ``tf.Tensor`` ops with TensorFlow's kernels.

Importing this package imports tensorflow; an ImportError here makes the backend
unavailable (``K.available_backends()`` skips it). Nothing else in kzoo imports it.
"""
import importlib as _importlib
import os as _os
import pkgutil as _pkgutil
import sys as _sys

if 'tensorflow' not in _sys.modules:
    # kzoo promises results equal to Keras's at float32 rounding; oneDNN's reordered
    # sums drift by a few ulp (and announce themselves on stderr). The user's own
    # setting, or a TensorFlow imported before kzoo's backend, is left alone.
    _os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

try:
    import tensorflow as _tf  # noqa: F401
except ImportError:
    raise
except Exception as _e:  # a broken install (protobuf or numpy mismatch) raises other errors
    raise ImportError('tensorflow is installed but does not import: %s: %s'
                      % (type(_e).__name__, _e)) from _e
from kzoo.backend import composite as _composite

NAME = 'tensorflow'

# Every op module of this package (core, conv, pooling, recurrent, ...) exports the ops
# in its __all__; a new op family needs no edit here.
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: (m.name != 'core', m.name)):
    _module = _importlib.import_module('%s.%s' % (__name__, _info.name))
    for _name in getattr(_module, '__all__', ()):
        globals()[_name] = getattr(_module, _name)

_composite.install(globals())
