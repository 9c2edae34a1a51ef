//! Running a component: the `run` export of a task, or a flow's `run` with every task it
//! spawns (scheduled by [`crate::flow`], each attempt a fresh instance running `run-task`),
//! under the run's limits, timeout and Ctrl-C.
//!
//! [`load`] reads and compiles components, [`instance`] makes and calls the sandboxed
//! instances, [`usage`] measures a run and [`threads`] sizes the tokio runtime.

mod instance;
mod load;
mod threads;
mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use wasmtime::component::Linker;
use wasmtime::Engine;

use crate::bindings::tasks::{FlowSpec, TaskOptions, TaskSpec};
use crate::budget::Budget;
use crate::config::Limits;
use crate::engine::cache::ComponentCache;
use crate::engine::limits::{Deadlines, EpochTicker};
use crate::engine::{build_engine, EngineOptions};
use crate::error::{LimitHit, RunError};
use crate::flow::observe::show_progress;
use crate::flow::{DiskCache, EventLog, FlowSetup, RunAttempt, Scheduler};
use crate::host::tasks::{AttemptIdentity, RunInfo, TaskScope};
use crate::host::{add_to_linker, HostState, RunContext};
use instance::{Call, Instances};
use load::WorldPre;

pub use instance::hostcall_bytes;
pub use load::LoadedComponent;
pub use threads::{tokio_runtime, tokio_runtime_for, tokio_runtime_with};
pub use usage::{host_peak_rss, Usage};

/// Extra wall-clock time after the epoch deadline before the run is cut off from outside
/// (covers a guest blocked in a host call, where epochs are not checked).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// How long a run waits, at its end, for the cancel requests of statements it left running.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// The engine, linker and cache of one `aw-run` process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ComponentCache,
    fuel: bool,
    _ticker: EpochTicker,
    deadlines: Deadlines,
    events: Option<Arc<EventLog>>,
    progress: bool,
    result_cache: Option<Arc<DiskCache>>,
    selection: FlowSelection,
    /// Where a flow's task attempts run when not in fresh instances here (`--cluster`).
    remote: Option<Arc<dyn RunAttempt>>,
}

/// Which of a component's flows a run runs, and with what parameters (`--flow`, `--params`).
#[derive(Debug, Clone, Default)]
pub struct FlowSelection {
    /// None: the component's only flow.
    pub flow: Option<String>,
    /// A JSON object, for `get_context().params`.
    pub params: Option<String>,
}

/// The flow of `flows` (what a component's `flows` export lists) that `requested` names, or
/// its only one; none for a component that names no flows.
pub fn select_flow(
    requested: Option<&str>,
    flows: &[FlowSpec],
    component: &str,
) -> Result<Option<String>, RunError> {
    let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
    match (requested, names.as_slice()) {
        (None, []) => Ok(None),
        (Some(name), []) => Err(RunError::Usage(format!(
            "--flow {name:?}: {component} names no flows (its `run` export is its one flow)"
        ))),
        (None, [only]) => Ok(Some((*only).to_string())),
        (None, _) => Err(RunError::Usage(format!(
            "{component} defines {} flows; pick one with --flow: {}",
            names.len(),
            names.join(", ")
        ))),
        (Some(name), _) if names.contains(&name) => Ok(Some(name.to_string())),
        (Some(name), _) => Err(RunError::Usage(format!(
            "--flow {name:?}: {component} has no such flow; it defines: {}",
            names.join(", ")
        ))),
    }
}

impl Runtime {
    /// What `aw-run describe` prints: a flow component's declared tasks and the flows it
    /// defines, from a fresh instance.
    pub async fn describe(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
    ) -> Result<(Vec<TaskSpec>, Vec<FlowSpec>), RunError> {
        let instances = self.instances(loaded, context, limits);
        instances.declared(limits).await
    }

    /// What `aw-run describe --format json|dot` prints: the graph the selected flow builds
    /// for `input` without running a task (the `graph` export's JSON).
    pub async fn graph(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
        input: &str,
    ) -> Result<serde_json::Value, RunError> {
        let instances = self.instances(loaded, context.clone(), limits);
        let (_, flows) = instances.declared(limits).await?;
        let flow = select_flow(self.selection.flow.as_deref(), &flows, &loaded.name)?;
        let _ = context.info.set(RunInfo::new(
            flow.clone(),
            self.selection.params.clone(),
            limits.failure_policy,
        ));
        let text = instances
            .graph(limits, flow.as_deref().unwrap_or(""), input)
            .await?;
        serde_json::from_str(&text).map_err(|e| {
            RunError::BadComponent(format!(
                "the component's `graph` export returned no JSON: {e}"
            ))
        })
    }

    /// Flows: run every task attempt through `attempts` (a cluster's workers) instead of in
    /// fresh instances of this process. The flow itself still runs here.
    pub fn run_attempts_with(&mut self, attempts: Arc<dyn RunAttempt>) {
        self.remote = Some(attempts);
    }

    /// Runs the flow `selection` names (or the only one), with its parameters.
    pub fn select(&mut self, selection: FlowSelection) {
        self.selection = selection;
    }

    /// A runtime whose engine is built with `options` and keeps compiled components in
    /// `cache`.
    pub fn new(options: EngineOptions, cache: ComponentCache) -> Result<Self, RunError> {
        let engine = build_engine(options)
            .map_err(|e| RunError::Internal(format!("cannot create the engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        add_to_linker(&mut linker)
            .map_err(|e| RunError::Internal(format!("cannot link host interfaces: {e}")))?;
        let deadlines = Deadlines::default();
        let ticker = EpochTicker::start(&engine, deadlines.clone())
            .map_err(|e| RunError::Internal(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Runtime {
            engine,
            linker,
            cache,
            fuel: options.fuel,
            _ticker: ticker,
            deadlines,
            events: None,
            progress: false,
            result_cache: None,
            selection: FlowSelection::default(),
            remote: None,
        })
    }

    /// What makes fresh instances of `loaded` for this run.
    fn instances(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
    ) -> Instances {
        // Every instance the run may run at once can fill its own budget.
        let run_budget = limits.memory.saturating_mul(limits.max_tasks.max(1));
        Instances {
            budget: Budget::for_run(run_budget),
            engine: self.engine.clone(),
            fuel: self.fuel,
            deadlines: self.deadlines.clone(),
            component: loaded.name.clone(),
            digest: loaded.digest.clone(),
            pre: loaded.pre.clone(),
            context,
            info: None,
        }
    }

    /// Runs one attempt of task `task` of a flow run that a coordinator elsewhere schedules
    /// (`aw-run worker`): `run-task(task, input)` in a fresh instance under `limits`, with
    /// the worker's `context` (its grants, pools and secrets) and the remote run's `info`.
    /// The instance has no scheduler: a task that spawns tasks is told so.
    pub async fn run_remote_attempt(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        info: RunInfo,
        limits: &Limits,
        attempt: AttemptIdentity,
        input: &str,
    ) -> Result<String, RunError> {
        let mut instances = self.instances(loaded, context, limits);
        instances.budget = Budget::for_run(limits.memory);
        instances.info = Some(Arc::new(info));
        let span = tracing::info_span!("task_attempt", task = %attempt.task, remote = true);
        instances
            .call(Call::RunTask(attempt, input), limits, None)
            .instrument(span)
            .await
            .0
    }

    /// Flows: keep task results (with a cache TTL) in `dir` too, across runs.
    pub fn result_cache(&mut self, dir: Option<std::path::PathBuf>) {
        self.result_cache = dir.map(|d| Arc::new(DiskCache::new(d)));
    }

    /// Flows: write task events to `events` as they happen, and draw a progress line on
    /// stderr when `progress`.
    pub fn observe(&mut self, events: Option<EventLog>, progress: bool) {
        self.events = events.map(Arc::new);
        self.progress = progress;
    }

    /// The runtime's engine (`aw-run check` compiles with it).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `run(input)` in a fresh instance under `limits`; for a flow, also every task it
    /// spawns, and waits for them to settle.
    pub async fn run(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
        input: &str,
    ) -> (Result<String, RunError>, Usage) {
        let mut interrupted = context.interrupted.subscribe();
        let instances = self.instances(loaded, context.clone(), limits);
        let scope = match &loaded.pre {
            WorldPre::Task(_) => None,
            WorldPre::Flow(_) => {
                let declared = match self
                    .declare_run(&instances, &context, limits, &loaded.name)
                    .await
                {
                    Ok(specs) => specs,
                    Err(e) => return (Err(e), Usage::default()),
                };
                let scheduler = Scheduler::new(FlowSetup {
                    attempts: match &self.remote {
                        Some(remote) => remote.clone(),
                        None => Arc::new(instances.clone()),
                    },
                    component_digest: instances.digest.clone(),
                    scrubber: instances.context.scrubber.clone(),
                    budget: instances.budget.clone(),
                    declared,
                    limits: limits.clone(),
                    events: self.events.clone(),
                    disk: self.result_cache.clone(),
                });
                Some(TaskScope {
                    scheduler,
                    depth: 0,
                    slot: None,
                })
            }
        };
        let stop_progress = tokio::sync::watch::Sender::new(false);
        let progress = match (&scope, self.progress) {
            (Some(scope), true) => Some(tokio::spawn(show_progress(
                scope.scheduler.counters.clone(),
                stop_progress.subscribe(),
            ))),
            _ => None,
        };
        // Ctrl-C drops the running instance: its open transactions roll back, its unfinished
        // uploads are discarded.
        let span = tracing::info_span!("run", component = %loaded.name, flow = loaded.is_flow());
        // The run's timeout bounds the flow and every task it spawned, retries included.
        let run_deadline = instances
            .deadlines
            .at(Instant::now() + limits.timeout + TIMEOUT_GRACE);
        // An interrupt ends the call too, which still measures its usage for the report.
        let (mut outcome, mut usage) = instances
            .call(Call::Run(input), limits, scope.clone())
            .instrument(span)
            .await;
        if let Some(scope) = scope {
            if outcome.is_err() {
                // The flow failed: nothing it started should go on committing work.
                scope.scheduler.cancel_all();
            }
            let stopped = tokio::select! {
                () = scope.scheduler.settle() => None,
                () = run_deadline => Some(RunError::Limit(LimitHit::Timeout { limit: limits.timeout })),
                _ = interrupted.wait_for(|on| *on) => Some(RunError::Interrupted),
            };
            if let Some(why) = stopped {
                // Tasks the flow left running outlived the run: stop them, and the run fails.
                scope.scheduler.cancel_all();
                scope.scheduler.settle().await;
                if outcome.is_ok() {
                    outcome = Err(why);
                }
            }
            if let Some(bug) = scope.scheduler.first_host_bug() {
                if !matches!(outcome, Err(RunError::HostBug(_))) {
                    outcome = Err(RunError::HostBug(bug.to_string()));
                }
            }
            if outcome.is_ok() && scope.scheduler.timed_out() {
                outcome = Err(RunError::Limit(LimitHit::Timeout {
                    limit: limits.timeout,
                }));
            }
            usage.tasks = scope.scheduler.records();
            if let Some(failed) = scope.scheduler.policy_failure(&usage.tasks, &outcome) {
                outcome = Err(failed);
            }
            stop_progress.send_replace(true);
            if let Some(progress) = progress {
                let _ = progress.await;
            }
            if let Some(events) = &self.events {
                let status = outcome
                    .as_ref()
                    .map(|_| "ok")
                    .unwrap_or_else(RunError::status);
                events.emit("flow-finished", serde_json::json!({ "status": status, "tasks": usage.tasks.len(), "duration": usage.duration.as_secs_f64() }));
            }
        }
        // Statements an interrupted or failed task left running get their cancel requests
        // out before the process exits.
        if !crate::host::postgres::cancel::settle(CANCEL_GRACE).await {
            tracing::warn!("some cancel requests were not sent within {CANCEL_GRACE:?}: statements may run on until the server sees the closed connection");
        }
        usage.host_peak_rss = host_peak_rss();
        (outcome, usage)
    }

    /// A flow run's declared tasks (with their default options), once its flow is picked and
    /// the run's identity set for every instance.
    async fn declare_run(
        &self,
        instances: &Instances,
        context: &RunContext,
        limits: &Limits,
        component: &str,
    ) -> Result<HashMap<String, TaskOptions>, RunError> {
        let (specs, flows) = instances.declared(limits).await?;
        let flow = select_flow(self.selection.flow.as_deref(), &flows, component)?;
        let _ = context.info.set(RunInfo::new(
            flow,
            self.selection.params.clone(),
            limits.failure_policy,
        ));
        Ok(specs.into_iter().map(|s| (s.name, s.options)).collect())
    }
}
