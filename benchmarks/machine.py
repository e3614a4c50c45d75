"""The machine a benchmark ran on: CPU model, cores, the SIMD flags that matter, load,
library versions. Printed above every table, so a number is never read without them.

>>> 'cpu' in describe()
True
"""
import os
import platform
import subprocess

FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16',
         'amx_int8')


def _lscpu():
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(':')
        info[key.strip()] = value.strip()
    return info


def load_average():
    try:
        return os.getloadavg()
    except OSError:
        return (float('nan'),) * 3


def versions():
    from importlib import metadata  # no imports of the libraries themselves (TensorFlow)
    out = {'python': platform.python_version()}
    for name in ('numpy', 'torch', 'onnxruntime', 'keras', 'tensorflow', 'tf2onnx', 'h5py'):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = 'not installed'
    return out


def describe(with_versions=False):
    info = _lscpu()
    flags = set(info.get('Flags', '').split())
    out = {
        'cpu': info.get('Model name', platform.processor() or '?'),
        'cores': int(info.get('CPU(s)', os.cpu_count() or 0) or 0),
        'threads_per_core': info.get('Thread(s) per core', '?'),
        'flags': [f for f in FLAGS if f in flags],
        'load_average': tuple(round(x, 2) for x in load_average()),
    }
    if with_versions:
        out['versions'] = versions()
    return out


def markdown(desc):
    lines = ['- CPU: %s, %s logical cores (%s thread(s) per core)' % (
        desc['cpu'], desc['cores'], desc['threads_per_core']),
        '- SIMD flags: %s (absent: %s)' % (', '.join(desc['flags']) or 'none', ', '.join(
            f for f in FLAGS if f not in desc['flags']) or 'none'),
        '- load average (1, 5, 15 min) at the start: %s' % (desc['load_average'],)]
    if 'versions' in desc:
        lines.append('- versions: ' + ', '.join('%s %s' % kv for kv in desc['versions'].items()))
    return '\n'.join(lines)
