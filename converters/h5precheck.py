"""Checks of an HDF5 file's raw bytes that libhdf5 itself does not make.

libhdf5 trusts some structures it reads. A *global heap collection* (``GCOL``: where
variable-length strings live, the ``model_config`` of every Keras file among them) is
walked object by object, each object header giving the size of the next step; an
object of index 0 and size 0 makes that walk stand still, and libhdf5 1.14 then loops
for ever (a hostile or corrupted file hangs the reader; found by kzoo's fuzzer). A
size that wraps the pointer makes it read out of bounds. Before h5py opens a file,
every global heap collection in it is walked here the way libhdf5 will walk it, and a
collection whose walk would not advance, or would jump backwards, is refused.

>>> import struct
>>> heap = b'GCOL' + bytes([1, 0, 0, 0]) + struct.pack('<Q', 4096)
>>> heap += struct.pack('<HHIQ', 1, 1, 0, 5) + b'hello\\0\\0\\0'   # object 1: 5 bytes
>>> heap += struct.pack('<HHIQ', 0, 0, 0, 0)                       # free space of size 0
>>> check_global_heaps(heap + bytes(4096 - len(heap)), 'x.h5')
Traceback (most recent call last):
...
kzoo.errors.FileFormatError: x.h5: corrupt HDF5 global heap at byte 0: its object at offset 40 (index 0, size 0) would make libhdf5 read it for ever; refused
"""
import mmap
import os

from kzoo.errors import FileFormatError

_SIGNATURE = b'GCOL'
_MAX_OBJECTS = 1 << 20   # far more than any model file's variable-length strings
_HDF5 = b'\x89HDF\r\n\x1a\n'


def size_of_lengths(buf):
    """The superblock's "size of lengths" (8 in every file h5py writes)."""
    for base in (0, 512, 1024, 2048, 4096):
        if buf[base:base + 8] == _HDF5 and len(buf) >= base + 16:
            version = buf[base + 8]
            value = buf[base + 14] if version in (0, 1) else buf[base + 10]
            return value if value in (2, 4, 8) else 8
    return 8


def check_global_heaps(buf, label):
    """Raise :class:`FileFormatError` if a global heap collection in ``buf`` (bytes or
    an mmap of the file) would make libhdf5 loop for ever or read out of bounds."""
    length_size = size_of_lengths(buf)
    header = 8 + length_size          # H5HG_SIZEOF_HDR: signature, version, reserved, size
    object_header = 8 + length_size   # H5HG_SIZEOF_OBJHDR: index, refs, reserved, size
    end_of_file = len(buf)
    pos = buf.find(_SIGNATURE)
    while pos >= 0:
        if pos + header <= end_of_file and buf[pos + 4] == 1:  # libhdf5 reads version 1 only
            total = int.from_bytes(buf[pos + 8:pos + 8 + length_size], 'little')
            if header <= total <= end_of_file - pos:  # otherwise libhdf5 fails to read it
                _walk(buf, pos, total, header, object_header, length_size, label)
        pos = buf.find(_SIGNATURE, pos + 4)


def _walk(buf, pos, total, header, object_header, length_size, label):
    """H5HG__cache_heap_deserialize's loop, with its size_t arithmetic."""
    wrap = 1 << 64
    p, steps = header, 0
    while p < total:
        if p + object_header > total:
            return  # the tail too small for an object header is free space
        at = pos + p
        index = int.from_bytes(buf[at:at + 2], 'little')
        size = int.from_bytes(buf[at + 8:at + 8 + length_size], 'little')
        if index > 0:
            need = (object_header + ((size + 7) // 8 * 8) % wrap) % wrap
        else:
            need = size
        if need == 0 or need >= 1 << 63:
            raise FileFormatError(
                '%s: corrupt HDF5 global heap at byte %d: its object at offset %d (index %d, '
                'size %d) would make libhdf5 read it for ever; refused'
                % (label, pos, p, index, size))
        p += need
        steps += 1
        if steps > _MAX_OBJECTS:
            raise FileFormatError('%s: HDF5 global heap at byte %d holds more than %d objects; '
                                  'refused as corrupt' % (label, pos, _MAX_OBJECTS))


def check_file(path, label):
    """:func:`check_global_heaps` on a file, through a read-only memory map."""
    with open(path, 'rb') as f:
        if os.fstat(f.fileno()).st_size == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            check_global_heaps(mm, label)
