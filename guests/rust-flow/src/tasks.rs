//! Spawning and joining tasks from a flow (or from a task: tasks may spawn tasks, up to the
//! run's spawn depth).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::auto_workflow::connectors::tasks as wit;
use aw_guest::{Error, ErrorKind, Result};

pub use wit::{Backoff, TaskError, TaskHandle, TaskOptions, TaskSpec};

/// Task options, built up from "everything default".
#[derive(Debug, Clone, Default)]
pub struct Options(TaskOptions);

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions { retries: None, backoff: None, timeout_ms: None, cache_ttl_ms: None, cache_key: None, priority: None }
    }
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }

    /// Further attempts after the first, for retryable failures.
    pub fn retries(mut self, n: u32) -> Options {
        self.0.retries = Some(n);
        self
    }

    /// Delay before attempt n+1: `base_ms * factor^(n-1)`, at most `max_ms`, jittered or not.
    pub fn backoff(mut self, base_ms: u32, factor: f32, max_ms: u32, jitter: bool) -> Options {
        self.0.backoff = Some(Backoff { base_ms, factor, max_ms, jitter });
        self
    }

    /// Wall-clock limit of one attempt.
    pub fn timeout_ms(mut self, ms: u64) -> Options {
        self.0.timeout_ms = Some(ms);
        self
    }

    /// Reuse a successful result of an identical spawn for this long.
    pub fn cache_ttl_ms(mut self, ms: u64) -> Options {
        self.0.cache_ttl_ms = Some(ms);
        self
    }

    /// The cache key (default: a hash of the component, the task name and the input).
    pub fn cache_key(mut self, key: &str) -> Options {
        self.0.cache_key = Some(key.to_string());
        self
    }

    /// Among tasks waiting for a slot, higher runs first.
    pub fn priority(mut self, p: i32) -> Options {
        self.0.priority = Some(p);
        self
    }
}

#[doc(hidden)]
pub fn __spec(name: &str, options: Options) -> TaskSpec {
    TaskSpec { name: name.to_string(), description: None, options: options.0 }
}

/// A spawned task.
pub struct Task(TaskHandle);

/// Queues task `name` with `input` (serialized to JSON).
pub fn spawn(name: &str, input: &impl Serialize, options: Options) -> Result<Task> {
    let input = serde_json::to_string(input).map_err(|e| Error::invalid_input(format!("cannot encode the input of task `{name}`: {e}")))?;
    Ok(Task(wit::spawn(name, &input, Some(&options.0))?))
}

impl Task {
    /// Waits for the task's result.
    pub fn join<T: DeserializeOwned>(&self) -> Result<T> {
        decode(&self.name(), self.0.join())
    }

    /// Cancels the task if it has not finished.
    pub fn cancel(&self) {
        self.0.cancel()
    }

    pub fn name(&self) -> String {
        self.0.name()
    }

    /// The raw outcome, with the attempt count and limit of a failure.
    pub fn join_raw(&self) -> std::result::Result<String, TaskError> {
        self.0.join()
    }
}

/// Waits for every task; after all have settled, the first failure (in order) that is not a
/// cancellation, else the first cancellation: a fail-fast's cause, not a sibling it stopped.
pub fn join_all<T: DeserializeOwned>(tasks: &[Task]) -> Result<Vec<T>> {
    let handles: Vec<&TaskHandle> = tasks.iter().map(|t| &t.0).collect();
    let outcomes = wit::join_all(&handles);
    let cause = outcomes.iter().position(|o| matches!(o, Err(e) if !e.cancelled));
    let mut decoded: Vec<Result<T>> = tasks.iter().zip(outcomes).map(|(t, o)| decode(&t.name(), o)).collect();
    if let Some(i) = cause {
        return Err(decoded.swap_remove(i).err().unwrap_or_else(|| Error::permanent("a task failed")));
    }
    decoded.into_iter().collect()
}

/// Every task's outcome, failures included.
pub fn join_all_raw(tasks: &[Task]) -> Vec<std::result::Result<String, TaskError>> {
    let handles: Vec<&TaskHandle> = tasks.iter().map(|t| &t.0).collect();
    wit::join_all(&handles)
}

fn decode<T: DeserializeOwned>(name: &str, outcome: std::result::Result<String, TaskError>) -> Result<T> {
    match outcome {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::permanent(format!("task `{name}` returned something unexpected: {e}"))),
        Err(e) => Err(Error {
            kind: if e.cancelled { ErrorKind::Permanent } else { e.error.kind },
            message: format!("task `{name}` failed after {} attempt(s): {}", e.attempts, e.error.message),
            code: e.error.code,
            retryable: e.error.retryable,
        }),
    }
}
