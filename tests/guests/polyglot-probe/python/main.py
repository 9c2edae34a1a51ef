"""A Python probe for tests/polyglot.rs: limits, exceptions, secrets and tasks, chosen by
the input's `mode`."""

from aw import NotFoundError, TransientError, flow, gather, log, postgres, secrets, task


@task(retries=2, backoff=0.01, jitter=False)
def flaky(n):
    raise TransientError(f"attempt failed for {n}", code="X-FLAKY")


@task(description="Doubles a number.")
def double(n):
    return n * 2


@task
def total(values):
    return sum(values)


def bench_select(rows):
    """`rows` round trips of `SELECT $1::int8` (runtime/benches/polyglot.rs)."""
    total = 0
    with postgres.client() as db:
        for i in range(rows):
            total += db.query_value("SELECT %s::int8", (i,))
    return {"sum": total}


def bench_stream(rows):
    """A `rows`-row query-stream with a 100-character text column (runtime/benches/polyglot.rs)."""
    count = total = 0
    with postgres.client() as db:
        sql = "SELECT g::int8 AS n, repeat('x', 100) AS pad FROM generate_series(1, %s::int8) g"
        for row in db.query_iter(sql, (rows,), size=5000):
            count += 1
            total += row["n"]
    return {"count": count, "sum": total}


@flow
def probe(mode, bytes=0, rows=0):
    if mode == "echo":
        return {"mode": mode}
    if mode == "loop":
        while True:
            pass
    if mode == "alloc":
        block = bytearray(bytes)
        return {"allocated": len(block)}
    if mode == "secret-leak":
        token = secrets.get("api-token").reveal()
        log.info(f"the secret is {token}")
        raise ValueError(f"failing with the secret {token} in the message")
    if mode == "not-found":
        raise NotFoundError("no such partition", code="P-404")
    if mode == "missing-secret":
        return secrets.get("not-granted").reveal()
    if mode == "bench-select":
        return bench_select(rows)
    if mode == "bench-stream":
        return bench_stream(rows)
    if mode == "tasks":
        doubled = gather([double(n) for n in range(1, 6)])
        summed = total([double(10), double(11)]).result()  # futures inside arguments are joined
        try:
            flaky(7).result()
            failed = None
        except TransientError as e:
            failed = {"kind": e.kind, "code": e.code, "attempts": e.attempts, "task": e.task}
        return {"doubled": doubled, "summed": summed, "flaky": failed}
    raise ValueError(f"unknown mode {mode!r}")
