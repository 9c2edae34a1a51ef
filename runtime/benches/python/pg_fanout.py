"""The Python `auto-workflow` 0.1.2 package's Postgres fan-out ETL, the baseline of the pg-fanout
comparison in runtime/benches/flows.rs.

The same flow as the package's own example (examples/postgres_fanout_flow.py upstream, on its raw
SQL path, as it runs when SQLAlchemy is not installed): create the input and summary tables, seed
five rows, fan out one task per category that aggregates it, write the summary, read it back and
print it. Its connection comes from the package's env overlay, e.g.
AUTO_WORKFLOW_CONNECTORS_POSTGRES_EXAMPLE__DSN=postgresql://user@host:port/db. Prints the
`Summary rows: [...]` line that examples/pg-fanout reproduces.
"""

from __future__ import annotations

from auto_workflow import fan_out, flow, task
from auto_workflow.connectors import postgres

PROFILE = "example"
SEED = [("alpha", 10.0), ("alpha", 15.0), ("beta", 7.0), ("beta", 3.0), ("gamma", 5.0)]


@task
def ensure_schema() -> None:
    with postgres.client(PROFILE) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS etl_input "
            "(id SERIAL PRIMARY KEY, category TEXT NOT NULL, amount NUMERIC NOT NULL)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS etl_summary "
            "(category TEXT PRIMARY KEY, total NUMERIC NOT NULL, count INT NOT NULL)"
        )


@task
def seed_input() -> list[str]:
    with postgres.client(PROFILE) as db:
        db.execute("DELETE FROM etl_input")
        db.executemany("INSERT INTO etl_input (category, amount) VALUES (%s, %s)", SEED)
    return sorted({category for category, _ in SEED})


@task
def category_stats(category: str) -> dict:
    with postgres.client(PROFILE) as db:
        row = db.query(
            "SELECT %s AS category, SUM(amount)::float AS total, COUNT(*)::int AS count "
            "FROM etl_input WHERE category = %s GROUP BY category",
            (category, category),
            fetch="one",
        )
    return {"category": row["category"], "total": row["total"], "count": row["count"]}


@task
def write_summary(stats: list[dict]) -> int:
    rows = [(s["category"], float(s["total"]), int(s["count"])) for s in stats]
    with postgres.client(PROFILE) as db:
        db.execute("DELETE FROM etl_summary")
        db.executemany("INSERT INTO etl_summary (category, total, count) VALUES (%s, %s, %s)", rows)
    return len(rows)


@task
def read_summary() -> list[dict]:
    with postgres.client(PROFILE) as db:
        return db.query(
            "SELECT category, total::float AS total, count::int AS count FROM etl_summary ORDER BY category"
        )


@flow
def postgres_fanout():
    ensure_schema()
    stats = fan_out(category_stats, seed_input())
    write_summary(stats)
    return read_summary()


if __name__ == "__main__":
    print("Summary rows:", postgres_fanout.run())
