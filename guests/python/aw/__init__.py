"""auto-workflow's Python guest SDK: tasks and flows in Python, run by `aw-run` as sandboxed
WebAssembly components, with the host's Postgres and ADLS Gen2 connectors.

    from aw import postgres, adls2, config, secrets, log, task, flow
    from aw import dbapi          # PEP 249 over the host's pools (SQLAlchemy's postgresql+aw)

The module of a guest is imported when the component is built (componentize-py snapshots
it): keep connector calls inside functions, not at module level.
"""

from . import adls2, config, dbapi, log, postgres, secrets
from .errors import (AuthError, ConfigError, ConflictError, ConnectorError, DeniedError,
                     InvalidInputError, LimitError, NotFoundError, PermanentError,
                     TimeoutError, TransientError)
from .flows import TaskFuture, attempt_info, flow, gather, task

__all__ = [
    "adls2", "config", "dbapi", "log", "postgres", "secrets", "task", "flow", "gather", "attempt_info", "TaskFuture",
    "ConnectorError", "ConfigError", "DeniedError", "AuthError", "NotFoundError", "ConflictError",
    "TimeoutError", "TransientError", "PermanentError", "InvalidInputError", "LimitError",
]
