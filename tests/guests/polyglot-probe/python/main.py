"""A Python probe for tests/polyglot.rs: limits, exceptions, secrets and tasks, chosen by
the input's `mode`."""

from aw import (ConflictError, ConnectorError, NotFoundError, PermanentError, TimeoutError, TransientError, adls2,
                attempt_info, config, flow, gather, log, postgres, secrets, task)


@task(retries=2, backoff=0.01, jitter=False)
def flaky(n):
    raise TransientError(f"attempt failed for {n}", code="X-FLAKY")


@task(retries=1, backoff=0.01, jitter=False)
def keys():
    """Its first attempt fails; the second returns the attempt's identity and idempotency keys."""
    info = attempt_info()
    if info.attempt == 1:
        raise TransientError("the first attempt fails on purpose")
    return {"task": info.task, "task_id": info.task_id, "attempt": info.attempt, "task_key": info.task_key,
            "attempt_key": info.attempt_key}


@task(description="Doubles a number.")
def double(n):
    return n * 2


@task
def total(values):
    return sum(values)


@task
def hold(secs):
    """Holds a pooled connection for `secs` (a pool of one makes a sibling time out)."""
    with postgres.client() as db:
        db.query_value("SELECT pg_sleep(%s)", (secs,))
    return secs


@task
def extract(i, secs):
    """Sleeps `secs` in Postgres, then returns a few numbers made from `i`."""
    with postgres.client() as db:
        db.query_value("SELECT pg_sleep(%s)", (secs,))
    return [i, i * 10, i * 100]


@task
def load(rows):
    return 1000 + sum(rows)


@task
def boom(n):
    raise PermanentError(f"bad {n}")


@task
def inspect_dep(value):
    """What it was handed for its dependency: under `continue`, the failure as an exception."""
    if isinstance(value, ConnectorError):
        return {"failed_task": value.task, "kind": value.kind, "message": value.message,
                "attempts": value.attempts, "cancelled": value.cancelled}
    return {"value": value}


@task
def spin():
    while True:
        pass


def sdk_flows():
    """Task options, cancellation, gather with a failure, config defaults (the JS probe matches)."""
    with_options = double.options(retries=1, timeout=30, priority=5)(5).result()
    running = spin()
    running.cancel()
    try:
        running.result()
        cancelled = None
    except ConnectorError as e:
        cancelled = {"cancelled": e.cancelled, "task": e.task}
    # Last: under the default fail-fast policy, flaky's failure cancels the rest of the run.
    gathered = gather([double(1), flaky(2)], return_exceptions=True)
    return {
        "outcome_unknown": [ConnectorError("lost", code="08007").outcome_unknown, TransientError("x").outcome_unknown],
        "gathered": [g.kind if isinstance(g, ConnectorError) else g for g in gathered],
        "with_options": with_options,
        "cancelled": cancelled,
        "config_default": config.get("missing", "fallback"),
        "config_all": config.all(),
    }


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
def probe(mode, bytes=0, rows=0, table=None, container=None):
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
    if mode == "sdk-flows":
        return sdk_flows()
    if mode == "sdk-extras":
        return sdk_extras(table, container)
    if mode == "bench-select":
        return bench_select(rows)
    if mode == "bench-stream":
        return bench_stream(rows)
    if mode == "fail-fast-pool":
        # One holder gets the only connection, the other times out waiting: gather raises
        # that timeout, not the cancellation of the holder it caused.
        return gather([hold(5), hold(5)])
    if mode == "extract-load":
        # Each load is queued behind its extract (a future as an argument): the extracts run at once.
        return gather([load(extract(i, 0.5)) for i in range(6)])
    if mode == "continue-dep":
        return inspect_dep(boom(3))
    if mode == "keys":
        return {"flow": attempt_info(), "task": keys().result()}
    if mode == "tasks":
        doubled = gather([double(n) for n in range(1, 6)])
        summed = total([double(10), double(11)]).result()  # queued behind the doubles
        try:
            flaky(7).result()
            failed = None
        except TransientError as e:
            failed = {"kind": e.kind, "code": e.code, "attempts": e.attempts, "task": e.task}
        return {"doubled": doubled, "summed": summed, "flaky": failed}
    raise ValueError(f"unknown mode {mode!r}")


def sdk_extras(table, container):
    """SDK paths the conformance suite does not take; the JS probe returns the same."""
    import io

    out = {}
    with postgres.client() as db:
        db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute(f"CREATE TABLE {table} (id int4, name text)")
        out["copy_from_file"] = db.copy_from(table, io.StringIO("1\ta\n2\tb\n3\tc\n"), format="text")
        out["copy_from_chunks"] = db.copy_from(table, [b"4,d\n", "5,e\n"], columns=["id", "name"])
        out["copy_to_chunks"] = b"".join(db.copy_to_iter(f"SELECT id FROM {table} ORDER BY id")).decode()
        out["executemany_empty"] = db.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [])
        out["query_one_none"] = db.query_one(f"SELECT * FROM {table} WHERE id = %s", (99,))
        try:
            db.query("SELECT pg_sleep(5)", timeout=0.2)
            out["timeout"] = None
        except TimeoutError as e:
            out["timeout"] = {"kind": e.kind, "code": e.code}
        with db.transaction(isolation="REPEATABLE READ", readonly=True, deferrable=True) as tx:
            out["tx_settings"] = tx.query_one(
                "SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro")
        db.execute(f"DROP TABLE {table}")
        # A stream gives what a buffered query gives, for every kind of cell.
        every = ("SELECT g AS i, g::int8 * 4294967296 * 4096 AS big, g % 2 = 0 AS b, g / 4.0 AS num, g::float4 / 8 AS f, "
                 "'t' || g AS t, NULL::text AS n, decode('00ff', 'hex') AS by, jsonb_build_object('g', g) AS j, "
                 "ARRAY[g, NULL] AS arr, ARRAY['{\"a\": 1}'::jsonb] AS jarr, ARRAY[decode('01', 'hex')] AS barr, "
                 "ARRAY[g::int8 * 9007199254740993] AS bigarr FROM generate_series(1, 3) g")
        streamed = list(db.query_iter(every, size=2))
        out["stream_matches_query"] = streamed == db.query(every) and len(streamed) == 3

    lake = adls2.client()
    lake.create_container(container)
    out["listed"] = [c["name"] for c in lake.list_containers(prefix=container)]
    out["streamed"] = lake.upload_stream(container, "s/data.txt", [b"abc", "def", b"ghi"], content_type="text/plain")["size"]
    out["ranged_stream"] = b"".join(lake.download_stream(container, "s/data.txt", offset=2, length=5, chunk_size=2)).decode()
    try:
        with lake.open_writer(container, "s/aborted.txt") as writer:
            writer.write(b"never visible")
            raise RuntimeError("abort the upload")
    except RuntimeError:
        pass
    out["aborted_exists"] = lake.exists(container, "s/aborted.txt")
    lake.upload_bytes(container, "s/other.txt", b"x")
    try:
        lake.rename(container, "s/other.txt", "s/data.txt")
        out["rename_conflict"] = None
    except ConflictError as e:
        out["rename_conflict"] = e.kind
    lake.rename(container, "s/other.txt", "s/data.txt", overwrite=True)
    out["after_rename"] = lake.download_bytes(container, "s/data.txt").decode()
    out["missing"] = (lambda: _kind(lambda: lake.properties(container, "s/none.txt")))()
    lake.delete_container(container)
    return out


def _kind(fn):
    try:
        fn()
    except ConnectorError as e:
        return e.kind
    return None
