//! Loading a component and running its `run` export in a fresh, limited, sandboxed instance.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use crate::config::Limits;
use crate::engine::cache::{CacheOutcome, ComponentCache};
use crate::engine::limits::{ticks_for, EpochTicker, InstanceLimiter};
use crate::engine::{build_engine, EngineOptions};
use crate::error::{GuestError, LimitHit, RunError};
use crate::host::bindings::{types::ErrorKind, TaskPre};
use crate::host::stdio::{GuestOutput, StderrTail, Stream};
use crate::host::{add_to_linker, HostState, RunContext};

/// Extra wall-clock time after the epoch deadline before the run is cut off from outside
/// (covers a guest blocked in a host call, where epochs are not checked).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// The engine, linker and cache of one `aw-run` process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ComponentCache,
    fuel: bool,
    _ticker: EpochTicker,
}

/// A component compiled and linked, ready to instantiate many times.
pub struct LoadedComponent {
    pub name: String,
    pub component: Component,
    pub cache: CacheOutcome,
    pre: TaskPre<HostState>,
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
        let engine = build_engine(options).map_err(|e| RunError::Internal(format!("cannot create the engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        add_to_linker(&mut linker).map_err(|e| RunError::Internal(format!("cannot link host interfaces: {e}")))?;
        let ticker = EpochTicker::start(&engine)
            .map_err(|e| RunError::Internal(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Runtime { engine, linker, cache, fuel: options.fuel, _ticker: ticker })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, compiles (or loads from cache) and links the component at `path`.
    pub fn load(&self, path: &Path) -> Result<LoadedComponent, RunError> {
        let component = self.compile(path)?;
        let name = component_name(path);
        let (component, cache) = component;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            RunError::BadComponent(format!(
                "{} imports something this runtime does not provide: {e}. Run `aw-run check` to see its imports",
                path.display()
            ))
        })?;
        let pre = TaskPre::new(instance_pre).map_err(|e| {
            RunError::BadComponent(format!(
                "{} does not export the `task` world of auto-workflow:connectors@0.1.0 ({e}); build it against wit/ with the aw-guest SDK",
                path.display()
            ))
        })?;
        Ok(LoadedComponent { name, component, cache, pre })
    }

    /// Reads and compiles the component at `path` without linking it.
    pub fn compile(&self, path: &Path) -> Result<(Component, CacheOutcome), RunError> {
        let bytes = std::fs::read(path).map_err(|e| {
            RunError::Usage(format!("cannot read component {}: {e}", path.display()))
        })?;
        check_header(path, &bytes)?;
        self.cache.load(&self.engine, &bytes).map_err(|e| {
            RunError::BadComponent(format!("{} is not a valid WebAssembly component: {e:#}", path.display()))
        })
    }

    /// Runs `run(input)` in a fresh instance under `limits`.
    pub async fn run(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
        input: &str,
    ) -> (Result<String, RunError>, Usage) {
        let started = Instant::now();
        let tail = StderrTail::default();
        let mut store = self.store(loaded, context, limits, &tail);
        let fuel_start = store.get_fuel().ok();
        let call = async {
            let task = loaded.pre.instantiate_async(&mut store).await?;
            task.call_run(&mut store, input).await
        };
        let outcome = match tokio::time::timeout(limits.timeout + TIMEOUT_GRACE, call).await {
            Err(_elapsed) => Err(RunError::Limit(LimitHit::Timeout { limit: limits.timeout })),
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
                (Some(start), Some(_)) => store.get_fuel().ok().map(|left| start.saturating_sub(left)),
                _ => None,
            },
            host_peak_rss: host_peak_rss(),
        };
        (outcome, usage)
    }

    fn store(
        &self,
        loaded: &LoadedComponent,
        context: Arc<RunContext>,
        limits: &Limits,
        tail: &StderrTail,
    ) -> Store<HostState> {
        let label: Arc<str> = Arc::from(loaded.name.as_str());
        let scrubber = context.scrubber.clone();
        // Nothing is inherited: no env vars, no preopened dirs, no network; only the program
        // name as argv[0], and stdout/stderr into the host log.
        let wasi = WasiCtxBuilder::new()
            .arg(&loaded.name)
            .stdout(GuestOutput::new(Stream::Stdout, label.clone(), scrubber.clone(), tail.clone()))
            .stderr(GuestOutput::new(Stream::Stderr, label, scrubber, tail.clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: InstanceLimiter::new(limits.memory),
            run: context,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(ticks_for(limits.timeout));
        store.epoch_deadline_trap();
        if self.fuel {
            // An engine that meters fuel needs fuel in every store; runs without a fuel limit
            // get an effectively endless supply.
            let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        store
    }
}

/// Turns a trap or host failure into the matching run error.
fn classify(error: wasmtime::Error, state: &HostState, limits: &Limits, tail: &StderrTail) -> RunError {
    if let Some(hit) = state.limiter.hit {
        return RunError::Limit(LimitHit::Memory { limit: hit.limit, desired: hit.desired });
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
        Some(Trap::Interrupt) => RunError::Limit(LimitHit::Timeout { limit: limits.timeout }),
        Some(Trap::OutOfFuel) => RunError::Limit(LimitHit::Fuel { limit: limits.fuel.unwrap_or(0) }),
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
    path.file_stem().and_then(|s| s.to_str()).unwrap_or("component").to_string()
}

/// The tokio runtime a run executes on: one worker thread, on which the guest task and the
/// connection tasks it waits on wake each other without crossing threads. Measured on the
/// project's 2-core machine, this beat two workers for both round-trip latency and streaming
/// throughput (the database, when local, keeps the other core). Flows size it by `max_tasks`.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("aw-worker").enable_all().build()
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
