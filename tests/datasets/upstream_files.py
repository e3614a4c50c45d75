"""Small files in the exact formats of the real dataset downloads.

- ``mnist.npz``: arrays ``x_train`` (N, 28, 28) uint8, ``y_train`` (N,) uint8, ...
- ``cifar-10-python.tar.gz``: ``cifar-10-batches-py/{data_batch_1..5, test_batch,
  batches.meta, readme.html}``, each batch a Python 2 pickle (protocol 2, byte strings,
  numpy arrays by ``numpy.core.multiarray._reconstruct``) of ``{b'batch_label', b'labels',
  b'data' (N, 3072) uint8, b'filenames'}``.
- ``cifar-100-python.tar.gz``: ``cifar-100-python/{train, test, meta}`` with
  ``b'fine_labels'`` and ``b'coarse_labels'``.
- ``imdb.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``) and ``reuters.npz``
  (``x``, ``y``): ragged word-index lists as object arrays (pickled ``.npy`` members),
  int64 labels.
"""
import io
import json
import pickle
import pickletools
import struct
import tarfile
import zipfile

import numpy as np


def py2_pickle(obj):
    """``obj`` pickled as Python 2's cPickle wrote it (protocol 2, str opcodes for bytes,
    numpy 1 module names)."""
    data = pickle.dumps(obj, protocol=3)
    ops = list(pickletools.genops(data))
    ends = [pos for _, _, pos in ops[1:]] + [len(data)]  # an opcode ends where the next starts
    out = bytearray()
    for (opcode, arg, pos), end in zip(ops, ends):
        raw = data[pos:end]
        if opcode.name == 'PROTO':
            raw = b'\x80\x02'
        elif opcode.name == 'BINBYTES':
            raw = b'T' + struct.pack('<i', len(arg)) + arg
        elif opcode.name == 'SHORT_BINBYTES':
            raw = b'U' + bytes([len(arg)]) + arg
        elif opcode.name == 'GLOBAL':
            raw = raw.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
        out += raw
    return bytes(out)


def numpy1_npy(array):
    """An ``.npy`` member as numpy 1 wrote it: a 1.0 header, then numeric data, or for
    object arrays a protocol-3 pickle naming ``numpy.core.multiarray``."""
    buf = io.BytesIO()
    fmt = np.lib.format
    fmt.write_array_header_1_0(buf, fmt.header_data_from_array_1_0(array))
    if array.dtype == object:
        data = pickle.dumps(array, protocol=3)
        buf.write(data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    else:
        buf.write(np.ascontiguousarray(array).tobytes())
    return buf.getvalue()


def npz(arrays):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            z.writestr(name + '.npy', numpy1_npy(array))
    return buf.getvalue()


def tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def mnist_npz(rng, n_train=12, n_test=5):
    arrays = {'x_train': rng.integers(0, 256, (n_train, 28, 28)).astype('uint8'),
              'y_train': rng.integers(0, 10, n_train).astype('uint8'),
              'x_test': rng.integers(0, 256, (n_test, 28, 28)).astype('uint8'),
              'y_test': rng.integers(0, 10, n_test).astype('uint8')}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue(), arrays


def _cifar_batch(rng, n, label_keys, label):
    d = {b'batch_label': label.encode(), b'data': rng.integers(0, 256, (n, 3072)).astype('uint8'),
         b'filenames': [('img_%d.png' % i).encode() for i in range(n)]}
    for key, classes in label_keys:
        d[key] = [int(v) for v in rng.integers(0, classes, n)]
    return d


def cifar10_tar(rng, per_batch=3, n_test=4):
    keys = [(b'labels', 10)]
    batches = {'data_batch_%d' % i: _cifar_batch(rng, per_batch, keys, 'training batch %d of 5'
                                                  % i) for i in range(1, 6)}
    batches['test_batch'] = _cifar_batch(rng, n_test, keys, 'testing batch 1 of 1')
    members = {'cifar-10-batches-py/%s' % k: py2_pickle(v) for k, v in batches.items()}
    members['cifar-10-batches-py/batches.meta'] = py2_pickle(
        {b'label_names': [b'airplane', b'automobile'], b'num_cases_per_batch': per_batch,
         b'num_vis': 3072})
    members['cifar-10-batches-py/readme.html'] = b'<html></html>'
    return tar_gz(members), batches


def cifar100_tar(rng, n_train=7, n_test=3):
    keys = [(b'fine_labels', 100), (b'coarse_labels', 20)]
    batches = {'train': _cifar_batch(rng, n_train, keys, 'training batch 1 of 1'),
               'test': _cifar_batch(rng, n_test, keys, 'testing batch 1 of 1')}
    members = {'cifar-100-python/%s' % k: py2_pickle(v) for k, v in batches.items()}
    members['cifar-100-python/meta'] = py2_pickle({b'fine_label_names': [b'apple'],
                                                   b'coarse_label_names': [b'fruit']})
    return tar_gz(members), batches


def _ragged(rng, n, vocab, lo=3, hi=25):
    seqs = np.empty(n, dtype=object)
    for i in range(n):
        seqs[i] = [int(w) for w in rng.integers(1, vocab, rng.integers(lo, hi))]
    return seqs


def imdb_npz(rng, n_train=30, n_test=20, vocab=60):
    return npz({'x_train': _ragged(rng, n_train, vocab),
                'y_train': rng.integers(0, 2, n_train).astype('int64'),
                'x_test': _ragged(rng, n_test, vocab),
                'y_test': rng.integers(0, 2, n_test).astype('int64')})


def reuters_npz(rng, n=40, vocab=80):
    return npz({'x': _ragged(rng, n, vocab), 'y': rng.integers(0, 46, n).astype('int64')})


def word_index(vocab=60):
    return json.dumps({'w%d' % i: i for i in range(1, vocab)}).encode()


class Payload(object):
    """Unpickling this runs ``os.system('touch <sentinel>')``."""

    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        import os
        return (os.system, ('touch %s' % self.sentinel,))
