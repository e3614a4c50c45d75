"""Hand one hostile input to one entry point and check everything security.md promises.

:func:`attempt` builds the case into a fresh :class:`~tests.security.hostile.Box`,
serves its bytes on a loopback server when it has any, snapshots the box, watches
``outside/`` with inotify, runs the entry point in a child process
(:mod:`tests.security.child`) and returns what happened. :func:`check_refused` and
:func:`check_accepted` then assert, and list every broken promise at once:

- the refusal: a kzoo error of the expected class whose message matches the case's
  pattern (for ``kzoo convert``/``kzoo info``: exit status 1 and ``kzoo: error:``
  with that message, no traceback);
- no code ran: the sentinel a payload would create is absent;
- nothing read outside: no open/read/write event on ``outside/``;
- nothing written outside: the box is unchanged apart from ``out/`` (and there only
  what the entry point may leave: a verified download, cache metadata, a partial
  download kept for resuming; never a result file of a refused input); ``tmp/`` and
  ``home/`` end empty; no escape target exists;
- no crash, no hang;
- memory bounded: the child's peak growth is at most ``ALLOWANCE + FACTOR * size``
  (size: the input's real bytes).
"""
import os
import re

from tests.security import child, entry_points, fswatch, hostile

# What reading a small file may cost in a child whatever the input (building a small
# model, h5py's caches, importing the ONNX exporter for `convert`). Refusals of the
# bombs measure a few MiB; the bombs themselves declare 512 MiB to 4 TiB.
ALLOWANCE = 32 << 20
# ...plus this many times the input's real size.
FACTOR = 16
ESCAPES = ('/etc/kzoo-hostile-test', '/tmp/kzoo-hostile-test')
CACHE_ENTRIES = ('get_file', 'get_file_extract', 'cifar10_load_data', 'cifar100_load_data',
                 'imdb_load_data', 'reuters_load_data', 'mnist_load_data')


def child_env(box):
    """The environment of the process under test: everything it may touch is in ``box``."""
    env = dict(os.environ)
    for name in ('KZOO_OFFLINE', 'KZOO_MIRROR', 'KZOO_CONNECT_TIMEOUT'):
        env.pop(name, None)
    env.update(TMPDIR=box.tmp, HOME=box.home, KERAS_HOME=os.path.join(box.home, '.keras'),
               KZOO_HOME=os.path.join(box.out, 'cache'), KZOO_TIMEOUT='1',
               KZOO_RETRIES='2', KZOO_BACKOFF='0.01', KZOO_QUIET='1',
               KZOO_MAX_REDIRECTS=env.get('KZOO_MAX_REDIRECTS', '5'))
    return env


class Attempt(object):
    """A case, the entry point it went through, and what happened."""

    def __init__(self, case, entry, box, outcome, before, after, out_before, out_after,
                 events):
        self.case, self.entry, self.box, self.outcome = case, entry, box, outcome
        self.before, self.after = before, after
        self.out_before, self.out_after = out_before, out_after
        self.events = events

    @property
    def cli(self):
        return entry_points.ENTRIES[self.entry].cli

    def __repr__(self):
        return '<Attempt %s via %s: %r>' % (self.case.name, self.entry, self.outcome)


def attempt(number, variant, entry, root, timeout=120):
    """Build ``variant`` of item ``number`` under ``root`` and give it to ``entry``."""
    from tests.loopback_server import LoopbackServer
    box = hostile.Box(root)
    case = hostile.build(number, variant, box)
    server = None
    ctx = {'box': box, 'url': None}
    if case.served:
        server = LoopbackServer(case.served).start()
        for path, kind, params in case.faults:
            server.fault(path, kind, **params)
        ctx['url'] = server.url('').rstrip('/')
    try:
        before = fswatch.snapshot(box.root, skip=('out',))
        out_before = fswatch.snapshot(box.out)
        with fswatch.AccessWatch([box.outside]) as watch:
            outcome = child.run_in_child(entry_points.call, entry, case, ctx, timeout=timeout,
                                         env=child_env(box), cwd=box.inp)
            events = watch.events()
        after = fswatch.snapshot(box.root, skip=('out',))
        out_after = fswatch.snapshot(box.out)
    finally:
        if server is not None:
            server.stop()
    return Attempt(case, entry, box, outcome, before, after, out_before, out_after, events)


def _common_problems(a):
    """Broken promises that apply whether the input is refused or accepted
    ($TMPDIR and $HOME end empty even where onnxruntime ran: kzoo turns off its telemetry
    session, which would write $TMPDIR/.ses and ~/.cache/Microsoft. The forkserver's
    children inherit that setting; test_no_stray_files.py checks it in fresh processes)."""
    problems = []
    o = a.outcome
    if o.status in ('crashed', 'timeout'):
        problems.append('the process %s: %s' % (o.status, o.describe()))
    if os.path.exists(a.box.sentinel):
        problems.append('a payload ran: %s exists' % a.box.sentinel)
    for path in (a.box.escaped,) + ESCAPES:
        if os.path.lexists(path):
            problems.append('a file escaped to %s' % path)
    if a.events:
        problems.append('files outside the named paths were touched: %s' % sorted(set(a.events)))
    changed = fswatch.differences(a.before, a.after)
    if changed:
        problems.append('the box changed outside out/: %s' % changed)
    for folder in (a.box.tmp, a.box.home):
        left = os.listdir(folder)
        if left:
            problems.append('%s is not empty afterwards: %s' % (folder, sorted(left)))
    if o.peak is not None:
        bound = ALLOWANCE + FACTOR * a.case.size
        if o.peak > bound:
            problems.append('peak memory grew by %.1f MiB, more than %.1f MiB (%d MiB + %d x '
                            'the input\'s %d bytes)' % (o.peak / 2 ** 20, bound / 2 ** 20,
                                                        ALLOWANCE >> 20, FACTOR, a.case.size))
    return problems


def _cache_entry_allowed(a, rel):
    """May ``out/<rel>`` exist after a refused download/extraction?"""
    parts = rel.split(os.sep)
    if parts[0] != 'cache':
        return False
    if len(parts) <= 2:
        return True  # cache/, cache/<subdir>/
    name = parts[2]
    if name == '.kzoo' or '.part' in name:
        return True  # sidecars and locks; a partial download kept for resuming
    if len(parts) == 3 and a.case.kind != 'download' and os.path.isfile(
            os.path.join(a.box.out, rel)):
        return True  # the archive itself: its hash matched, only extraction was refused
    if a.case.kind == 'cifar' and name.endswith('_extracted'):
        return True  # a verified, safely extracted archive: the loader refused a pickle
    return False


def check_refused(a):
    """Assert that attempt ``a`` was refused the way security.md says."""
    case, o = a.case, a.outcome
    problems = _common_problems(a)
    if a.cli:
        if o.status != 'returned' or o.value != 1:
            problems.append('kzoo %s should exit with status 1; got %s'
                            % (a.entry, o.describe()))
        if 'kzoo: error:' not in o.output:
            problems.append('no "kzoo: error:" line in the output:\n%s' % o.output[-2000:])
        elif case.match and not re.search(case.match, o.output):
            problems.append('the error does not match %r:\n%s' % (case.match, o.output[-2000:]))
        if 'Traceback' in o.output:
            problems.append('a traceback was printed:\n%s' % o.output[-3000:])
    else:
        if o.status != 'raised':
            problems.append('not refused: %s' % o.describe())
        elif not o.kzoo_error or case.refused not in o.mro:
            problems.append('expected a %s (a KzooError), got %s' % (case.refused, o.describe()))
        elif case.match and not re.search(case.match, o.message):
            problems.append('the %s does not match %r: %s' % (o.error_type, case.match,
                                                              o.message))
    new = fswatch.differences(a.out_before, a.out_after)
    if a.entry in CACHE_ENTRIES:
        bad = [line for line in new if line.startswith('appeared: ') and
               not _cache_entry_allowed(a, line.split(' ')[1])]
        bad += [line for line in new if not line.startswith('appeared: ')]
    else:
        bad = new
    if bad:
        problems.append('out/ holds what a refused input must not leave: %s' % bad)
    assert not problems, '%s via %s:\n- %s' % (case.name, a.entry, '\n- '.join(problems))


def check_accepted(a):
    """Assert that attempt ``a`` (an odd but legitimate input) was read, safely."""
    o = a.outcome
    problems = _common_problems(a)
    if a.cli:
        if o.status != 'returned' or o.value not in (0, None):
            problems.append('kzoo %s failed: %s' % (a.entry, o.describe()))
    elif o.status != 'returned':
        problems.append('not accepted: %s' % o.describe())
    assert not problems, '%s via %s:\n- %s' % (a.case.name, a.entry, '\n- '.join(problems))


def params(number):
    """``(variant, entry)`` pairs of item ``number``, as pytest ids ``variant-entry``."""
    import pytest
    out = []
    for variant in hostile.ITEMS[number].variants:
        kind, weights = hostile.kind_of(number, variant)
        for name in entry_points.entries_for(kind, weights):
            out.append(pytest.param(variant, name, id='%s-%s' % (variant, name)))
    return out
