"""``kzoo convert SRC DST``: convert a model between formats, checked numerically.

Formats come from the files (``.h5``/``.hdf5``, ``.keras``, ``.json``/``.yaml``,
``.onnx``, ``.pt``, a SavedModel folder) or from ``--from``/``--to``. The result is
compared with kzoo on random inputs; the largest difference is printed, and a
difference over ``--tolerance`` fails the conversion (exit status 1, nothing written).
An image model's ONNX export is checked at a smaller input size when that runs the
written nodes and weights (the output says so); ``--full-size-check`` checks at the
model's own size.
The work is :func:`kzoo.converters.convert`. ``--batch MANIFEST.csv`` runs many
conversions in parallel (:mod:`kzoo.distributed.bulk_convert`).
"""
from kzoo.commands import command


def _args(p):
    p.add_argument('src', nargs='?', help='model file or SavedModel folder to read')
    p.add_argument('dst', nargs='?', help='file or folder to write (format from its '
                   'extension; a name without one is a SavedModel folder)')
    p.add_argument('--from', dest='src_format', metavar='FORMAT',
                   help='source format: h5, keras, json, yaml, onnx, savedmodel')
    p.add_argument('--to', dest='dst_format', metavar='FORMAT',
                   help='destination format: h5, keras, json, yaml, onnx, pt, savedmodel')
    p.add_argument('--weights', help='weights file for a source that holds only an '
                   'architecture (JSON/YAML)')
    p.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    p.add_argument('--external-data', action='store_true',
                   help='ONNX: write the weights to DST.data beside the model')
    p.add_argument('--static-batch', action='store_true',
                   help='ONNX: fix the batch dimension instead of leaving it symbolic')
    p.add_argument('--data-format', choices=('channels_first', 'channels_last'),
                   help='convert the model to this data format first')
    p.add_argument('--no-check', action='store_true',
                   help='do not compare the result with kzoo')
    p.add_argument('--full-size-check', action='store_true',
                   help='ONNX: check at the model\'s own input size, not at a smaller one '
                        'that runs the same nodes and weights')
    p.add_argument('--tolerance', type=float, default=1e-4,
                   help='largest allowed difference, scaled by max(1, max|output|) '
                        '(default 1e-4)')
    p.add_argument('--batch', metavar='MANIFEST', help='convert every row of a CSV file '
                   '(columns src, dst, and any option: opset, tolerance, ...) in parallel')
    p.add_argument('--ray', nargs='?', const='auto', metavar='ADDRESS',
                   help="--batch: run on Ray ('auto', 'local' or a cluster address)")
    p.add_argument('--workers', type=int, help='--batch: local processes (default: CPU count)')
    p.add_argument('--report', metavar='FILE', help='--batch: also write the report (.csv or '
                   '.jsonl)')


@command('convert', help='convert a model between formats (h5, keras, json, yaml, onnx, pt, '
         'SavedModel), checked numerically', add_arguments=_args)
def run(args):
    if args.batch:
        from kzoo.distributed.commands import run_convert_batch
        return run_convert_batch(args)
    if not (args.src and args.dst):
        from kzoo.errors import ConfigError
        raise ConfigError('give SRC and DST, or --batch MANIFEST.csv')
    from kzoo.converters import convert
    result = convert(args.src, args.dst, src_format=args.src_format,
                     dst_format=args.dst_format, weights=args.weights, opset=args.opset,
                     data_format=args.data_format, external_data=args.external_data,
                     dynamic_batch=not args.static_batch, check=not args.no_check,
                     tolerance=args.tolerance, full_size_check=args.full_size_check)
    print('%s (%s) -> %s (%s)' % (result.src, result.source_format, result.dst,
                                  result.target_format))
    for path in result.files[1:]:
        print('  also wrote %s' % path)
    if not getattr(args, 'quiet', False):
        for note in result.notes:
            print('  %s' % note)
    if result.checked:
        print('largest difference: %.3g (tolerance %.1g)' % (result.max_error, result.tolerance))
    else:
        print('not checked (--no-check)')
    return 0
