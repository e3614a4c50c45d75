"""The examples in kzoo's docstrings run and print what they say (every module of
``kzoo``, ``kzoo.converters`` and ``kzoo.registry``, one test per module).

The same as ``pytest --doctest-modules kzoo`` but found through the installed
package, so ``converters/`` and ``registry/`` are reached under their ``kzoo.`` names.
A module whose optional dependency is missing is skipped, not failed.
"""
import doctest
import importlib
import pkgutil

import pytest

from kzoo import backend as K

PACKAGES = ['kzoo', 'kzoo.converters', 'kzoo.registry']


def _module_names():
    names = []
    for package_name in PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError:
            continue
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + '.'):
            if info.name not in names:
                names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def test_the_modules_of_this_task_are_collected():
    for name in ('kzoo.layers.core', 'kzoo.layers.merge', 'kzoo.utils.safe_mode',
                 'kzoo.engine.base_layer', 'kzoo.engine.network', 'kzoo.engine.sequential'):
        assert name in MODULES


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        pytest.skip('optional dependency missing: %s' % e)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    tests = [t for t in tests if t.examples]
    if not tests:
        pytest.skip('no examples')
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    with K.using(K.backend()):  # examples may switch backends; restore it afterwards
        for test in tests:
            runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, ''.join(report)
