"""``kzoo convert --batch MANIFEST.csv``: many conversions in parallel, one report.

The manifest is a CSV file with a header row. ``src`` and ``dst`` are required;
the other columns are :func:`kzoo.converters.convert` options, an empty cell meaning
the default: ``src_format`` (or ``from``), ``dst_format`` (or ``to``), ``weights``,
``opset``, ``data_format``, ``external_data``, ``static_batch``, ``check``,
``tolerance``. Relative paths are taken from the manifest's folder.

Each row is converted with its numeric check, as a Ray task (``ray=``) or in a pool
of local processes; a failure is reported, never stops the others. A conversion whose
process dies (killed, out of memory) runs again: Ray retries the task; locally, the
jobs the broken pool had not finished run again, each in a process of its own. Every output is
written by ``convert`` into a staging file and renamed into place only after its
check, so an interrupted run leaves only complete files.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with open(os.path.join(d, 'm.csv'), 'w') as f:
...     _ = f.write('src,dst,opset\\na.h5,a.onnx,13\\n')
>>> job = read_manifest(os.path.join(d, 'm.csv'))[0]
>>> os.path.basename(job.dst), job.options
('a.onnx', {'opset': 13})
"""
import concurrent.futures
import csv
import dataclasses
import multiprocessing
import os
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Optional

from kzoo.errors import ConfigError

_TRUE, _FALSE = ('1', 'true', 'yes', 'y', 'on'), ('0', 'false', 'no', 'n', 'off')
_ALIASES = {'from': 'src_format', 'to': 'dst_format'}


def _flag(value):
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError('expected true or false')


# column -> (convert() keyword, parser); a registry, so a new option is one line
OPTIONS = {
    'src_format': ('src_format', str), 'dst_format': ('dst_format', str),
    'weights': ('weights', str), 'opset': ('opset', int),
    'data_format': ('data_format', str), 'external_data': ('external_data', _flag),
    'static_batch': ('dynamic_batch', lambda v: not _flag(v)), 'check': ('check', _flag),
    'tolerance': ('tolerance', float),
}
_PATH_OPTIONS = ('weights',)


@dataclasses.dataclass
class Job:
    line: int          # in the manifest, for messages
    src: str
    dst: str
    options: dict


@dataclasses.dataclass
class Outcome:
    """What happened to one job: ``status`` is ``'ok'`` or ``'failed'``."""
    line: int
    src: str
    dst: str
    status: str
    reason: str = ''
    max_error: Optional[float] = None
    tolerance: Optional[float] = None
    seconds: float = 0.0

    @property
    def ok(self):
        return self.status == 'ok'


def read_manifest(path):
    """The jobs of a manifest CSV (see the module docstring), checked before any runs."""
    path = os.fspath(path)
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError('cannot read the manifest %s: %s' % (path, e)) from e
    if not table:
        raise ConfigError('manifest %s is empty; expected a header row with src,dst' % path)
    header = [_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in table[0]]
    unknown = [h for h in header if h not in ('src', 'dst') and h not in OPTIONS]
    if 'src' not in header or 'dst' not in header or unknown:
        raise ConfigError('manifest %s: the header must name src and dst, plus any of %s; '
                          'got %s' % (path, ', '.join(sorted(OPTIONS)), ', '.join(table[0])))
    jobs, seen = [], {}
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            raise ConfigError('manifest %s line %d: %d cells for %d columns'
                              % (path, number, len(cells), len(header)))
        row = dict(zip(header, (c.strip() for c in cells)))
        if not row.get('src') or not row.get('dst'):
            raise ConfigError('manifest %s line %d: src and dst must both be given'
                              % (path, number))
        options = {}
        for column, text in row.items():
            if column in OPTIONS and text:
                keyword, parse = OPTIONS[column]
                try:
                    options[keyword] = parse(text)
                except ValueError as e:
                    raise ConfigError('manifest %s line %d, column %s: %r is not valid (%s)'
                                      % (path, number, column, text, e)) from None
                if column in _PATH_OPTIONS:
                    options[keyword] = os.path.join(base, options[keyword])
        dst = os.path.normpath(os.path.join(base, row['dst']))
        if dst in seen:
            raise ConfigError('manifest %s: lines %d and %d both write %s'
                              % (path, seen[dst], number, dst))
        seen[dst] = number
        jobs.append(Job(number, os.path.normpath(os.path.join(base, row['src'])), dst, options))
    if not jobs:
        raise ConfigError('manifest %s lists no conversion' % path)
    return jobs


def run_job(job):
    """Convert one job; every failure becomes an ``Outcome`` with its reason."""
    start = time.perf_counter()
    try:
        from kzoo.converters import convert
        result = convert(job.src, job.dst, **job.options)
        return Outcome(job.line, job.src, job.dst, 'ok', max_error=result.max_error,
                       tolerance=result.tolerance, seconds=time.perf_counter() - start)
    except Exception as e:
        return Outcome(job.line, job.src, job.dst, 'failed', reason='%s: %s'
                       % (type(e).__name__, e), seconds=time.perf_counter() - start)


def bulk_convert(jobs, ray=None, workers=None, on_outcome=None):
    """Run ``jobs`` (a manifest path or a list of :class:`Job`); outcomes in job order.

    ``ray``: ``None`` for local processes, else as ``kzoo.distributed.predict``.
    ``workers``: local processes (default: the CPU count); ignored on Ray, where each
    conversion is a task of one CPU. ``on_outcome(outcome)`` is called as each ends.
    """
    if isinstance(jobs, (str, os.PathLike)):
        jobs = read_manifest(jobs)
    runner = _on_ray if ray is not None else _in_processes
    done = runner(list(jobs), ray if ray is not None else workers, on_outcome or (lambda o: 0))
    return [done[i] for i in range(len(jobs))]


def _on_ray(jobs, address, on_outcome):
    from kzoo.distributed._ray import connect
    ray = connect(address)
    # max_retries: a task whose worker process died (killed, out of memory) runs again
    task = ray.remote(num_cpus=1, max_retries=3)(run_job)
    pending = {task.remote(job): i for i, job in enumerate(jobs)}
    done = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            i = pending.pop(ref)
            try:
                done[i] = ray.get(ref)
            except Exception as e:  # retries exhausted: report it, go on with the rest
                job = jobs[i]
                done[i] = Outcome(job.line, job.src, job.dst, 'failed',
                                  reason='Ray task failed: %s' % (str(e).splitlines() or
                                                                  [type(e).__name__])[0])
            on_outcome(done[i])
    return done


def _worker_setup(threads):
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass


def _in_processes(jobs, workers, on_outcome, fn=run_job):
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(jobs)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    done = {}
    with _process_pool(workers, threads) as pool:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for future in concurrent.futures.as_completed(futures):
            try:
                done[futures[future]] = outcome = future.result()
            except BrokenProcessPool:
                continue  # a worker died: the pool fails every job it had not finished
            on_outcome(outcome)
    todo = [i for i in range(len(jobs)) if i not in done]
    if todo:
        # Run those again, each in a process of its own: a job that kills its process
        # (a crash, the OOM killer) then takes no other job down with it.
        with concurrent.futures.ThreadPoolExecutor(workers) as runner:
            for i, outcome in zip(todo, runner.map(lambda i: _alone(fn, jobs[i], threads),
                                                   todo)):
                done[i] = outcome
                on_outcome(outcome)
    return done


def _process_pool(workers, threads):
    # spawn, not fork: the parent may hold torch's thread pools, which fork breaks
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context('spawn'), initializer=_worker_setup,
        initargs=(threads,))


def _alone(fn, job, threads):
    with _process_pool(1, threads) as pool:
        try:
            return pool.submit(fn, job).result()
        except BrokenProcessPool:
            return Outcome(job.line, job.src, job.dst, 'failed', reason='the worker process '
                           'died while converting this file, twice (killed, out of memory or '
                           'crashed)')


# ---- the report ----------------------------------------------------------------------------

def format_outcome(outcome):
    """One report line: status, time, largest difference, files, reason."""
    diff = ('max diff %.3g' % outcome.max_error if outcome.max_error is not None
            else 'not checked' if outcome.ok else '')
    line = '%-6s %7.2fs  %-16s %s -> %s' % (outcome.status, outcome.seconds, diff,
                                           outcome.src, outcome.dst)
    return line + ('\n         %s' % outcome.reason if outcome.reason else '')


def summary(outcomes, seconds):
    failed = sum(not o.ok for o in outcomes)
    return '%d converted, %d failed, in %.1f s' % (len(outcomes) - failed, failed, seconds)


def write_report(outcomes, path):
    """The outcomes as CSV (``.csv``) or JSON Lines (anything else), atomically."""
    import io
    import json
    from kzoo.utils.io_utils import atomic_write
    fields = [f.name for f in dataclasses.fields(Outcome)]
    if os.fspath(path).lower().endswith('.csv'):
        text = io.StringIO()
        writer = csv.DictWriter(text, fields, lineterminator='\n')
        writer.writeheader()
        writer.writerows(dataclasses.asdict(o) for o in outcomes)
        data = text.getvalue()
    else:
        data = ''.join(json.dumps(dataclasses.asdict(o)) + '\n' for o in outcomes)
    with atomic_write(path, 'w') as f:
        f.write(data)
