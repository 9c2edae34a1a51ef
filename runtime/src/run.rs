//! Loading a component and running it in fresh, limited, sandboxed instances: the `run`
//! export of a task, or a flow's `run` with its spawned tasks (each attempt a fresh instance
//! running `run-task`, scheduled by host/tasks).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::config::Limits;
use crate::engine::cache::{CacheOutcome, ComponentCache};
use crate::engine::limits::{ticks_for, Deadlines, EpochTicker, InstanceLimiter};
use crate::engine::{build_engine, EngineOptions};
use crate::error::{GuestError, LimitHit, RunError};
use crate::host::bindings::tasks::{TaskOptions, TaskSpec};
use crate::host::bindings::types::{ConnectorError, ErrorKind};
use crate::host::bindings::{FlowPre, TaskPre};
use crate::host::budget::Budget;
use crate::host::stdio::{GuestOutput, StderrTail, Stream};
use crate::host::tasks::observe::show_progress;
use crate::host::tasks::slots::Slot;
use crate::host::tasks::{DiskCache, EventLog, FlowLimits, Scheduler, TaskRecord, TaskScope};
use crate::host::{add_to_linker, HostState, RunContext};

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

/// A component compiled and linked, ready to instantiate many times.
pub struct LoadedComponent {
    pub name: String,
    /// BLAKE3 digest of the component's bytes (result-cache keys).
    pub digest: String,
    pub component: Component,
    pub cache: CacheOutcome,
    pre: WorldPre,
}

/// Which world the component exports, pre-linked.
#[derive(Clone)]
enum WorldPre {
    Task(TaskPre<HostState>),
    Flow(FlowPre<HostState>),
}

impl LoadedComponent {
    /// True for components of the `flow` world (they export `run-task` and `describe`).
    pub fn is_flow(&self) -> bool {
        matches!(self.pre, WorldPre::Flow(_))
    }
}

impl Runtime {
    /// What `aw-run describe` prints: a flow's declared tasks, from a fresh instance.
    pub async fn describe(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
    ) -> Result<Vec<TaskSpec>, RunError> {
        let attempts = self.attempts(loaded, context, limits);
        attempts.describe_specs(limits).await
    }
}

/// What a run used, reported whether it succeeded or not.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    #[serde(serialize_with = "crate::report::serialize_duration")]
    pub duration: Duration,
    pub peak_memory: u64,
    pub fuel_consumed: Option<u64>,
    /// Peak resident memory of the whole host process so far (Linux `VmHWM`), in bytes.
    pub host_peak_rss: Option<u64>,
    /// A flow's tasks, one record each, in spawn order (the report lists them apart).
    #[serde(skip)]
    pub tasks: Vec<TaskRecord>,
}

/// The process's peak resident set size, where the OS reports it.
pub fn host_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Runtime {
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
    fn attempts(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
    ) -> Attempts {
        // Every instance the run may run at once can fill its own budget.
        let run_budget = limits.memory.saturating_mul(limits.max_tasks.max(1));
        Attempts {
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

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, compiles (or loads from cache) and links the component at `path`.
    pub fn load(&self, path: &Path) -> Result<LoadedComponent, RunError> {
        let (component, cache, digest) = self.compile_with_digest(path)?;
        let name = component_name(path);
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            RunError::BadComponent(format!(
                "{} imports something this runtime does not provide: {e}. Run `aw-run check` to see its imports",
                path.display()
            ))
        })?;
        let pre = match FlowPre::new(instance_pre.clone()) {
            Ok(flow) => WorldPre::Flow(flow),
            Err(_) => WorldPre::Task(TaskPre::new(instance_pre).map_err(|e| {
                RunError::BadComponent(format!(
                    "{} exports neither the `task` nor the `flow` world of auto-workflow:connectors@0.1.0 ({e}); build it against wit/ with the aw-guest SDK",
                    path.display()
                ))
            })?),
        };
        Ok(LoadedComponent {
            name,
            digest,
            component,
            cache,
            pre,
        })
    }

    /// Reads and compiles the component at `path` without linking it.
    pub fn compile(&self, path: &Path) -> Result<(Component, CacheOutcome), RunError> {
        self.compile_with_digest(path)
            .map(|(component, outcome, _)| (component, outcome))
    }

    /// `compile`, also returning the component's BLAKE3 digest.
    fn compile_with_digest(
        &self,
        path: &Path,
    ) -> Result<(Component, CacheOutcome, String), RunError> {
        let bytes = std::fs::read(path).map_err(|e| {
            RunError::Usage(format!("cannot read component {}: {e}", path.display()))
        })?;
        check_header(path, &bytes)?;
        let digest = crate::engine::cache::digest(&bytes);
        let (component, outcome) = self
            .cache
            .load(&self.engine, &bytes, &digest)
            .map_err(|e| {
                RunError::BadComponent(format!(
                    "{} is not a valid WebAssembly component: {e:#}",
                    path.display()
                ))
            })?;
        Ok((component, outcome, digest))
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
        let attempts = self.attempts(loaded, context, limits);
        let scope = match &loaded.pre {
            WorldPre::Task(_) => None,
            WorldPre::Flow(_) => {
                let declared = match attempts.describe(limits).await {
                    Ok(specs) => specs,
                    Err(e) => return (Err(e), Usage::default()),
                };
                let scheduler = Scheduler::new(
                    attempts.clone(),
                    declared,
                    limits.clone(),
                    FlowLimits::from(limits),
                    self.events.clone(),
                    self.result_cache.clone(),
                );
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
        let run_deadline = attempts
            .deadlines
            .at(Instant::now() + limits.timeout + TIMEOUT_GRACE);
        // An interrupt ends the call too, which still measures its usage for the report.
        let (mut outcome, mut usage) = attempts
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

/// Which export a fresh instance calls.
enum Call<'a> {
    Run(&'a str),
    RunTask(&'a str, &'a str),
}

/// What the run of one component needs to make fresh instances again and again: the flow's
/// own instance and every attempt of every task.
#[derive(Clone)]
pub struct Attempts {
    engine: Engine,
    fuel: bool,
    deadlines: Deadlines,
    /// The component's name (logs).
    pub component: String,
    /// The component's BLAKE3 digest (result-cache keys).
    pub digest: String,
    pre: WorldPre,
    context: Arc<RunContext>,
    /// What the host may buffer for the run's instances between them.
    budget: Budget,
}

impl Attempts {
    /// The run's budget of host-buffered bytes.
    pub fn run_budget(&self) -> Budget {
        self.budget.clone()
    }

    /// The run's scrubber.
    pub fn scrubber(&self) -> &crate::secrets::Scrubber {
        &self.context.scrubber
    }

    /// One attempt of task `name`: `run-task(name, input)` in a fresh instance under `limits`.
    pub async fn run_task(
        &self,
        scheduler: &Arc<Scheduler>,
        name: &str,
        input: &str,
        limits: &Limits,
        depth: u32,
        slot: Arc<Slot>,
    ) -> Result<String, RunError> {
        let scope = TaskScope {
            scheduler: scheduler.clone(),
            depth,
            slot: Some(slot),
        };
        let span = tracing::info_span!(
            "task_attempt",
            task = name,
            depth,
            outcome = tracing::field::Empty
        );
        let result = self
            .call(Call::RunTask(name, input), limits, Some(scope))
            .instrument(span.clone())
            .await
            .0;
        span.record(
            "outcome",
            result
                .as_ref()
                .map(|_| "ok")
                .unwrap_or_else(RunError::status),
        );
        result
    }

    /// The tasks a flow declares, by name, with their default options.
    async fn describe(&self, limits: &Limits) -> Result<HashMap<String, TaskOptions>, RunError> {
        Ok(self
            .describe_specs(limits)
            .await?
            .into_iter()
            .map(|s| (s.name, s.options))
            .collect())
    }

    /// What a flow's `describe` export returns, from a fresh instance.
    pub async fn describe_specs(&self, limits: &Limits) -> Result<Vec<TaskSpec>, RunError> {
        let WorldPre::Flow(pre) = &self.pre else {
            return Err(RunError::BadComponent(format!(
                "{} is a task, not a flow: it declares no tasks",
                self.component
            )));
        };
        let tail = StderrTail::default();
        let mut store = self.new_store(limits, &tail, None, true);
        let call = async {
            pre.instantiate_async(&mut store)
                .await?
                .call_describe(&mut store)
                .await
        };
        match self.before_cut_off(limits, call).await {
            Err(stopped) => Err(stopped),
            Ok(Ok(specs)) => Ok(specs),
            Ok(Err(error)) => Err(classify(error, store.data(), limits, &tail)),
        }
    }

    /// `work`'s output; or the run's timeout when it is still running [`TIMEOUT_GRACE`] after
    /// the timeout of `limits` (the epoch deadline stops running Wasm; this stops a guest
    /// waiting in a host call); or [`RunError::Interrupted`] on Ctrl-C / SIGTERM. Either way
    /// `work` is dropped, and the caller can still read its store (usage for the report).
    async fn before_cut_off<F: Future>(
        &self,
        limits: &Limits,
        work: F,
    ) -> Result<F::Output, RunError> {
        let cut_off = self
            .deadlines
            .at(Instant::now() + limits.timeout + TIMEOUT_GRACE);
        let mut interrupted = self.context.interrupted.subscribe();
        tokio::select! {
            biased;
            done = work => Ok(done),
            () = cut_off => Err(RunError::Limit(LimitHit::Timeout { limit: limits.timeout })),
            _ = interrupted.wait_for(|on| *on) => Err(RunError::Interrupted),
        }
    }

    async fn call(
        &self,
        call: Call<'_>,
        limits: &Limits,
        tasks: Option<TaskScope>,
    ) -> (Result<String, RunError>, Usage) {
        let started = Instant::now();
        let tail = StderrTail::default();
        // Only flows have tasks to cancel and share workers with.
        let yielding = matches!(self.pre, WorldPre::Flow(_));
        let mut store = self.new_store(limits, &tail, tasks, yielding);
        // Asking a store without fuel for it builds an error (with a backtrace when
        // RUST_BACKTRACE is set): only metered engines are asked.
        let fuel_start = if self.fuel {
            store.get_fuel().ok()
        } else {
            None
        };
        let invoke = async {
            match (&self.pre, call) {
                (WorldPre::Task(pre), Call::Run(input)) => {
                    pre.instantiate_async(&mut store)
                        .await?
                        .call_run(&mut store, input)
                        .await
                }
                (WorldPre::Flow(pre), Call::Run(input)) => {
                    pre.instantiate_async(&mut store)
                        .await?
                        .call_run(&mut store, input)
                        .await
                }
                (WorldPre::Flow(pre), Call::RunTask(name, input)) => {
                    pre.instantiate_async(&mut store)
                        .await?
                        .call_run_task(&mut store, name, input)
                        .await
                }
                (WorldPre::Task(_), Call::RunTask(..)) => Ok(Err(ConnectorError {
                    kind: ErrorKind::Config,
                    message: "this component is a task, not a flow: it has no tasks to run".into(),
                    code: None,
                    retryable: false,
                })),
            }
        };
        let outcome = match self.before_cut_off(limits, invoke).await {
            Err(stopped) => Err(stopped),
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(error))) => Err(RunError::Guest(GuestError {
                kind: kind_name(error.kind).to_string(),
                message: error.message,
                code: error.code,
                retryable: error.retryable,
            })),
            Ok(Err(error)) => Err(classify(error, store.data(), limits, &tail)),
        };
        let usage = Usage {
            duration: started.elapsed(),
            peak_memory: store.data().limiter.peak_memory,
            fuel_consumed: match (fuel_start, limits.fuel) {
                (Some(start), Some(_)) => {
                    store.get_fuel().ok().map(|left| start.saturating_sub(left))
                }
                _ => None,
            },
            // Read once per run (in `run`), not once per task attempt.
            host_peak_rss: None,
            tasks: Vec::new(),
        };
        (outcome, usage)
    }
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
            fail_fast: limits.fail_fast,
        }
    }
}

impl Attempts {
    /// A fresh store: sandboxed WASI, the instance limiter, the epoch deadline, fuel. A
    /// `yielding` store hands the thread back every epoch tick (so a cancelled flow task stops
    /// even in a tight loop, and tasks share the workers) and traps at its deadline.
    fn new_store(
        &self,
        limits: &Limits,
        tail: &StderrTail,
        tasks: Option<TaskScope>,
        yielding: bool,
    ) -> Store<HostState> {
        let (name, context) = (self.component.as_str(), self.context.clone());
        let label: Arc<str> = Arc::from(name);
        let scrubber = context.scrubber.clone();
        let log_rate = Arc::new(crate::host::log::LogRate::default());
        // Nothing is inherited: no env vars, no preopened dirs, no network; only the program
        // name as argv[0], and stdout/stderr into the host log.
        let wasi = WasiCtxBuilder::new()
            .arg(name)
            .stdout(GuestOutput::new(
                Stream::Stdout,
                label.clone(),
                scrubber.clone(),
                tail.clone(),
                log_rate.clone(),
            ))
            .stderr(GuestOutput::new(
                Stream::Stderr,
                label,
                scrubber,
                tail.clone(),
                log_rate.clone(),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let budget = self.budget.for_instance(limits.memory);
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: InstanceLimiter::new(limits.memory),
            run: context,
            tasks,
            budget,
            log_rate,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // What one host call may copy out of the guest (strings and lists its arguments point
        // at, aliased or not) is bounded by the guest's own memory limit, up to wasmtime's default.
        store.set_hostcall_fuel(hostcall_bytes(limits));
        if yielding {
            let deadline = Instant::now() + limits.timeout;
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline {
                    Err(Trap::Interrupt.into())
                } else {
                    Ok(UpdateDeadline::Yield(1))
                }
            });
        } else {
            store.set_epoch_deadline(ticks_for(limits.timeout));
            store.epoch_deadline_trap();
        }
        if self.fuel {
            // An engine that meters fuel needs fuel in every store; runs without a fuel limit
            // get an effectively endless supply.
            let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        store
    }
}

/// Bytes one host call may copy out of a guest's memory.
pub fn hostcall_bytes(limits: &Limits) -> usize {
    usize::try_from(limits.memory.min(HOSTCALL_BYTES_MAX)).unwrap_or(usize::MAX)
}

/// wasmtime's own default for the bytes one host call may lift.
const HOSTCALL_BYTES_MAX: u64 = 128 << 20;

/// Turns a trap or host failure into the matching run error.
fn classify(
    error: wasmtime::Error,
    state: &HostState,
    limits: &Limits,
    tail: &StderrTail,
) -> RunError {
    if let Some(hit) = state.limiter.hit {
        return RunError::Limit(LimitHit::Memory {
            limit: hit.limit,
            desired: hit.desired,
        });
    }
    if format!("{error:#}").contains("fuel allocated for hostcalls has been exhausted") {
        // wasmtime's error type for it is private; its message is what it offers.
        return RunError::Limit(LimitHit::HostCall {
            limit: hostcall_bytes(limits) as u64,
        });
    }
    let stderr = tail.text();
    let with_stderr = |what: String| {
        if stderr.is_empty() {
            what
        } else {
            format!("{what}\nguest stderr:\n{stderr}")
        }
    };
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => RunError::Limit(LimitHit::Timeout {
            limit: limits.timeout,
        }),
        Some(Trap::OutOfFuel) => RunError::Limit(LimitHit::Fuel {
            limit: limits.fuel.unwrap_or(0),
        }),
        Some(trap) => RunError::Trap(with_stderr(trap.to_string())),
        None => RunError::Trap(with_stderr(format!("{error:#}"))),
    }
}

/// Rejects files that are not components, with a message that says what they are instead.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(RunError::BadComponent(format!(
            "{} is not a WebAssembly file (no \\0asm header); pass the .wasm component a guest build produced",
            path.display()
        )));
    }
    // Version 1 with layer 0 is a core module; components use layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(RunError::BadComponent(format!(
            "{} is a core WebAssembly module, not a component: build the guest with `cargo build --target wasm32-wasip2` (or wrap it with `wasm-tools component new`)",
            path.display()
        )));
    }
    Ok(())
}

/// The component's name for logs: its file stem.
fn component_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component")
        .to_string()
}

/// The tokio runtime a run executes on: one worker thread, on which the guest task and the
/// connection tasks it waits on wake each other without crossing threads. Measured on the
/// project's 2-core machine, this beat two workers for both round-trip latency and streaming
/// throughput (the database, when local, keeps the other core). Flows size it by `max_tasks`.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio_runtime_with(1)
}

/// The runtime for a component: one worker for a task, for a flow as many as it may run tasks
/// at once (up to the machine's cores), so compute-bound tasks really run in parallel.
pub fn tokio_runtime_for(
    loaded: &LoadedComponent,
    limits: &Limits,
) -> std::io::Result<tokio::runtime::Runtime> {
    if !loaded.is_flow() {
        return tokio_runtime();
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    tokio_runtime_with(
        usize::try_from(limits.max_tasks)
            .unwrap_or(1)
            .clamp(1, cores),
    )
}

fn tokio_runtime_with(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("aw-worker")
        .enable_all()
        .build()
}

/// The error kind for its WIT name (`permanent` for anything unknown).
pub fn kind_from_name(name: &str) -> ErrorKind {
    [
        ErrorKind::Config,
        ErrorKind::Denied,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Timeout,
        ErrorKind::Transient,
        ErrorKind::Permanent,
        ErrorKind::InvalidInput,
        ErrorKind::Limit,
    ]
    .into_iter()
    .find(|k| kind_name(*k) == name)
    .unwrap_or(ErrorKind::Permanent)
}

/// The WIT name of an error kind.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "config",
        ErrorKind::Denied => "denied",
        ErrorKind::Auth => "auth",
        ErrorKind::NotFound => "not-found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Transient => "transient",
        ErrorKind::Permanent => "permanent",
        ErrorKind::InvalidInput => "invalid-input",
        ErrorKind::Limit => "limit",
    }
}
