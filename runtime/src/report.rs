//! The `--json` run report: status, result or error, duration, limits and what was used.

use std::time::Duration;

use serde::Serialize;

use crate::config::Limits;
use crate::engine::cache::CacheOutcome;
use crate::error::RunError;
use crate::redact::Scrubber;
use crate::run::Usage;

/// One run, as printed by `aw-run --json`.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// `ok`, `error`, `denied`, `limit-exceeded`, `trapped`, `invalid-component`, ...
    pub status: &'static str,
    pub exit_code: i32,
    pub component: String,
    pub profile: String,
    /// The guest's result, parsed as JSON when it is JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportError>,
    pub limits: ReportLimits,
    /// A flow's tasks, one record each (name, input hash, attempts, status, duration, cached,
    /// error kind); empty for a task.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<crate::flow::TaskRecord>,
    pub usage: Usage,
    pub cache: CacheOutcome,
}

/// The error part of a report.
#[derive(Debug, Serialize)]
pub struct ReportError {
    pub kind: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<crate::error::LimitHit>,
    /// The tasks whose failure failed the run (failure policies `fail_fast`, `aggregate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<crate::error::FailedTask>,
}

/// The limits the run had.
#[derive(Debug, Serialize)]
pub struct ReportLimits {
    pub memory: u64,
    #[serde(serialize_with = "crate::seconds::serialize")]
    pub timeout: Duration,
    pub fuel: Option<u64>,
}

impl ReportLimits {
    pub fn new(limits: &Limits) -> Self {
        ReportLimits {
            memory: limits.memory,
            timeout: limits.timeout,
            fuel: limits.fuel,
        }
    }
}

impl ReportError {
    /// The report form of a run error, scrubbed of secret values.
    pub fn new(error: &RunError, scrubber: &Scrubber) -> Self {
        let (kind, code, retryable, limit) = match error {
            RunError::Guest(g) => (g.kind.name().to_string(), g.code.clone(), g.retryable, None),
            RunError::Limit(hit) => ("limit".to_string(), None, false, Some(hit.clone())),
            other => (other.status().to_string(), None, false, None),
        };
        let message = match error {
            RunError::Guest(g) => g.message.clone(),
            other => other.to_string(),
        };
        ReportError {
            kind,
            message: scrubber.scrub(&message).into_owned(),
            code: code.map(|c| scrubber.scrub(&c).into_owned()),
            retryable,
            limit,
            failures: match error {
                RunError::TasksFailed { failures, .. } => failures.clone(),
                _ => Vec::new(),
            },
        }
    }
}
