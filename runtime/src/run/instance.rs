//! Fresh, limited, sandboxed instances of one run's component: the store each gets (WASI
//! without ambient authority, the memory limiter, epoch deadline, fuel, host-call bounds), the
//! call of an export under the run's cut-off, and what a trap or host failure becomes. Every
//! task attempt of a flow is one of these ([`RunAttempt`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use tracing::Instrument;
use wasmtime::component::{ResourceTable, ResourceTableError};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use super::load::WorldPre;
use super::{Usage, TIMEOUT_GRACE};
use crate::bindings::tasks::{FlowSpec, TaskSpec};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::Budget;
use crate::config::Limits;
use crate::engine::limits::{ticks_for, Deadlines, InstanceLimiter};
use crate::error::{HostBug, LimitHit, RunError};
use crate::flow::{Attempt, RunAttempt};
use crate::host::error::MAX_OPEN_HANDLES;
use crate::host::stdio::{GuestOutput, StderrTail, Stream};
use crate::host::tasks::{AttemptIdentity, RunInfo, TaskScope};
use crate::host::{HostState, RunContext};

/// A call of the flow exports that run no task.
enum FlowQuery<'a> {
    /// `describe` and `flows`.
    Declared,
    /// `graph(name, input)`.
    Graph { name: &'a str, input: &'a str },
}

/// What a [`FlowQuery`] returned.
enum FlowAnswer {
    Declared(Vec<TaskSpec>, Vec<FlowSpec>),
    Graph(Result<String, ConnectorError>),
}

/// Which export a fresh instance calls.
pub(super) enum Call<'a> {
    Run(&'a str),
    /// `run-task(name, input)` for one attempt of the task.
    RunTask(AttemptIdentity, &'a str),
}

/// What the run of one component needs to make fresh instances again and again: the flow's
/// own instance and every attempt of every task.
#[derive(Clone)]
pub(super) struct Instances {
    pub(super) engine: Engine,
    pub(super) fuel: bool,
    pub(super) deadlines: Deadlines,
    /// The component's name (logs).
    pub(super) component: String,
    /// The component's BLAKE3 digest (result-cache keys).
    pub(super) digest: String,
    pub(super) pre: WorldPre,
    pub(super) context: Arc<RunContext>,
    /// What the host may buffer for the run's instances between them.
    pub(super) budget: Budget,
    /// Who the run is, when not the context's own run (a worker's attempt for a coordinator).
    pub(super) info: Option<Arc<RunInfo>>,
}

/// One attempt of a flow's task: `run-task(name, input)` in a fresh instance.
#[async_trait::async_trait]
impl RunAttempt for Instances {
    async fn run_attempt(&self, attempt: Attempt<'_>) -> Result<String, RunError> {
        let Attempt {
            scheduler,
            task: name,
            input,
            limits,
            depth,
            slot,
            sequence,
            number,
            ..
        } = attempt;
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
            .call(
                Call::RunTask(
                    AttemptIdentity {
                        task: name.to_string(),
                        sequence,
                        number,
                    },
                    input,
                ),
                limits,
                Some(scope),
            )
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
}

impl Instances {
    /// What a flow's `describe` and `flows` exports return, from one fresh instance: the
    /// tasks it declares and the flows it defines.
    pub(super) async fn declared(
        &self,
        limits: &Limits,
    ) -> Result<(Vec<TaskSpec>, Vec<FlowSpec>), RunError> {
        match self.query(limits, FlowQuery::Declared).await? {
            FlowAnswer::Declared(specs, flows) => Ok((specs, flows)),
            FlowAnswer::Graph(_) => Err(RunError::Internal("describe answered as graph".into())),
        }
    }

    /// What a flow's `graph` export returns for flow `name` and JSON `input`.
    pub(super) async fn graph(
        &self,
        limits: &Limits,
        name: &str,
        input: &str,
    ) -> Result<String, RunError> {
        match self.query(limits, FlowQuery::Graph { name, input }).await? {
            FlowAnswer::Graph(answer) => answer.map_err(RunError::Guest),
            FlowAnswer::Declared(..) => {
                Err(RunError::Internal("graph answered as describe".into()))
            }
        }
    }

    /// Calls the flow exports that look at a flow without running it, in a fresh instance.
    async fn query(&self, limits: &Limits, query: FlowQuery<'_>) -> Result<FlowAnswer, RunError> {
        let WorldPre::Flow(pre) = &self.pre else {
            return Err(RunError::BadComponent(format!(
                "{} is a task, not a flow: it declares no tasks",
                self.component
            )));
        };
        let tail = StderrTail::default();
        let mut store = self.new_store(limits, &tail, None, true);
        let call = async {
            let flow = pre.instantiate_async(&mut store).await?;
            Ok(match query {
                FlowQuery::Declared => FlowAnswer::Declared(
                    flow.call_describe(&mut store).await?,
                    flow.call_flows(&mut store).await?,
                ),
                FlowQuery::Graph { name, input } => {
                    FlowAnswer::Graph(flow.call_graph(&mut store, name, input).await?)
                }
            })
        };
        match self.before_cut_off(limits, call).await {
            Err(stopped) => Err(stopped),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(classify(error, store.data(), limits, &tail)),
        }
    }

    /// `work`'s output; or the run's timeout when it is still running [`TIMEOUT_GRACE`] after
    /// the timeout of `limits` (the epoch deadline stops running Wasm; this stops a guest
    /// waiting in a host call); or [`RunError::Interrupted`] on Ctrl-C / SIGTERM; or
    /// [`RunError::HostBug`] when a host function it called panicked. Either way
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
        // A panic in a host function comes out of the call: it becomes this instance's host
        // bug (the store is dropped with everything it had open), not a dead worker task that
        // leaves a task's joiners waiting.
        let work = AssertUnwindSafe(work).catch_unwind();
        tokio::select! {
            biased;
            done = work => done.map_err(|panic| RunError::HostBug(HostBug::from_panic(&*panic).0)),
            () = cut_off => Err(RunError::Limit(LimitHit::Timeout { limit: limits.timeout })),
            _ = interrupted.wait_for(|on| *on) => Err(RunError::Interrupted),
        }
    }

    pub(super) async fn call(
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
                (WorldPre::Flow(pre), Call::RunTask(attempt, input)) => {
                    let name = attempt.task.clone();
                    store.data_mut().attempt = Some(attempt);
                    pre.instantiate_async(&mut store)
                        .await?
                        .call_run_task(&mut store, &name, input)
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
            Ok(Ok(Err(error))) => Err(RunError::Guest(error)),
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

impl Instances {
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
        let mut table = ResourceTable::new();
        table.set_max_capacity(
            MAX_OPEN_HANDLES
                .saturating_add(usize::try_from(limits.max_total_tasks).unwrap_or(usize::MAX)),
        );
        let state = HostState {
            wasi,
            table,
            limiter: InstanceLimiter::new(limits.memory),
            run: context,
            tasks,
            budget,
            log_rate,
            info: self.info.clone(),
            attempt: None,
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
    if let Some(bug) = error.downcast_ref::<HostBug>() {
        return RunError::HostBug(bug.0.clone());
    }
    // wasmtime checked the guest's handle before the host looked it up, so a resource missing
    // from the host's table, or of another type, is the host's bug. A full table or a parent
    // dropped before its children (WASI's streams and pollables) is the guest's doing.
    if let Some(table @ (ResourceTableError::NotPresent | ResourceTableError::WrongType)) =
        error.downcast_ref::<ResourceTableError>()
    {
        return RunError::HostBug(format!("the host's resource table: {table}"));
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
