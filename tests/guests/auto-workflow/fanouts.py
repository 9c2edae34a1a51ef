"""Fan-outs: static, dynamic over a task's result (with a per-fan-out bound), nested, and an
aggregate over the results."""
from auto_workflow import fan_out, flow, task


@task
def numbers(n):
    return list(range(1, n + 1))


@task
def square(x):
    return x * x


@task
def double(x):
    return 2 * x


@task
def total(values):
    return sum(values)


@task
def describe_all(values):
    return {"count": len(values), "max": max(values) if values else None, "values": sorted(values)}


@flow
def dynamic_fanout(n: int = 5):
    squares = fan_out(square, numbers(n), max_concurrency=2)
    return total(squares)


@flow
def nested_fanout(n: int = 4):
    doubled = fan_out(double, fan_out(square, numbers(n)))
    return describe_all(doubled)


@flow
def static_fanout():
    squares = fan_out(square, [1, 2, 3, 4], max_concurrency=2)
    return {"squares": squares, "total": total(squares)}


@task
def nap(x):
    from auto_workflow.connectors import postgres

    with postgres.client("default") as db:
        db.query_value("SELECT pg_sleep(0.3)")
    return x


@flow
def bounded_fanout():
    """Four naps of 0.3 s, at most two at once (tests/auto_workflow.rs reads the events)."""
    return fan_out(nap, numbers(4), max_concurrency=2)
