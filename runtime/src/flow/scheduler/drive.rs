//! A task's life after its spawn: wait for a slot, run attempts with retries and backoff until
//! one succeeds, the retries are spent or the task is cancelled; then keep its result (budget,
//! caches), record it, and under fail-fast cancel the rest of the run.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{watch, Semaphore};

use super::{lock, CacheEntry, Scheduler, MAX_CAUSE};
use crate::bindings::tasks::TaskError;
use crate::budget::Held;
use crate::config::{FailurePolicy, Limits};
use crate::error::RunError;
use crate::flow::policy::{delay, worth_retrying, Policy};
use crate::flow::slots::Expected;
use crate::flow::task::{cancelled_error, task_error, TaskCell};
use crate::flow::{Attempt, TaskOutcome, TaskRecord};

/// Who a running task is, for its record and its cache entry.
pub(super) struct Identity {
    pub(super) key: String,
    pub(super) input_hash: String,
    pub(super) sequence: u64,
    pub(super) depth: u32,
    /// The spawning attempt's slot id: its unit is lent to this task while it joins.
    pub(super) parent: Option<u64>,
    /// The bound of its fan-out group: a permit is held (before the slot) while it runs.
    pub(super) group: Option<Arc<Semaphore>>,
    /// Its first attempt's slot claim, announced when the task became ready.
    pub(super) claim: Option<Expected>,
}

impl Scheduler {
    /// Runs a task's attempts until one succeeds, its retries are spent, or it is cancelled.
    pub(super) async fn drive(
        self: Arc<Self>,
        cell: Arc<TaskCell>,
        (input, _input_held): (String, Held),
        policy: Policy,
        id: Identity,
    ) {
        let Identity {
            key,
            input_hash,
            sequence,
            depth,
            parent,
            group,
            mut claim,
        } = id;
        let started = Instant::now();
        let mut cancel = cell.cancel.subscribe();
        let mut cancel_all = self.cancel_all.subscribe();
        let mut attempt = 0u32;
        // The cluster worker the last attempt ran on (none: in this process).
        let mut worker = None;
        let c = self.counters.clone();
        let outcome: TaskOutcome = loop {
            attempt += 1;
            // The fan-out's bound first: a task waiting for its group holds no slot.
            let permit = match &group {
                Some(bound) => match bound.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        // Waiting for its group, it is not ready: its announcement lapses.
                        claim = None;
                        tokio::select! {
                            permit = bound.clone().acquire_owned() => permit.ok(),
                            _ = flagged(&mut cancel) => break Err(cancelled_error(&cell.name, attempt - 1, "cancelled")),
                            _ = flagged(&mut cancel_all) => break Err(cancelled_error(&cell.name, attempt - 1, &format!("was cancelled before it started: {}", self.why_cancelled()))),
                        }
                    }
                },
                None => None,
            };
            let slot = tokio::select! {
                slot = self.slots.acquire(policy.priority, parent, claim.take()) => slot,
                _ = flagged(&mut cancel) => break Err(cancelled_error(&cell.name, attempt - 1, "cancelled")),
                _ = flagged(&mut cancel_all) => break Err(cancelled_error(&cell.name, attempt - 1, &format!("was cancelled before it started: {}", self.why_cancelled()))),
            };
            // An attempt never runs past the run's own timeout.
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(self.run_timed_out(&cell.name, attempt - 1));
            }
            c.queued.fetch_sub(1, Ordering::Relaxed);
            c.running.fetch_add(1, Ordering::Relaxed);
            self.emit("task-started", || serde_json::json!({ "task": cell.name, "id": sequence, "attempt": attempt, "input_hash": input_hash }));
            let limits = Limits {
                timeout: policy.timeout.min(left),
                ..self.limits.clone()
            };
            let ran_on = std::sync::OnceLock::new();
            let run = Attempt {
                scheduler: &self,
                task: &cell.name,
                input: &input,
                limits: &limits,
                depth,
                slot: slot.clone(),
                sequence,
                number: attempt,
                ran_on: &ran_on,
            };
            let result = tokio::select! {
                r = self.attempts.run_attempt(run) => Some(r),
                _ = flagged(&mut cancel) => None,
                _ = flagged(&mut cancel_all) => None,
            };
            if let Some(name) = ran_on.into_inner() {
                worker = Some(name);
            }
            drop(slot);
            drop(permit);
            c.running.fetch_sub(1, Ordering::Relaxed);
            let Some(result) = result else {
                c.queued.fetch_add(1, Ordering::Relaxed);
                let why = if *cancel_all.borrow() {
                    format!("was cancelled while it ran: {}", self.why_cancelled())
                } else {
                    "was cancelled while it ran".to_string()
                };
                break Err(cancelled_error(&cell.name, attempt, &why));
            };
            match result {
                Ok(output) => {
                    c.queued.fetch_add(1, Ordering::Relaxed);
                    break Ok(output);
                }
                Err(error) if attempt <= policy.retries && worth_retrying(&error) => {
                    let wait = delay(&policy.backoff, attempt + 1);
                    c.queued.fetch_add(1, Ordering::Relaxed);
                    c.retried.fetch_add(1, Ordering::Relaxed);
                    self.emit("task-retry", || serde_json::json!({ "task": cell.name, "id": sequence, "attempt": attempt, "error": error.to_string(), "delay_ms": wait.as_millis() as u64 }));
                    tracing::info!(task = %cell.name, attempt, error = %error, delay_ms = wait.as_millis() as u64, "task attempt failed; retrying");
                    if Instant::now() + wait >= self.deadline {
                        break Err(self.run_timed_out(&cell.name, attempt));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = flagged(&mut cancel) => break Err(cancelled_error(&cell.name, attempt, "cancelled")),
                        _ = flagged(&mut cancel_all) => break Err(cancelled_error(&cell.name, attempt, &format!("was cancelled between attempts: {}", self.why_cancelled()))),
                    }
                }
                Err(error) => {
                    c.queued.fetch_add(1, Ordering::Relaxed);
                    if let RunError::HostBug(bug) = &error {
                        self.host_bug(bug);
                    }
                    break Err(task_error(&error, attempt));
                }
            }
        };
        // A result stays with the run (in its cell, and in the memory cache when cached): it
        // counts against the run's budget like the input did.
        let outcome = match outcome {
            Ok(output) => {
                let copies = if policy.cache_ttl.is_some() { 2 } else { 1 };
                let what = format!("the result of task `{}`", cell.name);
                match self
                    .budget
                    .reserve((output.len() as u64).saturating_mul(copies), &what)
                {
                    Ok(held) => {
                        *lock(&cell.held) = held;
                        Ok(output)
                    }
                    Err(error) => Err(TaskError {
                        error,
                        attempts: attempt,
                        limit: Some("memory".into()),
                        cancelled: false,
                    }),
                }
            }
            failed => failed,
        };
        // Every path out of the loop left the task counted as queued once.
        c.queued.fetch_sub(1, Ordering::Relaxed);
        match &outcome {
            Ok(_) => {
                c.done.fetch_add(1, Ordering::Relaxed);
                self.emit("task-succeeded", || serde_json::json!({ "task": cell.name, "id": sequence, "attempts": attempt, "duration": started.elapsed().as_secs_f64() }));
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                self.emit("task-failed", || {
                    serde_json::json!({ "task": cell.name, "id": sequence, "attempts": e.attempts, "error_kind": e.error.kind.name(), "limit": e.limit, "cancelled": e.cancelled, "message": e.error.message })
                });
            }
        }
        let mut record = TaskRecord::finished(
            sequence,
            &cell.name,
            &input_hash,
            attempt,
            started.elapsed(),
            &outcome,
            &self.scrubber,
        );
        record.worker = worker;
        tracing::debug!(task = %cell.name, attempts = record.attempts, status = record.status, "task finished");
        self.record(record);
        {
            let mut cache = lock(&self.cache);
            match (&outcome, policy.cache_ttl) {
                (Ok(output), Some(ttl)) => {
                    if let Some(disk) = &self.disk {
                        // A file is output too: a result holding a secret value stays in
                        // memory only (scrubbed, it would be a different result next run).
                        if matches!(self.scrubber.scrub(output), std::borrow::Cow::Borrowed(_)) {
                            disk.put(&key, output, ttl);
                        }
                    }
                    cache.insert(
                        key,
                        CacheEntry::Done {
                            output: output.clone(),
                            until: Instant::now() + ttl,
                        },
                    );
                }
                _ => {
                    if matches!(cache.get(&key), Some(CacheEntry::Running(c)) if Arc::ptr_eq(c, &cell))
                    {
                        cache.remove(&key);
                    }
                }
            }
        }
        let mut cancel_the_rest = false;
        if let Err(e) = &outcome {
            let kind = e.error.kind.name();
            // Every cancellation repeats the cause: bounded, so a guest's huge error message
            // is not copied once per task; scrubbed first, as a cut secret would not match.
            let first = !e.cancelled
                && self.flow.failure_policy == FailurePolicy::FailFast
                && self
                    .cause
                    .set(format!(
                        "task `{}` failed: {kind}: {}",
                        cell.name,
                        self.scrubber.scrub_and_cut(&e.error.message, MAX_CAUSE)
                    ))
                    .is_ok();
            if first {
                let cause = self.cause.get().map(String::as_str).unwrap_or_default();
                tracing::warn!(task = %cell.name, error = %cause, "a task failed for good; cancelling the run's other tasks (fail-fast)");
                cancel_the_rest = true;
            }
        }
        // Settled first, cancelled after: a task waiting for this one then sees why it cannot
        // run (upstream-failed), not the cancellation it causes.
        cell.settle(outcome, &self.slots);
        if cancel_the_rest {
            self.cancel_all();
        }
    }
}

/// Resolves once the switch is on (never, if its sender is gone).
pub(crate) async fn flagged(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|on| *on).await.is_err() {
        std::future::pending::<()>().await;
    }
}
