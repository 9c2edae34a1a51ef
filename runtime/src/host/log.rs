//! `log`: guest log lines into the host's `tracing` log, tagged with the component, scrubbed.

use super::bindings::log::{Host, Level};
use super::HostState;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let run = &self.run;
        let message = run.scrubber.scrub(&message);
        let component = run.component.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "guest", component, "{message}"),
            Level::Debug => tracing::debug!(target: "guest", component, "{message}"),
            Level::Info => tracing::info!(target: "guest", component, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", component, "{message}"),
            Level::Error => tracing::error!(target: "guest", component, "{message}"),
        }
        Ok(())
    }
}
