"""Python values across instances: every task runs in its own sandboxed instance, so its
arguments and its result travel as JSON. This encoding keeps the types JSON lacks
(`datetime`, `date`, `time`, `timedelta`, `Decimal`, `bytes`, `UUID`, `tuple`, `set`,
`frozenset`, dicts with non-string keys, non-finite floats, `ArtifactRef`) as one-key-plus-value
objects, `{"$aw-type": "decimal", "v": "1.10"}`, that `decode` turns back.

`plain` is what a flow's result becomes for `aw-run`'s output: ordinary JSON, the way
`aw.dumps` writes these types (ISO dates, numbers for decimals, hex for bytes).

This module imports nothing of the runtime, so tools outside the sandbox (the fixture
recorder) can load it by path.
"""

import base64
import datetime
import decimal
import json
import math
import uuid

TAG = "$aw-type"
#: Keys the host or this encoding reserve: a dict with such a key is sent in the tagged form.
RESERVED_PREFIX = "$aw-"


class Placeholder:
    """Stands for the result of the `index`-th task a spawn waits for: the host puts that
    result where this encodes (`{"$aw-dep": index}`)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _tagged(kind, value):
    return {TAG: kind, "v": value}


def encode(value, _depth=0):
    """`value` as JSON-able data that `decode` turns back into the same Python value."""
    if _depth > 200:
        raise ValueError("a value nested more than 200 levels deep cannot be passed between tasks")
    d = _depth + 1
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _tagged("float", repr(value))
    if isinstance(value, Placeholder):
        return {"$aw-dep": value.index}
    if isinstance(value, list):
        return [encode(v, d) for v in value]
    if isinstance(value, tuple):  # a namedtuple travels as a plain tuple
        return _tagged("tuple", [encode(v, d) for v in value])
    if isinstance(value, frozenset):
        return _tagged("frozenset", [encode(v, d) for v in value])
    if isinstance(value, set):
        return _tagged("set", [encode(v, d) for v in value])
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith(RESERVED_PREFIX) for k in value):
            return {k: encode(v, d) for k, v in value.items()}
        return _tagged("dict", [[encode(k, d), encode(v, d)] for k, v in value.items()])
    if isinstance(value, datetime.datetime):
        return _tagged("datetime", value.isoformat())
    if isinstance(value, datetime.date):
        return _tagged("date", value.isoformat())
    if isinstance(value, datetime.time):
        return _tagged("time", value.isoformat())
    if isinstance(value, datetime.timedelta):
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, decimal.Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return _tagged("uuid", str(value))
    if isinstance(value, bytearray):
        return _tagged("bytearray", base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, (bytes, memoryview)):
        return _tagged("bytes", base64.b64encode(bytes(value)).decode("ascii"))
    to_tagged = getattr(value, "__aw_encode__", None)
    if to_tagged is not None:
        kind, payload = to_tagged()
        return _tagged(kind, encode(payload, d))
    raise TypeError(
        f"a value of type {type(value).__name__} cannot be passed between tasks (each task runs in "
        "its own instance): pass JSON types, datetime, date, time, timedelta, Decimal, bytes, UUID, "
        "tuple, set or dict, or persist=True to store it as an artifact")


_DECODERS = {
    "float": float,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "dict": lambda pairs: {_hashable(k): v for k, v in pairs},
    "datetime": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
    "timedelta": lambda p: datetime.timedelta(days=p[0], seconds=p[1], microseconds=p[2]),
    "decimal": decimal.Decimal,
    "uuid": uuid.UUID,
    "bytes": lambda s: base64.b64decode(s),
    "bytearray": lambda s: bytearray(base64.b64decode(s)),
}

#: Extra tagged kinds (name -> function of the decoded payload), registered by other modules
#: (artifact references).
EXTRA_DECODERS = {}


def _hashable(key):
    """A decoded dict key: lists (how JSON carries tuples inside pairs) become tuples."""
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def _revive(obj):
    """Decodes one JSON object (inner objects are decoded already)."""
    if len(obj) == 2 and TAG in obj and "v" in obj:
        kind = obj[TAG]
        decoder = _DECODERS.get(kind) or EXTRA_DECODERS.get(kind)
        if decoder is None:
            raise ValueError(f"unknown value type {kind!r} in a task's input or result")
        return decoder(obj["v"])
    return obj


def decode(data):
    """The Python value `encode` made `data` from (already parsed JSON)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        return _revive({k: decode(v) for k, v in data.items()})
    return data


def object_hook(obj):
    """A `json.loads` hook for encoded values (objects arrive innermost first)."""
    return _revive(obj)


def plain(value, _depth=0):
    """`value` as ordinary JSON data, for a flow's output: what a JSON reader of `aw-run`'s
    result sees. Tuples and sets become lists, dict keys strings, dates ISO text, decimals
    numbers, bytes hex, UUIDs text, non-finite floats null."""
    if _depth > 200:
        raise ValueError("a result nested more than 200 levels deep")
    d = _depth + 1
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [plain(v, d) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [plain(v, d) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, dict):
        return {_plain_key(k): plain(v, d) for k, v in value.items()}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return repr(value)  # an exception (a failed task's value under `continue`), an ArtifactRef


def _plain_key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)  # as json.dumps writes such keys: true, null, 1, 1.5
    return str(plain(key))
