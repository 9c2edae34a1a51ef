//! One HTTP client per ADLS profile: builds Azure Storage requests, authorizes them, sends
//! them with retries and timeouts, and classifies failures.
//!
//! Each request is retried on its own (an upload's block, not the whole upload) when it
//! fails with 408, 429, 500, 502, 503, 504 or a connection error, after an exponential
//! backoff with jitter, or after the service's `Retry-After` when it sends one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use reqwest::{Method, Url};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tracing::Instrument;

use super::auth::Credential;
use super::errors::{from_response, from_transport, Failure};
use super::settings::{Adls2Settings, Retries};
use crate::bindings::types::ErrorKind;

/// The service version every request asks for (supported by Azure and Azurite 3.35).
pub const API_VERSION: &str = "2023-11-03";

/// An authorized, retrying client for one account.
pub struct Rest {
    http: reqwest::Client,
    credential: Credential,
    retries: Retries,
    timeout: Duration,
    max_body: u64,
}

/// A request under construction. `what` names the operation in error messages.
pub struct Call {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
    what: String,
    invalid: Option<Failure>,
}

/// A successful response, body read whole (callers bound it: ranges, pages).
pub struct Reply {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Call {
    /// A request without headers or body.
    pub fn new(method: Method, url: Url, what: impl Into<String>) -> Call {
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            what: what.into(),
            invalid: None,
        }
    }

    /// Adds a header; a value that is not valid in HTTP makes the call fail as `invalid-input`.
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Call {
        let value = value.as_ref();
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) if value.is_ascii() => {
                self.headers.insert(n, v);
            }
            _ => {
                self.invalid.get_or_insert_with(|| {
                    Failure::new(
                        ErrorKind::InvalidInput,
                        format!("{}: `{name}` must be printable ASCII", self.what),
                    )
                });
            }
        }
        self
    }

    /// Sets the body (shared, so retries resend it without copying).
    pub fn body(mut self, body: Bytes) -> Call {
        self.body = body;
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Call {
        self.url.query_pairs_mut().append_pair(name, value);
        self
    }
}

impl Rest {
    /// A client for the profile; builds the TLS configuration (and reads `ca_cert`) now.
    pub fn new(settings: &Adls2Settings) -> Result<Rest, Failure> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("auto-workflow/", env!("CARGO_PKG_VERSION")));
        builder = builder.use_preconfigured_tls(tls_config(settings)?);
        let http = builder.build().map_err(|e| {
            Failure::new(
                ErrorKind::Config,
                format!(
                    "adls2 profile `{}`: cannot build the HTTP client: {e}",
                    settings.profile
                ),
            )
        })?;
        Ok(Rest {
            http,
            credential: Credential::new(&settings.credential).map_err(|why| {
                Failure::new(
                    ErrorKind::Config,
                    format!("adls2 profile `{}`: {why}", settings.profile),
                )
            })?,
            retries: settings.retries,
            timeout: settings.operation_timeout,
            max_body: settings.max_download,
        })
    }

    /// The profile's credential (the Blob dialect adds its SAS to copy sources).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Sends `call`, retrying what may succeed on a later try; non-2xx answers are failures.
    pub async fn send(&self, call: Call) -> Result<Reply, Failure> {
        let span = tracing::debug_span!("adls2_request", operation = %call.what, code = tracing::field::Empty, tries = tracing::field::Empty);
        self.send_in(call, &span).instrument(span.clone()).await
    }

    async fn send_in(&self, call: Call, span: &tracing::Span) -> Result<Reply, Failure> {
        if let Some(invalid) = call.invalid {
            return Err(invalid);
        }
        let Call {
            method,
            mut url,
            headers,
            body,
            what,
            ..
        } = call;
        self.credential.apply_to_url(&mut url);
        let mut attempt = 1;
        loop {
            let (failure, retry_after) =
                match self.attempt(&method, &url, &headers, &body, &what).await {
                    Ok(reply) => {
                        span.record("tries", attempt);
                        return Ok(reply);
                    }
                    Err(outcome) => outcome,
                };
            span.record("tries", attempt);
            if let Some(code) = &failure.error.code {
                span.record("code", code.as_str());
            }
            let retryable = match failure.status {
                Some(status) => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
                None => matches!(
                    failure.error.kind,
                    ErrorKind::Transient | ErrorKind::Timeout
                ),
            };
            if !retryable || attempt >= self.retries.attempts {
                let mut failure = failure;
                if retryable && attempt > 1 {
                    failure
                        .error
                        .message
                        .push_str(&format!(" (after {attempt} tries)"));
                }
                return Err(failure);
            }
            let delay = retry_after.unwrap_or_else(|| backoff(&self.retries, attempt));
            tracing::debug!(operation = %what, attempt, delay_ms = delay.as_millis() as u64, error = %failure.error.message, "retrying an ADLS request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One try. On failure, also the delay the service asked for.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        base: &HeaderMap,
        body: &Bytes,
        what: &str,
    ) -> Result<Reply, (Failure, Option<Duration>)> {
        let mut headers = base.clone();
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.insert(
            "x-ms-date",
            HeaderValue::from_str(&date)
                .map_err(|_| (Failure::new(ErrorKind::Permanent, "bad date"), None))?,
        );
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        if !body.is_empty() || matches!(*method, Method::PUT | Method::PATCH | Method::POST) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        self.credential
            .authorize(&self.http, method, url, &mut headers)
            .await
            .map_err(|why| {
                (
                    Failure::new(ErrorKind::Auth, format!("{what}: {why}")),
                    None,
                )
            })?;
        let request = self
            .http
            .request(method.clone(), url.clone())
            .headers(headers)
            .body(body.clone())
            .timeout(self.timeout);
        let response = request
            .send()
            .await
            .map_err(|e| (from_transport(what, &e), None))?;
        let status = response.status().as_u16();
        if let Some(length) = response
            .content_length()
            .filter(|n| *n > self.max_body && *method != Method::HEAD)
        {
            // Refused before reading: one response must not fill the host's memory.
            let message = format!(
                "{what}: the response is {length} bytes, more than the profile's max_download ({}); read it with open-reader or in ranges",
                self.max_body
            );
            return Err((Failure::new(ErrorKind::Limit, message), None));
        }
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| (from_transport(what, &e), None))?;
        if (200..300).contains(&status) {
            return Ok(Reply { headers, body });
        }
        let retry_after = retry_after(&headers);
        Err((from_response(what, status, &headers, &body), retry_after))
    }
}

/// rustls with ring: the system's roots plus the profile's `ca_cert`, HTTP/1.1 only.
fn tls_config(settings: &Adls2Settings) -> Result<rustls::ClientConfig, Failure> {
    let fail = |why: String| {
        Failure::new(
            ErrorKind::Config,
            format!("adls2 profile `{}`: {why}", settings.profile),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = &settings.ca_cert {
        let pem = ca.read("ca_cert").map_err(fail)?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| fail(format!("ca_cert is not a PEM certificate ({e})")))?;
            roots.add(cert).map_err(|e| fail(format!("ca_cert: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(fail("ca_cert holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The service's requested delay: `x-ms-retry-after-ms`, or `Retry-After` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("x-ms-retry-after-ms").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms.min(60_000)));
    }
    text("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)))
}

/// Exponential backoff with jitter: between half and all of `backoff * 2^(attempt-1)`.
pub fn backoff(retries: &Retries, attempt: u32) -> Duration {
    let full = retries
        .backoff
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(retries.max_backoff);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let r = Retries {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        for _ in 0..50 {
            let d1 = backoff(&r, 1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d2 = backoff(&r, 2);
            assert!(
                d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200),
                "{d2:?}"
            );
            let d4 = backoff(&r, 4);
            assert!(
                d4 >= Duration::from_millis(175) && d4 <= Duration::from_millis(350),
                "{d4:?}"
            );
        }
    }

    #[test]
    fn retry_after_prefers_milliseconds_and_is_capped() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("x-ms-retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", "100000".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(60)));
    }
}
