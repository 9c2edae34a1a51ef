//! Runs on many machines over NATS JetStream (issue 20): where the cluster is (`--cluster`),
//! the connection to it, the server version it runs and what that version can do, and the
//! streams task attempts and their results travel on.
//!
//! [`protocol`] is what travels, [`components`] how a component reaches a worker,
//! [`coordinator`] the run's side (a [`crate::flow::RunAttempt`] that publishes attempts and
//! awaits their results), [`runs`] the run-state keys workers read before starting an attempt,
//! and [`worker`] the side of `aw-run worker`.

pub mod components;
pub mod coordinator;
pub mod protocol;
pub mod runs;
mod server;
mod streams;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ServerAddr;

pub use server::ServerVersion;
pub use streams::{
    ensure_streams, status, stream, stream_replicas, ConsumerStatus, StreamStatus, STREAMS,
};

/// Why the cluster cannot be used; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `--cluster` is not a list of NATS URLs.
    #[error("--cluster: {0}")]
    BadUrl(String),
    /// The credentials file cannot be read.
    #[error("--cluster-creds {path}: {error}")]
    Credentials { path: String, error: String },
    /// No server of the list answered.
    #[error("cannot connect to the NATS cluster at {urls}: {error} (is it running, and is --cluster right?)")]
    Connect { urls: String, error: String },
    /// The server lacks what auto-workflow needs, or what an option asks for.
    #[error("{0}")]
    Unsupported(String),
    /// A cluster option is malformed.
    #[error("{0}")]
    Usage(String),
    /// A JetStream request failed.
    #[error("NATS JetStream: {0}")]
    JetStream(String),
}

/// Where the cluster is and how to authenticate: `--cluster` and `--cluster-creds`.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The seed servers (any one is enough to join; the client learns the others).
    pub servers: Vec<ServerAddr>,
    /// A NATS credentials file (JWT and NKey seed); never read into a message or a log.
    pub creds: Option<PathBuf>,
}

impl ClusterSpec {
    /// Parses `nats://h1:4222,nats://h2:4222` (also `tls://`; a bare `host:port` means
    /// `nats://`).
    pub fn parse(urls: &str, creds: Option<PathBuf>) -> Result<ClusterSpec, ClusterError> {
        let mut servers = Vec::new();
        for part in urls.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let shown = without_userinfo(part);
            let scheme = part.split_once("://").map(|(s, _)| s);
            if let Some(scheme) = scheme {
                if !matches!(scheme, "nats" | "tls") {
                    return Err(ClusterError::BadUrl(format!(
                        "`{shown}` is not a NATS URL: use nats://HOST:PORT (or tls://)"
                    )));
                }
            }
            let addr = part.parse::<ServerAddr>().map_err(|e| {
                ClusterError::BadUrl(format!(
                    "`{shown}` is not a NATS URL ({e}): use nats://HOST:PORT"
                ))
            })?;
            if addr.has_user_pass() {
                return Err(ClusterError::BadUrl(format!(
                    "a server URL carries credentials (`{shown}`); give them in a credentials file (--cluster-creds) instead, so they stay out of process listings"
                )));
            }
            servers.push(addr);
        }
        if servers.is_empty() {
            return Err(ClusterError::BadUrl(
                "no server given: use nats://HOST:PORT[,nats://HOST2:PORT]".into(),
            ));
        }
        Ok(ClusterSpec { servers, creds })
    }

    /// The servers as `host:port`, for messages.
    pub fn label(&self) -> String {
        let hosts: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("{}:{}", s.host(), s.port()))
            .collect();
        hosts.join(",")
    }

    /// Connects (a short ping interval, so a stopped server is left within seconds, not
    /// minutes: ../shared/notes/nats.md) and checks the server can run auto-workflow.
    pub async fn connect(&self, name: &str) -> Result<Cluster, ClusterError> {
        let options = match &self.creds {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| ClusterError::Credentials {
                    path: path.display().to_string(),
                    error: e.kind().to_string(),
                })?,
            None => async_nats::ConnectOptions::new(),
        };
        let client = options
            .name(name)
            .ping_interval(Duration::from_secs(2))
            .connection_timeout(Duration::from_secs(5))
            .connect(&self.servers[..])
            .await
            .map_err(|e| ClusterError::Connect {
                urls: self.label(),
                error: e.to_string(),
            })?;
        let info = client.server_info();
        let version = ServerVersion::parse(&info.version).ok_or_else(|| {
            ClusterError::Unsupported(format!(
                "the NATS server at {} reports version `{}`, which auto-workflow cannot read",
                self.label(),
                info.version
            ))
        })?;
        version.require("JetStream clustering", ServerVersion::MINIMUM)?;
        Ok(Cluster {
            jetstream: async_nats::jetstream::new(client.clone()),
            client,
            version,
        })
    }
}

/// `url` with any user, password or token replaced by `***`, for messages.
fn without_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        (None, Some(at)) => format!("***{}", &url[at..]),
        _ => url.to_string(),
    }
}

/// How long a publish is retried while its stream elects a leader (measured here: about
/// 11 s at worst after a leader was killed).
const PUBLISH_RETRY_FOR: Duration = Duration::from_secs(30);

/// Publishes `body` on `subject` with `Nats-Msg-Id` `id` and waits for the stream's ack,
/// publishing again (the id makes that safe) while the stream has no leader.
pub(crate) async fn publish_with_id(
    cluster: &Cluster,
    subject: String,
    id: &str,
    body: Vec<u8>,
) -> Result<(), ClusterError> {
    let body = bytes::Bytes::from(body);
    let deadline = tokio::time::Instant::now() + PUBLISH_RETRY_FOR;
    loop {
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(body.clone())
            .message_id(id);
        let acked = match cluster
            .jetstream
            .send_publish(subject.clone(), publish)
            .await
        {
            Ok(ack) => ack.await.map(|_| ()),
            Err(e) => Err(e),
        };
        use async_nats::jetstream::context::PublishErrorKind as Kind;
        match acked {
            Ok(()) => return Ok(()),
            // Publishing the same message again cannot fix these.
            Err(e)
                if matches!(
                    e.kind(),
                    Kind::MaxPayloadExceeded | Kind::WrongLastMessageId | Kind::WrongLastSequence
                ) =>
            {
                return Err(ClusterError::JetStream(format!(
                    "cannot publish on {subject}: {e}"
                )))
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, %subject, "publish failed; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(ClusterError::JetStream(format!(
                    "cannot publish on {subject} for {} s: {e}",
                    PUBLISH_RETRY_FOR.as_secs()
                )))
            }
        }
    }
}

/// A connection to the cluster and what its server can do.
pub struct Cluster {
    /// The core connection (cancel broadcasts, requests).
    pub client: async_nats::Client,
    /// JetStream on that connection.
    pub jetstream: async_nats::jetstream::Context,
    /// The version of the server the client is connected to.
    pub version: ServerVersion,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_parse_and_bad_ones_name_the_fix() {
        let spec =
            ClusterSpec::parse("nats://127.0.0.1:4222, tls://h2:4223,h3:4224", None).expect("spec");
        assert_eq!(spec.label(), "127.0.0.1:4222,h2:4223,h3:4224");
        for (bad, says) in [
            ("", "no server given"),
            ("http://h:80", "not a NATS URL"),
            ("nats://u:secret-pw@h:4222", "credentials file"),
            ("nats://u:secret-pw@h:notaport", "nats://***@h:notaport"),
        ] {
            let error = ClusterSpec::parse(bad, None).expect_err(bad).to_string();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(!error.contains("secret-pw"), "{error}");
        }
    }
}
