"""``kzoo get NAME``: download (cached, verified) and build an application."""
import os

from kzoo.commands import command
from kzoo.commands._models import save_by_extension, weights_argument


def _args(p):
    p.add_argument('name', help='application name, e.g. InceptionV3 (see kzoo list)')
    p.add_argument('--weights', default='imagenet',
                   help="'imagenet' (default), another published set named by kzoo list "
                   "(e.g. 'imagenet-keras1': Keras 1's Theano files, converted on load), "
                   "'none' for random weights, or a weights file")
    p.add_argument('--no-top', action='store_true', help='without the classifier on top')
    p.add_argument('-o', '--output', help='also write the model (.h5, .keras, .json, .yaml, '
                   '.onnx)')


@command('get', help='download and build an application from the zoo', add_arguments=_args)
def run(args):
    from kzoo.registry import get_application
    app = get_application(args.name)
    include_top = not args.no_top
    weights = weights_argument(args.weights)
    model = app.builder(include_top=include_top, weights=weights)
    if weights in app.weights_names:
        card = app.card(weights, include_top)
        from kzoo.utils.data_utils import get_file
        where = get_file(card.file_name, card.urls[0], file_hash=card.file_hash,
                         cache_subdir=card.cache_subdir)
    else:
        where = weights or 'random initialization'
    if not getattr(args, 'quiet', False):
        print('%s: %d layers, %s parameters, input %s, output %s'
              % (model.name, len(model.layers), '{:,}'.format(model.count_params()),
                 model.input_shape, model.output_shape))
        print('weights: %s' % where)
        if getattr(args, 'verbose', False):
            model.summary()
    if args.output:
        save_by_extension(model, args.output)
        print('wrote %s' % os.path.abspath(args.output))
    return 0
