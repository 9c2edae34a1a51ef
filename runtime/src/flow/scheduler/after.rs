//! Spawns that wait for other tasks: a future passed as an argument. The spawn returns at
//! once; the task waits (holding no slot) until every task it depends on has settled, then
//! starts with their results in its input. Tasks freed by the same settle compete for slots
//! by priority, then in spawn order (see `flow::slots`). When one of them failed, it does not run
//! (`upstream-failed`), except under the `continue` failure policy, where the failure takes
//! the result's place.
//!
//! Placeholders are found by scanning the input's JSON text, never by building a value tree:
//! a tree costs many times the text, and the text may be as large as a host call allows. The
//! filled input's size is reserved in the run's budget before it is built, so a placeholder
//! repeated a million times is refused, not copied.

use std::sync::Arc;
use std::time::Instant;

use serde::de::IgnoredAny;

use super::drive::flagged;
use super::Scheduler;
use crate::bindings::connector_error;
use crate::bindings::tasks::{TaskError, TaskOptions};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::Held;
use crate::config::FailurePolicy;
use crate::flow::policy::Policy;
use crate::flow::task::{cancelled_error, short_hash, Readiness, TaskCell};
use crate::flow::{TaskOutcome, TaskRecord, MAX_CAUSE};

/// The key of the objects that stand for a dependency's result: `{"$aw-dep": 0}`.
pub const DEP_KEY: &str = "$aw-dep";

/// The key of the object that stands for a failed dependency's result under the `continue`
/// failure policy: `{"$aw-error": {"task": .., "kind": .., "message": .., ...}}`.
pub const ERROR_KEY: &str = "$aw-error";

/// The key as it appears in JSON text (written as is: the SDKs never escape it).
const KEY_TOKEN: &[u8] = b"\"$aw-dep\"";

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
        serde_json::from_str::<IgnoredAny>(&input).map_err(|e| {
            connector_error(
                ErrorKind::InvalidInput,
                format!("the input of task `{name}` is not JSON: {e}"),
            )
        })?;
        let count = after.len();
        for_each_placeholder(&input, &name, |p| {
            if p.index < count {
                Ok(())
            } else {
                Err(connector_error(
                    ErrorKind::InvalidInput,
                    format!("the input of task `{name}` refers to result {} (`{DEP_KEY}`), but it waits for {count} task(s)", p.index),
                ))
            }
        })?;
        self.count_spawn(&name)?;
        // The input waits in the scheduler with the task: it counts against the run's budget.
        let input_held = self
            .budget
            .reserve(input.len() as u64, &format!("the input of task `{name}`"))?;
        let sequence = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.join_group(sequence, &policy);
        let cell = TaskCell::new(&name, sequence, parent);
        super::lock(&self.cells).push(cell.clone());
        let ids: Vec<u64> = after.iter().map(|dep| dep.id).collect();
        self.queued(&name, sequence, &ids, &policy);
        super::lock(&self.edges).insert(sequence, ids);
        let queued = Queued {
            name,
            policy,
            depth,
            parent,
            sequence,
            input_hash: short_hash(&input),
        };
        let readiness = Readiness::behind(&after, &self.slots);
        let scheduler = self.clone();
        let waiting = cell.clone();
        self.spawn_settling(&cell, async move {
            let outcome = scheduler
                .wait_then_run(&waiting, readiness, after, input, queued, input_held)
                .await;
            waiting.settle(outcome, &scheduler.slots);
        });
        Ok(cell)
    }

    /// Waits for the dependencies, then runs the task (or fails it unstarted).
    async fn wait_then_run(
        self: &Arc<Self>,
        cell: &TaskCell,
        readiness: Arc<Readiness>,
        after: Vec<Arc<TaskCell>>,
        template: String,
        queued: Queued,
        input_held: Held,
    ) -> TaskOutcome {
        let waited = Instant::now();
        let mut cancel = cell.cancel.subscribe();
        let mut cancel_all = self.cancel_all.subscribe();
        let claim = tokio::select! {
            biased;
            claim = readiness.wait() => claim,
            _ = flagged(&mut cancel) => return self.unstarted(&queued, waited, cancelled_error(&cell.name, 0, "cancelled"), false),
            _ = flagged(&mut cancel_all) => return self.unstarted(&queued, waited, cancelled_error(&cell.name, 0, &format!("was cancelled before it started: {}", self.why_cancelled())), false),
        };
        for dep in &after {
            let outcome = dep.result.borrow();
            if let Some(Err(failed)) = outcome.as_ref() {
                // Under `continue` the task runs with the failure in place of the result.
                if self.flow.failure_policy != FailurePolicy::Continue {
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
                    drop(outcome);
                    return self.unstarted(&queued, waited, upstream, true);
                }
            }
        }
        drop(input_held);
        let filled = {
            // Read in place: the results stay where the run keeps them (and counts them).
            let outcomes: Vec<_> = after.iter().map(|dep| dep.result.borrow()).collect();
            let failures: Vec<Option<String>> = outcomes
                .iter()
                .zip(&after)
                .map(|(o, dep)| match o.as_ref() {
                    Some(Err(failed)) => Some(self.failure_value(dep, failed)),
                    _ => None,
                })
                .collect();
            let results: Vec<&str> = outcomes
                .iter()
                .zip(&failures)
                .map(|(o, failure)| match (o.as_ref(), failure) {
                    (Some(Ok(text)), _) => text.as_str(),
                    (_, Some(failure)) => failure.as_str(),
                    _ => "null",
                })
                .collect();
            self.fill(&template, &results, &cell.name)
        };
        let (input, held) = match filled {
            Ok(filled) => filled,
            Err(error) => return self.unstarted(&queued, waited, unstarted_error(error), false),
        };
        drop(template);
        let started = self.start(
            queued.name.clone(),
            input,
            queued.policy.clone(),
            queued.depth,
            queued.parent,
            queued.sequence,
            Some(held),
            claim,
        );
        let task = match started {
            Ok(task) => task,
            Err(error) => return self.unstarted(&queued, waited, unstarted_error(error), false),
        };
        tokio::select! {
            outcome = task.join() => outcome,
            _ = flagged(&mut cancel) => {
                task.cancel();
                task.join().await
            }
        }
    }

    /// What stands in for a failed dependency's result under `continue`: the failure as JSON,
    /// `{"$aw-error": {...}}`, which the SDKs turn into their task error (Python's
    /// `TaskExecutionError`). Its message is scrubbed and cut like a task record's.
    fn failure_value(&self, dep: &TaskCell, failed: &TaskError) -> String {
        serde_json::json!({ ERROR_KEY: {
            "task": dep.name,
            "id": dep.id,
            "kind": failed.error.kind.name(),
            "message": self.scrubber.scrub_and_cut(&failed.error.message, MAX_CAUSE),
            "code": failed.error.code,
            "attempts": failed.attempts,
            "limit": failed.limit,
            "cancelled": failed.cancelled,
        }})
        .to_string()
    }

    /// Records, counts and reports a task that never started; `upstream`: because a task it
    /// depends on failed.
    fn unstarted(
        &self,
        queued: &Queued,
        since: Instant,
        error: TaskError,
        upstream: bool,
    ) -> TaskOutcome {
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
        if upstream && record.status == "failed" {
            record.status = "upstream-failed";
        }
        self.counters
            .failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = &outcome {
            self.emit("task-failed", || {
                serde_json::json!({ "task": queued.name, "id": queued.sequence, "attempts": 0, "error_kind": e.error.kind.name(), "cancelled": e.cancelled, "message": e.error.message, "upstream": upstream })
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

/// A placeholder's bytes in the input text and the dependency it stands for.
struct Placeholder {
    start: usize,
    end: usize,
    index: usize,
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// Calls `each` for every placeholder of `text` (valid JSON), in order. An object whose first
/// key is `$aw-dep` must be a placeholder: that key with a whole number and nothing else.
fn for_each_placeholder(
    text: &str,
    task: &str,
    mut each: impl FnMut(Placeholder) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    let b = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < b.len() {
        match (in_string, b[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{') => {
                let key = skip_ws(b, i + 1);
                if b[key..].starts_with(KEY_TOKEN) {
                    // Valid JSON: a colon follows the key.
                    let value = skip_ws(b, skip_ws(b, key + KEY_TOKEN.len()) + 1);
                    let digits = b
                        .get(value..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|d| d.is_ascii_digit())
                        .count();
                    let close = skip_ws(b, value + digits);
                    let index = if digits > 0 && b.get(close) == Some(&b'}') {
                        text[value..value + digits].parse::<usize>().ok()
                    } else {
                        None
                    };
                    let Some(index) = index else {
                        return Err(connector_error(
                            ErrorKind::InvalidInput,
                            format!("the input of task `{task}` has an object with the reserved key `{DEP_KEY}` that is not a placeholder ({{\"{DEP_KEY}\": <index>}} and nothing else)"),
                        ));
                    };
                    each(Placeholder {
                        start: i,
                        end: close + 1,
                        index,
                    })?;
                    i = close;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// `template` with every placeholder replaced by its dependency's result (JSON text).
fn filled(
    template: &str,
    results: &[&str],
    task: &str,
    size: usize,
) -> Result<String, ConnectorError> {
    let mut out = String::with_capacity(size);
    let mut from = 0;
    for_each_placeholder(template, task, |p| {
        out.push_str(&template[from..p.start]);
        let result = results.get(p.index).ok_or_else(|| {
            connector_error(
                ErrorKind::InvalidInput,
                format!("task `{task}`: no result {}", p.index),
            )
        })?;
        out.push_str(result);
        from = p.end;
        Ok(())
    })?;
    out.push_str(&template[from..]);
    Ok(out)
}

impl Scheduler {
    /// The task's whole input, its size reserved in the run's budget before it is built.
    fn fill(
        &self,
        template: &str,
        results: &[&str],
        task: &str,
    ) -> Result<(String, Held), ConnectorError> {
        for (i, result) in results.iter().enumerate() {
            serde_json::from_str::<IgnoredAny>(result).map_err(|e| {
                connector_error(
                    ErrorKind::InvalidInput,
                    format!("task `{task}` did not run: result {i} it depends on is not JSON: {e}"),
                )
            })?;
        }
        let mut size = template.len();
        for_each_placeholder(template, task, |p| {
            let result = results.get(p.index).map_or(0, |r| r.len());
            size = size.saturating_sub(p.end - p.start).saturating_add(result);
            Ok(())
        })?;
        let held = self.budget.reserve(
            size as u64,
            &format!("the input of task `{task}` with the results it depends on"),
        )?;
        Ok((filled(template, results, task, size)?, held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(text: &str) -> Result<Vec<usize>, ConnectorError> {
        let mut found = Vec::new();
        for_each_placeholder(text, "t", |p| {
            found.push(p.index);
            Ok(())
        })?;
        Ok(found)
    }

    #[test]
    fn placeholders_are_found_in_the_text_outside_strings_at_any_depth() {
        let text = r#"{"a": {"$aw-dep": 1}, "b": [{ "$aw-dep" :0 }, "{\"$aw-dep\": 5}", {"x": "\\"}, {"$aw-dep":0}]}"#;
        assert_eq!(indices(text).unwrap(), vec![1, 0, 0]);
        let results = ["[1,2]", "\"s\""];
        let out = filled(text, &results, "t", 0).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": "s", "b": [[1, 2], "{\"$aw-dep\": 5}", {"x": "\\"}, [1, 2]]})
        );
        for bad in [
            r#"{"$aw-dep": "0"}"#,
            r#"{"$aw-dep": 0, "x": 1}"#,
            r#"{"$aw-dep": 0.5}"#,
            r#"{"$aw-dep": -1}"#,
        ] {
            assert!(indices(bad).is_err(), "{bad}");
        }
        assert_eq!(
            indices(r#"{"x": {"$aw-dep": 2}, "$aw-dep": 1}"#).unwrap(),
            vec![2]
        );
    }
}
