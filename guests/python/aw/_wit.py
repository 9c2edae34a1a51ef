"""Glue shared by the SDK modules: turning WIT `Err`s into exceptions, and JSON in the
same compact, key-sorted form the Rust SDK (serde_json) writes, so that a result is the
same text whichever language produced it."""

import datetime
import decimal
import json
import uuid

from componentize_py_types import Err

from . import errors


def call(function, *args):
    """Calls a host function, raising the matching `ConnectorError` on a WIT error."""
    try:
        return function(*args)
    except Err as e:
        raise errors.from_wit(e.value) from None


def drain(resource, pull, at_end=None):
    """Yields `pull()`'s results (WIT errors raised) until it returns None, calls `at_end`
    then, and drops `resource` (also when the consumer stops early)."""
    try:
        while True:
            item = call(pull)
            if item is None:
                if at_end is not None:
                    at_end()
                return
            yield item
    finally:
        resource.__exit__(None, None, None)


class Handle:
    """An SDK object over one WIT resource (`self._h`): `close()` drops it, and so does
    leaving a `with` block."""

    def close(self):
        self._h.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False


def _default(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value):
    """`value` as compact JSON with sorted keys."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_default)


def loads(text):
    return json.loads(text)
