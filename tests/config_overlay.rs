//! Configuration precedence and validation, as the Python `auto_workflow` package's users
//! expect it: file < `AUTO_WORKFLOW_..._<KEY>` env fields < `..._JSON` overlays, for aw.toml and
//! pyproject.toml alike; errors name the key and where it came from.

mod common;

use std::path::Path;

use aw_runtime::config::{Config, LoadOptions, Value};
use aw_runtime::redact::Scrubber;
use aw_runtime::secrets::{Provider, Secrets};
use common::{run, Sandbox};

const AW_TOML: &str = r#"
[connectors.postgres.default]
dsn = "postgresql://app@file-host:5432/app"
max_size = 4
application_name = "from-file"
statement_timeout = "30s"

[profiles.default]
postgres = ["default"]
"#;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(dir: &Path, vars: &[(&str, &str)]) -> Config {
    Config::load(&LoadOptions {
        file: None,
        cwd: dir.to_path_buf(),
        env: env(vars),
    })
    .expect("config loads")
}

/// The string form of a connector key, for assertions.
fn pg(config: &Config, key: &str) -> Value {
    config
        .connector_profile("postgres", "default")
        .expect("profile")[key]
        .value
        .clone()
}

fn precedence_holds(dir: &Path) {
    let file_only = load(dir, &[]);
    assert_eq!(
        pg(&file_only, "dsn"),
        Value::Str("postgresql://app@file-host:5432/app".into())
    );
    assert_eq!(pg(&file_only, "max_size"), Value::Int(4));

    let fields = [
        (
            "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__DSN",
            "postgresql://app@env-host/app",
        ),
        ("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__MAX_SIZE", "8"),
    ];
    let with_env = load(dir, &fields);
    assert_eq!(
        pg(&with_env, "dsn"),
        Value::Str("postgresql://app@env-host/app".into())
    );
    assert_eq!(
        pg(&with_env, "max_size"),
        Value::Str("8".into()),
        "env values stay strings until a typed read"
    );
    assert_eq!(
        pg(&with_env, "application_name"),
        Value::Str("from-file".into()),
        "untouched keys keep the file value"
    );

    let mut all = fields.to_vec();
    all.push((
        "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__JSON",
        r#"{"dsn": "postgresql://app@json-host/app"}"#,
    ));
    let with_json = load(dir, &all);
    assert_eq!(
        pg(&with_json, "dsn"),
        Value::Str("postgresql://app@json-host/app".into()),
        "JSON wins over fields"
    );
    assert_eq!(
        pg(&with_json, "max_size"),
        Value::Str("8".into()),
        "JSON merges: other keys stay"
    );
    let source = with_json.connector_profile("postgres", "default").unwrap()["dsn"]
        .source
        .to_string();
    assert_eq!(
        source,
        "env AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__JSON (JSON)"
    );
}

#[test]
fn precedence_in_aw_toml() {
    let sandbox = Sandbox::new(AW_TOML);
    precedence_holds(sandbox.path());
}

#[test]
fn precedence_in_pyproject_toml() {
    let dir = tempfile::tempdir().unwrap();
    let pyproject = AW_TOML
        .replace("[connectors.", "[tool.auto_workflow.connectors.")
        .replace("[profiles.", "[tool.auto_workflow.profiles.");
    std::fs::write(
        dir.path().join("pyproject.toml"),
        format!("[project]\nname = \"etl\"\n{pyproject}"),
    )
    .unwrap();
    precedence_holds(dir.path());
    let config = load(dir.path(), &[]);
    assert!(config.file.unwrap().ends_with("pyproject.toml"));
}

#[test]
fn aw_toml_wins_over_pyproject_and_aw_config_over_both() {
    let sandbox = Sandbox::new(AW_TOML);
    sandbox.write(
        "pyproject.toml",
        "[tool.auto_workflow.connectors.postgres.default]\napplication_name = \"py\"\n",
    );
    sandbox.write(
        "other.toml",
        "[connectors.postgres.default]\napplication_name = \"other\"\n",
    );
    assert_eq!(
        pg(&load(sandbox.path(), &[]), "application_name"),
        Value::Str("from-file".into())
    );
    let chosen = load(sandbox.path(), &[("AW_CONFIG", "other.toml")]);
    assert_eq!(pg(&chosen, "application_name"), Value::Str("other".into()));
}

#[test]
fn names_and_keys_match_case_insensitively_and_nest_with_double_underscores() {
    let sandbox = Sandbox::new("[connectors.postgres.Reporting]\nhost = \"file\"\n");
    let config = load(
        sandbox.path(),
        &[
            ("AUTO_WORKFLOW_CONNECTORS_POSTGRES_REPORTING__HOST", "env"),
            ("AUTO_WORKFLOW_CONNECTORS_POSTGRES_NEW_ONE__PORT", "6543"),
            ("AUTO_WORKFLOW_PROFILES_NIGHTLY__LIMITS__TIMEOUT", "90s"),
        ],
    );
    assert_eq!(
        config.connector_profile("postgres", "reporting").unwrap()["host"].value,
        Value::Str("env".into())
    );
    assert_eq!(
        config.connector_profile("postgres", "new_one").unwrap()["port"].value,
        Value::Str("6543".into())
    );
    let nightly = config.run_profile("NIGHTLY").unwrap();
    assert_eq!(nightly.limits.timeout, std::time::Duration::from_secs(90));
}

#[test]
fn a_numeric_looking_password_is_not_coerced() {
    let sandbox = Sandbox::new(AW_TOML);
    let scrubber = Scrubber::default();
    let secrets = Secrets::new(vec![Provider::Env(Default::default())], scrubber.clone());
    for vars in [
        vec![("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PASSWORD", "1e5")],
        vec![(
            "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__JSON",
            r#"{"password": "1e5"}"#,
        )],
        vec![("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PASSWORD", "007")],
    ] {
        let expected = if vars[0].1.contains("007") {
            "007"
        } else {
            "1e5"
        };
        let config = load(sandbox.path(), &vars);
        let resolved = secrets
            .resolve_connector(
                "postgres",
                config.connector_profile("postgres", "default").unwrap(),
            )
            .unwrap();
        match &resolved["password"].value {
            Value::Secret(s) => assert_eq!(s.reveal(), expected),
            other => panic!("password should be held as a secret, got {other:?}"),
        }
        assert_eq!(scrubber.scrub(&format!("pw={expected}")), "pw=***");
    }
}

#[test]
fn a_typed_value_from_env_parses_or_names_the_key_and_variable() {
    let sandbox = Sandbox::new(AW_TOML);
    let mut cmd = sandbox.aw_run();
    cmd.args(["config", "--profile", "default"])
        .env("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__MAX_SIZE", "16");
    let out = run(&mut cmd).expect_code(0);
    let shown = out.json();
    assert_eq!(
        shown["connectors"]["postgres.default"]["max_size"]["value"],
        "16"
    );
    assert_eq!(
        shown["connectors"]["postgres.default"]["max_size"]["source"],
        "env AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__MAX_SIZE"
    );

    cmd.env(
        "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__MAX_SIZE",
        "eight",
    );
    let out = run(&mut cmd).expect_code(2);
    assert!(
        out.stderr
            .contains("`connectors.postgres.default.max_size`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("env AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__MAX_SIZE"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("expected a whole number"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_key_fails_with_exit_2_naming_key_and_source() {
    // In the file.
    let sandbox = Sandbox::new(&format!(
        "{AW_TOML}\n[connectors.postgres.default.pool]\nsize = 3\n"
    ));
    let out = run(sandbox.aw_run().args(["config"])).expect_code(2);
    assert!(
        out.stderr.contains("`connectors.postgres.default.pool`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "file {}",
            sandbox.path().join("aw.toml").display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("unknown key"), "{}", out.stderr);

    // From env.
    let sandbox = Sandbox::new(AW_TOML);
    let mut cmd = sandbox.aw_run();
    cmd.arg("config")
        .env("AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PASWORD", "x");
    let out = run(&mut cmd).expect_code(2);
    assert!(
        out.stderr.contains("`connectors.postgres.default.pasword`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("env AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PASWORD"),
        "{}",
        out.stderr
    );

    // In a run profile's limits, with the run command (exit 2 before any guest code).
    let sandbox = Sandbox::new("[profiles.default]\nlimits = { memroy = \"1GiB\" }\n");
    let out = run(sandbox
        .aw_run()
        .arg(common::guest("aw_probe"))
        .args(["--input", r#"{"mode":"echo"}"#]))
    .expect_code(2);
    assert!(
        out.stderr.contains("`profiles.default.limits.memroy`"),
        "{}",
        out.stderr
    );

    // A malformed JSON overlay names its variable.
    let mut cmd = sandbox.aw_run();
    cmd.arg("config").env(
        "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__JSON",
        "{not json",
    );
    let out = run(&mut cmd).expect_code(2);
    assert!(
        out.stderr
            .contains("env AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__JSON"),
        "{}",
        out.stderr
    );

    // An explicit --config that does not exist.
    let out = run(sandbox
        .aw_run()
        .args(["config", "--config", "missing.toml"]))
    .expect_code(2);
    assert!(out.stderr.contains("missing.toml"), "{}", out.stderr);
}

#[test]
fn a_profile_without_a_table_gets_only_the_connector_profiles_of_its_name() {
    let sandbox = Sandbox::new(
        "[connectors.postgres.etl]\nhost = \"h\"\n[connectors.adls2.etl]\naccount_name = \"a\"\n[connectors.postgres.other]\nhost = \"o\"\n",
    );
    let profile = load(sandbox.path(), &[]).run_profile("etl").unwrap();
    assert!(!profile.explicit);
    assert_eq!(profile.postgres, vec!["etl"]);
    assert_eq!(profile.adls2, vec!["etl"]);
    assert!(profile.config.is_empty() && profile.secrets.is_empty());

    let bad = Sandbox::new("[profiles.default]\npostgres = [\"nope\"]\n");
    let err = Config::load(&LoadOptions {
        file: None,
        cwd: bad.path().to_path_buf(),
        env: vec![],
    })
    .unwrap()
    .run_profile("default")
    .unwrap_err()
    .to_string();
    assert!(err.contains("no [connectors.postgres.nope]"), "{err}");
}
