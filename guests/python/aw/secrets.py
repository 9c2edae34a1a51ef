"""Secrets the run profile grants by name. A missing or ungranted secret raises, never
returns None (the Python package's silent null)."""

from wit_world.imports import secrets as _secrets

from ._wit import call


class Secret:
    """A secret held by the host; `str()` and `repr()` show `***`, `reveal()` the value."""

    def __init__(self, name, handle):
        self.name = name
        self._handle = handle

    def reveal(self):
        return self._handle.reveal()

    def __repr__(self):
        return f"Secret({self.name!r}, ***)"

    def __str__(self):
        return "***"


def get(name):
    """The secret `name`; `DeniedError` unless the run profile lists it."""
    return Secret(name, call(_secrets.get, name))
