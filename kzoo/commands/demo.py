"""``kzoo demo``: build a small functional model, summarize it, and run it on every
available backend to show they agree."""
import numpy as np

from kzoo.commands import command


def _args(p):
    p.add_argument('--samples', type=int, default=4, help='number of random samples')


@command('demo', help='build a small model and run it on each backend', add_arguments=_args)
def run(args):
    from kzoo import backend as K
    from kzoo.layers import Input, Dense
    from kzoo.models import Model

    x = np.random.default_rng(0).normal(size=(args.samples, 8)).astype('float32')
    results = {}
    weights = None
    for name in K.available_backends():
        with K.using(name):
            inputs = Input(shape=(8,), name='features')
            hidden = Dense(16, activation='relu', name='hidden')(inputs)
            outputs = Dense(3, activation='softmax', name='probabilities')(hidden)
            model = Model(inputs=inputs, outputs=outputs, name='demo')
            if weights is None:
                weights = model.get_weights()
                model.summary()
            model.set_weights(weights)
            results[name] = model.predict(x)
    reference = results.get('numpy', next(iter(results.values())))
    print('\nPredictions on %d random samples (first sample: %s)'
          % (args.samples, np.array2string(reference[0], precision=4)))
    for name, out in results.items():
        print('  backend %-10s max |difference| from numpy: %.2e'
              % (name, float(np.max(np.abs(out - reference)))))
    return 0
