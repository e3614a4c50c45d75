"""Safe mode: configs never make kzoo run code unless the caller says so.

Lambda and Keras 1 Merge layers may store a Python function as marshalled bytecode
(``function_type: 'lambda'``). Unmarshalling it runs whatever the file's author wrote,
so it happens only inside ``safe_mode_scope(False)``; otherwise the caller supplies
the function through custom objects, keyed by the layer's name or the function's name.

>>> in_safe_mode()
True
>>> with safe_mode_scope(False):
...     in_safe_mode()
False
>>> def double(x):
...     return 2 * x
>>> dump_function(double)
('double', 'function')
>>> load_function('double', 'function', 'lambda_1', custom_objects={'double': double})(3)
6
"""
import binascii
import codecs
import contextlib
import marshal
import threading
import types

from kzoo.errors import ConfigError, UnknownObjectError, UnsafeInputError

_state = threading.local()


def in_safe_mode():
    """True (the default) unless inside ``safe_mode_scope(False)`` on this thread."""
    return getattr(_state, 'enabled', True)


@contextlib.contextmanager
def safe_mode_scope(enabled=True):
    """Turn safe mode on or off for the block (``None`` keeps the current setting)."""
    saved = in_safe_mode()
    _state.enabled = saved if enabled is None else bool(enabled)
    try:
        yield
    finally:
        _state.enabled = saved


# ---- writing ----------------------------------------------------------------------

def func_dump(func):
    """``(code, defaults, closure)`` as Keras writes it: base64 of ``marshal.dumps``."""
    code = codecs.encode(marshal.dumps(func.__code__), 'base64').decode('ascii')
    closure = tuple(c.cell_contents for c in func.__closure__) if func.__closure__ else None
    return code, func.__defaults__, closure


def dump_function(fn):
    """``(value, type)`` for a config: a plain module-level function is written by name
    (``'function'``), a lambda or nested function as marshalled code (``'lambda'``)."""
    name = getattr(fn, '__name__', None)
    qualname = getattr(fn, '__qualname__', name) or ''
    if isinstance(fn, types.FunctionType) and (name == '<lambda>' or '<locals>' in qualname):
        return func_dump(fn), 'lambda'
    if name:
        return name, 'function'
    raise ConfigError('cannot serialize %r: it is neither a named function nor a lambda' % (fn,))


# ---- reading ----------------------------------------------------------------------

def _custom_lookup(names, custom_objects):
    from kzoo.utils.generic_utils import get_custom_objects
    for table in (custom_objects or {}, get_custom_objects()):
        for name in names:
            if name is not None and isinstance(name, str) and name in table:
                return table[name]
    return None


def _keras3_function(value):
    """Keras 3 writes ``{'class_name': '__lambda__' | 'function', 'config': ...}``."""
    if value.get('class_name') == '__lambda__':
        config = value.get('config') or {}
        return (config.get('code'), config.get('defaults'), config.get('closure')), 'lambda'
    name = value.get('registered_name') or value.get('config')
    return name, 'function'


def load_function(value, function_type, layer_name, field='function', custom_objects=None):
    """The callable a config describes, honouring safe mode.

    Custom objects are looked up first, by the layer's name, then by the function's
    name. A named function not found there is looked up among kzoo's activations. A
    marshalled function is unmarshalled only when safe mode is off.
    """
    if isinstance(value, dict) and 'class_name' in value:
        value, function_type = _keras3_function(value)
    found = _custom_lookup([layer_name] + ([value] if function_type == 'function' else []),
                           custom_objects)
    if found is not None:
        return found
    if function_type == 'function':
        from kzoo import activations
        if isinstance(value, str) and value in activations.ACTIVATIONS:
            return activations.get(value)
        raise UnknownObjectError(
            'layer %r: unknown %s %r. Pass it as custom_objects={%r: fn} (or keyed by the '
            "layer's name, %r)" % (layer_name, field, value, value, layer_name))
    if function_type != 'lambda':
        raise ConfigError('layer %r: unknown %s type %r (expected "function" or "lambda")'
                          % (layer_name, field, function_type))
    if in_safe_mode():
        raise UnsafeInputError(
            'layer %r: its %s is marshalled Python bytecode, which can run arbitrary code, '
            'so kzoo does not load it by default. Supply the function instead, as '
            "custom_objects={%r: fn} (the layer's name) or under the function's name, or "
            'load with safe_mode=False if you trust this file.' % (layer_name, field, layer_name))
    return func_load(value, layer_name, field, custom_objects)


def func_load(value, layer_name, field='function', custom_objects=None):
    """Rebuild a marshalled function (only ever called with safe mode off)."""
    import numpy as np
    from kzoo import backend as K
    from kzoo.utils.generic_utils import get_custom_objects
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        value = (value, None, None)
    code, defaults, closure = value
    if not isinstance(code, str):
        raise ConfigError('layer %r: %s code must be a string' % (layer_name, field))
    try:  # Keras 2 wrote base64; Keras 1 wrote the raw bytes as a unicode string
        raw = codecs.decode(code.encode('ascii'), 'base64')
    except (UnicodeEncodeError, binascii.Error):
        raw = code.encode('raw_unicode_escape')
    try:
        code = marshal.loads(raw)
    except (ValueError, EOFError, TypeError) as e:
        raise ConfigError('layer %r: cannot read the %s bytecode (%s); it was probably written '
                          'by another Python version. Supply the function through '
                          'custom_objects={%r: fn}' % (layer_name, field, e, layer_name)) from e
    if not isinstance(code, types.CodeType):
        raise ConfigError('layer %r: %s does not hold Python code' % (layer_name, field))
    cells = tuple(_cell(v) for v in closure) if closure is not None else None
    if cells is not None and len(cells) != len(code.co_freevars):
        raise ConfigError('layer %r: %s closure does not fit its code' % (layer_name, field))
    # Functions written for Keras call K.<op>; here K is kzoo's backend.
    globs = {'__builtins__': __builtins__, 'K': K, 'backend': K, 'np': np, 'numpy': np}
    globs.update(get_custom_objects())
    globs.update(custom_objects or {})
    return types.FunctionType(code, globs, code.co_name,
                              tuple(defaults) if defaults is not None else None, cells)


def _cell(value):
    return types.CellType(value)


__all__ = ['in_safe_mode', 'safe_mode_scope', 'dump_function', 'load_function',
           'func_dump', 'func_load']
