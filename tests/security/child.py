"""Run a function in a child process: its outcome, its peak memory, and whether it died.

Hostile inputs are opened in a child so that a crash (a segfault in libhdf5, an
abort) is a reported outcome instead of the end of the test session, and so that the
child's peak memory can be measured and capped. Children are forked from a
``forkserver`` that has already imported kzoo, h5py, numpy and onnx: a child costs a
fork, not an interpreter start and the imports.

What a child reports (:class:`Outcome`):

- ``status``: ``'returned'``, ``'raised'``, ``'crashed'`` (killed by a signal or exited
  without reporting) or ``'timeout'``;
- for ``'raised'``: the exception's class name, the names of its classes (its MRO:
  ``'KzooError' in outcome.mro`` says it is one of kzoo's documented errors), its
  message and the traceback text;
- ``peak``: the growth of the child's resident memory while the function ran, in bytes
  (``VmHWM`` after the run less ``VmRSS`` before it, the peak reset first through
  ``/proc/self/clear_refs``; less the growth of file-backed pages, which is shared
  library code being touched for the first time, not memory the input made kzoo
  allocate);
- ``output``: what the function printed to stdout/stderr (file-descriptor level, so
  libhdf5's own messages too).

The environment and working directory of the caller are applied in the child (the
forkserver started with whatever environment the first caller had).

>>> outcome = run_in_child(divmod, 7, 2)
>>> outcome.status, outcome.value
('returned', (3, 1))
"""
import contextlib
import io
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import tempfile
import time
import traceback
import types

# The forkserver imports these once; each child starts with them loaded.
PRELOAD = ['numpy', 'h5py', 'yaml', 'onnx', 'torch', 'kzoo.models', 'kzoo.layers',
           'kzoo.converters', 'kzoo.converters.onnx_import', 'kzoo.cli',
           'kzoo.backend.torch_backend', 'kzoo.backend.numpy_backend',
           'kzoo.utils.data_utils', 'tests.security.child']

# A hard cap on the child's address space above what it had when it started: a
# runaway allocation fails with MemoryError instead of taking the machine down. The
# tests assert much tighter bounds from the measured peak.
ADDRESS_SPACE_CAP = 4 << 30

_CONTEXT = None


def context():
    """The multiprocessing context (a forkserver with kzoo preloaded)."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context('forkserver')
        ctx.set_forkserver_preload(PRELOAD)
        _CONTEXT = ctx
    return _CONTEXT


class Outcome(object):
    """What happened in the child (see the module docstring)."""

    def __init__(self, status, value=None, error_type=None, mro=(), message='', trace='',
                 peak=None, output='', exitcode=None, elapsed=0.0, cpu=0.0):
        self.status, self.value = status, value
        self.error_type, self.mro, self.message, self.trace = error_type, list(mro), \
            message, trace
        self.peak, self.output, self.exitcode = peak, output, exitcode
        self.elapsed, self.cpu = elapsed, cpu

    @property
    def kzoo_error(self):
        """True when the function raised one of kzoo's documented errors."""
        return self.status == 'raised' and 'KzooError' in self.mro

    def describe(self):
        text = '%s' % self.status
        if self.status == 'raised':
            text += ' %s: %s' % (self.error_type, self.message)
        if self.status == 'returned':
            text += ' %.200r' % (self.value,)
        if self.status == 'crashed':
            text += ' (exit code %r)' % (self.exitcode,)
        if self.trace:
            text += '\n' + self.trace
        if self.output:
            text += '\n--- output ---\n' + self.output[-3000:]
        return text

    def __repr__(self):
        return '<Outcome %s>' % self.describe().splitlines()[0][:300]


@contextlib.contextmanager
def _main_hidden():
    """multiprocessing re-runs the ``__main__`` script in every child it starts (pytest's
    runner, a script); children here need only importable modules, so hide it."""
    main = sys.modules.get('__main__')
    stub = types.ModuleType('__main__')
    stub.__spec__ = None
    sys.modules['__main__'] = stub
    try:
        yield
    finally:
        sys.modules['__main__'] = main


def status_kb(*keys):
    """Fields of ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``, ``VmSize``)."""
    values = {}
    with open('/proc/self/status') as f:
        for line in f:
            name, _, rest = line.partition(':')
            if name in keys:
                values[name] = int(rest.split()[0])
    return values


def reset_peak():
    """Make ``VmHWM`` start again from the current resident size (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def cap_address_space(extra):
    """Cap the address space at its current size plus ``extra`` bytes."""
    size = status_kb('VmSize')['VmSize'] * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _redirect_output(path):
    """Send fds 1 and 2 (and sys.stdout/err) to ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, 'wb', closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, 'wb', closefd=False), line_buffering=True)


def apply_environment(env, cwd):
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    tempfile.tempdir = None  # re-read TMPDIR


def _picklable(value):
    try:
        pickle.dumps(value)
        return value
    except Exception:
        return repr(value)


def _child_main(conn, fn, args, kwargs, env, cwd, output_path, cap):
    apply_environment(env, cwd)
    _redirect_output(output_path)
    if cap:
        cap_address_space(cap)
    reset_peak()
    base = status_kb('VmRSS', 'RssFile')
    try:
        value = fn(*args, **kwargs)
        report = {'status': 'returned', 'value': _picklable(value)}
    except BaseException as e:  # noqa: B902  (every outcome is reported)
        report = {'status': 'raised', 'error_type': type(e).__name__,
                  'mro': [c.__name__ for c in type(e).__mro__], 'message': str(e)[:4000],
                  'trace': traceback.format_exc()[-6000:]}
        if isinstance(e, SystemExit):
            report['value'] = e.code if isinstance(e.code, int) else 1
    end = status_kb('VmHWM', 'RssFile')
    # Touching a shared library's code for the first time (torch's first operation)
    # grows the resident size too; that is file-backed and not the input's doing, so
    # the growth of RssFile is taken off the peak.
    report['peak'] = max(0, end['VmHWM'] - base['VmRSS'] -
                         max(0, end['RssFile'] - base['RssFile'])) * 1024
    report['cpu'] = time.process_time()  # all of the child's CPU: it started at the fork
    sys.stdout.flush()
    sys.stderr.flush()
    conn.send(report)
    conn.close()
    os._exit(0)  # no atexit handlers of the forkserver's imports


def run_in_child(fn, *args, timeout=120, env=None, cwd=None, cap=ADDRESS_SPACE_CAP,
                 **kwargs):
    """Run ``fn(*args, **kwargs)`` in a fresh child; an :class:`Outcome`.

    ``fn`` and its arguments must be picklable (module-level functions of an
    importable module: ``tests.security.*``, kzoo). ``env``/``cwd`` default to this
    process's.
    """
    process, receiver = start_child(fn, *args, env=env, cwd=cwd, cap=cap, **kwargs)
    return finish_child(process, receiver, timeout)


def start_child(fn, *args, env=None, cwd=None, cap=ADDRESS_SPACE_CAP, **kwargs):
    """Start ``fn`` in a child and return ``(process, receiver)`` without waiting
    (for tests that kill the child or run several at once). Use :func:`finish_child`."""
    ctx = context()
    env = dict(os.environ) if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    fd, output_path = tempfile.mkstemp(prefix='kzoo-child-', suffix='.log')
    os.close(fd)
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_main, args=(sender, fn, args, kwargs, env, cwd,
                                                    output_path, cap))
    with _main_hidden():
        process.start()
    sender.close()
    process._kzoo_output = output_path
    process._kzoo_start = time.monotonic()
    return process, receiver


# CPU seconds used by the children that reported, this process's whole life (the
# security suite prints it: children of the forkserver escape `time pytest ...`)
CHILD_CPU = [0.0]


def finish_child(process, receiver, timeout=120):
    """The :class:`Outcome` of a child from :func:`start_child` (waits up to ``timeout``)."""
    output_path = process._kzoo_output
    try:
        report = None
        if receiver.poll(timeout):
            try:
                report = receiver.recv()
            except EOFError:
                report = None
        elif process.is_alive():
            process.kill()
            process.join(10)
            return Outcome('timeout', output=_read(output_path))
        process.join(30)
        elapsed = time.monotonic() - process._kzoo_start
        if report is None:
            return Outcome('crashed', exitcode=process.exitcode, output=_read(output_path),
                           elapsed=elapsed)
        CHILD_CPU[0] += report.get('cpu') or 0.0
        return Outcome(output=_read(output_path), exitcode=process.exitcode,
                       elapsed=elapsed, **report)
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
            process.join(10)
        try:
            os.remove(output_path)
        except OSError:
            pass


def kill_child(process, sig=signal.SIGKILL):
    """Send ``sig`` to a child from :func:`start_child`, if it is still running."""
    try:
        os.kill(process.pid, sig)
    except ProcessLookupError:
        pass


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()[-20000:].decode('utf-8', 'replace')
    except OSError:
        return ''
