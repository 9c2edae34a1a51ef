//! Python and JavaScript guests (issue 6): their examples print exactly what the Rust ones
//! print, the conformance suite gives identical results in all three languages, exceptions
//! become classified errors with their traceback in the host log (scrubbed), tasks and flows
//! work through the SDKs, and the run limits stop them exactly as they stop Rust guests.
//! Against the PostgreSQL cluster and Azurite that scripts/test.sh starts.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{
    clean_aw_run, guest, overlay_scram_postgres, polyglot_guest, run, shared_cache_dir, Run,
    Sandbox,
};
use serde_json::{json, Value as Json};

const LANGS: [&str; 2] = ["py", "js"];
const TOKEN: &str = "tok-9a8b7c6d5e";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: scripts/test.sh starts PostgreSQL and Azurite")
    })
}

/// A name no other run uses (tests share one server and one emulator).
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `aw-run` from `dir` (an example's or a guest's directory, for its aw.toml), pointed at the
/// test services by the env overlay alone, with the shared compiled-component cache.
fn aw_run_in(dir: &str) -> Command {
    let mut cmd = clean_aw_run();
    overlay_scram_postgres(&mut cmd)
        .current_dir(format!("{}/../{dir}", env!("CARGO_MANIFEST_DIR")))
        .env("AW_CACHE_DIR", shared_cache_dir())
        .env(
            "AUTO_WORKFLOW_CONNECTORS_ADLS2_DEFAULT__CONNECTION_STRING",
            var("AW_AZURITE_CONNECTION_STRING"),
        );
    cmd
}

/// Runs `wasm` as `aw-run WASM --profile default` from `dir`, plus `args`.
fn run_in(dir: &str, wasm: &std::path::Path, args: &[&str]) -> Run {
    run(aw_run_in(dir)
        .arg(wasm)
        .args(["--profile", "default"])
        .args(args))
}

#[test]
fn the_examples_print_exactly_what_the_rust_examples_print() {
    // pg-demo: each language's aw.toml names its own table.
    let rust = run_in("examples/pg-demo", &guest("aw_pg_demo"), &[]).expect_code(0);
    assert_eq!(rust.stdout.trim(), r#"{"inserted":5,"sum":10}"#);
    for (lang, dir) in [
        ("py", "examples/python/pg-demo"),
        ("js", "examples/js/pg-demo"),
    ] {
        let out = run_in(dir, &polyglot_guest(lang, "pg-demo"), &[]).expect_code(0);
        assert_eq!(
            out.stdout, rust.stdout,
            "{lang} pg-demo\nstderr:\n{}",
            out.stderr
        );
    }

    // adls-csv: a fresh container per run, so that each creates it (`container_created`).
    let container = |lang: &str| unique(&format!("poly-csv-{lang}"));
    let rust = run(aw_run_in("examples/adls-csv")
        .arg(guest("aw_adls_csv"))
        .args(["--profile", "default"])
        .env(
            "AUTO_WORKFLOW_PROFILES_DEFAULT__CONFIG__CONTAINER",
            container("rs"),
        ))
    .expect_code(0);
    let parsed: Json = serde_json::from_str(&rust.stdout).unwrap();
    assert_eq!(parsed["row_count"], 4, "{parsed}");
    assert_eq!(parsed["container_created"], true, "{parsed}");
    for (lang, dir) in [
        ("py", "examples/python/adls-csv"),
        ("js", "examples/js/adls-csv"),
    ] {
        let out = run(aw_run_in(dir)
            .arg(polyglot_guest(lang, "adls-csv"))
            .args(["--profile", "default"])
            .env(
                "AUTO_WORKFLOW_PROFILES_DEFAULT__CONFIG__CONTAINER",
                container(lang),
            ))
        .expect_code(0);
        assert_eq!(
            out.stdout, rust.stdout,
            "{lang} adls-csv\nstderr:\n{}",
            out.stderr
        );
    }
}

#[test]
fn the_conformance_suite_gives_identical_results_in_rust_python_and_javascript() {
    let dir = "tests/guests/conformance";
    let input = |lang: &str| json!({"prefix": format!("conf_{lang}_{}", std::process::id()), "container": format!("conf-{lang}")});
    let rust = run_in(
        dir,
        &guest("aw_conformance"),
        &["--input", &input("rust").to_string()],
    )
    .expect_code(0);
    let expected = rust.json();

    // What the scenarios must show, whichever language ran them.
    let v = &expected["values"];
    assert_eq!(v["int8"], json!(9_007_199_254_740_993i64));
    assert_eq!(v["numeric"], "12345678901234567890.123456789");
    assert_eq!(v["bytea_hex"], "000100ff");
    assert_eq!(v["timestamptz"], "2024-02-29T12:34:56.789012Z");
    assert_eq!(v["array"], json!([1, null, 3]));
    assert_eq!(v["null"], Json::Null);
    assert_eq!(v["text"], "héllo ☃");
    let c = &expected["crud"];
    assert_eq!(
        (
            c["inserted"].as_u64(),
            c["inserted_many"].as_u64(),
            c["count"].as_u64()
        ),
        (Some(1), Some(3), Some(4))
    );
    assert_eq!(
        (c["updated"].as_u64(), c["deleted"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(c["one"], json!({"id": 2, "name": "b", "qty": 20}));
    assert_eq!(c["reflect"][0]["primary_key"], json!(["id"]));
    let t = &expected["transactions"];
    assert_eq!(t["after_rollback"], json!([]));
    assert_eq!(t["after_commit"], json!([1, 3]));
    assert_eq!(t["isolation"], "serializable");
    assert_eq!(t["read_only_write"]["code"], "25006");
    assert_eq!(
        expected["stream"],
        json!({"rows": 100_000, "sum": 5_000_050_000u64})
    );
    assert_eq!(expected["copy"]["copied_in"], 1000);
    assert_eq!(expected["copy"]["table_lines"], 1000);
    let e = &expected["errors"];
    assert_eq!(
        e["syntax"],
        json!({"kind": "invalid-input", "code": "42601"})
    );
    assert_eq!(e["unique"], json!({"kind": "conflict", "code": "23505"}));
    assert_eq!(
        e["missing_table"],
        json!({"kind": "not-found", "code": "42P01"})
    );
    assert_eq!(e["denied_profile"]["kind"], "denied");
    assert_eq!(e["denied_container"]["kind"], "denied");
    let a = &expected["adls"];
    assert_eq!(a["overwrite_false"]["kind"], "conflict");
    assert_eq!(a["range"], "world");
    assert_eq!(a["metadata"], json!({"origin": "conformance"}));
    assert_eq!(a["renamed"], json!([false, true]));
    let sum: u64 = (0..64 * 1024u64).map(|i| i % 251).sum::<u64>() * 256;
    assert_eq!(a["big_read"], json!({"bytes": 16u64 << 20, "sum": sum}));
    assert_eq!(a["deleted"], true);

    for lang in LANGS {
        let out = run_in(
            dir,
            &polyglot_guest(lang, "conformance"),
            &["--input", &input(lang).to_string()],
        )
        .expect_code(0);
        let got = out.json();
        // The table prefix shows in `reflect`; everything else must be the same bytes.
        let normalized = out.stdout.replace(&format!("conf_{lang}_"), "conf_rust_");
        assert_eq!(
            normalized, rust.stdout,
            "{lang} differs from Rust:\n{got:#}\nvs\n{expected:#}"
        );
    }
}

fn probe(lang: &str, input: Json, args: &[&str]) -> Run {
    let sandbox = Sandbox::new("[profiles.default]\nsecrets = [\"api-token\"]\nlimits = { memory = \"256MiB\", timeout = \"60s\" }\n");
    let out = run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .env("API_TOKEN", TOKEN)
        .arg(polyglot_guest(lang, "probe"))
        .args(["--profile", "default", "--input", &input.to_string()])
        .args(args));
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "{lang} leaked the secret:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

#[test]
fn an_exception_is_exit_1_with_its_traceback_in_the_host_log_and_no_secret() {
    for lang in LANGS {
        let out = probe(lang, json!({"mode": "secret-leak"}), &["--json"]).expect_code(1);
        let report = out.json();
        assert_eq!(report["status"], "error");
        assert_eq!(report["error"]["kind"], "permanent");
        let class = if lang == "py" {
            "ValueError"
        } else {
            "TypeError"
        };
        assert_eq!(
            report["error"]["message"],
            format!("{class}: failing with the secret *** in the message")
        );
        assert!(
            out.stderr.contains("the secret is ***"),
            "{lang}: {}",
            out.stderr
        );
        let trace = if lang == "py" {
            "Traceback (most recent call last)"
        } else {
            "guarded@"
        };
        assert!(
            out.stderr.contains(trace),
            "{lang}: no traceback in the host log:\n{}",
            out.stderr
        );

        // A connector exception keeps its kind and code.
        let out = probe(lang, json!({"mode": "not-found"}), &["--json"]).expect_code(1);
        let error = &out.json()["error"];
        assert_eq!(
            (error["kind"].as_str(), error["code"].as_str()),
            (Some("not-found"), Some("P-404")),
            "{lang}: {error}"
        );
        assert_eq!(error["message"], "no such partition");

        // A secret the profile does not grant raises (DeniedError), never returns null.
        let out = probe(lang, json!({"mode": "missing-secret"}), &[]).expect_code(3);
        assert!(out.stderr.contains("DeniedError"), "{lang}: {}", out.stderr);
    }
}

#[test]
fn a_task_attempt_reads_its_idempotency_keys_in_rust_python_and_javascript() {
    for lang in LANGS {
        let out = probe(lang, json!({"mode": "keys"}), &[]).expect_code(0);
        common::assert_idempotency_keys(&out.json(), lang);
    }
    let out = run(Sandbox::new("[profiles.default]\n")
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--input", r#"{"op":"keys"}"#]))
    .expect_code(0);
    common::assert_idempotency_keys(&out.json(), "rust");
}

#[test]
fn tasks_spawn_join_gather_and_retry_from_python_and_javascript() {
    for lang in LANGS {
        // The flow handles its tasks' failures itself: under fail-fast they would fail the run.
        let out = probe(
            lang,
            json!({"mode": "tasks"}),
            &["--json", "--failure-policy", "continue"],
        )
        .expect_code(0);
        let report = out.json();
        assert_eq!(
            report["result"],
            json!({"doubled": [2, 4, 6, 8, 10], "summed": 42,
                   "flaky": {"kind": "transient", "code": "X-FLAKY", "attempts": 3, "task": "flaky"}}),
            "{lang}"
        );
        let records = report["tasks"].as_array().expect("task records");
        assert_eq!(
            records.iter().filter(|t| t["name"] == "double").count(),
            7,
            "{lang}: {records:?}"
        );

        // Per-spawn options, cancelling a running task, gather that collects a failure, and
        // config defaults.
        let out = probe(
            lang,
            json!({"mode": "sdk-flows"}),
            &["--failure-policy", "continue"],
        )
        .expect_code(0);
        assert_eq!(
            out.json(),
            json!({"with_options": 10, "cancelled": {"cancelled": true, "task": "spin"}, "gathered": [2, "transient"], "outcome_unknown": [true, false],
                   "config_default": "fallback", "config_all": {}}),
            "{lang}"
        );

        let sandbox = Sandbox::new("");
        let out = run(sandbox
            .aw_run()
            .env("AW_CACHE_DIR", shared_cache_dir())
            .arg("describe")
            .arg(polyglot_guest(lang, "probe")))
        .expect_code(0);
        let described: Json = serde_json::from_str(&out.stdout).expect("describe prints JSON");
        let task = |name: &str| {
            described["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .cloned()
        };
        assert_eq!(
            task("flaky").expect("flaky")["options"]["retries"],
            2,
            "{lang}: {described}"
        );
        assert_eq!(
            task("double").expect("double")["description"],
            "Doubles a number.",
            "{lang}"
        );
        assert!(task("total").is_some() && task("spin").is_some(), "{lang}");
    }
}

#[test]
fn limits_stop_python_and_javascript_guests_like_rust_ones() {
    for lang in LANGS {
        let started = std::time::Instant::now();
        let out = probe(
            lang,
            json!({"mode": "loop"}),
            &["--timeout", "1s", "--json"],
        )
        .expect_code(4);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{lang}"
        );
        assert_eq!(out.json()["error"]["limit"]["name"], "timeout", "{lang}");

        let out = probe(
            lang,
            json!({"mode": "alloc", "bytes": 1u64 << 30}),
            &["--memory", "128MiB"],
        )
        .expect_code(4);
        assert!(
            out.stderr.contains("memory limit exceeded") && out.stderr.contains("128 MiB"),
            "{lang}: {}",
            out.stderr
        );
        let out = probe(
            lang,
            json!({"mode": "alloc", "bytes": 8u64 << 20}),
            &["--memory", "128MiB"],
        )
        .expect_code(0);
        assert_eq!(out.json(), json!({"allocated": 8u64 << 20}), "{lang}");

        let out = probe(
            lang,
            json!({"mode": "loop"}),
            &["--fuel", "50000000", "--timeout", "5m"],
        )
        .expect_code(4);
        assert!(
            out.stderr.contains("fuel exhausted"),
            "{lang}: {}",
            out.stderr
        );
        let report = probe(
            lang,
            json!({"mode": "echo"}),
            &["--fuel", "50000000", "--json"],
        )
        .expect_code(0)
        .json();
        let used = report["usage"]["fuel_consumed"].as_u64().unwrap();
        assert!(used > 0 && used < 50_000_000, "{lang}: {report}");
    }
}

#[test]
fn the_compiled_cache_serves_the_second_run_of_a_python_guest() {
    let sandbox = Sandbox::new("[profiles.default]\n");
    let runs: Vec<Json> = (0..2)
        .map(|_| {
            run(sandbox.aw_run().arg(polyglot_guest("py", "probe")).args([
                "--profile",
                "default",
                "--json",
                "--input",
                r#"{"mode":"echo"}"#,
            ]))
            .expect_code(0)
            .json()
        })
        .collect();
    assert_eq!(
        (runs[0]["cache"].as_str(), runs[1]["cache"].as_str()),
        (Some("miss"), Some("hit")),
        "{runs:?}"
    );
    assert_eq!(runs[1]["result"], json!({"mode": "echo"}));
}

#[test]
fn futures_passed_as_arguments_run_in_parallel_from_python_and_javascript() {
    for lang in LANGS {
        let report = run_in(
            "tests/guests/polyglot-probe",
            &polyglot_guest(lang, "probe"),
            &[
                "--json",
                "--max-concurrency",
                "8",
                "--input",
                &json!({"mode": "extract-load"}).to_string(),
            ],
        )
        .expect_code(0)
        .json();
        let sums: Vec<u64> = (0..6u64).map(|i| 1000 + i * 111).collect();
        assert_eq!(report["result"], json!(sums), "{lang}: {report}");
        let duration = report["usage"]["duration"]
            .as_f64()
            .expect("usage.duration");
        eprintln!("{lang}: 6 extracts feeding 6 loads took {duration} s");
        assert!(
            duration < 1.2,
            "{lang}: 6 extracts of 0.5 s feeding 6 loads took {duration} s with 8 slots"
        );
    }
}

#[test]
fn under_continue_a_dependent_gets_the_failure_as_an_exception_in_python_and_javascript() {
    for lang in LANGS {
        let input = json!({"mode": "continue-dep"}).to_string();
        let report = run_in(
            "tests/guests/polyglot-probe",
            &polyglot_guest(lang, "probe"),
            &["--json", "--failure-policy", "continue", "--input", &input],
        )
        .expect_code(0)
        .json();
        assert_eq!(
            report["result"],
            json!({"failed_task": "boom", "kind": "permanent", "message": "bad 3", "attempts": 1, "cancelled": false}),
            "{lang}: {report}"
        );
        // Under the default fail-fast policy the dependent never runs, and the run fails.
        let report = run_in(
            "tests/guests/polyglot-probe",
            &polyglot_guest(lang, "probe"),
            &["--json", "--input", &input],
        )
        .expect_code(1)
        .json();
        let status: Vec<(&Json, &Json)> = report["tasks"]
            .as_array()
            .map(|t| t.iter().map(|r| (&r["name"], &r["status"])).collect())
            .unwrap_or_default();
        assert_eq!(
            status,
            vec![
                (&json!("boom"), &json!("failed")),
                (&json!("inspect_dep"), &json!("upstream-failed"))
            ],
            "{lang}: {report}"
        );
    }
}

#[test]
fn sdk_paths_beyond_the_conformance_suite_behave_alike_in_python_and_javascript() {
    let mut outputs = Vec::new();
    for lang in LANGS {
        let (table, container) = (
            format!("extras_{lang}_{}", std::process::id()),
            unique(&format!("extras-{lang}")),
        );
        let input = json!({"mode": "sdk-extras", "table": table, "container": container});
        let out = run_in(
            "tests/guests/polyglot-probe",
            &polyglot_guest(lang, "probe"),
            &["--input", &input.to_string()],
        )
        .expect_code(0);
        outputs.push(out.stdout.replace(&table, "T").replace(&container, "C"));
    }
    let got: Json = serde_json::from_str(&outputs[0]).expect("JSON");
    assert_eq!(
        got,
        json!({
            "copy_from_file": 3, "copy_from_chunks": 2, "copy_to_chunks": "1\n2\n3\n4\n5\n", "executemany_empty": 0,
            "query_one_none": null, "timeout": {"kind": "timeout", "code": "57014"},
            "tx_settings": {"iso": "repeatable read", "ro": "on"}, "stream_matches_query": true,
            "listed": ["C"], "streamed": 9, "ranged_stream": "cdefg", "aborted_exists": false,
            "rename_conflict": "conflict", "after_rename": "x", "missing": "not-found",
        })
    );
    assert_eq!(outputs[0], outputs[1], "Python and JavaScript differ");
}
