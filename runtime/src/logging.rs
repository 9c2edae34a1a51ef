//! The host's log: `tracing` to stderr, every line passed through the secret scrubber.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::secrets::Scrubber;

/// Installs the global subscriber. `verbosity`: -1 quiet (errors), 0 info, 1 debug, 2+ trace.
/// `RUST_LOG` wins when set.
pub fn init(verbosity: i8, scrubber: Scrubber) {
    let default = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "info",
        1 => "debug,cranelift=info,wasmtime=info,wasmtime_cranelift=info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ScrubbedStderr(scrubber))
        .with_ansi(false)
        .try_init();
}

/// Hands out one buffering writer per log event.
struct ScrubbedStderr(Scrubber);

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { scrubber: self.0.clone(), buffer: Vec::new() }
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
