"""Package list for setuptools: ``kzoo`` plus ``converters/`` and ``registry/`` installed
as ``kzoo.converters`` and ``kzoo.registry`` (and their sub-packages). Everything else
lives in pyproject.toml."""
from setuptools import find_packages, setup

packages = find_packages(include=['kzoo', 'kzoo.*'])
package_dir = {'kzoo': 'kzoo'}
for top in ('converters', 'registry'):
    packages.append('kzoo.' + top)
    package_dir['kzoo.' + top] = top
    for sub in find_packages(where=top):
        packages.append('kzoo.%s.%s' % (top, sub))
        package_dir['kzoo.%s.%s' % (top, sub)] = '%s/%s' % (top, sub.replace('.', '/'))

setup(packages=packages, package_dir=package_dir)
