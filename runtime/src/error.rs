//! Run failures and the exit codes they map to (documented in `aw-run --help` and README).

use std::time::Duration;

use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::config::{ConfigError, FailurePolicy};
use crate::secrets::SecretError;

/// A limit that stopped a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum LimitHit {
    /// Linear memory would have grown past `limit` bytes.
    Memory { limit: u64, desired: u64 },
    /// The wall-clock timeout passed.
    Timeout {
        #[serde(serialize_with = "crate::seconds::serialize")]
        limit: Duration,
    },
    /// The fuel budget ran out.
    Fuel { limit: u64 },
    /// One host call's arguments were more than `limit` bytes.
    HostCall { limit: u64 },
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitHit::Memory { limit, desired } => write!(
                f,
                "memory limit exceeded: the guest tried to grow its memory to {} with a limit of {} (raise --memory or limits.memory)",
                human_bytes(*desired),
                human_bytes(*limit)
            ),
            LimitHit::Timeout { limit } => {
                write!(f, "timeout exceeded: the run took longer than {limit:?} (raise --timeout or limits.timeout)")
            }
            LimitHit::Fuel { limit } => {
                write!(f, "fuel exhausted: the guest used all {limit} units of fuel (raise --fuel or limits.fuel)")
            }
            LimitHit::HostCall { limit } => write!(
                f,
                "host-call limit exceeded: the guest passed more than {} to one host call (the task's memory limit, at most 128 MiB); pass data in smaller pieces",
                human_bytes(*limit)
            ),
        }
    }
}

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Usage(String),
    #[error("config error: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Limit(LimitHit),
    #[error("guest trapped: {0}")]
    Trap(String),
    #[error("{0}")]
    BadComponent(String),
    /// The error the guest's `run` (or a task's `run-task`) returned.
    #[error("task failed ({}): {}", .0.kind.name(), .0.message)]
    Guest(ConnectorError),
    /// Tasks of a flow failed for good, and the run's failure policy (`fail_fast` or
    /// `aggregate`) makes that the run's failure, whatever the flow did with them.
    #[error("{}", tasks_failed(*.policy, .failures, .flow_error.as_deref()))]
    TasksFailed {
        policy: FailurePolicy,
        /// Every task that failed for good, in spawn order (each message already scrubbed and
        /// cut, as in the task records).
        failures: Vec<FailedTask>,
        /// The flow's own error, when it failed too (aggregate).
        flow_error: Option<String>,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// The host itself failed while serving the guest (a panic, a broken invariant): not the
    /// guest's fault, and not a trap. The run is stopped; what it had open is rolled back.
    #[error("aw-run hit a bug while serving the guest (not the guest's fault): {0}. Please report it, with this message and the command that ran")]
    HostBug(String),
    /// Ctrl-C or SIGTERM: the run was cancelled; what it had open was rolled back, except a
    /// commit already on its way to the server, whose outcome is unknown.
    #[error("interrupted: the run was cancelled (running statements were sent cancel requests, open transactions rolled back, unfinished uploads discarded; a commit already sent may have completed)")]
    Interrupted,
}

impl RunError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Guest(e) if e.kind == ErrorKind::Denied => 3,
            RunError::Guest(_) | RunError::TasksFailed { .. } => 1,
            RunError::Usage(_) | RunError::Config(_) | RunError::Secret(_) => 2,
            RunError::Denied(_) => 3,
            RunError::Limit(_) => 4,
            RunError::Trap(_) => 5,
            RunError::BadComponent(_) => 6,
            RunError::Internal(_) | RunError::HostBug(_) => 70,
            RunError::Interrupted => 130,
        }
    }

    /// A short machine-readable name for the report's `status`.
    pub fn status(&self) -> &'static str {
        match self {
            RunError::Guest(e) if e.kind == ErrorKind::Denied => "denied",
            RunError::Guest(_) => "error",
            RunError::TasksFailed { .. } => "task-failed",
            RunError::Usage(_) => "usage-error",
            RunError::Config(_) | RunError::Secret(_) => "config-error",
            RunError::Denied(_) => "denied",
            RunError::Limit(_) => "limit-exceeded",
            RunError::Trap(_) => "trapped",
            RunError::BadComponent(_) => "invalid-component",
            RunError::Internal(_) => "internal-error",
            RunError::HostBug(_) => "host-bug",
            RunError::Interrupted => "interrupted",
        }
    }
}

/// A task of a flow that failed for good, as a run error lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FailedTask {
    /// The task's id in the run's task graph (its spawn sequence).
    pub id: u64,
    pub task: String,
    /// The error kind of its last attempt, its message and its code (SQLSTATE, Azure code).
    pub kind: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// How many failures a run error's message spells out in full; the rest are named only (the
/// report has them all).
const FAILURES_IN_FULL: usize = 5;

fn tasks_failed(
    policy: FailurePolicy,
    failures: &[FailedTask],
    flow_error: Option<&str>,
) -> String {
    use std::fmt::Write;
    let name = |f: &FailedTask| format!("`{}` (id {})", f.task, f.id);
    let full = |f: &FailedTask| format!("{}: {}: {}", name(f), f.kind, f.message);
    let mut text = match (policy, failures) {
        (FailurePolicy::FailFast, [first, rest @ ..]) => {
            let mut t = format!("task {} failed: {}: {} (failure policy fail_fast: a task that fails for good fails the run, joined or not; --failure-policy continue lets the flow handle it)", name(first), first.kind, first.message);
            if !rest.is_empty() {
                let others: Vec<String> = rest.iter().map(name).collect();
                let _ = write!(t, "; also failed: {}", others.join(", "));
            }
            t
        }
        _ => {
            let mut t = format!(
                "{} task(s) failed (failure policy {}; the tasks that depend on them did not run): ",
                failures.len(),
                policy.name()
            );
            let shown: Vec<String> = failures.iter().take(FAILURES_IN_FULL).map(full).collect();
            t.push_str(&shown.join("; "));
            if failures.len() > FAILURES_IN_FULL {
                let others: Vec<String> = failures[FAILURES_IN_FULL..].iter().map(name).collect();
                let _ = write!(t, "; and {}", others.join(", "));
            }
            t
        }
    };
    if let Some(flow) = flow_error {
        let _ = write!(text, "; the flow itself failed too: {flow}");
    }
    text
}

/// A host function's failure that is the host's fault, returned as the function's trap so
/// the run reports it as a host bug (exit 70) rather than a guest trap.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostBug(pub String);

impl HostBug {
    /// The host bug a caught panic stands for, with the panic's message.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> HostBug {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        HostBug(format!("a host function panicked: {message}"))
    }
}

/// `67108864` -> `64 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(id: u64) -> FailedTask {
        FailedTask {
            id,
            task: format!("t{id}"),
            kind: "permanent".into(),
            message: format!("m{id}"),
            code: None,
        }
    }

    #[test]
    fn a_tasks_failed_error_names_every_failure_and_spells_out_the_first_five() {
        let failures: Vec<FailedTask> = (0..7).map(failed).collect();
        let error = RunError::TasksFailed {
            policy: FailurePolicy::Aggregate,
            failures: failures.clone(),
            flow_error: Some("the flow's own".into()),
        };
        let text = error.to_string();
        assert!(
            text.starts_with("7 task(s) failed (failure policy aggregate"),
            "{text}"
        );
        assert!(
            text.contains("`t4` (id 4): permanent: m4") && !text.contains("m5"),
            "{text}"
        );
        assert!(text.contains("; and `t5` (id 5), `t6` (id 6)"), "{text}");
        assert!(
            text.ends_with("; the flow itself failed too: the flow's own"),
            "{text}"
        );
        assert_eq!((error.exit_code(), error.status()), (1, "task-failed"));

        let error = RunError::TasksFailed {
            policy: FailurePolicy::FailFast,
            failures: failures[..2].to_vec(),
            flow_error: None,
        };
        let text = error.to_string();
        assert!(
            text.starts_with("task `t0` (id 0) failed: permanent: m0 (failure policy fail_fast"),
            "{text}"
        );
        assert!(text.ends_with("; also failed: `t1` (id 1)"), "{text}");
    }

    #[test]
    fn failure_policies_read_the_packages_names() {
        for (text, policy) in [
            ("fail_fast", FailurePolicy::FailFast),
            ("fail-fast", FailurePolicy::FailFast),
            (" Continue ", FailurePolicy::Continue),
            ("aggregate", FailurePolicy::Aggregate),
        ] {
            assert_eq!(FailurePolicy::parse(text), Some(policy), "{text}");
        }
        assert_eq!(FailurePolicy::parse("stop"), None);
        assert_eq!(FailurePolicy::default().name(), "fail_fast");
    }
}
