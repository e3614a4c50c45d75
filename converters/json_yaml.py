"""Model configs as JSON and YAML text, parsed defensively.

- JSON nested deeper than Python can parse gives a :class:`FileFormatError`, never a
  ``RecursionError``; JSON that was encoded twice (a JSON string holding JSON, as
  some Keras 1 tools wrote it) is decoded again.
- YAML goes through PyYAML's safe loader only. The one addition is the
  ``!!python/tuple`` tag, which Keras 2's ``to_yaml`` wrote for every shape: it becomes
  a plain list. Any other Python tag is refused, and alias "bombs" (anchors that expand
  to millions of nodes) are refused before anything is built.

>>> parse_json('"{\\\\"class_name\\\\": \\\\"Dense\\\\"}"')
{'class_name': 'Dense'}
>>> parse_yaml('a: !!python/tuple [1, 2]')
{'a': [1, 2]}
"""
import json

from kzoo.errors import FileFormatError, UnsafeInputError

MAX_YAML_NODES = 1000000
_MAX_DECODES = 3


def parse_json(text, label='JSON text'):
    """A Python object from JSON ``text`` (``str`` or ``bytes``), decoding twice if needed."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode('utf-8')
        except UnicodeDecodeError as e:
            raise FileFormatError('%s is not UTF-8 text: %s' % (label, e)) from None
    value = text
    for _ in range(_MAX_DECODES):
        if not isinstance(value, str):
            return value
        try:
            value = json.loads(value)
        except RecursionError:
            raise FileFormatError('%s is nested too deeply to be a model config' % label
                                  ) from None
        except ValueError as e:
            raise FileFormatError('%s is not valid JSON: %s' % (label, e)) from None
    if isinstance(value, str):
        raise FileFormatError('%s is a JSON string encoded more than %d times'
                              % (label, _MAX_DECODES))
    return value


def to_json_text(obj, **kwargs):
    """JSON text of a config (numpy scalars and tuples become plain values)."""
    return json.dumps(obj, default=_json_default, **kwargs)


def _json_default(obj):
    import numpy as np
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.decode('utf-8')
    raise TypeError('not JSON serializable: %r' % (obj,))


def plain(obj):
    """A JSON-compatible deep copy (tuples -> lists, numpy -> Python, no shared parts)."""
    return json.loads(to_json_text(obj))


def _safe_loader():
    import yaml

    class KerasSafeLoader(yaml.SafeLoader):
        """SafeLoader plus ``!!python/tuple`` (as a list): nothing that runs code."""

    def construct_tuple(loader, node):
        return loader.construct_sequence(node, deep=True)

    KerasSafeLoader.add_constructor('tag:yaml.org,2002:python/tuple', construct_tuple)
    return KerasSafeLoader


def _expanded_size(root):
    """Number of nodes once every alias is expanded (memoised, so bombs are cheap)."""
    import yaml
    sizes = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            sizes[id(node)] = 1
            continue
        if done:
            sizes[id(node)] = 1 + sum(sizes.get(id(c), 0) for c in children)
            if sizes[id(node)] > MAX_YAML_NODES:
                return sizes[id(node)]
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(root), 0)


def parse_yaml(text, label='YAML text'):
    """A Python object from YAML ``text`` through the safe loader."""
    import yaml
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode('utf-8', errors='replace')
    loader_cls = _safe_loader()
    try:
        loader = loader_cls(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise FileFormatError('%s is empty' % label)
            size = _expanded_size(node)
            if size > MAX_YAML_NODES:
                raise UnsafeInputError('%s: refused: its aliases expand to more than %d nodes '
                                       '(a YAML alias bomb)' % (label, MAX_YAML_NODES))
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except (FileFormatError, UnsafeInputError):
        raise
    except RecursionError:
        raise FileFormatError('%s is nested too deeply to be a model config' % label) from None
    except yaml.constructor.ConstructorError as e:
        if 'python/' in str(e) or '!!' in str(e) or 'tag' in str(e):
            raise UnsafeInputError('%s: refused a YAML tag that would build Python objects '
                                   '(kzoo reads YAML with the safe loader only): %s'
                                   % (label, str(e).splitlines()[0])) from None
        raise FileFormatError('%s is not valid YAML: %s' % (label, e)) from None
    except yaml.YAMLError as e:
        raise FileFormatError('%s is not valid YAML: %s' % (label, e)) from None


def to_yaml_text(obj, **kwargs):
    """YAML text through ``yaml.safe_dump`` (of a plain copy, so no anchors appear)."""
    import yaml
    kwargs.setdefault('default_flow_style', False)
    kwargs.setdefault('sort_keys', True)
    return yaml.safe_dump(plain(obj), **kwargs)
