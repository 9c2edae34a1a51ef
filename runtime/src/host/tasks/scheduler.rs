//! The scheduler of one flow run: spawned tasks wait for a concurrency slot (higher priority
//! first), each attempt runs in a fresh instance with its own limits, failed attempts are
//! retried per the task's policy, identical spawns share one execution (and, within a TTL,
//! one cached result), and every task leaves a record for the run report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::Instrument;

use super::disk_cache::DiskCache;
use super::observe::{Counters, EventLog};
use super::policy::{delay, worth_retrying, Policy};
use super::slots::Slots;
use super::{TaskOutcome, TaskRecord};
use crate::config::Limits;
use crate::engine::cache::hex;
use crate::error::{LimitHit, RunError};
use crate::host::bindings::tasks::{TaskError, TaskOptions};
use crate::host::bindings::types::{ConnectorError, ErrorKind};
use crate::host::budget::{Budget, Held};
use crate::host::connector_error;
use crate::run::{kind_from_name, Attempts};

/// What the scheduler of a run may do, from the run profile and the CLI.
#[derive(Debug, Clone)]
pub struct FlowLimits {
    /// Tasks running at once.
    pub max_tasks: usize,
    /// Tasks a run may spawn in all (retries and cache hits not counted).
    pub max_total_tasks: u64,
    /// How deep tasks may spawn tasks (the flow itself is depth 0).
    pub max_depth: u32,
    /// Retries a task may have, whatever it asks for.
    pub max_retries: u32,
    /// Cancel everything once one task has failed for good.
    pub fail_fast: bool,
}

/// One task: its result once settled, and its cancel switch.
pub struct TaskCell {
    pub name: String,
    result: watch::Sender<Option<TaskOutcome>>,
    cancel: watch::Sender<bool>,
    /// The run's budget bytes its result holds while the run keeps it.
    held: Mutex<Held>,
    /// The slot id of the attempt that spawned it (none: the flow, or a cache hit).
    pub parent: Option<u64>,
}

impl TaskCell {
    /// Waits for the task to settle.
    pub async fn join(&self) -> TaskOutcome {
        let mut rx = self.result.subscribe();
        loop {
            if let Some(outcome) = rx.borrow_and_update().clone() {
                return outcome;
            }
            if rx.changed().await.is_err() {
                return Err(cancelled_error(&self.name, 0, "the run ended"));
            }
        }
    }

    /// Whether the task has settled already.
    pub fn is_settled(&self) -> bool {
        self.result.borrow().is_some()
    }

    /// Asks the task to stop; a settled task is not affected.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }
}

/// The most bytes of a failure's message that a fail-fast cause keeps (each cancellation
/// repeats it) and that a task record keeps.
pub const MAX_CAUSE: usize = 4096;

/// A run's scheduler. Shared by the flow's instance and every task instance it spawns.
pub struct Scheduler {
    attempts: Attempts,
    declared: HashMap<String, TaskOptions>,
    limits: Limits,
    flow: FlowLimits,
    slots: Arc<Slots>,
    spawned: AtomicU64,
    sequence: AtomicU64,
    /// The whole run is being cancelled (fail-fast, Ctrl-C, the flow failed).
    cancel_all: watch::Sender<bool>,
    /// Under fail-fast, the first failure for good: "task `x` failed: <kind>: <message>". Every
    /// cancellation it causes says so.
    cause: OnceLock<String>,
    /// Results and in-flight executions by cache key.
    cache: Mutex<HashMap<String, CacheEntry>>,
    records: Mutex<Vec<TaskRecord>>,
    cells: Mutex<Vec<Arc<TaskCell>>>,
    /// Live counts for the progress line.
    pub counters: Arc<Counters>,
    events: Option<Arc<EventLog>>,
    disk: Option<Arc<DiskCache>>,
    /// When the run's timeout passes: no attempt runs or waits past it.
    deadline: Instant,
    /// A task was stopped by that deadline (the run then fails, joined or not).
    timed_out: AtomicBool,
    /// The run's budget: task inputs and results count against it while the run holds them.
    budget: Budget,
}

enum CacheEntry {
    Running(Arc<TaskCell>),
    Done { output: String, until: Instant },
}

impl Scheduler {
    /// A scheduler running attempts with `attempts`; `declared` are the defaults `describe` gave.
    pub fn new(
        attempts: Attempts,
        declared: HashMap<String, TaskOptions>,
        limits: Limits,
        flow: FlowLimits,
        events: Option<Arc<EventLog>>,
        disk: Option<Arc<DiskCache>>,
    ) -> Arc<Scheduler> {
        let limits_timeout = limits.timeout;
        let attempts_budget = attempts.run_budget();
        Arc::new(Scheduler {
            attempts,
            declared,
            slots: Slots::new(flow.max_tasks),
            limits,
            flow,
            spawned: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
            cancel_all: watch::Sender::new(false),
            cause: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
            records: Mutex::new(Vec::new()),
            cells: Mutex::new(Vec::new()),
            counters: Arc::new(Counters::default()),
            events,
            disk,
            deadline: Instant::now() + limits_timeout,
            timed_out: AtomicBool::new(false),
            budget: attempts_budget,
        })
    }

    /// Logs an event; its fields are built only when there is an event log.
    fn emit(&self, event: &str, fields: impl FnOnce() -> serde_json::Value) {
        if let Some(events) = &self.events {
            events.emit(event, fields());
        }
    }

    /// Cancels every pending and running task.
    pub fn cancel_all(&self) {
        self.cancel_all.send_replace(true);
    }

    /// A receiver that turns true when the whole run is cancelled.
    pub fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancel_all.subscribe()
    }

    /// Waits until every spawned task has settled.
    pub async fn settle(&self) {
        let cells: Vec<Arc<TaskCell>> = lock(&self.cells).clone();
        for cell in cells {
            let _ = cell.join().await;
        }
    }

    /// The records of every task so far, in spawn order.
    pub fn records(&self) -> Vec<TaskRecord> {
        let mut records = lock(&self.records).clone();
        records.sort_by_key(|r| r.sequence);
        records
    }

    /// Queues a task spawned at `depth` (the spawner's depth + 1) by the attempt whose slot is
    /// `parent` (none: by the flow).
    pub fn spawn(
        self: &Arc<Self>,
        name: String,
        input: String,
        options: Option<TaskOptions>,
        depth: u32,
        parent: Option<u64>,
    ) -> Result<Arc<TaskCell>, ConnectorError> {
        if !self.declared.is_empty() && !self.declared.contains_key(&name) {
            let mut known: Vec<&str> = self.declared.keys().map(String::as_str).collect();
            known.sort();
            return Err(connector_error(
                ErrorKind::InvalidInput,
                format!(
                    "no task named `{name}` in this component; `describe` lists: {}",
                    known.join(", ")
                ),
            ));
        }
        if depth > self.flow.max_depth {
            return Err(connector_error(ErrorKind::Limit, format!("task `{name}` would run at spawn depth {depth}, over the run's limit of {} (limits.max_depth)", self.flow.max_depth)));
        }
        if *self.cancel_all.borrow() {
            return Err(connector_error(
                ErrorKind::Permanent,
                format!("task `{name}` was not started: {}", self.why_cancelled()),
            ));
        }
        let mut policy = Policy::resolve(
            options.as_ref(),
            self.declared.get(&name),
            self.limits.timeout,
        );
        policy.retries = policy.retries.min(self.flow.max_retries);
        let key = policy
            .cache_key
            .clone()
            .unwrap_or_else(|| cache_key(&self.attempts.digest, &name, &input));
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let input_hash = short_hash(&input);
        // Identical spawns share one execution; a fresh cached result is a hit.
        {
            let mut cache = lock(&self.cache);
            match cache.get(&key) {
                Some(CacheEntry::Running(cell)) => {
                    self.cache_hit(sequence, &name, &input_hash, "joined");
                    return Ok(cell.clone());
                }
                Some(CacheEntry::Done { output, until }) if *until > Instant::now() => {
                    self.cache_hit(sequence, &name, &input_hash, "memory");
                    let held = self.budget.reserve(
                        output.len() as u64,
                        &format!("the cached result of task `{name}`"),
                    )?;
                    return Ok(settled(&name, Ok(output.clone()), held));
                }
                _ => {}
            }
            // Then the disk, for results of earlier runs.
            if let (Some(disk), Some(_)) = (&self.disk, policy.cache_ttl) {
                if let Some((output, left)) = disk.get(&key) {
                    cache.insert(
                        key.clone(),
                        CacheEntry::Done {
                            output: output.clone(),
                            until: Instant::now() + left,
                        },
                    );
                    self.cache_hit(sequence, &name, &input_hash, "disk");
                    let held = self.budget.reserve(
                        output.len() as u64,
                        &format!("the cached result of task `{name}`"),
                    )?;
                    return Ok(settled(&name, Ok(output), held));
                }
            }
            let total = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
            if total > self.flow.max_total_tasks {
                return Err(connector_error(ErrorKind::Limit, format!("task `{name}` would be task number {total} of this run, over limits.max_total_tasks = {}", self.flow.max_total_tasks)));
            }
            // The input waits in the scheduler until the task is over: it counts against the
            // run's budget (a flow cannot queue more than the limits allow).
            let input_held = self
                .budget
                .reserve(input.len() as u64, &format!("the input of task `{name}`"))?;
            let cell = Arc::new(TaskCell {
                name: name.clone(),
                result: watch::Sender::new(None),
                cancel: watch::Sender::new(false),
                held: Mutex::new(Held::default()),
                parent,
            });
            if policy.cache_ttl.is_some() {
                cache.insert(key.clone(), CacheEntry::Running(cell.clone()));
            }
            lock(&self.cells).push(cell.clone());
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            let scheduler = self.clone();
            let running = cell.clone();
            let identity = Identity {
                key,
                input_hash,
                sequence,
                depth,
                parent,
            };
            // The attempts' spans hang under the spawner's (the flow's `run`, or a parent task's
            // attempt), so a trace shows the whole fan-out.
            let parent = tracing::Span::current();
            tokio::spawn(
                async move {
                    scheduler
                        .drive(running, (input, input_held), policy, identity)
                        .await
                }
                .instrument(parent),
            );
            Ok(cell)
        }
    }

    /// Runs a task's attempts until one succeeds, its retries are spent, or it is cancelled.
    async fn drive(
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
        } = id;
        let started = Instant::now();
        let mut cancel = cell.cancel.subscribe();
        let mut cancel_all = self.cancel_all.subscribe();
        let mut attempt = 0u32;
        let c = self.counters.clone();
        let outcome: TaskOutcome = loop {
            attempt += 1;
            let slot = tokio::select! {
                slot = self.slots.acquire(policy.priority, parent) => slot,
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
            self.emit("task-started", || serde_json::json!({ "task": cell.name, "attempt": attempt, "input_hash": input_hash }));
            let limits = Limits {
                timeout: policy.timeout.min(left),
                ..self.limits.clone()
            };
            let result = tokio::select! {
                r = self.attempts.run_task(&self, &cell.name, &input, &limits, depth, slot.clone()) => Some(r),
                _ = flagged(&mut cancel) => None,
                _ = flagged(&mut cancel_all) => None,
            };
            drop(slot);
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
                    self.emit("task-retry", || serde_json::json!({ "task": cell.name, "attempt": attempt, "error": error.to_string(), "delay_ms": wait.as_millis() as u64 }));
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
                self.emit("task-succeeded", || serde_json::json!({ "task": cell.name, "attempts": attempt, "duration": started.elapsed().as_secs_f64() }));
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                self.emit("task-failed", || {
                    serde_json::json!({ "task": cell.name, "attempts": e.attempts, "error_kind": crate::run::kind_name(e.error.kind), "limit": e.limit, "cancelled": e.cancelled, "message": e.error.message })
                });
            }
        }
        let record = TaskRecord::finished(
            sequence,
            &cell.name,
            &input_hash,
            attempt,
            started.elapsed(),
            &outcome,
            self.attempts.scrubber(),
        );
        tracing::debug!(task = %cell.name, attempts = record.attempts, status = record.status, "task finished");
        self.record(record);
        {
            let mut cache = lock(&self.cache);
            match (&outcome, policy.cache_ttl) {
                (Ok(output), Some(ttl)) => {
                    if let Some(disk) = &self.disk {
                        // A file is output too: a result holding a secret value stays in
                        // memory only (scrubbed, it would be a different result next run).
                        if matches!(
                            self.attempts.scrubber().scrub(output),
                            std::borrow::Cow::Borrowed(_)
                        ) {
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
        if let Err(e) = &outcome {
            let kind = crate::run::kind_name(e.error.kind);
            // Every cancellation repeats the cause: bounded, so a guest's huge error message
            // is not copied once per task; scrubbed first, as a cut secret would not match.
            let first = !e.cancelled
                && self.flow.fail_fast
                && self
                    .cause
                    .set(format!(
                        "task `{}` failed: {kind}: {}",
                        cell.name,
                        crate::host::log::cut_to(
                            &self.attempts.scrubber().scrub(&e.error.message),
                            MAX_CAUSE
                        )
                    ))
                    .is_ok();
            if first {
                let cause = self.cause.get().map(String::as_str).unwrap_or_default();
                tracing::warn!(task = %cell.name, error = %cause, "a task failed for good; cancelling the run's other tasks (fail-fast)");
                self.cancel_all();
            }
        }
        cell.result.send_replace(Some(outcome));
    }

    /// Why the whole run is being cancelled, for the cancellations it causes.
    fn why_cancelled(&self) -> String {
        match self.cause.get() {
            Some(cause) => format!("cancelled because {cause}"),
            None => "the run was cancelled".to_string(),
        }
    }

    /// A task stopped by the run's timeout between attempts (or before its first).
    fn run_timed_out(&self, name: &str, attempts: u32) -> TaskError {
        self.timed_out.store(true, Ordering::SeqCst);
        let hit = LimitHit::Timeout {
            limit: self.limits.timeout,
        };
        TaskError {
            error: connector_error(
                ErrorKind::Timeout,
                format!("task `{name}` stopped after {attempts} attempt(s): {hit}"),
            ),
            attempts,
            limit: Some("timeout".into()),
            cancelled: false,
        }
    }

    /// Whether the run's timeout stopped one of its tasks.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }

    /// Counts, logs and records a spawn answered without running (`from`: joined, memory, disk).
    fn cache_hit(&self, sequence: u64, name: &str, input_hash: &str, from: &str) {
        self.counters.cached.fetch_add(1, Ordering::Relaxed);
        self.emit(
            "task-cached",
            || serde_json::json!({ "task": name, "input_hash": input_hash, "from": from }),
        );
        self.record(TaskRecord::cached(sequence, name, input_hash));
    }

    fn record(&self, record: TaskRecord) {
        lock(&self.records).push(record);
    }
}

/// Who a running task is, for its record and its cache entry.
struct Identity {
    key: String,
    input_hash: String,
    sequence: u64,
    depth: u32,
    /// The spawning attempt's slot id: its unit is lent to this task while it joins.
    parent: Option<u64>,
}

/// Resolves once the switch is on.
async fn flagged(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|on| *on).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A task that is already settled (a cache hit), its copy of the result counted in `held`.
fn settled(name: &str, outcome: TaskOutcome, held: Held) -> Arc<TaskCell> {
    Arc::new(TaskCell {
        name: name.to_string(),
        result: watch::Sender::new(Some(outcome)),
        cancel: watch::Sender::new(false),
        held: Mutex::new(held),
        parent: None,
    })
}

/// The first 16 hex digits of the input's SHA-256, for reports.
fn short_hash(input: &str) -> String {
    hex(&Sha256::digest(input.as_bytes())[..8])
}

/// The default cache key: a hash of the component, the task name and the input.
fn cache_key(component: &str, name: &str, input: &str) -> String {
    let mut h = Sha256::new();
    for part in [component, name, input] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

fn cancelled_error(name: &str, attempts: u32, why: &str) -> TaskError {
    TaskError {
        error: ConnectorError {
            kind: ErrorKind::Permanent,
            message: format!("task `{name}` {why}"),
            code: None,
            retryable: false,
        },
        attempts,
        limit: None,
        cancelled: true,
    }
}

/// The task error for an attempt's run error.
fn task_error(error: &RunError, attempts: u32) -> TaskError {
    let (error, limit) = match error {
        RunError::Guest(g) => (
            ConnectorError {
                kind: kind_from_name(&g.kind),
                message: g.message.clone(),
                code: g.code.clone(),
                retryable: g.retryable,
            },
            None,
        ),
        RunError::Limit(hit) => {
            let name = match hit {
                LimitHit::Timeout { .. } => "timeout",
                LimitHit::Memory { .. } => "memory",
                LimitHit::Fuel { .. } => "fuel",
                LimitHit::HostCall { .. } => "host-call",
            };
            let kind = if name == "timeout" {
                ErrorKind::Timeout
            } else {
                ErrorKind::Limit
            };
            (
                connector_error(kind, hit.to_string()),
                Some(name.to_string()),
            )
        }
        other => (
            connector_error(ErrorKind::Permanent, other.to_string()),
            None,
        ),
    };
    TaskError {
        error,
        attempts,
        limit,
        cancelled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_separate_their_parts() {
        assert_ne!(cache_key("c", "ab", "c"), cache_key("c", "a", "bc"));
        assert_eq!(cache_key("c", "t", "{}"), cache_key("c", "t", "{}"));
    }
}
