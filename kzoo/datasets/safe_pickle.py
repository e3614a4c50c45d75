"""Reading dataset pickles without letting them run code.

Python's pickle can call any importable function while loading (``__reduce__``), so
a tampered download could run code. :class:`RestrictedUnpickler` resolves only the
globals needed to rebuild numpy arrays (``ndarray``, ``dtype``, ``_reconstruct``,
under their numpy 1 and numpy 2 module names) and bytes as Python 3 writes them at
protocol 2 (``_codecs.encode`` with latin-1 only); everything else raises
:class:`~kzoo.errors.UnsafeInputError` naming the file and the refused global.
Plain containers (dict, list, tuple, int, bytes, str) need no globals.

>>> import io, pickle, numpy as np
>>> data = pickle.dumps({b'data': np.arange(3, dtype='uint8'), b'labels': [1, 2]}, protocol=2)
>>> loads(data, 'batch')[b'data'].tolist()
[0, 1, 2]
"""
import io
import pickle
import zipfile

import numpy as np

from kzoo.errors import FileFormatError, UnsafeInputError

__all__ = ['RestrictedUnpickler', 'load', 'loads', 'load_npz']

_reconstruct = np.empty(0).__reduce__()[0]  # numpy's multiarray._reconstruct, any version



def _latin1_encode(text, encoding='latin1', errors='strict'):
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, 'latin1'); any other
    # codec (zlib, ...) is refused.
    if str(encoding).lower().replace('-', '') not in ('latin1', 'iso88591') or \
            not isinstance(text, str):
        raise UnsafeInputError('refusing _codecs.encode(%r) in a pickle' % (encoding,))
    return text.encode('latin1')


ALLOWED_GLOBALS = {
    ('_codecs', 'encode'): _latin1_encode,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and refuses every other global."""

    def __init__(self, file, source='pickle', **kwargs):
        pickle.Unpickler.__init__(self, file, **kwargs)
        self.source = source

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeInputError(
                '%s: refusing to load %s.%s from a pickle: dataset files may only hold '
                'numpy arrays and plain containers (the file may be corrupt or malicious)'
                % (self.source, module, name)) from None

    def persistent_load(self, pid):
        raise UnsafeInputError('%s: refusing a pickle persistent id' % self.source)


def load(file, source='pickle', encoding='bytes'):
    """Load one pickle from an open binary file (Python 2 pickles: ``encoding='bytes'``)."""
    try:
        return RestrictedUnpickler(file, source=source, encoding=encoding).load()
    except UnsafeInputError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise FileFormatError('%s: not a readable dataset pickle: %s' % (source, e)) from e


def loads(data, source='pickle', encoding='bytes'):
    return load(io.BytesIO(data), source, encoding)


def _read_npy(fp, source):
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)  # numeric: no pickle at all
    except ValueError:
        pass
    fp.seek(0)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        np.lib.format.read_array_header_1_0(fp)
    elif version[0] in (2, 3):
        np.lib.format.read_array_header_2_0(fp)  # 3.0 differs only in header encoding
    else:
        raise FileFormatError('%s: unsupported .npy version %s' % (source, version))
    return load(fp, source, encoding='latin1')


def load_npz(path):
    """The arrays of an ``.npz`` file; object arrays go through the restricted unpickler."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith('.npy'):
                    continue
                with archive.open(member) as raw:
                    buffer = io.BytesIO(raw.read())
                arrays[member[:-4]] = _read_npy(buffer, '%s[%s]' % (path, member))
    except zipfile.BadZipFile as e:
        raise FileFormatError('%s: not an .npz archive: %s' % (path, e)) from e
    return arrays
