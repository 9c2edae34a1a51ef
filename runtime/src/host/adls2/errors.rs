//! Azure Storage failures -> the WIT's classified `connector-error`.
//!
//! 401/403 are `auth`, 404 `not-found`, 409/412 `conflict`, 408 and client timeouts
//! `timeout`, 429 and 5xx `transient` (as are connection failures), the rest `permanent`. The
//! Azure error code (`x-ms-error-code`, or the body's `Code`) goes in `code`. Messages carry
//! the operation, the status and the service's one-line message: never a URL (it may hold a
//! SAS), a header, a key, or the service's string-to-sign details.

use reqwest::header::HeaderMap;

use crate::bindings::connector_error;
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::grants::paths::InvalidPath;
use crate::host::CallError;

/// A failed request: the classified error plus the HTTP status, for callers that treat some
/// statuses as answers (404 for `exists`, 409 for `exist-ok`).
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: Option<u16>,
    pub error: ConnectorError,
}

impl Failure {
    /// A failure found by the host itself (bad path, bad metadata name, a broken invariant).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            status: None,
            error: connector_error(kind, message),
        }
    }

    /// The Azure error code, if the service sent one.
    pub fn code(&self) -> &str {
        self.error.code.as_deref().unwrap_or("")
    }

    /// Whether the service answered with `status`.
    pub fn is_status(&self, status: u16) -> bool {
        self.status == Some(status)
    }
}

impl From<InvalidPath> for Failure {
    fn from(e: InvalidPath) -> Failure {
        Failure::new(ErrorKind::InvalidInput, e.0)
    }
}

impl From<Failure> for ConnectorError {
    fn from(f: Failure) -> ConnectorError {
        f.error
    }
}

impl From<InvalidPath> for CallError {
    fn from(e: InvalidPath) -> CallError {
        Failure::from(e).into()
    }
}

impl From<Failure> for CallError {
    fn from(f: Failure) -> CallError {
        CallError::Guest(f.error)
    }
}

/// The kind for an HTTP status.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        408 => ErrorKind::Timeout,
        429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

/// Classifies an error response of operation `what`.
pub fn from_response(what: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> Failure {
    let (body_code, body_message) = parse_error_body(body);
    let code = headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or(body_code);
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut message = format!("{what}: HTTP {status} {reason}");
    if let Some(code) = &code {
        message.push_str(&format!(" ({code})"));
    }
    if let Some(text) = body_message {
        message.push_str(": ");
        message.push_str(&text);
    }
    let kind = kind_for_status(status);
    let mut error = connector_error(kind, message);
    error.code = code;
    Failure {
        status: Some(status),
        error,
    }
}

/// Classifies a transport failure (no response) of operation `what`.
pub fn from_transport(what: &str, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() || e.is_request() || e.is_body() || e.is_decode() {
        ErrorKind::Transient
    } else {
        ErrorKind::Permanent
    };
    // The URL may carry a SAS: describe the error without it, with its causes.
    let mut message = format!("{what}: {}", describe(e));
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Failure {
        status: None,
        error: connector_error(kind, message),
    }
}

/// What went wrong, in words that cannot contain the URL (reqwest's own Display shows it).
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() {
        "the response body broke off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "HTTP client error"
    }
}

/// The `Code` and first line of `Message` of an XML (Blob) or JSON (DFS) error body.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let e = &v["error"];
            return (
                e["code"].as_str().map(String::from),
                e["message"].as_str().map(first_line),
            );
        }
        return (None, None);
    }
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(first_line(&text[start..end]))
    };
    (element("Code"), element("Message"))
}

/// Azure messages end with `RequestId:...` and `Time:...` lines; the first line says it.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_kinds() {
        for (status, kind) in [
            (401, ErrorKind::Auth),
            (403, ErrorKind::Auth),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (412, ErrorKind::Conflict),
            (408, ErrorKind::Timeout),
            (429, ErrorKind::Transient),
            (500, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (400, ErrorKind::Permanent),
        ] {
            assert_eq!(kind_for_status(status), kind, "{status}");
        }
    }

    #[test]
    fn the_code_comes_from_the_header_and_the_message_from_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-error-code", "BlobAlreadyExists".parse().unwrap());
        let body = b"<?xml version=\"1.0\"?><Error><Code>BlobAlreadyExists</Code><Message>The specified blob already exists.\nRequestId:1\nTime:2</Message></Error>";
        let f = from_response("upload c/x", 409, &headers, body);
        assert_eq!(f.error.kind, ErrorKind::Conflict);
        assert_eq!(f.code(), "BlobAlreadyExists");
        assert_eq!(
            f.error.message,
            "upload c/x: HTTP 409 Conflict (BlobAlreadyExists): The specified blob already exists."
        );
        assert!(!f.error.retryable);
        let json = br#"{"error":{"code":"PathNotFound","message":"The specified path does not exist.\nRequestId:x"}}"#;
        let f = from_response("delete c/y", 404, &HeaderMap::new(), json);
        assert_eq!(f.code(), "PathNotFound");
        assert!(f.error.message.ends_with("does not exist."));
        let f = from_response("get", 503, &HeaderMap::new(), b"");
        assert!(f.error.retryable);
    }
}
