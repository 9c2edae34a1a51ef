//! Flows whose task attempts run on `aw-run worker` processes (issue 20, second part),
//! against the real 3-node `nats-server` cluster and the real PostgreSQL of scripts/test.sh
//! (a missing service fails, it does not skip). Every test uses its own worker queue, so
//! tests running at once never take each other's attempts; every wait is bounded.
//!
//! Covered: the same results as a local run with the worker named per task (fan-out and the
//! Postgres fan-out example); a worker killed with SIGKILL mid-transaction (another finishes
//! the attempt, the dead one committed nothing); a poison task that aborts every worker that
//! runs it (failed after max_deliver, not retried); a profile the worker lacks (`denied`,
//! naming it); fail-fast across workers (the running task stops, its row is not committed);
//! and the test secrets never reaching the stream store files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{guest, overlay_scram_postgres, pg_admin, pg_admin_value, pg_port, run, Sandbox};
use serde_json::{json, Value as Json};

fn nats_url() -> String {
    std::env::var("AW_NATS_URL").unwrap_or_else(|_| {
        panic!("AW_NATS_URL is not set: scripts/test.sh starts the NATS cluster")
    })
}

/// The streams exist (idempotent; every test may be first).
fn setup() {
    run(common::clean_aw_run().args(["cluster", "setup", "--cluster", &nats_url()])).expect_code(0);
}

/// A queue of this test's own.
fn queue(tag: &str) -> String {
    format!("t-{tag}-{}", std::process::id())
}

/// A running `aw-run worker`, killed (SIGKILL) when dropped.
struct Worker {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts a worker of `queue` in `dir` (its aw.toml; an example's is pointed at the test
    /// cluster by the env overlay) and waits until it serves.
    fn start(sandbox: &Sandbox, dir: &Path, queue: &str, name: &str, extra: &[&str]) -> Worker {
        let log = sandbox.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("worker log");
        let mut cmd = sandbox.aw_run();
        if dir != sandbox.path() {
            overlay_scram_postgres(&mut cmd);
        }
        let child = cmd
            .current_dir(dir)
            .args(["worker", "--cluster", &nats_url(), "--queue", queue])
            .args(["--name", name, "--ack-wait", "3"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn aw-run worker");
        let mut worker = Worker {
            name: name.to_string(),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !worker.log().contains("worker serving") {
            if let Ok(Some(status)) = worker.child.try_wait() {
                panic!("worker {name} exited ({status}):\n{}", worker.log());
            }
            assert!(
                Instant::now() < deadline,
                "worker {name} did not start:\n{}",
                worker.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        worker
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn started(&self, task: &str) -> bool {
        self.log()
            .lines()
            .any(|l| l.contains("attempt started") && l.contains(&format!("task={task}")))
    }

    /// Whether the process has ended.
    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config in `sandbox` with the test cluster's Postgres as profile `default`.
fn pg_config(sandbox: &Sandbox, extra: &str) {
    sandbox.write(
        "aw.toml",
        &format!(
            "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\n[profiles.default]\npostgres = [\"default\"]\nlimits = {{ timeout = \"60s\", max_tasks = 8 }}\n{extra}",
            pg_port()
        ),
    );
}

/// Polls `done` every 50 ms; fails naming `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether an open transaction has inserted into `table` (and holds its row-exclusive lock).
fn holds_insert_lock(table: &str) -> bool {
    pg_admin_value(&format!("SELECT count(*)::int8 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '{table}' AND l.mode = 'RowExclusiveLock'")) > 0
}

/// An empty table `(v int)` of this test's own that the guests' role may write.
fn fresh_table(tag: &str) -> String {
    let table = format!("cluster_{tag}_{}", std::process::id());
    pg_admin(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (v int); GRANT ALL ON {table} TO aw_trust"
    ));
    table
}

fn tasks(report: &Json) -> Vec<Json> {
    report["tasks"].as_array().cloned().unwrap_or_default()
}

fn workers_named(report: &Json) -> Vec<String> {
    let mut names: Vec<String> = tasks(report)
        .iter()
        .map(|t| t["worker"].as_str().unwrap_or("(here)").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

#[test]
fn the_fanout_examples_on_two_workers_give_the_local_result_and_name_each_tasks_worker() {
    setup();
    let sandbox = Sandbox::new("");
    let q = queue("examples");
    for (dir, component, input) in [
        ("fanout", "aw_fanout", json!({"n": 200})),
        ("pg-fanout", "aw_pg_fanout", json!({})),
    ] {
        let dir = example(dir);
        let _w1 = Worker::start(&sandbox, &dir, &q, "w1", &["--slots", "4"]);
        let _w2 = Worker::start(&sandbox, &dir, &q, "w2", &["--slots", "4"]);
        let local = run(overlay_scram_postgres(&mut sandbox.aw_run())
            .current_dir(&dir)
            .arg(guest(component))
            .args(["--json", "--input", &input.to_string()]))
        .expect_code(0)
        .json();
        let clustered = run(overlay_scram_postgres(&mut sandbox.aw_run())
            .current_dir(&dir)
            .arg(guest(component))
            .args(["--json", "--input", &input.to_string()])
            .args(["--cluster", &nats_url(), "--queue", &q]))
        .expect_code(0)
        .json();
        assert_eq!(clustered["result"], local["result"], "{component}");
        assert_eq!(tasks(&clustered).len(), tasks(&local).len(), "{component}");
        assert_eq!(workers_named(&local), ["(here)"], "{component}");
        let named = workers_named(&clustered);
        assert!(
            named.iter().all(|w| w == "w1" || w == "w2"),
            "every task ran on a worker: {named:?}"
        );
        if component == "aw_fanout" {
            assert_eq!(named, ["w1", "w2"], "200 tasks spread over both workers");
        }
    }
}

#[test]
fn a_worker_killed_mid_transaction_has_its_attempt_finished_by_another_and_committed_nothing() {
    setup();
    let sandbox = Sandbox::new("");
    pg_config(&sandbox, "");
    let table = fresh_table("kill");
    let q = queue("kill");
    let mut workers = vec![
        Worker::start(&sandbox, sandbox.path(), &q, "k1", &["--slots", "1"]),
        Worker::start(&sandbox, sandbox.path(), &q, "k2", &["--slots", "1"]),
    ];
    let coordinator = sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--json", "--input"])
        .arg(json!({"op": "long-tx", "table": table, "secs": 4.0}).to_string())
        .args(["--cluster", &nats_url(), "--queue", &q])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the coordinator");
    let deadline = Instant::now() + Duration::from_secs(20);
    let running = loop {
        if let Some(i) = workers.iter().position(|w| w.started("long_tx")) {
            break i;
        }
        assert!(Instant::now() < deadline, "no worker started the task");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Inside its transaction: the row is inserted (its lock held), the sleep runs.
    wait_until(
        Duration::from_secs(20),
        "the task's open transaction",
        || holds_insert_lock(&table),
    );
    let dead = workers.remove(running);
    let survivor = workers[0].name.clone();
    drop(dead);
    let killed = Instant::now();
    let out = coordinator.wait_with_output().expect("coordinator");
    let report: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["status"], "ok", "{report:#}");
    assert!(
        killed.elapsed() < Duration::from_secs(3 + 4 + 5),
        "finished within ack_wait + the task + 5 s: {:?}",
        killed.elapsed()
    );
    assert_eq!(tasks(&report)[0]["worker"], survivor.as_str(), "{report:#}");
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*)::int8 FROM {table}")),
        1,
        "only the surviving worker's transaction committed"
    );
}

#[test]
fn a_task_that_kills_its_workers_fails_after_max_deliver_naming_it() {
    setup();
    let sandbox = Sandbox::new("[profiles.default]\nlimits = { timeout = \"60s\" }\n");
    let q = queue("poison");
    let mut workers: Vec<Worker> = ["p1", "p2", "p3"]
        .iter()
        .map(|n| {
            Worker::start(
                &sandbox,
                sandbox.path(),
                &q,
                n,
                &["--slots", "1", "--max-deliver", "3"],
            )
        })
        .collect();
    let out = run(sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--input", r#"{"op":"abort-worker"}"#])
        .args(["--cluster", &nats_url(), "--queue", &q]))
    .expect_code(1);
    assert!(
        out.stderr.contains("abort_worker") && out.stderr.contains("lost its worker 2 times"),
        "{}",
        out.stderr
    );
    wait_until(
        Duration::from_secs(10),
        "two deliveries killed two workers; the third answered",
        || {
            workers
                .iter_mut()
                .map(Worker::exited)
                .filter(|d| *d)
                .count()
                == 2
        },
    );
}

#[test]
fn a_task_on_a_worker_reads_the_same_idempotency_keys_as_locally() {
    setup();
    let sandbox = Sandbox::new("[profiles.default]\nlimits = { timeout = \"30s\" }\n");
    let q = queue("keys");
    let _w = Worker::start(&sandbox, sandbox.path(), &q, "i1", &[]);
    let out = run(sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--json", "--input", r#"{"op":"keys"}"#])
        .args(["--cluster", &nats_url(), "--queue", &q]))
    .expect_code(0)
    .json();
    common::assert_idempotency_keys(&out["result"], "worker");
    assert_eq!(out["tasks"][0]["worker"], "i1", "{out:#}");
}

#[test]
fn a_worker_without_the_profile_answers_denied_naming_profile_and_worker() {
    setup();
    let sandbox = Sandbox::new("[profiles.batch]\nlimits = { timeout = \"30s\" }\n");
    let q = queue("denied");
    let _w = Worker::start(&sandbox, sandbox.path(), &q, "d1", &[]);
    let coordinator = Sandbox::new("[profiles.default]\nlimits = { timeout = \"30s\" }\n");
    let out = run(coordinator
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--input", r#"{"op":"fanout","n":2}"#])
        .args(["--cluster", &nats_url(), "--queue", &q]))
    .expect_code(1);
    assert!(
        out.stderr.contains("denied")
            && out
                .stderr
                .contains("worker `d1` serves no run profile `default`")
            && out.stderr.contains("it serves: batch"),
        "{}",
        out.stderr
    );
    // No worker at all on a queue: the run says so before it starts.
    let out = run(coordinator
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--input", r#"{"op":"fanout","n":2}"#])
        .args(["--cluster", &nats_url(), "--queue", &queue("nobody")]))
    .expect_code(2);
    assert!(
        out.stderr.contains("no worker of queue") && out.stderr.contains("aw-run worker"),
        "{}",
        out.stderr
    );
}

#[test]
fn fail_fast_stops_the_task_running_on_another_worker_and_its_row_is_not_committed() {
    setup();
    let sandbox = Sandbox::new("");
    pg_config(&sandbox, "");
    let table = fresh_table("ff");
    let q = queue("failfast");
    let _w1 = Worker::start(&sandbox, sandbox.path(), &q, "f1", &["--slots", "1"]);
    let _w2 = Worker::start(&sandbox, sandbox.path(), &q, "f2", &["--slots", "1"]);
    let started = Instant::now();
    let out = run(sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--json", "--input"])
        .arg(json!({"op": "fail-fast", "table": table, "secs": 20.0}).to_string())
        .args(["--cluster", &nats_url(), "--queue", &q]))
    .expect_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 20 s task was stopped: {:?}",
        started.elapsed()
    );
    let report = out.json();
    let long = tasks(&report)
        .into_iter()
        .find(|t| t["name"] == "long_tx")
        .expect("the long task's record");
    assert_eq!(long["status"], "cancelled", "{report:#}");
    // The cancelled attempt's transaction is gone, rolled back, long before its 20 s end.
    wait_until(
        Duration::from_secs(5),
        "the cancelled transaction's end",
        || !holds_insert_lock(&table),
    );
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*)::int8 FROM {table}")),
        0
    );
}

#[test]
fn secrets_never_reach_the_stream_store_files() {
    setup();
    let secret = "cluster-secret-value-5f1e";
    let sandbox = Sandbox::new(
        "[profiles.default]\nsecrets = [\"api-token\"]\nlimits = { timeout = \"30s\" }\n",
    )
    .with_env("API_TOKEN", secret);
    let q = queue("secrets");
    let _w = Worker::start(&sandbox, sandbox.path(), &q, "s1", &[]);
    // The task fails with the worker's secret in its message, twice (one retry). The
    // coordinator holds another value (which the flow itself returns, scrubbed): only a leak
    // by the worker could put the worker's value in its output.
    let out = run(sandbox
        .aw_run()
        .env("API_TOKEN", "coordinator-only-value-77")
        .arg(guest("aw_flow_probe"))
        .args(["--json", "--failure-policy", "continue", "--input"])
        .arg(json!({"op": "leak", "key": "api-token"}).to_string())
        .args(["--cluster", &nats_url(), "--queue", &q]))
    .expect_code(0);
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    assert_eq!(
        out.json()["tasks"][0]["worker"],
        "s1",
        "the leaking task ran on the worker: {}",
        out.stdout
    );
    // The pg fan-out's password travels neither (its workers serve its own profiles).
    let dir = example("pg-fanout");
    let pg_queue = queue("secrets-pg");
    let _p = Worker::start(&sandbox, &dir, &pg_queue, "s2", &[]);
    run(overlay_scram_postgres(&mut sandbox.aw_run())
        .current_dir(&dir)
        .arg(guest("aw_pg_fanout"))
        .args(["--cluster", &nats_url(), "--queue", &pg_queue]))
    .expect_code(0);
    let store = PathBuf::from(
        std::env::var("AW_NATS_DIR").expect("AW_NATS_DIR: scripts/test.sh starts the cluster"),
    );
    let encodings = [
        secret.to_string(),
        "scram-pass-1e5".to_string(),
        base64(secret),
        base64("scram-pass-1e5"),
    ];
    let mut scanned = 0;
    for file in files_under(&store) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        scanned += bytes.len();
        for needle in &encodings {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds a secret",
                file.display()
            );
        }
    }
    assert!(
        scanned > 0,
        "the store files were read: {}",
        store.display()
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn attempts_queued_by_a_coordinator_killed_with_sigkill_are_dropped_not_run() {
    setup();
    let sandbox = Sandbox::new("");
    pg_config(&sandbox, "");
    let q = queue("orphans");
    let worker = Worker::start(&sandbox, sandbox.path(), &q, "o1", &["--slots", "1"]);
    // Four 4 s tasks (pg_sleep) published at once; the worker runs one at a time, so three
    // wait in the queue when the coordinator dies. Its run key, refreshed every 300 ms here, goes stale
    // 2.8 s later: before the first task ends.
    let mut coordinator = sandbox
        .aw_run()
        .env("AW_TEST_RUN_HEARTBEAT_MS", "300")
        .arg(guest("aw_flow_probe"))
        .args(["--input", r#"{"op":"parallel","n":4,"secs":4.0}"#])
        .args(["--cluster", &nats_url(), "--queue", &q])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the coordinator");
    wait_until(Duration::from_secs(20), "the first task's start", || {
        worker.started("sleep")
    });
    coordinator.kill().expect("SIGKILL the coordinator");
    let _ = coordinator.wait();
    let dropped = |log: &str| {
        log.lines()
            .filter(|l| {
                l.contains("attempt dropped, not started")
                    && l.contains("its coordinator stopped refreshing")
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while dropped(&worker.log()) < 3 {
        assert!(
            Instant::now() < deadline,
            "the three queued attempts were not dropped within 20 s:\n{}",
            worker.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = worker.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("attempt started"))
            .count(),
        1,
        "only the attempt running at the kill ran:\n{log}"
    );
}
