"""The ``kzoo`` command.

Each sub-command lives in its own module under :mod:`kzoo.commands` and registers
itself with :func:`kzoo.commands.command`. This file only parses arguments and
dispatches; it has no logic of its own.
"""
import argparse
import sys

from kzoo.commands import COMMANDS, load_all
from kzoo.errors import KzooError


def build_parser():
    load_all()
    parser = argparse.ArgumentParser(
        prog='kzoo', description='Keras model zoo and model-format converter.')
    parser.add_argument('--quiet', action='store_true', help='print less')
    parser.add_argument('--verbose', action='store_true', help='print more')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for name, spec in sorted(COMMANDS.items()):
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        spec.add_arguments(p)
        p.set_defaults(_run=spec.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args._run(args) or 0
    except KzooError as e:
        print('kzoo: error: %s' % e, file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `kzoo info big.h5 | head` closed our stdout: not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print('kzoo: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
