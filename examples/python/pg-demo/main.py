"""pg-demo in Python: the `auto_workflow` package's end-to-end example (set up a table,
insert 0..4, sum them: 10) as tasks of a flow, with the same output as the Rust example."""

from aw import config, flow, log, postgres, task


@task
def setup(table):
    with postgres.client() as db:
        db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, value int4 NOT NULL)")
    return table


@task
def insert(table, values):
    with postgres.client() as db:
        return db.executemany(f"INSERT INTO {table} (value) VALUES (%s)", [(v,) for v in values])


@task
def total(table):
    with postgres.client() as db:
        return db.query_value(f"SELECT sum(value)::int8 FROM {table}")


@flow
def pg_demo():
    table = config.get("table")
    ready = setup(table)                       # passing a future waits for it
    inserted = insert(ready, list(range(5))).result()
    result = total(table).result()
    log.info("inserted %d rows into %s; sum = %s", inserted, table, result)
    return {"inserted": inserted, "sum": result}
