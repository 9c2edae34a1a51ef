//! The scheduler of one flow run: spawned tasks wait for a concurrency slot (higher priority
//! first), each attempt runs in a fresh instance with its own limits, failed attempts are
//! retried per the task's policy, identical spawns share one execution (and, within a TTL,
//! one cached result), and every task leaves a record for the run report.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use futures_util::FutureExt;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

mod after;
mod drive;
pub(crate) use drive::flagged;

use super::disk_cache::DiskCache;
use super::observe::{Counters, EventLog};
use super::policy::Policy;
use super::slots::{Expected, Slot, Slots};
use super::task::{cache_key, settled, short_hash, TaskCell};
use super::TaskRecord;
use crate::bindings::connector_error;
use crate::bindings::tasks::{TaskError, TaskOptions};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::{Budget, Held};
use crate::config::{FailurePolicy, Limits};
use crate::error::{FailedTask, HostBug, LimitHit, RunError};
use crate::redact::Scrubber;
use drive::Identity;

/// One attempt of one task.
pub struct Attempt<'a> {
    /// The run's scheduler, for the tasks the attempt spawns.
    pub scheduler: &'a Arc<Scheduler>,
    /// The task's name, as the flow's `describe` declares it.
    pub task: &'a str,
    /// The task's input JSON.
    pub input: &'a str,
    /// The attempt's limits (its timeout already capped by what is left of the run's).
    pub limits: &'a Limits,
    /// The task's spawn depth (the flow itself is 0).
    pub depth: u32,
    /// The concurrency slot the attempt holds while it runs (lent to its children while it
    /// joins them).
    pub slot: Arc<Slot>,
    /// The task's spawn sequence number in the run (its graph node id).
    pub sequence: u64,
    /// The attempt's number, from 1.
    pub number: u32,
    /// Where the attempt ran, when not in this process: set by a [`RunAttempt`] that sends
    /// it elsewhere (a cluster worker's name), for the task's record.
    pub ran_on: &'a std::sync::OnceLock<String>,
}

/// Runs one attempt of a task to its end: the task's output, or why the attempt failed.
/// Dropping the future cancels the attempt; whatever it had open is rolled back.
#[async_trait::async_trait]
pub trait RunAttempt: Send + Sync {
    async fn run_attempt(&self, attempt: Attempt<'_>) -> Result<String, RunError>;
}

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
    /// What a task that fails for good does to the rest of the run.
    pub failure_policy: FailurePolicy,
}

impl From<&Limits> for FlowLimits {
    fn from(limits: &Limits) -> FlowLimits {
        FlowLimits {
            max_tasks: usize::try_from(limits.max_tasks)
                .unwrap_or(usize::MAX)
                .max(1),
            max_total_tasks: limits.max_total_tasks,
            max_retries: limits.max_retries,
            max_depth: limits.max_depth,
            failure_policy: limits.failure_policy,
        }
    }
}

/// What a run's scheduler is made of.
pub struct FlowSetup {
    /// What runs each attempt.
    pub attempts: Arc<dyn RunAttempt>,
    /// The component's digest (default result-cache keys).
    pub component_digest: String,
    /// The run's scrubber (task records, the fail-fast cause, results kept on disk).
    pub scrubber: Scrubber,
    /// The run's budget: task inputs and results count against it while the run holds them.
    pub budget: Budget,
    /// The tasks the flow's `describe` declares, with their default options.
    pub declared: HashMap<String, TaskOptions>,
    /// The run's limits: the flow limits and each attempt's defaults.
    pub limits: Limits,
    pub events: Option<Arc<EventLog>>,
    /// Task results kept across runs.
    pub disk: Option<Arc<DiskCache>>,
}

/// The longest fan-out group id a spawn may name, in bytes (the run keeps one per task).
const MAX_GROUP_ID: usize = 200;

/// The most bytes of a failure's message that a fail-fast cause keeps (each cancellation
/// repeats it) and that a task record keeps.
pub const MAX_CAUSE: usize = 4096;

/// A run's scheduler. Shared by the flow's instance and every task instance it spawns.
pub struct Scheduler {
    attempts: Arc<dyn RunAttempt>,
    component_digest: String,
    scrubber: Scrubber,
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
    /// The task graph's edges: the ids each spawn-after task waited for, by its id.
    edges: Mutex<HashMap<u64, Vec<u64>>>,
    /// The fan-out group of each task spawned in one, by its id.
    members: Mutex<HashMap<u64, String>>,
    /// The concurrency bound of each fan-out group that has one (the first spawn's).
    groups: Mutex<HashMap<String, Option<Arc<Semaphore>>>>,
    cells: Mutex<Vec<Arc<TaskCell>>>,
    /// Live counts for the progress line.
    pub counters: Arc<Counters>,
    events: Option<Arc<EventLog>>,
    disk: Option<Arc<DiskCache>>,
    /// When the run's timeout passes: no attempt runs or waits past it.
    deadline: Instant,
    /// A task was stopped by that deadline (the run then fails, joined or not).
    timed_out: AtomicBool,
    /// The first host bug an attempt hit: the run then fails with it, whatever the flow did
    /// with the task's error.
    host_bug: OnceLock<String>,
    /// The run's budget: task inputs and results count against it while the run holds them.
    budget: Budget,
}

enum CacheEntry {
    Running(Arc<TaskCell>),
    Done { output: String, until: Instant },
}

impl Scheduler {
    /// A run's scheduler; its clock (the run's timeout) starts now.
    pub fn new(setup: FlowSetup) -> Arc<Scheduler> {
        let FlowSetup {
            attempts,
            component_digest,
            scrubber,
            budget,
            declared,
            limits,
            events,
            disk,
        } = setup;
        let flow = FlowLimits::from(&limits);
        Arc::new(Scheduler {
            attempts,
            component_digest,
            scrubber,
            declared,
            slots: Slots::new(flow.max_tasks),
            deadline: Instant::now() + limits.timeout,
            limits,
            flow,
            spawned: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
            cancel_all: watch::Sender::new(false),
            cause: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
            records: Mutex::new(Vec::new()),
            edges: Mutex::new(HashMap::new()),
            members: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            cells: Mutex::new(Vec::new()),
            counters: Arc::new(Counters::default()),
            events,
            disk,
            timed_out: AtomicBool::new(false),
            host_bug: OnceLock::new(),
            budget,
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
        let edges = lock(&self.edges);
        let members = lock(&self.members);
        for record in &mut records {
            if let Some(after) = edges.get(&record.sequence) {
                record.after.clone_from(after);
            }
            record.fan_out = members.get(&record.sequence).cloned();
        }
        records
    }

    /// The run's failure when its failure policy makes the tasks that failed for good (in
    /// `records`) fail it: under `fail_fast` when the flow itself succeeded, under `aggregate`
    /// when it succeeded or failed with its own error (which the run error then carries too).
    /// `None` under `continue`, or when no task failed for good.
    pub fn policy_failure(
        &self,
        records: &[TaskRecord],
        flow: &Result<String, RunError>,
    ) -> Option<RunError> {
        let flow_error = match (self.flow.failure_policy, flow) {
            (FailurePolicy::Continue, _) => return None,
            (_, Ok(_)) => None,
            (FailurePolicy::Aggregate, Err(e @ RunError::Guest(_))) => Some(e.to_string()),
            (_, Err(_)) => return None,
        };
        let failures: Vec<FailedTask> = records
            .iter()
            .filter(|r| r.status == "failed")
            .map(|r| FailedTask {
                id: r.sequence,
                task: r.name.clone(),
                kind: r.error_kind.clone().unwrap_or_default(),
                message: r.error.clone().unwrap_or_default(),
                code: r.error_code.clone(),
            })
            .collect();
        if failures.is_empty() {
            return None;
        }
        Some(RunError::TasksFailed {
            policy: self.flow.failure_policy,
            failures,
            flow_error: flow_error.map(|e| self.scrubber.scrub_and_cut(&e, MAX_CAUSE)),
        })
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
        let policy = self.admit(&name, options.as_ref(), depth)?;
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        self.join_group(sequence, &policy);
        self.queued(&name, sequence, &[], &policy);
        // Announced now, in spawn order: tasks spawned in one go start by priority.
        let claim = self.slots.announce();
        self.start(
            name,
            input,
            policy,
            depth,
            parent,
            sequence,
            None,
            Some(claim),
        )
    }

    /// The `task-queued` event of every spawn: the graph's node, its edges (`after`) and its
    /// fan-out group, for `aw-run graph`.
    fn queued(&self, name: &str, sequence: u64, after: &[u64], policy: &Policy) {
        self.emit("task-queued", || {
            serde_json::json!({ "task": name, "id": sequence, "after": after, "fan_out": policy.fan_out.as_ref().map(|g| &g.id) })
        });
    }

    /// Records task `sequence` as a member of its fan-out group, whose bound (when it has one)
    /// the first member sets.
    fn join_group(&self, sequence: u64, policy: &Policy) {
        if let Some(group) = &policy.fan_out {
            lock(&self.members).insert(sequence, group.id.clone());
            lock(&self.groups)
                .entry(group.id.clone())
                .or_insert_with(|| {
                    group.max_concurrency.map(|n| {
                        Arc::new(Semaphore::new(
                            usize::try_from(n.max(1)).unwrap_or(usize::MAX),
                        ))
                    })
                });
        }
    }

    /// The concurrency bound of the fan-out group a task runs in, if it has one.
    fn group_bound(&self, policy: &Policy) -> Option<Arc<Semaphore>> {
        let group = policy.fan_out.as_ref()?;
        lock(&self.groups).get(&group.id).cloned().flatten()
    }

    /// Whether task `name` may be spawned at `depth` now, and the policy it runs under.
    fn admit(
        &self,
        name: &str,
        options: Option<&TaskOptions>,
        depth: u32,
    ) -> Result<Policy, ConnectorError> {
        if !self.declared.is_empty() && !self.declared.contains_key(name) {
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
        if let Some(group) = options.and_then(|o| o.fan_out.as_ref()) {
            if group.id.len() > MAX_GROUP_ID {
                return Err(connector_error(
                    ErrorKind::InvalidInput,
                    format!(
                        "task `{name}`: a fan-out id is at most {MAX_GROUP_ID} bytes, not {}",
                        group.id.len()
                    ),
                ));
            }
        }
        let mut policy = Policy::resolve(options, self.declared.get(name), self.limits.timeout);
        policy.retries = policy.retries.min(self.flow.max_retries);
        Ok(policy)
    }

    /// Counts a task against `max_total_tasks`.
    fn count_spawn(&self, name: &str) -> Result<(), ConnectorError> {
        let total = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
        if total > self.flow.max_total_tasks {
            return Err(connector_error(ErrorKind::Limit, format!("task `{name}` would be task number {total} of this run, over limits.max_total_tasks = {}", self.flow.max_total_tasks)));
        }
        Ok(())
    }

    /// Starts an admitted task with its whole input: a cache hit, a share in an identical
    /// running spawn, or a new task driven to its end. `queued`: the task waited behind its
    /// dependencies, so it was counted against `max_total_tasks` already, and this holds its
    /// input's share of the budget. `claim`: its announced slot claim (dropped on a hit).
    #[allow(clippy::too_many_arguments)]
    fn start(
        self: &Arc<Self>,
        name: String,
        input: String,
        policy: Policy,
        depth: u32,
        parent: Option<u64>,
        sequence: u64,
        queued: Option<Held>,
        claim: Option<Expected>,
    ) -> Result<Arc<TaskCell>, ConnectorError> {
        let key = policy
            .cache_key
            .clone()
            .unwrap_or_else(|| cache_key(&self.component_digest, &name, &input));
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
                    return Ok(settled(&name, sequence, Ok(output.clone()), held));
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
                    return Ok(settled(&name, sequence, Ok(output), held));
                }
            }
            // The input waits in the scheduler until the task is over: it counts against the
            // run's budget (a flow cannot queue more than the limits allow).
            let input_held = match queued {
                Some(held) => held,
                None => {
                    self.count_spawn(&name)?;
                    self.budget
                        .reserve(input.len() as u64, &format!("the input of task `{name}`"))?
                }
            };
            let cell = TaskCell::new(&name, sequence, parent);
            if policy.cache_ttl.is_some() {
                cache.insert(key.clone(), CacheEntry::Running(cell.clone()));
            }
            lock(&self.cells).push(cell.clone());
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            let identity = Identity {
                key,
                input_hash,
                sequence,
                depth,
                parent,
                group: self.group_bound(&policy),
                claim,
            };
            let drive = self
                .clone()
                .drive(cell.clone(), (input, input_held), policy, identity);
            self.spawn_settling(&cell, drive);
            Ok(cell)
        }
    }

    /// Runs `work`, which settles `cell`, as a tokio task under the spawner's span (the flow's
    /// `run` or a parent task's attempt, so a trace shows the whole fan-out). A panic in the
    /// scheduler itself still settles the task, so nothing joins it until the timeout, and
    /// the run ends with the bug.
    fn spawn_settling(
        self: &Arc<Self>,
        cell: &Arc<TaskCell>,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let scheduler = self.clone();
        let cell = cell.clone();
        let span = tracing::Span::current();
        tokio::spawn(
            async move {
                if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
                    let bug = HostBug::from_panic(&*panic).0;
                    scheduler.host_bug(&bug);
                    let error = connector_error(
                        ErrorKind::Permanent,
                        format!("task `{}` was stopped by a host bug: {bug}", cell.name),
                    );
                    let failed = Err(TaskError {
                        error,
                        attempts: 0,
                        limit: None,
                        cancelled: false,
                    });
                    cell.settle(failed, &scheduler.slots);
                }
            }
            .instrument(span),
        );
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

    /// Keeps the run's first host bug and stops the run: after one, nothing the host holds
    /// for it is to be trusted.
    pub(super) fn host_bug(&self, bug: &str) {
        if self.host_bug.set(bug.to_string()).is_ok() {
            tracing::error!(error = %bug, "a host bug stopped a task; cancelling the run");
        }
        self.cancel_all();
    }

    /// The first host bug one of the run's tasks hit.
    pub fn first_host_bug(&self) -> Option<&str> {
        self.host_bug.get().map(String::as_str)
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
            || serde_json::json!({ "task": name, "id": sequence, "input_hash": input_hash, "from": from }),
        );
        self.record(TaskRecord::cached(sequence, name, input_hash));
    }

    fn record(&self, record: TaskRecord) {
        lock(&self.records).push(record);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
