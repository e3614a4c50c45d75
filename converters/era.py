"""Which Keras wrote a file, and with which conventions; and what kzoo changed on load.

An :class:`Era` records the facts a reader needs (keras-formats.md):

- ``keras_version``: as stored; a legacy file without one was written by Keras 1;
- ``backend``: ``tensorflow``, ``theano``, ``cntk`` or ``None`` (Keras 1 files do not say);
- ``kernels``: ``'tensorflow'`` (cross-correlation) or ``'theano'`` (true convolution,
  flipped on load). Keras 1 files without a backend are judged by their weight names:
  TensorFlow variable names end in ``:0``, Theano's never do.

A :class:`Report` collects every conversion a load performed, for ``kzoo info``.

>>> era = legacy_era(None, None, ['dense_1_W', 'dense_1_b'])
>>> era.major, era.kernels
(1, 'theano')
>>> legacy_era('2.2.4-tf', 'tensorflow', []).describe()
'Keras 2.2.4-tf, backend tensorflow, TensorFlow kernels'
"""
import re

__all__ = ['Era', 'legacy_era', 'keras3_era', 'Report']


class Era(object):
    def __init__(self, keras_version, backend, kernels, source):
        self.keras_version = keras_version
        self.backend = backend
        self.kernels = kernels
        self.source = source
        self.major = major_version(keras_version)

    @property
    def theano_kernels(self):
        return self.kernels == 'theano'

    def describe(self):
        version = self.keras_version or '1.x (no keras_version stored)'
        return 'Keras %s, backend %s, %s kernels' % (
            version, self.backend or 'not stored', 'Theano (flipped on load)'
            if self.theano_kernels else 'TensorFlow')

    def __repr__(self):
        return '<Era %s>' % self.describe()


def major_version(keras_version):
    """1, 2 or 3 from a version string; no version means Keras 1 (as Keras 2 assumed)."""
    if not keras_version:
        return 1
    match = re.match(r'\s*(\d+)', str(keras_version))
    return int(match.group(1)) if match else 2


def legacy_era(keras_version, backend, weight_names, source='legacy HDF5'):
    """The era of a legacy HDF5 file from its attributes and weight names."""
    backend = backend or None
    if backend == 'theano':
        kernels = 'theano'
    elif backend is not None:
        kernels = 'tensorflow'
    elif major_version(keras_version) == 1 and weight_names:
        kernels = 'tensorflow' if any(str(n).endswith(':0') for n in weight_names) \
            else 'theano'
    else:
        kernels = 'tensorflow'
    return Era(keras_version, backend, kernels, source)


def keras3_era(keras_version, source='Keras 3 archive'):
    # Keras 3 does not record its backend; every backend's kernels correlate.
    return Era(keras_version or '3', None, 'tensorflow', source)


class Report(object):
    """What a load found and changed: the era, data formats, and a list of notes."""

    def __init__(self, path=None, file_format=None, era=None):
        self.path = path
        self.file_format = file_format
        self.era = era
        self.notes = []

    def note(self, message):
        if message not in self.notes:
            self.notes.append(message)

    def __repr__(self):
        return '<Report %s %s: %d notes>' % (self.file_format, self.era, len(self.notes))
