//! aw-runtime: runs untrusted workflow tasks as sandboxed WebAssembly components, granting
//! each run only what its run profile names.
//!
//! The CLI (`aw-run`, in `src/bin/aw-run/`) is a thin layer over this library, and so is any
//! other embedding: [`config`] loads the configuration, [`secrets`] resolves `secret://`
//! references, [`prepare`] turns a run profile into a [`RunContext`], [`run::Runtime`] loads and
//! runs a component, and [`report`] describes the outcome; [`check`] judges a component
//! against a profile without running it.
//!
//! The host's own layers are private: the WIT bindings, the host implementations of the
//! interfaces (`host`), the task scheduler (`flow`), the memory budget and the JSON duration
//! format. What the public API hands out of them (the run context, the event log) is
//! re-exported here.

mod bindings;
mod budget;
pub mod check;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod error;
mod flow;
pub mod grants;
mod host;
pub mod logging;
#[cfg(feature = "otel")]
pub mod otel;
pub mod prepare;
pub mod redact;
pub mod report;
pub mod run;
mod seconds;
pub mod secrets;

pub use error::RunError;
pub use flow::{spec_json, EventLog, EventsError, RanGraph, RanTask};
pub use host::RunContext;

/// The host's pieces that this crate's benchmarks put together by hand, to measure the
/// runtime against bare wasmtime and native clients with the same host imports. Not an API:
/// hidden from the docs, and free to change with the host.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::bindings::adls2::UploadOptions;
    pub use crate::bindings::TaskPre;
    pub use crate::budget::Budget;
    pub use crate::engine::limits::InstanceLimiter;
    pub use crate::host::adls2::Adls2Accounts;
    pub use crate::host::artifacts::ArtifactStore;
    pub use crate::host::postgres::PostgresPools;
    pub use crate::host::{add_to_linker, HostState};
}
