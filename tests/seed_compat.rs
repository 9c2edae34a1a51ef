//! Issue 15: code and configs written for the Python `auto_workflow` package behave as its
//! connectors document (shared/seed/connectors.md) says. Transaction blocks in Python and
//! JavaScript, `connection()` blocks, DSN precedence and schemes, the package's pyproject keys,
//! DB-API and SQLAlchemy (ORM, sessions, reflection) in a Python guest, and `void` columns, all
//! through aw-run against the PostgreSQL cluster scripts/test.sh starts, checked with SQL.

mod common;

use common::{
    clean_aw_run, pg_admin, pg_port, polyglot_guest, run, shared_cache_dir, Run, Sandbox,
};
use serde_json::{json, Value as Json};

const LANGS: [&str; 2] = ["py", "js"];

/// The pyproject.toml of a user of the Python package, pointed at the test cluster: every engine
/// key of the package and its pool keys, with `extra` appended under the postgres profile.
fn pyproject(extra: &str) -> String {
    format!(
        r#"
[project]
name = "etl"

[tool.auto_workflow]
log_level = "INFO"
max_dynamic_tasks = 512
artifact_store = "filesystem"
artifact_store_path = ".aw_artifacts"
artifact_serializer = "json"
result_cache = "filesystem"
result_cache_path = ".aw_cache"
result_cache_max_entries = 1000
process_pool_max_workers = 4

[tool.auto_workflow.connectors.postgres.default]
host = "127.0.0.1"
port = {port}
database = "aw_test"
user = "aw_scram"
password = "secret://pg_password"
sslmode = "disable"
application_name = "seed-compat"
min_size = 1
max_size = 4
timeout = 10
{extra}
"#,
        port = pg_port()
    )
}

/// A sandbox holding only a pyproject.toml (no aw.toml: the package's users have none).
fn project(extra: &str) -> Sandbox {
    pyproject_only(&pyproject(extra)).with_env("PG_PASSWORD", "scram-pass-1e5")
}

/// [`project`] with one pool key set to `value`.
fn project_with(key: &str, value: &str) -> Sandbox {
    let sandbox = project("");
    let base = pyproject("");
    let text: Vec<String> = base
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    sandbox.write("pyproject.toml", &text.join("\n"));
    sandbox
}

fn seed(sandbox: &Sandbox, lang: &str, input: Json) -> Run {
    run(sandbox
        .aw_run()
        .env("AW_CACHE_DIR", shared_cache_dir())
        .arg(polyglot_guest(lang, "seed-compat"))
        .args(["--profile", "default", "--input", &input.to_string()]))
}

/// A fresh table `(v int)` for one run.
fn table(tag: &str) -> String {
    let name = format!("seed_{tag}_{}", std::process::id());
    pg_admin(&format!(
        "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (v int)"
    ));
    name
}

fn count(table: &str) -> i64 {
    pg_admin(&format!("SELECT count(*) FROM {table}"))[0].get(0)
}

#[test]
fn the_documented_transaction_block_commits_or_rolls_back_as_one_in_python_and_javascript() {
    let project = project("");
    for lang in LANGS {
        let t = table(&format!("commit_{lang}"));
        let out = seed(&project, lang, json!({"mode": "tx-commit", "table": t})).expect_code(0);
        assert_eq!(out.json(), json!({"inside": 4}), "{lang}");
        assert_eq!(
            count(&t),
            4,
            "{lang}: the block's statements commit together"
        );

        // A block that raises leaves none of its rows (the document promises 0; the SDKs
        // used to commit each statement on its own).
        let t = table(&format!("raise_{lang}"));
        let out = seed(&project, lang, json!({"mode": "tx-raise", "table": t})).expect_code(0);
        assert_eq!(out.json(), json!({"after": 0}), "{lang}");
        assert_eq!(count(&t), 0, "{lang}");

        // A nested block reuses the open transaction: the same txid and xact_start inside and
        // after it, and its insert goes when the outer block raises.
        let t = table(&format!("nested_{lang}"));
        let out = seed(&project, lang, json!({"mode": "tx-nested", "table": t})).expect_code(0);
        assert_eq!(
            out.json(),
            json!({"same_transaction": true, "after": 0}),
            "{lang}"
        );
        assert_eq!(count(&t), 0, "{lang}");
    }
}

#[test]
fn a_connection_block_keeps_its_session_state_and_none_of_it_leaks() {
    let project = project_with("max_size", "1");
    for lang in LANGS {
        let t = table(&format!("conn_{lang}"));
        // max_size = 1: the statements after the block get the very connection the block had,
        // so what they see proves it was reset.
        let out = seed(&project, lang, json!({"mode": "connection", "table": t})).expect_code(0);
        assert_eq!(
            out.json(),
            json!({"inside": ["pg_temp, public", 2], "after_path": "\"$user\", public", "after_temp": null, "copied": 2}),
            "{lang}"
        );
        assert_eq!(count(&t), 2, "{lang}");
    }
}

#[test]
fn a_void_column_reads_as_null() {
    let project = project("");
    for lang in LANGS {
        let out = seed(&project, lang, json!({"mode": "void"})).expect_code(0);
        assert_eq!(out.json(), json!({"slept": null}), "{lang}");
    }
}

#[test]
fn a_pyproject_with_every_engine_key_of_the_package_runs_and_says_what_has_no_effect() {
    let project = project("");
    let out = seed(&project, "py", json!({"mode": "server"})).expect_code(0);
    assert_eq!(out.json()["db"], "aw_test");
    for key in [
        "result_cache_max_entries",
        "process_pool_max_workers",
        "min_size",
    ] {
        assert!(
            out.stderr.contains(key) && out.stderr.contains("has no effect"),
            "no warning for {key}:\n{}",
            out.stderr
        );
    }
    // max_dynamic_tasks is the default max_tasks, result_cache = "filesystem" the disk cache.
    let config = run(project.aw_run().args(["config", "--profile", "default"])).expect_code(0);
    let shown: Json = serde_json::from_str(&config.stdout).expect("config prints JSON");
    assert_eq!(shown["limits"]["max_tasks"], 512, "{shown:#}");
    let cache = shown["result_cache"].as_str().unwrap_or_default();
    assert!(cache.ends_with(".aw_cache"), "{shown:#}");
    // artifact_store = "filesystem" keeps persist=True results in artifact_store_path.
    assert!(
        !out.stderr.contains("artifact_store"),
        "artifact_store takes effect:\n{}",
        out.stderr
    );
    let store = shown["artifact_store"].as_str().unwrap_or_default();
    assert!(store.ends_with(".aw_artifacts"), "{shown:#}");

    // A misspelled key of this runtime still fails, naming it.
    let typo = self::project("max_sise = 4");
    let out = run(typo
        .aw_run()
        .arg(polyglot_guest("py", "seed-compat"))
        .args(["--profile", "default"]))
    .expect_code(2);
    assert!(
        out.stderr.contains("connectors.postgres.default.max_sise"),
        "{}",
        out.stderr
    );
    for (text, named) in [
        (
            "[tool.auto_workflow]\nmax_dynamic_taks = 3\n",
            "max_dynamic_taks",
        ),
        (
            "[tool.auto_workflow]\nresult_cache = \"filesytem\"\n",
            "\"memory\" or \"filesystem\"",
        ),
    ] {
        let out = run(pyproject_only(text)
            .aw_run()
            .args(["config", "--profile", "default"]))
        .expect_code(2);
        assert!(out.stderr.contains(named), "{}", out.stderr);
    }
}

/// A sandbox whose only config is a pyproject.toml holding `text`.
fn pyproject_only(text: &str) -> Sandbox {
    let sandbox = Sandbox::new("");
    std::fs::remove_file(sandbox.path().join("aw.toml")).expect("remove aw.toml");
    sandbox.write("pyproject.toml", text);
    sandbox
}

#[test]
fn a_dsn_from_env_wins_over_the_files_server_fields_in_every_scheme() {
    // The file names a server nobody listens on; the env DSN names the test cluster.
    let project = project("").with_env("PG_PASSWORD", "scram-pass-1e5");
    std::fs::write(
        project.path().join("pyproject.toml"),
        pyproject("")
            .replace(&format!("port = {}", pg_port()), "port = 1")
            .replace("host = \"127.0.0.1\"", "host = \"127.0.0.2\""),
    )
    .expect("write pyproject");
    for scheme in ["postgresql", "postgres", "postgresql+psycopg"] {
        let dsn = format!(
            "{scheme}://aw_scram@127.0.0.1:{}/aw_test?sslmode=disable",
            pg_port()
        );
        let out = run(project
            .aw_run()
            .env("AW_CACHE_DIR", shared_cache_dir())
            .env("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__DSN", &dsn)
            .arg(polyglot_guest("py", "seed-compat"))
            .args(["--profile", "default", "--input", r#"{"mode":"server"}"#]))
        .expect_code(0);
        let port: i64 = pg_port().parse().expect("port");
        // The password still comes from the file's secret:// (the DSN carries none).
        assert_eq!(
            out.json(),
            json!({"db": "aw_test", "usr": "aw_scram", "port": port}),
            "{scheme}"
        );
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("`dsn`") && l.contains("ignored"))
            .collect();
        assert_eq!(
            warnings.len(),
            1,
            "{scheme}: one warning expected:\n{}",
            out.stderr
        );
        for key in ["`host`", "`port`", "`database`", "`user`", "pyproject.toml"] {
            assert!(
                warnings[0].contains(key),
                "{scheme}: the warning does not name {key}: {}",
                warnings[0]
            );
        }
        assert!(
            !out.stderr.contains("scram-pass-1e5"),
            "the password leaked"
        );
    }
}

#[test]
fn dbapi_cursors_behave_as_pep_249_says() {
    let project = project("");
    let t = table("dbapi");
    let out = seed(&project, "py", json!({"mode": "dbapi", "table": t})).expect_code(0);
    assert_eq!(
        out.json(),
        json!({"inserted": 2, "described": [["v", true]], "rows": [[10], [20]], "many": 3,
               "error": {"class": "ProgrammingError", "sqlstate": "42P01", "kind": "not-found"}})
    );
    let rows = pg_admin(&format!("SELECT v FROM {t} ORDER BY v"));
    let values: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        values,
        vec![1, 2, 3],
        "the rolled-back inserts are gone, the committed ones stay"
    );
}

#[test]
fn sqlalchemy_orm_sessions_and_reflection_run_in_the_sandbox_on_the_host_pool() {
    let project = project("");
    let prefix = format!("seed_orm_{}", std::process::id());
    pg_admin(&format!(
        "DROP TABLE IF EXISTS {prefix}_member; DROP TABLE IF EXISTS {prefix}_team"
    ));
    let out = seed(&project, "py", json!({"mode": "orm", "table": prefix})).expect_code(0);
    assert_eq!(
        out.json(),
        json!({
            "names": ["ann", "bob"], "teams": 2, "raw": 2, "url": "postgresql+aw://default",
            "reflected": {"id": "INTEGER", "name": "VARCHAR", "team_id": "INTEGER"},
            "foreign_keys": [format!("public.{prefix}_team.id")],
        }),
        "stderr:\n{}",
        out.stderr
    );
    // Checked with SQL of the test's own: the clean session committed, the raising one left nothing.
    let teams = pg_admin(&format!("SELECT name FROM {prefix}_team ORDER BY name"));
    let names: Vec<String> = teams.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, vec!["blue", "red"]);
    let members = pg_admin(&format!("SELECT m.name FROM {prefix}_member m JOIN {prefix}_team t ON t.id = m.team_id WHERE t.name = 'red' ORDER BY 1"));
    assert_eq!(members.len(), 2);
    assert!(!out.stdout.contains("scram-pass-1e5") && !out.stderr.contains("scram-pass-1e5"));
}

#[test]
fn the_python_package_engine_keys_alone_need_no_connectors() {
    // A pyproject with only engine keys and no connectors is a valid config.
    let sandbox =
        pyproject_only("[tool.auto_workflow]\nmax_dynamic_tasks = 2\nlog_level = \"DEBUG\"\n");
    let out =
        run(clean_aw_run()
            .current_dir(sandbox.path())
            .args(["config", "--profile", "default"]))
        .expect_code(0);
    let shown: Json = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(shown["limits"]["max_tasks"], 2, "{shown:#}");

    // A pyproject.toml that does not parse is an error, not a run without its grants.
    sandbox.write(
        "pyproject.toml",
        "[tool.auto_workflow]\nmax_dynamic_tasks = 2\nmax_dynamic_tasks = 3\n",
    );
    let out =
        run(clean_aw_run()
            .current_dir(sandbox.path())
            .args(["config", "--profile", "default"]))
        .expect_code(2);
    assert!(
        out.stderr.contains("pyproject.toml") && out.stderr.contains("not valid TOML"),
        "{}",
        out.stderr
    );
}
