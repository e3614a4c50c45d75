"""``convert(src, dst)``: any model file kzoo reads into any format it writes, checked.

Formats come from the files (content for sources, extension for destinations; a
folder is a TensorFlow SavedModel) or are named with ``src_format``/``dst_format``:
``h5``, ``keras``, ``json``, ``yaml``, ``onnx``, ``pt`` (a torch state dict),
``savedmodel``. A bare architecture (JSON/YAML) takes its weights from ``weights=``.

Every conversion is checked unless ``check=False``: kzoo computes the model on random
inputs before anything is written, the written result is read back by the runtime that
will use it (onnxruntime, torch, tf_keras, or kzoo for Keras files), and the largest
scaled difference is reported (:class:`ConvertResult`); over ``tolerance`` the
conversion fails and nothing is written. An ONNX export of an image model is checked
at a smaller input size when the exporter's graph for that size has exactly the written
nodes and weights (:mod:`~kzoo.converters.onnx_export.check_size`; ResNet50 at 64x64,
12 times less work than 224x224; a note in the result says so, ``full_size_check=True``
checks at the model's own size). Files are written into a hidden staging folder
beside the destination and renamed into place only after the check, so an interrupted
conversion leaves no partial output.

Memory and time: an HDF5 source is read layer by layer into weights allocated without
running their initializers, while kzoo computes the reference outputs (each layer's
weights arrive just before it runs) and, for ONNX, a thread writes the file weight by
weight as the weights arrive; the model is released before onnxruntime runs the check.
onnxruntime maps the weights from the written files instead of parsing them: for a
single-file model (or a smaller check size) it loads a small companion graph (deleted
afterwards) whose tensors point at their bytes inside the written file, so the check
runs exactly the written nodes and weights; the written file's own framing (nodes,
inputs, outputs, every initializer's name, shape, type and where its data lies) is
read back field by field (:mod:`~kzoo.converters.onnx_export.written`). Converting
VGG16 peaks near 1.4 times its weight bytes.

>>> import os, tempfile
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> folder = tempfile.mkdtemp()
>>> x = Input(shape=(3,))
>>> Model(x, Dense(2)(x)).save(os.path.join(folder, 'm.h5'))
>>> result = convert(os.path.join(folder, 'm.h5'), os.path.join(folder, 'm.onnx'))
>>> result.target_format, result.max_error < 1e-5
('onnx', True)
"""
import gc
import os
import shutil

import numpy as np

from kzoo import backend as K
from kzoo.errors import ConversionError, FileFormatError

DEFAULT_TOLERANCE = 1e-4

# short names (``--from``/``--to``) -> registered format names
FORMAT_NAMES = {'h5': 'hdf5-model', 'hdf5': 'hdf5-model', 'keras': 'keras3-archive',
                'json': 'json-config', 'yaml': 'yaml-config', 'yml': 'yaml-config',
                'onnx': 'onnx', 'pt': 'torch', 'pth': 'torch', 'torch': 'torch',
                'savedmodel': 'savedmodel', 'tf': 'savedmodel'}
_TARGET_EXTENSIONS = (('.weights.h5', None), ('.h5', 'hdf5-model'), ('.hdf5', 'hdf5-model'),
                      ('.keras', 'keras3-archive'), ('.json', 'json-config'),
                      ('.yaml', 'yaml-config'), ('.yml', 'yaml-config'), ('.onnx', 'onnx'),
                      ('.pt', 'torch'), ('.pth', 'torch'))
_ARCHITECTURE_ONLY = ('json-config', 'yaml-config')


class ConvertResult(object):
    """What :func:`convert` did: formats, files written, and the check's largest scaled
    difference (``None`` when not checked)."""

    def __init__(self, src, dst, source_format, target_format, max_error, tolerance,
                 files=(), notes=()):
        self.src, self.dst = src, dst
        self.source_format, self.target_format = source_format, target_format
        self.max_error, self.tolerance = max_error, tolerance
        self.files, self.notes = list(files), list(notes)

    @property
    def checked(self):
        return self.max_error is not None

    def __repr__(self):
        return '<ConvertResult %s (%s) -> %s (%s) max_error=%s>' % (
            self.src, self.source_format, self.dst, self.target_format, self.max_error)


def format_name(name, what):
    key = str(name).lower().lstrip('.')
    if key not in FORMAT_NAMES:
        raise ConversionError('unknown %s format %r; use one of %s'
                              % (what, name, ', '.join(sorted(set(FORMAT_NAMES)))))
    return FORMAT_NAMES[key]


def source_format(src, name=None):
    """The registered format name of the file or folder ``src``."""
    if name:
        return format_name(name, 'source')
    from kzoo.converters import formats
    from kzoo.converters.tf_export import is_savedmodel
    path = os.fspath(src)
    if os.path.isdir(path):
        if is_savedmodel(path):
            return 'savedmodel'
        raise FileFormatError('%s is a folder but not a TensorFlow SavedModel (no '
                              'saved_model.pb)' % path)
    return formats.detect(path).name


def target_format(dst, name=None):
    """The format to write ``dst`` in: named, or from its extension; a folder or a name
    without an extension is a SavedModel."""
    if name:
        return format_name(name, 'destination')
    path = os.fspath(dst)
    base = os.path.basename(path.rstrip('/\\')).lower()
    if os.path.isdir(path) or path.endswith(('/', os.sep)) or '.' not in base:
        return 'savedmodel'
    for ext, fmt in _TARGET_EXTENSIONS:
        if base.endswith(ext):
            if fmt is None:
                raise ConversionError('%s: a weights file is not a model format; convert to a '
                                      'whole-model format (.h5, .keras, .onnx, ...)' % path)
            return fmt
    raise ConversionError('cannot tell the format to write from the name %r; name it with '
                          'an extension (.h5, .keras, .json, .yaml, .onnx, .pt) or pass '
                          'dst_format (--to)' % path)


# ---- reading ----------------------------------------------------------------------------------

def read_model(src, fmt, weights=None, custom_objects=None, safe_mode=True):
    """A kzoo model from ``src`` in format ``fmt`` (with ``weights`` loaded over it)."""
    from kzoo.converters import formats
    path = os.fspath(src)
    if fmt == 'savedmodel':
        from kzoo.converters.tf_export import from_tensorflow
        model = from_tensorflow(path, safe_mode=safe_mode)
    elif fmt == 'hdf5-model' and weights is None:
        from kzoo.converters.streaming import load_hdf5_model
        model = load_hdf5_model(path, custom_objects=custom_objects, safe_mode=safe_mode)
    else:
        spec = formats.get_format(fmt)
        if spec.load_model is None:
            raise ConversionError('%s is a %s: it holds no architecture; give the model (for '
                                  'instance its JSON) as the source and this file as weights'
                                  % (path, spec.description))
        model = spec.load_model(path, custom_objects=custom_objects, compile=False,
                                safe_mode=safe_mode)
    if weights is not None:
        model.load_weights(os.fspath(weights))
    return model


# ---- writing ---------------------------------------------------------------------------------

class _Held(object):
    """The model being converted, droppable once nothing needs it (saves its memory
    while onnxruntime loads the written file)."""

    def __init__(self, model):
        self.model = model

    def release(self):
        self.model = None
        gc.collect()
        _trim_heap()


def _trim_heap():
    """Give freed heap memory back to the OS (glibc keeps it otherwise), so the runtime
    that checks the result starts from a small footprint."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Check(object):
    """The reference outputs of the check, and the inputs they came from; ``size``: the
    :class:`~kzoo.converters.onnx_export.check_size.CheckSize` of an ONNX export checked
    at a smaller input size, else None."""

    def __init__(self, inputs, expected, tolerance, size=None):
        self.inputs, self.expected, self.tolerance = inputs, expected, tolerance
        self.size = size

    def compare(self, actual, what):
        from kzoo.converters.onnx_export.check import check_outputs
        return check_outputs([np.asarray(a) for a in actual], self.expected, self.tolerance,
                             what)


WRITERS = {}


def writer(*names):
    def register(fn):
        for name in names:
            if name in WRITERS:
                raise ValueError('convert writer for %r registered twice' % name)
            WRITERS[name] = fn
        return fn
    return register


@writer('onnx')
def _write_onnx(held, dst, check, options):
    from kzoo.converters.onnx_export.check import onnxruntime_outputs
    from kzoo.converters.onnx_export.export import Staging, build_graph, write_graph
    graph = options.get('_graph') or build_graph(held.model, options.get('opset', 17),
                                                 options.get('dynamic_batch', True))
    size = check.size if check is not None else None
    writing = options.get('_writing')
    with (writing.staging if writing else Staging(dst, options['external_data'])) as staging:
        if writing:   # started while the weights were loaded
            writing.join()
        else:
            write_graph(graph, staging)
        if check is not None:   # the file's framing, which the check's view does not parse
            from kzoo.converters.onnx_export.written import verify_written
            verify_written(staging.model_path, graph)
        graph.release()
        if size is not None:
            size.graph.release()
        held.release()
        error = None
        if check is not None:
            checked = staging.model_path
            if not staging.data_path or size is not None:
                # map the written weights rather than parse them; at a smaller size, the
                # same nodes with the inputs and outputs of that size
                checked = os.path.join(staging.folder, '.check-view.onnx')
                with open(checked, 'wb') as f:
                    (size.graph if size else graph).write_view(
                        f, os.path.basename(staging.model_path), '', graph.placements)
            actual = onnxruntime_outputs(checked, check.inputs)
            error = check.compare(actual, 'the ONNX file (onnxruntime%s)' % (
                ', at input shapes %s' % size.shapes if size else ''))
        data = staging.commit()
    return error, [os.fspath(dst)] + ([data] if data else []), 'opset %d' % options.get(
        'opset', 17)


@writer('hdf5-model', 'keras3-archive')
def _write_keras(held, dst, check, options):
    from kzoo.converters import formats
    from kzoo.converters.onnx_export.export import Staging
    spec = formats.get_format(options['_format'])
    with Staging(dst, False) as staging:
        spec.save_model(held.model, staging.model_path, include_optimizer=False)
        error = None
        if check is not None:
            reloaded = formats.load_model(staging.model_path, compile=False)
            error = check.compare(_outputs(reloaded, check.inputs), 'the written %s (read back '
                                  'by kzoo)' % spec.description)
        staging.commit()
    return error, [os.fspath(dst)], None


@writer('json-config', 'yaml-config')
def _write_text(held, dst, check, options):
    from kzoo.converters.onnx_export.export import Staging
    from kzoo.converters.text_config import model_from_json, model_from_yaml
    model = held.model
    yaml = options['_format'] == 'yaml-config'
    text = model.to_yaml() if yaml else model.to_json()
    with Staging(dst, False) as staging:
        with open(staging.model_path, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        error = None
        if check is not None:
            with open(staging.model_path, encoding='utf-8') as f:
                rebuilt = (model_from_yaml if yaml else model_from_json)(f.read())
            _copy_layer_weights(model, rebuilt)
            error = check.compare(_outputs(rebuilt, check.inputs),
                                  'the written config (rebuilt by kzoo with the same weights)')
        staging.commit()
    return error, [os.fspath(dst)], 'architecture only: the weights are not in this file'


@writer('torch')
def _write_torch(held, dst, check, options):
    import torch
    from kzoo.converters.onnx_export.export import Staging
    from kzoo.converters.torch_export import save_state_dict, to_torch
    module = to_torch(held.model)
    with Staging(dst, False) as staging:
        save_state_dict(module, staging.model_path)
        error = None
        if check is not None:
            state = torch.load(staging.model_path, weights_only=True)
            current = module.state_dict()
            if sorted(state) != sorted(current) or not all(
                    torch.equal(state[k], current[k]) for k in state):
                raise ConversionError('the written state dict differs from the module\'s')
            with torch.no_grad():
                outputs = module(*[torch.as_tensor(a) for a in check.inputs])
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            error = check.compare([o.numpy() for o in outputs], 'the torch module')
        staging.commit()
    return error, [os.fspath(dst)], 'state_dict of kzoo.converters.to_torch(model)'


@writer('savedmodel')
def _write_savedmodel(held, dst, check, options):
    import tempfile
    from kzoo.converters.tf_export import load_savedmodel, replace_folder, to_tensorflow
    path = os.path.abspath(os.fspath(dst))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ConversionError('cannot write %s: folder %s does not exist' % (path, parent))
    tf_model = to_tensorflow(held.model)
    staging = tempfile.mkdtemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                               dir=parent)
    try:
        target = os.path.join(staging, 'saved_model')
        tf_model.save(target, save_format='tf', include_optimizer=False)
        error = None
        if check is not None:
            reloaded = load_savedmodel(target)
            outputs = reloaded.predict(check.inputs if len(check.inputs) > 1
                                       else check.inputs[0], verbose=0)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            error = check.compare(outputs, 'the SavedModel (read back by tf_keras)')
        replace_folder(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return error, [path], 'tf_keras %s' % _tf_keras_version()


def _tf_keras_version():
    try:
        import tf_keras
        return tf_keras.__version__
    except Exception:
        return ''


def _copy_layer_weights(source, target):
    for layer in source.layers:
        weights = layer.get_weights()
        if weights:
            target.get_layer(layer.name).set_weights(weights)


def _outputs(model, inputs):
    from kzoo.converters.onnx_export.check import kzoo_outputs
    return kzoo_outputs(model, inputs)


# ---- the conversion -------------------------------------------------------------------------

def convert(src, dst, src_format=None, dst_format=None, weights=None, opset=17,
            data_format=None, external_data=False, dynamic_batch=True, check=True,
            tolerance=DEFAULT_TOLERANCE, custom_objects=None, safe_mode=True, inputs=None,
            full_size_check=False):
    """Convert the model in ``src`` to ``dst``; returns a :class:`ConvertResult`.

    Args:
        src_format, dst_format: ``h5``, ``keras``, ``json``, ``yaml``, ``onnx``, ``pt``,
            ``savedmodel``; found from the files when omitted.
        weights: a weights file for a source that holds only an architecture.
        opset, external_data, dynamic_batch: ONNX options (see ``to_onnx``).
        data_format: ``channels_first``/``channels_last``: convert the model's layout
            first (:func:`kzoo.converters.layouts.convert_data_format`).
        check: compare the written result with kzoo on random ``inputs`` (default) and
            fail over ``tolerance`` (largest ``|a - e| / max(1, max|e|)``).
        full_size_check: an ONNX export of an image model is checked at a smaller input
            size when that runs exactly the written nodes and weights
            (:mod:`~kzoo.converters.onnx_export.check_size`, noted in the result);
            True checks at the model's own size.
    """
    src_fmt = source_format(src, src_format)
    dst_fmt = target_format(dst, dst_format)
    if dst_fmt not in WRITERS:
        raise ConversionError('kzoo cannot write the %s format' % dst_fmt)
    if os.path.abspath(os.fspath(src)) == os.path.abspath(os.fspath(dst)):
        raise ConversionError('source and destination are the same file: %s' % os.fspath(src))
    notes = []
    if src_fmt in _ARCHITECTURE_ONLY and weights is None and dst_fmt not in _ARCHITECTURE_ONLY:
        raise ConversionError('%s holds only an architecture; give its weights with '
                              'weights= (--weights) to write a %s' % (os.fspath(src), dst_fmt))
    options = {'opset': opset, 'external_data': external_data,
               'dynamic_batch': dynamic_batch, '_format': dst_fmt}
    smaller = check and dst_fmt == 'onnx' and inputs is None and not full_size_check
    try:
        with K.using('numpy'):
            reference = size = None
            if src_fmt == 'hdf5-model' and weights is None and not data_format:
                from kzoo.converters.streaming import open_hdf5_model, run_loading
                with open_hdf5_model(src, custom_objects, safe_mode) as (model, loader):
                    # weights read layer by layer while kzoo computes the reference, and
                    # an ONNX file is written as they arrive
                    loaded = _start_onnx_writing(model, dst, options) if check else None
                    size = _onnx_check_size(model, options) if smaller else None
                    if size is not None:
                        reference = _small_reference(model, loader, tolerance, size, loaded)
                    if check and reference is None:
                        arrays = _check_inputs(model, inputs)
                        reference = Check(arrays, run_loading(model, loader, arrays, loaded),
                                          tolerance)
                del loader
                smaller = False
            else:
                model = read_model(src, src_fmt, weights, custom_objects, safe_mode)
            if data_format:
                model, layout_error = _convert_layout(model, data_format, check, tolerance)
                if layout_error is not None:
                    notes.append('data format %s (kzoo before and after agree to %.3g)'
                                 % (data_format, layout_error))
            if smaller:
                size = _onnx_check_size(model, options)
            if check and reference is None:
                reference = _reference(model, inputs, tolerance, size)
            if reference is not None and reference.size is not None:
                notes.append(reference.size.describe([t.shape for t in model.inputs]))
            held = _Held(model)
            del model
            error, files, note = WRITERS[dst_fmt](held, dst, reference, options)
    except BaseException:
        if '_writing' in options:
            options['_writing'].abort()
        raise
    if note:
        notes.append(note)
    return ConvertResult(os.fspath(src), os.fspath(dst), src_fmt, dst_fmt, error,
                         tolerance if check else None, files, notes)


def _check_inputs(model, inputs, shapes=None):
    """The given inputs, or random ones: one sample (the check compares functions; one
    sample keeps the reference pass of a large model quick and small)."""
    from kzoo.converters.onnx_export.check import sample_inputs
    arrays = inputs if inputs is not None else sample_inputs(model, 1, seed=0, shapes=shapes)
    return [np.asarray(a) for a in (arrays if isinstance(arrays, (list, tuple)) else [arrays])]


def _onnx_graph(model, options):
    """The ONNX graph of ``model`` (built once, kept in ``options`` for writing)."""
    if '_graph' not in options:
        from kzoo.converters.onnx_export.export import build_graph
        options['_graph'] = build_graph(model, options['opset'], options['dynamic_batch'])
    return options['_graph']


def _start_onnx_writing(model, dst, options):
    """For an ONNX destination: start writing the file in a thread that follows the
    loading of the weights; returns the ``loaded(step)`` callback for
    :func:`~kzoo.converters.streaming.run_loading` (None for other destinations)."""
    if options['_format'] != 'onnx':
        return None
    from kzoo.converters.onnx_export.export import BackgroundWrite
    writing = BackgroundWrite(_onnx_graph(model, options), dst, options['external_data'])
    options['_writing'] = writing
    return writing.loaded


def _onnx_check_size(model, options):
    """The smaller size to check the ONNX export of ``model`` at, or None."""
    from kzoo.converters.onnx_export.check_size import smaller_check_size
    return smaller_check_size(model, _onnx_graph(model, options), options['opset'],
                              options['dynamic_batch'])


class _Loading(object):
    """A layer loader that remembers whether loading itself failed."""

    def __init__(self, loader):
        self.loader, self.failed = loader, False

    def ensure(self, layer):
        try:
            self.loader.ensure(layer)
        except BaseException:
            self.failed = True
            raise


def _small_reference(model, loader, tolerance, size, loaded=None):
    """kzoo's outputs at ``size`` while the weights are read (None if a layer cannot run
    at that size: the caller computes them at the model's size)."""
    from kzoo.converters.onnx_export.blas import one_thread
    from kzoo.converters.streaming import run_loading
    arrays = _check_inputs(model, None, size.shapes)
    loading = _Loading(loader)
    try:
        with one_thread():   # small matrices: BLAS threads would only spin
            return Check(arrays, run_loading(model, loading, arrays, loaded), tolerance, size)
    except Exception:
        if loading.failed:
            raise
    return None


def _reference(model, inputs, tolerance, size):
    """kzoo's outputs for the check, at ``size`` when kzoo computes it, else at the
    model's own size."""
    if size is not None:
        from kzoo.converters.onnx_export.blas import one_thread
        arrays = _check_inputs(model, None, size.shapes)
        try:
            with one_thread():   # small matrices: BLAS threads would only spin
                return Check(arrays, _outputs(model, arrays), tolerance, size)
        except Exception:   # a layer that cannot run at that size after all
            pass
    arrays = _check_inputs(model, inputs)
    return Check(arrays, _outputs(model, arrays), tolerance)


def _convert_layout(model, data_format, check, tolerance):
    from kzoo.converters.layouts import (convert_data_format, image_inputs, image_outputs,
                                         transpose_array)
    from kzoo.converters.onnx_export.check import check_outputs, sample_inputs
    converted = convert_data_format(model, data_format)
    if converted is model or not check:
        return converted, None
    source = getattr(converted, '_kzoo_layout')['source']
    arrays = sample_inputs(model, 2, seed=1)
    expected = _outputs(model, arrays)
    moved = [transpose_array(a, source) if flag else a
             for a, flag in zip(arrays, image_inputs(converted))]
    actual = _outputs(converted, moved)
    flags = image_outputs(converted) or [False] * len(actual)
    actual = [transpose_array(a, data_format) if flag else a for a, flag in zip(actual, flags)]
    error = check_outputs(actual, expected, tolerance, 'the %s model' % data_format)
    return converted, error


# ---- the formats this module adds to the registry -----------------------------------------

def is_onnx_file(path):
    """An ONNX ModelProto starts with its ``ir_version`` field (tag 0x08, a small value)
    followed by another ModelProto field."""
    try:
        with open(os.fspath(path), 'rb') as f:
            head = f.read(3)
    except OSError:
        return False
    return len(head) == 3 and head[0] == 0x08 and 1 <= head[1] <= 64 and \
        head[2] in (0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72)


def _load_onnx(path, custom_objects=None, compile=True, safe_mode=True):
    from kzoo.converters.onnx_import import from_onnx
    return from_onnx(os.fspath(path))


def _save_onnx(model, path, include_optimizer=True):
    from kzoo.converters.onnx_export.export import to_onnx
    to_onnx(model, path)


def _save_torch(model, path, include_optimizer=True):
    from kzoo.converters.torch_export import save_state_dict, to_torch
    save_state_dict(to_torch(model), path)


def _load_torch_weights(model, path, by_name=False, skip_mismatch=False):
    from kzoo.converters.torch_export import load_weights
    load_weights(model, path, by_name, skip_mismatch)


def _is_torch_file(path):
    from kzoo.converters.torch_export import is_state_dict_file
    return is_state_dict_file(path)


def register_formats(register_format):
    """Add ``onnx`` and ``torch`` to the format registry (called by ``formats``)."""
    register_format('onnx', 'ONNX model', is_onnx_file, ('.onnx',), load_model=_load_onnx,
                    save_model=_save_onnx)
    register_format('torch', 'PyTorch state dict (kzoo.converters.to_torch)', _is_torch_file,
                    ('.pt', '.pth'), load_weights=_load_torch_weights, save_model=_save_torch)
