"""Keras's text progress bar: ``32/100 [=====>........] - ETA: 2s - loss: 0.1234``.

``verbose=1`` redraws one line per epoch (``\\r`` on a terminal; elsewhere a new line
every 10 s and at the end); ``verbose=2`` prints only the final line of the epoch.

>>> import io
>>> out = io.StringIO()
>>> bar = Progbar(4, verbose=2, stream=out)
>>> bar.update(4, [('loss', 0.5)])
>>> out.getvalue().split(' - ')[-1]
'loss: 0.5000\\n'
"""
import sys
import time

import numpy as np


class Progbar(object):
    """A progress bar over ``target`` steps (samples or batches); values are averaged
    over the steps unless listed in ``stateful_metrics``."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 stream=None):
        self.target, self.width, self.verbose, self.interval = target, width, verbose, interval
        self.stateful_metrics = set(stateful_metrics or ())
        self.stream = stream or sys.stdout
        self._dynamic = (hasattr(self.stream, 'isatty') and self.stream.isatty())
        self._totals, self._order = {}, []
        self._start = time.time()
        self._last_update = 0.
        self._seen = 0
        self._total_width = 0

    def update(self, current, values=None):
        values = values or []
        for name, value in values:
            if name not in self._order:
                self._order.append(name)
            if name in self.stateful_metrics:
                self._totals[name] = [value, 1]
            else:
                step = max(current - self._seen, 1)
                total = self._totals.setdefault(name, [0., 0])
                total[0] += value * step
                total[1] += step
        self._seen = current
        now = time.time()
        done = self.target is not None and current >= self.target
        if self.verbose == 1:
            # Off a terminal every redraw is a new line: then redraw only every 10 s.
            interval = self.interval if self._dynamic else 10.
            if not done and now - self._last_update < interval:
                return
            self._write(self._bar(current, now) + self._values(), done)
        elif self.verbose == 2 and done:
            self.stream.write(' - %ds%s\n' % (now - self._start, self._values()))
            self.stream.flush()
        self._last_update = now

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def _bar(self, current, now):
        if self.target is None:
            return '%7d/Unknown' % current
        digits = int(np.floor(np.log10(max(self.target, 1)))) + 1
        text = '%*d/%d [' % (digits, current, self.target)
        filled = int(self.width * min(float(current) / self.target, 1.))
        if filled > 0:
            text += '=' * (filled - 1) + ('>' if current < self.target else '=')
        text += '.' * (self.width - filled) + ']'
        elapsed = now - self._start
        if current < self.target:
            eta = elapsed / max(current, 1) * (self.target - current)
            text += ' - ETA: %ds' % eta
        else:
            text += ' - %ds' % elapsed
        return text

    def _values(self):
        parts = []
        for name in self._order:
            value, count = self._totals[name]
            value = value / max(count, 1)
            parts.append(' - %s: %s' % (name, ('%.4f' % value) if abs(value) > 1e-3 or
                                        value == 0 else '%.4e' % value))
        return ''.join(parts)

    def _write(self, line, done):
        if self._dynamic:
            pad = max(self._total_width - len(line), 0)
            self.stream.write('\r' + line + ' ' * pad)
            self._total_width = len(line)
            if done:
                self.stream.write('\n')
        else:
            self.stream.write(line + '\n')
        self.stream.flush()
