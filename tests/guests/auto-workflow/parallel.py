"""Futures passed as arguments do not serialize the flow: six extracts of 0.5 s feeding six
loads."""
from auto_workflow import flow, task
from auto_workflow.connectors import postgres


@task
def extract_day(i):
    with postgres.client("default") as db:
        db.query_value("SELECT pg_sleep(0.5)")
    return [i, i * 10, i * 100]


@task
def load_day(rows):
    return 1000 + sum(rows)


@flow
def six_days():
    return [load_day(extract_day(d)) for d in range(6)]
