//! The one `bindgen!` of the host: Rust types and traits for the WIT package in `wit/`.
//!
//! Host functions are `trappable` so a host bug becomes a trap (a `wasmtime::Error`) instead
//! of pretending to be a guest-visible error; the `run` export is called asynchronously.

wasmtime::component::bindgen!({
    world: "task",
    path: "../wit",
    imports: {
        "auto-workflow:connectors/postgres": async | trappable,
        "auto-workflow:connectors/adls2": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "auto-workflow:connectors/secrets.secret": crate::host::secrets::SecretHandle,
        "auto-workflow:connectors/postgres.client": crate::host::postgres::PgClient,
        "auto-workflow:connectors/postgres.transaction": crate::host::postgres::PgTransaction,
        "auto-workflow:connectors/postgres.row-stream": crate::host::postgres::PgRowStream,
        "auto-workflow:connectors/postgres.copy-sink": crate::host::postgres::PgCopySink,
        "auto-workflow:connectors/postgres.copy-source": crate::host::postgres::PgCopySource,
        "auto-workflow:connectors/adls2.client": crate::host::adls2::AdlsClient,
        "auto-workflow:connectors/adls2.writer": crate::host::adls2::AdlsWriter,
        "auto-workflow:connectors/adls2.reader": crate::host::adls2::AdlsReader,
        "auto-workflow:connectors/adls2.list-stream": crate::host::adls2::AdlsListStream,
    },
});

pub use auto_workflow::connectors::{adls2, config, log, postgres, secrets, types};
