# The end-to-end example of ../shared/seed/connectors.md ("End-to-end example (tasks + flow)"),
# unchanged but for its indentation (spaces for tabs).
from auto_workflow import task, flow
from auto_workflow.connectors import postgres

PROFILE = "example"

@task
def setup(profile: str = PROFILE) -> str:
    t = "aw_docs_demo"
    with postgres.client(profile) as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {t} (v INT)")
    return t

@task
def insert_vals(tbl: str, profile: str = PROFILE):
    with postgres.client(profile) as db:
        db.executemany(f"INSERT INTO {tbl} (v) VALUES (%s)", [(i,) for i in range(5)])

@task
def sum_vals(tbl: str, profile: str = PROFILE) -> int:
    with postgres.client(profile) as db:
        return int(db.query_value(f"SELECT COALESCE(SUM(v),0) FROM {tbl}"))

@flow
def demo_flow(profile: str = PROFILE) -> int:
    t = setup(profile)
    insert_vals(t, profile)
    return sum_vals(t, profile)

if __name__ == "__main__":
    print(demo_flow.run(PROFILE))
