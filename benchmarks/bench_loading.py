"""Loading benchmark: VGG16's legacy HDF5 files opened by kzoo and by Keras 3.

Rows: ``load_model`` of the whole-model file and ``load_weights`` of the weights file
(into a model built first), for kzoo and Keras 3 (TensorFlow backend). Each row runs in
a fresh process, ``--repeat`` times, kzoo and Keras 3 in turn (medians reported): the
time of the call, its CPU time (all threads), and the peak resident memory above the
resident memory measured after the imports (the post-import baseline), as a multiple of
the weight bytes. Before measuring, each process
loads a small VGG16 file, so lazy imports and caches of either library are not counted. The files (553 MB each) are
written once with kzoo into ``--dir`` (default ``$KZOO_BENCH_DIR`` or a temp folder).

    python benchmarks/bench_loading.py              # the table
    python benchmarks/bench_loading.py --small      # a quick check on a 32x32 VGG16
    python benchmarks/bench_loading.py --only load_weights --repeat 15   # one row
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

GOAL_TIME, GOAL_MEMORY = 0.3, 1.2


def _files(folder, small):
    """``(model.h5, weights.h5, weight bytes)``, written once."""
    tag = 'vgg16_small' if small else 'vgg16'
    model_path = os.path.join(folder, tag + '.h5')
    weights_path = os.path.join(folder, tag + '_weights.h5')
    meta = os.path.join(folder, tag + '.json')
    if not (os.path.exists(model_path) and os.path.exists(weights_path) and os.path.exists(meta)):
        code = ('import json, sys; from kzoo.applications import VGG16; import numpy as np\n'
                'm = VGG16(weights=None%s)\n'
                'm.save(sys.argv[1]); m.save_weights(sys.argv[2])\n'
                'json.dump({"bytes": int(sum(w.nbytes for w in m.get_weights()))}, '
                'open(sys.argv[3], "w"))\n' % (', input_shape=(32, 32, 3)' if small else ''))
        subprocess.run([sys.executable, '-c', code, model_path, weights_path, meta], check=True,
                       env=_env())
    with open(meta) as f:
        return model_path, weights_path, json.load(f)['bytes']


def _env():
    env = dict(os.environ)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    env.setdefault('KERAS_BACKEND', 'tensorflow')
    return env


# One measurement, in a fresh process: imports, baseline, the call, peak.
_CHILD = r'''
import gc, json, resource, sys, time
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()
def peak():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
def reset_peak():  # Linux >= 4.0: "5" to clear_refs resets VmHWM to the current RSS
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass
who, what, path, small, warm = (sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == '1',
                                 sys.argv[5])
if who == 'kzoo':
    import numpy as np
    from kzoo import backend as K
    from kzoo.models import load_model
    from kzoo.applications import VGG16
    K.backend()
    build = lambda: VGG16(weights=None, input_shape=(32, 32, 3) if small else None)
    load = lambda: load_model(path)
    load_small = load_model
    def touch(model):  # every weight read once (a mapped weight's pages come in)
        return sum(float(w.detach().sum()) if hasattr(w, 'detach') else float(np.sum(w))
                   for w in model.weights)
else:
    import keras
    build = lambda: keras.applications.VGG16(weights=None,
                                             input_shape=(32, 32, 3) if small else None)
    load = lambda: keras.models.load_model(path, compile=False)
    load_small = lambda p: keras.models.load_model(p, compile=False)
    touch = lambda model: sum(float(keras.ops.sum(w)) for w in model.weights)
if warm != '-':  # a small file first: lazy imports and caches, for both libraries
    model = load_small(warm)
    del model
gc.collect()
reset_peak()
base = rss()  # the post-import baseline
if what == 'load_weights':  # the model exists before load_weights is called
    model = build()
    gc.collect()
    reset_peak()
t, cpu = time.perf_counter(), time.process_time()
if what == 'load_model':
    model = load()
else:
    model.load_weights(path)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
result = {'seconds': seconds, 'cpu_seconds': cpu, 'peak': peak() - base, 'rss': rss() - base}
t = time.perf_counter()
touch(model)
result.update(touch_seconds=time.perf_counter() - t, touch_peak=peak() - base)
print(json.dumps(result))
'''


def run_once(who, what, path, small, warm='-'):
    """One measurement in a fresh process (a dict: seconds, cpu_seconds, peak, ...)."""
    out = subprocess.run([sys.executable, '-c', _CHILD, who, what, path, '1' if small else '0',
                          warm], check=True, capture_output=True, text=True, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} if runs else None


def rows(folder, small=False, repeat=3, include_keras=True, only=None):
    model_path, weights_path, nbytes = _files(folder, small)
    warm = _files(folder, True)[0]
    out = []
    for what, path in (('load_model', model_path), ('load_weights', weights_path)):
        if only and what != only:
            continue
        kz, ke = [], []
        for _ in range(repeat):  # in turn: a busy moment of the machine hits both alike
            kz.append(run_once('kzoo', what, path, small, warm))
            if include_keras:
                ke.append(run_once('keras', what, path, small, warm))
        out.append({'what': what, 'bytes': nbytes, 'kzoo': _median(kz), 'keras': _median(ke)})
    return out


def table(results):
    lines = ['| VGG16 HDF5 | kzoo time | Keras 3 time | time ratio (goal <= %.1f) | kzoo CPU '
             '| Keras 3 CPU | CPU ratio | kzoo peak / weight bytes | Keras 3 peak / weight '
             'bytes | goal |' % GOAL_TIME,
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in results:
        kz, ke, nb = r['kzoo'], r['keras'], float(r['bytes'])
        lines.append('| `%s` | %.3f s | %s | %s | %.3f s | %s | %s | %.2f | %s | <= %.1f |' % (
            r['what'], kz['seconds'], '%.3f s' % ke['seconds'] if ke else 'n/a',
            '%.2f' % (kz['seconds'] / ke['seconds']) if ke else 'n/a', kz['cpu_seconds'],
            '%.3f s' % ke['cpu_seconds'] if ke else 'n/a',
            '%.2f' % (kz['cpu_seconds'] / ke['cpu_seconds']) if ke else 'n/a', kz['peak'] / nb,
            '%.2f' % (ke['peak'] / nb) if ke else 'n/a', GOAL_MEMORY))
    lines.append('')
    lines.append('Weight bytes: %.1f MB. Peaks are above the resident memory after the '
                 'imports; for `load_weights` the model is built first (its weights are 1.0x '
                 'of that peak by themselves; the time is the load_weights call alone). '
                 '`load_model` maps weights that need no conversion from the file '
                 '(copy-on-write): their pages come in as they are first read, so each row '
                 'also shows reading every weight once after the call:'
                 % (results[0]['bytes'] / 1e6))
    for r in results:
        kz, ke, nb = r['kzoo'], r['keras'], float(r['bytes'])
        if 'touch_seconds' not in kz:
            continue
        lines.append('- `%s`: kzoo %.3f s (peak then %.2fx)%s' % (
            r['what'], kz['touch_seconds'], kz['touch_peak'] / nb,
            ', Keras 3 %.3f s (peak then %.2fx)' % (ke['touch_seconds'], ke['touch_peak'] / nb)
            if ke and 'touch_seconds' in ke else ''))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', default=os.environ.get('KZOO_BENCH_DIR')
                        or os.path.join(tempfile.gettempdir(), 'kzoo-bench'))
    parser.add_argument('--small', action='store_true', help='a 32x32 VGG16 (quick check)')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--no-keras', action='store_true')
    parser.add_argument('--only', choices=['load_model', 'load_weights'],
                        help='measure this row only')
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    results = rows(args.dir, args.small, args.repeat, not args.no_keras, args.only)
    print(table(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
