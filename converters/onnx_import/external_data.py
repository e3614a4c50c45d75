"""Reading ONNX tensors safely, external data included (security.md, items 17-19).

ONNX lets a tensor keep its bytes in another file (``location``, ``offset``,
``length``). kzoo reads such data itself, never through onnx's loader, and only
from regular files inside the model's folder: absolute locations, ``..``, any
symbolic link, ranges past the end of the file and sizes that do not match the
declared dimensions are refused with an error naming the tensor. The declared
dimensions are checked against the bytes actually present before anything is
allocated, so a tensor claiming ``[2**62, 4]`` costs nothing.
"""
import os
import stat

import numpy as np

from kzoo.errors import FileFormatError, UnsafeInputError


def tensor_dtype(tensor, where):
    import onnx
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except Exception:  # noqa: BLE001  (onnx raises KeyError or its own errors)
        raise FileFormatError('%s: tensor %r has an unknown or unsupported data type %d'
                              % (where, tensor.name, tensor.data_type)) from None


def declared_size(tensor, where):
    """Number of elements the dims declare, refusing negative dims."""
    count = 1
    for d in tensor.dims:
        if d < 0:
            raise FileFormatError('%s: tensor %r declares a negative dimension in %s'
                                  % (where, tensor.name, list(tensor.dims)))
        count *= int(d)  # Python ints: no overflow, checked against the bytes below
    return count


def _item_bits(tensor, dtype):
    import onnx
    packed = {getattr(onnx.TensorProto, n, -1): 4 for n in ('INT4', 'UINT4', 'FLOAT4E2M1')}
    return packed.get(tensor.data_type, dtype.itemsize * 8)


def expected_bytes(tensor, where):
    dtype = tensor_dtype(tensor, where)
    return (declared_size(tensor, where) * _item_bits(tensor, dtype) + 7) // 8


_TYPED_FIELDS = ('float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data',
                 'string_data')


def check_inline(tensor, where):
    """The declared dims of an in-file tensor match the data it carries."""
    import onnx
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return
    count = declared_size(tensor, where)
    if tensor.HasField('raw_data'):
        need = expected_bytes(tensor, where)
        if len(tensor.raw_data) != need:
            raise FileFormatError(
                '%s: tensor %r declares dims %s (%d bytes) but carries %d bytes of data'
                % (where, tensor.name, list(tensor.dims), need, len(tensor.raw_data)))
        return
    present = max(len(getattr(tensor, f)) for f in _TYPED_FIELDS)
    dtype = tensor_dtype(tensor, where)
    if dtype.kind == 'c':
        present //= 2  # real and imaginary parts are stored one after the other
    if _item_bits(tensor, dtype) == 4:
        ok = count in (2 * present, 2 * present - 1) or count == present == 0
    else:
        ok = count == present
    if not ok:
        raise FileFormatError('%s: tensor %r declares dims %s (%d values) but carries %d'
                              % (where, tensor.name, list(tensor.dims), count, present))


def _external_fields(tensor, where):
    fields = {}
    for entry in tensor.external_data:
        fields[entry.key] = entry.value
    if 'location' not in fields or not fields['location']:
        raise FileFormatError('%s: tensor %r has external data without a location'
                              % (where, tensor.name))
    for key in ('offset', 'length'):
        if key in fields:
            try:
                fields[key] = int(fields[key])
            except ValueError:
                raise FileFormatError('%s: tensor %r: external data %s %r is not an integer'
                                      % (where, tensor.name, key, fields[key])) from None
            if fields[key] < 0:
                raise FileFormatError('%s: tensor %r: external data %s %d is negative'
                                      % (where, tensor.name, key, fields[key]))
    return fields


def safe_location(base_dir, location, tensor_name, where):
    """The path of ``location`` inside ``base_dir``, refusing every way out of it."""
    if base_dir is None:
        raise UnsafeInputError('%s: tensor %r keeps its data in the external file %r, but '
                               'the model was not loaded from a folder (pass a file path)'
                               % (where, tensor_name, location))
    if '\x00' in location or '\\' in location or os.path.isabs(location) or (
            len(location) > 1 and location[1] == ':'):
        raise UnsafeInputError('%s: tensor %r: external data location %r must be a relative '
                               'path inside the model folder' % (where, tensor_name, location))
    parts = [p for p in location.split('/') if p not in ('', '.')]
    if not parts or any(p == '..' for p in parts):
        raise UnsafeInputError('%s: tensor %r: external data location %r leaves the model '
                               'folder' % (where, tensor_name, location))
    base = os.path.abspath(base_dir)
    path = base
    for part in parts:
        path = os.path.join(path, part)
        try:
            info = os.lstat(path)
        except OSError:
            raise FileFormatError('%s: tensor %r: external data file %r does not exist in %s'
                                  % (where, tensor_name, location, base)) from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeInputError('%s: tensor %r: external data location %r goes through the '
                                   'symbolic link %r; kzoo reads only regular files inside '
                                   'the model folder' % (where, tensor_name, location, path))
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise UnsafeInputError('%s: tensor %r: external data location %r is not a regular '
                               'file' % (where, tensor_name, location))
    real_base, real_path = os.path.realpath(base), os.path.realpath(path)
    if os.path.commonpath([real_base, real_path]) != real_base:
        raise UnsafeInputError('%s: tensor %r: external data location %r resolves outside '
                               'the model folder' % (where, tensor_name, location))
    return path


def load_external(tensor, base_dir, where, cache=None):
    """Read the external bytes of ``tensor`` into ``raw_data`` (in place)."""
    import onnx
    fields = _external_fields(tensor, where)
    path = safe_location(base_dir, fields['location'], tensor.name, where)
    need = expected_bytes(tensor, where)
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_BINARY', 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeInputError('%s: tensor %r: external data %r is not a regular file'
                                   % (where, tensor.name, fields['location']))
        size = info.st_size
        offset = fields.get('offset', 0)
        length = fields.get('length', size - offset)
        if offset > size or offset + length > size:
            raise FileFormatError(
                '%s: tensor %r: external data range offset %d length %d runs past the end of '
                '%r (%d bytes)' % (where, tensor.name, offset, length, fields['location'],
                                   size))
        if length != need:
            raise FileFormatError(
                '%s: tensor %r declares dims %s (%d bytes) but its external data has %d bytes'
                % (where, tensor.name, list(tensor.dims), need, length))
        os.lseek(fd, offset, os.SEEK_SET)
        chunks, remaining = [], length
        while remaining:
            chunk = os.read(fd, min(remaining, 1 << 24))
            if not chunk:
                raise FileFormatError('%s: tensor %r: external data file %r ended early'
                                      % (where, tensor.name, fields['location']))
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    tensor.raw_data = b''.join(chunks)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT


def iter_graph_tensors(graph):
    """Every TensorProto of a graph: initializers and Constant/attribute tensors,
    subgraphs included."""
    import onnx
    stack = [graph]
    while stack:
        g = stack.pop()
        for t in g.initializer:
            yield t
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == onnx.AttributeProto.TENSORS:
                    for t in attr.tensors:
                        yield t
                elif attr.type == onnx.AttributeProto.GRAPH:
                    stack.append(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(attr.graphs)


def resolve_tensors(model, base_dir, where):
    """Check every tensor of ``model`` and read its external data (in place)."""
    import onnx
    for tensor in iter_graph_tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            load_external(tensor, base_dir, where)
        check_inline(tensor, where)


def to_array(tensor, where):
    """A NumPy array from a checked TensorProto."""
    from onnx import numpy_helper
    check_inline(tensor, where)
    try:
        return np.asarray(numpy_helper.to_array(tensor))
    except Exception as e:  # noqa: BLE001
        raise FileFormatError('%s: tensor %r cannot be read: %s' % (where, tensor.name, e)) \
            from e


__all__ = ['resolve_tensors', 'to_array', 'safe_location', 'load_external', 'check_inline']
