"""All of kzoo's performance benchmarks in one command, as one Markdown report.

    python benchmarks/run.py                          # print the report
    python benchmarks/run.py --write benchmarks/RESULTS.md
    python benchmarks/run.py --small                  # a quick check that all runs

Inference (bench_inference.py: every model, batch and peer, at the machine's thread
count, then throughput against batch size and threads) and loading (bench_loading.py:
VGG16's HDF5 files, kzoo against Keras 3). The report starts with the date, the machine
and its load average: on a shared machine, timings taken under load are noisy, and the
report says so.
"""
import argparse
import datetime
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_inference  # noqa: E402
import bench_loading  # noqa: E402
import machine  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--small', action='store_true')
    parser.add_argument('--write', help='write the report to this Markdown file')
    parser.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--no-scaling', action='store_true')
    parser.add_argument('--no-loading', action='store_true')
    parser.add_argument('--compile', action='store_true', help='add torch.compile')
    parser.add_argument('--dir', default=os.environ.get('KZOO_BENCH_DIR')
                        or os.path.join(tempfile.gettempdir(), 'kzoo-bench'))
    args = parser.parse_args(argv)
    start = machine.load_average()
    cores = os.cpu_count() or 1
    sections = ['# kzoo benchmarks, %s' % datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
                '']
    if start[0] > 0.5 * cores:
        sections += ['> The machine was busy when this started (load average %.1f on %d '
                     'cores): other processes compete for the cores, so absolute timings are '
                     'noisy and two-thread runs suffer most. Ratios come from runs seconds '
                     'apart and are the more trustworthy numbers.' % (start[0], cores), '']
    inference_args = ['--threads', str(args.threads), '--repeat', str(args.repeat),
                      '--dir', args.dir]
    if args.small:
        inference_args += ['--small', '--batches', '1,2']
    if not args.no_scaling:
        inference_args.append('--scaling')
    if args.compile:
        inference_args.append('--compile')
    sections.append(bench_inference.main(inference_args))
    if not args.no_loading:
        os.makedirs(args.dir, exist_ok=True)
        loading = bench_loading.rows(args.dir, args.small, repeat=3)
        sections += ['', '## Loading VGG16 (HDF5, %s)' % ('small' if args.small else '553 MB'),
                     '', bench_loading.table(loading)]
    sections += ['', '- load average at the end: %s' % (tuple(
        round(x, 2) for x in machine.load_average()),)]
    report = '\n'.join(sections) + '\n'
    if args.write:
        with open(args.write, 'w') as f:
            f.write(report)
    print(report)
    return report


if __name__ == '__main__':
    main()
