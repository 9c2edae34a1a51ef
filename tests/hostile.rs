//! A hostile guest against `aw-run` (issue 16): tests/guests/hostile passes the worst values
//! it can to host calls, against the real PostgreSQL and Azurite that scripts/test.sh starts.
//! Every attack must end in a classified error (or a correct result) with the process alive,
//! its report written, and its peak RSS within the bound README documents:
//! guest memory + host buffers (each at most the memory limit) + one host call's arguments.

mod common;

use common::adls::steps;
use common::{guest, pg_admin, pg_port, run, Run, Sandbox};
use serde_json::{json, Value as Json};

/// A sandbox granting the `default` Postgres profile (trust role) and Azurite (blob dialect).
fn sandbox(pg_keys: &str) -> Sandbox {
    let conn = std::env::var("AW_AZURITE_CONNECTION_STRING")
        .expect("AW_AZURITE_CONNECTION_STRING is not set: start Azurite with tests/services/azurite.sh (scripts/test.sh does this)");
    Sandbox::new(&format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\n{pg_keys}\n\
         [connectors.adls2.default]\nconnection_string = \"secret://adls_conn\"\ndialect = \"blob\"\n\
         [profiles.default]\npostgres = [\"default\"]\nadls2 = [\"default\"]\n",
        pg_port()
    ))
    .with_env("ADLS_CONN", &conn)
}

fn attack(sandbox: &Sandbox, memory: &str, input: Json) -> Run {
    run(sandbox.aw_run().arg(guest("aw_hostile")).args([
        "--json",
        "--memory",
        memory,
        "--input",
        &input.to_string(),
    ]))
}

/// The report of a run that must exit `code`, and its peak RSS in MiB.
fn report(out: Run, code: i32) -> (Json, u64) {
    let report = out.expect_code(code).json();
    let rss = report["usage"]["host_peak_rss"]
        .as_u64()
        .expect("host_peak_rss in the report");
    (report, rss >> 20)
}

/// The bound for a single task: twice the memory limit plus 150 MiB.
fn assert_within(rss_mib: u64, memory_mib: u64, what: &str) {
    eprintln!("{what}: peak RSS {rss_mib} MiB at --memory {memory_mib}MiB");
    assert!(
        rss_mib < 2 * memory_mib + 150,
        "{what}: peak RSS {rss_mib} MiB"
    );
}

fn kind(outcome: &Json) -> &str {
    outcome["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {outcome}"))
}

#[test]
fn strange_values_are_refused_as_invalid_input_never_a_panic() {
    pg_admin("DROP DOMAIN IF EXISTS aw_hostile_ints; CREATE DOMAIN aw_hostile_ints AS int[] CHECK (0 <= ALL(VALUE))");
    let (r, _) = report(attack(&sandbox(""), "64MiB", json!({"op": "strings"})), 0);
    let r = &r["result"];
    for outcome in r["intervals"].as_array().expect("intervals") {
        assert_eq!(kind(outcome), "invalid-input", "{outcome}");
    }
    for key in [
        "nul_sql",
        "nul_param",
        "nul_savepoint",
        "nul_copy_table",
        "too_many_values",
        "too_many_placeholders",
        "numeric",
        "date",
        "timestamp",
        "json",
    ] {
        assert_eq!(kind(&r[key]), "invalid-input", "{key}: {}", r[key]);
        assert_eq!(r[key]["retryable"], false, "{key}");
    }
    assert!(
        r["too_many_placeholders"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("65535"),
        "{r}"
    );
    assert_eq!(
        r["domain_array"]["ok"], "Some(Value::Array([Element::Int32(1), Element::Int32(2)]))",
        "{r}"
    );
    assert_eq!(
        r["domain_array_checked"]["code"], "23514",
        "the domain's check still runs: {r}"
    );
}

#[test]
fn a_huge_batch_rows_is_lowered_not_allocated() {
    let (r, rss) = report(
        attack(&sandbox(""), "64MiB", json!({"op": "huge-batch"})),
        0,
    );
    assert_eq!(r["result"]["client"]["ok"], 5000, "{r}");
    assert_eq!(r["result"]["in_tx"]["ok"], 5000, "{r}");
    assert_within(rss, 64, "batch-rows = 2^32 - 1");
}

#[test]
fn one_batch_of_big_rows_stops_at_max_bytes() {
    // 300 rows of 1 MB asked for in one batch: past the profile's 64 MiB max_bytes.
    let (r, rss) = report(
        attack(
            &sandbox(""),
            "64MiB",
            json!({"op": "big-batch", "count": 300, "size": 1_000_000}),
        ),
        0,
    );
    for form in ["values", "encoded"] {
        let outcome = &r["result"][form];
        assert_eq!(kind(outcome), "limit", "{form}: {outcome}");
        assert!(
            outcome["message"]
                .as_str()
                .unwrap_or("")
                .contains("max_bytes"),
            "{outcome}"
        );
    }
    assert_within(rss, 64, "a 300 MB batch");
    // Within max_bytes, the same rows stream.
    let (r, _) = report(
        attack(
            &sandbox("max_bytes = \"16MiB\""),
            "64MiB",
            json!({"op": "big-batch", "count": 10, "size": 1_000_000}),
        ),
        0,
    );
    assert_eq!(r["result"]["values"]["ok"], 10_000_000, "{r}");
    assert_eq!(
        r["result"]["encoded"]["ok"]
            .as_u64()
            .map(|n| n >= 10_000_000),
        Some(true),
        "{r}"
    );
}

#[test]
fn open_streams_reading_ahead_share_the_instances_budget() {
    // Ten streams of 5 MB rows, four rows a batch, each read ahead on its own connection.
    let (r, rss) = report(
        attack(
            &sandbox("max_size = 12"),
            "64MiB",
            json!({"op": "open-streams", "count": 10, "size": 5_000_000}),
        ),
        0,
    );
    let outcomes = r["result"]["streams"].as_array().expect("streams");
    assert_eq!(outcomes[0]["ok"], 4, "{r}");
    let refused: Vec<&Json> = outcomes
        .iter()
        .filter(|o| o.get("kind").is_some())
        .collect();
    assert!(
        !refused.is_empty(),
        "ten read-ahead streams of 20 MB batches do not fit 64 MiB: {r}"
    );
    for outcome in refused {
        assert_eq!(kind(outcome), "limit", "{outcome}");
        assert!(
            outcome["message"]
                .as_str()
                .unwrap_or("")
                .contains("limits.memory"),
            "{outcome}"
        );
    }
    assert_within(rss, 64, "ten open streams");
}

#[test]
fn execute_many_with_a_million_parameter_sets_stays_bounded() {
    let table = format!("hostile_many_{}", std::process::id());
    pg_admin(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (v int8)"
    ));
    let (r, rss) = report(
        attack(
            &sandbox(""),
            "256MiB",
            json!({"op": "execute-many", "count": 1_000_000, "table": table}),
        ),
        0,
    );
    assert_eq!(r["result"]["execute_many"]["ok"], 1_000_000, "{r}");
    let rows = pg_admin(&format!("SELECT count(*) FROM {table}"));
    assert_eq!(rows[0].get::<_, i64>(0), 1_000_000);
    assert_within(rss, 256, "a million parameter sets");
    // Past what one host call may carry: a limit, exit 4, nothing written.
    pg_admin(&format!("TRUNCATE {table}"));
    let (r, rss) = report(
        attack(
            &sandbox(""),
            "512MiB",
            json!({"op": "execute-many", "count": 3_000_000, "table": table}),
        ),
        4,
    );
    assert_eq!(r["error"]["limit"]["name"], "hostcall", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("one host call"),
        "{r}"
    );
    assert_eq!(
        pg_admin(&format!("SELECT count(*) FROM {table}"))[0].get::<_, i64>(0),
        0
    );
    assert_within(rss, 512, "three million parameter sets");
}

#[test]
fn a_read_only_profile_stays_read_only_against_every_trick() {
    let table = format!("hostile_ro_{}", std::process::id());
    pg_admin(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (v int)"
    ));
    let (r, _) = report(
        attack(
            &sandbox("read_only = true"),
            "64MiB",
            json!({"op": "read-only-tricks", "table": table}),
        ),
        0,
    );
    for attempt in r["result"]["in_tx"].as_array().expect("in_tx") {
        // The server refuses the write, or (RESET transaction_read_only lifts the rule after
        // the first query) the host refuses the commit of a transaction that wrote.
        let refused_commit = attempt["commit"]["kind"] == "denied";
        assert!(
            attempt["insert"].get("kind").is_some() || refused_commit,
            "a write was committed: {attempt}"
        );
    }
    for attempt in r["result"]["client"].as_array().expect("client") {
        assert!(
            attempt["insert"].get("kind").is_some(),
            "an insert went through: {attempt}"
        );
        assert!(
            attempt["copy"].get("kind").is_some(),
            "a COPY went through: {attempt}"
        );
    }
    assert_eq!(
        pg_admin(&format!("SELECT count(*) FROM {table}"))[0].get::<_, i64>(0),
        0,
        "nothing was written"
    );
}

#[test]
fn adls_writers_readers_and_downloads_share_the_instances_budget() {
    let sandbox = sandbox("");
    let container = format!("hostile-{}", std::process::id());
    let made = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": container, "exist_ok": true},
            {"op": "upload", "container": container, "path": "big.bin", "size": 100_000_000},
        ]),
    );
    assert!(
        made[1].get("error").is_none() || made[1]["error"].is_null(),
        "{made:?}"
    );

    // Writers: two 4 MiB blocks each, so the ninth does not fit 64 MiB.
    let (r, rss) = report(
        attack(
            &sandbox,
            "64MiB",
            json!({"op": "writers", "container": container, "path": "w", "count": 20, "size": 4_000_000}),
        ),
        0,
    );
    let writers = r["result"]["writers"].as_array().expect("writers");
    assert_eq!(writers.iter().filter(|w| w["ok"] == true).count(), 8, "{r}");
    assert_eq!(kind(&writers[8]), "limit", "{r}");
    assert_within(rss, 64, "twenty writers");

    // Readers: two 10 MB chunks each.
    let (r, rss) = report(
        attack(
            &sandbox,
            "64MiB",
            json!({"op": "readers", "container": container, "path": "big.bin", "count": 10, "size": 10_000_000}),
        ),
        0,
    );
    let readers = r["result"]["readers"].as_array().expect("readers");
    assert_eq!(readers[0]["ok"], 10_000_000, "{r}");
    assert_eq!(kind(&readers[9]), "limit", "{r}");
    assert_within(rss, 64, "ten readers");

    // A download longer than the guest's memory is refused, not read whole.
    let (r, rss) = report(
        attack(
            &sandbox,
            "64MiB",
            json!({"op": "download", "container": container, "path": "big.bin"}),
        ),
        0,
    );
    assert_eq!(kind(&r["result"]["download"]), "limit", "{r}");
    assert!(
        r["result"]["download"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("open-reader"),
        "{r}"
    );
    assert_within(rss, 64, "a 100 MB download");
    let (r, _) = report(
        attack(
            &sandbox,
            "256MiB",
            json!({"op": "download", "container": container, "path": "big.bin"}),
        ),
        0,
    );
    assert_eq!(r["result"]["download"]["ok"], 100_000_000, "{r}");
}

/// Guest log lines are bounded in size and rate: a flood of lines is cut to the rate (and the
/// drop reported), a 4 MB line through the log or stdout is cut to 64 KiB.
#[test]
fn a_guest_hoarding_handles_is_refused_at_the_table_bound_and_recovers() {
    let (r, rss) = report(
        attack(
            &sandbox(""),
            "64MiB",
            json!({"op": "hoard-handles", "count": 1_000_000}),
        ),
        0,
    );
    let r = &r["result"];
    // 65,536 handles plus the default max_total_tasks (10,000), less WASI's own few.
    let opened = r["opened"].as_u64().expect("opened");
    assert!((65_000..=75_536).contains(&opened), "{r}");
    assert_eq!(kind(&r["refused"]), "limit", "{r}");
    let message = r["refused"]["message"].as_str().unwrap_or("");
    assert!(message.contains("open handles"), "{message}");
    assert_eq!(r["refused"]["retryable"], false, "{r}");
    assert_eq!(
        r["again"]["ok"], true,
        "after dropping them it may open again: {r}"
    );
    assert_within(rss, 64, "hoarding handles");
}

#[test]
fn a_log_flood_is_cut_to_size_and_rate() {
    let out = attack(
        &sandbox(""),
        "64MiB",
        json!({"op": "log-flood", "count": 200_000, "size": 4_000_000}),
    );
    let (r, rss) = report(
        Run {
            code: out.code,
            stdout: out.stdout,
            stderr: String::new(),
        },
        0,
    );
    assert_eq!(r["result"]["logged"], 200_000, "{r}");
    let stderr = out.stderr;
    assert!(stderr.len() < 8 << 20, "stderr is {} bytes", stderr.len());
    let lines = stderr.lines().filter(|l| l.contains("flood ")).count();
    assert!(
        (10_000..150_000).contains(&lines),
        "{lines} flood lines of 200000 written"
    );
    assert!(
        stderr.contains("guest log lines dropped"),
        "the drop is reported"
    );
    assert!(stderr.contains("more bytes cut]"), "the long line is cut");
    assert_within(rss, 64, "a log flood");
}
