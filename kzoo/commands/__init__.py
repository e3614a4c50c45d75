"""Registry of ``kzoo`` sub-commands: one module per command, each registering itself.

Example (in ``kzoo/commands/hello.py``)::

    from kzoo.commands import command

    def _args(p):
        p.add_argument('who')

    @command('hello', help='say hello', add_arguments=_args)
    def run(args):
        print('hello', args.who)
"""
import importlib
import pkgutil
from collections import namedtuple

CommandSpec = namedtuple('CommandSpec', 'name help add_arguments run')
COMMANDS = {}


def command(name, help, add_arguments=lambda parser: None):
    """Register ``run(args)`` as the sub-command ``name``; a duplicate name is refused."""
    def register(run):
        if name in COMMANDS:
            raise ValueError('kzoo command %r is registered twice' % name)
        COMMANDS[name] = CommandSpec(name, help, add_arguments, run)
        return run
    return register


def load_all():
    """Import every module of this package so that each registers its command."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module('%s.%s' % (__name__, info.name))
