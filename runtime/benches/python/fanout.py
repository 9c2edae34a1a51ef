"""The compute fan-out of examples/fanout on the Python `auto-workflow` 0.1.2 engine.

The benchmark baseline for runtime/benches/flows.rs: the same work as the Rust flow (N tasks, task
i sums the squares of i*1000+1 ..= (i+1)*1000, a final step adds the parts and checks them against
the closed form), written the way that package runs a fan-out: `@task`, `@flow` and `fan_out`.

    python fanout.py N MAX_CONCURRENCY MODE ROUNDS

MODE is how the package runs a task: `thread` (its default for a plain `def`), `async` (an
`async def` task, no thread hop) or `process` (its process pool: the only mode that keeps a task
out of the flow's interpreter). Prints one JSON object: the seconds of each round for the flow
(`fanned`) and for the same work done inline in this interpreter (`inline`), timed in-process,
interpreter start-up and imports excluded, as the Rust side times `Runtime::run`.
"""

from __future__ import annotations

import json
import sys
import time

from auto_workflow import fan_out, flow, task

PER_TASK = 1000


def sum_squares_of(part: tuple[int, int]) -> int:
    lo, hi = part
    return sum(k * k for k in range(lo, hi + 1))


def slices(n: int) -> list[tuple[int, int]]:
    return [(i * PER_TASK + 1, (i + 1) * PER_TASK) for i in range(n)]


def expected(n: int) -> int:
    m = n * PER_TASK
    return m * (m + 1) * (2 * m + 1) // 6


def fanout_flow(mode: str):
    """The flow, with its per-slice task run the way `mode` names."""
    if mode == "async":

        @task(name="sum_squares")
        async def sum_squares(part):
            return sum_squares_of(part)

    elif mode in ("thread", "process"):

        @task(name="sum_squares", run_in=mode)
        def sum_squares(part):
            return sum_squares_of(part)

    else:
        raise SystemExit(f"fanout.py: unknown mode {mode!r}: use thread, async or process")

    @task(run_in="async")
    async def total(parts):
        return sum(parts)

    @flow(name="fanout")
    def fanout(n: int):
        return total(fan_out(sum_squares, slices(n)))

    return fanout


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit("usage: fanout.py N MAX_CONCURRENCY MODE ROUNDS")
    n, concurrency, mode, rounds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    fanout = fanout_flow(mode)
    # A warm-up round, as the Rust side warms its instance pre and caches: a process pool starts
    # its workers here.
    if fanout.run(n, max_concurrency=concurrency) != expected(n):
        raise SystemExit("fanout.py: wrong total from the flow")
    fanned, inline = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        got = fanout.run(n, max_concurrency=concurrency)
        fanned.append(time.perf_counter() - start)
        start = time.perf_counter()
        direct = sum(sum_squares_of(s) for s in slices(n))
        inline.append(time.perf_counter() - start)
        if got != expected(n) or direct != expected(n):
            raise SystemExit("fanout.py: wrong total")
    print(json.dumps({"mode": mode, "tasks": n, "max_concurrency": concurrency, "fanned": fanned, "inline": inline}))


if __name__ == "__main__":
    main()
