"""``kzoo cache``: look at and tidy the download cache.

::

    kzoo cache path [SUBDIR]      print the cache folder ($KZOO_HOME, default ~/.kzoo)
    kzoo cache list [--json]      name, size, hash and origin of everything cached
    kzoo cache verify [--remove]  re-hash every file against its recorded hash
    kzoo cache clear [NAME ...]   remove NAME (every variant of it), or everything

Everything here goes through :mod:`kzoo.utils.data_utils`; only folders that
kzoo's downloads created (those holding a ``.kzoo`` metadata folder) are touched,
so a ``KZOO_HOME`` pointed at the wrong place cannot lose unrelated files.
"""
import json
import os
import sys

from kzoo.commands import command
from kzoo.utils import data_utils


def _add_arguments(parser):
    parser.add_argument('--cache-dir', default=None,
                        help='cache root to use instead of $KZOO_HOME or ~/.kzoo')
    sub = parser.add_subparsers(dest='cache_command', metavar='ACTION')
    sub.required = True

    p = sub.add_parser('path', help='print the cache folder')
    p.add_argument('subdir', nargs='?', help='a subfolder such as models or datasets')
    p.set_defaults(_cache_run=_path)

    p = sub.add_parser('list', help='list cached files: name, size, hash, origin')
    p.add_argument('--json', action='store_true', help='one JSON document, all fields')
    p.set_defaults(_cache_run=_list)

    p = sub.add_parser('verify', help='re-hash cached files against their recorded hashes')
    p.add_argument('--remove', action='store_true',
                   help='delete files that fail (the next get_file downloads them again)')
    p.set_defaults(_cache_run=_verify)

    p = sub.add_parser('clear', help='remove cached files (all, or those named)')
    p.add_argument('names', nargs='*', metavar='NAME',
                   help='file name as asked for (all its variants), stored name, or '
                        'SUBDIR/NAME; none means everything')
    p.set_defaults(_cache_run=_clear)


@command('cache', help='show, verify and clear the download cache',
         add_arguments=_add_arguments)
def run(args):
    return args._cache_run(args)


def _path(args):
    root = data_utils.cache_root(args.cache_dir)
    print(os.path.join(root, args.subdir) if args.subdir else root)
    return 0


def _list(args):
    entries = data_utils.cache_entries(args.cache_dir)
    if args.json:
        json.dump([{'subdir': e.subdir, 'file': e.file, 'name': e.name, 'kind': e.kind,
                    'path': e.path, 'size': e.size, 'hash_algorithm': e.hash_algorithm,
                    'hash': e.hash, 'origin': e.origin} for e in entries],
                  sys.stdout, indent=1)
        print()
        return 0
    if not entries:
        print('the cache at %s is empty' % data_utils.cache_root(args.cache_dir))
        return 0
    rows = [('NAME', 'SIZE', 'HASH', 'ORIGIN')]
    for e in entries:
        name = os.path.join(e.subdir, e.file) + {'partial': ' (partial)',
                                                 'folder': '/ (extracted)'}.get(e.kind, '')
        digest = '%s:%s' % (e.hash_algorithm, e.hash) if e.hash else '-'
        rows.append((name, _human(e.size), digest, e.origin or '-'))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print('  '.join(c.ljust(w) for c, w in zip(r[:3], widths)) + '  ' + r[3])
    total = sum(e.size for e in entries)
    print('%d entries, %s in %s' % (len(entries), _human(total),
                                    data_utils.cache_root(args.cache_dir)))
    return 0


def _verify(args):
    bad = 0
    for e in data_utils.cache_entries(args.cache_dir):
        if e.kind != 'file':
            continue
        label = os.path.join(e.subdir, e.file)
        if not e.hash:
            print('UNKNOWN  %s (no recorded hash)' % label)
            continue
        actual = data_utils.hash_file(e.path, e.hash_algorithm)
        if actual == e.hash:
            print('OK       %s' % label)
            continue
        bad += 1
        print('FAILED   %s: expected %s %s, got %s%s'
              % (label, e.hash_algorithm, e.hash, actual, ' (removed)' if args.remove else ''))
        if args.remove:
            data_utils.remove_cache_entry(e)
    if bad:
        print('%d file(s) failed verification%s' % (
            bad, '' if args.remove else '; `kzoo cache verify --remove` deletes them'),
            file=sys.stderr)
        return 1
    return 0


def _clear(args):
    entries = data_utils.cache_entries(args.cache_dir)
    if args.names:
        wanted = set(args.names)
        chosen = [e for e in entries if e.file in wanted or e.name in wanted
                  or os.path.join(e.subdir, e.file) in wanted]
        # A file's extracted folder and kept partials go with it.
        folders = {(e.subdir, (e.meta or {}).get('extracted')) for e in chosen}
        stems = {(e.subdir, e.file) for e in chosen if e.kind == 'file'}
        chosen += [e for e in entries if e not in chosen and (
            (e.kind == 'folder' and (e.subdir, e.file) in folders)
            or (e.kind == 'partial' and any(e.subdir == s and e.file.startswith(f + '.')
                                            for s, f in stems)))]
        missing = wanted - {n for e in chosen for n in (e.file, e.name,
                                                        os.path.join(e.subdir, e.file))}
        for name in sorted(missing):
            print('not in the cache: %s' % name, file=sys.stderr)
    else:
        chosen = entries
    for e in chosen:
        data_utils.remove_cache_entry(e)
        print('removed %s (%s)' % (os.path.join(e.subdir, e.file), _human(e.size)))
    print('%d entries removed, %s freed' % (len(chosen), _human(sum(e.size for e in chosen))))
    return 1 if args.names and missing else 0


def _human(n):
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0
