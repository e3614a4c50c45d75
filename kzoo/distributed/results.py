"""Writing prediction results: Parquet or JSON Lines (by extension), atomically.

Columns: ``path`` (string), ``class_ids`` (list of int64, best first), ``class_names``
(list of string), ``scores`` (list of float32), ``error`` (string, null when the image
decoded; then the three lists are empty). Rows arrive as row dicts (the one-process
path) or as pyarrow tables (Ray); either way the file appears only when complete: it is
written beside its final name and renamed into place (:func:`atomic_write`).

>>> import json, os, tempfile
>>> out = os.path.join(tempfile.mkdtemp(), 'r.jsonl')
>>> write_results([{'path': 'a.png', 'class_ids': [3], 'class_names': ['class_3'],
...                 'scores': [0.5], 'error': None}], out)
1
>>> json.loads(open(out).read())['class_ids']
[3]
"""
import json
import os

from kzoo.distributed._ray import require_pyarrow
from kzoo.distributed.pipeline import COLUMNS
from kzoo.errors import ConfigError
from kzoo.utils.io_utils import atomic_write

FORMATS = {'.parquet': 'parquet', '.pq': 'parquet', '.jsonl': 'jsonl', '.ndjson': 'jsonl'}
_ROWS_PER_GROUP = 1024  # rows gathered before a Parquet row group is written


def schema():
    pa = require_pyarrow()
    return pa.schema([('path', pa.string()), ('class_ids', pa.list_(pa.int64())),
                      ('class_names', pa.list_(pa.string())),
                      ('scores', pa.list_(pa.float32())), ('error', pa.string())])


def output_format(path):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise ConfigError('--output %s: name the results file .parquet or .jsonl' % path)
    return FORMATS[ext]


def to_table(columns):
    """Result columns (dict of lists) as a pyarrow table with :func:`schema`."""
    pa = require_pyarrow()
    return pa.Table.from_pydict({c: columns[c] for c in COLUMNS}, schema=schema())


def write_results(results, path, on_rows=None):
    """Write ``results`` (an iterable of row dicts, or a Ray Dataset) to ``path``; returns
    the number of rows. ``on_rows(rows)`` is called with each chunk of row dicts written."""
    fmt = output_format(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError('--output %s: folder %s does not exist' % (path, folder))
    if fmt == 'parquet':
        require_pyarrow('writing Parquet')
    count = 0
    with atomic_write(path, 'wb') as f:
        sink = _ParquetSink(f) if fmt == 'parquet' else _JsonlSink(f)
        try:
            for chunk in _row_chunks(results):
                sink.write(chunk)
                count += len(chunk)
                if on_rows:
                    on_rows(chunk)
        finally:
            # also on failure: the writer must let go of the file before atomic_write
            # removes it (pyarrow would otherwise write its footer to a closed file later)
            sink.close()
    return count


def _row_chunks(results):
    """Lists of row dicts from a Ray Dataset (block by block) or an iterable of rows."""
    if hasattr(results, 'iter_batches'):
        for table in results.iter_batches(batch_format='pyarrow', batch_size=None):
            yield table.to_pylist()
        return
    chunk = []
    for row in results:
        chunk.append(row)
        if len(chunk) >= _ROWS_PER_GROUP:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _JsonlSink(object):
    def __init__(self, f):
        self.f = f

    def write(self, rows):
        self.f.write(''.join(json.dumps({c: row[c] for c in COLUMNS}) + '\n'
                             for row in rows).encode('utf-8'))

    def close(self):
        pass


class _ParquetSink(object):
    def __init__(self, f):
        import pyarrow.parquet as pq
        self.writer = pq.ParquetWriter(f, schema())

    def write(self, rows):
        pa = require_pyarrow()
        self.writer.write_table(pa.Table.from_pylist(rows, schema=schema()))

    def close(self):
        self.writer.close()


def read_results(path):
    """The rows of a results file (Parquet or JSON Lines) as a list of dicts."""
    if output_format(path) == 'parquet':
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]
