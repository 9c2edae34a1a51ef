//! The host's `bindgen!`s: Rust types and traits for the WIT package in `wit/`.
//!
//! The `flow` world (every interface, `tasks` included) is generated once; the `task` world's
//! exports are generated in [`task_world`] reusing those interfaces, so a component of either
//! world links against the same host implementations. Host functions are `trappable`, and
//! `connector-error` is a trappable error type ([`crate::host::CallError`]): a host function
//! returns either the guest-visible error or a trap through one `?`, so a host bug never
//! pretends to be a guest-visible error. Exports are called asynchronously.

wasmtime::component::bindgen!({
    world: "flow",
    path: "../wit",
    imports: {
        "auto-workflow:connectors/postgres": async | trappable,
        "auto-workflow:connectors/adls2": async | trappable,
        "auto-workflow:connectors/tasks": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    trappable_error_type: {
        "auto-workflow:connectors/types.connector-error" => crate::host::CallError,
    },
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
        "auto-workflow:connectors/tasks.task-handle": crate::host::tasks::TaskHandle,
    },
});

/// The `task` world's exports (`run`), over the interfaces generated above.
pub mod task_world {
    wasmtime::component::bindgen!({
        world: "task",
        path: "../wit",
        exports: { default: async },
        with: {
            "auto-workflow:connectors/types": super::auto_workflow::connectors::types,
            "auto-workflow:connectors/config": super::auto_workflow::connectors::config,
            "auto-workflow:connectors/secrets": super::auto_workflow::connectors::secrets,
            "auto-workflow:connectors/log": super::auto_workflow::connectors::log,
            "auto-workflow:connectors/postgres": super::auto_workflow::connectors::postgres,
            "auto-workflow:connectors/adls2": super::auto_workflow::connectors::adls2,
        },
    });
}

pub use auto_workflow::connectors::{
    adls2, artifacts, config, log, postgres, secrets, tasks, types,
};
pub use task_world::TaskPre;

/// A classified error without a remote code; transient and timeout errors are retryable.
pub fn connector_error(
    kind: types::ErrorKind,
    message: impl Into<String>,
) -> types::ConnectorError {
    let retryable = matches!(
        kind,
        types::ErrorKind::Transient | types::ErrorKind::Timeout
    );
    types::ConnectorError {
        kind,
        message: message.into(),
        code: None,
        retryable,
    }
}

impl types::ErrorKind {
    /// The kind's WIT name (`not-found`), as reports and events print it.
    pub fn name(self) -> &'static str {
        use types::ErrorKind as K;
        match self {
            K::Config => "config",
            K::Denied => "denied",
            K::Auth => "auth",
            K::NotFound => "not-found",
            K::Conflict => "conflict",
            K::Timeout => "timeout",
            K::Transient => "transient",
            K::Permanent => "permanent",
            K::InvalidInput => "invalid-input",
            K::Limit => "limit",
        }
    }

    /// The kind a WIT name stands for (what [`name`](Self::name) prints).
    pub fn from_name(name: &str) -> Option<types::ErrorKind> {
        use types::ErrorKind as K;
        [
            K::Config,
            K::Denied,
            K::Auth,
            K::NotFound,
            K::Conflict,
            K::Timeout,
            K::Transient,
            K::Permanent,
            K::InvalidInput,
            K::Limit,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}
