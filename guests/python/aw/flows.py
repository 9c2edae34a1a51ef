"""`@task` and `@flow` over the host's `tasks` interface.

Calling a task spawns it: the host runs it in a fresh sandboxed instance of this component,
concurrently with the caller, under its retry / timeout / cache options, and the call
returns a `TaskFuture` at once. `.result()` joins it. Passing a future as an argument to
another task does not block: the host starts that task once the future's task has succeeded,
with its result in place (`spawn-after`), so plain data-flow code runs in parallel (returning
a future from the flow joins it):

    @task(retries=3, timeout=30)
    def extract(day): ...

    @flow
    def daily(days):
        return [load(extract(d)) for d in days]
"""

import inspect
import json

from componentize_py_types import Err
from wit_world.imports import tasks as _tasks

from . import errors
from ._wit import call, dumps

_TASKS = {}
_FLOWS = []


def _ms(seconds):
    return None if seconds is None else int(seconds * 1000)


def _task_options(retries=None, backoff=None, backoff_factor=None, backoff_max=None, jitter=None,
                  timeout=None, cache_ttl=None, cache_key=None, priority=None):
    """WIT task options; times in seconds as the Python package takes them."""
    wit_backoff = None
    if any(v is not None for v in (backoff, backoff_factor, backoff_max, jitter)):
        wit_backoff = _tasks.Backoff(
            _ms(0.2 if backoff is None else backoff), float(2.0 if backoff_factor is None else backoff_factor),
            _ms(10 if backoff_max is None else backoff_max), True if jitter is None else bool(jitter), 0)
    return _tasks.TaskOptions(retries, wit_backoff, _ms(timeout), _ms(cache_ttl), cache_key, priority, None)


def _task_error(name, error):
    """The exception for a task that failed for good (kind of its last attempt's error)."""
    return _failed(errors.from_wit(error.error), name, error.attempts, error.limit, error.cancelled)


def _failed(exc, name, attempts, limit, cancelled):
    exc.task = name
    exc.attempts = attempts
    exc.limit = limit
    exc.cancelled = cancelled
    return exc


_FAILED = "$aw-error"


def _upstream_failures(obj):
    """`json.loads` hook: under the `continue` failure policy the host puts a failed
    dependency's error where its result would be, as `{"$aw-error": {...}}`; the task gets the
    exception that joining it would have raised."""
    failure = obj.get(_FAILED) if len(obj) == 1 else None
    if not isinstance(failure, dict):
        return obj
    exc = errors.of_kind(failure.get("kind"), failure.get("message", ""), failure.get("code"))
    return _failed(exc, failure.get("task"), failure.get("attempts", 0), failure.get("limit"),
                   bool(failure.get("cancelled")))


def decode_input(text):
    """A task's input JSON, a failed dependency's error (`continue`) as its exception."""
    return json.loads(text or "{}", object_hook=_upstream_failures)


class TaskFuture:
    """A spawned task. `result()` waits for it and returns its value or raises its error."""

    def __init__(self, name, handle):
        self.name = name
        self._handle = handle
        self._outcome = None

    def _settle(self, outcome):
        if self._outcome is None:
            self._outcome = outcome
            self._handle.__exit__(None, None, None)

    def result(self):
        if self._outcome is None:
            try:
                self._settle((True, json.loads(self._handle.join())))
            except Err as e:
                self._settle((False, _task_error(self.name, e.value)))
        ok, value = self._outcome
        if ok:
            return value
        raise value

    def cancel(self):
        """Cancels the task if it has not finished; `result()` then raises."""
        if self._outcome is None:
            self._handle.cancel()

    def done(self):
        return self._outcome is not None

    def __repr__(self):
        return f"<TaskFuture {self.name}>"


_DEP = "$aw-dep"


def _placeholders(value, after):
    """`value` with every unsettled `TaskFuture` inside it replaced by a placeholder for its
    result, and every settled one by its result. `after` maps each future's id to its index,
    in the order first met (dicts keep insertion order)."""
    if isinstance(value, TaskFuture):
        if value._outcome is not None:
            return value.result()
        index = after.setdefault(id(value), (len(after), value))[0]
        return {_DEP: index}
    if isinstance(value, (list, tuple)):
        return [_placeholders(v, after) for v in value]
    if isinstance(value, dict):
        return {k: _placeholders(v, after) for k, v in value.items()}
    return value


def resolve(value):
    """`value` with every `TaskFuture` inside it (lists, tuples, dicts) replaced by its result."""
    if isinstance(value, TaskFuture):
        return value.result()
    if isinstance(value, (list, tuple)):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def gather(*futures, return_exceptions=False):
    """Waits for every future (one host call); results in order. Raises the first failure
    that is not a cancellation (a fail-fast's cause, not a sibling it stopped), else the first
    cancellation, unless `return_exceptions`, which puts the exceptions in the list instead."""
    if len(futures) == 1 and isinstance(futures[0], (list, tuple)):
        futures = tuple(futures[0])
    pending = [f for f in futures if isinstance(f, TaskFuture) and f._outcome is None]
    if pending:
        for future, outcome in zip(pending, _tasks.join_all([f._handle for f in pending])):
            if isinstance(outcome, Err):
                future._settle((False, _task_error(future.name, outcome.value)))
            else:
                future._settle((True, json.loads(outcome.value)))
    if not return_exceptions:
        failed = [f._outcome[1] for f in futures if isinstance(f, TaskFuture) and not f._outcome[0]]
        if failed:
            raise next((e for e in failed if not getattr(e, "cancelled", False)), failed[0])
    results = []
    for f in futures:
        try:
            results.append(f.result() if isinstance(f, TaskFuture) else f)
        except errors.ConnectorError as exc:
            if not return_exceptions:
                raise
            results.append(exc)
    return results


class Task:
    """A function registered as a task of this component."""

    def __init__(self, fn, name, description, options):
        self.fn = fn
        self.name = name
        self.description = description
        self.defaults = options
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __call__(self, *args, **kwargs):
        """Spawns the task with these arguments; returns a `TaskFuture`."""
        return self._spawn(args, kwargs, None)

    def options(self, **options):
        """This task with other options for the next spawns: `extract.options(retries=5)(day)`."""
        merged = dict(self.defaults, **options)
        return lambda *args, **kwargs: self._spawn(args, kwargs, _task_options(**merged))

    def _spawn(self, args, kwargs, options):
        after = {}
        payload = dumps({"args": _placeholders(list(args), after), "kwargs": _placeholders(kwargs, after)})
        return spawn(self.name, payload, [future for _, future in after.values()], options)

    def run_local(self, *args, **kwargs):
        """Calls the function in this instance, without spawning (for tests and helpers)."""
        return self.fn(*args, **kwargs)

    def spec(self):
        """What `describe` says of the task."""
        return _tasks.TaskSpec(self.name, self.description, _task_options(**self.defaults))

    def run_input(self, input_text):
        """One attempt (the `run-task` export): the function on the decoded input."""
        payload = decode_input(input_text)
        if not isinstance(payload, dict):
            payload = {"args": [payload]}
        return dumps(resolve(self.fn(*payload.get("args", ()), **payload.get("kwargs", {}))))


def spawn(name, payload, after, options):
    """Spawns task `name` with JSON text `payload`, queued behind the `TaskFuture`s in `after`
    (its `{"$aw-dep": i}` placeholders stand for their results); returns its `TaskFuture`."""
    if after:
        handle = call(_tasks.spawn_after, name, payload, [f._handle for f in after], options)
    else:
        handle = call(_tasks.spawn, name, payload, options)
    return TaskFuture(name, handle)


def attempt_info():
    """The task attempt this instance runs, or None in the flow itself: `task`, `task_id`,
    `attempt`, and the idempotency keys `task_key` (the same for every attempt of the task and
    every redelivery to another worker: key a committed side effect on it and it cannot happen
    twice) and `attempt_key`."""
    return _tasks.attempt_info()


def register_task(task):
    """Adds a task (anything with `name`, `spec()` and `run_input(text)`) to the component."""
    if task.name in _TASKS:
        raise ValueError(f"two tasks are called {task.name!r}")
    _TASKS[task.name] = task
    return task


def register_flow(flow):
    """Adds a flow (anything with `name`, `description`, `run_input(text)` and, when it can
    build its graph without running it, `graph(text)`) to the component."""
    if any(f.name == flow.name for f in _FLOWS):
        raise ValueError(f"two flows are called {flow.name!r}")
    _FLOWS.append(flow)
    return flow


def task(fn=None, *, name=None, description=None, **options):
    """Registers a task. Options (defaults the host applies to every spawn): `retries`,
    `backoff` (first delay, seconds), `backoff_factor`, `backoff_max`, `jitter`,
    `timeout` (seconds per attempt), `cache_ttl` (seconds), `cache_key`, `priority`."""
    _task_options(**options)  # a wrong option name fails at build time, not at run time

    def register(f):
        return register_task(Task(f, name or f.__name__, description or _first_line(f.__doc__), options))

    return register(fn) if fn is not None else register


class _FunctionFlow:
    """A flow that is a plain function: it spawns and joins tasks as it runs."""

    def __init__(self, fn, name):
        self.fn = fn
        self.name = name
        self.description = _first_line(fn.__doc__)

    def run_input(self, input_text):
        return dumps(resolve(_call_with_input(self.fn, json.loads(input_text or "null"))))


def flow(fn=None, *, name=None):
    """Registers a flow: a function `aw-run` runs (`--flow NAME` picks one when a component
    has several). Its JSON input is passed as keyword arguments when it is an object whose
    keys the function accepts."""
    def register(f):
        register_flow(_FunctionFlow(f, name or f.__name__))
        return f

    return register(fn) if fn is not None else register


def _first_line(doc):
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _call_with_input(fn, value):
    """Calls the flow with its decoded JSON input."""
    params = inspect.signature(fn).parameters
    if not params:
        return fn()
    if isinstance(value, dict):
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        if takes_kwargs or all(k in params for k in value):
            return fn(**value)
    return fn(value)


def selected_flow(name):
    """The flow called `name`, or the only one when `name` is None."""
    if not _FLOWS:
        raise errors.ConfigError("this component registers no flow: decorate the function aw-run should run with @flow")
    if name is None:
        if len(_FLOWS) == 1:
            return _FLOWS[0]
        raise errors.InvalidInputError(
            f"this component has {len(_FLOWS)} flows; pick one with --flow: {', '.join(f.name for f in _FLOWS)}")
    for f in _FLOWS:
        if f.name == name:
            return f
    raise errors.InvalidInputError(f"this component has no flow {name!r} (it has: {', '.join(f.name for f in _FLOWS)})")


def run_flow(input_text):
    """Runs the flow `aw-run` picked (the `run` export)."""
    return selected_flow(_tasks.run_info().flow).run_input(input_text)


def run_task(name, input_text):
    """Runs one attempt of task `name` (the `run-task` export)."""
    task = _TASKS.get(name)
    if task is None:
        raise errors.InvalidInputError(f"this component has no task {name!r} (it has: {', '.join(sorted(_TASKS))})")
    return task.run_input(input_text)


def describe():
    """The registered tasks and their default options (the `describe` export)."""
    return [t.spec() for t in _TASKS.values()]


def flows():
    """The registered flows (the `flows` export)."""
    return [_tasks.FlowSpec(f.name, f.description) for f in _FLOWS]


def graph(name, input_text):
    """The graph flow `name` builds for `input_text`, without running a task (the `graph`
    export): JSON, or an error for a flow that builds its graph as it runs."""
    f = selected_flow(name)
    if not hasattr(f, "graph"):
        raise errors.InvalidInputError(
            f"flow {f.name!r} spawns its tasks as it runs, so its graph is known only from a run: "
            "draw one with aw-run graph EVENTS.jsonl from a run's --events")
    return f.graph(input_text)
