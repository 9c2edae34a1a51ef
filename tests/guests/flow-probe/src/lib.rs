//! flow-probe: a test flow. `run(input)` picks a scenario by `op`; the tasks below are what
//! the scenarios spawn (sleeping in Postgres, failing N times, looping, exhausting memory,
//! holding a transaction, spawning without end).

use aw_guest::postgres::{self, TransactionOptions, Value};
use aw_guest::{Error, ErrorKind};
use aw_guest_flow::tasks::{self, Options, Task};
use serde::Deserialize;
use serde_json::{json, Value as Json};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    op: String,
    n: u64,
    secs: f64,
    key: String,
    fail_times: i64,
    kind: String,
    retries: u32,
    timeout_ms: u64,
    table: String,
    mode: String,
}

fn error_json(e: &Error) -> Json {
    json!({ "kind": format!("{:?}", e.kind), "message": e.message, "code": e.code })
}

fn raw(task: &Task) -> Json {
    match task.join_raw() {
        Ok(text) => json!({ "ok": serde_json::from_str::<Json>(&text).unwrap_or(Json::Null) }),
        Err(e) => {
            json!({ "error": { "kind": format!("{:?}", e.error.kind), "message": e.error.message, "code": e.error.code,
                                     "outcome_unknown": Error::from(e.error.clone()).is_outcome_unknown(),
                                     "attempts": e.attempts, "limit": e.limit, "cancelled": e.cancelled } })
        }
    }
}

fn flow(input: Input) -> aw_guest::Result<Json> {
    match input.op.as_str() {
        "parallel" => {
            let handles = (0..input.n)
                .map(|_| tasks::spawn("sleep", &input.secs, Options::new()))
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let slept: Vec<f64> = tasks::join_all(&handles)?;
            Ok(json!({ "tasks": slept.len() }))
        }
        "extract-load" => {
            // Futures as arguments: every load is queued at once behind its extract, so the
            // extracts run in parallel although nothing is joined until the end.
            let extracts = (0..input.n)
                .map(|i| {
                    tasks::spawn(
                        "extract",
                        &json!({ "i": i, "secs": input.secs }),
                        Options::new(),
                    )
                })
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let loads = extracts
                .iter()
                .map(|e| {
                    tasks::spawn_after(
                        "load",
                        &[e],
                        |r| json!({ "rows": r[0], "base": 1000 }),
                        Options::new(),
                    )
                })
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let sums: Vec<u64> = tasks::join_all(&loads)?;
            Ok(json!({ "sums": sums }))
        }
        "dep-bomb" => {
            // One 1 MiB result placed `n` times in a dependent's input: refused, not copied.
            let big = tasks::spawn("big", &1u64, Options::new())?;
            let copies = input.n as usize;
            let load = tasks::spawn_after(
                "load",
                &[&big],
                |r| json!({ "rows": vec![r[0]; copies], "base": 0 }),
                Options::new(),
            )?;
            Ok(json!({ "load": raw(&load) }))
        }
        "upstream-fails" => {
            // A load behind a failing task never runs; an independent task is not affected.
            let failing = tasks::spawn("fail", &input.secs, Options::new())?;
            let load = tasks::spawn_after(
                "load",
                &[&failing],
                |r| json!({ "rows": r[0], "base": 0 }),
                Options::new(),
            )?;
            let square = tasks::spawn("square", &7u64, Options::new())?;
            Ok(json!({ "load": raw(&load), "square": raw(&square) }))
        }
        "side-fail" => {
            // A failing task that nothing joins, beside one whose result the flow returns.
            tasks::spawn("fail", &input.secs, Options::new())?;
            let square: u64 = tasks::spawn("square", &7u64, Options::new())?.join()?;
            Ok(json!({ "square": square }))
        }
        "aggregate" => {
            // An independent transaction that outlasts two failures, and a write behind one of
            // them: under `aggregate` the first commits and the second never runs.
            let long = tasks::spawn(
                "long_tx",
                &json!({ "table": input.table, "secs": input.secs }),
                Options::new(),
            )?;
            let failing = tasks::spawn("fail", &0.2, Options::new())?;
            let dependent_table = format!("{}_dep", input.table);
            tasks::spawn_after(
                "write_rows",
                &[&failing],
                |r| json!({ "table": dependent_table, "mode": "tx", "n": r[0] }),
                Options::new(),
            )?;
            tasks::spawn("fail", &0.1, Options::new())?;
            Ok(json!({ "long": raw(&long) }))
        }
        "continue-dep" => {
            // Under `continue`, the dependent runs with the failure in place of the result.
            let failing = tasks::spawn("fail", &input.secs, Options::new())?;
            let inspect = tasks::spawn_after(
                "inspect",
                &[&failing],
                |r| json!({ "dep": r[0] }),
                Options::new(),
            )?;
            Ok(json!({ "inspect": raw(&inspect) }))
        }
        "flaky" => {
            let t = tasks::spawn(
                "flaky",
                &json!({ "key": input.key, "fail_times": input.fail_times, "kind": input.kind }),
                Options::new()
                    .retries(input.retries)
                    .backoff(50, 2.0, 400, true),
            )?;
            Ok(raw(&t))
        }
        "timeout" => {
            let t = tasks::spawn(
                "spin",
                &0,
                Options::new()
                    .retries(input.retries)
                    .timeout_ms(input.timeout_ms)
                    .backoff(10, 1.0, 10, false),
            )?;
            Ok(raw(&t))
        }
        "bomb" => {
            let bomb = tasks::spawn("bomb", &0, Options::new())?;
            let squares = (1..=3u64)
                .map(|n| tasks::spawn("square", &n, Options::new()))
                .collect::<aw_guest::Result<Vec<_>>>()?;
            Ok(
                json!({ "bomb": raw(&bomb), "squares": squares.iter().map(raw).collect::<Vec<_>>() }),
            )
        }
        "fail-fast" => {
            let long = tasks::spawn(
                "long_tx",
                &json!({ "table": input.table, "secs": input.secs }),
                Options::new(),
            )?;
            let fail = tasks::spawn("fail", &0.3, Options::new())?;
            Ok(json!({ "long": raw(&long), "fail": raw(&fail) }))
        }
        "cache" => {
            let options = || Options::new().cache_ttl_ms(60_000);
            let first: u64 = tasks::spawn("square", &input.n, options())?.join()?;
            let second: u64 = tasks::spawn("square", &input.n, options())?.join()?;
            let (a, b) = (
                tasks::spawn("square", &(input.n + 1), options())?,
                tasks::spawn("square", &(input.n + 1), options())?,
            );
            Ok(
                json!({ "first": first, "second": second, "joined": [a.join::<u64>()?, b.join::<u64>()?] }),
            )
        }
        "runaway" => {
            let t = tasks::spawn("spawner", &0, Options::new())?;
            Ok(raw(&t))
        }
        "loop-spawn" => {
            // Spawns without end; the run's max_total_tasks must stop it.
            let mut spawned = Vec::new();
            loop {
                match tasks::spawn("square", &(spawned.len() as u64), Options::new()) {
                    Ok(t) => spawned.push(t),
                    Err(e) => {
                        return Ok(json!({ "spawned": spawned.len(), "error": error_json(&e) }))
                    }
                }
            }
        }
        "nested" => {
            // Tasks that join their own children, more of them than slots.
            let parents = (0..3u64)
                .map(|_| tasks::spawn("parent", &input.n, Options::new()))
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let sums: Vec<u64> = tasks::join_all(&parents)?;
            Ok(json!({ "sums": sums }))
        }
        "fanout" => {
            let handles = (0..input.n)
                .map(|i| tasks::spawn("square", &i, Options::new()))
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let squares: Vec<u64> = tasks::join_all(&handles)?;
            Ok(json!({ "sum": squares.iter().sum::<u64>(), "count": squares.len() }))
        }
        "resident" => {
            // Tasks that each hold `n` MiB and join a child, more of them than slots: while
            // they wait, only their own children may use their slots (issue 16).
            let hoarders = (0..input.retries)
                .map(|_| tasks::spawn("hoard_then_join", &input.n, Options::new()))
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let done: Vec<u64> = tasks::join_all(&hoarders)?;
            Ok(json!({ "hoarders": done.len() }))
        }
        "retry-forever" => {
            // Spawns a task that fails fast and retries without end, and returns at once: the
            // run's timeout must still end the run (issue 16).
            tasks::spawn(
                "flaky",
                &json!({ "key": input.key, "fail_times": i64::MAX, "kind": "transient" }),
                Options::new().retries(u32::MAX).backoff(1, 1.0, 1, false),
            )?;
            Ok(json!({ "returned": true }))
        }
        "big-results" => {
            // `retries` tasks each returning `n` MiB, joined one after the other: the run
            // keeps every result, within its budget (issue 16).
            let mut outcomes = Vec::new();
            for _ in 0..input.retries {
                let t = tasks::spawn("big", &input.n, Options::new())?;
                outcomes.push(match t.join_raw() {
                    Ok(text) => json!({ "ok": text.len() }),
                    Err(e) => json!({ "error": { "kind": format!("{:?}", e.error.kind), "message": e.error.message, "limit": e.limit } }),
                });
            }
            Ok(json!({ "results": outcomes }))
        }
        "leak" => {
            // Puts the granted secret `key` everywhere a flow can: a task's failures (retry
            // and failure events, the joined error), the log, stdout, stderr and the result.
            let t = tasks::spawn(
                "leak",
                &input.key,
                Options::new().retries(1).backoff(1, 1.0, 1, false),
            )?;
            let value = aw_guest::secrets::get(&input.key)?.reveal();
            aw_guest::log::warn!("the secret is {value}");
            println!("stdout says {value}");
            eprintln!("stderr says {value}");
            Ok(json!({ "joined": raw(&t), "secret": value }))
        }
        "fail-fast-pool" => {
            // One sleeper gets the only connection, the other times out waiting: join_all
            // returns that timeout, not the cancellation of the sleeper it caused.
            let handles = (0..2)
                .map(|_| tasks::spawn("sleep", &5.0, Options::new()))
                .collect::<aw_guest::Result<Vec<_>>>()?;
            let slept: Vec<f64> = tasks::join_all(&handles)?;
            Ok(json!({ "slept": slept }))
        }
        "write-once" => {
            let t = tasks::spawn(
                "write_rows",
                &json!({ "table": input.table, "mode": input.mode, "n": input.n }),
                Options::new()
                    .retries(input.retries)
                    .backoff(10, 1.0, 10, false),
            )?;
            Ok(raw(&t))
        }
        "host-panic" => {
            // A task whose host call panics (a test-hooks build only), beside a long sleeper:
            // the run ends at once with the host bug, the join does not wait for the timeout.
            let _sleeper = tasks::spawn("sleep", &30.0, Options::new())?;
            let t = tasks::spawn("host_panic", &0, Options::new())?;
            Ok(raw(&t))
        }
        "long-tx" => {
            let t = tasks::spawn(
                "long_tx",
                &json!({ "table": input.table, "secs": input.secs }),
                Options::new(),
            )?;
            Ok(raw(&t))
        }
        "keys" => {
            let t = tasks::spawn(
                "keys",
                &0,
                Options::new().retries(1).backoff(1, 1.0, 1, false),
            )?;
            let own = tasks::attempt_info().map(|a| a.task_key);
            Ok(json!({ "flow": own, "task": t.join::<Json>()? }))
        }
        "abort-worker" => {
            // A task that kills the process running it (a cluster worker; test-hooks only).
            let t = tasks::spawn("abort_worker", &0, Options::new().retries(3))?;
            Ok(raw(&t))
        }
        "unknown-task" => match tasks::spawn("nope", &0, Options::new()) {
            Ok(_) => Err(Error::permanent("spawned a task that does not exist")),
            Err(e) => Ok(error_json(&e)),
        },
        other => Err(Error::invalid_input(format!("unknown op {other}"))),
    }
}

fn sleep(secs: f64) -> aw_guest::Result<f64> {
    let db = postgres::open(None)?;
    db.execute("SELECT pg_sleep($1)", &[Value::Float64(secs)])?;
    Ok(secs)
}

#[derive(Deserialize)]
struct Flaky {
    key: String,
    fail_times: i64,
    kind: String,
}

/// Fails `fail_times` times (counted in Postgres: each attempt is a fresh instance), then succeeds.
fn flaky(f: Flaky) -> aw_guest::Result<i64> {
    let db = postgres::open(None)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS aw_flaky (key text PRIMARY KEY, n int8 NOT NULL)",
        &[],
    )?;
    let n = db
        .query_value("INSERT INTO aw_flaky VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET n = aw_flaky.n + 1 RETURNING n", &[f.key.as_str().into()])?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    if n <= f.fail_times {
        let kind = if f.kind == "invalid-input" {
            ErrorKind::InvalidInput
        } else {
            ErrorKind::Transient
        };
        return Err(Error::new(kind, format!("attempt {n} fails on purpose")));
    }
    Ok(n)
}

fn spin(_: u64) -> aw_guest::Result<u64> {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn bomb(_: u64) -> aw_guest::Result<u64> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 16 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Asks the host to panic in its `log` call (the runtime's `test-hooks` feature).
fn host_panic(_: u64) -> aw_guest::Result<u64> {
    aw_guest::log::log(
        aw_guest::log::Level::Info,
        "aw-test-hook: panic in the host",
    );
    Ok(0)
}

/// Its first attempt fails; the second returns the attempt's identity and idempotency keys.
fn keys(_: u64) -> aw_guest::Result<Json> {
    let info =
        tasks::attempt_info().ok_or_else(|| Error::permanent("no attempt info in a task"))?;
    if info.attempt == 1 {
        return Err(Error::transient("the first attempt fails on purpose"));
    }
    Ok(
        json!({ "task": info.task, "task_id": info.task_id, "attempt": info.attempt,
               "task_key": info.task_key, "attempt_key": info.attempt_key }),
    )
}

/// Asks the host to abort its process (the runtime's `test-hooks` feature): a poison task.
fn abort_worker(_: u64) -> aw_guest::Result<u64> {
    aw_guest::log::log(
        aw_guest::log::Level::Info,
        "aw-test-hook: abort the process",
    );
    Ok(0)
}

fn square(n: u64) -> aw_guest::Result<u64> {
    Ok(n * n)
}

#[derive(Deserialize)]
struct LongTx {
    table: String,
    secs: f64,
}

/// Inserts a row inside a transaction, holds it open for `secs`, then commits.
fn long_tx(l: LongTx) -> aw_guest::Result<bool> {
    let db = postgres::open(None)?;
    let tx = db.begin(TransactionOptions::default())?;
    tx.execute(&format!("INSERT INTO {} VALUES (1)", l.table), &[])?;
    tx.execute("SELECT pg_sleep($1)", &[Value::Float64(l.secs)])?;
    tx.commit()?;
    Ok(true)
}

#[derive(Deserialize)]
struct WriteRows {
    table: String,
    mode: String,
    n: i64,
}

/// Writes rows 1..=n into `table` (one int8 column) and commits, the way `mode` says: `tx`
/// (begin, inserts, commit), `many` (execute-many outside a transaction), `copy` (COPY outside
/// a transaction), `autocommit` (one INSERT outside a transaction).
fn write_rows(w: WriteRows) -> aw_guest::Result<i64> {
    let db = postgres::open(None)?;
    let insert = format!(
        "INSERT INTO {} VALUES ($1) /* aw-autocommit-insert */",
        w.table
    );
    match w.mode.as_str() {
        "tx" => {
            let tx = db.begin(TransactionOptions::default())?;
            for i in 1..=w.n {
                tx.execute(&insert, &[Value::Int64(i)])?;
            }
            tx.commit()?;
        }
        "many" => {
            let lists: Vec<Vec<Value>> = (1..=w.n).map(|i| vec![Value::Int64(i)]).collect();
            db.execute_many(&insert, &lists)?;
        }
        "copy" => {
            let sink = db.copy_in(&w.table, &[], &postgres::CopyFormat::text())?;
            let text: String = (1..=w.n).map(|i| format!("{i}\n")).collect();
            sink.write(text.as_bytes())?;
            sink.finish()?;
        }
        "autocommit" => {
            db.execute(
                &format!(
                    "INSERT INTO {} SELECT generate_series(1, $1::int8) /* aw-autocommit-insert */",
                    w.table
                ),
                &[Value::Int64(w.n)],
            )?;
        }
        other => return Err(Error::invalid_input(format!("unknown mode {other}"))),
    }
    Ok(w.n)
}

#[derive(Deserialize)]
struct Extract {
    i: u64,
    secs: f64,
}

/// Sleeps `secs` in Postgres, then returns a few rows of numbers made from `i`.
fn extract(e: Extract) -> aw_guest::Result<Vec<u64>> {
    sleep(e.secs)?;
    Ok(vec![e.i, e.i * 10, e.i * 100])
}

#[derive(Deserialize)]
struct Load {
    rows: Vec<u64>,
    base: u64,
}

/// Sums what an extract returned, plus `base`.
fn load(l: Load) -> aw_guest::Result<u64> {
    Ok(l.base + l.rows.iter().sum::<u64>())
}

/// Fails for good after `secs`.
fn fail(secs: f64) -> aw_guest::Result<u64> {
    let db = postgres::open(None)?;
    db.execute("SELECT pg_sleep($1)", &[Value::Float64(secs)])?;
    Err(Error::permanent("this task fails on purpose"))
}

#[derive(Deserialize)]
struct Inspect {
    dep: tasks::Upstream<Vec<u64>>,
}

/// What it was handed for its dependency: the rows, or the failure in their place.
fn inspect(i: Inspect) -> aw_guest::Result<Json> {
    Ok(match i.dep {
        tasks::Upstream::Value(rows) => json!({ "rows": rows }),
        tasks::Upstream::Failed { failure } => json!({
            "failed_task": failure.task, "id": failure.id, "kind": failure.kind,
            "message": failure.message, "attempts": failure.attempts, "cancelled": failure.cancelled,
        }),
    })
}

/// Spawns `n` squares and joins them.
fn parent(n: u64) -> aw_guest::Result<u64> {
    let children = (1..=n)
        .map(|i| tasks::spawn("square", &i, Options::new()))
        .collect::<aw_guest::Result<Vec<_>>>()?;
    let squares: Vec<u64> = tasks::join_all(&children)?;
    Ok(squares.iter().sum())
}

/// Holds `mib` MiB of its own memory while it joins a child.
fn hoard_then_join(mib: u64) -> aw_guest::Result<u64> {
    let hoard = vec![1u8; (mib as usize) << 20];
    std::hint::black_box(&hoard);
    let child: u64 = tasks::spawn("square", &2u64, Options::new())?.join()?;
    Ok(child + u64::from(hoard[hoard.len() / 2]))
}

/// A result of `mib` MiB.
fn big(mib: u64) -> aw_guest::Result<String> {
    Ok("x".repeat((mib as usize) << 20))
}

/// Fails with the granted secret `name` in its message.
fn leak(name: String) -> aw_guest::Result<u64> {
    let value = aw_guest::secrets::get(&name)?.reveal();
    Err(Error::transient(format!(
        "failing with the secret {value} in the message"
    )))
}

/// Spawns itself and waits, without end.
fn spawner(depth: u64) -> aw_guest::Result<u64> {
    let child = tasks::spawn("spawner", &(depth + 1), Options::new())?;
    child.join()
}

aw_guest_flow::flow!(flow, tasks: [sleep, flaky, spin, bomb, square, long_tx, fail, spawner, parent, hoard_then_join, leak, big, write_rows, host_panic, abort_worker, keys, extract, load, inspect]);
