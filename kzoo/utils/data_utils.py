"""``get_file`` and the download cache, under Keras's module name.

The code lives in :mod:`kzoo.utils.download` (one job per module: settings,
hashing, transfer, cache layout, and ``get_file`` orchestrating them); this module
re-exports its public names so ``from kzoo.utils.data_utils import get_file`` works
as in Keras.

``get_file`` has Keras's signature and meaning, with these guarantees:

- **Nothing unverified enters the cache.** Bytes stream into a ``.part`` file
  beside the destination and are hashed on the way (one pass). The file gets its
  final name (``os.replace``) only after the hash matched; a mismatch raises
  :class:`kzoo.errors.HashMismatchError` and leaves nothing behind.
- **Never repeat.** A broken transfer resumes with an HTTP ``Range`` request, in
  the same call or in a later process (the ``.part`` file is kept). Concurrent
  processes asking for the same file take a ``FileLock``: one downloads, the
  others wait and reuse it. A file already in Keras's own cache (``~/.keras``,
  ``$KERAS_HOME``) with the right hash is reused. A cached file that fails
  verification is downloaded again once, never in a loop.
- **Never hang.** Connect and read timeouts, bounded retries with exponential
  backoff, bounded redirects with loop detection.
- **Safe.** ``fname`` must be a plain file name; origins are ``http``, ``https``
  or ``file``; redirects only to ``http(s)``; archives are extracted by
  :mod:`kzoo.utils.archives` (no traversal, links or devices).

The environment (``KZOO_HOME``, ``KZOO_OFFLINE``, ``KZOO_MIRROR``, ``KZOO_QUIET``,
``KZOO_TIMEOUT``, ...) is described in :mod:`kzoo.utils.download.settings`. The
tunable defaults (``READ_TIMEOUT``, ``MAX_REDIRECTS``, ``CHUNK_SIZE``, ...) can be
read and assigned here as well as there: an assignment here sets them there.

Example::

    path = get_file('vgg16_weights_tf_dim_ordering_tf_kernels.h5',
                    'https://storage.googleapis.com/tensorflow/keras-applications/'
                    'vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5',
                    cache_subdir='models',
                    file_hash='64373286793e3c8b2b4e3219cbf3544b')
"""
import sys
import types

from kzoo.utils.download import settings as _settings
from kzoo.utils.download.cache import (META_DIR, CacheEntry, cache_entries, cache_folders,
                                       cache_root, check_file_name, read_meta,
                                       remove_cache_entry)
from kzoo.utils.download.cache import part_path as _part_path  # noqa: F401 (tests)
from kzoo.utils.download.get import get_file
from kzoo.utils.download.hashing import hash_file, resolve_hasher, validate_file

__all__ = ['get_file', 'cache_root', 'hash_file', 'validate_file', 'resolve_hasher',
           'check_file_name', 'read_meta', 'META_DIR', 'CacheEntry', 'cache_entries',
           'remove_cache_entry']


def _forward(name):
    return property(lambda module: getattr(_settings, name),
                    lambda module, value: setattr(_settings, name, value),
                    doc='kzoo.utils.download.settings.%s' % name)


# Reads and assignments of the tunables (READ_TIMEOUT, MAX_REDIRECTS, ...) go to
# kzoo.utils.download.settings, the one place the download code reads them at call
# time: properties on this module's class, so ``data_utils.X = v`` (and pytest's
# monkeypatch, which restores through them) reach that module.
_Module = type('_Module', (types.ModuleType,), dict(
    {name: _forward(name) for name in _settings.TUNABLES},
    __dir__=lambda module: sorted(set(module.__dict__) | set(_settings.TUNABLES))))

sys.modules[__name__].__class__ = _Module
