"""A Python probe for tests/polyglot.rs: limits, exceptions, secrets and tasks, chosen by
the input's `mode`."""

from aw import NotFoundError, TransientError, flow, gather, log, secrets, task


@task(retries=2, backoff=0.01, jitter=False)
def flaky(n):
    raise TransientError(f"attempt failed for {n}", code="X-FLAKY")


@task(description="Doubles a number.")
def double(n):
    return n * 2


@task
def total(values):
    return sum(values)


@flow
def probe(mode, bytes=0):
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
