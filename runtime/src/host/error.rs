//! What a fallible host function returns: [`CallError`], wasmtime's trappable error type for
//! the WIT `connector-error`. One `?` carries either a guest-visible error (the guest sees
//! `err(connector-error)`) or a trap that ends the instance, as wasmtime-wasi's `FsError` does
//! for `error-code`. A broken invariant of the host (a resource missing from its own table)
//! is a [`HostBug`] trap, which the run reports with exit 70, not as the guest's fault.

use wasmtime::component::ResourceTableError;

use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::bindings::{self, connector_error};
use crate::error::HostBug;
use crate::grants::Denied;

use super::HostState;

/// How many entries one instance's resource table may hold on top of its task handles: open
/// clients, streams, readers, writers, secret handles and WASI's own resources. A guest that
/// keeps opening handles without dropping them gets a `limit` error here instead of making
/// the host's table grow without end.
pub const MAX_OPEN_HANDLES: usize = 65_536;

/// A host call's failure: the classified error the guest sees, or a trap.
#[derive(Debug)]
pub enum CallError {
    /// Returned to the guest as `err(connector-error)`.
    Guest(ConnectorError),
    /// Ends the instance; a [`HostBug`] inside is reported as a host bug (exit 70).
    Trap(wasmtime::Error),
}

/// The result of a host function whose WIT result is `result<T, connector-error>`.
pub type WitResult<T> = Result<T, CallError>;

impl From<ConnectorError> for CallError {
    fn from(error: ConnectorError) -> Self {
        CallError::Guest(error)
    }
}

impl From<Denied> for CallError {
    fn from(denied: Denied) -> Self {
        CallError::Guest(denied.into())
    }
}

impl From<wasmtime::Error> for CallError {
    fn from(trap: wasmtime::Error) -> Self {
        CallError::Trap(trap)
    }
}

impl From<ResourceTableError> for CallError {
    /// A full table is the guest's doing (it kept too many handles open), so the guest is
    /// told; any other table error traps, and the run classifies it as a host bug (the host
    /// lost track of its own resources: wasmtime checked the guest's handle already).
    fn from(error: ResourceTableError) -> Self {
        match error {
            ResourceTableError::Full => CallError::Guest(connector_error(
                ErrorKind::Limit,
                format!("this instance holds the most open handles it may ({MAX_OPEN_HANDLES} plus the run's max_total_tasks): drop the clients, streams, readers, writers, secrets and task handles it no longer needs"),
            )),
            other => CallError::Trap(other.into()),
        }
    }
}

impl From<HostBug> for CallError {
    fn from(bug: HostBug) -> Self {
        CallError::Trap(bug.into())
    }
}

impl From<Denied> for ConnectorError {
    fn from(denied: Denied) -> Self {
        ConnectorError {
            kind: ErrorKind::Denied,
            message: denied.0,
            code: None,
            retryable: false,
        }
    }
}

impl bindings::types::Host for HostState {
    fn convert_connector_error(&mut self, error: CallError) -> wasmtime::Result<ConnectorError> {
        match error {
            CallError::Guest(error) => Ok(error),
            CallError::Trap(trap) => Err(trap),
        }
    }
}
