"""One failing branch, a task that depends on it, and an independent branch that writes to
Postgres: what each failure policy makes of them."""
from auto_workflow import flow, task
from auto_workflow.connectors import postgres

TABLE = "aw_awf_policies"


@task
def prepare_policies():
    with postgres.client("default") as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (branch text)")
        db.execute(f"TRUNCATE {TABLE}")
    return TABLE


@task
def explode(table):
    raise RuntimeError("the failing branch")


@task
def after_failure(value, table):
    with postgres.client("default") as db:
        db.execute(f"INSERT INTO {TABLE} VALUES ('dependent')")
    return f"got {type(value).__name__}"


@task
def independent(table):
    with postgres.client("default") as db:
        db.query_value("SELECT pg_sleep(0.3)")
        db.execute(f"INSERT INTO {TABLE} VALUES ('independent')")
    return "independent done"


@task
def also_fails(table):
    with postgres.client("default") as db:
        db.query_value("SELECT pg_sleep(0.2)")  # after explode: the failures have an order
    raise ValueError("a second failure")


@flow
def policy_flow():
    table = prepare_policies()
    failed = explode(table)
    return {"dependent": after_failure(failed, table), "independent": independent(table),
            "second": also_fails(table)}
