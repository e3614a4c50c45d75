"""A model's execution plan as numbered slots, for the inference compiler.

Every symbolic tensor of the graph gets an integer *slot*; every node becomes an
:class:`Op` reading and writing slots. ``consumers[slot]`` counts the ops that read a
slot, plus one per model output, so a fusion pass can tell whether an intermediate
tensor is seen by anyone else.

>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> g = Graph(Model(x, Dense(2)(Dense(4)(x))))
>>> [type(op.layer).__name__ for op in g.ops], g.consumers[g.ops[0].outputs[0]]
(['Dense', 'Dense'], 1)
"""
import collections

from kzoo.engine.base_layer import unpack_singleton


class Op(object):
    """One node of the plan: ``layer`` applied to slots ``inputs`` giving ``outputs``."""

    __slots__ = ('index', 'node', 'layer', 'inputs', 'outputs', 'shapes')

    def __init__(self, index, node, inputs, outputs):
        self.index = index
        self.node = node
        self.layer = node.outbound_layer
        self.inputs = inputs
        self.outputs = outputs
        self.shapes = [tuple(t.shape) for t in node.output_tensors]

    @property
    def arguments(self):
        return self.node.arguments

    def __repr__(self):
        return '<Op %d %s %s->%s>' % (self.index, self.layer.name, self.inputs, self.outputs)


class Graph(object):
    """Slots and ops of ``model``'s plan (``model._plan``, deepest nodes first).

    With ``input_shapes`` (concrete, batch included), ``shapes[slot]`` is each tensor's
    concrete shape, from the layers' ``compute_output_shape``.
    """

    def __init__(self, model, input_shapes=None):
        slot_of = {}

        def slot(tensor):
            key = id(tensor)
            if key not in slot_of:
                slot_of[key] = len(slot_of)
            return slot_of[key]

        self.input_slots = [slot(t) for t in model.inputs]
        self.ops = []
        for node in model._plan:
            inputs = [slot(t) for t in node.input_tensors]
            outputs = [slot(t) for t in node.output_tensors]
            self.ops.append(Op(len(self.ops), node, inputs, outputs))
        self.output_slots = [slot(t) for t in model.outputs]
        self.n_slots = len(slot_of)
        self.consumers = collections.Counter()
        self.readers = collections.defaultdict(list)
        for op in self.ops:
            for s in op.inputs:
                self.consumers[s] += 1
                self.readers[s].append(op)
        for s in self.output_slots:
            self.consumers[s] += 1
        self.shapes = self._shapes(model, input_shapes) if input_shapes is not None else {}

    def _shapes(self, model, input_shapes):
        shapes = dict(zip(self.input_slots, (tuple(s) for s in input_shapes)))
        batch = input_shapes[0][0] if input_shapes and input_shapes[0] else None
        for op in self.ops:
            try:
                out = op.layer.compute_output_shape(
                    unpack_singleton([shapes[s] for s in op.inputs]))
                out = out if isinstance(out, list) else [out]
            except Exception:  # a layer that cannot say: its symbolic shapes, batch filled
                out = [(batch,) + s[1:] if s and s[0] is None else s for s in op.shapes]
            for s, shape in zip(op.outputs, out):
                shapes[s] = tuple(shape)
        return shapes

    def only_reader(self, slot):
        """The single op reading ``slot`` when nothing else (no output) sees it."""
        if self.consumers[slot] != 1 or not self.readers[slot]:
            return None
        return self.readers[slot][0]
