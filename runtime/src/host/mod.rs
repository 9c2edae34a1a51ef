//! Host implementations of the WIT interfaces, one module per interface, and the per-instance
//! state (`HostState`) they share through the store.

pub mod adls2;
pub mod artifacts;
mod config;
pub mod error;
pub mod log;
pub mod pem;
pub mod postgres;
pub mod secrets;
pub mod stdio;
pub mod tasks;

pub use error::{CallError, WitResult};

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings;
use crate::budget;
use crate::engine::limits::InstanceLimiter;
use crate::grants::Grants;
use crate::redact::{Scrubber, SecretValue};

/// What every instance of one run shares: grants, granted secrets, the scrubber.
pub struct RunContext {
    pub grants: Grants,
    /// Granted secrets, resolved before the guest starts (a missing one fails the run early).
    pub secrets: std::collections::BTreeMap<String, SecretValue>,
    pub scrubber: Scrubber,
    /// Pools of the granted Postgres profiles, shared by every instance of the run.
    pub postgres: postgres::PostgresPools,
    /// Clients of the granted ADLS Gen2 profiles, shared by every instance of the run.
    pub adls2: adls2::Adls2Accounts,
    /// The component's name, used to tag its log lines.
    pub component: String,
    /// Turns true on Ctrl-C / SIGTERM: the run stops and rolls back what it had open.
    pub interrupted: tokio::sync::watch::Sender<bool>,
    /// Who the run is (`tasks.run-info`), set once the flow is picked.
    pub info: std::sync::OnceLock<tasks::RunInfo>,
    /// Where the run's tasks persist results (`artifacts`).
    pub artifacts: artifacts::ArtifactStore,
}

/// The store data of one instance.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: InstanceLimiter,
    pub run: Arc<RunContext>,
    /// The run's scheduler and this instance's spawn depth; none outside flows.
    pub tasks: Option<tasks::TaskScope>,
    /// What the host may buffer for this instance (inside the run's budget).
    pub budget: budget::Budget,
    /// The instance's guest log lines (its `log` calls and its stdout/stderr).
    pub log_rate: Arc<log::LogRate>,
    /// Who the run is, when it is not the context's own run: an attempt a cluster worker runs
    /// for a coordinator elsewhere (the worker's context serves many runs).
    pub info: Option<Arc<tasks::RunInfo>>,
    /// The task attempt the instance runs (none for a flow's own instance and a task run).
    pub attempt: Option<tasks::AttemptIdentity>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Adds sandboxed WASI p2 and every auto-workflow interface to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    bindings::Flow::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}
