//! Helpers shared by the integration tests: the real `aw-run` binary, the guest components
//! built by scripts/build-guests.sh, and throwaway config directories.

#![allow(dead_code)]

pub mod adls;
pub mod fault_proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding the guest components (`AW_GUEST_DIR`, set by scripts/test.sh, or the
/// workspace's default target directory).
pub fn guest_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AW_GUEST_DIR") {
        return PathBuf::from(dir);
    }
    // CARGO_BIN_EXE_aw-run is <target>/<profile>/aw-run.
    let bin = Path::new(env!("CARGO_BIN_EXE_aw-run"));
    bin.parent()
        .and_then(Path::parent)
        .expect("aw-run lives in <target>/<profile>/")
        .join("wasm32-wasip2/release")
}

/// The path of guest component `name` (file stem, e.g. `aw_probe`); fails loudly when the
/// guests were not built, because a silently skipped test proves nothing.
pub fn guest(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests with scripts/build-guests.sh (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// A Python (`py`) or JavaScript (`js`) guest component built by scripts/build-guests.sh
/// into `<target>/guests/<lang>/<name>.wasm`; fails loudly when it is missing.
pub fn polyglot_guest(lang: &str, name: &str) -> PathBuf {
    let target = guest_dir()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = target
        .join("guests")
        .join(lang)
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests with scripts/build-guests.sh (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// A compiled-component cache shared by the tests that opt in: Python and JavaScript guests
/// take seconds to compile, once per test run instead of once per test.
pub fn shared_cache_dir() -> PathBuf {
    let target = guest_dir()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    target.join("aw-test-cache")
}

/// A temp directory with an `aw.toml` and its own component cache.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// Variables every `aw_run` of this sandbox gets (secrets for the env provider).
    env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new(aw_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("aw.toml"), aw_toml).expect("write aw.toml");
        Sandbox {
            dir,
            env: Vec::new(),
        }
    }

    /// Sets `name=value` for every `aw_run` of this sandbox.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// `aw-run` with a clean environment, run from this directory, with a cache inside it.
    pub fn aw_run(&self) -> Command {
        let mut cmd = clean_aw_run();
        cmd.env("AW_CACHE_DIR", self.dir.path().join("cache"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        cmd
    }
}

/// `aw-run` with a clean environment (only PATH), so that nothing of the test runner's
/// environment reaches the run unless a test sets it.
pub fn clean_aw_run() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aw-run"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// A finished `aw-run`, with its streams as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Panics with both streams when the exit code is not `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A flow config on the test cluster with `limits` (TOML inline table body).
pub fn flow_sandbox(limits: &str) -> Sandbox {
    Sandbox::new(&format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\nmax_size = 16\n[profiles.default]\npostgres = [\"default\"]\nlimits = {{ {limits} }}\n",
        pg_port()
    ))
}

/// Points an example's `default` Postgres profile (its own aw.toml) at the test cluster by the
/// env overlay alone, as the scram-authenticated role: exactly how scripts/demo.sh runs them.
pub fn overlay_scram_postgres(cmd: &mut Command) -> &mut Command {
    cmd.env("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PORT", pg_port())
        .env(
            "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__USER",
            "aw_scram",
        )
        .env(
            "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__DATABASE",
            "aw_test",
        )
        .env("PG_PASSWORD", "scram-pass-1e5")
}

/// `aw-run --json --input <input>` of the flow-probe guest in `sandbox`, with `extra` flags.
pub fn run_flow(sandbox: &Sandbox, input: &serde_json::Value, extra: &[&str]) -> Run {
    run(sandbox
        .aw_run()
        .arg(guest("aw_flow_probe"))
        .args(["--json", "--input", &input.to_string()])
        .args(extra))
}

/// `aw-run graph <events> --format <format>`: a run's graph from its `--events` file.
pub fn run_graph(sandbox: &Sandbox, events: &Path, format: &str) -> Run {
    run(sandbox
        .aw_run()
        .arg("graph")
        .arg(events)
        .args(["--format", format]))
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawn aw-run");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The test cluster's port (`AW_PG_PORT`, exported by scripts/test.sh).
pub fn pg_port() -> String {
    std::env::var("AW_PG_PORT")
        .unwrap_or_else(|_| panic!("AW_PG_PORT is not set: scripts/test.sh starts PostgreSQL"))
}

/// Runs `sql` as the setup superuser; the first column (an int8) of its last statement's first
/// row, or 0 when it returns none.
pub fn pg_admin_value(sql: &str) -> i64 {
    pg_admin(sql).first().map_or(0, |row| row.get::<_, i64>(0))
}

/// Runs SQL (statements separated by `;`) as the test cluster's setup superuser, `aw_admin`
/// (guests connect as non-superusers), outside any guest; returns the rows of the last
/// statement when it is a SELECT.
pub fn pg_admin(sql: &str) -> Vec<tokio_postgres::Row> {
    pg_admin_at(&pg_port(), sql)
}

/// [`pg_admin`] on the cluster listening on `port` (a test's own cluster).
pub fn pg_admin_at(port: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let dsn = format!("host=127.0.0.1 port={port} user=aw_admin dbname=aw_test");
        let (client, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .expect("admin connect");
        tokio::spawn(conn);
        client.simple_query(sql).await.expect("admin sql");
        let last = sql
            .trim_end_matches(';')
            .rsplit(';')
            .next()
            .unwrap_or(sql)
            .trim()
            .to_string();
        if last.to_uppercase().starts_with("SELECT") {
            client.query(&last, &[]).await.expect("admin query")
        } else {
            Vec::new()
        }
    })
}

/// What a flow's `keys` op (every probe guest has one) returns: the flow's own instance runs no
/// attempt; its task's second attempt reads `<run id>.<task id>` as its task key, and that
/// plus `.2` as its attempt key.
pub fn assert_idempotency_keys(result: &serde_json::Value, who: &str) {
    assert_eq!(
        result["flow"],
        serde_json::Value::Null,
        "{who}: the flow runs no attempt"
    );
    let task = &result["task"];
    assert_eq!(
        (&task["task"], &task["attempt"]),
        (&serde_json::json!("keys"), &serde_json::json!(2)),
        "{who}: {result}"
    );
    let key = task["task_key"].as_str().unwrap_or_default();
    let (run, id) = key.rsplit_once('.').unwrap_or_default();
    assert_eq!(run.len(), 36, "{who}: a UUID, then the task id: {key}");
    assert_eq!(id, task["task_id"].to_string(), "{who}: {result}");
    assert_eq!(
        task["attempt_key"],
        format!("{key}.2"),
        "{who}: the attempt's key is the task's and its number"
    );
}
