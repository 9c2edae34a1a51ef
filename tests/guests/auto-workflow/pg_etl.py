"""A Postgres ETL with a fan-out: one extract per region, a transform each, one load."""
from auto_workflow import fan_out, flow, task
from auto_workflow.connectors import postgres

SOURCE = "aw_awf_sales"
TARGET = "aw_awf_region_totals"


@task
def seed():
    with postgres.client("default") as db:
        db.execute(f"DROP TABLE IF EXISTS {SOURCE}")
        db.execute(f"CREATE TABLE {SOURCE} (region text, amount numeric(10,2))")
        rows = [(region, f"{i}.{i % 10}5") for i, region in enumerate(["north", "south", "east", "west"] * 5, start=1)]
        db.executemany(f"INSERT INTO {SOURCE} VALUES (%s, %s)", rows)
        db.execute(f"DROP TABLE IF EXISTS {TARGET}")
        db.execute(f"CREATE TABLE {TARGET} (region text PRIMARY KEY, total numeric(12,2), n int)")
    return ["east", "north", "south", "west"]


@task
def extract(region):
    with postgres.client("default") as db:
        rows = db.query(f"SELECT amount FROM {SOURCE} WHERE region = %s ORDER BY amount", (region,))
    return {"region": region, "amounts": [row["amount"] for row in rows]}


@task
def transform(batch):
    amounts = batch["amounts"]
    return {"region": batch["region"], "total": sum(amounts), "n": len(amounts)}


@task
def load(results):
    with postgres.client("default") as db:
        with db.transaction():
            for r in results:
                db.execute(f"INSERT INTO {TARGET} VALUES (%s, %s, %s)", (r["region"], r["total"], r["n"]))
        rows = db.query(f"SELECT region, total, n FROM {TARGET} ORDER BY region")
    return [[row["region"], str(row["total"]), row["n"]] for row in rows]


@flow
def etl():
    regions = seed()
    batches = fan_out(extract, regions)
    totals = fan_out(transform, batches)
    return load(totals)
