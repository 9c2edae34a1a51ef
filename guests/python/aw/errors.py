"""Connector errors as Python exceptions, named like the `auto_workflow` package's.

Every failed host call raises a subclass of `ConnectorError` carrying the error kind, the
remote system's code (SQLSTATE, Azure error code) and a message that never holds a secret.
"""

from wit_world.imports import types as _types


class ConnectorError(Exception):
    """A classified failure of a host call or of a task."""

    kind = "permanent"

    def __init__(self, message, *, code=None, retryable=None, kind=None):
        super().__init__(message)
        self.message = message
        self.code = code
        if kind is not None:
            self.kind = kind
        self.retryable = (self.kind in ("transient", "timeout")) if retryable is None else retryable

    @property
    def outcome_unknown(self):
        """The connection broke while a commit was in flight (SQLSTATE 08007): the server may
        have committed or not. Retry only work that is idempotent (README, Retries and
        idempotency)."""
        return self.code == "08007"

    def __str__(self):
        code = f" [{self.code}]" if self.code else ""
        return f"{self.kind}{code}: {self.message}"


class ConfigError(ConnectorError):
    """The host's configuration for this capability is missing or wrong."""
    kind = "config"


class DeniedError(ConnectorError):
    """The run profile does not grant this capability."""
    kind = "denied"


class AuthError(ConnectorError):
    """The remote system rejected the credentials."""
    kind = "auth"


class NotFoundError(ConnectorError):
    """The named table, path or key does not exist."""
    kind = "not-found"


class ConflictError(ConnectorError):
    """The operation conflicts with existing state (unique key, existing path)."""
    kind = "conflict"


class TimeoutError(ConnectorError):  # noqa: A001 - the Python package's name
    """A deadline passed."""
    kind = "timeout"


class TransientError(ConnectorError):
    """A failure that may go away on retry."""
    kind = "transient"


class PermanentError(ConnectorError):
    """A failure that will not go away on retry."""
    kind = "permanent"


class InvalidInputError(ConnectorError):
    """The guest passed a value the host or the remote system cannot accept."""
    kind = "invalid-input"


class LimitError(ConnectorError):
    """A run limit was reached."""
    kind = "limit"


_BY_KIND = {cls.kind: cls for cls in (
    ConfigError, DeniedError, AuthError, NotFoundError, ConflictError, TimeoutError,
    TransientError, PermanentError, InvalidInputError, LimitError)}

_WIT_KINDS = {
    "config": _types.ErrorKind.CONFIG,
    "denied": _types.ErrorKind.DENIED,
    "auth": _types.ErrorKind.AUTH,
    "not-found": _types.ErrorKind.NOT_FOUND,
    "conflict": _types.ErrorKind.CONFLICT,
    "timeout": _types.ErrorKind.TIMEOUT,
    "transient": _types.ErrorKind.TRANSIENT,
    "permanent": _types.ErrorKind.PERMANENT,
    "invalid-input": _types.ErrorKind.INVALID_INPUT,
    "limit": _types.ErrorKind.LIMIT,
}
_KIND_NAMES = {v: k for k, v in _WIT_KINDS.items()}


def from_wit(error):
    """The exception for a WIT `connector-error`."""
    return of_kind(_KIND_NAMES.get(error.kind, "permanent"), error.message, error.code, error.retryable)


def of_kind(kind, message, code=None, retryable=False):
    """The exception of error kind `kind` (its name, as in `ConnectorError.kind`)."""
    return _BY_KIND.get(kind, PermanentError)(message, code=code, retryable=retryable)


def _underlying(exc):
    """The `ConnectorError` behind `exc`: itself, or one that a library wrapped (SQLAlchemy's
    `DBAPIError.orig`, an `aw.dbapi` error's `connector_error`, a `raise ... from`)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ConnectorError):
            return exc
        exc = getattr(exc, "connector_error", None) or getattr(exc, "orig", None) or exc.__cause__
        seen += 1
    return None


def to_wit(exc):
    """The WIT `connector-error` for any exception a guest raised. One that wraps a host
    error keeps its kind, code and retryability (a deadlock seen through SQLAlchemy is still
    transient)."""
    if isinstance(exc, ConnectorError):
        return _types.ConnectorError(_WIT_KINDS.get(exc.kind, _types.ErrorKind.PERMANENT),
                                     exc.message, exc.code, bool(exc.retryable))
    text = str(exc)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    cause = _underlying(exc)
    if cause is not None:
        return _types.ConnectorError(_WIT_KINDS.get(cause.kind, _types.ErrorKind.PERMANENT),
                                     message, cause.code, bool(cause.retryable))
    return _types.ConnectorError(_types.ErrorKind.PERMANENT, message, None, False)
