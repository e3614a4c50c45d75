"""The handler registry: one function per ONNX operator version.

A handler is registered for a domain, an operator type and the ``since_version`` of
each operator schema it implements (``onnx.defs`` numbers schemas by the opset that
introduced them). At import time the model's opset selects the schema, and the
schema's since-version selects the handler; a schema kzoo has no handler for is
refused by name rather than approximated by a neighbour.

>>> @onnx_op('Example', 1, 13, domain='kzoo.test')
... def example(ctx, node, inputs):
...     return inputs
>>> find_handler('kzoo.test', 'Example', 13).fn is example
True
"""
import collections

from kzoo.errors import ConversionError

Handler = collections.namedtuple('Handler', 'fn domain op_type since_version layout_aware')

HANDLERS = {}  # (domain, op_type, since_version) -> Handler


class UnsupportedOperatorError(ConversionError):
    """An ONNX graph uses an operator (or an operator version) kzoo cannot import."""


def canonical_domain(domain):
    return '' if domain in ('', 'ai.onnx') else domain


def onnx_op(op_type, *since_versions, **options):
    """Decorator: register ``fn(ctx, node, inputs) -> outputs`` for ``op_type`` at each
    of ``since_versions``. ``layout_aware=True`` handlers receive inputs in any layout
    (channels_last import); the others get ONNX's own layout."""
    domain = canonical_domain(options.pop('domain', ''))
    layout_aware = bool(options.pop('layout_aware', False))
    if options:
        raise TypeError('onnx_op: unknown options %s' % sorted(options))
    if not since_versions:
        raise TypeError('onnx_op(%r) needs at least one since-version' % op_type)

    def decorate(fn):
        for version in since_versions:
            key = (domain, op_type, int(version))
            if key in HANDLERS:
                raise ValueError('ONNX handler for %s is registered twice (%s and %s)'
                                 % (key, HANDLERS[key].fn.__name__, fn.__name__))
            HANDLERS[key] = Handler(fn, domain, op_type, int(version), layout_aware)
        return fn
    return decorate


def supported_versions(domain, op_type):
    domain = canonical_domain(domain)
    return sorted(v for d, o, v in HANDLERS if d == domain and o == op_type)


def supported_operators(domain=''):
    domain = canonical_domain(domain)
    return sorted({o for d, o, _ in HANDLERS if d == domain})


def schema_version(domain, op_type, opset):
    """The since-version of the schema of ``op_type`` in effect at ``opset``."""
    import onnx.defs
    try:
        return onnx.defs.get_schema(op_type, int(opset), domain).since_version
    except Exception:  # noqa: BLE001  (onnx raises SchemaError, a C++ exception type)
        return None


def find_handler(domain, op_type, opset, node_name=None):
    """The handler for ``op_type`` at ``opset``, or an error naming what is missing."""
    domain = canonical_domain(domain)
    versions = supported_versions(domain, op_type)
    where = ' (node %r)' % node_name if node_name else ''
    if not versions:
        known = ', '.join(supported_operators(''))
        raise UnsupportedOperatorError(
            'ONNX operator %r%s%s is not supported by kzoo\'s ONNX importer. Supported '
            'operators of the default domain: %s' % (
                op_type, ' of domain %r' % domain if domain else '', where, known))
    since = schema_version(domain, op_type, opset)
    if since is None:
        # an operator schema this onnx package does not know: use the newest handler
        # that is not newer than the opset
        candidates = [v for v in versions if v <= int(opset)]
        since = candidates[-1] if candidates else None
    key = (domain, op_type, since)
    if key not in HANDLERS:
        raise UnsupportedOperatorError(
            'ONNX operator %r%s: version %s (opset %s) is not supported; kzoo implements '
            'the versions since %s' % (op_type, where, since, opset,
                                       ', '.join(str(v) for v in versions)))
    return HANDLERS[key]


__all__ = ['onnx_op', 'find_handler', 'HANDLERS', 'Handler', 'UnsupportedOperatorError',
           'supported_operators', 'supported_versions']
