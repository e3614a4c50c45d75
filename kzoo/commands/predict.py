"""``kzoo predict NAME|MODELFILE IMAGE...``: top classes per image.

``--input DIR|GLOB|LISTFILE --output results.parquet|.jsonl`` classifies many images
(with ``--ray``, on a Ray cluster): see :mod:`kzoo.distributed`.
"""
import numpy as np

from kzoo.commands import command
from kzoo.commands._models import load_model_or_application


def _args(p):
    p.add_argument('model', help='application name (see kzoo list) or a model file')
    p.add_argument('images', nargs='*', help='image files')
    p.add_argument('--top', type=int, default=5, help='how many classes per image')
    p.add_argument('--weights', default='imagenet', help="for applications: 'imagenet', "
                   "'none' or a weights file")
    p.add_argument('--preprocess', choices=('caffe', 'tf', 'torch', 'none'), default=None,
                   help="preprocessing mode (default: the application's card; none for files)")
    p.add_argument('--input', help='many images: a folder, a glob pattern or a file listing '
                   'image paths (one per line)')
    p.add_argument('--output', help='write results to a .parquet or .jsonl file (columns path, '
                   'class_ids, class_names, scores, error)')
    p.add_argument('--batch-size', type=int, default=32, help='images per model batch')
    p.add_argument('--ray', nargs='?', const='auto', metavar='ADDRESS',
                   help="run on Ray: 'auto' (a running cluster, else a local one), 'local', or "
                   'a cluster address such as ray://HEAD:10001')
    p.add_argument('--workers', type=int, help='model actors on Ray; decode threads without')
    p.add_argument('--threads', type=int, help='threads the model runs with (each actor on '
                   'Ray); the same value on both paths gives identical results')
    p.add_argument('--precision', choices=('float32', 'bfloat16'), default=None,
                   help='float32 (default) or bfloat16 (faster where the CPU has AVX-512 BF16 '
                   'or AMX; about 3 significant digits)')
    p.add_argument('--provider', choices=('auto', 'torch', 'onnxruntime', 'plain'),
                   default=None,
                   help='what runs the model: auto (default: the compiled plan, or onnxruntime '
                   'where installed and measured faster; images that fit in one batch run the '
                   'plan, which starts sooner), torch (always the plan: results reproducible '
                   'bit for bit), onnxruntime, or plain (layer by layer)')


@command('predict', help='classify images with an application or a model file',
         add_arguments=_args)
def run(args):
    if args.input or args.output or args.ray:
        from kzoo.distributed.commands import run_predict
        return run_predict(args)
    if not args.images:
        from kzoo.errors import ConfigError
        raise ConfigError('no images: give image files, or --input DIR|GLOB|LISTFILE')
    from kzoo.preprocessing.image import img_to_array, load_img
    from kzoo.registry import imagenet
    model, app = load_model_or_application(args.model, args.weights)
    mode = args.preprocess or (app.preprocessing if app else 'none')
    height, width = model.input_shape[1:3]
    if height is None or width is None:
        height = width = app.input_size if app else 224
    batch = np.stack([img_to_array(load_img(path, target_size=(height, width)))
                      for path in args.images])
    if mode != 'none':
        batch = imagenet.preprocess_input(batch, mode=mode)
    provider = args.provider
    if provider is None and len(batch) <= args.batch_size:
        # One batch: auto's first batch would export the model to onnxruntime and time
        # both (seconds for a large model) to speed up batches that never come.
        provider = 'torch'
    preds = model.predict(batch, batch_size=args.batch_size, precision=args.precision,
                          provider=provider)
    if preds.ndim == 2 and preds.shape[1] == 1000:
        decoded = imagenet.decode_predictions(preds, top=args.top)
    else:
        order = np.argsort(-preds.reshape(len(preds), -1), axis=1)[:, :args.top]
        decoded = [[(str(i), 'class_%d' % i, p.reshape(-1)[i]) for i in row]
                   for row, p in zip(order, preds)]
    for path, rows in zip(args.images, decoded):
        print(path)
        for wnid, name, score in rows:
            print('  %-30s %-10s %.4f' % (name, wnid, float(score)))
    return 0
