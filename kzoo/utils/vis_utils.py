"""Model graphs as Graphviz DOT text, rendered with the ``dot`` program.

Graphviz is a system package: ``apt-get install graphviz`` (Debian/Ubuntu),
``brew install graphviz`` (macOS). Writing ``.dot`` needs nothing extra.

>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,), name='x')
>>> print(model_to_dot(Model(x, Dense(2, name='d')(x))).splitlines()[3])
  "x" [label="x\\nInputLayer\\n(None, 3)"];
"""
import os
import shutil
import subprocess

from kzoo.errors import ConfigError, KzooError


def _quote(text):
    return '"%s"' % str(text).replace('\\', '\\\\').replace('"', '\\"')


def model_to_dot(model, rankdir='TB'):
    """DOT text: one box per layer (name, type, output shape), one edge per connection."""
    lines = ['digraph %s {' % _quote(model.name), '  rankdir=%s;' % rankdir,
             '  node [shape=record, fontname="Helvetica", fontsize=10];']
    layers = model.layers
    if getattr(model, 'input_layers', None):
        layers = [l for l in model.input_layers if l not in layers] + layers
    for layer in layers:
        try:
            shape = layer.output_shape
        except KzooError:
            shape = 'multiple'
        label = '%s\\n%s\\n%s' % (layer.name, type(layer).__name__, shape)
        lines.append('  %s [label=%s];' % (_quote(layer.name), _quote(label).replace('\\\\n', '\\n')))
    relevant = {n for nodes in model.nodes_by_depth.values() for n in nodes}
    for layer in layers:
        for node in layer._inbound_nodes:
            if node in relevant:
                for inbound in node.inbound_layers:
                    lines.append('  %s -> %s;' % (_quote(inbound.name), _quote(layer.name)))
    lines.append('}')
    return '\n'.join(lines) + '\n'


def plot_model(model, to_file='model.png', rankdir='TB'):
    """Write the graph to ``to_file`` (.png, .svg, .pdf through Graphviz, or .dot)."""
    from kzoo.utils.io_utils import atomic_write
    ext = os.path.splitext(to_file)[1].lower().lstrip('.')
    dot_text = model_to_dot(model, rankdir)
    if ext == 'dot':
        with atomic_write(to_file, 'w') as f:
            f.write(dot_text)
        return to_file
    if ext not in ('png', 'svg', 'pdf'):
        raise ConfigError('plot output must end in .png, .svg, .pdf or .dot; got %s' % to_file)
    dot = shutil.which('dot')
    if dot is None:
        raise KzooError('drawing %s needs Graphviz (the "dot" program): apt-get install '
                        'graphviz, or write a .dot file instead' % to_file)
    result = subprocess.run([dot, '-T' + ext], input=dot_text.encode(), capture_output=True,
                            timeout=120)
    if result.returncode != 0:
        raise KzooError('Graphviz failed: %s' % result.stderr.decode(errors='replace').strip())
    with atomic_write(to_file, 'wb') as f:
        f.write(result.stdout)
    return to_file
