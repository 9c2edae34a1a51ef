//! The one `bindgen!` of the host: Rust types and traits for the WIT package in `wit/`.
//!
//! Host functions are `trappable` so a host bug becomes a trap (a `wasmtime::Error`) instead
//! of pretending to be a guest-visible error; the `run` export is called asynchronously.

wasmtime::component::bindgen!({
    world: "task",
    path: "../wit",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "auto-workflow:connectors/secrets.secret": crate::host::secrets::SecretHandle,
    },
});

pub use auto_workflow::connectors::{config, log, secrets, types};
