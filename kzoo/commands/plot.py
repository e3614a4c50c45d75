"""``kzoo plot FILE|NAME -o graph.png``: a picture of a model's graph (Graphviz)."""
from kzoo.commands import command
from kzoo.commands._models import load_model_or_application


def _args(p):
    p.add_argument('model', help='application name (see kzoo list) or a model file')
    p.add_argument('-o', '--output', required=True,
                   help='graph.png, graph.svg, graph.pdf (need Graphviz) or graph.dot')
    p.add_argument('--rankdir', default='TB', choices=('TB', 'LR'), help='layout direction')


@command('plot', help='draw the layer graph of a model (needs Graphviz for images)',
         add_arguments=_args)
def run(args):
    from kzoo.utils.vis_utils import plot_model
    model, _ = load_model_or_application(args.model, weights=None)
    plot_model(model, args.output, rankdir=args.rankdir)
    print('wrote %s' % args.output)
    return 0
