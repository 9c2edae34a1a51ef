//! aw-runtime: runs untrusted workflow tasks as sandboxed WebAssembly components, granting
//! each run only what its run profile names.
//!
//! The CLI (`aw-run`, in `src/bin/aw-run/`) is a thin layer over this library: [`config`] loads the
//! configuration, [`prepare`] resolves a run profile, [`run::Runtime`] loads and runs a
//! component, and [`report`] describes the outcome.

pub mod bindings;
pub mod budget;
pub mod check;
pub mod config;
pub mod engine;
pub mod error;
pub mod flow;
pub mod grants;
pub mod host;
pub mod logging;
#[cfg(feature = "otel")]
pub mod otel;
pub mod prepare;
pub mod redact;
pub mod report;
pub mod run;
pub mod seconds;
pub mod secrets;

pub use error::RunError;
