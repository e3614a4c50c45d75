"""The written ONNX file read back field by field, against the graph that was written.

onnxruntime checks a single-file export through a companion graph whose tensors point
at the weights inside the written file (and, at a smaller check size, whose inputs
and outputs have that size), so it does not itself parse the written file's framing.
This reader does: it walks the file's protobuf fields (without reading the weights)
and requires exactly the written graph's nodes, inputs and outputs, and, in order,
every initializer with its name, shape and type whose data lies where the companion
graph points (inline ``raw_data`` or ``external_data`` entries). Together with the
check this covers every byte of the written file.

>>> import io
>>> list(fields(memoryview(bytes([8, 7, 18, 1, 65])), 0, 5))
[(1, 0, 7, None), (2, 2, 4, 1)]
"""
import mmap
import os

from kzoo.converters.onnx_export import proto
from kzoo.errors import ConversionError


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError('varint too long at byte %d' % pos)


def fields(buf, start, end):
    """``(field, wire type, value or offset, None or length)`` of the protobuf message
    in ``buf[start:end]``: varints give their value, length-delimited fields the offset
    and length of their bytes."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield field, wire, value, None
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise ValueError('field %d overruns its message' % field)
            yield field, wire, pos, length
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield field, wire, None, None
        else:
            raise ValueError('wire type %d of field %d' % (wire, field))
    if pos != end:
        raise ValueError('a field overruns its message')


def verify_written(path, graph):
    """Raise :class:`ConversionError` unless the ONNX file at ``path`` holds ``graph`` as
    :meth:`OnnxGraph.write` placed it (``graph.placements``)."""
    try:
        with open(os.fspath(path), 'rb') as f, \
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            _verify(buf, graph)
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
        raise ConversionError('the written ONNX file %s does not read back as written: %s'
                              % (path, e)) from None


def _verify(buf, graph):
    from kzoo.converters.onnx_export.graph import ir_version
    top = list(fields(buf, 0, len(buf)))
    graphs = [(o, n) for f, w, o, n in top if f == 7 and w == 2]
    if len(graphs) != 1:
        raise ValueError('%d graph fields' % len(graphs))
    if [v for f, w, v, _ in top if f == 1 and w == 0] != [ir_version(graph.opset)]:
        raise ValueError('the IR version differs')
    opsets = [{k: (bytes(buf[o:o + n]) if w == 2 else o) for k, w, o, n in
               fields(buf, v, v + size)} for f, w, v, size in top if f == 8 and w == 2]
    if opsets != [{1: b'', 2: graph.opset}]:
        raise ValueError('the opset import differs')
    start, length = graphs[0]
    parts = {1: [], 2: [], 5: [], 11: [], 12: []}
    for field, wire, offset, size in fields(buf, start, start + length):
        if field in parts and wire == 2:
            parts[field].append((offset, size))
    if [bytes(buf[o:o + n]) for o, n in parts[2]] != [graph.name.encode('utf-8')]:
        raise ValueError('the graph name differs')
    nodes = [bytes(buf[o:o + n]) for o, n in parts[1]]
    if nodes != graph._encoded_nodes():
        raise ValueError('the nodes differ from the graph\'s')
    for field, entries in ((11, graph.inputs), (12, graph.outputs)):
        written = [bytes(buf[o:o + n]) for o, n in parts[field]]
        if written != [proto.encode_value_info(*e) for e in entries]:
            raise ValueError('the graph %s differ' % ('inputs' if field == 11 else 'outputs'))
    tensors = parts[5]
    if len(tensors) != len(graph.initializers):
        raise ValueError('%d initializers, %d written' % (len(graph.initializers),
                                                         len(tensors)))
    for (offset, size), init in zip(tensors, graph.initializers.values()):
        _verify_tensor(buf, offset, size, init, graph.placements[init.name])


def _verify_tensor(buf, start, length, init, placement):
    location, data_offset, nbytes, small = placement
    dims, data_type, name, raw, external, where = [], None, None, None, {}, 0
    for field, wire, value, size in fields(buf, start, start + length):
        if field == 1 and wire == 0:
            dims.append(value)
        elif field == 2 and wire == 0:
            data_type = value
        elif field == 8 and wire == 2:
            name = bytes(buf[value:value + size]).decode('utf-8')
        elif field == 9 and wire == 2:
            raw = (value, size)
        elif field == 13 and wire == 2:
            entry = {k: bytes(buf[o:o + n]).decode('utf-8')
                     for k, w, o, n in fields(buf, value, value + size) if w == 2}
            external[entry.get(1, '')] = entry.get(2, '')
        elif field == 14 and wire == 0:
            where = value
    if name != init.name or tuple(dims) != init.dims or \
            data_type != proto.elem_type(init.dtype):
        raise ValueError('initializer %r is written as %r %s type %s' % (
            init.name, name, dims, data_type))
    if location is None:
        if raw != (data_offset, nbytes) or where != 0:
            raise ValueError('initializer %r: its data is not where it was written'
                             % init.name)
        if small is not None and bytes(buf[raw[0]:raw[0] + raw[1]]) != small:
            raise ValueError('initializer %r: its value differs' % init.name)
    elif raw is not None or where != 1 or external != {
            'location': location, 'offset': str(data_offset), 'length': str(nbytes)}:
        raise ValueError('initializer %r: its external data entry differs' % init.name)
