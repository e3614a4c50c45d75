"""Defensive HDF5 reading: every model file is untrusted input.

What this module guarantees to its callers (security.md, items 9-13):

- only hard links are followed: soft links, external links and user-defined links are
  refused, so a file can never make kzoo open another file or loop;
- virtual datasets and datasets with external storage are refused;
- a dataset or attribute is read only after its declared size has been checked against
  the file's real size (a compressed, fill-only dataset declaring petabytes is refused
  before a byte is allocated), and the total read from one file is bounded;
- every failure of libhdf5 on a malformed file becomes a :class:`FileFormatError` that
  names the file and the object, and structures libhdf5 would loop on for ever are
  refused before it sees them: libhdf5 reads a file through
  :class:`~kzoo.converters.h5precheck.CheckedFile`, which checks each read.

>>> import h5py, numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), 'w.h5')
>>> with h5py.File(path, 'w') as f:
...     f['g/kernel:0'] = np.ones((2, 2), 'float32')
...     f.attrs['names'] = np.array([b'g'])
>>> with H5File(path) as h5:
...     h5.attr(h5.root, 'names'), h5.read(h5.root, 'g/kernel:0').shape
(['g'], (2, 2))
"""
import atexit
import io
import os
import weakref

import numpy as np

from kzoo.converters import h5precheck
from kzoo.errors import FileFormatError, UnsafeInputError

HDF5_SIGNATURE = h5precheck.HDF5_SIGNATURE

# A file may expand at most this much (plus a small allowance) when read: real Keras
# files are stored uncompressed, so their data is never larger than the file itself.
EXPANSION_LIMIT = 16
ALLOWANCE = 1 << 20


def is_hdf5(path_or_bytes):
    """True when the data starts with the HDF5 signature (at 0 or a user-block offset)."""
    try:
        if isinstance(path_or_bytes, (bytes, bytearray)):
            data = path_or_bytes
            return any(bytes(data[o:o + 8]) == HDF5_SIGNATURE
                       for o in h5precheck.signature_offsets(len(data)))
        with open(path_or_bytes, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            for offset in h5precheck.signature_offsets(size):
                f.seek(offset)
                if f.read(8) == HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def decode_text(value):
    """A ``str`` from any way h5py hands back a string attribute."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_, bytearray)):
        data = bytes(value)
        try:
            return data.decode('utf-8')
        except UnicodeDecodeError:
            return data.decode('latin-1')
    if isinstance(value, np.str_):
        return str(value)
    return value


def decode_value(value):
    """Attribute values as plain Python: strings decoded, arrays of strings as lists."""
    import h5py
    if isinstance(value, h5py.Empty):
        return []
    if isinstance(value, np.ndarray):
        if value.dtype.kind in 'SUO':
            return [decode_text(v) for v in value.reshape(-1).tolist()]
        return value
    return decode_text(value)


class H5File(object):
    """A read-only HDF5 file (a path, or bytes from an archive member) opened safely.

    Use as a context manager. ``label`` is what error messages call the file.
    """

    def __init__(self, source, label=None):
        import h5py
        self.label = label or (source if isinstance(source, str) else '<in-memory HDF5>')
        # the raw-read state: the checked file libhdf5 reads, descriptor, map, mapped ranges
        self._reader, self._fd, self._mapping, self._mapped = None, None, None, []
        if isinstance(source, (bytes, bytearray)):
            self.size = len(source)
            if not is_hdf5(source):
                raise FileFormatError('%s is not an HDF5 file (no HDF5 signature)' % self.label)
            h5precheck.check_global_heaps(source, self.label)
            opener = io.BytesIO(bytes(source))
        else:
            source = os.fspath(source)
            if not os.path.isfile(source):
                raise FileFormatError('%s: no such file (or not a regular file)' % self.label)
            self.size = os.path.getsize(source)
            if not is_hdf5(source):
                raise FileFormatError('%s is not an HDF5 file (no HDF5 signature)' % self.label)
            # libhdf5 reads through it: each global heap is checked before libhdf5 sees it
            opener = self._reader = h5precheck.CheckedFile(source, self.label)
            self.size = opener.size
        self.budget = EXPANSION_LIMIT * self.size + ALLOWANCE
        try:
            self._file = h5py.File(opener, 'r')
        except Exception as e:  # libhdf5 reports corruption with many exception types
            if self._reader is not None:
                self._reader.close()
            self._fail(e, '%s is not a readable HDF5 file' % self.label)
        self.root = self._file
        _OPEN.add(self)

    def close(self):
        self._mapping = self._fd = False  # views handed out keep the map alive
        try:
            self._file.close()
        except Exception:
            pass
        if self._reader is not None:
            self._reader.close()  # after libhdf5 is done with it
        _OPEN.discard(self)

    def _fail(self, error, message):
        """Raise the check that refused the file, if one did; else a FileFormatError."""
        refused = self._reader.refused if self._reader is not None else None
        if refused is not None:
            raise refused from None
        raise FileFormatError('%s: %s' % (message, _short(error))) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- navigation -----------------------------------------------------------------

    def keys(self, group):
        """Names of the links in ``group`` (no link is followed)."""
        try:
            return [decode_text(k) for k in group.keys()]
        except Exception as e:
            self._fail(e, '%s: cannot list group %s' % (self.label, _name(group)))

    def has(self, group, path):
        try:
            self.get(group, path)
            return True
        except FileFormatError:
            if self._reader is not None and self._reader.refused is not None:
                raise self._reader.refused from None
            return False

    def get(self, group, path, kind=None):
        """Follow ``path`` (``a/b/c``) from ``group`` through hard links only.

        ``kind`` may be ``'group'`` or ``'dataset'`` to insist on the object type.
        """
        import h5py
        path = str(path)
        parts = [p for p in path.split('/') if p]
        if not parts:
            raise FileFormatError('%s: empty object name under %s' % (self.label, _name(group)))
        if path.startswith('/'):
            # h5py would resolve it from the file's root, not from ``group``
            raise FileFormatError('%s: object path %s under %s is absolute'
                                  % (self.label, _text(path), _name(group)))
        obj = group
        for part in parts:
            if part in ('.', '..'):
                raise FileFormatError('%s: object path %s contains %r'
                                      % (self.label, _text(path), part))
            if not isinstance(obj, h5py.Group):
                raise FileFormatError('%s: %s is not a group, so it has no %s'
                                      % (self.label, _name(obj), _text(part)))
            try:  # the link itself, not followed (h5py's get(getlink=True) without its cost)
                name = part.encode('utf-8')
                link = obj.id.links.get_info(name).type
            except KeyError:
                link = None
            except Exception as e:
                self._fail(e, '%s: cannot read link %s in %s'
                              % (self.label, _text(part), _name(obj)))
            if link is None:
                raise FileFormatError('%s: %s has no member %s (looking for %s)'
                                      % (self.label, _name(obj), _text(part), _text(path)))
            if link != h5py.h5l.TYPE_HARD:
                raise UnsafeInputError(
                    '%s: refused %s %s in %s: kzoo follows only hard links, so a model '
                    'file cannot make it open other files' % (
                        self.label, _LINKS.get(link, 'user-defined link'), _text(part),
                        _name(obj)))
            try:
                obj = _open(obj, name)
            except Exception as e:
                self._fail(e, '%s: cannot open %s in %s'
                              % (self.label, _text(part), _name(obj)))
        if kind == 'group' and not isinstance(obj, h5py.Group):
            raise FileFormatError('%s: %s should be a group' % (self.label, _name(obj)))
        if kind == 'dataset' and not isinstance(obj, h5py.Dataset):
            raise FileFormatError('%s: %s should be a dataset' % (self.label, _name(obj)))
        return obj

    def is_group(self, obj):
        import h5py
        return isinstance(obj, h5py.Group)

    # ---- data -----------------------------------------------------------------------

    def _charge(self, nbytes, what):
        if nbytes > self.budget:
            raise UnsafeInputError(
                '%s: refused %s: it declares %d bytes, more than the file (%d bytes) can '
                'hold; a compressed or fill-only "bomb" dataset' % (self.label, what, nbytes,
                                                                   self.size))
        self.budget -= nbytes

    def read(self, group, path=None):
        """A dataset as a numpy array, after link, storage and size checks."""
        ds, what, shape, dtype = self._numeric_dataset(group, path)
        if shape is None:
            return np.zeros((0,), 'float32')
        self._charge(int(np.prod(shape, dtype=np.float64)) * dtype.itemsize, what)
        try:
            return np.asarray(ds[()])
        except Exception as e:
            self._fail(e, '%s: cannot read %s' % (self.label, what))

    def read_into(self, group, path, out):
        """Read a dataset straight into ``out``, a writable C-contiguous array of its
        shape (a weight's own memory): no intermediate array. Same checks as :meth:`read`;
        HDF5 converts the stored type (say big-endian or float64) to ``out``'s."""
        ds, what, shape, dtype = self._numeric_dataset(group, path)
        if tuple(shape or ()) != tuple(out.shape):
            raise FileFormatError('%s: %s has shape %s, expected %s'
                                  % (self.label, what, shape, tuple(out.shape)))
        self._charge(int(np.prod(shape, dtype=np.float64)) * dtype.itemsize, what)
        try:
            if out.size:
                ds.read_direct(out)
        except Exception as e:
            self._fail(e, '%s: cannot read %s' % (self.label, what))
        return out

    def map_dataset(self, group, path, dtype, shape):
        """A writable copy-on-write view of a dataset's bytes in the file (a private
        memory map: writes to it stay in this process, never reach the file), or None
        when that is not safe, and :meth:`read_into` must copy instead.

        Only a dataset stored contiguously, unfiltered, already allocated, of exactly
        ``dtype`` (native byte order) and ``shape``, whose bytes lie inside the file,
        start at a multiple of the item size and overlap no dataset mapped before (two
        weights must never share memory) is mapped. Same checks as :meth:`read`.

        The trade-off of a mapping (as safetensors' and ``torch.load(mmap=True)``):
        pages not yet written are the file's, so a later change of the file *in place*
        by another program shows through, and truncating it makes reading those weights
        fail with SIGBUS. Replacing the file (kzoo's and most writers' temporary file
        + rename) does not: the mapping keeps the old file."""
        if self._mapping is False:
            return None
        extent = self._extent(group, path, dtype, shape)
        if extent is None:
            return None
        offset, nbytes, what = extent
        dtype = np.dtype(dtype)
        mapping = self._mapped_file()
        if offset % dtype.itemsize or mapping is None or offset + nbytes > len(mapping):
            return None
        end = offset + nbytes
        if any(start < end and offset < stop for start, stop in self._mapped):
            return None
        self._charge(nbytes, what)
        self._mapped.append((offset, end))
        return np.frombuffer(mapping, dtype, nbytes // dtype.itemsize, offset).reshape(shape)

    def contiguous_extent(self, group, path, dtype, shape):
        """``(offset, nbytes)`` of a dataset whose bytes in the file are exactly those of
        a C-contiguous ``dtype`` array of ``shape`` (contiguous layout, no filters,
        allocated, native byte order, inside the file), after the checks :meth:`read`
        makes, its size charged; else None (then :meth:`read_into` converts)."""
        extent = self._extent(group, path, dtype, shape)
        if extent is None or self._raw_fd() is None or extent[0] + extent[1] > self.size:
            return None
        self._charge(extent[1], extent[2])
        return extent[:2]

    def read_extents(self, jobs):
        """Fill each ``out`` of ``[(out, offset)]`` (writable C-contiguous arrays) with the
        file's bytes from ``offset`` (from :meth:`contiguous_extent`): plain reads of the
        file libhdf5 has open, shared among threads (the copies run in parallel)."""
        pieces = []
        for out, offset in jobs:
            view = memoryview(out).cast('B')
            for start in range(0, len(view), _PIECE):
                pieces.append((view[start:start + _PIECE], offset + start))
        if not pieces:
            return
        fd = self._raw_fd()

        def read(piece):
            view, offset = piece
            done = 0
            while done < len(view):
                n = os.preadv(fd, [view[done:]], offset + done)
                if n <= 0:
                    raise FileFormatError('%s: the file ended at byte %d, inside a dataset'
                                          % (self.label, offset + done))
                done += n
        workers = min(_cpus(), len(pieces))
        if workers < 2:
            for piece in pieces:
                read(piece)
            return
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(read, pieces):
                pass

    def _extent(self, group, path, dtype, shape):
        """``(offset, nbytes, description)`` for :meth:`contiguous_extent`, unchecked
        against the file's size and not charged; or None."""
        import h5py
        ds, what, ds_shape, ds_dtype = self._numeric_dataset(group, path)
        dtype = np.dtype(dtype)
        if ds_shape is None or tuple(ds_shape) != tuple(shape) or ds_dtype != dtype or \
                not ds_dtype.isnative or ds_dtype.kind != 'f':
            return None
        nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        try:
            plist = ds.id.get_create_plist()
            if plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_nfilters():
                return None
            offset = ds.id.get_offset()
            if offset is None or ds.id.get_storage_size() != nbytes:
                return None
        except Exception:
            return None  # read_into reports what is wrong, if anything
        if not nbytes or offset < 0:
            return None
        return offset, nbytes, what

    def _mapped_file(self):
        """A private (copy-on-write) map of the file libhdf5 has open, or None."""
        if self._mapping is None:
            self._mapping = False
            fd = self._raw_fd()
            if fd is not None:
                import mmap
                try:
                    self._mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)
                except (OSError, ValueError):
                    pass
        return None if self._mapping is False else self._mapping

    def _raw_fd(self):
        """The descriptor of the very file libhdf5 reads (:class:`CheckedFile`'s), when
        it is still a regular file of the size checked at opening; else None (libhdf5
        reads all)."""
        if self._fd is None:
            self._fd = False
            if self._reader is not None and os.name == 'posix' and hasattr(os, 'preadv'):
                import stat
                try:
                    st = os.fstat(self._reader.fd)
                    if stat.S_ISREG(st.st_mode) and st.st_size == self.size > 0:
                        self._fd = self._reader.fd
                except OSError:
                    pass
        return None if self._fd is False else self._fd

    def dataset_info(self, group, path=None, charge=True):
        """``(shape, dtype)`` of a dataset after the checks :meth:`read` makes (links,
        virtual or external storage, type, declared size against the file's), without
        reading it: what ``kzoo info`` reports. ``charge=False`` leaves the size to be
        checked by the read that follows."""
        ds, what, shape, dtype = self._numeric_dataset(group, path)
        if shape is not None and charge:
            self._charge(int(np.prod(shape, dtype=np.float64)) * dtype.itemsize, what)
        return shape, dtype

    def _numeric_dataset(self, group, path):
        """``(dataset, description, shape, dtype)`` after link, storage and type checks."""
        ds = self.get(group, path, kind='dataset') if path is not None else group
        what = 'dataset %s' % _name(ds)
        try:
            if ds.is_virtual:
                raise UnsafeInputError('%s: refused virtual %s (it maps other files)'
                                       % (self.label, what))
            if ds.external:
                raise UnsafeInputError('%s: refused %s with external storage (%s)'
                                       % (self.label, what, ds.external[0][0]))
            shape, dtype = ds.shape, ds.dtype
        except UnsafeInputError:
            raise
        except Exception as e:
            self._fail(e, '%s: cannot read %s' % (self.label, what))
        if shape is not None and dtype.kind not in 'fiub':
            raise FileFormatError('%s: %s has type %s; weights must be numbers'
                                  % (self.label, what, dtype))
        return ds, what, shape, dtype

    def attr(self, obj, name, default=None):
        """Attribute ``name`` of ``obj``, decoded (``default`` when absent)."""
        try:
            if name not in obj.attrs:
                return default
            aid = obj.attrs.get_id(name)
            shape = aid.shape
            nbytes = 0 if shape is None else int(np.prod(shape, dtype=np.float64)) * max(
                aid.dtype.itemsize, 1)
            self._charge(nbytes, 'attribute %s of %s' % (_text(name), _name(obj)))
            if shape is None:  # a null dataspace: Keras writes empty lists so
                return []
            value = obj.attrs[name]
        except UnsafeInputError:
            raise
        except Exception as e:
            self._fail(e, '%s: cannot read attribute %s of %s'
                          % (self.label, _text(name), _name(obj)))
        return decode_value(value)

    def text_attr(self, obj, name):
        """A text attribute (``keras_version``, ``model_config``) as ``str``, or None
        when absent; anything else (numbers, arrays of several values) is a
        :class:`FileFormatError`."""
        value = self.attr(obj, name)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None or isinstance(value, str):
            return value
        raise FileFormatError('%s: attribute %s of %s should be text; it holds %s'
                              % (self.label, _text(name), _name(obj), _describe(value)))

    def split_attr(self, obj, name):
        """A list of names that Keras may have split into ``name0``, ``name1``, ...

        Keras splits attributes over 64,512 bytes (HDF5's object-header limit). Every
        element must be text (a :class:`FileFormatError` otherwise).
        """
        value = self.attr(obj, name)
        if value is not None:
            return self._names(obj, name, _as_list(value))
        chunks, i = [], 0
        while True:
            part = self.attr(obj, '%s%d' % (name, i))
            if part is None:
                break
            chunks.extend(self._names(obj, '%s%d' % (name, i), _as_list(part)))
            i += 1
        return chunks if i else None

    def _names(self, obj, name, values):
        for v in values:
            if not isinstance(v, str):
                raise FileFormatError('%s: attribute %s of %s should list names (text); it '
                                      'holds %s' % (self.label, _text(name), _name(obj),
                                                    _describe(v)))
        return values

    def attr_names(self, obj):
        try:
            return [decode_text(k) for k in obj.attrs.keys()]
        except Exception as e:
            self._fail(e, '%s: cannot list attributes of %s'
                          % (self.label, _name(obj)))


def _open(group, name):
    """``group[name]`` for a hard link ``name`` (bytes) of a read-only file, as h5py
    opens it, without h5py's look-up of the file's mode."""
    import h5py
    oid = h5py.h5o.open(group.id, name)
    kind = h5py.h5i.get_type(oid)
    if kind == h5py.h5i.GROUP:
        return h5py.Group(oid)
    if kind == h5py.h5i.DATASET:
        return h5py.Dataset(oid, readonly=True)
    if kind == h5py.h5i.DATATYPE:
        return h5py.Datatype(oid)
    raise TypeError('unknown object type')


_LINKS = {1: 'SoftLink', 64: 'ExternalLink'}  # h5l.TYPE_SOFT, h5l.TYPE_EXTERNAL


_PIECE = 16 << 20  # bytes per read in read_extents: large datasets shared among threads

# Files still open at exit are closed first: libhdf5 closing them after Python has gone
# would call back into their file objects (h5py's fileobj driver) and crash.
_OPEN = weakref.WeakSet()


@atexit.register
def _close_all():
    for h5 in list(_OPEN):
        h5.close()


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _as_list(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _name(obj):
    try:
        return _text(obj.name)
    except Exception:
        return '<object>'


def _describe(value):
    text = repr(value)
    return '%s %s' % (type(value).__name__, text if len(text) < 80 else text[:80] + '...')


def _text(name, limit=120):
    """``repr(name)``, shortened: a hostile file may hold names of any length."""
    text = repr(name)
    return text if len(text) <= limit else '%s...(%d characters)' % (text[:limit], len(name))


def _short(error):
    text = str(error) or type(error).__name__
    return text if len(text) < 300 else text[:300] + '...'
