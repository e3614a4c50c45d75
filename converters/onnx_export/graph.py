"""The ONNX graph under construction: nodes, named values, weights, and how to write it.

Nodes are kept as plain records until the end, so that names can still change (graph
outputs take their layer's name). Weights are *producers*: a function returning the
array in ONNX layout, called only while the file is written, one at a time, so that
exporting holds no second copy of the model's weights. A weight is registered under
a key (the kzoo variable and the transform applied to it): asking twice for the same
key gives the same initializer, so shared layers store their weights once.

>>> g = OnnxGraph(opset=17)
>>> y = g.node('Relu', ['x'], name='act')[0]
>>> g.nodes[0].op_type, g.nodes[0].name, y
('Relu', 'act', 'act:0')
"""
import collections
import os

import numpy as np

from kzoo.converters.onnx_export import proto

Node = collections.namedtuple('Node', 'op_type inputs outputs name attributes domain')


class Initializer(object):
    """A weight or constant: shape and dtype known up front, data made on demand.
    ``step``: the index in the model's plan of the layer call that registered a weight
    (its variables are set once that layer is loaded), -1 for a constant."""
    __slots__ = ('name', 'dims', 'dtype', 'producer', 'step')

    def __init__(self, name, dims, dtype, producer, step=-1):
        self.name, self.dims, self.dtype, self.producer = name, tuple(dims), np.dtype(dtype), \
            producer
        self.step = step

    @property
    def nbytes(self):
        return int(np.prod(self.dims, dtype='int64')) * self.dtype.itemsize

    def blocks(self):
        """The data as arrays, in order (one, or several for a :class:`GatheredRows`);
        a strided view (a transposed kernel) is made contiguous by the writer."""
        value = self.producer()
        if not isinstance(value, GatheredRows):
            value = np.asarray(value)
        if tuple(value.shape) != self.dims or value.dtype != self.dtype:
            raise AssertionError('initializer %s: producer gave %s %s, expected %s %s'
                                 % (self.name, value.shape, value.dtype, self.dims, self.dtype))
        if isinstance(value, GatheredRows):
            return value.blocks()
        return [value]


class GatheredRows(object):
    """``array[rows]``, produced a block of rows at a time: writing a Dense kernel whose
    rows follow a Flatten's permutation (VGG16: 400 MB) costs no second copy."""

    def __init__(self, array, rows, block_bytes=16 << 20):
        self.array, self.rows = array, np.asarray(rows)
        self.shape = (len(self.rows),) + tuple(array.shape[1:])
        self.dtype = array.dtype
        row_bytes = max(1, int(np.prod(self.shape[1:], dtype='int64')) * self.dtype.itemsize)
        self.step = max(1, block_bytes // row_bytes)

    def blocks(self):
        for start in range(0, len(self.rows), self.step):
            yield np.ascontiguousarray(self.array[self.rows[start:start + self.step]])


class OnnxGraph(object):
    """Nodes, initializers and unique names of one ONNX graph."""

    def __init__(self, opset, name='kzoo'):
        self.opset = int(opset)
        self.name = name
        self.nodes = []
        self.initializers = collections.OrderedDict()
        self.inputs, self.outputs = [], []   # (name, elem type, shape)
        self._names = set()        # values: inputs, outputs, initializers
        self._node_names = set()   # node names (a separate namespace in ONNX)
        self._keys = {}
        self._small = {}
        self._aliases = {}
        self.step = -1             # the model's plan step being exported
        self._node_bytes = None    # the nodes encoded (once written)
        self._node_source = None   # a graph with the same nodes (same_nodes_as)

    # ---- names --------------------------------------------------------------------------

    def unique(self, base, names=None):
        """A value name: ``base`` if unused, else ``base_1``, ``base_2``, ..."""
        names = self._names if names is None else names
        name = self.free_name(base or 'v', names)
        names.add(name)
        return name

    def free_name(self, base, names=None):
        """The node name :meth:`node` would give for ``base``, without taking it (a
        layer's main node takes its layer's name this way)."""
        names = self._node_names if names is None else names
        name, i = base, 0
        while name in names:
            i += 1
            name = '%s_%d' % (base, i)
        return name

    def reserve(self, name):
        if name in self._names:
            raise ValueError('ONNX name %r is used twice' % name)
        self._names.add(name)
        return name

    # ---- nodes --------------------------------------------------------------------------

    def node(self, op_type, inputs, outputs=1, name=None, domain='', **attributes):
        """Add a node; returns its output names. ``outputs`` is a count or a list of names;
        ``name`` defaults to the op type (made unique)."""
        name = self.unique(name or op_type, self._node_names)
        self._node_bytes = None
        if isinstance(outputs, int):
            outputs = [self.unique('%s:%d' % (name, i)) for i in range(outputs)]
        self.nodes.append(Node(op_type, list(inputs), list(outputs), name, attributes, domain))
        return outputs

    def op(self, op_type, *inputs, **attributes):
        """One-output shorthand: ``g.op('Add', a, b)``; ``name=`` names the node."""
        return self.node(op_type, list(inputs), 1, **attributes)[0]

    # ---- constants and weights ------------------------------------------------------------

    def const(self, value, dtype=None, name=None):
        """A small constant (shape tensors, scalars); equal constants are stored once."""
        array = np.asarray(value, dtype=dtype)
        if array.dtype == np.float64 and dtype is None:
            array = array.astype('float32')
        key = (array.dtype.str, array.shape, array.tobytes())
        if key in self._small:
            return self._small[key]
        init_name = self.unique(name or 'const')
        self.initializers[init_name] = Initializer(init_name, array.shape, array.dtype,
                                                   lambda a=array: a)
        self._small[key] = init_name
        return init_name

    def ints(self, values):
        return self.const(np.asarray(values, dtype='int64'))

    def weight(self, key, name, dims, dtype, producer):
        """A weight initializer made by ``producer()`` when the file is written; the same
        ``key`` always gives the same initializer."""
        if key in self._keys:
            return self._keys[key]
        init_name = self.unique(name)
        self.initializers[init_name] = Initializer(init_name, dims, dtype, producer, self.step)
        self._keys[key] = init_name
        return init_name

    def add_input(self, name, dtype, shape):
        self.inputs.append((self.reserve(name), proto.elem_type(dtype), shape))
        return name

    def add_output(self, value_name, wanted, dtype, shape):
        """Make ``value_name`` a graph output called ``wanted`` (renaming or copying)."""
        value_name = self._aliases.get(value_name, value_name)
        wanted = self._free_output_name(wanted, value_name)
        produced = [n for n in self.nodes if value_name in n.outputs]
        graph_input = any(value_name == i[0] for i in self.inputs)
        already_output = any(value_name == o[0] for o in self.outputs)
        if wanted == value_name:
            pass
        elif produced and not graph_input and not already_output \
                and value_name not in self.initializers:
            self._rename(value_name, wanted)
        else:
            self.node('Identity', [value_name], [wanted], name=wanted)
        self.outputs.append((wanted, proto.elem_type(dtype), shape))
        return wanted

    def _free_output_name(self, wanted, value_name):
        if wanted == value_name:
            return wanted
        if wanted in self._names:
            return self.unique(wanted)
        self._names.add(wanted)
        return wanted

    def _rename(self, old, new):
        self._node_bytes = None
        self._aliases[old] = new
        for i, n in enumerate(self.nodes):
            if old in n.inputs or old in n.outputs:
                self.nodes[i] = n._replace(inputs=[new if x == old else x for x in n.inputs],
                                           outputs=[new if x == old else x for x in n.outputs])

    # ---- writing ---------------------------------------------------------------------------

    def same_nodes_as(self, other):
        """This graph's nodes are ``other``'s (checked by the caller): encode them once."""
        self._node_source = other

    def _encoded_nodes(self):
        if self._node_source is not None:
            return self._node_source._encoded_nodes()
        if self._node_bytes is None:
            self._node_bytes = [proto.encode_node(n.op_type, n.inputs, n.outputs, n.name,
                                                  n.attributes, n.domain) for n in self.nodes]
        return self._node_bytes

    def _core(self):
        nodes = self._encoded_nodes()
        inputs = [proto.encode_value_info(*i) for i in self.inputs]
        outputs = [proto.encode_value_info(*o) for o in self.outputs]
        return proto.graph_core(self.name, nodes, inputs, outputs)

    def write(self, model_file, producer_version, data_file=None, data_location=None,
              inline_limit=1024, doc='', ready=None):
        """Write the model to the open binary file ``model_file``.

        With ``data_file`` (an open binary file whose name, relative to the model, is
        ``data_location``) every initializer over ``inline_limit`` bytes goes there,
        at 4096-byte aligned offsets (so onnxruntime can map it); the rest stays inline.
        Weights are produced and written one at a time, each after ``ready(initializer)``
        returns (a writer that follows the loading of the weights).
        """
        header = proto.model_header(self.opset, ir_version(self.opset), 'kzoo',
                                    producer_version, doc)
        core = self._core()
        plan = []
        offset = 0
        for init in self.initializers.values():
            nbytes = init.nbytes
            head = proto.tensor_header(init.name, init.dims, proto.elem_type(init.dtype))
            if data_file is not None and nbytes > inline_limit:
                offset = (offset + 4095) // 4096 * 4096
                tail = proto.external_fields(data_location, offset, nbytes)
                plan.append((init, head + tail, None, offset))
                offset += nbytes
            else:
                prefix = proto.raw_data_prefix(nbytes)
                plan.append((init, head + prefix, nbytes, None))
        entries = []
        graph_length = len(core)
        for init, head, inline_bytes, _ in plan:
            tensor_length = len(head) + (inline_bytes or 0)
            entry_prefix = proto.len_prefix(5, tensor_length)
            entries.append(entry_prefix)
            graph_length += len(entry_prefix) + tensor_length
        model_file.write(header)
        model_file.write(proto.len_prefix(7, graph_length))
        model_file.write(core)
        self.placements = {}
        scratch = _Scratch()
        for (init, head, inline_bytes, data_offset), entry_prefix in zip(plan, entries):
            model_file.write(entry_prefix)
            model_file.write(head)
            target = model_file
            if inline_bytes is not None:
                self.placements[init.name] = (None, model_file.tell(), init.nbytes, None)
            else:
                self.placements[init.name] = (data_location, data_offset, init.nbytes, None)
                target = data_file
                position = data_file.tell()
                if position < data_offset:
                    data_file.write(b'\0' * (data_offset - position))
            if ready is not None:
                ready(init)
            for block in init.blocks():
                data = memoryview(scratch.contiguous(_little_endian(block))).cast('B')
                target.write(data)
                if init.nbytes <= inline_limit:   # kept for write_view (shape constants)
                    self.placements[init.name] = self.placements[init.name][:3] + (
                        bytes(data),)
                del block, data
        scratch.close()


    def write_view(self, view_file, model_location, producer_version, placements=None):
        """A model with the same graph whose initializers all point (as external data)
        at the bytes :meth:`write` wrote: inside the model file ``model_location`` for
        inline ones. onnxruntime maps them instead of parsing a second copy, so checking
        a single-file model costs one copy of its weights, not three. ``placements``:
        those of another graph with the same initializers that wrote the files."""
        placements = self.placements if placements is None else placements
        header = proto.model_header(self.opset, ir_version(self.opset), 'kzoo',
                                    producer_version)
        core = self._core()
        tensors = []
        for init in self.initializers.values():
            location, offset, nbytes, small = placements[init.name]
            head = proto.tensor_header(init.name, init.dims, proto.elem_type(init.dtype))
            if small is not None:   # shape inference reads small constants: inline
                tensors.append(head + proto.f_bytes(9, small))
            else:
                tensors.append(head + proto.external_fields(location or model_location, offset,
                                                            nbytes))
        graph = core + b''.join(proto.f_bytes(5, t) for t in tensors)
        view_file.write(header + proto.f_bytes(7, graph))

    def release(self):
        """Forget how to produce the weights (and the model they come from)."""
        for init in self.initializers.values():
            init.producer = None


class _Scratch(object):
    """One buffer, reused, that strided weights are copied into before being written
    (a new array per kernel would cost the page faults of all the weights once more).
    It is an anonymous memory map, so its pages go back to the OS when it is closed
    (a writer thread's malloc arena would keep them)."""

    def __init__(self):
        self.map, self.size = None, 0

    def contiguous(self, array):
        if array.flags.c_contiguous:
            return array
        if array.nbytes > self.size:
            self.close()
            import mmap
            self.size = max(array.nbytes, 1 << 20)
            self.map = mmap.mmap(-1, self.size)
        out = np.frombuffer(self.map, np.uint8, array.nbytes).view(array.dtype).reshape(
            array.shape)
        np.copyto(out, array)
        return out

    def close(self):
        if self.map is not None:
            try:
                self.map.close()
            except BufferError:   # a view is still alive: the map goes with it
                pass
            self.map, self.size = None, 0


def _little_endian(array):
    if array.dtype.byteorder == '>':
        return array.astype(array.dtype.newbyteorder('<'))
    return array


def ir_version(opset):
    """The IR version onnx pairs with ``opset`` (onnx.helper.VERSION_TABLE), without
    importing onnx."""
    table = ((13, 7), (15, 8), (19, 9), (21, 10), (23, 11), (24, 12), (25, 13), (28, 14))
    version = 7
    for first, ir in table:
        if opset >= first:
            version = ir
    return version


def data_file_name(model_path):
    """``model.onnx`` -> ``model.onnx.data`` (beside the model)."""
    return os.path.basename(os.fspath(model_path)) + '.data'
