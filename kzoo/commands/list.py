"""``kzoo list``: the applications in the zoo and their weights."""
from kzoo.commands import command


@command('list', help='list the applications in the zoo with their weights')
def run(args):
    from kzoo.registry import applications
    header = ('application', 'weights', 'input', 'parameters', 'download (top / no top)')
    rows = []
    for app in applications():
        tf_cards = [c for c in app.cards if c.kernels == 'tensorflow']
        sizes = ' / '.join('%.0f MB' % c.download_mb for c in sorted(
            tf_cards, key=lambda c: not c.include_top))
        weights = ', '.join(sorted({c.weights for c in app.cards})) or '-'
        rows.append((app.name, weights, '%dx%d' % (app.input_size, app.input_size),
                     '{:,}'.format(app.parameters or 0), sizes))
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print('  '.join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0
