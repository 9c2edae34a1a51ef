//! Flows: the scheduler that runs a flow's spawned tasks, with concurrency slots, priorities,
//! retries, timeouts, a result cache (in memory and on disk), fail-fast cancellation, events
//! and a progress line, and a record per task for the report.
//!
//! It knows nothing of instances or stores: it runs each attempt through [`RunAttempt`],
//! which `run` implements with fresh in-process instances. Of `host` it uses only the WIT
//! types (`bindings`); the WIT `tasks` interface that guests call lives in `host::tasks`.

mod disk_cache;
pub mod observe;
pub mod policy;
mod ran;
pub mod scheduler;
pub mod slots;
mod task;

use std::time::Duration;

use serde::Serialize;

pub use disk_cache::DiskCache;
pub use observe::EventLog;
pub use ran::{EventsError, RanGraph, RanTask};
pub(crate) use scheduler::flagged;
pub use scheduler::{Attempt, FlowSetup, RunAttempt, Scheduler, MAX_CAUSE};
pub use task::TaskCell;

use crate::bindings::tasks::{TaskError, TaskOptions, TaskSpec};
use crate::redact::Scrubber;

/// What a task settles to: its output JSON, or why it failed for good.
pub type TaskOutcome = Result<String, TaskError>;

/// One task in the run report.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    /// The spawn's sequence number in the run (the graph's node id; spawn order).
    #[serde(rename = "id")]
    pub sequence: u64,
    pub name: String,
    /// The first 16 hex digits of the input's SHA-256.
    pub input_hash: String,
    pub attempts: u32,
    /// `succeeded`, `failed`, `cancelled` or `cached`.
    pub status: &'static str,
    #[serde(serialize_with = "crate::seconds::serialize")]
    pub duration: Duration,
    pub cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// The last attempt's error message, scrubbed and cut to [`MAX_CAUSE`] bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's code (SQLSTATE, Azure error code), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// `timeout`, `memory` or `fuel` when a limit ended the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The ids of the tasks whose results its input waited for (`spawn-after`): the graph's
    /// edges into it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<u64>,
    /// The id of the fan-out group it was spawned in (the spawn's `fan-out` option).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<String>,
    /// The cluster worker its last attempt ran on (`--cluster`); none when it ran here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

impl TaskRecord {
    /// A spawn answered from the cache or joined to an identical running task.
    pub fn cached(sequence: u64, name: &str, input_hash: &str) -> TaskRecord {
        TaskRecord {
            sequence,
            name: name.to_string(),
            input_hash: input_hash.to_string(),
            attempts: 0,
            status: "cached",
            duration: Duration::ZERO,
            cached: true,
            error_kind: None,
            error: None,
            error_code: None,
            limit: None,
            after: Vec::new(),
            fan_out: None,
            worker: None,
        }
    }

    /// A task that ran.
    pub fn finished(
        sequence: u64,
        name: &str,
        input_hash: &str,
        attempts: u32,
        duration: Duration,
        outcome: &TaskOutcome,
        scrubber: &Scrubber,
    ) -> TaskRecord {
        let (status, attempts, error, limit) = match outcome {
            Ok(_) => ("succeeded", attempts, None, None),
            Err(e) => (
                if e.cancelled { "cancelled" } else { "failed" },
                e.attempts,
                Some(&e.error),
                e.limit.clone(),
            ),
        };
        TaskRecord {
            sequence,
            name: name.to_string(),
            input_hash: input_hash.to_string(),
            attempts,
            status,
            duration,
            cached: false,
            error_kind: error.map(|e| e.kind.name().to_string()),
            // Bounded: the run keeps one record per task.
            error: error.map(|e| scrubber.scrub_and_cut(&e.message, MAX_CAUSE)),
            error_code: error.and_then(|e| e.code.clone()),
            limit,
            after: Vec::new(),
            fan_out: None,
            worker: None,
        }
    }
}

/// A task spec as JSON (for `aw-run describe`); unset options are left out.
pub fn spec_json(spec: &TaskSpec) -> serde_json::Value {
    serde_json::json!({
        "name": spec.name,
        "description": spec.description,
        "options": options_json(&spec.options),
    })
}

fn options_json(o: &TaskOptions) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        if !v.is_null() {
            map.insert(k.to_string(), v);
        }
    };
    put("retries", serde_json::json!(o.retries));
    put("backoff", o.backoff.map_or(serde_json::Value::Null, |b| serde_json::json!({"base_ms": b.base_ms, "factor": b.factor, "max_ms": b.max_ms, "jitter": b.jitter, "added_jitter_ms": b.added_jitter_ms})));
    put("timeout_ms", serde_json::json!(o.timeout_ms));
    put("cache_ttl_ms", serde_json::json!(o.cache_ttl_ms));
    put("cache_key", serde_json::json!(o.cache_key));
    put("priority", serde_json::json!(o.priority));
    serde_json::Value::Object(map)
}
