//! Postgres failures -> the WIT's classified `connector-error`.
//!
//! SQLSTATE classes decide the kind: 57014 and pool/connect timeouts are `timeout`; 40001,
//! 40P01, class 08 and broken connections are `transient` (retryable); 28 is `auth`; 42P01 and
//! 42703 are `not-found`; 23 is `conflict`; 42 and 22 are `invalid-input`; the rest `permanent`.
//! The message carries the server's message, detail and hint, never the DSN or a password
//! (the run's scrubber removes secret values from anything that reaches output anyway).
//!
//! A connection that breaks while a commit is in flight is neither: the server may have
//! committed. That is [`OUTCOME_UNKNOWN`] (SQLSTATE 08007, "transaction resolution unknown"),
//! kind `permanent`, not retryable, so a task's writes are never applied twice behind its back.

use deadpool_postgres::PoolError;

use crate::bindings::types::{ConnectorError, ErrorKind};

pub use crate::bindings::connector_error as error;

/// The kind for a SQLSTATE.
pub fn kind_for_sqlstate(code: &str) -> ErrorKind {
    match code {
        "57014" => ErrorKind::Timeout,
        "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300" => ErrorKind::Transient,
        "42P01" | "42703" | "42883" | "3D000" | "3F000" => ErrorKind::NotFound,
        "42501" => ErrorKind::Denied,
        "25006" => ErrorKind::Denied,
        _ if code.starts_with("08") => ErrorKind::Transient,
        _ if code.starts_with("28") => ErrorKind::Auth,
        _ if code.starts_with("23") => ErrorKind::Conflict,
        _ if code.starts_with("42") || code.starts_with("22") => ErrorKind::InvalidInput,
        _ if code.starts_with("53") => ErrorKind::Limit,
        _ => ErrorKind::Permanent,
    }
}

/// Classifies a tokio-postgres error.
pub fn from_pg(e: &tokio_postgres::Error) -> ConnectorError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_string();
        let mut message = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!("; hint: {hint}"));
        }
        if let Some(tokio_postgres::error::ErrorPosition::Original(p)) = db.position() {
            message.push_str(&format!(" (at character {p})"));
        }
        let kind = kind_for_sqlstate(&code);
        let retryable = matches!(kind, ErrorKind::Transient | ErrorKind::Timeout);
        return ConnectorError {
            kind,
            message,
            code: Some(code),
            retryable,
        };
    }
    if let Some(code) = e.code() {
        let kind = kind_for_sqlstate(code.code());
        let mut err = error(kind, e.to_string());
        err.code = Some(code.code().to_string());
        return err;
    }
    // No SQLSTATE: the connection broke, could not be made, or timed out.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if text.starts_with("invalid configuration") {
        return error(ErrorKind::Config, text);
    }
    // An I/O failure on an open connection (reset, refused, or a TCP keepalive / user timeout
    // giving up on a silent peer): the connection is gone, which a retry on a new one may fix.
    if text.starts_with("error communicating with the server") {
        return error(
            ErrorKind::Transient,
            format!("the connection to the server broke: {text}"),
        );
    }
    let kind = if text.contains("timed out") || text.contains("timeout") {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transient
    };
    if e.is_closed() {
        return error(
            ErrorKind::Transient,
            format!("the connection was closed (by the server, by the network, or by TCP keepalives / tcp_user_timeout giving up on a silent server): {text}"),
        );
    }
    error(kind, text)
}

/// SQLSTATE 08007, transaction resolution unknown: the connection broke while a commit was in
/// flight, and the server may have committed.
pub const OUTCOME_UNKNOWN: &str = "08007";

/// Reclassifies the failure of `statement`, which commits (an explicit COMMIT, the COMMIT
/// ending a statement's own transaction, a statement or COPY outside any transaction): a
/// broken connection (no SQLSTATE: the server never answered) is an unknown outcome, not a
/// transient failure. A server error keeps its class: the server answered, nothing committed.
pub fn after_commit(e: ConnectorError, statement: &str) -> ConnectorError {
    if e.code.is_some() || !matches!(e.kind, ErrorKind::Transient | ErrorKind::Timeout) {
        return e;
    }
    ConnectorError {
        kind: ErrorKind::Permanent,
        code: Some(OUTCOME_UNKNOWN.to_string()),
        retryable: false,
        message: format!(
            "commit outcome unknown: the connection broke while {statement} was in flight, so the server may have committed it or not; not retried (make the task idempotent before retrying it: README, Retries and idempotency). The cause: {}",
            e.message
        ),
    }
}

/// [`from_pg`] for the failure of `statement`, which commits (see [`after_commit`]).
pub fn from_commit(e: &tokio_postgres::Error, statement: &str) -> ConnectorError {
    after_commit(from_pg(e), statement)
}

/// Classifies a failure to get a connection from the pool.
pub fn from_pool(e: &PoolError, profile: &str) -> ConnectorError {
    match e {
        PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => error(
            ErrorKind::Timeout,
            format!("no connection of postgres profile `{profile}` became free in time (raise `timeout` or `max_size`)"),
        ),
        PoolError::Timeout(_) => error(
            ErrorKind::Timeout,
            format!("connecting to postgres profile `{profile}` took longer than its connect_timeout (is the server up and answering?)"),
        ),
        PoolError::Backend(pg) => {
            let mut err = from_pg(pg);
            err.message = format!("cannot connect (postgres profile `{profile}`): {}", err.message);
            if err.message.contains("client_connection_check_interval") {
                err.message.push_str(&format!(" (servers before PostgreSQL 14 lack it: set connectors.postgres.{profile}.client_connection_check_interval = \"0s\")"));
            }
            err
        }
        PoolError::Closed => error(ErrorKind::Transient, format!("the pool of postgres profile `{profile}` is closed")),
        other => error(ErrorKind::Transient, format!("postgres profile `{profile}`: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_the_documented_kinds() {
        assert_eq!(kind_for_sqlstate("57014"), ErrorKind::Timeout);
        assert_eq!(kind_for_sqlstate("40001"), ErrorKind::Transient);
        assert_eq!(kind_for_sqlstate("40P01"), ErrorKind::Transient);
        assert_eq!(kind_for_sqlstate("08006"), ErrorKind::Transient);
        assert_eq!(kind_for_sqlstate("28P01"), ErrorKind::Auth);
        assert_eq!(kind_for_sqlstate("42P01"), ErrorKind::NotFound);
        assert_eq!(kind_for_sqlstate("42703"), ErrorKind::NotFound);
        assert_eq!(kind_for_sqlstate("23505"), ErrorKind::Conflict);
        assert_eq!(kind_for_sqlstate("42601"), ErrorKind::InvalidInput);
        assert_eq!(kind_for_sqlstate("22P02"), ErrorKind::InvalidInput);
        assert_eq!(kind_for_sqlstate("XX000"), ErrorKind::Permanent);
    }

    #[test]
    fn a_broken_commit_is_an_unknown_outcome_and_a_refused_one_keeps_its_class() {
        let broken = after_commit(
            error(ErrorKind::Transient, "the connection was closed"),
            "COMMIT",
        );
        assert_eq!(broken.code.as_deref(), Some(OUTCOME_UNKNOWN));
        assert_eq!(broken.kind, ErrorKind::Permanent);
        assert!(!broken.retryable);
        assert!(
            broken.message.contains("COMMIT") && broken.message.contains("may have committed"),
            "{}",
            broken.message
        );
        let mut refused = error(ErrorKind::Transient, "could not serialize access");
        refused.code = Some("40001".into());
        let kept = after_commit(refused, "COMMIT");
        assert_eq!(
            (kept.kind, kept.code.as_deref(), kept.retryable),
            (ErrorKind::Transient, Some("40001"), true)
        );
        let invalid = after_commit(error(ErrorKind::InvalidInput, "bad value"), "COMMIT");
        assert_eq!(
            (invalid.kind, invalid.code),
            (ErrorKind::InvalidInput, None)
        );
    }
}
