"""persist=True: the result goes to the artifact store (a directory, `artifact_store =
"filesystem"`), the dependent receives an ArtifactRef and reads the value back."""
import datetime

from auto_workflow import flow, task
from auto_workflow.artifacts import get_store


@task(persist=True)
def produce(n):
    return {"rows": list(range(n)), "when": datetime.date(2026, 1, 1)}


@task
def consume(ref):
    value = get_store().get(ref)
    return {"ref_type": type(ref).__name__, "rows": len(value["rows"]), "when": value["when"]}


@flow
def persist_flow():
    return consume(produce(5))
