"""`auto_workflow.connectors` over the host's connectors: `get(name, profile)`,
`postgres.client(profile)`, `adls2.client(profile)` and the exception classes. The host holds
the credentials and the pools; a profile is usable when the run profile grants it."""

from aw.errors import (AuthError, ConfigError, ConflictError, ConnectorError, DeniedError, InvalidInputError,
                       LimitError, NotFoundError, PermanentError, TimeoutError, TransientError)

from . import adls2, postgres

_CLIENTS = {"postgres": postgres.client, "adls2": adls2.client}


def get(name, profile="default"):
    """The client of connector `name` (`postgres`, `adls2`) for `profile`."""
    try:
        make = _CLIENTS[name]
    except KeyError:
        raise ConfigError(f"no connector named {name!r} (known: {', '.join(sorted(_CLIENTS))})") from None
    return make(profile)


__all__ = [
    "get", "postgres", "adls2", "ConnectorError", "TransientError", "PermanentError", "AuthError",
    "TimeoutError", "ConfigError", "NotFoundError", "ConflictError", "DeniedError", "InvalidInputError",
    "LimitError",
]
