//! End-to-end tests of the `aw-run` binary with real guest components: the hello example,
//! grants, secrets and scrubbing, the sandbox, limits, bad components and the compile cache.

mod common;

use common::{guest, run, Sandbox};
use serde_json::json;

const PROFILE: &str = r#"
[profiles.default]
config = { table = "aw_demo", batch = 500 }
secrets = ["api-token"]
"#;

const TOKEN: &str = "tok-5f1e2d3c4b";

fn probe(sandbox: &Sandbox, input: serde_json::Value) -> std::process::Command {
    let mut cmd = sandbox.aw_run();
    cmd.arg(guest("aw_probe"))
        .args(["--profile", "default", "--input", &input.to_string()])
        .env("API_TOKEN", TOKEN);
    cmd
}

#[test]
fn hello_example_prints_its_json_result() {
    let toml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/hello/aw.toml"
    ))
    .unwrap();
    let sandbox = Sandbox::new(&toml);
    let out = run(sandbox
        .aw_run()
        .arg(guest("aw_hello"))
        .args(["--profile", "default"])
        .env("API_TOKEN", TOKEN))
    .expect_code(0);
    assert_eq!(
        out.json(),
        json!({"greeting": "hello, world", "table": "aw_demo", "secret_length": TOKEN.len()})
    );

    let out = run(sandbox
        .aw_run()
        .arg(guest("aw_hello"))
        .args([
            "--profile",
            "default",
            "--json",
            "--input",
            r#"{"name":"ada"}"#,
        ])
        .env("API_TOKEN", TOKEN))
    .expect_code(0);
    let report = out.json();
    assert_eq!(report["status"], "ok");
    assert_eq!(report["result"]["greeting"], "hello, ada");
    assert_eq!(
        report["limits"]["memory"],
        64 << 20,
        "limits come from examples/hello/aw.toml"
    );
    assert!(report["usage"]["peak_memory"].as_u64().unwrap() > 0);
}

#[test]
fn granted_config_is_readable_and_ungranted_is_denied() {
    let sandbox = Sandbox::new(PROFILE);
    let out = run(&mut probe(
        &sandbox,
        json!({"mode": "config", "name": "TABLE"}),
    ))
    .expect_code(0);
    assert_eq!(out.json(), json!({"value": "aw_demo"}));
    let out = run(&mut probe(&sandbox, json!({"mode": "config-all"}))).expect_code(0);
    assert_eq!(out.json(), json!([["batch", "500"], ["table", "aw_demo"]]));

    let out = run(&mut probe(
        &sandbox,
        json!({"mode": "config", "name": "password"}),
    ))
    .expect_code(3);
    assert!(
        out.stderr.contains("config key `password` is not granted"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[profiles.default.config]"),
        "{}",
        out.stderr
    );

    let out = run(&mut probe(
        &sandbox,
        json!({"mode": "secret-return", "name": "db-password"}),
    ))
    .expect_code(3);
    assert!(
        out.stderr.contains("secret `db-password` is not granted"),
        "{}",
        out.stderr
    );
}

#[test]
fn env_overlay_reaches_the_guest_through_the_run_profile() {
    let sandbox = Sandbox::new(PROFILE);
    let mut cmd = probe(&sandbox, json!({"mode": "config", "name": "table"}));
    cmd.env("AUTO_WORKFLOW_PROFILES_DEFAULT__CONFIG__TABLE", "from_env");
    assert_eq!(
        run(&mut cmd).expect_code(0).json(),
        json!({"value": "from_env"})
    );
    cmd.env(
        "AUTO_WORKFLOW_PROFILES_DEFAULT__JSON",
        r#"{"config": {"table": "from_json"}}"#,
    );
    assert_eq!(
        run(&mut cmd).expect_code(0).json(),
        json!({"value": "from_json"})
    );
}

#[test]
fn secrets_resolve_from_env_in_both_name_forms_and_from_a_directory() {
    let sandbox = Sandbox::new(PROFILE);
    // Conventional form: `api-token` -> API_TOKEN.
    let out = run(&mut probe(
        &sandbox,
        json!({"mode": "secret-return", "name": "api-token"}),
    ))
    .expect_code(0);
    assert_eq!(
        out.json(),
        json!({"secret": "***"}),
        "the result is scrubbed even when the guest returns the value"
    );

    // The name as written wins over the conventional form.
    let sandbox = Sandbox::new(&format!("{PROFILE}\n[secrets]\nproviders = [\"env\"]\n"));
    let mut cmd = probe(
        &sandbox,
        json!({"mode": "secret-leak", "name": "api-token"}),
    );
    cmd.env("api-token", "as-written-7781")
        .env_remove("API_TOKEN");
    let out = run(&mut cmd).expect_code(1);
    assert!(
        out.stderr.contains("***") && !out.stderr.contains("as-written-7781"),
        "{}",
        out.stderr
    );

    // Directory provider, Kubernetes layout, trailing newline trimmed.
    let toml = r#"
[profiles.default]
secrets = ["dev/db_password"]
[secrets]
providers = ["dir"]
dir = "secrets"
"#;
    let sandbox = Sandbox::new(toml);
    sandbox.write("secrets/dev/db_password", "from-a-file-9911\n");
    let out = run(&mut probe(
        &sandbox,
        json!({"mode": "secret-leak", "name": "dev/db_password"}),
    ))
    .expect_code(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!all.contains("from-a-file-9911"), "{all}");
    assert!(
        all.contains("failing with the secret *** in the message"),
        "{all}"
    );
}

#[test]
fn a_missing_secret_fails_before_the_guest_runs_and_names_it() {
    let sandbox = Sandbox::new(PROFILE);
    let mut cmd = probe(&sandbox, json!({"mode": "echo"}));
    cmd.env_remove("API_TOKEN");
    let out = run(&mut cmd).expect_code(2);
    assert!(
        out.stderr.contains("secret `api-token` not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("API_TOKEN"),
        "names the providers tried: {}",
        out.stderr
    );

    // A secret:// reference in a granted connector profile is resolved up front too.
    let toml = format!(
        "{PROFILE}postgres = [\"main\"]\n[connectors.postgres.main]\ndsn = \"postgresql://app@127.0.0.1/app\"\npassword = \"secret://dev/db_password\"\n"
    );
    let sandbox = Sandbox::new(&toml);
    let out = run(&mut probe(&sandbox, json!({"mode": "echo"}))).expect_code(2);
    assert!(
        out.stderr.contains("secret `dev/db_password` not found"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("DEV_DB_PASSWORD"), "{}", out.stderr);
}

#[test]
fn a_secret_never_reaches_stdout_stderr_or_the_report() {
    let sandbox = Sandbox::new(PROFILE);
    for json_flag in [false, true] {
        let mut cmd = probe(
            &sandbox,
            json!({"mode": "secret-leak", "name": "api-token"}),
        );
        cmd.args(["-vv"]);
        if json_flag {
            cmd.arg("--json");
        }
        let out = run(&mut cmd).expect_code(1);
        assert!(
            !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
            "leaked:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        // The guest's log line, its stdout and stderr lines all arrived, scrubbed.
        for line in ["the secret is ***", "stdout says ***", "stderr says ***"] {
            assert!(
                out.stderr.contains(line),
                "missing {line:?} in:\n{}",
                out.stderr
            );
        }
        if json_flag {
            let report = out.json();
            assert_eq!(report["status"], "error");
            assert_eq!(report["error"]["kind"], "permanent");
            assert_eq!(
                report["error"]["message"],
                "failing with the secret *** in the message"
            );
        }
    }
    // A literal password in connector config is a secret too.
    let toml = format!(
        "{PROFILE}postgres = [\"main\"]\n[connectors.postgres.main]\npassword = \"{TOKEN}\"\n"
    );
    let sandbox = Sandbox::new(&toml);
    let out = run(sandbox.aw_run().args(["config", "--profile", "default"])).expect_code(0);
    assert!(!out.stdout.contains(TOKEN), "{}", out.stdout);
}

#[test]
fn check_lists_imports_and_fails_on_a_missing_grant() {
    let sandbox = Sandbox::new(PROFILE);
    let out = run(sandbox.aw_run().arg("check").arg(guest("aw_probe")).args([
        "--profile",
        "default",
        "--json",
    ]))
    .expect_code(0);
    let report = out.json();
    let imports = report["imports"].as_array().unwrap();
    let status_of = |iface: &str| {
        imports
            .iter()
            .find(|i| i["name"].as_str().unwrap().starts_with(iface))
            .map(|i| i["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status_of("auto-workflow:connectors/config").as_deref(),
        Some("granted")
    );
    assert_eq!(
        status_of("auto-workflow:connectors/secrets").as_deref(),
        Some("granted")
    );
    assert_eq!(
        status_of("auto-workflow:connectors/log").as_deref(),
        Some("always")
    );
    assert_eq!(
        status_of("wasi:filesystem/preopens").as_deref(),
        Some("always")
    );
    assert_eq!(report["exports_run"], true);

    // A profile that grants no secrets: the secrets import is not granted.
    let sandbox = Sandbox::new("[profiles.default]\nconfig = { table = \"t\" }\n");
    let out = run(sandbox
        .aw_run()
        .arg("check")
        .arg(guest("aw_probe"))
        .args(["--profile", "default"]))
    .expect_code(3);
    assert!(
        out.stdout.contains("auto-workflow:connectors/secrets"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("not-granted"), "{}", out.stdout);
}

#[test]
fn the_sandbox_has_no_files_env_or_sockets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sandbox = Sandbox::new(PROFILE);
    let mut cmd = probe(&sandbox, json!({"mode": "sandbox", "port": port}));
    cmd.env("HOME", "/root");
    let out = run(&mut cmd).expect_code(0);
    let report = out.json();
    for field in ["file", "dir", "env_var", "tcp"] {
        assert!(
            report[field]["error"].is_string(),
            "{field} should have failed: {report}"
        );
    }
    assert_eq!(report["env_count"], 0);
    assert!(
        listener.accept().is_err(),
        "the guest must not have connected"
    );
}

#[test]
fn an_infinite_loop_stops_at_the_timeout() {
    let sandbox = Sandbox::new(PROFILE);
    let started = std::time::Instant::now();
    let mut cmd = probe(&sandbox, json!({"mode": "loop"}));
    cmd.args(["--timeout", "1s", "--json"]);
    let out = run(&mut cmd).expect_code(4);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a 1 s timeout must not take a minute"
    );
    assert!(out.stderr.contains("timeout exceeded"), "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["status"], "limit-exceeded");
    assert_eq!(report["error"]["limit"]["name"], "timeout");
}

#[test]
fn a_memory_bomb_stops_at_the_memory_limit() {
    let sandbox = Sandbox::new(PROFILE);
    let mut cmd = probe(&sandbox, json!({"mode": "alloc", "bytes": 1u64 << 30}));
    cmd.args(["--memory", "64MiB"]);
    let out = run(&mut cmd).expect_code(4);
    assert!(
        out.stderr.contains("memory limit exceeded"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("64 MiB"),
        "names the limit: {}",
        out.stderr
    );

    // The same allocation fits under a larger limit.
    let mut cmd = probe(&sandbox, json!({"mode": "alloc", "bytes": 8u64 << 20}));
    cmd.args(["--memory", "64MiB"]);
    assert_eq!(
        run(&mut cmd).expect_code(0).json(),
        json!({"allocated": 8u64 << 20})
    );
}

#[test]
fn fuel_runs_out_deterministically() {
    let sandbox = Sandbox::new(PROFILE);
    let mut cmd = probe(&sandbox, json!({"mode": "loop"}));
    cmd.args(["--fuel", "5000000", "--timeout", "5m"]);
    let out = run(&mut cmd).expect_code(4);
    assert!(out.stderr.contains("fuel exhausted"), "{}", out.stderr);
    assert!(out.stderr.contains("5000000"), "{}", out.stderr);

    // Enough fuel for a small task.
    let mut cmd = probe(&sandbox, json!({"mode": "echo"}));
    cmd.args(["--fuel", "50000000", "--json"]);
    let report = run(&mut cmd).expect_code(0).json();
    let used = report["usage"]["fuel_consumed"].as_u64().unwrap();
    assert!(used > 0 && used < 50_000_000, "{report}");
}

#[test]
fn a_panicking_guest_exits_5_with_its_message() {
    let sandbox = Sandbox::new(PROFILE);
    let out = run(&mut probe(&sandbox, json!({"mode": "panic"}))).expect_code(5);
    assert!(out.stderr.contains("guest trapped"), "{}", out.stderr);
    assert!(
        out.stderr.contains("probe panicked on purpose"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_component_files_exit_6_and_a_missing_file_exits_2() {
    let sandbox = Sandbox::new("");
    let text = sandbox.write("notes.wasm", "this is not wasm");
    let out = run(sandbox.aw_run().arg(&text)).expect_code(6);
    assert!(
        out.stderr.contains("not a WebAssembly file"),
        "{}",
        out.stderr
    );

    let core = sandbox.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = run(sandbox.aw_run().arg(&core)).expect_code(6);
    assert!(
        out.stderr
            .contains("core WebAssembly module, not a component"),
        "{}",
        out.stderr
    );

    let out = run(sandbox.aw_run().arg(guest("aw_other_world"))).expect_code(6);
    assert!(
        out.stderr
            .contains("exports neither the `task` nor the `flow` world"),
        "{}",
        out.stderr
    );

    let out = run(sandbox.aw_run().arg(sandbox.path().join("nope.wasm"))).expect_code(2);
    assert!(
        out.stderr.contains("cannot read component"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_second_run_loads_the_compiled_component_from_the_cache() {
    let sandbox = Sandbox::new(PROFILE);
    let first = run(probe(&sandbox, json!({"mode": "echo"})).args(["--json", "-v"])).expect_code(0);
    assert_eq!(first.json()["cache"], "miss");
    let second =
        run(probe(&sandbox, json!({"mode": "echo"})).args(["--json", "-v"])).expect_code(0);
    assert_eq!(second.json()["cache"], "hit");
    assert!(
        second.stderr.contains("component cache hit"),
        "{}",
        second.stderr
    );
    let disabled =
        run(probe(&sandbox, json!({"mode": "echo"})).args(["--json", "--no-cache"])).expect_code(0);
    assert_eq!(disabled.json()["cache"], "disabled");
}

/// Issue 17: when a cache entry cannot be written, the run still succeeds and leaves no
/// partial temp file behind (one was left per run). The write is made to fail at its last
/// step: a directory stands where the entry would be renamed to.
#[test]
fn a_cache_entry_that_cannot_be_written_leaves_no_temp_file() {
    let sandbox = Sandbox::new(PROFILE);
    let cache = sandbox.path().join("cache");
    let first = run(probe(&sandbox, json!({"mode": "echo"})).arg("--json")).expect_code(0);
    assert_eq!(first.json()["cache"], "miss");
    let entry = cache_entry(&cache);
    std::fs::remove_file(&entry).expect("remove the entry");
    std::fs::create_dir(&entry).expect("a directory in its place");
    for _ in 0..2 {
        let out = run(probe(&sandbox, json!({"mode": "echo"})).arg("--json")).expect_code(0);
        assert_eq!(out.json()["cache"], "miss");
        assert!(
            out.stderr.contains("cannot write the component cache"),
            "{}",
            out.stderr
        );
    }
    assert_no_temp_files(&cache);
}

/// The one compiled entry (`.cwasm`) in `cache`.
fn cache_entry(cache: &std::path::Path) -> std::path::PathBuf {
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

fn assert_no_temp_files(cache: &std::path::Path) {
    let left: Vec<_> = std::fs::read_dir(cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.starts_with(".tmp-")),
        "a temp file was left: {left:?}"
    );
}

/// A compiled entry with one zeroed 4 KiB page (a bad block, a power loss before the data
/// reached the disk) crashed every later run with SIGSEGV. Its digest no longer matches: the
/// run says so, recompiles, replaces the entry, and the next run is a hit again.
#[test]
fn a_damaged_cache_entry_is_detected_recompiled_and_replaced() {
    let sandbox = Sandbox::new(PROFILE);
    let cache = sandbox.path().join("cache");
    run(probe(&sandbox, json!({"mode": "echo"})).arg("--json")).expect_code(0);
    let entry = cache_entry(&cache);
    let mut bytes = std::fs::read(&entry).expect("read the entry");
    let page = (bytes.len() / 2) & !4095;
    bytes[page..page + 4096].fill(0);
    std::fs::write(&entry, &bytes).expect("damage the entry");
    let out = run(probe(&sandbox, json!({"mode": "echo"})).arg("--json")).expect_code(0);
    let report = out.json();
    assert_eq!(report["cache"], "miss", "{report}");
    assert_eq!(report["result"]["mode"], "echo", "{report}");
    assert!(
        out.stderr.contains("cache entry is damaged"),
        "the damage is logged: {}",
        out.stderr
    );
    let again = run(probe(&sandbox, json!({"mode": "echo"})).arg("--json")).expect_code(0);
    assert_eq!(again.json()["cache"], "hit", "the entry was replaced");
    assert_ne!(std::fs::read(&entry).expect("entry"), bytes);
}

/// A cache directory on a full file system (a 256 KiB tmpfs, smaller than the entry; mounting
/// needs root, as the suite runs): every run still works, and no partial entry is left.
#[test]
fn a_full_cache_directory_leaves_no_temp_file() {
    let sandbox = Sandbox::new(PROFILE);
    let cache = sandbox.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&cache)
        .status();
    assert!(
        matches!(mounted, Ok(s) if s.success()),
        "mounting a small tmpfs needs root: {mounted:?}"
    );
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&cache);
    for _ in 0..2 {
        let out = run(probe(&sandbox, json!({"mode": "echo"})).arg("--json")).expect_code(0);
        assert_eq!(out.json()["cache"], "miss");
        assert!(
            out.stderr.contains("cannot write the component cache"),
            "{}",
            out.stderr
        );
        assert_no_temp_files(&cache);
    }
}
