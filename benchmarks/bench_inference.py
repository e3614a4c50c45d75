"""Inference benchmark: kzoo's predict against onnxruntime, Keras 3 and plain torch.

For VGG16, ResNet50 and InceptionV3 at batch 1 and 8 (float32), every peer runs the
same model with the same weights on the same input, each in its own process:

- ``kzoo``: ``model.predict(x)`` at default settings (``provider='auto'``: the compiled
  inference plan, or onnxruntime where installed and measured faster on the first batch;
  the choice is reported under the table);
- ``kzoo plan``: ``model.predict(x, provider='torch')``, always the compiled plan;
- ``kzoo bf16``: ``model.predict(x, precision='bfloat16')`` (its deviation from float32
  is reported under the table);
- ``kzoo plain``: ``model.predict(x, provider='plain')``, the unoptimized layer-by-layer
  path (the reference every output is compared with);
- ``kzoo session`` (opt-in, ``--peers``): kzoo's own onnxruntime session, the one the
  default provider runs where it chose onnxruntime, called directly in the ``kzoo``
  peer's process (the difference from ``kzoo`` is predict's own overhead);
- ``onnxruntime``: an ``InferenceSession`` on kzoo's own ONNX export of the model
  (default session options, all graph optimizations), and ``ort tf2onnx``: on tf2onnx's
  conversion of the Keras 3 model, where tf2onnx manages it;
- ``keras``: Keras 3 (TensorFlow) ``predict_on_batch``;
- ``torch cl`` / ``torch nchw``: the network written by hand in torch
  (benchmarks/torch_models.py), eager, channels-last or NCHW; ``torch compile``
  (``--compile``): ``torch.compile`` of the channels-last one.

Every peer is set up and warmed (two runs per batch size, which include kzoo's plan
compilation and onnxruntime's session set-up) in its own worker process; then the
runs are interleaved: each round times every peer once per batch size, in an order
rotated from round to round, so load from other processes on a shared machine falls
on all peers alike. Times are the median of ``--repeat`` rounds (default 5); ratios
are throughputs relative to onnxruntime (higher is better). ``--scaling`` adds
throughput against batch size (1..32) and threads (1, 2) for kzoo and onnxruntime.

    python benchmarks/bench_inference.py                 # the table
    python benchmarks/bench_inference.py --small         # a quick run on tiny inputs
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

import machine  # noqa: E402

MODELS = {'VGG16': 224, 'ResNet50': 224, 'InceptionV3': 299}
SMALL = {'VGG16': 32, 'ResNet50': 32, 'InceptionV3': 75}
PEERS = ('kzoo', 'kzoo plan', 'kzoo bf16', 'kzoo plain', 'onnxruntime', 'ort tf2onnx',
         'keras', 'torch cl', 'torch nchw')
GOAL_FP32, GOAL_BF16 = 1.0, 2.0


# ---- the worker: one peer, one model, several batch sizes, in its own process ------------

def _images(batch, size, seed=0):
    import numpy as np
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, 3)).astype('float32')


_MODELS = {}


def _kzoo_model(name, size, weights):
    """One kzoo model per process (the kzoo peers of one worker share it)."""
    key = (name, size, weights)
    if key not in _MODELS:
        from kzoo import applications
        model = getattr(applications, name)(weights=None, input_shape=(size, size, 3))
        model.load_weights(weights)
        _MODELS[key] = model
    return _MODELS[key]


def _runner(peer, name, size, weights, folder, threads):
    """``(run(x) -> outputs, info)`` for one peer."""
    import numpy as np
    if peer == 'kzoo session':
        # kzoo's own onnxruntime session (its graph, options and process), run directly:
        # against 'kzoo' it shows predict's overhead, against 'onnxruntime' the session's
        from kzoo.engine.inference import ort as kzoo_ort
        session = kzoo_ort.session_for(_kzoo_model(name, size, weights))
        feed = session.input_names[0]
        return (lambda x: session.session.run(None, {feed: x})[0]), {}
    if peer.startswith('kzoo'):
        model = _kzoo_model(name, size, weights)
        options = {'kzoo': {}, 'kzoo plan': {'provider': 'torch'},
                   'kzoo bf16': {'precision': 'bfloat16'},
                   'kzoo auto': {'provider': 'auto'},
                   'kzoo plain': {'provider': 'plain'}}[peer]
        info = {}
        if peer in ('kzoo', 'kzoo auto'):
            from kzoo.engine.inference import describe
            info['choice'] = lambda: {str(p['shapes'][0][0]): p['provider']
                                      for p in describe(model) if p.get('auto')}
        if peer == 'kzoo bf16':
            from kzoo.engine.inference import plans_of
            info['deviation'] = lambda: [p.deviation for p in plans_of(model)
                                         if p.precision == 'bfloat16']
        return (lambda x: model.predict(x, batch_size=len(x), **options)), info
    if peer in ('onnxruntime', 'ort tf2onnx'):
        import onnxruntime as ort
        path = os.path.join(folder, '%s_%d%s.onnx' % (name, size, '' if peer == 'onnxruntime'
                                                       else '_tf2onnx'))
        if not os.path.exists(path):
            (_export_kzoo if peer == 'onnxruntime' else _export_tf2onnx)(name, size, weights, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        feed = session.get_inputs()[0].name
        return (lambda x: session.run(None, {feed: x})[0]), {}
    if peer == 'keras':
        model = _keras_model(name, size, weights)
        return (lambda x: np.asarray(model.predict_on_batch(x))), {}
    if peer.startswith('torch'):
        import torch
        import torch_models
        net = torch_models.from_kzoo(name, _kzoo_model(name, size, weights))
        layout = torch.contiguous_format if peer == 'torch nchw' else torch.channels_last
        net = net.to(memory_format=layout)
        if peer == 'torch compile':
            import torch._inductor.config as inductor
            inductor.freezing = True  # constant weights: BN folding, oneDNN weight prepacking
            net = torch.compile(net)

        def run(x):
            with torch.inference_mode():
                t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout)
                return net(t).numpy()
        return run, {}
    raise ValueError('unknown peer %r' % peer)


def _export_kzoo(name, size, weights, path):
    from kzoo.converters.onnx_export import to_onnx
    to_onnx(_kzoo_model(name, size, weights), path, check=False)


def _keras_model(name, size, weights):
    import keras
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    model.load_weights(weights)  # kzoo wrote the Keras 2 layout, which Keras 3 reads
    return model


def _export_tf2onnx(name, size, weights, path):
    import tensorflow as tf
    import tf2onnx
    model = _keras_model(name, size, weights)
    spec = (tf.TensorSpec((None, size, size, 3), tf.float32, name='input'),)
    tf2onnx.convert.from_keras(model, input_signature=spec, output_path=path)


def worker(args):
    """Serve timings for the peers in ``args.peer`` (comma-separated; one model, shared).

    Protocol (one JSON line per answer on the original stdout, which nothing else may
    write to): after setting up and warming every peer at every batch size, one line
    ``{"ready": ..., "first_ms": ..., "errors": ...}``; then for each request line
    ``PEER|BATCH`` one ``{"ms": ...}`` (a single timed run); ``info`` answers with the
    bfloat16 deviations and auto's choices; end of input ends the worker.
    """
    protocol = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)  # libraries that print go to stderr
    threads = args.threads
    os.environ['OMP_NUM_THREADS'] = str(threads)
    os.environ['TF_NUM_INTRAOP_THREADS'] = str(threads)
    os.environ['TF_NUM_INTEROP_THREADS'] = '1'
    import numpy as np
    peers = args.peer.split(',')
    if any(p.startswith('kzoo') for p in peers):
        # kzoo as a user meets it: imported before torch, so its torch backend sets up
        # OpenMP (bounded spinning, see kzoo/backend/torch_backend/__init__.py)
        from kzoo import backend as K
        K.backend()
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass
    inputs = {b: _images(b, args.size) for b in args.batches}
    runners, infos, first, errors = {}, {}, {}, {}
    for peer in peers:
        try:
            runners[peer], infos[peer] = _runner(peer, args.model, args.size, args.weights,
                                                 args.dir, threads)
        except Exception as e:  # a peer that cannot run this model: reported, not fatal
            errors[peer] = '%s: %s' % (type(e).__name__, (str(e).splitlines() or [''])[0][:200])
            continue
        for batch, x in inputs.items():
            try:
                t0 = time.perf_counter()
                out = runners[peer](x)  # first call: compiles plans, sets up sessions
                first['%s|%d' % (peer, batch)] = 1e3 * (time.perf_counter() - t0)
                runners[peer](x)
            except Exception as e:
                errors['%s|%d' % (peer, batch)] = '%s: %s' % (type(e).__name__, str(e)[:200])
                continue
            if args.outputs:
                np.save(os.path.join(args.outputs, '%s_%s_%d.npy' % (
                    peer.replace(' ', '-'), args.model, batch)), np.asarray(out))
    if any(p.startswith('torch') for p in peers):
        _MODELS.clear()  # the torch twins hold their own copies of the weights
    protocol.write(json.dumps({'ready': True, 'first_ms': first, 'errors': errors}) + '\n')
    for line in sys.stdin:
        line = line.strip()
        if line == 'info':
            out = {}
            for peer, info in infos.items():
                out[peer] = {key: fn() for key, fn in info.items()}
            protocol.write(json.dumps(out) + '\n')
            continue
        peer, batch = line.rsplit('|', 1)
        x = inputs[int(batch)]
        c0, t0 = time.process_time(), time.perf_counter()
        runners[peer](x)
        t1, c1 = time.perf_counter(), time.process_time()
        protocol.write(json.dumps({'ms': 1e3 * (t1 - t0), 'cpu_ms': 1e3 * (c1 - c0)}) + '\n')


# ---- the driver ---------------------------------------------------------------------------

def _weights_file(folder, name, size):
    """A weights file for ``name`` at ``size``: random weights with realistic
    BatchNormalization statistics (so activations keep a sensible range)."""
    path = os.path.join(folder, '%s_%d.weights.h5' % (name, size))
    if not os.path.exists(path):
        code = ('import sys, numpy as np\n'
                'from kzoo import applications\n'
                'm = getattr(applications, sys.argv[1])(weights=None, '
                'input_shape=(int(sys.argv[2]),) * 2 + (3,))\n'
                'rng = np.random.default_rng(0)\n'
                'for l in m.layers:\n'
                '    if type(l).__name__ == "BatchNormalization":\n'
                '        w = l.get_weights()\n'
                '        w[-2] = rng.normal(0, 0.1, w[-2].shape).astype("float32")\n'
                '        w[-1] = rng.uniform(0.5, 2, w[-1].shape).astype("float32")\n'
                '        l.set_weights(w)\n'
                'm.save_weights(sys.argv[3])\n')
        subprocess.run([sys.executable, '-c', code, name, str(size), path], check=True,
                       env=_env())
    return path


def _env(threads=None):
    env = dict(os.environ)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    env.setdefault('KERAS_BACKEND', 'tensorflow')
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    return env


# Peers sharing a process: the kzoo ones share one model (the default apart: its choice may
# drop the plan 'kzoo plan' uses), the two torch layouts their weights file.
GROUPS = (('kzoo plan', 'kzoo bf16', 'kzoo plain'), ('kzoo', 'kzoo session'), ('kzoo auto',),
          ('onnxruntime',),
          ('ort tf2onnx',), ('keras',), ('torch cl', 'torch nchw', 'torch compile'))
PAUSE = 0.05  # between timed runs: the previous runner's threads stop spinning


class Worker(object):
    """A worker process serving one group of peers (see :func:`worker`)."""

    def __init__(self, peers, name, size, batches, threads, folder, outputs):
        weights = _weights_file(folder, name, size)
        command = [sys.executable, os.path.abspath(__file__), '--worker', '--peer',
                   ','.join(peers), '--model', name, '--size', str(size), '--threads',
                   str(threads), '--weights', weights, '--dir', folder,
                   '--batches', ','.join(str(b) for b in batches)]
        if outputs:
            command += ['--outputs', outputs]
        self.peers = list(peers)
        self.log = tempfile.TemporaryFile(mode='w+')
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True, bufsize=1,
                                        env=_env(threads))
        self.state = self._read() or {'errors': {}}
        if 'ready' not in self.state:
            self.state = {'errors': {p: self._crash() for p in peers}, 'first_ms': {}}

    def _read(self):
        line = self.process.stdout.readline()
        return json.loads(line) if line.strip() else None

    def _crash(self):
        self.log.seek(0)
        lines = [l for l in self.log.read().splitlines() if l.strip()
                 and not l.startswith(('I0000', 'W0000', 'WARNING'))]
        return (lines[-1] if lines else 'the worker exited')[:200]

    def error(self, peer, batch):
        errors = self.state.get('errors', {})
        return errors.get(peer) or errors.get('%s|%d' % (peer, batch))

    def time(self, peer, batch):
        """``(wall ms, CPU ms of all the worker's threads)`` of one run."""
        self.process.stdin.write('%s|%d\n' % (peer, batch))
        answer = self._read()
        return (answer['ms'], answer.get('cpu_ms')) if answer else None

    def info(self):
        self.process.stdin.write('info\n')
        return self._read() or {}

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        except Exception:  # noqa: BLE001
            self.process.kill()
        self.log.close()


def measure(name, size, peers, batches, threads, repeat, folder, outputs=None, log=print,
            label=''):
    """Interleaved timings: every round times each peer once per batch size, in an order
    rotated from round to round, so a change in the machine's load hits all peers alike.
    Returns ``{peer: {'batches': {batch: entry}, ...}}``."""
    workers = []
    for group in GROUPS:
        members = [p for p in group if p in peers]
        if members:
            log('  %s%s: setting up %s ...' % (name, label, ', '.join(members)))
            workers.append(Worker(members, name, size, batches, threads, folder, outputs))
    times = {(p, b): [] for p in peers for b in batches}
    cpu = {(p, b): [] for p in peers for b in batches}
    slots = [(w, p) for w in workers for p in w.peers]
    for r in range(repeat):
        order = slots[r % len(slots):] + slots[:r % len(slots)] if slots else []
        for batch in batches:
            for w, peer in order:
                if w.error(peer, batch) or w.process.poll() is not None:
                    continue
                time.sleep(PAUSE)
                answer = w.time(peer, batch)
                if answer is not None:
                    times[(peer, batch)].append(answer[0])
                    cpu[(peer, batch)].append(answer[1])
    results = {}
    for w in workers:
        info = w.info() if w.process.poll() is None else {}
        for peer in w.peers:
            entry = {'batches': {}}
            entry.update(info.get(peer, {}))
            for batch in batches:
                error = w.error(peer, batch)
                ts = times[(peer, batch)]
                if error or not ts:
                    entry['batches'][batch] = {'error': error or w._crash()}
                    continue
                entry['batches'][batch] = {
                    'median_ms': statistics.median(ts), 'min_ms': min(ts), 'runs': len(ts),
                    'cpu_ms': statistics.median([c for c in cpu[(peer, batch)]
                                                 if c is not None] or [float('nan')]),
                    'first_ms': w.state.get('first_ms', {}).get('%s|%d' % (peer, batch))}
            results[peer] = entry
        w.close()
    return results


def _errors(outputs, peers, name, batches):
    """Scaled max error of each peer's outputs against kzoo's plain path."""
    import numpy as np
    out = {}
    for batch in batches:
        ref_path = os.path.join(outputs, 'kzoo-plain_%s_%d.npy' % (name, batch))
        if not os.path.exists(ref_path):
            continue
        ref = np.load(ref_path).astype('float64')
        scale = max(1.0, float(np.abs(ref).max()))
        for peer in peers:
            path = os.path.join(outputs, '%s_%s_%d.npy' % (peer.replace(' ', '-'), name, batch))
            if os.path.exists(path):
                got = np.load(path).astype('float64').reshape(ref.shape)
                out[(peer, batch)] = float(np.abs(got - ref).max()) / scale
    return out


def benchmark(models, batches, peers, threads, repeat, folder, small=False, compile=False,
              log=print):
    sizes = SMALL if small else MODELS
    outputs = tempfile.mkdtemp(prefix='kzoo-bench-out-')
    peers = list(peers) + (['torch compile'] if compile else [])
    results = {}
    for name in models:
        measured = measure(name, sizes[name], peers, batches, threads, repeat, folder, outputs,
                           log)
        for peer in peers:
            results[(name, peer)] = measured.get(peer, {'batches': {}, 'error': 'not run'})
        for (peer, batch), err in _errors(outputs, peers, name, batches).items():
            entry = results[(name, peer)]['batches'].get(batch)
            if entry is not None:
                entry['error_vs_plain'] = err
    return results, peers


def _ms(entry):
    if entry is None:
        return 'n/a'
    if 'error' in entry:
        return 'fails'
    return '%.1f' % entry['median_ms']


def table(results, models, batches, peers):
    lines = ['| model | batch | ' + ' | '.join(peers) + ' | kzoo / ort | kzoo plan / ort '
             '| kzoo bf16 / ort |',
             '| --- | --- | ' + ' | '.join('---' for _ in peers) + ' | --- | --- | --- |']
    notes = []
    for name in models:
        for batch in batches:
            cells = []
            entries = {}
            for peer in peers:
                r = results.get((name, peer), {})
                entry = r.get('batches', {}).get(batch)
                if entry is None and r.get('error'):
                    entry = {'error': r['error']}
                entries[peer] = entry
                cells.append(_ms(entry))
                if entry and 'error' in entry and (name, peer) not in [n[:2] for n in notes]:
                    notes.append((name, peer, entry['error']))
            ort = entries.get('onnxruntime')

            def ratio(peer, goal):
                e = entries.get(peer)
                if not (ort and e and 'median_ms' in ort and 'median_ms' in e):
                    return 'n/a'
                value = ort['median_ms'] / e['median_ms']
                return '**%.2fx**' % value if value >= goal else '%.2fx' % value
            lines.append('| %s | %d | %s | %s | %s | %s |' % (
                name, batch, ' | '.join(cells), ratio('kzoo', GOAL_FP32),
                ratio('kzoo plan', GOAL_FP32), ratio('kzoo bf16', GOAL_BF16)))
    lines.append('')
    lines.append('Median milliseconds per batch (lower is better); ratios are throughput '
                 'relative to onnxruntime on kzoo\'s export (higher is better; bold: goal met, '
                 '%.1fx float32, %.1fx bfloat16).' % (GOAL_FP32, GOAL_BF16))
    cpu = []
    for name in models:
        for batch in batches:
            cells = ['%s %.0f' % (peer, e['cpu_ms']) for peer in peers
                     for e in [results.get((name, peer), {}).get('batches', {}).get(batch)]
                     if e and e.get('cpu_ms') is not None]
            if cells:
                cpu.append('%s b%d: %s' % (name, batch, ', '.join(cells)))
    if cpu:
        lines.append('')
        lines.append('CPU milliseconds per batch, all threads of each peer\'s process (less '
                     'sensitive to a busy machine than wall time, but counting threads that '
                     'spin while they wait): ' + '; '.join(cpu) + '.')
    errs = []
    for name in models:
        for peer in peers:
            r = results.get((name, peer), {})
            worst = [e.get('error_vs_plain') for e in r.get('batches', {}).values()
                     if e.get('error_vs_plain') is not None]
            if worst:
                errs.append('%s %s %.1e' % (name, peer, max(worst)))
    if errs:
        lines.append('')
        lines.append('Largest difference from kzoo\'s plain path (scaled by max(1, max|y|)): '
                     + '; '.join(errs) + '.')
    devs = []
    for name in models:
        r = results.get((name, 'kzoo bf16'), {})
        for d in r.get('deviation') or []:
            if d:
                devs.append('%s: max %.2e, mean %.2e, top-1 agreement %.0f%%' % (
                    name, d['max_abs'], d['mean_abs'], 100 * d.get('top1_agreement', 1.0)))
                break
    if devs:
        lines.append('')
        lines.append('bfloat16 deviation from float32 (softmax outputs, as reported by the '
                     'plan on its first batch): ' + '; '.join(devs) + '.')
    choices = []
    for name in models:
        chosen = results.get((name, 'kzoo'), {}).get('choice')
        if chosen:
            choices.append('%s %s' % (name, ', '.join('batch %s: %s' % kv
                                                     for kv in sorted(chosen.items()))))
    if choices:
        lines.append('')
        lines.append('kzoo (default provider, auto) chose: ' + '; '.join(choices) + '.')
    for name, peer, error in notes:
        lines.append('')
        lines.append('%s / %s: %s' % (name, peer, error))
    return '\n'.join(lines)


def scaling(name, batches, threads_list, repeat, folder, small=False,
            peers=('kzoo', 'kzoo plan', 'onnxruntime'), log=print):
    size = (SMALL if small else MODELS)[name]
    rows = {}
    for threads in threads_list:
        measured = measure(name, size, peers, batches, threads, repeat, folder, log=log,
                           label=' (%d thread%s)' % (threads, '' if threads == 1 else 's'))
        for peer in peers:
            rows[(peer, threads)] = measured.get(peer, {'batches': {}})
    lines = ['| %s: images/s | ' % name + ' | '.join('batch %d' % b for b in batches) + ' |',
             '| --- | ' + ' | '.join('---' for _ in batches) + ' |']
    for (peer, threads), r in rows.items():
        cells = []
        for b in batches:
            e = r.get('batches', {}).get(b)
            cells.append('%.1f' % (1e3 * b / e['median_ms']) if e and 'median_ms' in e
                         else 'n/a')
        lines.append('| %s, %d thread%s | %s |' % (peer, threads, '' if threads == 1 else 's',
                                                    ' | '.join(cells)))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', default=','.join(MODELS))
    parser.add_argument('--batches', default='1,8')
    parser.add_argument('--peers', default=','.join(PEERS))
    parser.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--small', action='store_true', help='tiny inputs: checks it runs')
    parser.add_argument('--compile', action='store_true', help='also torch.compile')
    parser.add_argument('--scaling', action='store_true',
                        help='throughput vs batch size and threads')
    parser.add_argument('--scaling-model', default='ResNet50')
    parser.add_argument('--dir', default=os.environ.get('KZOO_BENCH_DIR')
                        or os.path.join(tempfile.gettempdir(), 'kzoo-bench'))
    parser.add_argument('--json', help='also write the raw results here')
    # worker mode (one peer in its own process)
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--peer', help=argparse.SUPPRESS)
    parser.add_argument('--model', help=argparse.SUPPRESS)
    parser.add_argument('--size', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--weights', help=argparse.SUPPRESS)
    parser.add_argument('--outputs', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in str(args.batches).split(',') if b]
    if args.worker:
        return worker(args)
    os.makedirs(args.dir, exist_ok=True)
    models = [m for m in args.models.split(',') if m]
    peers = [p for p in args.peers.split(',') if p]
    desc = machine.describe(with_versions=True)
    log = lambda message: print(message, file=sys.stderr, flush=True)
    started = time.time()
    results, peers = benchmark(models, args.batches, peers, args.threads, args.repeat, args.dir,
                               args.small, args.compile, log)
    text = ['## Inference (float32 unless stated; %d thread%s%s)' % (
        args.threads, '' if args.threads == 1 else 's', ', small inputs' if args.small else ''),
        '', machine.markdown(desc), '', table(results, models, args.batches, peers)]
    if args.scaling:
        text += ['', '### Scaling', '',
                 scaling(args.scaling_model, [1, 2, 4, 8, 16, 32] if not args.small else [1, 2, 4],
                         [1, 2], args.repeat, args.dir, args.small, log=log)]
    text += ['', '- load average at the end: %s; %.0f s in all' % (
        tuple(round(x, 2) for x in machine.load_average()), time.time() - started)]
    report = '\n'.join(text)
    print(report)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'%s|%s' % k: v for k, v in results.items()}, f, indent=1)
    return report


if __name__ == '__main__':
    main()
