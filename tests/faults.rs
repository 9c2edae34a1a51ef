//! Faults an operator meets, through `aw-run` against the real PostgreSQL cluster: connections
//! cut right after the server committed and peers gone silent (with the fault-injecting proxy
//! of tests/common/fault_proxy.rs in front of the cluster), interrupts during a statement, and
//! the cause of a fail-fast reaching every output.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy};
use common::{
    guest, pg_admin, pg_admin_at, pg_admin_value, pg_port, polyglot_guest, run, run_flow,
    shared_cache_dir, Run, Sandbox,
};
use serde_json::{json, Value as Json};

/// A flow config whose default Postgres profile reaches the cluster at `port` (the proxy's or
/// the cluster's own), with extra profile keys `keys` (TOML lines; `max_size` is 4 unless set).
fn config(port: u16, keys: &str, limits: &str) -> Sandbox {
    let size = if keys.contains("max_size") {
        ""
    } else {
        "max_size = 4\n"
    };
    Sandbox::new(&format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\n{size}{keys}\n[profiles.default]\npostgres = [\"default\"]\nlimits = {{ {limits} }}\n"
    ))
}

fn cluster_port() -> u16 {
    pg_port().parse().expect("AW_PG_PORT is a port")
}

/// The flow-probe guest under the `continue` policy: these flows look at their tasks'
/// failures themselves (under fail-fast a failure would fail the run).
fn flow(sandbox: &Sandbox, input: Json) -> Run {
    run_flow(sandbox, &input, &["--failure-policy", "continue"])
}

#[test]
fn a_connection_cut_after_the_servers_commit_is_an_unknown_outcome_and_not_retried() {
    let proxy = FaultProxy::start(cluster_port());
    let sandbox = config(proxy.port(), "", "timeout = \"60s\"");
    let cases = [
        ("tx", Fault::CutAfterCommit),
        ("many", Fault::CutAfterCommit),
        ("copy", Fault::CutAfterCopyDone),
        (
            "autocommit",
            Fault::CutAfterExecuteOf("aw-autocommit-insert".into()),
        ),
    ];
    for (i, (mode, fault)) in cases.into_iter().enumerate() {
        let table = format!("aw_cut_{mode}_{}", std::process::id());
        pg_admin(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int8); GRANT ALL ON {table} TO aw_guests"
        ));
        proxy.arm(fault);
        let report = flow(
            &sandbox,
            json!({"op": "write-once", "table": table, "mode": mode, "n": 3, "retries": 2}),
        )
        .json();
        assert_eq!(
            proxy.fired(),
            i + 1,
            "{mode}: the proxy cut the connection: {report}"
        );
        let error = &report["result"]["error"];
        assert_eq!(error["code"], "08007", "{mode}: {report}");
        assert_eq!(error["outcome_unknown"], true, "{mode}: {report}");
        assert_eq!(
            error["attempts"], 1,
            "{mode}: not retried although retries = 2: {report}"
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("may have committed"), "{mode}: {message}");
        assert_eq!(
            pg_admin_value(&format!("SELECT count(*) FROM {table}")),
            3,
            "{mode}: the server committed the rows once, and no retry wrote them again"
        );
        assert_eq!(
            pg_admin_value(&format!("SELECT count(DISTINCT x) FROM {table}")),
            3,
            "{mode}"
        );
        pg_admin(&format!("DROP TABLE {table}"));
    }
}

#[test]
fn a_silent_peer_fails_as_transient_within_the_tcp_user_timeout() {
    let proxy = FaultProxy::start(cluster_port());
    let sandbox = config(
        proxy.port(),
        "keepalives_idle = \"1s\"\nkeepalives_interval = \"1s\"\ntcp_user_timeout = \"2s\"",
        "timeout = \"60s\"",
    );
    // Compile the flow into the sandbox's cache first, so the timed run measures the stall.
    flow(&sandbox, json!({"op": "parallel", "n": 1, "secs": 0})).expect_code(0);
    proxy.arm(Fault::Blackhole("pg_sleep".into()));
    let started = Instant::now();
    let outcome = flow(&sandbox, json!({"op": "parallel", "n": 1, "secs": 0.01}));
    let took = started.elapsed();
    assert_eq!(proxy.fired(), 1, "the connection went silent");
    assert_ne!(outcome.code, 0, "{}", outcome.stdout);
    let report = outcome.json();
    let task = &report["tasks"][0];
    assert_eq!(task["error_kind"], "transient", "{report}");
    assert!(
        task["error"]
            .as_str()
            .unwrap_or_default()
            .contains("tcp_user_timeout"),
        "the message names the connection's end and what may have ended it: {report}"
    );
    assert!(
        took < Duration::from_secs(2) + Duration::from_secs(2),
        "a 2 s tcp_user_timeout ended the stalled statement (the whole run) after {took:?}"
    );
}

/// The backends of `aw_trust` running `pg_sleep`.
fn sleeping_backends() -> i64 {
    pg_admin_value("SELECT count(*) FROM pg_stat_activity WHERE usename = 'aw_trust' AND query LIKE 'SELECT pg_sleep%' AND state = 'active'")
}

#[test]
fn sigterm_during_a_long_statement_cancels_it_on_the_server() {
    let sandbox = config(cluster_port(), "", "timeout = \"60s\"");
    let input = json!({"op": "parallel", "n": 1, "secs": 20});
    let child = sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--json", "--input", &input.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aw-run");
    let running = Instant::now();
    while sleeping_backends() == 0 {
        assert!(
            running.elapsed() < Duration::from_secs(30),
            "the statement never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let signalled = Instant::now();
    let out = child.wait_with_output().expect("aw-run ends");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    while sleeping_backends() > 0 {
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "the 20 s statement still runs on the server 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let report: Json = serde_json::from_slice(&out.stdout).expect("a report");
    assert_eq!(report["status"], "interrupted");
    let duration = report["usage"]["duration"].as_f64().unwrap_or_default();
    assert!(
        duration > 0.0,
        "an interrupted report keeps its usage: {report}"
    );
}

#[test]
fn a_fail_fast_flow_reports_the_failure_that_caused_it_in_rust_python_and_javascript() {
    // A pool of one and a short wait: of two tasks holding a connection for 5 s, one times out
    // waiting, and fail-fast cancels the other.
    let sandbox = config(
        cluster_port(),
        "max_size = 1\ntimeout = \"500ms\"",
        "timeout = \"60s\"",
    );
    let cases = [
        (
            "rust",
            guest("aw_flow_probe"),
            json!({"op": "fail-fast-pool"}),
            "sleep",
        ),
        (
            "py",
            polyglot_guest("py", "probe"),
            json!({"mode": "fail-fast-pool"}),
            "hold",
        ),
        (
            "js",
            polyglot_guest("js", "probe"),
            json!({"mode": "fail-fast-pool"}),
            "hold",
        ),
    ];
    let cause = "no connection of postgres profile `default` became free in time";
    for (lang, wasm, input, task) in cases {
        let out = run(sandbox
            .aw_run()
            .env("AW_CACHE_DIR", shared_cache_dir())
            .arg(wasm)
            .args(["--json", "--input", &input.to_string()]));
        assert_ne!(out.code, 0, "{lang}: {}", out.stdout);
        assert!(
            out.stderr.contains(cause),
            "{lang}: the cause is not in stderr:\n{}",
            out.stderr
        );
        let report = out.json();
        let message = report["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(cause),
            "{lang}: the run's error is not the cause: {report}"
        );
        assert_eq!(report["error"]["kind"], "timeout", "{lang}: {report}");
        let records = report["tasks"].as_array().cloned().unwrap_or_default();
        let failed: Vec<_> = records.iter().filter(|t| t["status"] == "failed").collect();
        let cancelled: Vec<_> = records
            .iter()
            .filter(|t| t["status"] == "cancelled")
            .collect();
        assert_eq!(
            (failed.len(), cancelled.len()),
            (1, 1),
            "{lang}: {records:?}"
        );
        assert!(
            failed[0]["error"]
                .as_str()
                .unwrap_or_default()
                .contains(cause),
            "{lang}: {records:?}"
        );
        let why = cancelled[0]["error"].as_str().unwrap_or_default();
        assert!(
            why.contains(&format!(
                "cancelled because task `{task}` failed: timeout: {cause}"
            )),
            "{lang}: the cancellation does not say why: {why}"
        );
    }
}

/// A throwaway cluster of this test's own (tests/services/postgres.sh), for faults that would
/// disturb the other tests: restarts. Stopped and deleted when dropped.
struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: String,
    port: u16,
}

impl PrivateCluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/services/postgres.sh");
        let out = std::process::Command::new(script)
            .arg("start")
            .arg(dir.path().join("pg"))
            .output()
            .expect("postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("postgres.sh printed no {name}: {text}"))
                .to_string()
        };
        let cluster = PrivateCluster {
            bin: var("AW_PG_BIN"),
            port: var("AW_PG_PORT").parse().expect("port"),
            dir,
        };
        // The shared test cluster trades durability for speed; a restart test needs commits to
        // be durable once acknowledged.
        cluster.sql("ALTER SYSTEM SET synchronous_commit = on");
        cluster.sql("SELECT pg_reload_conf()");
        cluster
    }

    fn sql(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        pg_admin_at(&self.port.to_string(), sql)
    }

    /// `pg_ctl restart -m mode`: `fast` rolls back open transactions and closes every
    /// connection; `immediate` is a crash, recovered at the next start.
    fn restart(&self, mode: &str) {
        let status = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{}/pg_ctl", self.bin))
            .arg("-D")
            .arg(self.dir.path().join("pg/data"))
            .args(["-m", mode, "-w", "-t", "30", "restart"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl");
        assert!(status.success(), "pg_ctl restart -m {mode}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/services/postgres.sh");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .status();
    }
}

/// A server restarted (fast or immediate) while a task writes 5000 rows in one transaction:
/// the table holds all of them or none, never some and never twice, and a run that reports
/// success holds all of them.
#[test]
fn server_restarts_never_leave_a_partial_or_doubled_transaction() {
    let cluster = PrivateCluster::start();
    let sandbox = config(cluster.port, "", "timeout = \"60s\"");
    let n = 5000;
    for (round, mode) in ["fast", "immediate", "fast", "immediate"]
        .into_iter()
        .enumerate()
    {
        let table = format!("aw_restart_{round}");
        cluster.sql(&format!("CREATE TABLE {table} (x int8)"));
        let child = sandbox
            .aw_run()
            .arg(guest("aw_flow_probe"))
            .args([
                "--json",
                "--input",
                &json!({"op": "write-once", "table": table, "mode": "tx", "n": n, "retries": 3})
                    .to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aw-run");
        // Restart once the transaction has started writing.
        let started = Instant::now();
        while cluster.sql(&format!("SELECT count(*) FROM pg_stat_activity WHERE usename = 'aw_trust' AND query LIKE 'INSERT INTO {table}%'"))[0].get::<_, i64>(0) == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "round {round}: the task never started writing");
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.restart(mode);
        let out = child.wait_with_output().expect("aw-run ends");
        let report: Json = serde_json::from_slice(&out.stdout).expect("a report");
        let rows = cluster.sql(&format!("SELECT count(*), count(DISTINCT x) FROM {table}"));
        let (count, distinct) = (rows[0].get::<_, i64>(0), rows[0].get::<_, i64>(1));
        assert!(
            count == 0 || count == n,
            "round {round} ({mode}): {count} rows, a partial or doubled transaction: {report}"
        );
        assert_eq!(
            count, distinct,
            "round {round} ({mode}): rows written twice: {report}"
        );
        if report["result"]["ok"].is_number() {
            assert_eq!(
                count, n,
                "round {round} ({mode}): the task succeeded but its rows are not there: {report}"
            );
        }
    }
}

/// kill -9 of `aw-run` inside a transaction: nothing of it is visible, and the server ends the
/// orphaned statement within `client_connection_check_interval` (1 s here).
#[test]
fn kill_9_in_a_transaction_leaves_nothing_and_the_server_ends_the_statement() {
    let table = format!("aw_kill9_{}", std::process::id());
    pg_admin(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int)"
    ));
    let sandbox = config(
        cluster_port(),
        "client_connection_check_interval = \"1s\"\napplication_name = \"aw-kill-9\"",
        "timeout = \"60s\"",
    );
    let mut child = sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args([
            "--failure-policy",
            "continue",
            "--input",
            &json!({"op": "fail-fast", "table": table, "secs": 30}).to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aw-run");
    // The long transaction, once it has written (its backend has a transaction id).
    let in_tx = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'aw-kill-9' AND query LIKE 'SELECT pg_sleep%' AND backend_xid IS NOT NULL";
    let started = Instant::now();
    while pg_admin_value(in_tx) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the transaction never reached its sleep"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let killed = Instant::now();
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*) FROM {table}")),
        0,
        "the inserted row is not visible"
    );
    while pg_admin_value(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'aw-kill-9'",
    ) > 0
    {
        assert!(
            killed.elapsed() < Duration::from_secs(4),
            "the orphaned backend still runs 4 s after kill -9"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*) FROM {table}")),
        0,
        "rolled back, not committed"
    );
    pg_admin(&format!("DROP TABLE {table}"));
}

/// 50 runs one after another and 20 at once, each using the pool: once they have exited, no
/// connection of theirs is left on the server.
#[test]
fn fifty_serial_and_twenty_concurrent_runs_leave_no_connection_behind() {
    let sandbox = config(
        cluster_port(),
        "application_name = \"aw-leak-check\"",
        "timeout = \"60s\"",
    );
    let input = json!({"op": "parallel", "n": 2, "secs": 0.01}).to_string();
    let aw_run = || {
        let mut cmd = sandbox.aw_run();
        cmd.arg(guest("aw_flow_probe"))
            .args(["--input", &input])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    for i in 0..50 {
        let out = aw_run().output().expect("aw-run");
        assert!(
            out.status.success(),
            "serial run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let children: Vec<_> = (0..20).map(|_| aw_run().spawn().expect("aw-run")).collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("aw-run");
        assert!(
            out.status.success(),
            "concurrent run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A closed connection's backend exits a moment after the client's.
    let ended = Instant::now();
    while pg_admin_value(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'aw-leak-check'",
    ) > 0
    {
        assert!(
            ended.elapsed() < Duration::from_secs(3),
            "connections were left behind"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
