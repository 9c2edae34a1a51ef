//! The `auto_workflow` programming model: the flow files of tests/guests/auto-workflow, written
//! for the Python package (`from auto_workflow import task, flow, fan_out`), run unchanged
//! under `aw-run` against the real PostgreSQL, and give what the package auto-workflow 0.1.2
//! gave natively on the same inputs and the same PostgreSQL.
//!
//! The package's outputs are fixtures (tests/fixtures/auto-workflow/<case>.json), recorded by
//! `scripts/record-auto-workflow-fixtures.sh` from the same flow files and the cases of
//! tests/guests/auto-workflow/cases.json. Rerun it after changing either.

mod common;

use std::collections::BTreeSet;

use common::{pg_admin, pg_port, polyglot_guest, run, run_graph, shared_cache_dir, Run, Sandbox};
use serde_json::{json, Value as Json};

fn cases() -> Vec<Json> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/guests/auto-workflow/cases.json"
    ))
    .expect("cases.json");
    serde_json::from_str(&text).expect("cases.json is JSON")
}

fn fixture(case: &str) -> Json {
    let path = format!(
        "{}/../tests/fixtures/auto-workflow/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}; record it with scripts/record-auto-workflow-fixtures.sh")
    });
    serde_json::from_str(&text).expect("a fixture is JSON")
}

/// The connector profiles the flow files name (`default`, and `example` for the document's
/// example), both granted to the run profile.
fn sandbox() -> Sandbox {
    let port = pg_port();
    let mut toml = String::new();
    for profile in ["default", "example"] {
        toml.push_str(&format!(
            "[connectors.postgres.{profile}]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\n"
        ));
    }
    toml.push_str("[profiles.default]\npostgres = [\"default\", \"example\"]\nlimits = { timeout = \"120s\", max_tasks = 4 }\n");
    // persist=True results go to a directory beside the config, as the package's
    // `artifact_store = "filesystem"` puts them.
    let toml =
        format!("artifact_store = \"filesystem\"\nartifact_store_path = \"artifacts\"\n{toml}");
    Sandbox::new(&toml)
}

fn component() -> std::path::PathBuf {
    polyglot_guest("py", "auto-workflow")
}

/// `aw-run --json` of `case` (its flow, input, params, policy and concurrency).
fn run_case(sandbox: &Sandbox, case: &Json) -> Run {
    let mut cmd = sandbox.aw_run();
    cmd.env("AW_CACHE_DIR", shared_cache_dir())
        .arg(component())
        .args([
            "--json",
            "--flow",
            case["flow"].as_str().unwrap_or_default(),
        ])
        .args([
            "--input",
            &case.get("input").cloned().unwrap_or(json!({})).to_string(),
        ]);
    if let Some(params) = case.get("params") {
        cmd.args(["--params", &params.to_string()]);
    }
    if let Some(policy) = case["failure_policy"].as_str() {
        cmd.args(["--failure-policy", policy]);
    }
    if let Some(n) = case["max_concurrency"].as_u64() {
        cmd.args(["--max-concurrency", &n.to_string()]);
    }
    run(&mut cmd)
}

/// The first column of `sql`'s first row, as JSON (what the recorder stores).
fn admin_value(sql: &str) -> Json {
    let rows = pg_admin(sql);
    let Some(row) = rows.first() else {
        return Json::Null;
    };
    if let Ok(v) = row.try_get::<_, Option<i64>>(0) {
        return json!(v);
    }
    if let Ok(v) = row.try_get::<_, Option<i32>>(0) {
        return json!(v);
    }
    json!(row.try_get::<_, Option<String>>(0).ok().flatten())
}

fn strings(values: &Json) -> Vec<String> {
    values
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What differs between aw-run's run of `case` and the package's (empty: nothing).
fn differences(case: &Json, out: &Run, expected: &Json) -> Vec<String> {
    let name = case["name"].as_str().unwrap_or_default();
    let mut found = Vec::new();
    let report = out.json();
    if let Some(result) = expected.get("result") {
        // A racy flow: its case says which other results are its own (and why).
        let allowed = case["also_allowed"].as_array().cloned().unwrap_or_default();
        if out.code != 0 || (&report["result"] != result && !allowed.contains(&report["result"])) {
            found.push(format!(
                "{name}: the package returned {result}; aw-run exited {} with {}\n{}",
                out.code,
                report
                    .get("result")
                    .or(report.get("error"))
                    .unwrap_or(&Json::Null),
                out.stderr
            ));
        }
    } else {
        let error = &expected["error"];
        let raised = format!(
            "{}: {}",
            error["type"].as_str().unwrap_or_default(),
            error["message"].as_str().unwrap_or_default()
        );
        let message = report["error"]["message"].as_str().unwrap_or_default();
        if out.code != 1 || !message.contains(&raised) {
            found.push(format!(
                "{name}: the package raised {raised:?}; aw-run exited {} with {message:?}",
                out.code
            ));
        }
        let failed: BTreeSet<String> = report["tasks"]
            .as_array()
            .map(|tasks| {
                tasks
                    .iter()
                    .filter(|t| t["status"] == "failed")
                    .filter_map(|t| t["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let expected_failed: BTreeSet<String> = strings(&error["failed"]).into_iter().collect();
        if failed != expected_failed {
            found.push(format!(
                "{name}: the package's failed tasks {expected_failed:?}; aw-run's {failed:?}"
            ));
        }
    }
    let after: Vec<Json> = case["after"]
        .as_array()
        .map(|queries| {
            queries
                .iter()
                .map(|q| admin_value(q.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if after != expected["after"].as_array().cloned().unwrap_or_default() {
        found.push(format!(
            "{name}: the database after the package's run: {}; after aw-run's: {after:?}",
            expected["after"]
        ));
    }
    found
}

#[test]
fn flow_files_written_for_the_package_give_its_results_under_aw_run() {
    let sandbox = sandbox();
    let mut found = Vec::new();
    for case in cases() {
        if case["name"] == "persist" {
            // The artifact directory holds what the run persisted, and nothing else.
            std::fs::remove_dir_all(sandbox.path().join("artifacts")).ok();
        }
        let name = case["name"].as_str().unwrap_or_default().to_string();
        for sql in strings(&case["reset"]) {
            pg_admin(&sql);
        }
        let out = run_case(&sandbox, &case);
        eprintln!("{name}: exit {}", out.code);
        found.extend(differences(&case, &out, &fixture(&name)));
        if name == "persist" {
            let files = std::fs::read_dir(sandbox.path().join("artifacts"))
                .map(|d| d.count())
                .unwrap_or(0);
            if files != 1 {
                found.push(format!(
                    "persist: {files} files in the artifact directory, not 1"
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n\n"));
}

#[test]
fn six_extracts_feeding_six_loads_run_in_parallel() {
    let sandbox = sandbox();
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "six_days")
        .expect("the six_days case");
    let report = run_case(&sandbox, &case).expect_code(0).json();
    assert_eq!(report["result"], fixture("six_days")["result"], "{report}");
    let duration = report["usage"]["duration"]
        .as_f64()
        .expect("usage.duration");
    eprintln!("6 extracts of 0.5 s feeding 6 loads took {duration} s with 8 slots");
    assert!(duration < 1.2, "{duration} s: the flow was serialized");
    // The graph as it ran: each load waited for its extract.
    let tasks = report["tasks"].as_array().cloned().unwrap_or_default();
    let loads: Vec<&Json> = tasks.iter().filter(|t| t["name"] == "load_day").collect();
    assert_eq!(loads.len(), 6, "{report}");
    for load in loads {
        let after = load["after"].as_array().cloned().unwrap_or_default();
        assert_eq!(after.len(), 1, "{load}");
        let upstream = tasks
            .iter()
            .find(|t| t["id"] == after[0])
            .expect("its extract");
        assert_eq!(upstream["name"], "extract_day", "{load}");
    }
}

/// DOT lines as a set: the package prints a node's edges in set order, which varies.
fn dot_lines(dot: &str) -> BTreeSet<String> {
    dot.lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn describe_prints_the_packages_graph_json_and_dot_plus_the_side_effect_tasks() {
    let sandbox = sandbox();
    for case in cases().into_iter().filter(|c| c["describe"] == true) {
        let name = case["name"].as_str().unwrap_or_default();
        let expected = fixture(name);
        let input = case.get("input").cloned().unwrap_or(json!({})).to_string();
        let flow = case["flow"].as_str().unwrap_or_default();
        let describe = |format: &str| {
            run(sandbox
                .aw_run()
                .env("AW_CACHE_DIR", shared_cache_dir())
                .arg("describe")
                .arg(component())
                .args(["--flow", flow, "--input", &input, "--format", format]))
            .expect_code(0)
            .stdout
        };
        let ours: Json = serde_json::from_str(&describe("json")).expect("describe JSON");
        let theirs = &expected["describe"];
        // The package leaves out the tasks a flow calls but does not return (side effects);
        // aw-run lists them too, after the package's nodes.
        let nodes = ours["nodes"].as_array().cloned().unwrap_or_default();
        let package_nodes = theirs["nodes"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            &nodes[..package_nodes.len().min(nodes.len())],
            &package_nodes[..],
            "{name}: {ours}"
        );
        let extra: Vec<&str> = nodes[package_nodes.len()..]
            .iter()
            .filter_map(|n| n["id"].as_str())
            .collect();
        let side_effects: Vec<&str> = if name == "docs_example" {
            vec!["insert_vals:1"]
        } else {
            vec![]
        };
        assert_eq!(extra, side_effects, "{name}: {ours}");
        assert_eq!(
            ours["dynamic_fanouts"], theirs["dynamic_fanouts"],
            "{name}: {ours}"
        );
        assert_eq!(ours["flow"], theirs["flow"]);

        let dot = describe("dot");
        let mut expected_lines = dot_lines(expected["dot"].as_str().unwrap_or_default());
        if name == "docs_example" {
            expected_lines.extend([
                "\"insert_vals:1\";".to_string(),
                "\"setup:1\" -> \"insert_vals:1\";".to_string(),
            ]);
        }
        assert_eq!(dot_lines(&dot), expected_lines, "{name}:\n{dot}");
    }
}

#[test]
fn list_names_each_flow_with_its_task_count_and_flow_picks_one() {
    let sandbox = sandbox();
    let out = run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .arg("list")
        .arg(component()))
    .expect_code(0);
    let listed: Json = serde_json::from_str(&out.stdout).expect("list prints JSON");
    // The package's list counts 2 (it leaves out the side-effect task insert_vals).
    assert_eq!(listed["demo_flow"], 3, "{listed}");
    assert_eq!(listed["six_days"], 12, "{listed}");
    assert_eq!(listed["dynamic_fanout"], 2, "{listed}");
    assert_eq!(listed.as_object().map(|o| o.len()), Some(16), "{listed}");

    // Several flows and no --flow: a usage error that lists them.
    let out = run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .arg(component()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("pick one with --flow") && out.stderr.contains("six_days"),
        "{}",
        out.stderr
    );
    let out = run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .arg(component())
        .args(["--flow", "nope"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no such flow"), "{}", out.stderr);
    let out = run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .arg(component())
        .args(["--flow", "cache_flow", "--params", "[1]"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--params must be a JSON object"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_fan_outs_bound_holds_and_aw_run_graph_draws_the_run_from_its_events() {
    let sandbox = sandbox();
    let events = sandbox.path().join("events.jsonl");
    let report = run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .arg(component())
        .args([
            "--json",
            "--flow",
            "bounded_fanout",
            "--max-concurrency",
            "8",
        ])
        .args(["--events", events.to_str().unwrap_or_default()]))
    .expect_code(0)
    .json();
    assert_eq!(report["result"], json!([1, 2, 3, 4]), "{report}");
    let naps: Vec<&Json> = report["tasks"]
        .as_array()
        .map(|t| t.iter().filter(|t| t["name"] == "nap").collect())
        .unwrap_or_default();
    assert_eq!(naps.len(), 4, "{report}");
    assert!(naps.iter().all(|t| t["fan_out"] == "fanout:1"), "{report}");

    // From the events: never more than two naps running at once, though 8 slots were free.
    let text = std::fs::read_to_string(&events).expect("events");
    let mut running = 0i32;
    let mut most = 0i32;
    for line in text.lines() {
        let event: Json = serde_json::from_str(line).expect("a JSON line");
        if event["task"] != "nap" {
            continue;
        }
        match event["event"].as_str() {
            Some("task-started") => running += 1,
            Some("task-succeeded") | Some("task-failed") => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert!(most <= 2, "{most} naps ran at once:\n{text}");

    let graph = run_graph(&sandbox, &events, "json").expect_code(0);
    let graph: Json = serde_json::from_str(&graph.stdout).expect("graph JSON");
    assert_eq!(graph["status"], "ok", "{graph}");
    assert_eq!(
        graph["fan_outs"]["fanout:1"].as_array().map(Vec::len),
        Some(4),
        "{graph}"
    );
    let statuses: BTreeSet<&str> = graph["nodes"]
        .as_array()
        .map(|n| n.iter().filter_map(|n| n["status"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses, BTreeSet::from(["succeeded"]), "{graph}");
    let dot = run_graph(&sandbox, &events, "dot").expect_code(0).stdout;
    assert!(
        dot.starts_with("digraph G {") && dot.contains("subgraph \"cluster_fanout:1\""),
        "{dot}"
    );
    assert!(
        dot.contains("nap #") && dot.contains("color=\"green\""),
        "{dot}"
    );
}
