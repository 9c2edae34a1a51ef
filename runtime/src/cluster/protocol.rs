//! What travels between a coordinator and its workers: the attempt message, the result
//! message, their subjects and `Nats-Msg-Id`s, and a run error in a form that crosses the
//! wire and comes back as the same [`RunError`] (so the coordinator's retry policy treats a
//! remote failure exactly as a local one).
//!
//! Nothing secret is in any of these: connector profiles and secrets are named, never
//! resolved, and a worker scrubs what it sends back with its own scrubber.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::config::{FailurePolicy, Limits};
use crate::error::{LimitHit, RunError};
use crate::host::tasks::RunInfo;

/// The version of these messages; a worker refuses an attempt of another version.
pub const VERSION: u32 = 1;

/// The most bytes one attempt or result message may hold (its input or output included).
/// The server's default `max_payload` is 1 MiB; larger values need the Object Store (not yet).
pub const MAX_MESSAGE: usize = 1024 * 1024 - 4096;

/// A worker queue's name (`--queue`): letters, digits, `-` and `_`, as it becomes a subject
/// token and a consumer name.
pub fn check_queue(queue: &str) -> Result<(), String> {
    if queue.is_empty()
        || queue.len() > 64
        || !queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "--queue {:?}: use 1 to 64 letters, digits, `-` or `_`",
            queue.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

/// The subject a run's attempts are published on: the workers of `queue` take them (the run
/// id is a UUID: a valid token).
pub fn attempt_subject(queue: &str, run_id: &str) -> String {
    format!("aw.attempt.{queue}.{run_id}")
}

/// What the workers of `queue` consume.
pub fn queue_filter(queue: &str) -> String {
    format!("aw.attempt.{queue}.>")
}

/// The durable consumer the workers of `queue` share.
pub fn queue_consumer(queue: &str) -> String {
    format!("aw-workers-{queue}")
}

/// Whether a run id from a message can go into a subject: a UUID's letters, digits and `-`.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The queue workers and runs use when none is named.
pub const DEFAULT_QUEUE: &str = "default";

/// The subject a worker publishes one attempt's result on.
pub fn result_subject(run_id: &str, sequence: u64, attempt: u32) -> String {
    format!("aw.result.{run_id}.{sequence}.{attempt}")
}

/// What a run's result reader consumes.
pub fn results_filter(run_id: &str) -> String {
    format!("aw.result.{run_id}.>")
}

/// The core-NATS subject that cancels a whole run on every worker.
pub fn cancel_run_subject(run_id: &str) -> String {
    format!("aw.cancel.{run_id}")
}

/// The core-NATS subject that cancels one attempt on the worker running it.
pub fn cancel_attempt_subject(run_id: &str, sequence: u64, attempt: u32) -> String {
    format!("aw.cancel.{run_id}.{sequence}.{attempt}")
}

/// What every worker listens to for cancellations.
pub const CANCEL_ALL: &str = "aw.cancel.>";

/// The `Nats-Msg-Id` of an attempt (and of its result, on the results stream): publishing it
/// twice within the duplicate window stores it once.
pub fn message_id(run_id: &str, sequence: u64, attempt: u32) -> String {
    format!("{run_id}.{sequence}.{attempt}")
}

/// Who a run is, as the attempt carries it to the worker (`tasks.run-info` there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunIdentity {
    pub id: String,
    pub flow: Option<String>,
    pub params: String,
    pub started_ms: u64,
    pub failure_policy: String,
}

impl RunIdentity {
    /// The identity of a local run.
    pub fn of(info: &RunInfo) -> RunIdentity {
        RunIdentity {
            id: info.run_id.clone(),
            flow: info.flow.clone(),
            params: info.params.clone(),
            started_ms: info.started_ms,
            failure_policy: info.failure_policy.name().to_string(),
        }
    }

    /// The run info a worker's instance is given.
    pub fn info(&self) -> RunInfo {
        RunInfo {
            run_id: self.id.clone(),
            flow: self.flow.clone(),
            params: self.params.clone(),
            started_ms: self.started_ms,
            failure_policy: FailurePolicy::parse(&self.failure_policy).unwrap_or_default(),
        }
    }
}

/// The limits an attempt asks for; a worker runs it under the lower of these and its own
/// profile's limits (a coordinator cannot grant itself more of a worker than its config does).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct AttemptLimits {
    pub memory: u64,
    pub timeout_ms: u64,
    pub fuel: Option<u64>,
}

impl AttemptLimits {
    /// What `limits` asks of one attempt.
    pub fn of(limits: &Limits) -> AttemptLimits {
        AttemptLimits {
            memory: limits.memory,
            timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            fuel: limits.fuel,
        }
    }

    /// `own` lowered to what this attempt asks for.
    pub fn within(&self, own: &Limits) -> Limits {
        Limits {
            memory: self.memory.min(own.memory),
            timeout: Duration::from_millis(self.timeout_ms).min(own.timeout),
            // Fuel needs an engine that meters: the worker's profile decides whether it does.
            fuel: match (self.fuel, own.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (_, own) => own,
            },
            ..own.clone()
        }
    }
}

/// One attempt of one task, coordinator to worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptMessage {
    pub version: u32,
    pub run: RunIdentity,
    /// The task's spawn sequence number in the run.
    pub sequence: u64,
    /// The attempt number, from 1; a retry is a new attempt (a new message).
    pub attempt: u32,
    pub task: String,
    pub input: String,
    pub limits: AttemptLimits,
    pub depth: u32,
    /// The run profile the worker runs it under (from its own config).
    pub profile: String,
    /// The component's name (its file stem), for the worker's logs.
    pub name: String,
    /// The component's SHA-256 (hex): its name in the Object Store.
    pub component: String,
    /// W3C `traceparent` of the coordinator's span, when tracing exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl AttemptMessage {
    /// The stable idempotency key of this task's attempt: the same on every delivery.
    pub fn key(&self) -> String {
        message_id(&self.run.id, self.sequence, self.attempt)
    }
}

/// One attempt's end, worker to coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultMessage {
    pub version: u32,
    pub sequence: u64,
    pub attempt: u32,
    /// The worker that ran it (`--name`).
    pub worker: String,
    /// Which delivery of the attempt message this was (above 1: earlier workers were lost).
    pub delivered: u64,
    pub outcome: Result<String, WireError>,
}

/// A [`RunError`] of an attempt, as it travels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum WireError {
    /// The task's own error (`run-task` returned it).
    Guest {
        kind: String,
        message: String,
        code: Option<String>,
        retryable: bool,
    },
    Denied {
        message: String,
    },
    Limit {
        limit: String,
        bound: u64,
        desired: u64,
    },
    Trap {
        message: String,
    },
    BadComponent {
        message: String,
    },
    HostBug {
        message: String,
    },
    /// The attempt was delivered to a worker that died (or vanished) while running it this
    /// many times, as many as the worker consumer's `max_deliver` allows.
    Lost {
        times: u64,
    },
    /// Anything else the worker could not do (its config, the component's fetch): the attempt
    /// failed there, not in the guest.
    Worker {
        message: String,
    },
}

impl WireError {
    /// `error` as it travels; `scrub` is applied to every message first.
    pub fn of(error: &RunError, scrub: impl Fn(&str) -> String) -> WireError {
        match error {
            RunError::Guest(e) => WireError::Guest {
                kind: e.kind.name().to_string(),
                message: scrub(&e.message),
                code: e.code.as_deref().map(&scrub),
                retryable: e.retryable,
            },
            RunError::Denied(m) => WireError::Denied { message: scrub(m) },
            RunError::Limit(hit) => {
                let (limit, bound, desired) = match hit {
                    LimitHit::Memory { limit, desired } => ("memory", *limit, *desired),
                    LimitHit::Timeout { limit } => (
                        "timeout",
                        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                        0,
                    ),
                    LimitHit::Fuel { limit } => ("fuel", *limit, 0),
                    LimitHit::HostCall { limit } => ("host-call", *limit, 0),
                };
                WireError::Limit {
                    limit: limit.to_string(),
                    bound,
                    desired,
                }
            }
            RunError::Trap(m) => WireError::Trap { message: scrub(m) },
            RunError::BadComponent(m) => WireError::BadComponent { message: scrub(m) },
            RunError::HostBug(m) => WireError::HostBug { message: scrub(m) },
            other => WireError::Worker {
                message: scrub(&other.to_string()),
            },
        }
    }

    /// The run error it stands for, on the coordinator; `worker` names where it happened
    /// when that is not the guest's doing.
    pub fn into_run_error(self, worker: &str) -> RunError {
        match self {
            WireError::Guest {
                kind,
                message,
                code,
                retryable,
            } => RunError::Guest(ConnectorError {
                kind: ErrorKind::from_name(&kind).unwrap_or(ErrorKind::Permanent),
                message,
                code,
                retryable,
            }),
            WireError::Denied { message } => {
                RunError::Denied(format!("on worker `{worker}`: {message}"))
            }
            WireError::Limit {
                limit,
                bound,
                desired,
            } => RunError::Limit(match limit.as_str() {
                "memory" => LimitHit::Memory {
                    limit: bound,
                    desired,
                },
                "fuel" => LimitHit::Fuel { limit: bound },
                "host-call" => LimitHit::HostCall { limit: bound },
                _ => LimitHit::Timeout {
                    limit: Duration::from_millis(bound),
                },
            }),
            WireError::Trap { message } => RunError::Trap(message),
            WireError::BadComponent { message } => RunError::BadComponent(message),
            WireError::HostBug { message } => {
                RunError::HostBug(format!("on worker `{worker}`: {message}"))
            }
            WireError::Lost { times } => RunError::Guest(ConnectorError {
                kind: ErrorKind::Permanent,
                message: format!(
                    "the attempt lost its worker {times} times (each died or stopped answering while running it, the most the worker consumer's max_deliver allows): the task may be crashing workers; it is not retried"
                ),
                code: Some("worker-lost".into()),
                retryable: false,
            }),
            WireError::Worker { message } => RunError::Guest(ConnectorError {
                kind: ErrorKind::Permanent,
                message: format!("worker `{worker}` could not run the attempt: {message}"),
                code: None,
                retryable: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::policy::worth_retrying;

    #[test]
    fn a_run_error_crosses_the_wire_and_keeps_what_the_retry_policy_reads() {
        let cases = [
            RunError::Guest(ConnectorError {
                kind: ErrorKind::Transient,
                message: "try again".into(),
                code: Some("40001".into()),
                retryable: true,
            }),
            RunError::Limit(LimitHit::Timeout {
                limit: Duration::from_millis(1500),
            }),
            RunError::Limit(LimitHit::Memory {
                limit: 10,
                desired: 20,
            }),
            RunError::Trap("unreachable".into()),
            RunError::Denied("postgres profile `x` is not granted".into()),
        ];
        for error in cases {
            let wire = WireError::of(&error, str::to_string);
            let text = serde_json::to_string(&wire).expect("json");
            let back: WireError = serde_json::from_str(&text).expect("back");
            let again = back.into_run_error("w1");
            assert_eq!(again.status(), error.status(), "{text}");
            assert_eq!(worth_retrying(&again), worth_retrying(&error), "{text}");
        }
    }

    #[test]
    fn a_worker_runs_an_attempt_under_the_lower_of_both_limits() {
        let own = Limits {
            memory: 64 << 20,
            timeout: Duration::from_secs(10),
            fuel: Some(100),
            ..Limits::default()
        };
        let asked = AttemptLimits {
            memory: 1 << 30,
            timeout_ms: 2000,
            fuel: Some(5),
        };
        let limits = asked.within(&own);
        assert_eq!(limits.memory, 64 << 20);
        assert_eq!(limits.timeout, Duration::from_secs(2));
        assert_eq!(limits.fuel, Some(5));
    }
}
