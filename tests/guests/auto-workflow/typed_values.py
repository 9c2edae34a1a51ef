"""Values of every type the package passes between tasks, across instances."""
import datetime
import decimal
import uuid

from auto_workflow import flow, task


@task
def make():
    return {
        "datetime": datetime.datetime(2026, 12, 1, 13, 45, 6, 789000, tzinfo=datetime.timezone.utc),
        "naive": datetime.datetime(2026, 12, 1, 13, 45, 6),
        "date": datetime.date(2026, 2, 28),
        "time": datetime.time(23, 59, 58, 1),
        "timedelta": datetime.timedelta(days=2, seconds=3, microseconds=4),
        "decimal": decimal.Decimal("12345.678900"),
        "bytes": b"\x00\xffbytes",
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "tuple": (1, "two", (3.0,)),
        "set": {1, 2, 3},
        "frozenset": frozenset({"a"}),
        "none": None,
        "int_keys": {1: "one", 2: "two"},
        "nested": [{"when": datetime.date(2020, 1, 1)}],
    }


@task
def nothing():
    return None


@task
def inspect(values, nothing_value):
    return {key: [type(value).__name__, repr(value)] for key, value in sorted(values.items())} | {
        "nothing_value": [type(nothing_value).__name__, repr(nothing_value)]}


@flow
def typed_flow():
    return inspect(make(), nothing())
