//! Property tests of the config path (issue 16): any file text, any `aw.toml` built from the
//! real keys with values of any type, and any env overlay load or fail with a `ConfigError`,
//! never a panic; what loads yields run profiles and connector settings, or errors, cleanly.
//! Bounded: a few hundred cases each, run by `cargo test` like every test.

use proptest::prelude::*;

use super::values::{parse_duration, parse_size};
use super::{Config, LoadOptions};
use crate::host::adls2::settings::Adls2Settings;
use crate::host::postgres::settings::PgSettings;

const POSTGRES_KEYS: &[&str] = &[
    "dsn",
    "host",
    "port",
    "database",
    "dbname",
    "user",
    "password",
    "application_name",
    "max_size",
    "min_size",
    "timeout",
    "connect_timeout",
    "statement_timeout",
    "read_only",
    "sslmode",
    "sslrootcert",
    "max_rows",
    "max_bytes",
];
const ADLS2_KEYS: &[&str] = &[
    "connection_string",
    "account_url",
    "account_name",
    "account_key",
    "sas_token",
    "credential",
    "dialect",
    "block_size",
    "page_size",
    "max_download",
    "retries",
    "timeouts",
    "use_default_credentials",
    "tenant_id",
    "client_id",
];
const PROFILE_KEYS: &[&str] = &["postgres", "adls2", "config", "secrets", "limits", "cache"];
const LIMIT_KEYS: &[&str] = &[
    "memory",
    "timeout",
    "fuel",
    "max_tasks",
    "max_total_tasks",
    "max_retries",
    "max_depth",
    "failure_policy",
];

/// A TOML value of any type, as text: numbers at the edges, strings the typed readers parse
/// (sizes, durations, DSNs, secret references), lists and inline tables.
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("TOML has no NaN literal here", |x| x.is_finite())
            .prop_map(|x| format!("{x:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[-0-9.a-zA-Z:/@?=&+_%]{0,24}".prop_map(quote),
        "-?[0-9]{1,22}(\\.[0-9]{0,3})?(B|KB|KiB|MiB|GB|GiB|TiB|ms|s|m|h|d|)".prop_map(quote),
        "secret://[a-z/_.]{0,12}".prop_map(quote),
        any::<String>().prop_map(quote),
    ];
    prop_oneof![
        6 => leaf.clone(),
        1 => proptest::collection::vec(leaf.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
        1 => proptest::collection::btree_map(prop::sample::select(LIMIT_KEYS), leaf, 0..4)
            .prop_map(|kv| format!("{{ {} }}", kv.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", "))),
    ]
}

/// `text` as a TOML basic string.
fn quote(text: String) -> String {
    toml::Value::String(text).to_string()
}

/// Values a key takes when configured right (so that some cases load and go further).
fn good_values(key: &str) -> &'static [&'static str] {
    match key {
        "port" => &["5432", "\"6543\"", "1", "65535"],
        "max_size" | "min_size" | "max_rows" | "max_tasks" | "max_total_tasks" | "max_retries" | "max_depth" | "fuel" | "page_size" => &["1", "8", "\"16\"", "1000"],
        "timeout" | "connect_timeout" | "statement_timeout" => &["\"5s\"", "\"250ms\"", "30", "\"10m\""],
        "memory" | "max_bytes" | "block_size" | "max_download" => &["\"64MiB\"", "\"1KiB\"", "4096", "\"2GiB\""],
        "read_only" | "use_default_credentials" => &["true", "false", "\"true\""],
        "sslmode" => &["\"disable\"", "\"prefer\"", "\"verify-full\""],
        "dialect" => &["\"blob\"", "\"dfs\"", "\"auto\""],
        "failure_policy" => &["\"fail-fast\"", "\"continue\"", "\"aggregate\""],
        "dsn" => &["\"postgresql://app@127.0.0.1:5432/db?sslmode=disable\"", "\"host=h port=5 user=u\"", "\"postgresql+psycopg://u:p%40@h/d\""],
        "connection_string" => &["\"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/a;\""],
        "account_url" => &["\"https://acct.dfs.core.windows.net\"", "\"http://127.0.0.1:1/devstoreaccount1\""],
        "postgres" | "adls2" | "secrets" => &["[\"default\"]", "[]"],
        "config" => &["{ table = \"t\" }", "{}"],
        "limits" => &["{ memory = \"64MiB\", max_tasks = 2 }", "{}"],
        "cache" => &["\"memory\"", "\"dir:.aw_cache\""],
        "password" | "account_key" | "sas_token" | "credential" | "client_secret" => &["\"secret://pw\"", "\"a2V5\"", "\"sig=x\""],
        _ => &["\"default\"", "\"x\""],
    }
}

fn table(name: String, keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let entry = prop::sample::select(keys).prop_flat_map(|key| {
        let good = prop::sample::select(good_values(key)).prop_map(str::to_string);
        (Just(key), prop_oneof![3 => good, 1 => toml_value()])
    });
    proptest::collection::vec(entry, 0..6).prop_map(move |entries| {
        let unique: std::collections::BTreeMap<&str, String> = entries.into_iter().collect();
        let body: Vec<String> = unique.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        format!("[{name}]\n{}\n", body.join("\n"))
    })
}

/// An `aw.toml` made of the real sections and keys.
fn config_file() -> impl Strategy<Value = String> {
    (
        table("connectors.postgres.default".into(), POSTGRES_KEYS),
        table("connectors.adls2.default".into(), ADLS2_KEYS),
        table("profiles.default".into(), PROFILE_KEYS),
        table("profiles.default.limits".into(), LIMIT_KEYS),
        any::<bool>(),
    )
        .prop_map(|(pg, adls, profile, limits, with_limits)| {
            let limits = if with_limits && !profile.contains("limits =") {
                limits
            } else {
                String::new()
            };
            format!("{pg}{adls}{profile}{limits}")
        })
}

/// Env variables of the overlay: field variables and `__JSON` documents.
fn env() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        "AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__(JSON|PORT|HOST|DSN|MAX_SIZE|TIMEOUT|READ_ONLY|[A-Z]{1,8})",
        "AUTO_WORKFLOW_CONNECTORS_ADLS2_DEFAULT__(JSON|BLOCK_SIZE|RETRIES__ATTEMPTS)",
        "AUTO_WORKFLOW_PROFILES_DEFAULT__(JSON|LIMITS__MEMORY|CONFIG__[A-Z]{1,4}|LIMITS)",
        "AUTO_WORKFLOW_[A-Z_]{0,16}",
    ];
    let value = prop_oneof![
        any::<String>(),
        "\\{\"[a-z_]{1,10}\": (\"[^\"]{0,8}\"|[0-9]{1,20}|true|\\[\\]|\\{\\}|null)\\}",
        "[-0-9.a-zA-Z]{0,12}",
    ];
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec((name, value), 0..4)
    ]
}

/// Loads and, if that works, resolves every profile and connector setting of the result.
fn load_everything(file: &str, env: Vec<(String, String)>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("aw.toml"), file).expect("write aw.toml");
    let options = LoadOptions {
        file: None,
        cwd: dir.path().to_path_buf(),
        env,
    };
    let Ok(config) = Config::load(&options) else {
        return;
    };
    let _ = config.run_profile("default");
    let _ = config.run_profile("nope");
    if let Some(table) = config.connector_profile("postgres", "default") {
        let _ = PgSettings::from_table("default", table);
    }
    if let Some(table) = config.connector_profile("adls2", "default") {
        let _ = Adls2Settings::from_table("default", table);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_config_file_and_env_load_or_fail_cleanly(file in config_file(), env in env()) {
        load_everything(&file, env);
    }

    #[test]
    fn any_text_as_a_config_file_fails_cleanly(file in any::<String>()) {
        load_everything(&file, Vec::new());
    }

    #[test]
    fn sizes_and_durations_parse_or_are_refused(s in "[-+ 0-9.eE_a-zA-Zµ]{0,24}") {
        let _ = parse_size(&s);
        let _ = parse_duration(&s);
    }
}
