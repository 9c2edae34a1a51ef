//! Spawns that wait for other tasks: a future passed as an argument. The spawn returns at
//! once; the task waits (holding no slot) until every task it depends on has settled, then
//! starts with their results in its input, or fails without running when one of them failed.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::drive::flagged;
use super::Scheduler;
use crate::bindings::connector_error;
use crate::bindings::tasks::{TaskError, TaskOptions};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::Held;
use crate::flow::policy::Policy;
use crate::flow::task::{cancelled_error, short_hash, TaskCell};
use crate::flow::{TaskOutcome, TaskRecord, MAX_CAUSE};

/// The key of the objects that stand for a dependency's result: `{"$aw-dep": 0}`.
pub const DEP_KEY: &str = "$aw-dep";

/// Where a task waiting for its dependencies is, for the record it leaves if it never starts.
struct Queued {
    name: String,
    policy: Policy,
    depth: u32,
    parent: Option<u64>,
    sequence: u64,
    input_hash: String,
}

impl Scheduler {
    /// Queues task `name` behind `after`; `input` holds `{"$aw-dep": i}` for the result of
    /// `after[i]`. Checked now (name, depth, limits, the placeholders), so a bad spawn fails at
    /// the call, as `spawn` does.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_after(
        self: &Arc<Self>,
        name: String,
        input: String,
        options: Option<TaskOptions>,
        depth: u32,
        parent: Option<u64>,
        after: Vec<Arc<TaskCell>>,
    ) -> Result<Arc<TaskCell>, ConnectorError> {
        let policy = self.admit(&name, options.as_ref(), depth)?;
        let template: Value = serde_json::from_str(&input).map_err(|e| {
            connector_error(
                ErrorKind::InvalidInput,
                format!("the input of task `{name}` is not JSON: {e}"),
            )
        })?;
        check_placeholders(&template, after.len(), &name)?;
        self.count_spawn(&name)?;
        // The input waits in the scheduler with the task: it counts against the run's budget.
        let input_held = self
            .budget
            .reserve(input.len() as u64, &format!("the input of task `{name}`"))?;
        let sequence = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cell = Arc::new(TaskCell {
            name: name.clone(),
            result: tokio::sync::watch::Sender::new(None),
            cancel: tokio::sync::watch::Sender::new(false),
            held: std::sync::Mutex::new(Held::default()),
            parent,
        });
        super::lock(&self.cells).push(cell.clone());
        let queued = Queued {
            name,
            policy,
            depth,
            parent,
            sequence,
            input_hash: short_hash(&input),
        };
        let scheduler = self.clone();
        let waiting = cell.clone();
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let outcome = scheduler
                    .wait_then_run(&waiting, after, template, queued, input_held)
                    .await;
                waiting.result.send_replace(Some(outcome));
            },
            span,
        ));
        Ok(cell)
    }

    /// Waits for the dependencies, then runs the task (or fails it unstarted).
    async fn wait_then_run(
        self: &Arc<Self>,
        cell: &TaskCell,
        after: Vec<Arc<TaskCell>>,
        mut template: Value,
        queued: Queued,
        input_held: Held,
    ) -> TaskOutcome {
        let waited = Instant::now();
        let mut cancel = cell.cancel.subscribe();
        let mut cancel_all = self.cancel_all.subscribe();
        let mut results = Vec::with_capacity(after.len());
        for dep in &after {
            let outcome = tokio::select! {
                outcome = dep.join() => outcome,
                _ = flagged(&mut cancel) => return self.unstarted(&queued, waited, cancelled_error(&cell.name, 0, "cancelled")),
                _ = flagged(&mut cancel_all) => return self.unstarted(&queued, waited, cancelled_error(&cell.name, 0, &format!("was cancelled before it started: {}", self.why_cancelled()))),
            };
            match outcome {
                Ok(text) => results.push(text),
                Err(failed) => {
                    let error = connector_error(
                        ErrorKind::Permanent,
                        format!(
                            "task `{}` did not run: its input depends on task `{}`, which failed: {}",
                            cell.name,
                            dep.name,
                            self.scrubber.scrub_and_cut(&failed.error.message, MAX_CAUSE)
                        ),
                    );
                    let upstream = TaskError {
                        error,
                        attempts: 0,
                        limit: None,
                        cancelled: failed.cancelled,
                    };
                    return self.unstarted(&queued, waited, upstream);
                }
            }
        }
        if let Err(error) = fill(&mut template, &results, &cell.name) {
            return self.unstarted(&queued, waited, unstarted_error(error));
        }
        drop(results);
        let input = template.to_string();
        drop(template);
        drop(input_held);
        let started = self.start(
            queued.name.clone(),
            input,
            queued.policy.clone(),
            queued.depth,
            queued.parent,
            queued.sequence,
            true,
        );
        let task = match started {
            Ok(task) => task,
            Err(error) => return self.unstarted(&queued, waited, unstarted_error(error)),
        };
        tokio::select! {
            outcome = task.join() => outcome,
            _ = flagged(&mut cancel) => {
                task.cancel();
                task.join().await
            }
        }
    }

    /// Records, counts and reports a task that never started.
    fn unstarted(&self, queued: &Queued, since: Instant, error: TaskError) -> TaskOutcome {
        let outcome = Err(error);
        let mut record = TaskRecord::finished(
            queued.sequence,
            &queued.name,
            &queued.input_hash,
            0,
            since.elapsed(),
            &outcome,
            &self.scrubber,
        );
        if record.status == "failed" {
            record.status = "upstream-failed";
        }
        self.counters
            .failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = &outcome {
            self.emit("task-failed", || {
                serde_json::json!({ "task": queued.name, "attempts": 0, "error_kind": e.error.kind.name(), "cancelled": e.cancelled, "message": e.error.message, "upstream": true })
            });
        }
        self.record(record);
        outcome
    }
}

fn unstarted_error(error: ConnectorError) -> TaskError {
    TaskError {
        error,
        attempts: 0,
        limit: None,
        cancelled: false,
    }
}

/// Whether `value` is a placeholder, and for which dependency.
fn placeholder(value: &Value) -> Option<Option<usize>> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let index = object.get(DEP_KEY)?;
    Some(index.as_u64().and_then(|i| usize::try_from(i).ok()))
}

/// Every placeholder in `value` names one of the `count` dependencies.
fn check_placeholders(value: &Value, count: usize, task: &str) -> Result<(), ConnectorError> {
    match placeholder(value) {
        Some(Some(i)) if i < count => Ok(()),
        Some(_) => Err(connector_error(
            ErrorKind::InvalidInput,
            format!("the input of task `{task}` refers to a result (`{DEP_KEY}`) that is not one of the {count} task(s) it waits for"),
        )),
        None => match value {
            Value::Array(items) => items
                .iter()
                .try_for_each(|v| check_placeholders(v, count, task)),
            Value::Object(fields) => fields
                .values()
                .try_for_each(|v| check_placeholders(v, count, task)),
            _ => Ok(()),
        },
    }
}

/// Replaces every placeholder in `value` with its dependency's result (JSON text).
fn fill(value: &mut Value, results: &[String], task: &str) -> Result<(), ConnectorError> {
    if let Some(Some(i)) = placeholder(value) {
        let text = results.get(i).ok_or_else(|| {
            connector_error(
                ErrorKind::InvalidInput,
                format!("task `{task}`: no result {i}"),
            )
        })?;
        *value = serde_json::from_str(text).map_err(|e| {
            connector_error(
                ErrorKind::InvalidInput,
                format!("task `{task}` did not run: the result it depends on is not JSON: {e}"),
            )
        })?;
        return Ok(());
    }
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| fill(v, results, task)),
        Value::Object(fields) => fields.values_mut().try_for_each(|v| fill(v, results, task)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_checked_and_filled_at_any_depth() {
        let mut v: Value = serde_json::from_str(
            r#"{"a": {"$aw-dep": 1}, "b": [{"$aw-dep": 0}, {"$aw-dep": 0, "x": 1}]}"#,
        )
        .unwrap();
        assert!(check_placeholders(&v, 2, "t").is_ok());
        assert!(check_placeholders(&v, 1, "t").is_err());
        assert!(check_placeholders(&serde_json::json!({"$aw-dep": "0"}), 1, "t").is_err());
        fill(&mut v, &["[1,2]".into(), "\"s\"".into()], "t").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": "s", "b": [[1, 2], {"$aw-dep": 0, "x": 1}]})
        );
        assert!(fill(
            &mut serde_json::json!({"$aw-dep": 0}),
            &["not json".into()],
            "t"
        )
        .is_err());
    }
}
