//! The run-state bucket `AW_RUNS`: one key per clustered run, which a worker reads before it
//! starts an attempt, so an attempt of a run that ended, was cancelled or lost its coordinator
//! is dropped instead of run.
//!
//! The cancel broadcast (core NATS) only reaches workers connected at that moment, and only
//! attempts already running; the end-of-run purge can miss an attempt a worker has just
//! pulled, and a coordinator killed with SIGKILL purges nothing. The key covers all three: the
//! coordinator writes `running` before its first attempt and again every [`HEARTBEAT`],
//! `ended` when the run ends, and `cancelled` under `RUN.SEQ.ATTEMPT` for one attempt it gave
//! up on. A `running` key not refreshed for [`STALE_BEATS`] heartbeats means the coordinator
//! is gone (this relies on worker and server clocks agreeing within a few heartbeats, as NTP
//! keeps them).
//!
//! A KV bucket is a stream `KV_<bucket>`; async-nats cannot create one on a 2.9 server
//! (../shared/notes/nats.md), so the stream is created here with the KV settings and then
//! opened as a bucket. Keys expire after [`KEEP`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::{Operation, Store};
use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError};

/// The bucket's name (its stream is `KV_AW_RUNS`).
pub const BUCKET: &str = "AW_RUNS";

/// How often a coordinator refreshes its run's key.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Heartbeats a `running` key may miss before its coordinator counts as gone.
pub const STALE_BEATS: u32 = 6;

/// How long a key is kept: longer than any run is expected to wait in a queue.
const KEEP: Duration = Duration::from_secs(24 * 3600);

/// How long a worker waits for the key before it starts the attempt anyway (the cancel
/// broadcast still reaches it while it runs).
const READ_WAIT: Duration = Duration::from_secs(2);

/// What a run's (or an attempt's) key says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    /// The coordinator is alive and refreshes the key every `every_ms`.
    Running { every_ms: u64 },
    /// The run ended (finished, failed, cancelled, interrupted): nothing more of it runs.
    Ended,
    /// One attempt the coordinator stopped waiting for.
    Cancelled,
}

/// The run-state bucket, its stream created with `replicas` copies when it does not exist.
pub async fn bucket(cluster: &Cluster, replicas: usize) -> Result<Store, ClusterError> {
    let stream = format!("KV_{BUCKET}");
    cluster
        .jetstream
        .get_or_create_stream(Config {
                name: stream.clone(),
                description: Some("auto-workflow: the state of each clustered run".into()),
                subjects: vec![format!("$KV.{BUCKET}.>")],
                max_messages_per_subject: 1,
                max_age: KEEP,
                storage: StorageType::File,
                num_replicas: replicas,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                ClusterError::JetStream(format!(
                    "cannot create the run-state bucket's stream {stream} with {replicas} replicas: {e}"
                ))
            })?;
    cluster
        .jetstream
        .get_key_value(BUCKET)
        .await
        .map_err(|e| ClusterError::JetStream(format!("cannot open the KV bucket {BUCKET}: {e}")))
}

/// Writes `state` under `key` (a run id, or `RUN.SEQ.ATTEMPT`).
pub async fn put(store: &Store, key: &str, state: RunState) -> Result<(), ClusterError> {
    let body = serde_json::to_vec(&state).map_err(|e| ClusterError::JetStream(e.to_string()))?;
    store
        .put(key, body.into())
        .await
        .map(|_| ())
        .map_err(|e| ClusterError::JetStream(format!("cannot write run state {key}: {e}")))
}

/// Why a worker does not start an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Ended,
    Cancelled,
    CoordinatorGone,
}

impl Skip {
    /// For the worker's log.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::Ended => "its run has ended",
            Skip::Cancelled => "its coordinator cancelled it",
            Skip::CoordinatorGone => "its coordinator stopped refreshing the run's state",
        }
    }
}

/// Whether the attempt `attempt_key` of run `run_id` may start: none when it may, or why
/// not. A key that cannot be read within [`READ_WAIT`] lets the attempt start.
pub async fn may_start(store: &Store, run_id: &str, attempt_key: &str) -> Option<Skip> {
    let read = async { tokio::join!(store.entry(run_id), store.entry(attempt_key)) };
    let Ok((run, attempt)) = tokio::time::timeout(READ_WAIT, read).await else {
        tracing::warn!(
            run = run_id,
            "the run-state key did not answer in time; starting the attempt"
        );
        return None;
    };
    if let Ok(Some(entry)) = attempt {
        if state_of(&entry.value, entry.operation) == Some(RunState::Cancelled) {
            return Some(Skip::Cancelled);
        }
    }
    let entry = match run {
        Ok(Some(entry)) => entry,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(run = run_id, error = %e, "cannot read the run-state key; starting the attempt");
            return None;
        }
    };
    match state_of(&entry.value, entry.operation)? {
        RunState::Ended | RunState::Cancelled => Some(Skip::Ended),
        RunState::Running { every_ms } => {
            let written =
                Duration::from_nanos(u64::try_from(entry.created.unix_timestamp_nanos()).ok()?);
            let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
            let every = Duration::from_millis(every_ms).max(Duration::from_millis(100));
            let age = now.saturating_sub(written);
            // A second of slack for the server's and this machine's clocks.
            (age > every.saturating_mul(STALE_BEATS) + Duration::from_secs(1))
                .then_some(Skip::CoordinatorGone)
        }
    }
}

fn state_of(value: &[u8], operation: Operation) -> Option<RunState> {
    (operation == Operation::Put)
        .then(|| serde_json::from_slice(value).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_written_and_junk_reads_as_none() {
        for state in [
            RunState::Running { every_ms: 10_000 },
            RunState::Ended,
            RunState::Cancelled,
        ] {
            let body = serde_json::to_vec(&state).expect("encode");
            assert_eq!(state_of(&body, Operation::Put), Some(state));
            assert_eq!(state_of(&body, Operation::Delete), None);
        }
        assert_eq!(
            serde_json::to_string(&RunState::Running { every_ms: 5 }).expect("encode"),
            r#"{"state":"running","every_ms":5}"#
        );
        assert_eq!(state_of(b"{\"state\":\"paused\"}", Operation::Put), None);
        assert_eq!(state_of(b"\xff", Operation::Put), None);
    }
}
