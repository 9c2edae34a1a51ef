"""Retries of plain exceptions: a task that fails twice with ValueError and then succeeds,
and one that never does. Attempts are counted in Postgres (each attempt is a fresh instance)."""
from auto_workflow import FailurePolicy, flow, task  # noqa: F401
from auto_workflow.connectors import postgres

TABLE = "aw_awf_attempts"


def attempt(key):
    with postgres.client("default") as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, n int NOT NULL)")
        return db.query_value(
            f"INSERT INTO {TABLE} VALUES (%s, 1) ON CONFLICT (key) DO UPDATE SET n = {TABLE}.n + 1 RETURNING n",
            (key,))


@task(retries=3, retry_backoff=0.05, retry_jitter=0.02)
def flaky(key, fail_times):
    n = attempt(key)
    if n <= fail_times:
        raise ValueError(f"attempt {n} of {key} fails")
    return n


@task(retries=1, retry_backoff=0.01)
def hopeless(key):
    n = attempt(key)
    raise KeyError(f"{key}: attempt {n}")


@task
def report(value):
    if isinstance(value, Exception):
        return {"error": type(value).__name__, "task": value.task_name, "original": repr(value.original)}
    return {"value": value}


@flow
def flaky_flow(key: str = "flaky"):
    return flaky(key, 2)


@flow
def exhausted_flow(key: str = "hopeless"):
    return report(hopeless(key))
