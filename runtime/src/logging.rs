//! The host's log: `tracing` to stderr, every line passed through the secret scrubber.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::redact::Scrubber;

/// Installs the global subscriber. `verbosity`: -1 quiet (errors), 0 info, 1 debug, 2+ trace.
/// `RUST_LOG` wins when set.
pub fn init(verbosity: i8, scrubber: Scrubber) {
    let default = match verbosity {
        i8::MIN..=-1 => "error",
        // The NATS client reports every (re)connection at info: a clustered run's own events
        // say what matters.
        0 => "info,async_nats=warn",
        1 => "debug,cranelift=info,wasmtime=info,wasmtime_cranelift=info,async_nats=info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(ScrubbedStderr(scrubber.clone()))
        .with_ansi(false)
        .with_filter(filter);
    let registry = tracing_subscriber::registry().with(stderr);
    #[cfg(feature = "otel")]
    if crate::otel::wanted() {
        // Spans down to debug (statements, storage requests) go to the collector whatever
        // the stderr verbosity; OTEL_TRACES_FILTER narrows or widens that.
        let filter = EnvFilter::try_from_env("OTEL_TRACES_FILTER").unwrap_or_else(|_| EnvFilter::new("debug,h2=off,hyper=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,cranelift=off,wasmtime=info,wasmtime_cranelift=off"));
        match crate::otel::layer(scrubber) {
            Ok(layer) => {
                let _ = registry.with(layer.with_filter(filter)).try_init();
            }
            Err(message) => {
                let _ = registry.try_init();
                tracing::warn!("{message}; running without trace export");
            }
        }
        return;
    }
    #[cfg(not(feature = "otel"))]
    let _ = scrubber;
    let _ = registry.try_init();
}

/// Flushes what the log keeps buffered (spans waiting for export); call before exiting.
pub fn shutdown() {
    #[cfg(feature = "otel")]
    crate::otel::shutdown();
}

/// Hands out one buffering writer per log event.
struct ScrubbedStderr(Scrubber);

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            scrubber: self.0.clone(),
            buffer: Vec::new(),
        }
    }
}

/// Collects one formatted event and writes it scrubbed when dropped, so a secret split across
/// two `write` calls is still caught.
struct EventWriter {
    scrubber: Scrubber,
    buffer: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buffer);
        let _ = std::io::stderr().write_all(self.scrubber.scrub(&text).as_bytes());
    }
}
