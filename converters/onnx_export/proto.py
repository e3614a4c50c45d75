"""A small encoder of the ONNX protobuf messages, written straight to a file.

Exporting does not build an ``onnx.ModelProto`` in memory: that would hold every
weight once more (and twice while serializing). Instead the graph without its weights
is encoded here (a few hundred kilobytes even for VGG16), and the weights are written
after it one array at a time, inside the file (``raw_data``) or into an external
``.data`` file. Protobuf allows this: the fields of a message may come in any order,
and a message's length is known from its arrays' shapes before any byte is produced.

Field numbers are those of ``onnx/onnx.proto``; the output is read back by
``onnx.load`` and onnxruntime in the tests.

>>> node = encode_node('Relu', ['x'], ['y'], 'relu_1', {})
>>> node[:3] == bytes([10, 1, ord('x')])
True
"""
import struct

import numpy as np

# TensorProto.DataType
FLOAT, UINT8, INT8, INT32, INT64, BOOL, FLOAT16, DOUBLE = 1, 2, 3, 6, 7, 9, 10, 11
_NP_TO_ONNX = {np.dtype('float32'): FLOAT, np.dtype('uint8'): UINT8, np.dtype('int8'): INT8,
               np.dtype('int32'): INT32, np.dtype('int64'): INT64, np.dtype('bool'): BOOL,
               np.dtype('float16'): FLOAT16, np.dtype('float64'): DOUBLE}
ONNX_TO_NP = {v: k for k, v in _NP_TO_ONNX.items()}

# AttributeProto.AttributeType
_A_FLOAT, _A_INT, _A_STRING, _A_TENSOR, _A_FLOATS, _A_INTS, _A_STRINGS = 1, 2, 3, 4, 6, 7, 8

_VARINT, _FIXED32, _LEN = 0, 5, 2


def elem_type(dtype):
    """The ONNX element type of a numpy dtype."""
    dtype = np.dtype(dtype)
    if dtype not in _NP_TO_ONNX:
        raise TypeError('no ONNX element type for numpy dtype %s' % dtype)
    return _NP_TO_ONNX[dtype]


def varint(n):
    n = int(n)
    if 0 <= n < 128:
        return _SMALL[n]
    if n < 0:
        n += 1 << 64  # int64 fields: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL = [bytes((i,)) for i in range(128)]


def _tag(field, wire):
    return varint((field << 3) | wire)


def f_varint(field, n):
    return _tag(field, _VARINT) + varint(n)


def f_bytes(field, data):
    return _tag(field, _LEN) + varint(len(data)) + bytes(data)


def f_str(field, text):
    return f_bytes(field, text.encode('utf-8'))


def f_float(field, value):
    return _tag(field, _FIXED32) + struct.pack('<f', float(value))


def len_prefix(field, length):
    """The tag and length that precede an embedded message of ``length`` bytes."""
    return _tag(field, _LEN) + varint(length)


# ---- tensors ------------------------------------------------------------------------------

def tensor_header(name, dims, data_type):
    """A TensorProto's dims, data type and name (its data follows separately)."""
    out = b''.join(f_varint(1, d) for d in dims)
    return out + f_varint(2, data_type) + f_str(8, name)


def encode_tensor(name, array):
    """A whole TensorProto with ``raw_data`` (for small arrays: constants, attributes)."""
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == '>':
        array = array.astype(array.dtype.newbyteorder('<'))
    return tensor_header(name, array.shape, elem_type(array.dtype)) + f_bytes(9, array.tobytes())


def raw_data_prefix(nbytes):
    return len_prefix(9, nbytes)


def external_fields(location, offset, length):
    """The ``external_data`` entries and ``data_location = EXTERNAL`` of a TensorProto."""
    entries = [('location', location), ('offset', str(int(offset))), ('length', str(int(length)))]
    out = b''.join(f_bytes(13, f_str(1, k) + f_str(2, v)) for k, v in entries)
    return out + f_varint(14, 1)


# ---- attributes and nodes -----------------------------------------------------------------

def encode_attribute(name, value):
    """An AttributeProto; the type follows the Python value (ints, floats, strings,
    lists of them, or a numpy array for a tensor attribute)."""
    out = f_str(1, name)
    if isinstance(value, np.ndarray):
        return out + f_bytes(5, encode_tensor('', value)) + f_varint(20, _A_TENSOR)
    if isinstance(value, (bool, int, np.integer)):
        return out + f_varint(3, int(value)) + f_varint(20, _A_INT)
    if isinstance(value, (float, np.floating)):
        return out + f_float(2, value) + f_varint(20, _A_FLOAT)
    if isinstance(value, (str, bytes)):
        data = value.encode('utf-8') if isinstance(value, str) else value
        return out + f_bytes(4, data) + f_varint(20, _A_STRING)
    if isinstance(value, (list, tuple)):
        values = list(value)
        if values and all(isinstance(v, str) for v in values):
            return out + b''.join(f_str(9, v) for v in values) + f_varint(20, _A_STRINGS)
        if all(isinstance(v, (bool, int, np.integer)) for v in values):
            return out + b''.join(f_varint(8, int(v)) for v in values) + f_varint(20, _A_INTS)
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
            return out + b''.join(f_float(7, v) for v in values) + f_varint(20, _A_FLOATS)
    raise TypeError('cannot encode ONNX attribute %s=%r' % (name, value))


def encode_node(op_type, inputs, outputs, name, attributes, domain=''):
    out = b''.join(f_str(1, i) for i in inputs) + b''.join(f_str(2, o) for o in outputs)
    if name:
        out += f_str(3, name)
    out += f_str(4, op_type)
    for key in sorted(attributes):
        if attributes[key] is not None:
            out += f_bytes(5, encode_attribute(key, attributes[key]))
    if domain:
        out += f_str(7, domain)
    return out


def encode_value_info(name, data_type, shape):
    """A ValueInfoProto; ``shape`` entries are ints, names (symbolic) or None."""
    dims = b''
    if shape is not None:
        for d in shape:
            if d is None:
                dims += f_bytes(1, b'')
            elif isinstance(d, str):
                dims += f_bytes(1, f_str(2, d))
            else:
                dims += f_bytes(1, f_varint(1, d))
        dims = f_bytes(2, dims)
    tensor_type = f_varint(1, data_type) + dims
    return f_str(1, name) + f_bytes(2, f_bytes(1, tensor_type))


# ---- the model ----------------------------------------------------------------------------

def model_header(opset, ir_version, producer, producer_version, doc=''):
    """ModelProto fields before the graph: versions, producer, the default opset."""
    out = f_varint(1, ir_version)
    out += f_str(2, producer) + f_str(3, producer_version)
    if doc:
        out += f_str(6, doc)
    out += f_bytes(8, f_str(1, '') + f_varint(2, opset))
    return out


def graph_core(name, nodes, inputs, outputs, value_infos=()):
    """GraphProto fields other than its initializers: nodes, name, inputs, outputs."""
    out = b''.join(f_bytes(1, n) for n in nodes)
    out += f_str(2, name)
    out += b''.join(f_bytes(11, v) for v in inputs)
    out += b''.join(f_bytes(12, v) for v in outputs)
    out += b''.join(f_bytes(13, v) for v in value_infos)
    return out
