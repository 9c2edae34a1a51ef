//! The JetStream streams a clustered run uses, created once per cluster (idempotently, by
//! every coordinator and worker at start) and reported by `aw-run cluster status`.
//!
//! Both are work queues (a message is removed once acked) on file storage, replicated so a
//! dead server loses nothing. A stream that exists with other settings is refused, not
//! changed: another version of auto-workflow may be using it.

use std::time::Duration;

use async_nats::jetstream::context::{GetStreamErrorKind, RequestErrorKind};
use async_nats::jetstream::stream::{Compression, Config, RetentionPolicy, StorageType};
use async_nats::jetstream::ErrorCode;
use futures_util::StreamExt;
use serde::Serialize;

use super::server::ServerVersion;
use super::{Cluster, ClusterError};

/// One stream auto-workflow needs.
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static str,
    pub what: &'static str,
}

/// Task attempts (coordinator to workers) and their results (workers to coordinator).
pub const STREAMS: [StreamSpec; 2] = [
    StreamSpec {
        name: "AW_ATTEMPTS",
        subjects: "aw.attempt.>",
        what: "task attempts waiting for a worker",
    },
    StreamSpec {
        name: "AW_RESULTS",
        subjects: "aw.result.>",
        what: "attempt results waiting for their coordinator",
    },
];

/// How long a published message id is remembered for deduplication (`Nats-Msg-Id`).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Since when a server compresses stored messages (`compression: s2`); 2.9 ignores it.
const COMPRESSION_SINCE: ServerVersion = ServerVersion(2, 10, 0);

fn config(spec: &StreamSpec, replicas: usize, compress: bool) -> Config {
    Config {
        compression: compress.then_some(Compression::S2),
        name: spec.name.to_string(),
        description: Some(format!("auto-workflow: {}", spec.what)),
        subjects: vec![spec.subjects.to_string()],
        retention: RetentionPolicy::WorkQueue,
        storage: StorageType::File,
        num_replicas: replicas,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// Creates the streams that do not exist yet with `replicas` copies each, stored S2-compressed
/// when `compress` (NATS 2.10+: refused on an older server, which would store them
/// uncompressed without a word); checks the ones that do.
pub async fn ensure_streams(
    cluster: &Cluster,
    replicas: usize,
    compress: bool,
) -> Result<(), ClusterError> {
    if compress {
        cluster
            .version
            .require("stream compression (--compression s2)", COMPRESSION_SINCE)?;
    }
    for spec in &STREAMS {
        let wanted = config(spec, replicas, compress);
        match get_stream_waiting(cluster, spec.name).await {
            Ok(mut stream) => {
                let info = stream
                    .info()
                    .await
                    .map_err(|e| ClusterError::JetStream(format!("stream {}: {e}", spec.name)))?;
                let have = &info.config;
                if have.subjects != wanted.subjects
                    || have.retention != wanted.retention
                    || have.num_replicas != wanted.num_replicas
                    || compressed(have) != compress
                {
                    return Err(ClusterError::Unsupported(format!(
                        "stream {} exists with other settings (subjects {:?}, retention {:?}, {} replicas, compressed {}; auto-workflow wants {:?}, work queue, {replicas}, compressed {compress}): it may belong to another version of auto-workflow; delete it or use another cluster",
                        spec.name, have.subjects, have.retention, have.num_replicas, compressed(have), wanted.subjects
                    )));
                }
                // Perhaps created a moment ago by another coordinator or worker.
                wait_for_leader(&mut stream, spec.name).await?;
            }
            Err(e) if is_not_found(&e.kind()) => {
                let mut stream = cluster.jetstream.create_stream(wanted).await.map_err(|e| {
                    ClusterError::JetStream(format!(
                        "cannot create stream {} with {replicas} replicas: {e} (a stream of {replicas} replicas needs {replicas} servers with JetStream enabled)",
                        spec.name
                    ))
                })?;
                tracing::info!(stream = spec.name, replicas, "created stream");
                wait_for_leader(&mut stream, spec.name).await?;
            }
            Err(e) => {
                return Err(ClusterError::JetStream(format!(
                    "stream {}: {e}",
                    spec.name
                )))
            }
        }
    }
    Ok(())
}

/// The stream `name` of [`STREAMS`], which `aw-run cluster setup` creates.
pub async fn stream(
    cluster: &Cluster,
    name: &str,
) -> Result<async_nats::jetstream::stream::Stream, ClusterError> {
    get_stream_waiting(cluster, name).await.map_err(|e| {
        ClusterError::JetStream(format!(
            "stream {name}: {e} (run `aw-run cluster setup` once for the cluster)"
        ))
    })
}

/// The copies the attempts stream keeps: what the cluster was set up with, for what a
/// coordinator or worker creates later (the components bucket).
pub async fn stream_replicas(cluster: &Cluster) -> Result<usize, ClusterError> {
    let mut stream = stream(cluster, STREAMS[0].name).await?;
    let info = stream
        .info()
        .await
        .map_err(|e| ClusterError::JetStream(format!("stream {}: {e}", STREAMS[0].name)))?;
    Ok(info.config.num_replicas)
}

/// How long a new stream may take to elect its leader (on a healthy cluster: well under a
/// second; an election after a lost leader took about 8 s here, ../shared/notes/nats.md).
const LEADER_WAIT: Duration = Duration::from_secs(15);

/// Looks a stream up, asking again while the request times out: a stream whose Raft group
/// has no leader yet (one another process is creating this moment, or one electing a new
/// leader) leaves `STREAM.INFO` unanswered rather than refusing it.
async fn get_stream_waiting(
    cluster: &Cluster,
    name: &str,
) -> Result<async_nats::jetstream::stream::Stream, async_nats::jetstream::context::GetStreamError> {
    let deadline = tokio::time::Instant::now() + LEADER_WAIT;
    loop {
        match cluster.jetstream.get_stream(name).await {
            Err(e)
                if e.kind() == GetStreamErrorKind::Request
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(stream = name, "stream lookup timed out; asking again");
            }
            other => return other,
        }
    }
}

/// Waits until a stream's Raft group has a leader: until then a publish to it fails.
async fn wait_for_leader(
    stream: &mut async_nats::jetstream::stream::Stream,
    name: &str,
) -> Result<(), ClusterError> {
    let deadline = tokio::time::Instant::now() + LEADER_WAIT;
    loop {
        match stream.info().await {
            Ok(info) if info.cluster.as_ref().is_some_and(|c| c.leader.is_some()) => return Ok(()),
            Ok(_) => {}
            // Unanswered while the group has no leader: the same as "no leader yet".
            Err(e) if e.kind() == RequestErrorKind::TimedOut => {}
            Err(e) => return Err(ClusterError::JetStream(format!("stream {name}: {e}"))),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClusterError::JetStream(format!(
                "stream {name} has no leader {} s after it was created: are a majority of its servers up?",
                LEADER_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn compressed(config: &Config) -> bool {
    config
        .compression
        .as_ref()
        .is_some_and(|c| *c != Compression::None)
}

fn is_not_found(kind: &GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// A stream as `aw-run cluster status` shows it.
#[derive(Debug, Serialize)]
pub struct StreamStatus {
    pub name: &'static str,
    /// Whether it exists (`aw-run cluster setup`, or any coordinator or worker, creates it).
    pub present: bool,
    pub messages: u64,
    pub bytes: u64,
    pub replicas: usize,
    /// The server that leads the stream's Raft group.
    pub leader: Option<String>,
    /// The other servers holding a copy, and whether each is current.
    pub followers: Vec<(String, bool)>,
    pub consumers: Vec<ConsumerStatus>,
}

/// A consumer of a stream: a worker pool or a coordinator's result reader.
#[derive(Debug, Serialize)]
pub struct ConsumerStatus {
    pub name: String,
    /// Messages not delivered yet.
    pub pending: u64,
    /// Delivered and not acknowledged: in flight.
    pub in_flight: usize,
    pub redelivered: usize,
    /// Pull requests waiting (free worker slots asking).
    pub waiting: usize,
}

/// The streams, their leaders and copies, and their consumers.
pub async fn status(cluster: &Cluster) -> Result<Vec<StreamStatus>, ClusterError> {
    let mut out = Vec::new();
    for spec in &STREAMS {
        let mut stream = match cluster.jetstream.get_stream(spec.name).await {
            Ok(stream) => stream,
            Err(e) if is_not_found(&e.kind()) => {
                out.push(StreamStatus {
                    name: spec.name,
                    present: false,
                    messages: 0,
                    bytes: 0,
                    replicas: 0,
                    leader: None,
                    followers: Vec::new(),
                    consumers: Vec::new(),
                });
                continue;
            }
            Err(e) => {
                return Err(ClusterError::JetStream(format!(
                    "stream {}: {e}",
                    spec.name
                )))
            }
        };
        let info = stream
            .info()
            .await
            .map_err(|e| ClusterError::JetStream(format!("stream {}: {e}", spec.name)))?
            .clone();
        let mut consumers = Vec::new();
        let mut listed = stream.consumers();
        while let Some(consumer) = listed.next().await {
            let c = consumer.map_err(|e| {
                ClusterError::JetStream(format!("consumers of stream {}: {e}", spec.name))
            })?;
            consumers.push(ConsumerStatus {
                name: c.name,
                pending: c.num_pending,
                in_flight: c.num_ack_pending,
                redelivered: c.num_redelivered,
                waiting: c.num_waiting,
            });
        }
        let cluster_info = info.cluster.unwrap_or_default();
        out.push(StreamStatus {
            name: spec.name,
            present: true,
            messages: info.state.messages,
            bytes: info.state.bytes,
            replicas: info.config.num_replicas,
            leader: cluster_info.leader,
            followers: cluster_info
                .replicas
                .into_iter()
                .map(|p| (p.name, p.current))
                .collect(),
            consumers,
        });
    }
    Ok(out)
}
