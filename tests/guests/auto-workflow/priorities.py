"""Priorities: with one slot, ready tasks start highest priority first. Each task records its
start in Postgres (every task runs in its own instance, so no memory is shared)."""
from auto_workflow import flow, task
from auto_workflow.connectors import postgres

TABLE = "aw_awf_priorities"


def record(name):
    with postgres.client("default") as db:
        db.execute(f"INSERT INTO {TABLE} (name) VALUES (%s)", (name,))
    return name


@task
def prepare_priorities():
    with postgres.client("default") as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (n serial PRIMARY KEY, name text)")
        db.execute(f"TRUNCATE {TABLE}")
    return TABLE


@task(priority=1)
def low(table):
    return record("low")


@task(priority=5)
def high(table):
    return record("high")


@task(priority=3)
def mid(table):
    return record("mid")


@task
def started_order(done):
    with postgres.client("default") as db:
        return [row["name"] for row in db.query(f"SELECT name FROM {TABLE} ORDER BY n")]


@flow
def prioritised():
    table = prepare_priorities()
    return started_order([low(table), mid(table), high(table)])
