"""`@task`: a function the host runs in its own sandboxed instance, with the package's
options. Inside a flow's build, calling it records an invocation; anywhere else (inside
another task, say) it runs at once in the calling instance, as the package runs it.

Options and what the host does with them:
- `retries`, `retry_backoff`, `retry_jitter`: the host retries a failed attempt (any
  exception, as the package does) after `retry_backoff * 2**(n-1) + uniform(0, retry_jitter)`
  seconds; after the last, dependents see `RetryExhaustedError`.
- `timeout` (seconds): the host stops an attempt that runs longer (`TimeoutError`).
- `cache_ttl` (seconds), `cache_key_fn`: identical calls within the TTL share one result,
  `None` results included. A custom `cache_key_fn` is applied where the call's arguments are
  known when the flow spawns it; a call whose arguments hold other tasks' results is keyed
  by the host on its whole input.
- `priority`: among tasks waiting for a slot, higher runs first.
- `persist`: the result goes to the run's artifact store; dependents receive an
  `ArtifactRef` (`get_store().get(ref)` reads it).
- `tags`, `name`: kept for `describe`. `run_in`: accepted; every task runs in its own
  instance, so `async`, `thread` and `process` all mean that.
"""

import asyncio
import inspect
import json
import random
import sys
import time
import traceback

from wit_world.imports import tasks as _tasks

from aw import flows as _aw_flows

from . import exceptions, values
from .build import current_build_context

_MS_MAX = 2**32 - 1


def _ms(seconds, what):
    if seconds is None:
        return None
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"task option {what} must be a number of seconds >= 0, not {seconds!r}")
    return int(seconds * 1000)


def default_cache_key(fn, args, kwargs):
    """Marks "the host's key": a hash of the component, the task and its whole input."""
    return None


class TaskDefinition:
    """A registered task and its options."""

    def __init__(self, fn, *, name, retries, retry_backoff, retry_jitter, timeout, cache_ttl,
                 cache_key_fn, tags, run_in, persist, priority):
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"task option retries must be a whole number >= 0, not {retries!r}")
        self.name = name
        self.fn = fn
        self.original_fn = fn
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.retry_jitter = retry_jitter
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.cache_key_fn = cache_key_fn
        self.tags = set(tags or ())
        self.run_in = run_in or ("async" if inspect.iscoroutinefunction(fn) else "thread")
        self.persist = persist
        self.priority = priority
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self._options = self.options()  # a bad value fails at import, not at run time

    def options(self, cache_key=None, fan_out=None):
        """The host's task options for one spawn."""
        backoff = _tasks.Backoff(_ms(self.retry_backoff, "retry_backoff") or 0, 2.0, _MS_MAX, False,
                                 _ms(self.retry_jitter, "retry_jitter") or 0)
        ttl = _ms(self.cache_ttl, "cache_ttl")
        return _tasks.TaskOptions(self.retries, backoff, _ms(self.timeout, "timeout"), ttl, cache_key,
                                  int(self.priority or 0), fan_out)

    def cache_key(self, *args, **kwargs):
        """The cache key of a call, from `cache_key_fn` (None: the host's own key)."""
        return self.cache_key_fn(self.fn, args, kwargs)

    def __call__(self, *args, **kwargs):
        ctx = current_build_context()
        if ctx is not None:
            return ctx.register(self, args, kwargs)
        return self.run_here(args, kwargs)

    def run_here(self, args, kwargs):
        """Runs the function in this instance with the package's retries (outside a flow)."""
        attempt = 0
        while True:
            try:
                value = call_function(self.fn, args, kwargs)
                break
            except Exception as exc:  # noqa: BLE001 - the package retries any exception
                if attempt >= self.retries:
                    raise exceptions.RetryExhaustedError(self.name, exc) from exc
                attempt += 1
                time.sleep(self.delay(attempt))
        if self.persist:
            from .artifacts import get_store
            return get_store().put(value)
        return value

    def delay(self, attempt):
        """Seconds before retry `attempt` (1 for the first), as the package computes it."""
        wait = (self.retry_backoff or 0) * 2 ** (attempt - 1)
        return wait + random.uniform(0, self.retry_jitter) if self.retry_jitter else wait

    # The runtime's side of the task (aw.flows calls these).

    def spec(self):
        doc = (self.fn.__doc__ or "").strip()
        return _tasks.TaskSpec(self.name, doc.splitlines()[0] if doc else None, self._options)

    def run_input(self, input_text):
        """One attempt of the task (the `run-task` export): the function on its decoded
        arguments; the result encoded, or its exception reported so the host retries it."""
        payload = decode(input_text)
        if not isinstance(payload, dict):
            payload = {"args": [payload], "kwargs": {}}
        try:
            value = call_function(self.fn, payload.get("args", ()), payload.get("kwargs", {}))
            if self.persist:
                from .artifacts import get_store
                value = get_store().put(value)
            return encode(value)
        except Exception as exc:  # noqa: BLE001 - every exception is the task's failure
            traceback.print_exc(file=sys.stderr)
            reported = exceptions.to_host_error(exc, self.retries > 0)
            reported.aw_reported = True
            raise reported from None


def call_function(fn, args, kwargs):
    """Calls `fn`; a coroutine function's coroutine is run to its end."""
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable):
    return await awaitable


def encode(value):
    """A value as the JSON text a task's input or result travels in."""
    return json.dumps(values.encode(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                      allow_nan=False)


_FAILED = "$aw-error"


def _revive(obj):
    if len(obj) == 1 and isinstance(obj.get(_FAILED), dict):
        return upstream_failure(obj[_FAILED])
    return values.object_hook(obj)


def upstream_failure(failure):
    """The package's `TaskExecutionError` for a dependency that failed (the host's
    `{"$aw-error": ...}`, under the `continue` policy)."""
    from aw import errors as aw_errors

    task_name = failure.get("task") or "?"
    cause = aw_errors.of_kind(failure.get("kind"), str(failure.get("message", "")), failure.get("code"))
    cause.limit = failure.get("limit")
    return exceptions.TaskExecutionError(task_name, exceptions.from_task_failure(task_name, cause))


def decode(text):
    """A task's input or result: the Python values `encode` wrote, failed dependencies as
    `TaskExecutionError`s."""
    return json.loads(text or "null", object_hook=_revive)


def task(_fn=None, *, name=None, retries=0, retry_backoff=0.0, retry_jitter=0.0, timeout=None,
         cache_ttl=None, cache_key_fn=default_cache_key, tags=None, run_in=None, persist=False,
         priority=0):
    """Defines a task, bare (`@task`) or with options (`@task(retries=3)`)."""

    def wrap(fn):
        definition = TaskDefinition(
            fn, name=name or fn.__name__, retries=retries, retry_backoff=retry_backoff,
            retry_jitter=retry_jitter, timeout=timeout, cache_ttl=cache_ttl, cache_key_fn=cache_key_fn,
            tags=tags, run_in=run_in, persist=persist, priority=priority)
        _aw_flows.register_task(definition)
        return definition

    return wrap(_fn) if _fn is not None else wrap
