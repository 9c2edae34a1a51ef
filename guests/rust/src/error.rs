//! The guest-side error type: a classified error that `?` works with and that crosses back to
//! the host as the WIT `connector-error`.

use std::fmt;

use crate::bindings::auto_workflow::connectors::types::{self as wit};

pub use wit::ErrorKind;

/// A classified failure: from a host call, or raised by the task itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The remote system's code (SQLSTATE, Azure error code), when there is one.
    pub code: Option<String>,
    pub retryable: bool,
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind`; retryable when the kind usually is (`transient`, `timeout`).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(kind, ErrorKind::Transient | ErrorKind::Timeout);
        Error {
            kind,
            message: message.into(),
            code: None,
            retryable,
        }
    }

    /// The kind as the WIT spells it ("not-found", "invalid-input"), as the other SDKs
    /// report it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ErrorKind::Config => "config",
            ErrorKind::Denied => "denied",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Limit => "limit",
        }
    }

    /// The connection broke while a commit was in flight (SQLSTATE 08007): the server may have
    /// committed or not. Retrying is safe only for work that is idempotent (README, Retries
    /// and idempotency).
    pub fn is_outcome_unknown(&self) -> bool {
        self.code.as_deref() == Some("08007")
    }

    /// A failure of the task's own logic that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Permanent, message)
    }

    /// The task was given something it cannot work with.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// A failure that may go away if the task runs again.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Transient, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<wit::ConnectorError> for Error {
    fn from(e: wit::ConnectorError) -> Self {
        Error {
            kind: e.kind,
            message: e.message,
            code: e.code,
            retryable: e.retryable,
        }
    }
}

impl From<Error> for wit::ConnectorError {
    fn from(e: Error) -> Self {
        wit::ConnectorError {
            kind: e.kind,
            message: e.message,
            code: e.code,
            retryable: e.retryable,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid_input(format!("JSON: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::permanent(format!("I/O: {e}"))
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::permanent(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::permanent(message)
    }
}
