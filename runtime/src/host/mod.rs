//! Host implementations of the WIT interfaces, one module per interface, and the per-instance
//! state (`HostState`) they share through the store.

pub mod bindings;
mod config;
mod log;
pub mod postgres;
pub mod secrets;
pub mod stdio;

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::engine::limits::InstanceLimiter;
use crate::grants::{Denied, Grants};
use crate::secrets::{Scrubber, SecretValue};
use bindings::types::{ConnectorError, ErrorKind};

/// What every instance of one run shares: grants, granted secrets, the scrubber.
pub struct RunContext {
    pub grants: Grants,
    /// Granted secrets, resolved before the guest starts (a missing one fails the run early).
    pub secrets: std::collections::BTreeMap<String, SecretValue>,
    pub scrubber: Scrubber,
    /// Pools of the granted Postgres profiles, shared by every instance of the run.
    pub postgres: postgres::PostgresPools,
    /// The component's name, used to tag its log lines.
    pub component: String,
}

/// The store data of one instance.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: InstanceLimiter,
    pub run: Arc<RunContext>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Adds sandboxed WASI p2 and every auto-workflow interface to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    bindings::Task::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}

impl From<Denied> for ConnectorError {
    fn from(denied: Denied) -> Self {
        ConnectorError { kind: ErrorKind::Denied, message: denied.0, code: None, retryable: false }
    }
}

impl bindings::types::Host for HostState {}
