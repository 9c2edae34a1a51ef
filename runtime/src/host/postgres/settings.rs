//! A Postgres connector profile, typed: connection parameters (DSN plus overriding keys),
//! TLS mode, pool sizing and timeouts, and the limits the host enforces.
//!
//! Parsed once, before the guest starts, so a bad key fails the run with exit 2 and its name.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{values, ConfigError, Node, Table, Value};
pub use crate::host::pem::Pem;

/// libpq's `sslmode`, all six of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Option<SslMode> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Everything the host needs to reach one Postgres profile.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub profile: String,
    pub config: tokio_postgres::Config,
    pub sslmode: SslMode,
    pub sslrootcert: Option<Pem>,
    pub sslcert: Option<Pem>,
    pub sslkey: Option<Pem>,
    pub max_size: usize,
    /// Waiting for a free connection.
    pub pool_timeout: Duration,
    pub connect_timeout: Duration,
    /// Session default for every connection; statements may set their own.
    pub statement_timeout: Option<Duration>,
    /// Every statement runs in a read-only transaction; a guest cannot turn it off.
    pub read_only: bool,
    /// Rows a buffered `query` may return before it fails and points at `query-stream`.
    pub max_rows: u64,
    /// Bytes a buffered `query` may return.
    pub max_bytes: u64,
}

const DEFAULT_MAX_ROWS: u64 = 1_000_000;
const DEFAULT_MAX_BYTES: u64 = 64 << 20;

impl PgSettings {
    /// Builds the settings of `[connectors.postgres.<profile>]` from its resolved table.
    pub fn from_table(profile: &str, table: &Table) -> Result<PgSettings, ConfigError> {
        let key = |k: &str| format!("connectors.postgres.{profile}.{k}");
        let text = |k: &str| table.get(k).map(|n| values::string(n, &key(k))).transpose();
        let mut config = tokio_postgres::Config::new();
        // What the DSN itself set; a field key fills in only what it left out.
        let mut dsn_sslmode = None;
        let mut dsn_user_timeout = None;
        let mut tls_files: [(String, Option<Pem>); 3] = [
            ("sslrootcert".into(), None),
            ("sslcert".into(), None),
            ("sslkey".into(), None),
        ];
        if let Some(node) = table.get("dsn") {
            let dsn = values::string(node, &key("dsn"))?;
            let (rest, extracted) = split_libpq_only(&strip_driver(&dsn));
            for (name, value) in extracted {
                match name.as_str() {
                    "sslmode" => {
                        dsn_sslmode = Some(
                            SslMode::parse(&value)
                                .ok_or_else(|| bad_sslmode(&key("dsn"), node, &value))?,
                        );
                    }
                    "tcp_user_timeout" => {
                        let ms = value.trim().parse::<u64>().map_err(|_| {
                            ConfigError::invalid(
                                &key("dsn"),
                                &node.source,
                                "has a tcp_user_timeout that is not a whole number of milliseconds",
                            )
                        })?;
                        dsn_user_timeout = Some(Duration::from_millis(ms));
                    }
                    other => {
                        if let Some(slot) = tls_files.iter_mut().find(|(n, _)| n == other) {
                            slot.1 = Some(Pem::Path(PathBuf::from(value)));
                        }
                    }
                }
            }
            config = rest.parse().map_err(|e: tokio_postgres::Error| {
                // The DSN may hold a password: say what is wrong, never echo it.
                ConfigError::invalid(
                    &key("dsn"),
                    &node.source,
                    format!("is not a valid connection string or URL ({e}); expected postgresql://, postgres://, postgresql+psycopg:// or key=value pairs"),
                )
            })?;
            if let Some(timeout) = dsn_user_timeout {
                config.tcp_user_timeout(timeout);
            }
            warn_ignored_by_dsn(profile, table, node);
        } else {
            if let Some(host) = text("host")? {
                config.host(&host);
            }
            if let Some(node) = table.get("port") {
                let port = values::whole(node, &key("port"))?;
                config.port(u16::try_from(port).map_err(|_| {
                    ConfigError::invalid(&key("port"), &node.source, "is not a port number")
                })?);
            }
            if let Some(db) = text("database")?.or(text("dbname")?) {
                config.dbname(&db);
            }
            if let Some(user) = text("user")? {
                config.user(&user);
            }
        }
        if let (Some(node), None) = (table.get("password"), config.get_password()) {
            match &node.value {
                Value::Secret(s) => config.password(s.reveal()),
                _ => config.password(values::string(node, &key("password"))?),
            };
        }
        if config.get_application_name().is_none() {
            config.application_name(
                text("application_name")?.unwrap_or_else(|| "auto-workflow".into()),
            );
        }
        let sslmode = match (dsn_sslmode, table.get("sslmode")) {
            (Some(mode), _) => mode,
            (None, Some(node)) => {
                let mode = values::string(node, &key("sslmode"))?;
                SslMode::parse(&mode).ok_or_else(|| bad_sslmode(&key("sslmode"), node, &mode))?
            }
            (None, None) => SslMode::Prefer,
        };
        for (name, slot) in tls_files.iter_mut() {
            if let (Some(node), None) = (table.get(name.as_str()), &slot) {
                *slot = Some(Pem::from_node(node, &key(name))?);
            }
        }
        config.ssl_mode(match sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            return Err(ConfigError::invalid(
                &format!("connectors.postgres.{profile}"),
                &crate::config::Source::Default,
                if table.contains_key("dsn") {
                    "no user: put it in `dsn` (while `dsn` is set, `user` is ignored)"
                } else {
                    "no user: set `user` or put it in `dsn`"
                },
            ));
        }
        let duration = |k: &str, default: Duration| -> Result<Duration, ConfigError> {
            table
                .get(k)
                .map(|n| values::duration(n, &key(k)))
                .transpose()
                .map(|d| d.unwrap_or(default))
        };
        let connect_timeout = duration(
            "connect_timeout",
            config
                .get_connect_timeout()
                .copied()
                .unwrap_or(Duration::from_secs(10)),
        )?;
        config.connect_timeout(connect_timeout);
        liveness(&mut config, profile, table, &duration)?;
        let statement_timeout = table
            .get("statement_timeout")
            .map(|n| values::duration(n, &key("statement_timeout")))
            .transpose()?;
        let read_only = table
            .get("read_only")
            .map(|n| values::boolean(n, &key("read_only")))
            .transpose()?
            .unwrap_or(false);
        let mut options = Vec::new();
        if let Some(t) = statement_timeout {
            options.push(format!("-c statement_timeout={}", t.as_millis()));
        }
        // The server checks that the client is still there while a query runs (PostgreSQL 14+),
        // so a statement of a client that died (kill -9, a lost host) ends within this.
        let check = duration("client_connection_check_interval", CLIENT_CHECK_INTERVAL)?;
        if !check.is_zero() {
            options.push(format!(
                "-c client_connection_check_interval={}",
                check.as_millis()
            ));
        }
        if read_only {
            options.push("-c default_transaction_read_only=on".to_string());
        }
        if !options.is_empty() {
            config.options(options.join(" "));
        }
        let whole = |k: &str, default: u64| -> Result<u64, ConfigError> {
            table
                .get(k)
                .map(|n| values::whole(n, &key(k)))
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        let max_size = whole("max_size", 8)?.max(1);
        for floor in ["min_size", "min_idle"] {
            if let Some(node) = table.get(floor) {
                // Accepted for configs written for the Python package (psycopg_pool's
                // `min_size`); the pool opens connections on demand and keeps no idle floor.
                tracing::warn!(
                    "connectors.postgres.{profile}.{floor} (from {}) has no effect: the pool opens connections when a statement needs one and keeps no idle floor",
                    node.source
                );
            }
        }
        let [(_, sslrootcert), (_, sslcert), (_, sslkey)] = tls_files;
        Ok(PgSettings {
            profile: profile.to_string(),
            config,
            sslmode,
            sslrootcert,
            sslcert,
            sslkey,
            max_size: usize::try_from(max_size).unwrap_or(usize::MAX),
            pool_timeout: duration("timeout", Duration::from_secs(30))?,
            connect_timeout,
            statement_timeout,
            read_only,
            max_rows: whole("max_rows", DEFAULT_MAX_ROWS)?,
            max_bytes: table
                .get("max_bytes")
                .map(|n| values::size(n, &key("max_bytes")))
                .transpose()?
                .unwrap_or(DEFAULT_MAX_BYTES),
        })
    }
}

/// Client-side liveness defaults: a peer that goes silent (a half-open connection after a
/// failover, a dropped NAT entry) is noticed in about two minutes, not at the task's timeout.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVES_RETRIES: u32 = 6;
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(120);
const CLIENT_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Sets TCP keepalives and the user timeout from the profile keys; without a key, what the DSN
/// set, else the defaults above (tokio-postgres' own idle default is two hours).
fn liveness(
    config: &mut tokio_postgres::Config,
    profile: &str,
    table: &Table,
    duration: &dyn Fn(&str, Duration) -> Result<Duration, ConfigError>,
) -> Result<(), ConfigError> {
    let full = |k: &str| format!("connectors.postgres.{profile}.{k}");
    if let Some(node) = table.get("keepalives") {
        config.keepalives(values::boolean(node, &full("keepalives"))?);
    }
    let idle = match config.get_keepalives_idle() {
        d if d == Duration::from_secs(2 * 60 * 60) => KEEPALIVES_IDLE,
        d => d,
    };
    config.keepalives_idle(duration("keepalives_idle", idle)?);
    let interval = config
        .get_keepalives_interval()
        .unwrap_or(KEEPALIVES_INTERVAL);
    config.keepalives_interval(duration("keepalives_interval", interval)?);
    let retries = match table.get("keepalives_retries") {
        Some(node) => {
            let k = full("keepalives_retries");
            u32::try_from(values::whole(node, &k)?)
                .map_err(|_| ConfigError::invalid(&k, &node.source, "is too large"))?
        }
        None => config
            .get_keepalives_retries()
            .unwrap_or(KEEPALIVES_RETRIES),
    };
    config.keepalives_retries(retries);
    let user_timeout = config
        .get_tcp_user_timeout()
        .copied()
        .unwrap_or(TCP_USER_TIMEOUT);
    config.tcp_user_timeout(duration("tcp_user_timeout", user_timeout)?);
    Ok(())
}

/// The keys a DSN replaces (the document: "If set, individual fields are ignored").
const REPLACED_BY_DSN: [&str; 5] = ["host", "port", "database", "dbname", "user"];

/// One warning naming the field keys a DSN makes this profile ignore, and where each came from.
fn warn_ignored_by_dsn(profile: &str, table: &Table, dsn: &Node) {
    let ignored: Vec<String> = REPLACED_BY_DSN
        .iter()
        .filter_map(|k| table.get(*k).map(|n| format!("`{k}` (from {})", n.source)))
        .collect();
    if !ignored.is_empty() {
        tracing::warn!(
            "connectors.postgres.{profile}: `dsn` (from {}) is set, so {} {} ignored; the DSN names the server, database and user",
            dsn.source,
            ignored.join(", "),
            if ignored.len() == 1 { "is" } else { "are" }
        );
    }
}

/// `postgresql+psycopg://...` (SQLAlchemy's form, which the Python package accepted) as the
/// plain `postgresql://...` URL; anything else unchanged.
fn strip_driver(dsn: &str) -> String {
    let trimmed = dsn.trim();
    if let Some((driver, rest)) = trimmed
        .strip_prefix("postgresql+")
        .and_then(|r| r.split_once("://"))
    {
        if !driver.is_empty()
            && driver
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return format!("postgresql://{rest}");
        }
    }
    trimmed.to_string()
}

fn bad_sslmode(key: &str, node: &Node, value: &str) -> ConfigError {
    ConfigError::invalid(
        key,
        &node.source,
        format!("sslmode {value:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"),
    )
}

/// Takes the libpq parameters tokio-postgres does not parse as libpq does (sslmode's verify
/// modes, the TLS file paths, and `tcp_user_timeout`, milliseconds in libpq but seconds in
/// tokio-postgres) out of a DSN, in URL or key=value form.
fn split_libpq_only(dsn: &str) -> (String, Vec<(String, String)>) {
    const OURS: [&str; 5] = [
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "tcp_user_timeout",
    ];
    let mut taken = Vec::new();
    let trimmed = dsn.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let Some((base, query)) = trimmed.split_once('?') else {
            return (trimmed.to_string(), taken);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((k, v)) if OURS.contains(&k) => taken.push((k.to_string(), percent_decode(v))),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, taken)
    } else {
        let mut kept = Vec::new();
        for token in trimmed.split_whitespace() {
            match token.split_once('=') {
                Some((k, v)) if OURS.contains(&k.trim()) => {
                    taken.push((k.trim().to_string(), v.trim_matches('\'').to_string()))
                }
                _ => kept.push(token),
            }
        }
        (kept.join(" "), taken)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (b'%', Some(Some(hi)), Some(Some(lo))) = (
            bytes[i],
            bytes.get(i + 1).map(|b| hex(*b)),
            bytes.get(i + 2).map(|b| hex(*b)),
        ) {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_tls_files_are_taken_out_of_the_dsn() {
        let (rest, taken) = split_libpq_only("postgresql://u@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem");
        assert_eq!(rest, "postgresql://u@h:5/db?application_name=x");
        assert_eq!(
            taken,
            vec![
                ("sslmode".into(), "verify-full".into()),
                ("sslrootcert".into(), "/tmp/ca.pem".into())
            ]
        );
        let (rest, taken) = split_libpq_only("host=h user=u sslmode=verify-ca");
        assert_eq!(rest, "host=h user=u");
        assert_eq!(taken, vec![("sslmode".into(), "verify-ca".into())]);
        assert_eq!(percent_decode("a%2Fb%2f%é%4"), "a/b/%é%4");
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<PgSettings, ConfigError> {
        let table: Table = pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Node::new(
                        Value::Str(v.to_string()),
                        crate::config::Source::Env(format!("X_{k}")),
                    ),
                )
            })
            .collect();
        PgSettings::from_table("p", &table)
    }

    #[test]
    fn liveness_defaults_apply_and_keys_and_the_dsn_override_them() {
        let s = settings(&[("host", "h"), ("user", "u")]).unwrap();
        assert!(s.config.get_keepalives());
        assert_eq!(s.config.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(
            s.config.get_keepalives_interval(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            s.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(120))
        );
        let s = settings(&[
            ("host", "h"),
            ("user", "u"),
            ("keepalives_idle", "5s"),
            ("tcp_user_timeout", "3s"),
            ("keepalives", "false"),
        ])
        .unwrap();
        assert!(!s.config.get_keepalives());
        assert_eq!(s.config.get_keepalives_idle(), Duration::from_secs(5));
        assert_eq!(
            s.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(3))
        );
        let s = settings(&[(
            "dsn",
            "postgres://u@h/d?keepalives_idle=7&tcp_user_timeout=9000",
        )])
        .unwrap();
        assert_eq!(s.config.get_keepalives_idle(), Duration::from_secs(7));
        assert_eq!(
            s.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(9))
        );
        let bad = settings(&[("host", "h"), ("user", "u"), ("tcp_user_timeout", "soon")])
            .err()
            .unwrap();
        assert!(bad.to_string().contains("tcp_user_timeout"), "{bad}");
    }

    #[test]
    fn a_dsn_replaces_the_server_fields_and_keeps_a_separate_password() {
        let s = settings(&[
            ("dsn", "postgresql+psycopg://app@db.internal:6543/appdb"),
            ("host", "elsewhere"),
            ("port", "1"),
            ("user", "other"),
            ("password", "pw"),
        ])
        .expect("valid");
        assert_eq!(
            s.config.get_hosts(),
            &[tokio_postgres::config::Host::Tcp("db.internal".into())]
        );
        assert_eq!(s.config.get_ports(), &[6543]);
        assert_eq!(s.config.get_user(), Some("app"));
        assert_eq!(s.config.get_dbname(), Some("appdb"));
        assert_eq!(s.config.get_password(), Some(&b"pw"[..]));
        // The DSN's own password, sslmode and application name win over the fields.
        let s = settings(&[
            (
                "dsn",
                "postgres://app:inner@h/d?sslmode=disable&application_name=etl",
            ),
            ("password", "outer"),
            ("sslmode", "require"),
            ("application_name", "x"),
        ])
        .expect("valid");
        assert_eq!(s.config.get_password(), Some(&b"inner"[..]));
        assert_eq!(s.sslmode, SslMode::Disable);
        assert_eq!(s.config.get_application_name(), Some("etl"));
        // Without a DSN the fields apply.
        let s = settings(&[("host", "h2"), ("user", "u"), ("sslmode", "require")]).expect("valid");
        assert_eq!(
            s.config.get_hosts(),
            &[tokio_postgres::config::Host::Tcp("h2".into())]
        );
        assert_eq!(s.sslmode, SslMode::Require);
        assert_eq!(s.config.get_application_name(), Some("auto-workflow"));
        let err = settings(&[("dsn", "mysql://u@h/d")]).expect_err("not postgres");
        assert!(err.to_string().contains("postgresql+psycopg://"), "{err}");
    }
}
