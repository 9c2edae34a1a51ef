//! The Postgres connector against a real PostgreSQL server (started by scripts/test.sh through
//! tests/services/postgres.sh), driven by a real guest (tests/guests/pg-probe) through aw-run.

mod common;

use common::{guest, overlay_scram_postgres, pg_admin as admin, run, Run, Sandbox};
use serde_json::{json, Value as Json};

/// The throwaway cluster's coordinates, from the env scripts/test.sh exports.
struct Pg {
    port: String,
    ca: String,
}

fn pg() -> Pg {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: start PostgreSQL with tests/services/postgres.sh (scripts/test.sh does this)")
        })
    };
    Pg {
        port: var("AW_PG_PORT"),
        ca: var("AW_PG_CA"),
    }
}

/// A config with a `default` profile (scram, password via secret://) plus `extra` TOML.
fn config(extra: &str) -> Sandbox {
    let pg = pg();
    Sandbox::new(&format!(
        r#"
[connectors.postgres.default]
host = "127.0.0.1"
port = {port}
database = "aw_test"
user = "aw_scram"
password = "secret://pg_password"
sslmode = "disable"

[profiles.default]
postgres = ["default"]
{extra}
"#,
        port = pg.port
    ))
}

/// A config whose `default` profile reaches `port` as the trust user, plus extra `keys`.
fn trust_config(port: impl std::fmt::Display, keys: &str) -> Sandbox {
    Sandbox::new(&format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\n{keys}\n[profiles.default]\npostgres = [\"default\"]\n"
    ))
}

fn probe(sandbox: &Sandbox, input: Json) -> Run {
    run(sandbox
        .aw_run()
        .arg(guest("aw_pg_probe"))
        .args(["--json", "--input", &input.to_string()])
        .env("PG_PASSWORD", "scram-pass-1e5"))
}

fn ok(out: Run) -> Json {
    let report = out.expect_code(0).json();
    report["result"].clone()
}

#[test]
fn every_value_type_round_trips() {
    let result = ok(probe(&config(""), json!({"op": "types"})));
    assert_eq!(result["mismatches"], json!([]), "{result}");
    assert_eq!(result["narrowed"], "Some(Value::Int32(42))");
    let too_big = result["too_big"].as_str().unwrap();
    assert!(
        too_big.contains("parameter $1")
            && too_big.contains("int4")
            && too_big.contains("out of range"),
        "{too_big}"
    );
    assert_eq!(result["name"], "Some(Value::Text(\"ok\"))");
    assert!(
        result["bad_utf8"].is_string(),
        "invalid UTF-8 is refused cleanly: {result}"
    );
}

#[test]
fn copy_in_then_out_keeps_exact_counts_and_identical_data() {
    let sandbox = config("");
    for format in ["text", "csv", "binary"] {
        let table = format!("copy_{format}");
        let r = ok(probe(
            &sandbox,
            json!({"op": "copy", "rows": 100_000, "format": format, "table": table}),
        ));
        for key in ["generated_rows", "copied_in", "copied_out", "table_rows"] {
            assert_eq!(r[key], 100_000, "{format} {key}: {r}");
        }
        assert_eq!(r["identical"], true, "{format}: {r}");
    }
}

/// Peak resident memory of a child process, in KiB, sampled until it exits.
fn peak_rss_kib(mut cmd: std::process::Command) -> (Run, u64) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
                let kib: u64 = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                peak = peak.max(kib);
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("output");
    let stdout = reader.join().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (run, peak)
}

/// Streaming 1M rows (~110 MB of row data) keeps the host under this much resident memory.
const STREAM_RSS_BOUND_MIB: u64 = 64;

#[test]
fn query_stream_over_a_million_rows_stays_in_bounded_memory() {
    let sandbox = config("");
    let mut cmd = sandbox.aw_run();
    cmd.arg(guest("aw_pg_probe"))
        .args([
            "--json",
            "--input",
            &json!({"op": "stream", "rows": 1_000_000}).to_string(),
        ])
        .env("PG_PASSWORD", "scram-pass-1e5");
    let (out, peak_kib) = peak_rss_kib(cmd);
    let r = ok(out);
    assert_eq!(r["count"], 1_000_000);
    assert_eq!(r["sum"], 500_000_500_000i64);
    assert_eq!(r["batches"], 200);
    assert_eq!(r["columns"], json!(["n:int8", "pad:text"]));
    eprintln!("peak RSS while streaming 1M rows: {} MiB", peak_kib / 1024);
    assert!(
        peak_kib / 1024 < STREAM_RSS_BOUND_MIB,
        "peak RSS {} MiB >= {STREAM_RSS_BOUND_MIB} MiB",
        peak_kib / 1024
    );
}

/// A client-level stream reads ahead on its own connection; however it ends, that connection
/// goes back to the pool out of the stream's transaction (the pool has one connection, so
/// every check runs on it).
#[test]
fn a_client_stream_returns_its_connection_clean_however_it_ends() {
    let sandbox = trust_config(pg().port, "max_size = 1\ntimeout = \"5s\"");
    let r = ok(probe(&sandbox, json!({"op": "stream-ends"})));
    let pid = &r["before"];
    assert!(pid.is_i64(), "{r}");
    assert_eq!(r["first"], 1000);
    assert_eq!(&r["after_drop"], pid, "dropped after one batch: {r}");
    assert_eq!(
        r["before_error"], 6000,
        "the batches before the failing row arrive: {r}"
    );
    assert_eq!(r["error"], "22012");
    assert_eq!(r["again"], "22012", "a failed stream keeps failing");
    assert_eq!(&r["after_error"], pid, "{r}");
    assert_eq!(r["batches"], json!([1000, 1000, 1000]));
    assert_eq!(r["ended"], true);
    assert_eq!(&r["after_end"], pid, "{r}");
}

#[test]
fn transaction_options_reach_the_server_and_savepoints_nest() {
    let r = ok(probe(&config(""), json!({"op": "tx"})));
    assert_eq!(r["settings"], json!(["serializable", "on", "on"]));
    assert!(
        r["write_in_read_only"].as_str().unwrap().contains("25006"),
        "{r}"
    );
    assert_eq!(r["inner_failed"], true);
    assert_eq!(
        r["kept"],
        json!(["after", "outer"]),
        "the savepoint rollback drops only inner writes"
    );
    assert_eq!(r["dropped_rows"], 0, "a dropped transaction rolls back");
}

#[test]
fn a_guest_trapping_mid_transaction_leaves_no_rows_and_no_open_transaction() {
    admin("DROP TABLE IF EXISTS trap_t; CREATE TABLE trap_t (x int)");
    let sandbox = config("");
    let out = probe(&sandbox, json!({"op": "trap-in-tx", "table": "trap_t"})).expect_code(5);
    assert!(
        out.stderr.contains("trapping with a transaction open"),
        "{}",
        out.stderr
    );
    let rows = admin("SELECT count(*)::int8 FROM trap_t");
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    // The server saw the connection close and rolled back: nothing is left idle in a transaction.
    let mut open: i64 = -1;
    for _ in 0..100 {
        open = admin("SELECT count(*)::int8 FROM pg_stat_activity WHERE usename = 'aw_scram' AND state LIKE 'idle in transaction%'")[0].get(0);
        if open == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(open, 0);
    // And the next run works as usual.
    ok(probe(&sandbox, json!({"op": "value", "sql": "SELECT 1"})));
}

#[test]
fn a_statement_timeout_applies_to_that_statement_only() {
    let r = ok(probe(
        &config(""),
        json!({"op": "timeout", "timeout_ms": 100}),
    ));
    assert_eq!(r["slow_kind"], "ErrorKind::Timeout");
    assert_eq!(r["slow_code"], "57014");
    assert_eq!(r["fast_ok"], true);
    assert_eq!(
        r["tx_before"], r["tx_after"],
        "restored inside the transaction: {r}"
    );
    assert_eq!(
        r["session_after"], "0",
        "nothing leaked to the next statement: {r}"
    );
}

/// A guest blocked in a host call checks no epochs; the run is still cut off at its timeout
/// (plus a short grace), as a timeout, not left waiting for the server.
#[test]
fn a_guest_blocked_in_a_long_statement_stops_at_the_run_timeout() {
    let sandbox = config("");
    let started = std::time::Instant::now();
    let out = run(sandbox
        .aw_run()
        .arg(guest("aw_pg_probe"))
        .args([
            "--json",
            "--timeout",
            "1s",
            "--input",
            &json!({"op": "value", "sql": "SELECT pg_sleep(20)"}).to_string(),
        ])
        .env("PG_PASSWORD", "scram-pass-1e5"));
    let elapsed = started.elapsed();
    let report = out.expect_code(4).json();
    assert_eq!(report["error"]["limit"]["name"], "timeout", "{report}");
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "cut off after {elapsed:?}, not at the 1 s timeout"
    );
}

fn error_of(out: Run) -> Json {
    let report = out.expect_code(1).json();
    report["error"].clone()
}

#[test]
fn errors_are_classified() {
    admin("DROP TABLE IF EXISTS uniq_t; CREATE TABLE uniq_t (id int PRIMARY KEY)");
    let sandbox = config("");
    let insert = json!({"op": "execute", "sql": "INSERT INTO uniq_t VALUES (1)"});
    ok(probe(&sandbox, insert.clone()));
    let e = error_of(probe(&sandbox, insert));
    assert_eq!(
        (e["kind"].as_str(), e["code"].as_str()),
        (Some("conflict"), Some("23505")),
        "{e}"
    );

    let e = error_of(probe(&sandbox, json!({"op": "value", "sql": "SELEC 1"})));
    assert_eq!(
        (e["kind"].as_str(), e["code"].as_str()),
        (Some("invalid-input"), Some("42601")),
        "{e}"
    );

    let e = error_of(probe(
        &sandbox,
        json!({"op": "value", "sql": "SELECT * FROM no_such_table"}),
    ));
    assert_eq!(
        (e["kind"].as_str(), e["code"].as_str()),
        (Some("not-found"), Some("42P01")),
        "{e}"
    );
}

#[test]
fn a_profile_that_is_not_granted_is_denied() {
    let pg = pg();
    let sandbox = config(&format!(
        "[connectors.postgres.other]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"aw_trust\"\n",
        pg.port
    ));
    let out = probe(
        &sandbox,
        json!({"op": "value", "profile": "other", "sql": "SELECT 1"}),
    )
    .expect_code(3);
    let e = out.json()["error"].clone();
    assert_eq!(e["kind"], "denied");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("add \"other\" to `postgres` under [profiles.default]"),
        "{e}"
    );
}

#[test]
fn a_dead_server_is_transient_and_fails_fast() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox = trust_config(closed, "connect_timeout = \"2s\"");
    let started = std::time::Instant::now();
    let e = error_of(probe(&sandbox, json!({"op": "value", "sql": "SELECT 1"})));
    assert_eq!(e["kind"], "transient", "{e}");
    assert_eq!(e["retryable"], true);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn pool_exhaustion_beyond_the_wait_timeout_is_a_timeout() {
    let pg = pg();
    let sandbox = trust_config(pg.port, "max_size = 1\ntimeout = \"300ms\"");
    let e = error_of(probe(&sandbox, json!({"op": "exhaust"})));
    assert_eq!(e["kind"], "timeout", "{e}");
    assert!(e["message"].as_str().unwrap().contains("max_size"), "{e}");
}

#[test]
fn copy_in_quotes_table_names_instead_of_executing_them() {
    admin("DROP TABLE IF EXISTS victim; CREATE TABLE victim (x int)");
    let e = error_of(probe(
        &config(""),
        json!({"op": "copy-in-table", "table": "t; drop table victim"}),
    ));
    assert_eq!(
        e["code"], "42P01",
        "the whole name was one quoted identifier: {e}"
    );
    assert_eq!(
        admin("SELECT count(*)::int8 FROM pg_tables WHERE tablename = 'victim'")[0]
            .get::<_, i64>(0),
        1
    );
}

#[test]
fn execute_many_is_atomic_and_reflect_describes_tables() {
    admin("DROP TABLE IF EXISTS many_t; CREATE TABLE many_t (id int4 PRIMARY KEY, note text DEFAULT 'n')");
    let sandbox = config("");
    let r = ok(probe(
        &sandbox,
        json!({"op": "many", "sql": "INSERT INTO many_t (id) VALUES ($1)", "rows": 1000}),
    ));
    assert_eq!(r["rows"], 1000);
    // A duplicate in the batch: nothing of the batch stays.
    let e = error_of(probe(
        &sandbox,
        json!({"op": "many", "sql": "INSERT INTO many_t (id) VALUES ($1 + 999)", "rows": 10}),
    ));
    assert_eq!(e["code"], "23505");
    assert_eq!(
        admin("SELECT count(*)::int8 FROM many_t")[0].get::<_, i64>(0),
        1000
    );

    let r = ok(probe(&sandbox, json!({"op": "reflect", "table": "many_t"})));
    assert_eq!(r[0]["name"], "many_t");
    assert_eq!(r[0]["pk"], json!(["id"]));
    assert_eq!(r[0]["columns"][0], json!(["id", "int4", false, null]));
    assert_eq!(
        r[0]["columns"][1],
        json!(["note", "text", true, "'n'::text"])
    );
}

#[test]
fn scram_md5_and_trust_authentication_work_and_a_wrong_password_is_auth() {
    let pg = pg();
    for (user, password) in [
        ("aw_scram", Some("scram-pass-1e5")),
        ("aw_md5", Some("md5-pass")),
        ("aw_trust", None),
    ] {
        let password = password
            .map(|p| format!("password = \"{p}\"\n"))
            .unwrap_or_default();
        let sandbox = Sandbox::new(&format!(
            "[connectors.postgres.default]\ndsn = \"postgresql://{user}@127.0.0.1:{}/aw_test?sslmode=disable\"\n{password}[profiles.default]\npostgres = [\"default\"]\n",
            pg.port
        ));
        let r = ok(probe(
            &sandbox,
            json!({"op": "value", "sql": "SELECT current_user::text"}),
        ));
        assert_eq!(r["value"], format!("Some(Value::Text(\"{user}\"))"));
    }
    let sandbox = config("");
    let mut cmd = sandbox.aw_run();
    cmd.arg(guest("aw_pg_probe"))
        .args(["--json", "--input", r#"{"op":"value","sql":"SELECT 1"}"#])
        .env("PG_PASSWORD", "wrong-1e5");
    let out = run(&mut cmd);
    let e = error_of(out);
    assert_eq!(
        (e["kind"].as_str(), e["code"].as_str()),
        (Some("auth"), Some("28P01")),
        "{e}"
    );
    assert!(
        !e.to_string().contains("wrong-1e5"),
        "the password never appears"
    );
}

#[test]
fn tls_modes_follow_libpq() {
    let pg = pg();
    let profile = |dsn_extra: &str, keys: &str| {
        let host = if dsn_extra.contains("host=") {
            ""
        } else {
            "host=127.0.0.1"
        };
        Sandbox::new(&format!(
            "[connectors.postgres.default]\ndsn = \"{host} port={} user=aw_scram dbname=aw_test {dsn_extra}\"\npassword = \"secret://pg_password\"\n{keys}\n[profiles.default]\npostgres = [\"default\"]\n",
            pg.port
        ))
    };
    let ca = format!("sslrootcert = \"{}\"", pg.ca);
    for (mode, keys) in [
        ("require", ""),
        ("verify-ca", ca.as_str()),
        ("verify-full", ca.as_str()),
    ] {
        let r = ok(probe(
            &profile(&format!("sslmode={mode}"), keys),
            json!({"op": "ssl"}),
        ));
        assert_eq!(r["ssl"], "Some(Value::Boolean(true))", "{mode}");
    }
    // verify-full checks the host name: the certificate is for localhost / 127.0.0.1.
    let wrong = profile(
        "sslmode=verify-full host=wrong.invalid hostaddr=127.0.0.1",
        &ca,
    );
    let e = error_of(probe(&wrong, json!({"op": "ssl"})));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{e}"
    );
    // verify-ca does not check the name, so the same connection succeeds.
    let r = ok(probe(
        &profile(
            "sslmode=verify-ca host=wrong.invalid hostaddr=127.0.0.1",
            &ca,
        ),
        json!({"op": "ssl"}),
    ));
    assert_eq!(r["ssl"], "Some(Value::Boolean(true))");
    // verify-full against roots that do not include the self-signed certificate fails.
    let e = error_of(probe(
        &profile("sslmode=verify-full", ""),
        json!({"op": "ssl"}),
    ));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{e}"
    );
}

#[test]
fn the_env_overlay_points_a_profile_at_the_server() {
    let pg = pg();
    // The file names a port nothing listens on; env fixes it, as the demo script does.
    let sandbox = trust_config(1, "");
    let mut cmd = sandbox.aw_run();
    cmd.arg(guest("aw_pg_probe"))
        .args([
            "--json",
            "--input",
            r#"{"op":"value","sql":"SELECT current_database()::text"}"#,
        ])
        .env("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PORT", &pg.port);
    assert_eq!(ok(run(&mut cmd))["value"], "Some(Value::Text(\"aw_test\"))");

    let mut cmd = sandbox.aw_run();
    cmd.arg(guest("aw_pg_probe"))
        .args([
            "--json",
            "--input",
            r#"{"op":"value","sql":"SELECT current_user::text"}"#,
        ])
        .env(
            "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__JSON",
            json!({"port": pg.port, "user": "aw_md5", "password": "md5-pass"}).to_string(),
        );
    assert_eq!(ok(run(&mut cmd))["value"], "Some(Value::Text(\"aw_md5\"))");
}

#[test]
fn every_statement_method_works_through_a_guest() {
    let r = ok(probe(&config(""), json!({"op": "surface"})));
    assert_eq!(r["inserted"], 2);
    assert_eq!(r["all"], json!([[1, "a"], [2, null]]));
    assert_eq!(r["missing"], true);
    assert_eq!(r["one"], json!([1, "a"]));
    assert_eq!(r["typed"], json!([2, null]), "typed getters by name");
    assert!(
        r["wrong_type"].as_str().unwrap().contains("column `id`"),
        "{r}"
    );
    assert_eq!(r["in_tx"], 3);
    assert_eq!(r["count"], 3, "commit kept row 3, rollback dropped row 4");
}

#[test]
fn a_read_only_profile_cannot_be_talked_into_writing() {
    let pg = pg();
    let sandbox = trust_config(pg.port, "read_only = true");
    let r = ok(probe(&sandbox, json!({"op": "read-only"})));
    for key in ["plain", "after_set", "in_tx"] {
        assert_eq!(r[key], "ErrorKind::Denied 25006", "{key}: {r}");
    }
    assert!(
        r["switch"].as_str().unwrap().contains("25001"),
        "SET TRANSACTION READ WRITE is refused: {r}"
    );
    assert_eq!(r["reads"], 1);
}

#[test]
fn a_buffered_query_over_the_row_limit_points_at_query_stream() {
    let sandbox = config("");
    let toml = std::fs::read_to_string(sandbox.path().join("aw.toml"))
        .unwrap()
        .replace(
            "sslmode = \"disable\"",
            "sslmode = \"disable\"\nmax_rows = 10",
        );
    std::fs::write(sandbox.path().join("aw.toml"), toml).unwrap();
    let e = error_of(probe(
        &sandbox,
        json!({"op": "query", "sql": "SELECT g FROM generate_series(1, 11) g"}),
    ));
    assert_eq!(e["kind"], "limit", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("use query-stream"),
        "{e}"
    );
    let r = ok(probe(
        &sandbox,
        json!({"op": "query", "sql": "SELECT g FROM generate_series(1, 10) g"}),
    ));
    assert_eq!(r["rows"], 10);
}

#[test]
fn pyproject_config_selects_the_server_with_a_secret_password() {
    let pg = pg();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        format!(
            "[project]\nname = \"etl\"\n[tool.auto_workflow.connectors.postgres.default]\ndsn = \"postgresql://aw_scram@127.0.0.1:{}/aw_test\"\npassword = \"secret://dev/db_password\"\n",
            pg.port
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aw-run"));
    cmd.env_clear()
        .env("AW_CACHE_DIR", dir.path().join("cache"))
        .env("DEV_DB_PASSWORD", "scram-pass-1e5")
        .current_dir(dir.path())
        .arg(guest("aw_pg_probe"))
        .args([
            "--json",
            "--input",
            r#"{"op":"value","sql":"SELECT current_user::text"}"#,
        ]);
    assert_eq!(
        ok(run(&mut cmd))["value"],
        "Some(Value::Text(\"aw_scram\"))"
    );
}

/// Runs example `name` with its own aw.toml, pointed at the test cluster by env only: exactly
/// how scripts/demo.sh runs it.
fn run_example(name: &str, wasm: &str) -> Json {
    let toml = std::fs::read_to_string(format!(
        "{}/../examples/{name}/aw.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let sandbox = Sandbox::new(&toml);
    let mut cmd = sandbox.aw_run();
    overlay_scram_postgres(&mut cmd)
        .arg(guest(wasm))
        .args(["--profile", "default"]);
    let out = run(&mut cmd).expect_code(0);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{name} printed no JSON ({e}): {}", out.stdout))
}

#[test]
fn the_pg_demo_example_sums_to_ten() {
    assert_eq!(
        run_example("pg-demo", "aw_pg_demo"),
        json!({"inserted": 5, "sum": 10})
    );
}

#[test]
fn the_pg_etl_example_accounts_for_every_row() {
    let r = run_example("pg-etl", "aw_pg_etl");
    assert_eq!(r["staged"], 100_000);
    assert_eq!(r["rejected"], 100, "one malformed amount in a thousand");
    assert_eq!(r["cleaned"], 99_900);
    assert_eq!(r["streamed"], 99_900);
    assert_eq!(r["summary_rows"], 5);
    assert_eq!(r["summary_total_rows"], 99_900);
}

#[test]
fn copy_and_streams_inside_a_transaction_share_its_fate() {
    let r = ok(probe(&config(""), json!({"op": "tx-copy"})));
    assert!(
        r["busy"].as_str().unwrap().contains("unfinished COPY"),
        "{r}"
    );
    assert_eq!(r["copied"], 3);
    assert_eq!(
        r["streamed"],
        json!([1, 2, 3]),
        "the stream went on after the COPY: {r}"
    );
    assert!(
        r["stream_busy"]
            .as_str()
            .unwrap_or("")
            .contains("unfinished COPY"),
        "{r}"
    );
    assert_eq!(r["copy_out"], "a\nb\nc\n");
    assert_eq!(r["after_rollback"], 0, "the rollback took the COPY with it");
}

#[test]
fn a_server_that_never_answers_times_out_at_the_connect_timeout() {
    // Accepts TCP connections and then says nothing, like a hung server or a black hole.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(8) {
            held.push(stream);
        }
    });
    let sandbox = trust_config(port, "sslmode = \"disable\"\nconnect_timeout = \"1s\"");
    let started = std::time::Instant::now();
    let e = error_of(probe(&sandbox, json!({"op": "value", "sql": "SELECT 1"})));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(e["kind"], "timeout", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("connect_timeout"),
        "{e}"
    );
}

#[test]
fn session_state_never_reaches_the_next_user_of_a_connection() {
    let pg = pg();
    // One connection, so the second statement surely gets the one the first statement changed.
    let sandbox = trust_config(pg.port, "max_size = 1\napplication_name = \"etl\"");
    let r = ok(probe(&sandbox, json!({"op": "session-leak"})));
    assert_eq!(r["application_name"], "etl");
    assert_eq!(r["temp_tables"], 0);
}

#[test]
fn a_stream_read_in_the_compact_encoding_carries_every_cell_kind() {
    let r = ok(probe(
        &config(""),
        json!({"op": "stream-encoded", "rows": 100_000, "batch": 3000}),
    ));
    assert_eq!(r["count"], 100_000);
    assert_eq!(r["sum"], 5_000_050_000i64);
    assert_eq!(r["pad_bytes"], 100 * 100_000);
    assert_eq!(
        r["cells"],
        json!([
            "Null",
            "Bool(true)",
            "Int(7)",
            "Float(2.5)",
            "Float(1.5)",
            "Text(\"é\")",
            "Bytes([0, 255])",
            "Text(\"12.50\")",
            "Array(\"[1,null]\")",
            "Text(\"{\\\"a\\\": 1}\")",
            "Text(\"P1D\")"
        ])
    );
    assert!(r["mixed"].as_str().unwrap().contains("not both"), "{r}");
}

/// Issue 16: transaction control in guest SQL is refused everywhere, so the guest's own
/// COMMIT cannot end a read-only profile's transaction and a writable one begin; nothing is
/// written, checked in the database.
#[test]
fn transaction_control_in_guest_sql_cannot_lift_read_only() {
    let pg = pg();
    let table = format!("txctl_{}", std::process::id());
    admin(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (v int)"
    ));
    let sandbox = trust_config(pg.port, "read_only = true");
    let r = ok(probe(&sandbox, json!({"op": "tx-control", "table": table})));
    for key in ["commit", "hidden", "begin", "start", "end"] {
        assert_eq!(r[key], "ErrorKind::Denied ", "{key}: {r}");
    }
    for key in ["insert", "plain"] {
        assert_eq!(r[key], "ErrorKind::Denied 25006", "{key}: {r}");
    }
    let rows = admin(&format!("SELECT count(*) FROM {table}"));
    assert_eq!(rows[0].get::<_, i64>(0), 0);
}

/// Issue 16: a commit after the server rolled the transaction back (a statement error the
/// guest caught, a COPY it abandoned) fails with the earlier error; a rollback to a savepoint
/// recovers the transaction and its commit succeeds.
#[test]
fn a_commit_after_a_server_side_rollback_fails_and_nothing_is_lost_silently() {
    let pg = pg();
    let table = format!("txabort_{}", std::process::id());
    admin(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (v int)"
    ));
    let r = ok(probe(
        &trust_config(pg.port, ""),
        json!({"op": "commit-after-error", "table": table}),
    ));
    assert_eq!(
        r["caught"],
        json!({"kind": "ErrorKind::InvalidInput", "code": "22012", "refused": true}),
        "{r}"
    );
    assert_eq!(r["recovered"], Json::Null, "{r}");
    assert_eq!(
        r["abandoned"],
        json!({"kind": "ErrorKind::Permanent", "code": "57014", "refused": true}),
        "{r}"
    );
    let rows = admin(&format!("SELECT v FROM {table} ORDER BY v"));
    let values: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(
        values,
        vec![2, 3],
        "only the recovered transaction committed"
    );
}
