"""Cache hits: identical calls within the TTL share one result."""
import uuid

from auto_workflow import flow, task


@task(cache_ttl=60)
def token(name):
    return f"{name}-{uuid.uuid4()}"


@task
def same(a, b, c):
    return {"a_is_b": a == b, "a_is_c": a == c}


@flow
def cache_flow():
    return same(token("x"), token("x"), token("y"))
