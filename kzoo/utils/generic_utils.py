"""Name registries and (de)serialization of objects by name and config.

Every kind of object a config can name (layers, activations, initializers,
regularizers, constraints, optimizers, losses, ...) has one :class:`Registry`.
Lookups go only through a registry and the caller's ``custom_objects``: nothing is
ever imported by a name found in a file.

>>> shapes = Registry('shape')
>>> @shapes.register('Square', 'Quadrat')
... class Square(object):
...     pass
>>> shapes.get('Quadrat') is Square
True
"""
import threading

from kzoo.errors import UnknownObjectError, ConfigError

_custom_objects = threading.local()


class Registry(object):
    """A name -> object table that refuses duplicates and explains misses."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, *names):
        """Decorator: register the object under its ``__name__`` and ``names``."""
        def decorate(obj):
            for name in (obj.__name__,) + names:
                if name in self._entries and self._entries[name] is not obj:
                    raise ValueError('%s %r is registered twice' % (self.kind, name))
                self._entries[name] = obj
            return obj
        return decorate

    def add(self, name, obj):
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError('%s %r is registered twice' % (self.kind, name))
        self._entries[name] = obj

    def replace(self, name, obj):
        """Swap the object registered as ``name`` (which must exist) for ``obj``."""
        if name not in self._entries:
            raise KeyError('%s %r is not registered' % (self.kind, name))
        self._entries[name] = obj

    def __contains__(self, name):
        return name in self._entries

    def names(self):
        return sorted(self._entries)

    def get(self, name, custom_objects=None, where=None):
        """The object registered as ``name``, looking first in ``custom_objects``."""
        if not isinstance(name, str):
            raise ConfigError('%s name must be a string, got %r%s'
                              % (self.kind, name, _where(where)))
        for table in (custom_objects or {}, get_custom_objects()):
            if name in table:
                return table[name]
        if name in self._entries:
            return self._entries[name]
        raise UnknownObjectError(
            'unknown %s %r%s. kzoo resolves names only through its own registries and '
            'custom_objects; pass custom_objects={%r: ...} if this is your own %s'
            % (self.kind, name, _where(where), name, self.kind))


def _where(where):
    return ' (in %s)' % where if where else ''


def get_custom_objects():
    """The custom objects of the innermost :class:`CustomObjectScope` (a dict)."""
    stack = getattr(_custom_objects, 'stack', None)
    merged = {}
    for table in stack or ():
        merged.update(table)
    return merged


class CustomObjectScope(object):
    """``with CustomObjectScope({'MyLayer': MyLayer}): load_model(...)``."""

    def __init__(self, *tables):
        self.tables = tables

    def __enter__(self):
        stack = getattr(_custom_objects, 'stack', None)
        if stack is None:
            stack = _custom_objects.stack = []
        for table in self.tables:
            stack.append(dict(table))
        return self

    def __exit__(self, *exc):
        for _ in self.tables:
            _custom_objects.stack.pop()
        return False


custom_object_scope = CustomObjectScope


def serialize_object(obj):
    """``{'class_name': ..., 'config': ...}`` for objects with ``get_config``."""
    if obj is None:
        return None
    if hasattr(obj, 'get_config'):
        return {'class_name': type(obj).__name__, 'config': obj.get_config()}
    name = getattr(obj, '__name__', None)
    if name is None:
        raise ConfigError('cannot serialize %r: it has neither get_config nor a name' % (obj,))
    return name


def deserialize_object(identifier, registry, custom_objects=None, where=None,
                       instantiate=True):
    """Build an object from a name, a ``{'class_name', 'config'}`` dict, or pass it on."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if 'class_name' not in identifier:
            raise ConfigError('%s config %r has no class_name%s'
                              % (registry.kind, identifier, _where(where)))
        cls = registry.get(identifier['class_name'], custom_objects, where)
        config = identifier.get('config') or {}
        if not isinstance(config, dict):
            raise ConfigError('%s config for %r must be a dict%s'
                              % (registry.kind, identifier['class_name'], _where(where)))
        if hasattr(cls, 'from_config'):
            return cls.from_config(config)
        return cls(**config)
    if isinstance(identifier, str):
        obj = registry.get(identifier, custom_objects, where)
        if instantiate and isinstance(obj, type):
            return obj()
        return obj
    return identifier
