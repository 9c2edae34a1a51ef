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

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use wasmtime::component::Linker;
use wasmtime::Engine;

use crate::bindings::tasks::TaskSpec;
use crate::budget::Budget;
use crate::config::Limits;
use crate::engine::cache::ComponentCache;
use crate::engine::limits::{Deadlines, EpochTicker};
use crate::engine::{build_engine, EngineOptions};
use crate::error::{LimitHit, RunError};
use crate::flow::observe::show_progress;
use crate::flow::{DiskCache, EventLog, FlowSetup, Scheduler};
use crate::host::tasks::TaskScope;
use crate::host::{add_to_linker, HostState, RunContext};
use instance::{Call, Instances};
use load::WorldPre;

pub use instance::hostcall_bytes;
pub use load::LoadedComponent;
pub use threads::{tokio_runtime, tokio_runtime_for};
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
}

impl Runtime {
    /// What `aw-run describe` prints: a flow's declared tasks, from a fresh instance.
    pub async fn describe(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
    ) -> Result<Vec<TaskSpec>, RunError> {
        let instances = self.instances(loaded, context, limits);
        instances.describe_specs(limits).await
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
        }
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
        let instances = self.instances(loaded, context, limits);
        let scope = match &loaded.pre {
            WorldPre::Task(_) => None,
            WorldPre::Flow(_) => {
                let declared = match instances.describe(limits).await {
                    Ok(specs) => specs,
                    Err(e) => return (Err(e), Usage::default()),
                };
                let scheduler = Scheduler::new(FlowSetup {
                    attempts: Arc::new(instances.clone()),
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
}
