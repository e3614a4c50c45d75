"""onnxruntime as an execution provider behind ``predict(..., provider='onnxruntime')``.

The model is exported with kzoo's own ONNX exporter (dynamic batch), rewritten where
onnxruntime would run it slower (:mod:`~kzoo.engine.inference.ort_graph`), written to a
private temporary folder with its weights as external data (which onnxruntime reads
without a protobuf copy), loaded into an ``InferenceSession`` using torch's thread
count, and the folder is removed. The session is cached on the model and rebuilt when
any weight changes, like a plan. Opt-in: onnxruntime holds its own copy of the weights.
"""
import os
import shutil
import tempfile
import threading

import numpy as np

from kzoo.errors import ConfigError, KzooError

_lock = threading.Lock()


class OrtSession(object):
    """An onnxruntime session of ``model`` and the weights it was exported from."""

    def __init__(self, model, threads=None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError('provider="onnxruntime" needs the onnxruntime package '
                              '(pip install onnxruntime)') from None
        from kzoo.converters.onnx_export.export import Staging, build_graph, write_graph
        from kzoo.engine.inference import ort_graph
        from kzoo.engine.inference.plan import weights_signature
        self.signature = weights_signature(model)
        folder = tempfile.mkdtemp(prefix='kzoo-ort-')
        try:
            graph = build_graph(model, dynamic_batch=True)
            ort_graph.fold_zero_padding(graph)  # this session's graph only (see ort_graph)
            staging = Staging(os.path.join(folder, 'model.onnx'), external_data=True)
            write_graph(graph, staging)
            options = ort.SessionOptions()
            options.intra_op_num_threads = int(threads or _torch_threads())
            options.inter_op_num_threads = 1
            self.session = ort.InferenceSession(staging.model_path, options,
                                                providers=['CPUExecutionProvider'])
        except KzooError:
            raise
        except Exception as e:
            raise ConfigError('model %r cannot run on onnxruntime: %s' % (model.name, e)) from e
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.threads = options.intra_op_num_threads

    def run(self, arrays):
        feed = {name: np.ascontiguousarray(a) for name, a in zip(self.input_names, arrays)}
        return self.session.run(None, feed)

    def summary(self):
        return {'provider': 'onnxruntime', 'threads': self.threads, 'precision': 'float32'}


def _torch_threads():
    try:
        import torch
        return torch.get_num_threads()
    except ImportError:
        return os.cpu_count() or 1


def session_for(model, signature=None):
    """The cached session of ``model``, rebuilt when its weights changed (``signature``:
    their :func:`~kzoo.engine.inference.plan.weights_signature`, if the caller has it)."""
    from kzoo.engine.inference.plan import weights_signature
    if signature is None:
        signature = weights_signature(model)
    with _lock:
        session = model.__dict__.get('_onnxruntime_session')
        if session is not None and (session.signature != signature
                                    or session.threads != _torch_threads()):
            session = None
        if session is None:
            session = OrtSession(model)
            model.__dict__['_onnxruntime_session'] = session
    return session


def release_if_unused(model):
    """Drop ``model``'s session unless an 'auto' plan chose onnxruntime."""
    from kzoo.engine.inference.auto import choices
    if not any(e['provider'] == 'onnxruntime' for e in choices(model).values()):
        model.__dict__.pop('_onnxruntime_session', None)


def predict(model, arrays, precision='float32', signature=None):
    if precision != 'float32':
        raise ConfigError('model %r: the onnxruntime provider runs float32 only, not %r'
                          % (model.name, precision))
    return session_for(model, signature).run(arrays)
