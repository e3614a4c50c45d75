"""The command-line side: ``kzoo predict --input/--output/--ray`` and
``kzoo convert --batch``. The commands' modules parse; these functions run."""
import contextlib
import sys
import time

from kzoo.errors import ConfigError


def _say(args, text, stream=None):
    if not getattr(args, 'quiet', False):
        print(text, file=stream or sys.stdout, flush=True)


def run_predict(args):
    """Many images to a results file (or to the screen when no ``--output``)."""
    from kzoo.commands._models import weights_argument
    from kzoo.distributed.batch_predict import predict
    from kzoo.distributed.results import output_format, write_results
    from kzoo.distributed.sources import image_paths
    if args.input and args.images:
        raise ConfigError('give images either as arguments or with --input, not both')
    if not (args.input or args.images):
        raise ConfigError('no images: give image files, or --input DIR|GLOB|LISTFILE')
    if args.output:
        output_format(args.output)  # a bad name fails before any work
    paths = image_paths(args.input if args.input else args.images)
    start = time.perf_counter()
    results = predict(args.model, paths, top=args.top, batch_size=args.batch_size,
                      weights=weights_argument(args.weights), preprocess=args.preprocess,
                      ray=args.ray, workers=args.workers, threads=args.threads,
                      precision=getattr(args, 'precision', None),
                      provider=getattr(args, 'provider', None))
    with _ray_errors_explained():
        if not args.output:
            return _print_rows(results)
        failed = _Failures()
        count = write_results(results, args.output, on_rows=failed.add)
    seconds = time.perf_counter() - start
    for path in failed.first:
        _say(args, 'could not read %s' % path, sys.stderr)
    _say(args, '%d images (%d could not be read) -> %s in %.1f s (%.1f images/s)%s'
         % (count, failed.count, args.output, seconds, count / max(seconds, 1e-9),
            ' on Ray' if args.ray else ''))
    return 0


class _Failures(object):
    """How many rows have an error, and the first few paths (for the screen)."""

    def __init__(self, keep=10):
        self.count, self.first, self.keep = 0, [], keep

    def add(self, rows):
        for row in rows:
            if row['error'] is not None:
                self.count += 1
                if len(self.first) < self.keep:
                    self.first.append(row['path'])


@contextlib.contextmanager
def _ray_errors_explained():
    try:
        yield
    except Exception as e:
        from kzoo.distributed._ray import explain, is_ray_error
        if is_ray_error(e):  # say what failed on the workers, not Ray's wrapping
            raise explain(e) from e
        raise


def _print_rows(results):
    rows = results.iter_rows() if hasattr(results, 'iter_rows') else results
    for row in rows:
        print(row['path'])
        if row['error'] is not None:
            print('  error: %s' % row['error'])
        for name, i, score in zip(row['class_names'], row['class_ids'], row['scores']):
            print('  %-30s %-6d %.4f' % (name, i, float(score)))
    return 0


def run_convert_batch(args):
    """A manifest of conversions; exit status 1 when any failed."""
    from kzoo.distributed.bulk_convert import (bulk_convert, format_outcome, read_manifest,
                                               summary, write_report)
    if args.src or args.dst:
        raise ConfigError('--batch takes its files from the manifest; give no SRC DST')
    jobs = read_manifest(args.batch)
    _say(args, 'converting %d files %s' % (len(jobs), 'on Ray' if args.ray else
                                           'in local processes'))
    start = time.perf_counter()
    outcomes = bulk_convert(jobs, ray=args.ray, workers=args.workers,
                            on_outcome=lambda o: _say(args, format_outcome(o)))
    if args.report:
        write_report(outcomes, args.report)
    _say(args, '\nreport (manifest order):')
    for outcome in outcomes:
        _say(args, format_outcome(outcome))
    _say(args, summary(outcomes, time.perf_counter() - start))
    return 0 if all(o.ok for o in outcomes) else 1
