"""Download throughput: kzoo's get_file next to ``curl -o`` on a loopback server.

A benchmark, not a test. It writes a file of ``--size`` bytes (default 1 GiB) to a
temporary folder, serves it from 127.0.0.1 with the test suite's LoopbackServer
(``sendfile``, so the server costs little), and downloads it, each run in its own
child process, with:

=============================  =====================================================
``curl -o``                    the reference of the issue's goal (no hash, no fsync)
``curl -o; sync FILE``         the same plus an fsync, as kzoo does before its rename
``get_file (md5|sha256)``      kzoo, verifying the hash while streaming
``get_file (hash stubbed)``    diagnostic: kzoo's data path with hashlib replaced
                               by a no-op, to show what is not hashing
``md5sum`` / ``openssl md5``   the hash alone over the same file (page cache, one
``sha256sum``                  core): the floor hashing puts under any download
=============================  =====================================================

Rounds are interleaved (one run of each tool per round, the order rotated every
round) so a machine whose load changes hurts every tool alike; the table shows
medians, the best run, CPU seconds (user + system, of the download alone), the
"CPU-bound" rate (size / CPU seconds of the busiest thread: for get_file the
receiving thread or the hash thread, whichever worked longer; on a loaded machine
this says more than wall time), peak RSS, and the median of the per-round
throughput ratios against curl.

Usage::

    python benchmarks/bench_download.py                       # 1 GiB, 5 rounds
    python benchmarks/bench_download.py --size 256M --rounds 3 --tools curl,md5

Peak RSS independent of size is checked by running two sizes and comparing.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.loopback_server import LoopbackServer  # noqa: E402

_CHILD = r'''
import json, resource, sys, time
sys.path.insert(0, %(repo)r)
from kzoo.utils.data_utils import get_file
import requests  # noqa: F401  imported before the clock, like the interpreter itself
if %(stub)r:
    from kzoo.utils.download import transfer

    class _NoHash:
        """hashlib stand-in: the diagnostic row measures everything but hashing."""
        def update(self, data):
            pass

        def hexdigest(self):
            return '0'

    class _HashlibStub:
        @staticmethod
        def new(name):
            return _NoHash()
    transfer.hashlib = _HashlibStub
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, m0, t0 = cpu(), time.thread_time(), time.perf_counter()
path = get_file('blob.bin', %(url)r, file_hash=%(hash)r, hash_algorithm=%(alg)r)
elapsed, used, main = time.perf_counter() - t0, cpu() - c0, time.thread_time() - m0
print(json.dumps({'seconds': elapsed, 'cpu': used, 'main_cpu': main, 'path': path}))
'''

TOOLS = ('curl', 'curl+sync', 'md5', 'sha256', 'stub', 'md5sum', 'openssl-md5', 'sha256sum')
DEFAULT_TOOLS = 'curl,curl+sync,md5,sha256,stub,md5sum,openssl-md5,sha256sum'


def parse_size(text):
    """'1G' -> 1073741824, '200M', '64k', '12345'."""
    text = text.strip().upper().rstrip('B').rstrip('I')
    scale = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def make_file(path, size):
    """Write ``size`` incompressible-looking bytes; return their (md5, sha256)."""
    block = os.urandom(1 << 20)
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, 'wb') as f:
        left, i = size, 0
        while left:
            # Vary each block a little so no layer can dedupe or cache it.
            chunk = (i.to_bytes(8, 'little') + block[8:])[:min(left, len(block))]
            f.write(chunk)
            md5.update(chunk)
            sha.update(chunk)
            left -= len(chunk)
            i += 1
    return md5.hexdigest(), sha.hexdigest()


def _vm_hwm(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def run_child(cmd, env=None):
    """Run cmd; return (wall seconds, CPU seconds, peak RSS bytes, stdout).

    Peak RSS is the child's VmHWM, read from /proc while it runs (the high-water
    mark only grows, so the last reading holds the peak up to then). The
    rusage ru_maxrss of a child is no good here: Linux carries the forking
    parent's size across exec, so every child would report this script's own
    size. ru_maxrss is the fallback where /proc is missing.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, env=env)
        hwm = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = _vm_hwm(proc.pid) or hwm
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise SystemExit('%s failed (%d): %s' % (cmd[0], proc.returncode,
                                                 err.decode(errors='replace')[-2000:]))
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = hwm or usage.ru_maxrss * (1 if sys.platform == 'darwin' else 1024)
    return wall, usage.ru_utime + usage.ru_stime, rss, out.decode()


class Bench:
    def __init__(self, scratch, url, served, digests, kzoo=REPO, baseline=None):
        self.scratch, self.url, self.served = scratch, url, served
        self.kzoo, self.baseline = kzoo, baseline
        self.md5, self.sha256 = digests
        self.startup = []

    def label(self, tool):
        if tool.endswith('@base'):
            return self.label(tool[:-5]) + ', before'
        return {'curl': 'curl -o', 'curl+sync': 'curl -o; sync FILE',
                'md5': 'get_file (md5)', 'sha256': 'get_file (sha256)',
                'stub': 'get_file (hash stubbed)', 'md5sum': 'md5sum FILE',
                'openssl-md5': 'openssl md5 FILE', 'sha256sum': 'sha256sum FILE'}[tool]

    def run(self, tool):
        """One run: (seconds, CPU seconds, peak RSS, CPU of the busiest thread)."""
        if tool in ('curl', 'curl+sync'):
            out = os.path.join(self.scratch, 'curl.bin')
            cmd = ['curl', '-sS', '--fail', '-o', out, self.url]
            if tool == 'curl+sync':
                cmd = ['sh', '-c', '"$@" && sync "%s"' % out, 'sh'] + cmd
            wall, cpu, rss, _ = run_child(cmd)
            os.remove(out)
            # With sync, the child is the shell and curl its child: no RSS of curl's.
            return wall, cpu, rss if tool == 'curl' else None, cpu
        if tool in ('md5sum', 'openssl-md5', 'sha256sum'):
            cmd = {'md5sum': ['md5sum'], 'openssl-md5': ['openssl', 'md5'],
                   'sha256sum': ['sha256sum']}[tool]
            wall, cpu, rss, _ = run_child(cmd + [self.served])
            return wall, cpu, rss, cpu
        kzoo = self.kzoo
        if tool.endswith('@base'):
            tool, kzoo = tool[:-5], self.baseline
        home = os.path.join(self.scratch, 'kzoo-home')
        env = dict(os.environ, KZOO_HOME=home, KZOO_QUIET='1')
        digest = {'md5': self.md5, 'sha256': self.sha256, 'stub': None}[tool]
        code = _CHILD % {'repo': kzoo, 'url': self.url, 'hash': digest,
                         'alg': tool if tool != 'stub' else 'auto', 'stub': tool == 'stub'}
        try:
            wall, _, rss, out = run_child([sys.executable, '-c', code], env)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        report = json.loads(out.strip().splitlines()[-1])
        self.startup.append(wall - report['seconds'])
        # The busiest thread: the receiving one, or the others (the hash thread).
        busiest = max(report['main_cpu'], report['cpu'] - report['main_cpu'])
        return report['seconds'], report['cpu'], rss, busiest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--size', default='1G', help='file size, e.g. 1G, 256M (default 1G)')
    ap.add_argument('--rounds', type=int, default=5, help='interleaved rounds (default 5)')
    ap.add_argument('--tools', default=DEFAULT_TOOLS,
                    help='comma-separated, from: %s' % ','.join(TOOLS))
    ap.add_argument('--dir', default=None, help='scratch folder (default: a temp folder)')
    ap.add_argument('--json', default=None, help='also write the raw runs to this file')
    ap.add_argument('--kzoo', default=REPO,
                    help='checkout whose kzoo is measured (default this one)')
    ap.add_argument('--baseline', default=None,
                    help='another checkout (e.g. `git archive OLD | tar -x -C DIR`): tools '
                         'md5@base, sha256@base, stub@base run its get_file in the same '
                         'rounds, for a before/after comparison')
    args = ap.parse_args(argv)

    tools = [t for t in args.tools.split(',') if t]
    base_tools = {t + '@base' for t in ('md5', 'sha256', 'stub')} if args.baseline else set()
    unknown = set(tools) - set(TOOLS) - base_tools
    if unknown:
        ap.error('unknown tools: %s' % ', '.join(sorted(unknown)))
    if not shutil.which('curl'):
        tools = [t for t in tools if not t.startswith('curl')]
        print('curl not found; no reference', file=sys.stderr)
    for tool, exe in (('md5sum', 'md5sum'), ('openssl-md5', 'openssl'),
                      ('sha256sum', 'sha256sum')):
        if tool in tools and not shutil.which(exe):
            tools.remove(tool)
    size = parse_size(args.size)
    load_before = os.getloadavg()
    scratch = tempfile.mkdtemp(prefix='kzoo-bench-', dir=args.dir)
    runs = {t: [] for t in tools}
    try:
        served = os.path.join(scratch, 'served')
        os.mkdir(served)
        print('writing %.2f GiB test file...' % (size / 2 ** 30), file=sys.stderr)
        blob = os.path.join(served, 'blob.bin')
        digests = make_file(blob, size)
        with LoopbackServer(root=served) as srv:
            url = srv.url('/blob.bin')
            bench = Bench(scratch, url, blob, digests, os.path.abspath(args.kzoo),
                          args.baseline and os.path.abspath(args.baseline))
            for r in range(args.rounds):
                order = tools[r % len(tools):] + tools[:r % len(tools)]
                for tool in order:
                    runs[tool].append(bench.run(tool))
                print('round %d/%d done' % (r + 1, args.rounds), file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()

    mib = size / 2 ** 20
    print('file %.2f GiB on %s, %d interleaved rounds; load average %s before, %s after'
          % (size / 2 ** 30, url, args.rounds, _load(load_before), _load(load_after)))
    print('%-30s %8s %8s %8s %8s %9s %9s %9s' % ('tool', 'median s', 'MiB/s', 'best',
                                                  'CPU s', 'CPU-bound', 'peak RSS',
                                                  'vs curl'))
    if os.path.abspath(args.kzoo) != REPO:
        print('(kzoo measured from %s)' % os.path.abspath(args.kzoo))
    if args.baseline:
        print('(rows marked "before": kzoo from %s)' % os.path.abspath(args.baseline))
    ref = runs.get('curl')
    for tool in tools:
        secs = [s for s, _, _, _ in runs[tool]]
        med = statistics.median(secs)
        ratio = '-'
        if ref and tool != 'curl':
            # Per-round ratios of throughput: kzoo / curl in the same round.
            ratio = '%.2fx' % statistics.median(c[0] / s for c, s in zip(ref, secs))
        rss = [r for _, _, r, _ in runs[tool] if r is not None]
        print('%-30s %8.2f %8.0f %8.0f %8.2f %9.0f %9s %9s' % (
            bench.label(tool), med, mib / med, mib / min(secs),
            statistics.median(c for _, c, _, _ in runs[tool]),
            mib / statistics.median(b for _, _, _, b in runs[tool]),
            '%d MiB' % (max(rss) / 2 ** 20) if rss else '-', ratio))
    if bench.startup:
        print('(get_file seconds and CPU are inside the call; interpreter start-up and '
              'imports (kzoo, requests) added a median %.2f s. "vs curl" is throughput relative to '
              'curl -o, the median of per-round ratios. CPU-bound: MiB per CPU second of '
              'the busiest thread, what an otherwise idle machine would allow.)'
              % statistics.median(bench.startup))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'size': size, 'load_before': load_before, 'load_after': load_after,
                       'runs': runs}, f, indent=1)
    return 0


def _load(avg):
    return '/'.join('%.1f' % x for x in avg)


if __name__ == '__main__':
    sys.exit(main())
