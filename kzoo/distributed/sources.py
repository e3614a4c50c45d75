"""Which images to classify: ``--input DIR|GLOB|LISTFILE`` (or a list of paths) as a
sorted, de-duplicated list of file names.

- a folder: every image file under it (recursively), by extension;
- a glob pattern (``*``, ``?``, ``[``; ``**`` crosses folders): the files it matches;
- a list file (any other existing file that is not an image): one path per line,
  blank lines and ``#`` comments skipped, relative paths taken from the list file's
  folder. A list is kept in its own order (duplicates dropped);
- a single image file: itself.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> for name in ('b.png', 'a.jpg', 'notes.txt'):
...     open(os.path.join(d, name), 'w').close()
>>> [os.path.basename(p) for p in image_paths(d)]
['a.jpg', 'b.png']
"""
import glob
import os

from kzoo.errors import ConfigError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff', '.ppm',
                    '.pgm', '.pbm', '.pnm')
_GLOB_CHARS = ('*', '?', '[')


def is_image_name(path):
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def image_paths(spec):
    """The image files ``spec`` names (a path string, or a list of path strings)."""
    if isinstance(spec, (list, tuple)):
        return _unique([os.fspath(p) for p in spec])
    spec = os.fspath(spec)
    if os.path.isdir(spec):
        return _folder(spec)
    if os.path.isfile(spec):
        return [spec] if is_image_name(spec) else _list_file(spec)
    if any(c in spec for c in _GLOB_CHARS):
        found = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not found:
            raise ConfigError('--input %s: the pattern matches no file' % spec)
        return found
    raise ConfigError('--input %s: no such folder, file or pattern (expected a folder of '
                      'images, a glob pattern or a file listing image paths)' % spec)


def _folder(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in files if is_image_name(f))
    if not found:
        raise ConfigError('--input %s: the folder holds no image file (%s)'
                          % (folder, ', '.join(IMAGE_EXTENSIONS)))
    return sorted(found)


def _list_file(path):
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding='utf-8') as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError('--input %s: cannot read it as a list of image paths (one per '
                          'line): %s' % (path, e)) from e
    paths = [os.path.normpath(os.path.join(base, line)) for line in lines
             if line and not line.startswith('#')]
    if not paths:
        raise ConfigError('--input %s: the list file names no image' % path)
    return _unique(paths)


def _unique(paths):
    seen = set()
    return [p for p in paths if not (p in seen or seen.add(p))]
