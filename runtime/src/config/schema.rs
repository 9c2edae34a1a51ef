//! The keys each configuration section accepts, and their types.
//!
//! Validation walks the merged tree once, so an unknown key or an unparsable value fails at
//! start-up with the key's full path and its source, not later inside a connector. Keys typed
//! [`Kind::Secret`] hold credentials: `secret://` references are resolved there, and literal
//! values are still registered with the scrubber so they never reach a log line.

use super::tree::{Node, Table, Value};
use super::{values, ConfigError};

/// The prefix that marks a string as a reference to a secret.
pub const SECRET_SCHEME: &str = "secret://";

/// The type a key's value must parse as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Str,
    /// A credential: may be a `secret://NAME` reference; never shown.
    Secret,
    Whole,
    Bool,
    Duration,
    Size,
    StrList,
    /// A table of free-form keys whose values are scalars (run-profile `config`).
    ScalarTable,
    /// A list of names, or a table of name -> { read = [...], write = [...] } (ADLS grants).
    ScopedGrants,
    /// A nested table with its own schema.
    Table(&'static [(&'static str, Kind)]),
}

/// `[connectors.postgres.<profile>]`: how the host reaches a PostgreSQL server.
pub const POSTGRES: &[(&str, Kind)] = &[
    ("dsn", Kind::Secret),
    ("host", Kind::Str),
    ("port", Kind::Whole),
    ("database", Kind::Str),
    ("dbname", Kind::Str),
    ("user", Kind::Str),
    ("password", Kind::Secret),
    ("application_name", Kind::Str),
    ("max_size", Kind::Whole),
    ("min_size", Kind::Whole),
    ("min_idle", Kind::Whole),
    ("timeout", Kind::Duration),
    ("connect_timeout", Kind::Duration),
    ("statement_timeout", Kind::Duration),
    ("keepalives", Kind::Bool),
    ("keepalives_idle", Kind::Duration),
    ("keepalives_interval", Kind::Duration),
    ("keepalives_retries", Kind::Whole),
    ("tcp_user_timeout", Kind::Duration),
    ("client_connection_check_interval", Kind::Duration),
    ("read_only", Kind::Bool),
    ("sslmode", Kind::Str),
    ("sslrootcert", Kind::Secret),
    ("sslcert", Kind::Secret),
    ("sslkey", Kind::Secret),
    ("max_rows", Kind::Whole),
    ("max_bytes", Kind::Size),
];

/// `[connectors.adls2.<profile>]`: how the host reaches an ADLS Gen2 / Blob account. The
/// Python package's names are kept (`conn_str` and `dsn` are aliases of `connection_string`).
pub const ADLS2: &[(&str, Kind)] = &[
    ("connection_string", Kind::Secret),
    ("conn_str", Kind::Secret),
    ("dsn", Kind::Secret),
    ("account_url", Kind::Str),
    ("account_name", Kind::Str),
    ("account_key", Kind::Secret),
    ("sas_token", Kind::Secret),
    ("credential", Kind::Secret),
    ("dfs_endpoint", Kind::Str),
    ("use_default_credentials", Kind::Bool),
    ("tenant_id", Kind::Str),
    ("client_id", Kind::Str),
    ("client_secret", Kind::Secret),
    ("authority_host", Kind::Str),
    ("dialect", Kind::Str),
    ("block_size", Kind::Size),
    ("page_size", Kind::Whole),
    ("max_download", Kind::Size),
    ("stale_upload_after", Kind::Duration),
    ("ca_cert", Kind::Secret),
    ("retries", Kind::Table(ADLS2_RETRIES)),
    ("timeouts", Kind::Table(ADLS2_TIMEOUTS)),
];

/// `[connectors.adls2.<profile>.retries]`.
pub const ADLS2_RETRIES: &[(&str, Kind)] = &[
    ("attempts", Kind::Whole),
    ("backoff", Kind::Duration),
    ("max_backoff", Kind::Duration),
];

/// `[connectors.adls2.<profile>.timeouts]` (seconds, as in the Python package).
pub const ADLS2_TIMEOUTS: &[(&str, Kind)] = &[
    ("connect_s", Kind::Duration),
    ("operation_s", Kind::Duration),
];

/// `[profiles.<name>.adls2.<profile>]`: a narrowed ADLS grant.
pub const ADLS2_SCOPE: &[(&str, Kind)] = &[("read", Kind::StrList), ("write", Kind::StrList)];

/// The connectors this runtime knows, with their schemas.
pub const CONNECTORS: &[(&str, &[(&str, Kind)])] = &[("postgres", POSTGRES), ("adls2", ADLS2)];

/// `[profiles.<name>.limits]`.
pub const LIMITS: &[(&str, Kind)] = &[
    ("memory", Kind::Size),
    ("timeout", Kind::Duration),
    ("fuel", Kind::Whole),
    ("max_tasks", Kind::Whole),
    ("max_total_tasks", Kind::Whole),
    ("max_retries", Kind::Whole),
    ("max_depth", Kind::Whole),
    ("failure_policy", Kind::Str),
];

/// `[profiles.<name>]`: what a run with `--profile <name>` may use.
pub const RUN_PROFILE: &[(&str, Kind)] = &[
    ("postgres", Kind::StrList),
    ("adls2", Kind::ScopedGrants),
    ("config", Kind::ScalarTable),
    ("secrets", Kind::StrList),
    ("limits", Kind::Table(LIMITS)),
    ("cache", Kind::Str),
];

/// `[secrets]`: where `secret://` references and granted secrets are looked up.
pub const SECRETS: &[(&str, Kind)] = &[("providers", Kind::StrList), ("dir", Kind::Str)];

/// Checks every key of `table` against `schema`; `path` is the table's dotted path.
pub fn validate(table: &Table, schema: &[(&str, Kind)], path: &str) -> Result<(), ConfigError> {
    for (key, node) in table {
        let full = format!("{path}.{key}");
        let Some((_, kind)) = schema.iter().find(|(name, _)| name == key) else {
            let known: Vec<&str> = schema.iter().map(|(name, _)| *name).collect();
            return Err(ConfigError::invalid(
                &full,
                &node.source,
                format!("unknown key; expected one of: {}", known.join(", ")),
            ));
        };
        check_kind(node, *kind, &full)?;
    }
    Ok(())
}

/// Checks one value against its kind by parsing it.
fn check_kind(node: &Node, kind: Kind, key: &str) -> Result<(), ConfigError> {
    match kind {
        Kind::Str | Kind::Secret => values::string(node, key).map(drop),
        Kind::Whole => values::whole(node, key).map(drop),
        Kind::Bool => values::boolean(node, key).map(drop),
        Kind::Duration => values::duration(node, key).map(drop),
        Kind::Size => values::size(node, key).map(drop),
        Kind::StrList => values::string_list(node, key).map(drop),
        Kind::ScalarTable => {
            let table = expect_table(node, key)?;
            for (k, v) in table {
                if matches!(v.value, Value::List(_) | Value::Table(_)) {
                    return Err(ConfigError::invalid(
                        &format!("{key}.{k}"),
                        &v.source,
                        format!(
                            "expected a string, number or boolean, got {}",
                            v.type_name()
                        ),
                    ));
                }
            }
            Ok(())
        }
        Kind::Table(schema) => validate(expect_table(node, key)?, schema, key),
        Kind::ScopedGrants => match node.as_table() {
            None => values::string_list(node, key).map(drop),
            Some(table) => {
                for (name, entry) in table {
                    validate(
                        expect_table(entry, &format!("{key}.{name}"))?,
                        ADLS2_SCOPE,
                        &format!("{key}.{name}"),
                    )?;
                }
                Ok(())
            }
        },
    }
}

/// The node's table, or an error naming the key.
pub fn expect_table<'a>(node: &'a Node, key: &str) -> Result<&'a Table, ConfigError> {
    node.as_table().ok_or_else(|| {
        ConfigError::invalid(
            key,
            &node.source,
            format!("expected a table, got {}", node.type_name()),
        )
    })
}

/// The kind of a connector key, if the connector and key are known.
pub fn connector_key_kind(connector: &str, key: &str) -> Option<Kind> {
    let (_, schema) = CONNECTORS.iter().find(|(name, _)| *name == connector)?;
    schema
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, kind)| *kind)
}

/// A connector value as `aw-run config` shows it: secret-typed keys hide literals and show
/// only `secret://` references, which name a secret without revealing it.
pub fn display_value(connector: &str, key: &str, node: &Node) -> serde_json::Value {
    match (&node.value, connector_key_kind(connector, key)) {
        (Value::Str(s), _) if s.starts_with(SECRET_SCHEME) => serde_json::Value::String(s.clone()),
        (_, Some(Kind::Secret)) => serde_json::Value::String("***".into()),
        _ => node.to_json(),
    }
}
