"""Keras H5 -> ONNX: ``kzoo convert`` next to tf2onnx on ResNet50, InceptionV3 and VGG16.

A benchmark, not a test. The H5 files are built once with tf_keras applications
(``weights=None``: the weights' values do not change the work) into ``--workdir``.
Each conversion runs in its own child process, one at a time:

* tf2onnx: ``tf2onnx.convert.from_keras`` on the tf_keras model, under a resident
  memory cap (``--tf2onnx-memory``, default 24 GB: the child is killed past it) and a
  timeout;
* kzoo: ``python -m kzoo.cli convert MODEL.h5 MODEL.onnx`` (VGG16 with
  ``--external-data``), which includes its numeric check against onnxruntime.

Wall time and peak resident memory of each child are measured from outside: the child's
``ru_maxrss`` (``os.wait4``), cross-checked by sampling ``VmHWM`` in
``/proc/<pid>/status``. The table gives kzoo's speed-up over tf2onnx and kzoo's peak
memory as a multiple of the model's weight bytes, against the goals (20x faster, at
most 1.5x the weight bytes).

Usage::

    python benchmarks/bench_convert.py                       # all three models
    python benchmarks/bench_convert.py --models resnet50 --skip-tf2onnx

Measured on the 2-core development machine while other jobs kept its load average
at 10-13 (so every wall time is several times its unloaded value; the ratios come from
one run), with ``--tf2onnx-memory 11`` because that machine has 23 GB for everyone::

    model          weights  tf2onnx                  kzoo convert         speed-up peak/weights
    resnet50        98 MiB  95.0 s, 8.59 GiB         11.8 s, 219 MiB          8.0x        2.24x
    inception_v3    91 MiB  131.7 s, 7.56 GiB        10.1 s, 255 MiB         13.0x        2.80x
    vgg16          528 MiB  killed at 11 GB, 152 s   14.4 s, 700 MiB        >10.6x        1.33x

Where kzoo's time goes (ResNet50, CPU seconds): the reference pass of kzoo's numpy
backend (float64 by design, the exact reference) ~1.7 of ~2.7 in all; imports 0.3,
writing 0.2, onnxruntime's check 0.4. Its memory floor for the small models is the
interpreter and libraries (~55 MB) plus one copy of the weights plus activations.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {'resnet50': 'ResNet50', 'inception_v3': 'InceptionV3', 'vgg16': 'VGG16'}
EXTERNAL_DATA = {'vgg16'}
GOAL_SPEEDUP = 20.0
GOAL_MEMORY = 1.5

_BUILD = r'''
import os, sys
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
import tf_keras
model = getattr(tf_keras.applications, sys.argv[1])(weights=None)
model.save(sys.argv[2])
'''

_TF2ONNX = r'''
import os, sys
os.environ['TF_USE_LEGACY_KERAS'] = '1'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf
import tf_keras
import tf2onnx
model = tf_keras.models.load_model(sys.argv[1], compile=False)
spec = (tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32, name='input'),)
tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=sys.argv[2])
'''


def weight_bytes(path):
    """Bytes of the weight arrays stored in a Keras H5 file."""
    import h5py
    total = [0]
    with h5py.File(path, 'r') as f:
        group = f['model_weights'] if 'model_weights' in f else f

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                total[0] += obj.size * obj.dtype.itemsize
        group.visititems(visit)
    return total[0]


def _status_kb(pid, field):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(argv, memory_cap=None, timeout=None, env=None):
    """Run ``argv``; returns a dict with seconds, peak_bytes (ru_maxrss, and the largest
    VmHWM seen), returncode, killed (why, or None) and the output's tail."""
    out = tempfile.TemporaryFile()
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    state = {'hwm_kb': 0, 'killed': None}

    def watch():
        while process.poll() is None:
            state['hwm_kb'] = max(state['hwm_kb'], _status_kb(process.pid, 'VmHWM'))
            rss = _status_kb(process.pid, 'VmRSS') * 1024
            if memory_cap and rss > memory_cap:
                state['killed'] = 'at %.0f GB' % (memory_cap / 1e9)
                process.send_signal(signal.SIGKILL)
                return
            if timeout and time.perf_counter() - start > timeout:
                state['killed'] = 'timeout'
                process.send_signal(signal.SIGKILL)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    out.seek(0)
    tail = out.read().decode('utf-8', 'replace')[-2000:]
    return {'seconds': seconds, 'peak_bytes': max(usage.ru_maxrss, state['hwm_kb']) * 1024,
            'returncode': process.returncode, 'killed': state['killed'], 'tail': tail}


def build(workdir, name):
    path = os.path.join(workdir, name + '.h5')
    if not os.path.exists(path):
        print('building %s with tf_keras.applications (weights=None) ...' % path, flush=True)
        subprocess.run([sys.executable, '-c', _BUILD, MODELS[name], path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def human(n):
    for unit, scale in (('GiB', 1 << 30), ('MiB', 1 << 20)):
        if n >= scale:
            return '%.2f %s' % (n / scale, unit) if unit == 'GiB' else '%.0f %s' % (n / scale,
                                                                                     unit)
    return '%d B' % n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', default=','.join(MODELS),
                        help='comma-separated: %s' % ', '.join(MODELS))
    parser.add_argument('--workdir', default=os.path.join(tempfile.gettempdir(),
                                                          'kzoo-bench-convert'))
    parser.add_argument('--tf2onnx-memory', type=float, default=24.0,
                        help='GB of resident memory at which tf2onnx is killed')
    parser.add_argument('--tf2onnx-timeout', type=int, default=1800)
    parser.add_argument('--skip-tf2onnx', action='store_true')
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    rows = []
    for name in [m.strip() for m in args.models.split(',') if m.strip()]:
        h5 = build(args.workdir, name)
        size = weight_bytes(h5)
        row = {'model': name, 'weight_bytes': size}
        if not args.skip_tf2onnx:
            print('tf2onnx %s ...' % name, flush=True)
            row['tf2onnx'] = run_child([sys.executable, '-c', _TF2ONNX, h5,
                                        os.path.join(args.workdir, name + '.tf2onnx.onnx')],
                                       memory_cap=args.tf2onnx_memory * 1e9,
                                       timeout=args.tf2onnx_timeout, env=env)
        print('kzoo convert %s ...' % name, flush=True)
        command = [sys.executable, '-m', 'kzoo.cli', 'convert', h5,
                   os.path.join(args.workdir, name + '.kzoo.onnx')]
        if name in EXTERNAL_DATA:
            command.append('--external-data')
        row['kzoo'] = run_child(command, env=env)
        if row['kzoo']['returncode'] != 0:
            print(row['kzoo']['tail'])
        rows.append(row)
    report(rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0


def report(rows):
    print()
    print('%-13s %8s  %-24s %-20s %8s %12s' % ('model', 'weights', 'tf2onnx', 'kzoo convert',
                                              'speed-up', 'peak/weights'))
    for row in rows:
        tf, kz = row.get('tf2onnx'), row['kzoo']
        if tf is None:
            tf_text = 'not run'
        elif tf['killed']:
            tf_text = 'killed %s, %.0f s' % (tf['killed'], tf['seconds'])
        elif tf['returncode']:
            tf_text = 'failed (exit %d)' % tf['returncode']
        else:
            tf_text = '%.1f s, %s' % (tf['seconds'], human(tf['peak_bytes']))
        kz_text = ('%.1f s, %s' % (kz['seconds'], human(kz['peak_bytes']))
                   if kz['returncode'] == 0 else 'failed (exit %d)' % kz['returncode'])
        if tf and not tf['killed'] and not tf['returncode'] and kz['returncode'] == 0:
            speed = '%.1fx' % (tf['seconds'] / kz['seconds'])
        elif tf and tf['killed'] and kz['returncode'] == 0:
            speed = '>%.1fx' % (tf['seconds'] / kz['seconds'])
        else:
            speed = '-'
        memory = kz['peak_bytes'] / float(row['weight_bytes'])
        print('%-13s %8s  %-24s %-20s %8s %11.2fx' % (row['model'], human(row['weight_bytes']),
                                                     tf_text, kz_text, speed, memory))
    print('goals: at least %.0fx faster than tf2onnx; peak at most %.1fx the weight bytes'
          % (GOAL_SPEEDUP, GOAL_MEMORY))


if __name__ == '__main__':
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
