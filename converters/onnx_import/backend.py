"""kzoo as an ``onnx.backend.base.Backend``, so the onnx package's conformance tests
(``onnx.backend.test``) run imported models.

>>> import numpy as np
>>> from onnx import helper, TensorProto
>>> graph = helper.make_graph([helper.make_node('Neg', ['x'], ['y'])], 'g',
...     [helper.make_tensor_value_info('x', TensorProto.FLOAT, [2])],
...     [helper.make_tensor_value_info('y', TensorProto.FLOAT, [2])])
>>> KzooBackend.run_model(helper.make_model(graph), [np.array([1., -2.], 'float32')])[0]
array([-1.,  2.], dtype=float32)
"""
import contextlib

import numpy as np
from onnx.backend.base import Backend, BackendRep, namedtupledict

from kzoo import backend as K
from kzoo.errors import ShapeError

from . import load_model_proto
from .importer import finish_model, import_graph


def run_model(model, arrays):
    """Outputs (NumPy arrays) of a kzoo model on a list of input arrays, without the
    batching of ``predict`` (ONNX inputs need not share a batch axis)."""
    with K.no_grad():
        tensors = [K.convert_to_tensor(np.asarray(a)) for a in arrays]
        outputs, _ = model._run_graph(tensors, None, False)
        return [np.asarray(K.to_numpy(o)) for o in outputs]


class KzooBackendRep(BackendRep):
    """A prepared model: the kzoo model and the ONNX input and output names."""

    def __init__(self, model, input_names, output_names, constants=None, used_inputs=None,
                 kzoo_backend=None):
        self.model = model
        self.kzoo_backend = kzoo_backend
        self.input_names = input_names
        self.output_names = output_names
        self.constants = constants  # outputs when the graph computes only constants
        self.used_inputs = input_names if used_inputs is None else used_inputs

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in self.input_names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if len(inputs) != len(self.input_names):
            raise ShapeError('the ONNX model takes %d inputs (%s), got %d'
                             % (len(self.input_names), ', '.join(self.input_names),
                                len(inputs)))
        if self.constants is not None:
            outputs = [np.asarray(c) for c in self.constants]
        else:
            by_name = dict(zip(self.input_names, inputs))
            with _using(self.kzoo_backend):
                outputs = run_model(self.model, [by_name[n] for n in self.used_inputs])
        return namedtupledict('Outputs', self.output_names)(*outputs)


def _using(name):
    return K.using(name) if name else contextlib.nullcontext()


class KzooBackend(Backend):
    """Runs ONNX models by importing them into kzoo (CPU). ``kzoo_backend`` names the
    kzoo backend to build and run with (``None``: the active one)."""
    kzoo_backend = None

    @classmethod
    def is_compatible(cls, model, device='CPU', **kwargs):
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model, device='CPU', data_format='channels_first', **kwargs):
        with _using(cls.kzoo_backend):
            return cls._prepare(model, data_format)

    @classmethod
    def _prepare(cls, model, data_format):
        proto, label = load_model_proto(model)
        ctx, inputs, outputs = import_graph(proto, data_format=data_format, where=label)
        input_names = [n for n, _ in inputs]
        output_names = [o.name for o in proto.graph.output]
        if all(v.is_const for v in outputs):
            return KzooBackendRep(None, input_names, output_names,
                                  constants=[v.const for v in outputs])
        model, used = finish_model(ctx, inputs, outputs, 'onnx_model')
        return KzooBackendRep(model, input_names, output_names, used_inputs=used,
                              kzoo_backend=cls.kzoo_backend)

    @classmethod
    def run_model(cls, model, inputs, device='CPU', **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device):
        return str(device).upper().startswith('CPU')


class KzooNumpyBackend(KzooBackend):
    """:class:`KzooBackend` on kzoo's NumPy reference backend."""
    kzoo_backend = 'numpy'


prepare = KzooBackend.prepare
run_model_proto = KzooBackend.run_model
supports_device = KzooBackend.supports_device

__all__ = ['KzooBackend', 'KzooNumpyBackend', 'KzooBackendRep', 'run_model', 'prepare',
           'supports_device']
