"""Training step time: kzoo ``fit`` next to a hand-written plain torch loop.

A benchmark, not a test. Two small models, each built twice with the same weights:
as a kzoo model trained with ``model.fit`` on the torch backend, and as a plain
``torch.nn.Module`` trained by the usual loop (forward, loss, ``zero_grad``,
``backward``, ``optimizer.step``, ``loss.item()``) with ``torch.optim.Adam``:

- CNN: 32x32x3 images -> Conv2D(16, 3) -> MaxPool -> Conv2D(32, 3) -> MaxPool ->
  Flatten -> Dense(64) -> Dense(10, softmax);
- LSTM: 30 steps of 16 features -> LSTM(64) -> Dense(10, softmax).

The kzoo side is written as a Keras user writes it: ``compile('adam',
'categorical_crossentropy')`` and ``fit(x, y, batch_size=..., epochs=1, verbose=0)``
(``shuffle=False`` unless ``--shuffle``: then kzoo shuffles as ``fit`` does by default and
the torch loop gathers its batches by a new random permutation each epoch).

Same data, batch size and number of steps; each side gets its data in its own layout
(kzoo channels-last arrays; torch NCHW tensors in the channels-last memory format,
torch's fastest for CPU convolutions), prepared before timing. After a warm-up epoch
each, kzoo and torch epochs alternate ``--repeat`` times. The step times are each
side's best epoch (the least disturbed by other load); the ratio is the median over
rounds of kzoo's epoch over the torch epoch run next to it, which load that comes and
goes moves less than a ratio of two minima taken at different moments.

Usage::

    python benchmarks/bench_training.py                  # both models
    python benchmarks/bench_training.py --model lstm --steps 100 --repeat 5
    python benchmarks/bench_training.py --threads 1 --clock cpu   # on a loaded machine
    python benchmarks/bench_training.py --shuffle        # fit's default shuffling
    python benchmarks/bench_training.py --threads 1 --clock cpu --steady-malloc

Example output (shape, not a promise)::

    model  batch  steps   kzoo ms/step   torch ms/step   kzoo/torch
    cnn       64     50          9.10            8.70        1.05x
    lstm      64     50          6.20            5.90        1.05x
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('KZOO_BACKEND', 'torch')

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kzoo import backend as K  # noqa: E402
from kzoo.models import Model  # noqa: E402


def _require(*names):
    import kzoo.layers as kl
    missing = [n for n in names if not hasattr(kl, n)]
    if missing:
        sys.exit('bench_training: kzoo.layers has no %s yet' % ', '.join(missing))
    return kl


# ---- the two models, in kzoo and in plain torch -------------------------------------

def cnn_kzoo():
    kl = _require('Conv2D', 'MaxPooling2D', 'Flatten', 'Dense')
    x = kl.Input(shape=(32, 32, 3))
    h = kl.Conv2D(16, 3, activation='relu')(x)
    h = kl.MaxPooling2D()(h)
    h = kl.Conv2D(32, 3, activation='relu')(h)
    h = kl.MaxPooling2D()(h)
    h = kl.Dense(64, activation='relu')(kl.Flatten()(h))
    return Model(x, kl.Dense(10, activation='softmax')(h))


class CnnTorch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(3, 16, 3), torch.nn.Conv2d(16, 32, 3)
        self.d1, self.d2 = torch.nn.Linear(32 * 6 * 6, 64), torch.nn.Linear(64, 10)

    def forward(self, x):
        h = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        h = torch.max_pool2d(torch.relu(self.c2(h)), 2)
        # Keras flattens channels-last: match it so the same weights mean the same model.
        h = h.permute(0, 2, 3, 1).flatten(1)
        return self.d2(torch.relu(self.d1(h)))

    def load_keras(self, weights):
        k1, b1, k2, b2, w3, b3, w4, b4 = [torch.from_numpy(w) for w in weights]
        with torch.no_grad():
            self.c1.weight.copy_(k1.permute(3, 2, 0, 1))
            self.c1.bias.copy_(b1)
            self.c2.weight.copy_(k2.permute(3, 2, 0, 1))
            self.c2.bias.copy_(b2)
            self.d1.weight.copy_(w3.t())
            self.d1.bias.copy_(b3)
            self.d2.weight.copy_(w4.t())
            self.d2.bias.copy_(b4)


def lstm_kzoo():
    kl = _require('LSTM', 'Dense')
    x = kl.Input(shape=(30, 16))
    return Model(x, kl.Dense(10, activation='softmax')(kl.LSTM(64)(x)))


class LstmTorch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 64, batch_first=True)
        self.dense = torch.nn.Linear(64, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.dense(h[-1])

    def load_keras(self, weights):
        kernel, recurrent, bias, w, b = [torch.from_numpy(a) for a in weights]
        # Keras gate order i, f, c, o is torch's i, f, g, o; one bias in Keras.
        with torch.no_grad():
            self.lstm.weight_ih_l0.copy_(kernel.t())
            self.lstm.weight_hh_l0.copy_(recurrent.t())
            self.lstm.bias_ih_l0.copy_(bias)
            self.lstm.bias_hh_l0.zero_()
            self.dense.weight.copy_(w.t())
            self.dense.bias.copy_(b)


MODELS = {
    'cnn': (cnn_kzoo, CnnTorch, (32, 32, 3), lambda x: x.transpose(0, 3, 1, 2)),
    'lstm': (lstm_kzoo, LstmTorch, (30, 16), lambda x: x),
}


# ---- timing -------------------------------------------------------------------------

def steady_malloc():
    """Keep freed memory in glibc's heap (no mmap per large tensor, no trimming): by
    default each step's activations above the mmap threshold are mapped afresh and
    page-faulted in, which can be most of a small CNN's step and varies a lot from run
    to run. Affects both sides alike; returns False where this is not glibc."""
    import ctypes
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return all(libc.mallopt(option, value) == 1 for option, value in (
        (m_mmap_threshold, 32 << 20), (m_trim_threshold, 1 << 30), (m_top_pad, 64 << 20)))


# 'wall': elapsed seconds (what a user waits). 'cpu': this process's CPU seconds, which
# other processes' load barely moves: with --threads 1 it is the work each side does.
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
_clock = CLOCKS['wall']


def _epoch_times(runs, repeat):
    """Epoch times of each function per round, run in alternation so that both sides
    see the same machine load."""
    for run in runs:
        run()  # warm-up: first-call allocations, autograd graph caches
    times = [[] for _ in runs]
    for _ in range(repeat):
        for run, record in zip(runs, times):
            start = _clock()
            run()
            record.append(_clock() - start)
    return times


def bench(name, batch, steps, repeat, shuffle=False):
    build_kzoo, torch_cls, shape, to_torch_layout = MODELS[name]
    rng = np.random.default_rng(0)
    n = batch * steps
    x = rng.normal(size=(n,) + shape).astype('float32')
    labels = rng.integers(0, 10, n)
    y = np.eye(10, dtype='float32')[labels]

    model = build_kzoo()
    model.compile('adam', 'categorical_crossentropy')  # Adam(1e-3, eps=1e-7)
    net = torch_cls()
    net.load_keras(model.get_weights())
    if name == 'cnn':  # torch's fastest CPU layout for convolutions, as kzoo uses
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(np.ascontiguousarray(to_torch_layout(x)))
    if name == 'cnn':
        tx = tx.contiguous(memory_format=torch.channels_last)
    ty = torch.from_numpy(labels)
    # Same model, same weights: the first batch's loss agrees before anything is timed.
    with torch.no_grad():
        torch_loss = float(loss_fn(net(tx[:batch]), ty[:batch]))
    kzoo_loss = float(model.evaluate(x[:batch], y[:batch], batch_size=batch))
    if abs(torch_loss - kzoo_loss) > 1e-4 * max(1., abs(torch_loss)):
        sys.exit('bench_training: the %s models differ (loss %.6f vs %.6f)'
                 % (name, kzoo_loss, torch_loss))

    def torch_epoch():
        order = torch.randperm(n) if shuffle else None
        for i in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            if order is None:
                bx, by = tx[i:i + batch], ty[i:i + batch]
            else:
                index = order[i:i + batch]
                bx, by = tx[index], ty[index]
            loss = loss_fn(net(bx), by)
            loss.backward()
            opt.step()
            loss.item()  # kzoo reads each batch's loss for the logs: so does the loop

    def kzoo_epoch():
        if shuffle:
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        else:
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    t_kzoo, t_torch = _epoch_times([kzoo_epoch, torch_epoch], repeat)
    ratio = float(np.median([k / t for k, t in zip(t_kzoo, t_torch)]))
    return min(t_kzoo) / steps, min(t_torch) / steps, ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', choices=sorted(MODELS) + ['all'], default='all')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--steps', type=int, default=50)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--steady-malloc', action='store_true',
                        help='glibc: no mmap/trim churn per step (see steady_malloc)')
    parser.add_argument('--shuffle', action='store_true',
                        help="kzoo: fit's default shuffle=True; torch: a random permutation")
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                        help="'cpu': CPU seconds of this process, for a loaded machine "
                             '(use with --threads 1)')
    args = parser.parse_args(argv)
    global _clock
    _clock = CLOCKS[args.clock]
    if K.backend() != 'torch':
        sys.exit('bench_training: run with the torch backend (KZOO_BACKEND=torch)')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steady_malloc and not steady_malloc():
        sys.exit('bench_training: --steady-malloc needs glibc')
    names = sorted(MODELS) if args.model == 'all' else [args.model]
    print('torch %s, %d threads, %s clock%s' % (torch.__version__, torch.get_num_threads(),
                                                 args.clock, ', steady malloc'
                                                 if args.steady_malloc else ''))
    print('%-6s %5s %6s %14s %15s %12s' % ('model', 'batch', 'steps', 'kzoo ms/step',
                                           'torch ms/step', 'kzoo/torch'))
    for name in names:
        t_kzoo, t_torch, ratio = bench(name, args.batch, args.steps, args.repeat,
                                       args.shuffle)
        print('%-6s %5d %6d %14.2f %15.2f %11.2fx' % (name, args.batch, args.steps,
                                                      t_kzoo * 1e3, t_torch * 1e3, ratio))


if __name__ == '__main__':
    main()
