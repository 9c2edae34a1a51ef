"""The package's exception classes, with the attributes and messages its users rely on.

A task runs in its own instance, so the exception a dependent or the flow sees was rebuilt
from what the host reported: `original` is the task's exception when its type is a built-in
one (`ValueError('bad 1')` comes back as itself), otherwise a `RemoteTaskError` carrying the
type's name and the message. Host errors (`aw.ConnectorError` and subclasses) keep their kind
and code.
"""

import ast
import builtins

from aw import errors as _aw_errors


class AutoWorkflowError(Exception):
    """Base of the package's errors."""


class CycleDetectedError(AutoWorkflowError):
    def __init__(self, cycle):
        super().__init__(f"Cycle detected in DAG: {' -> '.join(cycle)}")
        self.cycle = cycle


class TaskExecutionError(AutoWorkflowError):
    """A task failed: `task_name` and the exception it failed with (`original`)."""

    def __init__(self, task_name, original):
        super().__init__(f"Task '{task_name}' failed: {original!r}")
        self.task_name = task_name
        self.original = original


class TimeoutError(TaskExecutionError):  # noqa: A001 - the package's name
    """A task's attempt ran past its `timeout`."""


class RetryExhaustedError(TaskExecutionError):
    """A task failed on every attempt its `retries` allowed."""


class InvalidGraphError(AutoWorkflowError):
    pass


class AggregateTaskError(AutoWorkflowError):
    """Every task that failed under the `aggregate` policy, in `errors`."""

    def __init__(self, errors):
        self.errors = errors
        shown = "; ".join(f"{e.task_name}: {e.original!r}" for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"Multiple task failures: {shown}{more}")


class RemoteTaskError(AutoWorkflowError):
    """A task's exception of a type that cannot be rebuilt here: its type name and message."""

    def __init__(self, type_name, message):
        super().__init__(message)
        self.type_name = type_name
        self.message = message

    def __repr__(self):
        return f"{self.type_name}({self.message!r})"


#: The error code of a task's failure that was a Python exception, not a host error: its
#: message is the exception's `repr`, which `rebuild` turns back.
PYTHON_EXCEPTION = "python-exception"


def to_host_error(exc, retryable):
    """The `aw` error a task attempt's exception is reported to the host as: a host error keeps
    its kind and code; any other exception becomes `permanent` with code `python-exception`
    and its `repr` as the message. `retryable`: the package retries every exception."""
    if isinstance(exc, _aw_errors.ConnectorError):
        return _aw_errors.of_kind(exc.kind, exc.message, exc.code, retryable or exc.retryable)
    wrapped = _aw_errors.PermanentError(repr(exc), code=PYTHON_EXCEPTION, retryable=retryable)
    return wrapped


def rebuild(text):
    """The exception `describe_exception` described: a built-in exception type with literal
    arguments comes back as itself, anything else as a `RemoteTaskError`."""
    name, sep, rest = text.partition("(")
    if sep and rest.endswith(")") and name.isidentifier():
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                args = ast.literal_eval(f"({rest[:-1]},)") if rest[:-1].strip() else ()
                return cls(*args)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
        return RemoteTaskError(name, rest[:-1])
    return RemoteTaskError("Exception", text)


def from_task_failure(task_name, exc):
    """The package's error for task `task_name` that failed for good with `exc` (an
    `aw.ConnectorError` with `.limit`): `TimeoutError` when its timeout ended the last attempt,
    else `RetryExhaustedError` around the task's own exception."""
    if getattr(exc, "limit", None) == "timeout":
        return TimeoutError(task_name, builtins.TimeoutError(exc.message))
    return RetryExhaustedError(task_name, original_of(exc))


def original_of(exc):
    """The task's own exception inside the host's error for it."""
    if isinstance(exc, _aw_errors.ConnectorError) and exc.code == PYTHON_EXCEPTION:
        return rebuild(exc.message)
    return exc
