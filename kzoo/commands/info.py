"""``kzoo info FILE``: what a model file is, which Keras wrote it, and what it holds.

Prints the format and era (Keras version, backend, kernel convention, data format), the
model summary and parameter counts (or, for a weights-only file, its layers and
parameter count), and every conversion kzoo had to make to load it. A file kzoo cannot
read ends with a one-line error and a non-zero exit status.
"""
from kzoo.commands import command
from kzoo.errors import KzooError


def _args(p):
    p.add_argument('file', help='a Keras model, weights or config file (.h5, .keras, '
                   '.weights.h5, .json, .yaml)')


def _data_formats(model):
    from kzoo.utils.layer_utils import _all_layers
    formats = set()
    for layer in _all_layers(model):
        value = getattr(layer, 'data_format', None)
        if isinstance(value, str):
            formats.add(value)
    return sorted(formats)


def _print_era(era):
    if era is None:
        return
    print('Keras version:  %s' % (era.keras_version or '1.x (not stored)'))
    print('Backend:        %s' % (era.backend or 'not stored'))
    print('Kernels:        %s' % ('Theano (true convolutions; flipped on load)'
                                  if era.theano_kernels else 'TensorFlow (cross-correlation)'))


def _weights_only(fmt, path):
    from kzoo.converters import h5safe
    if fmt.name == 'hdf5-weights':
        facts = fmt.describe(path)
        _print_era(facts['era'])
        print('Layers with weights:')
        for name, count in facts['layers']:
            if count:
                print('  %-40s %d arrays' % (name, count))
        print('Total params: {:,}'.format(facts['params']))
        return
    if fmt.name == 'torch':
        _torch_weights(path)
        return
    from kzoo.converters.keras3 import _datasets_under
    with h5safe.H5File(path) as h5:
        paths = _datasets_under(h5, h5.root, '')
        params = 0
        for p in paths:
            shape, _ = h5.dataset_info(h5.root, p)  # refuses what loading refuses
            params += int(_prod(shape))
    groups = sorted({p.rsplit('/vars/', 1)[0] for p in paths
                     if '/vars/' in p and p.startswith('layers/')})
    print('Weight groups (Keras 3 layout, matched by position):')
    for g in groups:
        print('  %s' % g)
    print('Total params: {:,}'.format(params))


def _torch_weights(path):
    """The tensors of a ``.pt`` state dict, read with ``weights_only`` (no code runs)."""
    from kzoo.converters.torch_export import load_checkpoint
    state = load_checkpoint(path)
    if not isinstance(state, dict):
        raise KzooError('%s is not a state dict (it holds a %s)' % (path, type(state).__name__))
    print('Tensors (kzoo.converters.to_torch names, matched in order):')
    params = 0
    for key, value in state.items():
        shape = tuple(getattr(value, 'shape', ()))
        print('  %-40s %s' % (key, shape))
        params += _prod(shape)
    print('Total params: {:,}'.format(params))


def _prod(shape):
    out = 1
    for d in shape or ():
        out *= int(d)
    return out


@command('info', help='show the format, Keras era, summary and conversions of a model file',
         add_arguments=_args)
def run(args):
    from kzoo.converters import formats
    from kzoo.models import load_model
    fmt = formats.detect(args.file)
    print('File:           %s' % args.file)
    print('Format:         %s (%s)' % (fmt.description, fmt.name))
    if fmt.load_model is None:
        _weights_only(fmt, args.file)
        print('Architecture:   none stored; build the model and call load_weights()')
        return 0
    try:
        model = load_model(args.file, compile=False)
    except KzooError as e:
        print('Model:          not built')
        raise KzooError(str(e).splitlines()[0]) from e
    report = getattr(model, '_kzoo_report', None)
    _print_era(report.era if report is not None else None)
    data_formats = _data_formats(model)
    print('Data format:    %s' % (', '.join(data_formats) if data_formats else
                                  'no spatial layers'))
    print('')
    model.summary(print_fn=print)
    notes = list(report.notes) if report is not None else []
    print('Conversions:' if notes else 'Conversions:   none needed')
    for note in notes:
        print('  - %s' % note)
    return 0
