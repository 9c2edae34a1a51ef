"""Configuration values the run profile exposes (`[profiles.<name>.config]`)."""

from wit_world.imports import config as _config

from ._wit import call
from .errors import DeniedError

_MISSING = object()


def get(key, default=_MISSING):
    """The value of `key`; `default` when given and the profile does not expose the key,
    else `DeniedError`."""
    try:
        return call(_config.get, key)
    except DeniedError:
        if default is _MISSING:
            raise
        return default


def all():  # noqa: A001 - mirrors get-all
    """Every exposed key and value, as a dict."""
    return dict(_config.get_all())
