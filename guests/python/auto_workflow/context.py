"""`get_context()`: the run a task or flow belongs to, as the host tells every instance of it
(`run_id`, `flow_name`, `start_time`, `params` from `aw-run --params`, and a `logger` whose
records go to the host's log)."""

import json
import logging

from wit_world.imports import tasks as _tasks

from aw import log as _aw_log


class RunContext:
    """What `get_context()` returns; the same in every instance of one run."""

    __slots__ = ("run_id", "flow_name", "start_time", "params", "logger", "failure_policy", "task_key",
                 "attempt_key")

    def __init__(self, run_id, flow_name, start_time, params, logger, failure_policy, attempt=None):
        self.run_id = run_id
        self.flow_name = flow_name
        self.start_time = start_time
        self.params = params
        self.logger = logger
        self.failure_policy = failure_policy
        # Beyond the package: idempotency keys of the task attempt this instance runs (None in
        # the flow). `task_key` is the same for every attempt and redelivery of the task.
        self.task_key = attempt.task_key if attempt else None
        self.attempt_key = attempt.attempt_key if attempt else None

    def __repr__(self):
        return f"RunContext(run_id={self.run_id!r}, flow_name={self.flow_name!r}, params={self.params!r})"


class _HostLogHandler(logging.Handler):
    """Sends `logging` records to the host's log (scrubbed of secret values there)."""

    _LEVELS = ((logging.ERROR, _aw_log.error), (logging.WARNING, _aw_log.warn), (logging.INFO, _aw_log.info))

    def emit(self, record):
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a bad log call must not fail the task
            text = str(record.msg)
        for level, send in self._LEVELS:
            if record.levelno >= level:
                send(text)
                return
        _aw_log.debug(text)


_logger = logging.getLogger("auto_workflow")
if not any(isinstance(h, _HostLogHandler) for h in _logger.handlers):
    _logger.addHandler(_HostLogHandler())
    _logger.setLevel(logging.INFO)
    _logger.propagate = False

_context = None
#: The flow this instance runs or builds, when it knows it better than the host (`describe`).
_flow_override = None


def get_context():
    """The current run's context (one host call per instance, then kept)."""
    global _context
    if _context is None:
        info = _tasks.run_info()
        try:
            params = json.loads(info.params or "{}")
        except ValueError:
            params = {}
        _context = RunContext(info.run_id, info.flow or "", info.started_ms / 1000.0,
                              params if isinstance(params, dict) else {}, _logger, info.failure_policy,
                              _tasks.attempt_info())
    if _flow_override is not None and _context.flow_name != _flow_override:
        _context.flow_name = _flow_override
    return _context
