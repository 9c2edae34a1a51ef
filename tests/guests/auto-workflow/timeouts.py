"""A task that outlives its timeout, seen by a dependent under the `continue` policy."""
from auto_workflow import flow, task
from auto_workflow.connectors import postgres


@task(timeout=0.5)
def slow(seconds):
    with postgres.client("default") as db:
        db.query_value("SELECT pg_sleep(%s)", (seconds,))
    return seconds


@task
def report_timeout(value):
    if isinstance(value, Exception):
        return {"error": type(value).__name__, "task": value.task_name,
                "original": type(value.original).__name__, "inner": type(value.original.original).__name__}
    return {"value": value}


@flow
def timeout_flow():
    return report_timeout(slow(5))
