"""Python values to and from the WIT `postgres.value` variant.

Parameters: None, bool, int, float, Decimal, str, bytes, dict (json), list/tuple (arrays),
datetime (timestamptz when aware, else timestamp), date, time, timedelta (interval) and
UUID. The host converts each to the type the server inferred for its placeholder.
Columns come back as the matching Python type; numeric as Decimal (exact), interval as
its ISO 8601 text.
"""

import datetime
import decimal
import json
import uuid

from wit_world.imports import postgres as _pg

from .errors import InvalidInputError


def _interval(delta):
    micros = delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    return f"{sign}PT{micros // 1_000_000}.{micros % 1_000_000:06d}S"


def _scalar(value, ns, index):
    """One scalar in namespace `ns` ("Value_" or "Element_" classes of the bindings)."""
    c = lambda name: getattr(_pg, ns + name)  # noqa: E731
    if value is None:
        return c("Null")()
    if isinstance(value, bool):
        return c("Boolean")(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            return c("Numeric")(str(value))
        return c("Int64")(value)
    if isinstance(value, float):
        return c("Float64")(value)
    if isinstance(value, decimal.Decimal):
        return c("Numeric")(str(value))
    if isinstance(value, str):
        return c("Text")(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return c("Bytea")(bytes(value))
    if isinstance(value, dict):
        return c("Json")(json.dumps(value, separators=(",", ":")))
    if isinstance(value, datetime.datetime):
        return c("Timestamptz" if value.tzinfo is not None else "Timestamp")(value.isoformat())
    if isinstance(value, datetime.date):
        return c("Date")(value.isoformat())
    if isinstance(value, datetime.time):
        return c("Time")(value.isoformat())
    if isinstance(value, datetime.timedelta):
        return c("Interval")(_interval(value))
    if isinstance(value, uuid.UUID):
        return c("Uuid")(str(value))
    raise InvalidInputError(f"parameter ${index}: cannot send a {type(value).__name__} to PostgreSQL")


def to_param(value, index):
    """A parameter (1-based `index` for error messages)."""
    if isinstance(value, (list, tuple)):
        return _pg.Value_Array([_scalar(v, "Element_", index) for v in value])
    return _scalar(value, "Value_", index)


def params(values):
    return [to_param(v, i + 1) for i, v in enumerate(values or ())]


def _parse_time(text):
    try:
        return datetime.time.fromisoformat(text)
    except ValueError:
        return text


def _parse_datetime(text):
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:  # infinity, years beyond 9999
        return text


def _parse_date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return text


_DECODE = {
    "Boolean": None, "Int16": None, "Int32": None, "Int64": None, "Float32": None, "Float64": None,
    "Text": None, "Bytea": None, "Interval": None,
    "Numeric": decimal.Decimal, "Json": json.loads, "Uuid": uuid.UUID, "Date": _parse_date,
    "Time": _parse_time, "Timestamp": _parse_datetime, "Timestamptz": _parse_datetime,
}


def _plain(value):
    return value.value


def _converted(convert):
    return lambda value: convert(value.value)


# One decoder per binding class, looked up by `type(value)`: streams call this per cell.
_BY_CLASS = {}
for _ns in ("Value_", "Element_"):
    _BY_CLASS[getattr(_pg, _ns + "Null")] = lambda value: None
    for _name, _convert in _DECODE.items():
        _BY_CLASS[getattr(_pg, _ns + _name)] = _plain if _convert is None else _converted(_convert)
_BY_CLASS[_pg.Value_Array] = lambda value: [from_value(e) for e in value.value]


def from_value(value):
    """The Python value of a column (or array element)."""
    return _BY_CLASS[type(value)](value)


def row_dict(names, values):
    by_class = _BY_CLASS
    return {n: by_class[type(v)](v) for n, v in zip(names, values)}
