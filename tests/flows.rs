//! Flows through `aw-run`: a real flow guest (tests/guests/flow-probe) spawning tasks into
//! fresh instances, against the real PostgreSQL cluster scripts/test.sh starts.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    flow_sandbox, guest, overlay_scram_postgres, pg_admin_value, pg_port, run, run_flow, run_graph,
    Run, Sandbox,
};
use serde_json::{json, Value as Json};

fn flow(sandbox: &Sandbox, input: Json, extra: &[&str]) -> Run {
    run_flow(sandbox, &input, extra)
}

fn tasks(report: &Json) -> Vec<Json> {
    report["tasks"].as_array().cloned().unwrap_or_default()
}

#[test]
fn tasks_run_in_parallel_up_to_max_tasks() {
    let timed = |max: u32| {
        let sandbox = flow_sandbox(&format!("max_tasks = {max}, timeout = \"60s\""));
        let started = Instant::now();
        let report = flow(
            &sandbox,
            json!({"op": "parallel", "n": 8, "secs": 0.5}),
            &[],
        )
        .expect_code(0)
        .json();
        assert_eq!(report["result"]["tasks"], 8);
        assert_eq!(tasks(&report).len(), 8);
        started.elapsed()
    };
    let wide = timed(8);
    let narrow = timed(1);
    assert!(
        wide < Duration::from_millis(2500),
        "8 tasks of 0.5 s with max_tasks = 8 took {wide:?}"
    );
    assert!(
        narrow >= Duration::from_millis(4000),
        "with max_tasks = 1 they run one at a time: {narrow:?}"
    );
    // The CLI flag overrides the profile.
    let sandbox = flow_sandbox("max_tasks = 1, timeout = \"60s\"");
    let started = Instant::now();
    flow(
        &sandbox,
        json!({"op": "parallel", "n": 8, "secs": 0.5}),
        &["--max-concurrency", "8"],
    )
    .expect_code(0);
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[test]
fn futures_passed_as_arguments_do_not_serialize_the_flow() {
    // Six extracts of 0.5 s, each feeding a load queued at once behind it (spawn-after).
    let sandbox = flow_sandbox("max_tasks = 8, timeout = \"60s\"");
    let report = flow(
        &sandbox,
        json!({"op": "extract-load", "n": 6, "secs": 0.5}),
        &[],
    )
    .expect_code(0)
    .json();
    let sums: Vec<u64> = (0..6u64).map(|i| 1000 + i * 111).collect();
    assert_eq!(report["result"]["sums"], json!(sums), "{report}");
    let duration = report["usage"]["duration"]
        .as_f64()
        .expect("usage.duration");
    eprintln!("rust: 6 extracts feeding 6 loads took {duration} s");
    assert!(
        duration < 1.2,
        "6 extracts of 0.5 s feeding 6 loads took {duration} s with max_tasks = 8"
    );
    let records = tasks(&report);
    assert_eq!(records.len(), 12, "{report}");
    assert!(
        records.iter().all(|t| t["status"] == "succeeded"),
        "{report}"
    );
    // The report's task graph: every load has one edge, from an extract.
    let ids: Vec<u64> = records
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(
        ids,
        (0..12).collect::<Vec<u64>>(),
        "ids in spawn order: {report}"
    );
    let mut from: Vec<u64> = Vec::new();
    for t in &records {
        let after = t["after"].as_array().cloned().unwrap_or_default();
        if t["name"] == "load" {
            assert_eq!(after.len(), 1, "{t}");
            let dep = after[0].as_u64().expect("edge");
            assert_eq!(records[dep as usize]["name"], "extract", "{report}");
            from.push(dep);
        } else {
            assert!(after.is_empty(), "{t}");
        }
    }
    from.sort();
    assert_eq!(
        from,
        (0..6).collect::<Vec<u64>>(),
        "one load behind each extract"
    );
}

/// The record of the run's task `name` (the first, in spawn order).
fn record(report: &Json, name: &str) -> Json {
    tasks(report)
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task `{name}` in {report}"))
}

#[test]
fn a_task_behind_a_failed_one_never_runs() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let report = flow(
        &sandbox,
        json!({"op": "upstream-fails", "secs": 0.2}),
        &["--failure-policy", "aggregate"],
    )
    .expect_code(1)
    .json();
    let load = record(&report, "load");
    assert_eq!(load["status"], "upstream-failed", "{report}");
    assert_eq!(load["attempts"], 0, "{report}");
    let message = load["error"].as_str().unwrap_or("");
    assert!(
        message.contains("depends on task `fail`") && message.contains("fails on purpose"),
        "{message}"
    );
    assert_eq!(record(&report, "square")["status"], "succeeded", "{report}");
    assert_eq!(record(&report, "fail")["status"], "failed", "{report}");
    // Only the task that failed is a failure; the one it kept from running is not.
    let failures = report["error"]["failures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["task"], "fail", "{report}");
}

#[test]
fn aw_run_graph_draws_a_run_with_its_edges_and_statuses() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let events = sandbox.path().join("events.jsonl");
    flow(
        &sandbox,
        json!({"op": "upstream-fails", "secs": 0.1}),
        &[
            "--failure-policy",
            "aggregate",
            "--events",
            events.to_str().unwrap_or_default(),
        ],
    )
    .expect_code(1);
    let out = run_graph(&sandbox, &events, "json").expect_code(0);
    let graph: Json = serde_json::from_str(&out.stdout).expect("graph JSON");
    let nodes: Vec<(&Json, &Json, &Json)> = graph["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|n| (&n["id"], &n["task"], &n["status"]))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        nodes,
        vec![
            (&json!(0), &json!("fail"), &json!("failed")),
            (&json!(1), &json!("load"), &json!("upstream-failed")),
            (&json!(2), &json!("square"), &json!("succeeded")),
        ],
        "{graph}"
    );
    assert_eq!(graph["edges"], json!([[0, 1]]), "{graph}");
    assert_eq!(graph["status"], "task-failed", "{graph}");
    let dot = run(sandbox
        .aw_run()
        .args(["graph", events.to_str().unwrap_or_default()]))
    .expect_code(0)
    .stdout;
    assert!(
        dot.contains("\"0\" -> \"1\";") && dot.contains("color=\"orange\""),
        "{dot}"
    );
    // An events file that is not one: a usage error naming the line.
    let bad = sandbox.write("bad.jsonl", "not json\n");
    let out = run(sandbox.aw_run().arg("graph").arg(&bad));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("line 1 of the events file is not a JSON object"),
        "{}",
        out.stderr
    );
}

#[test]
fn under_fail_fast_a_failure_nobody_joined_fails_the_run() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let out = flow(&sandbox, json!({"op": "side-fail", "secs": 0.1}), &[]).expect_code(1);
    let report = out.json();
    assert_eq!(report["status"], "task-failed", "{report}");
    assert!(report.get("result").is_none(), "{report}");
    let failures = report["error"]["failures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let failed = record(&report, "fail");
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(
        (
            &failures[0]["task"],
            &failures[0]["id"],
            &failures[0]["kind"]
        ),
        (&json!("fail"), &failed["id"], &json!("permanent")),
        "{report}"
    );
    let message = report["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("task `fail` (id 0) failed: permanent: this task fails on purpose")
            && message.contains("fail_fast"),
        "{message}"
    );
    // The same flow under `continue`: the failure is the flow's to handle.
    let report = flow(
        &sandbox,
        json!({"op": "side-fail", "secs": 0.1}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    assert_eq!(report["result"]["square"], 49, "{report}");
    assert_eq!(record(&report, "fail")["status"], "failed", "{report}");
}

#[test]
fn aggregate_commits_the_independent_branch_skips_the_dependents_and_lists_every_failure() {
    let table = format!("aw_agg_{}", std::process::id());
    pg_admin_value(&format!(
        "DROP TABLE IF EXISTS {table}, {table}_dep; CREATE TABLE {table} (x int); CREATE TABLE {table}_dep (x int8)"
    ));
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let input = json!({"op": "aggregate", "table": table, "secs": 1.0});
    let report = flow(&sandbox, input.clone(), &["--failure-policy", "aggregate"])
        .expect_code(1)
        .json();
    assert_eq!(report["status"], "task-failed", "{report}");
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*) FROM {table}")),
        1,
        "the independent transaction, still open when both failures happened, committed: {report}"
    );
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*) FROM {table}_dep")),
        0,
        "the write behind a failed task never ran"
    );
    assert_eq!(record(&report, "write_rows")["status"], "upstream-failed");
    assert_eq!(record(&report, "long_tx")["status"], "succeeded");
    let failures = report["error"]["failures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let failed: Vec<(&Json, &Json)> = failures.iter().map(|f| (&f["task"], &f["id"])).collect();
    assert_eq!(
        failed,
        vec![(&json!("fail"), &json!(1)), (&json!("fail"), &json!(3))],
        "{report}"
    );
    let message = report["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("2 task(s) failed (failure policy aggregate")
            && message.contains("`fail` (id 1): permanent:")
            && message.contains("`fail` (id 3): permanent:"),
        "{message}"
    );

    // Under fail-fast the same run stops the transaction and commits nothing.
    pg_admin_value(&format!("TRUNCATE {table}"));
    let report = flow(&sandbox, input, &[]).expect_code(1).json();
    assert_eq!(
        record(&report, "long_tx")["status"],
        "cancelled",
        "{report}"
    );
    assert_eq!(pg_admin_value(&format!("SELECT count(*) FROM {table}")), 0);
    pg_admin_value(&format!("DROP TABLE {table}, {table}_dep"));
}

#[test]
fn under_continue_a_dependent_gets_the_failure_in_place_of_the_result() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let report = flow(
        &sandbox,
        json!({"op": "continue-dep", "secs": 0.1}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    let seen = &report["result"]["inspect"]["ok"];
    assert_eq!(seen["failed_task"], "fail", "{report}");
    assert_eq!(seen["id"], record(&report, "fail")["id"], "{report}");
    assert_eq!(seen["kind"], "permanent", "{report}");
    assert_eq!(seen["attempts"], 1, "{report}");
    assert_eq!(seen["cancelled"], false, "{report}");
    assert!(
        seen["message"]
            .as_str()
            .unwrap_or("")
            .contains("fails on purpose"),
        "{report}"
    );
    assert_eq!(
        record(&report, "inspect")["status"],
        "succeeded",
        "{report}"
    );
}

#[test]
fn a_result_repeated_in_a_dependents_input_is_refused_within_the_budget() {
    let sandbox = flow_sandbox("timeout = \"60s\", memory = \"64MiB\", max_tasks = 2");
    let report = flow(
        &sandbox,
        json!({"op": "dep-bomb", "n": 100_000}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    let load = &report["result"]["load"]["error"];
    assert_eq!(load["kind"], "ErrorKind::Limit", "{report}");
    assert_eq!(load["attempts"], 0, "{report}");
    let message = load["message"].as_str().unwrap_or("");
    assert!(message.contains("the results it depends on"), "{message}");
    let rss = report["usage"]["host_peak_rss"].as_u64().expect("rss") >> 20;
    // 100,000 copies of 1 MiB would be 100 GB; the budget is 64 MiB x 2 slots.
    assert!(rss < 400, "peak RSS {rss} MiB");
}

#[test]
fn transient_failures_are_retried_and_invalid_input_is_not() {
    let key = format!("flaky-{}", std::process::id());
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let report = flow(
        &sandbox,
        json!({"op": "flaky", "key": key, "fail_times": 2, "retries": 3}),
        &[],
    )
    .expect_code(0)
    .json();
    assert_eq!(
        report["result"]["ok"], 3,
        "succeeded on the third attempt: {report}"
    );
    let t = &tasks(&report)[0];
    assert_eq!(
        (t["attempts"].as_u64(), t["status"].as_str()),
        (Some(3), Some("succeeded"))
    );
    // Backoff 50 ms, 100 ms (jitter: at least half of each).
    assert!(t["duration"].as_f64().unwrap() >= 0.075, "{t}");

    let key = format!("invalid-{}", std::process::id());
    let report = flow(
        &sandbox,
        json!({"op": "flaky", "key": key, "fail_times": 2, "retries": 3, "kind": "invalid-input"}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    let e = &report["result"]["error"];
    assert_eq!(
        (e["attempts"].as_u64(), e["kind"].as_str()),
        (Some(1), Some("ErrorKind::InvalidInput")),
        "{report}"
    );
    assert_eq!(tasks(&report)[0]["error_kind"], "invalid-input");
}

#[test]
fn a_looping_task_is_stopped_by_its_timeout_and_retried() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let started = Instant::now();
    let report = flow(
        &sandbox,
        json!({"op": "timeout", "retries": 1, "timeout_ms": 300}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    let e = &report["result"]["error"];
    assert_eq!(
        (e["attempts"].as_u64(), e["limit"].as_str()),
        (Some(2), Some("timeout")),
        "{report}"
    );
    assert_eq!(tasks(&report)[0]["limit"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_memory_bomb_does_not_affect_its_siblings() {
    let sandbox = flow_sandbox("memory = \"64MiB\", timeout = \"60s\"");
    let report = flow(
        &sandbox,
        json!({"op": "bomb"}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    assert_eq!(
        report["result"]["bomb"]["error"]["limit"], "memory",
        "{report}"
    );
    assert_eq!(
        report["result"]["squares"],
        json!([{"ok": 1}, {"ok": 4}, {"ok": 9}])
    );
}

#[test]
fn fail_fast_interrupts_a_sibling_in_a_transaction_and_continue_lets_it_commit() {
    let table = format!("aw_ff_{}", std::process::id());
    pg_admin_value(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int)"
    ));
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let started = Instant::now();
    let report = flow(
        &sandbox,
        json!({"op": "fail-fast", "table": table, "secs": 5}),
        &[],
    )
    .expect_code(1)
    .json();
    assert_eq!(
        record(&report, "long_tx")["status"],
        "cancelled",
        "{report}"
    );
    assert_eq!(report["error"]["failures"][0]["task"], "fail", "{report}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the sibling was interrupted, not waited for"
    );
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*) FROM {table}")),
        0,
        "the interrupted transaction committed nothing"
    );

    let report = flow(
        &sandbox,
        json!({"op": "fail-fast", "table": table, "secs": 1}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    assert_eq!(report["result"]["long"]["ok"], true, "{report}");
    assert_eq!(report["result"]["fail"]["error"]["cancelled"], false);
    assert_eq!(pg_admin_value(&format!("SELECT count(*) FROM {table}")), 1);
    pg_admin_value(&format!("DROP TABLE {table}"));
}

#[test]
fn identical_spawns_within_the_ttl_are_cache_hits() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let report = flow(&sandbox, json!({"op": "cache", "n": 7}), &[])
        .expect_code(0)
        .json();
    assert_eq!(
        report["result"],
        json!({"first": 49, "second": 49, "joined": [64, 64]})
    );
    let t = tasks(&report);
    let ran = t.iter().filter(|r| r["status"] == "succeeded").count();
    let cached = t.iter().filter(|r| r["cached"] == true).count();
    assert_eq!(
        (ran, cached),
        (2, 2),
        "two executions, one cache hit and one joined in flight: {t:?}"
    );
}

#[test]
fn runaway_spawning_is_bounded() {
    let sandbox = flow_sandbox("timeout = \"60s\", max_total_tasks = 50");
    let report = flow(&sandbox, json!({"op": "loop-spawn"}), &[])
        .expect_code(0)
        .json();
    assert_eq!(report["result"]["spawned"], 50, "{report}");
    assert_eq!(report["result"]["error"]["kind"], "ErrorKind::Limit");
    assert!(report["result"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_total_tasks"));

    let sandbox = flow_sandbox("timeout = \"60s\", max_depth = 3");
    let report = flow(
        &sandbox,
        json!({"op": "runaway"}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    let t = tasks(&report);
    assert_eq!(t.len(), 3, "depths 1 to 3 ran: {t:?}");
    let deepest = t
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("the deepest spawner failed");
    assert_eq!(deepest["error_kind"], "limit");
}

#[test]
fn spawning_an_unknown_task_names_the_known_ones() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let report = flow(&sandbox, json!({"op": "unknown-task"}), &[])
        .expect_code(0)
        .json();
    assert_eq!(report["result"]["kind"], "ErrorKind::InvalidInput");
    assert!(
        report["result"]["message"]
            .as_str()
            .unwrap()
            .contains("square"),
        "{report}"
    );
}

#[test]
fn describe_lists_the_tasks_without_running_them() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let out = run(sandbox
        .aw_run()
        .args(["describe"])
        .arg(guest("aw_flow_probe")))
    .expect_code(0);
    let described: Json = serde_json::from_str(&out.stdout).expect("JSON");
    let names: Vec<&str> = described["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "sleep",
            "flaky",
            "spin",
            "bomb",
            "square",
            "long_tx",
            "fail",
            "spawner",
            "parent",
            "hoard_then_join",
            "leak",
            "big",
            "write_rows",
            "host_panic",
            "abort_worker",
            "keys",
            "extract",
            "load",
            "inspect"
        ]
    );
    let out = run(sandbox.aw_run().args(["describe"]).arg(guest("aw_probe")));
    assert_eq!(
        out.code, 6,
        "a task component has nothing to describe: {}",
        out.stderr
    );
}

#[test]
fn a_thousand_task_fan_out_completes() {
    let sandbox = flow_sandbox("timeout = \"120s\"");
    let report = flow(&sandbox, json!({"op": "fanout", "n": 1000}), &[])
        .expect_code(0)
        .json();
    assert_eq!(report["result"], json!({"count": 1000, "sum": 332833500}));
    assert_eq!(tasks(&report).len(), 1000);
}

#[test]
fn sigint_exits_130_with_nothing_half_committed() {
    let table = format!("aw_int_{}", std::process::id());
    pg_admin_value(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int)"
    ));
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let input = json!({"op": "fail-fast", "table": table, "secs": 5});
    let child = sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args([
            "--json",
            "--failure-policy",
            "continue",
            "--input",
            &input.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aw-run");
    // Interrupted inside the task's open transaction (its insert holds a lock on the table),
    // however long the start took.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pg_admin_value(&format!("SELECT count(*)::int8 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '{table}' AND l.mode = 'RowExclusiveLock'")) == 0 {
        assert!(std::time::Instant::now() < deadline, "the task never opened its transaction");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).expect("a report even when interrupted");
    assert_eq!(report["status"], "interrupted");
    assert_eq!(
        pg_admin_value(&format!("SELECT count(*) FROM {table}")),
        0,
        "the open transaction was rolled back"
    );
    pg_admin_value(&format!("DROP TABLE {table}"));
}

#[test]
fn events_are_written_as_json_lines() {
    let key = format!("events-{}", std::process::id());
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let events = sandbox.path().join("events.jsonl");
    flow(
        &sandbox,
        json!({"op": "flaky", "key": key, "fail_times": 1, "retries": 2}),
        &["--events", events.to_str().unwrap()],
    )
    .expect_code(0);
    let kinds: Vec<String> = std::fs::read_to_string(&events)
        .expect("events file")
        .lines()
        .map(|l| {
            serde_json::from_str::<Json>(l).expect("a JSON line")["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "task-queued",
            "task-started",
            "task-retry",
            "task-started",
            "task-succeeded",
            "flow-finished"
        ]
    );
}

#[test]
fn pg_fanout_prints_the_python_originals_summary() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/pg-fanout");
    let sandbox = Sandbox::new("");
    let out = run(overlay_scram_postgres(&mut sandbox.aw_run())
        .current_dir(dir)
        .arg(guest("aw_pg_fanout"))
        .args(["--profile", "default", "--json"]))
    .expect_code(0);
    let report = out.json();
    assert_eq!(
        report["result"]["printed"],
        "Summary rows: [{'category': 'alpha', 'total': 25.0, 'count': 2}, {'category': 'beta', 'total': 10.0, 'count': 2}, {'category': 'gamma', 'total': 5.0, 'count': 1}]"
    );
    assert_eq!(tasks(&report).len(), 3, "one task per category");
    // The printed rows are the ones written to the summary table and read back.
    assert_eq!(
        pg_admin_value("SELECT count(*)::int8 FROM aw_fanout_orders_summary"),
        3
    );
    assert_eq!(
        pg_admin_value("SELECT sum(count)::int8 FROM aw_fanout_orders_summary WHERE total = 10"),
        2,
        "beta: 7 + 3 over 2 rows"
    );
}

#[test]
fn the_disk_cache_survives_across_runs() {
    let sandbox = Sandbox::new(&format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\n[profiles.default]\npostgres = [\"default\"]\ncache = \"dir:results\"\nlimits = {{ timeout = \"60s\" }}\n",
        pg_port()
    ));
    let first = flow(&sandbox, json!({"op": "cache", "n": 11}), &[])
        .expect_code(0)
        .json();
    assert_eq!(
        tasks(&first)
            .iter()
            .filter(|r| r["status"] == "succeeded")
            .count(),
        2
    );
    assert!(
        std::fs::read_dir(sandbox.path().join("results"))
            .expect("the cache directory")
            .count()
            >= 2
    );
    let second = flow(&sandbox, json!({"op": "cache", "n": 11}), &[])
        .expect_code(0)
        .json();
    assert_eq!(
        second["result"],
        json!({"first": 121, "second": 121, "joined": [144, 144]})
    );
    let t = tasks(&second);
    assert!(
        t.iter().all(|r| r["cached"] == true),
        "nothing ran the second time: {t:?}"
    );
}

#[test]
fn a_task_waiting_for_its_children_lends_them_its_slot() {
    // One slot, three parents each joining four children: without lending, the first parent
    // would hold the only slot while its children wait for it, until the timeout.
    let sandbox = flow_sandbox("timeout = \"20s\", max_tasks = 1");
    let started = Instant::now();
    let report = flow(&sandbox, json!({"op": "nested", "n": 4}), &[])
        .expect_code(0)
        .json();
    assert_eq!(report["result"]["sums"], json!([30, 30, 30]), "{report}");
    assert_eq!(tasks(&report).len(), 15);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Issue 16: tasks waiting in `join` lend their slot to their own children only, so at
/// `max_tasks = 1` twenty tasks that each hold 40 MiB while joining a child are not all
/// resident at once (they were: 20 x 40 MiB).
#[test]
fn tasks_waiting_in_join_do_not_pile_up_resident() {
    let sandbox = flow_sandbox("timeout = \"60s\", max_tasks = 1");
    let report = flow(
        &sandbox,
        json!({"op": "resident", "n": 40, "retries": 20}),
        &[],
    )
    .expect_code(0)
    .json();
    assert_eq!(report["result"]["hoarders"], 20, "{report}");
    let rss_mib = report["usage"]["host_peak_rss"]
        .as_u64()
        .expect("host_peak_rss")
        >> 20;
    eprintln!("peak RSS with 20 joining hoarders at max_tasks = 1: {rss_mib} MiB");
    // A hoarder, its child and the flow at a time; all twenty would be over 800 MiB.
    assert!(rss_mib < 250, "peak RSS {rss_mib} MiB");
}

/// Issue 16: the run's timeout bounds tasks the flow left behind, retries and all: a flow
/// that spawns a task retrying without end and returns at once ends at `--timeout`, exit 4.
#[test]
fn a_flow_whose_task_retries_forever_ends_at_the_timeout() {
    let sandbox = flow_sandbox("timeout = \"60s\", max_retries = 4294967295");
    let key = format!("forever-{}", std::process::id());
    let started = Instant::now();
    let out = flow(
        &sandbox,
        json!({"op": "retry-forever", "key": key}),
        &["--timeout", "3s"],
    )
    .expect_code(4);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "ended after {elapsed:?}");
    let report = out.json();
    assert_eq!(report["status"], "limit-exceeded", "{report}");
    assert_eq!(report["error"]["limit"]["name"], "timeout", "{report}");
    let retried = tasks(&report)[0]["attempts"].as_u64().unwrap_or(0);
    assert!(
        retried > 1,
        "the task was retrying until the timeout: {report}"
    );
}

/// Issue 16: a guest's retry count is lowered to the profile's `max_retries`.
#[test]
fn retries_are_capped_by_the_profile() {
    let sandbox = flow_sandbox("timeout = \"60s\", max_retries = 2");
    let key = format!("capped-{}", std::process::id());
    let report = flow(
        &sandbox,
        json!({"op": "flaky", "key": key, "fail_times": 10, "retries": 50}),
        &["--failure-policy", "continue"],
    )
    .expect_code(0)
    .json();
    assert_eq!(
        report["result"]["error"]["attempts"], 3,
        "one attempt and two retries: {report}"
    );
}

/// Issue 16: a granted secret never reaches anything aw-run writes, in any form: not the
/// events file (task-retry and task-failed lines carry the task's error), not the report,
/// the result, stdout, stderr or `describe`, also when the value holds `"`, `\`, `'` and `@`
/// (printed JSON-escaped, Rust-escaped, percent-encoded or SQL-quoted it used to get past).
#[test]
fn a_secret_reaches_no_file_or_stream_in_any_form() {
    const SECRET: &str = "s3cr\"et\\v@lue'x";
    let sandbox = Sandbox::new(&format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\n[profiles.default]\npostgres = [\"default\"]\nsecrets = [\"leak_token\"]\nlimits = {{ timeout = \"60s\" }}\n",
        pg_port()
    ))
    .with_env("LEAK_TOKEN", SECRET);
    let events = sandbox.path().join("events.jsonl");
    let out = flow(
        &sandbox,
        json!({"op": "leak", "key": "leak_token"}),
        &[
            "--events",
            events.to_str().unwrap(),
            "-v",
            "--failure-policy",
            "continue",
        ],
    )
    .expect_code(0);
    let report = out.json();
    assert_eq!(report["result"]["secret"], "***", "{report}");
    assert_eq!(
        report["result"]["joined"]["error"]["attempts"], 2,
        "the task failed and was retried: {report}"
    );
    let events = std::fs::read_to_string(&events).expect("events file");
    assert!(
        events.contains("task-retry") && events.contains("task-failed"),
        "{events}"
    );
    let described = run(sandbox
        .aw_run()
        .args(["describe"])
        .arg(guest("aw_flow_probe")))
    .expect_code(0);
    let mut written: Vec<(&str, String)> = vec![
        ("stdout", out.stdout),
        ("stderr", out.stderr),
        ("events", events),
    ];
    written.push(("describe", described.stdout + &described.stderr));
    for (name, text) in written {
        // Every printed form of the value starts with its first four characters.
        assert!(!text.contains("s3cr"), "{name} holds the secret:\n{text}");
    }
}

/// Issue 16: a flow run keeps every task's input and result until it ends; they count against
/// the run's budget (limits.memory x max_tasks), so ten 10 MiB results in a 64 MiB run are
/// refused once the budget is spent, not held until the host runs out of memory.
#[test]
fn task_results_held_by_the_run_count_against_its_budget() {
    let sandbox = flow_sandbox(
        "timeout = \"60s\", max_tasks = 1, memory = \"64MiB\", failure_policy = \"continue\"",
    );
    let report = flow(
        &sandbox,
        json!({"op": "big-results", "n": 10, "retries": 10}),
        &[],
    )
    .expect_code(0)
    .json();
    let results = report["result"]["results"]
        .as_array()
        .expect("results")
        .clone();
    let kept = results
        .iter()
        .filter(|r| r["ok"].as_u64() > Some(10 << 20))
        .count();
    assert!(
        (3..=6).contains(&kept),
        "{kept} of 10 results kept: {results:?}"
    );
    let refused = &results[9]["error"];
    assert_eq!(refused["kind"], "ErrorKind::Limit", "{results:?}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("the run's"),
        "{refused}"
    );
    let rss_mib = report["usage"]["host_peak_rss"]
        .as_u64()
        .expect("host_peak_rss")
        >> 20;
    assert!(rss_mib < 2 * 64 + 150, "peak RSS {rss_mib} MiB");
}
