"""``to_onnx``: a kzoo model as an ONNX file, checked against kzoo with onnxruntime.

The file is written into a hidden staging folder beside the destination, checked there,
and only then renamed into place (the ``.data`` file first, then the model), so an
interrupted or failed export never leaves a partial or unchecked model behind.

>>> import os, tempfile
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,), name='x')
>>> model = Model(x, Dense(2, name='d')(x))
>>> result = to_onnx(model, os.path.join(tempfile.mkdtemp(), 'm.onnx'))
>>> result.max_error < 1e-5
True
"""
import os
import shutil
import tempfile

import numpy as np

from kzoo.converters.onnx_export.check import (DEFAULT_TOLERANCE, check_outputs, kzoo_outputs,
                                               onnxruntime_outputs, sample_inputs)
from kzoo.converters.onnx_export.context import ExportContext, Value
from kzoo.converters.onnx_export.graph import data_file_name
from kzoo.converters.onnx_export.walk import export_container
from kzoo.errors import ConversionError
from kzoo.utils.io_utils import fsync_dir, remove_stale_staging, staging_prefix

MIN_OPSET = 13
DEFAULT_OPSET = 17


def newest_opset():
    """The newest default-domain opset of the installed ``onnx`` package."""
    try:
        import onnx.defs
    except ImportError:
        return 21
    return int(onnx.defs.onnx_opset_version())


def check_opset(opset):
    opset = int(opset)
    if opset < MIN_OPSET:
        raise ConversionError('kzoo exports ONNX opset %d or newer, not %d' % (MIN_OPSET, opset))
    if opset > DEFAULT_OPSET and opset > newest_opset():
        raise ConversionError('opset %d is newer than the installed onnx supports (%d)'
                              % (opset, newest_opset()))
    return opset


def _input_dims(shape, name, dynamic_batch):
    dims = []
    for i, d in enumerate(shape):
        if i == 0:
            dims.append('batch' if dynamic_batch else (d or 1))
        else:
            dims.append(d if d is not None else '%s_dim%d' % (name, i))
    return dims


def build_graph(model, opset=DEFAULT_OPSET, dynamic_batch=True, input_shapes=None):
    """The :class:`OnnxGraph` of ``model`` (weights not yet read); with ``input_shapes``,
    the graph for inputs of those shapes (every layer's output shape computed from them:
    :mod:`~kzoo.converters.onnx_export.check_size`)."""
    if not getattr(model, 'inputs', None):
        raise ConversionError('model %r has no inputs yet: build it (give its first layer an '
                              'input shape) before exporting' % model.name)
    ctx = ExportContext(check_opset(opset), model.name)
    ctx.infer_shapes = input_shapes is not None
    shapes = input_shapes or [tensor.shape for tensor in model.inputs]
    inputs = []
    for tensor, layer, shape in zip(model.inputs, model.input_layers, shapes):
        dtype = np.dtype(tensor.dtype or 'float32')
        ctx.g.add_input(layer.name, dtype, _input_dims(shape, layer.name, dynamic_batch))
        inputs.append(Value(layer.name, shape, dtype))
    outputs, _ = export_container(ctx, model, inputs)
    for tensor, value in zip(model.outputs, outputs):
        layer, _, index = tensor._keras_history
        wanted = layer.name if index == 0 else '%s_%d' % (layer.name, index)
        shape = value.shape if ctx.infer_shapes else tensor.shape
        dims = ['batch' if dynamic_batch else (tensor.shape[0] or 1)] + list(shape[1:])
        ctx.g.add_output(ctx.plain(value), wanted, value.dtype, dims)
    return ctx.g


class OnnxResult(object):
    """What :func:`to_onnx` wrote and how closely onnxruntime matched kzoo."""

    def __init__(self, path, data_path, max_error, opset):
        self.path, self.data_path, self.max_error, self.opset = path, data_path, max_error, opset

    def __repr__(self):
        return '<OnnxResult %s opset=%d max_error=%s>' % (self.path, self.opset, self.max_error)


class Staging(object):
    """A hidden folder beside ``path`` holding the files until :meth:`commit`."""

    def __init__(self, path, external_data):
        self.path = os.path.abspath(os.fspath(path))
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise ConversionError('cannot write %s: folder %s does not exist' % (path, folder))
        # leftovers of a killed conversion to this name go first (their process is dead)
        remove_stale_staging(folder, os.path.basename(self.path))
        self.folder = tempfile.mkdtemp(prefix=staging_prefix(self.path), suffix='.tmp',
                                       dir=folder)
        self.model_path = os.path.join(self.folder, os.path.basename(self.path))
        self.data_name = data_file_name(self.path) if external_data else None
        self.data_path = os.path.join(self.folder, self.data_name) if external_data else None

    def commit(self):
        folder = os.path.dirname(self.path)
        final_data = None
        if self.data_path:
            final_data = os.path.join(folder, self.data_name)
            os.replace(self.data_path, final_data)
        os.replace(self.model_path, self.path)
        fsync_dir(folder)
        self.discard()
        return final_data

    def discard(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        self.discard()
        return False


def write_graph(graph, staging, ready=None):
    """Write ``graph`` (and its external data) into ``staging``, flushed to disk;
    ``ready``: see :meth:`OnnxGraph.write`."""
    from kzoo import __version__ as version
    with open(staging.model_path, 'wb') as model_file:
        if staging.data_path:
            with open(staging.data_path, 'wb') as data_file:
                graph.write(model_file, version, data_file, staging.data_name, ready=ready)
                data_file.flush()
                os.fsync(data_file.fileno())
        else:
            graph.write(model_file, version, ready=ready)
        model_file.flush()
        os.fsync(model_file.fileno())


class _Aborted(Exception):
    pass


class BackgroundWrite(object):
    """:func:`write_graph` in a thread that follows the loading of the weights: each
    weight is written once :meth:`loaded` has reported its layer's plan step, so the
    file is written (and flushed to disk) while kzoo loads and runs the model.
    :meth:`join` when all is loaded; :meth:`abort` otherwise. The files are in
    ``staging`` (a :class:`Staging`, discarded by :meth:`abort`)."""

    def __init__(self, graph, path, external_data):
        import threading
        self.graph = graph
        self.staging = Staging(path, external_data)
        self._done = -1
        self._aborted = False
        self.waiting_for = None
        self._error = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name='kzoo-onnx-writer', daemon=True)
        self._thread.start()

    def loaded(self, step):
        """The layers of plan steps up to ``step`` have their weights."""
        with self._condition:
            self._done = max(self._done, step)
            self._condition.notify_all()

    def _ready(self, init):
        with self._condition:
            while self._done < init.step and not self._aborted:
                self.waiting_for = init.step   # for tests: where the writer waits
                self._condition.wait()
            self.waiting_for = None
            if self._aborted:
                raise _Aborted()

    def _run(self):
        try:
            write_graph(self.graph, self.staging, self._ready)
        except BaseException as e:   # reported by join
            self._error = e

    def join(self):
        """Every weight is loaded: wait for the file; its error, if any, is raised."""
        self.loaded(float('inf'))
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self):
        with self._condition:
            self._aborted = True
            self._condition.notify_all()
        self._thread.join()
        self.staging.discard()


def to_onnx(model, path, opset=DEFAULT_OPSET, dynamic_batch=True, external_data=False,
            check=True, inputs=None, tolerance=DEFAULT_TOLERANCE):
    """Export ``model`` to the ONNX file ``path``.

    Args:
        opset: ONNX opset, 13 up to the newest the installed onnx knows.
        dynamic_batch: a symbolic batch dimension (else the model's, or 1).
        external_data: weights in ``<path>.data`` beside the model (needed past 2 GB).
        check: run the file with onnxruntime on ``inputs`` (random ones by default) and
            raise :class:`~kzoo.errors.ConversionError` if any output differs from kzoo's
            by more than ``tolerance`` (scaled by ``max(1, max|output|)``).

    Returns an :class:`OnnxResult` (``max_error`` is None without a check).
    """
    graph = build_graph(model, opset, dynamic_batch)
    arrays = expected = None
    if check:
        batch = 2 if dynamic_batch else (model.inputs[0].shape[0] or 1)
        arrays = inputs if inputs is not None else sample_inputs(model, batch)
        arrays = [np.asarray(a) for a in (arrays if isinstance(arrays, (list, tuple))
                                          else [arrays])]
        expected = kzoo_outputs(model, arrays)
    with Staging(path, external_data) as staging:
        write_graph(graph, staging)
        error = None
        if check:
            actual = onnxruntime_outputs(staging.model_path, arrays)
            error = check_outputs(actual, expected, tolerance,
                                  'the ONNX export of model %r (onnxruntime)' % model.name)
        data_path = staging.commit()
    return OnnxResult(os.fspath(path), data_path, error, graph.opset)
